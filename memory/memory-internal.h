/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef NUMAKSM_MEMORY_INTERNAL_H
#define NUMAKSM_MEMORY_INTERNAL_H

#include "numaksm/memory.h"

struct nk_zone {
	struct nk_zone_spec spec; /* deep copy; id always set */
	void *addr;
	uint64_t size;
	uint64_t page_size;
	int fd;
	bool mergeable;
	nk_bitmap *prefault_cpus; /* CPUs next to the zone's nodes */
	struct nk_prefault_stats stats;
};

/*
 * Prefault [addr, addr+size) with `threads` threads pinned to `cpus`
 * (all allowed CPUs when NULL), by MADV_POPULATE_WRITE unless
 * `force_touch`, reporting progress.  Returns 0 or -errno with the offset
 * of the failure in *ret_fail_offset.
 */
int nk_prefault_range(void *addr, uint64_t size, uint64_t page_size, unsigned threads,
		      const nk_bitmap *cpus, bool force_touch, nk_progress_fn progress,
		      void *userdata, struct nk_prefault_stats *ret_stats,
		      uint64_t *ret_fail_offset);

/* Threads to use for `size` bytes on `ncpus` CPUs (QEMU's rule: one per
 * 64 MiB, at most one per CPU and 16 in all). */
unsigned nk_prefault_auto_threads(uint64_t size, unsigned ncpus);

/* The kernel's MPOL_* mode for a policy. */
int nk_policy_mode(enum nk_policy policy);

/* Build a kernel nodemask from a bitmap; *ret_maxnode is what mbind wants. */
int nk_nodemask(const nk_bitmap *nodes, unsigned long **ret_mask, unsigned long *ret_maxnode);

#endif
