/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm-bench-pin: planning 1,000 VMs of 4 vCPUs onto a synthetic 512-PU,
 * 8-node host (target: under 1 s in total).
 *
 * The host is kept busy the way a real one is: each VM's memory is on node
 * i % 8, and when a VM is refused because the host is full, the oldest VM
 * goes away and the new one is planned again.  So every plan is made
 * against about a host's worth of other VMs, and refusals (which look at
 * every node) are counted in the time too.
 *
 * Usage: numaksm-bench-pin [--vms N] [--max-ms MS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <numaksm/vcpu.h>

#define HOST	      "pack:2 numa:4 core:32 pu:2"
#define VCPUS	      4
#define MAX_VMS_ALIVE 1024

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct result {
	unsigned plans, refusals, alive_max;
	double ms;
};

/* Plan `vms` VMs with `req` (its guest node's memory node varied), churning. */
static int run(const nk_topo *topo, struct nk_pin_request req, unsigned vms, struct result *ret)
{
	struct nk_pin_guest_node gn = {.vcpus = req.vcpus};
	nk_pin_state *state = NULL;
	int alive[MAX_VMS_ALIVE], head = 0, n_alive = 0;
	struct result res = {0};

	if (nk_pin_state_new(&state) < 0)
		return -ENOMEM;
	req.guest_nodes = &gn;
	req.n_guest_nodes = 1;
	double start = now_ms();
	for (unsigned vm = 1; vm <= vms; vm++) {
		gn.memory_node = (int)(vm % 8);
		for (;;) {
			nk_pin_plan *plan = NULL;
			nk_error *err = NULL;
			int r = nk_pin_plan_compute(topo, &req, state, &plan, &err);
			if (r == -ENOSPC && n_alive > 0) {
				/* Host full: the oldest VM ends, try again. */
				nk_error_free(err);
				res.refusals++;
				nk_pin_state_remove(state, alive[head]);
				head = (head + 1) % MAX_VMS_ALIVE;
				n_alive--;
				continue;
			}
			if (r < 0) {
				fprintf(stderr, "VM %u: %s\n", vm, nk_error_message(err));
				nk_error_free(err);
				nk_pin_state_free(state);
				return r;
			}
			res.plans++;
			r = nk_pin_state_add(state, NULL, plan, (int)vm, NULL, NULL);
			nk_pin_plan_free(plan);
			if (r < 0 || n_alive == MAX_VMS_ALIVE) {
				nk_pin_state_free(state);
				return r < 0 ? r : -E2BIG;
			}
			alive[(head + n_alive) % MAX_VMS_ALIVE] = (int)vm;
			n_alive++;
			if ((unsigned)n_alive > res.alive_max)
				res.alive_max = (unsigned)n_alive;
			break;
		}
	}
	res.ms = now_ms() - start;
	nk_pin_state_free(state);
	*ret = res;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned vms = 1000;
	double max_ms = 1000;
	nk_topo *topo = NULL;
	nk_bitmap *housekeeping = NULL;
	nk_error *err = NULL;
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		char *end = NULL;
		if (strcmp(argv[i], "--vms") == 0 && i + 1 < argc) {
			vms = (unsigned)strtoul(argv[++i], &end, 10);
		} else if (strcmp(argv[i], "--max-ms") == 0 && i + 1 < argc) {
			max_ms = strtod(argv[++i], &end);
		} else {
			fprintf(stderr, "usage: %s [--vms N] [--max-ms MS]\n", argv[0]);
			return 2;
		}
		if (!end || *end || vms == 0 || max_ms <= 0) {
			fprintf(stderr, "%s: invalid value '%s'\n", argv[0], argv[i]);
			return 2;
		}
	}
	if (nk_topo_load_synthetic(HOST, &topo, &err) < 0 ||
	    nk_parse_list("0-1", "CPU list", &housekeeping, &err) < 0) {
		fprintf(stderr, "%s\n", nk_error_message(err));
		return 1;
	}
	printf("Planning %u VMs of %d vCPUs on synthetic '%s' (%u PUs, %u nodes), "
	       "CPUs 0-1 housekeeping:\n",
	       vms, VCPUS, HOST, nk_bitmap_weight(nk_topo_cpus(topo)), nk_topo_node_count(topo));

	static const struct {
		const char *what;
		enum nk_pin_policy policy;
		enum nk_pin_smt smt;
		enum nk_pin_emulator emulator;
		bool target; /* the case the target applies to */
	} cases[] = {
	    {"dedicated, SMT prefer, emulator share", NK_PIN_DEDICATED, NK_PIN_SMT_PREFER,
	     NK_PIN_EMULATOR_SHARE, true},
	    {"dedicated, SMT isolate, emulator isolate", NK_PIN_DEDICATED, NK_PIN_SMT_ISOLATE,
	     NK_PIN_EMULATOR_ISOLATE, false},
	    {"shared, emulator share", NK_PIN_SHARED, NK_PIN_SMT_PREFER, NK_PIN_EMULATOR_SHARE,
	     false},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct nk_pin_request req = {
		    .vcpus = VCPUS,
		    .policy = cases[c].policy,
		    .smt = cases[c].smt,
		    .emulator = cases[c].emulator,
		    .housekeeping = housekeeping,
		    .allow_spill = true,
		};
		struct result res;
		int r = run(topo, req, vms, &res);
		if (r < 0) {
			fprintf(stderr, "%s: failed: %s\n", cases[c].what, strerror(-r));
			failed = 1;
			continue;
		}
		bool ok = res.ms < max_ms;
		printf("  %-42s %7.1f ms total, %6.1f us per VM (%u plans, %u refusals, up "
		       "to %u VMs placed at once)%s\n",
		       cases[c].what, res.ms, res.ms * 1e3 / vms, res.plans, res.refusals,
		       res.alive_max,
		       cases[c].target ? (ok ? "  [target < 1 s: met]" : "  [target < 1 s: MISSED]")
				       : "");
		if (cases[c].target && !ok)
			failed = 1;
	}
	nk_bitmap_free(housekeeping);
	nk_topo_free(topo);
	return failed;
}
