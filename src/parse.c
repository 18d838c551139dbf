/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Checked parsers for what users type (sizes, CPU and node lists) and for
 * the kernel's own text formats.  No I/O here: every function works on a
 * string, so the unit tests feed them literals and malformed text.
 */
#include "basic.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <strings.h>

/* Parse digits at *p, advancing it; no sign, no whitespace. */
static int parse_digits(const char **p, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*p = s;
	*ret = v;
	return 0;
}

static const char *skip_space(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

_nk_export_ const char *nk_format_bytes(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	uint64_t div = 1;
	unsigned u = 0;

	while (u + 1 < ARRAY_SIZE(units) && bytes / div >= 1024) {
		div *= 1024;
		u++;
	}
	/* Rounded to a tenth as printed, so 1023.96 MiB is "1 GiB", not "1024.0 MiB". */
	uint64_t tenths = (uint64_t)((double)bytes / (double)div * 10 + 0.5);
	if (tenths >= 10240 && u + 1 < ARRAY_SIZE(units)) {
		tenths = (tenths + 512) / 1024;
		u++;
	}
	if (tenths % 10 == 0)
		snprintf(buf, size, "%" PRIu64 " %s", tenths / 10, units[u]);
	else
		snprintf(buf, size, "%" PRIu64 ".%" PRIu64 " %s", tenths / 10, tenths % 10,
			 units[u]);
	return buf;
}

_nk_export_ int nk_parse_size(const char *text, uint64_t *ret_bytes, nk_error **err)
{
	static const char units[] = "KMGTP";
	const char *p = text;
	uint64_t v;
	int r;

	if (!text || !*text)
		return nk_error_set(err, EINVAL,
				    "empty size; expected a number with an optional "
				    "unit, e.g. 4096, 512M, 2G or 1GiB");
	r = parse_digits(&p, &v);
	if (r == -ERANGE)
		return nk_error_set(err, ERANGE, "size '%s' is too large", text);
	if (r < 0)
		return nk_error_set(err, EINVAL,
				    "invalid size '%s': expected a number with an optional unit, "
				    "e.g. 4096, 512M, 2G or 1GiB",
				    text);

	unsigned shift = 0;
	if (*p) {
		const char *u = strchr(units, toupper((unsigned char)*p));
		if (!u)
			goto bad_unit;
		shift = 10 * (unsigned)(u - units + 1);
		p++;
		/* Accept "K", "KB", "KiB" (all binary, as the kernel's "kB" is). */
		if (*p == 'i' || *p == 'I') {
			p++;
			if (*p != 'B' && *p != 'b')
				goto bad_unit;
		}
		if (*p == 'B' || *p == 'b')
			p++;
		if (*p)
			goto bad_unit;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return nk_error_set(err, ERANGE, "size '%s' is too large", text);
	*ret_bytes = v << shift;
	return 0;

bad_unit:
	return nk_error_set(err, EINVAL,
			    "invalid unit in size '%s': expected K, M, G, T or P (binary, "
			    "optionally followed by B or iB)",
			    text);
}

_nk_export_ int nk_parse_u64(const char *text, uint64_t *ret, nk_error **err)
{
	const char *p;
	uint64_t v;
	int r;

	if (!text)
		return nk_error_set(err, EINVAL, "missing number");
	p = skip_space(text);
	r = parse_digits(&p, &v);
	if (r == -ERANGE)
		return nk_error_set(err, ERANGE, "number '%s' is out of range", text);
	if (r < 0 || *skip_space(p))
		return nk_error_set(err, EINVAL, "invalid number '%s': expected a decimal integer",
				    text);
	*ret = v;
	return 0;
}

_nk_export_ int nk_parse_int(const char *text, long long min, long long max, long long *ret,
			     nk_error **err)
{
	const char *p;
	bool neg = false;
	uint64_t v;
	int r;

	if (!text)
		return nk_error_set(err, EINVAL, "missing number");
	p = skip_space(text);
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	r = parse_digits(&p, &v);
	if (r == -EINVAL || (r == 0 && *skip_space(p)))
		return nk_error_set(err, EINVAL, "invalid number '%s': expected a decimal integer",
				    text);
	if (r == -ERANGE || v > (uint64_t)LLONG_MAX + (neg ? 1 : 0))
		goto range;
	long long s = neg ? (long long)(0 - v) : (long long)v;
	if (s < min || s > max)
		goto range;
	*ret = s;
	return 0;
range:
	return nk_error_set(err, ERANGE, "number '%s' is out of range [%lld, %lld]", text, min,
			    max);
}

_nk_export_ int nk_parse_bool(const char *text, bool *ret)
{
	static const char *const yes[] = {"1", "yes", "on", "true"}, *const no[] = {"0", "no",
										    "off", "false"};
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* At most 64 characters of a list, for a message about it. */
#define QUOTE_MAX 64
#define QUOTE(t)                                                                                   \
	(strlen(t) > QUOTE_MAX ? QUOTE_MAX : (int)strlen(t)), (t),                                 \
	    (strlen(t) > QUOTE_MAX ? "..." : "")

_nk_export_ int nk_parse_list_max(const char *text, const char *what, unsigned max, nk_bitmap **ret,
				  nk_error **err)
{
	_cleanup_bitmap_ nk_bitmap *b = NULL;
	const char *p;

	if (!what)
		what = "list";
	if (!text)
		return nk_error_set(err, EINVAL, "missing %s", what);
	if (max > NK_BITMAP_MAX_BIT)
		max = NK_BITMAP_MAX_BIT;
	b = nk_bitmap_new();
	if (!b)
		return nk_error_set(err, ENOMEM, "out of memory");

	p = skip_space(text);
	if (!*p) {
		*ret = TAKE_PTR(b);
		return 0;
	}
	for (;;) {
		uint64_t lo, hi;
		if (parse_digits(&p, &lo) < 0)
			goto bad;
		hi = lo;
		if (*p == '-') {
			p++;
			if (parse_digits(&p, &hi) < 0)
				goto bad;
			if (hi < lo)
				return nk_error_set(err, EINVAL,
						    "invalid %s '%.*s%s': range %" PRIu64
						    "-%" PRIu64 " is reversed",
						    what, QUOTE(text), lo, hi);
		}
		if (hi > max)
			return nk_error_set(err, ERANGE,
					    "invalid %s '%.*s%s': %" PRIu64
					    " is larger than the maximum %u",
					    what, QUOTE(text), hi, max);
		if (nk_bitmap_set_range(b, (unsigned)lo, (unsigned)hi) < 0)
			return nk_error_set(err, ENOMEM, "out of memory");
		if (*p == ',') {
			p++;
			continue;
		}
		if (*skip_space(p))
			goto bad;
		break;
	}
	*ret = TAKE_PTR(b);
	return 0;
bad:
	return nk_error_set(err, EINVAL,
			    "invalid %s '%.*s%s': expected numbers and ranges separated by "
			    "commas, e.g. 0-3,6",
			    what, QUOTE(text));
}

_nk_export_ int nk_parse_list(const char *text, const char *what, nk_bitmap **ret, nk_error **err)
{
	return nk_parse_list_max(text, what, NK_BITMAP_MAX_BIT, ret, err);
}

/* Find the line that starts with `key` (after an optional "Node N " prefix
 * for per-node meminfo) followed by a ':' or whitespace; return what
 * follows the separator. */
static const char *find_keyed_line(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *line = text;

	while (line && *line) {
		const char *s = line;
		if (strncmp(s, "Node ", 5) == 0) {
			const char *q = s + 5;
			while (isdigit((unsigned char)*q))
				q++;
			if (q > s + 5 && *q == ' ')
				s = q + 1;
		}
		/* A key with nothing after it (a truncated file) is found,
		 * so that its missing value is reported as malformed. */
		if (strncmp(s, key, klen) == 0 &&
		    (s[klen] == ':' || s[klen] == ' ' || s[klen] == '\t' || s[klen] == '\n' ||
		     s[klen] == '\0')) {
			s += klen;
			if (*s == ':')
				s++;
			return s;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return NULL;
}

_nk_export_ int nk_parse_meminfo(const char *text, const char *key, uint64_t *ret_value)
{
	const char *p = find_keyed_line(text, key);
	uint64_t v;

	if (!p)
		return -ENOENT;
	/* The value is on the key's line: never a number from the next one. */
	while (*p == ' ' || *p == '\t')
		p++;
	if (parse_digits(&p, &v) < 0)
		return -EINVAL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "kB", 2) == 0)
		p += 2;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p && *p != '\n')
		return -EINVAL;
	*ret_value = v;
	return 0;
}

_nk_export_ int nk_parse_keyed_line(const char *text, const char *key, char **ret_value)
{
	const char *p = find_keyed_line(text, key);

	if (!p)
		return -ENOENT;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n = strcspn(p, "\n");
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	char *v = strndup(p, n);
	if (!v)
		return -ENOMEM;
	*ret_value = v;
	return 0;
}

_nk_export_ int nk_parse_selector(const char *text, char **ret_choice)
{
	const char *open = strchr(text, '[');
	if (!open)
		return -EINVAL;
	const char *close = strchr(open, ']');
	if (!close || close == open + 1 || strchr(close, '['))
		return -EINVAL;
	for (const char *q = open + 1; q < close; q++)
		if (isspace((unsigned char)*q))
			return -EINVAL;
	char *c = strndup(open + 1, (size_t)(close - open - 1));
	if (!c)
		return -ENOMEM;
	*ret_choice = c;
	return 0;
}

_nk_export_ int nk_parse_u64_array(const char *text, uint64_t **ret_values)
{
	_cleanup_free_ uint64_t *vals = NULL;
	size_t n = 0, cap = 0;
	const char *p = skip_space(text);

	while (*p) {
		uint64_t v;
		int r = parse_digits(&p, &v);
		if (r < 0)
			return r;
		if (*p && !isspace((unsigned char)*p))
			return -EINVAL;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			uint64_t *nv = realloc(vals, cap * sizeof(*vals));
			if (!nv)
				return -ENOMEM;
			vals = nv;
		}
		vals[n++] = v;
		p = skip_space(p);
	}
	if (n > INT_MAX)
		return -ERANGE;
	*ret_values = TAKE_PTR(vals);
	return (int)n;
}

_nk_export_ int nk_parse_hexmask(const char *text, nk_bitmap **ret)
{
	_cleanup_bitmap_ nk_bitmap *b = nk_bitmap_new();
	const char *start = skip_space(text);
	const char *end = start + strlen(start);
	unsigned bit = 0;

	if (!b)
		return -ENOMEM;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	if (end == start)
		return -EINVAL;
	/* Walk from the least significant digit.  Commas separate 32-bit
	 * words (sysfs cpumap, CapEff has none): a word of fewer than eight
	 * digits still starts at the next multiple of 32 bits. */
	unsigned digits = 0;
	bool words = false;
	for (const char *q = end; q > start; q--) {
		char c = q[-1];
		if (c == ',') {
			if (digits == 0 || digits > 8)
				return -EINVAL;
			words = true;
			bit = (bit + 31) / 32 * 32;
			digits = 0;
			continue;
		}
		if (!isxdigit((unsigned char)c))
			return -EINVAL;
		unsigned d =
		    (unsigned)(isdigit((unsigned char)c) ? c - '0'
							 : tolower((unsigned char)c) - 'a' + 10);
		for (unsigned i = 0; i < 4; i++)
			if (d & (1u << i)) {
				int r = nk_bitmap_set(b, bit + i);
				if (r < 0)
					return r;
			}
		bit += 4;
		digits++;
	}
	if (digits == 0 || (words && digits > 8)) /* the first word too */
		return -EINVAL;
	*ret = TAKE_PTR(b);
	return 0;
}

_nk_export_ char **nk_strv_free(char **strv)
{
	if (strv) {
		for (char **s = strv; *s; s++)
			free(*s);
		free(strv);
	}
	return NULL;
}

int nk_strv_push(char ***strv, size_t *n, const char *s)
{
	char *c = strdup(s);
	if (!c)
		return -ENOMEM;
	char **v = realloc(*strv, (*n + 2) * sizeof(char *));
	if (!v) {
		free(c);
		return -ENOMEM;
	}
	v[(*n)++] = c;
	v[*n] = NULL;
	*strv = v;
	return 0;
}

int nk_parse_token_u64(const char *s, size_t len, uint64_t *ret)
{
	char num[32];
	if (len == 0 || len >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, len);
	num[len] = '\0';
	return nk_parse_u64(num, ret, NULL) < 0 ? -EINVAL : 0;
}

int nk_parse_token_int(const char *s, size_t len, long long min, long long max, long long *ret)
{
	char num[32];
	if (len == 0 || len >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, len);
	num[len] = '\0';
	return nk_parse_int(num, min, max, ret, NULL) < 0 ? -EINVAL : 0;
}

_nk_export_ char *nk_escape(const char *s, size_t len)
{
	/* Four bytes at most for each one, and the NUL. */
	char *out = malloc(len * 4 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			*o++ = (char)c;
		else
			o += sprintf(o, "\\x%02x", c);
	}
	*o = '\0';
	return out;
}
