/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nk_vmm_call against control sockets that misbehave: a listener that never
 * answers, one whose accept queue is full (connect() itself would wait for
 * ever), and one that refuses the connection with a reason.  Each call must
 * come back within its timeout with a clear error, or with the reason.
 */
#include <errno.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_never_answers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_with_reason, setup, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
