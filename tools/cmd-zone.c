/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm zone try SPEC: create a zone as a VMM would, with a progress bar
 * for the prefault, report where its pages landed and how the prefault
 * went, then release it.  Answers "would this guest's RAM fit here, and
 * where would it go?" before a VM is started.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <numaksm/memory.h>

#include "json.h"
#include "tool.h"

static void usage(FILE *out)
{
	fprintf(out, "Usage: numaksm zone try SPEC [--force] [--json]\n\n"
		     "Create a guest RAM zone, prefault it, show where its pages are and release\n"
		     "it.  SPEC is key=value,...: size=4G (required), hugepages=2M|1G|none,\n"
		     "thp=on, policy=default|bind|preferred|preferred-many|interleave|\n"
		     "weighted-interleave, nodes=LIST, mergeable=on, prefault=on, dump=off,\n"
		     "shared=on, threads=N, id=NAME.\n\n"
		     "A 4K or THP zone larger than its nodes (or the host) can give now, and a\n"
		     "hugetlb zone larger than the pools, is refused before it is mapped;\n"
		     "--force maps a 4K or THP one anyway (its faults then reclaim, swap or meet\n"
		     "the OOM killer).\n");
}

static void progress_bar(uint64_t done, uint64_t total, void *userdata)
{
	bool *drawn = userdata;
	if (!isatty(STDERR_FILENO))
		return;
	int width = 40, filled = total ? (int)(done * (uint64_t)width / total) : width;
	fprintf(stderr, "\rprefault [%.*s%*s] %3d%%", filled,
		"########################################", width - filled, "",
		total ? (int)(done * 100 / total) : 100);
	*drawn = true;
}

int cmd_zone(int argc, char **argv, nk_error **err)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool json = false, drawn = false, force = false;
	int c, r;

	tool_complete_options(argc, argv, opts, NULL, TOOL_VALUE_NONE);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jfh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			return tool_getopt_error(err, "zone", c, argv);
		}
	}
	if (optind >= argc || strcmp(argv[optind], "try") != 0)
		return tool_usage_error(err, "expected 'zone try SPEC'");
	if (optind + 2 != argc)
		return tool_usage_error(err,
					"'zone try' takes one SPEC, e.g. size=1G,hugepages=2M");

	struct nk_zone_spec spec;
	nk_zone_spec_init(&spec);
	r = nk_zone_spec_parse(argv[optind + 1], &spec, err);
	if (r < 0) {
		nk_zone_spec_done(&spec);
		tool_mark_usage();
		return r;
	}
	spec.force = force;
	/* Prefault after creation so the bar can follow it. */
	bool prefault = spec.prefault;
	bool hugetlb_bound = spec.backing == NK_BACKING_HUGETLB && spec.policy != NK_POLICY_DEFAULT;
	if (!hugetlb_bound)
		spec.prefault = false;

	nk_host *host = NULL;
	nk_zone *z = NULL;
	r = nk_host_open(NULL, &host, err);
	if (r >= 0)
		r = nk_zone_create(host, &spec, &z, err);
	if (r >= 0 && prefault && !hugetlb_bound)
		/* No bar under --json: stderr holds only JSON lines then. */
		r = nk_zone_prefault(z, spec.prefault_threads, json ? NULL : progress_bar, &drawn,
				     err);
	if (drawn)
		fputc('\n', stderr);
	nk_zone_spec_done(&spec);
	if (r < 0) {
		nk_zone_free(z);
		nk_host_free(host);
		return r;
	}

	struct nk_placement p;
	r = nk_zone_placement(z, 0, &p, err);
	if (r < 0) {
		nk_zone_free(z);
		nk_host_free(host);
		return r;
	}
	const struct nk_zone_spec *s = nk_zone_spec(z);
	const struct nk_prefault_stats *st = nk_zone_prefault_stats(z);
	char *nodes = NULL, *cpus = NULL, size[32];
	if (s->nodes)
		nk_bitmap_format(s->nodes, &nodes);
	if (st->cpus)
		nk_bitmap_format(st->cpus, &cpus);
	nk_format_bytes(size, sizeof(size), nk_zone_size(z));

	if (json) {
		json_object *doc = tool_json_doc("zone try");
		json_object_object_add(doc, "zone", tool_json_zone(z, &p, NULL));
		tool_json_print(doc, true);
	} else {
		printf("zone %s: %s %s, policy %s%s%s%s\n", s->id, size,
		       nk_backing_name(s->backing), nk_policy_name(s->policy),
		       nodes ? " nodes " : "", nodes ? nodes : "",
		       nk_zone_is_mergeable(z) ? ", mergeable" : "");
		if (st->threads)
			printf("prefault: %.3f s with %u thread%s on CPUs %s (%s)\n", st->seconds,
			       st->threads, st->threads == 1 ? "" : "s", cpus ? cpus : "?",
			       st->populate_write ? "MADV_POPULATE_WRITE" : "touching pages");
		printf("pages per node (%s):", p.exact ? "exact" : "sampled");
		for (size_t n = 0; n < p.n_node_pages; n++)
			if (p.node_pages[n])
				printf(" node%zu=%" PRIu64, n, p.node_pages[n]);
		if (!p.exact)
			printf(" (+/- %.0f pages, 95%%)", p.error_pages);
		if (p.not_present)
			printf(" not-present=%" PRIu64, p.not_present);
		printf("\n");
	}
	free(nodes);
	free(cpus);
	nk_placement_done(&p);
	nk_zone_free(z);
	nk_host_free(host);
	return EXIT_OK;
}
