/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <numaksm/memory.h>

#include "bench.h"

double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bench_median(const double *v, unsigned n)
{
	double *c = malloc(n * sizeof(double));
	if (!c || !n) {
		free(c);
		return 0;
	}
	memcpy(c, v, n * sizeof(double));
	qsort(c, n, sizeof(double), cmp_double);
	double m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
	free(c);
	return m;
}

double bench_min(const double *v, unsigned n)
{
	double m = n ? v[0] : 0;
	for (unsigned i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

double bench_paired_ratio(const double *a, const double *b, unsigned n)
{
	double *r = malloc(n * sizeof(double));
	if (!r)
		return 0;
	for (unsigned i = 0; i < n; i++)
		r[i] = b[i] > 0 ? a[i] / b[i] : 0;
	double m = bench_median(r, n);
	free(r);
	return m;
}

int bench_usage_error(nk_error *err, const char *option)
{
	fprintf(stderr, "numaksm-bench: %s: %s\n", option, nk_error_message(err));
	nk_error_free(err);
	return 2;
}

int bench_fail(nk_error *err)
{
	fprintf(stderr, "numaksm-bench: %s\n", nk_error_message(err));
	if (nk_error_get_hint(err))
		fprintf(stderr, "  hint: %s\n", nk_error_get_hint(err));
	nk_error_free(err);
	return 1;
}

static char restore_path[256];
static char restore_value[32];

static void restore_on_signal(int sig)
{
	int fd = open(restore_path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = write(fd, restore_value, strlen(restore_value));
		(void)n;
		close(fd);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

int bench_pool_ensure(nk_host *host, struct bench_pool *pool, uint64_t size_kb, uint64_t bytes,
		      nk_error **err)
{
	char free_path[256];
	uint64_t free_pages = 0, got = 0, needed = bytes / (size_kb * 1024);
	snprintf(pool->path, sizeof(pool->path),
		 "/sys/devices/system/node/node0/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages",
		 size_kb);
	snprintf(free_path, sizeof(free_path),
		 "/sys/devices/system/node/node0/hugepages/hugepages-%" PRIu64 "kB/free_hugepages",
		 size_kb);
	int r = nk_host_read_u64(host, pool->path, &pool->saved, err);
	if (r < 0)
		return r;
	r = nk_host_read_u64(host, free_path, &free_pages, err);
	if (r < 0)
		return r;
	if (free_pages >= needed)
		return 0;
	snprintf(restore_path, sizeof(restore_path), "%s", pool->path);
	snprintf(restore_value, sizeof(restore_value), "%" PRIu64, pool->saved);
	signal(SIGINT, restore_on_signal);
	signal(SIGTERM, restore_on_signal);
	pool->changed = true;
	uint64_t want = pool->saved + (needed - free_pages);
	r = nk_hugepages_reserve(host, 0, size_kb, want, &got, err);
	if (r < 0)
		return r;
	if (got < want) {
		bench_pool_restore(host, pool);
		return nk_error_set(err, ENOMEM,
				    "node 0 could only reserve %" PRIu64 " of %" PRIu64
				    " hugepages of %" PRIu64 " kB",
				    got, want, size_kb);
	}
	return 0;
}

void bench_pool_restore(nk_host *host, struct bench_pool *pool)
{
	char value[32];
	if (!pool->changed)
		return;
	snprintf(value, sizeof(value), "%" PRIu64, pool->saved);
	nk_host_write(host, pool->path, value, NULL);
	pool->changed = false;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
}

int bench_gnuplot(const char *script, const char *png)
{
	FILE *p = popen("gnuplot 2>&1", "w");
	if (!p) {
		fprintf(stderr, "numaksm-bench: cannot run gnuplot: %s\n", strerror(errno));
		return -1;
	}
	fputs(script, p);
	int status = pclose(p);
	if (status != 0) {
		fprintf(stderr,
			"numaksm-bench: gnuplot failed (exit %d): no %s (apt-get install "
			"gnuplot-nox)\n",
			WIFEXITED(status) ? WEXITSTATUS(status) : -1, png);
		return -1;
	}
	printf("plot: %s\n", png);
	return 0;
}
