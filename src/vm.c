/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VMs of a host, found in /proc with no configuration, and what numaksm
 * reports about each: memory and guest RAM from smaps, pages per node, KSM,
 * vCPU threads and cgroups.  Every read goes through the host root.  A
 * process may end between any two reads: ENOENT and ESRCH then mean "gone"
 * and the VM drops out of the report, as crun's read_pids_cgroup does.
 */
#include "vm-internal.h"

#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

_nk_export_ void nk_vm_ref_done(struct nk_vm_ref *ref)
{
	free(ref->name);
	free(ref->comm);
	free(ref->argv0);
	free(ref->uuid);
	*ref = (struct nk_vm_ref){0};
}

_nk_export_ void nk_vm_refs_free(struct nk_vm_ref *refs, size_t n)
{
	for (size_t i = 0; refs && i < n; i++)
		nk_vm_ref_done(&refs[i]);
	free(refs);
}

_nk_export_ const char *nk_vm_trust_name(enum nk_vm_trust trust)
{
	static const char *const names[] = {
	    [NK_VM_TRUST_NONE] = "none",   [NK_VM_TRUST_UNKNOWN] = "unknown",
	    [NK_VM_TRUST_KVM] = "kvm",	   [NK_VM_TRUST_REGISTERED] = "registered",
	    [NK_VM_TRUST_OWNER] = "owner", [NK_VM_TRUST_PID] = "pid",
	};
	return (unsigned)trust < ARRAY_SIZE(names) ? names[trust] : "none";
}

_nk_export_ bool nk_vm_trusted(const struct nk_vm_ref *ref)
{
	return ref->trust >= NK_VM_TRUST_KVM;
}

_nk_export_ int nk_vm_require_trusted(const struct nk_vm_ref *vm, const char *what, nk_error **err)
{
	if (nk_vm_trusted(vm))
		return 0;
	if (vm->trust == NK_VM_TRUST_UNKNOWN) {
		nk_error_set(err, EPERM,
			     "refusing to %s %s (PID %d): whether it is a VM cannot be told "
			     "without looking at its descriptors",
			     what, vm->name, vm->pid);
		return nk_error_hint(err, "run as root, or give its PID");
	}
	nk_error_set(err, EPERM,
		     "refusing to %s %s (PID %d, uid %d): it is named like a %s but holds no KVM "
		     "VM, is not registered by libvirt and is not run by root",
		     what, vm->name, vm->pid, vm->uid == (uid_t)-1 ? -1 : (int)vm->uid,
		     nk_vm_kind_name(vm->kind));
	return nk_error_hint(err, "if it is a VM, give its PID (%d) instead of its name", vm->pid);
}

/* Replace *s by its printable copy (nk_escape). */
static int escape_in_place(char **s)
{
	if (!*s)
		return 0;
	char *e = nk_escape(*s, strlen(*s));
	if (!e)
		return -ENOMEM;
	free(*s);
	*s = e;
	return 0;
}

/* libvirt keeps a root-owned pid file per running domain. */
static bool libvirt_registered(nk_host *host, const struct nk_vm_ref *ref)
{
	char path[PATH_MAX];
	_cleanup_free_ char *text = NULL;
	struct stat st;
	long long pid;

	if (ref->kind != NK_VM_LIBVIRT || strchr(ref->name, '/') || strchr(ref->name, '\\'))
		return false;
	snprintf(path, sizeof(path), "/run/libvirt/qemu/%s.pid", ref->name);
	if (nk_host_lstat(host, "/run/libvirt/qemu", &st) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return false;
	if (nk_host_lstat(host, path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
	    nk_host_read(host, path, &text, NULL) < 0)
		return false;
	nk_strip_newline(text);
	return nk_parse_int(text, 1, INT32_MAX, &pid, NULL) == 0 && pid == ref->pid;
}

/* What shows that `ref` is a VM (see enum nk_vm_trust). */
static enum nk_vm_trust vm_trust(nk_host *host, const struct nk_vm_ref *ref, uid_t euid)
{
	int kvm = nk_proc_holds_kvm_vm(host, ref->pid);
	if (kvm > 0)
		return NK_VM_TRUST_KVM;
	if (libvirt_registered(host, ref))
		return NK_VM_TRUST_REGISTERED;
	if (ref->uid != (uid_t)-1 && nk_host_uid_trusted(host, ref->uid) &&
	    nk_host_uid_trusted(host, euid))
		return NK_VM_TRUST_OWNER;
	return kvm == -EACCES ? NK_VM_TRUST_UNKNOWN : NK_VM_TRUST_NONE;
}

/* Who process `pid` is.  `st` is its stat, already read. */
static int ref_from_stat(nk_host *host, int pid, struct nk_proc_stat *st, struct nk_vm_ref *ret,
			 nk_error **err)
{
	_cleanup_free_ char *cmdline = NULL, *status = NULL;
	struct nk_vm_ref ref = {.pid = pid, .start_time = st->start_time_ticks, .uid = (uid_t)-1};
	uid_t euid = (uid_t)-1;
	int len = nk_proc_read(host, pid, "cmdline", &cmdline, err);
	if (len < 0)
		return len;
	if (nk_proc_read(host, pid, "status", &status, NULL) >= 0)
		nk_proc_status_uids(status, &ref.uid, &euid);
	ref.comm = TAKE_PTR(st->comm);
	ref.argv0 = len > 0 ? strndup(cmdline, (size_t)len) : strdup("");
	int r = ref.argv0 ? 0 : -ENOMEM;
	if (r == 0) {
		ref.kind = vm_kind_of(ref.comm, ref.argv0, cmdline, (size_t)len);
		r = vm_cmdline_name(ref.kind, cmdline, (size_t)len, &ref.name);
	}
	if (r >= 0)
		r = vm_cmdline_uuid(ref.kind, cmdline, (size_t)len, &ref.uuid);
	/* The command line is anyone's: printable from here on. */
	if (r >= 0)
		r = escape_in_place(&ref.argv0);
	if (r >= 0)
		r = escape_in_place(&ref.name);
	if (r >= 0)
		r = escape_in_place(&ref.uuid);
	if (r >= 0 && !ref.name && asprintf(&ref.name, "%s-%d", ref.comm, pid) < 0)
		r = -ENOMEM;
	if (r < 0) {
		nk_vm_ref_done(&ref);
		return nk_error_set(err, -r, "out of memory");
	}
	ref.trust = ref.kind == NK_VM_PROCESS ? NK_VM_TRUST_NONE : vm_trust(host, &ref, euid);
	*ret = ref;
	return 0;
}

/* ---- the finder's memory between scans ----------------------------------- */

/* What a scan found, kept for the next: a process with the same PID, start
 * time and comm is the same process (a PID is reused only by a new
 * process; an exec changes the comm), so who it is need not be read again. */
struct nk_vm_cache {
	struct nk_vm_ref *refs;
	double *checked_at; /* CLOCK_MONOTONIC seconds of the last full check */
	size_t n;
};

/* How long an entry trusted for anything but a KVM VM is taken as it is:
 * a process found before it opened /dev/kvm shows it once this is over. */
#define CACHE_RECHECK_S 60.0

static double monotonic_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

_nk_export_ nk_vm_cache *nk_vm_cache_new(void)
{
	return calloc(1, sizeof(nk_vm_cache));
}

_nk_export_ nk_vm_cache *nk_vm_cache_free(nk_vm_cache *cache)
{
	if (cache) {
		nk_vm_refs_free(cache->refs, cache->n);
		free(cache->checked_at);
		free(cache);
	}
	return NULL;
}

_nk_export_ int nk_vm_ref_copy(const struct nk_vm_ref *from, struct nk_vm_ref *ret)
{
	struct nk_vm_ref ref = *from;
	ref.name = strdup(from->name);
	ref.comm = strdup(from->comm);
	ref.argv0 = strdup(from->argv0);
	ref.uuid = from->uuid ? strdup(from->uuid) : NULL;
	if (!ref.name || !ref.comm || !ref.argv0 || (from->uuid && !ref.uuid)) {
		nk_vm_ref_done(&ref);
		return -ENOMEM;
	}
	*ret = ref;
	return 0;
}

/* The cached entry of the process `st` describes, or NULL. */
static size_t cache_find(const nk_vm_cache *cache, int pid, const struct nk_proc_stat *st)
{
	for (size_t i = 0; cache && i < cache->n; i++)
		if (cache->refs[i].pid == pid &&
		    cache->refs[i].start_time == st->start_time_ticks &&
		    strcmp(cache->refs[i].comm, st->comm) == 0)
			return i;
	return SIZE_MAX;
}

/* Who the process of cache entry `i` (SIZE_MAX: none) is, from the cache
 * when it may be: a KVM VM stays one; anything else trusted is checked in
 * full again once CACHE_RECHECK_S have passed (a process that was root's
 * and gives up its user id is not dumpable, so its new user cannot take it
 * over meanwhile); anything untrusted is read in full every time.
 * @return 1 when taken from the cache, 0 when not, -ENOMEM. */
static int ref_from_cache(const nk_vm_cache *cache, size_t i, double now, struct nk_vm_ref *ret)
{
	if (i == SIZE_MAX)
		return 0;
	const struct nk_vm_ref *old = &cache->refs[i];
	if (old->trust != NK_VM_TRUST_KVM &&
	    (!nk_vm_trusted(old) || now - cache->checked_at[i] >= CACHE_RECHECK_S))
		return 0;
	return nk_vm_ref_copy(old, ret) < 0 ? -ENOMEM : 1;
}

/* Remember what this scan found; the cache is left as it was on failure. */
static void cache_keep(nk_vm_cache *cache, const struct nk_vm_ref *refs, const double *checked_at,
		       size_t n)
{
	struct nk_vm_ref *copy = calloc(n ? n : 1, sizeof(*copy));
	double *at = malloc((n ? n : 1) * sizeof(*at));
	size_t k = 0;
	while (copy && at && k < n && nk_vm_ref_copy(&refs[k], &copy[k]) == 0)
		k++;
	if (!copy || !at || k < n) {
		nk_vm_refs_free(copy, k);
		free(at);
		return;
	}
	if (n) /* no scan found anything: nothing to copy from */
		memcpy(at, checked_at, n * sizeof(*at));
	nk_vm_refs_free(cache->refs, cache->n);
	free(cache->checked_at);
	cache->refs = copy;
	cache->checked_at = at;
	cache->n = n;
}

struct scan {
	struct nk_vm_ref *refs;
	double *checked_at;
	int *ppids;
	size_t n;
};

static void scan_done(struct scan *s)
{
	nk_vm_refs_free(s->refs, s->n);
	free(s->checked_at);
	free(s->ppids);
}

/* Every VMM process, with its parent's PID: one pass over /proc.  Those
 * `cache` knows are not read again (see ref_from_cache()). */
static int scan_vmms(nk_host *host, const nk_vm_cache *cache, struct scan *ret, nk_error **err)
{
	_cleanup_free_ int *pids = NULL;
	struct scan s = {0};
	double now = monotonic_s();
	int count = nk_proc_pids(host, &pids, err);

	if (count < 0)
		return count;
	for (int i = 0; i < count; i++) {
		struct nk_proc_stat st;
		if (nk_proc_stat_read(host, pids[i], 0, &st, NULL) < 0)
			continue; /* gone */
		/* The comm tells a VMM cheaply; the command line is read only
		 * for those (it says libvirt's QEMU from another). */
		if ((st.flags & NK_PROC_PF_KTHREAD) ||
		    vm_kind_of(st.comm, NULL, NULL, 0) == NK_VM_PROCESS) {
			nk_proc_stat_done(&st);
			continue;
		}
		struct nk_vm_ref *refs = realloc(s.refs, (s.n + 1) * sizeof(*refs));
		int *ppids = realloc(s.ppids, (s.n + 1) * sizeof(*ppids));
		double *at = realloc(s.checked_at, (s.n + 1) * sizeof(*at));
		if (refs)
			s.refs = refs;
		if (ppids)
			s.ppids = ppids;
		if (at)
			s.checked_at = at;
		int r = refs && ppids && at ? 0 : -ENOMEM;
		size_t old = cache_find(cache, pids[i], &st);
		if (r == 0)
			r = ref_from_cache(cache, old, now, &s.refs[s.n]);
		if (r == 1) {
			s.checked_at[s.n] = cache->checked_at[old];
			r = 0;
		} else if (r == 0) {
			s.checked_at[s.n] = now;
			r = ref_from_stat(host, pids[i], &st, &s.refs[s.n], err);
		}
		nk_proc_stat_done(&st);
		if (r == -ESRCH)
			continue;
		if (r < 0) {
			scan_done(&s);
			return r == -ENOMEM ? nk_error_set(err, ENOMEM, "out of memory") : r;
		}
		s.ppids[s.n++] = st.ppid;
	}
	*ret = s;
	return 0;
}

/* crosvm forks its device processes: only the one whose parent is not of
 * its kind is the VM. */
static bool is_device_process(const struct scan *s, size_t i)
{
	if (!vm_kind(s->refs[i].kind)->forks_devices)
		return false;
	for (size_t j = 0; j < s->n; j++)
		if (s->refs[j].pid == s->ppids[i] && s->refs[j].kind == s->refs[i].kind)
			return true;
	return false;
}

_nk_export_ int nk_vm_find_all(nk_host *host, struct nk_vm_ref **ret_refs, nk_error **err)
{
	return nk_vm_find_cached(host, NULL, ret_refs, err);
}

_nk_export_ int nk_vm_find_cached(nk_host *host, nk_vm_cache *cache, struct nk_vm_ref **ret_refs,
				  nk_error **err)
{
	struct scan s = {0};
	size_t k = 0;
	int r = scan_vmms(host, cache, &s, err);

	if (r < 0)
		return r;
	bool *drop = calloc(s.n ? s.n : 1, sizeof(*drop));
	if (!drop) {
		scan_done(&s);
		return nk_error_set(err, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < s.n; i++)
		drop[i] = is_device_process(&s, i);
	for (size_t i = 0; i < s.n; i++) {
		if (drop[i]) {
			nk_vm_ref_done(&s.refs[i]);
		} else {
			s.checked_at[k] = s.checked_at[i];
			s.refs[k++] = s.refs[i];
		}
	}
	if (cache)
		cache_keep(cache, s.refs, s.checked_at, k);
	free(drop);
	free(s.checked_at);
	free(s.ppids);
	*ret_refs = s.refs;
	return (int)k;
}

static int lookup_pid(nk_host *host, int pid, struct nk_vm_ref *ret, nk_error **err)
{
	struct nk_proc_stat st;
	int r = nk_proc_stat_read(host, pid, 0, &st, err);
	if (r == -ESRCH)
		return nk_error_set(err, ESRCH, "no process %d", pid);
	if (r < 0)
		return r;
	if (st.flags & NK_PROC_PF_KTHREAD) {
		nk_proc_stat_done(&st);
		return nk_error_set(err, ESRCH, "process %d is a kernel thread, not a VM", pid);
	}
	r = ref_from_stat(host, pid, &st, ret, err);
	nk_proc_stat_done(&st);
	if (r == -ESRCH)
		return nk_error_set(err, ESRCH, "no process %d", pid);
	/* Named by its PID: the caller vouches for it. */
	if (r == 0 && !nk_vm_trusted(ret))
		ret->trust = NK_VM_TRUST_PID;
	return r;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

_nk_export_ int nk_vm_lookup(nk_host *host, const char *name_or_pid, struct nk_vm_ref *ret,
			     nk_error **err)
{
	struct nk_vm_ref *refs = NULL;
	_cleanup_free_ char *pids = NULL;
	size_t pids_len = 0;

	if (!name_or_pid || !*name_or_pid)
		return nk_error_set(err, EINVAL, "empty VM name");
	if (strspn(name_or_pid, "0123456789") == strlen(name_or_pid)) {
		long long pid;
		if (nk_parse_int(name_or_pid, 1, INT32_MAX, &pid, NULL) < 0)
			return nk_error_set(err, EINVAL, "invalid PID '%s'", name_or_pid);
		return lookup_pid(host, (int)pid, ret, err);
	}
	int n = nk_vm_find_all(host, &refs, err);
	if (n < 0)
		return n;
	/* By name, else by comm, else by program: the first rule that matches. */
	for (int rule = 0; rule < 3; rule++) {
		int match = -1, count = 0, trusted = -1, n_trusted = 0;
		FILE *f = open_memstream(&pids, &pids_len);
		if (!f) {
			nk_vm_refs_free(refs, (size_t)n);
			return nk_error_set(err, ENOMEM, "out of memory");
		}
		for (int i = 0; i < n; i++) {
			const char *s = rule == 0   ? refs[i].name
					: rule == 1 ? refs[i].comm
						    : base_name(refs[i].argv0);
			if (strcmp(s, name_or_pid) != 0)
				continue;
			fprintf(f, "%s%d%s", count ? ", " : "", refs[i].pid,
				nk_vm_trusted(&refs[i]) ? "" : " (a look-alike)");
			match = i;
			count++;
			if (nk_vm_trusted(&refs[i])) {
				trusted = i;
				n_trusted++;
			}
		}
		fclose(f);
		/* A look-alike cannot take a VM's name. */
		if (count > 1 && n_trusted == 1) {
			match = trusted;
			count = 1;
		}
		if (count > 1) {
			nk_vm_refs_free(refs, (size_t)n);
			int hinted = nk_error_set(err, ENOTUNIQ, "%d VMs are named '%s': PIDs %s",
						  count, name_or_pid, pids);
			nk_error_hint(err, "give the PID instead");
			return hinted;
		}
		free(TAKE_PTR(pids));
		if (count == 1) {
			*ret = refs[match];
			refs[match] = (struct nk_vm_ref){0};
			nk_vm_refs_free(refs, (size_t)n);
			return 0;
		}
	}
	nk_vm_refs_free(refs, (size_t)n);
	int hinted = nk_error_set(err, ENOENT, "no VM named '%s'", name_or_pid);
	nk_error_hint(err, "'numaksm status' lists the VMs found; a PID works for any "
			   "process");
	return hinted;
}

/* ---- one VM's facts ------------------------------------------------------ */

_nk_export_ struct nk_vm_info *nk_vm_info_free(struct nk_vm_info *vm)
{
	if (!vm)
		return NULL;
	nk_vm_ref_done(&vm->ref);
	for (size_t i = 0; i < vm->n_regions; i++)
		free(vm->regions[i].name);
	free(vm->regions);
	free(vm->placement.node_bytes);
	free(vm->placement.ksm_node_bytes);
	nk_vm_threads_done(&vm->threads);
	nk_proc_cgroups_free(vm->cgroups, vm->n_cgroups);
	nk_bitmap_free(vm->mems_allowed);
	free(vm);
	return NULL;
}

static void vm_info_freep(struct nk_vm_info **vm)
{
	nk_vm_info_free(*vm);
}

static int read_memory(nk_host *host, struct nk_vm_info *vm, nk_error **err)
{
	_cleanup_free_ char *smaps = NULL, *cmdline = NULL;
	_cleanup_free_ size_t *picked = NULL;
	struct nk_proc_vma *vmas = NULL;
	size_t n_vmas = 0, n_picked = 0;
	int pid = vm->ref.pid, r;

	int len = nk_proc_read(host, pid, "cmdline", &cmdline, err);
	if (len < 0)
		return len;
	r = vm_cmdline_ram(vm->ref.kind, cmdline, (size_t)len, &vm->guest_ram_bytes);
	if (r < 0)
		return nk_error_set(err, -r, "out of memory");
	vm->guest_ram_from_cmdline = vm->guest_ram_bytes > 0;

	r = nk_proc_read(host, pid, "smaps", &smaps, err);
	if (r == 0)
		return -ESRCH; /* a zombie: its memory is gone */
	if (r < 0)
		return r;
	r = nk_proc_smaps_parse(smaps, &vmas, &n_vmas);
	if (r < 0)
		return nk_error_set(err, -r, "/proc/%d/smaps: malformed", pid);
	r = vm_pick_guest_ram(vmas, n_vmas, vm->guest_ram_bytes, &picked, &n_picked);
	if (r >= 0 && n_picked && !(vm->regions = calloc(n_picked, sizeof(*vm->regions))))
		r = -ENOMEM;
	/* The process's totals are the sum of its mappings (what smaps_rollup
	 * adds up, read here without a second walk of its page tables). */
	for (size_t i = 0; r >= 0 && i < n_vmas; i++) {
		const struct nk_proc_vma *v = &vmas[i];
		if (v->mergeable)
			vm->mergeable_bytes += v->end - v->start;
		vm->hugetlb_bytes += v->hugetlb_bytes;
		vm->rss_bytes += v->rss_bytes + v->hugetlb_bytes;
		vm->anon_bytes += v->anon_bytes;
		vm->thp_bytes += v->anon_thp_bytes + v->shmem_pmd_bytes + v->file_pmd_bytes;
		vm->swap_bytes += v->swap_bytes;
	}
	uint64_t region_bytes = 0;
	for (size_t i = 0; r >= 0 && i < n_picked; i++) {
		struct nk_proc_vma *v = &vmas[picked[i]];
		struct nk_vm_region *g = &vm->regions[vm->n_regions++];
		uint64_t thp = v->anon_thp_bytes + v->shmem_pmd_bytes + v->file_pmd_bytes;
		*g = (struct nk_vm_region){
		    .start = v->start,
		    .size_bytes = v->end - v->start,
		    .page_size = v->hugetlb_vma && v->kernel_page_size ? v->kernel_page_size : 4096,
		    .backing = v->hugetlb_vma ? NK_BACKING_HUGETLB
			       : thp	      ? NK_BACKING_THP
					      : NK_BACKING_4K,
		    .mergeable = v->mergeable,
		    .rss_bytes = v->rss_bytes + v->hugetlb_bytes,
		    .thp_bytes = thp,
		    .ksm_bytes = v->ksm_bytes,
		    .name = TAKE_PTR(v->name),
		};
		region_bytes += g->size_bytes;
		vm->guest_rss_bytes += g->rss_bytes;
		vm->guest_thp_bytes += thp;
		if (v->hugetlb_vma)
			vm->guest_hugetlb_bytes += g->rss_bytes;
	}
	nk_proc_vmas_free(vmas, n_vmas);
	if (r < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (!vm->guest_ram_from_cmdline)
		vm->guest_ram_bytes = region_bytes;
	return 0;
}

static int add_node_bytes(struct nk_vm_placement *p, size_t node, uint64_t bytes)
{
	p->present_bytes += bytes;
	return vm_array_add(&p->node_bytes, &p->n_node_bytes, node, bytes);
}

/* Pages per node with move_pages(2): exact, or sampled in large mappings. */
static int placement_move_pages(struct nk_vm_info *vm, bool exact, struct nk_vm_placement *ret,
				nk_error **err)
{
	/* KSM pages counted apart when the VM has any merged. */
	bool ksm = vm->has_ksm && vm->ksm.merging_pages > 0;
	struct nk_vm_placement p = {
	    .method = "move_pages", .exact = true, .has_ksm_node_bytes = ksm};

	for (size_t i = 0; i < vm->n_regions; i++) {
		const struct nk_vm_region *g = &vm->regions[i];
		struct nk_placement m;
		uint64_t pages = g->size_bytes / g->page_size;
		int r = nk_placement_measure_flags(vm->ref.pid, g->start, pages * g->page_size,
						   g->page_size, exact ? pages : 0,
						   ksm ? NK_PLACEMENT_KSM : 0, &m, err);
		if (r < 0) {
			free(p.node_bytes);
			free(p.ksm_node_bytes);
			return r;
		}
		if (g->page_size == 4096 && !m.has_ksm)
			p.has_ksm_node_bytes = false; /* not privileged: cannot tell */
		for (size_t n = 0; r >= 0 && n < m.n_node_pages; n++) {
			if (m.node_pages[n])
				r = add_node_bytes(&p, n, m.node_pages[n] * g->page_size);
			if (r >= 0 && m.node_ksm_pages && m.node_ksm_pages[n])
				r = vm_array_add(&p.ksm_node_bytes, &p.n_ksm_node_bytes, n,
						 m.node_ksm_pages[n] * g->page_size);
		}
		p.exact &= m.exact;
		p.sampled_pages += m.sampled;
		p.absent_bytes += m.not_present * g->page_size;
		p.other_bytes += m.other * g->page_size;
		p.error_bytes += m.error_pages * (double)g->page_size;
		nk_placement_done(&m);
		if (r < 0) {
			free(p.node_bytes);
			free(p.ksm_node_bytes);
			return nk_error_set(err, ENOMEM, "out of memory");
		}
	}
	if (!p.has_ksm_node_bytes) {
		free(p.ksm_node_bytes);
		p.ksm_node_bytes = NULL;
		p.n_ksm_node_bytes = 0;
	}
	*ret = p;
	return 0;
}

/* Pages per node as the kernel counts them in numa_maps: what a captured
 * tree offers, and what works without the right to move_pages(). */
static int placement_numa_maps(nk_host *host, struct nk_vm_info *vm, struct nk_vm_placement *ret,
			       nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	struct vm_numa_map *maps = NULL;
	struct nk_vm_placement p = {.method = "numa_maps", .exact = true};
	size_t n = 0;
	int r = nk_proc_read(host, vm->ref.pid, "numa_maps", &text, err);

	if (r < 0)
		return r;
	r = vm_parse_numa_maps(text, &maps, &n);
	if (r < 0)
		return nk_error_set(err, -r, "/proc/%d/numa_maps: malformed", vm->ref.pid);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		bool ram = false;
		for (size_t g = 0; g < vm->n_regions; g++)
			ram |= vm->regions[g].start == maps[i].start;
		for (size_t node = 0; ram && r >= 0 && node < maps[i].n_node_pages; node++)
			if (maps[i].node_pages[node])
				r = add_node_bytes(&p, node,
						   maps[i].node_pages[node] * maps[i].page_size);
	}
	vm_numa_maps_free(maps, n);
	if (r < 0) {
		free(p.node_bytes);
		return nk_error_set(err, ENOMEM, "out of memory");
	}
	*ret = p;
	return 0;
}

/* The nodes its cpuset allows: what it is meant to use.  A kernel without
 * the line, or a malformed one, leaves it unknown. */
static int read_mems_allowed(nk_host *host, struct nk_vm_info *vm)
{
	_cleanup_free_ char *text = NULL, *list = NULL;
	int r = nk_proc_read(host, vm->ref.pid, "status", &text, NULL);
	if (r == -ESRCH && nk_host_is_live(host))
		return r;
	if (r < 0 || nk_parse_keyed_line(text, "Mems_allowed_list", &list) < 0)
		return 0;
	/* Linux numbers nodes below 1024 (NODES_SHIFT 10). */
	if (nk_parse_list_max(list, "Mems_allowed_list", 1023, &vm->mems_allowed, NULL) < 0)
		vm->mems_allowed = NULL;
	return 0;
}

static int read_placement(nk_host *host, struct nk_vm_info *vm, bool exact, nk_error **err)
{
	_cleanup_error_ nk_error *e = NULL;
	int r = -EPERM;

	if (nk_host_is_live(host)) {
		r = placement_move_pages(vm, exact, &vm->placement, &e);
		if (r == -ESRCH)
			return r;
	}
	if (r == -EPERM || r == -EACCES) {
		nk_debug("process %d: pages per node from numa_maps (%s)", vm->ref.pid,
			 e ? nk_error_message(e) : "captured tree");
		r = placement_numa_maps(host, vm, &vm->placement, err);
	} else if (r < 0) {
		return nk_error_set(err, -r, "%s", e ? nk_error_message(e) : strerror(-r));
	}
	if (r < 0)
		return r;
	vm->has_placement = true;
	return read_mems_allowed(host, vm);
}

static int read_threads(nk_host *host, struct nk_vm_info *vm, nk_error **err)
{
	_cleanup_error_ nk_error *e = NULL;
	int r = nk_vm_threads_read(host, &vm->ref, &vm->threads, &e);
	if (r == -ENOTSUP)
		return 0; /* no thread named like a vCPU: the report says so */
	if (r == -ESRCH)
		return r;
	if (r < 0)
		return nk_error_set(err, -r, "%s", e ? nk_error_message(e) : strerror(-r));
	vm->has_threads = true;
	return 0;
}

static int read_ksm(nk_host *host, struct nk_vm_info *vm, const struct nk_ksm *ksm, nk_error **err)
{
	_cleanup_error_ nk_error *e = NULL;
	int r = nk_ksm_proc_read(host, vm->ref.pid, &vm->ksm, &e);
	if (r == -ENOTSUP)
		return 0; /* before Linux 6.1 */
	if (r == -ESRCH)
		return r;
	if (r < 0)
		return nk_error_set(err, -r, "%s", e ? nk_error_message(e) : strerror(-r));
	vm->has_ksm = true;
	/* A captured tree does not say its page size. */
	if (ksm && nk_ksm_has(ksm, NK_KSM_PAGES_SHARING) && nk_ksm_has(ksm, NK_KSM_PAGES_SHARED) &&
	    nk_host_is_live(host)) {
		vm->ksm_saved_bytes =
		    nk_ksm_proc_saved_bytes(&vm->ksm, ksm, (uint64_t)sysconf(_SC_PAGESIZE));
		vm->has_ksm_saved = true;
	}
	return 0;
}

static int read_cgroups(nk_host *host, struct nk_vm_info *vm, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	int r = nk_proc_read(host, vm->ref.pid, "cgroup", &text, err);
	if (r == -ESRCH && !nk_host_is_live(host))
		return 0; /* a captured tree without the file */
	if (r < 0)
		return r;
	if (nk_proc_cgroup_parse(text, &vm->cgroups, &vm->n_cgroups) < 0)
		return nk_error_set(err, EINVAL, "/proc/%d/cgroup: malformed", vm->ref.pid);
	return 0;
}

_nk_export_ int nk_vm_read(nk_host *host, const struct nk_vm_ref *ref, const struct nk_ksm *ksm,
			   unsigned flags, struct nk_vm_info **ret, nk_error **err)
{
	_cleanup_(vm_info_freep) struct nk_vm_info *vm = calloc(1, sizeof(*vm));
	_cleanup_error_ nk_error *e = NULL;
	struct nk_proc_stat st;
	int r;

	if (!vm)
		return nk_error_set(err, ENOMEM, "out of memory");
	r = nk_proc_stat_read(host, ref->pid, 0, &st, &e);
	if (r >= 0) {
		vm->thread_count = st.thread_count;
		/* The same process, not a later one with the same PID. */
		if (ref->start_time && st.start_time_ticks != ref->start_time)
			r = -ESRCH;
		nk_proc_stat_done(&st);
	}
	vm->ref = (struct nk_vm_ref){
	    .pid = ref->pid,
	    .kind = ref->kind,
	    .trust = ref->trust,
	    .uid = ref->uid,
	    .start_time = ref->start_time,
	    .name = strdup(ref->name ? ref->name : ""),
	    .comm = strdup(ref->comm ? ref->comm : ""),
	    .argv0 = strdup(ref->argv0 ? ref->argv0 : ""),
	    .uuid = ref->uuid ? strdup(ref->uuid) : NULL,
	};
	if (r >= 0 && ref->uuid && !vm->ref.uuid)
		r = nk_error_set(&e, ENOMEM, "out of memory");
	if (r >= 0 && (!vm->ref.name || !vm->ref.comm || !vm->ref.argv0))
		r = nk_error_set(&e, ENOMEM, "out of memory");
	if (r >= 0)
		r = read_memory(host, vm, &e);
	if (r >= 0)
		r = read_ksm(host, vm, ksm, &e);
	if (r >= 0)
		r = read_cgroups(host, vm, &e);
	if (r >= 0 && (flags & NK_VM_READ_THREADS))
		r = read_threads(host, vm, &e);
	if (r >= 0 && (flags & NK_VM_READ_PLACEMENT))
		r = read_placement(host, vm, flags & NK_VM_READ_EXACT, &e);
	if (r == -ESRCH)
		return -ESRCH; /* gone: no message, the caller leaves it out */
	if (r < 0) {
		nk_error_set(err, -r, "%s", e ? nk_error_message(e) : strerror(-r));
		if (nk_error_get_hint(e))
			nk_error_hint(err, "%s", nk_error_get_hint(e));
		return nk_error_prefix(err, "VM %s (PID %d)", ref->name, ref->pid);
	}
	*ret = TAKE_PTR(vm);
	return 0;
}
