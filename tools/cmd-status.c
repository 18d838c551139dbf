/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm status: the host's KSM, NUMA nodes, hugepages and THP, and every
 * VM on it (numaksm-vmm, QEMU, Cloud Hypervisor, Firecracker, crosvm, or
 * the processes named): where its guest RAM is, what KSM saves it, its
 * vCPU threads and cgroups.  --watch repeats it and measures what one
 * reading cannot: ksmd's CPU use now and how long a full scan takes.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <numaksm/cleanup.h>
#include <numaksm/hostinfo.h>
#include <numaksm/ksm.h>
#include <numaksm/proc.h>
#include <numaksm/vcpu.h>
#include <numaksm/vm.h>

#include "json.h"
#include "libvirt.h"
#include "tool.h"

struct status_args {
	bool json;
	bool exact;
	bool long_view; /* every VM in detail, not a line each */
	bool csv;	/* a CSV row per VM (and round) */
	double watch_s; /* 0: once */
	const char *root;
	char **selectors;
	int n_selectors;
};

/* What one reading of the host holds. */
struct host_sample {
	struct nk_hostinfo *info;
	struct tool_ksm_facts ksm; /* around info->ksm */
	double when;		   /* CLOCK_MONOTONIC seconds */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: numaksm status [--long] [--json] [--watch SECONDS] [--exact] [--root DIR] "
		"[NAME|PID ...]\n\n"
		"Show the host's KSM state, knobs and savings, ksmd's CPU use, memory and\n"
		"hugepages per NUMA node and THP; then every VM found (numaksm-vmm, QEMU,\n"
		"Cloud Hypervisor, Firecracker, crosvm), a line each: name, kind, PID, guest\n"
		"RAM and its backing, the share on its main node, KSM's saving, pinned or\n"
		"not.  The VMs and processes named, or all with --long, in detail: RSS,\n"
		"pages per node, KSM figures, vCPU threads and cgroups.  A VM that exits\n"
		"while it is read is left out.\n\n"
		"  --long           every VM in detail\n"
		"  --csv            a CSV row per VM (with --watch, per VM and round) under one\n"
		"                   header: for a spreadsheet or gnuplot\n"
		"  --json           machine-readable (with --watch: one JSON object per line)\n"
		"  --watch SECONDS  repeat every SECONDS until interrupted; measures ksmd's CPU\n"
		"                   use and the duration of a full KSM scan\n"
		"  --exact          count every guest page (default: a sample of 65536 pages\n"
		"                   per mapping, with its error bound)\n"
		"  --root DIR       read a captured host tree (pages per node from numa_maps)\n\n"
		"Exit status: 0 success, 1 a VM could not be read or a name is unknown,\n"
		"2 usage error.\n");
}

/* ---- reading -------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void host_sample_done(struct host_sample *h)
{
	nk_hostinfo_free(h->info);
	*h = (struct host_sample){0};
}

static int read_host(nk_host *host, struct host_sample *ret, nk_error **err)
{
	struct host_sample h = {.when = now_s()};
	int r = nk_hostinfo_read(host, &h.info, err);
	if (r < 0)
		return r;
	tool_ksm_facts(host, &h.info->ksm, h.info->ksm_present, &h.ksm);
	*ret = h;
	return 0;
}

static void watch_update(struct tool_ksm_watch *w, struct host_sample *h)
{
	tool_ksm_watch_update(w, &h->ksm, h->when);
}

struct vm_sample {
	struct nk_vm_info **vms;
	size_t n;
	json_object *errors; /* the VMs that could not be read (not those that ended) */
	unsigned failed;
};

static void vm_sample_done(struct vm_sample *s)
{
	for (size_t i = 0; i < s->n; i++)
		nk_vm_info_free(s->vms[i]);
	free(s->vms);
	json_object_put(s->errors);
	*s = (struct vm_sample){0};
}

static int read_vms(nk_host *host, const struct nk_vm_ref *refs, size_t n,
		    const struct host_sample *h, bool exact, bool json, struct vm_sample *ret)
{
	struct vm_sample s = {.vms = calloc(n ? n : 1, sizeof(*s.vms)),
			      .errors = json_object_new_array()};
	unsigned flags = NK_VM_READ_PLACEMENT | NK_VM_READ_THREADS | (exact ? NK_VM_READ_EXACT : 0);

	if (!s.vms)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		nk_error *e = NULL;
		int r = nk_vm_read(host, &refs[i], h->info->ksm_present ? &h->info->ksm : NULL,
				   flags, &s.vms[s.n], &e);
		if (r >= 0) {
			s.n++;
		} else if (r != -ESRCH) {
			/* Reported in the document under --json, on stderr otherwise. */
			if (json) {
				json_object_array_add(s.errors, tool_json_error(e, r));
			} else {
				fprintf(stderr, "numaksm status: %s\n",
					e ? nk_error_message(e) : strerror(-r));
				if (nk_error_get_hint(e))
					fprintf(stderr, "  hint: %s\n", nk_error_get_hint(e));
			}
			s.failed++;
		}
		nk_error_free(e);
	}
	*ret = s;
	return 0;
}

/* ---- helpers for both outputs --------------------------------------------- */

static const char *backing_label(const struct nk_vm_info *vm, char *buf, size_t size)
{
	if (vm->guest_rss_bytes && vm->guest_hugetlb_bytes == vm->guest_rss_bytes) {
		uint64_t ps = vm->n_regions ? vm->regions[0].page_size : 0;
		char psz[32];
		snprintf(buf, size, "hugetlb %s", nk_format_bytes(psz, sizeof(psz), ps));
	} else if (vm->guest_hugetlb_bytes) {
		snprintf(buf, size, "mixed");
	} else if (vm->guest_thp_bytes) {
		snprintf(buf, size, "THP %.0f%%",
			 100.0 * (double)vm->guest_thp_bytes / (double)vm->guest_rss_bytes);
	} else if (vm->n_regions) {
		snprintf(buf, size, "4K");
	} else {
		snprintf(buf, size, "unknown");
	}
	return buf;
}

/* "4k", "thp", "hugetlb", "mixed" or "unknown": what backs the guest RAM. */
static const char *backing_kind(const struct nk_vm_info *vm)
{
	if (!vm->n_regions)
		return "unknown";
	if (vm->guest_rss_bytes && vm->guest_hugetlb_bytes == vm->guest_rss_bytes)
		return "hugetlb";
	if (vm->guest_hugetlb_bytes)
		return "mixed";
	return vm->guest_thp_bytes ? "thp" : "4k";
}

/* ---- JSON ----------------------------------------------------------------- */

static json_object *json_host(const struct host_sample *h)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "ksm", tool_json_ksm(&h->ksm));
	json_object_object_add(o, "thp", tool_json_thp(h->info));
	json_object_object_add(o, "numa_nodes", tool_json_numa_nodes(h->info));
	json_object_object_add(o, "hugepage_pools", tool_json_hugepage_pools(h->info));
	return o;
}

/* The node of `cpu` on this host (-1: not known). */
static int cpu_node(const struct nk_hostinfo *info, int cpu)
{
	for (size_t i = 0; info && cpu >= 0 && i < info->n_nodes; i++)
		if (info->nodes[i].cpus && nk_bitmap_test(info->nodes[i].cpus, (unsigned)cpu))
			return info->nodes[i].id;
	return -1;
}

/* A libvirt domain: its name and UUID, and the threads whose affinity is
 * not what its definition pins them to (null when libvirt cannot tell). */
static json_object *json_libvirt(const struct nk_vm_info *vm, bool live)
{
	struct tool_libvirt_drift *d = NULL;
	json_object *o, *drift = NULL;
	int n;

	if (vm->ref.kind != NK_VM_LIBVIRT)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "domain", json_object_new_string(vm->ref.name));
	json_object_object_add(o, "uuid", tool_json_name(vm->ref.uuid));
	n = live ? tool_libvirt_drift(vm, &d) : -ENOENT;
	if (n >= 0) {
		drift = json_object_new_array();
		for (int i = 0; i < n; i++) {
			json_object *t = json_object_new_object();
			json_object_object_add(
			    t, "vcpu", d[i].vcpu >= 0 ? tool_json_u64((unsigned)d[i].vcpu) : NULL);
			json_object_object_add(t, "tid", json_object_new_int(d[i].tid));
			json_object_object_add(t, "affinity_cpus",
					       json_object_new_string(d[i].affinity_cpus));
			json_object_object_add(t, "defined_cpus",
					       json_object_new_string(d[i].defined_cpus));
			json_object_array_add(drift, t);
		}
		tool_libvirt_drift_free(d, n);
	}
	json_object_object_add(o, "drift", drift);
	return o;
}

static json_object *json_vm(const struct nk_vm_info *vm, const struct nk_hostinfo *info, bool live)
{
	json_object *o = json_object_new_object(), *ram = json_object_new_object(),
		    *regions = json_object_new_array(), *cgroups = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(vm->ref.name));
	json_object_object_add(o, "kind", json_object_new_string(nk_vm_kind_name(vm->ref.kind)));
	json_object_object_add(o, "pid", json_object_new_int(vm->ref.pid));
	json_object_object_add(o, "comm", tool_json_name(vm->ref.comm));
	json_object_object_add(o, "program", tool_json_name(vm->ref.argv0));
	tool_json_vm_trust(o, &vm->ref);
	json_object_object_add(o, "thread_count", tool_json_u64(vm->thread_count));
	json_object_object_add(o, "rss_bytes", tool_json_u64(vm->rss_bytes));
	json_object_object_add(o, "anon_bytes", tool_json_u64(vm->anon_bytes));
	json_object_object_add(o, "thp_bytes", tool_json_u64(vm->thp_bytes));
	json_object_object_add(o, "hugetlb_bytes", tool_json_u64(vm->hugetlb_bytes));
	json_object_object_add(o, "swap_bytes", tool_json_u64(vm->swap_bytes));

	json_object_object_add(ram, "size_bytes", tool_json_u64(vm->guest_ram_bytes));
	json_object_object_add(ram, "size_from_command_line",
			       json_object_new_boolean(vm->guest_ram_from_cmdline));
	json_object_object_add(ram, "resident_bytes", tool_json_u64(vm->guest_rss_bytes));
	json_object_object_add(ram, "backing", json_object_new_string(backing_kind(vm)));
	json_object_object_add(ram, "hugetlb_bytes", tool_json_u64(vm->guest_hugetlb_bytes));
	json_object_object_add(ram, "thp_bytes", tool_json_u64(vm->guest_thp_bytes));
	for (size_t i = 0; i < vm->n_regions; i++) {
		const struct nk_vm_region *g = &vm->regions[i];
		json_object *jr = json_object_new_object();
		json_object_object_add(jr, "host_address", tool_json_u64(g->start));
		json_object_object_add(jr, "size_bytes", tool_json_u64(g->size_bytes));
		json_object_object_add(jr, "page_size_bytes", tool_json_u64(g->page_size));
		json_object_object_add(jr, "backing",
				       json_object_new_string(tool_json_backing(g->backing)));
		json_object_object_add(jr, "mergeable", json_object_new_boolean(g->mergeable));
		json_object_object_add(jr, "resident_bytes", tool_json_u64(g->rss_bytes));
		json_object_object_add(jr, "thp_bytes", tool_json_u64(g->thp_bytes));
		json_object_object_add(jr, "mapping", tool_json_name(g->name));
		json_object_array_add(regions, jr);
	}
	json_object_object_add(ram, "regions", regions);
	json_object_object_add(o, "guest_ram", ram);

	json_object *placement = NULL;
	if (vm->has_placement) {
		const struct nk_vm_placement *p = &vm->placement;
		placement = tool_json_placement(&(struct tool_placement){
		    .method = p->method,
		    .exact = p->exact,
		    .sampled_pages = p->exact ? 0 : p->sampled_pages,
		    .node_bytes = p->node_bytes,
		    .n_node_bytes = p->n_node_bytes,
		    .absent_bytes = p->absent_bytes,
		    .other_bytes = p->other_bytes,
		    .error_bytes = p->error_bytes,
		    /* None counted yet is 0 on every node, not "not told". */
		    .ksm_node_bytes = !p->has_ksm_node_bytes ? NULL
				      : p->ksm_node_bytes    ? p->ksm_node_bytes
							     : &(const uint64_t){0},
		    .n_ksm_node_bytes = p->n_ksm_node_bytes,
		});
	}
	json_object_object_add(o, "placement", placement);
	json_object_object_add(o, "ksm",
			       tool_json_process_ksm(vm->has_ksm ? &vm->ksm : NULL, true,
						     vm->mergeable_bytes, vm->has_ksm_saved,
						     vm->ksm_saved_bytes));

	json_object *threads = NULL;
	if (vm->has_threads) {
		threads = json_object_new_array();
		for (size_t i = 0; i < vm->threads.count; i++) {
			const struct nk_vm_thread *t = &vm->threads.threads[i];
			json_object_array_add(
			    threads, tool_json_thread(t, cpu_node(info, t->last_cpu), true));
		}
	}
	json_object_object_add(o, "vcpu_count",
			       vm->has_threads ? tool_json_u64(vm->threads.vcpu_count) : NULL);
	json_object_object_add(o, "threads", threads);
	for (size_t i = 0; i < vm->n_cgroups; i++)
		json_object_array_add(cgroups, tool_json_cgroup(&vm->cgroups[i]));
	json_object_object_add(o, "cgroups", cgroups);
	json_object_object_add(o, "libvirt", json_libvirt(vm, live));
	return o;
}

static void print_json(const struct host_sample *h, const struct status_args *a, unsigned round,
		       struct vm_sample *vs, bool live)
{
	json_object *root = tool_json_doc("status"), *vms = json_object_new_array(), *watch = NULL;
	json_object_object_add(root, "live", json_object_new_boolean(live));
	json_object_object_add(root, "generated_at", tool_json_now());
	if (a->watch_s > 0) {
		watch = json_object_new_object();
		json_object_object_add(watch, "interval_seconds", tool_json_seconds(a->watch_s));
		json_object_object_add(watch, "round", tool_json_u64(round));
	}
	json_object_object_add(root, "watch", watch);
	json_object_object_add(root, "host", json_host(h));
	for (size_t i = 0; i < vs->n; i++)
		json_object_array_add(vms, json_vm(vs->vms[i], h->info, live));
	json_object_object_add(root, "vms", vms);
	json_object_object_add(root, "errors", json_object_get(vs->errors));
	tool_json_print(root, a->watch_s <= 0);
}

/* ---- text ----------------------------------------------------------------- */

static void print_host_text(const struct host_sample *h, const struct tool_ksm_watch *w)
{
	const struct nk_hostinfo *info = h->info;
	const struct tool_ksm_facts *f = &h->ksm;
	const struct nk_ksm *k = &info->ksm;
	char a[32], b[32], c[32], buf[24];

	if (!f->present) {
		printf("KSM: not available on this kernel\n");
	} else {
		static const enum nk_ksm_field shown[] = {
		    NK_KSM_PAGES_TO_SCAN,  NK_KSM_SLEEP_MILLISECS,  NK_KSM_MERGE_ACROSS_NODES,
		    NK_KSM_USE_ZERO_PAGES, NK_KSM_MAX_PAGE_SHARING, NK_KSM_SMART_SCAN,
		    NK_KSM_ADVISOR_MODE,
		};
		printf("KSM: %s", tool_ksm_state(nk_ksm_get(k, NK_KSM_RUN)));
		for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
			if (nk_ksm_has(k, shown[i]))
				printf("%s %s %s", i ? "," : ";", nk_ksm_field(shown[i])->name,
				       nk_ksm_format_value(shown[i], k->value[shown[i]], buf));
		printf("\n  pages: shared %" PRIu64 ", sharing %" PRIu64 ", unshared %" PRIu64
		       ", volatile %" PRIu64,
		       nk_ksm_get(k, NK_KSM_PAGES_SHARED), nk_ksm_get(k, NK_KSM_PAGES_SHARING),
		       nk_ksm_get(k, NK_KSM_PAGES_UNSHARED), nk_ksm_get(k, NK_KSM_PAGES_VOLATILE));
		if (nk_ksm_has(k, NK_KSM_ZERO_PAGES))
			printf(", zero %" PRIu64, nk_ksm_get(k, NK_KSM_ZERO_PAGES));
		if (nk_ksm_has(k, NK_KSM_GENERAL_PROFIT)) {
			int64_t profit = nk_ksm_profit(k);
			printf("; general_profit %s%s", profit < 0 ? "-" : "",
			       nk_format_bytes(a, sizeof(a),
					       (uint64_t)(profit < 0 ? -profit : profit)));
		}
		if (f->page_size) {
			uint64_t saved = nk_ksm_saved_pages(k) * f->page_size,
				 tracked = nk_ksm_tracked_pages(k) * f->page_size;
			printf("\n  saved %s", nk_format_bytes(a, sizeof(a), saved));
			if (tracked)
				printf(" = %.1f%% of the %s KSM scans",
				       100.0 * (double)saved / (double)tracked,
				       nk_format_bytes(b, sizeof(b), tracked));
		} else {
			printf("\n  saved %" PRIu64 " pages", nk_ksm_saved_pages(k));
		}
		printf("; full scans %" PRIu64 ", last full scan ",
		       nk_ksm_get(k, NK_KSM_FULL_SCANS));
		if (w && w->scan_seconds >= 0)
			printf("%.1f s (+/- %.1f s)\n", w->scan_seconds, w->scan_resolution);
		else
			printf("n/a (%s)\n", w ? "measured once two scans end during --watch"
					       : "measured with --watch");
		if (f->ksmd_pid > 0) {
			printf("  ksmd: PID %d, %.2f s CPU", f->ksmd_pid, f->ksmd_cpu_seconds);
			if (f->ksmd_ratio_since_boot >= 0)
				printf(" (%.2f%% since boot", 100.0 * f->ksmd_ratio_since_boot);
			if (f->ksmd_ratio_since_boot >= 0 && w && w->ksmd_ratio >= 0)
				printf(", %.1f%% over the last interval", 100.0 * w->ksmd_ratio);
			printf("%s\n", f->ksmd_ratio_since_boot >= 0 ? ")" : "");
		}
	}
	for (size_t i = 0; i < info->n_nodes; i++) {
		const struct nk_numa_node *n = &info->nodes[i];
		if (n->memory_known)
			printf("node %d: %s total, %s free", n->id,
			       nk_format_bytes(a, sizeof(a), n->mem_total_kb * 1024),
			       nk_format_bytes(b, sizeof(b), n->mem_free_kb * 1024));
		else
			printf("node %d: memory unknown", n->id);
		for (size_t p = 0; p < n->n_hugepages; p++)
			printf("; %s pages %" PRIu64 " free of %" PRIu64,
			       nk_format_bytes(c, sizeof(c), n->hugepages[p].size_kb * 1024),
			       n->hugepages[p].free, n->hugepages[p].total);
		printf("\n");
	}
	printf("THP: enabled %s, defrag %s\n", info->thp_enabled ? info->thp_enabled : "n/a",
	       info->thp_defrag ? info->thp_defrag : "n/a");
	size_t unread = 0;
	while (info->unread[unread])
		unread++;
	if (unread)
		printf(
		    "%zu host file%s missing or malformed: what %s would tell is unknown or read "
		    "elsewhere ('numaksm check' says which)\n",
		    unread, unread == 1 ? "" : "s", unread == 1 ? "it" : "they");
}

/* Why it is taken for a VM, in words. */
static const char *trust_text(const struct nk_vm_ref *ref)
{
	switch (ref->trust) {
	case NK_VM_TRUST_KVM:
		return "holds a KVM VM";
	case NK_VM_TRUST_REGISTERED:
		return "registered by libvirt";
	case NK_VM_TRUST_OWNER:
		return ref->uid == 0 ? "run by root" : "run by a trusted user";
	case NK_VM_TRUST_PID:
		return "named by its PID";
	case NK_VM_TRUST_UNKNOWN:
		return "not checked (its descriptors need root to look at)";
	case NK_VM_TRUST_NONE:
		break;
	}
	return "a look-alike: no KVM VM, not registered, not run by root";
}

static void print_vm_text(const struct nk_vm_info *vm)
{
	char a[32], b[32], c[32], d[32], e[32], backing[48];

	printf("\n%s: %s, PID %d (%s), %u threads; %s\n", vm->ref.name,
	       nk_vm_kind_name(vm->ref.kind), vm->ref.pid, vm->ref.comm, vm->thread_count,
	       trust_text(&vm->ref));
	printf("  memory: RSS %s, anonymous %s, THP %s, hugetlb %s, swap %s\n",
	       nk_format_bytes(a, sizeof(a), vm->rss_bytes),
	       nk_format_bytes(b, sizeof(b), vm->anon_bytes),
	       nk_format_bytes(c, sizeof(c), vm->thp_bytes),
	       nk_format_bytes(d, sizeof(d), vm->hugetlb_bytes),
	       nk_format_bytes(e, sizeof(e), vm->swap_bytes));
	printf("  guest RAM: %s%s in %zu mapping%s, %s resident, backing %s\n",
	       nk_format_bytes(a, sizeof(a), vm->guest_ram_bytes),
	       vm->guest_ram_from_cmdline ? " (command line)" : "", vm->n_regions,
	       vm->n_regions == 1 ? "" : "s", nk_format_bytes(b, sizeof(b), vm->guest_rss_bytes),
	       backing_label(vm, backing, sizeof(backing)));
	if (vm->has_placement) {
		const struct nk_vm_placement *p = &vm->placement;
		printf("  pages per node (%s, %s):", p->exact ? "exact" : "sampled", p->method);
		bool any = false;
		for (size_t n = 0; n < p->n_node_bytes; n++)
			if (p->node_bytes[n]) {
				printf(" node%zu %s (%.0f%%)", n,
				       nk_format_bytes(a, sizeof(a), p->node_bytes[n]),
				       100.0 * (double)p->node_bytes[n] /
					   (double)(p->present_bytes ? p->present_bytes : 1));
				any = true;
			}
		if (!any)
			printf(" none resident");
		if (!p->exact)
			printf(" (+/- %s, 95%%)",
			       nk_format_bytes(a, sizeof(a), (uint64_t)(p->error_bytes + 0.5)));
		if (p->absent_bytes)
			printf("; %s not faulted in",
			       nk_format_bytes(b, sizeof(b), p->absent_bytes));
		if (p->other_bytes)
			printf("; %s on the zero page or unreadable",
			       nk_format_bytes(c, sizeof(c), p->other_bytes));
		printf("\n");
	}
	printf("  KSM: mergeable %s", nk_format_bytes(a, sizeof(a), vm->mergeable_bytes));
	if (vm->has_ksm) {
		const struct nk_ksm_proc_stat *k = &vm->ksm;
		printf(", merging %" PRIu64 " pages", k->merging_pages);
		if (k->has_zero_pages)
			printf(", zero %" PRIu64 " pages", k->zero_pages);
		printf(", rmap items %" PRIu64, k->rmap_items);
		if (k->has_process_profit)
			printf(", profit %s%s", k->process_profit < 0 ? "-" : "",
			       nk_format_bytes(b, sizeof(b),
					       (uint64_t)llabs((long long)k->process_profit)));
		if (vm->has_ksm_saved)
			printf(", saved %s", nk_format_bytes(c, sizeof(c), vm->ksm_saved_bytes));
	}
	printf("\n");
	if (vm->has_threads) {
		for (size_t i = 0; i < vm->threads.count; i++) {
			const struct nk_vm_thread *t = &vm->threads.threads[i];
			char what[24], *aff = tool_list_text(t->affinity);
			if (t->vcpu >= 0)
				snprintf(what, sizeof(what), "vCPU %d", t->vcpu);
			else
				snprintf(what, sizeof(what), "emulator");
			printf("  %-9s tid %-8d %-16s CPUs %-10s last on %d\n", what, t->tid,
			       t->name, aff, t->last_cpu);
			free(aff);
		}
	} else {
		printf("  vCPU threads: not identified (no thread named like a vCPU)\n");
	}
	if (vm->n_cgroups) {
		printf("  cgroups:");
		for (size_t i = 0; i < vm->n_cgroups; i++) {
			const struct nk_proc_cgroup *g = &vm->cgroups[i];
			if (strcmp(g->controllers, "cpuset") == 0 ||
			    strcmp(g->controllers, "memory") == 0 || g->hierarchy == 0) {
				/* A delegated subtree's names are its user's. */
				_cleanup_free_ char *path = nk_escape(g->path, strlen(g->path));
				printf(" %s%s%s", g->controllers,
				       *g->controllers ? ":" : "v2:", path ? path : "?");
			}
		}
		printf("\n");
	}
}

/* The node holding most of the VM's guest RAM, its share, and the share in
 * KSM pages held on other nodes (-1: not told apart). */
struct vm_locality {
	int node; /* -1: nothing resident, or not measured */
	double share, ksm_elsewhere;
};

static struct vm_locality vm_locality(const struct nk_vm_info *vm)
{
	struct vm_locality l = {.node = -1, .ksm_elsewhere = -1};
	const struct nk_vm_placement *p = &vm->placement;
	if (!vm->has_placement || !p->present_bytes)
		return l;
	/* The main node by the VM's own pages: KSM pages are where they were
	 * merged, whoever shares them. */
	uint64_t best = 0;
	for (size_t n = 0; n < p->n_node_bytes; n++) {
		uint64_t ksm =
		    p->has_ksm_node_bytes && n < p->n_ksm_node_bytes ? p->ksm_node_bytes[n] : 0;
		uint64_t own = p->node_bytes[n] > ksm ? p->node_bytes[n] - ksm : 0;
		if (l.node < 0 || own > best) {
			best = own;
			l.node = (int)n;
		}
	}
	l.share = (double)p->node_bytes[l.node] / (double)p->present_bytes;
	if (p->has_ksm_node_bytes) {
		uint64_t elsewhere = 0;
		for (size_t n = 0; n < p->n_ksm_node_bytes; n++)
			if ((int)n != l.node)
				elsewhere += p->ksm_node_bytes[n];
		l.ksm_elsewhere = (double)elsewhere / (double)p->present_bytes;
	}
	return l;
}

/* One line per VM under a header, like virsh list; returns whether a VM
 * has KSM pages on another node than its own (a note follows the table). */
/* Under the table: each libvirt domain's threads off its definition. */
static void print_libvirt_drift(const struct vm_sample *vs)
{
	for (size_t i = 0; i < vs->n; i++) {
		const struct nk_vm_info *vm = vs->vms[i];
		struct tool_libvirt_drift *d = NULL;
		int n = vm->ref.trust == NK_VM_TRUST_NONE ? -ENOENT : tool_libvirt_drift(vm, &d);
		for (int k = 0; k < n; k++) {
			char what[24] = "emulator";
			if (d[k].vcpu >= 0)
				snprintf(what, sizeof(what), "vCPU %d", d[k].vcpu);
			printf("drift: libvirt domain %s: %s (thread %d) may run on CPUs %s, its "
			       "definition pins it to %s\n",
			       vm->ref.name, what, d[k].tid, d[k].affinity_cpus, d[k].defined_cpus);
		}
		if (n > 0)
			tool_libvirt_drift_free(d, n);
	}
}

static bool print_vm_table(const struct vm_sample *vs, const nk_pin_state *pins)
{
	bool ksm_note = false;
	size_t width = 4;
	for (size_t i = 0; i < vs->n; i++)
		if (vs->vms[i]->ref.trust != NK_VM_TRUST_NONE &&
		    strlen(vs->vms[i]->ref.name) > width)
			width = strlen(vs->vms[i]->ref.name);
	if (width > 32)
		width = 32;
	printf("%-*s  %-16s %7s %10s  %-11s %-22s %10s  %s\n", (int)width, "NAME", "KIND", "PID",
	       "GUEST RAM", "BACKING", "ON NODE", "KSM SAVED", "PINNED");
	for (size_t i = 0; i < vs->n; i++) {
		const struct nk_vm_info *vm = vs->vms[i];
		char ram[32], backing[48], saved[32], where[48] = "n/a", pinned[40];
		unsigned off = 0;
		if (vm->ref.trust == NK_VM_TRUST_NONE)
			continue;
		struct vm_locality l = vm_locality(vm);
		if (l.node >= 0) {
			int n = snprintf(where, sizeof(where), "node%d %.0f%%", l.node,
					 100.0 * l.share);
			if (l.ksm_elsewhere >= 0.005) {
				snprintf(where + n, sizeof(where) - (size_t)n, " +%.0f%% KSM",
					 100.0 * l.ksm_elsewhere);
				ksm_note = true;
			}
		}
		if (vm->has_ksm_saved)
			nk_format_bytes(saved, sizeof(saved), vm->ksm_saved_bytes);
		else
			snprintf(saved, sizeof(saved), "n/a");
		if (!tool_vm_pinning(pins, vm, &off))
			snprintf(pinned, sizeof(pinned), "no");
		else if (off)
			snprintf(pinned, sizeof(pinned), "yes, %u vCPU%s off", off,
				 off == 1 ? "" : "s");
		else
			snprintf(pinned, sizeof(pinned), "yes");
		printf("%-*.*s  %-16s %7d %10s  %-11s %-22s %10s  %s\n", (int)width, (int)width,
		       vm->ref.name, nk_vm_kind_name(vm->ref.kind), vm->ref.pid,
		       nk_format_bytes(ram, sizeof(ram), vm->guest_ram_bytes),
		       backing_label(vm, backing, sizeof(backing)), where, saved, pinned);
	}
	return ksm_note;
}

/* A CSV field: quoted, quotes doubled (RFC 4180); names are printable. */
static void csv_name(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static void print_csv(const struct host_sample *h, const struct vm_sample *vs, bool header)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	double t = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	uint64_t host_saved = h->ksm.present && h->ksm.page_size
				  ? nk_ksm_saved_pages(&h->info->ksm) * h->ksm.page_size
				  : 0;
	if (header)
		printf("time,vm,kind,pid,rss_bytes,guest_ram_bytes,guest_resident_bytes,main_node,"
		       "main_node_ratio,ksm_elsewhere_ratio,ksm_merging_pages,ksm_saved_bytes,"
		       "host_ksm_saved_bytes\n");
	for (size_t i = 0; i < vs->n; i++) {
		const struct nk_vm_info *vm = vs->vms[i];
		if (vm->ref.trust == NK_VM_TRUST_NONE)
			continue;
		struct vm_locality l = vm_locality(vm);
		printf("%.3f,", t);
		csv_name(vm->ref.name);
		printf(",%s,%d,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",", nk_vm_kind_name(vm->ref.kind),
		       vm->ref.pid, vm->rss_bytes, vm->guest_ram_bytes, vm->guest_rss_bytes);
		if (l.node >= 0)
			printf("%d,%.6f,", l.node, l.share);
		else
			printf(",,");
		if (l.ksm_elsewhere >= 0)
			printf("%.6f", l.ksm_elsewhere);
		printf(",");
		if (vm->has_ksm && vm->ksm.has_merging_pages)
			printf("%" PRIu64, vm->ksm.merging_pages);
		printf(",");
		if (vm->has_ksm_saved)
			printf("%" PRIu64, vm->ksm_saved_bytes);
		printf(",%" PRIu64 "\n", host_saved);
	}
}

static void print_text(nk_host *host, const struct host_sample *h, const struct tool_ksm_watch *w,
		       const struct vm_sample *vs, bool long_view, bool live)
{
	if (!live)
		printf("Host tree %s (captured)\n", nk_host_root(host));
	print_host_text(h, w);
	size_t lookalikes = 0;
	for (size_t i = 0; i < vs->n; i++)
		lookalikes += vs->vms[i]->ref.trust == NK_VM_TRUST_NONE;
	printf("\n%zu VM%s\n", vs->n - lookalikes, vs->n - lookalikes == 1 ? "" : "s");
	if (!long_view && vs->n > lookalikes) {
		nk_pin_state *pins = live ? tool_pins_open(host) : NULL;
		bool ksm_note = print_vm_table(vs, pins);
		nk_pin_state_free(pins);
		if (ksm_note) {
			bool across = h->info->ksm_present &&
				      nk_ksm_has(&h->info->ksm, NK_KSM_MERGE_ACROSS_NODES) &&
				      nk_ksm_get(&h->info->ksm, NK_KSM_MERGE_ACROSS_NODES) == 1;
			printf("\n+N%% KSM: pages the VM shares through KSM, kept on another node: "
			       "not misplaced.\n");
			if (across)
				printf("  merge_across_nodes=1 keeps one copy for all nodes; with "
				       "'numaksm ksm set merge_across_nodes=0'\n  (it unmerges "
				       "first) every node keeps its own copy, local to its VMs.\n");
		}
	}
	for (size_t i = 0; long_view && i < vs->n; i++)
		if (vs->vms[i]->ref.trust != NK_VM_TRUST_NONE)
			print_vm_text(vs->vms[i]);
	if (live)
		print_libvirt_drift(vs);
	if (!lookalikes)
		return;
	/* Programs named like a VMM that show nothing more: numaksm does not
	 * act on them (place, pin apply and the tuner's rules refuse them). */
	printf("\n%zu look-alike%s: named like a VMM, but no KVM VM, not registered, not run "
	       "by root\n",
	       lookalikes, lookalikes == 1 ? "" : "s");
	for (size_t i = 0; i < vs->n; i++) {
		const struct nk_vm_ref *r = &vs->vms[i]->ref;
		if (r->trust == NK_VM_TRUST_NONE)
			printf("  %s: %s, PID %d (%s), uid %d\n", r->name, nk_vm_kind_name(r->kind),
			       r->pid, r->comm, r->uid == (uid_t)-1 ? -1 : (int)r->uid);
	}
}

/* ---- command -------------------------------------------------------------- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int parse_args(int argc, char **argv, struct status_args *a, nk_error **err)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},	     {"csv", no_argument, NULL, 'c'},
	    {"watch", required_argument, NULL, 'w'}, {"exact", no_argument, NULL, 'e'},
	    {"root", required_argument, NULL, 'r'},  {"long", no_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},	     {0},
	};
	int c;

	tool_complete_options(argc, argv, opts, NULL, TOOL_VALUE_VM);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jcw:elr:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			a->json = true;
			break;
		case 'c':
			a->csv = true;
			break;
		case 'w': {
			char *end;
			errno = 0;
			a->watch_s = strtod(optarg, &end);
			if (end == optarg || *end || errno || !(a->watch_s > 0) ||
			    a->watch_s > 86400)
				return tool_usage_error(err,
							"invalid --watch '%s': expected seconds "
							"between 0 and 86400, e.g. 2 or 0.5",
							optarg);
			break;
		}
		case 'e':
			a->exact = true;
			break;
		case 'l':
			a->long_view = true;
			break;
		case 'r':
			a->root = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			return tool_getopt_error(err, "status", c, argv);
		}
	}
	a->selectors = argv + optind;
	a->n_selectors = argc - optind;
	if (a->json && a->csv)
		return tool_usage_error(err, "--json or --csv: one of them");
	return 0;
}

int cmd_status(int argc, char **argv, nk_error **err)
{
	struct status_args a = {0};
	struct tool_ksm_watch w = {0};
	struct nk_vm_ref *fixed = NULL;
	size_t n_fixed = 0;
	nk_host *host = NULL;
	int r = parse_args(argc, argv, &a, err), exit_code = EXIT_OK;

	if (r != 0)
		return r > 0 ? EXIT_OK : r;
	r = nk_host_open(a.root, &host, err);
	if (r < 0) {
		tool_mark_usage(); /* a bad --root is a bad command line */
		return r;
	}
	/* Names are resolved once: under --watch a VM that ends drops out. */
	if (a.n_selectors > 0) {
		r = tool_find_vms(host, a.selectors, a.n_selectors, &fixed, &n_fixed, err);
		if (r < 0) {
			nk_host_free(host);
			return r;
		}
	}
	if (a.watch_s > 0) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
	}
	for (unsigned round = 0; !stop; round++) {
		struct host_sample h;
		struct vm_sample vs;
		struct nk_vm_ref *refs = fixed;
		size_t n_refs = n_fixed;

		r = read_host(host, &h, err);
		if (r < 0)
			break;
		if (a.watch_s > 0)
			watch_update(&w, &h);
		if (!fixed && (r = tool_find_vms(host, a.selectors, a.n_selectors, &refs, &n_refs,
						 err)) < 0) {
			host_sample_done(&h);
			break;
		}
		r = read_vms(host, refs, n_refs, &h, a.exact, a.json, &vs);
		if (refs != fixed)
			nk_vm_refs_free(refs, n_refs);
		if (r < 0) {
			host_sample_done(&h);
			r = nk_error_set(err, -r, "out of memory");
			break;
		}
		if (vs.failed)
			exit_code = EXIT_FAIL;
		if (a.json) {
			print_json(&h, &a, round, &vs, nk_host_is_live(host));
		} else if (a.csv) {
			print_csv(&h, &vs, round == 0);
			fflush(stdout);
		} else {
			if (round > 0)
				printf("\n----------------------------------------\n");
			/* The VMs named are shown in detail, as all are with --long. */
			print_text(host, &h, a.watch_s > 0 ? &w : NULL, &vs,
				   a.long_view || a.n_selectors > 0, nk_host_is_live(host));
			fflush(stdout);
		}
		vm_sample_done(&vs);
		host_sample_done(&h);
		if (a.watch_s <= 0)
			break;
		struct timespec ts = {(time_t)a.watch_s,
				      (long)((a.watch_s - (double)(time_t)a.watch_s) * 1e9)};
		while (!stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	nk_vm_refs_free(fixed, n_fixed);
	nk_host_free(host);
	tool_libvirt_close();
	return r < 0 ? r : exit_code;
}

/* ---- top: the table, redrawn in place --------------------------------------- */

enum top_sort { SORT_SAVED, SORT_RSS, SORT_LOCALITY, SORT_NAME };
static const char *const top_sort_names[] = {"KSM saved", "RSS", "locality", "name"};

static enum top_sort top_sort_key;

static int top_compare(const void *a, const void *b)
{
	const struct nk_vm_info *x = *(struct nk_vm_info *const *)a,
				*y = *(struct nk_vm_info *const *)b;
	switch (top_sort_key) {
	case SORT_SAVED:
		if (x->ksm_saved_bytes != y->ksm_saved_bytes)
			return x->ksm_saved_bytes > y->ksm_saved_bytes ? -1 : 1;
		break;
	case SORT_RSS:
		if (x->rss_bytes != y->rss_bytes)
			return x->rss_bytes > y->rss_bytes ? -1 : 1;
		break;
	case SORT_LOCALITY: { /* the least local first */
		struct vm_locality lx = vm_locality(x), ly = vm_locality(y);
		if (lx.share != ly.share)
			return lx.share < ly.share ? -1 : 1;
		break;
	}
	case SORT_NAME:
		break;
	}
	int c = strcmp(x->ref.name, y->ref.name);
	return c ? c : (x->ref.pid > y->ref.pid) - (x->ref.pid < y->ref.pid);
}

static struct termios top_saved_termios;
static bool top_raw;

static void top_restore_terminal(void)
{
	if (top_raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &top_saved_termios);
		top_raw = false;
		fputs("\033[?25h", stdout); /* the cursor back */
		fflush(stdout);
	}
}

static void top_usage(FILE *out)
{
	fprintf(out, "Usage: numaksm top [--interval SECONDS] [--sort saved|rss|locality|name]\n"
		     "                   [--batch] [--iterations N] [--root DIR]\n\n"
		     "status's table of VMs, redrawn in place every SECONDS (default 2), with the\n"
		     "host's KSM rate (pages merged and scanned per second) and ksmd's CPU share.\n"
		     "Keys: s sort by KSM saved, r by RSS, l by locality (least local first),\n"
		     "n by name, q quit.  --batch (or when stdout is not a terminal) prints one\n"
		     "frame after the other, for a log; --iterations stops after N frames.\n");
}

static void top_header(const struct host_sample *h, const struct host_sample *prev, double interval)
{
	const struct nk_ksm *k = &h->info->ksm;
	char a[32], when[16];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	printf("numaksm top - %s, every %.1f s, sorted by %s (s saved, r RSS, l locality, n "
	       "name, q quit)\n",
	       when, interval, top_sort_names[top_sort_key]);
	if (!h->ksm.present) {
		printf("KSM: not available on this kernel\n");
		return;
	}
	printf("KSM %s: saved %s", tool_ksm_state(nk_ksm_get(k, NK_KSM_RUN)),
	       h->ksm.page_size
		   ? nk_format_bytes(a, sizeof(a), nk_ksm_saved_pages(k) * h->ksm.page_size)
		   : "n/a");
	if (prev && h->when > prev->when) {
		const struct nk_ksm *p = &prev->info->ksm;
		double dt = h->when - prev->when;
		double merged =
		    ((double)nk_ksm_saved_pages(k) - (double)nk_ksm_saved_pages(p)) / dt;
		printf(", %+.0f pages/s merged", merged);
		if (nk_ksm_has(k, NK_KSM_PAGES_SCANNED) && nk_ksm_has(p, NK_KSM_PAGES_SCANNED))
			printf(", %.0f pages/s scanned",
			       ((double)nk_ksm_get(k, NK_KSM_PAGES_SCANNED) -
				(double)nk_ksm_get(p, NK_KSM_PAGES_SCANNED)) /
				   dt);
	}
	if (h->ksm.ksmd_ratio_interval >= 0)
		printf("; ksmd %.1f%% CPU", 100.0 * h->ksm.ksmd_ratio_interval);
	if (nk_ksm_has(k, NK_KSM_MERGE_ACROSS_NODES))
		printf("; merge_across_nodes %" PRIu64, nk_ksm_get(k, NK_KSM_MERGE_ACROSS_NODES));
	if (h->ksm.tuner_running > 0)
		printf("; knobs owned by %s (PID %d)", h->ksm.tuner_program, h->ksm.tuner_pid);
	printf("\n");
	for (size_t i = 0; i < h->info->n_nodes; i++) {
		const struct nk_numa_node *n = &h->info->nodes[i];
		char b[32];
		printf("%snode %d: %s free of %s", i ? "; " : "", n->id,
		       nk_format_bytes(a, sizeof(a), n->mem_free_kb * 1024),
		       nk_format_bytes(b, sizeof(b), n->mem_total_kb * 1024));
	}
	printf("\n\n");
}

int cmd_top(int argc, char **argv, nk_error **err)
{
	static const struct option opts[] = {
	    {"interval", required_argument, NULL, 'i'},
	    {"sort", required_argument, NULL, 's'},
	    {"batch", no_argument, NULL, 'b'},
	    {"iterations", required_argument, NULL, 'n'},
	    {"root", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	double interval = 2;
	long long iterations = 0;
	bool batch = false;
	const char *root = NULL;
	int c;

	top_sort_key = SORT_SAVED;
	tool_complete_options(argc, argv, opts, NULL, TOOL_VALUE_NONE);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":i:s:bn:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': {
			char *end;
			errno = 0;
			interval = strtod(optarg, &end);
			if (end == optarg || *end || errno || !(interval >= 0.1) || interval > 3600)
				return tool_usage_error(err,
							"invalid --interval '%s': expected seconds "
							"from 0.1 to 3600",
							optarg);
			break;
		}
		case 's': {
			static const char *const keys[] = {"saved", "rss", "locality", "name"};
			size_t k = 0;
			while (k < 4 && strcmp(optarg, keys[k]))
				k++;
			if (k == 4)
				return tool_usage_error(
				    err,
				    "invalid --sort '%s': expected saved, rss, locality or name",
				    optarg);
			top_sort_key = (enum top_sort)k;
			break;
		}
		case 'b':
			batch = true;
			break;
		case 'n':
			if (nk_parse_int(optarg, 1, 1000000, &iterations, err) < 0) {
				tool_mark_usage();
				return nk_error_prefix(err, "--iterations");
			}
			break;
		case 'r':
			root = optarg;
			break;
		case 'h':
			top_usage(stdout);
			return EXIT_OK;
		default:
			return tool_getopt_error(err, "top", c, argv);
		}
	}
	if (optind < argc)
		return tool_usage_error(err, "unexpected argument '%s'", argv[optind]);

	nk_host *host = NULL;
	int r = nk_host_open(root, &host, err);
	if (r < 0) {
		tool_mark_usage();
		return r;
	}
	if (!isatty(STDOUT_FILENO))
		batch = true;
	bool keys = !batch && isatty(STDIN_FILENO);
	if (keys && tcgetattr(STDIN_FILENO, &top_saved_termios) == 0) {
		struct termios raw = top_saved_termios;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) {
			top_raw = true;
			atexit(top_restore_terminal);
			fputs("\033[?25l", stdout); /* no cursor blinking over the table */
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	struct tool_ksm_watch w = {0};
	struct host_sample prev = {0};
	bool redraw_only = false;
	nk_vm_cache *cache = nk_vm_cache_new(); /* NULL: every process is read */
	struct vm_sample vs = {0};
	for (long long frame = 0; !stop && (!iterations || frame < iterations);) {
		struct host_sample h = {0};
		if (!redraw_only) {
			struct nk_vm_ref *refs = NULL;
			size_t n = 0;
			r = read_host(host, &h, err);
			if (r < 0)
				break;
			watch_update(&w, &h);
			int found = nk_vm_find_cached(host, cache, &refs, err);
			if (found < 0) {
				r = found;
				host_sample_done(&h);
				break;
			}
			n = (size_t)found;
			vm_sample_done(&vs);
			r = read_vms(host, refs, n, &h, false, false, &vs);
			nk_vm_refs_free(refs, n);
			if (r < 0) {
				host_sample_done(&h);
				r = nk_error_set(err, -r, "out of memory");
				break;
			}
		}
		/* Look-alikes have no line; the others sorted by the key. */
		qsort(vs.vms, vs.n, sizeof(*vs.vms), top_compare);
		if (batch)
			printf(frame ? "\n" : "");
		else
			fputs("\033[H\033[2J", stdout);
		const struct host_sample *shown = redraw_only ? &prev : &h;
		top_header(shown, redraw_only || !prev.info ? NULL : &prev, interval);
		size_t vms = 0;
		for (size_t i = 0; i < vs.n; i++)
			vms += vs.vms[i]->ref.trust != NK_VM_TRUST_NONE;
		if (vms) {
			nk_pin_state *pins = nk_host_is_live(host) ? tool_pins_open(host) : NULL;
			print_vm_table(&vs, pins);
			nk_pin_state_free(pins);
		} else {
			printf("no VMs\n");
		}
		fflush(stdout);
		if (!redraw_only) {
			host_sample_done(&prev);
			prev = h;
			frame++;
		}
		redraw_only = false;
		if (iterations && frame >= iterations)
			break;
		/* Wait for the interval, or a key. */
		double until = now_s() + interval;
		while (!stop) {
			double left = until - now_s();
			if (left <= 0)
				break;
			struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
			int ready = keys ? poll(&p, 1, (int)(left * 1000) + 1) : 0;
			if (!keys) {
				struct timespec ts = {(time_t)left,
						      (long)((left - (double)(time_t)left) * 1e9)};
				nanosleep(&ts, NULL);
				break;
			}
			char ch;
			if (ready <= 0 || read(STDIN_FILENO, &ch, 1) != 1)
				continue;
			if (ch == 'q') {
				stop = 1;
			} else if (strchr("srln", ch)) {
				top_sort_key = ch == 's'   ? SORT_SAVED
					       : ch == 'r' ? SORT_RSS
					       : ch == 'l' ? SORT_LOCALITY
							   : SORT_NAME;
				redraw_only = true;
				break;
			}
		}
	}
	vm_sample_done(&vs);
	host_sample_done(&prev);
	nk_vm_cache_free(cache);
	top_restore_terminal();
	if (!batch && r >= 0)
		printf("\n");
	nk_host_free(host);
	return r < 0 ? r : EXIT_OK;
}
