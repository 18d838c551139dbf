// SPDX-License-Identifier: MIT
/*
 * pin: `numaksm pin apply` plans from the live multi-node topology and pins
 * a running VMM's vCPU threads next to their memory. A forked child plays
 * the VMM: one thread per node with memory, named like QEMU's "CPU n/KVM",
 * plus its main thread. The VM gets one guest node per host node with
 * memory (`--nodes` all of them), so vCPU i belongs on node i's CPUs, or,
 * for a memory-only node, on the CPUs of the nearest node that has some.
 * Checked without numaksm's help: each thread's affinity by
 * sched_getaffinity(2) against /sys/devices/system/node/nodeN/cpulist and
 * distance, and the CPU each vCPU thread last ran on (field 39 of its stat).
 *
 * Exit: 0 pass, 1 fail, 77 no numaksm in this lab build or fewer than two
 * nodes with CPUs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "lab.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NODE_DIR "/sys/devices/system/node"

static char names[LAB_MAX_IDS][24];

static void *vcpu_thread(void *arg)
{
	char name[16];

	snprintf(name, sizeof(name), "%.15s", (const char *)arg);
	prctl(PR_SET_NAME, name);
	for (;;) {
		struct timespec ts = {0, 2000000};
		for (volatile int i = 0; i < 20000; i++)
			;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* The stand-in VMM: n threads "CPU i/KVM"; runs until killed. */
static pid_t spawn_vmm(int n)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "lab-fake-qemu");
	for (int i = 0; i < n; i++) {
		pthread_t t;
		snprintf(names[i], sizeof(names[i]), "CPU %d/KVM", i);
		if (pthread_create(&t, NULL, vcpu_thread, names[i]) != 0)
			_exit(1);
	}
	for (;;)
		pause();
}

/* The thread id of vCPU i, once the thread has its name; -1 if never. */
static int vcpu_tid(pid_t pid, int vcpu)
{
	char want[24], dir[64];

	snprintf(want, sizeof(want), "CPU %d/KVM\n", vcpu);
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	for (int round = 0; round < 500; round++) {
		DIR *d = opendir(dir);
		struct dirent *de;
		int found = -1;
		while (d && found < 0 && (de = readdir(d))) {
			char path[64 + sizeof(de->d_name) + 8];
			_cleanup_free_ char *comm = NULL;
			snprintf(path, sizeof(path), "%s/%s/comm", dir, de->d_name);
			if (de->d_name[0] != '.' && lab_read_file(path, &comm) == 0 &&
			    strcmp(comm, want) == 0)
				found = atoi(de->d_name);
		}
		if (d)
			closedir(d);
		if (found > 0)
			return found;
		usleep(10000);
	}
	return -1;
}

static bool read_node_list(int node, const char *file, struct lab_set *ret)
{
	char path[96];

	snprintf(path, sizeof(path), NODE_DIR "/node%d/%s", node, file);
	return lab_read_list(path, ret) == 0;
}

/* The node with CPUs nearest to `node` (itself when it has CPUs). */
static int nearest_cpu_node(int node, const struct lab_set *has_cpu, const struct lab_set *online)
{
	char path[96];
	_cleanup_free_ char *text = NULL;
	int best = -1, best_d = 0, j = 0;

	if (has_cpu->has[node])
		return node;
	snprintf(path, sizeof(path), NODE_DIR "/node%d/distance", node);
	if (lab_read_file(path, &text) < 0)
		return -1;
	char *p = text;
	for (int n = 0; n < LAB_MAX_IDS && j < online->count; n++) {
		if (!online->has[n])
			continue;
		int d = (int)strtol(p, &p, 10);
		j++;
		if (has_cpu->has[n] && (best < 0 || d < best_d)) {
			best = n;
			best_d = d;
		}
	}
	return best;
}

static bool affinity(int tid, struct lab_set *ret)
{
	cpu_set_t set;

	if (sched_getaffinity(tid, sizeof(set), &set) < 0) {
		printf("pin: sched_getaffinity(%d): %s\n", tid, strerror(errno));
		return false;
	}
	memset(ret, 0, sizeof(*ret));
	for (int c = 0; c < LAB_MAX_IDS && c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set)) {
			ret->has[c] = true;
			ret->count++;
		}
	return true;
}

static int last_cpu(pid_t pid, int tid)
{
	char path[64];
	_cleanup_free_ char *text = NULL;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	if (lab_read_file(path, &text) < 0 || !strrchr(text, ')'))
		return -1;
	char *p = strrchr(text, ')') + 2;
	for (int field = 3; field < 39 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? atoi(p) : -1;
}

static bool subset(const struct lab_set *a, const struct lab_set *b)
{
	for (int i = 0; i < LAB_MAX_IDS; i++)
		if (a->has[i] && !b->has[i])
			return false;
	return true;
}

int main(void)
{
	struct lab_set online, has_cpu, has_memory;
	char list[256], cmd[512];
	int vcpus = 0, mem_nodes[LAB_MAX_IDS], status;
	bool ok = true;

	if (system("command -v numaksm > /dev/null") != 0) {
		printf("pin: numaksm is not in this lab build\n");
		return LAB_SKIP;
	}
	if (lab_read_list(NODE_DIR "/online", &online) < 0 ||
	    lab_read_list(NODE_DIR "/has_cpu", &has_cpu) < 0 ||
	    lab_read_list(NODE_DIR "/has_memory", &has_memory) < 0) {
		printf("pin: cannot read the node lists\n");
		return LAB_FAIL;
	}
	if (has_cpu.count < 2) {
		printf("pin: fewer than two nodes with CPUs\n");
		return LAB_SKIP;
	}
	for (int n = 0; n < LAB_MAX_IDS; n++)
		if (has_memory.has[n])
			mem_nodes[vcpus++] = n;
	lab_format_list(&has_memory, list, sizeof(list));

	pid_t pid = spawn_vmm(vcpus);
	if (pid < 0) {
		printf("pin: fork: %s\n", strerror(errno));
		return LAB_FAIL;
	}
	int tids[LAB_MAX_IDS];
	for (int i = 0; i < vcpus; i++)
		if ((tids[i] = vcpu_tid(pid, i)) < 0) {
			printf("pin: the stand-in VMM never named vCPU thread %d\n", i);
			ok = false;
		}
	if (ok) {
		snprintf(cmd, sizeof(cmd),
			 "NUMAKSM_RUNTIME_DIR=/tmp/pin-run numaksm pin apply %d --nodes %s --json "
			 "> /tmp/pin-apply.json",
			 (int)pid, list);
		printf("pin: %d vCPUs, one per node with memory (%s): %s\n", vcpus, list, cmd);
		status = system(cmd);
		if (status != 0) {
			printf("pin: numaksm pin apply exited %d\n", WEXITSTATUS(status));
			ok = false;
		}
	}
	for (int i = 0; ok && i < vcpus; i++) {
		int node = mem_nodes[i], cpu_node = nearest_cpu_node(node, &has_cpu, &online);
		struct lab_set want, got;
		char got_s[128], want_s[128];

		if (cpu_node < 0 || !read_node_list(cpu_node, "cpulist", &want) ||
		    !affinity(tids[i], &got)) {
			ok = false;
			break;
		}
		lab_format_list(&got, got_s, sizeof(got_s));
		lab_format_list(&want, want_s, sizeof(want_s));
		printf("vCPU %d (memory on node %d): CPUs %s, node %d has %s\n", i, node, got_s,
		       cpu_node, want_s);
		if (got.count != 1 || !subset(&got, &want)) {
			printf("pin: vCPU %d should have one CPU of node %d\n", i, cpu_node);
			ok = false;
			continue;
		}
		/* It runs: soon it last ran on its CPU. */
		int cpu = -1;
		for (int round = 0; round < 300 && !(cpu >= 0 && got.has[cpu]); round++) {
			usleep(10000);
			cpu = last_cpu(pid, tids[i]);
		}
		printf("vCPU %d last ran on CPU %d\n", i, cpu);
		if (cpu < 0 || !got.has[cpu]) {
			printf("pin: vCPU %d never ran on its CPU\n", i);
			ok = false;
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (!ok && system("cat /tmp/pin-apply.json") != 0)
		printf("pin: no output of numaksm pin apply\n");
	printf("pin: %s\n", ok ? "PASS" : "FAIL");
	return ok ? LAB_PASS : LAB_FAIL;
}
