/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/cgroup.h
 * @brief Placing a running VM in a cgroup of its own: its NUMA nodes
 *        (cpuset.mems), CPUs (cpuset.cpus) and memory limits, with its
 *        existing pages migrated when asked and its vCPU threads pinned
 *        inside the set; and putting it back where it was.
 *
 * Through libcgroup, on cgroup v1 (the cpuset and memory hierarchies) and
 * v2 (the unified hierarchy), each a backend of its own.  All or nothing: a
 * placement that fails at any step is undone step by step, so the VM is left
 * where it was.  What a placement changed is kept in
 * $NUMAKSM_RUNTIME_DIR/place-PID.json (default /run/numaksm), so that
 * nk_cgroup_undo() can return the VM to its cgroups later, from another
 * process.
 *
 * Conventions as in numaksm/core.h.
 */
#ifndef NUMAKSM_CGROUP_H
#define NUMAKSM_CGROUP_H

#include "numaksm/core.h"
#include "numaksm/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The parent used when a request names none: "numaksm", below each hierarchy's root. */
#define NK_CGROUP_DEFAULT_PARENT "numaksm"

/** What nk_cgroup_place() is to do. */
struct nk_cgroup_request {
	const char *group;	/**< the group's name, one path component; NULL: the VM's name */
	const char *parent;	/**< path of its parent below the root; NULL: "numaksm" */
	const nk_bitmap *nodes; /**< cpuset.mems: nodes with memory (required) */
	const nk_bitmap *cpus;	/**< cpuset.cpus; NULL: the CPUs of `nodes`, or of the
				     nearest nodes with CPUs for memory-only ones */
	uint64_t memory_high_bytes; /**< memory.high (v1: memory.soft_limit_in_bytes); 0: none */
	uint64_t memory_max_bytes;  /**< memory.max (v1: memory.limit_in_bytes); 0: none */
	bool migrate;		    /**< move the pages already faulted in onto `nodes` */
	bool pin_vcpus;		    /**< pin each vCPU thread inside `cpus` (vcpu/, shared plan) */
	bool allow_libvirt;	    /**< move a VM out of libvirt's machine.slice */
	const char *runtime_dir;    /**< NULL: $NUMAKSM_RUNTIME_DIR, else /run/numaksm */
};

/** What a placement (or its undoing) did, as read back from the kernel. */
struct nk_cgroup_report {
	int pid;
	char *name;
	const char *backend; /**< "v1" or "v2" */
	char *group;	     /**< "numaksm/vm1" */
	char **dirs;	     /**< the group's directory in each hierarchy, NULL-terminated */
	char **previous;     /**< where the VM was: "cpuset:/", "memory:/a" (v1) or "/a" (v2) */
	nk_bitmap *cpus;     /**< the group's effective CPUs */
	nk_bitmap *nodes;    /**< the group's effective nodes */
	uint64_t memory_high_bytes;  /**< read back; UINT64_MAX when unlimited */
	uint64_t memory_max_bytes;   /**< read back; UINT64_MAX when unlimited */
	bool migrated;		     /**< migrate_pages(2) ran */
	uint64_t pages_not_migrated; /**< what migrate_pages(2) could not move */
	double migrate_seconds;
	/** Guest RAM checked page by page with move_pages(2); the amounts are
	 *  bytes (its mappings may have pages of different sizes), all 0 when
	 *  not verified. */
	bool verified;
	uint64_t on_nodes_bytes;  /**< on the group's nodes */
	uint64_t elsewhere_bytes; /**< on other nodes */
	uint64_t absent_bytes;	  /**< not faulted in */
	uint64_t other_bytes;	  /**< the zero page, or unreadable */
	unsigned vcpus;		  /**< vCPU threads found */
	unsigned vcpus_pinned;	  /**< vCPU threads pinned and read back */
	char **notes;		  /**< what the reader should know, NULL-terminated */
};

/** Free a report; accepts NULL. @return NULL. */
struct nk_cgroup_report *nk_cgroup_report_free(struct nk_cgroup_report *report);

/**
 * Put the VM `vm` in the group `parent`/`group` with the request's nodes,
 * CPUs and limits, attach all its threads, migrate its pages (when asked),
 * pin its vCPU threads, and verify all of it: the group's effective sets
 * and limits, every thread's Cpus_allowed and Mems_allowed, and where each
 * page of its guest RAM is.  Any failure undoes every step taken.
 *
 * @return 0; -EROFS on a captured host tree; -EPERM without CAP_SYS_ADMIN;
 *         -ESRCH when the VM is gone; -EINVAL for nodes or CPUs outside what
 *         the parent allows, nodes without memory, limits below the VM's
 *         current use or a bad group name; -EEXIST when the VM is placed
 *         already or the group exists; -EBUSY for a VM in libvirt's
 *         machine.slice without allow_libvirt; -ENOTSUP when cgroups lack
 *         the cpuset or memory controller; -ENOSPC when the vCPUs do not fit
 *         beside other pinned VMs; other -errno with a message.
 */
int nk_cgroup_place(nk_host *host, const struct nk_vm_ref *vm, const struct nk_cgroup_request *req,
		    struct nk_cgroup_report **ret, nk_error **err);

/**
 * Put a placed VM (by PID or by the name it was placed under) back in the
 * cgroups it was in, restore its threads' affinities, drop its vCPU pinning
 * and remove its group and the parents numaksm made that are now empty.
 * A VM whose process is gone has only its group removed.
 * @return 0; -ENOENT when numaksm has not placed such a VM; -EROFS on a
 *         captured host tree; other -errno with a message.
 */
int nk_cgroup_undo(nk_host *host, const char *name_or_pid, const char *runtime_dir,
		   struct nk_cgroup_report **ret, nk_error **err);

#ifdef __cplusplus
}
#endif
#endif
