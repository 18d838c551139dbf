/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Booting a bzImage without its decompressor.  The protected-mode part of
 * a bzImage is a small program that inflates the real kernel (the vmlinux
 * ELF, xz or gzip compressed: payload_offset and payload_length in the
 * setup header) to its load address and jumps there.  Nested under an
 * emulator that is most of a small guest's boot, and every guest of a
 * fleet does it again.  numaksm-vmm inflates the payload itself, keeps the
 * result in a cache (one file per kernel image, in a directory only its
 * user can write), and starts the guest at the vmlinux's 64-bit entry, as
 * Firecracker and Cloud Hypervisor boot a vmlinux: long mode, the boot
 * page tables, %rsi at boot_params.  Any format it does not inflate boots
 * the bzImage as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "boot.h"

#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24c
#define VMLINUX_MAX	   (1ull << 30)

#define ELF_PT_LOAD   1
#define ELF_EM_X86_64 62
#define ELF_ET_EXEC   2

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

int vmm_vmlinux_parse(const uint8_t *elf, size_t size, struct vmm_vmlinux *ret, nk_error **err)
{
	struct vmm_vmlinux v = {.elf = elf, .size = size, .lo = UINT64_MAX};

	if (size < 64 || memcmp(elf, "\177ELF", 4) || elf[4] != 2 || elf[5] != 1)
		return nk_error_set(err, ENOEXEC, "the inflated kernel is not a 64-bit ELF");
	if (get16(elf + 16) != ELF_ET_EXEC || get16(elf + 18) != ELF_EM_X86_64)
		return nk_error_set(err, ENOEXEC,
				    "the inflated kernel is not an x86-64 executable");
	uint64_t phoff = get64(elf + 32);
	unsigned phentsize = get16(elf + 54), phnum = get16(elf + 56);
	if (phentsize < 56 || phoff > size || (uint64_t)phnum * phentsize > size - phoff)
		return nk_error_set(err, ENOEXEC, "the inflated kernel's program headers are cut");
	v.entry = get64(elf + 24);
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = elf + phoff + (uint64_t)i * phentsize;
		if (get32(ph) != ELF_PT_LOAD)
			continue;
		struct vmm_vmlinux_segment s = {.offset = get64(ph + 8),
						.paddr = get64(ph + 24),
						.filesz = get64(ph + 32),
						.memsz = get64(ph + 40)};
		if (v.n == VMM_VMLINUX_SEGMENTS)
			return nk_error_set(err, ENOEXEC,
					    "the inflated kernel has over %d segments",
					    VMM_VMLINUX_SEGMENTS);
		if (s.offset > size || s.filesz > size - s.offset || s.filesz > s.memsz ||
		    s.memsz > VMLINUX_MAX || s.paddr > VMLINUX_MAX)
			return nk_error_set(err, ENOEXEC,
					    "the inflated kernel's segment %u is out of bounds", i);
		v.seg[v.n++] = s;
		if (s.paddr < v.lo)
			v.lo = s.paddr;
		if (s.paddr + s.memsz > v.hi)
			v.hi = s.paddr + s.memsz;
	}
	if (!v.n)
		return nk_error_set(err, ENOEXEC, "the inflated kernel has nothing to load");
	if (v.entry < v.lo || v.entry >= v.hi)
		return nk_error_set(err, ENOEXEC,
				    "the inflated kernel's entry 0x%" PRIx64 " is outside it",
				    v.entry);
	*ret = v;
	return 0;
}

/* Whether a payload inflated to the end of its stream and to its size. */
static int inflated(const char *format, bool at_end, int code, size_t done, size_t out_size,
		    nk_error **err)
{
	if (at_end && done == out_size)
		return 0;
	return nk_error_set(err, EBADMSG,
			    "the kernel's %s payload does not inflate (code %d, %zu of %zu bytes)",
			    format, code, done, out_size);
}

static int inflate_xz(const uint8_t *in, size_t len, uint8_t *out, size_t out_size, nk_error **err)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret r = lzma_stream_decoder(&s, UINT64_MAX, 0);
	if (r != LZMA_OK)
		return nk_error_set(err, ENOMEM, "liblzma: cannot start a decoder (%d)", (int)r);
	s.next_in = in;
	s.avail_in = len;
	s.next_out = out;
	s.avail_out = out_size;
	r = lzma_code(&s, LZMA_FINISH);
	size_t done = out_size - s.avail_out;
	lzma_end(&s);
	return inflated("xz", r == LZMA_STREAM_END, (int)r, done, out_size, err);
}

static int inflate_gzip(const uint8_t *in, size_t len, uint8_t *out, size_t out_size,
			nk_error **err)
{
	z_stream z = {.next_in = (Bytef *)in, .avail_in = (uInt)len};
	if (len > UINT32_MAX || out_size > UINT32_MAX || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return nk_error_set(err, ENOMEM, "zlib: cannot start an inflater");
	z.next_out = out;
	z.avail_out = (uInt)out_size;
	int r = inflate(&z, Z_FINISH);
	size_t done = out_size - z.avail_out;
	inflateEnd(&z);
	return inflated("gzip", r == Z_STREAM_END, r, done, out_size, err);
}

typedef int (*inflater_fn)(const uint8_t *, size_t, uint8_t *, size_t, nk_error **);

/* The payload, its inflated size and how to inflate it. */
static int payload(const struct vmm_bzimage *k, const uint8_t **ret, size_t *ret_len,
		   size_t *ret_out_size, inflater_fn *ret_fn, nk_error **err)
{
	if (k->version < 0x208)
		return nk_error_set(err, ENOTSUP, "boot protocol before 2.08: no payload fields");
	const uint8_t *hdr = k->image;
	uint32_t off = get32(hdr + HDR_PAYLOAD_OFFSET), len = get32(hdr + HDR_PAYLOAD_LENGTH);
	if (len < 8 || off > k->kernel_size || len > k->kernel_size - off)
		return nk_error_set(err, ENOEXEC, "the bzImage's payload is out of bounds");
	const uint8_t *p = k->kernel + off;
	/* The build appends the inflated size, 32 bits little-endian. */
	size_t out_size = get32(p + len - 4);
	if (out_size < 64 || out_size > VMLINUX_MAX)
		return nk_error_set(err, ENOEXEC, "the bzImage's payload claims %zu bytes",
				    out_size);
	if (!memcmp(p,
		    "\xfd"
		    "7zXZ",
		    6))
		*ret_fn = inflate_xz;
	else if (p[0] == 0x1f && p[1] == 0x8b)
		*ret_fn = inflate_gzip;
	else
		return nk_error_set(err, ENOTSUP,
				    "the kernel's payload is neither xz nor gzip (it starts "
				    "%02x %02x %02x %02x)",
				    p[0], p[1], p[2], p[3]);
	*ret = p;
	*ret_len = len - 4;
	*ret_out_size = out_size;
	return 0;
}

static int payload_check(const struct vmm_bzimage *k, nk_error **err)
{
	const uint8_t *p;
	size_t len, size;
	inflater_fn fn;
	return payload(k, &p, &len, &size, &fn, err);
}

int vmm_bzimage_inflate(const struct vmm_bzimage *k, uint8_t **ret, size_t *ret_size,
			nk_error **err)
{
	const uint8_t *p;
	size_t len, out_size;
	inflater_fn inflater;
	int r = payload(k, &p, &len, &out_size, &inflater, err);
	if (r < 0)
		return r;
	uint8_t *out = malloc(out_size);
	if (!out)
		return nk_error_set(err, ENOMEM, "out of memory");
	r = inflater(p, len, out, out_size, err);
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_size = out_size;
	return 0;
}

/* ---- the cache ------------------------------------------------------------ */

/* A name for the image: its file's identity, size and time, and a hash of
 * its setup header and payload end, so that a new kernel at the same path
 * gets a new name. */
static void cache_name(const struct stat *st, const struct vmm_bzimage *k, char *buf, size_t size)
{
	uint64_t h = 1469598103934665603ull;
	uint64_t id[] = {(uint64_t)st->st_dev,		(uint64_t)st->st_ino,
			 (uint64_t)st->st_size,		(uint64_t)st->st_mtim.tv_sec,
			 (uint64_t)st->st_mtim.tv_nsec, (uint64_t)k->size};
	const uint8_t *parts[] = {(const uint8_t *)id, k->image,
				  k->image + (k->size > 4096 ? k->size - 4096 : 0)};
	size_t lens[] = {sizeof(id), k->setup_size < k->size ? k->setup_size : k->size,
			 k->size > 4096 ? 4096 : k->size};
	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < lens[i]; j++)
			h = (h ^ parts[i][j]) * 1099511628211ull;
	snprintf(buf, size, "vmlinux-%016" PRIx64, h);
}

/* The cache directory, made if missing: a directory of this user's that
 * no one else can write, or it is not used. */
static int cache_dir_open(const char *dir, nk_error **err)
{
	struct stat st;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return nk_error_set(err, errno, "cannot make %s: %m", dir);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return nk_error_set(err, errno, "cannot open %s: %m", dir);
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
		close(fd);
		return nk_error_set(
		    err, EPERM, "%s is not a directory of this user that only it can write", dir);
	}
	return fd;
}

/* A cache file is mapped, not read: no copy, no fresh pages to fault in
 * before the segments are copied to guest RAM.  The file is this user's
 * own, in a directory only it can write, and is only ever replaced by a
 * rename (cache_write()), never truncated: the mapping stays whole. */
static int cache_map(int dirfd, const char *name, uint8_t **ret, size_t *ret_size)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022) || st.st_size < 64 || (uint64_t)st.st_size > VMLINUX_MAX) {
		close(fd);
		return -EPERM;
	}
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -EIO;
	*ret = map;
	*ret_size = (size_t)st.st_size;
	return 0;
}

static void cache_write(int dirfd, const char *name, const uint8_t *buf, size_t size)
{
	char tmp[96];
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", name, (int)getpid());
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	size_t done = 0;
	while (done < size) {
		ssize_t n = write(fd, buf + done, size - done);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (close(fd) < 0 || done != size || renameat(dirfd, tmp, dirfd, name) < 0)
		unlinkat(dirfd, tmp, 0);
}

void vmm_vmlinux_put(uint8_t *elf, size_t size, bool cached)
{
	if (elf && cached)
		munmap(elf, size);
	else
		free(elf);
}

int vmm_vmlinux_get(const struct vmm_bzimage *k, const struct stat *st, const char *cache_dir,
		    uint8_t **ret, size_t *ret_size, bool *ret_cached, char *note, size_t note_size,
		    nk_error **err)
{
	char name[64];
	int dirfd = -1;
	*ret_cached = false;
	*note = '\0';
	/* Nothing to inflate, nothing to keep: the cache is not touched. */
	int r = payload_check(k, err);
	if (r < 0)
		return r;
	if (cache_dir) {
		nk_error *cerr = NULL;
		dirfd = cache_dir_open(cache_dir, &cerr);
		if (dirfd < 0) {
			snprintf(note, note_size, "the kernel cache is not used: %s",
				 nk_error_message(cerr));
			nk_error_free(cerr);
		}
	}
	if (dirfd >= 0) {
		cache_name(st, k, name, sizeof(name));
		if (cache_map(dirfd, name, ret, ret_size) == 0) {
			*ret_cached = true;
			close(dirfd);
			return 0;
		}
	}
	r = vmm_bzimage_inflate(k, ret, ret_size, err);
	if (r >= 0 && dirfd >= 0)
		cache_write(dirfd, name, *ret, *ret_size);
	if (dirfd >= 0)
		close(dirfd);
	return r;
}
