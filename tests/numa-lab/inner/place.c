// SPDX-License-Identifier: MIT
/*
 * place: `numaksm place --migrate` moves a running VM from the first node
 * with memory to the last, on cgroup v2, and `place --undo` puts it back.
 * A forked child plays the VM: named like QEMU ("qemu-system-x86", a
 * "CPU 0/KVM" thread) with 64 MiB of mergeable guest RAM touched while bound
 * to the first node.  Checked without numaksm's help: where every page of
 * the child's RAM is (move_pages(2) on the child, page by page), the child's
 * cgroup and Mems_allowed, and, after the undo, its old cgroup and no group
 * left behind.
 *
 * Exit: 0 pass, 1 fail, 77 no numaksm in this lab build, no cgroup v2 with
 * cpuset and memory, or fewer than two nodes with memory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "lab.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <linux/magic.h>
#include <numaif.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RAM_BYTES (64ul << 20)
#define RUN_DIR	  "/tmp/place-run"

static void *vcpu_thread(void *arg __attribute__((unused)))
{
	prctl(PR_SET_NAME, "CPU 0/KVM");
	for (;;)
		pause();
	return NULL;
}

/* The stand-in VM: its RAM on `node`; reports the address, then idles. */
static pid_t spawn_vm(int node, void **ret_addr)
{
	int fds[2];
	void *addr = NULL;
	pid_t pid;

	if (pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		unsigned long mask = 1ul << node;
		pthread_t t;
		char *ram;

		close(fds[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, "qemu-system-x86");
		ram = mmap(NULL, RAM_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			   0);
		if (ram == MAP_FAILED || madvise(ram, RAM_BYTES, MADV_MERGEABLE) < 0 ||
		    set_mempolicy(MPOL_BIND, &mask, sizeof(mask) * 8) < 0)
			_exit(1);
		for (unsigned long off = 0; off < RAM_BYTES; off += 4096)
			memset(ram + off, (int)(off >> 12), 4096); /* no two pages alike */
		if (set_mempolicy(MPOL_DEFAULT, NULL, 0) < 0 ||
		    pthread_create(&t, NULL, vcpu_thread, NULL) != 0)
			_exit(1);
		usleep(20000); /* the thread names itself */
		if (write(fds[1], &ram, sizeof(ram)) != sizeof(ram))
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	if (pid > 0 && read(fds[0], &addr, sizeof(addr)) != sizeof(addr))
		addr = NULL;
	close(fds[0]);
	*ret_addr = addr;
	return pid;
}

/* MemFree of `node`, in kB (0 when unknown). */
static unsigned long node_free_kb(int node)
{
	_cleanup_free_ char *text = NULL;
	char path[96];
	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/meminfo", node);
	if (lab_read_file(path, &text) < 0)
		return 0;
	const char *p = strstr(text, "MemFree:");
	return p ? strtoul(p + strlen("MemFree:"), NULL, 10) : 0;
}

/* Every page of the child's RAM on `node`, asked of the kernel page by page. */
static bool pages_on(pid_t pid, void *addr, int node, const char *what)
{
	size_t n = RAM_BYTES / 4096, count[LAB_MAX_IDS] = {0}, bad = 0;
	_cleanup_free_ void **pages = calloc(n, sizeof(*pages));
	_cleanup_free_ int *status = calloc(n, sizeof(*status));

	if (!pages || !status)
		return false;
	for (size_t i = 0; i < n; i++)
		pages[i] = (char *)addr + i * 4096;
	if (move_pages(pid, n, pages, NULL, status, 0) < 0) {
		printf("place: move_pages(%d): %s\n", (int)pid, strerror(errno));
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (status[i] >= 0 && status[i] < LAB_MAX_IDS)
			count[status[i]]++;
		if (status[i] != node)
			bad++;
	}
	printf("place: %s: %zu/%zu pages on node %d", what, count[node < 0 ? 0 : node], n, node);
	for (int i = 0; i < LAB_MAX_IDS; i++)
		if (i != node && count[i])
			printf(", %zu on node %d", count[i], i);
	printf("\n");
	return bad == 0;
}

static bool file_has(const char *path, const char *text)
{
	_cleanup_free_ char *content = NULL;
	return lab_read_file(path, &content) == 0 && strstr(content, text);
}

/* Every thread of `pid` in cgroup `path` with Mems_allowed_list `mems`. */
static bool threads_in(pid_t pid, const char *path, const char *mems)
{
	char dir[64], want[160];
	bool ok = true;
	snprintf(want, sizeof(want), "0::%s\n", path);
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char p[64 + sizeof(de->d_name) + 16], m[64];
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/cgroup", dir, de->d_name);
		if (!file_has(p, want)) {
			printf("place: thread %s is not in %s\n", de->d_name, path);
			ok = false;
		}
		snprintf(p, sizeof(p), "%s/%s/status", dir, de->d_name);
		snprintf(m, sizeof(m), "Mems_allowed_list:\t%s\n", mems);
		if (mems && !file_has(p, m)) {
			printf("place: thread %s: Mems_allowed_list is not %s\n", de->d_name, mems);
			ok = false;
		}
	}
	if (d)
		closedir(d);
	return d && ok;
}

static int __attribute__((format(printf, 1, 2))) run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	printf("place: %s\n", cmd);
	fflush(stdout);
	int status = system(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(void)
{
	_cleanup_free_ char *controllers = NULL, *before = NULL;
	struct lab_set mem;
	struct statfs fs;
	char path[96], group[64], mems[16];
	void *addr = NULL;
	bool ok = true;
	int first = -1, last;

	if (system("command -v numaksm > /dev/null") != 0) {
		printf("place: numaksm is not in this lab build\n");
		return LAB_SKIP;
	}
	if (statfs("/sys/fs/cgroup", &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC ||
	    lab_read_file("/sys/fs/cgroup/cgroup.controllers", &controllers) < 0 ||
	    !strstr(controllers, "cpuset") || !strstr(controllers, "memory")) {
		printf("place: no cgroup v2 with cpuset and memory\n");
		return LAB_SKIP;
	}
	if (lab_read_list("/sys/devices/system/node/has_memory", &mem) < 0 || mem.count < 2) {
		printf("place: fewer than two nodes with memory\n");
		return LAB_SKIP;
	}
	/* The two nodes with the most free memory: the lab's initramfs fills
	 * much of the first node, and the VM's RAM is bound, not spilled. */
	last = -1;
	for (int n = 0; n < LAB_MAX_IDS; n++) {
		if (!mem.has[n])
			continue;
		if (first < 0 || node_free_kb(n) > node_free_kb(first)) {
			last = first;
			first = n;
		} else if (last < 0 || node_free_kb(n) > node_free_kb(last)) {
			last = n;
		}
	}
	printf("place: the VM on node %d (%lu kB free), moved to node %d (%lu kB free)\n", first,
	       node_free_kb(first), last, node_free_kb(last));

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = spawn_vm(first, &addr);
	if (pid < 0 || !addr) {
		int status = 0;
		printf("place: the stand-in VM did not start");
		if (pid > 0) {
			kill(pid, SIGKILL);
			if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
				printf(" (it exited %d)", WEXITSTATUS(status));
			else if (WIFSIGNALED(status))
				printf(" (killed by signal %d)", WTERMSIG(status));
		}
		printf("\n");
		return LAB_FAIL;
	}
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	lab_read_file(path, &before);
	snprintf(group, sizeof(group), "/numaksm/qemu-system-x86-%d", (int)pid);
	snprintf(mems, sizeof(mems), "%d", last);
	ok &= pages_on(pid, addr, first, "before, bound to the first node");

	if (ok && run("mkdir -p %s && NUMAKSM_RUNTIME_DIR=%s numaksm place %d --nodes %d --migrate "
		      "--json > /tmp/place.json",
		      RUN_DIR, RUN_DIR, (int)pid, last) != 0) {
		printf("place: numaksm place failed\n");
		ok = false;
	}
	if (ok) {
		ok &= pages_on(pid, addr, last, "after place --migrate");
		ok &= threads_in(pid, group, mems);
		ok &= file_has("/tmp/place.json", "\"elsewhere_bytes\": 0");
		ok &= file_has("/tmp/place.json", "\"backend\": \"v2\"");
		if (system("cat /tmp/place.json") != 0)
			printf("place: no output of numaksm place\n");
	}
	/* Undone even after a failure, so that the cgroup goes. */
	if (run("NUMAKSM_RUNTIME_DIR=%s numaksm place --undo %d", RUN_DIR, (int)pid) != 0) {
		printf("place: numaksm place --undo failed\n");
		ok = false;
	} else {
		_cleanup_free_ char *after = NULL;
		struct stat st;
		lab_read_file(path, &after);
		if (!before || !after || strcmp(before, after) != 0) {
			printf("place: after --undo the VM is in %s, not %s", after ? after : "?",
			       before ? before : "?");
			ok = false;
		}
		snprintf(path, sizeof(path), "/sys/fs/cgroup%s", group);
		if (stat(path, &st) == 0 || stat("/sys/fs/cgroup/numaksm", &st) == 0) {
			printf("place: --undo left %s behind\n", path);
			ok = false;
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("place: %s in %.2f s\n", ok ? "PASS" : "FAIL",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return ok ? LAB_PASS : LAB_FAIL;
}
