/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket RUNDIR/NAME.sock and the registry entry
 * RUNDIR/vm/NAME.json (claimed through the library: nk_vmm_register()).  Messages are JSON objects,
 * one per SOCK_SEQPACKET packet, versioned (NK_VMM_PROTOCOL_VERSION):
 * {"version":2,"command":"info"} is answered with
 * {"version":2,"ok":true,"result":{...}} or {"version":2,"ok":false,
 * "errno":N,"error":"...","hint":"..."}.  Results are in numaksm's JSON
 * vocabulary (docs/json.md; info is the vmm_info object).  Only the VMM's own user (or root) may
 * connect; the socket is 0600 in a 0700 directory.  See
 * docs/man/numaksm-vmm.1.md for the commands.
 */
#include <fcntl.h>
#include <json-c/json.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "numaksm/ksm.h"
#include "numaksm/vmm.h"
#include "json.h"
#include "vmm.h"

int vmm_control_open(struct vmm *vmm, nk_error **err)
{
	int r = nk_vmm_register(vmm->cfg->runtime_dir, vmm->cfg->name, &vmm->registration, err);
	if (r < 0)
		return r;
	vmm->listen_fd = nk_vmm_registration_fd(vmm->registration);
	vmm->socket_path = nk_vmm_registration_socket(vmm->registration);
	return 0;
}

void vmm_control_close(struct vmm *vmm)
{
	vmm->registration = nk_vmm_unregister(vmm->registration);
	vmm->listen_fd = -1;
	vmm->socket_path = NULL;
}

/* ---- info ---------------------------------------------------------------- */

/* What a workload or a fill writes (docs/schema: vmm_workload, vmm_fill). */
static void content_json(json_object *o, const struct nkg_content *c)
{
	json_object_object_add(o, "seed", tool_json_hex64(c->seed));
	json_object_object_add(o, "salt", tool_json_hex64(c->salt));
	json_object_object_add(o, "zero_ratio", tool_json_ratio(c->zero_pct / 100.0));
	json_object_object_add(o, "shared_ratio", tool_json_ratio(c->shared_pct / 100.0));
	json_object_object_add(o, "unique_ratio",
			       tool_json_ratio((100 - c->zero_pct - c->shared_pct) / 100.0));
	json_object_object_add(o, "pattern_count", tool_json_u64(c->patterns));
	json_object_object_add(o, "redirty_ratio", tool_json_ratio(c->redirty_permille / 1000.0));
}

static const char *vm_state(struct vmm *vmm)
{
	bool any_running = false, any_paused = false, any_failed = false;
	for (unsigned i = 0; i < vmm->n_vcpus; i++) {
		any_running |= vmm->vcpus[i].state == VCPU_RUNNING;
		any_paused |= vmm->vcpus[i].state == VCPU_PAUSED;
		any_failed |= vmm->vcpus[i].state == VCPU_FAILED;
	}
	if (vmm->stop_requested || vmm->power_button_at)
		return "stopping";
	if (vmm->pause_requested)
		return "paused";
	if (any_running || any_paused)
		return "running";
	return any_failed ? "failed" : "halted";
}

static json_object *zone_json(struct vmm *vmm, size_t i)
{
	nk_zone *zone = vmm->zones[i].zone;
	struct nk_placement p = {0};
	struct tool_zone_guest g = {
	    .guest_node = vmm->cfg->zones[i].guest_node,
	    .guest_address = vmm->zones[i].gpa,
	    .host_address = (uintptr_t)nk_zone_addr(zone),
	};
	/* KSM bytes where the kernel reports them per mapping (Linux 6.6). */
	g.has_ksm_bytes = nk_zone_ksm_bytes(zone, &g.ksm_bytes, NULL) == 0;
	bool placed = nk_zone_placement(zone, 16384, &p, NULL) == 0;
	json_object *z = tool_json_zone(zone, placed ? &p : NULL, &g);
	nk_placement_done(&p);
	return z;
}

static json_object *vcpu_json(struct vmm *vmm, unsigned i)
{
	const struct vmm_config *cfg = vmm->cfg;
	struct vmm_vcpu *v = &vmm->vcpus[i];
	json_object *j = json_object_new_object(), *work = json_object_new_array();
	_cleanup_bitmap_ nk_bitmap *affinity = NULL;
	struct nk_pin_vcpu pv;
	bool planned = vmm->plan && nk_pin_plan_vcpu(vmm->plan, i, &pv) == 0;
	cpu_set_t set;

	if (v->tid && (v->state == VCPU_RUNNING || v->state == VCPU_PAUSED) &&
	    sched_getaffinity(v->tid, sizeof(set), &set) == 0 && (affinity = nk_bitmap_new()))
		for (unsigned c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set))
				nk_bitmap_set(affinity, c);
	json_object_object_add(j, "vcpu", tool_json_u64(v->id));
	json_object_object_add(j, "tid", v->tid > 0 ? json_object_new_int(v->tid) : NULL);
	json_object_object_add(j, "state", json_object_new_string(vmm_vcpu_state_name(v->state)));
	json_object_object_add(j, "planned_cpus", v->cpus ? tool_json_list(v->cpus) : NULL);
	json_object_object_add(j, "affinity_cpus", affinity ? tool_json_list(affinity) : NULL);
	json_object_object_add(j, "pin_verified", json_object_new_boolean(v->pin_verified));
	json_object_object_add(j, "host_node", planned ? json_object_new_int(pv.host_node) : NULL);
	json_object_object_add(j, "guest_node", planned ? tool_json_u64(pv.guest_node) : NULL);
	json_object_object_add(j, "pass_count", tool_json_u64(v->passes_done));
	json_object_object_add(j, "pass_checksum", tool_json_hex64(v->pass_checksum));
	json_object_object_add(j, "verified_page_count", tool_json_u64(v->verified_pages));
	json_object_object_add(j, "verify_checksum", tool_json_hex64(v->verify_checksum));
	json_object_object_add(j, "verify_error_count", tool_json_u64(v->verify_errors));
	json_object_object_add(j, "first_bad_guest_address",
			       v->verify_errors ? tool_json_u64(v->first_bad_gpa) : NULL);
	json_object_object_add(j, "io_exit_count", tool_json_u64(v->io_exits));
	for (uint32_t w = 0; cfg->workload.c.set && w < vmm->layout.work[i].n_ranges; w++) {
		json_object *range = json_object_new_object();
		json_object_object_add(range, "guest_address",
				       tool_json_u64(vmm->layout.work[i].ranges[w].gpa));
		json_object_object_add(range, "page_count",
				       tool_json_u64(vmm->layout.work[i].ranges[w].pages));
		json_object_array_add(work, range);
	}
	json_object_object_add(j, "work_ranges", work);
	json_object_object_add(j, "error", tool_json_name(v->error));
	return j;
}

/* A Linux guest's console: its mode and pty, file or socket (null on stdio). */
static json_object *console_json(struct vmm *vmm)
{
	if (!vmm->cfg->kernel)
		return NULL;
	json_object *c = json_object_new_object();
	json_object_object_add(c, "mode",
			       json_object_new_string(nk_vmm_console_mode_name(vmm->cfg->console)));
	json_object_object_add(c, "path", tool_json_name(vmm_linux_console_path(vmm)));
	return c;
}

/* The VM's own view: the socket's `info` result, and numaksm-vmm --json's "vm". */
static json_object *info_object(struct vmm *vmm)
{
	json_object *o = json_object_new_object(), *zones = json_object_new_array(),
		    *vcpus = json_object_new_array(), *loads = json_object_new_array();
	json_object *workload = NULL, *fill = NULL, *ksm = NULL;
	const struct vmm_config *cfg = vmm->cfg;
	struct nk_ksm_proc_stat ks;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (size_t i = 0; i < vmm->n_zones; i++)
		json_object_array_add(zones, zone_json(vmm, i));
	if (cfg->workload.c.set) {
		workload = json_object_new_object();
		json_object_object_add(workload, "mode",
				       json_object_new_string(cfg->workload.mode == NKG_MODE_VERIFY
								  ? "verify"
								  : "write"));
		json_object_object_add(workload, "pass_limit",
				       cfg->workload.passes ? tool_json_u64(cfg->workload.passes)
							    : NULL); /* 0: forever */
		json_object_object_add(workload, "period_seconds",
				       tool_json_seconds(cfg->workload.period_ms / 1000.0));
		json_object_object_add(workload, "verify",
				       json_object_new_boolean(cfg->workload.verify));
		json_object_object_add(workload, "page_count",
				       tool_json_u64(vmm->layout.work_pages));
		content_json(workload, &cfg->workload.c.content);
	}
	if (cfg->fill.set) {
		fill = json_object_new_object();
		json_object_object_add(fill, "page_count", tool_json_u64(vmm->fill_pages_written));
		json_object_object_add(fill, "seconds", tool_json_seconds(vmm->fill_seconds));
		content_json(fill, &cfg->fill.content);
	}
	for (size_t i = 0; i < cfg->n_loads; i++) {
		json_object *l = json_object_new_object();
		json_object_object_add(l, "path", json_object_new_string(cfg->loads[i].path));
		json_object_object_add(l, "guest_address", tool_json_u64(cfg->loads[i].gpa));
		json_object_object_add(l, "size_bytes", tool_json_u64(cfg->loads[i].size_bytes));
		json_object_array_add(loads, l);
	}
	if (nk_ksm_proc_read(vmm->host, getpid(), &ks, NULL) == 0) {
		uint64_t mergeable = 0;
		for (size_t i = 0; i < vmm->n_zones; i++)
			if (nk_zone_is_mergeable(vmm->zones[i].zone))
				mergeable += nk_zone_size(vmm->zones[i].zone);
		struct nk_ksm host_ksm;
		bool counted = nk_ksm_read(vmm->host, NK_KSM_ALL, &host_ksm, NULL) == 0;
		ksm = tool_json_process_ksm(
		    &ks, true, mergeable, counted,
		    counted
			? nk_ksm_proc_saved_bytes(&ks, &host_ksm, (uint64_t)sysconf(_SC_PAGESIZE))
			: 0);
	}

	json_object_object_add(o, "name", json_object_new_string(cfg->name));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "socket_path", tool_json_name(vmm->socket_path));
	json_object_object_add(o, "console", console_json(vmm));
	pthread_mutex_lock(&vmm->lock);
	json_object_object_add(o, "state", json_object_new_string(vm_state(vmm)));
	json_object_object_add(
	    o, "uptime_seconds",
	    tool_json_seconds((double)now.tv_sec + (double)now.tv_nsec / 1e9 - vmm->started_at));
	json_object_object_add(o, "guest_node_count", tool_json_u64(vmm->layout.n_guest_nodes));
	json_object_object_add(o, "guest_address_end", tool_json_u64(vmm->layout.gpa_end));
	json_object_object_add(o, "zones", zones);
	for (unsigned i = 0; i < vmm->n_vcpus; i++)
		json_object_array_add(vcpus, vcpu_json(vmm, i));
	pthread_mutex_unlock(&vmm->lock);
	json_object_object_add(o, "vcpus", vcpus);
	json_object_object_add(o, "workload", workload);
	json_object_object_add(o, "fill", fill);
	json_object_object_add(o, "loads", loads);
	json_object_object_add(o, "ksm", ksm);
	json_object_object_add(o, "migration", vmm_migration_json(vmm));
	return o;
}

void vmm_info_print(struct vmm *vmm)
{
	json_object *doc = tool_json_doc("numaksm-vmm");
	json_object_object_add(doc, "vm", info_object(vmm));
	tool_json_print(doc, true);
}

/* ---- requests ------------------------------------------------------------ */

char *vmm_reply_error(int code, const char *msg, const char *hint)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(NK_VMM_PROTOCOL_VERSION));
	json_object_object_add(o, "ok", json_object_new_boolean(false));
	json_object_object_add(o, "errno", json_object_new_int(code));
	json_object_object_add(o, "error", json_object_new_string(msg));
	if (hint)
		json_object_object_add(o, "hint", json_object_new_string(hint));
	char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

static char *reply_nk_error(nk_error *e)
{
	return vmm_reply_error(nk_error_code(e), nk_error_message(e), nk_error_get_hint(e));
}

char *vmm_reply_ok(json_object *result)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(NK_VMM_PROTOCOL_VERSION));
	json_object_object_add(o, "ok", json_object_new_boolean(true));
	json_object_object_add(o, "result", result ? result : json_object_new_object());
	char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return text;
}

static nk_zone *find_zone(struct vmm *vmm, json_object *req, char **ret_reply)
{
	json_object *id;
	if (!json_object_object_get_ex(req, "zone", &id) ||
	    !json_object_is_type(id, json_type_string)) {
		*ret_reply = vmm_reply_error(EINVAL, "'zone' (a zone id string) is required", NULL);
		return NULL;
	}
	for (size_t i = 0; i < vmm->n_zones; i++)
		if (!strcmp(nk_zone_spec(vmm->zones[i].zone)->id, json_object_get_string(id)))
			return vmm->zones[i].zone;
	_cleanup_free_ char *msg = NULL;
	if (asprintf(&msg, "no zone '%s' in this VM", json_object_get_string(id)) < 0)
		msg = NULL;
	*ret_reply = vmm_reply_error(ENOENT, msg ? msg : "no such zone", NULL);
	return NULL;
}

/* Only the keys a command takes: a typo is an error, not ignored. */
static bool only_keys(json_object *req, const char *const *allowed, char **ret_reply)
{
	json_object_object_foreach(req, key, value)
	{
		(void)value;
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok |= !strcmp(*a, key);
		if (!ok) {
			_cleanup_free_ char *msg = NULL;
			if (asprintf(&msg, "unknown key '%s' for this command", key) < 0)
				msg = NULL;
			*ret_reply = vmm_reply_error(EINVAL, msg ? msg : "unknown key", NULL);
			return false;
		}
	}
	return true;
}

static char *handle_request(struct vmm *vmm, json_object *req, unsigned *ret_flags)
{
	static const char *const plain_keys[] = {"version", "command", NULL};
	static const char *const mergeable_keys[] = {"version", "command", "zone", "mergeable",
						     NULL};
	static const char *const migrate_keys[] = {"version", "command", "zone", "nodes", NULL};
	json_object *version, *command;
	char *reply = NULL;

	if (!json_object_is_type(req, json_type_object))
		return vmm_reply_error(EINVAL, "a request is a JSON object", NULL);
	if (!json_object_object_get_ex(req, "version", &version) ||
	    !json_object_is_type(version, json_type_int))
		return vmm_reply_error(EPROTO, "'version' (an integer) is required", NULL);
	if (json_object_get_int64(version) != NK_VMM_PROTOCOL_VERSION)
		return vmm_reply_error(
		    EPROTONOSUPPORT,
		    "unsupported protocol version; this VMM speaks " VMM_STRINGIFY(
			NK_VMM_PROTOCOL_VERSION),
		    "use a numaksm tool of the same release as the VMM");
	if (!json_object_object_get_ex(req, "command", &command) ||
	    !json_object_is_type(command, json_type_string))
		return vmm_reply_error(EINVAL, "'command' (a string) is required", NULL);
	const char *cmd = json_object_get_string(command);

	if (!strcmp(cmd, "info")) {
		if (!only_keys(req, plain_keys, &reply))
			return reply;
		return vmm_reply_ok(info_object(vmm));
	}
	if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume")) {
		if (!only_keys(req, plain_keys, &reply))
			return reply;
		vmm_pause(vmm, cmd[0] == 'p');
		json_object *r = json_object_new_object();
		pthread_mutex_lock(&vmm->lock);
		json_object_object_add(r, "state", json_object_new_string(vm_state(vmm)));
		pthread_mutex_unlock(&vmm->lock);
		return vmm_reply_ok(r);
	}
	if (!strcmp(cmd, "stop")) {
		if (!only_keys(req, plain_keys, &reply))
			return reply;
		*ret_flags |= VMM_REQUEST_STOP;
		return vmm_reply_ok(NULL);
	}
	if (!strcmp(cmd, "set-mergeable")) {
		json_object *m;
		_cleanup_error_ nk_error *e = NULL;
		if (!only_keys(req, mergeable_keys, &reply))
			return reply;
		nk_zone *zone = find_zone(vmm, req, &reply);
		if (!zone)
			return reply;
		if (!json_object_object_get_ex(req, "mergeable", &m) ||
		    !json_object_is_type(m, json_type_boolean))
			return vmm_reply_error(EINVAL, "'mergeable' (true or false) is required",
					       NULL);
		if (nk_zone_set_mergeable(zone, json_object_get_boolean(m), &e) < 0)
			return reply_nk_error(e);
		json_object *r = json_object_new_object();
		json_object_object_add(r, "mergeable",
				       json_object_new_boolean(nk_zone_is_mergeable(zone)));
		return vmm_reply_ok(r);
	}
	if (!strcmp(cmd, "migrate")) {
		json_object *nodes_json;
		_cleanup_error_ nk_error *e = NULL;
		_cleanup_bitmap_ nk_bitmap *nodes = NULL;
		if (!only_keys(req, migrate_keys, &reply))
			return reply;
		if (!json_object_object_get_ex(req, "nodes", &nodes_json) ||
		    !json_object_is_type(nodes_json, json_type_string))
			return vmm_reply_error(
			    EINVAL, "'nodes' (a node list string such as \"1\") is required", NULL);
		/* Bounded before anything is set: a list costs its length only. */
		if (nk_parse_list_max(json_object_get_string(nodes_json), "node list", VMM_NODE_MAX,
				      &nodes, &e) < 0)
			return vmm_reply_error(nk_error_code(e), nk_error_message(e),
					       "name host nodes with memory, e.g. \"1\" or \"0-1\" "
					       "(/sys/devices/system/node/has_memory)");
		nk_zone *zone = find_zone(vmm, req, &reply);
		if (!zone)
			return reply;
		if (vmm_migration_busy(vmm)) {
			_cleanup_free_ char *msg = NULL;
			if (asprintf(&msg, "a migration is running: zone %s",
				     vmm->migration.zone_id) < 0)
				msg = NULL;
			return vmm_reply_error(EBUSY, msg ? msg : "a migration is running",
					       "one at a time: 'numaksm vm info' shows how far it "
					       "got");
		}
		if (vmm_migration_start(vmm, zone, nodes, &e) < 0)
			return reply_nk_error(e);
		*ret_flags |= VMM_REQUEST_LATER;
		return NULL;
	}
	_cleanup_free_ char *msg = NULL;
	if (asprintf(&msg, "unknown command '%s'", cmd) < 0)
		msg = NULL;
	return vmm_reply_error(EOPNOTSUPP, msg ? msg : "unknown command",
			       "commands: info, pause, resume, stop, set-mergeable, migrate");
}

char *vmm_control_handle(struct vmm *vmm, const char *request, size_t len, unsigned *ret_flags)
{
	json_tokener *tok = json_tokener_new();
	json_object *req = tok ? json_tokener_parse_ex(tok, request, (int)len) : NULL;
	char *reply;

	*ret_flags = 0;
	if (!req || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len)
		reply = vmm_reply_error(EBADMSG, "the request is not one JSON object", NULL);
	else
		reply = handle_request(vmm, req, ret_flags);
	json_object_put(req);
	if (tok)
		json_tokener_free(tok);
	return reply;
}
