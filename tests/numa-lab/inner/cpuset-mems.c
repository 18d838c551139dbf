// SPDX-License-Identifier: MIT
/*
 * cpuset-mems: a task in a cgroup v2 cpuset whose cpuset.mems is one node
 * (not node 0) allocates only on that node. A forked child touches memory,
 * moves itself into the cgroup, and checks with move_pages(2) that
 *  - its Mems_allowed is that node,
 *  - memory it touches now lies on that node,
 *  - memory it touched before the move, on its CPUs' node, was migrated there
 *    (cgroup v2 cpusets always migrate a task's memory on attach).
 * The CPUs are those of another node, so unbound memory would go elsewhere.
 * The cgroup is removed afterwards.
 *
 * Exit: 0 pass, 1 fail, 77 no cgroup v2 cpuset controller or fewer than two
 * nodes with memory.
 */
#include "lab.h"

#include <errno.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"
#define TEST_PAGES  1024

static char cgroup_dir[128];

static bool has_word(const char *text, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = text; (p = strstr(p, word)); p += len)
		if ((p == text || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\n' || !p[len]))
			return true;
	return false;
}

static int cg_write(const char *file, const char *text)
{
	char path[192];
	int r;

	snprintf(path, sizeof(path), "%s/%s", cgroup_dir, file);
	r = lab_write_file(path, text);
	if (r < 0)
		printf("cpuset-mems: writing '%s' to %s: %s\n", text, path, strerror(-r));
	return r;
}

/* Checks that the list on the first line of text is exactly node want. */
static bool list_is(const char *what, const char *text, int want)
{
	_cleanup_free_ char *line = strndup(text, strcspn(text, "\n"));
	struct lab_set set;

	if (!line || lab_parse_list(line, &set) < 0 || set.count != 1 || !set.has[want]) {
		printf("cpuset-mems: %s is '%s', want '%d'\n", what, line ? line : "?", want);
		return false;
	}
	return true;
}

static void *touch_pages(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		printf("cpuset-mems: mmap: %s\n", strerror(errno));
		return NULL;
	}
	memset(p, 0x3c, len);
	return p;
}

static int child(int node, const struct lab_set *cpus, int cpu_node)
{
	size_t page_size = (size_t)sysconf(_SC_PAGESIZE), len = TEST_PAGES * page_size;
	_cleanup_free_ char *status = NULL;
	const char *mems;
	void *before, *after;
	cpu_set_t mask;
	bool ok = true;

	/*
	 * Run on the cgroup's CPUs already, so that memory touched before the
	 * move is local to them, on cpu_node, and the move has to migrate it.
	 */
	CPU_ZERO(&mask);
	for (int cpu = 0; cpu < LAB_MAX_IDS && cpu < CPU_SETSIZE; cpu++)
		if (cpus->has[cpu])
			CPU_SET(cpu, &mask);
	if (sched_setaffinity(0, sizeof(mask), &mask) < 0) {
		printf("cpuset-mems: sched_setaffinity: %s\n", strerror(errno));
		return LAB_FAIL;
	}
	before = touch_pages(len);
	if (!before)
		return LAB_FAIL;
	if (cpu_node >= 0)
		ok &= lab_pages_on_node(before, TEST_PAGES, page_size, cpu_node,
					"touched before the move (local)");
	else
		lab_pages_on_node(before, TEST_PAGES, page_size, -1, "touched before the move");
	if (cg_write("cgroup.procs", "0") < 0)
		return LAB_FAIL;

	if (lab_read_file("/proc/self/status", &status) < 0 ||
	    !(mems = strstr(status, "\nMems_allowed_list:"))) {
		printf("cpuset-mems: no Mems_allowed_list in /proc/self/status\n");
		return LAB_FAIL;
	}
	mems += strlen("\nMems_allowed_list:");
	ok &= list_is("Mems_allowed_list", mems + strspn(mems, " \t"), node);

	after = touch_pages(len);
	if (!after)
		return LAB_FAIL;
	ok &= lab_pages_on_node(after, TEST_PAGES, page_size, node, "touched in the cgroup");
	ok &= lab_pages_on_node(before, TEST_PAGES, page_size, node, "migrated on the move");
	return ok ? LAB_PASS : LAB_FAIL;
}

/*
 * Picks the CPUs of the first node with CPUs other than target, and returns
 * that node; else all online CPUs, and -1.
 */
static int pick_cpus(int target, struct lab_set *ret_cpus)
{
	_cleanup_free_ char *text = NULL;
	struct lab_set cpu_nodes, cpus;
	char path[96];
	int r;

	r = lab_read_list("/sys/devices/system/node/has_cpu", &cpu_nodes);
	if (r < 0)
		return r;
	for (int n = 0; n < LAB_MAX_IDS; n++) {
		if (n == target || !cpu_nodes.has[n])
			continue;
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", n);
		r = lab_read_list(path, &cpus);
		if (r < 0)
			return r;
		*ret_cpus = cpus;
		return n;
	}
	r = lab_read_list("/sys/devices/system/cpu/online", &cpus);
	if (r < 0)
		return r;
	*ret_cpus = cpus;
	return -1;
}

static int remove_cgroup(void)
{
	/* The reaped child may take a moment to leave the cgroup. */
	for (int i = 0; i < 100; i++) {
		struct timespec ms10 = {0, 10 * 1000 * 1000};

		if (rmdir(cgroup_dir) == 0)
			return 0;
		if (errno != EBUSY)
			break;
		nanosleep(&ms10, NULL);
	}
	printf("cpuset-mems: rmdir %s: %s\n", cgroup_dir, strerror(errno));
	return -1;
}

static int run_in_cgroup(int node, const struct lab_set *cpus, int cpu_node)
{
	_cleanup_free_ char *effective = NULL;
	char mems[16], path[192], cpu_list[256];
	int wstatus, rc, r;
	pid_t pid;

	snprintf(mems, sizeof(mems), "%d", node);
	lab_format_list(cpus, cpu_list, sizeof(cpu_list));
	if (cg_write("cpuset.cpus", cpu_list) < 0 || cg_write("cpuset.mems", mems) < 0)
		return LAB_FAIL;
	snprintf(path, sizeof(path), "%s/cpuset.mems.effective", cgroup_dir);
	r = lab_read_file(path, &effective);
	if (r < 0) {
		printf("cpuset-mems: reading %s: %s\n", path, strerror(-r));
		return LAB_FAIL;
	}
	if (!list_is("cpuset.mems.effective", effective, node))
		return LAB_FAIL;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("cpuset-mems: fork: %s\n", strerror(errno));
		return LAB_FAIL;
	}
	if (pid == 0) {
		rc = child(node, cpus, cpu_node);
		fflush(stdout);
		_exit(rc);
	}
	if (waitpid(pid, &wstatus, 0) < 0) {
		printf("cpuset-mems: waitpid: %s\n", strerror(errno));
		return LAB_FAIL;
	}
	if (!WIFEXITED(wstatus)) {
		printf("cpuset-mems: child died (status 0x%x)\n", wstatus);
		return LAB_FAIL;
	}
	return WEXITSTATUS(wstatus);
}

int main(void)
{
	_cleanup_free_ char *controllers = NULL, *subtree = NULL;
	struct lab_set mem, cpus;
	struct statfs fs;
	char cpu_list[256], list[256];
	int node, cpu_node, rc;

	if (statfs(CGROUP_ROOT, &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC) {
		printf("cpuset-mems: %s is not cgroup v2\n", CGROUP_ROOT);
		return LAB_SKIP;
	}
	if (lab_read_file(CGROUP_ROOT "/cgroup.controllers", &controllers) < 0 ||
	    !has_word(controllers, "cpuset")) {
		printf("cpuset-mems: no cpuset controller in %s\n", CGROUP_ROOT);
		return LAB_SKIP;
	}
	if (lab_read_list("/sys/devices/system/node/has_memory", &mem) < 0) {
		printf("cpuset-mems: cannot read has_memory\n");
		return LAB_FAIL;
	}
	lab_format_list(&mem, list, sizeof(list));
	node = lab_set_last(&mem);
	if (mem.count < 2 || node <= 0) {
		printf("cpuset-mems: nodes with memory: %s; the test needs two\n", list);
		return LAB_SKIP;
	}
	if (lab_read_file(CGROUP_ROOT "/cgroup.subtree_control", &subtree) < 0) {
		printf("cpuset-mems: cannot read cgroup.subtree_control\n");
		return LAB_FAIL;
	}
	if (!has_word(subtree, "cpuset") &&
	    lab_write_file(CGROUP_ROOT "/cgroup.subtree_control", "+cpuset") < 0) {
		printf("cpuset-mems: cannot enable cpuset in %s/cgroup.subtree_control\n",
		       CGROUP_ROOT);
		return LAB_FAIL;
	}
	cpu_node = pick_cpus(node, &cpus);
	if (cpu_node < -1) {
		printf("cpuset-mems: cannot read the CPU lists\n");
		return LAB_FAIL;
	}
	lab_format_list(&cpus, cpu_list, sizeof(cpu_list));
	snprintf(cgroup_dir, sizeof(cgroup_dir), CGROUP_ROOT "/numa-lab-cpuset-mems.%d",
		 (int)getpid());
	if (mkdir(cgroup_dir, 0755) < 0) {
		printf("cpuset-mems: mkdir %s: %s\n", cgroup_dir, strerror(errno));
		return LAB_FAIL;
	}
	printf("cpuset-mems: nodes with memory: %s; cgroup %s: cpus %s, mems %d\n", list,
	       cgroup_dir, cpu_list, node);

	rc = run_in_cgroup(node, &cpus, cpu_node);
	if (remove_cgroup() < 0)
		rc = LAB_FAIL;
	printf("cpuset-mems: %s\n", rc == LAB_PASS ? "PASS" : "FAIL");
	return rc;
}
