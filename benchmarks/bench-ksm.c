/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm-bench ksm: one fleet, the same content, KSM driven by each
 * strategy in turn:
 *   defaults  the kernel's defaults, 100 pages every 20 ms
 *   ksmtuned  Debian's ksmtuned, with KSM_THRES_COEF=100 so it always runs,
 *             told of the new VMs with SIGUSR1 as libvirt does
 *   advisor   the kernel's scan-time advisor (advisor_mode=scan-time)
 *   numaksm   numaksm's tuner (numaksm tuned), default policy
 * For each: the time to 50/90/95% of the saving the content allows, the
 * final saving, ksmd's CPU time to 95% and over a window after that,
 * saving per CPU-second.  Between strategies the fleet is stopped, KSM
 * unmerges everything (run=2), the knobs go back to what they were, and the
 * same content is created again.  The knobs are restored at the end, and
 * on SIGINT, SIGTERM and SIGHUP; after a SIGKILL, `numaksm ksm restore`.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <numaksm/ksm.h>
#include <numaksm/proc.h>
#include <numaksm/policy.h>

#include "bench-ksm.h"
#include "bench.h"

enum strategy { S_DEFAULTS, S_KSMTUNED, S_ADVISOR, S_NUMAKSM, N_STRATEGIES };
static const char *const strategy_names[] = {"defaults", "ksmtuned", "advisor", "numaksm"};

struct options {
	struct fleet_config fleet;
	double window_s, limit_s;
	unsigned rounds;
	unsigned retries;    /* runs again a strategy disturbed from outside */
	unsigned strategies; /* bit per enum strategy */
	const char *out_dir, *ksmtuned, *numaksm;
	char budget[16];
	char **attach; /* --attach: the running VMs that are the fleet */
	unsigned n_attach;
	char scratch[64];  /* pidfile, config and runtime directory of the controllers */
	char command[512]; /* how it was run, for the report */
	bool quick;
};

struct row {
	double t, saving, host_saving, ksmd_cpu, controller_cpu;
	uint64_t run, pages_to_scan, sleep_ms, full_scans;
	bool advisor;
};

struct result {
	enum strategy s;
	unsigned round;
	struct row *rows;
	size_t n_rows;
	double t50, t90, t95; /* < 0: not reached */
	double cpu95, window_cpu, final_saving, total_cpu, controller_cpu;
	/* numaksm estimate on the fleet before the strategy started, every
	 * content kept and 1 in SAMPLED kept: the saving it predicts (pages)
	 * and its CPU-seconds; < 0 when it failed. */
	double est_saving, est_cpu, est_sampled_saving, est_sampled_cpu;
	unsigned other_procs; /* mergeable processes besides the fleet */
	double disturbed_at;  /* when KSM was changed from outside; < 0 never */
	char disturbance[128];
	unsigned attempts;
};

/* The knobs a strategy may change: saved before the first write, put back
 * between strategies and at the end (nk_ksm_own()). */
#define BENCH_KNOBS                                                                                \
	(NK_KSM_BIT(NK_KSM_RUN) | NK_KSM_BIT(NK_KSM_PAGES_TO_SCAN) |                               \
	 NK_KSM_BIT(NK_KSM_SLEEP_MILLISECS) | NK_KSM_BIT(NK_KSM_ADVISOR_MODE))

static volatile sig_atomic_t interrupted;
static nk_ksm_owner *owner; /* NULL while numaksm's tuner owns the knobs */
static struct nk_ksm saved_knobs;
static nk_host *host;

static void on_signal(int sig)
{
	interrupted = sig;
}

/* ---- KSM knobs ------------------------------------------------------ */

static int set_knobs(const char *const *assignments, nk_error **err)
{
	struct nk_ksm want = {0}, have;
	int r = nk_ksm_read(host, NK_KSM_KNOBS, &have, err);
	for (; r >= 0 && *assignments; assignments++) {
		struct nk_ksm one = {0};
		r = nk_ksm_parse(*assignments, &one, err);
		if (r >= 0 && (one.mask & have.mask)) /* skip knobs this kernel lacks */
			r = nk_ksm_parse(*assignments, &want, err);
	}
	return r < 0 ? r : nk_ksm_apply(host, &want, 0, NULL, err);
}

/* Unmerge everything and put the knobs back as they were found. */
static int reset_ksm(nk_error **err)
{
	static const char *const unmerge[] = {"advisor_mode=none", "run=2", NULL};
	int r = set_knobs(unmerge, err);
	if (r < 0)
		return r;
	return nk_ksm_apply(host, &saved_knobs, 0, NULL, err);
}

/* ---- controllers ----------------------------------------------------- */

struct controller {
	pid_t pid;  /* whose CPU time counts as the controller's */
	pid_t pgid; /* process group to stop; 0 for none */
};

static int wait_pidfile(const char *path, pid_t *ret)
{
	for (int i = 0; i < 100; i++) {
		char buf[32] = {0};
		long long pid;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n > 0 && nk_parse_int(buf, 1, INT32_MAX, &pid, NULL) == 0) {
				*ret = (pid_t)pid;
				return 0;
			}
		}
		usleep(50000);
	}
	return -ETIMEDOUT;
}

/* ksmtuned sleeps before its first adjustment; libvirt wakes it with
 * SIGUSR1 when a guest starts, and so does the benchmark once the loop
 * is waiting (its SIGUSR1 trap is set by then). */
static int start_ksmtuned(const struct options *o, struct controller *ret, nk_error **err)
{
	char pidfile[512], logfile[512];
	snprintf(pidfile, sizeof(pidfile), "%s/ksmtuned.pid", o->scratch);
	snprintf(logfile, sizeof(logfile), "%s/ksmtuned.log", o->out_dir);
	unlink(pidfile);
	unlink(logfile); /* the log of the run the results come from */
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		setenv("KSM_THRES_COEF", "100", 1);
		setenv("PIDFILE", pidfile, 1);
		setenv("DEBUG", "1", 1);
		setenv("LOGFILE", logfile, 1);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		execl(o->ksmtuned, o->ksmtuned, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return nk_error_set(err, errno, "fork: %s", strerror(errno));
	int status;
	waitpid(pid, &status, 0);
	pid_t loop;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || wait_pidfile(pidfile, &loop) < 0)
		return nk_error_set(err, EIO, "%s did not start (exit status %d)", o->ksmtuned,
				    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	char children[64], buf[64];
	snprintf(children, sizeof(children), "/proc/%d/task/%d/children", (int)loop, (int)loop);
	for (int i = 0; i < 100; i++) {
		int fd = open(children, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0)
			break;
		usleep(20000);
	}
	kill(loop, SIGUSR1);
	*ret = (struct controller){.pid = loop, .pgid = pid};
	return 0;
}

static int start_numaksm(const struct options *o, struct controller *ret, nk_error **err)
{
	char conf[512], log[512], run[512], text[128];
	snprintf(conf, sizeof(conf), "%s/numaksm.conf", o->scratch);
	snprintf(log, sizeof(log), "%s/numaksm-tuned.log", o->out_dir);
	snprintf(run, sizeof(run), "%s/run", o->scratch);
	unlink(log); /* the log of the run the results come from */
	snprintf(text, sizeof(text), "[ksm]\ncpu_budget = %s\n", o->budget);
	FILE *f = fopen(conf, "we");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		return nk_error_set(err, errno, "cannot write %s: %s", conf, strerror(errno));
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		setenv("NUMAKSM_RUNTIME_DIR", run, 1);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_DFL);
		execl(o->numaksm, o->numaksm, "tuned", "--config", conf, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return nk_error_set(err, errno, "fork: %s", strerror(errno));
	*ret = (struct controller){.pid = pid, .pgid = pid};
	return 0;
}

static int start_strategy(enum strategy s, const struct options *o, struct controller *ret,
			  nk_error **err)
{
	static const char *const defaults[] = {"advisor_mode=none", "pages_to_scan=100",
					       "sleep_millisecs=20", "run=1", NULL};
	static const char *const stopped[] = {"advisor_mode=none", "pages_to_scan=100",
					      "sleep_millisecs=20", "run=0", NULL};
	static const char *const advisor[] = {"advisor_mode=scan-time", "run=1", NULL};
	*ret = (struct controller){0};
	switch (s) {
	case S_DEFAULTS:
		return set_knobs(defaults, err);
	case S_KSMTUNED:
		return set_knobs(stopped, err) < 0 ? -EIO : start_ksmtuned(o, ret, err);
	case S_ADVISOR:
		return set_knobs(stopped, err) < 0 ? -EIO : set_knobs(advisor, err);
	case S_NUMAKSM:
		if (set_knobs(stopped, err) < 0)
			return -EIO;
		/* The tuner owns the knobs while it runs (and puts back these,
		 * should the benchmark be killed meanwhile). */
		nk_ksm_owner_release(owner, false, NULL);
		owner = NULL;
		return start_numaksm(o, ret, err);
	default:
		return -EINVAL;
	}
}

static void stop_controller(struct controller *c)
{
	if (c->pgid <= 0)
		return;
	kill(-c->pgid, SIGTERM);
	/* numaksm restores the knobs before it exits: wait for it. */
	for (int i = 0; i < 200; i++) {
		pid_t r = waitpid(-c->pgid, NULL, WNOHANG);
		if (r < 0 && errno == ECHILD)
			break;
		if (r == 0)
			usleep(50000);
	}
	kill(-c->pgid, SIGKILL);
	while (waitpid(-c->pgid, NULL, 0) > 0)
		;
	c->pgid = 0;
	/* The knobs are the benchmark's again, with the originals to restore. */
	nk_error *e = NULL;
	if (!owner && (nk_ksm_own(host, NULL, "numaksm-bench ksm", 0, &owner, &e) < 0 ||
		       nk_ksm_owner_save_as(owner, &saved_knobs, &e) < 0)) {
		fprintf(stderr, "numaksm-bench: %s\n", e ? nk_error_message(e) : "?");
		interrupted = SIGTERM;
	}
	nk_error_free(e);
}

/* ---- sampling -------------------------------------------------------- */

static double cputime_s(pid_t pid, bool children)
{
	struct nk_proc_cputime c;
	if (pid <= 0 || nk_proc_cputime_read(host, pid, &c, NULL) < 0)
		return 0;
	return (double)(c.run_ns + (children ? c.children_ns : 0)) / 1e9;
}

/* One sample: the fleet's own saving (exact, from the pagemaps), the
 * host's, ksmd's and the controller's CPU time, the knobs. */
static int take_row(struct fleet *f, pid_t ksmd, const struct controller *ctl, double t0,
		    struct row *ret)
{
	struct nk_ksm c;
	int r = nk_ksm_read(host, NK_KSM_ALL, &c, NULL);
	if (r < 0)
		return r;
	int64_t saved = fleet_saved_pages(f);
	if (saved < 0)
		return (int)saved;
	*ret =
	    (struct row){.t = bench_now() - t0,
			 .saving = (double)saved,
			 .host_saving = (double)nk_ksm_saved_pages(&c),
			 .run = nk_ksm_get(&c, NK_KSM_RUN),
			 .pages_to_scan = nk_ksm_get(&c, NK_KSM_PAGES_TO_SCAN),
			 .sleep_ms = nk_ksm_get(&c, NK_KSM_SLEEP_MILLISECS),
			 .advisor = nk_ksm_get(&c, NK_KSM_ADVISOR_MODE) == NK_KSM_ADVISOR_SCAN_TIME,
			 .full_scans = nk_ksm_get(&c, NK_KSM_FULL_SCANS),
			 .ksmd_cpu = cputime_s(ksmd, false),
			 .controller_cpu = cputime_s(ctl->pid, true)};
	return 0;
}

/* The processes besides the fleet whose memory KSM may merge (another
 * engineer's QEMU guest, say): how many, and their resident memory. */
struct others {
	unsigned n;
	uint64_t bytes;
};

static void find_others(nk_tuner_sampler *s, const struct fleet *f, struct others *ret)
{
	struct nk_tuner_sample x;
	*ret = (struct others){0};
	if (nk_tuner_sample_read(s, 0, &x, NULL) < 0)
		return;
	for (size_t i = 0; i < nk_tuner_sampler_proc_count(s); i++) {
		const struct nk_tuner_proc *p = nk_tuner_sampler_proc(s, i);
		bool ours = false;
		for (unsigned k = 0; k < f->n; k++)
			ours |= p->pid == f->pids[k];
		if (!ours) {
			ret->n++;
			ret->bytes += p->rss_bytes;
		}
	}
}

/* Before running a disturbed strategy again: wait until the other
 * mergeable processes have neither grown nor appeared for QUIET_S (a VM
 * booting grows for a while), at most QUIET_MAX_S. */
#define QUIET_S	    30
#define QUIET_MAX_S 900

static void wait_quiet(void)
{
	struct fleet none = {0};
	struct others was, now;
	nk_tuner_sampler *s = NULL;
	if (nk_tuner_sampler_new(host, &s, NULL) < 0)
		return;
	find_others(s, &none, &was);
	double start = bench_now(), quiet_since = start;
	fprintf(stderr,
		"numaksm-bench: waiting for other programs to leave KSM alone "
		"(%u mergeable processes of %" PRIu64 " MiB)...\n",
		was.n, was.bytes >> 20);
	while (!interrupted && bench_now() - quiet_since < QUIET_S &&
	       bench_now() - start < QUIET_MAX_S) {
		sleep(2);
		find_others(s, &none, &now);
		if (now.n > was.n || now.bytes > was.bytes + (8u << 20))
			quiet_since = bench_now();
		was = now;
	}
	nk_tuner_sampler_free(s);
}

/* Time at which column `saving` first reaches `level`, interpolated. */
static double crossing(const struct result *res, double level)
{
	for (size_t i = 0; i < res->n_rows; i++) {
		const struct row *b = &res->rows[i];
		if (b->saving < level)
			continue;
		if (i == 0)
			return b->t;
		const struct row *a = &res->rows[i - 1];
		return a->t + (b->t - a->t) * (level - a->saving) / (b->saving - a->saving);
	}
	return -1;
}

static double cpu_at(const struct result *res, double t)
{
	for (size_t i = 1; i < res->n_rows; i++) {
		const struct row *a = &res->rows[i - 1], *b = &res->rows[i];
		if (b->t >= t)
			return a->ksmd_cpu +
			       (b->ksmd_cpu - a->ksmd_cpu) * (t - a->t) / (b->t - a->t);
	}
	return res->n_rows ? res->rows[res->n_rows - 1].ksmd_cpu : 0;
}

static void progress(const struct result *res, const struct row *w, double achievable,
		     unsigned index, unsigned total)
{
	static double last_line;
	bool tty = isatty(2);
	if (!tty && w->t - last_line < 15 && w->t >= last_line)
		return;
	last_line = w->t;
	fprintf(stderr,
		"%s[%u/%u %-8s] t=%6.1fs saving %7.1f MiB (%5.1f%%) ksmd %6.2f CPU-s "
		"pages_to_scan %-6" PRIu64 " sleep %" PRIu64 " ms%s",
		tty ? "\r" : "", index, total, strategy_names[res->s], w->t,
		w->saving * 4096 / 1048576, 100 * w->saving / achievable, w->ksmd_cpu,
		w->pages_to_scan, w->sleep_ms, tty ? "   " : "\n");
}

/* Knobs no strategy would set mean another program wrote them (a test
 * setting sleep_millisecs=0, say): says what, or NULL when they fit. */
static const char *foreign_knobs(enum strategy s, const struct row *w, char *buf, size_t size)
{
	bool ok = true;
	switch (s) {
	case S_DEFAULTS:
		ok = w->run == 1 && !w->advisor && w->pages_to_scan == 100 && w->sleep_ms == 20;
		break;
	case S_ADVISOR:
		ok = w->run == 1 && w->advisor && w->sleep_ms == 20;
		break;
	case S_KSMTUNED:
		/* Its own sleep is 10 ms or more; 20 ms and run=0 before it first adjusts. */
		ok = !w->advisor && w->sleep_ms >= 10 && w->run <= 1 &&
		     ((w->pages_to_scan >= 64 && w->pages_to_scan <= 1250) ||
		      w->pages_to_scan == 100);
		break;
	case S_NUMAKSM:
		ok = !w->advisor && w->run <= 1 && (w->sleep_ms == 20 || w->sleep_ms == 1000);
		break;
	default:
		break;
	}
	if (ok)
		return NULL;
	snprintf(buf, size,
		 "run=%" PRIu64 " pages_to_scan=%" PRIu64 " sleep_millisecs=%" PRIu64 " advisor=%s",
		 w->run, w->pages_to_scan, w->sleep_ms, w->advisor ? "scan-time" : "none");
	return buf;
}

struct bench {
	struct options o;
	struct fleet_image image;
	double achievable;     /* pages */
	struct fleet attached; /* with --attach */
	pid_t ksmd;
	unsigned runs, run_index;
};

/* Sampling period: fine while savings move fast, coarser later. */
static double period_at(const struct options *o, double t)
{
	return o->quick || t < 30 ? 0.25 : t < 120 ? 1 : 2;
}

static void nap_until(double when)
{
	while (!interrupted) {
		double left = when - bench_now();
		if (left <= 0)
			return;
		struct timespec ts = {.tv_sec = (time_t)left,
				      .tv_nsec = (long)((left - (double)(time_t)left) * 1e9)};
		nanosleep(&ts, NULL);
	}
}

/* `numaksm estimate PID... --json` on the fleet, before KSM has merged a
 * page: the saving it predicts with merge_across_nodes=1, in pages, and the
 * CPU-seconds it took (its rusage).  -1 for both when it fails. */
#define SAMPLED "16"

static void run_estimate(const struct options *o, const struct fleet *f, const char *sample,
			 double *ret_pages, double *ret_cpu)
{
	char **argv = calloc(f->n + 8, sizeof(*argv)); /* NULL-terminated */
	char(*pids)[16] = calloc(f->n, sizeof(*pids));
	int fds[2] = {-1, -1}, status;
	struct rusage ru;
	*ret_pages = *ret_cpu = -1;
	if (!argv || !pids || pipe(fds) < 0)
		goto out;
	argv[0] = (char *)o->numaksm;
	argv[1] = (char *)"estimate";
	for (unsigned i = 0; i < f->n; i++) {
		snprintf(pids[i], sizeof(pids[i]), "%d", f->pids[i]);
		argv[2 + i] = pids[i];
	}
	argv[2 + f->n] = (char *)"--cpu-budget";
	argv[3 + f->n] = (char *)"1";
	argv[4 + f->n] = (char *)"--json";
	argv[5 + f->n] = (char *)"--sample";
	argv[6 + f->n] = (char *)sample;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		execv(o->numaksm, argv);
		_exit(127);
	}
	close(fds[1]);
	fds[1] = -1;
	char *text = NULL;
	size_t len = 0;
	FILE *in = pid > 0 ? fdopen(fds[0], "r") : NULL;
	if (in) {
		fds[0] = -1;
		char buf[4096];
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
			char *t = realloc(text, len + n + 1);
			if (!t)
				break;
			text = t;
			memcpy(text + len, buf, n);
			len += n;
			text[len] = '\0';
		}
		fclose(in);
	}
	if (pid > 0 && wait4(pid, &status, 0, &ru) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0 && text) {
		json_object *doc = json_tokener_parse(text), *m, *saved;
		if (doc && json_object_object_get_ex(doc, "merge_across_nodes", &m) &&
		    json_object_object_get_ex(m, "saved_bytes", &saved)) {
			*ret_pages = (double)json_object_get_int64(saved) / 4096.0;
			*ret_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
				   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		}
		json_object_put(doc);
	}
	free(text);
out:
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(argv);
	free(pids);
}

static int run_strategy(struct bench *b, struct result *res, nk_error **err)
{
	const struct options *o = &b->o;
	struct fleet own = {0}, *fleet = o->n_attach ? &b->attached : &own;
	struct controller ctl = {0};
	size_t cap = 512;
	int r;

	r = reset_ksm(err);
	if (r >= 0)
		r = o->n_attach ? 0 : fleet_start(&o->fleet, &b->image, &own, err);
	if (r < 0)
		return r;
	nk_tuner_sampler *procs = NULL;
	struct others others0 = {0}, others;
	if (nk_tuner_sampler_new(host, &procs, err) < 0) {
		fleet_stop(&own);
		return -ENOTSUP;
	}
	find_others(procs, fleet, &others0);
	res->other_procs = others0.n;
	double others_at = 0;
	res->rows = malloc(cap * sizeof(*res->rows));
	res->t50 = res->t90 = res->t95 = res->disturbed_at = -1;
	if (!res->rows) {
		fleet_stop(&own);
		return nk_error_set(err, ENOMEM, "out of memory");
	}
	run_estimate(o, fleet, "1", &res->est_saving, &res->est_cpu);
	run_estimate(o, fleet, SAMPLED, &res->est_sampled_saving, &res->est_sampled_cpu);
	double t0 = bench_now();
	double cpu0 = cputime_s(b->ksmd, false);
	r = start_strategy(res->s, o, &ctl, err);
	for (double next = t0; r >= 0 && !interrupted;) {
		struct row w;
		nap_until(next);
		if (interrupted || take_row(fleet, b->ksmd, &ctl, t0, &w) < 0)
			break;
		w.ksmd_cpu -= cpu0;
		if (res->n_rows == cap) {
			struct row *nr = realloc(res->rows, (cap *= 2) * sizeof(*nr));
			if (!nr)
				break;
			res->rows = nr;
		}
		/* No strategy unmerges, and each sets knobs of its own: a fall of
		 * the saving or strange knobs mean another program changed KSM. */
		char what[128];
		if (res->disturbed_at < 0 && res->n_rows &&
		    w.saving < res->rows[res->n_rows - 1].saving - 0.02 * b->achievable) {
			res->disturbed_at = w.t;
			snprintf(res->disturbance, sizeof(res->disturbance), "the saving fell");
		}
		if (res->disturbed_at < 0 && w.t > 0.5 &&
		    foreign_knobs(res->s, &w, what, sizeof(what))) {
			res->disturbed_at = w.t;
			snprintf(res->disturbance, sizeof(res->disturbance), "%s", what);
		}
		/* A VM starting beside the fleet gives KSM (and a tuner) new work. */
		if (res->disturbed_at < 0 && w.t - others_at >= 2) {
			others_at = w.t;
			find_others(procs, fleet, &others);
			if (others.n > others0.n || others.bytes > others0.bytes + (32u << 20)) {
				res->disturbed_at = w.t;
				snprintf(
				    res->disturbance, sizeof(res->disturbance),
				    "other mergeable processes: %u of %" PRIu64 " MiB, were %u of "
				    "%" PRIu64 " MiB",
				    others.n, others.bytes >> 20, others0.n, others0.bytes >> 20);
			}
		}
		if (res->disturbed_at >= 0 && o->retries > res->attempts)
			break; /* no use going on: it is run again */
		res->rows[res->n_rows++] = w;
		progress(res, &w, b->achievable, b->run_index, b->runs);
		if (res->t95 < 0 && w.saving >= 0.95 * b->achievable)
			res->t95 = crossing(res, 0.95 * b->achievable);
		/* The window follows 95%, or the time limit when 95% never comes. */
		double start = res->t95 >= 0 ? res->t95 : o->limit_s;
		if (w.t >= start + o->window_s)
			break;
		next = t0 + w.t + period_at(o, w.t);
	}
	if (isatty(2))
		fputc('\n', stderr);
	if (res->n_rows) {
		const struct row *last = &res->rows[res->n_rows - 1];
		res->controller_cpu = last->controller_cpu;
		res->final_saving = last->saving;
		res->total_cpu = last->ksmd_cpu;
	}
	stop_controller(&ctl);
	fleet_stop(&own);
	nk_tuner_sampler_free(procs);
	if (r < 0)
		return r;
	res->t50 = crossing(res, 0.5 * b->achievable);
	res->t90 = crossing(res, 0.9 * b->achievable);
	res->t95 = crossing(res, 0.95 * b->achievable);
	double start = res->t95 >= 0 ? res->t95 : o->limit_s;
	res->cpu95 = res->t95 >= 0 ? cpu_at(res, res->t95) : -1;
	res->window_cpu = res->total_cpu - cpu_at(res, start);
	return interrupted ? -EINTR : 0;
}

/* ---- the report ------------------------------------------------------ */

static double median_of(struct result *const *rs, unsigned n, double (*get)(const struct result *))
{
	double v[64];
	unsigned k = 0;
	for (unsigned i = 0; i < n && k < 64; i++)
		if (get(rs[i]) >= 0)
			v[k++] = get(rs[i]);
	return k == n ? bench_median(v, k) : -1; /* not reached in some round */
}

#define GETTER(field)                                                                              \
	static double get_##field(const struct result *r)                                          \
	{                                                                                          \
		return r->field;                                                                   \
	}
GETTER(t50)
GETTER(t90)
GETTER(t95)
GETTER(cpu95)
GETTER(window_cpu)
GETTER(final_saving)
GETTER(total_cpu)
GETTER(controller_cpu)
GETTER(est_saving)
GETTER(est_cpu)
GETTER(est_sampled_saving)
GETTER(est_sampled_cpu)

struct summary {
	double t50, t90, t95, cpu95, window_cpu, final_saving, total_cpu, controller_cpu;
	double est_saving, est_cpu, est_sampled_saving, est_sampled_cpu;
	bool ran;
};

static void summarize(struct result *const *rs, unsigned n, struct summary *ret)
{
	*ret = (struct summary){
	    .t50 = median_of(rs, n, get_t50),
	    .t90 = median_of(rs, n, get_t90),
	    .t95 = median_of(rs, n, get_t95),
	    .cpu95 = median_of(rs, n, get_cpu95),
	    .window_cpu = median_of(rs, n, get_window_cpu),
	    .final_saving = median_of(rs, n, get_final_saving),
	    .total_cpu = median_of(rs, n, get_total_cpu),
	    .controller_cpu = median_of(rs, n, get_controller_cpu),
	    .est_saving = median_of(rs, n, get_est_saving),
	    .est_cpu = median_of(rs, n, get_est_cpu),
	    .est_sampled_saving = median_of(rs, n, get_est_sampled_saving),
	    .est_sampled_cpu = median_of(rs, n, get_est_sampled_cpu),
	    .ran = n > 0,
	};
}

static const char *seconds_text(double v, double limit, char *buf, size_t size)
{
	if (v < 0)
		snprintf(buf, size, "> %.0f", limit);
	else
		snprintf(buf, size, "%.1f", v);
	return buf;
}

static void write_table(FILE *f, const struct bench *b, const struct summary *sum)
{
	const double mib = 4096.0 / 1048576;
	fprintf(f,
		"| strategy | t50 (s) | t90 (s) | t95 (s) | final saving | ksmd CPU-s to 95%% | "
		"ksmd CPU-s in %.0f s window | MiB saved per ksmd CPU-s | controller CPU-s |\n",
		b->o.window_s);
	fprintf(f, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int s = 0; s < N_STRATEGIES; s++) {
		const struct summary *x = &sum[s];
		char t50[32], t90[32], t95[32], cpu95[32] = "-", ctl[32] = "-";
		if (!x->ran)
			continue;
		seconds_text(x->t50, b->o.limit_s, t50, sizeof(t50));
		seconds_text(x->t90, b->o.limit_s, t90, sizeof(t90));
		seconds_text(x->t95, b->o.limit_s, t95, sizeof(t95));
		if (x->cpu95 >= 0)
			snprintf(cpu95, sizeof(cpu95), "%.2f", x->cpu95);
		if (s == S_KSMTUNED || s == S_NUMAKSM)
			snprintf(ctl, sizeof(ctl), "%.2f", x->controller_cpu);
		fprintf(f, "| %s | %s | %s | %s | %.0f MiB (%.1f%%) | %s | %.2f | %.0f | %s |\n",
			strategy_names[s], t50, t90, t95, x->final_saving * mib,
			100 * x->final_saving / b->achievable, cpu95, x->window_cpu,
			x->total_cpu > 0 ? x->final_saving * mib / x->total_cpu : 0, ctl);
	}
}

/* numaksm estimate, run on the fleet before each strategy: what it
 * predicted against what KSM reached, and its CPU against ksmd's to 95%. */
static void write_estimate(FILE *f, const struct bench *b, const struct summary *sum)
{
	const double mib = 4096.0 / 1048576;
	bool any = false;
	for (int s = 0; s < N_STRATEGIES; s++)
		any |= sum[s].ran && sum[s].est_saving >= 0;
	if (!any) {
		fprintf(f, "\nnumaksm estimate: did not run (%s estimate failed)\n", b->o.numaksm);
		return;
	}
	fprintf(f,
		"\nnumaksm estimate before each strategy (%s estimate PID... --cpu-budget 1 "
		"--sample 1|" SAMPLED "): "
		"predicted against the final saving, its CPU against ksmd's to 95%% "
		"(targets: within 5%%, under 10%%):\n\n",
		b->o.numaksm);
	fprintf(f, "| strategy | sample | predicted | final saving | predicted / final | estimate "
		   "CPU-s | ksmd CPU-s to 95%% | estimate / ksmd |\n"
		   "|---|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int s = 0; s < N_STRATEGIES; s++) {
		const struct summary *x = &sum[s];
		const struct {
			const char *sample;
			double saving, cpu;
		} rows[] = {{"1", x->est_saving, x->est_cpu},
			    {"1/" SAMPLED, x->est_sampled_saving, x->est_sampled_cpu}};
		for (size_t k = 0; x->ran && k < 2; k++) {
			char cpu95[32] = "-", ratio[32] = "-";
			if (rows[k].saving < 0)
				continue;
			if (x->cpu95 > 0) {
				snprintf(cpu95, sizeof(cpu95), "%.2f", x->cpu95);
				snprintf(ratio, sizeof(ratio), "%.1f%%",
					 100 * rows[k].cpu / x->cpu95);
			}
			fprintf(f, "| %s | %s | %.1f MiB | %.1f MiB | %.3f | %.2f | %s | %s |\n",
				strategy_names[s], rows[k].sample, rows[k].saving * mib,
				x->final_saving * mib,
				x->final_saving > 0 ? rows[k].saving / x->final_saving : 0,
				rows[k].cpu, cpu95, ratio);
		}
	}
	fprintf(f,
		"\nAgainst the saving the content allows (%.1f MiB): predicted / achievable "
		"%.4f.\n",
		b->achievable * mib,
		sum[S_NUMAKSM].ran ? sum[S_NUMAKSM].est_saving / b->achievable
				   : sum[S_DEFAULTS].est_saving / b->achievable);
}

/* The three targets of the issue, measured. */
static void write_targets(FILE *f, const struct summary *sum)
{
	const struct summary *n = &sum[S_NUMAKSM];
	int best95 = -1, bestsave = -1;
	double min_other_window = -1;
	if (!n->ran)
		return;
	for (int s = 0; s < N_STRATEGIES; s++) {
		if (!sum[s].ran)
			continue;
		if (bestsave < 0 || sum[s].final_saving > sum[bestsave].final_saving)
			bestsave = s;
		if (s == S_NUMAKSM)
			continue;
		if (sum[s].t95 >= 0 && (best95 < 0 || sum[s].t95 < sum[best95].t95))
			best95 = s;
		if (min_other_window < 0 || sum[s].window_cpu < min_other_window)
			min_other_window = sum[s].window_cpu;
	}
	fprintf(f, "\nTargets (numaksm against the others):\n\n");
	if (best95 >= 0 && n->t95 > 0) {
		double ratio = sum[best95].t95 / n->t95;
		fprintf(f,
			"- 95%% of the achievable saving %.1fx sooner than the best other (%s: "
			"%.1f s vs %.1f s); target >= 3x: %s\n",
			ratio, strategy_names[best95], sum[best95].t95, n->t95,
			ratio >= 3 ? "met" : "NOT met");
	} else {
		fprintf(f, "- 95%%: numaksm %s, others %s\n",
			n->t95 > 0 ? "reached" : "did not reach",
			best95 >= 0 ? "reached" : "did not reach");
	}
	if (min_other_window >= 0)
		fprintf(f,
			"- ksmd CPU in the window after 95%%: %.2f CPU-s vs %.2f for the most "
			"frugal other; target lower than every other: %s\n",
			n->window_cpu, min_other_window,
			n->window_cpu < min_other_window ? "met" : "NOT met");
	double gap =
	    sum[bestsave].final_saving > 0
		? 100 * (sum[bestsave].final_saving - n->final_saving) / sum[bestsave].final_saving
		: 0;
	fprintf(f, "- final saving %.2f%% below the best (%s); target within 1%%: %s\n", gap,
		strategy_names[bestsave], gap <= 1 ? "met" : "NOT met");
}

static int write_csv(const char *path, struct result *const *all, unsigned n, double achievable)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "round,strategy,t_s,saving_pages,saving_pct,host_saving_pages,ksmd_cpu_s,"
		   "ksmd_pct_5s,controller_cpu_s,pages_to_scan,sleep_ms,full_scans\n");
	for (unsigned k = 0; k < n; k++) {
		const struct result *r = all[k];
		size_t back = 0;
		for (size_t i = 0; i < r->n_rows; i++) {
			const struct row *w = &r->rows[i];
			while (back < i && w->t - r->rows[back].t > 5)
				back++;
			const struct row *old = &r->rows[back];
			double pct = w->t > old->t
					 ? 100 * (w->ksmd_cpu - old->ksmd_cpu) / (w->t - old->t)
					 : 0;
			fprintf(f,
				"%u,%s,%.2f,%.0f,%.2f,%.0f,%.3f,%.2f,%.3f,%" PRIu64 ",%" PRIu64
				",%" PRIu64 "\n",
				r->round, strategy_names[r->s], w->t, w->saving,
				100 * w->saving / achievable, w->host_saving, w->ksmd_cpu, pct,
				w->controller_cpu, w->pages_to_scan, w->sleep_ms, w->full_scans);
		}
	}
	return fclose(f) == 0 ? 0 : -errno;
}

static void plot(const struct bench *b)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/plot.gp", b->o.out_dir);
	FILE *f = fopen(path, "we");
	if (!f)
		return;
	fprintf(
	    f,
	    "# numaksm-bench ksm: gnuplot plot.gp (in this directory) redraws the plots.\n"
	    "set datafile separator ','\n"
	    "set terminal pngcairo size 900,520 font ',10'\n"
	    "set key bottom right\nset grid\nset logscale x\nset xrange [0.25:*]\n"
	    "set xlabel 'seconds since the strategy started (log scale)'\n"
	    "strategies = 'defaults ksmtuned advisor numaksm'\n"
	    "set style line 1 lc rgb '#1b9e77' lw 2\nset style line 2 lc rgb '#d95f02' lw 2\n"
	    "set style line 3 lc rgb '#7570b3' lw 2\nset style line 4 lc rgb '#e7298a' lw 3\n"
	    "f(s, v) = (strcol(2) eq s && column(1) == 1) ? v : NaN\n"
	    "set output 'saving.png'\n"
	    "set title 'KSM saving on %u host-filled processes x %" PRIu64 " MiB (round 1)'\n"
	    "set ylabel '%% of the achievable saving (%.0f MiB)'\nset yrange [0:105]\n"
	    "plot 95 title '95%%' lc rgb 'gray' dt 2, \\\n"
	    "  for [i=1:4] 'ksm-bench.csv' using 3:(f(word(strategies, i), $5)) with lines ls i "
	    "title word(strategies, i)\n"
	    "set output 'cpu.png'\nunset title\nset multiplot layout 2,1 title 'ksmd CPU (round "
	    "1)'\n"
	    "set yrange [0:*]\nset key top left\nunset xlabel\n"
	    "set title 'ksmd CPU-seconds since the strategy started'\nset ylabel 'CPU-s'\n"
	    "plot for [i=1:4] 'ksm-bench.csv' using 3:(f(word(strategies, i), $7)) with lines "
	    "ls i title word(strategies, i)\n"
	    "set title 'ksmd share of one CPU, mean over 5 s'\nset ylabel '%%'\n"
	    "set yrange [0:*]\nset key top right\n"
	    "set xlabel 'seconds since the strategy started (log scale)'\n"
	    "plot for [i=1:4] 'ksm-bench.csv' using 3:(f(word(strategies, i), $8)) with lines "
	    "ls i title word(strategies, i)\n"
	    "unset multiplot\n",
	    b->o.fleet.vms, b->o.fleet.vm_bytes >> 20, b->achievable * 4096 / 1048576);
	fclose(f);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "cd '%s' && gnuplot plot.gp", b->o.out_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "numaksm-bench: gnuplot failed: no plots (apt-get install "
				"gnuplot-nox)\n");
}

static void write_report(const struct bench *b, struct result *const *all, unsigned n_all)
{
	struct summary sum[N_STRATEGIES];
	struct result *by[N_STRATEGIES][64];
	unsigned count[N_STRATEGIES] = {0};
	char path[512];
	struct utsname u;
	struct fleet_layout l;

	for (unsigned k = 0; k < n_all; k++)
		if (count[all[k]->s] < 64)
			by[all[k]->s][count[all[k]->s]++] = all[k];
	for (int s = 0; s < N_STRATEGIES; s++)
		summarize(by[s], count[s], &sum[s]);
	snprintf(path, sizeof(path), "%s/ksm-bench.csv", b->o.out_dir);
	if (write_csv(path, all, n_all, b->achievable) < 0)
		fprintf(stderr, "numaksm-bench: cannot write %s\n", path);

	uname(&u);
	if (!b->o.n_attach)
		fleet_layout_compute(&b->o.fleet, &b->image, &l);
	snprintf(path, sizeof(path), "%s/summary.md", b->o.out_dir);
	FILE *f = fopen(path, "we");
	FILE *outs[] = {stdout, f};
	for (int k = 0; k < 2; k++) {
		FILE *o = outs[k];
		if (!o)
			continue;
		fprintf(o, "%sKSM savings by strategy (numaksm-bench ksm)\n\n", k ? "# " : "");
		if (b->o.n_attach)
			fprintf(o, "Fleet: %u running VMs (", b->o.n_attach);
		for (unsigned i = 0; i < b->o.n_attach; i++)
			fprintf(o, "%s%s", i ? ", " : "", b->o.attach[i]);
		if (b->o.n_attach)
			fprintf(o,
				") of %" PRIu64 " MiB of mergeable guest RAM each.  Achievable "
				"saving: %.0f pages (%.0f MiB), what numaksm estimate found in "
				"their pages before the first strategy (every page, "
				"merge_across_nodes=1).\n\n",
				b->attached.bytes >> 20, b->achievable,
				b->achievable * 4096 / 1048576);
		else
			fprintf(o,
				"Fleet: %u host-filled processes (fleet-vm0..fleet-vm%u; there is "
				"no KVM on "
				"this "
				"machine) of %" PRIu64 " MiB each, a mergeable zone from memory/ "
				"(nk_zone_create, mergeable=on).  Per process: shared image %.0f%% "
				"(%s, %u "
				"files), zero pages %.0f%%, unique %.0f%%, volatile %.0f%% "
				"re-dirtied every "
				"%.0f s.  Achievable saving: %.0f pages (%.0f MiB).\n\n",
				b->o.fleet.vms, b->o.fleet.vms - 1, b->o.fleet.vm_bytes >> 20,
				100.0 * (double)l.image / (double)l.chunks, b->image.source,
				b->image.n_files, 100.0 * (double)l.zero / (double)l.chunks,
				100.0 * (double)l.unique / (double)l.chunks,
				100.0 * (double)l.volatile_ / (double)l.chunks,
				b->o.fleet.redirty_s, b->achievable,
				b->achievable * 4096 / 1048576);
		fprintf(o,
			"Host: Linux %s, %ld CPUs.  Strategies ran one after another on the same "
			"content; %u round(s), order rotated each round, medians shown.  ksmtuned: "
			"KSM_THRES_COEF=100, woken with SIGUSR1 at the start as libvirt does; "
			"numaksm: cpu_budget = %s.  The window is %.0f s from reaching 95%% (from "
			"%.0f s "
			"when 95%% never comes).\n\n",
			u.release, sysconf(_SC_NPROCESSORS_ONLN), b->o.rounds, b->o.budget,
			b->o.window_s, b->o.limit_s);
		fprintf(o, "Command: `%s`\n\n", b->o.command);
		write_table(o, b, sum);
		write_targets(o, sum);
		write_estimate(o, b, sum);
		unsigned others = 0;
		for (unsigned i = 0; i < n_all; i++)
			others = all[i]->other_procs > others ? all[i]->other_procs : others;
		fprintf(o, "\nThe fleet's saving is measured exactly: its present pages minus the "
			   "distinct physical pages they map (/proc/PID/pagemap).");
		if (others)
			fprintf(o,
				"  Other processes with mergeable memory were running (up to %u): "
				"sharing with them is not counted, and ksmd's CPU includes "
				"scanning them.",
				others);
		fprintf(o, "\n");
		for (unsigned i = 0; i < n_all; i++)
			if (all[i]->disturbed_at >= 0)
				fprintf(
				    o,
				    "\nWARNING: round %u, %s: at %.1f s another program changed "
				    "KSM (%s): its figures are not clean.\n",
				    all[i]->round, strategy_names[all[i]->s], all[i]->disturbed_at,
				    all[i]->disturbance);
		unsigned repeats = 0;
		for (unsigned i = 0; i < n_all; i++)
			repeats += all[i]->attempts - 1;
		if (repeats)
			fprintf(o,
				"\n%u run(s) were disturbed by another program changing KSM and "
				"were run again.\n",
				repeats);
		if (k)
			fprintf(
			    o,
			    "\n![saving](saving.png)\n\n![ksmd CPU](cpu.png)\n\n"
			    "Data: ksm-bench.csv; decisions: numaksm-tuned.log, ksmtuned.log.\n");
	}
	if (f)
		fclose(f);
	plot(b);
}

/* ---- main ------------------------------------------------------------ */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: numaksm-bench ksm [--quick] [--vms N] [--vm-size SIZE] [--window DUR]\n"
		"       [--limit DUR] [--rounds R] [--strategies LIST] [--budget PCT] [--out DIR]\n"
		"       [--ksmtuned PATH] [--numaksm PATH] [--seed N] [--retries N]\n"
		"       [--attach NAME,NAME...]\n\n"
		"One fleet of host-filled processes with VM-like content, KSM driven by each\n"
		"strategy in turn: defaults, ksmtuned, advisor, numaksm (LIST: comma-separated).\n"
		"Defaults: --vms 8 --vm-size 256M --window 300s --limit 1200s --rounds 1\n"
		"--budget 25%% --out ksm-bench.  --quick: 4 x 64M, --window 20s --limit 120s.\n"
		"Writes DIR/ksm-bench.csv, DIR/summary.md, DIR/saving.png and DIR/cpu.png.\n"
		"A run that another program disturbs (KSM knobs no strategy sets, a saving\n"
		"that falls) is run again, up to --retries times (default 3).\n"
		"Exit status: 0, 1 on failure, 2 usage, 77 when KSM cannot be driven here\n"
		"(not root, no KSM, or a tuner or another KSM benchmark is running).\n"
		"--attach: the fleet is these running VMs (numaksm-vmm, QEMU: names or PIDs),\n"
		"each with mergeable guest RAM of one size; they are not stopped between\n"
		"strategies (KSM unmerges them), and the achievable saving is what\n"
		"numaksm estimate finds in their pages at the start.\n");
}

static int parse_duration_arg(const char *text, double *ret, nk_error **err)
{
	long long v;
	size_t n = strlen(text);
	double unit = 1;
	char buf[32];
	if (n > 0 && n < sizeof(buf) && (text[n - 1] == 's' || text[n - 1] == 'm')) {
		unit = text[n - 1] == 'm' ? 60 : 1;
		n--;
	}
	snprintf(buf, sizeof(buf), "%.*s", (int)n, text);
	if (nk_parse_int(buf, 1, 86400, &v, err) < 0)
		return -EINVAL;
	*ret = (double)v * unit;
	return 0;
}

/* NAME[,NAME...]: numaksm VMs' names or PIDs, two at least. */
static int parse_attach(const char *text, struct options *o, nk_error **err)
{
	char *copy = strdup(text), *save = NULL;
	if (!copy)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char **na = realloc(o->attach, (o->n_attach + 1) * sizeof(*na));
		if (!na || !(na[o->n_attach] = strdup(t))) {
			free(copy);
			return nk_error_set(err, ENOMEM, "out of memory");
		}
		o->attach = na;
		o->n_attach++;
	}
	free(copy);
	if (o->n_attach < 2)
		return nk_error_set(err, EINVAL, "'%s': name two VMs at least, NAME,NAME...", text);
	return 0;
}

static int parse_strategies(const char *text, unsigned *ret, nk_error **err)
{
	char *copy = strdup(text), *save = NULL;
	unsigned mask = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int s = 0;
		while (s < N_STRATEGIES && strcmp(t, strategy_names[s]))
			s++;
		if (s == N_STRATEGIES) {
			free(copy);
			return nk_error_set(err, EINVAL, "unknown strategy '%s'", t);
		}
		mask |= 1u << s;
	}
	free(copy);
	*ret = mask;
	return 0;
}

/* numaksm next to this program: the build tree's tools/, or the same bin/. */
static void find_numaksm(char *buf, size_t size)
{
	char self[256];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(buf, size, "%s/../tools/numaksm", self);
			if (access(buf, X_OK) == 0)
				return;
			snprintf(buf, size, "%s/numaksm", self);
			if (access(buf, X_OK) == 0)
				return;
		}
	}
	snprintf(buf, size, "numaksm");
}

/* Can the benchmark drive KSM here and now?  -EPERM/-ENOTSUP/-EBUSY mean
 * "not here" (exit 77); owning KSM's knobs (nk_ksm_own()) keeps a
 * tuner or another KSM benchmark from running meanwhile. */
static int check_host(const struct options *o, nk_error **err)
{
	if (geteuid() != 0)
		return nk_error_set(err, EPERM, "needs root: it writes /sys/kernel/mm/ksm");
	nk_tuner_sampler *s = NULL;
	int r = nk_tuner_sampler_new(host, &s, err);
	nk_tuner_sampler_free(s);
	if (r < 0)
		return r;
	if ((o->strategies & (1u << S_KSMTUNED)) && access(o->ksmtuned, X_OK) != 0) {
		nk_error_set(err, ENOENT, "%s is missing", o->ksmtuned);
		return nk_error_hint(err,
				     "apt-get install ksmtuned, or leave it out with --strategies");
	}
	if (system("pgrep -x ksmtuned > /dev/null 2>&1") == 0) {
		nk_error_set(err, EBUSY, "a ksmtuned is already running");
		return nk_error_hint(err, "stop it for the benchmark: systemctl stop ksmtuned");
	}
	r = nk_ksm_own(host, NULL, "numaksm-bench ksm", BENCH_KNOBS, &owner, err);
	if (r < 0)
		return r;
	saved_knobs = *nk_ksm_owner_saved(owner);
	return 0;
}

int bench_ksm(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"quick", no_argument, NULL, 'q'},
	    {"vms", required_argument, NULL, 'n'},
	    {"vm-size", required_argument, NULL, 's'},
	    {"window", required_argument, NULL, 'w'},
	    {"limit", required_argument, NULL, 'l'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"strategies", required_argument, NULL, 'S'},
	    {"budget", required_argument, NULL, 'b'},
	    {"out", required_argument, NULL, 'o'},
	    {"ksmtuned", required_argument, NULL, 'k'},
	    {"numaksm", required_argument, NULL, 'N'},
	    {"seed", required_argument, NULL, 'x'},
	    {"retries", required_argument, NULL, 'R'},
	    {"attach", required_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	static char numaksm_path[512];
	struct bench b = {.o = {
			      .fleet = {.vms = 8,
					.vm_bytes = 256ull << 20,
					.image_share = 0.35,
					.zero_share = 0.25,
					.volatile_share = 0.10,
					.redirty_s = 10,
					.seed = 0x6e756d616b736dull},
			      .window_s = 300,
			      .limit_s = 1200,
			      .rounds = 1,
			      .retries = 3,
			      .strategies = (1u << N_STRATEGIES) - 1,
			      .out_dir = "ksm-bench",
			      .ksmtuned = "/usr/sbin/ksmtuned",
			      .budget = "25%",
			  }};
	struct options *o = &b.o;
	bool set_vms = false, set_size = false, set_window = false, set_limit = false;
	nk_error *err = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qn:s:w:l:r:S:b:o:k:N:x:R:A:h", opts, NULL)) != -1) {
		long long v;
		switch (c) {
		case 'q':
			o->quick = true;
			break;
		case 'n':
			if (nk_parse_int(optarg, 2, 256, &v, &err) < 0)
				return bench_usage_error(err, "--vms");
			o->fleet.vms = (unsigned)v;
			set_vms = true;
			break;
		case 's':
			if (nk_parse_size(optarg, &o->fleet.vm_bytes, &err) < 0)
				return bench_usage_error(err, "--vm-size");
			set_size = true;
			break;
		case 'w':
			if (parse_duration_arg(optarg, &o->window_s, &err) < 0)
				return bench_usage_error(err, "--window");
			set_window = true;
			break;
		case 'l':
			if (parse_duration_arg(optarg, &o->limit_s, &err) < 0)
				return bench_usage_error(err, "--limit");
			set_limit = true;
			break;
		case 'r':
			if (nk_parse_int(optarg, 1, 64, &v, &err) < 0)
				return bench_usage_error(err, "--rounds");
			o->rounds = (unsigned)v;
			break;
		case 'R':
			if (nk_parse_int(optarg, 0, 20, &v, &err) < 0)
				return bench_usage_error(err, "--retries");
			o->retries = (unsigned)v;
			break;
		case 'S':
			if (parse_strategies(optarg, &o->strategies, &err) < 0)
				return bench_usage_error(err, "--strategies");
			break;
		case 'b':
			snprintf(o->budget, sizeof(o->budget), "%s", optarg);
			break;
		case 'o':
			o->out_dir = optarg;
			break;
		case 'k':
			o->ksmtuned = optarg;
			break;
		case 'N':
			o->numaksm = optarg;
			break;
		case 'x':
			if (nk_parse_u64(optarg, &o->fleet.seed, &err) < 0)
				return bench_usage_error(err, "--seed");
			break;
		case 'A':
			if (parse_attach(optarg, o, &err) < 0)
				return bench_usage_error(err, "--attach");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	int len = snprintf(o->command, sizeof(o->command), "numaksm-bench ksm");
	for (int i = 1; i < argc && len > 0 && (size_t)len < sizeof(o->command); i++)
		len += snprintf(o->command + len, sizeof(o->command) - (size_t)len, " %s", argv[i]);
	if (o->quick) {
		o->fleet.vms = set_vms ? o->fleet.vms : 4;
		o->fleet.vm_bytes = set_size ? o->fleet.vm_bytes : 64ull << 20;
		o->window_s = set_window ? o->window_s : 20;
		o->limit_s = set_limit ? o->limit_s : 120;
		o->fleet.redirty_s = 5;
	}
	if (o->fleet.vm_bytes < (1u << 20) || o->fleet.vm_bytes % (1u << 16)) {
		fprintf(stderr,
			"numaksm-bench: --vm-size must be a multiple of 64K, at least 1M\n");
		return 2;
	}
	if (!o->numaksm) {
		find_numaksm(numaksm_path, sizeof(numaksm_path));
		o->numaksm = numaksm_path;
	}
	if (nk_host_open(NULL, &host, &err) < 0)
		return bench_fail(err);
	if (check_host(o, &err) < 0) {
		int code = nk_error_code(err);
		bench_fail(err);
		nk_host_free(host);
		/* Not here, not now, or not installed: skipped, not failed. */
		return code == EPERM || code == ENOTSUP || code == EBUSY || code == ENOENT ? 77 : 1;
	}
	if (mkdir(o->out_dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "numaksm-bench: cannot create %s: %s\n", o->out_dir,
			strerror(errno));
		return 1;
	}
	char old_logs[2][600];
	snprintf(old_logs[0], sizeof(old_logs[0]), "%s/ksmtuned.log", o->out_dir);
	snprintf(old_logs[1], sizeof(old_logs[1]), "%s/numaksm-tuned.log", o->out_dir);
	for (int i = 0; i < 2; i++)
		unlink(old_logs[i]);
	snprintf(o->scratch, sizeof(o->scratch), "/tmp/numaksm-bench-ksm.XXXXXX");
	if (!mkdtemp(o->scratch)) {
		fprintf(stderr, "numaksm-bench: cannot create %s: %s\n", o->scratch,
			strerror(errno));
		return 1;
	}

	/* The knobs as found (saved by nk_ksm_own()): restored between
	 * strategies and at the end, also on SIGINT, SIGTERM and SIGHUP; after
	 * a SIGKILL, 'numaksm ksm restore' (or the next owner) does. */
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	prctl(PR_SET_CHILD_SUBREAPER, 1); /* ksmtuned's loop outlives its parent */

	int rc = 1;
	struct result **all = NULL;
	unsigned n_all = 0, chosen = (unsigned)__builtin_popcount(o->strategies);
	if (nk_ksmd_find(host, &b.ksmd, &err) < 0) {
		bench_fail(err);
		goto out;
	}
	if (o->n_attach) {
		double cpu;
		if (fleet_attach(host, o->attach, o->n_attach, &b.attached, &err) < 0) {
			bench_fail(err);
			goto out;
		}
		o->fleet.vms = o->n_attach; /* for the report and plots */
		o->fleet.vm_bytes = b.attached.bytes;
		run_estimate(o, &b.attached, "1", &b.achievable, &cpu);
		if (b.achievable <= 0) {
			fprintf(stderr, "numaksm-bench: numaksm estimate found nothing to merge in "
					"the VMs (or failed): no saving to time\n");
			goto out;
		}
		fprintf(stderr,
			"numaksm-bench ksm: %u running VMs x %" PRIu64
			" MiB; achievable saving %.0f MiB\n",
			o->n_attach, b.attached.bytes >> 20, b.achievable * 4096 / 1048576);
		goto strategies;
	}
	fprintf(stderr, "numaksm-bench ksm: building the shared image...\n");
	if (fleet_image_load(&o->fleet, &b.image, &err) < 0) {
		bench_fail(err);
		goto out;
	}
	struct nk_ksm knobs;
	nk_ksm_read(host, NK_KSM_KNOBS, &knobs, NULL);
	b.achievable = (double)fleet_achievable_pages(
	    &o->fleet, &b.image,
	    knobs.mask & NK_KSM_BIT(NK_KSM_MAX_PAGE_SHARING) ? knobs.value[NK_KSM_MAX_PAGE_SHARING]
							     : 256,
	    (knobs.mask & NK_KSM_BIT(NK_KSM_USE_ZERO_PAGES)) && knobs.value[NK_KSM_USE_ZERO_PAGES]);
	fprintf(stderr,
		"numaksm-bench ksm: %u host-filled processes x %" PRIu64
		" MiB; achievable saving %.0f MiB; warming up...\n",
		o->fleet.vms, o->fleet.vm_bytes >> 20, b.achievable * 4096 / 1048576);
	/* Warm-up: memory this machine has not touched lately faults slowly. */
	struct fleet warm;
	if (fleet_start(&o->fleet, &b.image, &warm, &err) < 0) {
		bench_fail(err);
		goto out;
	}
	fleet_stop(&warm);
strategies:
	b.runs = o->rounds * chosen;
	all = calloc(b.runs, sizeof(*all));
	for (unsigned round = 0; round < o->rounds && !interrupted; round++)
		for (unsigned k = 0; k < N_STRATEGIES && !interrupted; k++) {
			enum strategy s = (enum strategy)((k + round) % N_STRATEGIES);
			if (!(o->strategies & (1u << s)))
				continue;
			struct result *res = calloc(1, sizeof(*res));
			if (!res)
				goto out;
			res->s = s;
			res->round = round + 1;
			all[n_all++] = res;
			int r;
			b.run_index++;
			do {
				free(res->rows);
				*res = (struct result){
				    .s = s, .round = round + 1, .attempts = res->attempts + 1};
				r = run_strategy(&b, res, &err);
				if (r >= 0 && res->disturbed_at >= 0 &&
				    res->attempts <= o->retries) {
					fprintf(stderr,
						"numaksm-bench: %s was disturbed at %.1f s (%s): "
						"running it again\n",
						strategy_names[s], res->disturbed_at,
						res->disturbance);
					wait_quiet();
				}
			} while (r >= 0 && res->disturbed_at >= 0 && res->attempts <= o->retries &&
				 !interrupted);
			if (r < 0) {
				if (!interrupted)
					bench_fail(err);
				else
					nk_error_free(err);
				err = NULL;
				goto out;
			}
		}
	write_report(&b, all, n_all);
	rc = 0;
out:
	if (interrupted)
		fprintf(stderr, "\nnumaksm-bench: %s: restoring the KSM settings\n",
			strsignal(interrupted));
	if (reset_ksm(&err) < 0)
		bench_fail(err);
	else if (nk_ksm_owner_release(owner, true, &err) < 0)
		bench_fail(err);
	owner = NULL;
	for (unsigned i = 0; i < n_all; i++) {
		free(all[i]->rows);
		free(all[i]);
	}
	free(all);
	fleet_stop(&b.attached);
	for (unsigned i = 0; i < o->n_attach; i++)
		free(o->attach[i]);
	free(o->attach);
	fleet_image_done(&b.image);
	nk_host_free(host);
	char cleanup[128];
	snprintf(cleanup, sizeof(cleanup), "rm -rf '%s'", o->scratch);
	if (system(cleanup) != 0)
		fprintf(stderr, "numaksm-bench: cannot remove %s\n", o->scratch);
	return interrupted ? 130 : rc;
}
