/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /proc/PID/smaps_rollup (vm_parse_rollup): a VM's totals.  What parses is
 * whole KiB and writes back to text that parses to the same totals.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "vm-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size), *again = NULL;
	struct vm_rollup r, r2;

	if (vm_parse_rollup(text, &r) < 0)
		return 0;
	const struct {
		const char *key;
		uint64_t value;
	} lines[] = {
	    {"Rss", r.rss},
	    {"Pss", r.pss},
	    {"Anonymous", r.anon},
	    {"AnonHugePages", r.anon_thp},
	    {"ShmemPmdMapped", r.shmem_pmd},
	    {"FilePmdMapped", r.file_pmd},
	    {"Shared_Hugetlb", r.shared_hugetlb},
	    {"Private_Hugetlb", r.private_hugetlb},
	    {"Swap", r.swap},
	    {"KSM", r.ksm},
	};
	size_t len = 0;
	FILE *f = fuzz_memstream(&again, &len);
	fputs("55d4c0e7b000-7ffd5b5f4000 ---p 00000000 00:00 0                          "
	      "[rollup]\n",
	      f);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		FUZZ_CHECK(lines[i].value % 1024 == 0, "%s: %" PRIu64 " bytes", lines[i].key,
			   lines[i].value);
		if (strcmp(lines[i].key, "KSM") || r.has_ksm)
			fprintf(f, "%s:%*s%" PRIu64 " kB\n", lines[i].key,
				(int)(16 - strlen(lines[i].key)), "", lines[i].value / 1024);
	}
	fuzz_memstream_close(f);
	FUZZ_CHECK(vm_parse_rollup(again, &r2) == 0, "'%s' does not parse", again);
	FUZZ_CHECK(!memcmp(&r, &r2, offsetof(struct vm_rollup, has_ksm)) && r.has_ksm == r2.has_ksm,
		   "'%s' parses to other totals", again);
	return 0;
}
