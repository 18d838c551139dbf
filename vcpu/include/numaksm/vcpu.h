/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/vcpu.h
 * @brief vCPU placement: the host topology from hwloc, a planner that puts
 *        each VM's vCPUs next to the memory of their guest NUMA node, a
 *        host-wide assignment state, and applying and verifying a plan on
 *        the threads of a running VM (any kind the VM model knows).
 *
 * Conventions as in numaksm/core.h: 0 or a positive value on success, a
 * negative errno on failure, `ret_*` written only on success, a message in
 * `*err` for failures the user must act on.
 *
 * CPUs are Linux CPU numbers (hwloc PU OS indexes) and nodes are Linux NUMA
 * node numbers throughout.
 */
#ifndef NUMAKSM_VCPU_H
#define NUMAKSM_VCPU_H

#include "numaksm/core.h"
#include "numaksm/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Topology                                                            */
/* ------------------------------------------------------------------ */

/**
 * A host topology: PUs grouped in cores, NUMA nodes (memory-only ones
 * included) and the distances between nodes.  Only online PUs are present;
 * PUs and nodes outside this process' cgroup cpuset are known but marked
 * disallowed and never planned on.  Each PU's node is the node whose CPUs
 * hold it (hwloc's nodesets, and the kernel's cpulists where they can be
 * read); a PU on no node of the topology (its node offline, or left out of
 * an XML export) is never planned on either.
 */
typedef struct nk_topo nk_topo;

/**
 * Read the host's topology with hwloc: the live host's, or a captured tree's
 * (gather-host-tree) through hwloc's own Linux backend and HWLOC_FSROOT,
 * which this sets for the load and puts back (so not while another thread
 * reads the environment).  Which node each CPU belongs to is taken from
 * /sys/devices/system/node/nodeN/cpulist, and the kernel's access0
 * initiators of memory-only nodes, read through `host`.  A topology from a
 * captured tree is not this system: applying a plan with it is refused.
 * @return 0; -ENOENT with a message and a hint when a captured tree lacks
 *         the CPU topology files hwloc reads; -errno when hwloc fails.
 */
int nk_topo_load_live(nk_host *host, nk_topo **ret, nk_error **err);

/**
 * Read a topology exported with `lstopo --of xml FILE.xml`.  A topology from
 * a file is not this system: nk_pin_apply() refuses to bind with it unless
 * it describes the live host exactly.
 * @return 0; -EINVAL with a message naming the file when hwloc cannot read
 *         it; -ENOENT when it does not exist.
 */
int nk_topo_load_xml(const char *path, nk_topo **ret, nk_error **err);

/**
 * Build a synthetic topology from an hwloc description such as
 * "pack:2 numa:2 core:8 pu:2" or "[numa] pack:2 [numa] core:4 pu:2" (the
 * first NUMA node attached to the machine has no CPUs: memory-only).  Node
 * distances are 10 within a node, 20 within a package and 30 otherwise.
 * @return 0; -EINVAL with a message when hwloc rejects the description.
 */
int nk_topo_load_synthetic(const char *description, nk_topo **ret, nk_error **err);

/** Free a topology; accepts NULL. @return NULL. */
nk_topo *nk_topo_free(nk_topo *topo);

/** @return where the topology came from: "live", "xml:PATH", "synthetic:DESCRIPTION" or "root:DIR".
 */
const char *nk_topo_source(const nk_topo *topo);

/** @return the online CPUs this process may use: allowed by its cgroup cpuset,
 *  on an online node it is allowed (cpuset.mems). */
const nk_bitmap *nk_topo_cpus(const nk_topo *topo);

/** @return every CPU hwloc knows, including offline and disallowed ones. */
const nk_bitmap *nk_topo_all_cpus(const nk_topo *topo);

/** @return the largest number of online PUs in one core (1 without SMT). */
unsigned nk_topo_threads_per_core(const nk_topo *topo);

/** One NUMA node of a topology. */
struct nk_topo_node {
	int id;		       /**< Linux node number */
	bool allowed;	       /**< in this process' cpuset.mems */
	bool memory_only;      /**< has no CPUs at all */
	uint64_t memory_bytes; /**< local memory as hwloc reports it */
	const nk_bitmap *cpus; /**< its online CPUs, allowed or not (empty when memory-only) */
};

/** @return the number of NUMA nodes (at least 1). */
unsigned nk_topo_node_count(const nk_topo *topo);

/**
 * Describe the `index`-th node, in ascending node number.  The bitmap stays
 * valid until the topology is freed.
 * @return 0; -ERANGE when `index` is past the last node.
 */
int nk_topo_node(const nk_topo *topo, unsigned index, struct nk_topo_node *ret);

/** @return the node number of `cpu`, or -ENOENT when it is not an online CPU
 *  or is on no node of the topology. */
int nk_topo_cpu_node(const nk_topo *topo, unsigned cpu);

/**
 * The SMT siblings of `cpu`, itself included (online PUs of its core).
 * @return 0; -ENOENT when `cpu` is not an online CPU; -ENOMEM.
 */
int nk_topo_cpu_siblings(const nk_topo *topo, unsigned cpu, nk_bitmap **ret);

/** @return the distance between two nodes (10 = local), or -ENOENT for an unknown node. */
int nk_topo_distance(const nk_topo *topo, int from_node, int to_node);

/* ------------------------------------------------------------------ */
/* Planning                                                            */
/* ------------------------------------------------------------------ */

/** How vCPUs hold host CPUs (OpenStack's hw:cpu_policy). */
enum nk_pin_policy {
	NK_PIN_DEDICATED = 0, /**< one CPU per vCPU, never given to anyone else */
	NK_PIN_SHARED = 1,    /**< vCPUs float over the free CPUs of their node */
};

/** How vCPUs use SMT siblings (OpenStack's hw:cpu_thread_policy). */
enum nk_pin_smt {
	NK_PIN_SMT_PREFER = 0,	/**< fill sibling PUs of a core first */
	NK_PIN_SMT_ISOLATE = 1, /**< one vCPU per core; its siblings stay free */
	NK_PIN_SMT_REQUIRE = 2, /**< guest thread siblings on host thread siblings */
};

/** Where the emulator (non-vCPU) threads run (hw:emulator_threads_policy). */
enum nk_pin_emulator {
	NK_PIN_EMULATOR_SHARE = 0,   /**< float over the VM's vCPU CPUs */
	NK_PIN_EMULATOR_ISOLATE = 1, /**< one extra CPU reserved for them */
};

/** A guest NUMA node: how many vCPUs it has and where its memory is. */
struct nk_pin_guest_node {
	unsigned vcpus;	 /**< a multiple of the guest's threads per core */
	int memory_node; /**< host node holding its memory; -1 lets the planner choose */
};

/** What to plan: one VM. */
struct nk_pin_request {
	unsigned vcpus;		   /**< 1 or more */
	unsigned threads_per_core; /**< guest SMT threads per core; 0 means 1 */
	/** Guest NUMA nodes, vCPUs numbered in this order; NULL: one node, host node chosen. */
	const struct nk_pin_guest_node *guest_nodes;
	size_t n_guest_nodes;
	enum nk_pin_policy policy;
	enum nk_pin_smt smt;
	enum nk_pin_emulator emulator;
	const nk_bitmap *housekeeping; /**< CPUs never used; NULL for none */
	/** Allow vCPUs onto the nearest other nodes when the memory node is full. */
	bool allow_spill;
};

/** A plan: each vCPU's CPUs, the emulator threads' CPUs, notes. */
typedef struct nk_pin_plan nk_pin_plan;

/** The host-wide assignments of the VMs already pinned. */
typedef struct nk_pin_state nk_pin_state;

/**
 * Plan one VM on `topo`, around the VMs already in `state` (NULL: an empty
 * host).  Never places a vCPU on a housekeeping, disallowed or memory-only
 * node's CPU, nor on a CPU another VM holds; dedicated vCPUs also keep off
 * the CPUs shared VMs float over.  The vCPUs of a guest node go on the node
 * holding its memory (the nearest node with CPUs when that one has none),
 * and on the next nearest nodes only with `allow_spill`.  Shared vCPUs
 * whose node is free to choose go where they block least: a node other
 * shared VMs float over, else the tightest that has a CPU per vCPU; the
 * plan's notes say which CPUs they block.  The same inputs give the same
 * plan.
 * @return 0; -EINVAL for a malformed request (0 vCPUs, a guest node not a
 *         multiple of threads_per_core, SMT isolate/require with a shared
 *         policy, an unknown node or a housekeeping CPU not in the topology);
 *         -EACCES for a node outside the allowed set; -ENOSPC when the VM
 *         does not fit, with a message saying what is free where; -ENOMEM.
 */
int nk_pin_plan_compute(const nk_topo *topo, const struct nk_pin_request *req,
			const nk_pin_state *state, nk_pin_plan **ret, nk_error **err);

/** Free a plan; accepts NULL. @return NULL. */
nk_pin_plan *nk_pin_plan_free(nk_pin_plan *plan);

/** @return the plan's CPU policy. */
enum nk_pin_policy nk_pin_plan_policy(const nk_pin_plan *plan);
/** @return the plan's SMT policy. */
enum nk_pin_smt nk_pin_plan_smt(const nk_pin_plan *plan);
/** @return the plan's emulator policy. */
enum nk_pin_emulator nk_pin_plan_emulator(const nk_pin_plan *plan);

/** @return the number of vCPUs planned. */
unsigned nk_pin_plan_vcpu_count(const nk_pin_plan *plan);

/** Where one vCPU goes. */
struct nk_pin_vcpu {
	unsigned guest_node;   /**< index into the request's guest nodes */
	int memory_node;       /**< host node holding the guest node's memory (-1 unknown) */
	int host_node;	       /**< host node of its CPUs */
	const nk_bitmap *cpus; /**< one CPU (dedicated) or a set (shared) */
};

/**
 * Describe vCPU `vcpu`.  The bitmap stays valid until the plan is freed.
 * @return 0; -ERANGE when `vcpu` is past the last vCPU.
 */
int nk_pin_plan_vcpu(const nk_pin_plan *plan, unsigned vcpu, struct nk_pin_vcpu *ret);

/** @return the CPUs for the emulator threads. */
const nk_bitmap *nk_pin_plan_emulator_cpus(const nk_pin_plan *plan);
/** @return the CPUs held free by this VM without a vCPU on them (SMT isolate siblings). */
const nk_bitmap *nk_pin_plan_reserved_cpus(const nk_pin_plan *plan);
/** @return every CPU this VM holds alone: dedicated vCPUs, isolated emulator, reserved. */
const nk_bitmap *nk_pin_plan_dedicated_cpus(const nk_pin_plan *plan);
/** @return the CPUs the shared vCPUs float over (empty for a dedicated plan). */
const nk_bitmap *nk_pin_plan_shared_cpus(const nk_pin_plan *plan);
/** @return notes on choices made (spills, memory-only nodes), NULL-terminated. */
char *const *nk_pin_plan_notes(const nk_pin_plan *plan);

/** @return "dedicated" or "shared". */
const char *nk_pin_policy_name(enum nk_pin_policy policy);
/** @return "prefer", "isolate" or "require". */
const char *nk_pin_smt_name(enum nk_pin_smt smt);
/** @return "share" or "isolate". */
const char *nk_pin_emulator_name(enum nk_pin_emulator emulator);

/* ------------------------------------------------------------------ */
/* The host-wide assignment state                                      */
/* ------------------------------------------------------------------ */

/** nk_pin_state_open() flags. */
enum nk_pin_state_flags {
	NK_PIN_STATE_WRITE = 1 << 0, /**< lock exclusively and allow nk_pin_state_save() */
};

/**
 * An empty state in memory (no file, no lock), for planning several VMs
 * ahead or on a topology that is not this system.
 * @return 0; -ENOMEM.
 */
int nk_pin_state_new(nk_pin_state **ret);

/**
 * Open the state in `dir`/pins.json (`dir` NULL: $NUMAKSM_RUNTIME_DIR, else
 * /run/numaksm), locked shared, or exclusively with NK_PIN_STATE_WRITE
 * (which creates `dir` with mode 0700).  The lock is held until the state
 * is freed.  Entries whose process is gone are dropped.  A state that is
 * missing, unreadable or from an earlier boot is rebuilt from the live
 * processes: every VMM whose vCPU threads are pinned narrower than the
 * online CPUs is entered as it is pinned.
 * @return 0; -errno with a message when the directory or lock cannot be
 *         opened.
 */
int nk_pin_state_open(nk_host *host, const char *dir, unsigned flags, nk_pin_state **ret,
		      nk_error **err);

/**
 * Write the state atomically (a temporary file renamed over pins.json).
 * @return 0; -EBADF when not opened with NK_PIN_STATE_WRITE; -errno with a
 *         message.
 */
int nk_pin_state_save(nk_pin_state *state, nk_error **err);

/** Free a state and release its lock; accepts NULL. @return NULL. */
nk_pin_state *nk_pin_state_free(nk_pin_state *state);

/**
 * Enter `plan` as the assignment of process `pid` (0 for a VM not yet
 * running) named `name` (may be NULL).  An entry of the same pid (when not
 * 0) is replaced.  `host` (may be NULL) gives the process' start time, so
 * a reused PID is not mistaken for this VM later.
 * @return 0; -ENOMEM.
 */
int nk_pin_state_add(nk_pin_state *state, nk_host *host, const nk_pin_plan *plan, int pid,
		     const char *name, nk_error **err);

/**
 * Enter running VM `vm` as its vCPU threads (`threads`, from
 * nk_vm_threads_read()) are pinned now, replacing the entry of its pid:
 * dedicated when each vCPU thread may run on one CPU, shared otherwise, as
 * a rebuild would find it.  For a VM started pinned by another program
 * (libvirt's <cputune>), so that plans keep off its CPUs.
 * @return 1 when entered; 0 when its vCPU threads are not pinned (may run
 *         on every online CPU: nothing entered); -errno with a message when
 *         the online CPUs cannot be read; -ENOMEM.
 */
int nk_pin_state_record(nk_pin_state *state, nk_host *host, const struct nk_vm_ref *vm,
			const struct nk_vm_threads *threads, nk_error **err);

/** Drop the entry of process `pid`. @return 1 when one was dropped, 0 when there was none. */
int nk_pin_state_remove(nk_pin_state *state, int pid);

/** @return the number of entries. */
unsigned nk_pin_state_count(const nk_pin_state *state);

/** One VM in the state. */
struct nk_pin_entry {
	int pid;	  /**< 0 for a VM entered before it ran */
	const char *name; /**< may be NULL */
	enum nk_pin_policy policy;
	const nk_bitmap *dedicated; /**< CPUs it holds alone */
	const nk_bitmap *shared;    /**< CPUs its shared vCPUs float over */
	bool rebuilt;		    /**< found pinned among the live processes */
};

/** Describe entry `index`. @return 0; -ERANGE past the last entry. */
int nk_pin_state_entry(const nk_pin_state *state, unsigned index, struct nk_pin_entry *ret);

/* ------------------------------------------------------------------ */
/* Applying a plan to a running VM                                     */
/* ------------------------------------------------------------------ */

/**
 * Pin VM `vm`'s threads as `plan` says (vCPU i to plan vCPU i, every other
 * thread to the emulator CPUs), read each affinity back through the host
 * root and compare.  `threads` is what nk_vm_threads_read() found; on
 * success it is read again, so it shows the affinities now.  All or
 * nothing: when setting or verifying a thread fails, the threads already
 * changed get their previous affinity back.  Refused on a captured host
 * tree and with a topology that is not this system (hwloc binds nothing on
 * XML/synthetic topologies: a bind there proves nothing).
 * @return 0; -EROFS when refused as above; -EINVAL when the plan's vCPU
 *         count differs from the VM's; -ESRCH when a vCPU thread ended;
 *         -EIO when the kernel kept another affinity than asked (a cgroup
 *         cpuset narrower than the plan); -errno of sched_setaffinity().
 */
int nk_pin_apply(nk_host *host, const struct nk_vm_ref *vm, struct nk_vm_threads *threads,
		 const nk_topo *topo, const nk_pin_plan *plan, nk_error **err);

/**
 * Set the affinity of threads `tids` of process `pid` to `sets` (one each),
 * read every affinity back through the host root, and give the threads
 * already changed their previous affinity back on any failure.  A thread
 * that ends meanwhile fails the whole only where `required` says so.
 * @return 0; -EROFS on a captured tree; -ESRCH when a required thread
 *         ended; -EIO when the kernel kept another affinity; -errno.
 */
int nk_pin_threads(nk_host *host, int pid, const int *tids, const nk_bitmap *const *sets,
		   const bool *required, size_t n, nk_error **err);

#ifdef __cplusplus
}
#endif
#endif
