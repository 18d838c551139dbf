/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The audit of shared frames: every present page of each VM's guest RAM is
 * looked up in its pagemap; the frames not mapped by one process alone are
 * collected (frame, VM, address), sorted by frame, and each frame mapped by
 * VMs of two groups is a cross-group page.  Only shared frames are kept, so
 * the memory used is that of what is shared, not of the guest RAM.
 */
#include "basic.h"
#include "pagemap-internal.h"
#include "numaksm/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define BATCH 4096u /* pagemap entries read at once */

struct mapping {
	uint64_t pfn;
	uint64_t addr;
	uint32_t vm;
};

struct collect {
	struct mapping *m;
	size_t n, cap;
	bool saw_pfn;	  /* a present page with a frame number: CAP_SYS_ADMIN */
	bool saw_present; /* a present page at all */
};

static int collect_add(struct collect *c, uint64_t pfn, uint64_t addr, uint32_t vm)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 4096;
		struct mapping *m = realloc(c->m, cap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		c->m = m;
		c->cap = cap;
	}
	c->m[c->n++] = (struct mapping){pfn, addr, vm};
	return 0;
}

/* The shared frames of [start, start + size), pages of `page_size`. */
static int read_region(struct collect *c, struct nk_audit *a, uint32_t vm, int pagemap,
		       uint64_t start, uint64_t size)
{
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE), entries[BATCH];
	for (uint64_t off = 0; off < size; off += (uint64_t)BATCH * ps) {
		size_t want = (size - off) / ps < BATCH ? (size_t)((size - off) / ps) : BATCH;
		ssize_t got = pread(pagemap, entries, want * sizeof(uint64_t),
				    (off_t)((start + off) / ps * 8));
		if (got < 0)
			return -errno;
		for (size_t i = 0; i < (size_t)got / sizeof(uint64_t); i++) {
			uint64_t e = entries[i];
			if (!(e & PM_PRESENT) || (e & PM_SWAP))
				continue;
			a->read_pages[vm]++;
			c->saw_present = true;
			if (e & PM_PFN)
				c->saw_pfn = true;
			if ((e & PM_EXCLUSIVE) || !(e & PM_PFN))
				continue;
			a->shared_pages[vm]++;
			int r = collect_add(c, e & PM_PFN, start + off + i * ps, vm);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int read_vm(nk_host *host, struct collect *c, struct nk_audit *a,
		   const struct nk_vm_ref *ref, uint32_t vm, nk_error **err)
{
	struct nk_vm_info *info = NULL;
	int r = nk_vm_read(host, ref, NULL, 0, &info, err);
	if (r < 0)
		return r;
	int fd = pagemap_open(ref->pid, err);
	if (fd < 0) {
		nk_vm_info_free(info);
		return fd;
	}
	for (size_t i = 0; r >= 0 && i < info->n_regions; i++)
		r = read_region(c, a, vm, fd, info->regions[i].start, info->regions[i].size_bytes);
	close(fd);
	nk_vm_info_free(info);
	if (r == -ENOMEM)
		return r;
	return r < 0 && r != -ESRCH ? nk_error_set(err, -r, "reading %s (PID %d): %s", ref->name,
						   ref->pid, strerror(-r))
				    : r;
}

static int by_frame(const void *x, const void *y)
{
	const struct mapping *a = x, *b = y;
	if (a->pfn != b->pfn)
		return a->pfn < b->pfn ? -1 : 1;
	return a->vm < b->vm ? -1 : a->vm > b->vm;
}

static uint64_t frame_flags(int kpageflags, uint64_t pfn)
{
	uint64_t flags = 0;
	if (kpageflags < 0 ||
	    pread(kpageflags, &flags, sizeof(flags), (off_t)(pfn * 8)) != sizeof(flags))
		return 0;
	return flags;
}

/* The frames of m[0 .. n) (one frame, sorted by VM). */
static void judge_frame(struct nk_audit *a, const struct mapping *m, size_t n, const int *group,
			int kpageflags)
{
	bool cross = false, several = false;
	for (size_t i = 1; i < n; i++) {
		several |= m[i].vm != m[0].vm;
		cross |= group[m[i].vm] != group[m[0].vm];
	}
	if (!several)
		return; /* shared with a process that is not one of these VMs */
	if (!cross) {
		a->within_frames++;
		return;
	}
	uint64_t flags = frame_flags(kpageflags, m[0].pfn);
	if (flags & (UINT64_C(1) << KPF_ZERO_PAGE)) {
		a->zero_frames++;
		return;
	}
	a->cross_frames++;
	if (flags & (UINT64_C(1) << KPF_KSM))
		a->cross_ksm_frames++;
	/* Each pair of VMs of two groups, once (m is sorted by VM). */
	const struct mapping *first_b = NULL;
	for (size_t i = 0; i < n; i++) {
		if (i && m[i].vm == m[i - 1].vm)
			continue;
		for (size_t j = i + 1; j < n; j++) {
			if (m[j].vm == m[j - 1].vm || group[m[i].vm] == group[m[j].vm])
				continue;
			a->pair_frames[m[i].vm * a->n_vms + m[j].vm]++;
			a->pair_frames[m[j].vm * a->n_vms + m[i].vm]++;
			if (!first_b && i == 0)
				first_b = &m[j];
		}
	}
	if (a->n_pages < NK_AUDIT_PAGES_MAX && first_b)
		a->pages[a->n_pages++] = (struct nk_audit_page){
		    m[0].pfn, flags, m[0].vm, first_b->vm, m[0].addr, first_b->addr,
		};
}

_nk_export_ struct nk_audit *nk_audit_free(struct nk_audit *a)
{
	if (!a)
		return NULL;
	for (size_t i = 0; a->errors && i < a->n_vms; i++)
		free(a->errors[i]);
	free(a->errors);
	free(a->read_pages);
	free(a->shared_pages);
	free(a->pair_frames);
	free(a->pages);
	free(a);
	return NULL;
}

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

_nk_export_ int nk_audit_shared(nk_host *host, const struct nk_vm_ref *vms, size_t n,
				const int *group, struct nk_audit **ret, nk_error **err)
{
	if (!nk_host_is_live(host))
		return nk_error_set(err, EINVAL,
				    "the audit reads the VMs' page frames: not on a captured tree");
	double start = wall_s();
	struct nk_audit *a = calloc(1, sizeof(*a));
	struct collect c = {0};
	if (!a)
		return nk_error_set(err, ENOMEM, "out of memory");
	a->n_vms = n;
	a->errors = calloc(n ? n : 1, sizeof(*a->errors));
	a->read_pages = calloc(n ? n : 1, sizeof(*a->read_pages));
	a->shared_pages = calloc(n ? n : 1, sizeof(*a->shared_pages));
	a->pair_frames = calloc(n ? n * n : 1, sizeof(*a->pair_frames));
	a->pages = calloc(NK_AUDIT_PAGES_MAX, sizeof(*a->pages));
	int r = a->errors && a->read_pages && a->shared_pages && a->pair_frames && a->pages
		    ? 0
		    : -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		nk_error *e = NULL;
		int rv = read_vm(host, &c, a, &vms[i], (uint32_t)i, &e);
		if (rv == -ENOMEM)
			r = rv;
		else if (rv == -ESRCH)
			a->errors[i] = strdup("it ended while being read");
		else if (rv < 0)
			a->errors[i] = strdup(nk_error_message(e));
		if (rv < 0 && rv != -ENOMEM && !a->errors[i])
			r = -ENOMEM;
		nk_error_free(e);
	}
	if (r == 0 && c.saw_present && !c.saw_pfn) {
		free(c.m);
		nk_audit_free(a);
		nk_error_set(err, EPERM,
			     "the kernel hides page frame numbers in /proc/PID/pagemap from this "
			     "process");
		return nk_error_hint(err, "run it as root (CAP_SYS_ADMIN)");
	}
	if (r == 0) {
		int kpageflags = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
		if (c.n)
			qsort(c.m, c.n, sizeof(*c.m), by_frame);
		for (size_t i = 0; i < c.n;) {
			size_t j = i + 1;
			while (j < c.n && c.m[j].pfn == c.m[i].pfn)
				j++;
			judge_frame(a, c.m + i, j - i, group, kpageflags);
			i = j;
		}
		if (kpageflags >= 0)
			close(kpageflags);
	}
	free(c.m);
	if (r < 0) {
		nk_audit_free(a);
		return nk_error_set(err, ENOMEM, "out of memory");
	}
	a->wall_seconds = wall_s() - start;
	*ret = a;
	return 0;
}
