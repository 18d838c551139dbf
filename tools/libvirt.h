/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A vCPU plan as libvirt sees it: the domain XML elements that say the
 * same (<vcpu>, <cputune>, <numatune>, <cpu><numa>, <memoryBacking>), the
 * equivalent live virsh commands, and merging the elements into a domain's
 * own XML.  One layout feeds all three, so `pin plan --format libvirt`
 * prints exactly what `libvirt apply` defines.
 */
#ifndef NUMAKSM_TOOL_LIBVIRT_H
#define NUMAKSM_TOOL_LIBVIRT_H

#include <stdint.h>

#include <libxml/tree.h>
#include <numaksm/core.h>

typedef struct nk_pin_plan nk_pin_plan;

/* One guest NUMA cell: its vCPUs and where its memory goes. */
struct tool_libvirt_cell {
	nk_bitmap *vcpus;    /* guest vCPU numbers */
	int memory_node;     /* the host node holding its memory */
	uint64_t memory_kib; /* 0 when the guest's memory is not known */
};

struct tool_libvirt_layout {
	const nk_pin_plan *plan;
	struct tool_libvirt_cell *cells;
	size_t n_cells;
	nk_bitmap *memory_nodes; /* every cell's memory node */
	uint64_t page_kib;	 /* hugepage size; 0 for none */
};

/*
 * The layout of `plan` for a guest of `memory_kib` (0: unknown, no
 * <cpu><numa> cells) backed by pages of `page_kib` (0: no hugepages).
 * The memory is split over the guest nodes by their share of the vCPUs,
 * each a whole number of pages.  A guest node whose memory the planner
 * left free to choose gets the node of its vCPUs.
 * Returns 0, or -EINVAL with *err set when a cell would get no page.
 */
int tool_libvirt_layout(const nk_pin_plan *plan, uint64_t memory_kib, uint64_t page_kib,
			struct tool_libvirt_layout *ret, nk_error **err);
void tool_libvirt_layout_done(struct tool_libvirt_layout *layout);

/* Print the XML fragments, each element on its own lines. */
int tool_libvirt_print_xml(const struct tool_libvirt_layout *layout, nk_error **err);

/* Print the live virsh commands for domain `domain`. */
void tool_libvirt_print_virsh(const struct tool_libvirt_layout *layout, const char *domain);

/*
 * Merge the layout into domain XML `doc`: <vcpu> gets the plan's count,
 * <cputune>'s vcpupin and emulatorpin, <numatune>'s memory and memnode
 * elements and <cpu><numa>'s cells are replaced, <memoryBacking>'s
 * <hugepages> too when the layout has hugepages; every other element and
 * attribute is kept.  Returns 0, or a negative errno with *err set.
 */
int tool_libvirt_merge(xmlDocPtr doc, const struct tool_libvirt_layout *layout, nk_error **err);

/* The domain's <memory> in KiB, converting its unit; 0 when absent or malformed. */
uint64_t tool_libvirt_memory_kib(xmlDocPtr doc);

/*
 * The CPUs domain XML `doc` pins each vCPU to (ret_vcpus[i] NULL for a vCPU
 * without <vcpupin>, *ret_n of them) and the emulator to (NULL without
 * <emulatorpin>).  Returns 0 or -ENOMEM; free with tool_libvirt_pins_free().
 */
int tool_libvirt_pins(xmlDocPtr doc, nk_bitmap ***ret_vcpus, size_t *ret_n,
		      nk_bitmap **ret_emulator);
void tool_libvirt_pins_free(nk_bitmap **vcpus, size_t n, nk_bitmap *emulator);

/* A thread of a running libvirt domain off the CPUs its definition pins it to. */
struct tool_libvirt_drift {
	int vcpu; /* -1 for the emulator (the main thread) */
	int tid;
	char *affinity_cpus;
	char *defined_cpus;
};

struct nk_vm_info;
/*
 * Compare the threads of running libvirt domain `vm` with the pins of its
 * definition, read through a read-only connection to libvirt opened once.
 * Returns the number of drifting threads (*ret, free with
 * tool_libvirt_drift_free()), or -ENOENT when libvirt cannot be reached or
 * does not know the domain.
 */
int tool_libvirt_drift(const struct nk_vm_info *vm, struct tool_libvirt_drift **ret);
void tool_libvirt_drift_free(struct tool_libvirt_drift *drift, int n);
/* Close the connection tool_libvirt_drift() opened. */
void tool_libvirt_close(void);

#endif
