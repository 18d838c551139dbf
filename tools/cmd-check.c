/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm check: host readiness for dense, NUMA-placed VMs, in the spirit
 * of virt-host-validate.  One line per item with PASS/WARN/FAIL/INFO and a
 * hint; --json gives the same items plus the facts behind them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <numaksm/hostinfo.h>

#include "json.h"
#include "tool.h"

enum status { ST_PASS, ST_WARN, ST_FAIL, ST_INFO };
static const char *const status_names[] = {"PASS", "WARN", "FAIL", "INFO"};

struct item {
	char *id;
	enum status status;
	char *message;
	char *hint;
};

struct report {
	struct item *items;
	size_t n;
	unsigned counts[4];
};

static void __attribute__((format(printf, 5, 6)))
add(struct report *rep, const char *id, enum status st, const char *hint, const char *fmt, ...)
{
	va_list ap;
	struct item *items = realloc(rep->items, (rep->n + 1) * sizeof(*items));
	if (!items)
		abort();
	rep->items = items;
	struct item *it = &items[rep->n++];
	it->id = strdup(id);
	it->status = st;
	it->hint = hint ? strdup(hint) : NULL;
	va_start(ap, fmt);
	if (vasprintf(&it->message, fmt, ap) < 0)
		abort();
	va_end(ap);
	rep->counts[st]++;
}

static void report_free(struct report *rep)
{
	for (size_t i = 0; i < rep->n; i++) {
		free(rep->items[i].id);
		free(rep->items[i].message);
		free(rep->items[i].hint);
	}
	free(rep->items);
}

static char *list_text(const nk_bitmap *b)
{
	char *s = NULL;
	if (nk_bitmap_format(b, &s) < 0)
		abort();
	return s;
}

static char *strv_join(char **v)
{
	size_t len = 1;
	for (char **p = v; p && *p; p++)
		len += strlen(*p) + 1;
	char *s = calloc(1, len);
	if (!s)
		abort();
	for (char **p = v; p && *p; p++) {
		if (p != v)
			strcat(s, ",");
		strcat(s, *p);
	}
	return s;
}

static bool strv_has(char **v, const char *s)
{
	for (; v && *v; v++)
		if (strcmp(*v, s) == 0)
			return true;
	return false;
}

struct probes {
	bool live;
	bool kvm_ok;
	struct nk_kvm_probe kvm;
	int populate_write; /* 1, 0, or <0 not probed */
	int memfd_hugetlb;
	bool priv_ok;
	struct nk_privileges priv;
};

static void check_kvm(struct report *rep, const struct probes *p)
{
	if (!p->live) {
		add(rep, "kvm", ST_INFO, NULL, "/dev/kvm not probed (captured host tree)");
		return;
	}
	if (!p->kvm_ok) {
		add(rep, "kvm", ST_FAIL, NULL, "/dev/kvm could not be probed");
	} else if (!p->kvm.present) {
		add(rep, "kvm", ST_FAIL,
		    "load the KVM module (modprobe kvm_intel or kvm_amd) and enable "
		    "virtualization in the firmware",
		    "/dev/kvm is missing");
	} else if (p->kvm.api_version < 0) {
		add(rep, "kvm", ST_FAIL,
		    p->kvm.open_errno == EACCES ? "run as root or join the 'kvm' group" : NULL,
		    "/dev/kvm cannot be opened: %s", strerror(p->kvm.open_errno));
	} else if (!p->kvm.usable) {
		add(rep, "kvm", ST_FAIL, "this KVM speaks an API version numaksm does not know",
		    "/dev/kvm answers API version %d, expected 12", p->kvm.api_version);
	} else {
		add(rep, "kvm", ST_PASS, NULL, "/dev/kvm usable (API version %d, up to %d vCPUs)",
		    p->kvm.api_version, p->kvm.max_vcpus);
	}
}

/* The KSM knobs whose presence depends on the kernel version. */
static const enum nk_ksm_field newer_knobs[] = {
    NK_KSM_ADVISOR_MODE,       NK_KSM_SMART_SCAN,	NK_KSM_USE_ZERO_PAGES,
    NK_KSM_MERGE_ACROSS_NODES, NK_KSM_MAX_PAGE_SHARING, NK_KSM_GENERAL_PROFIT,
};

/*
 * NUMA balancing samples memory under the default policy by mapping its
 * idle pages PROT_NONE.  On Linux 6.1 (measured in numaksm's NUMA lab) KSM
 * then merged none of a Linux guest's pages: one such page in KSM's
 * unstable tree keeps every page compared with it out of the tree.
 */
static void check_ksm_numa_balancing(struct report *rep, const struct nk_hostinfo *h)
{
	unsigned memory_nodes = 0;
	for (size_t i = 0; i < h->n_nodes; i++)
		memory_nodes += h->nodes[i].has_memory;
	if (memory_nodes < 2 || h->numa_balancing < 0 || !(h->numa_balancing & 1))
		return;
	add(rep, "ksm.numa_balancing", ST_WARN,
	    "bind guest RAM to nodes (numaksm-vmm binds its mergeable zones; QEMU: "
	    "memory-backend policy=bind; libvirt: <numatune>), or sysctl "
	    "kernel.numa_balancing=0",
	    "NUMA balancing is on: guest RAM left to the default policy is sampled "
	    "PROT_NONE, and on Linux 6.1 KSM merged none of it");
}

static void check_ksm(struct report *rep, const struct nk_hostinfo *h)
{
	const struct nk_ksm *k = &h->ksm;

	if (!h->ksm_present) {
		add(rep, "ksm", ST_WARN,
		    "identical guest pages cannot be merged; build the "
		    "kernel with CONFIG_KSM=y",
		    "KSM is not available (/sys/kernel/mm/ksm missing)");
		return;
	}
	add(rep, "ksm", ST_PASS, NULL,
	    "KSM present, %s (run=%" PRIu64 "), %" PRIu64 " pages sharing",
	    tool_ksm_state(nk_ksm_get(k, NK_KSM_RUN)), nk_ksm_get(k, NK_KSM_RUN),
	    nk_ksm_get(k, NK_KSM_PAGES_SHARING));

	char have[256] = "", missing[256] = "";
	for (size_t i = 0; i < sizeof(newer_knobs) / sizeof(newer_knobs[0]); i++) {
		char *dst = nk_ksm_has(k, newer_knobs[i]) ? have : missing;
		if (*dst)
			strcat(dst, " ");
		strcat(dst, nk_ksm_field(newer_knobs[i])->name);
	}
	if (*missing)
		add(rep, "ksm.knobs", ST_INFO,
		    "newer kernels add these knobs; the tuner works without",
		    "KSM knobs: %s; missing: %s", *have ? have : "none", missing);
	else
		add(rep, "ksm.knobs", ST_INFO, NULL, "KSM knobs: %s", have);
	check_ksm_numa_balancing(rep, h);
	if (h->proc_ksm_stat)
		add(rep, "ksm.per_process", ST_PASS, NULL,
		    "/proc/PID/ksm_stat present: KSM savings can be measured per VM");
	else
		add(rep, "ksm.per_process", ST_WARN,
		    "per-VM KSM accounting needs Linux 6.1 or later",
		    "/proc/PID/ksm_stat missing: KSM savings cannot be measured per VM");
}

static void check_thp(struct report *rep, const struct nk_hostinfo *h)
{
	if (!h->thp_enabled) {
		add(rep, "thp", ST_INFO, NULL, "transparent hugepages not available");
		return;
	}
	if (strcmp(h->thp_enabled, "never") == 0)
		add(rep, "thp", ST_WARN,
		    "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled lets 4K zones "
		    "ask for THP",
		    "THP enabled=never defrag=%s: 4K/THP zones get no huge pages",
		    h->thp_defrag ? h->thp_defrag : "?");
	else
		add(rep, "thp", ST_INFO, NULL, "THP enabled=%s defrag=%s", h->thp_enabled,
		    h->thp_defrag ? h->thp_defrag : "?");
}

/* The nodes' CPU sets overlap: the CPUs claimed by more than one node, and
 * those nodes, into *ret_cpus and *ret_nodes (NULL when none overlap). */
static void overlapping_cpus(const struct nk_hostinfo *h, nk_bitmap **ret_cpus,
			     nk_bitmap **ret_nodes)
{
	nk_bitmap *seen = nk_bitmap_new(), *twice = nk_bitmap_new(), *nodes = nk_bitmap_new();
	if (!seen || !twice || !nodes)
		abort();
	for (size_t i = 0; i < h->n_nodes; i++)
		nk_bitmap_foreach (cpu, h->nodes[i].cpus) {
			if (nk_bitmap_test(seen, (unsigned)cpu) &&
			    nk_bitmap_set(twice, (unsigned)cpu) < 0)
				abort();
			if (nk_bitmap_set(seen, (unsigned)cpu) < 0)
				abort();
		}
	for (size_t i = 0; i < h->n_nodes; i++)
		nk_bitmap_foreach (cpu, h->nodes[i].cpus)
			if (nk_bitmap_test(twice, (unsigned)cpu) &&
			    nk_bitmap_set(nodes, (unsigned)h->nodes[i].id) < 0)
				abort();
	nk_bitmap_free(seen);
	if (!nk_bitmap_weight(twice)) {
		twice = nk_bitmap_free(twice);
		nodes = nk_bitmap_free(nodes);
	}
	*ret_cpus = twice;
	*ret_nodes = nodes;
}

static void check_distances(struct report *rep, const struct nk_hostinfo *h)
{
	char *text = NULL;
	size_t len = 0, unknown = 0, flat = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		abort();
	for (size_t i = 0; i < h->n_nodes; i++) {
		const struct nk_numa_node *n = &h->nodes[i];
		fprintf(f, "%s", i ? " | " : "");
		if (!n->distances) {
			fprintf(f, "node %d unknown", n->id);
			unknown++;
			continue;
		}
		bool same = true;
		for (size_t j = 0; j < n->n_distances; j++) {
			fprintf(f, "%s%" PRIu64, j ? " " : "", n->distances[j]);
			same &= n->distances[j] == n->distances[0];
		}
		flat += same;
	}
	fclose(f);
	if (flat >= 2)
		add(rep, "numa.distances", ST_WARN,
		    "the firmware's distance table (SLIT) is flat: placement cannot tell near "
		    "nodes from far ones, so spilling to another node and the CPUs chosen next to "
		    "a "
		    "memory-only node ignore what remote memory costs; fix the table in the "
		    "firmware (or the VM's definition)",
		    "distances: %s; %zu nodes are as near to every other node as to themselves",
		    text, flat);
	else if (unknown)
		add(rep, "numa.distances", ST_WARN,
		    "the nodes nearest to one without distances are taken to be all alike",
		    "distances: %s (%zu of %zu nodes unknown: see 'files')", text, unknown,
		    h->n_nodes);
	else
		add(rep, "numa.distances", ST_INFO, NULL, "distances: %s", text);
	free(text);
}

static void check_numa(struct report *rep, const struct nk_hostinfo *h)
{
	char buf[64], buf2[64], id[32];

	if (!h->numa_sysfs) {
		add(rep, "numa", ST_WARN,
		    "a kernel built with CONFIG_NUMA=y is needed to place memory",
		    "no NUMA information (/sys/devices/system/node missing)");
		return;
	}
	if (h->n_nodes == 0) {
		add(rep, "numa", ST_WARN, NULL,
		    "no NUMA node listed under /sys/devices/system/node: memory cannot be placed "
		    "by node");
		return;
	}
	unsigned mem_only = 0;
	bool all_memory_known = true;
	uint64_t node_total_kb = 0;
	for (size_t i = 0; i < h->n_nodes; i++) {
		if (h->nodes[i].cpus_known && nk_bitmap_weight(h->nodes[i].cpus) == 0)
			mem_only++;
		all_memory_known &= h->nodes[i].memory_known;
		node_total_kb += h->nodes[i].mem_total_kb;
	}
	add(rep, "numa", ST_INFO, NULL, "%zu NUMA node%s%s", h->n_nodes, h->n_nodes == 1 ? "" : "s",
	    mem_only ? ", some memory-only" : "");
	for (size_t i = 0; i < h->n_nodes; i++) {
		const struct nk_numa_node *n = &h->nodes[i];
		char *cpus = list_text(n->cpus), *what = NULL, *memory = NULL;
		snprintf(id, sizeof(id), "numa.node%d", n->id);
		if (!n->cpus_known)
			what = strdup("CPUs unknown");
		else if (!*cpus)
			what = strdup("memory-only");
		else if (asprintf(&what, "CPUs %s", cpus) < 0)
			what = NULL;
		if (!n->memory_known)
			memory = strdup("memory unknown");
		else if (asprintf(&memory, "%s (%s free)",
				  nk_format_bytes(buf, sizeof(buf), n->mem_total_kb * 1024),
				  nk_format_bytes(buf2, sizeof(buf2), n->mem_free_kb * 1024)) < 0)
			memory = NULL;
		if (!what || !memory)
			abort();
		bool known = n->cpus_known && n->memory_known;
		add(rep, id, known ? ST_INFO : ST_WARN,
		    known ? NULL : "see 'files' for what is missing", "node %d: %s, %s", n->id,
		    what, memory);
		free(what);
		free(memory);
		free(cpus);
	}
	nk_bitmap *twice, *nodes;
	overlapping_cpus(h, &twice, &nodes);
	if (twice) {
		char *cpus = list_text(twice), *ids = list_text(nodes);
		add(rep, "numa.cpus", ST_WARN,
		    "the firmware's NUMA tables (SRAT) give these CPUs to several nodes, so their "
		    "node is ambiguous: vCPUs pinned next to one of these nodes may run on "
		    "another, "
		    "far from their memory; fix the tables in the firmware (or the VM's "
		    "definition)",
		    "CPUs %s belong to more than one node (nodes %s)", cpus, ids);
		free(cpus);
		free(ids);
		nk_bitmap_free(twice);
		nk_bitmap_free(nodes);
	}
	if (h->n_nodes > 1)
		check_distances(rep, h);
	/* Per-node MemTotal can miss hot-added memory: say so rather than
	 * trusting either number alone. */
	if (all_memory_known && h->mem_total_kb && node_total_kb * 10 < h->mem_total_kb * 9)
		add(rep, "numa.meminfo", ST_WARN,
		    "per-node totals undercount (hot-added memory?); numaksm checks allocations "
		    "by their result, not by these totals",
		    "per-node MemTotal sums to %s but /proc/meminfo says %s",
		    nk_format_bytes(buf, sizeof(buf), node_total_kb * 1024),
		    nk_format_bytes(buf2, sizeof(buf2), h->mem_total_kb * 1024));
}

/* "node0 32/32, node1 16/16": a pool of `size_kb` on each node that has one. */
static char *pool_per_node(const struct nk_hostinfo *h, uint64_t size_kb)
{
	char *text = NULL;
	size_t len = 0, shown = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		abort();
	for (size_t n = 0; n < h->n_nodes; n++)
		for (size_t k = 0; k < h->nodes[n].n_hugepages; k++)
			if (h->nodes[n].hugepages[k].size_kb == size_kb)
				fprintf(f, "%snode%d %" PRIu64 "/%" PRIu64, shown++ ? ", " : "",
					h->nodes[n].id, h->nodes[n].hugepages[k].free,
					h->nodes[n].hugepages[k].total);
	fclose(f);
	return text;
}

static void check_hugepages(struct report *rep, const struct nk_hostinfo *h)
{
	char id[64], size[32];
	bool any = false, has_1g = false;

	for (size_t i = 0; i < h->n_hugepages; i++) {
		const struct nk_hugepage_pool *p = &h->hugepages[i];
		char *per_node = pool_per_node(h, p->size_kb);
		nk_format_bytes(size, sizeof(size), p->size_kb * 1024);
		snprintf(id, sizeof(id), "hugepages.%" PRIu64 "kB", p->size_kb);
		if (p->size_kb == 1048576)
			has_1g = true;
		if (p->total) {
			any = true;
			add(rep, id, ST_PASS, NULL,
			    "%s pages: %" PRIu64 " total, %" PRIu64 " free%s%s%s%s", size, p->total,
			    p->free, h->hugepages_from_nodes ? ", the nodes' sums" : "",
			    *per_node ? " (free/total per node: " : "", per_node,
			    *per_node ? ")" : "");
		} else {
			char hint[256];
			/* The size as --size takes it: 64K, 2M, 1G. */
			uint64_t n = p->size_kb;
			const char *unit = "K";
			if (n % 1048576 == 0) {
				n /= 1048576;
				unit = "G";
			} else if (n % 1024 == 0) {
				n /= 1024;
				unit = "M";
			}
			snprintf(
			    hint, sizeof(hint),
			    "reserve per node: numaksm hugepages reserve --node N --size %" PRIu64
			    "%s --count C",
			    n, unit);
			add(rep, id, ST_INFO, hint, "%s pages: none reserved", size);
		}
		free(per_node);
	}
	if (h->n_hugepages == 0)
		add(rep, "hugepages", ST_WARN, "build the kernel with CONFIG_HUGETLBFS=y",
		    "no hugetlb page sizes offered by this kernel");
	else if (!any)
		add(rep, "hugepages", ST_WARN,
		    "hugetlb zones will fail until pages are reserved (see the hints above)",
		    "no hugepages reserved in any size");
	if (!has_1g)
		add(rep, "hugepages.1GiB", ST_INFO,
		    h->cpu_has_pdpe1gb ? "boot with hugepagesz=1G to offer 1 GiB pages" : NULL,
		    "1 GiB pages not offered%s",
		    h->cpu_has_pdpe1gb ? "" : ": the CPU lacks the pdpe1gb flag");
}

/* Whether a controller is mounted: 1, 0, or -1 when the lists that would
 * tell are unknown. */
static int controller_mounted(const struct nk_hostinfo *h, const char *name)
{
	if (strv_has(h->cgroup_v1_controllers, name) || strv_has(h->cgroup_v2_controllers, name))
		return 1;
	bool v2_known =
	    h->cgroup_v2_controllers || (!h->cgroup_v2_path && h->cgroup_mode != NK_CGROUP_UNKNOWN);
	return h->cgroup_v1_controllers && v2_known ? 0 : -1;
}

static void check_cgroup(struct report *rep, const struct nk_hostinfo *h)
{
	static const char *const needed[] = {"cpuset", "memory"};
	char *v1 = strv_join(h->cgroup_v1_controllers);
	char *v2 = strv_join(h->cgroup_v2_controllers);
	char legacy[600] = "";
	const char *v2_text =
	    h->cgroup_v2_controllers ? (*v2 ? v2 : "no controllers") : "controllers unknown";

	if (h->cgroup_cpuset_legacy_path)
		snprintf(legacy, sizeof(legacy), "; the legacy cpuset filesystem at %s",
			 h->cgroup_cpuset_legacy_path);
	switch (h->cgroup_mode) {
	case NK_CGROUP_NONE:
		add(rep, "cgroup", ST_WARN, "mount cgroup2 at /sys/fs/cgroup",
		    "no cgroup filesystem mounted");
		break;
	case NK_CGROUP_UNKNOWN:
		if (h->cgroup_v2_path)
			add(rep, "cgroup", ST_WARN, "see 'files' for what is missing",
			    "cgroup mounts unknown; cgroup2 at %s (it holds cgroup.controllers) "
			    "with %s",
			    h->cgroup_v2_path, v2_text);
		else
			add(rep, "cgroup", ST_WARN, "see 'files' for what is missing",
			    "cgroup mounts unknown");
		break;
	case NK_CGROUP_V1:
		add(rep, "cgroup", ST_PASS, NULL, "cgroup v1 (legacy); controllers: %s%s",
		    *v1 ? v1 : "none", legacy);
		break;
	case NK_CGROUP_HYBRID:
		add(rep, "cgroup", ST_PASS, NULL,
		    "cgroup hybrid: v1 controllers %s%s; cgroup2 at %s with %s", *v1 ? v1 : "none",
		    legacy, h->cgroup_v2_path, v2_text);
		break;
	case NK_CGROUP_V2:
		add(rep, "cgroup", ST_PASS, NULL, "cgroup v2 at %s; controllers: %s%s",
		    h->cgroup_v2_path, h->cgroup_v2_controllers ? (*v2 ? v2 : "none") : "unknown",
		    legacy);
		break;
	}
	if (h->cgroup_mode != NK_CGROUP_NONE) {
		char missing[64] = "", unknown[64] = "";
		for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
			int m = controller_mounted(h, needed[i]);
			char *list = m == 0 ? missing : m < 0 ? unknown : NULL;
			if (list)
				snprintf(list + strlen(list), 64 - strlen(list), " %s", needed[i]);
		}
		bool legacy_only = h->cgroup_cpuset_legacy_path && strstr(missing, " cpuset");
		if (*missing)
			add(rep, "cgroup.controllers", ST_WARN,
			    "enable the cpuset and memory controllers to confine VMs to nodes",
			    "cgroup controllers missing:%s%s%s%s", missing,
			    legacy_only
				? " (cpuset is there only as the legacy cpuset filesystem at "
				: "",
			    legacy_only ? h->cgroup_cpuset_legacy_path : "",
			    legacy_only ? ", which numaksm place does not use)" : "");
		if (*unknown)
			add(rep, "cgroup.controllers", ST_WARN,
			    "numaksm place needs the cpuset and memory controllers; see 'files' "
			    "for what is missing",
			    "cgroup controllers unknown:%s", unknown);
	}
	free(v1);
	free(v2);
}

/* The files a fact needs that were missing or malformed, and what each left. */
static void check_files(struct report *rep, const struct nk_hostinfo *h, bool live)
{
	char *text = NULL;
	size_t n = 0, len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		abort();
	for (; h->unread[n]; n++)
		fprintf(f, "%s%s", n ? "; " : "", h->unread[n]);
	fclose(f);
	if (!n) {
		free(text);
		return;
	}
	add(rep, "files", ST_WARN,
	    live ? "this kernel lacks them or words them otherwise; what they tell is reported as "
		   "said"
		 : "what they tell is reported as said; capture the tree again with "
		   "tests/fixtures/gather-host-tree to have them",
	    "%zu host file%s missing or malformed: %s", n, n == 1 ? "" : "s", text);
	free(text);
}

static void check_features(struct report *rep, const struct probes *p)
{
	if (!p->live) {
		add(rep, "features", ST_INFO, NULL,
		    "MADV_POPULATE_WRITE and memfd hugetlb not probed (captured host tree)");
		add(rep, "privileges", ST_INFO, NULL, "privileges not probed (captured host tree)");
		return;
	}
	if (p->populate_write == 1)
		add(rep, "features.populate_write", ST_PASS, NULL,
		    "MADV_POPULATE_WRITE supported: prefault reports pool shortages as errors");
	else
		add(rep, "features.populate_write", ST_WARN,
		    "Linux 5.14+ prefaults without the risk of SIGBUS",
		    "MADV_POPULATE_WRITE not supported: prefault falls back to touching pages");
	if (p->memfd_hugetlb == 1)
		add(rep, "features.memfd_hugetlb", ST_PASS, NULL,
		    "memfd_create(MFD_HUGETLB) supported");
	else
		add(rep, "features.memfd_hugetlb", ST_WARN,
		    "hugetlb zones fall back to anonymous MAP_HUGETLB (no fd to share)",
		    "memfd_create(MFD_HUGETLB) not supported");
	if (!p->priv_ok)
		add(rep, "privileges", ST_WARN, NULL, "privileges could not be read");
	else if (p->priv.cap_sys_admin && p->priv.cap_sys_nice && p->priv.cap_ipc_lock)
		add(rep, "privileges", ST_PASS, NULL,
		    "uid %u with CAP_SYS_ADMIN, CAP_SYS_NICE and CAP_IPC_LOCK", p->priv.euid);
	else
		add(rep, "privileges", ST_WARN,
		    "run as root to tune KSM, reserve hugepages, move pages and manage cgroups",
		    "uid %u lacks%s%s%s: reporting works, changing the host does not", p->priv.euid,
		    p->priv.cap_sys_admin ? "" : " CAP_SYS_ADMIN",
		    p->priv.cap_sys_nice ? "" : " CAP_SYS_NICE",
		    p->priv.cap_ipc_lock ? "" : " CAP_IPC_LOCK");
}

/* ---- JSON ---------------------------------------------------------- */

/* A list, or null when it is not known (NULL). */
static json_object *json_strv(char **v)
{
	if (!v)
		return NULL;
	json_object *a = json_object_new_array();
	for (; v && *v; v++)
		json_object_array_add(a, json_object_new_string(*v));
	return a;
}

static json_object *json_bool_or_null(bool known, bool value)
{
	return known ? json_object_new_boolean(value) : NULL;
}

static json_object *json_host(nk_host *host, const struct nk_hostinfo *h, const struct probes *p)
{
	json_object *o = json_object_new_object(), *host_o = json_object_new_object();
	struct tool_ksm_facts ksm;
	bool kvm = p->live && p->kvm_ok, opened = kvm && p->kvm.api_version >= 0;

	json_object_object_add(o, "probed", json_object_new_boolean(kvm));
	json_object_object_add(o, "present", json_bool_or_null(kvm, p->kvm.present));
	json_object_object_add(o, "usable", json_bool_or_null(kvm, p->kvm.usable));
	json_object_object_add(o, "api_version",
			       opened ? json_object_new_int(p->kvm.api_version) : NULL);
	json_object_object_add(
	    o, "max_vcpu_count",
	    opened && p->kvm.max_vcpus > 0 ? json_object_new_int(p->kvm.max_vcpus) : NULL);
	json_object_object_add(host_o, "kvm", o);

	tool_ksm_facts(host, &h->ksm, h->ksm_present, &ksm);
	if (h->ksm_present)
		ksm.proc_ksm_stat = h->proc_ksm_stat;
	json_object_object_add(host_o, "ksm", tool_json_ksm(&ksm));
	json_object_object_add(host_o, "thp", tool_json_thp(h));

	nk_bitmap *memonly = nk_bitmap_new();
	for (size_t i = 0; memonly && i < h->n_nodes; i++)
		if (h->nodes[i].has_memory && h->nodes[i].cpus_known &&
		    !nk_bitmap_weight(h->nodes[i].cpus))
			nk_bitmap_set(memonly, (unsigned)h->nodes[i].id);
	o = json_object_new_object();
	json_object_object_add(o, "available", json_object_new_boolean(h->numa_sysfs));
	json_object_object_add(o, "node_count", tool_json_u64(h->n_nodes));
	json_object_object_add(o, "memory_total_bytes", tool_json_u64(h->mem_total_kb * 1024));
	json_object_object_add(o, "memory_only_nodes", tool_json_list(memonly));
	json_object_object_add(o, "numa_nodes", tool_json_numa_nodes(h));
	json_object_object_add(host_o, "numa", o);
	nk_bitmap_free(memonly);

	json_object_object_add(host_o, "hugepage_pools", tool_json_hugepage_pools(h));

	o = json_object_new_object();
	json_object_object_add(o, "mode",
			       h->cgroup_mode == NK_CGROUP_UNKNOWN
				   ? NULL
				   : json_object_new_string(nk_cgroup_mode_name(h->cgroup_mode)));
	json_object_object_add(o, "v2_path", tool_json_name(h->cgroup_v2_path));
	json_object_object_add(o, "cpuset_legacy_path",
			       tool_json_name(h->cgroup_cpuset_legacy_path));
	json_object_object_add(o, "v1_controllers", json_strv(h->cgroup_v1_controllers));
	json_object_object_add(o, "v2_controllers", json_strv(h->cgroup_v2_controllers));
	json_object_object_add(host_o, "cgroup", o);

	o = json_object_new_object();
	json_object_object_add(o, "probed", json_object_new_boolean(p->live));
	json_object_object_add(o, "madv_populate_write",
			       json_bool_or_null(p->populate_write >= 0, p->populate_write == 1));
	json_object_object_add(o, "memfd_hugetlb",
			       json_bool_or_null(p->memfd_hugetlb >= 0, p->memfd_hugetlb == 1));
	json_object_object_add(host_o, "features", o);

	bool priv = p->live && p->priv_ok;
	o = json_object_new_object();
	json_object_object_add(o, "probed", json_object_new_boolean(priv));
	json_object_object_add(o, "euid", priv ? json_object_new_int((int)p->priv.euid) : NULL);
	json_object_object_add(o, "cap_sys_admin", json_bool_or_null(priv, p->priv.cap_sys_admin));
	json_object_object_add(o, "cap_sys_nice", json_bool_or_null(priv, p->priv.cap_sys_nice));
	json_object_object_add(o, "cap_ipc_lock", json_bool_or_null(priv, p->priv.cap_ipc_lock));
	json_object_object_add(host_o, "privileges", o);
	return host_o;
}

static void print_json(nk_host *host, const struct report *rep, const struct nk_hostinfo *h,
		       const struct probes *p)
{
	static const char *const status_words[] = {"pass", "warn", "fail", "info"};
	json_object *root = tool_json_doc("check"), *checks = json_object_new_array(), *sum;

	json_object_object_add(root, "live", json_object_new_boolean(p->live));
	json_object_object_add(root, "host", json_host(host, h, p));
	for (size_t i = 0; i < rep->n; i++) {
		json_object *c = json_object_new_object();
		json_object_object_add(c, "id", json_object_new_string(rep->items[i].id));
		json_object_object_add(c, "status",
				       json_object_new_string(status_words[rep->items[i].status]));
		json_object_object_add(c, "message", json_object_new_string(rep->items[i].message));
		json_object_object_add(c, "hint", tool_json_name(rep->items[i].hint));
		json_object_array_add(checks, c);
	}
	json_object_object_add(root, "checks", checks);
	sum = json_object_new_object();
	json_object_object_add(sum, "pass_count", tool_json_u64(rep->counts[ST_PASS]));
	json_object_object_add(sum, "warn_count", tool_json_u64(rep->counts[ST_WARN]));
	json_object_object_add(sum, "fail_count", tool_json_u64(rep->counts[ST_FAIL]));
	json_object_object_add(sum, "info_count", tool_json_u64(rep->counts[ST_INFO]));
	json_object_object_add(root, "summary", sum);
	tool_json_print(root, true);
}

static void print_text(const struct report *rep, const char *root, bool live)
{
	if (!live)
		printf("Host tree %s (captured: live probes skipped)\n", root);
	for (size_t i = 0; i < rep->n; i++) {
		const struct item *it = &rep->items[i];
		printf("%s  %-24s %s\n", status_names[it->status], it->id, it->message);
		if (it->hint) /* INFO's too: the summary may point at them */
			printf("      %-24s hint: %s\n", "", it->hint);
	}
	printf("\nsummary: PASS %u  WARN %u  FAIL %u  INFO %u\n", rep->counts[ST_PASS],
	       rep->counts[ST_WARN], rep->counts[ST_FAIL], rep->counts[ST_INFO]);
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: numaksm check [--json] [--root DIR]\n\n"
		     "Check this host's readiness for dense, NUMA-placed VMs: KVM, KSM, THP,\n"
		     "NUMA nodes and distances, hugepage pools per node, cgroups, kernel features\n"
		     "and privileges.  Each item is PASS, WARN, FAIL or INFO with a hint.\n\n"
		     "  --json       machine-readable report\n"
		     "  --root DIR   read a captured host tree instead of this system (no live "
		     "probes)\n\n"
		     "Exit status: 0 when nothing FAILs, 1 otherwise, 2 on a usage error.\n");
}

int cmd_check(int argc, char **argv, nk_error **err)
{
	struct tool_report_opts o;
	int r = tool_parse_report_opts(argc, argv, "check", usage, false, &o, err);
	if (r != 0)
		return r < 0 ? r : EXIT_OK;
	const char *root = o.root;
	bool json = o.json;

	nk_host *host = NULL;
	struct nk_hostinfo *info = NULL;
	r = nk_host_open(root, &host, err);
	if (r < 0) {
		tool_mark_usage(); /* a bad --root is a bad command line */
		return r;
	}
	r = nk_hostinfo_read(host, &info, err);
	if (r < 0) {
		nk_host_free(host);
		return r;
	}

	struct probes p = {
	    .live = nk_host_is_live(host), .populate_write = -1, .memfd_hugetlb = -1};
	if (p.live) {
		p.kvm_ok = nk_probe_kvm(host, &p.kvm, NULL) == 0;
		p.populate_write = nk_probe_madv_populate_write(host, NULL);
		p.memfd_hugetlb = nk_probe_memfd_hugetlb(host, 0, NULL);
		p.priv_ok = nk_probe_privileges(host, &p.priv, NULL) == 0;
	}

	struct report rep = {0};
	check_kvm(&rep, &p);
	check_ksm(&rep, info);
	check_thp(&rep, info);
	check_numa(&rep, info);
	check_hugepages(&rep, info);
	check_cgroup(&rep, info);
	check_files(&rep, info, p.live);
	check_features(&rep, &p);

	if (json)
		print_json(host, &rep, info, &p);
	else
		print_text(&rep, nk_host_root(host), p.live);
	int exit_code = rep.counts[ST_FAIL] ? EXIT_FAIL : EXIT_OK;
	report_free(&rep);
	nk_hostinfo_free(info);
	nk_host_free(host);
	return exit_code;
}
