/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a placement changed, place-PID.json (cg_state_parse), which `place
 * --undo` acts on.  A state that parses keeps its group a safe relative
 * path, and formats (cg_state_format) to text that parses to the same
 * state, which formats to the same text.
 */
#include "fuzz.h"
#include "cgroup-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size), *again = NULL, *third = NULL;
	struct cg_state s, s2;

	if (cg_state_parse(text, &s, NULL) < 0)
		return 0;
	FUZZ_CHECK(s.pid > 0 && s.n_hier >= 1 && s.n_hier <= CG_MAX_HIER &&
		       cg_valid_path(s.group, false),
		   "pid %d, %u hierarchies, group '%s'", s.pid, s.n_hier, s.group);
	for (size_t i = 0; i < s.n_threads; i++)
		FUZZ_CHECK(s.threads[i].tid > 0, "thread %zu: %d", i, s.threads[i].tid);
	FUZZ_CHECK(cg_state_format(&s, &again) == 0, "not formatted");
	FUZZ_CHECK(cg_state_parse(again, &s2, NULL) == 0, "'%s' does not parse", again);
	FUZZ_CHECK(s2.n_threads == s.n_threads && s2.n_hier == s.n_hier &&
		       s2.start_time == s.start_time && s2.pinned == s.pinned,
		   "another state:\n%s", again);
	FUZZ_CHECK(cg_state_format(&s2, &third) == 0 && !strcmp(again, third), "'%s' then '%s'",
		   again, third);
	cg_state_done(&s);
	cg_state_done(&s2);
	return 0;
}
