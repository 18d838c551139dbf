/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tuner daemon around the control law: one tuner at a time (an flock
 * on $NUMAKSM_RUNTIME_DIR/ksm-tuner.lock), the original settings saved in
 * ksm-tuner.state before the first write and restored on stop, or at the
 * next start when a tuner died without restoring them.
 */
#include "tuner-internal.h"
#include "numaksm/proc.h"
#include "numaksm/rundir.h"
#include "numaksm/cgroup.h"
#include "numaksm/vm.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/stat.h>

#define LOCK_NAME  "ksm-tuner.lock"
#define STATE_NAME "ksm-tuner.state"
/* How often the tuner looks for new mergeable processes. */
#define PROCESS_SCAN_S 5

/* The knobs the tuner drives and therefore saves and restores. */
#define DRIVEN_KNOBS                                                                               \
	(NK_KSM_BIT(NK_KSM_RUN) | NK_KSM_BIT(NK_KSM_PAGES_TO_SCAN) |                               \
	 NK_KSM_BIT(NK_KSM_SLEEP_MILLISECS) | NK_KSM_BIT(NK_KSM_ADVISOR_MODE))

/* A VM by pid and start time (a reused pid is another VM). */
struct seen_vm {
	int pid;
	uint64_t start_time;
};

struct nk_tuned {
	nk_host *host;
	nk_rundir *dir;
	int lock_fd;
	bool dry_run;
	const nk_conf *policy;
	nk_tuner *tuner;
	nk_tuner_sampler *sampler;
	struct tuner_state state;
	struct nk_tuner_sample last;
	struct seen_vm *seen; /* VMs the [vm] rules were matched against */
	size_t n_seen;
	double vms_scanned_at; /* < 0 before the first scan */
};

/* ---- the state file ----------------------------------------------- */

int tuner_state_format(const struct tuner_state *state, char **ret_text)
{
	_cleanup_free_ char *knobs = NULL;
	if (nk_ksm_format(&state->saved, &knobs) < 0)
		return -ENOMEM;
	if (asprintf(ret_text,
		     "# KSM settings the numaksm tuner changed: restored when it stops,\n"
		     "# or by 'numaksm ksm restore' after a crash.\n"
		     "pid=%d\nboot_id=%s\n%s",
		     (int)state->pid, state->boot_id, knobs) < 0)
		return -ENOMEM;
	return 0;
}

int tuner_state_parse(const char *text, struct tuner_state *ret, nk_error **err)
{
	struct tuner_state st = {0};
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
		} else if (strncmp(l, "boot_id=", 8) == 0) {
			snprintf(st.boot_id, sizeof(st.boot_id), "%s", l + 8);
		} else if (nk_ksm_parse(l, &st.saved, err) < 0) {
			return nk_error_prefix(err, "line %u", line);
		}
	}
	*ret = st;
	return 0;
}

static void read_boot_id(nk_host *host, char *buf, size_t size)
{
	_cleanup_free_ char *id = NULL;
	buf[0] = '\0';
	if (nk_host_boot_id(host, &id) >= 0)
		snprintf(buf, size, "%s", id);
}

static int state_write(nk_rundir *dir, const struct tuner_state *state, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	if (tuner_state_format(state, &text) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	return nk_rundir_write(dir, STATE_NAME, text, strlen(text), err);
}

/* 1 and the state when a tuner left one, 0 when none did. */
static int state_read(nk_rundir *dir, struct tuner_state *ret, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	int r = nk_rundir_read(dir, STATE_NAME, &text, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = tuner_state_parse(text, ret, err);
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
static int state_apply(nk_host *host, const struct tuner_state *st, nk_error **err)
{
	int r = nk_ksm_apply(host, &st->saved, NK_KSM_APPLY_UNMERGE, NULL, err);
	return r < 0 ? nk_error_prefix(err, "restoring the KSM settings") : r;
}

/* Restore what a tuner that is not running left; 1 when it did. */
static int recover(nk_host *host, nk_rundir *dir, bool dry_run, nk_error **err)
{
	struct tuner_state st;
	char boot_id[64];
	int r = state_read(dir, &st, err);
	if (r <= 0)
		return r;
	read_boot_id(host, boot_id, sizeof(boot_id));
	if (st.boot_id[0] && boot_id[0] && strcmp(st.boot_id, boot_id) != 0) {
		nk_info("%s/%s is from an earlier boot: the kernel has started afresh, "
			"nothing to restore",
			nk_rundir_path(dir), STATE_NAME);
		if (!dry_run)
			state_remove(dir);
		return 0;
	}
	_cleanup_free_ char *knobs = NULL;
	nk_ksm_format(&st.saved, &knobs);
	for (char *c = knobs; c && *c; c++)
		if (*c == '\n')
			*c = ' ';
	if (dry_run) {
		nk_info("would restore the settings tuner pid %d left: %s", (int)st.pid,
			knobs ? knobs : "");
		return 0;
	}
	r = state_apply(host, &st, err);
	if (r < 0)
		return r;
	nk_info("restored the settings tuner pid %d left without restoring them: %s", (int)st.pid,
		knobs ? knobs : "");
	state_remove(dir);
	return 1;
}

/* ---- the lock ------------------------------------------------------ */

static int read_lock_pid(int fd)
{
	char buf[24] = {0};
	long long pid = 0;
	if (pread(fd, buf, sizeof(buf) - 1, 0) > 0)
		nk_parse_int(nk_strip_newline(buf), 1, INT32_MAX, &pid, NULL);
	return (int)pid;
}

/* Take the tuner lock without waiting: -EBUSY naming the holder. */
static int lock_take(nk_rundir *dir, int *ret_fd, nk_error **err)
{
	_cleanup_close_ int fd =
	    nk_rundir_lock(dir, LOCK_NAME, NK_RUNDIR_LOCK_CREATE | NK_RUNDIR_LOCK_NONBLOCK, err);
	if (fd == -EWOULDBLOCK) {
		/* The holder wrote its pid in the file. */
		_cleanup_close_ int raw =
		    openat(nk_rundir_fd(dir), LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		nk_error_set(err, EBUSY,
			     "another numaksm tuner (or a KSM benchmark) is running: pid %d holds "
			     "%s/%s",
			     raw >= 0 ? read_lock_pid(raw) : 0, nk_rundir_path(dir), LOCK_NAME);
		return nk_error_hint(err, "stop it first (systemctl stop numaksm-tuned), or use "
					  "--dry-run to see what this one would do");
	}
	if (fd < 0)
		return fd;
	char pid[24];
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len)
		return nk_error_set(err, errno, "cannot write %s/%s: %s", nk_rundir_path(dir),
				    LOCK_NAME, strerror(errno));
	*ret_fd = TAKE_FD(fd);
	return 0;
}

_nk_export_ int nk_tuned_lock(const char *dir, nk_error **err)
{
	_cleanup_(nk_rundir_freep) nk_rundir *d = NULL;
	int fd = -1;
	int r = nk_rundir_open(dir, NK_RUNDIR_CREATE, &d, err);
	if (r >= 0)
		r = lock_take(d, &fd, err);
	return r < 0 ? r : fd;
}

_nk_export_ int nk_tuned_running(const char *dir, pid_t *ret_pid)
{
	_cleanup_(nk_rundir_freep) nk_rundir *d = NULL;
	if (nk_rundir_open(dir, 0, &d, NULL) < 0)
		return 0; /* no runtime directory (or not ours to read): no tuner of ours */
	_cleanup_close_ int fd =
	    nk_rundir_lock(d, LOCK_NAME, NK_RUNDIR_LOCK_SHARED | NK_RUNDIR_LOCK_NONBLOCK, NULL);
	if (fd != -EWOULDBLOCK)
		return 0; /* absent, or free: nobody holds it */
	_cleanup_close_ int raw =
	    openat(nk_rundir_fd(d), LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (ret_pid)
		*ret_pid = raw >= 0 ? read_lock_pid(raw) : 0;
	return 1;
}

/* ksmtuned writes the same knobs: two controllers would fight. */
static pid_t find_ksmtuned(nk_host *host)
{
	pid_t pid;
	return nk_proc_find(host, "ksmtuned", false, &pid) == 0 ? pid : 0;
}

/* ---- start, step, stop -------------------------------------------- */

static int check_rules(nk_host *host, const nk_conf *policy, nk_error **err)
{
	_cleanup_free_ char *online = NULL;
	_cleanup_bitmap_ nk_bitmap *nodes = NULL;
	if (nk_host_read(host, "/sys/devices/system/node/online", &online, NULL) < 0) {
		if (nk_host_read(host, "/sys/devices/system/node/possible", &online, NULL) < 0 &&
		    !(online = strdup("0")))
			return nk_error_set(err, ENOMEM, "out of memory");
	}
	if (nk_parse_list(online, "node list", &nodes, err) < 0)
		return nk_error_prefix(err, "/sys/devices/system/node/online");
	for (size_t i = 0; i < nk_conf_vm_count(policy); i++) {
		const struct nk_vm_rule *rule = nk_conf_vm(policy, i);
		if (!rule->nodes || nk_bitmap_is_subset(rule->nodes, nodes))
			continue;
		_cleanup_free_ char *want = NULL, *have = NULL;
		nk_bitmap_format(rule->nodes, &want);
		nk_bitmap_format(nodes, &have);
		return nk_error_set(
		    err, EINVAL, "%s:%u: [vm \"%s\"] nodes=%s, but this host's nodes are %s",
		    rule->file, rule->line, rule->glob, want ? want : "?", have ? have : "?");
	}
	return 0;
}

static void tuned_release(nk_tuned *t)
{
	nk_tuner_free(t->tuner);
	nk_tuner_sampler_free(t->sampler);
	if (t->lock_fd >= 0)
		close(t->lock_fd);
	free(t->seen);
	nk_rundir_free(t->dir);
	free(t);
}

static void tuned_freep(nk_tuned **t)
{
	if (*t)
		tuned_release(*t);
}

_nk_export_ nk_tuned *nk_tuned_free(nk_tuned *tuned)
{
	if (tuned)
		tuned_release(tuned);
	return NULL;
}

/* Save the settings, then set what the policy asks for and turn the
 * advisor off.  On failure, put back what was changed. */
static int take_over(nk_tuned *t, const struct nk_tuner_config *cfg, nk_error **err)
{
	struct nk_ksm now, want = cfg->knobs;
	int r = nk_ksm_read(t->host, DRIVEN_KNOBS | cfg->knobs.mask, &now, err);
	if (r < 0)
		return r;
	t->state.saved = now;
	/* The advisor owns pages_to_scan: switching it back on resets it. */
	if ((now.mask & NK_KSM_BIT(NK_KSM_ADVISOR_MODE)) &&
	    now.value[NK_KSM_ADVISOR_MODE] == NK_KSM_ADVISOR_SCAN_TIME)
		t->state.saved.mask &= ~NK_KSM_BIT(NK_KSM_PAGES_TO_SCAN);
	t->state.pid = getpid();
	read_boot_id(t->host, t->state.boot_id, sizeof(t->state.boot_id));
	if ((now.mask & NK_KSM_BIT(NK_KSM_ADVISOR_MODE)) &&
	    now.value[NK_KSM_ADVISOR_MODE] != NK_KSM_ADVISOR_NONE) {
		nk_info("switching the scan-time advisor off: the tuner drives pages_to_scan, "
			"which the kernel refuses while the advisor is on");
		want.value[NK_KSM_ADVISOR_MODE] = NK_KSM_ADVISOR_NONE;
		want.mask |= NK_KSM_BIT(NK_KSM_ADVISOR_MODE);
	}
	if (cfg->knobs.mask) {
		_cleanup_free_ char *text = NULL;
		nk_ksm_format(&cfg->knobs, &text);
		for (char *c = text; c && *c; c++)
			if (*c == '\n')
				*c = ' ';
		nk_info("%s the knobs the policy sets: %s", t->dry_run ? "would set" : "setting",
			text ? text : "");
	}
	if (t->dry_run)
		return nk_ksm_apply(
		    t->host, &want,
		    NK_KSM_APPLY_CHECK_ONLY | (cfg->unmerge ? NK_KSM_APPLY_UNMERGE : 0), NULL, err);
	r = state_write(t->dir, &t->state, err);
	if (r < 0)
		return r;
	r = nk_ksm_apply(t->host, &want, cfg->unmerge ? NK_KSM_APPLY_UNMERGE : 0, NULL, err);
	if (r < 0) {
		state_remove(t->dir);
		return nk_error_prefix(err, "policy knobs");
	}
	return 0;
}

_nk_export_ int nk_tuned_start(nk_host *host, const nk_conf *policy,
			       const struct nk_tuned_options *options, nk_tuned **ret,
			       nk_error **err)
{
	_cleanup_(tuned_freep) nk_tuned *t = calloc(1, sizeof(*t));
	const struct nk_tuner_config *cfg = nk_conf_tuner(policy);
	int r;

	if (!t)
		return nk_error_set(err, ENOMEM, "out of memory");
	t->host = host;
	t->policy = policy;
	t->lock_fd = -1;
	t->vms_scanned_at = -1;
	t->dry_run = options && options->dry_run;
	if (!t->dry_run && (r = nk_host_require_live(host, "run the KSM tuner", err)) < 0)
		return r;
	if ((r = nk_tuner_sampler_new(host, &t->sampler, err)) < 0 ||
	    (r = nk_tuner_new(cfg, &t->tuner, err)) < 0 || (r = check_rules(host, policy, err)) < 0)
		return r;
	pid_t other = find_ksmtuned(host);
	if (other && !t->dry_run) {
		nk_error_set(err, EBUSY, "ksmtuned (pid %d) is running and drives the same knobs",
			     (int)other);
		return nk_error_hint(err, "stop it first: systemctl disable --now ksmtuned");
	}
	if (other)
		nk_warn("ksmtuned (pid %d) is running: a real tuner would refuse to start",
			(int)other);
	/* A dry run creates nothing, not even the runtime directory. */
	const char *dir = options ? options->runtime_dir : NULL;
	_cleanup_error_ nk_error *e = NULL;
	r = nk_rundir_open(dir, t->dry_run ? 0 : NK_RUNDIR_CREATE, &t->dir, &e);
	if (r < 0 && !(t->dry_run && r == -ENOENT))
		return nk_error_forward(err, &e, r);
	if (!t->dry_run && (r = lock_take(t->dir, &t->lock_fd, err)) < 0)
		return r;
	if (t->dry_run && nk_tuned_running(dir, &other) == 1)
		nk_warn("a tuner (pid %d) is running: this dry run only shows what one would do",
			(int)other);
	if ((t->dir && (r = recover(host, t->dir, t->dry_run, err)) < 0) ||
	    (r = take_over(t, cfg, err)) < 0)
		return r;
	nk_info("tuner %s: mode %s, ksmd CPU budget %.0f%% of one CPU, %zu [vm] rule(s)%s",
		t->dry_run ? "dry run" : "started", nk_tuner_mode_name(cfg->mode),
		cfg->cpu_budget * 100, nk_conf_vm_count(policy),
		t->dry_run ? ": nothing is written" : "");
	*ret = TAKE_PTR(t);
	return 0;
}

void tuner_rule_request(const struct nk_vm_rule *rule, const char *runtime_dir,
			struct nk_cgroup_request *ret)
{
	*ret = (struct nk_cgroup_request){
	    .nodes = rule->nodes,
	    .memory_high_bytes = rule->memory_high_bytes,
	    .memory_max_bytes = rule->memory_max_bytes,
	    .migrate = true, /* its memory belongs on the rule's nodes, not only new pages */
	    .pin_vcpus = rule->cpus && strcmp(rule->cpus, "dedicated") == 0,
	    .runtime_dir = runtime_dir,
	};
}

static void place_one(nk_tuned *t, const struct nk_vm_ref *vm, const struct nk_vm_rule *rule)
{
	_cleanup_free_ char *nodes = NULL;
	_cleanup_error_ nk_error *err = NULL;
	struct nk_cgroup_request req;
	struct nk_cgroup_report *report = NULL;

	if (rule->mergeable >= 0)
		nk_info("%s (pid %d): mergeable=%s at %s:%u is the VMM's to set (QEMU: "
			"mem-merge=%s); the tuner cannot change it from outside",
			vm->name, vm->pid, rule->mergeable ? "yes" : "no", rule->file, rule->line,
			rule->mergeable ? "on" : "off");
	if (!rule->nodes) {
		nk_info("%s (pid %d) matches [vm \"%s\"] at %s:%u, which sets no nodes: not "
			"placed",
			vm->name, vm->pid, rule->glob, rule->file, rule->line);
		return;
	}
	nk_bitmap_format(rule->nodes, &nodes);
	tuner_rule_request(rule, t->dir ? nk_rundir_path(t->dir) : NULL, &req);
	if (t->dry_run) {
		nk_info("(dry run) would place %s (pid %d) by [vm \"%s\"] at %s:%u: nodes=%s "
			"cpus=%s memory_high=%" PRIu64 " memory_max=%" PRIu64,
			vm->name, vm->pid, rule->glob, rule->file, rule->line, nodes ? nodes : "?",
			rule->cpus ? rule->cpus : "-", rule->memory_high_bytes,
			rule->memory_max_bytes);
		return;
	}
	int r = nk_cgroup_place(t->host, vm, &req, &report, &err);
	if (r == -EEXIST)
		nk_info("%s (pid %d) is placed already", vm->name, vm->pid);
	else if (r < 0)
		nk_warn("cannot place %s (pid %d) by [vm \"%s\"] at %s:%u: %s", vm->name, vm->pid,
			rule->glob, rule->file, rule->line, nk_error_message(err));
	else
		nk_info("placed %s (pid %d) in %s by [vm \"%s\"] at %s:%u: nodes=%s%s", vm->name,
			vm->pid, report->group, rule->glob, rule->file, rule->line,
			nodes ? nodes : "?", req.pin_vcpus ? ", vCPUs pinned" : "");
	nk_cgroup_report_free(report);
}

/* Match VMs seen for the first time against the [vm] rules, every
 * PROCESS_SCAN_S at most. */
static void place_new(nk_tuned *t, double now)
{
	struct nk_vm_ref *vms = NULL;
	if (nk_conf_vm_count(t->policy) == 0 ||
	    (t->vms_scanned_at >= 0 && now - t->vms_scanned_at < PROCESS_SCAN_S))
		return;
	t->vms_scanned_at = now;
	int n = nk_vm_find_all(t->host, &vms, NULL);
	for (int i = 0; i < n; i++) {
		bool seen = false;
		for (size_t k = 0; k < t->n_seen && !seen; k++)
			seen = t->seen[k].pid == vms[i].pid &&
			       t->seen[k].start_time == vms[i].start_time;
		if (seen)
			continue;
		struct seen_vm *ns = realloc(t->seen, (t->n_seen + 1) * sizeof(*ns));
		if (!ns)
			break;
		t->seen = ns;
		t->seen[t->n_seen++] = (struct seen_vm){vms[i].pid, vms[i].start_time};
		const struct nk_vm_rule *rule = nk_conf_match(t->policy, vms[i].name);
		if (rule && !nk_vm_trusted(&vms[i]))
			/* Anyone can call a program qemu-system-x86_64 -name db1. */
			nk_warn("not placing %s (pid %d, uid %d) by [vm \"%s\"] at %s:%u: it is "
				"named like a VM but holds no KVM VM, is not registered and is "
				"not run by root",
				vms[i].name, vms[i].pid,
				vms[i].uid == (uid_t)-1 ? -1 : (int)vms[i].uid, rule->glob,
				rule->file, rule->line);
		else if (rule)
			place_one(t, &vms[i], rule);
	}
	nk_vm_refs_free(vms, n > 0 ? (size_t)n : 0);
}

_nk_export_ int nk_tuned_step(nk_tuned *t, struct nk_tuner_decision *ret, nk_error **err)
{
	struct nk_tuner_sample s;
	struct nk_tuner_decision d;
	int r = nk_tuner_sample_read(t->sampler, PROCESS_SCAN_S, &s, err);
	if (r < 0)
		return r;
	nk_tuner_decide(t->tuner, &s, &d);
	t->last = s;
	place_new(t, s.time_s);
	if (d.changed)
		nk_info("%s%s", t->dry_run ? "(dry run) " : "", d.reason);
	else
		nk_debug("%s", d.reason);
	if (d.changed && !t->dry_run) {
		struct nk_ksm want = {.mask = NK_KSM_BIT(NK_KSM_RUN)};
		want.value[NK_KSM_RUN] = d.run;
		if (d.run == 1) {
			want.mask |=
			    NK_KSM_BIT(NK_KSM_PAGES_TO_SCAN) | NK_KSM_BIT(NK_KSM_SLEEP_MILLISECS);
			want.value[NK_KSM_PAGES_TO_SCAN] = d.pages_to_scan;
			want.value[NK_KSM_SLEEP_MILLISECS] = d.sleep_millisecs;
		}
		if ((nk_ksm_get(&s.ksm, NK_KSM_ADVISOR_MODE) == NK_KSM_ADVISOR_SCAN_TIME)) {
			want.mask |= NK_KSM_BIT(NK_KSM_ADVISOR_MODE);
			want.value[NK_KSM_ADVISOR_MODE] = NK_KSM_ADVISOR_NONE;
		}
		r = nk_ksm_apply(t->host, &want, 0, NULL, err);
		if (r < 0)
			return r;
	}
	*ret = d;
	return 0;
}

_nk_export_ const struct nk_tuner_sample *nk_tuned_sample(const nk_tuned *tuned)
{
	return &tuned->last;
}

_nk_export_ int nk_tuned_stop(nk_tuned *t, nk_error **err)
{
	if (t->dry_run)
		return 0;
	int r = state_apply(t->host, &t->state, err);
	if (r < 0)
		return r;
	state_remove(t->dir);
	nk_info("tuner stopped: KSM settings restored");
	return 0;
}

_nk_export_ int nk_tuned_restore(nk_host *host, const char *dir, nk_error **err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_(nk_rundir_freep) nk_rundir *d = NULL;
	int r = nk_host_require_live(host, "restore KSM settings", err);
	if (r >= 0)
		r = nk_rundir_open(dir, NK_RUNDIR_CREATE, &d, err);
	/* Hold the lock while restoring, so no tuner starts meanwhile. */
	if (r >= 0)
		r = lock_take(d, &fd, err);
	if (r < 0)
		return r;
	return recover(host, d, false, err);
}
