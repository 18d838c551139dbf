/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host facts on the live kernel, cross-checked against libnuma and direct
 * system calls.  Needs root; exits 77 (skipped) without it.
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
#include <unistd.h>
#include <sys/mman.h>
#include <cmocka.h>
#include <numa.h>

#include <numaksm/hostinfo.h>

static void test_nodes_match_libnuma(void **state)
{
	nk_host *h = NULL;
	struct nk_hostinfo *info = NULL;
	nk_error *err = NULL;

	assert_int_equal(nk_host_open(NULL, &h, &err), 0);
	assert_true(nk_host_is_live(h));
	if (nk_hostinfo_read(h, &info, &err) < 0)
		fail_msg("%s", nk_error_message(err));
	if (numa_available() < 0) {
		assert_false(info->numa_sysfs);
		skip();
	}
	struct bitmask *nodes = numa_get_mems_allowed();
	int libnuma_nodes = 0;
	for (int n = 0; n <= numa_max_node(); n++)
		if (numa_bitmask_isbitset(numa_nodes_ptr, n))
			libnuma_nodes++;
	assert_int_equal(info->n_nodes, libnuma_nodes);
	for (size_t i = 0; i < info->n_nodes; i++) {
		const struct nk_numa_node *n = &info->nodes[i];
		struct bitmask *cpus = numa_allocate_cpumask();
		assert_int_equal(numa_node_to_cpus(n->id, cpus), 0);
		for (unsigned c = 0; c < cpus->size; c++)
			assert_int_equal(numa_bitmask_isbitset(cpus, c),
					 nk_bitmap_test(n->cpus, c));
		numa_free_cpumask(cpus);
		for (size_t j = 0; j < info->n_nodes; j++)
			assert_int_equal(n->distances[j],
					 (uint64_t)numa_distance(n->id, info->nodes[j].id));
		long long free_bytes = 0;
		long long size = numa_node_size64(n->id, &free_bytes);
		assert_int_equal((uint64_t)size, n->mem_total_kb * 1024);
	}
	numa_free_nodemask(nodes);
	nk_hostinfo_free(info);
	nk_host_free(h);
}

static void test_probes_agree_with_syscalls(void **state)
{
	nk_host *h = NULL;
	struct nk_kvm_probe kvm;
	struct nk_privileges priv;

	assert_int_equal(nk_host_open("/", &h, NULL), 0);
	assert_int_equal(nk_probe_kvm(h, &kvm, NULL), 0);
	assert_int_equal(kvm.present, access("/dev/kvm", F_OK) == 0);
	if (kvm.present && kvm.open_errno == 0) {
		assert_int_equal(kvm.api_version, 12);
		assert_true(kvm.usable);
		assert_true(kvm.max_vcpus > 0);
	}

	int pw = nk_probe_madv_populate_write(h, NULL);
	assert_true(pw == 0 || pw == 1);
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal(pw, madvise(p, 4096, 23 /* MADV_POPULATE_WRITE */) == 0);
	munmap(p, 4096);

	assert_int_equal(nk_probe_privileges(h, &priv, NULL), 0);
	assert_int_equal(priv.euid, geteuid());
	if (geteuid() == 0) {
		assert_true(priv.cap_sys_admin);
		assert_true(priv.cap_sys_nice);
	}
	nk_host_free(h);
}

static void test_live_write_roundtrip(void **state)
{
	/* Write a KSM knob back with its own value: the write path works and
	 * the host is left exactly as found. */
	nk_host *h = NULL;
	nk_error *err = NULL;
	char *before = NULL, *after = NULL;

	if (geteuid() != 0 || access("/sys/kernel/mm/ksm/sleep_millisecs", W_OK) != 0)
		skip();
	assert_int_equal(nk_host_open("/", &h, NULL), 0);
	assert_true(nk_host_read(h, "/sys/kernel/mm/ksm/sleep_millisecs", &before, NULL) > 0);
	if (nk_host_write(h, "/sys/kernel/mm/ksm/sleep_millisecs", before, &err) < 0)
		fail_msg("%s", nk_error_message(err));
	assert_true(nk_host_read(h, "/sys/kernel/mm/ksm/sleep_millisecs", &after, NULL) > 0);
	assert_string_equal(before, after);
	/* an invalid value is refused by the kernel and reported */
	assert_true(nk_host_write(h, "/sys/kernel/mm/ksm/sleep_millisecs", "x", &err) < 0);
	assert_non_null(strstr(nk_error_message(err), "sleep_millisecs"));
	nk_error_free(err);
	free(before);
	free(after);
	nk_host_free(h);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "host tests need root\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nodes_match_libnuma),
	    cmocka_unit_test(test_probes_agree_with_syscalls),
	    cmocka_unit_test(test_live_write_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
