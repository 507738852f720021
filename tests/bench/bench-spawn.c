/* SPDX-License-Identifier: MIT */
/*
 * bench-spawn - the cost of running a program, as a mail client pays it
 *
 * SYNOPSIS
 *	bench-spawn N PROGRAM [ARG...]
 *
 * DESCRIPTION
 *	Runs PROGRAM N times one after another (posix_spawn, stdout to
 *	/dev/null, waitpid), as msmtp's passwordeval or neomutt's
 *	oauthbearer_refresh_command do, after one untimed run. Prints one
 *	line: n= p50_us= p99_us= failures=.
 *
 * DIAGNOSTICS
 *	A run that exits non-zero counts in failures=.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int run(char **argv, posix_spawn_file_actions_t *fa)
{
	pid_t pid;
	int status;

	if (posix_spawn(&pid, argv[0], fa, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	posix_spawn_file_actions_t fa;
	struct samples s = {0};
	long n, failures = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: bench-spawn N PROGRAM [ARG...]\n");
		return 2;
	}
	n = atol(argv[1]);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (run(argv + 2, &fa) < 0)
		failures++;
	for (long i = 0; i < n; i++) {
		double t0 = bench_now_us();

		if (run(argv + 2, &fa) < 0)
			failures++;
		samples_add(&s, bench_now_us() - t0);
	}
	printf("n=%zu p50_us=%.1f p99_us=%.1f failures=%ld\n", s.n,
	       samples_pct(&s, 50), samples_pct(&s, 99), failures);
	posix_spawn_file_actions_destroy(&fa);
	free(s.v);
	return failures ? 1 : 0;
}
