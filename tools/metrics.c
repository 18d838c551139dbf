/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prometheus metrics of the host and its VMs.  Names follow Prometheus's
 * conventions: a numaksm_ prefix, base units (bytes, seconds, ratios),
 * _total for counters, and labels, not names, for the node, page size and
 * VM.  A VM's labels are vm (its name), kind and pid: one series per VM
 * process, so their number is the number of VMs on the host.  Every family
 * is written whole (HELP, TYPE, then its samples) as the format requires.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <numaksm/hostinfo.h>
#include <numaksm/cleanup.h>
#include <numaksm/ksm.h>
#include <numaksm/rundir.h>
#include <numaksm/vcpu.h>
#include <numaksm/vm.h>

#include "libvirt.h"
#include "metrics.h"
#include "tool.h"

const char *metrics_label_escape(const char *value, char *buf, size_t size)
{
	size_t o = 0;
	for (const char *p = value ? value : ""; *p && o + 3 < size; p++) {
		if (*p == '\\' || *p == '"') {
			buf[o++] = '\\';
			buf[o++] = *p;
		} else if (*p == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *p;
		}
	}
	buf[o] = '\0';
	return buf;
}

static void family(FILE *o, const char *name, const char *type, const char *help)
{
	fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A sample: `labels` is "" or `a="x",b="y"` (escaped already). */
static void sample_u64(FILE *o, const char *name, const char *labels, uint64_t v)
{
	fprintf(o, "%s%s%s%s %" PRIu64 "\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
		v);
}

static void sample_i64(FILE *o, const char *name, const char *labels, int64_t v)
{
	fprintf(o, "%s%s%s%s %" PRId64 "\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
		v);
}

static void sample_f(FILE *o, const char *name, const char *labels, double v)
{
	fprintf(o, "%s%s%s%s %.9g\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", v);
}

/* ---- KSM ------------------------------------------------------------------ */

/* The counters that only grow (until a reboot): _total. */
static bool ksm_monotonic(enum nk_ksm_field f)
{
	return f == NK_KSM_PAGES_SCANNED || f == NK_KSM_PAGES_SKIPPED || f == NK_KSM_FULL_SCANS;
}

/*
 * Each field of /sys/kernel/mm/ksm as it is named in base units: a file in
 * milliseconds becomes _seconds, a percentage a _ratio, bytes _bytes; the
 * advisor's mode is a state set (one series per mode, 1 for the current).
 */
static void write_ksm_field(FILE *o, const struct nk_ksm *k, enum nk_ksm_field f)
{
	const struct nk_ksm_field_info *info = nk_ksm_field(f);
	char name[96], base[64], help[160];
	const char *type = ksm_monotonic(f) ? "counter" : "gauge";
	double scale = 1;
	uint64_t v = nk_ksm_get(k, f);

	snprintf(base, sizeof(base), "%s", info->name);
	if (!strncmp(base, "ksm_", 4)) /* ksm_zero_pages */
		memmove(base, base + 4, strlen(base + 4) + 1);
	size_t len = strlen(base);
	if (!strcmp(info->unit, "milliseconds")) {
		if (len > 10 && !strcmp(base + len - 10, "_millisecs"))
			base[len - 10] = '\0';
		snprintf(name, sizeof(name), "numaksm_ksm_%s_seconds", base);
		scale = 1e-3;
	} else if (!strcmp(info->unit, "seconds")) {
		snprintf(name, sizeof(name), "numaksm_ksm_%s_seconds", base);
	} else if (!strcmp(info->unit, "percent")) {
		snprintf(name, sizeof(name), "numaksm_ksm_%s_ratio", base);
		scale = 1e-2;
	} else if (!strcmp(info->unit, "bytes")) {
		snprintf(name, sizeof(name), "numaksm_ksm_%s_bytes", base);
	} else {
		snprintf(name, sizeof(name), "numaksm_ksm_%s%s", base,
			 ksm_monotonic(f) ? "_total" : "");
	}
	snprintf(help, sizeof(help), "KSM's %s (/sys/kernel/mm/ksm/%s): %s", info->name, info->name,
		 info->help);
	family(o, name, type, help);
	if (info->type == NK_KSM_TYPE_ADVISOR) {
		sample_u64(o, name, "mode=\"none\"", v == NK_KSM_ADVISOR_NONE);
		sample_u64(o, name, "mode=\"scan-time\"", v == NK_KSM_ADVISOR_SCAN_TIME);
	} else if (info->type == NK_KSM_TYPE_SIGNED) {
		sample_i64(o, name, "", (int64_t)v);
	} else if (scale != 1) {
		sample_f(o, name, "", (double)v * scale);
	} else {
		sample_u64(o, name, "", v);
	}
}

static void write_ksm(FILE *o, const struct tool_ksm_facts *f)
{
	const struct nk_ksm *k = f->ksm;
	char labels[128], esc[64];

	family(o, "numaksm_ksm_present", "gauge", "1 when the kernel has KSM (/sys/kernel/mm/ksm)");
	sample_u64(o, "numaksm_ksm_present", "", f->present && k);
	if (!f->present || !k)
		return;
	for (int i = 0; i < NK_KSM_FIELD_COUNT; i++)
		if (nk_ksm_has(k, (enum nk_ksm_field)i))
			write_ksm_field(o, k, (enum nk_ksm_field)i);
	if (f->page_size) {
		family(o, "numaksm_ksm_saved_bytes", "gauge",
		       "memory KSM saves host-wide: (pages_sharing + ksm_zero_pages) * page size");
		sample_u64(o, "numaksm_ksm_saved_bytes", "", nk_ksm_saved_pages(k) * f->page_size);
		family(o, "numaksm_ksm_tracked_bytes", "gauge",
		       "memory KSM keeps reverse-map items for: every page it scans");
		sample_u64(o, "numaksm_ksm_tracked_bytes", "",
			   nk_ksm_tracked_pages(k) * f->page_size);
	}
	if (f->ksmd_pid > 0) {
		family(o, "numaksm_ksmd_cpu_seconds_total", "counter",
		       "CPU time the ksmd kernel thread has used since boot");
		sample_f(o, "numaksm_ksmd_cpu_seconds_total", "", f->ksmd_cpu_seconds);
	}
	if (f->scan_seconds >= 0) {
		family(o, "numaksm_ksm_last_full_scan_seconds", "gauge",
		       "how long KSM's last full scans took, measured between scrapes (to within "
		       "one scrape interval)");
		sample_f(o, "numaksm_ksm_last_full_scan_seconds", "", f->scan_seconds);
	}
	if (f->tuner_running >= 0) {
		family(o, "numaksm_ksm_owner_info", "gauge",
		       "the process that owns KSM's knobs now (the numaksm tuner, a benchmark): 1, "
		       "with its program and pid; no series when none does");
		if (f->tuner_running > 0) {
			snprintf(labels, sizeof(labels), "program=\"%s\",pid=\"%d\"",
				 metrics_label_escape(f->tuner_program, esc, sizeof(esc)),
				 f->tuner_pid);
			sample_u64(o, "numaksm_ksm_owner_info", labels, 1);
		}
	}
}

/* ---- the tuner ------------------------------------------------------------- */

/* The tuner's progress (tools/cmd-tuned.c writes tuner.status beside KSM's
 * lock), when the tuner that wrote it owns KSM's knobs now. */
static void write_tuner(FILE *o, const struct tool_ksm_facts *f)
{
	nk_rundir *dir = NULL;
	_cleanup_free_ char *text = NULL;
	if (f->tuner_running <= 0 || nk_rundir_open(NK_KSM_OWNER_DIR, 0, &dir, NULL) < 0)
		return;
	int r = nk_rundir_read(dir, "tuner.status", &text, NULL);
	nk_rundir_free(dir);
	if (r < 0)
		return;
	long pid = -1;
	char phase[32] = "";
	double budget = -1, ratio = -1;
	unsigned long long rounds = 0, changes = 0;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		sscanf(l, "pid=%ld", &pid);
		sscanf(l, "phase=%31s", phase);
		sscanf(l, "rounds=%llu", &rounds);
		sscanf(l, "changes=%llu", &changes);
		sscanf(l, "cpu_budget=%lf", &budget);
		sscanf(l, "ksmd_cpu_ratio=%lf", &ratio);
	}
	if (pid != f->tuner_pid || !*phase)
		return; /* another owner's, or a tuner's that died */
	family(o, "numaksm_tuner_phase", "gauge",
	       "the KSM tuner's phase: 1 for the current one (stopped, converging, settled)");
	static const char *const phases[] = {"stopped", "converging", "settled"};
	for (size_t i = 0; i < 3; i++) {
		char labels[48];
		snprintf(labels, sizeof(labels), "phase=\"%s\"", phases[i]);
		sample_u64(o, "numaksm_tuner_phase", labels, strcmp(phase, phases[i]) == 0);
	}
	family(o, "numaksm_tuner_rounds_total", "counter", "the tuner's rounds since it started");
	sample_u64(o, "numaksm_tuner_rounds_total", "", rounds);
	family(o, "numaksm_tuner_decisions_total", "counter",
	       "the tuner's rounds that changed KSM's knobs");
	sample_u64(o, "numaksm_tuner_decisions_total", "", changes);
	if (budget >= 0) {
		family(o, "numaksm_tuner_cpu_budget_ratio", "gauge",
		       "the share of one CPU the tuner lets ksmd use while converging");
		sample_f(o, "numaksm_tuner_cpu_budget_ratio", "", budget);
	}
	if (ratio >= 0) {
		family(o, "numaksm_tuner_ksmd_cpu_ratio", "gauge",
		       "ksmd's share of one CPU over the tuner's last round, as the tuner measured "
		       "it");
		sample_f(o, "numaksm_tuner_ksmd_cpu_ratio", "", ratio);
	}
}

/* ---- NUMA nodes and hugepages -------------------------------------------- */

static void write_nodes(FILE *o, const struct nk_hostinfo *info)
{
	char labels[96];

	static const struct {
		const char *name, *help;
		size_t offset;
	} memory[] = {
	    {"numaksm_node_memory_total_bytes", "memory of each NUMA node (MemTotal)",
	     offsetof(struct nk_numa_node, mem_total_kb)},
	    {"numaksm_node_memory_free_bytes", "free memory of each NUMA node (MemFree)",
	     offsetof(struct nk_numa_node, mem_free_kb)},
	    {"numaksm_node_memory_available_bytes",
	     "memory each NUMA node can give without swapping: free, plus page cache and slab "
	     "the kernel can drop",
	     offsetof(struct nk_numa_node, mem_available_kb)},
	};
	for (size_t m = 0; m < sizeof(memory) / sizeof(memory[0]); m++) {
		family(o, memory[m].name, "gauge", memory[m].help);
		for (size_t i = 0; i < info->n_nodes; i++) {
			if (!info->nodes[i].memory_known)
				continue; /* its meminfo is missing: no sample, not a 0 */
			snprintf(labels, sizeof(labels), "node=\"%d\"", info->nodes[i].id);
			sample_u64(
			    o, memory[m].name, labels,
			    *(const uint64_t *)((const char *)&info->nodes[i] + memory[m].offset) *
				1024);
		}
	}
	static const struct {
		const char *name, *help;
		size_t offset;
	} pools[] = {
	    {"numaksm_node_hugepages", "hugepages in each node's pool of each size (nr_hugepages)",
	     offsetof(struct nk_hugepage_pool, total)},
	    {"numaksm_node_hugepages_free", "free hugepages in each node's pool of each size",
	     offsetof(struct nk_hugepage_pool, free)},
	    {"numaksm_node_hugepages_surplus",
	     "surplus hugepages (above nr_hugepages) in each node's pool of each size",
	     offsetof(struct nk_hugepage_pool, surplus)},
	};
	for (size_t p = 0; p < sizeof(pools) / sizeof(pools[0]); p++) {
		family(o, pools[p].name, "gauge", pools[p].help);
		for (size_t i = 0; i < info->n_nodes; i++)
			for (size_t j = 0; j < info->nodes[i].n_hugepages; j++) {
				const struct nk_hugepage_pool *pool = &info->nodes[i].hugepages[j];
				snprintf(labels, sizeof(labels),
					 "node=\"%d\",page_size_bytes=\"%" PRIu64 "\"",
					 info->nodes[i].id, pool->size_kb * 1024);
				sample_u64(
				    o, pools[p].name, labels,
				    *(const uint64_t *)((const char *)pool + pools[p].offset));
			}
	}
}

/* ---- VMs ------------------------------------------------------------------ */

struct vm_row {
	struct nk_vm_info *vm;
	char labels[512]; /* vm="...",kind="...",pid="..." */
	/* In the pinning state (pins.json): its vCPU threads that may run, or
	 * last ran, off the CPUs planned for it. */
	bool pinned;
	unsigned vcpus_off_plan;
	double read_age; /* seconds since its memory map and pages were read */
};

/* Bytes of guest RAM resident in 4 KiB pages, THP and hugetlb pages. */
static uint64_t vm_4k_bytes(const struct nk_vm_info *vm)
{
	uint64_t big = vm->guest_hugetlb_bytes + vm->guest_thp_bytes;
	return vm->guest_rss_bytes > big ? vm->guest_rss_bytes - big : 0;
}

/* Whether the VM's cpuset keeps it off some node that has memory: then
 * those it allows are where it is meant to be. */
static bool has_intended_nodes(const struct nk_vm_info *vm, const struct nk_hostinfo *info)
{
	if (!vm->mems_allowed || !nk_bitmap_weight(vm->mems_allowed) || !vm->has_placement)
		return false;
	for (size_t k = 0; k < info->n_nodes; k++)
		if (info->nodes[k].has_memory &&
		    !nk_bitmap_test(vm->mems_allowed, (unsigned)info->nodes[k].id))
			return true;
	return false;
}

/* The share of the VM's resident guest RAM on the nodes its cpuset allows;
 * KSM pages are left out (shared, so on one node for all who share them);
 * < 0 when nothing is resident. */
static double intended_ratio(const struct nk_vm_info *vm)
{
	const struct nk_vm_placement *p = &vm->placement;
	uint64_t on = 0, all = 0;
	for (size_t node = 0; node < p->n_node_bytes; node++) {
		uint64_t ksm = p->has_ksm_node_bytes && node < p->n_ksm_node_bytes
				   ? p->ksm_node_bytes[node]
				   : 0;
		uint64_t own = p->node_bytes[node] > ksm ? p->node_bytes[node] - ksm : 0;
		all += own;
		if (nk_bitmap_test(vm->mems_allowed, (unsigned)node))
			on += own;
	}
	return all ? (double)on / (double)all : -1;
}

static void write_intended(FILE *o, const struct vm_row *rows, size_t n,
			   const struct nk_hostinfo *info)
{
	char labels[640];
	family(o, "numaksm_vm_intended_nodes_info", "gauge",
	       "1 for a VM whose cpuset keeps it off some node with memory, with the nodes it "
	       "allows (Mems_allowed_list): where its memory is meant to be");
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *list = NULL;
		if (!has_intended_nodes(rows[i].vm, info) ||
		    nk_bitmap_format(rows[i].vm->mems_allowed, &list) < 0)
			continue;
		snprintf(labels, sizeof(labels), "%s,nodes=\"%s\"", rows[i].labels, list);
		sample_u64(o, "numaksm_vm_intended_nodes_info", labels, 1);
	}
	family(o, "numaksm_vm_intended_node_ratio", "gauge",
	       "for such a VM, the share of its resident guest RAM on those nodes, KSM pages left "
	       "out (1: all of it where it is meant to be)");
	for (size_t i = 0; i < n; i++) {
		double ratio =
		    has_intended_nodes(rows[i].vm, info) ? intended_ratio(rows[i].vm) : -1;
		if (ratio >= 0)
			sample_f(o, "numaksm_vm_intended_node_ratio", rows[i].labels, ratio);
	}
}

/* libvirt's domains: their UUID, and how many of their threads run off the
 * CPUs their definition pins them to (read through libvirt, read-only). */
static void write_libvirt(FILE *o, const struct vm_row *rows, size_t n)
{
	char labels[640], esc[128];
	bool any = false;
	for (size_t i = 0; i < n; i++)
		any |= rows[i].vm->ref.kind == NK_VM_LIBVIRT;
	if (!any)
		return;
	family(o, "numaksm_vm_libvirt_info", "gauge",
	       "each libvirt domain: 1, with its UUID (\"\" when its command line has none)");
	for (size_t i = 0; i < n; i++) {
		const struct nk_vm_info *vm = rows[i].vm;
		if (vm->ref.kind != NK_VM_LIBVIRT)
			continue;
		snprintf(labels, sizeof(labels), "%s,uuid=\"%s\"", rows[i].labels,
			 metrics_label_escape(vm->ref.uuid ? vm->ref.uuid : "", esc, sizeof(esc)));
		sample_u64(o, "numaksm_vm_libvirt_info", labels, 1);
	}
	family(o, "numaksm_vm_libvirt_drift_threads", "gauge",
	       "a libvirt domain's vCPU and emulator threads whose affinity is not what its "
	       "definition pins them to (absent when libvirt cannot say)");
	for (size_t i = 0; i < n; i++) {
		struct tool_libvirt_drift *d = NULL;
		if (rows[i].vm->ref.kind != NK_VM_LIBVIRT)
			continue;
		int drift = tool_libvirt_drift(rows[i].vm, &d);
		if (drift < 0)
			continue;
		sample_u64(o, "numaksm_vm_libvirt_drift_threads", rows[i].labels, (uint64_t)drift);
		tool_libvirt_drift_free(d, drift);
	}
}

static void write_vms(FILE *o, const struct vm_row *rows, size_t n)
{
	char labels[640], esc[256];

	family(o, "numaksm_vm_info", "gauge",
	       "each VM process found: 1, with what it is taken for (trust), its program and "
	       "what backs its guest RAM");
	for (size_t i = 0; i < n; i++) {
		const struct nk_vm_info *vm = rows[i].vm;
		const char *backing =
		    !vm->n_regions ? "unknown"
		    : vm->guest_rss_bytes && vm->guest_hugetlb_bytes == vm->guest_rss_bytes
			? "hugetlb"
		    : vm->guest_hugetlb_bytes ? "mixed"
		    : vm->guest_thp_bytes     ? "thp"
					      : "4k";
		snprintf(labels, sizeof(labels), "%s,trust=\"%s\",backing=\"%s\",program=\"%s\"",
			 rows[i].labels, nk_vm_trust_name(vm->ref.trust), backing,
			 metrics_label_escape(vm->ref.argv0, esc, sizeof(esc)));
		sample_u64(o, "numaksm_vm_info", labels, 1);
	}
	family(o, "numaksm_vm_guest_ram_bytes", "gauge",
	       "the VM's guest RAM: its command line's size when known, else its mappings'");
	for (size_t i = 0; i < n; i++)
		sample_u64(o, "numaksm_vm_guest_ram_bytes", rows[i].labels,
			   rows[i].vm->guest_ram_bytes);
	family(o, "numaksm_vm_guest_ram_resident_bytes", "gauge",
	       "guest RAM resident, by what backs it (backing: 4k, thp, hugetlb)");
	for (size_t i = 0; i < n; i++) {
		const struct nk_vm_info *vm = rows[i].vm;
		const struct {
			const char *backing;
			uint64_t bytes;
		} by[] = {{"4k", vm_4k_bytes(vm)},
			  {"thp", vm->guest_thp_bytes},
			  {"hugetlb", vm->guest_hugetlb_bytes}};
		for (size_t b = 0; b < 3; b++) {
			snprintf(labels, sizeof(labels), "%s,backing=\"%s\"", rows[i].labels,
				 by[b].backing);
			sample_u64(o, "numaksm_vm_guest_ram_resident_bytes", labels, by[b].bytes);
		}
	}
	family(o, "numaksm_vm_resident_bytes", "gauge",
	       "the whole VM process's resident memory (Rss, hugetlb pages included)");
	for (size_t i = 0; i < n; i++)
		sample_u64(o, "numaksm_vm_resident_bytes", rows[i].labels, rows[i].vm->rss_bytes);
	family(o, "numaksm_vm_node_resident_bytes", "gauge",
	       "guest RAM resident on each NUMA node (sampled unless numa_maps gives it whole)");
	for (size_t i = 0; i < n; i++) {
		const struct nk_vm_info *vm = rows[i].vm;
		if (!vm->has_placement)
			continue;
		for (size_t node = 0; node < vm->placement.n_node_bytes; node++) {
			if (!vm->placement.node_bytes[node])
				continue;
			snprintf(labels, sizeof(labels), "%s,node=\"%zu\"", rows[i].labels, node);
			sample_u64(o, "numaksm_vm_node_resident_bytes", labels,
				   vm->placement.node_bytes[node]);
		}
	}
	family(o, "numaksm_vm_node_ksm_bytes", "gauge",
	       "of the guest RAM on each node, the bytes in KSM pages: shared with others, so not "
	       "misplaced (when the VM has merged pages and the exporter runs as root)");
	for (size_t i = 0; i < n; i++) {
		const struct nk_vm_placement *p = &rows[i].vm->placement;
		if (!rows[i].vm->has_placement || !p->has_ksm_node_bytes)
			continue;
		for (size_t node = 0; node < p->n_node_bytes; node++) {
			if (!p->node_bytes[node])
				continue;
			snprintf(labels, sizeof(labels), "%s,node=\"%zu\"", rows[i].labels, node);
			sample_u64(o, "numaksm_vm_node_ksm_bytes", labels,
				   node < p->n_ksm_node_bytes ? p->ksm_node_bytes[node] : 0);
		}
	}
	static const struct {
		const char *name, *help;
	} ksm[] = {
	    {"numaksm_vm_ksm_merging_pages", "the VM's pages merged by KSM (ksm_merging_pages)"},
	    {"numaksm_vm_ksm_zero_pages", "the VM's pages KSM mapped to the zero page"},
	    {"numaksm_vm_ksm_rmap_items", "reverse-map items KSM keeps for the VM's pages"},
	    {"numaksm_vm_ksm_saved_bytes",
	     "memory KSM saves the VM, shared pages counted by the host's sharing ratio"},
	};
	for (size_t m = 0; m < sizeof(ksm) / sizeof(ksm[0]); m++) {
		family(o, ksm[m].name, "gauge", ksm[m].help);
		for (size_t i = 0; i < n; i++) {
			const struct nk_vm_info *vm = rows[i].vm;
			if (!vm->has_ksm)
				continue;
			if (m == 0 && vm->ksm.has_merging_pages)
				sample_u64(o, ksm[m].name, rows[i].labels, vm->ksm.merging_pages);
			else if (m == 1 && vm->ksm.has_zero_pages)
				sample_u64(o, ksm[m].name, rows[i].labels, vm->ksm.zero_pages);
			else if (m == 2)
				sample_u64(o, ksm[m].name, rows[i].labels, vm->ksm.rmap_items);
			else if (m == 3 && vm->has_ksm_saved)
				sample_u64(o, ksm[m].name, rows[i].labels, vm->ksm_saved_bytes);
		}
	}
	family(o, "numaksm_vm_mergeable_bytes", "gauge",
	       "size of the VM's mappings KSM may merge (MADV_MERGEABLE)");
	for (size_t i = 0; i < n; i++)
		sample_u64(o, "numaksm_vm_mergeable_bytes", rows[i].labels,
			   rows[i].vm->mergeable_bytes);
	family(o, "numaksm_vm_vcpu_threads", "gauge", "the VM's vCPU threads found");
	for (size_t i = 0; i < n; i++)
		if (rows[i].vm->has_threads)
			sample_u64(o, "numaksm_vm_vcpu_threads", rows[i].labels,
				   rows[i].vm->threads.vcpu_count);
	family(o, "numaksm_vm_read_age_seconds", "gauge",
	       "how old the VM's memory map, pages per node and threads are (read again every "
	       "--vm-refresh seconds; its KSM figures are read every scrape)");
	for (size_t i = 0; i < n; i++)
		sample_f(o, "numaksm_vm_read_age_seconds", rows[i].labels, rows[i].read_age);
	family(o, "numaksm_vm_pinned", "gauge",
	       "1 when the VM has a vCPU pinning plan (numaksm pin apply, pins.json), else 0");
	for (size_t i = 0; i < n; i++)
		sample_u64(o, "numaksm_vm_pinned", rows[i].labels, rows[i].pinned);
	family(o, "numaksm_vm_vcpus_off_plan", "gauge",
	       "vCPU threads of a pinned VM allowed on, or last run on, CPUs outside its plan");
	for (size_t i = 0; i < n; i++)
		if (rows[i].pinned)
			sample_u64(o, "numaksm_vm_vcpus_off_plan", rows[i].labels,
				   rows[i].vcpus_off_plan);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void metrics_state_done(struct metrics_state *state)
{
	for (size_t k = 0; k < state->n_vms; k++)
		nk_vm_info_free(state->vms[k].vm);
	free(state->vms);
	state->vms = NULL;
	state->n_vms = 0;
	state->finder = nk_vm_cache_free(state->finder);
}

/* The state's entry of the VM `ref` is, or SIZE_MAX.  The state is in the
 * order the finder lists VMs: by PID. */
static size_t find_kept(const struct metrics_state *state, const struct nk_vm_ref *ref)
{
	size_t lo = 0, hi = state->n_vms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (state->vms[mid].pid < ref->pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < state->n_vms && state->vms[lo].pid == ref->pid && state->vms[lo].vm &&
	    state->vms[lo].start_time == ref->start_time)
		return lo;
	return SIZE_MAX;
}

struct due_order {
	const struct metrics_state *state;
	const size_t *olds;
};

static int by_read_at(const void *a, const void *b, void *arg)
{
	const struct due_order *o = arg;
	double x = o->state->vms[o->olds[*(const size_t *)a]].read_at;
	double y = o->state->vms[o->olds[*(const size_t *)b]].read_at;
	return x < y ? -1 : x > y;
}

/* Which VMs to read in full at this scrape (time `t0`): the new ones; with
 * vm_refresh_s 0 all; else of those due (read vm_refresh_s ago or more),
 * the oldest, as many as n * (time since the last scrape) / vm_refresh_s. */
static void choose_full_reads(const struct metrics_state *state, const size_t *olds, size_t n,
			      double t0, bool *full)
{
	double refresh = state->vm_refresh_s;
	double since = state->last_scrape_at > 0 ? t0 - state->last_scrape_at : refresh;
	if (since > refresh)
		since = refresh;
	size_t budget = refresh > 0 ? (size_t)ceil((double)n * since / refresh) : n;
	size_t *due = malloc((n ? n : 1) * sizeof(*due)), n_due = 0;
	for (size_t i = 0; i < n; i++) {
		full[i] = olds[i] == SIZE_MAX || refresh <= 0;
		if (!full[i] && t0 - state->vms[olds[i]].read_at >= refresh) {
			if (due)
				due[n_due++] = i;
			else
				full[i] = true; /* out of memory: read it now */
		}
	}
	if (!due)
		return;
	struct due_order order = {state, olds};
	qsort_r(due, n_due, sizeof(*due), by_read_at, &order);
	for (size_t d = 0; d < n_due && d < budget; d++)
		full[due[d]] = true;
	free(due);
}

int metrics_write(nk_host *host, struct metrics_state *state, FILE *out, nk_error **err)
{
	double t0 = now_s();
	struct nk_hostinfo *info = NULL;
	struct tool_ksm_facts facts;
	struct nk_vm_ref *refs = NULL;
	struct vm_row *rows = NULL;
	size_t n_rows = 0;
	uint64_t vm_errors = 0;
	int r;

	state->scrapes++;
	r = nk_hostinfo_read(host, &info, err);
	if (r < 0) {
		state->errors++;
		return r;
	}
	tool_ksm_facts(host, &info->ksm, info->ksm_present, &facts);
	tool_ksm_watch_update(&state->watch, &facts, t0);

	nk_error *e = NULL;
	if (!state->finder)
		state->finder = nk_vm_cache_new(); /* without it, every process is read */
	int n = nk_vm_find_cached(host, state->finder, &refs, &e);
	if (n < 0) {
		vm_errors++;
		nk_error_free(e);
		n = 0;
	}
	rows = calloc(n ? (size_t)n : 1, sizeof(*rows));
	struct metrics_vm *kept = calloc(n ? (size_t)n : 1, sizeof(*kept));
	if (!rows || !kept) {
		free(rows);
		free(kept);
		nk_vm_refs_free(refs, (size_t)n);
		nk_hostinfo_free(info);
		return nk_error_set(err, ENOMEM, "out of memory");
	}
	/* VMs read in full before have their KSM figures read again; new ones
	 * in full, and of those read vm_refresh_s ago or more, the oldest,
	 * as many as keep every VM's age near vm_refresh_s if scrapes go on
	 * at this pace: the cost spreads evenly over the scrapes. */
	size_t *olds = malloc((n ? (size_t)n : 1) * sizeof(*olds));
	bool *full = calloc(n ? (size_t)n : 1, sizeof(*full));
	if (!olds || !full) {
		free(olds);
		free(full);
		free(rows);
		free(kept);
		nk_vm_refs_free(refs, (size_t)n);
		nk_hostinfo_free(info);
		return nk_error_set(err, ENOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++)
		olds[i] = find_kept(state, &refs[i]);
	choose_full_reads(state, olds, (size_t)n, t0, full);
	state->last_scrape_at = t0;
	size_t n_kept = 0;
	uint64_t page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	for (int i = 0; i < n; i++) {
		struct metrics_vm *old = olds[i] == SIZE_MAX ? NULL : &state->vms[olds[i]];
		bool fresh_enough = old && !full[i];
		struct metrics_vm m = {.pid = refs[i].pid, .start_time = refs[i].start_time};
		if (old && fresh_enough) {
			m = *old;
			old->vm = NULL; /* moved */
			r = nk_ksm_proc_read(host, m.pid, &m.vm->ksm, NULL);
			if (r == -ESRCH) {
				nk_vm_info_free(m.vm);
				continue; /* it ended meanwhile */
			}
			if (r == 0 && m.vm->has_ksm_saved && info->ksm_present)
				m.vm->ksm_saved_bytes =
				    nk_ksm_proc_saved_bytes(&m.vm->ksm, &info->ksm, page_size);
		} else {
			e = NULL;
			r = nk_vm_read(host, &refs[i], info->ksm_present ? &info->ksm : NULL,
				       NK_VM_READ_PLACEMENT | NK_VM_READ_THREADS, &m.vm, &e);
			nk_error_free(e);
			if (r == -ESRCH)
				continue; /* it ended meanwhile */
			if (r < 0) {
				vm_errors++;
				continue;
			}
			m.read_at = now_s();
		}
		kept[n_kept++] = m;
		rows[n_rows].vm = m.vm;
		rows[n_rows].read_age = t0 - m.read_at > 0 ? t0 - m.read_at : 0;
		char name[256], kind[64];
		snprintf(rows[n_rows].labels, sizeof(rows[n_rows].labels),
			 "vm=\"%s\",kind=\"%s\",pid=\"%d\"",
			 metrics_label_escape(rows[n_rows].vm->ref.name, name, sizeof(name)),
			 metrics_label_escape(nk_vm_kind_name(rows[n_rows].vm->ref.kind), kind,
					      sizeof(kind)),
			 rows[n_rows].vm->ref.pid);
		n_rows++;
	}
	/* The VMs that are gone, or read again, leave the state. */
	for (size_t k = 0; k < state->n_vms; k++)
		nk_vm_info_free(state->vms[k].vm);
	free(state->vms);
	state->vms = kept;
	state->n_vms = n_kept;
	nk_vm_refs_free(refs, (size_t)n);
	free(olds);
	free(full);
	/* The pinning state, read-only (shared lock), when there is one. */
	nk_pin_state *pins = tool_pins_open(host);
	for (size_t i = 0; pins && i < n_rows; i++)
		rows[i].pinned = tool_vm_pinning(pins, rows[i].vm, &rows[i].vcpus_off_plan);
	nk_pin_state_free(pins);

	write_ksm(out, &facts);
	if (nk_host_is_live(host))
		write_tuner(out, &facts);
	write_nodes(out, info);
	write_vms(out, rows, n_rows);
	write_intended(out, rows, n_rows, info);
	if (nk_host_is_live(host))
		write_libvirt(out, rows, n_rows);
	state->errors += vm_errors;
	family(out, "numaksm_vms", "gauge", "VM processes found on the host");
	sample_u64(out, "numaksm_vms", "", n_rows);
	family(out, "numaksm_exporter_scrapes_total", "counter",
	       "scrapes served, this one included");
	sample_u64(out, "numaksm_exporter_scrapes_total", "", state->scrapes);
	family(out, "numaksm_exporter_errors_total", "counter",
	       "failed scrapes, and VMs that could not be read (those that ended are not counted)");
	sample_u64(out, "numaksm_exporter_errors_total", "", state->errors);
	family(out, "numaksm_exporter_scrape_duration_seconds", "gauge",
	       "how long reading the host and its VMs took for this scrape");
	double took = now_s() - t0;
	sample_f(out, "numaksm_exporter_scrape_duration_seconds", "", took);
	state->last_duration = took;

	free(rows); /* their VMs are the state's */
	nk_hostinfo_free(info);
	return 0;
}
