/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket RUNDIR/NAME.sock and the registry entry
 * RUNDIR/vm/NAME.json (claimed through the library: nk_vmm_register()).  Messages are JSON objects,
 * one per SOCK_SEQPACKET packet, versioned: {"version":1,"command":"info"} is answered with
 * {"version":1,"ok":true,"result":{...}} or {"version":1,"ok":false,
 * "error":"...","hint":"..."}.  Only the VMM's own user (or root) may
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

static json_object *json_u64(uint64_t v)
{
	return json_object_new_uint64(v);
}

static json_object *json_bitmap(const nk_bitmap *b)
{
	_cleanup_free_ char *text = NULL;
	if (!b || nk_bitmap_format(b, &text) < 0)
		return json_object_new_string("");
	return json_object_new_string(text);
}

static json_object *content_json(const struct nkg_content *c)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "seed", json_u64(c->seed));
	json_object_object_add(o, "salt", json_u64(c->salt));
	json_object_object_add(o, "zero_pct", json_u64(c->zero_pct));
	json_object_object_add(o, "shared_pct", json_u64(c->shared_pct));
	json_object_object_add(o, "unique_pct", json_u64(100 - c->zero_pct - c->shared_pct));
	json_object_object_add(o, "patterns", json_u64(c->patterns));
	json_object_object_add(o, "redirty_permille", json_u64(c->redirty_permille));
	return o;
}

static const char *vm_state(struct vmm *vmm)
{
	bool any_running = false, any_paused = false, any_failed = false;
	for (unsigned i = 0; i < vmm->n_vcpus; i++) {
		any_running |= vmm->vcpus[i].state == VCPU_RUNNING;
		any_paused |= vmm->vcpus[i].state == VCPU_PAUSED;
		any_failed |= vmm->vcpus[i].state == VCPU_FAILED;
	}
	if (vmm->stop_requested)
		return "stopping";
	if (vmm->pause_requested)
		return "paused";
	if (any_running || any_paused)
		return "running";
	return any_failed ? "failed" : "halted";
}

static json_object *info_object(struct vmm *vmm)
{
	json_object *o = json_object_new_object(), *zones = json_object_new_array(),
		    *vcpus = json_object_new_array(), *loads = json_object_new_array();
	const struct vmm_config *cfg = vmm->cfg;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	json_object_object_add(o, "name", json_object_new_string(cfg->name));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "socket",
			       json_object_new_string(vmm->socket_path ? vmm->socket_path : ""));
	json_object_object_add(o, "uptime_s",
			       json_object_new_double((double)now.tv_sec +
						      (double)now.tv_nsec / 1e9 - vmm->started_at));
	json_object_object_add(o, "guest_nodes", json_u64(vmm->layout.n_guest_nodes));
	json_object_object_add(o, "address_space_end", json_u64(vmm->layout.gpa_end));

	for (size_t i = 0; i < vmm->n_zones; i++) {
		nk_zone *zone = vmm->zones[i].zone;
		const struct nk_zone_spec *spec = nk_zone_spec(zone);
		json_object *z = json_object_new_object(), *per_node = json_object_new_object();
		struct nk_placement p = {0};
		json_object_object_add(z, "id", json_object_new_string(spec->id));
		json_object_object_add(z, "gpa", json_u64(vmm->zones[i].gpa));
		json_object_object_add(z, "size_bytes", json_u64(nk_zone_size(zone)));
		json_object_object_add(z, "host_addr", json_u64((uintptr_t)nk_zone_addr(zone)));
		json_object_object_add(z, "backing",
				       json_object_new_string(nk_backing_name(spec->backing)));
		json_object_object_add(z, "page_size", json_u64(nk_zone_page_size(zone)));
		json_object_object_add(z, "policy",
				       json_object_new_string(nk_policy_name(spec->policy)));
		json_object_object_add(z, "nodes", json_bitmap(spec->nodes));
		json_object_object_add(z, "guest_node", json_u64(cfg->zones[i].guest_node));
		json_object_object_add(z, "mergeable",
				       json_object_new_boolean(nk_zone_is_mergeable(zone)));
		if (nk_zone_placement(zone, 16384, &p, NULL) == 0) {
			for (size_t n = 0; n < p.n_node_pages; n++) {
				char key[24];
				if (!p.node_pages[n])
					continue;
				snprintf(key, sizeof(key), "%zu", n);
				json_object_object_add(per_node, key, json_u64(p.node_pages[n]));
			}
			json_object_object_add(z, "pages_exact", json_object_new_boolean(p.exact));
			json_object_object_add(z, "pages_not_present", json_u64(p.not_present));
		}
		nk_placement_done(&p);
		json_object_object_add(z, "pages_per_node", per_node);
		uint64_t ksm; /* null where the kernel does not say (before 6.6) */
		json_object_object_add(z, "ksm_bytes",
				       nk_zone_ksm_bytes(zone, &ksm, NULL) == 0 ? json_u64(ksm)
										: NULL);
		json_object_array_add(zones, z);
	}
	json_object_object_add(o, "zones", zones);

	pthread_mutex_lock(&vmm->lock);
	json_object_object_add(o, "state", json_object_new_string(vm_state(vmm)));
	for (unsigned i = 0; i < vmm->n_vcpus; i++) {
		struct vmm_vcpu *v = &vmm->vcpus[i];
		json_object *j = json_object_new_object();
		cpu_set_t set;
		json_object_object_add(j, "id", json_u64(v->id));
		json_object_object_add(j, "tid", json_object_new_int(v->tid));
		json_object_object_add(j, "state",
				       json_object_new_string(vmm_vcpu_state_name(v->state)));
		json_object_object_add(j, "planned_cpus", v->cpus ? json_bitmap(v->cpus) : NULL);
		if (v->tid && (v->state == VCPU_RUNNING || v->state == VCPU_PAUSED) &&
		    sched_getaffinity(v->tid, sizeof(set), &set) == 0) {
			_cleanup_bitmap_ nk_bitmap *b = nk_bitmap_new();
			for (unsigned c = 0; b && c < CPU_SETSIZE; c++)
				if (CPU_ISSET(c, &set))
					nk_bitmap_set(b, c);
			json_object_object_add(j, "affinity", json_bitmap(b));
		}
		json_object_object_add(j, "pin_verified", json_object_new_boolean(v->pin_verified));
		struct nk_pin_vcpu pv;
		if (vmm->plan && nk_pin_plan_vcpu(vmm->plan, i, &pv) == 0) {
			json_object_object_add(j, "host_node", json_object_new_int(pv.host_node));
			json_object_object_add(j, "guest_node", json_u64(pv.guest_node));
		}
		json_object_object_add(j, "passes", json_u64(v->passes_done));
		json_object_object_add(j, "pass_checksum", json_u64(v->pass_checksum));
		json_object_object_add(j, "verified_pages", json_u64(v->verified_pages));
		json_object_object_add(j, "verify_checksum", json_u64(v->verify_checksum));
		json_object_object_add(j, "verify_errors", json_u64(v->verify_errors));
		if (v->verify_errors)
			json_object_object_add(j, "first_bad_gpa", json_u64(v->first_bad_gpa));
		json_object_object_add(j, "io_exits", json_u64(v->io_exits));
		json_object *work = json_object_new_array();
		for (uint32_t w = 0; cfg->workload.c.set && w < vmm->layout.work[i].n_ranges; w++) {
			json_object *range = json_object_new_object();
			json_object_object_add(range, "gpa",
					       json_u64(vmm->layout.work[i].ranges[w].gpa));
			json_object_object_add(range, "pages",
					       json_u64(vmm->layout.work[i].ranges[w].pages));
			json_object_array_add(work, range);
		}
		json_object_object_add(j, "work", work);
		if (v->error)
			json_object_object_add(j, "error", json_object_new_string(v->error));
		json_object_array_add(vcpus, j);
	}
	pthread_mutex_unlock(&vmm->lock);
	json_object_object_add(o, "vcpus", vcpus);

	if (cfg->workload.c.set) {
		json_object *w = content_json(&cfg->workload.c.content);
		json_object_object_add(w, "mode",
				       json_object_new_string(cfg->workload.mode == NKG_MODE_VERIFY
								  ? "verify"
								  : "write"));
		json_object_object_add(w, "passes", json_u64(cfg->workload.passes));
		json_object_object_add(w, "period_ms", json_u64(cfg->workload.period_ms));
		json_object_object_add(w, "verify", json_object_new_boolean(cfg->workload.verify));
		json_object_object_add(w, "pages", json_u64(vmm->layout.work_pages));
		json_object_object_add(w, "guest_written", json_object_new_boolean(true));
		json_object_object_add(o, "workload", w);
	}
	if (cfg->fill.set) {
		json_object *f = content_json(&cfg->fill.content);
		json_object_object_add(f, "pages", json_u64(vmm->fill_pages_written));
		json_object_object_add(f, "seconds", json_object_new_double(vmm->fill_seconds));
		json_object_object_add(f, "host_written", json_object_new_boolean(true));
		json_object_object_add(o, "fill", f);
	}
	for (size_t i = 0; i < cfg->n_loads; i++) {
		json_object *l = json_object_new_object();
		json_object_object_add(l, "path", json_object_new_string(cfg->loads[i].path));
		json_object_object_add(l, "gpa", json_u64(cfg->loads[i].gpa));
		json_object_object_add(l, "size_bytes", json_u64(cfg->loads[i].size_bytes));
		json_object_array_add(loads, l);
	}
	json_object_object_add(o, "loads", loads);

	struct nk_ksm_proc_stat ks;
	if (nk_ksm_proc_read(vmm->host, getpid(), &ks, NULL) == 0) {
		json_object *k = json_object_new_object();
		json_object_object_add(k, "merging_pages", json_u64(ks.merging_pages));
		json_object_object_add(k, "rmap_items", json_u64(ks.rmap_items));
		json_object_object_add(k, "zero_pages", json_u64(ks.zero_pages));
		json_object_object_add(o, "ksm", k);
	}
	return o;
}

char *vmm_info_json(struct vmm *vmm)
{
	json_object *o = info_object(vmm);
	char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return text;
}

/* ---- requests ------------------------------------------------------------ */

static char *reply_error(int code, const char *msg, const char *hint)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(VMM_PROTO_VERSION));
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
	return reply_error(nk_error_code(e), nk_error_message(e), nk_error_get_hint(e));
}

static char *reply_ok(json_object *result)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(VMM_PROTO_VERSION));
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
		*ret_reply = reply_error(EINVAL, "'zone' (a zone id string) is required", NULL);
		return NULL;
	}
	for (size_t i = 0; i < vmm->n_zones; i++)
		if (!strcmp(nk_zone_spec(vmm->zones[i].zone)->id, json_object_get_string(id)))
			return vmm->zones[i].zone;
	_cleanup_free_ char *msg = NULL;
	if (asprintf(&msg, "no zone '%s' in this VM", json_object_get_string(id)) < 0)
		msg = NULL;
	*ret_reply = reply_error(ENOENT, msg ? msg : "no such zone", NULL);
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
			*ret_reply = reply_error(EINVAL, msg ? msg : "unknown key", NULL);
			return false;
		}
	}
	return true;
}

static char *handle_request(struct vmm *vmm, json_object *req, bool *ret_stop)
{
	static const char *const plain_keys[] = {"version", "command", NULL};
	static const char *const mergeable_keys[] = {"version", "command", "zone", "mergeable",
						     NULL};
	static const char *const migrate_keys[] = {"version", "command", "zone", "nodes", NULL};
	json_object *version, *command;
	char *reply = NULL;

	if (!json_object_is_type(req, json_type_object))
		return reply_error(EINVAL, "a request is a JSON object", NULL);
	if (!json_object_object_get_ex(req, "version", &version) ||
	    !json_object_is_type(version, json_type_int))
		return reply_error(EPROTO, "'version' (an integer) is required", NULL);
	if (json_object_get_int64(version) != VMM_PROTO_VERSION)
		return reply_error(EPROTONOSUPPORT,
				   "unsupported protocol version; this VMM speaks 1",
				   "use a numaksm tool of the same release as the VMM");
	if (!json_object_object_get_ex(req, "command", &command) ||
	    !json_object_is_type(command, json_type_string))
		return reply_error(EINVAL, "'command' (a string) is required", NULL);
	const char *cmd = json_object_get_string(command);

	if (!strcmp(cmd, "info")) {
		if (!only_keys(req, plain_keys, &reply))
			return reply;
		return reply_ok(info_object(vmm));
	}
	if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume")) {
		if (!only_keys(req, plain_keys, &reply))
			return reply;
		vmm_pause(vmm, cmd[0] == 'p');
		json_object *r = json_object_new_object();
		pthread_mutex_lock(&vmm->lock);
		json_object_object_add(r, "state", json_object_new_string(vm_state(vmm)));
		pthread_mutex_unlock(&vmm->lock);
		return reply_ok(r);
	}
	if (!strcmp(cmd, "stop")) {
		if (!only_keys(req, plain_keys, &reply))
			return reply;
		*ret_stop = true;
		return reply_ok(NULL);
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
			return reply_error(EINVAL, "'mergeable' (true or false) is required", NULL);
		if (nk_zone_set_mergeable(zone, json_object_get_boolean(m), &e) < 0)
			return reply_nk_error(e);
		json_object *r = json_object_new_object();
		json_object_object_add(r, "mergeable",
				       json_object_new_boolean(nk_zone_is_mergeable(zone)));
		return reply_ok(r);
	}
	if (!strcmp(cmd, "migrate")) {
		json_object *nodes_json;
		_cleanup_error_ nk_error *e = NULL;
		_cleanup_bitmap_ nk_bitmap *nodes = NULL;
		struct nk_migration m;
		if (!only_keys(req, migrate_keys, &reply))
			return reply;
		nk_zone *zone = find_zone(vmm, req, &reply);
		if (!zone)
			return reply;
		if (!json_object_object_get_ex(req, "nodes", &nodes_json) ||
		    !json_object_is_type(nodes_json, json_type_string))
			return reply_error(
			    EINVAL, "'nodes' (a node list string such as \"1\") is required", NULL);
		if (nk_parse_list(json_object_get_string(nodes_json), "node", &nodes, &e) < 0 ||
		    nk_zone_migrate(zone, nodes, &m, &e) < 0)
			return reply_nk_error(e);
		json_object *r = json_object_new_object();
		json_object_object_add(r, "pages_moved", json_u64(m.pages_moved));
		json_object_object_add(r, "pages_already", json_u64(m.pages_already));
		json_object_object_add(r, "pages_failed", json_u64(m.pages_failed));
		json_object_object_add(r, "pages_absent", json_u64(m.pages_absent));
		json_object_object_add(r, "seconds", json_object_new_double(m.seconds));
		json_object_object_add(r, "mb_per_s", json_object_new_double(m.mb_per_s));
		return reply_ok(r);
	}
	_cleanup_free_ char *msg = NULL;
	if (asprintf(&msg, "unknown command '%s'", cmd) < 0)
		msg = NULL;
	return reply_error(EOPNOTSUPP, msg ? msg : "unknown command",
			   "commands: info, pause, resume, stop, set-mergeable, migrate");
}

char *vmm_control_handle(struct vmm *vmm, const char *request, size_t len, bool *ret_stop)
{
	json_tokener *tok = json_tokener_new();
	json_object *req = tok ? json_tokener_parse_ex(tok, request, (int)len) : NULL;
	char *reply;

	*ret_stop = false;
	if (!req || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len)
		reply = reply_error(EBADMSG, "the request is not one JSON object", NULL);
	else
		reply = handle_request(vmm, req, ret_stop);
	json_object_put(req);
	if (tok)
		json_tokener_free(tok);
	return reply;
}
