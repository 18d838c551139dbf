/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm ksm: KSM's knobs and counters, ksmd's CPU time and who owns the
 * knobs; validated writes of knobs; restoring what an owner left.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <numaksm/ksm.h>
#include <numaksm/proc.h>
#include <numaksm/policy.h>

#include "json.h"
#include "tool.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: numaksm ksm show [--json] [--root DIR]\n"
		"       numaksm ksm set [--unmerge] [--check] [--force] KEY=VALUE...\n"
		"       numaksm ksm restore [--defaults]\n\n"
		"show     KSM's knobs and counters, the memory it saves, ksmd's CPU time and\n"
		"         which program owns KSM's knobs (the tuner, a benchmark).\n"
		"set      write knobs.  Every value is checked before the first write (unknown\n"
		"         knobs, ranges, the kernel's own refusals); if the kernel still refuses\n"
		"         one, those written before it are put back.  Refused while another\n"
		"         program owns KSM's knobs (one at a time: " NK_KSM_OWNER_DIR
		"/ksm.lock).\n"
		"  --unmerge  allow the unmerge (run=2) that merge_across_nodes and\n"
		"             max_page_sharing need while pages are shared\n"
		"  --check    check only, write nothing\n"
		"  --force    write even while another program owns them (the tuner may change\n"
		"             them back)\n"
		"restore  put back the settings a program saved and did not restore (the\n"
		"         tuner or a benchmark was killed, or the tuner ran with --once).\n"
		"  --defaults  the kernel's defaults instead: advisor_mode=none,\n"
		"              pages_to_scan=100, sleep_millisecs=20\n");
}

static void show_text(const struct tool_ksm_facts *f)
{
	const struct nk_ksm *k = f->ksm;
	char size[32], buf[24];
	uint64_t run = nk_ksm_get(k, NK_KSM_RUN);

	printf("KSM %s (run=%" PRIu64 ")\n", tool_ksm_state(run), run);
	printf("Knobs:\n");
	for (int p = NK_KSM_RUN + 1; p < NK_KSM_KNOB_COUNT; p++)
		if (nk_ksm_has(k, (enum nk_ksm_field)p))
			printf("  %-36s %s\n", nk_ksm_field((enum nk_ksm_field)p)->name,
			       nk_ksm_format_value((enum nk_ksm_field)p, k->value[p], buf));
	if (f->page_size)
		printf("Saving: %s",
		       nk_format_bytes(size, sizeof(size), nk_ksm_saved_pages(k) * f->page_size));
	else
		printf("Saving: %" PRIu64 " pages", nk_ksm_saved_pages(k));
	printf(" (pages_sharing %" PRIu64 " + ksm_zero_pages %" PRIu64 ")",
	       nk_ksm_get(k, NK_KSM_PAGES_SHARING), nk_ksm_get(k, NK_KSM_ZERO_PAGES));
	if (nk_ksm_has(k, NK_KSM_GENERAL_PROFIT)) {
		int64_t profit = nk_ksm_profit(k);
		printf(
		    ", general_profit %s%s", profit < 0 ? "-" : "",
		    nk_format_bytes(size, sizeof(size), (uint64_t)(profit < 0 ? -profit : profit)));
	}
	printf("\nCounters:");
	for (int p = NK_KSM_KNOB_COUNT; p < NK_KSM_FIELD_COUNT; p++)
		if (nk_ksm_has(k, (enum nk_ksm_field)p) && p != NK_KSM_GENERAL_PROFIT)
			printf("%s %s %" PRIu64, p == NK_KSM_KNOB_COUNT ? "" : ",",
			       nk_ksm_field((enum nk_ksm_field)p)->name, k->value[p]);
	printf("\n");
	if (f->ksmd_pid > 0)
		printf("ksmd: PID %d, %.2f CPU-seconds since boot\n", f->ksmd_pid,
		       f->ksmd_cpu_seconds);
	else
		printf("ksmd: not found\n");
	if (f->tuner_running > 0)
		printf("Owner of the knobs: %s (PID %d)\n", f->tuner_program, f->tuner_pid);
	else if (f->tuner_running == 0)
		printf("Owner of the knobs: none (no tuner runs)\n");
}

static int show(int argc, char **argv, nk_error **err)
{
	struct tool_report_opts o;
	struct tool_ksm_facts facts;
	struct nk_ksm ksm;
	nk_host *host = NULL;
	int r = tool_parse_report_opts(argc, argv, "ksm", usage, false, &o, err);
	if (r != 0)
		return r < 0 ? r : EXIT_OK;
	r = nk_host_open(o.root, &host, err);
	if (r < 0) {
		tool_mark_usage();
		return r;
	}
	r = nk_ksm_read(host, NK_KSM_ALL, &ksm, err);
	if (r < 0) {
		nk_host_free(host);
		return r;
	}
	tool_ksm_facts(host, &ksm, true, &facts);
	if (o.json) {
		json_object *doc = tool_json_doc("ksm show");
		json_object_object_add(doc, "live", json_object_new_boolean(nk_host_is_live(host)));
		json_object_object_add(doc, "ksm", tool_json_ksm(&facts));
		tool_json_print(doc, true);
	} else {
		show_text(&facts);
	}
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

	char offered[16];
	snprintf(offered, sizeof(offered), "%sh", allowed);
	tool_complete_options(argc, argv, opts, offered,
			      strcmp(argv[0], "set") == 0 ? TOOL_VALUE_KNOB : TOOL_VALUE_NONE);
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
	struct nk_ksm want = {0}, previous;
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
		struct nk_ksm one = {0};
		r = nk_ksm_parse(argv[i], &one, err);
		if (r < 0) {
			tool_mark_usage();
			return r;
		}
		int p = __builtin_ctz(one.mask);
		if (want.mask & one.mask)
			return tool_usage_error(err, "%s is given twice", nk_ksm_field(p)->name);
		want.mask |= one.mask;
		want.value[p] = one.value[p];
	}
	nk_host *host = NULL;
	r = nk_host_open(root, &host, err);
	if (r < 0) {
		tool_mark_usage();
		return r;
	}
	/* One program changes KSM at a time: the lock is held while writing,
	 * and what a killed owner left is put back first.  --force writes
	 * beside the owner (a tuner's next round may undo it). */
	nk_ksm_owner *owner = NULL;
	if (!force && !(flags & NK_KSM_APPLY_CHECK_ONLY) && nk_host_is_live(host)) {
		r = nk_ksm_own(host, NULL, "numaksm ksm set", 0, &owner, err);
		if (r == -EBUSY)
			nk_error_hint(err, "stop it first (the tuner: systemctl stop "
					   "numaksm-tuned), or pass --force");
		if (r < 0) {
			nk_host_free(host);
			return r;
		}
	}
	struct nk_ksm before;
	r = nk_ksm_read(host, NK_KSM_KNOBS, &before, err);
	if (r >= 0)
		r = nk_ksm_apply(host, &want, flags, &previous, err);
	nk_ksm_owner_release(owner, false, NULL); /* what was set stays */
	nk_host_free(host);
	if (r < 0)
		return r;
	if (flags & NK_KSM_APPLY_CHECK_ONLY) {
		printf("ok: the kernel should accept these values\n");
		return EXIT_OK;
	}
	if (r == 0)
		printf("nothing to change: the knobs already hold these values\n");
	for (int p = 0; p < NK_KSM_KNOB_COUNT; p++) {
		if (!(previous.mask & (1u << p)))
			continue;
		if (p == NK_KSM_RUN && (want.mask & (1u << p)) == 0) {
			printf("run: unmerged everything (2), then back to %" PRIu64 "\n",
			       before.value[p]);
			continue;
		}
		if (p == NK_KSM_ADVISOR_MODE)
			printf("%s: %s -> %s\n", nk_ksm_field(p)->name,
			       previous.value[p] ? "scan-time" : "none",
			       want.value[p] ? "scan-time" : "none");
		else
			printf("%s: %" PRIu64 " -> %" PRIu64 "\n", nk_ksm_field(p)->name,
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
		struct nk_ksm want = {0}, have;
		const char *const assignments[] = {"advisor_mode=none", "pages_to_scan=100",
						   "sleep_millisecs=20"};
		r = nk_ksm_read(host, NK_KSM_KNOBS, &have, err);
		for (size_t i = 0; i < 3 && r >= 0; i++) {
			struct nk_ksm one = {0};
			nk_ksm_parse(assignments[i], &one, NULL);
			/* A kernel without the advisor: leave it out. */
			if (one.mask & have.mask)
				r = nk_ksm_parse(assignments[i], &want, err);
		}
		nk_ksm_owner *owner = NULL;
		if (r >= 0)
			r = nk_ksm_own(host, NULL, "numaksm ksm restore", 0, &owner, err);
		if (r >= 0)
			r = nk_ksm_apply(host, &want, 0, NULL, err);
		nk_ksm_owner_release(owner, false, NULL);
		nk_host_free(host);
		if (r < 0)
			return r;
		printf("KSM knobs at the kernel's defaults: advisor_mode=none, pages_to_scan=100, "
		       "sleep_millisecs=20\n");
		return EXIT_OK;
	}
	r = nk_ksm_left(host, NULL, true, err);
	nk_host_free(host);
	if (r < 0)
		return r;
	printf(r ? "restored the KSM settings a program saved and could not restore\n"
		 : "nothing to restore: no program left KSM settings behind\n");
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
