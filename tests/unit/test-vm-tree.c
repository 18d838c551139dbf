/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM discovery and per-VM facts on a captured host tree: a QEMU TCG guest
 * (tests/fixtures/procs/qemu-tcg, made with gather-procs).  Also a VM
 * whose files vanish half-way (it exited: left out, no message) and one
 * whose files are damaged (an error naming the file).
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
#include <sys/stat.h>
#include <cmocka.h>

#include <numaksm/ksm.h>
#include <numaksm/vm.h>

#define QEMU_PID 14042

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	assert_non_null(f);
	assert_non_null(buf);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_find(void **state)
{
	nk_host *host = NULL;
	struct nk_vm_ref *refs = NULL, ref;
	nk_error *err = NULL;

	assert_int_equal(nk_host_open(PROCS_FIXTURE, &host, NULL), 0);
	int n = nk_vm_find_all(host, &refs, NULL);
	assert_int_equal(n, 1); /* ksmd, a kernel thread, is not a VM */
	assert_int_equal(refs[0].pid, QEMU_PID);
	assert_int_equal(refs[0].kind, NK_VM_QEMU);
	assert_string_equal(refs[0].name, "q7test");
	assert_string_equal(refs[0].comm, "qemu-system-x86");
	assert_string_equal(refs[0].argv0, "qemu-system-x86_64");
	assert_int_equal(refs[0].start_time, 248358);
	nk_vm_refs_free(refs, (size_t)n);

	/* By name, comm, program, PID. */
	const char *const names[] = {"q7test", "qemu-system-x86", "qemu-system-x86_64", "14042"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(nk_vm_lookup(host, names[i], &ref, NULL), 0);
		assert_int_equal(ref.pid, QEMU_PID);
		assert_int_equal(ref.kind, NK_VM_QEMU);
		nk_vm_ref_done(&ref);
	}
	assert_int_equal(nk_vm_lookup(host, "no-such-vm", &ref, &err), -ENOENT);
	assert_string_equal(nk_error_message(err), "no VM named 'no-such-vm'");
	err = nk_error_free(err);
	assert_int_equal(nk_vm_lookup(host, "36", &ref, &err), -ESRCH); /* ksmd */
	assert_non_null(strstr(nk_error_message(err), "kernel thread"));
	err = nk_error_free(err);
	assert_int_equal(nk_vm_lookup(host, "999999", &ref, &err), -ESRCH);
	err = nk_error_free(err);
	assert_int_equal(nk_vm_lookup(host, "", &ref, NULL), -EINVAL);
	nk_host_free(host);
}

static void test_read(void **state)
{
	nk_host *host = NULL;
	struct nk_vm_ref ref;
	struct nk_vm_info *vm = NULL;
	struct nk_ksm ksm;
	struct nk_ksm_proc_stat want;

	assert_int_equal(nk_host_open(PROCS_FIXTURE, &host, NULL), 0);
	assert_int_equal(nk_ksm_read(host, NK_KSM_ALL, &ksm, NULL), 0);
	assert_int_equal(nk_vm_lookup(host, "q7test", &ref, NULL), 0);
	assert_int_equal(
	    nk_vm_read(host, &ref, &ksm, NK_VM_READ_PLACEMENT | NK_VM_READ_THREADS, &vm, NULL), 0);
	assert_int_equal(vm->thread_count, 3);
	assert_int_equal(vm->rss_bytes, 173328ull * 1024);
	assert_int_equal(vm->hugetlb_bytes, 0);

	/* Guest RAM: -m 256M, one mergeable mapping of that size with THP. */
	assert_true(vm->guest_ram_from_cmdline);
	assert_int_equal(vm->guest_ram_bytes, 256ull << 20);
	assert_int_equal(vm->n_regions, 1);
	assert_int_equal(vm->regions[0].size_bytes, 256ull << 20);
	assert_true(vm->regions[0].mergeable);
	assert_int_equal(vm->regions[0].backing, NK_BACKING_THP);
	assert_true(vm->guest_thp_bytes > 0);
	assert_true(vm->mergeable_bytes >= vm->regions[0].size_bytes);

	/* Pages per node from numa_maps on a captured tree: all on node 0. */
	assert_true(vm->has_placement);
	assert_string_equal(vm->placement.method, "numa_maps");
	assert_true(vm->placement.exact);
	assert_int_equal(vm->placement.n_node_bytes, 1);
	assert_true(vm->placement.node_bytes[0] > 0);
	assert_true(vm->placement.node_bytes[0] <= vm->regions[0].size_bytes);

	/* KSM: exactly its ksm_stat. */
	char *text = read_text(PROCS_FIXTURE "/proc/14042/ksm_stat");
	assert_int_equal(nk_ksm_parse_proc_stat(text, &want), 0);
	free(text);
	assert_true(vm->has_ksm);
	assert_int_equal(vm->ksm.merging_pages, want.merging_pages);
	assert_int_equal(vm->ksm.rmap_items, want.rmap_items);
	assert_int_equal(vm->ksm.zero_pages, want.zero_pages);
	assert_int_equal(vm->ksm.process_profit, want.process_profit);
	/* Its share of the savings needs the page size, which a captured tree
	 * does not record: not guessed from this host's. */
	assert_false(vm->has_ksm_saved);

	/* vCPU threads by name (debug-threads=on). */
	assert_true(vm->has_threads);
	assert_int_equal(vm->threads.vcpu_count, 1);
	assert_int_equal(vm->threads.count, 3);
	assert_string_equal(vm->threads.threads[0].name, "CPU 0/TCG");
	assert_int_equal(vm->threads.threads[0].vcpu, 0);
	assert_int_equal(vm->threads.threads[0].tid, 14045);
	assert_int_equal(vm->threads.threads[1].vcpu, -1);

	/* Its cgroups, v1 and v2 lines. */
	assert_int_equal(vm->n_cgroups, 10);
	assert_string_equal(vm->cgroups[5].controllers, "memory");
	assert_string_equal(vm->cgroups[5].path, "/user.slice/session-2.scope");
	assert_int_equal(vm->cgroups[9].hierarchy, 0);

	nk_vm_info_free(vm);
	nk_vm_ref_done(&ref);
	nk_host_free(host);
}

/* A copy of the fixture to damage. */
static char *copy_fixture(void)
{
	char *dir = strdup("/tmp/numaksm-vm-tree-XXXXXX"), cmd[512];
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cp -a '%s/.' '%s/'", PROCS_FIXTURE, dir);
	assert_int_equal(system(cmd), 0);
	return dir;
}

static void remove_tree(char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

static void test_gone_and_damaged(void **state)
{
	char *dir = copy_fixture(), path[512];
	nk_host *host = NULL;
	struct nk_vm_ref ref;
	struct nk_vm_info *vm = NULL;
	nk_error *err = NULL;

	assert_int_equal(nk_host_open(dir, &host, NULL), 0);
	assert_int_equal(nk_vm_lookup(host, "q7test", &ref, NULL), 0);

	/* Files vanish as the process exits: gone, with no message.  A thread
	 * that ends is not the VM ending; a captured tree may lack ksm_stat
	 * and cgroup: those read without them. */
	const struct {
		const char *file;
		int want;
	} cases[] = {
	    {"stat", -ESRCH},  {"smaps_rollup", 0}, /* not read: smaps says it all */
	    {"smaps", -ESRCH}, {"cmdline", -ESRCH},	 {"ksm_stat", 0},
	    {"cgroup", 0},     {"task/14045/status", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char saved[600];
		snprintf(path, sizeof(path), "%s/proc/14042/%s", dir, cases[i].file);
		snprintf(saved, sizeof(saved), "%s.saved", path);
		assert_int_equal(rename(path, saved), 0);
		int r = nk_vm_read(host, &ref, NULL, NK_VM_READ_THREADS | NK_VM_READ_PLACEMENT, &vm,
				   &err);
		assert_int_equal(r, cases[i].want);
		assert_null(err);
		if (r == 0) {
			if (strcmp(cases[i].file, "ksm_stat") == 0)
				assert_false(vm->has_ksm);
			if (strcmp(cases[i].file, "task/14045/status") == 0)
				assert_false(vm->has_threads); /* no vCPU thread left */
			vm = nk_vm_info_free(vm);
		}
		assert_int_equal(rename(saved, path), 0);
	}
	/* Linux 6.1-6.3: ksm_stat holds rmap items alone, merging pages are a
	 * file of their own. */
	snprintf(path, sizeof(path), "%s/proc/14042/ksm_stat", dir);
	FILE *k = fopen(path, "w");
	assert_non_null(k);
	fputs("ksm_rmap_items 20288\n", k);
	fclose(k);
	snprintf(path, sizeof(path), "%s/proc/14042/ksm_merging_pages", dir);
	assert_non_null(k = fopen(path, "w"));
	fputs("597\n", k);
	fclose(k);
	assert_int_equal(nk_vm_read(host, &ref, NULL, 0, &vm, &err), 0);
	assert_true(vm->has_ksm);
	assert_int_equal(vm->ksm.rmap_items, 20288);
	assert_int_equal(vm->ksm.merging_pages, 597);
	assert_false(vm->ksm.has_zero_pages);
	vm = nk_vm_info_free(vm);

	/* A later process with the same PID is not this VM. */
	ref.start_time++;
	assert_int_equal(nk_vm_read(host, &ref, NULL, 0, &vm, &err), -ESRCH);
	assert_null(err);
	ref.start_time--;

	/* Damaged: an error naming the VM and the file. */
	snprintf(path, sizeof(path), "%s/proc/14042/smaps", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("7000-8000 rw-p 00000000 00:00 0\nRss: many kB\nVmFlags: rd wr\n", f);
	fclose(f);
	assert_int_equal(nk_vm_read(host, &ref, NULL, 0, &vm, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "VM q7test (PID 14042)"));
	assert_non_null(strstr(nk_error_message(err), "smaps"));
	err = nk_error_free(err);

	nk_vm_ref_done(&ref);
	nk_host_free(host);
	remove_tree(dir);
}

static void write_file(const char *dir, const char *file, const char *text, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/proc/%d/%s", dir, QEMU_PID, file);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

/* The name the finder gives the one VM of the tree, with `cache`. */
static char *found_name(nk_host *host, nk_vm_cache *cache, enum nk_vm_trust *ret_trust)
{
	struct nk_vm_ref *refs = NULL;
	int n = nk_vm_find_cached(host, cache, &refs, NULL);
	if (n == 0)
		return NULL;
	assert_int_equal(n, 1);
	char *name = strdup(refs[0].name);
	*ret_trust = refs[0].trust;
	nk_vm_refs_free(refs, 1);
	return name;
}

/* A finder that scans again remembers who each process is by PID, start
 * time and comm: a VM holding a KVM VM is not read again (its rewritten
 * command line goes unseen), but a new process with the same PID (another
 * start time), an exec (another comm) or an untrusted process is. */
static void test_find_cached(void **state)
{
	char *dir = copy_fixture(), path[512], *name;
	static const char cmdline[] = "qemu-system-x86_64\0-name\0guest=renamed\0";
	nk_host *host = NULL;
	nk_vm_cache *cache = nk_vm_cache_new();
	enum nk_vm_trust trust;

	assert_non_null(cache);
	snprintf(path, sizeof(path), "%s/proc/%d/fd", dir, QEMU_PID);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/proc/%d/fd/12", dir, QEMU_PID);
	assert_int_equal(symlink("anon_inode:kvm-vm", path), 0);
	assert_int_equal(nk_host_open(dir, &host, NULL), 0);

	name = found_name(host, cache, &trust);
	assert_string_equal(name, "q7test");
	assert_int_equal(trust, NK_VM_TRUST_KVM);
	free(name);
	write_file(dir, "cmdline", cmdline, sizeof(cmdline) - 1);
	name = found_name(host, cache, &trust);
	assert_string_equal(name, "q7test"); /* from the cache */
	free(name);
	name = found_name(host, NULL, &trust);
	assert_string_equal(name, "renamed"); /* without it */
	free(name);

	/* Another process with the PID: another start time. */
	char *stat = read_text(PROCS_FIXTURE "/proc/14042/stat");
	char *at = strstr(stat, " 248358 ");
	assert_non_null(at);
	memcpy(at, " 248359 ", 8);
	write_file(dir, "stat", stat, strlen(stat));
	name = found_name(host, cache, &trust);
	assert_string_equal(name, "renamed");
	free(name);

	/* An exec: same PID and start time, another comm (still a QEMU). */
	write_file(dir, "cmdline", cmdline, sizeof(cmdline) - 1);
	name = found_name(host, cache, &trust);
	free(name);
	static const char again[] = "qemu-system-x86_64\0-name\0guest=execd\0";
	write_file(dir, "cmdline", again, sizeof(again) - 1);
	at = strstr(stat, "(qemu-system-x86)");
	assert_non_null(at);
	memcpy(at, "(qemu-system-x87)", 17);
	write_file(dir, "stat", stat, strlen(stat));
	name = found_name(host, cache, &trust);
	assert_string_equal(name, "execd");
	free(name);

	/* Without the KVM VM it is trusted as root's: read again once a
	 * minute, not at every scan; untrusted (another user's), every time. */
	snprintf(path, sizeof(path), "%s/proc/%d/fd/12", dir, QEMU_PID);
	assert_int_equal(unlink(path), 0);
	static const char other[] = "qemu-system-x86_64\0-name\0guest=other\0";
	write_file(dir, "cmdline", other, sizeof(other) - 1);
	memcpy(strstr(stat, " 248359 "), " 248360 ", 8);
	write_file(dir, "stat", stat, strlen(stat));
	name = found_name(host, cache, &trust);
	assert_string_equal(name, "other");
	assert_int_equal(trust, NK_VM_TRUST_OWNER);
	free(name);
	write_file(dir, "cmdline", again, sizeof(again) - 1);
	name = found_name(host, cache, &trust);
	assert_string_equal(name, "other"); /* within the minute */
	free(name);
	char *status = read_text(PROCS_FIXTURE "/proc/14042/status");
	at = strstr(status, "Uid:\t0\t0\t0\t0");
	assert_non_null(at);
	char *edited = NULL;
	assert_true(asprintf(&edited, "%.*sUid:\t4242\t4242\t4242\t4242%s", (int)(at - status),
			     status, at + strlen("Uid:\t0\t0\t0\t0")) > 0);
	write_file(dir, "status", edited, strlen(edited));
	memcpy(strstr(stat, " 248360 "), " 248361 ", 8);
	write_file(dir, "stat", stat, strlen(stat));
	name = found_name(host, cache, &trust);
	assert_string_equal(name, "execd");
	assert_int_equal(trust, NK_VM_TRUST_NONE);
	free(name);
	write_file(dir, "cmdline", other, sizeof(other) - 1);
	name = found_name(host, cache, &trust);
	assert_string_equal(name, "other"); /* untrusted: read every time */
	free(name);

	/* It ends: gone from the cache too. */
	snprintf(path, sizeof(path), "%s/proc/%d/stat", dir, QEMU_PID);
	assert_int_equal(unlink(path), 0);
	assert_null(found_name(host, cache, &trust));

	free(edited);
	free(status);
	free(stat);
	nk_vm_cache_free(cache);
	nk_host_free(host);
	remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_read),
	    cmocka_unit_test(test_gone_and_damaged),
	    cmocka_unit_test(test_find_cached),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
