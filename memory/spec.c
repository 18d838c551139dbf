/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Zone specs: defaults, the "key=value,..." syntax of the tools and the
 * VMM (in the style of Cloud Hypervisor's --memory-zone), and names.
 */
#include "basic.h"
#include "numaksm/memory.h"

#include <strings.h>

_nk_export_ void nk_zone_spec_init(struct nk_zone_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->prefault = true;
	spec->dump = true;
}

_nk_export_ void nk_zone_spec_done(struct nk_zone_spec *spec)
{
	free(spec->id);
	nk_bitmap_free(spec->nodes);
	spec->id = NULL;
	spec->nodes = NULL;
}

static const char *const policy_names[] = {
    [NK_POLICY_DEFAULT] = "default",	   [NK_POLICY_BIND] = "bind",
    [NK_POLICY_PREFERRED] = "preferred",   [NK_POLICY_PREFERRED_MANY] = "preferred-many",
    [NK_POLICY_INTERLEAVE] = "interleave", [NK_POLICY_WEIGHTED_INTERLEAVE] = "weighted-interleave",
};

_nk_export_ const char *nk_policy_name(enum nk_policy policy)
{
	if ((size_t)policy < ARRAY_SIZE(policy_names))
		return policy_names[policy];
	return "unknown";
}

/* One boolean spelling everywhere (nk_parse_bool): on/off, yes/no, true/false, 1/0. */
static int parse_bool(const char *key, const char *value, bool *ret, nk_error **err)
{
	if (nk_parse_bool(value, ret) == 0)
		return 0;
	return nk_error_set(err, EINVAL,
			    "invalid value '%s' for '%s': expected on or off (yes/no, true/false, "
			    "1/0)",
			    value, key);
}

_nk_export_ int nk_zone_spec_parse(const char *text, struct nk_zone_spec *spec, nk_error **err)
{
	_cleanup_free_ char *copy = NULL;
	char *rest;
	bool have_size = false, thp = false;
	int r;

	if (!text || !*text)
		return nk_error_set(err, EINVAL,
				    "empty zone description; expected e.g. "
				    "size=1G,hugepages=2M,policy=bind,nodes=0");
	copy = strdup(text);
	if (!copy)
		return nk_error_set(err, ENOMEM, "out of memory");

	rest = copy;
	for (char *kv; (kv = strsep(&rest, ","));) {
		if (!*kv)
			return nk_error_set(err, EINVAL, "empty item in '%s'", text);
		char *value = strchr(kv, '=');
		if (!value)
			return nk_error_set(err, EINVAL, "'%s' in '%s' is not key=value", kv, text);
		*value++ = '\0';
		if (!strcmp(kv, "id")) {
			if (!*value || strpbrk(value, "/ \t\n"))
				return nk_error_set(err, EINVAL,
						    "invalid zone id '%s': expected a name without "
						    "'/' or spaces",
						    value);
			free(spec->id);
			spec->id = strdup(value);
			if (!spec->id)
				return nk_error_set(err, ENOMEM, "out of memory");
		} else if (!strcmp(kv, "size")) {
			r = nk_parse_size(value, &spec->size_bytes, err);
			if (r < 0)
				return nk_error_prefix(err, "zone size");
			have_size = true;
		} else if (!strcmp(kv, "hugepages")) {
			uint64_t bytes;
			if (!strcasecmp(value, "none") || !strcasecmp(value, "off") ||
			    !strcasecmp(value, "4K")) {
				spec->backing = NK_BACKING_4K;
				spec->hugepage_kb = 0;
				continue;
			}
			if (!strcasecmp(value, "on") || !strcasecmp(value, "default")) {
				spec->backing = NK_BACKING_HUGETLB;
				spec->hugepage_kb = 0;
				continue;
			}
			r = nk_parse_size(value, &bytes, NULL);
			if (r < 0 || bytes < (2u << 20) || (bytes & (bytes - 1)))
				return nk_error_set(err, EINVAL,
						    "invalid hugepage size '%s': expected 2M, 1G, "
						    "on (the host's default) or none",
						    value);
			spec->backing = NK_BACKING_HUGETLB;
			spec->hugepage_kb = bytes >> 10;
		} else if (!strcmp(kv, "thp")) {
			r = parse_bool(kv, value, &thp, err);
			if (r < 0)
				return r;
			if (thp) {
				/* THP replaces hugetlb given before, page size and all. */
				spec->backing = NK_BACKING_THP;
				spec->hugepage_kb = 0;
			} else if (spec->backing == NK_BACKING_THP)
				spec->backing = NK_BACKING_4K;
		} else if (!strcmp(kv, "policy")) {
			size_t i;
			for (i = 0; i < ARRAY_SIZE(policy_names); i++)
				if (!strcmp(value, policy_names[i]))
					break;
			if (i == ARRAY_SIZE(policy_names))
				return nk_error_set(err, EINVAL,
						    "unknown policy '%s': expected default, bind, "
						    "preferred, preferred-many, interleave or "
						    "weighted-interleave",
						    value);
			spec->policy = (enum nk_policy)i;
		} else if (!strcmp(kv, "nodes") || !strcmp(kv, "host-nodes")) {
			nk_bitmap *nodes = NULL;
			/* QEMU and Cloud Hypervisor separate nodes with ':' inside a list. */
			for (char *c = value; *c; c++)
				if (*c == ':')
					*c = ',';
			r = nk_parse_list(value, "node list", &nodes, err);
			if (r < 0)
				return r;
			nk_bitmap_free(spec->nodes);
			spec->nodes = nodes;
		} else if (!strcmp(kv, "mergeable") || !strcmp(kv, "merge")) {
			r = parse_bool(kv, value, &spec->mergeable, err);
			if (r < 0)
				return r;
		} else if (!strcmp(kv, "prefault") || !strcmp(kv, "prealloc")) {
			r = parse_bool(kv, value, &spec->prefault, err);
			if (r < 0)
				return r;
		} else if (!strcmp(kv, "dump")) {
			r = parse_bool(kv, value, &spec->dump, err);
			if (r < 0)
				return r;
		} else if (!strcmp(kv, "shared")) {
			r = parse_bool(kv, value, &spec->shared, err);
			if (r < 0)
				return r;
		} else if (!strcmp(kv, "threads")) {
			long long n;
			r = nk_parse_int(value, 0, 1024, &n, err);
			if (r < 0)
				return nk_error_prefix(err, "prefault threads");
			spec->prefault_threads = (unsigned)n;
		} else {
			return nk_error_set(err, EINVAL,
					    "unknown zone key '%s': expected id, size, hugepages, "
					    "thp, policy, nodes, mergeable, prefault, dump, shared "
					    "or threads",
					    kv);
		}
	}
	if (!have_size)
		return nk_error_set(err, EINVAL, "zone '%s' has no size=", text);
	return 0;
}
