/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live feature probes.  Feature checks, not kernel-version checks: each
 * probe tries the thing itself on a scratch object and undoes it.
 */
#include "basic.h"
#include "numaksm/hostinfo.h"

#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

_nk_export_ int nk_probe_kvm(nk_host *host, struct nk_kvm_probe *ret, nk_error **err)
{
	struct nk_kvm_probe p = {.api_version = -1};
	int r = nk_host_require_live(host, "probe /dev/kvm", err);
	if (r < 0)
		return r;

	p.present = access("/dev/kvm", F_OK) == 0;
	_cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		p.open_errno = errno;
	} else {
		p.api_version = ioctl(fd, KVM_GET_API_VERSION, 0);
		p.usable = p.api_version == KVM_API_VERSION;
		int m = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
		p.max_vcpus = m > 0 ? m : 0;
	}
	*ret = p;
	return 0;
}

_nk_export_ int nk_probe_madv_populate_write(nk_host *host, nk_error **err)
{
	int r = nk_host_require_live(host, "probe MADV_POPULATE_WRITE", err);
	if (r < 0)
		return r;
	long page = sysconf(_SC_PAGESIZE);
	void *p =
	    mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return nk_error_set(err, errno, "cannot map a probe page: %s", strerror(errno));
	r = madvise(p, (size_t)page, MADV_POPULATE_WRITE);
	int e = errno;
	munmap(p, (size_t)page);
	if (r == 0)
		return 1;
	if (e == EINVAL)
		return 0;
	return nk_error_set(err, e, "MADV_POPULATE_WRITE probe failed: %s", strerror(e));
}

static int size_log2(uint64_t size_kb)
{
	uint64_t bytes = size_kb * 1024;
	if (!bytes || (bytes & (bytes - 1)))
		return -1;
	return __builtin_ctzll(bytes);
}

_nk_export_ int nk_probe_memfd_hugetlb(nk_host *host, uint64_t size_kb, nk_error **err)
{
	int r = nk_host_require_live(host, "probe memfd_create(MFD_HUGETLB)", err);
	if (r < 0)
		return r;
	unsigned flags = MFD_HUGETLB | MFD_CLOEXEC;
	if (size_kb) {
		int shift = size_log2(size_kb);
		if (shift < 0)
			return nk_error_set(err, EINVAL,
					    "hugepage size %" PRIu64 " kB is not a power of two",
					    size_kb);
		flags |= (unsigned)shift << MFD_HUGE_SHIFT;
	}
	int fd = (int)syscall(SYS_memfd_create, "numaksm-probe", flags);
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	if (errno == EINVAL || errno == ENOSYS || errno == ENOENT)
		return 0;
	return nk_error_set(err, errno, "memfd_create(MFD_HUGETLB) probe failed: %s",
			    strerror(errno));
}

_nk_export_ int nk_probe_privileges(nk_host *host, struct nk_privileges *ret, nk_error **err)
{
	_cleanup_free_ char *status = NULL, *capeff = NULL;
	_cleanup_bitmap_ nk_bitmap *caps = NULL;
	int r = nk_host_require_live(host, "probe privileges", err);
	if (r < 0)
		return r;
	r = nk_host_read(host, "/proc/self/status", &status, err);
	if (r < 0)
		return r;
	if (nk_parse_keyed_line(status, "CapEff", &capeff) < 0 ||
	    nk_parse_hexmask(capeff, &caps) < 0)
		return nk_error_set(err, EINVAL, "/proc/self/status: no readable CapEff line");
	/* Capability numbers from linux/capability.h. */
	ret->euid = (unsigned)geteuid();
	ret->cap_ipc_lock = nk_bitmap_test(caps, 14);
	ret->cap_sys_admin = nk_bitmap_test(caps, 21);
	ret->cap_sys_nice = nk_bitmap_test(caps, 23);
	ret->cap_sys_resource = nk_bitmap_test(caps, 24);
	return 0;
}
