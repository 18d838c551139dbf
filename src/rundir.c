/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The runtime directory (include/numaksm/rundir.h): one store for every
 * file numaksm keeps between runs.  The directory is checked once when it
 * is opened, as OpenSSH checks the path to an authorized_keys file: owned
 * by this user, mode 0700, not a symbolic link, and reached only through
 * directories no other user can change.  Everything after that goes
 * through its descriptor with O_NOFOLLOW, so a name cannot be swapped for a
 * symbolic link, a FIFO or another user's file between the check and the use.
 */
#include "basic.h"
#include "numaksm/rundir.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#define DIR_MODE  0700
#define FILE_MODE 0600

struct nk_rundir {
	int fd;
	char *path;
};

static const char *default_path(const char *path)
{
	if (!path || !*path)
		path = secure_getenv("NUMAKSM_RUNTIME_DIR");
	return path && *path ? path : NK_RUNDIR_DEFAULT;
}

_nk_export_ nk_rundir *nk_rundir_free(nk_rundir *dir)
{
	if (!dir)
		return NULL;
	if (dir->fd >= 0)
		close(dir->fd);
	free(dir->path);
	free(dir);
	return NULL;
}

static void rundir_freep(nk_rundir **d)
{
	nk_rundir_free(*d);
}

_nk_export_ const char *nk_rundir_path(const nk_rundir *dir)
{
	return dir->path;
}

_nk_export_ int nk_rundir_fd(const nk_rundir *dir)
{
	return dir->fd;
}

static int unsafe(nk_error **err, const char *path, const char *why)
{
	nk_error_set(err, EPERM, "refusing runtime directory %s: %s", path, why);
	return nk_error_hint(err, "use a directory of your own that only you can write to "
				  "(--runtime-dir or NUMAKSM_RUNTIME_DIR), or remove this one");
}

/* A directory (or symbolic link) on the way to the runtime directory must
 * be root's or this user's, and writable by no one else unless sticky (like
 * /tmp): else its owner could replace what is below it. */
static int check_ancestor(const char *path, const char *ancestor, nk_error **err)
{
	struct stat st;
	char why[PATH_MAX + 96];

	if (lstat(ancestor, &st) < 0)
		return 0; /* not there (yet): nothing to replace */
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(why, sizeof(why), "%s belongs to uid %u", ancestor, (unsigned)st.st_uid);
		return unsafe(err, path, why);
	}
	if (S_ISDIR(st.st_mode) && (st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		snprintf(why, sizeof(why), "%s is writable by other users and not sticky",
			 ancestor);
		return unsafe(err, path, why);
	}
	return 0;
}

/* Every prefix of `path` (itself excluded), as written and, when `resolved`,
 * as its parent resolves through symbolic links. */
static int check_ancestors(const char *path, bool resolved, nk_error **err)
{
	_cleanup_free_ char *copy = strdup(path), *real = NULL;
	int r;

	if (!copy)
		return nk_error_set(err, ENOMEM, "out of memory");
	for (char *slash = strchr(copy + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		r = check_ancestor(path, copy, err);
		*slash = '/';
		if (r < 0)
			return r;
	}
	char *last = strrchr(copy, '/');
	if (!resolved || last == copy)
		return 0;
	*last = '\0';
	if (!(real = realpath(copy, NULL)))
		return errno == ENOENT ? 0 /* opening it says so */
				       : nk_error_set(err, errno, "cannot resolve %s: %s", copy,
						      strerror(errno));
	if ((r = check_ancestor(path, real, err)) < 0)
		return r;
	for (char *slash = strchr(real + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		r = check_ancestor(path, real, err);
		*slash = '/';
		if (r < 0)
			return r;
	}
	return 0;
}

static int create_failed(nk_error **err, const char *path, int e)
{
	nk_error_set(err, e, "cannot create runtime directory %s: %s", path, strerror(e));
	return nk_error_hint(err, "run as root, or point NUMAKSM_RUNTIME_DIR (or "
				  "--runtime-dir) at a directory you own");
}

/*
 * Make `path` and its missing parents (parents 0755, the directory 0700),
 * one component at a time from the descriptor of its parent, so that no
 * component can be swapped for a symbolic link between the checks and the
 * creation: one that exists must be root's or ours (a link too) and, once
 * open, writable by no one else unless sticky; one we made is opened
 * without following links.
 */
static int make_path(const char *path, nk_error **err)
{
	_cleanup_free_ char *copy = strdup(path);
	_cleanup_close_ int at = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char *save = NULL, why[PATH_MAX + 96];

	if (!copy)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (at < 0)
		return create_failed(err, path, errno);
	for (char *name = strtok_r(copy, "/", &save); name;) {
		char *next = strtok_r(NULL, "/", &save);
		bool made = mkdirat(at, name, next ? 0755 : DIR_MODE) == 0;
		struct stat st;

		if (!made && errno != EEXIST)
			return create_failed(err, path, errno);
		if (!made && fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid != 0 &&
		    st.st_uid != geteuid()) {
			snprintf(why, sizeof(why), "%s (in %s) belongs to uid %u", name, path,
				 (unsigned)st.st_uid);
			return unsafe(err, path, why);
		}
		int fd =
		    openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (made ? O_NOFOLLOW : 0));
		if (fd < 0) {
			if (made && (errno == ELOOP || errno == ENOTDIR))
				return unsafe(err, path, "a directory it made was replaced");
			return create_failed(err, path, errno);
		}
		close(at);
		at = fd;
		if (!made && next && fstat(at, &st) == 0 &&
		    ((st.st_uid != 0 && st.st_uid != geteuid()) ||
		     ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)))) {
			snprintf(why, sizeof(why), "%s (in %s) may be changed by another user",
				 name, path);
			return unsafe(err, path, why);
		}
		name = next;
	}
	return 0;
}

/* The directory itself, open: ours, not writable by others, mode 0700. */
static int check_dir(int fd, const char *path, nk_error **err)
{
	struct stat st;
	char why[160];

	if (fstat(fd, &st) < 0)
		return nk_error_set(err, errno, "cannot stat %s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return nk_error_set(err, ENOTDIR, "runtime directory %s is not a directory", path);
	if (st.st_uid != geteuid()) {
		snprintf(why, sizeof(why), "it belongs to uid %u, not to uid %u",
			 (unsigned)st.st_uid, (unsigned)geteuid());
		return unsafe(err, path, why);
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return unsafe(err, path, "other users may write to it");
	if ((st.st_mode & 07777) != DIR_MODE && fchmod(fd, DIR_MODE) < 0)
		return nk_error_set(err, errno, "cannot set %s to mode 0700: %s", path,
				    strerror(errno));
	return 0;
}

static int open_dir_at(int at, const char *name, const char *path, nk_error **err)
{
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	int e = errno;
	struct stat st;
	if ((e == ELOOP || e == ENOTDIR) && fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode)) {
		nk_error_set(err, ELOOP, "refusing runtime directory %s: it is a symbolic link",
			     path);
		return nk_error_hint(err, "use the directory itself, not a link to it");
	}
	if (e == ENOENT)
		return nk_error_set(err, ENOENT, "runtime directory %s does not exist", path);
	if (e == ENOTDIR) {
		nk_error_set(err, ENOTDIR, "runtime directory %s is not a directory", path);
		return nk_error_hint(err, "point NUMAKSM_RUNTIME_DIR (or --runtime-dir) at a "
					  "directory");
	}
	nk_error_set(err, e, "cannot open runtime directory %s: %s", path, strerror(e));
	if (e == EACCES)
		nk_error_hint(err, "run as root, or point NUMAKSM_RUNTIME_DIR (or --runtime-dir) "
				   "at a directory you own");
	return -e;
}

_nk_export_ int nk_rundir_open(const char *path, unsigned flags, nk_rundir **ret, nk_error **err)
{
	_cleanup_(rundir_freep) nk_rundir *d = calloc(1, sizeof(*d));
	_cleanup_free_ char *abs = NULL;
	int r;

	if (!d)
		return nk_error_set(err, ENOMEM, "out of memory");
	d->fd = -1;
	path = default_path(path);
	if (path[0] != '/') {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return nk_error_set(err, errno, "cannot make %s absolute: %s", path,
					    strerror(errno));
		if (asprintf(&abs, "%s/%s", cwd, path) < 0)
			return nk_error_set(err, ENOMEM, "out of memory");
		path = abs;
	}
	if (!(d->path = strdup(path)))
		return nk_error_set(err, ENOMEM, "out of memory");
	/* Drop trailing slashes: "/run/numaksm/" names /run/numaksm. */
	for (size_t n = strlen(d->path); n > 1 && d->path[n - 1] == '/'; n--)
		d->path[n - 1] = '\0';
	/* The path as written first, so nothing is created under a directory
	 * someone else controls; then, once it exists, as it resolves. */
	if ((r = check_ancestors(d->path, false, err)) < 0)
		return r;
	if (flags & NK_RUNDIR_CREATE) {
		struct stat st;
		if (lstat(d->path, &st) < 0 && errno == ENOENT && (r = make_path(d->path, err)) < 0)
			return r;
	}
	if ((r = check_ancestors(d->path, true, err)) < 0)
		return r;
	d->fd = open_dir_at(AT_FDCWD, d->path, d->path, err);
	if (d->fd < 0)
		return d->fd;
	if ((r = check_dir(d->fd, d->path, err)) < 0)
		return r;
	*ret = TAKE_PTR(d);
	return 0;
}

static bool valid_name(const char *name)
{
	return name && *name && name[0] != '.' && !strchr(name, '/') && strlen(name) < NAME_MAX;
}

_nk_export_ int nk_rundir_subdir(const nk_rundir *dir, const char *name, unsigned flags,
				 nk_rundir **ret, nk_error **err)
{
	_cleanup_(rundir_freep) nk_rundir *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return nk_error_set(err, ENOMEM, "out of memory");
	d->fd = -1;
	if (!valid_name(name))
		return nk_error_set(err, EINVAL, "'%s' is not a name in the runtime directory",
				    name ? name : "");
	if (asprintf(&d->path, "%s/%s", dir->path, name) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	if ((flags & NK_RUNDIR_CREATE) && mkdirat(dir->fd, name, DIR_MODE) < 0 && errno != EEXIST)
		return nk_error_set(err, errno, "cannot create %s: %s", d->path, strerror(errno));
	d->fd = open_dir_at(dir->fd, name, d->path, err);
	if (d->fd < 0)
		return d->fd;
	if ((r = check_dir(d->fd, d->path, err)) < 0)
		return r;
	*ret = TAKE_PTR(d);
	return 0;
}

_nk_export_ int nk_rundir_socket_path(const nk_rundir *dir, const char *name, char **ret_path)
{
	char *path = NULL;
	if (!valid_name(name))
		return -EINVAL;
	if (asprintf(&path, "/proc/self/fd/%d/%s", dir->fd, name) < 0)
		return -ENOMEM;
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		free(path);
		return -ENAMETOOLONG;
	}
	*ret_path = path;
	return 0;
}

/* Open `name` without following a link or blocking on a FIFO, and check it
 * is a regular file of this user.  -ENOENT with no message when absent. */
static int open_file(const nk_rundir *dir, const char *name, int flags, nk_error **err)
{
	struct stat st;

	if (!valid_name(name))
		return nk_error_set(err, EINVAL, "'%s' is not a name in the runtime directory",
				    name ? name : "");
	_cleanup_close_ int fd =
	    openat(dir->fd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, FILE_MODE);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return -ENOENT;
		if (e == ELOOP)
			return nk_error_set(err, EPERM, "refusing %s/%s: it is a symbolic link",
					    dir->path, name);
		return nk_error_set(err, e, "cannot open %s/%s: %s", dir->path, name, strerror(e));
	}
	if (fstat(fd, &st) < 0)
		return nk_error_set(err, errno, "cannot stat %s/%s: %s", dir->path, name,
				    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return nk_error_set(err, EPERM, "refusing %s/%s: it is not a regular file",
				    dir->path, name);
	if (st.st_uid != geteuid())
		return nk_error_set(err, EPERM, "refusing %s/%s: it belongs to uid %u", dir->path,
				    name, (unsigned)st.st_uid);
	/* Blocking again for reads and writes of the regular file. */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return TAKE_FD(fd);
}

_nk_export_ int nk_rundir_read(const nk_rundir *dir, const char *name, char **ret_text,
			       nk_error **err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, size = 4096;
	_cleanup_close_ int fd = open_file(dir, name, O_RDONLY, err);

	if (fd < 0)
		return fd;
	for (;;) {
		char *nb = realloc(buf, size + 1);
		if (!nb)
			return nk_error_set(err, ENOMEM, "out of memory");
		buf = nb;
		ssize_t n = read(fd, buf + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nk_error_set(err, errno, "cannot read %s/%s: %s", dir->path, name,
					    strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == size) {
			if (size >= (64u << 20))
				return nk_error_set(err, EFBIG, "%s/%s is too large", dir->path,
						    name);
			size *= 2;
		}
	}
	buf[len] = '\0';
	*ret_text = TAKE_PTR(buf);
	return (int)len;
}

_nk_export_ int nk_rundir_write(const nk_rundir *dir, const char *name, const void *data,
				size_t len, nk_error **err)
{
	char tmp[NAME_MAX + 1];
	uint64_t nonce = 0;
	int e = 0;

	if (!valid_name(name) || strlen(name) + 20 > NAME_MAX)
		return nk_error_set(err, EINVAL, "'%s' is not a name in the runtime directory",
				    name ? name : "");
	if (getrandom(&nonce, sizeof(nonce), 0) < 0)
		nonce = (uint64_t)getpid() << 20 ^ (uint64_t)time(NULL);
	snprintf(tmp, sizeof(tmp), ".%s.%016llx", name, (unsigned long long)nonce);
	_cleanup_close_ int fd =
	    openat(dir->fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, FILE_MODE);
	if (fd < 0)
		return nk_error_set(err, errno, "cannot create %s/%s: %s", dir->path, tmp,
				    strerror(errno));
	for (size_t off = 0; off < len && !e;) {
		ssize_t n = write(fd, (const char *)data + off, len - off);
		if (n < 0 && errno != EINTR)
			e = errno;
		else if (n > 0)
			off += (size_t)n;
	}
	/* The data must be on disk before the name points at it. */
	if (!e && (fsync(fd) < 0 || renameat(dir->fd, tmp, dir->fd, name) < 0))
		e = errno;
	if (e) {
		unlinkat(dir->fd, tmp, 0);
		return nk_error_set(err, e, "cannot write %s/%s: %s", dir->path, name, strerror(e));
	}
	/* And the rename on disk too, before anyone is told it is done. */
	if (fsync(dir->fd) < 0 && errno != EINVAL)
		return nk_error_set(err, errno, "cannot sync %s: %s", dir->path, strerror(errno));
	return 0;
}

_nk_export_ int nk_rundir_remove(const nk_rundir *dir, const char *name)
{
	if (!valid_name(name))
		return -EINVAL;
	if (unlinkat(dir->fd, name, 0) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

/* Whether `fd` is still the file `name` names: one unlinked (its owner
 * gave it up) while we waited for its lock is no lock on the name. */
static int still_named(const nk_rundir *dir, const char *name, int fd)
{
	struct stat held, named;
	if (fstat(fd, &held) < 0)
		return -errno;
	if (held.st_nlink == 0)
		return 0;
	if (fstatat(dir->fd, name, &named, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	return held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

_nk_export_ int nk_rundir_lock(const nk_rundir *dir, const char *name, unsigned flags,
			       nk_error **err)
{
	bool shared = flags & NK_RUNDIR_LOCK_SHARED, wait = !(flags & NK_RUNDIR_LOCK_NONBLOCK);
	int open_flags =
	    (shared ? O_RDONLY : O_RDWR) | (flags & NK_RUNDIR_LOCK_CREATE ? O_CREAT : 0);
	int op = (shared ? LOCK_SH : LOCK_EX) | (wait ? 0 : LOCK_NB);
	struct flock record = {.l_type = shared ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET};

	for (unsigned attempt = 0; attempt < 64; attempt++) {
		_cleanup_close_ int fd = open_file(dir, name, open_flags, err);
		if (fd < 0)
			return fd;
		while (flags & NK_RUNDIR_LOCK_PROCESS
			   ? fcntl(fd, wait ? F_SETLKW : F_SETLK, &record)
			   : flock(fd, op)) {
			if (errno == EWOULDBLOCK || errno == EACCES)
				return -EWOULDBLOCK;
			if (errno != EINTR)
				return nk_error_set(err, errno, "cannot lock %s/%s: %s", dir->path,
						    name, strerror(errno));
		}
		int r = still_named(dir, name, fd);
		if (r < 0)
			return nk_error_set(err, -r, "cannot look at %s/%s: %s", dir->path, name,
					    strerror(-r));
		if (r > 0)
			return TAKE_FD(fd);
		/* Replaced or removed while we waited: lock what is there now. */
	}
	return nk_error_set(err, EAGAIN, "%s/%s keeps being replaced while it is locked", dir->path,
			    name);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

_nk_export_ int nk_rundir_list(const nk_rundir *dir, const char *suffix, char ***ret_names,
			       nk_error **err)
{
	_cleanup_strv_ char **names = calloc(1, sizeof(*names));
	size_t n = 0, sl = suffix ? strlen(suffix) : 0;
	int fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return nk_error_set(err, e, "cannot list %s: %s", dir->path, strerror(e));
	}
	if (!names) {
		closedir(d);
		return nk_error_set(err, ENOMEM, "out of memory");
	}
	for (struct dirent *de; (de = readdir(d));) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= sl ||
		    strcmp(de->d_name + len - sl, suffix ? suffix : ""))
			continue;
		if (nk_strv_push(&names, &n, de->d_name) < 0) {
			closedir(d);
			return nk_error_set(err, ENOMEM, "out of memory");
		}
	}
	closedir(d);
	qsort(names, n, sizeof(*names), by_name);
	*ret_names = TAKE_PTR(names);
	return (int)n;
}

_nk_export_ int nk_host_boot_id(nk_host *host, char **ret_id)
{
	char *text = NULL;
	int r = nk_host_read(host, "/proc/sys/kernel/random/boot_id", &text, NULL);
	if (r < 0)
		return r;
	nk_strip_newline(text);
	if (!*text) {
		free(text);
		return -EINVAL;
	}
	*ret_id = text;
	return 0;
}
