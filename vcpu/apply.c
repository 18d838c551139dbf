/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Applying a plan to a VMM's threads: sched_setaffinity() per thread id,
 * then the affinity read back through the host root, and every change
 * undone when one thread fails, so a VM is never left half pinned.
 */
#include "vcpu-internal.h"

#include <sched.h>
#include <stdarg.h>

/* A CPU mask of the size the kernel wants: sched_getaffinity() fails with
 * EINVAL when the mask is shorter than the kernel's CPU count. */
struct cpumask {
	cpu_set_t *set;
	size_t size;
	unsigned ncpus;
};

static void mask_release(struct cpumask *m)
{
	if (m->set)
		CPU_FREE(m->set);
	m->set = NULL;
}

static int mask_alloc(unsigned ncpus, struct cpumask *m)
{
	m->set = CPU_ALLOC(ncpus);
	if (!m->set)
		return -ENOMEM;
	m->ncpus = ncpus;
	m->size = CPU_ALLOC_SIZE(ncpus);
	CPU_ZERO_S(m->size, m->set);
	return 0;
}

static int get_affinity(pid_t tid, unsigned min_cpus, struct cpumask *ret)
{
	for (unsigned ncpus = min_cpus; ncpus <= NK_BITMAP_MAX_BIT; ncpus *= 2) {
		struct cpumask m;
		if (mask_alloc(ncpus, &m) < 0)
			return -ENOMEM;
		if (sched_getaffinity(tid, m.size, m.set) == 0) {
			*ret = m;
			return 0;
		}
		int e = errno;
		mask_release(&m);
		if (e != EINVAL)
			return -e;
	}
	return -EINVAL;
}

static int mask_from_bitmap(const nk_bitmap *b, unsigned ncpus, struct cpumask *ret)
{
	int last = nk_bitmap_last(b);
	if (last >= 0 && (unsigned)last >= ncpus)
		ncpus = (unsigned)last + 1;
	if (mask_alloc(ncpus, ret) < 0)
		return -ENOMEM;
	nk_bitmap_foreach (cpu, b) {
		CPU_SET_S((unsigned)cpu, ret->size, ret->set);
	}
	return 0;
}

/* The affinity the kernel reports for a thread.  -ESRCH when it ended. */
static int read_affinity(nk_host *host, int pid, int tid, nk_bitmap **ret)
{
	_cleanup_free_ char *path = NULL, *status = NULL, *list = NULL;
	if (asprintf(&path, "/proc/%d/task/%d/status", pid, tid) < 0)
		return -ENOMEM;
	int r = nk_host_read(host, path, &status, NULL);
	if (r == -ENOENT)
		return -ESRCH;
	if (r < 0)
		return r;
	if (nk_parse_keyed_line(status, "Cpus_allowed_list", &list) < 0)
		return -EINVAL;
	return nk_parse_list(list, "CPU list", ret, NULL);
}

static void __attribute__((format(printf, 2, 3))) set_msg(char **msg, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(msg, fmt, ap) < 0)
		*msg = NULL;
	va_end(ap);
}

struct apply_run {
	struct cpumask *saved;
	bool *changed;
	size_t n;
};

/* Give the changed threads their previous affinity back.  Returns how many
 * could not be restored (a thread that ended needs nothing). */
static unsigned rollback(const int *tids, struct apply_run *run)
{
	unsigned failed = 0;
	for (size_t i = run->n; i-- > 0;) {
		if (!run->changed[i])
			continue;
		if (sched_setaffinity(tids[i], run->saved[i].size, run->saved[i].set) < 0 &&
		    errno != ESRCH) {
			nk_warn("thread %d: previous affinity not restored: %s", tids[i],
				strerror(errno));
			failed++;
		}
		run->changed[i] = false;
	}
	return failed;
}

static int set_one(int tid, const nk_bitmap *set, const struct cpumask *saved)
{
	struct cpumask want;
	if (mask_from_bitmap(set, saved->ncpus, &want) < 0)
		return -ENOMEM;
	int r = sched_setaffinity(tid, want.size, want.set) < 0 ? -errno : 0;
	mask_release(&want);
	return r;
}

static int apply_and_verify(nk_host *host, int pid, const int *tids, const nk_bitmap *const *sets,
			    const bool *required, struct apply_run *run, char **ret_msg)
{
	int r;
	for (size_t i = 0; i < run->n; i++) {
		r = get_affinity(tids[i], 1024, &run->saved[i]);
		if (r >= 0)
			r = set_one(tids[i], sets[i], &run->saved[i]);
		if (r == -ESRCH && !required[i])
			continue; /* an emulator thread ended: nothing to pin */
		if (r == -ESRCH) {
			set_msg(ret_msg, "vCPU thread %d of process %d ended", tids[i], pid);
			return r;
		}
		if (r < 0) {
			_cleanup_free_ char *list = NULL;
			nk_bitmap_format(sets[i], &list);
			set_msg(ret_msg, "cannot pin thread %d to CPUs %s: %s", tids[i],
				list ? list : "?", strerror(-r));
			return r;
		}
		run->changed[i] = true;
	}
	for (size_t i = 0; i < run->n; i++) {
		_cleanup_bitmap_ nk_bitmap *got = NULL;
		_cleanup_free_ char *want_list = NULL, *got_list = NULL;
		if (!run->changed[i])
			continue;
		r = read_affinity(host, pid, tids[i], &got);
		if (r == -ESRCH && !required[i])
			continue;
		if (r < 0) {
			set_msg(ret_msg, "cannot read back the affinity of thread %d: %s", tids[i],
				strerror(-r));
			return r;
		}
		if (nk_bitmap_equal(got, sets[i]))
			continue;
		nk_bitmap_format(sets[i], &want_list);
		nk_bitmap_format(got, &got_list);
		set_msg(ret_msg,
			"thread %d asked for CPUs %s but the kernel keeps it on %s (a cgroup "
			"cpuset narrower than the plan?)",
			tids[i], want_list ? want_list : "?", got_list ? got_list : "?");
		return -EIO;
	}
	return 0;
}

_nk_export_ int nk_pin_threads(nk_host *host, int pid, const int *tids,
			       const nk_bitmap *const *sets, const bool *required, size_t n,
			       nk_error **err)
{
	_cleanup_free_ char *msg = NULL;
	struct apply_run run = {.n = n};
	int r = nk_host_require_live(host, "pin threads", err);

	if (r < 0)
		return r;
	run.saved = calloc(n ? n : 1, sizeof(*run.saved));
	run.changed = calloc(n ? n : 1, sizeof(bool));
	if (!run.saved || !run.changed) {
		free(run.saved);
		free(run.changed);
		return nk_error_set(err, ENOMEM, "out of memory");
	}
	r = apply_and_verify(host, pid, tids, sets, required, &run, &msg);
	if (r < 0) {
		unsigned changed = 0;
		for (size_t i = 0; i < n; i++)
			changed += run.changed[i];
		unsigned failed = rollback(tids, &run);
		if (r == -ENOMEM && !msg)
			nk_error_set(err, ENOMEM, "out of memory");
		else if (failed)
			nk_error_set(err, -r,
				     "%s; %u of %u threads already changed could not be "
				     "restored",
				     msg ? msg : strerror(-r), failed, changed);
		else
			nk_error_set(err, -r, "%s; nothing changed (%u threads restored)",
				     msg ? msg : strerror(-r), changed);
		if (r == -EPERM)
			nk_error_hint(err, "pinning another user's threads needs root or "
					   "CAP_SYS_NICE");
	}
	for (size_t i = 0; i < n; i++)
		mask_release(&run.saved[i]);
	free(run.saved);
	free(run.changed);
	return r < 0 ? r : 0;
}

/* Binding is only meaningful on a topology that is this system. */
static int require_thissystem(nk_host *host, const nk_topo *topo, nk_error **err)
{
	nk_topo *live = NULL;
	if (topo->live)
		return 0;
	int r = nk_topo_load_live(host, &live, err);
	if (r < 0)
		return r;
	bool same = topo_same_shape(topo, live);
	nk_topo_free(live);
	if (same)
		return 0;
	nk_error_set(err, EROFS,
		     "refusing to pin threads with topology %s: it is not this system (hwloc "
		     "binds nothing on XML or synthetic topologies, so a bind there proves "
		     "nothing)",
		     topo->source);
	return nk_error_hint(err, "plan with the live topology: leave out --topology and "
				  "--synthetic");
}

_nk_export_ int nk_pin_apply(nk_host *host, const struct nk_vm_ref *vm,
			     struct nk_vm_threads *threads, const nk_topo *topo,
			     const nk_pin_plan *plan, nk_error **err)
{
	_cleanup_free_ int *tids = NULL;
	_cleanup_free_ const nk_bitmap **sets = NULL;
	_cleanup_free_ bool *required = NULL;
	struct nk_vm_threads now = {0};
	size_t n = threads->count;
	int r = nk_host_require_live(host, "pin threads", err);

	if (r < 0)
		return r;
	r = nk_vm_require_trusted(vm, "pin", err);
	if (r < 0)
		return r;
	r = require_thissystem(host, topo, err);
	if (r < 0)
		return r;
	if (plan->n_vcpus != threads->vcpu_count) {
		nk_error_set(err, EINVAL,
			     "the plan has %u vCPUs but process %d (%s) has %u vCPU "
			     "threads",
			     plan->n_vcpus, vm->pid, vm->name, threads->vcpu_count);
		return nk_error_hint(err, "leave out --vcpus to plan for the threads found");
	}
	tids = calloc(n ? n : 1, sizeof(int));
	sets = calloc(n ? n : 1, sizeof(*sets));
	required = calloc(n ? n : 1, sizeof(bool));
	if (!tids || !sets || !required)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct nk_vm_thread *t = &threads->threads[i];
		tids[i] = t->tid;
		required[i] = t->vcpu >= 0;
		sets[i] = t->vcpu >= 0 ? plan->vcpus[t->vcpu].cpus : plan->emulator_cpus;
	}
	r = nk_pin_threads(host, vm->pid, tids, sets, required, n, err);
	if (r < 0)
		return nk_error_prefix(err, "process %d (%s)", vm->pid, vm->name);
	r = nk_vm_threads_read(host, vm, &now, err);
	if (r == -ESRCH)
		return nk_error_set(err, ESRCH, "process %d (%s) ended", vm->pid, vm->name);
	if (r < 0)
		return r;
	if (now.vcpu_count != threads->vcpu_count) {
		/* A vCPU came or went meanwhile: all or nothing, so the threads
		 * pinned get their affinity back, and the caller plans again. */
		for (size_t i = 0; i < n; i++) {
			sets[i] = threads->threads[i].affinity;
			required[i] = false;
		}
		bool restored = nk_pin_threads(host, vm->pid, tids, sets, required, n, NULL) == 0;
		unsigned found = now.vcpu_count;
		nk_vm_threads_done(&now);
		nk_error_set(err, ESRCH, "process %d (%s): its vCPU threads changed (%u, then %u)",
			     vm->pid, vm->name, threads->vcpu_count, found);
		return nk_error_hint(err, "%s; plan for the threads it has now",
				     restored ? "the affinities were put back"
					      : "putting the affinities back failed: check them "
						"with 'numaksm pin show'");
	}
	nk_vm_threads_done(threads);
	*threads = now;
	return 0;
}
