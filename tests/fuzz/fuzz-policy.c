/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tuner's policy file (nk_conf_parse): its [ksm] settings with their
 * durations, percentages and sizes, and its [vm "GLOB"] rules.  A policy
 * that parses writes back to a file that parses to the same settings and
 * rules, and each rule's own name finds a rule.
 */
#include <inttypes.h>
#include <math.h>

#include "fuzz.h"
#include "numaksm/policy.h"

/* "KEY = P%" for a fraction the parser stores as P / 100 (or, `scaled`, as
 * P / 100 * 100): the P next to value * 100 that gives the value back. */
static void put_percent(FILE *f, const char *key, double value, bool scaled)
{
	double p = scaled ? value : value * 100;
	double tries[] = {p, nextafter(p, INFINITY), nextafter(p, -INFINITY)};
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		double back = scaled ? tries[i] / 100 * 100 : tries[i] / 100;
		if (back == value) {
			p = tries[i];
			break;
		}
	}
	fprintf(f, "%s = %.17g%%\n", key, p);
}

static char *policy_text(const nk_conf *conf)
{
	static const enum nk_ksm_field knobs[] = {
	    NK_KSM_MERGE_ACROSS_NODES, NK_KSM_MAX_PAGE_SHARING, NK_KSM_USE_ZERO_PAGES,
	    NK_KSM_SMART_SCAN, NK_KSM_STABLE_NODE_CHAINS_PRUNE_MILLISECS};
	const struct nk_tuner_config *c = nk_conf_tuner(conf);
	char *text = NULL, buf[24];
	size_t len = 0;
	FILE *f = fuzz_memstream(&text, &len);

	fprintf(f, "[ksm]\nmode = %s\n", nk_tuner_mode_name(c->mode));
	put_percent(f, "cpu_budget", c->cpu_budget, false);
	fprintf(f, "interval_min = %.17gs\ninterval_max = %.17gs\nidle_scan = %.17gs\n",
		c->interval_min_s, c->interval_max_s, c->idle_scan_s);
	fprintf(f, "converge_sleep = %ums\n", c->converge_sleep_ms);
	put_percent(f, "settle", c->settle, false);
	put_percent(f, "pressure_available", c->pressure_available, false);
	put_percent(f, "pressure_psi", c->pressure_psi, true);
	fprintf(f, "grow = %" PRIu64 "\nunmerge = %s\n", c->grow_bytes, c->unmerge ? "yes" : "no");
	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
		if (nk_ksm_has(&c->knobs, knobs[i]))
			fprintf(f, "%s = %s\n", nk_ksm_field(knobs[i])->name,
				nk_ksm_format_value(knobs[i], c->knobs.value[knobs[i]], buf));
	for (size_t i = 0; i < nk_conf_vm_count(conf); i++) {
		const struct nk_vm_rule *r = nk_conf_vm(conf, i);
		fprintf(f, "\n[vm \"%s\"]\n", r->glob);
		if (r->nodes) {
			_cleanup_free_ char *nodes = fuzz_list(r->nodes);
			fprintf(f, "nodes = %s\n", nodes);
		}
		if (r->cpus)
			fprintf(f, "cpus = %s\n", r->cpus);
		if (r->memory_max_bytes)
			fprintf(f, "memory_max = %" PRIu64 "\n", r->memory_max_bytes);
		if (r->memory_high_bytes)
			fprintf(f, "memory_high = %" PRIu64 "\n", r->memory_high_bytes);
		if (r->mergeable >= 0)
			fprintf(f, "mergeable = %s\n", r->mergeable ? "yes" : "no");
	}
	fuzz_memstream_close(f);
	return text;
}

static bool close_to(double a, double b)
{
	return fabs(a - b) <= 1e-12 * fmax(1, fabs(a));
}

static void check_same(const nk_conf *a, const nk_conf *b, const char *text)
{
	const struct nk_tuner_config *x = nk_conf_tuner(a), *y = nk_conf_tuner(b);
	FUZZ_CHECK(
	    x->mode == y->mode && close_to(x->cpu_budget, y->cpu_budget) &&
		x->interval_min_s == y->interval_min_s && x->interval_max_s == y->interval_max_s &&
		x->idle_scan_s == y->idle_scan_s && close_to(x->settle, y->settle) &&
		close_to(x->pressure_available, y->pressure_available) &&
		close_to(x->pressure_psi, y->pressure_psi) && x->grow_bytes == y->grow_bytes &&
		x->converge_sleep_ms == y->converge_sleep_ms && x->unmerge == y->unmerge &&
		!memcmp(&x->knobs, &y->knobs, sizeof(x->knobs)),
	    "[ksm] differs after\n%s", text);
	FUZZ_CHECK(nk_conf_vm_count(a) == nk_conf_vm_count(b), "rules differ after\n%s", text);
	for (size_t i = 0; i < nk_conf_vm_count(a); i++) {
		const struct nk_vm_rule *r = nk_conf_vm(a, i), *s = nk_conf_vm(b, i);
		FUZZ_CHECK(!strcmp(r->glob, s->glob) && fuzz_same_set(r->nodes, s->nodes) &&
			       !r->nodes == !s->nodes && !r->cpus == !s->cpus &&
			       (!r->cpus || !strcmp(r->cpus, s->cpus)) &&
			       r->memory_max_bytes == s->memory_max_bytes &&
			       r->memory_high_bytes == s->memory_high_bytes &&
			       r->mergeable == s->mergeable,
			   "[vm \"%s\"] differs after\n%s", r->glob, text);
	}
}

/* What the manual promises: converge_sleep takes whole milliseconds up to
 * 10s.  The one tried is the first number in the input (modulo 10001). */
static void check_converge_sleep(const char *input)
{
	_cleanup_free_ char *text = NULL;
	const char *digits = strpbrk(input, "0123456789");
	nk_conf *conf = NULL;
	unsigned ms = 0;

	for (const char *d = digits; d && *d >= '0' && *d <= '9'; d++)
		ms = (ms * 10 + (unsigned)(*d - '0')) % 10001;
	fuzz_asprintf(&text, "[ksm]\nconverge_sleep = %ums\n", ms);
	FUZZ_CHECK(nk_conf_parse(text, NULL, &conf, NULL) == 0 &&
		       nk_conf_tuner(conf)->converge_sleep_ms == ms,
		   "converge_sleep = %ums refused", ms);
	nk_conf_free(conf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size), *again = NULL;
	_cleanup_error_ nk_error *err = NULL, *err2 = NULL;
	nk_conf *conf = NULL, *conf2 = NULL;

	check_converge_sleep(text);
	if (nk_conf_parse(text, "fuzz.conf", &conf, &err) < 0) {
		/* Every refusal names the file and line. */
		FUZZ_CHECK(err && !strncmp(nk_error_message(err), "fuzz.conf:", 10),
			   "refused without FILE:LINE: '%s'", err ? nk_error_message(err) : "");
		return 0;
	}
	FUZZ_CHECK(nk_tuner_config_check(nk_conf_tuner(conf), NULL) == 0, "a bad [ksm] passed");
	for (size_t i = 0; i < nk_conf_vm_count(conf); i++) {
		const struct nk_vm_rule *r = nk_conf_vm(conf, i);
		FUZZ_CHECK(*r->glob && !strchr(r->glob, '"') &&
			       (!r->nodes || nk_bitmap_weight(r->nodes)) &&
			       (!r->memory_max_bytes || !r->memory_high_bytes ||
				r->memory_high_bytes <= r->memory_max_bytes),
			   "rule %zu", i);
		if (!strpbrk(r->glob, "*?[\\"))
			FUZZ_CHECK(nk_conf_match(conf, r->glob), "'%s' matches no rule", r->glob);
	}
	again = policy_text(conf);
	FUZZ_CHECK(nk_conf_parse(again, "again.conf", &conf2, &err2) == 0, "%s:\n%s",
		   err2 ? nk_error_message(err2) : "", again);
	check_same(conf, conf2, again);
	nk_conf_free(conf);
	nk_conf_free(conf2);
	return 0;
}
