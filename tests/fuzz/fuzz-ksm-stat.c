/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /proc/PID/ksm_stat (nk_ksm_parse_proc_stat), of every kernel since 6.1.
 * What parses writes back, in the layout of the newest kernels, to text
 * that parses to the same counts and flags; the savings worked out from
 * it stay within what the process merged.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "numaksm/ksm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size), *again = NULL;
	struct nk_ksm_proc_stat p, p2;
	size_t len = 0;

	if (nk_ksm_parse_proc_stat(text, &p) < 0)
		return 0;
	FILE *f = fuzz_memstream(&again, &len);
	fprintf(f, "ksm_rmap_items %" PRIu64 "\n", p.rmap_items);
	if (p.has_zero_pages)
		fprintf(f, "ksm_zero_pages %" PRIu64 "\n", p.zero_pages);
	if (p.has_merging_pages)
		fprintf(f, "ksm_merging_pages %" PRIu64 "\n", p.merging_pages);
	if (p.has_process_profit)
		fprintf(f, "ksm_process_profit %" PRId64 "\n", p.process_profit);
	if (p.has_merge_flags)
		fprintf(f, "ksm_merge_any: %s\nksm_mergeable: %s\n", p.merge_any ? "yes" : "no",
			p.mergeable ? "yes" : "no");
	fuzz_memstream_close(f);
	FUZZ_CHECK(nk_ksm_parse_proc_stat(again, &p2) == 0, "'%s' does not parse", again);
	FUZZ_CHECK(p2.rmap_items == p.rmap_items && p2.zero_pages == p.zero_pages &&
		       p2.merging_pages == p.merging_pages &&
		       p2.process_profit == p.process_profit &&
		       p2.has_zero_pages == p.has_zero_pages &&
		       p2.has_merging_pages == p.has_merging_pages &&
		       p2.has_process_profit == p.has_process_profit &&
		       p2.has_merge_flags == p.has_merge_flags &&
		       (!p.has_merge_flags ||
			(p2.merge_any == p.merge_any && p2.mergeable == p.mergeable)),
		   "'%s' parses to other values", again);

	/* The fair share of a merged page is at most the page. */
	struct nk_ksm host = {0};
	nk_ksm_set(&host, NK_KSM_PAGES_SHARED, p.rmap_items % 1000);
	nk_ksm_set(&host, NK_KSM_PAGES_SHARING, p.zero_pages % 100000);
	uint64_t saved = nk_ksm_proc_saved_bytes(&p, &host, 4096);
	if (p.merging_pages < UINT64_MAX / 8192 && p.zero_pages < UINT64_MAX / 8192)
		FUZZ_CHECK(saved <= (p.merging_pages + p.zero_pages) * 4096,
			   "%" PRIu64 " bytes saved of %" PRIu64 " merging and %" PRIu64
			   " zero pages",
			   saved, p.merging_pages, p.zero_pages);
	return 0;
}
