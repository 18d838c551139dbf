/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/vm.h
 * @brief The one VM model: the VMs running on a host, found with no
 *        configuration (numaksm-vmm, QEMU, libvirt's QEMU, Cloud Hypervisor,
 *        Firecracker, crosvm, or any process by PID), looked up by name, and
 *        per VM what numaksm reports: memory and guest RAM from smaps, where
 *        its pages are, what KSM saves it, its vCPU and emulator threads and
 *        its cgroups.  Adding a VMM kind is one entry in src/vm-kinds.c.
 *
 * Everything is read through an nk_host root, so a captured /proc tree
 * answers like the live one (pages per node then come from numa_maps).  A
 * process that ends while it is being read is "gone" (-ESRCH), never an
 * error the caller must print: a report simply leaves it out.
 *
 * Conventions as in numaksm/core.h.
 */
#ifndef NUMAKSM_VM_H
#define NUMAKSM_VM_H

#include <sys/types.h>

#include "numaksm/core.h"
#include "numaksm/hostinfo.h"
#include "numaksm/ksm.h"
#include "numaksm/proc.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What runs a VM: one entry each in the kind table (src/vm-kinds.c). */
enum nk_vm_kind {
	NK_VM_PROCESS = 0, /**< any process given by PID, not recognised as a VMM */
	NK_VM_NUMAKSM,	   /**< numaksm-vmm */
	NK_VM_QEMU,	   /**< qemu-system-* and qemu-kvm */
	NK_VM_LIBVIRT,	   /**< QEMU started by libvirt (its monitor under .../libvirt/qemu/) */
	NK_VM_CLOUD_HYPERVISOR, /**< cloud-hypervisor */
	NK_VM_FIRECRACKER,	/**< firecracker */
	NK_VM_CROSVM,		/**< crosvm (its jailed device processes are not VMs) */
	NK_VM_KIND_COUNT,
};

/**
 * @return "process", "numaksm", "qemu", "libvirt", "cloud-hypervisor",
 *         "firecracker" or "crosvm".
 */
const char *nk_vm_kind_name(enum nk_vm_kind kind);

/**
 * Why numaksm takes a process for a VM.  A program's name and command line
 * are anyone's to choose: a user's program called qemu-system-x86_64 with
 * "-name guest=db1" is a look-alike unless it shows more.  Programs that act
 * on VMs (place, pin apply, the tuner's [vm] rules) act only on trusted ones
 * (nk_vm_trusted()); status shows look-alikes apart.
 */
enum nk_vm_trust {
	NK_VM_TRUST_NONE = 0,	/**< a look-alike: runs as a VMM, shows no more */
	NK_VM_TRUST_UNKNOWN,	/**< its descriptors may not be looked at (not root) */
	NK_VM_TRUST_KVM,	/**< holds a KVM VM (nk_proc_holds_kvm_vm()) */
	NK_VM_TRUST_REGISTERED, /**< libvirt's root-owned pid file names it */
	NK_VM_TRUST_OWNER,	/**< runs as root or a user of nk_host_trust_uid() */
	NK_VM_TRUST_PID,	/**< the caller named it by its PID */
};

/** @return "none", "unknown", "kvm", "registered", "owner" or "pid". */
const char *nk_vm_trust_name(enum nk_vm_trust trust);

/** A VM process as found: who it is, cheaply. */
struct nk_vm_ref {
	int pid;
	enum nk_vm_kind kind;
	enum nk_vm_trust trust; /**< why it is taken for a VM */
	uid_t uid;		/**< its real user id; (uid_t)-1 when not known */
	/** QEMU/libvirt -name, Firecracker --id, numaksm-vmm --name; else "COMM-PID".
	 * This and the strings below are nk_escape()d: printable as they are. */
	char *name;
	char *comm;	     /**< the main thread's name */
	char *argv0;	     /**< the program run ("" for none) */
	char *uuid;	     /**< QEMU's -uuid (libvirt's domain UUID), or NULL */
	uint64_t start_time; /**< field 22 of /proc/PID/stat: tells a reused PID apart */
};

/** @return whether `ref` may be acted on: KVM, registered, owner or PID. */
bool nk_vm_trusted(const struct nk_vm_ref *ref);

/**
 * Refuse to `what` ("place", "pin") a VM that is not trusted.
 * @return 0 when nk_vm_trusted(); else -EPERM with a message saying what
 *         it lacks and a hint (its PID, or nk_host_trust_uid()).
 */
int nk_vm_require_trusted(const struct nk_vm_ref *vm, const char *what, nk_error **err);

/** Copy a reference, its strings included.  @return 0, -ENOMEM. */
int nk_vm_ref_copy(const struct nk_vm_ref *from, struct nk_vm_ref *ret);
/** Free what a reference owns; accepts a zeroed one. */
void nk_vm_ref_done(struct nk_vm_ref *ref);
/** Free an array of references; accepts NULL. */
void nk_vm_refs_free(struct nk_vm_ref *refs, size_t n);

/**
 * Find every VM process under /proc of `host`, by PID.  Kernel threads and
 * processes that end during the scan are left out.
 * @return the count (>= 0); -errno with a message when /proc cannot be listed.
 */
int nk_vm_find_all(nk_host *host, struct nk_vm_ref **ret_refs, nk_error **err);

/**
 * What a finder that scans again and again (an exporter, a watch, the
 * tuner) remembers between scans: the processes it found, by PID, start
 * time and comm.  One cache serves one host.
 */
typedef struct nk_vm_cache nk_vm_cache;
/** @return an empty cache; NULL when out of memory. */
nk_vm_cache *nk_vm_cache_new(void);
/** Free it; accepts NULL.  @return NULL. */
nk_vm_cache *nk_vm_cache_free(nk_vm_cache *cache);

/**
 * nk_vm_find_all() that reads only the stat of processes `cache` found
 * before (NULL: none).  A process holding a KVM VM is not read again;
 * one trusted for another reason is checked in full once a minute; an
 * untrusted one every time.  The cache then holds what this scan found.
 */
int nk_vm_find_cached(nk_host *host, nk_vm_cache *cache, struct nk_vm_ref **ret_refs,
		      nk_error **err);

/**
 * Find one VM by PID (any live process; kind NK_VM_PROCESS when it is not a
 * VMM; trusted as NK_VM_TRUST_PID when it shows nothing more) or by name:
 * its name, else its comm, else its program's base name.  When several
 * match and exactly one is trusted, that one is found: a look-alike cannot
 * take a VM's name.  Every command that takes a VM (status, pin, place,
 * vm, the tuner's rules) resolves it here.
 * @return 0; -ESRCH when no process has that PID; -ENOENT when no VM has
 *         that name;
 *         -ENOTUNIQ when several VMs have that name (the message lists them);
 *         -EINVAL for an empty selector.
 */
int nk_vm_lookup(nk_host *host, const char *name_or_pid, struct nk_vm_ref *ret, nk_error **err);

/** One thread of a VM's process. */
struct nk_vm_thread {
	int tid;
	int vcpu; /**< vCPU number, -1 for an emulator (any other) thread */
	char *name;
	nk_bitmap *affinity; /**< Cpus_allowed_list */
	int last_cpu;	     /**< the CPU it last ran on (field 39 of stat), may be outdated */
};

/** A VM's threads: vCPU threads first, in vCPU order, then the others by thread id. */
struct nk_vm_threads {
	struct nk_vm_thread *threads;
	size_t count;
	unsigned vcpu_count; /**< the first vcpu_count threads are vCPUs 0, 1, ... */
};

/**
 * Read the threads of VM `vm` and tell its vCPU threads by the names its
 * kind gives them (QEMU and numaksm-vmm "CPU n/KVM" or "CPU n/TCG", Cloud
 * Hypervisor "vcpuN", Firecracker "fc_vcpu N", crosvm "crosvm_vcpuN"; a
 * plain process may use any of them).
 * @return 0; -ESRCH when the process is gone (or its PID is another
 *         process now); -ENOTSUP with a message when no thread is named
 *         like a vCPU thread, or the vCPU numbers repeat or have gaps.
 */
int nk_vm_threads_read(nk_host *host, const struct nk_vm_ref *vm, struct nk_vm_threads *ret,
		       nk_error **err);
/** Free what the threads own; accepts a zeroed struct. */
void nk_vm_threads_done(struct nk_vm_threads *threads);

/** nk_vm_read() flags. */
enum nk_vm_read_flags {
	NK_VM_READ_PLACEMENT = 1 << 0, /**< pages per node of the guest RAM */
	NK_VM_READ_THREADS = 1 << 1,   /**< vCPU threads with affinity and last CPU */
	NK_VM_READ_EXACT = 1 << 2,     /**< measure every page, never a sample */
};

/** One mapping that holds guest RAM. */
struct nk_vm_region {
	uint64_t start;
	uint64_t size_bytes;
	uint64_t page_size;	 /**< 4096, or the hugetlb page size */
	enum nk_backing backing; /**< hugetlb; THP when huge pages back part of it; else 4K */
	bool mergeable;		 /**< MADV_MERGEABLE (VmFlags mg) */
	uint64_t rss_bytes;	 /**< resident, hugetlb pages included */
	uint64_t thp_bytes;	 /**< of which in transparent huge pages */
	uint64_t ksm_bytes;	 /**< smaps "KSM:" (Linux 6.6): pages that are KSM pages */
	char *name;		 /**< the mapped file ("/memfd:pc.ram (deleted)"), or "" */
};

/** Where the guest RAM's pages are, by node. */
struct nk_vm_placement {
	const char *method;	/**< "move_pages" or "numa_maps" */
	bool exact;		/**< every page looked at (numa_maps: always) */
	uint64_t *node_bytes;	/**< per node id */
	size_t n_node_bytes;	/**< highest node + 1 */
	uint64_t present_bytes; /**< sum of node_bytes */
	uint64_t absent_bytes;	/**< never faulted in (move_pages only) */
	uint64_t other_bytes;	/**< the zero page or unreadable (move_pages only) */
	double error_bytes;	/**< 95% bound on each per-node figure when sampled */
	uint64_t sampled_pages; /**< pages looked at (move_pages; every page when exact) */
	/** Of node_bytes, the bytes in KSM pages, per node id (when the VM has
	 *  merged pages and they could be told apart: root, move_pages).  A KSM
	 *  page sits on one node for all who share it, so these are not
	 *  misplaced; with merge_across_nodes=1 they may be on any node. */
	bool has_ksm_node_bytes;
	uint64_t *ksm_node_bytes;
	size_t n_ksm_node_bytes;
};

/** What numaksm knows about one VM.  Free with nk_vm_info_free(). */
struct nk_vm_info {
	struct nk_vm_ref ref;
	unsigned thread_count;	/**< num_threads of stat */
	uint64_t rss_bytes;	/**< Rss of smaps_rollup plus hugetlb pages */
	uint64_t anon_bytes;	/**< Anonymous */
	uint64_t thp_bytes;	/**< AnonHugePages + ShmemPmdMapped + FilePmdMapped */
	uint64_t hugetlb_bytes; /**< Shared_Hugetlb + Private_Hugetlb */
	uint64_t swap_bytes;

	/* Guest RAM: the mergeable or hugetlb mappings of 1 MiB and more, else
	 * the large anonymous or shared-memory ones; for QEMU the largest of
	 * them up to its -m size. */
	struct nk_vm_region *regions;
	size_t n_regions;
	uint64_t guest_ram_bytes; /**< the command line's size when known, else the regions' */
	bool guest_ram_from_cmdline;
	uint64_t guest_rss_bytes; /**< resident in the regions */
	uint64_t guest_hugetlb_bytes, guest_thp_bytes;
	uint64_t mergeable_bytes; /**< size of all MADV_MERGEABLE mappings */

	bool has_placement;
	struct nk_vm_placement placement;
	/** The nodes its cpuset lets it allocate on (Mems_allowed_list of
	 *  /proc/PID/status), read with the placement; NULL when unknown. */
	nk_bitmap *mems_allowed;

	bool has_ksm; /**< /proc/PID/ksm_stat was read */
	struct nk_ksm_proc_stat ksm;
	/** nk_ksm_proc_saved_bytes(), when has_ksm_saved: the host's counters and
	 * page size are known (the live host, given its KSM counters). */
	bool has_ksm_saved;
	uint64_t ksm_saved_bytes;

	bool has_threads; /**< vCPU threads were identified (NK_VM_READ_THREADS) */
	struct nk_vm_threads threads;

	struct nk_proc_cgroup *cgroups;
	size_t n_cgroups;
};

/**
 * Read what numaksm reports about the VM `ref`.  `ksm` (may be NULL) is
 * the host's KSM counters, for the fair share of savings.  Pages per node
 * come from move_pages() on the live host (sampled above 65536 pages per
 * mapping unless NK_VM_READ_EXACT), from numa_maps on a captured tree or
 * without the right to look at another process' pages.
 * @return 0; -ESRCH when the process is gone (or its PID now belongs to
 *         another process); -errno with a message when a file is malformed.
 */
int nk_vm_read(nk_host *host, const struct nk_vm_ref *ref, const struct nk_ksm *ksm, unsigned flags,
	       struct nk_vm_info **ret, nk_error **err);

/** Free; accepts NULL. @return NULL. */
struct nk_vm_info *nk_vm_info_free(struct nk_vm_info *vm);

#ifdef __cplusplus
}
#endif
#endif
