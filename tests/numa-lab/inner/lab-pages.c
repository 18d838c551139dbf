// SPDX-License-Identifier: MIT
/* The move_pages(2) check, apart from lab.c so check-topology needs no libnuma. */
#include "lab.h"

#include <errno.h>
#include <numaif.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* How many misplaced pages to list before only counting them. */
#define SHOW_MISPLACED 5

bool lab_pages_on_node(void *addr, size_t pages, size_t page_size, int node, const char *what)
{
	_cleanup_free_ void **page = calloc(pages, sizeof(*page));
	_cleanup_free_ int *status = calloc(pages, sizeof(*status));
	size_t on_node[LAB_MAX_IDS] = {0}, errors = 0, misplaced = 0;

	if (!page || !status) {
		printf("%s: out of memory\n", what);
		return false;
	}
	for (size_t i = 0; i < pages; i++)
		page[i] = (char *)addr + i * page_size;
	/* With nodes == NULL, move_pages() moves nothing and reports where each page is. */
	if (move_pages(0, pages, page, NULL, status, 0) < 0) {
		printf("%s: move_pages: %s\n", what, strerror(errno));
		return false;
	}
	for (size_t i = 0; i < pages; i++) {
		if (status[i] >= 0 && status[i] < LAB_MAX_IDS)
			on_node[status[i]]++;
		else
			errors++;
		if (status[i] == node || node < 0)
			continue;
		if (misplaced++ < SHOW_MISPLACED) {
			if (status[i] >= 0)
				printf("%s: page %zu (%p) is on node %d, not %d\n", what, i,
				       page[i], status[i], node);
			else
				printf("%s: page %zu (%p): %s\n", what, i, page[i],
				       strerror(-status[i]));
		}
	}
	if (node >= 0)
		printf("%s: %zu/%zu pages on node %d", what, on_node[node], pages, node);
	else
		printf("%s: %zu pages", what, pages);
	for (int n = 0; n < LAB_MAX_IDS; n++)
		if (n != node && on_node[n])
			printf(", %zu on node %d", on_node[n], n);
	if (errors)
		printf(", %zu not placed", errors);
	printf("\n");
	return node >= 0 && misplaced == 0;
}
