// SPDX-License-Identifier: MIT
/*
 * numa-bind: memory bound to a node with mbind(MPOL_BIND) is placed on that
 * node, page by page, as move_pages(2) reports it. First the last node with
 * memory (never the local node of CPU 0, where unbound memory would go), then
 * every node with memory in turn; on nodes with free 2M hugepages, also a
 * MAP_HUGETLB mapping, which must come out of that node's pool.
 *
 * Exit: 0 pass, 1 fail, 77 fewer than two nodes with memory.
 */
#include "lab.h"

#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BIND_PAGES    1024
#define HUGE_PAGES    2
#define HUGE_SIZE     (2UL << 20)
#define HUGE_FREE_FMT "/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/free_hugepages"

/* Binds [addr, addr + len) to node alone, and checks the kernel took it. */
static bool bind_to_node(void *addr, size_t len, int node, const char *what)
{
	struct bitmask *want = numa_allocate_nodemask();
	struct bitmask *got = numa_allocate_nodemask();
	bool ok = false;
	int mode = -1;

	numa_bitmask_setbit(want, (unsigned int)node);
	/* libnuma's convention: maxnode is the mask's bit count plus one. */
	if (mbind(addr, len, MPOL_BIND, want->maskp, want->size + 1, MPOL_MF_STRICT) < 0) {
		printf("%s: mbind(MPOL_BIND, node %d): %s\n", what, node, strerror(errno));
		goto out;
	}
	if (get_mempolicy(&mode, got->maskp, got->size + 1, addr, MPOL_F_ADDR) < 0) {
		printf("%s: get_mempolicy: %s\n", what, strerror(errno));
		goto out;
	}
	if (mode != MPOL_BIND || !numa_bitmask_equal(want, got)) {
		printf("%s: get_mempolicy says mode %d, node %d bit %d; want MPOL_BIND (%d)\n",
		       what, mode, node, numa_bitmask_isbitset(got, (unsigned int)node), MPOL_BIND);
		goto out;
	}
	ok = true;
out:
	numa_free_nodemask(want);
	numa_free_nodemask(got);
	return ok;
}

static bool check_small_pages(int node)
{
	size_t page_size = (size_t)sysconf(_SC_PAGESIZE), len = BIND_PAGES * page_size;
	char what[64];
	bool ok;
	void *p;

	snprintf(what, sizeof(what), "bind to node %d", node);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		printf("%s: mmap: %s\n", what, strerror(errno));
		return false;
	}
	ok = bind_to_node(p, len, node, what);
	if (ok) {
		memset(p, 0x5a, len);
		ok = lab_pages_on_node(p, BIND_PAGES, page_size, node, what);
	}
	munmap(p, len);
	return ok;
}

static int read_free_hugepages(int node, long *ret_free)
{
	_cleanup_free_ char *text = NULL;
	char path[128], *end;
	long v;
	int r;

	snprintf(path, sizeof(path), HUGE_FREE_FMT, node);
	r = lab_read_file(path, &text);
	if (r < 0)
		return r;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || (*end && *end != '\n') || v < 0)
		return -EINVAL;
	*ret_free = v;
	return 0;
}

/* A bound MAP_HUGETLB mapping must take its pages from that node's pool. */
static bool check_hugepages(int node, bool *ret_tried)
{
	size_t len = HUGE_PAGES * HUGE_SIZE;
	long before, after;
	char what[64];
	bool ok;
	void *p;
	int r;

	*ret_tried = false;
	r = read_free_hugepages(node, &before);
	if (r == -ENOENT || (r == 0 && before < HUGE_PAGES))
		return true;
	snprintf(what, sizeof(what), "2M hugetlb bind to node %d", node);
	if (r < 0) {
		printf("%s: reading free_hugepages: %s\n", what, strerror(-r));
		return false;
	}
	*ret_tried = true;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1,
		 0);
	if (p == MAP_FAILED) {
		printf("%s: mmap(MAP_HUGETLB): %s\n", what, strerror(errno));
		return false;
	}
	ok = bind_to_node(p, len, node, what);
	if (ok) {
		memset(p, 0xa5, len);
		ok = lab_pages_on_node(p, HUGE_PAGES, HUGE_SIZE, node, what);
		r = read_free_hugepages(node, &after);
		if (r < 0 || before - after != HUGE_PAGES) {
			printf("%s: node %d free_hugepages went %ld -> %ld, want -%d\n", what, node,
			       before, r < 0 ? -1L : after, HUGE_PAGES);
			ok = false;
		}
	}
	munmap(p, len);
	return ok;
}

int main(void)
{
	struct lab_set mem;
	char list[256];
	int last, r, hugetlb_nodes = 0;
	bool ok = true, tried;

	if (numa_available() < 0) {
		printf("numa-bind: no NUMA support in this kernel\n");
		return LAB_SKIP;
	}
	r = lab_read_list("/sys/devices/system/node/has_memory", &mem);
	if (r < 0) {
		printf("numa-bind: reading has_memory: %s\n", strerror(-r));
		return LAB_FAIL;
	}
	lab_format_list(&mem, list, sizeof(list));
	if (mem.count < 2) {
		printf("numa-bind: nodes with memory: %s; binding needs two\n", list);
		return LAB_SKIP;
	}
	last = lab_set_last(&mem);
	printf("numa-bind: nodes with memory: %s; the last is %d\n", list, last);

	ok &= check_small_pages(last);
	for (int node = 0; node < last; node++)
		if (mem.has[node])
			ok &= check_small_pages(node);
	for (int node = 0; node <= last; node++) {
		if (mem.has[node]) {
			ok &= check_hugepages(node, &tried);
			hugetlb_nodes += tried;
		}
	}
	if (!hugetlb_nodes)
		printf("numa-bind: no node has %d free 2M hugepages; hugetlb binding not tried\n",
		       HUGE_PAGES);
	printf("numa-bind: %s\n", ok ? "PASS" : "FAIL");
	return ok ? LAB_PASS : LAB_FAIL;
}
