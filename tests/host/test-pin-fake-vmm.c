/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A stand-in for a running VM of each kind the VM model knows: a process
 * run under the VMM's own program name (through a symlink, so its comm and
 * argv[0] are the VMM's), with the command line that VMM is given and N
 * threads carrying that VMM's vCPU thread names, plus one emulator thread.
 * Prints "ready" once every thread is named, then runs until killed.
 *
 * Usage: test-pin-fake-vmm KIND N NAME
 *   KIND  numaksm | qemu | libvirt | cloud-hypervisor | firecracker | crosvm,
 *         or process (a program called NAME with QEMU's thread names, found
 *         only by its PID or comm); qemu, ch and fc are short for three of them.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>

#define MAX_ARGS 16

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

struct kind {
	const char *kind, *alias;
	const char *program;			   /* NULL: the VM's name itself */
	const char *thread_prefix, *thread_suffix; /* vCPU thread n: PREFIX n SUFFIX */
	const char *args[MAX_ARGS];		   /* "%N" is the VM's name, "%C" its vCPU count */
};

static const struct kind kinds[] = {
    {"numaksm",
     NULL,
     "numaksm-vmm",
     "CPU ",
     "/KVM",
     {"--name", "%N", "--memory", "size=64M,mergeable=on", "--cpus", "count=%C"}},
    {"qemu",
     NULL,
     "qemu-system-x86_64",
     "CPU ",
     "/KVM",
     {"-name", "guest=%N,debug-threads=on", "-m", "64", "-smp", "%C", "-accel", "kvm"}},
    {"libvirt",
     NULL,
     "qemu-system-x86_64",
     "CPU ",
     "/KVM",
     {"-name", "guest=%N,debug-threads=on", "-uuid", "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
      "-chardev", "socket,id=charmonitor,path=/var/lib/libvirt/qemu/domain-1-%N/monitor.sock", "-m",
      "64", "-smp", "%C"}},
    {"cloud-hypervisor",
     "ch",
     "cloud-hypervisor",
     "vcpu",
     "",
     {"--api-socket", "/run/%N.sock", "--cpus", "boot=%C", "--memory", "size=64M"}},
    {"firecracker",
     "fc",
     "firecracker",
     "fc_vcpu ",
     "",
     {"--id", "%N", "--api-sock", "/run/firecracker-%N.sock"}},
    {"crosvm",
     NULL,
     "crosvm",
     "crosvm_vcpu",
     "",
     {"run", "--cpus", "%C", "--mem", "64", "--socket", "/run/%N.sock", "vmlinux"}},
    {"process", NULL, NULL, "CPU ", "/KVM", {NULL}},
};

/* An argument with %N and %C replaced. */
static char *expand(const char *arg, const char *name, int n)
{
	char *out = malloc(strlen(arg) + 4 * strlen(name) + 32), *o = out;
	if (!out)
		exit(1);
	for (const char *p = arg; *p; p++) {
		if (p[0] == '%' && p[1] == 'N') {
			o += sprintf(o, "%s", name);
			p++;
		} else if (p[0] == '%' && p[1] == 'C') {
			o += sprintf(o, "%d", n);
			p++;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* Run again under the VMM's program name, from a symlink in a directory of
 * our own that the new image removes once it runs. */
static void exec_as(const struct kind *k, const char *name, int n, const char *self)
{
	char dir[] = "/tmp/fake-vmm-XXXXXX", link[PATH_MAX], count[16];
	char *argv[MAX_ARGS + 2] = {0};
	size_t a = 0;

	if (!mkdtemp(dir))
		exit(1);
	snprintf(link, sizeof(link), "%s/%s", dir, k->program ? k->program : name);
	if (symlink(self, link) < 0)
		exit(1);
	snprintf(count, sizeof(count), "%d", n);
	setenv("FAKE_VMM_KIND", k->kind, 1);
	setenv("FAKE_VMM_VCPUS", count, 1);
	setenv("FAKE_VMM_LINK", link, 1);
	argv[a++] = link;
	for (size_t i = 0; i < MAX_ARGS && k->args[i]; i++)
		argv[a++] = expand(k->args[i], name, n);
	execv(link, argv);
	fprintf(stderr, "fake-vmm: cannot run %s: %s\n", link, strerror(errno));
	exit(1);
}

static const struct kind *find_kind(const char *s)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(s, kinds[i].kind) == 0 || (kinds[i].alias && !strcmp(s, kinds[i].alias)))
			return &kinds[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const char *again = getenv("FAKE_VMM_KIND");
	const struct kind *k;
	int n;

	if (!again) {
		char self[PATH_MAX];
		ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
		n = argc == 4 ? atoi(argv[2]) : 0;
		if (argc != 4 || !(k = find_kind(argv[1])) || n < 1 || n > 64 || len <= 0) {
			fprintf(
			    stderr,
			    "usage: %s numaksm|qemu|libvirt|cloud-hypervisor|firecracker|crosvm|"
			    "process N NAME\n",
			    argv[0]);
			return 2;
		}
		self[len] = '\0';
		exec_as(k, argv[3], n, self);
	}
	k = find_kind(again);
	n = atoi(getenv("FAKE_VMM_VCPUS"));
	/* The program name has done its work (comm and argv[0]): clean up. */
	const char *link = getenv("FAKE_VMM_LINK");
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", link);
	unlink(link);
	*strrchr(dir, '/') = '\0';
	rmdir(dir);
	unsetenv("FAKE_VMM_KIND");

	pthread_barrier_init(&named, NULL, (unsigned)n + 2);
	for (int i = 0; i <= n; i++) {
		char *name = malloc(16);
		pthread_t t;
		if (!name)
			return 1;
		if (i < n)
			snprintf(name, 16, "%s%d%s", k->thread_prefix, i, k->thread_suffix);
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
