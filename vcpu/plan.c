/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The planner: one VM at a time, around the VMs already placed.
 *
 * Each PU is free or busy for a reason (disallowed, housekeeping, another
 * VM's, this plan's).  A guest NUMA node's vCPUs go on the host node that
 * holds its memory, in whole guest cores; with allow_spill the rest goes to
 * the next nodes by distance.  Within a node, choices are best fit in
 * topology order, which packs cores and keeps the plan deterministic.
 */
#include "vcpu-internal.h"

#include <stdarg.h>

enum pu_state {
	PU_FREE = 0,
	PU_DISALLOWED,
	PU_HOUSEKEEPING,
	PU_DEDICATED, /* held by another VM */
	PU_SHARED,    /* another VM's shared vCPUs float here */
	PU_TAKEN,     /* given by this plan */
};

struct planner {
	const nk_topo *topo;
	const struct nk_pin_request *req;
	unsigned threads; /* guest threads per core */
	unsigned char *pu_state;
	unsigned *free_in_core;
	bool *node_used;   /* host nodes chosen by earlier guest nodes */
	bool *shared_here; /* nodes other shared VMs float over */
	int primary0;	   /* guest node 0's node once chosen, else -1 */
	unsigned *order;   /* scratch: node indexes in preference order */
	nk_pin_plan *plan;
	nk_error **err;
};

static const char *const policy_names[] = {"dedicated", "shared"};
static const char *const smt_names[] = {"prefer", "isolate", "require"};
static const char *const emulator_names[] = {"share", "isolate"};

_nk_export_ const char *nk_pin_policy_name(enum nk_pin_policy policy)
{
	return (unsigned)policy < ARRAY_SIZE(policy_names) ? policy_names[policy] : "?";
}

_nk_export_ const char *nk_pin_smt_name(enum nk_pin_smt smt)
{
	return (unsigned)smt < ARRAY_SIZE(smt_names) ? smt_names[smt] : "?";
}

_nk_export_ const char *nk_pin_emulator_name(enum nk_pin_emulator emulator)
{
	return (unsigned)emulator < ARRAY_SIZE(emulator_names) ? emulator_names[emulator] : "?";
}

_nk_export_ nk_pin_plan *nk_pin_plan_free(nk_pin_plan *plan)
{
	if (!plan)
		return NULL;
	for (unsigned i = 0; i < plan->n_vcpus; i++)
		nk_bitmap_free(plan->vcpus[i].cpus);
	free(plan->vcpus);
	nk_bitmap_free(plan->emulator_cpus);
	nk_bitmap_free(plan->reserved);
	nk_bitmap_free(plan->dedicated);
	nk_bitmap_free(plan->shared);
	nk_strv_free(plan->notes);
	free(plan);
	return NULL;
}

static void plan_freep(nk_pin_plan **p)
{
	nk_pin_plan_free(*p);
}

static int __attribute__((format(printf, 2, 3))) add_note(struct planner *p, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	int r = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (r < 0 || nk_strv_push(&p->plan->notes, &p->plan->n_notes, text) < 0)
		return -ENOMEM;
	return 0;
}

static unsigned distance(const struct planner *p, unsigned a, unsigned b)
{
	return p->topo->distance[a * p->topo->n_nodes + b];
}

static void take(struct planner *p, unsigned pu)
{
	if (p->pu_state[pu] == PU_FREE)
		p->free_in_core[p->topo->pus[pu].core]--;
	p->pu_state[pu] = PU_TAKEN;
}

static bool core_whole_free(const struct planner *p, unsigned c)
{
	return p->free_in_core[c] == p->topo->cores[c].n_pus;
}

/* How many of this guest's vCPUs node `ni` can still take. */
static unsigned node_capacity(const struct planner *p, unsigned ni)
{
	const struct topo_node *node = &p->topo->nodes[ni];
	unsigned cap = 0;

	for (unsigned k = 0; k < node->n_cores; k++) {
		unsigned c = node->cores[k], f = p->free_in_core[c];
		if (p->req->policy == NK_PIN_SHARED)
			cap += f;
		else if (p->req->smt == NK_PIN_SMT_ISOLATE)
			cap += core_whole_free(p, c) ? 1 : 0;
		else if (p->req->smt == NK_PIN_SMT_REQUIRE)
			cap += f / p->threads * p->threads;
		else
			cap += f;
	}
	return cap;
}

static bool node_usable(const struct planner *p, unsigned ni)
{
	/* A node whose CPUs are all outside cpuset.cpus hosts no vCPU: its
	 * memory's vCPUs go to the nearest node with CPUs we may use. */
	return p->topo->nodes[ni].allowed && p->topo->nodes[ni].n_usable_pus > 0;
}

/* Fill p->order with the usable nodes, nearest to `from` first (ties in
 * node order), `first` leading; return the count. */
static unsigned order_nodes(struct planner *p, unsigned from, int first)
{
	unsigned n = 0;

	if (first >= 0)
		p->order[n++] = (unsigned)first;
	for (unsigned i = 0; i < p->topo->n_nodes; i++)
		if (node_usable(p, i) && (int)i != first)
			p->order[n++] = i;
	/* Insertion sort keeps equal distances in node order: deterministic. */
	for (unsigned i = first >= 0 ? 2 : 1; i < n; i++) {
		unsigned v = p->order[i], j = i;
		while (j > (first >= 0 ? 1u : 0u) &&
		       topo_compare_near(p->topo, from, p->order[j - 1], v, NULL) > 0) {
			p->order[j] = p->order[j - 1];
			j--;
		}
		p->order[j] = v;
	}
	return n;
}

/* A readable account of what is free, for refusals. */
static char *describe_free(const struct planner *p)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	for (unsigned i = 0, first = 1; i < p->topo->n_nodes; i++) {
		const struct topo_node *node = &p->topo->nodes[i];
		unsigned free_pus = 0, whole = 0;
		if (!node->has_cpus)
			continue;
		for (unsigned k = 0; k < node->n_cores; k++) {
			free_pus += p->free_in_core[node->cores[k]];
			whole += core_whole_free(p, node->cores[k]);
		}
		fprintf(f, "%snode %d: %s%u free CPU%s (%u whole core%s)", first ? "" : "; ",
			node->id, node->allowed ? "" : "not allowed, ", free_pus,
			free_pus == 1 ? "" : "s", whole, whole == 1 ? "" : "s");
		first = 0;
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static int refuse(struct planner *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(struct planner *p, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL, *avail = NULL;
	va_list ap;

	va_start(ap, fmt);
	int r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return nk_error_set(p->err, ENOMEM, "out of memory");
	avail = describe_free(p);
	nk_error_set(p->err, ENOSPC, "%s; free now: %s", msg, avail ? avail : "?");
	return nk_error_hint(p->err, "try --spill, --smt prefer, --policy shared, other --nodes or "
				     "fewer vCPUs, or unpin VMs that are gone");
}

/* Core of node `ni` with the fewest free PUs, at least `min_free`; -1 if none. */
static int best_fit_core(const struct planner *p, unsigned ni, unsigned min_free)
{
	const struct topo_node *node = &p->topo->nodes[ni];
	int best = -1;

	for (unsigned k = 0; k < node->n_cores; k++) {
		unsigned c = node->cores[k], f = p->free_in_core[c];
		if (f >= min_free && (best < 0 || f < p->free_in_core[best])) {
			best = (int)c;
			if (f == min_free)
				break;
		}
	}
	return best;
}

static int first_whole_core(const struct planner *p, unsigned ni)
{
	const struct topo_node *node = &p->topo->nodes[ni];
	for (unsigned k = 0; k < node->n_cores; k++)
		if (core_whole_free(p, node->cores[k]))
			return (int)node->cores[k];
	return -1;
}

static int first_free_pu(const struct planner *p, unsigned c)
{
	const struct topo_core *core = &p->topo->cores[c];
	for (unsigned i = 0; i < core->n_pus; i++)
		if (p->pu_state[core->first_pu + i] == PU_FREE)
			return (int)(core->first_pu + i);
	return -1;
}

static int give_vcpu(struct planner *p, unsigned v, unsigned pu)
{
	struct plan_vcpu *pv = &p->plan->vcpus[v];
	unsigned cpu = p->topo->pus[pu].cpu;

	take(p, pu);
	pv->host_node = p->topo->nodes[p->topo->pus[pu].node].id;
	if (nk_bitmap_set(pv->cpus, cpu) < 0 || nk_bitmap_set(p->plan->dedicated, cpu) < 0)
		return -ENOMEM;
	return 0;
}

/* Take a whole core: the first PU for `v` (or the emulator when v < 0),
 * the siblings reserved so that nothing else runs beside it. */
static int give_whole_core(struct planner *p, int v, unsigned c)
{
	const struct topo_core *core = &p->topo->cores[c];
	for (unsigned i = 0; i < core->n_pus; i++) {
		unsigned pu = core->first_pu + i, cpu = p->topo->pus[pu].cpu;
		int r;
		if (i == 0 && v >= 0) {
			r = give_vcpu(p, (unsigned)v, pu);
		} else {
			take(p, pu);
			r = nk_bitmap_set(p->plan->dedicated, cpu);
			if (r >= 0)
				r = nk_bitmap_set(
				    i == 0 ? p->plan->emulator_cpus : p->plan->reserved, cpu);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* Place guest core `first`..`first + threads - 1` on the nodes in
 * p->order[0..n_order).  Capacity was checked: this cannot run out. */
static int place_guest_core(struct planner *p, unsigned first, unsigned n_order)
{
	unsigned t = p->threads, placed = 0;
	int r;

	for (unsigned o = 0; o < n_order && placed < t; o++) {
		unsigned ni = p->order[o];
		int c;
		switch (p->req->smt) {
		case NK_PIN_SMT_ISOLATE:
			while (placed < t && (c = first_whole_core(p, ni)) >= 0) {
				r = give_whole_core(p, (int)(first + placed), (unsigned)c);
				if (r < 0)
					return r;
				placed++;
			}
			break;
		case NK_PIN_SMT_REQUIRE:
		case NK_PIN_SMT_PREFER:
			/* The whole guest core on one host core if any has room. */
			c = best_fit_core(p, ni, t);
			if (c < 0 && p->req->smt == NK_PIN_SMT_REQUIRE)
				break;
			if (c < 0)
				c = best_fit_core(p, ni, 1);
			while (c >= 0 && placed < t) {
				int pu = first_free_pu(p, (unsigned)c);
				if (pu < 0) {
					c = best_fit_core(p, ni, 1);
					continue;
				}
				r = give_vcpu(p, first + placed, (unsigned)pu);
				if (r < 0)
					return r;
				placed++;
			}
			break;
		}
	}
	return placed == t ? 0 : -ENOSPC;
}

/* Where a guest node's vCPUs go when its memory node has no CPUs they may
 * use, and why: for the plan's notes. */
struct nearest {
	enum topo_near_source source;
	int runner_up;	   /* the next nearest node (index), or -1 */
	unsigned tied;	   /* nodes equally near by every source */
	char tied_ids[64]; /* their numbers, for the note */
};

/*
 * Usable node index for the vCPUs of memory on node index `mem`: the memory
 * node itself, else the nearest node with allowed CPUs.  Nodes no source
 * tells apart are not chosen by number: the one with the most room wins.
 */
static int cpu_node_for_memory(struct planner *p, unsigned mem, struct nearest *why)
{
	*why = (struct nearest){.runner_up = -1};
	if (node_usable(p, mem))
		return (int)mem;
	unsigned n = order_nodes(p, mem, -1), best = 0, tied = 1;
	if (n == 0)
		return -1;
	while (tied < n && topo_compare_near(p->topo, mem, p->order[0], p->order[tied], NULL) == 0)
		tied++;
	for (unsigned i = 1; i < tied; i++)
		if (node_capacity(p, p->order[i]) > node_capacity(p, p->order[best]))
			best = i;
	why->tied = tied;
	for (unsigned i = 0, len = 0; tied > 1 && i < tied && len < sizeof(why->tied_ids); i++)
		len += (unsigned)snprintf(why->tied_ids + len, sizeof(why->tied_ids) - len, "%s%d",
					  i ? "," : "", p->topo->nodes[p->order[i]].id);
	if (tied < n) {
		why->runner_up = (int)p->order[tied];
		topo_compare_near(p->topo, mem, p->order[0], p->order[tied], &why->source);
	}
	return (int)p->order[best];
}

static int note_nearest(struct planner *p, unsigned g, unsigned mem, unsigned primary,
			const struct nearest *why)
{
	const struct topo_node *m = &p->topo->nodes[mem];
	const char *what = m->has_cpus ? "no CPUs this process may use" : "no CPUs";
	int id = p->topo->nodes[primary].id;

	if (why->tied > 1)
		return add_note(p,
				"guest node %u: memory node %d has %s; nodes equally near it by "
				"every source (distance, hwloc's locality, sysfs): %s; its vCPUs "
				"go to node %d, which has the most room",
				g, m->id, what, why->tied_ids, id);
	if (why->runner_up < 0)
		return add_note(p,
				"guest node %u: memory node %d has %s; its vCPUs go to node %d, "
				"the only node with CPUs this process may use",
				g, m->id, what, id);
	if (why->source == TOPO_NEAR_DISTANCE)
		return add_note(p,
				"guest node %u: memory node %d has %s; its vCPUs go to node %d, "
				"the nearest by the distance matrix (%u; node %d: %u)",
				g, m->id, what, id, distance(p, mem, primary),
				p->topo->nodes[why->runner_up].id,
				distance(p, mem, (unsigned)why->runner_up));
	return add_note(p,
			"guest node %u: memory node %d has %s; its vCPUs go to node %d, the "
			"nearest by %s",
			g, m->id, what, id, topo_near_source_name(p->topo, why->source));
}

/*
 * Whether node `ni` holds `vcpus` dedicated vCPUs and `extra` isolated
 * emulator CPUs.  Under SMT require the vCPUs need sibling PUs but the
 * emulator any PU, so a node of whole pairs and one odd PU fits.
 */
static bool node_fits(const struct planner *p, unsigned ni, unsigned vcpus, unsigned extra)
{
	if (p->req->smt != NK_PIN_SMT_REQUIRE || !extra)
		return node_capacity(p, ni) >= vcpus + extra;
	unsigned free_pus = 0;
	for (unsigned k = 0; k < p->topo->nodes[ni].n_cores; k++)
		free_pus += p->free_in_core[p->topo->nodes[ni].cores[k]];
	return node_capacity(p, ni) >= vcpus && free_pus >= vcpus + extra;
}

/* The node for a guest node whose memory node is free to choose: the
 * tightest fit (packing, as OpenStack and Kubernetes do by default), nodes
 * unused by this VM's other guest nodes first. */
static int choose_node(struct planner *p, unsigned vcpus, unsigned extra)
{
	int best = -1, most = -1;
	unsigned best_cap = 0, most_cap = 0;

	for (int pass = 0; pass < 2 && best < 0; pass++) {
		for (unsigned i = 0; i < p->topo->n_nodes; i++) {
			if (!node_usable(p, i) || (pass == 0 && p->node_used[i]))
				continue;
			unsigned cap = node_capacity(p, i);
			if (node_fits(p, i, vcpus, extra) && (best < 0 || cap < best_cap)) {
				best = (int)i;
				best_cap = cap;
			}
			if (cap > 0 && (most < 0 || cap > most_cap)) {
				most = (int)i;
				most_cap = cap;
			}
		}
	}
	return best >= 0 ? best : most;
}

/*
 * For shared vCPUs.  They float over every free CPU of their node, which
 * dedicated VMs then cannot have: a shared VM blocks the rest of its node.
 * So they are packed: onto a node other shared VMs float over already
 * (blocked anyway), else the node with the fewest free CPUs that still
 * gives each vCPU one, else the node with the most.  `extra` is an
 * isolated emulator CPU taken from the same node, which must leave at
 * least one CPU to float over.  Nodes this VM's other guest nodes use come
 * last, as for dedicated vCPUs.
 */
static int choose_node_shared(struct planner *p, unsigned vcpus, unsigned extra)
{
	int best = -1;
	unsigned best_key[4] = {0};

	for (unsigned i = 0; i < p->topo->n_nodes; i++) {
		unsigned cap = node_usable(p, i) ? node_capacity(p, i) : 0;
		if (cap == 0)
			continue;
		unsigned tier = cap < 1 + extra	      ? 3
				: cap < vcpus + extra ? 2
				: p->shared_here[i]   ? 0
						      : 1;
		/* Smaller is better, in this order: room for an emulator and a
		 * vCPU; a node not used yet; the tier; the fit. */
		unsigned key[4] = {tier == 3, p->node_used[i], tier,
				   tier < 2 ? cap : UINT_MAX - cap};
		unsigned k = 0;
		while (k < 4 && key[k] == best_key[k])
			k++;
		if (best < 0 || (k < 4 && key[k] < best_key[k])) {
			best = (int)i;
			memcpy(best_key, key, sizeof(key));
		}
	}
	return best;
}

/* Order the nodes for guest node `g`: its primary node first, then (with
 * spilling) the rest by distance from its memory.  Returns the count. */
static int guest_node_order(struct planner *p, unsigned g, const struct nk_pin_guest_node *gn,
			    bool quiet, unsigned *ret_n)
{
	int mem = gn->memory_node >= 0 ? topo_node_index(p->topo, gn->memory_node) : -1;
	/* Guest node 0's node also holds an isolated emulator CPU. */
	unsigned extra = g == 0 && p->req->emulator == NK_PIN_EMULATOR_ISOLATE ? 1 : 0;
	struct nearest why = {.runner_up = -1};
	int primary;

	if (g == 0 && p->primary0 >= 0) {
		/* Chosen once: the isolated emulator of a shared VM was placed
		 * on it, and its vCPUs must follow. */
		primary = p->primary0;
	} else if (mem >= 0) {
		primary = cpu_node_for_memory(p, (unsigned)mem, &why);
		if (primary < 0)
			return refuse(p, "guest node %u: no allowed node has CPUs", g);
	} else {
		primary = p->req->policy == NK_PIN_SHARED ? choose_node_shared(p, gn->vcpus, extra)
							  : choose_node(p, gn->vcpus, extra);
		if (primary < 0)
			return refuse(
			    p,
			    "guest node %u (%u %s vCPU%s) does not fit: no allowed node has "
			    "a free CPU",
			    g, gn->vcpus, nk_pin_policy_name(p->req->policy),
			    gn->vcpus == 1 ? "" : "s");
	}
	if (mem >= 0 && primary != mem && !quiet) {
		if (g == 0 && p->primary0 >= 0)
			cpu_node_for_memory(p, (unsigned)mem, &why); /* for the note */
		int r = note_nearest(p, g, (unsigned)mem, (unsigned)primary, &why);
		if (r < 0)
			return r;
	}
	if (g == 0)
		p->primary0 = primary;
	if (p->req->allow_spill) {
		*ret_n = order_nodes(p, mem >= 0 ? (unsigned)mem : (unsigned)primary, primary);
	} else {
		p->order[0] = (unsigned)primary;
		*ret_n = 1;
	}
	return 0;
}

static int note_spill(struct planner *p, unsigned g, unsigned first, unsigned n, unsigned primary)
{
	_cleanup_bitmap_ nk_bitmap *to = nk_bitmap_new();
	_cleanup_free_ char *list = NULL;
	unsigned spilled = 0;

	if (!to)
		return -ENOMEM;
	for (unsigned v = first; v < first + n; v++) {
		int node = p->plan->vcpus[v].host_node;
		if (node != p->topo->nodes[primary].id) {
			spilled++;
			if (nk_bitmap_set(to, (unsigned)node) < 0)
				return -ENOMEM;
		}
	}
	if (!spilled)
		return 0;
	if (nk_bitmap_format(to, &list) < 0)
		return -ENOMEM;
	return add_note(p, "guest node %u: %u of %u vCPUs spilled from node %d to node %s", g,
			spilled, n, p->topo->nodes[primary].id, list);
}

static int place_dedicated(struct planner *p, unsigned g, const struct nk_pin_guest_node *gn,
			   unsigned first)
{
	unsigned n_order = 0, cap = 0;
	int r = guest_node_order(p, g, gn, false, &n_order);
	if (r < 0)
		return r;
	for (unsigned o = 0; o < n_order; o++)
		cap += node_capacity(p, p->order[o]);
	if (cap < gn->vcpus) {
		const char *smt = p->req->smt == NK_PIN_SMT_ISOLATE   ? ", SMT isolate"
				  : p->req->smt == NK_PIN_SMT_REQUIRE ? ", SMT require"
								      : "";
		const char *s = gn->vcpus == 1 ? "" : "s";
		if (n_order == 1)
			return refuse(p,
				      "guest node %u (%u dedicated vCPU%s%s) does not fit on host "
				      "node %d, which has room for %u",
				      g, gn->vcpus, s, smt, p->topo->nodes[p->order[0]].id, cap);
		return refuse(p,
			      "guest node %u (%u dedicated vCPU%s%s) does not fit on the allowed "
			      "nodes, which have room for %u",
			      g, gn->vcpus, s, smt, cap);
	}
	unsigned primary = p->order[0];
	p->node_used[primary] = true;
	for (unsigned v = first; v < first + gn->vcpus; v += p->threads) {
		r = place_guest_core(p, v, n_order);
		if (r == -ENOSPC) /* capacity said otherwise: a bug, but refuse cleanly */
			return refuse(p, "cannot place vCPU %u", v);
		if (r < 0)
			return r;
	}
	return note_spill(p, g, first, gn->vcpus, primary);
}

/* The emulator's own CPU: on the first guest node's nodes, a whole core
 * under SMT isolate, else the tightest spot. */
static int place_emulator(struct planner *p, const struct nk_pin_guest_node *gn0)
{
	unsigned n_order = 0;
	int r;

	if (p->req->policy == NK_PIN_DEDICATED) {
		/* Placed after the vCPUs: beside vCPU 0. */
		int home = topo_node_index(p->topo, p->plan->vcpus[0].host_node);
		if (p->req->allow_spill) {
			n_order = order_nodes(p, (unsigned)home, home);
		} else {
			p->order[0] = (unsigned)home;
			n_order = 1;
		}
	} else {
		r = guest_node_order(p, 0, gn0, true, &n_order);
		if (r < 0)
			return r;
	}
	for (unsigned o = 0; o < n_order; o++) {
		unsigned ni = p->order[o];
		if (p->req->smt == NK_PIN_SMT_ISOLATE) {
			int c = first_whole_core(p, ni);
			if (c >= 0)
				return give_whole_core(p, -1, (unsigned)c);
			continue;
		}
		int c = best_fit_core(p, ni, 1);
		if (c < 0)
			continue;
		unsigned pu = (unsigned)first_free_pu(p, (unsigned)c), cpu = p->topo->pus[pu].cpu;
		take(p, pu);
		if (nk_bitmap_set(p->plan->emulator_cpus, cpu) < 0 ||
		    nk_bitmap_set(p->plan->dedicated, cpu) < 0)
			return -ENOMEM;
		return 0;
	}
	return refuse(p, "no CPU left for the isolated emulator threads on node %d%s",
		      p->topo->nodes[p->order[0]].id, p->req->allow_spill ? " or beyond" : "");
}

static int place_shared(struct planner *p, unsigned g, const struct nk_pin_guest_node *gn,
			unsigned first)
{
	unsigned n_order = 0;
	int r = guest_node_order(p, g, gn, false, &n_order), chosen = -1;
	if (r < 0)
		return r;
	for (unsigned o = 0; o < n_order && chosen < 0; o++)
		if (node_capacity(p, p->order[o]) > 0)
			chosen = (int)p->order[o];
	if (chosen < 0)
		return refuse(p,
			      "guest node %u (%u shared vCPU%s) does not fit: host node %d has "
			      "no CPU left",
			      g, gn->vcpus, gn->vcpus == 1 ? "" : "s",
			      p->topo->nodes[p->order[0]].id);
	p->node_used[chosen] = true;
	if ((unsigned)chosen != p->order[0]) {
		r = add_note(
		    p, "guest node %u: its %u shared vCPUs spilled from node %d to node %d", g,
		    gn->vcpus, p->topo->nodes[p->order[0]].id, p->topo->nodes[chosen].id);
		if (r < 0)
			return r;
	}
	_cleanup_bitmap_ nk_bitmap *set = nk_bitmap_new();
	if (!set)
		return -ENOMEM;
	const struct topo_node *node = &p->topo->nodes[chosen];
	for (unsigned k = 0; k < node->n_cores; k++) {
		const struct topo_core *c = &p->topo->cores[node->cores[k]];
		for (unsigned i = 0; i < c->n_pus; i++)
			if (p->pu_state[c->first_pu + i] == PU_FREE &&
			    (nk_bitmap_set(set, p->topo->pus[c->first_pu + i].cpu) < 0 ||
			     nk_bitmap_set(p->plan->shared, p->topo->pus[c->first_pu + i].cpu) < 0))
				return -ENOMEM;
	}
	/* The cost of floating: say it, since the user may want the node
	 * for dedicated VMs later. */
	_cleanup_free_ char *list = NULL;
	if (nk_bitmap_format(set, &list) < 0)
		return -ENOMEM;
	r = add_note(p,
		     "guest node %u: its shared vCPUs float over the %u free CPUs of node %d "
		     "(%s), which dedicated VMs cannot have while this VM is pinned%s",
		     g, nk_bitmap_weight(set), node->id, list,
		     p->shared_here[chosen] ? "; other shared VMs float there already" : "");
	if (r < 0)
		return r;
	for (unsigned v = first; v < first + gn->vcpus; v++) {
		nk_bitmap_free(p->plan->vcpus[v].cpus);
		p->plan->vcpus[v].cpus = nk_bitmap_dup(set);
		if (!p->plan->vcpus[v].cpus)
			return -ENOMEM;
		p->plan->vcpus[v].host_node = node->id;
	}
	return 0;
}

static int validate(struct planner *p, const struct nk_pin_guest_node *gns, size_t n_gn)
{
	const struct nk_pin_request *req = p->req;
	const nk_topo *t = p->topo;
	unsigned sum = 0;

	if (req->vcpus == 0 || req->vcpus > 65536)
		return nk_error_set(p->err, EINVAL, "invalid vCPU count %u: expected 1 to 65536",
				    req->vcpus);
	if (p->threads > 64)
		return nk_error_set(p->err, EINVAL,
				    "invalid guest threads per core %u: expected 1 to 64",
				    p->threads);
	if ((unsigned)req->policy >= ARRAY_SIZE(policy_names) ||
	    (unsigned)req->smt >= ARRAY_SIZE(smt_names) ||
	    (unsigned)req->emulator >= ARRAY_SIZE(emulator_names))
		return nk_error_set(p->err, EINVAL, "invalid policy value in the request");
	if (req->vcpus % p->threads)
		return nk_error_set(p->err, EINVAL,
				    "%u vCPUs is not a multiple of %u threads per core", req->vcpus,
				    p->threads);
	if (req->policy == NK_PIN_SHARED && req->smt != NK_PIN_SMT_PREFER)
		return nk_error_set(p->err, EINVAL,
				    "SMT policy '%s' needs dedicated vCPUs: shared vCPUs float "
				    "over whole nodes",
				    smt_names[req->smt]);
	for (size_t g = 0; g < n_gn; g++) {
		if (gns[g].vcpus == 0 || gns[g].vcpus % p->threads)
			return nk_error_set(p->err, EINVAL,
					    "guest node %zu has %u vCPUs: expected a positive "
					    "multiple of %u threads per core",
					    g, gns[g].vcpus, p->threads);
		sum += gns[g].vcpus;
		if (gns[g].memory_node < 0)
			continue;
		int ni = topo_node_index(t, gns[g].memory_node);
		if (ni < 0)
			return nk_error_set(p->err, EINVAL,
					    "host node %d does not exist in topology %s (it has %u "
					    "node%s, %d to %d)",
					    gns[g].memory_node, t->source, t->n_nodes,
					    t->n_nodes == 1 ? "" : "s", t->nodes[0].id,
					    t->nodes[t->n_nodes - 1].id);
		if (!t->nodes[ni].allowed) {
			nk_error_set(p->err, EACCES,
				     "host node %d is outside the nodes this process is allowed "
				     "(cgroup cpuset.mems)",
				     gns[g].memory_node);
			return nk_error_hint(p->err, "choose an allowed node or widen the cpuset");
		}
	}
	if (sum != req->vcpus)
		return nk_error_set(p->err, EINVAL,
				    "the guest nodes hold %u vCPUs but the VM has %u", sum,
				    req->vcpus);
	if (req->housekeeping)
		nk_bitmap_foreach (cpu, req->housekeeping) {
			if (!nk_bitmap_test(t->all_cpus, (unsigned)cpu))
				return nk_error_set(p->err, EINVAL,
						    "housekeeping CPU %d is not in topology %s",
						    cpu, t->source);
		}
	if (req->smt == NK_PIN_SMT_REQUIRE && t->threads_per_core < 2) {
		nk_error_set(p->err, ENOSPC,
			     "SMT require cannot be met: the host has no SMT (1 thread per core)");
		return nk_error_hint(p->err, "use --smt prefer or isolate on this host");
	}
	if (req->smt == NK_PIN_SMT_REQUIRE && p->threads > t->threads_per_core)
		return nk_error_set(p->err, ENOSPC,
				    "SMT require cannot be met: the guest has %u threads per core, "
				    "host cores have at most %u",
				    p->threads, t->threads_per_core);
	return 0;
}

static void mark_state(struct planner *p, const nk_pin_state *state)
{
	for (unsigned e = 0; state && e < state->n_entries; e++) {
		nk_bitmap_foreach (cpu, state->entries[e].dedicated) {
			int pi = topo_pu_index(p->topo, (unsigned)cpu);
			if (pi >= 0 && p->pu_state[pi] == PU_FREE)
				p->pu_state[pi] = PU_DEDICATED;
		}
		nk_bitmap_foreach (cpu, state->entries[e].shared) {
			int pi = topo_pu_index(p->topo, (unsigned)cpu);
			if (pi < 0 || p->topo->pus[pi].node == TOPO_NO_NODE)
				continue;
			p->shared_here[p->topo->pus[pi].node] = true;
			/* Dedicated vCPUs keep off them; shared ones may float
			 * over them too. */
			if (p->req->policy == NK_PIN_DEDICATED && p->pu_state[pi] == PU_FREE)
				p->pu_state[pi] = PU_SHARED;
		}
	}
}

static int planner_init(struct planner *p, const nk_pin_state *state)
{
	const nk_topo *t = p->topo;
	nk_pin_plan *plan = calloc(1, sizeof(*plan));

	p->plan = plan;
	p->pu_state = calloc(t->n_pus, 1);
	p->free_in_core = calloc(t->n_cores, sizeof(unsigned));
	p->node_used = calloc(t->n_nodes, sizeof(bool));
	p->shared_here = calloc(t->n_nodes, sizeof(bool));
	p->order = calloc(t->n_nodes, sizeof(unsigned));
	if (!plan || !p->pu_state || !p->free_in_core || !p->node_used || !p->shared_here ||
	    !p->order)
		return -ENOMEM;
	plan->policy = p->req->policy;
	plan->smt = p->req->smt;
	plan->emulator = p->req->emulator;
	plan->n_vcpus = p->req->vcpus;
	plan->vcpus = calloc(plan->n_vcpus, sizeof(*plan->vcpus));
	plan->emulator_cpus = nk_bitmap_new();
	plan->reserved = nk_bitmap_new();
	plan->dedicated = nk_bitmap_new();
	plan->shared = nk_bitmap_new();
	plan->notes = calloc(1, sizeof(char *));
	if (!plan->vcpus || !plan->emulator_cpus || !plan->reserved || !plan->dedicated ||
	    !plan->shared || !plan->notes)
		return -ENOMEM;
	for (unsigned v = 0; v < plan->n_vcpus; v++)
		if (!(plan->vcpus[v].cpus = nk_bitmap_new()))
			return -ENOMEM;

	for (unsigned i = 0; i < t->n_pus; i++) {
		if (!t->pus[i].allowed)
			p->pu_state[i] = PU_DISALLOWED;
		else if (p->req->housekeeping &&
			 nk_bitmap_test(p->req->housekeeping, t->pus[i].cpu))
			p->pu_state[i] = PU_HOUSEKEEPING;
	}
	mark_state(p, state);
	for (unsigned i = 0; i < t->n_pus; i++)
		if (p->pu_state[i] == PU_FREE)
			p->free_in_core[t->pus[i].core]++;
	return 0;
}

static void planner_release(struct planner *p)
{
	free(p->pu_state);
	free(p->free_in_core);
	free(p->node_used);
	free(p->shared_here);
	free(p->order);
}

static int plan_vcpus(struct planner *p, const struct nk_pin_guest_node *gns, size_t n_gn)
{
	int r;
	unsigned first = 0;

	/* A shared VM's isolated emulator CPU must not be in its own float set. */
	if (p->req->policy == NK_PIN_SHARED && p->req->emulator == NK_PIN_EMULATOR_ISOLATE) {
		r = place_emulator(p, &gns[0]);
		if (r < 0)
			return r;
	}
	for (size_t g = 0; g < n_gn; g++) {
		for (unsigned v = first; v < first + gns[g].vcpus; v++) {
			p->plan->vcpus[v].guest_node = (unsigned)g;
			p->plan->vcpus[v].memory_node = gns[g].memory_node;
		}
		r = p->req->policy == NK_PIN_SHARED
			? place_shared(p, (unsigned)g, &gns[g], first)
			: place_dedicated(p, (unsigned)g, &gns[g], first);
		if (r < 0)
			return r;
		first += gns[g].vcpus;
	}
	if (p->req->policy == NK_PIN_DEDICATED && p->req->emulator == NK_PIN_EMULATOR_ISOLATE) {
		r = place_emulator(p, &gns[0]);
		if (r < 0)
			return r;
	}
	if (p->req->emulator == NK_PIN_EMULATOR_SHARE)
		for (unsigned v = 0; v < p->plan->n_vcpus; v++)
			nk_bitmap_foreach (cpu, p->plan->vcpus[v].cpus) {
				if (nk_bitmap_set(p->plan->emulator_cpus, (unsigned)cpu) < 0)
					return -ENOMEM;
			}
	return 0;
}

_nk_export_ int nk_pin_plan_compute(const nk_topo *topo, const struct nk_pin_request *req,
				    const nk_pin_state *state, nk_pin_plan **ret, nk_error **err)
{
	struct planner p = {
	    .topo = topo,
	    .req = req,
	    .primary0 = -1,
	    .threads = req->threads_per_core ? req->threads_per_core : 1,
	    .err = err,
	};
	struct nk_pin_guest_node one = {.vcpus = req->vcpus, .memory_node = -1};
	const struct nk_pin_guest_node *gns = req->guest_nodes ? req->guest_nodes : &one;
	size_t n_gn = req->guest_nodes ? req->n_guest_nodes : 1;
	int r;

	if (n_gn == 0)
		return nk_error_set(err, EINVAL, "a VM needs at least one guest node");
	r = validate(&p, gns, n_gn);
	if (r < 0)
		return r;
	r = planner_init(&p, state);
	_cleanup_(plan_freep) nk_pin_plan *plan = p.plan;
	if (r >= 0)
		r = plan_vcpus(&p, gns, n_gn);
	planner_release(&p);
	if (r == -ENOMEM)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (r < 0)
		return r;
	*ret = TAKE_PTR(plan);
	return 0;
}

_nk_export_ enum nk_pin_policy nk_pin_plan_policy(const nk_pin_plan *plan)
{
	return plan->policy;
}

_nk_export_ enum nk_pin_smt nk_pin_plan_smt(const nk_pin_plan *plan)
{
	return plan->smt;
}

_nk_export_ enum nk_pin_emulator nk_pin_plan_emulator(const nk_pin_plan *plan)
{
	return plan->emulator;
}

_nk_export_ unsigned nk_pin_plan_vcpu_count(const nk_pin_plan *plan)
{
	return plan->n_vcpus;
}

_nk_export_ int nk_pin_plan_vcpu(const nk_pin_plan *plan, unsigned vcpu, struct nk_pin_vcpu *ret)
{
	if (vcpu >= plan->n_vcpus)
		return -ERANGE;
	const struct plan_vcpu *v = &plan->vcpus[vcpu];
	*ret = (struct nk_pin_vcpu){
	    .guest_node = v->guest_node,
	    .memory_node = v->memory_node,
	    .host_node = v->host_node,
	    .cpus = v->cpus,
	};
	return 0;
}

_nk_export_ const nk_bitmap *nk_pin_plan_emulator_cpus(const nk_pin_plan *plan)
{
	return plan->emulator_cpus;
}

_nk_export_ const nk_bitmap *nk_pin_plan_reserved_cpus(const nk_pin_plan *plan)
{
	return plan->reserved;
}

_nk_export_ const nk_bitmap *nk_pin_plan_dedicated_cpus(const nk_pin_plan *plan)
{
	return plan->dedicated;
}

_nk_export_ const nk_bitmap *nk_pin_plan_shared_cpus(const nk_pin_plan *plan)
{
	return plan->shared;
}

_nk_export_ char *const *nk_pin_plan_notes(const nk_pin_plan *plan)
{
	return plan->notes;
}
