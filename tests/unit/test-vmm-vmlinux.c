/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vmlinux inside a bzImage: its payload inflated (xz and gzip, as the
 * kernel's build makes them: the inflated size appended), the ELF checked
 * and refused, where it is placed, and the cache of inflated kernels (kept,
 * found again, not used where others may write).  With this host's own
 * /boot/vmlinuz-* too, when there is one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "vmm.h"

#define MiB (1ull << 20)

#define ELF_SIZE 8192
#define PADDR	 (16 * MiB)

/* An x86-64 executable: one PT_LOAD of 4 KiB (8 KiB in memory) at 16 MiB,
 * its entry 0x10 into it. */
static void make_elf(uint8_t *e)
{
	memset(e, 0, ELF_SIZE);
	memcpy(e, "\177ELF", 4);
	e[4] = 2; /* 64-bit */
	e[5] = 1; /* little-endian */
	e[6] = 1;
	vmm_put16(e + 16, 2);  /* ET_EXEC */
	vmm_put16(e + 18, 62); /* EM_X86_64 */
	vmm_put64(e + 24, PADDR + 0x10);
	vmm_put64(e + 32, 64); /* phoff */
	vmm_put16(e + 54, 56); /* phentsize */
	vmm_put16(e + 56, 1);
	uint8_t *ph = e + 64;
	vmm_put32(ph, 1); /* PT_LOAD */
	vmm_put64(ph + 8, 4096);
	vmm_put64(ph + 16, 0xffffffff81000000ull);
	vmm_put64(ph + 24, PADDR);
	vmm_put64(ph + 32, 4096);
	vmm_put64(ph + 40, 8192);
	for (size_t i = 4096; i < ELF_SIZE; i++)
		e[i] = (uint8_t)(i * 13 + 1);
}

static size_t compress_gzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	z_stream z = {0};
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t n = cap - z.avail_out;
	deflateEnd(&z);
	return n;
}

static size_t compress_xz(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	size_t pos = 0;
	assert_int_equal(
	    lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, len, out, &pos, cap), LZMA_OK);
	return pos;
}

#define IMG_SETUP  (5 * 512)
#define IMG_KERNEL (64 * 1024)
static uint8_t img[IMG_SETUP + IMG_KERNEL];

/* A bzImage (protocol 2.15) whose payload is `elf` compressed by `comp`,
 * its inflated size after it. */
static void make_image(const uint8_t *elf,
		       size_t (*comp)(const uint8_t *, size_t, uint8_t *, size_t))
{
	memset(img, 0, sizeof(img));
	img[0x1f1] = 4;
	vmm_put32(img + 0x1f4, IMG_KERNEL / 16);
	vmm_put16(img + 0x1fe, 0xaa55);
	memcpy(img + 0x202, "HdrS", 4);
	vmm_put16(img + 0x206, 0x020f);
	img[0x211] = 0x01;
	vmm_put32(img + 0x22c, 0x7fffffff);
	img[0x234] = 1;
	vmm_put16(img + 0x236, 0x7f);
	vmm_put32(img + 0x238, 2047);
	vmm_put64(img + 0x258, PADDR);
	vmm_put32(img + 0x260, 32 * MiB);
	size_t off = 0x400;
	size_t n = comp(elf, ELF_SIZE, img + IMG_SETUP + off, IMG_KERNEL - off - 4);
	vmm_put32(img + IMG_SETUP + off + n, ELF_SIZE);
	vmm_put32(img + 0x248, (uint32_t)off);
	vmm_put32(img + 0x24c, (uint32_t)(n + 4));
}

static void check_inflates(size_t (*comp)(const uint8_t *, size_t, uint8_t *, size_t))
{
	static uint8_t elf[ELF_SIZE];
	struct vmm_bzimage k;
	uint8_t *out = NULL;
	size_t size = 0;

	make_elf(elf);
	make_image(elf, comp);
	assert_int_equal(vmm_bzimage_parse(img, sizeof(img), &k, NULL), 0);
	assert_int_equal(vmm_bzimage_inflate(&k, &out, &size, NULL), 0);
	assert_int_equal(size, ELF_SIZE);
	assert_memory_equal(out, elf, ELF_SIZE);
	free(out);

	/* One byte of the stream changed: refused, not half-inflated. */
	nk_error *err = NULL;
	img[IMG_SETUP + 0x400 + 40] ^= 0x55;
	assert_true(vmm_bzimage_inflate(&k, &out, &size, &err) < 0);
	assert_non_null(strstr(nk_error_message(err), "does not inflate"));
	nk_error_free(err);
}

static void test_inflate(void **state)
{
	(void)state;
	check_inflates(compress_gzip);
	check_inflates(compress_xz);

	/* Another format, and no payload at all. */
	static uint8_t elf[ELF_SIZE];
	struct vmm_bzimage k;
	uint8_t *out = NULL;
	size_t size = 0;
	nk_error *err = NULL;
	make_elf(elf);
	make_image(elf, compress_gzip);
	img[IMG_SETUP + 0x400] = 0x28; /* zstd's magic begins so */
	assert_int_equal(vmm_bzimage_parse(img, sizeof(img), &k, NULL), 0);
	assert_int_equal(vmm_bzimage_inflate(&k, &out, &size, &err), -ENOTSUP);
	assert_non_null(strstr(nk_error_message(err), "neither xz nor gzip"));
	err = nk_error_free(err);
	vmm_put32(img + 0x24c, 0);
	assert_int_equal(vmm_bzimage_inflate(&k, &out, &size, &err), -ENOEXEC);
	nk_error_free(err);
}

static void test_vmlinux_parse(void **state)
{
	static uint8_t e[ELF_SIZE];
	struct vmm_vmlinux v;
	nk_error *err = NULL;
	(void)state;

	make_elf(e);
	assert_int_equal(vmm_vmlinux_parse(e, ELF_SIZE, &v, NULL), 0);
	assert_int_equal(v.n, 1);
	assert_int_equal(v.lo, PADDR);
	assert_int_equal(v.hi, PADDR + 8192);
	assert_int_equal(v.entry, PADDR + 0x10);

	vmm_put64(e + 24, PADDR + 9000); /* the entry outside */
	assert_int_equal(vmm_vmlinux_parse(e, ELF_SIZE, &v, &err), -ENOEXEC);
	assert_non_null(strstr(nk_error_message(err), "outside"));
	err = nk_error_free(err);
	make_elf(e);
	vmm_put64(e + 64 + 32, ELF_SIZE); /* file bytes past the end */
	assert_int_equal(vmm_vmlinux_parse(e, ELF_SIZE, &v, &err), -ENOEXEC);
	assert_non_null(strstr(nk_error_message(err), "out of bounds"));
	err = nk_error_free(err);
	make_elf(e);
	vmm_put16(e + 56, 200); /* more program headers than the file */
	assert_int_equal(vmm_vmlinux_parse(e, ELF_SIZE, &v, &err), -ENOEXEC);
	err = nk_error_free(err);
	make_elf(e);
	vmm_put16(e + 18, 3); /* i386 */
	assert_int_equal(vmm_vmlinux_parse(e, ELF_SIZE, &v, &err), -ENOEXEC);
	err = nk_error_free(err);
	assert_int_equal(vmm_vmlinux_parse((const uint8_t *)"MZ", 2, &v, &err), -ENOEXEC);
	nk_error_free(err);
}

static void test_plan(void **state)
{
	static uint8_t elf[ELF_SIZE];
	struct vmm_bzimage k;
	struct vmm_vmlinux v;
	struct vmm_e820 m;
	struct vmm_boot_plan p;
	nk_error *err = NULL;
	(void)state;

	make_elf(elf);
	make_image(elf, compress_gzip);
	assert_int_equal(vmm_bzimage_parse(img, sizeof(img), &k, NULL), 0);
	assert_int_equal(vmm_vmlinux_parse(elf, ELF_SIZE, &v, NULL), 0);
	struct vmm_ram_range ram[] = {{0, 128 * MiB, "a"}};
	assert_int_equal(vmm_e820_build(ram, 1, &m, NULL), 0);
	assert_int_equal(vmm_boot_plan_vmlinux(&k, &v, &m, 4 * MiB, "console=ttyS0", &p, NULL), 0);
	/* Where it is linked, with init_size from there; the initrd at the top. */
	assert_int_equal(p.kernel_gpa, PADDR);
	assert_int_equal(p.kernel_end, PADDR + 32 * MiB);
	assert_int_equal(p.entry, PADDR + 0x10);
	assert_int_equal(p.initrd_gpa, 124 * MiB);
	struct vmm_ram_range small[] = {{0, 40 * MiB, "a"}};
	assert_int_equal(vmm_e820_build(small, 1, &m, NULL), 0);
	assert_int_equal(vmm_boot_plan_vmlinux(&k, &v, &m, 0, "", &p, &err), -EFBIG);
	assert_non_null(strstr(nk_error_message(err), "from 16 MiB to 48 MiB"));
	nk_error_free(err);
}

static void test_cache(void **state)
{
	static uint8_t elf[ELF_SIZE];
	char dir[] = "/tmp/test-vmm-vmlinux.XXXXXX", cache[64], note[256];
	struct vmm_bzimage k;
	struct stat st = {.st_size = 1, .st_ino = 42};
	uint8_t *out = NULL;
	size_t size = 0;
	bool cached = true;
	(void)state;

	make_elf(elf);
	make_image(elf, compress_xz);
	assert_int_equal(vmm_bzimage_parse(img, sizeof(img), &k, NULL), 0);
	assert_non_null(mkdtemp(dir));
	snprintf(cache, sizeof(cache), "%s/cache", dir);

	/* Inflated and kept (the directory made, 0700), then found again. */
	assert_int_equal(
	    vmm_vmlinux_get(&k, &st, cache, &out, &size, &cached, note, sizeof(note), NULL), 0);
	assert_false(cached);
	assert_string_equal(note, "");
	assert_memory_equal(out, elf, ELF_SIZE);
	free(out);
	struct stat ds;
	assert_int_equal(stat(cache, &ds), 0);
	assert_int_equal(ds.st_mode & 0777, 0700);
	assert_int_equal(
	    vmm_vmlinux_get(&k, &st, cache, &out, &size, &cached, note, sizeof(note), NULL), 0);
	assert_true(cached);
	assert_int_equal(size, ELF_SIZE);
	assert_memory_equal(out, elf, ELF_SIZE);
	vmm_vmlinux_put(out, size, cached);

	/* Another file (here: another inode) is another entry. */
	st.st_ino = 43;
	assert_int_equal(
	    vmm_vmlinux_get(&k, &st, cache, &out, &size, &cached, note, sizeof(note), NULL), 0);
	assert_false(cached);
	free(out);

	/* A directory others may write is not used: inflated, not kept. */
	assert_int_equal(chmod(cache, 0777), 0);
	st.st_ino = 44;
	assert_int_equal(
	    vmm_vmlinux_get(&k, &st, cache, &out, &size, &cached, note, sizeof(note), NULL), 0);
	assert_false(cached);
	assert_non_null(strstr(note, "not used"));
	assert_memory_equal(out, elf, ELF_SIZE);
	free(out);
	assert_int_equal(
	    vmm_vmlinux_get(&k, &st, cache, &out, &size, &cached, note, sizeof(note), NULL), 0);
	assert_false(cached);
	free(out);

	/* A kernel without a payload does not touch the cache at all. */
	char untouched[96];
	snprintf(untouched, sizeof(untouched), "%s/untouched", dir);
	vmm_put32(img + 0x24c, 0);
	nk_error *err = NULL;
	assert_true(vmm_vmlinux_get(&k, &st, untouched, &out, &size, &cached, note, sizeof(note),
				    &err) < 0);
	nk_error_free(err);
	assert_int_equal(access(untouched, F_OK), -1);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* A kernel of this host's /boot, when it has one: inflated and parsed, its
 * entry where its setup header says it prefers to run. */
static void test_real_kernel(void **state)
{
	char path[512] = "";
	(void)state;
	DIR *d = opendir("/boot");
	struct dirent *de;
	while (d && !path[0] && (de = readdir(d)))
		if (!strncmp(de->d_name, "vmlinuz-", 8))
			snprintf(path, sizeof(path), "/boot/%s", de->d_name);
	if (d)
		closedir(d);
	int fd = path[0] ? open(path, O_RDONLY) : -1;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		skip();
	}
	uint8_t *file = malloc((size_t)st.st_size);
	assert_non_null(file);
	assert_int_equal(read(fd, file, (size_t)st.st_size), st.st_size);
	close(fd);
	struct vmm_bzimage k;
	struct vmm_vmlinux v;
	uint8_t *elf = NULL;
	size_t size = 0;
	nk_error *err = NULL;
	assert_int_equal(vmm_bzimage_parse(file, (size_t)st.st_size, &k, NULL), 0);
	int r = vmm_bzimage_inflate(&k, &elf, &size, &err);
	if (r == -ENOTSUP) { /* a kernel compressed otherwise: booted as it is */
		nk_error_free(err);
		free(file);
		skip();
	}
	assert_int_equal(r, 0);
	assert_int_equal(vmm_vmlinux_parse(elf, size, &v, NULL), 0);
	assert_int_equal(v.lo, k.pref_address);
	assert_int_equal(v.entry, v.lo);
	assert_true(k.init_size >= v.hi - v.lo);
	free(elf);
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_inflate),	cmocka_unit_test(test_vmlinux_parse),
	    cmocka_unit_test(test_plan),	cmocka_unit_test(test_cache),
	    cmocka_unit_test(test_real_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
