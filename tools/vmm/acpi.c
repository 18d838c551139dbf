/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ACPI tables a Linux guest reads its machine from: RSDP, XSDT, a
 * FADT with the fixed hardware as I/O ports this VMM emulates (PM1a
 * event and control blocks with a fixed power button, a PM timer, a reset
 * register; a hardware-reduced FADT would leave a guest without kvmclock
 * no timer to calibrate against, and Linux then runs no legacy PIT or PIC
 * at all) and the CMOS RTC's century byte (rtc.c; Linux finds the RTC at
 * its legacy ports without a PNP0B00 device), its
 * FACS, a DSDT that only names \_S5, the MADT (a local APIC per vCPU and
 * the in-kernel IOAPIC, the SCI's interrupt override), and SRAT and SLIT,
 * which give the guest the NUMA topology of its zones.  Layouts from the
 * ACPI 6.x specification, sections 5.2.5 to 5.2.17.
 */
#include <errno.h>
#include <string.h>

#include "boot.h"

#define HDR_LEN		36
#define CHECKSUM_OFFSET 9

#define FADT_REV	 6
#define FADT_LEN	 276
#define FADT_WBINVD	 (1u << 0)
#define FADT_RESET_REG	 (1u << 10)
#define FADT_SLP_BUTTON	 (1u << 5) /* no fixed sleep button */
#define BOOT_ARCH_NO_VGA (1u << 2)

#define MADT_PCAT_COMPAT (1u << 0) /* the in-kernel 8259s exist */
#define MADT_LAPIC	 0
#define MADT_IOAPIC	 1
#define MADT_OVERRIDE	 2
#define MADT_LEVEL_HIGH	 0x000d /* active high, level triggered */

#define FACS_LEN 64

#define SRAT_CPU     0
#define SRAT_MEMORY  1
#define SRAT_ENABLED 1u

#define GAS_SYSTEM_IO 1
#define GAS_BYTE      1

uint8_t vmm_acpi_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)(0x100 - sum);
}

#define VMM_ACPI_PM1_ENABLES (VMM_ACPI_PM1_GBL | VMM_ACPI_PM1_PWRBTN | VMM_ACPI_PM1_RTC)

/* The 4-byte event block as bytes: status at 0, enable at 2. */
uint32_t vmm_acpi_pm1_read(const struct vmm_acpi_pm1 *pm, uint16_t port, size_t size)
{
	uint32_t block = (uint32_t)pm->status | (uint32_t)pm->enable << 16;
	unsigned at = (unsigned)(port - VMM_ACPI_PM1A_EVT_PORT) * 8;
	uint32_t v = at < 32 ? block >> at : 0;
	return size >= 4 ? v : v & ((1u << (size * 8)) - 1);
}

bool vmm_acpi_pm1_write(struct vmm_acpi_pm1 *pm, uint16_t port, size_t size, uint32_t value)
{
	for (size_t i = 0; i < size && i < 4; i++) {
		unsigned off = (unsigned)(port - VMM_ACPI_PM1A_EVT_PORT) + (unsigned)i;
		uint16_t byte = (uint16_t)((value >> (i * 8)) & 0xff);
		if (off < 2) { /* status: a 1 clears the bit */
			pm->status &= (uint16_t) ~(byte << (off * 8));
		} else if (off < 4) {
			/* enable: the power button's; the RTC's and the
			 * global lock's, which Linux enables and reads back
			 * (no alarm fires, no firmware takes the lock) */
			unsigned shift = (off - 2) * 8;
			uint32_t en = (pm->enable & ~(0xffu << shift)) | (uint32_t)byte << shift;
			pm->enable = (uint16_t)(en & VMM_ACPI_PM1_ENABLES);
		}
	}
	return vmm_acpi_pm1_sci(pm);
}

bool vmm_acpi_pm1_power_button(struct vmm_acpi_pm1 *pm)
{
	pm->status |= VMM_ACPI_PM1_PWRBTN;
	return vmm_acpi_pm1_sci(pm);
}

bool vmm_acpi_pm1_sci(const struct vmm_acpi_pm1 *pm)
{
	return (pm->status & pm->enable) != 0;
}

/* A Generic Address Structure for `bytes` bytes of I/O ports. */
static void put_gas_port(uint8_t *p, uint16_t port, uint8_t bytes)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = (uint8_t)(bytes * 8);			   /* bit width */
	p[2] = 0;					   /* bit offset */
	p[3] = bytes == 4 ? 3 : bytes == 2 ? 2 : GAS_BYTE; /* access size */
	vmm_put64(p + 4, port);
}

struct acpi_buf {
	uint8_t *base;
	uint64_t gpa;
	size_t len, used;
	bool full;
};

/* Room for a table of `len` bytes, 8-byte aligned, zeroed. */
static uint8_t *acpi_alloc(struct acpi_buf *b, size_t len, uint64_t *ret_gpa)
{
	size_t at = (b->used + 7) & ~(size_t)7;
	if (at > b->len || len > b->len - at) {
		b->full = true;
		return NULL;
	}
	b->used = at + len;
	*ret_gpa = b->gpa + at;
	memset(b->base + at, 0, len);
	return b->base + at;
}

static void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	vmm_put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "NUMAKS", 6);
	memcpy(t + 16, "NKVMM   ", 8);
	vmm_put32(t + 24, 1);	   /* OEM revision */
	memcpy(t + 28, "NKSM", 4); /* creator */
	vmm_put32(t + 32, 1);
}

static void acpi_finish(uint8_t *t, uint32_t len)
{
	t[CHECKSUM_OFFSET] = 0;
	t[CHECKSUM_OFFSET] = vmm_acpi_checksum(t, len);
}

/* Name (_S5, Package () { 5, 0 }): the SLP_TYP the guest writes to power off. */
static const uint8_t dsdt_aml[] = {
    0x08, '_',
    'S',  '5',
    '_', /* NameOp "_S5_" */
    0x12, 0x06,
    0x02, /* PackageOp, PkgLength 6, 2 elements */
    0x0a, VMM_ACPI_S5_TYPE,
    0x0a, 0, /* BytePrefix 5, BytePrefix 0 */
};

static uint64_t build_dsdt(struct acpi_buf *b)
{
	uint64_t gpa = 0;
	uint32_t len = HDR_LEN + sizeof(dsdt_aml);
	uint8_t *t = acpi_alloc(b, len, &gpa);
	if (!t)
		return 0;
	acpi_header(t, "DSDT", len, 2);
	memcpy(t + HDR_LEN, dsdt_aml, sizeof(dsdt_aml));
	acpi_finish(t, len);
	return gpa;
}

/* The FACS: no checksum, 64-byte aligned, nothing the guest needs in it. */
static uint64_t build_facs(struct acpi_buf *b)
{
	uint64_t gpa = 0;
	b->used = (b->used + 63) & ~(size_t)63;
	uint8_t *t = acpi_alloc(b, FACS_LEN, &gpa);
	if (!t)
		return 0;
	memcpy(t, "FACS", 4);
	vmm_put32(t + 4, FACS_LEN);
	t[32] = 2; /* version */
	return gpa;
}

static uint64_t build_fadt(struct acpi_buf *b, uint64_t facs, uint64_t dsdt)
{
	uint64_t gpa = 0;
	uint8_t *t = acpi_alloc(b, FADT_LEN, &gpa);
	if (!t)
		return 0;
	acpi_header(t, "FACP", FADT_LEN, FADT_REV);
	vmm_put32(t + 36, (uint32_t)facs);
	vmm_put32(t + 40, (uint32_t)dsdt);
	vmm_put16(t + 46, VMM_ACPI_SCI_IRQ);
	/* SMI_CMD 0: already in ACPI mode (PM1 control reads SCI_EN). */
	vmm_put32(t + 56, VMM_ACPI_PM1A_EVT_PORT);
	vmm_put32(t + 64, VMM_ACPI_PM1A_CNT_PORT);
	vmm_put32(t + 76, VMM_ACPI_PM_TMR_PORT);
	t[88] = 4;		 /* PM1_EVT_LEN */
	t[89] = 2;		 /* PM1_CNT_LEN */
	t[91] = 4;		 /* PM_TMR_LEN */
	vmm_put16(t + 96, 101);	 /* no C2 */
	vmm_put16(t + 98, 1001); /* no C3 */
	t[108] = VMM_RTC_CENTURY;
	vmm_put16(t + 109, BOOT_ARCH_NO_VGA); /* a CMOS RTC */
	vmm_put32(t + 112, FADT_WBINVD | FADT_RESET_REG | FADT_SLP_BUTTON);
	put_gas_port(t + 116, VMM_ACPI_RESET_PORT, 1);
	t[128] = VMM_ACPI_RESET_VALUE;
	t[131] = 0; /* minor version: 6.0 */
	vmm_put64(t + 132, facs);
	vmm_put64(t + 140, dsdt);
	put_gas_port(t + 148, VMM_ACPI_PM1A_EVT_PORT, 4);
	put_gas_port(t + 172, VMM_ACPI_PM1A_CNT_PORT, 2);
	put_gas_port(t + 208, VMM_ACPI_PM_TMR_PORT, 4);
	memcpy(t + 268, "NUMAKSM", 8);
	acpi_finish(t, FADT_LEN);
	return gpa;
}

static uint64_t build_madt(struct acpi_buf *b, const struct vmm_acpi_spec *s)
{
	uint64_t gpa = 0;
	uint32_t len = HDR_LEN + 8 + s->n_cpus * 8 + 12 + 10;
	uint8_t *t = acpi_alloc(b, len, &gpa);
	if (!t)
		return 0;
	acpi_header(t, "APIC", len, 4);
	vmm_put32(t + 36, (uint32_t)VMM_LAPIC_GPA);
	vmm_put32(t + 40, MADT_PCAT_COMPAT);
	uint8_t *e = t + 44;
	for (unsigned i = 0; i < s->n_cpus; i++, e += 8) {
		e[0] = MADT_LAPIC;
		e[1] = 8;
		e[2] = (uint8_t)i;   /* processor UID */
		e[3] = (uint8_t)i;   /* APIC ID: KVM's, the vCPU's index */
		vmm_put32(e + 4, 1); /* enabled */
	}
	e[0] = MADT_IOAPIC;
	e[1] = 12;
	e[2] = 0; /* IOAPIC ID */
	vmm_put32(e + 4, (uint32_t)VMM_IOAPIC_GPA);
	vmm_put32(e + 8, 0); /* its first GSI */
	/* The SCI: ISA IRQ 9, level triggered, active high (as QEMU's). */
	e += 12;
	e[0] = MADT_OVERRIDE;
	e[1] = 10;
	e[2] = 0; /* ISA */
	e[3] = VMM_ACPI_SCI_IRQ;
	vmm_put32(e + 4, VMM_ACPI_SCI_IRQ);
	vmm_put16(e + 8, MADT_LEVEL_HIGH);
	acpi_finish(t, len);
	return gpa;
}

static uint64_t build_srat(struct acpi_buf *b, const struct vmm_acpi_spec *s)
{
	uint64_t gpa = 0;
	uint32_t len = HDR_LEN + 12 + s->n_cpus * 16 + (uint32_t)s->n_mem * 40;
	uint8_t *t = acpi_alloc(b, len, &gpa);
	if (!t)
		return 0;
	acpi_header(t, "SRAT", len, 3);
	vmm_put32(t + 36, 1); /* reserved, 1 for compatibility */
	uint8_t *e = t + 48;
	for (unsigned i = 0; i < s->n_cpus; i++, e += 16) {
		uint32_t node = s->cpu_node[i];
		e[0] = SRAT_CPU;
		e[1] = 16;
		e[2] = (uint8_t)node; /* proximity domain bits 7:0 */
		e[3] = (uint8_t)i;    /* APIC ID */
		vmm_put32(e + 4, SRAT_ENABLED);
		e[9] = (uint8_t)(node >> 8); /* bits 31:8 */
		e[10] = (uint8_t)(node >> 16);
		e[11] = (uint8_t)(node >> 24);
	}
	for (size_t i = 0; i < s->n_mem; i++, e += 40) {
		e[0] = SRAT_MEMORY;
		e[1] = 40;
		vmm_put32(e + 2, s->mem[i].node);
		vmm_put64(e + 8, s->mem[i].gpa);
		vmm_put64(e + 16, s->mem[i].size_bytes);
		vmm_put32(e + 28, SRAT_ENABLED);
	}
	acpi_finish(t, len);
	return gpa;
}

static uint64_t build_slit(struct acpi_buf *b, const struct vmm_acpi_spec *s)
{
	uint64_t gpa = 0;
	uint32_t len = HDR_LEN + 8 + s->n_nodes * s->n_nodes;
	uint8_t *t = acpi_alloc(b, len, &gpa);
	if (!t)
		return 0;
	acpi_header(t, "SLIT", len, 1);
	vmm_put64(t + 36, s->n_nodes);
	memcpy(t + 44, s->distance, (size_t)s->n_nodes * s->n_nodes);
	acpi_finish(t, len);
	return gpa;
}

static int check_spec(const struct vmm_acpi_spec *s, nk_error **err)
{
	if (!s->n_cpus || s->n_cpus > 255)
		return nk_error_set(err, EINVAL, "ACPI: %u vCPUs (1 to 255 have xAPIC IDs)",
				    s->n_cpus);
	if (!s->n_nodes || s->n_nodes > 255)
		return nk_error_set(err, EINVAL, "ACPI: %u guest nodes (1 to 255)", s->n_nodes);
	for (unsigned i = 0; i < s->n_cpus; i++)
		if (s->cpu_node[i] >= s->n_nodes)
			return nk_error_set(err, EINVAL, "ACPI: vCPU %u is in node %u of %u", i,
					    s->cpu_node[i], s->n_nodes);
	for (size_t i = 0; i < s->n_mem; i++)
		if (s->mem[i].node >= s->n_nodes)
			return nk_error_set(err, EINVAL, "ACPI: memory in node %u of %u",
					    s->mem[i].node, s->n_nodes);
	for (unsigned i = 0; i < s->n_nodes; i++)
		for (unsigned j = 0; j < s->n_nodes; j++) {
			uint8_t d = s->distance[i * s->n_nodes + j];
			/* SLIT: 10 on the diagonal, more elsewhere, 255 unreachable. */
			if ((i == j && d != 10) || (i != j && d <= 10))
				return nk_error_set(err, EINVAL,
						    "ACPI: distance %u from node %u to %u: 10 "
						    "within a node, more than 10 between nodes",
						    d, i, j);
		}
	return 0;
}

int vmm_acpi_build(const struct vmm_acpi_spec *s, uint64_t gpa, void *buf, size_t len,
		   size_t *ret_len, nk_error **err)
{
	struct acpi_buf b = {.base = buf, .gpa = gpa, .len = len};
	uint64_t rsdp_gpa = 0, xsdt_gpa = 0;
	int r = check_spec(s, err);
	if (r < 0)
		return r;

	uint8_t *rsdp = acpi_alloc(&b, 36, &rsdp_gpa);
	uint64_t tables[4] = {0};
	uint64_t facs = build_facs(&b);
	uint64_t dsdt = build_dsdt(&b);
	tables[0] = build_fadt(&b, facs, dsdt);
	tables[1] = build_madt(&b, s);
	tables[2] = build_srat(&b, s);
	tables[3] = build_slit(&b, s);
	uint32_t xsdt_len = HDR_LEN + sizeof(tables);
	uint8_t *xsdt = acpi_alloc(&b, xsdt_len, &xsdt_gpa);
	if (b.full)
		return nk_error_set(err, ENOSPC, "ACPI: the tables do not fit in %zu bytes", len);
	acpi_header(xsdt, "XSDT", xsdt_len, 1);
	for (size_t i = 0; i < 4; i++)
		vmm_put64(xsdt + HDR_LEN + i * 8, tables[i]);
	acpi_finish(xsdt, xsdt_len);

	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, "NUMAKS", 6);
	rsdp[15] = 2; /* revision: ACPI 2.0+, with the XSDT */
	vmm_put32(rsdp + 20, 36);
	vmm_put64(rsdp + 24, xsdt_gpa);
	rsdp[8] = vmm_acpi_checksum(rsdp, 20);
	rsdp[32] = vmm_acpi_checksum(rsdp, 36);
	*ret_len = b.used;
	return 0;
}
