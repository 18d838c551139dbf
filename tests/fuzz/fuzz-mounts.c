/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where the cgroup hierarchies are: the mount table (/proc/self/mounts:
 * nk_parse_cgroup_mounts, whose mount points a user's mounts can add to)
 * and /proc/cgroups (nk_parse_proc_cgroups).  The mode follows from the
 * mounts found, and the controller names are single words.
 */
#include "fuzz.h"
#include "hostinfo-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size);
	struct nk_cgroup_mounts m;
	char **names = NULL;

	if (nk_parse_cgroup_mounts(text, &m) == 0) {
		bool v1 = strstr(text, " cgroup ") != NULL || strstr(text, " cpuset ") != NULL;
		FUZZ_CHECK(!m.cpuset_legacy_path || strstr(text, " cpuset ") ||
			       strstr(text, "noprefix"),
			   "legacy cpuset");
		switch (m.mode) {
		case NK_CGROUP_NONE:
			FUZZ_CHECK(!m.v2_path && !(m.v1_options && *m.v1_options) &&
				       !m.cpuset_legacy_path,
				   "no cgroups");
			break;
		case NK_CGROUP_V1:
			FUZZ_CHECK(!m.v2_path && v1, "v1 only");
			break;
		case NK_CGROUP_V2:
			FUZZ_CHECK(m.v2_path && !(m.v1_options && *m.v1_options), "v2 only");
			break;
		case NK_CGROUP_HYBRID:
			FUZZ_CHECK(m.v2_path && v1, "hybrid");
			break;
		case NK_CGROUP_UNKNOWN:
			FUZZ_CHECK(false, "a mount table read is never unknown");
			break;
		}
		nk_cgroup_mounts_done(&m);
	}

	int n = nk_parse_proc_cgroups(text, size % 2, &names);
	if (n >= 0) {
		for (int i = 0; i < n; i++)
			FUZZ_CHECK(names[i] && *names[i] && strlen(names[i]) < 64 &&
				       !strpbrk(names[i], " \t\n"),
				   "controller '%s'", names[i] ? names[i] : "(null)");
		FUZZ_CHECK(!names[n], "%d names and more", n);
		nk_strv_free(names);
	}
	return 0;
}
