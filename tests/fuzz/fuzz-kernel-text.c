/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's keyed text: meminfo (nk_parse_meminfo), "key: value" lines
 * of /proc/PID/status and cpuinfo (nk_parse_keyed_line, with the CPU list
 * and capability mask read from them, nk_cpuinfo_has_flag), selectors such
 * as THP's "always [madvise] never" (nk_parse_selector), number arrays of
 * statm and node distances (nk_parse_u64_array) and memory PSI
 * (psi_some_avg10).  Every parser reads the same input.
 */
#include <ctype.h>
#include <inttypes.h>

#include "fuzz.h"
#include "hostinfo-internal.h"
#include "tuner-internal.h"

static void check_keyed(const char *text, const char *key)
{
	_cleanup_free_ char *value = NULL;
	uint64_t kb;

	int r = nk_parse_keyed_line(text, key, &value);
	int m = nk_parse_meminfo(text, key, &kb);
	FUZZ_CHECK((r == -ENOENT) == (m == -ENOENT), "%s found by one parser only", key);
	if (r < 0)
		return;
	size_t n = strlen(value);
	FUZZ_CHECK(!strchr(value, '\n') && (n == 0 || (!isblank((unsigned char)value[0]) &&
						       !isblank((unsigned char)value[n - 1]))),
		   "%s: '%s'", key, value);
	if (m < 0)
		return;
	/* The number is the value on the key's line (blanks and leading zeros aside). */
	char digits[32];
	const char *v = value;
	while (isspace((unsigned char)*v))
		v++;
	size_t nd = strspn(v, "0123456789"), z = 0;
	snprintf(digits, sizeof(digits), "%" PRIu64, kb);
	while (z + 1 < nd && v[z] == '0')
		z++;
	FUZZ_CHECK(nd > 0 && nd - z == strlen(digits) && !strncmp(v + z, digits, nd - z),
		   "%s is %" PRIu64 " but its line says '%s'", key, kb, value);
}

static void check_status(const char *text)
{
	_cleanup_free_ char *list = NULL, *capeff = NULL;
	_cleanup_bitmap_ nk_bitmap *cpus = NULL, *caps = NULL;

	if (nk_parse_keyed_line(text, "Cpus_allowed_list", &list) == 0 &&
	    nk_parse_list(list, "CPU list", &cpus, NULL) == 0)
		FUZZ_CHECK(nk_bitmap_weight(cpus) <= NK_BITMAP_MAX_BIT + 1, "a list too large");
	if (nk_parse_keyed_line(text, "CapEff", &capeff) == 0 &&
	    nk_parse_hexmask(capeff, &caps) == 0) {
		/* Plain hex: 4 bits a digit; with commas, 32-bit words of at
		 * most 8 digits each (a short word still takes 32 bits). */
		int words = 1;
		for (const char *c = capeff; *c; c++)
			words += *c == ',';
		int bound = words > 1 ? 32 * words : 4 * (int)strlen(capeff);
		FUZZ_CHECK(nk_bitmap_last(caps) < bound, "mask '%s'", capeff);
	}
	nk_cpuinfo_has_flag(text, "pdpe1gb");
}

static void check_selector(const char *text)
{
	_cleanup_free_ char *choice = NULL, *again = NULL, *bracketed = NULL;

	if (nk_parse_selector(text, &choice) < 0)
		return;
	FUZZ_CHECK(*choice && !strpbrk(choice, " \t\n\v\f\r]"), "choice '%s'", choice);
	fuzz_asprintf(&bracketed, "always [%s] never\n", choice);
	FUZZ_CHECK(nk_parse_selector(bracketed, &again) == 0 && !strcmp(again, choice), "'%s'",
		   bracketed);
}

static void check_array(const char *text)
{
	_cleanup_free_ uint64_t *values = NULL, *values2 = NULL;
	_cleanup_free_ char *again = NULL;
	size_t len = 0;

	int n = nk_parse_u64_array(text, &values);
	if (n < 0)
		return;
	FILE *f = fuzz_memstream(&again, &len);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s%" PRIu64, i ? " " : "", values[i]);
	fputc('\n', f);
	fuzz_memstream_close(f);
	FUZZ_CHECK(nk_parse_u64_array(again, &values2) == n &&
		       (n == 0 || !memcmp(values, values2, (size_t)n * sizeof(*values))),
		   "'%s' parses to other numbers", again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {"MemTotal",	    "MemFree",	       "MemAvailable",
					   "Hugepagesize",  "HugePages_Total", "Rss",
					   "ksm_rmap_items"};
	_cleanup_free_ char *text = fuzz_text(data, size);
	double psi;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		check_keyed(text, keys[i]);
	check_status(text);
	check_selector(text);
	check_array(text);
	if (psi_some_avg10(text, &psi) == 0)
		FUZZ_CHECK(psi >= 0, "PSI %g", psi);
	return 0;
}
