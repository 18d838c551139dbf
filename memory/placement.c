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

/* A chunk: 16 MiB of the zone (at least one page), 4096 small pages, a
 * fraction of a second to move even on a slow machine. */
#define CHUNK_BYTES (16ull << 20)

struct nk_zone_move {
	nk_zone *zone;
	nk_bitmap *nodes;
	enum nk_policy policy;
	unsigned n_targets, rr;
	int *target_list;
	void **pages;
	int *status, *targets;
	uint64_t npages, next, chunk_pages;
	double t0;
	struct nk_migration m;
};

static nk_zone_move *move_free(nk_zone_move *mv)
{
	if (mv) {
		nk_bitmap_free(mv->nodes);
		free(mv->target_list);
		free(mv->pages);
		free(mv->status);
		free(mv->targets);
		free(mv);
	}
	return NULL;
}

static void move_freep(nk_zone_move **mv)
{
	move_free(*mv);
}

/* Every target must be a node with memory: ask the kernel. */
static int check_targets(const nk_zone *z, const nk_bitmap *nodes, nk_error **err)
{
	_cleanup_bitmap_ nk_bitmap *online = NULL;
	_cleanup_free_ char *text = NULL;
	nk_host *self = NULL;
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
					    "zone %s: node %d does not exist or has no memory",
					    z->spec.id, n);
	}
	return 0;
}

_nk_export_ int nk_zone_move_start(nk_zone *z, const nk_bitmap *nodes, nk_zone_move **ret,
				   nk_error **err)
{
	_cleanup_(move_freep) nk_zone_move *mv = NULL;
	_cleanup_free_ unsigned long *mask = NULL;
	unsigned long maxnode;
	const char *id = z->spec.id;
	unsigned n_targets = nodes ? nk_bitmap_weight(nodes) : 0;

	if (!n_targets)
		return nk_error_set(err, EINVAL, "zone %s: no target nodes", id);
	int r = check_targets(z, nodes, err);
	if (r < 0)
		return r;
	mv = calloc(1, sizeof(*mv));
	if (!mv)
		return nk_error_set(err, ENOMEM, "out of memory");
	mv->zone = z;
	mv->n_targets = n_targets;
	mv->npages = z->size / z->page_size;
	mv->chunk_pages = CHUNK_BYTES / z->page_size ? CHUNK_BYTES / z->page_size : 1;
	if (mv->chunk_pages > mv->npages)
		mv->chunk_pages = mv->npages;
	mv->nodes = nk_bitmap_dup(nodes);
	mv->target_list = malloc(n_targets * sizeof(*mv->target_list));
	mv->pages = malloc(mv->chunk_pages * sizeof(*mv->pages));
	mv->status = malloc(mv->chunk_pages * sizeof(*mv->status));
	mv->targets = malloc(mv->chunk_pages * sizeof(*mv->targets));
	if (!mv->nodes || !mv->target_list || !mv->pages || !mv->status || !mv->targets)
		return nk_error_set(err, ENOMEM, "out of memory");
	unsigned t = 0;
	nk_bitmap_foreach (n, nodes)
		mv->target_list[t++] = n;

	/* New policy first, so pages faulted during the move land on the targets. */
	mv->policy = z->spec.policy == NK_POLICY_INTERLEAVE ? NK_POLICY_INTERLEAVE : NK_POLICY_BIND;
	if (nk_nodemask(nodes, &mask, &maxnode) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (mbind(z->addr, z->size, nk_policy_mode(mv->policy), mask, maxnode, 0) < 0)
		return nk_error_set(err, errno, "zone %s: mbind(%s) failed: %s", id,
				    nk_policy_name(mv->policy), strerror(errno));
	mv->t0 = now_seconds();
	*ret = TAKE_PTR(mv);
	return 0;
}

_nk_export_ int nk_zone_move_step(nk_zone_move *mv, nk_error **err)
{
	nk_zone *z = mv->zone;
	const char *id = z->spec.id;
	struct nk_migration *m = &mv->m;
	unsigned n = 0;
	uint64_t first = mv->next;

	if (mv->next >= mv->npages)
		return 0;
	for (; n < mv->chunk_pages && mv->next < mv->npages; n++, mv->next++)
		mv->pages[n] = (char *)z->addr + mv->next * z->page_size;
	/* Where is each page now?  Only those off the targets move. */
	if (move_pages(0, n, mv->pages, NULL, mv->status, 0) < 0)
		return nk_error_set(err, errno, "zone %s: move_pages: %s", id, strerror(errno));
	unsigned k = 0;
	for (unsigned j = 0; j < n; j++) {
		if (mv->status[j] == -ENOENT) {
			m->pages_absent++;
			continue;
		}
		if (mv->status[j] >= 0 && nk_bitmap_test(mv->nodes, (unsigned)mv->status[j])) {
			m->pages_already++;
			continue;
		}
		mv->pages[k] = (char *)z->addr + (first + j) * z->page_size;
		mv->targets[k++] = mv->target_list[mv->rr++ % mv->n_targets];
	}
	if (k) {
		long r = move_pages(0, k, mv->pages, mv->targets, mv->status, MPOL_MF_MOVE);
		if (r < 0 && errno != ENOENT)
			return nk_error_set(err, errno, "zone %s: move_pages(MPOL_MF_MOVE): %s", id,
					    strerror(errno));
		for (unsigned j = 0; j < k; j++) {
			if (mv->status[j] >= 0 &&
			    nk_bitmap_test(mv->nodes, (unsigned)mv->status[j])) {
				m->pages_moved++;
			} else {
				m->pages_failed++;
				if (!m->first_failure)
					m->first_failure =
					    mv->status[j] < 0 ? -mv->status[j] : EBUSY;
			}
		}
	}
	return mv->next < mv->npages;
}

_nk_export_ void nk_zone_move_progress(const nk_zone_move *mv, struct nk_migration *ret,
				       uint64_t *ret_done_bytes, uint64_t *ret_total_bytes)
{
	const nk_zone *z = mv->zone;
	if (ret) {
		*ret = mv->m;
		ret->seconds = now_seconds() - mv->t0;
		ret->mb_per_s = ret->seconds > 0
				    ? (double)(ret->pages_moved * z->page_size) / 1e6 / ret->seconds
				    : 0;
	}
	if (ret_done_bytes)
		*ret_done_bytes = mv->next * z->page_size;
	if (ret_total_bytes)
		*ret_total_bytes = mv->npages * z->page_size;
}

_nk_export_ nk_zone_move *nk_zone_move_end(nk_zone_move *mv, struct nk_migration *ret)
{
	if (!mv)
		return NULL;
	nk_zone_move_progress(mv, ret, NULL, NULL);
	/* The zone now belongs to its new nodes: it was bound to them at the start. */
	nk_bitmap_free(mv->zone->spec.nodes);
	mv->zone->spec.nodes = TAKE_PTR(mv->nodes);
	mv->zone->spec.policy = mv->policy;
	return move_free(mv);
}

_nk_export_ int nk_zone_migrate(nk_zone *z, const nk_bitmap *nodes, struct nk_migration *ret,
				nk_error **err)
{
	nk_zone_move *mv = NULL;
	struct nk_migration m;
	int r = nk_zone_move_start(z, nodes, &mv, err);
	if (r < 0)
		return r;
	while ((r = nk_zone_move_step(mv, err)) > 0)
		;
	nk_zone_move_end(mv, &m);
	if (r < 0)
		return r;
	*ret = m;
	return 0;
}
