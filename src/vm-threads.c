/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VM's threads, read through the host root: which are vCPU threads (by
 * the names its kind gives them, from the kind table), each thread's
 * affinity (Cpus_allowed_list) and the CPU it last ran on.  Threads come
 * and go: one that ends while it is read is left out.
 */
#include "vm-internal.h"

/* Read one thread's name, affinity and last CPU.  -ESRCH when it ended. */
static int read_thread(nk_host *host, int pid, int tid, struct nk_vm_thread *ret, nk_error **err)
{
	_cleanup_free_ char *status = NULL, *list = NULL;
	struct nk_proc_stat st;
	char file[48];
	nk_bitmap *affinity = NULL;

	snprintf(file, sizeof(file), "task/%d/status", tid);
	int r = nk_proc_read(host, pid, file, &status, err);
	if (r < 0)
		return r;
	if (nk_parse_keyed_line(status, "Cpus_allowed_list", &list) < 0 ||
	    nk_parse_list(list, "CPU list", &affinity, NULL) < 0)
		return nk_error_set(err, EINVAL, "/proc/%d/%s: no valid Cpus_allowed_list", pid,
				    file);
	r = nk_proc_stat_read(host, pid, tid, &st, err);
	if (r < 0) {
		nk_bitmap_free(affinity);
		return r;
	}
	*ret = (struct nk_vm_thread){
	    .tid = tid,
	    .vcpu = -1,
	    .name = TAKE_PTR(st.comm),
	    .affinity = affinity,
	    .last_cpu = st.last_cpu,
	};
	return 0;
}

static int thread_cmp(const void *a, const void *b)
{
	const struct nk_vm_thread *x = a, *y = b;
	/* vCPU threads first, in vCPU order; then the rest by thread id. */
	if ((x->vcpu < 0) != (y->vcpu < 0))
		return x->vcpu < 0 ? 1 : -1;
	if (x->vcpu != y->vcpu)
		return x->vcpu < y->vcpu ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

_nk_export_ void nk_vm_threads_done(struct nk_vm_threads *t)
{
	for (size_t i = 0; t->threads && i < t->count; i++) {
		free(t->threads[i].name);
		nk_bitmap_free(t->threads[i].affinity);
	}
	free(t->threads);
	*t = (struct nk_vm_threads){0};
}

static void threads_donep(struct nk_vm_threads *t)
{
	nk_vm_threads_done(t);
}

/* The same process as `vm`, not a later one that has its PID. */
static int check_same(nk_host *host, const struct nk_vm_ref *vm)
{
	struct nk_proc_stat st;
	int r = nk_proc_stat_read(host, vm->pid, 0, &st, NULL);
	if (r < 0)
		return -ESRCH;
	bool same = !vm->start_time || st.start_time_ticks == vm->start_time;
	nk_proc_stat_done(&st);
	return same ? 0 : -ESRCH;
}

_nk_export_ int nk_vm_threads_read(nk_host *host, const struct nk_vm_ref *vm,
				   struct nk_vm_threads *ret, nk_error **err)
{
	_cleanup_(threads_donep) struct nk_vm_threads t = {0};
	_cleanup_free_ int *tids = NULL;
	const void *family = NULL;
	bool mixed = false;
	int r;

	int n = nk_proc_tids(host, vm->pid, &tids, err);
	if (n < 0)
		return n;
	t.threads = calloc((size_t)n, sizeof(*t.threads));
	if (!t.threads)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (int i = 0; i < n; i++) {
		struct nk_vm_thread *th = &t.threads[t.count];
		const void *f = NULL;
		r = read_thread(host, vm->pid, tids[i], th, err);
		if (r == -ESRCH)
			continue; /* ended meanwhile */
		if (r < 0)
			return r;
		t.count++;
		th->vcpu = vm_vcpu_of_thread(vm->kind, th->name, &f);
		if (th->vcpu < 0)
			continue;
		mixed |= family && f != family;
		family = f;
		t.vcpu_count++;
	}
	if (t.count == 0 || check_same(host, vm) < 0)
		return -ESRCH;
	qsort(t.threads, t.count, sizeof(*t.threads), thread_cmp);
	if (t.vcpu_count == 0 || mixed) {
		nk_error_set(err, ENOTSUP,
			     "process %d (%s) is not a VMM: %s of its %zu threads is named like "
			     "a vCPU thread",
			     vm->pid, vm->comm ? vm->comm : "?",
			     mixed ? "more than one VMM's naming is used, so none" : "none",
			     t.count);
		return nk_error_hint(err, "vCPU threads are QEMU's and numaksm-vmm's 'CPU n/KVM' "
					  "or 'CPU n/TCG', Cloud Hypervisor's 'vcpuN', "
					  "Firecracker's 'fc_vcpu N' and crosvm's 'crosvm_vcpuN'");
	}
	for (unsigned i = 0; i < t.vcpu_count; i++)
		if (t.threads[i].vcpu != (int)i)
			return nk_error_set(err, ENOTSUP,
					    "process %d (%s): vCPU thread numbers repeat or have "
					    "gaps (thread %d is '%s', expected vCPU %u)",
					    vm->pid, vm->comm ? vm->comm : "?", t.threads[i].tid,
					    t.threads[i].name, i);
	*ret = t;
	t = (struct nk_vm_threads){0};
	return 0;
}
