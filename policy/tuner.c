/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The KSM tuner's control law (docs/ksm-tuner.md).  Pure: samples in,
 * knob settings and a reason out, no I/O and no clock, so unit tests drive
 * it with recorded and simulated counter traces.
 *
 *   stopped     run=0; the mode says KSM should not run now.
 *   converging  scan as fast as the CPU budget allows.  The budget is
 *               kept by measurement: ksmd's CPU share u over the last
 *               interval scales pages_to_scan by the ratio of the target's
 *               odds to u's odds (u/(1-u) is proportional to pages_to_scan
 *               at a fixed sleep), so one step lands on the target when
 *               the cost per page holds still.
 *   settled     a complete full scan gained less than `settle` of the
 *               saving: scans stopped paying.  A slow background pass (one
 *               full scan per idle_scan_s) keeps merging what changes,
 *               and converging starts again when mergeable memory grows
 *               or the background pass finds merges paying again.
 */
#include "tuner-internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>

/* Prior cost of scanning one page: this machine's first pass runs at
 * about 0.5 M pages per CPU-second (reference/this-machine.md).  Only the
 * first interval uses it; measurement takes over. */
#define PRIOR_COST_S	    2e-6
#define MIN_PAGES	    16
#define MAX_PAGES	    (1u << 22)
#define SETTLED_SLEEP_MS    1000
#define BUDGET_AIM	    0.95 /* aim a little below the budget: measurement is noisy */
#define CATCHUP_S	    5	 /* pay back over- or underspending over this long */
#define MAX_STEP	    8	 /* pages_to_scan changes at most 8x per interval */
#define PAY_MIN_PAGES	    64	 /* merges per interval that wake a settled tuner... */
#define PAY_RATIO	    0.01 /* ...when at least this share of the scanned pages */
#define DEFAULT_PAGE_SIZE   4096
#define PRESSURE_HYSTERESIS 1.25

struct nk_tuner {
	struct nk_tuner_config cfg;
	bool has_prev;
	struct nk_tuner_sample prev;
	enum nk_tuner_phase phase;
	uint64_t pages, sleep_ms;
	double interval_s;
	double cost_s;		 /* CPU seconds per scanned page, learned */
	uint64_t converge_scans; /* full_scans when converging began */
	uint64_t pass_scans;	 /* full_scans at the last pass boundary seen */
	uint64_t pass_saving;	 /* the saving then */
	double converge_time, converge_cpu;
	uint64_t settled_mergeable; /* mergeable bytes when it settled */
	bool pressure;
};

_nk_export_ void nk_tuner_config_init(struct nk_tuner_config *c)
{
	*c = (struct nk_tuner_config){
	    .mode = NK_TUNER_MODE_AUTO,
	    .cpu_budget = 0.25,
	    .interval_min_s = 0.5,
	    .interval_max_s = 10,
	    .idle_scan_s = 1800,
	    .settle = 0.01,
	    .pressure_available = 0.20,
	    .pressure_psi = 10,
	    .grow_bytes = 64ull << 20,
	    .converge_sleep_ms = 20,
	};
}

_nk_export_ const char *nk_tuner_mode_name(enum nk_tuner_mode mode)
{
	static const char *const names[] = {"off", "on", "auto", "pressure"};
	return (unsigned)mode < ARRAY_SIZE(names) ? names[mode] : "?";
}

_nk_export_ const char *nk_tuner_phase_name(enum nk_tuner_phase phase)
{
	static const char *const names[] = {"stopped", "converging", "settled"};
	return (unsigned)phase < ARRAY_SIZE(names) ? names[phase] : "?";
}

_nk_export_ int nk_tuner_config_check(const struct nk_tuner_config *c, nk_error **err)
{
	const uint32_t tuner_owned =
	    NK_KSM_BIT(NK_KSM_RUN) | NK_KSM_BIT(NK_KSM_PAGES_TO_SCAN) |
	    NK_KSM_BIT(NK_KSM_SLEEP_MILLISECS) | NK_KSM_BIT(NK_KSM_ADVISOR_MODE) |
	    NK_KSM_BIT(NK_KSM_ADVISOR_MAX_CPU) | NK_KSM_BIT(NK_KSM_ADVISOR_MIN_PAGES_TO_SCAN) |
	    NK_KSM_BIT(NK_KSM_ADVISOR_MAX_PAGES_TO_SCAN) |
	    NK_KSM_BIT(NK_KSM_ADVISOR_TARGET_SCAN_TIME);
	if ((unsigned)c->mode > NK_TUNER_MODE_PRESSURE)
		return nk_error_set(err, EINVAL, "unknown tuner mode %d", (int)c->mode);
	if (!(c->cpu_budget > 0 && c->cpu_budget <= 1))
		return nk_error_set(err, EINVAL, "cpu_budget %g%% is not in (0%%, 100%%]",
				    c->cpu_budget * 100);
	if (!(c->interval_min_s >= 0.1 && c->interval_min_s <= c->interval_max_s &&
	      c->interval_max_s <= 3600))
		return nk_error_set(err, EINVAL,
				    "intervals must satisfy 100ms <= interval_min (%gs) <= "
				    "interval_max (%gs) <= 1h",
				    c->interval_min_s, c->interval_max_s);
	if (!(c->idle_scan_s >= 10 && c->idle_scan_s <= 7 * 86400))
		return nk_error_set(err, EINVAL, "idle_scan %gs is not between 10s and 7 days",
				    c->idle_scan_s);
	if (!(c->settle >= 0 && c->settle <= 0.5))
		return nk_error_set(err, EINVAL, "settle %g%% is not between 0%% and 50%%",
				    c->settle * 100);
	if (!(c->pressure_available > 0 && c->pressure_available < 1) ||
	    !(c->pressure_psi >= 0 && c->pressure_psi <= 100))
		return nk_error_set(err, EINVAL, "pressure thresholds out of range");
	if (c->converge_sleep_ms > 10000)
		return nk_error_set(err, EINVAL, "converge_sleep %ums is over 10s",
				    c->converge_sleep_ms);
	for (int p = 0; p < NK_KSM_KNOB_COUNT; p++)
		if (c->knobs.mask & tuner_owned & (1u << p))
			return nk_error_set(err, EINVAL,
					    "%s is driven by the tuner and cannot be set in its "
					    "configuration",
					    nk_ksm_field((enum nk_ksm_field)p)->name);
	return 0;
}

_nk_export_ int nk_tuner_new(const struct nk_tuner_config *config, nk_tuner **ret, nk_error **err)
{
	int r = nk_tuner_config_check(config, err);
	if (r < 0)
		return r;
	nk_tuner *t = calloc(1, sizeof(*t));
	if (!t)
		return nk_error_set(err, ENOMEM, "out of memory");
	t->cfg = *config;
	t->cost_s = PRIOR_COST_S;
	t->interval_s = config->interval_min_s;
	*ret = t;
	return 0;
}

_nk_export_ nk_tuner *nk_tuner_free(nk_tuner *tuner)
{
	free(tuner);
	return NULL;
}

/* A KSM field of a sample (0 when the kernel lacks it). */
static uint64_t knob(const struct nk_tuner_sample *s, enum nk_ksm_field f)
{
	return nk_ksm_get(&s->ksm, f);
}

static bool advisor_on(const struct nk_tuner_sample *s)
{
	return knob(s, NK_KSM_ADVISOR_MODE) == NK_KSM_ADVISOR_SCAN_TIME;
}

static uint64_t saving(const struct nk_tuner_sample *s)
{
	return nk_ksm_saved_pages(&s->ksm);
}

/* Pages KSM has to look at: what it tracks, or the mergeable memory of the
 * processes when that is larger (ksmd has not reached all of it yet). */
static uint64_t footprint_pages(const struct nk_tuner_sample *s)
{
	uint64_t tracked = nk_ksm_tracked_pages(&s->ksm);
	uint64_t resident = s->mergeable_bytes / DEFAULT_PAGE_SIZE;
	return tracked > resident ? tracked : resident;
}

static uint64_t clamp_pages(double p, uint64_t lo)
{
	if (!(p >= (double)lo))
		return lo;
	return p > MAX_PAGES ? MAX_PAGES : (uint64_t)p;
}

/* pages_to_scan that makes ksmd use `share` of a CPU at the current sleep:
 * a batch takes pages * cost, so share = batch / (batch + sleep). */
static uint64_t pages_for_share(const nk_tuner *t, double share)
{
	if (t->sleep_ms == 0)
		return MAX_PAGES;
	if (share > 0.99)
		share = 0.99;
	return clamp_pages(share / (1 - share) * (double)t->sleep_ms / 1000 / t->cost_s, MIN_PAGES);
}

static void say(struct nk_tuner_decision *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(struct nk_tuner_decision *d, const char *fmt, ...)
{
	size_t used = strlen(d->reason);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->reason + used, sizeof(d->reason) - used, fmt, ap);
	va_end(ap);
}

static void start_converging(nk_tuner *t, const struct nk_tuner_sample *s,
			     struct nk_tuner_decision *d)
{
	t->phase = NK_TUNER_CONVERGING;
	t->converge_scans = t->pass_scans = knob(s, NK_KSM_FULL_SCANS);
	t->pass_saving = saving(s);
	t->converge_time = s->time_s;
	t->converge_cpu = s->ksmd_cpu_s;
	t->sleep_ms = t->cfg.cpu_budget >= 0.95 ? 0 : t->cfg.converge_sleep_ms;
	t->pages = pages_for_share(t, t->cfg.cpu_budget * BUDGET_AIM);
	t->interval_s = t->cfg.interval_min_s;
	say(d,
	    ": converging at %.0f%% of a CPU: pages_to_scan=%" PRIu64 " sleep_millisecs=%" PRIu64
	    " (%.2f us per page)",
	    t->cfg.cpu_budget * 100, t->pages, t->sleep_ms, t->cost_s * 1e6);
}

static void settle(nk_tuner *t, const struct nk_tuner_sample *s, struct nk_tuner_decision *d)
{
	t->phase = NK_TUNER_SETTLED;
	t->settled_mergeable = s->mergeable_bytes;
	t->sleep_ms = SETTLED_SLEEP_MS;
	/* One full scan per idle_scan_s, and never over the budget. */
	double p = (double)footprint_pages(s) * SETTLED_SLEEP_MS / 1000 / t->cfg.idle_scan_s;
	uint64_t cap = pages_for_share(t, t->cfg.cpu_budget * BUDGET_AIM);
	t->pages = clamp_pages(ceil(p), MIN_PAGES);
	if (t->pages > cap)
		t->pages = cap;
	t->interval_s = t->cfg.interval_min_s * 2;
	say(d,
	    ": settling: pages_to_scan=%" PRIu64 " sleep_millisecs=%" PRIu64
	    " (a full scan per %.0f min)",
	    t->pages, t->sleep_ms, t->cfg.idle_scan_s / 60);
}

/* Should KSM run now?  Says why into the decision when it should not, or
 * when it starts. */
static bool gate(nk_tuner *t, const struct nk_tuner_sample *s, struct nk_tuner_decision *d)
{
	const struct nk_tuner_config *c = &t->cfg;
	bool none_mergeable = s->has_mergeable && s->mergeable_procs == 0;

	switch (c->mode) {
	case NK_TUNER_MODE_OFF:
		say(d, "mode off: KSM stays stopped (merged pages stay merged)");
		return false;
	case NK_TUNER_MODE_ON:
		return true;
	case NK_TUNER_MODE_AUTO:
		if (none_mergeable)
			say(d, "no process has mergeable memory: KSM stays stopped");
		return !none_mergeable;
	case NK_TUNER_MODE_PRESSURE:
		break;
	}
	double avail = s->mem_total_kb ? (double)s->mem_available_kb / (double)s->mem_total_kb : 1;
	bool psi_on = c->pressure_psi > 0 && s->psi_some_avg10 >= 0;
	if (!t->pressure)
		t->pressure = avail < c->pressure_available ||
			      (psi_on && s->psi_some_avg10 >= c->pressure_psi);
	else
		t->pressure = !(avail > c->pressure_available * PRESSURE_HYSTERESIS &&
				(!psi_on || s->psi_some_avg10 < c->pressure_psi / 2));
	if (!t->pressure) {
		say(d,
		    "no memory pressure (MemAvailable %.0f%%, PSI some %.1f%%): KSM stays "
		    "stopped (merged pages stay merged)",
		    avail * 100, s->psi_some_avg10 < 0 ? 0 : s->psi_some_avg10);
		return false;
	}
	if (none_mergeable) {
		say(d, "memory pressure, but no process has mergeable memory");
		return false;
	}
	say(d, "memory pressure (MemAvailable %.0f%% of MemTotal, PSI some %.1f%%)", avail * 100,
	    s->psi_some_avg10 < 0 ? 0 : s->psi_some_avg10);
	return true;
}

static void converge_step(nk_tuner *t, const struct nk_tuner_sample *s, struct nk_tuner_decision *d)
{
	const struct nk_tuner_sample *p = &t->prev;
	double dt = s->time_s - p->time_s;
	bool cpu_known = s->ksmd_cpu_s >= 0 && p->ksmd_cpu_s >= 0;
	double cpu = cpu_known ? s->ksmd_cpu_s - p->ksmd_cpu_s : 0;
	double u = dt > 0 ? cpu / dt : 0;
	int64_t gained = (int64_t)saving(s) - (int64_t)saving(p);

	if (nk_ksm_has(&s->ksm, NK_KSM_PAGES_SCANNED) &&
	    nk_ksm_has(&p->ksm, NK_KSM_PAGES_SCANNED) && cpu > 0) {
		uint64_t scanned = knob(s, NK_KSM_PAGES_SCANNED) - knob(p, NK_KSM_PAGES_SCANNED);
		if (scanned >= 1000)
			t->cost_s = 0.5 * t->cost_s + 0.5 * cpu / (double)scanned;
	}
	if (knob(s, NK_KSM_FULL_SCANS) > t->pass_scans) {
		int64_t pass_gain = (int64_t)saving(s) - (int64_t)t->pass_saving;
		uint64_t passes = knob(s, NK_KSM_FULL_SCANS) - t->converge_scans;
		double share = (double)pass_gain / (double)(saving(s) ? saving(s) : 1);
		t->pass_scans = knob(s, NK_KSM_FULL_SCANS);
		t->pass_saving = saving(s);
		/* Merging needs two passes (checksum, then match): judge from the second. */
		if (passes >= 2 && share < t->cfg.settle) {
			say(d,
			    "full scan %" PRIu64 " gained %" PRId64 " pages (%.2f%% of the saving, "
			    "under %.1f%%): scans stopped paying",
			    knob(s, NK_KSM_FULL_SCANS), pass_gain, share * 100,
			    t->cfg.settle * 100);
			settle(t, s, d);
			return;
		}
	}
	/* Past the second pass, a pass that merges nothing need not be
	 * finished at full speed: project the gain of this interval over a
	 * whole pass.  Judged only on a good share of a pass (a twentieth). */
	uint64_t scanned = knob(s, NK_KSM_PAGES_SCANNED) - knob(p, NK_KSM_PAGES_SCANNED),
		 pages = footprint_pages(s);
	if (nk_ksm_has(&s->ksm, NK_KSM_PAGES_SCANNED) &&
	    nk_ksm_has(&p->ksm, NK_KSM_PAGES_SCANNED) &&
	    knob(s, NK_KSM_FULL_SCANS) - t->converge_scans >= 2 && pages && scanned >= pages / 20) {
		double projected =
		    gained > 0 ? (double)gained * (double)pages / (double)scanned : 0;
		if (projected < t->cfg.settle * (double)(saving(s) ? saving(s) : 1)) {
			say(d,
			    "scan %" PRIu64 " merges nothing: +%" PRId64 " pages from %" PRIu64
			    " scanned (a whole pass would gain %.2f%% of the saving, under "
			    "%.1f%%): scans stopped paying",
			    knob(s, NK_KSM_FULL_SCANS) + 1, gained, scanned,
			    100 * projected / (double)(saving(s) ? saving(s) : 1),
			    t->cfg.settle * 100);
			settle(t, s, d);
			return;
		}
	}
	say(d, "converging: +%" PRId64 " pages in %.1fs", gained, dt);
	if (dt <= 0 || knob(s, NK_KSM_RUN) != 1 || knob(s, NK_KSM_PAGES_TO_SCAN) != t->pages) {
		/* Not a clean measurement of our own setting: keep it. */
		say(d, "; keeping pages_to_scan=%" PRIu64, t->pages);
		return;
	}
	/* The budget is an average over the converging phase: aim at it, plus
	 * what was left unspent (or minus what was overspent) paid back over
	 * CATCHUP_S, within [0.5, 1.5] x budget for any one interval. */
	double budget = t->cfg.cpu_budget, aim = budget * BUDGET_AIM;
	if (cpu_known) {
		double used = s->ksmd_cpu_s - t->converge_cpu;
		double allowed = budget * BUDGET_AIM * (s->time_s - t->converge_time);
		aim += (allowed - used) / CATCHUP_S;
		aim = aim < budget * 0.5 ? budget * 0.5 : aim > budget * 1.5 ? budget * 1.5 : aim;
	}
	uint64_t before = t->pages;
	double want;
	if (t->sleep_ms == 0) {
		want = MAX_PAGES;
	} else if (cpu_known && u > 0) {
		/* share = batch / (batch + sleep) and batch ∝ pages: scale by odds. */
		double uu = u > 0.99 ? 0.99 : u, target = aim > 0.99 ? 0.99 : aim;
		want = (double)t->pages * (target / (1 - target)) / (uu / (1 - uu));
	} else {
		want = (double)pages_for_share(t, aim);
	}
	if (want > (double)t->pages * MAX_STEP)
		want = (double)t->pages * MAX_STEP;
	if (want < (double)t->pages / MAX_STEP)
		want = (double)t->pages / MAX_STEP;
	t->pages = clamp_pages(want, MIN_PAGES);
	say(d,
	    ", ksmd at %.1f%% of a CPU (aiming at %.1f%%, budget %.0f%%): pages_to_scan %" PRIu64
	    " -> %" PRIu64,
	    u * 100, aim * 100, budget * 100, before, t->pages);
}

static void settled_step(nk_tuner *t, const struct nk_tuner_sample *s, struct nk_tuner_decision *d)
{
	const struct nk_tuner_sample *p = &t->prev;
	int64_t gained = (int64_t)saving(s) - (int64_t)saving(p);
	uint64_t scanned = knob(s, NK_KSM_PAGES_SCANNED) - knob(p, NK_KSM_PAGES_SCANNED);
	double dt = s->time_s - p->time_s;
	double u = dt > 0 && s->ksmd_cpu_s >= 0 && p->ksmd_cpu_s >= 0
		       ? (s->ksmd_cpu_s - p->ksmd_cpu_s) / dt
		       : 0;

	if (s->has_mergeable && s->mergeable_bytes >= t->settled_mergeable + t->cfg.grow_bytes) {
		say(d, "mergeable memory grew by %" PRIu64 " MiB (%u processes)",
		    (s->mergeable_bytes - t->settled_mergeable) >> 20, s->mergeable_procs);
		start_converging(t, s, d);
		return;
	}
	if (nk_ksm_has(&s->ksm, NK_KSM_PAGES_SCANNED) && gained >= PAY_MIN_PAGES &&
	    (double)gained >= PAY_RATIO * (double)scanned) {
		say(d, "scans pay again: +%" PRId64 " pages from %" PRIu64 " scanned", gained,
		    scanned);
		start_converging(t, s, d);
		return;
	}
	if (s->has_mergeable && s->mergeable_bytes < t->settled_mergeable)
		t->settled_mergeable = s->mergeable_bytes; /* VMs left: measure growth from here */
	double want = (double)footprint_pages(s) * SETTLED_SLEEP_MS / 1000 / t->cfg.idle_scan_s;
	t->pages = clamp_pages(ceil(want), MIN_PAGES);
	t->interval_s =
	    t->interval_s * 2 > t->cfg.interval_max_s ? t->cfg.interval_max_s : t->interval_s * 2;
	say(d,
	    "settled: %+" PRId64 " pages in %.0fs, ksmd at %.2f%% of a CPU; pages_to_scan=%" PRIu64
	    " every %" PRIu64 " ms",
	    gained, dt, u * 100, t->pages, t->sleep_ms);
}

_nk_export_ void nk_tuner_decide(nk_tuner *t, const struct nk_tuner_sample *s,
				 struct nk_tuner_decision *ret)
{
	struct nk_tuner_decision d = {0};
	enum nk_tuner_phase before = t->phase;

	if (!gate(t, s, &d)) {
		t->phase = NK_TUNER_STOPPED;
		t->interval_s = t->cfg.interval_max_s;
	} else if (t->phase == NK_TUNER_STOPPED || !t->has_prev) {
		if (!d.reason[0])
			say(&d, t->has_prev ? "KSM should run" : "start, mode %s",
			    nk_tuner_mode_name(t->cfg.mode));
		say(&d, " (%" PRIu64 " MiB mergeable in %u processes)", s->mergeable_bytes >> 20,
		    s->mergeable_procs);
		start_converging(t, s, &d);
	} else {
		/* The gate only speaks when KSM stops or starts. */
		d.reason[0] = '\0';
		if (t->phase == NK_TUNER_CONVERGING)
			converge_step(t, s, &d);
		else
			settled_step(t, s, &d);
	}
	d.phase = t->phase;
	d.run = t->phase == NK_TUNER_STOPPED ? 0 : 1;
	d.pages_to_scan = t->pages;
	d.sleep_millisecs = t->sleep_ms;
	d.interval_s = t->interval_s;
	d.changed = knob(s, NK_KSM_RUN) != d.run || advisor_on(s) ||
		    (d.run == 1 && (knob(s, NK_KSM_PAGES_TO_SCAN) != d.pages_to_scan ||
				    knob(s, NK_KSM_SLEEP_MILLISECS) != d.sleep_millisecs));
	if (before != NK_TUNER_STOPPED && t->phase == NK_TUNER_STOPPED && knob(s, NK_KSM_RUN) == 1)
		say(&d, "; stopping KSM");
	if (advisor_on(s))
		say(&d, "; the scan-time advisor was on: switching it off");
	t->prev = *s;
	t->has_prev = true;
	*ret = d;
}
