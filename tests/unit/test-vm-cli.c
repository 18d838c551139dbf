/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `numaksm status` and `numaksm place` without a host: status --json on the
 * captured QEMU tree, and the usage errors and refusals of both commands
 * with their exit codes (0 success, 1 refused, 2 usage).
 */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include <json-c/json.h>

/* Run the CLI; return its exit code, its stdout and stderr joined in *out. */
static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...)
{
	char args[1024], cmd[1400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", NUMAKSM, args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t size = 1 << 20, len = 0, n;
	*out = calloc(1, size);
	while ((n = fread(*out + len, 1, size - 1 - len, p)) > 0)
		len += n;
	int status = pclose(p);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static json_object *get(json_object *o, const char *path)
{
	char key[64];
	while (o && *path) {
		size_t n = strcspn(path, ".");
		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(key));
		else if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path += n + (path[n] == '.');
	}
	return o;
}

/* KEY is in the object at PARENT, and null (the vocabulary never omits a key). */
static bool key_is_null(json_object *o, const char *parent, const char *key)
{
	json_object *v = (json_object *)0x1;
	o = get(o, parent);
	return o && json_object_object_get_ex(o, key, &v) && v == NULL;
}

static int64_t get_int(json_object *o, const char *path)
{
	json_object *v = get(o, path);
	if (!v)
		fail_msg("no %s", path);
	return json_object_get_int64(v);
}

static const char *get_str(json_object *o, const char *path)
{
	json_object *v = get(o, path);
	if (!v)
		fail_msg("no %s", path);
	return json_object_get_string(v);
}

static void test_status_json(void **state)
{
	char *out;
	assert_int_equal(run(&out, "status --json --root '%s'", PROCS_FIXTURE), 0);
	json_object *doc = json_tokener_parse(out);
	assert_non_null(doc);
	assert_int_equal(get_int(doc, "schema_version"), 1);
	assert_string_equal(get_str(doc, "command"), "status");
	assert_false(json_object_get_boolean(get(doc, "live")));
	assert_int_equal(json_object_array_length(get(doc, "vms")), 1);
	assert_string_equal(get_str(doc, "vms.0.name"), "q7test");
	assert_string_equal(get_str(doc, "vms.0.kind"), "qemu");
	assert_int_equal(get_int(doc, "vms.0.pid"), 14042);
	assert_int_equal(get_int(doc, "vms.0.guest_ram.size_bytes"), 256 << 20);
	assert_string_equal(get_str(doc, "vms.0.guest_ram.backing"), "thp");
	assert_string_equal(get_str(doc, "vms.0.placement.method"), "numa_maps");
	assert_int_equal(get_int(doc, "vms.0.placement.per_node.0.node"), 0);
	assert_true(get_int(doc, "vms.0.placement.per_node.0.resident_bytes") > 0);
	assert_int_equal(get_int(doc, "vms.0.vcpu_count"), 1);
	/* Root runs it (its status says uid 0): taken for a VM on that. */
	assert_int_equal(get_int(doc, "vms.0.owner_uid"), 0);
	assert_string_equal(get_str(doc, "vms.0.trust"), "owner");
	assert_string_equal(get_str(doc, "vms.0.threads.0.name"), "CPU 0/TCG");
	assert_int_equal(get_int(doc, "vms.0.ksm.merging_page_count"), 597);
	assert_string_equal(get_str(doc, "vms.0.cgroups.5.path"), "/user.slice/session-2.scope");
	/* The host: KSM counters, ksmd, nodes, THP. */
	assert_string_equal(get_str(doc, "host.ksm.state"), "running");
	assert_int_equal(get_int(doc, "host.ksm.ksmd.pid"), 36);
	/* A captured tree does not say its page size: no bytes from page counts. */
	assert_true(get_int(doc, "host.ksm.counters.pages_sharing") > 0);
	assert_true(key_is_null(doc, "host.ksm", "saved_bytes"));
	assert_true(key_is_null(doc, "host.ksm", "last_full_scan"));
	assert_false(key_is_null(doc, "host.ksm", "no_such_key"));
	assert_int_equal(get_int(doc, "host.numa_nodes.0.node"), 0);
	assert_string_equal(get_str(doc, "host.thp.enabled"), "madvise");
	json_object_put(doc);
	free(out);

	/* By name and by PID; text. */
	assert_int_equal(run(&out, "status --root '%s' 14042", PROCS_FIXTURE), 0);
	assert_non_null(
	    strstr(out, "q7test: qemu, PID 14042 (qemu-system-x86), 3 threads; run by root"));
	assert_non_null(strstr(out, "pages per node (exact, numa_maps): node0"));
	assert_non_null(strstr(out, "last full scan n/a"));
	free(out);
}

static void test_errors(void **state)
{
	const struct {
		int code;
		const char *args, *text;
	} cases[] = {
	    {1, "status --root '" PROCS_FIXTURE "' no-such-vm", "no VM named 'no-such-vm'"},
	    {1, "status --root '" PROCS_FIXTURE "' 77", "no process 77"},
	    {2, "status --watch 0", "invalid --watch '0'"},
	    {2, "status --watch soon", "invalid --watch 'soon'"},
	    {2, "status --bogus", "unknown option '--bogus'"},
	    {2, "status --root /nonexistent", "cannot open host root"},
	    {2, "place", "missing the NAME or PID"},
	    {2, "place vm", "place needs --nodes LIST"},
	    {2, "place vm --nodes x", "invalid --nodes 'x'"},
	    {2, "place vm --nodes 0 --cpus ''", "invalid --cpus ''"},
	    {2, "place vm --nodes 0 --memory-max lots", "invalid --memory-max 'lots'"},
	    {2, "place --undo vm --nodes 0", "--undo takes only NAME|PID"},
	    {2, "place vm --nodes 0 extra", "unexpected argument 'extra'"},
	    {1, "place q7test --nodes 0 --root '" PROCS_FIXTURE "'", "captured tree"},
	    {1, "place --undo q7test --root '" PROCS_FIXTURE "'", "captured tree"},
	    {0, "place --help", "numaksm place --undo NAME|PID"},
	    {0, "status --help", "--watch SECONDS"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out;
		int code = run(&out, "%s", cases[i].args);
		if (code != cases[i].code || !strstr(out, cases[i].text))
			fail_msg("numaksm %s: exit %d, output:\n%s", cases[i].args, code, out);
		free(out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_json),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
