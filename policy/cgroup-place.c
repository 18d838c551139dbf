/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nk_cgroup_place() and nk_cgroup_undo(): the live host around cg_place()
 * and cg_undo() -- privileges, the host's nodes and CPUs, the VM's facts,
 * the vCPU plan -- and, once placed, a page-by-page look at where the
 * guest RAM is.
 */
#include "cgroup-internal.h"
#include "numaksm/proc.h"

#include <inttypes.h>

#include "numaksm/hostinfo.h"

static int require_root(nk_host *host, const char *what, nk_error **err)
{
	struct nk_privileges priv;
	int r = nk_host_require_live(host, what, err);
	if (r < 0)
		return r;
	r = nk_probe_privileges(host, &priv, err);
	if (r < 0)
		return r;
	if (!priv.cap_sys_admin) {
		int hinted = nk_error_set(err, EPERM, "cannot %s: uid %u lacks CAP_SYS_ADMIN", what,
					  priv.euid);
		nk_error_hint(err, "run as root");
		return hinted;
	}
	return 0;
}

/* The host's online CPUs and nodes with memory. */
struct host_sets {
	struct nk_hostinfo *info;
	nk_bitmap *memory_nodes;
};

static void host_sets_done(struct host_sets *h)
{
	nk_hostinfo_free(h->info);
	nk_bitmap_free(h->memory_nodes);
}

static int read_host_sets(nk_host *host, struct host_sets *ret, nk_error **err)
{
	struct host_sets h = {0};
	int r = nk_hostinfo_read(host, &h.info, err);
	if (r < 0)
		return r;
	if (!(h.memory_nodes = nk_bitmap_new())) {
		host_sets_done(&h);
		return nk_error_set(err, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < h.info->n_nodes; i++)
		if (h.info->nodes[i].has_memory &&
		    nk_bitmap_set(h.memory_nodes, (unsigned)h.info->nodes[i].id) < 0) {
			host_sets_done(&h);
			return nk_error_set(err, ENOMEM, "out of memory");
		}
	*ret = h;
	return 0;
}

/* The vCPU plan: shared vCPUs over the group's CPUs, one guest node per
 * node given (while there are vCPUs for each), around the VMs already
 * pinned.  Made before anything changes, so a VM that does not fit is
 * refused with nothing done. */
static int plan_pin(nk_host *host, const struct nk_vm_ref *vm, const nk_bitmap *nodes,
		    const nk_bitmap *cpus, const char *runtime_dir, struct cg_pin *pin,
		    nk_error **err)
{
	_cleanup_bitmap_ nk_bitmap *housekeeping = NULL;
	_cleanup_free_ struct nk_pin_guest_node *gn = NULL;
	_cleanup_error_ nk_error *e = NULL;
	int pid = vm->pid;
	int r = nk_vm_threads_read(host, vm, &pin->threads, &e);

	pin->vm = vm;
	if (r == -ENOTSUP)
		return 0; /* no vCPU thread to pin: the cpuset holds all threads */
	if (r < 0)
		return r == -ESRCH ? -ESRCH
				   : nk_error_set(err, -r, "cannot read the VM's threads: %s",
						  e ? nk_error_message(e) : strerror(-r));
	r = nk_topo_load_live(host, &pin->topo, err);
	if (r >= 0)
		r = nk_pin_state_open(host, runtime_dir, NK_PIN_STATE_WRITE, &pin->state, err);
	if (r < 0)
		return r;
	nk_pin_state_remove(pin->state, pid); /* its own old CPUs are free for it */
	if (!(housekeeping = nk_bitmap_dup(nk_topo_all_cpus(pin->topo))))
		return nk_error_set(err, ENOMEM, "out of memory");
	nk_bitmap_foreach (cpu, cpus)
		nk_bitmap_clear(housekeeping, (unsigned)cpu);
	unsigned vcpus = pin->threads.vcpu_count, k = nk_bitmap_weight(nodes), i = 0;
	if (k > vcpus)
		k = 1;
	if (!(gn = calloc(k, sizeof(*gn))))
		return nk_error_set(err, ENOMEM, "out of memory");
	nk_bitmap_foreach (node, nodes) {
		if (i == k)
			break;
		gn[i].memory_node = node;
		gn[i].vcpus = vcpus / k + (i < vcpus % k ? 1 : 0);
		i++;
	}
	struct nk_pin_request req = {
	    .vcpus = vcpus,
	    .threads_per_core = 1,
	    .guest_nodes = gn,
	    .n_guest_nodes = k,
	    .policy = NK_PIN_SHARED,
	    .housekeeping = housekeeping,
	    .allow_spill = true,
	};
	r = nk_pin_plan_compute(pin->topo, &req, pin->state, &pin->plan, err);
	return r < 0 ? nk_error_prefix(err, "planning the vCPU threads inside the group") : 0;
}

static void pin_done(struct cg_pin *pin)
{
	nk_pin_plan_free(pin->plan);
	nk_pin_state_free(pin->state);
	nk_topo_free(pin->topo);
	nk_vm_threads_done(&pin->threads);
}

#define MEASURE_EXACT_PAGES (4ull << 20)

/* Page by page: where the guest RAM is now, in bytes, since the regions'
 * page sizes differ (a 2M hugetlb page is not a 4K page).  A region that
 * cannot be measured leaves nothing verified. */
static void measure(const struct nk_vm_info *vm, const nk_bitmap *nodes,
		    struct nk_cgroup_report *report)
{
	uint64_t on = 0, elsewhere = 0, absent = 0, other = 0;
	for (size_t i = 0; i < vm->n_regions; i++) {
		const struct nk_vm_region *g = &vm->regions[i];
		struct nk_placement p;
		uint64_t pages = g->size_bytes / g->page_size;
		/* Every page up to 16 GiB of 4K pages, a sample beyond: the report
		 * says which (exact), and a placement never waits on a count. */
		if (nk_placement_measure(vm->ref.pid, g->start, pages * g->page_size, g->page_size,
					 pages < MEASURE_EXACT_PAGES ? pages : MEASURE_EXACT_PAGES,
					 &p, NULL) < 0)
			return;
		for (size_t n = 0; n < p.n_node_pages; n++) {
			if (nk_bitmap_test(nodes, (unsigned)n))
				on += p.node_pages[n] * g->page_size;
			else
				elsewhere += p.node_pages[n] * g->page_size;
		}
		absent += p.not_present * g->page_size;
		other += p.other * g->page_size;
		nk_placement_done(&p);
	}
	report->verified = vm->n_regions > 0;
	report->on_nodes_bytes = on;
	report->elsewhere_bytes = elsewhere;
	report->absent_bytes = absent;
	report->other_bytes = other;
}

static int add_notes(struct nk_cgroup_report *r, const struct cg_ctx *c,
		     const struct nk_cgroup_request *req, const struct cg_pin *pin)
{
	const char *notes[4];
	size_t k = 0, n = 0;

	if (!pin->threads.vcpu_count)
		notes[k++] = "no thread is named like a vCPU thread: the group's cpuset confines "
			     "all threads, none is pinned on its own";
	if (!req->migrate && !c->be->per_thread)
		notes[k++] = "cgroup v2 moves a task's pages with it when its cpuset.mems "
			     "changes: the pages followed even without --migrate";
	if (!req->migrate && c->be->per_thread && r->elsewhere_bytes)
		notes[k++] = "pages already faulted in stay where they are: --migrate moves them";
	if (req->memory_high_bytes || req->memory_max_bytes)
		notes[k++] = "memory already charged stays charged to the cgroup it was in: the "
			     "limits count what the VM allocates from now on";
	for (char **p = r->notes; p && *p; p++)
		n++;
	for (size_t i = 0; i < k; i++)
		if (nk_strv_push(&r->notes, &n, notes[i]) < 0)
			return -ENOMEM;
	return 0;
}

_nk_export_ int nk_cgroup_place(nk_host *host, const struct nk_vm_ref *ref,
				const struct nk_cgroup_request *req, struct nk_cgroup_report **ret,
				nk_error **err)
{
	struct host_sets hs = {0};
	struct nk_vm_info *vm = NULL;
	struct cg_ctx c = {0};
	struct cg_store store = {.lock_fd = -1};
	struct cg_pin pin = {.host = host};
	struct nk_cgroup_report *report = calloc(1, sizeof(*report));
	nk_bitmap *cpus = NULL;
	int r = report ? require_root(host, "place a VM in a cgroup", err)
		       : nk_error_set(err, ENOMEM, "out of memory");

	if (r >= 0)
		r = nk_vm_require_trusted(ref, "place", err);
	if (r >= 0 && (!req->nodes || nk_bitmap_weight(req->nodes) == 0))
		r = nk_error_set(err, EINVAL, "no nodes given");
	if (r >= 0)
		r = read_host_sets(host, &hs, err);
	if (r >= 0) {
		r = nk_vm_read(host, ref, NULL, 0, &vm, err);
		if (r == -ESRCH)
			r = nk_error_set(err, ESRCH, "VM %s (PID %d) is gone", ref->name, ref->pid);
	}
	if (r >= 0) {
		if (req->cpus)
			r = (cpus = nk_bitmap_dup(req->cpus)) ? 0 : -ENOMEM;
		else
			r = nk_hostinfo_nearest_cpus(hs.info, req->nodes, hs.info->online_cpus,
						     &cpus);
		if (r < 0)
			r = nk_error_set(err, -r, "cannot find CPUs for nodes: %s", strerror(-r));
	}
	if (r >= 0)
		r = cg_ctx_open(host, &c, err);
	if (r >= 0)
		r = cg_store_open(req->runtime_dir, &store, err);
	struct cg_vm v = {.pid = ref->pid, .start_time = ref->start_time, .name = ref->name};
	struct cg_limits limits = {0};
	if (r >= 0) {
		v.rss_bytes = vm->rss_bytes - vm->hugetlb_bytes;
		v.cgroups = vm->cgroups;
		v.n_cgroups = vm->n_cgroups;
		limits = (struct cg_limits){.online_cpus = hs.info->online_cpus,
					    .memory_nodes = hs.memory_nodes};
		/* Nodes, CPUs and limits first: their refusal says what is wrong. */
		r = cg_check(&c, &v, req, cpus, &limits, &store, err);
	}
	if (r >= 0 && req->pin_vcpus)
		r = plan_pin(host, ref, req->nodes, cpus, nk_rundir_path(store.dir), &pin, err);
	if (r >= 0)
		r = cg_place(&c, &v, req, cpus, &limits, pin.plan ? &pin : NULL, &store, report,
			     err);
	if (r >= 0) {
		report->vcpus = pin.threads.vcpu_count;
		report->vcpus_pinned = pin.plan ? report->vcpus : 0;
		measure(vm, req->nodes, report);
		if (add_notes(report, &c, req, &pin) < 0)
			r = nk_error_set(err, ENOMEM, "out of memory");
	}
	pin_done(&pin);
	cg_store_close(&store);
	cg_ctx_done(&c);
	nk_bitmap_free(cpus);
	nk_vm_info_free(vm);
	host_sets_done(&hs);
	if (r < 0) {
		nk_cgroup_report_free(report);
		return r;
	}
	*ret = report;
	return 0;
}

/* Whether the placed process still runs (not a later one with its PID). */
static bool still_running(nk_host *host, const struct cg_state *s)
{
	_cleanup_free_ char *boot_id = NULL;
	struct nk_proc_stat st;
	if (s->boot_id && nk_host_boot_id(host, &boot_id) >= 0 && strcmp(boot_id, s->boot_id) != 0)
		return false;
	if (nk_proc_stat_read(host, s->pid, 0, &st, NULL) < 0)
		return false;
	bool same = st.start_time_ticks == s->start_time;
	nk_proc_stat_done(&st);
	return same;
}

_nk_export_ int nk_cgroup_undo(nk_host *host, const char *name_or_pid, const char *runtime_dir,
			       struct nk_cgroup_report **ret, nk_error **err)
{
	struct cg_ctx c = {0};
	struct cg_store store = {.lock_fd = -1};
	struct cg_state s = {0};
	struct nk_cgroup_report *report = calloc(1, sizeof(*report));
	long long pid = 0;
	int r = report ? require_root(host, "undo a placement", err)
		       : nk_error_set(err, ENOMEM, "out of memory");

	if (r >= 0 && (!name_or_pid || !*name_or_pid))
		r = nk_error_set(err, EINVAL, "empty VM name");
	if (r >= 0)
		r = cg_ctx_open(host, &c, err);
	if (r >= 0)
		r = cg_store_open(runtime_dir, &store, err);
	if (r >= 0) {
		bool numeric = strspn(name_or_pid, "0123456789") == strlen(name_or_pid);
		if (numeric && nk_parse_int(name_or_pid, 1, INT32_MAX, &pid, NULL) < 0)
			r = nk_error_set(err, EINVAL, "invalid PID '%s'", name_or_pid);
		else if (numeric)
			r = cg_store_load(&store, (int)pid, &s, err);
		else
			r = cg_store_find(&store, name_or_pid, &s, err);
		if (r == -ENOENT) {
			nk_error_set(err, ENOENT, "numaksm has placed no VM %s '%s'",
				     numeric ? "with PID" : "named", name_or_pid);
			nk_error_hint(err, "'numaksm status' shows each VM's cgroups; "
					   "place-PID.json files in the runtime directory "
					   "list what numaksm placed");
		}
	}
	if (r >= 0)
		r = cg_undo(&c, &s, still_running(host, &s), &store, report, err);
	cg_state_done(&s);
	cg_store_close(&store);
	cg_ctx_done(&c);
	if (r < 0) {
		nk_cgroup_report_free(report);
		return r;
	}
	*ret = report;
	return 0;
}
