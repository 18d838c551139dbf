# vcpu/ commands.
list(APPEND NUMAKSM_TOOL_SOURCES cmd-pin.c)
