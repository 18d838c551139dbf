/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The policy file: what it accepts, and errors that name FILE:LINE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>
#include <cmocka.h>

#include "tuner-internal.h"
#include "numaksm/cgroup.h"

static nk_conf *parse_ok(const char *text)
{
	nk_conf *p = NULL;
	nk_error *err = NULL;
	if (nk_conf_parse(text, "test.conf", &p, &err) < 0)
		fail_msg("%s", nk_error_message(err));
	return p;
}

static void expect_error(const char *text, const char *message)
{
	nk_conf *p = NULL;
	nk_error *err = NULL;
	assert_int_equal(nk_conf_parse(text, "/etc/numaksm/numaksm.conf", &p, &err), -EINVAL);
	assert_null(p);
	if (!strstr(nk_error_message(err), message))
		fail_msg("'%s'\n  gave '%s'\n  expected '%s'", text, nk_error_message(err),
			 message);
	nk_error_free(err);
}

static void test_full_file(void **state)
{
	nk_conf *p = parse_ok("# numaksm policy\n"
			      "; also a comment\n"
			      "\n"
			      "[ksm]\n"
			      "mode = pressure          # only under pressure\n"
			      "cpu_budget = 12.5%\n"
			      "interval_min=250ms\n"
			      "interval_max = 1min\n"
			      "idle_scan = 2h\n"
			      "converge_sleep = 10ms\n"
			      "settle = 0.5%\n"
			      "pressure_available = 15%\n"
			      "pressure_psi = 0%\n"
			      "grow = 1G\n"
			      "use_zero_pages = yes\n"
			      "merge_across_nodes = 0\n"
			      "unmerge = yes\n"
			      "\n"
			      "[vm \"web-*\"]\n"
			      "nodes = 0-1\n"
			      "cpus = dedicated\n"
			      "memory_max = 8G\n"
			      "memory_high = 7G\n"
			      "mergeable = no\n"
			      "[vm \"*\"]\n"
			      "mergeable = \"yes\"\n");
	const struct nk_tuner_config *c = nk_conf_tuner(p);
	assert_int_equal(c->mode, NK_TUNER_MODE_PRESSURE);
	assert_true(c->cpu_budget == 0.125);
	assert_true(c->interval_min_s == 0.25);
	assert_true(c->interval_max_s == 60);
	assert_true(c->idle_scan_s == 7200);
	assert_int_equal(c->converge_sleep_ms, 10);
	assert_true(c->settle == 0.005);
	assert_true(c->pressure_available == 0.15);
	assert_true(c->pressure_psi == 0);
	assert_int_equal(c->grow_bytes, 1ull << 30);
	assert_true(c->unmerge);
	assert_int_equal(c->knobs.mask,
			 NK_KSM_BIT(NK_KSM_USE_ZERO_PAGES) | NK_KSM_BIT(NK_KSM_MERGE_ACROSS_NODES));
	assert_int_equal(nk_conf_vm_count(p), 2);
	const struct nk_vm_rule *r = nk_conf_vm(p, 0);
	assert_string_equal(r->glob, "web-*");
	assert_string_equal(r->file, "test.conf");
	assert_int_equal(r->line, 19);
	assert_string_equal(r->cpus, "dedicated");
	assert_int_equal(r->memory_max_bytes, 8ull << 30);
	assert_int_equal(r->memory_high_bytes, 7ull << 30);
	assert_int_equal(r->mergeable, 0);
	assert_int_equal(nk_bitmap_weight(r->nodes), 2);
	/* First match wins. */
	assert_ptr_equal(nk_conf_match(p, "web-1"), r);
	assert_ptr_equal(nk_conf_match(p, "db-1"), nk_conf_vm(p, 1));
	assert_int_equal(nk_conf_vm(p, 1)->mergeable, 1);
	assert_null(nk_conf_vm(p, 1)->nodes);
	assert_null(nk_conf_vm(p, 2));
	nk_conf_free(p);

	/* Every whole number of milliseconds up to 10s, 4007ms and 4.007s too
	 * (not whole once in binary). */
	for (unsigned ms = 0; ms <= 10000; ms++) {
		char text[64];
		snprintf(text, sizeof(text), "[ksm]\nconverge_sleep = %ums\n", ms);
		p = parse_ok(text);
		assert_int_equal(nk_conf_tuner(p)->converge_sleep_ms, ms);
		nk_conf_free(p);
	}
	p = parse_ok("[ksm]\nconverge_sleep = 4.007s\n");
	assert_int_equal(nk_conf_tuner(p)->converge_sleep_ms, 4007);
	nk_conf_free(p);

	/* Empty: every default. */
	p = parse_ok("");
	struct nk_tuner_config d;
	nk_tuner_config_init(&d);
	assert_memory_equal(nk_conf_tuner(p), &d, sizeof(d));
	assert_null(nk_conf_match(p, "anything"));
	nk_conf_free(p);
}

static void test_errors_name_the_line(void **state)
{
	const char *f = "/etc/numaksm/numaksm.conf";
	char want[256];
	snprintf(want, sizeof(want), "%s:3: unknown key 'cpu_budgte' in [ksm]", f);
	expect_error("# x\n[ksm]\ncpu_budgte = 20%\n", want);
	snprintf(want, sizeof(want), "%s:2: invalid cpu_budget '25': expected a share of one CPU",
		 f);
	expect_error("[ksm]\ncpu_budget = 25\n", want);
	expect_error("[ksm]\ncpu_budget = 0%\n", ":2: invalid cpu_budget '0%'");
	expect_error("[ksm]\ncpu_budget = 150%\n", ":2: invalid cpu_budget '150%'");
	expect_error("[ksm]\nmode = sometimes\n", ":2: invalid mode 'sometimes': expected off, on, "
						  "auto or pressure");
	expect_error("[ksm]\ninterval_min = 5\n",
		     ":2: invalid interval_min '5': expected a duration");
	expect_error("[ksm]\ninterval_min = 1x\n", ":2: invalid interval_min '1x'");
	expect_error("[ksm]\ninterval_max = 2s\ninterval_min = 5s\n",
		     ":3: interval_min (5s) is longer than interval_max (2s)");
	expect_error("[ksm]\nconverge_sleep = 1.5ms\n", ":2: invalid converge_sleep '1.5ms'");
	expect_error("[ksm]\nmax_page_sharing = 1\n", ":2: invalid max_page_sharing '1'");
	expect_error("[ksm]\npages_to_scan = 100\n", ":2: unknown key 'pages_to_scan' in [ksm]");
	expect_error("[ksm]\nmode = on\nmode = off\n", ":3: mode is set again (first at line 2)");
	expect_error("[ksm]\n[ksm]\n", ":2: [ksm] appears again (first at line 1)");
	expect_error("mode = on\n", ":1: mode outside a section");
	expect_error("[ksm]\nmode\n", ":2: expected KEY = VALUE");
	expect_error("[ksm]\n= on\n", ":2: a value without a key");
	expect_error("[ksm]\nmode =\n", ":2: mode has no value");
	expect_error("[ksm]\nMode = on\n", ":2: invalid key 'Mode'");
	expect_error("[ksm\n", ":1: section header without ']'");
	expect_error("[ksm] x\n", ":1: unexpected 'x' after the section header");
	expect_error("[tuner]\n", ":1: unknown section [tuner]");
	expect_error("[vm]\n", ":1: [vm] needs a name pattern");
	expect_error("[vm web]\n", ":1: the name in [vm ...] must be in double quotes");
	expect_error("[vm \"\"]\n", ":1: [vm \"\"]: the name pattern is empty");
	expect_error("[vm \"a\"]\n[vm \"a\"]\n", ":2: [vm \"a\"] appears again (first at line 1)");
	expect_error("[vm \"a\"]\nnodes = 1-x\n", ":2: invalid node list '1-x'");
	expect_error("[vm \"a\"]\nnodes = \n", ":2: nodes has no value");
	expect_error("[vm \"a\"]\ncpus = pinned\n", ":2: invalid cpus 'pinned': expected dedicated "
						    "or shared");
	expect_error("[vm \"a\"]\nmemory_max = 12Q\n", ":2: invalid memory_max '12Q'");
	expect_error("[vm \"a\"]\nmemory_max = 4G\nmemory_high = 5G\n",
		     ":3: memory_high is above memory_max in [vm \"a\"]");
	expect_error("[vm \"a\"]\nmergeable = perhaps\n", ":2: invalid mergeable 'perhaps'");
	expect_error("[vm \"a\"]\nballoon = on\n", ":2: unknown key 'balloon' in [vm \"a\"]");
	expect_error("[vm \"a\"]\nmergeable = \"yes\n", ":2: unterminated quoted value");
	expect_error("[vm \"a\"]\nmergeable = \"yes\" no\n", ":2: unexpected 'no' after a quoted");
	expect_error("[vm \"a\"]\ntenant = blue team\n", ":2: invalid tenant 'blue team'");
	expect_error("[vm \"a\"]\ntenant = "
		     "a234567890123456789012345678901234567890123456789012345678901234\n",
		     ":2: invalid tenant");
	/* Two tenants that must both merge on node 1: reported at the later one. */
	expect_error("[vm \"a-*\"]\ntenant = a\nnodes = 0-1\nmergeable = yes\n"
		     "[vm \"b-*\"]\nnodes = 1-2\nmergeable = yes\ntenant = b\n",
		     ":8: tenants 'a' ([vm \"a-*\"]) and 'b' ([vm \"b-*\"]) both merge "
		     "(mergeable = yes) on node 1");
}

static void test_tenants(void **state)
{
	(void)state;
	/* Disjoint nodes, one tenant not merging, or one tenant twice: no conflict. */
	nk_conf *p = parse_ok("[vm \"a-*\"]\ntenant = a\nnodes = 0\nmergeable = yes\n"
			      "[vm \"b-*\"]\ntenant = b.2\nnodes = 1\nmergeable = yes\n"
			      "[vm \"c-*\"]\ntenant = C_3\nnodes = 0-1\nmergeable = no\n"
			      "[vm \"d-*\"]\ntenant = a\nnodes = 0\nmergeable = yes\n"
			      "[vm \"*\"]\nnodes = 0\n");
	assert_string_equal(nk_conf_match(p, "a-1")->tenant, "a");
	assert_string_equal(nk_conf_match(p, "b-1")->tenant, "b.2");
	assert_string_equal(nk_conf_match(p, "c-1")->tenant, "C_3");
	assert_null(nk_conf_match(p, "other")->tenant);
	nk_conf_free(p);
}

static void test_hints(void **state)
{
	nk_conf *p = NULL;
	nk_error *err = NULL;
	assert_int_equal(nk_conf_parse("[ksm]\nbudget = 1%\n", "x", &p, &err), -EINVAL);
	assert_non_null(strstr(nk_error_get_hint(err), "cpu_budget"));
	nk_error_free(err);
}

static void test_load(void **state)
{
	char path[] = "/tmp/numaksm-test-conf.XXXXXX";
	nk_conf *p = NULL;
	nk_error *err = NULL;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char text[] = "[ksm]\nmode = on\n\n[vm \"db\"]\ncpus = shared\nnodes = 9-8\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	assert_int_equal(nk_conf_load(path, &p, &err), -EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "%s:6:", path);
	assert_non_null(strstr(nk_error_message(err), want));
	err = nk_error_free(err);
	unlink(path);
	assert_int_equal(nk_conf_load(path, &p, &err), -ENOENT);
	assert_non_null(strstr(nk_error_message(err), "cannot open policy file"));
	nk_error_free(err);
}

static void test_placement_request(void **state)
{
	/* A [vm] rule as `numaksm place` is asked to apply it. */
	nk_conf *p = parse_ok("[vm \"db-*\"]\nnodes = 1\ncpus = dedicated\nmemory_max = 8G\n"
			      "[vm \"web-*\"]\nnodes = 0\ncpus = shared\nmemory_high = 2G\n");
	struct nk_cgroup_request req;
	tuner_rule_request(nk_conf_match(p, "db-3"), "/run/x", &req);
	assert_ptr_equal(req.nodes, nk_conf_vm(p, 0)->nodes);
	assert_true(req.pin_vcpus && req.migrate);
	assert_int_equal(req.memory_max_bytes, 8ull << 30);
	assert_int_equal(req.memory_high_bytes, 0);
	assert_null(req.group); /* named after the VM */
	assert_string_equal(req.runtime_dir, "/run/x");
	tuner_rule_request(nk_conf_match(p, "web-1"), NULL, &req);
	assert_false(req.pin_vcpus);
	assert_int_equal(req.memory_high_bytes, 2ull << 30);
	nk_conf_free(p);
}

static void test_value_parsers(void **state)
{
	double d;
	bool b;
	assert_int_equal(conf_parse_duration("1.5s", &d), 0);
	assert_true(d == 1.5);
	assert_int_equal(conf_parse_duration("30min", &d), 0);
	assert_true(d == 1800);
	assert_int_equal(conf_parse_duration("-1s", &d), -EINVAL);
	assert_int_equal(conf_parse_duration("s", &d), -EINVAL);
	assert_int_equal(conf_parse_duration("1 s", &d), -EINVAL);
	assert_int_equal(conf_parse_duration("1e3s", &d), 0); /* strtod accepts it; fine */
	assert_int_equal(conf_parse_duration("nan s", &d), -EINVAL);
	assert_int_equal(conf_parse_percent("25%", &d), 0);
	assert_true(d == 0.25);
	assert_int_equal(conf_parse_percent("25", &d), -EINVAL);
	assert_int_equal(conf_parse_percent("25%%", &d), -EINVAL);
	assert_int_equal(nk_parse_bool("On", &b), 0);
	assert_true(b);
	assert_int_equal(nk_parse_bool("0", &b), 0);
	assert_false(b);
	assert_int_equal(nk_parse_bool("y", &b), -EINVAL);
}

/* The example shipped as /usr/share/doc/numaksm/examples/numaksm.conf: as
 * shipped (every line commented) it is the defaults; uncommented, it names
 * every key the parser accepts, each with its default where it has one. */
static char *read_example(void)
{
	FILE *f = fopen(EXAMPLE_CONF, "re");
	assert_non_null(f);
	static char text[16384];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

static void assert_default_tuning(const struct nk_tuner_config *c,
				  const struct nk_tuner_config *defaults)
{
	assert_true(c->mode == defaults->mode && c->cpu_budget == defaults->cpu_budget);
	assert_true(c->interval_min_s == defaults->interval_min_s &&
		    c->interval_max_s == defaults->interval_max_s);
	assert_true(c->idle_scan_s == defaults->idle_scan_s && c->settle == defaults->settle);
	assert_true(c->pressure_available == defaults->pressure_available &&
		    c->pressure_psi == defaults->pressure_psi);
	assert_true(c->grow_bytes == defaults->grow_bytes &&
		    c->converge_sleep_ms == defaults->converge_sleep_ms);
	assert_false(c->unmerge);
}

static void test_example_file(void **state)
{
	char *text = read_example();
	nk_conf *p = parse_ok(text);
	struct nk_tuner_config defaults;
	nk_tuner_config_init(&defaults);
	assert_default_tuning(nk_conf_tuner(p), &defaults);
	assert_int_equal(nk_conf_tuner(p)->knobs.mask, 0);
	assert_int_equal(nk_conf_vm_count(p), 0);
	nk_conf_free(p);

	/* Uncomment "#key = ..." and "#[section]" lines (not the prose). */
	char *out = text;
	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
		bool setting = line[0] == '#' &&
			       (line[1] == '[' ||
				(line[1] >= 'a' && line[1] <= 'z' && memchr(line, '=', len)));
		if (setting)
			line++, len--;
		memmove(out, line, len);
		out += len;
		line += len;
	}
	*out = '\0';
	p = parse_ok(text);
	const struct nk_tuner_config *c = nk_conf_tuner(p);
	assert_default_tuning(c, &defaults);
	static const enum nk_ksm_field knobs[] = {
	    NK_KSM_MERGE_ACROSS_NODES, NK_KSM_MAX_PAGE_SHARING, NK_KSM_USE_ZERO_PAGES,
	    NK_KSM_SMART_SCAN, NK_KSM_STABLE_NODE_CHAINS_PRUNE_MILLISECS};
	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
		assert_true(nk_ksm_has(&c->knobs, knobs[i]));
	assert_int_equal(nk_conf_vm_count(p), 1);
	const struct nk_vm_rule *r = nk_conf_vm(p, 0);
	assert_non_null(r->nodes);
	assert_non_null(r->cpus);
	assert_true(r->memory_max_bytes && r->memory_high_bytes && r->mergeable == 1);
	assert_string_equal(r->tenant, "web");
	nk_conf_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_file),	  cmocka_unit_test(test_errors_name_the_line),
	    cmocka_unit_test(test_hints),	  cmocka_unit_test(test_tenants),
	    cmocka_unit_test(test_load),	  cmocka_unit_test(test_placement_request),
	    cmocka_unit_test(test_value_parsers), cmocka_unit_test(test_example_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
