/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /proc/PID/stat (nk_proc_stat_parse): a process names itself (its comm,
 * with any ')' and spaces in it), so this text is partly the user's: the
 * comm comes out printable (nk_escape).  What parses writes back, in the
 * kernel's layout, to a line that parses to the same fields (the comm
 * escaped once more).
 */
#include <inttypes.h>

#include "fuzz.h"
#include "numaksm/proc.h"

static bool same_stat(const struct nk_proc_stat *a, const struct nk_proc_stat *b)
{
	_cleanup_free_ char *twice = nk_escape(a->comm, strlen(a->comm));
	return twice && !strcmp(twice, b->comm) && a->state == b->state && a->ppid == b->ppid &&
	       a->flags == b->flags && a->utime_ticks == b->utime_ticks &&
	       a->stime_ticks == b->stime_ticks && a->cutime_ticks == b->cutime_ticks &&
	       a->cstime_ticks == b->cstime_ticks && a->thread_count == b->thread_count &&
	       a->start_time_ticks == b->start_time_ticks && a->rss_pages == b->rss_pages &&
	       a->last_cpu == b->last_cpu;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_text(data, size), *again = NULL;
	struct nk_proc_stat st = {0}, st2 = {0};

	if (nk_proc_stat_parse(text, &st) < 0)
		return 0;
	/* The comm is what lies between the first '(' and the last ')'. */
	const char *open = strchr(text, '('), *close = strrchr(text, ')');
	FUZZ_CHECK(open && close && open < close, "comm '%s' without its parentheses", st.comm);
	_cleanup_free_ char *comm = nk_escape(open + 1, (size_t)(close - open - 1));
	FUZZ_CHECK(comm && !strcmp(st.comm, comm), "comm '%s', not '%s'", st.comm, comm);
	FUZZ_CHECK(st.ppid >= 0 && st.last_cpu >= -1, "ppid %d, last CPU %d", st.ppid, st.last_cpu);
	FUZZ_CHECK(st.state != ' ' && st.state != '\n' && st.state != '\0', "state %d", st.state);

	/* Fields 1-39 as the kernel writes them; the ones not read are 0. */
	char last_cpu[16] = "";
	if (st.last_cpu >= 0)
		snprintf(last_cpu, sizeof(last_cpu), "%d", st.last_cpu);
	fuzz_asprintf(
	    &again,
	    "1 (%s) %c %d 0 0 0 0 %" PRIu64 " 0 0 0 0 %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
	    " 0 0 %u 0 %" PRIu64 " 0 %" PRIu64 " 0 0 0 0 0 0 0 0 0 0 0 0 0 0 %s\n",
	    st.comm, st.state, st.ppid, st.flags, st.utime_ticks, st.stime_ticks, st.cutime_ticks,
	    st.cstime_ticks, st.thread_count, st.start_time_ticks, st.rss_pages, last_cpu);
	FUZZ_CHECK(nk_proc_stat_parse(again, &st2) == 0, "'%s' does not parse", again);
	FUZZ_CHECK(same_stat(&st, &st2), "'%s' parses to other fields", again);
	nk_proc_stat_done(&st);
	nk_proc_stat_done(&st2);
	return 0;
}
