/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file numaksm/rundir.h
 * @brief The runtime directory: the one store of numaksm's state, locks and
 *        sockets (pins.json, place-PID.json, the tuner's lock and saved
 *        settings, the VMM registry vm/NAME.json and NAME.sock).
 *
 * The directory is `path` when given, else $NUMAKSM_RUNTIME_DIR, else
 * /run/numaksm.  It is always mode 0700 and owned by the user numaksm runs
 * as: one that another user owns, that others may write to, or that is a
 * symbolic link is refused, and so is a path through a directory another
 * user could change (one owned by someone other than root or this user, or
 * writable by others without the sticky bit).  Every file in it is opened
 * relative to the directory's descriptor without following symbolic links,
 * and must be a regular file (a socket for sockets) of this user, so nothing
 * planted there is ever followed, truncated or blocked on.  Writes are
 * atomic: a new file is written, synced and renamed over the old one.
 *
 * Conventions as in numaksm/core.h.
 */
#ifndef NUMAKSM_RUNDIR_H
#define NUMAKSM_RUNDIR_H

#include "numaksm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The default runtime directory. */
#define NK_RUNDIR_DEFAULT "/run/numaksm"

/** An open runtime directory (or a subdirectory of one). */
typedef struct nk_rundir nk_rundir;

/** nk_rundir_open() and nk_rundir_subdir() flags. */
enum nk_rundir_flags {
	NK_RUNDIR_CREATE = 1 << 0, /**< create it (and missing parents) when absent */
};

/**
 * Open the runtime directory `path` (NULL: $NUMAKSM_RUNTIME_DIR, else
 * /run/numaksm), checking it and every directory above it as described
 * above.  A directory of this user with another mode is set to 0700.
 * @return 0; -ENOENT when it does not exist and NK_RUNDIR_CREATE is not
 *         given; -EPERM when it, or a directory above it, is not safe (the
 *         message says which and why); -ELOOP for a symbolic link;
 *         -ENOTDIR; other -errno with a message and a hint.
 */
int nk_rundir_open(const char *path, unsigned flags, nk_rundir **ret, nk_error **err);

/**
 * Open the subdirectory `name` of `dir`, with the same checks.
 * @return as nk_rundir_open().
 */
int nk_rundir_subdir(const nk_rundir *dir, const char *name, unsigned flags, nk_rundir **ret,
		     nk_error **err);

/** Close; accepts NULL. @return NULL. */
nk_rundir *nk_rundir_free(nk_rundir *dir);

/** @return the directory's path, for messages. */
const char *nk_rundir_path(const nk_rundir *dir);

/** @return the directory's descriptor (valid until nk_rundir_free()). */
int nk_rundir_fd(const nk_rundir *dir);

/**
 * The path through which a unix socket `name` in the directory is bound or
 * connected to without resolving the directory's path again
 * ("/proc/self/fd/N/NAME"); fits sockaddr_un.sun_path.
 * @return 0; -EINVAL for a bad name; -ENAMETOOLONG; -ENOMEM.
 */
int nk_rundir_socket_path(const nk_rundir *dir, const char *name, char **ret_path);

/**
 * Read the whole file `name`.
 * @return the length; -ENOENT when it does not exist; -EPERM (with a
 *         message) when it is not a regular file of this user or is a
 *         symbolic link; other -errno with a message.
 */
int nk_rundir_read(const nk_rundir *dir, const char *name, char **ret_text, nk_error **err);

/**
 * Replace the file `name` with `len` bytes of `data`, atomically (mode 0600).
 * @return 0; -errno with a message.
 */
int nk_rundir_write(const nk_rundir *dir, const char *name, const void *data, size_t len,
		    nk_error **err);

/**
 * Remove the file or socket `name`.
 * @return 1 when removed, 0 when there was none, -errno otherwise.
 */
int nk_rundir_remove(const nk_rundir *dir, const char *name);

/** nk_rundir_lock() flags. */
enum nk_rundir_lock_flags {
	NK_RUNDIR_LOCK_SHARED = 1 << 0,	  /**< a shared lock (default: exclusive) */
	NK_RUNDIR_LOCK_NONBLOCK = 1 << 1, /**< do not wait: -EWOULDBLOCK when held */
	NK_RUNDIR_LOCK_CREATE = 1 << 2,	  /**< create the file (mode 0600) when absent */
	/** A POSIX record lock (fcntl F_SETLK) instead of flock(): held by this
	 *  process alone, not by the children it forks, and released when the
	 *  process closes any descriptor of the file (do not open it again). */
	NK_RUNDIR_LOCK_PROCESS = 1 << 3,
};

/**
 * Open the file `name` (read-write, or read-only for a shared lock) and
 * flock() it.  Closing the returned descriptor releases the lock.  The file
 * locked is the one `name` names when the call returns: one unlinked or
 * replaced while the lock was awaited is let go and `name` opened again.
 * @return the descriptor; -ENOENT when absent without NK_RUNDIR_LOCK_CREATE;
 *         -EWOULDBLOCK (no message) when held with NK_RUNDIR_LOCK_NONBLOCK;
 *         -EPERM for a file that is not a regular file of this user; -errno.
 */
int nk_rundir_lock(const nk_rundir *dir, const char *name, unsigned flags, nk_error **err);

/**
 * The names in the directory that end in `suffix` (NULL: all), sorted,
 * leaving out those starting with '.'.  Free with nk_strv_free().
 * @return the count; -errno with a message.
 */
int nk_rundir_list(const nk_rundir *dir, const char *suffix, char ***ret_names, nk_error **err);

/**
 * This boot's id (/proc/sys/kernel/random/boot_id), which state files record
 * so that one from an earlier boot is recognised.
 * @return 0; -errno when it cannot be read.
 */
int nk_host_boot_id(nk_host *host, char **ret_id);

#ifdef __cplusplus
}
#endif
#endif
