/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The vcpu/ parser of the pin state file on literals, malformed input
 * included.  (Thread names, stat lines and command lines are the VM
 * model's: tests/unit/test-vm-parse.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "vcpu-internal.h"

static void test_state_roundtrip(void **state)
{
	nk_pin_state *s = NULL, *back = NULL;
	nk_bitmap *ded = NULL, *sh = NULL;
	char *text = NULL, *again = NULL;

	assert_int_equal(nk_pin_state_new(&s), 0);
	assert_int_equal(nk_parse_list("2-3,8", NULL, &ded, NULL), 0);
	assert_int_equal(nk_parse_list("", NULL, &sh, NULL), 0);
	s->boot_id = strdup("b00t");
	struct pin_entry e = {.pid = 4242,
			      .start_time = 99,
			      .policy = NK_PIN_DEDICATED,
			      .dedicated = ded,
			      .shared = sh,
			      .rebuilt = true};
	e.name = strdup("vm \"one\"");
	s->entries = calloc(2, sizeof(*s->entries));
	s->entries[0] = e;
	s->entries[1] = (struct pin_entry){.pid = 0, .policy = NK_PIN_SHARED};
	assert_int_equal(nk_parse_list("", NULL, &s->entries[1].dedicated, NULL), 0);
	assert_int_equal(nk_parse_list("4-7", NULL, &s->entries[1].shared, NULL), 0);
	s->n_entries = 2;

	assert_int_equal(pin_state_format(s, &text), 0);
	assert_int_equal(nk_pin_state_new(&back), 0);
	assert_int_equal(pin_state_parse(text, back, NULL), 0);
	assert_int_equal(pin_state_format(back, &again), 0);
	assert_string_equal(text, again);
	assert_string_equal(back->boot_id, "b00t");
	struct nk_pin_entry out;
	assert_int_equal(nk_pin_state_count(back), 2);
	assert_int_equal(nk_pin_state_entry(back, 0, &out), 0);
	assert_int_equal(out.pid, 4242);
	assert_string_equal(out.name, "vm \"one\"");
	assert_true(out.rebuilt);
	assert_true(nk_bitmap_equal(out.dedicated, ded));
	assert_int_equal(nk_pin_state_entry(back, 1, &out), 0);
	assert_int_equal(out.policy, NK_PIN_SHARED);
	assert_null(out.name);
	assert_int_equal(nk_pin_state_entry(back, 2, &out), -ERANGE);
	free(text);
	free(again);
	nk_pin_state_free(back);
	nk_pin_state_free(s);
}

static void state_bad(const char *text, const char *in_message)
{
	nk_pin_state *s = NULL;
	nk_error *err = NULL;
	assert_int_equal(nk_pin_state_new(&s), 0);
	assert_int_equal(pin_state_parse(text, s, &err), -EINVAL);
	assert_int_equal(nk_pin_state_count(s), 0); /* nothing half-read */
	if (!strstr(nk_error_message(err), in_message))
		fail_msg("'%s' lacks '%s'", nk_error_message(err), in_message);
	nk_error_free(err);
	nk_pin_state_free(s);
}

static void test_state_malformed(void **state)
{
	static const char good[] = "{\"pid\": 1, \"policy\": \"dedicated\", \"dedicated\": \"1\", "
				   "\"shared\": \"\"}";
	char text[512];

	state_bad("", "not a numaksm pin state");
	state_bad("{", "not a numaksm pin state");
	state_bad("[]", "not a numaksm pin state");
	state_bad("{\"numaksm_pins\": 2, \"entries\": []}", "not a numaksm pin state");
	state_bad("{\"numaksm_pins\": 1}", "not a numaksm pin state");
	snprintf(text, sizeof(text), "{\"numaksm_pins\": 1, \"entries\": [%s, 3]}", good);
	state_bad(text, "entry 1 is malformed");
	state_bad("{\"numaksm_pins\": 1, \"entries\": [{\"pid\": -1, \"policy\": \"shared\", "
		  "\"dedicated\": \"\", \"shared\": \"\"}]}",
		  "entry 0 is malformed");
	state_bad("{\"numaksm_pins\": 1, \"entries\": [{\"pid\": 1, \"policy\": \"mixed\", "
		  "\"dedicated\": \"\", \"shared\": \"\"}]}",
		  "entry 0 is malformed");
	state_bad("{\"numaksm_pins\": 1, \"entries\": [{\"pid\": 1, \"policy\": \"shared\", "
		  "\"dedicated\": \"0-x\", \"shared\": \"\"}]}",
		  "entry 0 is malformed");
	state_bad("{\"numaksm_pins\": 1, \"entries\": [{\"pid\": 1, \"policy\": \"shared\", "
		  "\"dedicated\": \"1\"}]}",
		  "entry 0 is malformed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_roundtrip),
	    cmocka_unit_test(test_state_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
