/* SPDX-License-Identifier: MIT */
/*
 * test-login.c - the pure parts of `mailoauth login`: PKCE (RFC 7636
 * appendix B), the authorization URL and its escaping, the redirect's
 * query, the request line the browser sends to the loopback listener, a
 * pasted redirect address, the state check, the QR code drawing, whom a
 * JWT access token names, and the exit statuses of failures.
 */
#define _GNU_SOURCE
#include "unit.h"

#include "login.h"
#include "login_url.h"
#include "qrcode.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ PKCE */

static void pkce_rfc7636_appendix_b(void **state)
{
	char *c = mo_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");

	(void)state;
	assert_string_equal(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	g_free(c);
	assert_null(mo_pkce_challenge(NULL));
}

static bool b64url_chars(const char *s)
{
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789-_") == strlen(s);
}

static void pkce_verifier_shape(void **state)
{
	char *a = mo_pkce_verifier_new(), *b = mo_pkce_verifier_new();
	char *c;

	(void)state;
	assert_non_null(a);
	assert_in_range(strlen(a), 43, 128);
	assert_true(b64url_chars(a));
	assert_string_not_equal(a, b);
	c = mo_pkce_challenge(a);
	assert_int_equal(strlen(c), 43);	/* SHA-256, unpadded */
	assert_true(b64url_chars(c));
	g_free(c);
	mo_oauth_secret_free(a);
	mo_oauth_secret_free(b);
}

static void state_shape(void **state)
{
	char *a = mo_login_state_new(), *b = mo_login_state_new();

	(void)state;
	assert_int_equal(strlen(a), 22);
	assert_true(b64url_chars(a));
	assert_string_not_equal(a, b);
	g_free(a);
	g_free(b);
}

static void b64url_vectors(void **state)
{
	static const unsigned char ff[] = { 0xfb, 0xff };
	char *s;

	(void)state;
	s = mo_b64url((const unsigned char *)"", 0);
	assert_string_equal(s, "");
	g_free(s);
	s = mo_b64url((const unsigned char *)"f", 1);
	assert_string_equal(s, "Zg");
	g_free(s);
	s = mo_b64url((const unsigned char *)"foobar", 6);
	assert_string_equal(s, "Zm9vYmFy");
	g_free(s);
	s = mo_b64url(ff, sizeof(ff));
	assert_string_equal(s, "-_8");		/* "+/8=" in plain base64 */
	g_free(s);
}

/* ------------------------------------------------------------ the URL */

static void url_microsoft(void **state)
{
	struct mo_authcode_request r = {
		.endpoint = "https://login.example.com/contoso/oauth2/v2.0/authorize",
		.client_id = "0000-1111",
		.redirect_uri = "http://127.0.0.1:50123/",
		.scopes = "https://outlook.office.com/SMTP.Send offline_access",
		.state = "st-ate_1",
		.challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		.login_hint = "a+b&c=d@example.com",
	};
	char *u = mo_authcode_url(&r);

	(void)state;
	assert_string_equal(u,
		"https://login.example.com/contoso/oauth2/v2.0/authorize"
		"?client_id=0000-1111&response_type=code"
		"&redirect_uri=http%3A%2F%2F127.0.0.1%3A50123%2F"
		"&scope=https%3A%2F%2Foutlook.office.com%2FSMTP.Send%20offline_access"
		"&state=st-ate_1"
		"&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
		"&code_challenge_method=S256"
		"&login_hint=a%2Bb%26c%3Dd%40example.com");
	g_free(u);
}

static void url_google_and_query(void **state)
{
	struct mo_authcode_request r = {
		.endpoint = "https://idp.example/auth?tenant=x y",
		.client_id = "id.apps.example",
		.redirect_uri = "http://127.0.0.1:8/",
		.scopes = "https://mail.google.com/",
		.state = "s",
		.challenge = "c",
		.google = true,
	};
	char *u = mo_authcode_url(&r);

	(void)state;
	/* the endpoint's own query is kept; ours follows with '&' */
	assert_true(g_str_has_prefix(u, "https://idp.example/auth?tenant=x y&client_id="));
	assert_true(g_str_has_suffix(u, "&code_challenge_method=S256"
					"&access_type=offline&prompt=consent"));
	assert_null(strstr(u, "login_hint"));
	g_free(u);
	r.state = NULL;
	assert_null(mo_authcode_url(&r));
	assert_null(mo_authcode_url(NULL));
}

/* ------------------------------------------------------------ the query */

static int q(const char *s, struct mo_redirect *r)
{
	return mo_redirect_parse_query(s, strlen(s), r);
}

static void query_code_state(void **state)
{
	struct mo_redirect r;

	(void)state;
	assert_int_equal(q("code=1.AbC-_~.x%2Fy&state=abc&session_state=z", &r), 0);
	assert_string_equal(r.code, "1.AbC-_~.x/y");
	assert_string_equal(r.state, "abc");
	assert_null(r.error);
	mo_redirect_clear(&r);
	assert_null(r.code);
	/* order does not matter; empty pieces are tolerated */
	assert_int_equal(q("state=s&&code=c&", &r), 0);
	assert_string_equal(r.code, "c");
	assert_string_equal(r.state, "s");
	mo_redirect_clear(&r);
	/* a code without state parses (the state check refuses it later) */
	assert_int_equal(q("code=c", &r), 0);
	assert_null(r.state);
	mo_redirect_clear(&r);
}

static void query_error(void **state)
{
	struct mo_redirect r;

	(void)state;
	assert_int_equal(q("error=access_denied&error_description=AADSTS65004%3A+"
			   "User+declined%20consent.&state=s", &r), 0);
	assert_null(r.code);
	assert_string_equal(r.error, "access_denied");
	assert_string_equal(r.error_description,
			    "AADSTS65004: User declined consent.");
	mo_redirect_clear(&r);
	/* control characters and UTF-8 never reach the terminal */
	assert_int_equal(q("error=x%1B%5B2J&error_description=caf%C3%A9%0Aok", &r), 0);
	assert_string_equal(r.error, "x?[2J");
	assert_string_equal(r.error_description, "caf???ok");
	mo_redirect_clear(&r);
}

static void query_long_description(void **state)
{
	GString *s = g_string_new("error=e&error_description=");
	struct mo_redirect r;

	(void)state;
	for (int i = 0; i < 1000; i++)
		g_string_append_c(s, 'x');
	assert_int_equal(q(s->str, &r), 0);
	assert_int_equal(strlen(r.error_description), MO_REDIRECT_DESC_MAX);
	mo_redirect_clear(&r);
	g_string_free(s, TRUE);
}

static void query_malformed(void **state)
{
	static const char *const bad[] = {
		"code=a&code=b",		/* twice */
		"code=a&state=s&state=s",
		"code=a%2",			/* short escape */
		"code=a%zz",			/* not hex */
		"code=a%",
		"code=a%00b",			/* NUL */
		"state=s&code=a%20b",		/* space in a code */
		"code=a+b",			/* '+' is a space */
		"code=",			/* empty code */
		"code=x&state=caf%C3%A9",	/* state not ASCII */
		"error=",			/* empty error */
		"code=x&st%zzate=1",		/* bad escape in a name */
	};
	struct mo_redirect r;
	char *big;

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		int ret = q(bad[i], &r);

		if (ret != -EINVAL)
			fail_msg("%s: %d, expected -EINVAL", bad[i], ret);
		assert_null(r.code);
		assert_null(r.state);
	}
	assert_int_equal(q("", &r), -ENOENT);
	assert_int_equal(q("state=s&foo=bar", &r), -ENOENT);
	assert_int_equal(q("error_description=only", &r), -ENOENT);
	big = g_strnfill(MO_REDIRECT_MAX + 1, 'a');
	memcpy(big, "code=", 5);
	assert_int_equal(q(big, &r), -EINVAL);
	g_free(big);
}

/* ------------------------------------------------------------ request line */

static int req(const char *s, struct mo_redirect *r)
{
	return mo_redirect_parse_request(s, strlen(s), r);
}

static void request_line(void **state)
{
	struct mo_redirect r;

	(void)state;
	assert_int_equal(req("GET /?code=abc&state=xyz HTTP/1.1\r\n"
			     "Host: 127.0.0.1:5000\r\nUser-Agent: t\r\n\r\n", &r), 0);
	assert_string_equal(r.code, "abc");
	assert_string_equal(r.state, "xyz");
	mo_redirect_clear(&r);
	assert_int_equal(req("GET /?error=access_denied&state=x HTTP/1.0\n\n", &r), 0);
	assert_string_equal(r.error, "access_denied");
	mo_redirect_clear(&r);
	/* not for us: another path, or "/" without code or error */
	assert_int_equal(req("GET /favicon.ico HTTP/1.1\r\n\r\n", &r), -ENOENT);
	assert_int_equal(req("GET /x?code=a&state=b HTTP/1.1\r\n\r\n", &r), -ENOENT);
	assert_int_equal(req("GET / HTTP/1.1\r\n\r\n", &r), -ENOENT);
	assert_int_equal(req("GET /?hello=1 HTTP/1.1\r\n\r\n", &r), -ENOENT);
	/* other methods */
	assert_int_equal(req("POST /?code=a HTTP/1.1\r\n\r\n", &r), -EOPNOTSUPP);
	assert_int_equal(req("HEAD / HTTP/1.1\r\n\r\n", &r), -EOPNOTSUPP);
}

static void request_line_malformed(void **state)
{
	static const char *const bad[] = {
		"GET /?code=a HTTP/1.1",		/* no line end */
		"\r\n",
		"GET\r\n",
		"GET /?code=a\r\n",			/* no version */
		"GET /?code=a HTTP/2\r\n",
		"GET /?code=a HTTP/1.1 x\r\n",
		"GET  /?code=a HTTP/1.1\r\n",		/* two spaces */
		"GET http://127.0.0.1/?code=a HTTP/1.1\r\n",
		"GET /?code=a%zz&state=s HTTP/1.1\r\n",
		"GET /?code=a&code=b HTTP/1.1\r\n",
		"GE\tT /?code=a HTTP/1.1\r\n",
		"GET /?code=\x80 HTTP/1.1\r\n",
	};
	struct mo_redirect r;

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		int ret = req(bad[i], &r);

		if (ret != -EINVAL)
			fail_msg("request %zu: %d, expected -EINVAL", i, ret);
		assert_null(r.code);
	}
}

/* ------------------------------------------------------------ pasted */

#define RURI "http://127.0.0.1:50123/"

static void pasted_ok(void **state)
{
	static const char *const good[] = {
		RURI "?code=C1&state=S1",
		"  " RURI "?code=C1&state=S1\r\n",
		"HTTP://127.0.0.1:50123/?code=C1&state=S1",
		"127.0.0.1:50123/?code=C1&state=S1",	/* as some bars show it */
		RURI "?code=C1&state=S1&session_state=x#",
		RURI "?state=S1&code=C1#frag=1",
	};
	struct mo_redirect r;

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
		int ret = mo_redirect_parse_pasted(good[i], RURI, &r);

		if (ret != 0)
			fail_msg("%s: %d", good[i], ret);
		assert_string_equal(r.code, "C1");
		assert_string_equal(r.state, "S1");
		mo_redirect_clear(&r);
	}
	assert_int_equal(mo_redirect_parse_pasted(
		RURI "?error=invalid_scope&error_description=AADSTS70011%3A+bad&state=S1",
		RURI, &r), 0);
	assert_string_equal(r.error, "invalid_scope");
	assert_string_equal(r.error_description, "AADSTS70011: bad");
	mo_redirect_clear(&r);
}

static void pasted_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"   \n",
		"hello",
		"?code=C1&state=S1",			/* no address */
		"code=C1&state=S1",
		"http://127.0.0.1:50124/?code=C1&state=S1",	/* another port */
		"http://127.0.0.1:5012/?code=C1&state=S1",
		"http://localhost:50123/?code=C1&state=S1",	/* not what we sent */
		"https://127.0.0.1:50123/?code=C1&state=S1",
		"http://127.0.0.1:50123/cb?code=C1&state=S1",	/* another path */
		"http://127.0.0.1:50123/?code=C1 &state=S1",	/* a space inside */
		"http://127.0.0.1:50123/?code=C1&code=C2&state=S1",
		"http://127.0.0.1:50123/?code=C%1&state=S1",
	};
	struct mo_redirect r;

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		int ret = mo_redirect_parse_pasted(bad[i], RURI, &r);

		if (ret != -EINVAL)
			fail_msg("'%s': %d, expected -EINVAL", bad[i], ret);
		assert_null(r.code);
	}
	assert_int_equal(mo_redirect_parse_pasted(RURI, RURI, &r), -ENOENT);
	assert_int_equal(mo_redirect_parse_pasted(RURI "?state=S1", RURI, &r),
			 -ENOENT);
	assert_int_equal(mo_redirect_parse_pasted(NULL, RURI, &r), -EINVAL);
	assert_int_equal(mo_redirect_parse_pasted("x", NULL, &r), -EINVAL);
}

static void state_check(void **state)
{
	struct mo_redirect r = {0};

	(void)state;
	assert_false(mo_redirect_state_ok(&r, "abc"));
	r.state = g_strdup("abc");
	assert_true(mo_redirect_state_ok(&r, "abc"));
	assert_false(mo_redirect_state_ok(&r, "abd"));
	assert_false(mo_redirect_state_ok(&r, "ab"));
	assert_false(mo_redirect_state_ok(&r, "abcd"));
	assert_false(mo_redirect_state_ok(&r, NULL));
	assert_false(mo_redirect_state_ok(NULL, "abc"));
	mo_redirect_clear(&r);
}

/* ------------------------------------------------------------ QR code */

#define FULL  "\xe2\x96\x88"
#define UPPER "\xe2\x96\x80"

/* cells - the number of characters (code points) of one line */
static size_t cells(const char *line)
{
	return (size_t)g_utf8_strlen(line, -1);
}

static void qr_geometry(void **state)
{
	int width = 0;
	char *qr = mo_qr_render("https://microsoft.com/devicelogin", false, &width);
	char **lines;
	size_t n;
	GString *finder = g_string_new(NULL);

	(void)state;
	assert_non_null(qr);
	assert_true(width >= 21 + 2 * MO_QR_QUIET);
	assert_int_equal((width - 2 * MO_QR_QUIET - 21) % 4, 0);	/* 21 + 4v */
	lines = g_strsplit(qr, "\n", -1);
	n = g_strv_length(lines);
	assert_string_equal(lines[n - 1], "");		/* ends with a newline */
	assert_int_equal(n - 1, (size_t)(width + 1) / 2);
	for (size_t i = 0; i + 1 < n; i++)
		assert_int_equal(cells(lines[i]), (size_t)width);
	/* the quiet zone: the first line (rows -2 and -1) is blank */
	assert_int_equal(strspn(lines[0], " "), (size_t)width);
	/* rows 0 and 1 of the top-left finder: a full top edge, sides */
	g_string_append(finder, "  " FULL);
	for (int i = 0; i < 5; i++)
		g_string_append(finder, UPPER);
	g_string_append(finder, FULL " ");
	assert_true(g_str_has_prefix(lines[1], finder->str));
	g_string_free(finder, TRUE);
	g_strfreev(lines);
	g_free(qr);
}

static void qr_ansi_and_limits(void **state)
{
	char *qr = mo_qr_render("x", true, NULL);
	char *big;

	(void)state;
	assert_true(g_str_has_prefix(qr, "\033[30;47m"));
	assert_non_null(strstr(qr, "\033[0m\n"));
	g_free(qr);
	assert_null(mo_qr_render("", false, NULL));
	assert_null(mo_qr_render(NULL, false, NULL));
	big = g_strnfill(MO_QR_MAX_TEXT + 1, 'a');
	assert_null(mo_qr_render(big, false, NULL));
	g_free(big);
}

/* ------------------------------------------------------------ token user */

static char *jwt(const char *payload)
{
	char *p = mo_b64url((const unsigned char *)payload, strlen(payload));
	char *t = g_strdup_printf("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.%s.c2ln", p);

	g_free(p);
	return t;
}

static void token_user(void **state)
{
	char *t, *u;

	(void)state;
	t = jwt("{\"aud\":\"x\",\"unique_name\":\"u@x\",\"upn\":\"bob@example.com\"}");
	u = mo_login_token_user(t);
	assert_string_equal(u, "bob@example.com");
	g_free(u);
	g_free(t);
	t = jwt("{\"preferred_username\":\"carol@example.com\"}");
	u = mo_login_token_user(t);
	assert_string_equal(u, "carol@example.com");
	g_free(u);
	g_free(t);
	t = jwt("{\"sub\":\"123\"}");		/* app-only: nobody */
	assert_null(mo_login_token_user(t));
	g_free(t);
	t = jwt("{\"upn\":\"has space\"}");	/* not an identity we print */
	assert_null(mo_login_token_user(t));
	g_free(t);
	t = jwt("[1,2]");
	assert_null(mo_login_token_user(t));
	g_free(t);
	assert_null(mo_login_token_user("ya29.opaque-google-token"));
	assert_null(mo_login_token_user("a.!!!.c"));
	assert_null(mo_login_token_user("abc"));
	assert_null(mo_login_token_user(NULL));
}

/* ------------------------------------------------------------ exit status */

static void exit_statuses(void **state)
{
	static const struct { enum mo_oauth_class cls; int status; } map[] = {
		{ MO_OAUTH_TRANSIENT, MO_EXIT_TEMPFAIL },
		{ MO_OAUTH_CONFIG, MO_EXIT_CONFIG },
		{ MO_OAUTH_ADMIN_REQUIRED, MO_EXIT_CONFIG },
		{ MO_OAUTH_LOGIN_REQUIRED, MO_EXIT_LOGIN },
		{ MO_OAUTH_DEVICE_EXPIRED, MO_EXIT_LOGIN },
		{ MO_OAUTH_DEVICE_BAD_CODE, MO_EXIT_LOGIN },
		{ MO_OAUTH_DEVICE_DECLINED, MO_EXIT_NOPERM },
		{ MO_OAUTH_DEVICE_PENDING, MO_EXIT_SOFTWARE },
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(map); i++) {
		struct mo_oauth_error err = { .cls = map[i].cls };

		assert_int_equal(mo_login_exit_for_error(&err), map[i].status);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pkce_rfc7636_appendix_b),
		cmocka_unit_test(pkce_verifier_shape),
		cmocka_unit_test(state_shape),
		cmocka_unit_test(b64url_vectors),
		cmocka_unit_test(url_microsoft),
		cmocka_unit_test(url_google_and_query),
		cmocka_unit_test(query_code_state),
		cmocka_unit_test(query_error),
		cmocka_unit_test(query_long_description),
		cmocka_unit_test(query_malformed),
		cmocka_unit_test(request_line),
		cmocka_unit_test(request_line_malformed),
		cmocka_unit_test(pasted_ok),
		cmocka_unit_test(pasted_bad),
		cmocka_unit_test(state_check),
		cmocka_unit_test(qr_geometry),
		cmocka_unit_test(qr_ansi_and_limits),
		cmocka_unit_test(token_user),
		cmocka_unit_test(exit_statuses),
	};

	return cmocka_run_group_tests_name("login", tests, NULL, NULL);
}
