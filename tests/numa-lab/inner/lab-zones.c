/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NUMA lab tests of guest RAM zones (memory/), run inside the multi-node
 * guest:
 *   lab-zones policies   bind, preferred and interleave land where they
 *                        should on every node, page by page
 *   lab-zones empty-pool a zone bound to a node whose 2M pool is empty is
 *                        refused before mapping (and, with the pool check
 *                        skipped, fails at prefault without a SIGBUS),
 *                        while other nodes still give pages
 *   lab-zones migrate    a live zone moves from the first node to the last;
 *                        every page and its content is verified; MB/s
 *   lab-zones migrate-steps  the same a chunk at a time (nk_zone_move_*):
 *                        each step moves 16 MiB and says so; a move ended
 *                        half way leaves the rest where it was, the zone
 *                        bound to its new node
 * Exit 0 pass, 1 fail, 77 skip.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <numaksm/memory.h>

#define PASS 0
#define FAIL 1
#define SKIP 77

static nk_host *host;
static struct nk_hostinfo *info;
static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL %s:%d: ", __func__, __LINE__);                                \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static nk_zone *zone(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static nk_zone *zone_spec(struct nk_zone_spec *spec, nk_error **err)
{
	nk_zone *z = NULL;
	if (nk_zone_create(host, spec, &z, err) < 0)
		return NULL;
	return z;
}

static nk_zone *zone(const char *fmt, ...)
{
	char text[256];
	va_list ap;
	struct nk_zone_spec spec;
	nk_error *err = NULL;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	nk_zone_spec_init(&spec);
	nk_zone *z = NULL;
	if (nk_zone_spec_parse(text, &spec, &err) == 0)
		z = zone_spec(&spec, &err);
	if (!z)
		printf("zone %s: %s\n", text, nk_error_message(err));
	nk_error_free(err);
	nk_zone_spec_done(&spec);
	return z;
}

static const struct nk_hugepage_pool *node_pool(const struct nk_numa_node *n, uint64_t kb)
{
	for (size_t i = 0; i < n->n_hugepages; i++)
		if (n->hugepages[i].size_kb == kb)
			return &n->hugepages[i];
	return NULL;
}

/* Exact pages per node of a zone; prints the histogram. */
static bool placement(nk_zone *z, const char *what, struct nk_placement *p)
{
	nk_error *err = NULL;
	if (nk_zone_placement(z, UINT64_MAX, p, &err) < 0) {
		printf("%s: %s\n", what, nk_error_message(err));
		nk_error_free(err);
		return false;
	}
	printf("%-28s", what);
	for (size_t n = 0; n < p->n_node_pages; n++)
		if (p->node_pages[n])
			printf(" node%zu=%" PRIu64, n, p->node_pages[n]);
	printf(" absent=%" PRIu64 "\n", p->not_present);
	return true;
}

static uint64_t on_node(const struct nk_placement *p, int node)
{
	return (size_t)node < p->n_node_pages ? p->node_pages[node] : 0;
}

/* The prefault threads ran next to the memory: on the node's own CPUs, or
 * for a memory-only node on those of the nearest nodes with CPUs. */
static void check_prefault_cpus(nk_zone *z, const struct nk_numa_node *n)
{
	const nk_bitmap *cpus = nk_zone_prefault_stats(z)->cpus;
	nk_bitmap *expect = nk_bitmap_new();
	if (nk_bitmap_weight(n->cpus)) {
		nk_bitmap_foreach (c, n->cpus)
			nk_bitmap_set(expect, (unsigned)c);
	} else {
		uint64_t best = UINT64_MAX;
		for (size_t j = 0; j < info->n_nodes; j++)
			if (nk_bitmap_weight(info->nodes[j].cpus) && n->distances[j] < best)
				best = n->distances[j];
		for (size_t j = 0; j < info->n_nodes; j++)
			if (nk_bitmap_weight(info->nodes[j].cpus) && n->distances[j] == best)
				nk_bitmap_foreach (c, info->nodes[j].cpus)
					nk_bitmap_set(expect, (unsigned)c);
	}
	char *got = NULL, *want = NULL;
	nk_bitmap_format(cpus, &got);
	nk_bitmap_format(expect, &want);
	CHECK(nk_bitmap_equal(cpus, expect), "node %d: prefault on CPUs %s, expected %s", n->id,
	      got, want);
	if (!nk_bitmap_weight(n->cpus))
		printf("memory-only node %d: prefault threads on CPUs %s (nearest)\n", n->id, got);
	free(got);
	free(want);
	nk_bitmap_free(expect);
}

static int test_policies(void)
{
	char what[64];
	struct nk_placement p;
	int mem_nodes = 0;
	char all[64] = "";

	for (size_t i = 0; i < info->n_nodes; i++) {
		const struct nk_numa_node *n = &info->nodes[i];
		if (!n->has_memory)
			continue;
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%d", mem_nodes ? ":" : "",
			 n->id);
		mem_nodes++;
		static const char *const policies[] = {"bind", "preferred", "preferred-many"};
		for (size_t k = 0; k < 3; k++) {
			nk_zone *z = zone("id=%s%d,size=16M,policy=%s,nodes=%d", policies[k], n->id,
					  policies[k], n->id);
			CHECK(z, "4K %s on node %d", policies[k], n->id);
			if (!z)
				continue;
			snprintf(what, sizeof(what), "4K %s node %d", policies[k], n->id);
			check_prefault_cpus(z, n);
			if (placement(z, what, &p)) {
				CHECK(on_node(&p, n->id) == p.pages,
				      "%s: %" PRIu64 " of %" PRIu64 " pages on node %d", what,
				      on_node(&p, n->id), p.pages, n->id);
				nk_placement_done(&p);
			}
			nk_zone_free(z);
		}
		const struct nk_hugepage_pool *pool = node_pool(n, 2048);
		if (pool && pool->free >= 4) {
			nk_zone *z =
			    zone("id=hp%d,size=8M,hugepages=2M,policy=bind,nodes=%d", n->id, n->id);
			CHECK(z, "2M bind on node %d with %" PRIu64 " free pages", n->id,
			      pool->free);
			if (z) {
				snprintf(what, sizeof(what), "2M bind node %d", n->id);
				if (placement(z, what, &p)) {
					CHECK(on_node(&p, n->id) == 4,
					      "%s: %" PRIu64 " of 4 on node", what,
					      on_node(&p, n->id));
					nk_placement_done(&p);
				}
				nk_zone_free(z);
			}
		}
	}
	if (mem_nodes < 2) {
		printf("fewer than 2 nodes with memory\n");
		return SKIP;
	}
	/* Interleave: the kernel deals pages round-robin by offset. */
	nk_zone *z = zone("id=il,size=16M,policy=interleave,nodes=%s", all);
	CHECK(z, "interleave over %s", all);
	if (z && placement(z, "4K interleave all", &p)) {
		uint64_t share = p.pages / (uint64_t)mem_nodes;
		for (size_t i = 0; i < info->n_nodes; i++) {
			if (!info->nodes[i].has_memory)
				continue;
			uint64_t got = on_node(&p, info->nodes[i].id);
			CHECK(got >= share && got <= share + 1,
			      "interleave: node %d has %" PRIu64 " pages, expected %" PRIu64,
			      info->nodes[i].id, got, share);
		}
		nk_placement_done(&p);
	}
	nk_zone_free(z);
	return failures ? FAIL : PASS;
}

static bool memfd_mapped(const char *id)
{
	char *maps = NULL, name[64];
	snprintf(name, sizeof(name), "memfd:numaksm-%s ", id);
	if (nk_host_read(host, "/proc/self/maps", &maps, NULL) < 0)
		return true;
	bool found = strstr(maps, name) != NULL;
	free(maps);
	return found;
}

static int test_empty_pool(void)
{
	const struct nk_numa_node *empty = NULL, *full = NULL;
	for (size_t i = 0; i < info->n_nodes; i++) {
		const struct nk_hugepage_pool *p = node_pool(&info->nodes[i], 2048);
		if (!info->nodes[i].has_memory || !p)
			continue;
		if (p->total == 0 && !empty)
			empty = &info->nodes[i];
		if (p->free >= 4 && !full)
			full = &info->nodes[i];
	}
	if (!empty || !full) {
		printf("needs a node with an empty 2M pool and one with 4 free pages\n");
		return SKIP;
	}
	printf("empty pool: node %d; pages on node %d\n", empty->id, full->id);

	/* Refused before mapping, naming the node and the fix. */
	struct nk_zone_spec spec;
	nk_error *err = NULL;
	char text[128];
	snprintf(text, sizeof(text), "id=dry,size=4M,hugepages=2M,policy=bind,nodes=%d", empty->id);
	nk_zone_spec_init(&spec);
	nk_zone_spec_parse(text, &spec, NULL);
	nk_zone *z = zone_spec(&spec, &err);
	char expect[96];
	snprintf(expect, sizeof(expect), "node %d has 0 free 2048 kB hugepages, 2 needed",
		 empty->id);
	CHECK(!z && nk_error_code(err) == ENOMEM && strstr(nk_error_message(err), expect),
	      "pool check: got '%s'", err ? nk_error_message(err) : "a zone");
	CHECK(err && nk_error_get_hint(err) &&
		  strstr(nk_error_get_hint(err), "numaksm hugepages reserve"),
	      "hint names the fix");
	if (err)
		printf("refused: %s\n  hint: %s\n", nk_error_message(err), nk_error_get_hint(err));
	err = nk_error_free(err);
	CHECK(!memfd_mapped("dry"), "nothing left mapped");

	/* The global pool has pages, so mmap succeeds; binding makes the
	 * prefault fail on the empty node: an error, never a SIGBUS. */
	for (int touch = 0; touch < 2; touch++) {
		spec.no_pool_check = true;
		spec.force_touch = touch;
		z = zone_spec(&spec, &err);
		CHECK(!z && err && strstr(nk_error_message(err), "prefault failed"),
		      "%s prefault on an empty node: got '%s'", touch ? "touch" : "populate",
		      err ? nk_error_message(err) : "a zone");
		if (err)
			printf("%s: %s\n", touch ? "touch" : "populate", nk_error_message(err));
		err = nk_error_free(err);
		CHECK(!memfd_mapped("dry"), "nothing left mapped after the prefault failure");
	}
	nk_zone_spec_done(&spec);

	/* Other nodes still give pages. */
	z = zone("id=wet,size=8M,hugepages=2M,policy=bind,nodes=%d", full->id);
	CHECK(z, "node %d still gives pages", full->id);
	if (z) {
		struct nk_placement p;
		if (placement(z, "2M on a node with pages", &p)) {
			CHECK(on_node(&p, full->id) == 4, "pages on node %d", full->id);
			nk_placement_done(&p);
		}
		nk_zone_free(z);
	}
	return failures ? FAIL : PASS;
}

/* The first and the last node with memory; false when they are one. */
static bool two_nodes(const struct nk_numa_node **ret_first, const struct nk_numa_node **ret_last)
{
	const struct nk_numa_node *first = NULL, *last = NULL;
	for (size_t i = 0; i < info->n_nodes; i++) {
		if (!info->nodes[i].has_memory)
			continue;
		if (!first)
			first = &info->nodes[i];
		last = &info->nodes[i];
	}
	if (!first || first == last) {
		printf("fewer than 2 nodes with memory\n");
		return false;
	}
	*ret_first = first;
	*ret_last = last;
	return true;
}

static int test_migrate(void)
{
	const struct nk_numa_node *first, *last;
	if (!two_nodes(&first, &last))
		return SKIP;
	/* Up to 1 GiB, as much as both nodes comfortably hold. */
	uint64_t free_kb =
	    first->mem_free_kb < last->mem_free_kb ? first->mem_free_kb : last->mem_free_kb;
	uint64_t size = (free_kb * 1024 / 2) & ~((64ull << 20) - 1);
	if (size > (1ull << 30))
		size = 1ull << 30;
	if (size < (64ull << 20))
		size = 32ull << 20;
	nk_zone *z = zone("id=mig,size=%" PRIu64 "M,policy=bind,nodes=%d", size >> 20, first->id);
	if (!z) {
		failures++;
		return FAIL;
	}
	uint64_t *words = nk_zone_addr(z);
	uint64_t n_words = nk_zone_size(z) / sizeof(uint64_t);
	for (uint64_t i = 0; i < n_words; i += 512)
		words[i] = i * 2654435761u;
	struct nk_placement p;
	if (placement(z, "before", &p)) {
		CHECK(on_node(&p, first->id) == p.pages, "all on node %d first", first->id);
		nk_placement_done(&p);
	}

	nk_bitmap *to = nk_bitmap_new();
	nk_bitmap_set(to, (unsigned)last->id);
	struct nk_migration m;
	nk_error *err = NULL;
	if (nk_zone_migrate(z, to, &m, &err) < 0) {
		printf("migrate: %s\n", nk_error_message(err));
		failures++;
	} else {
		printf("migrated %" PRIu64 " MiB node %d -> node %d: %" PRIu64
		       " pages moved, %" PRIu64 " failed, %" PRIu64
		       " already there, %.3f s, %.0f MB/s\n",
		       size >> 20, first->id, last->id, m.pages_moved, m.pages_failed,
		       m.pages_already, m.seconds, m.mb_per_s);
		CHECK(m.pages_moved == nk_zone_size(z) / 4096, "every page moved");
		CHECK(m.pages_failed == 0, "no page failed (first errno %d)", m.first_failure);
	}
	if (placement(z, "after", &p)) {
		CHECK(on_node(&p, last->id) == p.pages, "%" PRIu64 " of %" PRIu64 " on node %d",
		      on_node(&p, last->id), p.pages, last->id);
		nk_placement_done(&p);
	}
	uint64_t bad = 0;
	for (uint64_t i = 0; i < n_words; i += 512)
		if (words[i] != i * 2654435761u)
			bad++;
	CHECK(bad == 0, "%" PRIu64 " pages lost their content", bad);
	/* New faults follow the zone to its new node. */
	CHECK(nk_zone_spec(z)->policy == NK_POLICY_BIND &&
		  nk_bitmap_test(nk_zone_spec(z)->nodes, (unsigned)last->id),
	      "the zone is now bound to node %d", last->id);
	nk_error_free(err);
	nk_bitmap_free(to);
	nk_zone_free(z);
	return failures ? FAIL : PASS;
}

/* Pages of the zone on `node` now, or UINT64_MAX when it cannot be told. */
static uint64_t pages_on(nk_zone *z, const char *what, int node)
{
	struct nk_placement p;
	if (!placement(z, what, &p))
		return UINT64_MAX;
	uint64_t n = on_node(&p, node);
	nk_placement_done(&p);
	return n;
}

static int test_migrate_steps(void)
{
	const struct nk_numa_node *first, *last;
	if (!two_nodes(&first, &last))
		return SKIP;
	const uint64_t chunk = 16ull << 20, size = 2 * chunk + chunk / 2;
	const uint64_t chunk_pages = chunk / 4096, pages = size / 4096;
	nk_bitmap *to = nk_bitmap_new();
	nk_bitmap_set(to, (unsigned)last->id);

	/* Stepped to the end: 16 MiB, 16 MiB, then the last 8 MiB. */
	nk_zone *z = zone("id=steps,size=%" PRIu64 "M,policy=bind,nodes=%d", size >> 20, first->id);
	nk_zone_move *mv = NULL;
	nk_error *err = NULL;
	struct nk_migration m;
	uint64_t done, total;
	if (!z || nk_zone_move_start(z, to, &mv, &err) < 0) {
		printf("start: %s\n", err ? nk_error_message(err) : "no zone");
		nk_error_free(err);
		nk_bitmap_free(to);
		nk_zone_free(z);
		return FAIL;
	}
	nk_zone_move_progress(mv, &m, &done, &total);
	CHECK(done == 0 && total == size && m.pages_moved == 0,
	      "before a step: %" PRIu64 " of %" PRIu64 " bytes, %" PRIu64 " pages moved", done,
	      total, m.pages_moved);
	static const int expect_r[] = {1, 1, 0, 0};
	for (int i = 0; i < 4; i++) {
		int r = nk_zone_move_step(mv, &err);
		uint64_t want = i < 2 ? (uint64_t)(i + 1) * chunk_pages : pages;
		nk_zone_move_progress(mv, &m, &done, &total);
		printf("step %d: %d, %" PRIu64 " of %" PRIu64 " bytes, %" PRIu64 " pages moved\n",
		       i + 1, r, done, total, m.pages_moved);
		CHECK(r == expect_r[i], "step %d returned %d, not %d", i + 1, r, expect_r[i]);
		CHECK(m.pages_moved == want && done == want * 4096 && m.pages_failed == 0,
		      "step %d: %" PRIu64 " pages moved, %" PRIu64 " bytes done; %" PRIu64
		      " expected",
		      i + 1, m.pages_moved, done, want);
		if (i == 0)
			CHECK(pages_on(z, "after one step", last->id) == chunk_pages,
			      "one step put other than 16 MiB on node %d", last->id);
	}
	nk_zone_move_end(mv, &m);
	CHECK(m.pages_moved == pages, "end: %" PRIu64 " pages moved", m.pages_moved);
	CHECK(pages_on(z, "stepped to the end", last->id) == pages, "not all on node %d", last->id);
	nk_zone_free(z);

	/* Ended after one step: the rest stays, new faults go to the new node. */
	z = zone("id=half,size=%" PRIu64 "M,policy=bind,nodes=%d", size >> 20, first->id);
	mv = NULL;
	if (!z || nk_zone_move_start(z, to, &mv, &err) < 0 || nk_zone_move_step(mv, &err) != 1) {
		printf("half: %s\n", err ? nk_error_message(err) : "no zone");
		failures++;
	} else {
		nk_zone_move_end(mv, &m);
		CHECK(m.pages_moved == chunk_pages, "ended after a step: %" PRIu64 " moved",
		      m.pages_moved);
		CHECK(pages_on(z, "ended after one step", first->id) == pages - chunk_pages,
		      "the pages not reached left node %d", first->id);
		CHECK(nk_zone_spec(z)->policy == NK_POLICY_BIND &&
			  nk_bitmap_test(nk_zone_spec(z)->nodes, (unsigned)last->id) &&
			  !nk_bitmap_test(nk_zone_spec(z)->nodes, (unsigned)first->id),
		      "the zone is not bound to node %d alone", last->id);
	}
	nk_error_free(err);
	nk_zone_free(z);

	/* Nothing changes when a node is refused. */
	nk_bitmap *bad = nk_bitmap_new();
	nk_bitmap_set(bad, 4000);
	z = zone("id=bad,size=2M,policy=bind,nodes=%d", first->id);
	mv = (nk_zone_move *)0x1;
	err = NULL;
	CHECK(z && nk_zone_move_start(z, bad, &mv, &err) == -ENODEV && mv == (nk_zone_move *)0x1 &&
		  nk_bitmap_test(nk_zone_spec(z)->nodes, (unsigned)first->id),
	      "a move to node 4000 was not refused cleanly");
	nk_error_free(err);
	nk_zone_free(z);
	nk_bitmap_free(bad);
	nk_bitmap_free(to);
	return failures ? FAIL : PASS;
}

int main(int argc, char **argv)
{
	nk_error *err = NULL;
	if (argc != 2) {
		fprintf(stderr, "usage: lab-zones policies|empty-pool|migrate|migrate-steps\n");
		return 2;
	}
	if (nk_host_open("/", &host, &err) < 0 || nk_hostinfo_read(host, &info, &err) < 0) {
		printf("%s\n", nk_error_message(err));
		return FAIL;
	}
	int r;
	if (!strcmp(argv[1], "policies"))
		r = test_policies();
	else if (!strcmp(argv[1], "empty-pool"))
		r = test_empty_pool();
	else if (!strcmp(argv[1], "migrate"))
		r = test_migrate();
	else if (!strcmp(argv[1], "migrate-steps"))
		r = test_migrate_steps();
	else
		r = 2;
	nk_hostinfo_free(info);
	nk_host_free(host);
	return r;
}
