/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pin assignment state, pins.json (pin_state_parse): which VM holds
 * which CPUs.  A state that parses formats (pin_state_format) to text that
 * parses to the same state, which formats to the same text.
 */
#include "fuzz.h"
#include "vcpu-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size), *again = NULL, *third = NULL;
	nk_pin_state *state = NULL, *state2 = NULL;

	if (nk_pin_state_new(&state) < 0 || nk_pin_state_new(&state2) < 0)
		abort();
	if (pin_state_parse(text, state, NULL) == 0) {
		for (unsigned i = 0; i < state->n_entries; i++) {
			const struct pin_entry *e = &state->entries[i];
			FUZZ_CHECK(
			    e->pid >= 0 && e->dedicated && e->shared &&
				(e->policy == NK_PIN_DEDICATED || e->policy == NK_PIN_SHARED),
			    "entry %u", i);
		}
		FUZZ_CHECK(pin_state_format(state, &again) == 0, "not formatted");
		FUZZ_CHECK(pin_state_parse(again, state2, NULL) == 0, "'%s' does not parse", again);
		FUZZ_CHECK(state2->n_entries == state->n_entries, "entries differ:\n%s", again);
		FUZZ_CHECK(pin_state_format(state2, &third) == 0 && !strcmp(again, third),
			   "'%s' then '%s'", again, third);
	}
	nk_pin_state_free(state);
	nk_pin_state_free(state2);
	return 0;
}
