/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef NUMAKSM_BENCH_H
#define NUMAKSM_BENCH_H

#include <numaksm/core.h>

double bench_now(void);
double bench_median(const double *v, unsigned n);
double bench_min(const double *v, unsigned n);
/* Median over rounds of a[i] / b[i]: both sides of a round saw the same
 * machine, so the ratio is steadier than a ratio of medians. */
double bench_paired_ratio(const double *a, const double *b, unsigned n);
/* Run gnuplot on `script`, which writes the plot `png`; a message and -1
 * when it fails (no gnuplot). */
int bench_gnuplot(const char *script, const char *png);

int bench_usage_error(nk_error *err, const char *option);
int bench_fail(nk_error *err);

/* Node 0's pool of one hugepage size, grown for a benchmark and put back
 * afterwards (also on SIGINT/SIGTERM). */
struct bench_pool {
	char path[256];
	uint64_t saved;
	bool changed;
};
int bench_pool_ensure(nk_host *host, struct bench_pool *pool, uint64_t size_kb, uint64_t bytes,
		      nk_error **err);
void bench_pool_restore(nk_host *host, struct bench_pool *pool);

int bench_prefault(int argc, char **argv);
int bench_ksm(int argc, char **argv);

#endif
