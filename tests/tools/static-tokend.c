/* SPDX-License-Identifier: MIT */
/*
 * static-tokend.c - a stand-in for mailoauthd that serves fixed tokens
 *
 * SYNOPSIS
 *	static-tokend --tokens FILE --log FILE --socket PATH [--socket PATH]
 *
 * DESCRIPTION
 *	For tests of the SASL plugin with real programs before and beside the
 *	real daemon. It speaks protocol version 1 through common/proto.c (the
 *	same code the plugin and the daemon use) and answers from FILE, read
 *	again for every request, whose lines are
 *
 *		account user token [cache_for]
 *
 *	Every request is appended to the log as its verb and arguments
 *	(tests use no real secrets), so a test can count and inspect them.
 *	Connections are served one after another; each gets two seconds.
 *
 * SECURITY
 *	Test tool only: it makes its sockets world-connectable and checks no
 *	peer credentials. Never install it.
 */
#define _GNU_SOURCE
#include "proto.h"
#include "saslmsg.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_SOCKETS 4

struct entry {
	char account[MO_ACCOUNT_MAX + 1];
	char user[MO_ARG_MAX + 1];
	char token[MO_TOKEN_MAX + 1];
	long long cache_for;
	long long gen;
};

static const char *tokens_path, *log_path;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* find - the line whose account is ACCOUNT, or (ACCOUNT NULL) whose user is USER */
static int find(const char *account, const char *user, struct entry *e)
{
	FILE *f = fopen(tokens_path, "r");
	char line[MO_TOKEN_MAX + 2 * MO_ARG_MAX];
	long long n = 0;
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char fmt[64];

		n++;
		e->cache_for = 0;
		snprintf(fmt, sizeof(fmt), "%%%ds %%%ds %%%ds %%lld",
			 MO_ACCOUNT_MAX, MO_ARG_MAX, MO_TOKEN_MAX);
		if (sscanf(line, fmt, e->account, e->user, e->token,
			   &e->cache_for) < 3)
			continue;
		if ((account && !strcmp(e->account, account)) ||
		    (!account && !strcmp(e->user, user))) {
			e->gen = n;
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

static void log_request(const struct mo_request *req)
{
	FILE *f = fopen(log_path, "a");

	if (!f)
		return;
	fputs(mo_verb_name(req->verb), f);
	for (unsigned i = 0; i < req->nargs; i++)
		fprintf(f, " %s", req->args[i]);
	fputc('\n', f);
	fclose(f);
}

/* answer - the response to one request line, in OUT; returns its length */
static int answer(char *line, size_t len, char *out, size_t size)
{
	struct mo_request req;
	struct entry e;
	int r = mo_request_parse(line, len, &req);

	if (r == -EOPNOTSUPP)
		return mo_response_format_error(out, size, MO_ERR_UNKNOWN_VERB,
						"unknown request");
	if (r < 0)
		return mo_response_format_error(out, size, MO_ERR_BAD_REQUEST,
						"malformed request");
	log_request(&req);
	switch (req.verb) {
	case MO_VERB_HELLO:
		return mo_response_format_ok(out, size,
					     "proto=1 server=static-tokend");
	case MO_VERB_REJECTED:
		return mo_response_format_ok(out, size, NULL);
	case MO_VERB_TOKEN_USER:
		r = -ENOENT;
		if (req.nargs == 2)
			r = find(req.args[1], NULL, &e);
		if (r < 0)
			r = find(NULL, req.args[0], &e);
		break;
	case MO_VERB_TOKEN:
	case MO_VERB_XOAUTH2:
		r = find(req.args[0], NULL, &e);
		break;
	default:
		return mo_response_format_error(out, size, MO_ERR_UNKNOWN_VERB,
						"not served by static-tokend");
	}
	if (r < 0)
		return mo_response_format_error(out, size,
						MO_ERR_UNKNOWN_ACCOUNT,
						"no such account");
	if (req.verb == MO_VERB_XOAUTH2)
		return mo_xoauth2_format(out, size,
					 req.nargs > 1 ? req.args[1] : e.user,
					 e.token);
	return mo_response_format_token(out, size, e.account, e.user, e.gen,
					3600, e.cache_for, e.token);
}

static void serve(int fd)
{
	char line[MO_REQUEST_MAX + 1], out[MO_RESPONSE_MAX];
	size_t len = 0;
	int n;

	while (len < MO_REQUEST_MAX) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, 2000) <= 0)
			return;
		r = read(fd, line + len, MO_REQUEST_MAX - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		if (memchr(line, '\n', len))
			break;
	}
	line[len] = '\0';
	if (memchr(line, '\n', len))
		len = (size_t)((char *)memchr(line, '\n', len) - line) + 1;
	n = answer(line, len, out, sizeof(out));
	if (n > 0 && write(fd, out, (size_t)n) != n)
		perror("static-tokend: write");
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0666) < 0 || listen(fd, 64) < 0) {
		perror(path);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct pollfd fds[MAX_SOCKETS];
	const char *paths[MAX_SOCKETS];
	int nfds = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--tokens"))
			tokens_path = argv[i + 1];
		else if (!strcmp(argv[i], "--log"))
			log_path = argv[i + 1];
		else if (!strcmp(argv[i], "--socket") && nfds < MAX_SOCKETS) {
			paths[nfds] = argv[i + 1];
			fds[nfds].fd = listen_on(argv[i + 1]);
			fds[nfds].events = POLLIN;
			if (fds[nfds++].fd < 0)
				return 1;
		}
	}
	if (!tokens_path || !log_path || nfds == 0) {
		fprintf(stderr, "usage: static-tokend --tokens FILE --log FILE "
				"--socket PATH [--socket PATH]\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	while (!stop) {
		if (poll(fds, (nfds_t)nfds, 500) <= 0)
			continue;
		for (int i = 0; i < nfds; i++) {
			int c;

			if (!(fds[i].revents & POLLIN))
				continue;
			c = accept4(fds[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0) {
				serve(c);
				close(c);
			}
		}
	}
	for (int i = 0; i < nfds; i++)
		unlink(paths[i]);
	return 0;
}
