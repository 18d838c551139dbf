/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host I/O root and host facts, on trees built in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <numaksm/hostinfo.h>
#include "hostinfo-internal.h"

static char tree[256];

static void put(const char *rel, const char *content)
{
	char path[1024], cmd[1100];
	snprintf(path, sizeof(path), "%s/%s", tree, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(cmd), 0);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

/* Remove a file or folder of the tree. */
static void drop(const char *rel)
{
	char cmd[1100];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/%s'", tree, rel);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	snprintf(tree, sizeof(tree), "/tmp/numaksm-test-host.XXXXXX");
	if (!mkdtemp(tree))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tree);
	return system(cmd) == 0 ? 0 : -1;
}

/* A 4-node host with one memory-only node, written file by file. */
static void make_4node_tree(const char *distance3)
{
	static const char *const dist[] = {"10 12 20 21\n", "12 10 21 20\n", "20 21 10 12\n"};
	static const char *const cpus[] = {"0-1\n", "2-3\n", "\n", "\n"};
	char p[256], m[256];
	put("sys/devices/system/node/online", "0-3\n");
	put("sys/devices/system/node/has_memory", "0-3\n");
	for (int n = 0; n < 4; n++) {
		snprintf(p, sizeof(p), "sys/devices/system/node/node%d/cpulist", n);
		put(p, n == 2 ? "\n" : cpus[n]);
		snprintf(p, sizeof(p), "sys/devices/system/node/node%d/distance", n);
		put(p, n < 3 ? dist[n] : distance3);
		snprintf(p, sizeof(p), "sys/devices/system/node/node%d/meminfo", n);
		snprintf(m, sizeof(m), "Node %d MemTotal: %d kB\nNode %d MemFree: %d kB\n", n,
			 (n + 1) * 1024, n, (n + 1) * 512);
		put(p, m);
		snprintf(p, sizeof(p),
			 "sys/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages",
			 n);
		snprintf(m, sizeof(m), "%d\n", n == 3 ? 0 : 32 >> n);
		put(p, m);
		snprintf(p, sizeof(p),
			 "sys/devices/system/node/node%d/hugepages/hugepages-2048kB/free_hugepages",
			 n);
		put(p, m);
	}
	put("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "56\n");
	put("sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "50\n");
	put("sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages", "2\n");
	put("sys/kernel/mm/ksm/run", "1\n");
	put("sys/kernel/mm/ksm/merge_across_nodes", "1\n");
	put("sys/kernel/mm/ksm/pages_sharing", "777\n");
	put("sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n");
	put("proc/meminfo", "MemTotal: 10240 kB\nHugepagesize: 2048 kB\n");
	put("proc/self/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n");
	put("sys/fs/cgroup/cgroup.controllers", "cpuset cpu memory hugetlb\n");
}

static void test_open_errors(void **state)
{
	nk_host *h = NULL;
	nk_error *err = NULL;
	char path[512];

	assert_int_equal(nk_host_open("/nonexistent/numaksm", &h, NULL), -ENOENT);
	assert_int_equal(nk_host_open("/nonexistent/numaksm", &h, &err), -ENOENT);
	assert_null(h);
	assert_non_null(strstr(nk_error_message(err), "/nonexistent/numaksm"));
	assert_non_null(nk_error_get_hint(err));
	err = nk_error_free(err);

	put("afile", "x");
	snprintf(path, sizeof(path), "%s/afile", tree);
	assert_int_equal(nk_host_open(path, &h, &err), -ENOTDIR);
	err = nk_error_free(err);

	snprintf(path, sizeof(path), "%s/empty", tree);
	mkdir(path, 0755);
	assert_int_equal(nk_host_open(path, &h, &err), -ENOENT);
	assert_non_null(strstr(nk_error_message(err), "not a captured host tree"));
	nk_error_free(err);
}

static void test_read_and_refuse_writes(void **state)
{
	nk_host *h = NULL;
	nk_error *err = NULL;
	char *text = NULL;
	uint64_t v;

	make_4node_tree("21 20 12 10\n");
	assert_int_equal(nk_host_open(tree, &h, &err), 0);
	assert_false(nk_host_is_live(h));
	assert_int_equal(nk_host_read(h, "/sys/kernel/mm/ksm/run", &text, &err), 2);
	assert_string_equal(text, "1\n");
	free(text);
	assert_int_equal(nk_host_read_u64(h, "/sys/kernel/mm/ksm/pages_sharing", &v, &err), 0);
	assert_int_equal(v, 777);
	assert_int_equal(nk_host_read(h, "/sys/kernel/mm/ksm/smart_scan", &text, &err), -ENOENT);
	assert_non_null(strstr(nk_error_message(err), "smart_scan"));
	err = nk_error_free(err);
	assert_int_equal(nk_host_exists(h, "/sys/kernel/mm/ksm/run"), 1);
	assert_int_equal(nk_host_exists(h, "/sys/kernel/mm/ksm/nope"), 0);

	/* A non-numeric attribute is an error naming the file. */
	put("sys/kernel/mm/ksm/pages_to_scan", "lots\n");
	assert_int_equal(nk_host_read_u64(h, "/sys/kernel/mm/ksm/pages_to_scan", &v, &err),
			 -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "pages_to_scan"));
	err = nk_error_free(err);

	/* Writes are refused on a captured tree, and the file is untouched. */
	assert_int_equal(nk_host_write(h, "/sys/kernel/mm/ksm/run", "0", &err), -EROFS);
	assert_non_null(strstr(nk_error_message(err), "captured"));
	err = nk_error_free(err);
	assert_int_equal(nk_host_read(h, "/sys/kernel/mm/ksm/run", &text, NULL), 2);
	assert_string_equal(text, "1\n");
	free(text);
	assert_int_equal(nk_host_require_live(h, "bind memory", &err), -EROFS);
	assert_non_null(strstr(nk_error_message(err), "bind memory"));
	nk_error_free(err);
	nk_host_free(h);
}

static void test_read_large_files(void **state)
{
	nk_host *h = NULL;
	char *text = NULL;
	size_t big = 300000;
	char *content = malloc(big + 1);
	assert_non_null(content);
	for (size_t i = 0; i < big; i++)
		content[i] = (char)('a' + i % 26);
	content[big] = '\0';
	put("proc/big", content);
	assert_int_equal(nk_host_open(tree, &h, NULL), 0);
	assert_int_equal(nk_host_read(h, "/proc/big", &text, NULL), (int)big);
	assert_memory_equal(text, content, big);
	free(text);
	nk_host_free(h);
	free(content);

	/* Live procfs files report st_size 0: the read buffer has to grow
	 * until one read() returns less than it asked for. */
	assert_int_equal(nk_host_open("/", &h, NULL), 0);
	assert_true(nk_host_is_live(h));
	int n = nk_host_read(h, "/proc/self/smaps", &text, NULL);
	assert_true(n > 4096);
	assert_int_equal(strlen(text), (size_t)n);
	assert_non_null(strstr(text, "[stack]"));
	free(text);
	nk_host_free(h);
}

static void test_symlinks_stay_in_tree(void **state)
{
	nk_host *h = NULL;
	char link[512];
	char *text = NULL;

	put("sys/placeholder", "");
	snprintf(link, sizeof(link), "%s/sys/escape", tree);
	assert_int_equal(symlink("/etc/hostname", link), 0);
	assert_int_equal(nk_host_open(tree, &h, NULL), 0);
	/* Resolved inside the tree, where there is no etc/hostname. */
	assert_int_equal(nk_host_read(h, "/sys/escape", &text, NULL), -ENOENT);
	put("etc/hostname", "captured-host\n");
	assert_true(nk_host_read(h, "/sys/escape", &text, NULL) > 0);
	assert_string_equal(text, "captured-host\n");
	free(text);
	nk_host_free(h);
}

static void test_list_natural_order(void **state)
{
	nk_host *h = NULL;
	char **names = NULL;
	put("sys/devices/system/node/node10/x", "");
	put("sys/devices/system/node/node2/x", "");
	put("sys/devices/system/node/node1/x", "");
	put("sys/devices/system/node/online", "");
	assert_int_equal(nk_host_open(tree, &h, NULL), 0);
	assert_int_equal(nk_host_list(h, "/sys/devices/system/node", "node", &names, NULL), 3);
	assert_string_equal(names[0], "node1");
	assert_string_equal(names[1], "node2");
	assert_string_equal(names[2], "node10");
	assert_null(names[3]);
	nk_strv_free(names);
	assert_int_equal(nk_host_list(h, "/sys/nothing", NULL, &names, NULL), -ENOENT);
	nk_host_free(h);
}

static void test_hostinfo_4node(void **state)
{
	nk_host *h = NULL;
	struct nk_hostinfo *info = NULL;
	nk_error *err = NULL;

	make_4node_tree("21 20 12 10\n");
	assert_int_equal(nk_host_open(tree, &h, NULL), 0);
	if (nk_hostinfo_read(h, &info, &err) < 0)
		fail_msg("%s", nk_error_message(err));
	assert_int_equal(info->n_nodes, 4);
	assert_int_equal(nk_bitmap_weight(info->nodes[0].cpus), 2);
	assert_int_equal(nk_bitmap_weight(info->nodes[2].cpus), 0);
	assert_true(info->nodes[2].has_memory);
	assert_int_equal(info->nodes[3].mem_total_kb, 4096);
	assert_int_equal(info->nodes[3].mem_free_kb, 2048);
	/* distances are kept per row, in node order */
	assert_int_equal(info->nodes[0].distances[3], 21);
	assert_int_equal(info->nodes[2].distances[3], 12);
	assert_int_equal(info->nodes[1].hugepages[0].total, 16);
	assert_int_equal(info->nodes[3].hugepages[0].total, 0);
	assert_int_equal(info->n_hugepages, 1);
	assert_int_equal(info->hugepages[0].size_kb, 2048);
	assert_int_equal(info->hugepages[0].total, 56);
	assert_int_equal(info->hugepages[0].reserved, 2);
	assert_int_equal(info->default_hugepage_kb, 2048);
	assert_true(info->ksm_present);
	assert_int_equal(nk_ksm_get(&info->ksm, NK_KSM_RUN), 1);
	assert_true(nk_ksm_has(&info->ksm, NK_KSM_MERGE_ACROSS_NODES));
	assert_false(nk_ksm_has(&info->ksm, NK_KSM_ADVISOR_MODE));
	assert_false(nk_ksm_has(&info->ksm, NK_KSM_SMART_SCAN));
	assert_false(info->proc_ksm_stat);
	assert_int_equal(nk_ksm_get(&info->ksm, NK_KSM_PAGES_SHARING), 777);
	assert_string_equal(info->thp_enabled, "madvise");
	assert_null(info->thp_defrag);
	assert_int_equal(info->cgroup_mode, NK_CGROUP_V2);
	assert_string_equal(info->cgroup_v2_controllers[0], "cpuset");
	assert_string_equal(info->cgroup_v2_controllers[3], "hugetlb");
	assert_null(info->cgroup_v2_controllers[4]);
	assert_null(info->cgroup_v1_controllers[0]);
	assert_null(info->unread[0]);
	assert_ptr_equal(nk_hostinfo_node(info, 3), &info->nodes[3]);
	assert_null(nk_hostinfo_node(info, 4));
	nk_hostinfo_free(info);
	nk_host_free(h);
}

/* Whether some line of info->unread holds every one of the words. */
static bool unread_says(const struct nk_hostinfo *info, const char *a, const char *b)
{
	for (char **u = info->unread; *u; u++)
		if (strstr(*u, a) && (!b || strstr(*u, b)))
			return true;
	return false;
}

static struct nk_hostinfo *read_tree(nk_host *h)
{
	struct nk_hostinfo *info = NULL;
	nk_error *err = NULL;
	if (nk_hostinfo_read(h, &info, &err) < 0)
		fail_msg("%s", nk_error_message(err));
	return info;
}

static void test_hostinfo_malformed(void **state)
{
	/* A malformed node file leaves its fact unknown, and says so. */
	nk_host *h = NULL;
	struct nk_hostinfo *info;

	/* node3 lists three distances for four nodes */
	make_4node_tree("21 20 12\n");
	assert_int_equal(nk_host_open(tree, &h, NULL), 0);
	info = read_tree(h);
	assert_int_equal(info->n_nodes, 4);
	assert_null(info->nodes[3].distances);
	assert_int_equal(info->nodes[3].n_distances, 0);
	assert_int_equal(info->nodes[0].n_distances, 4);
	assert_true(unread_says(info, "node3/distance lists 3 distances for 4 nodes", "unknown"));
	info = nk_hostinfo_free(info);

	make_4node_tree("21 20 12 ten\n");
	info = read_tree(h);
	assert_null(info->nodes[3].distances);
	assert_true(unread_says(info, "node3/distance is malformed", NULL));
	info = nk_hostinfo_free(info);

	/* a malformed cpulist: cpumap says the same */
	make_4node_tree("21 20 12 10\n");
	put("sys/devices/system/node/node1/cpulist", "2-x\n");
	put("sys/devices/system/node/node1/cpumap", "0c\n");
	info = read_tree(h);
	assert_true(info->nodes[1].cpus_known);
	assert_true(nk_bitmap_test(info->nodes[1].cpus, 2) &&
		    nk_bitmap_test(info->nodes[1].cpus, 3));
	assert_int_equal(nk_bitmap_weight(info->nodes[1].cpus), 2);
	assert_true(unread_says(info, "node1/cpulist: malformed CPU list '2-x'", "cpumap"));
	info = nk_hostinfo_free(info);

	/* a pool with a malformed count is left out, the others stay; with no
	 * host-wide pool left, the nodes' sums stand in */
	make_4node_tree("21 20 12 10\n");
	put("sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "\n");
	put("sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "x\n");
	info = read_tree(h);
	assert_int_equal(info->nodes[0].n_hugepages, 1);
	assert_int_equal(info->nodes[1].n_hugepages, 0);
	assert_true(unread_says(info, "hugepages-2048kB/free_hugepages is malformed", "left out"));
	assert_true(unread_says(info, "node1/hugepages/hugepages-2048kB/nr_hugepages is malformed",
				"left out"));
	assert_true(info->hugepages_from_nodes);
	assert_int_equal(info->n_hugepages, 1);
	assert_int_equal(info->hugepages[0].total, 32 + 8);
	assert_true(unread_says(info, "has no pool that could be read", "sums"));
	info = nk_hostinfo_free(info);
	nk_host_free(h);
}

static void test_hostinfo_missing_node_files(void **state)
{
	/* The node list from the node directories, CPUs from cpumap, a
	 * missing meminfo or distance: each item unknown, never a failure. */
	nk_host *h = NULL;
	struct nk_hostinfo *info;

	make_4node_tree("21 20 12 10\n");
	drop("sys/devices/system/node/online");
	assert_int_equal(nk_host_open(tree, &h, NULL), 0);
	info = read_tree(h);
	assert_true(info->numa_sysfs);
	assert_int_equal(info->n_nodes, 4);
	assert_int_equal(info->nodes[3].id, 3);
	assert_int_equal(info->nodes[0].distances[3], 21);
	assert_true(unread_says(info, "node/online is missing", "directory (0-3)"));
	info = nk_hostinfo_free(info);

	/* cpumap alone, in 32-bit words, with CPUs above 31 */
	put("sys/devices/system/node/online", "0-3\n");
	drop("sys/devices/system/node/node1/cpulist");
	put("sys/devices/system/node/node1/cpumap", "00000001,0000000c\n");
	info = read_tree(h);
	assert_true(info->nodes[1].cpus_known);
	assert_int_equal(nk_bitmap_weight(info->nodes[1].cpus), 3);
	assert_true(nk_bitmap_test(info->nodes[1].cpus, 32));
	assert_false(unread_says(info, "node1", NULL));
	info = nk_hostinfo_free(info);

	/* neither: unknown */
	drop("sys/devices/system/node/node1/cpumap");
	drop("sys/devices/system/node/node2/meminfo");
	drop("sys/devices/system/node/node3/distance");
	info = read_tree(h);
	assert_false(info->nodes[1].cpus_known);
	assert_non_null(info->nodes[1].cpus);
	assert_int_equal(nk_bitmap_weight(info->nodes[1].cpus), 0);
	assert_true(unread_says(info, "node1/cpulist is missing and cpumap is missing", NULL));
	assert_false(info->nodes[2].memory_known);
	assert_true(info->nodes[0].memory_known);
	assert_true(unread_says(info, "node2/meminfo is missing", "memory is unknown"));
	assert_null(info->nodes[3].distances);
	assert_true(unread_says(info, "node3/distance is missing", NULL));
	info = nk_hostinfo_free(info);
	nk_host_free(h);
}

static void test_hostinfo_distance_rows(void **state)
{
	/* Node 2 offline: rows that list it (by node id) and rows that do not
	 * (online nodes only) give the same distances. */
	nk_host *h = NULL;
	struct nk_hostinfo *info;

	make_4node_tree("21 20 12 10\n");
	drop("sys/devices/system/node/node2");
	put("sys/devices/system/node/online", "0-1,3\n");
	put("sys/devices/system/node/has_memory", "0-1,3\n");
	assert_int_equal(nk_host_open(tree, &h, NULL), 0);
	for (int by_id = 0; by_id < 2; by_id++) {
		if (!by_id) {
			put("sys/devices/system/node/node0/distance", "10 12 21\n");
			put("sys/devices/system/node/node1/distance", "12 10 20\n");
			put("sys/devices/system/node/node3/distance", "21 20 10\n");
		} else {
			put("sys/devices/system/node/node0/distance", "10 12 20 21\n");
			put("sys/devices/system/node/node1/distance", "12 10 21 20\n");
			put("sys/devices/system/node/node3/distance", "21 20 12 10\n");
		}
		info = read_tree(h);
		assert_int_equal(info->n_nodes, 3);
		assert_int_equal(info->nodes[2].id, 3);
		for (size_t i = 0; i < 3; i++)
			assert_int_equal(info->nodes[i].n_distances, 3);
		assert_int_equal(info->nodes[0].distances[2], 21);
		assert_int_equal(info->nodes[2].distances[0], 21);
		assert_int_equal(info->nodes[2].distances[1], 20);
		assert_int_equal(info->nodes[2].distances[2], 10);
		assert_false(unread_says(info, "distance", NULL));
		info = nk_hostinfo_free(info);
	}
	nk_host_free(h);
}

static void test_hostinfo_pools_from_nodes(void **state)
{
	/* No /sys/kernel/mm/hugepages: the host's pools are the nodes' sums. */
	nk_host *h = NULL;
	struct nk_hostinfo *info;

	make_4node_tree("21 20 12 10\n");
	put("sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages", "2\n");
	put("sys/devices/system/node/node1/hugepages/hugepages-1048576kB/free_hugepages", "1\n");
	drop("sys/kernel/mm/hugepages");
	assert_int_equal(nk_host_open(tree, &h, NULL), 0);
	info = read_tree(h);
	assert_true(info->hugepages_from_nodes);
	assert_int_equal(info->n_hugepages, 2);
	assert_int_equal(info->hugepages[0].size_kb, 2048);
	assert_int_equal(info->hugepages[0].total, 32 + 16 + 8);
	assert_int_equal(info->hugepages[0].free, 32 + 16 + 8);
	assert_int_equal(info->hugepages[1].size_kb, 1048576);
	assert_int_equal(info->hugepages[1].total, 2);
	assert_int_equal(info->hugepages[1].free, 1);
	assert_true(unread_says(info, "/sys/kernel/mm/hugepages is missing", "sums"));
	info = nk_hostinfo_free(info);
	nk_host_free(h);
}

static void test_hostinfo_cgroups_degrade(void **state)
{
	nk_host *h = NULL;
	struct nk_hostinfo *info;

	/* v1 mounts, no /proc/cgroups: the controllers from the mount options */
	make_4node_tree("21 20 12 10\n");
	put("proc/self/mounts",
	    "cgroup /sys/fs/cgroup/cpuset cgroup rw,nosuid,cpuset 0 0\n"
	    "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0\n"
	    "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
	    "cgroup /sys/fs/cgroup/systemd cgroup rw,xattr,name=systemd 0 0\n");
	assert_int_equal(nk_host_open(tree, &h, NULL), 0);
	info = read_tree(h);
	assert_int_equal(info->cgroup_mode, NK_CGROUP_V1);
	assert_string_equal(info->cgroup_v1_controllers[0], "cpuset");
	assert_string_equal(info->cgroup_v1_controllers[1], "cpu");
	assert_string_equal(info->cgroup_v1_controllers[2], "cpuacct");
	assert_string_equal(info->cgroup_v1_controllers[3], "memory");
	assert_null(info->cgroup_v1_controllers[4]);
	assert_null(info->cgroup_v2_controllers[0]);
	info = nk_hostinfo_free(info);

	/* cgroup2 without its cgroup.controllers: what /proc/cgroups leaves it */
	put("proc/self/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n");
	put("proc/cgroups", "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
			    "cpuset\t0\t1\t1\nmemory\t0\t1\t1\nrdma\t0\t1\t0\n");
	drop("sys/fs/cgroup/cgroup.controllers");
	info = read_tree(h);
	assert_int_equal(info->cgroup_mode, NK_CGROUP_V2);
	assert_string_equal(info->cgroup_v2_controllers[0], "cpuset");
	assert_string_equal(info->cgroup_v2_controllers[1], "memory");
	assert_null(info->cgroup_v2_controllers[2]);
	assert_true(unread_says(info, "cgroup.controllers is missing", "/proc/cgroups"));
	info = nk_hostinfo_free(info);

	/* neither: unknown */
	drop("proc/cgroups");
	info = read_tree(h);
	assert_null(info->cgroup_v2_controllers);
	assert_non_null(info->cgroup_v1_controllers);
	assert_true(unread_says(info, "cgroup.controllers is missing", "unknown"));
	info = nk_hostinfo_free(info);

	/* the legacy cpuset filesystem at /dev/cpuset */
	put("proc/self/mounts",
	    "cpuset /dev/cpuset cpuset rw,relatime,cpuset,noprefix,release_agent=/sbin/x 0 0\n");
	info = read_tree(h);
	assert_int_equal(info->cgroup_mode, NK_CGROUP_V1);
	assert_string_equal(info->cgroup_cpuset_legacy_path, "/dev/cpuset");
	assert_null(info->cgroup_v1_controllers[0]);
	assert_null(info->cgroup_v2_path);
	info = nk_hostinfo_free(info);

	/* no mount table: the mounts unknown, cgroup2 where its root file is */
	put("sys/fs/cgroup/cgroup.controllers", "cpuset memory\n");
	drop("proc/self/mounts");
	info = read_tree(h);
	assert_int_equal(info->cgroup_mode, NK_CGROUP_UNKNOWN);
	assert_string_equal(nk_cgroup_mode_name(info->cgroup_mode), "unknown");
	assert_null(info->cgroup_v1_controllers);
	assert_string_equal(info->cgroup_v2_path, "/sys/fs/cgroup");
	assert_string_equal(info->cgroup_v2_controllers[1], "memory");
	assert_true(unread_says(info, "/proc/self/mounts is missing", "unknown"));
	info = nk_hostinfo_free(info);
	nk_host_free(h);
}

static void test_nearest_cpus_unknown_distances(void **state)
{
	/* Memory-only node 2 without distances: no node is known to be nearer,
	 * so the CPUs of every node that has some. */
	nk_host *h = NULL;
	struct nk_hostinfo *info;
	nk_bitmap *nodes = nk_bitmap_new(), *cpus = NULL;

	make_4node_tree("21 20 12 10\n");
	drop("sys/devices/system/node/node2/distance");
	assert_int_equal(nk_host_open(tree, &h, NULL), 0);
	info = read_tree(h);
	assert_int_equal(nk_bitmap_set(nodes, 2), 0);
	assert_int_equal(nk_hostinfo_nearest_cpus(info, nodes, NULL, &cpus), 0);
	assert_int_equal(nk_bitmap_weight(cpus), 4);
	nk_bitmap_free(cpus);
	nk_bitmap_free(nodes);
	nk_hostinfo_free(info);
	nk_host_free(h);
}

static void test_hostinfo_bare_kernel(void **state)
{
	/* No NUMA, KSM, THP, hugetlb or cgroups: everything is "absent", nothing fails. */
	nk_host *h = NULL;
	struct nk_hostinfo *info = NULL;
	put("proc/meminfo", "MemTotal: 1024 kB\n");
	put("proc/self/mounts", "proc /proc proc rw 0 0\n");
	assert_int_equal(nk_host_open(tree, &h, NULL), 0);
	assert_int_equal(nk_hostinfo_read(h, &info, NULL), 0);
	assert_false(info->numa_sysfs);
	assert_int_equal(info->n_nodes, 0);
	assert_false(info->ksm_present);
	assert_int_equal(info->ksm.mask, 0);
	assert_null(info->thp_enabled);
	assert_int_equal(info->n_hugepages, 0);
	assert_int_equal(info->cgroup_mode, NK_CGROUP_NONE);
	assert_null(info->cgroup_v1_controllers[0]);
	assert_null(info->unread[0]);
	nk_hostinfo_free(info);
	nk_host_free(h);
}

static void test_cgroup_mounts(void **state)
{
	struct nk_cgroup_mounts m;
	static const char hybrid[] =
	    "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
	    "cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0\n"
	    "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
	    "cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0\n"
	    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";
	assert_int_equal(nk_parse_cgroup_mounts(hybrid, &m), 0);
	assert_int_equal(m.mode, NK_CGROUP_HYBRID);
	assert_string_equal(m.v2_path, "/sys/fs/cgroup/unified");
	nk_cgroup_mounts_done(&m);

	assert_int_equal(nk_parse_cgroup_mounts("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n", &m), 0);
	assert_int_equal(m.mode, NK_CGROUP_V2);
	nk_cgroup_mounts_done(&m);

	assert_int_equal(
	    nk_parse_cgroup_mounts("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu,cpuacct 0 0\n", &m), 0);
	assert_int_equal(m.mode, NK_CGROUP_V1);
	assert_null(m.v2_path);
	nk_cgroup_mounts_done(&m);

	assert_int_equal(nk_parse_cgroup_mounts("proc /proc proc rw 0 0\nbroken line\n", &m), 0);
	assert_int_equal(m.mode, NK_CGROUP_NONE);
	nk_cgroup_mounts_done(&m);

	/* the legacy cpuset hierarchy: the cpuset type, or v1 with noprefix */
	assert_int_equal(
	    nk_parse_cgroup_mounts("none /dev/cpuset cpuset rw,cpuset,noprefix 0 0\n"
				   "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n",
				   &m),
	    0);
	assert_int_equal(m.mode, NK_CGROUP_V1);
	assert_string_equal(m.cpuset_legacy_path, "/dev/cpuset");
	assert_string_equal(m.v1_options[1], "memory");
	assert_null(m.v1_options[2]);
	nk_cgroup_mounts_done(&m);
	assert_int_equal(nk_parse_cgroup_mounts(
			     "cgroup /dev/cpuset cgroup rw,relatime,cpuset,noprefix 0 0\n", &m),
			 0);
	assert_int_equal(m.mode, NK_CGROUP_V1);
	assert_string_equal(m.cpuset_legacy_path, "/dev/cpuset");
	assert_null(m.v1_options);
	nk_cgroup_mounts_done(&m);

	/* escaped mount points */
	assert_int_equal(nk_parse_cgroup_mounts("none /mnt/my\\040cg cgroup2 rw 0 0\n", &m), 0);
	assert_int_equal(m.mode, NK_CGROUP_V2);
	assert_string_equal(m.v2_path, "/mnt/my cg");
	nk_cgroup_mounts_done(&m);
}

static void test_proc_cgroups_and_cpuinfo(void **state)
{
	char **names = NULL;
	static const char cg[] = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
				 "cpuset\t3\t1\t1\nmemory\t4\t1\t1\nrdma\t0\t1\t0\n";
	assert_int_equal(nk_parse_proc_cgroups(cg, false, &names), 2);
	assert_string_equal(names[0], "cpuset");
	assert_string_equal(names[1], "memory");
	nk_strv_free(names);
	assert_int_equal(nk_parse_proc_cgroups("cpuset x\n", false, &names), -EINVAL);
	/* bound to no v1 hierarchy: hierarchy 0, enabled */
	static const char cg2[] = "cpuset\t3\t1\t1\nmemory\t0\t1\t1\nrdma\t0\t1\t0\n";
	assert_int_equal(nk_parse_proc_cgroups(cg2, true, &names), 1);
	assert_string_equal(names[0], "memory");
	nk_strv_free(names);

	static const char ci[] = "processor\t: 0\nflags\t\t: fpu vme pse pdpe1gb rdtscp lm\n";
	assert_true(nk_cpuinfo_has_flag(ci, "pdpe1gb"));
	assert_true(nk_cpuinfo_has_flag(ci, "fpu"));
	assert_true(nk_cpuinfo_has_flag(ci, "lm"));
	assert_false(nk_cpuinfo_has_flag(ci, "pdpe1"));
	assert_false(nk_cpuinfo_has_flag(ci, "pse36"));
	assert_false(nk_cpuinfo_has_flag("processor: 0\n", "fpu"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_and_refuse_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_large_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlinks_stay_in_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_natural_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostinfo_4node, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostinfo_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostinfo_bare_kernel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostinfo_missing_node_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostinfo_distance_rows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostinfo_pools_from_nodes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostinfo_cgroups_degrade, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nearest_cpus_unknown_distances, setup, teardown),
	    cmocka_unit_test(test_cgroup_mounts),
	    cmocka_unit_test(test_proc_cgroups_and_cpuinfo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
