/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the library's modules and not exported: cleanup
 * attributes in the style of systemd and crun, logging, small string
 * helpers.
 */
#ifndef NUMAKSM_INTERNAL_H
#define NUMAKSM_INTERNAL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numaksm/core.h"

#define _nk_export_ __attribute__((visibility("default")))

#define _cleanup_(f)	 __attribute__((cleanup(f)))
#define _cleanup_free_	 _cleanup_(nk_freep)
#define _cleanup_close_	 _cleanup_(nk_closep)
#define _cleanup_fclose_ _cleanup_(nk_fclosep)
#define _cleanup_error_	 _cleanup_(nk_error_freep)
#define _cleanup_bitmap_ _cleanup_(nk_bitmap_freep)
#define _cleanup_strv_	 _cleanup_(nk_strv_freep)

static inline void nk_freep(void *p)
{
	free(*(void **)p);
}

static inline void nk_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void nk_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void nk_error_freep(nk_error **e)
{
	nk_error_free(*e);
}

static inline void nk_bitmap_freep(nk_bitmap **b)
{
	nk_bitmap_free(*b);
}

static inline void nk_strv_freep(char ***s)
{
	nk_strv_free(*s);
}

struct nk_rundir;
struct nk_rundir *nk_rundir_free(struct nk_rundir *dir);
static inline void nk_rundir_freep(struct nk_rundir **d)
{
	nk_rundir_free(*d);
}

/* Hand over ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _p = (p);                                                            \
		(p) = NULL;                                                                        \
		_p;                                                                                \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _fd = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_fd;                                                                               \
	})

#include <sys/mman.h>

/* memfd flags missing from older libc headers. */
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void nk_log(enum nk_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define nk_debug(...) nk_log(NK_LOG_DEBUG, __VA_ARGS__)
#define nk_info(...)  nk_log(NK_LOG_INFO, __VA_ARGS__)
#define nk_warn(...)  nk_log(NK_LOG_WARNING, __VA_ARGS__)

/* Strip one trailing newline (kernel attributes end with one). */
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
