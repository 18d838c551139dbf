/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /proc/PID/cgroup (nk_proc_cgroup_parse, nk_proc_cgroup_path): a user
 * names the cgroups they may create.  What parses writes back to lines
 * that parse the same, and each controller a line lists finds a path.
 */
#include "fuzz.h"
#include "numaksm/proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size), *again = NULL;
	struct nk_proc_cgroup *cg = NULL, *cg2 = NULL;
	size_t n = 0, n2 = 0, len = 0;

	if (nk_proc_cgroup_parse(text, &cg, &n) < 0)
		return 0;
	FUZZ_CHECK(n > 0, "no lines");
	FILE *f = fuzz_memstream(&again, &len);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(cg[i].path[0] == '/' && !strchr(cg[i].path, '\n') &&
			       !strchr(cg[i].controllers, ':'),
			   "line %zu: '%s' '%s'", i, cg[i].controllers, cg[i].path);
		fprintf(f, "%u:%s:%s\n", cg[i].hierarchy, cg[i].controllers, cg[i].path);
	}
	fuzz_memstream_close(f);
	FUZZ_CHECK(nk_proc_cgroup_parse(again, &cg2, &n2) == 0 && n2 == n, "'%s'", again);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(cg2[i].hierarchy == cg[i].hierarchy &&
			       !strcmp(cg2[i].controllers, cg[i].controllers) &&
			       !strcmp(cg2[i].path, cg[i].path),
			   "line %zu differs:\n%s", i, again);
		/* Every controller of the line is found (maybe on an earlier one). */
		_cleanup_free_ char *list = strdup(cg[i].controllers);
		char *save = NULL;
		FUZZ_CHECK(list, "out of memory");
		for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save))
			FUZZ_CHECK(nk_proc_cgroup_path(cg, n, c), "controller '%s' of line %zu", c,
				   i);
		if (cg[i].hierarchy == 0 && !cg[i].controllers[0])
			FUZZ_CHECK(nk_proc_cgroup_path(cg, n, ""), "the v2 line %zu", i);
	}
	nk_proc_cgroups_free(cg, n);
	nk_proc_cgroups_free(cg2, n2);
	return 0;
}
