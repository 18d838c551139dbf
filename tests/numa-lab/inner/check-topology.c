// SPDX-License-Identifier: MIT
/*
 * check-topology: compares the topology that `numaksm check --json` reports
 * with the expect-* lines of a lab topology file, and names every value that
 * differs.
 *
 *   lab-check-topology TOPOLOGY.topo CHECK.json
 *
 * Expectation lines (the guest's node numbering, nodes in ascending order):
 *   expect-node ID CPUS MEMORY 2M-PAGES DISTANCE...   CPUS "-" = memory-only
 *   expect-cgroup MODE [CONTROLLER...]
 * Memory is the configured size: the reported memory_kb must be at most
 * that, and more than half of it (the kernel keeps some for itself).
 * When the topology's `modules` line has kvm and CHECK.json is of the live
 * system (not a captured tree), /dev/kvm must be the KVM character device
 * (10:232), speak API 12 and create a VM, and numaksm must report it usable.
 *
 * Exit: 0 all match, 1 something differs or cannot be read.
 */
#include "lab.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MAX_NODES 64
#define KVM_DEV	  "/dev/kvm"
#define KVM_MAJOR 10 /* a misc device */
#define KVM_MINOR 232

struct expect_node {
	int id;
	char cpus[256]; /* as written, "-" for none */
	struct lab_set cpu_set;
	long long memory_kb;
	long long hugepages_2m;
	int distances[MAX_NODES];
	int distance_count;
};

struct expect {
	struct expect_node nodes[MAX_NODES];
	int node_count;
	char cgroup_mode[16];
	char controllers[16][32];
	int controller_count;
	bool kvm_module; /* `modules` lists kvm */
};

static int mismatches;

__attribute__((format(printf, 1, 2))) static void mismatch(const char *fmt, ...)
{
	va_list ap;

	mismatches++;
	printf("MISMATCH ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static int parse_ll(const char *s, long long *ret)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_memory_kb(const char *s, long long *ret_kb)
{
	_cleanup_free_ char *num = strdup(s);
	size_t len = strlen(s);
	long long v, unit;

	if (!num || len < 2)
		return -EINVAL;
	unit = s[len - 1] == 'G' ? 1024 * 1024 : s[len - 1] == 'M' ? 1024 : 0;
	num[len - 1] = '\0';
	if (!unit || parse_ll(num, &v) < 0)
		return -EINVAL;
	*ret_kb = v * unit;
	return 0;
}

static int parse_node_line(char **w, int n, struct expect_node *node)
{
	long long v;

	if (n < 6 || parse_ll(w[1], &v) < 0 || v >= LAB_MAX_IDS)
		return -EINVAL;
	node->id = (int)v;
	snprintf(node->cpus, sizeof(node->cpus), "%s", w[2]);
	if (strcmp(w[2], "-") == 0)
		memset(&node->cpu_set, 0, sizeof(node->cpu_set));
	else if (lab_parse_list(w[2], &node->cpu_set) < 0)
		return -EINVAL;
	if (parse_memory_kb(w[3], &node->memory_kb) < 0 || parse_ll(w[4], &node->hugepages_2m) < 0)
		return -EINVAL;
	node->distance_count = n - 5;
	for (int i = 5; i < n; i++) {
		if (parse_ll(w[i], &v) < 0 || v > 255)
			return -EINVAL;
		node->distances[i - 5] = (int)v;
	}
	return 0;
}

static int parse_expect(const char *path, struct expect *e)
{
	_cleanup_free_ char *text = NULL;
	char *line, *save = NULL;
	int r, lineno = 0;

	r = lab_read_file(path, &text);
	if (r < 0) {
		printf("check-topology: %s: %s\n", path, strerror(-r));
		return r;
	}
	for (char *s = text; (line = strtok_r(s, "\n", &save)); s = NULL) {
		char *w[MAX_NODES + 8], *wsave = NULL, *word;
		int n = 0;

		lineno++;
		*strchrnul(line, '#') = '\0';
		for (char *t = line; n < MAX_NODES + 8 && (word = strtok_r(t, " \t", &wsave));
		     t = NULL)
			w[n++] = word;
		if (n == 0)
			continue;
		if (strcmp(w[0], "expect-node") == 0) {
			struct expect_node *node = &e->nodes[e->node_count];

			if (e->node_count == MAX_NODES || parse_node_line(w, n, node) < 0 ||
			    (e->node_count && node->id <= e->nodes[e->node_count - 1].id)) {
				printf("check-topology: %s: bad expect-node line (ID CPUS MEMORY "
				       "2M-PAGES DISTANCE..., ascending IDs)\n",
				       path);
				return -EINVAL;
			}
			e->node_count++;
		} else if (strcmp(w[0], "expect-cgroup") == 0 && n >= 2) {
			snprintf(e->cgroup_mode, sizeof(e->cgroup_mode), "%s", w[1]);
			for (int i = 2; i < n && e->controller_count < 16; i++)
				snprintf(e->controllers[e->controller_count++],
					 sizeof(e->controllers[0]), "%s", w[i]);
		} else if (strcmp(w[0], "modules") == 0) {
			for (int i = 1; i < n; i++)
				e->kvm_module |= strcmp(w[i], "kvm") == 0;
		} else if (strncmp(w[0], "expect-", 7) == 0) {
			printf("check-topology: %s: unknown line '%s'\n", path, w[0]);
			return -EINVAL;
		}
	}
	if (e->node_count == 0 || !e->cgroup_mode[0]) {
		printf("check-topology: %s has no expect-node or expect-cgroup line\n", path);
		return -EINVAL;
	}
	for (int i = 0; i < e->node_count; i++) {
		if (e->nodes[i].distance_count != e->node_count) {
			printf("check-topology: %s: node %d has %d distances for %d nodes\n", path,
			       e->nodes[i].id, e->nodes[i].distance_count, e->node_count);
			return -EINVAL;
		}
	}
	return 0;
}

/* Looks up a member of the given type; reports a mismatch if it is absent or mistyped. */
static json_object *get(json_object *obj, const char *where, const char *key, json_type type)
{
	json_object *v;

	if (!obj)
		return NULL;
	if (!json_object_object_get_ex(obj, key, &v)) {
		mismatch("%s.%s: missing", where, key);
		return NULL;
	}
	if (!json_object_is_type(v, type)) {
		mismatch("%s.%s: is %s, want %s", where, key,
			 json_type_to_name(json_object_get_type(v)), json_type_to_name(type));
		return NULL;
	}
	return v;
}

static void expect_int(json_object *obj, const char *where, const char *key, long long want)
{
	json_object *v = get(obj, where, key, json_type_int);

	if (v && json_object_get_int64(v) != want)
		mismatch("%s.%s: got %lld, want %lld", where, key,
			 (long long)json_object_get_int64(v), want);
}

/* The 2M pool of host.hugepage_pools, or NULL when there is none. */
static json_object *pool_2m(json_object *host)
{
	json_object *pools = get(host, "host", "hugepage_pools", json_type_array);
	char w[96];

	for (size_t i = 0; pools && i < json_object_array_length(pools); i++) {
		json_object *pool = json_object_array_get_idx(pools, i);
		json_object *size;

		snprintf(w, sizeof(w), "host.hugepage_pools[%zu]", i);
		size = get(pool, w, "page_size_bytes", json_type_int);
		if (size && json_object_get_int64(size) == 2048 * 1024)
			return pool;
	}
	return NULL;
}

/* The 2M pages of node `id` (per_node of the 2M pool); no pool means none. */
static long long node_pages_2m(json_object *host, int id)
{
	json_object *pool = pool_2m(host);
	json_object *per =
	    pool ? get(pool, "host.hugepage_pools[2M]", "per_node", json_type_array) : NULL;

	for (size_t i = 0; per && i < json_object_array_length(per); i++) {
		json_object *e = json_object_array_get_idx(per, i), *node, *count;

		node = get(e, "host.hugepage_pools[2M].per_node", "node", json_type_int);
		if (!node || json_object_get_int64(node) != id)
			continue;
		count = get(e, "host.hugepage_pools[2M].per_node", "page_count", json_type_int);
		return count ? json_object_get_int64(count) : -1;
	}
	return pool ? -1 : 0;
}

static void check_node(json_object *host, json_object *node, const struct expect *e, int i)
{
	const struct expect_node *x = &e->nodes[i];
	json_object *v, *distances;
	struct lab_set got;
	long long kb, pages;
	char where[64];

	snprintf(where, sizeof(where), "host.numa.numa_nodes[%d]", i);
	expect_int(node, where, "node", x->id);
	v = get(node, where, "cpus", json_type_string);
	if (v) {
		const char *s = json_object_get_string(v);

		if (lab_parse_list(s, &got) < 0)
			mismatch("%s.cpus: '%s' is not a CPU list", where, s);
		else if (memcmp(got.has, x->cpu_set.has, sizeof(got.has)) != 0)
			mismatch("%s.cpus: got '%s', want '%s' (node %d)", where, s,
				 x->cpu_set.count ? x->cpus : "", x->id);
	}
	expect_int(node, where, "cpu_count", x->cpu_set.count);
	v = get(node, where, "memory_only", json_type_boolean);
	if (v && json_object_get_boolean(v) != (x->cpu_set.count == 0))
		mismatch("%s.memory_only: got %s, want %s (node %d)", where,
			 json_object_get_boolean(v) ? "true" : "false",
			 x->cpu_set.count ? "false" : "true", x->id);
	v = get(node, where, "total_bytes", json_type_int);
	kb = v ? json_object_get_int64(v) / 1024 : 0;
	if (v && (kb > x->memory_kb || kb <= x->memory_kb / 2))
		mismatch("%s.total_bytes: got %lld KiB, want (%lld, %lld] for %lld MiB configured "
			 "(node %d)",
			 where, kb, x->memory_kb / 2, x->memory_kb, x->memory_kb / 1024, x->id);

	distances = get(node, where, "distances", json_type_array);
	if (distances && (int)json_object_array_length(distances) != e->node_count) {
		mismatch("%s.distances: %zu values, want %d", where,
			 json_object_array_length(distances), e->node_count);
	} else if (distances) {
		for (int j = 0; j < e->node_count; j++) {
			json_object *d = json_object_array_get_idx(distances, (size_t)j), *to,
				    *dist;
			char dw[96];

			snprintf(dw, sizeof(dw), "%s.distances[%d]", where, j);
			to = get(d, dw, "node", json_type_int);
			dist = get(d, dw, "distance", json_type_int);
			if (to && json_object_get_int64(to) != e->nodes[j].id)
				mismatch("%s.node: got %lld, want %d", dw,
					 (long long)json_object_get_int64(to), e->nodes[j].id);
			if (dist && json_object_get_int64(dist) != x->distances[j])
				mismatch("%s.distance: got %lld, want %d (node %d -> node %d)", dw,
					 (long long)json_object_get_int64(dist), x->distances[j],
					 x->id, e->nodes[j].id);
		}
	}
	pages = node_pages_2m(host, x->id);
	if (pages != x->hugepages_2m)
		mismatch("%s: 2M hugepages total %lld, want %lld (node %d)", where, pages,
			 x->hugepages_2m, x->id);
}

static void check_memory_only(json_object *numa, const struct expect *e)
{
	json_object *list = get(numa, "host.numa", "memory_only_nodes", json_type_string);
	struct lab_set want = {0}, got = {0};
	char want_list[256], got_list[256];

	if (!list)
		return;
	for (int i = 0; i < e->node_count; i++)
		if (e->nodes[i].cpu_set.count == 0)
			want.has[e->nodes[i].id] = true;
	if (lab_parse_list(json_object_get_string(list), &got) < 0) {
		mismatch("host.numa.memory_only_nodes: '%s' is not a node list",
			 json_object_get_string(list));
		return;
	}
	if (memcmp(want.has, got.has, sizeof(want.has)) != 0) {
		lab_format_list(&want, want_list, sizeof(want_list));
		lab_format_list(&got, got_list, sizeof(got_list));
		mismatch("host.numa.memory_only_nodes: got '%s', want '%s'", got_list, want_list);
	}
}

static void check_cgroup(json_object *host, const struct expect *e)
{
	json_object *cgroup = get(host, "host", "cgroup", json_type_object);
	json_object *mode = get(cgroup, "host.cgroup", "mode", json_type_string);
	json_object *have = get(cgroup, "host.cgroup", "v2_controllers", json_type_array);

	if (mode && strcmp(json_object_get_string(mode), e->cgroup_mode) != 0)
		mismatch("host.cgroup.mode: got \"%s\", want \"%s\"", json_object_get_string(mode),
			 e->cgroup_mode);
	for (int i = 0; have && i < e->controller_count; i++) {
		bool found = false;

		for (size_t j = 0; j < json_object_array_length(have); j++) {
			const char *c = json_object_get_string(json_object_array_get_idx(have, j));

			found |= c && strcmp(c, e->controllers[i]) == 0;
		}
		if (!found)
			mismatch("host.cgroup.v2_controllers: no \"%s\" in %s", e->controllers[i],
				 json_object_to_json_string(have));
	}
}

/* /dev/kvm, for a topology that loads kvm: the device, and numaksm's view of it. */
static void check_kvm(json_object *host)
{
	json_object *kvm = get(host, "host", "kvm", json_type_object);
	json_object *v;
	struct stat st;
	int fd, vm, api;

	if (stat(KVM_DEV, &st) < 0) {
		mismatch("%s: %s, want the KVM device (the topology loads kvm)", KVM_DEV,
			 strerror(errno));
	} else if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != KVM_MAJOR ||
		   minor(st.st_rdev) != KVM_MINOR) {
		mismatch("%s: %s %u:%u, want a character device %d:%d", KVM_DEV,
			 S_ISCHR(st.st_mode) ? "character device" : "not a character device",
			 major(st.st_rdev), minor(st.st_rdev), KVM_MAJOR, KVM_MINOR);
	} else if ((fd = open(KVM_DEV, O_RDWR | O_CLOEXEC)) < 0) {
		mismatch("%s: open: %s", KVM_DEV, strerror(errno));
	} else {
		api = ioctl(fd, KVM_GET_API_VERSION, 0);
		if (api != KVM_API_VERSION)
			mismatch("%s: KVM_GET_API_VERSION %d (%s), want %d", KVM_DEV, api,
				 api < 0 ? strerror(errno) : "ok", KVM_API_VERSION);
		/* Creating a VM turns virtualization on in every CPU. */
		vm = ioctl(fd, KVM_CREATE_VM, 0);
		if (vm < 0)
			mismatch("%s: KVM_CREATE_VM: %s", KVM_DEV, strerror(errno));
		else
			close(vm);
		close(fd);
	}
	v = get(kvm, "host.kvm", "usable", json_type_boolean);
	if (v && !json_object_get_boolean(v))
		mismatch("host.kvm.usable: got false, want true (the topology loads kvm)");
}

int main(int argc, char **argv)
{
	static struct expect e;
	json_object *root, *host, *numa, *nodes;
	long long pages_2m = 0, total_2m;
	bool kvm_checked = false;

	if (argc != 3) {
		fprintf(stderr, "usage: %s TOPOLOGY.topo CHECK.json\n", argv[0]);
		return LAB_FAIL;
	}
	if (parse_expect(argv[1], &e) < 0)
		return LAB_FAIL;
	root = json_object_from_file(argv[2]);
	if (!root) {
		printf("check-topology: %s: %s\n", argv[2], json_util_get_last_err());
		return LAB_FAIL;
	}
	expect_int(root, "(top)", "schema_version", 1);
	host = get(root, "(top)", "host", json_type_object);
	numa = get(host, "host", "numa", json_type_object);
	expect_int(numa, "host.numa", "node_count", e.node_count);
	nodes = get(numa, "host.numa", "numa_nodes", json_type_array);
	if (nodes && (int)json_object_array_length(nodes) != e.node_count)
		mismatch("host.numa.numa_nodes: %zu nodes, want %d",
			 json_object_array_length(nodes), e.node_count);
	/* Compare the nodes both have, even when the counts differ. */
	for (int i = 0; nodes && i < e.node_count && i < (int)json_object_array_length(nodes); i++)
		check_node(host, json_object_array_get_idx(nodes, (size_t)i), &e, i);
	check_memory_only(numa, &e);
	for (int i = 0; i < e.node_count; i++)
		pages_2m += e.nodes[i].hugepages_2m;
	json_object *pool = host ? pool_2m(host) : NULL;
	json_object *count =
	    pool ? get(pool, "host.hugepage_pools[2M]", "page_count", json_type_int) : NULL;
	total_2m = count ? json_object_get_int64(count) : 0;
	if (host && total_2m != pages_2m)
		mismatch("host.hugepage_pools: 2M total %lld, want %lld (the nodes' sum)", total_2m,
			 pages_2m);
	check_cgroup(host, &e);
	if (e.kvm_module) {
		json_object *live = get(root, "(top)", "live", json_type_boolean);

		if (live && json_object_get_boolean(live)) {
			check_kvm(host);
			kvm_checked = true;
		} else if (live) {
			printf("check-topology: %s not checked: a captured tree\n", KVM_DEV);
		}
	}
	json_object_put(root);

	if (mismatches) {
		printf("check-topology: %d value(s) differ from %s\n", mismatches, argv[1]);
		return LAB_FAIL;
	}
	printf("check-topology: PASS: %d nodes, CPUs, memory-only nodes, distances, 2M "
	       "hugepages and cgroup mode \"%s\" as %s expects\n",
	       e.node_count, e.cgroup_mode, argv[1]);
	if (kvm_checked)
		printf("check-topology: PASS: %s is the KVM device (%d:%d, API %d, creates a VM) "
		       "and numaksm finds it usable\n",
		       KVM_DEV, KVM_MAJOR, KVM_MINOR, KVM_API_VERSION);
	return LAB_PASS;
}
