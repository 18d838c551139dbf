/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "Uid:" line of /proc/PID/status (nk_proc_status_uids), from which a
 * VM's owner is judged: a user names the process on the line above it.
 * The ids read are real ones (not -1, the kernel's "unset"), and the ids
 * written back in the kernel's layout, under a hostile name, read the same.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "numaksm/proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size), *again = NULL;
	uid_t real, effective, real2, effective2;

	if (nk_proc_status_uids(text, &real, &effective) < 0)
		return 0;
	FUZZ_CHECK(real != (uid_t)-1 && effective != (uid_t)-1, "uids %u %u", (unsigned)real,
		   (unsigned)effective);
	/* They are the first line that starts with "Uid:", not a name's. */
	const char *line = text;
	while (strncmp(line, "Uid:", 4) != 0) {
		line = strchr(line, '\n');
		FUZZ_CHECK(line, "ids %u %u without a Uid: line", (unsigned)real,
			   (unsigned)effective);
		line++;
	}
	unsigned long long r, e;
	FUZZ_CHECK(sscanf(line + 4, "%llu %llu", &r, &e) == 2 && r == real && e == effective,
		   "ids %u %u from '%.40s'", (unsigned)real, (unsigned)effective, line);
	fuzz_asprintf(&again,
		      "Name:\tUid: 0 0\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t%u\t%u\t%u\t%u\n",
		      (unsigned)real, (unsigned)effective, 0u, 0u);
	FUZZ_CHECK(nk_proc_status_uids(again, &real2, &effective2) == 0 && real2 == real &&
		       effective2 == effective,
		   "'%s' reads otherwise", again);
	return 0;
}
