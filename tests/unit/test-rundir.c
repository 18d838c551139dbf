/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The runtime-directory store: created 0700 whoever creates it, an existing
 * one of ours set to 0700, and refused when it is a symbolic link, writable
 * by others, or below a directory others could change; files planted in it
 * (links, FIFOs) are refused without being followed or blocked on; writes
 * are atomic and replace a planted link rather than follow it; locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <numaksm/rundir.h>

static char top[64];

static int setup(void **state)
{
	snprintf(top, sizeof(top), "/tmp/test-rundir-XXXXXX");
	assert_non_null(mkdtemp(top));
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s'; rm -rf '%s'", top, top);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static char *path_in(const char *name)
{
	static char buf[4][256];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", top, name);
	return buf[i];
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* The open fails with `code`, and its message holds `text`. */
static void refused(const char *path, unsigned flags, int code, const char *text)
{
	nk_rundir *d = (nk_rundir *)0x1;
	nk_error *err = NULL;
	int r = nk_rundir_open(path, flags, &d, &err);
	if (r != code || !err || !strstr(nk_error_message(err), text))
		fail_msg("open %s: %d '%s', expected %d '%s'", path, r,
			 err ? nk_error_message(err) : "", code, text);
	assert_ptr_equal(d, (nk_rundir *)0x1);
	assert_non_null(nk_error_get_hint(err));
	nk_error_free(err);
}

static void test_create_and_mode(void **state)
{
	nk_rundir *d = NULL;
	nk_error *err = NULL;

	/* Missing parents are made too; the directory itself is 0700. */
	assert_int_equal(nk_rundir_open(path_in("a/b/run"), NK_RUNDIR_CREATE, &d, &err), 0);
	assert_int_equal(mode_of(path_in("a/b/run")), 0700);
	assert_int_equal(mode_of(path_in("a/b")), 0755);
	assert_string_equal(nk_rundir_path(d), path_in("a/b/run"));
	nk_rundir_free(d);

	/* Without CREATE a missing one is -ENOENT and nothing is made. */
	assert_int_equal(nk_rundir_open(path_in("missing"), 0, &d, &err), -ENOENT);
	err = nk_error_free(err);
	assert_int_equal(access(path_in("missing"), F_OK), -1);

	/* An existing one of ours, readable by others: set to 0700. */
	assert_int_equal(mkdir(path_in("old"), 0755), 0);
	assert_int_equal(nk_rundir_open(path_in("old/"), 0, &d, &err), 0);
	assert_int_equal(mode_of(path_in("old")), 0700);
	nk_rundir_free(d);

	/* $NUMAKSM_RUNTIME_DIR names it when no path is given. */
	setenv("NUMAKSM_RUNTIME_DIR", path_in("env"), 1);
	assert_int_equal(nk_rundir_open(NULL, NK_RUNDIR_CREATE, &d, &err), 0);
	assert_string_equal(nk_rundir_path(d), path_in("env"));
	nk_rundir_free(d);
	unsetenv("NUMAKSM_RUNTIME_DIR");

	/* A subdirectory: created 0700, checked the same way. */
	assert_int_equal(nk_rundir_open(path_in("env"), 0, &d, &err), 0);
	nk_rundir *sub = NULL;
	assert_int_equal(nk_rundir_subdir(d, "vm", NK_RUNDIR_CREATE, &sub, &err), 0);
	assert_int_equal(mode_of(path_in("env/vm")), 0700);
	nk_rundir_free(sub);
	assert_int_equal(nk_rundir_subdir(d, "../escape", NK_RUNDIR_CREATE, &sub, &err), -EINVAL);
	err = nk_error_free(err);
	assert_int_equal(symlink(top, path_in("env/linked")), 0);
	assert_int_equal(nk_rundir_subdir(d, "linked", 0, &sub, &err), -ELOOP);
	err = nk_error_free(err);
	nk_rundir_free(d);
}

static void test_refused(void **state)
{
	/* A symbolic link to a perfectly good directory. */
	assert_int_equal(mkdir(path_in("real"), 0700), 0);
	assert_int_equal(symlink(path_in("real"), path_in("link")), 0);
	refused(path_in("link"), 0, -ELOOP, "is a symbolic link");
	refused(path_in("link"), NK_RUNDIR_CREATE, -ELOOP, "is a symbolic link");

	/* Writable by others, even though it is ours. */
	assert_int_equal(mkdir(path_in("open"), 0700), 0);
	assert_int_equal(chmod(path_in("open"), 0777), 0);
	refused(path_in("open"), 0, -EPERM, "other users may write to it");
	assert_int_equal(mode_of(path_in("open")), 0777); /* refused: left alone */

	/* Below a directory others may change (not sticky, unlike /tmp). */
	assert_int_equal(mkdir(path_in("shared"), 0700), 0);
	assert_int_equal(chmod(path_in("shared"), 0777), 0);
	refused(path_in("shared/run"), NK_RUNDIR_CREATE, -EPERM,
		"is writable by other users and not sticky");
	assert_int_equal(access(path_in("shared/run"), F_OK), -1); /* nothing made there */
	/* The sticky bit makes it safe, as /tmp is. */
	assert_int_equal(chmod(path_in("shared"), 01777), 0);
	nk_rundir *d = NULL;
	assert_int_equal(nk_rundir_open(path_in("shared/run"), NK_RUNDIR_CREATE, &d, NULL), 0);
	nk_rundir_free(d);

	/* Not a directory. */
	int fd = open(path_in("plain"), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	refused(path_in("plain"), 0, -ENOTDIR, "is not a directory");
	refused(path_in("plain/sub"), NK_RUNDIR_CREATE, -ENOTDIR, "is not a directory");

	/* Another user's (only root can make one here). */
	if (geteuid() == 0) {
		assert_int_equal(mkdir(path_in("theirs"), 0700), 0);
		assert_int_equal(chown(path_in("theirs"), 65534, 65534), 0);
		refused(path_in("theirs"), 0, -EPERM, "it belongs to uid 65534, not to uid 0");
		/* ... or a directory on the way that belongs to another user. */
		assert_int_equal(chmod(path_in("theirs"), 0755), 0);
		refused(path_in("theirs/run"), NK_RUNDIR_CREATE, -EPERM,
			"theirs belongs to uid 65534");
	}
}

static void test_files(void **state)
{
	nk_rundir *d = NULL;
	nk_error *err = NULL;
	char *text = NULL, **names = NULL;

	assert_int_equal(nk_rundir_open(path_in("run"), NK_RUNDIR_CREATE, &d, &err), 0);

	/* Atomic writes: mode 0600, the old content or the new, never a mix. */
	assert_int_equal(nk_rundir_write(d, "state.json", "one", 3, &err), 0);
	assert_int_equal(mode_of(path_in("run/state.json")), 0600);
	assert_int_equal(nk_rundir_write(d, "state.json", "two!", 4, &err), 0);
	assert_int_equal(nk_rundir_read(d, "state.json", &text, &err), 4);
	assert_string_equal(text, "two!");
	free(text);
	assert_int_equal(nk_rundir_read(d, "absent", &text, &err), -ENOENT);
	assert_null(err); /* absence is no error to report */

	/* A planted link is not followed: reads are refused, a write replaces
	 * the link itself and leaves its target alone. */
	int fd = open(path_in("target"), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "precious", 8), 8);
	close(fd);
	assert_int_equal(symlink(path_in("target"), path_in("run/pins.json")), 0);
	assert_int_equal(nk_rundir_read(d, "pins.json", &text, &err), -EPERM);
	assert_non_null(strstr(nk_error_message(err), "is a symbolic link"));
	err = nk_error_free(err);
	assert_int_equal(nk_rundir_lock(d, "pins.json", NK_RUNDIR_LOCK_CREATE, &err), -EPERM);
	err = nk_error_free(err);
	assert_int_equal(nk_rundir_write(d, "pins.json", "new", 3, &err), 0);
	struct stat st;
	assert_int_equal(lstat(path_in("run/pins.json"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(lstat(path_in("target"), &st), 0);
	assert_int_equal(st.st_size, 8);

	/* A FIFO is refused at once, not waited on. */
	assert_int_equal(mkfifo(path_in("run/fifo.json"), 0600), 0);
	assert_int_equal(nk_rundir_read(d, "fifo.json", &text, &err), -EPERM);
	assert_non_null(strstr(nk_error_message(err), "not a regular file"));
	err = nk_error_free(err);
	assert_int_equal(
	    nk_rundir_lock(d, "fifo.json", NK_RUNDIR_LOCK_SHARED | NK_RUNDIR_LOCK_NONBLOCK, &err),
	    -EPERM);
	err = nk_error_free(err);

	/* Names that would leave the directory. */
	assert_int_equal(nk_rundir_read(d, "../target", &text, &err), -EINVAL);
	err = nk_error_free(err);
	assert_int_equal(nk_rundir_write(d, ".hidden", "x", 1, &err), -EINVAL);
	err = nk_error_free(err);

	/* Listing: by suffix, without dot files (a write's temporary ones). */
	assert_int_equal(nk_rundir_list(d, ".json", &names, &err), 3);
	assert_string_equal(names[0], "fifo.json");
	assert_string_equal(names[1], "pins.json");
	assert_string_equal(names[2], "state.json");
	nk_strv_free(names);

	/* Removing. */
	assert_int_equal(nk_rundir_remove(d, "state.json"), 1);
	assert_int_equal(nk_rundir_remove(d, "state.json"), 0);

	/* A unix socket's path goes through the directory's descriptor. */
	char *sock = NULL;
	assert_int_equal(nk_rundir_socket_path(d, "vm1.sock", &sock), 0);
	assert_non_null(strstr(sock, "/proc/self/fd/"));
	free(sock);
	nk_rundir_free(d);
}

static void test_locks(void **state)
{
	nk_rundir *d = NULL;
	assert_int_equal(nk_rundir_open(path_in("run"), NK_RUNDIR_CREATE, &d, NULL), 0);
	assert_int_equal(nk_rundir_lock(d, "x.lock", NK_RUNDIR_LOCK_SHARED, NULL), -ENOENT);
	int a = nk_rundir_lock(d, "x.lock", NK_RUNDIR_LOCK_CREATE, NULL);
	assert_true(a >= 0);
	assert_int_equal(mode_of(path_in("run/x.lock")), 0600);
	/* Held: another open file description cannot take it. */
	assert_int_equal(nk_rundir_lock(d, "x.lock", NK_RUNDIR_LOCK_NONBLOCK, NULL), -EWOULDBLOCK);
	assert_int_equal(
	    nk_rundir_lock(d, "x.lock", NK_RUNDIR_LOCK_SHARED | NK_RUNDIR_LOCK_NONBLOCK, NULL),
	    -EWOULDBLOCK);
	close(a);
	int b = nk_rundir_lock(d, "x.lock", NK_RUNDIR_LOCK_SHARED | NK_RUNDIR_LOCK_NONBLOCK, NULL);
	int c = nk_rundir_lock(d, "x.lock", NK_RUNDIR_LOCK_SHARED | NK_RUNDIR_LOCK_NONBLOCK, NULL);
	assert_true(b >= 0 && c >= 0); /* shared with shared */
	close(b);
	close(c);
	nk_rundir_free(d);
}

/* Whether process `pid` sleeps in the kernel's file locking. */
static bool waits_for_lock(pid_t pid)
{
	char path[64], wchan[128] = "";
	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	FILE *f = fopen(path, "r");
	if (f) {
		if (!fgets(wchan, sizeof(wchan), f))
			wchan[0] = '\0';
		fclose(f);
	}
	return strstr(wchan, "lock") != NULL;
}

/* A lock awaited on a file its holder then removes is not a lock on the
 * name: the waiter must end up holding the file the name names. */
static void test_lock_unlinked(void **state)
{
	nk_rundir *d = NULL;
	int report[2];
	(void)state;
	assert_int_equal(nk_rundir_open(path_in("run"), NK_RUNDIR_CREATE, &d, NULL), 0);
	int a = nk_rundir_lock(d, "vm.json", NK_RUNDIR_LOCK_CREATE, NULL);
	assert_true(a >= 0);
	assert_int_equal(pipe(report), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct stat held, named;
		close(a); /* the lock lives as long as any copy of its descriptor */
		int fd = nk_rundir_lock(d, "vm.json", NK_RUNDIR_LOCK_CREATE, NULL);
		char verdict = fd >= 0 && fstat(fd, &held) == 0 &&
				       stat(path_in("run/vm.json"), &named) == 0 &&
				       held.st_ino == named.st_ino && held.st_nlink > 0
				   ? 'y'
				   : 'n';
		_exit(write(report[1], &verdict, 1) == 1 ? 0 : 1);
	}
	close(report[1]);
	for (int i = 0; i < 200 && !waits_for_lock(child); i++)
		usleep(10000);
	assert_true(waits_for_lock(child));
	/* The holder gives the name up as nk_vmm_unregister() does. */
	assert_int_equal(unlink(path_in("run/vm.json")), 0);
	close(a);
	char verdict = '?';
	assert_int_equal(read(report[0], &verdict, 1), 1);
	assert_int_equal(verdict, 'y');
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	close(report[0]);
	nk_rundir_free(d);
}

static void test_boot_id(void **state)
{
	nk_host *h = NULL;
	char *id = NULL;
	assert_int_equal(nk_host_open(FIXTURES "/debian12-hybrid-1node", &h, NULL), 0);
	assert_int_equal(nk_host_boot_id(h, &id), -ENOENT); /* not captured */
	nk_host_free(h);
	assert_int_equal(nk_host_open(NULL, &h, NULL), 0);
	assert_int_equal(nk_host_boot_id(h, &id), 0);
	assert_int_equal(strlen(id), 36); /* a UUID, newline stripped */
	free(id);
	nk_host_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_and_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_locks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock_unlinked, setup, teardown),
	    cmocka_unit_test(test_boot_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
