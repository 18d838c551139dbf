/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/core.h
 * @brief The core every numaksm module shares: errors, logging, bitmaps,
 *        checked parsers and the host I/O root.
 *
 * Conventions (see docs/errors.md): functions return 0 or a positive value
 * on success and a negative errno on failure.  Functions that can fail for a
 * reason the user must act on also take an `nk_error **err` as their last
 * argument; on failure they store a message there (unless `err` is NULL) and
 * return the same negative errno.  Out-parameters are named `ret_*` and are
 * written only on success.  The library never prints and never exits.
 */
#ifndef NUMAKSM_CORE_H
#define NUMAKSM_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/** An error carried up to the caller: an errno code, a message and an optional hint. */
typedef struct nk_error nk_error;

/**
 * Record an error.  If `*err` already holds one it is kept (the first
 * error is the root cause) unless it is NULL.
 * @return `-code`, so callers can write `return nk_error_set(err, EINVAL, ...)`.
 */
int nk_error_set(nk_error **err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Attach a one-line hint ("what to do") to the error in `*err`. @return `-code` of it. */
int nk_error_hint(nk_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Prefix the message in `*err` with context: "context: message". @return `-code` of it. */
int nk_error_prefix(nk_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** @return the positive errno code of an error, 0 for NULL. */
int nk_error_code(const nk_error *err);
/** @return the message; never NULL for a non-NULL error. */
const char *nk_error_message(const nk_error *err);
/** @return the hint or NULL. */
const char *nk_error_get_hint(const nk_error *err);
/** Free an error; accepts NULL. @return NULL. */
nk_error *nk_error_free(nk_error *err);

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */

enum nk_log_level {
	NK_LOG_ERROR = 0,
	NK_LOG_WARNING = 1,
	NK_LOG_INFO = 2,
	NK_LOG_DEBUG = 3,
};

/** A log sink installed by the program that uses the library. */
typedef void (*nk_log_fn)(enum nk_log_level level, const char *message, void *userdata);

/**
 * Install the log handler; messages above `max_level` are dropped.  With
 * no handler installed the library is silent.
 */
void nk_log_set_handler(nk_log_fn fn, void *userdata, enum nk_log_level max_level);

/* ------------------------------------------------------------------ */
/* Bitmaps (CPU and node sets)                                        */
/* ------------------------------------------------------------------ */

/** A growable set of small non-negative integers (CPUs, nodes). */
typedef struct nk_bitmap nk_bitmap;

/** Largest CPU or node number accepted by the list parser. */
#define NK_BITMAP_MAX_BIT (1u << 20)

/** @return a new empty bitmap, or NULL when out of memory. */
nk_bitmap *nk_bitmap_new(void);
/** Free a bitmap; accepts NULL. @return NULL. */
nk_bitmap *nk_bitmap_free(nk_bitmap *b);
/** @return a copy, or NULL when out of memory. */
nk_bitmap *nk_bitmap_dup(const nk_bitmap *b);
/** Set bit `bit`. @return 0, -ERANGE past NK_BITMAP_MAX_BIT, -ENOMEM. */
int nk_bitmap_set(nk_bitmap *b, unsigned bit);
/**
 * Set bits `first` to `last`, both included, a word at a time.
 * @return 0, -ERANGE when first > last or last is past NK_BITMAP_MAX_BIT
 *         (nothing set), -ENOMEM.
 */
int nk_bitmap_set_range(nk_bitmap *b, unsigned first, unsigned last);
/** Clear bit `bit`. */
void nk_bitmap_clear(nk_bitmap *b, unsigned bit);
/** @return whether `bit` is set. */
bool nk_bitmap_test(const nk_bitmap *b, unsigned bit);
/** @return the number of set bits. */
unsigned nk_bitmap_weight(const nk_bitmap *b);
/** @return the first set bit >= `from`, or -1. */
int nk_bitmap_next(const nk_bitmap *b, unsigned from);
/** @return the highest set bit, or -1 when empty. */
int nk_bitmap_last(const nk_bitmap *b);
/** @return whether both sets hold the same bits. */
bool nk_bitmap_equal(const nk_bitmap *a, const nk_bitmap *b);
/** @return whether every bit of `sub` is in `super`. */
bool nk_bitmap_is_subset(const nk_bitmap *sub, const nk_bitmap *super);
/**
 * Format as a kernel-style list ("0-3,6"; "" when empty).
 * @return the length, or -ENOMEM.
 */
int nk_bitmap_format(const nk_bitmap *b, char **ret_text);

#define nk_bitmap_foreach(bit, b)                                                                  \
	for (int bit = nk_bitmap_next((b), 0); bit >= 0;                                           \
	     bit = nk_bitmap_next((b), (unsigned)bit + 1))

/* ------------------------------------------------------------------ */
/* Checked parsers (no I/O; unit-tested on literals)                  */
/* ------------------------------------------------------------------ */

/**
 * Parse a memory size: a decimal byte count ("4096") with an optional
 * binary unit K, M, G, T, P, optionally followed by "B" or "iB" and
 * case-insensitive ("512M", "2G", "1GiB", "64kB").
 * @return 0; -EINVAL for malformed text, -ERANGE on overflow.
 */
int nk_parse_size(const char *text, uint64_t *ret_bytes, nk_error **err);

/**
 * The one way numaksm writes a size for people, in binary units: "0 B",
 * "512 B", "4 KiB", "1.5 GiB" — one decimal, left out where the value
 * rounds to a whole number ("16 GiB" for 15.98 GiB, never "16.0 GiB").
 * Writes into `buf` (32 bytes hold any size).
 * @return buf.
 */
const char *nk_format_bytes(char *buf, size_t size, uint64_t bytes);

/** Parse a plain decimal unsigned integer; surrounding whitespace is allowed. */
int nk_parse_u64(const char *text, uint64_t *ret, nk_error **err);

/** Parse a plain decimal signed integer in `[min, max]`; surrounding whitespace is allowed. */
int nk_parse_int(const char *text, long long min, long long max, long long *ret, nk_error **err);

/**
 * Parse a boolean as the policy file and `ksm set` take it: 1/0, yes/no,
 * on/off, true/false, in any case.
 * @return 0; -EINVAL for anything else.
 */
int nk_parse_bool(const char *text, bool *ret);

/**
 * Parse a kernel-style CPU or node list: comma-separated numbers and
 * ranges "a-b" ("0-3,6"); an empty list ("" or "\n") is the empty set.
 * `what` names the list in messages ("CPU list", "node list").
 */
int nk_parse_list(const char *text, const char *what, nk_bitmap **ret, nk_error **err);

/**
 * nk_parse_list() for lists from someone who may not be trusted: every
 * number above `max` (at most NK_BITMAP_MAX_BIT) is refused with -ERANGE
 * before any bit is set, and a range costs at most max/64 word writes.
 * Messages quote at most the first 64 characters of `text`.
 */
int nk_parse_list_max(const char *text, const char *what, unsigned max, nk_bitmap **ret,
		      nk_error **err);

/**
 * Find `key` in a kernel meminfo text ("MemTotal:  24 kB" or, per node,
 * "Node 0 MemTotal:  24 kB") and return its value in kB (or the bare
 * count for keys without a unit such as HugePages_Total).
 * @return 0, -ENOENT when the key is absent, -EINVAL when malformed.
 */
int nk_parse_meminfo(const char *text, const char *key, uint64_t *ret_value);

/**
 * Find `key` in text made of "key value" or "key: value" lines (ksm_stat,
 * /proc/PID/status, /proc/vmstat) and return its value as a new string.
 * @return 0, -ENOENT when the key is absent, -ENOMEM.
 */
int nk_parse_keyed_line(const char *text, const char *key, char **ret_value);

/**
 * Return the bracketed choice of a kernel selector such as
 * "always [madvise] never" ("madvise").
 * @return 0, -EINVAL when no single bracketed word is present, -ENOMEM.
 */
int nk_parse_selector(const char *text, char **ret_choice);

/**
 * Parse whitespace-separated unsigned integers ("10 20 20\n").
 * @return the count (>= 0), -EINVAL, -ERANGE, -ENOMEM.
 */
int nk_parse_u64_array(const char *text, uint64_t **ret_values);

/**
 * Parse a kernel hex mask ("00000000,0000000f") into a bitmap.
 * @return 0, -EINVAL, -ENOMEM.
 */
int nk_parse_hexmask(const char *text, nk_bitmap **ret);

/* ------------------------------------------------------------------ */
/* Host I/O root                                                       */
/* ------------------------------------------------------------------ */

/**
 * The root every read of /sys, /proc and cgroupfs goes through: the live
 * system ("/") or a captured host tree.  Writes and binding are refused on
 * a captured tree.
 */
typedef struct nk_host nk_host;

/**
 * Open a host root.  `root` NULL or "/" means the live system.
 * @return 0; -ENOENT/-ENOTDIR/-EACCES with a message naming the directory.
 */
int nk_host_open(const char *root, nk_host **ret, nk_error **err);
/** Close a host root; accepts NULL. @return NULL. */
nk_host *nk_host_free(nk_host *host);
/** @return whether the root is the live "/". */
bool nk_host_is_live(const nk_host *host);
/** @return the root directory as given ("/" for the live system). */
const char *nk_host_root(const nk_host *host);

/**
 * Read a whole kernel attribute or /proc file (`path` is absolute, e.g.
 * "/sys/kernel/mm/ksm/run") in one read() into a new NUL-terminated
 * string.  Truncation is detected and the read retried with a larger
 * buffer.
 * @return the length; -ENOENT when the file does not exist; other -errno.
 */
int nk_host_read(nk_host *host, const char *path, char **ret_text, nk_error **err);

/** Read a file holding one unsigned decimal number. */
int nk_host_read_u64(nk_host *host, const char *path, uint64_t *ret, nk_error **err);

/** @return 1 if `path` exists under the root, 0 if not, -errno on other errors. */
int nk_host_exists(nk_host *host, const char *path);

/**
 * Read the symbolic link `path` (not followed; "/proc/42/fd/3" gives
 * "anon_inode:kvm-vm") into `buf`, NUL-terminated.
 * @return its length; -ENAMETOOLONG when it does not fit; -errno.
 */
int nk_host_readlink(nk_host *host, const char *path, char *buf, size_t size);

/** lstat() `path` below the root, not following a final link. @return 0 or -errno. */
int nk_host_lstat(nk_host *host, const char *path, struct stat *ret);

/**
 * Take the processes of user `uid` for VMs on their word (their program's
 * name), as root's are: see nk_vm_trust in numaksm/vm.h.
 * @return 0; -ENOMEM.
 */
int nk_host_trust_uid(nk_host *host, uid_t uid);
/** @return whether `uid` is root or was given to nk_host_trust_uid(). */
bool nk_host_uid_trusted(const nk_host *host, uid_t uid);

/**
 * List the names in a directory whose name starts with `prefix` (NULL for
 * all), sorted in natural order ("node2" before "node10").
 * @return the count; `*ret_names` is a NULL-terminated array (free with nk_strv_free).
 */
int nk_host_list(nk_host *host, const char *dir, const char *prefix, char ***ret_names,
		 nk_error **err);

/**
 * Write `value` to a kernel attribute.  Refused with -EROFS when the root
 * is not the live system.
 */
int nk_host_write(nk_host *host, const char *path, const char *value, nk_error **err);

/**
 * Fail with -EROFS and a message naming `what` when the root is not live:
 * used before binding, probing or writing.
 */
int nk_host_require_live(const nk_host *host, const char *what, nk_error **err);

/** Free a NULL-terminated string array; accepts NULL. @return NULL. */
char **nk_strv_free(char **strv);

/**
 * A copy of the `len` bytes at `s` safe to print on a terminal or in a log:
 * every byte outside printable ASCII, and the backslash, as "\xNN".  Names
 * other users choose (a process's comm and command line, a mapping's file)
 * are kept so, so that no escape sequence or line break of theirs reaches
 * root's terminal or the tuner's log.
 * @return a new string (free() it), or NULL when out of memory.
 */
char *nk_escape(const char *s, size_t len);

/** @return the library version string ("0.1.0"). */
const char *nk_version(void);

#ifdef __cplusplus
}
#endif
#endif
