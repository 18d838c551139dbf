/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * KSM knobs and counters, host-wide and per process.  Reads go through
 * the host root, so a captured tree answers like the live system.
 */
#include "internal.h"
#include "numaksm/ksm.h"

#include <inttypes.h>

#define KSM_DIR "/sys/kernel/mm/ksm"

_nk_export_ void nk_ksm_counters_done(struct nk_ksm_counters *c)
{
	free(c->advisor_mode);
	c->advisor_mode = NULL;
}

static int read_field(nk_host *host, const char *name, uint64_t *ret, bool *ret_has, nk_error **err)
{
	char path[128];
	_cleanup_free_ char *text = NULL;
	snprintf(path, sizeof(path), KSM_DIR "/%s", name);
	int r = nk_host_read(host, path, &text, NULL);
	if (r == -ENOENT) {
		*ret = 0;
		if (ret_has)
			*ret_has = false;
		return 0;
	}
	if (r < 0)
		return nk_host_read(host, path, &text, err);
	r = nk_parse_u64(text, ret, err);
	if (r < 0)
		return nk_error_prefix(err, "%s", path);
	if (ret_has)
		*ret_has = true;
	return 0;
}

_nk_export_ int nk_ksm_read(nk_host *host, struct nk_ksm_counters *ret, nk_error **err)
{
	struct nk_ksm_counters c = {0};
	const struct {
		const char *name;
		uint64_t *value;
		bool *has;
	} fields[] = {
	    {"run", &c.run, NULL},
	    {"pages_to_scan", &c.pages_to_scan, NULL},
	    {"sleep_millisecs", &c.sleep_millisecs, NULL},
	    {"merge_across_nodes", &c.merge_across_nodes, NULL},
	    {"use_zero_pages", &c.use_zero_pages, &c.has_use_zero_pages},
	    {"max_page_sharing", &c.max_page_sharing, &c.has_max_page_sharing},
	    {"smart_scan", &c.smart_scan, &c.has_smart_scan},
	    {"pages_shared", &c.pages_shared, NULL},
	    {"pages_sharing", &c.pages_sharing, NULL},
	    {"pages_unshared", &c.pages_unshared, NULL},
	    {"pages_volatile", &c.pages_volatile, NULL},
	    {"pages_scanned", &c.pages_scanned, &c.has_pages_scanned},
	    {"pages_skipped", &c.pages_skipped, NULL},
	    {"full_scans", &c.full_scans, NULL},
	    {"ksm_zero_pages", &c.ksm_zero_pages, &c.has_ksm_zero_pages},
	    {"stable_node_chains", &c.stable_node_chains, NULL},
	    {"stable_node_dups", &c.stable_node_dups, NULL},
	};
	int r = nk_host_exists(host, KSM_DIR "/run");
	if (r <= 0) {
		nk_error_set(err, ENOTSUP, "this kernel has no KSM (" KSM_DIR " is missing)");
		return nk_error_hint(err, "build the kernel with CONFIG_KSM=y");
	}
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		r = read_field(host, fields[i].name, fields[i].value, fields[i].has, err);
		if (r < 0)
			return r;
	}
	/* general_profit can be negative: parse it as a signed number. */
	_cleanup_free_ char *text = NULL;
	r = nk_host_read(host, KSM_DIR "/general_profit", &text, NULL);
	if (r >= 0) {
		long long v;
		r = nk_parse_int(text, INT64_MIN, INT64_MAX, &v, err);
		if (r < 0)
			return nk_error_prefix(err, KSM_DIR "/general_profit");
		c.general_profit = v;
		c.has_general_profit = true;
	}
	free(TAKE_PTR(text));
	r = nk_host_read(host, KSM_DIR "/advisor_mode", &text, NULL);
	if (r >= 0 && nk_parse_selector(text, &c.advisor_mode) < 0)
		return nk_error_set(err, EINVAL, KSM_DIR "/advisor_mode: unexpected '%s'",
				    nk_strip_newline(text));
	*ret = c;
	return 0;
}

_nk_export_ uint64_t nk_ksm_saved_pages(const struct nk_ksm_counters *c)
{
	return c->pages_sharing + c->ksm_zero_pages;
}

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
	if (r == -ESRCH)
		return nk_error_set(err, ESRCH, "process %d is gone", (int)pid);
	if (r < 0)
		return nk_host_read(host, path, &text, err);
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
					     const struct nk_ksm_counters *c, uint64_t page_size)
{
	uint64_t merged = 0, denom = c->pages_shared + c->pages_sharing;
	if (denom)
		merged =
		    (uint64_t)((double)p->merging_pages * (double)c->pages_sharing / (double)denom);
	return (merged + p->zero_pages) * page_size;
}
