/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Zone specs and the memory module's pure helpers, on literals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include <numaksm/memory.h>
#include "memory-internal.h"

static void test_parse_full(void **state)
{
	struct nk_zone_spec s;
	nk_error *err = NULL;
	char *nodes = NULL;
	nk_zone_spec_init(&s);
	assert_true(s.prefault);
	assert_true(s.dump);
	if (nk_zone_spec_parse("id=z0,size=1G,hugepages=2M,policy=bind,nodes=0-1:3,prefault=off,"
			       "dump=off,threads=4",
			       &s, &err) < 0)
		fail_msg("%s", nk_error_message(err));
	assert_string_equal(s.id, "z0");
	assert_int_equal(s.size_bytes, 1ull << 30);
	assert_int_equal(s.backing, NK_BACKING_HUGETLB);
	assert_int_equal(s.hugepage_kb, 2048);
	assert_int_equal(s.policy, NK_POLICY_BIND);
	assert_true(nk_bitmap_format(s.nodes, &nodes) >= 0);
	assert_string_equal(nodes, "0-1,3");
	free(nodes);
	assert_false(s.prefault);
	assert_false(s.dump);
	assert_int_equal(s.prefault_threads, 4);
	nk_zone_spec_done(&s);

	nk_zone_spec_init(&s);
	assert_int_equal(nk_zone_spec_parse("size=512M,thp=on,mergeable=on,policy=weighted-"
					    "interleave,nodes=0,1",
					    &s, &err),
			 -EINVAL); /* "1" alone is not key=value */
	assert_non_null(strstr(nk_error_message(err), "'1'"));
	err = nk_error_free(err);
	nk_zone_spec_done(&s);

	nk_zone_spec_init(&s);
	assert_int_equal(
	    nk_zone_spec_parse("size=512M,thp=on,mergeable=yes,hugepages=none", &s, NULL), 0);
	assert_int_equal(s.backing, NK_BACKING_4K); /* the last word wins */
	assert_true(s.mergeable);
	assert_null(s.id);
	nk_zone_spec_done(&s);

	nk_zone_spec_init(&s);
	assert_int_equal(nk_zone_spec_parse("size=1G,hugepages=1GiB", &s, NULL), 0);
	assert_int_equal(s.hugepage_kb, 1048576);
	nk_zone_spec_done(&s);

	/* THP after hugepages: no hugetlb page size is left behind (the VMM
	 * would align the zone by it). */
	nk_zone_spec_init(&s);
	assert_int_equal(nk_zone_spec_parse("size=1G,hugepages=1G,thp=on", &s, NULL), 0);
	assert_int_equal(s.backing, NK_BACKING_THP);
	assert_int_equal(s.hugepage_kb, 0);
	nk_zone_spec_done(&s);
}

static void expect_bad(const char *text, const char *in_message)
{
	struct nk_zone_spec s;
	nk_error *err = NULL;
	nk_zone_spec_init(&s);
	int r = nk_zone_spec_parse(text, &s, &err);
	assert_true(r == -EINVAL || r == -ERANGE);
	assert_int_equal(nk_error_code(err), -r);
	if (!strstr(nk_error_message(err), in_message))
		fail_msg("'%s': message '%s' lacks '%s'", text, nk_error_message(err), in_message);
	nk_error_free(err);
	nk_zone_spec_done(&s);
}

static void test_parse_bad(void **state)
{
	expect_bad("", "empty zone");
	expect_bad("id=z0", "no size=");
	expect_bad("size=1X", "zone size: invalid unit");
	expect_bad("size=1G,hugepages=3M", "invalid hugepage size '3M'");
	expect_bad("size=1G,hugepages=64K", "invalid hugepage size '64K'");
	expect_bad("size=1G,policy=spread", "unknown policy 'spread'");
	expect_bad("size=1G,nodes=1-0", "reversed");
	expect_bad("size=1G,mergeable=maybe", "expected on or off");
	expect_bad("size=1G,colour=blue", "unknown zone key 'colour'");
	expect_bad("size=1G,id=a/b", "invalid zone id");
	expect_bad("size=1G,threads=2000", "prefault threads");
	expect_bad("size=1G,,policy=bind", "empty item");
	expect_bad("size=1G,", "empty item");
}

static void test_names(void **state)
{
	assert_string_equal(nk_policy_name(NK_POLICY_PREFERRED_MANY), "preferred-many");
	assert_string_equal(nk_policy_name(NK_POLICY_WEIGHTED_INTERLEAVE), "weighted-interleave");
	assert_string_equal(nk_policy_name((enum nk_policy)42), "unknown");
	assert_string_equal(nk_backing_name(NK_BACKING_THP), "THP");
}

static void test_nodemask(void **state)
{
	nk_bitmap *b = NULL;
	unsigned long *mask = NULL, maxnode = 0;
	assert_int_equal(nk_parse_list("0,2,65", NULL, &b, NULL), 0);
	assert_int_equal(nk_nodemask(b, &mask, &maxnode), 0);
	assert_int_equal(maxnode, 67);
	assert_int_equal(mask[0], 0x5);
	assert_int_equal(mask[1], 0x2);
	free(mask);
	nk_bitmap_free(b);
	assert_int_equal(nk_policy_mode(NK_POLICY_WEIGHTED_INTERLEAVE), 6);
	assert_int_equal(nk_policy_mode(NK_POLICY_PREFERRED_MANY), 5);
}

/* The VmFlags a zone's mergeable switch is verified by, as proc.c reads them. */
static void test_smaps_flags(void **state)
{
	static const char smaps[] = "7f0000000000-7f0000100000 rw-p 00000000 00:00 0\n"
				    "Size:               1024 kB\n"
				    "VmFlags: rd wr mr mw me ac sd\n"
				    "7f0000100000-7f0000200000 rw-p 00000000 00:00 0\n"
				    "Size:               1024 kB\n"
				    "KSM:                   0 kB\n"
				    "VmFlags: rd wr mr mw me ac sd mg \n";
	struct nk_proc_vma *v;
	size_t n;
	assert_int_equal(nk_proc_smaps_parse(smaps, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_false(v[0].mergeable);
	assert_false(v[0].has_ksm);
	assert_true(v[1].mergeable); /* a trailing space after the last flag */
	assert_true(v[1].has_ksm);
	nk_proc_vmas_free(v, n);
	/* A mapping cut before its VmFlags is malformed, not "not mergeable". */
	assert_int_equal(
	    nk_proc_smaps_parse("7f0000000000-7f0000100000 rw-p 0 00:00 0\nSize: 1 kB\n", &v, &n),
	    -EINVAL);
}

static void test_auto_threads(void **state)
{
	assert_int_equal(nk_prefault_auto_threads(1 << 20, 8), 1);	 /* small: one */
	assert_int_equal(nk_prefault_auto_threads(128ull << 20, 8), 2);	 /* one per 64 MiB */
	assert_int_equal(nk_prefault_auto_threads(4ull << 30, 2), 2);	 /* no more than CPUs */
	assert_int_equal(nk_prefault_auto_threads(64ull << 30, 64), 16); /* at most 16 */
	assert_int_equal(nk_prefault_auto_threads(4ull << 30, 0), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_full),	cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_names),	cmocka_unit_test(test_nodemask),
	    cmocka_unit_test(test_smaps_flags), cmocka_unit_test(test_auto_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
