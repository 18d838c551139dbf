/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "basic.h"

#include <stdint.h>

struct nk_bitmap {
	size_t nwords;
	uint64_t *words;
};

_nk_export_ nk_bitmap *nk_bitmap_new(void)
{
	return calloc(1, sizeof(nk_bitmap));
}

_nk_export_ nk_bitmap *nk_bitmap_free(nk_bitmap *b)
{
	if (b) {
		free(b->words);
		free(b);
	}
	return NULL;
}

_nk_export_ nk_bitmap *nk_bitmap_dup(const nk_bitmap *b)
{
	nk_bitmap *c = nk_bitmap_new();
	if (!c)
		return NULL;
	if (b->nwords) {
		c->words = malloc(b->nwords * sizeof(uint64_t));
		if (!c->words)
			return nk_bitmap_free(c);
		memcpy(c->words, b->words, b->nwords * sizeof(uint64_t));
		c->nwords = b->nwords;
	}
	return c;
}

/* Make room for bit `bit` (at most NK_BITMAP_MAX_BIT). */
static int grow(nk_bitmap *b, unsigned bit)
{
	size_t need = bit / 64 + 1;
	if (need <= b->nwords)
		return 0;
	/* Twice as large at least: bits set one by one in rising order, as a
	 * list such as "0,1,2,...,1048576" gives them, grow it a word at a time
	 * otherwise, copying it again each time. */
	size_t n = need > 2 * b->nwords ? need : 2 * b->nwords;
	if (n > NK_BITMAP_MAX_BIT / 64 + 1)
		n = NK_BITMAP_MAX_BIT / 64 + 1;
	uint64_t *words = realloc(b->words, n * sizeof(uint64_t));
	if (!words)
		return -ENOMEM;
	memset(words + b->nwords, 0, (n - b->nwords) * sizeof(uint64_t));
	b->words = words;
	b->nwords = n;
	return 0;
}

_nk_export_ int nk_bitmap_set(nk_bitmap *b, unsigned bit)
{
	if (bit > NK_BITMAP_MAX_BIT)
		return -ERANGE;
	if (grow(b, bit) < 0)
		return -ENOMEM;
	b->words[bit / 64] |= UINT64_C(1) << (bit % 64);
	return 0;
}

_nk_export_ int nk_bitmap_set_range(nk_bitmap *b, unsigned first, unsigned last)
{
	if (first > last || last > NK_BITMAP_MAX_BIT)
		return -ERANGE;
	if (grow(b, last) < 0)
		return -ENOMEM;
	size_t fw = first / 64, lw = last / 64;
	uint64_t head = ~UINT64_C(0) << (first % 64), tail = ~UINT64_C(0) >> (63 - last % 64);
	if (fw == lw) {
		b->words[fw] |= head & tail;
		return 0;
	}
	b->words[fw] |= head;
	for (size_t w = fw + 1; w < lw; w++)
		b->words[w] = ~UINT64_C(0);
	b->words[lw] |= tail;
	return 0;
}

_nk_export_ void nk_bitmap_clear(nk_bitmap *b, unsigned bit)
{
	if (bit / 64 < b->nwords)
		b->words[bit / 64] &= ~(UINT64_C(1) << (bit % 64));
}

_nk_export_ bool nk_bitmap_test(const nk_bitmap *b, unsigned bit)
{
	return bit / 64 < b->nwords && (b->words[bit / 64] >> (bit % 64)) & 1;
}

_nk_export_ unsigned nk_bitmap_weight(const nk_bitmap *b)
{
	unsigned n = 0;
	for (size_t i = 0; i < b->nwords; i++)
		n += (unsigned)__builtin_popcountll(b->words[i]);
	return n;
}

_nk_export_ int nk_bitmap_next(const nk_bitmap *b, unsigned from)
{
	size_t w = from / 64;
	if (w >= b->nwords)
		return -1;
	uint64_t word = b->words[w] & (~UINT64_C(0) << (from % 64));
	for (;;) {
		if (word)
			return (int)(w * 64 + (size_t)__builtin_ctzll(word));
		if (++w >= b->nwords)
			return -1;
		word = b->words[w];
	}
}

_nk_export_ int nk_bitmap_last(const nk_bitmap *b)
{
	for (size_t w = b->nwords; w > 0; w--)
		if (b->words[w - 1])
			return (int)((w - 1) * 64 + 63 - (size_t)__builtin_clzll(b->words[w - 1]));
	return -1;
}

_nk_export_ bool nk_bitmap_is_subset(const nk_bitmap *sub, const nk_bitmap *super)
{
	for (size_t i = 0; i < sub->nwords; i++) {
		uint64_t s = i < super->nwords ? super->words[i] : 0;
		if (sub->words[i] & ~s)
			return false;
	}
	return true;
}

_nk_export_ bool nk_bitmap_equal(const nk_bitmap *a, const nk_bitmap *b)
{
	return nk_bitmap_is_subset(a, b) && nk_bitmap_is_subset(b, a);
}

_nk_export_ int nk_bitmap_format(const nk_bitmap *b, char **ret_text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;

	bool first = true;
	int bit = nk_bitmap_next(b, 0);
	while (bit >= 0) {
		int end = bit;
		while (nk_bitmap_test(b, (unsigned)end + 1))
			end++;
		if (end == bit)
			fprintf(f, "%s%d", first ? "" : ",", bit);
		else
			fprintf(f, "%s%d-%d", first ? "" : ",", bit, end);
		first = false;
		bit = nk_bitmap_next(b, (unsigned)end + 1);
	}
	if (fclose(f) != 0 || !buf) {
		free(buf);
		return -ENOMEM;
	}
	*ret_text = buf;
	return (int)len;
}
