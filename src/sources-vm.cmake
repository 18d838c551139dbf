# VM discovery and per-VM facts (include/numaksm/vm.h): the parsers of /proc
# files apart from the reads.
list(APPEND NUMAKSM_SOURCES src/vm-parse.c src/vm.c)
list(APPEND NUMAKSM_SOURCES src/vmm-client.c)
