/* SPDX-License-Identifier: MIT */
/*
 * test-base64.c - common/base64.c: RFC 4648's vectors, GLib's output for
 * every length and byte, and a buffer one byte short
 */
#define _GNU_SOURCE
#include "unit.h"
#include "base64.h"

#include <errno.h>
#include <glib.h>

static void rfc4648_vectors(void **state)
{
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	char buf[16];

	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		assert_int_equal(mo_base64_encode(buf, sizeof(buf), vec[i][0],
						  strlen(vec[i][0])),
				 (int)strlen(vec[i][1]));
		assert_string_equal(buf, vec[i][1]);
	}
}

static void same_as_glib(void **state)
{
	unsigned char in[300];
	char out[MO_BASE64_LEN(sizeof(in)) + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 167 + 13);	/* every byte value */
	for (size_t len = 0; len <= sizeof(in); len++) {
		gchar *want = g_base64_encode(in, len);

		assert_int_equal(mo_base64_encode(out, sizeof(out), in, len),
				 (int)strlen(want));
		assert_string_equal(out, want);
		g_free(want);
	}
}

static void too_small(void **state)
{
	char buf[9];

	(void)state;
	assert_int_equal(mo_base64_encode(buf, 9, "foobar", 6), 8);
	assert_int_equal(mo_base64_encode(buf, 8, "foobar", 6), -ENOBUFS);
	assert_string_equal(buf, "");
	assert_int_equal(mo_base64_encode(buf, 4, "f", 1), -ENOBUFS);
	assert_int_equal(mo_base64_encode(NULL, 0, "f", 1), -ENOBUFS);
	assert_int_equal(mo_base64_encode(buf, 1, "", 0), 0);
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc4648_vectors),
		cmocka_unit_test(same_as_glib),
		cmocka_unit_test(too_small),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
