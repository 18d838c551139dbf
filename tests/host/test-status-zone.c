/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Status of our own kind of VM on the live kernel: a child process named
 * like the VMM (comm "numaksm-vmm") whose guest RAM is a numaksm zone
 * (memory.h), 4K and mergeable, then hugetlb when a 2M pool can be had.
 * Discovery finds it by kind and PID; its guest RAM is the zone, page by
 * page on the zone's node; KSM figures are its ksm_stat.  Then it exits:
 * as a zombie and once reaped it is "gone" -- no error, no message.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <numaksm/ksm.h>
#include <numaksm/memory.h>
#include <numaksm/vm.h>

#define ZONE_BYTES (32ull << 20)

struct child {
	pid_t pid;
	uint64_t addr;
};

/* Fork the stand-in VMM with a zone of `spec`; it reports the zone's address. */
static int spawn(const char *spec_text, struct child *ret)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct nk_zone_spec spec;
		nk_host *host = NULL;
		nk_zone *zone = NULL;
		uint64_t addr = 0;
		close(fds[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, "numaksm-vmm");
		nk_zone_spec_init(&spec);
		if (nk_zone_spec_parse(spec_text, &spec, NULL) == 0 &&
		    nk_host_open(NULL, &host, NULL) == 0 &&
		    nk_zone_create(host, &spec, &zone, NULL) == 0) {
			/* No two pages alike: KSM (another test may run it) can
			 * neither merge them nor map them to the zero page. */
			char *p = nk_zone_addr(zone);
			for (uint64_t off = 0; off < nk_zone_size(zone); off += 4096)
				snprintf(p + off, 64, "page %llu of pid %d",
					 (unsigned long long)(off / 4096), (int)getpid());
			addr = (uintptr_t)p;
		}
		if (write(fds[1], &addr, sizeof(addr)) != sizeof(addr))
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	uint64_t addr = 0;
	assert_int_equal(read(fds[0], &addr, sizeof(addr)), sizeof(addr));
	close(fds[0]);
	*ret = (struct child){.pid = pid, .addr = addr};
	return addr ? 0 : -1;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Find the child among all VMs and read it. */
static void check_child(nk_host *host, const struct child *ch, enum nk_backing backing,
			uint64_t page_size)
{
	struct nk_vm_ref *refs = NULL, *ref = NULL;
	struct nk_vm_info *vm = NULL;
	struct nk_ksm ksm;
	struct nk_ksm_proc_stat stat;
	bool has_ksm = nk_ksm_read(host, NK_KSM_ALL, &ksm, NULL) == 0;
	int n = nk_vm_find_all(host, &refs, NULL);

	assert_true(n >= 1);
	for (int i = 0; i < n; i++)
		if (refs[i].pid == ch->pid)
			ref = &refs[i];
	assert_non_null(ref);
	assert_int_equal(ref->kind, NK_VM_NUMAKSM);
	assert_string_equal(ref->comm, "numaksm-vmm");
	assert_int_equal(nk_vm_read(host, ref, has_ksm ? &ksm : NULL,
				    NK_VM_READ_PLACEMENT | NK_VM_READ_THREADS | NK_VM_READ_EXACT,
				    &vm, NULL),
			 0);

	/* Its guest RAM is the zone. */
	const struct nk_vm_region *zone = NULL;
	for (size_t i = 0; i < vm->n_regions; i++)
		if (vm->regions[i].start == ch->addr)
			zone = &vm->regions[i];
	assert_non_null(zone);
	assert_int_equal(zone->size_bytes, ZONE_BYTES);
	assert_int_equal(zone->backing, backing);
	assert_int_equal(zone->page_size, page_size);
	assert_int_equal(zone->rss_bytes, ZONE_BYTES); /* prefaulted */
	assert_false(vm->guest_ram_from_cmdline);
	assert_int_equal(vm->ref.kind, NK_VM_NUMAKSM);
	assert_false(vm->has_threads); /* no thread named like a vCPU */

	/* Every page of it, exactly, on a node. */
	assert_true(vm->has_placement);
	assert_string_equal(vm->placement.method, "move_pages");
	assert_true(vm->placement.exact);
	assert_true(vm->placement.present_bytes >= ZONE_BYTES);
	assert_int_equal(vm->placement.absent_bytes, 0);

	/* KSM as its ksm_stat says. */
	if (vm->has_ksm) {
		char path[64];
		FILE *f;
		char text[1024] = "";
		snprintf(path, sizeof(path), "/proc/%d/ksm_stat", ch->pid);
		assert_non_null(f = fopen(path, "r"));
		assert_true(fread(text, 1, sizeof(text) - 1, f) > 0);
		fclose(f);
		assert_int_equal(nk_ksm_parse_proc_stat(text, &stat), 0);
		assert_int_equal(vm->ksm.rmap_items, stat.rmap_items);
		if (backing != NK_BACKING_HUGETLB)
			assert_true(vm->mergeable_bytes >= ZONE_BYTES);
	}
	nk_vm_info_free(vm);
	nk_vm_refs_free(refs, (size_t)n);
}

static void test_zone_4k(void **state)
{
	nk_host *host = NULL;
	struct child ch;
	assert_int_equal(nk_host_open(NULL, &host, NULL), 0);
	if (spawn("id=ram,size=32M,mergeable=on", &ch) < 0) {
		reap(ch.pid);
		nk_host_free(host);
		skip();
	}
	check_child(host, &ch, NK_BACKING_4K, 4096);

	/* It exits: a zombie first, then reaped.  Gone both times, silently. */
	struct nk_vm_ref ref;
	struct nk_vm_info *vm = NULL;
	nk_error *err = NULL;
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", ch.pid);
	assert_int_equal(nk_vm_lookup(host, pid, &ref, NULL), 0);
	kill(ch.pid, SIGKILL);
	for (int i = 0; i < 200; i++) {
		char path[64], st[256] = "";
		snprintf(path, sizeof(path), "/proc/%d/stat", ch.pid);
		FILE *f = fopen(path, "r");
		if (f) {
			if (!fgets(st, sizeof(st), f))
				st[0] = '\0';
			fclose(f);
		}
		if (strstr(st, ") Z "))
			break;
		usleep(10000);
	}
	assert_int_equal(
	    nk_vm_read(host, &ref, NULL, NK_VM_READ_PLACEMENT | NK_VM_READ_THREADS, &vm, &err),
	    -ESRCH);
	assert_null(err);
	waitpid(ch.pid, NULL, 0);
	assert_int_equal(nk_vm_read(host, &ref, NULL, NK_VM_READ_PLACEMENT, &vm, &err), -ESRCH);
	assert_null(err);
	nk_vm_ref_done(&ref);
	nk_host_free(host);
}

/* The 2M pool, grown by 16 pages for the test and put back in teardown,
 * whatever the test did. */
struct pool {
	nk_host *host;
	uint64_t before;
	bool grown;
	pid_t child;
};

static int pool_grow(void **state)
{
	struct pool *p = calloc(1, sizeof(*p));
	uint64_t got = 0;
	assert_non_null(p);
	assert_int_equal(nk_host_open(NULL, &p->host, NULL), 0);
	*state = p;
	if (nk_host_read_u64(p->host, "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
			     &p->before, NULL) < 0)
		return 0;
	p->grown = true;
	if (nk_hugepages_reserve(p->host, -1, 2048, p->before + 16, &got, NULL) < 0 ||
	    got < p->before + 16)
		p->grown = got > p->before ? true : false;
	return 0;
}

static int pool_restore(void **state)
{
	struct pool *p = *state;
	uint64_t got;
	if (p->child > 0)
		reap(p->child);
	if (p->grown)
		nk_hugepages_reserve(p->host, -1, 2048, p->before, &got, NULL);
	nk_host_free(p->host);
	free(p);
	return 0;
}

static void test_zone_hugetlb(void **state)
{
	struct pool *p = *state;
	uint64_t now = 0;
	struct child ch;

	if (!p->grown ||
	    nk_host_read_u64(p->host, "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
			     &now, NULL) < 0 ||
	    now < 16)
		skip(); /* no 2M pool to be had */
	int r = spawn("id=ram,size=32M,hugepages=2M", &ch);
	p->child = ch.pid;
	assert_int_equal(r, 0);
	check_child(p->host, &ch, NK_BACKING_HUGETLB, 2u << 20);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("needs root (move_pages on another process, hugepage pools)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zone_4k),
	    cmocka_unit_test_setup_teardown(test_zone_hugetlb, pool_grow, pool_restore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
