/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm-bench-fleet: what merging across NUMA nodes buys and costs, on a
 * fleet of real numaksm-vmm VMs.
 *
 * Each VM's RAM is bound to one node (the VMs go round the nodes) and holds
 * the same image, a host-written fill of zero, shared-pattern and unique
 * pages, and a guest program re-dirtying 5% of a small region every 2 s.
 * For KSM's merge_across_nodes=1 (one copy of a page for the whole host) and
 * =0 (one copy per node), side by side, alternating which goes first: the
 * memory saved once sharing settles, the time to 95% of it, ksmd's CPU, and
 * the share of each VM's resident pages that are still on its own node
 * (read exactly with move_pages).  Needs /dev/kvm, two or more nodes, root;
 * the NUMA lab's kvm topology has them (benchmarks/README.md).
 *
 *   numaksm-bench-fleet [--vms 4] [--size 256M] [--fill 64M] [--rounds 3]
 *                       [--image FILE] [--json FILE]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <numaif.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <numaksm/core.h>
#include <numaksm/ksm.h>
#include <numaksm/proc.h>
#include <numaksm/policy.h>
#include <numaksm/vmm.h>

#define KSM	"/sys/kernel/mm/ksm/"
#define MAX_VMS 16

static pid_t pids[MAX_VMS];
static int n_vms = 4;
static char rundir[64];
static nk_host *host;
static nk_ksm_owner *owner; /* KSM's knobs are ours, saved, until restore() */

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t cap = 0;
	if (!f)
		return NULL;
	if (getdelim(&text, &cap, '\0', f) < 0) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

static uint64_t read_u64(const char *path)
{
	char *t = read_text(path);
	uint64_t v = t ? strtoull(t, NULL, 10) : 0;
	free(t);
	return v;
}

static void set_knob(struct nk_ksm *s, enum nk_ksm_field param, uint64_t value)
{
	s->value[param] = value;
	s->mask |= 1u << param;
}

/* The library checks the knobs before writing, orders the writes and puts
 * back what it wrote when the kernel refuses one. */
static int apply_knobs(const struct nk_ksm *s, nk_error **err)
{
	return nk_ksm_apply(host, s, NK_KSM_APPLY_UNMERGE, NULL, err);
}

static void stop_fleet(void)
{
	for (int i = 0; i < n_vms; i++) {
		if (pids[i] <= 0)
			continue;
		kill(pids[i], SIGTERM);
		waitpid(pids[i], NULL, 0);
		pids[i] = 0;
	}
}

static void restore(void)
{
	stop_fleet();
	if (owner) {
		nk_error *e = NULL;
		if (nk_ksm_owner_release(owner, true, &e) < 0)
			fprintf(stderr, "cannot put KSM's knobs back: %s\n",
				e ? nk_error_message(e) : "?");
		nk_error_free(e);
		owner = NULL;
	}
	host = nk_host_free(host);
	if (rundir[0]) {
		char cmd[96];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rundir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", rundir);
	}
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("numaksm-bench-fleet: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	restore();
	exit(1);
}

static json_object *info(const char *name)
{
	char *reply = NULL, request[64];
	snprintf(request, sizeof(request), "{\"version\":%d,\"command\":\"info\"}",
		 NK_VMM_PROTOCOL_VERSION);
	if (nk_vmm_call(rundir, name, request, 60000, &reply, NULL) < 0)
		return NULL;
	json_object *o = json_tokener_parse(reply), *ok, *result;
	free(reply);
	if (!o || !json_object_object_get_ex(o, "ok", &ok) || !json_object_get_boolean(ok) ||
	    !json_object_object_get_ex(o, "result", &result)) {
		json_object_put(o);
		return NULL;
	}
	json_object_get(result);
	json_object_put(o);
	return result;
}

static uint64_t get_u64(json_object *o, const char *key)
{
	json_object *v;
	return o && json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

static json_object *zone0(json_object *in)
{
	json_object *zones;
	return json_object_object_get_ex(in, "zones", &zones) ? json_object_array_get_idx(zones, 0)
							      : NULL;
}

/* Resident pages of VM i's zone on its node and elsewhere, exactly. */
static void locality(int i, int node, uint64_t *ret_local, uint64_t *ret_remote)
{
	char name[32];
	snprintf(name, sizeof(name), "fleet-%d", i);
	json_object *in = info(name), *z = zone0(in);
	uint64_t addr = get_u64(z, "host_address"), pages = get_u64(z, "size_bytes") / 4096;
	void **p = calloc(pages, sizeof(*p));
	int *status = calloc(pages, sizeof(*status));
	*ret_local = *ret_remote = 0;
	if (!z || !p || !status)
		die("cannot read fleet-%d's zone", i);
	for (uint64_t k = 0; k < pages; k++)
		p[k] = (void *)(uintptr_t)(addr + k * 4096);
	if (move_pages(pids[i], pages, p, NULL, status, 0) < 0)
		die("move_pages: %s", strerror(errno));
	for (uint64_t k = 0; k < pages; k++) {
		if (status[k] == node)
			(*ret_local)++;
		else if (status[k] >= 0)
			(*ret_remote)++;
	}
	free(p);
	free(status);
	json_object_put(in);
}

/* ksmd's CPU time so far, in seconds (0 when it cannot be read). */
static double ksmd_cpu_s(void)
{
	static pid_t pid;
	struct nk_proc_cputime t;

	if (!pid && nk_ksmd_find(host, &pid, NULL) < 0)
		return 0;
	if (nk_proc_cputime_read(host, pid, &t, NULL) < 0)
		return 0;
	return (double)t.run_ns / 1e9;
}

struct result {
	double saved_mib, settle_s, ksmd_s, local_pct;
};

static struct result run_round(int mode, const char *vmm, const char *size, const char *fill,
			       const char *image, const int *nodes, int n_nodes)
{
	struct result res = {0};
	struct nk_ksm want = {0};
	nk_error *e = NULL;

	/* KSM stopped with nothing merged, in the mode of this round. */
	set_knob(&want, NK_KSM_RUN, 2);
	if (apply_knobs(&want, &e) < 0)
		die("cannot unmerge: %s", nk_error_message(e));
	want = (struct nk_ksm){0};
	set_knob(&want, NK_KSM_MERGE_ACROSS_NODES, (uint64_t)mode);
	set_knob(&want, NK_KSM_RUN, 0);
	if (apply_knobs(&want, &e) < 0)
		die("cannot set merge_across_nodes=%d: %s", mode, nk_error_message(e));

	for (int i = 0; i < n_vms; i++) {
		char name[32], mem[96], load[160], fillspec[96];
		snprintf(name, sizeof(name), "fleet-%d", i);
		snprintf(mem, sizeof(mem), "size=%s,mergeable=on,prefault=off,policy=bind,nodes=%d",
			 size, nodes[i % n_nodes]);
		snprintf(load, sizeof(load), "%s@16M", image);
		snprintf(fillspec, sizeof(fillspec), "size=%s,zero=25,shared=50,unique=25,seed=%d",
			 fill, i + 1);
		pid_t pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
			dup2(null, STDERR_FILENO);
			execlp(vmm, "numaksm-vmm", "--name", name, "--memory", mem, "--load", load,
			       "--fill", fillspec, "--workload",
			       "size=1M,passes=0,period=2s,redirty=5", "--hold", "--runtime-dir",
			       rundir, (char *)NULL);
			_exit(127);
		}
		pids[i] = pid;
	}
	for (int i = 0; i < n_vms; i++) {
		char name[32];
		snprintf(name, sizeof(name), "fleet-%d", i);
		double end = now_s() + 120;
		json_object *in = NULL;
		while (now_s() < end) {
			in = info(name);
			json_object *vcpus, *v0;
			if (in && json_object_object_get_ex(in, "vcpus", &vcpus) &&
			    (v0 = json_object_array_get_idx(vcpus, 0)) &&
			    get_u64(v0, "verified_page_count") > 0)
				break;
			json_object_put(in);
			in = NULL;
			int status;
			if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				pids[i] = 0;
				die("fleet-%d (%s) exited with status %d while starting (run it by "
				    "hand to see why)",
				    i, vmm, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			}
			usleep(100000);
		}
		if (!in)
			die("fleet-%d did not come up", i);
		json_object_put(in);
	}

	/* Merge until the sharing settles (three samples within 1%). */
	double cpu0 = ksmd_cpu_s(), t0 = now_s();
	double times[1200];
	uint64_t sharing[1200];
	int n = 0, stable = 0;
	want = (struct nk_ksm){0};
	if (nk_ksm_owner_saved(owner)->mask & NK_KSM_BIT(NK_KSM_ADVISOR_MODE))
		set_knob(&want, NK_KSM_ADVISOR_MODE, NK_KSM_ADVISOR_NONE);
	set_knob(&want, NK_KSM_PAGES_TO_SCAN, 2000);
	set_knob(&want, NK_KSM_SLEEP_MILLISECS, 10);
	set_knob(&want, NK_KSM_RUN, 1);
	if (apply_knobs(&want, &e) < 0)
		die("cannot start KSM: %s", nk_error_message(e));
	while (n < 1200 && stable < 3) {
		usleep(250000);
		times[n] = now_s() - t0;
		sharing[n] = read_u64(KSM "pages_sharing");
		if (n > 0) {
			uint64_t d = sharing[n] > sharing[n - 1] ? sharing[n] - sharing[n - 1]
								 : sharing[n - 1] - sharing[n];
			stable = d * 100 <= sharing[n] && sharing[n] ? stable + 1 : 0;
		}
		n++;
	}
	uint64_t final = sharing[n - 1];
	res.ksmd_s = ksmd_cpu_s() - cpu0;
	res.saved_mib = (double) final * 4096 / (1 << 20);
	res.settle_s = times[n - 1];
	for (int k = 0; k < n; k++)
		if ((double)sharing[k] >= 0.95 * (double) final) {
			res.settle_s = times[k];
			break;
		}
	uint64_t local = 0, remote = 0;
	for (int i = 0; i < n_vms; i++) {
		uint64_t l, r;
		locality(i, nodes[i % n_nodes], &l, &r);
		local += l;
		remote += r;
	}
	res.local_pct = local + remote ? 100.0 * (double)local / (double)(local + remote) : 0;
	stop_fleet();
	return res;
}

static int by_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), by_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"vms", required_argument, NULL, 'n'},   {"size", required_argument, NULL, 's'},
	    {"fill", required_argument, NULL, 'f'},  {"rounds", required_argument, NULL, 'r'},
	    {"image", required_argument, NULL, 'i'}, {"json", required_argument, NULL, 'j'},
	    {"vmm", required_argument, NULL, 'v'},   {0},
	};
	const char *size = "256M", *fill = "64M", *image = NULL, *json_path = NULL;
	const char *vmm = getenv("NUMAKSM_VMM") ? getenv("NUMAKSM_VMM") : "numaksm-vmm";
	int rounds = 3, opt;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'n':
			n_vms = atoi(optarg);
			break;
		case 's':
			size = optarg;
			break;
		case 'f':
			fill = optarg;
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'i':
			image = optarg;
			break;
		case 'j':
			json_path = optarg;
			break;
		case 'v':
			vmm = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: numaksm-bench-fleet [--vms N] [--size S] [--fill S] "
				"[--rounds N] [--image FILE] [--json FILE] [--vmm PATH]\n");
			return 2;
		}
	}
	if (n_vms < 2 || n_vms > MAX_VMS || rounds < 1 || rounds > 20) {
		fprintf(stderr, "numaksm-bench-fleet: --vms 2 to %d, --rounds 1 to 20\n", MAX_VMS);
		return 2;
	}
	if (access("/dev/kvm", R_OK | W_OK) < 0 || access(KSM "merge_across_nodes", W_OK) < 0) {
		printf("SKIP: needs /dev/kvm and a writable KSM with merge_across_nodes (root)\n");
		return 77;
	}
	int nodes[64], n_nodes = 0;
	for (int nd = 0; nd < 64; nd++) {
		char path[96];
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", nd);
		char *cpus = read_text(path);
		if (cpus && cpus[0] != '\n')
			nodes[n_nodes++] = nd;
		free(cpus);
	}
	if (n_nodes < 2) {
		printf(
		    "SKIP: needs two or more NUMA nodes with CPUs (the NUMA lab's kvm topology)\n");
		return 77;
	}
	if (!image)
		image = access("/bin/busybox", R_OK) == 0 ? "/bin/busybox" : argv[0];
	snprintf(rundir, sizeof(rundir), "/tmp/numaksm-bench-fleet.XXXXXX");
	if (!mkdtemp(rundir))
		return 1;
	nk_error *knob_err = NULL;
	uint64_t mask = NK_KSM_BIT(NK_KSM_RUN) | NK_KSM_BIT(NK_KSM_PAGES_TO_SCAN) |
			NK_KSM_BIT(NK_KSM_SLEEP_MILLISECS) | NK_KSM_BIT(NK_KSM_MERGE_ACROSS_NODES) |
			NK_KSM_BIT(NK_KSM_ADVISOR_MODE);
	/* No tuner (nor another benchmark) may drive KSM meanwhile; the knobs
	 * are saved first and put back however the run ends. */
	int own = nk_host_open(NULL, &host, &knob_err);
	if (own >= 0)
		own = nk_ksm_own(host, NULL, "numaksm-bench-fleet", mask, &owner, &knob_err);
	if (own == -EBUSY) {
		printf("SKIP: %s\n", nk_error_message(knob_err));
		nk_error_free(knob_err);
		return 77;
	}
	if (own < 0) {
		fprintf(stderr, "numaksm-bench-fleet: %s\n",
			knob_err ? nk_error_message(knob_err) : "cannot own KSM's knobs");
		return 1;
	}
	nk_ksm_owner_restore_on_signals(owner);

	double saved[2][20], settle[2][20], cpu[2][20], local[2][20], ratio[20];
	printf("%d VMs x %s on nodes", n_vms, size);
	for (int i = 0; i < n_nodes; i++)
		printf(" %d", nodes[i]);
	printf(", each: %s image, %s fill (25%% zero, 50%% shared, 25%% unique)\n", image, fill);
	printf("round  merge_across_nodes  saved MiB  95%% in s  ksmd CPU s  local pages\n");
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 2; k++) {
			int mode = (r + k) % 2 ? 0 : 1; /* alternate which goes first */
			struct result res = run_round(mode, vmm, size, fill, image, nodes, n_nodes);
			saved[mode][r] = res.saved_mib;
			settle[mode][r] = res.settle_s;
			cpu[mode][r] = res.ksmd_s;
			local[mode][r] = res.local_pct;
			printf("%5d  %18d  %9.1f  %8.1f  %10.2f  %10.1f%%\n", r + 1, mode,
			       res.saved_mib, res.settle_s, res.ksmd_s, res.local_pct);
			fflush(stdout);
		}
		ratio[r] = saved[0][r] / saved[1][r];
	}
	double m[2][4];
	for (int mode = 0; mode < 2; mode++) {
		m[mode][0] = median(saved[mode], rounds);
		m[mode][1] = median(settle[mode], rounds);
		m[mode][2] = median(cpu[mode], rounds);
		m[mode][3] = median(local[mode], rounds);
	}
	double saved_ratio = median(ratio, rounds);
	printf("median: across nodes (1): %.1f MiB saved, %.1f%% local; per node (0): %.1f MiB "
	       "saved, %.1f%% local; saved(0)/saved(1) = %.3f\n",
	       m[1][0], m[1][3], m[0][0], m[0][3], saved_ratio);
	/* The JSON goes to stdout too, where the lab's runner collects it. */
	for (int out = 0; out < 2; out++) {
		FILE *f = out ? (json_path ? fopen(json_path, "we") : NULL) : stdout;
		if (f) {
			fprintf(
			    f,
			    "{\"benchmark\": \"fleet\", \"vms\": %d, \"size\": \"%s\", \"fill\": "
			    "\"%s\", \"rounds\": %d, \"nodes\": %d,\n",
			    n_vms, size, fill, rounds, n_nodes);
			for (int mode = 1; mode >= 0; mode--)
				fprintf(f,
					" \"merge_across_nodes_%d\": {\"saved_mib\": %.1f, "
					"\"settle_95_s\": %.2f, \"ksmd_cpu_s\": %.2f, "
					"\"local_pct\": %.1f},\n",
					mode, m[mode][0], m[mode][1], m[mode][2], m[mode][3]);
			fprintf(f, " \"saved_ratio_0_over_1\": %.3f}\n", saved_ratio);
			if (f != stdout)
				fclose(f);
		}
	}
	restore();
	return 0;
}
