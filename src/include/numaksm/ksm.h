/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/ksm.h
 * @brief KSM as the kernel shows it, in one table: every knob and counter
 *        of /sys/kernel/mm/ksm, read, checked, written and printed through
 *        the same entry; ksmd; and per process /proc/PID/ksm_stat, with the
 *        savings worked out the way the kernel documents them.
 *
 * One struct holds any set of KSM values (struct nk_ksm): what a read
 * found, what a caller wants written, what a tuner saved.  hostinfo, `ksm
 * show`, status, the tuner and the exporter all carry it.
 *
 * The kernel's rules for writing (mm/ksm.c), which nk_ksm_apply() follows:
 * pages_to_scan is refused (EINVAL) while advisor_mode is scan-time;
 * switching advisor_mode resets pages_to_scan; merge_across_nodes and
 * max_page_sharing are refused (EBUSY) while any page is shared, so
 * changing them needs an unmerge (run=2) first, which is done only when
 * asked for.
 */
#ifndef NUMAKSM_KSM_H
#define NUMAKSM_KSM_H

#include <sys/types.h>

#include "numaksm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes of one rmap_item on 64-bit kernels (Documentation/admin-guide/mm/ksm.rst). */
#define NK_KSM_RMAP_ITEM_BYTES 64

/** The files of /sys/kernel/mm/ksm: the knobs (writable) first, then the counters. */
enum nk_ksm_field {
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
	NK_KSM_KNOB_COUNT, /**< the fields before this one are knobs */

	NK_KSM_PAGES_SHARED = NK_KSM_KNOB_COUNT,
	NK_KSM_PAGES_SHARING,
	NK_KSM_PAGES_UNSHARED,
	NK_KSM_PAGES_VOLATILE,
	NK_KSM_PAGES_SCANNED,
	NK_KSM_PAGES_SKIPPED,
	NK_KSM_FULL_SCANS,
	NK_KSM_ZERO_PAGES, /**< ksm_zero_pages */
	NK_KSM_STABLE_NODE_CHAINS,
	NK_KSM_STABLE_NODE_DUPS,
	NK_KSM_GENERAL_PROFIT, /**< bytes, signed: read it with nk_ksm_profit() */
	NK_KSM_FIELD_COUNT,
};

/** Values of NK_KSM_ADVISOR_MODE. */
#define NK_KSM_ADVISOR_NONE	 0
#define NK_KSM_ADVISOR_SCAN_TIME 1

/** The bit of field `f` in struct nk_ksm's mask. */
#define NK_KSM_BIT(f) (UINT64_C(1) << (f))
/** Every knob; every field. */
#define NK_KSM_KNOBS ((UINT64_C(1) << NK_KSM_KNOB_COUNT) - 1)
#define NK_KSM_ALL   ((UINT64_C(1) << NK_KSM_FIELD_COUNT) - 1)

/** A set of KSM values: `value[f]` counts only where NK_KSM_BIT(f) is in `mask`. */
struct nk_ksm {
	uint64_t value[NK_KSM_FIELD_COUNT];
	uint64_t mask;
};

/** What kind of value a field holds, and so how it is written as text. */
enum nk_ksm_type {
	NK_KSM_TYPE_NUMBER = 0, /**< an unsigned number */
	NK_KSM_TYPE_BOOL,	/**< 0 or 1 */
	NK_KSM_TYPE_ADVISOR,	/**< "none" or "scan-time" */
	NK_KSM_TYPE_SIGNED,	/**< a signed number (general_profit) */
};

/** One entry of the table. */
struct nk_ksm_field_info {
	const char *name; /**< its file: "pages_to_scan" */
	enum nk_ksm_type type;
	bool writable;	     /**< a knob */
	uint64_t min, max;   /**< what may be written (knobs) */
	bool needs_unshared; /**< the kernel refuses a change while pages are shared */
	const char *unit;    /**< "pages", "milliseconds", "bytes", "percent", "" */
	const char *help;    /**< one line: what it is */
};

/** @return the table entry of `f`, or NULL out of range. */
const struct nk_ksm_field_info *nk_ksm_field(enum nk_ksm_field f);
/** @return the field whose file is `name`, or -ENOENT. */
int nk_ksm_field_lookup(const char *name);

/** @return whether the set has field `f`. */
bool nk_ksm_has(const struct nk_ksm *ksm, enum nk_ksm_field f);
/** @return field `f`'s value (0 when the set lacks it). */
uint64_t nk_ksm_get(const struct nk_ksm *ksm, enum nk_ksm_field f);
/** Put `value` in field `f`. */
void nk_ksm_set(struct nk_ksm *ksm, enum nk_ksm_field f, uint64_t value);
/** @return general_profit in bytes (may be negative; 0 when absent). */
int64_t nk_ksm_profit(const struct nk_ksm *ksm);

/**
 * Read the fields of `mask` (NK_KSM_ALL for every one) this kernel has;
 * those it lacks are left out of the result's mask.
 * @return 0; -ENOTSUP (with a message and hint) when the kernel has no
 *         KSM; -EINVAL with a message naming the file when one is malformed.
 */
int nk_ksm_read(nk_host *host, uint64_t mask, struct nk_ksm *ret, nk_error **err);

/**
 * Write field `f`'s value as the kernel takes and shows it: "1",
 * "scan-time", "-4096".  `buf` holds at least 24 bytes.
 * @return `buf`, or a constant string.
 */
const char *nk_ksm_format_value(enum nk_ksm_field f, uint64_t value, char *buf);

/**
 * Parse one "KEY=VALUE" (as `numaksm ksm set` takes it) into `ksm`: the
 * key must be a knob and the value within what the kernel accepts
 * (booleans as 0/1/yes/no/on/off, advisor_mode as none/scan-time).
 * @return 0; -EINVAL with a message naming the key or value and the range.
 */
int nk_ksm_parse(const char *assignment, struct nk_ksm *ksm, nk_error **err);

/**
 * Parse one value of knob `f` (the part after '=').
 * @return 0; -EINVAL with a message naming the knob and the range.
 */
int nk_ksm_parse_value(enum nk_ksm_field f, const char *text, uint64_t *ret, nk_error **err);

/**
 * Format a set as "key=value" lines in table order.
 * @return the length; -ENOMEM.
 */
int nk_ksm_format(const struct nk_ksm *ksm, char **ret_text);

/** nk_ksm_apply() flags. */
enum nk_ksm_apply_flags {
	/** Unmerge everything (run=2) first when merge_across_nodes or
	 *  max_page_sharing change while pages are shared, then put run back. */
	NK_KSM_APPLY_UNMERGE = 1 << 0,
	/** Check everything, write nothing. */
	NK_KSM_APPLY_CHECK_ONLY = 1 << 1,
};

/**
 * Set the knobs of `want` (counters in it are refused).  Everything is
 * checked before the first write: that this kernel has each knob,
 * pages_to_scan against advisor_mode, advisor_min_pages_to_scan <=
 * advisor_max_pages_to_scan, and knobs that need an unmerge (EBUSY
 * otherwise; refused without NK_KSM_APPLY_UNMERGE, and with it when
 * MemAvailable could not hold the unmerged pages).  Knobs already at the
 * wanted value are not written.  When a write fails, the knobs written
 * before it get their previous values back.
 * @param ret_previous  optional: the previous values of the knobs written.
 * @return the number of knobs written; -EINVAL/-EBUSY/-ENOTSUP/-ENOMEM
 *         with a message when refused before writing; -EROFS on a captured
 *         tree; the write's -errno (after the rollback) when the kernel refused.
 */
int nk_ksm_apply(nk_host *host, const struct nk_ksm *want, unsigned flags,
		 struct nk_ksm *ret_previous, nk_error **err);

/** Pages KSM saves host-wide: pages_sharing + ksm_zero_pages (not sharing - shared). */
uint64_t nk_ksm_saved_pages(const struct nk_ksm *ksm);

/** Pages KSM keeps rmap items for: every page it scans, merged or not. */
uint64_t nk_ksm_tracked_pages(const struct nk_ksm *ksm);

/**
 * Find ksmd: the kernel thread named "ksmd".
 * @return 0; -ESRCH when there is none (no KSM, or a captured tree without it).
 */
int nk_ksmd_find(nk_host *host, pid_t *ret_pid, nk_error **err);

/** /proc/PID/ksm_stat of one process. */
struct nk_ksm_proc_stat {
	uint64_t rmap_items;
	uint64_t zero_pages;
	uint64_t merging_pages;
	int64_t process_profit; /**< bytes, as the kernel computes it */
	bool merge_any;		/**< PR_SET_MEMORY_MERGE */
	bool mergeable;		/**< some VMA is MADV_MERGEABLE (or merge_any) */
	bool has_zero_pages, has_process_profit, has_merge_flags;
	bool has_merging_pages; /**< false on Linux 6.1-6.3, whose ksm_stat has only rmap_items */
};

/**
 * Parse the text of /proc/PID/ksm_stat ("key value" lines and, on newer
 * kernels, "key: yes|no" lines).  Linux 6.1-6.3 print only ksm_rmap_items.
 * @return 0; -EINVAL when ksm_rmap_items is missing or any value is malformed.
 */
int nk_ksm_parse_proc_stat(const char *text, struct nk_ksm_proc_stat *ret);

/**
 * Read /proc/PID/ksm_stat, and /proc/PID/ksm_merging_pages where ksm_stat
 * lacks that count (Linux 6.1-6.3).
 * @return 0; -ESRCH when the process is gone; -ENOTSUP when the kernel has
 * no ksm_stat (before Linux 6.1).
 */
int nk_ksm_proc_read(nk_host *host, pid_t pid, struct nk_ksm_proc_stat *ret, nk_error **err);

/**
 * Bytes KSM saves one process, attributing shared pages fairly: its
 * merging pages count only by the host's sharing ratio,
 * merging * sharing / (shared + sharing), plus its zero pages.  The
 * kernel's own ksm_process_profit counts the process's mapping of the KSM
 * page itself too, so per-process profits add up to more than the host's.
 */
uint64_t nk_ksm_proc_saved_bytes(const struct nk_ksm_proc_stat *p, const struct nk_ksm *host,
				 uint64_t page_size);

/* ------------------------------------------------------------------ */
/* One owner of KSM's knobs per host                                   */
/* ------------------------------------------------------------------ */

/** Where the host-wide KSM lock (ksm.lock) and saved knobs (ksm.state) are. */
#define NK_KSM_OWNER_DIR "/run/numaksm"

/** The program that changes KSM's knobs now (nk_ksm_own()). */
typedef struct nk_ksm_owner nk_ksm_owner;

/**
 * Become the one program that changes KSM's knobs on this host: take the
 * lock in `dir` (NULL: NK_KSM_OWNER_DIR, which every program uses; tests
 * pass another), restore what an owner that could not (SIGKILL) left, then
 * save the knobs of `mask` (nk_ksm_owner_save()).  `program` names the
 * owner to others ("numaksm tuned").
 * @return 0; -EBUSY naming the holder and its program; -EROFS on a
 *         captured tree; -errno with a message.
 */
int nk_ksm_own(nk_host *host, const char *dir, const char *program, uint64_t mask,
	       nk_ksm_owner **ret, nk_error **err);

/**
 * Save the knobs of `mask` not saved yet, on disk, before the owner writes
 * them: they are what nk_ksm_owner_release() and `numaksm ksm restore` put
 * back.
 * @return 0; -errno with a message.
 */
int nk_ksm_owner_save(nk_ksm_owner *owner, uint64_t mask, nk_error **err);

/**
 * Save `values` (not the knobs as they are now) as what to put back, for
 * the knobs not saved yet: a program that owned the knobs, let another
 * (the tuner it measures) own them a while, and owns them again.
 * @return 0; -errno with a message.
 */
int nk_ksm_owner_save_as(nk_ksm_owner *owner, const struct nk_ksm *values, nk_error **err);

/** @return the knobs saved so far. */
const struct nk_ksm *nk_ksm_owner_saved(const nk_ksm_owner *owner);

/**
 * Put the saved knobs back on SIGTERM, SIGINT and SIGHUP, then die of the
 * signal: for programs without a loop of their own that takes them (a
 * benchmark).  The handler only open()s, write()s and unlink()s.
 * @return 0.
 */
int nk_ksm_owner_restore_on_signals(nk_ksm_owner *owner);

/**
 * End ownership: with `restore`, put the saved knobs back (with an unmerge
 * where one was needed to change them); without, keep the knobs as they
 * are now (`numaksm ksm set`).  The state file goes and the lock is
 * released; a failed restore keeps the state file for `numaksm ksm
 * restore`.  Accepts NULL.
 * @return 0; -errno when a knob could not be restored.
 */
int nk_ksm_owner_release(nk_ksm_owner *owner, bool restore, nk_error **err);

/**
 * Release the lock and keep the state file, as after a crash: the next
 * owner, or `numaksm ksm restore`, puts the knobs back (the tuner's
 * --once).  Accepts NULL.  @return NULL.
 */
nk_ksm_owner *nk_ksm_owner_free(nk_ksm_owner *owner);

/**
 * Who owns KSM's knobs.  @return 1 with its pid and program (`program`
 * may be NULL) when one holds the lock in `dir` (NULL: NK_KSM_OWNER_DIR);
 * 0 when none does.
 */
int nk_ksm_holder(const char *dir, pid_t *ret_pid, char *program, size_t size);

/**
 * The knobs an owner saved and could not restore: with `restore`, put them
 * back (taking the lock meanwhile) and remove the state file; without,
 * only log what would be restored.
 * @return 1 when restored; 0 when there was nothing to restore; -EBUSY
 *         when an owner holds the lock; -errno when a knob could not be
 *         written.
 */
int nk_ksm_left(nk_host *host, const char *dir, bool restore, nk_error **err);

#ifdef __cplusplus
}
#endif
#endif
