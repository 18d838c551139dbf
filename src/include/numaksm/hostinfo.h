/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/hostinfo.h
 * @brief What the host offers dense, NUMA-placed VMs: NUMA nodes, hugepage
 *        pools, KSM, THP, cgroups — read through an nk_host root, so it works
 *        on a captured tree — and live probes (KVM, madvise, memfd).
 */
#ifndef NUMAKSM_HOSTINFO_H
#define NUMAKSM_HOSTINFO_H

#include "numaksm/core.h"
#include "numaksm/ksm.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What backs guest RAM: a zone of numaksm-vmm, or a mapping of any VMM. */
enum nk_backing {
	NK_BACKING_4K = 0,  /**< anonymous 4 KiB pages (THP disabled on the range) */
	NK_BACKING_THP,	    /**< anonymous, MADV_HUGEPAGE, 2 MiB aligned */
	NK_BACKING_HUGETLB, /**< hugetlb pages in a memfd (MFD_HUGETLB), shared mapping */
};

/** @return "4K", "THP", "hugetlb". */
const char *nk_backing_name(enum nk_backing backing);

/** A hugepage pool of one size, host-wide or on one node. */
struct nk_hugepage_pool {
	uint64_t size_kb;  /**< page size in kB (2048, 1048576) */
	uint64_t total;	   /**< nr_hugepages */
	uint64_t free;	   /**< free_hugepages */
	uint64_t surplus;  /**< surplus_hugepages */
	uint64_t reserved; /**< resv_hugepages (host-wide only; 0 per node) */
};

/** One NUMA node as the kernel reports it.  A file of the node that is
 *  missing or malformed leaves what it tells unknown (see the *_known
 *  fields and nk_hostinfo.unread), not the whole reading failed. */
struct nk_numa_node {
	int id;
	nk_bitmap *cpus;       /**< the node's CPUs, from cpulist or else cpumap (empty for a
				    memory-only node, and when not known) */
	bool cpus_known;       /**< cpulist or cpumap was read */
	uint64_t mem_total_kb; /**< MemTotal from nodeN/meminfo */
	uint64_t mem_free_kb;  /**< MemFree from nodeN/meminfo */
	/** What the node can give without swapping: MemFree plus the page cache
	 *  and slab the kernel can drop (Inactive(file), SReclaimable). */
	uint64_t mem_available_kb;
	bool memory_known; /**< nodeN/meminfo was read (else the mem_* fields are 0) */
	bool has_memory;   /**< in /sys/devices/system/node/has_memory */
	/** Distance to nodes[j], same order as nk_hostinfo.nodes, whether the
	 *  kernel's row lists the online nodes or every node id up to the
	 *  highest (offline ones too); NULL when not known. */
	uint64_t *distances;
	size_t n_distances;		    /**< nk_hostinfo.n_nodes, or 0 when not known */
	struct nk_hugepage_pool *hugepages; /**< one per hugepage size, ascending */
	size_t n_hugepages;
};

enum nk_cgroup_mode {
	NK_CGROUP_NONE = 0, /**< no cgroup filesystem mounted */
	NK_CGROUP_V1,	    /**< legacy: v1 controllers only (or the cpuset filesystem) */
	NK_CGROUP_HYBRID,   /**< v1 controllers plus a cgroup2 mount beside them */
	NK_CGROUP_V2,	    /**< unified: cgroup2 at /sys/fs/cgroup */
	NK_CGROUP_UNKNOWN,  /**< the mount table could not be read */
};

/** Everything read about the host.  Fields are valid until nk_hostinfo_free(). */
struct nk_hostinfo {
	/* NUMA */
	bool numa_sysfs;	    /**< /sys/devices/system/node exists */
	struct nk_numa_node *nodes; /**< online nodes, ascending id (those with a nodeN
				       directory when node/online is missing) */
	size_t n_nodes;
	nk_bitmap *online_cpus;
	uint64_t mem_total_kb;	   /**< MemTotal from /proc/meminfo */
	uint64_t mem_available_kb; /**< MemAvailable from /proc/meminfo; 0 when absent */

	/* Hugepages */
	struct nk_hugepage_pool *hugepages; /**< host-wide pools, ascending size */
	size_t n_hugepages;
	/** /sys/kernel/mm/hugepages is missing (or none of its pools could be
	 *  read) while the nodes have pools: the host-wide pools are the sums
	 *  of the nodes' and their reserved pages are not known (0). */
	bool hugepages_from_nodes;
	uint64_t default_hugepage_kb; /**< Hugepagesize from /proc/meminfo, 0 if none */
	bool cpu_has_pdpe1gb;	      /**< /proc/cpuinfo flag for 1 GiB pages (x86) */

	/* KSM */
	bool ksm_present;
	struct nk_ksm ksm;  /**< every knob and counter this kernel has */
	bool proc_ksm_stat; /**< /proc/self/ksm_stat exists */

	/* THP (NULL when the kernel has no THP) */
	char *thp_enabled;
	char *thp_defrag;

	/** /proc/sys/kernel/numa_balancing: 0 off, 1 on, 2 memory tiering
	 *  only, 3 both; -1 when not known (no such file). */
	int numa_balancing;

	/* cgroups */
	enum nk_cgroup_mode cgroup_mode;
	/** NULL-terminated, mounted v1 controllers (from /proc/cgroups, or the
	 *  mount options when it is missing); NULL when not known. */
	char **cgroup_v1_controllers;
	/** NULL-terminated, from the v2 root's cgroup.controllers (or the
	 *  controllers /proc/cgroups leaves to it when that is missing); NULL
	 *  when not known. */
	char **cgroup_v2_controllers;
	char *cgroup_v2_path; /**< where cgroup2 is mounted, NULL if not */
	/** Where the legacy cpuset filesystem (type "cpuset", files without the
	 *  "cpuset." prefix) is mounted, as at /dev/cpuset; NULL if not. */
	char *cgroup_cpuset_legacy_path;

	/** What could not be read, a sentence each naming the file and what is
	 *  left unknown or was taken instead; NULL-terminated, empty when every
	 *  file a fact needs was there and well-formed. */
	char **unread;
};

/**
 * Read the host's NUMA, hugepage, KSM, THP and cgroup facts.  Files this
 * kernel lacks are reported as absent, not as errors; a file a fact needs
 * that is missing or malformed leaves that fact unknown and says so in
 * nk_hostinfo.unread.
 * @return 0; -ENOMEM; -errno with a message when a KSM or THP file is
 *         malformed or a file cannot be read for another reason than its absence.
 */
int nk_hostinfo_read(nk_host *host, struct nk_hostinfo **ret, nk_error **err);
/** Free; accepts NULL. @return NULL. */
struct nk_hostinfo *nk_hostinfo_free(struct nk_hostinfo *info);

/** @return "none", "v1", "hybrid", "v2" or "unknown". */
const char *nk_cgroup_mode_name(enum nk_cgroup_mode mode);

/** @return the node with this id, or NULL. */
const struct nk_numa_node *nk_hostinfo_node(const struct nk_hostinfo *info, int id);

/**
 * The CPUs next to `nodes`: each node's own, or for a memory-only node those
 * of the nearest nodes that have CPUs (of every node with CPUs when its
 * distances are not known); only CPUs in `allowed` (NULL: any).
 * @return 0; -ENOMEM.
 */
int nk_hostinfo_nearest_cpus(const struct nk_hostinfo *info, const nk_bitmap *nodes,
			     const nk_bitmap *allowed, nk_bitmap **ret);

/** Result of probing /dev/kvm. */
struct nk_kvm_probe {
	bool present;	 /**< the device node exists */
	bool usable;	 /**< opened and answered KVM_GET_API_VERSION = 12 */
	int api_version; /**< -1 when not read */
	int max_vcpus;	 /**< KVM_CAP_MAX_VCPUS, 0 when unknown */
	int open_errno;	 /**< why it could not be opened, 0 otherwise */
};

/**
 * Probe /dev/kvm on the live system.  Refused (-EROFS) on a captured tree.
 * @return 0 when probed (see the struct for the result).
 */
int nk_probe_kvm(nk_host *host, struct nk_kvm_probe *ret, nk_error **err);

/**
 * Probe MADV_POPULATE_WRITE (Linux 5.14) on an anonymous page.
 * @return 1 supported, 0 not supported, -EROFS on a captured tree.
 */
int nk_probe_madv_populate_write(nk_host *host, nk_error **err);

/**
 * Probe memfd_create(MFD_HUGETLB) for pages of `size_kb` (0: default size).
 * Creating the fd allocates nothing, so this works with an empty pool.
 * @return 1 supported, 0 not supported, -EROFS on a captured tree.
 */
int nk_probe_memfd_hugetlb(nk_host *host, uint64_t size_kb, nk_error **err);

/** The privileges numaksm cares about, from /proc/self/status. */
struct nk_privileges {
	unsigned euid;
	bool cap_sys_admin; /**< cgroups, KSM and hugepage knobs */
	bool cap_sys_nice;  /**< moving other processes' pages, affinity of other users' threads */
	bool cap_ipc_lock;  /**< hugetlb memfd and locking guest RAM */
	bool cap_sys_resource;
};

/** Read the calling process's privileges.  Refused (-EROFS) on a captured tree. */
int nk_probe_privileges(nk_host *host, struct nk_privileges *ret, nk_error **err);

#ifdef __cplusplus
}
#endif
#endif
