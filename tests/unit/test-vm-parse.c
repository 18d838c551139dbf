/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The parsers behind `numaksm status`, on literals: /proc/PID/stat (comms
 * with spaces and parentheses), smaps, numa_maps,
 * /proc/PID/cgroup (v1 and v2), VMM command lines and the choice of guest
 * RAM; each also on malformed and truncated text.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vm-internal.h"

/* A NUL-separated command line from a literal with '|' between arguments. */
static size_t cmdline(char *buf, size_t size, const char *args)
{
	size_t n = strlen(args) + 1;
	assert_true(n <= size);
	memcpy(buf, args, n);
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '|')
			buf[i] = '\0';
	return n;
}

/* `n` bytes of `s` in a buffer of exactly that size, no NUL after them. */
static char *exactly(const char *s, size_t n)
{
	char *b = malloc(n);
	assert_non_null(b);
	memcpy(b, s, n);
	return b;
}

static const char stat_line[] =
    "14045 (CPU 0/TCG) S 1 14042 14042 0 -1 138412224 5393 0 0 0 758 120 0 0 20 0 3 0 248365 "
    "1576435712 43315 18446744073709551615 94621176172544 94621182032981 140726261005888 0 0 "
    "0 2147220087 4100 16451 1 0 0 -1 1 0 0 0 0 0\n";

static void test_stat(void **state)
{
	struct nk_proc_stat st;
	assert_int_equal(nk_proc_stat_parse(stat_line, &st), 0);
	assert_string_equal(st.comm, "CPU 0/TCG");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.ppid, 1);
	assert_int_equal(st.utime_ticks, 758);
	assert_int_equal(st.stime_ticks, 120);
	assert_int_equal(st.thread_count, 3);
	assert_int_equal(st.start_time_ticks, 248365);
	assert_int_equal(st.rss_pages, 43315);
	assert_int_equal(st.last_cpu, 1);
	assert_false(st.flags & NK_PROC_PF_KTHREAD);
	nk_proc_stat_done(&st);

	/* A comm with spaces and parentheses: fields start after the last ')'. */
	assert_int_equal(
	    nk_proc_stat_parse("7 (a) b) (c) R 2 0 0 0 -1 2129984 0 0 0 0 11 22 0 0 20 0 "
			       "1 0 99 0 0\n",
			       &st),
	    0);
	assert_string_equal(st.comm, "a) b) (c");
	assert_int_equal(st.ppid, 2);
	assert_true(st.flags & NK_PROC_PF_KTHREAD);
	assert_int_equal(st.utime_ticks + st.stime_ticks, 33);
	assert_int_equal(st.start_time_ticks, 99);
	assert_int_equal(st.last_cpu, -1); /* the line stops before field 39 */
	nk_proc_stat_done(&st);

	/* Malformed or cut short. */
	assert_int_equal(nk_proc_stat_parse("", &st), -EINVAL);
	assert_int_equal(nk_proc_stat_parse("12 (x S 1 2 3", &st), -EINVAL);
	assert_int_equal(nk_proc_stat_parse("12 (x) S 1 2 3 4 5 6 7 8 9 10 11 12\n", &st), -EINVAL);
	assert_int_equal(
	    nk_proc_stat_parse("12 (x) SS 1 0 0 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 0 0\n", &st),
	    -EINVAL);
	assert_int_equal(
	    nk_proc_stat_parse("12 (x) S one 0 0 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 0 0\n", &st),
	    -EINVAL);
	assert_int_equal(
	    nk_proc_stat_parse("(x) S 1 0 0 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 0 0\n", &st),
	    -EINVAL);
	assert_int_equal(nk_proc_stat_parse(NULL, &st), -EINVAL);
	/* Field 22 (the start time) garbled; field 39 (the last CPU) too. */
	assert_int_equal(
	    nk_proc_stat_parse("9 (x) S 1 0 0 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 -5 0 0\n", &st),
	    -EINVAL);
	assert_int_equal(nk_proc_stat_parse("9 (x) S 1 0 0 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 0 0 0 "
					    "0 0 0 0 0 0 0 0 0 0 0 0 0 cpu\n",
					    &st),
			 -EINVAL);
	/* The children's CPU time, fields 16 and 17. */
	assert_int_equal(nk_proc_stat_parse(stat_line, &st), 0);
	assert_int_equal(st.cutime_ticks + st.cstime_ticks, 0);
	nk_proc_stat_done(&st);
}

/* Three mappings of a QEMU TCG guest: the binary, guest RAM (THP and
 * mergeable), the TCG code buffer (executable, not mergeable). */
static const char smaps[] =
    "560eb557a000-560eb5981000 r--p 00000000 fe:00 10977372                   "
    "/usr/bin/qemu-system-x86_64\n"
    "Size:               4124 kB\n"
    "Rss:                4124 kB\n"
    "AnonHugePages:         0 kB\n"
    "KernelPageSize:        4 kB\n"
    "VmFlags: rd mr mw me\n"
    "7ff5dbe00000-7ff5ebe00000 rw-p 00000000 00:00 0 \n"
    "Size:             262144 kB\n"
    "KernelPageSize:        4 kB\n"
    "Rss:               80876 kB\n"
    "Anonymous:         80876 kB\n"
    "AnonHugePages:     22528 kB\n"
    "ShmemPmdMapped:        0 kB\n"
    "FilePmdMapped:         0 kB\n"
    "Shared_Hugetlb:        0 kB\n"
    "Private_Hugetlb:       0 kB\n"
    "KSM:               26508 kB\n"
    "Swap:                 12 kB\n"
    "SwapPss:               7 kB\n"
    "THPeligible:    1\n"
    "VmFlags: rd wr mr mw me dc ac hg mg\n"
    "7ff5ec000000-7ff62bfff000 rwxp 00000000 00:00 0 \n"
    "Size:            1048572 kB\n"
    "Rss:               43008 kB\n"
    "AnonHugePages:     43008 kB\n"
    "VmFlags: rd wr ex mr mw me ac hg\n";

static void test_smaps(void **state)
{
	struct nk_proc_vma *v;
	size_t n;
	assert_int_equal(nk_proc_smaps_parse(smaps, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].name, "/usr/bin/qemu-system-x86_64");
	assert_string_equal(v[0].perms, "r--p");
	assert_false(v[0].mergeable);
	assert_int_equal(v[1].start, 0x7ff5dbe00000);
	assert_int_equal(v[1].end - v[1].start, 256ull << 20);
	assert_string_equal(v[1].name, "");
	assert_true(v[1].mergeable);
	assert_false(v[1].hugetlb_vma);
	assert_int_equal(v[1].rss_bytes, 80876ull * 1024);
	assert_int_equal(v[1].anon_thp_bytes, 22528ull * 1024);
	assert_int_equal(v[1].ksm_bytes, 26508ull * 1024);
	assert_int_equal(v[1].anon_bytes, 80876ull * 1024);
	assert_int_equal(v[1].swap_bytes, 12 * 1024); /* not SwapPss */
	assert_int_equal(v[0].anon_bytes, 0);
	assert_int_equal(v[1].kernel_page_size, 4096);
	assert_string_equal(v[2].perms, "rwxp");

	/* Guest RAM: the mergeable mapping, not the larger code buffer; with
	 * QEMU's -m size the same. */
	size_t *idx, k;
	assert_int_equal(vm_pick_guest_ram(v, n, 0, &idx, &k), 0);
	assert_int_equal(k, 1);
	assert_int_equal(idx[0], 1);
	free(idx);
	assert_int_equal(vm_pick_guest_ram(v, n, 256ull << 20, &idx, &k), 0);
	assert_int_equal(k, 1);
	assert_int_equal(idx[0], 1);
	free(idx);
	nk_proc_vmas_free(v, n);

	/* Truncated inside a mapping (no VmFlags), malformed header or value,
	 * a value line before any header. */
	char cut[sizeof(smaps)];
	memcpy(cut, smaps, sizeof(smaps));
	cut[strstr(smaps, "VmFlags: rd wr ex") - smaps] = '\0';
	assert_int_equal(nk_proc_smaps_parse(cut, &v, &n), -EINVAL);
	assert_int_equal(nk_proc_smaps_parse("7ff5-zz r--p 0 0 0\nVmFlags: rd\n", &v, &n), -EINVAL);
	assert_int_equal(nk_proc_smaps_parse("7000-6000 r--p 0 0 0\nVmFlags: rd\n", &v, &n),
			 -EINVAL);
	assert_int_equal(
	    nk_proc_smaps_parse("7000-8000 r--p 0 0 0\nRss: lots kB\nVmFlags: rd\n", &v, &n),
	    -EINVAL);
	assert_int_equal(nk_proc_smaps_parse("Rss: 4 kB\n", &v, &n), -EINVAL);
	assert_int_equal(
	    nk_proc_smaps_parse("7000-8000 r--p 0 0 0\nthis is not smaps\nVmFlags: rd\n", &v, &n),
	    -EINVAL);
	/* No mapping at all is an empty list (a kernel thread). */
	assert_int_equal(nk_proc_smaps_parse("", &v, &n), 0);
	assert_int_equal(n, 0);
	nk_proc_vmas_free(v, n);
}

static void test_guest_ram_choice(void **state)
{
	/* Hugetlb RAM in two NUMA backends (memfd), plus a large anonymous
	 * heap-like mapping and a small mergeable ROM. */
	static const char text[] =
	    "7f0000000000-7f0020000000 rw-s 00000000 00:0f 1 /memfd:mem0 (deleted)\n"
	    "KernelPageSize:     2048 kB\n"
	    "Rss:                   0 kB\n"
	    "Shared_Hugetlb:   524288 kB\n"
	    "VmFlags: rd wr sh mr mw me ms de ht\n"
	    "7f0040000000-7f0080000000 rw-s 00000000 00:0f 2 /memfd:mem1 (deleted)\n"
	    "KernelPageSize:     2048 kB\n"
	    "Shared_Hugetlb:  1048576 kB\n"
	    "VmFlags: rd wr sh mr mw me ms de ht\n"
	    "7f0100000000-7f0108000000 rw-p 00000000 00:00 0 \n"
	    "Rss:                1024 kB\n"
	    "VmFlags: rd wr mr mw me ac\n"
	    "7f0200000000-7f0200040000 rw-p 00000000 00:00 0 \n"
	    "VmFlags: rd wr mr mw me mg\n";
	struct nk_proc_vma *v;
	size_t n, *idx, k;
	assert_int_equal(nk_proc_smaps_parse(text, &v, &n), 0);
	assert_int_equal(n, 4);
	assert_true(v[0].hugetlb_vma);
	assert_int_equal(v[0].kernel_page_size, 2u << 20);
	assert_int_equal(v[0].hugetlb_bytes, 512ull << 20);
	assert_string_equal(v[1].name, "/memfd:mem1 (deleted)");
	/* Unknown size: the hugetlb mappings; the 256 KiB ROM is too small. */
	assert_int_equal(vm_pick_guest_ram(v, n, 0, &idx, &k), 0);
	assert_int_equal(k, 2);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], 1);
	free(idx);
	/* Known 1 GiB: the largest first, which is enough. */
	assert_int_equal(vm_pick_guest_ram(v, n, 1ull << 30, &idx, &k), 0);
	assert_int_equal(k, 1);
	assert_int_equal(idx[0], 1);
	free(idx);
	/* No mergeable or hugetlb mapping: the large anonymous one. */
	assert_int_equal(vm_pick_guest_ram(v + 2, 1, 0, &idx, &k), 0);
	assert_int_equal(k, 1);
	free(idx);
	nk_proc_vmas_free(v, n);

	/* -m 64: a 14 TiB reservation (a sanitizer's shadow) is not guest
	 * RAM, the 64 MiB mapping is. */
	static const char shadow[] = "100000000000-1e0000000000 rw-p 00000000 00:00 0 \n"
				     "Rss:                 512 kB\n"
				     "VmFlags: rd wr mr mw me nr\n"
				     "7f0000000000-7f0004000000 rw-p 00000000 00:00 0 \n"
				     "Rss:                1024 kB\n"
				     "VmFlags: rd wr mr mw me ac\n";
	assert_int_equal(nk_proc_smaps_parse(shadow, &v, &n), 0);
	assert_int_equal(vm_pick_guest_ram(v, n, 64ull << 20, &idx, &k), 0);
	assert_int_equal(k, 1);
	assert_int_equal(idx[0], 1);
	free(idx);
	nk_proc_vmas_free(v, n);
}

static void test_numa_maps(void **state)
{
	struct vm_numa_map *m;
	size_t n;
	assert_int_equal(
	    vm_parse_numa_maps("560eb620f000 default file=/usr/bin/qemu-system-x86_64 anon=251 "
			       "dirty=251 active=0 N0=251 kernelpagesize_kB=4\n"
			       "7ff5dbe00000 bind:1 anon=20241 dirty=20241 N0=3 N1=20238 "
			       "kernelpagesize_kB=4\n"
			       "7f0000000000 interleave:0-1 file=/memfd:mem0\\040(deleted) huge "
			       "dirty=256 N0=128 N1=128 kernelpagesize_kB=2048\n"
			       "7fff0000 default\n",
			       &m, &n),
	    0);
	assert_int_equal(n, 4);
	assert_int_equal(m[0].start, 0x560eb620f000);
	assert_int_equal(m[0].n_node_pages, 1);
	assert_int_equal(m[0].node_pages[0], 251);
	assert_int_equal(m[1].n_node_pages, 2);
	assert_int_equal(m[1].node_pages[1], 20238);
	assert_int_equal(m[2].page_size, 2u << 20);
	assert_int_equal(m[2].node_pages[0] + m[2].node_pages[1], 256);
	assert_int_equal(m[3].n_node_pages, 0);
	assert_int_equal(m[3].page_size, 4096);
	vm_numa_maps_free(m, n);

	assert_int_equal(vm_parse_numa_maps("zz default N0=1\n", &m, &n), -EINVAL);
	assert_int_equal(vm_parse_numa_maps("7000 default N0=x\n", &m, &n), -EINVAL);
	assert_int_equal(vm_parse_numa_maps("7000 default N1x=4\n", &m, &n), -EINVAL);
	assert_int_equal(vm_parse_numa_maps("7000 default kernelpagesize_kB=0\n", &m, &n), -EINVAL);
	assert_int_equal(vm_parse_numa_maps("7000 default N0=", &m, &n), -EINVAL); /* cut */
}

static void test_proc_cgroup(void **state)
{
	struct nk_proc_cgroup *cg;
	size_t n;
	/* Hybrid: v1 hierarchies and the v2 line. */
	assert_int_equal(nk_proc_cgroup_parse("9:name=systemd:/user.slice\n"
					      "4:memory:/user.slice/session-2.scope\n"
					      "3:cpuset:/\n"
					      "2:cpu,cpuacct:/a:b\n"
					      "0::/\n",
					      &cg, &n),
			 0);
	assert_int_equal(n, 5);
	assert_int_equal(cg[1].hierarchy, 4);
	assert_string_equal(cg[1].controllers, "memory");
	assert_string_equal(nk_proc_cgroup_path(cg, n, "memory"), "/user.slice/session-2.scope");
	assert_string_equal(nk_proc_cgroup_path(cg, n, "cpuset"), "/");
	assert_string_equal(nk_proc_cgroup_path(cg, n, "cpuacct"), "/a:b"); /* a ':' in a path */
	assert_string_equal(nk_proc_cgroup_path(cg, n, ""), "/");
	assert_null(nk_proc_cgroup_path(cg, n, "cpus"));
	assert_null(nk_proc_cgroup_path(cg, n, "pids"));
	nk_proc_cgroups_free(cg, n);
	/* Pure v2. */
	assert_int_equal(
	    nk_proc_cgroup_parse("0::/machine.slice/machine-qemu\\x2d1.scope\n", &cg, &n), 0);
	assert_int_equal(n, 1);
	assert_null(nk_proc_cgroup_path(cg, n, "cpuset"));
	assert_string_equal(nk_proc_cgroup_path(cg, n, ""),
			    "/machine.slice/machine-qemu\\x2d1.scope");
	nk_proc_cgroups_free(cg, n);
	/* Malformed and empty. */
	assert_int_equal(nk_proc_cgroup_parse("", &cg, &n), -EINVAL);
	assert_int_equal(nk_proc_cgroup_parse("4:memory\n", &cg, &n), -EINVAL);
	assert_int_equal(nk_proc_cgroup_parse("x:memory:/\n", &cg, &n), -EINVAL);
	assert_int_equal(nk_proc_cgroup_parse("4:memory:relative\n", &cg, &n), -EINVAL);
	assert_int_equal(nk_proc_cgroup_parse("0::/\n4:memory:", &cg, &n), -EINVAL); /* cut */
}

static void test_cmdline(void **state)
{
	char buf[512], *v;
	uint64_t bytes;
	size_t len;

	/* QEMU as libvirt runs it, and the short -name form. */
	len = cmdline(buf, sizeof(buf),
		      "/usr/bin/qemu-system-x86_64|-name|guest=web-1,debug-threads=on|-m|"
		      "size=4194304k,slots=16,maxmem=16G|-accel|kvm");
	assert_int_equal(vm_kind_of("qemu-system-x86", buf, NULL, 0), NK_VM_QEMU);
	assert_int_equal(vm_cmdline_name(NK_VM_QEMU, buf, len, &v), 0);
	assert_string_equal(v, "web-1");
	free(v);
	assert_int_equal(vm_cmdline_ram(NK_VM_QEMU, buf, len, &bytes), 0);
	assert_int_equal(bytes, 4ull << 30);
	len = cmdline(buf, sizeof(buf), "qemu-kvm|-m|2048|-name|db");
	assert_int_equal(vm_cmdline_name(NK_VM_QEMU, buf, len, &v), 0);
	assert_string_equal(v, "db");
	free(v);
	assert_int_equal(vm_cmdline_ram(NK_VM_QEMU, buf, len, &bytes), 0);
	assert_int_equal(bytes, 2048ull << 20); /* QEMU's unit is MiB */
	len = cmdline(buf, sizeof(buf), "qemu-system-aarch64|-m|256M|-name");
	assert_int_equal(vm_cmdline_name(NK_VM_QEMU, buf, len, &v), 0);
	assert_null(v); /* -name with nothing after it */
	assert_int_equal(vm_cmdline_ram(NK_VM_QEMU, buf, len, &bytes), 0);
	assert_int_equal(bytes, 256ull << 20);
	len = cmdline(buf, sizeof(buf), "qemu-system-x86_64|-m|lots");
	assert_int_equal(vm_cmdline_ram(NK_VM_QEMU, buf, len, &bytes), 0);
	assert_int_equal(bytes, 0); /* unreadable: unknown */

	/* Firecracker --id, Cloud Hypervisor --memory size=, crosvm --mem. */
	len = cmdline(buf, sizeof(buf), "/usr/bin/firecracker|--api-sock|/run/fc.sock|--id=fc-7");
	assert_int_equal(vm_kind_of("firecracker", buf, NULL, 0), NK_VM_FIRECRACKER);
	assert_int_equal(vm_cmdline_name(NK_VM_FIRECRACKER, buf, len, &v), 0);
	assert_string_equal(v, "fc-7");
	free(v);
	len =
	    cmdline(buf, sizeof(buf), "cloud-hypervisor|--memory|size=1G,shared=on|--cpus|boot=2");
	assert_int_equal(vm_kind_of("cloud-hyperviso", NULL, NULL, 0), NK_VM_CLOUD_HYPERVISOR);
	assert_int_equal(vm_cmdline_ram(NK_VM_CLOUD_HYPERVISOR, buf, len, &bytes), 0);
	assert_int_equal(bytes, 1ull << 30);
	assert_int_equal(vm_cmdline_name(NK_VM_CLOUD_HYPERVISOR, buf, len, &v), 0);
	assert_null(v);
	len = cmdline(buf, sizeof(buf), "crosvm|run|--mem|1024|vmlinux");
	assert_int_equal(vm_kind_of("crosvm", buf, NULL, 0), NK_VM_CROSVM);
	assert_int_equal(vm_cmdline_ram(NK_VM_CROSVM, buf, len, &bytes), 0);
	assert_int_equal(bytes, 1ull << 30);

	/* numaksm-vmm, and what is not a VMM. */
	assert_int_equal(vm_kind_of("numaksm-vmm", NULL, NULL, 0), NK_VM_NUMAKSM);
	len = cmdline(buf, sizeof(buf),
		      "numaksm-vmm|--name|web|--memory-zone|id=z0,size=512M,nodes=0|"
		      "--memory-zone=id=z1,size=1G|--cpus|2");
	assert_int_equal(vm_cmdline_name(NK_VM_NUMAKSM, buf, len, &v), 0);
	assert_string_equal(v, "web");
	free(v);
	assert_int_equal(vm_cmdline_ram(NK_VM_NUMAKSM, buf, len, &bytes), 0);
	assert_int_equal(bytes, (512ull << 20) + (1ull << 30)); /* every zone */
	len = cmdline(buf, sizeof(buf), "numaksm-vmm|--name|x|--memory|size=256M,mergeable=on");
	assert_int_equal(vm_cmdline_ram(NK_VM_NUMAKSM, buf, len, &bytes), 0);
	assert_int_equal(bytes, 256ull << 20);
	assert_int_equal(vm_kind_of("bash", "/bin/bash", NULL, 0), NK_VM_PROCESS);
	assert_int_equal(vm_kind_of("x", "/opt/qemu/bin/qemu-system-riscv64", NULL, 0), NK_VM_QEMU);
	assert_int_equal(vm_kind_of(NULL, NULL, NULL, 0), NK_VM_PROCESS);
	assert_string_equal(nk_vm_kind_name(NK_VM_CLOUD_HYPERVISOR), "cloud-hypervisor");
	assert_string_equal(nk_vm_kind_name((enum nk_vm_kind)99), "?");

	/* Options: "--opt value", "--opt=value", a last option with no value. */
	len = cmdline(buf, sizeof(buf), "x|--a|1|--b=2|--c");
	assert_int_equal(vm_cmdline_option(buf, len, "--a", &v), 0);
	assert_string_equal(v, "1");
	free(v);
	assert_int_equal(vm_cmdline_option(buf, len, "--b", &v), 0);
	assert_string_equal(v, "2");
	free(v);
	assert_int_equal(vm_cmdline_option(buf, len, "--c", &v), 0);
	assert_null(v);
	assert_int_equal(vm_cmdline_option(buf, len, "--d", &v), 0);
	assert_null(v);

	/* A last argument without its NUL (a cut command line, or one its process
	 * rewrote) is read within the length: in a buffer of exactly that length,
	 * ASan sees any byte read past it. */
	static const char cut[] = "qemu-system-x86_64\0-m\0size=2G\0-name\0db\0-chardev\0"
				  "/var/lib/libvirt/qemu/domain-1-db";
	len = sizeof(cut) - 1;
	char *exact = exactly(cut, len);
	assert_int_equal(vm_kind_of("qemu-system-x86", exact, exact, len), NK_VM_LIBVIRT);
	assert_int_equal(vm_kind_of("qemu-system-x86", exact, exact, len - 5), NK_VM_QEMU);
	assert_int_equal(vm_cmdline_name(NK_VM_LIBVIRT, exact, len, &v), 0);
	assert_string_equal(v, "db");
	free(v);
	assert_int_equal(vm_cmdline_option(exact, len - 3, "-chardev", &v), 0);
	assert_string_equal(v, "/var/lib/libvirt/qemu/domain-1");
	free(v);
	assert_int_equal(vm_cmdline_ram(NK_VM_LIBVIRT, exact, len, &bytes), 0);
	assert_int_equal(bytes, 2ull << 30);
	/* Cut right after an option's name. */
	assert_int_equal(vm_cmdline_option(exact, 35, "-name", &v), 0);
	assert_null(v);
	free(exact);
	static const char vmm[] = "numaksm-vmm\0--memory-zone\0id=a,size=1G\0--memory=size=2G";
	exact = exactly(vmm, sizeof(vmm) - 1);
	assert_int_equal(vm_cmdline_ram(NK_VM_NUMAKSM, exact, sizeof(vmm) - 1, &bytes), 0);
	assert_int_equal(bytes, 3ull << 30);
	assert_int_equal(vm_cmdline_ram(NK_VM_NUMAKSM, exact, sizeof(vmm) - 3, &bytes), 0);
	assert_int_equal(bytes, 1ull << 30); /* "size=" is no size */
	free(exact);
}

/* vCPU thread names, by kind: the kind table's, as status and pin read them. */
static void test_thread_names(void **state)
{
	static const struct {
		enum nk_vm_kind kind;
		const char *name;
		int vcpu;
	} names[] = {
	    {NK_VM_QEMU, "CPU 0/TCG", 0},
	    {NK_VM_QEMU, "CPU 12/KVM", 12},
	    {NK_VM_LIBVIRT, "CPU 3/KVM", 3},
	    {NK_VM_NUMAKSM, "CPU 1/KVM", 1},
	    {NK_VM_NUMAKSM, "CPU 1/TCG", -1}, /* numaksm-vmm runs on KVM only */
	    {NK_VM_CLOUD_HYPERVISOR, "vcpu3", 3},
	    {NK_VM_FIRECRACKER, "fc_vcpu 1", 1},
	    {NK_VM_CROSVM, "crosvm_vcpu7", 7},
	    {NK_VM_QEMU, "vcpu3", -1}, /* another VMM's name */
	    {NK_VM_FIRECRACKER, "CPU 0/KVM", -1},
	    {NK_VM_PROCESS, "vcpu2", 2}, /* a plain process: any VMM's names */
	    {NK_VM_PROCESS, "fc_vcpu 4", 4},
	    {NK_VM_QEMU, "qemu-system-x86", -1},
	    {NK_VM_QEMU, "CPU /KVM", -1},
	    {NK_VM_QEMU, "CPU 1/KVM ", -1},
	    {NK_VM_CLOUD_HYPERVISOR, "vcpu", -1},
	    {NK_VM_QEMU, "CPU 99999999/KVM", -1},
	    {NK_VM_PROCESS, "", -1},
	    {NK_VM_QEMU, "CPU 1/KV", -1},
	    {NK_VM_QEMU, "CPU 1/KVMx", -1},
	    {NK_VM_QEMU, "CPU -1/KVM", -1},
	    {NK_VM_CLOUD_HYPERVISOR, "vcpu3x", -1},
	    {NK_VM_FIRECRACKER, "fc_vcpu5", -1},
	    {NK_VM_PROCESS, "IO iothread0", -1},
	    {NK_VM_CLOUD_HYPERVISOR, "vcpu17", 17},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const void *family = NULL;
		int vcpu = vm_vcpu_of_thread(names[i].kind, names[i].name, &family);
		if (vcpu != names[i].vcpu)
			fail_msg("%s thread '%s': vCPU %d, expected %d",
				 nk_vm_kind_name(names[i].kind), names[i].name, vcpu,
				 names[i].vcpu);
		assert_true((vcpu >= 0) == (family != NULL));
	}
	/* Two naming families in one process are told apart. */
	const void *a = NULL, *b = NULL;
	vm_vcpu_of_thread(NK_VM_PROCESS, "vcpu0", &a);
	vm_vcpu_of_thread(NK_VM_PROCESS, "CPU 1/KVM", &b);
	assert_ptr_not_equal(a, b);
}

/* libvirt's QEMU is told from another by its command line; its UUID is read. */
static void test_libvirt_kind(void **state)
{
	char buf[1024], *v;
	size_t len = cmdline(buf, sizeof(buf),
			     "/usr/bin/qemu-system-x86_64|-name|guest=db1,debug-threads=on|-S|"
			     "-object|{\"qom-type\":\"secret\",\"id\":\"masterKey0\","
			     "\"file\":\"/var/lib/libvirt/qemu/domain-3-db1/master-key.aes\"}|"
			     "-uuid|5a2b1c3d-0000-4000-8000-00000000abcd|-m|512");
	assert_int_equal(vm_kind_of("qemu-system-x86", buf, buf, len), NK_VM_LIBVIRT);
	assert_int_equal(vm_kind_of("qemu-system-x86", buf, NULL, 0), NK_VM_QEMU);
	assert_int_equal(vm_cmdline_name(NK_VM_LIBVIRT, buf, len, &v), 0);
	assert_string_equal(v, "db1");
	free(v);
	assert_int_equal(vm_cmdline_uuid(NK_VM_LIBVIRT, buf, len, &v), 0);
	assert_string_equal(v, "5a2b1c3d-0000-4000-8000-00000000abcd");
	free(v);
	assert_string_equal(nk_vm_kind_name(NK_VM_LIBVIRT), "libvirt");
	/* A QEMU of the user's own is no libvirt domain, and has no UUID. */
	len = cmdline(buf, sizeof(buf), "qemu-system-x86_64|-name|mine|-m|512");
	assert_int_equal(vm_kind_of("qemu-system-x86", buf, buf, len), NK_VM_QEMU);
	assert_int_equal(vm_cmdline_uuid(NK_VM_QEMU, buf, len, &v), 0);
	assert_null(v);
	assert_int_equal(vm_cmdline_uuid(NK_VM_FIRECRACKER, buf, len, &v), 0);
	assert_null(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stat),
	    cmocka_unit_test(test_smaps),
	    cmocka_unit_test(test_guest_ram_choice),
	    cmocka_unit_test(test_numa_maps),
	    cmocka_unit_test(test_proc_cgroup),
	    cmocka_unit_test(test_cmdline),
	    cmocka_unit_test(test_thread_names),
	    cmocka_unit_test(test_libvirt_kind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
