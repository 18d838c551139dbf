/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Processes as /proc shows them (include/numaksm/proc.h): the one scanner,
 * the one /proc/PID/stat parser, CPU time, and the parsers of smaps and
 * /proc/PID/cgroup.  Parsers take strings; the readers go through the host
 * root and turn ENOENT/ESRCH into -ESRCH, "gone", as crun's
 * read_pids_cgroup does.
 */
#include "basic.h"
#include "pagemap-internal.h"
#include "numaksm/proc.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>

/* ---- reading ------------------------------------------------------------ */

_nk_export_ int nk_proc_read(nk_host *host, int pid, const char *file, char **ret_text,
			     nk_error **err)
{
	char path[96];
	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	int r = nk_host_read(host, path, ret_text, NULL);
	if (r == -ENOENT || r == -ESRCH)
		return -ESRCH;
	if (r < 0) {
		nk_error_set(err, -r, "cannot read %s: %s", path, strerror(-r));
		if (r == -EACCES || r == -EPERM)
			nk_error_hint(err, "run as root");
	}
	return r;
}

_nk_export_ int nk_proc_stat_read(nk_host *host, int pid, int tid, struct nk_proc_stat *ret,
				  nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	char file[48];

	if (tid > 0)
		snprintf(file, sizeof(file), "task/%d/stat", tid);
	else
		snprintf(file, sizeof(file), "stat");
	int r = nk_proc_read(host, pid, file, &text, err);
	if (r < 0)
		return r;
	if (r == 0)
		return -ESRCH; /* read as the process was reaped */
	r = nk_proc_stat_parse(text, ret);
	if (r == -ENOMEM)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (r < 0)
		return nk_error_set(err, EINVAL, "/proc/%d/%s: malformed", pid, file);
	return 0;
}

static int by_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return x < y ? -1 : x > y;
}

/* The numeric names of a /proc directory, ascending. */
static int numeric_names(nk_host *host, const char *dir, int **ret, nk_error **err)
{
	_cleanup_strv_ char **names = NULL;
	int n = nk_host_list(host, dir, NULL, &names, err);
	if (n < 0)
		return n;
	_cleanup_free_ int *ids = calloc((size_t)n + 1, sizeof(*ids));
	if (!ids)
		return nk_error_set(err, ENOMEM, "out of memory");
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		long long id;
		if (names[i][0] >= '1' && names[i][0] <= '9' &&
		    nk_parse_int(names[i], 1, INT32_MAX, &id, NULL) == 0)
			ids[k++] = (int)id;
	}
	qsort(ids, k, sizeof(*ids), by_int);
	*ret = TAKE_PTR(ids);
	return (int)k;
}

_nk_export_ int nk_proc_pids(nk_host *host, int **ret_pids, nk_error **err)
{
	return numeric_names(host, "/proc", ret_pids, err);
}

_nk_export_ int nk_proc_tids(nk_host *host, int pid, int **ret_tids, nk_error **err)
{
	char dir[48];
	_cleanup_free_ int *tids = NULL;
	snprintf(dir, sizeof(dir), "/proc/%d/task", pid);
	int n = numeric_names(host, dir, &tids, NULL);
	if (n == -ENOENT || n == 0)
		return -ESRCH;
	if (n < 0)
		return nk_error_set(err, -n, "cannot list %s: %s", dir, strerror(-n));
	*ret_tids = TAKE_PTR(tids);
	return n;
}

_nk_export_ int nk_proc_find(nk_host *host, const char *comm, bool kernel_thread, pid_t *ret_pid)
{
	_cleanup_free_ int *pids = NULL;
	int n = nk_proc_pids(host, &pids, NULL);

	for (int i = 0; i < n; i++) {
		struct nk_proc_stat st;
		if (nk_proc_stat_read(host, pids[i], 0, &st, NULL) < 0)
			continue;
		bool match = strcmp(st.comm, comm) == 0 &&
			     !!(st.flags & NK_PROC_PF_KTHREAD) == kernel_thread;
		nk_proc_stat_done(&st);
		if (match) {
			*ret_pid = (pid_t)pids[i];
			return 0;
		}
	}
	return -ESRCH;
}

/* The first number of /proc/PID/schedstat: nanoseconds on the CPU. */
static int schedstat_ns(const char *text, uint64_t *ret_ns)
{
	size_t len = strcspn(text, " \n");
	return nk_parse_token_u64(text, len, ret_ns);
}

_nk_export_ int nk_proc_cputime_read(nk_host *host, pid_t pid, struct nk_proc_cputime *ret,
				     nk_error **err)
{
	_cleanup_free_ char *sched = NULL;
	struct nk_proc_stat st;
	struct nk_proc_cputime c = {0};

	int r = nk_proc_stat_read(host, (int)pid, 0, &st, err);
	if (r == -ESRCH)
		return nk_error_set(err, ESRCH, "process %d is gone", (int)pid);
	if (r < 0)
		return r;
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t ns_per_tick = 1000000000ull / (uint64_t)(hz > 0 ? hz : 100);
	c.run_ns = (st.utime_ticks + st.stime_ticks) * ns_per_tick;
	c.children_ns = (st.cutime_ticks + st.cstime_ticks) * ns_per_tick;
	nk_proc_stat_done(&st);
	/* schedstat counts nanoseconds; stat only clock ticks (10 ms), too
	 * coarse for a budget of a few percent over a second. */
	if (nk_proc_read(host, (int)pid, "schedstat", &sched, NULL) > 0 &&
	    schedstat_ns(sched, &c.run_ns) == 0)
		c.precise = true;
	*ret = c;
	return 0;
}

/* ---- /proc/PID/stat ----------------------------------------------------- */

_nk_export_ void nk_proc_stat_done(struct nk_proc_stat *st)
{
	free(st->comm);
	st->comm = NULL;
}

_nk_export_ int nk_proc_stat_parse(const char *text, struct nk_proc_stat *ret)
{
	/* The comm is in parentheses and may hold ')' itself: the fields
	 * start after the last one.  Field 3 (state) is the first after it. */
	const char *open = text ? strchr(text, '(') : NULL;
	const char *close = text ? strrchr(text, ')') : NULL;
	struct nk_proc_stat st = {.last_cpu = -1};
	unsigned field = 3;

	if (!open || !close || close < open || open == text)
		return -EINVAL;
	for (const char *s = close + 1; field <= 39; field++) {
		while (*s == ' ')
			s++;
		const char *end = s + strcspn(s, " \n");
		size_t len = (size_t)(end - s);
		long long v;
		uint64_t u;
		if (len == 0)
			break;
		switch (field) {
		case 3:
			if (len != 1)
				return -EINVAL;
			st.state = *s;
			break;
		case 4:
		case 39:
			if (nk_parse_token_int(s, len, 0, INT32_MAX, &v) < 0)
				return -EINVAL;
			*(field == 4 ? &st.ppid : &st.last_cpu) = (int)v;
			break;
		case 9:
		case 14:
		case 15:
		case 16:
		case 17:
		case 20:
		case 22:
		case 24: {
			static const size_t offsets[] = {
			    [9] = offsetof(struct nk_proc_stat, flags),
			    [14] = offsetof(struct nk_proc_stat, utime_ticks),
			    [15] = offsetof(struct nk_proc_stat, stime_ticks),
			    [16] = offsetof(struct nk_proc_stat, cutime_ticks),
			    [17] = offsetof(struct nk_proc_stat, cstime_ticks),
			    [22] = offsetof(struct nk_proc_stat, start_time_ticks),
			    [24] = offsetof(struct nk_proc_stat, rss_pages),
			};
			if (nk_parse_token_u64(s, len, &u) < 0)
				return -EINVAL;
			if (field == 20)
				st.thread_count = u > UINT32_MAX ? UINT32_MAX : (unsigned)u;
			else
				*(uint64_t *)((char *)&st + offsets[field]) = u;
			break;
		}
		}
		s = end;
	}
	if (field <= 24)
		return -EINVAL; /* cut before the fields every reader needs */
	/* Any user names their process: kept printable (nk_escape). */
	st.comm = nk_escape(open + 1, (size_t)(close - open - 1));
	if (!st.comm)
		return -ENOMEM;
	*ret = st;
	return 0;
}

/* ---- who runs it ------------------------------------------------------- */

_nk_export_ int nk_proc_status_uids(const char *text, uid_t *ret_real, uid_t *ret_effective)
{
	const char *line = text;
	while (line && strncmp(line, "Uid:", 4) != 0) {
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	if (!line)
		return -EINVAL;
	uint64_t ids[2];
	const char *p = line + 4;
	for (int i = 0; i < 2; i++) {
		p += strspn(p, " \t");
		size_t n = strspn(p, "0123456789");
		if (n == 0 || nk_parse_token_u64(p, n, &ids[i]) < 0 || ids[i] > UINT32_MAX - 1)
			return -EINVAL;
		p += n;
	}
	*ret_real = (uid_t)ids[0];
	*ret_effective = (uid_t)ids[1];
	return 0;
}

_nk_export_ int nk_proc_holds_kvm_vm(nk_host *host, int pid)
{
	_cleanup_strv_ char **fds = NULL;
	char dir[64], path[96], target[64];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	int n = nk_host_list(host, dir, NULL, &fds, NULL);
	if (n == -ENOENT)
		return -ESRCH;
	if (n < 0)
		return n == -EPERM ? -EACCES : n;
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, fds[i]);
		if (nk_host_readlink(host, path, target, sizeof(target)) > 0 &&
		    strcmp(target, "anon_inode:kvm-vm") == 0)
			return 1;
	}
	return 0;
}

/* ---- smaps -------------------------------------------------------------- */

_nk_export_ void nk_proc_vmas_free(struct nk_proc_vma *vmas, size_t n)
{
	for (size_t i = 0; vmas && i < n; i++)
		free(vmas[i].name);
	free(vmas);
}

/* "start-end perms offset dev inode [name]" */
static int parse_vma_header(const char *line, size_t len, struct nk_proc_vma *ret)
{
	const char *p = line, *end = line + len;
	struct nk_proc_vma v = {0};
	char *e;

	errno = 0;
	v.start = strtoull(p, &e, 16);
	if (e == p || *e != '-' || errno)
		return -EINVAL;
	p = e + 1;
	v.end = strtoull(p, &e, 16);
	if (e == p || *e != ' ' || errno || v.end < v.start)
		return -EINVAL;
	p = e + 1;
	if (end - p < 5 || p[4] != ' ')
		return -EINVAL;
	memcpy(v.perms, p, 4);
	p += 5;
	/* offset, device, inode */
	for (int f = 0; f < 3; f++) {
		const char *s = p;
		while (p < end && *p != ' ')
			p++;
		if (p == s)
			return -EINVAL;
		while (p < end && *p == ' ')
			p++;
	}
	v.name = nk_escape(p, (size_t)(end - p)); /* a memfd's name is anyone's */
	if (!v.name)
		return -ENOMEM;
	*ret = v;
	return 0;
}

/* "Key:   123 kB" -> bytes */
static int kb_value(const char *p, const char *end, uint64_t *ret)
{
	uint64_t kb;
	while (p < end && *p == ' ')
		p++;
	const char *s = p;
	while (p < end && isdigit((unsigned char)*p))
		p++;
	if (nk_parse_token_u64(s, (size_t)(p - s), &kb) < 0 || kb > UINT64_MAX / 1024)
		return -EINVAL;
	while (p < end && *p == ' ')
		p++;
	if (end - p != 2 || strncmp(p, "kB", 2) != 0)
		return -EINVAL;
	*ret = kb * 1024;
	return 0;
}

static bool has_flag(const char *flags, const char *end, const char *flag)
{
	size_t n = strlen(flag);
	for (const char *p = flags; p + n <= end; p++)
		if ((p == flags || p[-1] == ' ') && strncmp(p, flag, n) == 0 &&
		    (p + n == end || p[n] == ' '))
			return true;
	return false;
}

static int vma_line(struct nk_proc_vma *v, const char *line, const char *end, bool *ret_last)
{
	static const struct {
		const char *key;
		size_t offset;
	} keys[] = {
	    {"Rss:", offsetof(struct nk_proc_vma, rss_bytes)},
	    {"AnonHugePages:", offsetof(struct nk_proc_vma, anon_thp_bytes)},
	    {"ShmemPmdMapped:", offsetof(struct nk_proc_vma, shmem_pmd_bytes)},
	    {"FilePmdMapped:", offsetof(struct nk_proc_vma, file_pmd_bytes)},
	    {"KSM:", offsetof(struct nk_proc_vma, ksm_bytes)},
	    {"KernelPageSize:", offsetof(struct nk_proc_vma, kernel_page_size)},
	    {"Anonymous:", offsetof(struct nk_proc_vma, anon_bytes)},
	    {"Swap:", offsetof(struct nk_proc_vma, swap_bytes)},
	};
	if (strncmp(line, "VmFlags:", 8) == 0) {
		v->mergeable = has_flag(line + 8, end, "mg");
		v->hugetlb_vma = has_flag(line + 8, end, "ht");
		*ret_last = true;
		return 0;
	}
	if (strncmp(line, "KSM:", 4) == 0)
		v->has_ksm = true;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		size_t n = strlen(keys[i].key);
		if (strncmp(line, keys[i].key, n) == 0)
			return kb_value(line + n, end, (uint64_t *)((char *)v + keys[i].offset));
	}
	if (strncmp(line, "Shared_Hugetlb:", 15) == 0 ||
	    strncmp(line, "Private_Hugetlb:", 16) == 0) {
		uint64_t b;
		int r = kb_value(strchr(line, ':') + 1, end, &b);
		if (r < 0)
			return r;
		v->hugetlb_bytes += b;
		return 0;
	}
	/* Other keys (Size, Pss, SwapPss, THPeligible...) are not needed; a line
	 * without a colon is not an smaps line at all. */
	return memchr(line, ':', (size_t)(end - line)) ? 0 : -EINVAL;
}

_nk_export_ int nk_proc_smaps_parse(const char *text, struct nk_proc_vma **ret_vmas, size_t *ret_n)
{
	struct nk_proc_vma *vmas = NULL;
	size_t n = 0, cap = 0;
	bool open_vma = false;
	int r = 0;

	if (!text)
		return -EINVAL;
	for (const char *line = text; *line;) {
		const char *end = line + strcspn(line, "\n");
		bool header = isxdigit((unsigned char)*line) && !isupper((unsigned char)*line);
		if (header) {
			if (open_vma) {
				r = -EINVAL; /* the previous mapping had no VmFlags */
				break;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				struct nk_proc_vma *nv = realloc(vmas, cap * sizeof(*nv));
				if (!nv) {
					r = -ENOMEM;
					break;
				}
				vmas = nv;
			}
			r = parse_vma_header(line, (size_t)(end - line), &vmas[n]);
			if (r < 0)
				break;
			n++;
			open_vma = true;
		} else if (end > line) {
			bool last = false;
			if (!open_vma) {
				r = -EINVAL;
				break;
			}
			r = vma_line(&vmas[n - 1], line, end, &last);
			if (r < 0)
				break;
			if (last)
				open_vma = false;
		}
		line = *end ? end + 1 : end;
	}
	if (r == 0 && open_vma)
		r = -EINVAL; /* truncated inside the last mapping */
	if (r < 0) {
		nk_proc_vmas_free(vmas, n);
		return r;
	}
	*ret_vmas = vmas;
	*ret_n = n;
	return 0;
}

/* ---- /proc/PID/cgroup --------------------------------------------------- */

_nk_export_ void nk_proc_cgroups_free(struct nk_proc_cgroup *cgroups, size_t n)
{
	for (size_t i = 0; cgroups && i < n; i++) {
		free(cgroups[i].controllers);
		free(cgroups[i].path);
	}
	free(cgroups);
}

_nk_export_ int nk_proc_cgroup_parse(const char *text, struct nk_proc_cgroup **ret, size_t *ret_n)
{
	struct nk_proc_cgroup *cg = NULL;
	size_t n = 0;
	int r = 0;

	if (!text)
		return -EINVAL;
	for (const char *line = text; *line && r == 0;) {
		const char *end = line + strcspn(line, "\n");
		const char *c1 = memchr(line, ':', (size_t)(end - line));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		long long id;
		if (end == line) {
			line = *end ? end + 1 : end;
			continue;
		}
		if (!c2 || c2 + 1 == end || c2[1] != '/' ||
		    nk_parse_token_int(line, (size_t)(c1 - line), 0, INT32_MAX, &id) < 0) {
			r = -EINVAL;
			break;
		}
		struct nk_proc_cgroup *ncg = realloc(cg, (n + 1) * sizeof(*ncg));
		if (!ncg) {
			r = -ENOMEM;
			break;
		}
		cg = ncg;
		cg[n] = (struct nk_proc_cgroup){
		    .hierarchy = (unsigned)id,
		    .controllers = strndup(c1 + 1, (size_t)(c2 - c1 - 1)),
		    .path = strndup(c2 + 1, (size_t)(end - c2 - 1)),
		};
		if (!cg[n++].controllers || !cg[n - 1].path)
			r = -ENOMEM;
		line = *end ? end + 1 : end;
	}
	if (r == 0 && n == 0)
		r = -EINVAL;
	if (r < 0) {
		nk_proc_cgroups_free(cg, n);
		return r;
	}
	*ret = cg;
	*ret_n = n;
	return 0;
}

_nk_export_ const char *nk_proc_cgroup_path(const struct nk_proc_cgroup *cgroups, size_t n,
					    const char *controller)
{
	size_t len = strlen(controller);
	for (size_t i = 0; i < n; i++) {
		const char *c = cgroups[i].controllers;
		if (!*controller && cgroups[i].hierarchy == 0 && !*c)
			return cgroups[i].path;
		for (const char *p = c; *controller && p && *p;
		     p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
			if (strncmp(p, controller, len) == 0 && (p[len] == ',' || !p[len]))
				return cgroups[i].path;
	}
	return NULL;
}

int pagemap_open(pid_t pid, nk_error **err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	int r = errno;
	return r == ENOENT ? -ESRCH : nk_error_set(err, r, "cannot read %s: %s", path, strerror(r));
}
