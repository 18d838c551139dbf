/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * KSM's saving, predicted from the content of the VMs' guest RAM.  Only
 * pages /proc/PID/pagemap shows present are read (process_vm_readv, in
 * runs of up to BATCH pages), so nothing is faulted in; a page that goes
 * away meanwhile ends the run short.  Each page is hashed with XXH3 (Debian's
 * libxxhash: fast, and its 64 bits make a collision between two of a few
 * million pages a 1-in-10^6 event); a content is kept when the top bits of
 * its hash fall in the sampled bucket, so that all its copies are kept
 * together.  Counts are kept per content, per VM and per node.
 */
#include "basic.h"
#include "pagemap-internal.h"
#include "numaksm/estimate.h"
#include "numaksm/ksm.h"
#include "numaksm/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <numaif.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define BATCH		512u /* pages read per process_vm_readv() */
#define MAX_NODES	1024
#define HUGE_ZERO_BYTES (UINT64_C(2) << 20) /* the huge zero page, x86-64 */
#define Z95		1.959964

/* ---- the table of contents: hash -> cells (vm, node, count) ------------- */

struct cell {
	uint32_t next; /* index + 1 of the next cell of the content; 0 ends */
	uint32_t vm;
	uint32_t node;
	uint32_t count;
};

struct slot {
	uint64_t hash;
	uint64_t unit;	/* what decided it was kept: its hash, or its prefix's */
	uint32_t first; /* index + 1 of its first cell; 0: empty slot */
};

struct table {
	struct slot *slots;
	size_t cap, used; /* cap: a power of two */
	struct cell *cells;
	size_t n_cells, cells_cap;
};

/* What nk_estimate_saving_if() and nk_estimate_plan() need of a run: the
 * kept contents and each VM's pages of zeros. */
struct nk_estimate_contents {
	struct table table;
	uint64_t *vm_zeros; /* [n_vms] */
};

static void table_done(struct table *t)
{
	free(t->slots);
	free(t->cells);
}

static int table_grow(struct table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 1u << 16;
	struct slot *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->slots[i].first)
			continue;
		size_t k = (size_t)t->slots[i].hash & (cap - 1);
		while (slots[k].first)
			k = (k + 1) & (cap - 1);
		slots[k] = t->slots[i];
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

static int new_cell(struct table *t, uint32_t next, uint32_t vm, uint32_t node, uint32_t *ret)
{
	if (t->n_cells == t->cells_cap) {
		size_t cap = t->cells_cap ? t->cells_cap * 2 : 1u << 16;
		if (cap >= UINT32_MAX)
			return -ENOMEM;
		struct cell *c = realloc(t->cells, cap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->cells_cap = cap;
	}
	t->cells[t->n_cells] = (struct cell){.next = next, .vm = vm, .node = node, .count = 1};
	*ret = (uint32_t)++t->n_cells;
	return 0;
}

static int table_add(struct table *t, uint64_t hash, uint64_t unit, uint32_t vm, uint32_t node)
{
	if ((t->used + 1) * 2 > t->cap && table_grow(t) < 0)
		return -ENOMEM;
	size_t k = (size_t)hash & (t->cap - 1);
	while (t->slots[k].first && t->slots[k].hash != hash)
		k = (k + 1) & (t->cap - 1);
	struct slot *s = &t->slots[k];
	if (s->first) {
		for (uint32_t c = s->first; c; c = t->cells[c - 1].next)
			if (t->cells[c - 1].vm == vm && t->cells[c - 1].node == node) {
				t->cells[c - 1].count++;
				return 0;
			}
	} else {
		s->hash = hash;
		s->unit = unit;
		t->used++;
	}
	return new_cell(t, s->first, vm, node, &s->first);
}

/* ---- reading one VM -------------------------------------------------------- */

struct reader {
	struct nk_estimate *e;
	struct table table;
	uint64_t sample_mask;	   /* a content is kept when (hash >> 32) & mask == 0 */
	uint64_t zero_pfn;	   /* the shared zero page's frame; 0 when not known */
	uint64_t huge_zero_pfn;	   /* the huge zero page's first frame; 0 when none */
	uint64_t zero_hash;	   /* XXH3 of a page of zeros */
	uint64_t *zero_node_pages; /* [MAX_NODES]: pages of zeros per node, all VMs */
	uint64_t **vm_zero_node;   /* [vm][MAX_NODES] */
	uint8_t *buf;		   /* BATCH pages */
	double budget, start_wall, start_cpu;
	bool query_nodes;
};

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleep as long as keeps the CPU used since the start under the budget. */
static void throttle(const struct reader *rd)
{
	double cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - rd->start_cpu;
	double wall = clock_s(CLOCK_MONOTONIC) - rd->start_wall;
	double ahead = cpu / rd->budget - wall;
	if (ahead > 0.001) {
		struct timespec ts = {(time_t)ahead, (long)((ahead - (double)(time_t)ahead) * 1e9)};
		nanosleep(&ts, NULL);
	}
}

/* The frame this process finds mapped after reading untouched private
 * memory of `len` bytes at an address aligned to `len`, with `advice`:
 * the shared zero page (MADV_NORMAL on a page), or the huge zero page's
 * first frame (MADV_HUGEPAGE on 2 MiB, where THP may use it).  0 without
 * CAP_SYS_ADMIN, or when none is mapped. */
static uint64_t find_zero_pfn(uint64_t page_size, uint64_t len, int advice)
{
	uint64_t entry = 0;
	uint8_t *map = mmap(NULL, 2 * len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return 0;
	volatile uint8_t *p = (uint8_t *)(((uintptr_t)map + len - 1) & ~(uintptr_t)(len - 1));
	madvise((void *)p, len, advice);
	(void)p[0];
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (pread(fd, &entry, sizeof(entry), (off_t)((uintptr_t)p / page_size * 8)) !=
		    sizeof(entry))
			entry = 0;
		close(fd);
	}
	uint64_t pfn = (entry & PM_PRESENT) ? entry & PM_PFN : 0, flags = 0;
	/* Only a zero page (KPF_ZERO_PAGE): a kernel that gives a read fault a
	 * huge page of its own would otherwise name a frame soon reused. */
	fd = pfn ? open("/proc/kpageflags", O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		if (pread(fd, &flags, sizeof(flags), (off_t)(pfn * 8)) != sizeof(flags))
			flags = 0;
		close(fd);
	}
	munmap(map, 2 * len);
	return flags & (UINT64_C(1) << KPF_ZERO_PAGE) ? pfn : 0;
}

static bool all_zero(const uint8_t *p, uint64_t size)
{
	return p[0] == 0 && memcmp(p, p + 1, size - 1) == 0;
}

/* Count one page of VM `vm` on `node`, read whole.  `unit` is the hash of
 * its prefix when that kept it (sampled by prefix), else 0: kept by its own
 * hash, and zero pages counted apart. */
static int count_page(struct reader *rd, uint32_t vm, int node, const uint8_t *page, uint64_t unit)
{
	struct nk_estimate *e = rd->e;
	uint64_t h = XXH3_64bits(page, e->page_size);
	if (!unit && h == rd->zero_hash && all_zero(page, e->page_size)) {
		e->vms[vm].zero_pages++;
		rd->zero_node_pages[node]++;
		rd->vm_zero_node[vm][node]++;
		return 0;
	}
	if (!unit && ((h >> 32) & rd->sample_mask))
		return 0; /* its content is not in the sample */
	return table_add(&rd->table, h, unit ? unit : h, vm, (uint32_t)node);
}

/* process_vm_readv() of `n` pieces of `len` bytes at `addrs` into `out`,
 * neighbouring pieces read as one.  @return the pieces read whole: a page
 * gone meanwhile ends the run. */
static ssize_t read_pieces(pid_t pid, void *const *addrs, size_t n, size_t len, uint8_t *out)
{
	struct iovec local = {out, n * len}, remote[BATCH];
	size_t n_iov = 0;
	for (size_t i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)addrs[i];
		if (n_iov && (uintptr_t)remote[n_iov - 1].iov_base + remote[n_iov - 1].iov_len == a)
			remote[n_iov - 1].iov_len += len;
		else
			remote[n_iov++] = (struct iovec){(void *)a, len};
	}
	ssize_t r = n ? process_vm_readv(pid, &local, 1, remote, n_iov, 0) : 0;
	return r < 0 ? -errno : r / (ssize_t)len;
}

#define PREFIX 64 /* bytes of a page read first when sampling */

/* Sampling: the first PREFIX bytes of each page decide which pages are read
 * whole.  A page starting with zeros is read whole (zero pages are counted
 * exactly); another when its prefix's hash falls in the sample.  Copies of a
 * content share their prefix, so they are kept or left together. */
static int count_sampled(struct reader *rd, uint32_t vm, pid_t pid, void **addrs, size_t n,
			 const int *nodes)
{
	static const uint8_t zeros[PREFIX];
	uint8_t prefixes[BATCH * PREFIX];
	void *whole[BATCH];
	uint64_t units[BATCH];
	int whole_nodes[BATCH];
	size_t k = 0;
	ssize_t got = read_pieces(pid, addrs, n, PREFIX, prefixes);
	if (got < 0)
		return (int)got;
	for (size_t i = 0; i < (size_t)got; i++) {
		const uint8_t *p = prefixes + i * PREFIX;
		uint64_t ph = memcmp(p, zeros, PREFIX) ? XXH3_64bits(p, PREFIX) : 0;
		int node = nodes ? nodes[i] : 0;
		rd->e->vms[vm].read_pages++;
		rd->e->vms[vm].node_read_pages[node]++;
		if (ph && ((ph >> 32) & rd->sample_mask))
			continue;
		whole[k] = addrs[i];
		units[k] = ph;
		whole_nodes[k++] = node;
	}
	got = read_pieces(pid, whole, k, rd->e->page_size, rd->buf);
	for (size_t i = 0; got > 0 && i < (size_t)got; i++) {
		int r =
		    count_page(rd, vm, whole_nodes[i], rd->buf + i * rd->e->page_size, units[i]);
		if (r < 0)
			return r;
	}
	return got < 0 ? (int)got : 0;
}

/* Read the present pages of [start, start + size) of VM `vm`. */
static int read_region(struct reader *rd, uint32_t vm, int pagemap, uint64_t start, uint64_t size)
{
	struct nk_estimate *e = rd->e;
	struct nk_estimate_vm *v = &e->vms[vm];
	uint64_t ps = e->page_size, entries[BATCH];
	void *addrs[BATCH];
	int status[BATCH];

	for (uint64_t off = 0; off < size; off += (uint64_t)BATCH * ps) {
		size_t want = (size - off) / ps < BATCH ? (size_t)((size - off) / ps) : BATCH;
		uint64_t first = (start + off) / ps;
		ssize_t got = pread(pagemap, entries, want * sizeof(uint64_t), (off_t)(first * 8));
		if (got < 0)
			return errno == ESRCH ? -ESRCH : -errno;
		size_t n_entries = (size_t)got / sizeof(uint64_t), n = 0;
		for (size_t i = 0; i < n_entries; i++) {
			if (!(entries[i] & PM_PRESENT) || (entries[i] & PM_SWAP))
				continue;
			uint64_t pfn = entries[i] & PM_PFN;
			if ((rd->zero_pfn && pfn == rd->zero_pfn) ||
			    (rd->huge_zero_pfn && pfn >= rd->huge_zero_pfn &&
			     pfn < rd->huge_zero_pfn + HUGE_ZERO_BYTES / ps)) {
				v->zero_mapped++;
				continue;
			}
			addrs[n++] = (void *)(uintptr_t)(start + off + (uint64_t)i * ps);
		}
		if (!n)
			continue;
		bool nodes = rd->query_nodes &&
			     move_pages(v->ref.pid, (unsigned long)n, addrs, NULL, status, 0) == 0;
		if (rd->query_nodes && !nodes)
			e->nodes_known = false;
		for (size_t i = 0; nodes && i < n; i++)
			if (status[i] < 0 || status[i] >= MAX_NODES)
				status[i] = 0;
		int r;
		if (rd->sample_mask) {
			r = count_sampled(rd, vm, v->ref.pid, addrs, n, nodes ? status : NULL);
		} else {
			ssize_t whole = read_pieces(v->ref.pid, addrs, n, ps, rd->buf);
			r = whole < 0 ? (int)whole : 0;
			for (size_t i = 0; r == 0 && i < (size_t)whole; i++) {
				int node = nodes ? status[i] : 0;
				v->read_pages++;
				v->node_read_pages[node]++;
				r = count_page(rd, vm, node, rd->buf + i * ps, 0);
			}
		}
		if (r < 0)
			return r;
		throttle(rd);
	}
	return 0;
}

static int read_vm(nk_host *host, struct reader *rd, uint32_t vm,
		   const struct nk_estimate_options *o, nk_error **err)
{
	struct nk_estimate_vm *v = &rd->e->vms[vm];
	struct nk_vm_info *info = NULL;
	int r = nk_vm_read(host, &v->ref, NULL, 0, &info, err);
	if (r < 0)
		return r;
	if (info->has_ksm && info->ksm.has_zero_pages)
		v->ksm_zero_pages = info->ksm.zero_pages;
	int fd = pagemap_open(v->ref.pid, err);
	if (fd < 0) {
		nk_vm_info_free(info);
		return fd;
	}
	for (size_t i = 0; r >= 0 && i < info->n_regions; i++) {
		const struct nk_vm_region *g = &info->regions[i];
		/* KSM merges no hugetlb page. */
		if (g->backing == NK_BACKING_HUGETLB || (!g->mergeable && !o->all_guest_ram))
			continue;
		r = read_region(rd, vm, fd, g->start, g->size_bytes);
	}
	close(fd);
	nk_vm_info_free(info);
	if (r == -EPERM || r == -EACCES)
		return nk_error_set(err, -r, "cannot read the memory of %s (PID %d): %s",
				    v->ref.name, v->ref.pid, strerror(-r));
	return r < 0 && r != -ESRCH ? nk_error_set(err, -r, "reading %s (PID %d): %s", v->ref.name,
						   v->ref.pid, strerror(-r))
				    : r;
}

/* ---- from counts to savings ------------------------------------------------- */

_nk_export_ uint64_t nk_estimate_group_saving(uint64_t n, uint64_t max_page_sharing)
{
	if (n < 2)
		return 0;
	if (max_page_sharing < 2)
		max_page_sharing = 2;
	return n - (n + max_page_sharing - 1) / max_page_sharing;
}

/* Savings of the zero pages: the zero page takes them all, or they merge
 * like any content. */
static double zero_saving(const struct nk_estimate *e, uint64_t n)
{
	return e->use_zero_pages ? (double)n
				 : (double)nk_estimate_group_saving(n, e->max_page_sharing);
}

/* A kept content's saving, by the unit that decided it was kept. */
struct unit_saving {
	uint64_t unit;
	double saved;
};

static int by_unit(const void *a, const void *b)
{
	uint64_t x = ((const struct unit_saving *)a)->unit,
		 y = ((const struct unit_saving *)b)->unit;
	return x < y ? -1 : x > y;
}

/* The Horvitz-Thompson variance of a saving scaled up `scale` times: the
 * units (contents, or the prefixes that kept them) were each kept with
 * probability 1/scale, so Var = scale (scale - 1) sum(unit's saving^2). */
static double ht_variance(struct unit_saving *u, size_t n, double scale)
{
	double var = 0;
	qsort(u, n, sizeof(*u), by_unit);
	for (size_t i = 0; i < n;) {
		double y = 0;
		size_t j = i;
		for (; j < n && u[j].unit == u[i].unit; j++)
			y += u[j].saved;
		var += y * y;
		i = j;
	}
	return scale * (scale - 1) * var;
}

static int add_up(struct reader *rd)
{
	struct nk_estimate *e = rd->e;
	struct table *t = &rd->table;
	size_t nv = e->n_vms, nn = e->n_nodes, nu = 0;
	double scale = (double)e->sample, var = 0;
	uint64_t *per_vm = calloc(nv, sizeof(*per_vm)), *per_node = calloc(nn, sizeof(*per_node));
	double *node_var = calloc(nn, sizeof(*node_var));
	/* Per kept content: its unit, its saving, then its saving on each node. */
	struct unit_saving *units = calloc((t->used ? t->used : 1) * (1 + nn), sizeof(*units));
	int r = per_vm && per_node && node_var && units ? 0 : -ENOMEM;

	for (size_t s = 0; r == 0 && s < t->cap; s++) {
		if (!t->slots[s].first)
			continue;
		e->distinct_kept++;
		uint64_t total = 0;
		memset(per_vm, 0, nv * sizeof(*per_vm));
		memset(per_node, 0, nn * sizeof(*per_node));
		for (uint32_t c = t->slots[s].first; c; c = t->cells[c - 1].next) {
			const struct cell *cell = &t->cells[c - 1];
			per_vm[cell->vm] += cell->count;
			if (cell->node < nn)
				per_node[cell->node] += cell->count;
			total += cell->count;
		}
		double saved = (double)nk_estimate_group_saving(total, e->max_page_sharing);
		e->saved_pages += scale * saved;
		units[nu * (1 + nn)] = (struct unit_saving){t->slots[s].unit, saved};
		for (size_t n = 0; n < nn; n++) {
			double ns =
			    (double)nk_estimate_group_saving(per_node[n], e->max_page_sharing);
			e->node_saved_pages[n] += scale * ns;
			units[nu * (1 + nn) + 1 + n] = (struct unit_saving){t->slots[s].unit, ns};
		}
		nu++;
		for (size_t i = 0; i < nv; i++) {
			if (!per_vm[i])
				continue;
			struct nk_estimate_vm *v = &e->vms[i];
			v->saved_pages += scale * saved * (double)per_vm[i] / (double)total;
			v->inside_pages += scale * (double)nk_estimate_group_saving(
						       per_vm[i], e->max_page_sharing);
			for (size_t j = 0; j < nv; j++)
				if (j != i && per_vm[j])
					v->shared_pages[j] += scale * (double)per_vm[i];
		}
	}
	if (r == 0 && scale > 1) {
		/* Each column (the host, each node) apart. */
		struct unit_saving *col = malloc((nu ? nu : 1) * sizeof(*col));
		for (size_t k = 0; col && k <= nn; k++) {
			for (size_t i = 0; i < nu; i++)
				col[i] = units[i * (1 + nn) + k];
			double v = ht_variance(col, nu, scale);
			if (k == 0)
				var = v;
			else
				node_var[k - 1] = v;
		}
		if (!col)
			r = -ENOMEM;
		free(col);
	}
	if (r == 0) {
		/* Pages of zeros: counted whole, no sampling error. */
		uint64_t zeros = 0;
		for (size_t n = 0; n < nn; n++)
			zeros += rd->zero_node_pages[n];
		double zsaved = zero_saving(e, zeros);
		e->saved_pages += zsaved;
		for (size_t n = 0; n < nn; n++)
			e->node_saved_pages[n] += zero_saving(e, rd->zero_node_pages[n]);
		for (size_t i = 0; i < nv; i++) {
			struct nk_estimate_vm *v = &e->vms[i];
			if (zeros)
				v->saved_pages += zsaved * (double)v->zero_pages / (double)zeros;
			v->inside_pages += zero_saving(e, v->zero_pages);
			/* What KSM already put on the zero page stays saved. */
			if (e->use_zero_pages) {
				v->saved_pages += (double)v->ksm_zero_pages;
				v->inside_pages += (double)v->ksm_zero_pages;
				e->saved_pages += (double)v->ksm_zero_pages;
			}
			for (size_t j = 0; j < nv; j++)
				if (j != i && e->vms[j].zero_pages)
					v->shared_pages[j] += (double)v->zero_pages;
		}
		e->saved_error = Z95 * sqrt(var);
		for (size_t n = 0; n < nn; n++) {
			e->node_saved_error[n] = Z95 * sqrt(node_var[n]);
			e->node_saved_total += e->node_saved_pages[n];
			e->node_saved_error_total += node_var[n];
		}
		e->node_saved_error_total = Z95 * sqrt(e->node_saved_error_total);
	}
	free(per_vm);
	free(per_node);
	free(node_var);
	free(units);
	return r;
}

/* ---- the whole run ----------------------------------------------------------- */

_nk_export_ struct nk_estimate *nk_estimate_free(struct nk_estimate *e)
{
	if (!e)
		return NULL;
	for (size_t i = 0; i < e->n_vms; i++) {
		nk_vm_ref_done(&e->vms[i].ref);
		free(e->vms[i].error);
		free(e->vms[i].shared_pages);
		free(e->vms[i].node_read_pages);
	}
	free(e->vms);
	free(e->node_saved_pages);
	free(e->node_saved_error);
	if (e->contents) {
		table_done(&e->contents->table);
		free(e->contents->vm_zeros);
		free(e->contents);
	}
	free(e);
	return NULL;
}

/* How many NUMA nodes the host has: with one, every page is on it. */
static int node_count(nk_host *host)
{
	_cleanup_strv_ char **names = NULL;
	return nk_host_list(host, "/sys/devices/system/node", "node", &names, NULL);
}

static void reader_done(struct reader *rd, size_t n_vms)
{
	table_done(&rd->table);
	free(rd->zero_node_pages);
	for (size_t i = 0; rd->vm_zero_node && i < n_vms; i++)
		free(rd->vm_zero_node[i]);
	free(rd->vm_zero_node);
	free(rd->buf);
}

_nk_export_ int nk_estimate_run(nk_host *host, const struct nk_vm_ref *vms, size_t n_vms,
				const struct nk_estimate_options *options, struct nk_estimate **ret,
				nk_error **err)
{
	struct nk_estimate_options o = options ? *options : (struct nk_estimate_options){0};
	struct reader rd = {0};
	int r = 0;

	if (!nk_host_is_live(host))
		return nk_error_set(err, EINVAL,
				    "estimating reads the VMs' memory: not on a captured tree");
	if (o.cpu_budget == 0)
		o.cpu_budget = 0.5;
	if (!(o.cpu_budget > 0 && o.cpu_budget <= 1))
		return nk_error_set(err, EINVAL,
				    "CPU budget %g: expected a share of a CPU, in (0, 1]",
				    o.cpu_budget);
	if (o.sample == 0)
		o.sample = 1;
	if (o.sample & (o.sample - 1) || o.sample > (1u << 20))
		return nk_error_set(
		    err, EINVAL, "sample 1 in %u: expected a power of two up to 1048576", o.sample);
	if (o.max_page_sharing == 0)
		o.max_page_sharing = 256;

	struct nk_estimate *e = calloc(1, sizeof(*e));
	if (!e)
		return nk_error_set(err, ENOMEM, "out of memory");
	e->sample = o.sample;
	e->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	e->max_page_sharing = o.max_page_sharing;
	e->use_zero_pages = o.use_zero_pages;
	e->n_vms = n_vms;
	e->vms = calloc(n_vms ? n_vms : 1, sizeof(*e->vms));
	rd.e = e;
	rd.sample_mask = o.sample - 1;
	rd.budget = o.cpu_budget;
	rd.buf = malloc(BATCH * e->page_size);
	rd.zero_node_pages = calloc(MAX_NODES, sizeof(*rd.zero_node_pages));
	rd.vm_zero_node = calloc(n_vms ? n_vms : 1, sizeof(*rd.vm_zero_node));
	if (!e->vms || !rd.buf || !rd.zero_node_pages || !rd.vm_zero_node)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < n_vms; i++) {
		struct nk_estimate_vm *v = &e->vms[i];
		r = nk_vm_ref_copy(&vms[i], &v->ref);
		v->shared_pages = calloc(n_vms, sizeof(*v->shared_pages));
		v->node_read_pages = calloc(MAX_NODES, sizeof(*v->node_read_pages));
		rd.vm_zero_node[i] = calloc(MAX_NODES, sizeof(**rd.vm_zero_node));
		if (r == 0 && (!v->shared_pages || !v->node_read_pages || !rd.vm_zero_node[i]))
			r = -ENOMEM;
	}
	if (r < 0) {
		reader_done(&rd, n_vms);
		nk_estimate_free(e);
		return nk_error_set(err, ENOMEM, "out of memory");
	}
	memset(rd.buf, 0, e->page_size);
	rd.zero_hash = XXH3_64bits(rd.buf, e->page_size);
	rd.zero_pfn = find_zero_pfn(e->page_size, e->page_size, MADV_NORMAL);
	/* Memory a guest has only read may be mapped to the huge zero page
	 * (THP): it costs nothing either, and KSM does not merge it. */
	rd.huge_zero_pfn = find_zero_pfn(e->page_size, HUGE_ZERO_BYTES, MADV_HUGEPAGE);
	if (rd.huge_zero_pfn == rd.zero_pfn)
		rd.huge_zero_pfn = 0; /* no THP here: the read mapped the small one */
	rd.query_nodes = node_count(host) > 1;
	e->nodes_known = true; /* one node: every page is on it */
	rd.start_wall = clock_s(CLOCK_MONOTONIC);
	rd.start_cpu = clock_s(CLOCK_THREAD_CPUTIME_ID);

	for (size_t i = 0; i < n_vms; i++) {
		nk_error *e_vm = NULL;
		r = read_vm(host, &rd, (uint32_t)i, &o, &e_vm);
		if (r == -ENOMEM) {
			nk_error_free(e_vm);
			break;
		}
		if (r < 0) {
			const char *m = e_vm ? nk_error_message(e_vm) : "it ended";
			e->vms[i].error = strdup(r == -ESRCH ? "it ended" : m);
			r = 0;
		}
		nk_error_free(e_vm);
		e->read_pages += e->vms[i].read_pages;
	}
	/* The nodes: every id a page was found on. */
	for (size_t n = 0; n < MAX_NODES; n++)
		for (size_t i = 0; i < n_vms; i++)
			if (e->vms[i].node_read_pages[n])
				e->n_nodes = n + 1;
	if (!e->n_nodes)
		e->n_nodes = 1;
	e->node_saved_pages = calloc(e->n_nodes, sizeof(*e->node_saved_pages));
	e->node_saved_error = calloc(e->n_nodes, sizeof(*e->node_saved_error));
	if (r == 0 && (!e->node_saved_pages || !e->node_saved_error))
		r = -ENOMEM;
	if (r == 0)
		r = add_up(&rd);
	if (r == 0) {
		struct nk_estimate_contents *c = calloc(1, sizeof(*c));
		uint64_t *zeros = calloc(n_vms ? n_vms : 1, sizeof(*zeros));
		if (c && zeros) {
			for (size_t i = 0; i < n_vms; i++)
				zeros[i] = e->vms[i].zero_pages;
			c->table = rd.table;
			c->vm_zeros = zeros;
			rd.table = (struct table){0};
			e->contents = c;
		} else {
			free(c);
			free(zeros);
			r = -ENOMEM;
		}
	}
	e->cpu_seconds = clock_s(CLOCK_THREAD_CPUTIME_ID) - rd.start_cpu;
	e->wall_seconds = clock_s(CLOCK_MONOTONIC) - rd.start_wall;
	reader_done(&rd, n_vms);
	if (r < 0) {
		nk_estimate_free(e);
		return nk_error_set(err, -r, "out of memory");
	}
	*ret = e;
	return 0;
}

/* ---- where VMs would share most ----------------------------------------------- */

_nk_export_ int nk_estimate_main_node(const struct nk_estimate *e, size_t vm)
{
	int best = -1;
	uint64_t most = 0;
	for (size_t n = 0; vm < e->n_vms && !e->vms[vm].error && n < e->n_nodes; n++)
		if (e->vms[vm].node_read_pages[n] > most) {
			most = e->vms[vm].node_read_pages[n];
			best = (int)n;
		}
	return best;
}

_nk_export_ double nk_estimate_saving_if(const struct nk_estimate *e, const int *node_of)
{
	const struct nk_estimate_contents *c = e->contents;
	size_t nn = 0;
	double saved = 0;
	if (!c)
		return -1;
	for (size_t i = 0; i < e->n_vms; i++)
		if (node_of[i] >= 0 && (size_t)node_of[i] + 1 > nn)
			nn = (size_t)node_of[i] + 1;
	uint64_t *per_node = calloc(nn ? nn : 1, sizeof(*per_node));
	if (!per_node)
		return -1;
	for (size_t s = 0; s < c->table.cap; s++) {
		if (!c->table.slots[s].first)
			continue;
		memset(per_node, 0, (nn ? nn : 1) * sizeof(*per_node));
		for (uint32_t k = c->table.slots[s].first; k; k = c->table.cells[k - 1].next) {
			const struct cell *cell = &c->table.cells[k - 1];
			if (node_of[cell->vm] >= 0)
				per_node[node_of[cell->vm]] += cell->count;
		}
		for (size_t n = 0; n < nn; n++)
			saved += (double)e->sample *
				 (double)nk_estimate_group_saving(per_node[n], e->max_page_sharing);
	}
	memset(per_node, 0, (nn ? nn : 1) * sizeof(*per_node));
	for (size_t i = 0; i < e->n_vms; i++)
		if (node_of[i] >= 0)
			per_node[node_of[i]] += c->vm_zeros[i];
	for (size_t n = 0; n < nn; n++)
		saved += zero_saving(e, per_node[n]);
	free(per_node);
	return saved;
}

/* The bytes VM `vm` would bring to `node`: its pages not there now. */
static uint64_t bytes_to(const struct nk_estimate *e, size_t vm, int node)
{
	const struct nk_estimate_vm *v = &e->vms[vm];
	uint64_t there = (size_t)node < e->n_nodes ? v->node_read_pages[node] : 0;
	return (v->read_pages - there) * e->page_size;
}

_nk_export_ unsigned nk_estimate_tenant_mixes(const struct nk_estimate *e, const int *tenant,
					      const int *assign)
{
	unsigned mixes = 0;
	for (size_t i = 0; tenant && i < e->n_vms; i++) {
		if (assign[i] < 0)
			continue;
		/* VM i counts when it is the first of its tenant on its node and
		 * another tenant came there before it. */
		bool first = true, other = false;
		for (size_t j = 0; j < i; j++) {
			if (assign[j] != assign[i])
				continue;
			if (tenant[j] == tenant[i])
				first = false;
			else
				other = true;
		}
		mixes += first && other;
	}
	return mixes;
}

/* The plan's objective: the saving, less a node's worth of pages for each
 * tenant more on a node. */
static double plan_score(const struct nk_estimate *e, const int *tenant, const int *assign)
{
	double penalty = (double)(e->read_pages + 1) * (double)e->sample;
	return nk_estimate_saving_if(e, assign) -
	       penalty * (double)nk_estimate_tenant_mixes(e, tenant, assign);
}

/* Move VM i to node n, keeping each node's room. */
static void plan_move(const struct nk_estimate *e, int64_t *room, int *assign, size_t i, int n)
{
	room[n] -= (int64_t)bytes_to(e, i, n);
	room[assign[i]] += (int64_t)(e->vms[i].node_read_pages[assign[i]] * e->page_size);
	assign[i] = n;
}

/* Part the tenants first: on each node holding several, the tenant with
 * most pages there stays; the others' VMs go, a tenant together, to a node
 * holding only that tenant, else to an empty one, while room allows.  Moves
 * of one VM at a time cannot do this when every way out first adds a tenant
 * to another node. */
static void plan_part_tenants(const struct nk_estimate *e, const nk_bitmap *nodes, int64_t *room,
			      size_t n_room, const bool *fixed, const int *tenant, int *assign)
{
	size_t nv = e->n_vms;
	for (size_t i = 0; i < nv; i++) {
		if (e->vms[i].error || assign[i] < 0 || (fixed && fixed[i]))
			continue;
		/* The tenant keeping node assign[i]: most pages read there. */
		int keeper = tenant[i];
		uint64_t best = 0;
		for (size_t j = 0; j < nv; j++) {
			if (assign[j] != assign[i])
				continue;
			uint64_t pages = 0;
			for (size_t k = 0; k < nv; k++)
				if (assign[k] == assign[i] && tenant[k] == tenant[j])
					pages += e->vms[k].read_pages;
			if (pages > best) { /* the first of the largest */
				best = pages;
				keeper = tenant[j];
			}
		}
		if (keeper == tenant[i])
			continue;
		/* Where to: a node of its tenant alone, else an empty node. */
		int to = -1;
		for (int pass = 0; pass < 2 && to < 0; pass++)
			for (int n = nk_bitmap_next(nodes, 0);
			     n >= 0 && (size_t)n < n_room && to < 0;
			     n = nk_bitmap_next(nodes, (unsigned)n + 1)) {
				bool mine = false, other = false;
				for (size_t k = 0; k < nv; k++)
					if (k != i && assign[k] == n) {
						mine |= tenant[k] == tenant[i];
						other |= tenant[k] != tenant[i];
					}
				if (!other && (pass ? !mine : mine) &&
				    (int64_t)bytes_to(e, i, n) <= room[n])
					to = n;
			}
		if (to >= 0)
			plan_move(e, room, assign, i, to);
	}
}

_nk_export_ int nk_estimate_plan(const struct nk_estimate *e, const nk_bitmap *nodes,
				 const uint64_t *room_bytes, size_t n_room, const bool *fixed,
				 const int *tenant, int *assign, double *ret_before,
				 double *ret_after)
{
	size_t nv = e->n_vms;
	int64_t *room = calloc(n_room ? n_room : 1, sizeof(*room));
	int *trial = malloc((nv ? nv : 1) * sizeof(*trial));
	if (!room || !trial || !e->contents) {
		free(room);
		free(trial);
		return e->contents ? -ENOMEM : -EINVAL;
	}
	for (size_t n = 0; n < n_room; n++)
		room[n] = (int64_t)room_bytes[n];
	*ret_before = nk_estimate_saving_if(e, assign);
	if (tenant)
		plan_part_tenants(e, nodes, room, n_room, fixed, tenant, assign);
	double cur = plan_score(e, tenant, assign);
	/* Moves, then swaps, the best gain first, until none gains a page. */
	for (unsigned round = 0; round < 4 * nv + 4; round++) {
		double best = 0.5;
		size_t bi = SIZE_MAX, bj = SIZE_MAX;
		int bn = -1;
		for (size_t i = 0; i < nv; i++) {
			if (e->vms[i].error || assign[i] < 0 || (fixed && fixed[i]))
				continue;
			for (int n = nk_bitmap_next(nodes, 0); n >= 0 && (size_t)n < n_room;
			     n = nk_bitmap_next(nodes, (unsigned)n + 1)) {
				if (n == assign[i] || (int64_t)bytes_to(e, i, n) > room[n])
					continue;
				memcpy(trial, assign, nv * sizeof(*trial));
				trial[i] = n;
				double gain = plan_score(e, tenant, trial) - cur;
				if (gain > best) {
					best = gain;
					bi = i;
					bj = SIZE_MAX;
					bn = n;
				}
			}
			for (size_t j = i + 1; j < nv; j++) {
				if (e->vms[j].error || assign[j] < 0 || assign[j] == assign[i] ||
				    (fixed && fixed[j]))
					continue;
				int ni = assign[j], nj = assign[i];
				int64_t in_i =
				    (int64_t)bytes_to(e, i, ni) -
				    (int64_t)(e->vms[j].node_read_pages[ni] * e->page_size);
				int64_t in_j =
				    (int64_t)bytes_to(e, j, nj) -
				    (int64_t)(e->vms[i].node_read_pages[nj] * e->page_size);
				if ((size_t)ni >= n_room || (size_t)nj >= n_room ||
				    in_i > room[ni] || in_j > room[nj])
					continue;
				memcpy(trial, assign, nv * sizeof(*trial));
				trial[i] = ni;
				trial[j] = nj;
				double gain = plan_score(e, tenant, trial) - cur;
				if (gain > best) {
					best = gain;
					bi = i;
					bj = j;
					bn = -1;
				}
			}
		}
		if (bi == SIZE_MAX)
			break;
		if (bj == SIZE_MAX) {
			plan_move(e, room, assign, bi, bn);
		} else {
			int ni = assign[bj], nj = assign[bi];
			room[ni] -= (int64_t)bytes_to(e, bi, ni) -
				    (int64_t)(e->vms[bj].node_read_pages[ni] * e->page_size);
			room[nj] -= (int64_t)bytes_to(e, bj, nj) -
				    (int64_t)(e->vms[bi].node_read_pages[nj] * e->page_size);
			assign[bi] = ni;
			assign[bj] = nj;
		}
		cur += best;
	}
	*ret_after = nk_estimate_saving_if(e, assign);
	free(room);
	free(trial);
	return 0;
}
