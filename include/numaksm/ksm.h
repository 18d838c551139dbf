/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/ksm.h
 * @brief KSM as the kernel shows it: the knobs and counters of
 *        /sys/kernel/mm/ksm, and per process /proc/PID/ksm_stat, with the
 *        savings worked out the way the kernel documents them.
 */
#ifndef NUMAKSM_KSM_H
#define NUMAKSM_KSM_H

#include <sys/types.h>

#include "numaksm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes of one rmap_item on 64-bit kernels (Documentation/admin-guide/mm/ksm.rst). */
#define NK_KSM_RMAP_ITEM_BYTES 64

/**
 * One read of /sys/kernel/mm/ksm.  A counter or knob this kernel lacks is
 * reported with its `has_*` flag false and a value of 0.
 */
struct nk_ksm_counters {
	/* knobs */
	uint64_t run, pages_to_scan, sleep_millisecs, merge_across_nodes, use_zero_pages,
	    max_page_sharing, smart_scan;
	char *advisor_mode; /**< "none" / "scan-time"; NULL without the knob */
	/* counters */
	uint64_t pages_shared, pages_sharing, pages_unshared, pages_volatile, pages_scanned,
	    pages_skipped, full_scans, ksm_zero_pages, stable_node_chains, stable_node_dups;
	int64_t general_profit; /**< bytes; may be negative */
	bool has_pages_scanned, has_ksm_zero_pages, has_general_profit, has_smart_scan,
	    has_use_zero_pages, has_max_page_sharing;
};

/**
 * Read every KSM knob and counter.
 * @return 0; -ENOTSUP (with a message) when the kernel has no KSM.
 */
int nk_ksm_read(nk_host *host, struct nk_ksm_counters *ret, nk_error **err);
/** Free what the counters own; accepts a zeroed struct. */
void nk_ksm_counters_done(struct nk_ksm_counters *c);

/** Pages KSM saves host-wide: pages_sharing + ksm_zero_pages (not sharing - shared). */
uint64_t nk_ksm_saved_pages(const struct nk_ksm_counters *c);

/** /proc/PID/ksm_stat of one process. */
struct nk_ksm_proc_stat {
	uint64_t rmap_items;
	uint64_t zero_pages;
	uint64_t merging_pages;
	int64_t process_profit; /**< bytes, as the kernel computes it */
	bool merge_any;		/**< PR_SET_MEMORY_MERGE */
	bool mergeable;		/**< some VMA is MADV_MERGEABLE (or merge_any) */
	bool has_zero_pages, has_process_profit, has_merge_flags;
	bool has_merging_pages; /**< false on Linux 6.1-6.3, whose ksm_stat has only rmap_items */
};

/**
 * Parse the text of /proc/PID/ksm_stat ("key value" lines and, on newer
 * kernels, "key: yes|no" lines).  Linux 6.1-6.3 print only ksm_rmap_items.
 * @return 0; -EINVAL when ksm_rmap_items is missing or any value is malformed.
 */
int nk_ksm_parse_proc_stat(const char *text, struct nk_ksm_proc_stat *ret);

/**
 * Read /proc/PID/ksm_stat, and /proc/PID/ksm_merging_pages where ksm_stat
 * lacks that count (Linux 6.1-6.3).
 * @return 0; -ESRCH when the process is gone; -ENOTSUP when the kernel has
 * no ksm_stat (before Linux 6.1).
 */
int nk_ksm_proc_read(nk_host *host, pid_t pid, struct nk_ksm_proc_stat *ret, nk_error **err);

/**
 * Bytes KSM saves one process, attributing shared pages fairly: its
 * merging pages count only by the host's sharing ratio,
 * merging * sharing / (shared + sharing), plus its zero pages.  The
 * kernel's own ksm_process_profit counts the process's mapping of the KSM
 * page itself too, so per-process profits add up to more than the host's.
 */
uint64_t nk_ksm_proc_saved_bytes(const struct nk_ksm_proc_stat *p, const struct nk_ksm_counters *c,
				 uint64_t page_size);

#ifdef __cplusplus
}
#endif
#endif
