/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The few helpers every module of the library uses (core, memory, vcpu,
 * policy), below all of them: symbol export, logging, small string and
 * number helpers.  Not installed and not for programs: they use the public
 * headers, numaksm/cleanup.h among them.
 */
#ifndef NUMAKSM_BASIC_H
#define NUMAKSM_BASIC_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "numaksm/cleanup.h"
#include "numaksm/core.h"

/* A public function of the library (hidden visibility is the default). */
#define _nk_export_ __attribute__((visibility("default")))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* memfd flags missing from older libc headers. */
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif

/* Hand a message to the handler the program installed (nk_log_set_handler). */
void nk_log(enum nk_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define nk_debug(...) nk_log(NK_LOG_DEBUG, __VA_ARGS__)
#define nk_info(...)  nk_log(NK_LOG_INFO, __VA_ARGS__)
#define nk_warn(...)  nk_log(NK_LOG_WARNING, __VA_ARGS__)

/* Strip trailing newlines and spaces (kernel attributes end with one). */
static inline char *nk_strip_newline(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/* strdup that reports -ENOMEM through the usual convention. */
static inline int nk_strdup(const char *s, char **ret)
{
	char *c = strdup(s);
	if (!c)
		return -ENOMEM;
	*ret = c;
	return 0;
}

/* Hand the error in *src (set by a call that may fail harmlessly) on to
 * *dst, which keeps its own if it has one; *src is emptied either way.
 * @return -code of what *dst holds. */
int nk_error_forward(nk_error **dst, nk_error **src, int code);

/* Append a string to a NULL-terminated vector. */
int nk_strv_push(char ***strv, size_t *n, const char *s);

/* A number of `len` characters (at most 31) at `s`, as kernel files write
 * them: -EINVAL when empty, longer, malformed or out of range. */
int nk_parse_token_u64(const char *s, size_t len, uint64_t *ret);
int nk_parse_token_int(const char *s, size_t len, long long min, long long max, long long *ret);

#endif
