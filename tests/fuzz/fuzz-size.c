/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sizes ("512M", "1GiB": nk_parse_size) and the numbers and booleans every
 * option and file takes (nk_parse_u64, nk_parse_int, nk_parse_bool).  A
 * value that parses prints back to text that parses to the same value, and
 * the parsers agree where their inputs overlap.
 */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>

#include "fuzz.h"

static void check_size(const char *text)
{
	_cleanup_error_ nk_error *err = NULL;
	char buf[32];
	uint64_t bytes, again, plain;

	if (nk_parse_size(text, &bytes, &err) < 0) {
		FUZZ_CHECK(err && *nk_error_message(err), "a refusal without its reason");
		return;
	}
	snprintf(buf, sizeof(buf), "%" PRIu64, bytes);
	FUZZ_CHECK(nk_parse_size(buf, &again, NULL) == 0 && again == bytes, "'%s' -> '%s'", text,
		   buf);
	/* Digits alone are bytes; a unit is a whole number of KiB at least. */
	if (nk_parse_u64(text, &plain, NULL) == 0 && isdigit((unsigned char)text[0]))
		FUZZ_CHECK(plain == bytes, "'%s': %" PRIu64 " bytes or %" PRIu64, text, bytes,
			   plain);
	else
		FUZZ_CHECK(bytes % 1024 == 0, "'%s' is %" PRIu64 " bytes", text, bytes);
	if (bytes % 1024 == 0 && bytes) {
		snprintf(buf, sizeof(buf), "%" PRIu64 "KiB", bytes / 1024);
		FUZZ_CHECK(nk_parse_size(buf, &again, NULL) == 0 && again == bytes, "'%s' -> '%s'",
			   text, buf);
	}
}

static void check_numbers(const char *text)
{
	char buf[32];
	uint64_t u, u2;
	long long i, i2;
	bool b, b2;

	if (nk_parse_u64(text, &u, NULL) == 0) {
		snprintf(buf, sizeof(buf), "%" PRIu64, u);
		FUZZ_CHECK(nk_parse_u64(buf, &u2, NULL) == 0 && u2 == u, "'%s' -> '%s'", text, buf);
		if (u <= LLONG_MAX)
			FUZZ_CHECK(nk_parse_int(text, 0, LLONG_MAX, &i, NULL) == 0 &&
				       (uint64_t)i == u,
				   "'%s' is %" PRIu64 " unsigned, not signed", text, u);
	}
	if (nk_parse_int(text, LLONG_MIN, LLONG_MAX, &i, NULL) == 0) {
		snprintf(buf, sizeof(buf), "%lld", i);
		FUZZ_CHECK(nk_parse_int(buf, i, i, &i2, NULL) == 0 && i2 == i, "'%s' -> '%s'", text,
			   buf);
		/* A range that leaves the value out refuses it. */
		if (i > LLONG_MIN)
			FUZZ_CHECK(nk_parse_int(text, LLONG_MIN, i - 1, &i2, NULL) == -ERANGE,
				   "'%s' accepted below %lld", text, i);
	}
	if (nk_parse_bool(text, &b) == 0)
		FUZZ_CHECK(nk_parse_bool(b ? "yes" : "no", &b2) == 0 && b2 == b, "'%s'", text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size);

	check_size(text);
	check_numbers(text);
	return 0;
}
