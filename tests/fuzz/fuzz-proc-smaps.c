/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /proc/PID/smaps (nk_proc_smaps_parse), and the choice of a VM's guest RAM
 * among its mappings (vm_pick_guest_ram).  A process chooses its mappings
 * and their names: a name comes out printable (nk_escape), and what parses
 * writes back to smaps text that parses to the same mappings (the names
 * escaped once more); the guest RAM chosen is mappings that exist, in
 * address order, each once.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "numaksm/proc.h"
#include "vm-internal.h"

static void write_vma(FILE *f, const struct nk_proc_vma *v)
{
	fprintf(f, "%" PRIx64 "-%" PRIx64 " %s 00000000 00:00 0 %s\n", v->start, v->end, v->perms,
		v->name);
	fprintf(f, "Rss: %" PRIu64 " kB\n", v->rss_bytes / 1024);
	fprintf(f, "AnonHugePages: %" PRIu64 " kB\n", v->anon_thp_bytes / 1024);
	fprintf(f, "ShmemPmdMapped: %" PRIu64 " kB\n", v->shmem_pmd_bytes / 1024);
	fprintf(f, "FilePmdMapped: %" PRIu64 " kB\n", v->file_pmd_bytes / 1024);
	fprintf(f, "Shared_Hugetlb: %" PRIu64 " kB\n", v->hugetlb_bytes / 1024);
	fprintf(f, "KernelPageSize: %" PRIu64 " kB\n", v->kernel_page_size / 1024);
	if (v->has_ksm)
		fprintf(f, "KSM: %" PRIu64 " kB\n", v->ksm_bytes / 1024);
	fprintf(f, "VmFlags: rd%s%s\n", v->mergeable ? " mg" : "", v->hugetlb_vma ? " ht" : "");
}

static bool same_vma(const struct nk_proc_vma *a, const struct nk_proc_vma *b)
{
	return a->start == b->start && a->end == b->end && !strcmp(a->perms, b->perms) &&
	       a->rss_bytes == b->rss_bytes && a->anon_thp_bytes == b->anon_thp_bytes &&
	       a->shmem_pmd_bytes == b->shmem_pmd_bytes && a->file_pmd_bytes == b->file_pmd_bytes &&
	       a->hugetlb_bytes == b->hugetlb_bytes && a->ksm_bytes == b->ksm_bytes &&
	       a->kernel_page_size == b->kernel_page_size && a->mergeable == b->mergeable &&
	       a->hugetlb_vma == b->hugetlb_vma && a->has_ksm == b->has_ksm;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static void check_guest_ram(const struct nk_proc_vma *vmas, size_t n, uint64_t ram_bytes)
{
	_cleanup_free_ size_t *picked = NULL;
	size_t n_picked = 0;

	FUZZ_CHECK(vm_pick_guest_ram(vmas, n, ram_bytes, &picked, &n_picked) == 0, "no choice");
	FUZZ_CHECK(n_picked <= n, "%zu of %zu mappings", n_picked, n);
	for (size_t i = 0; i < n_picked; i++) {
		FUZZ_CHECK(picked[i] < n, "mapping %zu of %zu", picked[i], n);
		FUZZ_CHECK(i == 0 || picked[i - 1] < picked[i], "not in order, or twice");
		FUZZ_CHECK(vmas[picked[i]].perms[1] == 'w', "guest RAM %s is not writable",
			   vmas[picked[i]].perms);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size), *again = NULL;
	struct nk_proc_vma *vmas = NULL, *vmas2 = NULL;
	size_t n = 0, n2 = 0, len = 0;

	if (nk_proc_smaps_parse(text, &vmas, &n) < 0)
		return 0;
	FILE *f = fuzz_memstream(&again, &len);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(vmas[i].start <= vmas[i].end && strlen(vmas[i].perms) == 4 &&
			       printable(vmas[i].name),
			   "mapping %zu: %" PRIx64 "-%" PRIx64 " '%s' '%s'", i, vmas[i].start,
			   vmas[i].end, vmas[i].perms, vmas[i].name);
		write_vma(f, &vmas[i]);
	}
	fuzz_memstream_close(f);
	FUZZ_CHECK(nk_proc_smaps_parse(again, &vmas2, &n2) == 0, "'%s' does not parse", again);
	FUZZ_CHECK(n2 == n, "%zu mappings, then %zu", n, n2);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *twice = nk_escape(vmas[i].name, strlen(vmas[i].name));
		FUZZ_CHECK(same_vma(&vmas[i], &vmas2[i]) && twice && !strcmp(twice, vmas2[i].name),
			   "mapping %zu differs:\n%s", i, again);
	}

	check_guest_ram(vmas, n, 0);
	check_guest_ram(vmas, n, n ? vmas[0].rss_bytes : 0);
	nk_proc_vmas_free(vmas, n);
	nk_proc_vmas_free(vmas2, n2);
	return 0;
}
