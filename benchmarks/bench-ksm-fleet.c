/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fleet numaksm-bench ksm measures KSM on.  There is no KVM on the
 * build machines, so each "VM" is a process named fleet-vmN holding a
 * mergeable guest-RAM zone from memory/ (nk_zone_create, mergeable=on),
 * filled from the host side with what guests hold: a shared image
 * (Debian's kernel and the files of its initrd, page-aligned as a page
 * cache holds them), zero pages, unique pages, and a volatile share that
 * changes every few seconds.  The content is generated from a seed, so
 * every strategy sees the same bytes, and the saving KSM can reach on it
 * is known exactly.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <numaksm/memory.h>
#include <numaksm/vm.h>

#include "bench-ksm.h"

#define PAGE	    4096u
#define CHUNK_PAGES 16u

enum chunk_kind { CHUNK_IMAGE, CHUNK_ZERO, CHUNK_UNIQUE, CHUNK_VOLATILE };

static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---- the image ------------------------------------------------------ */

struct image_builder {
	uint8_t *buf;
	uint64_t pages, cap;
};

static int image_append(struct image_builder *b, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	uint64_t need = ((uint64_t)st.st_size + PAGE - 1) / PAGE;
	if (b->pages + need > b->cap) {
		uint64_t cap = (b->pages + need) * 2;
		uint8_t *nb = realloc(b->buf, cap * PAGE);
		if (!nb) {
			close(fd);
			return -ENOMEM;
		}
		b->buf = nb;
		b->cap = cap;
	}
	uint8_t *dst = b->buf + b->pages * PAGE;
	memset(dst, 0, need * PAGE);
	for (uint64_t off = 0; off < (uint64_t)st.st_size;) {
		ssize_t n = read(fd, dst + off, (size_t)((uint64_t)st.st_size - off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (uint64_t)n;
	}
	close(fd);
	b->pages += need;
	return 0;
}

/* Regular files of the extracted initrd, each once (busybox links). */
static char **walk_files;
static size_t walk_n;
static ino_t *walk_inodes;

static int collect(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	for (size_t i = 0; i < walk_n; i++)
		if (walk_inodes[i] == st->st_ino)
			return 0;
	char **nf = realloc(walk_files, (walk_n + 1) * sizeof(*nf));
	ino_t *ni = realloc(walk_inodes, (walk_n + 1) * sizeof(*ni));
	if (nf)
		walk_files = nf;
	if (ni)
		walk_inodes = ni;
	if (!nf || !ni || !(walk_files[walk_n] = strdup(path)))
		return -1;
	walk_inodes[walk_n++] = st->st_ino;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)remove(path); /* best effort: a temporary directory */
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The newest /boot/vmlinuz-VERSION, and /boot/initrd.img-VERSION. */
static int find_boot_files(char *kernel, char *initrd, size_t size)
{
	struct dirent **list = NULL;
	int n = scandir("/boot", &list, NULL, versionsort), found = -ENOENT;
	for (int i = n - 1; i >= 0; i--) {
		const char *name = list[i]->d_name;
		if (found < 0 && strncmp(name, "vmlinuz-", 8) == 0) {
			snprintf(kernel, size, "/boot/%s", name);
			snprintf(initrd, size, "/boot/initrd.img-%s", name + 8);
			found = 0;
		}
		free(list[i]);
	}
	free(list);
	return found;
}

static int run_quiet(char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

int fleet_image_load(const struct fleet_config *c, struct fleet_image *ret, nk_error **err)
{
	char kernel[512], initrd[512], dir[] = "/tmp/numaksm-bench-initrd.XXXXXX";
	struct image_builder b = {0};
	int r;

	if (find_boot_files(kernel, initrd, sizeof(kernel)) < 0 && !c->kernel_path)
		return nk_error_set(err, ENOENT,
				    "no /boot/vmlinuz-* to build the shared image from");
	if (c->kernel_path)
		snprintf(kernel, sizeof(kernel), "%s", c->kernel_path);
	if (c->initrd_path)
		snprintf(initrd, sizeof(initrd), "%s", c->initrd_path);
	if ((r = image_append(&b, kernel)) < 0)
		return nk_error_set(err, -r, "cannot read %s: %s", kernel, strerror(-r));
	unsigned files = 1;
	bool extracted = false;
	if (mkdtemp(dir)) {
		char *argv[] = {"unmkinitramfs", initrd, dir, NULL};
		walk_n = 0;
		if (run_quiet(argv) == 0 && nftw(dir, collect, 32, FTW_PHYS) == 0 && walk_n > 0) {
			qsort(walk_files, walk_n, sizeof(*walk_files), cmp_str);
			for (size_t i = 0; i < walk_n; i++)
				if (image_append(&b, walk_files[i]) == 0)
					files++;
			extracted = true;
		}
		for (size_t i = 0; i < walk_n; i++)
			free(walk_files[i]);
		free(walk_files);
		free(walk_inodes);
		walk_files = NULL;
		walk_inodes = NULL;
		nftw(dir, remove_entry, 32, FTW_DEPTH | FTW_PHYS);
	}
	if (!extracted && image_append(&b, initrd) == 0)
		files++; /* no unmkinitramfs: the compressed initrd as it is */
	*ret = (struct fleet_image){.pages = b.buf, .n_pages = b.pages, .n_files = files};
	snprintf(ret->source, sizeof(ret->source), "%.100s + %s %.100s", kernel,
		 extracted ? "the files of" : "", initrd);
	return 0;
}

void fleet_image_done(struct fleet_image *image)
{
	free(image->pages);
	image->pages = NULL;
}

/* ---- layout and the achievable saving -------------------------------- */

void fleet_layout_compute(const struct fleet_config *c, const struct fleet_image *image,
			  struct fleet_layout *ret)
{
	struct fleet_layout l = {.chunks = c->vm_bytes / PAGE / CHUNK_PAGES};
	l.image = (uint64_t)(c->image_share * (double)l.chunks + 0.5);
	if (l.image > image->n_pages / CHUNK_PAGES)
		l.image = image->n_pages / CHUNK_PAGES; /* the image is smaller than asked */
	l.zero = (uint64_t)(c->zero_share * (double)l.chunks + 0.5);
	l.volatile_ = (uint64_t)(c->volatile_share * (double)l.chunks + 0.5);
	if (l.image + l.zero + l.volatile_ > l.chunks)
		l.volatile_ = l.chunks - l.image - l.zero;
	l.unique = l.chunks - l.image - l.zero - l.volatile_;
	*ret = l;
}

/* Each process's chunks in a shuffled order of its own. */
static uint8_t *layout_kinds(const struct fleet_config *c, const struct fleet_layout *l,
			     unsigned vm)
{
	uint8_t *k = malloc(l->chunks);
	if (!k)
		return NULL;
	uint64_t i = 0, state = c->seed ^ (0x5851f42d4c957f2dull * (vm + 1));
	for (uint64_t n = 0; n < l->image; n++)
		k[i++] = CHUNK_IMAGE;
	for (uint64_t n = 0; n < l->zero; n++)
		k[i++] = CHUNK_ZERO;
	for (uint64_t n = 0; n < l->volatile_; n++)
		k[i++] = CHUNK_VOLATILE;
	while (i < l->chunks)
		k[i++] = CHUNK_UNIQUE;
	for (uint64_t n = l->chunks; n > 1; n--) {
		uint64_t j = splitmix(&state) % n;
		uint8_t t = k[n - 1];
		k[n - 1] = k[j];
		k[j] = t;
	}
	return k;
}

static uint64_t page_hash(const uint8_t *page)
{
	const uint64_t *w = (const uint64_t *)page;
	uint64_t h = 0xcbf29ce484222325ull;
	for (unsigned i = 0; i < PAGE / 8; i++)
		h = (h ^ w[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static uint64_t saved_of(uint64_t k, uint64_t max_sharing)
{
	return k < 2 ? 0 : k - (k + max_sharing - 1) / max_sharing;
}

uint64_t fleet_achievable_pages(const struct fleet_config *c, const struct fleet_image *image,
				uint64_t max_page_sharing, bool use_zero_pages)
{
	static const uint8_t zero[PAGE];
	struct fleet_layout l;
	fleet_layout_compute(c, image, &l);
	uint64_t n = l.image * CHUNK_PAGES, size = 1, zeros = l.zero * CHUNK_PAGES, saved = 0;
	while (size < 2 * n + 2)
		size *= 2;
	/* Distinct image pages by content: the first page holding it and how often. */
	uint64_t *first = malloc(size * sizeof(uint64_t)), *count = calloc(size, sizeof(uint64_t));
	if (!first || !count) {
		free(first);
		free(count);
		return 0;
	}
	for (uint64_t p = 0; p < n; p++) {
		const uint8_t *page = image->pages + p * PAGE;
		if (memcmp(page, zero, PAGE) == 0) {
			zeros++;
			continue;
		}
		uint64_t slot = page_hash(page) & (size - 1);
		while (count[slot] && memcmp(image->pages + first[slot] * PAGE, page, PAGE) != 0)
			slot = (slot + 1) & (size - 1);
		if (!count[slot])
			first[slot] = p;
		count[slot]++;
	}
	for (uint64_t s = 0; s < size; s++)
		saved += saved_of(count[s] * c->vms, max_page_sharing);
	free(first);
	free(count);
	uint64_t kz = zeros * c->vms;
	return saved + (use_zero_pages ? kz : saved_of(kz, max_page_sharing));
}

/* ---- the processes -------------------------------------------------- */

static void fill_random(uint8_t *page, uint64_t seed)
{
	uint64_t *w = (uint64_t *)page;
	for (unsigned i = 0; i < PAGE / 8; i++)
		w[i] = splitmix(&seed);
}

static void child_fail(int fd, const char *what, nk_error *err)
{
	dprintf(fd, "E%s: %s", what, err ? nk_error_message(err) : strerror(errno));
	_exit(1);
}

static void __attribute__((noreturn))
fleet_child(const struct fleet_config *c, const struct fleet_image *image, unsigned vm, int fd)
{
	char name[24]; /* the comm keeps 15 characters */
	nk_host *host = NULL;
	nk_error *err = NULL;
	nk_zone *zone = NULL;
	struct nk_zone_spec spec;
	struct fleet_layout l;

	snprintf(name, sizeof(name), "fleet-vm%u", vm);
	prctl(PR_SET_NAME, name);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (nk_host_open(NULL, &host, &err) < 0)
		child_fail(fd, name, err);
	nk_zone_spec_init(&spec);
	spec.id = name;
	spec.size_bytes = c->vm_bytes;
	spec.mergeable = true;
	spec.prefault_threads = 1;
	if (nk_zone_create(host, &spec, &zone, &err) < 0)
		child_fail(fd, name, err);
	fleet_layout_compute(c, image, &l);
	uint8_t *kinds = layout_kinds(c, &l, vm), *base = nk_zone_addr(zone);
	if (!kinds)
		child_fail(fd, name, NULL);
	uint64_t next_image = 0, n_volatile = 0;
	uint64_t *volatile_pages = malloc(l.volatile_ * CHUNK_PAGES * sizeof(uint64_t) + 1);
	for (uint64_t ch = 0; ch < l.chunks; ch++)
		for (unsigned i = 0; i < CHUNK_PAGES; i++) {
			uint64_t p = ch * CHUNK_PAGES + i;
			uint8_t *page = base + p * PAGE;
			switch (kinds[ch]) {
			case CHUNK_IMAGE:
				memcpy(page, image->pages + next_image++ * PAGE, PAGE);
				break;
			case CHUNK_ZERO:
				memset(page, 0, PAGE);
				break;
			case CHUNK_VOLATILE:
				if (volatile_pages)
					volatile_pages[n_volatile++] = p;
				/* random content, changed later */
				__attribute__((fallthrough));
			default:
				fill_random(page, c->seed ^ ((uint64_t)vm << 40) ^ (p * 0x9e37ull));
			}
		}
	if (dprintf(fd, "R%" PRIxPTR, (uintptr_t)base) < 2)
		_exit(1);
	close(fd);
	struct timespec nap = {.tv_sec = (time_t)c->redirty_s,
			       .tv_nsec =
				   (long)((c->redirty_s - (double)(time_t)c->redirty_s) * 1e9)};
	for (uint64_t generation = 1;; generation++) {
		while (nanosleep(&nap, &nap) < 0 && errno == EINTR)
			;
		nap.tv_sec = (time_t)c->redirty_s;
		nap.tv_nsec = (long)((c->redirty_s - (double)(time_t)c->redirty_s) * 1e9);
		for (uint64_t i = 0; i < n_volatile; i++)
			*(uint64_t *)(base + volatile_pages[i] * PAGE) =
			    generation * 0x2545f4914f6cdd1dull + i;
	}
}

int fleet_start(const struct fleet_config *c, const struct fleet_image *image, struct fleet *ret,
		nk_error **err)
{
	struct fleet f = {.pids = calloc(c->vms, sizeof(pid_t)),
			  .addrs = calloc(c->vms, sizeof(uint64_t)),
			  .pagemap_fds = calloc(c->vms, sizeof(int)),
			  .bytes = c->vm_bytes};
	int *fds = calloc(c->vms, sizeof(int));
	int r = 0;
	if (!f.pids || !f.addrs || !f.pagemap_fds || !fds) {
		free(fds);
		fleet_stop(&f);
		return nk_error_set(err, ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < c->vms; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0) {
			r = nk_error_set(err, errno, "pipe: %s", strerror(errno));
			break;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			fleet_child(c, image, i, p[1]);
		}
		close(p[1]);
		if (pid < 0) {
			close(p[0]);
			r = nk_error_set(err, errno, "fork: %s", strerror(errno));
			break;
		}
		f.pagemap_fds[f.n] = -1;
		f.pids[f.n++] = pid;
		fds[i] = p[0];
	}
	for (unsigned i = 0; i < f.n; i++) {
		char buf[512] = {0}, path[64];
		ssize_t n = read(fds[i], buf, sizeof(buf) - 1);
		close(fds[i]);
		if (r < 0)
			continue;
		char *end = NULL;
		errno = 0;
		if (n >= 2 && buf[0] == 'R')
			f.addrs[i] = strtoull(buf + 1, &end, 16);
		if (!end || *end || errno || f.addrs[i] % PAGE) {
			r = nk_error_set(err, EIO, "fleet-vm%u failed: %s", i,
					 n > 1 ? buf + 1 : "it exited");
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)f.pids[i]);
		f.pagemap_fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (f.pagemap_fds[i] < 0)
			r = nk_error_set(err, errno, "cannot open %s: %s", path, strerror(errno));
	}
	free(fds);
	if (r < 0) {
		fleet_stop(&f);
		return r;
	}
	*ret = f;
	return 0;
}

void fleet_stop(struct fleet *f)
{
	for (unsigned i = 0; i < f->n && !f->attached; i++)
		kill(f->pids[i], SIGKILL);
	for (unsigned i = 0; i < f->n; i++) {
		while (!f->attached && waitpid(f->pids[i], NULL, 0) < 0 && errno == EINTR)
			;
		if (f->pagemap_fds[i] >= 0)
			close(f->pagemap_fds[i]);
	}
	free(f->pids);
	free(f->addrs);
	free(f->pagemap_fds);
	free(f->seen);
	*f = (struct fleet){0};
}

int64_t fleet_saved_pages(struct fleet *f)
{
	const uint64_t present = 1ull << 63, pfn_mask = (1ull << 55) - 1;
	uint64_t pages = f->bytes / PAGE, dups = 0;
	uint64_t *entries = malloc(pages * sizeof(uint64_t));
	if (!entries)
		return -ENOMEM;
	if (!f->seen) {
		f->seen_size = 1;
		while (f->seen_size < 2 * pages * f->n)
			f->seen_size *= 2;
		if (!(f->seen = malloc(f->seen_size * sizeof(uint64_t)))) {
			free(entries);
			return -ENOMEM;
		}
	}
	memset(f->seen, 0, f->seen_size * sizeof(uint64_t));
	for (unsigned i = 0; i < f->n; i++) {
		ssize_t want = (ssize_t)(pages * sizeof(uint64_t));
		if (pread(f->pagemap_fds[i], entries, (size_t)want,
			  (off_t)(f->addrs[i] / PAGE * sizeof(uint64_t))) != want) {
			free(entries);
			return -EIO;
		}
		for (uint64_t p = 0; p < pages; p++) {
			if (!(entries[p] & present) ||
			    (f->zero_pfn && (entries[p] & pfn_mask) == f->zero_pfn))
				continue;
			/* An open-addressing set of PFNs (stored + 1: 0 is empty). */
			uint64_t key = (entries[p] & pfn_mask) + 1;
			uint64_t slot = (key * 0x9e3779b97f4a7c15ull) >> 20 & (f->seen_size - 1);
			while (f->seen[slot] && f->seen[slot] != key)
				slot = (slot + 1) & (f->seen_size - 1);
			if (f->seen[slot])
				dups++;
			else
				f->seen[slot] = key;
		}
	}
	free(entries);
	return (int64_t)dups;
}

/* The shared zero page's frame: a private page only read maps it (and a
 * guest page only read through KVM does too).  0 when not readable. */
static uint64_t zero_pfn(void)
{
	uint64_t entry = 0;
	volatile char *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	(void)p[0];
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && pread(fd, &entry, sizeof(entry),
			     (off_t)((uintptr_t)p / PAGE * sizeof(entry))) != sizeof(entry))
		entry = 0;
	if (fd >= 0)
		close(fd);
	munmap((void *)p, PAGE);
	return entry >> 63 ? entry & ((1ull << 55) - 1) : 0;
}

static int attach_one(nk_host *host, const char *name, struct fleet *f, nk_error **err)
{
	struct nk_vm_ref ref = {0};
	struct nk_vm_info *vm = NULL;
	int r = nk_vm_lookup(host, name, &ref, err);
	if (r >= 0)
		r = nk_vm_read(host, &ref, NULL, 0, &vm, err);
	const struct nk_vm_region *ram = NULL;
	for (size_t i = 0; r >= 0 && i < vm->n_regions; i++)
		if (vm->regions[i].mergeable && vm->regions[i].page_size == PAGE &&
		    (!ram || vm->regions[i].size_bytes > ram->size_bytes))
			ram = &vm->regions[i];
	if (r >= 0 && !ram) {
		r = nk_error_set(err, EINVAL, "VM %s has no mergeable guest RAM of 4K pages", name);
		nk_error_hint(err, "start it with mergeable memory (numaksm-vmm: mergeable=on)");
	} else if (r >= 0 && f->n && ram->size_bytes != f->bytes) {
		r = nk_error_set(err, EINVAL,
				 "VM %s has %" PRIu64
				 " MiB of mergeable guest RAM, the first %" PRIu64
				 " MiB: a fleet is of VMs of one size",
				 name, ram->size_bytes >> 20, f->bytes >> 20);
	} else if (r >= 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/pagemap", ref.pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			r = nk_error_set(err, errno, "cannot open %s: %s", path, strerror(errno));
		} else {
			f->bytes = ram->size_bytes;
			f->pids[f->n] = ref.pid;
			f->addrs[f->n] = ram->start;
			f->pagemap_fds[f->n++] = fd;
		}
	}
	nk_vm_info_free(vm);
	nk_vm_ref_done(&ref);
	return r;
}

int fleet_attach(nk_host *host, char *const *names, unsigned n, struct fleet *ret, nk_error **err)
{
	struct fleet f = {.pids = calloc(n, sizeof(pid_t)),
			  .addrs = calloc(n, sizeof(uint64_t)),
			  .pagemap_fds = calloc(n, sizeof(int)),
			  .attached = true,
			  .zero_pfn = zero_pfn()};
	int r = 0;
	if (!f.pids || !f.addrs || !f.pagemap_fds)
		r = nk_error_set(err, ENOMEM, "out of memory");
	for (unsigned i = 0; r >= 0 && i < n; i++)
		r = attach_one(host, names[i], &f, err);
	if (r < 0) {
		fleet_stop(&f);
		return r;
	}
	*ret = f;
	return 0;
}
