/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host facts: NUMA nodes, hugepage pools, KSM, THP and cgroups, all read
 * through the host root so a captured tree answers like the live system.
 * Per-node MemTotal may be smaller than /proc/meminfo's (hot-added memory
 * is not always counted per node), so both are kept and reported.
 */
#include "basic.h"
#include "hostinfo-internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>

#define NODE_DIR "/sys/devices/system/node"
#define HP_DIR	 "/sys/kernel/mm/hugepages"
#define THP_DIR	 "/sys/kernel/mm/transparent_hugepage"

static void hugepage_pools_free(struct nk_hugepage_pool *p)
{
	free(p);
}

_nk_export_ struct nk_hostinfo *nk_hostinfo_free(struct nk_hostinfo *info)
{
	if (!info)
		return NULL;
	for (size_t i = 0; i < info->n_nodes; i++) {
		nk_bitmap_free(info->nodes[i].cpus);
		free(info->nodes[i].distances);
		hugepage_pools_free(info->nodes[i].hugepages);
	}
	free(info->nodes);
	nk_bitmap_free(info->online_cpus);
	hugepage_pools_free(info->hugepages);
	free(info->thp_enabled);
	free(info->thp_defrag);
	nk_strv_free(info->cgroup_v1_controllers);
	nk_strv_free(info->cgroup_v2_controllers);
	free(info->cgroup_v2_path);
	free(info->cgroup_cpuset_legacy_path);
	nk_strv_free(info->unread);
	free(info);
	return NULL;
}

_nk_export_ const char *nk_backing_name(enum nk_backing backing)
{
	switch (backing) {
	case NK_BACKING_4K:
		return "4K";
	case NK_BACKING_THP:
		return "THP";
	case NK_BACKING_HUGETLB:
		return "hugetlb";
	}
	return "unknown";
}

_nk_export_ const char *nk_cgroup_mode_name(enum nk_cgroup_mode mode)
{
	switch (mode) {
	case NK_CGROUP_V1:
		return "v1";
	case NK_CGROUP_HYBRID:
		return "hybrid";
	case NK_CGROUP_V2:
		return "v2";
	case NK_CGROUP_UNKNOWN:
		return "unknown";
	case NK_CGROUP_NONE:
		break;
	}
	return "none";
}

_nk_export_ const struct nk_numa_node *nk_hostinfo_node(const struct nk_hostinfo *info, int id)
{
	for (size_t i = 0; i < info->n_nodes; i++)
		if (info->nodes[i].id == id)
			return &info->nodes[i];
	return NULL;
}

/* Read an optional file: -ENOENT is returned without touching *err. */
static int read_optional(nk_host *host, const char *path, char **ret, nk_error **err)
{
	int r = nk_host_read(host, path, ret, NULL);
	if (r == -ENOENT)
		return r;
	if (r < 0)
		return nk_host_read(host, path, ret, err);
	return r;
}

/*
 * Say that a file a fact needs is missing or malformed, and what that
 * leaves unknown: the fact is reported as unknown, the reading goes on.
 */
static int __attribute__((format(printf, 3, 4)))
note_unread(struct nk_hostinfo *info, nk_error **err, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;
	size_t n = 0;

	va_start(ap, fmt);
	int r = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (r < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	while (info->unread && info->unread[n])
		n++;
	if (nk_strv_push(&info->unread, &n, text) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	nk_debug("%s", text);
	return 0;
}

/* "hugepages-2048kB" -> 2048 */
static int hugepage_dir_size(const char *name, uint64_t *ret_kb)
{
	char buf[64];
	const char *p = name + strlen("hugepages-");
	size_t n = strlen(p);

	if (n < 3 || n >= sizeof(buf) || strcmp(p + n - 2, "kB") != 0)
		return -EINVAL;
	memcpy(buf, p, n - 2);
	buf[n - 2] = '\0';
	return nk_parse_u64(buf, ret_kb, NULL);
}

/* One count of a pool: 1 read, 0 missing or malformed (noted when
 * `required`: the pool is then left out), <0 an error. */
static int read_pool_count(nk_host *host, struct nk_hostinfo *info, const char *dir,
			   const char *name, const char *file, bool required, uint64_t *ret,
			   nk_error **err)
{
	char path[512];
	_cleanup_free_ char *text = NULL;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, name, file);
	int r = read_optional(host, path, &text, err);
	if (r < 0 && r != -ENOENT)
		return r;
	*ret = 0;
	if (r >= 0 && nk_parse_u64(text, ret, NULL) >= 0)
		return 1;
	if (!required)
		return 0;
	r = note_unread(info, err, "%s %s: that pool is left out", path,
			r < 0 ? "is missing" : "is malformed");
	return r < 0 ? r : 0;
}

/* Read the pools under `dir` (host-wide or a node's hugepages/ folder);
 * -ENOENT when `dir` is missing. */
static int read_pools(nk_host *host, struct nk_hostinfo *info, const char *dir, bool host_wide,
		      struct nk_hugepage_pool **ret, size_t *ret_n, nk_error **err)
{
	_cleanup_strv_ char **names = NULL;
	_cleanup_free_ struct nk_hugepage_pool *pools = NULL;
	size_t n = 0;

	*ret = NULL;
	*ret_n = 0;
	int r = nk_host_list(host, dir, "hugepages-", &names, NULL);
	if (r == -ENOENT)
		return r;
	if (r < 0)
		return nk_host_list(host, dir, "hugepages-", &names, err);
	pools = calloc((size_t)r + 1, sizeof(*pools));
	if (!pools)
		return nk_error_set(err, ENOMEM, "out of memory");

	for (char **name = names; *name; name++) {
		struct nk_hugepage_pool *p = &pools[n];
		if (hugepage_dir_size(*name, &p->size_kb) < 0)
			continue;
		int total =
		    read_pool_count(host, info, dir, *name, "nr_hugepages", true, &p->total, err);
		if (total < 0)
			return total;
		int free_ = total ? read_pool_count(host, info, dir, *name, "free_hugepages", true,
						    &p->free, err)
				  : 0;
		if (free_ < 0)
			return free_;
		if (!total || !free_)
			continue;
		r = read_pool_count(host, info, dir, *name, "surplus_hugepages", false, &p->surplus,
				    err);
		if (r >= 0 && host_wide)
			r = read_pool_count(host, info, dir, *name, "resv_hugepages", false,
					    &p->reserved, err);
		if (r < 0)
			return r;
		n++;
	}
	/* Names are in natural order, so sizes ascend. */
	*ret = TAKE_PTR(pools);
	*ret_n = n;
	return 0;
}

/* The node's CPUs: cpulist, or the same set as cpumap's mask (32-bit words,
 * "00000000,000000ff") where cpulist is missing or malformed. */
static int read_node_cpus(nk_host *host, struct nk_hostinfo *info, struct nk_numa_node *node,
			  nk_error **err)
{
	char path[256], map[256];
	_cleanup_free_ char *text = NULL, *bad_list = NULL;
	int r;

	snprintf(path, sizeof(path), NODE_DIR "/node%d/cpulist", node->id);
	snprintf(map, sizeof(map), NODE_DIR "/node%d/cpumap", node->id);
	r = read_optional(host, path, &text, err);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r >= 0) {
		if (nk_parse_list(text, "CPU list", &node->cpus, NULL) >= 0) {
			node->cpus_known = true;
			return 0;
		}
		bad_list = strdup(nk_strip_newline(text));
		if (!bad_list)
			return nk_error_set(err, ENOMEM, "out of memory");
		free(TAKE_PTR(text));
	}
	r = read_optional(host, map, &text, err);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r >= 0 && nk_parse_hexmask(text, &node->cpus) >= 0) {
		node->cpus_known = true;
		if (!bad_list)
			return 0;
		return note_unread(info, err,
				   "%s: malformed CPU list '%s': node %d's CPUs are "
				   "taken from cpumap",
				   path, bad_list, node->id);
	}
	node->cpus = nk_bitmap_new();
	if (!node->cpus)
		return nk_error_set(err, ENOMEM, "out of memory");
	return note_unread(info, err, "%s %s and cpumap %s: node %d's CPUs are unknown", path,
			   bad_list ? "is malformed" : "is missing",
			   r < 0 ? "is missing" : "is malformed", node->id);
}

static int read_node(nk_host *host, struct nk_hostinfo *info, struct nk_numa_node *node,
		     nk_error **err)
{
	char path[256];
	_cleanup_free_ char *text = NULL;
	int r;

	r = read_node_cpus(host, info, node, err);
	if (r < 0)
		return r;

	snprintf(path, sizeof(path), NODE_DIR "/node%d/meminfo", node->id);
	r = read_optional(host, path, &text, err);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r >= 0 && nk_parse_meminfo(text, "MemTotal", &node->mem_total_kb) >= 0 &&
	    nk_parse_meminfo(text, "MemFree", &node->mem_free_kb) >= 0) {
		uint64_t inactive_file = 0, slab = 0;
		nk_parse_meminfo(text, "Inactive(file)", &inactive_file);
		nk_parse_meminfo(text, "SReclaimable", &slab);
		node->mem_available_kb = node->mem_free_kb + inactive_file + slab;
		node->memory_known = true;
	} else {
		node->mem_total_kb = node->mem_free_kb = 0;
		r = note_unread(info, err, "%s %s: node %d's memory is unknown", path,
				r < 0 ? "is missing" : "has no MemTotal/MemFree lines", node->id);
		if (r < 0)
			return r;
	}
	free(TAKE_PTR(text));

	/* The row as the kernel wrote it; fit_distances() matches it to the nodes. */
	snprintf(path, sizeof(path), NODE_DIR "/node%d/distance", node->id);
	r = read_optional(host, path, &text, err);
	if (r < 0 && r != -ENOENT)
		return r;
	int n = r >= 0 ? nk_parse_u64_array(text, &node->distances) : -ENOENT;
	if (n == -ENOMEM)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (n > 0) {
		node->n_distances = (size_t)n;
	} else {
		if (n == 0)
			free(node->distances);
		node->distances = NULL;
		r = note_unread(info, err, "%s %s: the distances from node %d are unknown", path,
				r < 0 ? "is missing" : "is malformed", node->id);
		if (r < 0)
			return r;
	}

	snprintf(path, sizeof(path), NODE_DIR "/node%d/hugepages", node->id);
	r = read_pools(host, info, path, false, &node->hugepages, &node->n_hugepages, err);
	return r == -ENOENT ? 0 : r;
}

/*
 * Match a node's distance row to the nodes: the kernel lists the online
 * nodes in order, but some kernels and firmware list every node id up to
 * the highest, offline ones too; then the online nodes' entries are kept.
 * Any other length leaves the node's distances unknown.
 */
static int fit_distances(struct nk_hostinfo *info, struct nk_numa_node *node, nk_error **err)
{
	size_t n = info->n_nodes;
	if (!node->distances || node->n_distances == n)
		return 0;
	size_t highest = (size_t)info->nodes[n - 1].id;
	if (node->n_distances > highest) {
		uint64_t *d = calloc(n, sizeof(*d));
		if (!d)
			return nk_error_set(err, ENOMEM, "out of memory");
		for (size_t j = 0; j < n; j++)
			d[j] = node->distances[info->nodes[j].id];
		free(node->distances);
		node->distances = d;
		node->n_distances = n;
		return 0;
	}
	size_t listed = node->n_distances;
	free(node->distances);
	node->distances = NULL;
	node->n_distances = 0;
	return note_unread(info, err,
			   NODE_DIR "/node%d/distance lists %zu distances for %zu nodes up to "
				    "node %zu: the distances from node %d are unknown",
			   node->id, listed, n, highest, node->id);
}

/* Node ids from the nodeN directories; -ENOENT when there is no node folder. */
static int node_ids_from_dirs(nk_host *host, nk_bitmap **ret, nk_error **err)
{
	_cleanup_strv_ char **names = NULL;
	_cleanup_bitmap_ nk_bitmap *ids = nk_bitmap_new();

	if (!ids)
		return nk_error_set(err, ENOMEM, "out of memory");
	int r = nk_host_list(host, NODE_DIR, "node", &names, NULL);
	if (r == -ENOENT)
		return r;
	if (r < 0)
		return nk_host_list(host, NODE_DIR, "node", &names, err);
	for (char **name = names; *name; name++) {
		long long id;
		if (nk_parse_int(*name + strlen("node"), 0, INT_MAX, &id, NULL) < 0)
			continue; /* not a node folder */
		if (nk_bitmap_set(ids, (unsigned)id) < 0)
			return nk_error_set(err, ENOMEM, "out of memory");
	}
	*ret = TAKE_PTR(ids);
	return 0;
}

static int read_numa(nk_host *host, struct nk_hostinfo *info, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_bitmap_ nk_bitmap *online = NULL, *has_memory = NULL;
	int r;

	r = read_optional(host, NODE_DIR "/online", &text, err);
	if (r < 0 && r != -ENOENT)
		return r;
	bool online_missing = r < 0;
	if (r >= 0 && nk_parse_list(text, "node list", &online, NULL) < 0) {
		r = note_unread(info, err,
				NODE_DIR "/online is malformed ('%s'): the nodes are those with a "
					 "directory",
				nk_strip_newline(text));
		if (r < 0)
			return r;
	}
	free(TAKE_PTR(text));
	if (!online) {
		r = node_ids_from_dirs(host, &online, err);
		if (r == -ENOENT) {
			/* A kernel without CONFIG_NUMA: no node directory at all. */
			info->numa_sysfs = false;
			return 0;
		}
		if (r < 0)
			return r;
		if (online_missing) {
			_cleanup_free_ char *ids = NULL;
			if (nk_bitmap_format(online, &ids) < 0)
				return nk_error_set(err, ENOMEM, "out of memory");
			r = note_unread(info, err,
					NODE_DIR "/online is missing: the nodes are those with a "
						 "directory (%s)",
					*ids ? ids : "none");
			if (r < 0)
				return r;
		}
	}
	info->numa_sysfs = true;

	r = read_optional(host, NODE_DIR "/has_memory", &text, err);
	if (r >= 0) {
		if (nk_parse_list(text, "node list", &has_memory, NULL) < 0) {
			r = note_unread(info, err,
					NODE_DIR "/has_memory is malformed: a node has memory when "
						 "its meminfo says so");
			if (r < 0)
				return r;
		}
	} else if (r != -ENOENT) {
		return r;
	}

	unsigned n = nk_bitmap_weight(online);
	info->nodes = calloc(n ? n : 1, sizeof(*info->nodes));
	if (!info->nodes)
		return nk_error_set(err, ENOMEM, "out of memory");
	nk_bitmap_foreach (id, online) {
		struct nk_numa_node *node = &info->nodes[info->n_nodes++];
		node->id = id;
		r = read_node(host, info, node, err);
		if (r < 0)
			return r;
		node->has_memory =
		    has_memory ? nk_bitmap_test(has_memory, (unsigned)id) : node->mem_total_kb > 0;
	}
	for (size_t i = 0; i < info->n_nodes; i++) {
		r = fit_distances(info, &info->nodes[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

bool nk_cpuinfo_has_flag(const char *cpuinfo, const char *flag)
{
	_cleanup_free_ char *flags = NULL;
	size_t n = strlen(flag);

	if (nk_parse_keyed_line(cpuinfo, "flags", &flags) < 0)
		return false;
	/* "flags\t\t: fpu vme ..." leaves ": fpu ..." after the key. */
	for (char *p = flags; (p = strstr(p, flag)); p += n) {
		bool start = p == flags || p[-1] == ' ' || p[-1] == ':' || p[-1] == '\t';
		bool end = p[n] == '\0' || p[n] == ' ';
		if (start && end)
			return true;
	}
	return false;
}

static int pool_size_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct nk_hugepage_pool *)a)->size_kb;
	uint64_t y = ((const struct nk_hugepage_pool *)b)->size_kb;
	return x < y ? -1 : x > y;
}

/* The host-wide pools as the sums of the nodes' (the kernel's own sums),
 * for a tree without /sys/kernel/mm/hugepages. */
static int pools_from_nodes(struct nk_hostinfo *info, nk_error **err)
{
	for (size_t i = 0; i < info->n_nodes; i++)
		for (size_t k = 0; k < info->nodes[i].n_hugepages; k++) {
			const struct nk_hugepage_pool *np = &info->nodes[i].hugepages[k];
			struct nk_hugepage_pool *p = NULL;
			for (size_t j = 0; j < info->n_hugepages && !p; j++)
				if (info->hugepages[j].size_kb == np->size_kb)
					p = &info->hugepages[j];
			if (!p) {
				p = realloc(info->hugepages,
					    (info->n_hugepages + 1) * sizeof(*info->hugepages));
				if (!p)
					return nk_error_set(err, ENOMEM, "out of memory");
				info->hugepages = p;
				p = &info->hugepages[info->n_hugepages++];
				*p = (struct nk_hugepage_pool){.size_kb = np->size_kb};
			}
			p->total += np->total;
			p->free += np->free;
			p->surplus += np->surplus;
		}
	if (info->n_hugepages)
		qsort(info->hugepages, info->n_hugepages, sizeof(*info->hugepages), pool_size_cmp);
	return 0;
}

static int read_hugepages(nk_host *host, struct nk_hostinfo *info, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	int r = read_pools(host, info, HP_DIR, true, &info->hugepages, &info->n_hugepages, err);
	if (r == -ENOENT || (r >= 0 && info->n_hugepages == 0)) {
		bool on_nodes = false;
		for (size_t i = 0; i < info->n_nodes; i++)
			on_nodes |= info->nodes[i].n_hugepages > 0;
		/* A kernel without hugetlb has neither; nodes with pools and no
		 * host-wide folder (or none of its pools readable) is a capture
		 * that left it out or a file gone wrong. */
		if (on_nodes) {
			info->hugepages_from_nodes = true;
			r = note_unread(info, err,
					HP_DIR
					" %s: the host's pools are the sums of the nodes' and "
					"their reserved pages are unknown",
					r < 0 ? "is missing" : "has no pool that could be read");
			if (r >= 0)
				r = pools_from_nodes(info, err);
		} else {
			r = 0;
		}
	}
	if (r < 0)
		return r;
	if (read_optional(host, "/proc/meminfo", &text, err) >= 0) {
		nk_parse_meminfo(text, "Hugepagesize", &info->default_hugepage_kb);
		nk_parse_meminfo(text, "MemTotal", &info->mem_total_kb);
		nk_parse_meminfo(text, "MemAvailable", &info->mem_available_kb);
	}
	free(TAKE_PTR(text));
	if (read_optional(host, "/proc/cpuinfo", &text, err) >= 0)
		info->cpu_has_pdpe1gb = nk_cpuinfo_has_flag(text, "pdpe1gb");
	return 0;
}

static int read_ksm(nk_host *host, struct nk_hostinfo *info, nk_error **err)
{
	_cleanup_error_ nk_error *e = NULL;
	int r = nk_ksm_read(host, NK_KSM_ALL, &info->ksm, &e);
	if (r == -ENOTSUP)
		return 0; /* no KSM: reported as absent */
	if (r < 0)
		return nk_error_set(err, -r, "%s", nk_error_message(e));
	info->ksm_present = true;
	r = nk_host_exists(host, "/proc/self/ksm_stat");
	if (r < 0)
		return nk_error_set(err, -r, "cannot look up /proc/self/ksm_stat");
	info->proc_ksm_stat = r > 0;
	return 0;
}

static int read_numa_balancing(nk_host *host, struct nk_hostinfo *info, nk_error **err)
{
	static const char path[] = "/proc/sys/kernel/numa_balancing";
	_cleanup_free_ char *text = NULL;
	long long v;

	info->numa_balancing = -1;
	int r = read_optional(host, path, &text, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (nk_parse_int(nk_strip_newline(text), 0, 3, &v, NULL) < 0)
		return note_unread(
		    info, err, "%s is malformed ('%s'): whether NUMA balancing is on is unknown",
		    path, text);
	info->numa_balancing = (int)v;
	return 0;
}

static int read_thp(nk_host *host, struct nk_hostinfo *info, nk_error **err)
{
	static const char *const files[] = {THP_DIR "/enabled", THP_DIR "/defrag"};
	char **fields[] = {&info->thp_enabled, &info->thp_defrag};

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *text = NULL;
		int r = read_optional(host, files[i], &text, err);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		if (nk_parse_selector(text, fields[i]) < 0)
			return nk_error_set(err, EINVAL, "%s: unexpected '%s'", files[i],
					    nk_strip_newline(text));
	}
	return 0;
}

void nk_cgroup_mounts_done(struct nk_cgroup_mounts *m)
{
	free(m->v2_path);
	free(m->cpuset_legacy_path);
	nk_strv_free(m->v1_options);
	memset(m, 0, sizeof(*m));
}

/* Undo the octal escapes of /proc/mounts ("\040" is a space). */
static void unescape_mount_field(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

int nk_parse_cgroup_mounts(const char *mounts, struct nk_cgroup_mounts *ret)
{
	struct nk_cgroup_mounts m = {0};
	size_t n_opts = 0;
	bool v1 = false, v2_at_root = false;
	_cleanup_free_ char *copy = strdup(mounts);
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[4] = {0}, *fs = NULL;
		for (int i = 0; i < 4; i++) {
			f[i] = strtok_r(i ? NULL : line, " ", &fs);
			if (!f[i])
				break;
		}
		if (!f[3])
			continue;
		unescape_mount_field(f[1]);
		if (strcmp(f[2], "cgroup2") == 0) {
			if (!m.v2_path || strcmp(f[1], "/sys/fs/cgroup") == 0) {
				free(m.v2_path);
				m.v2_path = strdup(f[1]);
				if (!m.v2_path)
					goto oom;
			}
			if (strcmp(f[1], "/sys/fs/cgroup") == 0)
				v2_at_root = true;
		} else if (strcmp(f[2], "cgroup") == 0 && !strstr(f[3], "noprefix")) {
			v1 = true;
			char *os = NULL;
			for (char *o = strtok_r(f[3], ",", &os); o; o = strtok_r(NULL, ",", &os))
				if (nk_strv_push(&m.v1_options, &n_opts, o) < 0)
					goto oom;
		} else if (strcmp(f[2], "cpuset") == 0 || strcmp(f[2], "cgroup") == 0) {
			/* The legacy cpuset filesystem (before cgroups, still
			 * mounted at /dev/cpuset by old tools), or a v1 mount
			 * with its "noprefix" (which the kernel allows for cpuset
			 * alone): the cpuset hierarchy with files named without
			 * "cpuset.". */
			v1 = true;
			if (!m.cpuset_legacy_path && !(m.cpuset_legacy_path = strdup(f[1])))
				goto oom;
		}
	}
	if (v2_at_root && !v1)
		m.mode = NK_CGROUP_V2;
	else if (v1 && m.v2_path)
		m.mode = NK_CGROUP_HYBRID;
	else if (v1)
		m.mode = NK_CGROUP_V1;
	else if (m.v2_path)
		m.mode = NK_CGROUP_V2;
	else
		m.mode = NK_CGROUP_NONE;
	*ret = m;
	return 0;
oom:
	nk_cgroup_mounts_done(&m);
	return -ENOMEM;
}

int nk_parse_proc_cgroups(const char *text, bool unbound_only, char ***ret_names)
{
	_cleanup_strv_ char **names = NULL;
	size_t n = 0;
	const char *line = text;

	/* "#subsys_name hierarchy num_cgroups enabled" */
	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (line[0] != '#' && len > 0) {
			char name[64];
			unsigned hier, num, enabled;
			char fmtline[256];
			if (len >= sizeof(fmtline))
				return -EINVAL;
			memcpy(fmtline, line, len);
			fmtline[len] = '\0';
			if (sscanf(fmtline, "%63s %u %u %u", name, &hier, &num, &enabled) != 4)
				return -EINVAL;
			if (enabled && (!unbound_only || hier == 0) &&
			    nk_strv_push(&names, &n, name) < 0)
				return -ENOMEM;
		}
		line = end ? end + 1 : NULL;
	}
	if (!names) {
		names = calloc(1, sizeof(char *));
		if (!names)
			return -ENOMEM;
	}
	*ret_names = TAKE_PTR(names);
	return (int)n;
}

static bool strv_contains(char **strv, const char *s)
{
	for (; strv && *strv; strv++)
		if (strcmp(*strv, s) == 0)
			return true;
	return false;
}

/* The controllers cgroup v1 has: the names a v1 mount's options may hold
 * (kernel/cgroup/cgroup_subsys.h), for a tree without /proc/cgroups. */
static const char *const v1_controller_names[] = {
    "cpuset",  "cpu",	     "cpuacct",	 "io",	    "blkio", "memory", "devices", "freezer",
    "net_cls", "perf_event", "net_prio", "hugetlb", "pids",  "rdma",   "misc",	  "debug",
};

static bool is_v1_controller(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(v1_controller_names); i++)
		if (strcmp(v1_controller_names[i], name) == 0)
			return true;
	return false;
}

/* The v1 controllers mounted: the enabled subsystems of /proc/cgroups that
 * some v1 mount names, or without /proc/cgroups every controller name
 * among the mounts' options. */
static int v1_controllers(char **v1_options, char **subsys, char ***ret, nk_error **err)
{
	_cleanup_strv_ char **names = calloc(1, sizeof(char *));
	size_t n = 0;

	if (!names)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (char **o = subsys ? subsys : v1_options; o && *o; o++) {
		bool mounted = subsys ? strv_contains(v1_options, *o) : is_v1_controller(*o);
		if (mounted && !strv_contains(names, *o) && nk_strv_push(&names, &n, *o) < 0)
			return nk_error_set(err, ENOMEM, "out of memory");
	}
	*ret = TAKE_PTR(names);
	return 0;
}

/* The controllers cgroup2 has, by their v1 names in /proc/cgroups and as
 * cgroup.controllers names them (the others are v1's alone, or always on). */
static const char *const v2_controller_names[][2] = {
    {"cpuset", "cpuset"},   {"cpu", "cpu"},   {"blkio", "io"},	{"memory", "memory"},
    {"hugetlb", "hugetlb"}, {"pids", "pids"}, {"rdma", "rdma"}, {"misc", "misc"},
};

/* The controllers of the cgroup2 root: its cgroup.controllers, or where a
 * tree lacks it, those /proc/cgroups binds to no v1 hierarchy (hierarchy 0,
 * which is cgroup2's) that cgroup2 has; unknown (NULL) without either. */
static int v2_controllers(nk_host *host, struct nk_hostinfo *info, const char *proc_cgroups,
			  nk_error **err)
{
	char path[512];
	_cleanup_free_ char *text = NULL;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", info->cgroup_v2_path);
	int r = read_optional(host, path, &text, err);
	if (r >= 0) {
		char *save = NULL;
		info->cgroup_v2_controllers = calloc(1, sizeof(char *));
		if (!info->cgroup_v2_controllers)
			return nk_error_set(err, ENOMEM, "out of memory");
		for (char *c = strtok_r(text, " \n", &save); c; c = strtok_r(NULL, " \n", &save))
			if (nk_strv_push(&info->cgroup_v2_controllers, &n, c) < 0)
				return nk_error_set(err, ENOMEM, "out of memory");
		return 0;
	}
	if (r != -ENOENT)
		return r;
	_cleanup_strv_ char **unbound = NULL;
	if (proc_cgroups && nk_parse_proc_cgroups(proc_cgroups, true, &unbound) >= 0) {
		info->cgroup_v2_controllers = calloc(1, sizeof(char *));
		if (!info->cgroup_v2_controllers)
			return nk_error_set(err, ENOMEM, "out of memory");
		for (size_t i = 0; i < ARRAY_SIZE(v2_controller_names); i++)
			if (strv_contains(unbound, v2_controller_names[i][0]) &&
			    nk_strv_push(&info->cgroup_v2_controllers, &n,
					 v2_controller_names[i][1]) < 0)
				return nk_error_set(err, ENOMEM, "out of memory");
		return note_unread(info, err,
				   "%s is missing: the cgroup2 controllers are those /proc/cgroups "
				   "binds to no v1 hierarchy",
				   path);
	}
	return note_unread(info, err, "%s is missing: the cgroup2 controllers are unknown", path);
}

static int read_cgroups(nk_host *host, struct nk_hostinfo *info, nk_error **err)
{
	_cleanup_free_ char *mounts = NULL, *cgroups = NULL;
	_cleanup_strv_ char **subsys = NULL;
	struct nk_cgroup_mounts m;
	int r;

	r = read_optional(host, "/proc/self/mounts", &mounts, err);
	if (r == -ENOENT)
		r = read_optional(host, "/proc/mounts", &mounts, err);
	if (r == -ENOENT) {
		/* Only a captured tree lacks it.  cgroup.controllers is a file
		 * of a cgroup2 root alone: where the usual place has it, cgroup2
		 * is mounted there; v1 mounts stay unknown. */
		info->cgroup_mode = NK_CGROUP_UNKNOWN;
		r = note_unread(info, err,
				"/proc/self/mounts is missing: the cgroup mounts are unknown");
		if (r < 0)
			return r;
		r = nk_host_exists(host, "/sys/fs/cgroup/cgroup.controllers");
		if (r < 0)
			return nk_error_set(err, -r,
					    "cannot look up /sys/fs/cgroup/cgroup.controllers");
		if (r > 0) {
			info->cgroup_v2_path = strdup("/sys/fs/cgroup");
			if (!info->cgroup_v2_path)
				return nk_error_set(err, ENOMEM, "out of memory");
			return v2_controllers(host, info, NULL, err);
		}
		return 0;
	}
	if (r < 0)
		return r;
	r = nk_parse_cgroup_mounts(mounts, &m);
	if (r < 0)
		return nk_error_set(err, -r, "cannot parse /proc/self/mounts");
	info->cgroup_mode = m.mode;
	info->cgroup_v2_path = TAKE_PTR(m.v2_path);
	info->cgroup_cpuset_legacy_path = TAKE_PTR(m.cpuset_legacy_path);

	r = read_optional(host, "/proc/cgroups", &cgroups, err);
	if (r < 0 && r != -ENOENT) {
		nk_cgroup_mounts_done(&m);
		return r;
	}
	if (r >= 0 && nk_parse_proc_cgroups(cgroups, false, &subsys) < 0) {
		r = note_unread(info, err,
				"/proc/cgroups is malformed: the v1 controllers are the controller "
				"names among the mount options");
		free(cgroups);
		cgroups = NULL;
	}
	if (r >= 0 || r == -ENOENT)
		r = v1_controllers(m.v1_options, subsys, &info->cgroup_v1_controllers, err);
	nk_cgroup_mounts_done(&m);
	if (r < 0)
		return r;

	if (info->cgroup_v2_path)
		return v2_controllers(host, info, cgroups, err);
	info->cgroup_v2_controllers = calloc(1, sizeof(char *));
	if (!info->cgroup_v2_controllers)
		return nk_error_set(err, ENOMEM, "out of memory");
	return 0;
}

_nk_export_ int nk_hostinfo_read(nk_host *host, struct nk_hostinfo **ret, nk_error **err)
{
	struct nk_hostinfo *info = calloc(1, sizeof(*info));
	_cleanup_free_ char *text = NULL;
	int r;

	if (!info)
		return nk_error_set(err, ENOMEM, "out of memory");
	if ((r = read_numa(host, info, err)) < 0 || (r = read_hugepages(host, info, err)) < 0 ||
	    (r = read_ksm(host, info, err)) < 0 || (r = read_thp(host, info, err)) < 0 ||
	    (r = read_numa_balancing(host, info, err)) < 0 ||
	    (r = read_cgroups(host, info, err)) < 0)
		goto fail;

	r = read_optional(host, "/sys/devices/system/cpu/online", &text, err);
	if (r >= 0 && nk_parse_list(text, "CPU list", &info->online_cpus, NULL) < 0) {
		r = note_unread(
		    info, err,
		    "/sys/devices/system/cpu/online is malformed ('%s'): the online CPUs "
		    "are unknown",
		    nk_strip_newline(text));
		if (r < 0)
			goto fail;
	} else if (r < 0 && r != -ENOENT) {
		goto fail;
	}
	if (!info->online_cpus && !(info->online_cpus = nk_bitmap_new())) {
		r = nk_error_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	if (!info->unread && !(info->unread = calloc(1, sizeof(char *)))) {
		r = nk_error_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	*ret = info;
	return 0;
fail:
	nk_hostinfo_free(info);
	return r;
}

_nk_export_ int nk_hostinfo_nearest_cpus(const struct nk_hostinfo *info, const nk_bitmap *nodes,
					 const nk_bitmap *allowed, nk_bitmap **ret)
{
	_cleanup_bitmap_ nk_bitmap *cpus = nk_bitmap_new();
	if (!cpus)
		return -ENOMEM;

	nk_bitmap_foreach (id, nodes) {
		const struct nk_numa_node *n = nk_hostinfo_node(info, id);
		if (!n)
			continue;
		unsigned with_cpus = 0;
		nk_bitmap_foreach (cpu, n->cpus) {
			if (!allowed || nk_bitmap_test(allowed, (unsigned)cpu)) {
				if (nk_bitmap_set(cpus, (unsigned)cpu) < 0)
					return -ENOMEM;
				with_cpus++;
			}
		}
		if (with_cpus)
			continue;
		/* A memory-only node: the CPUs of the nearest nodes that have some;
		 * without its distances, none is known to be nearer than another. */
		size_t idx = (size_t)(n - info->nodes);
		uint64_t best = UINT64_MAX;
		for (size_t j = 0; j < info->n_nodes; j++) {
			if (j == idx || !nk_bitmap_weight(info->nodes[j].cpus))
				continue;
			uint64_t d = n->distances ? n->distances[j] : 0;
			if (d < best)
				best = d;
		}
		for (size_t j = 0; j < info->n_nodes && best != UINT64_MAX; j++) {
			if (j == idx || (n->distances ? n->distances[j] : 0) != best)
				continue;
			nk_bitmap_foreach (cpu, info->nodes[j].cpus) {
				if ((!allowed || nk_bitmap_test(allowed, (unsigned)cpu)) &&
				    nk_bitmap_set(cpus, (unsigned)cpu) < 0)
					return -ENOMEM;
			}
		}
	}
	*ret = TAKE_PTR(cpus);
	return 0;
}
