/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM placement in cgroups without a kernel: names, the --undo state file,
 * and the all-or-nothing steps, run against an in-memory cgroup backend
 * (v1-like and v2-like) that fails on its Nth change.  For every N, a
 * failed placement must leave the model exactly as it was; a successful one
 * is undone by cg_undo() back to the same model.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cgroup-internal.h"

/* ---- an in-memory cgroup tree --------------------------------------------- */

#define MAX_DIRS    16
#define MAX_VALUES  8
#define MAX_THREADS 4
#define PID	    100

struct fake_dir {
	unsigned h;
	char rel[64];
	char files[MAX_VALUES][32];
	char values[MAX_VALUES][64];
	unsigned n_values;
};

struct fake {
	struct fake_dir dirs[MAX_DIRS];
	unsigned n_dirs;
	int tids[MAX_THREADS];
	unsigned n_tids;
	char where[MAX_THREADS][CG_MAX_HIER][64];
	char affinity[MAX_THREADS][16];
	unsigned changes, fail_at; /* fail the fail_at-th change (0: never) */
	char root_subtree[64];	   /* v2: the root's cgroup.subtree_control */
};

static struct fake *model(struct cg_ctx *c)
{
	return c->data;
}

static int change(struct cg_ctx *c, nk_error **err)
{
	struct fake *f = model(c);
	if (++f->changes == f->fail_at)
		return nk_error_set(err, EIO, "injected failure at change %u", f->changes);
	return 0;
}

static struct fake_dir *find_dir(struct fake *f, unsigned h, const char *rel)
{
	for (unsigned i = 0; i < f->n_dirs; i++)
		if (f->dirs[i].h == h && strcmp(f->dirs[i].rel, rel) == 0)
			return &f->dirs[i];
	return NULL;
}

static int thread_index(struct fake *f, int tid)
{
	for (unsigned i = 0; i < f->n_tids; i++)
		if (f->tids[i] == tid)
			return (int)i;
	return -1;
}

static const char *dir_value(struct fake_dir *d, const char *file)
{
	for (unsigned i = 0; d && i < d->n_values; i++)
		if (strcmp(d->files[i], file) == 0)
			return d->values[i];
	return NULL;
}

static void set_value(struct fake_dir *d, const char *file, const char *value)
{
	for (unsigned i = 0; i < d->n_values; i++)
		if (strcmp(d->files[i], file) == 0) {
			snprintf(d->values[i], sizeof(d->values[i]), "%s", value);
			return;
		}
	assert_true(d->n_values < MAX_VALUES);
	snprintf(d->files[d->n_values], sizeof(d->files[0]), "%s", file);
	snprintf(d->values[d->n_values++], sizeof(d->values[0]), "%s", value);
}

static int fake_exists(struct cg_ctx *c, unsigned h, const char *rel)
{
	return !*rel || find_dir(model(c), h, rel) ? 1 : 0;
}

static int fake_read(struct cg_ctx *c, unsigned h, const char *rel, const char *file, char **ret,
		     nk_error **err)
{
	struct fake *f = model(c);
	struct fake_dir *d = find_dir(f, h, rel);
	const char *v = dir_value(d, file);

	/* The effective sets are what was asked (the parents allow it all). */
	bool mems = strstr(file, "mems") != NULL;
	if (!v && strstr(file, "effective"))
		v = dir_value(d, mems ? "cpuset.mems" : "cpuset.cpus");

	if (*rel && !d)
		return nk_error_set(err, ENOENT, "no %s", rel);
	if (!v && strstr(file, "subtree_control"))
		v = *rel ? "" : f->root_subtree;
	if (!v && strncmp(file, "cpuset.", 7) == 0)
		v = mems ? "0-1" : "0-3";
	if (!v && strncmp(file, "memory.", 7) == 0)
		v = c->be->per_thread ? "9223372036854771712" : "max";
	assert_non_null(v);
	*ret = strdup(v);
	return 0;
}

static int fake_mkdir(struct cg_ctx *c, unsigned h, const char *rel, const struct cg_value *values,
		      size_t n, nk_error **err)
{
	struct fake *f = model(c);
	int r = change(c, err);
	if (r < 0)
		return r;
	assert_null(find_dir(f, h, rel));
	assert_true(f->n_dirs < MAX_DIRS);
	/* Its parent exists: cgroup_create_cgroup() would make it empty. */
	char parent[64];
	snprintf(parent, sizeof(parent), "%s", rel);
	char *slash = strrchr(parent, '/');
	if (slash) {
		*slash = '\0';
		assert_non_null(find_dir(f, h, parent));
	}
	struct fake_dir *d = &f->dirs[f->n_dirs++];
	*d = (struct fake_dir){.h = h};
	snprintf(d->rel, sizeof(d->rel), "%s", rel);
	for (size_t i = 0; i < n; i++)
		set_value(d, values[i].file, values[i].value);
	/* A v1 cpuset needs CPUs and nodes before it takes tasks. */
	if (c->be->copy_parent_cpuset && strcmp(c->hier[h].controller, "cpuset") == 0) {
		assert_non_null(dir_value(d, "cpuset.cpus"));
		assert_non_null(dir_value(d, "cpuset.mems"));
	}
	return 0;
}

static int fake_rmdir(struct cg_ctx *c, unsigned h, const char *rel, nk_error **err)
{
	struct fake *f = model(c);
	int r = change(c, err);
	if (r < 0)
		return r;
	for (unsigned t = 0; t < f->n_tids; t++)
		if (strcmp(f->where[t][h], rel) == 0)
			return nk_error_set(err, EBUSY, "%s has tasks", rel);
	for (unsigned i = 0; i < f->n_dirs; i++)
		if (f->dirs[i].h == h && strncmp(f->dirs[i].rel, rel, strlen(rel)) == 0 &&
		    f->dirs[i].rel[strlen(rel)] == '/')
			return nk_error_set(err, EBUSY, "%s has children", rel);
	struct fake_dir *d = find_dir(f, h, rel);
	if (!d)
		return nk_error_set(err, ENOENT, "no %s", rel);
	*d = f->dirs[--f->n_dirs];
	return 0;
}

static int fake_write(struct cg_ctx *c, unsigned h, const char *rel, const char *file,
		      const char *value, nk_error **err)
{
	struct fake *f = model(c);
	int r = change(c, err);
	if (r < 0)
		return r;
	if (strcmp(file, "cgroup.subtree_control") == 0) {
		/* "+cpuset" adds a word, "-cpuset" takes it away. */
		char *text = *rel ? NULL : f->root_subtree, buf[64];
		struct fake_dir *d = *rel ? find_dir(f, h, rel) : NULL;
		if (*rel) {
			assert_non_null(d);
			snprintf(buf, sizeof(buf), "%s",
				 dir_value(d, file) ? dir_value(d, file) : "");
			text = buf;
		}
		char *at = strstr(text, value + 1);
		if (value[0] == '+' && !at)
			snprintf(text + strlen(text), 64 - strlen(text), "%s%s", *text ? " " : "",
				 value + 1);
		else if (value[0] == '-' && at)
			memmove(at, at + strlen(value + 1) + (at[strlen(value + 1)] == ' '),
				strlen(at + strlen(value + 1)) + 1);
		if (d)
			set_value(d, file, text);
		return 0;
	}
	struct fake_dir *d = find_dir(f, h, rel);
	assert_non_null(d);
	set_value(d, file, value);
	return 0;
}

static int fake_attach(struct cg_ctx *c, unsigned h, const char *rel, int tid, nk_error **err)
{
	struct fake *f = model(c);
	int r = change(c, err);
	if (r < 0)
		return r;
	assert_true(fake_exists(c, h, rel) == 1);
	for (unsigned t = 0; t < f->n_tids; t++) {
		if (c->be->per_thread && f->tids[t] != tid)
			continue;
		snprintf(f->where[t][h], sizeof(f->where[t][h]), "%s", rel);
		/* Moving into a cpuset resets the affinity to its CPUs. */
		if (h == 0) {
			const char *cpus = dir_value(find_dir(f, h, rel), "cpuset.cpus");
			snprintf(f->affinity[t], sizeof(f->affinity[t]), "%s", cpus ? cpus : "0-3");
		}
	}
	return 0;
}

static int fake_tasks(struct cg_ctx *c, int pid, int **ret_tids, size_t *ret_n, nk_error **err)
{
	struct fake *f = model(c);
	*ret_tids = calloc(f->n_tids, sizeof(int));
	memcpy(*ret_tids, f->tids, f->n_tids * sizeof(int));
	*ret_n = f->n_tids;
	return 0;
}

static int fake_task_paths(struct cg_ctx *c, int pid, int tid, char *ret_paths[CG_MAX_HIER],
			   nk_error **err)
{
	struct fake *f = model(c);
	int t = thread_index(f, tid);
	if (t < 0)
		return -ESRCH;
	for (unsigned h = 0; h < c->n_hier; h++)
		ret_paths[h] = strdup(f->where[t][h]);
	return 0;
}

static int fake_get_affinity(struct cg_ctx *c, int tid, nk_bitmap **ret, nk_error **err)
{
	int t = thread_index(model(c), tid);
	if (t < 0)
		return -ESRCH;
	return nk_parse_list(model(c)->affinity[t], "CPU list", ret, err);
}

static int fake_set_affinity(struct cg_ctx *c, int tid, const nk_bitmap *cpus, nk_error **err)
{
	struct fake *f = model(c);
	char *text = NULL;
	int r = change(c, err), t = thread_index(f, tid);
	if (r < 0)
		return r;
	assert_true(t >= 0);
	assert_true(nk_bitmap_format(cpus, &text) >= 0);
	snprintf(f->affinity[t], sizeof(f->affinity[t]), "%s", text);
	free(text);
	return 0;
}

static int fake_migrate(struct cg_ctx *c, int pid, const nk_bitmap *from, const nk_bitmap *to,
			uint64_t *ret_not_moved, nk_error **err)
{
	int r = change(c, err);
	if (r < 0)
		return r;
	*ret_not_moved = 0;
	return 0;
}

/* The real backends' flags and file names, with the model's operations. */
static struct cg_backend with_fake_ops(const struct cg_backend *real)
{
	struct cg_backend b = *real;
	b.init = NULL;
	b.exists = fake_exists;
	b.read = fake_read;
	b.mkdir = fake_mkdir;
	b.rmdir = fake_rmdir;
	b.write = fake_write;
	b.attach = fake_attach;
	b.tasks = fake_tasks;
	b.task_paths = fake_task_paths;
	b.get_affinity = fake_get_affinity;
	b.set_affinity = fake_set_affinity;
	b.migrate = fake_migrate;
	return b;
}

/* ---- the world around it ------------------------------------------------------ */

struct world {
	struct fake f;
	struct cg_backend be;
	struct cg_ctx c;
	nk_host *host;
	char dir[64];
	struct cg_store store;
	nk_bitmap *cpus, *nodes, *online, *memory_nodes;
};

static struct world *world_new(bool v2)
{
	struct world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	w->f.n_tids = 3;
	for (unsigned t = 0; t < 3; t++) {
		w->f.tids[t] = PID + (int)t;
		snprintf(w->f.affinity[t], sizeof(w->f.affinity[t]), t == 1 ? "2" : "0-3");
		for (unsigned h = 0; h < CG_MAX_HIER; h++)
			snprintf(w->f.where[t][h], sizeof(w->f.where[t][h]), "%s",
				 h == 1 ? "user.slice/session-2.scope" : "");
	}
	/* The memory hierarchy's cgroup the VM is in (v1). */
	if (!v2) {
		w->f.dirs[w->f.n_dirs++] = (struct fake_dir){.h = 1, .rel = "user.slice"};
		w->f.dirs[w->f.n_dirs++] =
		    (struct fake_dir){.h = 1, .rel = "user.slice/session-2.scope"};
	}
	w->be = with_fake_ops(v2 ? &cg_backend_v2 : &cg_backend_v1);
	w->c.be = &w->be;
	w->c.data = &w->f;
	w->c.n_hier = v2 ? 1 : 2;
	w->c.hier[0] = (struct cg_hier){.controller = v2 ? "" : "cpuset", .mount = "/cg/a"};
	w->c.hier[1] = (struct cg_hier){.controller = "memory", .mount = "/cg/b"};
	assert_int_equal(nk_host_open(HOST_FIXTURE, &w->host, NULL), 0);
	w->c.host = w->host;
	snprintf(w->dir, sizeof(w->dir), "/tmp/numaksm-test-cgroup-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	assert_int_equal(cg_store_open(w->dir, &w->store, NULL), 0);
	assert_int_equal(nk_parse_list("1-2", "", &w->cpus, NULL), 0);
	assert_int_equal(nk_parse_list("1", "", &w->nodes, NULL), 0);
	assert_int_equal(nk_parse_list("0-3", "", &w->online, NULL), 0);
	assert_int_equal(nk_parse_list("0-1", "", &w->memory_nodes, NULL), 0);
	return w;
}

static void world_free(struct world *w)
{
	char cmd[128];
	cg_store_close(&w->store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
	assert_int_equal(system(cmd), 0);
	nk_host_free(w->host);
	nk_bitmap_free(w->cpus);
	nk_bitmap_free(w->nodes);
	nk_bitmap_free(w->online);
	nk_bitmap_free(w->memory_nodes);
	free(w);
}

/* The model as text, changes counter aside, directories in a stable order. */
static char *snapshot(const struct fake *f)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	for (unsigned h = 0; h < CG_MAX_HIER; h++)
		for (unsigned i = 0; i < f->n_dirs; i++)
			if (f->dirs[i].h == h)
				fprintf(m, "dir %u:%s\n", h, f->dirs[i].rel);
	for (unsigned t = 0; t < f->n_tids; t++)
		fprintf(m, "tid %d in %s | %s, cpus %s\n", f->tids[t], f->where[t][0],
			f->where[t][1], f->affinity[t]);
	fprintf(m, "root subtree '%s'\n", f->root_subtree);
	fclose(m);
	return text;
}

static const struct nk_proc_cgroup vm_cgroups[] = {
    {.hierarchy = 3, .controllers = "cpuset", .path = "/"},
    {.hierarchy = 4, .controllers = "memory", .path = "/user.slice/session-2.scope"},
};

static struct cg_vm vm_of(void)
{
	return (struct cg_vm){
	    .pid = PID,
	    .start_time = 42,
	    .name = "web 1", /* a space: the group is web_1 */
	    .rss_bytes = 100u << 20,
	    .cgroups = vm_cgroups,
	    .n_cgroups = 2,
	};
}

static struct nk_cgroup_request request(const struct world *w)
{
	return (struct nk_cgroup_request){
	    .parent = "numaksm/vms",
	    .nodes = w->nodes,
	    .memory_max_bytes = 1ull << 30,
	    .memory_high_bytes = 512ull << 20,
	    .migrate = true,
	};
}

static void report_clear(struct nk_cgroup_report *r)
{
	nk_cgroup_report_free(r);
}

/* Fail at every change in turn: nothing may remain; then succeed, undo. */
static void all_or_nothing(bool v2)
{
	struct world *w = world_new(v2);
	struct cg_vm vm = vm_of();
	struct nk_cgroup_request req = request(w);
	struct cg_limits limits = {.online_cpus = w->online, .memory_nodes = w->memory_nodes};
	char *before = snapshot(&w->f), path[128];
	unsigned k;

	for (k = 1;; k++) {
		struct nk_cgroup_report *r = calloc(1, sizeof(*r));
		nk_error *err = NULL;
		w->f.changes = 0;
		w->f.fail_at = k;
		int rc = cg_place(&w->c, &vm, &req, w->cpus, &limits, NULL, &w->store, r, &err);
		if (rc == 0) {
			report_clear(r);
			break;
		}
		assert_int_equal(rc, -EIO);
		if (!strstr(nk_error_message(err), "nothing changed"))
			fail_msg("change %u: %s", k, nk_error_message(err));
		char *after = snapshot(&w->f);
		assert_string_equal(after, before);
		free(after);
		snprintf(path, sizeof(path), "%s/place-%d.json", w->dir, PID);
		assert_int_not_equal(access(path, F_OK), 0);
		nk_error_free(err);
		report_clear(r);
	}
	/* Every change was a place to fail: at least parents, group, attach. */
	assert_true(k > 4);

	/* Placed: the threads are in numaksm/vms/web_1 on CPUs 1-2. */
	char *placed = snapshot(&w->f);
	assert_non_null(strstr(placed, "numaksm/vms/web_1"));
	assert_non_null(strstr(placed, "tid 101 in numaksm/vms/web_1"));
	if (v2)
		assert_string_equal(w->f.root_subtree, "cpuset memory");
	free(placed);
	struct fake_dir *g = find_dir(&w->f, v2 ? 0 : 1, "numaksm/vms/web_1");
	assert_non_null(g);
	assert_string_equal(dir_value(g, v2 ? "memory.max" : "memory.limit_in_bytes"),
			    "1073741824");

	/* Placed twice: refused. */
	struct nk_cgroup_report *r = calloc(1, sizeof(*r));
	nk_error *err = NULL;
	w->f.fail_at = 0;
	assert_int_equal(cg_place(&w->c, &vm, &req, w->cpus, &limits, NULL, &w->store, r, &err),
			 -EEXIST);
	nk_error_free(err);
	report_clear(r);

	/* Undone: back where it was, affinities too (tid 101 had CPU 2 alone),
	 * and the parents numaksm made are gone. */
	struct cg_state s;
	r = calloc(1, sizeof(*r));
	assert_int_equal(cg_store_find(&w->store, "web 1", &s, NULL), 0);
	assert_int_equal(s.n_threads, 3);
	assert_int_equal(cg_undo(&w->c, &s, true, &w->store, r, NULL), 0);
	cg_state_done(&s);
	report_clear(r);
	char *undone = snapshot(&w->f);
	/* v2: the root's controllers stay enabled (others may use them now). */
	if (v2)
		assert_non_null(strstr(undone, "root subtree 'cpuset memory'"));
	else
		assert_string_equal(undone, before);
	free(undone);
	assert_int_equal(cg_store_load(&w->store, PID, &s, NULL), -ENOENT);
	free(before);
	world_free(w);
}

static void test_all_or_nothing_v1(void **state)
{
	all_or_nothing(false);
}

static void test_all_or_nothing_v2(void **state)
{
	all_or_nothing(true);
}

static void test_refusals(void **state)
{
	struct world *w = world_new(false);
	struct cg_vm vm = vm_of();
	struct cg_limits limits = {.online_cpus = w->online, .memory_nodes = w->memory_nodes};
	struct nk_proc_cgroup libvirt[] = {
	    {.hierarchy = 3,
	     .controllers = "cpuset",
	     .path = "/machine.slice/machine-qemu\\x2d1\\x2dweb.scope"},
	};
	nk_bitmap *bad = NULL;
	char *before = snapshot(&w->f);
	const struct {
		const char *what;
		int want;
		const char *message;
	} cases[] = {
	    {"node 2", -EINVAL, "nodes 2 are not all allowed"},
	    {"cpu 7", -EINVAL, "CPUs 1,7 are not all allowed"},
	    {"limit", -EINVAL, "is below what VM web 1 uses now"},
	    {"high above max", -EINVAL, "--memory-high is above --memory-max"},
	    {"libvirt", -EBUSY, "libvirt's cgroup"},
	    {"parent", -EINVAL, "invalid parent '../etc'"},
	    {"group", -EINVAL, "invalid group name 'a/b'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nk_cgroup_request req = request(w);
		struct nk_cgroup_report *r = calloc(1, sizeof(*r));
		const nk_bitmap *cpus = w->cpus;
		struct cg_vm v = vm;
		nk_error *err = NULL;
		if (i == 0) {
			assert_int_equal(nk_parse_list("2", "", &bad, NULL), 0);
			req.nodes = bad;
		} else if (i == 1) {
			assert_int_equal(nk_parse_list("1,7", "", &bad, NULL), 0);
			cpus = bad;
		} else if (i == 2) {
			req.memory_max_bytes = 10u << 20;
		} else if (i == 3) {
			req.memory_high_bytes = 2ull << 30;
		} else if (i == 4) {
			v.cgroups = libvirt;
			v.n_cgroups = 1;
		} else if (i == 5) {
			req.parent = "../etc";
		} else {
			req.group = "a/b";
		}
		w->f.changes = 0;
		assert_int_equal(cg_place(&w->c, &v, &req, cpus, &limits, NULL, &w->store, r, &err),
				 cases[i].want);
		if (!strstr(nk_error_message(err), cases[i].message))
			fail_msg("%s: '%s'", cases[i].what, nk_error_message(err));
		assert_int_equal(w->f.changes, 0); /* refused before any change */
		nk_error_free(err);
		report_clear(r);
		bad = nk_bitmap_free(bad);
	}
	/* Asked to, it takes a VM from libvirt. */
	struct nk_cgroup_request req = request(w);
	struct nk_cgroup_report *r = calloc(1, sizeof(*r));
	req.allow_libvirt = true;
	vm.cgroups = libvirt;
	vm.n_cgroups = 1;
	assert_int_equal(cg_place(&w->c, &vm, &req, w->cpus, &limits, NULL, &w->store, r, NULL), 0);
	report_clear(r);
	/* A group of that name exists: refused, for another VM too. */
	r = calloc(1, sizeof(*r));
	vm.pid = PID + 50;
	nk_error *err = NULL;
	assert_int_equal(cg_place(&w->c, &vm, &req, w->cpus, &limits, NULL, &w->store, r, &err),
			 -EEXIST);
	assert_non_null(strstr(nk_error_message(err), "exists already"));
	nk_error_free(err);
	report_clear(r);
	char *now = snapshot(&w->f);
	assert_string_not_equal(now, before);
	free(now);
	free(before);
	world_free(w);
}

static void test_names(void **state)
{
	char *name;
	assert_true(cg_valid_path("numaksm", true));
	assert_true(cg_valid_path("numaksm/vms-1/a.b_c", false));
	assert_false(cg_valid_path("numaksm/vms", true));
	assert_false(cg_valid_path("", false));
	assert_false(cg_valid_path("/abs", false));
	assert_false(cg_valid_path("a//b", false));
	assert_false(cg_valid_path("a/../b", false));
	assert_false(cg_valid_path("a/", false));
	assert_false(cg_valid_path(".", true));
	assert_false(cg_valid_path("a b", true));
	assert_int_equal(cg_group_name("web 1/x:y", &name), 0);
	assert_string_equal(name, "web_1_x_y");
	free(name);
	assert_int_equal(cg_group_name("..", &name), 0);
	assert_true(cg_valid_path(name, true));
	free(name);
	assert_true(cg_is_libvirt("/machine.slice/machine-qemu\\x2d3\\x2dvm.scope/libvirt/vcpu0"));
	assert_true(cg_is_libvirt("/machine/qemu-3-vm.libvirt-qemu"));
	assert_false(cg_is_libvirt("/user.slice/machinery"));
	assert_false(cg_is_libvirt(NULL));
}

static void test_state_text(void **state)
{
	struct cg_state s = {
	    .pid = 4242,
	    .start_time = 99,
	    .boot_id = "b00t",
	    .name = "vm \"one\"",
	    .backend = "v1",
	    .group = "numaksm/vm_one",
	    .n_hier = 2,
	    .hier = {"cpuset", "memory"},
	    .pinned = true,
	};
	struct cg_thread threads[2] = {{.tid = 4242, .paths = {"", "user.slice"}},
				       {.tid = 4243, .paths = {"a/b", "c"}}};
	char *text = NULL;
	struct cg_state back;

	assert_int_equal(nk_parse_list("0-1,3", "", &threads[0].affinity, NULL), 0);
	s.threads = threads;
	s.n_threads = 2;
	assert_int_equal(cg_state_format(&s, &text), 0);
	assert_int_equal(cg_state_parse(text, &back, NULL), 0);
	assert_int_equal(back.pid, 4242);
	assert_int_equal(back.start_time, 99);
	assert_string_equal(back.name, "vm \"one\"");
	assert_string_equal(back.boot_id, "b00t");
	assert_true(back.pinned);
	assert_int_equal(back.n_hier, 2);
	assert_string_equal(back.hier[1], "memory");
	assert_int_equal(back.n_threads, 2);
	assert_string_equal(back.threads[0].paths[1], "user.slice");
	assert_true(nk_bitmap_equal(back.threads[0].affinity, threads[0].affinity));
	assert_null(back.threads[1].affinity);
	cg_state_done(&back);
	nk_bitmap_free(threads[0].affinity);

	/* Malformed: not JSON, cut short, another version, a bad group,
	 * a thread with paths for the wrong number of hierarchies. */
	const char *const bad[] = {
	    "",
	    "not json",
	    text[0] ? "{ \"numaksm_place\": 1, \"pid\": 4242" : "",
	    "{ \"numaksm_place\": 2, \"pid\": 1, \"start_time\": 0, \"name\": \"a\", \"backend\": "
	    "\"v1\", \"group\": \"g\", \"hierarchies\": [\"cpuset\"], \"threads\": [] }",
	    "{ \"numaksm_place\": 1, \"pid\": 1, \"start_time\": 0, \"name\": \"a\", \"backend\": "
	    "\"v1\", \"group\": \"../g\", \"hierarchies\": [\"cpuset\"], \"threads\": [] }",
	    "{ \"numaksm_place\": 1, \"pid\": 1, \"start_time\": 0, \"name\": \"a\", \"backend\": "
	    "\"v1\", \"group\": \"g\", \"hierarchies\": [\"cpuset\"], \"threads\": [ { \"tid\": 1, "
	    "\"paths\": [\"a\", \"b\"] } ] }",
	    "{ \"numaksm_place\": 1, \"pid\": -1, \"start_time\": 0, \"name\": \"a\", \"backend\": "
	    "\"v1\", \"group\": \"g\", \"hierarchies\": [\"cpuset\"], \"threads\": [] }",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		nk_error *err = NULL;
		assert_int_equal(cg_state_parse(bad[i], &back, &err), -EINVAL);
		nk_error_free(err);
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_state_text),
	    cmocka_unit_test(test_all_or_nothing_v1),
	    cmocka_unit_test(test_all_or_nothing_v2),
	    cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
