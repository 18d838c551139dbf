/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The JSON vocabulary of numaksm's programs (docs/json.md), in one place:
 * the document envelope, the scalar conventions (bytes, counts, seconds and
 * ratios with six decimals, kernel list strings, null for unknown) and one
 * serialiser per object that more than one command prints.  Every
 * `--json` output is built from these, and validated against
 * docs/schema/ by the tests.
 */
#ifndef NUMAKSM_TOOL_JSON_H
#define NUMAKSM_TOOL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>
#include <numaksm/core.h>
#include <numaksm/hostinfo.h>
#include <numaksm/ksm.h>
#include <numaksm/memory.h>
#include <numaksm/policy.h>
#include <numaksm/proc.h>
#include <numaksm/vcpu.h>
#include <numaksm/vm.h>

/* The version of every document's shape; bumped with any change of a key. */
#define TOOL_JSON_SCHEMA_VERSION 1

/* A new document: {"schema_version": 1, "command": COMMAND}. */
json_object *tool_json_doc(const char *command);

/* Print and release a document on stdout: pretty, or one line (streams). */
void tool_json_print(json_object *doc, bool pretty);
/* The same on `out`: stderr's error and log lines are one line each. */
void tool_json_fprint(FILE *out, json_object *doc, bool pretty);

/* Whether --json comes before the end of the options ("--"): a program's
 * errors, even of its command line, are JSON lines on stderr then. */
bool tool_json_wanted(int argc, char **argv);
/* The line printed on stderr under --json for the error a program exits
 * with: {schema_version, command, exit_status, error}. */
void tool_json_error_line(const char *command, const nk_error *err, int code, int exit_status);
/* A diagnostic line on stderr under --json: {schema_version, command, log}. */
void tool_json_log_line(const char *command, enum nk_log_level level, const char *message);

/* ---- scalars (NULL is JSON null: json_object_object_add takes it) ---- */

json_object *tool_json_u64(uint64_t v);
json_object *tool_json_int(int64_t v);
/* A number with exactly six decimals; null when not finite. */
json_object *tool_json_fixed6(double v);
/* Seconds (>= 0) and ratios (0..1): six decimals; null when negative or not finite. */
json_object *tool_json_seconds(double seconds);
json_object *tool_json_ratio(double ratio);
/* A CPU or node set as the kernel writes it ("0-3,6"; "" when empty). */
json_object *tool_json_list(const nk_bitmap *set);
/* A string, or null for NULL and "". */
json_object *tool_json_name(const char *name);
/* "0x" and 16 hex digits: checksums, seeds (exact in any parser). */
json_object *tool_json_hex64(uint64_t v);
/* Now, as RFC 3339 UTC with milliseconds. */
json_object *tool_json_now(void);

/* ---- objects ---------------------------------------------------------- */

/* {code, errno, message, hint} of an error (code: -errno of the call). */
json_object *tool_json_error(const nk_error *err, int code);

/* {enabled, defrag} */
json_object *tool_json_thp(const struct nk_hostinfo *info);
/* [numa_node]: every node with its CPUs, memory and distances. */
json_object *tool_json_numa_nodes(const struct nk_hostinfo *info);
/* [hugepage_pool]: every page size, host-wide, with its split per node. */
json_object *tool_json_hugepage_pools(const struct nk_hostinfo *info);

/* What one reading of KSM found, for tool_json_ksm(). */
struct tool_ksm_facts {
	bool present;
	const struct nk_ksm *ksm;
	int proc_ksm_stat;  /* 1, 0, -1 unknown */
	uint64_t page_size; /* 0: unknown (a captured tree) */
	/* ksmd: pid 0 when not found */
	int ksmd_pid;
	double ksmd_cpu_seconds;
	double ksmd_ratio_since_boot; /* < 0: unknown */
	double ksmd_ratio_interval;   /* < 0: unknown */
	/* the last full scan: seconds < 0 when not measured */
	double scan_seconds, scan_resolution_seconds;
	/* the owner of KSM's knobs (nk_ksm_holder()): -1 not looked at, 0
	 * none, 1 one (the tuner, a benchmark) with its pid and program */
	int tuner_running;
	int tuner_pid;
	char tuner_program[48];
};

/*
 * Fill `facts` around a KSM reading (`ksm`, `present`): the page size
 * (unknown on a captured tree), whether /proc/PID/ksm_stat exists, ksmd's
 * CPU time and its share since boot, and (on the live host) the tuner.
 */
void tool_ksm_facts(nk_host *host, const struct nk_ksm *ksm, bool present,
		    struct tool_ksm_facts *facts);
/*
 * What a long runner (status --watch, the exporter) carries from one KSM
 * reading to the next, to measure what one reading cannot: how long a full
 * scan takes and ksmd's CPU share now.  Zero it before the first reading.
 */
struct tool_ksm_watch {
	bool have_prev;
	int prev_ksmd_pid;
	double prev_ksmd_cpu_seconds;
	double prev_when;
	uint64_t scans_seen;	/* full_scans at the last change (or the first reading) */
	double scan_end;	/* when full_scans last changed; < 0 before the first change */
	double scan_seconds;	/* time per full scan between two changes; < 0 unknown */
	double scan_resolution; /* +/- of scan_seconds: the interval between readings */
	double ksmd_ratio; /* ksmd's CPU-seconds per second over the last interval; < 0 unknown */
};
/* Take the reading `facts` made at `when` (CLOCK_MONOTONIC seconds), and
 * fill its scan_seconds, scan_resolution_seconds and ksmd_ratio_interval. */
void tool_ksm_watch_update(struct tool_ksm_watch *w, struct tool_ksm_facts *facts, double when);
/* The KSM object: state, knobs and counters (the kernel's files and
 * values), savings, ksmd, last full scan, tuner. */
json_object *tool_json_ksm(const struct tool_ksm_facts *facts);
/* The state word of a run value: "stopped", "running", "unmerging". */
const char *tool_ksm_state(uint64_t run);

/* KSM of one process: `stat` NULL when ksm_stat could not be read. */
json_object *tool_json_process_ksm(const struct nk_ksm_proc_stat *stat, bool has_mergeable,
				   uint64_t mergeable_bytes, bool has_saved, uint64_t saved_bytes);

/* {name, kind, pid, comm, program, owner_uid, trust, trusted}; kind
 * NK_VM_KIND_COUNT: not known (kind and the trust keys null). */
json_object *tool_json_vm_ref(const struct nk_vm_ref *vm);
/* Add owner_uid, trust and trusted of `vm` to `o`. */
void tool_json_vm_trust(json_object *o, const struct nk_vm_ref *vm);

/* A thread: `last_node` -1 when unknown, `in_affinity` whether the last
 * CPU is one the thread may run on (null when `judge` is false). */
json_object *tool_json_thread(const struct nk_vm_thread *t, int last_node, bool judge);

/* One line of /proc/PID/cgroup. */
json_object *tool_json_cgroup(const struct nk_proc_cgroup *cg);
/* A cgroup membership from its parts: `hierarchy` < 0 when not known,
 * `controllers` comma-separated ("" for v2). */
json_object *tool_json_cgroup_membership(int hierarchy, const char *controllers, const char *path);

/* Where memory is, per node, from bytes per node id. */
struct tool_placement {
	const char *method; /* "move_pages", "numa_maps" */
	bool exact;
	uint64_t sampled_pages; /* 0: every page looked at, or not known */
	const uint64_t *node_bytes;
	size_t n_node_bytes;
	uint64_t absent_bytes, other_bytes;
	double error_bytes;
	/* Of node_bytes, those in KSM pages; NULL: not told apart. */
	const uint64_t *ksm_node_bytes;
	size_t n_ksm_node_bytes;
};
json_object *tool_json_placement(const struct tool_placement *p);
/* The same from a page count per node (nk_zone_placement, nk_placement_measure). */
json_object *tool_json_page_placement(const struct nk_placement *p);

/* Where a zone sits in a guest, for tool_json_zone() (NULL: a zone of no VM). */
struct tool_zone_guest {
	unsigned guest_node;
	uint64_t guest_address;
	uint64_t host_address;
	bool has_ksm_bytes; /* the kernel says how much of the zone KSM merged */
	uint64_t ksm_bytes;
};

/* A guest RAM zone: its spec, page size, the prefault (null when none ran),
 * `p`, its placement (NULL: not measured), and where it sits in a VM
 * (`guest` NULL for a zone of no VM, as zone try makes: those keys null). */
json_object *tool_json_zone(const nk_zone *z, const struct nk_placement *p,
			    const struct tool_zone_guest *guest);

/* A vCPU plan: the topology it was made on, the choices, each vCPU's CPUs. */
json_object *tool_json_pin_plan(const nk_pin_plan *plan, const nk_topo *topo);

/* The backing's word in JSON: "4k", "thp", "hugetlb". */
const char *tool_json_backing(enum nk_backing backing);

#endif
