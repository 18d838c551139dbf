/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Zone specs ("id=z0,size=1G,hugepages=2M,policy=bind,nodes=0-1":
 * nk_zone_spec_parse), of `numaksm zone` and numaksm-vmm's --memory.  A
 * spec that parses writes back to one that parses to the same spec.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "numaksm/memory.h"

static char *spec_text(const struct nk_zone_spec *s)
{
	_cleanup_free_ char *nodes = s->nodes ? fuzz_list(s->nodes) : NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f = fuzz_memstream(&text, &len);

	if (s->id)
		fprintf(f, "id=%s,", s->id);
	fprintf(f, "size=%" PRIu64, s->size_bytes);
	if (s->backing == NK_BACKING_HUGETLB && !s->hugepage_kb)
		fputs(",hugepages=on", f);
	else if (s->backing == NK_BACKING_HUGETLB)
		fprintf(f, ",hugepages=%" PRIu64 "K", s->hugepage_kb);
	if (s->backing == NK_BACKING_THP)
		fputs(",thp=on", f);
	fprintf(f, ",policy=%s", nk_policy_name(s->policy));
	/* Inside a spec, nodes are separated by ':' as QEMU does. */
	for (char *c = nodes; c && *c; c++)
		if (*c == ',')
			*c = ':';
	if (nodes)
		fprintf(f, ",nodes=%s", nodes);
	fprintf(f, ",mergeable=%d,prefault=%d,dump=%d,shared=%d,threads=%u", s->mergeable,
		s->prefault, s->dump, s->shared, s->prefault_threads);
	fuzz_memstream_close(f);
	return text;
}

static bool same_spec(const struct nk_zone_spec *a, const struct nk_zone_spec *b)
{
	return (a->id ? b->id && !strcmp(a->id, b->id) : !b->id) &&
	       a->size_bytes == b->size_bytes && a->backing == b->backing &&
	       a->hugepage_kb == b->hugepage_kb && a->policy == b->policy &&
	       fuzz_same_set(a->nodes, b->nodes) && !a->nodes == !b->nodes &&
	       a->shared == b->shared && a->mergeable == b->mergeable &&
	       a->prefault == b->prefault && a->dump == b->dump &&
	       a->prefault_threads == b->prefault_threads;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size), *again = NULL;
	_cleanup_error_ nk_error *err = NULL;
	struct nk_zone_spec spec, spec2;

	nk_zone_spec_init(&spec);
	nk_zone_spec_init(&spec2);
	if (nk_zone_spec_parse(text, &spec, &err) < 0) {
		FUZZ_CHECK(err && *nk_error_message(err), "a refusal without its reason");
		nk_zone_spec_done(&spec);
		return 0;
	}
	FUZZ_CHECK(!spec.id || (*spec.id && !strpbrk(spec.id, "/ \t\n,")), "id '%s'", spec.id);
	/* A hugepage size is a power of two of 2M or more, and only for hugetlb. */
	FUZZ_CHECK(!spec.hugepage_kb ||
		       (spec.backing == NK_BACKING_HUGETLB && spec.hugepage_kb >= 2048 &&
			!(spec.hugepage_kb & (spec.hugepage_kb - 1))),
		   "%s pages of %" PRIu64 " kB", nk_backing_name(spec.backing), spec.hugepage_kb);
	again = spec_text(&spec);
	FUZZ_CHECK(nk_zone_spec_parse(again, &spec2, NULL) == 0, "'%s' does not parse", again);
	FUZZ_CHECK(same_spec(&spec, &spec2), "'%s' is another spec than '%s'", again, text);
	nk_zone_spec_done(&spec);
	nk_zone_spec_done(&spec2);
	return 0;
}
