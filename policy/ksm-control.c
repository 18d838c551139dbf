/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writing KSM's knobs: validate everything against the kernel's rules
 * first, write in the order the kernel needs, roll back on a refusal.
 * And ksmd's CPU time, read from procfs.
 */
#include "tuner-internal.h"
#include "numaksm/proc.h"

#include <inttypes.h>

enum knob_kind { KNOB_UINT, KNOB_BOOL, KNOB_ADVISOR };

static const struct knob {
	const char *name;
	enum knob_kind kind;
	uint64_t min, max;
	bool needs_unshared; /* EBUSY while pages are shared */
} knobs[NK_KSM_PARAM_COUNT] = {
    [NK_KSM_RUN] = {"run", KNOB_UINT, 0, 2, false},
    [NK_KSM_PAGES_TO_SCAN] = {"pages_to_scan", KNOB_UINT, 0, UINT32_MAX, false},
    [NK_KSM_SLEEP_MILLISECS] = {"sleep_millisecs", KNOB_UINT, 0, UINT32_MAX, false},
    [NK_KSM_MERGE_ACROSS_NODES] = {"merge_across_nodes", KNOB_UINT, 0, 1, true},
    [NK_KSM_MAX_PAGE_SHARING] = {"max_page_sharing", KNOB_UINT, 2, INT32_MAX, true},
    [NK_KSM_USE_ZERO_PAGES] = {"use_zero_pages", KNOB_BOOL, 0, 1, false},
    [NK_KSM_SMART_SCAN] = {"smart_scan", KNOB_BOOL, 0, 1, false},
    [NK_KSM_STABLE_NODE_CHAINS_PRUNE_MILLISECS] = {"stable_node_chains_prune_millisecs", KNOB_UINT,
						   0, UINT32_MAX, false},
    [NK_KSM_ADVISOR_MODE] = {"advisor_mode", KNOB_ADVISOR, 0, 1, false},
    /* The kernel takes any number; as a percent of one CPU only 1-100 make sense. */
    [NK_KSM_ADVISOR_MAX_CPU] = {"advisor_max_cpu", KNOB_UINT, 1, 100, false},
    [NK_KSM_ADVISOR_MIN_PAGES_TO_SCAN] = {"advisor_min_pages_to_scan", KNOB_UINT, 0, UINT64_MAX,
					  false},
    [NK_KSM_ADVISOR_MAX_PAGES_TO_SCAN] = {"advisor_max_pages_to_scan", KNOB_UINT, 0, UINT64_MAX,
					  false},
    [NK_KSM_ADVISOR_TARGET_SCAN_TIME] = {"advisor_target_scan_time", KNOB_UINT, 1, UINT64_MAX,
					 false},
};

#define BIT(p) (1u << (p))

_nk_export_ const char *nk_ksm_param_name(enum nk_ksm_param param)
{
	return (unsigned)param < NK_KSM_PARAM_COUNT ? knobs[param].name : NULL;
}

_nk_export_ int nk_ksm_param_lookup(const char *name)
{
	for (int p = 0; p < NK_KSM_PARAM_COUNT; p++)
		if (strcmp(knobs[p].name, name) == 0)
			return p;
	return -ENOENT;
}

const char *ksm_value_text(enum nk_ksm_param param, uint64_t value, char *buf)
{
	if (knobs[param].kind == KNOB_ADVISOR)
		return value == NK_KSM_ADVISOR_SCAN_TIME ? "scan-time" : "none";
	snprintf(buf, 24, "%" PRIu64, value);
	return buf;
}

static int parse_value(enum nk_ksm_param p, const char *text, uint64_t *ret, nk_error **err)
{
	const struct knob *k = &knobs[p];
	bool b;

	if (k->kind == KNOB_ADVISOR) {
		if (strcmp(text, "none") && strcmp(text, "scan-time"))
			return nk_error_set(err, EINVAL,
					    "invalid advisor_mode '%s': expected none or scan-time",
					    text);
		*ret = strcmp(text, "none") ? NK_KSM_ADVISOR_SCAN_TIME : NK_KSM_ADVISOR_NONE;
		return 0;
	}
	if (k->kind == KNOB_BOOL) {
		if (conf_parse_bool(text, &b) < 0)
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
		if (p == NK_KSM_RUN)
			nk_error_hint(err,
				      "0 stops KSM keeping merged pages, 1 runs it, 2 stops it "
				      "and unmerges everything");
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

_nk_export_ int nk_ksm_settings_parse(const char *assignment, struct nk_ksm_settings *settings,
				      nk_error **err)
{
	const char *eq = strchr(assignment, '=');
	if (!eq || eq == assignment)
		return nk_error_set(err, EINVAL, "'%s' is not KEY=VALUE", assignment);
	_cleanup_free_ char *key = strndup(assignment, (size_t)(eq - assignment));
	if (!key)
		return nk_error_set(err, ENOMEM, "out of memory");
	int p = nk_ksm_param_lookup(key);
	if (p < 0) {
		nk_error_set(err, EINVAL, "unknown KSM knob '%s'", key);
		return nk_error_hint(err,
				     "writable knobs: run, pages_to_scan, sleep_millisecs, "
				     "merge_across_nodes, max_page_sharing, use_zero_pages, "
				     "smart_scan, stable_node_chains_prune_millisecs, "
				     "advisor_mode, advisor_max_cpu, advisor_min_pages_to_scan, "
				     "advisor_max_pages_to_scan, advisor_target_scan_time");
	}
	uint64_t v;
	int r = parse_value((enum nk_ksm_param)p, eq + 1, &v, err);
	if (r < 0)
		return r;
	settings->value[p] = v;
	settings->mask |= BIT(p);
	return 0;
}

_nk_export_ int nk_ksm_settings_format(const struct nk_ksm_settings *settings, char **ret_text)
{
	char *text = NULL, buf[24];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	for (int p = 0; p < NK_KSM_PARAM_COUNT; p++)
		if (settings->mask & BIT(p))
			fprintf(f, "%s=%s\n", knobs[p].name,
				ksm_value_text((enum nk_ksm_param)p, settings->value[p], buf));
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	*ret_text = text;
	return (int)len;
}

_nk_export_ int nk_ksm_settings_read(nk_host *host, uint32_t mask, struct nk_ksm_settings *ret,
				     nk_error **err)
{
	struct nk_ksm_settings s = {0};
	char path[128];
	int r = nk_host_exists(host, KSM_SYSFS "/run");
	if (r <= 0) {
		nk_error_set(err, ENOTSUP, "this kernel has no KSM (" KSM_SYSFS " is missing)");
		return nk_error_hint(err, "build the kernel with CONFIG_KSM=y");
	}
	for (int p = 0; p < NK_KSM_PARAM_COUNT; p++) {
		_cleanup_free_ char *text = NULL, *choice = NULL;
		if (!(mask & BIT(p)))
			continue;
		snprintf(path, sizeof(path), KSM_SYSFS "/%s", knobs[p].name);
		r = nk_host_read(host, path, &text, NULL);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return nk_host_read(host, path, &text, err);
		nk_strip_newline(text);
		if (knobs[p].kind == KNOB_ADVISOR) {
			/* "[none] scan-time": the bracketed word is the mode. */
			if (nk_parse_selector(text, &choice) < 0 ||
			    parse_value((enum nk_ksm_param)p, choice, &s.value[p], NULL) < 0)
				return nk_error_set(err, EINVAL, "%s: unexpected '%s'", path, text);
		} else if (nk_parse_u64(text, &s.value[p], NULL) < 0) {
			return nk_error_set(err, EINVAL, "%s: unexpected '%s'", path, text);
		}
		s.mask |= BIT(p);
	}
	*ret = s;
	return 0;
}

static int write_knob(nk_host *host, const char *path, const char *value, nk_error **err,
		      void *userdata)
{
	return nk_host_write(host, path, value, err);
}

_nk_export_ int nk_ksm_apply(nk_host *host, const struct nk_ksm_settings *want, unsigned flags,
			     struct nk_ksm_settings *ret_previous, nk_error **err)
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
	enum nk_ksm_param param;
	uint64_t value, previous;
};

static int validate(nk_host *host, const struct nk_ksm_settings *want,
		    const struct nk_ksm_settings *cur, unsigned flags, bool *ret_unmerge,
		    nk_error **err)
{
	uint64_t shared = 0;
	bool unmerge = false;

	for (int p = 0; p < NK_KSM_PARAM_COUNT; p++)
		if ((want->mask & BIT(p)) && !(cur->mask & BIT(p)))
			return nk_error_set(err, ENOTSUP, "this kernel has no KSM knob %s",
					    knobs[p].name);
	uint32_t adv = BIT(NK_KSM_ADVISOR_MODE);
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
	uint32_t mm = BIT(NK_KSM_ADVISOR_MIN_PAGES_TO_SCAN) | BIT(NK_KSM_ADVISOR_MAX_PAGES_TO_SCAN);
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
	for (int p = 0; p < NK_KSM_PARAM_COUNT; p++) {
		if (!(want->mask & BIT(p)) || !knobs[p].needs_unshared ||
		    want->value[p] == cur->value[p] || shared == 0)
			continue;
		if (!(flags & NK_KSM_APPLY_UNMERGE)) {
			nk_error_set(err, EBUSY,
				     "%s cannot change while %" PRIu64
				     " pages are shared (the kernel answers EBUSY)",
				     knobs[p].name, shared);
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
static size_t plan_writes(const struct nk_ksm_settings *want, const struct nk_ksm_settings *cur,
			  bool unmerge, struct planned_write *plan)
{
	static const enum nk_ksm_param middle[] = {
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
		enum nk_ksm_param p = middle[i];
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

static int write_one(nk_host *host, ksm_write_fn write, void *userdata, enum nk_ksm_param p,
		     uint64_t value, nk_error **err)
{
	char path[128], buf[24];
	snprintf(path, sizeof(path), KSM_SYSFS "/%s", knobs[p].name);
	return write(host, path, ksm_value_text(p, value, buf), err, userdata);
}

static const char *refusal_reason(enum nk_ksm_param p, int code)
{
	if (code == EBUSY && knobs[p].needs_unshared)
		return " (pages are still shared: it needs an unmerge first)";
	if (code == EINVAL && p == NK_KSM_PAGES_TO_SCAN)
		return " (the advisor is on)";
	return "";
}

int ksm_apply_with(nk_host *host, const struct nk_ksm_settings *want, unsigned flags,
		   ksm_write_fn write, void *userdata, struct nk_ksm_settings *ret_previous,
		   nk_error **err)
{
	struct nk_ksm_settings cur, previous = {0};
	struct planned_write plan[NK_KSM_PARAM_COUNT + 3];
	bool unmerge = false;
	char buf[24];

	int r = nk_ksm_settings_read(host, ~0u, &cur, err);
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
		enum nk_ksm_param p = plan[i].param;
		r = write_one(host, write, userdata, p, plan[i].value, &werr);
		if (r == 0) {
			nk_debug("KSM: %s=%s", knobs[p].name,
				 ksm_value_text(p, plan[i].value, buf));
			if (!(previous.mask & BIT(p)))
				previous.value[p] = plan[i].previous;
			previous.mask |= BIT(p);
			continue;
		}
		/* Put back what was written, newest first. */
		unsigned failed = 0;
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
		nk_error_set(err, code, "the kernel refused %s=%s: %s%s", knobs[p].name,
			     ksm_value_text(p, plan[i].value, buf), strerror(code),
			     refusal_reason(p, code));
		if (i > 0 && failed == 0)
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

/* ---- ksmd ---------------------------------------------------------- */

_nk_export_ int nk_ksmd_find(nk_host *host, pid_t *ret_pid, nk_error **err)
{
	if (nk_proc_find(host, "ksmd", true, ret_pid) < 0)
		return nk_error_set(err, ESRCH, "no ksmd kernel thread found");
	return 0;
}
