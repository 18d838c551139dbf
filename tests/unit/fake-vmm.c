/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A stand-in numaksm-vmm for the `numaksm vm` tests, which need no KVM: it
 * holds RUNDIR/vm/NAME.json locked (so nk_vmm_list sees a live VM), listens
 * on RUNDIR/NAME.sock (SOCK_SEQPACKET) and answers the control protocol of
 * tools/vmm/control.c with canned results.  Zone "bad" is refused with an
 * error and a hint.  Every request is appended to LOG as one line, its keys
 * sorted, {"command":"info","version":1}, for the tests to compare whole.
 *
 * Usage: fake-vmm RUNDIR NAME LOG [serve|nosock|die]
 *   serve   answer until "stop" (the default)
 *   nosock  hold the registry entry but have no socket: a VM that is gone
 *   die     exit at the first request without answering
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

/* {"version":1,"ok":true,"result":RESULT}, or with code != 0 a refusal. */
static char *reply(json_object *result, int code, const char *error, const char *hint)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(1));
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

static json_object *content(uint64_t seed)
{
	json_object *c = json_object_new_object();
	add_u64(c, "seed", seed);
	add_u64(c, "salt", 77);
	add_u64(c, "zero_pct", 20);
	add_u64(c, "shared_pct", 50);
	add_u64(c, "unique_pct", 30);
	add_u64(c, "patterns", 8);
	add_u64(c, "redirty_permille", 5);
	return c;
}

/* The shape of info_object() in tools/vmm/control.c, with made-up values. */
static json_object *info(void)
{
	json_object *o = json_object_new_object(), *zones = json_object_new_array(),
		    *vcpus = json_object_new_array(), *loads = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(vm_name));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "socket", json_object_new_string(socket_path));
	json_object_object_add(o, "uptime_s", json_object_new_double(12.5));
	add_u64(o, "guest_nodes", 2);
	add_u64(o, "address_space_end", 0x180000000ull);
	for (int i = 0; i < 2; i++) {
		json_object *z = json_object_new_object(), *per_node = json_object_new_object();
		json_object_object_add(z, "id", json_object_new_string(i ? "z1" : "z0"));
		add_u64(z, "gpa", i ? 0x100000000ull : 0);
		add_u64(z, "size_bytes", i ? 512ull << 20 : 1ull << 30);
		add_u64(z, "host_addr", 0x7f0000000000ull + (uint64_t)i * 0x40000000ull);
		json_object_object_add(z, "backing", json_object_new_string(i ? "4K" : "hugetlb"));
		add_u64(z, "page_size", i ? 4096 : 2u << 20);
		json_object_object_add(z, "policy",
				       json_object_new_string(i ? "interleave" : "bind"));
		json_object_object_add(z, "nodes", json_object_new_string(i ? "0-1" : "0"));
		add_u64(z, "guest_node", (uint64_t)i);
		json_object_object_add(z, "mergeable", json_object_new_boolean(mergeable[i]));
		if (i) {
			add_u64(per_node, "0", 65536);
			add_u64(per_node, "1", 65536);
		} else {
			add_u64(per_node, "0", 512);
		}
		json_object_object_add(z, "pages_exact", json_object_new_boolean(!i));
		add_u64(z, "pages_not_present", 0);
		json_object_object_add(z, "pages_per_node", per_node);
		/* z1: a kernel without the per-mapping KSM line. */
		json_object_object_add(z, "ksm_bytes", i ? NULL : json_object_new_int64(8 << 20));
		json_object_array_add(zones, z);
	}
	json_object_object_add(o, "zones", zones);
	json_object_object_add(o, "state", json_object_new_string(state));
	for (int i = 0; i < 2; i++) {
		json_object *j = json_object_new_object(), *work = json_object_new_array(),
			    *range = json_object_new_object();
		add_u64(j, "id", (uint64_t)i);
		json_object_object_add(j, "tid", json_object_new_int(getpid() + 1 + i));
		json_object_object_add(
		    j, "state",
		    json_object_new_string(strcmp(state, "paused") ? "running" : "paused"));
		json_object_object_add(j, "planned_cpus", json_object_new_string(i ? "3" : "2"));
		json_object_object_add(j, "affinity", json_object_new_string(i ? "3" : "2"));
		json_object_object_add(j, "pin_verified", json_object_new_boolean(true));
		json_object_object_add(j, "host_node", json_object_new_int(i));
		add_u64(j, "guest_node", (uint64_t)i);
		add_u64(j, "passes", 40 + (uint64_t)i);
		add_u64(j, "pass_checksum", 0xabcdef);
		add_u64(j, "verified_pages", i ? 0 : 1024);
		add_u64(j, "verify_checksum", 0x123456);
		add_u64(j, "verify_errors", i ? 3 : 0);
		if (i)
			add_u64(j, "first_bad_gpa", 0x100042000ull);
		add_u64(j, "io_exits", 7);
		add_u64(range, "gpa", i ? 0x100000000ull : 0x200000);
		add_u64(range, "pages", 256);
		json_object_array_add(work, range);
		json_object_object_add(j, "work", work);
		if (i)
			json_object_object_add(
			    j, "error", json_object_new_string("guest reported 3 wrong pages"));
		json_object_array_add(vcpus, j);
	}
	json_object_object_add(o, "vcpus", vcpus);
	json_object *w = content(1);
	json_object_object_add(w, "mode", json_object_new_string("write"));
	add_u64(w, "passes", 0);
	add_u64(w, "period_ms", 100);
	json_object_object_add(w, "verify", json_object_new_boolean(true));
	add_u64(w, "pages", 512);
	json_object_object_add(w, "guest_written", json_object_new_boolean(true));
	json_object_object_add(o, "workload", w);
	json_object *f = content(2);
	add_u64(f, "pages", 4096);
	json_object_object_add(f, "seconds", json_object_new_double(0.25));
	json_object_object_add(f, "host_written", json_object_new_boolean(true));
	json_object_object_add(o, "fill", f);
	json_object *l = json_object_new_object();
	json_object_object_add(l, "path", json_object_new_string("/srv/images/blob.bin"));
	add_u64(l, "gpa", 0x400000);
	add_u64(l, "size_bytes", 1 << 20);
	json_object_array_add(loads, l);
	json_object_object_add(o, "loads", loads);
	json_object *k = json_object_new_object();
	add_u64(k, "merging_pages", 2048);
	add_u64(k, "rmap_items", 4096);
	add_u64(k, "zero_pages", 16);
	json_object_object_add(o, "ksm", k);
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
	    !json_object_is_type(version, json_type_int) || json_object_get_int(version) != 1)
		return refuse(EPROTO, "'version' 1 is required", NULL);
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
		add_u64(r, "pages_moved", 300);
		add_u64(r, "pages_already", 200);
		add_u64(r, "pages_failed", 2);
		add_u64(r, "pages_absent", 10);
		json_object_object_add(r, "seconds", json_object_new_double(0.5));
		json_object_object_add(r, "mb_per_s", json_object_new_double(1234.5));
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

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: fake-vmm RUNDIR NAME LOG [serve|nosock|die]\n");
		return 2;
	}
	const char *rundir = argv[1], *mode = argc > 4 ? argv[4] : "serve";
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
	dprintf(reg, "{\"version\": 1, \"name\": \"%s\", \"pid\": %d, \"socket\": \"%s\"}\n",
		vm_name, (int)getpid(), socket_path);

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
