/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest physical layout: where each zone sits, which guest node owns
 * it, which pages each vCPU works on, and the page tables and GDT of the
 * built-in guest program.  Pure computation, checked before anything is
 * created.
 */
#include <stdlib.h>

#include "vmm.h"

#define SZ_2M (2ull << 20)
#define SZ_1G (1ull << 30)

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static uint64_t zone_alignment(const struct vmm_zone_cfg *z)
{
	/* 1 GiB pages need 1 GiB aligned guest addresses for the host to map
	 * them as such in the second-level page tables. */
	uint64_t page = z->spec.hugepage_kb ? z->spec.hugepage_kb * 1024 : NKG_PAGE_SIZE;
	return page > SZ_2M ? page : SZ_2M;
}

static int by_gpa(const void *a, const void *b)
{
	const struct vmm_zone_cfg *x = *(struct vmm_zone_cfg *const *)a,
				  *y = *(struct vmm_zone_cfg *const *)b;
	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

static char *fmt_size(char *buf, size_t len, uint64_t bytes)
{
	if (bytes % SZ_1G == 0)
		snprintf(buf, len, "%lluG", (unsigned long long)(bytes / SZ_1G));
	else if (bytes % (1u << 20) == 0)
		snprintf(buf, len, "%lluM", (unsigned long long)(bytes >> 20));
	else
		snprintf(buf, len, "%llu bytes", (unsigned long long)bytes);
	return buf;
}

static int place_zones(struct vmm_config *cfg, uint64_t *ret_end, nk_error **err)
{
	uint64_t next = 0, limit = 1ull << NKG_MAX_GPA_BITS;
	char a[32], b[32];

	for (size_t i = 0; i < cfg->n_zones; i++) {
		struct vmm_zone_cfg *z = &cfg->zones[i];
		uint64_t align = zone_alignment(z);
		if (z->spec.size_bytes % align)
			return nk_error_set(
			    err, EINVAL,
			    "zone %s: size %s is not a multiple of %s (guest RAM is "
			    "mapped in 2 MiB pages, or the zone's larger pages)",
			    z->spec.id, fmt_size(a, sizeof(a), z->spec.size_bytes),
			    fmt_size(b, sizeof(b), align));
		if (z->gpa_given && z->gpa % align)
			return nk_error_set(err, EINVAL, "zone %s: gpa=0x%llx is not %s aligned",
					    z->spec.id, (unsigned long long)z->gpa,
					    fmt_size(b, sizeof(b), align));
		if (!z->gpa_given)
			z->gpa = align_up(next, align);
		if (z->gpa >= limit || z->spec.size_bytes > limit - z->gpa)
			return nk_error_set(err, ERANGE,
					    "zone %s: [0x%llx, 0x%llx) exceeds the guest address "
					    "space of %s",
					    z->spec.id, (unsigned long long)z->gpa,
					    (unsigned long long)(z->gpa + z->spec.size_bytes),
					    fmt_size(b, sizeof(b), limit));
		next = z->gpa + z->spec.size_bytes;
	}

	_cleanup_free_ struct vmm_zone_cfg **sorted = calloc(cfg->n_zones, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_zones; i++)
		sorted[i] = &cfg->zones[i];
	qsort(sorted, cfg->n_zones, sizeof(*sorted), by_gpa);
	for (size_t i = 1; i < cfg->n_zones; i++)
		if (sorted[i]->gpa < sorted[i - 1]->gpa + sorted[i - 1]->spec.size_bytes)
			return nk_error_set(
			    err, EINVAL,
			    "zones %s [0x%llx, 0x%llx) and %s [0x%llx, 0x%llx) overlap",
			    sorted[i - 1]->spec.id, (unsigned long long)sorted[i - 1]->gpa,
			    (unsigned long long)(sorted[i - 1]->gpa +
						 sorted[i - 1]->spec.size_bytes),
			    sorted[i]->spec.id, (unsigned long long)sorted[i]->gpa,
			    (unsigned long long)(sorted[i]->gpa + sorted[i]->spec.size_bytes));
	if (sorted[0]->gpa != 0 || sorted[0]->spec.size_bytes <= NKG_SYSTEM_END)
		return nk_error_set(
		    err, EINVAL,
		    "guest RAM must start at address 0 with a zone larger than %llu "
		    "MiB (the guest program, its stacks and page tables live there)",
		    NKG_SYSTEM_END >> 20);
	*ret_end = sorted[cfg->n_zones - 1]->gpa + sorted[cfg->n_zones - 1]->spec.size_bytes;
	return 0;
}

static const struct vmm_zone_cfg *zone_at(const struct vmm_config *cfg, uint64_t gpa)
{
	for (size_t i = 0; i < cfg->n_zones; i++)
		if (gpa >= cfg->zones[i].gpa &&
		    gpa - cfg->zones[i].gpa < cfg->zones[i].spec.size_bytes)
			return &cfg->zones[i];
	return NULL;
}

static int check_loads(const struct vmm_config *cfg, nk_error **err)
{
	for (size_t i = 0; i < cfg->n_loads; i++) {
		const struct vmm_load_cfg *l = &cfg->loads[i];
		const struct vmm_zone_cfg *z = zone_at(cfg, l->gpa);
		uint64_t end = l->gpa + align_up(l->size_bytes ? l->size_bytes : 1, NKG_PAGE_SIZE);
		if (l->gpa < NKG_SYSTEM_END)
			return nk_error_set(
			    err, EINVAL,
			    "--load %s@0x%llx: the first %llu MiB of guest RAM hold "
			    "the guest program; load at 0x%llx or above",
			    l->path, (unsigned long long)l->gpa, NKG_SYSTEM_END >> 20,
			    NKG_SYSTEM_END);
		if (!z)
			return nk_error_set(err, ERANGE,
					    "--load %s@0x%llx: no zone at that address", l->path,
					    (unsigned long long)l->gpa);
		if (end > z->gpa + z->spec.size_bytes)
			return nk_error_set(err, EFBIG,
					    "--load %s: %llu bytes at 0x%llx do not fit in zone %s "
					    "[0x%llx, 0x%llx)",
					    l->path, (unsigned long long)l->size_bytes,
					    (unsigned long long)l->gpa, z->spec.id,
					    (unsigned long long)z->gpa,
					    (unsigned long long)(z->gpa + z->spec.size_bytes));
		for (size_t j = 0; j < i; j++) {
			const struct vmm_load_cfg *o = &cfg->loads[j];
			uint64_t oend =
			    o->gpa + align_up(o->size_bytes ? o->size_bytes : 1, NKG_PAGE_SIZE);
			if (l->gpa < oend && o->gpa < end)
				return nk_error_set(err, EINVAL, "--load %s and --load %s overlap",
						    o->path, l->path);
		}
	}
	return 0;
}

/* Which guest node owns each zone, and the vCPUs of each node. */
static int assign_guest_nodes(struct vmm_config *cfg, unsigned *ret_nodes, nk_error **err)
{
	if (!cfg->n_numa) {
		for (size_t i = 0; i < cfg->n_zones; i++)
			cfg->zones[i].guest_node = 0;
		*ret_nodes = 1;
		return 0;
	}
	unsigned vcpus = 0;
	for (unsigned g = 0; g < cfg->n_numa; g++) {
		const struct vmm_numa_cfg *n = NULL;
		for (size_t i = 0; i < cfg->n_numa; i++)
			if (cfg->numa[i].guest_node == g)
				n = &cfg->numa[i];
		if (!n)
			return nk_error_set(err, EINVAL,
					    "--numa: guest nodes are numbered from 0 without gaps; "
					    "guest node %u is missing",
					    g);
		if (n->first_vcpu != vcpus)
			return nk_error_set(err, EINVAL,
					    "--numa: guest node %u's vCPUs must start at %u (each "
					    "node's vCPUs follow the previous node's)",
					    g, vcpus);
		vcpus += n->n_vcpus;
	}
	if (vcpus != cfg->vcpus)
		return nk_error_set(err, EINVAL, "--numa: the guest nodes have %u vCPUs, --cpus %u",
				    vcpus, cfg->vcpus);
	for (size_t i = 0; i < cfg->n_zones; i++)
		cfg->zones[i].guest_node = UINT32_MAX;
	for (size_t i = 0; i < cfg->n_numa; i++) {
		for (char **id = cfg->numa[i].zones; *id; id++) {
			struct vmm_zone_cfg *z = NULL;
			for (size_t k = 0; k < cfg->n_zones; k++)
				if (!strcmp(cfg->zones[k].spec.id, *id))
					z = &cfg->zones[k];
			if (!z)
				return nk_error_set(
				    err, EINVAL,
				    "--numa guest_node=%u: no zone '%s' (--memory-zone "
				    "id=%s,...)",
				    cfg->numa[i].guest_node, *id, *id);
			if (z->guest_node != UINT32_MAX)
				return nk_error_set(err, EINVAL,
						    "--numa: zone '%s' is in two guest nodes", *id);
			z->guest_node = cfg->numa[i].guest_node;
		}
	}
	for (size_t i = 0; i < cfg->n_zones; i++)
		if (cfg->zones[i].guest_node == UINT32_MAX)
			return nk_error_set(err, EINVAL, "zone '%s' is in no --numa guest node",
					    cfg->zones[i].spec.id);
	*ret_nodes = (unsigned)cfg->n_numa;
	return 0;
}

#define MAX_FREE 64

/* The pages of guest node `g` no load and no system area use, in address order. */
static int free_ranges(const struct vmm_config *cfg, unsigned g, struct nkg_range *ret,
		       size_t *ret_n, nk_error **err)
{
	size_t n = 0;
	for (uint64_t at = 0;;) {
		/* The lowest zone of g at or after `at`. */
		const struct vmm_zone_cfg *z = NULL;
		for (size_t i = 0; i < cfg->n_zones; i++) {
			const struct vmm_zone_cfg *c = &cfg->zones[i];
			if (c->guest_node == g && c->gpa + c->spec.size_bytes > at &&
			    (!z || c->gpa < z->gpa))
				z = c;
		}
		if (!z)
			break;
		uint64_t start = z->gpa > at ? z->gpa : at, end = z->gpa + z->spec.size_bytes;
		if (start < NKG_SYSTEM_END)
			start = NKG_SYSTEM_END < end ? NKG_SYSTEM_END : end;
		while (start < end) {
			/* Cut at the first load that starts in [start, end). */
			uint64_t cut = end, resume = end;
			for (size_t i = 0; i < cfg->n_loads; i++) {
				uint64_t ls = cfg->loads[i].gpa,
					 le = ls + align_up(cfg->loads[i].size_bytes
								? cfg->loads[i].size_bytes
								: 1,
							    NKG_PAGE_SIZE);
				if (le > start && ls < cut) {
					cut = ls > start ? ls : start;
					resume = le < end ? le : end;
				}
			}
			if (cut > start) {
				if (n == MAX_FREE)
					return nk_error_set(
					    err, E2BIG,
					    "guest node %u: its free RAM is cut into "
					    "more than %d pieces by --load",
					    g, MAX_FREE);
				ret[n++] = (struct nkg_range){start, (cut - start) / NKG_PAGE_SIZE};
			}
			start = resume;
		}
		at = end;
	}
	*ret_n = n;
	return 0;
}

static int share_pages(const struct vmm_config *cfg, unsigned n_nodes, uint64_t size_bytes,
		       struct nkg_work *works, uint64_t *ret_pages, nk_error **err)
{
	uint64_t total = 0;
	memset(works, 0, sizeof(*works) * NKG_MAX_VCPUS);
	for (unsigned g = 0; g < n_nodes; g++) {
		struct nkg_range ranges[MAX_FREE];
		size_t n_ranges = 0;
		int r = free_ranges(cfg, g, ranges, &n_ranges, err);
		if (r < 0)
			return r;
		uint64_t free_pages = 0;
		for (size_t i = 0; i < n_ranges; i++)
			free_pages += ranges[i].pages;
		uint64_t want = free_pages;
		if (size_bytes && size_bytes / NKG_PAGE_SIZE / n_nodes < want)
			want = size_bytes / NKG_PAGE_SIZE / n_nodes;
		unsigned first = 0, count = cfg->vcpus;
		for (size_t i = 0; i < cfg->n_numa; i++)
			if (cfg->numa[i].guest_node == g)
				first = cfg->numa[i].first_vcpu, count = cfg->numa[i].n_vcpus;
		size_t ri = 0;
		uint64_t roff = 0;
		for (unsigned v = 0; v < count; v++) {
			struct nkg_work *w = &works[first + v];
			uint64_t share = want / count + (v < want % count);
			while (share > 0 && ri < n_ranges) {
				uint64_t take = ranges[ri].pages - roff;
				if (take > share)
					take = share;
				if (w->n_ranges == NKG_MAX_RANGES)
					return nk_error_set(
					    err, E2BIG,
					    "vCPU %u: its pages are in more than %d "
					    "pieces; use fewer --load files",
					    first + v, NKG_MAX_RANGES);
				w->ranges[w->n_ranges++] =
				    (struct nkg_range){ranges[ri].gpa + roff * NKG_PAGE_SIZE, take};
				share -= take;
				roff += take;
				total += take;
				if (roff == ranges[ri].pages)
					ri++, roff = 0;
			}
		}
	}
	*ret_pages = total;
	return 0;
}

/* KVM on Intel wants, for real mode, a 3-page TSS and a page of identity
 * page tables below 4 GiB that are no guest RAM.  The highest such gap at or
 * below where QEMU puts them (0xfffbc000); 0 when RAM covers it all. */
static uint64_t find_tss_gap(const struct vmm_config *cfg)
{
	const uint64_t len = 4 * NKG_PAGE_SIZE;
	uint64_t at = 0xfffbc000ull;

	for (;;) {
		const struct vmm_zone_cfg *hit = NULL;
		for (size_t i = 0; i < cfg->n_zones; i++) {
			const struct vmm_zone_cfg *z = &cfg->zones[i];
			if (z->gpa < at + len && at < z->gpa + z->spec.size_bytes)
				hit = z;
		}
		if (!hit)
			return at;
		if (hit->gpa < len)
			return 0;
		at = (hit->gpa - len) & ~(NKG_PAGE_SIZE - 1);
	}
}

int vmm_layout_compute(struct vmm_config *cfg, struct vmm_layout *ret, nk_error **err)
{
	struct vmm_layout l = {0};
	int r;

	if (cfg->vcpus > NKG_MAX_VCPUS)
		return nk_error_set(err, EINVAL, "at most %d vCPUs", NKG_MAX_VCPUS);
	r = place_zones(cfg, &l.gpa_end, err);
	if (r < 0)
		return r;
	l.tss_gpa = find_tss_gap(cfg);
	r = check_loads(cfg, err);
	if (r < 0)
		return r;
	r = assign_guest_nodes(cfg, &l.n_guest_nodes, err);
	if (r < 0)
		return r;
	if (cfg->workload.c.set) {
		r = share_pages(cfg, l.n_guest_nodes, cfg->workload.c.size_bytes, l.work,
				&l.work_pages, err);
		if (r < 0)
			return r;
	}
	if (cfg->fill.set) {
		r = share_pages(cfg, l.n_guest_nodes, cfg->fill.size_bytes, l.fill_work,
				&l.fill_pages, err);
		if (r < 0)
			return r;
	}
	*ret = l;
	return 0;
}

#define PTE_P  (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_PS (1ull << 7)

void vmm_layout_page_tables(const struct vmm_config *cfg, uint64_t gpa_end, void *pt)
{
	uint64_t *pml4 = pt, *pdpt = (uint64_t *)((char *)pt + NKG_PAGE_SIZE);
	uint64_t gib = (gpa_end + SZ_1G - 1) / SZ_1G;

	memset(pt, 0, (2 + gib) * NKG_PAGE_SIZE);
	pml4[0] = (NKG_PT_GPA + NKG_PAGE_SIZE) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < gib; i++) {
		uint64_t pd_gpa = NKG_PT_GPA + (2 + i) * NKG_PAGE_SIZE;
		uint64_t *pd = (uint64_t *)((char *)pt + (2 + i) * NKG_PAGE_SIZE);
		pdpt[i] = pd_gpa | PTE_P | PTE_RW;
		for (uint64_t j = 0; j < 512; j++) {
			uint64_t gpa = i * SZ_1G + j * SZ_2M;
			/* Only guest RAM is mapped: a stray access faults. */
			if (zone_at(cfg, gpa))
				pd[j] = gpa | PTE_P | PTE_RW | PTE_PS;
		}
	}
}

void vmm_layout_gdt(void *gdt)
{
	uint64_t *d = gdt;
	d[0] = 0;
	d[1] = 0x00af9b000000ffffull; /* 0x08: 64-bit code, present, accessed */
	d[2] = 0x00cf93000000ffffull; /* 0x10: data, present, writable, accessed */
}

int vmm_guest_node_host(const struct vmm_config *cfg, unsigned g)
{
	for (size_t i = 0; i < cfg->n_zones; i++) {
		const struct nk_zone_spec *s = &cfg->zones[i].spec;
		if (cfg->zones[i].guest_node != g || !s->nodes || s->policy == NK_POLICY_DEFAULT)
			continue;
		return nk_bitmap_next(s->nodes, 0);
	}
	return -1;
}
