/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where a zone's pages are, and moving them.  move_pages() with a NULL
 * node array only reports (get_mempolicy(MPOL_F_ADDR) would allocate
 * absent pages); large ranges are sampled uniformly with a stated bound.
 */
#include "internal.h"
#include "memory-internal.h"

#include <inttypes.h>
#include <math.h>
#include <numaif.h>
#include <time.h>

#define DEFAULT_SAMPLES (64u * 1024)
#define BATCH		(16u * 1024)

_nk_export_ void nk_placement_done(struct nk_placement *p)
{
	free(p->node_pages);
	p->node_pages = NULL;
	p->n_node_pages = 0;
}

static int count_node(struct nk_placement *p, int node)
{
	if ((size_t)node >= p->n_node_pages) {
		size_t n = (size_t)node + 1;
		uint64_t *v = realloc(p->node_pages, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + p->n_node_pages, 0, (n - p->n_node_pages) * sizeof(*v));
		p->node_pages = v;
		p->n_node_pages = n;
	}
	p->node_pages[node]++;
	return 0;
}

_nk_export_ int nk_placement_measure(pid_t pid, uint64_t addr, uint64_t size, uint64_t page_size,
				     uint64_t max_samples, struct nk_placement *ret, nk_error **err)
{
	struct nk_placement p = {.page_size = page_size};
	_cleanup_free_ void **pages = NULL;
	_cleanup_free_ int *status = NULL;

	if (!page_size || size % page_size)
		return nk_error_set(err, EINVAL,
				    "range size %" PRIu64 " is not a multiple of the "
				    "page size %" PRIu64,
				    size, page_size);
	if (!max_samples)
		max_samples = DEFAULT_SAMPLES;
	p.pages = size / page_size;
	p.exact = p.pages <= max_samples;
	p.sampled = p.exact ? p.pages : max_samples;
	pages = malloc(BATCH * sizeof(*pages));
	status = malloc(BATCH * sizeof(*status));
	if (!pages || !status)
		return nk_error_set(err, ENOMEM, "out of memory");

	/* Stratified uniform sample: one page from each of `sampled` equal
	 * strata, at a pseudo-random position inside it. */
	uint64_t rng = 0x9e3779b97f4a7c15ull ^ addr;
	for (uint64_t i = 0; i < p.sampled;) {
		unsigned n = 0;
		for (; n < BATCH && i < p.sampled; n++, i++) {
			uint64_t index = i;
			if (!p.exact) {
				uint64_t lo = i * p.pages / p.sampled;
				uint64_t hi = (i + 1) * p.pages / p.sampled;
				rng ^= rng << 13;
				rng ^= rng >> 7;
				rng ^= rng << 17;
				index = lo + (hi > lo ? rng % (hi - lo) : 0);
			}
			pages[n] = (void *)(uintptr_t)(addr + index * page_size);
		}
		if (move_pages(pid, n, pages, NULL, status, 0) < 0) {
			int e = errno;
			nk_placement_done(&p);
			if (e == ESRCH)
				return nk_error_set(err, ESRCH, "process %d is gone", (int)pid);
			nk_error_set(err, e, "move_pages on process %d: %s", (int)pid, strerror(e));
			return e == EPERM ? nk_error_hint(err, "run as root (CAP_SYS_NICE)") : -e;
		}
		for (unsigned k = 0; k < n; k++) {
			if (status[k] >= 0) {
				if (count_node(&p, status[k]) < 0) {
					nk_placement_done(&p);
					return nk_error_set(err, ENOMEM, "out of memory");
				}
			} else if (status[k] == -ENOENT) {
				p.not_present++;
			} else {
				p.other++;
			}
		}
	}
	if (!p.exact) {
		/* Scale to the whole range; the 95% bound of a proportion from
		 * k samples is 1.96 * sqrt(q (1 - q) / k), in pages. */
		double worst = 0;
		double scale = (double)p.pages / (double)p.sampled;
		for (size_t n = 0; n < p.n_node_pages; n++) {
			double q = (double)p.node_pages[n] / (double)p.sampled;
			double b = 1.96 * sqrt(q * (1 - q) / (double)p.sampled) * (double)p.pages;
			if (b > worst)
				worst = b;
			p.node_pages[n] = (uint64_t)llround((double)p.node_pages[n] * scale);
		}
		p.not_present = (uint64_t)llround((double)p.not_present * scale);
		p.other = (uint64_t)llround((double)p.other * scale);
		/* At least the bound of one sample in a stratum. */
		p.error_pages = worst > scale ? worst : scale;
	}
	*ret = p;
	return 0;
}

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
