/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/cleanup.h
 * @brief Scope-bound cleanup for programs built on libnumaksm, in the style
 *        of systemd and crun: a variable declared `_cleanup_free_ char *s`
 *        is freed when it goes out of scope, and TAKE_PTR() hands it on.
 *
 * Optional: nothing else includes it.  It defines `_cleanup_` names, so a
 * program that has its own should not include it.  numaksm's own modules
 * and programs use it.  GCC and Clang only (__attribute__((cleanup))).
 */
#ifndef NUMAKSM_CLEANUP_H
#define NUMAKSM_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "numaksm/core.h"
#include "numaksm/rundir.h"

#define _cleanup_(f)	 __attribute__((cleanup(f)))
#define _cleanup_free_	 _cleanup_(nk_freep)
#define _cleanup_close_	 _cleanup_(nk_closep)
#define _cleanup_fclose_ _cleanup_(nk_fclosep)
#define _cleanup_error_	 _cleanup_(nk_error_freep)
#define _cleanup_bitmap_ _cleanup_(nk_bitmap_freep)
#define _cleanup_strv_	 _cleanup_(nk_strv_freep)
#define _cleanup_host_	 _cleanup_(nk_host_freep)

/** Hand over ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _p = (p);                                                            \
		(p) = NULL;                                                                        \
		_p;                                                                                \
	})
/** Hand over a descriptor out of a _cleanup_close_ variable. */
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _fd = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_fd;                                                                               \
	})

/**
 * NK_DEFINE_FREEP(type, free_fn) defines `free_fn##p(type *)`, the cleanup
 * function of a pointer to `type` freed by `free_fn` (which accepts NULL).
 */
#define NK_DEFINE_FREEP(type, free_fn)                                                             \
	static inline void free_fn##p(type *p)                                                     \
	{                                                                                          \
		free_fn(*p);                                                                       \
	}

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

NK_DEFINE_FREEP(nk_error *, nk_error_free)
NK_DEFINE_FREEP(nk_bitmap *, nk_bitmap_free)
NK_DEFINE_FREEP(char **, nk_strv_free)
NK_DEFINE_FREEP(nk_host *, nk_host_free)
NK_DEFINE_FREEP(nk_rundir *, nk_rundir_free)

#endif
