/* SPDX-License-Identifier: MIT */
/*
 * test-plugin.c - libmailoauth.so driven through the real libsasl2
 *
 * The built plugin is loaded by sasl_client_init from SASL_PATH and driven
 * the two ways real programs drive it: with callbacks, as Postfix does,
 * and with interaction prompts, as mbsync does. A scripted daemon runs in
 * a thread of this process, so every answer (good, error, malformed,
 * silent) can be chosen per test and every request checked.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sasl/sasl.h>

#define TOKEN "eyJ0eXAiOiJKV1QifQ.eyJ1cG4iOiJhbGljZSJ9.c2lnbmF0dXJl"
#define OK_WORK "OK account=work user=alice@example.com gen=7 expires_in=3599 " \
		"cache_for=0 token=" TOKEN "\n"

/* ---- the scripted daemon ---- */

static struct {
	pthread_mutex_t lock;
	char dir[64], sock[128];
	int fd;
	pthread_t thread;
	char answer[20000];	/* "" : keep the connection open, say nothing */
	char requests[16][512];
	int nrequests;
} d = {.lock = PTHREAD_MUTEX_INITIALIZER};

static char plugin_dir[PATH_MAX];

/* libsasl2 keeps a pointer to each connection's callbacks: free them at the end */
static sasl_callback_t *callback_sets[64];
static int ncallback_sets;

static void daemon_answer(const char *answer)
{
	pthread_mutex_lock(&d.lock);
	snprintf(d.answer, sizeof(d.answer), "%s", answer);
	d.nrequests = 0;
	pthread_mutex_unlock(&d.lock);
}

static int daemon_requests(void)
{
	int n;

	pthread_mutex_lock(&d.lock);
	n = d.nrequests;
	pthread_mutex_unlock(&d.lock);
	return n;
}

static void *daemon_main(void *arg)
{
	(void)arg;
	for (;;) {
		char line[512] = "";
		size_t len = 0;
		int c = accept(d.fd, NULL, NULL);

		if (c < 0)
			return NULL;
		while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
			struct pollfd p = {.fd = c, .events = POLLIN};
			ssize_t n;

			if (poll(&p, 1, 2000) <= 0)
				break;
			n = read(c, line + len, sizeof(line) - 1 - len);
			if (n <= 0)
				break;
			len += (size_t)n;
			line[len] = '\0';
		}
		pthread_mutex_lock(&d.lock);
		if (d.nrequests < 16)
			snprintf(d.requests[d.nrequests++], 512, "%s", line);
		if (strncmp(line, "REJECTED ", 9) == 0) {
			if (write(c, "OK\n", 3) != 3)
				abort();
		} else if (d.answer[0]) {
			if (write(c, d.answer, strlen(d.answer)) < 0)
				abort();
		} else {
			pthread_mutex_unlock(&d.lock);
			sleep(3);	/* a daemon that hangs */
			pthread_mutex_lock(&d.lock);
		}
		pthread_mutex_unlock(&d.lock);
		close(c);
	}
}

static void daemon_start(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	strcpy(d.dir, "/tmp/mo-test-plugin.XXXXXX");
	assert_non_null(mkdtemp(d.dir));
	snprintf(d.sock, sizeof(d.sock), "%s/socket", d.dir);
	strcpy(sa.sun_path, d.sock);
	d.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(d.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(d.fd, 16), 0);
	assert_int_equal(pthread_create(&d.thread, NULL, daemon_main, NULL), 0);
}

/* ---- a SASL client, Postfix style or mbsync style ---- */

struct client {
	const char *authname;
	const char *password;	/* NULL: no password callback */
	sasl_secret_t *secret;
};

static int cb_authname(void *ctx, int id, const char **result, unsigned *len)
{
	struct client *c = ctx;

	assert_int_equal(id, SASL_CB_AUTHNAME);
	*result = c->authname;
	if (len)
		*len = (unsigned)strlen(c->authname);
	return SASL_OK;
}

static int cb_pass(sasl_conn_t *conn, void *ctx, int id, sasl_secret_t **psecret)
{
	struct client *c = ctx;
	size_t n = strlen(c->password);

	(void)conn;
	assert_int_equal(id, SASL_CB_PASS);
	free(c->secret);
	c->secret = malloc(sizeof(sasl_secret_t) + n + 1);
	c->secret->len = n;
	memcpy(c->secret->data, c->password, n + 1);
	*psecret = c->secret;
	return SASL_OK;
}

/* sasl_start - (re)load the plugin with the given environment */
static void sasl_start(const char *sock, const char *conf)
{
	setenv("SASL_PATH", plugin_dir, 1);
	setenv("MAILOAUTH_SOCKET", sock ? sock : d.sock, 1);
	setenv("MAILOAUTH_PLUGIN_CONF", conf ? conf : "/nonexistent/plugin.conf", 1);
	assert_int_equal(sasl_client_init(NULL), SASL_OK);
}

static sasl_conn_t *new_conn(struct client *c, bool prompts)
{
	sasl_callback_t *cbs = calloc(4, sizeof(*cbs));
	sasl_security_properties_t props = {
		.max_ssf = 0,
		/* Postfix's default smtp_sasl_security_options */
		.security_flags = SASL_SEC_NOPLAINTEXT | SASL_SEC_NOANONYMOUS,
	};
	sasl_conn_t *conn = NULL;
	int i = 0;

	if (prompts) {
		/* exactly what mbsync registers */
		cbs[i++] = (sasl_callback_t){SASL_CB_USER, NULL, NULL};
		cbs[i++] = (sasl_callback_t){SASL_CB_AUTHNAME, NULL, NULL};
		cbs[i++] = (sasl_callback_t){SASL_CB_PASS, NULL, NULL};
	} else {
		cbs[i++] = (sasl_callback_t){SASL_CB_AUTHNAME,
					     (int (*)(void))(void (*)(void))cb_authname, c};
		if (c->password)
			cbs[i++] = (sasl_callback_t){SASL_CB_PASS,
						     (int (*)(void))(void (*)(void))cb_pass, c};
	}
	cbs[i] = (sasl_callback_t){SASL_CB_LIST_END, NULL, NULL};
	assert_int_equal(sasl_client_new("smtp", "mail.example.com", "127.0.0.1;40000",
					 "127.0.0.1;587", cbs, 0, &conn), SASL_OK);
	assert_int_equal(sasl_setprop(conn, SASL_SEC_PROPS, &props), SASL_OK);
	assert_true(ncallback_sets < 64);
	callback_sets[ncallback_sets++] = cbs;
	return conn;
}

static int start(sasl_conn_t *conn, const char *mechs, const char **out,
		 unsigned *outlen)
{
	sasl_interact_t *interact = NULL;
	const char *mech = NULL;

	return sasl_client_start(conn, mechs, &interact, out, outlen, &mech);
}

static void free_client(struct client *c)
{
	free(c->secret);
	c->secret = NULL;
}

/* ---- tests ---- */

static void postfix_callbacks_xoauth2(void **state)
{
	static const char want[] = "user=alice@example.com\001auth=Bearer " TOKEN "\001\001";
	struct client c = {"alice@example.com", "not an account name", NULL};
	sasl_conn_t *conn;
	const char *out;
	unsigned outlen;

	(void)state;
	daemon_answer(OK_WORK);
	conn = new_conn(&c, false);
	assert_int_equal(start(conn, "PLAIN XOAUTH2", &out, &outlen), SASL_CONTINUE);
	assert_int_equal(outlen, sizeof(want) - 1);
	assert_memory_equal(out, want, outlen);
	assert_int_equal(daemon_requests(), 1);
	/* a password that cannot name an account is not sent */
	assert_string_equal(d.requests[0], "TOKEN-USER alice@example.com\n");

	/* the server accepted: a final empty step finishes */
	assert_int_equal(sasl_client_step(conn, "", 0, NULL, &out, &outlen), SASL_OK);
	sasl_dispose(&conn);
	free_client(&c);
}

static void password_names_account(void **state)
{
	struct client c = {"shared@example.com", "alice", NULL};
	sasl_conn_t *conn;
	const char *out;
	unsigned outlen;

	(void)state;
	daemon_answer("OK account=alice user=alice@example.com gen=1 expires_in=3599 "
		      "cache_for=0 token=" TOKEN "\n");
	conn = new_conn(&c, false);
	assert_int_equal(start(conn, "XOAUTH2", &out, &outlen), SASL_CONTINUE);
	assert_string_equal(d.requests[0], "TOKEN-USER shared@example.com alice\n");
	/* the SASL identity stays the mailbox, the token is alice's */
	assert_int_equal(memcmp(out, "user=shared@example.com\001", 24), 0);
	sasl_dispose(&conn);
	free_client(&c);
}

static void mbsync_prompts(void **state)
{
	sasl_interact_t *interact = NULL;
	sasl_conn_t *conn;
	const char *out, *mech;
	unsigned outlen;
	int r;

	(void)state;
	daemon_answer(OK_WORK);
	conn = new_conn(NULL, true);
	r = sasl_client_start(conn, "XOAUTH2", &interact, &out, &outlen, &mech);
	assert_int_equal(r, SASL_INTERACT);
	assert_non_null(interact);
	/* only the mailbox is asked for: mbsync would ask a human for a password */
	assert_int_equal(interact[0].id, SASL_CB_AUTHNAME);
	assert_int_equal(interact[1].id, SASL_CB_LIST_END);
	interact[0].result = "bob@example.com";
	interact[0].len = 15;
	r = sasl_client_start(conn, "XOAUTH2", &interact, &out, &outlen, &mech);
	assert_int_equal(r, SASL_CONTINUE);
	assert_string_equal(d.requests[0], "TOKEN-USER bob@example.com\n");
	assert_int_equal(memcmp(out, "user=bob@example.com\001auth=Bearer ", 33), 0);
	/* mbsync steps once more after the tagged OK */
	assert_int_equal(sasl_client_step(conn, NULL, 0, &interact, &out, &outlen), SASL_OK);
	sasl_dispose(&conn);
}

static void no_initial_response(void **state)
{
	static const char want[] = "user=alice@example.com\001auth=Bearer " TOKEN "\001\001";
	struct client c = {"alice@example.com", NULL, NULL};
	sasl_interact_t *interact = NULL;
	sasl_conn_t *conn;
	const char *out, *mech;
	unsigned outlen;

	(void)state;
	/* a protocol without initial responses: the server's empty "+ " first */
	daemon_answer(OK_WORK);
	conn = new_conn(&c, false);
	assert_int_equal(sasl_client_start(conn, "XOAUTH2", &interact, NULL, NULL, &mech),
			 SASL_CONTINUE);
	assert_int_equal(daemon_requests(), 0);
	assert_int_equal(sasl_client_step(conn, "", 0, &interact, &out, &outlen), SASL_CONTINUE);
	assert_int_equal(outlen, sizeof(want) - 1);
	assert_memory_equal(out, want, outlen);
	assert_int_equal(sasl_client_step(conn, "", 0, &interact, &out, &outlen), SASL_OK);
	sasl_dispose(&conn);
}

static void prompts_without_prompt_list(void **state)
{
	sasl_conn_t *conn;
	const char *out, *mech;
	unsigned outlen;

	(void)state;
	/* AUTHNAME registered without a callback, yet no prompt list: no crash */
	conn = new_conn(NULL, true);
	assert_int_equal(sasl_client_start(conn, "XOAUTH2", NULL, &out, &outlen, &mech),
			 SASL_BADPARAM);
	assert_non_null(strstr(sasl_errdetail(conn), "no authentication name"));
	sasl_dispose(&conn);
}

static void oauthbearer_host_port(void **state)
{
	static const char want[] = "n,a=alice@example.com,\001host=mail.example.com\001"
				   "port=587\001auth=Bearer " TOKEN "\001\001";
	struct client c = {"alice@example.com", NULL, NULL};
	sasl_conn_t *conn;
	const char *out;
	unsigned outlen;

	(void)state;
	daemon_answer(OK_WORK);
	conn = new_conn(&c, false);
	assert_int_equal(start(conn, "OAUTHBEARER", &out, &outlen), SASL_CONTINUE);
	assert_int_equal(outlen, sizeof(want) - 1);
	assert_memory_equal(out, want, outlen);
	sasl_dispose(&conn);
}

static void error_challenge(const char *mech, const char *reply, unsigned reply_len)
{
	static const char json[] = "{\"status\":\"401\",\"schemes\":\"bearer\",\"scope\":\"mail\"}";
	struct client c = {"alice@example.com", NULL, NULL};
	sasl_conn_t *conn;
	const char *out;
	unsigned outlen;

	daemon_answer(OK_WORK);
	conn = new_conn(&c, false);
	assert_int_equal(start(conn, mech, &out, &outlen), SASL_CONTINUE);
	assert_int_equal(sasl_client_step(conn, json, sizeof(json) - 1, NULL, &out, &outlen),
			 SASL_CONTINUE);
	assert_int_equal(outlen, reply_len);
	assert_memory_equal(out, reply, reply_len);
	/* the daemon heard that generation 7 of "work" was refused */
	assert_int_equal(daemon_requests(), 2);
	assert_string_equal(d.requests[1], "REJECTED work 7\n");
	assert_non_null(strstr(sasl_errdetail(conn), "rejected the access token"));
	assert_non_null(strstr(sasl_errdetail(conn), "status=401"));
	assert_null(strstr(sasl_errdetail(conn), TOKEN));
	/* a further step is an authentication failure */
	assert_int_equal(sasl_client_step(conn, "x", 1, NULL, &out, &outlen), SASL_BADAUTH);
	sasl_dispose(&conn);
}

static void error_challenge_xoauth2(void **state)
{
	(void)state;
	error_challenge("XOAUTH2", "", 0);
}

static void error_challenge_oauthbearer(void **state)
{
	(void)state;
	error_challenge("OAUTHBEARER", "\001", 1);
}

static void garbage_and_huge_challenges(void **state)
{
	struct client c = {"alice@example.com", NULL, NULL};
	char *huge = malloc(5000);
	sasl_conn_t *conn;
	const char *out;
	unsigned outlen;

	(void)state;
	daemon_answer(OK_WORK);
	conn = new_conn(&c, false);
	assert_int_equal(start(conn, "XOAUTH2", &out, &outlen), SASL_CONTINUE);
	assert_int_equal(sasl_client_step(conn, "\xff\x01garbage", 9, NULL, &out, &outlen),
			 SASL_CONTINUE);
	assert_int_equal(outlen, 0);
	assert_non_null(strstr(sasl_errdetail(conn), "unreadable challenge of 9 bytes"));
	sasl_dispose(&conn);

	memset(huge, '{', 5000);
	conn = new_conn(&c, false);
	assert_int_equal(start(conn, "XOAUTH2", &out, &outlen), SASL_CONTINUE);
	assert_int_equal(sasl_client_step(conn, huge, 5000, NULL, &out, &outlen), SASL_BADPROT);
	sasl_dispose(&conn);
	free(huge);
}

static void process_cache(void **state)
{
	struct client c = {"carol@example.com", NULL, NULL};
	static const char json[] = "{\"status\":\"401\"}";
	sasl_conn_t *conn;
	const char *out;
	unsigned outlen;

	(void)state;
	daemon_answer("OK account=carol user=carol@example.com gen=3 expires_in=3599 "
		      "cache_for=3000 token=" TOKEN "\n");
	/* three authentications, as a reused smtp(8) process does: one request */
	for (int i = 0; i < 3; i++) {
		conn = new_conn(&c, false);
		assert_int_equal(start(conn, "XOAUTH2", &out, &outlen), SASL_CONTINUE);
		sasl_dispose(&conn);
	}
	assert_int_equal(daemon_requests(), 1);

	/* a rejection drops the cached token at once */
	conn = new_conn(&c, false);
	assert_int_equal(start(conn, "XOAUTH2", &out, &outlen), SASL_CONTINUE);
	assert_int_equal(sasl_client_step(conn, json, sizeof(json) - 1, NULL, &out, &outlen),
			 SASL_CONTINUE);
	sasl_dispose(&conn);
	assert_int_equal(daemon_requests(), 2);	/* + REJECTED */
	conn = new_conn(&c, false);
	assert_int_equal(start(conn, "XOAUTH2", &out, &outlen), SASL_CONTINUE);
	sasl_dispose(&conn);
	assert_int_equal(daemon_requests(), 3);
	assert_string_equal(d.requests[2], "TOKEN-USER carol@example.com\n");
}

static void expect_temporary_failure(const char *mech, const char *detail)
{
	struct client c = {"dave@example.com", NULL, NULL};
	sasl_conn_t *conn = new_conn(&c, false);
	const char *out;
	unsigned outlen;

	assert_int_equal(start(conn, mech, &out, &outlen), SASL_UNAVAIL);
	if (!strstr(sasl_errdetail(conn), detail))
		fail_msg("'%s' not in '%s'", detail, sasl_errdetail(conn));
	assert_null(strstr(sasl_errdetail(conn), TOKEN));
	sasl_dispose(&conn);
}

static void daemon_errors(void **state)
{
	(void)state;
	daemon_answer("ERR login-required the refresh token was revoked: run "
		      "'mailoauth login work'\n");
	expect_temporary_failure("XOAUTH2", "run 'mailoauth login work' (login-required)");
	daemon_answer("ERR denied uid 1001 may not use account work\n");
	expect_temporary_failure("XOAUTH2", "uid 1001 may not use account work (denied)");
	daemon_answer("ERR unknown-account no account has user dave@example.com\n");
	expect_temporary_failure("OAUTHBEARER", "no account has user");
	/* broken answers */
	daemon_answer("OK account=work user=a@b gen=1 token=bad\001token\n");
	expect_temporary_failure("XOAUTH2", "malformed answer");
	daemon_answer("OK account=work gen=1\n");
	expect_temporary_failure("XOAUTH2", "without a usable token");
	daemon_answer("OK account=work token=abc");	/* no LF: truncated */
	expect_temporary_failure("XOAUTH2", "the connection failed");
}

static void missing_daemon_fails_fast(void **state)
{
	struct timespec t0, t1;

	(void)state;
	sasl_done();
	sasl_start("/nonexistent/mailoauth/socket", NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect_temporary_failure("XOAUTH2", "mailoauthd is not running");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* no waiting for the 8 s timeout when nothing listens */
	assert_true(t1.tv_sec - t0.tv_sec < 4);
	sasl_done();
	sasl_start(NULL, NULL);
}

static void socket_list_falls_through(void **state)
{
	char list[300];
	struct client c = {"alice@example.com", NULL, NULL};
	sasl_conn_t *conn;
	const char *out;
	unsigned outlen;

	(void)state;
	/* a chrooted smtp(8) sees only the second path */
	snprintf(list, sizeof(list), "/nonexistent/socket %s", d.sock);
	sasl_done();
	sasl_start(list, NULL);
	daemon_answer(OK_WORK);
	conn = new_conn(&c, false);
	assert_int_equal(start(conn, "XOAUTH2", &out, &outlen), SASL_CONTINUE);
	sasl_dispose(&conn);
	sasl_done();
	sasl_start(NULL, NULL);
}

static void silent_daemon_times_out(void **state)
{
	char conf[128];
	FILE *f;

	(void)state;
	snprintf(conf, sizeof(conf), "%s/plugin.conf", d.dir);
	f = fopen(conf, "w");
	fprintf(f, "# test\ntimeout = 1\n");
	fclose(f);
	sasl_done();
	sasl_start(NULL, conf);
	daemon_answer("");
	expect_temporary_failure("XOAUTH2", "did not answer in time");
	sasl_done();
	sasl_start(NULL, NULL);
	unlink(conf);
}

static void broken_config_reported_at_auth(void **state)
{
	char conf[128];
	const char *mechs = NULL;
	FILE *f;

	(void)state;
	snprintf(conf, sizeof(conf), "%s/plugin.conf", d.dir);
	f = fopen(conf, "w");
	fprintf(f, "socket = /x\nsockt = typo\n");
	fclose(f);
	sasl_done();
	sasl_start(NULL, conf);
	/* the plugin still loads: other programs' SASL keeps working */
	{
		struct client c = {"e@x", NULL, NULL};
		sasl_conn_t *conn = new_conn(&c, false);

		assert_int_equal(sasl_listmech(conn, NULL, "", " ", "", &mechs, NULL, NULL),
				 SASL_OK);
		assert_non_null(strstr(mechs, "XOAUTH2"));
		assert_non_null(strstr(mechs, "OAUTHBEARER"));
		sasl_dispose(&conn);
	}
	expect_temporary_failure("XOAUTH2", "plugin.conf:2: unknown key 'sockt'");
	sasl_done();
	sasl_start(NULL, NULL);
	unlink(conf);
}

static void bad_authname(void **state)
{
	struct client c = {"two words@example.com", NULL, NULL};
	sasl_conn_t *conn;
	const char *out;
	unsigned outlen;

	(void)state;
	daemon_answer(OK_WORK);
	conn = new_conn(&c, false);
	assert_int_equal(start(conn, "XOAUTH2", &out, &outlen), SASL_BADPARAM);
	assert_int_equal(daemon_requests(), 0);
	sasl_dispose(&conn);
}

/* count_fds_and_threads - open descriptors + 1000 * threads of this process */
static int count_fds_and_threads(void)
{
	char line[128];
	int n = 0, threads = 0;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &threads) == 1)
			break;
	if (f)
		fclose(f);
	for (int fd = 0; fd < 1024; fd++) {
		char path[64], target[256];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (readlink(path, target, sizeof(target)) > 0)
			n++;
	}
	return n + 1000 * threads;
}

static void loading_costs_nothing(void **state)
{
	int before;

	(void)state;
	sasl_done();
	before = count_fds_and_threads();
	sasl_start(NULL, NULL);
	/* no thread, socket or descriptor is left behind by plug_init */
	assert_int_equal(count_fds_and_threads(), before);
}

static int group_setup(void **state)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	(void)state;
	if (n <= 0)
		return -1;
	self[n] = '\0';
	/* BUILD/tests/test-plugin -> BUILD/sasl-plugin */
	slash = strrchr(self, '/');
	*slash = '\0';
	slash = strrchr(self, '/');
	*slash = '\0';
	snprintf(plugin_dir, sizeof(plugin_dir), "%s/sasl-plugin", self);
	daemon_start();
	sasl_start(NULL, NULL);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	sasl_done();
	while (ncallback_sets)
		free(callback_sets[--ncallback_sets]);
	shutdown(d.fd, SHUT_RDWR);	/* accept() fails: the thread ends */
	pthread_join(d.thread, NULL);
	close(d.fd);
	unlink(d.sock);
	rmdir(d.dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(postfix_callbacks_xoauth2),
		cmocka_unit_test(password_names_account),
		cmocka_unit_test(mbsync_prompts),
		cmocka_unit_test(no_initial_response),
		cmocka_unit_test(prompts_without_prompt_list),
		cmocka_unit_test(oauthbearer_host_port),
		cmocka_unit_test(error_challenge_xoauth2),
		cmocka_unit_test(error_challenge_oauthbearer),
		cmocka_unit_test(garbage_and_huge_challenges),
		cmocka_unit_test(process_cache),
		cmocka_unit_test(daemon_errors),
		cmocka_unit_test(missing_daemon_fails_fast),
		cmocka_unit_test(socket_list_falls_through),
		cmocka_unit_test(silent_daemon_times_out),
		cmocka_unit_test(broken_config_reported_at_auth),
		cmocka_unit_test(bad_authname),
		cmocka_unit_test(loading_costs_nothing),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
