/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What numaksm-vmm and its built-in guest program agree on: the layout of
 * the system area at the bottom of guest RAM, the boot block the VMM fills
 * in, the per-vCPU mailbox and the I/O ports.  Included by the freestanding
 * guest (guest/guest.c), so: fixed-size types only, no libc.
 *
 * Guest physical layout (identity-mapped with 2 MiB pages):
 *   0x001000  GDT
 *   0x002000  mailboxes, one 64-byte struct nkg_mailbox per vCPU
 *   0x008000  struct nkg_boot
 *   0x010000  stacks, NKG_STACK_SIZE per vCPU
 *   0x100000  the guest program
 *   0x200000  page tables: PML4, PDPT, one PD per GiB of address space
 *   0x400000  end of the system area; guest RAM for workloads starts here
 */
#ifndef NUMAKSM_VMM_GUEST_ABI_H
#define NUMAKSM_VMM_GUEST_ABI_H

#include <stdint.h>

#define NKG_GDT_GPA	 0x1000ull
#define NKG_MAILBOX_GPA	 0x2000ull
#define NKG_BOOT_GPA	 0x8000ull
#define NKG_BOOT_MAX	 0x8000ull
#define NKG_STACK_GPA	 0x10000ull
#define NKG_STACK_SIZE	 0x2000ull
#define NKG_CODE_GPA	 0x100000ull
#define NKG_CODE_MAX	 0x100000ull
#define NKG_PT_GPA	 0x200000ull
#define NKG_SYSTEM_END	 0x400000ull
#define NKG_MAX_VCPUS	 64
#define NKG_MAX_RANGES	 16
#define NKG_MAX_GPA_BITS 38 /* 256 GiB: the PDs fit below NKG_SYSTEM_END */
#define NKG_PAGE_SIZE	 4096ull
#define NKG_BOOT_MAGIC	 0x4e4b564du /* "NKVM" */
#define NKG_BOOT_VERSION 1

/* I/O ports the guest writes (out) to. */
#define NKG_PORT_EVENT 0x510 /* 32-bit event number; details in the mailbox */
#define NKG_PORT_SLEEP 0x514 /* 32-bit milliseconds to sleep (the VMM sleeps the vCPU) */

enum nkg_event {
	NKG_EV_START = 1,    /* the vCPU runs the program */
	NKG_EV_PROGRESS = 2, /* pages: done so far in this pass */
	NKG_EV_PASS = 3,     /* pass done: pages written, checksum of the vCPU's pages */
	NKG_EV_VERIFY = 4,   /* verify done: pages checked, errors, first_bad_gpa */
	NKG_EV_DONE = 5,     /* about to halt */
	NKG_EV_BAD_BOOT = 6, /* the boot block was not understood */
};

enum nkg_mode {
	NKG_MODE_WRITE = 0,  /* write (and re-dirty) the vCPU's pages, verify if asked */
	NKG_MODE_VERIFY = 1, /* only verify content the host wrote (--fill) */
};

/* Content of guest pages: the same generator runs in the guest and on the
 * host (--fill, and tests that check guest RAM from outside). */
struct nkg_content {
	uint64_t seed;		   /* which pages are which kind, which pattern */
	uint64_t salt;		   /* makes unique pages unique to this VM */
	uint32_t zero_pct;	   /* share of zero pages */
	uint32_t shared_pct;	   /* share of pages from the pattern set (same in every VM) */
	uint32_t patterns;	   /* size of the pattern set, >= 1 */
	uint32_t redirty_permille; /* share of pages rewritten by each later pass */
};

struct nkg_range {
	uint64_t gpa;
	uint64_t pages;
};

struct nkg_work {
	uint32_t n_ranges;
	uint32_t reserved;
	struct nkg_range ranges[NKG_MAX_RANGES];
};

struct nkg_boot {
	uint32_t magic;
	uint32_t version;
	uint32_t n_vcpus;
	uint32_t mode;	    /* enum nkg_mode */
	uint32_t passes;    /* 0: forever (until the VMM stops) */
	uint32_t period_ms; /* sleep between passes */
	uint32_t verify;    /* verify after each pass */
	uint32_t reserved;
	struct nkg_content content;
	struct nkg_work work[NKG_MAX_VCPUS];
};

struct nkg_mailbox {
	uint32_t event;
	uint32_t pass;
	uint64_t pages;
	uint64_t checksum;
	uint64_t errors;
	uint64_t first_bad_gpa;
	uint64_t reserved[3];
};

_Static_assert(sizeof(struct nkg_boot) <= NKG_BOOT_MAX, "boot block too large");
_Static_assert(sizeof(struct nkg_mailbox) == 64, "mailbox is 64 bytes");
_Static_assert(NKG_MAILBOX_GPA + NKG_MAX_VCPUS * 64 <= NKG_BOOT_GPA, "mailboxes overlap");
_Static_assert(NKG_STACK_GPA + NKG_MAX_VCPUS * NKG_STACK_SIZE <= NKG_CODE_GPA, "stacks overlap");
_Static_assert(NKG_PT_GPA + (2 + (1ull << (NKG_MAX_GPA_BITS - 30))) * NKG_PAGE_SIZE <=
		   NKG_SYSTEM_END,
	       "page tables overlap");

#endif
