/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A stand-in VMM for the pinning tests: a process named NAME whose N
 * threads carry the vCPU thread names of QEMU ("CPU n/KVM"), Cloud
 * Hypervisor ("vcpuN") or Firecracker ("fc_vcpu N"), plus one worker
 * thread.  Prints "ready" once every thread is named, then runs until
 * killed.
 *
 * Usage: test-pin-fake-vmm qemu|ch|fc N [NAME]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>

static pthread_barrier_t named;

static void *thread_main(void *arg)
{
	prctl(PR_SET_NAME, (const char *)arg);
	pthread_barrier_wait(&named);
	for (;;) {
		struct timespec ts = {0, 2000000};
		for (volatile int i = 0; i < 10000; i++)
			;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *prefix, *suffix = "";
	int n = argc >= 3 ? atoi(argv[2]) : 0;

	if (argc < 3 || n < 1 || n > 64) {
		fprintf(stderr, "usage: %s qemu|ch|fc N [NAME]\n", argv[0]);
		return 2;
	}
	if (strcmp(argv[1], "qemu") == 0) {
		prefix = "CPU ";
		suffix = "/KVM";
	} else if (strcmp(argv[1], "ch") == 0) {
		prefix = "vcpu";
	} else if (strcmp(argv[1], "fc") == 0) {
		prefix = "fc_vcpu ";
	} else {
		return 2;
	}
	if (argc >= 4)
		prctl(PR_SET_NAME, argv[3]);
	pthread_barrier_init(&named, NULL, (unsigned)n + 2);
	for (int i = 0; i <= n; i++) {
		char *name = malloc(16);
		pthread_t t;
		if (!name)
			return 1;
		if (i < n)
			snprintf(name, 16, "%s%d%s", prefix, i, suffix);
		else
			snprintf(name, 16, "worker");
		if (pthread_create(&t, NULL, thread_main, name) != 0)
			return 1;
	}
	pthread_barrier_wait(&named);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
