/* SPDX-License-Identifier: MIT */
/*
 * client.c - a bounded, timed request/response over a Unix socket
 */
#define _GNU_SOURCE
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait_for - poll FD for EVENTS until DEADLINE; 0, -ETIMEDOUT or -errno */
static int wait_for(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		long long left = deadline - now_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int connect_path(const char *path, size_t len, long long deadline)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		int r;

		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		r = -errno;
		close(fd);
		if (r != -EAGAIN)
			return r;
		/*
		 * The daemon's listen backlog is full. A Unix socket cannot
		 * finish connecting later: try again shortly, until the deadline.
		 */
		if (now_ms() + 10 >= deadline)
			return -ETIMEDOUT;
		poll(NULL, 0, 10);
	}
}

static int send_all(int fd, const char *buf, size_t len, long long deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int r = wait_for(fd, POLLOUT, deadline);

			if (r < 0)
				return r;
		} else {
			return n < 0 ? -errno : -EPIPE;
		}
	}
	return 0;
}

static int recv_line(int fd, char *resp, size_t size, long long deadline)
{
	size_t len = 0;

	if (size < 2)
		return -EMSGSIZE;
	for (;;) {
		ssize_t n = recv(fd, resp + len, size - 1 - len, 0);

		if (n > 0) {
			char *lf = memchr(resp + len, '\n', (size_t)n);

			len += (size_t)n;
			resp[len] = '\0';
			if (lf) {
				/* one line only: anything after it is ignored */
				len = (size_t)(lf - resp) + 1;
				resp[len] = '\0';
				return (int)len;
			}
			if (len == size - 1)
				return -EMSGSIZE;
		} else if (n == 0) {
			return -EPROTO;
		} else if (errno == EAGAIN || errno == EINTR) {
			int r = wait_for(fd, POLLIN, deadline);

			if (r < 0)
				return r;
		} else {
			return -errno;
		}
	}
}

static void note_path(char *reached, size_t size, const char *p, size_t n)
{
	if (!reached || !size)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(reached, p, n);
	reached[n] = '\0';
}

int mo_client_call(const char *paths, const char *req, size_t reqlen,
		   char *resp, size_t size, int timeout_ms,
		   char *reached, size_t reached_size)
{
	long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
	const char *p = paths ? paths : "";
	int fd = -ENOENT, first_err = 0, r;

	if (size)
		resp[0] = '\0';
	note_path(reached, reached_size, "", 0);
	while (*p) {
		size_t n;

		p += strspn(p, " \t");
		n = strcspn(p, " \t");
		if (!n)
			break;
		fd = connect_path(p, n, deadline);
		/*
		 * Report the most telling failure: a path that exists but
		 * refuses us beats one that does not exist (chroot lists).
		 */
		if (fd >= 0 || first_err == 0 ||
		    (fd != -ENOENT && fd != -ENOTDIR &&
		     (first_err == -ENOENT || first_err == -ENOTDIR))) {
			note_path(reached, reached_size, p, n);
			if (fd < 0)
				first_err = fd;
		}
		if (fd >= 0 || fd == -ETIMEDOUT)
			break;
		p += n;
	}
	if (fd < 0)
		return first_err ? first_err : fd;

	r = send_all(fd, req, reqlen, deadline);
	if (r == 0)
		r = recv_line(fd, resp, size, deadline);
	close(fd);
	return r;
}

/* mo_client_strerror - a sentence for an error of mo_client_call */
const char *mo_client_strerror(int r)
{
	switch (r) {
	case -ENOENT:
	case -ECONNREFUSED:
		return "mailoauthd is not running or its socket is elsewhere";
	case -EACCES:
	case -EPERM:
		return "permission denied on the socket (check the socket "
		       "directory's mode and the account's allow list)";
	case -ETIMEDOUT:
		return "mailoauthd did not answer in time";
	case -ENAMETOOLONG:
		return "the socket path is too long";
	default:
		return "the connection failed";
	}
}
