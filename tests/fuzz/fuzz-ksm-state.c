/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The KSM settings their owner saved (ksm_state_parse, /run/numaksm/ksm.state),
 * which `numaksm ksm restore` or the next owner writes back after a crash.
 * Only knobs are read, within what the kernel takes; a state formats
 * (ksm_state_format) to text that parses to the same state.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "ksm-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size), *again = NULL;
	_cleanup_error_ nk_error *err = NULL;
	struct ksm_state st, st2;

	if (ksm_state_parse(text, &st, &err) < 0) {
		FUZZ_CHECK(err && *nk_error_message(err), "a refusal without its reason");
		return 0;
	}
	FUZZ_CHECK(!(st.saved.mask & ~NK_KSM_KNOBS), "counters %#" PRIx64 " saved",
		   st.saved.mask & ~NK_KSM_KNOBS);
	for (int f = 0; f < NK_KSM_KNOB_COUNT; f++)
		if (nk_ksm_has(&st.saved, (enum nk_ksm_field)f))
			FUZZ_CHECK(st.saved.value[f] >= nk_ksm_field((enum nk_ksm_field)f)->min &&
				       st.saved.value[f] <= nk_ksm_field((enum nk_ksm_field)f)->max,
				   "%s=%" PRIu64, nk_ksm_field((enum nk_ksm_field)f)->name,
				   st.saved.value[f]);
	FUZZ_CHECK(st.pid > 0, "pid %d", (int)st.pid);
	FUZZ_CHECK(memchr(st.boot_id, '\0', sizeof(st.boot_id)) && !strchr(st.boot_id, '\n') &&
		       memchr(st.program, '\0', sizeof(st.program)) && !strchr(st.program, '\n'),
		   "boot_id or program not one line");
	FUZZ_CHECK(ksm_state_format(&st, &again) == 0, "not formatted");
	FUZZ_CHECK(ksm_state_parse(again, &st2, NULL) == 0, "'%s' does not parse", again);
	FUZZ_CHECK(st2.pid == st.pid && !strcmp(st2.boot_id, st.boot_id) &&
		       !strcmp(st2.program, st.program) &&
		       !memcmp(&st2.saved, &st.saved, sizeof(st.saved)),
		   "another state:\n%s", again);
	return 0;
}
