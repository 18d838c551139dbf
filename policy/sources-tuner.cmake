# policy/: KSM knob control, the KSM tuner and the policy file.
list(APPEND NUMAKSM_SOURCES policy/ksm-control.c policy/tuner.c policy/tuner-sample.c
     policy/tuner-daemon.c policy/conf.c)
