/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef NUMAKSM_HOSTINFO_INTERNAL_H
#define NUMAKSM_HOSTINFO_INTERNAL_H

#include "numaksm/hostinfo.h"

/* What /proc/self/mounts says about cgroups. */
struct nk_cgroup_mounts {
	enum nk_cgroup_mode mode;
	char *v2_path;		  /* cgroup2 mount point or NULL */
	char *cpuset_legacy_path; /* the legacy cpuset filesystem's mount point or NULL */
	char **v1_options;	  /* options of every v1 mount, NULL-terminated */
};

/* Parse mount table text (/proc/self/mounts format). */
int nk_parse_cgroup_mounts(const char *mounts, struct nk_cgroup_mounts *ret);
void nk_cgroup_mounts_done(struct nk_cgroup_mounts *m);

/* Parse the subsystem names out of /proc/cgroups (enabled ones only; with
 * `unbound_only`, those of hierarchy 0: bound to no v1 hierarchy). */
int nk_parse_proc_cgroups(const char *text, bool unbound_only, char ***ret_names);

/* Whether the "flags" line of /proc/cpuinfo holds `flag`. */
bool nk_cpuinfo_has_flag(const char *cpuinfo, const char *flag);

#endif
