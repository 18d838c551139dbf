/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The threads of a running VMM, read through the host root: which are vCPU
 * threads (by the names VMMs give them), each thread's affinity
 * (Cpus_allowed_list) and the CPU it last ran on (field 39 of stat).
 * Threads come and go: ENOENT while reading one means it ended.
 */
#include "vcpu-internal.h"

#include <ctype.h>
#include <inttypes.h>

/* ---- parsers (no I/O) ------------------------------------------------ */

/* Decimal digits from *s to the end of the vCPU number; -1 when none. */
static long parse_index(const char **s)
{
	long v = 0;
	if (!isdigit((unsigned char)**s))
		return -1;
	for (; isdigit((unsigned char)**s); (*s)++) {
		v = v * 10 + (**s - '0');
		if (v > 1000000)
			return -1;
	}
	return v;
}

enum vmm_kind pin_parse_vcpu_name(const char *comm, unsigned *ret_vcpu)
{
	static const struct {
		const char *prefix, *suffix;
		enum vmm_kind kind;
	} names[] = {
	    {"CPU ", "/KVM", VMM_QEMU},
	    {"CPU ", "/TCG", VMM_QEMU},
	    {"vcpu", "", VMM_CLOUD_HYPERVISOR},
	    {"fc_vcpu ", "", VMM_FIRECRACKER},
	};
	for (size_t i = 0; comm && i < ARRAY_SIZE(names); i++) {
		size_t n = strlen(names[i].prefix);
		const char *s = comm + n;
		if (strncmp(comm, names[i].prefix, n) != 0)
			continue;
		long v = parse_index(&s);
		if (v < 0 || strcmp(s, names[i].suffix) != 0)
			continue;
		*ret_vcpu = (unsigned)v;
		return names[i].kind;
	}
	return VMM_NONE;
}

const char *pin_vmm_kind_name(enum vmm_kind kind)
{
	switch (kind) {
	case VMM_QEMU:
		return "qemu";
	case VMM_CLOUD_HYPERVISOR:
		return "cloud-hypervisor";
	case VMM_FIRECRACKER:
		return "firecracker";
	case VMM_NUMAKSM:
		return "numaksm";
	default:
		return "none";
	}
}

int pin_parse_stat(const char *text, struct pin_stat *ret)
{
	/* The comm is in parentheses and may hold ')' itself: fields start
	 * after the last one.  Field 3 (state) is the first after it. */
	const char *s = text ? strrchr(text, ')') : NULL;
	struct pin_stat st = {.last_cpu = -1};
	bool have_start = false, have_cpu = false;

	if (!s)
		return -EINVAL;
	s++;
	for (unsigned field = 3; *s && field <= 39; field++) {
		while (*s == ' ')
			s++;
		const char *end = s;
		while (*end && *end != ' ' && *end != '\n')
			end++;
		if (end == s)
			break;
		if (field == 22 || field == 39) {
			char num[32];
			uint64_t v;
			if ((size_t)(end - s) >= sizeof(num))
				return -EINVAL;
			memcpy(num, s, (size_t)(end - s));
			num[end - s] = '\0';
			if (nk_parse_u64(num, &v, NULL) < 0)
				return -EINVAL;
			if (field == 22) {
				st.start_time = v;
				have_start = true;
			} else {
				if (v > INT32_MAX)
					return -EINVAL;
				st.last_cpu = (int)v;
				have_cpu = true;
			}
		}
		s = end;
	}
	if (!have_start || !have_cpu)
		return -EINVAL;
	*ret = st;
	return 0;
}

int pin_parse_qemu_name(const char *cmdline, size_t len, char **ret_name)
{
	const char *end = cmdline + len;
	for (const char *a = cmdline; a < end; a += strlen(a) + 1) {
		const char *next = a + strlen(a) + 1;
		if (strcmp(a, "-name") != 0 || next >= end)
			continue;
		/* "-name NAME" or "-name guest=NAME,debug-threads=on" */
		const char *v = next;
		if (strncmp(v, "guest=", 6) == 0)
			v += 6;
		size_t n = strcspn(v, ",");
		char *name = strndup(v, n);
		if (!name)
			return -ENOMEM;
		*ret_name = name;
		return 0;
	}
	*ret_name = NULL;
	return 0;
}

/* ---- reading threads ------------------------------------------------- */

static void vmm_threads_free(struct vmm_thread *threads, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(threads[i].comm);
		nk_bitmap_free(threads[i].affinity);
	}
	free(threads);
}

_nk_export_ nk_pin_vmm *nk_pin_vmm_free(nk_pin_vmm *vmm)
{
	if (!vmm)
		return NULL;
	vmm_threads_free(vmm->threads, vmm->n_threads);
	free(vmm->comm);
	free(vmm);
	return NULL;
}

static void vmm_freep(nk_pin_vmm **v)
{
	nk_pin_vmm_free(*v);
}

int pin_read_start_time(nk_host *host, int pid, uint64_t *ret)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	struct pin_stat st;

	if (asprintf(&path, "/proc/%d/stat", pid) < 0)
		return -ENOMEM;
	int r = nk_host_read(host, path, &text, NULL);
	if (r == -ENOENT || r == -ESRCH)
		return -ESRCH;
	if (r < 0)
		return r;
	if (pin_parse_stat(text, &st) < 0)
		return -EINVAL;
	*ret = st.start_time;
	return 0;
}

/* Read one thread's name, affinity and last CPU.  -ESRCH when it ended. */
static int read_thread(nk_host *host, int pid, int tid, struct vmm_thread *ret, nk_error **err)
{
	_cleanup_free_ char *path = NULL, *comm = NULL, *status = NULL, *stat = NULL, *list = NULL;
	struct pin_stat st;
	nk_bitmap *affinity = NULL;
	int r;

	if (asprintf(&path, "/proc/%d/task/%d/comm", pid, tid) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	r = nk_host_read(host, path, &comm, NULL);
	if (r >= 0) {
		free(path);
		r = asprintf(&path, "/proc/%d/task/%d/status", pid, tid) < 0
			? -ENOMEM
			: nk_host_read(host, path, &status, NULL);
	}
	if (r >= 0) {
		free(path);
		r = asprintf(&path, "/proc/%d/task/%d/stat", pid, tid) < 0
			? -ENOMEM
			: nk_host_read(host, path, &stat, NULL);
	}
	if (r == -ENOENT || r == -ESRCH)
		return -ESRCH;
	if (r < 0)
		return nk_error_set(err, -r, "cannot read %s: %s", path, strerror(-r));
	nk_strip_newline(comm);
	if (nk_parse_keyed_line(status, "Cpus_allowed_list", &list) < 0 ||
	    nk_parse_list(list, "CPU list", &affinity, NULL) < 0)
		return nk_error_set(
		    err, EINVAL, "/proc/%d/task/%d/status: no valid Cpus_allowed_list", pid, tid);
	if (pin_parse_stat(stat, &st) < 0) {
		nk_bitmap_free(affinity);
		return nk_error_set(err, EINVAL, "%s: malformed", path);
	}
	*ret = (struct vmm_thread){
	    .tid = tid,
	    .vcpu = -1,
	    .comm = TAKE_PTR(comm),
	    .affinity = affinity,
	    .last_cpu = st.last_cpu,
	};
	return 0;
}

static int thread_cmp(const void *a, const void *b)
{
	const struct vmm_thread *x = a, *y = b;
	/* vCPU threads first, in vCPU order; then the rest by thread id. */
	if ((x->vcpu < 0) != (y->vcpu < 0))
		return x->vcpu < 0 ? 1 : -1;
	if (x->vcpu != y->vcpu)
		return x->vcpu < y->vcpu ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

/* Read every thread of `pid` and sort out the vCPU threads. */
static int read_threads(nk_host *host, int pid, struct vmm_thread **ret_threads, unsigned *ret_n,
			enum vmm_kind *ret_kind, unsigned *ret_vcpus, nk_error **err)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_strv_ char **tids = NULL;
	struct vmm_thread *threads = NULL;
	enum vmm_kind kind = VMM_NONE;
	unsigned n = 0, vcpus = 0;
	bool mixed = false;

	if (asprintf(&dir, "/proc/%d/task", pid) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	int count = nk_host_list(host, dir, NULL, &tids, NULL);
	if (count == -ENOENT || count == 0)
		return nk_error_set(err, ESRCH, "no process %d", pid);
	if (count < 0)
		return nk_error_set(err, -count, "cannot list %s: %s", dir, strerror(-count));
	threads = calloc((size_t)count, sizeof(*threads));
	if (!threads)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (int i = 0; i < count; i++) {
		long long tid;
		unsigned vcpu;
		if (nk_parse_int(tids[i], 1, INT32_MAX, &tid, NULL) < 0)
			continue;
		int r = read_thread(host, pid, (int)tid, &threads[n], err);
		if (r == -ESRCH)
			continue; /* ended meanwhile */
		if (r < 0) {
			vmm_threads_free(threads, n);
			return r;
		}
		enum vmm_kind k = pin_parse_vcpu_name(threads[n].comm, &vcpu);
		if (k != VMM_NONE) {
			mixed |= kind != VMM_NONE && k != kind;
			kind = k;
			threads[n].vcpu = (int)vcpu;
			vcpus++;
		}
		n++;
	}
	if (n == 0) {
		free(threads);
		return nk_error_set(err, ESRCH, "no process %d", pid);
	}
	qsort(threads, n, sizeof(*threads), thread_cmp);
	*ret_threads = threads;
	*ret_n = n;
	*ret_kind = mixed ? VMM_NONE : kind;
	*ret_vcpus = vcpus;
	return 0;
}

static int check_vcpu_numbers(const nk_pin_vmm *vmm, nk_error **err)
{
	for (unsigned i = 0; i < vmm->n_vcpus; i++)
		if (vmm->threads[i].vcpu != (int)i)
			return nk_error_set(err, ENOTSUP,
					    "process %d (%s): vCPU thread numbers repeat or have "
					    "gaps (thread %d is '%s', expected vCPU %u)",
					    vmm->pid, vmm->comm, vmm->threads[i].tid,
					    vmm->threads[i].comm, i);
	return 0;
}

_nk_export_ int nk_pin_vmm_open(nk_host *host, int pid, nk_pin_vmm **ret, nk_error **err)
{
	_cleanup_(vmm_freep) nk_pin_vmm *vmm = calloc(1, sizeof(*vmm));
	_cleanup_free_ char *path = NULL;
	int r;

	if (!vmm)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (pid <= 0)
		return nk_error_set(err, ESRCH, "no process %d", pid);
	vmm->host = host;
	vmm->pid = pid;
	if (asprintf(&path, "/proc/%d/comm", pid) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	r = nk_host_read(host, path, &vmm->comm, NULL);
	if (r == -ENOENT)
		return nk_error_set(err, ESRCH, "no process %d", pid);
	if (r < 0)
		return nk_error_set(err, -r, "cannot read %s: %s", path, strerror(-r));
	nk_strip_newline(vmm->comm);

	r = read_threads(host, pid, &vmm->threads, &vmm->n_threads, &vmm->kind, &vmm->n_vcpus, err);
	if (r < 0)
		return r;
	if (vmm->n_vcpus == 0 || vmm->kind == VMM_NONE) {
		nk_error_set(err, ENOTSUP,
			     "process %d (%s) is not a VMM: none of its %u threads is named like "
			     "a vCPU thread",
			     pid, vmm->comm, vmm->n_threads);
		return nk_error_hint(err,
				     "vCPU threads are QEMU's and numaksm-vmm's 'CPU n/KVM' or "
				     "'CPU n/TCG', "
				     "Cloud Hypervisor's 'vcpuN' and Firecracker's "
				     "'fc_vcpu N'");
	}
	if (vmm->kind == VMM_QEMU && strcmp(vmm->comm, "numaksm-vmm") == 0)
		vmm->kind = VMM_NUMAKSM;
	r = check_vcpu_numbers(vmm, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(vmm);
	return 0;
}

_nk_export_ int nk_pin_vmm_refresh(nk_pin_vmm *vmm, nk_error **err)
{
	struct vmm_thread *threads = NULL;
	enum vmm_kind kind;
	unsigned n, vcpus;
	int r = read_threads(vmm->host, vmm->pid, &threads, &n, &kind, &vcpus, err);
	if (r < 0)
		return r;
	if (vcpus != vmm->n_vcpus || kind != vmm->kind) {
		vmm_threads_free(threads, n);
		return nk_error_set(err, ESRCH, "process %d (%s): its vCPU threads changed",
				    vmm->pid, vmm->comm);
	}
	vmm_threads_free(vmm->threads, vmm->n_threads);
	vmm->threads = threads;
	vmm->n_threads = n;
	return check_vcpu_numbers(vmm, err);
}

_nk_export_ int nk_pin_vmm_pid(const nk_pin_vmm *vmm)
{
	return vmm->pid;
}

_nk_export_ const char *nk_pin_vmm_kind(const nk_pin_vmm *vmm)
{
	return pin_vmm_kind_name(vmm->kind);
}

_nk_export_ const char *nk_pin_vmm_comm(const nk_pin_vmm *vmm)
{
	return vmm->comm;
}

_nk_export_ unsigned nk_pin_vmm_vcpu_count(const nk_pin_vmm *vmm)
{
	return vmm->n_vcpus;
}

_nk_export_ unsigned nk_pin_vmm_thread_count(const nk_pin_vmm *vmm)
{
	return vmm->n_threads;
}

_nk_export_ int nk_pin_vmm_thread(const nk_pin_vmm *vmm, unsigned index, struct nk_pin_thread *ret)
{
	if (index >= vmm->n_threads)
		return -ERANGE;
	const struct vmm_thread *t = &vmm->threads[index];
	*ret = (struct nk_pin_thread){
	    .tid = t->tid,
	    .vcpu = t->vcpu,
	    .comm = t->comm,
	    .affinity = t->affinity,
	    .last_cpu = t->last_cpu,
	};
	return 0;
}

/* ---- finding a VMM by name ------------------------------------------ */

static bool process_has_name(nk_host *host, int pid, const char *name)
{
	_cleanup_free_ char *path = NULL, *comm = NULL, *cmdline = NULL, *qemu_name = NULL;

	if (asprintf(&path, "/proc/%d/comm", pid) < 0)
		return false;
	if (nk_host_read(host, path, &comm, NULL) >= 0 && strcmp(nk_strip_newline(comm), name) == 0)
		return true;
	free(path);
	if (asprintf(&path, "/proc/%d/cmdline", pid) < 0)
		return false;
	int len = nk_host_read(host, path, &cmdline, NULL);
	if (len <= 0)
		return false;
	const char *slash = strrchr(cmdline, '/');
	if (strcmp(slash ? slash + 1 : cmdline, name) == 0)
		return true;
	return pin_parse_qemu_name(cmdline, (size_t)len, &qemu_name) == 0 && qemu_name &&
	       strcmp(qemu_name, name) == 0;
}

_nk_export_ int nk_pin_vmm_lookup(nk_host *host, const char *pid_or_name, int *ret_pid,
				  nk_error **err)
{
	_cleanup_strv_ char **pids = NULL;
	_cleanup_free_ char *found = NULL;
	size_t found_len = 0;
	long long pid;
	int match = 0, n_match = 0;

	if (!pid_or_name || !*pid_or_name)
		return nk_error_set(err, EINVAL, "empty process name");
	if (strspn(pid_or_name, "0123456789") == strlen(pid_or_name)) {
		if (nk_parse_int(pid_or_name, 1, INT32_MAX, &pid, NULL) < 0)
			return nk_error_set(err, EINVAL, "invalid PID '%s'", pid_or_name);
		uint64_t start;
		if (pin_read_start_time(host, (int)pid, &start) < 0)
			return nk_error_set(err, ESRCH, "no process %lld", pid);
		*ret_pid = (int)pid;
		return 0;
	}
	int n = nk_host_list(host, "/proc", NULL, &pids, err);
	if (n < 0)
		return n;
	FILE *f = open_memstream(&found, &found_len);
	if (!f)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (int i = 0; i < n; i++) {
		nk_pin_vmm *vmm = NULL;
		if (nk_parse_int(pids[i], 1, INT32_MAX, &pid, NULL) < 0 ||
		    !process_has_name(host, (int)pid, pid_or_name) ||
		    nk_pin_vmm_open(host, (int)pid, &vmm, NULL) < 0)
			continue;
		fprintf(f, "%s%lld", n_match ? ", " : "", pid);
		match = (int)pid;
		n_match++;
		nk_pin_vmm_free(vmm);
	}
	if (fclose(f) != 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (n_match == 0) {
		nk_error_set(err, ESRCH, "no VMM process named '%s'", pid_or_name);
		return nk_error_hint(err, "a name matches a process' comm, its program name or "
					  "QEMU's -name; or give the PID");
	}
	if (n_match > 1) {
		nk_error_set(err, ENOTUNIQ, "%d VMM processes are named '%s': PIDs %s", n_match,
			     pid_or_name, found);
		return nk_error_hint(err, "give the PID instead");
	}
	*ret_pid = match;
	return 0;
}
