/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/ksm-control.h
 * @brief Writing KSM's knobs safely: every value is checked against the
 *        kernel's own rules before the first write, writes go in the order
 *        the kernel needs, and a failed write rolls back the ones before it.
 *        Also ksmd's CPU time, which the tuner budgets.
 *
 * The kernel's rules this follows (mm/ksm.c): pages_to_scan is refused
 * (EINVAL) while advisor_mode is scan-time; switching advisor_mode resets
 * pages_to_scan; merge_across_nodes and max_page_sharing are refused
 * (EBUSY) while any page is shared, so changing them needs an unmerge
 * (run=2) first, which is done only when asked for.
 */
#ifndef NUMAKSM_KSM_CONTROL_H
#define NUMAKSM_KSM_CONTROL_H

#include <sys/types.h>

#include "numaksm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The writable KSM knobs of /sys/kernel/mm/ksm. */
enum nk_ksm_param {
	NK_KSM_RUN = 0,		/**< 0 stop (keep merged pages), 1 run, 2 stop and unmerge all */
	NK_KSM_PAGES_TO_SCAN,	/**< pages per batch */
	NK_KSM_SLEEP_MILLISECS, /**< sleep between batches */
	NK_KSM_MERGE_ACROSS_NODES,
	NK_KSM_MAX_PAGE_SHARING,
	NK_KSM_USE_ZERO_PAGES,
	NK_KSM_SMART_SCAN,
	NK_KSM_STABLE_NODE_CHAINS_PRUNE_MILLISECS,
	NK_KSM_ADVISOR_MODE, /**< 0 none, 1 scan-time */
	NK_KSM_ADVISOR_MAX_CPU,
	NK_KSM_ADVISOR_MIN_PAGES_TO_SCAN,
	NK_KSM_ADVISOR_MAX_PAGES_TO_SCAN,
	NK_KSM_ADVISOR_TARGET_SCAN_TIME,
	NK_KSM_PARAM_COUNT,
};

/** Values of NK_KSM_ADVISOR_MODE. */
#define NK_KSM_ADVISOR_NONE	 0
#define NK_KSM_ADVISOR_SCAN_TIME 1

/** A set of knob values: `value[p]` counts only where bit p of `mask` is set. */
struct nk_ksm_settings {
	uint64_t value[NK_KSM_PARAM_COUNT];
	uint32_t mask;
};

/** @return the knob's sysfs name ("pages_to_scan"), or NULL out of range. */
const char *nk_ksm_param_name(enum nk_ksm_param param);

/** @return the knob called `name`, or -ENOENT. */
int nk_ksm_param_lookup(const char *name);

/**
 * Parse one "KEY=VALUE" (as `numaksm ksm set` takes it) into `settings`:
 * the key must be a writable knob and the value within what the kernel
 * accepts (booleans as 0/1/yes/no/on/off, advisor_mode as none/scan-time).
 * @return 0; -EINVAL with a message naming the key or value and the range.
 */
int nk_ksm_settings_parse(const char *assignment, struct nk_ksm_settings *settings, nk_error **err);

/**
 * Format settings as "key=value" lines in knob order.
 * @return the length; -ENOMEM.
 */
int nk_ksm_settings_format(const struct nk_ksm_settings *settings, char **ret_text);

/**
 * Read the knobs of `mask` (all of them for ~0u) that this kernel has;
 * absent ones are left out of the result's mask.
 * @return 0; -ENOTSUP without KSM; -errno with a message on a malformed file.
 */
int nk_ksm_settings_read(nk_host *host, uint32_t mask, struct nk_ksm_settings *ret, nk_error **err);

/** nk_ksm_apply() flags. */
enum nk_ksm_apply_flags {
	/** Unmerge everything (run=2) first when merge_across_nodes or
	 *  max_page_sharing change while pages are shared, then put run back. */
	NK_KSM_APPLY_UNMERGE = 1 << 0,
	/** Check everything, write nothing. */
	NK_KSM_APPLY_CHECK_ONLY = 1 << 1,
};

/**
 * Set the knobs of `want`.  Everything is checked before the first write:
 * that this kernel has each knob, pages_to_scan against advisor_mode,
 * advisor_min_pages_to_scan <= advisor_max_pages_to_scan, and knobs that
 * need an unmerge (EBUSY otherwise; refused without NK_KSM_APPLY_UNMERGE,
 * and with it when MemAvailable could not hold the unmerged pages).  Knobs
 * already at the wanted value are not written.  When a write fails, the
 * knobs written before it get their previous values back.
 * @param ret_previous  optional: the previous values of the knobs written.
 * @return the number of knobs written; -EINVAL/-EBUSY/-ENOTSUP/-ENOMEM
 *         with a message when refused before writing; -EROFS on a captured
 *         tree; the write's -errno (after the rollback) when the kernel refused.
 */
int nk_ksm_apply(nk_host *host, const struct nk_ksm_settings *want, unsigned flags,
		 struct nk_ksm_settings *ret_previous, nk_error **err);

/**
 * Find ksmd: the kernel thread named "ksmd".
 * @return 0; -ESRCH when there is none (no KSM, or a captured tree without it).
 */
int nk_ksmd_find(nk_host *host, pid_t *ret_pid, nk_error **err);

#ifdef __cplusplus
}
#endif
#endif
