/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where a process' pages are.  move_pages() with a NULL node array only
 * reports (get_mempolicy(MPOL_F_ADDR) would allocate absent pages); large
 * ranges are sampled uniformly with a stated bound.
 */
#include "basic.h"
#include "pagemap-internal.h"
#include "numaksm/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <numaif.h>
#include <unistd.h>

#define DEFAULT_SAMPLES (64u * 1024)
#define BATCH		(16u * 1024)

_nk_export_ void nk_placement_done(struct nk_placement *p)
{
	free(p->node_pages);
	free(p->node_ksm_pages);
	p->node_pages = p->node_ksm_pages = NULL;
	p->n_node_pages = 0;
}

static int grow(uint64_t **v, size_t from, size_t n)
{
	uint64_t *w = realloc(*v, n * sizeof(*w));
	if (!w)
		return -ENOMEM;
	memset(w + from, 0, (n - from) * sizeof(*w));
	*v = w;
	return 0;
}

static int count_node(struct nk_placement *p, int node, bool ksm)
{
	if ((size_t)node >= p->n_node_pages) {
		size_t n = (size_t)node + 1;
		if (grow(&p->node_pages, p->n_node_pages, n) < 0 ||
		    (p->has_ksm && grow(&p->node_ksm_pages, p->n_node_pages, n) < 0))
			return -ENOMEM;
		p->n_node_pages = n;
	}
	p->node_pages[node]++;
	if (ksm)
		p->node_ksm_pages[node]++;
	return 0;
}

/* KSM's pages among the present ones: the page frame of each (pagemap,
 * which shows it to CAP_SYS_ADMIN only) and its KPF_KSM flag
 * (/proc/kpageflags, Documentation/admin-guide/mm/pagemap.rst). */

struct ksm_reader {
	int pagemap, kpageflags; /* -1: not looking (not asked, or cannot tell) */
};

static void ksm_reader_open(struct ksm_reader *k, pid_t pid, bool want)
{
	char path[64];
	k->pagemap = k->kpageflags = -1;
	if (!want)
		return;
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	k->pagemap = open(path, O_RDONLY | O_CLOEXEC);
	k->kpageflags = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	if (k->pagemap < 0 || k->kpageflags < 0) {
		nk_closep(&k->pagemap);
		nk_closep(&k->kpageflags);
		k->pagemap = k->kpageflags = -1;
	}
}

static void ksm_reader_close(struct ksm_reader *k)
{
	nk_closep(&k->pagemap);
	nk_closep(&k->kpageflags);
}

/* 1 when the page at `addr` is a KSM page, 0 when not, -1 when that cannot
 * be told (no page frame shown: not privileged). */
static int ksm_page(const struct ksm_reader *k, uint64_t addr)
{
	uint64_t entry, flags;
	off_t at = (off_t)(addr / 4096 * sizeof(entry));
	if (pread(k->pagemap, &entry, sizeof(entry), at) != (ssize_t)sizeof(entry))
		return -1;
	if (!(entry & PM_PRESENT))
		return 0; /* gone since move_pages looked */
	uint64_t pfn = entry & PM_PFN;
	if (!pfn)
		return -1;
	if (pread(k->kpageflags, &flags, sizeof(flags), (off_t)(pfn * sizeof(flags))) !=
	    (ssize_t)sizeof(flags))
		return -1;
	return (flags >> KPF_KSM) & 1;
}

/* Whether `pid` has exited or lost its memory (exiting, a zombie): then
 * move_pages() says EINVAL, and the process is as good as gone. */
static bool process_gone(pid_t pid)
{
	char path[64], text[1024];
	struct nk_proc_stat st = {0};
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	if (n <= 0)
		return n == 0 || errno == ESRCH;
	text[n] = '\0';
	if (nk_proc_stat_parse(text, &st) < 0)
		return false;
	bool gone = st.state == 'Z' || st.state == 'X' || st.rss_pages == 0;
	nk_proc_stat_done(&st);
	return gone;
}

_nk_export_ int nk_placement_measure(pid_t pid, uint64_t addr, uint64_t size, uint64_t page_size,
				     uint64_t max_samples, struct nk_placement *ret, nk_error **err)
{
	return nk_placement_measure_flags(pid, addr, size, page_size, max_samples, 0, ret, err);
}

_nk_export_ int nk_placement_measure_flags(pid_t pid, uint64_t addr, uint64_t size,
					   uint64_t page_size, uint64_t max_samples, unsigned flags,
					   struct nk_placement *ret, nk_error **err)
{
	/* KSM merges 4 KiB pages only. */
	bool want_ksm = (flags & NK_PLACEMENT_KSM) && page_size == 4096;
	struct nk_placement p = {.page_size = page_size, .has_ksm = want_ksm};
	struct ksm_reader k;
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
	ksm_reader_open(&k, pid, want_ksm);
	p.has_ksm = k.pagemap >= 0;

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
			ksm_reader_close(&k);
			nk_placement_done(&p);
			if (e == ESRCH || (e == EINVAL && process_gone(pid)))
				return nk_error_set(err, ESRCH, "process %d is gone", (int)pid);
			nk_error_set(err, e, "move_pages on process %d: %s", (int)pid, strerror(e));
			return e == EPERM ? nk_error_hint(err, "run as root (CAP_SYS_NICE)") : -e;
		}
		for (unsigned j = 0; j < n; j++) {
			if (status[j] >= 0) {
				int ksm =
				    p.has_ksm ? ksm_page(&k, (uint64_t)(uintptr_t)pages[j]) : 0;
				if (ksm < 0) { /* not privileged: cannot tell */
					p.has_ksm = false;
					ksm = 0;
				}
				if (count_node(&p, status[j], ksm) < 0) {
					ksm_reader_close(&k);
					nk_placement_done(&p);
					return nk_error_set(err, ENOMEM, "out of memory");
				}
			} else if (status[j] == -ENOENT) {
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
			if (p.node_ksm_pages)
				p.node_ksm_pages[n] =
				    (uint64_t)llround((double)p.node_ksm_pages[n] * scale);
		}
		p.not_present = (uint64_t)llround((double)p.not_present * scale);
		p.other = (uint64_t)llround((double)p.other * scale);
		/* At least the bound of one sample in a stratum. */
		p.error_pages = worst > scale ? worst : scale;
	}
	ksm_reader_close(&k);
	if (!p.has_ksm) { /* asked, but not privileged: none counted */
		free(p.node_ksm_pages);
		p.node_ksm_pages = NULL;
	}
	*ret = p;
	return 0;
}
