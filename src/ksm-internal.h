/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the KSM table, shared by src/ksm.c and its unit tests.
 */
#ifndef NUMAKSM_KSM_INTERNAL_H
#define NUMAKSM_KSM_INTERNAL_H

#include "basic.h"
#include "numaksm/ksm.h"

#define KSM_SYSFS "/sys/kernel/mm/ksm"

/* How knob writes reach the kernel: nk_host_write() in production; tests
 * pass a writer that refuses a chosen knob to exercise the rollback. */
typedef int (*ksm_write_fn)(nk_host *host, const char *path, const char *value, nk_error **err,
			    void *userdata);

/* The text of /sys/kernel/mm/ksm/FILE as the kernel writes it (newline
 * stripped) into field `f`'s value: "[none] scan-time" for the advisor, a
 * signed number for general_profit.  -EINVAL when malformed. */
int ksm_parse_file(enum nk_ksm_field f, const char *text, uint64_t *ret);

int ksm_apply_with(nk_host *host, const struct nk_ksm *want, unsigned flags, ksm_write_fn write,
		   void *userdata, struct nk_ksm *ret_previous, nk_error **err);

/* What ksm.state holds (src/ksm-owner.c): who saved which knobs, when. */
struct ksm_state {
	struct nk_ksm saved;
	pid_t pid;
	char program[48];
	char boot_id[64];
};
int ksm_state_parse(const char *text, struct ksm_state *ret, nk_error **err);
int ksm_state_format(const struct ksm_state *state, char **ret_text);

#endif
