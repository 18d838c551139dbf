/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numaksm-vmm end to end: starts real VMs and checks them from outside,
 * through the control socket, /proc and the guest's RAM read with
 * /proc/PID/mem.  Run on a host with /dev/kvm (CTest label host) and in the
 * NUMA lab's kvm guest; without /dev/kvm it exits 77.
 *
 *   test-vmm patterns   guest-written pages match the generator, host-side;
 *                       a page corrupted from outside is caught by the guest;
 *                       host-written --fill content is verified by the guest
 *   test-vmm affinity   vCPU threads are "CPU n/KVM" and pinned as planned;
 *                       more vCPUs than fit are refused with nothing left
 *   test-vmm ksm        two VMs loading the same file merge (KSM)
 *   test-vmm signals    SIGTERM and SIGINT tear everything down
 *   test-vmm control    info, pause/resume, mergeable, migrate; malformed
 *                       messages are rejected and the VM lives on
 *   test-vmm numa       two guest nodes bound to two host nodes (lab)
 *   test-vmm hugepages  a 1G zone on node 1, a 2M zone on node 0 (lab)
 *   test-vmm limits     clients cannot hold the control loop: SIGTERM with
 *                       an idle client or after the largest request exits
 *                       within 1 s; 17 idle clients do not lock out info;
 *                       idle clients are dropped; info answers while a
 *                       zone migrates (lab: nodes 0 and 1), a second
 *                       migrate is refused, SIGTERM stops one within 1 s
 *
 * The VMM is $NUMAKSM_VMM or numaksm-vmm from PATH; each test uses its own
 * NUMAKSM_RUNTIME_DIR, so it never meets the host's VMs.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <numaif.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "numaksm/cleanup.h"
#include "numaksm/core.h"
#include "numaksm/ksm.h"
#include "numaksm/policy.h"
#include "numaksm/vmm.h"
#include "pagegen.h"

static int failures;
static char rundir[64];

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#define REQUIRE(cond, ...)                                                                         \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			CHECK(cond, __VA_ARGS__);                                                  \
			cleanup_and_exit(1);                                                       \
		}                                                                                  \
	} while (0)

static pid_t vms[8];
static void ksm_restore(void);

static void cleanup_and_exit(int status)
{
	ksm_restore();
	for (size_t i = 0; i < 8; i++)
		if (vms[i] > 0) {
			kill(vms[i], SIGKILL);
			waitpid(vms[i], NULL, 0);
		}
	if (rundir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rundir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", rundir);
	}
	exit(status);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const char *vmm_program(void)
{
	const char *p = getenv("NUMAKSM_VMM");
	return p && *p ? p : "numaksm-vmm";
}

/* Where the next VMM's stdout goes (NULL: ours). */
static const char *start_stdout;

/* Start a VMM: argv after the program name, NULL-terminated. */
static pid_t start_vm(const char *first, ...)
{
	const char *argv[64] = {vmm_program(), first};
	size_t n = 2;
	va_list ap;
	va_start(ap, first);
	while (n < 63 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	fprintf(stderr, "start:");
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %s", argv[i]);
	fputc('\n', stderr);
	pid_t pid = fork();
	if (pid == 0) {
		if (start_stdout) {
			int fd = open(start_stdout, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
				_exit(127);
		}
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "cannot run %s: %m\n", argv[0]);
		_exit(127);
	}
	for (size_t i = 0; i < 8; i++)
		if (vms[i] <= 0) {
			vms[i] = pid;
			break;
		}
	return pid;
}

static int wait_vm(pid_t pid, double timeout_s)
{
	double end = now_s() + timeout_s;
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (now_s() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "VMM %d did not exit in %.0f s: killed\n", (int)pid,
				timeout_s);
			status = -1;
			break;
		}
		usleep(20000);
	}
	for (size_t i = 0; i < 8; i++)
		if (vms[i] == pid)
			vms[i] = 0;
	if (status == -1)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Send a request; @return the parsed reply (json_object_put it), NULL on error. */
static json_object *call(const char *name, const char *request)
{
	char *reply = NULL;
	nk_error *err = NULL;
	if (nk_vmm_call(rundir, name, request, 60000, &reply, &err) < 0) {
		fprintf(stderr, "call %s %s: %s\n", name, request,
			err ? nk_error_message(err) : "?");
		nk_error_free(err);
		return NULL;
	}
	json_object *o = json_tokener_parse(reply);
	free(reply);
	return o;
}

static bool reply_ok(json_object *reply)
{
	json_object *ok;
	return reply && json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok);
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (o)
		json_object_object_get_ex(o, key, &v);
	return v;
}

static uint64_t get_u64(json_object *o, const char *key)
{
	return (uint64_t)json_object_get_uint64(get(o, key));
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	return v ? json_object_get_string(v) : "";
}

static double get_double(json_object *o, const char *key)
{
	return json_object_get_double(get(o, key));
}

/* A checksum, seed or salt: "0x" and 16 hex digits. */
static uint64_t get_hex(json_object *o, const char *key)
{
	return strtoull(get_str(o, key), NULL, 16);
}

/* The VM's info result (caller puts the whole reply, returned in *ret_reply). */
static json_object *info(const char *name, json_object **ret_reply)
{
	json_object *reply = call(name, "{\"version\":2,\"command\":\"info\"}");
	*ret_reply = reply;
	return reply_ok(reply) ? get(reply, "result") : NULL;
}

/* Wait until the VM answers; @return false if its VMM exited first. */
static bool wait_running(const char *name, pid_t pid, double timeout_s)
{
	double end = now_s() + timeout_s;
	char path[128];
	snprintf(path, sizeof(path), "%s/%s.sock", rundir, name);
	while (now_s() < end) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			for (size_t i = 0; i < 8; i++)
				if (vms[i] == pid)
					vms[i] = 0;
			return false;
		}
		if (access(path, F_OK) == 0) {
			json_object *reply, *in = info(name, &reply);
			bool up = in && strcmp(get_str(in, "state"), "running") == 0;
			bool halted = in && strcmp(get_str(in, "state"), "halted") == 0;
			json_object_put(reply);
			if (up || halted)
				return true;
		}
		usleep(50000);
	}
	return false;
}

/* Wait until every vCPU halted; @return the info reply (put it), or NULL. */
static json_object *wait_halted(const char *name, double timeout_s)
{
	double end = now_s() + timeout_s;
	while (now_s() < end) {
		json_object *reply, *in = info(name, &reply);
		if (in && !strcmp(get_str(in, "state"), "halted"))
			return reply;
		if (in && !strcmp(get_str(in, "state"), "failed")) {
			fprintf(stderr, "VM %s failed: %s\n", name,
				json_object_to_json_string(get(in, "vcpus")));
			json_object_put(reply);
			return NULL;
		}
		json_object_put(reply);
		usleep(100000);
	}
	fprintf(stderr, "VM %s did not halt in %.0f s\n", name, timeout_s);
	return NULL;
}

static bool stop_vm(const char *name, pid_t pid)
{
	json_object *reply = call(name, "{\"version\":2,\"command\":\"stop\"}");
	bool ok = reply_ok(reply);
	json_object_put(reply);
	int status = wait_vm(pid, 60);
	CHECK(ok && status == 0, "stop %s: reply ok %d, exit status %d", name, ok, status);
	return ok && status == 0;
}

static void need_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("SKIP: /dev/kvm: %s (run where KVM works, or in the NUMA lab's kvm "
		       "topology)\n",
		       strerror(errno));
		exit(77);
	}
	close(fd);
}

static void make_rundir(void)
{
	snprintf(rundir, sizeof(rundir), "/tmp/numaksm-vmm-test.XXXXXX");
	if (!mkdtemp(rundir)) {
		perror("mkdtemp");
		exit(1);
	}
	setenv("NUMAKSM_RUNTIME_DIR", rundir, 1);
}

static bool read_guest(pid_t pid, uint64_t host_addr, void *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = pread(fd, buf, len, (off_t)host_addr);
	close(fd);
	return n == (ssize_t)len;
}

static bool write_guest(pid_t pid, uint64_t host_addr, const void *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = pwrite(fd, buf, len, (off_t)host_addr);
	close(fd);
	return n == (ssize_t)len;
}

/* Host address of a guest address, from the info's zones. */
static uint64_t host_of(json_object *in, uint64_t gpa)
{
	json_object *zones = get(in, "zones");
	for (size_t i = 0; i < json_object_array_length(zones); i++) {
		json_object *z = json_object_array_get_idx(zones, i);
		uint64_t start = get_u64(z, "guest_address"), size = get_u64(z, "size_bytes");
		if (gpa >= start && gpa < start + size)
			return get_u64(z, "host_address") + (gpa - start);
	}
	return 0;
}

static struct nkg_content content_of(json_object *w)
{
	return (struct nkg_content){
	    .seed = get_hex(w, "seed"),
	    .salt = get_hex(w, "salt"),
	    .zero_pct = (uint32_t)lround(100 * get_double(w, "zero_ratio")),
	    .shared_pct = (uint32_t)lround(100 * get_double(w, "shared_ratio")),
	    .patterns = (uint32_t)get_u64(w, "pattern_count"),
	    .redirty_permille = (uint32_t)lround(1000 * get_double(w, "redirty_ratio")),
	};
}

/* ---- patterns ------------------------------------------------------------- */

/* Every workload page of the VM, read from outside, against the generator
 * at generation `pass`.  @return bad pages; counts kinds into kinds[3]. */
static uint64_t check_pages_outside(pid_t pid, json_object *in, uint32_t pass, uint64_t kinds[3],
				    uint64_t *ret_pages, uint64_t *ret_sum)
{
	struct nkg_content c = content_of(get(in, "workload"));
	json_object *vcpus = get(in, "vcpus");
	uint64_t bad = 0, pages = 0;
	static uint64_t buf[NK_PG_WORDS];

	*ret_sum = 0;
	for (size_t v = 0; v < json_object_array_length(vcpus); v++) {
		json_object *work = get(json_object_array_get_idx(vcpus, v), "work_ranges");
		for (size_t r = 0; r < json_object_array_length(work); r++) {
			json_object *range = json_object_array_get_idx(work, r);
			uint64_t gpa = get_u64(range, "guest_address"),
				 n = get_u64(range, "page_count");
			for (uint64_t p = 0; p < n; p++) {
				uint64_t g = gpa + p * NKG_PAGE_SIZE, gfn = g / NKG_PAGE_SIZE, base,
					 sum = 0;
				if (!read_guest(pid, host_of(in, g), buf, sizeof(buf))) {
					bad++;
					continue;
				}
				enum nk_pg_kind kind =
				    nk_pg_page(&c, gfn, nk_pg_generation(&c, gfn, pass), &base);
				kinds[kind]++;
				if (nk_pg_check(buf, kind, base, &sum))
					bad++;
				*ret_sum += sum;
				pages++;
			}
		}
	}
	*ret_pages = pages;
	return bad;
}

static void test_patterns(void)
{
	/* 1. The guest writes two passes (the second re-dirties a quarter) and
	 *    verifies; we read every page from outside and compare. */
	pid_t pid = start_vm(
	    "--name", "pat", "--memory", "size=64M", "--cpus", "count=2", "--workload",
	    "size=2M,seed=7,salt=99,zero=20,shared=40,passes=2,redirty=25", "--hold", NULL);
	REQUIRE(wait_running("pat", pid, 120), "VM pat did not come up");
	json_object *reply = wait_halted("pat", 300), *in = get(reply, "result");
	REQUIRE(in, "VM pat did not finish its workload");
	uint64_t verified = 0, guest_sum = 0, errors = 0;
	json_object *vcpus = get(in, "vcpus");
	for (size_t v = 0; v < json_object_array_length(vcpus); v++) {
		json_object *j = json_object_array_get_idx(vcpus, v);
		verified += get_u64(j, "verified_page_count");
		guest_sum += get_hex(j, "verify_checksum");
		errors += get_u64(j, "verify_error_count");
		CHECK(get_u64(j, "pass_count") == 2, "vCPU %zu ran %llu passes, not 2", v,
		      (unsigned long long)get_u64(j, "pass_count"));
	}
	CHECK(verified == 512, "the guest verified %llu pages, not 512 (2 MiB)",
	      (unsigned long long)verified);
	CHECK(errors == 0, "the guest found %llu bad pages", (unsigned long long)errors);
	uint64_t kinds[3] = {0}, pages, host_sum;
	uint64_t bad = check_pages_outside(pid, in, 1, kinds, &pages, &host_sum);
	printf("patterns: %llu pages read from outside: %llu zero, %llu shared, %llu unique, %llu "
	       "bad; checksum guest 0x%llx host 0x%llx\n",
	       (unsigned long long)pages, (unsigned long long)kinds[0],
	       (unsigned long long)kinds[1], (unsigned long long)kinds[2], (unsigned long long)bad,
	       (unsigned long long)guest_sum, (unsigned long long)host_sum);
	CHECK(pages == 512 && bad == 0, "%llu of %llu pages differ from the generator",
	      (unsigned long long)bad, (unsigned long long)pages);
	CHECK(kinds[0] && kinds[1] && kinds[2], "a kind of page is missing");
	CHECK(guest_sum == host_sum, "the guest's checksum differs from the host's");
	/* RAM past the workload was never written. */
	static uint64_t page[NK_PG_WORDS];
	REQUIRE(read_guest(pid, host_of(in, 32u << 20), page, sizeof(page)), "cannot read 32M");
	bool zero = true;
	for (unsigned i = 0; i < NK_PG_WORDS; i++)
		zero &= page[i] == 0;
	CHECK(zero, "guest RAM outside the workload was written");
	json_object_put(reply);
	stop_vm("pat", pid);

	/* 2. A page corrupted from outside between two passes is caught. */
	pid = start_vm("--name", "bad", "--memory", "size=64M", "--workload",
		       "size=1M,seed=5,passes=2,period=5s,redirty=10", NULL);
	REQUIRE(wait_running("bad", pid, 120), "VM bad did not come up");
	double end = now_s() + 120;
	in = NULL;
	reply = NULL;
	while (now_s() < end) {
		json_object_put(reply);
		in = info("bad", &reply);
		json_object *v0 = in ? json_object_array_get_idx(get(in, "vcpus"), 0) : NULL;
		if (v0 && get_u64(v0, "verified_page_count") > 0)
			break;
		in = NULL;
		usleep(20000);
	}
	REQUIRE(in, "VM bad did not finish its first pass");
	struct nkg_content c = content_of(get(in, "workload"));
	uint64_t target = 0;
	json_object *range = json_object_array_get_idx(
	    get(json_object_array_get_idx(get(in, "vcpus"), 0), "work_ranges"), 0);
	for (uint64_t p = 0; p < get_u64(range, "page_count") && !target; p++) {
		uint64_t g = get_u64(range, "guest_address") + p * NKG_PAGE_SIZE;
		if (!nk_pg_redirtied(&c, g / NKG_PAGE_SIZE, 1))
			target = g;
	}
	uint64_t junk = 0x6261646261646261ull;
	REQUIRE(target && write_guest(pid, host_of(in, target) + 128, &junk, sizeof(junk)),
		"cannot corrupt a page");
	json_object_put(reply);
	int status = wait_vm(pid, 120);
	CHECK(status == 1, "the VMM should exit 1 when the guest finds a bad page, not %d", status);
	/* The VMM's log named the page; the exit status is what we can test
	 * here: a second run without corruption exits 0 (part 3 below). */

	/* 3. Host-written fill, verified by the guest program. */
	pid = start_vm("--name", "fill", "--memory", "size=64M", "--cpus", "2", "--fill",
		       "size=8M,seed=11,zero=30,shared=30", "--workload", "mode=verify", "--hold",
		       NULL);
	REQUIRE(wait_running("fill", pid, 120), "VM fill did not come up");
	reply = wait_halted("fill", 300);
	in = get(reply, "result");
	REQUIRE(in, "VM fill did not finish");
	verified = errors = 0;
	vcpus = get(in, "vcpus");
	for (size_t v = 0; v < json_object_array_length(vcpus); v++) {
		verified += get_u64(json_object_array_get_idx(vcpus, v), "verified_page_count");
		errors += get_u64(json_object_array_get_idx(vcpus, v), "verify_error_count");
	}
	CHECK(get_u64(get(in, "fill"), "page_count") == 2048, "fill wrote %llu pages, not 2048",
	      (unsigned long long)get_u64(get(in, "fill"), "page_count"));
	CHECK(verified == 2048 && errors == 0,
	      "the guest verified %llu host-written pages, %llu bad", (unsigned long long)verified,
	      (unsigned long long)errors);
	json_object_put(reply);
	stop_vm("fill", pid);
}

/* ---- affinity --------------------------------------------------------------- */

static char *read_text(const char *path)
{
	char *text = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	ssize_t n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(text);
		return NULL;
	}
	return text;
}

static char *status_field(int pid, int tid, const char *key)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	char *text = read_text(path), *value = NULL;
	if (text && nk_parse_keyed_line(text, key, &value) < 0)
		value = NULL;
	free(text);
	return value;
}

static unsigned online_cpus(void)
{
	return (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
}

static void test_affinity(void)
{
	bool dedicated = online_cpus() >= 3;
	const char *cpus = dedicated ? "count=2,policy=dedicated" : "count=2,policy=shared";
	pid_t pid = start_vm("--name", "aff", "--memory", "size=32M", "--cpus", cpus, "--hold",
			     "--workload", "size=1M,passes=0,period=100ms", NULL);
	REQUIRE(wait_running("aff", pid, 120), "VM aff did not come up");
	json_object *reply, *in = info("aff", &reply);
	REQUIRE(in, "no info");
	json_object *vcpus = get(in, "vcpus");
	CHECK(json_object_array_length(vcpus) == 2, "2 vCPUs expected");
	char *first_cpus = NULL;
	for (size_t v = 0; v < json_object_array_length(vcpus); v++) {
		json_object *j = json_object_array_get_idx(vcpus, v);
		int tid = (int)get_u64(j, "tid");
		char comm[32], path[96];
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, tid);
		char *name = read_text(path);
		snprintf(comm, sizeof(comm), "CPU %zu/KVM\n", v);
		CHECK(name && !strcmp(name, comm), "thread %d is named '%s', not 'CPU %zu/KVM'",
		      tid, name ? name : "?", v);
		free(name);
		char *allowed = status_field((int)pid, tid, "Cpus_allowed_list");
		const char *planned = get_str(j, "planned_cpus");
		printf("affinity: vCPU %zu thread %d: planned %s, /proc says %s\n", v, tid, planned,
		       allowed ? allowed : "?");
		CHECK(allowed && !strcmp(allowed, planned),
		      "vCPU %zu: Cpus_allowed_list %s, plan %s", v, allowed ? allowed : "?",
		      planned);
		CHECK(json_object_get_boolean(get(j, "pin_verified")), "vCPU %zu: pin not verified",
		      v);
		if (dedicated) {
			CHECK(!strchr(planned, '-') && !strchr(planned, ','),
			      "a dedicated vCPU has one CPU, not %s", planned);
			if (v == 0)
				first_cpus = allowed ? strdup(allowed) : NULL;
			else
				CHECK(first_cpus && allowed && strcmp(first_cpus, allowed),
				      "two dedicated vCPUs share CPU %s", allowed ? allowed : "?");
		}
		free(allowed);
	}
	free(first_cpus);
	json_object_put(reply);

	/* More dedicated vCPUs than there are CPUs: refused before anything. */
	char count[48];
	snprintf(count, sizeof(count), "count=%u,policy=dedicated", online_cpus() + 1);
	pid_t too_many =
	    start_vm("--name", "toomany", "--memory", "size=32M", "--cpus", count, NULL);
	int status = wait_vm(too_many, 60);
	CHECK(status == 1, "too many vCPUs: exit %d, not 1", status);
	char path[128];
	snprintf(path, sizeof(path), "%s/toomany.sock", rundir);
	CHECK(access(path, F_OK) < 0, "%s was left behind", path);
	snprintf(path, sizeof(path), "%s/vm/toomany.json", rundir);
	CHECK(access(path, F_OK) < 0, "%s was left behind", path);
	stop_vm("aff", pid);
}

/* ---- KSM -------------------------------------------------------------------- */

/* KSM's knobs, owned (nk_ksm_own(): saved, put back however the test ends),
 * and the host to write them. */
static nk_ksm_owner *ksm_owner;
static nk_host *ksm_host;

static void ksm_restore(void)
{
	if (ksm_owner) {
		nk_error *e = NULL;
		if (nk_ksm_owner_release(ksm_owner, true, &e) < 0)
			fprintf(stderr, "cannot put KSM's knobs back: %s\n",
				e ? nk_error_message(e) : "?");
		nk_error_free(e);
		ksm_owner = NULL;
	}
	ksm_host = nk_host_free(ksm_host);
}

static uint64_t merging_pages(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ksm_merging_pages", (int)pid);
	char *text = read_text(path);
	uint64_t v = text ? strtoull(text, NULL, 10) : 0;
	free(text);
	return v;
}

static void test_ksm(void)
{
	if (access("/sys/kernel/mm/ksm/run", W_OK) < 0) {
		printf("SKIP: KSM is not writable here\n");
		cleanup_and_exit(77);
	}
	/* A file both VMs load: 4 MiB of random bytes, so only the two copies
	 * can merge with each other. */
	char image[128];
	snprintf(image, sizeof(image), "%s/image", rundir);
	int fd = open(image, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0, "cannot create %s", image);
	srand(42);
	for (int i = 0; i < (4 << 20) / 4; i++) {
		int v = rand();
		REQUIRE(write(fd, &v, 4) == 4, "write");
	}
	close(fd);
	char load[160];
	snprintf(load, sizeof(load), "%s@16M", image);

	/* No tuner may drive KSM meanwhile (nor another test).  The library
	 * reads and writes the knobs: it orders pages_to_scan and advisor_mode
	 * (Linux 6.7+) and knows which this kernel has. */
	enum nk_ksm_field knobs[] = {NK_KSM_RUN, NK_KSM_PAGES_TO_SCAN, NK_KSM_SLEEP_MILLISECS,
				     NK_KSM_ADVISOR_MODE};
	struct nk_ksm want = {0};
	uint64_t mask = 0;
	nk_error *own_err = NULL;
	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
		mask |= 1u << knobs[i];
	REQUIRE(nk_host_open(NULL, &ksm_host, NULL) == 0, "cannot open the host");
	int own = nk_ksm_own(ksm_host, NULL, "test-vmm ksm", mask, &ksm_owner, &own_err);
	if (own < 0) {
		printf("%s: %s\n", own == -EBUSY ? "SKIP" : "FAIL", nk_error_message(own_err));
		nk_error_free(own_err);
		cleanup_and_exit(own == -EBUSY ? 77 : 1);
	}
	pid_t a = start_vm("--name", "ksm-a", "--memory", "size=32M,mergeable=on,prefault=off",
			   "--load", load, "--hold", NULL);
	pid_t b = start_vm("--name", "ksm-b", "--memory", "size=32M,mergeable=on,prefault=off",
			   "--load", load, "--hold", NULL);
	REQUIRE(wait_running("ksm-a", a, 120) && wait_running("ksm-b", b, 120),
		"VMs did not start");
	if (nk_ksm_owner_saved(ksm_owner)->mask & NK_KSM_BIT(NK_KSM_ADVISOR_MODE)) {
		want.value[NK_KSM_ADVISOR_MODE] = NK_KSM_ADVISOR_NONE;
		want.mask |= NK_KSM_BIT(NK_KSM_ADVISOR_MODE);
	}
	want.value[NK_KSM_PAGES_TO_SCAN] = 4000;
	want.value[NK_KSM_SLEEP_MILLISECS] = 10;
	want.value[NK_KSM_RUN] = 1;
	want.mask |= NK_KSM_BIT(NK_KSM_PAGES_TO_SCAN) | NK_KSM_BIT(NK_KSM_SLEEP_MILLISECS) |
		     NK_KSM_BIT(NK_KSM_RUN);
	REQUIRE(nk_ksm_apply(ksm_host, &want, 0, NULL, NULL) >= 0, "cannot start KSM");
	double t0 = now_s(), end = t0 + 240;
	uint64_t ma = 0, mb = 0;
	while (now_s() < end && (ma < 1000 || mb < 1000)) {
		ma = merging_pages(a);
		mb = merging_pages(b);
		usleep(200000);
	}
	printf("ksm: ksm_merging_pages %llu and %llu after %.1f s\n", (unsigned long long)ma,
	       (unsigned long long)mb, now_s() - t0);
	/* RAM is not prefaulted: what merges is the 1024 pages of the image. */
	CHECK(ma >= 1000 && mb >= 1000, "the loaded images did not merge (%llu, %llu pages)",
	      (unsigned long long)ma, (unsigned long long)mb);
	json_object *reply, *in = info("ksm-a", &reply);
	CHECK(in && get_u64(get(in, "ksm"), "merging_page_count") > 0, "info shows no KSM pages");
	json_object_put(reply);

	/* Unmerge one VM's zone at run time. */
	reply = call("ksm-a", "{\"version\":2,\"command\":\"set-mergeable\",\"zone\":\"ram\","
			      "\"mergeable\":false}");
	CHECK(reply_ok(reply), "set-mergeable false failed: %s",
	      reply ? json_object_to_json_string(reply) : "no reply");
	json_object_put(reply);
	/* The pages are unmerged at once; the counter drops when ksmd next
	 * passes the zone and drops its rmap items. */
	double t1 = now_s();
	uint64_t left = merging_pages(a);
	for (; left > 0 && now_s() < t1 + 60; left = merging_pages(a))
		usleep(100000);
	printf("ksm: ksm-a unmerged: its ksm_merging_pages is %llu after %.1f s\n",
	       (unsigned long long)left, now_s() - t1);
	CHECK(left == 0, "ksm-a still has %llu merged pages a minute after unmerging",
	      (unsigned long long)left);
	stop_vm("ksm-a", a);
	stop_vm("ksm-b", b);
	ksm_restore();
}

/* ---- signals ---------------------------------------------------------------- */

static uint64_t hugepages_free(void)
{
	char *text = read_text("/proc/meminfo");
	uint64_t v = 0;
	if (text)
		nk_parse_meminfo(text, "HugePages_Free", &v);
	free(text);
	return v;
}

static void test_signals(void)
{
	const int sigs[] = {SIGTERM, SIGINT};
	for (size_t i = 0; i < 2; i++) {
		bool huge = hugepages_free() >= 16;
		uint64_t free_before = hugepages_free();
		pid_t pid = start_vm("--name", "sig", "--memory",
				     huge ? "size=32M,hugepages=2M" : "size=32M", "--cpus", "2",
				     "--workload", "size=1M,passes=0,period=50ms", "--hold", NULL);
		REQUIRE(wait_running("sig", pid, 120), "VM sig did not come up");
		char **names = NULL;
		CHECK(nk_vmm_list(rundir, &names, NULL) == 1 && names && !strcmp(names[0], "sig"),
		      "nk_vmm_list does not list the VM");
		nk_strv_free(names);
		if (huge)
			CHECK(hugepages_free() + 16 <= free_before,
			      "the VM holds no hugepages (%llu free before, %llu now)",
			      (unsigned long long)free_before,
			      (unsigned long long)hugepages_free());
		kill(pid, sigs[i]);
		int status = wait_vm(pid, 60);
		CHECK(status == 0, "%s: exit status %d, not 0", strsignal(sigs[i]), status);
		char path[128];
		snprintf(path, sizeof(path), "%s/sig.sock", rundir);
		CHECK(access(path, F_OK) < 0, "%s: the socket is left", strsignal(sigs[i]));
		snprintf(path, sizeof(path), "%s/vm/sig.json", rundir);
		CHECK(access(path, F_OK) < 0, "%s: the registry entry is left", strsignal(sigs[i]));
		snprintf(path, sizeof(path), "%s/pins.json", rundir);
		char *pins = read_text(path), needle[32];
		snprintf(needle, sizeof(needle), "%d", (int)pid);
		CHECK(!pins || !strstr(pins, needle), "pins.json still has pid %d", (int)pid);
		free(pins);
		if (huge)
			CHECK(hugepages_free() == free_before,
			      "%s: hugepages not given back (%llu, %llu)", strsignal(sigs[i]),
			      (unsigned long long)free_before,
			      (unsigned long long)hugepages_free());
		printf("signals: %s: exit %d, socket, registry and pins gone%s\n",
		       strsignal(sigs[i]), status, huge ? ", hugepages back in the pool" : "");
	}
	/* SIGTERM while the VM is still being built (a 1 GiB zone being
	 * prefaulted): it stops there, undoing what it made. */
	char registry[128], socket_path[128];
	snprintf(registry, sizeof(registry), "%s/vm/early.json", rundir);
	snprintf(socket_path, sizeof(socket_path), "%s/early.sock", rundir);
	pid_t pid = start_vm("--name", "early", "--memory", "size=1G,prefault=on", "--hold", NULL);
	double end = now_s() + 60;
	while (access(registry, F_OK) < 0 && now_s() < end && waitpid(pid, NULL, WNOHANG) == 0)
		usleep(1000);
	double t0 = now_s();
	kill(pid, SIGTERM);
	int status = wait_vm(pid, 120);
	printf("signals: SIGTERM while building: exit %d after %.2f s\n", status, now_s() - t0);
	CHECK(status == 0, "SIGTERM while building: exit %d, not 0", status);
	CHECK(access(registry, F_OK) < 0 && access(socket_path, F_OK) < 0,
	      "SIGTERM while building left the registry entry or the socket");
}

/* ---- control ---------------------------------------------------------------- */

static json_object *raw_call(const char *name, const void *msg, size_t len)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s.sock", rundir, name);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	static char buf[1 << 20];
	json_object *o = NULL;
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
	    send(fd, msg, len, 0) == (ssize_t)len) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			o = json_tokener_parse(buf);
		}
	}
	if (fd >= 0)
		close(fd);
	return o;
}

static uint64_t io_exits(const char *name)
{
	json_object *reply, *in = info(name, &reply);
	uint64_t n = 0;
	json_object *vcpus = get(in, "vcpus");
	for (size_t v = 0; in && v < json_object_array_length(vcpus); v++)
		n += get_u64(json_object_array_get_idx(vcpus, v), "io_exit_count");
	json_object_put(reply);
	return n;
}

static void test_control(void)
{
	char layout_path[128];
	snprintf(layout_path, sizeof(layout_path), "%s/layout.json", rundir);
	start_stdout = layout_path;
	pid_t pid = start_vm("--name", "ctl", "--memory", "size=32M", "--cpus", "2", "--workload",
			     "size=512K,passes=0,period=20ms", "--hold", "--json", NULL);
	start_stdout = NULL;
	REQUIRE(wait_running("ctl", pid, 120), "VM ctl did not come up");

	/* --json printed the layout once the VM ran: the info object. */
	json_object *doc = json_object_from_file(layout_path), *layout = get(doc, "vm");
	CHECK(layout && !strcmp(get_str(doc, "command"), "numaksm-vmm") &&
		  !strcmp(get_str(layout, "name"), "ctl") &&
		  json_object_array_length(get(layout, "zones")) == 1 &&
		  json_object_array_length(get(layout, "vcpus")) == 2 &&
		  get_u64(json_object_array_get_idx(get(layout, "vcpus"), 1), "tid") > 0,
	      "--json did not print the layout: %s",
	      doc ? json_object_to_json_string(doc) : "nothing parsable");
	json_object_put(doc);

	/* A second VMM of the same name is refused; the first lives on. */
	pid_t twin = start_vm("--name", "ctl", "--memory", "size=32M", NULL);
	CHECK(wait_vm(twin, 60) == 1, "a second VM named ctl was not refused");

	json_object *reply, *in = info("ctl", &reply);
	REQUIRE(in, "no info");
	CHECK(get_u64(in, "pid") == (uint64_t)pid, "info pid");
	json_object *z = json_object_array_get_idx(get(in, "zones"), 0);
	CHECK(z && !strcmp(get_str(z, "id"), "ram") && get_u64(z, "size_bytes") == 32u << 20,
	      "zone ram of 32 MiB expected");
	CHECK(json_object_array_length(get(get(z, "placement"), "per_node")) >= 1,
	      "no resident pages on any node");
	json_object_put(reply);

	/* Pause: the guest makes no progress; resume: it does again. */
	double t0 = now_s();
	while (io_exits("ctl") < 20 && now_s() - t0 < 60)
		usleep(50000);
	reply = call("ctl", "{\"version\":2,\"command\":\"pause\"}");
	CHECK(reply_ok(reply) && !strcmp(get_str(get(reply, "result"), "state"), "paused"),
	      "pause: %s", reply ? json_object_to_json_string(reply) : "no reply");
	json_object_put(reply);
	in = info("ctl", &reply);
	json_object *vcpus = get(in, "vcpus");
	for (size_t v = 0; in && v < json_object_array_length(vcpus); v++)
		CHECK(!strcmp(get_str(json_object_array_get_idx(vcpus, v), "state"), "paused"),
		      "vCPU %zu is %s while paused", v,
		      get_str(json_object_array_get_idx(vcpus, v), "state"));
	json_object_put(reply);
	uint64_t before = io_exits("ctl");
	usleep(500000);
	uint64_t during = io_exits("ctl");
	CHECK(during == before, "the guest ran while paused (%llu -> %llu exits)",
	      (unsigned long long)before, (unsigned long long)during);
	reply = call("ctl", "{\"version\":2,\"command\":\"resume\"}");
	CHECK(reply_ok(reply), "resume");
	json_object_put(reply);
	t0 = now_s();
	while (io_exits("ctl") <= during && now_s() - t0 < 30)
		usleep(50000);
	CHECK(io_exits("ctl") > during, "the guest did not run again after resume");
	printf("control: paused at %llu exits, still %llu after 0.5 s, %llu after resume\n",
	       (unsigned long long)before, (unsigned long long)during,
	       (unsigned long long)io_exits("ctl"));

	/* Mergeable on and off, and a migration to where the zone already is. */
	reply = call("ctl", "{\"version\":2,\"command\":\"set-mergeable\",\"zone\":\"ram\","
			    "\"mergeable\":true}");
	CHECK(reply_ok(reply) && json_object_get_boolean(get(get(reply, "result"), "mergeable")),
	      "set-mergeable true: %s", reply ? json_object_to_json_string(reply) : "no reply");
	json_object_put(reply);
	reply =
	    call("ctl", "{\"version\":2,\"command\":\"migrate\",\"zone\":\"ram\",\"nodes\":\"0\"}");
	CHECK(reply_ok(reply) && get_u64(get(reply, "result"), "failed_page_count") == 0,
	      "migrate to node 0: %s", reply ? json_object_to_json_string(reply) : "no reply");
	json_object_put(reply);

	/* Malformed messages: each answered with ok=false, the VM unharmed. */
	const char *bad[] = {
	    "not json",
	    "[1,2]",
	    "{\"command\":\"info\"}",
	    "{\"version\":1,\"command\":\"info\"}", /* the protocol before this one */
	    "{\"version\":\"1\",\"command\":\"info\"}",
	    "{\"version\":2}",
	    "{\"version\":2,\"command\":\"reboot\"}",
	    "{\"version\":2,\"command\":\"info\",\"verbose\":true}",
	    "{\"version\":2,\"command\":\"set-mergeable\",\"zone\":\"nope\",\"mergeable\":true}",
	    "{\"version\":2,\"command\":\"set-mergeable\",\"zone\":\"ram\",\"mergeable\":\"yes\"}",
	    "{\"version\":2,\"command\":\"migrate\",\"zone\":\"ram\",\"nodes\":\"99\"}",
	    "{\"version\":2,\"command\":\"migrate\",\"zone\":\"ram\"}",
	    "{\"version\":2,\"command\":\"info\"} trailing",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object *r = raw_call("ctl", bad[i], strlen(bad[i]));
		CHECK(r && !reply_ok(r) && *get_str(r, "error"), "'%s' was not rejected: %s",
		      bad[i], r ? json_object_to_json_string(r) : "no reply");
		json_object_put(r);
	}
	size_t big_len = 300 * 1024;
	char *big = malloc(big_len);
	REQUIRE(big, "malloc");
	memset(big, ' ', big_len);
	json_object *r = raw_call("ctl", big, big_len);
	CHECK(!r || !reply_ok(r), "an oversized message was accepted");
	json_object_put(r);
	free(big);
	/* A client that connects and leaves without a word. */
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/ctl.sock", rundir);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0, "connect");
	close(fd);
	struct stat st;
	CHECK(stat(addr.sun_path, &st) == 0 && (st.st_mode & 0777) == 0600,
	      "the socket's mode is %o, not 600", st.st_mode & 0777);

	in = info("ctl", &reply);
	CHECK(in && !strcmp(get_str(in, "state"), "running"), "the VM is not running after the "
							      "malformed messages");
	json_object_put(reply);
	stop_vm("ctl", pid);
}

/* ---- limits: clients cannot hold the control loop ---------------------------- */

/* The largest request the VMM takes (VMM_MSG_MAX). */
#define REQUEST_MAX (256 * 1024)

/* A client connected to VM `name`, or -1. */
static int connect_to(const char *name)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s.sock", rundir, name);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Send a request without waiting for the reply: @return the connection or -1. */
static int send_request(const char *name, const char *msg, size_t len)
{
	int fd = connect_to(name), size = 2 * REQUEST_MAX;
	/* The default send buffer is smaller than the largest request. */
	if (fd >= 0 && len > 64 * 1024)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (fd >= 0 && send(fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The reply on `fd` within `timeout_s` (put it), or NULL; closes fd. */
static json_object *read_reply(int fd, double timeout_s)
{
	static char buf[1 << 20];
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	json_object *o = NULL;
	if (poll(&pfd, 1, (int)(timeout_s * 1000)) == 1) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n > 0) {
			buf[n] = '\0';
			o = json_tokener_parse(buf);
		}
	}
	close(fd);
	return o;
}

/* SIGTERM to `pid`: @return the seconds until it exited 0, or -1 when it
 * did not within `limit_s` (it is killed then) or exited otherwise. */
static double sigterm_delay(pid_t pid, double limit_s)
{
	double t0 = now_s();
	kill(pid, SIGTERM);
	int status = wait_vm(pid, limit_s);
	return status == 0 ? now_s() - t0 : -1;
}

/* The info's migration object, in the reply (put it), or NULL. */
static json_object *migration_info(const char *name, json_object **ret_reply, double *ret_took)
{
	double t0 = now_s();
	json_object *in = info(name, ret_reply);
	*ret_took = now_s() - t0;
	json_object *m = get(in, "migration");
	return json_object_is_type(m, json_type_object) ? m : NULL;
}

static bool node_has_memory(int node)
{
	char *text = read_text("/sys/devices/system/node/has_memory");
	_cleanup_bitmap_ nk_bitmap *nodes = NULL;
	bool has = text && nk_parse_list(text, "node list", &nodes, NULL) == 0 &&
		   nk_bitmap_test(nodes, (unsigned)node);
	free(text);
	return has;
}

static void test_limits_signals(void)
{
	/* An idle client: SIGTERM is not held by it. */
	pid_t pid = start_vm("--name", "idle", "--memory", "size=32M", "--hold", NULL);
	REQUIRE(wait_running("idle", pid, 120), "VM idle did not come up");
	int fd = connect_to("idle");
	CHECK(fd >= 0, "connect to VM idle");
	usleep(200000);
	double delay = sigterm_delay(pid, 10);
	printf("limits: SIGTERM with an idle client connected: %s after %.3f s\n",
	       delay < 0 ? "no exit" : "exit", delay);
	CHECK(delay >= 0 && delay < 1.0, "SIGTERM with an idle client: exit after %.3f s", delay);
	if (fd >= 0)
		close(fd);

	/* The largest request, a node list of the widest ranges: refused at
	 * once; SIGTERM right after it is not held either. */
	pid = start_vm("--name", "huge", "--memory", "size=32M", "--hold", NULL);
	REQUIRE(wait_running("huge", pid, 120), "VM huge did not come up");
	static const char head[] = "{\"version\":2,\"command\":\"migrate\",\"zone\":\"ram\","
				   "\"nodes\":\"",
			  range[] = "0-1048576,", tail[] = "0\"}";
	size_t n = (REQUEST_MAX - sizeof(head) - sizeof(tail)) / (sizeof(range) - 1);
	char *request = malloc(REQUEST_MAX), *p = request;
	REQUIRE(request, "malloc");
	p = stpcpy(p, head);
	for (size_t i = 0; i < n; i++)
		p = stpcpy(p, range);
	p = stpcpy(p, tail);
	fd = send_request("huge", request, (size_t)(p - request));
	CHECK(fd >= 0, "send the huge request");
	free(request);
	usleep(200000);
	delay = sigterm_delay(pid, 10);
	printf("limits: SIGTERM 0.2 s after a request of %zu ranges 0-1048576: %s after %.3f s\n",
	       n, delay < 0 ? "no exit" : "exit", delay);
	CHECK(delay >= 0 && delay < 1.0, "SIGTERM after a huge request: exit after %.3f s", delay);
	json_object *r = fd >= 0 ? read_reply(fd, 0.1) : NULL;
	CHECK(!r || (!reply_ok(r) && strstr(get_str(r, "error"), "larger than the maximum")),
	      "the huge request: %s", r ? json_object_to_json_string(r) : "no reply");
	json_object_put(r);
}

static void test_limits_clients(const char *name)
{
	int fds[17];
	/* 16 clients that say nothing fill the slots: one more is refused at
	 * once, with the reason. */
	double connected_at = now_s();
	for (int i = 0; i < 16; i++)
		fds[i] = connect_to(name);
	double t0 = now_s();
	json_object *reply = call(name, "{\"version\":2,\"command\":\"info\"}");
	double took = now_s() - t0;
	printf("limits: info with 16 fresh idle clients: %s after %.3f s\n",
	       reply ? json_object_to_json_string(reply) : "no reply", took);
	CHECK(reply && !reply_ok(reply) && get_u64(reply, "errno") == EBUSY &&
		  strstr(get_str(reply, "error"), "too many clients") && took < 1.0,
	      "a 17th client was not refused at once with the reason");
	json_object_put(reply);

	/* Once they have been idle a second, a new client takes the place of
	 * the idlest: 17 idle clients do not lock out an info. */
	usleep(1200000);
	fds[16] = connect_to(name);
	usleep(1200000);
	t0 = now_s();
	json_object *in = info(name, &reply);
	took = now_s() - t0;
	printf("limits: info with 17 idle clients: %s after %.3f s\n", in ? "answered" : "refused",
	       took);
	CHECK(in && took < 1.0, "17 idle clients locked out an info: %s",
	      reply ? json_object_to_json_string(reply) : "no reply");
	json_object_put(reply);

	/* Idle clients are dropped after 5 s: the last of the first 16 (the
	 * first ones made room above) sees its end then. */
	struct pollfd pfd = {.fd = fds[15], .events = POLLIN};
	int r = fds[15] >= 0 ? poll(&pfd, 1, 8000) : -1;
	took = now_s() - connected_at;
	printf("limits: an idle client was %s after %.1f s\n", r == 1 ? "dropped" : "still there",
	       took);
	CHECK(r == 1 && took > 4.0 && took < 7.0, "an idle client was not dropped after 5 s");
	for (int i = 0; i < 17; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	usleep(200000); /* for the VMM to see them go */
}

/* Migrate zone big to `nodes`, the reply on the returned connection. */
static int start_migrate(const char *name, const char *nodes)
{
	char request[128];
	snprintf(request, sizeof(request),
		 "{\"version\":2,\"command\":\"migrate\",\"zone\":\"big\",\"nodes\":\"%s\"}",
		 nodes);
	return send_request(name, request, strlen(request));
}

static void test_limits_migrate(const char *name, pid_t pid, uint64_t size)
{
	/* info answers while a zone migrates, and shows how far it got. */
	int fd = start_migrate(name, "0");
	REQUIRE(fd >= 0, "send migrate");
	double t0 = now_s(), worst = 0, took;
	uint64_t done_seen = 0;
	unsigned running_seen = 0;
	bool busy_refused = false;
	while (now_s() - t0 < 60) {
		json_object *reply, *m = migration_info(name, &reply, &took);
		const char *state = get_str(m, "state");
		if (took > worst)
			worst = took;
		if (m && !strcmp(state, "running")) {
			running_seen++;
			done_seen = get_u64(m, "done_bytes");
			CHECK(get_u64(m, "total_bytes") == size && done_seen < size,
			      "running migration: %s", json_object_to_json_string(m));
			if (!busy_refused) { /* a second one is refused meanwhile */
				json_object *r2 = read_reply(start_migrate(name, "1"), 5);
				busy_refused = r2 && !reply_ok(r2) && get_u64(r2, "errno") == EBUSY;
				CHECK(busy_refused, "a second migrate: %s",
				      r2 ? json_object_to_json_string(r2) : "no reply");
				json_object_put(r2);
			}
		}
		bool finished = m && strcmp(state, "running");
		json_object_put(reply); /* state and m belong to reply */
		if (finished)
			break;
		if (!m && running_seen == 0 && now_s() - t0 > 5)
			break; /* an info that knows no migration: answered after it */
		usleep(100000);
	}
	json_object *r = read_reply(fd, 60);
	double total = now_s() - t0;
	printf("limits: migrate %llu MiB to node 0: %.2f s; %u infos saw it running (last at "
	       "%llu MiB), the slowest took %.3f s; a second migrate %s\n",
	       (unsigned long long)(size >> 20), total, running_seen,
	       (unsigned long long)(done_seen >> 20), worst,
	       busy_refused ? "was refused (EBUSY)" : "was not refused");
	CHECK(running_seen > 0 && worst < 1.0,
	      "info did not answer during the migration (%u answers saw it, slowest %.3f s)",
	      running_seen, worst);
	json_object *res = get(r, "result");
	CHECK(reply_ok(r) && get_u64(res, "moved_page_count") == size / 4096 &&
		  get_u64(res, "failed_page_count") == 0,
	      "migrate: %s", r ? json_object_to_json_string(r) : "no reply");
	json_object_put(r);
	json_object *reply, *m = migration_info(name, &reply, &took);
	CHECK(m && !strcmp(get_str(m, "state"), "done") && get_u64(m, "done_bytes") == size &&
		  !strcmp(get_str(m, "nodes"), "0") && get_u64(m, "moved_bytes") == size,
	      "info after the migration: %s", m ? json_object_to_json_string(m) : "none");
	json_object_put(reply);

	/* SIGTERM during a migration (0.3 s into one that takes seconds): it
	 * stops at its next chunk, and who asked is told. */
	fd = start_migrate(name, "1");
	REQUIRE(fd >= 0, "send migrate");
	usleep(300000);
	double delay = sigterm_delay(pid, 30);
	r = read_reply(fd, 1);
	printf("limits: SIGTERM 0.3 s into a migration: %s after %.3f s; its client got %s\n",
	       delay < 0 ? "no exit" : "exit", delay,
	       r ? json_object_to_json_string(r) : "no reply");
	CHECK(delay >= 0 && delay < 1.0, "SIGTERM during a migration: exit after %.3f s", delay);
	CHECK(r && !reply_ok(r) && get_u64(r, "errno") == ECANCELED,
	      "the client of a migration stopped by SIGTERM: %s",
	      r ? json_object_to_json_string(r) : "no reply");
	json_object_put(r);
}

static void test_limits(void)
{
	test_limits_signals();
	bool two_nodes = node_has_memory(0) && node_has_memory(1);
	const uint64_t size = 256ull << 20;
	pid_t pid = start_vm("--name", "lim", "--memory-zone", "id=ram,size=32M", "--memory-zone",
			     two_nodes ? "id=big,size=256M,prefault=on,policy=bind,nodes=1"
				       : "id=big,size=256M,prefault=on",
			     "--hold", NULL);
	REQUIRE(wait_running("lim", pid, 120), "VM lim did not come up");
	test_limits_clients("lim");
	if (!two_nodes) {
		printf("limits: migration checks skipped: they need nodes 0 and 1 with memory\n");
		stop_vm("lim", pid);
		return;
	}
	test_limits_migrate("lim", pid, size);
}

/* ---- NUMA (lab) ------------------------------------------------------------- */

static char *node_cpulist(int node)
{
	char path[96];
	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", node);
	char *text = read_text(path);
	if (text)
		text[strcspn(text, "\n")] = '\0';
	return text;
}

/* Pages of [addr, addr+len) of `pid` per node, by move_pages. */
static void pages_on_nodes(pid_t pid, uint64_t addr, uint64_t len, uint64_t page, uint64_t *count,
			   int max_node)
{
	size_t n = len / page;
	void **pages = calloc(n, sizeof(*pages));
	int *status = calloc(n, sizeof(*status));
	for (size_t i = 0; i < n; i++)
		pages[i] = (void *)(uintptr_t)(addr + i * page);
	if (pages && status && move_pages(pid, n, pages, NULL, status, 0) == 0)
		for (size_t i = 0; i < n; i++)
			if (status[i] >= 0 && status[i] <= max_node)
				count[status[i]]++;
	free(pages);
	free(status);
}

static void test_numa(void)
{
	char *cpus0 = node_cpulist(0), *cpus1 = node_cpulist(1);
	if (!cpus0 || !cpus1 || !*cpus0 || !*cpus1) {
		printf("SKIP: needs two NUMA nodes with CPUs (the NUMA lab)\n");
		free(cpus0);
		free(cpus1);
		cleanup_and_exit(77);
	}
	pid_t pid =
	    start_vm("--name", "numa", "--memory-zone", "id=z0,size=64M,policy=bind,nodes=0",
		     "--memory-zone", "id=z1,size=64M,policy=bind,nodes=1", "--numa",
		     "guest_node=0,cpus=0,zones=z0", "--numa", "guest_node=1,cpus=1,zones=z1",
		     "--cpus", "count=2,policy=dedicated", "--workload",
		     "size=2M,passes=0,period=200ms", "--hold", NULL);
	REQUIRE(wait_running("numa", pid, 120), "VM numa did not come up");
	/* The vCPUs keep running (passes=0), so their threads can be looked at. */
	json_object *reply = NULL, *in = NULL;
	for (double end = now_s() + 300; now_s() < end; usleep(100000)) {
		json_object_put(reply);
		in = info("numa", &reply);
		json_object *v = get(in, "vcpus");
		if (json_object_array_length(v) == 2 &&
		    get_u64(json_object_array_get_idx(v, 0), "verified_page_count") &&
		    get_u64(json_object_array_get_idx(v, 1), "verified_page_count"))
			break;
		in = NULL;
	}
	REQUIRE(in, "VM numa did not finish a pass");
	json_object *zones = get(in, "zones"), *vcpus = get(in, "vcpus");
	for (int n = 0; n < 2; n++) {
		json_object *z = json_object_array_get_idx(zones, (size_t)n);
		uint64_t count[2] = {0};
		pages_on_nodes(pid, get_u64(z, "host_address"), get_u64(z, "size_bytes"),
			       get_u64(z, "page_size_bytes"), count, 1);
		printf("numa: zone %s: %llu pages on node 0, %llu on node 1\n", get_str(z, "id"),
		       (unsigned long long)count[0], (unsigned long long)count[1]);
		CHECK(count[n] == get_u64(z, "size_bytes") / get_u64(z, "page_size_bytes") &&
			  count[1 - n] == 0,
		      "zone %s is not all on node %d", get_str(z, "id"), n);
		json_object *v = json_object_array_get_idx(vcpus, (size_t)n);
		char *allowed = status_field((int)pid, (int)get_u64(v, "tid"), "Cpus_allowed_list");
		_cleanup_bitmap_ nk_bitmap *a = NULL, *node = NULL;
		CHECK(allowed && nk_parse_list(allowed, "CPU", &a, NULL) == 0 &&
			  nk_parse_list(n ? cpus1 : cpus0, "CPU", &node, NULL) == 0 &&
			  nk_bitmap_is_subset(a, node),
		      "vCPU %d runs on %s, not on node %d's CPUs %s", n, allowed ? allowed : "?", n,
		      n ? cpus1 : cpus0);
		printf("numa: vCPU %d on CPUs %s (node %d: %s), wrote and verified %llu pages\n", n,
		       allowed ? allowed : "?", n, n ? cpus1 : cpus0,
		       (unsigned long long)get_u64(v, "verified_page_count"));
		CHECK(get_u64(v, "verified_page_count") == 256 &&
			  get_u64(v, "verify_error_count") == 0,
		      "vCPU %d verified %llu pages", n,
		      (unsigned long long)get_u64(v, "verified_page_count"));
		free(allowed);
	}
	json_object_put(reply);
	/* Move guest node 1's memory to host node 0, live. */
	reply =
	    call("numa", "{\"version\":2,\"command\":\"migrate\",\"zone\":\"z1\",\"nodes\":\"0\"}");
	CHECK(reply_ok(reply) && get_u64(get(reply, "result"), "moved_page_count") > 0 &&
		  get_u64(get(reply, "result"), "failed_page_count") == 0,
	      "migrate z1 to node 0: %s", reply ? json_object_to_json_string(reply) : "no reply");
	json_object_put(reply);
	in = info("numa", &reply);
	json_object *z1 = json_object_array_get_idx(get(in, "zones"), 1);
	uint64_t count[2] = {0};
	pages_on_nodes(pid, get_u64(z1, "host_address"), get_u64(z1, "size_bytes"),
		       get_u64(z1, "page_size_bytes"), count, 1);
	CHECK(count[1] == 0 && count[0] > 0, "after migrate z1 has %llu pages on node 1",
	      (unsigned long long)count[1]);
	printf("numa: after migrate, zone z1: %llu pages on node 0, %llu on node 1\n",
	       (unsigned long long)count[0], (unsigned long long)count[1]);
	json_object_put(reply);
	stop_vm("numa", pid);
	free(cpus0);
	free(cpus1);
}

/* ---- 1G and 2M hugepages ---------------------------------------------------- */

static uint64_t pool_free(int node, const char *size)
{
	char path[128];
	snprintf(path, sizeof(path),
		 "/sys/devices/system/node/node%d/hugepages/hugepages-%s/free_hugepages", node,
		 size);
	char *text = read_text(path);
	uint64_t v = text ? strtoull(text, NULL, 10) : 0;
	free(text);
	return v;
}

static void test_hugepages(void)
{
	if (pool_free(1, "1048576kB") < 1 || pool_free(0, "2048kB") < 32) {
		printf("SKIP: needs a free 1G page on node 1 and 32 free 2M pages on node 0 (the "
		       "NUMA lab's kvm topology has them)\n");
		cleanup_and_exit(77);
	}
	uint64_t free_1g = pool_free(1, "1048576kB"), free_2m = pool_free(0, "2048kB");
	pid_t pid = start_vm(
	    "--name", "huge", "--memory-zone", "id=big,size=1G,hugepages=1G,policy=bind,nodes=1",
	    "--memory-zone", "id=small,size=64M,hugepages=2M,policy=bind,nodes=0", "--numa",
	    "guest_node=0,cpus=0,zones=big", "--numa", "guest_node=1,cpus=1,zones=small", "--cpus",
	    "2", "--workload", "size=4M,seed=3", "--hold", NULL);
	REQUIRE(wait_running("huge", pid, 120), "VM huge did not come up");
	json_object *reply = wait_halted("huge", 300), *in = get(reply, "result");
	REQUIRE(in, "VM huge did not finish");
	json_object *big = json_object_array_get_idx(get(in, "zones"), 0),
		    *small = json_object_array_get_idx(get(in, "zones"), 1);
	CHECK(get_u64(big, "page_size_bytes") == 1ull << 30 && get_u64(big, "guest_address") == 0,
	      "zone big: page size %llu at 0x%llx",
	      (unsigned long long)get_u64(big, "page_size_bytes"),
	      (unsigned long long)get_u64(big, "guest_address"));
	/* The 2M zone goes after the 1G one, 2 MiB aligned. */
	CHECK(get_u64(small, "page_size_bytes") == 2u << 20 &&
		  get_u64(small, "guest_address") == 1ull << 30,
	      "zone small: page size %llu at 0x%llx",
	      (unsigned long long)get_u64(small, "page_size_bytes"),
	      (unsigned long long)get_u64(small, "guest_address"));
	CHECK(pool_free(1, "1048576kB") == free_1g - 1, "the VM does not hold node 1's 1G page");
	CHECK(pool_free(0, "2048kB") == free_2m - 32, "the VM does not hold 32 2M pages of node 0");
	uint64_t counts[2][2] = {{0}};
	pages_on_nodes(pid, get_u64(big, "host_address"), 1ull << 30, 1ull << 30, counts[0], 1);
	pages_on_nodes(pid, get_u64(small, "host_address"), 64u << 20, 2u << 20, counts[1], 1);
	CHECK(counts[0][1] == 1 && counts[1][0] == 32,
	      "hugepages on the wrong nodes: big %llu/%llu, "
	      "small %llu/%llu",
	      (unsigned long long)counts[0][0], (unsigned long long)counts[0][1],
	      (unsigned long long)counts[1][0], (unsigned long long)counts[1][1]);
	uint64_t kinds[3] = {0}, pages, sum;
	uint64_t bad = check_pages_outside(pid, in, 0, kinds, &pages, &sum);
	json_object *vcpus = get(in, "vcpus");
	uint64_t errors = 0;
	for (size_t v = 0; v < json_object_array_length(vcpus); v++)
		errors += get_u64(json_object_array_get_idx(vcpus, v), "verify_error_count");
	printf("hugepages: 1G zone at 0 on node 1, 2M zone at 1 GiB on node 0; %llu pages written "
	       "by the guest, %llu bad from outside, %llu bad in the guest\n",
	       (unsigned long long)pages, (unsigned long long)bad, (unsigned long long)errors);
	CHECK(pages == 1024 && bad == 0 && errors == 0, "guest pages in hugepage zones are wrong");
	json_object_put(reply);
	stop_vm("huge", pid);
	CHECK(pool_free(1, "1048576kB") == free_1g && pool_free(0, "2048kB") == free_2m,
	      "hugepages not given back after stop");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*run)(void);
	} tests[] = {
	    {"patterns", test_patterns},   {"affinity", test_affinity}, {"ksm", test_ksm},
	    {"signals", test_signals},	   {"control", test_control},	{"numa", test_numa},
	    {"hugepages", test_hugepages}, {"limits", test_limits},
	};
	if (argc != 2) {
		fprintf(stderr, "usage: test-vmm "
				"patterns|affinity|ksm|signals|control|numa|hugepages|limits\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (strcmp(argv[1], tests[i].name))
			continue;
		if (geteuid() != 0) {
			printf("SKIP: needs root\n");
			return 77;
		}
		need_kvm();
		make_rundir();
		tests[i].run();
		ksm_restore();
		printf("%s: %s\n", argv[1], failures ? "FAILED" : "passed");
		cleanup_and_exit(failures ? 1 : 0);
	}
	fprintf(stderr, "unknown test '%s'\n", argv[1]);
	return 2;
}
