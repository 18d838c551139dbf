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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <numaksm/hostinfo.h>
#include <numaksm/ksm-control.h>
#include <numaksm/ksm.h>
#include <numaksm/proc.h>
#include <numaksm/vm.h>

#include "tool.h"

struct status_args {
	bool json;
	bool exact;
	double watch_s; /* 0: once */
	const char *root;
	char **selectors;
	int n_selectors;
};

/* ksmd's CPU time, and the time since boot it is spread over. */
struct ksmd_cpu {
	pid_t pid;
	double cpu_seconds;
	double uptime_seconds;
};

/* What one reading of the host holds. */
struct host_sample {
	struct nk_hostinfo *info;
	bool has_ksm;
	struct nk_ksm_counters ksm;
	bool has_ksmd;
	struct ksmd_cpu ksmd;
	double when; /* CLOCK_MONOTONIC seconds */
};

/* What --watch carries from one reading to the next. */
struct watch_state {
	bool have_prev;
	struct ksmd_cpu prev_ksmd;
	double prev_when;
	uint64_t scans_seen;	/* full_scans at the last change (or the first reading) */
	double scan_end;	/* when full_scans last changed; < 0 before the first change */
	double scan_seconds;	/* time per full scan between two changes; < 0 unknown */
	double scan_resolution; /* +/- of scan_seconds: the watch interval */
	double ksmd_percent;	/* over the last interval; < 0 unknown */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: numaksm status [--json] [--watch SECONDS] [--exact] [--root DIR] "
		"[NAME|PID ...]\n\n"
		"Show the host's KSM state, knobs and savings, ksmd's CPU use, memory and\n"
		"hugepages per NUMA node and THP; then every VM found (numaksm-vmm, QEMU,\n"
		"Cloud Hypervisor, Firecracker, crosvm) or the VMs and processes named: RSS,\n"
		"guest RAM and its backing, pages per node, KSM figures, vCPU threads and\n"
		"cgroups.  A VM that exits while it is read is left out.\n\n"
		"  --json           machine-readable (with --watch: one JSON object per line)\n"
		"  --watch SECONDS  repeat every SECONDS until interrupted; measures ksmd's CPU\n"
		"                   use and the duration of a full KSM scan\n"
		"  --exact          count every guest page (default: a sample of 65536 pages\n"
		"                   per mapping, with its error bound)\n"
		"  --root DIR       read a captured host tree (pages per node from numa_maps)\n\n"
		"Exit status: 0 success, 1 a VM could not be read or a name is unknown,\n"
		"2 usage error.\n");
}

/* ---- shared with cmd-place.c ---------------------------------------------- */

char *tool_list_text(const nk_bitmap *b)
{
	char *s = NULL;
	if (!b)
		return strdup("");
	if (nk_bitmap_format(b, &s) < 0)
		abort();
	return s;
}

void tool_print_json(struct json_object *root, bool pretty)
{
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
		    (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : 0);
	puts(json_object_to_json_string_ext(root, flags));
	fflush(stdout);
	json_object_put(root);
}

const char *tool_format_bytes(char *buf, size_t size, uint64_t bytes)
{
	if (bytes < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", bytes);
		return buf;
	}
	return tool_format_kb(buf, size, (unsigned long long)(bytes / 1024));
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
	if (h->has_ksm)
		nk_ksm_counters_done(&h->ksm);
	*h = (struct host_sample){0};
}

/* ksmd's CPU time (policy/'s reader) and /proc/uptime; false without them. */
static bool read_ksmd(nk_host *host, struct ksmd_cpu *ret)
{
	struct nk_proc_cputime t;
	char *uptime = NULL, *end;
	pid_t pid;

	if (nk_ksmd_find(host, &pid, NULL) < 0 || nk_proc_cputime_read(host, pid, &t, NULL) < 0 ||
	    nk_host_read(host, "/proc/uptime", &uptime, NULL) < 0)
		return false;
	errno = 0;
	double up = strtod(uptime, &end);
	bool ok = end != uptime && !errno && up > 0;
	free(uptime);
	*ret = (struct ksmd_cpu){
	    .pid = pid, .cpu_seconds = (double)t.run_ns / 1e9, .uptime_seconds = up};
	return ok;
}

static int read_host(nk_host *host, struct host_sample *ret, nk_error **err)
{
	struct host_sample h = {.when = now_s()};
	int r = nk_hostinfo_read(host, &h.info, err);
	if (r < 0)
		return r;
	r = nk_ksm_read(host, &h.ksm, NULL);
	h.has_ksm = r >= 0;
	h.has_ksmd = h.has_ksm && read_ksmd(host, &h.ksmd);
	*ret = h;
	return 0;
}

static uint64_t page_size(void)
{
	return (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Pages KSM keeps rmap items for: every page it scans, merged or not. */
static uint64_t ksm_tracked_pages(const struct nk_ksm_counters *c)
{
	return c->pages_shared + c->pages_sharing + c->pages_unshared + c->pages_volatile;
}

static void watch_update(struct watch_state *w, const struct host_sample *h)
{
	if (!h->has_ksm)
		return;
	uint64_t scans = h->ksm.full_scans;
	if (!w->have_prev) {
		w->scans_seen = scans;
		w->scan_end = -1;
		w->scan_seconds = -1;
		w->ksmd_percent = -1;
	} else {
		/* A scan ended between the last reading and this one.  The time
		 * between two such ends, over the scans in between, is the time
		 * of one scan, to within one interval. */
		if (scans < w->scans_seen) {
			/* The counter went back (KSM was reset): start over. */
			w->scans_seen = scans;
			w->scan_end = -1;
		} else if (scans > w->scans_seen) {
			if (w->scan_end >= 0) {
				w->scan_seconds =
				    (h->when - w->scan_end) / (double)(scans - w->scans_seen);
				w->scan_resolution = h->when - w->prev_when;
			}
			w->scan_end = h->when;
			w->scans_seen = scans;
		}
		if (h->has_ksmd && w->prev_ksmd.pid == h->ksmd.pid && h->when > w->prev_when)
			w->ksmd_percent = 100.0 * (h->ksmd.cpu_seconds - w->prev_ksmd.cpu_seconds) /
					  (h->when - w->prev_when);
	}
	w->prev_ksmd = h->ksmd;
	w->prev_when = h->when;
	w->have_prev = true;
}

/* The VMs to show: those named, or all found. */
static int find_vms(nk_host *host, const struct status_args *a, struct nk_vm_ref **ret,
		    size_t *ret_n, nk_error **err)
{
	if (a->n_selectors == 0) {
		int n = nk_vm_find_all(host, ret, err);
		if (n < 0)
			return n;
		*ret_n = (size_t)n;
		return 0;
	}
	struct nk_vm_ref *refs = calloc((size_t)a->n_selectors, sizeof(*refs));
	if (!refs)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (int i = 0; i < a->n_selectors; i++) {
		int r = nk_vm_lookup(host, a->selectors[i], &refs[i], err);
		if (r < 0) {
			nk_vm_refs_free(refs, (size_t)i);
			return r;
		}
	}
	*ret = refs;
	*ret_n = (size_t)a->n_selectors;
	return 0;
}

struct vm_sample {
	struct nk_vm_info **vms;
	size_t n;
	unsigned failed; /* could not be read for a reason other than being gone */
};

static void vm_sample_done(struct vm_sample *s)
{
	for (size_t i = 0; i < s->n; i++)
		nk_vm_info_free(s->vms[i]);
	free(s->vms);
	*s = (struct vm_sample){0};
}

static int read_vms(nk_host *host, const struct nk_vm_ref *refs, size_t n,
		    const struct host_sample *h, bool exact, struct vm_sample *ret)
{
	struct vm_sample s = {.vms = calloc(n ? n : 1, sizeof(*s.vms))};
	unsigned flags = NK_VM_READ_PLACEMENT | NK_VM_READ_THREADS | (exact ? NK_VM_READ_EXACT : 0);

	if (!s.vms)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		nk_error *e = NULL;
		int r =
		    nk_vm_read(host, &refs[i], h->has_ksm ? &h->ksm : NULL, flags, &s.vms[s.n], &e);
		if (r >= 0) {
			s.n++;
		} else if (r != -ESRCH) {
			fprintf(stderr, "numaksm status: %s\n",
				e ? nk_error_message(e) : strerror(-r));
			if (nk_error_get_hint(e))
				fprintf(stderr, "  hint: %s\n", nk_error_get_hint(e));
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
		snprintf(buf, size, "hugetlb %s", tool_format_bytes(psz, sizeof(psz), ps));
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

static const char *backing_kind(const struct nk_vm_info *vm)
{
	if (!vm->n_regions)
		return "unknown";
	if (vm->guest_rss_bytes && vm->guest_hugetlb_bytes == vm->guest_rss_bytes)
		return "hugetlb";
	if (vm->guest_hugetlb_bytes)
		return "mixed";
	return vm->guest_thp_bytes ? "THP" : "4K";
}

static const char *const run_names[] = {"stopped", "running", "unmerging"};

static const char *ksm_run_name(uint64_t run)
{
	return run < 3 ? run_names[run] : "unknown";
}

/* ---- JSON ----------------------------------------------------------------- */

static json_object *json_u64_or_null(bool has, uint64_t v)
{
	return has ? json_object_new_uint64(v) : NULL;
}

static json_object *json_host_ksm(const struct host_sample *h, const struct watch_state *w)
{
	const struct nk_ksm_counters *c = &h->ksm;
	json_object *o = json_object_new_object(), *knobs = json_object_new_object(),
		    *counters = json_object_new_object(), *scan = json_object_new_object();
	uint64_t ps = page_size(), saved = nk_ksm_saved_pages(c) * ps,
		 tracked = ksm_tracked_pages(c) * ps;

	json_object_object_add(o, "present", json_object_new_boolean(true));
	json_object_object_add(o, "state", json_object_new_string(ksm_run_name(c->run)));
	json_object_object_add(knobs, "run", json_object_new_uint64(c->run));
	json_object_object_add(knobs, "pages_to_scan", json_object_new_uint64(c->pages_to_scan));
	json_object_object_add(knobs, "sleep_millisecs",
			       json_object_new_uint64(c->sleep_millisecs));
	json_object_object_add(knobs, "merge_across_nodes",
			       json_object_new_uint64(c->merge_across_nodes));
	json_object_object_add(knobs, "use_zero_pages",
			       json_u64_or_null(c->has_use_zero_pages, c->use_zero_pages));
	json_object_object_add(knobs, "max_page_sharing",
			       json_u64_or_null(c->has_max_page_sharing, c->max_page_sharing));
	json_object_object_add(knobs, "smart_scan",
			       json_u64_or_null(c->has_smart_scan, c->smart_scan));
	json_object_object_add(knobs, "advisor_mode",
			       c->advisor_mode ? json_object_new_string(c->advisor_mode) : NULL);
	json_object_object_add(o, "knobs", knobs);
	json_object_object_add(counters, "pages_shared", json_object_new_uint64(c->pages_shared));
	json_object_object_add(counters, "pages_sharing", json_object_new_uint64(c->pages_sharing));
	json_object_object_add(counters, "pages_unshared",
			       json_object_new_uint64(c->pages_unshared));
	json_object_object_add(counters, "pages_volatile",
			       json_object_new_uint64(c->pages_volatile));
	json_object_object_add(counters, "ksm_zero_pages",
			       json_u64_or_null(c->has_ksm_zero_pages, c->ksm_zero_pages));
	json_object_object_add(counters, "general_profit",
			       c->has_general_profit ? json_object_new_int64(c->general_profit)
						     : NULL);
	json_object_object_add(counters, "full_scans", json_object_new_uint64(c->full_scans));
	json_object_object_add(counters, "pages_scanned",
			       json_u64_or_null(c->has_pages_scanned, c->pages_scanned));
	json_object_object_add(o, "counters", counters);
	json_object_object_add(o, "page_size", json_object_new_uint64(ps));
	json_object_object_add(o, "saved_bytes", json_object_new_uint64(saved));
	json_object_object_add(o, "tracked_bytes", json_object_new_uint64(tracked));
	json_object_object_add(o, "saved_share",
			       tracked ? json_object_new_double((double)saved / (double)tracked)
				       : NULL);
	bool measured = w && w->scan_seconds >= 0;
	json_object_object_add(scan, "measured", json_object_new_boolean(measured));
	json_object_object_add(scan, "seconds",
			       measured ? json_object_new_double(w->scan_seconds) : NULL);
	json_object_object_add(scan, "resolution_seconds",
			       measured ? json_object_new_double(w->scan_resolution) : NULL);
	json_object_object_add(o, "last_full_scan", scan);
	if (h->has_ksmd) {
		json_object *k = json_object_new_object();
		json_object_object_add(k, "pid", json_object_new_int((int)h->ksmd.pid));
		json_object_object_add(k, "cpu_seconds",
				       json_object_new_double(h->ksmd.cpu_seconds));
		json_object_object_add(
		    k, "cpu_percent_since_boot",
		    json_object_new_double(100.0 * h->ksmd.cpu_seconds / h->ksmd.uptime_seconds));
		json_object_object_add(
		    k, "cpu_percent_interval",
		    w && w->ksmd_percent >= 0 ? json_object_new_double(w->ksmd_percent) : NULL);
		json_object_object_add(o, "ksmd", k);
	} else {
		json_object_object_add(o, "ksmd", NULL);
	}
	return o;
}

static json_object *json_host(const struct host_sample *h, const struct watch_state *w)
{
	const struct nk_hostinfo *info = h->info;
	json_object *o = json_object_new_object(), *nodes = json_object_new_array(), *thp;

	if (h->has_ksm) {
		json_object_object_add(o, "ksm", json_host_ksm(h, w));
	} else {
		json_object *k = json_object_new_object();
		json_object_object_add(k, "present", json_object_new_boolean(false));
		json_object_object_add(o, "ksm", k);
	}
	for (size_t i = 0; i < info->n_nodes; i++) {
		const struct nk_numa_node *n = &info->nodes[i];
		json_object *jn = json_object_new_object(), *hp = json_object_new_array();
		json_object_object_add(jn, "id", json_object_new_int(n->id));
		json_object_object_add(jn, "memory_bytes",
				       json_object_new_uint64(n->mem_total_kb * 1024));
		json_object_object_add(jn, "free_bytes",
				       json_object_new_uint64(n->mem_free_kb * 1024));
		for (size_t k = 0; k < n->n_hugepages; k++) {
			json_object *p = json_object_new_object();
			json_object_object_add(p, "size_kb",
					       json_object_new_uint64(n->hugepages[k].size_kb));
			json_object_object_add(p, "total",
					       json_object_new_uint64(n->hugepages[k].total));
			json_object_object_add(p, "free",
					       json_object_new_uint64(n->hugepages[k].free));
			json_object_array_add(hp, p);
		}
		json_object_object_add(jn, "hugepages", hp);
		json_object_array_add(nodes, jn);
	}
	json_object_object_add(o, "nodes", nodes);
	thp = json_object_new_object();
	json_object_object_add(
	    thp, "enabled", info->thp_enabled ? json_object_new_string(info->thp_enabled) : NULL);
	json_object_object_add(thp, "defrag",
			       info->thp_defrag ? json_object_new_string(info->thp_defrag) : NULL);
	json_object_object_add(o, "thp", thp);
	return o;
}

static json_object *json_vm(const struct nk_vm_info *vm)
{
	json_object *o = json_object_new_object(), *ram = json_object_new_object(),
		    *regions = json_object_new_array(), *cgroups = json_object_new_array();
	char addr[32];

	json_object_object_add(o, "name", json_object_new_string(vm->ref.name));
	json_object_object_add(o, "kind", json_object_new_string(nk_vm_kind_name(vm->ref.kind)));
	json_object_object_add(o, "pid", json_object_new_int(vm->ref.pid));
	json_object_object_add(o, "comm", json_object_new_string(vm->ref.comm));
	json_object_object_add(o, "program", json_object_new_string(vm->ref.argv0));
	json_object_object_add(o, "threads", json_object_new_int((int)vm->thread_count));
	json_object_object_add(o, "rss_bytes", json_object_new_uint64(vm->rss_bytes));
	json_object_object_add(o, "anon_bytes", json_object_new_uint64(vm->anon_bytes));
	json_object_object_add(o, "thp_bytes", json_object_new_uint64(vm->thp_bytes));
	json_object_object_add(o, "hugetlb_bytes", json_object_new_uint64(vm->hugetlb_bytes));
	json_object_object_add(o, "swap_bytes", json_object_new_uint64(vm->swap_bytes));

	json_object_object_add(ram, "bytes", json_object_new_uint64(vm->guest_ram_bytes));
	json_object_object_add(ram, "from_command_line",
			       json_object_new_boolean(vm->guest_ram_from_cmdline));
	json_object_object_add(ram, "resident_bytes", json_object_new_uint64(vm->guest_rss_bytes));
	json_object_object_add(ram, "backing", json_object_new_string(backing_kind(vm)));
	json_object_object_add(ram, "hugetlb_bytes",
			       json_object_new_uint64(vm->guest_hugetlb_bytes));
	json_object_object_add(ram, "thp_bytes", json_object_new_uint64(vm->guest_thp_bytes));
	for (size_t i = 0; i < vm->n_regions; i++) {
		const struct nk_vm_region *g = &vm->regions[i];
		json_object *jr = json_object_new_object();
		snprintf(addr, sizeof(addr), "0x%" PRIx64, g->start);
		json_object_object_add(jr, "start", json_object_new_string(addr));
		json_object_object_add(jr, "size_bytes", json_object_new_uint64(g->size_bytes));
		json_object_object_add(jr, "page_size", json_object_new_uint64(g->page_size));
		json_object_object_add(jr, "backing",
				       json_object_new_string(nk_backing_name(g->backing)));
		json_object_object_add(jr, "mergeable", json_object_new_boolean(g->mergeable));
		json_object_object_add(jr, "resident_bytes", json_object_new_uint64(g->rss_bytes));
		json_object_object_add(jr, "thp_bytes", json_object_new_uint64(g->thp_bytes));
		json_object_object_add(jr, "mapping", json_object_new_string(g->name));
		json_object_array_add(regions, jr);
	}
	json_object_object_add(ram, "regions", regions);
	json_object_object_add(o, "guest_ram", ram);

	if (vm->has_placement) {
		const struct nk_vm_placement *p = &vm->placement;
		json_object *pl = json_object_new_object(), *per = json_object_new_object();
		json_object_object_add(pl, "method", json_object_new_string(p->method));
		json_object_object_add(pl, "exact", json_object_new_boolean(p->exact));
		for (size_t n = 0; n < p->n_node_bytes; n++) {
			char key[24];
			snprintf(key, sizeof(key), "%zu", n);
			if (p->node_bytes[n])
				json_object_object_add(per, key,
						       json_object_new_uint64(p->node_bytes[n]));
		}
		json_object_object_add(pl, "node_bytes", per);
		json_object_object_add(pl, "absent_bytes", json_object_new_uint64(p->absent_bytes));
		json_object_object_add(pl, "other_bytes", json_object_new_uint64(p->other_bytes));
		json_object_object_add(pl, "error_bytes", json_object_new_double(p->error_bytes));
		json_object_object_add(o, "placement", pl);
	} else {
		json_object_object_add(o, "placement", NULL);
	}

	json_object *ksm = json_object_new_object();
	json_object_object_add(ksm, "mergeable_bytes", json_object_new_uint64(vm->mergeable_bytes));
	if (vm->has_ksm) {
		const struct nk_ksm_proc_stat *k = &vm->ksm;
		json_object_object_add(ksm, "rmap_items", json_object_new_uint64(k->rmap_items));
		json_object_object_add(ksm, "merging_pages",
				       json_object_new_uint64(k->merging_pages));
		json_object_object_add(ksm, "zero_pages",
				       json_u64_or_null(k->has_zero_pages, k->zero_pages));
		json_object_object_add(
		    ksm, "process_profit",
		    k->has_process_profit ? json_object_new_int64(k->process_profit) : NULL);
		json_object_object_add(ksm, "mergeable",
				       k->has_merge_flags ? json_object_new_boolean(k->mergeable)
							  : NULL);
		json_object_object_add(ksm, "merge_any",
				       k->has_merge_flags ? json_object_new_boolean(k->merge_any)
							  : NULL);
		json_object_object_add(ksm, "saved_bytes",
				       json_object_new_uint64(vm->ksm_saved_bytes));
	}
	json_object_object_add(o, "ksm", ksm);

	if (vm->has_threads) {
		json_object *th = json_object_new_array();
		for (size_t i = 0; i < vm->threads.count; i++) {
			const struct nk_vm_thread *t = &vm->threads.threads[i];
			json_object *jt = json_object_new_object();
			char *aff = tool_list_text(t->affinity);
			json_object_object_add(jt, "tid", json_object_new_int(t->tid));
			json_object_object_add(jt, "vcpu",
					       t->vcpu >= 0 ? json_object_new_int(t->vcpu) : NULL);
			json_object_object_add(jt, "name", json_object_new_string(t->name));
			json_object_object_add(jt, "affinity", json_object_new_string(aff));
			json_object_object_add(jt, "last_cpu", json_object_new_int(t->last_cpu));
			json_object_array_add(th, jt);
			free(aff);
		}
		json_object_object_add(o, "vcpus",
				       json_object_new_int((int)vm->threads.vcpu_count));
		json_object_object_add(o, "vmm_threads", th);
	} else {
		json_object_object_add(o, "vcpus", NULL);
		json_object_object_add(o, "vmm_threads", NULL);
	}
	for (size_t i = 0; i < vm->n_cgroups; i++) {
		json_object *jc = json_object_new_object();
		json_object_object_add(jc, "hierarchy",
				       json_object_new_int((int)vm->cgroups[i].hierarchy));
		json_object_object_add(jc, "controllers",
				       json_object_new_string(vm->cgroups[i].controllers));
		json_object_object_add(jc, "path", json_object_new_string(vm->cgroups[i].path));
		json_object_array_add(cgroups, jc);
	}
	json_object_object_add(o, "cgroups", cgroups);
	return o;
}

static void print_json(const struct host_sample *h, const struct watch_state *w,
		       const struct vm_sample *vs, bool live, bool lines)
{
	json_object *root = json_object_new_object(), *vms = json_object_new_array();
	json_object_object_add(root, "numaksm_status", json_object_new_int(1));
	json_object_object_add(root, "live", json_object_new_boolean(live));
	json_object_object_add(root, "time", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(root, "host", json_host(h, w));
	for (size_t i = 0; i < vs->n; i++)
		json_object_array_add(vms, json_vm(vs->vms[i]));
	json_object_object_add(root, "vms", vms);
	tool_print_json(root, !lines);
}

/* ---- text ----------------------------------------------------------------- */

static void print_host_text(const struct host_sample *h, const struct watch_state *w)
{
	const struct nk_hostinfo *info = h->info;
	char a[32], b[32], c[32];

	if (!h->has_ksm) {
		printf("KSM: not available on this kernel\n");
	} else {
		const struct nk_ksm_counters *k = &h->ksm;
		uint64_t ps = page_size(), saved = nk_ksm_saved_pages(k) * ps,
			 tracked = ksm_tracked_pages(k) * ps;
		printf("KSM: %s; pages_to_scan %" PRIu64 ", sleep %" PRIu64
		       " ms, merge_across_nodes %" PRIu64,
		       ksm_run_name(k->run), k->pages_to_scan, k->sleep_millisecs,
		       k->merge_across_nodes);
		if (k->has_use_zero_pages)
			printf(", use_zero_pages %" PRIu64, k->use_zero_pages);
		if (k->has_max_page_sharing)
			printf(", max_page_sharing %" PRIu64, k->max_page_sharing);
		if (k->has_smart_scan)
			printf(", smart_scan %" PRIu64, k->smart_scan);
		if (k->advisor_mode)
			printf(", advisor %s", k->advisor_mode);
		printf("\n  pages: shared %" PRIu64 ", sharing %" PRIu64 ", unshared %" PRIu64
		       ", volatile %" PRIu64,
		       k->pages_shared, k->pages_sharing, k->pages_unshared, k->pages_volatile);
		if (k->has_ksm_zero_pages)
			printf(", zero %" PRIu64, k->ksm_zero_pages);
		if (k->has_general_profit)
			printf("; general_profit %s%s", k->general_profit < 0 ? "-" : "",
			       tool_format_bytes(a, sizeof(a),
						 (uint64_t)llabs((long long)k->general_profit)));
		printf("\n  saved %s", tool_format_bytes(a, sizeof(a), saved));
		if (tracked)
			printf(" = %.1f%% of the %s KSM scans",
			       100.0 * (double)saved / (double)tracked,
			       tool_format_bytes(b, sizeof(b), tracked));
		printf("; full scans %" PRIu64 ", last full scan ", k->full_scans);
		if (w && w->scan_seconds >= 0)
			printf("%.1f s (+/- %.1f s)\n", w->scan_seconds, w->scan_resolution);
		else
			printf("n/a (%s)\n", w ? "measured once two scans end during --watch"
					       : "measured with --watch");
		if (h->has_ksmd) {
			printf("  ksmd: PID %d, %.2f s CPU (%.2f%% since boot", (int)h->ksmd.pid,
			       h->ksmd.cpu_seconds,
			       100.0 * h->ksmd.cpu_seconds / h->ksmd.uptime_seconds);
			if (w && w->ksmd_percent >= 0)
				printf(", %.1f%% over the last interval", w->ksmd_percent);
			printf(")\n");
		}
	}
	for (size_t i = 0; i < info->n_nodes; i++) {
		const struct nk_numa_node *n = &info->nodes[i];
		printf("node %d: %s total, %s free", n->id,
		       tool_format_kb(a, sizeof(a), n->mem_total_kb),
		       tool_format_kb(b, sizeof(b), n->mem_free_kb));
		for (size_t k = 0; k < n->n_hugepages; k++)
			printf("; %s pages %" PRIu64 " free of %" PRIu64,
			       tool_format_kb(c, sizeof(c), n->hugepages[k].size_kb),
			       n->hugepages[k].free, n->hugepages[k].total);
		printf("\n");
	}
	printf("THP: enabled %s, defrag %s\n", info->thp_enabled ? info->thp_enabled : "n/a",
	       info->thp_defrag ? info->thp_defrag : "n/a");
}

static void print_vm_text(const struct nk_vm_info *vm)
{
	char a[32], b[32], c[32], d[32], e[32], backing[48];

	printf("\n%s: %s, PID %d (%s), %u threads\n", vm->ref.name, nk_vm_kind_name(vm->ref.kind),
	       vm->ref.pid, vm->ref.comm, vm->thread_count);
	printf("  memory: RSS %s, anonymous %s, THP %s, hugetlb %s, swap %s\n",
	       tool_format_bytes(a, sizeof(a), vm->rss_bytes),
	       tool_format_bytes(b, sizeof(b), vm->anon_bytes),
	       tool_format_bytes(c, sizeof(c), vm->thp_bytes),
	       tool_format_bytes(d, sizeof(d), vm->hugetlb_bytes),
	       tool_format_bytes(e, sizeof(e), vm->swap_bytes));
	printf("  guest RAM: %s%s in %zu mapping%s, %s resident, backing %s\n",
	       tool_format_bytes(a, sizeof(a), vm->guest_ram_bytes),
	       vm->guest_ram_from_cmdline ? " (command line)" : "", vm->n_regions,
	       vm->n_regions == 1 ? "" : "s", tool_format_bytes(b, sizeof(b), vm->guest_rss_bytes),
	       backing_label(vm, backing, sizeof(backing)));
	if (vm->has_placement) {
		const struct nk_vm_placement *p = &vm->placement;
		printf("  pages per node (%s, %s):", p->exact ? "exact" : "sampled", p->method);
		bool any = false;
		for (size_t n = 0; n < p->n_node_bytes; n++)
			if (p->node_bytes[n]) {
				printf(" node%zu %s (%.0f%%)", n,
				       tool_format_bytes(a, sizeof(a), p->node_bytes[n]),
				       100.0 * (double)p->node_bytes[n] /
					   (double)(p->present_bytes ? p->present_bytes : 1));
				any = true;
			}
		if (!any)
			printf(" none resident");
		if (!p->exact)
			printf(" (+/- %s, 95%%)",
			       tool_format_bytes(a, sizeof(a), (uint64_t)(p->error_bytes + 0.5)));
		if (p->absent_bytes)
			printf("; %s not faulted in",
			       tool_format_bytes(b, sizeof(b), p->absent_bytes));
		if (p->other_bytes)
			printf("; %s on the zero page or unreadable",
			       tool_format_bytes(c, sizeof(c), p->other_bytes));
		printf("\n");
	}
	printf("  KSM: mergeable %s", tool_format_bytes(a, sizeof(a), vm->mergeable_bytes));
	if (vm->has_ksm) {
		const struct nk_ksm_proc_stat *k = &vm->ksm;
		printf(", merging %" PRIu64 " pages", k->merging_pages);
		if (k->has_zero_pages)
			printf(", zero %" PRIu64 " pages", k->zero_pages);
		printf(", rmap items %" PRIu64, k->rmap_items);
		if (k->has_process_profit)
			printf(", profit %s%s", k->process_profit < 0 ? "-" : "",
			       tool_format_bytes(b, sizeof(b),
						 (uint64_t)llabs((long long)k->process_profit)));
		printf(", saved %s", tool_format_bytes(c, sizeof(c), vm->ksm_saved_bytes));
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
			    strcmp(g->controllers, "memory") == 0 || g->hierarchy == 0)
				printf(" %s%s%s", g->controllers,
				       *g->controllers ? ":" : "v2:", g->path);
		}
		printf("\n");
	}
}

static void print_text(const struct host_sample *h, const struct watch_state *w,
		       const struct vm_sample *vs, const char *root, bool live)
{
	if (!live)
		printf("Host tree %s (captured)\n", root);
	print_host_text(h, w);
	printf("\n%zu VM%s\n", vs->n, vs->n == 1 ? "" : "s");
	for (size_t i = 0; i < vs->n; i++)
		print_vm_text(vs->vms[i]);
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
	    {"json", no_argument, NULL, 'j'},  {"watch", required_argument, NULL, 'w'},
	    {"exact", no_argument, NULL, 'e'}, {"root", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},  {0},
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jw:er:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			a->json = true;
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
	return 0;
}

int cmd_status(int argc, char **argv, nk_error **err)
{
	struct status_args a = {0};
	struct watch_state w = {0};
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
		r = find_vms(host, &a, &fixed, &n_fixed, err);
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
		if (!fixed && (r = find_vms(host, &a, &refs, &n_refs, err)) < 0) {
			host_sample_done(&h);
			break;
		}
		r = read_vms(host, refs, n_refs, &h, a.exact, &vs);
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
			print_json(&h, a.watch_s > 0 ? &w : NULL, &vs, nk_host_is_live(host),
				   a.watch_s > 0);
		} else {
			if (round > 0)
				printf("\n----------------------------------------\n");
			print_text(&h, a.watch_s > 0 ? &w : NULL, &vs, nk_host_root(host),
				   nk_host_is_live(host));
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
	return r < 0 ? r : exit_code;
}
