/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The placement options of `numaksm pin` (cmd-pin.c), shared with
 * `numaksm libvirt apply`, which plans the same way for a libvirt domain.
 */
#ifndef NUMAKSM_TOOL_PIN_H
#define NUMAKSM_TOOL_PIN_H

#include <stdbool.h>
#include <stdint.h>

#include <numaksm/vcpu.h>

enum pin_format { FORMAT_TEXT, FORMAT_JSON, FORMAT_LIBVIRT, FORMAT_VIRSH };

/* Which command an option belongs to. */
enum {
	PIN_FOR_SHOW = 1 << 0,
	PIN_FOR_PLAN = 1 << 1,
	PIN_FOR_APPLY = 1 << 2,	  /* pin apply */
	PIN_FOR_LIBVIRT = 1 << 3, /* libvirt apply */
	PIN_FOR_RECORD = 1 << 4,  /* pin record, pin release */
};

struct pin_args {
	struct nk_pin_request req;
	bool vcpus_set;
	nk_bitmap *nodes;
	unsigned n_guest_nodes; /* --guest-nodes; 0: one per --nodes node */
	nk_bitmap *housekeeping;
	struct nk_pin_guest_node *guest_nodes;
	const char *topology;
	const char *synthetic;
	const char *root;
	const char *name;
	const char *target;
	bool json;
	enum pin_format format;
	uint64_t memory_kib; /* --memory; 0 when not given */
	uint64_t page_kib;   /* --hugepages; 0 for none */
	const char *domain;  /* --domain (--format virsh) */
	bool live;	     /* libvirt apply --live */
	bool dry_run;	     /* libvirt apply --dry-run */
	const char *connect; /* libvirt apply --connect URI */
};

/*
 * Parse the options of `cmd` ("pin plan", "libvirt apply"), those of the
 * commands in `who`, the first argument left in a->target.  Returns 0, 1
 * when --help was asked for, or a negative errno with *err set.
 */
int tool_pin_parse(int argc, char **argv, const char *cmd, unsigned who, struct pin_args *a,
		   nk_error **err);
void tool_pin_args_release(struct pin_args *a);

/* The request's guest nodes from --nodes: the vCPUs split evenly in whole guest cores. */
int tool_pin_build_guest_nodes(struct pin_args *a, nk_error **err);

/* The topology of --topology, --synthetic, or the host's. */
int tool_pin_load_topology(const struct pin_args *a, nk_host *host, nk_topo **ret, nk_error **err);

#endif
