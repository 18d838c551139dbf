# policy/: the KSM tuner (it decides the knobs; src/ksm.c writes them) and the
# policy file.
list(APPEND NUMAKSM_SOURCES policy/tuner.c policy/tuner-sample.c policy/tuner-daemon.c
     policy/conf.c)
