/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The host and its VMs as Prometheus metrics (the text exposition format,
 * version 0.0.4), from the same readings as `numaksm status`: what
 * `numaksm exporter` serves on /metrics and writes to a textfile.
 */
#ifndef NUMAKSM_TOOL_METRICS_H
#define NUMAKSM_TOOL_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <numaksm/core.h>

#include "json.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A VM as last read in full (nk_vm_read), by its process. */
struct metrics_vm {
	int pid;
	uint64_t start_time; /* tells a reused PID apart */
	struct nk_vm_info *vm;
	double read_at; /* CLOCK_MONOTONIC seconds */
};

/* What one exporter keeps from one scrape to the next. */
struct metrics_state {
	struct tool_ksm_watch watch; /* full scan time, ksmd's CPU now */
	uint64_t scrapes;	     /* scrapes so far (this one included) */
	uint64_t errors;	     /* scrapes that failed, VMs that could not be read */
	double last_duration;	     /* seconds the previous scrape took */
	/* A VM's memory map, pages per node and threads are read again once
	 * they are vm_refresh_s old (0: every scrape), spread evenly over
	 * the scrapes; its KSM figures every scrape. */
	double vm_refresh_s;
	double last_scrape_at; /* CLOCK_MONOTONIC seconds; 0 before the first */
	struct metrics_vm *vms;
	size_t n_vms;
	nk_vm_cache *finder; /* who each VM process is, kept between scrapes */
};

/* Free what the state holds. */
void metrics_state_done(struct metrics_state *state);

/*
 * Read the host (`host`) and every VM on it, and write the metrics to
 * `out`.  A VM that ends meanwhile is left out; one that cannot be read
 * counts in numaksm_exporter_errors_total.
 * @return 0; a negative errno with *err set when the host cannot be read
 * (nothing useful was written).
 */
int metrics_write(nk_host *host, struct metrics_state *state, FILE *out, nk_error **err);

/* A label value escaped as the exposition format wants it (\\, \", \n),
 * into buf; cut at `size`. */
const char *metrics_label_escape(const char *value, char *buf, size_t size);

#endif
