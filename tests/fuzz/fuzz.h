/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What every fuzz target shares: the libFuzzer entry point, the input as a
 * string, and checks of invariants that abort (libFuzzer then keeps the
 * input as a crash).  Targets see the library's private headers, as the
 * unit tests do.
 */
#ifndef NUMAKSM_FUZZ_H
#define NUMAKSM_FUZZ_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numaksm/cleanup.h"
#include "numaksm/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant: when it does not hold, say which and abort. */
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant '%s' does not hold: ", __FILE__,         \
				__LINE__, #cond);                                                  \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The input as a string of exactly its bytes: the parsers take text, and a
 * NUL in the input ends it there, as it would in a file read as text. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	return text;
}

/* asprintf() that cannot fail quietly. */
#define fuzz_asprintf(ret, ...)                                                                    \
	do {                                                                                       \
		if (asprintf((ret), __VA_ARGS__) < 0)                                              \
			abort();                                                                   \
	} while (0)

/* Append to a string built with open_memstream(). */
static inline FILE *fuzz_memstream(char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);
	if (!f)
		abort();
	return f;
}

static inline void fuzz_memstream_close(FILE *f)
{
	if (fclose(f) != 0)
		abort();
}

/* Two bitmaps hold the same set (NULL is the empty set). */
static inline bool fuzz_same_set(const nk_bitmap *a, const nk_bitmap *b)
{
	if (!a || !b)
		return (!a || nk_bitmap_weight(a) == 0) && (!b || nk_bitmap_weight(b) == 0);
	return nk_bitmap_equal(a, b);
}

/* A bitmap as a list ("0-3,6"); aborts when out of memory. */
static inline char *fuzz_list(const nk_bitmap *b)
{
	char *text = NULL;
	if (nk_bitmap_format(b, &text) < 0)
		abort();
	return text;
}

#endif
