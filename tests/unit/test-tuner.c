/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tuner's control law against a simulated KSM: ksmd scans
 * pages_to_scan pages per batch and sleeps sleep_millisecs; the first pass
 * only checksums (cheap), the second merges the duplicates (dear: this
 * machine measured about 1 us per scanned page and 12 us more per merge),
 * later passes find nothing new.  The decisions must converge within the
 * CPU budget, settle when scans stop paying, wake up for new memory, follow
 * memory pressure, and be a pure function of the samples.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <errno.h>
#include <cmocka.h>

#include <numaksm/policy.h>

#define COST_SCAN  1.0e-6
#define COST_MERGE 12.0e-6

struct sim {
	double t, cpu;
	uint64_t pages;	     /* tracked pages (the fleet's footprint) */
	uint64_t achievable; /* what merging all of it saves */
	double pos;	     /* position of the scan in the current pass */
	unsigned seen;	     /* passes over the current content */
	uint64_t full_scans, scanned;
	double saving;
	uint64_t run, p, sleep_ms;
	bool advisor;
	uint64_t mem_total_kb, mem_available_kb;
	double psi;
	unsigned procs;
};

static void sim_init(struct sim *s, uint64_t pages, uint64_t achievable)
{
	*s = (struct sim){.pages = pages,
			  .achievable = achievable,
			  .p = 100,
			  .sleep_ms = 20,
			  .t = 1000,
			  .cpu = 50,
			  .mem_total_kb = 24u << 20,
			  .mem_available_kb = 20u << 20,
			  .procs = 8};
}

/* New content (a VM starting): it needs two passes of its own. */
static void sim_grow(struct sim *s, uint64_t pages, uint64_t achievable)
{
	s->pages += pages;
	s->achievable += achievable;
	s->seen = 0;
	s->procs++;
}

static void sim_advance(struct sim *s, double dt)
{
	double end = s->t + dt;
	if (s->run != 1) {
		s->t = end;
		return;
	}
	while (s->t < end) {
		/* One batch, page by page as ksmd goes: merges happen on the
		 * second pass over the content, evenly spread. */
		double work = 0, left = (double)s->p;
		while (left > 0) {
			double chunk = fmin(left, (double)s->pages - s->pos);
			double density =
			    s->seen == 1 ? (double)s->achievable / (double)s->pages : 0;
			double merges = fmin(chunk * density, (double)s->achievable - s->saving);
			work += chunk * COST_SCAN + merges * COST_MERGE;
			s->saving += merges;
			s->pos += chunk;
			left -= chunk;
			if (s->pos >= (double)s->pages) {
				s->pos = 0;
				s->full_scans++;
				s->seen++;
			}
		}
		s->cpu += work;
		s->scanned += s->p;
		s->t += work + (double)s->sleep_ms / 1000;
	}
}

static void sim_sample(const struct sim *s, struct nk_tuner_sample *x)
{
	uint64_t saved = (uint64_t)s->saving;
	*x = (struct nk_tuner_sample){
	    .time_s = s->t,
	    .ksmd_cpu_s = s->cpu,
	    .mem_total_kb = s->mem_total_kb,
	    .mem_available_kb = s->mem_available_kb,
	    .psi_some_avg10 = s->psi,
	    .mergeable_bytes = s->pages * 4096,
	    .mergeable_procs = s->procs,
	    .has_mergeable = true,
	};
	nk_ksm_set(&x->ksm, NK_KSM_RUN, s->run);
	nk_ksm_set(&x->ksm, NK_KSM_PAGES_TO_SCAN, s->p);
	nk_ksm_set(&x->ksm, NK_KSM_SLEEP_MILLISECS, s->sleep_ms);
	nk_ksm_set(&x->ksm, NK_KSM_ADVISOR_MODE,
		   s->advisor ? NK_KSM_ADVISOR_SCAN_TIME : NK_KSM_ADVISOR_NONE);
	nk_ksm_set(&x->ksm, NK_KSM_PAGES_SCANNED, s->scanned);
	nk_ksm_set(&x->ksm, NK_KSM_FULL_SCANS, s->full_scans);
	nk_ksm_set(&x->ksm, NK_KSM_PAGES_SHARED, saved / 64);
	nk_ksm_set(&x->ksm, NK_KSM_PAGES_SHARING, saved);
	nk_ksm_set(&x->ksm, NK_KSM_PAGES_UNSHARED, s->pages - saved - saved / 64);
	nk_ksm_set(&x->ksm, NK_KSM_PAGES_VOLATILE, 0);
	nk_ksm_set(&x->ksm, NK_KSM_ZERO_PAGES, 0);
}

/* One round of the loop, as the daemon runs it: sample, decide, write.
 * `edit` may change the sample first (an older kernel); `ret` keeps it. */
static void round_trip_with(nk_tuner *t, struct sim *s, struct nk_tuner_decision *d,
			    void (*edit)(struct nk_tuner_sample *), struct nk_tuner_sample *ret)
{
	struct nk_tuner_sample x;
	sim_sample(s, &x);
	if (edit)
		edit(&x);
	if (ret)
		*ret = x;
	nk_tuner_decide(t, &x, d);
	if (d->changed) {
		s->run = d->run;
		if (d->run == 1) {
			s->p = d->pages_to_scan;
			s->sleep_ms = d->sleep_millisecs;
		}
		s->advisor = false;
	}
	sim_advance(s, d->interval_s);
}

static void round_trip(nk_tuner *t, struct sim *s, struct nk_tuner_decision *d)
{
	round_trip_with(t, s, d, NULL, NULL);
}

static nk_tuner *new_tuner(const struct nk_tuner_config *c)
{
	nk_tuner *t = NULL;
	nk_error *err = NULL;
	if (nk_tuner_new(c, &t, &err) < 0)
		fail_msg("%s", nk_error_message(err));
	return t;
}

/* A fleet like the benchmark's: 512 Ki pages (2 GiB), 55% mergeable. */
#define FLEET_PAGES	 (512u * 1024)
#define FLEET_ACHIEVABLE (FLEET_PAGES * 55 / 100)

/* A tuner (default settings unless `c`) over a fresh simulated fleet. */
static nk_tuner *fleet_tuner(const struct nk_tuner_config *c, struct sim *s, uint64_t achievable)
{
	struct nk_tuner_config defaults;
	nk_tuner_config_init(&defaults);
	sim_init(s, FLEET_PAGES, achievable);
	return new_tuner(c ? c : &defaults);
}

struct trace_stats {
	double t95, t_settled, converge_cpu, worst_5s_share;
	unsigned decisions;
};

static void run_to_settled(nk_tuner *t, struct sim *s, double limit, struct trace_stats *st);

/* The default tuner, run on the fleet until it settled. */
static nk_tuner *settled_fleet(struct sim *s)
{
	struct trace_stats st;
	nk_tuner *t = fleet_tuner(NULL, s, FLEET_ACHIEVABLE);
	run_to_settled(t, s, 600, &st);
	assert_true(st.t_settled > 0);
	return t;
}

/* Run until settled (or `limit` seconds), measuring what the issue asks. */
static void run_to_settled(nk_tuner *t, struct sim *s, double limit, struct trace_stats *st)
{
	struct nk_tuner_decision d;
	double t0 = s->t, cpu0 = s->cpu, win_t = s->t, win_cpu = s->cpu;
	*st = (struct trace_stats){.t95 = -1, .t_settled = -1};
	while (s->t - t0 < limit) {
		round_trip(t, s, &d);
		st->decisions++;
		if (st->t95 < 0 && s->saving >= 0.95 * (double)s->achievable)
			st->t95 = s->t - t0;
		if (s->t - win_t >= 5) {
			double share = (s->cpu - win_cpu) / (s->t - win_t);
			if (share > st->worst_5s_share && st->t_settled < 0)
				st->worst_5s_share = share;
			win_t = s->t;
			win_cpu = s->cpu;
		}
		if (d.phase == NK_TUNER_SETTLED) {
			st->t_settled = s->t - t0;
			st->converge_cpu = s->cpu - cpu0;
			return;
		}
	}
}

static void test_converges_within_budget(void **state)
{
	struct nk_tuner_config c;
	struct sim s;
	struct trace_stats st;
	nk_tuner_config_init(&c);
	nk_tuner *t = fleet_tuner(&c, &s, FLEET_ACHIEVABLE);
	run_to_settled(t, &s, 600, &st);

	/* The least time the budget allows: pass 1 and 95% of pass 2. */
	double work95 = FLEET_PAGES * COST_SCAN +
			0.95 * (FLEET_PAGES * COST_SCAN + FLEET_ACHIEVABLE * COST_MERGE);
	double ideal = work95 / c.cpu_budget;
	if (st.t95 < 0 || st.t95 > 1.25 * ideal + 2)
		fail_msg("95%% after %.1f s; the budget allows %.1f s", st.t95, ideal);
	assert_true(st.t_settled > st.t95);
	/* Settling costs at most a few seconds of a third pass. */
	if (st.t_settled > st.t95 + 8)
		fail_msg("settled %.1f s after 95%%", st.t_settled - st.t95);
	/* Budget kept: the average while converging, and any 5 s within 1.6x. */
	double share = st.converge_cpu / st.t_settled;
	if (share > c.cpu_budget * 1.05)
		fail_msg("ksmd used %.1f%% of a CPU while converging", share * 100);
	if (st.worst_5s_share > c.cpu_budget * 1.6)
		fail_msg("ksmd used %.1f%% over 5 s", st.worst_5s_share * 100);
	nk_tuner_free(t);
}

static void test_budget_is_a_setting(void **state)
{
	/* A 10% budget: slower, and still within it. */
	struct nk_tuner_config c;
	struct sim s;
	struct trace_stats tenth, quarter;
	nk_tuner *t = fleet_tuner(NULL, &s, FLEET_ACHIEVABLE);
	run_to_settled(t, &s, 600, &quarter);
	nk_tuner_free(t);

	nk_tuner_config_init(&c);
	c.cpu_budget = 0.10;
	t = fleet_tuner(&c, &s, FLEET_ACHIEVABLE);
	run_to_settled(t, &s, 1200, &tenth);
	nk_tuner_free(t);
	assert_true(tenth.t95 > 2 * quarter.t95);
	if (tenth.converge_cpu / tenth.t_settled > 0.105)
		fail_msg("a 10%% budget used %.1f%%", 100 * tenth.converge_cpu / tenth.t_settled);
}

static void test_backs_off_when_settled(void **state)
{
	struct nk_tuner_decision d;
	struct sim s;
	nk_tuner *t = settled_fleet(&s);
	double t0 = s.t, cpu0 = s.cpu;
	for (int i = 0; i < 100; i++) {
		round_trip(t, &s, &d);
		assert_int_equal(d.phase, NK_TUNER_SETTLED);
		assert_int_equal(d.run, 1);
	}
	/* One full scan per idle_scan_s (30 min): about 290 pages a second. */
	double rate = (double)s.p * 1000 / (double)s.sleep_ms;
	assert_true(rate >= FLEET_PAGES / 1800.0 * 0.9 && rate <= FLEET_PAGES / 1800.0 * 1.2);
	double share = (s.cpu - cpu0) / (s.t - t0);
	if (share > 0.002)
		fail_msg("settled ksmd uses %.3f%% of a CPU", share * 100);
	/* It samples lazily, and nothing was left unmerged. */
	assert_true(d.interval_s == 10);
	if (s.saving < (double)s.achievable * 0.999)
		fail_msg("saving %.0f of %" PRIu64 " after %u scans", s.saving, s.achievable,
			 (unsigned)s.full_scans);
	nk_tuner_free(t);
}

static void test_new_memory_wakes_it(void **state)
{
	struct nk_tuner_decision d;
	struct sim s;
	struct trace_stats st;
	nk_tuner *t = settled_fleet(&s);
	/* A VM of 1 GiB starts, two thirds of it like the others. */
	sim_grow(&s, 256u * 1024, 170u * 1024);
	round_trip(t, &s, &d);
	assert_int_equal(d.phase, NK_TUNER_CONVERGING);
	assert_non_null(strstr(d.reason, "mergeable memory grew by 1024 MiB"));
	run_to_settled(t, &s, 600, &st);
	assert_true(st.t95 >= 0 && st.t_settled > 0);
	assert_true(s.saving >= 0.99 * (double)s.achievable);
	nk_tuner_free(t);
}

static void test_paying_scans_wake_it(void **state)
{
	/* Content that changes into mergeable content without new memory:
	 * the background pass finds merges paying again. */
	struct nk_tuner_decision d;
	struct sim s;
	nk_tuner *t = settled_fleet(&s);
	s.achievable += 50000;
	s.seen = 1; /* the background pass merges as it goes */
	bool woke = false;
	for (int i = 0; i < 60 && !woke; i++) {
		round_trip(t, &s, &d);
		woke = d.phase == NK_TUNER_CONVERGING;
	}
	assert_true(woke);
	assert_non_null(strstr(d.reason, "scans pay again"));
	nk_tuner_free(t);
}

static void test_nothing_to_merge_settles_after_two_passes(void **state)
{
	struct sim s;
	struct trace_stats st;
	nk_tuner *t = fleet_tuner(NULL, &s, 0);
	run_to_settled(t, &s, 600, &st);
	assert_true(st.t_settled > 0);
	/* Two passes of checksums at 25%: about 4 s; never more than a third pass. */
	assert_true(s.full_scans <= 3);
	nk_tuner_free(t);
}

static void test_modes(void **state)
{
	struct nk_tuner_config c;
	struct nk_tuner_decision d;
	struct sim s;
	nk_tuner_config_init(&c);

	c.mode = NK_TUNER_MODE_OFF;
	nk_tuner *t = fleet_tuner(&c, &s, FLEET_ACHIEVABLE);
	s.run = 1;
	round_trip(t, &s, &d);
	assert_int_equal(d.run, 0);
	assert_true(d.changed);
	assert_non_null(strstr(d.reason, "mode off"));
	nk_tuner_free(t);

	/* auto: nothing mergeable, nothing to do. */
	c.mode = NK_TUNER_MODE_AUTO;
	t = fleet_tuner(&c, &s, FLEET_ACHIEVABLE);
	s.procs = 0;
	round_trip(t, &s, &d);
	assert_int_equal(d.phase, NK_TUNER_STOPPED);
	assert_int_equal(d.run, 0);
	assert_false(d.changed); /* KSM is already stopped */
	assert_non_null(strstr(d.reason, "no process has mergeable memory"));
	s.procs = 2;
	round_trip(t, &s, &d);
	assert_int_equal(d.phase, NK_TUNER_CONVERGING);
	nk_tuner_free(t);

	/* on: runs even without mergeable processes. */
	c.mode = NK_TUNER_MODE_ON;
	t = fleet_tuner(&c, &s, FLEET_ACHIEVABLE);
	s.procs = 0;
	round_trip(t, &s, &d);
	assert_int_equal(d.run, 1);
	nk_tuner_free(t);
}

static void test_pressure_mode(void **state)
{
	struct nk_tuner_config c;
	struct nk_tuner_decision d;
	struct sim s;
	nk_tuner_config_init(&c);
	c.mode = NK_TUNER_MODE_PRESSURE;
	nk_tuner *t = fleet_tuner(&c, &s, FLEET_ACHIEVABLE);

	/* 83% available: no pressure, KSM stays stopped. */
	round_trip(t, &s, &d);
	assert_int_equal(d.run, 0);
	assert_non_null(strstr(d.reason, "no memory pressure"));
	/* Below 20% of MemTotal: converge. */
	s.mem_available_kb = s.mem_total_kb * 15 / 100;
	round_trip(t, &s, &d);
	assert_int_equal(d.run, 1);
	assert_int_equal(d.phase, NK_TUNER_CONVERGING);
	assert_non_null(strstr(d.reason, "memory pressure (MemAvailable 15%"));
	/* 22%: inside the hysteresis band, keep going. */
	s.mem_available_kb = s.mem_total_kb * 22 / 100;
	for (int i = 0; i < 5; i++) {
		round_trip(t, &s, &d);
		assert_int_equal(d.run, 1);
	}
	/* 30%: pressure over, stop and keep the merged pages. */
	s.mem_available_kb = s.mem_total_kb * 30 / 100;
	round_trip(t, &s, &d);
	assert_int_equal(d.run, 0);
	assert_true(d.changed);
	assert_non_null(strstr(d.reason, "stopping KSM"));
	/* PSI alone is pressure too. */
	s.psi = 12.5;
	round_trip(t, &s, &d);
	assert_int_equal(d.run, 1);
	assert_non_null(strstr(d.reason, "PSI some 12.5%"));
	nk_tuner_free(t);
}

static void test_advisor_and_foreign_writes(void **state)
{
	struct nk_tuner_decision d;
	struct sim s;
	nk_tuner *t = fleet_tuner(NULL, &s, FLEET_ACHIEVABLE);
	round_trip(t, &s, &d);
	round_trip(t, &s, &d);
	/* Someone switches the advisor on behind the tuner's back. */
	s.advisor = true;
	round_trip(t, &s, &d);
	assert_true(d.changed);
	assert_non_null(strstr(d.reason, "advisor was on"));
	assert_false(s.advisor);
	/* Someone writes pages_to_scan: the next decision puts its own back. */
	s.p = 7;
	round_trip(t, &s, &d);
	assert_true(d.changed);
	assert_true(s.p != 7);
	nk_tuner_free(t);
}

static void test_pure(void **state)
{
	/* The same samples give the same decisions. */
	struct sim s;
	struct nk_tuner_sample x[80];
	struct nk_tuner_decision a, b;
	nk_tuner *t1 = fleet_tuner(NULL, &s, FLEET_ACHIEVABLE);
	for (int i = 0; i < 80; i++)
		round_trip_with(t1, &s, &a, NULL, &x[i]);
	nk_tuner_free(t1);
	struct nk_tuner_config c;
	nk_tuner_config_init(&c);
	t1 = new_tuner(&c);
	nk_tuner *t2 = new_tuner(&c);
	for (int i = 0; i < 80; i++) {
		nk_tuner_decide(t1, &x[i], &a);
		nk_tuner_decide(t2, &x[i], &b);
		assert_memory_equal(&a, &b, sizeof(a));
	}
	nk_tuner_free(t1);
	nk_tuner_free(t2);
}

/* An older kernel (no pages_scanned), and no ksmd found. */
static void older_kernel(struct nk_tuner_sample *x)
{
	x->ksmd_cpu_s = -1;
	x->ksm.mask &= ~NK_KSM_BIT(NK_KSM_PAGES_SCANNED);
	x->ksm.value[NK_KSM_PAGES_SCANNED] = 0;
}

static void test_without_cpu_time_or_pages_scanned(void **state)
{
	/* It still converges by the cost prior and settles on a full pass
	 * that gains nothing. */
	struct nk_tuner_decision d = {0};
	struct sim s;
	nk_tuner *t = fleet_tuner(NULL, &s, FLEET_ACHIEVABLE);
	for (int i = 0; i < 2000 && d.phase != NK_TUNER_SETTLED; i++)
		round_trip_with(t, &s, &d, older_kernel, NULL);
	assert_int_equal(d.phase, NK_TUNER_SETTLED);
	assert_non_null(strstr(d.reason, "stopped paying"));
	assert_true(s.saving >= 0.99 * (double)s.achievable);
	nk_tuner_free(t);
}

static void test_config_check(void **state)
{
	struct nk_tuner_config c;
	nk_error *err = NULL;
	nk_tuner *t = NULL;

	nk_tuner_config_init(&c);
	c.cpu_budget = 0;
	assert_int_equal(nk_tuner_new(&c, &t, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "cpu_budget"));
	err = nk_error_free(err);

	nk_tuner_config_init(&c);
	c.interval_min_s = 20;
	assert_int_equal(nk_tuner_config_check(&c, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "interval_min"));
	err = nk_error_free(err);

	nk_tuner_config_init(&c);
	assert_int_equal(nk_ksm_parse("pages_to_scan=5", &c.knobs, NULL), 0);
	assert_int_equal(nk_tuner_config_check(&c, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "pages_to_scan is driven by the tuner"));
	err = nk_error_free(err);
	assert_null(t);

	assert_string_equal(nk_tuner_mode_name(NK_TUNER_MODE_PRESSURE), "pressure");
	assert_string_equal(nk_tuner_phase_name(NK_TUNER_SETTLED), "settled");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_converges_within_budget),
	    cmocka_unit_test(test_budget_is_a_setting),
	    cmocka_unit_test(test_backs_off_when_settled),
	    cmocka_unit_test(test_new_memory_wakes_it),
	    cmocka_unit_test(test_paying_scans_wake_it),
	    cmocka_unit_test(test_nothing_to_merge_settles_after_two_passes),
	    cmocka_unit_test(test_modes),
	    cmocka_unit_test(test_pressure_mode),
	    cmocka_unit_test(test_advisor_and_foreign_writes),
	    cmocka_unit_test(test_pure),
	    cmocka_unit_test(test_without_cpu_time_or_pages_scanned),
	    cmocka_unit_test(test_config_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
