// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The tenant guard: which VMs may merge so that KSM never makes one page
 * out of two tenants' pages.  KSM compares every mergeable page of the host
 * (merge_across_nodes=1) or of one node (=0) with every other: a merge
 * domain.  Where several tenants merge in one domain, all but one must stop
 * merging, or KSM must not run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic.h"
#include "numaksm/policy.h"

_nk_export_ const char *nk_tenant_method_name(enum nk_tenant_method method)
{
	switch (method) {
	case NK_TENANT_ALONE:
		return "alone";
	case NK_TENANT_NODES:
		return "nodes";
	case NK_TENANT_UNMERGE:
		return "unmerge";
	case NK_TENANT_STOP:
		return "stop";
	}
	return "?";
}

/* The same tenant: a VM without one is a tenant of its own. */
static bool same_tenant(const struct nk_tenant_vm *vms, size_t a, size_t b)
{
	if (a == b)
		return true;
	return vms[a].tenant && vms[b].tenant && !strcmp(vms[a].tenant, vms[b].tenant);
}

static bool in_domain(const struct nk_tenant_vm *v, bool whole_host, unsigned node)
{
	return whole_host || !v->nodes || nk_bitmap_test(v->nodes, node);
}

static const char *tenant_label(const struct nk_tenant_vm *v)
{
	return v->tenant ? v->tenant : "(its own)";
}

static void domain_name(char *buf, size_t size, bool whole_host, unsigned node)
{
	if (whole_host)
		snprintf(buf, size, "the host (merge_across_nodes=1)");
	else
		snprintf(buf, size, "node %u", node);
}

_nk_export_ int nk_tenant_guard_decide(const struct nk_tenant_vm *vms, size_t n,
				       bool merge_across_nodes, unsigned n_nodes,
				       struct nk_tenant_guard *ret)
{
	bool *active = calloc(n ? n : 1, sizeof(*active));
	uint64_t *bytes = calloc(n ? n : 1, sizeof(*bytes));
	*ret = (struct nk_tenant_guard){.unmerge = calloc(n ? n : 1, sizeof(bool))};
	if (!active || !bytes || !ret->unmerge) {
		free(active);
		free(bytes);
		free(ret->unmerge);
		ret->unmerge = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		active[i] = vms[i].mergeable_bytes > 0;
		bool first = active[i];
		for (size_t j = 0; j < i && first; j++)
			first = !(active[j] && same_tenant(vms, i, j));
		ret->tenants += first;
	}
	unsigned domains = merge_across_nodes || !n_nodes ? 1 : n_nodes;
	size_t stop_a = SIZE_MAX, stop_b = SIZE_MAX;
	unsigned stop_domain = 0;
	for (unsigned d = 0; d < domains && stop_a == SIZE_MAX; d++) {
		/* The tenant that keeps merging here: the one that cannot stop
		 * (a VM of it that cannot unmerge), else the most bytes. */
		size_t keeper = SIZE_MAX, stuck = SIZE_MAX;
		memset(bytes, 0, n * sizeof(*bytes));
		for (size_t i = 0; i < n; i++) {
			if (!active[i] || !in_domain(&vms[i], merge_across_nodes, d))
				continue;
			size_t lead = i; /* the tenant's first VM in this domain */
			for (size_t j = 0; j < i; j++)
				if (active[j] && in_domain(&vms[j], merge_across_nodes, d) &&
				    same_tenant(vms, i, j)) {
					lead = j;
					break;
				}
			bytes[lead] += vms[i].mergeable_bytes;
			if (!vms[i].can_unmerge) {
				if (stuck != SIZE_MAX && !same_tenant(vms, stuck, i)) {
					stop_a = stuck;
					stop_b = i;
					stop_domain = d;
					break;
				}
				if (stuck == SIZE_MAX)
					stuck = i;
			}
		}
		if (stop_a != SIZE_MAX)
			break;
		if (stuck != SIZE_MAX) {
			keeper = stuck;
		} else {
			for (size_t i = 0; i < n; i++)
				if (bytes[i] && (keeper == SIZE_MAX || bytes[i] > bytes[keeper]))
					keeper = i;
		}
		for (size_t i = 0; keeper != SIZE_MAX && i < n; i++) {
			if (!active[i] || !in_domain(&vms[i], merge_across_nodes, d) ||
			    same_tenant(vms, keeper, i))
				continue;
			active[i] = false;
			ret->unmerge[i] = true;
			ret->n_unmerge++;
		}
	}
	char where[64];
	if (stop_a != SIZE_MAX) {
		ret->method = NK_TENANT_STOP;
		memset(ret->unmerge, 0, n * sizeof(bool));
		ret->n_unmerge = 0;
		domain_name(where, sizeof(where), merge_across_nodes, stop_domain);
		snprintf(ret->reason, sizeof(ret->reason),
			 "tenants %s (VM %s) and %s (VM %s) both merge on %s and neither VM's "
			 "merging can be turned off: KSM must not run",
			 tenant_label(&vms[stop_a]), vms[stop_a].name, tenant_label(&vms[stop_b]),
			 vms[stop_b].name, where);
	} else if (ret->n_unmerge) {
		ret->method = NK_TENANT_UNMERGE;
		size_t first = 0;
		while (!ret->unmerge[first])
			first++;
		snprintf(ret->reason, sizeof(ret->reason),
			 "%u tenants merge in common domains: merging turned off in %zu VM%s "
			 "(the first: %s of tenant %s)",
			 ret->tenants, ret->n_unmerge, ret->n_unmerge == 1 ? "" : "s",
			 vms[first].name, tenant_label(&vms[first]));
	} else if (ret->tenants > 1) {
		ret->method = NK_TENANT_NODES;
		snprintf(ret->reason, sizeof(ret->reason),
			 "%u tenants merge, each on nodes of its own, with merge_across_nodes=0",
			 ret->tenants);
	} else {
		ret->method = NK_TENANT_ALONE;
		snprintf(ret->reason, sizeof(ret->reason), "%s",
			 ret->tenants ? "one tenant merges: nothing to keep apart"
				      : "no VM has mergeable memory");
	}
	free(active);
	free(bytes);
	return 0;
}

_nk_export_ void nk_tenant_guard_done(struct nk_tenant_guard *guard)
{
	free(guard->unmerge);
	guard->unmerge = NULL;
}
