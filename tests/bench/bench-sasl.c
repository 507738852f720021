/* SPDX-License-Identifier: MIT */
/*
 * bench-sasl - sasl_client_start timed the way Postfix's smtp(8) calls it
 *
 * SYNOPSIS
 *	bench-sasl reuse MECH USER PASSWORD N
 *	bench-sasl first MECH USER PASSWORD N [SOCKET...]
 *
 * DESCRIPTION
 *	Loads the SASL plugins from SASL_PATH with sasl_client_init, then
 *	authenticates as Postfix's xsasl_cyrus_client.c does: callbacks for
 *	SASL_CB_USER, SASL_CB_AUTHNAME and SASL_CB_PASS; a new sasl_conn_t
 *	per authentication (sasl_client_new, sasl_setprop SSF_EXTERNAL and
 *	SEC_PROPS, sasl_client_start with MECH, sasl_dispose).
 *
 *	reuse: N authentications in this process, as a reused smtp(8) does
 *	(the first one is left out: it is the "first" case).
 *	first: N child processes forked after sasl_client_init, each timing
 *	its first authentication (so the plugin's cache is empty). With
 *	SOCKETs, each of the N turns also forks, for every SOCKET, a child
 *	that times one bare request ("TOKEN bench", read the answer line) on
 *	a new connection to it: the floor of a first authentication, measured
 *	in the same moments.
 *
 *	Prints one line: mech= n= start_p50_us= start_p99_us= (the
 *	sasl_client_start call) auth_p50_us= auth_p99_us= (new + start +
 *	dispose), and bare1_p50_us= bare1_p99_us= ... for each SOCKET.
 *
 *	Security properties: Postfix's default smtp_sasl_security_options
 *	(noplaintext, noanonymous) for XOAUTH2 and OAUTHBEARER; PLAIN needs
 *	"noanonymous" alone, as a Postfix configured for PLAIN has.
 *
 * DIAGNOSTICS
 *	A failed authentication ends the program with SASL's error detail on
 *	stderr and exit 1.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <stdbool.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sasl/sasl.h>

static const char *user, *password;
static sasl_secret_t *secret;

static int get_user(void *ctx, int id, const char **result, unsigned *len)
{
	(void)ctx;
	(void)id;
	*result = user;
	if (len)
		*len = (unsigned)strlen(user);
	return SASL_OK;
}

static int get_pass(sasl_conn_t *conn, void *ctx, int id, sasl_secret_t **psecret)
{
	(void)conn;
	(void)ctx;
	(void)id;
	*psecret = secret;
	return SASL_OK;
}

static sasl_callback_t callbacks[] = {
	{SASL_CB_USER, (int (*)(void))(void (*)(void))get_user, NULL},
	{SASL_CB_AUTHNAME, (int (*)(void))(void (*)(void))get_user, NULL},
	{SASL_CB_PASS, (int (*)(void))(void (*)(void))get_pass, NULL},
	{SASL_CB_LIST_END, NULL, NULL},
};

/* one_auth - one Postfix-style authentication; times in microseconds */
static void one_auth(const char *mech, double *start_us, double *auth_us)
{
	sasl_security_properties_t props = {
		.max_ssf = 1,
		.maxbufsize = 0,
		.security_flags = SASL_SEC_NOANONYMOUS |
			(strcmp(mech, "PLAIN") ? SASL_SEC_NOPLAINTEXT : 0),
	};
	sasl_ssf_t ssf = 0;
	sasl_conn_t *conn = NULL;
	const char *out = NULL, *chosen = NULL;
	unsigned outlen = 0;
	double t0, t1, t2;
	int r;

	t0 = bench_now_us();
	if (sasl_client_new("smtp", "mail.example.com", NULL, NULL, callbacks, 0,
			    &conn) != SASL_OK ||
	    sasl_setprop(conn, SASL_SSF_EXTERNAL, &ssf) != SASL_OK ||
	    sasl_setprop(conn, SASL_SEC_PROPS, &props) != SASL_OK) {
		fprintf(stderr, "bench-sasl: sasl_client_new failed\n");
		exit(1);
	}
	t1 = bench_now_us();
	r = sasl_client_start(conn, mech, NULL, &out, &outlen, &chosen);
	t2 = bench_now_us();
	if (r != SASL_OK && r != SASL_CONTINUE) {
		fprintf(stderr, "bench-sasl: %s: %s\n", mech, sasl_errdetail(conn));
		exit(1);
	}
	sasl_dispose(&conn);
	*start_us = t2 - t1;
	*auth_us = bench_now_us() - t0;
}

/* bare - a child's one request on a new connection to PATH, in µs */
static double bare(const char *path)
{
	static const char req[] = "TOKEN bench\n";
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	double t0;
	bool ok = false;
	int fd;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	t0 = bench_now_us();
	fd = bench_connect(&addr);
	if (fd < 0 || bench_round_trip(fd, req, sizeof(req) - 1, &ok) < 0 || !ok) {
		fprintf(stderr, "bench-sasl: no answer from %s\n", path);
		_exit(1);
	}
	close(fd);
	return bench_now_us() - t0;
}

/* in_child - fork; the child runs MECH's first authentication (PATH NULL)
 * or a bare request to PATH and sends its times back */
static void in_child(const char *mech, const char *path, double t[2])
{
	int p[2], status;
	pid_t pid;

	if (pipe(p) < 0 || (pid = fork()) < 0) {
		perror("bench-sasl");
		exit(1);
	}
	if (pid == 0) {
		close(p[0]);
		if (path)
			t[0] = t[1] = bare(path);
		else
			one_auth(mech, &t[0], &t[1]);
		_exit(write(p[1], t, 2 * sizeof(*t)) == 2 * (ssize_t)sizeof(*t) ? 0 : 1);
	}
	close(p[1]);
	if (read(p[0], t, 2 * sizeof(*t)) != 2 * (ssize_t)sizeof(*t))
		exit(1);
	close(p[0]);
	waitpid(pid, &status, 0);
}

int main(int argc, char **argv)
{
	struct samples start = {0}, auth = {0}, floors[4] = {{0}};
	const char *mech;
	bool first;
	long n;
	int nfloors;
	size_t plen;

	if (argc < 6 || argc > 6 + 4 || (argc > 6 && strcmp(argv[1], "first"))) {
		fprintf(stderr, "usage: bench-sasl reuse|first MECH USER PASSWORD N "
			"[SOCKET...] (first: up to 4 SOCKETs)\n");
		return 2;
	}
	first = !strcmp(argv[1], "first");
	mech = argv[2];
	user = argv[3];
	password = argv[4];
	n = atol(argv[5]);
	nfloors = argc - 6;
	plen = strlen(password);
	secret = malloc(sizeof(*secret) + plen + 1);
	if (!secret)
		return 1;
	secret->len = plen;
	memcpy(secret->data, password, plen + 1);
	if (sasl_client_init(NULL) != SASL_OK) {
		fprintf(stderr, "bench-sasl: sasl_client_init failed\n");
		return 1;
	}
	for (long i = 0; i < n; i++) {
		double t[2];

		if (!first) {
			if (i == 0)
				one_auth(mech, &t[0], &t[1]);	/* not a reuse */
			one_auth(mech, &t[0], &t[1]);
		} else {
			for (int f = 0; f < nfloors; f++) {
				in_child(mech, argv[6 + f], t);
				samples_add(&floors[f], t[0]);
			}
			in_child(mech, NULL, t);
		}
		samples_add(&start, t[0]);
		samples_add(&auth, t[1]);
	}
	printf("mech=%s n=%zu start_p50_us=%.2f start_p99_us=%.2f "
	       "auth_p50_us=%.2f auth_p99_us=%.2f", mech, start.n,
	       samples_pct(&start, 50), samples_pct(&start, 99),
	       samples_pct(&auth, 50), samples_pct(&auth, 99));
	for (int f = 0; f < nfloors; f++) {
		printf(" bare%d_p50_us=%.2f bare%d_p99_us=%.2f", f + 1,
		       samples_pct(&floors[f], 50), f + 1, samples_pct(&floors[f], 99));
		free(floors[f].v);
	}
	printf("\n");
	sasl_done();
	free(secret);
	free(start.v);
	free(auth.v);
	return 0;
}
