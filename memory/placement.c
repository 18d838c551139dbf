/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where a zone's pages are (the core's nk_placement_measure), and moving
 * them while the zone is in use.
 */
#include "basic.h"
#include "memory-internal.h"

#include <inttypes.h>
#include <numaif.h>
#include <time.h>

#define BATCH (16u * 1024)

_nk_export_ int nk_zone_placement(nk_zone *z, uint64_t max_samples, struct nk_placement *ret,
				  nk_error **err)
{
	int r = nk_placement_measure(0, (uintptr_t)z->addr, z->size, z->page_size, max_samples, ret,
				     err);
	return r < 0 ? nk_error_prefix(err, "zone %s", z->spec.id) : 0;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

_nk_export_ int nk_zone_migrate(nk_zone *z, const nk_bitmap *nodes, struct nk_migration *ret,
				nk_error **err)
{
	struct nk_migration m = {0};
	_cleanup_free_ unsigned long *mask = NULL;
	_cleanup_free_ void **pages = NULL;
	_cleanup_free_ int *status = NULL, *targets = NULL, *target_list = NULL;
	_cleanup_bitmap_ nk_bitmap *online = NULL;
	unsigned long maxnode;
	const char *id = z->spec.id;
	unsigned n_targets = nodes ? nk_bitmap_weight(nodes) : 0;

	if (!n_targets)
		return nk_error_set(err, EINVAL, "zone %s: no target nodes", id);
	/* Every target must be a node with memory: ask the kernel. */
	{
		nk_host *self = NULL;
		_cleanup_free_ char *text = NULL;
		int r = nk_host_open("/", &self, err);
		if (r < 0)
			return r;
		r = nk_host_read(self, "/sys/devices/system/node/has_memory", &text, err);
		nk_host_free(self);
		if (r < 0)
			return r;
		r = nk_parse_list(text, "node list", &online, err);
		if (r < 0)
			return r;
		nk_bitmap_foreach (n, nodes) {
			if (!nk_bitmap_test(online, (unsigned)n))
				return nk_error_set(err, ENODEV,
						    "zone %s: node %d does not exist or has no "
						    "memory",
						    id, n);
		}
	}

	/* New policy first, so pages faulted during the move land on the targets. */
	enum nk_policy policy =
	    z->spec.policy == NK_POLICY_INTERLEAVE ? NK_POLICY_INTERLEAVE : NK_POLICY_BIND;
	if (nk_nodemask(nodes, &mask, &maxnode) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (mbind(z->addr, z->size, nk_policy_mode(policy), mask, maxnode, 0) < 0)
		return nk_error_set(err, errno, "zone %s: mbind(%s) failed: %s", id,
				    nk_policy_name(policy), strerror(errno));

	pages = malloc(BATCH * sizeof(*pages));
	status = malloc(BATCH * sizeof(*status));
	targets = malloc(BATCH * sizeof(*targets));
	target_list = malloc(n_targets * sizeof(*target_list));
	if (!pages || !status || !targets || !target_list)
		return nk_error_set(err, ENOMEM, "out of memory");
	unsigned t = 0;
	nk_bitmap_foreach (n, nodes)
		target_list[t++] = n;

	uint64_t npages = z->size / z->page_size, rr = 0;
	double t0 = now_seconds();
	for (uint64_t i = 0; i < npages;) {
		unsigned n = 0;
		uint64_t first = i;
		for (; n < BATCH && i < npages; n++, i++)
			pages[n] = (char *)z->addr + i * z->page_size;
		/* Where is each page now?  Only those off the targets move. */
		if (move_pages(0, n, pages, NULL, status, 0) < 0)
			return nk_error_set(err, errno, "zone %s: move_pages: %s", id,
					    strerror(errno));
		unsigned k = 0;
		for (unsigned j = 0; j < n; j++) {
			if (status[j] == -ENOENT) {
				m.pages_absent++;
				continue;
			}
			if (status[j] >= 0 && nk_bitmap_test(nodes, (unsigned)status[j])) {
				m.pages_already++;
				continue;
			}
			pages[k] = (char *)z->addr + (first + j) * z->page_size;
			targets[k++] = target_list[rr++ % n_targets];
		}
		if (!k)
			continue;
		long r = move_pages(0, k, pages, targets, status, MPOL_MF_MOVE);
		if (r < 0 && errno != ENOENT)
			return nk_error_set(err, errno, "zone %s: move_pages(MPOL_MF_MOVE): %s", id,
					    strerror(errno));
		for (unsigned j = 0; j < k; j++) {
			if (status[j] >= 0 && nk_bitmap_test(nodes, (unsigned)status[j])) {
				m.pages_moved++;
			} else {
				m.pages_failed++;
				if (!m.first_failure)
					m.first_failure = status[j] < 0 ? -status[j] : EBUSY;
			}
		}
	}
	m.seconds = now_seconds() - t0;
	m.mb_per_s = m.seconds > 0 ? (double)(m.pages_moved * z->page_size) / 1e6 / m.seconds : 0;

	/* The zone now belongs to its new nodes. */
	nk_bitmap *copy = nk_bitmap_dup(nodes);
	if (copy) {
		nk_bitmap_free(z->spec.nodes);
		z->spec.nodes = copy;
		z->spec.policy = policy;
	}
	*ret = m;
	return 0;
}
