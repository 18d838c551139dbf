/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Parsers of the /proc files only VM discovery reads: numa_maps, and the
 * choice of the guest RAM among a VM's mappings.
 * Strings in, structs out, no I/O: tests feed them literals, malformed and
 * truncated text.  The parsers every module shares (stat, smaps, cgroup)
 * are in proc.c.
 */
#include "vm-internal.h"

#include <ctype.h>
#include <inttypes.h>

int vm_array_add(uint64_t **array, size_t *n, size_t index, uint64_t value)
{
	if (index >= *n) {
		uint64_t *a = realloc(*array, (index + 1) * sizeof(*a));
		if (!a)
			return -ENOMEM;
		memset(a + *n, 0, (index + 1 - *n) * sizeof(*a));
		*array = a;
		*n = index + 1;
	}
	(*array)[index] += value;
	return 0;
}

/* ---- numa_maps ---------------------------------------------------------- */

void vm_numa_maps_free(struct vm_numa_map *maps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(maps[i].node_pages);
	free(maps);
}

static int numa_map_token(struct vm_numa_map *m, const char *s, size_t len)
{
	uint64_t v;
	if (len > 1 && s[0] == 'N' && isdigit((unsigned char)s[1])) {
		const char *eq = memchr(s, '=', len);
		uint64_t node;
		if (!eq || nk_parse_token_u64(s + 1, (size_t)(eq - s - 1), &node) < 0 ||
		    node >= NK_BITMAP_MAX_BIT ||
		    nk_parse_token_u64(eq + 1, len - (size_t)(eq - s) - 1, &v) < 0)
			return -EINVAL;
		return vm_array_add(&m->node_pages, &m->n_node_pages, node, v);
	}
	if (len > 18 && strncmp(s, "kernelpagesize_kB=", 18) == 0) {
		if (nk_parse_token_u64(s + 18, len - 18, &v) < 0 || v == 0 || v > UINT64_MAX / 1024)
			return -EINVAL;
		m->page_size = v * 1024;
	}
	return 0; /* policy, anon=, dirty=, file=, huge... */
}

int vm_parse_numa_maps(const char *text, struct vm_numa_map **ret_maps, size_t *ret_n)
{
	struct vm_numa_map *maps = NULL;
	size_t n = 0;
	int r = 0;

	if (!text)
		return -EINVAL;
	for (const char *line = text; *line && r == 0;) {
		const char *end = line + strcspn(line, "\n");
		if (end == line) {
			line = *end ? end + 1 : end;
			continue;
		}
		struct vm_numa_map m = {.page_size = 4096};
		const char *p = line, *s;
		char *e;
		errno = 0;
		m.start = strtoull(p, &e, 16);
		if (e == p || *e != ' ' || errno) {
			r = -EINVAL;
			break;
		}
		/* The policy, then key=value and flag tokens. */
		for (p = e, s = NULL; r == 0 && p <= end; p++) {
			if (p < end && *p != ' ') {
				if (!s)
					s = p;
				continue;
			}
			if (s)
				r = numa_map_token(&m, s, (size_t)(p - s));
			s = NULL;
		}
		struct vm_numa_map *nm = r == 0 ? realloc(maps, (n + 1) * sizeof(*nm)) : NULL;
		if (!nm) {
			free(m.node_pages);
			r = r < 0 ? r : -ENOMEM;
			break;
		}
		maps = nm;
		maps[n++] = m;
		line = *end ? end + 1 : end;
	}
	if (r < 0) {
		vm_numa_maps_free(maps, n);
		return r;
	}
	*ret_maps = maps;
	*ret_n = n;
	return 0;
}

/* ---- guest RAM ---------------------------------------------------------- */

#define STRONG_MIN (1ull << 20)
#define WEAK_MIN   (64ull << 20)

/* 2: mergeable or hugetlb; 1: large anonymous or shared memory; 0: not RAM. */
static int ram_rank(const struct nk_proc_vma *v)
{
	uint64_t size = v->end - v->start;
	bool shared_mem = !*v->name || strncmp(v->name, "/memfd:", 7) == 0 ||
			  strncmp(v->name, "/dev/shm/", 9) == 0 ||
			  strncmp(v->name, "/dev/hugepages", 14) == 0 ||
			  strncmp(v->name, "[anon:", 6) == 0;
	if (v->perms[1] != 'w' || v->perms[2] == 'x')
		return 0; /* RAM is writable; a TCG code buffer is executable */
	if ((v->mergeable || v->hugetlb_vma) && size >= STRONG_MIN)
		return 2;
	if ((shared_mem || v->hugetlb_vma) && size >= WEAK_MIN)
		return 1;
	return 0;
}

/* qsort() passes no context to its comparator. */
static __thread const struct nk_proc_vma *sort_vmas;

static int by_rank_and_size(const void *a, const void *b)
{
	const struct nk_proc_vma *x = &sort_vmas[*(const size_t *)a],
				 *y = &sort_vmas[*(const size_t *)b];
	int rx = ram_rank(x), ry = ram_rank(y);
	uint64_t sx = x->end - x->start, sy = y->end - y->start;
	if (rx != ry)
		return rx > ry ? -1 : 1;
	if (sx != sy)
		return sx > sy ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int by_index(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

int vm_pick_guest_ram(const struct nk_proc_vma *vmas, size_t n, uint64_t ram_bytes,
		      size_t **ret_index, size_t *ret_n)
{
	_cleanup_free_ size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	size_t k = 0, chosen = 0;
	int best = 0;

	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int rank = ram_rank(&vmas[i]);
		/* A reservation far larger than the guest's RAM (a sanitizer's
		 * shadow, a runtime's heap) holds no guest RAM. */
		if (rank == 1 && ram_bytes && vmas[i].end - vmas[i].start > 2 * ram_bytes)
			rank = 0;
		if (rank > 0)
			idx[k++] = i;
		if (rank > best)
			best = rank;
	}
	sort_vmas = vmas;
	qsort(idx, k, sizeof(*idx), by_rank_and_size);
	if (ram_bytes) {
		/* The largest first, until they hold the size the VMM was given. */
		for (uint64_t sum = 0; chosen < k && sum < ram_bytes; chosen++)
			sum += vmas[idx[chosen]].end - vmas[idx[chosen]].start;
	} else {
		while (chosen < k && ram_rank(&vmas[idx[chosen]]) == best)
			chosen++;
	}
	qsort(idx, chosen, sizeof(*idx), by_index);
	*ret_index = TAKE_PTR(idx);
	*ret_n = chosen;
	return 0;
}
