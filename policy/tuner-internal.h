/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the KSM knob control, the tuner and the policy file, shared
 * by their sources and by the unit tests (which link the same objects).
 */
#ifndef NUMAKSM_TUNER_INTERNAL_H
#define NUMAKSM_TUNER_INTERNAL_H

#include "internal.h"
#include "numaksm/ksm-control.h"
#include "numaksm/ksm.h"
#include "numaksm/policy.h"

#define KSM_SYSFS "/sys/kernel/mm/ksm"

/* How knob writes reach the kernel: nk_host_write() in production; tests
 * pass a writer that refuses a chosen knob to exercise the rollback. */
typedef int (*ksm_write_fn)(nk_host *host, const char *path, const char *value, nk_error **err,
			    void *userdata);

int ksm_apply_with(nk_host *host, const struct nk_ksm_settings *want, unsigned flags,
		   ksm_write_fn write, void *userdata, struct nk_ksm_settings *ret_previous,
		   nk_error **err);

/* The text a knob is written as ("scan-time", "1"); `buf` holds 24 bytes. */
const char *ksm_value_text(enum nk_ksm_param param, uint64_t value, char *buf);

/* "some avg10=1.23 ..." of /proc/pressure/memory: the some avg10 percent. */
int psi_some_avg10(const char *text, double *ret);

/* Policy-file value parsers, shared with the tuner's defaults. */
int conf_parse_duration(const char *text, double *ret_s);
int conf_parse_percent(const char *text, double *ret_fraction);
int conf_parse_bool(const char *text, bool *ret);

/* The placement request of a [vm] rule: its nodes, limits, vCPUs pinned
 * for cpus=dedicated, existing pages migrated. */
struct nk_cgroup_request;
void tuner_rule_request(const struct nk_vm_rule *rule, const char *runtime_dir,
			struct nk_cgroup_request *ret);

/* The state file the tuner saves the original settings in. */
struct tuner_state {
	struct nk_ksm_settings saved;
	pid_t pid;
	char boot_id[64];
};
int tuner_state_parse(const char *text, struct tuner_state *ret, nk_error **err);
int tuner_state_format(const struct tuner_state *state, char **ret_text);

#endif
