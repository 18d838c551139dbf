/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm estimate: what KSM will save on the running VMs before it has
 * scanned a page, from the content of their guest RAM (nk_estimate_run()):
 * per VM, within it and shared with each other VM, and for the host as a
 * whole and per node.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <numaksm/estimate.h>
#include <numaksm/ksm.h>
#include <numaksm/vm.h>

#include "json.h"
#include "tool.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: numaksm estimate [NAME|PID...] [--cpu-budget R] [--sample N]\n"
		"                        [--all-guest-ram] [--json]\n\n"
		"What KSM will save on the running VMs (every VM found, or those named),\n"
		"before it scans: their guest RAM's present pages are read (nothing is\n"
		"faulted in) and hashed, and identical contents counted within each VM,\n"
		"between VMs and per NUMA node under this host's KSM settings\n"
		"(max_page_sharing, use_zero_pages).  Needs root.\n\n"
		"  --cpu-budget R   share of one CPU to use, (0, 1] (default 0.5)\n"
		"  --sample N       keep 1 content in N (a power of two; default 1, all):\n"
		"                   every copy of a content is kept or left together, so the\n"
		"                   estimate stays unbiased; its 95%% bound is printed\n"
		"  --all-guest-ram  also guest RAM that is not MADV_MERGEABLE (what KSM would\n"
		"                   save if it were)\n"
		"  --json           one document (docs/json.md)\n");
}

struct estimate_args {
	struct nk_estimate_options o;
	char **names;
	int n_names;
	bool json;
};

static int parse_args(int argc, char **argv, struct estimate_args *a, nk_error **err)
{
	static const struct option opts[] = {
	    {"cpu-budget", required_argument, NULL, 'b'},
	    {"sample", required_argument, NULL, 's'},
	    {"all-guest-ram", no_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;
	char *end;

	tool_complete_options(argc, argv, opts, NULL, TOOL_VALUE_VM);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			errno = 0;
			a->o.cpu_budget = strtod(optarg, &end);
			if (end == optarg || *end || errno || !(a->o.cpu_budget > 0) ||
			    a->o.cpu_budget > 1)
				return tool_usage_error(
				    err,
				    "--cpu-budget '%s': expected a share of one "
				    "CPU, more than 0 and at most 1 (0.25)",
				    optarg);
			break;
		case 's':
			if (tool_parse_sample(optarg, &a->o.sample, err) < 0)
				return -EINVAL;
			break;
		case 'a':
			a->o.all_guest_ram = true;
			break;
		case 'j':
			a->json = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			return tool_getopt_error(err, "estimate", c, argv);
		}
	}
	a->names = argv + optind;
	a->n_names = argc - optind;
	return 0;
}

static uint64_t pages_bytes(const struct nk_estimate *e, double pages)
{
	return pages > 0 ? (uint64_t)llround(pages * (double)e->page_size) : 0;
}

static const char *size_of(char *buf, size_t size, const struct nk_estimate *e, double pages)
{
	return nk_format_bytes(buf, size, pages_bytes(e, pages));
}

static void print_text(const struct nk_estimate *e, bool merge_across_nodes)
{
	char a[32], b[32], c[32], d[32], f[32];
	size_t width = 4;
	for (size_t i = 0; i < e->n_vms; i++)
		if (strlen(e->vms[i].ref.name) > width)
			width = strlen(e->vms[i].ref.name);
	if (width > 24)
		width = 24;

	printf("Read %s of guest RAM in %zu VM%s (%" PRIu64 " pages); ",
	       size_of(a, 32, e, (double)e->read_pages), e->n_vms, e->n_vms == 1 ? "" : "s",
	       e->read_pages);
	if (e->sample > 1)
		printf("kept 1 content in %u (%" PRIu64 " distinct)", e->sample, e->distinct_kept);
	else
		printf("every content kept (%" PRIu64 " distinct)", e->distinct_kept);
	printf("; %.2f CPU-seconds over %.2f s\n\n", e->cpu_seconds, e->wall_seconds);

	printf("%-*s %8s %10s %10s %10s %10s\n", (int)width, "VM", "PID", "read", "zeros", "inside",
	       "saving");
	for (size_t i = 0; i < e->n_vms; i++) {
		const struct nk_estimate_vm *v = &e->vms[i];
		if (v->error) {
			printf("%-*.*s %8d  not read: %s\n", (int)width, (int)width, v->ref.name,
			       v->ref.pid, v->error);
			continue;
		}
		printf("%-*.*s %8d %10s %10s %10s %10s\n", (int)width, (int)width, v->ref.name,
		       v->ref.pid, size_of(a, 32, e, (double)v->read_pages),
		       size_of(b, 32, e, (double)v->zero_pages), size_of(c, 32, e, v->inside_pages),
		       size_of(d, 32, e, v->saved_pages));
	}
	if (e->n_vms > 1 && e->n_vms <= 16) {
		printf("\nShared: of the row VM's pages, those whose content the column VM holds "
		       "too\n%-*s",
		       (int)width, "");
		for (size_t j = 0; j < e->n_vms; j++)
			printf(" %10.10s", e->vms[j].ref.name);
		printf("\n");
		for (size_t i = 0; i < e->n_vms; i++) {
			printf("%-*.*s", (int)width, (int)width, e->vms[i].ref.name);
			for (size_t j = 0; j < e->n_vms; j++)
				printf(" %10s",
				       i == j ? "-" : size_of(a, 32, e, e->vms[i].shared_pages[j]));
			printf("\n");
		}
	}
	printf("\nKSM would save %s", size_of(a, 32, e, e->saved_pages));
	if (e->saved_error > 0)
		printf(" ± %s (95%%)", size_of(b, 32, e, e->saved_error));
	printf(" with merge_across_nodes=1 (max_page_sharing %" PRIu64 ", use_zero_pages %d)%s\n",
	       e->max_page_sharing, e->use_zero_pages, merge_across_nodes ? ", as set now" : "");
	if (!e->nodes_known) {
		printf("Per node: not known (pages' nodes could not be read)\n");
		return;
	}
	printf("With merge_across_nodes=0, every page where it is now: %s",
	       size_of(a, 32, e, e->node_saved_total));
	if (e->node_saved_error_total > 0)
		printf(" ± %s", size_of(b, 32, e, e->node_saved_error_total));
	printf("%s (", merge_across_nodes ? "" : ", as set now");
	for (size_t n = 0; n < e->n_nodes; n++)
		printf("%snode %zu %s", n ? ", " : "", n,
		       size_of(f, 32, e, e->node_saved_pages[n]));
	printf(")\n");
}

static json_object *json_bytes(const struct nk_estimate *e, double pages)
{
	return tool_json_u64(pages_bytes(e, pages));
}

static json_object *json_doc(const struct nk_estimate *e, bool merge_across_nodes)
{
	json_object *doc = tool_json_doc("estimate");
	json_object *ksm = json_object_new_object();
	json_object_object_add(ksm, "max_page_sharing_count", tool_json_u64(e->max_page_sharing));
	json_object_object_add(ksm, "use_zero_pages", json_object_new_boolean(e->use_zero_pages));
	json_object_object_add(ksm, "merge_across_nodes",
			       json_object_new_boolean(merge_across_nodes));
	json_object_object_add(doc, "ksm", ksm);
	json_object_object_add(doc, "sample_count", tool_json_u64(e->sample));
	json_object_object_add(doc, "read_bytes", json_bytes(e, (double)e->read_pages));
	json_object_object_add(doc, "distinct_kept_count", tool_json_u64(e->distinct_kept));
	json_object_object_add(doc, "cpu_seconds", tool_json_seconds(e->cpu_seconds));
	json_object_object_add(doc, "wall_seconds", tool_json_seconds(e->wall_seconds));
	json_object *across = json_object_new_object();
	json_object_object_add(across, "saved_bytes", json_bytes(e, e->saved_pages));
	json_object_object_add(across, "error_bytes", json_bytes(e, e->saved_error));
	json_object_object_add(doc, "merge_across_nodes", across);
	json_object *per = json_object_new_object();
	json_object_object_add(per, "saved_bytes",
			       e->nodes_known ? json_bytes(e, e->node_saved_total) : NULL);
	json_object_object_add(per, "error_bytes",
			       e->nodes_known ? json_bytes(e, e->node_saved_error_total) : NULL);
	json_object *nodes = json_object_new_array();
	for (size_t n = 0; e->nodes_known && n < e->n_nodes; n++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "node", json_object_new_int((int)n));
		json_object_object_add(o, "saved_bytes", json_bytes(e, e->node_saved_pages[n]));
		json_object_object_add(o, "error_bytes", json_bytes(e, e->node_saved_error[n]));
		json_object_array_add(nodes, o);
	}
	json_object_object_add(per, "per_node", nodes);
	json_object_object_add(doc, "per_node_merging", per);
	json_object *vms = json_object_new_array();
	for (size_t i = 0; i < e->n_vms; i++) {
		const struct nk_estimate_vm *v = &e->vms[i];
		json_object *o = json_object_new_object();
		bool ok = !v->error;
		json_object_object_add(o, "vm", tool_json_vm_ref(&v->ref));
		json_object_object_add(o, "error", ok ? NULL : json_object_new_string(v->error));
		json_object_object_add(o, "read_bytes",
				       ok ? json_bytes(e, (double)v->read_pages) : NULL);
		json_object_object_add(o, "zero_bytes",
				       ok ? json_bytes(e, (double)v->zero_pages) : NULL);
		json_object_object_add(o, "zero_mapped_bytes",
				       ok ? json_bytes(e, (double)v->zero_mapped) : NULL);
		json_object_object_add(o, "ksm_zero_bytes",
				       ok ? json_bytes(e, (double)v->ksm_zero_pages) : NULL);
		json_object_object_add(o, "inside_saved_bytes",
				       ok ? json_bytes(e, v->inside_pages) : NULL);
		json_object_object_add(o, "saved_bytes", ok ? json_bytes(e, v->saved_pages) : NULL);
		json_object *shared = json_object_new_array();
		for (size_t j = 0; ok && j < e->n_vms; j++) {
			if (j == i || e->vms[j].error)
				continue;
			json_object *s = json_object_new_object();
			json_object_object_add(s, "pid", json_object_new_int(e->vms[j].ref.pid));
			json_object_object_add(s, "name", tool_json_name(e->vms[j].ref.name));
			json_object_object_add(s, "bytes", json_bytes(e, v->shared_pages[j]));
			json_object_array_add(shared, s);
		}
		json_object_object_add(o, "shared", shared);
		json_object *pn = json_object_new_array();
		for (size_t n = 0; ok && n < e->n_nodes; n++) {
			json_object *s = json_object_new_object();
			json_object_object_add(s, "node", json_object_new_int((int)n));
			json_object_object_add(s, "read_bytes",
					       json_bytes(e, (double)v->node_read_pages[n]));
			json_object_array_add(pn, s);
		}
		json_object_object_add(o, "per_node", pn);
		json_object_array_add(vms, o);
	}
	json_object_object_add(doc, "vms", vms);
	return doc;
}

int cmd_estimate(int argc, char **argv, nk_error **err)
{
	struct estimate_args a = {0};
	struct nk_vm_ref *refs = NULL;
	struct nk_estimate *e = NULL;
	struct nk_ksm ksm;
	size_t n = 0;
	nk_host *host = NULL;
	int r = parse_args(argc, argv, &a, err);
	if (r != 0)
		return r < 0 ? r : EXIT_OK;
	r = nk_host_open(NULL, &host, err);
	if (r < 0)
		return r;
	bool mergeall = true;
	if (nk_ksm_read(host, NK_KSM_ALL, &ksm, NULL) == 0) {
		if (nk_ksm_has(&ksm, NK_KSM_MAX_PAGE_SHARING))
			a.o.max_page_sharing = nk_ksm_get(&ksm, NK_KSM_MAX_PAGE_SHARING);
		if (nk_ksm_has(&ksm, NK_KSM_USE_ZERO_PAGES))
			a.o.use_zero_pages = nk_ksm_get(&ksm, NK_KSM_USE_ZERO_PAGES) != 0;
		if (nk_ksm_has(&ksm, NK_KSM_MERGE_ACROSS_NODES))
			mergeall = nk_ksm_get(&ksm, NK_KSM_MERGE_ACROSS_NODES) != 0;
	}
	r = tool_find_vms(host, a.names, a.n_names, &refs, &n, err);
	if (r == 0 && n == 0) {
		nk_error_set(err, ENOENT, "no VM runs on this host");
		r = nk_error_hint(err, "name one by its PID: numaksm estimate PID");
	}
	if (r == 0)
		r = nk_estimate_run(host, refs, n, &a.o, &e, err);
	size_t read = 0;
	for (size_t i = 0; r == 0 && i < e->n_vms; i++)
		read += !e->vms[i].error;
	if (r == 0 && read == 0) {
		nk_error_set(err, EPERM, "could not read any VM's memory: %s", e->vms[0].error);
		r = nk_error_hint(err, "run as root");
	}
	if (r == 0) {
		if (a.json)
			tool_json_print(json_doc(e, mergeall), true);
		else
			print_text(e, mergeall);
	}
	nk_estimate_free(e);
	nk_vm_refs_free(refs, n);
	nk_host_free(host);
	return r < 0 ? r : EXIT_OK;
}
