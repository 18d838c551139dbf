/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/memory.h
 * @brief Guest RAM made of zones: backing (4K, THP, hugetlb 2M/1G in a
 *        memfd), a NUMA policy over a node set, parallel node-local
 *        prefault, KSM marking, placement measurement and live migration;
 *        and the per-node hugepage pools.
 *
 * A zone is created in a safe order: the spec is validated and the
 * per-node hugepage pools are checked before anything is mapped; then the
 * memory is mapped, bound, marked and prefaulted with MADV_POPULATE_WRITE,
 * so a shortage is an error at creation, never a SIGBUS later.  A zone
 * that fails half-way is fully unmapped.
 */
#ifndef NUMAKSM_MEMORY_H
#define NUMAKSM_MEMORY_H

#include <sys/types.h>

#include "numaksm/core.h"
#include "numaksm/hostinfo.h"
#include "numaksm/proc.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Host NUMA policy of a zone (the kernel's MPOL_* modes). */
enum nk_policy {
	NK_POLICY_DEFAULT = 0,	       /**< the process policy; no node set */
	NK_POLICY_BIND,		       /**< only these nodes */
	NK_POLICY_PREFERRED,	       /**< this one node first, then others */
	NK_POLICY_PREFERRED_MANY,      /**< these nodes first (Linux 5.15) */
	NK_POLICY_INTERLEAVE,	       /**< round-robin over these nodes */
	NK_POLICY_WEIGHTED_INTERLEAVE, /**< by the weights in sysfs (Linux 6.9) */
};

/** Progress of a prefault: called from the creating thread. */
typedef void (*nk_progress_fn)(uint64_t done_bytes, uint64_t total_bytes, void *userdata);

/** What a zone is to be.  Parse one with nk_zone_spec_parse() or fill it in. */
struct nk_zone_spec {
	char *id;	     /**< name, used in messages and the memfd name */
	uint64_t size_bytes; /**< a multiple of the page size */
	enum nk_backing backing;
	uint64_t hugepage_kb; /**< hugetlb page size in kB; 0 = the host's default */
	enum nk_policy policy;
	nk_bitmap *nodes;	   /**< host nodes of the policy (NULL or empty for default) */
	bool shared;		   /**< 4K/THP: back with a shmem memfd, mapped shared */
	bool mergeable;		   /**< MADV_MERGEABLE (private anonymous zones only) */
	bool prefault;		   /**< populate every page at creation (default on) */
	bool dump;		   /**< include in core dumps (default on) */
	unsigned prefault_threads; /**< 0: chosen from the size and the CPUs available */
	/** Map the zone even when its nodes (or the host) cannot give that much
	 *  memory now (--force): its faults then reclaim, swap or meet the OOM
	 *  killer.  Without it such a zone is refused before it is mapped. */
	bool force;
	/** Internal knobs for tests: skip the pool check before mapping, or
	 *  prefault by touching pages even where MADV_POPULATE_WRITE works. */
	bool no_pool_check;
	bool force_touch;
};

/** Set the defaults (4K, default policy, prefault on, dump on). */
void nk_zone_spec_init(struct nk_zone_spec *spec);
/** Release what a spec owns (id, nodes); accepts a zeroed spec. */
void nk_zone_spec_done(struct nk_zone_spec *spec);

/**
 * Parse "id=z0,size=1G,hugepages=2M,policy=bind,nodes=0-1,mergeable=on,
 * prefault=on,dump=off,shared=off,threads=4,thp=on" into `spec` (which
 * nk_zone_spec_init() prepared).  `hugepages=none` means 4K.
 * @return 0; -EINVAL naming the key or value at fault.
 */
int nk_zone_spec_parse(const char *text, struct nk_zone_spec *spec, nk_error **err);

/** @return "default", "bind", "preferred", "preferred-many", "interleave", "weighted-interleave".
 */
const char *nk_policy_name(enum nk_policy policy);

/** A created zone: guest RAM the caller can hand to KVM. */
typedef struct nk_zone nk_zone;

/**
 * Validate, check pools, map, bind, mark and prefault a zone.
 * @return 0; -EINVAL (bad spec), -ENODEV (unknown node or node without
 * memory), -ENOMEM (pool shortage or out of memory, naming the zone, the
 * node, pages needed and free, and the fix), -EOPNOTSUPP (a policy or page
 * size this kernel lacks), -EROFS (a captured host tree).  On failure
 * nothing stays mapped.
 */
int nk_zone_create(nk_host *host, const struct nk_zone_spec *spec, nk_zone **ret, nk_error **err);
/** Unmap and close; accepts NULL. @return NULL. */
nk_zone *nk_zone_free(nk_zone *zone);

/** @return the zone's first byte. */
void *nk_zone_addr(const nk_zone *zone);
/** @return the zone's size in bytes. */
uint64_t nk_zone_size(const nk_zone *zone);
/** @return the page size in bytes (4096, 2 MiB, 1 GiB; 4096 for THP). */
uint64_t nk_zone_page_size(const nk_zone *zone);
/** @return the memfd backing the zone, or -1 for anonymous zones. */
int nk_zone_fd(const nk_zone *zone);
/** @return the spec the zone was created from. */
const struct nk_zone_spec *nk_zone_spec(const nk_zone *zone);
/** @return whether the zone is currently marked mergeable. */
bool nk_zone_is_mergeable(const nk_zone *zone);

/**
 * The zone's bytes that are KSM pages now (the "KSM:" line of its mapping
 * in /proc/self/smaps).
 * @return 0; -EOPNOTSUPP when this kernel does not report it (before Linux
 *         6.6); -ENOENT when the mapping is missing; -errno with a message.
 */
int nk_zone_ksm_bytes(nk_zone *zone, uint64_t *ret_bytes, nk_error **err);

/** How a prefault went. */
struct nk_prefault_stats {
	unsigned threads;    /**< threads used */
	bool populate_write; /**< MADV_POPULATE_WRITE (else pages were touched) */
	double seconds;	     /**< wall time of the prefault */
	nk_bitmap *cpus;     /**< CPUs the threads were pinned to (owned by the zone) */
};
/** @return the statistics of the creation prefault (zeroed when prefault was off). */
const struct nk_prefault_stats *nk_zone_prefault_stats(const nk_zone *zone);

/**
 * Prefault the zone now (again), with `threads` threads (0: automatic),
 * reporting to `progress` about every 100 ms.
 * @return 0; -ENOMEM/-EFAULT when pages could not be had (naming the zone).
 */
int nk_zone_prefault(nk_zone *zone, unsigned threads, nk_progress_fn progress, void *userdata,
		     nk_error **err);

/**
 * Switch KSM merging of the zone at run time.  Turning it off unmerges the
 * zone's merged pages (MADV_UNMERGEABLE).  The result is verified in
 * /proc/self/smaps.  Refused for hugetlb and shared zones, with the reason.
 */
int nk_zone_set_mergeable(nk_zone *zone, bool mergeable, nk_error **err);

/** Measure a zone's placement (see nk_placement_measure). */
int nk_zone_placement(nk_zone *zone, uint64_t max_samples, struct nk_placement *ret,
		      nk_error **err);

/** What a migration did. */
struct nk_migration {
	uint64_t pages_moved;	/**< pages now on a target node that were not */
	uint64_t pages_already; /**< pages that were on a target node already */
	uint64_t pages_failed;	/**< pages that could not be moved */
	uint64_t pages_absent;	/**< pages not faulted in (will fault on the new nodes) */
	int first_failure;	/**< errno of the first failed page, 0 if none */
	double seconds;
	double mb_per_s; /**< moved bytes / seconds, in MB/s (10^6) */
};

/**
 * Move a zone, while in use, to `nodes`: the zone's policy becomes bind
 * over `nodes` (or interleave if it was interleave), so new faults land
 * there, then every present page not on a target node is moved with
 * move_pages (round-robin over the targets).
 * @return 0 (see the result for failed pages); -EINVAL/-ENODEV on bad nodes.
 */
int nk_zone_migrate(nk_zone *zone, const nk_bitmap *nodes, struct nk_migration *ret,
		    nk_error **err);

/**
 * A migration done a chunk at a time, for a caller that reports progress
 * or must be able to stop between chunks (nk_zone_migrate is start, steps
 * until 0, end).  One thread drives it; nothing here locks.
 */
typedef struct nk_zone_move nk_zone_move;

/**
 * Start moving `zone` to `nodes`: check that every node has memory, then
 * bind the zone to them (interleave if it was interleave), so new faults
 * land there.  No page is moved yet.
 * @return 0 with the move in *ret; -EINVAL (no nodes), -ENODEV (a node
 *         without memory), -errno with a message; nothing changed then.
 */
int nk_zone_move_start(nk_zone *zone, const nk_bitmap *nodes, nk_zone_move **ret, nk_error **err);

/**
 * Move the next chunk, 16 MiB of the zone in address order (one page when
 * pages are larger): pages off the targets are moved, round-robin over them.
 * @return 1 while some of the zone is left, 0 once all of it was gone
 *         through; -errno when move_pages failed, with a message.
 */
int nk_zone_move_step(nk_zone_move *move, nk_error **err);

/**
 * What the move did so far (seconds since the start), and how far it got:
 * bytes of the zone gone through, of its size.  Any argument but `move`
 * may be NULL.
 */
void nk_zone_move_progress(const nk_zone_move *move, struct nk_migration *ret,
			   uint64_t *ret_done_bytes, uint64_t *ret_total_bytes);

/**
 * End a move, done or not, with what it did in *ret (may be NULL).  The
 * zone's spec becomes the policy and nodes nk_zone_move_start bound it to;
 * pages a stopped move did not reach stay where they were.  This writes
 * the zone's spec: no other thread may read it meanwhile.  Accepts NULL.
 * @return NULL.
 */
nk_zone_move *nk_zone_move_end(nk_zone_move *move, struct nk_migration *ret);

/* ---- hugepage pools ------------------------------------------------ */

/**
 * Set the pool of `size_kb` pages on `node` (-1: the host-wide pool) to
 * `count` pages and report how many the kernel actually holds afterwards
 * (it may give fewer when memory is fragmented).
 * @return 0; -ENODEV for an unknown node; -EOPNOTSUPP for a size the host
 * lacks; -EROFS on a captured tree; -EACCES without privileges.
 */
int nk_hugepages_reserve(nk_host *host, int node, uint64_t size_kb, uint64_t count,
			 uint64_t *ret_actual, nk_error **err);

#ifdef __cplusplus
}
#endif
#endif
