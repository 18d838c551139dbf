/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shell completion from the tables the commands parse with.
 *
 *   numaksm __complete WORD... CURRENT
 *
 * prints the completions of CURRENT, one a line, after the words typed
 * before it ("ksm" "set" "--u").  Commands and subcommands come from
 * numaksm's command table; options from the very table each command hands
 * getopt_long(), offered by tool_complete_options() just before it parses;
 * values from the host: its NUMA nodes, hugepage sizes, KSM's knobs (the
 * library's field table) and the VMs running now.  `numaksm completion
 * bash` prints the script that calls it, so completion never goes stale.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <numaksm/hostinfo.h>
#include <numaksm/ksm.h>
#include <numaksm/vm.h>

#include "tool.h"

static bool completing;

bool tool_completing(void)
{
	return completing;
}

static void offer(const char *word, const char *prefix)
{
	if (strncmp(word, prefix, strlen(prefix)) == 0)
		printf("%s\n", word);
}

/* The space-separated words of `list`. */
void tool_complete_words(const char *list, const char *prefix)
{
	char word[64];
	for (const char *w = list; w && *w; w += strspn(w, " ")) {
		size_t n = strcspn(w, " ");
		snprintf(word, sizeof(word), "%.*s", (int)n, w);
		offer(word, prefix);
		w += n;
	}
}

static void offer_nodes(const char *prefix)
{
	nk_host *host = NULL;
	struct nk_hostinfo *info = NULL;
	char word[16];
	if (nk_host_open(NULL, &host, NULL) >= 0 && nk_hostinfo_read(host, &info, NULL) >= 0)
		for (size_t i = 0; i < info->n_nodes; i++) {
			snprintf(word, sizeof(word), "%d", info->nodes[i].id);
			offer(word, prefix);
		}
	nk_hostinfo_free(info);
	nk_host_free(host);
}

/* As --size takes them: 2M, 1G. */
static void offer_hugepage_sizes(const char *prefix)
{
	nk_host *host = NULL;
	struct nk_hostinfo *info = NULL;
	char word[32];
	if (nk_host_open(NULL, &host, NULL) >= 0 && nk_hostinfo_read(host, &info, NULL) >= 0)
		for (size_t i = 0; i < info->n_hugepages; i++) {
			uint64_t kb = info->hugepages[i].size_kb;
			if (kb % (1024 * 1024) == 0)
				snprintf(word, sizeof(word), "%lluG", (unsigned long long)kb >> 20);
			else if (kb % 1024 == 0)
				snprintf(word, sizeof(word), "%lluM", (unsigned long long)kb >> 10);
			else
				snprintf(word, sizeof(word), "%lluK", (unsigned long long)kb);
			offer(word, prefix);
		}
	nk_hostinfo_free(info);
	nk_host_free(host);
}

/* "pages_to_scan=": the knobs of this kernel, from the library's table. */
static void offer_knobs(const char *prefix)
{
	nk_host *host = NULL;
	struct nk_ksm ksm = {0};
	char word[64];
	bool live =
	    nk_host_open(NULL, &host, NULL) >= 0 && nk_ksm_read(host, NK_KSM_ALL, &ksm, NULL) >= 0;
	for (int f = 0; f < NK_KSM_FIELD_COUNT; f++) {
		const struct nk_ksm_field_info *i = nk_ksm_field((enum nk_ksm_field)f);
		if (!i->writable || (live && !nk_ksm_has(&ksm, (enum nk_ksm_field)f)))
			continue;
		snprintf(word, sizeof(word), "%s=", i->name);
		offer(word, prefix);
	}
	nk_host_free(host);
}

/* The names of the VMs running now (only numaksm-vmm's for `vm`). */
static void offer_vms(const char *prefix, bool numaksm_vmm_only)
{
	nk_host *host = NULL;
	struct nk_vm_ref *refs = NULL;
	int n = -1;
	if (nk_host_open(NULL, &host, NULL) >= 0)
		n = nk_vm_find_all(host, &refs, NULL);
	for (int i = 0; i < n; i++)
		if (!numaksm_vmm_only || refs[i].kind == NK_VM_NUMAKSM)
			offer(refs[i].name, prefix);
	nk_vm_refs_free(refs, n > 0 ? (size_t)n : 0);
	nk_host_free(host);
}

static void offer_value(enum tool_value kind, const char *prefix)
{
	switch (kind) {
	case TOOL_VALUE_NONE:
	case TOOL_VALUE_FILE: /* the shell's own (complete -o default) */
	case TOOL_VALUE_FIRST_ONLY:
		break;
	case TOOL_VALUE_NODE:
		offer_nodes(prefix);
		break;
	case TOOL_VALUE_HUGEPAGE_SIZE:
		offer_hugepage_sizes(prefix);
		break;
	case TOOL_VALUE_KNOB:
		offer_knobs(prefix);
		break;
	case TOOL_VALUE_VM:
		offer_vms(prefix, false);
		break;
	case TOOL_VALUE_NUMAKSM_VM:
		offer_vms(prefix, true);
		break;
	}
}

/* What an option's value is, by the option's name. */
static enum tool_value option_value(const char *name)
{
	static const struct {
		const char *option;
		enum tool_value kind;
	} kinds[] = {
	    {"node", TOOL_VALUE_NODE},		{"nodes", TOOL_VALUE_NODE},
	    {"size", TOOL_VALUE_HUGEPAGE_SIZE}, {"root", TOOL_VALUE_FILE},
	    {"topology", TOOL_VALUE_FILE},	{"config", TOOL_VALUE_FILE},
	    {"trace", TOOL_VALUE_FILE},		{"runtime-dir", TOOL_VALUE_FILE},
	    {"textfile", TOOL_VALUE_FILE},	{"web.config.file", TOOL_VALUE_FILE},
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(name, kinds[i].option) == 0)
			return kinds[i].kind;
	return TOOL_VALUE_NONE;
}

/* Whether argv[i] is the value of the option before it. */
static bool is_option_value(char **argv, int i, const struct option *opts)
{
	if (i < 1 || strncmp(argv[i - 1], "--", 2) != 0 || strchr(argv[i - 1], '='))
		return false;
	for (const struct option *o = opts; o->name; o++)
		if (strcmp(argv[i - 1] + 2, o->name) == 0)
			return o->has_arg == required_argument;
	return false;
}

/* The options the running command parses with: for a did-you-mean. */
static const struct option *parsing_options;

const struct option *tool_parsing_options(void)
{
	return parsing_options;
}

void tool_complete_options(int argc, char **argv, const struct option *opts, const char *only,
			   enum tool_value positional)
{
	parsing_options = opts;
	if (!completing)
		return;
	const char *cur = argv[argc - 1];
	char word[64];
	if (is_option_value(argv, argc - 1, opts)) {
		for (const struct option *o = opts; o->name; o++)
			if (strcmp(argv[argc - 2] + 2, o->name) == 0 &&
			    (!only || strchr(only, o->val)))
				offer_value(option_value(o->name), cur);
	} else if (cur[0] == '-') {
		for (const struct option *o = opts; o->name; o++) {
			if (only && !strchr(only, o->val))
				continue;
			snprintf(word, sizeof(word), "--%s", o->name);
			offer(word, cur);
		}
	} else {
		/* argv[0] is the command or subcommand; count the arguments
		 * before this one. */
		int before = 0;
		for (int k = 1; k < argc - 1; k++)
			if (argv[k][0] != '-' && !is_option_value(argv, k, opts))
				before++;
		if (!(positional & TOOL_VALUE_FIRST_ONLY) || before == 0)
			offer_value((enum tool_value)(positional & ~TOOL_VALUE_FIRST_ONLY), cur);
	}
	fflush(stdout);
	_exit(EXIT_OK);
}

int tool_complete_main(const struct tool_command *commands, size_t n_commands, int argc,
		       char **argv)
{
	/* argv: "__complete", the words after numaksm, the current word. */
	if (argc < 2)
		return EXIT_OK;
	argv++;
	argc--;
	int i = 0;
	while (i < argc - 1 && argv[i][0] == '-') /* numaksm --verbose ... */
		i++;
	const char *cur = argv[argc - 1];
	if (i == argc - 1) {
		if (cur[0] == '-')
			tool_complete_words("--help --version --verbose", cur);
		else
			for (size_t c = 0; c < n_commands; c++)
				if (commands[c].summary) /* not the hidden ones */
					offer(commands[c].name, cur);
		return EXIT_OK;
	}
	const struct tool_command *c = NULL;
	for (size_t k = 0; k < n_commands; k++)
		if (commands[k].summary && strcmp(argv[i], commands[k].name) == 0)
			c = &commands[k];
	if (!c)
		return EXIT_OK;
	if (c->subcommands && i + 1 == argc - 1 && cur[0] != '-') {
		tool_complete_words(c->subcommands, cur);
		return EXIT_OK;
	}
	/* The command parses its arguments up to the current word, offering
	 * its options or values there (tool_complete_options()) and exiting.
	 * Nothing it prints on the way is a completion: it has printed
	 * nothing when it gets there, and its errors go nowhere. */
	completing = true;
	if (!freopen("/dev/null", "w", stderr))
		return EXIT_OK;
	fflush(stdout);
	nk_error *err = NULL;
	c->run(argc - i, argv + i, &err);
	nk_error_free(err);
	/* It took no options of its own here (a subcommand was missing or
	 * unknown): --help is all there is. */
	if (cur[0] == '-')
		offer("--help", cur);
	return EXIT_OK;
}

/* `numaksm completion bash`: the script, which asks numaksm itself. */
static const char bash_script[] =
    "# bash completion for numaksm: `numaksm completion bash` prints it; every\n"
    "# completion comes from `numaksm __complete WORD... CURRENT`.\n"
    "_numaksm()\n"
    "{\n"
    "\tlocal words=() i w cur=${COMP_WORDS[COMP_CWORD]}\n"
    "\t# Words split at '=' (COMP_WORDBREAKS) are joined again: KEY=VALUE.\n"
    "\tfor ((i = 1; i <= COMP_CWORD; i++)); do\n"
    "\t\tw=${COMP_WORDS[i]}\n"
    "\t\tif ((${#words[@]} > 1)) && [[ $w == = || ${words[-1]} == *= ]]; then\n"
    "\t\t\twords[-1]+=$w\n"
    "\t\telse\n"
    "\t\t\twords+=(\"$w\")\n"
    "\t\tfi\n"
    "\tdone\n"
    "\t[[ $cur == = ]] && cur=\n"
    "\tlocal keep=${words[-1]%\"$cur\"}\n"
    "\tlocal IFS=$'\\n'\n"
    "\tCOMPREPLY=($(\"${COMP_WORDS[0]}\" __complete \"${words[@]}\" 2> /dev/null))\n"
    "\tif [[ -n $keep ]]; then\n"
    "\t\tCOMPREPLY=(\"${COMPREPLY[@]#\"$keep\"}\")\n"
    "\t\tfor i in \"${!COMPREPLY[@]}\"; do\n"
    "\t\t\t[[ -n ${COMPREPLY[i]} ]] || unset 'COMPREPLY[i]'\n"
    "\t\tdone\n"
    "\tfi\n"
    "\t[[ ${COMPREPLY[*]} == *= ]] && compopt -o nospace 2> /dev/null\n"
    "\treturn 0\n"
    "}\n"
    "complete -o default -F _numaksm numaksm\n";

int cmd_completion(int argc, char **argv, nk_error **err)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("Usage: numaksm completion bash\n\n"
		       "Print the bash completion script; it asks numaksm for every completion,\n"
		       "so commands, options, node numbers, hugepage sizes, KSM knobs and the\n"
		       "names of running VMs are always this numaksm's and this host's:\n\n"
		       "  source <(numaksm completion bash)\n");
		return EXIT_OK;
	}
	if (argc != 2) {
		tool_usage_error(err, "completion needs a shell: bash");
		return nk_error_hint(err, "see 'numaksm completion --help'");
	}
	if (strcmp(argv[1], "bash") != 0) {
		tool_usage_error(err, "unknown shell '%s': expected bash", argv[1]);
		return nk_error_hint(err, "see 'numaksm completion --help'");
	}
	fputs(bash_script, stdout);
	return EXIT_OK;
}
