/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host topology, read with hwloc (live, XML or synthetic) and flattened
 * into arrays the planner can walk quickly: PUs grouped by core, cores by
 * NUMA node, a node distance matrix.  hwloc is loaded with
 * INCLUDE_DISALLOWED so that a CPU outside our cgroup cpuset can be named
 * in a refusal instead of looking like a CPU that does not exist.
 */
#include "vcpu-internal.h"

#include <hwloc.h>

static void hwloc_topology_destroyp(hwloc_topology_t *t)
{
	if (*t)
		hwloc_topology_destroy(*t);
}

static void topo_freep(nk_topo **t)
{
	nk_topo_free(*t);
}

_nk_export_ nk_topo *nk_topo_free(nk_topo *topo)
{
	if (!topo)
		return NULL;
	for (unsigned i = 0; i < topo->n_nodes; i++) {
		nk_bitmap_free(topo->nodes[i].cpus);
		free(topo->nodes[i].cores);
	}
	free(topo->nodes);
	free(topo->cores);
	free(topo->pus);
	free(topo->distance);
	free(topo->pu_index);
	nk_bitmap_free(topo->allowed_cpus);
	nk_bitmap_free(topo->all_cpus);
	free(topo->source);
	free(topo);
	return NULL;
}

int topo_node_index(const nk_topo *topo, int id)
{
	for (unsigned i = 0; i < topo->n_nodes; i++)
		if (topo->nodes[i].id == id)
			return (int)i;
	return -1;
}

static int bitmap_from_hwloc(hwloc_const_bitmap_t set, nk_bitmap **ret)
{
	nk_bitmap *b = nk_bitmap_new();
	unsigned i;

	if (!b)
		return -ENOMEM;
	hwloc_bitmap_foreach_begin(i, set)
	{
		if (nk_bitmap_set(b, i) < 0) {
			nk_bitmap_free(b);
			return -ENOMEM;
		}
	}
	hwloc_bitmap_foreach_end();
	*ret = b;
	return 0;
}

/*
 * The node a PU belongs to: the NUMA node attached closest above it.  A
 * memory-only node (CXL, HBM) is attached higher up or beside a node with
 * CPUs, so among several at the same place the lowest number wins, as the
 * kernel numbers nodes with CPUs first.  The live host overrides this with
 * the kernel's own cpulists.
 */
static hwloc_obj_t pu_local_node(hwloc_obj_t pu)
{
	for (hwloc_obj_t anc = pu; anc; anc = anc->parent) {
		hwloc_obj_t best = NULL;
		for (hwloc_obj_t m = anc->memory_first_child; m; m = m->next_sibling) {
			hwloc_obj_t n = m;
			/* Memory-side caches sit between a parent and its node. */
			while (n && n->type != HWLOC_OBJ_NUMANODE)
				n = n->memory_first_child;
			if (n && (!best || n->os_index < best->os_index))
				best = n;
		}
		if (best)
			return best;
	}
	return NULL;
}

static int node_cmp(const void *a, const void *b)
{
	hwloc_obj_t x = *(const hwloc_obj_t *)a, y = *(const hwloc_obj_t *)b;
	return x->os_index < y->os_index ? -1 : x->os_index > y->os_index;
}

static int read_nodes(hwloc_topology_t hw, nk_topo *t)
{
	hwloc_const_nodeset_t allowed = hwloc_topology_get_allowed_nodeset(hw);
	int n = hwloc_get_nbobjs_by_type(hw, HWLOC_OBJ_NUMANODE);
	if (n <= 0)
		return -EINVAL;

	_cleanup_free_ hwloc_obj_t *objs = calloc((size_t)n, sizeof(*objs));
	t->nodes = calloc((size_t)n, sizeof(*t->nodes));
	if (!objs || !t->nodes)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		objs[i] = hwloc_get_obj_by_type(hw, HWLOC_OBJ_NUMANODE, (unsigned)i);
	qsort(objs, (size_t)n, sizeof(*objs), node_cmp);
	t->n_nodes = (unsigned)n;
	for (int i = 0; i < n; i++) {
		struct topo_node *node = &t->nodes[i];
		node->id = (int)objs[i]->os_index;
		node->allowed = hwloc_bitmap_isset(allowed, objs[i]->os_index);
		node->memory_bytes = objs[i]->attr->numanode.local_memory;
		node->cpus = nk_bitmap_new();
		if (!node->cpus)
			return -ENOMEM;
	}
	return 0;
}

static int read_pus(hwloc_topology_t hw, nk_topo *t)
{
	hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(hw);
	int n = hwloc_get_nbobjs_by_type(hw, HWLOC_OBJ_PU);
	hwloc_obj_t prev_core = NULL;
	unsigned max_cpu = 0;

	if (n <= 0)
		return -EINVAL;
	t->pus = calloc((size_t)n, sizeof(*t->pus));
	t->cores = calloc((size_t)n, sizeof(*t->cores));
	if (!t->pus || !t->cores)
		return -ENOMEM;
	/* Logical order is depth-first, so the PUs of a core come together. */
	for (hwloc_obj_t pu = hwloc_get_next_obj_by_type(hw, HWLOC_OBJ_PU, NULL); pu;
	     pu = hwloc_get_next_obj_by_type(hw, HWLOC_OBJ_PU, pu)) {
		hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(hw, HWLOC_OBJ_CORE, pu);
		hwloc_obj_t node = pu_local_node(pu);
		struct topo_pu *p = &t->pus[t->n_pus];

		if (!core || core != prev_core) {
			struct topo_core *c = &t->cores[t->n_cores++];
			c->first_pu = t->n_pus;
			prev_core = core;
		}
		p->cpu = pu->os_index;
		p->core = t->n_cores - 1;
		p->allowed = hwloc_bitmap_isset(allowed, pu->os_index);
		int ni = node ? topo_node_index(t, (int)node->os_index) : 0;
		p->node = ni >= 0 ? (unsigned)ni : 0;
		t->cores[p->core].n_pus++;
		if (p->cpu > max_cpu)
			max_cpu = p->cpu;
		t->n_pus++;
	}

	t->n_pu_index = max_cpu + 1;
	t->pu_index = malloc(t->n_pu_index * sizeof(int));
	if (!t->pu_index)
		return -ENOMEM;
	for (unsigned i = 0; i < t->n_pu_index; i++)
		t->pu_index[i] = -1;
	for (unsigned i = 0; i < t->n_pus; i++)
		t->pu_index[t->pus[i].cpu] = (int)i;
	return 0;
}

/* On the live host the kernel says which node each CPU belongs to. */
static void apply_kernel_cpulists(nk_host *host, nk_topo *t)
{
	for (unsigned i = 0; i < t->n_nodes; i++) {
		_cleanup_free_ char *path = NULL, *text = NULL;
		_cleanup_bitmap_ nk_bitmap *cpus = NULL;

		if (asprintf(&path, "/sys/devices/system/node/node%d/cpulist", t->nodes[i].id) < 0)
			return;
		if (nk_host_read(host, path, &text, NULL) < 0 ||
		    nk_parse_list(text, "CPU list", &cpus, NULL) < 0) {
			nk_debug("%s unreadable: keeping hwloc's node of each CPU", path);
			continue;
		}
		nk_bitmap_foreach (cpu, cpus) {
			int pi = topo_pu_index(t, (unsigned)cpu);
			if (pi >= 0)
				t->pus[pi].node = i;
		}
	}
}

static int index_nodes(nk_topo *t)
{
	for (unsigned c = 0; c < t->n_cores; c++) {
		struct topo_core *core = &t->cores[c];
		core->node = t->pus[core->first_pu].node;
		t->nodes[core->node].n_cores++;
	}
	for (unsigned i = 0; i < t->n_nodes; i++) {
		struct topo_node *node = &t->nodes[i];
		node->cores = calloc(node->n_cores ? node->n_cores : 1, sizeof(unsigned));
		if (!node->cores)
			return -ENOMEM;
		node->has_cpus = node->n_cores > 0;
		node->n_cores = 0;
	}
	for (unsigned c = 0; c < t->n_cores; c++) {
		struct topo_node *node = &t->nodes[t->cores[c].node];
		node->cores[node->n_cores++] = c;
		if (t->cores[c].n_pus > t->threads_per_core)
			t->threads_per_core = t->cores[c].n_pus;
	}
	for (unsigned p = 0; p < t->n_pus; p++) {
		if (nk_bitmap_set(t->nodes[t->pus[p].node].cpus, t->pus[p].cpu) < 0)
			return -ENOMEM;
		if (t->pus[p].allowed && nk_bitmap_set(t->allowed_cpus, t->pus[p].cpu) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Latency distances from the OS (or an XML file); without them 10 within
 * a node, 20 within a package, 30 across. */
static int read_distances(hwloc_topology_t hw, nk_topo *t)
{
	unsigned n = t->n_nodes, nr = 1;
	struct hwloc_distances_s *d = NULL;

	t->distance = calloc((size_t)n * n, sizeof(unsigned));
	if (!t->distance)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		hwloc_obj_t a = hwloc_get_numanode_obj_by_os_index(hw, (unsigned)t->nodes[i].id);
		hwloc_obj_t pa = hwloc_get_ancestor_obj_by_type(hw, HWLOC_OBJ_PACKAGE, a);
		for (unsigned j = 0; j < n; j++) {
			hwloc_obj_t b =
			    hwloc_get_numanode_obj_by_os_index(hw, (unsigned)t->nodes[j].id);
			hwloc_obj_t pb = hwloc_get_ancestor_obj_by_type(hw, HWLOC_OBJ_PACKAGE, b);
			t->distance[i * n + j] = i == j ? 10 : (pa && pa == pb) ? 20 : 30;
		}
	}
	if (hwloc_distances_get_by_type(hw, HWLOC_OBJ_NUMANODE, &nr, &d,
					HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0) < 0 ||
	    nr == 0)
		return 0;
	for (unsigned i = 0; i < d->nbobjs; i++) {
		int a = topo_node_index(t, (int)d->objs[i]->os_index);
		for (unsigned j = 0; j < d->nbobjs && a >= 0; j++) {
			int b = topo_node_index(t, (int)d->objs[j]->os_index);
			uint64_t v = d->values[i * d->nbobjs + j];
			if (b >= 0 && v > 0 && v < 1000000)
				t->distance[(unsigned)a * n + (unsigned)b] = (unsigned)v;
		}
	}
	hwloc_distances_release(hw, d);
	return 0;
}

static int topo_from_hwloc(hwloc_topology_t hw, const char *source, nk_host *live_host,
			   nk_topo **ret, nk_error **err)
{
	_cleanup_(topo_freep) nk_topo *t = calloc(1, sizeof(*t));
	int r;

	if (!t || !(t->source = strdup(source)) || !(t->allowed_cpus = nk_bitmap_new()))
		return nk_error_set(err, ENOMEM, "out of memory");
	t->live = live_host != NULL;
	r = read_nodes(hw, t);
	if (r >= 0)
		r = read_pus(hw, t);
	if (r >= 0 && live_host)
		apply_kernel_cpulists(live_host, t);
	if (r >= 0)
		r = index_nodes(t);
	if (r >= 0)
		r = read_distances(hw, t);
	if (r >= 0)
		r = bitmap_from_hwloc(hwloc_topology_get_complete_cpuset(hw), &t->all_cpus);
	if (r == -EINVAL)
		return nk_error_set(err, EINVAL, "topology %s has no PUs or no NUMA nodes", source);
	if (r < 0)
		return nk_error_set(err, -r, "cannot read topology %s: %s", source, strerror(-r));
	if (nk_bitmap_weight(t->allowed_cpus) == 0)
		return nk_error_set(err, EINVAL, "topology %s allows this process no CPU", source);
	*ret = TAKE_PTR(t);
	return 0;
}

static int hwloc_start(hwloc_topology_t *ret, nk_error **err)
{
	hwloc_topology_t hw = NULL;
	if (hwloc_topology_init(&hw) < 0)
		return nk_error_set(err, errno ? errno : ENOMEM, "cannot initialise hwloc: %s",
				    strerror(errno ? errno : ENOMEM));
	/* Keep disallowed CPUs and nodes, marked, to name them in refusals. */
	hwloc_topology_set_flags(hw, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
	*ret = hw;
	return 0;
}

_nk_export_ int nk_topo_load_live(nk_host *host, nk_topo **ret, nk_error **err)
{
	_cleanup_(hwloc_topology_destroyp) hwloc_topology_t hw = NULL;
	int r = nk_host_require_live(host, "read the host topology with hwloc", err);
	if (r < 0)
		return nk_error_hint(err, "hwloc reads the running system; give a topology "
					  "exported with 'lstopo --of xml FILE.xml' instead");
	r = hwloc_start(&hw, err);
	if (r < 0)
		return r;
	if (hwloc_topology_load(hw) < 0) {
		int e = errno ? errno : EINVAL;
		return nk_error_set(err, e, "hwloc cannot read this host's topology: %s",
				    strerror(e));
	}
	/* HWLOC_XMLFILE or HWLOC_SYNTHETIC in the environment replace the
	 * live topology without telling: treat it as not this system. */
	if (!hwloc_topology_is_thissystem(hw)) {
		nk_warn("hwloc loaded a topology that is not this system (HWLOC_XMLFILE or "
			"HWLOC_SYNTHETIC set?): binding will be refused");
		return topo_from_hwloc(hw, "hwloc environment", NULL, ret, err);
	}
	return topo_from_hwloc(hw, "live", host, ret, err);
}

_nk_export_ int nk_topo_load_xml(const char *path, nk_topo **ret, nk_error **err)
{
	_cleanup_(hwloc_topology_destroyp) hwloc_topology_t hw = NULL;
	_cleanup_free_ char *source = NULL;
	int r;

	if (access(path, R_OK) < 0) {
		int e = errno;
		nk_error_set(err, e == ENOENT ? ENOENT : e, "cannot read topology file '%s': %s",
			     path, strerror(e));
		return nk_error_hint(err, "export one with 'lstopo --of xml FILE.xml'");
	}
	r = hwloc_start(&hw, err);
	if (r < 0)
		return r;
	if (hwloc_topology_set_xml(hw, path) < 0 || hwloc_topology_load(hw) < 0) {
		nk_error_set(err, EINVAL,
			     "hwloc cannot read topology file '%s': not an hwloc XML "
			     "topology, or a malformed one",
			     path);
		return nk_error_hint(err, "export one with 'lstopo --of xml FILE.xml'");
	}
	if (asprintf(&source, "xml:%s", path) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	return topo_from_hwloc(hw, source, NULL, ret, err);
}

_nk_export_ int nk_topo_load_synthetic(const char *description, nk_topo **ret, nk_error **err)
{
	_cleanup_(hwloc_topology_destroyp) hwloc_topology_t hw = NULL;
	_cleanup_free_ char *source = NULL;
	int r = hwloc_start(&hw, err);

	if (r < 0)
		return r;
	if (!description || hwloc_topology_set_synthetic(hw, description) < 0 ||
	    hwloc_topology_load(hw) < 0) {
		nk_error_set(err, EINVAL, "invalid synthetic topology '%s'",
			     description ? description : "");
		return nk_error_hint(err, "expected an hwloc description such as "
					  "'pack:2 numa:2 core:8 pu:2'");
	}
	if (asprintf(&source, "synthetic:%s", description) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	return topo_from_hwloc(hw, source, NULL, ret, err);
}

bool topo_same_shape(const nk_topo *a, const nk_topo *b)
{
	if (a->n_pus != b->n_pus || a->n_cores != b->n_cores || a->n_nodes != b->n_nodes)
		return false;
	for (unsigned i = 0; i < a->n_nodes; i++)
		if (a->nodes[i].id != b->nodes[i].id || a->nodes[i].allowed != b->nodes[i].allowed)
			return false;
	for (unsigned i = 0; i < a->n_pus; i++) {
		const struct topo_pu *x = &a->pus[i];
		int j = topo_pu_index(b, x->cpu);
		if (j < 0)
			return false;
		const struct topo_pu *y = &b->pus[j];
		/* Same core: the cores' first CPUs agree. */
		if (x->allowed != y->allowed || x->node != y->node ||
		    a->pus[a->cores[x->core].first_pu].cpu !=
			b->pus[b->cores[y->core].first_pu].cpu)
			return false;
	}
	return true;
}

_nk_export_ const char *nk_topo_source(const nk_topo *topo)
{
	return topo->source;
}

_nk_export_ const nk_bitmap *nk_topo_cpus(const nk_topo *topo)
{
	return topo->allowed_cpus;
}

_nk_export_ const nk_bitmap *nk_topo_all_cpus(const nk_topo *topo)
{
	return topo->all_cpus;
}

_nk_export_ unsigned nk_topo_threads_per_core(const nk_topo *topo)
{
	return topo->threads_per_core;
}

_nk_export_ unsigned nk_topo_node_count(const nk_topo *topo)
{
	return topo->n_nodes;
}

_nk_export_ int nk_topo_node(const nk_topo *topo, unsigned index, struct nk_topo_node *ret)
{
	if (index >= topo->n_nodes)
		return -ERANGE;
	const struct topo_node *n = &topo->nodes[index];
	*ret = (struct nk_topo_node){
	    .id = n->id,
	    .allowed = n->allowed,
	    .memory_only = !n->has_cpus,
	    .memory_bytes = n->memory_bytes,
	    .cpus = n->cpus,
	};
	return 0;
}

_nk_export_ int nk_topo_cpu_node(const nk_topo *topo, unsigned cpu)
{
	int pi = topo_pu_index(topo, cpu);
	return pi < 0 ? -ENOENT : topo->nodes[topo->pus[pi].node].id;
}

_nk_export_ int nk_topo_cpu_siblings(const nk_topo *topo, unsigned cpu, nk_bitmap **ret)
{
	int pi = topo_pu_index(topo, cpu);
	if (pi < 0)
		return -ENOENT;
	const struct topo_core *c = &topo->cores[topo->pus[pi].core];
	_cleanup_bitmap_ nk_bitmap *b = nk_bitmap_new();
	if (!b)
		return -ENOMEM;
	for (unsigned i = 0; i < c->n_pus; i++)
		if (nk_bitmap_set(b, topo->pus[c->first_pu + i].cpu) < 0)
			return -ENOMEM;
	*ret = TAKE_PTR(b);
	return 0;
}

_nk_export_ int nk_topo_distance(const nk_topo *topo, int from_node, int to_node)
{
	int a = topo_node_index(topo, from_node), b = topo_node_index(topo, to_node);
	if (a < 0 || b < 0)
		return -ENOENT;
	return (int)topo->distance[(unsigned)a * topo->n_nodes + (unsigned)b];
}
