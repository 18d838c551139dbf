/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client side of numaksm-vmm's control socket (include/numaksm/vmm.h).
 * The wire is SOCK_SEQPACKET: one packet per message, so neither side needs
 * framing, and a reply larger than the buffer is detected (MSG_TRUNC).
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "internal.h"
#include "numaksm/vmm.h"

#define REPLY_MAX (1024 * 1024)

static bool valid_name(const char *name)
{
	size_t len = strlen(name);
	return len > 0 && len <= 64 && name[0] != '.' && name[0] != '-' &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
		   len;
}

_nk_export_ int nk_vmm_paths(const char *runtime_dir, const char *name, char **ret_socket,
			     char **ret_registry, nk_error **err)
{
	_cleanup_free_ char *socket_path = NULL, *registry = NULL;
	const char *dir = nk_runtime_dir(runtime_dir);

	if (!valid_name(name))
		return nk_error_set(
		    err, EINVAL,
		    "'%s' is not a VM name: use 1 to 64 letters, digits, '_', '.' or "
		    "'-', not starting with '.' or '-'",
		    name);
	if (ret_socket && asprintf(&socket_path, "%s/%s.sock", dir, name) < 0)
		return -ENOMEM;
	if (ret_registry && asprintf(&registry, "%s/vm/%s.json", dir, name) < 0)
		return -ENOMEM;
	if (ret_socket)
		*ret_socket = TAKE_PTR(socket_path);
	if (ret_registry)
		*ret_registry = TAKE_PTR(registry);
	return 0;
}

_nk_export_ int nk_vmm_call(const char *runtime_dir, const char *name, const char *request,
			    int timeout_ms, char **ret_reply, nk_error **err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL, *socket_path = NULL;

	int r = nk_vmm_paths(runtime_dir, name, &socket_path, NULL, err);
	if (r < 0)
		return r;
	if (strlen(socket_path) >= sizeof(addr.sun_path))
		return nk_error_set(err, ENAMETOOLONG, "the socket path of VM '%s' is too long",
				    name);
	strcpy(addr.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return nk_error_set(err, errno, "socket: %m");
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		if (e == ENOENT) {
			nk_error_set(err, ENOENT, "no VM named '%s' (no %s)", name, addr.sun_path);
			return nk_error_hint(err, "'numaksm vm list' shows the running VMs");
		}
		if (e == ECONNREFUSED)
			return nk_error_set(err, e, "VM '%s' is not running (%s is stale)", name,
					    addr.sun_path);
		nk_error_set(err, e, "cannot connect to %s: %s", addr.sun_path, strerror(e));
		if (e == EACCES)
			return nk_error_hint(err,
					     "the socket belongs to the VMM's user; run as that "
					     "user or root");
		return -e;
	}
	if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0)
		return nk_error_set(err, errno, "cannot send to VM '%s': %m", name);

	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	do
		r = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : 30000);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return nk_error_set(err, errno, "poll: %m");
	if (r == 0)
		return nk_error_set(err, ETIMEDOUT, "VM '%s' did not answer in time", name);
	buf = malloc(REPLY_MAX + 1);
	if (!buf)
		return -ENOMEM;
	struct iovec iov = {.iov_base = buf, .iov_len = REPLY_MAX};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n = recvmsg(fd, &msg, 0);
	if (n < 0)
		return nk_error_set(err, errno, "cannot read the reply of VM '%s': %m", name);
	if (n == 0)
		return nk_error_set(err, ECONNRESET, "VM '%s' closed the connection", name);
	if (msg.msg_flags & MSG_TRUNC)
		return nk_error_set(err, EMSGSIZE, "the reply of VM '%s' exceeds %d bytes", name,
				    REPLY_MAX);
	buf[n] = '\0';
	char *reply = strdup(buf);
	if (!reply)
		return -ENOMEM;
	*ret_reply = reply;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

_nk_export_ int nk_vmm_list(const char *runtime_dir, char ***ret_names, nk_error **err)
{
	_cleanup_free_ char *dir_path = NULL;
	_cleanup_strv_ char **names = calloc(1, sizeof(*names));
	size_t n = 0;

	if (!names || asprintf(&dir_path, "%s/vm", nk_runtime_dir(runtime_dir)) < 0)
		return -ENOMEM;
	DIR *dir = opendir(dir_path);
	if (!dir && errno != ENOENT)
		return nk_error_set(err, errno, "cannot read %s: %m", dir_path);
	for (struct dirent *de; dir && (de = readdir(dir));) {
		size_t len = strlen(de->d_name);
		if (len <= 5 || strcmp(de->d_name + len - 5, ".json") || de->d_name[0] == '.')
			continue;
		/* A live VMM holds its entry locked; a free lock is a stale entry. */
		int fd = openat(dirfd(dir), de->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		bool alive = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
		close(fd);
		if (!alive)
			continue;
		char **bigger = realloc(names, (n + 2) * sizeof(*names));
		if (!bigger) {
			closedir(dir);
			return -ENOMEM;
		}
		names = bigger;
		names[n] = strndup(de->d_name, len - 5);
		if (!names[n]) {
			closedir(dir);
			return -ENOMEM;
		}
		names[++n] = NULL;
	}
	if (dir)
		closedir(dir);
	qsort(names, n, sizeof(*names), by_name);
	*ret_names = TAKE_PTR(names);
	return (int)n;
}
