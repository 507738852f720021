/* SPDX-License-Identifier: MIT */
/*
 * test-discovery.c - token-helper/discovery.c: metadata documents (good,
 * bad, lying about their issuer, refused endpoint URLs), applying them to
 * an account per flow, the well-known URLs of an issuer, and real fetches
 * (mo_http_get) against a small HTTP server forked on loopback: the order
 * of the URLs tried, 404 fallbacks, transient and permanent failures,
 * cancelling, and the CLI's synchronous resolve.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "unit.h"
#include "discovery.h"
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define ISS "https://idp.example.com/realms/mail"

static bool parse(const char *body, struct mo_discovery *d, GError **e)
{
	return mo_discovery_parse(ISS, body, strlen(body), d, e);
}

/* parse_fails - BODY is refused with a message matching PATTERN */
static void parse_fails(const char *body, const char *pattern)
{
	struct mo_discovery d;
	GError *e = NULL;

	if (parse(body, &d, &e))
		fail_msg("accepted: %s", body);
	assert_non_null(e);
	assert_true(g_error_matches(e, MO_DISCOVERY_ERROR,
				    MO_DISCOVERY_ERROR_INVALID));
	if (!g_pattern_match_simple(pattern, e->message))
		fail_msg("message \"%s\" does not match \"%s\"", e->message,
			 pattern);
	assert_null(d.issuer);
	assert_null(d.token_endpoint);
	g_error_free(e);
}

/* ------------------------------------------------------------ parsing */

static void parse_good(void **state)
{
	struct mo_discovery d;
	GError *e = NULL;
	const char *body;

	(void)state;
	assert_true(parse("{\"issuer\":\"" ISS "\","
			  "\"token_endpoint\":\"https://idp.example.com/t\","
			  "\"device_authorization_endpoint\":\"https://idp.example.com/d\","
			  "\"authorization_endpoint\":\"https://idp.example.com/a?x=1\","
			  "\"revocation_endpoint\":\"https://idp.example.com/r\","
			  "\"grant_types_supported\":[\"refresh_token\"],"
			  "\"mtls_endpoint_aliases\":{\"token_endpoint\":\"ftp://x\"},"
			  "\"scopes_supported\":null}", &d, &e));
	assert_null(e);
	assert_string_equal(d.issuer, ISS);
	assert_string_equal(d.token_endpoint, "https://idp.example.com/t");
	assert_string_equal(d.device_authorization_endpoint, "https://idp.example.com/d");
	assert_string_equal(d.authorization_endpoint, "https://idp.example.com/a?x=1");
	assert_string_equal(d.revocation_endpoint, "https://idp.example.com/r");
	mo_discovery_clear(&d);
	assert_null(d.issuer);
	mo_discovery_clear(&d);		/* twice is fine */

	/* the minimum: issuer and token_endpoint; null means absent */
	assert_true(parse(" \r\n{\"token_endpoint\":\"https://idp.example.com/t\","
			  "\"issuer\":\"" ISS "\",\"authorization_endpoint\":null}\n",
			  &d, &e));
	assert_string_equal(d.token_endpoint, "https://idp.example.com/t");
	assert_null(d.device_authorization_endpoint);
	assert_null(d.authorization_endpoint);
	assert_null(d.revocation_endpoint);
	mo_discovery_clear(&d);

	/* http:// is fine on loopback, as for configured endpoints */
	body = "{\"issuer\":\"http://127.0.0.1:8080/generic\","
	       "\"token_endpoint\":\"http://localhost:8080/t\"}";
	assert_true(mo_discovery_parse("http://127.0.0.1:8080/generic", body,
				       strlen(body), &d, &e));
	assert_string_equal(d.token_endpoint, "http://localhost:8080/t");
	mo_discovery_clear(&d);
	mo_discovery_clear(NULL);
}

static void parse_bad(void **state)
{
	(void)state;
	parse_fails("", "is empty");
	parse_fails(" \n\t ", "is empty");
	parse_fails("<html><body>Sign in</body></html>", "is an HTML page*");
	parse_fails("{\"issuer\":", "is not valid JSON*");
	parse_fails("{\"issuer\":\"" ISS "\",\"token_endpoint\":\"https://a/t\"} x",
		    "is not valid JSON*");
	parse_fails("[\"" ISS "\"]", "is not a JSON object");
	parse_fails("\"" ISS "\"", "is not*");
	parse_fails("{\"token_endpoint\":\"https://idp.example.com/t\"}",
		    "has no issuer");
	parse_fails("{\"issuer\":42,\"token_endpoint\":\"https://a/t\"}",
		    "has no issuer");
	parse_fails("{\"issuer\":\"" ISS "\",\"issuer\":\"" ISS "\","
		    "\"token_endpoint\":\"https://a/t\"}", "is not valid JSON*");
	parse_fails("{\"issuer\":\"" ISS "\"}", "has no token_endpoint");
	parse_fails("{\"issuer\":\"" ISS "\",\"token_endpoint\":null}",
		    "has no token_endpoint");
	parse_fails("{\"issuer\":\"" ISS "\",\"token_endpoint\":7}",
		    "has a token_endpoint that is not a string");
	parse_fails("{\"issuer\":\"" ISS "\",\"token_endpoint\":[\"https://a/t\"]}",
		    "has a token_endpoint that is not a string");
}

static void issuer_must_match(void **state)
{
	(void)state;
	/* RFC 8414 3.3: identical, so none of these near misses pass */
	parse_fails("{\"issuer\":\"https://evil.example.net/realms/mail\","
		    "\"token_endpoint\":\"https://evil.example.net/t\"}",
		    "names issuer \"https://evil.example.net/realms/mail\", "
		    "not the configured \"" ISS "\" (they must be equal)");
	parse_fails("{\"issuer\":\"" ISS "/\",\"token_endpoint\":\"https://a/t\"}",
		    "names issuer*");
	parse_fails("{\"issuer\":\"https://IDP.example.com/realms/mail\","
		    "\"token_endpoint\":\"https://a/t\"}", "names issuer*");
	/* jansson refuses \u0000 (no JSON_ALLOW_NUL): no "ISS\0x" trick */
	parse_fails("{\"issuer\":\"" ISS "\\u0000x\",\"token_endpoint\":\"https://a/t\"}",
		    "is not valid JSON*");
	parse_fails("{\"issuer\":\"https://idp.example.com/realms\","
		    "\"token_endpoint\":\"https://a/t\"}", "names issuer*");
	/* what a lying issuer says reaches the message only as printable ASCII */
	parse_fails("{\"issuer\":\"\\u001b[31mx\\n\",\"token_endpoint\":\"https://a/t\"}",
		    "names issuer \"?[31mx?\", not*");
}

static void endpoints_checked(void **state)
{
	(void)state;
	parse_fails("{\"issuer\":\"" ISS "\",\"token_endpoint\":"
		    "\"http://idp.example.com/token\"}",
		    "has a token_endpoint \"http://idp.example.com/token\" that "
		    "is plain http:// to a host that is not loopback*");
	parse_fails("{\"issuer\":\"" ISS "\",\"token_endpoint\":\"https://a/t\","
		    "\"device_authorization_endpoint\":\"http://10.0.0.1/d\"}",
		    "has a device_authorization_endpoint*plain http://*");
	parse_fails("{\"issuer\":\"" ISS "\",\"token_endpoint\":\"https://a/t\","
		    "\"authorization_endpoint\":\"javascript:alert(1)\"}",
		    "has a authorization_endpoint*");
	parse_fails("{\"issuer\":\"" ISS "\",\"token_endpoint\":\"ftp://a/t\"}",
		    "*is not an https:// URL");
	parse_fails("{\"issuer\":\"" ISS "\",\"token_endpoint\":\"/oauth2/token\"}",
		    "*is not a valid URL");
	parse_fails("{\"issuer\":\"" ISS "\",\"token_endpoint\":\"https://a/t x\"}",
		    "*is not a valid URL");
	parse_fails("{\"issuer\":\"" ISS "\",\"token_endpoint\":\"https://a/t\","
		    "\"revocation_endpoint\":\"https://a/r\\u0000.evil\"}",
		    "is not valid JSON*");
	parse_fails("{\"issuer\":\"" ISS "\",\"token_endpoint\":\"https://a/t\","
		    "\"revocation_endpoint\":{}}", "*not a string");
}

/* ------------------------------------------------------------ apply */

static void account_init(struct mo_account_config *a, enum mo_flow flow)
{
	memset(a, 0, sizeof(*a));
	a->name = (char *)"gen";
	a->provider = MO_PROVIDER_GENERIC;
	a->flow = flow;
	a->issuer = (char *)ISS;
	a->needs_discovery = true;
}

/* generic_issuer - BASE/generic, shared as the config has its issuer */
static const char *generic_issuer(const char *base)
{
	char *iss = g_strconcat(base, "/generic", NULL);
	const char *one = mo_config_shared(iss);

	g_free(iss);
	return one;
}

static void account_clear(struct mo_account_config *a)
{
	memset(a, 0, sizeof(*a));	/* the endpoints are shared strings */
}

static void apply_per_flow(void **state)
{
	struct mo_discovery only_token = {
		.issuer = (char *)ISS, .token_endpoint = (char *)"https://i/t",
	};
	struct mo_discovery all = {
		.issuer = (char *)ISS, .token_endpoint = (char *)"https://i/t",
		.device_authorization_endpoint = (char *)"https://i/d",
		.authorization_endpoint = (char *)"https://i/a",
		.revocation_endpoint = (char *)"https://i/r",
	};
	struct mo_discovery none = {.issuer = (char *)ISS};
	struct mo_account_config a;
	GError *e = NULL;

	(void)state;
	/* device needs device_authorization_endpoint: A stays as it was */
	account_init(&a, MO_FLOW_DEVICE);
	assert_false(mo_discovery_apply(&a, &only_token, &e));
	assert_true(g_error_matches(e, MO_DISCOVERY_ERROR, MO_DISCOVERY_ERROR_INVALID));
	assert_true(g_pattern_match_simple(
		"account gen: the metadata of issuer " ISS " has no "
		"device_authorization_endpoint, which flow device needs*", e->message));
	g_clear_error(&e);
	assert_true(a.needs_discovery);
	assert_null(a.token_endpoint);

	/* authcode needs authorization_endpoint */
	account_init(&a, MO_FLOW_AUTHCODE);
	assert_false(mo_discovery_apply(&a, &only_token, &e));
	assert_true(g_pattern_match_simple("*has no authorization_endpoint, "
					   "which flow authcode needs*", e->message));
	g_clear_error(&e);
	assert_true(a.needs_discovery);

	/* every flow needs token_endpoint */
	account_init(&a, MO_FLOW_CLIENT_CREDENTIALS);
	assert_false(mo_discovery_apply(&a, &none, &e));
	assert_true(g_pattern_match_simple("*has no token_endpoint*", e->message));
	g_clear_error(&e);

	/* client-credentials needs nothing but the token endpoint */
	account_init(&a, MO_FLOW_CLIENT_CREDENTIALS);
	assert_true(mo_discovery_apply(&a, &only_token, &e));
	assert_null(e);
	assert_false(a.needs_discovery);
	assert_string_equal(a.token_endpoint, "https://i/t");
	assert_null(a.device_authorization_endpoint);
	account_clear(&a);

	/* everything is copied (fresh strings), the issuer stays */
	account_init(&a, MO_FLOW_DEVICE);
	assert_true(mo_discovery_apply(&a, &all, &e));
	assert_false(a.needs_discovery);
	assert_string_equal(a.issuer, ISS);
	assert_string_equal(a.token_endpoint, "https://i/t");
	assert_ptr_not_equal(a.token_endpoint, all.token_endpoint);
	assert_string_equal(a.device_authorization_endpoint, "https://i/d");
	assert_string_equal(a.authorization_endpoint, "https://i/a");
	assert_string_equal(a.revocation_endpoint, "https://i/r");
	account_clear(&a);

	/* an endpoint the account already has is kept */
	account_init(&a, MO_FLOW_AUTHCODE);
	a.revocation_endpoint = "https://mine/r";
	assert_true(mo_discovery_apply(&a, &all, &e));
	assert_string_equal(a.revocation_endpoint, "https://mine/r");
	assert_string_equal(a.authorization_endpoint, "https://i/a");
	account_clear(&a);

	/* an account without discovery: resolve_sync has nothing to do */
	account_init(&a, MO_FLOW_DEVICE);
	a.needs_discovery = false;
	assert_true(mo_discovery_resolve_sync(&a, &e));
	assert_null(a.token_endpoint);
}

/* ------------------------------------------------------------ urls */

static void check_urls(const char *issuer, const char *const *want)
{
	char **got = mo_discovery_urls(issuer);
	size_t i;

	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	for (i = 0; want[i]; i++) {
		assert_non_null(got[i]);
		assert_string_equal(got[i], want[i]);
	}
	assert_null(got[i]);
	g_strfreev(got);
}

static void well_known_urls(void **state)
{
	(void)state;
	check_urls("https://idp.example.com", (const char *const[]){
		"https://idp.example.com/.well-known/oauth-authorization-server",
		"https://idp.example.com/.well-known/openid-configuration", NULL});
	check_urls("https://idp.example.com/", (const char *const[]){
		"https://idp.example.com/.well-known/oauth-authorization-server",
		"https://idp.example.com/.well-known/openid-configuration", NULL});
	/* a path: RFC 8414's form first, then appended, OIDC, RFC 8414 s. 5 */
	check_urls("https://idp.example.com:8443/realms/mail", (const char *const[]){
		"https://idp.example.com:8443/.well-known/oauth-authorization-server/realms/mail",
		"https://idp.example.com:8443/realms/mail/.well-known/oauth-authorization-server",
		"https://idp.example.com:8443/realms/mail/.well-known/openid-configuration",
		"https://idp.example.com:8443/.well-known/openid-configuration/realms/mail",
		NULL});
	check_urls("http://127.0.0.1:9/generic//", (const char *const[]){
		"http://127.0.0.1:9/.well-known/oauth-authorization-server/generic",
		"http://127.0.0.1:9/generic/.well-known/oauth-authorization-server",
		"http://127.0.0.1:9/generic/.well-known/openid-configuration",
		"http://127.0.0.1:9/.well-known/openid-configuration/generic", NULL});
	check_urls("idp.example.com/realms", NULL);
	check_urls("https:///realms", NULL);
	check_urls("https://idp.example.com/r?tenant=1", NULL);
	check_urls("https://idp.example.com#x", NULL);
	check_urls(NULL, NULL);
}

/* ------------------------------------------------------------ live */

/*
 * A small HTTP server in a child process: answers every connection (one
 * request each, then close) from a table of paths; any other path gets
 * 404. "%BASE%" in a body becomes http://127.0.0.1:PORT. Each request's
 * line and Accept header go to a pipe, one line per request.
 */
struct route {
	const char *path;
	long status;
	const char *body;
};

struct server {
	pid_t pid;
	int port;
	int log;	/* read end of the request log */
	char *base;
};

static void serve(int ls, int log, const char *base, const struct route *routes)
{
	for (;;) {
		char req[8192], method[16] = "", path[1024] = "", *out;
		const char *wants;
		size_t n = 0;
		long status = 404;
		int fd = accept(ls, NULL, NULL);
		GString *body;
		char *line;

		if (fd < 0)
			_exit(1);
		body = g_string_new("{\"error\":\"not_found\"}");
		while (n < sizeof(req) - 1) {
			ssize_t k = read(fd, req + n, sizeof(req) - 1 - n);

			if (k <= 0)
				break;
			n += (size_t)k;
			req[n] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[n] = '\0';
		if (sscanf(req, "%15s %1023s", method, path) != 2)
			_exit(1);
		wants = strcasestr(req, "\r\nAccept: application/json\r\n") ?
			 "json" : "other";
		line = g_strdup_printf("%s %s %s\n", method, path, wants);
		if (write(log, line, strlen(line)) < 0)
			_exit(1);
		g_free(line);
		for (const struct route *r = routes; r->path; r++) {
			if (strcmp(r->path, path) != 0)
				continue;
			status = r->status;
			g_string_assign(body, r->body);
			break;
		}
		for (char *p; (p = strstr(body->str, "%BASE%"));) {
			gssize at = p - body->str;

			g_string_erase(body, at, 6);
			g_string_insert(body, at, base);
		}
		out = g_strdup_printf("HTTP/1.1 %ld X\r\nContent-Type: application/"
				      "json\r\nContent-Length: %zu\r\nConnection: "
				      "close\r\n\r\n%s", status, body->len,
				      body->str);
		if (write(fd, out, strlen(out)) < 0)
			_exit(1);
		g_free(out);
		g_string_free(body, TRUE);
		shutdown(fd, SHUT_WR);
		while (read(fd, req, sizeof(req)) > 0)
			;
		close(fd);
	}
}

static struct server server_start(const struct route *routes)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	struct server s;
	int ls = socket(AF_INET, SOCK_STREAM, 0), p[2];

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(ls >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(ls, 8), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &al), 0);
	assert_int_equal(pipe(p), 0);
	s.port = ntohs(a.sin_port);
	s.base = g_strdup_printf("http://127.0.0.1:%d", s.port);
	fflush(NULL);
	s.pid = fork();
	assert_true(s.pid >= 0);
	if (s.pid == 0) {
		close(p[0]);
		alarm(20);
		serve(ls, p[1], s.base, routes);
	}
	close(ls);
	close(p[1]);
	s.log = p[0];
	return s;
}

/* server_stop - stop it; returns what it was asked, one request per line */
static char *server_stop(struct server *s)
{
	GString *log = g_string_new("");
	char buf[4096];
	ssize_t k;
	int st;

	kill(s->pid, SIGTERM);
	waitpid(s->pid, &st, 0);
	while ((k = read(s->log, buf, sizeof(buf))) > 0)
		g_string_append_len(log, buf, k);
	close(s->log);
	g_free(s->base);
	return g_string_free(log, FALSE);
}

struct got {
	GMainLoop *loop;
	int calls;
	struct mo_discovery d;
	GError *error;
};

static void on_result(const struct mo_discovery *d, const GError *error,
		      void *ud)
{
	struct got *g = ud;

	g->calls++;
	if (error) {
		g->error = g_error_copy(error);
	} else {
		g->d.issuer = g_strdup(d->issuer);
		g->d.token_endpoint = g_strdup(d->token_endpoint);
		g->d.device_authorization_endpoint =
			g_strdup(d->device_authorization_endpoint);
	}
	g_main_loop_quit(g->loop);
}

/*
 * fetch - discover ISSUER (SUFFIX after the server's base, or a full URL
 * when SUFFIX starts with "http") from a server answering ROUTES; fills G
 * and returns the server's request log
 */
static char *fetch(const struct route *routes, const char *suffix,
		   struct got *g)
{
	struct server s = server_start(routes);
	GMainContext *ctx = g_main_context_new();
	struct mo_http *h = mo_http_new(ctx);
	struct mo_account_config a;
	char *issuer = g_str_has_prefix(suffix, "http") ? g_strdup(suffix) :
		       g_strconcat(s.base, suffix, NULL);

	memset(g, 0, sizeof(*g));
	g->loop = g_main_loop_new(ctx, FALSE);
	account_init(&a, MO_FLOW_DEVICE);
	a.issuer = issuer;
	assert_non_null(mo_discovery_fetch(h, &a, on_result, g));
	assert_int_equal(g->calls, 0);		/* never from inside */
	g_main_loop_run(g->loop);
	assert_int_equal(g->calls, 1);
	mo_http_free(h);
	g_main_loop_unref(g->loop);
	g_main_context_unref(ctx);
	g_free(issuer);
	return server_stop(&s);
}

static void got_clear(struct got *g)
{
	mo_discovery_clear(&g->d);
	if (g->error)
		g_error_free(g->error);
	memset(g, 0, sizeof(*g));
}

#define DOC(iss) "{\"issuer\":\"" iss "\",\"token_endpoint\":\"%BASE%/t\"," \
		 "\"device_authorization_endpoint\":\"%BASE%/d\"}"

static void live_rfc8414_first(void **state)
{
	static const struct route routes[] = {
		{"/.well-known/oauth-authorization-server/generic", 200,
		 DOC("%BASE%/generic")},
		{"/generic/.well-known/openid-configuration", 200,
		 "{\"issuer\":\"wrong\"}"},
		{NULL, 0, NULL},
	};
	struct got g;
	char *log = fetch(routes, "/generic", &g);

	(void)state;
	assert_null(g.error);
	assert_string_equal(log, "GET /.well-known/oauth-authorization-server/"
			    "generic json\n");
	assert_true(g_str_has_suffix(g.d.token_endpoint, "/t"));
	assert_true(g_str_has_suffix(g.d.issuer, "/generic"));
	assert_true(g_str_has_suffix(g.d.device_authorization_endpoint, "/d"));
	got_clear(&g);
	g_free(log);
}

static void live_falls_back_on_404(void **state)
{
	static const struct route oidc[] = {
		{"/generic/.well-known/openid-configuration", 200,
		 DOC("%BASE%/generic")},
		{NULL, 0, NULL},
	};
	static const struct route gone[] = {
		{"/.well-known/oauth-authorization-server/generic", 410, "gone"},
		{"/generic/.well-known/oauth-authorization-server", 200,
		 DOC("%BASE%/generic/")},
		{NULL, 0, NULL},
	};
	static const struct route root[] = {
		{"/.well-known/openid-configuration", 200, DOC("%BASE%")},
		{NULL, 0, NULL},
	};
	struct got g;
	char *log = fetch(oidc, "/generic", &g);

	(void)state;
	assert_null(g.error);
	assert_string_equal(log,
			    "GET /.well-known/oauth-authorization-server/generic json\n"
			    "GET /generic/.well-known/oauth-authorization-server json\n"
			    "GET /generic/.well-known/openid-configuration json\n");
	assert_non_null(g.d.token_endpoint);
	got_clear(&g);
	g_free(log);

	log = fetch(gone, "/generic/", &g);	/* trailing slash dropped */
	assert_null(g.error);
	assert_string_equal(log,
			    "GET /.well-known/oauth-authorization-server/generic json\n"
			    "GET /generic/.well-known/oauth-authorization-server json\n");
	got_clear(&g);
	g_free(log);

	/* an issuer without a path: two places only */
	log = fetch(root, "", &g);
	assert_null(g.error);
	assert_string_equal(log,
			    "GET /.well-known/oauth-authorization-server json\n"
			    "GET /.well-known/openid-configuration json\n");
	got_clear(&g);
	g_free(log);
}

static void live_failures(void **state)
{
	static const struct route nothing[] = {{NULL, 0, NULL}};
	static const struct route busy[] = {
		{"/.well-known/oauth-authorization-server/generic", 503, "busy"},
		{NULL, 0, NULL},
	};
	static const struct route liar[] = {
		{"/.well-known/oauth-authorization-server/generic", 200,
		 DOC("https://login.evil.example")},
		{NULL, 0, NULL},
	};
	static const struct route forbidden[] = {
		{"/.well-known/oauth-authorization-server/generic", 403, "{}"},
		{NULL, 0, NULL},
	};
	static const struct route plain_http[] = {
		{"/.well-known/oauth-authorization-server/generic", 200,
		 "{\"issuer\":\"%BASE%/generic\",\"token_endpoint\":"
		 "\"http://idp.example.com/token\"}"},
		{NULL, 0, NULL},
	};
	struct got g;
	char *log = fetch(nothing, "/generic", &g);

	(void)state;
	assert_true(g_error_matches(g.error, MO_DISCOVERY_ERROR,
				    MO_DISCOVERY_ERROR_INVALID));
	assert_true(g_pattern_match_simple(
		"account gen: issuer http://127.0.0.1:*/generic publishes no "
		"metadata (http://127.0.0.1:*/.well-known/oauth-authorization-"
		"server/generic and 3 other well-known URLs answered 404): check "
		"issuer, or set token_endpoint instead", g.error->message));
	assert_string_equal(log,
			    "GET /.well-known/oauth-authorization-server/generic json\n"
			    "GET /generic/.well-known/oauth-authorization-server json\n"
			    "GET /generic/.well-known/openid-configuration json\n"
			    "GET /.well-known/openid-configuration/generic json\n");
	got_clear(&g);
	g_free(log);

	log = fetch(busy, "/generic", &g);
	assert_true(g_error_matches(g.error, MO_DISCOVERY_ERROR,
				    MO_DISCOVERY_ERROR_TRANSIENT));
	assert_true(g_pattern_match_simple("account gen: the metadata of issuer "
					   "*/generic is not available now (*"
					   "/generic answered HTTP 503)",
					   g.error->message));
	got_clear(&g);
	g_free(log);

	log = fetch(liar, "/generic", &g);
	assert_true(g_error_matches(g.error, MO_DISCOVERY_ERROR,
				    MO_DISCOVERY_ERROR_INVALID));
	assert_true(g_pattern_match_simple(
		"account gen: the metadata at http://127.0.0.1:*/.well-known/"
		"oauth-authorization-server/generic names issuer "
		"\"https://login.evil.example\", not the configured "
		"\"http://127.0.0.1:*/generic\" (they must be equal): check "
		"issuer or the identity provider", g.error->message));
	got_clear(&g);
	g_free(log);

	log = fetch(forbidden, "/generic", &g);
	assert_true(g_error_matches(g.error, MO_DISCOVERY_ERROR,
				    MO_DISCOVERY_ERROR_INVALID));
	assert_true(g_pattern_match_simple("*answered HTTP 403 instead of the "
					   "metadata*", g.error->message));
	got_clear(&g);
	g_free(log);

	log = fetch(plain_http, "/generic", &g);
	assert_true(g_error_matches(g.error, MO_DISCOVERY_ERROR,
				    MO_DISCOVERY_ERROR_INVALID));
	assert_true(g_pattern_match_simple("*has a token_endpoint \"http://idp."
					   "example.com/token\" that is plain "
					   "http://*", g.error->message));
	got_clear(&g);
	g_free(log);
}

static void live_unreachable_and_refused(void **state)
{
	static const struct route nothing[] = {{NULL, 0, NULL}};
	struct server s = server_start(nothing);
	char *closed = g_strdup_printf("http://127.0.0.1:%d/generic", s.port);
	struct got g;
	char *log;

	(void)state;
	g_free(server_stop(&s));	/* nobody listens there now */
	log = fetch(nothing, closed, &g);
	assert_true(g_error_matches(g.error, MO_DISCOVERY_ERROR,
				    MO_DISCOVERY_ERROR_TRANSIENT));
	assert_true(g_pattern_match_simple("account gen: cannot fetch the "
					   "metadata of issuer http://127.0.0.1:"
					   "*/generic from *: *", g.error->message));
	assert_string_equal(log, "");
	got_clear(&g);
	g_free(log);
	g_free(closed);

	/* plain http:// to a host that is not loopback never leaves */
	log = fetch(nothing, "http://idp.example.com/generic", &g);
	assert_true(g_error_matches(g.error, MO_DISCOVERY_ERROR,
				    MO_DISCOVERY_ERROR_INVALID));
	assert_true(g_pattern_match_simple("*refusing plain http:// to "
					   "idp.example.com*", g.error->message));
	got_clear(&g);
	g_free(log);

	/* not a URL at all: reported later, from the main context */
	log = fetch(nothing, "http-less", &g);
	assert_true(g_error_matches(g.error, MO_DISCOVERY_ERROR,
				    MO_DISCOVERY_ERROR_INVALID));
	assert_true(g_pattern_match_simple("account gen: issuer http-less is "
					   "not a URL*", g.error->message));
	got_clear(&g);
	g_free(log);
}

static void never_called(const struct mo_discovery *d, const GError *error,
			 void *ud)
{
	(void)d;
	(void)error;
	(void)ud;
	fail_msg("a cancelled discovery called back");
}

static gboolean quit_soon(gpointer loop)
{
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

static void live_cancel(void **state)
{
	static const struct route routes[] = {{NULL, 0, NULL}};
	struct server s = server_start(routes);
	GMainContext *ctx = g_main_context_new();
	struct mo_http *h = mo_http_new(ctx);
	GMainLoop *loop = g_main_loop_new(ctx, FALSE);
	struct mo_account_config a;
	struct mo_discovery_call *c;
	GSource *t;

	(void)state;
	account_init(&a, MO_FLOW_DEVICE);
	a.issuer = generic_issuer(s.base);
	c = mo_discovery_fetch(h, &a, never_called, NULL);
	assert_non_null(c);
	mo_discovery_cancel(c);
	assert_int_equal(mo_http_in_flight(h), 0);
	a.issuer = "nonsense";	/* the early-failure path */
	mo_discovery_cancel(mo_discovery_fetch(h, &a, never_called, NULL));
	mo_discovery_cancel(NULL);
	assert_null(mo_discovery_fetch(NULL, &a, never_called, NULL));
	assert_null(mo_discovery_fetch(h, NULL, never_called, NULL));
	assert_null(mo_discovery_fetch(h, &a, NULL, NULL));
	t = g_timeout_source_new(200);
	g_source_set_callback(t, quit_soon, loop, NULL);
	g_source_attach(t, ctx);
	g_source_unref(t);
	g_main_loop_run(loop);
	mo_http_free(h);
	g_main_loop_unref(loop);
	g_main_context_unref(ctx);
	g_free(server_stop(&s));
}

static void resolve_sync(void **state)
{
	static const struct route routes[] = {
		{"/.well-known/oauth-authorization-server/generic", 200,
		 DOC("%BASE%/generic")},
		{NULL, 0, NULL},
	};
	static const struct route no_device[] = {
		{"/.well-known/oauth-authorization-server/generic", 200,
		 "{\"issuer\":\"%BASE%/generic\",\"token_endpoint\":\"%BASE%/t\"}"},
		{NULL, 0, NULL},
	};
	struct server s = server_start(routes);
	struct mo_account_config a;
	GError *e = NULL;
	char *want;

	(void)state;
	account_init(&a, MO_FLOW_DEVICE);
	a.issuer = generic_issuer(s.base);
	assert_true(mo_discovery_resolve_sync(&a, &e));
	assert_null(e);
	assert_false(a.needs_discovery);
	want = g_strconcat(s.base, "/t", NULL);
	assert_string_equal(a.token_endpoint, want);
	g_free(want);
	want = g_strconcat(s.base, "/d", NULL);
	assert_string_equal(a.device_authorization_endpoint, want);
	g_free(want);
	assert_true(mo_discovery_resolve_sync(&a, &e));	/* done already */
	account_clear(&a);
	g_free(server_stop(&s));

	/* the flow needs what the metadata does not have */
	s = server_start(no_device);
	account_init(&a, MO_FLOW_DEVICE);
	a.issuer = generic_issuer(s.base);
	assert_false(mo_discovery_resolve_sync(&a, &e));
	assert_true(g_pattern_match_simple("*has no device_authorization_endpoint*",
					   e->message));
	g_clear_error(&e);
	assert_true(a.needs_discovery);
	assert_null(a.token_endpoint);
	account_clear(&a);
	g_free(server_stop(&s));
}

/* mo_http_get: a GET carries no form */
static void got_http(const struct mo_http_response *r, void *ud)
{
	struct got *g = ud;

	g->calls++;
	g->error = r->curl_code ? g_error_new_literal(MO_DISCOVERY_ERROR, 0,
						      r->error) : NULL;
	g_main_loop_quit(g->loop);
}

static void http_get_refuses_fields(void **state)
{
	GMainContext *ctx = g_main_context_new();
	struct mo_http *h = mo_http_new(ctx);
	struct mo_http_field f = {.name = "a", .value = "b"};
	struct mo_http_request req = {
		.url = "http://127.0.0.1:9/x", .fields = &f, .n_fields = 1,
	};
	struct got g = {.loop = g_main_loop_new(ctx, FALSE)};

	(void)state;
	assert_null(mo_http_get(NULL, &req, got_http, &g));
	assert_non_null(mo_http_get(h, &req, got_http, &g));
	g_main_loop_run(g.loop);
	assert_int_equal(g.calls, 1);
	assert_non_null(g.error);
	assert_string_equal(g.error->message, "a GET request carries no form fields");
	g_error_free(g.error);
	mo_http_free(h);
	g_main_loop_unref(g.loop);
	g_main_context_unref(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_good),
		cmocka_unit_test(parse_bad),
		cmocka_unit_test(issuer_must_match),
		cmocka_unit_test(endpoints_checked),
		cmocka_unit_test(apply_per_flow),
		cmocka_unit_test(well_known_urls),
		cmocka_unit_test(live_rfc8414_first),
		cmocka_unit_test(live_falls_back_on_404),
		cmocka_unit_test(live_failures),
		cmocka_unit_test(live_unreachable_and_refused),
		cmocka_unit_test(live_cancel),
		cmocka_unit_test(resolve_sync),
		cmocka_unit_test(http_get_refuses_fields),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("discovery", tests, NULL, NULL);
}
