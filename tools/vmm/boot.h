/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Booting Linux: the x86 boot protocol (Documentation/arch/x86/boot.rst),
 * the e820 map built from the zones, and the ACPI tables that give the
 * guest its NUMA topology.  Pure computation on buffers, so the unit tests
 * check every byte without KVM.
 *
 * Guest physical layout of a Linux guest (the first zone starts at 0):
 *   0x001000  GDT (__BOOT_CS 0x10, __BOOT_DS 0x18, a TSS at 0x20)
 *   0x007000  boot_params, the "zero page"
 *   0x009000  page tables: PML4, PDPT, 4 PDs identity-mapping 4 GiB
 *   0x020000  the kernel command line
 *   0x0a0000  reserved up to 1 MiB (legacy VGA and BIOS area)
 *   0x0e0000  ACPI tables, RSDP first
 *   0x100000  the kernel's protected-mode code
 *   high      the initrd, as high as the kernel allows
 */
#ifndef NUMAKSM_VMM_BOOT_H
#define NUMAKSM_VMM_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "numaksm/core.h"

#define VMM_BOOT_GDT_GPA     0x1000ull
#define VMM_BOOT_PARAMS_GPA  0x7000ull
#define VMM_BOOT_PT_GPA	     0x9000ull
#define VMM_BOOT_PT_GIB	     4 /* identity-mapped by the boot page tables */
#define VMM_BOOT_CMDLINE_GPA 0x20000ull
#define VMM_BOOT_CMDLINE_MAX 0x10000ull /* with its NUL */
#define VMM_LOW_RAM_END	     0xa0000ull
#define VMM_ACPI_GPA	     0xe0000ull
#define VMM_ACPI_MAX	     0x20000ull
#define VMM_KERNEL_GPA	     0x100000ull
/* The IOAPIC and local APIC live here; no guest RAM may. */
#define VMM_MMIO_START 0xfec00000ull
#define VMM_MMIO_END   0x100000000ull

/* PCI's configuration mechanism #1, the address port: no PCI bus is there. */
#define VMM_PCI_CONFIG_ADDRESS_PORT 0xcf8

/* The FADT's fixed hardware, as I/O ports: PM1a event and control blocks
 * (power-off is SLP_TYP 5 with SLP_EN), the PM timer (Linux calibrates the
 * TSC against it when there is no kvmclock) and the reset register. */
#define VMM_ACPI_PM1A_EVT_PORT	0x600 /* 4 bytes: status, enable */
#define VMM_ACPI_PM1A_EN_PORT	0x602
#define VMM_ACPI_PM1A_CNT_PORT	0x604 /* 2 bytes */
#define VMM_ACPI_PM_TMR_PORT	0x608 /* 4 bytes, 24 bits counting */
#define VMM_ACPI_RESET_PORT	0x60c
#define VMM_ACPI_RESET_VALUE	0x01
#define VMM_ACPI_PM1_SCI_EN	(1u << 0)
#define VMM_ACPI_PM1_GBL	(1u << 5)  /* GBL_EN: kept, no firmware ever holds the lock */
#define VMM_ACPI_PM1_PWRBTN	(1u << 8)  /* PWRBTN_STS and PWRBTN_EN */
#define VMM_ACPI_PM1_RTC	(1u << 10) /* RTC_EN: kept, its event never comes */
#define VMM_ACPI_PM1_SLP_EN	(1u << 13)
#define VMM_ACPI_PM1_SLP_TYP(v) (((v) >> 10) & 7)
#define VMM_ACPI_S5_TYPE	5 /* the SLP_TYP of \_S5 in the DSDT */
#define VMM_ACPI_PM_TIMER_HZ	3579545
#define VMM_ACPI_SCI_IRQ	9

#define VMM_IOAPIC_GPA 0xfec00000ull
#define VMM_LAPIC_GPA  0xfee00000ull

/* Little-endian fields of boot_params and ACPI tables. */
static inline uint16_t vmm_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t vmm_get32(const uint8_t *p)
{
	return (uint32_t)vmm_get16(p) | (uint32_t)vmm_get16(p + 2) << 16;
}

static inline uint64_t vmm_get64(const uint8_t *p)
{
	return (uint64_t)vmm_get32(p) | (uint64_t)vmm_get32(p + 4) << 32;
}

static inline void vmm_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void vmm_put32(uint8_t *p, uint32_t v)
{
	vmm_put16(p, (uint16_t)v);
	vmm_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void vmm_put64(uint8_t *p, uint64_t v)
{
	vmm_put32(p, (uint32_t)v);
	vmm_put32(p + 4, (uint32_t)(v >> 32));
}

/* ---- e820 ---------------------------------------------------------------- */

#define VMM_E820_MAX 128 /* what boot_params holds */

enum vmm_e820_type {
	VMM_E820_RAM = 1,
	VMM_E820_RESERVED = 2,
};

struct vmm_e820_entry {
	uint64_t addr, size;
	uint32_t type;
};

struct vmm_e820 {
	struct vmm_e820_entry e[VMM_E820_MAX];
	unsigned n;
};

struct vmm_ram_range {
	uint64_t gpa, size_bytes;
	const char *id; /* for messages */
};

/* The map of guest RAM `ram` (any order, not overlapping): usable RAM with
 * the legacy hole [0xa0000, 1 MiB) reserved (the ACPI tables sit in it).
 * @return 0; -EINVAL when no RAM starts at 0 or RAM covers the interrupt
 * controllers' addresses. */
int vmm_e820_build(const struct vmm_ram_range *ram, size_t n, struct vmm_e820 *ret, nk_error **err);

/* ---- the kernel image ------------------------------------------------------ */

#define VMM_BZ_SETUP_HEADER  0x1f1
#define VMM_BZ_MIN_VERSION   0x020c /* 2.12: xloadflags with XLF_KERNEL_64 */
#define VMM_BZ_ENTRY_64	     0x200  /* the 64-bit entry, from the load address */
#define VMM_XLF_KERNEL_64    (1u << 0)
#define VMM_LOADER_UNDEFINED 0xff /* type_of_loader: no assigned id */

struct vmm_bzimage {
	const uint8_t *image; /* the whole file */
	size_t size;
	size_t setup_size;     /* boot sector and real-mode setup, (setup_sects + 1) * 512 */
	const uint8_t *kernel; /* the protected-mode part */
	size_t kernel_size;
	uint16_t version;
	uint32_t initrd_addr_max; /* highest address the initrd's last byte may have */
	uint32_t cmdline_size;	  /* longest command line, without its NUL */
	uint32_t init_size;	  /* memory the kernel needs from where it runs */
	uint64_t pref_address;	  /* where it runs when relocatable */
	bool relocatable;
};

/* Check `image` (`size` bytes, kept by the caller) is a bzImage this VMM
 * boots.  @return 0; -ENOEXEC naming what is wrong. */
int vmm_bzimage_parse(const void *image, size_t size, struct vmm_bzimage *ret, nk_error **err);

struct vmm_boot_plan {
	uint64_t kernel_gpa, kernel_end; /* the kernel's code, and what it may use */
	uint64_t initrd_gpa, initrd_size;
	uint64_t cmdline_gpa;
	size_t cmdline_len;
	uint64_t entry; /* 64-bit entry point */
};

/* Where kernel, initrd and command line go in the guest RAM of `map`.
 * @return 0; -EFBIG when the kernel or the initrd does not fit,
 * -E2BIG when the command line is too long. */
int vmm_boot_plan(const struct vmm_bzimage *k, const struct vmm_e820 *map, uint64_t initrd_size,
		  const char *cmdline, struct vmm_boot_plan *ret, nk_error **err);

/* ---- the vmlinux inside a bzImage (vmlinux.c) ---------------------------- */

#define VMM_VMLINUX_SEGMENTS 8

struct vmm_vmlinux_segment {
	uint64_t offset, paddr, filesz, memsz;
};

struct vmm_vmlinux {
	const uint8_t *elf; /* the whole ELF, kept by the caller */
	size_t size;
	uint64_t entry;	 /* physical: the 64-bit entry, startup_64 */
	uint64_t lo, hi; /* the physical span of its segments */
	struct vmm_vmlinux_segment seg[VMM_VMLINUX_SEGMENTS];
	unsigned n;
};

/* Check `elf` is an x86-64 vmlinux whose loadable segments are in bounds.
 * @return 0; -ENOEXEC naming what is wrong. */
int vmm_vmlinux_parse(const uint8_t *elf, size_t size, struct vmm_vmlinux *ret, nk_error **err);

/* Inflate the bzImage's payload (xz or gzip) into a malloc'ed buffer.
 * @return 0; -ENOTSUP for another format or an old boot protocol,
 * -ENOEXEC or -EBADMSG for a damaged one. */
int vmm_bzimage_inflate(const struct vmm_bzimage *k, uint8_t **ret, size_t *ret_size,
			nk_error **err);

/* The vmlinux of the bzImage `k` (its file's stat in `st`): from
 * `cache_dir` (NULL: no cache) when it holds it, the file mapped read-only
 * and *ret_cached true; else inflated (malloc'ed) and kept there.  A cache
 * directory that is not the user's own, writable by no one else, is not
 * used, and `note` says so.  @return as vmm_bzimage_inflate(). */
struct stat;
int vmm_vmlinux_get(const struct vmm_bzimage *k, const struct stat *st, const char *cache_dir,
		    uint8_t **ret, size_t *ret_size, bool *ret_cached, char *note, size_t note_size,
		    nk_error **err);
/* Let go of what vmm_vmlinux_get() gave (NULL: nothing). */
void vmm_vmlinux_put(uint8_t *elf, size_t size, bool cached);

/* Where a vmlinux, initrd and command line go: the vmlinux's segments at
 * their physical addresses, with the bzImage's init_size from there.
 * @return as vmm_boot_plan(). */
int vmm_boot_plan_vmlinux(const struct vmm_bzimage *k, const struct vmm_vmlinux *v,
			  const struct vmm_e820 *map, uint64_t initrd_size, const char *cmdline,
			  struct vmm_boot_plan *ret, nk_error **err);

/* boot_params offsets this VMM writes (Documentation/arch/x86/zero-page.rst). */
#define VMM_BP_ACPI_RSDP_ADDR	 0x070
#define VMM_BP_EXT_RAMDISK_IMAGE 0x0c0
#define VMM_BP_EXT_RAMDISK_SIZE	 0x0c4
#define VMM_BP_EXT_CMD_LINE_PTR	 0x0c8
#define VMM_BP_E820_ENTRIES	 0x1e8
#define VMM_BP_VERSION		 0x206
#define VMM_BP_TYPE_OF_LOADER	 0x210
#define VMM_BP_LOADFLAGS	 0x211
#define VMM_BP_RAMDISK_IMAGE	 0x218
#define VMM_BP_RAMDISK_SIZE	 0x21c
#define VMM_BP_CMD_LINE_PTR	 0x228
#define VMM_BP_E820_TABLE	 0x2d0
#define VMM_BP_SIZE		 4096

/* Fill the zero page: the image's setup header, loader type, command line,
 * initrd, e820 map and the RSDP's address. */
void vmm_boot_params_write(void *zero_page, const struct vmm_bzimage *k,
			   const struct vmm_boot_plan *p, const struct vmm_e820 *map,
			   uint64_t rsdp_gpa);

/* The boot GDT (5 entries) and the page tables identity-mapping the first
 * VMM_BOOT_PT_GIB GiB with 2 MiB pages, written at `pt` (guest
 * VMM_BOOT_PT_GPA, 2 + VMM_BOOT_PT_GIB pages). */
void vmm_boot_gdt(void *gdt);
void vmm_boot_page_tables(void *pt);
#define VMM_BOOT_PT_SIZE ((2 + VMM_BOOT_PT_GIB) * 4096ull)

/* ---- ACPI ---------------------------------------------------------------- */

struct vmm_acpi_mem {
	uint64_t gpa, size_bytes;
	unsigned node;
};

struct vmm_acpi_spec {
	unsigned n_cpus;
	unsigned n_nodes;
	const unsigned *cpu_node; /* the guest node of each vCPU */
	const struct vmm_acpi_mem *mem;
	size_t n_mem;
	const uint8_t *distance; /* n_nodes x n_nodes */
};

/* Write RSDP, XSDT, FADT, FACS, DSDT, MADT, SRAT and SLIT into `buf` (`len`
 * bytes, at guest address `gpa`), the RSDP first.  @return 0 and the
 * bytes used; -EINVAL for a spec that names a node out of range, -ENOSPC
 * when `len` is too small. */
int vmm_acpi_build(const struct vmm_acpi_spec *s, uint64_t gpa, void *buf, size_t len,
		   size_t *ret_len, nk_error **err);

/* The PM1a event block: status (write 1 to clear) and enable.  The only
 * event is the fixed power button; the SCI is raised while an enabled
 * event's status is set. */
struct vmm_acpi_pm1 {
	uint16_t status, enable;
};

/* A guest access of `size` bytes at `port` (in the event block): a read's
 * value, and a write's effect.  @return whether the SCI is now raised. */
uint32_t vmm_acpi_pm1_read(const struct vmm_acpi_pm1 *pm, uint16_t port, size_t size);
bool vmm_acpi_pm1_write(struct vmm_acpi_pm1 *pm, uint16_t port, size_t size, uint32_t value);
/* The power button pressed.  @return whether the SCI is now raised (false:
 * the guest has not enabled the event, nothing listens to it). */
bool vmm_acpi_pm1_power_button(struct vmm_acpi_pm1 *pm);
bool vmm_acpi_pm1_sci(const struct vmm_acpi_pm1 *pm);

/* ACPI's checksum: the byte that makes `len` bytes sum to 0. */
uint8_t vmm_acpi_checksum(const void *data, size_t len);

/* ---- the CMOS RTC (rtc.c) ------------------------------------------------ */

#define VMM_RTC_INDEX_PORT 0x70
#define VMM_RTC_DATA_PORT  0x71
#define VMM_RTC_CENTURY	   0x32 /* the FADT's CENTURY: the century's CMOS byte */

/* An MC146818 without interrupts: the time registers read `clock` (the
 * host's UTC time) plus the offset of the time the guest set. */
struct vmm_rtc {
	time_t (*clock)(void);
	time_t offset; /* the guest's time less the clock's */
	uint8_t index;
	uint8_t cmos[128];
};

/* Power-on state: 24 hours, BCD, the time valid.  `clock`: NULL for time(). */
void vmm_rtc_init(struct vmm_rtc *rtc, time_t (*clock)(void));
/* A guest's byte access of VMM_RTC_INDEX_PORT or VMM_RTC_DATA_PORT. */
uint8_t vmm_rtc_in(struct vmm_rtc *rtc, uint16_t port);
void vmm_rtc_out(struct vmm_rtc *rtc, uint16_t port, uint8_t value);
/* The guest's time now, in seconds since the epoch. */
time_t vmm_rtc_time(const struct vmm_rtc *rtc);

#endif
