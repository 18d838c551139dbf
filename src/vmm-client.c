/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numaksm-vmm's registry and control socket (include/numaksm/vmm.h), both
 * sides, on the runtime-directory store.  The wire is SOCK_SEQPACKET: one
 * packet per message, so neither side needs framing, and a reply larger
 * than the buffer is detected (MSG_TRUNC).  A VM is running while its VMM
 * holds its registry entry locked; an entry whose lock is free is stale.
 */
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>

#include "basic.h"
#include "numaksm/rundir.h"
#include "numaksm/vmm.h"

#define REPLY_MAX	   (1024 * 1024)
#define REGISTRY_DIR	   "vm"
#define CONNECT_TIMEOUT_MS 10000

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

_nk_export_ int nk_vmm_name_check(const char *name, nk_error **err)
{
	size_t len = name ? strlen(name) : 0;
	if (len > 0 && len <= 64 && name[0] != '.' && name[0] != '-' &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
		len)
		return 0;
	return nk_error_set(err, EINVAL,
			    "'%s' is not a VM name: use 1 to 64 letters, digits, '_', '.' or "
			    "'-', not starting with '.' or '-'",
			    name ? name : "");
}

static int file_name(const char *name, const char *suffix, char *buf, size_t size)
{
	return snprintf(buf, size, "%s%s", name, suffix) < (int)size ? 0 : -ENAMETOOLONG;
}

/* ---- the registry entry's console ---------------------------------------------- */

static const char *const console_modes[] = {"stdio", "pty", "file", "socket"};

_nk_export_ const char *nk_vmm_console_mode_name(enum nk_vmm_console_mode mode)
{
	return (unsigned)mode < ARRAY_SIZE(console_modes) ? console_modes[mode] : NULL;
}

/* Why `path` (`len` bytes) cannot be in an entry, or NULL: it must be
 * absolute, shorter than PATH_MAX and free of NULs and control characters,
 * so that it names one file wherever it is read and prints as one line. */
static const char *path_problem(const char *path, size_t len)
{
	if (!path || len == 0 || path[0] != '/')
		return "path is not absolute";
	if (len >= PATH_MAX)
		return "path is too long";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return "path holds a control character";
	return NULL;
}

/* Why a console of `mode` at `path` cannot be in an entry, or NULL. */
static const char *console_problem(enum nk_vmm_console_mode mode, const char *path, size_t len)
{
	if (mode == NK_VMM_CONSOLE_NONE || mode == NK_VMM_CONSOLE_STDIO)
		return path ? "has a path, which one on stdio (or none) has not" : NULL;
	if (!nk_vmm_console_mode_name(mode))
		return "is of an unknown mode";
	if (!path)
		return "has no path";
	return path_problem(path, len);
}

_nk_export_ int nk_vmm_console_check(enum nk_vmm_console_mode mode, const char *path,
				     nk_error **err)
{
	const char *why = console_problem(mode, path, path ? strlen(path) : 0);
	return why ? nk_error_set(err, EINVAL, "the console %s", why) : 0;
}

/* ---- the VMM's side --------------------------------------------------------- */

struct nk_vmm_registration {
	nk_rundir *dir, *registry;
	int lock_fd;   /* vm/NAME.json, locked for the VM's life */
	int listen_fd; /* NAME.sock */
	char *name;
	char *socket_path;
	enum nk_vmm_console_mode console;
	char *console_path;
};

_nk_export_ nk_vmm_registration *nk_vmm_unregister(nk_vmm_registration *reg)
{
	char file[96];
	if (!reg)
		return NULL;
	if (reg->listen_fd >= 0) {
		close(reg->listen_fd);
		if (file_name(reg->name, ".sock", file, sizeof(file)) == 0)
			nk_rundir_remove(reg->dir, file);
	}
	/* Unlink while holding the lock, so a new VMM of this name either
	 * sees our lock or a fresh file. */
	if (reg->lock_fd >= 0) {
		if (file_name(reg->name, ".json", file, sizeof(file)) == 0)
			nk_rundir_remove(reg->registry, file);
		close(reg->lock_fd);
	}
	nk_rundir_free(reg->registry);
	nk_rundir_free(reg->dir);
	free(reg->socket_path);
	free(reg->console_path);
	free(reg->name);
	free(reg);
	return NULL;
}

static void registration_freep(nk_vmm_registration **r)
{
	nk_vmm_unregister(*r);
}

static int write_entry(nk_vmm_registration *reg, nk_error **err)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(NK_VMM_PROTOCOL_VERSION));
	json_object_object_add(o, "name", json_object_new_string(reg->name));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "socket", json_object_new_string(reg->socket_path));
	json_object *console = NULL;
	if (reg->console != NK_VMM_CONSOLE_NONE) {
		console = json_object_new_object();
		json_object_object_add(
		    console, "mode",
		    json_object_new_string(nk_vmm_console_mode_name(reg->console)));
		json_object_object_add(console, "path",
				       reg->console_path ? json_object_new_string(reg->console_path)
							 : NULL);
	}
	json_object_object_add(o, "console", console);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = text ? strlen(text) : 0;
	int r = 0;
	/* In place (the lock is the file's): written over, then cut to length,
	 * so a reader never finds it empty once it was written. */
	errno = 0;
	if (!text || pwrite(reg->lock_fd, text, len, 0) != (ssize_t)len ||
	    ftruncate(reg->lock_fd, (off_t)len) < 0)
		r = nk_error_set(err, errno ? errno : ENOMEM, "cannot write %s/%s.json: %s",
				 nk_rundir_path(reg->registry), reg->name,
				 strerror(errno ? errno : ENOMEM));
	json_object_put(o);
	return r;
}

static int listen_socket(nk_vmm_registration *reg, nk_error **err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	_cleanup_free_ char *via = NULL;
	char file[96];
	int r = file_name(reg->name, ".sock", file, sizeof(file));

	if (r >= 0)
		r = nk_rundir_socket_path(reg->dir, file, &via);
	if (r < 0)
		return nk_error_set(err, -r, "cannot name the socket of VM '%s': %s", reg->name,
				    strerror(-r));
	strcpy(addr.sun_path, via);
	/* A stale socket: the registry lock says the name is ours. */
	nk_rundir_remove(reg->dir, file);
	reg->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (reg->listen_fd < 0)
		return nk_error_set(err, errno, "socket: %s", strerror(errno));
	mode_t old = umask(0177);
	r = bind(reg->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (r < 0 || listen(reg->listen_fd, 8) < 0) {
		int e = errno;
		close(reg->listen_fd);
		reg->listen_fd = -1;
		return nk_error_set(err, e, "cannot listen on %s: %s", reg->socket_path,
				    strerror(e));
	}
	return 0;
}

_nk_export_ int nk_vmm_register(const char *runtime_dir, const char *name,
				nk_vmm_registration **ret, nk_error **err)
{
	_cleanup_(registration_freep) nk_vmm_registration *reg = calloc(1, sizeof(*reg));
	char file[96];
	int r;

	if (!reg)
		return nk_error_set(err, ENOMEM, "out of memory");
	reg->lock_fd = reg->listen_fd = -1;
	reg->console = NK_VMM_CONSOLE_NONE;
	if ((r = nk_vmm_name_check(name, err)) < 0)
		return r;
	if (!(reg->name = strdup(name)))
		return nk_error_set(err, ENOMEM, "out of memory");
	if ((r = nk_rundir_open(runtime_dir, NK_RUNDIR_CREATE, &reg->dir, err)) < 0 ||
	    (r = nk_rundir_subdir(reg->dir, REGISTRY_DIR, NK_RUNDIR_CREATE, &reg->registry, err)) <
		0)
		return r;
	if (asprintf(&reg->socket_path, "%s/%s.sock", nk_rundir_path(reg->dir), name) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	file_name(name, ".json", file, sizeof(file));
	r = nk_rundir_lock(reg->registry, file, NK_RUNDIR_LOCK_CREATE | NK_RUNDIR_LOCK_NONBLOCK,
			   err);
	if (r == -EWOULDBLOCK) {
		nk_error_set(err, EEXIST, "a VM named '%s' is running", name);
		return nk_error_hint(err, "choose another --name, or stop it: numaksm vm stop %s",
				     name);
	}
	if (r < 0)
		return r;
	reg->lock_fd = r;
	if ((r = listen_socket(reg, err)) < 0 || (r = write_entry(reg, err)) < 0)
		return r;
	*ret = TAKE_PTR(reg);
	return 0;
}

_nk_export_ int nk_vmm_registration_fd(const nk_vmm_registration *reg)
{
	return reg->listen_fd;
}

_nk_export_ const char *nk_vmm_registration_socket(const nk_vmm_registration *reg)
{
	return reg->socket_path;
}

_nk_export_ int nk_vmm_registration_set_console(nk_vmm_registration *reg,
						enum nk_vmm_console_mode mode, const char *path,
						nk_error **err)
{
	int r = nk_vmm_console_check(mode, path, err);
	if (r < 0)
		return r;
	char *copy = NULL;
	if (path && !(copy = strdup(path)))
		return nk_error_set(err, ENOMEM, "out of memory");
	free(reg->console_path);
	reg->console_path = copy;
	reg->console = mode;
	return write_entry(reg, err);
}

/* ---- the client's side ------------------------------------------------------- */

/* The runtime directory, when there is one: -ENOENT (no message) when not. */
static int open_rundir(const char *runtime_dir, nk_rundir **ret, nk_error **err)
{
	_cleanup_error_ nk_error *e = NULL;
	int r = nk_rundir_open(runtime_dir, 0, ret, &e);
	if (r == -ENOENT)
		return -ENOENT;
	return r < 0 ? nk_error_forward(err, &e, r) : 0;
}

static int no_vm(nk_error **err, const char *name, const char *where)
{
	nk_error_set(err, ENOENT, "no VM named '%s' (no %s)", name, where);
	return nk_error_hint(err, "'numaksm vm list' shows the running VMs");
}

_nk_export_ int nk_vmm_call(const char *runtime_dir, const char *name, const char *request,
			    int timeout_ms, char **ret_reply, nk_error **err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	_cleanup_(nk_rundir_freep) nk_rundir *dir = NULL;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL, *via = NULL, *shown = NULL;
	char file[96];
	struct stat st;

	int r = nk_vmm_name_check(name, err);
	if (r < 0)
		return r;
	file_name(name, ".sock", file, sizeof(file));
	r = open_rundir(runtime_dir, &dir, err);
	if (r == -ENOENT) {
		_cleanup_free_ char *where = NULL;
		if (asprintf(&where, "runtime directory %s",
			     runtime_dir && *runtime_dir ? runtime_dir
			     : secure_getenv("NUMAKSM_RUNTIME_DIR")
				 ? secure_getenv("NUMAKSM_RUNTIME_DIR")
				 : NK_RUNDIR_DEFAULT) < 0)
			return nk_error_set(err, ENOMEM, "out of memory");
		return no_vm(err, name, where);
	}
	if (r < 0)
		return r;
	if (asprintf(&shown, "%s/%s", nk_rundir_path(dir), file) < 0 ||
	    nk_rundir_socket_path(dir, file, &via) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	/* A socket, not a link to one nor anything else planted there. */
	if (fstatat(nk_rundir_fd(dir), file, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? no_vm(err, name, shown)
				       : nk_error_set(err, errno, "cannot look up %s: %s", shown,
						      strerror(errno));
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
		return nk_error_set(err, EPERM, "refusing %s: not a socket of uid %u", shown,
				    (unsigned)geteuid());
	strcpy(addr.sun_path, via);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return nk_error_set(err, errno, "socket: %s", strerror(errno));
	/* connect() waits while the VMM's accept queue is full and send() while
	 * its receive queue is: both for CONNECT_TIMEOUT_MS at most, so a
	 * listener that is stuck cannot hold us. */
	int total_ms = timeout_ms > 0 ? timeout_ms : 30000;
	int connect_ms = total_ms < CONNECT_TIMEOUT_MS ? total_ms : CONNECT_TIMEOUT_MS;
	struct timeval tv = {.tv_sec = connect_ms / 1000, .tv_usec = connect_ms % 1000 * 1000};
	int64_t deadline = now_ms() + total_ms;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return nk_error_set(err, errno, "setsockopt(SO_SNDTIMEO): %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		if (e == ENOENT)
			return no_vm(err, name, shown);
		if (e == ECONNREFUSED)
			return nk_error_set(err, e, "VM '%s' is not running (%s is stale)", name,
					    shown);
		if (e == EAGAIN || e == EINPROGRESS) {
			nk_error_set(err, ETIMEDOUT,
				     "VM '%s' did not take the connection in %.1f s (the queue of "
				     "%s is full)",
				     name, connect_ms / 1000.0, shown);
			return nk_error_hint(err, "its VMM is stuck or flooded: try again, or "
						  "stop it with a signal");
		}
		return nk_error_set(err, e, "cannot connect to %s: %s", shown, strerror(e));
	}
	bool refused = false;
	if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0) {
		int e = errno;
		if (e == EAGAIN)
			return nk_error_set(err, ETIMEDOUT,
					    "VM '%s' did not take the request in %.1f s", name,
					    connect_ms / 1000.0);
		/* Refused at once (too many clients): the reason may wait to be read. */
		if (e != EPIPE && e != ECONNRESET)
			return nk_error_set(err, e, "cannot send to VM '%s': %s", name,
					    strerror(e));
		refused = true;
	}

	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	do {
		int64_t left = refused ? 0 : deadline - now_ms();
		r = poll(&pfd, 1, left > 0 ? (int)left : 0);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return nk_error_set(err, errno, "poll: %s", strerror(errno));
	if (r == 0 && refused)
		return nk_error_set(err, ECONNRESET, "VM '%s' closed the connection", name);
	if (r == 0)
		return nk_error_set(err, ETIMEDOUT, "VM '%s' did not answer in %.1f s", name,
				    total_ms / 1000.0);
	buf = malloc(REPLY_MAX + 1);
	if (!buf)
		return nk_error_set(err, ENOMEM, "out of memory");
	struct iovec iov = {.iov_base = buf, .iov_len = REPLY_MAX};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n = recvmsg(fd, &msg, 0);
	/* A VMM that closed on our unread request reports the reset first, then
	 * gives what it sent before closing (a refusal's reason). */
	if (n < 0 && errno == ECONNRESET) {
		n = recvmsg(fd, &msg, MSG_DONTWAIT);
		if (n < 0)
			errno = ECONNRESET;
	}
	if (n < 0)
		return nk_error_set(err, errno, "cannot read the reply of VM '%s': %s", name,
				    strerror(errno));
	if (n == 0)
		return nk_error_set(err, ECONNRESET, "VM '%s' closed the connection", name);
	if (msg.msg_flags & MSG_TRUNC)
		return nk_error_set(err, EMSGSIZE, "the reply of VM '%s' exceeds %d bytes", name,
				    REPLY_MAX);
	buf[n] = '\0';
	char *reply = strdup(buf);
	if (!reply)
		return nk_error_set(err, ENOMEM, "out of memory");
	*ret_reply = reply;
	return 0;
}

_nk_export_ int nk_vmm_list(const char *runtime_dir, char ***ret_names, nk_error **err)
{
	_cleanup_(nk_rundir_freep) nk_rundir *dir = NULL, *registry = NULL;
	_cleanup_strv_ char **entries = NULL, **names = calloc(1, sizeof(*names));
	_cleanup_error_ nk_error *e = NULL;
	size_t n = 0;

	if (!names)
		return nk_error_set(err, ENOMEM, "out of memory");
	int r = open_rundir(runtime_dir, &dir, err);
	if (r >= 0)
		r = nk_rundir_subdir(dir, REGISTRY_DIR, 0, &registry, &e);
	if (r == -ENOENT)
		goto done; /* nothing ever registered */
	if (r < 0)
		return e ? nk_error_forward(err, &e, r) : r;
	int count = nk_rundir_list(registry, ".json", &entries, err);
	if (count < 0)
		return count;
	for (int i = 0; i < count; i++) {
		_cleanup_error_ nk_error *le = NULL;
		size_t len = strlen(entries[i]) - 5;
		/* A running VMM holds its entry locked; a free lock is a stale entry.
		 * Anything else there (a FIFO, a link, another user's file) is
		 * skipped, never waited on. */
		int fd = nk_rundir_lock(registry, entries[i],
					NK_RUNDIR_LOCK_SHARED | NK_RUNDIR_LOCK_NONBLOCK, &le);
		if (fd >= 0)
			close(fd);
		if (fd == -EPERM)
			nk_warn("%s", nk_error_message(le));
		if (fd != -EWOULDBLOCK)
			continue;
		entries[i][len] = '\0';
		if (nk_vmm_name_check(entries[i], NULL) < 0)
			continue;
		if (nk_strv_push(&names, &n, entries[i]) < 0)
			return nk_error_set(err, ENOMEM, "out of memory");
	}
done:
	*ret_names = TAKE_PTR(names);
	return (int)n;
}

_nk_export_ nk_vmm_entry *nk_vmm_entry_free(nk_vmm_entry *entry)
{
	if (entry) {
		free(entry->name);
		free(entry->socket_path);
		free(entry->console_path);
		free(entry);
	}
	return NULL;
}

static void entry_freep(nk_vmm_entry **e)
{
	nk_vmm_entry_free(*e);
}

static void json_putp(json_object **o)
{
	json_object_put(*o);
}

/* An int of `o`'s `key` from 1 to INT_MAX, or 0. */
static int positive_int(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return 0;
	int64_t n = json_object_get_int64(v);
	return n > 0 && n <= INT_MAX ? (int)n : 0;
}

/* A path of `o`'s `key` into *ret (NULL when null or absent): NULL, or
 * why it cannot be one. */
static const char *get_path(json_object *o, const char *key, char **ret)
{
	json_object *v = NULL;
	*ret = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return NULL;
	if (!json_object_is_type(v, json_type_string))
		return "path is not a string";
	const char *s = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	const char *why = strlen(s) != len ? "path holds a NUL" : path_problem(s, len);
	if (!why && !(*ret = strdup(s)))
		return "path cannot be kept: out of memory";
	return why;
}

/* Fill `e` from the entry `o` of VM `name`: true, or false with what is
 * wrong in `why`. */
static bool parse_entry(json_object *o, const char *name, nk_vmm_entry *e, char *why, size_t size)
{
	json_object *v, *console = NULL;
	const char *bad;

#define REFUSE(...) (snprintf(why, size, __VA_ARGS__), false)
	if (!json_object_is_type(o, json_type_object))
		return REFUSE("it is not a JSON object");
	if (!(e->version = positive_int(o, "version")))
		return REFUSE("its version is not a number above 0");
	if (!json_object_object_get_ex(o, "name", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), name) != 0)
		return REFUSE("its name is not its file's");
	if (!(e->name = strdup(name)))
		return REFUSE("out of memory");
	if (!(e->pid = positive_int(o, "pid")))
		return REFUSE("its pid is not a number above 0");
	if ((bad = get_path(o, "socket", &e->socket_path)) || !e->socket_path)
		return REFUSE("its socket %s", bad ? bad : "path is missing");
	e->console = NK_VMM_CONSOLE_NONE;
	json_object_object_get_ex(o, "console", &console);
	if (!console)
		return true; /* none, or a VMM from before the console was recorded */
	if (!json_object_is_type(console, json_type_object) ||
	    !json_object_object_get_ex(console, "mode", &v) ||
	    !json_object_is_type(v, json_type_string))
		return REFUSE("its console is not {mode, path}");
	for (size_t i = 0; i < ARRAY_SIZE(console_modes); i++)
		if (!strcmp(json_object_get_string(v), console_modes[i]))
			e->console = (enum nk_vmm_console_mode)i;
	if (e->console == NK_VMM_CONSOLE_NONE)
		return REFUSE("its console's mode is not stdio, pty, file or socket");
	if ((bad = get_path(console, "path", &e->console_path)) ||
	    (bad = console_problem(e->console, e->console_path,
				   e->console_path ? strlen(e->console_path) : 0)))
		return REFUSE("its console %s", bad);
#undef REFUSE
	return true;
}

_nk_export_ int nk_vmm_entry_read(const char *runtime_dir, const char *name, nk_vmm_entry **ret,
				  nk_error **err)
{
	_cleanup_(nk_rundir_freep) nk_rundir *dir = NULL, *registry = NULL;
	_cleanup_(entry_freep) nk_vmm_entry *entry = NULL;
	_cleanup_(json_putp) json_object *o = NULL;
	_cleanup_error_ nk_error *e = NULL;
	_cleanup_free_ char *text = NULL;
	char file[96], why[128] = "it is not JSON";

	int r = nk_vmm_name_check(name, err);
	if (r < 0)
		return r;
	file_name(name, ".json", file, sizeof(file));
	r = open_rundir(runtime_dir, &dir, err);
	if (r >= 0)
		r = nk_rundir_subdir(dir, REGISTRY_DIR, 0, &registry, &e);
	if (r >= 0)
		r = nk_rundir_read(registry, file, &text, &e);
	if (r == -ENOENT) {
		nk_error_set(err, ENOENT, "VM '%s' has no registry entry", name);
		return nk_error_hint(err, "'numaksm vm list' shows the running VMs");
	}
	if (r < 0)
		return e ? nk_error_forward(err, &e, r) : r;
	if (!(entry = calloc(1, sizeof(*entry))))
		return nk_error_set(err, ENOMEM, "out of memory");
	o = json_tokener_parse(text);
	if (!o || !parse_entry(o, name, entry, why, sizeof(why)))
		return nk_error_set(err, EBADMSG, "refusing %s/%s: %s", nk_rundir_path(registry),
				    file, why);
	*ret = TAKE_PTR(entry);
	return 0;
}

/* One request to VM `name`; its result object (json_object_put() it). */
static int call_json(const char *runtime_dir, const char *name, json_object *request,
		     json_object **ret_result, nk_error **err)
{
	_cleanup_free_ char *reply = NULL;
	json_object_object_add(request, "version", json_object_new_int(NK_VMM_PROTOCOL_VERSION));
	int r = nk_vmm_call(runtime_dir, name, json_object_to_json_string(request), 0, &reply, err);
	json_object_put(request);
	if (r < 0)
		return r;
	json_object *o = json_tokener_parse(reply), *ok, *result, *m;
	if (!o || !json_object_object_get_ex(o, "ok", &ok)) {
		json_object_put(o);
		return nk_error_set(err, EPROTO, "VM %s: a reply that is not the protocol's", name);
	}
	if (!json_object_get_boolean(ok)) {
		const char *msg = "refused";
		if (json_object_object_get_ex(o, "error", &m))
			msg = json_object_get_string(m);
		r = nk_error_set(err, EPROTO, "VM %s: %s", name, msg);
		json_object_put(o);
		return r;
	}
	if (!json_object_object_get_ex(o, "result", &result)) {
		json_object_put(o);
		return nk_error_set(err, EPROTO, "VM %s: a reply without a result", name);
	}
	*ret_result = json_object_get(result);
	json_object_put(o);
	return 0;
}

static json_object *request(const char *command)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "command", json_object_new_string(command));
	return o;
}

_nk_export_ int nk_vmm_set_mergeable(const char *runtime_dir, const char *name, bool mergeable,
				     nk_error **err)
{
	json_object *info = NULL, *zones;
	int r = call_json(runtime_dir, name, request("info"), &info, err);
	if (r < 0)
		return r;
	int n = 0;
	if (!json_object_object_get_ex(info, "zones", &zones) ||
	    !json_object_is_type(zones, json_type_array))
		r = nk_error_set(err, EPROTO, "VM %s: its info lists no zones", name);
	for (size_t i = 0; r == 0 && i < json_object_array_length(zones); i++) {
		json_object *id, *set = NULL;
		if (!json_object_object_get_ex(json_object_array_get_idx(zones, i), "id", &id))
			continue;
		json_object *req = request("set-mergeable");
		json_object_object_add(req, "zone", json_object_get(id));
		json_object_object_add(req, "mergeable", json_object_new_boolean(mergeable));
		r = call_json(runtime_dir, name, req, &set, err);
		json_object_put(set);
		n += r == 0;
	}
	json_object_put(info);
	return r < 0 ? r : n;
}
