/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef NUMAKSM_TOOL_H
#define NUMAKSM_TOOL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <numaksm/core.h>

/* Exit codes, documented in docs/man/numaksm.1.md. */
#define EXIT_OK	   0
#define EXIT_FAIL  1 /* an error, or `check` found a FAIL */
#define EXIT_USAGE 2 /* bad command line */

struct tool_command {
	const char *name;
	const char *summary;
	/* Returns an exit code, or a negative errno with *err set. */
	int (*run)(int argc, char **argv, nk_error **err);
	/* Its subcommands, space-separated ("plan apply show"), or NULL. */
	const char *subcommands;
};

/* A non-fatal error of `command` ("pin apply"): "numaksm COMMAND: MESSAGE"
 * on stderr, or under --json a JSON log line, as main() prints the error
 * and the log lines then (docs/json.md). */
void tool_log_error(const char *command, const char *message);
/* A warning: "numaksm: warning: MESSAGE" on stderr, or a JSON log line. */
void tool_log_warning(const char *message);

/* Record a usage error: main() prints it and exits 2. */
int tool_usage_error(nk_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* --sample N of estimate and place --plan-fleet: a power of two, 1 to 2^20. */
int tool_parse_sample(const char *text, unsigned *ret, nk_error **err);

/* Count the error already recorded as a usage error (exit 2). */
void tool_mark_usage(void);

/* Report an unknown option or missing argument from getopt_long(). */
int tool_getopt_error(nk_error **err, const char *command, int opt, char **argv);

/* The options of every reporting command: --json, --root DIR, --help. */
struct tool_report_opts {
	bool json;
	const char *root;
};

/*
 * Parse them; `positional` says whether arguments may follow (left at
 * argv[optind]).  Returns 0 when parsed, 1 when --help was printed, or a
 * negative errno with *err set.
 */
int tool_parse_report_opts(int argc, char **argv, const char *command, void (*usage)(FILE *),
			   bool positional, struct tool_report_opts *ret, nk_error **err);

/* "0-3,6" for a set ("" for NULL); the caller frees it. */
char *tool_list_text(const nk_bitmap *b);

/* What a value on the command line is, for completion. */
enum tool_value {
	TOOL_VALUE_NONE,
	TOOL_VALUE_FILE,	       /* the shell completes file names */
	TOOL_VALUE_NODE,	       /* a NUMA node of this host */
	TOOL_VALUE_HUGEPAGE_SIZE,      /* a hugepage size of this host: 2M, 1G */
	TOOL_VALUE_KNOB,	       /* KNOB= for each KSM knob of this kernel */
	TOOL_VALUE_VM,		       /* the name of a running VM */
	TOOL_VALUE_NUMAKSM_VM,	       /* the name of a running numaksm-vmm VM */
	TOOL_VALUE_FIRST_ONLY = 0x100, /* or'ed: the first argument only */
};

/* Under `numaksm __complete`: whether the command runs only to complete. */
bool tool_completing(void);

/*
 * Under `numaksm __complete`, called by a command just before it parses
 * its options with `opts` (those whose val is in `only`, or all for NULL):
 * print the completions of the last word of argv (an option, the value of
 * the option before it, or an argument of kind `positional`) and exit.
 * Otherwise it does nothing.
 */
void tool_complete_options(int argc, char **argv, const struct option *opts, const char *only,
			   enum tool_value positional);

/* The option table the running command passed to tool_complete_options()
 * last (NULL before): what an unknown option is compared with. */
const struct option *tool_parsing_options(void);

/* The word of `words` (NULL-terminated, or `n` of them with a stride) that
 * `typed` most likely meant: at most 2 edits away, or one it starts; NULL
 * when none is close. */
const char *tool_did_you_mean(const char *typed, const char *const *words, size_t n, size_t stride);

/* Print the words of space-separated `list` that start with `prefix`. */
void tool_complete_words(const char *list, const char *prefix);

/* `numaksm __complete WORD... CURRENT`. */
int tool_complete_main(const struct tool_command *commands, size_t n_commands, int argc,
		       char **argv);

/* pinning.c: the pinning state (pins.json) read-only, when there is one
 * (NULL otherwise; nk_pin_state_free() it), and whether `vm` is in it, with
 * its vCPU threads allowed on, or last run on, CPUs off its plan. */
struct nk_vm_info;
typedef struct nk_pin_state nk_pin_state;
nk_pin_state *tool_pins_open(nk_host *host);
bool tool_vm_pinning(const nk_pin_state *pins, const struct nk_vm_info *vm, unsigned *ret_off_plan);
/* The VMs a command is about: those named (NAME or PID, nk_vm_lookup()),
 * or every one found when none is. */
struct nk_vm_ref;
/* The policy file, where numaksm tuned reads it. */
#define TOOL_DEFAULT_CONFIG "/etc/numaksm/numaksm.conf"
/* cmd-audit.c: the policy file at `path`, else the default one, if it exists
 * (*ret NULL when it does not). */
typedef struct nk_conf nk_conf;
int tool_policy_load(const char *path, nk_conf **ret, nk_error **err);
/* Each VM's tenant (the first matching [vm] rule's; NULL: none) and group
 * (the index of its tenant's first VM, or its own).  @return whether some VM
 * has a tenant. */
bool tool_tenant_groups(const nk_conf *policy, const struct nk_vm_ref *refs, size_t n,
			const char **tenant, int *group);
int tool_find_vms(nk_host *host, char *const *names, int n_names, struct nk_vm_ref **ret,
		  size_t *ret_n, nk_error **err);

int cmd_completion(int argc, char **argv, nk_error **err);
int cmd_check(int argc, char **argv, nk_error **err);
int cmd_pin(int argc, char **argv, nk_error **err);
int cmd_libvirt(int argc, char **argv, nk_error **err);
int cmd_hugepages(int argc, char **argv, nk_error **err);
int cmd_zone(int argc, char **argv, nk_error **err);
int cmd_ksm(int argc, char **argv, nk_error **err);
int cmd_tuned(int argc, char **argv, nk_error **err);
int cmd_status(int argc, char **argv, nk_error **err);
int cmd_top(int argc, char **argv, nk_error **err);
int cmd_place(int argc, char **argv, nk_error **err);
int cmd_vm(int argc, char **argv, nk_error **err);
int cmd_exporter(int argc, char **argv, nk_error **err);
int cmd_estimate(int argc, char **argv, nk_error **err);
int cmd_audit(int argc, char **argv, nk_error **err);

#endif
