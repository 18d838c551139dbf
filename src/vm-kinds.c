/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kind table: every VMM numaksm recognises, in one place.  An entry
 * says which programs it is, where its command line names the VM and sizes
 * its RAM, and how it names its vCPU threads.  Adding a VMM is one entry
 * here and, when its command line differs from the others', its parsers.
 */
#include "vm-internal.h"

#include <ctype.h>

/* ---- command lines ------------------------------------------------------- */

/* Each argument of a NUL-separated command line.  The last one may run to
 * the end without a NUL (a cut command line, or one a process rewrote):
 * an argument is read as its arg_len() bytes, never past `len`. */
#define for_each_arg(a, cmdline, len)                                                              \
	for (const char *a = (cmdline), *a##_end = (cmdline) + (len); a < a##_end;                 \
	     a += arg_len(a, a##_end) + 1)

static size_t arg_len(const char *a, const char *end)
{
	return strnlen(a, (size_t)(end - a));
}

/* Whether the argument `a` of `n` bytes is `s`, or starts with `s` and '='. */
static bool arg_is(const char *a, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(a, s, n) == 0;
}

static bool arg_is_assignment(const char *a, size_t n, const char *s)
{
	size_t k = strlen(s);
	return n > k && memcmp(a, s, k) == 0 && a[k] == '=';
}

int vm_cmdline_option(const char *cmdline, size_t len, const char *option, char **ret_value)
{
	const char *end = cmdline + len;
	size_t n = strlen(option);

	*ret_value = NULL;
	for_each_arg(a, cmdline, len)
	{
		size_t a_len = arg_len(a, end);
		const char *v = NULL, *next = a + a_len + 1;
		if (arg_is(a, a_len, option) && next < end)
			v = next;
		else if (arg_is_assignment(a, a_len, option))
			v = a + n + 1;
		if (!v)
			continue;
		char *copy = strndup(v, (size_t)(end - v));
		if (!copy)
			return -ENOMEM;
		*ret_value = copy;
		return 0;
	}
	return 0;
}

/* QEMU's "-name NAME" or "-name guest=NAME,debug-threads=on". */
static int qemu_name(const char *cmdline, size_t len, char **ret_name)
{
	_cleanup_free_ char *value = NULL;
	int r = vm_cmdline_option(cmdline, len, "-name", &value);
	if (r < 0 || !value) {
		*ret_name = NULL;
		return r;
	}
	const char *v = strncmp(value, "guest=", 6) == 0 ? value + 6 : value;
	*ret_name = strndup(v, strcspn(v, ","));
	return *ret_name ? 0 : -ENOMEM;
}

static int firecracker_name(const char *cmdline, size_t len, char **ret_name)
{
	return vm_cmdline_option(cmdline, len, "--id", ret_name);
}

static int numaksm_name(const char *cmdline, size_t len, char **ret_name)
{
	return vm_cmdline_option(cmdline, len, "--name", ret_name);
}

/* "size=4G,slots=2" or "4G": the size item of a comma list. */
static int size_item(const char *value, bool mib_default, uint64_t *ret)
{
	_cleanup_free_ char *copy = strdup(value);
	char *save = NULL;
	if (!copy)
		return -ENOMEM;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		if (strncmp(item, "size=", 5) == 0)
			item += 5;
		else if (strchr(item, '='))
			continue;
		uint64_t v;
		if (mib_default && strspn(item, "0123456789") == strlen(item)) {
			if (nk_parse_u64(item, &v, NULL) < 0 || v > UINT64_MAX >> 20)
				return -EINVAL;
			*ret = v << 20;
			return 0;
		}
		if (nk_parse_size(item, &v, NULL) < 0)
			return -EINVAL;
		*ret = v;
		return 0;
	}
	return -ENOENT;
}

/* The size of `option`'s value, megabytes when it has no unit and `mib`. */
static int option_size(const char *cmdline, size_t len, const char *option, bool mib,
		       uint64_t *ret_bytes)
{
	_cleanup_free_ char *value = NULL;
	uint64_t bytes = 0;
	int r = vm_cmdline_option(cmdline, len, option, &value);
	if (r < 0)
		return r;
	if (value && size_item(value, mib, &bytes) == -ENOMEM)
		return -ENOMEM;
	*ret_bytes = bytes; /* a size we cannot read is an unknown size */
	return 0;
}

static int qemu_ram(const char *cmdline, size_t len, uint64_t *ret_bytes)
{
	return option_size(cmdline, len, "-m", true, ret_bytes);
}

static int cloud_hypervisor_ram(const char *cmdline, size_t len, uint64_t *ret_bytes)
{
	return option_size(cmdline, len, "--memory", false, ret_bytes);
}

static int crosvm_ram(const char *cmdline, size_t len, uint64_t *ret_bytes)
{
	int r = option_size(cmdline, len, "--mem", true, ret_bytes);
	if (r == 0 && *ret_bytes == 0)
		r = option_size(cmdline, len, "-m", true, ret_bytes);
	return r;
}

/* numaksm-vmm: the sum of its --memory or --memory-zone sizes. */
static int numaksm_ram(const char *cmdline, size_t len, uint64_t *ret_bytes)
{
	const char *end = cmdline + len;
	uint64_t total = 0;

	for_each_arg(a, cmdline, len)
	{
		size_t a_len = arg_len(a, end);
		const char *next = a + a_len + 1, *v = NULL;
		if ((arg_is(a, a_len, "--memory") || arg_is(a, a_len, "--memory-zone")) &&
		    next < end)
			v = next;
		else if (arg_is_assignment(a, a_len, "--memory"))
			v = a + 9;
		else if (arg_is_assignment(a, a_len, "--memory-zone"))
			v = a + 14;
		uint64_t bytes;
		if (!v)
			continue;
		_cleanup_free_ char *value = strndup(v, (size_t)(end - v));
		if (!value)
			return -ENOMEM;
		int r = size_item(value, false, &bytes);
		if (r == -ENOMEM)
			return r;
		if (r == 0)
			total += bytes;
	}
	*ret_bytes = total;
	return 0;
}

/* libvirt puts each domain's monitor socket, master key and logs under a
 * directory .../libvirt/qemu/domain-ID-NAME/ (system and session mode). */
static bool started_by_libvirt(const char *cmdline, size_t len)
{
	static const char mark[] = "/libvirt/qemu/domain-";
	for_each_arg(a, cmdline, len)
	{
		if (memmem(a, arg_len(a, cmdline + len), mark, sizeof(mark) - 1))
			return true;
	}
	return false;
}

/* ---- the table ------------------------------------------------------------ */

#define QEMU_THREADS                                                                               \
	{                                                                                          \
		{"CPU ", "/KVM"},                                                                  \
		{                                                                                  \
			"CPU ", "/TCG"                                                             \
		}                                                                                  \
	}

static const struct vm_kind kinds[NK_VM_KIND_COUNT] = {
    [NK_VM_PROCESS] = {.kind = NK_VM_PROCESS, .name = "process"},
    [NK_VM_NUMAKSM] =
	{
	    .kind = NK_VM_NUMAKSM,
	    .name = "numaksm",
	    .programs = {"numaksm-vmm"},
	    .cmdline_name = numaksm_name,
	    .cmdline_ram = numaksm_ram,
	    .vcpu_threads = {{"CPU ", "/KVM"}},
	},
    [NK_VM_QEMU] =
	{
	    .kind = NK_VM_QEMU,
	    .name = "qemu",
	    .programs = {"qemu-system-*", "qemu-kvm"},
	    .cmdline_name = qemu_name,
	    .cmdline_ram = qemu_ram,
	    .vcpu_threads = QEMU_THREADS,
	},
    [NK_VM_LIBVIRT] =
	{
	    .kind = NK_VM_LIBVIRT,
	    .name = "libvirt",
	    /* The same programs as QEMU: vm_kind_of() tells them apart. */
	    .cmdline_name = qemu_name,
	    .cmdline_ram = qemu_ram,
	    .vcpu_threads = QEMU_THREADS,
	},
    [NK_VM_CLOUD_HYPERVISOR] =
	{
	    .kind = NK_VM_CLOUD_HYPERVISOR,
	    .name = "cloud-hypervisor",
	    /* The comm is cut to 15 characters. */
	    .programs = {"cloud-hypervisor", "cloud-hyperviso"},
	    .cmdline_ram = cloud_hypervisor_ram,
	    .vcpu_threads = {{"vcpu", ""}},
	},
    [NK_VM_FIRECRACKER] =
	{
	    .kind = NK_VM_FIRECRACKER,
	    .name = "firecracker",
	    .programs = {"firecracker"},
	    .cmdline_name = firecracker_name,
	    .vcpu_threads = {{"fc_vcpu ", ""}},
	},
    [NK_VM_CROSVM] =
	{
	    .kind = NK_VM_CROSVM,
	    .name = "crosvm",
	    .programs = {"crosvm"},
	    .cmdline_ram = crosvm_ram,
	    .vcpu_threads = {{"crosvm_vcpu", ""}},
	    .forks_devices = true,
	},
};

const struct vm_kind *vm_kind(enum nk_vm_kind kind)
{
	return &kinds[(unsigned)kind < NK_VM_KIND_COUNT ? kind : NK_VM_PROCESS];
}

_nk_export_ const char *nk_vm_kind_name(enum nk_vm_kind kind)
{
	return (unsigned)kind < NK_VM_KIND_COUNT ? kinds[kind].name : "?";
}

static bool program_is(const char *pattern, const char *s)
{
	size_t n = strlen(pattern);
	if (n && pattern[n - 1] == '*')
		return strncmp(s, pattern, n - 1) == 0;
	return strcmp(s, pattern) == 0;
}

enum nk_vm_kind vm_kind_of(const char *comm, const char *argv0, const char *cmdline, size_t len)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
	const char *names[] = {comm, slash ? slash + 1 : argv0};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!names[i])
			continue;
		for (unsigned k = 0; k < NK_VM_KIND_COUNT; k++)
			for (size_t p = 0;
			     p < ARRAY_SIZE(kinds[k].programs) && kinds[k].programs[p]; p++) {
				if (!program_is(kinds[k].programs[p], names[i]))
					continue;
				if (k == NK_VM_QEMU && cmdline && started_by_libvirt(cmdline, len))
					return NK_VM_LIBVIRT;
				return (enum nk_vm_kind)k;
			}
	}
	return NK_VM_PROCESS;
}

int vm_cmdline_name(enum nk_vm_kind kind, const char *cmdline, size_t len, char **ret_name)
{
	const struct vm_kind *k = vm_kind(kind);
	if (!k->cmdline_name) {
		*ret_name = NULL;
		return 0;
	}
	return k->cmdline_name(cmdline, len, ret_name);
}

int vm_cmdline_uuid(enum nk_vm_kind kind, const char *cmdline, size_t len, char **ret_uuid)
{
	if (kind != NK_VM_QEMU && kind != NK_VM_LIBVIRT) {
		*ret_uuid = NULL;
		return 0;
	}
	return vm_cmdline_option(cmdline, len, "-uuid", ret_uuid);
}

int vm_cmdline_ram(enum nk_vm_kind kind, const char *cmdline, size_t len, uint64_t *ret_bytes)
{
	const struct vm_kind *k = vm_kind(kind);
	if (!k->cmdline_ram) {
		*ret_bytes = 0;
		return 0;
	}
	return k->cmdline_ram(cmdline, len, ret_bytes);
}

/* ---- vCPU threads --------------------------------------------------------- */

static int vcpu_number(const struct vm_thread_name *t, const char *name)
{
	size_t n = strlen(t->prefix);
	long v = 0;
	const char *s = name + n;

	if (strncmp(name, t->prefix, n) != 0 || !isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		v = v * 10 + (*s - '0');
		if (v > 1000000)
			return -1;
	}
	return strcmp(s, t->suffix) == 0 ? (int)v : -1;
}

int vm_vcpu_of_thread(enum nk_vm_kind kind, const char *name, const void **ret_family)
{
	for (unsigned k = 0; k < NK_VM_KIND_COUNT; k++) {
		if (kind != NK_VM_PROCESS && k != (unsigned)kind)
			continue;
		for (size_t t = 0; t < ARRAY_SIZE(kinds[k].vcpu_threads); t++) {
			const struct vm_thread_name *tn = &kinds[k].vcpu_threads[t];
			int vcpu = tn->prefix ? vcpu_number(tn, name) : -1;
			if (vcpu < 0)
				continue;
			if (ret_family)
				*ret_family = tn->prefix; /* one family per prefix */
			return vcpu;
		}
	}
	return -1;
}
