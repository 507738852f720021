/* SPDX-License-Identifier: MIT */
/*
 * test-oauth.c - token-helper/oauth.c (answer parsing, failure
 * classification, messages, JWT client assertions) and the pure parts of
 * token-helper/http.c, plus a few real transfers through http.c against a
 * one-shot HTTP server forked on loopback
 *
 * Golden bodies live in tests/unit/data/oauth/ (MO_TEST_DATA overrides the
 * directory); the JWT tests need the openssl command.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "unit.h"
#include "http.h"
#include "oauth.h"
#include "proto.h"
#include "saslmsg.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define ACCOUNT "work"

/* ------------------------------------------------------------ helpers */

static char *data_path(const char *name)
{
	const char *dir = getenv("MO_TEST_DATA");

	return g_build_filename(dir ? dir : "tests/unit/data/oauth", name, NULL);
}

static char *load(const char *name, size_t *len)
{
	char *path = data_path(name), *s = NULL;
	gsize n = 0;

	if (!g_file_get_contents(path, &s, &n, NULL))
		fail_msg("cannot read %s (run from the top directory or set "
			 "MO_TEST_DATA)", path);
	g_free(path);
	*len = n;
	return s;
}

static struct mo_http_response resp(long status, const char *body, size_t len)
{
	struct mo_http_response r;

	memset(&r, 0, sizeof(r));
	r.status = status;
	r.body = (char *)body;
	r.len = len;
	r.retry_after = -1;
	return r;
}

/* parse BODY as a token answer; returns the class, leaves ERR filled */
static enum mo_oauth_class classify_body(long status, const char *body,
					 enum mo_oauth_grant grant,
					 struct mo_oauth_error *err)
{
	struct mo_http_response r = resp(status, body, strlen(body));
	struct mo_oauth_tokens t;
	int rc = mo_oauth_parse_token_response(&r, grant, ACCOUNT, &t, err);

	if (rc == 0) {
		mo_oauth_tokens_clear(&t);
		return MO_OAUTH_OK;
	}
	assert_int_equal(rc, -EPROTO);
	assert_null(t.access_token);
	assert_non_null(err->message);
	assert_non_null(err->detail);
	return err->cls;
}

static void assert_no_secret(const struct mo_oauth_error *err, const char *s)
{
	const char *fields[] = {err->message, err->detail, err->error,
				err->description, err->trace_id};

	for (size_t i = 0; i < G_N_ELEMENTS(fields); i++)
		if (fields[i] && strstr(fields[i], s))
			fail_msg("a secret leaked into an error field: %s",
				 fields[i]);
}

/* ------------------------------------------------------------ success */

static void entra_refresh_ok(void **state)
{
	struct mo_oauth_tokens t;
	struct mo_oauth_error err;
	struct mo_http_response r;
	size_t len;
	char *body = load("entra-refresh-ok.json", &len);

	(void)state;
	r = resp(200, body, len);
	assert_int_equal(mo_oauth_parse_token_response(
		&r, MO_OAUTH_GRANT_REFRESH, ACCOUNT, &t, &err), 0);
	assert_int_equal(err.cls, MO_OAUTH_OK);
	assert_null(err.message);
	assert_true(strncmp(t.access_token, "eyJ0eXAi", 8) == 0);
	assert_true(mo_token_valid(t.access_token, strlen(t.access_token)));
	assert_non_null(t.refresh_token);
	assert_true(strncmp(t.refresh_token, "0.AXEA", 6) == 0);
	assert_int_equal(t.expires_in, 4724);
	assert_string_equal(t.scope, "https://outlook.office.com/IMAP."
			    "AccessAsUser.All https://outlook.office.com/"
			    "SMTP.Send");
	mo_oauth_tokens_clear(&t);
	assert_null(t.access_token);
	mo_oauth_error_clear(&err);
	g_free(body);
}

static void google_refresh_keeps_old_refresh_token(void **state)
{
	struct mo_oauth_tokens t;
	struct mo_oauth_error err;
	struct mo_http_response r;
	size_t len;
	char *body = load("google-refresh-ok.json", &len);

	(void)state;
	r = resp(200, body, len);
	assert_int_equal(mo_oauth_parse_token_response(
		&r, MO_OAUTH_GRANT_REFRESH, ACCOUNT, &t, &err), 0);
	assert_true(strncmp(t.access_token, "ya29.", 5) == 0);
	assert_null(t.refresh_token);	/* no rotation: caller keeps its own */
	assert_int_equal(t.expires_in, 3599);
	mo_oauth_tokens_clear(&t);
	g_free(body);

	body = load("google-authcode-ok.json", &len);
	r = resp(200, body, len);
	assert_int_equal(mo_oauth_parse_token_response(
		&r, MO_OAUTH_GRANT_AUTH_CODE, ACCOUNT, &t, &err), 0);
	assert_true(strncmp(t.refresh_token, "1//0g", 5) == 0);
	mo_oauth_tokens_clear(&t);
	g_free(body);

	body = load("entra-client-credentials-ok.json", &len);
	r = resp(200, body, len);
	assert_int_equal(mo_oauth_parse_token_response(
		&r, MO_OAUTH_GRANT_CLIENT_CREDENTIALS, ACCOUNT, &t, &err), 0);
	assert_null(t.refresh_token);
	assert_null(t.scope);
	mo_oauth_tokens_clear(&t);
	g_free(body);
}

static void success_variants(void **state)
{
	static const struct {
		const char *extra;	/* replaces members of ok_body */
		const char *body;	/* or a whole body */
		long expires;		/* 0: refused */
	} cases[] = {
		{NULL, "{\"token_type\":\"Bearer\",\"access_token\":\"abc\"}",
		 3600},				/* expires_in missing */
		{NULL, "{\"token_type\":\"bearer\",\"access_token\":\"abc\","
		 "\"expires_in\":\"3599\"}", 3599},	/* string, lower case */
		{NULL, "{\"token_type\":\"BEARER\",\"access_token\":\"a=\","
		 "\"expires_in\":59.9}", 59},
		{NULL, "{\"token_type\":\"Bearer\",\"access_token\":\"abc\","
		 "\"expires_in\":31536000}", 31536000},	/* one year: ok */
		{NULL, "{\"token_type\":\"Bearer\",\"access_token\":\"abc\","
		 "\"refresh_token\":null,\"id_token\":\"x.y.z\"}", 3600},
		{NULL, "{\"token_type\":\"Bearer\",\"access_token\":\"abc\","
		 "\"refresh_token\":\"\"}", 3600},	/* empty: none */
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct mo_http_response r = resp(200, cases[i].body,
						 strlen(cases[i].body));
		struct mo_oauth_tokens t;
		struct mo_oauth_error err;

		if (mo_oauth_parse_token_response(&r, MO_OAUTH_GRANT_REFRESH,
						  ACCOUNT, &t, &err) != 0)
			fail_msg("case %zu refused: %s", i, err.message);
		assert_int_equal(t.expires_in, cases[i].expires);
		assert_null(t.refresh_token);
		mo_oauth_tokens_clear(&t);
		mo_oauth_error_clear(&err);
	}
}

/* a 200 that must not be served: every one is TRANSIENT (keep the token) */
static void unusable_success_refused(void **state)
{
	char *big = g_malloc(MO_TOKEN_MAX + 2);
	char *ok_big, *bad_big;
	const char *bodies[] = {
		"{\"token_type\":\"mac\",\"access_token\":\"abc\"}",
		"{\"access_token\":\"abc\",\"expires_in\":3599}",
		"{\"token_type\":\"Bearer\",\"access_token\":\"a bc\"}",
		"{\"token_type\":\"Bearer\",\"access_token\":\"a\\u0001bc\"}",
		"{\"token_type\":\"Bearer\",\"access_token\":\"a\\nbc\"}",
		"{\"token_type\":\"Bearer\",\"access_token\":\"a\\u0000bc\"}",
		"{\"token_type\":\"Bearer\",\"access_token\":\"=abc\"}",
		"{\"token_type\":\"Bearer\",\"access_token\":\"\"}",
		"{\"token_type\":\"Bearer\",\"access_token\":42}",
		"{\"token_type\":\"Bearer\"}",
		"{\"token_type\":\"Bearer\",\"access_token\":\"abc\","
		"\"expires_in\":0}",
		"{\"token_type\":\"Bearer\",\"access_token\":\"abc\","
		"\"expires_in\":-5}",
		"{\"token_type\":\"Bearer\",\"access_token\":\"abc\","
		"\"expires_in\":31536001}",
		"{\"token_type\":\"Bearer\",\"access_token\":\"abc\","
		"\"expires_in\":\"soon\"}",
		"{\"token_type\":\"Bearer\",\"access_token\":\"abc\","
		"\"refresh_token\":\"0.A\\u0001x\"}",
		"{\"token_type\":\"Bearer\",\"access_token\":\"abc\","
		"\"refresh_token\":17}",
		"{\"token_type\":\"Bearer\",\"access_token\":\"abc\","
		"\"access_token\":\"def\"}",			/* duplicate */
		"[{\"token_type\":\"Bearer\",\"access_token\":\"abc\"}]",
		"{\"token_type\":\"Bearer\",\"access_token\":\"abc\"} x",
		"{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
		"",
		"   \r\n",
		"null",
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(bodies); i++) {
		struct mo_oauth_error err;

		if (classify_body(200, bodies[i], MO_OAUTH_GRANT_REFRESH,
				  &err) != MO_OAUTH_TRANSIENT)
			fail_msg("case %zu (%s): class %s", i, bodies[i],
				 mo_oauth_class_name(err.cls));
		assert_non_null(err.reason);
		assert_non_null(strstr(err.message, "'" ACCOUNT "'"));
		mo_oauth_error_clear(&err);
	}

	/* MO_TOKEN_MAX bytes pass, one more does not */
	memset(big, 'A', MO_TOKEN_MAX + 1);
	big[MO_TOKEN_MAX] = '\0';
	ok_big = g_strdup_printf("{\"token_type\":\"Bearer\","
				 "\"access_token\":\"%s\"}", big);
	big[MO_TOKEN_MAX] = 'A';
	big[MO_TOKEN_MAX + 1] = '\0';
	bad_big = g_strdup_printf("{\"token_type\":\"Bearer\","
				  "\"access_token\":\"%s\"}", big);
	{
		struct mo_oauth_error err;

		assert_int_equal(classify_body(200, ok_big,
					       MO_OAUTH_GRANT_REFRESH, &err),
				 MO_OAUTH_OK);
		mo_oauth_error_clear(&err);
		assert_int_equal(classify_body(200, bad_big,
					       MO_OAUTH_GRANT_REFRESH, &err),
				 MO_OAUTH_TRANSIENT);
		assert_non_null(strstr(err.message, "12288"));
		mo_oauth_error_clear(&err);
	}
	g_free(ok_big);
	g_free(bad_big);
	g_free(big);
}

static void broken_bodies(void **state)
{
	static const struct {
		const char *file;
		long status;
		const char *reason_has;
	} cases[] = {
		{"malformed.json", 200, "not valid JSON"},
		{"truncated.json", 200, "not valid JSON"},
		{"captive-portal.html", 200, "HTML"},
		{"bad-gateway.html", 502, NULL},
		{"captive-portal.html", 503, NULL},
		{"truncated.json", 500, NULL},
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct mo_oauth_error err;
		size_t len;
		char *body = load(cases[i].file, &len);

		assert_int_equal(classify_body(cases[i].status, body,
					       MO_OAUTH_GRANT_REFRESH, &err),
				 MO_OAUTH_TRANSIENT);
		if (cases[i].reason_has)
			assert_non_null(strstr(err.reason,
					       cases[i].reason_has));
		mo_oauth_error_clear(&err);
		g_free(body);
	}
}

static void huge_body(void **state)
{
	size_t n = MO_OAUTH_MAX_BODY + 100;
	char *body = g_malloc(n + 1);
	struct mo_http_response r;
	struct mo_oauth_tokens t;
	struct mo_oauth_error err;

	(void)state;
	memset(body, 'A', n);
	memcpy(body, "{\"token_type\":\"Bearer\",\"access_token\":\"", 39);
	memcpy(body + n - 2, "\"}", 2);
	body[n] = '\0';
	/* what http.c hands over when it cut the body */
	r = resp(200, body, MO_OAUTH_MAX_BODY);
	r.truncated = true;
	r.curl_code = CURLE_FILESIZE_EXCEEDED;
	snprintf(r.error, sizeof(r.error), "the response body is larger "
		 "than 1048576 bytes");
	assert_int_equal(mo_oauth_parse_token_response(
		&r, MO_OAUTH_GRANT_REFRESH, ACCOUNT, &t, &err), -EPROTO);
	assert_int_equal(err.cls, MO_OAUTH_TRANSIENT);
	assert_non_null(strstr(err.message, "1 MiB"));
	mo_oauth_error_clear(&err);

	/* and a body that is simply too long, whoever produced it */
	r = resp(200, body, n);
	assert_int_equal(mo_oauth_parse_token_response(
		&r, MO_OAUTH_GRANT_REFRESH, ACCOUNT, &t, &err), -EPROTO);
	assert_int_equal(err.cls, MO_OAUTH_TRANSIENT);
	assert_string_equal(err.reason, "the body is larger than 1 MiB");
	mo_oauth_error_clear(&err);
	g_free(body);
}

/* ------------------------------------------------------------ errors */

static void golden_errors(void **state)
{
	static const struct {
		const char *file;
		long status;
		enum mo_oauth_grant grant;
		enum mo_oauth_class cls;
		const char *needle;	/* must be in the message */
	} cases[] = {
		{"entra-70000.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_LOGIN_REQUIRED, "AADSTS70000"},
		{"entra-70008.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_LOGIN_REQUIRED, "AADSTS70008"},
		{"entra-700082.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_LOGIN_REQUIRED, "AADSTS700082"},
		{"entra-50173.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_LOGIN_REQUIRED, "AADSTS50173, the password was "
		 "changed or sessions were revoked): run 'mailoauth login "
		 "work'"},
		{"entra-54005.json", 400, MO_OAUTH_GRANT_AUTH_CODE,
		 MO_OAUTH_LOGIN_REQUIRED, "AADSTS54005"},
		{"entra-50076.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_LOGIN_REQUIRED, "AADSTS50076"},
		{"entra-65001.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_ADMIN_REQUIRED, "AADSTS65001"},
		{"entra-53003.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_ADMIN_REQUIRED, "AADSTS53003"},
		{"entra-50105.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_ADMIN_REQUIRED, "AADSTS50105"},
		{"entra-50057.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_ADMIN_REQUIRED, "AADSTS50057"},
		{"entra-50034.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_CONFIG, "AADSTS50034"},
		{"entra-7000215.json", 401, MO_OAUTH_GRANT_CLIENT_CREDENTIALS,
		 MO_OAUTH_CONFIG, "the client secret is wrong (AADSTS7000215)"},
		{"entra-7000222.json", 401, MO_OAUTH_GRANT_CLIENT_CREDENTIALS,
		 MO_OAUTH_CONFIG, "expired (AADSTS7000222)"},
		{"entra-7000218.json", 401, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_CONFIG, "AADSTS7000218"},
		{"entra-700016.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_CONFIG, "AADSTS700016"},
		{"entra-700027.json", 401, MO_OAUTH_GRANT_CLIENT_CREDENTIALS,
		 MO_OAUTH_CONFIG, "AADSTS700027"},
		{"entra-70011.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_CONFIG, "AADSTS70011"},
		{"entra-90002.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_CONFIG, "AADSTS90002"},
		{"entra-50196.json", 429, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_TRANSIENT, "AADSTS50196"},
		{"entra-50196.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_TRANSIENT, "AADSTS50196"},
		{"entra-unknown-code.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_LOGIN_REQUIRED, "invalid_grant, AADSTS99999991"},
		{"entra-device-pending.json", 400, MO_OAUTH_GRANT_DEVICE_CODE,
		 MO_OAUTH_DEVICE_PENDING, "authorization_pending"},
		{"entra-device-slow-down.json", 400, MO_OAUTH_GRANT_DEVICE_CODE,
		 MO_OAUTH_DEVICE_SLOW_DOWN, "slow_down"},
		{"entra-device-declined.json", 400, MO_OAUTH_GRANT_DEVICE_CODE,
		 MO_OAUTH_DEVICE_DECLINED, "authorization_declined"},
		{"entra-device-expired.json", 400, MO_OAUTH_GRANT_DEVICE_CODE,
		 MO_OAUTH_DEVICE_EXPIRED, "expired_token"},
		{"entra-device-bad-code.json", 400, MO_OAUTH_GRANT_DEVICE_CODE,
		 MO_OAUTH_DEVICE_BAD_CODE, "bad_verification_code"},
		{"google-invalid-grant.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_LOGIN_REQUIRED, "refresh token has expired or was "
		 "revoked (invalid_grant): run 'mailoauth login work'"},
		{"google-invalid-client.json", 401, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_CONFIG, "invalid_client"},
		{"google-device-pending.json", 428, MO_OAUTH_GRANT_DEVICE_CODE,
		 MO_OAUTH_DEVICE_PENDING, "authorization_pending"},
		{"google-device-slow-down.json", 403, MO_OAUTH_GRANT_DEVICE_CODE,
		 MO_OAUTH_DEVICE_SLOW_DOWN, "slow_down"},
		{"google-device-access-denied.json", 403,
		 MO_OAUTH_GRANT_DEVICE_CODE, MO_OAUTH_DEVICE_DECLINED,
		 "access_denied"},
		{"google-device-access-denied.json", 403,
		 MO_OAUTH_GRANT_REFRESH, MO_OAUTH_ADMIN_REQUIRED,
		 "access_denied"},
		{"google-unknown-error.json", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_CONFIG, "something_new"},
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct mo_oauth_error err;
		size_t len;
		char *body = load(cases[i].file, &len);
		enum mo_oauth_class cls = classify_body(cases[i].status, body,
							cases[i].grant, &err);

		if (cls != cases[i].cls)
			fail_msg("%s: class %s, expected %s (%s)",
				 cases[i].file, mo_oauth_class_name(cls),
				 mo_oauth_class_name(cases[i].cls),
				 err.message);
		if (!strstr(err.message, cases[i].needle))
			fail_msg("%s: message lacks '%s': %s", cases[i].file,
				 cases[i].needle, err.message);
		assert_non_null(strstr(err.message, "account 'work'"));
		assert_true(strlen(err.message) < MO_TEXT_MAX);
		assert_int_equal(err.http_status, cases[i].status);
		g_free(body);
		mo_oauth_error_clear(&err);
	}
}

static void golden_error_fields(void **state)
{
	struct mo_oauth_error err;
	size_t len;
	char *body = load("entra-50173.json", &len);

	(void)state;
	classify_body(400, body, MO_OAUTH_GRANT_REFRESH, &err);
	assert_string_equal(err.error, "invalid_grant");
	assert_int_equal(err.n_codes, 1);
	assert_int_equal(err.codes[0], 50173);
	assert_string_equal(err.trace_id,
			    "0d2a8d6e-8d4e-4f0b-9a43-1c3f3c1d7b00");
	assert_string_equal(err.correlation_id,
			    "5b4c9f0e-3a1d-4e6b-8f7a-2d9c6e1b0a11");
	/* the first sentence only: no Trace ID, no CR/LF */
	assert_true(strncmp(err.description, "AADSTS50173: The provided "
			    "grant has expired", 40) == 0);
	assert_null(strstr(err.description, "Trace ID"));
	assert_null(strchr(err.description, '\r'));
	assert_true(strlen(err.description) <= 200);
	assert_non_null(strstr(err.detail, "codes=50173"));
	assert_non_null(strstr(err.detail, "trace_id=0d2a8d6e"));
	assert_non_null(strstr(err.detail, "error=invalid_grant"));
	assert_int_equal(err.retry_after, -1);
	mo_oauth_error_clear(&err);
	g_free(body);
}

/* Every code the design names, classified on the code alone. */
static void code_table(void **state)
{
	static const struct {
		long code;
		enum mo_oauth_class cls;
	} codes[] = {
		{50196, MO_OAUTH_TRANSIENT}, {90033, MO_OAUTH_TRANSIENT},
		{50000, MO_OAUTH_TRANSIENT}, {80001, MO_OAUTH_TRANSIENT},
		{70000, MO_OAUTH_LOGIN_REQUIRED},
		{70008, MO_OAUTH_LOGIN_REQUIRED},
		{700082, MO_OAUTH_LOGIN_REQUIRED},
		{700084, MO_OAUTH_LOGIN_REQUIRED},
		{50173, MO_OAUTH_LOGIN_REQUIRED},
		{50078, MO_OAUTH_LOGIN_REQUIRED},
		{54005, MO_OAUTH_LOGIN_REQUIRED},
		{50076, MO_OAUTH_LOGIN_REQUIRED},	/* MFA: sign in again */
		{50079, MO_OAUTH_LOGIN_REQUIRED},
		{50133, MO_OAUTH_LOGIN_REQUIRED},
		{70043, MO_OAUTH_LOGIN_REQUIRED},
		{65001, MO_OAUTH_ADMIN_REQUIRED},
		{65004, MO_OAUTH_ADMIN_REQUIRED},
		{53003, MO_OAUTH_ADMIN_REQUIRED},
		{53000, MO_OAUTH_ADMIN_REQUIRED},
		{530003, MO_OAUTH_ADMIN_REQUIRED},
		{50105, MO_OAUTH_ADMIN_REQUIRED},
		{50057, MO_OAUTH_ADMIN_REQUIRED},
		{90094, MO_OAUTH_ADMIN_REQUIRED},
		{500011, MO_OAUTH_ADMIN_REQUIRED},
		{7000215, MO_OAUTH_CONFIG}, {7000222, MO_OAUTH_CONFIG},
		{700016, MO_OAUTH_CONFIG}, {70011, MO_OAUTH_CONFIG},
		{700027, MO_OAUTH_CONFIG}, {50027, MO_OAUTH_CONFIG},
		{700024, MO_OAUTH_CONFIG}, {90002, MO_OAUTH_CONFIG},
		{900023, MO_OAUTH_CONFIG}, {50034, MO_OAUTH_CONFIG},
		{7000218, MO_OAUTH_CONFIG}, {50011, MO_OAUTH_CONFIG},
		{1002012, MO_OAUTH_CONFIG}, {50194, MO_OAUTH_CONFIG},
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(codes); i++) {
		struct mo_oauth_error err;
		char needle[32];
		/* "error" deliberately says something else: codes win */
		char *body = g_strdup_printf(
			"{\"error\":\"invalid_grant\",\"error_description\":"
			"\"AADSTS%ld: text.\",\"error_codes\":[%ld]}",
			codes[i].code, codes[i].code);
		enum mo_oauth_class cls = classify_body(
			400, body, MO_OAUTH_GRANT_REFRESH, &err);

		assert_int_equal(mo_oauth_code_class(codes[i].code),
				 (int)codes[i].cls);
		if (cls != codes[i].cls)
			fail_msg("AADSTS%ld: %s, expected %s", codes[i].code,
				 mo_oauth_class_name(cls),
				 mo_oauth_class_name(codes[i].cls));
		snprintf(needle, sizeof(needle), "AADSTS%ld", codes[i].code);
		assert_non_null(strstr(err.message, needle));
		assert_non_null(strstr(err.message, "'" ACCOUNT "'"));
		mo_oauth_error_clear(&err);
		g_free(body);
	}
	assert_int_equal(mo_oauth_code_class(12345), -1);
}

static void error_strings(void **state)
{
	static const struct {
		const char *error;
		long status;
		enum mo_oauth_grant grant;
		enum mo_oauth_class cls;
	} cases[] = {
		{"invalid_grant", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_LOGIN_REQUIRED},
		{"invalid_grant", 400, MO_OAUTH_GRANT_AUTH_CODE,
		 MO_OAUTH_LOGIN_REQUIRED},
		{"interaction_required", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_LOGIN_REQUIRED},
		{"consent_required", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_ADMIN_REQUIRED},
		{"access_denied", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_ADMIN_REQUIRED},
		{"invalid_client", 401, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_CONFIG},
		{"unauthorized_client", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_CONFIG},
		{"invalid_scope", 400, MO_OAUTH_GRANT_REFRESH, MO_OAUTH_CONFIG},
		{"invalid_scope", 400, MO_OAUTH_DEVICE_AUTHORIZATION,
		 MO_OAUTH_CONFIG},
		{"invalid_request", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_CONFIG},
		{"unsupported_grant_type", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_CONFIG},
		{"temporarily_unavailable", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_TRANSIENT},
		{"server_error", 400, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_TRANSIENT},
		/* a temporary status outranks the error string... */
		{"invalid_grant", 500, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_TRANSIENT},
		{"invalid_client", 503, MO_OAUTH_GRANT_REFRESH,
		 MO_OAUTH_TRANSIENT},
		/* ...but not a device-flow answer */
		{"authorization_pending", 400, MO_OAUTH_GRANT_DEVICE_CODE,
		 MO_OAUTH_DEVICE_PENDING},
		{"slow_down", 429, MO_OAUTH_GRANT_DEVICE_CODE,
		 MO_OAUTH_DEVICE_SLOW_DOWN},
		{"authorization_declined", 400, MO_OAUTH_GRANT_DEVICE_CODE,
		 MO_OAUTH_DEVICE_DECLINED},
		{"access_denied", 400, MO_OAUTH_GRANT_DEVICE_CODE,
		 MO_OAUTH_DEVICE_DECLINED},
		{"expired_token", 400, MO_OAUTH_GRANT_DEVICE_CODE,
		 MO_OAUTH_DEVICE_EXPIRED},
		{"bad_verification_code", 400, MO_OAUTH_GRANT_DEVICE_CODE,
		 MO_OAUTH_DEVICE_BAD_CODE},
		{"no_such_error", 400, MO_OAUTH_GRANT_REFRESH, MO_OAUTH_CONFIG},
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct mo_oauth_error err;
		char *body = g_strdup_printf("{\"error\":\"%s\"}",
					     cases[i].error);
		enum mo_oauth_class cls = classify_body(cases[i].status, body,
							cases[i].grant, &err);

		if (cls != cases[i].cls)
			fail_msg("%s/%ld: %s, expected %s", cases[i].error,
				 cases[i].status, mo_oauth_class_name(cls),
				 mo_oauth_class_name(cases[i].cls));
		assert_non_null(strstr(err.message, cases[i].status >= 500 ?
				       "HTTP" : cases[i].error));
		mo_oauth_error_clear(&err);
		g_free(body);
	}
}

static void codes_before_strings_never_description(void **state)
{
	struct mo_oauth_error err;

	(void)state;
	/* the description names 70008, but only error and codes count */
	assert_int_equal(classify_body(400, "{\"error\":\"invalid_client\","
				       "\"error_description\":\"AADSTS70008: "
				       "expired.\"}", MO_OAUTH_GRANT_REFRESH,
				       &err), MO_OAUTH_CONFIG);
	mo_oauth_error_clear(&err);
	assert_int_equal(classify_body(400, "{\"error_description\":"
				       "\"invalid_grant AADSTS70008\"}",
				       MO_OAUTH_GRANT_REFRESH, &err),
			 MO_OAUTH_TRANSIENT);
	mo_oauth_error_clear(&err);
	/* the first known code decides; unknown ones are only reported */
	assert_int_equal(classify_body(400, "{\"error\":\"invalid_grant\","
				       "\"error_codes\":[424242,53003,70008]}",
				       MO_OAUTH_GRANT_REFRESH, &err),
			 MO_OAUTH_ADMIN_REQUIRED);
	assert_int_equal(err.n_codes, 3);
	assert_non_null(strstr(err.message, "AADSTS53003"));
	mo_oauth_error_clear(&err);
	/* a known code outranks a 5xx status */
	assert_int_equal(classify_body(500, "{\"error\":\"invalid_grant\","
				       "\"error_codes\":[70008]}",
				       MO_OAUTH_GRANT_REFRESH, &err),
			 MO_OAUTH_LOGIN_REQUIRED);
	mo_oauth_error_clear(&err);
	/* codes that are not integers are skipped; at most 8 are kept */
	assert_int_equal(classify_body(400, "{\"error\":\"invalid_grant\","
				       "\"error_codes\":[\"70008\",-1,1.5,1,2,3,"
				       "4,5,6,7,8,9,10]}",
				       MO_OAUTH_GRANT_REFRESH, &err),
			 MO_OAUTH_LOGIN_REQUIRED);
	assert_int_equal(err.n_codes, MO_OAUTH_MAX_CODES);
	assert_int_equal(err.codes[0], 1);
	mo_oauth_error_clear(&err);
	/* an error that is not a string (Graph style) is no OAuth error */
	assert_int_equal(classify_body(400, "{\"error\":{\"code\":\"x\"}}",
				       MO_OAUTH_GRANT_REFRESH, &err),
			 MO_OAUTH_TRANSIENT);
	mo_oauth_error_clear(&err);
	/* an error inside a 200 is still an error */
	assert_int_equal(classify_body(200, "{\"error\":\"invalid_grant\","
				       "\"access_token\":\"abc\","
				       "\"token_type\":\"Bearer\"}",
				       MO_OAUTH_GRANT_REFRESH, &err),
			 MO_OAUTH_LOGIN_REQUIRED);
	mo_oauth_error_clear(&err);
}

static void statuses(void **state)
{
	static const struct {
		long status;
		const char *body;
		enum mo_oauth_class cls;
	} cases[] = {
		{500, "Internal Server Error", MO_OAUTH_TRANSIENT},
		{502, "<html>Bad Gateway</html>", MO_OAUTH_TRANSIENT},
		{503, "503 injected failure", MO_OAUTH_TRANSIENT},
		{504, "", MO_OAUTH_TRANSIENT},
		{408, "", MO_OAUTH_TRANSIENT},
		{429, "", MO_OAUTH_TRANSIENT},
		{400, "<html>Bad Request</html>", MO_OAUTH_TRANSIENT},
		{401, "", MO_OAUTH_TRANSIENT},
		{404, "<html>Not Found</html>", MO_OAUTH_CONFIG},
		{405, "{}", MO_OAUTH_CONFIG},
		{302, "", MO_OAUTH_CONFIG},
		{407, "", MO_OAUTH_CONFIG},
		{204, "", MO_OAUTH_TRANSIENT},
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct mo_oauth_error err;
		enum mo_oauth_class cls = classify_body(
			cases[i].status, cases[i].body, MO_OAUTH_GRANT_REFRESH,
			&err);
		char needle[16];

		if (cls != cases[i].cls)
			fail_msg("HTTP %ld: %s (%s)", cases[i].status,
				 mo_oauth_class_name(cls), err.message);
		snprintf(needle, sizeof(needle), "HTTP %ld", cases[i].status);
		assert_non_null(strstr(err.message, needle));
		mo_oauth_error_clear(&err);
	}
}

static void retry_after(void **state)
{
	struct mo_http_response r;
	struct mo_oauth_tokens t;
	struct mo_oauth_error err;
	time_t now = 1710000000;	/* Sat, 09 Mar 2024 16:00:00 GMT */
	size_t len;
	char *body = load("entra-50196.json", &len);

	(void)state;
	assert_int_equal(mo_http_retry_after_parse("120", now), 120);
	assert_int_equal(mo_http_retry_after_parse(" 7 ", now), 7);
	assert_int_equal(mo_http_retry_after_parse("0", now), 0);
	assert_int_equal(mo_http_retry_after_parse(
		"Sat, 09 Mar 2024 16:02:00 GMT", now), 120);
	assert_int_equal(mo_http_retry_after_parse(
		"Sat, 09 Mar 2024 15:00:00 GMT", now), 0);	/* past */
	assert_int_equal(mo_http_retry_after_parse(
		"Sat, 09 Mar 2030 15:00:00 GMT", now), MO_HTTP_RETRY_AFTER_MAX);
	assert_int_equal(mo_http_retry_after_parse("99999999999999999", now),
			 MO_HTTP_RETRY_AFTER_MAX);
	assert_int_equal(mo_http_retry_after_parse("soon", now), -1);
	assert_int_equal(mo_http_retry_after_parse("12abc", now), -1);
	assert_int_equal(mo_http_retry_after_parse("-5", now), -1);
	assert_int_equal(mo_http_retry_after_parse("", now), -1);
	assert_int_equal(mo_http_retry_after_parse(NULL, now), -1);

	/* 429 + Retry-After (delta): transient, the wait is kept and said */
	r = resp(429, body, len);
	r.retry_after = mo_http_retry_after_parse("30", now);
	assert_int_equal(mo_oauth_parse_token_response(
		&r, MO_OAUTH_GRANT_REFRESH, ACCOUNT, &t, &err), -EPROTO);
	assert_int_equal(err.cls, MO_OAUTH_TRANSIENT);
	assert_int_equal(err.retry_after, 30);
	assert_non_null(strstr(err.message, "retry after 30 s"));
	assert_non_null(strstr(err.detail, "retry_after=30"));
	mo_oauth_error_clear(&err);

	/* 429 + Retry-After (HTTP date), body without OAuth error */
	r = resp(429, "Too Many Requests", 17);
	r.retry_after = mo_http_retry_after_parse(
		"Sat, 09 Mar 2024 16:01:30 GMT", now);
	assert_int_equal(mo_oauth_parse_token_response(
		&r, MO_OAUTH_GRANT_REFRESH, ACCOUNT, &t, &err), -EPROTO);
	assert_int_equal(err.cls, MO_OAUTH_TRANSIENT);
	assert_int_equal(err.retry_after, 90);
	assert_non_null(strstr(err.message, "HTTP 429"));
	assert_non_null(strstr(err.message, "retry after 90 s"));
	mo_oauth_error_clear(&err);

	/* 503 + Retry-After */
	r = resp(503, "", 0);
	r.retry_after = 5;
	assert_int_equal(mo_oauth_parse_token_response(
		&r, MO_OAUTH_GRANT_REFRESH, ACCOUNT, &t, &err), -EPROTO);
	assert_int_equal(err.cls, MO_OAUTH_TRANSIENT);
	assert_int_equal(err.retry_after, 5);
	mo_oauth_error_clear(&err);
	g_free(body);
}

static void transport(void **state)
{
	static const struct {
		int code;
		enum mo_oauth_class cls;
		const char *needle;
	} cases[] = {
		{CURLE_COULDNT_RESOLVE_HOST, MO_OAUTH_TRANSIENT, "resolved"},
		{CURLE_COULDNT_CONNECT, MO_OAUTH_TRANSIENT, "reached"},
		{CURLE_OPERATION_TIMEDOUT, MO_OAUTH_TRANSIENT, "in time"},
		{CURLE_SSL_CONNECT_ERROR, MO_OAUTH_TRANSIENT, "TLS handshake"},
		{CURLE_GOT_NOTHING, MO_OAUTH_TRANSIENT, "curl error 52"},
		{CURLE_RECV_ERROR, MO_OAUTH_TRANSIENT, "curl error 56"},
		{CURLE_SEND_ERROR, MO_OAUTH_TRANSIENT, "curl error 55"},
		{CURLE_PARTIAL_FILE, MO_OAUTH_TRANSIENT, "curl error 18"},
		{CURLE_FILESIZE_EXCEEDED, MO_OAUTH_TRANSIENT, "1 MiB"},
		{CURLE_PEER_FAILED_VERIFICATION, MO_OAUTH_CONFIG,
		 "set ca_file for account 'work'"},
		{CURLE_SSL_CACERT_BADFILE, MO_OAUTH_CONFIG, "ca_file"},
		{CURLE_SSL_CERTPROBLEM, MO_OAUTH_CONFIG, "TLS"},
		{CURLE_UNSUPPORTED_PROTOCOL, MO_OAUTH_CONFIG, "https://"},
		{CURLE_URL_MALFORMAT, MO_OAUTH_CONFIG, "https://"},
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct mo_http_response r = resp(0, "", 0);
		struct mo_oauth_tokens t;
		struct mo_oauth_error err;

		r.curl_code = cases[i].code;
		snprintf(r.error, sizeof(r.error), "curl says\r\nno %d",
			 cases[i].code);
		assert_int_equal(mo_oauth_parse_token_response(
			&r, MO_OAUTH_GRANT_REFRESH, ACCOUNT, &t, &err),
			-EPROTO);
		if (err.cls != cases[i].cls ||
		    !strstr(err.message, cases[i].needle))
			fail_msg("curl %d: %s", cases[i].code, err.message);
		assert_int_equal(err.curl_code, cases[i].code);
		assert_null(strchr(err.message, '\r'));
		mo_oauth_error_clear(&err);
	}
}

static void messages_never_hold_secrets(void **state)
{
	const char *token = "0.AXEAbWFpbG9hdXRoLXNlY3JldC1yZWZyZXNoLXRva2VuLXRo"
			    "YXQtbXVzdC1uZXZlci1iZS1sb2dnZWQ";
	struct mo_oauth_error err;
	char *body;

	(void)state;
	/* a description that quotes a token, with control characters */
	body = g_strdup_printf("{\"error\":\"invalid_grant\",\"error_codes\":"
			       "[70000],\"trace_id\":\"abc-123\","
			       "\"error_description\":\"AADSTS70000: bad "
			       "grant %s\\u0007\\u001b[31m end\\r\\nTrace ID: "
			       "abc-123\"}", token);
	classify_body(400, body, MO_OAUTH_GRANT_REFRESH, &err);
	assert_int_equal(err.cls, MO_OAUTH_LOGIN_REQUIRED);
	assert_no_secret(&err, token);
	assert_no_secret(&err, "bWFpbG9hdXRoLXNlY3JldC1yZWZyZXNo");
	assert_non_null(strstr(err.description, "[redacted]"));
	for (const char *p = err.description; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
	for (const char *p = err.detail; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
	assert_non_null(strstr(err.message, "'work'"));
	assert_non_null(strstr(err.message, "AADSTS70000"));
	assert_non_null(strstr(err.detail, "trace_id=abc-123"));
	mo_oauth_error_clear(&err);
	g_free(body);

	/* an error string or trace ID that is a token */
	body = g_strdup_printf("{\"error\":\"%s\",\"trace_id\":\"%s\"}", token,
			       token);
	classify_body(400, body, MO_OAUTH_GRANT_REFRESH, &err);
	assert_no_secret(&err, token);
	assert_null(err.trace_id);
	mo_oauth_error_clear(&err);
	g_free(body);

	/* a 200 whose access token is unusable is never echoed */
	body = g_strdup_printf("{\"token_type\":\"Bearer\",\"access_token\":"
			       "\"%s \"}", token);
	assert_int_equal(classify_body(200, body, MO_OAUTH_GRANT_REFRESH,
				       &err), MO_OAUTH_TRANSIENT);
	assert_no_secret(&err, token);
	mo_oauth_error_clear(&err);
	g_free(body);

	/* GUIDs survive scrubbing; long runs do not */
	body = g_strdup_printf("{\"error\":\"invalid_grant\","
			       "\"error_description\":\"app "
			       "'a1b2c3d4-0000-4000-8000-0123456789ab' %.40s\"}",
			       token + 10);
	classify_body(400, body, MO_OAUTH_GRANT_REFRESH, &err);
	assert_non_null(strstr(err.description,
			       "a1b2c3d4-0000-4000-8000-0123456789ab"));
	assert_non_null(strstr(err.description, "[redacted]"));
	mo_oauth_error_clear(&err);
	g_free(body);

	/* the account name is sanitised too */
	memset(&err, 0, sizeof(err));
	err.retry_after = -1;
	err.http_status = 400;
	err.error = g_strdup("invalid_grant");
	mo_oauth_classify(&err, MO_OAUTH_GRANT_REFRESH, "bad\nname");
	assert_null(strchr(err.message, '\n'));
	mo_oauth_error_clear(&err);
}

static void classify_direct(void **state)
{
	struct mo_oauth_error err;

	(void)state;
	memset(&err, 0, sizeof(err));
	err.retry_after = -1;
	err.http_status = 400;
	err.codes[0] = 7000222;
	err.n_codes = 1;
	err.error = g_strdup("invalid_client");
	mo_oauth_classify(&err, MO_OAUTH_GRANT_CLIENT_CREDENTIALS, "work");
	assert_int_equal(err.cls, MO_OAUTH_CONFIG);
	assert_string_equal(err.message, "account 'work': the client secret "
			    "has expired (AADSTS7000222): create a new one in "
			    "the app registration and run 'mailoauth login "
			    "work'");
	/* classifying again replaces message and detail (no leak) */
	mo_oauth_classify(&err, MO_OAUTH_GRANT_CLIENT_CREDENTIALS, NULL);
	assert_non_null(strstr(err.message, "account 'ACCOUNT'"));
	mo_oauth_error_clear(&err);

	assert_int_equal(mo_oauth_class_err(MO_OAUTH_TRANSIENT),
			 MO_ERR_UNAVAILABLE);
	assert_int_equal(mo_oauth_class_err(MO_OAUTH_LOGIN_REQUIRED),
			 MO_ERR_LOGIN_REQUIRED);
	assert_int_equal(mo_oauth_class_err(MO_OAUTH_ADMIN_REQUIRED),
			 MO_ERR_ADMIN_REQUIRED);
	assert_int_equal(mo_oauth_class_err(MO_OAUTH_CONFIG), MO_ERR_CONFIG);
	assert_int_equal(mo_oauth_class_err(MO_OAUTH_DEVICE_EXPIRED),
			 MO_ERR_LOGIN_REQUIRED);
	assert_string_equal(mo_oauth_class_name(MO_OAUTH_ADMIN_REQUIRED),
			    "admin-required");
}

/* ------------------------------------------------------------ device */

static void device_answers(void **state)
{
	struct mo_http_response r;
	struct mo_oauth_device d;
	struct mo_oauth_error err;
	size_t len;
	char *body = load("entra-device-start.json", &len);

	(void)state;
	r = resp(200, body, len);
	assert_int_equal(mo_oauth_parse_device_response(&r, ACCOUNT, &d, &err),
			 0);
	assert_string_equal(d.user_code, "FHKQ-MRTW");
	assert_true(strncmp(d.device_code, "DAQABIQEAAAD", 12) == 0);
	assert_string_equal(d.verification_uri,
			    "https://microsoft.com/devicelogin");
	assert_int_equal(d.expires_in, 900);
	assert_int_equal(d.interval, 5);
	assert_non_null(strstr(d.message, "FHKQ-MRTW"));
	mo_oauth_device_clear(&d);
	assert_null(d.device_code);
	g_free(body);

	body = load("google-device-start.json", &len);
	r = resp(200, body, len);
	assert_int_equal(mo_oauth_parse_device_response(&r, ACCOUNT, &d, &err),
			 0);
	assert_string_equal(d.verification_uri,
			    "https://www.google.com/device");
	assert_int_equal(d.expires_in, 1800);
	assert_null(d.message);
	mo_oauth_device_clear(&d);
	g_free(body);

	/* intervals are kept sane; missing ones default to 5 */
	{
		static const struct {
			const char *body;
			long interval;
		} iv[] = {
			{"{\"device_code\":\"dc\",\"user_code\":\"U\","
			 "\"verification_uri\":\"https://x/\",\"interval\":0}", 5},
			{"{\"device_code\":\"dc\",\"user_code\":\"U\","
			 "\"verification_uri\":\"https://x/\",\"interval\":9999}",
			 300},
			{"{\"device_code\":\"dc\",\"user_code\":\"U\","
			 "\"verification_uri\":\"https://x/\"}", 5},
		};

		for (size_t i = 0; i < G_N_ELEMENTS(iv); i++) {
			r = resp(200, iv[i].body, strlen(iv[i].body));
			assert_int_equal(mo_oauth_parse_device_response(
				&r, ACCOUNT, &d, &err), 0);
			assert_int_equal(d.interval, iv[i].interval);
			mo_oauth_device_clear(&d);
		}
	}
	/* unusable answers */
	{
		const char *bad[] = {
			"{\"user_code\":\"U\",\"verification_uri\":\"https://x/\"}",
			"{\"device_code\":\"dc\",\"verification_uri\":\"https://x/\"}",
			"{\"device_code\":\"dc\",\"user_code\":\"U\"}",
			"{\"device_code\":\"dc\",\"user_code\":\"U\","
			"\"verification_uri\":\"javascript:alert(1)\"}",
			"{\"device_code\":\"d c\",\"user_code\":\"U\","
			"\"verification_uri\":\"https://x/\"}",
			"{\"device_code\":\"dc\",\"user_code\":\"U\","
			"\"verification_uri\":\"https://x/\",\"expires_in\":0}",
		};

		for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
			r = resp(200, bad[i], strlen(bad[i]));
			assert_int_equal(mo_oauth_parse_device_response(
				&r, ACCOUNT, &d, &err), -EPROTO);
			assert_int_equal(err.cls, MO_OAUTH_TRANSIENT);
			assert_null(d.device_code);
			mo_oauth_error_clear(&err);
		}
	}
	/* Google refuses Gmail scopes on the device flow */
	body = load("google-device-invalid-scope.json", &len);
	r = resp(400, body, len);
	assert_int_equal(mo_oauth_parse_device_response(&r, ACCOUNT, &d, &err),
			 -EPROTO);
	assert_int_equal(err.cls, MO_OAUTH_CONFIG);
	assert_non_null(strstr(err.message, "flow = authcode"));
	mo_oauth_error_clear(&err);
	g_free(body);
}

/* ------------------------------------------------------------ http pure */

static void url_check(void **state)
{
	static const struct {
		const char *url;
		int r;
	} cases[] = {
		{"https://login.microsoftonline.com/x/oauth2/v2.0/token", 0},
		{"HTTPS://oauth2.googleapis.com/token", 0},
		{"http://127.0.0.1:8080/token", 0},
		{"http://127.1.2.3/token", 0},
		{"http://localhost:9/token", 0},
		{"http://LOCALHOST/token", 0},
		{"http://[::1]:8080/token", 0},
		{"http://[::ffff:127.0.0.1]/t", 0},
		{"http://example.com/token", -EPERM},
		{"http://192.0.2.1/token", -EPERM},
		{"http://127.0.0.1.example.com/token", -EPERM},
		{"http://localhost.example.com/token", -EPERM},
		{"http://[::2]/token", -EPERM},
		{"http://10.0.0.1/token", -EPERM},
		{"ftp://127.0.0.1/token", -EPROTONOSUPPORT},
		{"file:///etc/passwd", -EINVAL},
		{"gopher://127.0.0.1/", -EPROTONOSUPPORT},
		{"example.com/token", -EINVAL},
		{"https://", -EINVAL},
		{"https://exa mple.com/", -EINVAL},
		{"https://example.com/\n", -EINVAL},
		{"", -EINVAL},
		{NULL, -EINVAL},
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		int r = mo_http_url_check(cases[i].url);

		if (r != cases[i].r &&
		    !(cases[i].r == -EPROTONOSUPPORT && r == -EINVAL))
			fail_msg("%s: %d, expected %d", cases[i].url, r,
				 cases[i].r);
	}
	assert_true(mo_http_host_is_loopback("127.0.0.1"));
	assert_true(mo_http_host_is_loopback("[::1]"));
	assert_false(mo_http_host_is_loopback("128.0.0.1"));
	assert_false(mo_http_host_is_loopback(""));
	assert_false(mo_http_host_is_loopback("[::1"));
}

static void form_encode(void **state)
{
	const struct mo_http_field f[] = {
		{"grant_type", "refresh_token", false},
		{"scope", "https://outlook.office.com/SMTP.Send offline_access",
		 false},
		{"client_secret", "a+b/c=d&e~f.g_h-i", true},
		{"empty", "", false},
	};
	const struct mo_http_field bad[] = {{NULL, "x", false}};
	const struct mo_http_field unnamed[] = {{"", "x", false}};
	char *s;

	(void)state;
	s = mo_http_form_encode(f, G_N_ELEMENTS(f));
	assert_string_equal(s, "grant_type=refresh_token&scope=https%3A%2F%2F"
			    "outlook.office.com%2FSMTP.Send%20offline_access&"
			    "client_secret=a%2Bb%2Fc%3Dd%26e~f.g_h-i&empty=");
	mo_http_wipe_free(s);
	assert_null(mo_http_form_encode(bad, 1));
	assert_null(mo_http_form_encode(unnamed, 1));
	s = mo_http_form_encode(f, 0);
	assert_string_equal(s, "");
	mo_http_wipe_free(s);
}

/* ------------------------------------------------------------ live http */

/*
 * A one-shot HTTP server in a child process: accepts one connection, reads
 * the request (headers and Content-Length body), answers with STATUS,
 * HEADERS and BODY, where "%FORM%" in BODY is replaced by the request body.
 */
struct server {
	pid_t pid;
	int port;
};

static void serve_once(int ls, long status, const char *headers,
		       const char *body, int delay_ms)
{
	char req[65536], *form = "", *out;
	size_t n = 0;
	int fd = accept(ls, NULL, NULL);
	GString *b;
	char *p;

	if (fd < 0)
		_exit(1);
	for (;;) {
		ssize_t k = read(fd, req + n, sizeof(req) - 1 - n);
		char *hend, *cl;

		if (k <= 0)
			break;
		n += (size_t)k;
		req[n] = '\0';
		hend = strstr(req, "\r\n\r\n");
		if (!hend)
			continue;
		cl = strcasestr(req, "Content-Length:");
		if (!cl || n >= (size_t)(hend + 4 - req) +
		    strtoul(cl + 15, NULL, 10)) {
			form = hend + 4;
			break;
		}
	}
	b = g_string_new(body);
	if ((p = strstr(b->str, "%FORM%"))) {
		gssize at = p - b->str;

		g_string_erase(b, at, 6);
		g_string_insert(b, at, form);
	}
	if (delay_ms)
		usleep((useconds_t)delay_ms * 1000);
	out = g_strdup_printf("HTTP/1.1 %ld X\r\nContent-Type: application/"
			      "json\r\nContent-Length: %zu\r\nConnection: "
			      "close\r\n%s\r\n%s", status, b->len, headers,
			      b->str);
	n = write(fd, out, strlen(out)) < 0;
	g_free(out);
	g_string_free(b, TRUE);
	shutdown(fd, SHUT_WR);
	while (read(fd, req, sizeof(req)) > 0)
		;
	_exit(n ? 1 : 0);
}

static struct server server_start(long status, const char *headers,
				  const char *body, int delay_ms)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	struct server s;
	int ls = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(ls >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(ls, 4), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &al), 0);
	s.port = ntohs(a.sin_port);
	fflush(NULL);
	s.pid = fork();
	assert_true(s.pid >= 0);
	if (s.pid == 0) {
		alarm(20);
		serve_once(ls, status, headers, body, delay_ms);
	}
	close(ls);
	return s;
}

static void server_stop(struct server *s)
{
	int st;

	kill(s->pid, SIGTERM);
	waitpid(s->pid, &st, 0);
}

struct live {
	GMainLoop *loop;
	int calls;
	enum mo_oauth_class cls;
	char *message, *detail;
	long retry_after;
	char *access_token;
	struct mo_http_response hr;	/* for raw http calls */
	char *body;
};

static void live_tokens(const struct mo_oauth_tokens *t,
			const struct mo_oauth_error *err, void *ud)
{
	struct live *l = ud;

	l->calls++;
	if (err) {
		l->cls = err->cls;
		l->message = g_strdup(err->message);
		l->detail = g_strdup(err->detail);
		l->retry_after = err->retry_after;
	} else {
		l->cls = MO_OAUTH_OK;
		l->access_token = g_strdup(t->access_token);
	}
	g_main_loop_quit(l->loop);
}

static void live_http(const struct mo_http_response *r, void *ud)
{
	struct live *l = ud;

	l->calls++;
	l->hr = *r;
	l->body = g_strndup(r->body, r->len);
	g_main_loop_quit(l->loop);
}

static void live_clear(struct live *l)
{
	g_free(l->message);
	g_free(l->detail);
	g_free(l->access_token);
	g_free(l->body);
	g_main_loop_unref(l->loop);
}

static void live_refresh_and_scrub(void **state)
{
	const char *secret = "QmFzZTY0U2VjcmV0MTIz";	/* 20 characters */
	const char *rt = "0.AbcdefRTxy";			/* 12 characters */
	struct server s = server_start(
		401, "", "{\"error\":\"invalid_client\",\"error_codes\":"
		"[7000215],\"error_description\":\"AADSTS7000215: got "
		"%FORM%\"}", 0);
	GMainContext *ctx = g_main_context_new();
	struct mo_http *h = mo_http_new(ctx);
	struct live l = {.loop = g_main_loop_new(ctx, FALSE)};
	char *url = g_strdup_printf("http://127.0.0.1:%d/t/oauth2/v2.0/token",
				    s.port);
	struct mo_oauth_client c = {
		.account = "work", .client_id = "cid", .token_endpoint = url,
		.client_secret = secret,
	};

	(void)state;
	assert_non_null(mo_oauth_refresh(h, &c, rt, live_tokens, &l));
	g_main_loop_run(l.loop);
	assert_int_equal(l.calls, 1);
	assert_int_equal(l.cls, MO_OAUTH_CONFIG);
	assert_non_null(strstr(l.message, "AADSTS7000215"));
	/* the server echoed our form: it is in the description, scrubbed */
	assert_non_null(strstr(l.detail, "grant_type=refresh_token"));
	assert_null(strstr(l.detail, secret));
	assert_null(strstr(l.detail, rt));
	assert_null(strstr(l.message, secret));
	assert_int_equal(mo_http_in_flight(h), 0);
	server_stop(&s);
	mo_http_free(h);
	live_clear(&l);
	g_main_context_unref(ctx);
	g_free(url);
}

static void live_retry_after_date_and_token(void **state)
{
	GDateTime *when = g_date_time_new_now_utc(), *later;
	char *date, *hdr, *url;
	struct server s;
	GMainContext *ctx = g_main_context_new();
	struct mo_http *h = mo_http_new(ctx);
	struct live l = {.loop = g_main_loop_new(ctx, FALSE)};
	struct mo_oauth_client c = {.account = "work", .client_id = "cid"};

	(void)state;
	later = g_date_time_add_seconds(when, 120);
	date = g_date_time_format(later, "%a, %d %b %Y %H:%M:%S GMT");
	hdr = g_strdup_printf("Retry-After: %s\r\n", date);
	s = server_start(429, hdr, "{\"error\":\"temporarily_unavailable\"}",
			 0);
	url = g_strdup_printf("http://localhost:%d/token", s.port);
	c.token_endpoint = url;
	mo_oauth_refresh(h, &c, "rt-rt-rt-rt", live_tokens, &l);
	g_main_loop_run(l.loop);
	assert_int_equal(l.cls, MO_OAUTH_TRANSIENT);
	assert_true(l.retry_after >= 115 && l.retry_after <= 121);
	server_stop(&s);
	g_free(url);

	/* and a good answer through the same struct mo_http */
	s = server_start(200, "", "{\"token_type\":\"Bearer\",\"access_token\":"
			 "\"abc.def\",\"expires_in\":60}", 0);
	url = g_strdup_printf("http://127.0.0.1:%d/token", s.port);
	c.token_endpoint = url;
	mo_oauth_refresh(h, &c, "rt-rt-rt-rt", live_tokens, &l);
	g_main_loop_run(l.loop);
	assert_int_equal(l.cls, MO_OAUTH_OK);
	assert_string_equal(l.access_token, "abc.def");
	server_stop(&s);

	mo_http_free(h);
	live_clear(&l);
	g_main_context_unref(ctx);
	g_free(url);
	g_free(hdr);
	g_free(date);
	g_date_time_unref(later);
	g_date_time_unref(when);
}

static gboolean quit_loop(gpointer ud)
{
	g_main_loop_quit(ud);
	return G_SOURCE_REMOVE;
}

static void live_http_cap_cancel_refuse(void **state)
{
	GMainContext *ctx = g_main_context_new();
	struct mo_http *h = mo_http_new(ctx);
	struct live l = {.loop = g_main_loop_new(ctx, FALSE)};
	const struct mo_http_field f[] = {{"a", "b", false}};
	struct mo_http_request req = {.fields = f, .n_fields = 1,
				      .max_body = 10};
	struct mo_http_call *call;
	struct server s;
	char *url;

	(void)state;
	/* a body over max_body is cut and reported */
	s = server_start(200, "", "{\"0123456789abcdef\":1}", 0);
	url = g_strdup_printf("http://127.0.0.1:%d/", s.port);
	req.url = url;
	mo_http_post_form(h, &req, live_http, &l);
	g_main_loop_run(l.loop);
	assert_int_equal(l.hr.curl_code, CURLE_FILESIZE_EXCEEDED);
	assert_true(l.hr.truncated);
	assert_true(strlen(l.body) <= 10);
	server_stop(&s);
	g_free(l.body);
	l.body = NULL;
	g_free(url);

	/* cancelled: the callback never runs */
	s = server_start(200, "", "{}", 500);
	url = g_strdup_printf("http://127.0.0.1:%d/", s.port);
	req.url = url;
	req.max_body = 0;
	l.calls = 0;
	call = mo_http_post_form(h, &req, live_http, &l);
	assert_int_equal(mo_http_in_flight(h), 1);
	mo_http_cancel(call);
	assert_int_equal(mo_http_in_flight(h), 0);
	{
		GSource *t = g_timeout_source_new(700);

		g_source_set_callback(t, quit_loop, l.loop, NULL);
		g_source_attach(t, ctx);
		g_source_unref(t);
		g_main_loop_run(l.loop);
	}
	assert_int_equal(l.calls, 0);
	server_stop(&s);
	g_free(url);

	/* http:// to a host that is not loopback: refused, later, no I/O */
	req.url = "http://192.0.2.1/token";
	mo_http_post_form(h, &req, live_http, &l);
	assert_int_equal(l.calls, 0);		/* not from inside the call */
	g_main_loop_run(l.loop);
	assert_int_equal(l.calls, 1);
	assert_int_equal(l.hr.curl_code, CURLE_UNSUPPORTED_PROTOCOL);
	assert_non_null(strstr(l.hr.error, "192.0.2.1"));

	/* a refused call can be cancelled before it reports */
	call = mo_http_post_form(h, &req, live_http, &l);
	mo_http_cancel(call);
	/* and a call still in flight is dropped by mo_http_free */
	s = server_start(200, "", "{}", 300);
	url = g_strdup_printf("http://127.0.0.1:%d/", s.port);
	req.url = url;
	mo_http_post_form(h, &req, live_http, &l);
	mo_http_free(h);
	assert_int_equal(l.calls, 1);
	server_stop(&s);
	g_free(url);
	live_clear(&l);
	g_main_context_unref(ctx);
}

static void live_local_failures(void **state)
{
	GMainContext *ctx = g_main_context_new();
	struct mo_http *h = mo_http_new(ctx);
	struct live l = {.loop = g_main_loop_new(ctx, FALSE)};
	struct mo_oauth_client c = {.account = "work", .client_id = "cid",
				    .token_endpoint = "https://127.0.0.1:1/t",
				    .scopes = "api://x/.default"};

	(void)state;
	/* client credentials without secret or certificate */
	assert_non_null(mo_oauth_client_credentials(h, &c, live_tokens, &l));
	assert_int_equal(l.calls, 0);
	g_main_loop_run(l.loop);
	assert_int_equal(l.cls, MO_OAUTH_CONFIG);
	assert_non_null(strstr(l.message, "'work'"));
	g_free(l.message);
	g_free(l.detail);

	/* an unreadable key */
	c.cert_pem = "not a certificate";
	c.key_pem = "not a key";
	mo_oauth_client_credentials(h, &c, live_tokens, &l);
	g_main_loop_run(l.loop);
	assert_int_equal(l.cls, MO_OAUTH_CONFIG);
	assert_non_null(strstr(l.message, "client assertion"));
	g_free(l.message);
	g_free(l.detail);

	/* no refresh token; and a cancelled local failure stays silent */
	l.calls = 0;
	mo_oauth_cancel(mo_oauth_refresh(h, &c, NULL, live_tokens, &l));
	mo_oauth_refresh(h, &c, "", live_tokens, &l);
	g_main_loop_run(l.loop);
	assert_int_equal(l.calls, 1);
	assert_int_equal(l.cls, MO_OAUTH_CONFIG);
	g_free(l.message);
	g_free(l.detail);
	l.message = l.detail = NULL;
	assert_null(mo_oauth_refresh(NULL, &c, "x", live_tokens, &l));
	mo_http_free(h);
	live_clear(&l);
	g_main_context_unref(ctx);
}

/* ------------------------------------------------------------ JWT */

static char *tmpdir;

static void sh(const char *fmt, const char *arg)
{
	char *cmd = g_strdup_printf(fmt, arg, arg, arg);

	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
	g_free(cmd);
}

static char *tmpfile_text(const char *name)
{
	char *path = g_build_filename(tmpdir, name, NULL), *s = NULL;

	if (!g_file_get_contents(path, &s, NULL, NULL))
		fail_msg("cannot read %s", path);
	g_free(path);
	return s;
}

static int jwt_setup(void **state)
{
	(void)state;
	tmpdir = g_dir_make_tmp("test-oauth-XXXXXX", NULL);
	if (!tmpdir)
		return -1;
	sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem "
	   "-out cert.pem -days 1 -subj /CN=mailoauth-test 2>/dev/null && "
	   "openssl x509 -in cert.pem -outform DER -out cert.der && "
	   "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
	   "-out other.pem 2>/dev/null && "
	   "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
	   "-out ec.pem 2>/dev/null && "
	   "openssl req -x509 -key ec.pem -out eccert.pem -days 1 "
	   "-subj /CN=ec 2>/dev/null && "
	   "openssl req -x509 -newkey rsa:1024 -nodes -keyout short.pem "
	   "-out shortcert.pem -days 1 -subj /CN=short 2>/dev/null && "
	   "openssl pkey -in key.pem -aes256 -passout pass:s3cret "
	   "-out enc.pem", tmpdir);
	return 0;
}

static int jwt_teardown(void **state)
{
	char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);

	(void)state;
	if (system(cmd) != 0)
		return -1;
	g_free(cmd);
	g_free(tmpdir);
	return 0;
}

static guchar *b64url_decode(const char *s, size_t n, gsize *out_len)
{
	GString *t = g_string_new_len(s, (gssize)n);
	guchar *d;

	for (size_t i = 0; i < t->len; i++)
		if (t->str[i] == '-')
			t->str[i] = '+';
		else if (t->str[i] == '_')
			t->str[i] = '/';
		else if (!g_ascii_isalnum(t->str[i]))
			fail_msg("not base64url: %c", t->str[i]);
	while (t->len % 4)
		g_string_append_c(t, '=');
	d = g_base64_decode(t->str, out_len);
	g_string_free(t, TRUE);
	return d;
}

static char *b64url_encode(const guchar *d, size_t n)
{
	char *s = g_base64_encode(d, n);

	for (char *p = s; *p; p++)
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	*strchrnul(s, '=') = '\0';
	return s;
}

static void jwt_good(void **state)
{
	char *cert = tmpfile_text("cert.pem"), *key = tmpfile_text("key.pem");
	char *der = NULL, *jwt = NULL, *jwt2 = NULL, *thumb, **parts;
	char *derpath = g_build_filename(tmpdir, "cert.der", NULL);
	unsigned char md[SHA256_DIGEST_LENGTH];
	const char *aud = "https://login.microsoftonline.com/contoso/oauth2/"
			  "v2.0/token";
	GError *e = NULL;
	gsize dlen, hlen, clen, slen;
	guchar *hdr, *claims, *sig;
	json_t *h, *c;
	BIO *bio;
	X509 *x;
	EVP_PKEY *pub;
	EVP_MD_CTX *v;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(mo_jwt_client_assertion("cid-123", aud, cert, key,
						 NULL, &jwt, &e), 0);
	assert_null(e);
	parts = g_strsplit(jwt, ".", -1);
	assert_int_equal(g_strv_length(parts), 3);

	hdr = b64url_decode(parts[0], strlen(parts[0]), &hlen);
	h = json_loadb((char *)hdr, hlen, 0, NULL);
	assert_non_null(h);
	assert_string_equal(json_string_value(json_object_get(h, "alg")),
			    "RS256");
	assert_string_equal(json_string_value(json_object_get(h, "typ")),
			    "JWT");
	assert_true(g_file_get_contents(derpath, &der, &dlen, NULL));
	SHA256((unsigned char *)der, dlen, md);
	thumb = b64url_encode(md, sizeof(md));
	assert_string_equal(json_string_value(json_object_get(h, "x5t#S256")),
			    thumb);
	assert_int_equal(strlen(json_string_value(json_object_get(h, "x5t"))),
			 27);	/* SHA-1, base64url */

	claims = b64url_decode(parts[1], strlen(parts[1]), &clen);
	c = json_loadb((char *)claims, clen, 0, NULL);
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "aud")), aud);
	assert_string_equal(json_string_value(json_object_get(c, "iss")),
			    "cid-123");
	assert_string_equal(json_string_value(json_object_get(c, "sub")),
			    "cid-123");
	{
		json_int_t iat = json_integer_value(json_object_get(c, "iat"));
		json_int_t nbf = json_integer_value(json_object_get(c, "nbf"));
		json_int_t exp = json_integer_value(json_object_get(c, "exp"));
		const char *jti = json_string_value(json_object_get(c, "jti"));

		assert_true(iat >= now - 5 && iat <= now + 5);
		assert_true(nbf == iat);
		assert_int_equal(exp - iat, 600);
		assert_non_null(jti);
		assert_int_equal(strlen(jti), 36);
		assert_int_equal(jti[14], '4');	/* UUID version 4 */
	}

	/* the signature verifies with the certificate's public key */
	sig = b64url_decode(parts[2], strlen(parts[2]), &slen);
	assert_int_equal(slen, 256);
	bio = BIO_new_mem_buf(cert, -1);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	pub = X509_get_pubkey(x);
	v = EVP_MD_CTX_new();
	{
		char *signing = g_strdup_printf("%s.%s", parts[0], parts[1]);

		assert_int_equal(EVP_DigestVerifyInit(v, NULL, EVP_sha256(),
						      NULL, pub), 1);
		assert_int_equal(EVP_DigestVerify(v, sig, slen,
						  (unsigned char *)signing,
						  strlen(signing)), 1);
		signing[5] ^= 1;	/* and not for other bytes */
		EVP_MD_CTX_reset(v);
		EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL, pub);
		assert_int_not_equal(EVP_DigestVerify(
			v, sig, slen, (unsigned char *)signing,
			strlen(signing)), 1);
		g_free(signing);
	}

	/* a second assertion has another jti */
	assert_int_equal(mo_jwt_client_assertion("cid-123", aud, cert, key,
						 NULL, &jwt2, &e), 0);
	assert_string_not_equal(jwt, jwt2);

	EVP_MD_CTX_free(v);
	EVP_PKEY_free(pub);
	X509_free(x);
	BIO_free(bio);
	json_decref(h);
	json_decref(c);
	g_free(hdr);
	g_free(claims);
	g_free(sig);
	g_free(thumb);
	g_free(der);
	g_free(derpath);
	g_strfreev(parts);
	mo_oauth_secret_free(jwt);
	mo_oauth_secret_free(jwt2);
	g_free(cert);
	mo_oauth_secret_free(key);
}

static void jwt_refusals(void **state)
{
	char *cert = tmpfile_text("cert.pem"), *key = tmpfile_text("key.pem");
	char *other = tmpfile_text("other.pem"), *ec = tmpfile_text("ec.pem");
	char *eccert = tmpfile_text("eccert.pem");
	char *shortkey = tmpfile_text("short.pem");
	char *shortcert = tmpfile_text("shortcert.pem");
	char *enc = tmpfile_text("enc.pem");
	const char *aud = "https://idp/token";
	char *jwt = NULL;
	GError *e = NULL;

	(void)state;
	assert_true(mo_jwt_client_assertion("c", aud, eccert, ec, NULL, &jwt,
					    &e) < 0);
	assert_true(g_error_matches(e, MO_OAUTH_ERROR, MO_OAUTH_ERROR_KEY_TYPE));
	assert_non_null(strstr(e->message, "RSA"));
	g_clear_error(&e);
	assert_true(mo_jwt_client_assertion("c", aud, shortcert, shortkey,
					    NULL, &jwt, &e) < 0);
	assert_true(g_error_matches(e, MO_OAUTH_ERROR, MO_OAUTH_ERROR_KEY_TYPE));
	assert_non_null(strstr(e->message, "2048"));
	g_clear_error(&e);
	assert_true(mo_jwt_client_assertion("c", aud, cert, other, NULL, &jwt,
					    &e) < 0);
	assert_true(g_error_matches(e, MO_OAUTH_ERROR, MO_OAUTH_ERROR_MISMATCH));
	g_clear_error(&e);
	assert_true(mo_jwt_client_assertion("c", aud, "junk", key, NULL, &jwt,
					    &e) < 0);
	assert_true(g_error_matches(e, MO_OAUTH_ERROR, MO_OAUTH_ERROR_CERT));
	g_clear_error(&e);
	assert_true(mo_jwt_client_assertion("c", aud, cert, enc, NULL, &jwt,
					    &e) < 0);
	assert_true(g_error_matches(e, MO_OAUTH_ERROR, MO_OAUTH_ERROR_KEY));
	g_clear_error(&e);
	assert_true(mo_jwt_client_assertion("c", aud, cert, enc, "wrong", &jwt,
					    &e) < 0);
	assert_true(g_error_matches(e, MO_OAUTH_ERROR, MO_OAUTH_ERROR_KEY));
	g_clear_error(&e);
	assert_int_equal(mo_jwt_client_assertion("c", aud, cert, enc, "s3cret",
						 &jwt, &e), 0);
	mo_oauth_secret_free(jwt);
	assert_true(mo_jwt_client_assertion(NULL, aud, cert, key, NULL, &jwt,
					    &e) < 0);
	assert_null(jwt);
	g_clear_error(&e);

	g_free(cert);
	mo_oauth_secret_free(key);
	mo_oauth_secret_free(other);
	mo_oauth_secret_free(ec);
	g_free(eccert);
	mo_oauth_secret_free(shortkey);
	g_free(shortcert);
	mo_oauth_secret_free(enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(entra_refresh_ok),
		cmocka_unit_test(google_refresh_keeps_old_refresh_token),
		cmocka_unit_test(success_variants),
		cmocka_unit_test(unusable_success_refused),
		cmocka_unit_test(broken_bodies),
		cmocka_unit_test(huge_body),
		cmocka_unit_test(golden_errors),
		cmocka_unit_test(golden_error_fields),
		cmocka_unit_test(code_table),
		cmocka_unit_test(error_strings),
		cmocka_unit_test(codes_before_strings_never_description),
		cmocka_unit_test(statuses),
		cmocka_unit_test(retry_after),
		cmocka_unit_test(transport),
		cmocka_unit_test(messages_never_hold_secrets),
		cmocka_unit_test(classify_direct),
		cmocka_unit_test(device_answers),
		cmocka_unit_test(url_check),
		cmocka_unit_test(form_encode),
		cmocka_unit_test(live_refresh_and_scrub),
		cmocka_unit_test(live_retry_after_date_and_token),
		cmocka_unit_test(live_http_cap_cancel_refuse),
		cmocka_unit_test(live_local_failures),
		cmocka_unit_test(jwt_good),
		cmocka_unit_test(jwt_refusals),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("oauth", tests, jwt_setup,
					   jwt_teardown);
}
