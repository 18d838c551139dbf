/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm audit: which physical pages the VMs share, from the kernel's own
 * page tables (nk_audit_shared()).  With --tenants the VMs are grouped by
 * the policy file's tenant = NAME and any page frame mapped by VMs of two
 * tenants is reported: the proof that KSM kept tenants apart, or the pages
 * where it did not.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <numaksm/audit.h>
#include <numaksm/policy.h>
#include <numaksm/vm.h>

#include "json.h"
#include "tool.h"

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: numaksm audit [--tenants] [--config FILE] [NAME|PID...] [--json]\n\n"
	    "Which physical pages the VMs (every VM found, or those named) share, read from\n"
	    "their page tables: a page frame mapped by two VMs is one page in memory (KSM's\n"
	    "merged pages, shared files).  The shared zero page is left out.  Needs root.\n\n"
	    "  --tenants      group the VMs by the policy file's tenant = NAME ([vm \"GLOB\"]\n"
	    "                 rules; a VM without one is a tenant of its own) and report every\n"
	    "                 frame mapped by VMs of two tenants; exit 1 when there is one\n"
	    "  --config FILE  the policy file (default " TOOL_DEFAULT_CONFIG ")\n"
	    "  --json         one document (docs/json.md)\n\n"
	    "Without --tenants every VM is its own group.  Exit 0: no frame shared between\n"
	    "groups; 1: some are (listed), or an error.  A page merged while the audit reads\n"
	    "may be missed: it is a snapshot.\n");
}

struct audit_args {
	bool tenants, json;
	const char *config;
	char **names;
	int n_names;
};

static int parse_args(int argc, char **argv, struct audit_args *a, nk_error **err)
{
	static const struct option opts[] = {
	    {"tenants", no_argument, NULL, 't'},
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	tool_complete_options(argc, argv, opts, NULL, TOOL_VALUE_VM);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			a->tenants = true;
			break;
		case 'c':
			a->config = optarg;
			break;
		case 'j':
			a->json = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			return tool_getopt_error(err, "audit", c, argv);
		}
	}
	if (a->config && !a->tenants)
		return tool_usage_error(err, "--config is read for --tenants only");
	a->names = argv + optind;
	a->n_names = argc - optind;
	return 0;
}

bool tool_tenant_groups(const nk_conf *policy, const struct nk_vm_ref *refs, size_t n,
			const char **tenant, int *group)
{
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		const struct nk_vm_rule *rule = policy ? nk_conf_match(policy, refs[i].name) : NULL;
		tenant[i] = rule ? rule->tenant : NULL;
		any |= tenant[i] != NULL;
		group[i] = (int)i;
		for (size_t j = 0; tenant[i] && j < i; j++)
			if (tenant[j] && !strcmp(tenant[i], tenant[j])) {
				group[i] = group[j];
				break;
			}
	}
	return any;
}

int tool_policy_load(const char *path, nk_conf **ret, nk_error **err)
{
	*ret = NULL;
	if (path)
		return nk_conf_load(path, ret, err);
	int r = nk_conf_load(TOOL_DEFAULT_CONFIG, ret, err);
	if (r == -ENOENT) {
		nk_error_free(*err);
		*err = NULL;
		return 0;
	}
	return r;
}

static const char *label(const char *tenant)
{
	return tenant ? tenant : "-";
}

static void print_text(const struct nk_audit *a, const struct nk_vm_ref *refs, const char **tenant,
		       bool tenants)
{
	char b1[32], b2[32];
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	const char *what = tenants ? "tenant" : "VM";
	size_t width = 4;
	for (size_t i = 0; i < a->n_vms; i++)
		if (strlen(refs[i].name) > width)
			width = strlen(refs[i].name) > 24 ? 24 : strlen(refs[i].name);
	printf("%-*s %8s %-12s %10s %10s\n", (int)width, "VM", "PID", "TENANT", "PRESENT",
	       "SHARED");
	for (size_t i = 0; i < a->n_vms; i++) {
		if (a->errors[i]) {
			printf("%-*.*s %8d %-12s  not read: %s\n", (int)width, (int)width,
			       refs[i].name, refs[i].pid, label(tenant[i]), a->errors[i]);
			continue;
		}
		printf("%-*.*s %8d %-12s %10s %10s\n", (int)width, (int)width, refs[i].name,
		       refs[i].pid, label(tenant[i]),
		       nk_format_bytes(b1, sizeof(b1), a->read_pages[i] * ps),
		       nk_format_bytes(b2, sizeof(b2), a->shared_pages[i] * ps));
	}
	printf("\nFrames shared within a %s: %" PRIu64 "\n", what, a->within_frames);
	if (!a->cross_frames) {
		printf("Frames shared between %ss: 0: no page frame is mapped by VMs of two %ss "
		       "(%" PRIu64 " zero-page mappings aside; read in %.2f s)\n",
		       what, what, a->zero_frames, a->wall_seconds);
		return;
	}
	printf("Frames shared between %ss: %" PRIu64 " (%" PRIu64 " of them KSM pages)\n", what,
	       a->cross_frames, a->cross_ksm_frames);
	for (size_t i = 0; i < a->n_vms; i++)
		for (size_t j = i + 1; j < a->n_vms; j++)
			if (a->pair_frames[i * a->n_vms + j])
				printf("  %s (%s) and %s (%s): %" PRIu64 " frames\n", refs[i].name,
				       label(tenant[i]), refs[j].name, label(tenant[j]),
				       a->pair_frames[i * a->n_vms + j]);
	for (size_t k = 0; k < a->n_pages && k < 4; k++) {
		const struct nk_audit_page *p = &a->pages[k];
		printf("  frame %#" PRIx64 "%s: %s at %#" PRIx64 ", %s at %#" PRIx64 "\n", p->pfn,
		       p->kpageflags & (UINT64_C(1) << 21) ? " (KSM)" : "", refs[p->vm_a].name,
		       p->addr_a, refs[p->vm_b].name, p->addr_b);
	}
}

static json_object *json_doc(const struct nk_audit *a, const struct nk_vm_ref *refs,
			     const char **tenant, bool tenants, const char *config)
{
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	json_object *doc = tool_json_doc("audit");
	json_object_object_add(doc, "tenants", json_object_new_boolean(tenants));
	json_object_object_add(doc, "config", config ? json_object_new_string(config) : NULL);
	json_object_object_add(doc, "wall_seconds", tool_json_seconds(a->wall_seconds));
	json_object *vms = json_object_new_array();
	for (size_t i = 0; i < a->n_vms; i++) {
		json_object *o = json_object_new_object();
		bool ok = !a->errors[i];
		json_object_object_add(o, "vm", tool_json_vm_ref(&refs[i]));
		json_object_object_add(o, "tenant",
				       tenant[i] ? json_object_new_string(tenant[i]) : NULL);
		json_object_object_add(o, "error",
				       ok ? NULL : json_object_new_string(a->errors[i]));
		json_object_object_add(o, "present_bytes",
				       ok ? tool_json_u64(a->read_pages[i] * ps) : NULL);
		json_object_object_add(o, "shared_bytes",
				       ok ? tool_json_u64(a->shared_pages[i] * ps) : NULL);
		json_object_array_add(vms, o);
	}
	json_object_object_add(doc, "vms", vms);
	json_object_object_add(doc, "within_frame_count", tool_json_u64(a->within_frames));
	json_object_object_add(doc, "cross_frame_count", tool_json_u64(a->cross_frames));
	json_object_object_add(doc, "cross_ksm_frame_count", tool_json_u64(a->cross_ksm_frames));
	json_object_object_add(doc, "zero_frame_count", tool_json_u64(a->zero_frames));
	json_object *pairs = json_object_new_array();
	for (size_t i = 0; i < a->n_vms; i++)
		for (size_t j = i + 1; j < a->n_vms; j++) {
			if (!a->pair_frames[i * a->n_vms + j])
				continue;
			json_object *o = json_object_new_object();
			json_object_object_add(o, "a", json_object_new_int(refs[i].pid));
			json_object_object_add(o, "b", json_object_new_int(refs[j].pid));
			json_object_object_add(o, "frame_count",
					       tool_json_u64(a->pair_frames[i * a->n_vms + j]));
			json_object_array_add(pairs, o);
		}
	json_object_object_add(doc, "pairs", pairs);
	json_object *frames = json_object_new_array();
	for (size_t k = 0; k < a->n_pages; k++) {
		const struct nk_audit_page *p = &a->pages[k];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "pfn", tool_json_u64(p->pfn));
		json_object_object_add(
		    o, "ksm", json_object_new_boolean(p->kpageflags & (UINT64_C(1) << 21)));
		json_object_object_add(o, "a", json_object_new_int(refs[p->vm_a].pid));
		json_object_object_add(o, "a_address", tool_json_u64(p->addr_a));
		json_object_object_add(o, "b", json_object_new_int(refs[p->vm_b].pid));
		json_object_object_add(o, "b_address", tool_json_u64(p->addr_b));
		json_object_array_add(frames, o);
	}
	json_object_object_add(doc, "frames", frames);
	return doc;
}

int cmd_audit(int argc, char **argv, nk_error **err)
{
	struct audit_args a = {0};
	struct nk_vm_ref *refs = NULL;
	struct nk_audit *audit = NULL;
	nk_conf *policy = NULL;
	const char **tenant = NULL;
	int *group = NULL;
	size_t n = 0;
	nk_host *host = NULL;
	int r = parse_args(argc, argv, &a, err);
	if (r != 0)
		return r < 0 ? r : EXIT_OK;
	if (a.tenants) {
		r = nk_conf_load(a.config ? a.config : TOOL_DEFAULT_CONFIG, &policy, err);
		if (r == -ENOENT)
			nk_error_hint(err, "--tenants reads the tenants of the policy file's [vm] "
					   "rules (numaksm.conf(5)); name one with --config FILE");
		if (r < 0)
			return r;
		bool any = false;
		for (size_t i = 0; i < nk_conf_vm_count(policy); i++)
			any |= nk_conf_vm(policy, i)->tenant != NULL;
		if (!any && !a.json)
			fprintf(stderr,
				"numaksm audit: %s gives no VM a tenant (tenant = NAME in [vm "
				"\"GLOB\"]): every VM is a tenant of its own\n",
				a.config ? a.config : TOOL_DEFAULT_CONFIG);
	}
	r = nk_host_open(NULL, &host, err);
	if (r == 0)
		r = tool_find_vms(host, a.names, a.n_names, &refs, &n, err);
	if (r == 0 && n == 0) {
		nk_error_set(err, ENOENT, "no VM runs on this host");
		r = nk_error_hint(err, "name one by its PID: numaksm audit PID");
	}
	if (r == 0 && (!(tenant = calloc(n, sizeof(*tenant))) || !(group = calloc(n, sizeof(int)))))
		r = nk_error_set(err, ENOMEM, "out of memory");
	if (r == 0) {
		tool_tenant_groups(policy, refs, n, tenant, group);
		r = nk_audit_shared(host, refs, n, group, &audit, err);
	}
	size_t read = 0;
	for (size_t i = 0; r == 0 && i < n; i++)
		read += !audit->errors[i];
	if (r == 0 && read == 0) {
		nk_error_set(err, EPERM, "could not read any VM's page tables: %s",
			     audit->errors[0]);
		r = nk_error_hint(err, "run as root");
	}
	if (r == 0) {
		if (a.json)
			tool_json_print(json_doc(audit, refs, tenant, a.tenants,
						 a.tenants
						     ? (a.config ? a.config : TOOL_DEFAULT_CONFIG)
						     : NULL),
					true);
		else
			print_text(audit, refs, tenant, a.tenants);
		r = audit->cross_frames ? EXIT_FAIL : EXIT_OK;
	}
	nk_audit_free(audit);
	free(tenant);
	free(group);
	nk_conf_free(policy);
	nk_vm_refs_free(refs, n);
	nk_host_free(host);
	return r;
}
