/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm vm: the running numaksm-vmm VMs, through their control sockets
 * (include/numaksm/vmm.h).  List them, show one, pause, resume or stop it,
 * turn KSM merging of a zone on or off, migrate a zone to other nodes.
 *
 *   numaksm vm list [--json]
 *   numaksm vm info NAME [--json]
 *   numaksm vm pause|resume|stop NAME
 *   numaksm vm ksm NAME ZONE on|off
 *   numaksm vm migrate NAME ZONE --nodes LIST
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <numaksm/vmm.h>

#include "json.h"
#include "tool.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* How long a VM may take to answer; a migration moves the zone's pages first. */
#define CALL_TIMEOUT_MS	   30000
#define MIGRATE_TIMEOUT_MS 600000

struct vm_args {
	const char *runtime_dir; /* NULL: $NUMAKSM_RUNTIME_DIR or /run/numaksm */
	const char *nodes;	 /* migrate --nodes, checked */
	bool json;
	char **args; /* the positional arguments, as many as the command takes */
};

struct vm_command {
	const char *name;
	const char *synopsis;  /* after "numaksm vm " */
	const char *summary;   /* one line, for 'numaksm vm --help' */
	const char *help;      /* more, for 'numaksm vm COMMAND --help' */
	const char *arg_names; /* the positional arguments, for "needs ..." */
	int n_args;
	bool json, nodes; /* takes --json, --nodes */
	int (*run)(const struct vm_args *a, nk_error **err);
};

/* ---- talking to a VM -------------------------------------------------------- */

static json_object *request_new(const char *command)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(NK_VMM_PROTOCOL_VERSION));
	json_object_object_add(o, "command", json_object_new_string(command));
	return o;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (o && json_object_is_type(o, json_type_object))
		json_object_object_get_ex(o, key, &v);
	return v;
}

static uint64_t get_u64(json_object *o, const char *key)
{
	return json_object_get_uint64(get(o, key));
}

static const char *get_str(json_object *o, const char *key, const char *absent)
{
	json_object *v = get(o, key);
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : absent;
}

/* The result of a reply, or its refusal as an error carrying the VM's message and hint. */
static int reply_result(const char *name, json_object *reply, json_object **ret_result,
			nk_error **err)
{
	json_object *ok = get(reply, "ok"), *version = get(reply, "version");
	json_object *result = get(reply, "result");
	int r;

	if (!json_object_is_type(ok, json_type_boolean) ||
	    !json_object_is_type(version, json_type_int) ||
	    (json_object_get_boolean(ok) && !json_object_is_type(result, json_type_object))) {
		nk_error_set(err, EPROTO, "VM '%s' sent a malformed reply", name);
		return nk_error_hint(err, "is its VMM a numaksm-vmm of this release?");
	}
	if (json_object_get_int64(version) != NK_VMM_PROTOCOL_VERSION) {
		nk_error_set(err, EPROTONOSUPPORT,
			     "VM '%s' speaks protocol version %" PRId64 "; this tool speaks %d",
			     name, json_object_get_int64(version), NK_VMM_PROTOCOL_VERSION);
		return nk_error_hint(err, "use a numaksm tool of the same release as the VMM");
	}
	if (!json_object_get_boolean(ok)) {
		int64_t code = json_object_get_int64(get(reply, "errno"));
		const char *hint = get_str(reply, "hint", NULL);
		r = nk_error_set(err, code > 0 && code < 4096 ? (int)code : EIO, "VM '%s': %s",
				 name,
				 get_str(reply, "error", "the request failed, without a reason"));
		if (hint)
			nk_error_hint(err, "%s", hint);
		return r;
	}
	*ret_result = json_object_get(result);
	return 0;
}

/* The VM exited between nk_vmm_list() and the call. */
static bool vanished(int r)
{
	return r == -ENOENT || r == -ECONNREFUSED || r == -ECONNRESET || r == -EPIPE;
}

/*
 * Send `request` (consumed) to VM `name` and wait for the reply.  `listed`:
 * the name comes from nk_vmm_list(), and a VM gone since is no error.
 * @return 0 with the reply's result in *ret_result (json_object_put it); 1
 *         when `listed` and the VM is gone; a negative errno: nk_vmm_call's
 *         errors, or the VM's refusal.
 */
static int vm_call(const struct vm_args *a, const char *name, json_object *request, int timeout_ms,
		   bool listed, json_object **ret_result, nk_error **err)
{
	nk_error *e = NULL;
	char *text = NULL;
	int r = nk_vmm_call(a->runtime_dir, name,
			    json_object_to_json_string_ext(
				request, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
			    timeout_ms, &text, &e);
	json_object_put(request);
	if (r < 0 && listed && (vanished(r) || r == -EINVAL)) {
		/* Gone, or a registry entry no VMM could have made. */
		nk_error_free(e);
		return 1;
	}
	if (r < 0) {
		if (err && !*err) {
			*err = e; /* the caller's now */
			e = NULL;
		}
		nk_error_free(e);
		if (r == -EINVAL) { /* a malformed VM name */
			tool_mark_usage();
			return nk_error_hint(err, "a VM name is 1 to 64 letters, digits, '_', '.' "
						  "and '-', not starting with '.'");
		}
		return r;
	}
	json_object *reply = json_tokener_parse(text);
	free(text);
	r = reply_result(name, reply, ret_result, err);
	json_object_put(reply);
	return r;
}

/* vm_call for the commands on the one VM named on the command line. */
static int vm_command_call(const struct vm_args *a, json_object *request, int timeout_ms,
			   json_object **ret_result, nk_error **err)
{
	return vm_call(a, a->args[0], request, timeout_ms, false, ret_result, err);
}

/* ---- list -------------------------------------------------------------------- */

static size_t array_length(json_object *o)
{
	return json_object_is_type(o, json_type_array) ? json_object_array_length(o) : 0;
}

static uint64_t ram_bytes(json_object *info)
{
	json_object *zones = get(info, "zones");
	uint64_t sum = 0;
	for (size_t i = 0; i < array_length(zones); i++)
		sum += get_u64(json_object_array_get_idx(zones, i), "size_bytes");
	return sum;
}

/* A count or size from a VM's info, or null when it did not say. */
static json_object *info_u64(json_object *v)
{
	return json_object_is_type(v, json_type_int) ? tool_json_u64(json_object_get_uint64(v))
						     : NULL;
}

/* The console its registry entry records: {mode, path}, or null. */
static json_object *console_json(const nk_vmm_entry *entry)
{
	const char *mode = entry ? nk_vmm_console_mode_name(entry->console) : NULL;
	if (!mode)
		return NULL;
	json_object *c = json_object_new_object();
	json_object_object_add(c, "mode", json_object_new_string(mode));
	json_object_object_add(c, "path", tool_json_name(entry->console_path));
	return c;
}

static json_object *list_row(const char *name, json_object *info, const nk_vmm_entry *entry)
{
	json_object *row = json_object_new_object(), *ksm = get(info, "ksm"),
		    *pid = get(info, "pid");
	json_object *merging = get(ksm, "merging_page_count");
	json_object_object_add(row, "name", json_object_new_string(get_str(info, "name", name)));
	json_object_object_add(row, "pid",
			       json_object_is_type(pid, json_type_int) &&
				       json_object_get_int(pid) > 0
				   ? json_object_new_int(json_object_get_int(pid))
				   : NULL);
	json_object_object_add(row, "state", tool_json_name(get_str(info, "state", NULL)));
	json_object_object_add(row, "vcpu_count",
			       json_object_is_type(get(info, "vcpus"), json_type_array)
				   ? tool_json_u64(array_length(get(info, "vcpus")))
				   : NULL);
	json_object_object_add(row, "guest_ram_bytes",
			       json_object_is_type(get(info, "zones"), json_type_array)
				   ? tool_json_u64(ram_bytes(info))
				   : NULL);
	json_object_object_add(row, "ksm_merging_page_count", info_u64(merging));
	json_object_object_add(row, "console", console_json(entry));
	return row;
}

/* A column of the text table: the number, or "-" when not known. */
static const char *column_u64(json_object *row, const char *key, char *buf, size_t size)
{
	json_object *v = get(row, key);
	if (!v)
		return "-";
	snprintf(buf, size, "%" PRIu64, json_object_get_uint64(v));
	return buf;
}

static int vm_list(const struct vm_args *a, nk_error **err)
{
	char **names = NULL;
	int n = nk_vmm_list(a->runtime_dir, &names, err);
	if (n < 0)
		return n;

	json_object *rows = json_object_new_array();
	int r = 0;
	for (int i = 0; i < n && r >= 0; i++) {
		json_object *info = NULL;
		r = vm_call(a, names[i], request_new("info"), CALL_TIMEOUT_MS, true, &info, err);
		if (r != 0)
			continue; /* gone (1), or an error: the loop ends */
		/* The console from the registry entry, which the VMM completes
		 * before it answers; an entry refused leaves it null. */
		nk_vmm_entry *entry = NULL;
		nk_error *e = NULL;
		int er = nk_vmm_entry_read(a->runtime_dir, names[i], &entry, &e);
		if (er < 0 && er != -ENOENT)
			tool_log_warning(nk_error_message(e));
		nk_error_free(e);
		if (er != -ENOENT)
			json_object_array_add(rows, list_row(names[i], info, entry));
		nk_vmm_entry_free(entry);
		json_object_put(info);
	}
	nk_strv_free(names);
	if (r < 0) {
		json_object_put(rows);
		return r;
	}
	if (a->json) {
		json_object *doc = tool_json_doc("vm list");
		json_object_object_add(doc, "vms", rows);
		tool_json_print(doc, true);
		return EXIT_OK;
	}
	printf("%-16s %8s %-9s %5s %10s %12s  %s\n", "NAME", "PID", "STATE", "VCPUS", "RAM",
	       "KSM-MERGING", "CONSOLE");
	for (size_t i = 0; i < json_object_array_length(rows); i++) {
		json_object *row = json_object_array_get_idx(rows, i), *c = get(row, "console");
		char pid[24], vcpus[24], merging[24], size[32] = "-";
		if (get(row, "guest_ram_bytes"))
			nk_format_bytes(size, sizeof(size), get_u64(row, "guest_ram_bytes"));
		printf("%-16s %8s %-9s %5s %10s %12s  %s%s%s\n", get_str(row, "name", "-"),
		       column_u64(row, "pid", pid, sizeof(pid)), get_str(row, "state", "-"),
		       column_u64(row, "vcpu_count", vcpus, sizeof(vcpus)), size,
		       column_u64(row, "ksm_merging_page_count", merging, sizeof(merging)),
		       get_str(c, "mode", "-"), get(c, "path") ? ":" : "", get_str(c, "path", ""));
	}
	json_object_put(rows);
	return EXIT_OK;
}

/* ---- info -------------------------------------------------------------------- */

static const char *or_none(const char *s)
{
	return s && *s ? s : "none";
}

static double get_double(json_object *o, const char *key)
{
	return json_object_get_double(get(o, key));
}

static void print_content(json_object *c)
{
	printf("zero %.0f%%, shared %.0f%%, unique %.0f%% (%" PRIu64
	       " patterns), redirty %.1f%%, seed %s, salt %s\n",
	       100 * get_double(c, "zero_ratio"), 100 * get_double(c, "shared_ratio"),
	       100 * get_double(c, "unique_ratio"), get_u64(c, "pattern_count"),
	       100 * get_double(c, "redirty_ratio"), get_str(c, "seed", "?"),
	       get_str(c, "salt", "?"));
}

static void print_zone(json_object *z)
{
	char a[32], b[32];
	json_object *placement = get(z, "placement"), *per_node = get(placement, "per_node"),
		    *ksm = get(z, "ksm_bytes");

	printf("  %s: guest address 0x%" PRIx64 ", %s, backing %s (%s pages), policy %s, "
	       "nodes %s, guest node %" PRIu64 "\n",
	       get_str(z, "id", "?"), get_u64(z, "guest_address"),
	       nk_format_bytes(a, sizeof(a), get_u64(z, "size_bytes")), get_str(z, "backing", "?"),
	       nk_format_bytes(b, sizeof(b), get_u64(z, "page_size_bytes")),
	       get_str(z, "policy", "?"), or_none(get_str(z, "nodes", NULL)),
	       get_u64(z, "guest_node"));
	if (placement) {
		printf("    resident (%s):",
		       json_object_get_boolean(get(placement, "exact")) ? "exact" : "sampled");
		for (size_t i = 0; i < array_length(per_node); i++) {
			json_object *n = json_object_array_get_idx(per_node, i);
			printf(" node%" PRIu64 " %s", get_u64(n, "node"),
			       nk_format_bytes(a, sizeof(a), get_u64(n, "resident_bytes")));
		}
		if (!array_length(per_node))
			printf(" none");
		printf("; %s not present\n",
		       nk_format_bytes(a, sizeof(a), get_u64(placement, "absent_bytes")));
	} else {
		printf("    resident: not measured\n");
	}
	printf("    mergeable %s, KSM ",
	       json_object_get_boolean(get(z, "mergeable")) ? "yes" : "no");
	if (ksm)
		printf("%s\n", nk_format_bytes(a, sizeof(a), json_object_get_uint64(ksm)));
	else
		printf("n/a (this kernel does not report it per mapping)\n");
}

static void print_vcpu(json_object *v)
{
	json_object *host_node = get(v, "host_node");

	printf("  %" PRIu64 ": TID %" PRIu64 ", %s, planned CPUs %s, affinity %s%s",
	       get_u64(v, "vcpu"), get_u64(v, "tid"), get_str(v, "state", "?"),
	       or_none(get_str(v, "planned_cpus", NULL)),
	       or_none(get_str(v, "affinity_cpus", NULL)),
	       json_object_get_boolean(get(v, "pin_verified")) ? " (verified)" : "");
	if (host_node)
		printf(", host node %d", json_object_get_int(host_node));
	printf("\n     passes %" PRIu64 ", verified pages %" PRIu64 ", errors %" PRIu64,
	       get_u64(v, "pass_count"), get_u64(v, "verified_page_count"),
	       get_u64(v, "verify_error_count"));
	if (get(v, "first_bad_guest_address"))
		printf(" (first at guest address 0x%" PRIx64 ")",
		       get_u64(v, "first_bad_guest_address"));
	printf(", I/O exits %" PRIu64 "\n", get_u64(v, "io_exit_count"));
	if (get_str(v, "error", NULL))
		printf("     error: %s\n", get_str(v, "error", NULL));
}

static void print_info(json_object *info)
{
	json_object *zones = get(info, "zones"), *vcpus = get(info, "vcpus"),
		    *loads = get(info, "loads"), *w = get(info, "workload"), *f = get(info, "fill"),
		    *ksm = get(info, "ksm");
	char a[32], b[32];

	printf("VM %s: %s, PID %" PRIu64 ", up %.1f s, %" PRIu64 " guest node%s, socket %s\n",
	       get_str(info, "name", "?"), get_str(info, "state", "?"), get_u64(info, "pid"),
	       get_double(info, "uptime_seconds"), get_u64(info, "guest_node_count"),
	       get_u64(info, "guest_node_count") == 1 ? "" : "s",
	       get_str(info, "socket_path", "?"));
	if (get(info, "console"))
		printf("Console: %s %s\n", get_str(get(info, "console"), "mode", "?"),
		       get_str(get(info, "console"), "path", ""));
	printf("Zones (%s of guest RAM):\n", nk_format_bytes(a, sizeof(a), ram_bytes(info)));
	for (size_t i = 0; i < array_length(zones); i++)
		print_zone(json_object_array_get_idx(zones, i));
	printf("vCPUs:\n");
	for (size_t i = 0; i < array_length(vcpus); i++)
		print_vcpu(json_object_array_get_idx(vcpus, i));
	if (w) {
		printf("Workload: %s over %" PRIu64 " pages, ", get_str(w, "mode", "?"),
		       get_u64(w, "page_count"));
		if (get(w, "pass_limit"))
			printf("%" PRIu64 " passes", get_u64(w, "pass_limit"));
		else
			printf("passes until stopped");
		printf(", period %.0f ms%s\n  content: ", 1000 * get_double(w, "period_seconds"),
		       json_object_get_boolean(get(w, "verify")) ? ", verified" : "");
		print_content(w);
	}
	if (f) {
		printf("Fill: %" PRIu64 " pages written by the host in %.3f s\n  content: ",
		       get_u64(f, "page_count"), get_double(f, "seconds"));
		print_content(f);
	}
	for (size_t i = 0; i < array_length(loads); i++) {
		json_object *l = json_object_array_get_idx(loads, i);
		printf("%s %s at guest address 0x%" PRIx64 ", %s\n",
		       i ? "     " : "Load:", get_str(l, "path", "?"), get_u64(l, "guest_address"),
		       nk_format_bytes(a, sizeof(a), get_u64(l, "size_bytes")));
	}
	/* null: no /proc/PID/ksm_stat; inside it, null what this kernel lacks. */
	if (get(ksm, "rmap_item_count")) {
		printf("KSM (process): rmap items %" PRIu64, get_u64(ksm, "rmap_item_count"));
		if (get(ksm, "merging_page_count"))
			printf(", merging %" PRIu64 " pages", get_u64(ksm, "merging_page_count"));
		if (get(ksm, "zero_page_count"))
			printf(", zero pages %" PRIu64, get_u64(ksm, "zero_page_count"));
		if (get(ksm, "saved_bytes"))
			printf("; saves %s of %s mergeable",
			       nk_format_bytes(a, sizeof(a), get_u64(ksm, "saved_bytes")),
			       nk_format_bytes(b, sizeof(b), get_u64(ksm, "mergeable_bytes")));
		printf("\n");
	} else {
		printf("KSM (process): n/a (no /proc/PID/ksm_stat)\n");
	}
	json_object *m = get(info, "migration");
	if (m) {
		printf("Migration of zone %s to nodes %s: %s, %s of %s gone through",
		       get_str(m, "zone", "?"), or_none(get_str(m, "nodes", NULL)),
		       get_str(m, "state", "?"),
		       nk_format_bytes(a, sizeof(a), get_u64(m, "done_bytes")),
		       nk_format_bytes(b, sizeof(b), get_u64(m, "total_bytes")));
		printf(", %s moved, %" PRIu64 " pages failed, %.3f s\n",
		       nk_format_bytes(a, sizeof(a), get_u64(m, "moved_bytes")),
		       get_u64(m, "failed_page_count"), get_double(m, "seconds"));
		if (get_str(m, "error", NULL))
			printf("  error: %s\n", get_str(m, "error", NULL));
	}
}

static int vm_info(const struct vm_args *a, nk_error **err)
{
	json_object *info = NULL;
	int r = vm_command_call(a, request_new("info"), CALL_TIMEOUT_MS, &info, err);
	if (r < 0)
		return r;
	if (a->json) {
		json_object *doc = tool_json_doc("vm info");
		json_object_object_add(doc, "vm", info);
		tool_json_print(doc, true);
		return EXIT_OK;
	}
	print_info(info);
	json_object_put(info);
	return EXIT_OK;
}

/* ---- pause, resume, stop, ksm, migrate ------------------------------------------ */

/* `absent`: the state to print when the reply has none. */
static int vm_state_change(const struct vm_args *a, const char *command, const char *absent,
			   nk_error **err)
{
	json_object *result = NULL;
	int r = vm_command_call(a, request_new(command), CALL_TIMEOUT_MS, &result, err);
	if (r < 0)
		return r;
	printf("VM %s: %s\n", a->args[0], get_str(result, "state", absent));
	json_object_put(result);
	return EXIT_OK;
}

static int vm_pause(const struct vm_args *a, nk_error **err)
{
	return vm_state_change(a, "pause", "?", err);
}

static int vm_resume(const struct vm_args *a, nk_error **err)
{
	return vm_state_change(a, "resume", "?", err);
}

static int vm_stop(const struct vm_args *a, nk_error **err)
{
	/* stop answers before the VM goes: there is no state to report. */
	return vm_state_change(a, "stop", "stopping", err);
}

static int vm_ksm(const struct vm_args *a, nk_error **err)
{
	json_object *result = NULL, *request = request_new("set-mergeable");
	bool on;

	if (nk_parse_bool(a->args[2], &on) < 0) {
		json_object_put(request);
		tool_usage_error(err,
				 "invalid KSM setting '%s': expected on or off (yes/no, "
				 "true/false, 1/0)",
				 a->args[2]);
		return nk_error_hint(err, "see 'numaksm vm ksm --help'");
	}
	json_object_object_add(request, "zone", json_object_new_string(a->args[1]));
	json_object_object_add(request, "mergeable", json_object_new_boolean(on));
	int r = vm_command_call(a, request, CALL_TIMEOUT_MS, &result, err);
	if (r < 0)
		return r;
	printf("VM %s zone %s: KSM merging %s\n", a->args[0], a->args[1],
	       json_object_get_boolean(get(result, "mergeable")) ? "on" : "off");
	json_object_put(result);
	return EXIT_OK;
}

static int vm_migrate(const struct vm_args *a, nk_error **err)
{
	json_object *result = NULL, *request = request_new("migrate");

	json_object_object_add(request, "zone", json_object_new_string(a->args[1]));
	json_object_object_add(request, "nodes", json_object_new_string(a->nodes));
	int r = vm_command_call(a, request, MIGRATE_TIMEOUT_MS, &result, err);
	if (r < 0)
		return r;
	printf("VM %s zone %s to nodes %s: %" PRIu64 " pages moved, %" PRIu64
	       " already there, %" PRIu64 " failed, %" PRIu64 " absent; %.3f s, %.1f MB/s\n",
	       a->args[0], a->args[1], a->nodes, get_u64(result, "moved_page_count"),
	       get_u64(result, "already_page_count"), get_u64(result, "failed_page_count"),
	       get_u64(result, "absent_page_count"), get_double(result, "seconds"),
	       (double)get_u64(result, "bytes_per_second") / 1e6);
	json_object_put(result);
	return EXIT_OK;
}

/* ---- the command line ----------------------------------------------------------- */

static const struct vm_command vm_commands[] = {
    {"list", "list [--json]", "the running VMs: PID, state, vCPUs, RAM, KSM, console",
     "The running numaksm-vmm VMs: name, PID, state, vCPUs, guest RAM, the pages\n"
     "KSM merges in each, and a Linux guest's console (MODE[:PATH], from the VM's\n"
     "registry entry).  A VM that exits while being listed is left out.\n"
     "  --json  {schema_version, command, vms: [{name, pid, state, vcpu_count,\n"
     "          guest_ram_bytes, ksm_merging_page_count, console}]}\n",
     "", 0, true, false, vm_list},
    {"info", "info NAME [--json]", "one VM: zones, vCPUs, workload, KSM",
     "One VM: its zones (guest address, size, backing, policy, nodes, pages per node,\n"
     "mergeable, KSM), its vCPUs (thread, state, planned CPUs, affinity, host node,\n"
     "passes, verified pages, errors), its workload, fill and loads, and the KSM\n"
     "counters of its process.\n"
     "  --json  the VM's own info object, as its socket returns it\n",
     "NAME", 1, true, false, vm_info},
    {"pause", "pause NAME", "stop the vCPUs", "Stop the VM's vCPUs; guest RAM stays as it is.\n",
     "NAME", 1, false, false, vm_pause},
    {"resume", "resume NAME", "run the vCPUs again", "Run the vCPUs of a paused VM again.\n",
     "NAME", 1, false, false, vm_resume},
    {"stop", "stop NAME", "ask the VM to exit",
     "Ask the VM to stop: its VMM tears everything down and exits.\n", "NAME", 1, false, false,
     vm_stop},
    {"ksm", "ksm NAME ZONE on|off", "KSM merging of a zone on or off",
     "Let KSM merge the pages of the zone (MADV_MERGEABLE), or unmerge them (off).\n",
     "NAME ZONE on|off", 3, false, false, vm_ksm},
    {"migrate", "migrate NAME ZONE --nodes LIST", "move a zone to other nodes",
     "Move the pages of the zone to the nodes and bind it to them; print the pages\n"
     "moved, already there, failed and not faulted in, and the rate.\n"
     "  --nodes LIST  host nodes, e.g. 1 or 2-3 (required)\n",
     "NAME ZONE --nodes LIST", 2, false, true, vm_migrate},
};

static void usage_footer(FILE *out)
{
	fprintf(out, "\nEvery command takes:\n"
		     "  --runtime-dir DIR  where the VMs' sockets are (default "
		     "$NUMAKSM_RUNTIME_DIR,\n"
		     "                     or /run/numaksm)\n"
		     "  --help             this text\n\n"
		     "Exit status: 0 success, 1 no such VM or the VM refused, 2 usage error.\n");
}

static void usage(FILE *out)
{
	fprintf(out, "Usage:");
	for (size_t i = 0; i < ARRAY_SIZE(vm_commands); i++)
		fprintf(out, "%s numaksm vm %s\n", i ? "      " : "", vm_commands[i].synopsis);
	fprintf(out, "\nControl the running numaksm-vmm VMs through their control sockets.\n\n");
	for (size_t i = 0; i < ARRAY_SIZE(vm_commands); i++)
		fprintf(out, "  %-8s %s\n", vm_commands[i].name, vm_commands[i].summary);
	fprintf(out, "\n'numaksm vm COMMAND --help' tells more of each.\n");
	usage_footer(out);
}

static void command_usage(FILE *out, const struct vm_command *c)
{
	fprintf(out, "Usage: numaksm vm %s [--runtime-dir DIR]\n\n%s", c->synopsis, c->help);
	usage_footer(out);
}

static int usage_hint(nk_error **err, const struct vm_command *c)
{
	return nk_error_hint(err, "see 'numaksm vm %s --help'", c->name);
}

/* @return 0 when parsed, 1 when --help was printed, or a negative errno. */
static int parse_args(int argc, char **argv, const struct vm_command *c, struct vm_args *a,
		      nk_error **err)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"nodes", required_argument, NULL, 'n'},
	    {"runtime-dir", required_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	char command[32];
	int opt, index;

	snprintf(command, sizeof(command), "vm %s", c->name);
	char offered[8];
	snprintf(offered, sizeof(offered), "Rh%s%s", c->json ? "j" : "", c->nodes ? "n" : "");
	tool_complete_options(argc, argv, opts, offered,
			      c->n_args ? TOOL_VALUE_NUMAKSM_VM | TOOL_VALUE_FIRST_ONLY
					: TOOL_VALUE_NONE);
	optind = 1;
	opterr = 0;
	while ((index = -1, opt = getopt_long(argc, argv, ":h", opts, &index)) != -1) {
		switch (opt) {
		case 'h':
			command_usage(stdout, c);
			return 1;
		case 'R':
			a->runtime_dir = optarg;
			break;
		case 'j':
		case 'n':
			if (!(opt == 'j' ? c->json : c->nodes)) {
				tool_usage_error(err, "vm %s takes no --%s", c->name,
						 opts[index].name);
				return usage_hint(err, c);
			}
			if (opt == 'j')
				a->json = true;
			else
				a->nodes = optarg;
			break;
		default:
			return tool_getopt_error(err, command, opt, argv);
		}
	}
	if (argc - optind < c->n_args) {
		tool_usage_error(err, "vm %s needs %s", c->name, c->arg_names);
		return usage_hint(err, c);
	}
	if (argc - optind > c->n_args) {
		tool_usage_error(err, "unexpected argument '%s'", argv[optind + c->n_args]);
		return usage_hint(err, c);
	}
	a->args = argv + optind;
	if (c->nodes) {
		nk_bitmap *nodes = NULL;
		nk_error *e = NULL;
		if (!a->nodes) {
			tool_usage_error(err, "vm %s needs --nodes LIST", c->name);
			return usage_hint(err, c);
		}
		int r = nk_parse_list(a->nodes, "node list", &nodes, &e);
		bool empty = r >= 0 && nk_bitmap_weight(nodes) == 0;
		nk_error_free(e);
		nk_bitmap_free(nodes);
		if (r < 0 || empty) {
			tool_usage_error(err,
					 "invalid --nodes '%s': expected a node list such as 0-3,6",
					 a->nodes);
			return usage_hint(err, c);
		}
	}
	return 0;
}

static const struct vm_command *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(vm_commands); i++)
		if (strcmp(name, vm_commands[i].name) == 0)
			return &vm_commands[i];
	return NULL;
}

int cmd_vm(int argc, char **argv, nk_error **err)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		if (argc < 2)
			return tool_usage_error(err, "vm needs a command: list, info, pause, "
						     "resume, stop, ksm or migrate");
		return EXIT_OK;
	}
	const struct vm_command *c = find_command(argv[1]);
	if (!c) {
		tool_usage_error(err,
				 "unknown vm command '%s': expected list, info, pause, resume, "
				 "stop, ksm or migrate",
				 argv[1]);
		return nk_error_hint(err, "see 'numaksm vm --help'");
	}
	struct vm_args a = {0};
	int r = parse_args(argc - 1, argv + 1, c, &a, err);
	if (r != 0)
		return r < 0 ? r : EXIT_OK;
	return c->run(&a, err);
}
