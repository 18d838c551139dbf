# The process and VM model (include/numaksm/proc.h, vm.h): the one scanner
# of /proc and its parsers, the kind table, discovery, lookup, threads and
# per-VM facts.
list(APPEND NUMAKSM_SOURCES src/proc.c src/placement.c src/vm-kinds.c src/vm-parse.c src/vm.c
     src/vm-threads.c)
list(APPEND NUMAKSM_SOURCES src/vmm-client.c)
# KSM in one table (include/numaksm/ksm.h).
list(APPEND NUMAKSM_SOURCES src/ksm.c)
# The runtime directory (include/numaksm/rundir.h).
list(APPEND NUMAKSM_SOURCES src/rundir.c)
