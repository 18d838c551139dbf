/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The JSON vocabulary of numaksm's programs: see json.h and docs/json.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

json_object *tool_json_doc(const char *command)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "schema_version", json_object_new_int(TOOL_JSON_SCHEMA_VERSION));
	json_object_object_add(o, "command", json_object_new_string(command));
	return o;
}

void tool_json_fprint(FILE *out, json_object *doc, bool pretty)
{
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
		    (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : 0);
	fprintf(out, "%s\n", json_object_to_json_string_ext(doc, flags));
	fflush(out);
	json_object_put(doc);
}

void tool_json_print(json_object *doc, bool pretty)
{
	tool_json_fprint(stdout, doc, pretty);
}

bool tool_json_wanted(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--json") == 0)
			return true;
	return false;
}

void tool_json_error_line(const char *command, const nk_error *err, int code, int exit_status)
{
	json_object *doc = tool_json_doc(command);
	json_object_object_add(doc, "exit_status", json_object_new_int(exit_status));
	json_object_object_add(doc, "error", tool_json_error(err, code));
	tool_json_fprint(stderr, doc, false);
}

void tool_json_log_line(const char *command, enum nk_log_level level, const char *message)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	json_object *doc = tool_json_doc(command), *log = json_object_new_object();
	json_object_object_add(
	    log, "level", json_object_new_string((unsigned)level < 4 ? names[level] : "debug"));
	json_object_object_add(log, "message", json_object_new_string(message));
	json_object_object_add(doc, "log", log);
	tool_json_fprint(stderr, doc, false);
}

/* ---- scalars ------------------------------------------------------------- */

json_object *tool_json_u64(uint64_t v)
{
	return json_object_new_uint64(v);
}

json_object *tool_json_int(int64_t v)
{
	return json_object_new_int64(v);
}

json_object *tool_json_fixed6(double v)
{
	char text[64];
	if (!isfinite(v))
		return NULL;
	/* json-c keeps the text it was given: six decimals, never an exponent. */
	snprintf(text, sizeof(text), "%.6f", v);
	return json_object_new_double_s(v, text);
}

json_object *tool_json_seconds(double seconds)
{
	return seconds >= 0 ? tool_json_fixed6(seconds) : NULL;
}

json_object *tool_json_ratio(double ratio)
{
	if (!(ratio >= 0))
		return NULL;
	return tool_json_fixed6(ratio > 1 ? 1 : ratio);
}

json_object *tool_json_list(const nk_bitmap *set)
{
	char *text = NULL;
	if (!set)
		return json_object_new_string("");
	if (nk_bitmap_format(set, &text) < 0)
		abort(); /* out of memory */
	json_object *o = json_object_new_string(text);
	free(text);
	return o;
}

json_object *tool_json_name(const char *name)
{
	return name && *name ? json_object_new_string(name) : NULL;
}

json_object *tool_json_hex64(uint64_t v)
{
	char text[24];
	snprintf(text, sizeof(text), "0x%016" PRIx64, v);
	return json_object_new_string(text);
}

json_object *tool_json_now(void)
{
	struct timeval tv;
	struct tm tm;
	char text[48];
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(text + n, sizeof(text) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
	return json_object_new_string(text);
}

/* ---- objects ------------------------------------------------------------- */

json_object *tool_json_error(const nk_error *err, int code)
{
	json_object *o = json_object_new_object();
	int e = err && nk_error_code(err) ? nk_error_code(err) : (code < 0 ? -code : code);
	if (e <= 0)
		e = EIO;
	const char *name = strerrorname_np(e);
	json_object_object_add(o, "code", json_object_new_string(name ? name : "EUNKNOWN"));
	json_object_object_add(o, "errno", json_object_new_int(e));
	json_object_object_add(o, "message",
			       json_object_new_string(err ? nk_error_message(err) : strerror(e)));
	json_object_object_add(o, "hint", tool_json_name(err ? nk_error_get_hint(err) : NULL));
	return o;
}

json_object *tool_json_thp(const struct nk_hostinfo *info)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "enabled", tool_json_name(info->thp_enabled));
	json_object_object_add(o, "defrag", tool_json_name(info->thp_defrag));
	return o;
}

json_object *tool_json_numa_nodes(const struct nk_hostinfo *info)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < info->n_nodes; i++) {
		const struct nk_numa_node *n = &info->nodes[i];
		/* What a node's missing file would tell is null, not 0 or "". */
		json_object *o = json_object_new_object(),
			    *d = n->distances ? json_object_new_array() : NULL;
		unsigned cpus = nk_bitmap_weight(n->cpus);
		json_object_object_add(o, "node", json_object_new_int(n->id));
		json_object_object_add(o, "cpus", n->cpus_known ? tool_json_list(n->cpus) : NULL);
		json_object_object_add(o, "cpu_count", n->cpus_known ? tool_json_u64(cpus) : NULL);
		json_object_object_add(o, "has_memory", json_object_new_boolean(n->has_memory));
		json_object_object_add(
		    o, "memory_only",
		    n->cpus_known ? json_object_new_boolean(n->has_memory && cpus == 0) : NULL);
		json_object_object_add(o, "total_bytes",
				       n->memory_known ? tool_json_u64(n->mem_total_kb * 1024)
						       : NULL);
		json_object_object_add(
		    o, "free_bytes", n->memory_known ? tool_json_u64(n->mem_free_kb * 1024) : NULL);
		/* distances[j] is to the j-th node listed, not to node j. */
		for (size_t j = 0; d && j < n->n_distances && j < info->n_nodes; j++) {
			json_object *e = json_object_new_object();
			json_object_object_add(e, "node", json_object_new_int(info->nodes[j].id));
			json_object_object_add(e, "distance", tool_json_u64(n->distances[j]));
			json_object_array_add(d, e);
		}
		json_object_object_add(o, "distances", d);
		json_object_array_add(a, o);
	}
	return a;
}

json_object *tool_json_hugepage_pools(const struct nk_hostinfo *info)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < info->n_hugepages; i++) {
		const struct nk_hugepage_pool *p = &info->hugepages[i];
		json_object *o = json_object_new_object(), *per = json_object_new_array();
		json_object_object_add(o, "page_size_bytes", tool_json_u64(p->size_kb * 1024));
		json_object_object_add(
		    o, "is_default",
		    json_object_new_boolean(p->size_kb == info->default_hugepage_kb));
		json_object_object_add(o, "page_count", tool_json_u64(p->total));
		json_object_object_add(o, "free_page_count", tool_json_u64(p->free));
		json_object_object_add(o, "reserved_page_count",
				       info->hugepages_from_nodes ? NULL
								  : tool_json_u64(p->reserved));
		json_object_object_add(o, "surplus_page_count", tool_json_u64(p->surplus));
		for (size_t n = 0; n < info->n_nodes; n++) {
			const struct nk_numa_node *node = &info->nodes[n];
			for (size_t k = 0; k < node->n_hugepages; k++) {
				const struct nk_hugepage_pool *np = &node->hugepages[k];
				if (np->size_kb != p->size_kb)
					continue;
				json_object *e = json_object_new_object();
				json_object_object_add(e, "node", json_object_new_int(node->id));
				json_object_object_add(e, "page_count", tool_json_u64(np->total));
				json_object_object_add(e, "free_page_count",
						       tool_json_u64(np->free));
				json_object_object_add(e, "surplus_page_count",
						       tool_json_u64(np->surplus));
				json_object_array_add(per, e);
			}
		}
		json_object_object_add(o, "per_node", per);
		json_object_array_add(a, o);
	}
	return a;
}

void tool_ksm_facts(nk_host *host, const struct nk_ksm *ksm, bool present, struct tool_ksm_facts *f)
{
	struct nk_proc_cputime cpu;
	pid_t pid;
	char *uptime = NULL;

	*f = (struct tool_ksm_facts){
	    .present = present,
	    .ksm = ksm,
	    .proc_ksm_stat = -1,
	    .ksmd_ratio_since_boot = -1,
	    .ksmd_ratio_interval = -1,
	    .scan_seconds = -1,
	    .tuner_running = -1,
	};
	if (!present)
		return;
	bool live = nk_host_is_live(host);
	if (live)
		f->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	int r = nk_host_exists(host, "/proc/self/ksm_stat");
	if (r >= 0)
		f->proc_ksm_stat = r;
	if (nk_ksmd_find(host, &pid, NULL) == 0 &&
	    nk_proc_cputime_read(host, pid, &cpu, NULL) == 0) {
		f->ksmd_pid = (int)pid;
		f->ksmd_cpu_seconds = (double)cpu.run_ns / 1e9;
		if (nk_host_read(host, "/proc/uptime", &uptime, NULL) >= 0) {
			double up = strtod(uptime, NULL);
			if (up > 0)
				f->ksmd_ratio_since_boot = f->ksmd_cpu_seconds / up;
		}
		free(uptime);
	}
	if (!live)
		return;
	pid_t holder = 0;
	f->tuner_running =
	    nk_ksm_holder(NULL, &holder, f->tuner_program, sizeof(f->tuner_program)) == 1;
	if (f->tuner_running)
		f->tuner_pid = (int)holder;
}

const char *tool_ksm_state(uint64_t run)
{
	static const char *const names[] = {"stopped", "running", "unmerging"};
	return run < 3 ? names[run] : "unknown";
}

/* The kernel's files of one range of fields, with the kernel's values. */
static json_object *ksm_files(const struct nk_ksm *k, int from, int to)
{
	json_object *o = json_object_new_object();
	for (int f = from; f < to; f++) {
		const struct nk_ksm_field_info *info = nk_ksm_field((enum nk_ksm_field)f);
		json_object *v = NULL;
		if (nk_ksm_has(k, (enum nk_ksm_field)f)) {
			uint64_t value = nk_ksm_get(k, (enum nk_ksm_field)f);
			if (info->type == NK_KSM_TYPE_ADVISOR)
				v = json_object_new_string(
				    value == NK_KSM_ADVISOR_SCAN_TIME ? "scan-time" : "none");
			else if (info->type == NK_KSM_TYPE_SIGNED)
				v = tool_json_int((int64_t)value);
			else
				v = tool_json_u64(value);
		}
		json_object_object_add(o, info->name, v);
	}
	return o;
}

json_object *tool_json_ksm(const struct tool_ksm_facts *f)
{
	json_object *o = json_object_new_object();
	const struct nk_ksm *k = f->ksm;
	bool on = f->present && k;

	json_object_object_add(o, "present", json_object_new_boolean(f->present));
	json_object_object_add(
	    o, "state",
	    on && nk_ksm_has(k, NK_KSM_RUN)
		? json_object_new_string(tool_ksm_state(nk_ksm_get(k, NK_KSM_RUN)))
		: NULL);
	json_object_object_add(o, "proc_ksm_stat",
			       f->proc_ksm_stat >= 0 ? json_object_new_boolean(f->proc_ksm_stat)
						     : NULL);
	json_object_object_add(o, "knobs", on ? ksm_files(k, 0, NK_KSM_KNOB_COUNT) : NULL);
	json_object_object_add(o, "counters",
			       on ? ksm_files(k, NK_KSM_KNOB_COUNT, NK_KSM_FIELD_COUNT) : NULL);
	bool sized = on && f->page_size;
	uint64_t saved = sized ? nk_ksm_saved_pages(k) * f->page_size : 0,
		 tracked = sized ? nk_ksm_tracked_pages(k) * f->page_size : 0;
	json_object_object_add(o, "page_size_bytes", sized ? tool_json_u64(f->page_size) : NULL);
	json_object_object_add(o, "saved_bytes", sized ? tool_json_u64(saved) : NULL);
	json_object_object_add(o, "tracked_bytes", sized ? tool_json_u64(tracked) : NULL);
	json_object_object_add(o, "saved_ratio",
			       sized && tracked ? tool_json_ratio((double)saved / (double)tracked)
						: NULL);
	json_object *scan = NULL;
	if (on && f->scan_seconds >= 0) {
		scan = json_object_new_object();
		json_object_object_add(scan, "seconds", tool_json_seconds(f->scan_seconds));
		json_object_object_add(scan, "resolution_seconds",
				       tool_json_seconds(f->scan_resolution_seconds));
	}
	json_object_object_add(o, "last_full_scan", scan);
	json_object *ksmd = NULL;
	if (on && f->ksmd_pid > 0) {
		ksmd = json_object_new_object();
		json_object_object_add(ksmd, "pid", json_object_new_int(f->ksmd_pid));
		json_object_object_add(ksmd, "cpu_seconds", tool_json_seconds(f->ksmd_cpu_seconds));
		json_object_object_add(ksmd, "cpu_ratio_since_boot",
				       f->ksmd_ratio_since_boot >= 0
					   ? tool_json_fixed6(f->ksmd_ratio_since_boot)
					   : NULL);
		json_object_object_add(
		    ksmd, "cpu_ratio_interval",
		    f->ksmd_ratio_interval >= 0 ? tool_json_fixed6(f->ksmd_ratio_interval) : NULL);
	}
	json_object_object_add(o, "ksmd", ksmd);
	json_object *tuner = NULL;
	if (on && f->tuner_running >= 0) {
		tuner = json_object_new_object();
		json_object_object_add(tuner, "running", json_object_new_boolean(f->tuner_running));
		json_object_object_add(tuner, "pid",
				       f->tuner_running && f->tuner_pid > 0
					   ? json_object_new_int(f->tuner_pid)
					   : NULL);
		json_object_object_add(tuner, "program",
				       f->tuner_running ? tool_json_name(f->tuner_program) : NULL);
	}
	json_object_object_add(o, "tuner", tuner);
	return o;
}

json_object *tool_json_process_ksm(const struct nk_ksm_proc_stat *s, bool has_mergeable,
				   uint64_t mergeable_bytes, bool has_saved, uint64_t saved_bytes)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "mergeable_bytes",
			       has_mergeable ? tool_json_u64(mergeable_bytes) : NULL);
	json_object_object_add(o, "saved_bytes",
			       s && has_saved ? tool_json_u64(saved_bytes) : NULL);
	json_object_object_add(o, "merging_page_count",
			       s && s->has_merging_pages ? tool_json_u64(s->merging_pages) : NULL);
	json_object_object_add(o, "rmap_item_count", s ? tool_json_u64(s->rmap_items) : NULL);
	json_object_object_add(o, "zero_page_count",
			       s && s->has_zero_pages ? tool_json_u64(s->zero_pages) : NULL);
	json_object_object_add(o, "profit_bytes",
			       s && s->has_process_profit ? tool_json_int(s->process_profit)
							  : NULL);
	json_object_object_add(
	    o, "mergeable", s && s->has_merge_flags ? json_object_new_boolean(s->mergeable) : NULL);
	json_object_object_add(
	    o, "merge_any", s && s->has_merge_flags ? json_object_new_boolean(s->merge_any) : NULL);
	return o;
}

json_object *tool_json_vm_ref(const struct nk_vm_ref *vm)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", tool_json_name(vm->name));
	json_object_object_add(
	    o, "kind",
	    vm->kind < NK_VM_KIND_COUNT ? json_object_new_string(nk_vm_kind_name(vm->kind)) : NULL);
	json_object_object_add(o, "pid", json_object_new_int(vm->pid));
	json_object_object_add(o, "comm", tool_json_name(vm->comm));
	json_object_object_add(o, "program", tool_json_name(vm->argv0));
	tool_json_vm_trust(o, vm);
	return o;
}

void tool_json_vm_trust(json_object *o, const struct nk_vm_ref *vm)
{
	bool known = vm->kind < NK_VM_KIND_COUNT;
	json_object_object_add(o, "owner_uid",
			       known && vm->uid != (uid_t)-1 ? tool_json_u64(vm->uid) : NULL);
	json_object_object_add(o, "trust",
			       known ? json_object_new_string(nk_vm_trust_name(vm->trust)) : NULL);
	json_object_object_add(o, "trusted",
			       known ? json_object_new_boolean(nk_vm_trusted(vm)) : NULL);
}

json_object *tool_json_thread(const struct nk_vm_thread *t, int last_node, bool judge)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "tid", json_object_new_int(t->tid));
	json_object_object_add(o, "vcpu", t->vcpu >= 0 ? json_object_new_int(t->vcpu) : NULL);
	json_object_object_add(o, "name", tool_json_name(t->name));
	json_object_object_add(o, "affinity_cpus", tool_json_list(t->affinity));
	json_object_object_add(o, "last_cpu",
			       t->last_cpu >= 0 ? json_object_new_int(t->last_cpu) : NULL);
	json_object_object_add(o, "last_node",
			       last_node >= 0 ? json_object_new_int(last_node) : NULL);
	json_object_object_add(o, "last_cpu_in_affinity",
			       judge && t->last_cpu >= 0 ? json_object_new_boolean(nk_bitmap_test(
							       t->affinity, (unsigned)t->last_cpu))
							 : NULL);
	return o;
}

json_object *tool_json_cgroup_membership(int hierarchy, const char *controllers, const char *path)
{
	json_object *o = json_object_new_object(), *c = json_object_new_array();
	char *copy = strdup(controllers ? controllers : ""), *save = NULL;
	for (char *w = copy ? strtok_r(copy, ",", &save) : NULL; w; w = strtok_r(NULL, ",", &save))
		json_object_array_add(c, json_object_new_string(w));
	free(copy);
	json_object_object_add(o, "hierarchy",
			       hierarchy >= 0 ? json_object_new_int(hierarchy) : NULL);
	json_object_object_add(o, "controllers", c);
	json_object_object_add(o, "path", json_object_new_string(path && *path ? path : "/"));
	return o;
}

json_object *tool_json_cgroup(const struct nk_proc_cgroup *cg)
{
	return tool_json_cgroup_membership((int)cg->hierarchy, cg->controllers, cg->path);
}

json_object *tool_json_placement(const struct tool_placement *p)
{
	json_object *o = json_object_new_object(), *per = json_object_new_array();
	uint64_t resident = 0;
	json_object_object_add(o, "method", json_object_new_string(p->method));
	json_object_object_add(o, "exact", json_object_new_boolean(p->exact));
	json_object_object_add(o, "sampled_page_count",
			       p->sampled_pages ? tool_json_u64(p->sampled_pages) : NULL);
	for (size_t n = 0; n < p->n_node_bytes; n++) {
		if (!p->node_bytes[n])
			continue;
		json_object *e = json_object_new_object();
		json_object_object_add(e, "node", json_object_new_int((int)n));
		json_object_object_add(e, "resident_bytes", tool_json_u64(p->node_bytes[n]));
		json_object_object_add(
		    e, "ksm_bytes",
		    p->ksm_node_bytes
			? tool_json_u64(n < p->n_ksm_node_bytes ? p->ksm_node_bytes[n] : 0)
			: NULL);
		json_object_array_add(per, e);
		resident += p->node_bytes[n];
	}
	json_object_object_add(o, "per_node", per);
	json_object_object_add(o, "resident_bytes", tool_json_u64(resident));
	json_object_object_add(o, "absent_bytes", tool_json_u64(p->absent_bytes));
	json_object_object_add(o, "other_bytes", tool_json_u64(p->other_bytes));
	/* An estimate's bound, rounded up to whole bytes. */
	json_object_object_add(
	    o, "error_bytes",
	    tool_json_u64(p->error_bytes > 0 ? (uint64_t)ceil(p->error_bytes) : 0));
	return o;
}

json_object *tool_json_page_placement(const struct nk_placement *p)
{
	uint64_t *bytes = calloc(p->n_node_pages ? p->n_node_pages : 1, sizeof(*bytes));
	if (!bytes)
		abort(); /* out of memory */
	for (size_t n = 0; n < p->n_node_pages; n++)
		bytes[n] = p->node_pages[n] * p->page_size;
	json_object *o = tool_json_placement(&(struct tool_placement){
	    .method = "move_pages",
	    .exact = p->exact,
	    .sampled_pages = p->exact ? 0 : p->sampled,
	    .node_bytes = bytes,
	    .n_node_bytes = p->n_node_pages,
	    .absent_bytes = p->not_present * p->page_size,
	    .other_bytes = p->other * p->page_size,
	    .error_bytes = p->error_pages * (double)p->page_size,
	});
	free(bytes);
	return o;
}

json_object *tool_json_zone(const nk_zone *z, const struct nk_placement *p,
			    const struct tool_zone_guest *g)
{
	const struct nk_zone_spec *s = nk_zone_spec(z);
	const struct nk_prefault_stats *st = nk_zone_prefault_stats(z);
	json_object *o = json_object_new_object(), *prefault = NULL;

	json_object_object_add(o, "id", json_object_new_string(s->id));
	json_object_object_add(o, "size_bytes", tool_json_u64(nk_zone_size(z)));
	json_object_object_add(o, "backing", json_object_new_string(tool_json_backing(s->backing)));
	json_object_object_add(o, "page_size_bytes", tool_json_u64(nk_zone_page_size(z)));
	json_object_object_add(o, "policy", json_object_new_string(nk_policy_name(s->policy)));
	json_object_object_add(o, "nodes", tool_json_list(s->nodes));
	json_object_object_add(o, "mergeable", json_object_new_boolean(nk_zone_is_mergeable(z)));
	json_object_object_add(o, "guest_node", g ? tool_json_u64(g->guest_node) : NULL);
	json_object_object_add(o, "guest_address", g ? tool_json_u64(g->guest_address) : NULL);
	json_object_object_add(o, "host_address", g ? tool_json_u64(g->host_address) : NULL);
	json_object_object_add(o, "ksm_bytes",
			       g && g->has_ksm_bytes ? tool_json_u64(g->ksm_bytes) : NULL);
	if (st->threads) {
		prefault = json_object_new_object();
		json_object_object_add(prefault, "thread_count", tool_json_u64(st->threads));
		json_object_object_add(prefault, "cpus", tool_json_list(st->cpus));
		json_object_object_add(prefault, "seconds", tool_json_seconds(st->seconds));
		json_object_object_add(prefault, "populate_write",
				       json_object_new_boolean(st->populate_write));
	}
	json_object_object_add(o, "prefault", prefault);
	json_object_object_add(o, "placement", p ? tool_json_page_placement(p) : NULL);
	return o;
}

/* "live", "xml:FILE", "synthetic:DESCRIPTION", "root:DIR" (a captured
 * tree); anything else is a topology hwloc took from its environment
 * (HWLOC_XMLFILE, HWLOC_SYNTHETIC). */
static json_object *json_topology(const char *source)
{
	static const char *const kinds[] = {"xml", "synthetic", "root"};
	json_object *o = json_object_new_object();
	const char *kind = "environment", *detail = NULL;
	if (strcmp(source, "live") == 0)
		kind = "live";
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i]);
		if (strncmp(source, kinds[i], n) == 0 && source[n] == ':') {
			kind = kinds[i];
			detail = source + n + 1;
		}
	}
	json_object_object_add(o, "source", json_object_new_string(kind));
	json_object_object_add(o, "detail", tool_json_name(detail));
	return o;
}

json_object *tool_json_pin_plan(const nk_pin_plan *plan, const nk_topo *topo)
{
	json_object *o = json_object_new_object(), *vcpus = json_object_new_array(),
		    *notes = json_object_new_array();
	unsigned n = nk_pin_plan_vcpu_count(plan);

	json_object_object_add(o, "topology", json_topology(nk_topo_source(topo)));
	json_object_object_add(
	    o, "policy", json_object_new_string(nk_pin_policy_name(nk_pin_plan_policy(plan))));
	json_object_object_add(o, "smt",
			       json_object_new_string(nk_pin_smt_name(nk_pin_plan_smt(plan))));
	json_object_object_add(
	    o, "emulator",
	    json_object_new_string(nk_pin_emulator_name(nk_pin_plan_emulator(plan))));
	json_object_object_add(o, "vcpu_count", tool_json_u64(n));
	for (unsigned i = 0; i < n; i++) {
		struct nk_pin_vcpu v;
		json_object *jv = json_object_new_object();
		nk_pin_plan_vcpu(plan, i, &v);
		json_object_object_add(jv, "vcpu", tool_json_u64(i));
		json_object_object_add(jv, "guest_node", tool_json_u64(v.guest_node));
		json_object_object_add(jv, "memory_node",
				       v.memory_node >= 0 ? json_object_new_int(v.memory_node)
							  : NULL);
		json_object_object_add(jv, "host_node", json_object_new_int(v.host_node));
		json_object_object_add(jv, "cpus", tool_json_list(v.cpus));
		json_object_array_add(vcpus, jv);
	}
	json_object_object_add(o, "vcpus", vcpus);
	json_object_object_add(o, "emulator_cpus", tool_json_list(nk_pin_plan_emulator_cpus(plan)));
	json_object_object_add(o, "reserved_cpus", tool_json_list(nk_pin_plan_reserved_cpus(plan)));
	json_object_object_add(o, "dedicated_cpus",
			       tool_json_list(nk_pin_plan_dedicated_cpus(plan)));
	json_object_object_add(o, "shared_cpus", tool_json_list(nk_pin_plan_shared_cpus(plan)));
	for (char *const *note = nk_pin_plan_notes(plan); note && *note; note++)
		json_object_array_add(notes, json_object_new_string(*note));
	json_object_object_add(o, "notes", notes);
	return o;
}

const char *tool_json_backing(enum nk_backing backing)
{
	switch (backing) {
	case NK_BACKING_4K:
		return "4k";
	case NK_BACKING_THP:
		return "thp";
	case NK_BACKING_HUGETLB:
		return "hugetlb";
	}
	return "unknown";
}

void tool_ksm_watch_update(struct tool_ksm_watch *w, struct tool_ksm_facts *f, double when)
{
	if (!f->present || !f->ksm)
		return;
	uint64_t scans = nk_ksm_get(f->ksm, NK_KSM_FULL_SCANS);
	if (!w->have_prev) {
		w->scans_seen = scans;
		w->scan_end = -1;
		w->scan_seconds = -1;
		w->ksmd_ratio = -1;
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
				    (when - w->scan_end) / (double)(scans - w->scans_seen);
				w->scan_resolution = when - w->prev_when;
			}
			w->scan_end = when;
			w->scans_seen = scans;
		}
		if (f->ksmd_pid > 0 && w->prev_ksmd_pid == f->ksmd_pid && when > w->prev_when)
			w->ksmd_ratio = (f->ksmd_cpu_seconds - w->prev_ksmd_cpu_seconds) /
					(when - w->prev_when);
	}
	w->prev_ksmd_pid = f->ksmd_pid;
	w->prev_ksmd_cpu_seconds = f->ksmd_cpu_seconds;
	w->prev_when = when;
	w->have_prev = true;
	f->scan_seconds = w->scan_seconds;
	f->scan_resolution_seconds = w->scan_resolution;
	f->ksmd_ratio_interval = w->ksmd_ratio;
}
