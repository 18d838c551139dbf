/* SPDX-License-Identifier: GPL-2.0-or-later */
/* numaksm-bench ksm: the fleet of host-filled processes and its content. */
#ifndef NUMAKSM_BENCH_KSM_H
#define NUMAKSM_BENCH_KSM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <numaksm/core.h>

/* What each fleet process holds, in 16-page chunks laid out at random
 * (the same seed gives the same content every time). */
struct fleet_config {
	unsigned vms;
	uint64_t vm_bytes;
	double image_share, zero_share, volatile_share; /* unique: the rest */
	double redirty_s;				/* how often the volatile pages change */
	uint64_t seed;
	const char *kernel_path, *initrd_path; /* NULL: the newest in /boot */
};

/* The shared image: Debian's kernel and the files of its initrd, each
 * starting on a page, as a guest's page cache would hold them. */
struct fleet_image {
	uint8_t *pages;
	uint64_t n_pages;
	unsigned n_files;
	char source[256]; /* what it was made of, for the report */
};

int fleet_image_load(const struct fleet_config *c, struct fleet_image *ret, nk_error **err);
void fleet_image_done(struct fleet_image *image);

/* Chunk counts per process after fitting the image. */
struct fleet_layout {
	uint64_t chunks, image, zero, unique, volatile_;
};
void fleet_layout_compute(const struct fleet_config *c, const struct fleet_image *image,
			  struct fleet_layout *ret);

/* Pages KSM can save on the fleet's content: every page whose content
 * appears k >= 2 times saves k - ceil(k / max_page_sharing) (all k of the
 * zero pages with use_zero_pages). */
uint64_t fleet_achievable_pages(const struct fleet_config *c, const struct fleet_image *image,
				uint64_t max_page_sharing, bool use_zero_pages);

/* A running fleet: one process per VM, each with a mergeable zone. */
struct fleet {
	pid_t *pids;
	uint64_t *addrs;  /* where each process's zone is mapped */
	int *pagemap_fds; /* /proc/PID/pagemap of each */
	uint64_t bytes;	  /* size of each zone */
	uint64_t *seen;	  /* scratch for fleet_saved_pages() */
	uint64_t seen_size;
	unsigned n;
	bool attached;	   /* running VMs of their own: never stopped here */
	uint64_t zero_pfn; /* the shared zero page's frame, not a saving (0: none) */
};

/* Start the processes (fleet-vm0, fleet-vm1, ...) and wait until every one
 * has created and filled its zone. */
int fleet_start(const struct fleet_config *c, const struct fleet_image *image, struct fleet *ret,
		nk_error **err);
void fleet_stop(struct fleet *f);

/* Attach to running VMs instead (numaksm-vmm, QEMU, ...), by name or PID:
 * each one's guest RAM is its largest mergeable mapping, and they must all
 * be of one size.  fleet_stop() then only lets go of them. */
int fleet_attach(nk_host *host, char *const *names, unsigned n, struct fleet *ret, nk_error **err);

/* Pages the fleet saves among itself, exactly: its present pages minus the
 * distinct physical pages they map (from /proc/PID/pagemap, as root).
 * Sharing with processes outside the fleet does not count, just as the
 * achievable saving does not count it.  -errno when a pagemap is unreadable. */
int64_t fleet_saved_pages(struct fleet *f);

#endif
