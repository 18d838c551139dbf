/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM threads and the assignment state on a host tree made in a temp dir:
 * vCPU threads found by name, non-VMMs refused, lookup by name, the state
 * saved atomically and locked, entries of ended processes dropped, and a
 * missing, damaged or earlier-boot state rebuilt from the pinned VMMs.
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
#include <sys/file.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "vcpu-internal.h"

struct fixture {
	char root[64];
	char run[64];
	nk_host *host;
};

static void write_file(const char *root, const char *path, const char *data, size_t len)
{
	char full[512];
	snprintf(full, sizeof(full), "%s%s", root, path);
	for (char *p = full + strlen(root) + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(full, 0755);
			*p = '/';
		}
	FILE *f = fopen(full, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void write_text(const char *root, const char *path, const char *text)
{
	write_file(root, path, text, strlen(text));
}

/* One thread of a fake process: comm, status with its affinity, stat. */
static void fake_thread(const char *root, int pid, int tid, const char *comm, const char *cpus,
			unsigned long long start, int last_cpu)
{
	char path[256], text[1024];
	int n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	snprintf(text, sizeof(text), "%s\n", comm);
	write_text(root, path, text);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	snprintf(text, sizeof(text), "Name:\t%s\nPid:\t%d\nCpus_allowed_list:\t%s\nVoluntary:\t1\n",
		 comm, tid, cpus);
	write_text(root, path, text);
	n = snprintf(text, sizeof(text), "%d (%s) S", tid, comm);
	for (int field = 4; field <= 52; field++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, " %llu",
			      field == 22   ? start
			      : field == 39 ? (unsigned long long)last_cpu
					    : 0ull);
	snprintf(text + n, sizeof(text) - (size_t)n, "\n");
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	write_text(root, path, text);
	if (pid == tid) {
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		write_text(root, path, text);
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		snprintf(text, sizeof(text), "%s\n", comm);
		write_text(root, path, text);
	}
}

/* Who runs a fake process: /proc/PID/status's Uid line; with `kvm_fd`, a
 * descriptor of a KVM VM as /proc/PID/fd/3. */
static void fake_owner(const char *root, int pid, unsigned uid, bool kvm_fd)
{
	char path[256], text[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	snprintf(text, sizeof(text), "Name:\tx\nUid:\t%u\t%u\t%u\t%u\nGid:\t0\t0\t0\t0\n", uid, uid,
		 uid, uid);
	write_text(root, path, text);
	if (kvm_fd) {
		snprintf(path, sizeof(path), "%s/proc/%d/fd", root, pid);
		assert_int_equal(mkdir(path, 0700), 0);
		snprintf(path, sizeof(path), "%s/proc/%d/fd/0", root, pid);
		assert_int_equal(symlink("/dev/null", path), 0);
		snprintf(path, sizeof(path), "%s/proc/%d/fd/3", root, pid);
		assert_int_equal(symlink("anon_inode:kvm-vm", path), 0);
	}
}

static void fake_cmdline(const char *root, int pid, const char *cmdline, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	write_file(root, path, cmdline, len);
}

static int setup(void **state)
{
	static const char qemu_cmd[] = "/usr/bin/qemu-system-x86_64\0-name\0guest=vm1,debug-"
				       "threads=on\0";
	static const char ch_cmd[] = "cloud-hypervisor\0--cpus\0boot=2";
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->root, "/tmp/test-pin-state-XXXXXX");
	strcpy(f->run, "/tmp/test-pin-run-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	assert_non_null(mkdtemp(f->run));
	write_text(f->root, "/sys/devices/system/cpu/online", "0-7\n");
	write_text(f->root, "/proc/sys/kernel/random/boot_id", "1111-aaaa\n");
	/* QEMU with two pinned vCPU threads. */
	fake_thread(f->root, 100, 100, "qemu-system-x86", "0-7", 5000, 5);
	fake_thread(f->root, 100, 101, "CPU 0/KVM", "2", 5001, 2);
	fake_thread(f->root, 100, 102, "CPU 1/KVM", "3", 5001, 3);
	fake_thread(f->root, 100, 103, "IO iothread0", "0-7", 5002, 0);
	fake_cmdline(f->root, 100, qemu_cmd, sizeof(qemu_cmd));
	/* A shell. */
	fake_thread(f->root, 200, 200, "bash", "0-7", 6000, 1);
	fake_cmdline(f->root, 200, "bash", 5);
	/* Cloud Hypervisor, unpinned, vCPU threads listed before the main one. */
	fake_thread(f->root, 300, 300, "cloud-hyperviso", "0-7", 7000, 0);
	fake_thread(f->root, 300, 310, "vcpu1", "0-7", 7001, 6);
	fake_thread(f->root, 300, 309, "vcpu0", "0-7", 7001, 7);
	fake_cmdline(f->root, 300, ch_cmd, sizeof(ch_cmd));
	/* Firecracker with a gap in its vCPU numbers. */
	fake_thread(f->root, 400, 400, "firecracker", "0-7", 8000, 0);
	fake_thread(f->root, 400, 401, "fc_vcpu 0", "4", 8001, 4);
	fake_thread(f->root, 400, 402, "fc_vcpu 2", "5", 8001, 5);
	fake_cmdline(f->root, 400, "firecracker", 12);
	/* A Cloud Hypervisor with shared (narrowed, multi-CPU) vCPUs. */
	fake_thread(f->root, 500, 500, "cloud-hyperviso", "0-7", 9000, 0);
	fake_thread(f->root, 500, 501, "vcpu0", "6-7", 9001, 6);
	fake_cmdline(f->root, 500, ch_cmd, sizeof(ch_cmd));
	/* Root runs those. */
	for (int pid = 100; pid <= 500; pid += 100)
		fake_owner(f->root, pid, 0, false);
	/* A user's program that calls itself QEMU and names itself vm1. */
	fake_thread(f->root, 600, 600, "qemu-system-x86", "0-7", 9500, 0);
	fake_thread(f->root, 600, 601, "CPU 0/KVM", "0-7", 9501, 0);
	fake_cmdline(f->root, 600, qemu_cmd, sizeof(qemu_cmd));
	fake_owner(f->root, 600, 1000, false);
	/* A user's Firecracker that holds a KVM VM: a VM, whoever runs it. */
	fake_thread(f->root, 700, 700, "firecracker", "0-7", 9600, 0);
	fake_thread(f->root, 700, 701, "fc_vcpu 0", "0-7", 9601, 0);
	static const char fc_cmd[] = "firecracker\0--id\0fc7";
	fake_cmdline(f->root, 700, fc_cmd, sizeof(fc_cmd));
	fake_owner(f->root, 700, 1000, true);
	assert_int_equal(nk_host_open(f->root, &f->host, NULL), 0);
	assert_false(nk_host_is_live(f->host));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];
	nk_host_free(f->host);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", f->root, f->run);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_vm_threads(void **state)
{
	struct fixture *f = *state;
	struct nk_vm_ref vm;
	struct nk_vm_threads th = {0};
	nk_error *err = NULL;
	char *s = NULL;

	assert_int_equal(nk_vm_lookup(f->host, "100", &vm, &err), 0);
	assert_int_equal(vm.kind, NK_VM_QEMU);
	assert_string_equal(vm.name, "vm1");
	assert_string_equal(vm.comm, "qemu-system-x86");
	assert_int_equal(nk_vm_threads_read(f->host, &vm, &th, &err), 0);
	assert_int_equal(th.vcpu_count, 2);
	assert_int_equal(th.count, 4);
	assert_int_equal(th.threads[0].tid, 101);
	assert_int_equal(th.threads[0].vcpu, 0);
	assert_string_equal(th.threads[0].name, "CPU 0/KVM");
	assert_int_equal(th.threads[0].last_cpu, 2);
	nk_bitmap_format(th.threads[0].affinity, &s);
	assert_string_equal(s, "2");
	free(s);
	assert_int_equal(th.threads[2].tid, 100);
	assert_int_equal(th.threads[2].vcpu, -1);
	assert_int_equal(th.threads[2].last_cpu, 5);
	assert_int_equal(th.threads[3].tid, 103);
	nk_vm_threads_done(&th);
	/* The same PID, a later process: gone. */
	vm.start_time++;
	assert_int_equal(nk_vm_threads_read(f->host, &vm, &th, &err), -ESRCH);
	nk_vm_ref_done(&vm);

	/* vCPU threads in vCPU order, whatever their thread ids. */
	assert_int_equal(nk_vm_lookup(f->host, "300", &vm, &err), 0);
	assert_int_equal(vm.kind, NK_VM_CLOUD_HYPERVISOR);
	assert_int_equal(nk_vm_threads_read(f->host, &vm, &th, &err), 0);
	assert_int_equal(th.threads[0].tid, 309);
	assert_int_equal(th.threads[0].vcpu, 0);
	nk_vm_threads_done(&th);
	nk_vm_ref_done(&vm);

	th.count = 99;
	assert_int_equal(nk_vm_lookup(f->host, "200", &vm, &err), 0);
	assert_int_equal(vm.kind, NK_VM_PROCESS);
	assert_int_equal(nk_vm_threads_read(f->host, &vm, &th, &err), -ENOTSUP);
	assert_non_null(strstr(nk_error_message(err), "process 200 (bash) is not a VMM"));
	assert_non_null(strstr(nk_error_get_hint(err), "CPU n/KVM"));
	err = nk_error_free(err);
	nk_vm_ref_done(&vm);
	assert_int_equal(nk_vm_lookup(f->host, "400", &vm, &err), 0);
	assert_int_equal(nk_vm_threads_read(f->host, &vm, &th, &err), -ENOTSUP);
	assert_non_null(strstr(nk_error_message(err), "repeat or have gaps"));
	err = nk_error_free(err);
	nk_vm_ref_done(&vm);
	assert_int_equal(th.count, 99); /* untouched on failure */
	assert_int_equal(nk_vm_lookup(f->host, "999", &vm, &err), -ESRCH);
	assert_non_null(strstr(nk_error_message(err), "no process 999"));
	err = nk_error_free(err);
}

static void test_vm_lookup(void **state)
{
	struct fixture *f = *state;
	struct nk_vm_ref vm;
	nk_error *err = NULL;

	/* By QEMU's -name, its program name, its comm, its PID. */
	static const char *const names[] = {"vm1", "qemu-system-x86_64", "qemu-system-x86", "100"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(nk_vm_lookup(f->host, names[i], &vm, NULL), 0);
		assert_int_equal(vm.pid, 100);
		nk_vm_ref_done(&vm);
	}
	assert_int_equal(nk_vm_lookup(f->host, "999", &vm, &err), -ESRCH);
	err = nk_error_free(err);
	/* A shell is no VM by name (its PID works, as for any process). */
	assert_int_equal(nk_vm_lookup(f->host, "bash", &vm, &err), -ENOENT);
	assert_non_null(strstr(nk_error_message(err), "no VM named 'bash'"));
	err = nk_error_free(err);
	/* Two Cloud Hypervisors. */
	assert_int_equal(nk_vm_lookup(f->host, "cloud-hypervisor", &vm, &err), -ENOTUNIQ);
	assert_non_null(strstr(nk_error_message(err), "PIDs 300, 500"));
	err = nk_error_free(err);
}

/* What shows a process is a VM: root runs it, it holds a KVM VM, or it was
 * named by PID; a user's program named like QEMU is a look-alike. */
static void test_vm_trust(void **state)
{
	struct fixture *f = *state;
	struct nk_vm_ref *refs = NULL, vm;
	nk_error *err = NULL;
	static const struct {
		int pid;
		enum nk_vm_trust trust;
		unsigned uid;
	} want[] = {
	    {100, NK_VM_TRUST_OWNER, 0},   {300, NK_VM_TRUST_OWNER, 0},
	    {400, NK_VM_TRUST_OWNER, 0},   {500, NK_VM_TRUST_OWNER, 0},
	    {600, NK_VM_TRUST_NONE, 1000}, {700, NK_VM_TRUST_KVM, 1000},
	};
	int n = nk_vm_find_all(f->host, &refs, NULL);
	assert_int_equal(n, 6);
	for (int i = 0; i < n; i++) {
		assert_int_equal(refs[i].pid, want[i].pid);
		assert_int_equal(refs[i].uid, want[i].uid);
		if (refs[i].trust != want[i].trust)
			fail_msg("PID %d: trust %s, expected %s", refs[i].pid,
				 nk_vm_trust_name(refs[i].trust), nk_vm_trust_name(want[i].trust));
		assert_int_equal(nk_vm_trusted(&refs[i]), want[i].trust != NK_VM_TRUST_NONE);
	}
	nk_vm_refs_free(refs, (size_t)n);

	/* The look-alike cannot take vm1's name: the VM is found. */
	assert_int_equal(nk_vm_lookup(f->host, "vm1", &vm, NULL), 0);
	assert_int_equal(vm.pid, 100);
	nk_vm_ref_done(&vm);
	/* By its PID it is the caller's word. */
	assert_int_equal(nk_vm_lookup(f->host, "600", &vm, NULL), 0);
	assert_int_equal(vm.trust, NK_VM_TRUST_PID);
	assert_true(nk_vm_trusted(&vm));
	nk_vm_ref_done(&vm);
	/* Once its owner is trusted, it is a VM too: vm1 is then ambiguous. */
	assert_int_equal(nk_host_trust_uid(f->host, 1000), 0);
	assert_int_equal(nk_vm_lookup(f->host, "vm1", &vm, &err), -ENOTUNIQ);
	assert_non_null(strstr(nk_error_message(err), "PIDs 100, 600"));
	err = nk_error_free(err);
	/* Firecracker by its --id, a VM by its KVM descriptor. */
	assert_int_equal(nk_vm_lookup(f->host, "fc7", &vm, NULL), 0);
	assert_int_equal(vm.trust, NK_VM_TRUST_KVM);
	nk_vm_ref_done(&vm);
}

static void test_apply_refused_on_tree(void **state)
{
	struct fixture *f = *state;
	struct nk_vm_ref vm;
	struct nk_vm_threads th;
	nk_topo *t = NULL;
	nk_pin_plan *plan = NULL;
	nk_error *err = NULL;
	struct nk_pin_request req = {.vcpus = 2};

	assert_int_equal(nk_vm_lookup(f->host, "vm1", &vm, NULL), 0);
	assert_int_equal(nk_vm_threads_read(f->host, &vm, &th, NULL), 0);
	assert_int_equal(nk_topo_load_synthetic("pack:1 numa:1 core:8 pu:1", &t, NULL), 0);
	assert_int_equal(nk_pin_plan_compute(t, &req, NULL, &plan, NULL), 0);
	assert_int_equal(nk_pin_apply(f->host, &vm, &th, t, plan, &err), -EROFS);
	assert_non_null(strstr(nk_error_message(err), "captured tree"));
	err = nk_error_free(err);
	/* hwloc reads a captured tree through HWLOC_FSROOT, but this one has
	 * none of the CPU topology files it needs: refused, with the way out. */
	assert_int_equal(nk_topo_load_live(f->host, &t, &err), -ENOENT);
	assert_non_null(strstr(nk_error_message(err), "lacks the CPU topology hwloc reads"));
	assert_non_null(strstr(nk_error_get_hint(err), "numaksm-gather-host-tree --upgrade"));
	nk_error_free(err);
	nk_pin_plan_free(plan);
	nk_topo_free(t);
	nk_vm_threads_done(&th);
	nk_vm_ref_done(&vm);
}

static void assert_entry(const nk_pin_state *s, unsigned i, int pid, const char *dedicated,
			 const char *shared, bool rebuilt)
{
	struct nk_pin_entry e;
	char *d = NULL, *sh = NULL;
	assert_int_equal(nk_pin_state_entry(s, i, &e), 0);
	assert_int_equal(e.pid, pid);
	nk_bitmap_format(e.dedicated, &d);
	nk_bitmap_format(e.shared, &sh);
	assert_string_equal(d, dedicated);
	assert_string_equal(sh, shared);
	assert_int_equal(e.rebuilt, rebuilt);
	free(d);
	free(sh);
}

static void test_state_rebuild_and_save(void **state)
{
	struct fixture *f = *state;
	nk_pin_state *s = NULL;
	nk_error *err = NULL;
	char path[128];
	struct stat st;

	/* Nothing saved yet: rebuilt from the pinned VMMs (100 dedicated, 500
	 * shared; 300 is not pinned, 400 not a well-formed VMM). */
	assert_int_equal(nk_pin_state_open(f->host, f->run, NK_PIN_STATE_WRITE, &s, &err), 0);
	assert_int_equal(nk_pin_state_count(s), 2);
	assert_entry(s, 0, 100, "2-3", "", true);
	assert_entry(s, 1, 500, "", "6-7", true);

	/* Held exclusively while open. */
	snprintf(path, sizeof(path), "%s/pins.lock", f->run);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_SH | LOCK_NB), -1);
	assert_int_equal(errno, EWOULDBLOCK);

	/* A VM that never ran (pid 0) and one that will be gone (pid 777). */
	nk_topo *t = NULL;
	nk_pin_plan *plan = NULL;
	struct nk_pin_request req = {.vcpus = 1};
	assert_int_equal(nk_topo_load_synthetic("pack:1 numa:1 core:8 pu:1", &t, NULL), 0);
	assert_int_equal(nk_pin_plan_compute(t, &req, s, &plan, NULL), 0);
	assert_int_equal(nk_pin_state_add(s, f->host, plan, 777, "gone", NULL), 0);
	assert_int_equal(nk_pin_state_add(s, f->host, plan, 0, "planned", NULL), 0);
	nk_pin_plan_free(plan);
	nk_topo_free(t);
	assert_int_equal(nk_pin_state_save(s, &err), 0);
	s = nk_pin_state_free(s);
	assert_int_equal(flock(fd, LOCK_SH | LOCK_NB), 0); /* released */
	close(fd);
	snprintf(path, sizeof(path), "%s/pins.json", f->run);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* Read back: 777 is gone, the rest stays; read-only cannot save. */
	assert_int_equal(nk_pin_state_open(f->host, f->run, 0, &s, &err), 0);
	assert_int_equal(nk_pin_state_count(s), 3);
	assert_entry(s, 0, 100, "2-3", "", true);
	assert_entry(s, 2, 0, "0", "", false);
	assert_int_equal(nk_pin_state_save(s, &err), -EBADF);
	err = nk_error_free(err);
	s = nk_pin_state_free(s);

	/* A reused PID (other start time) is not the VM that was pinned. */
	fake_thread(f->root, 100, 100, "qemu-system-x86", "0-7", 5555, 5);
	assert_int_equal(nk_pin_state_open(f->host, f->run, 0, &s, &err), 0);
	assert_int_equal(nk_pin_state_count(s), 2);
	assert_entry(s, 0, 500, "", "6-7", true);
	s = nk_pin_state_free(s);

	/* Another boot: rebuilt from the processes (100 is back, as it is pinned). */
	write_text(f->root, "/proc/sys/kernel/random/boot_id", "2222-bbbb\n");
	assert_int_equal(nk_pin_state_open(f->host, f->run, 0, &s, &err), 0);
	assert_int_equal(nk_pin_state_count(s), 2);
	assert_entry(s, 0, 100, "2-3", "", true);
	s = nk_pin_state_free(s);

	/* A damaged file: rebuilt too. */
	write_text(f->run, "/pins.json", "{\"numaksm_pins\": 1, \"entries\": [{]");
	assert_int_equal(nk_pin_state_open(f->host, f->run, NK_PIN_STATE_WRITE, &s, &err), 0);
	assert_int_equal(nk_pin_state_count(s), 2);
	assert_int_equal(nk_pin_state_remove(s, 100), 1);
	assert_int_equal(nk_pin_state_save(s, &err), 0);
	s = nk_pin_state_free(s);

	/* NUMAKSM_RUNTIME_DIR names the directory when none is given. */
	setenv("NUMAKSM_RUNTIME_DIR", f->run, 1);
	assert_int_equal(nk_pin_state_open(f->host, NULL, 0, &s, &err), 0);
	assert_int_equal(nk_pin_state_count(s), 1);
	assert_entry(s, 0, 500, "", "6-7", true);
	s = nk_pin_state_free(s);
	unsetenv("NUMAKSM_RUNTIME_DIR");
}

/* A VM pinned by another program, entered as it runs: replaced, not
 * added twice; one whose vCPUs are not pinned is not entered. */
static void test_state_record(void **state)
{
	struct fixture *f = *state;
	nk_pin_state *s = NULL;
	static const struct {
		const char *vm;
		int entered;
	} cases[] = {{"100", 1}, {"100", 1}, {"300", 0}, {"500", 1}};

	assert_int_equal(nk_pin_state_new(&s), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nk_vm_ref vm;
		struct nk_vm_threads th = {0};
		assert_int_equal(nk_vm_lookup(f->host, cases[i].vm, &vm, NULL), 0);
		assert_int_equal(nk_vm_threads_read(f->host, &vm, &th, NULL), 0);
		assert_int_equal(nk_pin_state_record(s, f->host, &vm, &th, NULL), cases[i].entered);
		nk_vm_threads_done(&th);
		nk_vm_ref_done(&vm);
	}
	assert_int_equal(nk_pin_state_count(s), 2);
	assert_entry(s, 0, 100, "2-3", "", false);
	assert_entry(s, 1, 500, "", "6-7", false);
	nk_pin_state_free(s);
}

static void test_state_dir_errors(void **state)
{
	struct fixture *f = *state;
	nk_pin_state *s = (nk_pin_state *)0x1;
	nk_error *err = NULL;
	char dir[128];

	/* A runtime directory below a regular file cannot be made. */
	snprintf(dir, sizeof(dir), "%s/file", f->run);
	write_text(f->run, "/file", "x");
	strncat(dir, "/sub", sizeof(dir) - strlen(dir) - 1);
	assert_int_equal(nk_pin_state_open(f->host, dir, NK_PIN_STATE_WRITE, &s, &err), -ENOTDIR);
	assert_non_null(strstr(nk_error_message(err), "is not a directory"));
	assert_non_null(strstr(nk_error_get_hint(err), "NUMAKSM_RUNTIME_DIR"));
	nk_error_free(err);
	assert_ptr_equal(s, (nk_pin_state *)0x1);

	/* Reading where nothing was ever saved: an empty (rebuilt) state. */
	snprintf(dir, sizeof(dir), "%s/never", f->run);
	assert_int_equal(nk_pin_state_open(f->host, dir, 0, &s, NULL), 0);
	assert_int_equal(nk_pin_state_count(s), 2);
	nk_pin_state_free(s);
	assert_int_equal(access(dir, F_OK), -1); /* and nothing created */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_vm_threads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vm_lookup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vm_trust, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_apply_refused_on_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_rebuild_and_save, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_dir_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
