/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest program numaksm-vmm runs on every vCPU: 64-bit, freestanding,
 * entered with paging on, interrupts off, %rdi = the vCPU number and %rsi =
 * the boot block (see guest-abi.h).  It writes its share of guest RAM with
 * the page generator, re-dirties a fraction on later passes, verifies, and
 * tells the VMM how it went through the mailbox and the event port.
 */
#include "../guest-abi.h"
#include "../pagegen.h"

#define PROGRESS_EVERY 256 /* pages between progress events (1 MiB) */

static inline void outl(uint16_t port, uint32_t value)
{
	__asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static void report(volatile struct nkg_mailbox *mb, uint32_t event)
{
	mb->event = event;
	outl(NKG_PORT_EVENT, event);
}

/* One pass over the vCPU's ranges: write (pass 0: every page; later passes:
 * the re-dirtied ones) and then, if asked, verify every page. */
static void run_pass(const struct nkg_boot *boot, const struct nkg_work *work,
		     volatile struct nkg_mailbox *mb, uint32_t pass)
{
	const struct nkg_content *c = &boot->content;
	uint64_t done = 0, sum = 0;

	if (boot->mode == NKG_MODE_WRITE) {
		for (uint32_t r = 0; r < work->n_ranges; r++) {
			const struct nkg_range *range = &work->ranges[r];
			for (uint64_t p = 0; p < range->pages; p++) {
				uint64_t gfn = range->gpa / NKG_PAGE_SIZE + p, base;
				if (pass > 0 && !nk_pg_redirtied(c, gfn, pass))
					continue;
				enum nk_pg_kind kind = nk_pg_page(c, gfn, pass, &base);
				sum += nk_pg_fill((volatile uint64_t *)(gfn * NKG_PAGE_SIZE), kind,
						  base);
				if (++done % PROGRESS_EVERY == 0) {
					mb->pass = pass;
					mb->pages = done;
					report(mb, NKG_EV_PROGRESS);
				}
			}
		}
		mb->pass = pass;
		mb->pages = done;
		mb->checksum = sum;
		report(mb, NKG_EV_PASS);
	}
	if (!boot->verify && boot->mode == NKG_MODE_WRITE)
		return;

	uint64_t checked = 0, errors = 0, first_bad = 0;
	sum = 0;
	for (uint32_t r = 0; r < work->n_ranges; r++) {
		const struct nkg_range *range = &work->ranges[r];
		for (uint64_t p = 0; p < range->pages; p++) {
			uint64_t gfn = range->gpa / NKG_PAGE_SIZE + p, base;
			uint32_t gen = nk_pg_generation(c, gfn, pass);
			enum nk_pg_kind kind = nk_pg_page(c, gfn, gen, &base);
			if (nk_pg_check((const volatile uint64_t *)(gfn * NKG_PAGE_SIZE), kind,
					base, &sum)) {
				if (!errors)
					first_bad = gfn * NKG_PAGE_SIZE;
				errors++;
			}
			checked++;
		}
	}
	mb->pass = pass;
	mb->pages = checked;
	mb->checksum = sum;
	mb->errors = errors;
	mb->first_bad_gpa = first_bad;
	report(mb, NKG_EV_VERIFY);
}

__attribute__((noreturn, used, section(".text.entry"))) void guest_main(uint64_t vcpu,
									const struct nkg_boot *boot)
{
	volatile struct nkg_mailbox *mb =
	    (volatile struct nkg_mailbox *)(NKG_MAILBOX_GPA + vcpu * sizeof(struct nkg_mailbox));

	if (boot->magic != NKG_BOOT_MAGIC || boot->version != NKG_BOOT_VERSION ||
	    vcpu >= boot->n_vcpus) {
		report(mb, NKG_EV_BAD_BOOT);
		goto halt;
	}
	report(mb, NKG_EV_START);
	const struct nkg_work *work = &boot->work[vcpu];
	uint32_t passes = boot->mode == NKG_MODE_VERIFY ? 1 : boot->passes;
	for (uint32_t pass = 0; passes == 0 || pass < passes; pass++) {
		if (pass > 0 && boot->period_ms)
			outl(NKG_PORT_SLEEP, boot->period_ms);
		run_pass(boot, work, mb, pass);
	}
	report(mb, NKG_EV_DONE);
halt:
	for (;;)
		__asm__ volatile("cli; hlt");
}
