/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Linux guest's console without KVM: the 16550's bytes through
 * vmm_linux_io() with a made-up I/O exit, to and from a unix socket's
 * clients (one at a time, what came meanwhile kept for the next), a pty
 * nobody reads (never blocking the vCPU) and a file.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm.h"

#define UART 0x3f8

static char dir[] = "/tmp/test-vmm-console.XXXXXX";

/* A vCPU's I/O exit on the UART: one byte out, or in (@return it). */
static uint8_t uart_io(struct vmm *vmm, uint16_t port, bool out, uint8_t value)
{
	static union {
		struct kvm_run run;
		uint8_t bytes[8192];
	} r;
	struct vmm_vcpu v = {.vmm = vmm, .run = &r.run};

	r.run.exit_reason = KVM_EXIT_IO;
	r.run.io.direction = out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
	r.run.io.size = 1;
	r.run.io.port = port;
	r.run.io.count = 1;
	r.run.io.data_offset = 4096;
	r.bytes[4096] = value;
	assert_true(vmm_linux_io(&v));
	return r.bytes[4096];
}

static void uart_write(struct vmm *vmm, const char *text)
{
	for (const char *p = text; *p; p++)
		uart_io(vmm, UART, true, (uint8_t)*p);
}

/* What the guest can read now. */
static void uart_expect(struct vmm *vmm, const char *text)
{
	char got[64];
	size_t n = 0;
	while (n < sizeof(got) - 1 && (uart_io(vmm, UART + 5, false, 0) & 0x01))
		got[n++] = (char)uart_io(vmm, UART, false, 0);
	got[n] = '\0';
	assert_string_equal(got, text);
}

/* One turn of the main loop's console part. */
static void loop_once(struct vmm *vmm)
{
	struct pollfd fds[VMM_CONSOLE_FDS];
	vmm_linux_console_poll(vmm, fds);
	if (poll(fds, VMM_CONSOLE_FDS, 1000) > 0)
		vmm_linux_console_events(vmm, fds);
}

static void expect_read(int fd, const char *text)
{
	char got[64] = "";
	size_t n = 0, len = strlen(text);
	while (n < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		assert_int_equal(poll(&p, 1, 2000), 1);
		ssize_t r = read(fd, got + n, len - n);
		assert_true(r > 0);
		n += (size_t)r;
	}
	assert_string_equal(got, text);
}

static void open_console(struct vmm *vmm, struct vmm_config *cfg, enum nk_vmm_console_mode mode,
			 const char *name)
{
	char path[96];
	nk_error *err = NULL;

	vmm_config_init(cfg);
	cfg->console = mode;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cfg->console_path = strdup(path);
	*vmm = (struct vmm){.cfg = cfg, .vm_fd = -1, .kvm_fd = -1};
	int r = vmm_linux_console_open(vmm, &err);
	if (r < 0)
		fail_msg("%s", nk_error_message(err));
}

static int connect_to(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(addr.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	return fd;
}

static void test_socket(void **state)
{
	struct vmm_config cfg;
	struct vmm vmm;
	struct stat st;
	(void)state;

	open_console(&vmm, &cfg, NK_VMM_CONSOLE_SOCKET, "c.sock");
	const char *path = vmm_linux_console_path(&vmm);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_false(vmm_linux_console_written(&vmm));

	/* Before any client: kept, and sent to the first one. */
	uart_write(&vmm, "early ");
	assert_true(vmm_linux_console_written(&vmm));
	int c1 = connect_to(path);
	loop_once(&vmm);
	expect_read(c1, "early ");
	uart_write(&vmm, "live");
	expect_read(c1, "live");
	/* Its input goes to the guest. */
	assert_int_equal(write(c1, "ls\n", 3), 3);
	loop_once(&vmm);
	uart_expect(&vmm, "ls\n");

	/* A second client waits while the first is there. */
	int c2 = connect_to(path);
	uart_write(&vmm, "one");
	expect_read(c1, "one");
	/* The first half-closes: it still gets output. */
	shutdown(c1, SHUT_WR);
	loop_once(&vmm);
	uart_write(&vmm, "half");
	expect_read(c1, "half");
	close(c1);
	loop_once(&vmm); /* the first is gone */
	uart_write(&vmm, "meanwhile ");
	loop_once(&vmm); /* the second is taken */
	uart_write(&vmm, "two");
	expect_read(c2, "meanwhile two");
	close(c2);

	vmm_linux_close(&vmm);
	assert_int_equal(access(path, F_OK), -1);
	vmm_config_done(&cfg);
}

static void test_pty(void **state)
{
	struct vmm_config cfg;
	struct vmm vmm;
	(void)state;

	open_console(&vmm, &cfg, NK_VMM_CONSOLE_PTY, "unused");
	const char *path = vmm_linux_console_path(&vmm);
	assert_non_null(path);
	assert_int_equal(strncmp(path, "/dev/pts/", 9), 0);
	/* Nobody reads: far more than a pty holds goes, without blocking
	 * (a blocked vCPU would end here by the alarm). */
	alarm(30);
	for (int i = 0; i < 1 << 14; i++)
		uart_write(&vmm, "0123456789abcdef");
	alarm(0);
	/* A reader and a writer come. */
	int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 2000), 1);
	assert_int_equal(write(fd, "id\n", 3), 3);
	loop_once(&vmm);
	uart_expect(&vmm, "id\n");
	close(fd);
	vmm_linux_close(&vmm);
	vmm_config_done(&cfg);
}

static void test_file(void **state)
{
	struct vmm_config cfg;
	struct vmm vmm;
	struct stat st;
	char path[96], link[96];
	nk_error *err = NULL;
	(void)state;

	open_console(&vmm, &cfg, NK_VMM_CONSOLE_FILE, "c.log");
	snprintf(path, sizeof(path), "%s", cfg.console_path);
	uart_write(&vmm, "boot\r\n");
	struct pollfd fds[VMM_CONSOLE_FDS];
	vmm_linux_console_poll(&vmm, fds);
	assert_int_equal(fds[0].fd, -1); /* no input */
	assert_int_equal(fds[1].fd, -1);
	vmm_linux_close(&vmm);
	vmm_config_done(&cfg);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 6);

	/* Appended to; a symbolic link made after the parse is refused. */
	open_console(&vmm, &cfg, NK_VMM_CONSOLE_FILE, "c.log");
	uart_write(&vmm, "again\r\n");
	vmm_linux_close(&vmm);
	vmm_config_done(&cfg);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 13);
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(path, link), 0);
	vmm_config_init(&cfg);
	cfg.console = NK_VMM_CONSOLE_FILE;
	cfg.console_path = strdup(link);
	vmm = (struct vmm){.cfg = &cfg, .vm_fd = -1, .kvm_fd = -1};
	assert_int_equal(vmm_linux_console_open(&vmm, &err), -ELOOP);
	assert_non_null(strstr(nk_error_message(err), "symbolic link"));
	nk_error_free(err);
	vmm_linux_close(&vmm);
	vmm_config_done(&cfg);
	unlink(link);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_socket),
	    cmocka_unit_test(test_pty),
	    cmocka_unit_test(test_file),
	};
	if (!mkdtemp(dir))
		return 1;
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return r;
}
