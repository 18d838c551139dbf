// SPDX-License-Identifier: GPL-2.0-or-later
/* The tenant guard: who keeps merging where, and when KSM must stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "numaksm/policy.h"

#define MIB (UINT64_C(1) << 20)

static nk_bitmap *nodes(const char *list)
{
	nk_bitmap *b = NULL;
	assert_int_equal(nk_parse_list(list, "node list", &b, NULL), 0);
	return b;
}

static struct nk_tenant_guard decide(const struct nk_tenant_vm *vms, size_t n, bool across,
				     unsigned n_nodes)
{
	struct nk_tenant_guard g;
	assert_int_equal(nk_tenant_guard_decide(vms, n, across, n_nodes, &g), 0);
	return g;
}

static void test_alone(void **state)
{
	(void)state;
	struct nk_tenant_vm vms[] = {
	    {"a1", "a", NULL, 100 * MIB, false},
	    {"a2", "a", NULL, 100 * MIB, false},
	    {"b1", "b", NULL, 0, false}, /* merges nothing */
	};
	struct nk_tenant_guard g = decide(vms, 3, true, 2);
	assert_int_equal(g.method, NK_TENANT_ALONE);
	assert_int_equal(g.tenants, 1);
	assert_int_equal(g.n_unmerge, 0);
	nk_tenant_guard_done(&g);
	g = decide(vms, 0, true, 2);
	assert_int_equal(g.method, NK_TENANT_ALONE);
	assert_string_equal(g.reason, "no VM has mergeable memory");
	nk_tenant_guard_done(&g);
}

static void test_disjoint_nodes(void **state)
{
	(void)state;
	nk_bitmap *n0 = nodes("0"), *n1 = nodes("1"), *n01 = nodes("0-1");
	struct nk_tenant_vm vms[] = {
	    {"a1", "a", n0, 100 * MIB, false},
	    {"a2", "a", n0, 100 * MIB, false},
	    {"b1", "b", n1, 50 * MIB, false},
	};
	/* Per-node merging keeps them apart: nothing to turn off. */
	struct nk_tenant_guard g = decide(vms, 3, false, 2);
	assert_int_equal(g.method, NK_TENANT_NODES);
	assert_int_equal(g.tenants, 2);
	nk_tenant_guard_done(&g);
	/* Across nodes they meet, and neither can stop: KSM must not run. */
	g = decide(vms, 3, true, 2);
	assert_int_equal(g.method, NK_TENANT_STOP);
	assert_non_null(strstr(g.reason, "tenants a (VM a1) and b (VM b1) both merge on the host"));
	assert_int_equal(g.n_unmerge, 0);
	nk_tenant_guard_done(&g);
	/* A VM that may sit on both nodes meets both tenants. */
	vms[2].nodes = n01;
	g = decide(vms, 3, false, 2);
	assert_int_equal(g.method, NK_TENANT_STOP);
	assert_non_null(strstr(g.reason, "on node 0"));
	nk_tenant_guard_done(&g);
	/* ... unless its merging can be turned off: the larger tenant keeps it. */
	vms[2].can_unmerge = true;
	g = decide(vms, 3, false, 2);
	assert_int_equal(g.method, NK_TENANT_UNMERGE);
	assert_true(!g.unmerge[0] && !g.unmerge[1] && g.unmerge[2]);
	nk_tenant_guard_done(&g);
	nk_bitmap_free(n0);
	nk_bitmap_free(n1);
	nk_bitmap_free(n01);
}

static void test_unmerge_smaller(void **state)
{
	(void)state;
	struct nk_tenant_vm vms[] = {
	    {"a1", "a", NULL, 10 * MIB, true},
	    {"b1", "b", NULL, 300 * MIB, true},
	    {"a2", "a", NULL, 10 * MIB, true},
	    {"c1", "c", NULL, 100 * MIB, true},
	};
	/* Everyone can stop: b has the most to merge and keeps merging. */
	struct nk_tenant_guard g = decide(vms, 4, true, 1);
	assert_int_equal(g.method, NK_TENANT_UNMERGE);
	assert_int_equal(g.tenants, 3);
	assert_int_equal(g.n_unmerge, 3);
	assert_true(g.unmerge[0] && !g.unmerge[1] && g.unmerge[2] && g.unmerge[3]);
	nk_tenant_guard_done(&g);
	/* A VM that cannot stop decides for its tenant, however small. */
	vms[0].can_unmerge = false;
	g = decide(vms, 4, true, 1);
	assert_int_equal(g.method, NK_TENANT_UNMERGE);
	assert_true(!g.unmerge[0] && g.unmerge[1] && !g.unmerge[2] && g.unmerge[3]);
	nk_tenant_guard_done(&g);
}

static void test_no_tenant_is_alone(void **state)
{
	(void)state;
	/* Two VMs without a tenant are two tenants (VMware's default salt). */
	struct nk_tenant_vm vms[] = {
	    {"x", NULL, NULL, 10 * MIB, false},
	    {"y", NULL, NULL, 10 * MIB, true},
	};
	struct nk_tenant_guard g = decide(vms, 2, true, 1);
	assert_int_equal(g.tenants, 2);
	assert_int_equal(g.method, NK_TENANT_UNMERGE);
	assert_true(!g.unmerge[0] && g.unmerge[1]);
	nk_tenant_guard_done(&g);
	vms[1].can_unmerge = false;
	g = decide(vms, 2, true, 1);
	assert_int_equal(g.method, NK_TENANT_STOP);
	assert_non_null(strstr(g.reason, "(its own)"));
	nk_tenant_guard_done(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alone),
	    cmocka_unit_test(test_disjoint_nodes),
	    cmocka_unit_test(test_unmerge_smaller),
	    cmocka_unit_test(test_no_tenant_is_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
