/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cgroup v1 and v2 backends, through libcgroup 2.0.2.  Its pitfalls
 * (../shared/reference/vcpu-cgroup.md) shape this file:
 *  - cgroup_create_cgroup() makes missing parents with nothing in them (a
 *    v1 cpuset with no CPUs) and leaves them behind when it fails: parents
 *    are made here one level at a time, each with what it needs.
 *  - On v2 it enables controllers in subtree_control from one level below
 *    the root only, and writes to cgroup.* files are not controller values:
 *    subtree_control is written here, through the host root.
 *  - cgroup_attach_task_pid() writes the v1 tasks file, which moves one
 *    thread; on v2 it writes cgroup.procs, which moves the whole process.
 *    v1 placement therefore attaches every thread, v2 the process.
 *  - cgroup_attach_task_pid(NULL, ...) crashes: a group is always given.
 * Reads go through the nk_host root like every other read of cgroupfs.
 */
#include "cgroup-internal.h"
#include "numaksm/proc.h"

#include <libcgroup.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/syscall.h>

#include "numaksm/hostinfo.h"

/* ---- libcgroup ------------------------------------------------------------- */

static void lib_logger(void *userdata, int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void lib_logger(void *userdata, int level, const char *fmt, va_list ap)
{
	_cleanup_free_ char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) >= 0)
		nk_debug("libcgroup: %s", nk_strip_newline(msg));
}

static int lib_init_result;
static void lib_init_once(void)
{
	/* The library never prints: libcgroup's messages go to our logger. */
	cgroup_set_logger(lib_logger, CGROUP_LOG_DEBUG, NULL);
	lib_init_result = cgroup_init();
}

/* A libcgroup error code as a negative errno. */
static int lib_errno(int code)
{
	switch (code) {
	case 0:
		return 0;
	case ECGOTHER:
	case ECGCANTSETVALUE: {
		int e = cgroup_get_last_errno();
		return e > 0 ? -e : -EIO;
	}
	case ECGROUPNOTOWNER:
		return -EPERM;
	case ECGROUPNOTEXIST:
	case ECGROUPVALUENOTEXIST:
		return -ENOENT;
	case ECGROUPNOTALLOWED:
		return -EACCES;
	case ECGNONEMPTY:
		return -EBUSY;
	case ECGROUPNOTMOUNTED:
	case ECGROUPSUBSYSNOTMOUNTED:
		return -ENOTSUP;
	default:
		return -EIO;
	}
}

static int lib_error(nk_error **err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int lib_error(nk_error **err, int code, const char *fmt, ...)
{
	_cleanup_free_ char *what = NULL;
	va_list ap;
	int e = lib_errno(code);

	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) < 0)
		what = NULL;
	va_end(ap);
	if (e == -ESRCH)
		return -ESRCH; /* a thread ended: the caller decides */
	nk_error_set(err, -e, "%s: %s", what ? what : "libcgroup", cgroup_strerror(code));
	if (e == -EPERM || e == -EACCES)
		nk_error_hint(err, "run as root");
	return e;
}

/* The controllers a file belongs to ("cpuset.cpus" -> "cpuset"); for a
 * hierarchy's own directory, its controller (v2: cpuset, which is there). */
static const char *controller_of(const struct cg_ctx *c, unsigned h, const char *file)
{
	if (file && strncmp(file, "memory.", 7) == 0)
		return "memory";
	if (file && strncmp(file, "cpuset.", 7) == 0)
		return "cpuset";
	return *c->hier[h].controller ? c->hier[h].controller : "cpuset";
}

static struct cgroup_controller *lib_controller(struct cgroup *cg, const char *name)
{
	struct cgroup_controller *ctrl = cgroup_get_controller(cg, name);
	return ctrl ? ctrl : cgroup_add_controller(cg, name);
}

static void lib_freep(struct cgroup **cg)
{
	if (*cg)
		cgroup_free(cg);
}

/* A libcgroup group of `rel` with the controller of hierarchy `h`. */
static struct cgroup *lib_group(const struct cg_ctx *c, unsigned h, const char *rel)
{
	struct cgroup *cg = cgroup_new_cgroup(rel);
	if (cg && !lib_controller(cg, controller_of(c, h, NULL)))
		cgroup_free(&cg);
	return cg;
}

/* ---- paths and reads ---------------------------------------------------------- */

static char *path_of(const struct cg_ctx *c, unsigned h, const char *rel, const char *file)
{
	char *p = NULL;
	if (asprintf(&p, "%s%s%s%s%s", c->hier[h].mount, *rel ? "/" : "", rel, file ? "/" : "",
		     file ? file : "") < 0)
		return NULL;
	return p;
}

static int lib_exists(struct cg_ctx *c, unsigned h, const char *rel)
{
	_cleanup_free_ char *p = path_of(c, h, rel, NULL);
	return p ? nk_host_exists(c->host, p) : -ENOMEM;
}

static int lib_read(struct cg_ctx *c, unsigned h, const char *rel, const char *file, char **ret,
		    nk_error **err)
{
	_cleanup_free_ char *p = path_of(c, h, rel, file);
	if (!p)
		return nk_error_set(err, ENOMEM, "out of memory");
	int r = nk_host_read(c->host, p, ret, err);
	return r < 0 ? r : 0;
}

/* ---- changes ------------------------------------------------------------------- */

static int lib_write(struct cg_ctx *c, unsigned h, const char *rel, const char *file,
		     const char *value, nk_error **err)
{
	_cleanup_(lib_freep) struct cgroup *cg = NULL;

	if (strncmp(file, "cgroup.", 7) == 0) {
		/* Not a controller value for libcgroup 2.0.2: written directly. */
		_cleanup_free_ char *p = path_of(c, h, rel, file);
		return p ? nk_host_write(c->host, p, value, err)
			 : nk_error_set(err, ENOMEM, "out of memory");
	}
	cg = cgroup_new_cgroup(rel);
	struct cgroup_controller *ctrl = cg ? lib_controller(cg, controller_of(c, h, file)) : NULL;
	if (!ctrl || cgroup_add_value_string(ctrl, file, value) != 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	int code = cgroup_modify_cgroup(cg);
	if (code)
		return lib_error(err, code, "cannot write '%s' to %s/%s/%s", value,
				 c->hier[h].mount, rel, file);
	return 0;
}

static int lib_rmdir(struct cg_ctx *c, unsigned h, const char *rel, nk_error **err)
{
	_cleanup_(lib_freep) struct cgroup *cg = lib_group(c, h, rel);
	if (!cg)
		return nk_error_set(err, ENOMEM, "out of memory");
	int code = cgroup_delete_cgroup_ext(cg, CGFLAG_DELETE_EMPTY_ONLY);
	if (code)
		return lib_error(err, code, "cannot remove %s/%s", c->hier[h].mount, rel);
	return 0;
}

static int lib_mkdir(struct cg_ctx *c, unsigned h, const char *rel, const struct cg_value *values,
		     size_t n, nk_error **err)
{
	_cleanup_(lib_freep) struct cgroup *cg = lib_group(c, h, rel);
	if (!cg)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct cgroup_controller *ctrl =
		    lib_controller(cg, controller_of(c, h, values[i].file));
		if (!ctrl || cgroup_add_value_string(ctrl, values[i].file, values[i].value) != 0)
			return nk_error_set(err, ENOMEM, "out of memory");
	}
	int code = cgroup_create_cgroup(cg, 1);
	if (code) {
		int r = lib_error(err, code, "cannot create %s/%s", c->hier[h].mount, rel);
		/* libcgroup leaves what it made when a value fails: the directory
		 * did not exist before (the caller checked), so remove it. */
		if (lib_exists(c, h, rel) == 1)
			lib_rmdir(c, h, rel, NULL);
		return r;
	}
	return 0;
}

static int lib_attach(struct cg_ctx *c, unsigned h, const char *rel, int tid, nk_error **err)
{
	_cleanup_(lib_freep) struct cgroup *cg = lib_group(c, h, rel);
	if (!cg)
		return nk_error_set(err, ENOMEM, "out of memory");
	int code = cgroup_attach_task_pid(cg, tid);
	if (code)
		return lib_error(err, code, "cannot move %s %d into %s/%s",
				 c->be->per_thread ? "thread" : "process", tid, c->hier[h].mount,
				 rel);
	return 0;
}

/* ---- threads ------------------------------------------------------------------- */

static int proc_tasks(struct cg_ctx *c, int pid, int **ret_tids, size_t *ret_n, nk_error **err)
{
	int n = nk_proc_tids(c->host, pid, ret_tids, err);
	if (n < 0)
		return n;
	*ret_n = (size_t)n;
	return 0;
}

static int proc_task_paths(struct cg_ctx *c, int pid, int tid, char *ret_paths[CG_MAX_HIER],
			   nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	struct nk_proc_cgroup *cg = NULL;
	size_t n = 0;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/cgroup", pid, tid);
	int r = nk_host_read(c->host, path, &text, NULL);
	if (r == -ENOENT || r == -ESRCH)
		return -ESRCH;
	if (r < 0 || nk_proc_cgroup_parse(text, &cg, &n) < 0)
		return nk_error_set(err, r < 0 ? -r : EINVAL, "cannot read %s", path);
	char *paths[CG_MAX_HIER] = {0};
	for (unsigned h = 0; h < c->n_hier && r >= 0; h++) {
		const char *p = nk_proc_cgroup_path(cg, n, c->hier[h].controller);
		if (!p)
			r = nk_error_set(err, ENOENT, "%s: no %s hierarchy", path,
					 *c->hier[h].controller ? c->hier[h].controller : "v2");
		else if (!(paths[h] = strdup(p + strspn(p, "/"))))
			r = nk_error_set(err, ENOMEM, "out of memory");
	}
	nk_proc_cgroups_free(cg, n);
	if (r < 0) {
		for (unsigned h = 0; h < c->n_hier; h++)
			free(paths[h]);
		return r;
	}
	memcpy(ret_paths, paths, sizeof(paths));
	return 0;
}

static int proc_get_affinity(struct cg_ctx *c, int tid, nk_bitmap **ret, nk_error **err)
{
	_cleanup_free_ char *text = NULL, *list = NULL;
	char path[48];
	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	int r = nk_host_read(c->host, path, &text, NULL);
	if (r == -ENOENT || r == -ESRCH)
		return -ESRCH;
	if (r < 0 || nk_parse_keyed_line(text, "Cpus_allowed_list", &list) < 0 ||
	    nk_parse_list(list, "CPU list", ret, NULL) < 0)
		return nk_error_set(err, r < 0 ? -r : EINVAL, "%s: no valid Cpus_allowed_list",
				    path);
	return 0;
}

static int sys_set_affinity(struct cg_ctx *c, int tid, const nk_bitmap *cpus, nk_error **err)
{
	const nk_bitmap *sets[1] = {cpus};
	bool required = false;
	/* vcpu/'s setter: sets, reads back through the host root, restores on
	 * failure.  A thread that ended is skipped. */
	return nk_pin_threads(c->host, tid, &tid, sets, &required, 1, err);
}

/* A kernel nodemask of `bits` bits. */
static unsigned long *node_mask(const nk_bitmap *b, unsigned long bits)
{
	const unsigned long per = 8 * sizeof(unsigned long);
	unsigned long *m = calloc(bits / per + 1, sizeof(*m));
	if (!m)
		return NULL;
	nk_bitmap_foreach (n, b)
		m[(unsigned)n / per] |= 1ul << ((unsigned)n % per);
	return m;
}

static int sys_migrate(struct cg_ctx *c, int pid, const nk_bitmap *from, const nk_bitmap *to,
		       uint64_t *ret_not_moved, nk_error **err)
{
	int last =
	    nk_bitmap_last(from) > nk_bitmap_last(to) ? nk_bitmap_last(from) : nk_bitmap_last(to);
	/* maxnode counts one more than the bits the kernel reads (libnuma's +1). */
	unsigned long maxnode = (unsigned long)(last < 0 ? 0 : last) + 2;
	_cleanup_free_ unsigned long *a = node_mask(from, maxnode);
	_cleanup_free_ unsigned long *b = node_mask(to, maxnode);

	if (!a || !b)
		return nk_error_set(err, ENOMEM, "out of memory");
	long r = syscall(SYS_migrate_pages, pid, maxnode, a, b);
	if (r < 0) {
		int e = errno;
		if (e == ESRCH)
			return -ESRCH;
		nk_error_set(err, e, "migrate_pages(%d): %s", pid, strerror(e));
		if (e == EPERM)
			nk_error_hint(err, "moving another user's pages needs root (CAP_SYS_NICE)");
		return -e;
	}
	*ret_not_moved = (uint64_t)r;
	return 0;
}

/* ---- the backends ---------------------------------------------------------------- */

static int mount_of(const char *controller, char **ret, nk_error **err)
{
	char *mnt = NULL;
	int code = cgroup_get_subsys_mount_point(controller, &mnt);
	if (code || !mnt) {
		free(mnt);
		int hinted = nk_error_set(err, ENOTSUP,
					  "no cgroup hierarchy with the %s controller is mounted",
					  controller);
		nk_error_hint(err, "mount cgroup2 with cpuset and memory enabled, or the "
				   "v1 cpuset and memory hierarchies");
		return hinted;
	}
	*ret = mnt;
	return 0;
}

static int lib_init(nk_error **err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, lib_init_once);
	if (lib_init_result)
		return lib_error(err, lib_init_result, "libcgroup cannot find the cgroup mounts");
	return 0;
}

static int v1_init(struct cg_ctx *c, nk_error **err)
{
	static const char *const controllers[] = {"cpuset", "memory"};
	int r = lib_init(err);
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(controllers); i++) {
		char *mnt = NULL;
		r = mount_of(controllers[i], &mnt, err);
		if (r < 0)
			break;
		/* Co-mounted controllers share one hierarchy. */
		if (c->n_hier == 1 && strcmp(c->hier[0].mount, mnt) == 0) {
			free(mnt);
			continue;
		}
		c->hier[c->n_hier].mount = mnt;
		if (!(c->hier[c->n_hier++].controller = strdup(controllers[i])))
			r = nk_error_set(err, ENOMEM, "out of memory");
	}
	return r;
}

static int v2_init(struct cg_ctx *c, nk_error **err)
{
	char *mnt = NULL;
	int r = lib_init(err);
	if (r >= 0)
		r = mount_of("cpuset", &mnt, err);
	if (r < 0)
		return r;
	c->hier[0].mount = mnt;
	c->hier[0].controller = strdup("");
	c->n_hier = 1;
	return c->hier[0].controller ? 0 : nk_error_set(err, ENOMEM, "out of memory");
}

/* What both backends do alike: libcgroup for changes, the host root for reads. */
#define LIBCGROUP_OPS                                                                              \
	.exists = lib_exists, .read = lib_read, .mkdir = lib_mkdir, .rmdir = lib_rmdir,            \
	.write = lib_write, .attach = lib_attach, .tasks = proc_tasks,                             \
	.task_paths = proc_task_paths, .get_affinity = proc_get_affinity,                          \
	.set_affinity = sys_set_affinity, .migrate = sys_migrate

const struct cg_backend cg_backend_v1 = {
    .name = "v1",
    .per_thread = true,
    .copy_parent_cpuset = true,
    .cpus_file = "cpuset.effective_cpus",
    .mems_file = "cpuset.effective_mems",
    .max_file = "memory.limit_in_bytes",
    .high_file = "memory.soft_limit_in_bytes",
    .migrate_file = "cpuset.memory_migrate",
    .init = v1_init,
    LIBCGROUP_OPS,
};

const struct cg_backend cg_backend_v2 = {
    .name = "v2",
    .subtree_control = true,
    .cpus_file = "cpuset.cpus.effective",
    .mems_file = "cpuset.mems.effective",
    .max_file = "memory.max",
    .high_file = "memory.high",
    .init = v2_init,
    LIBCGROUP_OPS,
};

static bool strv_has(char **v, const char *s)
{
	for (; v && *v; v++)
		if (strcmp(*v, s) == 0)
			return true;
	return false;
}

int cg_ctx_open(nk_host *host, struct cg_ctx *ret, nk_error **err)
{
	struct nk_hostinfo *info = NULL;
	struct cg_ctx c = {.host = host};
	int r = nk_hostinfo_read(host, &info, err);

	if (r < 0)
		return r;
	/* v1 where the controllers are v1 ones (legacy and hybrid hosts), else
	 * the unified hierarchy. */
	if (strv_has(info->cgroup_v1_controllers, "cpuset") &&
	    strv_has(info->cgroup_v1_controllers, "memory"))
		c.be = &cg_backend_v1;
	else if (strv_has(info->cgroup_v2_controllers, "cpuset") &&
		 strv_has(info->cgroup_v2_controllers, "memory"))
		c.be = &cg_backend_v2;
	nk_hostinfo_free(info);
	if (!c.be) {
		int hinted = nk_error_set(
		    err, ENOTSUP,
		    "no cgroup hierarchy offers both the cpuset and memory controllers");
		nk_error_hint(err, "'numaksm check' shows the cgroup controllers; enable "
				   "cpuset and memory");
		return hinted;
	}
	r = c.be->init(&c, err);
	if (r < 0) {
		cg_ctx_done(&c);
		return r;
	}
	*ret = c;
	return 0;
}

void cg_ctx_done(struct cg_ctx *c)
{
	for (unsigned h = 0; h < c->n_hier; h++) {
		free(c->hier[h].controller);
		free(c->hier[h].mount);
	}
	c->n_hier = 0;
}
