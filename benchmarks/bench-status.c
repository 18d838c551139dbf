/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm-bench-status: how long `numaksm status` takes to read 200 VMs
 * (target: well under a second).  It starts VM-like processes -- itself,
 * re-run as "qemu-system-x86_64 -name guest=bench-vm-N,debug-threads=on
 * -m 4", with a "CPU 0/KVM" thread and a mergeable, touched guest RAM
 * mapping -- then times what status does for each round: the host's facts
 * and KSM counters, finding every VM, and reading each one with pages per
 * node and vCPU threads.  Public API only.
 *
 *   numaksm-bench-status [--vms 200] [--ram-mib 4] [--rounds 5] [--max-ms MS]
 *                        [--cli PATH]
 *
 * With --cli it also times the command itself end to end,
 * `PATH status --json > /dev/null`, output included.  With --exporter it
 * starts `PATH exporter` and times scrapes of /metrics over HTTP, rounds
 * alternating with `PATH status --json` (the ratio of their medians), and
 * the exporter's CPU: per scrape, idle, and as a share of one core at a
 * 15 s scrape interval (target: scrape under 100 ms, under 0.1% of a core);
 * three times: --vm-refresh 0 (every VM read whole at every scrape),
 * 0.001 (a quarter of them at every scrape, as the default 60 s refresh
 * does at a 15 s interval) and 3600 (only their KSM figures).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <numaksm/hostinfo.h>
#include <numaksm/ksm.h>
#include <numaksm/proc.h>
#include <numaksm/vm.h>

#define CHILD_FLAG   "--bench-status-vm"
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* numaksm exporter's --vm-refresh default, in seconds. */
#define DEFAULT_VM_REFRESH_S 300

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *vcpu_thread(void *arg)
{
	prctl(PR_SET_NAME, "CPU 0/KVM");
	for (;;)
		pause();
	return NULL;
}

/* The VM-like process: argv = qemu-system-x86_64 CHILD_FLAG FD -name ... -m MIB */
static int vm_main(int argc, char **argv)
{
	int fd = atoi(argv[2]);
	size_t bytes = (size_t)atoi(argv[argc - 1]) << 20;
	pthread_t t;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "qemu-system-x86");
	char *ram = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED || madvise(ram, bytes, MADV_MERGEABLE) < 0)
		return 1;
	/* Half the pages alike across VMs, half their own. */
	for (size_t off = 0; off < bytes; off += 4096)
		memset(ram + off, off < bytes / 2 ? 0x5a : (int)(getpid() + off / 4096), 4096);
	if (pthread_create(&t, NULL, vcpu_thread, NULL) != 0)
		return 1;
	usleep(10000); /* the thread names itself */
	if (write(fd, "r", 1) != 1)
		return 1;
	close(fd);
	for (;;)
		pause();
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One round of what `numaksm status` reads; returns the VMs read. */
static int read_all(nk_host *host, unsigned *ret_ours)
{
	struct nk_hostinfo *info = NULL;
	struct nk_ksm ksm;
	struct nk_vm_ref *refs = NULL;
	bool has_ksm = nk_ksm_read(host, NK_KSM_ALL, &ksm, NULL) == 0;
	int n, read = 0;

	if (nk_hostinfo_read(host, &info, NULL) < 0 || (n = nk_vm_find_all(host, &refs, NULL)) < 0)
		return -1;
	*ret_ours = 0;
	for (int i = 0; i < n; i++) {
		struct nk_vm_info *vm = NULL;
		int r = nk_vm_read(host, &refs[i], has_ksm ? &ksm : NULL,
				   NK_VM_READ_PLACEMENT | NK_VM_READ_THREADS, &vm, NULL);
		if (r < 0)
			continue; /* gone, or not ours to read */
		read++;
		if (strncmp(vm->ref.name, "bench-vm-", 9) == 0 && vm->threads.vcpu_count == 1 &&
		    vm->n_regions)
			(*ret_ours)++;
		nk_vm_info_free(vm);
	}
	nk_vm_refs_free(refs, (size_t)n);
	nk_hostinfo_free(info);
	return read;
}

/* `cli status --json > /dev/null`, in milliseconds; < 0 when it failed. */
static double time_cli(const char *cli)
{
	int status;
	fflush(stdout); /* not twice, from the child too */
	double start = now_ms();
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execl(cli, cli, "status", "--json", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return now_ms() - start;
}

/* The CPU time all threads of a process have used, in ms: utime + stime
 * of its stat, read by the library's one parser. */
static double cpu_ms(pid_t pid)
{
	nk_host *host = NULL;
	struct nk_proc_stat st;
	if (nk_host_open(NULL, &host, NULL) < 0)
		return -1;
	int r = nk_proc_stat_read(host, pid, 0, &st, NULL);
	nk_host_free(host);
	if (r < 0)
		return -1;
	double ms =
	    (double)(st.utime_ticks + st.stime_ticks) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
	nk_proc_stat_done(&st);
	return ms;
}

/* GET /metrics from 127.0.0.1:port, read to the end: ms, or < 0. */
static double scrape_ms(int port, size_t *ret_bytes)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Connection: close\r\n\r\n";
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char buf[65536];
	size_t total = 0;
	ssize_t n;
	double start = now_ms();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (total == 0 && strncmp(buf, "HTTP/1.1 200", 12) != 0)
			break;
		total += (size_t)n;
	}
	close(fd);
	*ret_bytes = total;
	return total ? now_ms() - start : -1;
}

static void sleep_until_ms(double t)
{
	double left = t - now_ms();
	if (left > 0) {
		struct timespec ts = {(time_t)(left / 1e3),
				      (long)((left - 1e3 * (time_t)(left / 1e3)) * 1e6)};
		nanosleep(&ts, NULL);
	}
}

/* The exporter against status --json, side by side; its CPU use.  With
 * `interval_s` > 0, scrapes come that far apart: first for `refresh`
 * seconds unmeasured, until every VM read at the first scrape is due
 * again, then `rounds` of them measured (the steady state). */
static int bench_exporter(const char *cli, unsigned rounds, const char *refresh, double interval_s)
{
	int port = 20000 + (int)(getpid() % 20000), rc = 0;
	char listen[32];
	size_t bytes = 0;
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	pid_t pid = fork();
	if (pid == 0) {
		execl(cli, cli, "exporter", "--listen", listen, "--vm-refresh", refresh,
		      (char *)NULL);
		_exit(127);
	}
	double *scrape = calloc(rounds, sizeof(double)), *status = calloc(rounds, sizeof(double));
	double up = -1;
	for (int i = 0; i < 200 && up < 0; i++) {
		usleep(25000);
		up = scrape_ms(port, &bytes); /* also warms it up */
	}
	if (up < 0 || !scrape || !status) {
		fprintf(stderr, "numaksm-bench-status: %s exporter did not answer on %s\n", cli,
			listen);
		rc = 1;
		goto out;
	}
	double next = now_ms();
	if (interval_s > 0)
		for (double end = next + 1e3 * atof(refresh); next < end;
		     next += 1e3 * interval_s) {
			sleep_until_ms(next);
			if (scrape_ms(port, &bytes) < 0) {
				rc = 1;
				goto out;
			}
		}
	double cpu0 = cpu_ms(pid);
	for (unsigned r = 0; r < rounds; r++) {
		if (interval_s > 0) {
			sleep_until_ms(next);
			next += 1e3 * interval_s;
			scrape[r] = scrape_ms(port, &bytes);
			status[r] = time_cli(cli);
		} else if (r % 2 == 0) { /* alternate which side goes first */
			scrape[r] = scrape_ms(port, &bytes);
			status[r] = time_cli(cli);
		} else {
			status[r] = time_cli(cli);
			scrape[r] = scrape_ms(port, &bytes);
		}
		if (scrape[r] < 0 || status[r] < 0) {
			rc = 1;
			goto out;
		}
	}
	double per_scrape = (cpu_ms(pid) - cpu0) / rounds;
	double idle0 = cpu_ms(pid);
	sleep(5);
	double idle_per_s = (cpu_ms(pid) - idle0) / 5.0;
	double ratios[100];
	for (unsigned r = 0; r < rounds; r++)
		ratios[r] = scrape[r] / status[r];
	qsort(scrape, rounds, sizeof(double), cmp_double);
	qsort(status, rounds, sizeof(double), cmp_double);
	qsort(ratios, rounds, sizeof(double), cmp_double);
	if (interval_s > 0)
		printf("exporter --vm-refresh %s, scraped every %.1f s (%.0f scrapes a refresh, as "
		       "the default %d s at a 15 s interval):\n  ",
		       refresh, interval_s, atof(refresh) / interval_s, DEFAULT_VM_REFRESH_S);
	printf("exporter --vm-refresh %s: scrape of /metrics (%zu bytes): median %.1f ms, min %.1f "
	       "ms over %u "
	       "rounds; status --json median %.1f ms; scrape/status median ratio %.2f\n",
	       refresh, bytes, scrape[rounds / 2], scrape[0], rounds, status[rounds / 2],
	       ratios[rounds / 2]);
	printf("exporter CPU: %.1f ms per scrape, %.3f ms per second idle: %.3f%% of a core at a "
	       "15 s scrape interval\n",
	       per_scrape, idle_per_s, 100.0 * (per_scrape + 15 * idle_per_s) / 15000.0);
out:
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	free(scrape);
	free(status);
	return rc;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: numaksm-bench-status [--vms N] [--ram-mib MIB] [--rounds R] "
		     "[--max-ms MS] [--cli PATH] [--exporter PATH]\n\n"
		     "Start N VM-like processes (default 200) with MIB of mergeable guest RAM\n"
		     "each (default 4), and time reading all of them as `numaksm status` does,\n"
		     "R times (default 5).  With --max-ms, exit 1 when the median is slower.\n"
		     "With --cli, also time PATH status --json end to end.\n"
		     "With --exporter, time scrapes of PATH exporter against PATH status --json,\n"
		     "and the exporter's CPU use.\n");
}

int main(int argc, char **argv)
{
	unsigned vms = 200, ram_mib = 4, rounds = 5;
	double max_ms = 0;
	const char *cli = NULL, *exporter = NULL;
	int fds[2];

	if (argc >= 3 && strcmp(argv[1], CHILD_FLAG) == 0)
		return vm_main(argc, argv);
	/* Options and their values, in pairs. */
	for (int i = 1; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (v && strcmp(argv[i], "--vms") == 0) {
			vms = (unsigned)atoi(v);
		} else if (v && strcmp(argv[i], "--ram-mib") == 0) {
			ram_mib = (unsigned)atoi(v);
		} else if (v && strcmp(argv[i], "--rounds") == 0) {
			rounds = (unsigned)atoi(v);
		} else if (v && strcmp(argv[i], "--max-ms") == 0) {
			max_ms = atof(v);
		} else if (v && strcmp(argv[i], "--cli") == 0) {
			cli = v;
		} else if (v && strcmp(argv[i], "--exporter") == 0) {
			exporter = v;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (vms < 1 || vms > 4096 || ram_mib < 1 || ram_mib > 1024 || rounds < 1 || rounds > 100) {
		usage(stderr);
		return 2;
	}
	pid_t *pids = calloc(vms, sizeof(*pids));
	double *ms = calloc(rounds, sizeof(*ms));
	if (!pids || !ms || pipe(fds) < 0)
		return 1;

	double t0 = now_ms();
	for (unsigned i = 0; i < vms; i++) {
		char fd[16], name[64], mib[16];
		snprintf(fd, sizeof(fd), "%d", fds[1]);
		snprintf(name, sizeof(name), "guest=bench-vm-%u,debug-threads=on", i);
		snprintf(mib, sizeof(mib), "%u", ram_mib);
		pids[i] = fork();
		if (pids[i] == 0) {
			close(fds[0]);
			execl("/proc/self/exe", "qemu-system-x86_64", CHILD_FLAG, fd, "-name", name,
			      "-m", mib, (char *)NULL);
			_exit(127);
		}
		if (pids[i] < 0) {
			perror("fork");
			vms = i;
			break;
		}
	}
	close(fds[1]);
	unsigned ready = 0;
	char c;
	while (ready < vms && read(fds[0], &c, 1) == 1)
		ready++;
	close(fds[0]);
	printf("%u VM-like processes of %u MiB mergeable RAM started in %.0f ms\n", ready, ram_mib,
	       now_ms() - t0);

	nk_host *host = NULL;
	unsigned ours = 0;
	int n = 0, rc = 0;
	if (nk_host_open(NULL, &host, NULL) < 0)
		rc = 1;
	for (unsigned r = 0; rc == 0 && r < rounds; r++) {
		double start = now_ms();
		n = read_all(host, &ours);
		ms[r] = now_ms() - start;
		if (n < 0)
			rc = 1;
	}
	nk_host_free(host);
	double *cli_ms = cli ? calloc(rounds, sizeof(*cli_ms)) : NULL;
	for (unsigned r = 0; cli_ms && rc == 0 && r < rounds; r++)
		if ((cli_ms[r] = time_cli(cli)) < 0)
			rc = 1;
	/* Every VM read whole at every scrape; then the default's steady
	 * state (each VM read whole once in 20 scrapes, spread evenly: its
	 * 300 s at a 15 s interval, here 10 s at 0.5 s); then none but the
	 * new (the VMs' KSM only). */
	static const struct {
		const char *refresh;
		double interval_s;
	} settings[] = {{"0", 0}, {"10", 0.5}, {"3600", 0}};
	for (size_t k = 0; exporter && rc == 0 && k < ARRAY_LEN(settings); k++)
		rc = bench_exporter(exporter,
				    settings[k].interval_s > 0 && rounds < 20 ? 20 : rounds,
				    settings[k].refresh, settings[k].interval_s);
	for (unsigned i = 0; i < vms; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	for (unsigned i = 0; i < vms; i++)
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
	if (rc) {
		fprintf(stderr, "numaksm-bench-status: reading the VMs failed\n");
		return rc;
	}
	qsort(ms, rounds, sizeof(*ms), cmp_double);
	double median = ms[rounds / 2];
	printf("status read %d VMs (%u of ours, each with RAM placement and a vCPU thread): "
	       "median %.1f ms, min %.1f ms over %u rounds; %.2f ms per VM\n",
	       n, ours, median, ms[0], rounds, median / (n ? n : 1));
	if (cli_ms) {
		qsort(cli_ms, rounds, sizeof(*cli_ms), cmp_double);
		printf("%s status --json > /dev/null: median %.1f ms, min %.1f ms over %u runs\n",
		       cli, cli_ms[rounds / 2], cli_ms[0], rounds);
		free(cli_ms);
	}
	if (ours != ready) {
		fprintf(stderr, "numaksm-bench-status: found %u of our %u VMs\n", ours, ready);
		rc = 1;
	}
	if (max_ms > 0 && median > max_ms) {
		fprintf(stderr, "numaksm-bench-status: median %.1f ms is over --max-ms %.0f\n",
			median, max_ms);
		rc = 1;
	}
	free(pids);
	free(ms);
	return rc;
}
