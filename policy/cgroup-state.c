/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a placement changed, kept for `numaksm place --undo`:
 * $NUMAKSM_RUNTIME_DIR/place-PID.json (default /run/numaksm) holds where
 * each thread of the VM was and its affinity; place-parents.json the parent
 * groups numaksm made, removed once empty.  Files are written whole and
 * renamed into place, under an flock() on place.lock held for the whole of
 * a placement or an undo.
 */
#include "cgroup-internal.h"

#include <inttypes.h>
#include <json-c/json.h>

#define STATE_VERSION 1
#define LOCK_FILE     "place.lock"
#define PARENTS_FILE  "place-parents.json"

void cg_state_done(struct cg_state *s)
{
	free(s->boot_id);
	free(s->name);
	free(s->backend);
	free(s->group);
	for (unsigned h = 0; h < CG_MAX_HIER; h++)
		free(s->hier[h]);
	for (size_t i = 0; i < s->n_threads; i++) {
		for (unsigned h = 0; h < CG_MAX_HIER; h++)
			free(s->threads[i].paths[h]);
		nk_bitmap_free(s->threads[i].affinity);
	}
	free(s->threads);
	*s = (struct cg_state){0};
}

/* ---- text -------------------------------------------------------------------- */

int cg_state_format(const struct cg_state *s, char **ret_text)
{
	json_object *o = json_object_new_object(), *hier = json_object_new_array(),
		    *threads = json_object_new_array();
	int r = 0;

	json_object_object_add(o, "numaksm_place", json_object_new_int(STATE_VERSION));
	json_object_object_add(o, "boot_id",
			       s->boot_id ? json_object_new_string(s->boot_id) : NULL);
	json_object_object_add(o, "pid", json_object_new_int(s->pid));
	json_object_object_add(o, "start_time", json_object_new_uint64(s->start_time));
	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "backend", json_object_new_string(s->backend));
	json_object_object_add(o, "group", json_object_new_string(s->group));
	json_object_object_add(o, "pinned", json_object_new_boolean(s->pinned));
	for (unsigned h = 0; h < s->n_hier; h++)
		json_object_array_add(hier, json_object_new_string(s->hier[h]));
	json_object_object_add(o, "hierarchies", hier);
	for (size_t i = 0; i < s->n_threads && r == 0; i++) {
		const struct cg_thread *t = &s->threads[i];
		json_object *jt = json_object_new_object(), *paths = json_object_new_array();
		char *aff = NULL;
		json_object_object_add(jt, "tid", json_object_new_int(t->tid));
		for (unsigned h = 0; h < s->n_hier; h++)
			json_object_array_add(paths, json_object_new_string(t->paths[h]));
		json_object_object_add(jt, "paths", paths);
		if (t->affinity && nk_bitmap_format(t->affinity, &aff) < 0)
			r = -ENOMEM;
		json_object_object_add(jt, "affinity", aff ? json_object_new_string(aff) : NULL);
		free(aff);
		json_object_array_add(threads, jt);
	}
	json_object_object_add(o, "threads", threads);
	if (r == 0) {
		const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
									 JSON_C_TO_STRING_SPACED);
		if (!text || !(*ret_text = strdup(text)))
			r = -ENOMEM;
	}
	json_object_put(o);
	return r;
}

static const char *get_string(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool get_int64(json_object *o, const char *key, int64_t min, int64_t *ret)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	errno = 0;
	int64_t x = json_object_get_int64(v);
	if (errno || x < min)
		return false;
	*ret = x;
	return true;
}

static int parse_threads(json_object *arr, struct cg_state *s)
{
	size_t n = json_object_array_length(arr);
	s->threads = calloc(n ? n : 1, sizeof(*s->threads));
	if (!s->threads)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *jt = json_object_array_get_idx(arr, i), *paths, *aff;
		struct cg_thread *t = &s->threads[s->n_threads++];
		int64_t tid;
		if (!json_object_is_type(jt, json_type_object) || !get_int64(jt, "tid", 1, &tid) ||
		    tid > INT32_MAX || !json_object_object_get_ex(jt, "paths", &paths) ||
		    !json_object_is_type(paths, json_type_array) ||
		    json_object_array_length(paths) != s->n_hier)
			return -EINVAL;
		t->tid = (int)tid;
		for (unsigned h = 0; h < s->n_hier; h++) {
			json_object *p = json_object_array_get_idx(paths, h);
			if (!json_object_is_type(p, json_type_string))
				return -EINVAL;
			if (!(t->paths[h] = strdup(json_object_get_string(p))))
				return -ENOMEM;
		}
		if (json_object_object_get_ex(jt, "affinity", &aff) && aff) {
			if (!json_object_is_type(aff, json_type_string) ||
			    nk_parse_list(json_object_get_string(aff), "CPU list", &t->affinity,
					  NULL) < 0)
				return -EINVAL;
		}
	}
	return 0;
}

int cg_state_parse(const char *text, struct cg_state *ret, nk_error **err)
{
	json_object *o = json_tokener_parse(text), *hier, *threads, *pinned;
	struct cg_state s = {0};
	int64_t v, pid;
	int r = -EINVAL;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !get_int64(o, "numaksm_place", 1, &v) || v != STATE_VERSION ||
	    !get_int64(o, "pid", 1, &pid) || pid > INT32_MAX ||
	    !get_int64(o, "start_time", 0, &v) || !get_string(o, "name") ||
	    !get_string(o, "backend") || !get_string(o, "group") ||
	    !json_object_object_get_ex(o, "hierarchies", &hier) ||
	    !json_object_is_type(hier, json_type_array) || json_object_array_length(hier) < 1 ||
	    json_object_array_length(hier) > CG_MAX_HIER ||
	    !json_object_object_get_ex(o, "threads", &threads) ||
	    !json_object_is_type(threads, json_type_array))
		goto out;
	s.pid = (int)pid;
	s.start_time = (uint64_t)v;
	s.n_hier = (unsigned)json_object_array_length(hier);
	if (json_object_object_get_ex(o, "pinned", &pinned))
		s.pinned = json_object_get_boolean(pinned);
	r = -ENOMEM;
	if (!(s.name = strdup(get_string(o, "name"))) ||
	    !(s.backend = strdup(get_string(o, "backend"))) ||
	    !(s.group = strdup(get_string(o, "group"))) ||
	    (get_string(o, "boot_id") && !(s.boot_id = strdup(get_string(o, "boot_id")))))
		goto out;
	for (unsigned h = 0; h < s.n_hier; h++) {
		json_object *c = json_object_array_get_idx(hier, h);
		if (!json_object_is_type(c, json_type_string)) {
			r = -EINVAL;
			goto out;
		}
		if (!(s.hier[h] = strdup(json_object_get_string(c))))
			goto out;
	}
	r = parse_threads(threads, &s);
	if (r == 0 && !cg_valid_path(s.group, false))
		r = -EINVAL;
out:
	json_object_put(o);
	if (r < 0) {
		cg_state_done(&s);
		return r == -ENOMEM ? nk_error_set(err, ENOMEM, "out of memory")
				    : nk_error_set(err, EINVAL, "malformed placement state");
	}
	*ret = s;
	return 0;
}

/* ---- the directory --------------------------------------------------------------- */

int cg_store_open(const char *dir, struct cg_store *ret, nk_error **err)
{
	struct cg_store s = {.lock_fd = -1};
	int r = nk_rundir_open(dir, NK_RUNDIR_CREATE, &s.dir, err);
	if (r < 0)
		return r;
	s.lock_fd = nk_rundir_lock(s.dir, LOCK_FILE, NK_RUNDIR_LOCK_CREATE, err);
	if (s.lock_fd < 0) {
		r = s.lock_fd;
		cg_store_close(&s);
		return r;
	}
	*ret = s;
	return 0;
}

void cg_store_close(struct cg_store *store)
{
	if (store->lock_fd >= 0)
		close(store->lock_fd); /* releases the lock */
	nk_rundir_free(store->dir);
	*store = (struct cg_store){.lock_fd = -1};
}

static int load_file(struct cg_store *store, const char *name, struct cg_state *ret, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	int r = nk_rundir_read(store->dir, name, &text, err);
	if (r < 0)
		return r;
	r = cg_state_parse(text, ret, err);
	return r < 0 ? nk_error_prefix(err, "%s/%s", nk_rundir_path(store->dir), name) : 0;
}

int cg_store_load(struct cg_store *store, int pid, struct cg_state *ret, nk_error **err)
{
	char name[48];
	snprintf(name, sizeof(name), "place-%d.json", pid);
	return load_file(store, name, ret, err);
}

int cg_store_find(struct cg_store *store, const char *name, struct cg_state *ret, nk_error **err)
{
	_cleanup_strv_ char **names = NULL;
	struct cg_state found = {0};
	int count = 0;
	int n = nk_rundir_list(store->dir, ".json", &names, err);

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		struct cg_state s;
		if (strncmp(names[i], "place-", 6) != 0 || strcmp(names[i], PARENTS_FILE) == 0)
			continue;
		if (load_file(store, names[i], &s, NULL) < 0)
			continue; /* not ours to judge here: undo by PID reports it */
		if (strcmp(s.name, name) == 0) {
			count++;
			cg_state_done(&found);
			found = s;
		} else {
			cg_state_done(&s);
		}
	}
	if (count == 0)
		return -ENOENT;
	if (count > 1) {
		cg_state_done(&found);
		int hinted =
		    nk_error_set(err, ENOTUNIQ, "%d placed VMs are named '%s'", count, name);
		nk_error_hint(err, "give the PID instead");
		return hinted;
	}
	*ret = found;
	return 0;
}

int cg_store_save(struct cg_store *store, const struct cg_state *s, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	char name[48];
	if (cg_state_format(s, &text) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	snprintf(name, sizeof(name), "place-%d.json", s->pid);
	return nk_rundir_write(store->dir, name, text, strlen(text), err);
}

int cg_store_remove(struct cg_store *store, int pid)
{
	char name[48];
	snprintf(name, sizeof(name), "place-%d.json", pid);
	int r = nk_rundir_remove(store->dir, name);
	return r < 0 ? r : 0;
}

int cg_store_parents(struct cg_store *store, char ***ret, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_strv_ char **v = NULL;
	json_object *o, *arr;
	size_t n = 0;

	int r = nk_rundir_read(store->dir, PARENTS_FILE, &text, err);
	if (r == -ENOENT) {
		*ret = calloc(1, sizeof(char *));
		return *ret ? 0 : nk_error_set(err, ENOMEM, "out of memory");
	}
	if (r < 0)
		return r;
	o = json_tokener_parse(text);
	if (!o || !json_object_object_get_ex(o, "parents", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		json_object_put(o);
		return nk_error_set(err, EINVAL, "%s/%s: malformed", nk_rundir_path(store->dir),
				    PARENTS_FILE);
	}
	bool oom = false;
	for (size_t i = 0; !oom && i < json_object_array_length(arr); i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		if (json_object_is_type(e, json_type_string))
			oom = nk_strv_push(&v, &n, json_object_get_string(e)) < 0;
	}
	json_object_put(o);
	if (oom)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (!v && !(v = calloc(1, sizeof(char *))))
		return nk_error_set(err, ENOMEM, "out of memory");
	*ret = TAKE_PTR(v);
	return 0;
}

int cg_store_set_parents(struct cg_store *store, char **parents, nk_error **err)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	for (char **p = parents; p && *p; p++)
		json_object_array_add(arr, json_object_new_string(*p));
	json_object_object_add(o, "numaksm_place_parents", json_object_new_int(STATE_VERSION));
	json_object_object_add(o, "parents", arr);
	char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
	json_object_put(o);
	if (!text)
		return nk_error_set(err, ENOMEM, "out of memory");
	int r = nk_rundir_write(store->dir, PARENTS_FILE, text, strlen(text), err);
	free(text);
	return r;
}
