// SPDX-License-Identifier: MIT
#include "lab.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int lab_read_file(const char *path, char **ret_text)
{
	size_t size = 4096, len = 0;
	char *text = NULL;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		char *grown = realloc(text, size + 1);
		ssize_t n;

		if (!grown) {
			r = -ENOMEM;
			break;
		}
		text = grown;
		n = read(fd, text + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == size)
			size *= 2;
	}
	close(fd);
	if (r < 0) {
		free(text);
		return r;
	}
	text[len] = '\0';
	*ret_text = text;
	return 0;
}

static int parse_id(const char *s, char **end)
{
	long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, end, 10);
	if (errno || v < 0 || v >= LAB_MAX_IDS)
		return -EINVAL;
	return (int)v;
}

int lab_parse_list(const char *text, struct lab_set *ret_set)
{
	struct lab_set set = {0};
	const char *s = text;

	while (*s && *s != '\n') {
		char *end;
		int first, last;

		first = parse_id(s, &end);
		if (first < 0)
			return -EINVAL;
		last = first;
		if (*end == '-') {
			last = parse_id(end + 1, &end);
			if (last < first)
				return -EINVAL;
		}
		for (int i = first; i <= last; i++) {
			if (!set.has[i])
				set.count++;
			set.has[i] = true;
		}
		s = end;
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return -EINVAL;
	}
	if (*s == '\n' && s[1])
		return -EINVAL;
	*ret_set = set;
	return 0;
}

int lab_read_list(const char *path, struct lab_set *ret_set)
{
	_cleanup_free_ char *text = NULL;
	int r;

	r = lab_read_file(path, &text);
	if (r < 0)
		return r;
	return lab_parse_list(text, ret_set);
}

void lab_format_list(const struct lab_set *set, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < LAB_MAX_IDS; i++) {
		int j = i;

		if (!set->has[i])
			continue;
		while (j + 1 < LAB_MAX_IDS && set->has[j + 1])
			j++;
		if (len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s%d", len ? "," : "", i);
		if (j > i && len < size)
			len += (size_t)snprintf(buf + len, size - len, "-%d", j);
		i = j;
	}
}

int lab_set_last(const struct lab_set *set)
{
	for (int i = LAB_MAX_IDS - 1; i >= 0; i--)
		if (set->has[i])
			return i;
	return -1;
}

int lab_write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = write(fd, text, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != len)
		r = -EIO;
	close(fd);
	return r;
}
