/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The x86-64 Linux boot protocol: check a bzImage, place kernel, initrd
 * and command line in guest RAM, and fill boot_params with the e820 map of
 * the zones.  The 64-bit entry is used, so there is no real-mode code to
 * run: the VMM sets up long mode itself (boot page tables and GDT here).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "numaksm/cleanup.h"

#define SZ_1M (1ull << 20)
#define SZ_2M (2ull << 20)
#define SZ_1G (1ull << 30)
#define PAGE  4096ull

/* ---- e820 ------------------------------------------------------------------ */

static int e820_add(struct vmm_e820 *m, uint64_t addr, uint64_t size, uint32_t type)
{
	if (!size)
		return 0;
	if (m->n) {
		struct vmm_e820_entry *last = &m->e[m->n - 1];
		if (last->type == type && last->addr + last->size == addr) {
			last->size += size;
			return 0;
		}
	}
	if (m->n == VMM_E820_MAX)
		return -E2BIG;
	m->e[m->n++] = (struct vmm_e820_entry){addr, size, type};
	return 0;
}

static int by_gpa(const void *a, const void *b)
{
	const struct vmm_ram_range *x = a, *y = b;
	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

int vmm_e820_build(const struct vmm_ram_range *ram, size_t n, struct vmm_e820 *ret, nk_error **err)
{
	_cleanup_free_ struct vmm_ram_range *sorted = calloc(n ? n : 1, sizeof(*sorted));
	struct vmm_e820 m = {0};

	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, ram, n * sizeof(*ram));
	qsort(sorted, n, sizeof(*sorted), by_gpa);
	if (!n || sorted[0].gpa != 0 || sorted[0].size_bytes < VMM_KERNEL_GPA)
		return nk_error_set(err, EINVAL,
				    "a Linux guest needs RAM from address 0 to at least 1 MiB "
				    "(its first zone)");
	for (size_t i = 0; i < n; i++) {
		const struct vmm_ram_range *r = &sorted[i];
		uint64_t end = r->gpa + r->size_bytes;
		if (r->gpa < VMM_MMIO_END && end > VMM_MMIO_START)
			return nk_error_set(
			    err, EINVAL,
			    "zone %s [0x%llx, 0x%llx) covers the interrupt controllers at "
			    "[0x%llx, 4 GiB): with --kernel, end guest RAM below 0x%llx or "
			    "place the rest above 4 GiB (--memory-zone ...,gpa=4G)",
			    r->id ? r->id : "?", (unsigned long long)r->gpa,
			    (unsigned long long)end, VMM_MMIO_START, VMM_MMIO_START);
		/* The legacy hole: reserved, whatever RAM is behind it. */
		uint64_t at = r->gpa;
		int e = 0;
		if (at < VMM_LOW_RAM_END) {
			uint64_t low_end = end < VMM_LOW_RAM_END ? end : VMM_LOW_RAM_END;
			e |= e820_add(&m, at, low_end - at, VMM_E820_RAM);
			at = low_end;
		}
		if (at < VMM_KERNEL_GPA && at < end) {
			uint64_t hole_end = end < VMM_KERNEL_GPA ? end : VMM_KERNEL_GPA;
			e |= e820_add(&m, at, hole_end - at, VMM_E820_RESERVED);
			at = hole_end;
		}
		e |= e820_add(&m, at, end - at, VMM_E820_RAM);
		if (e)
			return nk_error_set(err, E2BIG,
					    "guest RAM is cut into more than %d pieces; use fewer "
					    "zones",
					    VMM_E820_MAX);
	}
	*ret = m;
	return 0;
}

/* ---- the kernel image ------------------------------------------------------ */

#define HDR_SETUP_SECTS	     0x1f1
#define HDR_SYSSIZE	     0x1f4
#define HDR_BOOT_FLAG	     0x1fe
#define HDR_JUMP	     0x200
#define HDR_MAGIC	     0x202
#define HDR_VERSION	     0x206
#define HDR_LOADFLAGS	     0x211
#define HDR_INITRD_ADDR_MAX  0x22c
#define HDR_RELOCATABLE	     0x234
#define HDR_XLOADFLAGS	     0x236
#define HDR_CMDLINE_SIZE     0x238
#define HDR_PREF_ADDRESS     0x258
#define HDR_INIT_SIZE	     0x260
#define HDR_END_212	     0x268 /* the header's end at protocol 2.12 */
#define LOADFLAG_LOADED_HIGH (1u << 0)

int vmm_bzimage_parse(const void *image, size_t size, struct vmm_bzimage *ret, nk_error **err)
{
	const uint8_t *p = image;
	struct vmm_bzimage k = {.image = p, .size = size};

	if (size < HDR_MAGIC + 4 || memcmp(p + HDR_MAGIC, "HdrS", 4) ||
	    vmm_get16(p + HDR_BOOT_FLAG) != 0xaa55) {
		nk_error_set(err, ENOEXEC, "not a Linux bzImage (no \"HdrS\" boot header)");
		return nk_error_hint(
		    err, "give an x86 Linux kernel in bzImage form, such as /boot/vmlinuz-*");
	}
	k.version = vmm_get16(p + HDR_VERSION);
	if (k.version < VMM_BZ_MIN_VERSION) {
		nk_error_set(err, ENOEXEC,
			     "boot protocol %u.%02u is too old: numaksm-vmm "
			     "needs %u.%02u (the 64-bit entry point)",
			     k.version >> 8, k.version & 0xff, VMM_BZ_MIN_VERSION >> 8,
			     VMM_BZ_MIN_VERSION & 0xff);
		return nk_error_hint(err, "use a Linux 3.8 or newer x86-64 kernel");
	}
	if (size < HDR_END_212)
		return nk_error_set(err, ENOEXEC,
				    "truncated bzImage: %zu bytes, the header alone "
				    "takes %d",
				    size, HDR_END_212);
	if (!(vmm_get16(p + HDR_XLOADFLAGS) & VMM_XLF_KERNEL_64)) {
		nk_error_set(err, ENOEXEC, "the kernel has no 64-bit entry point");
		return nk_error_hint(err, "build it for x86-64 (a 32-bit kernel is not booted)");
	}
	if (!(p[HDR_LOADFLAGS] & LOADFLAG_LOADED_HIGH))
		return nk_error_set(err, ENOEXEC, "not a bzImage: the kernel loads below 1 MiB");
	unsigned sects = p[HDR_SETUP_SECTS] ? p[HDR_SETUP_SECTS] : 4;
	k.setup_size = (sects + 1) * 512ul;
	uint64_t sys_bytes = (uint64_t)vmm_get32(p + HDR_SYSSIZE) * 16;
	if (k.setup_size >= size || size - k.setup_size < sys_bytes)
		return nk_error_set(err, ENOEXEC,
				    "truncated bzImage: %zu bytes, where its header says %llu",
				    size, (unsigned long long)(k.setup_size + sys_bytes));
	k.kernel = p + k.setup_size;
	k.kernel_size = size - k.setup_size;
	k.initrd_addr_max = vmm_get32(p + HDR_INITRD_ADDR_MAX);
	k.cmdline_size = vmm_get32(p + HDR_CMDLINE_SIZE);
	k.relocatable = p[HDR_RELOCATABLE] != 0;
	k.pref_address = vmm_get64(p + HDR_PREF_ADDRESS);
	k.init_size = vmm_get32(p + HDR_INIT_SIZE);
	*ret = k;
	return 0;
}

static const struct vmm_e820_entry *ram_at(const struct vmm_e820 *map, uint64_t gpa)
{
	for (unsigned i = 0; i < map->n; i++)
		if (map->e[i].type == VMM_E820_RAM && gpa >= map->e[i].addr &&
		    gpa - map->e[i].addr < map->e[i].size)
			return &map->e[i];
	return NULL;
}

/* The command line, then the kernel from p->kernel_gpa to p->kernel_end,
 * then the initrd as high as it may go (initrd_addr_max is its last byte),
 * in one RAM range, above the kernel. */
static int plan_rest(const struct vmm_bzimage *k, const struct vmm_e820 *map, uint64_t initrd_size,
		     const char *cmdline, struct vmm_boot_plan *p, nk_error **err)
{
	size_t len = strlen(cmdline);
	size_t limit =
	    k->cmdline_size < VMM_BOOT_CMDLINE_MAX - 1 ? k->cmdline_size : VMM_BOOT_CMDLINE_MAX - 1;

	p->cmdline_gpa = VMM_BOOT_CMDLINE_GPA;
	if (len > limit) {
		nk_error_set(err, E2BIG,
			     "--cmdline is %zu bytes; this kernel takes %zu "
			     "at most",
			     len, limit);
		return nk_error_hint(err, "shorten it, or put settings in the initramfs");
	}
	p->cmdline_len = len;
	const struct vmm_e820_entry *low = ram_at(map, p->kernel_gpa);
	if (!low || low->addr + low->size < p->kernel_end) {
		nk_error_set(err, EFBIG,
			     "the kernel needs guest RAM from %llu MiB to %llu MiB in one piece; "
			     "the first zone ends at %llu MiB",
			     (unsigned long long)(p->kernel_gpa / SZ_1M),
			     (unsigned long long)((p->kernel_end + SZ_1M - 1) / SZ_1M),
			     (unsigned long long)(low ? (low->addr + low->size) / SZ_1M : 1));
		return nk_error_hint(err, "give the first zone more RAM");
	}
	p->initrd_size = initrd_size;
	if (!initrd_size)
		return 0;
	uint64_t limit_end = (uint64_t)k->initrd_addr_max + 1;
	bool found = false;
	for (unsigned i = map->n; i-- > 0 && !found;) {
		const struct vmm_e820_entry *e = &map->e[i];
		if (e->type != VMM_E820_RAM)
			continue;
		uint64_t top = e->addr + e->size < limit_end ? e->addr + e->size : limit_end;
		uint64_t bottom = e->addr > p->kernel_end ? e->addr : p->kernel_end;
		if (top <= bottom || top - bottom < initrd_size)
			continue;
		p->initrd_gpa = (top - initrd_size) & ~(PAGE - 1);
		found = p->initrd_gpa >= bottom;
	}
	if (!found) {
		nk_error_set(err, EFBIG,
			     "the initrd (%llu KiB) does not fit in guest RAM between "
			     "the kernel's end at %llu MiB and 0x%llx, the highest "
			     "address this kernel takes it at",
			     (unsigned long long)(initrd_size >> 10),
			     (unsigned long long)((p->kernel_end + SZ_1M - 1) / SZ_1M),
			     (unsigned long long)limit_end);
		return nk_error_hint(err, "give the first zone more RAM, or use a smaller initrd");
	}
	return 0;
}

int vmm_boot_plan(const struct vmm_bzimage *k, const struct vmm_e820 *map, uint64_t initrd_size,
		  const char *cmdline, struct vmm_boot_plan *ret, nk_error **err)
{
	struct vmm_boot_plan p = {.kernel_gpa = VMM_KERNEL_GPA};

	/* A relocatable kernel loaded at 1 MiB decompresses itself to its
	 * preferred address; either way it needs init_size bytes there. */
	uint64_t run_at =
	    k->relocatable && k->pref_address > p.kernel_gpa ? k->pref_address : p.kernel_gpa;
	uint64_t need = k->init_size > k->kernel_size ? k->init_size : k->kernel_size;
	p.kernel_end = (run_at + need + PAGE - 1) & ~(PAGE - 1);
	if (p.kernel_gpa + k->kernel_size > p.kernel_end)
		p.kernel_end = (p.kernel_gpa + k->kernel_size + PAGE - 1) & ~(PAGE - 1);
	p.entry = p.kernel_gpa + VMM_BZ_ENTRY_64;
	int r = plan_rest(k, map, initrd_size, cmdline, &p, err);
	if (r < 0)
		return r;
	*ret = p;
	return 0;
}

int vmm_boot_plan_vmlinux(const struct vmm_bzimage *k, const struct vmm_vmlinux *v,
			  const struct vmm_e820 *map, uint64_t initrd_size, const char *cmdline,
			  struct vmm_boot_plan *ret, nk_error **err)
{
	/* The kernel runs where it is linked: its memory (bss, brk, early page
	 * tables) is init_size from its start, at least its segments' span. */
	struct vmm_boot_plan p = {.kernel_gpa = v->lo, .entry = v->entry};
	uint64_t end = v->lo + k->init_size > v->hi ? v->lo + k->init_size : v->hi;
	p.kernel_end = (end + PAGE - 1) & ~(PAGE - 1);
	int r = plan_rest(k, map, initrd_size, cmdline, &p, err);
	if (r < 0)
		return r;
	*ret = p;
	return 0;
}

void vmm_boot_params_write(void *zero_page, const struct vmm_bzimage *k,
			   const struct vmm_boot_plan *p, const struct vmm_e820 *map,
			   uint64_t rsdp_gpa)
{
	uint8_t *bp = zero_page;
	/* The setup header runs from 0x1f1 to 0x202 plus the byte at 0x201
	 * (the jump's offset), as the protocol says to copy it. */
	size_t hdr_end = HDR_MAGIC + k->image[HDR_JUMP + 1];

	memset(bp, 0, VMM_BP_SIZE);
	if (hdr_end > k->size)
		hdr_end = k->size;
	if (hdr_end > VMM_BP_E820_TABLE)
		hdr_end = VMM_BP_E820_TABLE;
	memcpy(bp + VMM_BZ_SETUP_HEADER, k->image + VMM_BZ_SETUP_HEADER,
	       hdr_end - VMM_BZ_SETUP_HEADER);
	bp[VMM_BP_TYPE_OF_LOADER] = VMM_LOADER_UNDEFINED;
	vmm_put32(bp + VMM_BP_CMD_LINE_PTR, (uint32_t)p->cmdline_gpa);
	vmm_put32(bp + VMM_BP_EXT_CMD_LINE_PTR, (uint32_t)(p->cmdline_gpa >> 32));
	vmm_put32(bp + VMM_BP_RAMDISK_IMAGE, (uint32_t)p->initrd_gpa);
	vmm_put32(bp + VMM_BP_RAMDISK_SIZE, (uint32_t)p->initrd_size);
	vmm_put32(bp + VMM_BP_EXT_RAMDISK_IMAGE, (uint32_t)(p->initrd_gpa >> 32));
	vmm_put32(bp + VMM_BP_EXT_RAMDISK_SIZE, (uint32_t)(p->initrd_size >> 32));
	vmm_put64(bp + VMM_BP_ACPI_RSDP_ADDR, rsdp_gpa);
	bp[VMM_BP_E820_ENTRIES] = (uint8_t)map->n;
	for (unsigned i = 0; i < map->n; i++) {
		uint8_t *e = bp + VMM_BP_E820_TABLE + i * 20;
		vmm_put64(e, map->e[i].addr);
		vmm_put64(e + 8, map->e[i].size);
		vmm_put32(e + 16, map->e[i].type);
	}
}

void vmm_boot_gdt(void *gdt)
{
	uint64_t *d = gdt;
	d[0] = 0;
	d[1] = 0;
	d[2] = 0x00af9b000000ffffull; /* 0x10 __BOOT_CS: 64-bit code */
	d[3] = 0x00cf93000000ffffull; /* 0x18 __BOOT_DS: data */
	d[4] = 0x00008b0000000067ull; /* 0x20: a busy TSS, for VMX's entry checks */
}

void vmm_boot_page_tables(void *pt)
{
	uint8_t *t = pt;

	memset(t, 0, VMM_BOOT_PT_SIZE);
	/* PML4[0] -> PDPT, PDPT[i] -> PD i, each PD 512 2 MiB pages. */
	vmm_put64(t, (VMM_BOOT_PT_GPA + PAGE) | 0x3);
	for (unsigned i = 0; i < VMM_BOOT_PT_GIB; i++) {
		vmm_put64(t + PAGE + i * 8, (VMM_BOOT_PT_GPA + (2 + i) * PAGE) | 0x3);
		for (unsigned j = 0; j < 512; j++)
			vmm_put64(t + (2 + i) * PAGE + j * 8, (i * SZ_1G + j * SZ_2M) | 0x83);
	}
}
