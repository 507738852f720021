/* SPDX-License-Identifier: MIT */
/*
 * test-proto.c - the socket protocol's parsers and formatters (common/proto.c)
 */
#define _GNU_SOURCE
#include "unit.h"
#include "proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static void request_parse_ok(void **state)
{
	char buf[MO_REQUEST_MAX + 1];
	struct mo_request req;
	size_t n;

	(void)state;
	n = COPY(buf, "TOKEN-USER alice@example.com shared\n");
	assert_int_equal(mo_request_parse(buf, n, &req), 0);
	assert_int_equal(req.verb, MO_VERB_TOKEN_USER);
	assert_int_equal(req.nargs, 2);
	assert_string_equal(req.args[0], "alice@example.com");
	assert_string_equal(req.args[1], "shared");
	assert_null(req.args[2]);

	n = COPY(buf, "TOKEN work\r\n");
	assert_int_equal(mo_request_parse(buf, n, &req), 0);
	assert_int_equal(req.verb, MO_VERB_TOKEN);
	assert_string_equal(req.args[0], "work");

	n = COPY(buf, "LIST");	/* no LF: EOF ends the line */
	assert_int_equal(mo_request_parse(buf, n, &req), 0);
	assert_int_equal(req.verb, MO_VERB_LIST);
	assert_int_equal(req.nargs, 0);
}

static void request_parse_rejects(void **state)
{
	static const struct {
		const char *line;
		int err;
	} bad[] = {
		{"", -EINVAL},
		{"\n", -EINVAL},
		{"token work\n", -EOPNOTSUPP},		/* verbs are upper case */
		{"FETCH work\n", -EOPNOTSUPP},
		{"TOKEN\n", -EINVAL},			/* too few arguments */
		{"TOKEN a b\n", -EINVAL},		/* too many */
		{"LIST x\n", -EINVAL},
		{"TOKEN  work\n", -EINVAL},		/* double space */
		{" TOKEN work\n", -EINVAL},
		{"TOKEN work \n", -EINVAL},
		{"TOKEN wo\trk\n", -EINVAL},		/* control byte */
		{"TOKEN w\001rk\n", -EINVAL},
		{"TOKEN w\xc3\xa9rk\n", -EINVAL},	/* not ASCII */
		{"TOKEN a\nTOKEN b\n", -EINVAL},	/* two lines */
		{"OAUTHBEARER a b c d e\n", -EINVAL},
	};
	char buf[MO_REQUEST_MAX + 1];
	struct mo_request req;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i].line);

		memcpy(buf, bad[i].line, n + 1);
		if (mo_request_parse(buf, n, &req) != bad[i].err)
			fail_msg("case %zu (%s) gave the wrong result", i, bad[i].line);
	}
	/* an embedded NUL */
	memcpy(buf, "TOKEN a\0b\n", 10);
	assert_int_equal(mo_request_parse(buf, 10, &req), -EINVAL);
}

static void request_sizes(void **state)
{
	char *buf = malloc(MO_REQUEST_MAX + 2);
	char *verb_arg = malloc(MO_REQUEST_MAX + 2);
	char arg[MO_ARG_MAX + 2];
	struct mo_request req;
	size_t n;

	(void)state;
	/* the longest argument passes, one more byte does not */
	memset(arg, 'a', MO_ARG_MAX);
	arg[MO_ARG_MAX] = '\0';
	n = (size_t)snprintf(buf, MO_REQUEST_MAX + 2, "TOKEN %s\n", arg);
	assert_int_equal(mo_request_parse(buf, n, &req), 0);
	assert_int_equal(strlen(req.args[0]), MO_ARG_MAX);
	arg[MO_ARG_MAX] = 'a';
	arg[MO_ARG_MAX + 1] = '\0';
	n = (size_t)snprintf(buf, MO_REQUEST_MAX + 2, "TOKEN %s\n", arg);
	assert_int_equal(mo_request_parse(buf, n, &req), -EINVAL);

	/* MO_REQUEST_MAX bytes with the LF fit, one more does not */
	memset(verb_arg, 'a', MO_REQUEST_MAX);
	memcpy(buf, "REJECTED ", 9);
	memcpy(buf + 9, verb_arg, 300);
	buf[309] = ' ';
	memset(buf + 310, '1', MO_REQUEST_MAX - 311);
	buf[MO_REQUEST_MAX - 1] = '\n';
	buf[MO_REQUEST_MAX] = '\0';
	assert_int_equal(mo_request_parse(buf, MO_REQUEST_MAX, &req), -EINVAL);
	/* (the second argument is over MO_ARG_MAX; the size itself passed) */
	memset(buf, 'A', MO_REQUEST_MAX + 1);
	buf[MO_REQUEST_MAX + 1] = '\0';
	assert_int_equal(mo_request_parse(buf, MO_REQUEST_MAX + 1, &req), -EMSGSIZE);
	free(verb_arg);
	free(buf);
}

static void request_format(void **state)
{
	const char *args[] = {"alice@example.com", "shared"};
	const char *bad[] = {"has space"};
	char buf[64];

	(void)state;
	assert_int_equal(mo_request_format(buf, sizeof(buf), MO_VERB_TOKEN_USER,
					   args, 2), 36);
	assert_string_equal(buf, "TOKEN-USER alice@example.com shared\n");
	assert_int_equal(mo_request_format(buf, sizeof(buf), MO_VERB_TOKEN,
					   bad, 1), -EINVAL);
	assert_int_equal(mo_request_format(buf, sizeof(buf), MO_VERB_TOKEN,
					   args, 0), -EINVAL);
	assert_int_equal(mo_request_format(buf, 20, MO_VERB_TOKEN_USER,
					   args, 2), -ENOBUFS);
	assert_string_equal(buf, "");
}

static void response_roundtrip(void **state)
{
	char buf[MO_RESPONSE_MAX];
	struct mo_response r;
	int n;

	(void)state;
	n = mo_response_format_token(buf, sizeof(buf), "work",
				     "alice@example.com", 7, 3599, 2999,
				     "eyJ0eXAi.eyJhdWQi.c2ln");
	assert_true(n > 0);
	assert_string_equal(buf, "OK account=work user=alice@example.com gen=7 "
				 "expires_in=3599 cache_for=2999 "
				 "token=eyJ0eXAi.eyJhdWQi.c2ln\n");
	assert_int_equal(mo_response_parse(buf, (size_t)n, &r), 0);
	assert_true(r.ok);
	assert_string_equal(r.account, "work");
	assert_string_equal(r.user, "alice@example.com");
	assert_string_equal(r.token, "eyJ0eXAi.eyJhdWQi.c2ln");
	assert_int_equal(r.token_len, 22);
	assert_int_equal(r.gen, 7);
	assert_int_equal(r.expires_in, 3599);
	assert_int_equal(r.cache_for, 2999);

	/* unknown keys are ignored, missing ones read as -1/NULL */
	n = (int)COPY(buf, "OK future=thing token=abc==\n");
	assert_int_equal(mo_response_parse(buf, (size_t)n, &r), 0);
	assert_string_equal(r.token, "abc==");
	assert_null(r.account);
	assert_int_equal(r.gen, -1);
}

static void response_errors(void **state)
{
	char buf[MO_RESPONSE_MAX];
	struct mo_response r;
	int n;

	(void)state;
	n = mo_response_format_error(buf, sizeof(buf), MO_ERR_LOGIN_REQUIRED,
				     "run: mailoauth login work\n\x01");
	assert_string_equal(buf, "ERR login-required run: mailoauth login work??\n");
	assert_int_equal(mo_response_parse(buf, (size_t)n, &r), 0);
	assert_false(r.ok);
	assert_int_equal(r.err, MO_ERR_LOGIN_REQUIRED);
	assert_string_equal(r.text, "run: mailoauth login work??");
	assert_false(mo_err_is_temporary(r.err));

	n = (int)COPY(buf, "ERR brand-new-code something\n");
	assert_int_equal(mo_response_parse(buf, (size_t)n, &r), 0);
	assert_int_equal(r.err, MO_ERR_INTERNAL);	/* unknown: temporary */
	assert_true(mo_err_is_temporary(r.err));

	for (int e = 0; e < MO_ERR_COUNT_; e++) {
		n = mo_response_format_error(buf, sizeof(buf), (enum mo_err)e, "x");
		assert_int_equal(mo_response_parse(buf, (size_t)n, &r), 0);
		assert_int_equal(r.err, e);
	}
}

static void response_rejects(void **state)
{
	static const char *const bad[] = {
		"", "OKAY\n", "OK token\n", "OK =x\n", "OK token=a b\n",
		"OK  token=a\n", "OK token=a\001\n", "OK token=a=b\n",
		"OK gen=x\n", "OK gen=-1\n", "OK gen=1234567890123456789\n",
		"OK token=\n", "NO\n", "OK token=abc\n\n",
	};
	char buf[MO_RESPONSE_MAX + 2];
	struct mo_response r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i]);

		memcpy(buf, bad[i], n + 1);
		if (mo_response_parse(buf, n, &r) == 0)
			fail_msg("accepted bad response %zu: %s", i, bad[i]);
	}
	memset(buf, 'A', sizeof(buf));
	assert_int_equal(mo_response_parse(buf, MO_RESPONSE_MAX + 1, &r), -EMSGSIZE);
	/* an ERR sentence is cut and made printable */
	{
		size_t n = (size_t)snprintf(buf, sizeof(buf), "ERR denied %0700d\xc3\xa9\n", 0);

		assert_int_equal(mo_response_parse(buf, n, &r), 0);
		assert_int_equal(strlen(r.text), MO_TEXT_MAX);
		n = (size_t)snprintf(buf, sizeof(buf), "ERR denied caf\xc3\xa9\n");
		assert_int_equal(mo_response_parse(buf, n, &r), 0);
		assert_string_equal(r.text, "caf??");
	}
}

static void format_bounds(void **state)
{
	char *tok = malloc(MO_TOKEN_MAX + 1);
	char *buf = malloc(MO_RESPONSE_MAX);
	struct mo_response r;
	int n;

	(void)state;
	/* the largest token fits a response line */
	memset(tok, 'x', MO_TOKEN_MAX);
	tok[MO_TOKEN_MAX] = '\0';
	n = mo_response_format_token(buf, MO_RESPONSE_MAX, "a", "u@x", 1, 1, 1, tok);
	assert_true(n > MO_TOKEN_MAX);
	assert_int_equal(mo_response_parse(buf, (size_t)n, &r), 0);
	assert_int_equal(r.token_len, MO_TOKEN_MAX);
	/* but not into a small buffer, and never a token with a space */
	assert_int_equal(mo_response_format_token(buf, 100, "a", "u@x", 1, 1, 1, tok),
			 -ENOBUFS);
	assert_int_equal(mo_response_format_token(buf, MO_RESPONSE_MAX, "a", "u@x",
						  1, 1, 1, "to ken"), -EINVAL);
	assert_int_equal(mo_response_format_ok(buf, 64, "proto=1"), 8 + 3);
	assert_string_equal(buf, "OK proto=1\n");
	free(tok);
	free(buf);
}

static void account_names(void **state)
{
	(void)state;
	assert_true(mo_account_name_valid("work"));
	assert_true(mo_account_name_valid("alice@example.com"));
	assert_true(mo_account_name_valid("a.b_c+d-e"));
	assert_false(mo_account_name_valid(""));
	assert_false(mo_account_name_valid("-work"));
	assert_false(mo_account_name_valid("a b"));
	assert_false(mo_account_name_valid("pass/word"));
	assert_false(mo_account_name_valid("p=ss"));
	assert_true(mo_account_name_valid(
		"a123456789012345678901234567890123456789012345678901234567890123"));
	assert_false(mo_account_name_valid(
		"a1234567890123456789012345678901234567890123456789012345678901234"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_parse_ok),
		cmocka_unit_test(request_parse_rejects),
		cmocka_unit_test(request_sizes),
		cmocka_unit_test(request_format),
		cmocka_unit_test(response_roundtrip),
		cmocka_unit_test(response_errors),
		cmocka_unit_test(response_rejects),
		cmocka_unit_test(format_bounds),
		cmocka_unit_test(account_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
