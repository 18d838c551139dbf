/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pinning on the live kernel: a child process whose threads are named like
 * QEMU's vCPU threads is planned on the live topology, pinned, and read
 * back with sched_getaffinity() (not through the library's own reader);
 * a failure half-way leaves every thread as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <hwloc.h>

#include "vcpu-internal.h"
#include "numaksm/vm.h"

#define N_VCPUS 2

struct child {
	pid_t pid;
	int pipe_fd; /* closing it ends the child */
};

static void *vcpu_thread(void *arg)
{
	char name[16];
	snprintf(name, sizeof(name), "%s", (const char *)arg);
	prctl(PR_SET_NAME, name);
	/* Run a little every millisecond, so the last CPU follows the affinity. */
	for (;;) {
		struct timespec ts = {0, 1000000};
		for (volatile int i = 0; i < 20000; i++)
			;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* A process with N_VCPUS threads "CPU n/KVM" and one "IO iothread0". */
static struct child spawn_vmm(void)
{
	static char names[N_VCPUS + 1][16];
	int fds[2];
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;
		close(fds[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, "fake-qemu");
		for (int i = 0; i <= N_VCPUS; i++) {
			pthread_t t;
			if (i < N_VCPUS)
				snprintf(names[i], sizeof(names[i]), "CPU %d/KVM", i);
			else
				snprintf(names[i], sizeof(names[i]), "IO iothread0");
			if (pthread_create(&t, NULL, vcpu_thread, names[i]) != 0)
				_exit(1);
		}
		while (read(fds[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(fds[0]);
	return (struct child){.pid = pid, .pipe_fd = fds[1]};
}

static void end_vmm(struct child *c)
{
	int status;
	close(c->pipe_fd);
	assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
}

/* The child as the VM model finds it (by PID: a process of no known
 * VMM), once its threads have their names. */
struct vm {
	struct nk_vm_ref ref;
	struct nk_vm_threads threads;
};

static void open_vm(nk_host *host, pid_t pid, struct vm *ret)
{
	char name[16];
	nk_error *err = NULL;
	snprintf(name, sizeof(name), "%d", (int)pid);
	assert_int_equal(nk_vm_lookup(host, name, &ret->ref, NULL), 0);
	for (int i = 0; i < 500; i++) {
		if (nk_vm_threads_read(host, &ret->ref, &ret->threads, NULL) == 0) {
			if (ret->threads.vcpu_count == N_VCPUS && ret->threads.count == 4)
				return;
			nk_vm_threads_done(&ret->threads);
		}
		usleep(10000);
	}
	nk_vm_threads_read(host, &ret->ref, &ret->threads, &err);
	fail_msg("child %d never looked like a VMM: %s", pid, err ? nk_error_message(err) : "");
}

static void close_vm(struct vm *vm)
{
	nk_vm_threads_done(&vm->threads);
	nk_vm_ref_done(&vm->ref);
}

static nk_bitmap *kernel_affinity(pid_t tid)
{
	cpu_set_t set;
	nk_bitmap *b = nk_bitmap_new();
	assert_int_equal(sched_getaffinity(tid, sizeof(set), &set), 0);
	for (unsigned c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			nk_bitmap_set(b, c);
	return b;
}

static void assert_same(const nk_bitmap *a, const nk_bitmap *b)
{
	if (!nk_bitmap_equal(a, b)) {
		char *x = NULL, *y = NULL;
		nk_bitmap_format(a, &x);
		nk_bitmap_format(b, &y);
		fail_msg("CPU sets differ: %s vs %s", x, y);
	}
}

static void test_apply_and_read_back(void **state)
{
	nk_host *host = NULL;
	nk_topo *topo = NULL;
	nk_pin_plan *plan = NULL;
	nk_error *err = NULL;
	struct child c = spawn_vmm();

	assert_int_equal(nk_host_open(NULL, &host, NULL), 0);
	if (nk_topo_load_live(host, &topo, &err) < 0)
		fail_msg("%s", nk_error_message(err));
	struct vm vm;
	open_vm(host, c.pid, &vm);
	assert_int_equal(vm.ref.kind, NK_VM_PROCESS); /* by PID; its threads say vCPUs */

	/* Dedicated when the host has a CPU per vCPU, shared otherwise. */
	struct nk_pin_request req = {.vcpus = N_VCPUS};
	if (nk_bitmap_weight(nk_topo_cpus(topo)) < N_VCPUS)
		req.policy = NK_PIN_SHARED;
	if (nk_pin_plan_compute(topo, &req, NULL, &plan, &err) < 0)
		fail_msg("%s", nk_error_message(err));
	if (nk_pin_apply(host, &vm.ref, &vm.threads, topo, plan, &err) < 0)
		fail_msg("%s", nk_error_message(err));

	/* Every thread's affinity, as the kernel reports it by syscall. */
	for (size_t i = 0; i < vm.threads.count; i++) {
		const struct nk_vm_thread *t = &vm.threads.threads[i];
		struct nk_pin_vcpu v;
		nk_bitmap *k = kernel_affinity(t->tid);
		if (t->vcpu >= 0) {
			assert_int_equal(nk_pin_plan_vcpu(plan, (unsigned)t->vcpu, &v), 0);
			assert_same(k, v.cpus);
		} else {
			assert_same(k, nk_pin_plan_emulator_cpus(plan));
		}
		assert_same(k, t->affinity); /* what the library read back */
		nk_bitmap_free(k);
	}

	/* The threads run: soon each last ran on a CPU of its affinity. */
	bool all_in = false;
	for (int round = 0; round < 200 && !all_in; round++) {
		usleep(10000);
		nk_vm_threads_done(&vm.threads);
		assert_int_equal(nk_vm_threads_read(host, &vm.ref, &vm.threads, &err), 0);
		all_in = true;
		for (size_t i = 0; i < vm.threads.count; i++) {
			const struct nk_vm_thread *t = &vm.threads.threads[i];
			if (t->vcpu >= 0 && !nk_bitmap_test(t->affinity, (unsigned)t->last_cpu))
				all_in = false;
		}
	}
	assert_true(all_in);

	close_vm(&vm);
	end_vmm(&c);
	nk_pin_plan_free(plan);
	nk_topo_free(topo);
	nk_host_free(host);
}

/* Pin thread 0, then fail on thread 1: thread 0 must get its old affinity back. */
static void rollback_case(const char *bad_set, int expect, const char *in_message)
{
	nk_host *host = NULL;
	nk_error *err = NULL;
	nk_bitmap *first = NULL, *bad = NULL;
	struct child c = spawn_vmm();

	assert_int_equal(nk_host_open(NULL, &host, NULL), 0);
	struct vm vm;
	open_vm(host, c.pid, &vm);
	const struct nk_vm_thread t0 = vm.threads.threads[0], t1 = vm.threads.threads[1];
	nk_bitmap *before0 = kernel_affinity(t0.tid), *before1 = kernel_affinity(t1.tid);

	assert_int_equal(nk_parse_list("0", NULL, &first, NULL), 0);
	assert_int_equal(nk_parse_list(bad_set, NULL, &bad, NULL), 0);
	int tids[] = {t0.tid, t1.tid};
	const nk_bitmap *sets[] = {first, bad};
	bool required[] = {true, true};
	int r = nk_pin_threads(host, c.pid, tids, sets, required, 2, &err);
	assert_int_equal(r, expect);
	if (!strstr(nk_error_message(err), in_message) ||
	    !strstr(nk_error_message(err), "nothing changed"))
		fail_msg("message: %s", nk_error_message(err));
	nk_error_free(err);

	nk_bitmap *after0 = kernel_affinity(t0.tid), *after1 = kernel_affinity(t1.tid);
	assert_same(after0, before0);
	assert_same(after1, before1);
	nk_bitmap_free(before0);
	nk_bitmap_free(before1);
	nk_bitmap_free(after0);
	nk_bitmap_free(after1);
	nk_bitmap_free(first);
	nk_bitmap_free(bad);
	close_vm(&vm);
	end_vmm(&c);
	nk_host_free(host);
}

static void test_rollback_on_failure(void **state)
{
	/* The kernel refuses a mask of CPUs that do not exist ... */
	rollback_case("4000", -EINVAL, "cannot pin thread");
	/* ... and silently drops the missing ones from a mixed mask: caught by
	 * reading the affinity back. */
	rollback_case("0,4000", -EIO, "the kernel keeps it on 0");
}

static void test_refusals(void **state)
{
	nk_host *host = NULL;
	nk_topo *synthetic = NULL, *live = NULL, *xml = NULL;
	nk_pin_plan *plan = NULL, *plan3 = NULL;
	nk_error *err = NULL;
	struct child c = spawn_vmm();
	struct nk_pin_request req = {.vcpus = N_VCPUS, .policy = NK_PIN_SHARED};

	assert_int_equal(nk_host_open(NULL, &host, NULL), 0);
	struct vm vm;
	open_vm(host, c.pid, &vm);
	nk_bitmap *before = kernel_affinity(c.pid);

	/* A synthetic topology is not this system: nothing is bound. */
	assert_int_equal(nk_topo_load_synthetic("pack:2 numa:2 core:4 pu:2", &synthetic, NULL), 0);
	assert_int_equal(nk_pin_plan_compute(synthetic, &req, NULL, &plan, NULL), 0);
	assert_int_equal(nk_pin_apply(host, &vm.ref, &vm.threads, synthetic, plan, &err), -EROFS);
	assert_non_null(strstr(nk_error_message(err), "not this system"));
	err = nk_error_free(err);
	nk_bitmap *after = kernel_affinity(c.pid);
	assert_same(before, after);
	nk_bitmap_free(after);
	nk_pin_plan_free(plan);

	/* An XML export of this very host is. */
	char path[] = "/tmp/test-pin-live-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	hwloc_topology_t hw;
	assert_int_equal(hwloc_topology_init(&hw), 0);
	hwloc_topology_set_flags(hw, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
	assert_int_equal(hwloc_topology_load(hw), 0);
	assert_int_equal(hwloc_topology_export_xml(hw, path, 0), 0);
	hwloc_topology_destroy(hw);
	assert_int_equal(nk_topo_load_xml(path, &xml, NULL), 0);
	unlink(path);
	assert_int_equal(nk_topo_load_live(host, &live, NULL), 0);
	assert_true(topo_same_shape(xml, live));
	assert_false(topo_same_shape(synthetic, live));
	assert_int_equal(nk_pin_plan_compute(xml, &req, NULL, &plan, NULL), 0);
	if (nk_pin_apply(host, &vm.ref, &vm.threads, xml, plan, &err) < 0)
		fail_msg("%s", nk_error_message(err));

	/* A plan for another vCPU count. */
	req.vcpus = N_VCPUS + 1;
	assert_int_equal(nk_pin_plan_compute(live, &req, NULL, &plan3, NULL), 0);
	assert_int_equal(nk_pin_apply(host, &vm.ref, &vm.threads, live, plan3, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "has 2 vCPU threads"));
	err = nk_error_free(err);

	/* This test program is no VMM. */
	struct nk_vm_ref self;
	struct nk_vm_threads none = {.count = 99};
	snprintf(path, sizeof(path), "%d", (int)getpid());
	assert_int_equal(nk_vm_lookup(host, path, &self, NULL), 0);
	assert_int_equal(nk_vm_threads_read(host, &self, &none, &err), -ENOTSUP);
	assert_non_null(strstr(nk_error_message(err), "is not a VMM"));
	assert_int_equal(none.count, 99);
	nk_error_free(err);
	nk_vm_ref_done(&self);

	nk_bitmap_free(before);
	nk_pin_plan_free(plan);
	nk_pin_plan_free(plan3);
	close_vm(&vm);
	end_vmm(&c);
	nk_topo_free(synthetic);
	nk_topo_free(xml);
	nk_topo_free(live);
	nk_host_free(host);
}

/* The state forgets a VM once its process is gone. */
static void test_state_follows_processes(void **state)
{
	nk_host *host = NULL;
	nk_topo *topo = NULL;
	nk_pin_plan *plan = NULL;
	nk_pin_state *st = NULL;
	char dir[] = "/tmp/test-pin-run-XXXXXX", cmd[64];
	struct child c = spawn_vmm();
	struct nk_pin_request req = {.vcpus = N_VCPUS, .policy = NK_PIN_SHARED};

	assert_non_null(mkdtemp(dir));
	assert_int_equal(nk_host_open(NULL, &host, NULL), 0);
	assert_int_equal(nk_topo_load_live(host, &topo, NULL), 0);
	assert_int_equal(nk_pin_plan_compute(topo, &req, NULL, &plan, NULL), 0);
	assert_int_equal(nk_pin_state_open(host, dir, NK_PIN_STATE_WRITE, &st, NULL), 0);
	unsigned before = nk_pin_state_count(st); /* other pinned VMMs on this host */
	assert_int_equal(nk_pin_state_add(st, host, plan, c.pid, "child", NULL), 0);
	assert_int_equal(nk_pin_state_save(st, NULL), 0);
	st = nk_pin_state_free(st);

	assert_int_equal(nk_pin_state_open(host, dir, 0, &st, NULL), 0);
	assert_int_equal(nk_pin_state_count(st), before + 1);
	st = nk_pin_state_free(st);
	end_vmm(&c);
	assert_int_equal(nk_pin_state_open(host, dir, 0, &st, NULL), 0);
	assert_int_equal(nk_pin_state_count(st), before);
	for (unsigned i = 0; i < nk_pin_state_count(st); i++) {
		struct nk_pin_entry e;
		nk_pin_state_entry(st, i, &e);
		assert_int_not_equal(e.pid, c.pid);
	}
	nk_pin_state_free(st);
	nk_pin_plan_free(plan);
	nk_topo_free(topo);
	nk_host_free(host);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_apply_and_read_back),
	    cmocka_unit_test(test_rollback_on_failure),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_state_follows_processes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
