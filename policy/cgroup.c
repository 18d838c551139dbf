/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Placing a VM in a cgroup of its own, all or nothing.  Everything is
 * checked before the first change: the group name, libvirt's scopes, the
 * nodes and CPUs against what the parent allows, the limits against what
 * the VM uses, the vCPU plan.  Then each change is logged as a step, and a
 * failure at any point undoes the logged steps in reverse order, so the VM
 * is left in the cgroups, with the affinities, it had.
 */
#include "cgroup-internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <time.h>

#include "numaksm/hostinfo.h"
#include "numaksm/vcpu.h"

/* ---- names ------------------------------------------------------------------- */

bool cg_valid_path(const char *path, bool single)
{
	if (!path || !*path || *path == '/' || path[strlen(path) - 1] == '/')
		return false;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)p[i]) && !strchr("._-", p[i]))
				return false;
		p += n;
		if (*p == '/') {
			if (single)
				return false;
			p++;
		}
	}
	return true;
}

int cg_group_name(const char *vm_name, char **ret)
{
	char *name = strdup(vm_name && *vm_name ? vm_name : "vm");
	if (!name)
		return -ENOMEM;
	for (char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			*p = '_';
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		name[0] = '_';
	*ret = name;
	return 0;
}

bool cg_is_libvirt(const char *path)
{
	return path && (strstr(path, "machine.slice") || strncmp(path, "/machine/", 9) == 0 ||
			strcmp(path, "/machine") == 0 || strncmp(path, "machine/", 8) == 0);
}

static unsigned hier_of(const struct cg_ctx *c, const char *controller)
{
	for (unsigned h = 0; h < c->n_hier; h++)
		if (strcmp(c->hier[h].controller, controller) == 0)
			return h;
	return 0; /* v2, or co-mounted v1 controllers: the one hierarchy */
}

/* "cpuset:/a" (v1) or "/a" (v2), as the report shows where a VM is. */
static char *where(const struct cg_ctx *c, unsigned h, const char *rel)
{
	char *s = NULL;
	if (asprintf(&s, "%s%s/%s", c->hier[h].controller, *c->hier[h].controller ? ":" : "", rel) <
	    0)
		return NULL;
	return s;
}

/* ---- the steps a placement takes, undone in reverse ----------------------------- */

enum step_kind {
	STEP_ENABLE, /* a controller enabled in rel's subtree_control */
	STEP_MKDIR,  /* rel made */
	STEP_STATE,  /* place-PID.json written */
	STEP_ATTACH, /* the VM's threads moved into the group */
	STEP_PIN,    /* the VM entered in pins.json */
};

struct step {
	enum step_kind kind;
	unsigned h;
	char *rel;
	const char *controller;
};

struct run {
	struct cg_ctx *c;
	struct step *steps;
	size_t n;
	struct cg_state state;
	struct cg_pin *pin;
	struct cg_store *store;
	char **parents_made; /* "H:rel" of parents made by this placement */
	size_t n_parents_made;
};

static int log_step(struct run *run, enum step_kind kind, unsigned h, const char *rel,
		    const char *controller)
{
	struct step *s = realloc(run->steps, (run->n + 1) * sizeof(*s));
	if (!s)
		return -ENOMEM;
	run->steps = s;
	s[run->n] = (struct step){.kind = kind, .h = h, .controller = controller};
	if (rel && !(s[run->n].rel = strdup(rel)))
		return -ENOMEM;
	run->n++;
	return 0;
}

static void run_done(struct run *run)
{
	for (size_t i = 0; i < run->n; i++)
		free(run->steps[i].rel);
	free(run->steps);
	cg_state_done(&run->state);
	nk_strv_free(run->parents_made);
}

/* Where a thread goes back to: its own record, else where the main thread was. */
static const struct cg_thread *recorded(const struct cg_state *s, int tid)
{
	const struct cg_thread *main_thread = NULL;
	for (size_t i = 0; i < s->n_threads; i++) {
		if (s->threads[i].tid == tid)
			return &s->threads[i];
		if (s->threads[i].tid == s->pid)
			main_thread = &s->threads[i];
	}
	return main_thread ? main_thread : s->n_threads ? &s->threads[0] : NULL;
}

/* Move every thread of the VM back where the state says it was, and give
 * the recorded threads their affinities back (moving a thread into a cpuset
 * resets its affinity to the cpuset's CPUs).  Returns how many moves failed. */
static unsigned move_back(struct cg_ctx *c, const struct cg_state *s, char **notes_msg)
{
	_cleanup_free_ int *tids = NULL;
	size_t n = 0;
	unsigned failed = 0;

	if (c->be->tasks(c, s->pid, &tids, &n, NULL) < 0)
		return 0; /* gone: nothing to move */
	for (size_t i = 0; i < n; i++) {
		const struct cg_thread *t = recorded(s, tids[i]);
		if (!t)
			continue;
		if (!c->be->per_thread && tids[i] != s->pid)
			continue; /* the process moves as a whole */
		for (unsigned h = 0; h < c->n_hier; h++) {
			const char *to = t->paths[h];
			if (c->be->exists(c, h, to) != 1) {
				/* The cgroup it came from is gone: the root is next best. */
				if (notes_msg && !*notes_msg &&
				    asprintf(notes_msg, "%s/%s no longer exists: moved to %s",
					     c->hier[h].mount, to, c->hier[h].mount) < 0)
					*notes_msg = NULL;
				to = "";
			}
			int r = c->be->attach(c, h, to, tids[i], NULL);
			if (r < 0 && r != -ESRCH)
				failed++;
		}
	}
	for (size_t i = 0; i < s->n_threads; i++)
		if (s->threads[i].affinity)
			c->be->set_affinity(c, s->threads[i].tid, s->threads[i].affinity, NULL);
	return failed;
}

static int pin_forget(nk_pin_state *state, int pid, nk_error **err)
{
	if (nk_pin_state_remove(state, pid) <= 0)
		return 0;
	return nk_pin_state_save(state, err);
}

/* Undo the logged steps, last first.  Returns how many failed. */
static unsigned rollback(struct run *run, char **ret_failures)
{
	struct cg_ctx *c = run->c;
	unsigned failed = 0;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	for (size_t i = run->n; i-- > 0;) {
		const struct step *s = &run->steps[i];
		nk_error *e = NULL;
		int r = 0;
		switch (s->kind) {
		case STEP_PIN:
			r = pin_forget(run->pin->state, run->state.pid, &e);
			break;
		case STEP_ATTACH:
			if (move_back(c, &run->state, NULL))
				r = nk_error_set(&e, EIO, "some threads could not be moved back");
			break;
		case STEP_STATE:
			r = cg_store_remove(run->store, run->state.pid);
			break;
		case STEP_MKDIR:
			r = c->be->rmdir(c, s->h, s->rel, &e);
			break;
		case STEP_ENABLE: {
			char value[32];
			snprintf(value, sizeof(value), "-%s", s->controller);
			r = c->be->write(c, s->h, s->rel, "cgroup.subtree_control", value, &e);
			break;
		}
		}
		if (r < 0) {
			failed++;
			if (f)
				fprintf(f, "%s%s", failed > 1 ? "; " : "",
					e ? nk_error_message(e) : strerror(-r));
		}
		nk_error_free(e);
	}
	if (f && fclose(f) == 0 && failed)
		*ret_failures = TAKE_PTR(text);
	return failed;
}

/* ---- checks before any change ------------------------------------------------------ */

static int read_list(struct cg_ctx *c, unsigned h, const char *rel, const char *file,
		     nk_bitmap **ret, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	int r = c->be->read(c, h, rel, file, &text, err);
	if (r < 0)
		return r;
	r = nk_parse_list(nk_strip_newline(text), "list", ret, NULL);
	if (r < 0)
		return nk_error_set(err, EINVAL, "%s/%s/%s: unexpected '%s'", c->hier[h].mount, rel,
				    file, text);
	return 0;
}

/* The nearest directory of `rel` and its parents that exists ("" is the root). */
static int nearest_existing(struct cg_ctx *c, unsigned h, const char *rel, char **ret)
{
	char *p = strdup(rel);
	if (!p)
		return -ENOMEM;
	while (*p && c->be->exists(c, h, p) != 1) {
		char *slash = strrchr(p, '/');
		if (slash)
			*slash = '\0';
		else
			*p = '\0';
	}
	*ret = p;
	return 0;
}

static int check_subset(const nk_bitmap *want, const nk_bitmap *allowed, const char *what,
			const char *where_from, nk_error **err)
{
	if (nk_bitmap_is_subset(want, allowed))
		return 0;
	_cleanup_free_ char *w = NULL, *a = NULL;
	nk_bitmap_format(want, &w);
	nk_bitmap_format(allowed, &a);
	int hinted = nk_error_set(err, EINVAL, "%s %s are not all allowed: %s offers %s", what,
				  w ? w : "?", where_from, a && *a ? a : "none");
	nk_error_hint(err, "choose %s within %s", what, a && *a ? a : "what the host has");
	return hinted;
}

static int check_request(struct cg_ctx *c, const struct cg_vm *vm,
			 const struct nk_cgroup_request *req, const char *parent, const char *group,
			 const nk_bitmap *cpus, const struct cg_limits *limits, nk_error **err)
{
	unsigned hc = hier_of(c, "cpuset");
	_cleanup_free_ char *base = NULL, *where_from = NULL;
	_cleanup_bitmap_ nk_bitmap *eff_cpus = NULL, *eff_mems = NULL;
	int r;

	if (!req->nodes || nk_bitmap_weight(req->nodes) == 0)
		return nk_error_set(err, EINVAL, "no nodes given");
	if ((r = check_subset(req->nodes, limits->memory_nodes, "nodes",
			      "the host (nodes with memory)", err)) < 0)
		return r;
	if (!cpus || nk_bitmap_weight(cpus) == 0)
		return nk_error_set(err, EINVAL, "no CPUs for the group");
	if (!req->allow_libvirt) {
		for (size_t i = 0; i < vm->n_cgroups; i++)
			if (cg_is_libvirt(vm->cgroups[i].path)) {
				int hinted = nk_error_set(
				    err, EBUSY,
				    "VM %s (PID %d) is in libvirt's cgroup %s: libvirt "
				    "manages it",
				    vm->name, vm->pid, vm->cgroups[i].path);
				nk_error_hint(err, "use 'virsh numatune' and 'virsh "
						   "vcpupin', or pass --libvirt to move "
						   "it anyway");
				return hinted;
			}
		if (cg_is_libvirt(parent)) {
			int hinted = nk_error_set(err, EBUSY, "parent %s is libvirt's", parent);
			nk_error_hint(err, "pass --libvirt to place VMs there anyway");
			return hinted;
		}
	}
	for (unsigned h = 0; h < c->n_hier; h++) {
		_cleanup_free_ char *rel = NULL;
		if (asprintf(&rel, "%s%s%s", parent, *parent ? "/" : "", group) < 0)
			return nk_error_set(err, ENOMEM, "out of memory");
		r = c->be->exists(c, h, rel);
		if (r != 0) {
			int hinted =
			    nk_error_set(err, r > 0 ? EEXIST : -r, "cgroup %s/%s exists already",
					 c->hier[h].mount, rel);
			nk_error_hint(err, "'numaksm place --undo' removes a group numaksm "
					   "made; or choose another --group");
			return hinted;
		}
	}
	/* What the parent allows: the effective sets of its nearest existing
	 * directory (a parent still to be made gets the same). */
	if ((r = nearest_existing(c, hc, parent, &base)) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	if ((r = read_list(c, hc, base, c->be->cpus_file, &eff_cpus, err)) < 0 ||
	    (r = read_list(c, hc, base, c->be->mems_file, &eff_mems, err)) < 0)
		return r;
	if (asprintf(&where_from, "cgroup %s/%s", c->hier[hc].mount, base) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	if ((r = check_subset(req->nodes, eff_mems, "nodes", where_from, err)) < 0 ||
	    (r = check_subset(cpus, limits->online_cpus, "CPUs", "the host (online CPUs)", err)) <
		0 ||
	    (r = check_subset(cpus, eff_cpus, "CPUs", where_from, err)) < 0)
		return r;
	const struct {
		const char *name;
		uint64_t bytes;
	} lim[] = {{"--memory-max", req->memory_max_bytes},
		   {"--memory-high", req->memory_high_bytes}};
	for (size_t i = 0; i < ARRAY_SIZE(lim); i++)
		if (lim[i].bytes && lim[i].bytes < vm->rss_bytes) {
			int hinted =
			    nk_error_set(err, EINVAL,
					 "%s %" PRIu64 " is below what VM %s uses now (%" PRIu64
					 " bytes resident)",
					 lim[i].name, lim[i].bytes, vm->name, vm->rss_bytes);
			nk_error_hint(err, "a limit below the VM's use would make the "
					   "kernel reclaim or kill it; give at least its "
					   "resident size");
			return hinted;
		}
	if (req->memory_high_bytes && req->memory_max_bytes &&
	    req->memory_high_bytes > req->memory_max_bytes)
		return nk_error_set(err, EINVAL, "--memory-high is above --memory-max");
	return 0;
}

/* ---- the changes ----------------------------------------------------------------- */

/* v2: controllers must be enabled in a parent's subtree_control before its
 * children have their files (and libcgroup 2.0.2 skips the root). */
static int enable_controllers(struct run *run, unsigned h, const char *rel, nk_error **err)
{
	static const char *const controllers[] = {"cpuset", "memory"};
	struct cg_ctx *c = run->c;
	_cleanup_free_ char *text = NULL;

	if (!c->be->subtree_control)
		return 0;
	int r = c->be->read(c, h, rel, "cgroup.subtree_control", &text, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(controllers); i++) {
		char value[32];
		bool on = false;
		size_t n = strlen(controllers[i]);
		for (const char *p = text; (p = strstr(p, controllers[i])); p += n)
			on |=
			    (p == text || p[-1] == ' ') && (!p[n] || isspace((unsigned char)p[n]));
		if (on)
			continue;
		snprintf(value, sizeof(value), "+%s", controllers[i]);
		r = c->be->write(c, h, rel, "cgroup.subtree_control", value, err);
		if (r < 0)
			return nk_error_prefix(err, "enabling %s for the children of %s/%s",
					       controllers[i], c->hier[h].mount, rel);
		if (log_step(run, STEP_ENABLE, h, rel, controllers[i]) < 0)
			return nk_error_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

/* Make one missing parent `rel`, its own parent existing: a v1 cpuset gets
 * its parent's CPUs and nodes (it starts with none), a v2 parent its
 * controllers. */
static int make_parent(struct run *run, unsigned h, const char *rel, nk_error **err)
{
	struct cg_ctx *c = run->c;
	_cleanup_free_ char *up = strdup(rel), *cpus = NULL, *mems = NULL, *tag = NULL;
	struct cg_value v[2];
	size_t n = 0;
	int r;

	if (!up)
		return nk_error_set(err, ENOMEM, "out of memory");
	char *slash = strrchr(up, '/');
	*(slash ? slash : up) = '\0';
	if ((r = enable_controllers(run, h, up, err)) < 0)
		return r;
	if (h == hier_of(c, "cpuset") && c->be->copy_parent_cpuset) {
		if ((r = c->be->read(c, h, up, "cpuset.cpus", &cpus, err)) < 0 ||
		    (r = c->be->read(c, h, up, "cpuset.mems", &mems, err)) < 0)
			return r;
		v[n++] = (struct cg_value){"cpuset.cpus", nk_strip_newline(cpus)};
		v[n++] = (struct cg_value){"cpuset.mems", nk_strip_newline(mems)};
	}
	if ((r = c->be->mkdir(c, h, rel, v, n, err)) < 0)
		return r;
	if (log_step(run, STEP_MKDIR, h, rel, NULL) < 0 ||
	    asprintf(&tag, "%s:%s", c->hier[h].controller, rel) < 0 ||
	    nk_strv_push(&run->parents_made, &run->n_parents_made, tag) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	return 0;
}

/* Make the missing parents, one level at a time from the root down. */
static int make_parents(struct run *run, const char *parent, nk_error **err)
{
	struct cg_ctx *c = run->c;

	for (unsigned h = 0; h < c->n_hier; h++) {
		for (size_t len = 0; parent[len];) {
			len += strcspn(parent + len + (len > 0), "/") + (len > 0);
			_cleanup_free_ char *upto = strndup(parent, len);
			if (!upto)
				return nk_error_set(err, ENOMEM, "out of memory");
			int r = c->be->exists(c, h, upto) == 1 ? 0 : make_parent(run, h, upto, err);
			if (r < 0)
				return r;
		}
		int r = enable_controllers(run, h, parent, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int make_group(struct run *run, const char *rel, const struct nk_cgroup_request *req,
		      const nk_bitmap *cpus, nk_error **err)
{
	struct cg_ctx *c = run->c;
	_cleanup_free_ char *cpu_list = NULL, *mem_list = NULL;
	char max[32], high[32];
	unsigned hc = hier_of(c, "cpuset"), hm = hier_of(c, "memory");

	if (nk_bitmap_format(cpus, &cpu_list) < 0 || nk_bitmap_format(req->nodes, &mem_list) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	snprintf(max, sizeof(max), "%" PRIu64, req->memory_max_bytes);
	snprintf(high, sizeof(high), "%" PRIu64, req->memory_high_bytes);
	for (unsigned h = 0; h < c->n_hier; h++) {
		struct cg_value v[5];
		size_t n = 0;
		if (h == hc) {
			v[n++] = (struct cg_value){"cpuset.cpus", cpu_list};
			v[n++] = (struct cg_value){"cpuset.mems", mem_list};
			/* v1 moves pages on attach only with memory_migrate set. */
			if (c->be->migrate_file)
				v[n++] = (struct cg_value){c->be->migrate_file,
							   req->migrate ? "1" : "0"};
		}
		if (h == hm && req->memory_max_bytes)
			v[n++] = (struct cg_value){c->be->max_file, max};
		if (h == hm && req->memory_high_bytes)
			v[n++] = (struct cg_value){c->be->high_file, high};
		int r = c->be->mkdir(c, h, rel, v, n, err);
		if (r < 0)
			return r;
		if (log_step(run, STEP_MKDIR, h, rel, NULL) < 0)
			return nk_error_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

/* Record where each thread is and its affinity, before anything moves. */
static int record_threads(struct run *run, nk_error **err)
{
	struct cg_ctx *c = run->c;
	struct cg_state *s = &run->state;
	_cleanup_free_ int *tids = NULL;
	size_t n = 0;
	int r = c->be->tasks(c, s->pid, &tids, &n, err);

	if (r < 0)
		return r;
	s->threads = calloc(n ? n : 1, sizeof(*s->threads));
	if (!s->threads)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct cg_thread *t = &s->threads[s->n_threads];
		r = c->be->task_paths(c, s->pid, tids[i], t->paths, err);
		if (r >= 0)
			r = c->be->get_affinity(c, tids[i], &t->affinity, err);
		if (r == -ESRCH) {
			for (unsigned h = 0; h < CG_MAX_HIER; h++)
				free(TAKE_PTR(t->paths[h]));
			continue; /* ended meanwhile */
		}
		if (r < 0)
			return r;
		t->tid = tids[i];
		s->n_threads++;
	}
	if (!recorded(s, s->pid))
		return -ESRCH; /* the main thread is gone: the VM is */
	return 0;
}

/* Move the VM in: the process on v2; on v1 each thread, again until a
 * round finds none left behind (a thread started meanwhile stays where
 * its creator was). */
static int attach(struct run *run, const char *rel, nk_error **err)
{
	struct cg_ctx *c = run->c;
	int pid = run->state.pid;

	if (log_step(run, STEP_ATTACH, 0, NULL, NULL) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (!c->be->per_thread) {
		for (unsigned h = 0; h < c->n_hier; h++) {
			int r = c->be->attach(c, h, rel, pid, err);
			if (r < 0)
				return r == -ESRCH ? nk_error_set(err, ESRCH, "VM %d is gone", pid)
						   : r;
		}
		return 0;
	}
	for (unsigned round = 0; round < 10; round++) {
		_cleanup_free_ int *tids = NULL;
		size_t n = 0, moved = 0;
		int r = c->be->tasks(c, pid, &tids, &n, err);
		if (r < 0)
			return r == -ESRCH ? nk_error_set(err, ESRCH, "VM %d is gone", pid) : r;
		for (size_t i = 0; i < n; i++) {
			char *paths[CG_MAX_HIER] = {0};
			r = c->be->task_paths(c, pid, tids[i], paths, err);
			for (unsigned h = 0; r >= 0 && h < c->n_hier; h++) {
				if (strcmp(paths[h], rel) == 0)
					continue;
				r = c->be->attach(c, h, rel, tids[i], err);
				moved++;
			}
			for (unsigned h = 0; h < CG_MAX_HIER; h++)
				free(paths[h]);
			if (r < 0 && r != -ESRCH)
				return r;
		}
		if (!moved)
			return 0;
	}
	return nk_error_set(err, EAGAIN, "VM %d keeps starting threads outside %s", pid, rel);
}

static int pin_vcpus(struct run *run, const char *name, nk_error **err)
{
	struct cg_pin *pin = run->pin;
	int r = nk_pin_apply(pin->host, pin->vm, &pin->threads, pin->topo, pin->plan, err);
	if (r < 0)
		return nk_error_prefix(err, "pinning the vCPU threads");
	r = nk_pin_state_add(pin->state, pin->host, pin->plan, run->state.pid, name, err);
	if (r >= 0)
		r = nk_pin_state_save(pin->state, err);
	if (r < 0)
		return r;
	if (log_step(run, STEP_PIN, 0, NULL, NULL) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	run->state.pinned = true;
	return cg_store_save(run->store, &run->state, err);
}

static int parse_limit(const char *text, uint64_t *ret)
{
	_cleanup_free_ char *t = strdup(text);
	if (!t)
		return -ENOMEM;
	nk_strip_newline(t);
	if (strcmp(t, "max") == 0) {
		*ret = UINT64_MAX;
		return 0;
	}
	int r = nk_parse_u64(t, ret, NULL);
	/* v1 says "unlimited" with PAGE_COUNTER_MAX pages in bytes. */
	if (r == 0 && *ret >= (1ull << 62))
		*ret = UINT64_MAX;
	return r;
}

/* Read back what the kernel made of it all. */
static int verify(struct run *run, const char *rel, const struct nk_cgroup_request *req,
		  const nk_bitmap *cpus, struct nk_cgroup_report *report, nk_error **err)
{
	struct cg_ctx *c = run->c;
	unsigned hc = hier_of(c, "cpuset"), hm = hier_of(c, "memory");
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	int r;

	if ((r = read_list(c, hc, rel, c->be->cpus_file, &report->cpus, err)) < 0 ||
	    (r = read_list(c, hc, rel, c->be->mems_file, &report->nodes, err)) < 0)
		return r;
	if (!nk_bitmap_equal(report->cpus, cpus) || !nk_bitmap_equal(report->nodes, req->nodes))
		return nk_error_set(err, EIO,
				    "the kernel gave the group other CPUs or nodes "
				    "than asked");
	const struct {
		const char *file;
		uint64_t want, *got;
	} lim[] = {{c->be->max_file, req->memory_max_bytes, &report->memory_max_bytes},
		   {c->be->high_file, req->memory_high_bytes, &report->memory_high_bytes}};
	for (size_t i = 0; i < ARRAY_SIZE(lim); i++) {
		_cleanup_free_ char *text = NULL;
		r = c->be->read(c, hm, rel, lim[i].file, &text, err);
		if (r < 0)
			return r;
		if (parse_limit(text, lim[i].got) < 0)
			return nk_error_set(err, EINVAL, "%s: unexpected '%s'", lim[i].file, text);
		/* The kernel rounds limits down to whole pages. */
		uint64_t want = lim[i].want ? lim[i].want / page * page : UINT64_MAX;
		if (lim[i].want && *lim[i].got != want && *lim[i].got != lim[i].want)
			return nk_error_set(err, EIO, "%s reads %" PRIu64 ", not %" PRIu64,
					    lim[i].file, *lim[i].got, lim[i].want);
	}
	/* Every thread is in the group, on its CPUs and nodes. */
	_cleanup_free_ int *tids = NULL;
	size_t n = 0;
	r = c->be->tasks(c, run->state.pid, &tids, &n, err);
	if (r < 0)
		return r == -ESRCH ? nk_error_set(err, ESRCH, "VM %d is gone", run->state.pid) : r;
	for (size_t i = 0; i < n; i++) {
		char *paths[CG_MAX_HIER] = {0};
		_cleanup_bitmap_ nk_bitmap *aff = NULL;
		bool inside = true;
		r = c->be->task_paths(c, run->state.pid, tids[i], paths, err);
		for (unsigned h = 0; r >= 0 && h < c->n_hier; h++)
			inside &= strcmp(paths[h], rel) == 0;
		for (unsigned h = 0; h < CG_MAX_HIER; h++)
			free(paths[h]);
		if (r >= 0)
			r = c->be->get_affinity(c, tids[i], &aff, err);
		if (r == -ESRCH)
			continue;
		if (r < 0)
			return r;
		if (!inside)
			return nk_error_set(err, EIO, "thread %d is not in %s", tids[i], rel);
		if (!nk_bitmap_is_subset(aff, cpus))
			return nk_error_set(err, EIO, "thread %d may run outside the group's CPUs",
					    tids[i]);
	}
	return 0;
}

static int fill_report(struct run *run, const char *rel, struct nk_cgroup_report *report)
{
	struct cg_ctx *c = run->c;
	const struct cg_thread *t = recorded(&run->state, run->state.pid);
	size_t nd = 0, np = 0;

	report->pid = run->state.pid;
	report->backend = c->be->name;
	if (!(report->name = strdup(run->state.name)) || !(report->group = strdup(rel)))
		return -ENOMEM;
	for (unsigned h = 0; h < c->n_hier; h++) {
		_cleanup_free_ char *dir = NULL, *prev = NULL;
		if (asprintf(&dir, "%s/%s", c->hier[h].mount, rel) < 0 ||
		    nk_strv_push(&report->dirs, &nd, dir) < 0)
			return -ENOMEM;
		if (t && (!(prev = where(c, h, t->paths[h])) ||
			  nk_strv_push(&report->previous, &np, prev) < 0))
			return -ENOMEM;
	}
	return 0;
}

static int add_note(struct nk_cgroup_report *report, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add_note(struct nk_cgroup_report *report, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;
	size_t n = 0;
	va_start(ap, fmt);
	int r = vasprintf(&text, fmt, ap);
	va_end(ap);
	for (char **p = report->notes; p && *p; p++)
		n++;
	if (r < 0 || nk_strv_push(&report->notes, &n, text) < 0)
		return -ENOMEM;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keep the parents this placement made, for undo to remove once empty. */
static int remember_parents(struct run *run, nk_error **err)
{
	_cleanup_strv_ char **list = NULL;
	size_t n = 0;
	if (!run->n_parents_made)
		return 0;
	int r = cg_store_parents(run->store, &list, err);
	if (r < 0)
		return r;
	while (list[n])
		n++;
	for (size_t i = 0; i < run->n_parents_made; i++)
		if (nk_strv_push(&list, &n, run->parents_made[i]) < 0)
			return nk_error_set(err, ENOMEM, "out of memory");
	return cg_store_set_parents(run->store, list, err);
}

/* The group's parent and name as the request gives them, checked. */
static int group_path(const struct cg_vm *vm, const struct nk_cgroup_request *req,
		      const char **ret_parent, char **ret_group, char **ret_rel, nk_error **err)
{
	_cleanup_free_ char *group = NULL, *rel = NULL;
	const char *parent = req->parent ? req->parent : NK_CGROUP_DEFAULT_PARENT;

	if (strcmp(parent, "/") == 0)
		parent = "";
	if (*parent && !cg_valid_path(parent, false))
		return nk_error_set(err, EINVAL,
				    "invalid parent '%s': expected a path such as numaksm or "
				    "vms/numa, of letters, digits, '.', '_' and '-'",
				    parent);
	if (req->group ? !(group = strdup(req->group)) : cg_group_name(vm->name, &group) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (!cg_valid_path(group, true))
		return nk_error_set(err, EINVAL,
				    "invalid group name '%s': one path component of letters, "
				    "digits, '.', '_' and '-'",
				    group);
	if (asprintf(&rel, "%s%s%s", parent, *parent ? "/" : "", group) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	*ret_parent = parent;
	*ret_group = TAKE_PTR(group);
	*ret_rel = TAKE_PTR(rel);
	return 0;
}

int cg_check(struct cg_ctx *c, const struct cg_vm *vm, const struct nk_cgroup_request *req,
	     const nk_bitmap *cpus, const struct cg_limits *limits, struct cg_store *store,
	     nk_error **err)
{
	_cleanup_free_ char *group = NULL, *rel = NULL;
	const char *parent;
	int r = group_path(vm, req, &parent, &group, &rel, err);

	if (r < 0)
		return r;
	struct cg_state prior;
	r = cg_store_load(store, vm->pid, &prior, NULL);
	if (r >= 0) {
		bool same = prior.start_time == vm->start_time;
		if (same)
			nk_error_set(err, EEXIST, "VM %s (PID %d) is placed already, in %s",
				     vm->name, vm->pid, prior.group);
		cg_state_done(&prior);
		if (same) {
			nk_error_hint(err, "'numaksm place --undo %d' first", vm->pid);
			return -EEXIST;
		}
		cg_store_remove(store, vm->pid); /* an earlier process with this PID */
	}
	return check_request(c, vm, req, parent, group, cpus, limits, err);
}

int cg_place(struct cg_ctx *c, const struct cg_vm *vm, const struct nk_cgroup_request *req,
	     const nk_bitmap *cpus, const struct cg_limits *limits, struct cg_pin *pin,
	     struct cg_store *store, struct nk_cgroup_report *report, nk_error **err)
{
	_cleanup_free_ char *group = NULL, *rel = NULL, *failures = NULL, *boot_id = NULL;
	struct run run = {.c = c, .pin = pin, .store = store};
	const char *parent;
	int r = group_path(vm, req, &parent, &group, &rel, err);

	if (r < 0)
		return r;
	r = cg_check(c, vm, req, cpus, limits, store, err);
	if (r < 0)
		return r;
	nk_host_boot_id(c->host, &boot_id); /* NULL when it cannot be read */

	run.state = (struct cg_state){
	    .pid = vm->pid,
	    .start_time = vm->start_time,
	    .boot_id = TAKE_PTR(boot_id),
	    .name = strdup(vm->name),
	    .backend = strdup(c->be->name),
	    .group = strdup(rel),
	    .n_hier = c->n_hier,
	};
	for (unsigned h = 0; h < c->n_hier; h++)
		run.state.hier[h] = strdup(c->hier[h].controller);
	if (!run.state.name || !run.state.backend || !run.state.group ||
	    !run.state.hier[c->n_hier - 1]) {
		run_done(&run);
		return nk_error_set(err, ENOMEM, "out of memory");
	}

	r = record_threads(&run, err);
	if (r == -ESRCH)
		r = nk_error_set(err, ESRCH, "VM %s (PID %d) is gone", vm->name, vm->pid);
	if (r >= 0)
		r = make_parents(&run, parent, err);
	if (r >= 0)
		r = make_group(&run, rel, req, cpus, err);
	if (r >= 0)
		r = cg_store_save(store, &run.state, err);
	if (r >= 0 && log_step(&run, STEP_STATE, 0, NULL, NULL) < 0)
		r = nk_error_set(err, ENOMEM, "out of memory");
	if (r >= 0)
		r = attach(&run, rel, err);
	if (r >= 0 && req->migrate) {
		_cleanup_bitmap_ nk_bitmap *from = nk_bitmap_dup(limits->memory_nodes);
		if (!from)
			r = nk_error_set(err, ENOMEM, "out of memory");
		nk_bitmap_foreach (node, req->nodes)
			if (from)
				nk_bitmap_clear(from, (unsigned)node);
		double t0 = now_s();
		if (r >= 0 && nk_bitmap_weight(from))
			r = c->be->migrate(c, vm->pid, from, req->nodes,
					   &report->pages_not_migrated, err);
		report->migrate_seconds = now_s() - t0;
		report->migrated = r >= 0;
	}
	if (r >= 0 && pin)
		r = pin_vcpus(&run, vm->name, err);
	if (r >= 0)
		r = verify(&run, rel, req, cpus, report, err);
	if (r >= 0)
		r = remember_parents(&run, err);
	if (r >= 0 && fill_report(&run, rel, report) < 0)
		r = nk_error_set(err, ENOMEM, "out of memory");
	if (r < 0) {
		unsigned failed = rollback(&run, &failures);
		if (failed)
			nk_error_prefix(err,
					"placement failed and %u step%s of undoing it failed "
					"too (%s)",
					failed, failed == 1 ? "" : "s", failures ? failures : "?");
		else
			nk_error_prefix(err, "nothing changed");
	}
	run_done(&run);
	return r < 0 ? r : 0;
}

/* ---- undo ---------------------------------------------------------------------------- */

int cg_undo(struct cg_ctx *c, struct cg_state *s, bool alive, struct cg_store *store,
	    struct nk_cgroup_report *report, nk_error **err)
{
	_cleanup_free_ char *note = NULL;
	_cleanup_strv_ char **parents = NULL;
	size_t np = 0, nd = 0;
	unsigned failed;
	int r;

	if (strcmp(s->backend, c->be->name) != 0 || s->n_hier != c->n_hier)
		return nk_error_set(err, EINVAL,
				    "VM %s was placed through cgroup %s, but the host now has %s",
				    s->name, s->backend, c->be->name);
	report->pid = s->pid;
	report->backend = c->be->name;
	if (!(report->name = strdup(s->name)) || !(report->group = strdup(s->group)))
		return nk_error_set(err, ENOMEM, "out of memory");
	if (alive) {
		failed = move_back(c, s, &note);
		if (failed)
			return nk_error_set(err, EIO,
					    "%u thread moves of VM %s failed: it stays in "
					    "%s",
					    failed, s->name, s->group);
		const struct cg_thread *t = recorded(s, s->pid);
		for (unsigned h = 0; t && h < c->n_hier; h++) {
			_cleanup_free_ char *prev = where(c, h, t->paths[h]);
			if (!prev || nk_strv_push(&report->previous, &np, prev) < 0)
				return nk_error_set(err, ENOMEM, "out of memory");
		}
		if (note && add_note(report, "%s", note) < 0)
			return nk_error_set(err, ENOMEM, "out of memory");
	}
	if (s->pinned && nk_host_is_live(c->host)) {
		nk_pin_state *pins = NULL;
		r = nk_pin_state_open(c->host, nk_rundir_path(store->dir), NK_PIN_STATE_WRITE,
				      &pins, err);
		if (r >= 0)
			r = pin_forget(pins, s->pid, err);
		nk_pin_state_free(pins);
		if (r < 0)
			return r;
	}
	for (unsigned h = 0; h < c->n_hier; h++) {
		_cleanup_free_ char *dir = NULL;
		r = c->be->rmdir(c, h, s->group, err);
		if (r < 0 && c->be->exists(c, h, s->group) == 1)
			return nk_error_prefix(err, "VM %s is out, but its group stays", s->name);
		if (asprintf(&dir, "%s/%s", c->hier[h].mount, s->group) < 0 ||
		    nk_strv_push(&report->dirs, &nd, dir) < 0)
			return nk_error_set(err, ENOMEM, "out of memory");
	}
	/* The parents numaksm made go once empty, deepest first. */
	r = cg_store_parents(store, &parents, err);
	if (r < 0)
		return r;
	bool changed = false;
	_cleanup_free_ char *up = strdup(s->group);
	for (char *slash; up && (slash = strrchr(up, '/'));) {
		*slash = '\0';
		for (unsigned h = 0; h < c->n_hier; h++) {
			for (size_t i = 0; parents[i]; i++) {
				const char *colon = strchr(parents[i], ':');
				size_t cl = colon ? (size_t)(colon - parents[i]) : 0;
				if (!colon || strcmp(colon + 1, up) != 0 ||
				    strncmp(parents[i], c->hier[h].controller, cl) != 0 ||
				    c->hier[h].controller[cl])
					continue;
				if (c->be->rmdir(c, h, up, NULL) < 0 &&
				    c->be->exists(c, h, up) == 1)
					continue; /* other groups still in it */
				size_t rest = 0;
				while (parents[i + 1 + rest])
					rest++;
				free(parents[i]);
				memmove(&parents[i], &parents[i + 1], (rest + 1) * sizeof(char *));
				changed = true;
				break;
			}
		}
	}
	if (changed && (r = cg_store_set_parents(store, parents, err)) < 0)
		return r;
	r = cg_store_remove(store, s->pid);
	if (r < 0)
		return nk_error_set(err, -r, "cannot remove the placement state: %s", strerror(-r));
	return 0;
}

/* ---- the public API ---------------------------------------------------------------------- */

_nk_export_ struct nk_cgroup_report *nk_cgroup_report_free(struct nk_cgroup_report *report)
{
	if (!report)
		return NULL;
	free(report->name);
	free(report->group);
	nk_strv_free(report->dirs);
	nk_strv_free(report->previous);
	nk_bitmap_free(report->cpus);
	nk_bitmap_free(report->nodes);
	nk_strv_free(report->notes);
	free(report);
	return NULL;
}
