/* SPDX-License-Identifier: MIT */
/*
 * bench-socket - the Unix-socket floor and a concurrent load generator
 *
 * SYNOPSIS
 *	bench-socket echo PATH REPLY_BYTES
 *	bench-socket load PATH REQUEST CLIENTS SECONDS conn|keep
 *	bench-socket burst PATH REQUEST CLIENTS
 *
 * DESCRIPTION
 *	echo: the floor. A single-threaded epoll server (mailoauthd is a
 *	single-threaded GLib loop too) that answers every request line with
 *	REPLY_BYTES bytes ("OK xxx...", ending in LF) -- the size of mailoauthd's token
 *	answer, so both move the same bytes -- and closes a connection at
 *	the client's EOF. Runs until killed.
 *
 *	load: CLIENTS threads send REQUEST (a line, LF added) as fast as they
 *	can for SECONDS (after a 0.3 s warm-up that is not counted), either
 *	one connection per request (conn: connect, write, read the line,
 *	close -- what the plugin and the CLI do) or one connection per client
 *	(keep). Prints one line: clients= requests= errors= rps= p50_us=
 *	p99_us=.
 *
 *	burst: CLIENTS threads each connect, wait until all are connected,
 *	then send REQUEST at the same moment. Prints served= ok= errors=
 *	all_ms= (from the release until the last answer) p50_ms= p99_ms=.
 *
 * SECURITY
 *	Benchmark tool: the echo socket is world-connectable. Never install.
 *
 * DIAGNOSTICS
 *	Set-up failures end the program with a message on stderr and exit 1;
 *	failed requests are counted in errors=.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>


static struct sockaddr_un addr = {.sun_family = AF_UNIX};
static char request[1100];
static size_t request_len;

static void die(const char *what)
{
	fprintf(stderr, "bench-socket: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- echo: the floor server ---- */

struct echo_conn {
	int fd;
	size_t sent;		/* bytes of the reply written */
	bool replying;
};

static int echo_main(const char *path, size_t reply_bytes)
{
	char *reply = malloc(reply_bytes + 1), buf[4096];
	struct epoll_event ev, evs[64];
	int lfd, ep;

	if (!reply || reply_bytes < 1 || reply_bytes > BENCH_LINE_MAX) {
		fprintf(stderr, "bench-socket: bad reply size\n");
		return 1;
	}
	memset(reply, 'x', reply_bytes - 1);
	memcpy(reply, "OK ", reply_bytes > 3 ? 3 : reply_bytes - 1);
	reply[reply_bytes - 1] = '\n';
	signal(SIGPIPE, SIG_IGN);
	unlink(path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    chmod(path, 0666) < 0 || listen(lfd, 512) < 0)
		die(path);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = NULL};
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll");
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);

		for (int i = 0; i < n; i++) {
			struct echo_conn *c = evs[i].data.ptr;

			if (!c) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL,
						     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					c = calloc(1, sizeof(*c));
					if (!c)
						die("calloc");
					c->fd = fd;
					ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = c};
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
						die("epoll_ctl");
				}
				continue;
			}
			for (;;) {
				ssize_t r;

				if (c->replying) {
					r = write(c->fd, reply + c->sent, reply_bytes - c->sent);
					if (r < 0 && errno == EAGAIN) {
						ev = (struct epoll_event){.events = EPOLLOUT, .data.ptr = c};
						epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
						break;
					}
					if (r < 0)
						goto close_it;
					c->sent += (size_t)r;
					if (c->sent == reply_bytes) {
						c->replying = false;
						ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = c};
						epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
					}
					continue;
				}
				r = read(c->fd, buf, sizeof(buf));
				if (r < 0 && errno == EAGAIN)
					break;
				if (r <= 0)
					goto close_it;
				if (memchr(buf, '\n', (size_t)r)) {
					c->replying = true;
					c->sent = 0;
				}
				continue;
close_it:
				close(c->fd);
				free(c);
				break;
			}
		}
	}
}

/* ---- clients ---- */

static atomic_int phase;	/* 0 warm-up, 1 measuring, 2 stop */
static bool keep_mode;

struct worker {
	pthread_t t;
	struct samples s;
	long errors;
	/* burst */
	int fd;
	double done_us;
	bool ok;
};

static void *load_worker(void *arg)
{
	struct worker *w = arg;
	int fd = -1;

	while (atomic_load_explicit(&phase, memory_order_relaxed) < 2) {
		double t0 = bench_now_us();
		int r;

		if (fd < 0)
			fd = bench_connect(&addr);
		r = fd < 0 ? -1 : bench_round_trip(fd, request, request_len, NULL);
		if (!keep_mode || r < 0) {
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
		if (atomic_load_explicit(&phase, memory_order_relaxed) != 1)
			continue;
		if (r < 0)
			w->errors++;
		else
			samples_add(&w->s, bench_now_us() - t0);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int load_main(int clients, double seconds)
{
	struct worker *w = calloc((size_t)clients, sizeof(*w));
	struct samples all = {0};
	long errors = 0;
	double t0, t1;

	if (!w)
		die("calloc");
	for (int i = 0; i < clients; i++)
		if (pthread_create(&w[i].t, NULL, load_worker, &w[i]))
			die("pthread_create");
	usleep(300000);
	t0 = bench_now_us();
	atomic_store(&phase, 1);
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&phase, 2);
	t1 = bench_now_us();
	for (int i = 0; i < clients; i++) {
		pthread_join(w[i].t, NULL);
		samples_merge(&all, &w[i].s);
		errors += w[i].errors;
		free(w[i].s.v);
	}
	printf("clients=%d requests=%zu errors=%ld rps=%.0f p50_us=%.1f p99_us=%.1f\n",
	       clients, all.n, errors, (double)all.n / ((t1 - t0) / 1e6),
	       samples_pct(&all, 50), samples_pct(&all, 99));
	free(all.v);
	free(w);
	return errors ? 1 : 0;
}

static pthread_barrier_t barrier;
static double release_us;

static void *burst_worker(void *arg)
{
	struct worker *w = arg;

	w->fd = bench_connect(&addr);
	pthread_barrier_wait(&barrier);
	if (w->fd < 0 || bench_round_trip(w->fd, request, request_len, &w->ok) < 0)
		w->errors = 1;
	w->done_us = bench_now_us();
	if (w->fd >= 0)
		close(w->fd);
	return NULL;
}

static int burst_main(int clients)
{
	struct worker *w = calloc((size_t)clients, sizeof(*w));
	struct samples s = {0};
	long errors = 0, ok = 0;
	double last = 0;

	if (!w)
		die("calloc");
	pthread_barrier_init(&barrier, NULL, (unsigned)clients + 1);
	for (int i = 0; i < clients; i++) {
		pthread_attr_t a;

		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 256 * 1024);
		if (pthread_create(&w[i].t, &a, burst_worker, &w[i]))
			die("pthread_create");
		pthread_attr_destroy(&a);
	}
	release_us = bench_now_us();
	pthread_barrier_wait(&barrier);
	for (int i = 0; i < clients; i++) {
		pthread_join(w[i].t, NULL);
		errors += w[i].errors;
		ok += w[i].ok;
		samples_add(&s, (w[i].done_us - release_us) / 1e3);
		if (w[i].done_us > last)
			last = w[i].done_us;
	}
	printf("served=%d ok=%ld errors=%ld all_ms=%.1f p50_ms=%.1f p99_ms=%.1f\n",
	       clients, ok, errors, (last - release_us) / 1e3,
	       samples_pct(&s, 50), samples_pct(&s, 99));
	free(s.v);
	free(w);
	return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct rlimit rl;

	if (argc < 3 || strlen(argv[2]) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: see the comment at the top of bench-socket.c\n");
		return 2;
	}
	strcpy(addr.sun_path, argv[2]);
	signal(SIGPIPE, SIG_IGN);	/* a closed connection is an error counted */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!strcmp(argv[1], "echo") && argc == 4)
		return echo_main(argv[2], (size_t)strtoul(argv[3], NULL, 10));
	if (argc < 5 || strlen(argv[3]) + 2 > sizeof(request))
		return 2;
	request_len = (size_t)snprintf(request, sizeof(request), "%s\n", argv[3]);
	if (!strcmp(argv[1], "load") && argc == 7) {
		keep_mode = !strcmp(argv[6], "keep");
		return load_main(atoi(argv[4]), atof(argv[5]));
	}
	if (!strcmp(argv[1], "burst"))
		return burst_main(atoi(argv[4]));
	return 2;
}
