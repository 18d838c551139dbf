/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest RAM zones on the live kernel: every backing and policy on node 0,
 * pool shortages refused with nothing left mapped, KSM merging of
 * mergeable twins only, run-time unmerge, placement and migration.  Host
 * state (hugepage pools, KSM knobs) is restored after each test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>
#include <sys/mman.h>
#include <time.h>
#include <cmocka.h>

#include <numaksm/memory.h>
#include <numaksm/policy.h>
#include "memory-internal.h"

static nk_host *host;
static char *saved_values[1];	/* host state restored after every test, see below */
static nk_ksm_owner *ksm_owner; /* KSM's knobs while a test owns them */

#define HP2M "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
#define KSM  "/sys/kernel/mm/ksm/"

static char *read_attr(const char *path)
{
	char *text = NULL;
	if (nk_host_read(host, path, &text, NULL) < 0)
		return NULL;
	return text;
}

static void write_attr(const char *path, const char *value)
{
	nk_error *err = NULL;
	if (nk_host_write(host, path, value, &err) < 0)
		fail_msg("%s", nk_error_message(err));
}

static nk_zone *create(const char *text)
{
	struct nk_zone_spec spec;
	nk_zone *z = NULL;
	nk_error *err = NULL;
	nk_zone_spec_init(&spec);
	if (nk_zone_spec_parse(text, &spec, &err) < 0)
		fail_msg("parse '%s': %s", text, nk_error_message(err));
	if (nk_zone_create(host, &spec, &z, &err) < 0)
		fail_msg("create '%s': %s", text, nk_error_message(err));
	nk_zone_spec_done(&spec);
	return z;
}

static int create_fails(const char *text, int code, const char *in_message, const char *in_hint)
{
	struct nk_zone_spec spec;
	nk_zone *z = NULL;
	nk_error *err = NULL;
	nk_zone_spec_init(&spec);
	if (nk_zone_spec_parse(text, &spec, &err) < 0)
		fail_msg("parse '%s': %s", text, nk_error_message(err));
	int r = nk_zone_create(host, &spec, &z, &err);
	nk_zone_spec_done(&spec);
	if (r != -code)
		fail_msg("create '%s' = %d (%s), expected %d", text, r,
			 err ? nk_error_message(err) : "", -code);
	assert_null(z);
	if (!strstr(nk_error_message(err), in_message))
		fail_msg("'%s': message '%s' lacks '%s'", text, nk_error_message(err), in_message);
	if (in_hint && (!nk_error_get_hint(err) || !strstr(nk_error_get_hint(err), in_hint)))
		fail_msg("'%s': hint '%s' lacks '%s'", text, nk_error_get_hint(err), in_hint);
	nk_error_free(err);
	return r;
}

/* Is anything named numaksm-ID still mapped in this process? */
static bool memfd_mapped(const char *id)
{
	char *maps = read_attr("/proc/self/maps"), name[128];
	snprintf(name, sizeof(name), "memfd:numaksm-%s ", id);
	bool found = maps && strstr(maps, name);
	free(maps);
	return found;
}

static void assert_all_on_node0(nk_zone *z)
{
	struct nk_placement p;
	nk_error *err = NULL;
	if (nk_zone_placement(z, 0, &p, &err) < 0)
		fail_msg("%s", nk_error_message(err));
	assert_true(p.exact);
	assert_int_equal(p.pages, nk_zone_size(z) / nk_zone_page_size(z));
	assert_int_equal(p.not_present, 0); /* prefaulted */
	assert_true(p.n_node_pages >= 1);
	assert_int_equal(p.node_pages[0], p.pages);
	nk_placement_done(&p);
}

static void test_backings_and_policies_on_node0(void **state)
{
	static const char *const specs[] = {
	    "id=a,size=8M",
	    "id=b,size=8M,policy=bind,nodes=0",
	    "id=c,size=8M,policy=preferred,nodes=0",
	    "id=d,size=8M,policy=interleave,nodes=0",
	    "id=e,size=8M,policy=preferred-many,nodes=0",
	    "id=f,size=8M,policy=weighted-interleave,nodes=0",
	    "id=g,size=8M,thp=on,policy=bind,nodes=0",
	    "id=h,size=8M,shared=on,policy=bind,nodes=0",
	    "id=i,size=8M,mergeable=on,policy=bind,nodes=0,dump=off",
	    "id=j,size=8M,threads=3",
	};
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		nk_zone *z = create(specs[i]);
		assert_int_equal(nk_zone_size(z), 8 << 20);
		assert_int_equal(nk_zone_page_size(z), 4096);
		assert_int_equal(nk_zone_fd(z) >= 0, strstr(specs[i], "shared=on") != NULL);
		const struct nk_prefault_stats *st = nk_zone_prefault_stats(z);
		assert_true(st->threads >= 1);
		assert_true(st->populate_write);
		assert_non_null(st->cpus);
		assert_true(nk_bitmap_test(st->cpus, 0) || nk_bitmap_weight(st->cpus) > 0);
		if (strstr(specs[i], "thp=on"))
			assert_int_equal((uintptr_t)nk_zone_addr(z) % (2 << 20), 0);
		assert_all_on_node0(z);
		nk_zone_free(z);
	}
}

static void test_touch_fallback(void **state)
{
	struct nk_zone_spec spec;
	nk_zone *z = NULL;
	nk_zone_spec_init(&spec);
	assert_int_equal(nk_zone_spec_parse("id=touch,size=4M,policy=bind,nodes=0", &spec, NULL),
			 0);
	spec.force_touch = true;
	assert_int_equal(nk_zone_create(host, &spec, &z, NULL), 0);
	assert_false(nk_zone_prefault_stats(z)->populate_write);
	assert_all_on_node0(z);
	/* touching keeps content: write, re-prefault, read back */
	memset(nk_zone_addr(z), 0x5a, 4096);
	assert_int_equal(nk_zone_prefault(z, 2, NULL, NULL, NULL), 0);
	assert_int_equal(((unsigned char *)nk_zone_addr(z))[100], 0x5a);
	nk_zone_free(z);
	nk_zone_spec_done(&spec);
}

struct progress_seen {
	unsigned calls;
	uint64_t last;
	bool monotonic;
};

static void on_progress(uint64_t done, uint64_t total, void *userdata)
{
	struct progress_seen *s = userdata;
	if (done < s->last || done > total)
		s->monotonic = false;
	s->last = done;
	s->calls++;
}

static void test_progress_callback(void **state)
{
	nk_zone *z = create("id=prog,size=64M,prefault=off");
	struct progress_seen seen = {.monotonic = true};
	assert_int_equal(nk_zone_prefault(z, 2, on_progress, &seen, NULL), 0);
	assert_true(seen.calls >= 1);
	assert_true(seen.monotonic);
	assert_int_equal(seen.last, 64 << 20); /* the final call reports completion */
	assert_all_on_node0(z);
	nk_zone_free(z);
}

static void test_bad_specs_refused(void **state)
{
	create_fails("id=s1,size=4097", EINVAL, "not a multiple of the 4K page size", "4096");
	create_fails("id=s2,size=8M,policy=bind,nodes=7", ENODEV, "node 7 does not exist", NULL);
	create_fails("id=s3,size=8M,policy=bind", EINVAL, "needs nodes=LIST", NULL);
	create_fails("id=s4,size=8M,nodes=0", EINVAL, "policy=default takes no nodes", NULL);
	create_fails("id=s5,size=8M,policy=preferred,nodes=0-1", EINVAL, "takes one node",
		     "preferred-many");
	create_fails("id=s6,size=8M,hugepages=2M,mergeable=on", EINVAL, "mergeable=on", "KSM");
	create_fails("id=s7,size=8M,shared=on,mergeable=on", EINVAL, "shared=on", "KSM");
	create_fails("id=s8,size=0", EINVAL, "size is 0", NULL);
	create_fails("id=s9,size=3M,hugepages=2M,policy=bind,nodes=0", EINVAL,
		     "not a multiple of the 2M page size", NULL);
	create_fails("id=s10,size=8M,hugepages=2M,policy=bind,nodes=0,prefault=off", EINVAL,
		     "prefault=off", "SIGBUS");
	if (access("/sys/kernel/mm/hugepages/hugepages-1048576kB", F_OK) != 0)
		create_fails("id=s11,size=1G,hugepages=1G", EOPNOTSUPP, "no 1G hugepages", NULL);
	/* nothing of any of them stays mapped */
	assert_false(memfd_mapped("s6"));
	assert_false(memfd_mapped("s9"));
}

static void test_hugetlb_and_pool_shortage(void **state)
{
	nk_error *err = NULL;
	uint64_t got = 0;

	/* A pool of 4 pages: a 4-page zone fits, an 8-page one is refused
	 * before mapping and leaves nothing behind. */
	assert_int_equal(nk_hugepages_reserve(host, 0, 2048, 4, &got, &err), 0);
	if (got < 4)
		skip(); /* memory too fragmented for even 4 pages */
	nk_zone *z = create("id=hp,size=8M,hugepages=2M,policy=bind,nodes=0");
	assert_true(nk_zone_fd(z) >= 0);
	assert_int_equal(nk_zone_page_size(z), 2 << 20);
	assert_true(memfd_mapped("hp"));
	assert_all_on_node0(z);
	/* KSM cannot merge hugetlb: refused with the reason */
	assert_int_equal(nk_zone_set_mergeable(z, true, &err), -EINVAL);
	assert_non_null(strstr(nk_error_get_hint(err), "silently ignore"));
	err = nk_error_free(err);
	/* with all 4 pages used, another zone is refused, naming the fix */
	create_fails("id=short,size=4M,hugepages=2M,policy=bind,nodes=0", ENOMEM,
		     "2048 kB hugepages", "numaksm hugepages reserve --node 0 --size 2M --count");
	assert_false(memfd_mapped("short"));
	nk_zone_free(z);
	assert_false(memfd_mapped("hp"));

	create_fails("id=big,size=16M,hugepages=2M,policy=bind,nodes=0", ENOMEM,
		     "node 0 has 4 free 2048 kB hugepages, 8 needed",
		     "numaksm hugepages reserve --node 0 --size 2M --count 8");
	assert_false(memfd_mapped("big"));

	/* Skipping the pool check reaches the kernel's own refusal at mmap
	 * (the global reservation), still with nothing mapped. */
	struct nk_zone_spec spec;
	nk_zone_spec_init(&spec);
	assert_int_equal(nk_zone_spec_parse("id=nocheck,size=16M,hugepages=2M", &spec, NULL), 0);
	spec.no_pool_check = true;
	assert_int_equal(nk_zone_create(host, &spec, &z, &err), -ENOMEM);
	assert_non_null(strstr(nk_error_message(err), "zone nocheck"));
	err = nk_error_free(err);
	nk_zone_spec_done(&spec);
	assert_false(memfd_mapped("nocheck"));
}

/* KSM kB of the VMA starting at addr, from /proc/self/smaps. */
static uint64_t vma_ksm_kb(void *addr)
{
	char *smaps = read_attr("/proc/self/smaps"), head[32];
	uint64_t kb = UINT64_MAX;
	snprintf(head, sizeof(head), "%" PRIxPTR "-", (uintptr_t)addr);
	char *p = smaps ? strstr(smaps, head) : NULL;
	if (p && (p = strstr(p, "\nKSM:")))
		kb = strtoull(p + 5, NULL, 10);
	free(smaps);
	return kb;
}

static void fill_pattern(nk_zone *z)
{
	unsigned char *p = nk_zone_addr(z);
	for (uint64_t off = 0; off < nk_zone_size(z); off += 4096)
		memset(p + off, (int)(1 + (off / 4096) % 8), 4096);
}

static void test_ksm_merges_mergeable_twins_only(void **state)
{
	if (access(KSM "run", W_OK) != 0)
		skip();
	/* No tuner (nor another test) may drive KSM meanwhile; the knobs it
	 * writes are saved first, so even a killed test leaves them to
	 * 'numaksm ksm restore'. */
	nk_error *own_err = NULL;
	if (nk_ksm_own(host, NULL, "test-zone",
		       NK_KSM_BIT(NK_KSM_RUN) | NK_KSM_BIT(NK_KSM_SLEEP_MILLISECS) |
			   NK_KSM_BIT(NK_KSM_PAGES_TO_SCAN) | NK_KSM_BIT(NK_KSM_ADVISOR_MODE),
		       &ksm_owner, &own_err) < 0) {
		print_message("skipped: %s\n", nk_error_message(own_err));
		nk_error_free(own_err);
		skip();
	}
	nk_zone *a = create("id=ka,size=16M,mergeable=on");
	nk_zone *b = create("id=kb,size=16M,mergeable=on");
	nk_zone *c = create("id=kc,size=16M");
	assert_true(nk_zone_is_mergeable(a));
	assert_false(nk_zone_is_mergeable(c));
	fill_pattern(a);
	fill_pattern(b);
	fill_pattern(c);

	if (nk_ksm_has(nk_ksm_owner_saved(ksm_owner), NK_KSM_ADVISOR_MODE))
		write_attr(KSM "advisor_mode", "none"); /* else pages_to_scan is refused */
	write_attr(KSM "sleep_millisecs", "0");
	write_attr(KSM "pages_to_scan", "10000");
	write_attr(KSM "run", "1");
	uint64_t ka = 0, kb = 0;
	for (int i = 0; i < 600 && (ka < 8192 || kb < 8192); i++) {
		usleep(100 * 1000);
		ka = vma_ksm_kb(nk_zone_addr(a));
		kb = vma_ksm_kb(nk_zone_addr(b));
	}
	/* 16 MiB of 8 distinct pages: nearly all of both zones is merged (ksmd
	 * scans every mergeable page on the host, so allow up to a minute) */
	assert_true(ka >= 8192);
	assert_true(kb >= 8192);
	assert_int_equal(vma_ksm_kb(nk_zone_addr(c)), 0);
	/* The library's per-zone figure agrees with smaps read here (ksmd
	 * stopped, merged pages kept, so the figure holds still). */
	write_attr(KSM "run", "0");
	uint64_t bytes = UINT64_MAX;
	if (nk_zone_ksm_bytes(a, &bytes, NULL) == 0)
		assert_int_equal(bytes, vma_ksm_kb(nk_zone_addr(a)) * 1024);
	else
		assert_int_equal(vma_ksm_kb(nk_zone_addr(a)), UINT64_MAX); /* no "KSM:" line */

	/* Run-time unmerge: the zone's pages become its own again. */
	nk_error *err = NULL;
	if (nk_zone_set_mergeable(a, false, &err) < 0)
		fail_msg("%s", nk_error_message(err));
	assert_false(nk_zone_is_mergeable(a));
	assert_int_equal(vma_ksm_kb(nk_zone_addr(a)), 0);
	assert_int_equal(((unsigned char *)nk_zone_addr(a))[3 * 4096], 4); /* content intact */

	nk_zone_free(a);
	nk_zone_free(b);
	nk_zone_free(c);
	assert_int_equal(nk_ksm_owner_release(ksm_owner, true, NULL), 0);
	ksm_owner = NULL;
}

static void test_placement_sampling(void **state)
{
	nk_zone *z = create("id=samp,size=1G,policy=bind,nodes=0");
	struct nk_placement p;
	assert_int_equal(nk_zone_placement(z, 4096, &p, NULL), 0);
	assert_false(p.exact);
	assert_int_equal(p.sampled, 4096);
	assert_int_equal(p.pages, 262144);
	assert_true(p.error_pages > 0);
	/* all on node 0: the estimate is the whole zone, within its bound */
	assert_true((double)p.node_pages[0] >= (double)p.pages - p.error_pages);
	nk_placement_done(&p);
	/* a range never faulted is reported as not present, and stays so */
	nk_zone *n = create("id=absent,size=8M,prefault=off");
	assert_int_equal(nk_zone_placement(n, 0, &p, NULL), 0);
	assert_int_equal(p.not_present, 2048);
	nk_placement_done(&p);
	assert_int_equal(nk_zone_placement(n, 0, &p, NULL), 0);
	assert_int_equal(p.not_present, 2048);
	nk_placement_done(&p);
	nk_zone_free(n);
	nk_zone_free(z);
}

/* Touching pages the pool cannot back raises SIGBUS: the guard must turn
 * it into an error, and MADV_POPULATE_WRITE must report it the same way. */
/* Two zones with the same flags, mapped next to each other, are one
 * mapping to the kernel until their flags differ: switching KSM off and on
 * again for either must work however the kernel splits and merges them. */
static void test_adjacent_zones_toggled(void **state)
{
	nk_zone *a = create("id=adj0,size=16M,mergeable=on,prefault=off");
	nk_zone *b = create("id=adj1,size=16M,mergeable=on,prefault=off");
	char *lo = nk_zone_addr(a) < nk_zone_addr(b) ? nk_zone_addr(a) : nk_zone_addr(b);
	char *hi = lo == (char *)nk_zone_addr(a) ? nk_zone_addr(b) : nk_zone_addr(a);
	nk_error *err = NULL;
	/* The point of the test: the kernel put them side by side. */
	if (lo + 16 * 1048576 != hi)
		print_message("note: the zones are not adjacent here (%p, %p)\n", (void *)lo,
			      (void *)hi);
	nk_zone *order[] = {b, a, b, a};
	bool want[] = {false, false, true, true};
	for (size_t i = 0; i < 4; i++) {
		if (nk_zone_set_mergeable(order[i], want[i], &err) < 0)
			fail_msg("step %zu: %s", i, nk_error_message(err));
		assert_int_equal(nk_zone_is_mergeable(order[i]), want[i]);
	}
	/* The higher one off, then on, with the lower one on throughout. */
	nk_zone *higher = hi == (char *)nk_zone_addr(a) ? a : b;
	assert_int_equal(nk_zone_set_mergeable(higher, false, NULL), 0);
	assert_int_equal(nk_zone_set_mergeable(higher, true, &err), 0);
	assert_true(nk_zone_is_mergeable(a) && nk_zone_is_mergeable(b));
	nk_zone_free(a);
	nk_zone_free(b);
}

/* More than the host can give: refused before anything is mapped (even
 * without prefault: the guest would fault it in), unless forced. */
static void test_memory_shortage(void **state)
{
	char *meminfo = read_attr("/proc/meminfo"), text[128];
	unsigned long long total_kb = 0;
	assert_non_null(meminfo);
	assert_int_equal(sscanf(strstr(meminfo, "MemTotal:"), "MemTotal: %llu kB", &total_kb), 1);
	free(meminfo);
	unsigned long long huge_g = total_kb * 2 / 1048576 + 1;
	snprintf(text, sizeof(text), "id=big,size=%lluG,prefault=off", huge_g);
	create_fails(text, ENOMEM, "zone big: the host can give", "pass --force");
	snprintf(text, sizeof(text), "id=big,size=%lluG,policy=bind,nodes=0,prefault=off", huge_g);
	create_fails(text, ENOMEM, "zone big: node 0 can give", "choose other nodes");
	assert_false(memfd_mapped("big"));

	/* --force: the check is skipped; what the kernel then says is its own
	 * (an overcommit refusal, or a mapping never faulted in). */
	struct nk_zone_spec spec;
	nk_zone *z = NULL;
	nk_error *err = NULL;
	nk_zone_spec_init(&spec);
	snprintf(text, sizeof(text), "id=big,size=%lluG,prefault=off", huge_g);
	assert_int_equal(nk_zone_spec_parse(text, &spec, NULL), 0);
	spec.force = true;
	if (nk_zone_create(host, &spec, &z, &err) < 0)
		assert_null(strstr(nk_error_message(err), "can give"));
	nk_error_free(err);
	nk_zone_free(z);
	nk_zone_spec_done(&spec);
}

static void test_prefault_never_sigbus(void **state)
{
	uint64_t got = 0, fail = 1;
	struct nk_prefault_stats st = {0};
	assert_int_equal(nk_hugepages_reserve(host, -1, 2048, 0, &got, NULL), 0);
	if (got != 0)
		skip(); /* pages in use elsewhere */
	void *p = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_NORESERVE, -1, 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal(
	    nk_prefault_range(p, 4 << 20, 2 << 20, 2, NULL, true, NULL, NULL, &st, &fail), -EFAULT);
	assert_int_equal(fail % (2 << 20), 0);
	assert_int_equal(
	    nk_prefault_range(p, 4 << 20, 2 << 20, 1, NULL, false, NULL, NULL, &st, &fail),
	    -EFAULT);
	munmap(p, 4 << 20);
}

static void test_migrate_single_node(void **state)
{
	nk_zone *z = create("id=mig,size=16M");
	struct nk_migration m;
	nk_bitmap *to = NULL;
	nk_error *err = NULL;
	assert_int_equal(nk_parse_list("0", NULL, &to, NULL), 0);
	if (nk_zone_migrate(z, to, &m, &err) < 0)
		fail_msg("%s", nk_error_message(err));
	assert_int_equal(m.pages_already, 4096);
	assert_int_equal(m.pages_moved, 0);
	assert_int_equal(m.pages_failed, 0);
	assert_int_equal(nk_zone_spec(z)->policy, NK_POLICY_BIND);
	nk_bitmap_free(to);
	assert_int_equal(nk_parse_list("9", NULL, &to, NULL), 0);
	assert_int_equal(nk_zone_migrate(z, to, &m, &err), -ENODEV);
	assert_non_null(strstr(nk_error_message(err), "node 9"));
	nk_error_free(err);
	nk_bitmap_free(to);
	nk_zone_free(z);
}

/* Host state the tests change, saved once and restored after every test,
 * whether it passed or not: the 2M pool here, KSM's knobs by their owner
 * (a test that failed half-way has not released it). */
static const char *const saved_paths[] = {HP2M};

static int restore_host(void **state)
{
	if (ksm_owner && nk_ksm_owner_release(ksm_owner, true, NULL) < 0)
		return -1;
	ksm_owner = NULL;
	if (saved_values[0] && nk_host_write(host, saved_paths[0], saved_values[0], NULL) < 0)
		return -1;
	return 0;
}

static int group_setup(void **state)
{
	if (nk_host_open("/", &host, NULL) < 0)
		return -1;
	saved_values[0] = read_attr(saved_paths[0]);
	if (saved_values[0])
		saved_values[0][strcspn(saved_values[0], "\n")] = '\0';
	return 0;
}

static int group_teardown(void **state)
{
	int r = restore_host(state);
	free(saved_values[0]);
	nk_host_free(host);
	return r;
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "zone tests need root\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_backings_and_policies_on_node0, restore_host),
	    cmocka_unit_test_teardown(test_touch_fallback, restore_host),
	    cmocka_unit_test_teardown(test_progress_callback, restore_host),
	    cmocka_unit_test_teardown(test_bad_specs_refused, restore_host),
	    cmocka_unit_test_teardown(test_hugetlb_and_pool_shortage, restore_host),
	    cmocka_unit_test_teardown(test_ksm_merges_mergeable_twins_only, restore_host),
	    cmocka_unit_test_teardown(test_placement_sampling, restore_host),
	    cmocka_unit_test_teardown(test_adjacent_zones_toggled, restore_host),
	    cmocka_unit_test_teardown(test_memory_shortage, restore_host),
	    cmocka_unit_test_teardown(test_prefault_never_sigbus, restore_host),
	    cmocka_unit_test_teardown(test_migrate_single_node, restore_host),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
