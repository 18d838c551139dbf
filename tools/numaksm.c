/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm: the control tool.  A table of commands, each with its own
 * options; errors travel up as nk_error and are printed once, here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "tool.h"

static bool usage_failed;

static const struct tool_command commands[] = {
    {"check", "host readiness for dense, NUMA-placed VMs", cmd_check, NULL},
    /* memory/ commands */
    {"hugepages", "hugepage pools per node and size; reserve pages", cmd_hugepages, "reserve"},
    {"zone", "try a guest RAM zone: create, prefault, show placement", cmd_zone, "try"},
    /* vcpu/ commands */
    {"pin", "plan, apply, show and record vCPU pinning", cmd_pin, "plan apply show record release"},
    {"libvirt", "merge a vCPU and NUMA plan into a libvirt domain", cmd_libvirt, "apply"},
    /* policy/ commands */
    {"ksm", "KSM knobs, counters and savings; validated set; restore", cmd_ksm, "show set restore"},
    {"tuned", "the KSM tuner daemon: converge fast, then back off", cmd_tuned, NULL},
    {"status", "KSM, NUMA nodes and every VM: placement, sharing, vCPUs", cmd_status, NULL},
    {"top", "status's VMs redrawn in place, sorted; KSM's rate, ksmd's CPU", cmd_top, NULL},
    {"exporter", "Prometheus metrics of KSM, nodes and every VM on /metrics", cmd_exporter, NULL},
    {"place", "put a VM in its own cgroup on chosen nodes and CPUs; --undo", cmd_place, NULL},
    {"estimate", "what KSM will save on the VMs, before it scans: per VM, shared, per node",
     cmd_estimate, NULL},
    {"audit", "the page frames VMs share; --tenants: any page two tenants share", cmd_audit, NULL},
    /* numaksm-vmm commands */
    {"vm", "numaksm-vmm VMs: list, info, pause, resume, stop, KSM, migrate", cmd_vm,
     "list info pause resume stop ksm migrate"},
    {"completion", "print the bash completion script", cmd_completion, "bash"},
};

/* --json on the command line: errors and log lines as JSON on stderr, with
 * the command as typed ("pin plan"; "numaksm" before one is known). */
static bool json_mode;
static char json_command[64] = "numaksm";

void tool_mark_usage(void)
{
	usage_failed = true;
}

int tool_parse_sample(const char *text, unsigned *ret, nk_error **err)
{
	long long n;
	if (nk_parse_int(text, 1, 1 << 20, &n, NULL) < 0 || (n & (n - 1)))
		return tool_usage_error(err,
					"--sample '%s': expected a power of two from 1 to 1048576 "
					"(64: keep 1 content in 64)",
					text);
	*ret = (unsigned)n;
	return 0;
}

int tool_usage_error(nk_error **err, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	usage_failed = true;
	va_start(ap, fmt);
	int r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	nk_error_set(err, EINVAL, "%s", msg);
	free(msg);
	return -EINVAL;
}

/* Levenshtein distance of a and b, stopping early above `cap`. */
static size_t edit_distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b), row[64];
	if (la >= 64 || lb >= 64)
		return cap + 1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0], best = row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t v = diag + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			if (up + 1 < v)
				v = up + 1;
			row[j] = v;
			diag = up;
			if (v < best)
				best = v;
		}
		if (best > cap)
			return cap + 1;
	}
	return row[lb];
}

const char *tool_did_you_mean(const char *typed, const char *const *words, size_t n, size_t stride)
{
	const char *best = NULL;
	size_t best_d = 3; /* more than 2 edits: no guess */
	for (size_t i = 0; i < n; i++) {
		const char *w = *(const char *const *)((const char *)words + i * stride);
		if (!w)
			break;
		size_t d = edit_distance(typed, w, 2);
		/* "--vcpu" for "--vcpus", "sta" for "status": a prefix counts as near. */
		if (d > 2 && strlen(typed) >= 3 && strncmp(w, typed, strlen(typed)) == 0)
			d = 2;
		if (d < best_d) {
			best = w;
			best_d = d;
		}
	}
	return best;
}

int tool_getopt_error(nk_error **err, const char *command, int opt, char **argv)
{
	extern int optind;
	const char *arg = argv[optind - 1];
	if (opt == ':')
		tool_usage_error(err, "option '%s' needs a value", arg);
	else
		tool_usage_error(err, "unknown option '%s'", arg);
	const struct option *opts = tool_parsing_options();
	if (opt != ':' && opts && strncmp(arg, "--", 2) == 0) {
		char typed[64];
		snprintf(typed, sizeof(typed), "%s", arg + 2);
		char *eq = strchr(typed, '=');
		if (eq)
			*eq = '\0';
		size_t n = 0;
		while (opts[n].name)
			n++;
		const char *near = tool_did_you_mean(typed, &opts[0].name, n, sizeof(opts[0]));
		if (near)
			return nk_error_hint(err, "did you mean '--%s'? see 'numaksm %s --help'",
					     near, command);
	}
	return nk_error_hint(err, "see 'numaksm %s --help'", command);
}

int tool_parse_report_opts(int argc, char **argv, const char *command, void (*usage)(FILE *),
			   bool positional, struct tool_report_opts *ret, nk_error **err)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"root", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct tool_report_opts o = {0};
	int c;

	tool_complete_options(argc, argv, opts, NULL, TOOL_VALUE_NONE);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, positional ? "+:jr:h" : ":jr:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = true;
			break;
		case 'r':
			o.root = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			return tool_getopt_error(err, command, c, argv);
		}
	}
	if (!positional && optind < argc)
		return tool_usage_error(err, "unexpected argument '%s'", argv[optind]);
	*ret = o;
	return 0;
}

char *tool_list_text(const nk_bitmap *b)
{
	char *s = NULL;
	if (!b)
		return strdup("");
	if (nk_bitmap_format(b, &s) < 0)
		abort(); /* out of memory */
	return s;
}

static void log_to_stderr(enum nk_log_level level, const char *message, void *userdata)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	if (!json_mode) {
		fprintf(stderr, "numaksm: %s: %s\n", names[level], message);
		return;
	}
	tool_json_log_line(json_command, level, message);
}

void tool_log_warning(const char *message)
{
	log_to_stderr(NK_LOG_WARNING, message, NULL);
}

void tool_log_error(const char *command, const char *message)
{
	if (json_mode)
		log_to_stderr(NK_LOG_ERROR, message, NULL);
	else
		fprintf(stderr, "numaksm %s: %s\n", command, message);
}

/* The command as typed: its name, and the subcommand when the first word
 * after it is one ("pin plan", "vm ksm"). */
static void command_words(const struct tool_command *c, int argc, char **argv, char *buf,
			  size_t size)
{
	snprintf(buf, size, "%s", c->name);
	for (int i = 1; c->subcommands && i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (argv[i][0] == '-')
			continue;
		size_t n = strlen(argv[i]);
		for (const char *w = c->subcommands; *w; w += strcspn(w, " "), w += *w == ' ')
			if (strncmp(w, argv[i], n) == 0 && (w[n] == ' ' || w[n] == '\0')) {
				snprintf(buf, size, "%s %s", c->name, argv[i]);
				break;
			}
		break;
	}
}

/* Print an error (main() prints every fatal one) and return the exit status:
 * "numaksm CMD: MESSAGE" and its hint, or one JSON line under --json. */
static int report_error(const char *prefix, const nk_error *err, int code, int exit_status)
{
	if (json_mode) {
		tool_json_error_line(json_command, err, code, exit_status);
		return exit_status;
	}
	fprintf(stderr, "%s: %s\n", prefix, err ? nk_error_message(err) : strerror(-code));
	if (nk_error_get_hint(err))
		fprintf(stderr, "  hint: %s\n", nk_error_get_hint(err));
	return exit_status;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: numaksm [--verbose] COMMAND [OPTIONS]\n\n"
		     "NUMA-aware guest-memory manager and KSM tuner for KVM hosts.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "  %-10s %s\n", "help", "help COMMAND [SUBCOMMAND]: that command's own help");
	fprintf(out, "\nEvery command takes --help; reporting commands take --json and "
		     "--root DIR (a captured host tree);\nevery command takes --runtime-dir DIR "
		     "(default $NUMAKSM_RUNTIME_DIR, else /run/numaksm).\n"
		     "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

/* A usage error of numaksm itself, before a command: `message` (NULL: none)
 * and the usage text, or one JSON line under --json. */
static int top_usage_error(const char *message, bool blank_line)
{
	nk_error *err = NULL;
	if (!json_mode) {
		if (message)
			fprintf(stderr, "numaksm: %s\n%s", message, blank_line ? "\n" : "");
		usage(stderr);
		return EXIT_USAGE;
	}
	nk_error_set(&err, EINVAL, "%s", message ? message : "missing a command");
	nk_error_hint(&err, "see 'numaksm --help'");
	report_error("numaksm", err, -EINVAL, EXIT_USAGE);
	nk_error_free(err);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	nk_error *err = NULL;
	enum nk_log_level level = NK_LOG_WARNING;
	char message[256];
	int i = 1;

	/* Hidden: what the completion script asks (tools/complete.c). */
	if (argc >= 2 && strcmp(argv[1], "__complete") == 0)
		return tool_complete_main(commands, sizeof(commands) / sizeof(commands[0]),
					  argc - 1, argv + 1);
	json_mode = tool_json_wanted(argc, argv);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("numaksm %s\n", nk_version());
			return EXIT_OK;
		} else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
			level = NK_LOG_DEBUG;
		} else {
			snprintf(message, sizeof(message), "unknown option '%s'", argv[i]);
			return top_usage_error(message, false);
		}
	}
	nk_log_set_handler(log_to_stderr, NULL, level);
	if (i >= argc)
		return top_usage_error(NULL, false);
	/* --runtime-dir DIR, wherever it stands, for every command that uses the
	 * runtime directory (pins, placements, the VMs' sockets): the library
	 * reads it from $NUMAKSM_RUNTIME_DIR.  vm parses its own as well. */
	if (strcmp(argv[i], "vm") != 0) {
		int out = i + 1;
		for (int k = i + 1; k < argc; k++) {
			const char *dir = NULL;
			if (strcmp(argv[k], "--") == 0) {
				while (k < argc)
					argv[out++] = argv[k++];
				break;
			}
			if (strcmp(argv[k], "--runtime-dir") == 0) {
				if (k + 1 >= argc) {
					snprintf(message, sizeof(message),
						 "option '--runtime-dir' needs a value");
					return top_usage_error(message, false);
				}
				dir = argv[++k];
			} else if (strncmp(argv[k], "--runtime-dir=", 14) == 0) {
				dir = argv[k] + 14;
			}
			if (dir) {
				if (!*dir)
					return top_usage_error("--runtime-dir: an empty path",
							       false);
				setenv("NUMAKSM_RUNTIME_DIR", dir, 1);
			} else {
				argv[out++] = argv[k];
			}
		}
		argc = out;
		argv[argc] = NULL;
	}
	/* numaksm help [COMMAND [SUBCOMMAND]]: that command's own --help. */
	char *help_argv[4];
	if (strcmp(argv[i], "help") == 0) {
		if (i + 1 >= argc) {
			usage(stdout);
			return EXIT_OK;
		}
		int n = 0;
		for (int k = i + 1; k < argc && n < 2; k++)
			help_argv[n++] = argv[k];
		help_argv[n++] = (char *)"--help";
		help_argv[n] = NULL;
		argc = n;
		argv = help_argv;
		i = 0;
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
		if (strcmp(argv[i], commands[c].name) != 0)
			continue;
		command_words(&commands[c], argc - i, argv + i, json_command, sizeof(json_command));
		int r = commands[c].run(argc - i, argv + i, &err);
		if (r >= 0)
			return r;
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "numaksm %s", commands[c].name);
		r = report_error(prefix, err, r, usage_failed ? EXIT_USAGE : EXIT_FAIL);
		nk_error_free(err);
		return r;
	}
	const char *near =
	    tool_did_you_mean(argv[i], &commands[0].name, sizeof(commands) / sizeof(commands[0]),
			      sizeof(commands[0]));
	if (near)
		snprintf(message, sizeof(message), "unknown command '%s': did you mean '%s'?",
			 argv[i], near);
	else
		snprintf(message, sizeof(message), "unknown command '%s'", argv[i]);
	return top_usage_error(message, true);
}
