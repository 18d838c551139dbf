/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Parallel, node-local prefault.  Threads are pinned to the CPUs next to
 * the zone's nodes (as QEMU's thread-context does: about 2x faster than
 * unpinned threads on a 2-node host), take chunks from a shared counter,
 * and populate them with MADV_POPULATE_WRITE, which returns an error where
 * touching would raise SIGBUS.  Kernels without it get touched pages under
 * a per-thread SIGBUS guard.
 */
#include "basic.h"
#include "memory-internal.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define CHUNK_BYTES   (64ull << 20)
#define MAX_THREADS   16
#define PROGRESS_NSEC (100 * 1000 * 1000)

struct prefault_job {
	char *addr;
	uint64_t size;
	uint64_t page_size;
	uint64_t chunk;
	bool touch;
	const nk_bitmap *cpus;
	atomic_uint_fast64_t next; /* next chunk offset to take */
	atomic_uint_fast64_t done; /* bytes populated */
	atomic_bool stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned running;
	int error; /* first errno */
	uint64_t fail_offset;
};

unsigned nk_prefault_auto_threads(uint64_t size, unsigned ncpus)
{
	uint64_t by_size = size / CHUNK_BYTES;
	unsigned n = ncpus ? ncpus : 1;
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	if (by_size < n)
		n = by_size ? (unsigned)by_size : 1;
	return n;
}

/* ---- the touch fallback and its SIGBUS guard ------------------------ */

/* volatile: the compiler must not move these stores across the touches. */
static __thread sigjmp_buf *volatile touch_jmp;
static struct sigaction old_sigbus;
static pthread_mutex_t sigbus_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned sigbus_users;

static void sigbus_handler(int sig, siginfo_t *info, void *ctx)
{
	if (touch_jmp)
		siglongjmp(*touch_jmp, 1);
	/* Not ours (a machine check, say): hand it to whoever had it. */
	if (old_sigbus.sa_flags & SA_SIGINFO && old_sigbus.sa_sigaction) {
		old_sigbus.sa_sigaction(sig, info, ctx);
		return;
	}
	if (old_sigbus.sa_handler != SIG_DFL && old_sigbus.sa_handler != SIG_IGN) {
		old_sigbus.sa_handler(sig);
		return;
	}
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

static int sigbus_guard(bool on)
{
	int r = 0;
	pthread_mutex_lock(&sigbus_lock);
	if (on && sigbus_users++ == 0) {
		struct sigaction sa = {.sa_sigaction = sigbus_handler, .sa_flags = SA_SIGINFO};
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGBUS, &sa, &old_sigbus) < 0) {
			r = -errno;
			sigbus_users--;
		}
	} else if (!on && --sigbus_users == 0) {
		sigaction(SIGBUS, &old_sigbus, NULL);
	}
	pthread_mutex_unlock(&sigbus_lock);
	return r;
}

static int touch_range(char *start, uint64_t len, uint64_t page_size, uint64_t *ret_fail)
{
	sigjmp_buf jb;
	volatile uint64_t off = 0;

	if (sigsetjmp(jb, 1)) {
		touch_jmp = NULL;
		*ret_fail = off;
		return -EFAULT;
	}
	touch_jmp = &jb;
	for (; off < len; off += page_size) {
		/* Read then write keeps content a re-prefault must not lose. */
		volatile char *p = start + off;
		*p = *p;
	}
	touch_jmp = NULL;
	return 0;
}

/* ---- workers --------------------------------------------------------- */

static void *prefault_worker(void *arg)
{
	struct prefault_job *job = arg;

	if (job->cpus) {
		cpu_set_t set;
		CPU_ZERO(&set);
		nk_bitmap_foreach (cpu, job->cpus) {
			if (cpu < CPU_SETSIZE)
				CPU_SET(cpu, &set);
		}
		/* Best effort: a CPU taken offline meanwhile only costs locality. */
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			nk_debug("prefault: cannot pin a thread to the zone's CPUs");
	}
	while (!atomic_load(&job->stop)) {
		uint64_t off = atomic_fetch_add(&job->next, job->chunk);
		if (off >= job->size)
			break;
		uint64_t len = job->size - off < job->chunk ? job->size - off : job->chunk;
		int r = 0;
		uint64_t fail = 0;
		if (job->touch) {
			r = touch_range(job->addr + off, len, job->page_size, &fail);
		} else if (madvise(job->addr + off, len, MADV_POPULATE_WRITE) < 0) {
			r = -errno;
			fail = 0;
		}
		if (r < 0) {
			pthread_mutex_lock(&job->lock);
			if (!job->error) {
				job->error = -r;
				job->fail_offset = off + fail;
			}
			pthread_mutex_unlock(&job->lock);
			atomic_store(&job->stop, true);
			break;
		}
		atomic_fetch_add(&job->done, len);
	}
	pthread_mutex_lock(&job->lock);
	job->running--;
	pthread_cond_signal(&job->cond);
	pthread_mutex_unlock(&job->lock);
	return NULL;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int nk_prefault_range(void *addr, uint64_t size, uint64_t page_size, unsigned threads,
		      const nk_bitmap *cpus, bool force_touch, nk_progress_fn progress,
		      void *userdata, struct nk_prefault_stats *ret_stats,
		      uint64_t *ret_fail_offset)
{
	struct prefault_job job = {
	    .addr = addr,
	    .size = size,
	    .page_size = page_size,
	    .touch = force_touch,
	    .cpus = cpus && nk_bitmap_weight(cpus) ? cpus : NULL,
	};
	pthread_t tids[MAX_THREADS];
	unsigned started = 0;
	int r = 0;

	if (!job.touch) {
		/* Probe on the zone's first page: some mappings cannot populate. */
		if (madvise(addr, page_size, MADV_POPULATE_WRITE) < 0) {
			if (errno == EINVAL || errno == EPERM)
				job.touch = true;
			else {
				*ret_fail_offset = 0;
				return -errno;
			}
		}
	}
	if (threads == 0)
		threads = nk_prefault_auto_threads(
		    size, job.cpus ? nk_bitmap_weight(job.cpus)
				   : (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	/* Chunks: a few per thread to balance them, at most 64 MiB, whole pages. */
	job.chunk = size / ((uint64_t)threads * 4);
	if (job.chunk > CHUNK_BYTES)
		job.chunk = CHUNK_BYTES;
	job.chunk = job.chunk / page_size * page_size;
	if (job.chunk < page_size)
		job.chunk = page_size;

	if (job.touch && (r = sigbus_guard(true)) < 0)
		return r;
	pthread_mutex_init(&job.lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&job.cond, &ca);
	pthread_condattr_destroy(&ca);

	double t0 = now_seconds();
	job.running = threads;
	for (; started < threads; started++) {
		int e = pthread_create(&tids[started], NULL, prefault_worker, &job);
		if (e) {
			pthread_mutex_lock(&job.lock);
			job.running -= threads - started;
			if (!job.error && started == 0)
				job.error = e;
			pthread_mutex_unlock(&job.lock);
			break;
		}
	}
	/* Report progress from the caller's thread while the workers run. */
	pthread_mutex_lock(&job.lock);
	while (job.running > 0) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += PROGRESS_NSEC;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&job.cond, &job.lock, &ts);
		if (progress && job.running > 0) {
			pthread_mutex_unlock(&job.lock);
			progress(atomic_load(&job.done), size, userdata);
			pthread_mutex_lock(&job.lock);
		}
	}
	pthread_mutex_unlock(&job.lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	double t1 = now_seconds();
	if (job.touch)
		sigbus_guard(false);
	pthread_cond_destroy(&job.cond);
	pthread_mutex_destroy(&job.lock);

	if (job.error) {
		*ret_fail_offset = job.fail_offset;
		return -job.error;
	}
	if (progress)
		progress(size, size, userdata);
	if (ret_stats) {
		ret_stats->threads = started;
		ret_stats->populate_write = !job.touch;
		ret_stats->seconds = t1 - t0;
	}
	return 0;
}
