/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host I/O root.  Every read of /sys, /proc and cgroupfs goes through
 * one directory fd, so that tools and tests can point the whole library at
 * a captured host tree (as hwloc does with HWLOC_FSROOT).  On a captured
 * tree writes, probes and binding are refused.
 */
#include "basic.h"

#include <ctype.h>
#include <limits.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

struct nk_host {
	int root_fd;
	bool live;
	char *root;
	/* Owners whose processes are taken for VMs on their word (root, and
	 * nk_host_trust_uid()). */
	uid_t *trusted_uids;
	size_t n_trusted_uids;
};

/* Attribute files are at most a page; /proc files can be larger, so the
 * read buffer grows until one read() returns less than it asked for. */
#define READ_INITIAL_SIZE 4096
#define READ_MAX_SIZE	  (64u << 20)

_nk_export_ int nk_host_open(const char *root, nk_host **ret, nk_error **err)
{
	struct stat st_root, st;
	_cleanup_close_ int fd = -1;

	if (!root || !*root)
		root = "/";
	fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		nk_error_set(err, e, "cannot open host root '%s': %s", root, strerror(e));
		return nk_error_hint(err, "--root takes a directory holding a captured host tree "
					  "(see tests/fixtures/gather-host-tree)");
	}
	if (fstat(fd, &st) < 0 || stat("/", &st_root) < 0)
		return nk_error_set(err, errno, "cannot stat host root '%s': %s", root,
				    strerror(errno));

	nk_host *h = calloc(1, sizeof(*h));
	if (!h)
		return nk_error_set(err, ENOMEM, "out of memory");
	h->root = strdup(root);
	if (!h->root) {
		free(h);
		return nk_error_set(err, ENOMEM, "out of memory");
	}
	h->live = st.st_dev == st_root.st_dev && st.st_ino == st_root.st_ino;
	h->root_fd = TAKE_FD(fd);

	if (!h->live) {
		/* A captured tree must at least look like one. */
		int has_sys = faccessat(h->root_fd, "sys", F_OK, 0) == 0;
		int has_proc = faccessat(h->root_fd, "proc", F_OK, 0) == 0;
		if (!has_sys && !has_proc) {
			nk_host_free(h);
			nk_error_set(err, ENOENT,
				     "host root '%s' holds neither sys/ nor proc/: not a captured "
				     "host tree",
				     root);
			return nk_error_hint(
			    err, "capture one with tests/fixtures/gather-host-tree DIR");
		}
	}
	*ret = h;
	return 0;
}

_nk_export_ nk_host *nk_host_free(nk_host *host)
{
	if (host) {
		if (host->root_fd >= 0)
			close(host->root_fd);
		free(host->root);
		free(host->trusted_uids);
		free(host);
	}
	return NULL;
}

_nk_export_ int nk_host_trust_uid(nk_host *host, uid_t uid)
{
	if (nk_host_uid_trusted(host, uid))
		return 0;
	uid_t *uids = realloc(host->trusted_uids, (host->n_trusted_uids + 1) * sizeof(*uids));
	if (!uids)
		return -ENOMEM;
	uids[host->n_trusted_uids++] = uid;
	host->trusted_uids = uids;
	return 0;
}

_nk_export_ bool nk_host_uid_trusted(const nk_host *host, uid_t uid)
{
	if (uid == 0)
		return true;
	for (size_t i = 0; i < host->n_trusted_uids; i++)
		if (host->trusted_uids[i] == uid)
			return true;
	return false;
}

_nk_export_ bool nk_host_is_live(const nk_host *host)
{
	return host->live;
}

_nk_export_ const char *nk_host_root(const nk_host *host)
{
	return host->root;
}

/* Open `path` below the root.  In a captured tree, absolute symlinks must
 * resolve inside the tree, not on the live system: RESOLVE_IN_ROOT. */
static int host_openat(nk_host *host, const char *path, int flags)
{
	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	if (host->live)
		return openat(host->root_fd, path, flags | O_CLOEXEC);

	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, host->root_fd, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(host->root_fd, path, flags | O_CLOEXEC);
	return fd;
}

/* The directory holding `path` below the root (O_PATH), and its last
 * component in *ret_base. */
static int host_open_parent(nk_host *host, const char *path, const char **ret_base)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	if (!slash || !slash[1] || (size_t)(slash - path) >= sizeof(dir)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	*ret_base = slash + 1;
	return host_openat(host, *dir ? dir : "/", O_PATH | O_DIRECTORY);
}

_nk_export_ int nk_host_readlink(nk_host *host, const char *path, char *buf, size_t size)
{
	const char *base;
	_cleanup_close_ int dir = host_open_parent(host, path, &base);
	if (dir < 0)
		return -errno;
	if (size < 2)
		return -ENAMETOOLONG;
	ssize_t n = readlinkat(dir, base, buf, size);
	if (n < 0)
		return -errno;
	if ((size_t)n >= size)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return (int)n;
}

_nk_export_ int nk_host_lstat(nk_host *host, const char *path, struct stat *ret)
{
	const char *base;
	_cleanup_close_ int dir = host_open_parent(host, path, &base);
	if (dir < 0)
		return -errno;
	return fstatat(dir, base, ret, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static ssize_t pread_full_once(int fd, char *buf, size_t size, off_t offset)
{
	for (;;) {
		ssize_t n = pread(fd, buf, size, offset);
		if (n >= 0 || errno != EINTR)
			return n;
	}
}

_nk_export_ int nk_host_read(nk_host *host, const char *path, char **ret_text, nk_error **err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t size = READ_INITIAL_SIZE;

	fd = host_openat(host, path, O_RDONLY | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT || e == ENOTDIR)
			return nk_error_set(err, ENOENT, "%s: not present on this kernel", path);
		return nk_error_set(err, e, "cannot open %s: %s", path, strerror(e));
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (size_t)st.st_size < READ_MAX_SIZE)
		size = (size_t)st.st_size > size ? (size_t)st.st_size : size;

	for (;;) {
		/* Ask for one byte more than we expect: a full buffer means the
		 * attribute was truncated, so retry from the start with a larger
		 * one (a sysfs attribute is generated whole at offset 0). */
		_cleanup_free_ char *buf = malloc(size + 1);
		if (!buf)
			return nk_error_set(err, ENOMEM, "out of memory reading %s", path);
		ssize_t n = pread_full_once(fd, buf, size + 1, 0);
		if (n < 0) {
			int e = errno;
			return nk_error_set(err, e, "cannot read %s: %s", path, strerror(e));
		}
		if ((size_t)n > size) {
			if (size >= READ_MAX_SIZE)
				return nk_error_set(err, EFBIG, "%s is larger than %u bytes", path,
						    READ_MAX_SIZE);
			size *= 2;
			continue;
		}
		/* Multi-record seq_files (/proc/PID/maps, smaps) hand out a few
		 * records per read(); attributes answer the next read with 0. */
		size_t len = (size_t)n;
		for (;;) {
			ssize_t m = pread_full_once(fd, buf + len, size - len, (off_t)len);
			if (m < 0) {
				int e = errno;
				return nk_error_set(err, e, "cannot read %s: %s", path,
						    strerror(e));
			}
			if (m == 0)
				break;
			len += (size_t)m;
			if (len == size) {
				if (size >= READ_MAX_SIZE)
					return nk_error_set(err, EFBIG,
							    "%s is larger than %u bytes", path,
							    READ_MAX_SIZE);
				char *nb = realloc(buf, size * 2 + 1);
				if (!nb)
					return nk_error_set(err, ENOMEM, "out of memory reading %s",
							    path);
				buf = nb;
				size *= 2;
			}
		}
		buf[len] = '\0';
		*ret_text = TAKE_PTR(buf);
		return (int)len;
	}
}

_nk_export_ int nk_host_read_u64(nk_host *host, const char *path, uint64_t *ret, nk_error **err)
{
	_cleanup_free_ char *text = NULL;
	int r = nk_host_read(host, path, &text, err);
	if (r < 0)
		return r;
	r = nk_parse_u64(text, ret, err);
	if (r < 0)
		return nk_error_prefix(err, "%s", path);
	return 0;
}

_nk_export_ int nk_host_exists(nk_host *host, const char *path)
{
	_cleanup_close_ int fd = host_openat(host, path, O_PATH);
	if (fd >= 0)
		return 1;
	if (errno == ENOENT || errno == ENOTDIR)
		return 0;
	return -errno;
}

/* Natural order: compare digit runs by value so node10 sorts after node2. */
static int natural_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;

	while (*x && *y) {
		if (isdigit((unsigned char)*x) && isdigit((unsigned char)*y)) {
			unsigned long long vx = strtoull(x, (char **)&x, 10);
			unsigned long long vy = strtoull(y, (char **)&y, 10);
			if (vx != vy)
				return vx < vy ? -1 : 1;
			continue;
		}
		if (*x != *y)
			return (unsigned char)*x - (unsigned char)*y;
		x++;
		y++;
	}
	return (unsigned char)*x - (unsigned char)*y;
}

_nk_export_ int nk_host_list(nk_host *host, const char *dir, const char *prefix, char ***ret_names,
			     nk_error **err)
{
	_cleanup_strv_ char **names = NULL;
	size_t n = 0;
	int fd = host_openat(host, dir, O_RDONLY | O_DIRECTORY);

	if (fd < 0) {
		int e = errno;
		if (e == ENOENT || e == ENOTDIR)
			return nk_error_set(err, ENOENT, "%s: not present on this kernel", dir);
		return nk_error_set(err, e, "cannot open %s: %s", dir, strerror(e));
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return nk_error_set(err, e, "cannot list %s: %s", dir, strerror(e));
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (prefix && strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (nk_strv_push(&names, &n, de->d_name) < 0) {
			closedir(d);
			return nk_error_set(err, ENOMEM, "out of memory");
		}
	}
	closedir(d);
	if (!names) {
		names = calloc(1, sizeof(char *));
		if (!names)
			return nk_error_set(err, ENOMEM, "out of memory");
	}
	qsort(names, n, sizeof(char *), natural_cmp);
	*ret_names = TAKE_PTR(names);
	return (int)n;
}

_nk_export_ int nk_host_require_live(const nk_host *host, const char *what, nk_error **err)
{
	if (host->live)
		return 0;
	nk_error_set(err, EROFS,
		     "refusing to %s: host root '%s' is a captured tree, not this system", what,
		     host->root);
	return nk_error_hint(err, "run without --root to act on the live host");
}

_nk_export_ int nk_host_write(nk_host *host, const char *path, const char *value, nk_error **err)
{
	char what[512];
	snprintf(what, sizeof(what), "write %s", path);
	int r = nk_host_require_live(host, what, err);
	if (r < 0)
		return r;

	_cleanup_close_ int fd = host_openat(host, path, O_WRONLY | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		nk_error_set(err, e, "cannot open %s for writing: %s", path, strerror(e));
		if (e == EACCES || e == EPERM)
			nk_error_hint(err, "run as root");
		return -e;
	}
	size_t len = strlen(value);
	ssize_t n;
	do
		n = write(fd, value, len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;
		return nk_error_set(err, e, "cannot write '%s' to %s: %s", value, path,
				    strerror(e));
	}
	if ((size_t)n != len)
		return nk_error_set(err, EIO, "short write of '%s' to %s", value, path);
	return 0;
}
