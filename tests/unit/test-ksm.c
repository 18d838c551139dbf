/* SPDX-License-Identifier: GPL-2.0-or-later */
/* KSM counters and ksm_stat parsing, on literals and captured trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include <numaksm/ksm.h>

static void test_proc_stat_6_8(void **state)
{
	struct nk_ksm_proc_stat p;
	assert_int_equal(
	    nk_ksm_parse_proc_stat("ksm_rmap_items 1000\nksm_zero_pages 20\n"
				   "ksm_merging_pages 700\nksm_process_profit 2883584\n"
				   "ksm_merge_any: no\nksm_mergeable: yes\n",
				   &p),
	    0);
	assert_int_equal(p.rmap_items, 1000);
	assert_int_equal(p.zero_pages, 20);
	assert_int_equal(p.merging_pages, 700);
	assert_int_equal(p.process_profit, 2883584);
	assert_true(p.has_merge_flags);
	assert_true(p.mergeable);
	assert_false(p.merge_any);
}

static void test_proc_stat_old_and_bad(void **state)
{
	struct nk_ksm_proc_stat p;
	/* Linux 6.4: two fields */
	assert_int_equal(nk_ksm_parse_proc_stat("ksm_rmap_items 5\nksm_merging_pages 3\n", &p), 0);
	assert_int_equal(p.merging_pages, 3);
	assert_true(p.has_merging_pages);
	/* Linux 6.1: rmap items only (merging pages live in their own file) */
	assert_int_equal(nk_ksm_parse_proc_stat("ksm_rmap_items 5\n", &p), 0);
	assert_int_equal(p.rmap_items, 5);
	assert_false(p.has_merging_pages);
	assert_false(p.has_zero_pages);
	assert_false(p.has_process_profit);
	assert_false(p.has_merge_flags);
	/* negative profit is valid */
	assert_int_equal(nk_ksm_parse_proc_stat("ksm_rmap_items 5\nksm_merging_pages 0\n"
						"ksm_process_profit -320\n",
						&p),
			 0);
	assert_int_equal(p.process_profit, -320);
	assert_int_equal(nk_ksm_parse_proc_stat("ksm_merging_pages 5\n", &p), -EINVAL);
	assert_int_equal(nk_ksm_parse_proc_stat("ksm_rmap_items x\nksm_merging_pages 3\n", &p),
			 -EINVAL);
	assert_int_equal(nk_ksm_parse_proc_stat("ksm_rmap_items 1\nksm_merging_pages 3\n"
						"ksm_mergeable: maybe\n",
						&p),
			 -EINVAL);
	assert_int_equal(nk_ksm_parse_proc_stat("", &p), -EINVAL);
	assert_int_equal(nk_ksm_parse_proc_stat("ksm_rmap_items 1\nksm_merging_pages", &p),
			 -EINVAL); /* truncated */
	assert_int_equal(nk_ksm_parse_proc_stat("ksm_rmap_items 1\nksm_merging_pages 3x\n", &p),
			 -EINVAL);
}

static void test_saved_bytes(void **state)
{
	struct nk_ksm c = {0};
	nk_ksm_set(&c, NK_KSM_PAGES_SHARED, 100);
	nk_ksm_set(&c, NK_KSM_PAGES_SHARING, 300);
	nk_ksm_set(&c, NK_KSM_ZERO_PAGES, 7);
	struct nk_ksm_proc_stat p = {.merging_pages = 400, .zero_pages = 10};
	assert_int_equal(nk_ksm_saved_pages(&c), 307);
	/* 400 merging pages * 300/400 sharing ratio + 10 zero pages */
	assert_int_equal(nk_ksm_proc_saved_bytes(&p, &c, 4096), (300 + 10) * 4096);
	struct nk_ksm none = {0};
	assert_int_equal(nk_ksm_proc_saved_bytes(&p, &none, 4096), 10 * 4096);

	/* Counts no double holds exactly: never more than the merging pages. */
	struct nk_ksm_proc_stat big = {.merging_pages = UINT64_MAX};
	struct nk_ksm half = {0};
	nk_ksm_set(&half, NK_KSM_PAGES_SHARING, 5);
	assert_true(nk_ksm_proc_saved_bytes(&big, &half, 1) == UINT64_MAX);
	nk_ksm_set(&half, NK_KSM_PAGES_SHARED, 5);
	assert_true(nk_ksm_proc_saved_bytes(&big, &half, 1) == UINT64_MAX / 2);
	big.merging_pages = (1ull << 53) + 3;
	assert_true(nk_ksm_proc_saved_bytes(&big, &half, 1) == (1ull << 52) + 1);
}

static void test_read_captured_tree(void **state)
{
	nk_host *h = NULL;
	struct nk_ksm c;
	nk_error *err = NULL;
	assert_int_equal(nk_host_open(FIXTURES "/debian12-hybrid-1node", &h, NULL), 0);
	if (nk_ksm_read(h, NK_KSM_ALL, &c, &err) < 0)
		fail_msg("%s", nk_error_message(err));
	assert_int_equal(nk_ksm_get(&c, NK_KSM_RUN), 0);
	assert_int_equal(nk_ksm_get(&c, NK_KSM_PAGES_TO_SCAN), 100);
	assert_int_equal(nk_ksm_get(&c, NK_KSM_SLEEP_MILLISECS), 20);
	assert_true(nk_ksm_has(&c, NK_KSM_GENERAL_PROFIT));
	assert_true(nk_ksm_has(&c, NK_KSM_SMART_SCAN));
	assert_true(nk_ksm_has(&c, NK_KSM_ADVISOR_MODE));
	assert_int_equal(nk_ksm_get(&c, NK_KSM_ADVISOR_MODE), NK_KSM_ADVISOR_NONE);
	/* Only what was asked for. */
	assert_int_equal(nk_ksm_read(h, NK_KSM_BIT(NK_KSM_RUN), &c, NULL), 0);
	assert_int_equal(c.mask, NK_KSM_BIT(NK_KSM_RUN));
	nk_host_free(h);

	/* the 6.1 lab guest lacks the newer knobs: reported absent */
	assert_int_equal(nk_host_open(FIXTURES "/lab-4node", &h, NULL), 0);
	assert_int_equal(nk_ksm_read(h, NK_KSM_ALL, &c, NULL), 0);
	assert_false(nk_ksm_has(&c, NK_KSM_SMART_SCAN));
	assert_false(nk_ksm_has(&c, NK_KSM_GENERAL_PROFIT));
	assert_false(nk_ksm_has(&c, NK_KSM_ADVISOR_MODE));
	struct nk_ksm_proc_stat p;
	assert_int_equal(nk_ksm_proc_read(h, 999999, &p, &err), -ESRCH);
	err = nk_error_free(err);
	nk_host_free(h);

	assert_int_equal(nk_host_open(FIXTURES "/debian12-hybrid-1node", &h, NULL), 0);
	assert_int_equal(nk_ksm_proc_read(h, 999999, &p, &err), -ESRCH);
	nk_error_free(err);
	nk_host_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_proc_stat_6_8),
	    cmocka_unit_test(test_proc_stat_old_and_bad),
	    cmocka_unit_test(test_saved_bytes),
	    cmocka_unit_test(test_read_captured_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
