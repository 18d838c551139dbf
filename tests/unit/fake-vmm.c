/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A stand-in numaksm-vmm for the `numaksm vm` tests, which need no KVM: it
 * holds RUNDIR/vm/NAME.json locked (so nk_vmm_list sees a live VM), listens
 * on RUNDIR/NAME.sock (SOCK_SEQPACKET) and answers the control protocol of
 * tools/vmm/control.c with canned results.  Zone "bad" is refused with an
 * error and a hint.  Every request is appended to LOG as one line, its keys
 * sorted, {"command":"info","version":2}, for the tests to compare whole.
 *
 * Usage: fake-vmm RUNDIR NAME LOG [serve|nosock|die [CONSOLE]]
 *   serve   answer until "stop" (the default)
 *   nosock  hold the registry entry but have no socket: a VM that is gone
 *   die     exit at the first request without answering
 * CONSOLE is JSON text put in the registry entry as its "console" (default
 * null), as numaksm-vmm records a Linux guest's, or not, for the readers'
 * tests.
 * It forks; the parent prints the server's PID once it listens, and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <numaksm/vmm.h>

#define MAX_REQUEST (256 * 1024)

static const char *vm_name, *log_path;
static char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)], registry_path[4096];
static const char *state = "running";
static bool mergeable[2] = {true, false};

static void die(const char *what)
{
	fprintf(stderr, "fake-vmm %s: %s: %s\n", vm_name, what, strerror(errno));
	exit(1);
}

static int by_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The request with its keys sorted, or its text when it is no JSON object. */
static void log_request(json_object *req, const char *text)
{
	FILE *f = fopen(log_path, "a");
	if (!f)
		die(log_path);
	if (!json_object_is_type(req, json_type_object)) {
		fprintf(f, "not an object: %s\n", text);
	} else {
		const char *keys[16];
		size_t n = 0;
		json_object *sorted = json_object_new_object();
		json_object_object_foreach(req, key, value)
		{
			(void)value;
			if (n < 16)
				keys[n++] = key;
		}
		qsort(keys, n, sizeof(keys[0]), by_key);
		for (size_t i = 0; i < n; i++) {
			json_object *v = NULL;
			json_object_object_get_ex(req, keys[i], &v);
			json_object_object_add(sorted, keys[i], json_object_get(v));
		}
		fprintf(f, "%s\n", json_object_to_json_string_ext(sorted, JSON_C_TO_STRING_PLAIN));
		json_object_put(sorted);
	}
	fclose(f);
}

/* {"version":2,"ok":true,"result":RESULT}, or with code != 0 a refusal. */
static char *reply(json_object *result, int code, const char *error, const char *hint)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(NK_VMM_PROTOCOL_VERSION));
	json_object_object_add(o, "ok", json_object_new_boolean(!code));
	if (code) {
		json_object_object_add(o, "errno", json_object_new_int(code));
		json_object_object_add(o, "error", json_object_new_string(error));
		if (hint)
			json_object_object_add(o, "hint", json_object_new_string(hint));
	} else {
		json_object_object_add(o, "result", result ? result : json_object_new_object());
	}
	char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return text;
}

static char *refuse(int code, const char *error, const char *hint)
{
	return reply(NULL, code, error, hint);
}

static char *reply_ok(json_object *result)
{
	return reply(result, 0, NULL, NULL);
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void add_str(json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

/* Seconds and ratios as numaksm prints them: six decimals. */
static void add_fixed6(json_object *o, const char *key, double v)
{
	char text[64];
	snprintf(text, sizeof(text), "%.6f", v);
	json_object_object_add(o, key, json_object_new_double_s(v, text));
}

static void content(json_object *c, const char *seed)
{
	add_str(c, "seed", seed);
	add_str(c, "salt", "0x000000000000004d");
	add_fixed6(c, "zero_ratio", 0.2);
	add_fixed6(c, "shared_ratio", 0.5);
	add_fixed6(c, "unique_ratio", 0.3);
	add_u64(c, "pattern_count", 8);
	add_fixed6(c, "redirty_ratio", 0.005);
}

static json_object *zone(int i)
{
	json_object *z = json_object_new_object(), *p = json_object_new_object(),
		    *nodes = json_object_new_array();

	add_str(z, "id", i ? "z1" : "z0");
	add_u64(z, "size_bytes", i ? 512ull << 20 : 1ull << 30);
	add_str(z, "backing", i ? "4k" : "hugetlb");
	add_u64(z, "page_size_bytes", i ? 4096 : 2u << 20);
	add_str(z, "policy", i ? "interleave" : "bind");
	add_str(z, "nodes", i ? "0-1" : "0");
	json_object_object_add(z, "mergeable", json_object_new_boolean(mergeable[i]));
	add_u64(z, "guest_node", (uint64_t)i);
	add_u64(z, "guest_address", i ? 0x100000000ull : 0);
	add_u64(z, "host_address", 0x7f0000000000ull + (uint64_t)i * 0x40000000ull);
	/* z1: a kernel without the per-mapping KSM line. */
	json_object_object_add(z, "ksm_bytes", i ? NULL : json_object_new_uint64(8 << 20));
	json_object_object_add(z, "prefault", NULL);
	add_str(p, "method", "move_pages");
	json_object_object_add(p, "exact", json_object_new_boolean(!i));
	json_object_object_add(p, "sampled_page_count", i ? json_object_new_uint64(16384) : NULL);
	for (int n = 0; n < (i ? 2 : 1); n++) {
		json_object *node = json_object_new_object();
		json_object_object_add(node, "node", json_object_new_int(n));
		add_u64(node, "resident_bytes", i ? 256ull << 20 : 1ull << 30);
		json_object_object_add(node, "ksm_bytes", NULL);
		json_object_array_add(nodes, node);
	}
	json_object_object_add(p, "per_node", nodes);
	add_u64(p, "resident_bytes", 1ull << 30);
	add_u64(p, "absent_bytes", 0);
	add_u64(p, "other_bytes", 0);
	add_u64(p, "error_bytes", i ? 4ull << 20 : 0);
	json_object_object_add(z, "placement", p);
	return z;
}

static json_object *vcpu(int i)
{
	json_object *j = json_object_new_object(), *work = json_object_new_array(),
		    *range = json_object_new_object();

	add_u64(j, "vcpu", (uint64_t)i);
	json_object_object_add(j, "tid", json_object_new_int(getpid() + 1 + i));
	add_str(j, "state", strcmp(state, "paused") ? "running" : "paused");
	add_str(j, "planned_cpus", i ? "3" : "2");
	add_str(j, "affinity_cpus", i ? "3" : "2");
	json_object_object_add(j, "pin_verified", json_object_new_boolean(true));
	json_object_object_add(j, "host_node", json_object_new_int(i));
	add_u64(j, "guest_node", (uint64_t)i);
	add_u64(j, "pass_count", 40 + (uint64_t)i);
	add_str(j, "pass_checksum", "0x0000000000abcdef");
	add_u64(j, "verified_page_count", i ? 0 : 1024);
	add_str(j, "verify_checksum", "0x0000000000123456");
	add_u64(j, "verify_error_count", i ? 3 : 0);
	json_object_object_add(j, "first_bad_guest_address",
			       i ? json_object_new_uint64(0x100042000ull) : NULL);
	add_u64(j, "io_exit_count", 7);
	add_u64(range, "guest_address", i ? 0x100000000ull : 0x200000);
	add_u64(range, "page_count", 256);
	json_object_array_add(work, range);
	json_object_object_add(j, "work_ranges", work);
	add_str(j, "error", i ? "guest reported 3 wrong pages" : NULL);
	return j;
}

/* The shape of info_object() in tools/vmm/control.c (docs/schema: vmm_info),
 * with made-up values. */
static json_object *info(void)
{
	json_object *o = json_object_new_object(), *zones = json_object_new_array(),
		    *vcpus = json_object_new_array(), *loads = json_object_new_array(),
		    *w = json_object_new_object(), *f = json_object_new_object(),
		    *l = json_object_new_object(), *k = json_object_new_object();

	add_str(o, "name", vm_name);
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	add_str(o, "socket_path", socket_path);
	json_object_object_add(o, "console", NULL);
	add_str(o, "state", state);
	add_fixed6(o, "uptime_seconds", 12.5);
	add_u64(o, "guest_node_count", 2);
	add_u64(o, "guest_address_end", 0x180000000ull);
	for (int i = 0; i < 2; i++)
		json_object_array_add(zones, zone(i));
	json_object_object_add(o, "zones", zones);
	for (int i = 0; i < 2; i++)
		json_object_array_add(vcpus, vcpu(i));
	json_object_object_add(o, "vcpus", vcpus);
	add_str(w, "mode", "write");
	json_object_object_add(w, "pass_limit", NULL);
	add_fixed6(w, "period_seconds", 0.1);
	json_object_object_add(w, "verify", json_object_new_boolean(true));
	add_u64(w, "page_count", 512);
	content(w, "0x0000000000000001");
	json_object_object_add(o, "workload", w);
	add_u64(f, "page_count", 4096);
	add_fixed6(f, "seconds", 0.25);
	content(f, "0x0000000000000002");
	json_object_object_add(o, "fill", f);
	add_str(l, "path", "/srv/images/blob.bin");
	add_u64(l, "guest_address", 0x400000);
	add_u64(l, "size_bytes", 1 << 20);
	json_object_array_add(loads, l);
	json_object_object_add(o, "loads", loads);
	add_u64(k, "mergeable_bytes", 1ull << 30);
	add_u64(k, "saved_bytes", 6ull << 20);
	add_u64(k, "merging_page_count", 2048);
	add_u64(k, "rmap_item_count", 4096);
	add_u64(k, "zero_page_count", 16);
	json_object_object_add(k, "profit_bytes", json_object_new_int64(5 << 20));
	json_object_object_add(k, "mergeable", json_object_new_boolean(false));
	json_object_object_add(k, "merge_any", json_object_new_boolean(false));
	json_object_object_add(o, "ksm", k);
	json_object *m = json_object_new_object();
	add_str(m, "zone", "z1");
	add_str(m, "nodes", "0");
	add_str(m, "state", "running");
	add_u64(m, "total_bytes", 4ull << 30);
	add_u64(m, "done_bytes", 1ull << 30);
	add_u64(m, "moved_bytes", 768ull << 20);
	add_u64(m, "moved_page_count", 196608);
	add_u64(m, "already_page_count", 65536);
	add_u64(m, "failed_page_count", 0);
	add_u64(m, "absent_page_count", 0);
	add_fixed6(m, "seconds", 1.5);
	add_str(m, "error", NULL);
	json_object_object_add(o, "migration", m);
	return o;
}

/* The zone named by the request: 0 or 1; -1 with *ret_reply set. */
static int find_zone(json_object *req, char **ret_reply)
{
	json_object *id = NULL;
	if (!json_object_object_get_ex(req, "zone", &id) ||
	    !json_object_is_type(id, json_type_string)) {
		*ret_reply = refuse(EINVAL, "'zone' (a zone id string) is required", NULL);
		return -1;
	}
	const char *name = json_object_get_string(id);
	if (!strcmp(name, "bad")) {
		*ret_reply = refuse(EPERM, "zone bad: the kernel refuses this",
				    "zone bad always refuses, for the tests");
		return -1;
	}
	if (strcmp(name, "z0") && strcmp(name, "z1")) {
		*ret_reply = refuse(ENOENT, "no such zone in this VM", NULL);
		return -1;
	}
	return name[1] - '0';
}

static char *handle(json_object *req, bool *ret_stop)
{
	json_object *version = NULL, *command = NULL, *v = NULL;
	char *reply = NULL;
	int zone;

	if (!json_object_is_type(req, json_type_object))
		return refuse(EINVAL, "a request is a JSON object", NULL);
	if (!json_object_object_get_ex(req, "version", &version) ||
	    !json_object_is_type(version, json_type_int) ||
	    json_object_get_int(version) != NK_VMM_PROTOCOL_VERSION)
		return refuse(EPROTO, "this 'version' of the protocol is not spoken here", NULL);
	if (!json_object_object_get_ex(req, "command", &command) ||
	    !json_object_is_type(command, json_type_string))
		return refuse(EINVAL, "'command' (a string) is required", NULL);
	const char *cmd = json_object_get_string(command);

	if (!strcmp(cmd, "info") || !strcmp(cmd, "pause") || !strcmp(cmd, "resume") ||
	    !strcmp(cmd, "stop")) {
		if (cmd[0] == 'i')
			return reply_ok(info());
		*ret_stop = cmd[0] == 's';
		if (*ret_stop)
			return reply_ok(NULL);
		state = cmd[0] == 'p' ? "paused" : "running";
		json_object *r = json_object_new_object();
		json_object_object_add(r, "state", json_object_new_string(state));
		return reply_ok(r);
	}
	if (!strcmp(cmd, "set-mergeable")) {
		if ((zone = find_zone(req, &reply)) < 0)
			return reply;
		if (!json_object_object_get_ex(req, "mergeable", &v) ||
		    !json_object_is_type(v, json_type_boolean))
			return refuse(EINVAL, "'mergeable' (true or false) is required", NULL);
		mergeable[zone] = json_object_get_boolean(v);
		json_object *r = json_object_new_object();
		json_object_object_add(r, "mergeable", json_object_new_boolean(mergeable[zone]));
		return reply_ok(r);
	}
	if (!strcmp(cmd, "migrate")) {
		if (find_zone(req, &reply) < 0)
			return reply;
		if (!json_object_object_get_ex(req, "nodes", &v) ||
		    !json_object_is_type(v, json_type_string))
			return refuse(EINVAL, "'nodes' (a node list string) is required", NULL);
		json_object *r = json_object_new_object();
		add_u64(r, "moved_page_count", 300);
		add_u64(r, "already_page_count", 200);
		add_u64(r, "failed_page_count", 2);
		add_u64(r, "absent_page_count", 10);
		add_fixed6(r, "seconds", 0.5);
		add_u64(r, "bytes_per_second", 1234500000);
		return reply_ok(r);
	}
	return refuse(EOPNOTSUPP, "unknown command", NULL);
}

static void cleanup(void)
{
	unlink(socket_path);
	unlink(registry_path);
}

static void serve(int listen_fd, const char *mode)
{
	static char buf[MAX_REQUEST + 1];
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			die("accept");
		}
		ssize_t n = recv(fd, buf, MAX_REQUEST, 0);
		if (n <= 0) {
			close(fd);
			continue;
		}
		buf[n] = '\0';
		json_object *req = json_tokener_parse(buf);
		log_request(req, buf);
		if (!strcmp(mode, "die")) {
			cleanup();
			_exit(3);
		}
		bool stop = false;
		char *reply = handle(req, &stop);
		json_object_put(req);
		if (send(fd, reply, strlen(reply), MSG_NOSIGNAL) < 0)
			fprintf(stderr, "fake-vmm %s: send: %s\n", vm_name, strerror(errno));
		free(reply);
		close(fd);
		if (stop) {
			cleanup();
			exit(0);
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int ready[2];

	if (argc < 4 || argc > 6) {
		fprintf(stderr, "usage: fake-vmm RUNDIR NAME LOG [serve|nosock|die [CONSOLE]]\n");
		return 2;
	}
	const char *rundir = argv[1], *mode = argc > 4 ? argv[4] : "serve";
	const char *console = argc > 5 ? argv[5] : "null";
	vm_name = argv[2];
	log_path = argv[3];
	if (pipe(ready) < 0)
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid > 0) {
		char c;
		close(ready[1]);
		if (read(ready[0], &c, 1) != 1)
			return 1; /* the child said why */
		printf("%d\n", (int)pid);
		return 0;
	}
	close(ready[0]);
	/* Never outlive a test that forgot us; leave the caller's stdout. */
	alarm(120);
	if (!freopen("/dev/null", "w", stdout))
		die("/dev/null");

	snprintf(registry_path, sizeof(registry_path), "%s/vm", rundir);
	if ((mkdir(rundir, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(registry_path, 0700) < 0 && errno != EEXIST))
		die(registry_path);
	snprintf(registry_path, sizeof(registry_path), "%s/vm/%s.json", rundir, vm_name);
	snprintf(socket_path, sizeof(socket_path), "%s/%s.sock", rundir, vm_name);
	int reg = open(registry_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (reg < 0 || flock(reg, LOCK_EX | LOCK_NB) < 0)
		die(registry_path);
	dprintf(reg,
		"{\"version\": 2, \"name\": \"%s\", \"pid\": %d, \"socket\": \"%s\", "
		"\"console\": %s}\n",
		vm_name, (int)getpid(), socket_path, console);

	int listen_fd = -1;
	if (strcmp(mode, "nosock") != 0) {
		strcpy(addr.sun_path, socket_path);
		listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
		    listen(listen_fd, 8) < 0)
			die(socket_path);
	}
	if (write(ready[1], "r", 1) != 1)
		die("pipe");
	close(ready[1]);
	if (listen_fd < 0) {
		for (;;)
			pause();
	}
	serve(listen_fd, mode);
	return 0;
}
