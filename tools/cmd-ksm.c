/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm ksm: KSM's knobs and counters, ksmd's CPU time and the tuner's
 * state; validated writes of knobs; restoring what a tuner left.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <numaksm/ksm-control.h>
#include <numaksm/ksm.h>
#include <numaksm/proc.h>
#include <numaksm/policy.h>

#include "tool.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: numaksm ksm show [--json] [--root DIR]\n"
		"       numaksm ksm set [--unmerge] [--check] [--force] KEY=VALUE...\n"
		"       numaksm ksm restore [--defaults]\n\n"
		"show     KSM's knobs and counters, the memory it saves, ksmd's CPU time and\n"
		"         whether the numaksm tuner runs.\n"
		"set      write knobs.  Every value is checked before the first write (unknown\n"
		"         knobs, ranges, the kernel's own refusals); if the kernel still refuses\n"
		"         one, those written before it are put back.\n"
		"  --unmerge  allow the unmerge (run=2) that merge_across_nodes and\n"
		"             max_page_sharing need while pages are shared\n"
		"  --check    check only, write nothing\n"
		"  --force    write even while the numaksm tuner runs (it may change them back)\n"
		"restore  put back the settings a tuner saved and did not restore (it was\n"
		"         killed, or ran with --once).\n"
		"  --defaults  the kernel's defaults instead: advisor_mode=none,\n"
		"              pages_to_scan=100, sleep_millisecs=20\n");
}

static const char *run_name(uint64_t run)
{
	return run == 0 ? "stopped" : run == 1 ? "running" : run == 2 ? "unmerging" : "?";
}

struct show_data {
	struct nk_ksm_counters c;
	struct nk_ksm_settings knobs;
	pid_t ksmd;
	double ksmd_cpu_s; /* < 0 unknown */
	bool live;
	int tuner; /* 1 running, 0 not */
	pid_t tuner_pid;
	char tuner_comm[32]; /* "numaksm" (a tuner) or "numaksm-bench" */
	long page_size;
};

static json_object *show_json(const struct show_data *d)
{
	const struct nk_ksm_counters *c = &d->c;
	json_object *o = json_object_new_object(), *knobs = json_object_new_object(),
		    *counters = json_object_new_object();
	char buf[24];
	for (int p = 0; p < NK_KSM_PARAM_COUNT; p++) {
		if (!(d->knobs.mask & (1u << p)))
			continue;
		if (p == NK_KSM_ADVISOR_MODE)
			json_object_object_add(
			    knobs, nk_ksm_param_name(p),
			    json_object_new_string(d->knobs.value[p] ? "scan-time" : "none"));
		else
			json_object_object_add(knobs, nk_ksm_param_name(p),
					       json_object_new_uint64(d->knobs.value[p]));
	}
	const struct {
		const char *name;
		uint64_t value;
		bool has;
	} fields[] = {
	    {"pages_shared", c->pages_shared, true},
	    {"pages_sharing", c->pages_sharing, true},
	    {"pages_unshared", c->pages_unshared, true},
	    {"pages_volatile", c->pages_volatile, true},
	    {"full_scans", c->full_scans, true},
	    {"pages_scanned", c->pages_scanned, c->has_pages_scanned},
	    {"pages_skipped", c->pages_skipped, c->has_smart_scan},
	    {"ksm_zero_pages", c->ksm_zero_pages, c->has_ksm_zero_pages},
	    {"stable_node_chains", c->stable_node_chains, true},
	    {"stable_node_dups", c->stable_node_dups, true},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (fields[i].has)
			json_object_object_add(counters, fields[i].name,
					       json_object_new_uint64(fields[i].value));
	if (c->has_general_profit)
		json_object_object_add(counters, "general_profit",
				       json_object_new_int64(c->general_profit));
	json_object_object_add(o, "state", json_object_new_string(run_name(c->run)));
	json_object_object_add(o, "knobs", knobs);
	json_object_object_add(o, "counters", counters);
	json_object_object_add(
	    o, "saved_bytes",
	    json_object_new_uint64(nk_ksm_saved_pages(c) * (uint64_t)d->page_size));
	json_object *ksmd = json_object_new_object();
	if (d->ksmd > 0)
		json_object_object_add(ksmd, "pid", json_object_new_int(d->ksmd));
	if (d->ksmd_cpu_s >= 0) {
		snprintf(buf, sizeof(buf), "%.3f", d->ksmd_cpu_s);
		json_object_object_add(ksmd, "cpu_seconds",
				       json_object_new_double_s(d->ksmd_cpu_s, buf));
	}
	json_object_object_add(o, "ksmd", ksmd);
	if (d->live) {
		json_object *t = json_object_new_object();
		json_object_object_add(t, "running", json_object_new_boolean(d->tuner == 1));
		if (d->tuner == 1) {
			json_object_object_add(t, "pid", json_object_new_int(d->tuner_pid));
			json_object_object_add(t, "program", json_object_new_string(d->tuner_comm));
		}
		json_object_object_add(o, "tuner", t);
	}
	json_object *root = json_object_new_object();
	json_object_object_add(root, "ksm", o);
	return root;
}

static void show_text(const struct show_data *d)
{
	const struct nk_ksm_counters *c = &d->c;
	char size[32];
	uint64_t kb = nk_ksm_saved_pages(c) * (uint64_t)d->page_size / 1024;

	printf("KSM %s (run=%" PRIu64 ")\n", run_name(c->run), c->run);
	printf("Knobs:\n");
	for (int p = 0; p < NK_KSM_PARAM_COUNT; p++) {
		if (!(d->knobs.mask & (1u << p)) || p == NK_KSM_RUN)
			continue;
		if (p == NK_KSM_ADVISOR_MODE)
			printf("  %-36s %s\n", nk_ksm_param_name(p),
			       d->knobs.value[p] ? "scan-time" : "none");
		else
			printf("  %-36s %" PRIu64 "\n", nk_ksm_param_name(p), d->knobs.value[p]);
	}
	printf("Saving: %s (pages_sharing %" PRIu64 " + ksm_zero_pages %" PRIu64 ")",
	       tool_format_kb(size, sizeof(size), kb), c->pages_sharing, c->ksm_zero_pages);
	if (c->has_general_profit)
		printf(
		    ", general_profit %s%s", c->general_profit < 0 ? "-" : "",
		    tool_format_kb(size, sizeof(size),
				   (unsigned long long)(c->general_profit < 0 ? -c->general_profit
									      : c->general_profit) /
				       1024));
	printf("\nCounters: pages_shared %" PRIu64 ", pages_unshared %" PRIu64
	       ", pages_volatile %" PRIu64 ", full_scans %" PRIu64,
	       c->pages_shared, c->pages_unshared, c->pages_volatile, c->full_scans);
	if (c->has_pages_scanned)
		printf(", pages_scanned %" PRIu64, c->pages_scanned);
	printf("\n");
	if (d->ksmd > 0 && d->ksmd_cpu_s >= 0)
		printf("ksmd: pid %d, %.2f CPU-seconds since boot\n", (int)d->ksmd, d->ksmd_cpu_s);
	else
		printf("ksmd: not found\n");
	if (d->live)
		printf(d->tuner == 1 ? "Tuner: running (pid %d, %s)\n" : "Tuner: not running\n",
		       (int)d->tuner_pid, d->tuner_comm);
}

static int show(int argc, char **argv, nk_error **err)
{
	struct tool_report_opts o;
	int r = tool_parse_report_opts(argc, argv, "ksm", usage, false, &o, err);
	if (r != 0)
		return r < 0 ? r : EXIT_OK;
	const char *root = o.root;
	bool json = o.json;

	nk_host *host = NULL;
	struct show_data d = {.ksmd_cpu_s = -1, .page_size = sysconf(_SC_PAGESIZE)};
	r = nk_host_open(root, &host, err);
	if (r < 0) {
		tool_mark_usage();
		return r;
	}
	r = nk_ksm_read(host, &d.c, err);
	if (r >= 0)
		r = nk_ksm_settings_read(host, ~0u, &d.knobs, err);
	if (r < 0) {
		nk_ksm_counters_done(&d.c);
		nk_host_free(host);
		return r;
	}
	struct nk_proc_cputime cpu;
	if (nk_ksmd_find(host, &d.ksmd, NULL) == 0 &&
	    nk_proc_cputime_read(host, d.ksmd, &cpu, NULL) == 0)
		d.ksmd_cpu_s = (double)cpu.run_ns / 1e9;
	d.live = nk_host_is_live(host);
	if (d.live)
		d.tuner = nk_tuned_running(NULL, &d.tuner_pid);
	if (d.tuner == 1) {
		/* The lock holder: a tuner, or a program driving KSM itself. */
		char path[64];
		char *comm = NULL;
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)d.tuner_pid);
		snprintf(d.tuner_comm, sizeof(d.tuner_comm), "?");
		if (nk_host_read(host, path, &comm, NULL) >= 0)
			snprintf(d.tuner_comm, sizeof(d.tuner_comm), "%.*s",
				 (int)strcspn(comm, "\n"), comm);
		free(comm);
	}
	if (json) {
		tool_print_json(show_json(&d), true);
	} else {
		show_text(&d);
	}
	nk_ksm_counters_done(&d.c);
	nk_host_free(host);
	return EXIT_OK;
}

/* The options of set and restore; each takes only its own. */
struct ksm_opts {
	unsigned flags; /* NK_KSM_APPLY_* */
	bool force, defaults;
	const char *root;
};

static int parse_opts(int argc, char **argv, const char *allowed, struct ksm_opts *ret,
		      nk_error **err)
{
	static const struct option opts[] = {
	    {"unmerge", no_argument, NULL, 'u'},
	    {"check", no_argument, NULL, 'c'},
	    {"force", no_argument, NULL, 'f'},
	    {"root", required_argument, NULL, 'r'},
	    {"defaults", no_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct ksm_opts o = {0};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":ucfr:dh", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == '?' || c == ':' || !strchr(allowed, c))
			return tool_getopt_error(err, "ksm", c == ':' ? ':' : '?', argv);
		switch (c) {
		case 'u':
			o.flags |= NK_KSM_APPLY_UNMERGE;
			break;
		case 'c':
			o.flags |= NK_KSM_APPLY_CHECK_ONLY;
			break;
		case 'f':
			o.force = true;
			break;
		case 'r':
			o.root = optarg;
			break;
		case 'd':
			o.defaults = true;
			break;
		}
	}
	*ret = o;
	return 0;
}

static int set(int argc, char **argv, nk_error **err)
{
	struct nk_ksm_settings want = {0}, previous;
	struct ksm_opts o;
	int r = parse_opts(argc, argv, "ucfr", &o, err);
	if (r != 0)
		return r < 0 ? r : EXIT_OK;
	unsigned flags = o.flags;
	bool force = o.force;
	const char *root = o.root;

	if (optind >= argc)
		return tool_usage_error(err, "ksm set needs KEY=VALUE arguments");
	for (int i = optind; i < argc; i++) {
		struct nk_ksm_settings one = {0};
		r = nk_ksm_settings_parse(argv[i], &one, err);
		if (r < 0) {
			tool_mark_usage();
			return r;
		}
		int p = __builtin_ctz(one.mask);
		if (want.mask & one.mask)
			return tool_usage_error(err, "%s is given twice", nk_ksm_param_name(p));
		want.mask |= one.mask;
		want.value[p] = one.value[p];
	}
	nk_host *host = NULL;
	r = nk_host_open(root, &host, err);
	if (r < 0) {
		tool_mark_usage();
		return r;
	}
	pid_t tuner = 0;
	if (!force && !(flags & NK_KSM_APPLY_CHECK_ONLY) && nk_host_is_live(host) &&
	    nk_tuned_running(NULL, &tuner) == 1) {
		nk_host_free(host);
		nk_error_set(err, EBUSY,
			     "the numaksm tuner (pid %d) drives KSM: its next round "
			     "would undo this",
			     (int)tuner);
		return nk_error_hint(err, "stop it first (systemctl stop numaksm-tuned), or pass "
					  "--force");
	}
	struct nk_ksm_settings before;
	r = nk_ksm_settings_read(host, ~0u, &before, err);
	if (r >= 0)
		r = nk_ksm_apply(host, &want, flags, &previous, err);
	nk_host_free(host);
	if (r < 0)
		return r;
	if (flags & NK_KSM_APPLY_CHECK_ONLY) {
		printf("ok: the kernel should accept these values\n");
		return EXIT_OK;
	}
	if (r == 0)
		printf("nothing to change: the knobs already hold these values\n");
	for (int p = 0; p < NK_KSM_PARAM_COUNT; p++) {
		if (!(previous.mask & (1u << p)))
			continue;
		if (p == NK_KSM_RUN && (want.mask & (1u << p)) == 0) {
			printf("run: unmerged everything (2), then back to %" PRIu64 "\n",
			       before.value[p]);
			continue;
		}
		if (p == NK_KSM_ADVISOR_MODE)
			printf("%s: %s -> %s\n", nk_ksm_param_name(p),
			       previous.value[p] ? "scan-time" : "none",
			       want.value[p] ? "scan-time" : "none");
		else
			printf("%s: %" PRIu64 " -> %" PRIu64 "\n", nk_ksm_param_name(p),
			       previous.value[p], want.value[p]);
	}
	return EXIT_OK;
}

static int restore(int argc, char **argv, nk_error **err)
{
	struct ksm_opts o;
	int r = parse_opts(argc, argv, "d", &o, err);
	if (r != 0)
		return r < 0 ? r : EXIT_OK;
	bool defaults = o.defaults;
	if (optind < argc)
		return tool_usage_error(err, "unexpected argument '%s'", argv[optind]);
	nk_host *host = NULL;
	r = nk_host_open(NULL, &host, err);
	if (r < 0)
		return r;
	if (defaults) {
		struct nk_ksm_settings want = {0}, have;
		const char *const assignments[] = {"advisor_mode=none", "pages_to_scan=100",
						   "sleep_millisecs=20"};
		r = nk_ksm_settings_read(host, ~0u, &have, err);
		for (size_t i = 0; i < 3 && r >= 0; i++) {
			struct nk_ksm_settings one = {0};
			nk_ksm_settings_parse(assignments[i], &one, NULL);
			/* A kernel without the advisor: leave it out. */
			if (one.mask & have.mask)
				r = nk_ksm_settings_parse(assignments[i], &want, err);
		}
		if (r >= 0)
			r = nk_ksm_apply(host, &want, 0, NULL, err);
		nk_host_free(host);
		if (r < 0)
			return r;
		printf("KSM knobs at the kernel's defaults: advisor_mode=none, pages_to_scan=100, "
		       "sleep_millisecs=20\n");
		return EXIT_OK;
	}
	r = nk_tuned_restore(host, NULL, err);
	nk_host_free(host);
	if (r < 0)
		return r;
	printf(r ? "restored the KSM settings the tuner saved\n"
		 : "nothing to restore: no tuner left settings behind\n");
	return EXIT_OK;
}

int cmd_ksm(int argc, char **argv, nk_error **err)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		if (argc < 2)
			return tool_usage_error(err,
						"ksm needs a subcommand: show, set or restore");
		return EXIT_OK;
	}
	if (strcmp(argv[1], "show") == 0)
		return show(argc - 1, argv + 1, err);
	if (strcmp(argv[1], "set") == 0)
		return set(argc - 1, argv + 1, err);
	if (strcmp(argv[1], "restore") == 0)
		return restore(argc - 1, argv + 1, err);
	tool_usage_error(err, "unknown subcommand '%s': expected show, set or restore", argv[1]);
	return nk_error_hint(err, "see 'numaksm ksm --help'");
}
