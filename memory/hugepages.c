/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-node hugepage pools: set a pool and report what the kernel gave. */
#include "basic.h"
#include "numaksm/memory.h"

#include <inttypes.h>

_nk_export_ int nk_hugepages_reserve(nk_host *host, int node, uint64_t size_kb, uint64_t count,
				     uint64_t *ret_actual, nk_error **err)
{
	char dir[256], path[300], value[32];
	int r;

	r = nk_host_require_live(host, "change a hugepage pool", err);
	if (r < 0)
		return r;
	snprintf(dir, sizeof(dir), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB", size_kb);
	r = nk_host_exists(host, dir);
	if (r <= 0) {
		nk_error_set(err, EOPNOTSUPP, "this host offers no %" PRIu64 " kB hugepages",
			     size_kb);
		return nk_error_hint(err, "see 'numaksm hugepages' for the sizes offered");
	}
	if (node >= 0) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", node);
		if (nk_host_exists(host, path) <= 0) {
			nk_error_set(err, ENODEV, "node %d does not exist", node);
			return nk_error_hint(err, "see 'numaksm check' for this host's nodes");
		}
		snprintf(dir, sizeof(dir),
			 "/sys/devices/system/node/node%d/hugepages/hugepages-%" PRIu64 "kB", node,
			 size_kb);
	}
	snprintf(path, sizeof(path), "%s/nr_hugepages", dir);
	snprintf(value, sizeof(value), "%" PRIu64, count);
	r = nk_host_write(host, path, value, err);
	if (r < 0)
		return r;
	/* The kernel may give fewer pages than asked (fragmentation): report what it holds. */
	r = nk_host_read_u64(host, path, ret_actual, err);
	if (r < 0)
		return r;
	if (*ret_actual < count)
		nk_debug("%s: asked for %" PRIu64 ", the kernel gave %" PRIu64, path, count,
			 *ret_actual);
	return 0;
}
