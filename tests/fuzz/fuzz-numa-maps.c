/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /proc/PID/numa_maps (vm_parse_numa_maps), where a captured tree's pages
 * per node come from.  What parses writes back to lines that parse to the
 * same pages per node and page sizes.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "vm-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size), *again = NULL;
	struct vm_numa_map *maps = NULL, *maps2 = NULL;
	size_t n = 0, n2 = 0, len = 0;

	if (vm_parse_numa_maps(text, &maps, &n) < 0)
		return 0;
	FILE *f = fuzz_memstream(&again, &len);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(maps[i].page_size >= 1024 && maps[i].page_size % 1024 == 0,
			   "page size %" PRIu64, maps[i].page_size);
		FUZZ_CHECK(maps[i].n_node_pages <= NK_BITMAP_MAX_BIT, "%zu nodes",
			   maps[i].n_node_pages);
		fprintf(f, "%" PRIx64 " default anon=1", maps[i].start);
		/* Nodes without pages but the highest, which sets the length. */
		for (size_t node = 0; node < maps[i].n_node_pages; node++)
			if (maps[i].node_pages[node] || node + 1 == maps[i].n_node_pages)
				fprintf(f, " N%zu=%" PRIu64, node, maps[i].node_pages[node]);
		fprintf(f, " kernelpagesize_kB=%" PRIu64 "\n", maps[i].page_size / 1024);
	}
	fuzz_memstream_close(f);
	FUZZ_CHECK(vm_parse_numa_maps(again, &maps2, &n2) == 0 && n2 == n, "'%s'", again);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(
		    maps2[i].start == maps[i].start && maps2[i].page_size == maps[i].page_size &&
			maps2[i].n_node_pages == maps[i].n_node_pages &&
			(!maps[i].n_node_pages || !memcmp(maps2[i].node_pages, maps[i].node_pages,
							  maps[i].n_node_pages * sizeof(uint64_t))),
		    "line %zu differs:\n%s", i, again);
	vm_numa_maps_free(maps, n);
	vm_numa_maps_free(maps2, n2);
	return 0;
}
