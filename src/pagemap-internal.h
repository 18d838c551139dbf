/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bits of /proc/PID/pagemap and /proc/kpageflags that numaksm reads
 * (Documentation/admin-guide/mm/pagemap.rst).  Page frame numbers are shown
 * to CAP_SYS_ADMIN only; others read 0.
 */
#ifndef NUMAKSM_PAGEMAP_INTERNAL_H
#define NUMAKSM_PAGEMAP_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "numaksm/core.h"

#define PM_PRESENT   (UINT64_C(1) << 63)
#define PM_SWAP	     (UINT64_C(1) << 62)
#define PM_EXCLUSIVE (UINT64_C(1) << 56) /* mapped by this process alone */
#define PM_PFN	     ((UINT64_C(1) << 55) - 1)

#define KPF_KSM	      21
#define KPF_ZERO_PAGE 24 /* the zero page or the huge zero page */

/* Open /proc/PID/pagemap.  @return the descriptor; -ESRCH when the process
 * is gone; -errno with a message. */
int pagemap_open(pid_t pid, nk_error **err);

#endif
