/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the VM model: the kind table and the parsers of the /proc
 * files only VM discovery reads, kept apart from I/O so that tests feed
 * them literals and truncated text.
 */
#ifndef NUMAKSM_VM_INTERNAL_H
#define NUMAKSM_VM_INTERNAL_H

#include "basic.h"
#include "numaksm/vm.h"

/* ---- the kind table (vm-kinds.c) ---------------------------------------- */

/* A vCPU thread name: PREFIX, the vCPU number, SUFFIX ("CPU 3/KVM"). */
struct vm_thread_name {
	const char *prefix, *suffix;
};

struct vm_kind {
	enum nk_vm_kind kind;
	const char *name; /* "qemu" */
	/* Program names, matched against the comm (cut to 15 characters by
	 * the kernel) and the base name of argv[0]; "qemu-system-*" matches a
	 * prefix.  NULL-terminated; none for NK_VM_PROCESS. */
	const char *programs[3];
	/* The VM's name from its command line; NULL when it has none. */
	int (*cmdline_name)(const char *cmdline, size_t len, char **ret_name);
	/* Guest RAM from its command line, 0 when not given there. */
	int (*cmdline_ram)(const char *cmdline, size_t len, uint64_t *ret_bytes);
	/* How it names its vCPU threads; an empty entry ends the list. */
	struct vm_thread_name vcpu_threads[3];
	/* Forks device processes of the same program (crosvm): only the one
	 * whose parent is not one of them is the VM. */
	bool forks_devices;
};

/* The entry of `kind` (NK_VM_PROCESS for an unknown one). */
const struct vm_kind *vm_kind(enum nk_vm_kind kind);

/* The kind a process is, from its comm and the base name of its argv[0]
 * (NULL when not read yet), and its command line (NULL: not read yet).
 * Without the command line, a QEMU is NK_VM_QEMU: libvirt's is told apart
 * by its command line. */
enum nk_vm_kind vm_kind_of(const char *comm, const char *argv0, const char *cmdline, size_t len);

/* The VM's name and UUID from its command line, by kind; NULL when none. */
int vm_cmdline_name(enum nk_vm_kind kind, const char *cmdline, size_t len, char **ret_name);
int vm_cmdline_uuid(enum nk_vm_kind kind, const char *cmdline, size_t len, char **ret_uuid);

/* Guest RAM size from the command line (QEMU -m, Cloud Hypervisor
 * --memory size=, crosvm --mem, numaksm-vmm --memory/--memory-zone); 0
 * when not given there. */
int vm_cmdline_ram(enum nk_vm_kind kind, const char *cmdline, size_t len, uint64_t *ret_bytes);

/* The value after `option` in a NUL-separated command line: "-m 1G",
 * "--id=x" and "--id x" forms; NULL when absent. */
int vm_cmdline_option(const char *cmdline, size_t len, const char *option, char **ret_value);

/* The vCPU number a thread of `kind` named `name` runs, or -1 when the
 * name is not one of that kind's vCPU thread names.  A plain process
 * (NK_VM_PROCESS) may use any kind's names; *ret_family says which, so
 * that names of two families in one process are told apart. */
int vm_vcpu_of_thread(enum nk_vm_kind kind, const char *name, const void **ret_family);

/* ---- /proc parsers only the VM model uses (vm-parse.c) ------------------- */

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

/* Choose the guest RAM mappings among `vmas`: the indexes, in address
 * order, into *ret_index.  `ram_bytes` (0: unknown) bounds the choice. */
int vm_pick_guest_ram(const struct nk_proc_vma *vmas, size_t n, uint64_t ram_bytes,
		      size_t **ret_index, size_t *ret_n);

#endif
