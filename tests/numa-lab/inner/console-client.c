// SPDX-License-Identifier: MIT
/*
 * console-client SOCKET: a client of numaksm-vmm's --console socket:PATH,
 * for the lab's busybox, whose nc has no unix sockets.  It copies standard
 * input to the socket and the socket to standard output; at the end of its
 * input it shuts the socket's sending side and reads on, until the VMM
 * closes the connection (or the client is killed).
 *
 * Exit: 0 the VMM closed the connection, 1 an error.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Write all of buf to fd.  @return 0, or -1 with errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	char buf[4096];
	int fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: console-client SOCKET\n");
		return 1;
	}
	strcpy(addr.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr, "console-client: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
				{.fd = fd, .events = POLLIN}};
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("console-client: poll");
			return 1;
		}
		if (fds[1].revents) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n == 0)
				return 0;
			if (n < 0 && errno != EINTR) {
				perror("console-client: read");
				return 1;
			}
			if (n > 0 && write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
				return 1;
		}
		if (fds[0].revents) {
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				shutdown(fd, SHUT_WR);
				fds[0].fd = -1;
			} else if (write_all(fd, buf, (size_t)n) < 0) {
				perror("console-client: write");
				return 1;
			}
		}
	}
}
