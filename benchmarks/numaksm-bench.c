/* SPDX-License-Identifier: GPL-2.0-or-later */
/* numaksm-bench: benchmarks measured side by side against real peers. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static const struct {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
} benches[] = {
    {"prefault", "create and prefault a zone vs one thread, QEMU prealloc and the write limit",
     bench_prefault},
    {"ksm", "KSM savings on one fleet: kernel defaults, ksmtuned, the advisor, numaksm's tuner",
     bench_ksm},
};

int main(int argc, char **argv)
{
	if (argc >= 2)
		for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
			if (!strcmp(argv[1], benches[i].name))
				return benches[i].run(argc - 1, argv + 1);
	fprintf(argc >= 2 ? stderr : stdout, "Usage: numaksm-bench BENCHMARK [OPTIONS]\n\n");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		fprintf(argc >= 2 ? stderr : stdout, "  %-10s %s\n", benches[i].name,
			benches[i].summary);
	return argc >= 2 ? 2 : 0;
}
