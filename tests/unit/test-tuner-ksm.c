/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * KSM knob control without touching the host: KEY=VALUE validation, the
 * kernel's rules checked before any write, the order of the writes, the
 * rollback when the "kernel" refuses one (a writer that edits a tree in a
 * temporary directory and refuses what the test says), the tuner's state
 * file, ksmd's CPU time from procfs text, and `numaksm ksm set` errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "ksm-internal.h"
#include "tuner-internal.h"
#include "numaksm/proc.h"

static char tree[256];
static nk_host *host;

/* Write `content` to `rel` under the tree, making its directories. */
static void put(const char *rel, const char *content)
{
	char path[1024];
	int n = snprintf(path, sizeof(path), "%s/%s", tree, rel);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	for (char *slash = path + strlen(tree) + 1; (slash = strchr(slash, '/')); slash++) {
		*slash = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*slash = '/';
	}
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(content, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static char *get(const char *knob)
{
	static char buf[64];
	char path[512];
	snprintf(path, sizeof(path), "%s/sys/kernel/mm/ksm/%s", tree, knob);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/* A host with KSM as the kernel's defaults leave it, 1000 pages shared. */
static int setup(void **state)
{
	static const char *const knobs[][2] = {
	    {"run", "1"},
	    {"pages_to_scan", "100"},
	    {"sleep_millisecs", "20"},
	    {"merge_across_nodes", "1"},
	    {"max_page_sharing", "256"},
	    {"use_zero_pages", "0"},
	    {"smart_scan", "1"},
	    {"stable_node_chains_prune_millisecs", "2000"},
	    {"advisor_mode", "[none] scan-time"},
	    {"advisor_max_cpu", "70"},
	    {"advisor_min_pages_to_scan", "500"},
	    {"advisor_max_pages_to_scan", "30000"},
	    {"advisor_target_scan_time", "200"},
	    {"pages_shared", "1000"},
	    {"pages_sharing", "5000"},
	    {"ksm_zero_pages", "0"},
	};
	char rel[128];
	snprintf(tree, sizeof(tree), "/tmp/numaksm-test-tuner-ksm.XXXXXX");
	if (!mkdtemp(tree))
		return -1;
	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		snprintf(rel, sizeof(rel), "sys/kernel/mm/ksm/%s", knobs[i][0]);
		char line[64];
		snprintf(line, sizeof(line), "%s\n", knobs[i][1]);
		put(rel, line);
	}
	put("proc/meminfo", "MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n");
	return nk_host_open(tree, &host, NULL);
}

static int teardown(void **state)
{
	char cmd[512];
	host = nk_host_free(host);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tree);
	return system(cmd) == 0 ? 0 : -1;
}

/* The fake kernel: records the writes, applies them to the tree as the
 * kernel would (advisor_mode switches reset pages_to_scan), and refuses
 * `refuse` (set to `refuse_value`, when given) with `refuse_errno`. */
struct fake {
	char log[1024];
	const char *refuse;
	const char *refuse_value; /* NULL: any value */
	int refuse_errno;
};

static int fake_write(nk_host *h, const char *path, const char *value, nk_error **err,
		      void *userdata)
{
	struct fake *f = userdata;
	const char *knob = strrchr(path, '/') + 1;
	char rel[256], line[64];
	snprintf(f->log + strlen(f->log), sizeof(f->log) - strlen(f->log), "%s%s=%s",
		 f->log[0] ? " " : "", knob, value);
	if (f->refuse && strcmp(knob, f->refuse) == 0 &&
	    (!f->refuse_value || strcmp(value, f->refuse_value) == 0)) {
		strcat(f->log, "!");
		/* A failed unmerge (no memory, a signal) leaves KSM stopped. */
		if (strcmp(knob, "run") == 0 && strcmp(value, "2") == 0)
			put("sys/kernel/mm/ksm/run", "0\n");
		return nk_error_set(err, f->refuse_errno, "refused");
	}
	snprintf(rel, sizeof(rel), "sys/kernel/mm/ksm/%s", knob);
	if (strcmp(knob, "advisor_mode") == 0) {
		bool on = strcmp(value, "scan-time") == 0;
		put(rel, on ? "none [scan-time]\n" : "[none] scan-time\n");
		put("sys/kernel/mm/ksm/pages_to_scan", on ? "500\n" : "100\n");
		return 0;
	}
	snprintf(line, sizeof(line), "%s\n", value);
	put(rel, line);
	return 0;
}

static int apply(const char *const *assignments, unsigned flags, struct fake *f, nk_error **err)
{
	struct nk_ksm want = {0};
	for (; *assignments; assignments++)
		assert_int_equal(nk_ksm_parse(*assignments, &want, NULL), 0);
	return ksm_apply_with(host, &want, flags, fake_write, f, NULL, err);
}

static void expect_parse_error(const char *text, const char *in_message)
{
	struct nk_ksm s = {0};
	nk_error *err = NULL;
	assert_int_equal(nk_ksm_parse(text, &s, &err), -EINVAL);
	if (!strstr(nk_error_message(err), in_message))
		fail_msg("'%s': '%s' lacks '%s'", text, nk_error_message(err), in_message);
	assert_int_equal(s.mask, 0);
	nk_error_free(err);
}

static void test_parse(void **state)
{
	struct nk_ksm s = {0};
	expect_parse_error("bogus=1", "unknown KSM knob 'bogus'");
	expect_parse_error("pages_to_scan", "is not KEY=VALUE");
	expect_parse_error("=5", "is not KEY=VALUE");
	expect_parse_error("run=3", "invalid run '3': expected a number from 0 to 2");
	expect_parse_error("pages_to_scan=-1", "invalid pages_to_scan '-1'");
	expect_parse_error("pages_to_scan=4294967296", "from 0 to 4294967295");
	expect_parse_error("sleep_millisecs=", "invalid sleep_millisecs ''");
	expect_parse_error("max_page_sharing=1", "from 2 to 2147483647");
	expect_parse_error("merge_across_nodes=2", "from 0 to 1");
	expect_parse_error("use_zero_pages=maybe", "expected 0/1, yes/no or on/off");
	expect_parse_error("advisor_mode=fast", "expected none or scan-time");
	expect_parse_error("advisor_max_cpu=0", "from 1 to 100");
	expect_parse_error("advisor_target_scan_time=0", "invalid advisor_target_scan_time");

	assert_int_equal(nk_ksm_parse("use_zero_pages=yes", &s, NULL), 0);
	assert_int_equal(nk_ksm_parse("smart_scan=off", &s, NULL), 0);
	assert_int_equal(nk_ksm_parse("advisor_mode=scan-time", &s, NULL), 0);
	assert_int_equal(nk_ksm_parse("pages_to_scan=4294967295", &s, NULL), 0);
	assert_int_equal(s.value[NK_KSM_USE_ZERO_PAGES], 1);
	assert_int_equal(s.value[NK_KSM_SMART_SCAN], 0);
	char *text = NULL;
	assert_true(nk_ksm_format(&s, &text) > 0);
	assert_string_equal(text, "pages_to_scan=4294967295\nuse_zero_pages=1\nsmart_scan=0\n"
				  "advisor_mode=scan-time\n");
	free(text);
	assert_int_equal(nk_ksm_field_lookup("max_page_sharing"), NK_KSM_MAX_PAGE_SHARING);
	/* Counters are in the table too, but not knobs: never parsed or written. */
	assert_int_equal(nk_ksm_field_lookup("pages_shared"), NK_KSM_PAGES_SHARED);
	assert_false(nk_ksm_field(NK_KSM_PAGES_SHARED)->writable);
	assert_true(nk_ksm_field(NK_KSM_RUN)->writable);
	assert_int_equal(nk_ksm_field_lookup("bogus"), -ENOENT);
	assert_null(nk_ksm_field(NK_KSM_FIELD_COUNT));
	struct nk_ksm counter = {0};
	nk_error *err = NULL;
	assert_int_equal(nk_ksm_parse("pages_shared=1", &counter, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "pages_shared is a counter, not a knob"));
	nk_error_free(err);
	assert_int_equal(counter.mask, 0);
	/* Every field has a name, a unit and a line of help (the exporter's HELP). */
	for (int f = 0; f < NK_KSM_FIELD_COUNT; f++) {
		const struct nk_ksm_field_info *i = nk_ksm_field((enum nk_ksm_field)f);
		assert_non_null(i->name);
		assert_non_null(i->unit);
		assert_true(i->help && strlen(i->help) > 10);
		assert_int_equal(nk_ksm_field_lookup(i->name), f);
		assert_int_equal(i->writable, f < NK_KSM_KNOB_COUNT);
	}
}

static void test_read(void **state)
{
	struct nk_ksm s;
	assert_int_equal(nk_ksm_read(host, NK_KSM_KNOBS, &s, NULL), 0);
	assert_int_equal(s.mask, NK_KSM_BIT(NK_KSM_KNOB_COUNT) - 1);
	assert_int_equal(s.value[NK_KSM_ADVISOR_MODE], NK_KSM_ADVISOR_NONE);
	assert_int_equal(s.value[NK_KSM_MAX_PAGE_SHARING], 256);
	/* A captured tree refuses writes before checking anything else. */
	struct nk_ksm want = {0};
	nk_error *err = NULL;
	nk_ksm_parse("pages_to_scan=200", &want, NULL);
	assert_int_equal(nk_ksm_apply(host, &want, 0, NULL, &err), -EROFS);
	nk_error_free(err);
	assert_int_equal(nk_ksm_apply(host, &want, NK_KSM_APPLY_CHECK_ONLY, NULL, NULL), 0);
}

static void test_order_and_no_op(void **state)
{
	struct fake f = {0};
	static const char *const same[] = {"pages_to_scan=100", "run=1", NULL};
	assert_int_equal(apply(same, 0, &f, NULL), 0);
	assert_string_equal(f.log, "");

	/* run last; sleep before pages_to_scan. */
	static const char *const some[] = {"run=0", "pages_to_scan=5000", "sleep_millisecs=50",
					   NULL};
	assert_int_equal(apply(some, 0, &f, NULL), 3);
	assert_string_equal(f.log, "sleep_millisecs=50 pages_to_scan=5000 run=0");

	/* The advisor on: its limits first, then the mode. */
	memset(&f, 0, sizeof(f));
	static const char *const adv[] = {"advisor_mode=scan-time", "advisor_max_cpu=30", NULL};
	assert_int_equal(apply(adv, 0, &f, NULL), 2);
	assert_string_equal(f.log, "advisor_max_cpu=30 advisor_mode=scan-time");
}

static void test_advisor_rules(void **state)
{
	struct fake f = {0};
	nk_error *err = NULL;
	put("sys/kernel/mm/ksm/advisor_mode", "none [scan-time]\n");
	/* pages_to_scan under the advisor: EINVAL from the kernel, so refused first. */
	static const char *const p[] = {"pages_to_scan=300", "sleep_millisecs=10", NULL};
	assert_int_equal(apply(p, 0, &f, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "while advisor_mode is scan-time"));
	assert_non_null(strstr(nk_error_get_hint(err), "advisor_mode=none"));
	err = nk_error_free(err);
	assert_string_equal(f.log, ""); /* nothing written, not even sleep_millisecs */

	/* With advisor_mode=none in the same set: the advisor goes off first.
	 * Switching it off resets pages_to_scan to 100, so 100 is still written. */
	static const char *const off[] = {"pages_to_scan=100", "advisor_mode=none", NULL};
	assert_int_equal(apply(off, 0, &f, NULL), 1);
	assert_string_equal(f.log, "advisor_mode=none");
	put("sys/kernel/mm/ksm/advisor_mode", "none [scan-time]\n");
	put("sys/kernel/mm/ksm/pages_to_scan", "777\n");
	memset(&f, 0, sizeof(f));
	static const char *const off2[] = {"pages_to_scan=777", "advisor_mode=none", NULL};
	assert_int_equal(apply(off2, 0, &f, NULL), 2);
	assert_string_equal(f.log, "advisor_mode=none pages_to_scan=777");

	/* advisor_min_pages_to_scan above the max. */
	static const char *const mm[] = {"advisor_min_pages_to_scan=40000", NULL};
	assert_int_equal(apply(mm, 0, &f, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "would exceed advisor_max_pages_to_scan"));
	nk_error_free(err);
}

static void test_unmerge_rules(void **state)
{
	struct fake f = {0};
	nk_error *err = NULL;
	static const char *const m[] = {"merge_across_nodes=0", "pages_to_scan=300", NULL};
	/* 1000 pages shared: EBUSY from the kernel, so refused, nothing written. */
	assert_int_equal(apply(m, 0, &f, &err), -EBUSY);
	assert_non_null(strstr(nk_error_message(err), "merge_across_nodes cannot change while "
						      "1000 pages are shared"));
	assert_non_null(strstr(nk_error_get_hint(err), "--unmerge"));
	err = nk_error_free(err);
	assert_string_equal(f.log, "");

	/* With the unmerge allowed: run=2 first, run back to 1 last. */
	assert_int_equal(apply(m, NK_KSM_APPLY_UNMERGE, &f, NULL), 4);
	assert_string_equal(f.log, "run=2 merge_across_nodes=0 pages_to_scan=300 run=1");

	/* Not enough memory to hold the unmerged pages: refused. */
	put("sys/kernel/mm/ksm/merge_across_nodes", "1\n");
	put("proc/meminfo", "MemTotal:       24000000 kB\nMemAvailable:     200000 kB\n");
	memset(&f, 0, sizeof(f));
	assert_int_equal(apply(m, NK_KSM_APPLY_UNMERGE, &f, &err), -ENOMEM);
	assert_non_null(strstr(nk_error_message(err), "unmerging would need"));
	nk_error_free(err);
	assert_string_equal(f.log, "");
	/* Nothing shared: no unmerge needed. */
	put("proc/meminfo", "MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n");
	put("sys/kernel/mm/ksm/pages_shared", "0\n");
	static const char *const mps[] = {"max_page_sharing=512", NULL};
	assert_int_equal(apply(mps, 0, &f, NULL), 1);
	assert_string_equal(f.log, "max_page_sharing=512");
}

static void test_rollback(void **state)
{
	struct fake f = {.refuse = "pages_to_scan", .refuse_errno = EINVAL};
	nk_error *err = NULL;
	static const char *const w[] = {"smart_scan=0", "sleep_millisecs=50", "pages_to_scan=500",
					"run=0", NULL};
	assert_int_equal(apply(w, 0, &f, &err), -EINVAL);
	/* Written in order, refused, then put back newest first. */
	assert_string_equal(f.log, "smart_scan=0 sleep_millisecs=50 pages_to_scan=500! "
				   "sleep_millisecs=20 smart_scan=1");
	assert_string_equal(get("smart_scan"), "1");
	assert_string_equal(get("sleep_millisecs"), "20");
	assert_string_equal(get("run"), "1");
	assert_non_null(strstr(nk_error_message(err), "the kernel refused pages_to_scan=500: "
						      "Invalid argument"));
	assert_non_null(strstr(nk_error_get_hint(err), "the 2 knob(s) written before it were "
						       "put back"));
	err = nk_error_free(err);

	/* An unmerge cannot be undone: said so. */
	struct fake g = {.refuse = "max_page_sharing", .refuse_errno = EBUSY};
	static const char *const u[] = {"max_page_sharing=1024", NULL};
	assert_int_equal(apply(u, NK_KSM_APPLY_UNMERGE, &g, &err), -EBUSY);
	assert_string_equal(g.log, "run=2 max_page_sharing=1024! run=1");
	assert_non_null(strstr(nk_error_message(err), "it needs an unmerge first"));
	assert_non_null(strstr(nk_error_get_hint(err), "the unmerge itself cannot be undone"));
	err = nk_error_free(err);

	/* The unmerge itself refused: the kernel stopped KSM, run goes back. */
	struct fake h = {.refuse = "run", .refuse_value = "2", .refuse_errno = ENOMEM};
	assert_int_equal(apply(u, NK_KSM_APPLY_UNMERGE, &h, &err), -ENOMEM);
	assert_string_equal(h.log, "run=2! run=1");
	assert_string_equal(get("run"), "1");
	assert_string_equal(get("max_page_sharing"), "256");
	assert_non_null(strstr(nk_error_get_hint(err), "run was put back to 1"));
	nk_error_free(err);
}

static void test_missing_knob(void **state)
{
	char path[512];
	struct fake f = {0};
	nk_error *err = NULL;
	snprintf(path, sizeof(path), "%s/sys/kernel/mm/ksm/advisor_mode", tree);
	unlink(path);
	static const char *const a[] = {"advisor_mode=none", "pages_to_scan=7", NULL};
	assert_int_equal(apply(a, 0, &f, &err), -ENOTSUP);
	assert_non_null(strstr(nk_error_message(err), "this kernel has no KSM knob advisor_mode"));
	err = nk_error_free(err);
	assert_string_equal(f.log, "");
	/* Without the knob, pages_to_scan alone is fine. */
	static const char *const b[] = {"pages_to_scan=7", NULL};
	assert_int_equal(apply(b, 0, &f, NULL), 1);
	/* A counter in the set is refused before anything is written. */
	struct nk_ksm want = {0};
	f.log[0] = '\0';
	nk_ksm_set(&want, NK_KSM_SLEEP_MILLISECS, 50);
	nk_ksm_set(&want, NK_KSM_PAGES_SHARED, 5);
	assert_int_equal(ksm_apply_with(host, &want, 0, fake_write, &f, NULL, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "pages_shared is a counter, not a knob"));
	nk_error_free(err);
	assert_string_equal(f.log, "");
}

static void test_state_file(void **state)
{
	struct ksm_state st = {.pid = 4242, .program = "numaksm tuned"}, back;
	char *text = NULL;
	nk_error *err = NULL;
	snprintf(st.boot_id, sizeof(st.boot_id), "0b3a0c6e-a7d5-4e43-b8f4-6e3d1a7f3b11");
	nk_ksm_parse("run=0", &st.saved, NULL);
	nk_ksm_parse("advisor_mode=scan-time", &st.saved, NULL);
	nk_ksm_parse("merge_across_nodes=1", &st.saved, NULL);
	assert_int_equal(ksm_state_format(&st, &text), 0);
	assert_int_equal(ksm_state_parse(text, &back, NULL), 0);
	free(text);
	assert_int_equal(back.pid, 4242);
	assert_string_equal(back.program, "numaksm tuned");
	assert_string_equal(back.boot_id, st.boot_id);
	assert_int_equal(back.saved.mask, st.saved.mask);
	assert_memory_equal(back.saved.value, st.saved.value, sizeof(st.saved.value));
	assert_int_equal(ksm_state_parse("pid=1\nrun=9\n", &back, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "line 2: invalid run '9'"));
	err = nk_error_free(err);
	/* Whose knobs they were is not optional. */
	assert_int_equal(ksm_state_parse("run=1\n", &back, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "no pid= line"));
	nk_error_free(err);
}

/* Owning KSM's knobs writes them: refused on a captured tree, and nobody
 * owns them there. */
static void test_owner_on_a_tree(void **state)
{
	nk_ksm_owner *o = NULL;
	nk_error *err = NULL;
	char dir[] = "/tmp/numaksm-test-owner.XXXXXX";
	assert_non_null(mkdtemp(dir));
	assert_int_equal(nk_ksm_own(host, dir, "test", NK_KSM_KNOBS, &o, &err), -EROFS);
	assert_null(o);
	err = nk_error_free(err);
	assert_int_equal(nk_ksm_holder(dir, NULL, NULL, 0), 0);
	assert_int_equal(nk_ksm_left(host, dir, true, &err), -EROFS);
	nk_error_free(err);
	assert_int_equal(rmdir(dir), 0);
}

static void test_procfs_parsers(void **state)
{
	double psi;
	struct nk_proc_stat st;
	/* ksmd's stat: utime and stime (fields 14, 15), its parent kthreadd. */
	const char *ksmd = "36 (ksmd) S 2 0 0 0 -1 2097216 0 0 0 0 0 444 0 0 25 5 1 0 21 0 0\n";
	assert_int_equal(nk_proc_stat_parse(ksmd, &st), 0);
	assert_int_equal(st.utime_ticks, 0);
	assert_int_equal(st.stime_ticks, 444);
	assert_int_equal(st.ppid, 2);
	assert_true(st.flags & NK_PROC_PF_KTHREAD);
	nk_proc_stat_done(&st);
	/* A comm with spaces and ')' */
	assert_int_equal(nk_proc_stat_parse(
			     "77 (a) b) c) R 1 1 1 0 -1 0 0 0 0 0 12 34 5 6 20 0 1 0 9 0 0\n", &st),
			 0);
	assert_int_equal(st.utime_ticks, 12);
	assert_int_equal(st.cstime_ticks, 6);
	nk_proc_stat_done(&st);
	assert_int_equal(nk_proc_stat_parse("36 (ksmd) S 2 0 0\n", &st), -EINVAL);
	assert_int_equal(nk_proc_stat_parse("no parenthesis", &st), -EINVAL);

	assert_int_equal(psi_some_avg10("some avg10=1.23 avg60=0.50 avg300=0.10 total=9\n"
					"full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
					&psi),
			 0);
	assert_true(psi > 1.229 && psi < 1.231);
	assert_int_equal(psi_some_avg10("full avg10=1.00\n", &psi), -EINVAL);
	assert_int_equal(psi_some_avg10("some avg10=x\n", &psi), -EINVAL);
}

static void test_ksmd_on_a_tree(void **state)
{
	pid_t pid;
	struct nk_proc_cputime c;
	nk_error *err = NULL;
	/* A user process calling itself ksmd is not the kernel thread. */
	put("proc/900/comm", "ksmd\n");
	put("proc/900/stat", "900 (ksmd) S 1 900 900 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 7 0 0\n");
	assert_int_equal(nk_ksmd_find(host, &pid, &err), -ESRCH);
	err = nk_error_free(err);
	put("proc/36/comm", "ksmd\n");
	put("proc/36/stat", "36 (ksmd) S 2 0 0 0 -1 2097216 0 0 0 0 0 444 0 0 25 5 1 0 21 0 0\n");
	assert_int_equal(nk_ksmd_find(host, &pid, NULL), 0);
	assert_int_equal(pid, 36);
	/* Clock ticks without schedstat, nanoseconds with it. */
	assert_int_equal(nk_proc_cputime_read(host, 36, &c, NULL), 0);
	assert_false(c.precise);
	assert_int_equal(c.run_ns, 444 * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK)));
	put("proc/36/schedstat", "4442968007 2313691845 1447\n");
	assert_int_equal(nk_proc_cputime_read(host, 36, &c, NULL), 0);
	assert_true(c.precise);
	assert_int_equal(c.run_ns, 4442968007ull);
	assert_int_equal(nk_proc_cputime_read(host, 12345, &c, &err), -ESRCH);
	nk_error_free(err);
}

/* `numaksm ksm set`: usage errors exit 2, refusals 1, nothing written. */
static void expect_cli(int code, const char *in_output, const char *args)
{
	char cmd[1024], out[2048] = {0};
	snprintf(cmd, sizeof(cmd), "%s ksm %s 2>&1", NUMAKSM_CLI, args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != code || !strstr(out, in_output))
		fail_msg("numaksm ksm %s: exit %d, output '%s'; expected %d and '%s'", args,
			 WEXITSTATUS(status), out, code, in_output);
}

static void test_cli(void **state)
{
	char args[600];
	expect_cli(2, "unknown KSM knob 'bogus'", "set bogus=1");
	expect_cli(2, "invalid run '7'", "set run=7");
	expect_cli(2, "pages_to_scan is given twice", "set pages_to_scan=1 pages_to_scan=2");
	expect_cli(2, "ksm set needs KEY=VALUE", "set");
	expect_cli(2, "unknown subcommand 'frob'", "frob");
	snprintf(args, sizeof(args), "set --check --root %s merge_across_nodes=0", tree);
	expect_cli(1, "merge_across_nodes cannot change while 1000 pages are shared", args);
	snprintf(args, sizeof(args), "set --root %s pages_to_scan=5", tree);
	expect_cli(1, "is a captured tree, not this system", args);
	snprintf(args, sizeof(args), "set --check --root %s pages_to_scan=5 sleep_millisecs=5",
		 tree);
	expect_cli(0, "the kernel should accept these values", args);
	snprintf(args, sizeof(args), "show --json --root %s", tree);
	expect_cli(0, "\"pages_to_scan\": 100", args);
	assert_string_equal(get("pages_to_scan"), "100");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test_setup_teardown(test_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order_and_no_op, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_advisor_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unmerge_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_knob, setup, teardown),
	    cmocka_unit_test(test_state_file),
	    cmocka_unit_test_setup_teardown(test_owner_on_a_tree, setup, teardown),
	    cmocka_unit_test(test_procfs_parsers),
	    cmocka_unit_test_setup_teardown(test_ksmd_on_a_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cli, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
