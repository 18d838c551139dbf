/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file
 * Talking to running numaksm-vmm instances: each has a control socket
 * RUNDIR/NAME.sock and a registry entry RUNDIR/vm/NAME.json, RUNDIR being
 * $NUMAKSM_RUNTIME_DIR or /run/numaksm.  A request is one JSON object,
 * {"version":1,"command":"info"}; the reply is {"version":1,"ok":true,
 * "result":{...}} or {"version":1,"ok":false,"error":"...","hint":"..."}.
 * Commands: info, pause, resume, stop, set-mergeable {zone, mergeable},
 * migrate {zone, nodes}.  See numaksm-vmm(1).
 */
#ifndef NUMAKSM_VMM_CLIENT_H
#define NUMAKSM_VMM_CLIENT_H

#include "numaksm/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The control protocol version this library speaks. */
#define NK_VMM_PROTOCOL_VERSION 1

/**
 * The control socket and registry entry of VM `name` under `runtime_dir`
 * (NULL: $NUMAKSM_RUNTIME_DIR, else /run/numaksm): RUNDIR/NAME.sock and
 * RUNDIR/vm/NAME.json (free() them; pass NULL for either not wanted).
 * A VM name is 1 to 64 letters, digits, '_', '.' or '-', not starting with
 * '.' or '-', so it is safe as a file name.
 * @return 0; -EINVAL for a name that cannot be a VM's, with a message.
 */
int nk_vmm_paths(const char *runtime_dir, const char *name, char **ret_socket, char **ret_registry,
		 nk_error **err);

/**
 * Send `request` (JSON text) to VM `name` and wait up to `timeout_ms`
 * (0: 30 s) for the reply, returned as JSON text (free() it).  A reply
 * with "ok": false is still a reply (return 0): the caller reads it.
 * @return 0; -ENOENT when no VM has that name; -ECONNREFUSED when its VMM
 *         is gone; -EACCES for another user's VM; -ETIMEDOUT; -EINVAL for
 *         a malformed name; -errno otherwise, with a message.
 */
int nk_vmm_call(const char *runtime_dir, const char *name, const char *request, int timeout_ms,
		char **ret_reply, nk_error **err);

/**
 * The names of the running numaksm-vmm VMs (those whose registry entry is
 * held by a live VMM), sorted; free with nk_strv_free().
 * @return the number of names; -errno with a message.
 */
int nk_vmm_list(const char *runtime_dir, char ***ret_names, nk_error **err);

#ifdef __cplusplus
}
#endif

#endif
