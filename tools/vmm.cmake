# numaksm-vmm commands: its VMs through their control sockets (include/numaksm/vmm.h).
list(APPEND NUMAKSM_TOOL_SOURCES cmd-vm.c)
