/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Zone creation in a safe order: validate the spec and check the per-node
 * hugepage pools before mapping (hugetlb reservations are global, so a
 * bound zone can pass mmap and still SIGBUS later on an empty node); then
 * map, bind, mark, and prefault so that any shortage is an error now.
 */
#include "basic.h"
#include "memory-internal.h"
#include "numaksm/proc.h"

#include <fcntl.h>
#include <inttypes.h>
#include <numaif.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#ifndef MPOL_PREFERRED_MANY
#define MPOL_PREFERRED_MANY 5
#endif
#ifndef MPOL_WEIGHTED_INTERLEAVE
#define MPOL_WEIGHTED_INTERLEAVE 6
#endif
#ifndef F_SEAL_SEAL
#define F_SEAL_SEAL   0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW   0x0004
#endif

#define THP_SIZE (2ull << 20)

int nk_policy_mode(enum nk_policy policy)
{
	switch (policy) {
	case NK_POLICY_DEFAULT:
		return MPOL_DEFAULT;
	case NK_POLICY_BIND:
		return MPOL_BIND;
	case NK_POLICY_PREFERRED:
		return MPOL_PREFERRED;
	case NK_POLICY_PREFERRED_MANY:
		return MPOL_PREFERRED_MANY;
	case NK_POLICY_INTERLEAVE:
		return MPOL_INTERLEAVE;
	case NK_POLICY_WEIGHTED_INTERLEAVE:
		return MPOL_WEIGHTED_INTERLEAVE;
	}
	return -1;
}

int nk_nodemask(const nk_bitmap *nodes, unsigned long **ret_mask, unsigned long *ret_maxnode)
{
	int last = nodes ? nk_bitmap_last(nodes) : -1;
	/* One node more than needed: older kernels cut off the last one
	 * (QEMU and Cloud Hypervisor pass maxnode + 1 for the same reason). */
	unsigned long maxnode = (unsigned long)(last + 2);
	size_t words = maxnode / (8 * sizeof(unsigned long)) + 1;
	unsigned long *mask = calloc(words, sizeof(unsigned long));
	if (!mask)
		return -ENOMEM;
	if (nodes) {
		nk_bitmap_foreach (n, nodes) {
			mask[(unsigned)n / (8 * sizeof(unsigned long))] |=
			    1UL << ((unsigned)n % (8 * sizeof(unsigned long)));
		}
	}
	*ret_mask = mask;
	*ret_maxnode = maxnode;
	return 0;
}

static uint64_t zone_page_size(const struct nk_zone_spec *spec, uint64_t default_kb)
{
	if (spec->backing == NK_BACKING_HUGETLB)
		return (spec->hugepage_kb ? spec->hugepage_kb : default_kb) * 1024;
	return (uint64_t)sysconf(_SC_PAGESIZE);
}

static const struct nk_hugepage_pool *find_pool(const struct nk_hugepage_pool *pools, size_t n,
						uint64_t size_kb)
{
	for (size_t i = 0; i < n; i++)
		if (pools[i].size_kb == size_kb)
			return &pools[i];
	return NULL;
}

static const char *size_word(uint64_t kb, char *buf, size_t len)
{
	if (kb >= 1048576 && kb % 1048576 == 0)
		snprintf(buf, len, "%" PRIu64 "G", kb / 1048576);
	else if (kb >= 1024 && kb % 1024 == 0)
		snprintf(buf, len, "%" PRIu64 "M", kb / 1024);
	else
		snprintf(buf, len, "%" PRIu64 "K", kb);
	return buf;
}

static int pool_shortage(const char *id, int node, const struct nk_hugepage_pool *pool,
			 uint64_t needed, nk_error **err)
{
	char sz[32];
	uint64_t want = pool->total + (needed - pool->free);
	if (node < 0) {
		nk_error_set(err, ENOMEM,
			     "zone %s: the host has %" PRIu64 " free %" PRIu64
			     " kB hugepages (%" PRIu64 " reserved by others), %" PRIu64 " needed",
			     id, pool->free, pool->size_kb, pool->reserved, needed);
		return nk_error_hint(
		    err, "reserve more: numaksm hugepages reserve --size %s --count %" PRIu64,
		    size_word(pool->size_kb, sz, sizeof(sz)), want + pool->reserved);
	}
	nk_error_set(err, ENOMEM,
		     "zone %s: node %d has %" PRIu64 " free %" PRIu64 " kB hugepages, %" PRIu64
		     " needed",
		     id, node, pool->free, pool->size_kb, needed);
	return nk_error_hint(err, "numaksm hugepages reserve --node %d --size %s --count %" PRIu64,
			     node, size_word(pool->size_kb, sz, sizeof(sz)), want);
}

/* Hugetlb reservations are global; check every node the policy will
 * take pages from, so a shortage is refused before anything is mapped. */
static int check_pools(const struct nk_hostinfo *info, const struct nk_zone_spec *spec,
		       const char *id, uint64_t page_kb, nk_error **err)
{
	uint64_t needed = spec->size_bytes / (page_kb * 1024);
	const struct nk_hugepage_pool *global =
	    find_pool(info->hugepages, info->n_hugepages, page_kb);
	if (!global)
		return nk_error_set(err, EOPNOTSUPP, "zone %s: no %" PRIu64 " kB hugepages", id,
				    page_kb);

	/* Node by node first: on a NUMA host it is a node's pool that runs dry. */
	bool by_node =
	    spec->nodes && spec->policy != NK_POLICY_DEFAULT && spec->policy != NK_POLICY_PREFERRED;
	if (by_node) {
		unsigned n_nodes = nk_bitmap_weight(spec->nodes);
		uint64_t sum_free = 0;
		nk_bitmap_foreach (id_node, spec->nodes) {
			const struct nk_numa_node *node = nk_hostinfo_node(info, id_node);
			const struct nk_hugepage_pool *p =
			    node ? find_pool(node->hugepages, node->n_hugepages, page_kb) : NULL;
			struct nk_hugepage_pool empty = {.size_kb = page_kb};
			if (!p)
				p = &empty;
			sum_free += p->free;
			/* Interleave takes an equal share from every node. */
			uint64_t share = (needed + n_nodes - 1) / n_nodes;
			if (spec->policy == NK_POLICY_INTERLEAVE && p->free < share)
				return pool_shortage(id, id_node, p, share, err);
			if (n_nodes == 1 && p->free < needed)
				return pool_shortage(id, id_node, p, needed, err);
		}
		if (sum_free < needed) {
			nk_error_set(err, ENOMEM,
				     "zone %s: its nodes together have %" PRIu64 " free %" PRIu64
				     " kB hugepages, %" PRIu64 " needed",
				     id, sum_free, page_kb, needed);
			return nk_error_hint(err,
					     "reserve pages on those nodes with 'numaksm "
					     "hugepages reserve --node N --size SIZE --count C'");
		}
	}
	/* Then the host: pages reserved by other mappings are not free for us. */
	uint64_t global_free =
	    global->free > global->reserved ? global->free - global->reserved : 0;
	if (global_free < needed) {
		struct nk_hugepage_pool g = *global;
		g.free = global_free;
		return pool_shortage(id, -1, &g, needed, err);
	}
	return 0;
}

static int memory_shortage(const char *id, const char *where, uint64_t have_kb, uint64_t need_kb,
			   nk_error **err)
{
	char a[32], b[32];
	nk_error_set(err, ENOMEM,
		     "zone %s: %s can give %s now (free, or cache it can drop), %s needed", id,
		     where, nk_format_bytes(a, sizeof(a), have_kb * 1024),
		     nk_format_bytes(b, sizeof(b), need_kb * 1024));
	return nk_error_hint(err, "free memory there, choose other nodes or a smaller size, or "
				  "pass --force to map it anyway (its faults then reclaim, swap "
				  "or meet the OOM killer)");
}

/* Memory a 4K or THP zone (hugetlb has its pools) would take: refused
 * before mapping when its nodes, or the host, cannot give it now, so that
 * no prefault (or guest) runs into the OOM killer later. */
static int check_memory(const struct nk_hostinfo *info, const struct nk_zone_spec *spec,
			const char *id, nk_error **err)
{
	uint64_t need_kb = spec->size_bytes / 1024;
	bool by_node = spec->nodes &&
		       (spec->policy == NK_POLICY_BIND || spec->policy == NK_POLICY_INTERLEAVE ||
			spec->policy == NK_POLICY_WEIGHTED_INTERLEAVE);
	if (by_node) {
		unsigned n_nodes = nk_bitmap_weight(spec->nodes);
		uint64_t sum = 0, share = (need_kb + n_nodes - 1) / n_nodes;
		nk_bitmap_foreach (n, spec->nodes) {
			const struct nk_numa_node *node = nk_hostinfo_node(info, n);
			uint64_t have = node ? node->mem_available_kb : 0;
			char where[32];
			snprintf(where, sizeof(where), "node %d", n);
			sum += have;
			/* Interleave takes an equal share from every node. */
			if (spec->policy == NK_POLICY_INTERLEAVE && have < share)
				return memory_shortage(id, where, have, share, err);
			if (n_nodes == 1 && have < need_kb)
				return memory_shortage(id, where, have, need_kb, err);
		}
		if (sum < need_kb)
			return memory_shortage(id, "its nodes together", sum, need_kb, err);
	}
	if (info->mem_available_kb && info->mem_available_kb < need_kb)
		return memory_shortage(id, "the host", info->mem_available_kb, need_kb, err);
	return 0;
}

/* Try the policy on a scratch page: a policy this kernel lacks is refused
 * before the zone is mapped. */
static int probe_policy(enum nk_policy policy, const nk_bitmap *nodes, const char *id,
			nk_error **err)
{
	static const char *const since[] = {
	    [NK_POLICY_PREFERRED_MANY] = "Linux 5.15",
	    [NK_POLICY_WEIGHTED_INTERLEAVE] = "Linux 6.9",
	};
	_cleanup_free_ unsigned long *mask = NULL;
	unsigned long maxnode;
	long page = sysconf(_SC_PAGESIZE);

	if (policy == NK_POLICY_DEFAULT)
		return 0;
	if (nk_nodemask(nodes, &mask, &maxnode) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	void *p =
	    mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return nk_error_set(err, errno, "zone %s: cannot map a probe page: %s", id,
				    strerror(errno));
	int r = mbind(p, (unsigned long)page, nk_policy_mode(policy), mask, maxnode, 0);
	int e = errno;
	munmap(p, (size_t)page);
	if (r == 0)
		return 0;
	if (e == EINVAL && (size_t)policy < ARRAY_SIZE(since) && since[policy]) {
		nk_error_set(err, EOPNOTSUPP, "zone %s: this kernel lacks the %s policy", id,
			     nk_policy_name(policy));
		return nk_error_hint(err, "%s needs %s or later; use bind or interleave",
				     nk_policy_name(policy), since[policy]);
	}
	return nk_error_set(err, e, "zone %s: the kernel refuses policy %s on these nodes: %s", id,
			    nk_policy_name(policy), strerror(e));
}

static int validate(const struct nk_hostinfo *info, const struct nk_zone_spec *spec, const char *id,
		    uint64_t *ret_page_size, nk_error **err)
{
	unsigned n_nodes = spec->nodes ? nk_bitmap_weight(spec->nodes) : 0;
	char sz[32];

	if (spec->size_bytes == 0)
		return nk_error_set(err, EINVAL, "zone %s: size is 0", id);
	if (spec->backing == NK_BACKING_HUGETLB) {
		uint64_t kb = spec->hugepage_kb ? spec->hugepage_kb : info->default_hugepage_kb;
		if (!kb || !find_pool(info->hugepages, info->n_hugepages, kb)) {
			nk_error_set(err, EOPNOTSUPP, "zone %s: this host offers no %s hugepages",
				     id, kb ? size_word(kb, sz, sizeof(sz)) : "");
			if (kb == 1048576 && !info->cpu_has_pdpe1gb)
				return nk_error_hint(err,
						     "the CPU lacks pdpe1gb: use hugepages=2M");
			return nk_error_hint(err, "see 'numaksm hugepages' for the sizes offered");
		}
		if (spec->mergeable) {
			nk_error_set(err, EINVAL, "zone %s: mergeable=on with hugepages", id);
			return nk_error_hint(err, "KSM merges only private anonymous pages and "
						  "ignores hugetlb: use hugepages=none or "
						  "mergeable=off");
		}
		if (spec->policy != NK_POLICY_DEFAULT && !spec->prefault) {
			nk_error_set(err, EINVAL,
				     "zone %s: prefault=off with hugepages and policy %s", id,
				     nk_policy_name(spec->policy));
			return nk_error_hint(err,
					     "hugetlb reservations are global, so a bound zone "
					     "could SIGBUS later: keep prefault=on");
		}
	}
	if (spec->shared && spec->mergeable) {
		nk_error_set(err, EINVAL, "zone %s: mergeable=on with shared=on", id);
		return nk_error_hint(err, "KSM ignores shared mappings: use shared=off");
	}
	*ret_page_size = zone_page_size(spec, info->default_hugepage_kb);
	if (spec->size_bytes % *ret_page_size) {
		nk_error_set(err, EINVAL,
			     "zone %s: size %" PRIu64 " is not a multiple of the %s page size", id,
			     spec->size_bytes, size_word(*ret_page_size / 1024, sz, sizeof(sz)));
		return nk_error_hint(err, "round the size to a multiple of %" PRIu64 " bytes",
				     *ret_page_size);
	}

	if (spec->policy == NK_POLICY_DEFAULT && n_nodes)
		return nk_error_set(err, EINVAL,
				    "zone %s: policy=default takes no nodes; use "
				    "policy=bind to place it",
				    id);
	if (spec->policy != NK_POLICY_DEFAULT && !n_nodes)
		return nk_error_set(err, EINVAL, "zone %s: policy=%s needs nodes=LIST", id,
				    nk_policy_name(spec->policy));
	if (spec->policy == NK_POLICY_PREFERRED && n_nodes > 1) {
		nk_error_set(err, EINVAL, "zone %s: policy=preferred takes one node", id);
		return nk_error_hint(err, "use policy=preferred-many for several nodes");
	}
	if (n_nodes) {
		nk_bitmap_foreach (n, spec->nodes) {
			const struct nk_numa_node *node = nk_hostinfo_node(info, n);
			if (!node) {
				nk_error_set(err, ENODEV, "zone %s: node %d does not exist", id, n);
				return nk_error_hint(err,
						     "this host has %zu node(s); see "
						     "'numaksm check'",
						     info->n_nodes);
			}
			if (!node->has_memory)
				return nk_error_set(err, ENODEV, "zone %s: node %d has no memory",
						    id, n);
		}
	}
	return 0;
}

static int map_zone(nk_zone *z, const char *id, nk_error **err)
{
	const struct nk_zone_spec *s = &z->spec;
	int prot = PROT_READ | PROT_WRITE;

	if (s->backing == NK_BACKING_HUGETLB || s->shared) {
		unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
		if (s->backing == NK_BACKING_HUGETLB)
			flags |= MFD_HUGETLB |
				 ((unsigned)__builtin_ctzll(z->page_size) << MFD_HUGE_SHIFT);
		char name[256];
		snprintf(name, sizeof(name), "numaksm-%s", id);
		z->fd = (int)syscall(SYS_memfd_create, name, flags);
		if (z->fd < 0)
			return nk_error_set(err, errno, "zone %s: memfd_create failed: %s", id,
					    strerror(errno));
		if (ftruncate(z->fd, (off_t)z->size) < 0) {
			int e = errno;
			nk_error_set(err, e, "zone %s: cannot size the memfd to %" PRIu64 ": %s",
				     id, z->size, strerror(e));
			return e == EINVAL || e == ENOMEM
				   ? nk_error_hint(err, "reserve hugepages: see 'numaksm "
							"hugepages'")
				   : -e;
		}
		/* The size is fixed for the zone's life (as QEMU seals). */
		if (fcntl(z->fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
			nk_debug("zone %s: cannot seal the memfd: %s", id, strerror(errno));
		z->addr = mmap(NULL, z->size, prot, MAP_SHARED, z->fd, 0);
		if (z->addr == MAP_FAILED) {
			int e = errno;
			z->addr = NULL;
			nk_error_set(err, e, "zone %s: cannot map %" PRIu64 " bytes: %s", id,
				     z->size, strerror(e));
			if (e == ENOMEM && s->backing == NK_BACKING_HUGETLB)
				return nk_error_hint(err, "the hugepage pool is too small: see "
							  "'numaksm hugepages'");
			return -e;
		}
		return 0;
	}

	/* Anonymous: THP zones are aligned to 2 MiB so every huge page fits. */
	uint64_t extra = s->backing == NK_BACKING_THP ? THP_SIZE : 0;
	char *p = mmap(NULL, z->size + extra, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return nk_error_set(err, errno, "zone %s: cannot map %" PRIu64 " bytes: %s", id,
				    z->size, strerror(errno));
	if (extra) {
		uintptr_t a = ((uintptr_t)p + THP_SIZE - 1) & ~(uintptr_t)(THP_SIZE - 1);
		size_t head = a - (uintptr_t)p;
		if (head)
			munmap(p, head);
		if (extra - head)
			munmap((char *)a + z->size, extra - head);
		p = (char *)a;
	}
	z->addr = p;
	return 0;
}

static int madvise_checked(nk_zone *z, int advice, const char *what, nk_error **err)
{
	if (madvise(z->addr, z->size, advice) == 0)
		return 0;
	int e = errno;
	return nk_error_set(err, e, "zone %s: madvise(%s) failed: %s", z->spec.id, what,
			    strerror(e));
}

/* The mapping of this process that holds the zone, from /proc/self/smaps
 * (always the live one: a zone is in this process whatever host tree is
 * read).  The kernel merges adjacent mappings with the same flags, so the
 * mapping may be larger than the zone. */
static int zone_mapping(nk_zone *z, struct nk_proc_vma *ret, nk_error **err)
{
	_cleanup_free_ char *smaps = NULL;
	struct nk_proc_vma *vmas = NULL;
	size_t n = 0;
	nk_host *self = NULL;
	int r = nk_host_open("/", &self, err);
	if (r < 0)
		return r;
	r = nk_host_read(self, "/proc/self/smaps", &smaps, err);
	nk_host_free(self);
	if (r < 0)
		return r;
	r = nk_proc_smaps_parse(smaps, &vmas, &n);
	if (r < 0)
		return nk_error_set(err, -r, "cannot parse /proc/self/smaps");
	uintptr_t start = (uintptr_t)z->addr, end = start + z->size;
	const struct nk_proc_vma *found = NULL;
	for (size_t i = 0; i < n && !found; i++)
		if (vmas[i].start <= start && end <= vmas[i].end)
			found = &vmas[i];
	if (found) {
		*ret = *found;
		ret->name = NULL;
	}
	nk_proc_vmas_free(vmas, n);
	if (!found)
		return nk_error_set(err, ENOENT,
				    "zone %s: its mapping is missing from /proc/self/smaps",
				    z->spec.id);
	return 0;
}

static int verify_mergeable(nk_zone *z, bool want, nk_error **err)
{
	struct nk_proc_vma vma;
	int r = zone_mapping(z, &vma, err);
	if (r < 0)
		return r;
	if (vma.mergeable != want) {
		nk_error_set(err, EOPNOTSUPP,
			     "zone %s: madvise(%s) returned 0 but the kernel did "
			     "not %s the mapping",
			     z->spec.id, want ? "MADV_MERGEABLE" : "MADV_UNMERGEABLE",
			     want ? "mark" : "unmark");
		return nk_error_hint(err, "KSM merges only private anonymous memory");
	}
	return 0;
}

_nk_export_ int nk_zone_set_mergeable(nk_zone *z, bool mergeable, nk_error **err)
{
	if (z->spec.backing == NK_BACKING_HUGETLB || z->spec.shared) {
		nk_error_set(err, EINVAL, "zone %s: cannot make a %s zone mergeable", z->spec.id,
			     z->spec.shared ? "shared" : "hugetlb");
		return nk_error_hint(err, "KSM merges only private anonymous pages; the kernel "
					  "would accept the request and silently ignore it");
	}
	if (mergeable == z->mergeable)
		return 0;
	int r = madvise_checked(z, mergeable ? MADV_MERGEABLE : MADV_UNMERGEABLE,
				mergeable ? "MADV_MERGEABLE" : "MADV_UNMERGEABLE", err);
	if (r < 0) {
		if (nk_error_code(err ? *err : NULL) == EINVAL)
			nk_error_hint(err, "this kernel was built without CONFIG_KSM");
		return r;
	}
	r = verify_mergeable(z, mergeable, err);
	if (r < 0)
		return r;
	z->mergeable = mergeable;
	return 0;
}

static int copy_spec(struct nk_zone_spec *dst, const struct nk_zone_spec *src, unsigned seq)
{
	*dst = *src;
	dst->id = NULL;
	dst->nodes = NULL;
	if (src->id)
		dst->id = strdup(src->id);
	else if (asprintf(&dst->id, "zone%u", seq) < 0)
		dst->id = NULL;
	if (!dst->id)
		return -ENOMEM;
	if (src->nodes && !(dst->nodes = nk_bitmap_dup(src->nodes)))
		return -ENOMEM;
	return 0;
}

static int allowed_cpus(nk_bitmap **ret)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	_cleanup_bitmap_ nk_bitmap *b = nk_bitmap_new();
	if (!b)
		return -ENOMEM;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set) && nk_bitmap_set(b, (unsigned)c) < 0)
			return -ENOMEM;
	*ret = TAKE_PTR(b);
	return 0;
}

_nk_export_ int nk_zone_prefault(nk_zone *z, unsigned threads, nk_progress_fn progress,
				 void *userdata, nk_error **err)
{
	uint64_t fail = 0;
	nk_bitmap *cpus = z->prefault_cpus;
	int r = nk_prefault_range(z->addr, z->size, z->page_size,
				  threads ? threads : z->spec.prefault_threads, cpus,
				  z->spec.force_touch, progress, userdata, &z->stats, &fail);
	z->stats.cpus = cpus;
	if (r == 0)
		return 0;
	char sz[32];
	nk_error_set(err, -r,
		     "zone %s: prefault failed at offset %" PRIu64 " of %" PRIu64 " (%s pages): %s",
		     z->spec.id, fail, z->size, size_word(z->page_size / 1024, sz, sizeof(sz)),
		     strerror(-r));
	if (z->spec.backing == NK_BACKING_HUGETLB)
		return nk_error_hint(err, "the hugepage pool of the zone's nodes ran out: see "
					  "'numaksm hugepages' and reserve pages on those nodes");
	return nk_error_hint(err, "not enough free memory on the zone's nodes");
}

/*
 * A mergeable zone left to the default policy is bound to every node with
 * memory.  Its pages still come from the node of the CPU that first
 * touches them, as they would by default, but the zone is out of NUMA
 * balancing, which scans only memory under the default policy.  NUMA
 * balancing maps idle pages PROT_NONE to sample their use, and KSM cannot
 * merge such a page: on Linux 6.1 (measured in the NUMA lab) one of them in
 * KSM's unstable tree keeps every page compared with it out of the tree,
 * and Linux guests on unbound memory merged nothing at all.  On one node
 * there is no NUMA balancing and nothing to do.
 */
static int bind_out_of_numa_balancing(nk_zone *z, const struct nk_hostinfo *info, nk_error **err)
{
	_cleanup_bitmap_ nk_bitmap *nodes = nk_bitmap_new();
	_cleanup_free_ unsigned long *mask = NULL;
	unsigned long maxnode;
	unsigned n = 0;

	if (!nodes)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < info->n_nodes; i++)
		if (info->nodes[i].has_memory) {
			if (nk_bitmap_set(nodes, (unsigned)info->nodes[i].id) < 0)
				return nk_error_set(err, ENOMEM, "out of memory");
			n++;
		}
	if (n < 2)
		return 0;
	if (nk_nodemask(nodes, &mask, &maxnode) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (mbind(z->addr, z->size, MPOL_BIND, mask, maxnode, 0) < 0)
		return nk_error_set(err, errno,
				    "zone %s: mbind(bind) to the nodes with memory failed: %s",
				    z->spec.id, strerror(errno));
	return 0;
}

_nk_export_ int nk_zone_create(nk_host *host, const struct nk_zone_spec *spec, nk_zone **ret,
			       nk_error **err)
{
	static unsigned seq;
	struct nk_hostinfo *info = NULL;
	nk_zone *z = NULL;
	int r;

	r = nk_host_require_live(host, "create a zone", err);
	if (r < 0)
		return r;
	z = calloc(1, sizeof(*z));
	if (!z)
		return nk_error_set(err, ENOMEM, "out of memory");
	z->fd = -1;
	if (copy_spec(&z->spec, spec, __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED)) < 0) {
		r = nk_error_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	const char *id = z->spec.id;

	r = nk_hostinfo_read(host, &info, err);
	if (r < 0)
		goto fail;
	r = validate(info, &z->spec, id, &z->page_size, err);
	if (r < 0)
		goto fail;
	z->size = z->spec.size_bytes;
	if (z->spec.backing == NK_BACKING_HUGETLB && !z->spec.no_pool_check) {
		r = check_pools(info, &z->spec, id, z->page_size / 1024, err);
		if (r < 0)
			goto fail;
	}
	if (z->spec.backing != NK_BACKING_HUGETLB && !z->spec.force) {
		r = check_memory(info, &z->spec, id, err);
		if (r < 0)
			goto fail;
	}
	r = probe_policy(z->spec.policy, z->spec.nodes, id, err);
	if (r < 0)
		goto fail;

	/* CPUs for the prefault threads: next to the zone's memory. */
	{
		_cleanup_bitmap_ nk_bitmap *allowed = NULL;
		if (allowed_cpus(&allowed) < 0 ||
		    (z->spec.nodes && nk_bitmap_weight(z->spec.nodes) &&
		     nk_hostinfo_nearest_cpus(info, z->spec.nodes, allowed, &z->prefault_cpus) <
			 0)) {
			r = nk_error_set(err, ENOMEM, "out of memory");
			goto fail;
		}
		if (!z->prefault_cpus || !nk_bitmap_weight(z->prefault_cpus)) {
			nk_bitmap_free(z->prefault_cpus);
			z->prefault_cpus = TAKE_PTR(allowed);
		}
	}

	/* Map, bind, mark, prefault. */
	r = map_zone(z, id, err);
	if (r < 0)
		goto fail;
	if (z->spec.policy != NK_POLICY_DEFAULT) {
		_cleanup_free_ unsigned long *mask = NULL;
		unsigned long maxnode;
		if (nk_nodemask(z->spec.nodes, &mask, &maxnode) < 0) {
			r = nk_error_set(err, ENOMEM, "out of memory");
			goto fail;
		}
		unsigned flags =
		    z->spec.policy == NK_POLICY_BIND ? MPOL_MF_STRICT | MPOL_MF_MOVE : 0;
		if (mbind(z->addr, z->size, nk_policy_mode(z->spec.policy), mask, maxnode, flags) <
		    0) {
			r = nk_error_set(err, errno, "zone %s: mbind(%s) failed: %s", id,
					 nk_policy_name(z->spec.policy), strerror(errno));
			goto fail;
		}
	} else if (z->spec.mergeable && (r = bind_out_of_numa_balancing(z, info, err)) < 0) {
		goto fail;
	}
	if (z->spec.backing == NK_BACKING_THP)
		r = madvise_checked(z, MADV_HUGEPAGE, "MADV_HUGEPAGE", err);
	else if (z->spec.backing == NK_BACKING_4K && !z->spec.shared)
		r = madvise_checked(z, MADV_NOHUGEPAGE, "MADV_NOHUGEPAGE", err);
	if (r < 0)
		goto fail;
	if (!z->spec.dump && (r = madvise_checked(z, MADV_DONTDUMP, "MADV_DONTDUMP", err)) < 0)
		goto fail;
	if (z->spec.mergeable && (r = nk_zone_set_mergeable(z, true, err)) < 0)
		goto fail;
	if (z->spec.prefault && (r = nk_zone_prefault(z, 0, NULL, NULL, err)) < 0)
		goto fail;

	nk_hostinfo_free(info);
	*ret = z;
	return 0;
fail:
	nk_hostinfo_free(info);
	nk_zone_free(z);
	return r;
}

_nk_export_ nk_zone *nk_zone_free(nk_zone *z)
{
	if (!z)
		return NULL;
	if (z->addr)
		munmap(z->addr, z->size);
	if (z->fd >= 0)
		close(z->fd);
	nk_bitmap_free(z->prefault_cpus);
	nk_zone_spec_done(&z->spec);
	free(z);
	return NULL;
}

_nk_export_ void *nk_zone_addr(const nk_zone *z)
{
	return z->addr;
}

_nk_export_ uint64_t nk_zone_size(const nk_zone *z)
{
	return z->size;
}

_nk_export_ uint64_t nk_zone_page_size(const nk_zone *z)
{
	return z->page_size;
}

_nk_export_ int nk_zone_fd(const nk_zone *z)
{
	return z->fd;
}

_nk_export_ const struct nk_zone_spec *nk_zone_spec(const nk_zone *z)
{
	return &z->spec;
}

_nk_export_ int nk_zone_ksm_bytes(nk_zone *z, uint64_t *ret_bytes, nk_error **err)
{
	struct nk_proc_vma vma;
	int r = zone_mapping(z, &vma, err);
	if (r < 0)
		return r;
	if (!vma.has_ksm)
		return nk_error_set(err, EOPNOTSUPP,
				    "this kernel does not report KSM pages per mapping (smaps "
				    "\"KSM:\", Linux 6.6)");
	if (vma.start != (uintptr_t)z->addr || vma.end != (uintptr_t)z->addr + z->size) {
		nk_error_set(err, EOPNOTSUPP,
			     "zone %s shares one kernel mapping with its neighbours: the KSM "
			     "pages of that mapping are not the zone's alone",
			     z->spec.id);
		return nk_error_hint(err, "the process' KSM figures (/proc/PID/ksm_stat) count "
					  "every zone");
	}
	*ret_bytes = vma.ksm_bytes;
	return 0;
}

_nk_export_ bool nk_zone_is_mergeable(const nk_zone *z)
{
	return z->mergeable;
}

_nk_export_ const struct nk_prefault_stats *nk_zone_prefault_stats(const nk_zone *z)
{
	return &z->stats;
}
