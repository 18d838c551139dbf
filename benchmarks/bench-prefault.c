/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm-bench prefault: the time to create and prefault a zone, side by
 * side in one run with
 *   single - one thread touching every page of the same backing,
 *   qemu   - QEMU's own preallocation of the same backing (started with
 *            -S and timed until its QMP greeting, minus the same start-up
 *            without prealloc, measured in the same round),
 *   limit  - the same threads writing the same amount of memory that is
 *            already faulted in.
 * The machine is shared and memory it has not touched lately faults much
 * slower, so there is a warm-up round, the order of the sides rotates
 * every round, and medians and paired ratios are reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <numaksm/memory.h>

#include "bench.h"

enum side { SIDE_NUMAKSM, SIDE_SINGLE, SIDE_QEMU, SIDE_LIMIT, N_SIDES };
static const char *const side_names[] = {"numaksm", "single", "qemu", "limit"};

struct config {
	uint64_t size;
	uint64_t hugepage_kb; /* 0: 4K or THP anonymous */
	bool thp;
	unsigned threads;
	unsigned rounds;
	const char *qemu;
	const char *json_path;
	const char *plot_path;
};

static double qemu_ready_seconds(const struct config *c, bool prealloc)
{
	char object[512];
	if (c->hugepage_kb)
		snprintf(object, sizeof(object),
			 "memory-backend-memfd,id=m,size=%" PRIu64
			 ",hugetlb=on,hugetlbsize=%" PRIu64
			 "K,host-nodes=0,policy=bind,prealloc=%s,prealloc-threads=%u",
			 c->size, c->hugepage_kb, prealloc ? "on" : "off", c->threads);
	else
		snprintf(object, sizeof(object),
			 "memory-backend-ram,id=m,size=%" PRIu64
			 ",host-nodes=0,policy=bind,prealloc=%s,prealloc-threads=%u",
			 c->size, prealloc ? "on" : "off", c->threads);
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -1;
	double t0 = bench_now();
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 2);
		execlp(c->qemu, c->qemu, "-machine", "none", "-nodefaults", "-display", "none",
		       "-S", "-object", object, "-qmp", "stdio", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	/* QEMU answers on QMP only once every object, memory included, is ready. */
	char buf[512];
	ssize_t n = read(out[0], buf, sizeof(buf) - 1);
	double t1 = bench_now();
	bool greeted = n > 6 && strncmp(buf, "{\"QMP\"", 6) == 0;
	static const char quit[] = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n";
	if (write(in[1], quit, sizeof(quit) - 1) < 0)
		kill(pid, SIGKILL);
	close(in[1]);
	while (read(out[0], buf, sizeof(buf)) > 0)
		;
	close(out[0]);
	int status;
	waitpid(pid, &status, 0);
	if (!greeted)
		return -1;
	return t1 - t0;
}

static double run_numaksm(nk_host *host, const struct config *c, nk_zone **keep)
{
	struct nk_zone_spec spec;
	nk_error *err = NULL;
	nk_zone *z = NULL;
	nk_zone_spec_init(&spec);
	spec.size_bytes = c->size;
	spec.backing =
	    c->hugepage_kb ? NK_BACKING_HUGETLB : (c->thp ? NK_BACKING_THP : NK_BACKING_4K);
	spec.hugepage_kb = c->hugepage_kb;
	spec.policy = NK_POLICY_BIND;
	spec.prefault_threads = c->threads;
	spec.nodes = nk_bitmap_new();
	nk_bitmap_set(spec.nodes, 0);
	double t0 = bench_now();
	int r = nk_zone_create(host, &spec, &z, &err);
	double t1 = bench_now();
	nk_zone_spec_done(&spec);
	if (r < 0) {
		fprintf(stderr, "numaksm-bench: %s\n", nk_error_message(err));
		if (nk_error_get_hint(err))
			fprintf(stderr, "  hint: %s\n", nk_error_get_hint(err));
		nk_error_free(err);
		return -1;
	}
	if (keep)
		*keep = z;
	else
		nk_zone_free(z);
	return t1 - t0;
}

static double run_single(const struct config *c)
{
	uint64_t page = c->hugepage_kb ? c->hugepage_kb * 1024 : 4096;
	void *p;
	int fd = -1;
	double t0 = bench_now();
	if (c->hugepage_kb) {
		fd = (int)syscall(SYS_memfd_create, "bench-single",
				  MFD_CLOEXEC | MFD_HUGETLB |
				      ((unsigned)__builtin_ctzll(page) << MFD_HUGE_SHIFT));
		if (fd < 0 || ftruncate(fd, (off_t)c->size) < 0)
			return -1;
		p = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	} else {
		p = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED)
			madvise(p, c->size, c->thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	}
	if (p == MAP_FAILED)
		return -1;
	for (uint64_t off = 0; off < c->size; off += page)
		((volatile char *)p)[off] = 1;
	double t1 = bench_now();
	munmap(p, c->size);
	if (fd >= 0)
		close(fd);
	return t1 - t0;
}

struct writer {
	char *start;
	uint64_t len;
};

static void *write_worker(void *arg)
{
	struct writer *w = arg;
	memset(w->start, 0x5a, w->len);
	return NULL;
}

/* The limit: the same number of threads writing memory already faulted.
 * Written once untimed first: under shadow paging (this machine is itself
 * a VM) a process's first touch of a page costs an exit even after the
 * kernel has populated it, and that is not memory bandwidth. */
static double write_all(nk_zone *z, unsigned threads);

static double run_limit(nk_zone *z, unsigned threads)
{
	write_all(z, threads);
	return write_all(z, threads);
}

static double write_all(nk_zone *z, unsigned threads)
{
	pthread_t tid[64];
	struct writer w[64];
	uint64_t size = nk_zone_size(z), per = size / threads;
	char *base = nk_zone_addr(z);
	double t0 = bench_now();
	for (unsigned i = 0; i < threads; i++) {
		w[i].start = base + i * per;
		w[i].len = i + 1 == threads ? size - i * per : per;
		pthread_create(&tid[i], NULL, write_worker, &w[i]);
	}
	for (unsigned i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	return bench_now() - t0;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: numaksm-bench prefault [--size S] [--hugepages 2M|1G|none] "
		     "[--threads N] [--rounds R] [--qemu PATH] [--json FILE] [--plot FILE.png]\n"
		     "--hugepages: 2M or 1G (hugetlb memfd), none (4K anonymous), thp.\n"
		     "QEMU's side uses memory-backend-memfd for hugetlb and memory-backend-ram\n"
		     "(which QEMU marks MADV_HUGEPAGE) otherwise.\n"
		     "Defaults: --size 4G --hugepages 2M --threads 2 --rounds 5.\n");
}

/* Each side's rounds as points over a bar of its median, side by side. */
static int plot(const struct config *c, double *const *t, bool have_qemu)
{
	char *script = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&script, &len);
	if (!f)
		return -1;
	fprintf(f,
		"set terminal pngcairo size 800,450 font ',10'\nset output '%s'\n"
		"set title 'prefault: %" PRIu64
		" MiB, %s, %u threads (%u rounds; lower is better)'\n"
		"set ylabel 'seconds'\nset yrange [0:*]\nset grid ytics\nset style fill solid 0.4\n"
		"set boxwidth 0.6\nset key top left\nset xtics (",
		c->plot_path, c->size >> 20,
		c->hugepage_kb ? (c->hugepage_kb == 2048 ? "2M hugetlb" : "1G hugetlb")
			       : (c->thp ? "THP" : "4K"),
		c->threads, c->rounds);
	for (int s = 0; s < N_SIDES; s++)
		fprintf(f, "%s'%s' %d", s ? ", " : "", side_names[s], s);
	fprintf(f, ")\nset xrange [-0.6:%d.6]\n$median << EOD\n", N_SIDES - 1);
	for (int s = 0; s < N_SIDES; s++)
		if (s != SIDE_QEMU || have_qemu)
			fprintf(f, "%d %.6f\n", s, bench_median(t[s], c->rounds));
	fprintf(f, "EOD\n$rounds << EOD\n");
	for (int s = 0; s < N_SIDES; s++)
		for (unsigned r = 0; (s != SIDE_QEMU || have_qemu) && r < c->rounds; r++)
			fprintf(f, "%d %.6f\n", s, t[s][r]);
	fprintf(f, "EOD\nplot $median using 1:2 with boxes title 'median', "
		   "$rounds using 1:2 with points pt 7 ps 0.8 title 'rounds'\n");
	if (fclose(f) != 0) {
		free(script);
		return -1;
	}
	int r = bench_gnuplot(script, c->plot_path);
	free(script);
	return r;
}

int bench_prefault(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"size", required_argument, NULL, 's'},
	    {"hugepages", required_argument, NULL, 'p'},
	    {"threads", required_argument, NULL, 't'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"qemu", required_argument, NULL, 'q'},
	    {"json", required_argument, NULL, 'j'},
	    {"plot", required_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct config c = {.size = 4ull << 30,
			   .hugepage_kb = 2048,
			   .threads = 2,
			   .rounds = 5,
			   .qemu = "qemu-system-x86_64"};
	nk_error *err = NULL;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:p:t:r:q:j:P:h", opts, NULL)) != -1) {
		uint64_t v;
		long long n;
		switch (opt) {
		case 's':
			if (nk_parse_size(optarg, &c.size, &err) < 0)
				return bench_usage_error(err, "--size");
			break;
		case 'p':
			c.thp = !strcmp(optarg, "thp");
			if (c.thp || !strcmp(optarg, "none") || !strcmp(optarg, "4K")) {
				c.hugepage_kb = 0;
			} else {
				if (nk_parse_size(optarg, &v, &err) < 0)
					return bench_usage_error(err, "--hugepages");
				c.hugepage_kb = v / 1024;
			}
			break;
		case 't':
			if (nk_parse_int(optarg, 1, 64, &n, &err) < 0)
				return bench_usage_error(err, "--threads");
			c.threads = (unsigned)n;
			break;
		case 'r':
			if (nk_parse_int(optarg, 1, 1000, &n, &err) < 0)
				return bench_usage_error(err, "--rounds");
			c.rounds = (unsigned)n;
			break;
		case 'q':
			c.qemu = optarg;
			break;
		case 'j':
			c.json_path = optarg;
			break;
		case 'P':
			c.plot_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}

	nk_host *host = NULL;
	if (nk_host_open(NULL, &host, &err) < 0)
		return bench_fail(err);
	struct bench_pool pool = {0};
	if (c.hugepage_kb && bench_pool_ensure(host, &pool, c.hugepage_kb, c.size, &err) < 0) {
		nk_host_free(host);
		return bench_fail(err);
	}
	/* A QEMU that cannot start closes its end of the QMP pipe: the write
	 * fails with EPIPE, rather than killing the benchmark. */
	signal(SIGPIPE, SIG_IGN);
	bool have_qemu = qemu_ready_seconds(&c, false) > 0;
	if (!have_qemu)
		fprintf(stderr, "numaksm-bench: %s cannot start: the qemu side is skipped\n",
			c.qemu);

	printf("prefault: %" PRIu64 " MiB, %s, %u threads, %u rounds (+1 warm-up)\n", c.size >> 20,
	       c.hugepage_kb ? (c.hugepage_kb == 2048 ? "2M hugetlb" : "1G hugetlb")
			     : (c.thp ? "THP anonymous" : "4K anonymous"),
	       c.threads, c.rounds);
	double *t[N_SIDES];
	for (int s = 0; s < N_SIDES; s++)
		t[s] = calloc(c.rounds, sizeof(double));
	int rc = 0;
	for (unsigned round = 0; round <= c.rounds && rc == 0; round++) {
		/* Rotate the order so no side always runs on the warmest memory. */
		for (int k = 0; k < N_SIDES && rc == 0; k++) {
			enum side s = (enum side)((k + round) % N_SIDES);
			double v = 0;
			switch (s) {
			case SIDE_NUMAKSM:
				v = run_numaksm(host, &c, NULL);
				break;
			case SIDE_SINGLE:
				v = run_single(&c);
				break;
			case SIDE_QEMU:
				if (!have_qemu)
					continue;
				v = qemu_ready_seconds(&c, true) - qemu_ready_seconds(&c, false);
				break;
			case SIDE_LIMIT: {
				nk_zone *z = NULL;
				if (run_numaksm(host, &c, &z) < 0) {
					v = -1;
					break;
				}
				v = run_limit(z, c.threads);
				nk_zone_free(z);
				break;
			}
			default:
				break;
			}
			if (v < 0) {
				fprintf(stderr, "numaksm-bench: the %s side failed\n",
					side_names[s]);
				rc = 1;
			}
			if (round > 0)
				t[s][round - 1] = v;
		}
	}
	if (rc == 0) {
		double med[N_SIDES];
		printf("%-10s %10s %10s %10s\n", "side", "median s", "min s", "GiB/s");
		for (int s = 0; s < N_SIDES; s++) {
			if (s == SIDE_QEMU && !have_qemu)
				continue;
			med[s] = bench_median(t[s], c.rounds);
			printf("%-10s %10.3f %10.3f %10.2f\n", side_names[s], med[s],
			       bench_min(t[s], c.rounds), (double)c.size / (1 << 30) / med[s]);
		}
		printf("ratios (median of per-round ratios):\n");
		double ratio[N_SIDES];
		for (int s = SIDE_SINGLE; s < N_SIDES; s++) {
			if (s == SIDE_QEMU && !have_qemu)
				continue;
			ratio[s] = bench_paired_ratio(t[SIDE_NUMAKSM], t[s], c.rounds);
			printf("  numaksm / %-7s = %.2f\n", side_names[s], ratio[s]);
		}
		if (c.json_path) {
			FILE *f = fopen(c.json_path, "w");
			if (f) {
				fprintf(f,
					"{\"bench\": \"prefault\", \"size\": %" PRIu64
					", \"hugepage_kb\": %" PRIu64 ", \"threads\": %u, "
					"\"rounds\": %u, \"median_s\": {",
					c.size, c.hugepage_kb, c.threads, c.rounds);
				const char *sep = "";
				for (int s = 0; s < N_SIDES; s++) {
					if (s == SIDE_QEMU && !have_qemu)
						continue;
					fprintf(f, "%s\"%s\": %.6f", sep, side_names[s], med[s]);
					sep = ", ";
				}
				fprintf(f, "}, \"ratio\": {");
				sep = "";
				for (int s = SIDE_SINGLE; s < N_SIDES; s++) {
					if (s == SIDE_QEMU && !have_qemu)
						continue;
					fprintf(f, "%s\"numaksm/%s\": %.4f", sep, side_names[s],
						ratio[s]);
					sep = ", ";
				}
				fprintf(f, "}}\n");
				fclose(f);
			}
		}
	}
	if (rc == 0 && c.plot_path && plot(&c, t, have_qemu) < 0)
		rc = 1;
	for (int s = 0; s < N_SIDES; s++)
		free(t[s]);
	bench_pool_restore(host, &pool);
	nk_host_free(host);
	return rc;
}
