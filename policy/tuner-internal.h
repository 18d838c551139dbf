/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the KSM knob control, the tuner and the policy file, shared
 * by their sources and by the unit tests (which link the same objects).
 */
#ifndef NUMAKSM_TUNER_INTERNAL_H
#define NUMAKSM_TUNER_INTERNAL_H

#include "basic.h"
#include "numaksm/ksm.h"
#include "numaksm/policy.h"

/* "some avg10=1.23 ..." of /proc/pressure/memory: the some avg10 percent. */
int psi_some_avg10(const char *text, double *ret);

/* Policy-file value parsers, shared with the tuner's defaults. */
int conf_parse_duration(const char *text, double *ret_s);
int conf_parse_percent(const char *text, double *ret_fraction);

/* The placement request of a [vm] rule: its nodes, limits, vCPUs pinned
 * for cpus=dedicated, existing pages migrated. */
struct nk_cgroup_request;
void tuner_rule_request(const struct nk_vm_rule *rule, const char *runtime_dir,
			struct nk_cgroup_request *ret);

#endif
