/* SPDX-License-Identifier: MIT */
/*
 * fuzz-redirect.c - libFuzzer target: what reaches `mailoauth login
 * --browser` after the sign-in (login_url.c): the HTTP request any local
 * process can send to the loopback listener (mo_redirect_parse_request),
 * the address a user pastes (mo_redirect_parse_pasted) and the query
 * string under both (mo_redirect_parse_query)
 *
 * The input, cut at its first NUL for the pasted form, goes to all three.
 *
 * Checks: only the documented return values; OUT empty unless 0; on 0 a
 * code or an error, code and state of visible ASCII, error and
 * error_description printable and within their caps; and what was parsed,
 * percent-encoded again, parses to the same values as a query, as a
 * request line and as a pasted address.
 */
#include "login_url.h"

#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REDIRECT_URI "http://127.0.0.1:8400/"

static bool printable(const char *s, size_t max, bool space)
{
	if (strlen(s) > max)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < (space ? 0x20 : 0x21) ||
		    (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static bool empty(const struct mo_redirect *r)
{
	return !r->code && !r->state && !r->error && !r->error_description;
}

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_redirect(const struct mo_redirect *a,
			  const struct mo_redirect *b)
{
	return same(a->code, b->code) && same(a->state, b->state) &&
	       same(a->error, b->error) &&
	       same(a->error_description, b->error_description);
}

/* check - RC and R from one parser; REQUEST: -EOPNOTSUPP is allowed */
static void check(int rc, const struct mo_redirect *r, bool request)
{
	if (rc != 0) {
		if ((rc != -EINVAL && rc != -ENOENT &&
		     (!request || rc != -EOPNOTSUPP)) || !empty(r))
			abort();
		return;
	}
	if ((!r->code && !r->error) ||
	    (r->code && (!*r->code || !printable(r->code, SIZE_MAX, false))) ||
	    (r->state && (!*r->state || !printable(r->state, SIZE_MAX, false))) ||
	    (r->error && (!*r->error || !printable(r->error, 100, true))) ||
	    (r->error_description &&
	     !printable(r->error_description, MO_REDIRECT_DESC_MAX, true)))
		abort();
}

static void add(GString *q, const char *name, const char *value)
{
	char *v;

	if (!value)
		return;
	v = g_uri_escape_string(value, NULL, FALSE);
	g_string_append_printf(q, "%s%s=%s", q->len ? "&" : "", name, v);
	g_free(v);
}

/* round_trip - R written out again parses to R in every form */
static void round_trip(const struct mo_redirect *r)
{
	GString *q = g_string_new(NULL);
	struct mo_redirect again;
	char *s;

	add(q, "code", r->code);
	add(q, "state", r->state);
	add(q, "error", r->error);
	add(q, "error_description", r->error_description);
	if (q->len > MO_REDIRECT_MAX - 40)
		goto out;
	if (mo_redirect_parse_query(q->str, q->len, &again) != 0 ||
	    !same_redirect(r, &again))
		abort();
	mo_redirect_clear(&again);
	s = g_strdup_printf("GET /?%s HTTP/1.1\r\nHost: x\r\n\r\n", q->str);
	if (mo_redirect_parse_request(s, strlen(s), &again) != 0 ||
	    !same_redirect(r, &again))
		abort();
	mo_redirect_clear(&again);
	g_free(s);
	s = g_strdup_printf(" " REDIRECT_URI "?%s#frag\n", q->str);
	if (mo_redirect_parse_pasted(s, REDIRECT_URI, &again) != 0 ||
	    !same_redirect(r, &again))
		abort();
	mo_redirect_clear(&again);
	g_free(s);
out:
	g_string_free(q, TRUE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	struct mo_redirect r;
	int rc;

	memcpy(buf, data, size);
	buf[size] = '\0';

	rc = mo_redirect_parse_request(buf, size, &r);
	check(rc, &r, true);
	if (rc == 0)
		round_trip(&r);
	mo_redirect_clear(&r);

	rc = mo_redirect_parse_pasted(buf, REDIRECT_URI, &r);
	check(rc, &r, false);
	if (rc == 0)
		round_trip(&r);
	mo_redirect_clear(&r);

	rc = mo_redirect_parse_query(buf, size, &r);
	check(rc, &r, false);
	if (rc == 0)
		round_trip(&r);
	mo_redirect_clear(&r);

	free(buf);
	return 0;
}
