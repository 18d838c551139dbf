# policy/ commands: KSM knobs and the KSM tuner daemon.
list(APPEND NUMAKSM_TOOL_SOURCES cmd-ksm.c cmd-tuned.c)
