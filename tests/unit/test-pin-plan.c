/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vCPU planner on synthetic and XML topologies of several shapes, with
 * the plan invariants checked on every plan made: no dedicated CPU given
 * twice, SMT isolate keeps siblings free, SMT require keeps guest sibling
 * pairs on host sibling pairs, housekeeping CPUs untouched, memory-only
 * nodes never host vCPUs, refusals that say why, deterministic output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <cmocka.h>

#include <numaksm/vcpu.h>

#include "pin-plan-text.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#ifndef TOPOLOGY_DIR
#error "TOPOLOGY_DIR must name tests/fixtures/topologies"
#endif

static nk_topo *load_xml(const char *name)
{
	char path[512];
	nk_topo *t = NULL;
	nk_error *err = NULL;
	snprintf(path, sizeof(path), "%s/%s.xml", TOPOLOGY_DIR, name);
	if (nk_topo_load_xml(path, &t, &err) < 0)
		fail_msg("%s: %s", path, nk_error_message(err));
	return t;
}

static nk_topo *load_synthetic(const char *desc)
{
	nk_topo *t = NULL;
	nk_error *err = NULL;
	if (nk_topo_load_synthetic(desc, &t, &err) < 0)
		fail_msg("%s: %s", desc, nk_error_message(err));
	return t;
}

static nk_bitmap *list(const char *text)
{
	nk_bitmap *b = NULL;
	assert_int_equal(nk_parse_list(text, NULL, &b, NULL), 0);
	return b;
}

static char *fmt(const nk_bitmap *b)
{
	char *s = NULL;
	assert_true(nk_bitmap_format(b, &s) >= 0);
	return s;
}

static void assert_list(const nk_bitmap *b, const char *expected)
{
	char *s = fmt(b);
	if (strcmp(s, expected) != 0)
		fail_msg("CPU set %s, expected %s", s, expected);
	free(s);
}

static bool intersects(const nk_bitmap *a, const nk_bitmap *b)
{
	nk_bitmap_foreach (bit, a) {
		if (b && nk_bitmap_test(b, (unsigned)bit))
			return true;
	}
	return false;
}

/*
 * The invariants every plan must hold, whatever was asked.  `state` is the
 * assignment the plan was made against.
 */
static void check_plan(const nk_topo *t, const struct nk_pin_request *req,
		       const nk_pin_state *state, const nk_pin_plan *plan)
{
	unsigned threads = req->threads_per_core ? req->threads_per_core : 1;
	nk_bitmap *used = nk_bitmap_new(), *expect_dedicated = nk_bitmap_new();
	const nk_bitmap *emu = nk_pin_plan_emulator_cpus(plan);
	const nk_bitmap *reserved = nk_pin_plan_reserved_cpus(plan);
	const nk_bitmap *dedicated = nk_pin_plan_dedicated_cpus(plan);
	const nk_bitmap *hk = req->housekeeping;

	assert_int_equal(nk_pin_plan_vcpu_count(plan), req->vcpus);
	for (unsigned i = 0; i < req->vcpus; i++) {
		struct nk_pin_vcpu v;
		assert_int_equal(nk_pin_plan_vcpu(plan, i, &v), 0);
		/* Allowed, online CPUs only; never housekeeping. */
		assert_true(nk_bitmap_weight(v.cpus) > 0);
		assert_true(nk_bitmap_is_subset(v.cpus, nk_topo_cpus(t)));
		assert_false(intersects(v.cpus, hk));
		/* A memory-only node never hosts a vCPU; host_node is where its CPUs are. */
		for (unsigned n = 0; n < nk_topo_node_count(t); n++) {
			struct nk_topo_node node;
			nk_topo_node(t, n, &node);
			if (node.id == v.host_node) {
				assert_false(node.memory_only);
				assert_true(node.allowed);
				assert_true(nk_bitmap_is_subset(v.cpus, node.cpus));
			}
		}
		/* Other VMs' CPUs: never their dedicated ones; dedicated vCPUs
		 * also keep off shared ones. */
		for (unsigned e = 0; state && e < nk_pin_state_count(state); e++) {
			struct nk_pin_entry en;
			nk_pin_state_entry(state, e, &en);
			assert_false(intersects(v.cpus, en.dedicated));
			if (req->policy == NK_PIN_DEDICATED)
				assert_false(intersects(v.cpus, en.shared));
		}
		if (req->policy == NK_PIN_DEDICATED) {
			assert_int_equal(nk_bitmap_weight(v.cpus), 1);
			int cpu = nk_bitmap_next(v.cpus, 0);
			/* No dedicated CPU given twice within the VM. */
			assert_false(nk_bitmap_test(used, (unsigned)cpu));
			nk_bitmap_set(used, (unsigned)cpu);
			nk_bitmap_set(expect_dedicated, (unsigned)cpu);
			assert_false(nk_bitmap_test(reserved, (unsigned)cpu));
			nk_bitmap *sib = NULL;
			assert_int_equal(nk_topo_cpu_siblings(t, (unsigned)cpu, &sib), 0);
			if (req->smt == NK_PIN_SMT_ISOLATE) {
				/* Siblings held free: reserved, and no vCPU there. */
				nk_bitmap_foreach (s, sib) {
					if (s != cpu)
						assert_true(nk_bitmap_test(reserved, (unsigned)s));
				}
			}
			if (req->smt == NK_PIN_SMT_REQUIRE && i % threads) {
				/* Guest thread siblings on host thread siblings. */
				struct nk_pin_vcpu first;
				nk_pin_plan_vcpu(plan, i - i % threads, &first);
				assert_true(nk_bitmap_is_subset(first.cpus, sib));
			}
			nk_bitmap_free(sib);
		}
	}
	if (req->policy == NK_PIN_DEDICATED && req->smt == NK_PIN_SMT_ISOLATE) {
		/* No two vCPUs on sibling PUs. */
		nk_bitmap_foreach (cpu, used) {
			nk_bitmap *sib = NULL;
			nk_topo_cpu_siblings(t, (unsigned)cpu, &sib);
			nk_bitmap_foreach (s, sib) {
				if (s != cpu)
					assert_false(nk_bitmap_test(used, (unsigned)s));
			}
			nk_bitmap_free(sib);
		}
	}
	/* Emulator, reserved: never housekeeping, never other VMs'. */
	assert_true(nk_bitmap_weight(emu) > 0);
	assert_false(intersects(emu, hk));
	assert_false(intersects(reserved, hk));
	assert_true(nk_bitmap_is_subset(reserved, nk_topo_cpus(t)));
	for (unsigned e = 0; state && e < nk_pin_state_count(state); e++) {
		struct nk_pin_entry en;
		nk_pin_state_entry(state, e, &en);
		assert_false(intersects(dedicated, en.dedicated));
		assert_false(intersects(reserved, en.shared));
	}
	if (req->emulator == NK_PIN_EMULATOR_ISOLATE) {
		/* One CPU of its own, beside no vCPU. */
		assert_int_equal(nk_bitmap_weight(emu), 1);
		assert_false(intersects(emu, used));
		for (unsigned i = 0; i < req->vcpus; i++) {
			struct nk_pin_vcpu v;
			nk_pin_plan_vcpu(plan, i, &v);
			assert_false(intersects(emu, v.cpus));
		}
		nk_bitmap_foreach (cpu, emu) {
			nk_bitmap_set(expect_dedicated, (unsigned)cpu);
		}
	} else {
		for (unsigned i = 0; i < req->vcpus; i++) {
			struct nk_pin_vcpu v;
			nk_pin_plan_vcpu(plan, i, &v);
			assert_true(nk_bitmap_is_subset(v.cpus, emu));
		}
	}
	nk_bitmap_foreach (cpu, reserved) {
		nk_bitmap_set(expect_dedicated, (unsigned)cpu);
	}
	/* The CPUs the state will hold for this VM are exactly what it uses alone. */
	assert_true(nk_bitmap_equal(dedicated, expect_dedicated));
	nk_bitmap_free(used);
	nk_bitmap_free(expect_dedicated);
}

/* Plan, check the invariants, check that planning again gives the same. */
static nk_pin_plan *plan_ok(const nk_topo *t, const struct nk_pin_request *req,
			    const nk_pin_state *state)
{
	nk_pin_plan *plan = NULL, *again = NULL;
	nk_error *err = NULL;
	if (nk_pin_plan_compute(t, req, state, &plan, &err) < 0)
		fail_msg("plan on %s: %s", nk_topo_source(t), nk_error_message(err));
	check_plan(t, req, state, plan);
	assert_int_equal(nk_pin_plan_compute(t, req, state, &again, NULL), 0);
	char *a = pin_plan_text(plan), *b = pin_plan_text(again);
	assert_string_equal(a, b);
	free(a);
	free(b);
	nk_pin_plan_free(again);
	return plan;
}

static void plan_refused(const nk_topo *t, const struct nk_pin_request *req,
			 const nk_pin_state *state, int code, const char *in_message)
{
	nk_pin_plan *plan = (nk_pin_plan *)0x1;
	nk_error *err = NULL;
	int r = nk_pin_plan_compute(t, req, state, &plan, &err);
	if (r != -code)
		fail_msg("expected -%d (%s), got %d: %s", code, in_message, r,
			 err ? nk_error_message(err) : "(no message)");
	assert_ptr_equal(plan, (nk_pin_plan *)0x1); /* untouched on failure */
	assert_non_null(err);
	assert_int_equal(nk_error_code(err), code);
	if (!strstr(nk_error_message(err), in_message))
		fail_msg("message '%s' lacks '%s'", nk_error_message(err), in_message);
	nk_error_free(err);
}

static unsigned vcpu_node(const nk_pin_plan *plan, unsigned i)
{
	struct nk_pin_vcpu v;
	assert_int_equal(nk_pin_plan_vcpu(plan, i, &v), 0);
	return (unsigned)v.host_node;
}

static int vcpu_cpu(const nk_pin_plan *plan, unsigned i)
{
	struct nk_pin_vcpu v;
	assert_int_equal(nk_pin_plan_vcpu(plan, i, &v), 0);
	return nk_bitmap_next(v.cpus, 0);
}

/* ---- topologies ------------------------------------------------------- */

static void test_topology_shapes(void **state)
{
	nk_topo *t = load_xml("2pack-4node-smt");
	struct nk_topo_node n;
	nk_bitmap *sib = NULL;

	assert_string_equal(nk_topo_source(t), "xml:" TOPOLOGY_DIR "/2pack-4node-smt.xml");
	assert_int_equal(nk_topo_node_count(t), 4);
	assert_int_equal(nk_topo_threads_per_core(t), 2);
	assert_list(nk_topo_cpus(t), "0-31");
	assert_int_equal(nk_topo_node(t, 2, &n), 0);
	assert_int_equal(n.id, 2);
	assert_false(n.memory_only);
	assert_true(n.allowed);
	assert_list(n.cpus, "16-23");
	assert_int_equal(nk_topo_node(t, 4, &n), -ERANGE);
	assert_int_equal(nk_topo_cpu_node(t, 17), 2);
	assert_int_equal(nk_topo_cpu_node(t, 99), -ENOENT);
	assert_int_equal(nk_topo_cpu_siblings(t, 17, &sib), 0);
	assert_list(sib, "16-17");
	nk_bitmap_free(sib);
	assert_int_equal(nk_topo_distance(t, 0, 1), 11);
	assert_int_equal(nk_topo_distance(t, 0, 3), 21);
	assert_int_equal(nk_topo_distance(t, 2, 2), 10);
	assert_int_equal(nk_topo_distance(t, 0, 9), -ENOENT);
	nk_topo_free(t);

	/* Without distances: 10 within a node, 20 within a package, 30 across. */
	t = load_synthetic("pack:2 numa:2 core:8 pu:2");
	assert_int_equal(nk_topo_node_count(t), 4);
	assert_list(nk_topo_cpus(t), "0-63");
	assert_int_equal(nk_topo_distance(t, 0, 0), 10);
	assert_int_equal(nk_topo_distance(t, 0, 1), 20);
	assert_int_equal(nk_topo_distance(t, 1, 2), 30);
	nk_topo_free(t);

	t = load_xml("1node-nosmt");
	assert_int_equal(nk_topo_threads_per_core(t), 1);
	assert_list(nk_topo_cpus(t), "0-7");
	nk_topo_free(t);
}

static void test_topology_memory_only(void **state)
{
	nk_topo *t = load_xml("memonly");
	struct nk_topo_node n;

	assert_int_equal(nk_topo_node_count(t), 3);
	assert_int_equal(nk_topo_node(t, 2, &n), 0);
	assert_int_equal(n.id, 2);
	assert_true(n.memory_only);
	assert_int_equal(nk_bitmap_weight(n.cpus), 0);
	assert_int_equal(nk_topo_node(t, 1, &n), 0);
	assert_false(n.memory_only);
	assert_list(n.cpus, "8-15");
	assert_int_equal(nk_topo_distance(t, 2, 1), 14);
	assert_int_equal(nk_topo_distance(t, 2, 0), 24);
	nk_topo_free(t);

	/* Two nodes attached at the same place: the higher one is memory-only. */
	t = load_synthetic("pack:2 [numa] [numa] core:2 pu:2");
	assert_int_equal(nk_topo_node_count(t), 4);
	assert_int_equal(nk_topo_node(t, 1, &n), 0);
	assert_true(n.memory_only);
	assert_int_equal(nk_topo_node(t, 2, &n), 0);
	assert_false(n.memory_only);
	assert_list(n.cpus, "4-7");
	nk_topo_free(t);
}

static void test_topology_offline_disallowed(void **state)
{
	nk_topo *t = load_xml("offline-disallowed");
	struct nk_topo_node n;
	nk_bitmap *sib = NULL;

	/* CPU 3 offline: gone but for all_cpus; 5 and 8-11 disallowed. */
	assert_list(nk_topo_cpus(t), "0-2,4,6-7");
	assert_list(nk_topo_all_cpus(t), "0-11");
	assert_int_equal(nk_topo_cpu_node(t, 3), -ENOENT);
	assert_int_equal(nk_topo_cpu_node(t, 5), 1);
	assert_int_equal(nk_topo_cpu_siblings(t, 2, &sib), 0);
	assert_list(sib, "2");
	nk_bitmap_free(sib);
	assert_int_equal(nk_topo_node(t, 2, &n), 0);
	assert_false(n.allowed);
	assert_list(n.cpus, "8-11");
	assert_int_equal(nk_topo_node(t, 0, &n), 0);
	assert_true(n.allowed);
	nk_topo_free(t);
}

/*
 * Each PU's node is the node that holds it, from hwloc's nodesets and the
 * nodes' cpusets; a PU on no node of the topology (its node offline or
 * left out of the export) is unusable, never another node's.
 */
static void test_topology_pu_nodes(void **state)
{
	/* cpuset.mems allows nodes 1 and 3; plain lstopo left nodes 0 and 2
	 * out, with their CPUs 0-3 and 8-11. */
	nk_topo *t = load_xml("restricted-filtered");
	struct nk_topo_node n;

	assert_int_equal(nk_topo_node_count(t), 2);
	assert_list(nk_topo_cpus(t), "4-7,12-15");
	assert_int_equal(nk_topo_cpu_node(t, 0), -ENOENT);
	assert_int_equal(nk_topo_cpu_node(t, 9), -ENOENT);
	assert_int_equal(nk_topo_cpu_node(t, 5), 1);
	assert_int_equal(nk_topo_cpu_node(t, 12), 3);
	assert_int_equal(nk_topo_node(t, 0, &n), 0);
	assert_int_equal(n.id, 1);
	assert_list(n.cpus, "4-7");

	struct nk_pin_guest_node gn = {.vcpus = 4, .memory_node = 1};
	struct nk_pin_request req = {.vcpus = 4, .guest_nodes = &gn, .n_guest_nodes = 1};
	nk_pin_plan *p = plan_ok(t, &req, NULL);
	assert_list(nk_pin_plan_dedicated_cpus(p), "4-7");
	nk_pin_plan_free(p);
	gn.vcpus = req.vcpus = 5;
	plan_refused(t, &req, NULL, ENOSPC, "does not fit on host node 1, which has room for 4");
	nk_topo_free(t);

	/* The same machine exported whole: nodes 0 and 2 known but not
	 * allowed, so their CPUs are not usable either. */
	t = load_xml("restricted-nodes");
	assert_int_equal(nk_topo_node_count(t), 4);
	assert_list(nk_topo_cpus(t), "4-7,12-15");
	assert_int_equal(nk_topo_cpu_node(t, 0), 0);
	nk_topo_free(t);

	/* Node 1 offline with CPUs 6-7 still online: they are on no node. */
	t = load_xml("offline-node");
	assert_list(nk_topo_cpus(t), "0-3,8,11");
	assert_int_equal(nk_topo_cpu_node(t, 6), -ENOENT);
	assert_int_equal(nk_topo_cpu_node(t, 8), 2);
	req = (struct nk_pin_request){.vcpus = 6, .allow_spill = true};
	p = plan_ok(t, &req, NULL);
	assert_list(nk_pin_plan_dedicated_cpus(p), "0-3,8,11");
	nk_pin_plan_free(p);
	nk_topo_free(t);
}

static void test_topology_errors(void **state)
{
	nk_topo *t = (nk_topo *)0x1;
	nk_error *err = NULL;
	char path[] = "/tmp/test-pin-plan-XXXXXX";
	int fd;

	assert_int_equal(nk_topo_load_xml("/nonexistent/topo.xml", &t, &err), -ENOENT);
	assert_non_null(strstr(nk_error_message(err), "/nonexistent/topo.xml"));
	assert_non_null(strstr(nk_error_get_hint(err), "lstopo"));
	err = nk_error_free(err);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "<topology>garbage", 17), 17);
	close(fd);
	assert_int_equal(nk_topo_load_xml(path, &t, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "hwloc cannot read topology file"));
	assert_non_null(strstr(nk_error_message(err), path));
	err = nk_error_free(err);
	unlink(path);

	assert_int_equal(nk_topo_load_synthetic("pack:2 bogus:3", &t, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "'pack:2 bogus:3'"));
	err = nk_error_free(err);
	assert_ptr_equal(t, (nk_topo *)0x1);
}

/* ---- planner scenarios ------------------------------------------------ */

static void test_memory_node_first(void **state)
{
	nk_topo *t = load_xml("2pack-4node-smt");
	struct nk_pin_guest_node gn = {.vcpus = 4, .memory_node = 2};
	struct nk_pin_request req = {.vcpus = 4, .guest_nodes = &gn, .n_guest_nodes = 1};

	/* SMT prefer packs sibling pairs on the memory's node. */
	nk_pin_plan *p = plan_ok(t, &req, NULL);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(vcpu_node(p, i), 2);
	assert_int_equal(vcpu_cpu(p, 0), 16);
	assert_int_equal(vcpu_cpu(p, 1), 17);
	assert_int_equal(vcpu_cpu(p, 3), 19);
	assert_list(nk_pin_plan_emulator_cpus(p), "16-19");
	assert_null(nk_pin_plan_notes(p)[0]);
	nk_pin_plan_free(p);

	/* Too big for node 2: refused unless spilling is allowed ... */
	gn.vcpus = req.vcpus = 10;
	plan_refused(
	    t, &req, NULL, ENOSPC,
	    "guest node 0 (10 dedicated vCPUs) does not fit on host node 2, which has room for 8");
	/* ... and then the rest goes to node 3, the nearest (distance 11). */
	req.allow_spill = true;
	p = plan_ok(t, &req, NULL);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(vcpu_node(p, i), 2);
	assert_int_equal(vcpu_node(p, 8), 3);
	assert_int_equal(vcpu_node(p, 9), 3);
	assert_non_null(
	    strstr(nk_pin_plan_notes(p)[0], "2 of 10 vCPUs spilled from node 2 to node 3"));
	nk_pin_plan_free(p);
	nk_topo_free(t);
}

static void test_guest_nodes(void **state)
{
	nk_topo *t = load_xml("2pack-4node-smt");
	struct nk_pin_guest_node gn[] = {{.vcpus = 4, .memory_node = 1},
					 {.vcpus = 4, .memory_node = 3}};
	struct nk_pin_request req = {.vcpus = 8,
				     .threads_per_core = 2,
				     .guest_nodes = gn,
				     .n_guest_nodes = 2,
				     .smt = NK_PIN_SMT_REQUIRE};

	nk_pin_plan *p = plan_ok(t, &req, NULL);
	for (unsigned i = 0; i < 8; i++) {
		struct nk_pin_vcpu v;
		nk_pin_plan_vcpu(p, i, &v);
		assert_int_equal(v.guest_node, i / 4);
		assert_int_equal(v.memory_node, i < 4 ? 1 : 3);
		assert_int_equal(v.host_node, i < 4 ? 1 : 3);
	}
	nk_pin_plan_free(p);

	/* Bad requests. */
	gn[1].vcpus = 3;
	plan_refused(t, &req, NULL, EINVAL, "guest node 1 has 3 vCPUs");
	gn[1].vcpus = 2;
	plan_refused(t, &req, NULL, EINVAL, "the guest nodes hold 6 vCPUs but the VM has 8");
	gn[1] = (struct nk_pin_guest_node){.vcpus = 4, .memory_node = 7};
	plan_refused(t, &req, NULL, EINVAL, "host node 7 does not exist");
	req.vcpus = 7;
	plan_refused(t, &req, NULL, EINVAL, "7 vCPUs is not a multiple of 2 threads per core");
	req = (struct nk_pin_request){.vcpus = 0};
	plan_refused(t, &req, NULL, EINVAL, "invalid vCPU count 0");
	req =
	    (struct nk_pin_request){.vcpus = 2, .policy = NK_PIN_SHARED, .smt = NK_PIN_SMT_ISOLATE};
	plan_refused(t, &req, NULL, EINVAL, "SMT policy 'isolate' needs dedicated vCPUs");
	nk_topo_free(t);
}

static void test_smt_isolate(void **state)
{
	nk_topo *t = load_xml("2pack-4node-smt");
	nk_pin_state *st = NULL;
	struct nk_pin_guest_node gn = {.vcpus = 3, .memory_node = 0};
	struct nk_pin_request req = {.vcpus = 3,
				     .guest_nodes = &gn,
				     .n_guest_nodes = 1,
				     .smt = NK_PIN_SMT_ISOLATE,
				     .emulator = NK_PIN_EMULATOR_ISOLATE};

	assert_int_equal(nk_pin_state_new(&st), 0);
	nk_pin_plan *p = plan_ok(t, &req, st);
	assert_int_equal(vcpu_cpu(p, 0), 0);
	assert_int_equal(vcpu_cpu(p, 1), 2);
	assert_int_equal(vcpu_cpu(p, 2), 4);
	assert_list(nk_pin_plan_emulator_cpus(p), "6");
	assert_list(nk_pin_plan_reserved_cpus(p), "1,3,5,7");
	assert_list(nk_pin_plan_dedicated_cpus(p), "0-7");
	assert_int_equal(nk_pin_state_add(st, NULL, p, 100, "vm1", NULL), 0);
	nk_pin_plan_free(p);

	/* Node 0 is now full, siblings included: a second VM is refused there. */
	gn.vcpus = req.vcpus = 1;
	req.emulator = NK_PIN_EMULATOR_SHARE;
	plan_refused(t, &req, st, ENOSPC, "node 0: 0 free CPUs");
	req.smt = NK_PIN_SMT_PREFER;
	plan_refused(t, &req, st, ENOSPC, "(1 dedicated vCPU) does not fit on host node 0");
	nk_pin_state_free(st);

	/* Without SMT every core is whole: isolate works, require cannot. */
	nk_topo_free(t);
	t = load_xml("1node-nosmt");
	req = (struct nk_pin_request){.vcpus = 8, .smt = NK_PIN_SMT_ISOLATE};
	p = plan_ok(t, &req, NULL);
	assert_list(nk_pin_plan_dedicated_cpus(p), "0-7");
	assert_int_equal(nk_bitmap_weight(nk_pin_plan_reserved_cpus(p)), 0);
	nk_pin_plan_free(p);
	req.vcpus = 9;
	plan_refused(t, &req, NULL, ENOSPC, "(9 dedicated vCPUs, SMT isolate) does not fit");
	req.vcpus = 2;
	req.smt = NK_PIN_SMT_REQUIRE;
	plan_refused(t, &req, NULL, ENOSPC, "the host has no SMT");
	nk_topo_free(t);
}

static void test_smt_require_pairs(void **state)
{
	nk_topo *t = load_synthetic("pack:1 numa:1 core:4 pu:4");
	nk_pin_state *st = NULL;
	struct nk_pin_request req = {.vcpus = 2, .smt = NK_PIN_SMT_PREFER};

	/* A VM takes CPUs 0-1: core 0 keeps 2 free PUs of 4. */
	assert_int_equal(nk_pin_state_new(&st), 0);
	nk_pin_plan *p = plan_ok(t, &req, st);
	assert_int_equal(nk_pin_state_add(st, NULL, p, 1, NULL, NULL), 0);
	nk_pin_plan_free(p);

	/* Guest pairs land on sibling PUs, best fit first: core 0's two left. */
	req = (struct nk_pin_request){.vcpus = 6, .threads_per_core = 2, .smt = NK_PIN_SMT_REQUIRE};
	p = plan_ok(t, &req, st);
	assert_int_equal(vcpu_cpu(p, 0), 2);
	assert_int_equal(vcpu_cpu(p, 1), 3);
	assert_int_equal(vcpu_cpu(p, 2), 4);
	assert_int_equal(vcpu_cpu(p, 3), 5);
	nk_pin_plan_free(p);

	/* More threads per guest core than the host has: refused. */
	req.threads_per_core = 8;
	req.vcpus = 8;
	plan_refused(t, &req, st, ENOSPC, "host cores have at most 4");
	nk_pin_state_free(st);
	nk_topo_free(t);
}

static void test_housekeeping(void **state)
{
	nk_topo *t = load_xml("1node-nosmt");
	nk_bitmap *hk = list("0-1");
	struct nk_pin_request req = {.vcpus = 6, .housekeeping = hk};

	nk_pin_plan *p = plan_ok(t, &req, NULL);
	assert_list(nk_pin_plan_dedicated_cpus(p), "2-7");
	nk_pin_plan_free(p);
	req.vcpus = 7;
	plan_refused(t, &req, NULL, ENOSPC, "room for 6");
	req.vcpus = 2;
	req.policy = NK_PIN_SHARED;
	p = plan_ok(t, &req, NULL);
	assert_list(nk_pin_plan_shared_cpus(p), "2-7");
	nk_pin_plan_free(p);
	nk_bitmap_free(hk);

	hk = list("3,99");
	req.housekeeping = hk;
	plan_refused(t, &req, NULL, EINVAL, "housekeeping CPU 99 is not in topology");
	nk_bitmap_free(hk);
	nk_topo_free(t);
}

static void test_memory_only_node(void **state)
{
	nk_topo *t = load_xml("memonly");
	struct nk_pin_guest_node gn = {.vcpus = 2, .memory_node = 2};
	struct nk_pin_request req = {.vcpus = 2, .guest_nodes = &gn, .n_guest_nodes = 1};

	/* Memory on CPU-less node 2: vCPUs on node 1, the nearer (14 vs 24). */
	nk_pin_plan *p = plan_ok(t, &req, NULL);
	assert_int_equal(vcpu_node(p, 0), 1);
	assert_int_equal(vcpu_node(p, 1), 1);
	assert_non_null(strstr(nk_pin_plan_notes(p)[0],
			       "memory node 2 has no CPUs; its vCPUs go to node 1, the nearest by "
			       "the distance matrix (14; node 0: 24)"));
	nk_pin_plan_free(p);
	req.policy = NK_PIN_SHARED;
	p = plan_ok(t, &req, NULL);
	assert_int_equal(vcpu_node(p, 0), 1);
	assert_list(nk_pin_plan_shared_cpus(p), "8-15");
	nk_pin_plan_free(p);
	nk_topo_free(t);
}

static const char *note_with(const nk_pin_plan *plan, const char *text)
{
	for (char *const *n = nk_pin_plan_notes(plan); *n; n++)
		if (strstr(*n, text))
			return *n;
	return NULL;
}

/*
 * Memory-only nodes without a distance matrix, or with a flat one: their
 * CPU node is the one hwloc's locality says (where the node is attached),
 * never the lowest-numbered, and the notes say which source decided.
 */
static void test_memory_only_nearest(void **state)
{
	/* KNL SNC-4 flat: MCDRAM node 4+k beside DDR node k, no distances.
	 * Each cluster has exactly the 4 CPUs asked of it. */
	nk_topo *t = load_xml("knl-snc4-nodist");
	struct nk_pin_guest_node gn[] = {{.vcpus = 4, .memory_node = 4},
					 {.vcpus = 4, .memory_node = 5},
					 {.vcpus = 4, .memory_node = 6},
					 {.vcpus = 4, .memory_node = 7}};
	struct nk_pin_request req = {.vcpus = 16, .guest_nodes = gn, .n_guest_nodes = 4};

	nk_pin_plan *p = plan_ok(t, &req, NULL);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(vcpu_node(p, i), i / 4);
	assert_non_null(note_with(p, "memory node 5 has no CPUs; its vCPUs go to node 1, the "
				     "nearest by hwloc's locality (where it is attached; no "
				     "distances)"));
	nk_pin_plan_free(p);
	nk_topo_free(t);

	/* Firmware distances all 10: locality puts node 3 with node 1. */
	t = load_xml("memonly-flat");
	struct nk_pin_guest_node one = {.vcpus = 2, .memory_node = 3};
	req = (struct nk_pin_request){.vcpus = 2, .guest_nodes = &one, .n_guest_nodes = 1};
	p = plan_ok(t, &req, NULL);
	assert_int_equal(vcpu_node(p, 0), 1);
	assert_non_null(note_with(p, "the distances are flat"));
	nk_pin_plan_free(p);
	nk_topo_free(t);

	/* Flat distances between CPU nodes: a spill from node 2 goes to node
	 * 3, in its package, not to node 0. */
	t = load_xml("2pack-4node-flat");
	one = (struct nk_pin_guest_node){.vcpus = 10, .memory_node = 2};
	req = (struct nk_pin_request){
	    .vcpus = 10, .guest_nodes = &one, .n_guest_nodes = 1, .allow_spill = true};
	p = plan_ok(t, &req, NULL);
	assert_int_equal(vcpu_node(p, 7), 2);
	assert_int_equal(vcpu_node(p, 8), 3);
	assert_int_equal(vcpu_node(p, 9), 3);
	nk_pin_plan_free(p);
	nk_topo_free(t);

	/* Nothing tells nodes 0 and 1 apart for node 2: the one with room. */
	t = load_xml("memonly-nodist");
	nk_bitmap *hk = list("0-3");
	one = (struct nk_pin_guest_node){.vcpus = 2, .memory_node = 2};
	req = (struct nk_pin_request){
	    .vcpus = 2, .guest_nodes = &one, .n_guest_nodes = 1, .housekeeping = hk};
	p = plan_ok(t, &req, NULL);
	assert_int_equal(vcpu_node(p, 0), 1);
	assert_non_null(note_with(p, "nodes equally near it by every source (distance, hwloc's "
				     "locality, sysfs): 0,1; its vCPUs go to node 1, which has "
				     "the most room"));
	nk_pin_plan_free(p);
	nk_bitmap_free(hk);
	nk_topo_free(t);
}

/* Memory on a node whose CPUs are all outside cpuset.cpus: its vCPUs go
 * to the nearest node with CPUs we may use, not refused for want of room
 * on CPUs we may not. */
static void test_memory_node_cpus_disallowed(void **state)
{
	nk_topo *t = load_xml("cpus-disallowed-node");
	struct nk_pin_guest_node gn = {.vcpus = 2, .memory_node = 1};
	struct nk_pin_request req = {.vcpus = 2, .guest_nodes = &gn, .n_guest_nodes = 1};

	assert_list(nk_topo_cpus(t), "0-3,8-11");
	nk_pin_plan *p = plan_ok(t, &req, NULL);
	assert_int_equal(vcpu_node(p, 0), 2);
	assert_int_equal(vcpu_node(p, 1), 2);
	assert_non_null(note_with(p, "memory node 1 has no CPUs this process may use; its vCPUs "
				     "go to node 2, the nearest by the distance matrix (15; node "
				     "0: 20)"));
	nk_pin_plan_free(p);
	nk_topo_free(t);
}

static void test_offline_disallowed(void **state)
{
	nk_topo *t = load_xml("offline-disallowed");
	struct nk_pin_guest_node gn = {.vcpus = 1, .memory_node = 2};
	struct nk_pin_request req = {.vcpus = 1, .guest_nodes = &gn, .n_guest_nodes = 1};

	plan_refused(t, &req, NULL, EACCES,
		     "host node 2 is outside the nodes this process is allowed");
	/* Whatever is asked, CPUs 3 (offline), 5 and 8-11 (disallowed) stay out. */
	req = (struct nk_pin_request){.vcpus = 6};
	req.allow_spill = true;
	nk_pin_plan *p = plan_ok(t, &req, NULL);
	assert_list(nk_pin_plan_dedicated_cpus(p), "0-2,4,6-7");
	nk_pin_plan_free(p);
	req.vcpus = 7;
	plan_refused(t, &req, NULL, ENOSPC,
		     "does not fit on the allowed nodes, which have room for 6");

	/* SMT isolate: core 4-5 is not whole (5 may run someone else's work);
	 * core 2 (sibling 3 offline) is. */
	gn = (struct nk_pin_guest_node){.vcpus = 2, .memory_node = 0};
	req = (struct nk_pin_request){
	    .vcpus = 2, .guest_nodes = &gn, .n_guest_nodes = 1, .smt = NK_PIN_SMT_ISOLATE};
	p = plan_ok(t, &req, NULL);
	assert_int_equal(vcpu_cpu(p, 0), 0);
	assert_int_equal(vcpu_cpu(p, 1), 2);
	nk_pin_plan_free(p);
	gn.memory_node = 1;
	plan_refused(t, &req, NULL, ENOSPC, "room for 1");
	/* An offline housekeeping CPU is fine: it is unused anyway. */
	nk_bitmap *hk = list("3");
	req = (struct nk_pin_request){.vcpus = 1, .housekeeping = hk};
	p = plan_ok(t, &req, NULL);
	nk_pin_plan_free(p);
	nk_bitmap_free(hk);
	nk_topo_free(t);
}

static void test_shared_and_dedicated(void **state)
{
	nk_topo *t = load_xml("2pack-4node-smt");
	nk_pin_state *st = NULL;
	struct nk_pin_guest_node gn = {.vcpus = 4, .memory_node = 0};
	struct nk_pin_request ded = {.vcpus = 4, .guest_nodes = &gn, .n_guest_nodes = 1};
	struct nk_pin_request sh = ded;

	assert_int_equal(nk_pin_state_new(&st), 0);
	nk_pin_plan *p = plan_ok(t, &ded, st);
	assert_int_equal(nk_pin_state_add(st, NULL, p, 1, "ded", NULL), 0);
	nk_pin_plan_free(p);

	/* Shared vCPUs float over node 0's CPUs the dedicated VM left. */
	sh.policy = NK_PIN_SHARED;
	sh.emulator = NK_PIN_EMULATOR_ISOLATE;
	p = plan_ok(t, &sh, st);
	assert_list(nk_pin_plan_emulator_cpus(p), "4");
	assert_list(nk_pin_plan_shared_cpus(p), "5-7");
	for (unsigned i = 0; i < 4; i++) {
		struct nk_pin_vcpu v;
		nk_pin_plan_vcpu(p, i, &v);
		assert_list(v.cpus, "5-7");
	}
	assert_int_equal(nk_pin_state_add(st, NULL, p, 2, "shared", NULL), 0);
	nk_pin_plan_free(p);

	/* A second shared VM may float over the same CPUs ... */
	sh.emulator = NK_PIN_EMULATOR_SHARE;
	p = plan_ok(t, &sh, st);
	assert_list(nk_pin_plan_shared_cpus(p), "5-7");
	nk_pin_plan_free(p);
	/* ... a dedicated one may not: node 0 is full for it. */
	plan_refused(t, &ded, st, ENOSPC, "node 0: 0 free CPUs");
	assert_int_equal(nk_pin_state_remove(st, 2), 1);
	assert_int_equal(nk_pin_state_remove(st, 2), 0);
	p = plan_ok(t, &ded, st);
	assert_list(nk_pin_plan_dedicated_cpus(p), "4-7");
	nk_pin_plan_free(p);
	nk_pin_state_free(st);
	nk_topo_free(t);
}

/*
 * A shared VM floats over every free CPU of its node, which dedicated VMs
 * then cannot have.  So shared VMs pack into what dedicated VMs left (or
 * where other shared VMs float), leaving whole nodes for dedicated VMs,
 * and the plan's note says what the float set costs.
 */
static void test_shared_packs(void **state)
{
	nk_topo *t = load_xml("2pack-4node-smt");
	nk_pin_state *st = NULL;
	struct nk_pin_request ded = {.vcpus = 2};
	struct nk_pin_request sh = {.vcpus = 4, .policy = NK_PIN_SHARED};

	assert_int_equal(nk_pin_state_new(&st), 0);
	nk_pin_plan *p = plan_ok(t, &ded, st); /* CPUs 0-1 of node 0 */
	assert_int_equal(nk_pin_state_add(st, NULL, p, 1, "ded", NULL), 0);
	nk_pin_plan_free(p);

	/* The shared VM takes the rest of node 0, not a whole empty node. */
	p = plan_ok(t, &sh, st);
	assert_list(nk_pin_plan_shared_cpus(p), "2-7");
	assert_non_null(note_with(p, "its shared vCPUs float over the 6 free CPUs of node 0 "
				     "(2-7), which dedicated VMs cannot have while this VM is "
				     "pinned"));
	assert_int_equal(nk_pin_state_add(st, NULL, p, 2, "shared", NULL), 0);
	nk_pin_plan_free(p);

	/* A second shared VM floats where the first does: nothing more is
	 * blocked, and the note says so. */
	p = plan_ok(t, &sh, st);
	assert_list(nk_pin_plan_shared_cpus(p), "2-7");
	assert_non_null(note_with(p, "other shared VMs float there already"));
	nk_pin_plan_free(p);

	/* Nodes 1, 2 and 3 stay whole: three dedicated VMs of 8 vCPUs fit. */
	ded.vcpus = 8;
	for (int vm = 3; vm < 6; vm++) {
		p = plan_ok(t, &ded, st);
		assert_int_equal(vcpu_node(p, 0), vm - 2);
		assert_int_equal(nk_pin_state_add(st, NULL, p, vm, NULL, NULL), 0);
		nk_pin_plan_free(p);
	}
	nk_pin_state_free(st);
	nk_topo_free(t);
}

static void test_emulator_beside_vcpus(void **state)
{
	nk_topo *t = load_xml("2pack-4node-smt");
	struct nk_pin_request req = {.vcpus = 7, .emulator = NK_PIN_EMULATOR_ISOLATE};

	/* 7 vCPUs and the emulator's CPU fit node 0 exactly. */
	nk_pin_plan *p = plan_ok(t, &req, NULL);
	assert_int_equal(vcpu_node(p, 0), 0);
	assert_list(nk_pin_plan_emulator_cpus(p), "7");
	nk_pin_plan_free(p);
	/* 8 vCPUs leave no CPU for it on their node: refused, or beside with --spill. */
	req.vcpus = 8;
	plan_refused(t, &req, NULL, ENOSPC,
		     "no CPU left for the isolated emulator threads on node 0");
	req.allow_spill = true;
	p = plan_ok(t, &req, NULL);
	assert_list(nk_pin_plan_dedicated_cpus(p), "0-8");
	assert_list(nk_pin_plan_emulator_cpus(p), "8");
	nk_pin_plan_free(p);
	nk_topo_free(t);
}

/* A shared VM with an isolated emulator: the emulator's CPU and the
 * vCPUs' float set on one node, chosen once (the emulator's CPU must not
 * tip the choice of the vCPUs' node to another). */
static void test_shared_emulator_same_node(void **state)
{
	nk_topo *t = load_xml("2pack-4node-smt");
	struct nk_pin_request req = {
	    .vcpus = 4, .policy = NK_PIN_SHARED, .emulator = NK_PIN_EMULATOR_ISOLATE};

	nk_pin_plan *p = plan_ok(t, &req, NULL);
	assert_list(nk_pin_plan_emulator_cpus(p), "0");
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(vcpu_node(p, i), 0);
	assert_list(nk_pin_plan_shared_cpus(p), "1-7");
	nk_pin_plan_free(p);

	/* The same with two guest nodes left to the planner. */
	struct nk_pin_guest_node gn[] = {{.vcpus = 2, .memory_node = -1},
					 {.vcpus = 2, .memory_node = -1}};
	req.guest_nodes = gn;
	req.n_guest_nodes = 2;
	p = plan_ok(t, &req, NULL);
	assert_int_equal(
	    nk_topo_cpu_node(t, (unsigned)nk_bitmap_next(nk_pin_plan_emulator_cpus(p), 0)),
	    vcpu_node(p, 0));
	assert_int_equal(vcpu_node(p, 0), vcpu_node(p, 1));
	assert_true(vcpu_node(p, 2) != vcpu_node(p, 0));
	nk_pin_plan_free(p);

	/* One CPU left on a node is no home for an emulator and vCPUs both. */
	nk_bitmap *hk = list("0-6,8-31");
	req = (struct nk_pin_request){.vcpus = 1,
				      .policy = NK_PIN_SHARED,
				      .emulator = NK_PIN_EMULATOR_ISOLATE,
				      .housekeeping = hk};
	plan_refused(t, &req, NULL, ENOSPC, "no CPU left");
	nk_bitmap_free(hk);
	nk_topo_free(t);
}

static void test_choose_node(void **state)
{
	nk_topo *t = load_xml("2pack-4node-smt");
	nk_pin_state *st = NULL;
	struct nk_pin_request req = {.vcpus = 6};

	/* Memory node left to the planner: tightest fit, lowest number on ties. */
	assert_int_equal(nk_pin_state_new(&st), 0);
	nk_pin_plan *p = plan_ok(t, &req, st);
	assert_int_equal(vcpu_node(p, 0), 0);
	assert_int_equal(nk_pin_state_add(st, NULL, p, 1, NULL, NULL), 0);
	nk_pin_plan_free(p);
	req.vcpus = 2; /* fits exactly the 2 CPUs left on node 0 */
	p = plan_ok(t, &req, st);
	assert_int_equal(vcpu_node(p, 0), 0);
	assert_int_equal(vcpu_node(p, 1), 0);
	nk_pin_plan_free(p);
	req.vcpus = 4; /* does not: node 1 */
	p = plan_ok(t, &req, st);
	assert_int_equal(vcpu_node(p, 0), 1);
	nk_pin_plan_free(p);
	nk_pin_state_free(st);
	nk_topo_free(t);
}

/* SMT require with an isolated emulator: the vCPUs need sibling pairs, the
 * emulator one more PU, so the node must have both. */
static void test_choose_node_require_emulator(void **state)
{
	nk_topo *t = load_xml("2pack-4node-smt");
	nk_bitmap *hk = list("16-31");
	nk_pin_state *st = NULL;
	struct nk_pin_guest_node gn0 = {.vcpus = 2, .memory_node = 0};
	struct nk_pin_guest_node gn1 = {.vcpus = 1, .memory_node = 1};
	struct nk_pin_request a = {.vcpus = 2, .guest_nodes = &gn0, .n_guest_nodes = 1};
	struct nk_pin_request b = {.vcpus = 1, .guest_nodes = &gn1, .n_guest_nodes = 1};

	assert_int_equal(nk_pin_state_new(&st), 0);
	nk_pin_plan *p = plan_ok(t, &a, st); /* node 0: 3 free pairs, no odd PU */
	assert_int_equal(nk_pin_state_add(st, NULL, p, 1, NULL, NULL), 0);
	nk_pin_plan_free(p);
	p = plan_ok(t, &b, st); /* node 1: 3 free pairs and an odd PU */
	assert_int_equal(nk_pin_state_add(st, NULL, p, 2, NULL, NULL), 0);
	nk_pin_plan_free(p);

	struct nk_pin_request req = {.vcpus = 6,
				     .threads_per_core = 2,
				     .smt = NK_PIN_SMT_REQUIRE,
				     .emulator = NK_PIN_EMULATOR_ISOLATE,
				     .housekeeping = hk};
	p = plan_ok(t, &req, st);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(vcpu_node(p, i), 1);
	assert_list(nk_pin_plan_emulator_cpus(p), "9");
	nk_pin_plan_free(p);
	nk_pin_state_free(st);
	nk_bitmap_free(hk);
	nk_topo_free(t);
}

struct fill_case {
	enum nk_pin_policy policy;
	enum nk_pin_smt smt;
	enum nk_pin_emulator emulator;
	unsigned threads;
	const char *housekeeping;
	bool spill;
};

/* Place VMs of 2 guest cores until refused; check every plan; return the
 * number of plans made, and count the refusals. */
static unsigned fill_host(const nk_topo *t, const struct fill_case *c, unsigned *refusals)
{
	nk_bitmap *hk = c->housekeeping ? list(c->housekeeping) : NULL;
	nk_pin_state *st = NULL;
	unsigned plans = 0;

	assert_int_equal(nk_pin_state_new(&st), 0);
	for (int vm = 1; vm < 64; vm++) {
		/* Memory on no node in particular, node 0, node 1 in turn. */
		struct nk_pin_guest_node gn = {.vcpus = 2 * c->threads, .memory_node = vm % 3 - 1};
		struct nk_pin_request req = {
		    .vcpus = 2 * c->threads,
		    .threads_per_core = c->threads,
		    .policy = c->policy,
		    .smt = c->smt,
		    .emulator = c->emulator,
		    .housekeeping = hk,
		    .allow_spill = c->spill,
		    .guest_nodes = &gn,
		    .n_guest_nodes = 1,
		};
		nk_pin_plan *p = NULL;
		nk_error *err = NULL;
		if (gn.memory_node >= 0 && nk_topo_distance(t, gn.memory_node, gn.memory_node) < 0)
			gn.memory_node = -1;
		int r = nk_pin_plan_compute(t, &req, st, &p, &err);
		if (r == -ENOSPC) {
			assert_non_null(strstr(nk_error_message(err), "free now:"));
			nk_error_free(err);
			(*refusals)++;
			break;
		}
		if (r < 0)
			fail_msg("%s: %s", nk_topo_source(t), nk_error_message(err));
		check_plan(t, &req, st, p);
		assert_int_equal(nk_pin_state_add(st, NULL, p, vm, NULL, NULL), 0);
		nk_pin_plan_free(p);
		plans++;
		/* Shared VMs never fill a host: a few are enough. */
		if (c->policy == NK_PIN_SHARED && vm >= 8)
			break;
	}
	/* No CPU held by two VMs. */
	nk_bitmap *seen = nk_bitmap_new();
	for (unsigned e = 0; e < nk_pin_state_count(st); e++) {
		struct nk_pin_entry en;
		nk_pin_state_entry(st, e, &en);
		assert_false(intersects(en.dedicated, seen));
		nk_bitmap_foreach (cpu, en.dedicated) {
			nk_bitmap_set(seen, (unsigned)cpu);
		}
	}
	nk_bitmap_free(seen);
	nk_pin_state_free(st);
	nk_bitmap_free(hk);
	return plans;
}

/*
 * Fill each topology with VMs, every policy combination, until refused:
 * the invariants hold on every plan against everything placed before, and
 * the host always ends with a refusal that says what is free.
 */
static void test_fill_until_refused(void **state)
{
	static const char *const topologies[] = {"1node-nosmt", "2pack-4node-smt", "memonly",
						 "offline-disallowed"};
	static const char *const housekeeping[] = {NULL, "0", "1,6"};
	unsigned plans = 0, refusals = 0;

	for (size_t ti = 0; ti < ARRAY_SIZE(topologies); ti++) {
		nk_topo *t = load_xml(topologies[ti]);
		unsigned tpc = nk_topo_threads_per_core(t);
		/* Every combination: 2 policies x 3 SMT x 2 emulator x 2 threads
		 * x 3 housekeeping sets x spill or not. */
		for (unsigned i = 0; i < 2 * 3 * 2 * 2 * 3 * 2; i++) {
			struct fill_case c = {
			    .policy = (enum nk_pin_policy)(i % 2),
			    .smt = (enum nk_pin_smt)(i / 2 % 3),
			    .emulator = (enum nk_pin_emulator)(i / 6 % 2),
			    .threads = i / 12 % 2 + 1,
			    .housekeeping = housekeeping[i / 24 % 3],
			    .spill = i / 72 % 2,
			};
			if (c.policy == NK_PIN_SHARED && c.smt != NK_PIN_SMT_PREFER)
				continue;
			if (c.smt == NK_PIN_SMT_REQUIRE && (tpc < 2 || c.threads > tpc))
				continue;
			plans += fill_host(t, &c, &refusals);
		}
		nk_topo_free(t);
	}
	print_message("%u plans, %u refusals\n", plans, refusals);
	assert_true(plans > 500);
	assert_true(refusals > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_topology_shapes),
	    cmocka_unit_test(test_topology_memory_only),
	    cmocka_unit_test(test_topology_offline_disallowed),
	    cmocka_unit_test(test_topology_pu_nodes),
	    cmocka_unit_test(test_topology_errors),
	    cmocka_unit_test(test_memory_node_first),
	    cmocka_unit_test(test_guest_nodes),
	    cmocka_unit_test(test_smt_isolate),
	    cmocka_unit_test(test_smt_require_pairs),
	    cmocka_unit_test(test_housekeeping),
	    cmocka_unit_test(test_memory_only_node),
	    cmocka_unit_test(test_memory_only_nearest),
	    cmocka_unit_test(test_memory_node_cpus_disallowed),
	    cmocka_unit_test(test_offline_disallowed),
	    cmocka_unit_test(test_shared_and_dedicated),
	    cmocka_unit_test(test_shared_packs),
	    cmocka_unit_test(test_emulator_beside_vcpus),
	    cmocka_unit_test(test_shared_emulator_same_node),
	    cmocka_unit_test(test_choose_node),
	    cmocka_unit_test(test_choose_node_require_emulator),
	    cmocka_unit_test(test_fill_until_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
