/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nk_vmm_call against control sockets that misbehave: a listener that never
 * answers, one whose accept queue is full (connect() itself would wait for
 * ever), and one that refuses the connection with a reason.  Each call must
 * come back within its timeout with a clear error, or with the reason.
 * And the registry entry: what the VMM's side writes (its console too) is
 * what nk_vmm_entry_read() gives back, and entries planted with a bad field,
 * as a link, a FIFO or another user's file are refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <numaksm/vmm.h>

static char top[64];

static int setup(void **state)
{
	(void)state;
	snprintf(top, sizeof(top), "/tmp/test-vmm-client-XXXXXX");
	assert_non_null(mkdtemp(top));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct outcome {
	int r;
	double seconds;
	char text[512]; /* the error message, or the reply */
};

/*
 * nk_vmm_call in a child process that is killed after 10 s, so a call that
 * would wait for ever fails the test instead of hanging it.
 */
static struct outcome call_bounded(const char *name, int timeout_ms)
{
	struct outcome o = {.r = 0};
	int pipe_fd[2];
	assert_int_equal(pipe(pipe_fd), 0);
	double t0 = now_s();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *reply = NULL;
		nk_error *err = NULL;
		alarm(10);
		o.r = nk_vmm_call(top, name, "{\"version\":2,\"command\":\"info\"}", timeout_ms,
				  &reply, &err);
		snprintf(o.text, sizeof(o.text), "%s",
			 o.r < 0 ? (err ? nk_error_message(err) : "") : reply);
		_exit(write(pipe_fd[1], &o, sizeof(o)) == sizeof(o) ? 0 : 1);
	}
	close(pipe_fd[1]);
	int status;
	ssize_t n = read(pipe_fd[0], &o, sizeof(o));
	close(pipe_fd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	o.seconds = now_s() - t0;
	if (n != sizeof(o))
		fail_msg("nk_vmm_call did not come back (%s after %.1f s)",
			 WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exited", o.seconds);
	return o;
}

/* A VM that registered (so its socket and entry are as a VMM's are) but
 * never looks at its socket. */
static nk_vmm_registration *register_vm(const char *name)
{
	nk_vmm_registration *reg = NULL;
	nk_error *err = NULL;
	if (nk_vmm_register(top, name, &reg, &err) < 0)
		fail_msg("register %s: %s", name, nk_error_message(err));
	return reg;
}

static void test_never_answers(void **state)
{
	(void)state;
	nk_vmm_registration *reg = register_vm("mute");
	struct outcome o = call_bounded("mute", 300);
	if (o.r != -ETIMEDOUT || !strstr(o.text, "did not answer in 0.3 s"))
		fail_msg("a VMM that never answers: %d '%s'", o.r, o.text);
	assert_true(o.seconds >= 0.25 && o.seconds < 2);
	nk_vmm_unregister(reg);
}

/* The listener's accept queue is full: connect() itself would wait until
 * the VMM accepted, which a stuck one never does. */
static void test_queue_full(void **state)
{
	(void)state;
	nk_vmm_registration *reg = register_vm("stuck");
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/stuck.sock", top);
	int fds[64], n = 0;
	for (; n < 64; n++) {
		fds[n] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		assert_true(fds[n] >= 0);
		if (connect(fds[n], (struct sockaddr *)&addr, sizeof(addr)) < 0) {
			assert_int_equal(errno, EAGAIN);
			close(fds[n]);
			break;
		}
	}
	assert_true(n > 0 && n < 64); /* the queue is full now */
	struct outcome o = call_bounded("stuck", 400);
	if (o.r != -ETIMEDOUT || !strstr(o.text, "did not take the connection in 0.4 s"))
		fail_msg("a VMM whose queue is full: %d '%s'", o.r, o.text);
	assert_true(o.seconds >= 0.35 && o.seconds < 2);
	while (n-- > 0)
		close(fds[n]);
	nk_vmm_unregister(reg);
}

/* A VMM that takes the connection, says why it will not serve it, and
 * closes: the caller gets that reason as the reply, whether its request
 * went out before the close or not. */
static void *refuse(void *arg)
{
	int listen_fd = *(int *)arg;
	static const char reason[] =
	    "{\"version\":2,\"ok\":false,\"errno\":16,\"error\":\"too many clients\"}";
	for (int i = 0; i < 2; i++) {
		int fd = -1;
		for (int tries = 0; fd < 0 && tries < 5000; tries++) {
			fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				usleep(1000);
		}
		if (fd < 0)
			return NULL;
		if (i == 1)
			usleep(100000); /* the request arrives first */
		if (send(fd, reason, strlen(reason), MSG_NOSIGNAL) < 0)
			return NULL;
		close(fd);
	}
	return NULL;
}

static void test_refused_with_reason(void **state)
{
	(void)state;
	nk_vmm_registration *reg = register_vm("full");
	int listen_fd = nk_vmm_registration_fd(reg);
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, refuse, &listen_fd), 0);
	for (int i = 0; i < 2; i++) {
		struct outcome o = call_bounded("full", 5000);
		if (o.r != 0 || !strstr(o.text, "too many clients"))
			fail_msg("refusal %d: %d '%s'", i, o.r, o.text);
		assert_true(o.seconds < 2);
	}
	pthread_join(thread, NULL);
	nk_vmm_unregister(reg);
}

/* ---- the registry entry --------------------------------------------------- */

/* Read VM `name`'s entry, expecting `want` and, on an error, `want_msg`. */
static nk_vmm_entry *read_entry(const char *name, int want, const char *want_msg)
{
	nk_vmm_entry *e = NULL;
	nk_error *err = NULL;
	int r = nk_vmm_entry_read(top, name, &e, &err);
	if (r != want || (want_msg && (!err || !strstr(nk_error_message(err), want_msg))))
		fail_msg("entry of %s: %d '%s', expected %d '%s'", name, r,
			 err ? nk_error_message(err) : "", want, want_msg ? want_msg : "");
	nk_error_free(err);
	assert_true((r == 0) == (e != NULL));
	return e;
}

static void expect_console(const char *name, enum nk_vmm_console_mode mode, const char *path)
{
	nk_vmm_entry *e = read_entry(name, 0, NULL);
	assert_int_equal(e->console, mode);
	if (path)
		assert_string_equal(e->console_path, path);
	else
		assert_null(e->console_path);
	nk_vmm_entry_free(e);
}

static char long_path[PATH_MAX + 2]; /* "/aaa...": PATH_MAX - 1 characters, or PATH_MAX */
/* In the tables below: a path as long as it may be (kept), or one longer (refused). */
static const char LONG_PATH[] = "long";

static const char *path_of(size_t len)
{
	memset(long_path, 'a', len);
	long_path[0] = '/';
	long_path[len] = '\0';
	return long_path;
}

static void test_entry_round_trip(void **state)
{
	(void)state;
	nk_vmm_registration *reg = register_vm("con");
	nk_vmm_entry *e = read_entry("con", 0, NULL);
	assert_int_equal(e->version, NK_VMM_PROTOCOL_VERSION);
	assert_string_equal(e->name, "con");
	assert_int_equal(e->pid, getpid());
	assert_string_equal(e->socket_path, nk_vmm_registration_socket(reg));
	assert_int_equal(e->console, NK_VMM_CONSOLE_NONE);
	assert_null(e->console_path);
	nk_vmm_entry_free(e);

	/* Each console written is read back; the longest path fits. */
	static const struct {
		enum nk_vmm_console_mode mode;
		const char *path;
	} kept[] = {
	    {NK_VMM_CONSOLE_PTY, "/dev/pts/3"},
	    {NK_VMM_CONSOLE_FILE, "/var/log/numaksm/con.log"},
	    {NK_VMM_CONSOLE_SOCKET, LONG_PATH},
	    {NK_VMM_CONSOLE_STDIO, NULL},
	};
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		const char *path = kept[i].path == LONG_PATH ? path_of(PATH_MAX - 1) : kept[i].path;
		nk_error *err = NULL;
		if (nk_vmm_registration_set_console(reg, kept[i].mode, path, &err) < 0)
			fail_msg("console %zu: %s", i, nk_error_message(err));
		expect_console("con", kept[i].mode, path);
	}
	/* What the writer refuses is never written: the entry stays stdio. */
	static const struct {
		enum nk_vmm_console_mode mode;
		const char *path, *msg;
	} refused[] = {
	    {NK_VMM_CONSOLE_STDIO, "/dev/pts/3", "the console has a path"},
	    {NK_VMM_CONSOLE_NONE, "/dev/pts/3", "the console has a path"},
	    {NK_VMM_CONSOLE_PTY, NULL, "the console has no path"},
	    {NK_VMM_CONSOLE_FILE, "con.log", "the console path is not absolute"},
	    {NK_VMM_CONSOLE_FILE, "", "the console path is not absolute"},
	    {NK_VMM_CONSOLE_SOCKET, "/tmp/a\nb", "the console path holds a control character"},
	    {NK_VMM_CONSOLE_FILE, "/tmp/\033[2J", "the console path holds a control character"},
	    {NK_VMM_CONSOLE_FILE, LONG_PATH, "the console path is too long"},
	    {(enum nk_vmm_console_mode)9, "/x", "the console is of an unknown mode"},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		const char *path =
		    refused[i].path == LONG_PATH ? path_of(PATH_MAX) : refused[i].path;
		nk_error *err = NULL;
		int r = nk_vmm_registration_set_console(reg, refused[i].mode, path, &err);
		if (r != -EINVAL || !strstr(nk_error_message(err), refused[i].msg))
			fail_msg("refusal %zu: %d '%s', expected '%s'", i, r,
				 err ? nk_error_message(err) : "", refused[i].msg);
		nk_error_free(err);
		expect_console("con", NK_VMM_CONSOLE_STDIO, NULL);
	}
	nk_vmm_unregister(reg);
	nk_vmm_entry_free(read_entry("con", -ENOENT, "VM 'con' has no registry entry"));
}

/* Plant RUNDIR/vm/NAME.json holding `text`. */
static void plant(const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/vm", top);
	assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "%s/vm/%s.json", top, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Plant entry "e": the fields before console, then `console` ("" for none). */
static void plant_entry(const char *head, const char *console)
{
	char text[PATH_MAX + 512];
	snprintf(text, sizeof(text), "{%s%s%s}",
		 head ? head
		      : "\"version\": 2, \"name\": \"e\", \"pid\": 42, \"socket\": \"/run/e.sock\"",
		 *console ? ", \"console\": " : "", console);
	plant("e", text);
}

static void test_entry_refused(void **state)
{
	(void)state;
	char console[PATH_MAX + 64];

	/* Accepted: the console absent (an older VMM), null, and a key unknown here. */
	plant_entry(NULL, "");
	expect_console("e", NK_VMM_CONSOLE_NONE, NULL);
	plant_entry(NULL, "null, \"disks\": []");
	expect_console("e", NK_VMM_CONSOLE_NONE, NULL);
	plant_entry(NULL, "{\"mode\": \"stdio\", \"path\": null}");
	expect_console("e", NK_VMM_CONSOLE_STDIO, NULL);
	plant_entry(NULL, "{\"mode\": \"socket\", \"path\": \"/run/e.console\"}");
	expect_console("e", NK_VMM_CONSOLE_SOCKET, "/run/e.console");

	static const struct {
		const char *head, *console, *msg;
	} bad[] = {
	    {"\"version\": 2", "", "its name is not its file's"},
	    {"\"name\": \"e\", \"pid\": 42", "", "its version is not a number above 0"},
	    {"\"version\": \"2\", \"name\": \"e\"", "", "its version is not a number above 0"},
	    {"\"version\": 2, \"name\": \"f\", \"pid\": 42", "", "its name is not its file's"},
	    {"\"version\": 2, \"name\": \"e\", \"pid\": 0", "", "its pid is not a number above 0"},
	    {"\"version\": 2, \"name\": \"e\", \"pid\": 1.5", "",
	     "its pid is not a number above 0"},
	    {"\"version\": 2, \"name\": \"e\", \"pid\": 4294967338", "",
	     "its pid is not a number above 0"},
	    {"\"version\": 2, \"name\": \"e\", \"pid\": 42", "", "its socket path is missing"},
	    {"\"version\": 2, \"name\": \"e\", \"pid\": 42, \"socket\": \"e.sock\"", "",
	     "its socket path is not absolute"},
	    {NULL, "\"pty\"", "its console is not {mode, path}"},
	    {NULL, "{\"path\": \"/dev/pts/3\"}", "its console is not {mode, path}"},
	    {NULL, "{\"mode\": \"serial\", \"path\": \"/dev/ttyS0\"}",
	     "its console's mode is not stdio, pty, file or socket"},
	    {NULL, "{\"mode\": \"pty\", \"path\": null}", "its console has no path"},
	    {NULL, "{\"mode\": \"pty\"}", "its console has no path"},
	    {NULL, "{\"mode\": \"stdio\", \"path\": \"/dev/tty\"}", "its console has a path"},
	    {NULL, "{\"mode\": \"file\", \"path\": \"e.log\"}", "its console path is not absolute"},
	    {NULL, "{\"mode\": \"file\", \"path\": \"\"}", "its console path is not absolute"},
	    {NULL, "{\"mode\": \"file\", \"path\": 7}", "its console path is not a string"},
	    {NULL, "{\"mode\": \"file\", \"path\": \"/e\\u0000.log\"}",
	     "its console path holds a NUL"},
	    {NULL, "{\"mode\": \"file\", \"path\": \"/e\\u001b[2J\"}",
	     "its console path holds a control character"},
	    {NULL, "{\"mode\": \"file\", \"path\": \"/e\\u007f\"}",
	     "its console path holds a control character"},
	    {NULL, NULL, "its console path is too long"}, /* long_path */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *c = bad[i].console;
		if (!c) {
			snprintf(console, sizeof(console), "{\"mode\": \"file\", \"path\": \"%s\"}",
				 path_of(PATH_MAX));
			c = console;
		}
		plant_entry(bad[i].head, c);
		nk_vmm_entry_free(read_entry("e", -EBADMSG, bad[i].msg));
	}
	plant("e", "{\"version\": 2, \"name\": \"e\"");
	nk_vmm_entry_free(read_entry("e", -EBADMSG, "it is not JSON"));
	plant("e", "[\"e\"]");
	nk_vmm_entry_free(read_entry("e", -EBADMSG, "it is not a JSON object"));

	/* The runtime directory's rules: no link followed, no FIFO opened
	 * (nor waited on), no other user's file read. */
	char path[128], target[128];
	plant_entry(NULL, "null");
	snprintf(target, sizeof(target), "%s/vm/e.json", top);
	snprintf(path, sizeof(path), "%s/vm/link.json", top);
	assert_int_equal(symlink(target, path), 0);
	nk_vmm_entry_free(read_entry("link", -EPERM, "symbolic link"));
	snprintf(path, sizeof(path), "%s/vm/fifo.json", top);
	assert_int_equal(mkfifo(path, 0600), 0);
	nk_vmm_entry_free(read_entry("fifo", -EPERM, "not a regular file"));
	if (geteuid() == 0) {
		assert_int_equal(chown(target, 65534, 65534), 0);
		nk_vmm_entry_free(read_entry("e", -EPERM, "belongs to uid 65534"));
	}
	nk_vmm_entry_free(read_entry("../e", -EINVAL, "is not a VM name"));
	nk_vmm_entry_free(read_entry("none", -ENOENT, "VM 'none' has no registry entry"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_never_answers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_with_reason, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_entry_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_entry_refused, setup, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
