/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Whether a VM is pinned, for status and the exporter: its entry in the
 * pinning state (pins.json) and its vCPU threads off that plan.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <numaksm/rundir.h>
#include <numaksm/vcpu.h>
#include <numaksm/vm.h>

#include "tool.h"

nk_pin_state *tool_pins_open(nk_host *host)
{
	/* Only when numaksm has pinned a VM (pins.json exists): without it the
	 * state would be rebuilt from every process's threads. */
	nk_pin_state *pins = NULL;
	nk_rundir *rundir = NULL;
	bool has_pins =
	    nk_host_is_live(host) && nk_rundir_open(NULL, 0, &rundir, NULL) == 0 &&
	    faccessat(nk_rundir_fd(rundir), "pins.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	nk_rundir_free(rundir);
	if (has_pins && nk_pin_state_open(host, NULL, 0, &pins, NULL) < 0)
		pins = NULL;
	return pins;
}

bool tool_vm_pinning(const nk_pin_state *pins, const struct nk_vm_info *vm, unsigned *ret_off_plan)
{
	struct nk_pin_entry e;
	*ret_off_plan = 0;
	for (unsigned i = 0; pins && nk_pin_state_entry(pins, i, &e) == 0; i++) {
		if (e.pid != vm->ref.pid)
			continue;
		for (size_t t = 0; vm->has_threads && t < vm->threads.vcpu_count; t++) {
			const struct nk_vm_thread *th = &vm->threads.threads[t];
			bool planned = th->affinity && nk_bitmap_weight(th->affinity) &&
				       (nk_bitmap_is_subset(th->affinity, e.dedicated) ||
					nk_bitmap_is_subset(th->affinity, e.shared));
			bool ran_there = th->last_cpu < 0 ||
					 nk_bitmap_test(e.dedicated, (unsigned)th->last_cpu) ||
					 nk_bitmap_test(e.shared, (unsigned)th->last_cpu);
			if (!planned || !ran_there)
				(*ret_off_plan)++;
		}
		return true;
	}
	return false;
}

int tool_find_vms(nk_host *host, char *const *names, int n_names, struct nk_vm_ref **ret,
		  size_t *ret_n, nk_error **err)
{
	if (n_names == 0) {
		int n = nk_vm_find_all(host, ret, err);
		if (n < 0)
			return n;
		*ret_n = (size_t)n;
		return 0;
	}
	struct nk_vm_ref *refs = calloc((size_t)n_names, sizeof(*refs));
	if (!refs)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (int i = 0; i < n_names; i++) {
		int r = nk_vm_lookup(host, names[i], &refs[i], err);
		if (r < 0) {
			nk_vm_refs_free(refs, (size_t)i);
			return r;
		}
	}
	*ret = refs;
	*ret_n = (size_t)n_names;
	return 0;
}
