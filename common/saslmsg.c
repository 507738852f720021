/* SPDX-License-Identifier: MIT */
/*
 * saslmsg.c - build XOAUTH2/OAUTHBEARER messages, read error challenges
 *
 * The challenge reader is a small JSON scanner because the plugin may
 * link nothing but libc; it only needs three string members of one
 * object and skips everything else with a bounded nesting depth.
 */
#include "saslmsg.h"
#include "strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
#define B64TOKEN_RANGE(lo, hi) [lo ... hi] = true
static const bool b64token_char[256] = {
	B64TOKEN_RANGE('A', 'Z'), B64TOKEN_RANGE('a', 'z'),
	B64TOKEN_RANGE('0', '9'), ['-'] = true, ['.'] = true, ['_'] = true,
	['~'] = true, ['+'] = true, ['/'] = true,
};

bool mo_token_valid(const char *token, size_t len)
{
	size_t i = 0;

	if (!token || len == 0)
		return false;
	while (i < len && b64token_char[(unsigned char)token[i]])
		i++;
	if (i == 0)
		return false;
	for (; i < len; i++)
		if (token[i] != '=')
			return false;
	return true;
}

/* field_valid - a user or host: printable ASCII only (no \x01, no space) */
static bool field_valid(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int mo_xoauth2_format(char *buf, size_t size, const char *user,
		      const char *token)
{
	struct mo_strbuf o = MO_STRBUF(buf, size);

	if (!user || !*user || !field_valid(user) || !token ||
	    !mo_token_valid(token, strlen(token)))
		return -EINVAL;
	mo_strbuf_puts(&o, "user=");
	mo_strbuf_puts(&o, user);
	mo_strbuf_puts(&o, "\001auth=Bearer ");
	mo_strbuf_puts(&o, token);
	mo_strbuf_puts(&o, "\001\001");
	return mo_strbuf_end(&o);
}

int mo_oauthbearer_format(char *buf, size_t size, const char *authzid,
			  const char *host, unsigned port, const char *token)
{
	struct mo_strbuf o = MO_STRBUF(buf, size);
	char num[16];

	if (!token || !mo_token_valid(token, strlen(token)) ||
	    (authzid && !field_valid(authzid)) ||
	    (host && !field_valid(host)) || port > 65535)
		return -EINVAL;
	mo_strbuf_puts(&o, "n,");
	if (authzid && *authzid) {
		mo_strbuf_puts(&o, "a=");
		for (const char *p = authzid; *p; p++) {
			if (*p == ',')
				mo_strbuf_puts(&o, "=2C");
			else if (*p == '=')
				mo_strbuf_puts(&o, "=3D");
			else
				mo_strbuf_put(&o, p, 1);
		}
	}
	mo_strbuf_puts(&o, ",\001");
	if (host && *host) {
		mo_strbuf_puts(&o, "host=");
		mo_strbuf_puts(&o, host);
		mo_strbuf_puts(&o, "\001");
	}
	if (port) {
		snprintf(num, sizeof(num), "port=%u\001", port);
		mo_strbuf_puts(&o, num);
	}
	mo_strbuf_puts(&o, "auth=Bearer ");
	mo_strbuf_puts(&o, token);
	mo_strbuf_puts(&o, "\001\001");
	return mo_strbuf_end(&o);
}

/* A cursor over the challenge bytes. */
struct scan {
	const char *p, *end;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && strchr(" \t\r\n", *s->p) && *s->p)
		s->p++;
}

static bool eat(struct scan *s, char c)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == c) {
		s->p++;
		return true;
	}
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * scan_string - read a JSON string; copy at most SIZE-1 printable bytes
 * into OUT (NULL to discard). Non-ASCII escapes become '?'.
 */
static int scan_string(struct scan *s, char *out, size_t size)
{
	size_t n = 0;

	if (!eat(s, '"'))
		return -EBADMSG;
	while (s->p < s->end) {
		unsigned char c = (unsigned char)*s->p++;

		if (c == '"') {
			if (out && size)
				out[n] = '\0';
			return 0;
		}
		if (c < 0x20)
			return -EBADMSG;
		if (c == '\\') {
			if (s->p >= s->end)
				return -EBADMSG;
			c = (unsigned char)*s->p++;
			switch (c) {
			case '"': case '\\': case '/':
				break;
			case 'b': case 'f': case 'n': case 'r': case 't':
				c = '?';
				break;
			case 'u': {
				int v = 0;

				if (s->end - s->p < 4)
					return -EBADMSG;
				for (int i = 0; i < 4; i++) {
					int h = hexval(s->p[i]);

					if (h < 0)
						return -EBADMSG;
					v = v * 16 + h;
				}
				s->p += 4;
				c = (v >= 0x20 && v < 0x7f) ? (unsigned char)v : '?';
				break;
			}
			default:
				return -EBADMSG;
			}
		}
		if (c >= 0x7f)
			c = '?';
		if (out && n + 1 < size)
			out[n++] = (char)c;
	}
	return -EBADMSG;
}

#define MAX_DEPTH 16

static int scan_value(struct scan *s, int depth);

static int scan_container(struct scan *s, int depth, char close, bool keys)
{
	if (depth >= MAX_DEPTH)
		return -EBADMSG;
	if (eat(s, close))
		return 0;
	do {
		if (keys && (scan_string(s, NULL, 0) < 0 || !eat(s, ':')))
			return -EBADMSG;
		if (scan_value(s, depth + 1) < 0)
			return -EBADMSG;
	} while (eat(s, ','));
	return eat(s, close) ? 0 : -EBADMSG;
}

static int scan_literal(struct scan *s)
{
	static const char *const words[] = {"true", "false", "null"};
	const char *start = s->p;

	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++) {
		size_t n = strlen(words[i]);

		if ((size_t)(s->end - s->p) >= n && memcmp(s->p, words[i], n) == 0) {
			s->p += n;
			return 0;
		}
	}
	/* a number: be liberal, it is skipped anyway */
	while (s->p < s->end && *s->p && strchr("+-.0123456789eE", *s->p))
		s->p++;
	return s->p > start ? 0 : -EBADMSG;
}

static int scan_value(struct scan *s, int depth)
{
	skip_ws(s);
	if (s->p >= s->end)
		return -EBADMSG;
	switch (*s->p) {
	case '"':
		return scan_string(s, NULL, 0);
	case '{':
		s->p++;
		return scan_container(s, depth, '}', true);
	case '[':
		s->p++;
		return scan_container(s, depth, ']', false);
	default:
		return scan_literal(s);
	}
}

int mo_challenge_parse(const char *data, size_t len, struct mo_challenge *c)
{
	struct scan s = {data, data + len};

	memset(c, 0, sizeof(*c));
	if (!data || len > MO_CHALLENGE_MAX || !eat(&s, '{'))
		return -EBADMSG;
	if (!eat(&s, '}')) {
		do {
			char key[16];
			char *dst = NULL;
			size_t size = 0;

			if (scan_string(&s, key, sizeof(key)) < 0 || !eat(&s, ':'))
				return -EBADMSG;
			if (strcmp(key, "status") == 0)
				dst = c->status, size = sizeof(c->status);
			else if (strcmp(key, "schemes") == 0)
				dst = c->schemes, size = sizeof(c->schemes);
			else if (strcmp(key, "scope") == 0)
				dst = c->scope, size = sizeof(c->scope);
			skip_ws(&s);
			if (dst && s.p < s.end && *s.p == '"') {
				if (scan_string(&s, dst, size) < 0)
					return -EBADMSG;
			} else if (scan_value(&s, 1) < 0) {
				return -EBADMSG;
			}
		} while (eat(&s, ','));
		if (!eat(&s, '}'))
			return -EBADMSG;
	}
	skip_ws(&s);
	return s.p == s.end ? 0 : -EBADMSG;
}

const char *mo_challenge_explain(const struct mo_challenge *c)
{
	const char *st = c->status;

	if (strcmp(st, "401") == 0 || strcasecmp(st, "invalid_token") == 0)
		return "the server rejected the access token (expired, revoked, "
		       "for another user or another audience)";
	if (strcmp(st, "403") == 0 || strcasecmp(st, "insufficient_scope") == 0)
		return "the access token lacks the scope the server requires";
	if (strcmp(st, "400") == 0 || strcasecmp(st, "invalid_request") == 0)
		return "the server found the authentication request malformed";
	return "the server refused the authentication";
}
