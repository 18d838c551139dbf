/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tuner's samples of the live host: KSM counters and knobs, ksmd's
 * CPU time, memory pressure, and the processes with mergeable memory
 * (/proc/PID/ksm_stat says which: ksm_mergeable, Linux 6.14).
 */
#include "tuner-internal.h"
#include "numaksm/proc.h"

#include <inttypes.h>
#include <time.h>

struct nk_tuner_sampler {
	nk_host *host;
	pid_t ksmd;
	bool kernel_flags; /* ksm_stat has ksm_mergeable */
	double scanned_at; /* time of the last process scan; < 0 before the first */
	uint64_t mergeable_bytes;
	unsigned mergeable_procs;
	struct nk_tuner_proc *procs;
	size_t n_procs;
};

static void procs_clear(nk_tuner_sampler *s)
{
	free(s->procs);
	s->procs = NULL;
	s->n_procs = 0;
}

_nk_export_ nk_tuner_sampler *nk_tuner_sampler_free(nk_tuner_sampler *sampler)
{
	if (sampler) {
		procs_clear(sampler);
		free(sampler);
	}
	return NULL;
}

_nk_export_ int nk_tuner_sampler_new(nk_host *host, nk_tuner_sampler **ret, nk_error **err)
{
	_cleanup_free_ char *own = NULL;
	struct nk_ksm probe;
	int r = nk_ksm_read(host, NK_KSM_BIT(NK_KSM_RUN), &probe, err);
	if (r < 0)
		return r;
	nk_tuner_sampler *s = calloc(1, sizeof(*s));
	if (!s)
		return nk_error_set(err, ENOMEM, "out of memory");
	s->host = host;
	s->scanned_at = -1;
	s->ksmd = -1;
	if (nk_host_read(host, "/proc/self/ksm_stat", &own, NULL) >= 0)
		s->kernel_flags = strstr(own, "ksm_mergeable") != NULL;
	*ret = s;
	return 0;
}

int psi_some_avg10(const char *text, double *ret)
{
	const char *p = strstr(text, "some ");
	if (!p || (p != text && p[-1] != '\n'))
		return -EINVAL;
	p = strstr(p, "avg10=");
	if (!p)
		return -EINVAL;
	char *end;
	errno = 0;
	double v = strtod(p + 6, &end);
	if (errno || end == p + 6 || (*end != ' ' && *end != '\n' && *end) || v < 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Every process whose memory KSM may merge, with its resident size. */
static int scan_processes(nk_tuner_sampler *s)
{
	_cleanup_free_ int *pids = NULL;
	long page = sysconf(_SC_PAGESIZE);
	int n = nk_proc_pids(s->host, &pids, NULL);
	if (n < 0)
		return n;
	procs_clear(s);
	s->mergeable_bytes = 0;
	s->mergeable_procs = 0;
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *text = NULL, *statm = NULL;
		_cleanup_free_ uint64_t *fields = NULL;
		struct nk_ksm_proc_stat st;

		if (nk_proc_read(s->host, pids[i], "ksm_stat", &text, NULL) < 0 ||
		    nk_ksm_parse_proc_stat(text, &st) < 0)
			continue; /* gone, or a kernel thread without an mm */
		bool mergeable =
		    st.has_merge_flags ? st.mergeable || st.merge_any : st.rmap_items > 0;
		if (!mergeable)
			continue;
		/* statm: size resident shared ... in pages */
		if (nk_proc_read(s->host, pids[i], "statm", &statm, NULL) < 0 ||
		    nk_parse_u64_array(statm, &fields) < 2)
			continue;
		uint64_t resident = fields[1];
		struct nk_tuner_proc *np = realloc(s->procs, (s->n_procs + 1) * sizeof(*np));
		if (!np)
			return -ENOMEM;
		s->procs = np;
		s->procs[s->n_procs] = (struct nk_tuner_proc){
		    .pid = (pid_t)pids[i],
		    .rss_bytes = resident * (uint64_t)page,
		};
		s->n_procs++;
		s->mergeable_bytes += resident * (uint64_t)page;
		s->mergeable_procs++;
	}
	return 0;
}

static double monotonic_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double ksmd_cpu_s(nk_tuner_sampler *s)
{
	struct nk_proc_cputime cpu;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (s->ksmd < 0 && nk_ksmd_find(s->host, &s->ksmd, NULL) < 0)
			return -1;
		if (nk_proc_cputime_read(s->host, s->ksmd, &cpu, NULL) == 0)
			return (double)cpu.run_ns / 1e9;
		s->ksmd = -1; /* gone (a captured tree, or a new ksmd): look again */
	}
	return -1;
}

_nk_export_ int nk_tuner_sample_read(nk_tuner_sampler *s, double process_scan_s,
				     struct nk_tuner_sample *ret, nk_error **err)
{
	struct nk_tuner_sample x = {.psi_some_avg10 = -1};
	_cleanup_free_ char *meminfo = NULL, *psi = NULL;

	x.time_s = monotonic_s();
	int r = nk_ksm_read(s->host, NK_KSM_ALL, &x.ksm, err);
	if (r < 0)
		return r;
	x.ksmd_cpu_s = ksmd_cpu_s(s);

	if (nk_host_read(s->host, "/proc/meminfo", &meminfo, NULL) >= 0) {
		nk_parse_meminfo(meminfo, "MemTotal", &x.mem_total_kb);
		nk_parse_meminfo(meminfo, "MemAvailable", &x.mem_available_kb);
	}
	if (nk_host_read(s->host, "/proc/pressure/memory", &psi, NULL) >= 0 &&
	    psi_some_avg10(psi, &x.psi_some_avg10) < 0)
		x.psi_some_avg10 = -1;

	if (s->scanned_at < 0 || x.time_s - s->scanned_at >= process_scan_s) {
		r = scan_processes(s);
		if (r < 0)
			return nk_error_set(err, -r, "cannot list the processes: %s", strerror(-r));
		s->scanned_at = x.time_s;
	}
	x.mergeable_bytes = s->mergeable_bytes;
	x.mergeable_procs = s->mergeable_procs;
	x.has_mergeable = s->kernel_flags;
	*ret = x;
	return 0;
}

_nk_export_ size_t nk_tuner_sampler_proc_count(const nk_tuner_sampler *sampler)
{
	return sampler->n_procs;
}

_nk_export_ const struct nk_tuner_proc *nk_tuner_sampler_proc(const nk_tuner_sampler *sampler,
							      size_t index)
{
	return index < sampler->n_procs ? &sampler->procs[index] : NULL;
}
