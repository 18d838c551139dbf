list(APPEND NUMAKSM_TOOL_SOURCES cmd-hugepages.c cmd-zone.c)
