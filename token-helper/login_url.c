/* SPDX-License-Identifier: MIT */
/*
 * login_url.c - PKCE, state, the authorization URL and the redirect's
 *	query for `mailoauth login` (see login_url.h)
 *
 * SECURITY
 *	Random values come from OpenSSL's RAND_bytes; the raw bytes are
 *	cleansed after encoding. Decoded values are built in buffers that are
 *	wiped when they are dropped, since one of them is the authorization
 *	code. Nothing here trusts a length it did not check.
 *
 * DIAGNOSTICS
 *	None: negative errno values, worded by login_authcode.c.
 */
#define _GNU_SOURCE
#include "login_url.h"
#include "oauth.h"

#include <errno.h>
#include <glib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <string.h>

char *mo_b64url(const unsigned char *d, size_t n)
{
	size_t cap = 4 * ((n + 2) / 3) + 1;
	char *out = g_malloc(cap);
	int len = EVP_EncodeBlock((unsigned char *)out, d, (int)n);

	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (char *p = out; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	return out;
}

/* random_b64url - N random bytes, base64url-encoded; NULL if no entropy */
static char *random_b64url(size_t n)
{
	unsigned char buf[64];
	char *s;

	if (n > sizeof(buf) || RAND_bytes(buf, (int)n) != 1)
		return NULL;
	s = mo_b64url(buf, n);
	OPENSSL_cleanse(buf, sizeof(buf));
	return s;
}

char *mo_pkce_verifier_new(void)
{
	return random_b64url(MO_PKCE_VERIFIER_BYTES);
}

char *mo_pkce_challenge(const char *verifier)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *s;

	if (!verifier)
		return NULL;
	SHA256((const unsigned char *)verifier, strlen(verifier), md);
	s = mo_b64url(md, sizeof(md));
	OPENSSL_cleanse(md, sizeof(md));
	return s;
}

char *mo_login_state_new(void)
{
	return random_b64url(MO_STATE_BYTES);
}

/* add_param - "&NAME=VALUE" (the first one after SEP), VALUE escaped */
static void add_param(GString *u, char *sep, const char *name,
		      const char *value)
{
	char *v = g_uri_escape_string(value, NULL, FALSE);

	g_string_append_printf(u, "%c%s=%s", *sep, name, v);
	*sep = '&';
	g_free(v);
}

char *mo_authcode_url(const struct mo_authcode_request *r)
{
	GString *u;
	char sep;

	if (!r || !r->endpoint || !r->client_id || !r->redirect_uri ||
	    !r->scopes || !r->state || !r->challenge)
		return NULL;
	u = g_string_new(r->endpoint);
	sep = strchr(r->endpoint, '?') ? '&' : '?';
	add_param(u, &sep, "client_id", r->client_id);
	add_param(u, &sep, "response_type", "code");
	add_param(u, &sep, "redirect_uri", r->redirect_uri);
	add_param(u, &sep, "scope", r->scopes);
	add_param(u, &sep, "state", r->state);
	add_param(u, &sep, "code_challenge", r->challenge);
	add_param(u, &sep, "code_challenge_method", "S256");
	if (r->login_hint && *r->login_hint)
		add_param(u, &sep, "login_hint", r->login_hint);
	if (r->google) {
		/* a refresh token only comes with offline access, and Google
		 * issues one only on a consent: ask for both every time */
		add_param(u, &sep, "access_type", "offline");
		add_param(u, &sep, "prompt", "consent");
	}
	return g_string_free(u, FALSE);
}

void mo_redirect_clear(struct mo_redirect *r)
{
	if (!r)
		return;
	mo_oauth_secret_free(r->code);
	g_free(r->state);
	g_free(r->error);
	g_free(r->error_description);
	memset(r, 0, sizeof(*r));
}

/*
 * form_decode - N bytes of S, '+' as space and %XX decoded, in a new
 * string; NULL for a bad escape or a NUL
 */
static char *form_decode(const char *s, size_t n)
{
	char *out = g_malloc(n + 1);
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				goto bad;
			hi = g_ascii_xdigit_value(s[i + 1]);
			lo = g_ascii_xdigit_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0')
			goto bad;
		out[o++] = c;
	}
	out[o] = '\0';
	return out;
bad:
	explicit_bzero(out, n + 1);
	g_free(out);
	return NULL;
}

/* vschar - printable ASCII without space: what a code or state may hold */
static bool vschar(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* printable_copy - S with every byte outside 0x20..0x7e made '?', cut */
static char *printable_copy(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *out = g_strndup(s, n);

	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	return out;
}

int mo_redirect_parse_query(const char *query, size_t len,
			    struct mo_redirect *out)
{
	struct mo_redirect r = {0};
	const char *p, *end;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!query || len > MO_REDIRECT_MAX)
		return -EINVAL;
	p = query;
	end = query + len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(pe - p));
		char *name, *value, **slot = NULL;

		if (pe == p) {		/* "a=1&&b=2": tolerate empty pieces */
			p = pe + 1;
			continue;
		}
		name = form_decode(p, (size_t)((eq ? eq : pe) - p));
		value = eq ? form_decode(eq + 1, (size_t)(pe - eq - 1))
			   : g_strdup("");
		if (!name || !value) {
			g_free(name);
			mo_oauth_secret_free(value);
			goto out;
		}
		if (!strcmp(name, "code"))
			slot = &r.code;
		else if (!strcmp(name, "state"))
			slot = &r.state;
		else if (!strcmp(name, "error"))
			slot = &r.error;
		else if (!strcmp(name, "error_description"))
			slot = &r.error_description;
		g_free(name);
		if (slot && *slot) {	/* RFC 6749 3.1: never twice */
			mo_oauth_secret_free(value);
			goto out;
		}
		if (slot)
			*slot = value;
		else
			mo_oauth_secret_free(value);
		p = pe + (amp ? 1 : 0);
	}
	if ((r.code && !vschar(r.code)) || (r.state && !vschar(r.state)))
		goto out;
	if (r.error) {
		char *e = printable_copy(r.error, 100);

		g_free(r.error);
		r.error = e;
		if (!*r.error)
			goto out;
	}
	if (r.error_description) {
		char *d = printable_copy(r.error_description,
					 MO_REDIRECT_DESC_MAX);

		g_free(r.error_description);
		r.error_description = d;
	}
	if (!r.code && !r.error) {
		ret = -ENOENT;
		goto out;
	}
	*out = r;
	return 0;
out:
	mo_redirect_clear(&r);
	return ret;
}

int mo_redirect_parse_request(const char *buf, size_t len,
			      struct mo_redirect *out)
{
	const char *eol = memchr(buf, '\n', len);
	const char *sp1, *sp2, *target, *q, *tend, *hash;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (!eol || len > MO_REDIRECT_MAX)
		return -EINVAL;
	n = (size_t)(eol - buf);
	if (n && buf[n - 1] == '\r')
		n--;
	sp1 = memchr(buf, ' ', n);
	if (!sp1 || sp1 == buf)
		return -EINVAL;
	target = sp1 + 1;
	sp2 = memchr(target, ' ', (size_t)(buf + n - target));
	if (!sp2 || sp2 == target)
		return -EINVAL;
	/* the version: exactly HTTP/1.0 or HTTP/1.1, nothing after it */
	if ((size_t)(buf + n - (sp2 + 1)) != 8 ||
	    (memcmp(sp2 + 1, "HTTP/1.1", 8) && memcmp(sp2 + 1, "HTTP/1.0", 8)))
		return -EINVAL;
	for (const char *p = buf; p < sp2; p++)
		if (p != sp1 && ((unsigned char)*p <= 0x20 ||
				 (unsigned char)*p >= 0x7f))
			return -EINVAL;
	if ((size_t)(sp1 - buf) != 3 || memcmp(buf, "GET", 3))
		return -EOPNOTSUPP;
	if (*target != '/')
		return -EINVAL;
	q = memchr(target, '?', (size_t)(sp2 - target));
	if (!q || q - target != 1)
		return -ENOENT;		/* /favicon.ico, or "/" alone */
	hash = memchr(q, '#', (size_t)(sp2 - q));	/* never sent, but */
	tend = hash ? hash : sp2;
	return mo_redirect_parse_query(q + 1, (size_t)(tend - q - 1), out);
}

/* after_prefix - TEXT after REDIRECT_URI's scheme://host:port/, or NULL */
static const char *after_prefix(const char *text, const char *redirect_uri)
{
	size_t n = strlen(redirect_uri);
	const char *scheme_end = strstr(redirect_uri, "://");

	if (!g_ascii_strncasecmp(text, redirect_uri, n))
		return text + n;
	/* pasted without "http://" */
	if (scheme_end) {
		const char *rest = scheme_end + 3;
		size_t m = strlen(rest);

		if (!g_ascii_strncasecmp(text, rest, m))
			return text + m;
	}
	return NULL;
}

int mo_redirect_parse_pasted(const char *text, const char *redirect_uri,
			     struct mo_redirect *out)
{
	const char *start, *end, *rest, *hash;
	char *copy;
	size_t len;
	int r;

	memset(out, 0, sizeof(*out));
	if (!text || !redirect_uri || !*redirect_uri)
		return -EINVAL;
	start = text;
	while (g_ascii_isspace(*start))
		start++;
	end = start + strlen(start);
	while (end > start && g_ascii_isspace(end[-1]))
		end--;
	len = (size_t)(end - start);
	if (!len || len > MO_REDIRECT_MAX || memchr(start, ' ', len) ||
	    memchr(start, '\t', len))
		return -EINVAL;
	copy = g_strndup(start, len);	/* holds the code: wiped below */
	rest = after_prefix(copy, redirect_uri);
	/* REDIRECT_URI ends with '/': what follows is ?query[#fragment] */
	if (!rest || (*rest && *rest != '?' && *rest != '#')) {
		r = -EINVAL;
	} else if (*rest != '?') {
		r = -ENOENT;
	} else {
		hash = strchr(rest, '#');
		r = mo_redirect_parse_query(rest + 1, hash ? (size_t)(hash - rest - 1)
							   : strlen(rest + 1), out);
	}
	mo_oauth_secret_free(copy);
	return r;
}

bool mo_redirect_state_ok(const struct mo_redirect *r, const char *state)
{
	size_t n;

	if (!r || !r->state || !state)
		return false;
	n = strlen(state);
	return strlen(r->state) == n && CRYPTO_memcmp(r->state, state, n) == 0;
}
