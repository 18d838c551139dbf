/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CPU and node lists ("0-3,6": nk_parse_list), as users give them and the
 * kernel shows them, and the kernel's hex masks ("00000000,0000000f":
 * nk_parse_hexmask) of /proc/PID/status.  A set that parses formats back
 * (nk_bitmap_format) to a list that parses to the same set.
 */
#include "fuzz.h"

/* The set as a hex mask in the kernel's layout: 32-bit words, commas. */
static char *hexmask(const nk_bitmap *b)
{
	int last = nk_bitmap_last(b);
	unsigned words = last < 0 ? 1 : (unsigned)last / 32 + 1;
	char *text = NULL;
	size_t len = 0;
	FILE *f = fuzz_memstream(&text, &len);
	for (unsigned w = words; w-- > 0;) {
		unsigned bits = 0;
		for (unsigned i = 0; i < 32; i++)
			bits |= nk_bitmap_test(b, w * 32 + i) ? 1u << i : 0;
		fprintf(f, "%08x%s", bits, w ? "," : "\n");
	}
	fuzz_memstream_close(f);
	return text;
}

static void check_list(const nk_bitmap *b, const char *what)
{
	_cleanup_bitmap_ nk_bitmap *again = NULL;
	_cleanup_free_ char *list = fuzz_list(b);

	FUZZ_CHECK(nk_parse_list(list, "CPU list", &again, NULL) == 0, "%s: '%s' does not parse",
		   what, list);
	FUZZ_CHECK(nk_bitmap_equal(b, again) && nk_bitmap_weight(b) == nk_bitmap_weight(again),
		   "%s: '%s' parses to another set", what, list);
	FUZZ_CHECK(nk_bitmap_last(b) <= (int)NK_BITMAP_MAX_BIT, "%s: bit %d", what,
		   nk_bitmap_last(b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size);
	_cleanup_bitmap_ nk_bitmap *list = NULL, *mask = NULL;
	_cleanup_error_ nk_error *err = NULL;

	if (nk_parse_list(text, "CPU list", &list, &err) == 0)
		check_list(list, "list");
	else
		FUZZ_CHECK(err && *nk_error_message(err), "a refusal without its reason");

	if (nk_parse_hexmask(text, &mask) == 0) {
		check_list(mask, "mask");
		_cleanup_bitmap_ nk_bitmap *again = NULL;
		_cleanup_free_ char *hex = hexmask(mask);
		FUZZ_CHECK(nk_parse_hexmask(hex, &again) == 0 && nk_bitmap_equal(mask, again),
			   "mask '%s' does not parse back", hex);
	}
	return 0;
}
