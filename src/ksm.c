/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * KSM in one table (include/numaksm/ksm.h): every file of /sys/kernel/mm/ksm
 * with its type, range and meaning.  Reading, checking, writing and
 * printing a knob all go through its entry.  Writes are checked against
 * the kernel's rules first, made in the order the kernel needs, and rolled
 * back on a refusal.  And per process /proc/PID/ksm_stat.
 */
#include "ksm-internal.h"
#include "numaksm/proc.h"

#include <inttypes.h>
#include <signal.h>

#define U32	 UINT32_MAX
#define UNSHARED true

static const struct nk_ksm_field_info fields[NK_KSM_FIELD_COUNT] = {
    [NK_KSM_RUN] = {"run", NK_KSM_TYPE_NUMBER, true, 0, 2, false, "",
		    "0 stops ksmd keeping merged pages, 1 runs it, 2 stops it and unmerges all"},
    [NK_KSM_PAGES_TO_SCAN] = {"pages_to_scan", NK_KSM_TYPE_NUMBER, true, 0, U32, false, "pages",
			      "pages ksmd scans in one batch"},
    [NK_KSM_SLEEP_MILLISECS] = {"sleep_millisecs", NK_KSM_TYPE_NUMBER, true, 0, U32, false,
				"milliseconds", "how long ksmd sleeps between batches"},
    [NK_KSM_MERGE_ACROSS_NODES] = {"merge_across_nodes", NK_KSM_TYPE_NUMBER, true, 0, 1, UNSHARED,
				   "",
				   "1 merges pages of different NUMA nodes, 0 only within a node"},
    [NK_KSM_MAX_PAGE_SHARING] = {"max_page_sharing", NK_KSM_TYPE_NUMBER, true, 2, INT32_MAX,
				 UNSHARED, "", "most mappings of one KSM page"},
    [NK_KSM_USE_ZERO_PAGES] = {"use_zero_pages", NK_KSM_TYPE_BOOL, true, 0, 1, false, "",
			       "empty pages are merged with the kernel's zero page"},
    [NK_KSM_SMART_SCAN] = {"smart_scan", NK_KSM_TYPE_BOOL, true, 0, 1, false, "",
			   "skip pages that did not merge in earlier scans"},
    [NK_KSM_STABLE_NODE_CHAINS_PRUNE_MILLISECS] = {"stable_node_chains_prune_millisecs",
						   NK_KSM_TYPE_NUMBER, true, 0, U32, false,
						   "milliseconds",
						   "how often stale stable-node chains are pruned"},
    [NK_KSM_ADVISOR_MODE] = {"advisor_mode", NK_KSM_TYPE_ADVISOR, true, 0, 1, false, "",
			     "none, or scan-time: the kernel sets pages_to_scan itself"},
    /* The kernel takes any number; as a percent of one CPU only 1-100 make sense. */
    [NK_KSM_ADVISOR_MAX_CPU] = {"advisor_max_cpu", NK_KSM_TYPE_NUMBER, true, 1, 100, false,
				"percent", "the scan-time advisor's CPU limit for ksmd"},
    [NK_KSM_ADVISOR_MIN_PAGES_TO_SCAN] = {"advisor_min_pages_to_scan", NK_KSM_TYPE_NUMBER, true, 0,
					  UINT64_MAX, false, "pages",
					  "the fewest pages_to_scan the advisor sets"},
    [NK_KSM_ADVISOR_MAX_PAGES_TO_SCAN] = {"advisor_max_pages_to_scan", NK_KSM_TYPE_NUMBER, true, 0,
					  UINT64_MAX, false, "pages",
					  "the most pages_to_scan the advisor sets"},
    [NK_KSM_ADVISOR_TARGET_SCAN_TIME] = {"advisor_target_scan_time", NK_KSM_TYPE_NUMBER, true, 1,
					 UINT64_MAX, false, "seconds",
					 "the advisor's target for one full scan"},
    [NK_KSM_PAGES_SHARED] = {"pages_shared", NK_KSM_TYPE_NUMBER, false, 0, 0, false, "pages",
			     "KSM pages in use: one for every content merged"},
    [NK_KSM_PAGES_SHARING] = {"pages_sharing", NK_KSM_TYPE_NUMBER, false, 0, 0, false, "pages",
			      "more mappings of KSM pages: the pages saved"},
    [NK_KSM_PAGES_UNSHARED] = {"pages_unshared", NK_KSM_TYPE_NUMBER, false, 0, 0, false, "pages",
			       "pages scanned and unique: checked again every scan"},
    [NK_KSM_PAGES_VOLATILE] = {"pages_volatile", NK_KSM_TYPE_NUMBER, false, 0, 0, false, "pages",
			       "pages changing too fast to be merged"},
    [NK_KSM_PAGES_SCANNED] = {"pages_scanned", NK_KSM_TYPE_NUMBER, false, 0, 0, false, "pages",
			      "pages scanned since KSM started"},
    [NK_KSM_PAGES_SKIPPED] = {"pages_skipped", NK_KSM_TYPE_NUMBER, false, 0, 0, false, "pages",
			      "pages smart_scan skipped"},
    [NK_KSM_FULL_SCANS] = {"full_scans", NK_KSM_TYPE_NUMBER, false, 0, 0, false, "",
			   "full scans of all mergeable memory"},
    [NK_KSM_ZERO_PAGES] = {"ksm_zero_pages", NK_KSM_TYPE_NUMBER, false, 0, 0, false, "pages",
			   "empty pages merged with the zero page (use_zero_pages)"},
    [NK_KSM_STABLE_NODE_CHAINS] = {"stable_node_chains", NK_KSM_TYPE_NUMBER, false, 0, 0, false, "",
				   "KSM pages that hit max_page_sharing and were chained"},
    [NK_KSM_STABLE_NODE_DUPS] = {"stable_node_dups", NK_KSM_TYPE_NUMBER, false, 0, 0, false, "",
				 "duplicate KSM pages in those chains"},
    [NK_KSM_GENERAL_PROFIT] = {"general_profit", NK_KSM_TYPE_SIGNED, false, 0, 0, false, "bytes",
			       "bytes saved less KSM's own metadata (may be negative)"},
};

#define BIT(f) NK_KSM_BIT(f)

_nk_export_ const struct nk_ksm_field_info *nk_ksm_field(enum nk_ksm_field f)
{
	return (unsigned)f < NK_KSM_FIELD_COUNT ? &fields[f] : NULL;
}

_nk_export_ int nk_ksm_field_lookup(const char *name)
{
	for (int f = 0; f < NK_KSM_FIELD_COUNT; f++)
		if (strcmp(fields[f].name, name) == 0)
			return f;
	return -ENOENT;
}

_nk_export_ bool nk_ksm_has(const struct nk_ksm *ksm, enum nk_ksm_field f)
{
	return (unsigned)f < NK_KSM_FIELD_COUNT && (ksm->mask & BIT(f));
}

_nk_export_ uint64_t nk_ksm_get(const struct nk_ksm *ksm, enum nk_ksm_field f)
{
	return nk_ksm_has(ksm, f) ? ksm->value[f] : 0;
}

_nk_export_ void nk_ksm_set(struct nk_ksm *ksm, enum nk_ksm_field f, uint64_t value)
{
	if ((unsigned)f >= NK_KSM_FIELD_COUNT)
		return;
	ksm->value[f] = value;
	ksm->mask |= BIT(f);
}

_nk_export_ int64_t nk_ksm_profit(const struct nk_ksm *ksm)
{
	return (int64_t)nk_ksm_get(ksm, NK_KSM_GENERAL_PROFIT);
}

_nk_export_ uint64_t nk_ksm_saved_pages(const struct nk_ksm *ksm)
{
	return nk_ksm_get(ksm, NK_KSM_PAGES_SHARING) + nk_ksm_get(ksm, NK_KSM_ZERO_PAGES);
}

_nk_export_ uint64_t nk_ksm_tracked_pages(const struct nk_ksm *ksm)
{
	return nk_ksm_get(ksm, NK_KSM_PAGES_SHARED) + nk_ksm_get(ksm, NK_KSM_PAGES_SHARING) +
	       nk_ksm_get(ksm, NK_KSM_PAGES_UNSHARED) + nk_ksm_get(ksm, NK_KSM_PAGES_VOLATILE);
}

/* ---- text ------------------------------------------------------------- */

_nk_export_ const char *nk_ksm_format_value(enum nk_ksm_field f, uint64_t value, char *buf)
{
	switch ((unsigned)f < NK_KSM_FIELD_COUNT ? fields[f].type : NK_KSM_TYPE_NUMBER) {
	case NK_KSM_TYPE_ADVISOR:
		return value == NK_KSM_ADVISOR_SCAN_TIME ? "scan-time" : "none";
	case NK_KSM_TYPE_SIGNED:
		snprintf(buf, 24, "%" PRId64, (int64_t)value);
		return buf;
	default:
		snprintf(buf, 24, "%" PRIu64, value);
		return buf;
	}
}

int ksm_parse_file(enum nk_ksm_field f, const char *text, uint64_t *ret)
{
	_cleanup_free_ char *choice = NULL;
	long long v;

	switch (fields[f].type) {
	case NK_KSM_TYPE_ADVISOR:
		if (nk_parse_selector(text, &choice) < 0)
			return -EINVAL;
		return nk_ksm_parse_value(f, choice, ret, NULL);
	case NK_KSM_TYPE_SIGNED:
		if (nk_parse_int(text, INT64_MIN, INT64_MAX, &v, NULL) < 0)
			return -EINVAL;
		*ret = (uint64_t)(int64_t)v;
		return 0;
	default:
		return nk_parse_u64(text, ret, NULL) < 0 ? -EINVAL : 0;
	}
}

_nk_export_ int nk_ksm_parse_value(enum nk_ksm_field f, const char *text, uint64_t *ret,
				   nk_error **err)
{
	const struct nk_ksm_field_info *k = &fields[f];
	bool b;

	if (k->type == NK_KSM_TYPE_ADVISOR) {
		if (strcmp(text, "none") && strcmp(text, "scan-time"))
			return nk_error_set(err, EINVAL,
					    "invalid advisor_mode '%s': expected none or scan-time",
					    text);
		*ret = strcmp(text, "none") ? NK_KSM_ADVISOR_SCAN_TIME : NK_KSM_ADVISOR_NONE;
		return 0;
	}
	if (k->type == NK_KSM_TYPE_BOOL) {
		if (nk_parse_bool(text, &b) < 0)
			return nk_error_set(err, EINVAL,
					    "invalid %s '%s': expected 0/1, yes/no or on/off",
					    k->name, text);
		*ret = b;
		return 0;
	}
	uint64_t v;
	if (nk_parse_u64(text, &v, NULL) < 0 || v < k->min || v > k->max) {
		nk_error_set(err, EINVAL,
			     "invalid %s '%s': expected a number from %" PRIu64 " to %" PRIu64,
			     k->name, text, k->min, k->max);
		if (f == NK_KSM_RUN)
			nk_error_hint(err,
				      "0 stops KSM keeping merged pages, 1 runs it, 2 stops it "
				      "and unmerges everything");
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

_nk_export_ int nk_ksm_parse(const char *assignment, struct nk_ksm *ksm, nk_error **err)
{
	const char *eq = strchr(assignment, '=');
	if (!eq || eq == assignment)
		return nk_error_set(err, EINVAL, "'%s' is not KEY=VALUE", assignment);
	_cleanup_free_ char *key = strndup(assignment, (size_t)(eq - assignment));
	if (!key)
		return nk_error_set(err, ENOMEM, "out of memory");
	int f = nk_ksm_field_lookup(key);
	if (f < 0 || !fields[f].writable) {
		_cleanup_free_ char *names = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&names, &len);
		for (int k = 0; out && k < NK_KSM_KNOB_COUNT; k++)
			fprintf(out, "%s%s", k ? ", " : "", fields[k].name);
		if (out)
			fclose(out);
		nk_error_set(err, EINVAL,
			     f < 0 ? "unknown KSM knob '%s'" : "%s is a counter, not a knob", key);
		return nk_error_hint(err, "writable knobs: %s", names ? names : "?");
	}
	uint64_t v;
	int r = nk_ksm_parse_value((enum nk_ksm_field)f, eq + 1, &v, err);
	if (r < 0)
		return r;
	nk_ksm_set(ksm, (enum nk_ksm_field)f, v);
	return 0;
}

_nk_export_ int nk_ksm_format(const struct nk_ksm *ksm, char **ret_text)
{
	char *text = NULL, buf[24];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	for (int p = 0; p < NK_KSM_FIELD_COUNT; p++)
		if (ksm->mask & BIT(p))
			fprintf(f, "%s=%s\n", fields[p].name,
				nk_ksm_format_value((enum nk_ksm_field)p, ksm->value[p], buf));
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	*ret_text = text;
	return (int)len;
}

/* ---- reading ---------------------------------------------------------- */

_nk_export_ int nk_ksm_read(nk_host *host, uint64_t mask, struct nk_ksm *ret, nk_error **err)
{
	struct nk_ksm k = {0};
	char path[128];
	int r = nk_host_exists(host, KSM_SYSFS "/run");
	if (r < 0)
		return nk_error_set(err, -r, "cannot look at %s: %s", KSM_SYSFS "/run",
				    strerror(-r));
	if (r == 0) {
		nk_error_set(err, ENOTSUP, "this kernel has no KSM (" KSM_SYSFS " is missing)");
		return nk_error_hint(err, "build the kernel with CONFIG_KSM=y");
	}
	for (int f = 0; f < NK_KSM_FIELD_COUNT; f++) {
		_cleanup_free_ char *text = NULL;
		if (!(mask & BIT(f)))
			continue;
		snprintf(path, sizeof(path), KSM_SYSFS "/%s", fields[f].name);
		r = nk_host_read(host, path, &text, NULL);
		if (r == -ENOENT)
			continue; /* not on this kernel */
		if (r < 0)
			return nk_error_set(err, -r, "cannot read %s: %s", path, strerror(-r));
		nk_strip_newline(text);
		if (ksm_parse_file((enum nk_ksm_field)f, text, &k.value[f]) < 0)
			return nk_error_set(err, EINVAL, "%s: unexpected '%s'", path, text);
		k.mask |= BIT(f);
	}
	*ret = k;
	return 0;
}

/* ---- writing ---------------------------------------------------------- */

/* A test of crash recovery asks, with NUMAKSM_TEST_KILL_AT_KSM_WRITE=N,
 * to be killed (SIGKILL) just before the Nth knob write of the process. */
static void fault_injection(void)
{
	static long countdown = -1;
	if (countdown < 0) {
		const char *n = getenv("NUMAKSM_TEST_KILL_AT_KSM_WRITE");
		countdown = n ? strtol(n, NULL, 10) : 0;
		if (countdown < 0)
			countdown = 0;
	}
	if (countdown > 0 && --countdown == 0)
		raise(SIGKILL);
}

static int write_knob(nk_host *host, const char *path, const char *value, nk_error **err,
		      void *userdata)
{
	fault_injection();
	return nk_host_write(host, path, value, err);
}

_nk_export_ int nk_ksm_apply(nk_host *host, const struct nk_ksm *want, unsigned flags,
			     struct nk_ksm *ret_previous, nk_error **err)
{
	/* Checked first, so a captured tree answers "read-only", not "refused". */
	if (!(flags & NK_KSM_APPLY_CHECK_ONLY) && want->mask) {
		int r = nk_host_require_live(host, "write KSM knobs", err);
		if (r < 0)
			return r;
	}
	return ksm_apply_with(host, want, flags, write_knob, NULL, ret_previous, err);
}

/* Refuse an unmerge that the host could not hold: every page it saves
 * comes back as a page of its own (ksm.rst warns of the OOM killer). */
static int check_unmerge_memory(nk_host *host, nk_error **err)
{
	_cleanup_free_ char *meminfo = NULL;
	uint64_t sharing = 0, zero = 0, available_kb = 0;
	nk_host_read_u64(host, KSM_SYSFS "/pages_sharing", &sharing, NULL);
	nk_host_read_u64(host, KSM_SYSFS "/ksm_zero_pages", &zero, NULL);
	if (nk_host_read(host, "/proc/meminfo", &meminfo, NULL) < 0 ||
	    nk_parse_meminfo(meminfo, "MemAvailable", &available_kb) < 0)
		return 0; /* cannot tell: the kernel's own OOM handling decides */
	uint64_t need_kb = (sharing + zero) * ((uint64_t)sysconf(_SC_PAGESIZE) / 1024);
	/* Keep a margin: a tenth more, and 256 MiB for everyone else. */
	if (need_kb + need_kb / 10 + (256 << 10) > available_kb) {
		nk_error_set(err, ENOMEM,
			     "unmerging would need %" PRIu64 " MiB but only %" PRIu64
			     " MiB are available",
			     need_kb >> 10, available_kb >> 10);
		return nk_error_hint(err, "free memory first, or leave the knob as it is");
	}
	return 0;
}

struct planned_write {
	enum nk_ksm_field param;
	uint64_t value, previous;
};

static int validate(nk_host *host, const struct nk_ksm *want, const struct nk_ksm *cur,
		    unsigned flags, bool *ret_unmerge, nk_error **err)
{
	uint64_t shared = 0;
	bool unmerge = false;

	for (int p = NK_KSM_KNOB_COUNT; p < NK_KSM_FIELD_COUNT; p++)
		if (want->mask & BIT(p))
			return nk_error_set(err, EINVAL, "%s is a counter, not a knob",
					    fields[p].name);
	for (int p = 0; p < NK_KSM_KNOB_COUNT; p++)
		if ((want->mask & BIT(p)) && !(cur->mask & BIT(p)))
			return nk_error_set(err, ENOTSUP, "this kernel has no KSM knob %s",
					    fields[p].name);
	uint64_t adv = BIT(NK_KSM_ADVISOR_MODE);
	uint64_t advisor = (want->mask & adv)  ? want->value[NK_KSM_ADVISOR_MODE]
			   : (cur->mask & adv) ? cur->value[NK_KSM_ADVISOR_MODE]
					       : NK_KSM_ADVISOR_NONE;
	if ((want->mask & BIT(NK_KSM_PAGES_TO_SCAN)) && advisor == NK_KSM_ADVISOR_SCAN_TIME) {
		nk_error_set(err, EINVAL,
			     "pages_to_scan cannot be set while advisor_mode is scan-time "
			     "(the kernel refuses it with EINVAL)");
		return nk_error_hint(err, "add advisor_mode=none, or leave pages_to_scan to the "
					  "advisor");
	}
	uint64_t mm = BIT(NK_KSM_ADVISOR_MIN_PAGES_TO_SCAN) | BIT(NK_KSM_ADVISOR_MAX_PAGES_TO_SCAN);
	if ((want->mask & mm) && (cur->mask & mm) == mm) {
		uint64_t lo = (want->mask & BIT(NK_KSM_ADVISOR_MIN_PAGES_TO_SCAN))
				  ? want->value[NK_KSM_ADVISOR_MIN_PAGES_TO_SCAN]
				  : cur->value[NK_KSM_ADVISOR_MIN_PAGES_TO_SCAN];
		uint64_t hi = (want->mask & BIT(NK_KSM_ADVISOR_MAX_PAGES_TO_SCAN))
				  ? want->value[NK_KSM_ADVISOR_MAX_PAGES_TO_SCAN]
				  : cur->value[NK_KSM_ADVISOR_MAX_PAGES_TO_SCAN];
		if (lo > hi)
			return nk_error_set(err, EINVAL,
					    "advisor_min_pages_to_scan (%" PRIu64
					    ") would exceed advisor_max_pages_to_scan (%" PRIu64
					    ")",
					    lo, hi);
	}
	nk_host_read_u64(host, KSM_SYSFS "/pages_shared", &shared, NULL);
	for (int p = 0; p < NK_KSM_KNOB_COUNT; p++) {
		if (!(want->mask & BIT(p)) || !fields[p].needs_unshared ||
		    want->value[p] == cur->value[p] || shared == 0)
			continue;
		if (!(flags & NK_KSM_APPLY_UNMERGE)) {
			nk_error_set(err, EBUSY,
				     "%s cannot change while %" PRIu64
				     " pages are shared (the kernel answers EBUSY)",
				     fields[p].name, shared);
			return nk_error_hint(err, "unmerge first: pass --unmerge to write run=2 "
						  "before it (every merged page is copied back)");
		}
		unmerge = true;
	}
	bool explicit_unmerge = (want->mask & BIT(NK_KSM_RUN)) && want->value[NK_KSM_RUN] == 2 &&
				cur->value[NK_KSM_RUN] != 2;
	if (unmerge || explicit_unmerge) {
		int r = check_unmerge_memory(host, err);
		if (r < 0)
			return r;
	}
	*ret_unmerge = unmerge;
	return 0;
}

/* The writes in the order the kernel needs: an unmerge first, advisor off
 * before pages_to_scan (switching it resets pages_to_scan to 100), advisor
 * on after its limits, run last. */
static size_t plan_writes(const struct nk_ksm *want, const struct nk_ksm *cur, bool unmerge,
			  struct planned_write *plan)
{
	static const enum nk_ksm_field middle[] = {
	    NK_KSM_ADVISOR_MAX_CPU,
	    NK_KSM_ADVISOR_MIN_PAGES_TO_SCAN,
	    NK_KSM_ADVISOR_MAX_PAGES_TO_SCAN,
	    NK_KSM_ADVISOR_TARGET_SCAN_TIME,
	    NK_KSM_MERGE_ACROSS_NODES,
	    NK_KSM_MAX_PAGE_SHARING,
	    NK_KSM_USE_ZERO_PAGES,
	    NK_KSM_SMART_SCAN,
	    NK_KSM_STABLE_NODE_CHAINS_PRUNE_MILLISECS,
	    NK_KSM_SLEEP_MILLISECS,
	    NK_KSM_PAGES_TO_SCAN,
	};
	const uint64_t run = cur->value[NK_KSM_RUN], adv = cur->value[NK_KSM_ADVISOR_MODE];
	const uint64_t final_run = want->mask & BIT(NK_KSM_RUN) ? want->value[NK_KSM_RUN] : run;
	const bool set_adv = want->mask & BIT(NK_KSM_ADVISOR_MODE);
	const uint64_t want_adv = want->value[NK_KSM_ADVISOR_MODE];
	bool advisor_off = false;
	size_t n = 0;

	if ((unmerge || final_run == 2) && run != 2)
		plan[n++] = (struct planned_write){NK_KSM_RUN, 2, run};
	if (set_adv && want_adv == NK_KSM_ADVISOR_NONE && adv != NK_KSM_ADVISOR_NONE) {
		plan[n++] = (struct planned_write){NK_KSM_ADVISOR_MODE, NK_KSM_ADVISOR_NONE, adv};
		advisor_off = true;
	}
	for (size_t i = 0; i < ARRAY_SIZE(middle); i++) {
		enum nk_ksm_field p = middle[i];
		uint64_t now = p == NK_KSM_PAGES_TO_SCAN && advisor_off ? 100 : cur->value[p];
		if ((want->mask & BIT(p)) && want->value[p] != now)
			plan[n++] = (struct planned_write){p, want->value[p], cur->value[p]};
	}
	if (set_adv && want_adv == NK_KSM_ADVISOR_SCAN_TIME && adv != NK_KSM_ADVISOR_SCAN_TIME)
		plan[n++] = (struct planned_write){NK_KSM_ADVISOR_MODE, want_adv, adv};
	uint64_t run_now = n && plan[0].param == NK_KSM_RUN ? 2 : run;
	if (final_run != 2 && final_run != run_now)
		plan[n++] = (struct planned_write){NK_KSM_RUN, final_run, run};
	return n;
}

static int write_one(nk_host *host, ksm_write_fn write, void *userdata, enum nk_ksm_field p,
		     uint64_t value, nk_error **err)
{
	char path[128], buf[24];
	snprintf(path, sizeof(path), KSM_SYSFS "/%s", fields[p].name);
	return write(host, path, nk_ksm_format_value(p, value, buf), err, userdata);
}

static const char *refusal_reason(enum nk_ksm_field p, int code)
{
	if (code == EBUSY && fields[p].needs_unshared)
		return " (pages are still shared: it needs an unmerge first)";
	if (code == EINVAL && p == NK_KSM_PAGES_TO_SCAN)
		return " (the advisor is on)";
	return "";
}

int ksm_apply_with(nk_host *host, const struct nk_ksm *want, unsigned flags, ksm_write_fn write,
		   void *userdata, struct nk_ksm *ret_previous, nk_error **err)
{
	struct nk_ksm cur, previous = {0};
	struct planned_write plan[NK_KSM_KNOB_COUNT + 3];
	bool unmerge = false;
	char buf[24];

	int r = nk_ksm_read(host, NK_KSM_KNOBS, &cur, err);
	if (r < 0)
		return r;
	r = validate(host, want, &cur, flags, &unmerge, err);
	if (r < 0)
		return r;
	size_t n = plan_writes(want, &cur, unmerge, plan);
	if (flags & NK_KSM_APPLY_CHECK_ONLY || n == 0) {
		if (ret_previous)
			*ret_previous = previous;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_error_ nk_error *werr = NULL;
		enum nk_ksm_field p = plan[i].param;
		r = write_one(host, write, userdata, p, plan[i].value, &werr);
		if (r == 0) {
			nk_debug("KSM: %s=%s", fields[p].name,
				 nk_ksm_format_value(p, plan[i].value, buf));
			if (!(previous.mask & BIT(p)))
				previous.value[p] = plan[i].previous;
			previous.mask |= BIT(p);
			continue;
		}
		/* Put back what was written, newest first.  A refused unmerge
		 * (-ENOMEM, or a signal) leaves KSM stopped: run goes back too. */
		unsigned failed = 0;
		bool run_back = p == NK_KSM_RUN && plan[i].value != plan[i].previous;
		if (run_back &&
		    write_one(host, write, userdata, NK_KSM_RUN, plan[i].previous, NULL) < 0)
			failed++;
		for (size_t j = i; j-- > 0;) {
			if (write_one(host, write, userdata, plan[j].param, plan[j].previous,
				      NULL) < 0)
				failed++;
			/* Switching the advisor off reset pages_to_scan. */
			if (plan[j].param == NK_KSM_ADVISOR_MODE &&
			    plan[j].previous == NK_KSM_ADVISOR_NONE &&
			    write_one(host, write, userdata, NK_KSM_PAGES_TO_SCAN,
				      cur.value[NK_KSM_PAGES_TO_SCAN], NULL) < 0)
				failed++;
		}
		int code = -r;
		nk_error_set(err, code, "the kernel refused %s=%s: %s%s", fields[p].name,
			     nk_ksm_format_value(p, plan[i].value, buf), strerror(code),
			     refusal_reason(p, code));
		if (i == 0 && run_back && failed == 0)
			nk_error_hint(err, "run was put back to %s",
				      nk_ksm_format_value(NK_KSM_RUN, plan[i].previous, buf));
		else if (i > 0 && failed == 0)
			nk_error_hint(err, "the %zu knob(s) written before it were put back%s", i,
				      plan[0].param == NK_KSM_RUN && plan[0].value == 2
					  ? " (the unmerge itself cannot be undone: KSM merges "
					    "again as it scans)"
					  : "");
		else if (failed)
			nk_error_hint(err,
				      "putting back the knobs written before it failed %u "
				      "time(s): check them with 'numaksm ksm show'",
				      failed);
		return r;
	}
	if (ret_previous)
		*ret_previous = previous;
	return (int)n;
}

/* ---- ksmd ----------------------------------------------------------- */

_nk_export_ int nk_ksmd_find(nk_host *host, pid_t *ret_pid, nk_error **err)
{
	if (nk_proc_find(host, "ksmd", true, ret_pid) < 0)
		return nk_error_set(err, ESRCH, "no ksmd kernel thread found");
	return 0;
}

/* ---- /proc/PID/ksm_stat ------------------------------------------------ */

static int keyed_u64(const char *text, const char *key, uint64_t *ret, bool *ret_has)
{
	_cleanup_free_ char *v = NULL;
	int r = nk_parse_keyed_line(text, key, &v);
	if (r == -ENOENT) {
		if (ret_has)
			*ret_has = false;
		return ret_has ? 0 : -EINVAL;
	}
	if (r < 0)
		return r;
	if (nk_parse_u64(v, ret, NULL) < 0)
		return -EINVAL;
	if (ret_has)
		*ret_has = true;
	return 0;
}

static int keyed_bool(const char *text, const char *key, bool *ret, bool *ret_has)
{
	_cleanup_free_ char *v = NULL;
	int r = nk_parse_keyed_line(text, key, &v);
	if (r == -ENOENT) {
		*ret_has = false;
		return 0;
	}
	if (r < 0)
		return r;
	if (strcmp(v, "yes") && strcmp(v, "no"))
		return -EINVAL;
	*ret = strcmp(v, "yes") == 0;
	*ret_has = true;
	return 0;
}

_nk_export_ int nk_ksm_parse_proc_stat(const char *text, struct nk_ksm_proc_stat *ret)
{
	struct nk_ksm_proc_stat p = {0};
	bool has_any = false, has_mergeable = false;
	int r;

	if ((r = keyed_u64(text, "ksm_rmap_items", &p.rmap_items, NULL)) < 0 ||
	    (r = keyed_u64(text, "ksm_merging_pages", &p.merging_pages, &p.has_merging_pages)) <
		0 ||
	    (r = keyed_u64(text, "ksm_zero_pages", &p.zero_pages, &p.has_zero_pages)) < 0)
		return r;
	_cleanup_free_ char *profit = NULL;
	r = nk_parse_keyed_line(text, "ksm_process_profit", &profit);
	if (r == 0) {
		long long v;
		if (nk_parse_int(profit, INT64_MIN, INT64_MAX, &v, NULL) < 0)
			return -EINVAL;
		p.process_profit = v;
		p.has_process_profit = true;
	} else if (r != -ENOENT) {
		return r;
	}
	if ((r = keyed_bool(text, "ksm_merge_any", &p.merge_any, &has_any)) < 0 ||
	    (r = keyed_bool(text, "ksm_mergeable", &p.mergeable, &has_mergeable)) < 0)
		return r;
	p.has_merge_flags = has_any && has_mergeable;
	*ret = p;
	return 0;
}

_nk_export_ int nk_ksm_proc_read(nk_host *host, pid_t pid, struct nk_ksm_proc_stat *ret,
				 nk_error **err)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/ksm_stat", (int)pid);
	int r = nk_host_read(host, path, &text, NULL);
	if (r == -ENOENT) {
		snprintf(path, sizeof(path), "/proc/%d", (int)pid);
		if (nk_host_exists(host, path) <= 0)
			return nk_error_set(err, ESRCH, "process %d is gone", (int)pid);
		nk_error_set(err, ENOTSUP, "/proc/%d/ksm_stat is missing", (int)pid);
		return nk_error_hint(err, "per-process KSM figures need Linux 6.1 or later");
	}
	/* An exiting process (its memory gone) reads as an empty file. */
	if (r == -ESRCH || r == 0)
		return nk_error_set(err, ESRCH, "process %d is gone", (int)pid);
	if (r < 0)
		return nk_error_set(err, -r, "cannot read %s: %s", path, strerror(-r));
	struct nk_ksm_proc_stat p;
	r = nk_ksm_parse_proc_stat(text, &p);
	if (r < 0)
		return nk_error_set(err, -r, "%s: unexpected content", path);
	if (!p.has_merging_pages) {
		/* Linux 6.1-6.3 keep the count in a file of its own. */
		_cleanup_free_ char *merging = NULL;
		snprintf(path, sizeof(path), "/proc/%d/ksm_merging_pages", (int)pid);
		r = nk_host_read(host, path, &merging, NULL);
		if (r >= 0 && nk_parse_u64(merging, &p.merging_pages, NULL) == 0)
			p.has_merging_pages = true;
		else if (r == -ENOENT || r == -ESRCH)
			return nk_error_set(err, ESRCH, "process %d is gone", (int)pid);
	}
	*ret = p;
	return 0;
}

_nk_export_ uint64_t nk_ksm_proc_saved_bytes(const struct nk_ksm_proc_stat *p,
					     const struct nk_ksm *host, uint64_t page_size)
{
	/* In integers wide enough for any counts: at most merging_pages, and no
	 * double rounded past what a uint64_t holds. */
	uint64_t sharing = nk_ksm_get(host, NK_KSM_PAGES_SHARING), merged = 0;
	unsigned __int128 denom =
	    (unsigned __int128)nk_ksm_get(host, NK_KSM_PAGES_SHARED) + sharing;
	if (denom)
		merged = (uint64_t)((unsigned __int128)p->merging_pages * sharing / denom);
	return (merged + p->zero_pages) * page_size;
}
