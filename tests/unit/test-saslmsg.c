/* SPDX-License-Identifier: MIT */
/*
 * test-saslmsg.c - golden XOAUTH2/OAUTHBEARER messages and challenge parsing
 */
#define _GNU_SOURCE
#include "unit.h"
#include "saslmsg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static void xoauth2_golden(void **state)
{
	char buf[256];

	(void)state;
	/* the example of Google's XOAUTH2 documentation, before base64 */
	static const char want[] = "user=someuser@example.com\001auth=Bearer "
		"ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\001\001";

	assert_int_equal(mo_xoauth2_format(buf, sizeof(buf), "someuser@example.com",
					   "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
			 sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want));
}

static void xoauth2_refuses(void **state)
{
	char buf[256];

	(void)state;
	assert_int_equal(mo_xoauth2_format(buf, sizeof(buf), "a\001b@x", "t"), -EINVAL);
	assert_int_equal(mo_xoauth2_format(buf, sizeof(buf), "a b@x", "t"), -EINVAL);
	assert_int_equal(mo_xoauth2_format(buf, sizeof(buf), "", "t"), -EINVAL);
	assert_int_equal(mo_xoauth2_format(buf, sizeof(buf), "u@x", "t\001"), -EINVAL);
	assert_int_equal(mo_xoauth2_format(buf, sizeof(buf), "u@x", "t t"), -EINVAL);
	assert_int_equal(mo_xoauth2_format(buf, sizeof(buf), "u@x", ""), -EINVAL);
	assert_int_equal(mo_xoauth2_format(buf, 20, "u@x", "tttttttttttttttt"), -ENOBUFS);
	assert_string_equal(buf, "");
}

static void oauthbearer_golden(void **state)
{
	static const char want[] =
		"n,a=user@example.com,\001host=server.example.com\001port=143\001"
		"auth=Bearer vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==\001\001";
	char buf[256];
	int n;

	(void)state;
	/* RFC 7628 section 4.1, with the token of its example */
	n = mo_oauthbearer_format(buf, sizeof(buf), "user@example.com",
				  "server.example.com", 143, "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==");
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want));

	/* escaping of the authzid; host and port left out */
	n = mo_oauthbearer_format(buf, sizeof(buf), "a,b=c@x", NULL, 0, "tok");
	assert_memory_equal(buf, "n,a=a=2Cb=3Dc@x,\001auth=Bearer tok\001\001", (size_t)n + 1);

	/* no authzid at all */
	n = mo_oauthbearer_format(buf, sizeof(buf), NULL, "h", 0, "tok");
	assert_memory_equal(buf, "n,,\001host=h\001auth=Bearer tok\001\001", (size_t)n + 1);

	assert_int_equal(mo_oauthbearer_format(buf, sizeof(buf), "u", "h\001", 0, "t"), -EINVAL);
	assert_int_equal(mo_oauthbearer_format(buf, sizeof(buf), "u", "h", 70000, "t"), -EINVAL);
}

static void max_sizes(void **state)
{
	char *tok = malloc(8193), *buf = malloc(9000);

	(void)state;
	memset(tok, 'A', 8192);
	tok[8192] = '\0';
	assert_int_equal(mo_xoauth2_format(buf, 9000, "u@x", tok), 8192 + 23);
	assert_int_equal(mo_xoauth2_format(buf, 8192 + 23, "u@x", tok), -ENOBUFS);
	assert_int_equal(mo_xoauth2_format(buf, 8192 + 24, "u@x", tok), 8192 + 23);
	free(tok);
	free(buf);
}

static void token_syntax(void **state)
{
	(void)state;
	assert_true(mo_token_valid("abc", 3));
	assert_true(mo_token_valid("a-._~+/9==", 10));
	assert_false(mo_token_valid("==", 2));
	assert_false(mo_token_valid("a=b", 3));
	assert_false(mo_token_valid("a b", 3));
	assert_false(mo_token_valid("a\0b", 3));
	assert_false(mo_token_valid("", 0));
	assert_false(mo_token_valid("a,b", 3));
}

static void challenge_dovecot_and_google(void **state)
{
	static const char dovecot[] = "{\"status\":\"401\",\"schemes\":\"bearer\",\"scope\":\"mail\"}";
	static const char google[] = "{\n \"status\": \"400\", \"schemes\": \"Bearer\",\n"
				     " \"scope\": \"https://mail.google.com/\"}";
	static const char rfc7628[] = "{\"status\":\"invalid_token\",\"scope\":\"example_scope\","
				      "\"openid-configuration\":\"https://example.com/.well-known/openid-configuration\"}";
	struct mo_challenge c;

	(void)state;
	assert_int_equal(mo_challenge_parse(dovecot, sizeof(dovecot) - 1, &c), 0);
	assert_string_equal(c.status, "401");
	assert_string_equal(c.schemes, "bearer");
	assert_string_equal(c.scope, "mail");
	assert_non_null(strstr(mo_challenge_explain(&c), "rejected the access token"));

	assert_int_equal(mo_challenge_parse(google, sizeof(google) - 1, &c), 0);
	assert_string_equal(c.status, "400");
	assert_string_equal(c.scope, "https://mail.google.com/");

	assert_int_equal(mo_challenge_parse(rfc7628, sizeof(rfc7628) - 1, &c), 0);
	assert_string_equal(c.status, "invalid_token");
	assert_string_equal(c.schemes, "");
}

static void challenge_odd_but_valid(void **state)
{
	static const char nested[] = "{\"x\":[1,2,{\"y\":null}],\"status\":\"403\","
				     "\"n\":-1.5e3,\"t\":true,\"scope\":\"a\\u0041\\n\\u00e9\"}";
	static const char empty[] = " {} ";
	struct mo_challenge c;

	(void)state;
	assert_int_equal(mo_challenge_parse(nested, sizeof(nested) - 1, &c), 0);
	assert_string_equal(c.status, "403");
	assert_string_equal(c.scope, "aA??");	/* no control or non-ASCII bytes */
	assert_int_equal(mo_challenge_parse(empty, sizeof(empty) - 1, &c), 0);
	assert_string_equal(c.status, "");
}

static void challenge_garbage(void **state)
{
	static const char *const bad[] = {
		"", "not json", "[]", "{", "{\"status\":}", "{\"status\":\"401\"",
		"{\"status\":\"401\"}x", "{\"a\":\"\\q\"}", "{\"a\":\"\\u12\"}",
		"{\"a\":\"b\001\"}", "{'status':'401'}", "{\"a\" \"b\"}",
		"{\"a\":1,}", "{\"a\":[1,]}",
	};
	struct mo_challenge c;
	char deep[200];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mo_challenge_parse(bad[i], strlen(bad[i]), &c) == 0)
			fail_msg("accepted garbage %zu: %s", i, bad[i]);

	/* nesting is bounded */
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	memcpy(deep, "{\"a\":", 5);
	assert_int_equal(mo_challenge_parse(deep, sizeof(deep), &c), -EBADMSG);
	/* so is the size */
	{
		size_t big = MO_CHALLENGE_MAX + 1;
		char *b = malloc(big);

		memset(b, ' ', big);
		b[0] = '{';
		b[big - 1] = '}';
		assert_int_equal(mo_challenge_parse(b, big, &c), -EBADMSG);
		assert_int_equal(mo_challenge_parse(b, big - 1, &c), -EBADMSG);
		b[big - 2] = '}';
		assert_int_equal(mo_challenge_parse(b, big - 1, &c), 0);
		free(b);
	}
}

static void challenge_long_values_cut(void **state)
{
	char json[1200];
	struct mo_challenge c;
	int n;

	(void)state;
	n = snprintf(json, sizeof(json), "{\"scope\":\"%0900d\",\"status\":\"401\"}", 0);
	assert_int_equal(mo_challenge_parse(json, (size_t)n, &c), 0);
	assert_int_equal(strlen(c.scope), sizeof(c.scope) - 1);
	assert_string_equal(c.status, "401");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(xoauth2_golden),
		cmocka_unit_test(xoauth2_refuses),
		cmocka_unit_test(oauthbearer_golden),
		cmocka_unit_test(max_sizes),
		cmocka_unit_test(token_syntax),
		cmocka_unit_test(challenge_dovecot_and_google),
		cmocka_unit_test(challenge_odd_but_valid),
		cmocka_unit_test(challenge_garbage),
		cmocka_unit_test(challenge_long_values_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
