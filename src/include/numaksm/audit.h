/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/audit.h
 * Which physical pages VMs share, read from the kernel: the page frame of
 * every present page of each VM's guest RAM (/proc/PID/pagemap, which shows
 * frames to CAP_SYS_ADMIN only), compared between VMs.  With the VMs in
 * groups (tenants), a frame mapped by VMs of two groups is a page one tenant
 * shares with another: what KSM must never make.  The shared zero page
 * (and the huge zero page) is the same frame for every process and is left
 * out.  A page the kernel marks as mapped by one process only
 * (PM_MMAP_EXCLUSIVE) is not looked at further.
 */
#ifndef NUMAKSM_AUDIT_H
#define NUMAKSM_AUDIT_H

#include <stdint.h>

#include <numaksm/core.h>
#include <numaksm/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A frame mapped by VMs of two groups. */
struct nk_audit_page {
	uint64_t pfn;
	uint64_t kpageflags;	 /**< /proc/kpageflags of the frame (KPF_KSM is bit 21) */
	size_t vm_a, vm_b;	 /**< two VMs of different groups mapping it */
	uint64_t addr_a, addr_b; /**< where in each */
};

/** What the audit found.  Free with nk_audit_free(). */
struct nk_audit {
	size_t n_vms;
	char **errors;		     /**< [n_vms]: why the VM could not be read; NULL when read */
	uint64_t *read_pages;	     /**< [n_vms]: present pages of its guest RAM */
	uint64_t *shared_pages;	     /**< [n_vms]: of those, not its own alone */
	uint64_t within_frames;	     /**< frames mapped by several VMs, all of one group */
	uint64_t cross_frames;	     /**< frames mapped by VMs of two groups or more */
	uint64_t cross_ksm_frames;   /**< of those, KSM's */
	uint64_t zero_frames;	     /**< mappings of the zero page between groups, left out */
	uint64_t *pair_frames;	     /**< [n_vms * n_vms]: cross frames of VM i and VM j */
	struct nk_audit_page *pages; /**< the first cross frames, by frame number */
	size_t n_pages;
	double wall_seconds;
};

/** The cross frames kept in nk_audit.pages, at most. */
#define NK_AUDIT_PAGES_MAX 32

/**
 * Read the page frames of the guest RAM of `vms` on the live host (every
 * guest RAM mapping, hugetlb included) and find the frames VMs of
 * different `group`s both map.  A VM that ends or cannot be read is kept
 * with its error.  Pages merged while the audit reads may be seen in one VM
 * only: the audit is a snapshot.
 * @return 0; -EPERM without CAP_SYS_ADMIN (frames read as 0); -EINVAL on a
 *         captured tree; -ENOMEM.
 */
int nk_audit_shared(nk_host *host, const struct nk_vm_ref *vms, size_t n, const int *group,
		    struct nk_audit **ret, nk_error **err);

/** Free; accepts NULL.  @return NULL. */
struct nk_audit *nk_audit_free(struct nk_audit *audit);

#ifdef __cplusplus
}
#endif
#endif
