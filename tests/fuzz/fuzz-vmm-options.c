/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm-vmm's command line (vmm_config_parse, with its --memory,
 * --memory-zone, --numa, --cpus, --fill and --workload specs) and the guest
 * layout computed from it (vmm_layout_compute).  One argument per line of
 * the input.  A command line that is accepted names every zone once, and
 * its layout puts the zones apart, the system area in the first, and every
 * vCPU's pages in RAM of its own guest node.
 */
#include "fuzz.h"
#include "vmm.h"

#define MAX_ARGS 64

static const struct vmm_zone_cfg *zone_at(const struct vmm_config *cfg, uint64_t gpa,
					  uint64_t pages)
{
	for (size_t i = 0; i < cfg->n_zones; i++) {
		const struct vmm_zone_cfg *z = &cfg->zones[i];
		if (gpa >= z->gpa && gpa - z->gpa < z->spec.size_bytes &&
		    pages <= (z->spec.size_bytes - (gpa - z->gpa)) / NKG_PAGE_SIZE)
			return z;
	}
	return NULL;
}

static void check_layout(const struct vmm_config *cfg, const struct vmm_layout *l)
{
	bool at_zero = false;
	for (size_t i = 0; i < cfg->n_zones; i++) {
		const struct vmm_zone_cfg *z = &cfg->zones[i];
		FUZZ_CHECK(z->gpa % (2u << 20) == 0 && z->spec.size_bytes % (2u << 20) == 0 &&
			       z->gpa + z->spec.size_bytes <= l->gpa_end &&
			       z->guest_node < l->n_guest_nodes,
			   "zone %s at %#llx", z->spec.id, (unsigned long long)z->gpa);
		at_zero |= z->gpa == 0 && z->spec.size_bytes > NKG_SYSTEM_END;
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(z->gpa >= cfg->zones[j].gpa + cfg->zones[j].spec.size_bytes ||
				       cfg->zones[j].gpa >= z->gpa + z->spec.size_bytes,
				   "zones %s and %s overlap", cfg->zones[j].spec.id, z->spec.id);
	}
	FUZZ_CHECK(at_zero, "no zone holds the system area");
	for (unsigned v = 0; v < NKG_MAX_VCPUS; v++) {
		const struct nkg_work *w = &l->work[v];
		FUZZ_CHECK(w->n_ranges <= NKG_MAX_RANGES && (v < cfg->vcpus || !w->n_ranges),
			   "vCPU %u: %u ranges", v, w->n_ranges);
		unsigned node = 0;
		for (size_t i = 0; i < cfg->n_numa; i++)
			if (v >= cfg->numa[i].first_vcpu &&
			    v - cfg->numa[i].first_vcpu < cfg->numa[i].n_vcpus)
				node = cfg->numa[i].guest_node;
		for (uint32_t r = 0; r < w->n_ranges; r++) {
			const struct vmm_zone_cfg *z =
			    zone_at(cfg, w->ranges[r].gpa, w->ranges[r].pages);
			FUZZ_CHECK(z && z->guest_node == node && w->ranges[r].gpa >= NKG_SYSTEM_END,
				   "vCPU %u's pages at %#llx are in no zone of guest node %u", v,
				   (unsigned long long)w->ranges[r].gpa, node);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size);
	char *argv[MAX_ARGS + 2] = {"numaksm-vmm"};
	int argc = 1;
	struct vmm_config cfg;
	struct vmm_layout layout;
	nk_error *err = NULL;

	for (char *save = NULL, *arg = strtok_r(text, "\n", &save); arg && argc <= MAX_ARGS;
	     arg = strtok_r(NULL, "\n", &save))
		argv[argc++] = arg;
	/* The same command line parses the same way each time (getopt keeps state). */
	char *again[MAX_ARGS + 2];
	memcpy(again, argv, sizeof(argv));
	vmm_config_init(&cfg);
	int r0 = vmm_config_parse(&cfg, argc, again, NULL);
	vmm_config_done(&cfg);
	vmm_config_init(&cfg);
	int r = vmm_config_parse(&cfg, argc, argv, &err);
	FUZZ_CHECK(r == r0, "%d, then %d", r0, r);
	if (r < 0)
		FUZZ_CHECK(err && *nk_error_message(err), "a refusal without its reason");
	if (r == 0) {
		FUZZ_CHECK(cfg.name && nk_vmm_name_check(cfg.name, NULL) == 0 && cfg.n_zones &&
			       cfg.vcpus >= 1 && cfg.vcpus <= NKG_MAX_VCPUS,
			   "name, zones, vCPUs");
		for (size_t i = 0; i < cfg.n_zones; i++) {
			FUZZ_CHECK(cfg.zones[i].spec.id && cfg.zones[i].spec.size_bytes, "zone %zu",
				   i);
			for (size_t j = 0; j < i; j++)
				FUZZ_CHECK(strcmp(cfg.zones[i].spec.id, cfg.zones[j].spec.id),
					   "zone %s twice", cfg.zones[i].spec.id);
		}
		err = nk_error_free(err);
		if (vmm_layout_compute(&cfg, &layout, &err) == 0)
			check_layout(&cfg, &layout);
		else
			FUZZ_CHECK(err && *nk_error_message(err), "a refusal without its reason");
	}
	nk_error_free(err);
	vmm_config_done(&cfg);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* --help prints the usage on stdout: not into the fuzzer's output. */
	if (!freopen("/dev/null", "w", stdout))
		abort();
	return 0;
}
