/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/estimate.h
 * What KSM will save, before it scans: the guest RAM of running VMs is
 * fingerprinted (a 64-bit xxHash of each present page, read without
 * faulting anything in), identical contents are counted within each VM,
 * between VMs and per NUMA node, and KSM's rules (max_page_sharing,
 * use_zero_pages, merge_across_nodes) turn the counts into a saving.
 *
 * Sampling is by content: a content is kept when its hash falls in 1 of
 * `sample` buckets, so every copy of it, in every VM, is kept or dropped
 * together and the scaled counts are unbiased.  Pages full of zeros are
 * always counted whole.  The bound reported is the Horvitz-Thompson 95%
 * interval over the distinct contents kept (0 when nothing is dropped).
 */
#ifndef NUMAKSM_ESTIMATE_H
#define NUMAKSM_ESTIMATE_H

#include <stdbool.h>
#include <stdint.h>

#include <numaksm/core.h>
#include <numaksm/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How to estimate. */
struct nk_estimate_options {
	/** Share of one CPU the estimate may use, (0, 1]; 0: 0.5. */
	double cpu_budget;
	/** Keep 1 content in `sample` (a power of two); 0 or 1: all. */
	unsigned sample;
	/** KSM's rules to apply; 0 for max_page_sharing: 256. */
	uint64_t max_page_sharing;
	bool use_zero_pages;
	/** Also the guest RAM that is not MADV_MERGEABLE (what KSM would save
	 *  if it were); else only mergeable mappings are read. */
	bool all_guest_ram;
};

/** One VM's fingerprint. */
struct nk_estimate_vm {
	struct nk_vm_ref ref;	 /**< a copy */
	char *error;		 /**< why it could not be read; NULL when read */
	uint64_t read_pages;	 /**< present pages read and hashed */
	uint64_t zero_pages;	 /**< of those, full of zeros */
	uint64_t zero_mapped;	 /**< mapped to the shared zero page: not read, cost nothing */
	uint64_t ksm_zero_pages; /**< already merged into the zero page by KSM (ksm_stat) */
	double inside_pages;	 /**< pages KSM would save within this VM alone */
	double saved_pages;	 /**< its fair share of the host's saving (merge_across_nodes=1) */
	double *shared_pages;	 /**< [n_vms]: its pages whose content VM j holds too ([self]: 0) */
	uint64_t *node_read_pages; /**< [n_nodes]: read pages on each node */
};

/** The whole estimate.  Free with nk_estimate_free(). */
struct nk_estimate {
	struct nk_estimate_vm *vms;
	size_t n_vms;
	unsigned sample;
	uint64_t page_size;
	uint64_t max_page_sharing;
	bool use_zero_pages;
	uint64_t read_pages;	  /**< every VM's */
	uint64_t distinct_kept;	  /**< distinct contents kept (zero pages aside) */
	double saved_pages;	  /**< with merge_across_nodes=1 */
	double saved_error;	  /**< its 95% bound, in pages */
	size_t n_nodes;		  /**< node ids 0 .. n_nodes-1 */
	double *node_saved_pages; /**< [n_nodes]: with merge_across_nodes=0, pages where they are */
	double *node_saved_error; /**< [n_nodes]: 95% bounds */
	double node_saved_total;  /**< their sum */
	double node_saved_error_total;
	bool nodes_known;   /**< each page's node was read (move_pages) */
	double cpu_seconds; /**< the estimate's own CPU time */
	/** The kept contents, for nk_estimate_saving_if() and nk_estimate_plan(). */
	struct nk_estimate_contents *contents;
	double wall_seconds;
};

/**
 * Fingerprint the guest RAM of `vms` on the live host and predict KSM's
 * saving.  A VM that cannot be read (it ended, no right to read its memory)
 * is kept with its `error`; the others are estimated.
 * @return 0; -EINVAL for bad options or a captured tree; -ENOMEM.
 */
int nk_estimate_run(nk_host *host, const struct nk_vm_ref *vms, size_t n_vms,
		    const struct nk_estimate_options *options, struct nk_estimate **ret,
		    nk_error **err);

/** Free; accepts NULL.  @return NULL. */
struct nk_estimate *nk_estimate_free(struct nk_estimate *e);

/** The node holding most of VM `vm`'s pages read; -1 when it was not read. */
int nk_estimate_main_node(const struct nk_estimate *e, size_t vm);

/**
 * Pages KSM would save with merge_across_nodes=0 if VM i's pages were all
 * on node `node_of[i]` (-1: left out): per node, what its VMs' copies of
 * each content allow.  Sampled like the estimate.  -1 without contents.
 */
double nk_estimate_saving_if(const struct nk_estimate *e, const int *node_of);

/**
 * Where to put the VMs so that per-node merging saves most: from
 * `assign` (each VM's node now; -1 leaves a VM out), moves of one VM and
 * swaps of two onto `nodes`, the best gain first, while each node has room
 * (`room_bytes[node]`: what it can take in, for the VMs' pages read) for
 * the pages that would come to it.  A VM with `fixed[i]` (NULL: none) stays
 * where it is but still counts.  With `tenant` (NULL: none), VMs of two
 * tenants (tenant[i] != tenant[j]) are kept off a common node: each node
 * holding two tenants costs more than any saving, so the plan first parts
 * them, where room allows, then shares.  `assign` is the plan on return;
 * the savings before and after, in pages.
 * @return 0; -EINVAL without contents; -ENOMEM.
 */
int nk_estimate_plan(const struct nk_estimate *e, const nk_bitmap *nodes,
		     const uint64_t *room_bytes, size_t n_room, const bool *fixed,
		     const int *tenant, int *assign, double *ret_before, double *ret_after);

/** Nodes of `assign` that hold VMs of two tenants or more, counted once per
 *  extra tenant (0: the tenants are apart). */
unsigned nk_estimate_tenant_mixes(const struct nk_estimate *e, const int *tenant,
				  const int *assign);

/** Pages KSM saves on `n` pages of one content: n - ceil(n / max_page_sharing) (n >= 2). */
uint64_t nk_estimate_group_saving(uint64_t n, uint64_t max_page_sharing);

#ifdef __cplusplus
}
#endif
#endif
