/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One program at a time changes KSM's knobs on a host: the tuner, a KSM
 * benchmark, `numaksm ksm set`, a test.  It holds an flock on
 * NK_KSM_OWNER_DIR/ksm.lock and, before its first write, saves the knobs it
 * may change in ksm.state; it puts them back when it ends (or on SIGTERM,
 * SIGINT, SIGHUP), and whoever takes the lock next, or `numaksm ksm
 * restore`, puts them back when it could not (SIGKILL, a crash).
 *
 * The place is fixed, whatever runtime directory a program was given: KSM's
 * knobs are host-wide, and two tuners with two runtime directories would
 * each have saved the other's settings as the originals.
 *
 * The lock is a POSIX record lock, the process's own: a benchmark's forked
 * workers do not keep it held once the benchmark lets it go (an flock is
 * shared with every child that inherits the descriptor).  Such a lock goes
 * when the process closes any descriptor of the file, so the owner never
 * opens it again: it answers questions about itself from `self`.
 */
#include "ksm-internal.h"
#include "numaksm/rundir.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>

#define LOCK_NAME  "ksm.lock"
#define STATE_NAME "ksm.state"

struct nk_ksm_owner {
	nk_host *host;
	nk_rundir *dir;
	int lock_fd;
	struct ksm_state state;
	bool has_state; /* ksm.state written: the knobs are to be restored */
};

/* The owner this process is, if any (one at a time). */
static nk_ksm_owner *self;

/* ---- the state file --------------------------------------------------- */

int ksm_state_format(const struct ksm_state *state, char **ret_text)
{
	_cleanup_free_ char *knobs = NULL;
	if (nk_ksm_format(&state->saved, &knobs) < 0)
		return -ENOMEM;
	if (asprintf(ret_text,
		     "# KSM settings %s (PID %d) found and may change: restored when it\n"
		     "# ends, or by 'numaksm ksm restore' (or the next owner) when it could not.\n"
		     "pid=%d\nprogram=%s\nboot_id=%s\n%s",
		     state->program, (int)state->pid, (int)state->pid, state->program,
		     state->boot_id, knobs) < 0)
		return -ENOMEM;
	return 0;
}

int ksm_state_parse(const char *text, struct ksm_state *ret, nk_error **err)
{
	struct ksm_state st = {0};
	_cleanup_free_ char *copy = strdup(text);
	unsigned line = 0;
	if (!copy)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		line++;
		long long pid;
		if (*l == '#')
			continue;
		if (strncmp(l, "pid=", 4) == 0) {
			if (nk_parse_int(l + 4, 1, INT32_MAX, &pid, NULL) < 0)
				return nk_error_set(err, EINVAL, "line %u: invalid pid", line);
			st.pid = (pid_t)pid;
		} else if (strncmp(l, "program=", 8) == 0) {
			snprintf(st.program, sizeof(st.program), "%s", l + 8);
		} else if (strncmp(l, "boot_id=", 8) == 0) {
			snprintf(st.boot_id, sizeof(st.boot_id), "%s", l + 8);
		} else if (nk_ksm_parse(l, &st.saved, err) < 0) {
			return nk_error_prefix(err, "line %u", line);
		}
	}
	if (!st.pid)
		return nk_error_set(err, EINVAL, "no pid= line");
	*ret = st;
	return 0;
}

static void boot_id_of(nk_host *host, char *buf, size_t size)
{
	_cleanup_free_ char *id = NULL;
	buf[0] = '\0';
	if (nk_host_boot_id(host, &id) >= 0)
		snprintf(buf, size, "%s", id);
}

static int state_write(nk_rundir *dir, const struct ksm_state *state, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	if (ksm_state_format(state, &text) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	return nk_rundir_write(dir, STATE_NAME, text, strlen(text), err);
}

/* 1 and the state when a program left one, 0 when none did. */
static int state_read(nk_rundir *dir, struct ksm_state *ret, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	int r = nk_rundir_read(dir, STATE_NAME, &text, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = ksm_state_parse(text, ret, err);
	if (r < 0)
		return nk_error_prefix(err, "%s/%s", nk_rundir_path(dir), STATE_NAME);
	return 1;
}

static void state_remove(nk_rundir *dir)
{
	int r = nk_rundir_remove(dir, STATE_NAME);
	if (r < 0)
		nk_warn("cannot remove %s/%s: %s", nk_rundir_path(dir), STATE_NAME, strerror(-r));
}

/* Put the saved knobs back.  Those that needed an unmerge to change need
 * one to change back. */
static int state_apply(nk_host *host, const struct ksm_state *st, nk_error **err)
{
	int r = nk_ksm_apply(host, &st->saved, NK_KSM_APPLY_UNMERGE, NULL, err);
	return r < 0 ? nk_error_prefix(err, "restoring the KSM settings") : r;
}

static char *knobs_line(const struct nk_ksm *k)
{
	char *text = NULL;
	nk_ksm_format(k, &text);
	for (char *c = text; c && *c; c++)
		if (*c == '\n')
			*c = ' ';
	if (text) {
		size_t n = strlen(text);
		if (n && text[n - 1] == ' ')
			text[n - 1] = '\0';
	}
	return text;
}

/* Restore what an owner that is gone left; 1 when it did.  `dry_run`:
 * only say what would be restored. */
static int recover(nk_host *host, nk_rundir *dir, bool dry_run, nk_error **err)
{
	struct ksm_state st;
	char boot_id[64];
	int r = state_read(dir, &st, err);
	if (r <= 0)
		return r;
	boot_id_of(host, boot_id, sizeof(boot_id));
	if (st.boot_id[0] && boot_id[0] && strcmp(st.boot_id, boot_id) != 0) {
		nk_info("%s/%s is from an earlier boot: the kernel has started afresh, "
			"nothing to restore",
			nk_rundir_path(dir), STATE_NAME);
		if (!dry_run)
			state_remove(dir);
		return 0;
	}
	_cleanup_free_ char *knobs = knobs_line(&st.saved);
	const char *who = st.program[0] ? st.program : "a numaksm program";
	if (dry_run) {
		nk_info("would restore the settings %s (PID %d) left: %s", who, (int)st.pid,
			knobs ? knobs : "");
		return 0;
	}
	r = state_apply(host, &st, err);
	if (r < 0)
		return r;
	nk_info("restored the settings %s (PID %d) left without restoring them: %s", who,
		(int)st.pid, knobs ? knobs : "");
	state_remove(dir);
	return 1;
}

/* ---- the lock ------------------------------------------------------------ */

/* The holder's program, from the lock file ("PID PROGRAM\n"). */
static void read_program(int fd, char *program, size_t size)
{
	char buf[96] = {0};
	char *space = NULL;
	if (pread(fd, buf, sizeof(buf) - 1, 0) > 0) {
		nk_strip_newline(buf);
		space = strchr(buf, ' ');
	}
	snprintf(program, size, "%s", space && space[1] ? space + 1 : "?");
}

/* Who holds the lock of `dir`, found without taking it (F_GETLK): 1 with
 * its pid, 0 when nobody does. */
static int holder_of(nk_rundir *dir, pid_t *ret_pid, char *program, size_t size)
{
	_cleanup_close_ int fd =
	    openat(nk_rundir_fd(dir), LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fcntl(fd, F_GETLK, &lk) < 0 ||
	    lk.l_type == F_UNLCK)
		return 0;
	if (ret_pid)
		*ret_pid = lk.l_pid;
	if (program)
		read_program(fd, program, size);
	return 1;
}

static const char *dir_of(const char *dir)
{
	return dir ? dir : NK_KSM_OWNER_DIR;
}

_nk_export_ int nk_ksm_holder(const char *dir, pid_t *ret_pid, char *program, size_t size)
{
	_cleanup_(nk_rundir_freep) nk_rundir *d = NULL;
	if (self && strcmp(nk_rundir_path(self->dir), dir_of(dir)) == 0) {
		if (ret_pid)
			*ret_pid = getpid();
		if (program)
			snprintf(program, size, "%s", self->state.program);
		return 1;
	}
	if (nk_rundir_open(dir_of(dir), 0, &d, NULL) < 0)
		return 0; /* none yet (or not ours to read): nobody holds it */
	return holder_of(d, ret_pid, program, size);
}

/* Take the lock without waiting: -EBUSY naming the holder. */
static int lock_take(nk_rundir *dir, const char *program, int *ret_fd, nk_error **err)
{
	if (self) {
		nk_error_set(err, EBUSY, "this process owns KSM's knobs already, as %s",
			     self->state.program);
		return nk_error_hint(err, "release them first (nk_ksm_owner_release())");
	}
	_cleanup_close_ int fd = nk_rundir_lock(
	    dir, LOCK_NAME,
	    NK_RUNDIR_LOCK_CREATE | NK_RUNDIR_LOCK_NONBLOCK | NK_RUNDIR_LOCK_PROCESS, err);
	if (fd == -EWOULDBLOCK) {
		char holder[64] = "?";
		pid_t pid = 0;
		holder_of(dir, &pid, holder, sizeof(holder));
		nk_error_set(err, EBUSY,
			     "KSM's knobs are another program's now: %s (PID %d) holds %s/%s",
			     holder, (int)pid, nk_rundir_path(dir), LOCK_NAME);
		return nk_error_hint(err, "one program at a time changes KSM: stop it first "
					  "(the tuner: systemctl stop numaksm-tuned), or wait");
	}
	if (fd < 0)
		return fd;
	char line[96];
	int len = snprintf(line, sizeof(line), "%d %s\n", (int)getpid(), program);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)len, 0) != len)
		return nk_error_set(err, errno, "cannot write %s/%s: %s", nk_rundir_path(dir),
				    LOCK_NAME, strerror(errno));
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* ---- restoring on a signal -------------------------------------------- */

/* What a signal handler writes to put the knobs back: precomputed, so the
 * handler only open()s, write()s and unlink()s (async-signal-safe). */
struct signal_write {
	char path[96];
	char value[24];
};
static struct signal_plan {
	struct signal_write writes[NK_KSM_KNOB_COUNT + 2];
	size_t n;
	int dir_fd;
	volatile sig_atomic_t armed;
} signal_plan = {.dir_fd = -1};

static void plan_add(struct signal_plan *p, enum nk_ksm_field f, uint64_t value)
{
	struct signal_write *w = &p->writes[p->n++];
	char buf[24];
	snprintf(w->path, sizeof(w->path), KSM_SYSFS "/%s", nk_ksm_field(f)->name);
	snprintf(w->value, sizeof(w->value), "%s", nk_ksm_format_value(f, value, buf));
}

/* The knobs in an order the kernel takes: the advisor before
 * pages_to_scan, knobs that need no shared pages inside an unmerge, run
 * last. */
static void plan_compute(struct signal_plan *p, const struct nk_ksm *saved)
{
	bool unshare = false;
	p->n = 0;
	if (nk_ksm_has(saved, NK_KSM_ADVISOR_MODE))
		plan_add(p, NK_KSM_ADVISOR_MODE, nk_ksm_get(saved, NK_KSM_ADVISOR_MODE));
	for (int f = 0; f < NK_KSM_KNOB_COUNT; f++) {
		if (f == NK_KSM_RUN || f == NK_KSM_ADVISOR_MODE || !nk_ksm_has(saved, f))
			continue;
		if (nk_ksm_field(f)->needs_unshared)
			unshare = true;
		else
			plan_add(p, f, nk_ksm_get(saved, f));
	}
	if (unshare) {
		plan_add(p, NK_KSM_RUN, 2);
		for (int f = 0; f < NK_KSM_KNOB_COUNT; f++)
			if (nk_ksm_field(f)->needs_unshared && nk_ksm_has(saved, f))
				plan_add(p, f, nk_ksm_get(saved, f));
	}
	if (nk_ksm_has(saved, NK_KSM_RUN))
		plan_add(p, NK_KSM_RUN, nk_ksm_get(saved, NK_KSM_RUN));
	else if (unshare)
		plan_add(p, NK_KSM_RUN, 1);
}

static void on_stop_signal(int sig)
{
	int saved_errno = errno;
	if (signal_plan.armed) {
		for (size_t i = 0; i < signal_plan.n; i++) {
			int fd = open(signal_plan.writes[i].path, O_WRONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			ssize_t n = write(fd, signal_plan.writes[i].value,
					  strlen(signal_plan.writes[i].value));
			(void)n;
			close(fd);
		}
		if (signal_plan.dir_fd >= 0)
			unlinkat(signal_plan.dir_fd, STATE_NAME, 0);
	}
	errno = saved_errno;
	signal(sig, SIG_DFL);
	raise(sig);
}

static void signals_block(sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, old);
}

/* Refresh the plan from the owner's saved knobs, signals held off. */
static void signals_update(const nk_ksm_owner *o)
{
	sigset_t old;
	if (!signal_plan.armed)
		return;
	signals_block(&old);
	plan_compute(&signal_plan, &o->state.saved);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

_nk_export_ int nk_ksm_owner_restore_on_signals(nk_ksm_owner *o)
{
	struct sigaction sa = {.sa_handler = on_stop_signal};
	sigset_t old;
	signals_block(&old);
	plan_compute(&signal_plan, &o->state.saved);
	signal_plan.dir_fd = nk_rundir_fd(o->dir);
	signal_plan.armed = 1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
}

static void signals_disarm(const nk_ksm_owner *o)
{
	sigset_t old;
	if (!signal_plan.armed || !o->dir || signal_plan.dir_fd != nk_rundir_fd(o->dir))
		return;
	signals_block(&old);
	signal_plan.armed = 0;
	signal_plan.dir_fd = -1;
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* ---- owning ---------------------------------------------------------------- */

static void owner_release(nk_ksm_owner *o)
{
	if (self == o)
		self = NULL;
	signals_disarm(o);
	if (o->lock_fd >= 0)
		close(o->lock_fd);
	nk_rundir_free(o->dir);
	free(o);
}

static void owner_freep(nk_ksm_owner **o)
{
	if (*o)
		owner_release(*o);
}

_nk_export_ int nk_ksm_own(nk_host *host, const char *dir, const char *program, uint64_t mask,
			   nk_ksm_owner **ret, nk_error **err)
{
	_cleanup_(owner_freep) nk_ksm_owner *o = calloc(1, sizeof(*o));
	int r;

	if (!o)
		return nk_error_set(err, ENOMEM, "out of memory");
	o->host = host;
	o->lock_fd = -1;
	if ((r = nk_host_require_live(host, "change KSM's knobs", err)) < 0 ||
	    (r = nk_rundir_open(dir_of(dir), NK_RUNDIR_CREATE, &o->dir, err)) < 0 ||
	    (r = lock_take(o->dir, program, &o->lock_fd, err)) < 0)
		return r;
	/* Whatever an owner killed before it could restore left, first. */
	if ((r = recover(host, o->dir, false, err)) < 0)
		return r;
	o->state.pid = getpid();
	snprintf(o->state.program, sizeof(o->state.program), "%s", program);
	boot_id_of(host, o->state.boot_id, sizeof(o->state.boot_id));
	self = o;
	if (mask && (r = nk_ksm_owner_save(o, mask, err)) < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

_nk_export_ int nk_ksm_owner_save(nk_ksm_owner *o, uint64_t mask, nk_error **err)
{
	struct nk_ksm now;
	uint64_t missing = mask & NK_KSM_KNOBS & ~o->state.saved.mask;
	if (!missing && o->has_state)
		return 0;
	int r = nk_ksm_read(o->host, missing, &now, err);
	if (r < 0)
		return r;
	/* The advisor owns pages_to_scan: switching it back on resets it. */
	const struct nk_ksm *mode =
	    nk_ksm_has(&o->state.saved, NK_KSM_ADVISOR_MODE) ? &o->state.saved : &now;
	bool advisor = nk_ksm_get(mode, NK_KSM_ADVISOR_MODE) == NK_KSM_ADVISOR_SCAN_TIME;
	for (int f = 0; f < NK_KSM_KNOB_COUNT; f++)
		if (nk_ksm_has(&now, f) && !(advisor && f == NK_KSM_PAGES_TO_SCAN))
			nk_ksm_set(&o->state.saved, f, nk_ksm_get(&now, f));
	/* Saved on disk before any write, so no write outlives the program. */
	r = state_write(o->dir, &o->state, err);
	if (r < 0)
		return r;
	o->has_state = true;
	signals_update(o);
	return 0;
}

_nk_export_ int nk_ksm_owner_save_as(nk_ksm_owner *o, const struct nk_ksm *values, nk_error **err)
{
	for (int f = 0; f < NK_KSM_KNOB_COUNT; f++)
		if (nk_ksm_has(values, f) && !nk_ksm_has(&o->state.saved, f))
			nk_ksm_set(&o->state.saved, f, nk_ksm_get(values, f));
	int r = state_write(o->dir, &o->state, err);
	if (r < 0)
		return r;
	o->has_state = true;
	signals_update(o);
	return 0;
}

_nk_export_ const struct nk_ksm *nk_ksm_owner_saved(const nk_ksm_owner *o)
{
	return &o->state.saved;
}

_nk_export_ int nk_ksm_owner_release(nk_ksm_owner *o, bool restore, nk_error **err)
{
	int r = 0;
	if (!o)
		return 0;
	if (o->has_state && restore)
		r = state_apply(o->host, &o->state, err);
	/* A failed restore keeps the state for 'numaksm ksm restore'. */
	if (o->has_state && r >= 0)
		state_remove(o->dir);
	owner_release(o);
	return r < 0 ? r : 0;
}

_nk_export_ nk_ksm_owner *nk_ksm_owner_free(nk_ksm_owner *o)
{
	if (o)
		owner_release(o);
	return NULL;
}

_nk_export_ int nk_ksm_left(nk_host *host, const char *dir, bool restore, nk_error **err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_(nk_rundir_freep) nk_rundir *d = NULL;
	int r;

	if (!restore) {
		/* Only say what would be restored: nothing is created. */
		r = nk_rundir_open(dir_of(dir), 0, &d, NULL);
		return r < 0 ? 0 : recover(host, d, true, err);
	}
	if ((r = nk_host_require_live(host, "restore KSM settings", err)) < 0 ||
	    (r = nk_rundir_open(dir_of(dir), NK_RUNDIR_CREATE, &d, err)) < 0)
		return r;
	/* Held while restoring, so that no owner starts meanwhile. */
	if ((r = lock_take(d, "numaksm ksm restore", &fd, err)) < 0)
		return r;
	return recover(host, d, false, err);
}
