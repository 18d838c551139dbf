/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The policy file: a strict INI dialect with git-config style quoted
 * subsections.
 *
 *   # comment            ; comment
 *   [ksm]
 *   mode = auto          # trailing comments after whitespace
 *   [vm "web-*"]
 *   nodes = 0-1
 *
 * Hand-written rather than libinih: every error, including the semantic
 * ones found after a section ends, must name FILE:LINE (inih's handler is
 * given no line number unless built with INI_HANDLER_LINENO, which Debian's
 * build is not), [vm "GLOB"] needs quoted subsection names, and inih
 * silently accepts repeated keys and sections, which here are errors.
 */
#include "tuner-internal.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>

struct rule {
	struct nk_vm_rule pub;
	char *glob;
	nk_bitmap *nodes;
	char *cpus;
	char *tenant;
	unsigned line_max, line_high, line_tenant;
};

struct nk_conf {
	char *file;
	struct nk_tuner_config tuner;
	struct rule *rules;
	size_t n_rules;
};

_nk_export_ nk_conf *nk_conf_free(nk_conf *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n_rules; i++) {
		free(p->rules[i].glob);
		nk_bitmap_free(p->rules[i].nodes);
		free(p->rules[i].cpus);
		free(p->rules[i].tenant);
	}
	free(p->rules);
	free(p->file);
	free(p);
	return NULL;
}

static void conf_freep(nk_conf **p)
{
	nk_conf_free(*p);
}

/* ---- value parsers ------------------------------------------------- */

/* A non-negative decimal number with an optional fraction, then a suffix. */
static int parse_number(const char *text, double *ret, const char **ret_suffix)
{
	char *end;
	if (!(*text >= '0' && *text <= '9'))
		return -EINVAL;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || !isfinite(v))
		return -EINVAL;
	*ret = v;
	*ret_suffix = end;
	return 0;
}

int conf_parse_duration(const char *text, double *ret_s)
{
	static const struct {
		const char *unit;
		double seconds;
	} units[] = {{"ms", 0.001}, {"s", 1}, {"min", 60}, {"h", 3600}};
	const char *suffix;
	double v;
	if (parse_number(text, &v, &suffix) < 0)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (strcmp(suffix, units[i].unit) == 0) {
			*ret_s = v * units[i].seconds;
			return 0;
		}
	return -EINVAL;
}

int conf_parse_percent(const char *text, double *ret_fraction)
{
	const char *suffix;
	double v;
	if (parse_number(text, &v, &suffix) < 0 || strcmp(suffix, "%") != 0)
		return -EINVAL;
	*ret_fraction = v / 100;
	return 0;
}

/* ---- the parser ---------------------------------------------------- */

enum section { SECTION_NONE, SECTION_KSM, SECTION_VM };

struct parser {
	nk_conf *policy;
	const char *file;
	unsigned line;
	enum section section;
	unsigned ksm_line; /* where [ksm] was opened; 0 if never */
	char seen[64][40]; /* keys of the current section */
	unsigned seen_line[64], n_seen;
	unsigned line_interval_min, line_interval_max;
	nk_error **err;
};

static int fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *ps, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return nk_error_set(ps->err, ENOMEM, "out of memory");
	nk_error_set(ps->err, EINVAL, "%s:%u: %s", ps->file, ps->line, msg);
	free(msg);
	return -EINVAL;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* A value: "quoted" (with \" and \\), or bare up to a comment that
 * follows whitespace. */
static int parse_value_text(struct parser *ps, char *v, char **ret)
{
	v += strspn(v, " \t");
	if (*v == '"') {
		char *out = v, *in = v + 1;
		for (; *in && *in != '"'; in++) {
			if (*in == '\\' && (in[1] == '"' || in[1] == '\\'))
				in++;
			*out++ = *in;
		}
		if (*in != '"')
			return fail(ps, "unterminated quoted value");
		char *rest = trim(in + 1);
		if (*rest && *rest != '#' && *rest != ';')
			return fail(ps, "unexpected '%s' after a quoted value", rest);
		*out = '\0';
		*ret = v;
		return 0;
	}
	for (char *c = v; *c; c++)
		if ((*c == '#' || *c == ';') && c > v && (c[-1] == ' ' || c[-1] == '\t')) {
			*c = '\0';
			break;
		}
	*ret = trim(v);
	return 0;
}

static int open_section(struct parser *ps, char *text)
{
	char *close = strrchr(text, ']');
	if (!close)
		return fail(ps, "section header without ']'");
	char *after = trim(close + 1);
	if (*after && *after != '#' && *after != ';')
		return fail(ps, "unexpected '%s' after the section header", after);
	*close = '\0';
	char *name = trim(text + 1), *sub = NULL;
	char *space = strpbrk(name, " \t");
	if (space) {
		*space = '\0';
		char *q = trim(space + 1);
		size_t n = strlen(q);
		if (n < 2 || q[0] != '"' || q[n - 1] != '"')
			return fail(ps, "the name in [%s ...] must be in double quotes", name);
		q[n - 1] = '\0';
		sub = q + 1;
		if (strchr(sub, '"'))
			return fail(ps, "a quote inside [%s \"...\"]", name);
	}
	ps->n_seen = 0;
	if (strcmp(name, "ksm") == 0 && !sub) {
		if (ps->ksm_line)
			return fail(ps, "[ksm] appears again (first at line %u)", ps->ksm_line);
		ps->ksm_line = ps->line;
		ps->section = SECTION_KSM;
		return 0;
	}
	if (strcmp(name, "vm") == 0 && sub) {
		nk_conf *p = ps->policy;
		if (!*sub)
			return fail(ps, "[vm \"\"]: the name pattern is empty");
		for (size_t i = 0; i < p->n_rules; i++)
			if (strcmp(p->rules[i].glob, sub) == 0)
				return fail(ps, "[vm \"%s\"] appears again (first at line %u)", sub,
					    p->rules[i].pub.line);
		struct rule *nr = realloc(p->rules, (p->n_rules + 1) * sizeof(*nr));
		if (!nr)
			return nk_error_set(ps->err, ENOMEM, "out of memory");
		p->rules = nr;
		struct rule *r = &p->rules[p->n_rules];
		*r = (struct rule){.pub = {.line = ps->line, .mergeable = -1}};
		if (!(r->glob = strdup(sub)))
			return nk_error_set(ps->err, ENOMEM, "out of memory");
		p->n_rules++;
		ps->section = SECTION_VM;
		return 0;
	}
	if (strcmp(name, "vm") == 0)
		return fail(ps, "[vm] needs a name pattern: [vm \"GLOB\"]");
	if (strcmp(name, "ksm") == 0)
		return fail(ps, "[ksm] takes no name");
	nk_error_set(ps->err, EINVAL, "%s:%u: unknown section [%s]", ps->file, ps->line, name);
	return nk_error_hint(ps->err, "sections are [ksm] and [vm \"GLOB\"]");
}

static int bad_value(struct parser *ps, const char *key, const char *value, const char *expected)
{
	return fail(ps, "invalid %s '%s': expected %s", key, value, expected);
}

static int ksm_key(struct parser *ps, const char *key, const char *value)
{
	struct nk_tuner_config *c = &ps->policy->tuner;
	double d;
	bool b;

	if (strcmp(key, "mode") == 0) {
		for (int m = NK_TUNER_MODE_OFF; m <= NK_TUNER_MODE_PRESSURE; m++)
			if (strcmp(value, nk_tuner_mode_name((enum nk_tuner_mode)m)) == 0) {
				c->mode = (enum nk_tuner_mode)m;
				return 0;
			}
		return bad_value(ps, key, value, "off, on, auto or pressure");
	}
	if (strcmp(key, "cpu_budget") == 0) {
		if (conf_parse_percent(value, &d) < 0 || !(d > 0 && d <= 1))
			return bad_value(ps, key, value, "a share of one CPU, 0% < x <= 100%");
		c->cpu_budget = d;
		return 0;
	}
	if (strcmp(key, "interval_min") == 0 || strcmp(key, "interval_max") == 0) {
		if (conf_parse_duration(value, &d) < 0 || d < 0.1 || d > 3600)
			return bad_value(ps, key, value,
					 "a duration from 100ms to 1h (500ms, 2s, 1min)");
		if (strcmp(key, "interval_min") == 0) {
			c->interval_min_s = d;
			ps->line_interval_min = ps->line;
		} else {
			c->interval_max_s = d;
			ps->line_interval_max = ps->line;
		}
		return 0;
	}
	if (strcmp(key, "idle_scan") == 0) {
		if (conf_parse_duration(value, &d) < 0 || d < 10 || d > 7 * 86400)
			return bad_value(ps, key, value, "a duration from 10s to 7 days (30min)");
		c->idle_scan_s = d;
		return 0;
	}
	if (strcmp(key, "converge_sleep") == 0) {
		/* Whole in decimal is not always whole in binary: 4007ms is
		 * 4006.9999999999995 ms once parsed. */
		if (conf_parse_duration(value, &d) < 0 || d > 10 ||
		    fabs(d * 1000 - round(d * 1000)) > 1e-9)
			return bad_value(ps, key, value, "whole milliseconds up to 10s (20ms)");
		c->converge_sleep_ms = (unsigned)llround(d * 1000);
		return 0;
	}
	if (strcmp(key, "settle") == 0) {
		if (conf_parse_percent(value, &d) < 0 || d > 0.5)
			return bad_value(ps, key, value, "a percentage from 0% to 50%");
		c->settle = d;
		return 0;
	}
	if (strcmp(key, "pressure_available") == 0) {
		if (conf_parse_percent(value, &d) < 0 || !(d > 0 && d < 1))
			return bad_value(ps, key, value, "a share of MemTotal, 0% < x < 100%");
		c->pressure_available = d;
		return 0;
	}
	if (strcmp(key, "pressure_psi") == 0) {
		if (conf_parse_percent(value, &d) < 0 || d > 1)
			return bad_value(ps, key, value,
					 "a percentage from 0% (ignore PSI) to 100%");
		c->pressure_psi = d * 100;
		return 0;
	}
	if (strcmp(key, "grow") == 0) {
		uint64_t bytes;
		if (nk_parse_size(value, &bytes, NULL) < 0 || bytes == 0)
			return bad_value(ps, key, value, "a size (64M, 1G)");
		c->grow_bytes = bytes;
		return 0;
	}
	if (strcmp(key, "unmerge") == 0) {
		if (nk_parse_bool(value, &b) < 0)
			return bad_value(ps, key, value, "yes or no");
		c->unmerge = b;
		return 0;
	}
	static const enum nk_ksm_field explicit_knobs[] = {
	    NK_KSM_MERGE_ACROSS_NODES, NK_KSM_MAX_PAGE_SHARING, NK_KSM_USE_ZERO_PAGES,
	    NK_KSM_SMART_SCAN, NK_KSM_STABLE_NODE_CHAINS_PRUNE_MILLISECS};
	for (size_t i = 0; i < ARRAY_SIZE(explicit_knobs); i++) {
		if (strcmp(key, nk_ksm_field(explicit_knobs[i])->name) != 0)
			continue;
		_cleanup_free_ char *assignment = NULL;
		_cleanup_error_ nk_error *e = NULL;
		if (asprintf(&assignment, "%s=%s", key, value) < 0)
			return nk_error_set(ps->err, ENOMEM, "out of memory");
		if (nk_ksm_parse(assignment, &c->knobs, &e) < 0)
			return fail(ps, "%s", nk_error_message(e));
		return 0;
	}
	nk_error_set(ps->err, EINVAL, "%s:%u: unknown key '%s' in [ksm]", ps->file, ps->line, key);
	return nk_error_hint(ps->err,
			     "[ksm] keys: mode, cpu_budget, interval_min, interval_max, idle_scan, "
			     "converge_sleep, settle, pressure_available, pressure_psi, grow, "
			     "merge_across_nodes, max_page_sharing, use_zero_pages, smart_scan, "
			     "stable_node_chains_prune_millisecs, unmerge");
}

static int vm_key(struct parser *ps, const char *key, const char *value)
{
	struct rule *r = &ps->policy->rules[ps->policy->n_rules - 1];
	uint64_t bytes;
	bool b;

	if (strcmp(key, "nodes") == 0) {
		_cleanup_error_ nk_error *e = NULL;
		if (nk_parse_list(value, "node list", &r->nodes, &e) < 0)
			return fail(ps, "%s", nk_error_message(e));
		if (nk_bitmap_weight(r->nodes) == 0)
			return bad_value(ps, key, value, "at least one node (0-1,3)");
		return 0;
	}
	if (strcmp(key, "cpus") == 0) {
		if (strcmp(value, "dedicated") && strcmp(value, "shared"))
			return bad_value(ps, key, value, "dedicated or shared");
		return (r->cpus = strdup(value)) ? 0
						 : nk_error_set(ps->err, ENOMEM, "out of memory");
	}
	if (strcmp(key, "memory_max") == 0 || strcmp(key, "memory_high") == 0) {
		if (nk_parse_size(value, &bytes, NULL) < 0 || bytes < (1u << 20))
			return bad_value(ps, key, value, "a size of at least 1M (8G, 512M)");
		if (strcmp(key, "memory_max") == 0) {
			r->pub.memory_max_bytes = bytes;
			r->line_max = ps->line;
		} else {
			r->pub.memory_high_bytes = bytes;
			r->line_high = ps->line;
		}
		return 0;
	}
	if (strcmp(key, "mergeable") == 0) {
		if (nk_parse_bool(value, &b) < 0)
			return bad_value(ps, key, value, "yes or no");
		r->pub.mergeable = b;
		return 0;
	}
	if (strcmp(key, "tenant") == 0) {
		if (strlen(value) > 63 ||
		    strspn(value, "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(value))
			return bad_value(ps, key, value,
					 "a name of up to 63 letters, digits, '_', '.' and '-'");
		r->line_tenant = ps->line;
		return (r->tenant = strdup(value)) ? 0
						   : nk_error_set(ps->err, ENOMEM, "out of memory");
	}
	nk_error_set(ps->err, EINVAL, "%s:%u: unknown key '%s' in [vm \"%s\"]", ps->file, ps->line,
		     key, r->glob);
	return nk_error_hint(ps->err,
			     "[vm] keys: nodes, cpus, memory_max, memory_high, mergeable, tenant");
}

static int assignment(struct parser *ps, char *text)
{
	char *eq = strchr(text, '=');
	if (!eq)
		return fail(ps, "expected KEY = VALUE, [ksm] or [vm \"GLOB\"]");
	*eq = '\0';
	char *key = trim(text), *value = NULL;
	if (!*key)
		return fail(ps, "a value without a key");
	if (strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(key))
		return fail(ps, "invalid key '%s': keys are lowercase letters, digits and '_'",
			    key);
	int r = parse_value_text(ps, eq + 1, &value);
	if (r < 0)
		return r;
	if (!*value)
		return fail(ps, "%s has no value", key);
	if (ps->section == SECTION_NONE)
		return fail(ps, "%s outside a section: put it under [ksm] or [vm \"GLOB\"]", key);
	for (unsigned i = 0; i < ps->n_seen; i++)
		if (strcmp(ps->seen[i], key) == 0)
			return fail(ps, "%s is set again (first at line %u)", key,
				    ps->seen_line[i]);
	if (ps->n_seen < ARRAY_SIZE(ps->seen) && strlen(key) < sizeof(ps->seen[0])) {
		strcpy(ps->seen[ps->n_seen], key);
		ps->seen_line[ps->n_seen++] = ps->line;
	}
	return ps->section == SECTION_KSM ? ksm_key(ps, key, value) : vm_key(ps, key, value);
}

/* Checks across keys, reported at the line of the later key. */
static int check_whole(struct parser *ps)
{
	nk_conf *p = ps->policy;
	const struct nk_tuner_config *c = &p->tuner;
	if (c->interval_min_s > c->interval_max_s) {
		ps->line = ps->line_interval_min > ps->line_interval_max ? ps->line_interval_min
									 : ps->line_interval_max;
		return fail(ps, "interval_min (%gs) is longer than interval_max (%gs)",
			    c->interval_min_s, c->interval_max_s);
	}
	for (size_t i = 0; i < p->n_rules; i++) {
		struct rule *r = &p->rules[i];
		if (r->pub.memory_high_bytes && r->pub.memory_max_bytes &&
		    r->pub.memory_high_bytes > r->pub.memory_max_bytes) {
			ps->line = r->line_high > r->line_max ? r->line_high : r->line_max;
			return fail(ps, "memory_high is above memory_max in [vm \"%s\"]", r->glob);
		}
		r->pub.glob = r->glob;
		r->pub.file = p->file;
		r->pub.nodes = r->nodes;
		r->pub.cpus = r->cpus;
		r->pub.tenant = r->tenant;
	}
	/* Two tenants told to merge (mergeable = yes) on a common node: no
	 * placement and no unmerging can keep them apart without going against
	 * one of the two rules. */
	for (size_t i = 0; i < p->n_rules; i++)
		for (size_t j = i + 1; j < p->n_rules; j++) {
			const struct rule *a = &p->rules[i], *b = &p->rules[j];
			if (!a->tenant || !b->tenant || !strcmp(a->tenant, b->tenant) ||
			    a->pub.mergeable != 1 || b->pub.mergeable != 1 || !a->nodes ||
			    !b->nodes)
				continue;
			int common = nk_bitmap_next(a->nodes, 0);
			while (common >= 0 && !nk_bitmap_test(b->nodes, (unsigned)common))
				common = nk_bitmap_next(a->nodes, (unsigned)common + 1);
			if (common < 0)
				continue;
			ps->line = b->line_tenant;
			fail(ps,
			     "tenants '%s' ([vm \"%s\"]) and '%s' ([vm \"%s\"]) both merge "
			     "(mergeable = yes) on node %d: their pages could be merged together",
			     a->tenant, a->glob, b->tenant, b->glob, common);
			return nk_error_hint(ps->err, "give the two tenants disjoint nodes, or let "
						      "one of them not merge (mergeable = no)");
		}
	_cleanup_error_ nk_error *e = NULL;
	if (nk_tuner_config_check(c, &e) < 0) {
		ps->line = ps->ksm_line;
		return fail(ps, "[ksm]: %s", nk_error_message(e));
	}
	return 0;
}

_nk_export_ int nk_conf_parse(const char *text, const char *filename, nk_conf **ret, nk_error **err)
{
	_cleanup_(conf_freep) nk_conf *p = calloc(1, sizeof(*p));
	_cleanup_free_ char *copy = strdup(text);
	if (!p || !copy || !(p->file = strdup(filename ? filename : "(policy)")))
		return nk_error_set(err, ENOMEM, "out of memory");
	nk_tuner_config_init(&p->tuner);
	struct parser ps = {.policy = p, .file = p->file, .err = err};

	char *cursor = copy;
	for (;;) {
		char *nl = strchr(cursor, '\n');
		if (nl)
			*nl = '\0';
		ps.line++;
		char *line = trim(cursor);
		int r = 0;
		if (*line == '[')
			r = open_section(&ps, line);
		else if (*line && *line != '#' && *line != ';')
			r = assignment(&ps, line);
		if (r < 0)
			return r;
		if (!nl)
			break;
		cursor = nl + 1;
	}
	int r = check_whole(&ps);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p);
	return 0;
}

_nk_export_ int nk_conf_load(const char *path, nk_conf **ret, nk_error **err)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (!f) {
		int e = errno;
		nk_error_set(err, e, "cannot open policy file %s: %s", path, strerror(e));
		return -e;
	}
	FILE *mem = open_memstream(&text, &len);
	if (!mem)
		return nk_error_set(err, ENOMEM, "out of memory");
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, mem);
	bool bad = ferror(f);
	if (fclose(mem) != 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (bad)
		return nk_error_set(err, EIO, "cannot read policy file %s", path);
	if (strlen(text) != len)
		return nk_error_set(err, EINVAL, "%s: a NUL byte: not a text file", path);
	return nk_conf_parse(text, path, ret, err);
}

_nk_export_ const struct nk_tuner_config *nk_conf_tuner(const nk_conf *policy)
{
	return &policy->tuner;
}

_nk_export_ size_t nk_conf_vm_count(const nk_conf *policy)
{
	return policy->n_rules;
}

_nk_export_ const struct nk_vm_rule *nk_conf_vm(const nk_conf *policy, size_t index)
{
	return index < policy->n_rules ? &policy->rules[index].pub : NULL;
}

_nk_export_ const struct nk_vm_rule *nk_conf_match(const nk_conf *policy, const char *name)
{
	for (size_t i = 0; i < policy->n_rules; i++)
		if (fnmatch(policy->rules[i].glob, name, 0) == 0)
			return &policy->rules[i].pub;
	return NULL;
}
