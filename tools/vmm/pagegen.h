/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The content of a guest page, as a function of its guest frame number and
 * generation: a zero page, one of a set of patterns shared by every VM, or a
 * page unique to this VM.  Written by the guest program, by the VMM's
 * host-side --fill, and recomputed by whoever verifies.  Freestanding.
 */
#ifndef NUMAKSM_VMM_PAGEGEN_H
#define NUMAKSM_VMM_PAGEGEN_H

#include <stdbool.h>
#include <stdint.h>

#include "guest-abi.h"

#define NK_PG_WORDS 512 /* 64-bit words in a 4 KiB page */

enum nk_pg_kind { NK_PG_ZERO = 0, NK_PG_SHARED = 1, NK_PG_UNIQUE = 2 };

/* splitmix64's finaliser: a fast bijective mix. */
static inline uint64_t nk_pg_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Is page `gfn` rewritten by pass `pass` (>= 1)? */
static inline bool nk_pg_redirtied(const struct nkg_content *c, uint64_t gfn, uint32_t pass)
{
	return nk_pg_mix(c->seed ^ nk_pg_mix(gfn * 3 + 1) ^ ((uint64_t)pass << 40)) % 1000 <
	       c->redirty_permille;
}

/* The generation of page `gfn` after pass `pass`: the last pass that wrote it. */
static inline uint32_t nk_pg_generation(const struct nkg_content *c, uint64_t gfn, uint32_t pass)
{
	for (; pass > 0; pass--)
		if (nk_pg_redirtied(c, gfn, pass))
			return pass;
	return 0;
}

/* The kind of page `gfn` at generation `gen`, and the base its words derive from. */
static inline enum nk_pg_kind nk_pg_page(const struct nkg_content *c, uint64_t gfn, uint32_t gen,
					 uint64_t *ret_base)
{
	uint64_t h = nk_pg_mix(c->seed ^ nk_pg_mix(gfn ^ ((uint64_t)gen << 48)));
	uint32_t r = (uint32_t)(h % 100);

	if (r < c->zero_pct) {
		*ret_base = 0;
		return NK_PG_ZERO;
	}
	if (r < c->zero_pct + c->shared_pct) {
		/* The pattern's content depends on its number only, so every VM
		 * has the same set, whatever its seed and salt. */
		uint64_t pattern = (h >> 32) % (c->patterns ? c->patterns : 1);
		*ret_base = nk_pg_mix(0x5041545445524e53ull ^ pattern) * NK_PG_WORDS;
		return NK_PG_SHARED;
	}
	*ret_base = nk_pg_mix(c->salt ^ nk_pg_mix(h)) * NK_PG_WORDS;
	return NK_PG_UNIQUE;
}

static inline uint64_t nk_pg_word(enum nk_pg_kind kind, uint64_t base, unsigned i)
{
	return kind == NK_PG_ZERO ? 0 : nk_pg_mix(base + i);
}

/* Write the page; @return its checksum (the sum of its words). */
static inline uint64_t nk_pg_fill(volatile uint64_t *page, enum nk_pg_kind kind, uint64_t base)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < NK_PG_WORDS; i++) {
		uint64_t w = nk_pg_word(kind, base, i);
		page[i] = w;
		sum += w;
	}
	return sum;
}

/* @return the number of words of the page that differ from what they should be. */
static inline unsigned nk_pg_check(const volatile uint64_t *page, enum nk_pg_kind kind,
				   uint64_t base, uint64_t *sum)
{
	unsigned bad = 0;
	for (unsigned i = 0; i < NK_PG_WORDS; i++) {
		uint64_t w = page[i];
		*sum += w;
		bad += w != nk_pg_word(kind, base, i);
	}
	return bad;
}

#endif
