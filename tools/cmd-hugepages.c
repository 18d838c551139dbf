/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm hugepages: the hugepage pools per node and size, and setting one
 * (as virsh freepages / allocpages do).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <numaksm/memory.h>

#include "json.h"
#include "tool.h"

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: numaksm hugepages [--json] [--root DIR]\n"
	    "       numaksm hugepages reserve [--node N] --size SIZE --count C|--add N "
	    "[--partial]\n\n"
	    "Show the hugepage pools of every size, host-wide and per NUMA node, or set\n"
	    "one pool and report how many pages the kernel actually gave.\n\n"
	    "  --node N     the node's pool (default: the host-wide pool)\n"
	    "  --size SIZE  page size: 2M, 1G\n"
	    "  --count C    pages the pool should hold\n"
	    "  --add N      N pages more than the pool holds now\n"
	    "  --partial    keep what the kernel gave when it gives fewer pages than asked\n"
	    "               (by default the pool is put back as it was and the command fails)\n");
}

static int show(const char *root, bool json, nk_error **err)
{
	nk_host *host = NULL;
	struct nk_hostinfo *h = NULL;
	int r = nk_host_open(root, &host, err);
	if (r < 0) {
		tool_mark_usage();
		return r;
	}
	bool live = nk_host_is_live(host);
	r = nk_hostinfo_read(host, &h, err);
	nk_host_free(host);
	if (r < 0)
		return r;

	if (json) {
		json_object *doc = tool_json_doc("hugepages");
		json_object_object_add(doc, "live", json_object_new_boolean(live));
		json_object_object_add(doc, "hugepage_pools", tool_json_hugepage_pools(h));
		tool_json_print(doc, true);
	} else if (h->n_hugepages == 0) {
		printf("This kernel offers no hugetlb pages.\n");
	} else {
		char size[32];
		printf("%-8s %-6s %10s %10s %10s %10s\n", "SIZE", "NODE", "TOTAL", "FREE",
		       "RESERVED", "SURPLUS");
		for (size_t i = 0; i < h->n_hugepages; i++) {
			const struct nk_hugepage_pool *p = &h->hugepages[i];
			nk_format_bytes(size, sizeof(size), p->size_kb * 1024);
			for (size_t n = 0; n < h->n_nodes; n++)
				for (size_t k = 0; k < h->nodes[n].n_hugepages; k++) {
					const struct nk_hugepage_pool *q =
					    &h->nodes[n].hugepages[k];
					if (q->size_kb == p->size_kb)
						printf("%-8s %-6d %10" PRIu64 " %10" PRIu64
						       " %10s %10" PRIu64 "\n",
						       size, h->nodes[n].id, q->total, q->free, "-",
						       q->surplus);
				}
			char reserved[24] = "?"; /* not known without the host's own pools */
			if (!h->hugepages_from_nodes)
				snprintf(reserved, sizeof(reserved), "%" PRIu64, p->reserved);
			printf("%-8s %-6s %10" PRIu64 " %10" PRIu64 " %10s %10" PRIu64 "\n", size,
			       "all", p->total, p->free, reserved, p->surplus);
		}
		if (h->hugepages_from_nodes)
			printf("\n/sys/kernel/mm/hugepages could not be read: \"all\" is the "
			       "nodes' sum, reserved pages unknown.\n");
	}
	nk_hostinfo_free(h);
	return EXIT_OK;
}

static int reserve(int argc, char **argv, nk_error **err)
{
	static const struct option opts[] = {
	    {"node", required_argument, NULL, 'n'},
	    {"size", required_argument, NULL, 's'},
	    {"count", required_argument, NULL, 'c'},
	    {"partial", no_argument, NULL, 'p'},
	    {"add", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	long long node = -1, count = -1, add = -1;
	uint64_t size_bytes = 0;
	bool partial = false;
	int c, r;

	tool_complete_options(argc, argv, opts, NULL, TOOL_VALUE_NONE);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:s:c:a:ph", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (nk_parse_int(optarg, 0, 1 << 20, &node, err) < 0) {
				tool_mark_usage();
				return nk_error_prefix(err, "--node");
			}
			break;
		case 's':
			if (nk_parse_size(optarg, &size_bytes, err) < 0) {
				tool_mark_usage();
				return nk_error_prefix(err, "--size");
			}
			break;
		case 'c':
			if (nk_parse_int(optarg, 0, 1ll << 40, &count, err) < 0) {
				tool_mark_usage();
				return nk_error_prefix(err, "--count");
			}
			break;
		case 'a':
			if (nk_parse_int(optarg, 1, 1ll << 40, &add, err) < 0) {
				tool_mark_usage();
				return nk_error_prefix(err, "--add");
			}
			break;
		case 'p':
			partial = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			return tool_getopt_error(err, "hugepages", c, argv);
		}
	}
	if (optind < argc)
		return tool_usage_error(err, "unexpected argument '%s'", argv[optind]);
	if (count >= 0 && add >= 0)
		return tool_usage_error(err, "--count and --add: give one (the pool's size, or "
					     "pages to add)");
	if (!size_bytes || (count < 0 && add < 0))
		return tool_usage_error(err, "hugepages reserve needs --size and --count or --add");
	if (size_bytes % 1024)
		return tool_usage_error(err, "--size must be a whole number of kB");

	nk_host *host = NULL;
	r = nk_host_open(NULL, &host, err);
	if (r < 0)
		return r;
	uint64_t size_kb = size_bytes / 1024, before = 0, got = 0;
	char path[256];
	if (node >= 0)
		snprintf(path, sizeof(path),
			 "/sys/devices/system/node/node%lld/hugepages/hugepages-%" PRIu64
			 "kB/nr_hugepages",
			 node, size_kb);
	else
		snprintf(path, sizeof(path),
			 "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages", size_kb);
	r = nk_host_read_u64(host, path, &before, err);
	if (r < 0 && add >= 0) {
		char psz[32];
		nk_host_free(host);
		return nk_error_hint(err,
				     "is %s a hugepage size of this host? see 'numaksm "
				     "hugepages'",
				     nk_format_bytes(psz, sizeof(psz), size_bytes));
	}
	if (add >= 0)
		count = (long long)before + add;
	nk_error_free(*err);
	*err = NULL;
	r = nk_hugepages_reserve(host, (int)node, size_kb, (uint64_t)count, &got, err);
	if (r < 0) {
		nk_host_free(host);
		return r;
	}
	char where[32], sz[32];
	if (node >= 0)
		snprintf(where, sizeof(where), "node %lld", node);
	else
		snprintf(where, sizeof(where), "host");
	nk_format_bytes(sz, sizeof(sz), (uint64_t)(size_kb)*1024);
	if (got < (uint64_t)count && !partial) {
		uint64_t back = 0;
		char value[32];
		snprintf(value, sizeof(value), "%" PRIu64, before);
		nk_hugepages_reserve(host, (int)node, size_kb, before, &back, NULL);
		nk_host_free(host);
		nk_error_set(err, ENOMEM,
			     "%s: asked for %lld pages of %s, the kernel gave %" PRIu64
			     "; pool put back to %" PRIu64,
			     where, count, sz, got, back);
		return nk_error_hint(err,
				     "memory is fragmented: reserve at boot (hugepages= on the "
				     "kernel command line), or pass --partial to keep what was "
				     "given");
	}
	nk_host_free(host);
	printf("%s: %s pool %" PRIu64 " -> %" PRIu64 " pages (asked %lld)\n", where, sz, before,
	       got, count);
	return EXIT_OK;
}

int cmd_hugepages(int argc, char **argv, nk_error **err)
{
	struct tool_report_opts o;

	if (argc > 1 && strcmp(argv[1], "reserve") == 0)
		return reserve(argc - 1, argv + 1, err);
	int r = tool_parse_report_opts(argc, argv, "hugepages", usage, true, &o, err);
	if (r != 0)
		return r < 0 ? r : EXIT_OK;
	if (optind < argc)
		return tool_usage_error(err, "unknown subcommand '%s': expected reserve",
					argv[optind]);
	return show(o.root, o.json, err);
}
