list(APPEND NUMAKSM_SOURCES policy/ksm.c)
