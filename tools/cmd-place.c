/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm place: put a running VM in a cgroup of its own, on the nodes and
 * CPUs given, with memory limits, its pages migrated and its vCPU threads
 * pinned inside the set; verify and report.  `place --undo` puts it back.
 * All or nothing: a refused or failed placement leaves the VM where it was.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <numaksm/cgroup.h>
#include <numaksm/cleanup.h>
#include <numaksm/estimate.h>
#include <numaksm/policy.h>
#include <numaksm/hostinfo.h>
#include <numaksm/vm.h>

#include "json.h"
#include "tool.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: numaksm place NAME|PID --nodes LIST [OPTIONS]\n"
		"       numaksm place --undo NAME|PID [--json]\n"
		"       numaksm place --plan-fleet [--nodes LIST] [--sample N] [--config FILE]\n"
		"                     [--apply]\n\n"
		"Put a VM (numaksm-vmm, QEMU, Cloud Hypervisor, Firecracker, crosvm, or any\n"
		"process by PID) in a cgroup of its own, PARENT/NAME, limited to NUMA nodes\n"
		"(cpuset.mems) and CPUs (cpuset.cpus), with optional memory limits; migrate its\n"
		"pages when asked; pin its vCPU threads inside the CPUs; read it all back.\n"
		"Through libcgroup, on cgroup v1 or v2.  Nothing is half-applied.\n\n"
		"  --nodes LIST         nodes for its memory, e.g. 1 or 2-3 (required)\n"
		"  --cpus LIST          CPUs for its threads (default: those of the nodes, or\n"
		"                       of the nearest nodes with CPUs)\n"
		"  --migrate            move the pages it already has onto the nodes\n"
		"  --memory-high SIZE   memory.high (v1: memory.soft_limit_in_bytes), e.g. 4G\n"
		"  --memory-max SIZE    memory.max (v1: memory.limit_in_bytes)\n"
		"  --parent PATH        parent group below each hierarchy's root (default "
		"numaksm)\n"
		"  --group NAME         the group's name (default: the VM's name)\n"
		"  --no-pin             leave the vCPU threads to float over the CPUs\n"
		"  --libvirt            move a VM out of libvirt's machine.slice anyway\n"
		"  --undo               put the VM back where it was and remove its group\n"
		"  --json               machine-readable report\n"
		"  --root DIR           a captured host tree: refused, placing changes the host\n"
		"  --plan-fleet         where the running VMs would share most with per-node\n"
		"                       merging (merge_across_nodes=0): their guest RAM is\n"
		"                       fingerprinted (numaksm estimate) and VMs moved or\n"
		"                       swapped onto --nodes (default: every node with memory)\n"
		"                       while each node has memory available for them; prints\n"
		"                       the saving now and with the plan, and the moves, each\n"
		"                       as the place command that makes it; a VM whose\n"
		"                       cpuset already keeps it off a node stays\n"
		"  --apply              make the moves (place --migrate each); all or nothing:\n"
		"                       a move that fails undoes those made\n"
		"  --sample N           fingerprint 1 content in N (numaksm estimate --sample)\n"
		"  --config FILE        the policy file whose [vm] tenants the plan keeps on\n"
		"                       nodes of their own (default " TOOL_DEFAULT_CONFIG ",\n"
		"                       if it exists)\n\n"
		"What was changed is kept in $NUMAKSM_RUNTIME_DIR/place-PID.json (default\n"
		"/run/numaksm) for --undo.\n\n"
		"Exit status: 0 success, 1 refused or failed (nothing changed), 2 usage error.\n");
}

struct place_args {
	struct nk_cgroup_request req;
	nk_bitmap *nodes, *cpus;
	const char *target;
	const char *root; /* refused: placing changes the live host */
	bool undo, json, plan_fleet, apply;
	unsigned sample;
	const char *config;
};

static int parse_set(const char *opt, const char *value, const char *what, nk_bitmap **slot,
		     nk_error **err)
{
	nk_error *e = NULL;
	*slot = nk_bitmap_free(*slot);
	if (nk_parse_list(value, what, slot, &e) < 0 || nk_bitmap_weight(*slot) == 0) {
		nk_error_free(e);
		return tool_usage_error(err, "invalid %s '%s': expected a %s such as 0-3,6", opt,
					value, what);
	}
	return 0;
}

static int parse_bytes(const char *opt, const char *value, uint64_t *ret, nk_error **err)
{
	nk_error *e = NULL;
	if (nk_parse_size(value, ret, &e) < 0 || *ret == 0) {
		nk_error_free(e);
		return tool_usage_error(err, "invalid %s '%s': expected a size such as 512M or 4G",
					opt, value);
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct place_args *a, nk_error **err)
{
	static const struct option opts[] = {
	    {"nodes", required_argument, NULL, 'n'},
	    {"cpus", required_argument, NULL, 'c'},
	    {"migrate", no_argument, NULL, 'm'},
	    {"memory-high", required_argument, NULL, 'H'},
	    {"memory-max", required_argument, NULL, 'M'},
	    {"parent", required_argument, NULL, 'p'},
	    {"group", required_argument, NULL, 'g'},
	    {"no-pin", no_argument, NULL, 'P'},
	    {"libvirt", no_argument, NULL, 'L'},
	    {"undo", no_argument, NULL, 'u'},
	    {"plan-fleet", no_argument, NULL, 'F'},
	    {"apply", no_argument, NULL, 'A'},
	    {"sample", required_argument, NULL, 'S'},
	    {"config", required_argument, NULL, 'C'},
	    {"json", no_argument, NULL, 'j'},
	    {"root", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, r = 0;

	tool_complete_options(argc, argv, opts, NULL, TOOL_VALUE_VM | TOOL_VALUE_FIRST_ONLY);
	a->req.pin_vcpus = true;
	optind = 1;
	opterr = 0;
	while (r >= 0 && (c = getopt_long(argc, argv, ":jr:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			r = parse_set("--nodes", optarg, "node list", &a->nodes, err);
			break;
		case 'c':
			r = parse_set("--cpus", optarg, "CPU list", &a->cpus, err);
			break;
		case 'm':
			a->req.migrate = true;
			break;
		case 'H':
			r = parse_bytes("--memory-high", optarg, &a->req.memory_high_bytes, err);
			break;
		case 'M':
			r = parse_bytes("--memory-max", optarg, &a->req.memory_max_bytes, err);
			break;
		case 'p':
			a->req.parent = optarg;
			break;
		case 'g':
			a->req.group = optarg;
			break;
		case 'P':
			a->req.pin_vcpus = false;
			break;
		case 'L':
			a->req.allow_libvirt = true;
			break;
		case 'u':
			a->undo = true;
			break;
		case 'F':
			a->plan_fleet = true;
			break;
		case 'A':
			a->apply = true;
			break;
		case 'S':
			r = tool_parse_sample(optarg, &a->sample, err);
			break;
		case 'C':
			a->config = optarg;
			break;
		case 'j':
			a->json = true;
			break;
		case 'r':
			a->root = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			return tool_getopt_error(err, "place", c, argv);
		}
	}
	if (r < 0)
		return nk_error_hint(err, "see 'numaksm place --help'");
	if (a->plan_fleet) {
		if (optind < argc)
			return tool_usage_error(err, "--plan-fleet plans every VM: unexpected '%s'",
						argv[optind]);
		if (a->undo || a->cpus || a->req.migrate || a->req.memory_high_bytes ||
		    a->req.memory_max_bytes || a->req.parent || a->req.group)
			return tool_usage_error(err, "--plan-fleet takes only --nodes, --sample, "
						     "--config, --apply, --no-pin and --json");
		return 0;
	}
	if (a->sample || a->apply || a->config)
		return tool_usage_error(err, "--%s goes with --plan-fleet",
					a->apply    ? "apply"
					: a->sample ? "sample"
						    : "config");
	if (optind >= argc)
		return tool_usage_error(err, "missing the NAME or PID of a VM");
	a->target = argv[optind++];
	if (optind < argc)
		return tool_usage_error(err, "unexpected argument '%s'", argv[optind]);
	if (a->undo && (a->nodes || a->cpus || a->req.migrate || a->req.memory_high_bytes ||
			a->req.memory_max_bytes || a->req.parent || a->req.group))
		return tool_usage_error(err, "--undo takes only NAME|PID, --json and --root");
	if (!a->undo && !a->nodes) {
		tool_usage_error(err, "place needs --nodes LIST");
		return nk_error_hint(err, "'numaksm status' shows the nodes and where the VM's "
					  "pages are now");
	}
	a->req.nodes = a->nodes;
	a->req.cpus = a->cpus;
	return 0;
}

/* ---- output ------------------------------------------------------------------ */

static json_object *json_strv(char **v)
{
	json_object *a = json_object_new_array();
	for (; v && *v; v++)
		json_object_array_add(a, json_object_new_string(*v));
	return a;
}

static json_object *json_limit(uint64_t v)
{
	return v == UINT64_MAX || v == 0 ? NULL : tool_json_u64(v);
}

/* Where the VM was, from the report's "cpuset:/a" (v1) and "/a" (v2); null
 * when not known (the process is gone). */
static json_object *json_previous(char **previous)
{
	if (!previous)
		return NULL;
	json_object *a = json_object_new_array();
	for (char **p = previous; *p; p++) {
		const char *colon = strchr(*p, ':');
		if (**p == '/' || !colon) {
			json_object_array_add(a, tool_json_cgroup_membership(0, "", *p));
		} else {
			char *controllers = strndup(*p, (size_t)(colon - *p));
			if (!controllers)
				abort(); /* out of memory */
			/* The v1 hierarchy's number is not recorded. */
			json_object_array_add(
			    a, tool_json_cgroup_membership(-1, controllers, colon + 1));
			free(controllers);
		}
	}
	return a;
}

static json_object *json_applied(const struct nk_cgroup_report *r)
{
	json_object *o = json_object_new_object(), *m = NULL, *v = NULL;

	json_object_object_add(o, "cpus", tool_json_list(r->cpus));
	json_object_object_add(o, "nodes", tool_json_list(r->nodes));
	json_object_object_add(o, "memory_max_bytes", json_limit(r->memory_max_bytes));
	json_object_object_add(o, "memory_high_bytes", json_limit(r->memory_high_bytes));
	if (r->migrated) {
		m = json_object_new_object();
		json_object_object_add(m, "not_moved_page_count",
				       tool_json_u64(r->pages_not_migrated));
		json_object_object_add(m, "seconds", tool_json_seconds(r->migrate_seconds));
	}
	json_object_object_add(o, "migration", m);
	if (r->verified) {
		v = json_object_new_object();
		json_object_object_add(v, "on_nodes_bytes", tool_json_u64(r->on_nodes_bytes));
		json_object_object_add(v, "elsewhere_bytes", tool_json_u64(r->elsewhere_bytes));
		json_object_object_add(v, "absent_bytes", tool_json_u64(r->absent_bytes));
		json_object_object_add(v, "other_bytes", tool_json_u64(r->other_bytes));
	}
	json_object_object_add(o, "verification", v);
	json_object_object_add(o, "vcpu_count", tool_json_u64(r->vcpus));
	json_object_object_add(o, "pinned_vcpu_count", tool_json_u64(r->vcpus_pinned));
	return o;
}

/* `vm`: the VM as looked up (its kind NK_VM_KIND_COUNT when not known). */
static void print_json(const struct nk_cgroup_report *r, const struct nk_vm_ref *vm, bool undo)
{
	json_object *o = tool_json_doc("place");
	struct nk_vm_ref named = *vm;

	named.pid = r->pid;
	named.name = r->name; /* the name it was placed under */
	json_object_object_add(o, "action", json_object_new_string(undo ? "undo" : "place"));
	json_object_object_add(o, "vm", tool_json_vm_ref(&named));
	json_object_object_add(o, "backend", json_object_new_string(r->backend));
	json_object_object_add(o, "group", json_object_new_string(r->group));
	json_object_object_add(o, "group_paths", json_strv(r->dirs));
	json_object_object_add(o, "previous_cgroups", json_previous(r->previous));
	json_object_object_add(o, "applied", undo ? NULL : json_applied(r));
	json_object_object_add(o, "notes", json_strv(r->notes));
	tool_json_print(o, true);
}

static void print_strv(const char *label, char **v)
{
	printf("  %s", label);
	for (; v && *v; v++)
		printf(" %s", *v);
	printf("\n");
}

static void print_text(const struct nk_cgroup_report *r, const struct nk_vm_ref *vm, bool undo)
{
	char a[32], b[32];

	if (undo) {
		printf("Returned %s (PID %d) from %s (cgroup %s)\n", r->name, r->pid, r->group,
		       r->backend);
		if (r->previous)
			print_strv("now in:", r->previous);
		else
			printf("  the process is gone: only its group was removed\n");
		print_strv("removed:", r->dirs);
	} else {
		char *cpus = tool_list_text(r->cpus), *nodes = tool_list_text(r->nodes);
		printf("Placed %s (%s, PID %d) in %s (cgroup %s)\n", r->name,
		       nk_vm_kind_name(vm->kind), r->pid, r->group, r->backend);
		print_strv("was in:", r->previous);
		print_strv("group:", r->dirs);
		printf("  read back: CPUs %s, nodes %s, memory max %s, memory high %s\n", cpus,
		       nodes,
		       r->memory_max_bytes == UINT64_MAX
			   ? "none"
			   : nk_format_bytes(a, sizeof(a), r->memory_max_bytes),
		       r->memory_high_bytes == UINT64_MAX
			   ? "none"
			   : nk_format_bytes(b, sizeof(b), r->memory_high_bytes));
		if (r->migrated)
			printf("  migrate_pages: %" PRIu64 " pages could not be moved (%.3f s)\n",
			       r->pages_not_migrated, r->migrate_seconds);
		if (r->verified) {
			char c[32];
			printf("  guest RAM, page by page: %s on nodes %s, %s elsewhere, %s not "
			       "faulted in\n",
			       nk_format_bytes(a, sizeof(a), r->on_nodes_bytes), nodes,
			       nk_format_bytes(b, sizeof(b), r->elsewhere_bytes),
			       nk_format_bytes(c, sizeof(c), r->absent_bytes));
		}
		if (r->vcpus)
			printf("  vCPU threads: %u of %u pinned inside CPUs %s (see 'numaksm pin "
			       "show %d')\n",
			       r->vcpus_pinned, r->vcpus, cpus, r->pid);
		free(cpus);
		free(nodes);
	}
	for (char **n = r->notes; n && *n; n++)
		printf("  note: %s\n", *n);
}

/* ---- --plan-fleet ------------------------------------------------------------- */

static const char *pages_text(char *buf, size_t size, const struct nk_estimate *e, double pages)
{
	return nk_format_bytes(buf, size,
			       pages > 0 ? (uint64_t)llround(pages * (double)e->page_size) : 0);
}

/* A fleet plan, as plan_fleet() made it. */
struct fleet_plan {
	const struct nk_estimate *e;
	const struct nk_vm_ref *refs;
	size_t n;
	const int *was, *assign;
	const bool *fixed;
	const char **tenant;
	const int *group;
	double before, after;
	bool tenants;
	unsigned mixed_before, mixed;
};

static uint64_t migrate_bytes(const struct fleet_plan *p, size_t i)
{
	const struct nk_estimate_vm *v = &p->e->vms[i];
	if (p->assign[i] == p->was[i] || p->assign[i] < 0)
		return 0;
	return (v->read_pages - v->node_read_pages[p->assign[i]]) * p->e->page_size;
}

static void print_plan_text(const struct fleet_plan *p)
{
	const struct nk_estimate *e = p->e;
	char b1[32], b2[32], b3[32];
	printf("Fingerprinted %zu VMs: %s of guest RAM", p->n,
	       pages_text(b1, 32, e, (double)e->read_pages));
	if (e->sample > 1)
		printf(", 1 content in %u", e->sample);
	printf(".\nPer-node merging (merge_across_nodes=0) saves %s with the VMs where they are, "
	       "%s with this plan (+%s).\n",
	       pages_text(b1, 32, e, p->before), pages_text(b2, 32, e, p->after),
	       pages_text(b3, 32, e, p->after - p->before));
	unsigned moves = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (p->assign[i] == p->was[i])
			continue;
		if (!moves++)
			printf("Moves (each as the command that makes it):\n");
		printf("  %s (PID %d): node %d -> node %d, %s to migrate    numaksm place %d "
		       "--nodes %d --migrate\n",
		       p->refs[i].name, p->refs[i].pid, p->was[i], p->assign[i],
		       nk_format_bytes(b1, 32, migrate_bytes(p, i)), p->refs[i].pid, p->assign[i]);
	}
	if (!moves)
		printf("No move gains a page: the VMs already share most where they are.\n");
	if (p->tenants && !p->mixed)
		printf("Tenants: each node holds one tenant's VMs%s: with merge_across_nodes=0 no "
		       "page is merged between tenants.\n",
		       p->mixed_before ? " after the moves" : "");
	for (size_t i = 0; p->mixed && i < p->n; i++)
		for (size_t j = 0; j < i; j++)
			if (p->assign[j] == p->assign[i] && p->group[j] != p->group[i] &&
			    p->assign[i] >= 0) {
				printf(
				    "Tenants %s and %s stay on node %d (%s, %s): no room to part "
				    "them; the tuner keeps them from merging together\n",
				    p->tenant[j] ? p->tenant[j] : p->refs[j].name,
				    p->tenant[i] ? p->tenant[i] : p->refs[i].name, p->assign[i],
				    p->refs[j].name, p->refs[i].name);
				break;
			}
}

static json_object *json_node(int node)
{
	return node >= 0 ? json_object_new_int(node) : NULL;
}

static json_object *plan_json(const struct fleet_plan *p, bool applied)
{
	const struct nk_estimate *e = p->e;
	json_object *doc = tool_json_doc("place --plan-fleet");
	json_object_object_add(doc, "sample_count", tool_json_u64(e->sample));
	json_object_object_add(doc, "read_bytes", tool_json_u64(e->read_pages * e->page_size));
	json_object_object_add(doc, "saved_now_bytes",
			       tool_json_u64((uint64_t)llround(p->before * (double)e->page_size)));
	json_object_object_add(doc, "saved_planned_bytes",
			       tool_json_u64((uint64_t)llround(p->after * (double)e->page_size)));
	json_object_object_add(doc, "tenants", json_object_new_boolean(p->tenants));
	json_object_object_add(doc, "tenants_apart",
			       p->tenants ? json_object_new_boolean(!p->mixed) : NULL);
	json_object_object_add(doc, "applied", json_object_new_boolean(applied));
	json_object *vms = json_object_new_array();
	for (size_t i = 0; i < p->n; i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "vm", tool_json_vm_ref(&p->refs[i]));
		json_object_object_add(o, "tenant",
				       p->tenant[i] ? json_object_new_string(p->tenant[i]) : NULL);
		json_object_object_add(
		    o, "error", e->vms[i].error ? json_object_new_string(e->vms[i].error) : NULL);
		json_object_object_add(o, "node", json_node(p->was[i]));
		json_object_object_add(o, "planned_node", json_node(p->assign[i]));
		json_object_object_add(o, "fixed", json_object_new_boolean(p->fixed[i]));
		json_object_object_add(o, "migrate_bytes", tool_json_u64(migrate_bytes(p, i)));
		json_object_array_add(vms, o);
	}
	json_object_object_add(doc, "vms", vms);
	return doc;
}

/* Make the planned moves with place --migrate, in order; on a failure, undo
 * the ones made (their groups; pages already moved stay where they went). */
static int apply_moves(nk_host *host, const struct place_args *a, const struct nk_vm_ref *refs,
		       size_t n, const int *was, const int *assign, nk_error **err)
{
	size_t done = 0, *order = calloc(n, sizeof(*order));
	int r = order ? 0 : nk_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (assign[i] == was[i])
			continue;
		_cleanup_(nk_bitmap_freep) nk_bitmap *to = nk_bitmap_new();
		struct nk_cgroup_report *report = NULL;
		struct nk_cgroup_request req = a->req;
		if (!to || nk_bitmap_set(to, (unsigned)assign[i]) < 0) {
			r = nk_error_set(err, ENOMEM, "out of memory");
			break;
		}
		req.nodes = to;
		req.migrate = true;
		r = nk_cgroup_place(host, &refs[i], &req, &report, err);
		if (r < 0) {
			nk_error_hint(err, "no VM was moved: the %zu placed before it are undone",
				      done);
			break;
		}
		if (!a->json)
			printf("Moved %s (PID %d) to node %d\n", refs[i].name, refs[i].pid,
			       assign[i]);
		nk_cgroup_report_free(report);
		order[done++] = i;
	}
	while (r < 0 && done > 0) {
		char pid[16];
		size_t i = order[--done];
		snprintf(pid, sizeof(pid), "%d", refs[i].pid);
		struct nk_cgroup_report *report = NULL;
		if (nk_cgroup_undo(host, pid, a->req.runtime_dir, &report, NULL) < 0)
			fprintf(stderr,
				"numaksm place: could not undo %s (PID %d): numaksm place --undo "
				"%d\n",
				refs[i].name, refs[i].pid, refs[i].pid);
		nk_cgroup_report_free(report);
	}
	free(order);
	return r;
}

/* Fingerprint the trusted VMs, plan where they share most per node, print. */
static int plan_fleet(nk_host *host, const struct place_args *a, nk_error **err)
{
	struct nk_vm_ref *found = NULL, *refs = NULL;
	struct nk_hostinfo *info = NULL;
	struct nk_estimate *e = NULL;
	_cleanup_(nk_bitmap_freep) nk_bitmap *nodes = NULL;
	int *assign = NULL, *was = NULL, *group = NULL;
	const char **tenant = NULL;
	uint64_t *room = NULL;
	size_t n = 0, n_room = 0;
	int count = nk_vm_find_all(host, &found, err), r;
	if (count < 0)
		return count;
	refs = calloc((size_t)count + 1, sizeof(*refs));
	r = refs ? 0 : -ENOMEM;
	for (int i = 0; r == 0 && i < count; i++)
		if (nk_vm_trusted(&found[i]))
			r = nk_vm_ref_copy(&found[i], &refs[n++]);
	nk_vm_refs_free(found, (size_t)count);
	if (r == 0 && n < 2) {
		nk_error_set(err, ENOENT, "%zu VM%s to plan: nothing to share between", n,
			     n == 1 ? "" : "s");
		r = nk_error_hint(err, "'numaksm status' lists the VMs it finds");
		goto out;
	}
	if (r == 0)
		r = nk_hostinfo_read(host, &info, err);
	if (r == 0)
		r = nk_estimate_run(host, refs, n,
				    &(struct nk_estimate_options){.sample = a->sample}, &e, err);
	if (r < 0)
		goto out;
	/* The nodes to plan onto, and what each can take in. */
	nodes = a->nodes ? nk_bitmap_dup(a->nodes) : nk_bitmap_new();
	for (size_t k = 0; nodes && !a->nodes && k < info->n_nodes; k++)
		if (info->nodes[k].mem_total_kb > 0 &&
		    nk_bitmap_set(nodes, (unsigned)info->nodes[k].id) < 0)
			r = -ENOMEM;
	for (size_t k = 0; k < info->n_nodes; k++)
		if ((size_t)info->nodes[k].id + 1 > n_room)
			n_room = (size_t)info->nodes[k].id + 1;
	room = calloc(n_room ? n_room : 1, sizeof(*room));
	assign = calloc(n, sizeof(*assign));
	was = calloc(n, sizeof(*was));
	if (!nodes || !room || !assign || !was || r < 0) {
		r = nk_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (int node = nk_bitmap_next(nodes, 0); node >= 0;
	     node = nk_bitmap_next(nodes, (unsigned)node + 1)) {
		bool known = false;
		for (size_t k = 0; k < info->n_nodes; k++)
			if (info->nodes[k].id == node) {
				known = true;
				room[node] = info->nodes[k].mem_available_kb * 1024;
			}
		if (!known) {
			tool_usage_error(err, "--nodes: node %d is not a node of this host", node);
			r = nk_error_hint(err, "'numaksm check' lists the nodes");
			goto out;
		}
	}
	/* A VM whose cpuset keeps it off a node with memory was put there by
	 * someone: it stays (and still counts). */
	bool *fixed = calloc(n, sizeof(*fixed));
	if (!fixed) {
		r = nk_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct nk_vm_info *vm = NULL;
		was[i] = assign[i] = nk_estimate_main_node(e, i);
		if (e->vms[i].error ||
		    nk_vm_read(host, &refs[i], NULL, NK_VM_READ_PLACEMENT, &vm, NULL) < 0)
			continue;
		for (size_t k = 0; vm->mems_allowed && k < info->n_nodes; k++)
			if (info->nodes[k].mem_total_kb &&
			    !nk_bitmap_test(vm->mems_allowed, (unsigned)info->nodes[k].id))
				fixed[i] = true;
		if (fixed[i] && !a->json) {
			_cleanup_free_ char *list = NULL;
			nk_bitmap_format(vm->mems_allowed, &list);
			printf("Kept where it is: %s (PID %d): its cpuset allows nodes %s\n",
			       refs[i].name, refs[i].pid, list ? list : "?");
		}
		nk_vm_info_free(vm);
	}
	/* Tenants: their VMs on nodes of their own. */
	nk_conf *policy = NULL;
	r = tool_policy_load(a->config, &policy, err);
	tenant = calloc(n, sizeof(*tenant));
	group = calloc(n, sizeof(*group));
	if (r == 0 && (!tenant || !group))
		r = nk_error_set(err, ENOMEM, "out of memory");
	if (r < 0) {
		free(fixed);
		nk_conf_free(policy);
		goto out;
	}
	struct fleet_plan plan = {.e = e,
				  .refs = refs,
				  .n = n,
				  .was = was,
				  .assign = assign,
				  .fixed = fixed,
				  .tenant = tenant,
				  .group = group};
	bool tenants = tool_tenant_groups(policy, refs, n, tenant, group);
	double before, after;
	unsigned mixed_before = tenants ? nk_estimate_tenant_mixes(e, group, assign) : 0;
	r = nk_estimate_plan(e, nodes, room, n_room, fixed, tenants ? group : NULL, assign, &before,
			     &after);
	if (r < 0) {
		free(fixed);
		nk_conf_free(policy);
		r = nk_error_set(err, -r, "out of memory");
		goto out;
	}
	plan.before = before;
	plan.after = after;
	plan.tenants = tenants;
	plan.mixed_before = mixed_before;
	plan.mixed = tenants ? nk_estimate_tenant_mixes(e, group, assign) : 0;
	unsigned moves = 0;
	for (size_t i = 0; i < n; i++)
		moves += assign[i] != was[i];
	if (!a->json)
		print_plan_text(&plan);
	if (moves && a->apply)
		r = apply_moves(host, a, refs, n, was, assign, err);
	if (r == 0 && a->json)
		tool_json_print(plan_json(&plan, moves && a->apply), true);
	if (!a->json)
		for (size_t i = 0; i < n; i++)
			if (e->vms[i].error)
				printf("Not planned: %s (PID %d): %s\n", refs[i].name, refs[i].pid,
				       e->vms[i].error);
	free(fixed);
	nk_conf_free(policy);
out:
	free(assign);
	free(was);
	free(group);
	free(tenant);
	free(room);
	nk_estimate_free(e);
	nk_hostinfo_free(info);
	nk_vm_refs_free(refs, n);
	return r;
}

int cmd_place(int argc, char **argv, nk_error **err)
{
	struct place_args a = {0};
	struct nk_vm_ref vm = {0};
	struct nk_cgroup_report *report = NULL;
	nk_host *host = NULL;
	int r = parse_args(argc, argv, &a, err);

	if (r != 0) {
		nk_bitmap_free(a.nodes);
		nk_bitmap_free(a.cpus);
		return r > 0 ? EXIT_OK : r;
	}
	r = nk_host_open(a.root, &host, err);
	if (r < 0)
		tool_mark_usage(); /* a bad --root is a bad command line */
	else
		r = nk_host_require_live(host, "place a VM", err);
	if (r >= 0 && a.plan_fleet) {
		r = plan_fleet(host, &a, err);
		nk_host_free(host);
		nk_bitmap_free(a.nodes);
		return r < 0 ? r : EXIT_OK;
	}
	if (r >= 0 && a.undo) {
		r = nk_cgroup_undo(host, a.target, NULL, &report, err);
	} else if (r >= 0) {
		r = nk_vm_lookup(host, a.target, &vm, err);
		if (r >= 0)
			r = nk_cgroup_place(host, &vm, &a.req, &report, err);
	}
	if (r >= 0 && a.json && a.undo) {
		/* Who the process is, when it still runs. */
		char pid[16];
		snprintf(pid, sizeof(pid), "%d", report->pid);
		if (!report->previous || nk_vm_lookup(host, pid, &vm, NULL) < 0)
			vm.kind = NK_VM_KIND_COUNT;
	}
	if (r >= 0) {
		if (a.json)
			print_json(report, &vm, a.undo);
		else
			print_text(report, &vm, a.undo);
	}
	nk_cgroup_report_free(report);
	nk_vm_ref_done(&vm);
	nk_host_free(host);
	nk_bitmap_free(a.nodes);
	nk_bitmap_free(a.cpus);
	return r < 0 ? r : EXIT_OK;
}
