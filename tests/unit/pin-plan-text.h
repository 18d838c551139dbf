/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Everything a vCPU plan says, as one string (equal strings, equal plans),
 * for the planner tests' determinism checks.
 */
#ifndef NUMAKSM_TEST_PIN_PLAN_TEXT_H
#define NUMAKSM_TEST_PIN_PLAN_TEXT_H

#include <stdio.h>
#include <stdlib.h>

#include <numaksm/vcpu.h>

static inline char *pin_plan_text(const nk_pin_plan *plan)
{
	char *text = NULL, *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		abort();
	for (unsigned i = 0; i < nk_pin_plan_vcpu_count(plan); i++) {
		struct nk_pin_vcpu v;
		if (nk_pin_plan_vcpu(plan, i, &v) < 0 || nk_bitmap_format(v.cpus, &s) < 0)
			abort();
		fprintf(f, "%u:%u:%d:%d:%s ", i, v.guest_node, v.memory_node, v.host_node, s);
		free(s);
	}
	const nk_bitmap *sets[] = {nk_pin_plan_emulator_cpus(plan), nk_pin_plan_reserved_cpus(plan),
				   nk_pin_plan_dedicated_cpus(plan), nk_pin_plan_shared_cpus(plan)};
	for (size_t i = 0; i < 4; i++) {
		if (nk_bitmap_format(sets[i], &s) < 0)
			abort();
		fprintf(f, "|%s", s);
		free(s);
	}
	for (char *const *n = nk_pin_plan_notes(plan); *n; n++)
		fprintf(f, "|%s", *n);
	fclose(f);
	return text;
}

#endif
