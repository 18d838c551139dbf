/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm tuned: the KSM tuner daemon.  Runs the control loop until
 * SIGTERM or SIGINT, then restores the KSM settings it found; SIGHUP reloads
 * the policy file.  Under systemd (Type=notify) it tells the manager when it
 * is ready, reloading and stopping, with a one-line status; under journald
 * its log lines carry a priority and no timestamp of their own.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include <numaksm/ksm.h>
#include <numaksm/policy.h>
#include <numaksm/rundir.h>

#include "tool.h"

/* Consecutive failed rounds before the daemon gives up (and restores). */
#define MAX_FAILED_ROUNDS 5

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: numaksm tuned [--config FILE] [--once] [--dry-run] [--debug] [--trace FILE]\n\n"
	    "Run the KSM tuner: it drives pages_to_scan and sleep_millisecs so KSM\n"
	    "converges fast within a ksmd CPU budget and backs off once scans stop paying,\n"
	    "logging every decision with its reason.  The KSM settings it finds are saved\n"
	    "in " NK_KSM_OWNER_DIR "/ksm.state and restored on SIGTERM or SIGINT, or by the\n"
	    "next owner of KSM's knobs after a crash; SIGHUP reloads the policy file.\n\n"
	    "  --config FILE  the policy file (default " TOOL_DEFAULT_CONFIG ", if it exists)\n"
	    "  --once         take one decision, apply it and exit, leaving it in force\n"
	    "                 ('numaksm ksm restore' undoes it)\n"
	    "  --dry-run      log the decisions, write nothing (no knob, lock or state)\n"
	    "  --debug        also log the rounds that change nothing\n"
	    "  --trace FILE   write every sample and decision to FILE as CSV (for\n"
	    "                 replaying in tests, or a bug report)\n");
}

/* stderr is the journal's stream when JOURNAL_STREAM names it (as systemd
 * sets it for a service), not merely inherited by a child. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static bool journal;

static void log_line(enum nk_log_level level, const char *message, void *userdata)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	static const int priorities[] = {3, 4, 6, 7}; /* LOG_ERR ... LOG_DEBUG */
	struct timespec ts;
	if (journal) {
		/* The journal stamps the line and reads its priority from <N>. */
		fprintf(stderr, "<%d>%s\n", priorities[level], message);
		return;
	}
	struct tm tm;
	char when[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld numaksm-tuned: %s: %s\n", when, ts.tv_nsec / 1000000,
		names[level], message);
}

static void trace_line(FILE *f, const struct nk_tuner_sample *s, const struct nk_tuner_decision *d)
{
	if (ftell(f) == 0)
		fprintf(
		    f, "time_s,ksmd_cpu_s,run,pages_to_scan,sleep_millisecs,advisor_on,"
		       "pages_scanned,full_scans,pages_shared,pages_sharing,pages_unshared,"
		       "pages_volatile,ksm_zero_pages,mem_total_kb,mem_available_kb,psi_some_avg10,"
		       "mergeable_bytes,mergeable_procs,phase,decided_run,decided_pages_to_scan,"
		       "decided_sleep_millisecs\n");
	fprintf(f,
		"%.17g,%.17g,%llu,%llu,%llu,%d,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%.17g,%"
		"llu,%u,"
		"%s,%llu,%llu,%llu\n",
		s->time_s, s->ksmd_cpu_s, (unsigned long long)nk_ksm_get(&s->ksm, NK_KSM_RUN),
		(unsigned long long)nk_ksm_get(&s->ksm, NK_KSM_PAGES_TO_SCAN),
		(unsigned long long)nk_ksm_get(&s->ksm, NK_KSM_SLEEP_MILLISECS),
		(nk_ksm_get(&s->ksm, NK_KSM_ADVISOR_MODE) == NK_KSM_ADVISOR_SCAN_TIME),
		(unsigned long long)nk_ksm_get(&s->ksm, NK_KSM_PAGES_SCANNED),
		(unsigned long long)nk_ksm_get(&s->ksm, NK_KSM_FULL_SCANS),
		(unsigned long long)nk_ksm_get(&s->ksm, NK_KSM_PAGES_SHARED),
		(unsigned long long)nk_ksm_get(&s->ksm, NK_KSM_PAGES_SHARING),
		(unsigned long long)nk_ksm_get(&s->ksm, NK_KSM_PAGES_UNSHARED),
		(unsigned long long)nk_ksm_get(&s->ksm, NK_KSM_PAGES_VOLATILE),
		(unsigned long long)nk_ksm_get(&s->ksm, NK_KSM_ZERO_PAGES),
		(unsigned long long)s->mem_total_kb, (unsigned long long)s->mem_available_kb,
		s->psi_some_avg10, (unsigned long long)s->mergeable_bytes, s->mergeable_procs,
		nk_tuner_phase_name(d->phase), (unsigned long long)d->run,
		(unsigned long long)d->pages_to_scan, (unsigned long long)d->sleep_millisecs);
	fflush(f);
}

static void log_linef(enum nk_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_linef(enum nk_log_level level, const char *fmt, ...)
{
	char message[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	log_line(level, message, NULL);
}

/* The service manager's one-line status: the phase, the knobs, what KSM
 * shares now. */
static void notify_status(const char *prefix, const struct nk_tuner_decision *d,
			  const struct nk_tuner_sample *s)
{
	sd_notifyf(0,
		   "%sSTATUS=%s: run=%llu pages_to_scan=%llu sleep_millisecs=%llu; "
		   "%llu pages sharing, %u mergeable processes",
		   prefix, nk_tuner_phase_name(d->phase), (unsigned long long)d->run,
		   (unsigned long long)d->pages_to_scan, (unsigned long long)d->sleep_millisecs,
		   (unsigned long long)nk_ksm_get(&s->ksm, NK_KSM_PAGES_SHARING),
		   s->mergeable_procs);
}

/*
 * What the tuner is doing, for the exporter (tools/metrics.c): the file
 * tuner.status beside KSM's lock (/run/numaksm), written atomically each
 * round and removed when the tuner stops.  KEY=VALUE lines.
 */
struct tuner_progress {
	uint64_t rounds, changes;
	double last_time, last_ksmd_cpu, ksmd_ratio; /* ratio < 0: not measured yet */
};

static void write_progress(struct tuner_progress *p, const nk_conf *policy,
			   const struct nk_tuner_decision *d, const struct nk_tuner_sample *s)
{
	nk_rundir *dir = NULL;
	char text[512];
	p->rounds++;
	p->changes += d->changed;
	if (s->ksmd_cpu_s >= 0 && p->last_time > 0 && s->time_s > p->last_time &&
	    p->last_ksmd_cpu >= 0)
		p->ksmd_ratio = (s->ksmd_cpu_s - p->last_ksmd_cpu) / (s->time_s - p->last_time);
	p->last_time = s->time_s;
	p->last_ksmd_cpu = s->ksmd_cpu_s;
	int n = snprintf(text, sizeof(text),
			 "pid=%d\nphase=%s\nrounds=%" PRIu64 "\nchanges=%" PRIu64
			 "\ncpu_budget=%.6f\nksmd_cpu_ratio=%.6f\nrun=%" PRIu64
			 "\npages_to_scan=%" PRIu64 "\nsleep_millisecs=%" PRIu64 "\n",
			 (int)getpid(), nk_tuner_phase_name(d->phase), p->rounds, p->changes,
			 nk_conf_tuner(policy)->cpu_budget, p->ksmd_ratio, d->run, d->pages_to_scan,
			 d->sleep_millisecs);
	if (nk_rundir_open(NK_KSM_OWNER_DIR, NK_RUNDIR_CREATE, &dir, NULL) == 0) {
		nk_rundir_write(dir, "tuner.status", text, (size_t)n, NULL);
		nk_rundir_free(dir);
	}
}

static void remove_progress(void)
{
	nk_rundir *dir = NULL;
	if (nk_rundir_open(NK_KSM_OWNER_DIR, 0, &dir, NULL) == 0) {
		nk_rundir_remove(dir, "tuner.status");
		nk_rundir_free(dir);
	}
}

static int load_policy(const char *path, nk_conf **ret, nk_error **err)
{
	if (path)
		return nk_conf_load(path, ret, err);
	int r = nk_conf_load(TOOL_DEFAULT_CONFIG, ret, NULL);
	if (r == -ENOENT) {
		log_linef(NK_LOG_INFO, "no %s: running with the defaults", TOOL_DEFAULT_CONFIG);
		return nk_conf_parse("", "(defaults)", ret, err);
	}
	return r < 0 ? nk_conf_load(TOOL_DEFAULT_CONFIG, ret, err) : r;
}

/* SIGHUP: the policy file again.  A bad one is logged and the running
 * policy kept. */
static void reload(nk_tuned *tuned, const char *config, nk_conf **policy)
{
	nk_conf *fresh = NULL;
	nk_error *e = NULL;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the policy",
		   (unsigned long long)now.tv_sec * 1000000 +
		       (unsigned long long)now.tv_nsec / 1000);
	if (load_policy(config, &fresh, &e) < 0 || nk_tuned_reload(tuned, fresh, &e) < 0) {
		log_linef(NK_LOG_ERROR, "SIGHUP: keeping the running policy: %s",
			  e ? nk_error_message(e) : "?");
		sd_notifyf(0, "READY=1\nSTATUS=kept the running policy: %s",
			   e ? nk_error_message(e) : "?");
		nk_error_free(e);
		nk_conf_free(fresh);
		return;
	}
	nk_conf_free(*policy);
	*policy = fresh;
	sd_notify(0, "READY=1\nSTATUS=policy reloaded");
}

int cmd_tuned(int argc, char **argv, nk_error **err)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"once", no_argument, NULL, '1'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"debug", no_argument, NULL, 'd'},
	    {"trace", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct nk_tuned_options options = {0};
	const char *config = NULL, *trace_path = NULL;
	bool once = false, debug = false;
	int c, r;

	tool_complete_options(argc, argv, opts, NULL, TOOL_VALUE_NONE);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:1ndt:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case '1':
			once = true;
			break;
		case 'n':
			options.dry_run = true;
			break;
		case 'd':
			debug = true;
			break;
		case 't':
			trace_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			return tool_getopt_error(err, "tuned", c, argv);
		}
	}
	if (optind < argc)
		return tool_usage_error(err, "unexpected argument '%s'", argv[optind]);

	journal = stderr_is_journal();
	nk_conf *policy = NULL;
	r = load_policy(config, &policy, err);
	if (r < 0) {
		if (r == -EINVAL)
			tool_mark_usage();
		return r;
	}
	nk_log_set_handler(log_line, NULL, debug ? NK_LOG_DEBUG : NK_LOG_INFO);

	/* Signals are taken synchronously between rounds, never mid-write:
	 * SIGTERM and SIGINT stop (restoring the knobs), SIGHUP reloads. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop, NULL);

	nk_host *host = NULL;
	nk_tuned *tuned = NULL;
	FILE *trace = NULL;
	if (trace_path && !(trace = fopen(trace_path, "we"))) {
		nk_conf_free(policy);
		return nk_error_set(err, errno, "cannot write %s: %s", trace_path, strerror(errno));
	}
	r = nk_host_open(NULL, &host, err);
	if (r >= 0)
		r = nk_tuned_start(host, policy, &options, &tuned, err);
	if (r < 0)
		goto out;

	struct nk_tuner_decision d;
	struct tuner_progress progress = {.ksmd_ratio = -1, .last_ksmd_cpu = -1};
	unsigned failed = 0;
	bool ready = false;
	for (;;) {
		nk_error *step_err = NULL;
		r = nk_tuned_step(tuned, &d, once ? err : &step_err);
		if (r >= 0 && trace)
			trace_line(trace, nk_tuned_sample(tuned), &d);
		if (once)
			break;
		double wait_s = d.interval_s;
		if (r < 0) {
			log_line(NK_LOG_WARNING, nk_error_message(step_err), NULL);
			if (++failed >= MAX_FAILED_ROUNDS) {
				nk_error_set(err, -r, "%u rounds failed in a row; last: %s", failed,
					     nk_error_message(step_err));
				nk_error_free(step_err);
				break;
			}
			nk_error_free(step_err);
			wait_s = 1;
		} else {
			failed = 0;
			/* Ready once the first round has read KSM and applied a
			 * decision. */
			notify_status(ready ? "" : "READY=1\n", &d, nk_tuned_sample(tuned));
			ready = true;
			if (!options.dry_run)
				write_progress(&progress, policy, &d, nk_tuned_sample(tuned));
		}
		struct timespec timeout = {.tv_sec = (time_t)wait_s,
					   .tv_nsec =
					       (long)((wait_s - (double)(time_t)wait_s) * 1e9)};
		int sig = sigtimedwait(&stop, NULL, &timeout);
		if (sig == SIGHUP) {
			reload(tuned, config, &policy);
			continue;
		}
		if (sig > 0) {
			nk_log_set_handler(log_line, NULL, NK_LOG_INFO);
			log_linef(NK_LOG_INFO, "%s: restoring the KSM settings", strsignal(sig));
			r = 0;
			break;
		}
	}
	if (once) {
		if (r >= 0)
			printf("%s: run=%llu pages_to_scan=%llu sleep_millisecs=%llu\n%s\n",
			       nk_tuner_phase_name(d.phase), (unsigned long long)d.run,
			       (unsigned long long)d.pages_to_scan,
			       (unsigned long long)d.sleep_millisecs, d.reason);
		nk_tuned_free(tuned); /* leaves the decision in force, and the state file */
		tuned = NULL;
	} else {
		nk_error *stop_err = NULL;
		sd_notify(0, "STOPPING=1\nSTATUS=restoring the KSM settings");
		if (!options.dry_run)
			remove_progress();
		int rs = nk_tuned_stop(tuned, r < 0 ? &stop_err : err);
		if (rs < 0 && r >= 0)
			r = rs;
		if (stop_err)
			log_line(NK_LOG_ERROR, nk_error_message(stop_err), NULL);
		nk_error_free(stop_err);
	}
out:
	if (trace)
		fclose(trace);
	nk_tuned_free(tuned);
	nk_host_free(host);
	nk_conf_free(policy);
	return r < 0 ? r : EXIT_OK;
}
