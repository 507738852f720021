/* SPDX-License-Identifier: MIT */
/*
 * bench.h - shared helpers of the benchmark programs in tests/bench/
 *
 * Timing on CLOCK_MONOTONIC, a growable array of samples (bounded),
 * percentiles, and one request on a Unix socket as the plugin sends it. Each program prints its figures as one line of
 * "key=value" pairs that tests/bench/run parses.
 */
#ifndef MAILOAUTH_BENCH_H
#define MAILOAUTH_BENCH_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BENCH_LINE_MAX 20000	/* the longest answer line read */

#define BENCH_MAX_SAMPLES (8u << 20)	/* 64 MiB of doubles at most */

struct samples {
	double *v;		/* microseconds */
	size_t n, cap;
};

static inline double bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* samples_add - keep one sample; silently drops samples beyond the cap */
static inline void samples_add(struct samples *s, double us)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		double *v;

		if (cap > BENCH_MAX_SAMPLES)
			return;
		v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = us;
}

/* samples_merge - append all of FROM to TO */
static inline void samples_merge(struct samples *to, const struct samples *from)
{
	for (size_t i = 0; i < from->n; i++)
		samples_add(to, from->v[i]);
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* samples_pct - the P-th percentile (0..100); sorts the samples */
static inline double samples_pct(struct samples *s, double p)
{
	size_t i;

	if (!s->n)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), bench_cmp_double);
	i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
	return s->v[i < s->n ? i : s->n - 1];
}

/* bench_connect - a blocking connection to ADDR, or -1 */
static inline int bench_connect(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * bench_round_trip - send REQ (a line), read one answer line; 0, or -1 on
 * failure. OK (when not NULL): whether the answer begins with "OK ".
 */
static inline int bench_round_trip(int fd, const char *req, size_t len, bool *ok)
{
	char buf[BENCH_LINE_MAX];
	size_t got = 0;

	if (write(fd, req, len) != (ssize_t)len)
		return -1;
	while (got < sizeof(buf)) {
		ssize_t r = read(fd, buf + got, sizeof(buf) - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
		if (memchr(buf + got - r, '\n', (size_t)r))
			break;
	}
	if (ok)
		*ok = got >= 3 && memcmp(buf, "OK ", 3) == 0;
	explicit_bzero(buf, got);
	return 0;
}

#endif
