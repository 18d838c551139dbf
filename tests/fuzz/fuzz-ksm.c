/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * KSM's values: `numaksm ksm set KEY=VALUE` and the [ksm] knobs of the
 * policy file (nk_ksm_parse, nk_ksm_parse_value), and the text of
 * /sys/kernel/mm/ksm/KEY (ksm_parse_file, what nk_ksm_read parses).  A value
 * that parses formats back (nk_ksm_format_value, nk_ksm_format) to text
 * that parses to the same value; a refusal says why.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "ksm-internal.h"

static void check_assignment(const char *text)
{
	_cleanup_error_ nk_error *err = NULL;
	_cleanup_free_ char *lines = NULL;
	struct nk_ksm k = {0}, k2 = {0};
	char buf[24];
	uint64_t v;

	if (nk_ksm_parse(text, &k, &err) < 0) {
		FUZZ_CHECK(err && nk_error_code(err) == EINVAL && *nk_error_message(err),
			   "a refusal without its reason");
		return;
	}
	FUZZ_CHECK(__builtin_popcountll(k.mask) == 1 && !(k.mask & ~NK_KSM_KNOBS), "mask %#" PRIx64,
		   k.mask);
	enum nk_ksm_field f = (enum nk_ksm_field)__builtin_ctzll(k.mask);
	const struct nk_ksm_field_info *info = nk_ksm_field(f);
	FUZZ_CHECK(k.value[f] >= info->min && k.value[f] <= info->max,
		   "%s=%" PRIu64 " out of [%" PRIu64 ", %" PRIu64 "]", info->name, k.value[f],
		   info->min, info->max);
	const char *formatted = nk_ksm_format_value(f, k.value[f], buf);
	FUZZ_CHECK(nk_ksm_parse_value(f, formatted, &v, NULL) == 0 && v == k.value[f],
		   "%s=%s does not parse back to %" PRIu64, info->name, formatted, k.value[f]);
	FUZZ_CHECK(nk_ksm_format(&k, &lines) > 0, "nothing formatted");
	nk_strip_newline(lines);
	FUZZ_CHECK(nk_ksm_parse(lines, &k2, NULL) == 0 && !memcmp(&k, &k2, sizeof(k)),
		   "'%s' does not parse back", lines);
}

/* KEY=TEXT as /sys/kernel/mm/ksm/KEY holding TEXT. */
static void check_file(const char *text)
{
	const char *eq = strchr(text, '=');
	char buf[24], *key;
	uint64_t v, v2;
	int f;

	if (!eq || !(key = strndup(text, (size_t)(eq - text))))
		return;
	f = nk_ksm_field_lookup(key);
	free(key);
	_cleanup_free_ char *value = strdup(eq + 1);
	if (f < 0 || !value ||
	    ksm_parse_file((enum nk_ksm_field)f, nk_strip_newline(value), &v) < 0)
		return;
	const char *formatted = nk_ksm_format_value((enum nk_ksm_field)f, v, buf);
	/* The kernel shows the advisor's choice among the others: "[none] scan-time". */
	if (nk_ksm_field((enum nk_ksm_field)f)->type == NK_KSM_TYPE_ADVISOR)
		formatted = v == NK_KSM_ADVISOR_SCAN_TIME ? "none [scan-time]" : "[none] scan-time";
	FUZZ_CHECK(ksm_parse_file((enum nk_ksm_field)f, formatted, &v2) == 0 && v2 == v,
		   "%s: '%s' does not parse back to %" PRIu64, nk_ksm_field(f)->name, formatted, v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size);

	check_assignment(text);
	check_file(text);
	return 0;
}
