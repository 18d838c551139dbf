/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Parsers of the /proc files VM discovery reads: stat, smaps, smaps_rollup,
 * numa_maps, cgroup and VMM command lines.  Strings in, structs out, no
 * I/O: tests feed them literals, malformed and truncated text.
 */
#include "vm-internal.h"
#include "vcpu-internal.h"

#include <ctype.h>
#include <inttypes.h>

/* A token of at most 31 characters as a number.  Tokens here are kernel
 * numbers; a longer one is malformed, not data of unknown size. */
static int token_u64(const char *s, size_t len, uint64_t *ret)
{
	char num[32];
	if (len == 0 || len >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, len);
	num[len] = '\0';
	return nk_parse_u64(num, ret, NULL) < 0 ? -EINVAL : 0;
}

static int token_int(const char *s, size_t len, long long min, long long max, long long *ret)
{
	char num[32];
	if (len == 0 || len >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, len);
	num[len] = '\0';
	return nk_parse_int(num, min, max, ret, NULL) < 0 ? -EINVAL : 0;
}

/* ---- /proc/PID/stat -------------------------------------------------- */

void vm_stat_done(struct vm_stat *st)
{
	free(st->comm);
	st->comm = NULL;
}

int vm_parse_stat(const char *text, struct vm_stat *ret)
{
	const char *open = text ? strchr(text, '(') : NULL;
	const char *close = text ? strrchr(text, ')') : NULL;
	struct vm_stat st = {.processor = -1};
	unsigned field = 3;
	long long v;
	uint64_t u;

	if (!open || !close || close < open || open == text)
		return -EINVAL;
	for (const char *s = close + 1; field <= 39; field++) {
		while (*s == ' ')
			s++;
		const char *end = s + strcspn(s, " \n");
		size_t len = (size_t)(end - s);
		if (len == 0)
			break;
		switch (field) {
		case 3:
			if (len != 1)
				return -EINVAL;
			st.state = *s;
			break;
		case 4:
			if (token_int(s, len, 0, INT32_MAX, &v) < 0)
				return -EINVAL;
			st.ppid = (int)v;
			break;
		case 9:
		case 14:
		case 15:
		case 20:
		case 22:
		case 24:
			if (token_u64(s, len, &u) < 0)
				return -EINVAL;
			if (field == 9)
				st.flags = u;
			else if (field == 14)
				st.utime = u;
			else if (field == 15)
				st.stime = u;
			else if (field == 20)
				st.num_threads = u > UINT32_MAX ? UINT32_MAX : (unsigned)u;
			else if (field == 22)
				st.start_time = u;
			else
				st.rss_pages = u;
			break;
		case 39:
			if (token_int(s, len, 0, INT32_MAX, &v) < 0)
				return -EINVAL;
			st.processor = (int)v;
			break;
		}
		s = end;
	}
	if (field <= 24)
		return -EINVAL; /* cut before the fields we need */
	st.comm = strndup(open + 1, (size_t)(close - open - 1));
	if (!st.comm)
		return -ENOMEM;
	*ret = st;
	return 0;
}

/* ---- smaps_rollup and smaps ------------------------------------------- */

int vm_parse_rollup(const char *text, struct vm_rollup *ret)
{
	struct vm_rollup r = {0};
	const struct {
		const char *key;
		uint64_t *value;
		bool required;
	} keys[] = {
	    {"Rss", &r.rss, true},
	    {"Pss", &r.pss, false},
	    {"Anonymous", &r.anon, true},
	    {"AnonHugePages", &r.anon_thp, false},
	    {"ShmemPmdMapped", &r.shmem_pmd, false},
	    {"FilePmdMapped", &r.file_pmd, false},
	    {"Shared_Hugetlb", &r.shared_hugetlb, false},
	    {"Private_Hugetlb", &r.private_hugetlb, false},
	    {"Swap", &r.swap, false},
	    {"KSM", &r.ksm, false},
	};
	if (!text)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		uint64_t kb;
		int k = nk_parse_meminfo(text, keys[i].key, &kb);
		if (k == -ENOENT && !keys[i].required)
			continue;
		if (k < 0 || kb > UINT64_MAX / 1024)
			return -EINVAL;
		*keys[i].value = kb * 1024;
		if (keys[i].value == &r.ksm)
			r.has_ksm = true;
	}
	*ret = r;
	return 0;
}

void vm_vmas_free(struct vm_vma *vmas, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(vmas[i].name);
	free(vmas);
}

/* "start-end perms offset dev inode [name]" */
static int parse_vma_header(const char *line, size_t len, struct vm_vma *ret)
{
	const char *p = line, *end = line + len;
	struct vm_vma v = {0};
	char *e;

	errno = 0;
	v.start = strtoull(p, &e, 16);
	if (e == p || *e != '-' || errno)
		return -EINVAL;
	p = e + 1;
	v.end = strtoull(p, &e, 16);
	if (e == p || *e != ' ' || errno || v.end < v.start)
		return -EINVAL;
	p = e + 1;
	if (end - p < 5 || p[4] != ' ')
		return -EINVAL;
	memcpy(v.perms, p, 4);
	p += 5;
	/* offset, device, inode */
	for (int f = 0; f < 3; f++) {
		const char *s = p;
		while (p < end && *p != ' ')
			p++;
		if (p == s)
			return -EINVAL;
		while (p < end && *p == ' ')
			p++;
	}
	v.name = strndup(p, (size_t)(end - p));
	if (!v.name)
		return -ENOMEM;
	*ret = v;
	return 0;
}

/* "Key:   123 kB" -> bytes */
static int kb_value(const char *p, const char *end, uint64_t *ret)
{
	uint64_t kb;
	while (p < end && *p == ' ')
		p++;
	const char *s = p;
	while (p < end && isdigit((unsigned char)*p))
		p++;
	if (token_u64(s, (size_t)(p - s), &kb) < 0 || kb > UINT64_MAX / 1024)
		return -EINVAL;
	while (p < end && *p == ' ')
		p++;
	if (end - p != 2 || strncmp(p, "kB", 2) != 0)
		return -EINVAL;
	*ret = kb * 1024;
	return 0;
}

static bool has_flag(const char *flags, const char *end, const char *flag)
{
	size_t n = strlen(flag);
	for (const char *p = flags; p + n <= end; p++)
		if ((p == flags || p[-1] == ' ') && strncmp(p, flag, n) == 0 &&
		    (p + n == end || p[n] == ' '))
			return true;
	return false;
}

static int vma_line(struct vm_vma *v, const char *line, const char *end, bool *ret_last)
{
	static const struct {
		const char *key;
		size_t offset;
	} keys[] = {
	    {"Rss:", offsetof(struct vm_vma, rss)},
	    {"AnonHugePages:", offsetof(struct vm_vma, anon_thp)},
	    {"ShmemPmdMapped:", offsetof(struct vm_vma, shmem_pmd)},
	    {"FilePmdMapped:", offsetof(struct vm_vma, file_pmd)},
	    {"KSM:", offsetof(struct vm_vma, ksm)},
	    {"KernelPageSize:", offsetof(struct vm_vma, kernel_page_size)},
	};
	if (strncmp(line, "VmFlags:", 8) == 0) {
		v->mergeable = has_flag(line + 8, end, "mg");
		v->hugetlb_vma = has_flag(line + 8, end, "ht");
		*ret_last = true;
		return 0;
	}
	if (strncmp(line, "KSM:", 4) == 0)
		v->has_ksm = true;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		size_t n = strlen(keys[i].key);
		if (strncmp(line, keys[i].key, n) == 0)
			return kb_value(line + n, end, (uint64_t *)((char *)v + keys[i].offset));
	}
	if (strncmp(line, "Shared_Hugetlb:", 15) == 0 ||
	    strncmp(line, "Private_Hugetlb:", 16) == 0) {
		uint64_t b;
		int r = kb_value(strchr(line, ':') + 1, end, &b);
		if (r < 0)
			return r;
		v->hugetlb += b;
		return 0;
	}
	/* Other keys (Size, Pss, Swap, THPeligible...) are not needed; a line
	 * without a colon is not an smaps line at all. */
	return memchr(line, ':', (size_t)(end - line)) ? 0 : -EINVAL;
}

int vm_parse_smaps(const char *text, struct vm_vma **ret_vmas, size_t *ret_n)
{
	struct vm_vma *vmas = NULL;
	size_t n = 0, cap = 0;
	bool open_vma = false;
	int r = 0;

	if (!text)
		return -EINVAL;
	for (const char *line = text; *line;) {
		const char *end = line + strcspn(line, "\n");
		bool header = isxdigit((unsigned char)*line) && !isupper((unsigned char)*line);
		if (header) {
			if (open_vma) {
				r = -EINVAL; /* the previous mapping had no VmFlags */
				break;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				struct vm_vma *nv = realloc(vmas, cap * sizeof(*nv));
				if (!nv) {
					r = -ENOMEM;
					break;
				}
				vmas = nv;
			}
			r = parse_vma_header(line, (size_t)(end - line), &vmas[n]);
			if (r < 0)
				break;
			n++;
			open_vma = true;
		} else if (end > line) {
			bool last = false;
			if (!open_vma) {
				r = -EINVAL;
				break;
			}
			r = vma_line(&vmas[n - 1], line, end, &last);
			if (r < 0)
				break;
			if (last)
				open_vma = false;
		}
		line = *end ? end + 1 : end;
	}
	if (r == 0 && open_vma)
		r = -EINVAL; /* truncated inside the last mapping */
	if (r < 0) {
		vm_vmas_free(vmas, n);
		return r;
	}
	*ret_vmas = vmas;
	*ret_n = n;
	return 0;
}

int vm_array_add(uint64_t **array, size_t *n, size_t index, uint64_t value)
{
	if (index >= *n) {
		uint64_t *a = realloc(*array, (index + 1) * sizeof(*a));
		if (!a)
			return -ENOMEM;
		memset(a + *n, 0, (index + 1 - *n) * sizeof(*a));
		*array = a;
		*n = index + 1;
	}
	(*array)[index] += value;
	return 0;
}

/* ---- numa_maps ---------------------------------------------------------- */

void vm_numa_maps_free(struct vm_numa_map *maps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(maps[i].node_pages);
	free(maps);
}

static int numa_map_token(struct vm_numa_map *m, const char *s, size_t len)
{
	uint64_t v;
	if (len > 1 && s[0] == 'N' && isdigit((unsigned char)s[1])) {
		const char *eq = memchr(s, '=', len);
		uint64_t node;
		if (!eq || token_u64(s + 1, (size_t)(eq - s - 1), &node) < 0 ||
		    node >= NK_BITMAP_MAX_BIT ||
		    token_u64(eq + 1, len - (size_t)(eq - s) - 1, &v) < 0)
			return -EINVAL;
		return vm_array_add(&m->node_pages, &m->n_node_pages, node, v);
	}
	if (len > 18 && strncmp(s, "kernelpagesize_kB=", 18) == 0) {
		if (token_u64(s + 18, len - 18, &v) < 0 || v == 0 || v > UINT64_MAX / 1024)
			return -EINVAL;
		m->page_size = v * 1024;
	}
	return 0; /* policy, anon=, dirty=, file=, huge... */
}

int vm_parse_numa_maps(const char *text, struct vm_numa_map **ret_maps, size_t *ret_n)
{
	struct vm_numa_map *maps = NULL;
	size_t n = 0;
	int r = 0;

	if (!text)
		return -EINVAL;
	for (const char *line = text; *line && r == 0;) {
		const char *end = line + strcspn(line, "\n");
		if (end == line) {
			line = *end ? end + 1 : end;
			continue;
		}
		struct vm_numa_map m = {.page_size = 4096};
		const char *p = line, *s;
		char *e;
		errno = 0;
		m.start = strtoull(p, &e, 16);
		if (e == p || *e != ' ' || errno) {
			r = -EINVAL;
			break;
		}
		/* The policy, then key=value and flag tokens. */
		for (p = e, s = NULL; r == 0 && p <= end; p++) {
			if (p < end && *p != ' ') {
				if (!s)
					s = p;
				continue;
			}
			if (s)
				r = numa_map_token(&m, s, (size_t)(p - s));
			s = NULL;
		}
		struct vm_numa_map *nm = r == 0 ? realloc(maps, (n + 1) * sizeof(*nm)) : NULL;
		if (!nm) {
			free(m.node_pages);
			r = r < 0 ? r : -ENOMEM;
			break;
		}
		maps = nm;
		maps[n++] = m;
		line = *end ? end + 1 : end;
	}
	if (r < 0) {
		vm_numa_maps_free(maps, n);
		return r;
	}
	*ret_maps = maps;
	*ret_n = n;
	return 0;
}

/* ---- /proc/PID/cgroup ------------------------------------------------- */

void vm_cgroups_free(struct nk_vm_cgroup *cgroups, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(cgroups[i].controllers);
		free(cgroups[i].path);
	}
	free(cgroups);
}

int vm_parse_proc_cgroup(const char *text, struct nk_vm_cgroup **ret, size_t *ret_n)
{
	struct nk_vm_cgroup *cg = NULL;
	size_t n = 0;
	int r = 0;

	if (!text)
		return -EINVAL;
	for (const char *line = text; *line && r == 0;) {
		const char *end = line + strcspn(line, "\n");
		const char *c1 = memchr(line, ':', (size_t)(end - line));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		long long id;
		if (end == line) {
			line = *end ? end + 1 : end;
			continue;
		}
		if (!c2 || c2 + 1 == end || c2[1] != '/' ||
		    token_int(line, (size_t)(c1 - line), 0, INT32_MAX, &id) < 0) {
			r = -EINVAL;
			break;
		}
		struct nk_vm_cgroup *ncg = realloc(cg, (n + 1) * sizeof(*ncg));
		if (!ncg) {
			r = -ENOMEM;
			break;
		}
		cg = ncg;
		cg[n] = (struct nk_vm_cgroup){
		    .hierarchy = (unsigned)id,
		    .controllers = strndup(c1 + 1, (size_t)(c2 - c1 - 1)),
		    .path = strndup(c2 + 1, (size_t)(end - c2 - 1)),
		};
		if (!cg[n++].controllers || !cg[n - 1].path)
			r = -ENOMEM;
		line = *end ? end + 1 : end;
	}
	if (r == 0 && n == 0)
		r = -EINVAL;
	if (r < 0) {
		vm_cgroups_free(cg, n);
		return r;
	}
	*ret = cg;
	*ret_n = n;
	return 0;
}

const char *vm_cgroup_path(const struct nk_vm_cgroup *cgroups, size_t n, const char *controller)
{
	size_t len = strlen(controller);
	for (size_t i = 0; i < n; i++) {
		const char *c = cgroups[i].controllers;
		if (!*controller && cgroups[i].hierarchy == 0 && !*c)
			return cgroups[i].path;
		for (const char *p = c; *controller && p && *p;
		     p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
			if (strncmp(p, controller, len) == 0 && (p[len] == ',' || !p[len]))
				return cgroups[i].path;
	}
	return NULL;
}

/* ---- command lines ------------------------------------------------------ */

int vm_cmdline_option(const char *cmdline, size_t len, const char *option, char **ret_value)
{
	const char *end = cmdline + len;
	size_t n = strlen(option);

	*ret_value = NULL;
	for (const char *a = cmdline; a < end; a += strnlen(a, (size_t)(end - a)) + 1) {
		const char *v = NULL, *next = a + strnlen(a, (size_t)(end - a)) + 1;
		if (strcmp(a, option) == 0 && next < end)
			v = next;
		else if (strncmp(a, option, n) == 0 && a[n] == '=')
			v = a + n + 1;
		if (!v)
			continue;
		char *copy = strndup(v, (size_t)(end - v));
		if (!copy)
			return -ENOMEM;
		*ret_value = copy;
		return 0;
	}
	return 0;
}

enum nk_vm_kind vm_kind_of(const char *comm, const char *argv0)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
	const char *base = slash ? slash + 1 : argv0;
	const char *names[] = {comm, base};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		const char *s = names[i];
		if (!s)
			continue;
		if (strcmp(s, "numaksm-vmm") == 0)
			return NK_VM_NUMAKSM;
		if (strncmp(s, "qemu-system-", 12) == 0 || strcmp(s, "qemu-kvm") == 0)
			return NK_VM_QEMU;
		/* The comm is cut to 15 characters: "cloud-hyperviso". */
		if (strncmp(s, "cloud-hyperviso", 15) == 0)
			return NK_VM_CLOUD_HYPERVISOR;
		if (strcmp(s, "firecracker") == 0)
			return NK_VM_FIRECRACKER;
		if (strcmp(s, "crosvm") == 0)
			return NK_VM_CROSVM;
	}
	return NK_VM_PROCESS;
}

int vm_cmdline_name(enum nk_vm_kind kind, const char *cmdline, size_t len, char **ret_name)
{
	switch (kind) {
	case NK_VM_QEMU:
		return pin_parse_qemu_name(cmdline, len, ret_name);
	case NK_VM_FIRECRACKER:
		return vm_cmdline_option(cmdline, len, "--id", ret_name);
	case NK_VM_NUMAKSM:
		return vm_cmdline_option(cmdline, len, "--name", ret_name);
	default:
		*ret_name = NULL;
		return 0;
	}
}

/* "size=4G,slots=2" or "4G": the size item of a comma list. */
static int size_item(const char *value, bool mib_default, uint64_t *ret)
{
	_cleanup_free_ char *copy = strdup(value);
	char *save = NULL;
	if (!copy)
		return -ENOMEM;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		if (strncmp(item, "size=", 5) == 0)
			item += 5;
		else if (strchr(item, '='))
			continue;
		uint64_t v;
		if (mib_default && strspn(item, "0123456789") == strlen(item)) {
			if (nk_parse_u64(item, &v, NULL) < 0 || v > UINT64_MAX >> 20)
				return -EINVAL;
			*ret = v << 20;
			return 0;
		}
		if (nk_parse_size(item, &v, NULL) < 0)
			return -EINVAL;
		*ret = v;
		return 0;
	}
	return -ENOENT;
}

/* numaksm-vmm: the sum of its --memory or --memory-zone sizes. */
static int numaksm_vmm_ram(const char *cmdline, size_t len, uint64_t *ret_bytes)
{
	const char *end = cmdline + len;
	uint64_t total = 0;

	for (const char *a = cmdline; a < end; a += strnlen(a, (size_t)(end - a)) + 1) {
		const char *next = a + strnlen(a, (size_t)(end - a)) + 1, *v = NULL;
		if ((!strcmp(a, "--memory") || !strcmp(a, "--memory-zone")) && next < end)
			v = next;
		else if (!strncmp(a, "--memory=", 9))
			v = a + 9;
		else if (!strncmp(a, "--memory-zone=", 14))
			v = a + 14;
		uint64_t bytes;
		if (!v)
			continue;
		int r = size_item(v, false, &bytes);
		if (r == -ENOMEM)
			return r;
		if (r == 0)
			total += bytes;
	}
	*ret_bytes = total;
	return 0;
}

int vm_cmdline_ram(enum nk_vm_kind kind, const char *cmdline, size_t len, uint64_t *ret_bytes)
{
	const char *option;
	bool mib = true;
	_cleanup_free_ char *value = NULL;

	switch (kind) {
	case NK_VM_QEMU:
		option = "-m";
		break;
	case NK_VM_CLOUD_HYPERVISOR:
		option = "--memory";
		mib = false;
		break;
	case NK_VM_CROSVM:
		option = "--mem";
		break;
	case NK_VM_NUMAKSM:
		return numaksm_vmm_ram(cmdline, len, ret_bytes);
	default:
		*ret_bytes = 0;
		return 0;
	}
	int r = vm_cmdline_option(cmdline, len, option, &value);
	if (r == 0 && !value && kind == NK_VM_CROSVM)
		r = vm_cmdline_option(cmdline, len, "-m", &value);
	if (r < 0)
		return r;
	uint64_t bytes = 0;
	if (value && size_item(value, mib, &bytes) == -ENOMEM)
		return -ENOMEM;
	*ret_bytes = bytes; /* a size we cannot read is an unknown size */
	return 0;
}

/* ---- guest RAM ---------------------------------------------------------- */

#define STRONG_MIN (1ull << 20)
#define WEAK_MIN   (64ull << 20)

/* 2: mergeable or hugetlb; 1: large anonymous or shared memory; 0: not RAM. */
static int ram_rank(const struct vm_vma *v)
{
	uint64_t size = v->end - v->start;
	bool shared_mem = !*v->name || strncmp(v->name, "/memfd:", 7) == 0 ||
			  strncmp(v->name, "/dev/shm/", 9) == 0 ||
			  strncmp(v->name, "/dev/hugepages", 14) == 0 ||
			  strncmp(v->name, "[anon:", 6) == 0;
	if (v->perms[1] != 'w' || v->perms[2] == 'x')
		return 0; /* RAM is writable; a TCG code buffer is executable */
	if ((v->mergeable || v->hugetlb_vma) && size >= STRONG_MIN)
		return 2;
	if ((shared_mem || v->hugetlb_vma) && size >= WEAK_MIN)
		return 1;
	return 0;
}

/* qsort() passes no context to its comparator. */
static __thread const struct vm_vma *sort_vmas;

static int by_rank_and_size(const void *a, const void *b)
{
	const struct vm_vma *x = &sort_vmas[*(const size_t *)a],
			    *y = &sort_vmas[*(const size_t *)b];
	int rx = ram_rank(x), ry = ram_rank(y);
	uint64_t sx = x->end - x->start, sy = y->end - y->start;
	if (rx != ry)
		return rx > ry ? -1 : 1;
	if (sx != sy)
		return sx > sy ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int by_index(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

int vm_pick_guest_ram(const struct vm_vma *vmas, size_t n, uint64_t ram_bytes, size_t **ret_index,
		      size_t *ret_n)
{
	_cleanup_free_ size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	size_t k = 0, chosen = 0;
	int best = 0;

	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int rank = ram_rank(&vmas[i]);
		if (rank > 0)
			idx[k++] = i;
		if (rank > best)
			best = rank;
	}
	sort_vmas = vmas;
	qsort(idx, k, sizeof(*idx), by_rank_and_size);
	if (ram_bytes) {
		/* The largest first, until they hold the size the VMM was given. */
		for (uint64_t sum = 0; chosen < k && sum < ram_bytes; chosen++)
			sum += vmas[idx[chosen]].end - vmas[idx[chosen]].start;
	} else {
		while (chosen < k && ram_rank(&vmas[idx[chosen]]) == best)
			chosen++;
	}
	qsort(idx, chosen, sizeof(*idx), by_index);
	*ret_index = TAKE_PTR(idx);
	*ret_n = chosen;
	return 0;
}
