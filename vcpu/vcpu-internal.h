/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the vcpu/ module: the flattened topology the planner works
 * on, the plan and state layouts, and the parsers kept apart from I/O so
 * that tests can feed them literals.
 */
#ifndef NUMAKSM_VCPU_INTERNAL_H
#define NUMAKSM_VCPU_INTERNAL_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic.h"
#include "numaksm/rundir.h"
#include "numaksm/vcpu.h"

/* ---- topology ------------------------------------------------------ */

/* A PU or core on no node of the topology (its node offline or left out). */
#define TOPO_NO_NODE UINT_MAX

/* One online PU.  PUs of a core are contiguous in nk_topo.pus. */
struct topo_pu {
	unsigned cpu;  /* Linux CPU number */
	unsigned core; /* index into nk_topo.cores */
	unsigned node; /* index into nk_topo.nodes, or TOPO_NO_NODE */
	bool allowed;  /* usable: in the allowed CPUs, on an allowed node */
};

struct topo_core {
	unsigned first_pu; /* index into nk_topo.pus */
	unsigned n_pus;
	unsigned node; /* index into nk_topo.nodes, or TOPO_NO_NODE */
};

struct topo_node {
	int id;
	bool allowed;
	bool has_cpus;	       /* any online CPU, usable or not */
	unsigned n_usable_pus; /* CPUs this process may use */
	uint64_t memory_bytes;
	nk_bitmap *cpus;
	unsigned *cores; /* indexes into nk_topo.cores, in topology order */
	unsigned n_cores;
};

struct nk_topo {
	char *source;
	bool live; /* read from the live host */
	struct topo_pu *pus;
	unsigned n_pus;
	struct topo_core *cores;
	unsigned n_cores;
	struct topo_node *nodes; /* ascending id */
	unsigned n_nodes;
	unsigned *distance;   /* n_nodes x n_nodes, by node index */
	bool distances_known; /* from the OS or the XML, and not flat */
	bool distances_flat;  /* a matrix was given, every remote entry alike */
	/* n_nodes x n_nodes, larger is nearer: hwloc's memory attributes (1
	 * when b's CPUs are a's best initiator), hwloc's locality (depth of
	 * the objects a and b hang from in common), the kernel's access0
	 * initiators in sysfs (1 when b is one of a's; NULL: not read). */
	unsigned char *memattr_near;
	unsigned *locality;
	unsigned char *sysfs_near;
	int *pu_index; /* CPU number -> index into pus, -1 for none */
	unsigned n_pu_index;
	nk_bitmap *allowed_cpus;
	nk_bitmap *all_cpus;
	unsigned threads_per_core;
};

/* Index of node `id`, or -1. */
int topo_node_index(const nk_topo *topo, int id);
/* Index of CPU `cpu` in pus, or -1. */
static inline int topo_pu_index(const nk_topo *topo, unsigned cpu)
{
	return cpu < topo->n_pu_index ? topo->pu_index[cpu] : -1;
}
/* What told two nodes apart in topo_compare_near(). */
enum topo_near_source {
	TOPO_NEAR_NONE = 0, /* nothing: equally near */
	TOPO_NEAR_DISTANCE,
	TOPO_NEAR_MEMATTR,
	TOPO_NEAR_LOCALITY,
	TOPO_NEAR_SYSFS,
};

/*
 * Which of nodes `a` and `b` (indexes) is nearer to node `from`: < 0 when
 * `a`, > 0 when `b`, 0 when no source tells them apart.  The sources in
 * order: the distance matrix (when known), hwloc's memory attributes,
 * hwloc's locality, the kernel's sysfs.  `*ret_source` (may be NULL) says
 * which decided.
 */
int topo_compare_near(const nk_topo *topo, unsigned from, unsigned a, unsigned b,
		      enum topo_near_source *ret_source);
/* How a source is named in the plan's notes. */
const char *topo_near_source_name(const nk_topo *topo, enum topo_near_source source);

/* Same PUs, cores and nodes (memory sizes and distances aside). */
bool topo_same_shape(const nk_topo *a, const nk_topo *b);

/* ---- plan ------------------------------------------------------------ */

struct plan_vcpu {
	unsigned guest_node;
	int memory_node;
	int host_node;
	nk_bitmap *cpus;
};

struct nk_pin_plan {
	enum nk_pin_policy policy;
	enum nk_pin_smt smt;
	enum nk_pin_emulator emulator;
	struct plan_vcpu *vcpus;
	unsigned n_vcpus;
	nk_bitmap *emulator_cpus;
	nk_bitmap *reserved;
	nk_bitmap *dedicated;
	nk_bitmap *shared;
	char **notes;
	size_t n_notes;
};

/* ---- state ----------------------------------------------------------- */

struct pin_entry {
	int pid;
	uint64_t start_time; /* field 22 of /proc/PID/stat: tells a reused PID apart */
	char *name;
	enum nk_pin_policy policy;
	nk_bitmap *dedicated;
	nk_bitmap *shared;
	bool rebuilt;
};

struct nk_pin_state {
	struct pin_entry *entries;
	unsigned n_entries;
	nk_rundir *dir; /* NULL: in memory only, or nothing saved yet */
	int lock_fd;
	bool writable;
	char *boot_id;
};

/* Parse pins.json text into entries (no I/O).  -EINVAL when malformed. */
int pin_state_parse(const char *text, nk_pin_state *state, nk_error **err);
/* Format the state as pins.json text. */
int pin_state_format(const nk_pin_state *state, char **ret_text);

#endif
