/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/policy.h
 * @brief The KSM tuner and the policy file.
 *
 * The tuner is a control loop over /sys/kernel/mm/ksm.  Its decision step
 * is pure: a sample of counters goes in (KSM counters, ksmd's CPU time,
 * memory pressure, the mergeable memory of the host's processes), knob
 * settings and the reason for them come out.  The daemon around it
 * (nk_tuned_*) reads the samples, writes the knobs, saves the original
 * settings in a state file and restores them on exit or, after a crash, at
 * the next start.  The design and the control law: docs/ksm-tuner.md.
 *
 * The policy file (INI, /etc/numaksm/numaksm.conf) holds a [ksm] section
 * for the tuner and [vm "GLOB"] sections with placement rules for VMs
 * whose name matches GLOB.  See numaksm.conf(5).
 */
#ifndef NUMAKSM_POLICY_H
#define NUMAKSM_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "numaksm/core.h"
#include "numaksm/ksm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* The controller                                                      */
/* ------------------------------------------------------------------ */

/** When KSM runs at all. */
enum nk_tuner_mode {
	NK_TUNER_MODE_OFF = 0,	/**< keep KSM stopped (run=0; merged pages stay merged) */
	NK_TUNER_MODE_ON,	/**< always run, at the rate the control law picks */
	NK_TUNER_MODE_AUTO,	/**< run while some process has mergeable memory (default) */
	NK_TUNER_MODE_PRESSURE, /**< run only under memory pressure, as ksmtuned does */
};

/** What the tuner is doing. */
enum nk_tuner_phase {
	NK_TUNER_STOPPED = 0, /**< run=0 */
	NK_TUNER_CONVERGING,  /**< scanning as fast as the CPU budget allows */
	NK_TUNER_SETTLED,     /**< scans stopped paying: a slow background pass */
};

/** The tuner's settings (the [ksm] section of the policy file). */
struct nk_tuner_config {
	enum nk_tuner_mode mode;
	double cpu_budget;	   /**< share of one CPU ksmd may use, in (0, 1]; default 0.25 */
	double interval_min_s;	   /**< sampling period while converging; default 0.5 s */
	double interval_max_s;	   /**< longest period when settled or stopped; default 10 s */
	double idle_scan_s;	   /**< when settled: one full scan per this long; default 1800 s */
	double settle;		   /**< a full scan gaining less than this share of the saving
				      means converged; default 0.01 */
	double pressure_available; /**< pressure: MemAvailable below this share of MemTotal
				      (default 0.20, ksmtuned's KSM_THRES_COEF) */
	double pressure_psi;	   /**< ... or memory PSI "some avg10" at or above this percent
				      (default 10; 0 ignores PSI) */
	uint64_t grow_bytes;	   /**< converge again when mergeable memory grows this much
				      (default 64 MiB) */
	unsigned converge_sleep_ms; /**< sleep_millisecs while converging; default 20 */
	/** Knobs set once at start, only on explicit request (merge_across_nodes,
	 *  max_page_sharing, use_zero_pages, smart_scan, stable_node_chains_prune_millisecs). */
	struct nk_ksm knobs;
	bool unmerge; /**< allow the unmerge (run=2) that merge_across_nodes and
			 max_page_sharing need while pages are shared */
};

/** Fill in the defaults. */
void nk_tuner_config_init(struct nk_tuner_config *config);

/** @return "off", "on", "auto", "pressure". */
const char *nk_tuner_mode_name(enum nk_tuner_mode mode);
/** @return "stopped", "converging", "settled". */
const char *nk_tuner_phase_name(enum nk_tuner_phase phase);

/** One reading of everything the control law looks at. */
struct nk_tuner_sample {
	double time_s;	   /**< monotonic seconds */
	double ksmd_cpu_s; /**< ksmd's CPU time so far; negative when unknown */
	/** The knobs and counters as they are now (a field the kernel lacks is
	 *  not in its mask: nk_ksm_has()). */
	struct nk_ksm ksm;
	/* Memory pressure. */
	uint64_t mem_total_kb, mem_available_kb;
	double psi_some_avg10; /**< percent; negative without /proc/pressure/memory */
	/* Processes with mergeable memory (MADV_MERGEABLE or PR_SET_MEMORY_MERGE). */
	uint64_t mergeable_bytes; /**< their resident memory */
	unsigned mergeable_procs;
	bool has_mergeable; /**< false when the kernel cannot tell (no ksm_mergeable) */
};

/** What the control law decided, and why. */
struct nk_tuner_decision {
	enum nk_tuner_phase phase;
	uint64_t run, pages_to_scan, sleep_millisecs;
	double interval_s; /**< when to sample again */
	bool changed;	   /**< the knobs differ from those in the sample */
	char reason[384];  /**< one line for the log */
};

/** A controller: the state the control law carries from one sample to the next. */
typedef struct nk_tuner nk_tuner;

/**
 * Check a configuration: ranges, and knobs that must not be set through
 * it (run, pages_to_scan, sleep_millisecs and advisor_* are the tuner's).
 * @return 0; -EINVAL naming the setting at fault.
 */
int nk_tuner_config_check(const struct nk_tuner_config *config, nk_error **err);

/** @return 0; -EINVAL for a bad configuration; -ENOMEM. */
int nk_tuner_new(const struct nk_tuner_config *config, nk_tuner **ret, nk_error **err);
/** Free; accepts NULL. @return NULL. */
nk_tuner *nk_tuner_free(nk_tuner *tuner);

/**
 * Decide the knobs for the next interval from a sample.  Pure: no I/O, no
 * clock; the same samples give the same decisions.
 */
void nk_tuner_decide(nk_tuner *tuner, const struct nk_tuner_sample *sample,
		     struct nk_tuner_decision *ret);

/* ------------------------------------------------------------------ */
/* Sampling the live host                                              */
/* ------------------------------------------------------------------ */

/** Reads samples: remembers ksmd's pid and caches the process scan. */
typedef struct nk_tuner_sampler nk_tuner_sampler;

/** @return 0; -ENOTSUP without KSM. */
int nk_tuner_sampler_new(nk_host *host, nk_tuner_sampler **ret, nk_error **err);
/** Free; accepts NULL. @return NULL. */
nk_tuner_sampler *nk_tuner_sampler_free(nk_tuner_sampler *sampler);

/**
 * Read a sample.  The scan of /proc/PID/ksm_stat for mergeable processes
 * is redone at most every `process_scan_s` seconds (0: every time).
 * @return 0; -errno with a message when KSM's files cannot be read.
 */
int nk_tuner_sample_read(nk_tuner_sampler *sampler, double process_scan_s,
			 struct nk_tuner_sample *ret, nk_error **err);

/** A process with mergeable memory, as the last process scan found it. */
struct nk_tuner_proc {
	pid_t pid;
	uint64_t rss_bytes; /**< resident memory */
};

/** @return the number of mergeable processes of the last process scan. */
size_t nk_tuner_sampler_proc_count(const nk_tuner_sampler *sampler);
/** @return process `index` of the last process scan, or NULL. */
const struct nk_tuner_proc *nk_tuner_sampler_proc(const nk_tuner_sampler *sampler, size_t index);

/* ------------------------------------------------------------------ */
/* The policy file                                                     */
/* ------------------------------------------------------------------ */

/** A placement rule: a [vm "GLOB"] section. */
struct nk_vm_rule {
	const char *glob; /**< fnmatch(3) pattern on the VM's name */
	const char *file; /**< where it was written */
	unsigned line;
	const nk_bitmap *nodes;	    /**< host NUMA nodes; NULL when not set */
	const char *cpus;	    /**< "dedicated" or "shared"; NULL when not set */
	uint64_t memory_max_bytes;  /**< 0 when not set */
	uint64_t memory_high_bytes; /**< 0 when not set */
	int mergeable;		    /**< 1 yes, 0 no, -1 not set */
	/** Whose VM it is: no page is merged between VMs of two tenants
	 *  (nk_tenant_guard_decide()); NULL when not set. */
	const char *tenant;
};

/* ------------------------------------------------------------------ */
/* Tenants: no page merged between VMs of two tenants                  */
/* ------------------------------------------------------------------ */

/**
 * How the guarantee holds.  KSM merges identical pages of any two
 * mergeable processes on the host (merge_across_nodes=1) or on one node
 * (=0): two tenants that both have mergeable memory in one such domain
 * could share a page, and a shared page is a side channel (Flip Feng Shui,
 * VUsion).  VMware's answer is to share only within a "salt" group.
 */
enum nk_tenant_method {
	NK_TENANT_ALONE = 0, /**< at most one tenant has mergeable memory: nothing to do */
	NK_TENANT_NODES,     /**< per-node merging, and the tenants merge on disjoint nodes */
	NK_TENANT_UNMERGE,   /**< merging is turned off for the VMs in `unmerge` */
	NK_TENANT_STOP,	     /**< KSM must not run: tenants share a domain and merging cannot
				be turned off in enough of their VMs */
};

/** @return "alone", "nodes", "unmerge", "stop". */
const char *nk_tenant_method_name(enum nk_tenant_method method);

/** A VM as the tenant guard sees it. */
struct nk_tenant_vm {
	const char *name;
	const char *tenant;	  /**< NULL: a tenant of its own, as VMware's default salt */
	const nk_bitmap *nodes;	  /**< the nodes its pages can be on; NULL: any */
	uint64_t mergeable_bytes; /**< 0: it merges nothing and is left out */
	bool can_unmerge;	  /**< its merging can be turned off (numaksm-vmm's zones) */
};

/** What the guard decided. */
struct nk_tenant_guard {
	enum nk_tenant_method method;
	bool *unmerge;	  /**< [n]: turn this VM's merging off */
	size_t n_unmerge; /**< how many are true */
	unsigned tenants; /**< tenants with mergeable memory, before the guard */
	char reason[512]; /**< one line for the log */
};

/**
 * Decide how no page is merged between tenants.  A merge domain is the host
 * with `merge_across_nodes`, else each node (a VM is in every node of its
 * `nodes`).  In a domain where several tenants merge, the tenant whose
 * merging cannot be turned off keeps it (two such tenants: STOP), else the
 * one with the most mergeable memory there; the others' VMs are turned
 * off.  Pure: no I/O.
 * @return 0; -ENOMEM.  Free `ret` with nk_tenant_guard_done().
 */
int nk_tenant_guard_decide(const struct nk_tenant_vm *vms, size_t n, bool merge_across_nodes,
			   unsigned n_nodes, struct nk_tenant_guard *ret);

/** Free what nk_tenant_guard_decide() allocated. */
void nk_tenant_guard_done(struct nk_tenant_guard *guard);

/** A parsed policy file. */
typedef struct nk_conf nk_conf;

/**
 * Parse policy text.  `filename` is used in messages ("FILE:LINE: ...").
 * Unknown sections and keys, repeated keys and sections, and bad values
 * are errors naming the file and line.
 * @return 0; -EINVAL with the message; -ENOMEM.
 */
int nk_conf_parse(const char *text, const char *filename, nk_conf **ret, nk_error **err);

/**
 * Read and parse a policy file.
 * @return 0; -ENOENT when the file does not exist; as nk_conf_parse().
 */
int nk_conf_load(const char *path, nk_conf **ret, nk_error **err);

/** Free; accepts NULL. @return NULL. */
nk_conf *nk_conf_free(nk_conf *policy);

/** @return the tuner settings of the [ksm] section (defaults when absent). */
const struct nk_tuner_config *nk_conf_tuner(const nk_conf *policy);
/** @return the number of [vm] rules. */
size_t nk_conf_vm_count(const nk_conf *policy);
/** @return rule `index` in file order, or NULL. */
const struct nk_vm_rule *nk_conf_vm(const nk_conf *policy, size_t index);
/** @return the first rule whose glob matches `name`, or NULL. */
const struct nk_vm_rule *nk_conf_match(const nk_conf *policy, const char *name);

/* ------------------------------------------------------------------ */
/* The daemon                                                          */
/* ------------------------------------------------------------------ */

/** A running tuner: lock, saved settings, controller and sampler. */
typedef struct nk_tuned nk_tuned;

/** How the daemon runs. */
struct nk_tuned_options {
	const char *runtime_dir; /**< the placements' state ([vm] rules); NULL:
				    $NUMAKSM_RUNTIME_DIR or /run/numaksm.  KSM's lock and
				    saved knobs are host-wide (NK_KSM_OWNER_DIR) */
	bool dry_run;		 /**< decide and log, write nothing (no knob, lock or state) */
};

/**
 * Start the tuner: own KSM's knobs (nk_ksm_own(): refused while another
 * program does, or ksmtuned runs; what a crashed owner left is restored);
 * save the knobs it drives and the policy sets; set the knobs the policy asks for
 * explicitly; switch the scan-time advisor off (pages_to_scan cannot be
 * written while it is on).  [vm] rules are checked against the host's nodes.
 * VMs running already are placed by the first step like new ones.
 * @return 0; -EBUSY (another tuner, or ksmtuned), -EROFS (captured tree),
 *         -ENOTSUP (no KSM), -EINVAL (a rule names a node the host lacks).
 */
int nk_tuned_start(nk_host *host, const nk_conf *policy, const struct nk_tuned_options *options,
		   nk_tuned **ret, nk_error **err);

/**
 * One round: sample, decide, write the knobs that changed, log the
 * decision with its reason; place VMs that appeared and match a [vm] rule
 * (numaksm place: nk_cgroup_place(); logged only with dry_run).
 * @return 0 and the decision (its interval_s says when to call again).
 */
int nk_tuned_step(nk_tuned *tuned, struct nk_tuner_decision *ret, nk_error **err);

/**
 * Take a new policy (SIGHUP): its rules are checked, its knobs saved and
 * set, the control law starts afresh with its budget, and running VMs are
 * matched against its [vm] rules (VMs placed already stay where they are).
 * `policy` must outlive the tuner; the old one may be freed on success.
 * @return 0; -errno with a message, the old policy still in force.
 */
int nk_tuned_reload(nk_tuned *tuned, const nk_conf *policy, nk_error **err);

/** @return the sample the last nk_tuned_step() decided on (zeroed before the first). */
const struct nk_tuner_sample *nk_tuned_sample(const nk_tuned *tuned);

/**
 * Restore the saved settings, remove the state file and release the lock.
 * @return 0; -errno when a knob could not be restored (the state file is
 *         kept, so `numaksm ksm restore` or the next start can finish).
 */
int nk_tuned_stop(nk_tuned *tuned, nk_error **err);

/**
 * Free without restoring: the state file stays, as after a crash, and the
 * next start (or `numaksm ksm restore`) restores it.  Accepts NULL.
 * @return NULL.
 */
nk_tuned *nk_tuned_free(nk_tuned *tuned);

#ifdef __cplusplus
}
#endif
#endif
