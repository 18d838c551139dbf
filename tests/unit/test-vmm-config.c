/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numaksm-vmm without KVM: the command line, the guest physical layout and
 * its refusals, the page tables, the page generator shared with the guest,
 * and the control protocol's rejection of malformed requests.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "numaksm/cleanup.h"
#include <string.h>
#include "pagegen.h"
#include "vmm.h"

#define MiB (1ull << 20)

/* A file of 100 bytes (one page when loaded), made by main(). */
static char small_file[64] = "/tmp/test-vmm-config.XXXXXX";

/* "small_file@gpa", in one of a few static buffers. */
static char *at(const char *gpa)
{
	static char bufs[4][96];
	static unsigned next;
	char *b = bufs[next++ % 4];
	snprintf(b, sizeof(bufs[0]), "%s@%s", small_file, gpa);
	return b;
}
#define GiB (1ull << 30)

/* Parse argv (program name added) and compute the layout.
 * @return 0 or the negative error; the message in *msg (static). */
static int setup(struct vmm_config *cfg, struct vmm_layout *layout, const char **msg, ...)
{
	static char text[512];
	char *argv[32] = {"numaksm-vmm"};
	int argc = 1;
	va_list ap;
	va_start(ap, msg);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	nk_error *err = NULL;
	vmm_config_init(cfg);
	int r = vmm_config_parse(cfg, argc, argv, &err);
	if (r == 0)
		r = vmm_layout_compute(cfg, layout, &err);
	snprintf(text, sizeof(text), "%s", err ? nk_error_message(err) : "");
	nk_error_free(err);
	*msg = text;
	return r;
}

#define REFUSED(needle, ...)                                                                       \
	do {                                                                                       \
		struct vmm_config c;                                                               \
		struct vmm_layout l;                                                               \
		const char *m;                                                                     \
		int r = setup(&c, &l, &m, "--name", "t", __VA_ARGS__, NULL);                       \
		if (r >= 0 || !strstr(m, needle))                                                  \
			fail_msg("expected a refusal naming '%s', got %d '%s'", needle, r, m);     \
		vmm_config_done(&c);                                                               \
	} while (0)

static void test_one_zone(void **state)
{
	struct vmm_config cfg;
	struct vmm_layout l;
	const char *msg;
	(void)state;
	assert_int_equal(setup(&cfg, &l, &msg, "--name", "vm1", "--memory",
			       "size=64M,mergeable=on,prefault=off", "--cpus", "count=2",
			       "--workload", "size=2M,seed=3", NULL),
			 0);
	assert_int_equal(cfg.n_zones, 1);
	assert_string_equal(cfg.zones[0].spec.id, "ram");
	assert_true(cfg.zones[0].spec.mergeable);
	assert_false(cfg.zones[0].spec.prefault);
	assert_int_equal(cfg.zones[0].gpa, 0);
	assert_int_equal(l.gpa_end, 64 * MiB);
	/* 2 MiB after the system area, half to each vCPU. */
	assert_int_equal(l.work_pages, 512);
	assert_int_equal(l.work[0].n_ranges, 1);
	assert_int_equal(l.work[0].ranges[0].gpa, NKG_SYSTEM_END);
	assert_int_equal(l.work[0].ranges[0].pages, 256);
	assert_int_equal(l.work[1].ranges[0].gpa, NKG_SYSTEM_END + MiB);
	assert_int_equal(l.work[1].ranges[0].pages, 256);
	assert_int_equal(cfg.workload.c.content.seed, 3);
	/* The salt comes from the name: VMs of other names get other unique pages. */
	assert_int_not_equal(cfg.workload.c.content.salt, 0);
	vmm_config_done(&cfg);
}

static void test_zone_placement(void **state)
{
	struct vmm_config cfg;
	struct vmm_layout l;
	const char *msg;
	(void)state;
	/* A 1G-page zone lands 1 GiB aligned; an explicit gpa is kept. */
	assert_int_equal(setup(&cfg, &l, &msg, "--name", "t", "--memory-zone", "id=a,size=66M",
			       "--memory-zone", "id=b,size=1G,hugepages=1G", "--memory-zone",
			       "id=c,size=2M,gpa=0x100000000", NULL),
			 0);
	assert_int_equal(cfg.zones[0].gpa, 0);
	assert_int_equal(cfg.zones[1].gpa, GiB);
	assert_int_equal(cfg.zones[2].gpa, 4 * GiB);
	assert_int_equal(l.gpa_end, 4 * GiB + 2 * MiB);
	vmm_config_done(&cfg);
}

/* KVM's real-mode TSS on Intel goes in a gap of guest RAM below 4 GiB. */
static void test_tss_gap(void **state)
{
	struct vmm_config cfg;
	struct vmm_layout l;
	const char *msg;
	(void)state;
	assert_int_equal(setup(&cfg, &l, &msg, "--name", "t", "--memory", "size=64M", NULL), 0);
	assert_int_equal(l.tss_gpa, 0xfffbc000ull);
	vmm_config_done(&cfg);
	assert_int_equal(setup(&cfg, &l, &msg, "--name", "t", "--memory", "size=8G", NULL), 0);
	assert_int_equal(l.tss_gpa, 0);
	vmm_config_done(&cfg);
	assert_int_equal(setup(&cfg, &l, &msg, "--name", "t", "--memory-zone", "id=a,size=2G",
			       "--memory-zone", "id=b,size=2G,gpa=0x80200000", NULL),
			 0);
	assert_int_equal(l.tss_gpa, 0x80200000ull - 4 * 4096);
	vmm_config_done(&cfg);
}

static void test_refusals(void **state)
{
	(void)state;
	REFUSED("not a multiple of 2M", "--memory", "size=63M");
	REFUSED("overlap", "--memory-zone", "id=a,size=64M", "--memory-zone",
		"id=b,size=64M,gpa=32M");
	REFUSED("exceeds the guest address space", "--memory", "size=300G");
	REFUSED("start at address 0", "--memory", "size=4M");
	REFUSED("start at address 0", "--memory-zone", "id=a,size=64M,gpa=64M");
	REFUSED("not 2M aligned", "--memory-zone", "id=a,size=64M", "--memory-zone",
		"id=b,size=2M,gpa=0x5000000", "--memory-zone", "id=c,size=2M,gpa=0x4100000");
	REFUSED("used twice", "--memory-zone", "id=a,size=64M", "--memory-zone", "id=a,size=64M");
	REFUSED("needs an id", "--memory-zone", "size=64M");
	REFUSED("unknown zone key", "--memory", "size=64M,bogus=1");
	REFUSED("cannot be used with --memory", "--memory", "size=64M", "--memory-zone",
		"id=a,size=64M");
	REFUSED("guest RAM is required", "--cpus", "2");
	REFUSED("not a multiple of threads", "--memory", "size=64M", "--cpus", "count=3,threads=2");
	REFUSED("from 1 to 64", "--memory", "size=64M", "--cpus", "count=65");
	REFUSED("expected dedicated or shared", "--memory", "size=64M", "--cpus", "policy=lazy");
	REFUSED("add up to 100", "--memory", "size=64M", "--workload", "zero=50,shared=60");
	REFUSED("percentage", "--memory", "size=64M", "--workload", "redirty=150");
	REFUSED("milliseconds", "--memory", "size=64M", "--workload", "period=soon");
	REFUSED("add --fill", "--memory", "size=64M", "--workload", "mode=verify");
	REFUSED("add --hold", "--memory", "size=64M", "--workload", "passes=0");
	REFUSED("unknown key", "--memory", "size=64M", "--fill", "passes=2");
	REFUSED("unknown option", "--memory", "size=64M", "--frobnicate");
	REFUSED("needs a value", "--memory");
	REFUSED("unexpected argument", "--memory", "size=64M", "extra");
	/* Loads: the system area, past the zone, overlapping, not a file. */
	REFUSED("hold the guest program", "--memory", "size=64M", "--load", at("1M"));
	REFUSED("do not fit in zone", "--memory", "size=64M", "--load", "/proc/self/exe@0x3fff000");
	REFUSED("no zone at that address", "--memory", "size=64M", "--load", at("128M"));
	REFUSED("overlap", "--memory", "size=64M", "--load", at("16M"), "--load", at("16M"));
	REFUSED("cannot use", "--memory", "size=64M", "--load", "/nonexistent@16M");
	REFUSED("not a regular file", "--memory", "size=64M", "--load", "/etc@16M");
	REFUSED("4 KiB aligned", "--memory", "size=64M", "--load", at("0x1000001"));
	/* Guest NUMA nodes. */
	REFUSED("use --memory-zone", "--memory", "size=64M", "--numa",
		"guest_node=0,cpus=0,zones=ram");
	REFUSED("must start at 1", "--memory-zone", "id=a,size=64M", "--memory-zone",
		"id=b,size=64M", "--numa", "guest_node=0,cpus=0,zones=a", "--numa",
		"guest_node=1,cpus=2,zones=b", "--cpus", "3");
	REFUSED("the guest nodes have 2 vCPUs", "--memory-zone", "id=a,size=64M", "--memory-zone",
		"id=b,size=64M", "--numa", "guest_node=0,cpus=0,zones=a", "--numa",
		"guest_node=1,cpus=1,zones=b", "--cpus", "4");
	REFUSED("in no --numa guest node", "--memory-zone", "id=a,size=64M", "--memory-zone",
		"id=b,size=64M", "--numa", "guest_node=0,cpus=0,zones=a");
	REFUSED("in two guest nodes", "--memory-zone", "id=a,size=64M", "--numa",
		"guest_node=0,cpus=0,zones=a", "--numa", "guest_node=1,cpus=1,zones=a", "--cpus",
		"2");
	REFUSED("guest node 1 is missing", "--memory-zone", "id=a,size=64M", "--memory-zone",
		"id=b,size=64M", "--numa", "guest_node=0,cpus=0,zones=a", "--numa",
		"guest_node=2,cpus=1,zones=b", "--cpus", "2");
	REFUSED("no zone 'zz'", "--memory-zone", "id=a,size=64M", "--numa",
		"guest_node=0,cpus=0,zones=zz");
	REFUSED("one range", "--memory-zone", "id=a,size=64M", "--numa",
		"guest_node=0,cpus=[0,2],zones=a", "--cpus", "3");
	REFUSED("--name", "--memory", "size=64M", "--name", "../x");

	/* A parse that stops inside a group of short options leaves nothing
	 * behind for the next one: this "-h" is not seen again. */
	REFUSED("unknown option '-x'", "--memory", "size=64M", "-xh");
	struct vmm_config c;
	struct vmm_layout l;
	const char *m;
	assert_int_equal(setup(&c, &l, &m, "--name", "t", "--memory", "size=64M", NULL), 0);
	vmm_config_done(&c);
}

/* --console and --boot-timeout: parsed, and bad values refused before
 * anything is created. */
static void test_console(void **state)
{
	char dir[] = "/tmp/test-vmm-console.XXXXXX", path[96], link[96], opt[128];
	struct vmm_config cfg;
	struct vmm_layout lay;
	const char *msg;
	(void)state;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(
	    setup(&cfg, &lay, &msg, "--name", "t", "--memory", "size=64M", "--kernel", "k", NULL),
	    0);
	assert_int_equal(cfg.console, NK_VMM_CONSOLE_STDIO);
	assert_null(cfg.console_path);
	assert_int_equal(cfg.boot_timeout_s, 0);
	vmm_config_done(&cfg);
	assert_int_equal(setup(&cfg, &lay, &msg, "--name", "t", "--memory", "size=64M", "--kernel",
			       "k", "--console", "pty", "--boot-timeout", "5", NULL),
			 0);
	assert_int_equal(cfg.console, NK_VMM_CONSOLE_PTY);
	assert_int_equal(cfg.boot_timeout_s, 5);
	assert_string_equal(nk_vmm_console_mode_name(cfg.console), "pty");
	vmm_config_done(&cfg);
	snprintf(path, sizeof(path), "%s/console.log", dir);
	snprintf(opt, sizeof(opt), "file:%s", path);
	assert_int_equal(setup(&cfg, &lay, &msg, "--name", "t", "--memory", "size=64M", "--kernel",
			       "k", "--console", opt, NULL),
			 0);
	assert_int_equal(cfg.console, NK_VMM_CONSOLE_FILE);
	assert_string_equal(cfg.console_path, path);
	vmm_config_done(&cfg);
	snprintf(opt, sizeof(opt), "socket:%s/console.sock", dir);
	assert_int_equal(setup(&cfg, &lay, &msg, "--name", "t", "--memory", "size=64M", "--kernel",
			       "k", "--console", "stdio", "--console", opt, NULL),
			 0);
	assert_int_equal(cfg.console, NK_VMM_CONSOLE_SOCKET);
	vmm_config_done(&cfg);
	/* A relative path is made absolute, as readers elsewhere need it. */
	char cwd[PATH_MAX], abs[PATH_MAX + 32];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(setup(&cfg, &lay, &msg, "--name", "t", "--memory", "size=64M", "--kernel",
			       "k", "--console", "file:rel.log", NULL),
			 0);
	assert_int_equal(chdir(cwd), 0);
	snprintf(abs, sizeof(abs), "%s/rel.log", dir);
	assert_string_equal(cfg.console_path, abs);
	vmm_config_done(&cfg);
	/* Nothing was created by the parse. */
	assert_int_equal(access(path, F_OK), -1);

#define CONSOLE_REFUSED(needle, ...)                                                               \
	REFUSED(needle, "--memory", "size=64M", "--kernel", "k", __VA_ARGS__)
	CONSOLE_REFUSED("expected stdio, pty, file:PATH or socket:PATH", "--console", "serial");
	CONSOLE_REFUSED("expected stdio, pty, file:PATH or socket:PATH", "--console", "pty:/x");
	CONSOLE_REFUSED("expected stdio, pty, file:PATH or socket:PATH", "--console", "");
	CONSOLE_REFUSED("--console file:: no path: give one", "--console", "file:");
	CONSOLE_REFUSED("--console socket:: no path: give one", "--console", "socket:");
	CONSOLE_REFUSED("--console: cannot create '/nonexistent/c.log'", "--console",
			"file:/nonexistent/c.log");
	CONSOLE_REFUSED("is not a regular file", "--console", "file:/dev/null");
	CONSOLE_REFUSED("the console path holds a control character", "--console",
			"file:/tmp/\033[2J.log");
	CONSOLE_REFUSED("exists and is not a socket", "--console", "socket:/dev/null");
	CONSOLE_REFUSED(
	    "a socket's path has at most", "--console",
	    "socket:/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(path, link), 0);
	snprintf(opt, sizeof(opt), "file:%s", link);
	CONSOLE_REFUSED("is a symbolic link", "--console", opt);
	CONSOLE_REFUSED("--boot-timeout: 'soon': expected whole seconds", "--boot-timeout", "soon");
	CONSOLE_REFUSED("--boot-timeout: '-1': expected whole seconds", "--boot-timeout", "-1");
	CONSOLE_REFUSED("expected whole seconds from 0 to 3600", "--boot-timeout", "3601");
#undef CONSOLE_REFUSED
	REFUSED("--console is for a Linux guest", "--memory", "size=64M", "--console", "pty");
	REFUSED("--boot-timeout is for a Linux guest", "--memory", "size=64M", "--boot-timeout",
		"5");
	unlink(link);
	assert_int_equal(rmdir(dir), 0);
}

static void test_loads_cut_work(void **state)
{
	struct vmm_config cfg;
	struct vmm_layout l;
	const char *msg;
	(void)state;
	/* Each load is one page: the workload goes round them. */
	assert_int_equal(setup(&cfg, &l, &msg, "--name", "t", "--memory", "size=64M", "--load",
			       at("0x400000"), "--load", at("0x402000"), "--workload", "size=16K",
			       NULL),
			 0);
	assert_int_equal(l.work_pages, 4);
	assert_int_equal(l.work[0].n_ranges, 2);
	assert_int_equal(l.work[0].ranges[0].gpa, 0x401000);
	assert_int_equal(l.work[0].ranges[0].pages, 1);
	assert_int_equal(l.work[0].ranges[1].gpa, 0x403000);
	assert_int_equal(l.work[0].ranges[1].pages, 3);
	vmm_config_done(&cfg);
}

static void test_numa_work(void **state)
{
	struct vmm_config cfg;
	struct vmm_layout l;
	const char *msg;
	(void)state;
	assert_int_equal(setup(&cfg, &l, &msg, "--name", "t", "--memory-zone",
			       "id=a,size=64M,nodes=0", "--memory-zone", "id=b,size=64M,nodes=1",
			       "--numa", "guest_node=0,cpus=0-1,zones=[a]", "--numa",
			       "guest_node=1,cpus=2-3,zones=b", "--cpus", "4", "--workload",
			       "size=8M", "--fill", "size=16M", NULL),
			 0);
	assert_int_equal(l.n_guest_nodes, 2);
	assert_int_equal(cfg.zones[1].gpa, 64 * MiB);
	assert_int_equal(cfg.zones[1].guest_node, 1);
	/* Each guest node's vCPUs work in its own zone: 4 MiB per node. */
	for (unsigned v = 0; v < 4; v++) {
		uint64_t lo = v < 2 ? 0 : 64 * MiB, hi = lo + 64 * MiB;
		assert_int_equal(l.work[v].n_ranges, 1);
		assert_true(l.work[v].ranges[0].gpa >= lo && l.work[v].ranges[0].gpa < hi);
		assert_int_equal(l.work[v].ranges[0].pages, 512);
	}
	assert_int_equal(l.fill_pages, 4096);
	vmm_config_done(&cfg);
}

static void test_content_parse(void **state)
{
	struct vmm_content_cfg c;
	struct vmm_workload_cfg w = {.passes = 1};
	nk_error *err = NULL;
	(void)state;
	assert_int_equal(vmm_content_parse("zero=10,unique=30,redirty=2.5%,period=2s,passes=3,"
					   "verify=off,patterns=7,seed=9,salt=5",
					   "--workload", &c, &w, &err),
			 0);
	assert_int_equal(c.content.zero_pct, 10);
	assert_int_equal(c.content.shared_pct, 60);
	assert_int_equal(c.content.redirty_permille, 25);
	assert_int_equal(c.content.patterns, 7);
	assert_int_equal(c.content.seed, 9);
	assert_int_equal(c.content.salt, 5);
	assert_int_equal(w.period_ms, 2000);
	assert_int_equal(w.passes, 3);
	assert_false(w.verify);
	assert_int_equal(vmm_content_parse("shared=100", "--fill", &c, NULL, &err), 0);
	assert_int_equal(c.content.zero_pct, 0);
	assert_int_equal(c.content.shared_pct, 100);
	assert_int_equal(vmm_content_parse("mode=verify", "--fill", &c, NULL, &err), -EINVAL);
	assert_non_null(strstr(nk_error_message(err), "unknown key 'mode'"));
	err = nk_error_free(err);
}

static void test_page_tables(void **state)
{
	struct vmm_config cfg;
	struct vmm_layout l;
	const char *msg;
	(void)state;
	assert_int_equal(setup(&cfg, &l, &msg, "--name", "t", "--memory-zone", "id=a,size=64M",
			       "--memory-zone", "id=b,size=64M,gpa=1G", NULL),
			 0);
	uint64_t *pt = calloc(1, NKG_SYSTEM_END - NKG_PT_GPA);
	assert_non_null(pt);
	vmm_layout_page_tables(&cfg, l.gpa_end, pt);
	/* Walk like the MMU: PML4[0] -> PDPT -> PD -> 2 MiB page. */
	uint64_t pdpt_gpa = pt[0] & ~0xfffull;
	assert_int_equal(pt[0] & 3, 3);
	uint64_t *pdpt = pt + (pdpt_gpa - NKG_PT_GPA) / 8;
	for (uint64_t gpa = 0; gpa < 2 * GiB; gpa += 2 * MiB) {
		uint64_t pdpte = pdpt[gpa >> 30];
		bool mapped = false;
		if (pdpte & 1) {
			uint64_t *pd = pt + ((pdpte & ~0xfffull) - NKG_PT_GPA) / 8;
			uint64_t pde = pd[(gpa >> 21) & 511];
			if (pde & 1) {
				assert_true(pde & (1u << 7)); /* a 2 MiB page */
				assert_int_equal(pde & ~0x1fffffull, gpa);
				mapped = true;
			}
		}
		bool ram = gpa < 64 * MiB || (gpa >= GiB && gpa < GiB + 64 * MiB);
		if (mapped != ram)
			fail_msg("0x%llx: mapped %d, RAM %d", (unsigned long long)gpa, mapped, ram);
	}
	free(pt);
	vmm_config_done(&cfg);
}

static void test_pagegen(void **state)
{
	struct nkg_content a = {.seed = 1,
				.salt = 100,
				.zero_pct = 20,
				.shared_pct = 50,
				.patterns = 16,
				.redirty_permille = 100};
	struct nkg_content b = a;
	uint64_t count[3] = {0}, redirtied = 0;
	static uint64_t page[NK_PG_WORDS];
	(void)state;
	b.salt = 200;
	for (uint64_t gfn = 0; gfn < 100000; gfn++) {
		uint64_t base_a, base_b, sum = 0;
		enum nk_pg_kind ka = nk_pg_page(&a, gfn, 0, &base_a);
		enum nk_pg_kind kb = nk_pg_page(&b, gfn, 0, &base_b);
		count[ka]++;
		/* Same seed: same kinds; shared pages identical across VMs, unique not. */
		assert_int_equal(ka, kb);
		if (ka == NK_PG_SHARED)
			assert_int_equal(base_a, base_b);
		if (ka == NK_PG_UNIQUE)
			assert_int_not_equal(base_a, base_b);
		redirtied += nk_pg_redirtied(&a, gfn, 1);
		if (gfn < 64) {
			uint64_t written = nk_pg_fill(page, ka, base_a);
			assert_int_equal(nk_pg_check(page, ka, base_a, &sum), 0);
			assert_int_equal(sum, written);
			page[7] ^= 1;
			assert_int_equal(nk_pg_check(page, ka, base_a, &sum), 1);
		}
	}
	/* The shares hold within 1% over 100000 pages. */
	assert_in_range(count[NK_PG_ZERO], 19000, 21000);
	assert_in_range(count[NK_PG_SHARED], 49000, 51000);
	assert_in_range(count[NK_PG_UNIQUE], 29000, 31000);
	assert_in_range(redirtied, 9000, 11000);
	/* A page's generation is the last pass that rewrote it. */
	for (uint64_t gfn = 0; gfn < 1000; gfn++) {
		uint32_t g = nk_pg_generation(&a, gfn, 5);
		if (g)
			assert_true(nk_pg_redirtied(&a, gfn, g));
		for (uint32_t p = g + 1; p <= 5; p++)
			assert_false(nk_pg_redirtied(&a, gfn, p));
	}
}

static void test_control_rejects(void **state)
{
	struct vmm_config cfg;
	struct vmm vmm = {.cfg = &cfg, .event_fd = -1};
	unsigned flags;
	(void)state;
	vmm_config_init(&cfg);
	pthread_mutex_init(&vmm.lock, NULL);
	pthread_cond_init(&vmm.cond, NULL);
	static const struct {
		const char *request, *error;
	} cases[] = {
	    {"", "not one JSON object"},
	    {"{\"version\":2", "not one JSON object"},
	    {"{\"version\":2,\"command\":\"stop\"} {}", "not one JSON object"},
	    {"17", "JSON object"},
	    {"[1,2]", "JSON object"},
	    {"{\"command\":\"info\"}", "'version'"},
	    {"{\"version\":3,\"command\":\"info\"}", "speaks 2"},
	    {"{\"version\":1,\"command\":\"info\"}", "speaks 2"},
	    {"{\"version\":2}", "'command'"},
	    {"{\"version\":2,\"command\":7}", "'command'"},
	    {"{\"version\":2,\"command\":\"format-disk\"}", "unknown command 'format-disk'"},
	    {"{\"version\":2,\"command\":\"stop\",\"now\":true}", "unknown key 'now'"},
	    {"{\"version\":2,\"command\":\"migrate\",\"zone\":\"a\",\"nodes\":\"0\"}",
	     "no zone 'a'"},
	    {"{\"version\":2,\"command\":\"migrate\",\"zone\":\"a\"}", "'nodes'"},
	    {"{\"version\":2,\"command\":\"set-mergeable\"}", "'zone'"},
	    {"{\"version\":2,\"command\":\"migrate\",\"zone\":\"a\",\"nodes\":\"1024\"}",
	     "1024 is larger than the maximum 1023"},
	    {"{\"version\":2,\"command\":\"migrate\",\"zone\":\"a\",\"nodes\":\"0-x\"}",
	     "invalid node list '0-x'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *reply =
		    vmm_control_handle(&vmm, cases[i].request, strlen(cases[i].request), &flags);
		assert_non_null(reply);
		if (!strstr(reply, "\"ok\":false") || !strstr(reply, cases[i].error))
			fail_msg("'%s' -> %s (expected an error naming %s)", cases[i].request,
				 reply, cases[i].error);
		assert_int_equal(flags, 0);
		free(reply);
	}
	const char *stop_request = "{\"version\":2,\"command\":\"stop\"}";
	char *reply = vmm_control_handle(&vmm, stop_request, strlen(stop_request), &flags);
	assert_non_null(strstr(reply, "\"ok\":true"));
	assert_int_equal(flags, VMM_REQUEST_STOP);
	free(reply);
	pthread_cond_destroy(&vmm.cond);
	pthread_mutex_destroy(&vmm.lock);
	vmm_config_done(&cfg);
}

static double cpu_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The largest request a client can send, a node list of the widest ranges
 * (about 26000 of them): refused at the first, before a bit is set.  Each
 * range cost about 4 ms set bit by bit, the request close to two minutes,
 * during which the control loop saw neither signals nor other clients. */
static void test_control_huge_list(void **state)
{
	struct vmm_config cfg;
	struct vmm vmm = {.cfg = &cfg, .event_fd = -1};
	static const char head[] = "{\"version\":2,\"command\":\"migrate\",\"zone\":\"ram\","
				   "\"nodes\":\"",
			  range[] = "0-1048576,", tail[] = "0\"}";
	size_t n = (VMM_MSG_MAX - sizeof(head) - sizeof(tail)) / (sizeof(range) - 1);
	char *request = malloc(VMM_MSG_MAX), *p = request;
	unsigned flags;
	(void)state;
	assert_non_null(request);
	vmm_config_init(&cfg);
	pthread_mutex_init(&vmm.lock, NULL);
	p = stpcpy(p, head);
	for (size_t i = 0; i < n; i++)
		p = stpcpy(p, range);
	p = stpcpy(p, tail);
	assert_true((size_t)(p - request) <= VMM_MSG_MAX);
	double t0 = cpu_seconds();
	char *reply = vmm_control_handle(&vmm, request, (size_t)(p - request), &flags);
	double took = cpu_seconds() - t0;
	assert_non_null(reply);
	if (!strstr(reply, "\"ok\":false") || !strstr(reply, "\"errno\":34") ||
	    !strstr(reply, "1048576 is larger than the maximum 1023") || strlen(reply) > 512)
		fail_msg("%zu ranges: %.200s", n, reply);
	if (took > 0.1)
		fail_msg("%zu ranges took %.3f s of CPU to refuse", n, took);
	assert_int_equal(flags, 0);
	free(reply);
	free(request);
	pthread_mutex_destroy(&vmm.lock);
	vmm_config_done(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_zone),	      cmocka_unit_test(test_zone_placement),
	    cmocka_unit_test(test_tss_gap),	      cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_loads_cut_work),    cmocka_unit_test(test_numa_work),
	    cmocka_unit_test(test_content_parse),     cmocka_unit_test(test_page_tables),
	    cmocka_unit_test(test_pagegen),	      cmocka_unit_test(test_control_rejects),
	    cmocka_unit_test(test_control_huge_list), cmocka_unit_test(test_console),
	};
	int fd = mkstemp(small_file);
	if (fd < 0 || write(fd,
			    "0123456789012345678901234567890123456789012345678901234567890123456"
			    "789012345678901234567890123456789",
			    100) != 100)
		return 1;
	close(fd);
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(small_file);
	return r;
}
