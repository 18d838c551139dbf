/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The planner's properties over every topology of the corpus
 * (tests/fixtures/topologies: each hwloc XML, and each captured tree under
 * trees/ read through hwloc's fsroot) and a grid of requests: vCPU counts,
 * guest threads per core, --nodes subsets, policies, SMT and emulator
 * modes, housekeeping CPUs, spilling, and a host already holding a
 * dedicated or a shared VM.
 *
 * Each plan is checked against NAME.truth, what the kernel says of the
 * machine, written by hand beside it: which CPUs are usable and on which
 * node, and which CPU node is nearest to each memory-only node.  The
 * invariants: no CPU given twice; usable CPUs only; every vCPU labelled
 * with the true node of its CPUs; vCPUs on their memory's node (or the
 * nearest CPU node for a memory-only one), and a spill only to nodes in
 * nearness order once the nearer ones are full; SMT isolate and require
 * kept; housekeeping CPUs and other VMs' CPUs untouched; an isolated
 * emulator beside vCPU 0 without spilling; the same plan twice; and a
 * refusal only when counting the free CPUs shows no plan exists.
 *
 * Prints how many plans were checked, on how many topologies, and the
 * violations found (each named); fails on any.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "pin-plan-text.h"
#include "vcpu-internal.h"

#ifndef TOPOLOGY_DIR
#error "TOPOLOGY_DIR must name tests/fixtures/topologies"
#endif

#define MAX_NODES 16

struct truth {
	nk_bitmap *usable;
	nk_bitmap *node_cpus[MAX_NODES]; /* by node id; NULL: no usable CPU */
	nk_bitmap *nearest[MAX_NODES];	 /* memory-only nodes' nearest CPU nodes */
};

struct counts {
	unsigned long plans, refusals, refusals_unjudged, invalid, violations;
};

static struct counts total;
static const char *current;	 /* the topology being checked, for messages */
static char request[256];	 /* the request being planned, for messages */
static const nk_pin_plan *shown; /* the plan being checked, for messages */

/* Violations by kind (their format), each shown once with a count. */
static struct {
	const char *fmt;
	unsigned long count;
} kinds[64];

static void __attribute__((format(printf, 1, 2))) violation(const char *fmt, ...)
{
	va_list ap;
	size_t k = 0;

	total.violations++;
	while (k < 64 && kinds[k].fmt && kinds[k].fmt != fmt)
		k++;
	if (k == 64)
		return;
	if (kinds[k].count++)
		return;
	kinds[k].fmt = fmt;
	fprintf(stderr, "VIOLATION on %s, %s: ", current, request);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (shown) {
		char *text = pin_plan_text(shown);
		fprintf(stderr, "  the plan: %s\n", text);
		free(text);
	}
}

static nk_bitmap *list(const char *text)
{
	nk_bitmap *b = NULL;
	if (nk_parse_list(text, NULL, &b, NULL) < 0)
		fail_msg("bad list '%s'", text);
	return b;
}

static void truth_free(struct truth *tr)
{
	nk_bitmap_free(tr->usable);
	for (int i = 0; i < MAX_NODES; i++) {
		nk_bitmap_free(tr->node_cpus[i]);
		nk_bitmap_free(tr->nearest[i]);
	}
}

static void truth_read(const char *path, struct truth *tr)
{
	FILE *f = fopen(path, "re");
	char line[256], word[32], arg[128];
	int id;

	if (!f)
		fail_msg("%s: %s (every topology of the corpus needs its truth file)", path,
			 strerror(errno));
	memset(tr, 0, sizeof(*tr));
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "usable %127s", arg) == 1)
			tr->usable = list(arg);
		else if (sscanf(line, "%31s %d %127s", word, &id, arg) == 3 && id >= 0 &&
			 id < MAX_NODES && strcmp(word, "node") == 0)
			tr->node_cpus[id] = list(arg);
		else if (sscanf(line, "%31s %d %127s", word, &id, arg) == 3 && id >= 0 &&
			 id < MAX_NODES && strcmp(word, "memonly") == 0)
			tr->nearest[id] = list(arg);
		else
			fail_msg("%s: cannot parse '%s'", path, line);
	}
	fclose(f);
	assert_non_null(tr->usable);
}

static int true_node(const struct truth *tr, unsigned cpu)
{
	for (int i = 0; i < MAX_NODES; i++)
		if (tr->node_cpus[i] && nk_bitmap_test(tr->node_cpus[i], cpu))
			return i;
	return -1;
}

/* ---- what is free, counted from the truth alone ------------------------ */

struct host {
	const nk_topo *topo;
	const struct truth *tr;
	nk_bitmap *busy; /* housekeeping, other VMs' (and, dedicated, their shared) */
};

static bool pu_free(const struct host *h, unsigned cpu, const nk_bitmap *also_busy)
{
	return nk_bitmap_test(h->tr->usable, cpu) && !nk_bitmap_test(h->busy, cpu) &&
	       !(also_busy && nk_bitmap_test(also_busy, cpu));
}

/* Free units on node `id` for `req`: PUs (prefer, shared), whole cores
 * (isolate), or PUs in whole guest cores (require).  `extra_busy`: CPUs
 * a plan took. */
static unsigned capacity(const struct host *h, int id, const struct nk_pin_request *req,
			 const nk_bitmap *extra_busy)
{
	unsigned cap = 0, t = req->threads_per_core ? req->threads_per_core : 1;
	if (id < 0 || id >= MAX_NODES || !h->tr->node_cpus[id])
		return 0;
	/* SMT require wants sibling PUs: a host without SMT has no place. */
	if (req->policy == NK_PIN_DEDICATED && req->smt == NK_PIN_SMT_REQUIRE &&
	    (nk_topo_threads_per_core(h->topo) < 2 || t > nk_topo_threads_per_core(h->topo)))
		return 0;
	nk_bitmap_foreach (cpu, h->tr->node_cpus[id]) {
		nk_bitmap *sib = NULL;
		unsigned free_here = 0, n = 0;
		assert_int_equal(nk_topo_cpu_siblings(h->topo, (unsigned)cpu, &sib), 0);
		/* Count each core once, at its first usable CPU. */
		bool first = true;
		nk_bitmap_foreach (s, sib) {
			if (s < cpu && nk_bitmap_test(h->tr->node_cpus[id], (unsigned)s))
				first = false;
		}
		if (!first) {
			nk_bitmap_free(sib);
			continue;
		}
		nk_bitmap_foreach (s, sib) {
			n++;
			free_here += pu_free(h, (unsigned)s, extra_busy);
		}
		nk_bitmap_free(sib);
		if (req->policy == NK_PIN_SHARED || req->smt == NK_PIN_SMT_PREFER)
			cap += free_here;
		else if (req->smt == NK_PIN_SMT_ISOLATE)
			cap += free_here == n;
		else
			cap += free_here / t * t;
	}
	return cap;
}

/* The CPU nodes a guest node with memory on `mem` must start on; NULL when
 * any node will do (the planner chooses). */
static const nk_bitmap *primary_nodes(const struct truth *tr, int mem, nk_bitmap **own)
{
	*own = NULL;
	if (mem < 0)
		return NULL;
	if (tr->node_cpus[mem]) {
		*own = nk_bitmap_new();
		nk_bitmap_set(*own, (unsigned)mem);
		return *own;
	}
	return tr->nearest[mem];
}

/* ---- one plan ---------------------------------------------------------- */

static bool subset(const nk_bitmap *a, const nk_bitmap *b)
{
	return nk_bitmap_is_subset(a, b);
}

static bool intersects(const nk_bitmap *a, const nk_bitmap *b)
{
	nk_bitmap_foreach (x, a) {
		if (b && nk_bitmap_test(b, (unsigned)x))
			return true;
	}
	return false;
}

static void check_plan(const struct host *h, const struct nk_pin_request *req,
		       const struct nk_pin_guest_node *gns, size_t n_gn, const nk_pin_plan *plan)
{
	const nk_topo *t = h->topo;
	const struct truth *tr = h->tr;
	unsigned threads = req->threads_per_core ? req->threads_per_core : 1;
	const nk_bitmap *emu = nk_pin_plan_emulator_cpus(plan),
			*res = nk_pin_plan_reserved_cpus(plan);
	nk_bitmap *all = nk_bitmap_new(), *vcpu_cpus = nk_bitmap_new();
	bool dedicated = req->policy == NK_PIN_DEDICATED;

	if (nk_pin_plan_vcpu_count(plan) != req->vcpus)
		violation("%u vCPUs planned, %u asked", nk_pin_plan_vcpu_count(plan), req->vcpus);
	for (unsigned i = 0; i < nk_pin_plan_vcpu_count(plan); i++) {
		struct nk_pin_vcpu v;
		nk_pin_plan_vcpu(plan, i, &v);
		if (nk_bitmap_weight(v.cpus) == 0 || (dedicated && nk_bitmap_weight(v.cpus) != 1))
			violation("vCPU %u has %u CPUs", i, nk_bitmap_weight(v.cpus));
		if (dedicated && intersects(v.cpus, vcpu_cpus))
			violation("vCPU %u: a CPU given twice", i);
		nk_bitmap_foreach (c, v.cpus) {
			nk_bitmap_set(vcpu_cpus, (unsigned)c);
			nk_bitmap_set(all, (unsigned)c);
			if (true_node(tr, (unsigned)c) != v.host_node)
				violation("vCPU %u: CPU %d is on node %d, labelled %d", i, c,
					  true_node(tr, (unsigned)c), v.host_node);
		}
		if (dedicated && req->smt == NK_PIN_SMT_ISOLATE) {
			nk_bitmap *sib = NULL;
			int c = nk_bitmap_next(v.cpus, 0);
			nk_topo_cpu_siblings(t, (unsigned)c, &sib);
			nk_bitmap_foreach (s, sib) {
				if (s != c && !nk_bitmap_test(res, (unsigned)s))
					violation("SMT isolate: vCPU %u's sibling %d not kept free",
						  i, s);
			}
			nk_bitmap_free(sib);
		}
		if (dedicated && req->smt == NK_PIN_SMT_REQUIRE && i % threads) {
			struct nk_pin_vcpu first;
			nk_bitmap *sib = NULL;
			nk_pin_plan_vcpu(plan, i - i % threads, &first);
			nk_topo_cpu_siblings(t, (unsigned)nk_bitmap_next(v.cpus, 0), &sib);
			if (!subset(first.cpus, sib))
				violation("SMT require: vCPU %u not a sibling of vCPU %u", i,
					  i - i % threads);
			nk_bitmap_free(sib);
		}
	}
	nk_bitmap_foreach (c, emu) {
		nk_bitmap_set(all, (unsigned)c);
	}
	nk_bitmap_foreach (c, res) {
		nk_bitmap_set(all, (unsigned)c);
	}
	if (!subset(all, tr->usable))
		violation("a CPU that is not usable (offline, disallowed, or on no usable node)");
	if (intersects(all, h->busy))
		violation("a housekeeping CPU or another VM's");
	if (intersects(res, vcpu_cpus))
		violation("a reserved sibling runs a vCPU");
	if (req->emulator == NK_PIN_EMULATOR_ISOLATE) {
		struct nk_pin_vcpu v0;
		nk_pin_plan_vcpu(plan, 0, &v0);
		if (nk_bitmap_weight(emu) != 1 || intersects(emu, vcpu_cpus))
			violation("isolated emulator: not one CPU of its own");
		else if (!req->allow_spill &&
			 true_node(tr, (unsigned)nk_bitmap_next(emu, 0)) != v0.host_node)
			violation("isolated emulator on node %d, vCPU 0 on node %d",
				  true_node(tr, (unsigned)nk_bitmap_next(emu, 0)), v0.host_node);
	} else if (!subset(vcpu_cpus, emu) || !subset(emu, vcpu_cpus)) {
		violation("shared emulator: not over the vCPUs' CPUs");
	}

	/* Locality, and spills in nearness order once the nearer are full. */
	for (size_t g = 0, first = 0; g < n_gn; first += gns[g].vcpus, g++) {
		nk_bitmap *own = NULL, *used = nk_bitmap_new();
		const nk_bitmap *primary = primary_nodes(tr, gns[g].memory_node, &own);
		for (unsigned i = (unsigned)first; i < first + gns[g].vcpus; i++) {
			struct nk_pin_vcpu v;
			nk_pin_plan_vcpu(plan, i, &v);
			nk_bitmap_set(used, (unsigned)v.host_node);
		}
		bool on_primary = !primary || intersects(used, primary);
		unsigned primary_cap = 0;
		if (primary)
			nk_bitmap_foreach (pn, primary) {
				primary_cap += capacity(h, pn, req, all);
			}
		/* Off its node only by spilling, from a node full now (earlier
		 * guest nodes may have filled it). */
		if (!on_primary && (!req->allow_spill || primary_cap > 0))
			violation("guest node %zu (memory on %d): no vCPU on its nearest node", g,
				  gns[g].memory_node);
		if (!req->allow_spill && nk_bitmap_weight(used) != 1)
			violation("guest node %zu spread over %u nodes without --spill", g,
				  nk_bitmap_weight(used));
		/* Shared vCPUs spill whole: the nodes nearer than theirs are
		 * full. */
		if (req->allow_spill && !dedicated && !on_primary && gns[g].memory_node >= 0) {
			int mem = topo_node_index(t, gns[g].memory_node);
			int ni = topo_node_index(t, nk_bitmap_next(used, 0));
			for (int mn = 0; mn < MAX_NODES; mn++) {
				int mi = topo_node_index(t, mn);
				if (tr->node_cpus[mn] && mi != ni &&
				    topo_compare_near(t, (unsigned)mem, (unsigned)mi, (unsigned)ni,
						      NULL) < 0 &&
				    capacity(h, mn, req, all) > 0)
					violation(
					    "guest node %zu's shared vCPUs spilled to node %d "
					    "while nearer node %d has room",
					    g, nk_bitmap_next(used, 0), mn);
			}
		}
		if (req->allow_spill && dedicated && nk_bitmap_weight(used) > 1 &&
		    gns[g].memory_node >= 0) {
			/* Every node nearer to the memory than a spilled-to node
			 * is full now. */
			int mem = topo_node_index(t, gns[g].memory_node);
			nk_bitmap_foreach (n, used) {
				int ni = topo_node_index(t, n);
				nk_bitmap_foreach (m, tr->usable) {
					int mn = true_node(tr, (unsigned)m);
					int mi = topo_node_index(t, mn);
					if (mn == n ||
					    (primary && nk_bitmap_test(primary, (unsigned)n)))
						continue;
					if (topo_compare_near(t, (unsigned)mem, (unsigned)mi,
							      (unsigned)ni, NULL) < 0 &&
					    capacity(h, mn, req, all) > 0) {
						violation("guest node %zu spilled to node %d while "
							  "nearer node %d has room",
							  g, n, mn);
						break;
					}
				}
			}
		}
		nk_bitmap_free(own);
		nk_bitmap_free(used);
	}
	nk_bitmap_free(all);
	nk_bitmap_free(vcpu_cpus);
}

/*
 * Whether a plan exists, counting free CPUs: 1 yes, 0 no, -1 cannot tell
 * (several guest nodes left to the planner, or a memory-only node whose
 * nearest node nothing decides).
 */
static int plan_exists(const struct host *h, const struct nk_pin_request *req,
		       const struct nk_pin_guest_node *gns, size_t n_gn)
{
	unsigned need[MAX_NODES] = {0}, emu_need[MAX_NODES] = {0};
	unsigned emu = req->emulator == NK_PIN_EMULATOR_ISOLATE;
	bool shared = req->policy == NK_PIN_SHARED;
	bool pairs = !shared && req->smt == NK_PIN_SMT_REQUIRE;
	unsigned any_need = 0, total_need = 0, total_cap = 0, total_pus = 0;
	struct nk_pin_request pus = *req;

	/* SMT require's vCPUs need sibling PUs, its emulator any PU. */
	pus.smt = NK_PIN_SMT_PREFER;
	for (int n = 0; n < MAX_NODES; n++) {
		total_cap += capacity(h, n, req, NULL);
		total_pus += capacity(h, n, &pus, NULL);
	}
	for (size_t g = 0; g < n_gn; g++) {
		nk_bitmap *own = NULL;
		const nk_bitmap *primary = primary_nodes(h->tr, gns[g].memory_node, &own);
		/* Shared vCPUs need one CPU to float over; dedicated ones one
		 * unit each. */
		unsigned n = shared ? 1 : gns[g].vcpus;
		total_need += n;
		if (!primary) {
			any_need += n;
		} else if (nk_bitmap_weight(primary) == 1) {
			need[nk_bitmap_next(primary, 0)] += n;
			if (g == 0)
				emu_need[nk_bitmap_next(primary, 0)] = emu;
		} else {
			nk_bitmap_free(own);
			return -1;
		}
		nk_bitmap_free(own);
	}
	if (req->allow_spill)
		return pairs ? total_cap >= total_need && total_pus >= total_need + emu
			     : total_cap >= total_need + emu;
	if (any_need && n_gn > 1)
		return -1;
	if (any_need) {
		for (int n = 0; n < MAX_NODES; n++)
			if (pairs ? capacity(h, n, req, NULL) >= any_need &&
					capacity(h, n, &pus, NULL) >= any_need + emu
				  : capacity(h, n, req, NULL) >= any_need + emu)
				return 1;
		return 0;
	}
	for (int n = 0; n < MAX_NODES; n++) {
		if (!need[n])
			continue;
		if (pairs ? capacity(h, n, req, NULL) < need[n] ||
				capacity(h, n, &pus, NULL) < need[n] + emu_need[n]
			  : capacity(h, n, req, NULL) < need[n] + emu_need[n])
			return 0;
	}
	return 1;
}

static void one_request(const struct host *h, const nk_pin_state *state,
			const struct nk_pin_request *req, const struct nk_pin_guest_node *gns,
			size_t n_gn)
{
	nk_pin_plan *plan = NULL, *again = NULL;
	nk_error *err = NULL;
	char *hk = NULL;
	int len;

	if (req->housekeeping)
		nk_bitmap_format(req->housekeeping, &hk);
	len = snprintf(request, sizeof(request),
		       "%u vCPUs, %u per core, %s, SMT %s, emulator %s%s, housekeeping %s, %u "
		       "other VMs, memory on",
		       req->vcpus, req->threads_per_core, nk_pin_policy_name(req->policy),
		       nk_pin_smt_name(req->smt), nk_pin_emulator_name(req->emulator),
		       req->allow_spill ? ", spill" : "", hk ? hk : "none",
		       nk_pin_state_count(state));
	for (size_t g = 0; g < n_gn && len > 0 && (size_t)len < sizeof(request); g++)
		len += snprintf(request + len, sizeof(request) - (size_t)len, " %d",
				gns[g].memory_node);
	free(hk);
	int r = nk_pin_plan_compute(h->topo, req, state, &plan, &err);

	if (r == -ENOSPC) {
		total.refusals++;
		int exists = plan_exists(h, req, gns, n_gn);
		total.refusals_unjudged += exists < 0;
		if (exists == 1)
			violation("refused though the free CPUs hold a plan: %s",
				  nk_error_message(err));
		nk_error_free(err);
		return;
	}
	if (r == -EINVAL) { /* a request this topology cannot mean (SMT require...) */
		total.invalid++;
		nk_error_free(err);
		return;
	}
	if (r < 0) {
		violation("unexpected error %d: %s", r, nk_error_message(err));
		nk_error_free(err);
		return;
	}
	total.plans++;
	shown = plan;
	if (plan_exists(h, req, gns, n_gn) == 0)
		violation("planned though counting says no plan exists");
	check_plan(h, req, gns, n_gn, plan);
	if (nk_pin_plan_compute(h->topo, req, state, &again, NULL) < 0) {
		violation("planning again failed");
	} else {
		char *a = pin_plan_text(plan), *b = pin_plan_text(again);
		if (strcmp(a, b) != 0)
			violation("not the same plan twice");
		free(a);
		free(b);
	}
	shown = NULL;
	nk_pin_plan_free(again);
	nk_pin_plan_free(plan);
}

/* ---- the grid ---------------------------------------------------------- */

/* The host before this VM: empty, one dedicated VM, or one shared VM,
 * each of 2 vCPUs placed by the planner. */
static nk_pin_state *prior_state(const nk_topo *t, int kind, nk_bitmap *busy, bool dedicated)
{
	nk_pin_state *st = NULL;
	nk_pin_plan *p = NULL;
	struct nk_pin_request req = {.vcpus = 2,
				     .policy = kind == 2 ? NK_PIN_SHARED : NK_PIN_DEDICATED};
	assert_int_equal(nk_pin_state_new(&st), 0);
	if (kind == 0 || nk_pin_plan_compute(t, &req, NULL, &p, NULL) < 0)
		return st;
	assert_int_equal(nk_pin_state_add(st, NULL, p, 1, "prior", NULL), 0);
	nk_bitmap_foreach (c, nk_pin_plan_dedicated_cpus(p)) {
		nk_bitmap_set(busy, (unsigned)c);
	}
	if (dedicated)
		nk_bitmap_foreach (c, nk_pin_plan_shared_cpus(p)) {
			nk_bitmap_set(busy, (unsigned)c);
		}
	nk_pin_plan_free(p);
	return st;
}

static void check_topology(const char *name, const nk_topo *t, const struct truth *tr)
{
	static const unsigned vcpu_counts[] = {1, 2, 3, 4, 6, 8, 12};
	int ids[MAX_NODES], n_ids = 0, cpu_nodes[MAX_NODES], n_cpu_nodes = 0, memonly = -1;

	current = name;
	/* The topology itself: usable CPUs and each one's node. */
	if (!nk_bitmap_equal(nk_topo_cpus(t), tr->usable))
		violation("usable CPUs differ from the truth");
	nk_bitmap_foreach (c, nk_topo_all_cpus(t)) {
		int want =
		    nk_bitmap_test(tr->usable, (unsigned)c) ? true_node(tr, (unsigned)c) : -1;
		int got = nk_topo_cpu_node(t, (unsigned)c);
		if (want >= 0 && got != want)
			violation("CPU %d: node %d, the kernel says %d", c, got, want);
	}
	for (unsigned i = 0; i < nk_topo_node_count(t) && n_ids < MAX_NODES; i++) {
		struct nk_topo_node n;
		nk_topo_node(t, i, &n);
		if (!n.allowed) {
			/* A node outside cpuset.mems is refused, never planned on. */
			struct nk_pin_guest_node gn = {.vcpus = 1, .memory_node = n.id};
			struct nk_pin_request req = {
			    .vcpus = 1, .guest_nodes = &gn, .n_guest_nodes = 1};
			nk_pin_plan *p = NULL;
			if (nk_pin_plan_compute(t, &req, NULL, &p, NULL) != -EACCES)
				violation("node %d is not allowed, yet not refused", n.id);
			nk_pin_plan_free(p);
			continue;
		}
		ids[n_ids++] = n.id;
		if (tr->node_cpus[n.id])
			cpu_nodes[n_cpu_nodes++] = n.id;
		else if (memonly < 0 && n.memory_only)
			memonly = n.id;
	}

	/* --nodes: none, each allowed node, two CPU nodes, a memory-only node
	 * with a CPU node. */
	struct {
		int nodes[2];
		size_t n;
	} subsets[MAX_NODES + 3];
	size_t n_subsets = 0;
	subsets[n_subsets++].n = 0;
	for (int i = 0; i < n_ids; i++)
		subsets[n_subsets++] = (typeof(subsets[0])){{ids[i]}, 1};
	if (n_cpu_nodes >= 2)
		subsets[n_subsets++] = (typeof(subsets[0])){{cpu_nodes[0], cpu_nodes[1]}, 2};
	if (memonly >= 0 && n_cpu_nodes >= 1)
		subsets[n_subsets++] =
		    (typeof(subsets[0])){{memonly, cpu_nodes[n_cpu_nodes - 1]}, 2};

	int first_cpu = nk_bitmap_next(tr->usable, 0), last_cpu = nk_bitmap_last(tr->usable);
	for (int prior = 0; prior < 3; prior++)
		for (int hk = 0; hk < 3; hk++)
			for (int combo = 0; combo < 2 * 3 * 2 * 2; combo++) {
				enum nk_pin_policy policy = (enum nk_pin_policy)(combo % 2);
				enum nk_pin_smt smt = (enum nk_pin_smt)(combo / 2 % 3);
				if (policy == NK_PIN_SHARED && smt != NK_PIN_SMT_PREFER)
					continue; /* a usage error, refused before planning */
				nk_bitmap *busy = nk_bitmap_new(), *housekeeping = NULL;
				if (hk == 1)
					housekeeping = list("0");
				else if (hk == 2) {
					housekeeping = nk_bitmap_new();
					nk_bitmap_set(housekeeping, (unsigned)first_cpu);
					nk_bitmap_set(housekeeping, (unsigned)last_cpu);
				}
				if (housekeeping)
					nk_bitmap_foreach (c, housekeeping) {
						nk_bitmap_set(busy, (unsigned)c);
					}
				nk_pin_state *st =
				    prior_state(t, prior, busy, policy == NK_PIN_DEDICATED);
				struct host h = {.topo = t, .tr = tr, .busy = busy};
				for (size_t vi = 0; vi < sizeof(vcpu_counts) / sizeof(*vcpu_counts);
				     vi++)
					for (unsigned threads = 1; threads <= 2; threads++)
						for (size_t si = 0; si < n_subsets; si++) {
							unsigned v = vcpu_counts[vi];
							struct nk_pin_guest_node gns[2];
							size_t k = subsets[si].n;
							if (v % threads || (k && v / threads < k))
								continue;
							for (size_t g = 0; g < k; g++)
								gns[g] = (struct nk_pin_guest_node){
								    .vcpus =
									(v / threads / k +
									 (g < v / threads % k)) *
									threads,
								    .memory_node =
									subsets[si].nodes[g]};
							struct nk_pin_guest_node one = {
							    .vcpus = v, .memory_node = -1};
							struct nk_pin_request req = {
							    .vcpus = v,
							    .threads_per_core = threads,
							    .guest_nodes = k ? gns : NULL,
							    .n_guest_nodes = k,
							    .policy = policy,
							    .smt = smt,
							    .emulator = (enum nk_pin_emulator)(
								combo / 6 % 2),
							    .housekeeping = housekeeping,
							    .allow_spill = combo / 12 % 2,
							};
							one_request(&h, st, &req, k ? gns : &one,
								    k ? k : 1);
						}
				nk_pin_state_free(st);
				nk_bitmap_free(busy);
				nk_bitmap_free(housekeeping);
			}
}

static void test_corpus(void **state)
{
	struct dirent **names = NULL;
	char path[1024];
	unsigned topologies = 0;
	int n = scandir(TOPOLOGY_DIR, &names, NULL, alphasort);

	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		size_t len = strlen(name);
		struct truth tr;
		nk_topo *t = NULL;
		nk_error *err = NULL;

		if (len > 4 && strcmp(name + len - 4, ".xml") == 0) {
			snprintf(path, sizeof(path), "%s/%s", TOPOLOGY_DIR, name);
			if (nk_topo_load_xml(path, &t, &err) < 0)
				fail_msg("%s: %s", path, nk_error_message(err));
			snprintf(path, sizeof(path), "%s/%.*s.truth", TOPOLOGY_DIR, (int)len - 4,
				 name);
			truth_read(path, &tr);
			check_topology(name, t, &tr);
			truth_free(&tr);
			nk_topo_free(t);
			topologies++;
		}
		free(names[i]);
	}
	free(names);

	/* Captured trees, through hwloc's fsroot. */
	n = scandir(TOPOLOGY_DIR "/trees", &names, NULL, alphasort);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		struct truth tr;
		nk_host *host = NULL;
		nk_topo *t = NULL;
		nk_error *err = NULL;

		snprintf(path, sizeof(path), "%s/trees/%s/sys", TOPOLOGY_DIR, name);
		if (name[0] == '.' || access(path, F_OK) < 0) {
			free(names[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/trees/%s", TOPOLOGY_DIR, name);
		if (nk_host_open(path, &host, &err) < 0 || nk_topo_load_live(host, &t, &err) < 0)
			fail_msg("%s: %s", path, nk_error_message(err));
		snprintf(path, sizeof(path), "%s/trees/%s.truth", TOPOLOGY_DIR, name);
		truth_read(path, &tr);
		snprintf(path, sizeof(path), "trees/%s", name);
		check_topology(path, t, &tr);
		truth_free(&tr);
		nk_topo_free(t);
		nk_host_free(host);
		topologies++;
		free(names[i]);
	}
	free(names);

	for (size_t k = 0; k < 64 && kinds[k].fmt; k++)
		fprintf(stderr, "%lu violations of: %s\n", kinds[k].count, kinds[k].fmt);
	printf("%lu plans checked on %u topologies (%lu refusals, %lu of them not judged: several "
	       "guest nodes left to the planner or an undecided nearest node; %lu requests the "
	       "topology cannot mean): %lu violations\n",
	       total.plans, topologies, total.refusals, total.refusals_unjudged, total.invalid,
	       total.violations);
	assert_true(topologies >= 15);
	assert_true(total.plans > 10000);
	assert_int_equal(total.violations, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
