list(APPEND NUMAKSM_TOOL_SOURCES cmd-hugepages.c)
