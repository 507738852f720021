/* SPDX-License-Identifier: MIT */
/*
 * login_authcode.c - `mailoauth login` for flow = authcode
 *
 * The authorization code grant with PKCE (S256) and a loopback redirect
 * (RFC 8252): a fresh verifier and state, a listener on 127.0.0.1 on a
 * port the kernel picks, redirect_uri http://127.0.0.1:PORT/, the
 * authorization URL opened in a browser ($BROWSER, else xdg-open when
 * there is a display) and always printed. The browser comes back with
 * ?code=..&state=.. (or ?error=..); the listener answers a small page,
 * and the code is exchanged for tokens (mo_oauth_exchange_code).
 *
 * --remote is for a browser on another machine: no listener (the port is
 * only picked, so redirect_uri has the same shape), the user pastes the
 * address the browser ends on, which fails to load there. There is no
 * out-of-band redirect: providers have dropped it.
 *
 * Everything runs on the GMainLoop: the listener's accept and reads, the
 * pasted line on standard input, the overall --timeout and the exchange.
 *
 * SECURITY
 *	The listener binds 127.0.0.1 only. A request head is capped at
 *	MO_REDIRECT_MAX bytes and CONN_TIMEOUT_S seconds, at most CONN_MAX
 *	connections are open at once, and only GET / with a code or an error
 *	counts; anything else (favicon.ico, probes) gets a 404 and is
 *	otherwise ignored. A redirect whose state is not ours is refused:
 *	the browser gets an error page, the login fails, nothing is stored
 *	(RFC 6749 10.12). The code and the verifier are wiped after use; the
 *	pages never echo the code. The browser is started with an argv
 *	(g_shell_parse_argv of $BROWSER, never a shell), stdin from
 *	/dev/null, and gets only the authorization URL, which holds no
 *	secret (the challenge, not the verifier).
 *
 * DIAGNOSTICS
 *	The URL and what to do on standard output; every failure is one
 *	sentence on standard error: a wrong state or a bad pasted address
 *	(65), the provider's error in the redirect (classified like a token
 *	error; access_denied is 77), no answer within --timeout (69), or the
 *	code exchange's classified error.
 */
#define _GNU_SOURCE
#include "login.h"
#include "login_url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define CONN_MAX	8	/* connections open at once */
#define CONN_TIMEOUT_S	10	/* to send a request head */
#define SEND_TIMEOUT_S	2	/* to take our answer */

struct authcode;

struct conn {
	struct authcode *a;
	int fd;
	guint watch;
	guint timer;
	size_t len;
	char buf[MO_REDIRECT_MAX + 1];	/* may hold the code: wiped */
};

struct authcode {
	struct mo_login *l;
	struct mo_login_result *res;
	int listen_fd;
	guint listen_watch;
	guint timeout;
	guint stdin_watch;
	GPtrArray *conns;
	char *verifier;		/* secret */
	char *state;
	char *redirect_uri;
	struct mo_oauth_call *call;
	bool finished;
	int status;
	size_t line_len;
	char line[MO_REDIRECT_MAX + 2];	/* the pasted address: wiped */
};

static void finish(struct authcode *a, int status)
{
	if (a->finished)
		return;
	a->finished = true;
	a->status = status;
	g_main_loop_quit(a->l->loop);
}

/* ------------------------------------------------------------ the exchange */

static void on_tokens(const struct mo_oauth_tokens *tokens,
		      const struct mo_oauth_error *err, void *ud)
{
	struct authcode *a = ud;

	a->call = NULL;
	if (!tokens) {
		mo_cli_error("%s", err->message);
		finish(a, mo_login_exit_for_error(err));
		return;
	}
	finish(a, mo_login_take_tokens(a->l, tokens, a->res));
}

/* aadsts_codes - the AADSTSnnnn numbers in TEXT into ERR */
static void aadsts_codes(const char *text, struct mo_oauth_error *err)
{
	const char *p = text;

	while (p && (p = strstr(p, "AADSTS")) && err->n_codes < MO_OAUTH_MAX_CODES) {
		char *end;
		long n;

		p += 6;
		n = strtol(p, &end, 10);
		if (end != p && n > 0 && n < 1000000000)
			err->codes[err->n_codes++] = n;
		p = end;
	}
}

/* redirect_error - the provider sent ?error=..: say what and why */
static int redirect_error(struct authcode *a, const struct mo_redirect *r)
{
	const char *name = a->l->account->name;
	struct mo_oauth_error err;
	int status;

	memset(&err, 0, sizeof(err));
	err.retry_after = -1;
	err.error = g_strdup(r->error);
	err.description = g_strdup(r->error_description);
	aadsts_codes(r->error_description, &err);
	mo_oauth_classify(&err, MO_OAUTH_GRANT_AUTH_CODE, name);
	if (!strcmp(r->error, "access_denied") &&
	    (!err.n_codes || mo_oauth_code_class(err.codes[0]) < 0)) {
		mo_cli_error("account '%s': the sign-in was cancelled or the "
			     "permissions were refused (access_denied): run "
			     "'mailoauth login %s' to try again and accept "
			     "them; nothing was stored", name, name);
		status = MO_EXIT_NOPERM;
	} else {
		mo_cli_error("%s", err.message);
		status = !strcmp(r->error, "access_denied") ?
			 MO_EXIT_NOPERM : mo_login_exit_for_error(&err);
	}
	if (r->error_description && *r->error_description)
		fprintf(stderr, "mailoauth: the identity provider said: %s\n",
			r->error_description);
	mo_oauth_error_clear(&err);
	return status;
}

/*
 * take_redirect - what the browser (or the user) brought back. Returns
 * true when it is our code, and starts the exchange; otherwise the login
 * has ended (wrong state, an error). *PAGE says what the browser is told.
 */
static bool take_redirect(struct authcode *a, const struct mo_redirect *r,
			  const char **page)
{
	const char *name = a->l->account->name;

	if (!mo_redirect_state_ok(r, a->state)) {
		mo_cli_error("account '%s': the sign-in answer does not belong "
			     "to this login (its state does not match: an old "
			     "browser tab, or a forged request); refused, "
			     "nothing was stored: run 'mailoauth login %s' "
			     "again", name, name);
		*page = "This answer does not belong to the login that is "
			"waiting (the state does not match), so it was "
			"refused. Run mailoauth login again.";
		finish(a, MO_EXIT_DATAERR);
		return false;
	}
	if (r->error) {
		*page = "The sign-in failed; mailoauth says why in the "
			"terminal. You can close this window.";
		finish(a, redirect_error(a, r));
		return false;
	}
	*page = "mailoauth received the sign-in. You can close this window "
		"and go back to the terminal.";
	if (a->timeout) {
		g_source_remove(a->timeout);
		a->timeout = 0;
	}
	printf("Received the sign-in; fetching the tokens...\n");
	fflush(stdout);
	a->call = mo_oauth_exchange_code(a->l->http, &a->l->client, r->code,
					 a->redirect_uri, a->verifier,
					 on_tokens, a);
	return true;
}

/* ------------------------------------------------------------ the listener */

static void stop_listening(struct authcode *a)
{
	if (a->listen_watch) {
		g_source_remove(a->listen_watch);
		a->listen_watch = 0;
	}
	if (a->listen_fd >= 0) {
		close(a->listen_fd);
		a->listen_fd = -1;
	}
}

static void conn_free(struct conn *c)
{
	if (c->watch)
		g_source_remove(c->watch);
	if (c->timer)
		g_source_remove(c->timer);
	if (c->fd >= 0)
		close(c->fd);
	explicit_bzero(c, sizeof(*c));
	g_free(c);
}

static void conn_close(struct conn *c)
{
	g_ptr_array_remove_fast(c->a->conns, c);
	conn_free(c);
}

/* respond - a small complete HTTP answer; the connection closes after */
static void respond(int fd, int status, const char *reason, const char *title,
		    const char *text)
{
	char *t = g_markup_escape_text(title, -1);
	char *x = g_markup_escape_text(text, -1);
	char *body = g_strdup_printf(
		"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<title>mailoauth: %s</title></head>\n<body style=\"font-family:"
		"sans-serif;margin:3em\"><h1>%s</h1>\n<p>%s</p></body></html>\n",
		t, t, x);
	char *msg = g_strdup_printf(
		"HTTP/1.1 %d %s\r\n"
		"Content-Type: text/html; charset=utf-8\r\n"
		"Content-Length: %zu\r\n"
		"Cache-Control: no-store\r\n"
		"Referrer-Policy: no-referrer\r\n"
		"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n"
		"X-Content-Type-Options: nosniff\r\n"
		"Connection: close\r\n\r\n%s", status, reason, strlen(body), body);
	size_t len = strlen(msg), off = 0;

	while (off < len) {
		ssize_t n = send(fd, msg + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	g_free(t);
	g_free(x);
	g_free(body);
	g_free(msg);
}

/* head_complete - has the request head ended (an empty line)? */
static bool head_complete(const char *buf, size_t len)
{
	return memmem(buf, len, "\r\n\r\n", 4) || memmem(buf, len, "\n\n", 2);
}

static void handle_request(struct conn *c)
{
	struct authcode *a = c->a;
	struct mo_redirect r;
	const char *page = NULL;
	int ret = mo_redirect_parse_request(c->buf, c->len, &r);

	switch (ret) {
	case 0:
		if (a->finished || a->listen_fd < 0) {
			respond(c->fd, 410, "Gone", "Already done",
				"This login has already ended. You can close "
				"this window.");
			break;
		}
		if (take_redirect(a, &r, &page)) {
			stop_listening(a);
			respond(c->fd, 200, "OK", "Signed in", page);
		} else {
			stop_listening(a);
			respond(c->fd, 400, "Bad Request", "Sign-in failed", page);
		}
		break;
	case -EOPNOTSUPP:
		respond(c->fd, 405, "Method Not Allowed", "Not here",
			"Only the sign-in redirect is served here.");
		break;
	case -ENOENT:
		respond(c->fd, 404, "Not Found", "Not here",
			"Only the sign-in redirect is served here.");
		break;
	default:
		respond(c->fd, 400, "Bad Request", "Bad request",
			"This is not a sign-in redirect mailoauth understands.");
		break;
	}
	mo_redirect_clear(&r);
}

static gboolean on_conn_timeout(gpointer ud)
{
	struct conn *c = ud;

	c->timer = 0;
	respond(c->fd, 408, "Request Timeout", "Too slow",
		"The request did not arrive in time.");
	conn_close(c);
	return G_SOURCE_REMOVE;
}

static gboolean on_conn_readable(gint fd, GIOCondition cond, gpointer ud)
{
	struct conn *c = ud;
	ssize_t n;

	(void)cond;
	n = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return G_SOURCE_CONTINUE;
	if (n > 0) {
		bool complete;

		c->len += (size_t)n;
		c->buf[c->len] = '\0';
		complete = head_complete(c->buf, c->len);
		if (!complete && c->len < sizeof(c->buf) - 1)
			return G_SOURCE_CONTINUE;
		if (complete)
			handle_request(c);
		else
			respond(fd, 431, "Request Header Fields Too Large",
				"Too large", "The request is too large.");
	}
	c->watch = 0;		/* G_SOURCE_REMOVE removes it */
	conn_close(c);
	return G_SOURCE_REMOVE;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer ud)
{
	struct authcode *a = ud;
	struct timeval tv = { .tv_sec = SEND_TIMEOUT_S };
	struct conn *c;
	int cfd;

	(void)cond;
	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd < 0)
		return G_SOURCE_CONTINUE;	/* gone already, or EMFILE */
	if (a->conns->len >= CONN_MAX) {
		close(cfd);
		return G_SOURCE_CONTINUE;
	}
	setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c = g_new0(struct conn, 1);
	c->a = a;
	c->fd = cfd;
	c->watch = g_unix_fd_add(cfd, G_IO_IN | G_IO_HUP | G_IO_ERR,
				 on_conn_readable, c);
	c->timer = g_timeout_add_seconds(CONN_TIMEOUT_S, on_conn_timeout, c);
	g_ptr_array_add(a->conns, c);
	return G_SOURCE_CONTINUE;
}

/* listen_loopback - a listening socket on 127.0.0.1:0; its port in *PORT */
static int listen_loopback(unsigned *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, CONN_MAX) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

/* ------------------------------------------------------------ --remote */

static void take_pasted(struct authcode *a, const char *text)
{
	const char *name = a->l->account->name;
	struct mo_redirect r;
	const char *page;
	int ret = mo_redirect_parse_pasted(text, a->redirect_uri, &r);

	if (ret == -ENOENT) {
		mo_cli_error("account '%s': the pasted address has neither a "
			     "code nor an error in it: copy the whole address "
			     "from the browser's address bar (it starts with "
			     "%s?); nothing was stored", name, a->redirect_uri);
		finish(a, MO_EXIT_DATAERR);
	} else if (ret < 0) {
		mo_cli_error("account '%s': that is not the address the "
			     "browser was sent to (it starts with %s and has "
			     "code= and state= in it); nothing was stored",
			     name, a->redirect_uri);
		finish(a, MO_EXIT_DATAERR);
	} else {
		take_redirect(a, &r, &page);
	}
	mo_redirect_clear(&r);
}

/* blank - only white space? */
static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isspace(s[i]))
			return false;
	return true;
}

static gboolean on_stdin(gint fd, GIOCondition cond, gpointer ud)
{
	struct authcode *a = ud;
	ssize_t n;
	char *nl;

	(void)cond;
	n = read(fd, a->line + a->line_len, sizeof(a->line) - 1 - a->line_len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return G_SOURCE_CONTINUE;
	if (n > 0) {
		a->line_len += (size_t)n;
		a->line[a->line_len] = '\0';
	}
	while ((nl = memchr(a->line, '\n', a->line_len))) {
		size_t used = (size_t)(nl - a->line) + 1;

		if (!blank(a->line, used)) {
			*nl = '\0';
			a->stdin_watch = 0;
			take_pasted(a, a->line);
			return G_SOURCE_REMOVE;
		}
		memmove(a->line, a->line + used, a->line_len - used);
		a->line_len -= used;
		a->line[a->line_len] = '\0';
	}
	if (n > 0 && a->line_len >= sizeof(a->line) - 1) {
		mo_cli_error("the pasted text is longer than %d bytes; nothing "
			     "was stored", MO_REDIRECT_MAX);
		a->stdin_watch = 0;
		finish(a, MO_EXIT_DATAERR);
		return G_SOURCE_REMOVE;
	}
	if (n > 0)
		return G_SOURCE_CONTINUE;
	/* end of input (or an error): a last line without newline counts */
	a->stdin_watch = 0;
	if (!blank(a->line, a->line_len)) {
		take_pasted(a, a->line);
	} else {
		mo_cli_error("account '%s': nothing was pasted (standard input "
			     "ended); nothing was stored",
			     a->l->account->name);
		finish(a, MO_EXIT_DATAERR);
	}
	return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------ the browser */

/* spawn_browser - run one $BROWSER entry (or xdg-open) with URL */
static bool spawn_browser(const char *cmd, const char *url)
{
	GError *error = NULL;
	char **argv = NULL;
	int argc = 0;
	bool placed = false, ok;
	GPtrArray *args;

	if (!g_shell_parse_argv(cmd, &argc, &argv, NULL))
		return false;
	args = g_ptr_array_new_with_free_func(g_free);
	for (int i = 0; i < argc; i++) {
		if (strstr(argv[i], "%s")) {	/* the $BROWSER convention */
			char **parts = g_strsplit(argv[i], "%s", -1);

			g_ptr_array_add(args, g_strjoinv(url, parts));
			g_strfreev(parts);
			placed = true;
		} else {
			g_ptr_array_add(args, g_strdup(argv[i]));
		}
	}
	if (!placed)
		g_ptr_array_add(args, g_strdup(url));
	g_ptr_array_add(args, NULL);
	ok = g_spawn_async(NULL, (char **)args->pdata, NULL,
			   G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
			   G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, &error);
	g_clear_error(&error);
	g_ptr_array_free(args, TRUE);
	g_strfreev(argv);
	return ok;
}

/* open_browser - $BROWSER (entries separated by ':'), else xdg-open */
static bool open_browser(const char *url)
{
	const char *env = g_getenv("BROWSER");
	const char *display = g_getenv("DISPLAY");
	const char *wayland = g_getenv("WAYLAND_DISPLAY");
	bool ok = false;

	if (env && *env) {
		char **cmds = g_strsplit(env, ":", -1);

		for (char **c = cmds; *c && !ok; c++)
			if (**c)
				ok = spawn_browser(*c, url);
		g_strfreev(cmds);
		return ok;
	}
	if ((display && *display) || (wayland && *wayland)) {
		char *xdg = g_find_program_in_path("xdg-open");

		if (xdg) {
			char *q = g_shell_quote(xdg);

			ok = spawn_browser(q, url);
			g_free(q);
			g_free(xdg);
		}
	}
	return ok;
}

static gboolean on_timeout(gpointer ud)
{
	struct authcode *a = ud;
	const char *name = a->l->account->name;

	a->timeout = 0;
	mo_cli_error("account '%s': no answer from the browser within %d "
		     "seconds; nothing was stored: run 'mailoauth login %s' "
		     "again (--timeout SECONDS waits longer)", name,
		     a->l->timeout_s, name);
	finish(a, MO_EXIT_LOGIN);
	return G_SOURCE_REMOVE;
}

/* announce - print the URL and what to do with it; open the browser */
static void announce(struct authcode *a, const char *url)
{
	const struct mo_login *l = a->l;

	if (l->remote) {
		printf("Open this address in a browser on any machine and sign "
		       "in as %s:\n\n%s\n\n", l->account->user, url);
		printf("The browser then ends on an address starting with %s "
		       "that does not load. Copy that address from the address "
		       "bar and paste it here:\n", a->redirect_uri);
	} else if (!l->no_browser && open_browser(url)) {
		printf("Opening the sign-in page in your browser; if it does "
		       "not open, visit:\n%s\n", url);
		printf("Sign in as %s. Waiting for the browser (up to %d s)...\n",
		       l->account->user, l->timeout_s);
	} else {
		printf("Open this address in a browser on this machine and "
		       "sign in as %s:\n%s\n", l->account->user, url);
		printf("Waiting for the browser (up to %d s)...\n",
		       l->timeout_s);
	}
	fflush(stdout);
}

static int start(struct authcode *a)
{
	struct mo_login *l = a->l;
	const struct mo_account_config *ac = l->account;
	struct mo_authcode_request req = {0};
	char *challenge, *url;
	unsigned port = 0;
	int fd;

	if (!ac->authorization_endpoint) {
		mo_cli_error("account '%s' has no authorization_endpoint, which "
			     "flow authcode needs: set it (or issuer)", ac->name);
		return MO_EXIT_CONFIG;
	}
	a->verifier = mo_pkce_verifier_new();
	a->state = mo_login_state_new();
	if (!a->verifier || !a->state) {
		mo_cli_error("no random numbers from OpenSSL");
		return MO_EXIT_SOFTWARE;
	}
	fd = listen_loopback(&port);
	if (fd < 0) {
		mo_cli_error("cannot listen on 127.0.0.1 for the browser's "
			     "redirect: %s", g_strerror(-fd));
		return MO_EXIT_SOFTWARE;
	}
	if (l->remote) {
		close(fd);	/* only the port's shape was needed */
	} else {
		a->listen_fd = fd;
		a->listen_watch = g_unix_fd_add(fd, G_IO_IN, on_accept, a);
	}
	a->redirect_uri = g_strdup_printf("http://127.0.0.1:%u/", port);
	challenge = mo_pkce_challenge(a->verifier);
	req.endpoint = ac->authorization_endpoint;
	req.client_id = ac->client_id;
	req.redirect_uri = a->redirect_uri;
	req.scopes = ac->scopes;
	req.state = a->state;
	req.challenge = challenge;
	req.login_hint = ac->user;
	req.google = ac->provider == MO_PROVIDER_GOOGLE;
	url = mo_authcode_url(&req);
	g_free(challenge);
	if (!url) {
		mo_cli_error("account '%s' lacks client_id or scopes for flow "
			     "authcode", ac->name);
		return MO_EXIT_CONFIG;
	}
	announce(a, url);
	g_free(url);
	if (l->remote)
		a->stdin_watch = g_unix_fd_add(STDIN_FILENO,
					       G_IO_IN | G_IO_HUP | G_IO_ERR,
					       on_stdin, a);
	a->timeout = g_timeout_add_seconds((guint)l->timeout_s, on_timeout, a);
	return 0;
}

int mo_login_authcode(struct mo_login *l, struct mo_login_result *res)
{
	struct authcode *a = g_new0(struct authcode, 1);
	int status;

	a->l = l;
	a->res = res;
	a->listen_fd = -1;
	a->conns = g_ptr_array_new();
	status = l->secret_file ? mo_login_client_secret(l, res) : 0;
	if (!status)
		status = start(a);
	if (!status) {
		g_main_loop_run(l->loop);
		status = a->status;
	}
	mo_oauth_cancel(a->call);
	stop_listening(a);
	while (a->conns->len)
		conn_close(g_ptr_array_index(a->conns, 0));
	g_ptr_array_free(a->conns, TRUE);
	if (a->stdin_watch)
		g_source_remove(a->stdin_watch);
	if (a->timeout)
		g_source_remove(a->timeout);
	mo_oauth_secret_free(a->verifier);
	g_free(a->state);
	g_free(a->redirect_uri);
	explicit_bzero(a, sizeof(*a));
	g_free(a);
	return status;
}
