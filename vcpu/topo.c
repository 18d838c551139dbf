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
#include <inttypes.h>

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
	free(topo->memattr_near);
	free(topo->locality);
	free(topo->sysfs_near);
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

/* hwloc's subtypes of memory that is never a CPU's own (memory tiers). */
static bool memory_tier(hwloc_obj_t node)
{
	static const char *const tiers[] = {"MCDRAM", "HBM", "NVM", "SPM", "GPUMemory"};
	if (!node->subtype)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(tiers); i++)
		if (strcmp(node->subtype, tiers[i]) == 0)
			return true;
	return strncmp(node->subtype, "CXL", 3) == 0;
}

/*
 * The node a PU belongs to: of the nodes in the PU's nodeset, the one whose
 * cpuset holds the PU most tightly.  A memory-only node (CXL, HBM) has the
 * cpuset of the place it is attached, which is never tighter than the
 * PU's own node, and where it is as tight (KNL's MCDRAM beside DDR) hwloc
 * names its tier, or else the kernel numbers the CPU node first.  NULL when
 * no node of the topology holds the PU: its node is offline, or outside
 * the allowed nodes and left out of an export.  Such a PU is never planned
 * on, rather than guessed onto another node.
 */
static hwloc_obj_t pu_local_node(hwloc_topology_t hw, hwloc_obj_t pu)
{
	hwloc_obj_t best = NULL;
	unsigned id;

	hwloc_bitmap_foreach_begin(id, pu->nodeset)
	{
		hwloc_obj_t n = hwloc_get_numanode_obj_by_os_index(hw, id);
		if (!n || !n->cpuset || !hwloc_bitmap_isset(n->cpuset, pu->os_index))
			continue;
		if (!best) {
			best = n;
			continue;
		}
		int w = hwloc_bitmap_weight(n->cpuset), bw = hwloc_bitmap_weight(best->cpuset);
		if (w < bw || (w == bw && memory_tier(best) && !memory_tier(n)))
			best = n;
	}
	hwloc_bitmap_foreach_end();
	return best;
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
		hwloc_obj_t node = pu_local_node(hw, pu);
		struct topo_pu *p = &t->pus[t->n_pus];

		if (!core || core != prev_core) {
			struct topo_core *c = &t->cores[t->n_cores++];
			c->first_pu = t->n_pus;
			prev_core = core;
		}
		p->cpu = pu->os_index;
		p->core = t->n_cores - 1;
		p->allowed = hwloc_bitmap_isset(allowed, pu->os_index);
		int ni = node ? topo_node_index(t, (int)node->os_index) : -1;
		p->node = ni >= 0 ? (unsigned)ni : TOPO_NO_NODE;
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

/*
 * On the live host, and on a captured tree, the kernel says which node each
 * CPU belongs to: every nodeN directory's cpulist, offline nodes' too.  A
 * CPU the kernel puts on a node the topology lacks (offline, or left out)
 * has no usable node.  When every cpulist was read, a CPU in none has no
 * node either; else the unread ones keep hwloc's word.
 */
static int apply_kernel_cpulists(nk_host *host, nk_topo *t)
{
	_cleanup_strv_ char **names = NULL;
	_cleanup_free_ bool *listed = calloc(t->n_pus ? t->n_pus : 1, sizeof(bool));
	bool complete = true;
	int n = nk_host_list(host, "/sys/devices/system/node", "node", &names, NULL);

	if (!listed)
		return -ENOMEM;
	if (n <= 0) {
		nk_debug("no /sys/devices/system/node/nodeN: keeping hwloc's node of each CPU");
		return 0;
	}
	for (char **name = names; *name; name++) {
		_cleanup_free_ char *path = NULL, *text = NULL;
		_cleanup_bitmap_ nk_bitmap *cpus = NULL;
		long long id;

		if (nk_parse_int(*name + 4, 0, INT_MAX, &id, NULL) < 0)
			continue; /* not a node directory */
		if (asprintf(&path, "/sys/devices/system/node/%s/cpulist", *name) < 0)
			return -ENOMEM;
		if (nk_host_read(host, path, &text, NULL) < 0 ||
		    nk_parse_list(text, "CPU list", &cpus, NULL) < 0) {
			nk_debug("%s unreadable: keeping hwloc's node of its CPUs", path);
			complete = false;
			continue;
		}
		int ni = topo_node_index(t, (int)id);
		nk_bitmap_foreach (cpu, cpus) {
			int pi = topo_pu_index(t, (unsigned)cpu);
			if (pi < 0)
				continue;
			if ((ni < 0 ? TOPO_NO_NODE : (unsigned)ni) != t->pus[pi].node)
				nk_debug("CPU %d: the kernel puts it on node %lld%s", cpu, id,
					 ni < 0 ? ", which the topology lacks: unusable" : "");
			t->pus[pi].node = ni < 0 ? TOPO_NO_NODE : (unsigned)ni;
			listed[pi] = true;
		}
	}
	for (unsigned i = 0; complete && i < t->n_pus; i++)
		if (!listed[i])
			t->pus[i].node = TOPO_NO_NODE;
	return 0;
}

/*
 * Group cores by node.  A PU is usable when it is allowed, has a node and
 * that node is allowed: the allowed CPUs and nodes apply alike.  A core's
 * node is its first PU's with a node; a PU the kernel puts on another node
 * than its core is unusable (a broken topology: its core cannot be both).
 */
static int index_nodes(nk_topo *t)
{
	for (unsigned c = 0; c < t->n_cores; c++) {
		struct topo_core *core = &t->cores[c];
		core->node = TOPO_NO_NODE;
		for (unsigned i = 0; i < core->n_pus && core->node == TOPO_NO_NODE; i++)
			core->node = t->pus[core->first_pu + i].node;
		for (unsigned i = 0; i < core->n_pus; i++) {
			struct topo_pu *pu = &t->pus[core->first_pu + i];
			if (pu->node != core->node) {
				nk_debug("CPU %u: on another node than its core's: unusable",
					 pu->cpu);
				pu->node = TOPO_NO_NODE;
			}
			if (pu->node == TOPO_NO_NODE || !t->nodes[pu->node].allowed)
				pu->allowed = false;
		}
		if (core->node != TOPO_NO_NODE)
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
		if (t->cores[c].n_pus > t->threads_per_core)
			t->threads_per_core = t->cores[c].n_pus;
		if (t->cores[c].node == TOPO_NO_NODE)
			continue;
		struct topo_node *node = &t->nodes[t->cores[c].node];
		node->cores[node->n_cores++] = c;
	}
	for (unsigned p = 0; p < t->n_pus; p++) {
		if (t->pus[p].node != TOPO_NO_NODE &&
		    nk_bitmap_set(t->nodes[t->pus[p].node].cpus, t->pus[p].cpu) < 0)
			return -ENOMEM;
		if (!t->pus[p].allowed)
			continue;
		if (nk_bitmap_set(t->allowed_cpus, t->pus[p].cpu) < 0)
			return -ENOMEM;
		t->nodes[t->pus[p].node].n_usable_pus++;
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
	/* Broken firmware gives every remote node one distance (often 10,
	 * the local one): such a matrix tells no node from another. */
	uint64_t remote = 0;
	t->distances_flat = d->nbobjs > 1;
	for (unsigned i = 0; i < d->nbobjs; i++)
		for (unsigned j = 0; j < d->nbobjs; j++) {
			uint64_t v = d->values[i * d->nbobjs + j];
			if (i == j)
				continue;
			if (!remote)
				remote = v;
			if (v != remote)
				t->distances_flat = false;
		}
	t->distances_known = !t->distances_flat;
	if (t->distances_flat)
		nk_debug("topology %s: every node pair at distance %" PRIu64
			 ": distances tell no node from another",
			 t->source, remote);
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

/* Which nodes' CPUs are node `i`'s best initiator by latency (else
 * bandwidth), in hwloc's memory attributes (hwloc 2.3 and later). */
static void read_memattr_near(hwloc_topology_t hw, nk_topo *t, unsigned i, hwloc_obj_t node)
{
#if HWLOC_API_VERSION >= 0x00020300
	struct hwloc_location best;
	hwloc_uint64_t value;

	if (hwloc_memattr_get_best_initiator(hw, HWLOC_MEMATTR_ID_LATENCY, node, 0, &best, &value) <
		0 &&
	    hwloc_memattr_get_best_initiator(hw, HWLOC_MEMATTR_ID_BANDWIDTH, node, 0, &best,
					     &value) < 0)
		return;
	if (best.type != HWLOC_LOCATION_TYPE_CPUSET)
		return;
	for (unsigned j = 0; j < t->n_nodes; j++) {
		bool inside = nk_bitmap_weight(t->nodes[j].cpus) > 0;
		nk_bitmap_foreach (cpu, t->nodes[j].cpus) {
			if (!hwloc_bitmap_isset(best.location.cpuset, (unsigned)cpu))
				inside = false;
		}
		t->memattr_near[i * t->n_nodes + j] = inside;
	}
#else
	(void)hw, (void)t, (void)i, (void)node;
#endif
}

/*
 * hwloc's word on which CPUs each node is near, without distances: its
 * memory attributes (a memory-only node's best initiator, from the ACPI
 * HMAT) and its tree (a CXL or HBM node hangs from the package or cluster
 * whose CPUs it serves).
 */
static int read_locality(hwloc_topology_t hw, nk_topo *t)
{
	unsigned n = t->n_nodes;

	t->memattr_near = calloc((size_t)n * n, 1);
	t->locality = calloc((size_t)n * n, sizeof(unsigned));
	if (!t->memattr_near || !t->locality)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		hwloc_obj_t a = hwloc_get_numanode_obj_by_os_index(hw, (unsigned)t->nodes[i].id);

		if (!a)
			continue;
		for (unsigned j = 0; j < n; j++) {
			hwloc_obj_t b =
			    hwloc_get_numanode_obj_by_os_index(hw, (unsigned)t->nodes[j].id);
			hwloc_obj_t common =
			    b && a->parent && b->parent
				? hwloc_get_common_ancestor_obj(hw, a->parent, b->parent)
				: NULL;
			t->locality[i * n + j] = common ? (unsigned)common->depth + 1 : 0;
		}
		read_memattr_near(hw, t, i, a);
	}
	return 0;
}

/* The kernel's own word (sysfs, from the HMAT): nodeN/access0/initiators
 * names the nodes whose CPUs reach node N best. */
static int read_sysfs_initiators(nk_host *host, nk_topo *t)
{
	unsigned n = t->n_nodes;
	bool any = false;

	t->sysfs_near = calloc((size_t)n * n, 1);
	if (!t->sysfs_near)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		_cleanup_free_ char *dir = NULL;
		_cleanup_strv_ char **names = NULL;

		if (asprintf(&dir, "/sys/devices/system/node/node%d/access0/initiators",
			     t->nodes[i].id) < 0)
			return -ENOMEM;
		if (nk_host_list(host, dir, "node", &names, NULL) <= 0)
			continue;
		for (char **name = names; *name; name++) {
			long long id;
			int j;
			if (nk_parse_int(*name + 4, 0, INT_MAX, &id, NULL) < 0 ||
			    (j = topo_node_index(t, (int)id)) < 0)
				continue;
			t->sysfs_near[i * n + (unsigned)j] = 1;
			any = true;
		}
	}
	if (!any) {
		free(t->sysfs_near);
		t->sysfs_near = NULL;
	}
	return 0;
}

int topo_compare_near(const nk_topo *t, unsigned from, unsigned a, unsigned b,
		      enum topo_near_source *ret_source)
{
	unsigned n = t->n_nodes, fa = from * n + a, fb = from * n + b;
	enum topo_near_source source = TOPO_NEAR_NONE;
	int r = 0;

	if (t->distances_known && t->distance[fa] != t->distance[fb]) {
		source = TOPO_NEAR_DISTANCE;
		r = t->distance[fa] < t->distance[fb] ? -1 : 1;
	} else if (t->memattr_near[fa] != t->memattr_near[fb]) {
		source = TOPO_NEAR_MEMATTR;
		r = t->memattr_near[fa] > t->memattr_near[fb] ? -1 : 1;
	} else if (t->locality[fa] != t->locality[fb]) {
		source = TOPO_NEAR_LOCALITY;
		r = t->locality[fa] > t->locality[fb] ? -1 : 1;
	} else if (t->sysfs_near && t->sysfs_near[fa] != t->sysfs_near[fb]) {
		source = TOPO_NEAR_SYSFS;
		r = t->sysfs_near[fa] > t->sysfs_near[fb] ? -1 : 1;
	}
	if (ret_source)
		*ret_source = source;
	return r;
}

const char *topo_near_source_name(const nk_topo *t, enum topo_near_source source)
{
	switch (source) {
	case TOPO_NEAR_DISTANCE:
		return "the distance matrix";
	case TOPO_NEAR_MEMATTR:
		return "hwloc's memory attributes (its best initiator)";
	case TOPO_NEAR_LOCALITY:
		return t->distances_flat ? "hwloc's locality (where it is attached; the distances "
					   "are flat)"
		       : t->distances_known ? "hwloc's locality (where it is attached; the "
					      "distances tie)"
					    : "hwloc's locality (where it is attached; no "
					      "distances)";
	case TOPO_NEAR_SYSFS:
		return "the kernel's access0 initiators in sysfs";
	case TOPO_NEAR_NONE:
		break;
	}
	return "no source (equally near by distance, hwloc's locality and sysfs)";
}

/* `host`: the live host or captured tree hwloc read, whose sysfs is read
 * too (NULL for XML and synthetic topologies); `live`: it is this system. */
static int topo_from_hwloc(hwloc_topology_t hw, const char *source, nk_host *host, bool live,
			   nk_topo **ret, nk_error **err)
{
	_cleanup_(topo_freep) nk_topo *t = calloc(1, sizeof(*t));
	int r;

	if (!t || !(t->source = strdup(source)) || !(t->allowed_cpus = nk_bitmap_new()))
		return nk_error_set(err, ENOMEM, "out of memory");
	t->live = live;
	r = read_nodes(hw, t);
	if (r >= 0)
		r = read_pus(hw, t);
	if (r >= 0 && host)
		r = apply_kernel_cpulists(host, t);
	if (r >= 0)
		r = index_nodes(t);
	if (r >= 0)
		r = read_distances(hw, t);
	if (r >= 0)
		r = read_locality(hw, t);
	if (r >= 0 && host)
		r = read_sysfs_initiators(host, t);
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

/* An environment variable as it was, to put back. */
struct env_saved {
	const char *name;
	char *value; /* NULL: unset */
};

static int env_set(struct env_saved *saved, const char *name, const char *value)
{
	const char *old = getenv(name);
	saved->name = name;
	saved->value = old ? strdup(old) : NULL;
	if (old && !saved->value)
		return -ENOMEM;
	if ((value ? setenv(name, value, 1) : unsetenv(name)) < 0)
		return -errno;
	return 0;
}

static void env_restore(struct env_saved *saved)
{
	if (!saved->name)
		return;
	if (saved->value)
		setenv(saved->name, saved->value, 1);
	else
		unsetenv(saved->name);
	free(saved->value);
	*saved = (struct env_saved){0};
}

/*
 * A captured tree, read by hwloc's own Linux backend through HWLOC_FSROOT,
 * as 'lstopo --input DIR' does: one capture format for hwloc and numaksm.
 * hwloc takes the root only from the environment, so it is set for the
 * load and put back (not thread-safe, as setenv() is not).  The x86
 * backend is kept out: it would ask this machine's CPUID.
 */
static int topo_load_tree(nk_host *host, nk_topo **ret, nk_error **err)
{
	static const char *const masks[] = {
	    "/sys/devices/system/cpu/cpu0/topology/thread_siblings",
	    "/sys/devices/system/cpu/cpu0/topology/core_cpus",
	};
	_cleanup_(hwloc_topology_destroyp) hwloc_topology_t hw = NULL;
	_cleanup_free_ char *source = NULL;
	const char *root = nk_host_root(host);
	struct env_saved saved[4] = {{0}};
	bool found = false;
	int r;

	/* Without them hwloc gives up on the tree and counts this machine's
	 * CPUs instead. */
	for (size_t i = 0; i < ARRAY_SIZE(masks); i++)
		found = found || nk_host_exists(host, masks[i]) > 0;
	if (!found) {
		nk_error_set(err, ENOENT,
			     "captured tree '%s' lacks the CPU topology hwloc reads "
			     "(/sys/devices/system/cpu/cpuN/topology/thread_siblings or core_cpus)",
			     root);
		return nk_error_hint(err, "capture the host again with numaksm-gather-host-tree, "
					  "or add the files to an older capture with "
					  "'numaksm-gather-host-tree --upgrade DIR'");
	}
	r = hwloc_start(&hw, err);
	if (r < 0)
		return r;
#if HWLOC_API_VERSION >= 0x00020100
	if (hwloc_topology_set_components(hw, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "x86") < 0)
		return nk_error_set(err, errno ? errno : EINVAL,
				    "cannot keep hwloc's x86 backend off the captured tree");
#else
	r = env_set(&saved[3], "HWLOC_COMPONENTS", "-x86");
#endif
	if (r >= 0)
		r = env_set(&saved[0], "HWLOC_FSROOT", root);
	if (r >= 0)
		r = env_set(&saved[1], "HWLOC_XMLFILE", NULL);
	if (r >= 0)
		r = env_set(&saved[2], "HWLOC_SYNTHETIC", NULL);
	if (r >= 0 && hwloc_topology_load(hw) < 0)
		r = errno ? -errno : -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(saved); i++)
		env_restore(&saved[i]);
	if (r < 0)
		return nk_error_set(err, -r, "hwloc cannot read the captured tree '%s': %s", root,
				    strerror(-r));
	const char *backend = hwloc_obj_get_info_by_name(hwloc_get_root_obj(hw), "Backend");
	if (!backend || strcmp(backend, "Linux") != 0) {
		nk_error_set(err, EINVAL,
			     "hwloc did not read the captured tree '%s' with its Linux backend",
			     root);
		return nk_error_hint(err, "capture the host again with numaksm-gather-host-tree");
	}
	if (asprintf(&source, "root:%s", root) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	return topo_from_hwloc(hw, source, host, false, ret, err);
}

_nk_export_ int nk_topo_load_live(nk_host *host, nk_topo **ret, nk_error **err)
{
	_cleanup_(hwloc_topology_destroyp) hwloc_topology_t hw = NULL;
	int r;

	if (!nk_host_is_live(host))
		return topo_load_tree(host, ret, err);
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
		return topo_from_hwloc(hw, "hwloc environment", NULL, false, ret, err);
	}
	return topo_from_hwloc(hw, "live", host, true, ret, err);
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
	return topo_from_hwloc(hw, source, NULL, false, ret, err);
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
	return topo_from_hwloc(hw, source, NULL, false, ret, err);
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
	if (pi < 0 || topo->pus[pi].node == TOPO_NO_NODE)
		return -ENOENT;
	return topo->nodes[topo->pus[pi].node].id;
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
