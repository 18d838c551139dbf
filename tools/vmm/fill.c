/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Guest content written from the host side: --load copies files into guest
 * RAM, --fill writes the same kinds of pages as the guest program would
 * (at host speed, where guest writes are slow), one thread per guest node's
 * share, each on the CPUs of the vCPU whose pages it writes.
 */
#include <fcntl.h>
#include <sched.h>
#include <time.h>

#include "pagegen.h"
#include "vmm.h"

int vmm_read_file(const char *what, const char *path, void *dst, uint64_t size, nk_error **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t done = 0;

	if (fd < 0)
		return nk_error_set(err, errno, "%s: cannot open '%s': %m", what, path);
	while (done < size) {
		ssize_t n = read(fd, (char *)dst + done, size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nk_error_set(err, errno, "%s: reading '%s': %m", what, path);
		if (n == 0)
			return nk_error_set(err, EIO, "%s: '%s' shrank while being read", what,
					    path);
		done += (uint64_t)n;
	}
	return 0;
}

int vmm_load_files(struct vmm *vmm, nk_error **err)
{
	for (size_t i = 0; i < vmm->cfg->n_loads; i++) {
		const struct vmm_load_cfg *l = &vmm->cfg->loads[i];
		char *dst = vmm_gpa_to_host(vmm, l->gpa, l->size_bytes);

		if (!dst)
			return nk_error_set(err, ERANGE, "--load %s: outside guest RAM", l->path);
		int r = vmm_read_file("--load", l->path, dst, l->size_bytes, err);
		if (r < 0)
			return r;
	}
	return 0;
}

struct fill_job {
	struct vmm *vmm;
	const struct nkg_work *work;
	const nk_bitmap *cpus;
	uint64_t pages;
	int error;
};

static void *fill_thread(void *arg)
{
	struct fill_job *job = arg;
	const struct nkg_content *c = &job->vmm->cfg->fill.content;

	if (job->cpus) {
		cpu_set_t set;
		CPU_ZERO(&set);
		for (int cpu = nk_bitmap_next(job->cpus, 0); cpu >= 0;
		     cpu = nk_bitmap_next(job->cpus, (unsigned)cpu + 1))
			if (cpu < CPU_SETSIZE)
				CPU_SET(cpu, &set);
		(void)sched_setaffinity(0, sizeof(set), &set); /* only a speed-up */
	}
	for (uint32_t r = 0; r < job->work->n_ranges; r++) {
		const struct nkg_range *range = &job->work->ranges[r];
		uint64_t *base =
		    vmm_gpa_to_host(job->vmm, range->gpa, range->pages * NKG_PAGE_SIZE);
		if (!base) {
			job->error = ERANGE;
			return NULL;
		}
		for (uint64_t p = 0; p < range->pages; p++) {
			uint64_t gfn = range->gpa / NKG_PAGE_SIZE + p, pbase;
			enum nk_pg_kind kind = nk_pg_page(c, gfn, 0, &pbase);
			uint64_t *page = base + p * NK_PG_WORDS;
			if (kind == NK_PG_ZERO)
				memset(page, 0, NKG_PAGE_SIZE);
			else
				nk_pg_fill(page, kind, pbase);
			job->pages++;
		}
	}
	return NULL;
}

int vmm_fill(struct vmm *vmm, nk_error **err)
{
	struct fill_job jobs[NKG_MAX_VCPUS] = {0};
	pthread_t threads[NKG_MAX_VCPUS];
	bool started[NKG_MAX_VCPUS] = {0};
	struct timespec t0, t1;
	int r = 0;

	if (!vmm->cfg->fill.set)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < vmm->n_vcpus; i++) {
		jobs[i] = (struct fill_job){
		    .vmm = vmm, .work = &vmm->layout.fill_work[i], .cpus = vmm->vcpus[i].cpus};
		if (!jobs[i].work->n_ranges)
			continue;
		int e = pthread_create(&threads[i], NULL, fill_thread, &jobs[i]);
		if (e) {
			r = nk_error_set(err, e, "--fill: cannot start a thread: %s", strerror(e));
			break;
		}
		started[i] = true;
	}
	vmm->fill_pages_written = 0;
	for (unsigned i = 0; i < vmm->n_vcpus; i++) {
		if (!started[i])
			continue;
		pthread_join(threads[i], NULL);
		vmm->fill_pages_written += jobs[i].pages;
		if (jobs[i].error && r == 0)
			r = nk_error_set(err, jobs[i].error,
					 "--fill: a range is outside guest RAM");
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	vmm->fill_seconds =
	    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return r;
}
