/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/proc.h
 * @brief Processes as /proc shows them: the one scanner of /proc, the one
 *        parser of /proc/PID/stat, and the parsers of smaps and
 *        /proc/PID/cgroup that VM discovery, pinning, placement, the KSM
 *        tuner and zones share.
 *
 * Everything is read through an nk_host root, so a captured tree answers
 * like the live system.  A process may end between any two reads: ENOENT
 * and ESRCH then mean "gone" and are returned as -ESRCH with no message,
 * never as an error the caller must print.  Parsers take text, never
 * files, so they are tested on literals.
 *
 * Conventions as in numaksm/core.h.
 */
#ifndef NUMAKSM_PROC_H
#define NUMAKSM_PROC_H

#include <sys/types.h>

#include "numaksm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** PF_KTHREAD in the flags of /proc/PID/stat: a kernel thread. */
#define NK_PROC_PF_KTHREAD 0x00200000u

/** The fields of /proc/PID/stat (or /proc/PID/task/TID/stat) numaksm uses. */
struct nk_proc_stat {
	char *comm;			   /**< between the parentheses; may hold spaces and ')' */
	char state;			   /**< 'R', 'S', 'Z'... */
	int ppid;			   /**< field 4 */
	uint64_t flags;			   /**< field 9: PF_* (NK_PROC_PF_KTHREAD) */
	uint64_t utime_ticks, stime_ticks; /**< fields 14, 15: clock ticks */
	uint64_t cutime_ticks, cstime_ticks; /**< fields 16, 17: waited-for children */
	unsigned thread_count;		     /**< field 20 */
	uint64_t start_time_ticks;	     /**< field 22: tells a reused PID apart */
	uint64_t rss_pages;		     /**< field 24 */
	int last_cpu;			     /**< field 39; -1 when the line stops before it */
};

/**
 * Parse the text of /proc/PID/stat.
 * @return 0; -EINVAL when malformed or cut before field 24; -ENOMEM.
 */
int nk_proc_stat_parse(const char *text, struct nk_proc_stat *ret);
/** Free what the struct owns; accepts a zeroed one. */
void nk_proc_stat_done(struct nk_proc_stat *st);

/**
 * Read /proc/PID/stat, or /proc/PID/task/TID/stat when `tid` > 0.
 * @return 0; -ESRCH when the process (thread) is gone; -EINVAL with a
 *         message when the file is malformed; other -errno with a message.
 */
int nk_proc_stat_read(nk_host *host, int pid, int tid, struct nk_proc_stat *ret, nk_error **err);

/**
 * Read /proc/PID/FILE ("cmdline", "smaps", "task/TID/status").
 * @return the length; -ESRCH when the process is gone; -errno with a
 *         message naming the file otherwise (with a hint for -EACCES).
 */
int nk_proc_read(nk_host *host, int pid, const char *file, char **ret_text, nk_error **err);

/**
 * The one scan of /proc: the PIDs of every process, ascending.
 * @return the count (>= 0), `*ret_pids` a new array (free() it); -errno
 *         with a message when /proc cannot be listed.
 */
int nk_proc_pids(nk_host *host, int **ret_pids, nk_error **err);

/**
 * The thread ids of process `pid`, ascending.
 * @return the count (> 0); -ESRCH when the process is gone.
 */
int nk_proc_tids(nk_host *host, int pid, int **ret_tids, nk_error **err);

/**
 * Find the first process whose comm is `comm`; with `kernel_thread` only
 * kernel threads (PF_KTHREAD), without it only user processes.
 * @return 0; -ESRCH when there is none.
 */
int nk_proc_find(nk_host *host, const char *comm, bool kernel_thread, pid_t *ret_pid);

/**
 * The real and effective user ids on the "Uid:" line of /proc/PID/status.
 * @return 0; -EINVAL when the line is missing or malformed.
 */
int nk_proc_status_uids(const char *text, uid_t *ret_real, uid_t *ret_effective);

/**
 * Whether process `pid` holds a KVM virtual machine: one of its file
 * descriptors is "anon_inode:kvm-vm".  No process can fake that without
 * creating a VM in /dev/kvm.
 * @return 1, 0; -EACCES when its descriptors may not be looked at (another
 *         user's process, not as root); -ESRCH when it is gone.
 */
int nk_proc_holds_kvm_vm(nk_host *host, int pid);

/** CPU time of a process. */
struct nk_proc_cputime {
	uint64_t run_ns;      /**< on-CPU time: /proc/PID/schedstat, else utime+stime of stat */
	uint64_t children_ns; /**< cutime+cstime: children it has waited for */
	bool precise;	      /**< run_ns from schedstat (ns), not clock ticks */
};

/**
 * Read a process's CPU time (for ksmd: the CPU KSM costs).
 * @return 0; -ESRCH when the process is gone.
 */
int nk_proc_cputime_read(nk_host *host, pid_t pid, struct nk_proc_cputime *ret, nk_error **err);

/** One mapping of /proc/PID/smaps; sizes in bytes. */
struct nk_proc_vma {
	uint64_t start, end;
	char perms[5];
	char *name; /**< path, "[heap]"..., "" when anonymous */
	uint64_t rss_bytes, anon_thp_bytes, shmem_pmd_bytes, file_pmd_bytes, hugetlb_bytes,
	    ksm_bytes, kernel_page_size;
	bool mergeable;			 /**< VmFlags mg */
	bool hugetlb_vma;		 /**< VmFlags ht */
	bool has_ksm;			 /**< the "KSM:" line (Linux 6.6) was there */
	uint64_t anon_bytes, swap_bytes; /**< "Anonymous:", "Swap:" */
};

/**
 * Parse every mapping of /proc/PID/smaps.
 * @return 0; -EINVAL when a header or value is malformed or the text stops
 *         inside a mapping (truncated); -ENOMEM.
 */
int nk_proc_smaps_parse(const char *text, struct nk_proc_vma **ret_vmas, size_t *ret_n);
/** Free parsed mappings; accepts NULL. */
void nk_proc_vmas_free(struct nk_proc_vma *vmas, size_t n);

/** One line of /proc/PID/cgroup. */
struct nk_proc_cgroup {
	unsigned hierarchy; /**< 0 for cgroup v2 */
	char *controllers;  /**< "cpuset", "name=systemd", "" for v2 */
	char *path;	    /**< "/numaksm/vm1" */
};

/**
 * Parse /proc/PID/cgroup: "ID:CONTROLLERS:PATH" (v1) and "0::PATH" (v2).
 * @return 0; -EINVAL when malformed or empty; -ENOMEM.
 */
int nk_proc_cgroup_parse(const char *text, struct nk_proc_cgroup **ret, size_t *ret_n);
/** Free parsed lines; accepts NULL. */
void nk_proc_cgroups_free(struct nk_proc_cgroup *cgroups, size_t n);
/**
 * @return the path of the hierarchy holding `controller` ("" asks for the
 *         v2 hierarchy), or NULL.
 */
const char *nk_proc_cgroup_path(const struct nk_proc_cgroup *cgroups, size_t n,
				const char *controller);

/** Pages per node of a range, measured or estimated. */
struct nk_placement {
	uint64_t pages; /**< pages in the range */
	uint64_t page_size;
	uint64_t sampled; /**< pages looked at (== pages when exact) */
	bool exact;
	uint64_t *node_pages; /**< per node id: pages (estimated when sampled) */
	size_t n_node_pages;  /**< length of node_pages (highest node + 1) */
	uint64_t not_present; /**< pages not faulted in */
	uint64_t other;	      /**< zero page, unmapped or unreadable */
	double error_pages;   /**< 95% bound on each per-node estimate (0 when exact) */
	/** With NK_PLACEMENT_KSM, when it could be told (root, 4 KiB pages): of
	 *  node_pages, those that are KSM pages, per node id; NULL otherwise. */
	bool has_ksm;
	uint64_t *node_ksm_pages;
};

/** Free what a placement owns. */
void nk_placement_done(struct nk_placement *p);

/**
 * Measure where the pages of [addr, addr+size) in process `pid` (0: self)
 * are, with move_pages(pid, n, pages, NULL, status, 0), which, unlike
 * get_mempolicy(MPOL_F_ADDR), never allocates absent pages.  Ranges of up
 * to `max_samples` pages are measured exactly; larger ones by a uniform
 * sample of `max_samples` pages (0: 65536) with its 95% error bound.
 * @return 0; -ESRCH when the process is gone; -EPERM without privileges.
 */
int nk_placement_measure(pid_t pid, uint64_t addr, uint64_t size, uint64_t page_size,
			 uint64_t max_samples, struct nk_placement *ret, nk_error **err);

/** nk_placement_measure_flags() flags. */
enum nk_placement_flags {
	/** Count the KSM pages among each node's: a KSM page sits on one node
	 *  for every process that shares it (with merge_across_nodes=1, on
	 *  whichever node it was merged on), so these are not misplaced pages.
	 *  Reads /proc/PID/pagemap and /proc/kpageflags (CAP_SYS_ADMIN). */
	NK_PLACEMENT_KSM = 1 << 0,
};

/** nk_placement_measure() with `flags` (enum nk_placement_flags). */
int nk_placement_measure_flags(pid_t pid, uint64_t addr, uint64_t size, uint64_t page_size,
			       uint64_t max_samples, unsigned flags, struct nk_placement *ret,
			       nk_error **err);

#ifdef __cplusplus
}
#endif
#endif
