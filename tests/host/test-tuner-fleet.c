/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A stand-in for VMs in the tuner's host tests: N processes, each with
 * SIZE of MADV_MERGEABLE anonymous memory, half of it pages every process
 * holds (so KSM can merge them), half pages of its own.  Prints "ready
 * PID..." when all are filled, then waits for SIGTERM; its children die
 * with it.
 *   test-tuner-fleet N SIZE_MIB
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void child(unsigned index, size_t bytes, int ready)
{
	const size_t page = 4096;
	char name[16];
	snprintf(name, sizeof(name), "tuner-vm%u", index % 1000);
	prctl(PR_SET_NAME, name);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	uint8_t *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || madvise(m, bytes, MADV_NOHUGEPAGE) < 0 ||
	    madvise(m, bytes, MADV_MERGEABLE) < 0) {
		perror("test-tuner-fleet: mmap/madvise");
		_exit(1);
	}
	for (size_t off = 0; off < bytes; off += page) {
		uint64_t *w = (uint64_t *)(m + off);
		/* Even pages: the same in every process; odd ones: this process's own. */
		uint64_t tag = (off / page) % 2 ? ((uint64_t)index << 32 | off / page) : off / page;
		for (size_t i = 0; i < page / 8; i++)
			w[i] = tag * 0x9e3779b97f4a7c15ull + i;
	}
	if (write(ready, "r", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test-tuner-fleet N SIZE_MIB\n");
		return 2;
	}
	unsigned n = (unsigned)strtoul(argv[1], NULL, 10);
	size_t bytes = (size_t)strtoul(argv[2], NULL, 10) << 20;
	int p[2];
	if (n == 0 || n > 64 || bytes == 0 || pipe(p) < 0)
		return 2;
	pid_t pids[64];
	for (unsigned i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(p[0]);
			child(i, bytes, p[1]);
		}
	}
	close(p[1]);
	for (unsigned i = 0; i < n; i++) {
		char c;
		if (read(p[0], &c, 1) != 1) {
			fprintf(stderr, "test-tuner-fleet: a child failed\n");
			return 1;
		}
	}
	printf("ready");
	for (unsigned i = 0; i < n; i++)
		printf(" %d", (int)pids[i]);
	printf("\n");
	fflush(stdout);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sig;
	sigwait(&set, &sig);
	for (unsigned i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}
