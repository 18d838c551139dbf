// SPDX-License-Identifier: MIT
/*
 * ksm-vm: a VM-like process for `numaksm status`: run as
 * "qemu-system-x86_64 -name guest=NAME -m MIB" (it re-executes itself so),
 * with MIB of mergeable guest RAM bound to one node.  Its first half is
 * the same in every ksm-vm of its FAMILY (page i holds i and the family;
 * family 0 when not given), its second half its own; it prints "ready"
 * once the RAM is written, then waits to be killed.
 *
 * Usage: lab-ksm-vm NAME MIB NODE [FAMILY]
 */
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc == 4 || argc == 5) { /* lab-ksm-vm NAME MIB NODE [FAMILY]: as QEMU names itself */
		char name[128];
		snprintf(name, sizeof(name), "guest=%s", argv[1]);
		char *args[] = {"qemu-system-x86_64",
				"-name",
				name,
				"-m",
				argv[2],
				"-numa-node",
				argv[3],
				"-family",
				argc == 5 ? argv[4] : "0",
				NULL};
		execv("/proc/self/exe", args);
		perror("execv");
		return 1;
	}
	if (argc != 9) {
		fprintf(stderr, "usage: lab-ksm-vm NAME MIB NODE [FAMILY]\n");
		return 2;
	}
	uint64_t family = (uint64_t)atoi(argv[8]);
	size_t bytes = (size_t)atoi(argv[4]) << 20, page = 4096;
	int node = atoi(argv[6]);
	prctl(PR_SET_NAME, "qemu-system-x86");
	char *ram = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	struct bitmask *mask = numa_allocate_nodemask();
	numa_bitmask_setbit(mask, (unsigned)node);
	if (mbind(ram, bytes, MPOL_BIND, mask->maskp, mask->size + 1, 0) < 0 ||
	    madvise(ram, bytes, MADV_MERGEABLE) < 0 || madvise(ram, bytes, MADV_NOHUGEPAGE) < 0) {
		fprintf(stderr, "ksm-vm: mbind/madvise: %s\n", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < bytes / page; i++) {
		uint64_t *p = (uint64_t *)(ram + i * page);
		memset(p, 0, page);
		p[0] = i < bytes / page / 2 ? (family << 40) | (i + 1)
					    : ((uint64_t)getpid() << 32) | i;
		p[1] = 0x6b736d766d; /* never a zero page */
	}
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
