/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of VM discovery: the parsers of /proc files, kept apart from
 * I/O so that tests feed them literals and truncated text.
 */
#ifndef NUMAKSM_VM_INTERNAL_H
#define NUMAKSM_VM_INTERNAL_H

#include "internal.h"
#include "numaksm/vm.h"

/* Fields of /proc/PID/stat (and task/TID/stat).  The comm is in
 * parentheses and may itself hold spaces and ')'. */
struct vm_stat {
	char *comm;
	char state;
	int ppid;
	uint64_t flags; /* PF_*: PF_KTHREAD marks kernel threads */
	uint64_t utime, stime;
	unsigned num_threads;
	uint64_t start_time; /* clock ticks after boot */
	uint64_t rss_pages;
	int processor; /* -1 when the line stops before field 39 */
};
#define VM_PF_KTHREAD 0x00200000u

/* -EINVAL when malformed or cut before field 24. */
int vm_parse_stat(const char *text, struct vm_stat *ret);
void vm_stat_done(struct vm_stat *st);

/* Totals of /proc/PID/smaps_rollup, in bytes. */
struct vm_rollup {
	uint64_t rss, pss, anon, anon_thp, shmem_pmd, file_pmd, shared_hugetlb, private_hugetlb,
	    swap, ksm;
	bool has_ksm; /* the "KSM:" line (Linux 6.6) */
};
/* -EINVAL when Rss or Anonymous is missing or a value is malformed. */
int vm_parse_rollup(const char *text, struct vm_rollup *ret);

/* One mapping of /proc/PID/smaps. */
struct vm_vma {
	uint64_t start, end;
	char perms[5];
	char *name; /* path or [heap]..., "" when anonymous */
	uint64_t rss, anon_thp, shmem_pmd, file_pmd, hugetlb, ksm, kernel_page_size;
	bool mergeable, hugetlb_vma; /* VmFlags mg, ht */
	bool has_ksm;		     /* the "KSM:" line (Linux 6.6) */
};
/* Parse every mapping.  -EINVAL when a header or a value is malformed or
 * the text stops inside a mapping's lines (truncated). */
int vm_parse_smaps(const char *text, struct vm_vma **ret_vmas, size_t *ret_n);
void vm_vmas_free(struct vm_vma *vmas, size_t n);

/* One line of /proc/PID/numa_maps: pages on each node. */
struct vm_numa_map {
	uint64_t start;
	uint64_t page_size; /* kernelpagesize_kB in bytes; 4096 when absent */
	uint64_t *node_pages;
	size_t n_node_pages;
};
int vm_parse_numa_maps(const char *text, struct vm_numa_map **ret_maps, size_t *ret_n);
void vm_numa_maps_free(struct vm_numa_map *maps, size_t n);

/* Add `value` to (*array)[index], growing the array with zeros as needed. */
int vm_array_add(uint64_t **array, size_t *n, size_t index, uint64_t value);

/* Lines of /proc/PID/cgroup: "ID:CONTROLLERS:PATH" (v1) and "0::PATH" (v2). */
int vm_parse_proc_cgroup(const char *text, struct nk_vm_cgroup **ret, size_t *ret_n);
void vm_cgroups_free(struct nk_vm_cgroup *cgroups, size_t n);
/* The path of the hierarchy holding `controller` ("" for v2's single one). */
const char *vm_cgroup_path(const struct nk_vm_cgroup *cgroups, size_t n, const char *controller);

/* The value after `option` in a NUL-separated command line: "-m 1G",
 * "--id=x" and "--id x" forms; NULL when absent. */
int vm_cmdline_option(const char *cmdline, size_t len, const char *option, char **ret_value);

/* The kind of VMM a comm or program base name is (NK_VM_PROCESS: none). */
enum nk_vm_kind vm_kind_of(const char *comm, const char *argv0);

/* The VM's name from its command line, by kind; NULL when it has none. */
int vm_cmdline_name(enum nk_vm_kind kind, const char *cmdline, size_t len, char **ret_name);

/* Guest RAM size from the command line (QEMU -m, Cloud Hypervisor
 * --memory size=, crosvm --mem); 0 when not given there. */
int vm_cmdline_ram(enum nk_vm_kind kind, const char *cmdline, size_t len, uint64_t *ret_bytes);

/* Choose the guest RAM mappings among `vmas`: the indexes, in address
 * order, into *ret_index.  `ram_bytes` (0: unknown) bounds the choice. */
int vm_pick_guest_ram(const struct vm_vma *vmas, size_t n, uint64_t ram_bytes, size_t **ret_index,
		      size_t *ret_n);

#endif
