/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The vcpu/ parsers on literals: thread names, stat lines, QEMU command
 * lines, and the pin state file, malformed input included. */
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

static void expect_name(const char *comm, enum vmm_kind kind, unsigned vcpu)
{
	unsigned v = 12345;
	enum vmm_kind k = pin_parse_vcpu_name(comm, &v);
	if (k != kind)
		fail_msg("'%s': kind %d, expected %d", comm ? comm : "(null)", k, kind);
	assert_int_equal(v, kind == VMM_NONE ? 12345 : vcpu);
}

static void test_vcpu_names(void **state)
{
	expect_name("CPU 0/KVM", VMM_QEMU, 0);
	expect_name("CPU 12/KVM", VMM_QEMU, 12);
	expect_name("CPU 3/TCG", VMM_QEMU, 3);
	expect_name("vcpu0", VMM_CLOUD_HYPERVISOR, 0);
	expect_name("vcpu17", VMM_CLOUD_HYPERVISOR, 17);
	expect_name("fc_vcpu 5", VMM_FIRECRACKER, 5);
	/* Near misses are not vCPU threads. */
	expect_name("CPU 1/KV", VMM_NONE, 0);
	expect_name("CPU /KVM", VMM_NONE, 0);
	expect_name("CPU 1/KVMx", VMM_NONE, 0);
	expect_name("CPU -1/KVM", VMM_NONE, 0);
	expect_name("CPU 99999999/KVM", VMM_NONE, 0);
	expect_name("vcpu", VMM_NONE, 0);
	expect_name("vcpu3x", VMM_NONE, 0);
	expect_name("fc_vcpu5", VMM_NONE, 0);
	expect_name("qemu-system-x86", VMM_NONE, 0);
	expect_name("IO iothread0", VMM_NONE, 0);
	expect_name("", VMM_NONE, 0);
	expect_name(NULL, VMM_NONE, 0);
	assert_string_equal(pin_vmm_kind_name(VMM_CLOUD_HYPERVISOR), "cloud-hypervisor");
}

/* A stat line with `start` in field 22 and `cpu` in field 39. */
static char *stat_line(const char *comm, unsigned long long start, int cpu, int fields)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	fprintf(f, "4242 (%s) S", comm);
	for (int field = 4; field <= fields; field++)
		fprintf(f, " %llu",
			field == 22   ? start
			: field == 39 ? (unsigned long long)cpu
				      : 7ull);
	fprintf(f, "\n");
	fclose(f);
	return s;
}

static void test_stat(void **state)
{
	struct pin_stat st = {0};
	char *s = stat_line("CPU 0/KVM", 123456789, 3, 52);
	assert_int_equal(pin_parse_stat(s, &st), 0);
	assert_int_equal(st.start_time, 123456789);
	assert_int_equal(st.last_cpu, 3);
	free(s);

	/* A comm holding ") " and spaces: fields start after the last ')'. */
	s = stat_line("a) S 1 2 (b", 99, 1, 52);
	assert_int_equal(pin_parse_stat(s, &st), 0);
	assert_int_equal(st.start_time, 99);
	assert_int_equal(st.last_cpu, 1);
	free(s);

	/* Exactly 39 fields, no newline-terminated tail: fine. */
	s = stat_line("x", 5, 0, 39);
	assert_int_equal(pin_parse_stat(s, &st), 0);
	assert_int_equal(st.last_cpu, 0);
	free(s);

	st.last_cpu = 77;
	s = stat_line("x", 5, 0, 38); /* truncated before field 39 */
	assert_int_equal(pin_parse_stat(s, &st), -EINVAL);
	free(s);
	assert_int_equal(st.last_cpu, 77);
	assert_int_equal(pin_parse_stat("4242 (x S 1", &st), -EINVAL);
	assert_int_equal(pin_parse_stat("", &st), -EINVAL);
	assert_int_equal(pin_parse_stat(NULL, &st), -EINVAL);
	s = stat_line("x", 5, 0, 52);
	char *p = strstr(s, ") S") + 3;
	p[1] = 'z'; /* field 4 not a number: not read, fine */
	assert_int_equal(pin_parse_stat(s, &st), 0);
	free(s);
	s = stat_line("x", 5, 0, 52);
	/* Field 22 garbled. */
	p = strrchr(s, ')') + 2;
	for (int field = 3; field < 22; field++)
		p = strchr(p, ' ') + 1;
	p[0] = '-';
	assert_int_equal(pin_parse_stat(s, &st), -EINVAL);
	free(s);
}

static void test_qemu_name(void **state)
{
	static const char a[] = "qemu-system-x86_64\0-name\0guest=vm1,debug-threads=on\0-m\0"
				"1G";
	static const char b[] = "qemu\0-name\0plain\0";
	static const char c[] = "qemu\0-m\0-name";
	static const char d[] = "cloud-hypervisor\0--cpus\0boot=2";
	char *name = (char *)0x1;

	assert_int_equal(pin_parse_qemu_name(a, sizeof(a), &name), 0);
	assert_string_equal(name, "vm1");
	free(name);
	assert_int_equal(pin_parse_qemu_name(b, sizeof(b), &name), 0);
	assert_string_equal(name, "plain");
	free(name);
	assert_int_equal(pin_parse_qemu_name(c, sizeof(c), &name), 0);
	assert_null(name);
	assert_int_equal(pin_parse_qemu_name(d, sizeof(d), &name), 0);
	assert_null(name);
}

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
	    cmocka_unit_test(test_vcpu_names),	    cmocka_unit_test(test_stat),
	    cmocka_unit_test(test_qemu_name),	    cmocka_unit_test(test_state_roundtrip),
	    cmocka_unit_test(test_state_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
