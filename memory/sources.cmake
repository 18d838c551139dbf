list(APPEND NUMAKSM_SOURCES memory/spec.c memory/zone.c memory/prefault.c memory/placement.c
     memory/hugepages.c)
