# VM status and placement commands (include/numaksm/vm.h, cgroup.h).
list(APPEND NUMAKSM_TOOL_SOURCES cmd-status.c cmd-place.c cmd-estimate.c cmd-audit.c pinning.c)
