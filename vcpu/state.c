/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host-wide assignment state: which VM holds which CPUs, so that a
 * second VM never gets a CPU dedicated to a first.  Kept in
 * $NUMAKSM_RUNTIME_DIR/pins.json (default /run/numaksm), written whole to a
 * temporary file and renamed over the old one, under an flock() on
 * pins.lock.  /run is empty after a reboot and a file can be lost or
 * damaged: then the state is rebuilt from the VMMs running now.
 */
#include "vcpu-internal.h"
#include "numaksm/proc.h"
#include "numaksm/rundir.h"

#include <inttypes.h>
#include <json-c/json.h>

#define STATE_FILE    "pins.json"
#define LOCK_FILE     "pins.lock"
#define STATE_VERSION 1

static void entry_clear(struct pin_entry *e)
{
	free(e->name);
	nk_bitmap_free(e->dedicated);
	nk_bitmap_free(e->shared);
	*e = (struct pin_entry){0};
}

_nk_export_ nk_pin_state *nk_pin_state_free(nk_pin_state *state)
{
	if (!state)
		return NULL;
	for (unsigned i = 0; i < state->n_entries; i++)
		entry_clear(&state->entries[i]);
	free(state->entries);
	nk_rundir_free(state->dir);
	free(state->boot_id);
	if (state->lock_fd >= 0)
		close(state->lock_fd); /* releases the flock */
	free(state);
	return NULL;
}

static void state_freep(nk_pin_state **s)
{
	nk_pin_state_free(*s);
}

_nk_export_ int nk_pin_state_new(nk_pin_state **ret)
{
	nk_pin_state *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	*ret = s;
	return 0;
}

static int state_append(nk_pin_state *s, struct pin_entry *e)
{
	struct pin_entry *entries = realloc(s->entries, (s->n_entries + 1) * sizeof(*entries));
	if (!entries)
		return -ENOMEM;
	s->entries = entries;
	entries[s->n_entries++] = *e;
	*e = (struct pin_entry){0};
	return 0;
}

static void state_drop(nk_pin_state *s, unsigned i)
{
	entry_clear(&s->entries[i]);
	memmove(&s->entries[i], &s->entries[i + 1], (s->n_entries - i - 1) * sizeof(*s->entries));
	s->n_entries--;
}

static void state_clear(nk_pin_state *s)
{
	while (s->n_entries)
		state_drop(s, s->n_entries - 1);
}

/* ---- the file format ------------------------------------------------- */

static int json_get_list(json_object *o, const char *key, nk_bitmap **ret)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return -EINVAL;
	return nk_parse_list(json_object_get_string(v), "CPU list", ret, NULL);
}

static int parse_entry(json_object *o, struct pin_entry *e)
{
	json_object *v;

	if (!json_object_is_type(o, json_type_object))
		return -EINVAL;
	if (!json_object_object_get_ex(o, "pid", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 || json_object_get_int64(v) > INT32_MAX)
		return -EINVAL;
	e->pid = (int)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "start_time", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
			return -EINVAL;
		e->start_time = (uint64_t)json_object_get_int64(v);
	}
	if (json_object_object_get_ex(o, "name", &v) && json_object_is_type(v, json_type_string) &&
	    !(e->name = strdup(json_object_get_string(v))))
		return -ENOMEM;
	if (!json_object_object_get_ex(o, "policy", &v) ||
	    !json_object_is_type(v, json_type_string))
		return -EINVAL;
	if (strcmp(json_object_get_string(v), "dedicated") == 0)
		e->policy = NK_PIN_DEDICATED;
	else if (strcmp(json_object_get_string(v), "shared") == 0)
		e->policy = NK_PIN_SHARED;
	else
		return -EINVAL;
	if (json_object_object_get_ex(o, "rebuilt", &v))
		e->rebuilt = json_object_get_boolean(v);
	int r = json_get_list(o, "dedicated", &e->dedicated);
	if (r >= 0)
		r = json_get_list(o, "shared", &e->shared);
	return r;
}

int pin_state_parse(const char *text, nk_pin_state *state, nk_error **err)
{
	json_object *root = json_tokener_parse(text), *v, *entries;
	int r = 0;

	if (!root || !json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "numaksm_pins", &v) ||
	    json_object_get_int(v) != STATE_VERSION ||
	    !json_object_object_get_ex(root, "entries", &entries) ||
	    !json_object_is_type(entries, json_type_array)) {
		json_object_put(root);
		return nk_error_set(err, EINVAL, "not a numaksm pin state (version %d)",
				    STATE_VERSION);
	}
	if (json_object_object_get_ex(root, "boot_id", &v) &&
	    json_object_is_type(v, json_type_string)) {
		free(state->boot_id);
		state->boot_id = strdup(json_object_get_string(v));
	}
	for (size_t i = 0; i < json_object_array_length(entries) && r >= 0; i++) {
		struct pin_entry e = {0};
		r = parse_entry(json_object_array_get_idx(entries, i), &e);
		if (r >= 0)
			r = state_append(state, &e);
		entry_clear(&e);
		if (r == -EINVAL)
			nk_error_set(err, EINVAL, "entry %zu is malformed", i);
	}
	json_object_put(root);
	if (r < 0) {
		state_clear(state);
		return r == -ENOMEM ? nk_error_set(err, ENOMEM, "out of memory") : r;
	}
	return 0;
}

static json_object *json_list(const nk_bitmap *b)
{
	_cleanup_free_ char *text = NULL;
	if (nk_bitmap_format(b, &text) < 0)
		return NULL;
	return json_object_new_string(text);
}

int pin_state_format(const nk_pin_state *state, char **ret_text)
{
	json_object *root = json_object_new_object(), *entries = json_object_new_array();
	int r = -ENOMEM;

	if (!root || !entries) {
		json_object_put(root);
		json_object_put(entries);
		return -ENOMEM;
	}
	json_object_object_add(root, "numaksm_pins", json_object_new_int(STATE_VERSION));
	if (state->boot_id)
		json_object_object_add(root, "boot_id", json_object_new_string(state->boot_id));
	json_object_object_add(root, "entries", entries);
	for (unsigned i = 0; i < state->n_entries; i++) {
		const struct pin_entry *e = &state->entries[i];
		json_object *o = json_object_new_object();
		json_object *ded = json_list(e->dedicated), *sh = json_list(e->shared);
		if (!o || !ded || !sh) {
			json_object_put(o);
			json_object_put(ded);
			json_object_put(sh);
			goto out;
		}
		json_object_object_add(o, "pid", json_object_new_int(e->pid));
		json_object_object_add(o, "start_time",
				       json_object_new_int64((int64_t)e->start_time));
		json_object_object_add(o, "name", e->name ? json_object_new_string(e->name) : NULL);
		json_object_object_add(o, "policy",
				       json_object_new_string(nk_pin_policy_name(e->policy)));
		json_object_object_add(o, "dedicated", ded);
		json_object_object_add(o, "shared", sh);
		json_object_object_add(o, "rebuilt", json_object_new_boolean(e->rebuilt));
		json_object_array_add(entries, o);
	}
	const char *text =
	    json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
	*ret_text = text ? strdup(text) : NULL;
	r = *ret_text ? 0 : -ENOMEM;
out:
	json_object_put(root);
	return r;
}

/* ---- keeping it true to the live host ---------------------------------- */

/* Drop entries whose process ended (or whose PID now names another one). */
static void drop_gone(nk_host *host, nk_pin_state *s)
{
	for (unsigned i = s->n_entries; i-- > 0;) {
		struct pin_entry *e = &s->entries[i];
		struct nk_proc_stat st;
		if (e->pid <= 0)
			continue;
		int r = nk_proc_stat_read(host, e->pid, 0, &st, NULL);
		uint64_t start = r >= 0 ? st.start_time_ticks : 0;
		if (r >= 0)
			nk_proc_stat_done(&st);
		if (r == -ESRCH || (r >= 0 && e->start_time && start != e->start_time)) {
			nk_info("pin state: process %d (%s) is gone: its CPUs are free again",
				e->pid, e->name ? e->name : "?");
			state_drop(s, i);
		}
	}
}

static bool state_has_pid(const nk_pin_state *s, int pid)
{
	for (unsigned i = 0; i < s->n_entries; i++)
		if (s->entries[i].pid == pid)
			return true;
	return false;
}

/* A VM found pinned: vCPU threads on single CPUs are dedicated ones,
 * narrower sets are shared; threads on every online CPU are not pinned. */
static int entry_from_vm(const struct nk_vm_ref *vm, const struct nk_vm_threads *threads,
			 const nk_bitmap *online, struct pin_entry *e)
{
	bool all_single = true, any_pinned = false;

	e->dedicated = nk_bitmap_new();
	e->shared = nk_bitmap_new();
	if (!e->dedicated || !e->shared)
		return -ENOMEM;
	for (unsigned i = 0; i < threads->vcpu_count; i++) {
		const nk_bitmap *aff = threads->threads[i].affinity;
		if (nk_bitmap_is_subset(online, aff)) {
			all_single = false;
			continue;
		}
		any_pinned = true;
		all_single &= nk_bitmap_weight(aff) == 1;
		nk_bitmap_foreach (cpu, aff) {
			if (nk_bitmap_set(e->shared, (unsigned)cpu) < 0)
				return -ENOMEM;
		}
	}
	if (!any_pinned)
		return 0;
	if (all_single) {
		nk_bitmap *t = e->dedicated;
		e->dedicated = e->shared;
		e->shared = t;
	}
	e->policy = all_single ? NK_PIN_DEDICATED : NK_PIN_SHARED;
	e->pid = vm->pid;
	e->start_time = vm->start_time;
	e->rebuilt = true;
	return nk_strdup(vm->name, &e->name) < 0 ? -ENOMEM : 1;
}

static int rebuild(nk_host *host, nk_pin_state *s)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_bitmap_ nk_bitmap *online = NULL;
	struct nk_vm_ref *vms = NULL;

	if (nk_host_read(host, "/sys/devices/system/cpu/online", &text, NULL) < 0 ||
	    nk_parse_list(text, "CPU list", &online, NULL) < 0) {
		nk_warn("pin state: online CPUs unknown: not rebuilt from the live processes");
		return 0;
	}
	int n = nk_vm_find_all(host, &vms, NULL);
	int r = 0;
	for (int i = 0; i < n && r >= 0; i++) {
		struct nk_vm_threads threads = {0};
		struct pin_entry e = {0};

		if (state_has_pid(s, vms[i].pid) ||
		    nk_vm_threads_read(host, &vms[i], &threads, NULL) < 0)
			continue;
		r = entry_from_vm(&vms[i], &threads, online, &e);
		nk_vm_threads_done(&threads);
		if (r > 0) {
			nk_info("pin state: %s %s (PID %d) found pinned: entered as %s",
				nk_vm_kind_name(vms[i].kind), e.name, e.pid,
				nk_pin_policy_name(e.policy));
			r = state_append(s, &e);
		}
		entry_clear(&e);
	}
	nk_vm_refs_free(vms, n > 0 ? (size_t)n : 0);
	return r < 0 ? r : 0;
}

/* ---- the file and its lock --------------------------------------------- */

/* The runtime directory and the lock: exclusive for writing (creating the
 * directory), shared for reading.  Reading where nothing was ever saved
 * (no directory or no lock file) works without a lock and creates nothing. */
static int lock_state(nk_pin_state *s, const char *dir, nk_error **err)
{
	_cleanup_error_ nk_error *e = NULL;
	int r = nk_rundir_open(dir, s->writable ? NK_RUNDIR_CREATE : 0, &s->dir, &e);
	if (r == -ENOENT && !s->writable)
		return 0;
	if (r < 0)
		return nk_error_forward(err, &e, r);
	r = nk_rundir_lock(s->dir, LOCK_FILE,
			   s->writable ? NK_RUNDIR_LOCK_CREATE : NK_RUNDIR_LOCK_SHARED, err);
	if (r == -ENOENT && !s->writable)
		return 0; /* nothing saved yet */
	if (r < 0)
		return r;
	s->lock_fd = r;
	return 0;
}

_nk_export_ int nk_pin_state_open(nk_host *host, const char *dir, unsigned flags,
				  nk_pin_state **ret, nk_error **err)
{
	_cleanup_(state_freep) nk_pin_state *s = NULL;
	_cleanup_free_ char *text = NULL, *boot_id = NULL;
	_cleanup_error_ nk_error *parse_err = NULL;
	bool stale = false;
	int r;

	if (nk_pin_state_new(&s) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	s->writable = flags & NK_PIN_STATE_WRITE;
	r = lock_state(s, dir, err);
	if (r < 0)
		return r;

	r = s->dir ? nk_rundir_read(s->dir, STATE_FILE, &text, err) : -ENOENT;
	if (r == -ENOENT) {
		stale = true;
	} else if (r < 0) {
		return r;
	} else if (pin_state_parse(text, s, &parse_err) < 0) {
		nk_warn("%s/%s: %s: rebuilding it from the live processes", nk_rundir_path(s->dir),
			STATE_FILE, nk_error_message(parse_err));
		stale = true;
	}

	if (nk_host_boot_id(host, &boot_id) >= 0) {
		if (!stale && (!s->boot_id || strcmp(s->boot_id, boot_id) != 0)) {
			nk_info("%s/%s is from an earlier boot: rebuilding it",
				nk_rundir_path(s->dir), STATE_FILE);
			state_clear(s);
			stale = true;
		}
		free(s->boot_id);
		s->boot_id = TAKE_PTR(boot_id);
	}
	drop_gone(host, s);
	if (stale) {
		r = rebuild(host, s);
		if (r < 0)
			return nk_error_set(err, -r, "cannot rebuild the pin state: %s",
					    strerror(-r));
	}
	*ret = TAKE_PTR(s);
	return 0;
}

_nk_export_ int nk_pin_state_save(nk_pin_state *state, nk_error **err)
{
	_cleanup_free_ char *text = NULL;

	if (!state->writable || !state->dir)
		return nk_error_set(err, EBADF, "the pin state was not opened for writing");
	if (pin_state_format(state, &text) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	return nk_rundir_write(state->dir, STATE_FILE, text, strlen(text), err);
}

_nk_export_ int nk_pin_state_add(nk_pin_state *state, nk_host *host, const nk_pin_plan *plan,
				 int pid, const char *name, nk_error **err)
{
	struct pin_entry e = {.pid = pid, .policy = plan->policy};

	if (pid > 0)
		nk_pin_state_remove(state, pid);
	struct nk_proc_stat st;
	if (host && pid > 0 && nk_proc_stat_read(host, pid, 0, &st, NULL) == 0) {
		e.start_time = st.start_time_ticks;
		nk_proc_stat_done(&st);
	}
	e.dedicated = nk_bitmap_dup(plan->dedicated);
	e.shared = nk_bitmap_dup(plan->shared);
	if (!e.dedicated || !e.shared || (name && nk_strdup(name, &e.name) < 0) ||
	    state_append(state, &e) < 0) {
		entry_clear(&e);
		return nk_error_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

_nk_export_ int nk_pin_state_record(nk_pin_state *state, nk_host *host, const struct nk_vm_ref *vm,
				    const struct nk_vm_threads *threads, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_bitmap_ nk_bitmap *online = NULL;
	struct pin_entry e = {0};

	if (nk_host_read(host, "/sys/devices/system/cpu/online", &text, err) < 0)
		return nk_error_prefix(err, "cannot tell the online CPUs");
	if (nk_parse_list(text, "CPU list", &online, err) < 0)
		return nk_error_prefix(err, "/sys/devices/system/cpu/online");
	nk_pin_state_remove(state, vm->pid);
	int r = entry_from_vm(vm, threads, online, &e);
	if (r > 0) {
		/* Entered as it runs, not found by a rebuild. */
		e.rebuilt = false;
		r = state_append(state, &e);
		if (r == 0)
			return 1;
	}
	entry_clear(&e);
	return r < 0 ? nk_error_set(err, ENOMEM, "out of memory") : 0;
}

_nk_export_ int nk_pin_state_remove(nk_pin_state *state, int pid)
{
	for (unsigned i = 0; i < state->n_entries; i++)
		if (state->entries[i].pid == pid) {
			state_drop(state, i);
			return 1;
		}
	return 0;
}

_nk_export_ unsigned nk_pin_state_count(const nk_pin_state *state)
{
	return state->n_entries;
}

_nk_export_ int nk_pin_state_entry(const nk_pin_state *state, unsigned index,
				   struct nk_pin_entry *ret)
{
	if (index >= state->n_entries)
		return -ERANGE;
	const struct pin_entry *e = &state->entries[index];
	*ret = (struct nk_pin_entry){
	    .pid = e->pid,
	    .name = e->name,
	    .policy = e->policy,
	    .dedicated = e->dedicated,
	    .shared = e->shared,
	    .rebuilt = e->rebuilt,
	};
	return 0;
}
