/* SPDX-License-Identifier: MIT */
/*
 * test-server.c - mailoauthd's socket server (token-helper/server.c)
 *
 * The server runs its GLib main loop in a thread with a scripted handler;
 * the test talks to it like clients do, with common/client.c and with raw
 * sockets that misbehave (slow, oversized, gone before the answer).
 */
#define _GNU_SOURCE
#include "unit.h"

#define RAW "user=u\001auth=Bearer t\001\001"
#include "client.h"
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct {
	char dir[64], sock[128];
	struct mo_server *srv;
	GMainLoop *loop;
	pthread_t thread;
	struct mo_peer last_peer;
	struct mo_pending *held;	/* a request answered later */
	bool held_gone;
	int handled;
} t;

/* the handler: TOKEN x answers "OK account=x", TOKEN hold waits, XOAUTH2 is raw */
static void handler(struct mo_pending *p, const struct mo_request *req,
		    const struct mo_peer *peer, void *ud)
{
	char buf[256];
	int n;

	(void)ud;
	t.last_peer = *peer;
	t.handled++;
	if (req->verb == MO_VERB_TOKEN && !strcmp(req->args[0], "hold")) {
		t.held = p;
		return;
	}
	if (req->verb == MO_VERB_XOAUTH2) {
		mo_server_reply(p, RAW, sizeof(RAW) - 1, true);
		return;
	}
	n = snprintf(buf, sizeof(buf), "OK account=%s\n", req->nargs ? req->args[0] : "-");
	mo_server_reply(p, buf, (size_t)n, false);
}

static gboolean release_held(gpointer ud)
{
	(void)ud;
	if (t.held) {
		t.held_gone = mo_pending_gone(t.held);
		mo_server_reply(t.held, "OK account=held\n", 16, false);
		t.held = NULL;
	}
	return G_SOURCE_REMOVE;
}

static void *loop_thread(void *ud)
{
	(void)ud;
	g_main_loop_run(t.loop);
	return NULL;
}

static int call(const char *req, char *resp, size_t size)
{
	return mo_client_call(t.sock, req, strlen(req), resp, size, 3000, NULL, 0);
}

static int raw_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, t.sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* read_all - everything until EOF or 3 s of silence */
static size_t read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 3000) <= 0 || len + 1 >= size)
			break;
		n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

static void simple_request(void **state)
{
	char resp[256];

	(void)state;
	assert_int_equal(call("TOKEN work\n", resp, sizeof(resp)), 16);
	assert_string_equal(resp, "OK account=work\n");
	/* the peer is who the kernel says */
	assert_int_equal(t.last_peer.uid, getuid());
	assert_int_equal(t.last_peer.gid, getgid());
	assert_int_equal(t.last_peer.pid, getpid());
}

static void pipelined_in_order(void **state)
{
	char buf[512];
	int fd = raw_connect();
	const char *reqs = "TOKEN a\nTOKEN b\nHELLO 1\nTOKEN c\n";

	(void)state;
	assert_int_equal(write(fd, reqs, strlen(reqs)), (ssize_t)strlen(reqs));
	shutdown(fd, SHUT_WR);
	read_all(fd, buf, sizeof(buf));
	assert_string_equal(buf, "OK account=a\nOK account=b\nOK account=1\nOK account=c\n");
	close(fd);
}

static void eof_ends_line(void **state)
{
	char buf[256];
	int fd = raw_connect();

	(void)state;
	/* Exim's ${readsocket}: no LF, then shutdown; raw answer, then close */
	assert_int_equal(write(fd, "XOAUTH2 work", 12), 12);
	shutdown(fd, SHUT_WR);
	assert_int_equal(read_all(fd, buf, sizeof(buf)), sizeof(RAW) - 1);
	assert_memory_equal(buf, RAW, sizeof(RAW) - 1);
	close(fd);
}

static void bad_lines(void **state)
{
	char buf[4096];
	char big[MO_REQUEST_MAX + 10];
	int fd;

	(void)state;
	fd = raw_connect();
	assert_int_equal(write(fd, "token lower\n", 12), 12);
	read_all(fd, buf, sizeof(buf));
	assert_string_equal(buf, "ERR unknown-verb unknown request; see docs/protocol.md\n");
	close(fd);

	fd = raw_connect();
	assert_int_equal(write(fd, "TOKEN  two-spaces\n", 18), 18);
	read_all(fd, buf, sizeof(buf));
	assert_string_equal(buf, "ERR bad-request malformed request; see docs/protocol.md\n");
	close(fd);

	/* an endless line is cut off at MO_REQUEST_MAX and the connection closed */
	memset(big, 'A', sizeof(big));
	fd = raw_connect();
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	read_all(fd, buf, sizeof(buf));
	assert_string_equal(buf, "ERR bad-request request line longer than 1024 bytes\n");
	close(fd);
}

static void slow_client_delays_nobody(void **state)
{
	char resp[256];
	int slow = raw_connect();

	(void)state;
	/* half a line, and then nothing */
	assert_int_equal(write(slow, "TOK", 3), 3);
	assert_int_equal(call("TOKEN other\n", resp, sizeof(resp)), 17);
	close(slow);
}

static void answer_later_and_gone_peer(void **state)
{
	char buf[256];
	int fd = raw_connect();
	GSource *idle;

	(void)state;
	assert_int_equal(write(fd, "TOKEN hold\n", 11), 11);
	usleep(100000);
	idle = g_idle_source_new();
	g_source_set_callback(idle, release_held, NULL, NULL);
	g_source_attach(idle, NULL);
	g_source_unref(idle);
	read_all(fd, buf, sizeof(buf));
	assert_string_equal(buf, "OK account=held\n");
	assert_false(t.held_gone);
	close(fd);

	/* the peer leaves before the answer: dropped, nothing breaks */
	fd = raw_connect();
	assert_int_equal(write(fd, "TOKEN hold\n", 11), 11);
	usleep(100000);
	close(fd);
	usleep(100000);
	idle = g_idle_source_new();
	g_source_set_callback(idle, release_held, NULL, NULL);
	g_source_attach(idle, NULL);
	g_source_unref(idle);
	usleep(200000);
	assert_true(t.held_gone);
	{
		struct mo_server_stats st;

		mo_server_stats(t.srv, &st);
		assert_int_equal(st.connections, 0);
	}
	assert_int_equal(call("TOKEN after\n", buf, sizeof(buf)), 17);
}

static void many_clients(void **state)
{
	enum { N = 300 };
	int fds[N];
	char buf[64];

	(void)state;
	for (int i = 0; i < N; i++) {
		fds[i] = raw_connect();
		assert_int_equal(write(fds[i], "TOKEN x\n", 8), 8);
	}
	for (int i = 0; i < N; i++) {
		read_all(fds[i], buf, 14);
		assert_string_equal(buf, "OK account=x\n");
		close(fds[i]);
	}
}

/* storm_client - connect, ask, read, close, as fast as it can; failures */
static void *storm_client(void *ud)
{
	long failures = 0;
	char resp[64];

	(void)ud;
	for (int i = 0; i < 2000; i++)
		if (call("TOKEN storm\n", resp, sizeof(resp)) != 17)
			failures++;
	return (void *)failures;
}

/*
 * Clients that reconnect the moment they have their answer: the server
 * must still see the others close (an accept loop that ran while
 * connections kept coming starved them until the connection cap refused
 * everybody).
 */
static void reconnecting_clients_starve_nobody(void **state)
{
	enum { N = 8 };
	pthread_t th[N];
	struct mo_server_stats st;
	long failures = 0;

	(void)state;
	for (int i = 0; i < N; i++)
		assert_int_equal(pthread_create(&th[i], NULL, storm_client, NULL), 0);
	for (int i = 0; i < N; i++) {
		void *f;

		pthread_join(th[i], &f);
		failures += (long)f;
	}
	assert_int_equal(failures, 0);
	mo_server_stats(t.srv, &st);
	assert_int_equal(st.refused_full, 0);
}

static void socket_takeover_rules(void **state)
{
	GError *error = NULL;
	struct mo_server *other = mo_server_new(handler, NULL);
	char path[160];

	(void)state;
	/* a live daemon's socket is not stolen */
	assert_false(mo_server_listen(other, t.sock, 0666, &error));
	assert_non_null(strstr(error->message, "another mailoauthd already listens"));
	g_clear_error(&error);
	/* a stale one is replaced */
	snprintf(path, sizeof(path), "%s/stale", t.dir);
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		strcpy(sa.sun_path, path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	assert_true(mo_server_listen(other, path, 0600, &error));
	/* a regular file is never removed */
	snprintf(path, sizeof(path), "%s/file", t.dir);
	fclose(fopen(path, "w"));
	assert_false(mo_server_listen(other, path, 0600, &error));
	assert_non_null(strstr(error->message, "is not a socket"));
	g_clear_error(&error);
	unlink(path);
	mo_server_free(other);
}

static int setup(void **state)
{
	GError *error = NULL;

	(void)state;
	strcpy(t.dir, "/tmp/mo-test-server.XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	snprintf(t.sock, sizeof(t.sock), "%s/socket", t.dir);
	t.srv = mo_server_new(handler, NULL);
	if (!mo_server_listen(t.srv, t.sock, 0666, &error))
		return -1;
	t.loop = g_main_loop_new(NULL, FALSE);
	pthread_create(&t.thread, NULL, loop_thread, NULL);
	return 0;
}

static gboolean quit(gpointer ud)
{
	(void)ud;
	g_main_loop_quit(t.loop);
	return G_SOURCE_REMOVE;
}

static int teardown(void **state)
{
	GSource *idle = g_idle_source_new();

	(void)state;
	g_source_set_callback(idle, quit, NULL, NULL);
	g_source_attach(idle, NULL);
	g_source_unref(idle);
	pthread_join(t.thread, NULL);
	mo_server_free(t.srv);
	g_main_loop_unref(t.loop);
	rmdir(t.dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(simple_request),
		cmocka_unit_test(pipelined_in_order),
		cmocka_unit_test(eof_ends_line),
		cmocka_unit_test(bad_lines),
		cmocka_unit_test(slow_client_delays_nobody),
		cmocka_unit_test(answer_later_and_gone_peer),
		cmocka_unit_test(many_clients),
		cmocka_unit_test(reconnecting_clients_starve_nobody),
		cmocka_unit_test(socket_takeover_rules),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
