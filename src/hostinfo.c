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

static int read_u64_optional(nk_host *host, const char *path, uint64_t *ret, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	int r = read_optional(host, path, &text, err);
	if (r < 0)
		return r;
	r = nk_parse_u64(text, ret, err);
	return r < 0 ? nk_error_prefix(err, "%s", path) : 0;
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

/* Read the pools under `dir` (host-wide or a node's hugepages/ folder). */
static int read_pools(nk_host *host, const char *dir, bool host_wide, struct nk_hugepage_pool **ret,
		      size_t *ret_n, nk_error **err)
{
	_cleanup_strv_ char **names = NULL;
	_cleanup_free_ struct nk_hugepage_pool *pools = NULL;
	size_t n = 0;

	int r = nk_host_list(host, dir, "hugepages-", &names, NULL);
	if (r == -ENOENT) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	if (r < 0)
		return nk_host_list(host, dir, "hugepages-", &names, err);
	pools = calloc((size_t)r + 1, sizeof(*pools));
	if (!pools)
		return nk_error_set(err, ENOMEM, "out of memory");

	for (char **name = names; *name; name++) {
		struct nk_hugepage_pool *p = &pools[n];
		char path[512];
		if (hugepage_dir_size(*name, &p->size_kb) < 0)
			continue;
#define POOL_FIELD(field, file, required)                                                          \
	do {                                                                                       \
		snprintf(path, sizeof(path), "%s/%s/%s", dir, *name, file);                        \
		r = read_u64_optional(host, path, &p->field, err);                                 \
		if (r == -ENOENT && !(required))                                                   \
			p->field = 0;                                                              \
		else if (r < 0)                                                                    \
			return r == -ENOENT ? nk_error_set(err, ENOENT, "%s is missing", path)     \
					    : r;                                                   \
	} while (0)
		POOL_FIELD(total, "nr_hugepages", true);
		POOL_FIELD(free, "free_hugepages", true);
		POOL_FIELD(surplus, "surplus_hugepages", false);
		if (host_wide)
			POOL_FIELD(reserved, "resv_hugepages", false);
#undef POOL_FIELD
		n++;
	}
	/* Names are in natural order, so sizes ascend. */
	*ret = TAKE_PTR(pools);
	*ret_n = n;
	return 0;
}

static int read_node(nk_host *host, int id, struct nk_numa_node *node, nk_error **err)
{
	char path[256];
	_cleanup_free_ char *text = NULL;
	int r;

	node->id = id;
	snprintf(path, sizeof(path), NODE_DIR "/node%d/cpulist", id);
	r = nk_host_read(host, path, &text, err);
	if (r < 0)
		return r;
	r = nk_parse_list(text, "CPU list", &node->cpus, err);
	if (r < 0)
		return nk_error_prefix(err, "%s", path);
	free(TAKE_PTR(text));

	snprintf(path, sizeof(path), NODE_DIR "/node%d/meminfo", id);
	r = nk_host_read(host, path, &text, err);
	if (r < 0)
		return r;
	if (nk_parse_meminfo(text, "MemTotal", &node->mem_total_kb) < 0 ||
	    nk_parse_meminfo(text, "MemFree", &node->mem_free_kb) < 0)
		return nk_error_set(err, EINVAL, "%s: no MemTotal/MemFree lines", path);
	uint64_t inactive_file = 0, slab = 0;
	nk_parse_meminfo(text, "Inactive(file)", &inactive_file);
	nk_parse_meminfo(text, "SReclaimable", &slab);
	node->mem_available_kb = node->mem_free_kb + inactive_file + slab;
	free(TAKE_PTR(text));

	snprintf(path, sizeof(path), NODE_DIR "/node%d/distance", id);
	r = nk_host_read(host, path, &text, err);
	if (r < 0)
		return r;
	r = nk_parse_u64_array(text, &node->distances);
	if (r < 0)
		return nk_error_set(err, -r, "%s: malformed distance list '%s'", path,
				    nk_strip_newline(text));
	node->n_distances = (size_t)r;

	snprintf(path, sizeof(path), NODE_DIR "/node%d/hugepages", id);
	return read_pools(host, path, false, &node->hugepages, &node->n_hugepages, err);
}

static int read_numa(nk_host *host, struct nk_hostinfo *info, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_bitmap_ nk_bitmap *online = NULL, *has_memory = NULL;
	int r;

	r = read_optional(host, NODE_DIR "/online", &text, err);
	if (r == -ENOENT) {
		/* A kernel without CONFIG_NUMA: no node directory at all. */
		info->numa_sysfs = false;
		return 0;
	}
	if (r < 0)
		return r;
	info->numa_sysfs = true;
	r = nk_parse_list(text, "node list", &online, err);
	if (r < 0)
		return nk_error_prefix(err, NODE_DIR "/online");
	free(TAKE_PTR(text));

	r = read_optional(host, NODE_DIR "/has_memory", &text, err);
	if (r >= 0) {
		r = nk_parse_list(text, "node list", &has_memory, err);
		if (r < 0)
			return nk_error_prefix(err, NODE_DIR "/has_memory");
	} else if (r != -ENOENT) {
		return r;
	}

	unsigned n = nk_bitmap_weight(online);
	info->nodes = calloc(n ? n : 1, sizeof(*info->nodes));
	if (!info->nodes)
		return nk_error_set(err, ENOMEM, "out of memory");
	nk_bitmap_foreach (id, online) {
		struct nk_numa_node *node = &info->nodes[info->n_nodes++];
		r = read_node(host, id, node, err);
		if (r < 0)
			return r;
		node->has_memory =
		    has_memory ? nk_bitmap_test(has_memory, (unsigned)id) : node->mem_total_kb > 0;
	}
	for (size_t i = 0; i < info->n_nodes; i++)
		if (info->nodes[i].n_distances != info->n_nodes)
			return nk_error_set(err, EINVAL,
					    NODE_DIR "/node%d/distance lists %zu distances for %zu "
						     "online nodes",
					    info->nodes[i].id, info->nodes[i].n_distances,
					    info->n_nodes);
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

static int read_hugepages(nk_host *host, struct nk_hostinfo *info, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	int r = read_pools(host, HP_DIR, true, &info->hugepages, &info->n_hugepages, err);
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
		} else if (strcmp(f[2], "cgroup") == 0) {
			v1 = true;
			char *os = NULL;
			for (char *o = strtok_r(f[3], ",", &os); o; o = strtok_r(NULL, ",", &os))
				if (nk_strv_push(&m.v1_options, &n_opts, o) < 0)
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

int nk_parse_proc_cgroups(const char *text, char ***ret_names)
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
			if (enabled && nk_strv_push(&names, &n, name) < 0)
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

static int read_cgroups(nk_host *host, struct nk_hostinfo *info, nk_error **err)
{
	_cleanup_free_ char *mounts = NULL, *cgroups = NULL;
	_cleanup_strv_ char **subsys = NULL;
	struct nk_cgroup_mounts m;
	size_t n = 0;
	int r;

	r = read_optional(host, "/proc/self/mounts", &mounts, err);
	if (r == -ENOENT)
		r = read_optional(host, "/proc/mounts", &mounts, err);
	if (r == -ENOENT) {
		info->cgroup_mode = NK_CGROUP_NONE;
		goto empty;
	}
	if (r < 0)
		return r;
	r = nk_parse_cgroup_mounts(mounts, &m);
	if (r < 0)
		return nk_error_set(err, -r, "cannot parse /proc/self/mounts");
	info->cgroup_mode = m.mode;
	info->cgroup_v2_path = TAKE_PTR(m.v2_path);

	if (m.v1_options && read_optional(host, "/proc/cgroups", &cgroups, err) >= 0 &&
	    nk_parse_proc_cgroups(cgroups, &subsys) >= 0) {
		/* A v1 controller is a subsystem name among some v1 mount's options. */
		for (char **s = subsys; *s; s++)
			if (strv_contains(m.v1_options, *s) &&
			    nk_strv_push(&info->cgroup_v1_controllers, &n, *s) < 0) {
				nk_cgroup_mounts_done(&m);
				return nk_error_set(err, ENOMEM, "out of memory");
			}
	}
	nk_cgroup_mounts_done(&m);

	if (info->cgroup_v2_path) {
		char path[512];
		_cleanup_free_ char *text = NULL;
		snprintf(path, sizeof(path), "%s/cgroup.controllers", info->cgroup_v2_path);
		r = read_optional(host, path, &text, err);
		if (r >= 0) {
			size_t m2 = 0;
			char *save = NULL;
			for (char *c = strtok_r(text, " \n", &save); c;
			     c = strtok_r(NULL, " \n", &save))
				if (nk_strv_push(&info->cgroup_v2_controllers, &m2, c) < 0)
					return nk_error_set(err, ENOMEM, "out of memory");
		} else if (r != -ENOENT) {
			return r;
		}
	}
empty:
	if (!info->cgroup_v1_controllers)
		info->cgroup_v1_controllers = calloc(1, sizeof(char *));
	if (!info->cgroup_v2_controllers)
		info->cgroup_v2_controllers = calloc(1, sizeof(char *));
	if (!info->cgroup_v1_controllers || !info->cgroup_v2_controllers)
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
	    (r = read_cgroups(host, info, err)) < 0)
		goto fail;

	r = read_optional(host, "/sys/devices/system/cpu/online", &text, err);
	if (r >= 0) {
		r = nk_parse_list(text, "CPU list", &info->online_cpus, err);
		if (r < 0) {
			nk_error_prefix(err, "/sys/devices/system/cpu/online");
			goto fail;
		}
	} else if (r != -ENOENT) {
		goto fail;
	}
	if (!info->online_cpus && !(info->online_cpus = nk_bitmap_new())) {
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
		/* A memory-only node: the CPUs of the nearest nodes that have some. */
		size_t idx = (size_t)(n - info->nodes);
		uint64_t best = UINT64_MAX;
		for (size_t j = 0; j < info->n_nodes; j++) {
			if (j == idx || !nk_bitmap_weight(info->nodes[j].cpus))
				continue;
			if (n->distances[j] < best)
				best = n->distances[j];
		}
		for (size_t j = 0; j < info->n_nodes && best != UINT64_MAX; j++) {
			if (j == idx || n->distances[j] != best)
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
