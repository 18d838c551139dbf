/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What VM discovery reads of a process that anyone can start: the command
 * line /proc/PID/cmdline (NUL-separated arguments, the last one possibly
 * cut or unterminated) and its thread names.  The kind (vm_kind_of), the
 * VM's name, UUID and RAM by kind (vm_cmdline_name, vm_cmdline_uuid,
 * vm_cmdline_ram, vm_cmdline_option) are read within the given length;
 * names and values found are text of the command line; vCPU numbers
 * (vm_vcpu_of_thread) are bounded and found for a plain process too.
 */
#include <string.h>

#include "fuzz.h"
#include "vm-internal.h"

static void check_found(const char *what, const char *value, const char *cmdline, size_t len)
{
	if (value)
		FUZZ_CHECK(memmem(cmdline, len, value, strlen(value)), "%s '%s' is not in it", what,
			   value);
}

static void check_thread(const char *arg, size_t len)
{
	char name[16];
	const void *family = NULL;

	/* A thread's name is its comm: at most 15 bytes. */
	snprintf(name, sizeof(name), "%.*s", (int)len, arg);
	for (int k = 0; k < NK_VM_KIND_COUNT; k++) {
		int vcpu = vm_vcpu_of_thread((enum nk_vm_kind)k, name, &family);
		if (vcpu < 0)
			continue;
		FUZZ_CHECK(vcpu <= 1000000 && family, "'%s': vCPU %d", name, vcpu);
		FUZZ_CHECK(vm_vcpu_of_thread(NK_VM_PROCESS, name, NULL) >= 0,
			   "'%s' is a vCPU of a %s only", name,
			   nk_vm_kind_name((enum nk_vm_kind)k));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly the bytes read, no terminator after them. */
	_cleanup_free_ char *cmdline = malloc(size ? size : 1);
	_cleanup_free_ char *argv0 = NULL;

	if (!cmdline)
		abort();
	memcpy(cmdline, data, size);
	argv0 = strndup(cmdline, size);
	if (!argv0)
		abort();
	const char *base = strrchr(argv0, '/') ? strrchr(argv0, '/') + 1 : argv0;
	char comm[16];
	snprintf(comm, sizeof(comm), "%s", base);

	enum nk_vm_kind kind = vm_kind_of(comm, argv0, cmdline, size);
	FUZZ_CHECK((unsigned)kind < NK_VM_KIND_COUNT, "kind %d", kind);
	FUZZ_CHECK(vm_kind_of(comm, NULL, NULL, 0) == kind ||
		       (kind == NK_VM_LIBVIRT && vm_kind_of(comm, NULL, NULL, 0) == NK_VM_QEMU) ||
		       vm_kind_of(comm, NULL, NULL, 0) == NK_VM_PROCESS,
		   "%s by its command line, %s by its comm", nk_vm_kind_name(kind),
		   nk_vm_kind_name(vm_kind_of(comm, NULL, NULL, 0)));

	for (int k = 0; k < NK_VM_KIND_COUNT; k++) {
		_cleanup_free_ char *name = NULL, *uuid = NULL;
		uint64_t ram = 0;
		if (vm_cmdline_name((enum nk_vm_kind)k, cmdline, size, &name) == 0)
			check_found("name", name, cmdline, size);
		if (vm_cmdline_uuid((enum nk_vm_kind)k, cmdline, size, &uuid) == 0)
			check_found("UUID", uuid, cmdline, size);
		vm_cmdline_ram((enum nk_vm_kind)k, cmdline, size, &ram);
	}
	static const char *const options[] = {"-m", "--memory", "-name", "--id", "-uuid"};
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		_cleanup_free_ char *value = NULL;
		if (vm_cmdline_option(cmdline, size, options[i], &value) == 0)
			check_found(options[i], value, cmdline, size);
	}

	/* Each argument as the name of one of its threads. */
	for (size_t at = 0; at < size;) {
		size_t n = strnlen(cmdline + at, size - at);
		check_thread(cmdline + at, n);
		at += n + 1;
	}
	return 0;
}
