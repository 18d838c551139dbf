/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file
 * numaksm-vmm's registry and control protocol, both sides: each running VM
 * holds a registry entry RUNDIR/vm/NAME.json locked and listens on a
 * control socket RUNDIR/NAME.sock, RUNDIR being the runtime directory
 * (numaksm/rundir.h).  A request is one JSON object,
 * {"version":1,"command":"info"}; the reply is {"version":1,"ok":true,
 * "result":{...}} or {"version":1,"ok":false,"error":"...","hint":"..."}.
 * Commands: info, pause, resume, stop, set-mergeable {zone, mergeable},
 * migrate {zone, nodes}.  See numaksm-vmm(1).
 */
#ifndef NUMAKSM_VMM_CLIENT_H
#define NUMAKSM_VMM_CLIENT_H

#include <stdbool.h>

#include "numaksm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The control protocol version this library speaks. */
#define NK_VMM_PROTOCOL_VERSION 2

/**
 * Check that `name` can be a VM's: 1 to 64 letters, digits, '_', '.' or
 * '-', not starting with '.' or '-', so it is safe as a file name.
 * @return 0; -EINVAL with a message.
 */
int nk_vmm_name_check(const char *name, nk_error **err);

/** A VM name claimed in the registry, with its control socket. */
typedef struct nk_vmm_registration nk_vmm_registration;

/** Where a Linux guest's serial console goes (numaksm-vmm --console). */
enum nk_vmm_console_mode {
	NK_VMM_CONSOLE_STDIO = 0, /**< the VMM's standard output and input */
	NK_VMM_CONSOLE_PTY,	  /**< a pseudo-terminal, both ways */
	NK_VMM_CONSOLE_FILE,	  /**< output appended to a file, no input */
	NK_VMM_CONSOLE_SOCKET,	  /**< a unix socket, one client at a time, both ways */
	NK_VMM_CONSOLE_NONE,	  /**< no console (the built-in guest program) */
};

/** @return "stdio", "pty", "file" or "socket"; NULL for NK_VMM_CONSOLE_NONE. */
const char *nk_vmm_console_mode_name(enum nk_vmm_console_mode mode);

/**
 * Check that a console of `mode` at `path` can be in a registry entry: a
 * pty, file or socket has an absolute path of fewer than PATH_MAX
 * characters, none of them a control character; stdio and
 * NK_VMM_CONSOLE_NONE have none.
 * @return 0; -EINVAL with a message ("the console ...").
 */
int nk_vmm_console_check(enum nk_vmm_console_mode mode, const char *path, nk_error **err);

/**
 * Claim VM name `name` for this process (the VMM's side): in the runtime
 * directory `runtime_dir` (NULL: $NUMAKSM_RUNTIME_DIR, else /run/numaksm),
 * create and lock vm/NAME.json for the VM's life (an entry whose VMM died is
 * taken over), bind and listen on NAME.sock (SOCK_SEQPACKET, mode 0600,
 * non-blocking) and write the entry {version, name, pid, socket, console},
 * console null until nk_vmm_registration_set_console().
 * @return 0; -EEXIST when a running VM has that name; -EINVAL for a bad
 *         name; -EPERM for an unsafe runtime directory; -errno with a message.
 */
int nk_vmm_register(const char *runtime_dir, const char *name, nk_vmm_registration **ret,
		    nk_error **err);

/** @return the listening control socket (accept() from it). */
int nk_vmm_registration_fd(const nk_vmm_registration *reg);
/** @return the socket's path, for messages and `info`. */
const char *nk_vmm_registration_socket(const nk_vmm_registration *reg);

/**
 * Record the VM's console in its registry entry, rewritten in place:
 * "console" becomes {mode, path}, path null on stdio (as `info` has it).
 * @return 0; -EINVAL as nk_vmm_console_check(); -errno with a message.
 */
int nk_vmm_registration_set_console(nk_vmm_registration *reg, enum nk_vmm_console_mode mode,
				    const char *path, nk_error **err);

/**
 * Give the name back: remove the socket and the entry (while still holding
 * the lock, so a new VMM of this name sees either the lock or no entry),
 * then release the lock.  Accepts NULL.
 * @return NULL.
 */
nk_vmm_registration *nk_vmm_unregister(nk_vmm_registration *reg);

/**
 * Send `request` (JSON text) to VM `name` and wait up to `timeout_ms`
 * (0: 30 s) in all for the reply, returned as JSON text (free() it);
 * connecting and sending wait 10 s at most of that, so a VMM that is
 * stuck or whose queue is full cannot hold the caller.  A reply with
 * "ok": false is still a reply (return 0): the caller reads it, also
 * when the VMM refused the connection with one (too many clients).
 * @return 0; -ENOENT when no VM has that name; -ECONNREFUSED when its VMM
 *         is gone; -EACCES when the runtime directory is another user's;
 *         -EPERM when NAME.sock is anything but a socket of this user (or
 *         the directory is unsafe); -ETIMEDOUT; -ECONNRESET when the VMM
 *         closed the connection without a reply; -EINVAL for a malformed
 *         name; -errno otherwise, with a message.
 */
int nk_vmm_call(const char *runtime_dir, const char *name, const char *request, int timeout_ms,
		char **ret_reply, nk_error **err);

/**
 * The names of the running numaksm-vmm VMs (those whose registry entry is
 * held by a live VMM), sorted; free with nk_strv_free().
 * @return the number of names; -errno with a message.
 */
int nk_vmm_list(const char *runtime_dir, char ***ret_names, nk_error **err);

/** A VM's registry entry RUNDIR/vm/NAME.json, as nk_vmm_entry_read() found it. */
typedef struct nk_vmm_entry {
	int version;			  /**< the VMM's protocol version */
	char *name;			  /**< the VM's name, the entry's file name */
	int pid;			  /**< the VMM's process */
	char *socket_path;		  /**< its control socket (absolute) */
	enum nk_vmm_console_mode console; /**< NONE also when the VMM recorded none */
	char *console_path;		  /**< absolute; NULL on stdio and NONE */
} nk_vmm_entry;

/**
 * Read VM `name`'s registry entry from the runtime directory `runtime_dir`
 * (as nk_vmm_register()).  The file is read as the runtime directory reads
 * every file (no symbolic link followed, a regular file of this user only)
 * and every field is checked: the name is the file's, the pid above 0, the
 * socket and console paths absolute, shorter than PATH_MAX and free of
 * control characters, the console's mode a known one with a path exactly
 * when it is not stdio.  An entry without "console" (an older VMM's) reads
 * as NK_VMM_CONSOLE_NONE.  Whether its VMM still runs is nk_vmm_list()'s
 * question: the entry may be stale.  Free with nk_vmm_entry_free().
 * @return 0; -ENOENT (with a message) when there is no such entry;
 *         -EBADMSG with a message for an entry that is not JSON or has a
 *         field that fails its check; -EINVAL for a malformed name; -EPERM
 *         for a file or directory the runtime directory refuses; -errno.
 */
int nk_vmm_entry_read(const char *runtime_dir, const char *name, nk_vmm_entry **ret,
		      nk_error **err);

/** Free; accepts NULL. @return NULL. */
nk_vmm_entry *nk_vmm_entry_free(nk_vmm_entry *entry);

/**
 * Turn KSM merging on or off in every zone of numaksm-vmm VM `name` (its
 * info, then set-mergeable for each zone).  Off unmerges what the zones have
 * merged (MADV_UNMERGEABLE).
 * @return the number of zones set; as nk_vmm_call(); -EPROTO when the VM
 *         refuses, with its message.
 */
int nk_vmm_set_mergeable(const char *runtime_dir, const char *name, bool mergeable, nk_error **err);

#ifdef __cplusplus
}
#endif

#endif
