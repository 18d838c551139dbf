/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm pin: plan vCPU placement from the hwloc topology, apply it to a
 * running VMM's threads and show where they run.
 *
 *   numaksm pin plan  --vcpus N [placement options] [--json|--format FORMAT]
 *   numaksm pin apply PID|NAME [placement options] [--json]
 *   numaksm pin show  PID|NAME [--json]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <numaksm/cleanup.h>
#include <numaksm/vcpu.h>
#include <numaksm/vm.h>

#include "json.h"
#include "libvirt.h"
#include "pin.h"
#include "tool.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void tool_pin_args_release(struct pin_args *a)
{
	nk_bitmap_free(a->nodes);
	nk_bitmap_free(a->housekeeping);
	free(a->guest_nodes);
}

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: numaksm pin plan --vcpus N [OPTIONS] [--format FORMAT]\n"
	    "       numaksm pin apply PID|NAME [OPTIONS]\n"
	    "       numaksm pin show PID|NAME [--json] [--root DIR]\n"
	    "       numaksm pin record PID|NAME\n"
	    "       numaksm pin release NAME|PID\n\n"
	    "Plan vCPU placement from the host topology, apply it to a VMM's threads\n"
	    "(QEMU 'CPU n/KVM', Cloud Hypervisor 'vcpuN', Firecracker 'fc_vcpu N') and\n"
	    "show where each thread may run and last ran.\n\n"
	    "Placement options (plan, apply):\n"
	    "  --vcpus N                 vCPUs (apply: defaults to the vCPU threads found)\n"
	    "  --threads-per-core T      guest SMT threads per core (default 1)\n"
	    "  --policy dedicated|shared one CPU per vCPU, or float over a node (default "
	    "dedicated)\n"
	    "  --smt prefer|isolate|require\n"
	    "                            fill sibling PUs / keep siblings free / guest "
	    "siblings\n"
	    "                            on host siblings (default prefer)\n"
	    "  --emulator share|isolate  emulator threads on the vCPUs' CPUs, or on one CPU "
	    "of\n"
	    "                            their own (default share)\n"
	    "  --nodes LIST              host nodes holding the guest nodes' memory, one guest\n"
	    "                            node each, vCPUs split evenly in whole guest cores\n"
	    "  --spill                   allow vCPUs onto the nearest other nodes when full\n"
	    "  --guest-nodes N           N guest nodes (default: one per --nodes node), on the\n"
	    "                            --nodes nodes in turn\n"
	    "  --housekeeping CPUS       CPUs never given to vCPUs or emulator threads\n"
	    "  --topology FILE.xml       plan on an hwloc XML topology (lstopo --of xml)\n"
	    "  --synthetic STR           plan on a synthetic topology ('pack:2 numa:2 core:8 "
	    "pu:2')\n"
	    "  --name NAME               the VM's name in the assignment state (apply)\n\n"
	    "Plan output (plan):\n"
	    "  --format text|json|libvirt|virsh\n"
	    "                            a table, JSON (as --json), libvirt domain XML\n"
	    "                            elements, or live virsh commands (default text)\n"
	    "  --memory SIZE             libvirt: the guest's RAM, split over its NUMA cells\n"
	    "  --hugepages SIZE|none     libvirt: back it with hugepages of SIZE (2M, 1G)\n"
	    "  --domain NAME             virsh: the libvirt domain the commands are for\n\n"
	    "Common options:\n"
	    "  --json                    machine-readable output\n"
	    "  --root DIR                a captured host tree (gather-host-tree): plan on its\n"
	    "                            topology, read by hwloc; show its /proc\n\n"
	    "plan and apply plan around the VMs already pinned, kept in "
	    "$NUMAKSM_RUNTIME_DIR/pins.json\n"
	    "(default /run/numaksm).  apply pins all threads or none, then reads every\n"
	    "affinity back.  record enters a VM pinned by another program (libvirt) as\n"
	    "it runs; release drops a stopped VM's entry (libvirt's hook calls both).\n\n"
	    "Exit status: 0 success, 1 refused or failed, 2 usage error.\n");
}

/* ---- options --------------------------------------------------------- */

static int parse_choice(const char *opt, const char *value, const char *const *names, int n,
			int *ret, nk_error **err)
{
	for (int i = 0; i < n; i++)
		if (strcmp(value, names[i]) == 0) {
			*ret = i;
			return 0;
		}
	char expected[128] = "";
	for (int i = 0; i < n; i++) {
		strncat(expected,
			i == 0	     ? ""
			: i == n - 1 ? " or "
				     : ", ",
			sizeof(expected) - strlen(expected) - 1);
		strncat(expected, names[i], sizeof(expected) - strlen(expected) - 1);
	}
	return tool_usage_error(err, "invalid %s '%s': expected %s", opt, value, expected);
}

static int parse_count(const char *opt, const char *value, long long max, unsigned *ret,
		       nk_error **err)
{
	long long v;
	nk_error *e = NULL;
	if (nk_parse_int(value, 1, max, &v, &e) < 0) {
		nk_error_free(e);
		return tool_usage_error(err, "invalid %s '%s': expected a number from 1 to %lld",
					opt, value, max);
	}
	*ret = (unsigned)v;
	return 0;
}

/* Parse a list into *slot, replacing what an earlier option put there. */
static int parse_set(const char *opt, const char *value, const char *what, nk_bitmap **slot,
		     nk_error **err)
{
	nk_error *e = NULL;
	*slot = nk_bitmap_free(*slot);
	if (nk_parse_list(value, what, slot, &e) < 0) {
		tool_usage_error(err, "invalid %s '%s': expected a %s such as 0-3,6", opt, value,
				 what);
		nk_error_free(e);
		return -EINVAL;
	}
	return 0;
}

/* A node listed twice (--nodes 0,0 or 0-2,1) would silently become one
 * guest node fewer than asked: refuse it, naming the node. */
static int refuse_duplicates(const char *opt, const char *value, nk_error **err)
{
	_cleanup_free_ char *copy = strdup(value);
	_cleanup_bitmap_ nk_bitmap *seen = nk_bitmap_new();
	char *save = NULL;

	if (!copy || !seen)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		_cleanup_bitmap_ nk_bitmap *one = NULL;
		if (nk_parse_list(item, "node list", &one, NULL) < 0)
			continue; /* the whole list parsed: cannot happen */
		nk_bitmap_foreach (node, one) {
			if (nk_bitmap_test(seen, (unsigned)node))
				return tool_usage_error(err,
							"invalid %s '%s': node %d is listed twice; "
							"each node holds one guest node",
							opt, value, node);
			if (nk_bitmap_set(seen, (unsigned)node) < 0)
				return nk_error_set(err, ENOMEM, "out of memory");
		}
	}
	return 0;
}

/* --memory SIZE and --hugepages SIZE|none, in KiB. */
static int parse_kib(const char *opt, const char *value, bool none_ok, uint64_t *ret,
		     nk_error **err)
{
	uint64_t bytes;
	nk_error *e = NULL;
	if (none_ok && strcmp(value, "none") == 0) {
		*ret = 0;
		return 0;
	}
	if (nk_parse_size(value, &bytes, &e) < 0 || bytes < 1024 || bytes % 1024) {
		nk_error_free(e);
		return tool_usage_error(err, "invalid %s '%s': expected a size such as %s", opt,
					value, none_ok ? "2M, 1G or none" : "4G");
	}
	*ret = bytes / 1024;
	return 0;
}

int tool_pin_parse(int argc, char **argv, const char *cmd, unsigned who, struct pin_args *a,
		   nk_error **err)
{
	static const char *const policies[] = {"dedicated", "shared"};
	static const char *const smts[] = {"prefer", "isolate", "require"};
	static const char *const emulators[] = {"share", "isolate"};
	static const char *const formats[] = {"text", "json", "libvirt", "virsh"};
	enum {
		ALL = PIN_FOR_SHOW | PIN_FOR_PLAN | PIN_FOR_APPLY | PIN_FOR_LIBVIRT | PIN_FOR_RECORD
	};
	enum { PLACE = PIN_FOR_PLAN | PIN_FOR_APPLY | PIN_FOR_LIBVIRT };
	static const struct {
		struct option opt;
		unsigned who;
	} table[] = {
	    {{"json", no_argument, NULL, 'j'}, ALL & ~(PIN_FOR_LIBVIRT | PIN_FOR_RECORD)},
	    {{"root", required_argument, NULL, 'r'}, ALL},
	    {{"help", no_argument, NULL, 'h'}, ALL},
	    {{"vcpus", required_argument, NULL, 'v'}, PLACE},
	    {{"threads-per-core", required_argument, NULL, 't'}, PLACE},
	    {{"policy", required_argument, NULL, 'p'}, PLACE},
	    {{"smt", required_argument, NULL, 's'}, PLACE},
	    {{"emulator", required_argument, NULL, 'e'}, PLACE},
	    {{"nodes", required_argument, NULL, 'n'}, PLACE},
	    {{"housekeeping", required_argument, NULL, 'H'}, PLACE},
	    {{"topology", required_argument, NULL, 'T'}, PLACE},
	    {{"synthetic", required_argument, NULL, 'S'}, PLACE},
	    {{"spill", no_argument, NULL, 'x'}, PLACE},
	    {{"guest-nodes", required_argument, NULL, 'G'}, PLACE},
	    {{"name", required_argument, NULL, 'N'}, PIN_FOR_PLAN | PIN_FOR_APPLY},
	    {{"format", required_argument, NULL, 'f'}, PIN_FOR_PLAN},
	    {{"memory", required_argument, NULL, 'm'}, PIN_FOR_PLAN | PIN_FOR_LIBVIRT},
	    {{"hugepages", required_argument, NULL, 'g'}, PIN_FOR_PLAN | PIN_FOR_LIBVIRT},
	    {{"domain", required_argument, NULL, 'd'}, PIN_FOR_PLAN},
	    {{"live", no_argument, NULL, 'l'}, PIN_FOR_LIBVIRT},
	    {{"dry-run", no_argument, NULL, 'D'}, PIN_FOR_LIBVIRT},
	    {{"connect", required_argument, NULL, 'c'}, PIN_FOR_LIBVIRT},
	};
	struct option opts[ARRAY_SIZE(table) + 1];
	size_t n_opts = 0;
	int c, r = 0, choice;

	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (table[i].who & who)
			opts[n_opts++] = table[i].opt;
	memset(&opts[n_opts], 0, sizeof(*opts));
	tool_complete_options(argc, argv, opts, NULL,
			      who == PIN_FOR_PLAN      ? TOOL_VALUE_NONE
			      : who == PIN_FOR_LIBVIRT ? TOOL_VALUE_NONE
						       : TOOL_VALUE_VM | TOOL_VALUE_FIRST_ONLY);
	a->req.threads_per_core = 1;
	optind = 1;
	opterr = 0;
	while (r >= 0 && (c = getopt_long(argc, argv, ":jr:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			a->json = true;
			a->format = FORMAT_JSON;
			break;
		case 'r':
			a->root = optarg;
			break;
		case 'h':
			return 1;
		case 'v':
			r = parse_count("--vcpus", optarg, 4096, &a->req.vcpus, err);
			a->vcpus_set = true;
			break;
		case 't':
			r = parse_count("--threads-per-core", optarg, 8, &a->req.threads_per_core,
					err);
			break;
		case 'p':
			r = parse_choice("--policy", optarg, policies, 2, &choice, err);
			a->req.policy = (enum nk_pin_policy)choice;
			break;
		case 's':
			r = parse_choice("--smt", optarg, smts, 3, &choice, err);
			a->req.smt = (enum nk_pin_smt)choice;
			break;
		case 'e':
			r = parse_choice("--emulator", optarg, emulators, 2, &choice, err);
			a->req.emulator = (enum nk_pin_emulator)choice;
			break;
		case 'n':
			r = parse_set("--nodes", optarg, "node list", &a->nodes, err);
			if (r >= 0)
				r = refuse_duplicates("--nodes", optarg, err);
			break;
		case 'H':
			r = parse_set("--housekeeping", optarg, "CPU list", &a->housekeeping, err);
			break;
		case 'T':
			a->topology = optarg;
			break;
		case 'S':
			a->synthetic = optarg;
			break;
		case 'x':
			a->req.allow_spill = true;
			break;
		case 'G':
			r = parse_count("--guest-nodes", optarg, 64, &a->n_guest_nodes, err);
			break;
		case 'N':
			a->name = optarg;
			break;
		case 'f':
			r = parse_choice("--format", optarg, formats, 4, &choice, err);
			a->format = (enum pin_format)choice;
			a->json = a->format == FORMAT_JSON;
			break;
		case 'm':
			r = parse_kib("--memory", optarg, false, &a->memory_kib, err);
			break;
		case 'g':
			r = parse_kib("--hugepages", optarg, true, &a->page_kib, err);
			break;
		case 'd':
			a->domain = optarg;
			break;
		case 'l':
			a->live = true;
			break;
		case 'D':
			a->dry_run = true;
			break;
		case 'c':
			a->connect = optarg;
			break;
		default:
			return tool_getopt_error(err, cmd, c, argv);
		}
	}
	if (r < 0)
		return nk_error_hint(err, "see 'numaksm %s --help'", cmd);
	if (a->topology && a->synthetic)
		return tool_usage_error(err, "--topology and --synthetic exclude each other");
	if (a->nodes && nk_bitmap_weight(a->nodes) == 0)
		return tool_usage_error(err,
					"invalid --nodes '': expected a node list such as 0,1");
	if (optind < argc)
		a->target = argv[optind++];
	if (optind < argc)
		return tool_usage_error(err, "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* Split the vCPUs over the --nodes list in whole guest cores, earlier
 * nodes taking the remainder. */
int tool_pin_build_guest_nodes(struct pin_args *a, nk_error **err)
{
	unsigned t = a->req.threads_per_core;

	if (a->req.vcpus % t)
		return tool_usage_error(
		    err, "--vcpus %u is not a multiple of --threads-per-core %u", a->req.vcpus, t);
	if (a->req.policy == NK_PIN_SHARED && a->req.smt != NK_PIN_SMT_PREFER)
		return tool_usage_error(
		    err,
		    "--smt %s needs --policy dedicated: shared vCPUs float over "
		    "whole nodes",
		    nk_pin_smt_name(a->req.smt));
	a->req.housekeeping = a->housekeeping;
	unsigned k = a->nodes ? nk_bitmap_weight(a->nodes) : 0, cores = a->req.vcpus / t;
	unsigned g = a->n_guest_nodes ? a->n_guest_nodes : k;
	if (!g)
		return 0;
	if (k > g)
		return tool_usage_error(
		    err, "--guest-nodes %u is fewer than the %u nodes of --nodes", g, k);
	if (g > cores)
		return tool_usage_error(err, "%s %u%s but %u vCPUs make only %u guest core%s",
					a->n_guest_nodes ? "--guest-nodes" : "--nodes lists", g,
					a->n_guest_nodes ? "" : " nodes", a->req.vcpus, cores,
					cores == 1 ? "" : "s");
	a->guest_nodes = calloc(g, sizeof(*a->guest_nodes));
	if (!a->guest_nodes)
		return nk_error_set(err, ENOMEM, "out of memory");
	/* Guest node i on the i-th node of --nodes, round again when there
	 * are more guest nodes; free to choose without --nodes. */
	int node = -1;
	for (unsigned i = 0; i < g; i++) {
		if (k)
			node = nk_bitmap_next(a->nodes, i % k ? (unsigned)node + 1 : 0);
		a->guest_nodes[i].memory_node = node;
		a->guest_nodes[i].vcpus = (cores / g + (i < cores % g ? 1 : 0)) * t;
	}
	a->req.guest_nodes = a->guest_nodes;
	a->req.n_guest_nodes = g;
	return 0;
}

int tool_pin_load_topology(const struct pin_args *a, nk_host *host, nk_topo **ret, nk_error **err)
{
	int r;
	if (a->topology)
		r = nk_topo_load_xml(a->topology, ret, err);
	else if (a->synthetic)
		r = nk_topo_load_synthetic(a->synthetic, ret, err);
	else
		return nk_topo_load_live(host, ret, err);
	if (r < 0)
		tool_mark_usage(); /* a bad --topology or --synthetic is a bad command line */
	return r;
}

/* ---- output ---------------------------------------------------------- */

static char *list_text(const nk_bitmap *b)
{
	char *s = NULL;
	if (nk_bitmap_format(b, &s) < 0)
		abort();
	return s;
}

static void print_plan_text(const nk_pin_plan *plan, const nk_topo *topo)
{
	char *s;
	printf("Plan: %u vCPUs, %s, SMT %s, emulator %s (topology: %s)\n",
	       nk_pin_plan_vcpu_count(plan), nk_pin_policy_name(nk_pin_plan_policy(plan)),
	       nk_pin_smt_name(nk_pin_plan_smt(plan)),
	       nk_pin_emulator_name(nk_pin_plan_emulator(plan)), nk_topo_source(topo));
	printf("  %-6s %-10s %-11s %-9s %s\n", "vCPU", "guest node", "memory node", "host node",
	       "CPUs");
	for (unsigned i = 0; i < nk_pin_plan_vcpu_count(plan); i++) {
		struct nk_pin_vcpu v;
		char mem[16] = "any";
		nk_pin_plan_vcpu(plan, i, &v);
		if (v.memory_node >= 0)
			snprintf(mem, sizeof(mem), "%d", v.memory_node);
		s = list_text(v.cpus);
		printf("  %-6u %-10u %-11s %-9d %s\n", i, v.guest_node, mem, v.host_node, s);
		free(s);
	}
	s = list_text(nk_pin_plan_emulator_cpus(plan));
	printf("  emulator threads: CPUs %s\n", s);
	free(s);
	s = list_text(nk_pin_plan_reserved_cpus(plan));
	if (*s)
		printf("  kept free (SMT siblings): CPUs %s\n", s);
	free(s);
	for (char *const *n = nk_pin_plan_notes(plan); n && *n; n++)
		printf("  note: %s\n", *n);
}

/* The threads, with the node of each last CPU when the topology is known;
 * `judge`: say whether the last CPU is in the affinity (not right after a
 * pin: the last CPU predates it). */
static json_object *json_threads(const struct nk_vm_threads *threads, const nk_topo *topo,
				 bool judge)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < threads->count; i++) {
		const struct nk_vm_thread *t = &threads->threads[i];
		int node =
		    topo && t->last_cpu >= 0 ? nk_topo_cpu_node(topo, (unsigned)t->last_cpu) : -1;
		json_object_array_add(a, tool_json_thread(t, node, judge));
	}
	return a;
}

static void print_threads_text(const struct nk_vm_ref *vm, const struct nk_vm_threads *threads,
			       const nk_topo *topo)
{
	printf("%s %s (PID %d, %s): %u vCPU threads, %zu threads\n", nk_vm_kind_name(vm->kind),
	       vm->name, vm->pid, vm->comm, threads->vcpu_count, threads->count);
	printf("  %-9s %-8s %-16s %-12s %-8s %s\n", "thread", "tid", "name", "affinity", "last CPU",
	       "node");
	for (size_t i = 0; i < threads->count; i++) {
		const struct nk_vm_thread *t = &threads->threads[i];
		char what[24], node[16] = "-";
		if (t->vcpu >= 0)
			snprintf(what, sizeof(what), "vCPU %d", t->vcpu);
		else
			snprintf(what, sizeof(what), "emulator");
		int n =
		    topo && t->last_cpu >= 0 ? nk_topo_cpu_node(topo, (unsigned)t->last_cpu) : -1;
		if (n >= 0)
			snprintf(node, sizeof(node), "%d", n);
		char *aff = list_text(t->affinity);
		printf("  %-9s %-8d %-16s %-12s %-8d %s\n", what, t->tid, t->name, aff, t->last_cpu,
		       node);
		free(aff);
	}
}

/* ---- subcommands ----------------------------------------------------- */

struct pin_session {
	nk_host *host;
	nk_topo *topo;
	nk_pin_state *state;
	nk_pin_plan *plan;
	struct nk_vm_ref vm;
	struct nk_vm_threads threads;
};

static void session_release(struct pin_session *s)
{
	nk_vm_threads_done(&s->threads);
	nk_vm_ref_done(&s->vm);
	nk_pin_plan_free(s->plan);
	nk_pin_state_free(s->state);
	nk_topo_free(s->topo);
	nk_host_free(s->host);
}

static int open_host(const struct pin_args *a, struct pin_session *s, nk_error **err)
{
	int r = nk_host_open(a->root, &s->host, err);
	if (r < 0)
		tool_mark_usage(); /* a bad --root is a bad command line */
	return r;
}

static int pin_plan(struct pin_args *a, struct pin_session *s, nk_error **err)
{
	int r;
	if (a->target)
		return tool_usage_error(err, "unexpected argument '%s'", a->target);
	if (!a->vcpus_set)
		return tool_usage_error(err, "pin plan needs --vcpus N");
	if (a->format == FORMAT_LIBVIRT && !a->memory_kib)
		return tool_usage_error(err, "--format libvirt needs --memory SIZE: the guest's "
					     "RAM, split over its NUMA cells");
	if (a->format == FORMAT_VIRSH && !a->domain)
		return tool_usage_error(err, "--format virsh needs --domain NAME: the libvirt "
					     "domain the commands are for");
	if (a->format != FORMAT_VIRSH && a->domain)
		return tool_usage_error(err, "--domain is for --format virsh");
	if (a->format != FORMAT_LIBVIRT && (a->memory_kib || a->page_kib))
		return tool_usage_error(err, "--%s is for --format libvirt",
					a->memory_kib ? "memory" : "hugepages");
	r = tool_pin_build_guest_nodes(a, err);
	if (r >= 0)
		r = open_host(a, s, err);
	if (r >= 0)
		r = tool_pin_load_topology(a, s->host, &s->topo, err);
	if (r < 0)
		return r;
	/* Other VMs' assignments matter only on this host's own topology. */
	if (!a->topology && !a->synthetic && nk_host_is_live(s->host))
		r = nk_pin_state_open(s->host, NULL, 0, &s->state, err);
	if (r < 0)
		return r;
	r = nk_pin_plan_compute(s->topo, &a->req, s->state, &s->plan, err);
	if (r < 0)
		return r;
	switch (a->format) {
	case FORMAT_JSON: {
		json_object *doc = tool_json_doc("pin plan");
		json_object_object_add(doc, "plan", tool_json_pin_plan(s->plan, s->topo));
		tool_json_print(doc, true);
		break;
	}
	case FORMAT_LIBVIRT:
	case FORMAT_VIRSH: {
		struct tool_libvirt_layout layout;
		r = tool_libvirt_layout(s->plan, a->memory_kib, a->page_kib, &layout, err);
		if (r < 0) {
			tool_mark_usage(); /* --memory too small for the guest nodes */
			return r;
		}
		if (a->format == FORMAT_LIBVIRT)
			r = tool_libvirt_print_xml(&layout, err);
		else
			tool_libvirt_print_virsh(&layout, a->domain);
		tool_libvirt_layout_done(&layout);
		if (r < 0)
			return r;
		break;
	}
	case FORMAT_TEXT:
		print_plan_text(s->plan, s->topo);
		break;
	}
	return EXIT_OK;
}

/* The VM named on the command line, as `numaksm status` finds it, and its threads. */
static int find_vm(const struct pin_args *a, struct pin_session *s, nk_error **err)
{
	if (!a->target)
		return tool_usage_error(err, "missing PID or NAME of a VM");
	int r = nk_vm_lookup(s->host, a->target, &s->vm, err);
	if (r < 0)
		return r;
	r = nk_vm_threads_read(s->host, &s->vm, &s->threads, err);
	if (r == -ESRCH)
		return nk_error_set(err, ESRCH, "%s (PID %d) ended", s->vm.name, s->vm.pid);
	return r;
}

static int pin_apply_cmd(struct pin_args *a, struct pin_session *s, nk_error **err)
{
	nk_error *undo_err = NULL;
	int r = open_host(a, s, err);
	if (r < 0)
		return r;
	r = nk_host_require_live(s->host, "pin threads", err);
	if (r >= 0)
		r = find_vm(a, s, err);
	if (r < 0)
		return r;
	unsigned found = s->threads.vcpu_count;
	if (a->vcpus_set && a->req.vcpus != found) {
		nk_error_set(err, EINVAL, "--vcpus %u but %s (PID %d) has %u vCPU threads",
			     a->req.vcpus, s->vm.name, s->vm.pid, found);
		return nk_error_hint(err, "leave out --vcpus to plan for the threads found");
	}
	a->req.vcpus = found;
	r = tool_pin_build_guest_nodes(a, err);
	if (r >= 0)
		r = tool_pin_load_topology(a, s->host, &s->topo, err);
	if (r >= 0)
		r = nk_pin_state_open(s->host, NULL, NK_PIN_STATE_WRITE, &s->state, err);
	if (r < 0)
		return r;
	int pid = s->vm.pid;
	/* Re-pinning a VM: its own old CPUs are free for its new plan. */
	nk_pin_state_remove(s->state, pid);
	r = nk_pin_plan_compute(s->topo, &a->req, s->state, &s->plan, err);
	if (r < 0)
		return r;
	/* The state first: if it cannot be saved, nothing has been pinned. */
	r = nk_pin_state_add(s->state, s->host, s->plan, pid, a->name ? a->name : s->vm.name, err);
	if (r >= 0)
		r = nk_pin_state_save(s->state, err);
	if (r < 0)
		return r;
	r = nk_pin_apply(s->host, &s->vm, &s->threads, s->topo, s->plan, err);
	if (r < 0) {
		nk_pin_state_remove(s->state, pid);
		if (nk_pin_state_save(s->state, &undo_err) < 0)
			tool_log_error("pin apply", nk_error_message(undo_err));
		nk_error_free(undo_err);
		return r;
	}
	if (a->json) {
		/* The VM under the name it was recorded with. */
		struct nk_vm_ref vm = s->vm;
		if (a->name)
			vm.name = (char *)a->name;
		json_object *doc = tool_json_doc("pin apply");
		json_object_object_add(doc, "vm", tool_json_vm_ref(&vm));
		json_object_object_add(doc, "plan", tool_json_pin_plan(s->plan, s->topo));
		json_object_object_add(doc, "threads", json_threads(&s->threads, s->topo, false));
		tool_json_print(doc, true);
	} else {
		print_plan_text(s->plan, s->topo);
		printf("Applied and verified:\n");
		print_threads_text(&s->vm, &s->threads, s->topo);
	}
	return EXIT_OK;
}

static int pin_show(struct pin_args *a, struct pin_session *s, nk_error **err)
{
	int r = open_host(a, s, err);
	if (r >= 0)
		r = find_vm(a, s, err);
	if (r < 0)
		return r;
	/* The node of each last CPU, when the host's (or the captured tree's)
	 * topology can be read. */
	nk_topo_load_live(s->host, &s->topo, NULL);
	if (!a->json) {
		print_threads_text(&s->vm, &s->threads, s->topo);
		return EXIT_OK;
	}
	json_object *doc = tool_json_doc("pin show");
	json_object_object_add(doc, "live", json_object_new_boolean(nk_host_is_live(s->host)));
	json_object_object_add(doc, "vm", tool_json_vm_ref(&s->vm));
	json_object_object_add(doc, "vcpu_count", tool_json_u64(s->threads.vcpu_count));
	json_object_object_add(doc, "threads", json_threads(&s->threads, s->topo, true));
	tool_json_print(doc, true);
	return EXIT_OK;
}

/* A VM started pinned by another program (libvirt's hook calls this on
 * "started"): entered in the state as it runs. */
static int pin_record(struct pin_args *a, struct pin_session *s, nk_error **err)
{
	int r = open_host(a, s, err);
	if (r >= 0)
		r = nk_host_require_live(s->host, "record a VM", err);
	if (r >= 0)
		r = find_vm(a, s, err);
	if (r >= 0)
		r = nk_pin_state_open(s->host, NULL, NK_PIN_STATE_WRITE, &s->state, err);
	if (r >= 0)
		r = nk_pin_state_record(s->state, s->host, &s->vm, &s->threads, err);
	if (r == 0) {
		printf("%s (PID %d) is not pinned: nothing recorded\n", s->vm.name, s->vm.pid);
		return nk_pin_state_save(s->state, err) < 0 ? -EIO : EXIT_OK;
	}
	if (r < 0 || (r = nk_pin_state_save(s->state, err)) < 0)
		return r;
	struct nk_pin_entry e;
	for (unsigned i = 0; nk_pin_state_entry(s->state, i, &e) == 0; i++) {
		if (e.pid != s->vm.pid)
			continue;
		_cleanup_free_ char *cpus =
		    list_text(e.policy == NK_PIN_DEDICATED ? e.dedicated : e.shared);
		printf("Recorded %s %s (PID %d): %s CPUs %s\n", nk_vm_kind_name(s->vm.kind),
		       s->vm.name, s->vm.pid, nk_pin_policy_name(e.policy), cpus);
	}
	return EXIT_OK;
}

/* A VM that stopped (libvirt's hook on "release"): its CPUs are free.  The
 * entries of processes that ended go when the state is opened; those named
 * NAME (or of PID) go too. */
static int pin_release(struct pin_args *a, struct pin_session *s, nk_error **err)
{
	long long pid = 0;
	unsigned dropped = 0;
	struct nk_pin_entry e;

	if (!a->target)
		return tool_usage_error(err, "missing NAME or PID of a VM");
	nk_parse_int(a->target, 1, INT32_MAX, &pid, NULL);
	int r = open_host(a, s, err);
	if (r >= 0)
		r = nk_host_require_live(s->host, "release a VM", err);
	if (r >= 0)
		r = nk_pin_state_open(s->host, NULL, NK_PIN_STATE_WRITE, &s->state, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; nk_pin_state_entry(s->state, i, &e) == 0;) {
		if ((e.name && strcmp(e.name, a->target) == 0) || (pid && e.pid == pid)) {
			nk_pin_state_remove(s->state, e.pid);
			dropped++;
		} else {
			i++;
		}
	}
	r = nk_pin_state_save(s->state, err);
	if (r < 0)
		return r;
	printf(dropped ? "Released %s\n" : "%s holds no CPUs in the pin state\n", a->target);
	return EXIT_OK;
}

int cmd_pin(int argc, char **argv, nk_error **err)
{
	static const struct {
		const char *name;
		unsigned who;
		int (*run)(struct pin_args *a, struct pin_session *s, nk_error **err);
	} subs[] = {
	    {"plan", PIN_FOR_PLAN, pin_plan},	      {"apply", PIN_FOR_APPLY, pin_apply_cmd},
	    {"show", PIN_FOR_SHOW, pin_show},	      {"record", PIN_FOR_RECORD, pin_record},
	    {"release", PIN_FOR_RECORD, pin_release},
	};
	struct pin_args a = {0};
	struct pin_session s = {0};

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		if (argc < 2)
			tool_mark_usage();
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		char cmd[32];
		if (strcmp(argv[1], subs[i].name) != 0)
			continue;
		snprintf(cmd, sizeof(cmd), "pin %s", subs[i].name);
		int r = tool_pin_parse(argc - 1, argv + 1, cmd, subs[i].who, &a, err);
		if (r == 0) {
			r = subs[i].run(&a, &s, err);
		} else if (r > 0) {
			usage(stdout);
			r = EXIT_OK;
		}
		session_release(&s);
		tool_pin_args_release(&a);
		return r;
	}
	tool_usage_error(err,
			 "unknown pin command '%s': expected plan, apply, show, record or release",
			 argv[1]);
	return nk_error_hint(err, "see 'numaksm pin --help'");
}
