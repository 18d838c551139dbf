/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tuner daemon around the control law.  It owns KSM's knobs as any
 * program that changes them does (nk_ksm_own(): one owner per host, the
 * knobs it drives saved before its first write and restored on stop, or by
 * the next owner when it died without restoring them).
 */
#include "tuner-internal.h"
#include "numaksm/proc.h"
#include "numaksm/rundir.h"
#include "numaksm/cgroup.h"
#include "numaksm/vm.h"
#include "numaksm/vmm.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <signal.h>

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

/* A placement running in a process of its own: migrating a VM's pages can
 * take minutes, and the tuner must answer SIGTERM (and restore KSM) now. */
struct placing {
	pid_t pid; /* the worker */
	char name[64];
};
#define MAX_PLACING 16
/* How long a stopping tuner waits for placements after restoring KSM. */
#define PLACING_WAIT_S 20

struct nk_tuned {
	nk_host *host;
	nk_ksm_owner *owner; /* NULL in a dry run */
	const char *runtime_dir;
	bool dry_run;
	const nk_conf *policy;
	nk_tuner *tuner;
	nk_tuner_sampler *sampler;
	struct nk_tuner_sample last;
	struct seen_vm *seen; /* VMs the [vm] rules were matched against */
	nk_vm_cache *finder;  /* who each VM process is, kept between scans */
	size_t n_seen;
	struct placing placing[MAX_PLACING];
	size_t n_placing;
	double vms_scanned_at; /* < 0 before the first scan */
	/* The tenant guard (nk_tenant_guard_decide()), when rules name tenants. */
	double tenants_at; /* < 0 before the first look */
	bool tenant_stop;  /* KSM must not run */
	char tenant_reason[512];
	/* The knobs the tuner wrote last; another program changing one of them
	 * (virsh node-memory-tune, ksmtuned, a script) holds the tuner's writes
	 * until hold_until. */
	struct nk_ksm written;
	double hold_until;
};

#define OUTSIDE_HOLD_S 60

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
	nk_ksm_owner_free(t->owner); /* the saved knobs stay for the next owner */
	free(t->seen);
	nk_vm_cache_free(t->finder);
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
	int r = nk_ksm_read(t->host, NK_KSM_BIT(NK_KSM_ADVISOR_MODE), &now, err);
	if (r < 0)
		return r;
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
	r = nk_ksm_owner_save(t->owner, DRIVEN_KNOBS | want.mask, err);
	if (r < 0)
		return r;
	r = nk_ksm_apply(t->host, &want, cfg->unmerge ? NK_KSM_APPLY_UNMERGE : 0, NULL, err);
	return r < 0 ? nk_error_prefix(err, "policy knobs") : 0;
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
	t->vms_scanned_at = -1;
	t->tenants_at = -1;
	t->dry_run = options && options->dry_run;
	if (!t->dry_run && (r = nk_host_require_live(host, "run the KSM tuner", err)) < 0)
		return r;
	if ((r = nk_tuner_sampler_new(host, &t->sampler, err)) < 0 ||
	    (r = nk_tuner_new(cfg, &t->tuner, err)) < 0 || (r = check_rules(host, policy, err)) < 0)
		return r;
	pid_t other = find_ksmtuned(host);
	if (other && !t->dry_run) {
		nk_error_set(err, EBUSY, "ksmtuned (PID %d) is running and drives the same knobs",
			     (int)other);
		return nk_error_hint(err, "stop it first: systemctl disable --now ksmtuned");
	}
	if (other)
		nk_warn("ksmtuned (PID %d) is running: a real tuner would refuse to start",
			(int)other);
	t->runtime_dir = options ? options->runtime_dir : NULL;
	/* A dry run creates and locks nothing. */
	char holder[48];
	if (t->dry_run && nk_ksm_holder(NULL, &other, holder, sizeof(holder)) == 1)
		nk_warn("%s (PID %d) owns KSM's knobs: this dry run only shows what a tuner "
			"would do",
			holder, (int)other);
	if (t->dry_run)
		r = nk_ksm_left(host, NULL, false, err);
	else
		r = nk_ksm_own(host, NULL, "numaksm tuned", 0, &t->owner, err);
	if (r < 0 || (r = take_over(t, cfg, err)) < 0)
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
		nk_info("%s (PID %d): mergeable=%s at %s:%u is the VMM's to set (QEMU: "
			"mem-merge=%s); the tuner cannot change it from outside",
			vm->name, vm->pid, rule->mergeable ? "yes" : "no", rule->file, rule->line,
			rule->mergeable ? "on" : "off");
	if (!rule->nodes) {
		nk_info("%s (PID %d) matches [vm \"%s\"] at %s:%u, which sets no nodes: not "
			"placed",
			vm->name, vm->pid, rule->glob, rule->file, rule->line);
		return;
	}
	nk_bitmap_format(rule->nodes, &nodes);
	tuner_rule_request(rule, t->runtime_dir, &req);
	if (t->dry_run) {
		nk_info("(dry run) would place %s (PID %d) by [vm \"%s\"] at %s:%u: nodes=%s "
			"cpus=%s memory_high=%" PRIu64 " memory_max=%" PRIu64,
			vm->name, vm->pid, rule->glob, rule->file, rule->line, nodes ? nodes : "?",
			rule->cpus ? rule->cpus : "-", rule->memory_high_bytes,
			rule->memory_max_bytes);
		return;
	}
	if (t->n_placing == MAX_PLACING) {
		nk_warn("not placing %s (PID %d) now: %d placements are running", vm->name, vm->pid,
			MAX_PLACING);
		return;
	}
	/* The placement runs in a worker: the tuner goes on tuning and answers
	 * SIGTERM at once.  The worker logs for itself, and holds none of the
	 * tuner's locks (KSM's is the tuner's process's own). */
	pid_t pid = fork();
	if (pid < 0) {
		nk_warn("cannot place %s (PID %d): fork: %s", vm->name, vm->pid, strerror(errno));
		return;
	}
	if (pid > 0) {
		struct placing *p = &t->placing[t->n_placing++];
		p->pid = pid;
		snprintf(p->name, sizeof(p->name), "%s", vm->name);
		return;
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	const char *delay = getenv("NUMAKSM_TEST_PLACE_DELAY_S"); /* for the stop test */
	if (delay)
		sleep((unsigned)atoi(delay));
	int r = nk_cgroup_place(t->host, vm, &req, &report, &err);
	if (r == -EEXIST)
		nk_info("%s (PID %d) is placed already", vm->name, vm->pid);
	else if (r < 0)
		nk_warn("cannot place %s (PID %d) by [vm \"%s\"] at %s:%u: %s", vm->name, vm->pid,
			rule->glob, rule->file, rule->line, nk_error_message(err));
	else
		nk_info("placed %s (PID %d) in %s by [vm \"%s\"] at %s:%u: nodes=%s%s", vm->name,
			vm->pid, report->group, rule->glob, rule->file, rule->line,
			nodes ? nodes : "?", req.pin_vcpus ? ", vCPUs pinned" : "");
	nk_cgroup_report_free(report);
	_exit(r < 0 && r != -EEXIST ? 1 : 0);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Collect the placement workers that ended; with `wait_s` > 0, wait that
 * long at most for the others. */
static void reap_placing(nk_tuned *t, double wait_s)
{
	double end = now_s() + wait_s;
	for (;;) {
		for (size_t i = 0; i < t->n_placing;) {
			if (waitpid(t->placing[i].pid, NULL, WNOHANG) == 0) {
				i++;
				continue;
			}
			t->placing[i] = t->placing[--t->n_placing];
		}
		if (!t->n_placing || now_s() >= end)
			break;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
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
	if (!t->finder)
		t->finder = nk_vm_cache_new(); /* without it, every process is read */
	int n = nk_vm_find_cached(t->host, t->finder, &vms, NULL);
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
			nk_warn("not placing %s (PID %d, uid %d) by [vm \"%s\"] at %s:%u: it is "
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

static bool policy_has_tenants(const nk_conf *policy)
{
	for (size_t i = 0; i < nk_conf_vm_count(policy); i++)
		if (nk_conf_vm(policy, i)->tenant)
			return true;
	return false;
}

/* The nodes VM `info`'s pages can be on: those its cpuset allows, and those
 * holding its pages now.  NULL: any. */
static nk_bitmap *tenant_nodes(const struct nk_vm_info *info, unsigned *n_nodes)
{
	if (!info->mems_allowed)
		return NULL;
	nk_bitmap *b = nk_bitmap_new();
	for (int n = b ? nk_bitmap_next(info->mems_allowed, 0) : -1; n >= 0;
	     n = nk_bitmap_next(info->mems_allowed, (unsigned)n + 1))
		nk_bitmap_set(b, (unsigned)n);
	for (size_t n = 0; b && info->has_placement && n < info->placement.n_node_bytes; n++)
		if (info->placement.node_bytes[n])
			nk_bitmap_set(b, (unsigned)n);
	int last = b ? nk_bitmap_last(b) : -1;
	if (last >= 0 && (unsigned)last + 1 > *n_nodes)
		*n_nodes = (unsigned)last + 1;
	return b;
}

/* Turn merging off where the guard says; false when one could not be. */
static bool tenant_unmerge(nk_tuned *t, const struct nk_vm_ref *ref, const char *tenant)
{
	_cleanup_error_ nk_error *e = NULL;
	if (t->dry_run) {
		nk_info("(dry run) tenants: would turn merging off in VM %s (tenant %s)", ref->name,
			tenant ? tenant : "of its own");
		return true;
	}
	int r = nk_vmm_set_mergeable(t->runtime_dir, ref->name, false, &e);
	if (r < 0) {
		nk_warn("tenants: cannot turn merging off in VM %s: %s", ref->name,
			nk_error_message(e));
		return false;
	}
	nk_info("tenants: merging turned off in VM %s (tenant %s): %d zone(s) unmerged", ref->name,
		tenant ? tenant : "of its own", r);
	return true;
}

/* Every PROCESS_SCAN_S: the trusted VMs' tenants, mergeable memory and
 * nodes, the guard's decision, and its unmerges.  A VM that cannot be read
 * counts as merging on every node, so it is never missed. */
static void guard_tenants(nk_tuned *t, const struct nk_tuner_sample *s)
{
	if (!policy_has_tenants(t->policy)) {
		t->tenant_stop = false;
		return;
	}
	if (t->tenants_at >= 0 && s->time_s - t->tenants_at < PROCESS_SCAN_S)
		return;
	t->tenants_at = s->time_s;
	if (!t->finder)
		t->finder = nk_vm_cache_new();
	struct nk_vm_ref *refs = NULL;
	int n = nk_vm_find_cached(t->host, t->finder, &refs, NULL);
	size_t nv = n > 0 ? (size_t)n : 0;
	struct nk_tenant_vm *vms = calloc(nv ? nv : 1, sizeof(*vms));
	nk_bitmap **nodes = calloc(nv ? nv : 1, sizeof(*nodes));
	unsigned n_nodes = 1;
	bool across = !nk_ksm_has(&s->ksm, NK_KSM_MERGE_ACROSS_NODES) ||
		      nk_ksm_get(&s->ksm, NK_KSM_MERGE_ACROSS_NODES) != 0;
	size_t k = 0;
	for (size_t i = 0; vms && nodes && i < nv; i++) {
		if (!nk_vm_trusted(&refs[i]))
			continue; /* not a VM the rules speak of */
		struct nk_vm_info *info = NULL;
		const struct nk_vm_rule *rule = nk_conf_match(t->policy, refs[i].name);
		vms[k] = (struct nk_tenant_vm){
		    .name = refs[i].name,
		    .tenant = rule ? rule->tenant : NULL,
		    .mergeable_bytes = 1,
		    .can_unmerge = refs[i].kind == NK_VM_NUMAKSM,
		};
		int r = nk_vm_read(t->host, &refs[i], NULL, 0, &info, NULL);
		if (r == -ESRCH)
			continue; /* it ended */
		if (r == 0) {
			vms[k].mergeable_bytes = info->mergeable_bytes;
			nodes[k] = tenant_nodes(info, &n_nodes);
			vms[k].nodes = nodes[k];
			nk_vm_info_free(info);
		}
		if (k != i) { /* keep refs[] and vms[] in step */
			struct nk_vm_ref tmp = refs[k];
			refs[k] = refs[i];
			refs[i] = tmp;
		}
		k++;
	}
	struct nk_tenant_guard g = {0};
	bool stop = true;
	if (vms && nodes && nk_tenant_guard_decide(vms, k, across, n_nodes, &g) == 0) {
		stop = g.method == NK_TENANT_STOP;
		for (size_t i = 0; !stop && i < k; i++)
			if (g.unmerge[i] && !tenant_unmerge(t, &refs[i], vms[i].tenant))
				stop = true;
		if (strcmp(g.reason, t->tenant_reason) || stop != t->tenant_stop)
			nk_info("tenants: %s: %s%s", nk_tenant_method_name(g.method), g.reason,
				stop && g.method != NK_TENANT_STOP
				    ? "; an unmerge failed: KSM must not run"
				    : "");
		snprintf(t->tenant_reason, sizeof(t->tenant_reason), "%s", g.reason);
	} else {
		nk_warn("tenants: out of memory: KSM must not run");
	}
	t->tenant_stop = stop;
	nk_tenant_guard_done(&g);
	for (size_t i = 0; nodes && i < k; i++)
		nk_bitmap_free(nodes[i]);
	free(nodes);
	free(vms);
	nk_vm_refs_free(refs, nv);
}

/* A knob the tuner wrote that now reads otherwise: another program wrote
 * it.  Say so, and leave KSM's knobs alone for OUTSIDE_HOLD_S rather than
 * fight over them. */
static void notice_outside_writes(nk_tuned *t, const struct nk_tuner_sample *s)
{
	char list[256] = "";
	size_t len = 0;
	for (unsigned f = 0; f < NK_KSM_FIELD_COUNT; f++) {
		if (!nk_ksm_has(&t->written, (enum nk_ksm_field)f) ||
		    !nk_ksm_has(&s->ksm, (enum nk_ksm_field)f) ||
		    nk_ksm_get(&s->ksm, (enum nk_ksm_field)f) == t->written.value[f])
			continue;
		int n = snprintf(list + len, sizeof(list) - len,
				 "%s%s is %" PRIu64 ", not the %" PRIu64 " it wrote",
				 len ? "; " : "", nk_ksm_field((enum nk_ksm_field)f)->name,
				 nk_ksm_get(&s->ksm, (enum nk_ksm_field)f), t->written.value[f]);
		if (n > 0 && (size_t)n < sizeof(list) - len)
			len += (size_t)n;
	}
	if (!len)
		return;
	t->written.mask = 0;
	t->hold_until = s->time_s + OUTSIDE_HOLD_S;
	nk_warn(
	    "KSM's knobs changed outside the tuner: %s. Another program writes them "
	    "(virsh node-memory-tune, ksmtuned, a script): the tuner leaves them alone for %d s "
	    "rather than fight; stop the other program, or the tuner",
	    list, OUTSIDE_HOLD_S);
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
	reap_placing(t, 0);
	place_new(t, s.time_s);
	guard_tenants(t, &s);
	notice_outside_writes(t, &s);
	if (t->tenant_stop) {
		/* run=2 unmerges every page and merges none until the tenants are
		 * apart again. */
		uint64_t run = nk_ksm_get(&s.ksm, NK_KSM_RUN);
		d.phase = NK_TUNER_STOPPED;
		d.changed = run != 2;
		d.run = 2;
		snprintf(d.reason, sizeof(d.reason),
			 "tenants: KSM stopped and unmerged (run=2): %.*s",
			 (int)sizeof(d.reason) - 64, t->tenant_reason);
	}
	/* Held after an outside write; the tenants' guarantee is not. */
	bool held = s.time_s < t->hold_until && !t->tenant_stop;
	if (held)
		d.changed = false;
	if (d.changed)
		nk_info("%s%s", t->dry_run ? "(dry run) " : "", d.reason);
	else
		nk_debug("%s%s", held ? "(held: another program writes the knobs) " : "", d.reason);
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
		t->written = want;
	}
	*ret = d;
	return 0;
}

_nk_export_ int nk_tuned_reload(nk_tuned *t, const nk_conf *policy, nk_error **err)
{
	const struct nk_tuner_config *cfg = nk_conf_tuner(policy);
	nk_tuner *tuner = NULL;
	int r = check_rules(t->host, policy, err);
	if (r >= 0)
		r = nk_tuner_new(cfg, &tuner, err);
	if (r < 0)
		return r;
	const nk_conf *old = t->policy;
	t->policy = policy;
	r = take_over(t, cfg, err);
	if (r < 0) {
		t->policy = old;
		nk_tuner_free(tuner);
		return r;
	}
	nk_tuner_free(t->tuner);
	t->tuner = tuner;
	/* Running VMs are matched against the new rules at the next round. */
	t->n_seen = 0;
	t->vms_scanned_at = -1;
	t->tenants_at = -1;
	nk_info("policy reloaded: mode %s, ksmd CPU budget %.0f%% of one CPU, %zu [vm] rule(s)",
		nk_tuner_mode_name(cfg->mode), cfg->cpu_budget * 100, nk_conf_vm_count(policy));
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
	/* KSM first, whatever placements are still running. */
	int r = nk_ksm_owner_release(t->owner, true, err);
	t->owner = NULL;
	if (r >= 0)
		nk_info("tuner stopped: KSM settings restored");
	if (t->n_placing) {
		nk_info("waiting up to %d s for %zu placement(s) to finish", PLACING_WAIT_S,
			t->n_placing);
		reap_placing(t, PLACING_WAIT_S);
		for (size_t i = 0; i < t->n_placing; i++)
			nk_warn("still placing %s (worker PID %d): left to finish",
				t->placing[i].name, (int)t->placing[i].pid);
	}
	return r;
}
