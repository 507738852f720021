/* SPDX-License-Identifier: MIT */
/*
 * test-graph-mime.c - the message made ready for Graph's sendMail
 *	(token-helper/graph_mime.c): address lists, Bcc for envelope-only
 *	recipients, CRLF line ends, 8-bit bytes, the size cap
 */
#define _GNU_SOURCE
#include "unit.h"
#include "graph_mime.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>

/* addrs - the addresses of VALUE joined with "|" (a new string) */
static bool add_one(const char *a, size_t len, void *ud)
{
	GString *s = ud;

	if (s->len)
		g_string_append_c(s, '|');
	g_string_append_len(s, a, (gssize)len);
	return true;
}

static char *addrs(const char *value)
{
	GString *s = g_string_new(NULL);

	mo_graph_parse_addresses(value, strlen(value), add_one, s);
	return g_string_free(s, FALSE);
}

#define ASSERT_ADDRS(value, want) do { \
	char *got_ = addrs(value); \
	assert_string_equal(got_, want); \
	g_free(got_); \
} while (0)

static void test_address_lists(void **state)
{
	(void)state;
	ASSERT_ADDRS(" a@example.com", "a@example.com");
	ASSERT_ADDRS(" a@x, b@y ,c@z", "a@x|b@y|c@z");
	ASSERT_ADDRS(" Alice <alice@x>, \"Doe, John\" <john@y>", "alice@x|john@y");
	ASSERT_ADDRS(" bob@x (Bob (the builder), Esq.)", "bob@x");
	ASSERT_ADDRS(" undisclosed-recipients:;", "");
	ASSERT_ADDRS(" team: a@x, B <b@y>; c@z", "a@x|b@y|c@z");
	ASSERT_ADDRS(" <@relay1,@relay2:carol@z>", "carol@z");
	ASSERT_ADDRS(" \"john doe\"@x, \"a\\\"b\"@y", "\"john doe\"@x|\"a\\\"b\"@y");
	/* folded over lines, CRLF or LF */
	ASSERT_ADDRS(" a@x,\r\n\tB\r\n <b@y>,\n c@z\r\n", "a@x|b@y|c@z");
	/* 8-bit: UTF-8 addresses and display names pass through */
	ASSERT_ADDRS(" J\xc3\xbcrgen <j\xc3\xbcrgen@b\xc3\xbc.de>",
		     "j\xc3\xbcrgen@b\xc3\xbc.de");
	/* malformed input never crashes and never loses the others */
	ASSERT_ADDRS(" <a@x, b@y", "a@x,b@y");
	ASSERT_ADDRS(" (unclosed a@x", "");
	ASSERT_ADDRS(" \"unclosed a@x", "\"unclosed a@x");
	ASSERT_ADDRS("", "");
	ASSERT_ADDRS(",,,", "");
}

static void test_address_too_long(void **state)
{
	char *v = g_strnfill(MO_GRAPH_ADDR_MAX + 10, 'a');
	char *value = g_strdup_printf("%s@x, ok@y", v);

	(void)state;
	ASSERT_ADDRS(value, "ok@y");
	g_free(v);
	g_free(value);
}

static void test_addr_equal_and_valid(void **state)
{
	(void)state;
	assert_true(mo_graph_addr_equal("Bob@Example.COM", 15, "bob@example.com", 15));
	assert_true(mo_graph_addr_equal("\"bob\"@x", 7, "bob@x", 5));
	assert_false(mo_graph_addr_equal("bob@x", 5, "bobby@x", 7));
	assert_false(mo_graph_addr_equal("", 0, "", 0));
	assert_true(mo_graph_addr_valid("a@x"));
	assert_true(mo_graph_addr_valid("\"john doe\"@x"));
	assert_false(mo_graph_addr_valid(""));
	assert_false(mo_graph_addr_valid(NULL));
	assert_false(mo_graph_addr_valid("a@x\r\nBcc: evil@y"));
	assert_false(mo_graph_addr_valid("a\x7f@x"));
}

static void test_base64_len(void **state)
{
	(void)state;
	assert_int_equal(mo_graph_base64_len(0), 0);
	assert_int_equal(mo_graph_base64_len(1), 4);
	assert_int_equal(mo_graph_base64_len(3), 4);
	assert_int_equal(mo_graph_base64_len(4), 8);
	assert_int_equal(mo_graph_base64_len(MO_GRAPH_MAX_MESSAGE),
			 MO_GRAPH_MAX_REQUEST);
}

static void test_buf_cap(void **state)
{
	struct mo_graph_buf b;
	char chunk[1000];

	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	mo_graph_buf_init(&b, 2500);
	assert_int_equal(mo_graph_buf_append(&b, chunk, 1000), 0);
	assert_int_equal(mo_graph_buf_append(&b, chunk, 1000), 0);
	assert_int_equal(mo_graph_buf_append(&b, chunk, 1000), -EMSGSIZE);
	assert_int_equal(b.len, 2000);	/* nothing of the refused chunk */
	assert_int_equal(mo_graph_buf_append(&b, chunk, 500), 0);
	assert_int_equal(b.len, 2500);
	assert_int_equal(mo_graph_buf_append(&b, chunk, 1), -EMSGSIZE);
	assert_int_equal(mo_graph_buf_append(&b, chunk, SIZE_MAX), -EMSGSIZE);
	assert_true(b.cap <= 2501);
	assert_int_equal(b.data[b.len], '\0');
	mo_graph_buf_free(&b);
	assert_null(b.data);
}

/* prep - mo_graph_mime_prepare of MSG for the NULL-terminated recipients */
static int prep(const char *msg, struct mo_graph_mime *out, ...)
{
	const char *rcpts[16];
	size_t n = 0;
	va_list ap;

	va_start(ap, out);
	while (n < 16 && (rcpts[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	return mo_graph_mime_prepare(msg, strlen(msg), rcpts, n, 1 << 20, out);
}

static void test_bcc_for_envelope_only(void **state)
{
	struct mo_graph_mime m;

	(void)state;
	assert_int_equal(prep("From: a@x\nTo: Bob <bob@y>\nCc: carol@z\n"
			      "Subject: hi\n\nhello\n", &m,
			      "bob@y", "Carol@Z", "dave@w", "eve@v", NULL), 0);
	assert_string_equal(m.data,
			    "From: a@x\r\nTo: Bob <bob@y>\r\nCc: carol@z\r\n"
			    "Subject: hi\r\nBcc: dave@w,\r\n eve@v\r\n\r\nhello\r\n");
	assert_int_equal(m.len, strlen(m.data));
	assert_int_equal(m.n_bcc, 2);
	assert_int_equal(m.n_header_addrs, 2);
	mo_graph_mime_free(&m);
	assert_null(m.data);
}

static void test_no_bcc_when_all_visible(void **state)
{
	struct mo_graph_mime m;
	const char *msg = "From: a@x\r\nTo: bob@y,\r\n carol@z\r\n\r\nbody\r\n";

	(void)state;
	assert_int_equal(prep(msg, &m, "carol@z", "bob@y", "bob@y", NULL), 0);
	assert_string_equal(m.data, msg);	/* CRLF input unchanged */
	assert_int_equal(m.n_bcc, 0);
	mo_graph_mime_free(&m);
}

static void test_duplicate_envelope_once(void **state)
{
	struct mo_graph_mime m;

	(void)state;
	assert_int_equal(prep("To: a@x\n\nb\n", &m, "z@y", "Z@y", NULL), 0);
	assert_string_equal(m.data, "To: a@x\r\nBcc: z@y\r\n\r\nb\r\n");
	assert_int_equal(m.n_bcc, 1);
	mo_graph_mime_free(&m);
}

static void test_drops_bcc_return_path_from_line(void **state)
{
	struct mo_graph_mime m;

	(void)state;
	assert_int_equal(prep("From sender@x Mon Nov 23 00:00:00 2026\n"
			      "Return-Path: <sender@x>\nTo: a@x\n"
			      "BCC: stale@old,\n  other@old\nSubject: s\n\nb\n",
			      &m, "a@x", NULL), 0);
	assert_string_equal(m.data, "To: a@x\r\nSubject: s\r\n\r\nb\r\n");
	assert_int_equal(m.n_dropped, 2);
	mo_graph_mime_free(&m);
}

static void test_quotes_envelope_local_part(void **state)
{
	struct mo_graph_mime m;

	(void)state;
	assert_int_equal(prep("To: a@x\n\nb", &m, "john doe@y", "\"q r\"@z",
			      "x\"y@w", NULL), 0);
	assert_string_equal(m.data, "To: a@x\r\nBcc: \"john doe\"@y,\r\n"
			    " \"q r\"@z,\r\n \"x\\\"y\"@w\r\n\r\nb");
	mo_graph_mime_free(&m);
}

static void test_header_without_blank_line(void **state)
{
	struct mo_graph_mime m;

	(void)state;
	/* a line that is not a field starts the body (as Postfix sees it) */
	assert_int_equal(prep("To: a@x\nthis is body\n", &m, "b@y", NULL), 0);
	assert_string_equal(m.data, "To: a@x\r\nBcc: b@y\r\n\r\nthis is body\r\n");
	mo_graph_mime_free(&m);
	/* a message that is all header, without a final newline */
	assert_int_equal(prep("Subject: x", &m, "b@y", NULL), 0);
	assert_string_equal(m.data, "Subject: x\r\nBcc: b@y\r\n\r\n");
	mo_graph_mime_free(&m);
}

static void test_eight_bit_and_mixed_line_ends(void **state)
{
	struct mo_graph_mime m;

	(void)state;
	assert_int_equal(prep("Subject: gr\xc3\xbc\xc3\x9f\x65\r\nTo: a@x\n\n"
			      "caf\xc3\xa9\r\nna\xefve\nend\r", &m, "a@x", NULL), 0);
	assert_string_equal(m.data, "Subject: gr\xc3\xbc\xc3\x9f\x65\r\nTo: a@x\r\n\r\n"
			    "caf\xc3\xa9\r\nna\xefve\r\nend\r");
	mo_graph_mime_free(&m);
}

static void test_refusals(void **state)
{
	struct mo_graph_mime m;
	const char *none[1] = {NULL};
	const char *bad[1] = {"a@x\nBcc: evil@y"};
	char *big;

	(void)state;
	assert_int_equal(mo_graph_mime_prepare("To: a@x\n\nb", 10, none, 0,
					       1000, &m), -EINVAL);
	assert_int_equal(mo_graph_mime_prepare("To: a@x\n\nb", 10, bad, 1,
					       1000, &m), -EINVAL);
	assert_int_equal(prep("no header here\n\nbody\n", &m, "a@x", NULL), -EBADMSG);
	assert_int_equal(prep("", &m, "a@x", NULL), -EBADMSG);
	assert_null(m.data);
	/* LF to CRLF makes it grow past the cap: refused, nothing kept */
	big = g_strnfill(1000, '\n');
	memcpy(big, "To: a@x\n", 8);
	{
		const char *r[1] = {"a@x"};

		assert_int_equal(mo_graph_mime_prepare(big, 1000, r, 1, 1500, &m),
				 -EMSGSIZE);
		assert_null(m.data);
		assert_int_equal(mo_graph_mime_prepare(big, 1000, r, 1, 2000, &m), 0);
		assert_int_equal(m.len, 9 + 2 + 2 * 991);	/* every LF doubled */
		mo_graph_mime_free(&m);
	}
	g_free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_lists),
		cmocka_unit_test(test_address_too_long),
		cmocka_unit_test(test_addr_equal_and_valid),
		cmocka_unit_test(test_base64_len),
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_bcc_for_envelope_only),
		cmocka_unit_test(test_no_bcc_when_all_visible),
		cmocka_unit_test(test_duplicate_envelope_once),
		cmocka_unit_test(test_drops_bcc_return_path_from_line),
		cmocka_unit_test(test_quotes_envelope_local_part),
		cmocka_unit_test(test_header_without_blank_line),
		cmocka_unit_test(test_eight_bit_and_mixed_line_ends),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
