/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Parsers on string literals, including malformed and truncated input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <cmocka.h>

#include <numaksm/core.h>

static uint64_t size_ok(const char *text)
{
	uint64_t v = 0;
	nk_error *err = NULL;
	int r = nk_parse_size(text, &v, &err);
	if (r != 0)
		fail_msg("nk_parse_size('%s') = %d: %s", text, r, nk_error_message(err));
	assert_null(err);
	return v;
}

static int size_bad(const char *text, const char *expect_in_message)
{
	uint64_t v = 12345;
	nk_error *err = NULL;
	int r = nk_parse_size(text, &v, &err);
	assert_true(r < 0);
	assert_int_equal(v, 12345); /* out-parameter untouched on failure */
	assert_non_null(err);
	assert_int_equal(nk_error_code(err), -r);
	if (expect_in_message && !strstr(nk_error_message(err), expect_in_message))
		fail_msg("message '%s' lacks '%s'", nk_error_message(err), expect_in_message);
	nk_error_free(err);
	return r;
}

static void test_size_valid(void **state)
{
	assert_int_equal(size_ok("4096"), 4096);
	assert_int_equal(size_ok("0"), 0);
	assert_int_equal(size_ok("512M"), 512ull << 20);
	assert_int_equal(size_ok("512m"), 512ull << 20);
	assert_int_equal(size_ok("2G"), 2ull << 30);
	assert_int_equal(size_ok("1GiB"), 1ull << 30);
	assert_int_equal(size_ok("1gib"), 1ull << 30);
	assert_int_equal(size_ok("64kB"), 64ull << 10);
	assert_int_equal(size_ok("64K"), 64ull << 10);
	assert_int_equal(size_ok("2MB"), 2ull << 20);
	assert_int_equal(size_ok("3T"), 3ull << 40);
	assert_int_equal(size_ok("1P"), 1ull << 50);
	assert_int_equal(size_ok("16383P"), 16383ull << 50);
	assert_int_equal(size_ok("18446744073709551615"), UINT64_MAX);
}

static void test_size_malformed(void **state)
{
	size_bad("", "empty");
	size_bad(NULL, "empty");
	size_bad("G", "'G'");
	size_bad("-1", "'-1'");
	size_bad("+5M", NULL);
	size_bad(" 1G", NULL);
	size_bad("1G ", "unit");
	size_bad("1.5G", "unit");
	size_bad("12Q", "'12Q'");
	size_bad("1Gi", "unit");
	size_bad("1GiBx", "unit");
	size_bad("1iB", "unit");
	size_bad("0x10", "unit");
	assert_int_equal(size_bad("16384P", "too large"), -ERANGE);
	assert_int_equal(size_bad("18446744073709551616", "too large"), -ERANGE);
	assert_int_equal(size_bad("99999999999999999999999", "too large"), -ERANGE);
}

static void test_u64_and_int(void **state)
{
	uint64_t v;
	long long s;
	assert_int_equal(nk_parse_u64("42\n", &v, NULL), 0);
	assert_int_equal(v, 42);
	assert_int_equal(nk_parse_u64(" 7 ", &v, NULL), 0);
	assert_int_equal(v, 7);
	assert_int_equal(nk_parse_u64("", &v, NULL), -EINVAL);
	assert_int_equal(nk_parse_u64("4 2", &v, NULL), -EINVAL);
	assert_int_equal(nk_parse_u64("-1", &v, NULL), -EINVAL);
	assert_int_equal(nk_parse_u64("12abc", &v, NULL), -EINVAL);
	assert_int_equal(nk_parse_u64("18446744073709551616", &v, NULL), -ERANGE);

	assert_int_equal(nk_parse_int("-5", -10, 10, &s, NULL), 0);
	assert_int_equal(s, -5);
	assert_int_equal(nk_parse_int("+3", -10, 10, &s, NULL), 0);
	assert_int_equal(s, 3);
	assert_int_equal(nk_parse_int("11", -10, 10, &s, NULL), -ERANGE);
	assert_int_equal(nk_parse_int("-11", -10, 10, &s, NULL), -ERANGE);
	assert_int_equal(nk_parse_int("-", -10, 10, &s, NULL), -EINVAL);
	assert_int_equal(nk_parse_int("-9223372036854775808", INT64_MIN, INT64_MAX, &s, NULL), 0);
	assert_true(s == INT64_MIN);
	assert_int_equal(nk_parse_int("9223372036854775808", INT64_MIN, INT64_MAX, &s, NULL),
			 -ERANGE);
}

static char *list_roundtrip(const char *text)
{
	nk_bitmap *b = NULL;
	char *out = NULL;
	nk_error *err = NULL;
	if (nk_parse_list(text, "CPU list", &b, &err) != 0)
		fail_msg("nk_parse_list('%s'): %s", text, nk_error_message(err));
	assert_true(nk_bitmap_format(b, &out) >= 0);
	nk_bitmap_free(b);
	return out;
}

static void expect_list(const char *text, const char *canonical)
{
	char *out = list_roundtrip(text);
	assert_string_equal(out, canonical);
	free(out);
}

static void test_list_valid(void **state)
{
	expect_list("0-3,6", "0-3,6");
	expect_list("0-3,6\n", "0-3,6");
	expect_list("6,0-3", "0-3,6");
	expect_list("0,1,2,3", "0-3");
	expect_list("0-1,1-2", "0-2");
	expect_list("5", "5");
	expect_list("", "");
	expect_list("\n", "");
	expect_list("63-65", "63-65");
	expect_list("127,0", "0,127");
	expect_list("1048576", "1048576");

	nk_bitmap *b = NULL;
	assert_int_equal(nk_parse_list("0-3,6,100", NULL, &b, NULL), 0);
	assert_int_equal(nk_bitmap_weight(b), 6);
	assert_true(nk_bitmap_test(b, 100));
	assert_false(nk_bitmap_test(b, 99));
	assert_false(nk_bitmap_test(b, 100000));
	assert_int_equal(nk_bitmap_last(b), 100);
	assert_int_equal(nk_bitmap_next(b, 4), 6);
	assert_int_equal(nk_bitmap_next(b, 101), -1);
	nk_bitmap_free(b);
}

static void expect_list_bad(const char *text, int code, const char *in_message)
{
	nk_bitmap *b = (nk_bitmap *)0x1;
	nk_error *err = NULL;
	int r = nk_parse_list(text, "node list", &b, &err);
	if (r != -code)
		fail_msg("nk_parse_list('%s') = %d, expected %d", text, r, -code);
	assert_ptr_equal(b, (nk_bitmap *)0x1);
	assert_non_null(err);
	if (!strstr(nk_error_message(err), in_message))
		fail_msg("message '%s' lacks '%s'", nk_error_message(err), in_message);
	assert_non_null(strstr(nk_error_message(err), "node list"));
	nk_error_free(err);
}

static void test_list_malformed(void **state)
{
	expect_list_bad("3-1", EINVAL, "reversed");
	expect_list_bad("a", EINVAL, "'a'");
	expect_list_bad("1,,2", EINVAL, "0-3,6");
	expect_list_bad("1,", EINVAL, "'1,'");
	expect_list_bad(",1", EINVAL, "',1'");
	expect_list_bad("-1", EINVAL, "'-1'");
	expect_list_bad("1-", EINVAL, "'1-'");
	expect_list_bad("1-2-3", EINVAL, "'1-2-3'");
	expect_list_bad("0 1", EINVAL, "'0 1'");
	expect_list_bad("0-3;6", EINVAL, "'0-3;6'");
	expect_list_bad("1048577", ERANGE, "maximum");
	expect_list_bad("0-99999999999999999999", EINVAL, "");
	expect_list_bad(NULL, EINVAL, "missing");
}

/* nk_bitmap_set_range sets what nk_bitmap_set bit by bit would, no more. */
static void test_bitmap_set_range(void **state)
{
	static const unsigned ranges[][2] = {
	    {0, 0},    {0, 63},
	    {1, 62},   {5, 5},
	    {63, 64},  {64, 64},
	    {0, 64},   {60, 200},
	    {64, 127}, {65, 1000},
	    {0, 4095}, {127, 128},
	    {3, 2000}, {NK_BITMAP_MAX_BIT - 70, NK_BITMAP_MAX_BIT},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		unsigned lo = ranges[i][0], hi = ranges[i][1];
		nk_bitmap *a = nk_bitmap_new(), *b = nk_bitmap_new();
		assert_int_equal(nk_bitmap_set(a, 7), 0);
		assert_int_equal(nk_bitmap_set(b, 7), 0);
		for (unsigned bit = lo; bit <= hi; bit++)
			assert_int_equal(nk_bitmap_set(a, bit), 0);
		assert_int_equal(nk_bitmap_set_range(b, lo, hi), 0);
		if (!nk_bitmap_equal(a, b))
			fail_msg("set_range(%u, %u) differs from setting bit by bit", lo, hi);
		assert_int_equal(nk_bitmap_last(b), hi > 7 ? (int)hi : 7);
		nk_bitmap_free(a);
		nk_bitmap_free(b);
	}
	nk_bitmap *b = nk_bitmap_new();
	assert_int_equal(nk_bitmap_set_range(b, 5, 4), -ERANGE);
	assert_int_equal(nk_bitmap_set_range(b, 0, NK_BITMAP_MAX_BIT + 1), -ERANGE);
	assert_int_equal(nk_bitmap_weight(b), 0);
	assert_int_equal(nk_bitmap_set_range(b, 0, NK_BITMAP_MAX_BIT), 0);
	assert_int_equal(nk_bitmap_weight(b), NK_BITMAP_MAX_BIT + 1);
	nk_bitmap_free(b);
}

static double cpu_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The longest range, many times over, as a request of 256 KiB could hold:
 * set a word at a time it takes milliseconds, not seconds (bit by bit it
 * took about 8 ms a range, 16 s for these 2000). */
static void test_list_huge_ranges(void **state)
{
	static const char range[] = "0-1048576,";
	size_t n = 2000, len = strlen(range);
	char *text = malloc(n * len);
	nk_bitmap *b = NULL;
	(void)state;
	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		memcpy(text + i * len, range, len);
	text[n * len - 1] = '\0';
	double t0 = cpu_seconds();
	assert_int_equal(nk_parse_list(text, "node list", &b, NULL), 0);
	double took = cpu_seconds() - t0;
	assert_int_equal(nk_bitmap_weight(b), NK_BITMAP_MAX_BIT + 1);
	nk_bitmap_free(b);
	if (took > 1.0)
		fail_msg("%zu ranges 0-1048576 took %.3f s of CPU", n, took);

	/* Bounded: refused at the first number above the maximum, nothing set,
	 * the message quoting only the start of the text. */
	nk_error *err = NULL;
	b = (nk_bitmap *)0x1;
	t0 = cpu_seconds();
	assert_int_equal(nk_parse_list_max(text, "node list", 4095, &b, &err), -ERANGE);
	assert_true(cpu_seconds() - t0 < 0.1);
	assert_ptr_equal(b, (nk_bitmap *)0x1);
	assert_non_null(strstr(nk_error_message(err), "1048576 is larger than the maximum 4095"));
	assert_non_null(strstr(nk_error_message(err), "...'"));
	assert_true(strlen(nk_error_message(err)) < 200);
	nk_error_free(err);
	free(text);

	b = NULL;
	assert_int_equal(nk_parse_list_max("0-4095", "node list", 4095, &b, NULL), 0);
	assert_int_equal(nk_bitmap_weight(b), 4096);
	nk_bitmap_free(b);
	err = NULL;
	assert_int_equal(nk_parse_list_max("1,4096", "CPU list", 4095, &b, &err), -ERANGE);
	assert_string_equal(nk_error_message(err),
			    "invalid CPU list '1,4096': 4096 is larger than the maximum 4095");
	nk_error_free(err);
}

static const char node_meminfo[] = "Node 0 MemTotal:        4679456 kB\n"
				   "Node 0 MemFree:         4370508 kB\n"
				   "Node 0 MemUsed:          308948 kB\n"
				   "Node 0 HugePages_Total:     32\n"
				   "Node 0 HugePages_Free:      30\n";

static const char proc_meminfo[] = "MemTotal:       24683620 kB\n"
				   "MemFree:        23929884 kB\n"
				   "HugePages_Total:       0\n"
				   "Hugepagesize:       2048 kB\n";

static void test_meminfo(void **state)
{
	uint64_t v;
	assert_int_equal(nk_parse_meminfo(node_meminfo, "MemTotal", &v), 0);
	assert_int_equal(v, 4679456);
	assert_int_equal(nk_parse_meminfo(node_meminfo, "MemFree", &v), 0);
	assert_int_equal(v, 4370508);
	assert_int_equal(nk_parse_meminfo(node_meminfo, "HugePages_Free", &v), 0);
	assert_int_equal(v, 30);
	assert_int_equal(nk_parse_meminfo(node_meminfo, "Mem", &v), -ENOENT);
	assert_int_equal(nk_parse_meminfo(node_meminfo, "SwapTotal", &v), -ENOENT);
	assert_int_equal(nk_parse_meminfo(proc_meminfo, "MemTotal", &v), 0);
	assert_int_equal(v, 24683620);
	assert_int_equal(nk_parse_meminfo(proc_meminfo, "Hugepagesize", &v), 0);
	assert_int_equal(v, 2048);
	/* Malformed and truncated values. */
	assert_int_equal(nk_parse_meminfo("MemTotal: abc kB\n", "MemTotal", &v), -EINVAL);
	assert_int_equal(nk_parse_meminfo("MemTotal: 12 MB\n", "MemTotal", &v), -EINVAL);
	assert_int_equal(nk_parse_meminfo("MemTotal:", "MemTotal", &v), -EINVAL);
	/* A key without its value takes none from the next line. */
	assert_int_equal(nk_parse_meminfo("MemTotal:\n20 kB\n", "MemTotal", &v), -EINVAL);
	assert_int_equal(nk_parse_meminfo("Rss:\n\n 20\n", "Rss", &v), -EINVAL);
	assert_int_equal(nk_parse_meminfo("MemTot", "MemTotal", &v), -ENOENT);
	assert_int_equal(nk_parse_meminfo("", "MemTotal", &v), -ENOENT);
	assert_int_equal(nk_parse_meminfo("MemTotal: 12", "MemTotal", &v), 0);
	assert_int_equal(v, 12);
}

static void test_keyed_line(void **state)
{
	static const char ksm_stat[] = "ksm_rmap_items 12\nksm_zero_pages 0\n"
				       "ksm_merging_pages 7\nksm_process_profit 4096\n"
				       "ksm_merge_any: no\nksm_mergeable: yes\n";
	char *v = NULL;
	assert_int_equal(nk_parse_keyed_line(ksm_stat, "ksm_merging_pages", &v), 0);
	assert_string_equal(v, "7");
	free(v);
	assert_int_equal(nk_parse_keyed_line(ksm_stat, "ksm_mergeable", &v), 0);
	assert_string_equal(v, "yes");
	free(v);
	assert_int_equal(nk_parse_keyed_line(ksm_stat, "ksm_merge", &v), -ENOENT);
	assert_int_equal(nk_parse_keyed_line("CapEff:\t000001ffffffffff\n", "CapEff", &v), 0);
	assert_string_equal(v, "000001ffffffffff");
	free(v);
	assert_int_equal(nk_parse_keyed_line("Name:\tcat", "Name", &v), 0);
	assert_string_equal(v, "cat");
	free(v);
	assert_int_equal(nk_parse_keyed_line("", "Name", &v), -ENOENT);
}

static void test_selector(void **state)
{
	char *c = NULL;
	assert_int_equal(nk_parse_selector("always [madvise] never\n", &c), 0);
	assert_string_equal(c, "madvise");
	free(c);
	assert_int_equal(nk_parse_selector("[none] scan-time\n", &c), 0);
	assert_string_equal(c, "none");
	free(c);
	assert_int_equal(nk_parse_selector("always defer defer+madvise [madvise] never", &c), 0);
	assert_string_equal(c, "madvise");
	free(c);
	assert_int_equal(nk_parse_selector("always madvise never", &c), -EINVAL);
	assert_int_equal(nk_parse_selector("[always] [never]", &c), -EINVAL);
	assert_int_equal(nk_parse_selector("[] x", &c), -EINVAL);
	assert_int_equal(nk_parse_selector("[alw", &c), -EINVAL);
	assert_int_equal(nk_parse_selector("[a b]", &c), -EINVAL);
}

static void test_u64_array(void **state)
{
	uint64_t *v = NULL;
	assert_int_equal(nk_parse_u64_array("10 12 20 21\n", &v), 4);
	assert_int_equal(v[0], 10);
	assert_int_equal(v[3], 21);
	free(v);
	v = NULL;
	assert_int_equal(nk_parse_u64_array("\n", &v), 0);
	free(v);
	assert_int_equal(nk_parse_u64_array("10 x", &v), -EINVAL);
	assert_int_equal(nk_parse_u64_array("10,20", &v), -EINVAL);
	assert_int_equal(nk_parse_u64_array("10 -20", &v), -EINVAL);
	assert_int_equal(nk_parse_u64_array("99999999999999999999999", &v), -ERANGE);
}

static void test_format_bytes(void **state)
{
	static const struct {
		uint64_t bytes;
		const char *text;
	} cases[] = {
	    {0, "0 B"},
	    {512, "512 B"},
	    {1023, "1023 B"},
	    {4096, "4 KiB"},
	    {1536, "1.5 KiB"},
	    {262492160, "250.3 MiB"},
	    {16ull << 30, "16 GiB"},
	    /* 15.98 GiB rounds to 16: the same words as 16 GiB, never "16.0" */
	    {(16ull << 30) - (20ull << 20), "16 GiB"},
	    {(3ull << 29), "1.5 GiB"},
	    /* 1023.96 MiB: to the next unit, not "1024.0 MiB" */
	    {(1024ull << 20) - (40ull << 10), "1 GiB"},
	    {UINT64_MAX, "16 EiB"},
	};
	char buf[32];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(nk_format_bytes(buf, sizeof(buf), cases[i].bytes),
				    cases[i].text);
}

static void test_hexmask(void **state)
{
	nk_bitmap *b = NULL;
	char *s = NULL;
	assert_int_equal(nk_parse_hexmask("00000000,0000000f\n", &b), 0);
	assert_true(nk_bitmap_format(b, &s) >= 0);
	assert_string_equal(s, "0-3");
	free(s);
	nk_bitmap_free(b);
	assert_int_equal(nk_parse_hexmask("80000000,00000001", &b), 0);
	assert_true(nk_bitmap_format(b, &s) >= 0);
	assert_string_equal(s, "0,63");
	free(s);
	nk_bitmap_free(b);
	assert_int_equal(nk_parse_hexmask("000001ffffffffff", &b), 0);
	assert_int_equal(nk_bitmap_weight(b), 41);
	nk_bitmap_free(b);
	/* a word of fewer than eight digits is still 32 bits (a node's cpumap) */
	assert_int_equal(nk_parse_hexmask("3,c0\n", &b), 0);
	assert_true(nk_bitmap_format(b, &s) >= 0);
	assert_string_equal(s, "6-7,32-33");
	free(s);
	nk_bitmap_free(b);
	assert_int_equal(nk_parse_hexmask("", &b), -EINVAL);
	assert_int_equal(nk_parse_hexmask("0g", &b), -EINVAL);
	assert_int_equal(nk_parse_hexmask(",ff", &b), -EINVAL);
	assert_int_equal(nk_parse_hexmask("ff,", &b), -EINVAL);
	assert_int_equal(nk_parse_hexmask("1,123456789", &b), -EINVAL);
	/* The most significant word is a word too: at most 8 digits. */
	assert_int_equal(nk_parse_hexmask("123456789,00000000", &b), -EINVAL);
}

static void test_bitmap_ops(void **state)
{
	nk_bitmap *a = nk_bitmap_new(), *b = NULL, *c;
	assert_non_null(a);
	assert_int_equal(nk_bitmap_last(a), -1);
	assert_int_equal(nk_bitmap_next(a, 0), -1);
	assert_int_equal(nk_bitmap_set(a, 200), 0);
	assert_int_equal(nk_bitmap_set(a, NK_BITMAP_MAX_BIT + 1), -ERANGE);
	c = nk_bitmap_dup(a);
	assert_true(nk_bitmap_equal(a, c));
	assert_int_equal(nk_parse_list("0-300", NULL, &b, NULL), 0);
	assert_true(nk_bitmap_is_subset(a, b));
	assert_false(nk_bitmap_is_subset(b, a));
	nk_bitmap_clear(a, 200);
	assert_false(nk_bitmap_test(a, 200));
	assert_false(nk_bitmap_equal(a, c));
	/* an emptied bitmap equals a new one even with more words allocated */
	nk_bitmap *e = nk_bitmap_new();
	assert_true(nk_bitmap_equal(a, e));
	int count = 0;
	nk_bitmap_foreach (bit, b) {
		assert_true(bit >= 0 && bit <= 300);
		count++;
	}
	assert_int_equal(count, 301);
	nk_bitmap_free(e);
	nk_bitmap_free(a);
	nk_bitmap_free(b);
	nk_bitmap_free(c);
	assert_null(nk_bitmap_free(NULL));
}

static void test_error_convention(void **state)
{
	nk_error *err = NULL;
	assert_int_equal(nk_error_set(&err, ENOENT, "first %d", 1), -ENOENT);
	/* the first error is the root cause and is kept */
	assert_int_equal(nk_error_set(&err, EINVAL, "second"), -EINVAL);
	assert_string_equal(nk_error_message(err), "first 1");
	assert_int_equal(nk_error_prefix(&err, "zone %s", "z0"), -ENOENT);
	assert_string_equal(nk_error_message(err), "zone z0: first 1");
	assert_null(nk_error_get_hint(err));
	nk_error_hint(&err, "do %s", "this");
	assert_string_equal(nk_error_get_hint(err), "do this");
	assert_int_equal(nk_error_code(err), ENOENT);
	nk_error_free(err);
	/* NULL err: only the code comes back, also through a hint or prefix */
	assert_int_equal(nk_error_set(NULL, -EPERM, "x"), -EPERM);
	assert_int_equal(nk_error_hint(NULL, "do that"), -EPERM);
	assert_int_equal(nk_error_set(NULL, ENOENT, "y"), -ENOENT);
	assert_int_equal(nk_error_prefix(NULL, "ctx"), -ENOENT);
	assert_int_equal(nk_error_code(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_size_valid),	     cmocka_unit_test(test_size_malformed),
	    cmocka_unit_test(test_u64_and_int),	     cmocka_unit_test(test_list_valid),
	    cmocka_unit_test(test_list_malformed),   cmocka_unit_test(test_meminfo),
	    cmocka_unit_test(test_keyed_line),	     cmocka_unit_test(test_selector),
	    cmocka_unit_test(test_format_bytes),     cmocka_unit_test(test_u64_array),
	    cmocka_unit_test(test_hexmask),	     cmocka_unit_test(test_bitmap_ops),
	    cmocka_unit_test(test_error_convention), cmocka_unit_test(test_bitmap_set_range),
	    cmocka_unit_test(test_list_huge_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
