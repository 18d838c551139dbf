/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the NUMA lab's inner tests, which run inside the QEMU
 * guest (and can be run by hand on any Linux host).
 *
 * Exit codes of every inner test: 0 pass, 1 fail, 77 skip (not applicable).
 */
#ifndef NUMA_LAB_H
#define NUMA_LAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#define LAB_PASS 0
#define LAB_FAIL 1
#define LAB_SKIP 77

/* Largest node or CPU number the lab's list parser accepts. */
#define LAB_MAX_IDS 1024

/* A set of node or CPU ids, as in a kernel list string such as "0-3,8". */
struct lab_set {
	bool has[LAB_MAX_IDS];
	int count;
};

static inline void lab_freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ __attribute__((cleanup(lab_freep)))

/* Reads a whole (small, kernfs or regular) file; 0 or -errno. */
int lab_read_file(const char *path, char **ret_text);

/*
 * Parses a kernel list string ("0-3,8", "" for none, trailing newline
 * allowed) into a set; 0 or -EINVAL.
 */
int lab_parse_list(const char *text, struct lab_set *ret_set);

/* Reads a list file such as /sys/devices/system/node/has_memory. */
int lab_read_list(const char *path, struct lab_set *ret_set);

/* Formats a set as a kernel list string into buf (always terminated). */
void lab_format_list(const struct lab_set *set, char *buf, size_t size);

/* Highest id in the set, or -1 when empty. */
int lab_set_last(const struct lab_set *set);

/* Writes text to a file (cgroupfs, sysfs); 0 or -errno. */
int lab_write_file(const char *path, const char *text);

/*
 * Asks the kernel with move_pages(2) where each of the pages at addr lies,
 * and checks that every one is on node. Prints a per-node histogram and the
 * first misplaced pages, prefixed with what. Returns true if all are on node.
 * With node -1 it only prints where the pages are, and returns false.
 */
bool lab_pages_on_node(void *addr, size_t pages, size_t page_size, int node, const char *what);

#endif
