/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Booting Linux without KVM: bzImages checked and refused, the e820 map
 * and boot_params built from zone layouts, the boot page tables, and the
 * ACPI tables parsed back (checksums, lengths, MADT, SRAT and SLIT) for
 * several guest topologies, from the command line down.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "numaksm/vcpu.h"
#include "vmm.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* ---- a synthetic bzImage ------------------------------------------------ */

#define IMG_SETUP_SECTS 4
#define IMG_SETUP	((IMG_SETUP_SECTS + 1) * 512)
#define IMG_KERNEL	(64 * 1024)
#define IMG_SIZE	(IMG_SETUP + IMG_KERNEL)
#define IMG_INIT_SIZE	(32 * MiB)

static uint8_t img[IMG_SIZE];

/* A bzImage of boot protocol 2.15 with a 64-bit entry, whose kernel part
 * is a byte pattern. */
static void make_image(void)
{
	memset(img, 0, sizeof(img));
	img[0x1f1] = IMG_SETUP_SECTS;
	vmm_put32(img + 0x1f4, IMG_KERNEL / 16);
	vmm_put16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = 0x6a; /* the header ends at 0x26c */
	memcpy(img + 0x202, "HdrS", 4);
	vmm_put16(img + 0x206, 0x020f);
	img[0x211] = 0x01; /* LOADED_HIGH */
	vmm_put32(img + 0x22c, 0x7fffffff);
	vmm_put32(img + 0x230, 0x200000);
	img[0x234] = 1;
	vmm_put16(img + 0x236, 0x7f); /* XLF_KERNEL_64 and more */
	vmm_put32(img + 0x238, 2047);
	vmm_put64(img + 0x258, 0x1000000);
	vmm_put32(img + 0x260, IMG_INIT_SIZE);
	for (size_t i = 0; i < IMG_KERNEL; i++)
		img[IMG_SETUP + i] = (uint8_t)(i * 7 + 3);
}

static const char *refusal(const void *image, size_t size)
{
	static char text[512];
	struct vmm_bzimage k;
	nk_error *err = NULL;
	int r = vmm_bzimage_parse(image, size, &k, &err);
	assert_int_equal(r, -ENOEXEC);
	snprintf(text, sizeof(text), "%s", nk_error_message(err));
	nk_error_free(err);
	return text;
}

static void test_bzimage_parse(void **state)
{
	struct vmm_bzimage k;
	(void)state;
	make_image();
	assert_int_equal(vmm_bzimage_parse(img, sizeof(img), &k, NULL), 0);
	assert_int_equal(k.version, 0x020f);
	assert_int_equal(k.setup_size, IMG_SETUP);
	assert_ptr_equal(k.kernel, img + IMG_SETUP);
	assert_int_equal(k.kernel_size, IMG_KERNEL);
	assert_int_equal(k.initrd_addr_max, 0x7fffffff);
	assert_int_equal(k.cmdline_size, 2047);
	assert_int_equal(k.pref_address, 0x1000000);
	assert_int_equal(k.init_size, IMG_INIT_SIZE);
	assert_true(k.relocatable);
}

static void test_bzimage_refused(void **state)
{
	(void)state;
	static const char elf[64] = "\x7f"
				    "ELF";
	assert_non_null(strstr(refusal(elf, sizeof(elf)), "not a Linux bzImage"));

	make_image();
	memcpy(img + 0x202, "HdrX", 4);
	assert_non_null(strstr(refusal(img, sizeof(img)), "not a Linux bzImage"));

	make_image();
	vmm_put16(img + 0x206, 0x0206);
	assert_non_null(strstr(refusal(img, sizeof(img)), "boot protocol 2.06 is too old"));

	make_image();
	vmm_put16(img + 0x236, 0x7e);
	assert_non_null(strstr(refusal(img, sizeof(img)), "no 64-bit entry point"));

	make_image();
	img[0x211] = 0;
	assert_non_null(strstr(refusal(img, sizeof(img)), "loads below 1 MiB"));

	/* Cut short: the header says more than the file has. */
	make_image();
	assert_non_null(strstr(refusal(img, sizeof(img) - 16), "truncated bzImage"));
	assert_non_null(strstr(refusal(img, 0x250), "truncated bzImage"));
	assert_non_null(strstr(refusal(img, IMG_SETUP), "truncated bzImage"));
}

/* ---- e820 ----------------------------------------------------------------- */

static void expect_entry(const struct vmm_e820 *m, unsigned i, uint64_t addr, uint64_t size,
			 uint32_t type)
{
	assert_true(i < m->n);
	assert_int_equal(m->e[i].addr, addr);
	assert_int_equal(m->e[i].size, size);
	assert_int_equal(m->e[i].type, type);
}

static void test_e820(void **state)
{
	struct vmm_e820 m;
	(void)state;

	/* One zone: the legacy hole cut out. */
	struct vmm_ram_range one[] = {{0, 256 * MiB, "ram"}};
	assert_int_equal(vmm_e820_build(one, 1, &m, NULL), 0);
	assert_int_equal(m.n, 3);
	expect_entry(&m, 0, 0, 0xa0000, VMM_E820_RAM);
	expect_entry(&m, 1, 0xa0000, 0x60000, VMM_E820_RESERVED);
	expect_entry(&m, 2, MiB, 255 * MiB, VMM_E820_RAM);

	/* Zones given out of order, two adjacent (merged), one above 4 GiB. */
	struct vmm_ram_range three[] = {
	    {4 * GiB, GiB, "hi"}, {128 * MiB, 384 * MiB, "b"}, {0, 128 * MiB, "a"}};
	assert_int_equal(vmm_e820_build(three, 3, &m, NULL), 0);
	assert_int_equal(m.n, 4);
	expect_entry(&m, 2, MiB, 511 * MiB, VMM_E820_RAM);
	expect_entry(&m, 3, 4 * GiB, GiB, VMM_E820_RAM);

	/* RAM over the IOAPIC and local APIC, or not from 0: refused. */
	nk_error *err = NULL;
	struct vmm_ram_range apic[] = {{0, 4 * GiB, "big"}};
	assert_int_equal(vmm_e820_build(apic, 1, &m, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "zone big"));
	assert_non_null(strstr(nk_error_message(err), "interrupt controllers"));
	err = nk_error_free(err);
	struct vmm_ram_range high[] = {{2 * MiB, 256 * MiB, "z"}};
	assert_int_equal(vmm_e820_build(high, 1, &m, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "from address 0"));
	nk_error_free(err);
}

/* ---- placement and boot_params ------------------------------------------- */

static void test_boot_plan(void **state)
{
	struct vmm_bzimage k;
	struct vmm_e820 m;
	struct vmm_boot_plan p;
	nk_error *err = NULL;
	(void)state;

	make_image();
	assert_int_equal(vmm_bzimage_parse(img, sizeof(img), &k, NULL), 0);
	struct vmm_ram_range two[] = {{0, 128 * MiB, "a"}, {128 * MiB, 128 * MiB, "b"}};
	assert_int_equal(vmm_e820_build(two, 2, &m, NULL), 0);
	assert_int_equal(vmm_boot_plan(&k, &m, 10 * MiB + 5, "console=ttyS0", &p, NULL), 0);
	assert_int_equal(p.kernel_gpa, MiB);
	assert_int_equal(p.entry, MiB + 0x200);
	/* The kernel runs at its preferred 16 MiB and needs init_size there. */
	assert_int_equal(p.kernel_end, 16 * MiB + IMG_INIT_SIZE);
	/* The initrd at the top of RAM, page aligned. */
	assert_int_equal(p.initrd_gpa, (256 * MiB - (10 * MiB + 5)) & ~4095ull);
	assert_true(p.initrd_gpa + p.initrd_size <= 256 * MiB);
	assert_int_equal(p.cmdline_len, strlen("console=ttyS0"));

	/* initrd_addr_max lower than RAM: below it (its last byte at most). */
	k.initrd_addr_max = 100 * MiB - 1;
	assert_int_equal(vmm_boot_plan(&k, &m, 4 * MiB, "", &p, NULL), 0);
	assert_int_equal(p.initrd_gpa, 96 * MiB);

	/* No room between the kernel and the limit. */
	k.initrd_addr_max = 50 * MiB - 1;
	assert_int_equal(vmm_boot_plan(&k, &m, 4 * MiB, "", &p, &err), -EFBIG);
	assert_non_null(strstr(nk_error_message(err), "the initrd (4096 KiB) does not fit"));
	assert_non_null(nk_error_get_hint(err));
	err = nk_error_free(err);
	k.initrd_addr_max = 0x7fffffff;
	assert_int_equal(vmm_boot_plan(&k, &m, 300 * MiB, "", &p, &err), -EFBIG);
	err = nk_error_free(err);

	/* A command line one byte too long. */
	char cmdline[2049];
	memset(cmdline, 'a', sizeof(cmdline) - 1);
	cmdline[2048] = '\0';
	assert_int_equal(vmm_boot_plan(&k, &m, 0, cmdline, &p, &err), -E2BIG);
	assert_non_null(strstr(nk_error_message(err), "2048 bytes; this kernel takes 2047"));
	err = nk_error_free(err);
	cmdline[2047] = '\0';
	assert_int_equal(vmm_boot_plan(&k, &m, 0, cmdline, &p, NULL), 0);

	/* A first zone too small for the kernel to decompress into. */
	struct vmm_ram_range small[] = {{0, 32 * MiB, "a"}, {64 * MiB, 128 * MiB, "b"}};
	assert_int_equal(vmm_e820_build(small, 2, &m, NULL), 0);
	assert_int_equal(vmm_boot_plan(&k, &m, 0, "", &p, &err), -EFBIG);
	assert_non_null(strstr(nk_error_message(err), "from 1 MiB to 48 MiB"));
	nk_error_free(err);
}

static void test_boot_params(void **state)
{
	struct vmm_bzimage k;
	struct vmm_e820 m;
	struct vmm_boot_plan p;
	static uint8_t bp[VMM_BP_SIZE];
	(void)state;

	make_image();
	assert_int_equal(vmm_bzimage_parse(img, sizeof(img), &k, NULL), 0);
	struct vmm_ram_range two[] = {{0, 512 * MiB, "a"}, {4 * GiB, GiB, "b"}};
	assert_int_equal(vmm_e820_build(two, 2, &m, NULL), 0);
	assert_int_equal(vmm_boot_plan(&k, &m, 3 * MiB, "console=ttyS0 quiet", &p, NULL), 0);
	memset(bp, 0xa5, sizeof(bp));
	vmm_boot_params_write(bp, &k, &p, &m, VMM_ACPI_GPA);

	/* The setup header, copied; the rest of the page zeroed but ours. */
	assert_memory_equal(bp + 0x202, "HdrS", 4);
	assert_int_equal(vmm_get16(bp + 0x206), 0x020f);
	assert_int_equal(vmm_get32(bp + 0x260), IMG_INIT_SIZE);
	assert_int_equal(bp[0x1f1], IMG_SETUP_SECTS);
	assert_int_equal(bp[0], 0);
	assert_int_equal(bp[0x26c], 0);
	assert_int_equal(bp[VMM_BP_TYPE_OF_LOADER], 0xff);
	assert_int_equal(vmm_get32(bp + VMM_BP_CMD_LINE_PTR), VMM_BOOT_CMDLINE_GPA);
	assert_int_equal(vmm_get32(bp + VMM_BP_EXT_CMD_LINE_PTR), 0);
	assert_int_equal(vmm_get32(bp + VMM_BP_RAMDISK_IMAGE), p.initrd_gpa);
	assert_int_equal(vmm_get32(bp + VMM_BP_RAMDISK_SIZE), 3 * MiB);
	assert_int_equal(vmm_get64(bp + VMM_BP_ACPI_RSDP_ADDR), VMM_ACPI_GPA);
	/* The initrd stays below 4 GiB though RAM goes on above. */
	assert_true(p.initrd_gpa + 3 * MiB <= 512 * MiB);
	assert_int_equal(bp[VMM_BP_E820_ENTRIES], 4);
	static const uint64_t want[4][3] = {
	    {0, 0xa0000, 1}, {0xa0000, 0x60000, 2}, {MiB, 511 * MiB, 1}, {4 * GiB, GiB, 1}};
	for (unsigned i = 0; i < 4; i++) {
		const uint8_t *e = bp + VMM_BP_E820_TABLE + i * 20;
		assert_int_equal(vmm_get64(e), want[i][0]);
		assert_int_equal(vmm_get64(e + 8), want[i][1]);
		assert_int_equal(vmm_get32(e + 16), want[i][2]);
	}
}

static void test_boot_page_tables(void **state)
{
	static uint8_t pt[VMM_BOOT_PT_SIZE];
	static uint8_t gdt[40];
	(void)state;

	vmm_boot_page_tables(pt);
	assert_int_equal(vmm_get64(pt), (VMM_BOOT_PT_GPA + 4096) | 3);
	assert_int_equal(vmm_get64(pt + 8), 0);
	for (unsigned i = 0; i < VMM_BOOT_PT_GIB; i++)
		assert_int_equal(vmm_get64(pt + 4096 + i * 8),
				 (VMM_BOOT_PT_GPA + (2 + i) * 4096) | 3);
	/* 3 GiB + 2 MiB: PD 3, entry 1, a present writable 2 MiB page. */
	assert_int_equal(vmm_get64(pt + 5 * 4096 + 8), (3 * GiB + 2 * MiB) | 0x83);
	vmm_boot_gdt(gdt);
	/* __BOOT_CS (0x10) 64-bit code (L, P, S, code), __BOOT_DS (0x18) data. */
	assert_int_equal(vmm_get64(gdt + 0x10) >> 40 & 0xff, 0x9b);
	assert_true(vmm_get64(gdt + 0x10) & (1ull << 53));
	assert_int_equal(vmm_get64(gdt + 0x18) >> 40 & 0xff, 0x93);
}

/* ---- ACPI ----------------------------------------------------------------- */

static uint8_t acpi[VMM_ACPI_MAX];
#define ACPI_BASE VMM_ACPI_GPA

static const uint8_t *at_gpa(uint64_t gpa)
{
	assert_true(gpa >= ACPI_BASE && gpa < ACPI_BASE + sizeof(acpi));
	return acpi + (gpa - ACPI_BASE);
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	for (size_t i = 0; i < len; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

/* A table from the XSDT by signature, its length and checksum checked. */
static const uint8_t *find_table(const char *sig)
{
	const uint8_t *rsdp = acpi;
	const uint8_t *xsdt = at_gpa(vmm_get64(rsdp + 24));
	uint32_t xlen = vmm_get32(xsdt + 4);
	for (uint32_t off = 36; off < xlen; off += 8) {
		const uint8_t *t = at_gpa(vmm_get64(xsdt + off));
		if (memcmp(t, sig, 4))
			continue;
		assert_true(vmm_get32(t + 4) >= 36);
		assert_int_equal(sum(t, vmm_get32(t + 4)), 0);
		return t;
	}
	return NULL;
}

struct topo_case {
	unsigned n_cpus, n_nodes;
	unsigned cpu_node[8];
	struct vmm_acpi_mem mem[4];
	size_t n_mem;
	uint8_t distance[16];
};

static void check_tables(const struct topo_case *c)
{
	struct vmm_acpi_spec s = {c->n_cpus, c->n_nodes, c->cpu_node,
				  c->mem,    c->n_mem,	 c->distance};
	size_t used = 0;
	memset(acpi, 0xee, sizeof(acpi));
	assert_int_equal(vmm_acpi_build(&s, ACPI_BASE, acpi, sizeof(acpi), &used, NULL), 0);
	assert_true(used > 36 && used <= sizeof(acpi));

	/* RSDP: both checksums, revision 2, the XSDT. */
	assert_memory_equal(acpi, "RSD PTR ", 8);
	assert_int_equal(sum(acpi, 20), 0);
	assert_int_equal(sum(acpi, 36), 0);
	assert_int_equal(acpi[15], 2);
	assert_int_equal(vmm_get32(acpi + 20), 36);
	const uint8_t *xsdt = at_gpa(vmm_get64(acpi + 24));
	assert_memory_equal(xsdt, "XSDT", 4);
	assert_int_equal(vmm_get32(xsdt + 4), 36 + 4 * 8);
	assert_int_equal(sum(xsdt, vmm_get32(xsdt + 4)), 0);

	/* FADT: not hardware-reduced, the PM1a blocks, PM timer and reset
	 * register at our ports, the FACS, the DSDT with \_S5. */
	const uint8_t *fadt = find_table("FACP");
	assert_non_null(fadt);
	assert_int_equal(vmm_get32(fadt + 4), 276);
	assert_false(vmm_get32(fadt + 112) & (1u << 20));
	assert_false(vmm_get32(fadt + 112) & (1u << 4)); /* a fixed power button */
	assert_int_equal(vmm_get32(fadt + 56), VMM_ACPI_PM1A_EVT_PORT);
	assert_int_equal(fadt[88], 4);
	assert_int_equal(vmm_get16(fadt + 46), VMM_ACPI_SCI_IRQ);
	/* A CMOS RTC, its century at CMOS byte 0x32. */
	assert_int_equal(fadt[108], VMM_RTC_CENTURY);
	assert_false(vmm_get16(fadt + 109) & (1u << 5));
	assert_int_equal(vmm_get32(fadt + 64), VMM_ACPI_PM1A_CNT_PORT);
	assert_int_equal(vmm_get32(fadt + 76), VMM_ACPI_PM_TMR_PORT);
	assert_int_equal(fadt[91], 4);
	assert_int_equal(fadt[172], 1); /* X_PM1a_CNT_BLK: system I/O */
	assert_int_equal(fadt[173], 16);
	assert_int_equal(vmm_get64(fadt + 172 + 4), VMM_ACPI_PM1A_CNT_PORT);
	assert_int_equal(vmm_get64(fadt + 208 + 4), VMM_ACPI_PM_TMR_PORT);
	assert_int_equal(vmm_get64(fadt + 116 + 4), VMM_ACPI_RESET_PORT);
	assert_int_equal(fadt[128], VMM_ACPI_RESET_VALUE);
	const uint8_t *facs = at_gpa(vmm_get64(fadt + 132));
	assert_memory_equal(facs, "FACS", 4);
	assert_int_equal(vmm_get32(facs + 4), 64);
	assert_int_equal(vmm_get64(fadt + 132) % 64, 0);
	assert_int_equal(vmm_get32(fadt + 36), vmm_get64(fadt + 132));
	const uint8_t *dsdt = at_gpa(vmm_get64(fadt + 140));
	assert_memory_equal(dsdt, "DSDT", 4);
	assert_int_equal(sum(dsdt, vmm_get32(dsdt + 4)), 0);
	assert_int_equal(vmm_get32(fadt + 40), vmm_get64(fadt + 140));
	const uint8_t *aml = dsdt + 36;
	assert_memory_equal(aml, "\x08_S5_\x12", 6);
	assert_int_equal(aml[9], VMM_ACPI_S5_TYPE);

	/* MADT: a local APIC per vCPU, enabled, then the IOAPIC. */
	const uint8_t *madt = find_table("APIC");
	assert_non_null(madt);
	assert_int_equal(vmm_get32(madt + 4), 44 + 8 * c->n_cpus + 12 + 10);
	assert_int_equal(vmm_get32(madt + 36), VMM_LAPIC_GPA);
	for (unsigned i = 0; i < c->n_cpus; i++) {
		const uint8_t *e = madt + 44 + 8 * i;
		assert_int_equal(e[0], 0);
		assert_int_equal(e[1], 8);
		assert_int_equal(e[3], i);
		assert_int_equal(vmm_get32(e + 4), 1);
	}
	const uint8_t *io = madt + 44 + 8 * c->n_cpus;
	assert_int_equal(io[0], 1);
	assert_int_equal(vmm_get32(io + 4), VMM_IOAPIC_GPA);
	/* The SCI's override: IRQ 9 to GSI 9, level, active high. */
	assert_int_equal(io[12], 2);
	assert_int_equal(io[15], VMM_ACPI_SCI_IRQ);
	assert_int_equal(vmm_get32(io + 16), VMM_ACPI_SCI_IRQ);
	assert_int_equal(vmm_get16(io + 20), 0x000d);

	/* SRAT: each vCPU's node, each memory range's node, base and size. */
	const uint8_t *srat = find_table("SRAT");
	assert_non_null(srat);
	uint32_t len = vmm_get32(srat + 4);
	assert_int_equal(len, 48 + 16 * c->n_cpus + 40 * c->n_mem);
	unsigned cpus = 0, mems = 0;
	for (uint32_t off = 48; off < len; off += srat[off + 1]) {
		const uint8_t *e = srat + off;
		if (e[0] == 0) {
			unsigned apic = e[3];
			unsigned node = e[2] | e[9] << 8 | e[10] << 16 | (unsigned)e[11] << 24;
			assert_true(apic < c->n_cpus);
			assert_int_equal(node, c->cpu_node[apic]);
			assert_int_equal(vmm_get32(e + 4) & 1, 1);
			cpus++;
		} else {
			assert_int_equal(e[0], 1);
			assert_int_equal(e[1], 40);
			assert_int_equal(vmm_get32(e + 2), c->mem[mems].node);
			assert_int_equal(vmm_get64(e + 8), c->mem[mems].gpa);
			assert_int_equal(vmm_get64(e + 16), c->mem[mems].size_bytes);
			assert_int_equal(vmm_get32(e + 28) & 1, 1);
			mems++;
		}
	}
	assert_int_equal(cpus, c->n_cpus);
	assert_int_equal(mems, c->n_mem);

	/* SLIT: the matrix. */
	const uint8_t *slit = find_table("SLIT");
	assert_non_null(slit);
	assert_int_equal(vmm_get32(slit + 4), 44 + c->n_nodes * c->n_nodes);
	assert_int_equal(vmm_get64(slit + 36), c->n_nodes);
	assert_memory_equal(slit + 44, c->distance, c->n_nodes * c->n_nodes);
}

static void test_acpi_topologies(void **state)
{
	(void)state;
	static const struct topo_case cases[] = {
	    /* One vCPU, one node. */
	    {1, 1, {0}, {{0, 256 * MiB, 0}}, 1, {10}},
	    /* Two nodes of one vCPU each. */
	    {2, 2, {0, 1}, {{0, 128 * MiB, 0}, {128 * MiB, 128 * MiB, 1}}, 2, {10, 20, 20, 10}},
	    /* Four nodes, two vCPUs each, node 1 with two zones (one above
	     * 4 GiB), asymmetric distances. */
	    {8,
	     4,
	     {0, 0, 1, 1, 2, 2, 3, 3},
	     {{0, GiB, 0}, {GiB, GiB, 1}, {2 * GiB, GiB, 2}, {4 * GiB, 2 * GiB, 1}},
	     4,
	     {10, 21, 31, 41, 21, 10, 21, 31, 31, 21, 10, 21, 41, 31, 21, 10}},
	    /* Three nodes: the vCPUs all in node 2, node 1 empty. */
	    {3,
	     3,
	     {2, 2, 2},
	     {{0, 512 * MiB, 0}, {512 * MiB, 512 * MiB, 2}},
	     2,
	     {10, 16, 32, 16, 10, 32, 32, 32, 10}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_tables(&cases[i]);
}

static void test_acpi_refused(void **state)
{
	unsigned cpu_node[2] = {0, 2};
	struct vmm_acpi_mem mem[1] = {{0, 256 * MiB, 0}};
	uint8_t distance[4] = {10, 20, 20, 10};
	struct vmm_acpi_spec s = {2, 2, cpu_node, mem, 1, distance};
	nk_error *err = NULL;
	size_t used;
	(void)state;

	assert_int_equal(vmm_acpi_build(&s, ACPI_BASE, acpi, sizeof(acpi), &used, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "vCPU 1 is in node 2 of 2"));
	err = nk_error_free(err);
	cpu_node[1] = 1;
	distance[1] = 10;
	assert_int_equal(vmm_acpi_build(&s, ACPI_BASE, acpi, sizeof(acpi), &used, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "distance 10 from node 0 to 1"));
	err = nk_error_free(err);
	distance[1] = 20;
	assert_int_equal(vmm_acpi_build(&s, ACPI_BASE, acpi, 200, &used, &err), -ENOSPC);
	nk_error_free(err);
	assert_int_equal(vmm_acpi_build(&s, ACPI_BASE, acpi, sizeof(acpi), &used, NULL), 0);
}

/* ---- from the command line ------------------------------------------------ */

static int parse(struct vmm_config *cfg, struct vmm_layout *l, char **msg, char **argv)
{
	nk_error *err = NULL;
	int argc = 0;
	while (argv[argc])
		argc++;
	vmm_config_init(cfg);
	int r = vmm_config_parse(cfg, argc, argv, &err);
	if (r == 0)
		r = vmm_layout_compute(cfg, l, &err);
	*msg = err ? strdup(nk_error_message(err)) : NULL;
	nk_error_free(err);
	return r;
}

/* Two guest nodes whose zones are bound to host nodes of a synthetic
 * machine: the SLIT has the host's distances. */
static void test_guest_numa(void **state)
{
	struct vmm_config cfg;
	struct vmm_layout l;
	struct vmm_guest_numa numa;
	nk_topo *topo = NULL;
	char *msg = NULL;
	(void)state;

	assert_int_equal(nk_topo_load_synthetic("pack:2 numa:2 core:2 pu:1", &topo, NULL), 0);
	char *argv2[] = {"numaksm-vmm",
			 "--name=t",
			 "--kernel=/dev/null",
			 "--cpus=4",
			 "--memory-zone=id=a,size=128M,policy=bind,nodes=0",
			 "--memory-zone=id=b,size=64M,policy=bind,nodes=3",
			 "--memory-zone=id=c,size=64M,policy=bind,nodes=1",
			 "--memory-zone=id=d,size=64M",
			 "--numa=guest_node=0,cpus=0,zones=a",
			 "--numa=guest_node=1,cpus=1-2,zones=[b,d]",
			 "--numa=guest_node=2,cpus=3,zones=c",
			 NULL};
	assert_int_equal(parse(&cfg, &l, &msg, argv2), 0);
	assert_int_equal(vmm_guest_numa_build(&cfg, &l, topo, &numa, NULL), 0);
	assert_int_equal(numa.spec.n_nodes, 3);
	assert_int_equal(numa.spec.n_cpus, 4);
	static const unsigned want_cpu[4] = {0, 1, 1, 2};
	assert_memory_equal(numa.cpu_node, want_cpu, sizeof(want_cpu));
	assert_int_equal(numa.spec.n_mem, 4);
	assert_int_equal(numa.mem[1].gpa, 128 * MiB);
	assert_int_equal(numa.mem[1].node, 1);
	assert_int_equal(numa.mem[3].node, 1);
	assert_int_equal(numa.mem[2].node, 2);
	/* Host nodes 0, 3 and 1: 0-1 share a package (20), 3 is in the other (30). */
	static const uint8_t want[9] = {10, 30, 20, 30, 10, 30, 20, 30, 10};
	assert_memory_equal(numa.distance, want, sizeof(want));
	/* And the tables carry them. */
	size_t used;
	assert_int_equal(vmm_acpi_build(&numa.spec, ACPI_BASE, acpi, sizeof(acpi), &used, NULL), 0);
	assert_memory_equal(find_table("SLIT") + 44, want, sizeof(want));

	/* Without a host topology: 10/20. */
	assert_int_equal(vmm_guest_numa_build(&cfg, &l, NULL, &numa, NULL), 0);
	assert_int_equal(numa.distance[1], 20);
	assert_int_equal(numa.distance[5], 20);
	vmm_config_done(&cfg);

	/* Two guest nodes on one host node: as near as SLIT allows. */
	char *argv3[] = {"numaksm-vmm",
			 "--name=t",
			 "--kernel=/dev/null",
			 "--cpus=2",
			 "--memory-zone=id=a,size=128M,policy=bind,nodes=2",
			 "--memory-zone=id=b,size=64M,policy=bind,nodes=2",
			 "--numa=guest_node=0,cpus=0,zones=a",
			 "--numa=guest_node=1,cpus=1,zones=b",
			 NULL};
	assert_int_equal(parse(&cfg, &l, &msg, argv3), 0);
	assert_int_equal(vmm_guest_numa_build(&cfg, &l, topo, &numa, NULL), 0);
	assert_int_equal(numa.distance[1], 11);
	vmm_config_done(&cfg);
	nk_topo_free(topo);
}

/* The options of a Linux guest, and what does not go with them. */
static void test_kernel_options(void **state)
{
	struct vmm_config cfg;
	struct vmm_layout l;
	char *msg = NULL;
	(void)state;

	char *ok[] = {"numaksm-vmm",	"--name=t",	    "--memory=size=256M",
		      "--kernel=/k",	"--initrd=/i",	    "--cmdline=console=ttyS0",
		      "--cpuid-pv=off", "--stop-timeout=0", NULL};
	assert_int_equal(parse(&cfg, &l, &msg, ok), 0);
	assert_string_equal(cfg.kernel, "/k");
	assert_string_equal(cfg.initrd, "/i");
	assert_string_equal(cfg.cmdline, "console=ttyS0");
	assert_false(cfg.cpuid_pv);
	assert_int_equal(cfg.stop_timeout_s, 0);
	vmm_config_done(&cfg);
	char *dflt[] = {"numaksm-vmm", "--name=t", "--memory=size=256M", "--kernel=/k", NULL};
	assert_int_equal(parse(&cfg, &l, &msg, dflt), 0);
	assert_int_equal(cfg.stop_timeout_s, 10);
	vmm_config_done(&cfg);

	struct {
		char *args[4];
		const char *needle;
	} bad[] = {
	    {{"--initrd=/i"}, "--initrd is for a Linux guest: add --kernel"},
	    {{"--cmdline=x"}, "--cmdline is for a Linux guest"},
	    {{"--kernel=/k", "--workload=passes=1"}, "--workload is for the built-in"},
	    {{"--kernel=/k", "--fill=size=4M"}, "--fill is for the built-in"},
	    {{"--kernel=/k", "--hold"}, "--hold is for the built-in"},
	    {{"--kernel=/k", "--cpuid-pv=maybe"}, "--cpuid-pv: value=maybe: expected on or off"},
	    {{"--stop-timeout=5"}, "--stop-timeout is for a Linux guest"},
	    {{"--kernel=/k", "--stop-timeout=-1"}, "--stop-timeout: '-1': expected whole seconds"},
	    {{"--kernel=/k", "--stop-timeout=3601"}, "from 0 to 3600"},
	    {{"--kernel=/k", "--stop-timeout=5s"}, "--stop-timeout: '5s'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[8] = {"numaksm-vmm", "--name=t", "--memory=size=256M"};
		int n = 3;
		for (int j = 0; bad[i].args[j]; j++)
			argv[n++] = bad[i].args[j];
		assert_int_equal(parse(&cfg, &l, &msg, argv), -EINVAL);
		if (!strstr(msg, bad[i].needle))
			fail_msg("'%s' does not say '%s'", msg, bad[i].needle);
		free(msg);
		vmm_config_done(&cfg);
	}
	assert_true(cfg.kernel == NULL);
}

/* The PM1a event block: the power button's status and enable, the SCI. */
static void test_acpi_pm1(void **state)
{
	struct vmm_acpi_pm1 pm = {0};
	(void)state;

	/* Pressed before the guest listens: status set, no SCI. */
	assert_false(vmm_acpi_pm1_power_button(&pm));
	assert_int_equal(vmm_acpi_pm1_read(&pm, VMM_ACPI_PM1A_EVT_PORT, 2), VMM_ACPI_PM1_PWRBTN);
	/* ACPICA clears the status and enables the event (16-bit accesses). */
	assert_false(vmm_acpi_pm1_write(&pm, VMM_ACPI_PM1A_EVT_PORT, 2, VMM_ACPI_PM1_PWRBTN));
	assert_int_equal(vmm_acpi_pm1_read(&pm, VMM_ACPI_PM1A_EVT_PORT, 2), 0);
	assert_false(vmm_acpi_pm1_write(&pm, VMM_ACPI_PM1A_EN_PORT, 2, 0xffff));
	/* Only the global lock, the power button and the RTC can be enabled. */
	assert_int_equal(vmm_acpi_pm1_read(&pm, VMM_ACPI_PM1A_EN_PORT, 2),
			 VMM_ACPI_PM1_GBL | VMM_ACPI_PM1_PWRBTN | VMM_ACPI_PM1_RTC);
	/* Pressed: the SCI rises, and stays until the status is cleared. */
	assert_true(vmm_acpi_pm1_power_button(&pm));
	assert_true(vmm_acpi_pm1_sci(&pm));
	assert_int_equal(vmm_acpi_pm1_read(&pm, VMM_ACPI_PM1A_EVT_PORT, 4),
			 VMM_ACPI_PM1_PWRBTN |
			     (VMM_ACPI_PM1_GBL | VMM_ACPI_PM1_PWRBTN | VMM_ACPI_PM1_RTC) << 16);
	assert_true(vmm_acpi_pm1_write(&pm, VMM_ACPI_PM1A_EVT_PORT, 2, 0x0001)); /* not it */
	/* Byte accesses: status's high byte, enable's high byte. */
	assert_int_equal(vmm_acpi_pm1_read(&pm, VMM_ACPI_PM1A_EVT_PORT + 1, 1), 1);
	assert_int_equal(vmm_acpi_pm1_read(&pm, VMM_ACPI_PM1A_EVT_PORT + 2, 1), 0x20);
	assert_int_equal(vmm_acpi_pm1_read(&pm, VMM_ACPI_PM1A_EVT_PORT + 3, 1), 5);
	assert_false(vmm_acpi_pm1_write(&pm, VMM_ACPI_PM1A_EVT_PORT + 1, 1, 0x01));
	assert_int_equal(pm.status, 0);
	/* A 32-bit write clears the status and writes the enable at once. */
	assert_true(vmm_acpi_pm1_power_button(&pm));
	assert_false(vmm_acpi_pm1_write(&pm, VMM_ACPI_PM1A_EVT_PORT, 4, VMM_ACPI_PM1_PWRBTN));
	assert_int_equal(pm.status, 0);
	assert_int_equal(pm.enable, 0);
	assert_false(vmm_acpi_pm1_power_button(&pm));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bzimage_parse),
	    cmocka_unit_test(test_bzimage_refused),
	    cmocka_unit_test(test_e820),
	    cmocka_unit_test(test_boot_plan),
	    cmocka_unit_test(test_boot_params),
	    cmocka_unit_test(test_boot_page_tables),
	    cmocka_unit_test(test_acpi_topologies),
	    cmocka_unit_test(test_acpi_refused),
	    cmocka_unit_test(test_acpi_pm1),
	    cmocka_unit_test(test_guest_numa),
	    cmocka_unit_test(test_kernel_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
