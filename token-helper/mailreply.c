/* SPDX-License-Identifier: MIT */
/*
 * mailreply.c - parse SMTP replies and IMAP response lines (mailreply.h)
 *
 * SMTP (RFC 5321 4.2): "CODE-text" lines until "CODE text"; every line
 * carries the same code. An enhanced status code (RFC 3463, "5.7.139")
 * after the code must have the code's class as its first digit.
 * IMAP (RFC 9051 7): "TAG OK|NO|BAD [CODE args] text", "* OK|NO|BAD|
 * PREAUTH|BYE [CODE args] text", "* [N] KEYWORD data", "+ data".
 *
 * SECURITY
 *	Every index is checked against the length given, never against a
 *	NUL: a server line may hold NUL bytes. Kept text is printable ASCII.
 */
#define _GNU_SOURCE
#include "mailreply.h"

#include <errno.h>
#include <glib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void mo_reply_printable(char *out, size_t size, const char *s, size_t len)
{
	size_t n = 0;

	if (!size)
		return;
	for (size_t i = 0; i < len && n + 1 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		out[n++] = c == '\t' ? ' ' : (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	out[n] = '\0';
}

/* chomp - LEN without a trailing LF and CR */
static size_t chomp(const char *line, size_t len)
{
	if (len && line[len - 1] == '\n')
		len--;
	if (len && line[len - 1] == '\r')
		len--;
	return len;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ---------------------------------------------------------------- SMTP */

void mo_smtp_reply_init(struct mo_smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
}

/*
 * enhanced_len - the length of an enhanced status code of class CLS at
 * P (N bytes) followed by a space or the end, else 0
 */
static size_t enhanced_len(const char *p, size_t n, char cls)
{
	size_t i = 0;

	if (n < 5 || p[0] != cls || p[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		size_t start = i;

		while (i < n && is_digit(p[i]) && i - start < 3)
			i++;
		if (i == start)
			return 0;
		if (part == 0) {
			if (i >= n || p[i] != '.')
				return 0;
			i++;
		}
	}
	return (i == n || p[i] == ' ') ? i : 0;
}

/* append - add LEN bytes of S to the reply's text, made printable */
static void append(struct mo_smtp_reply *r, const char *s, size_t len)
{
	size_t room;

	if (r->nlines > 1) {
		if (r->len + 1 < sizeof(r->text))
			r->text[r->len++] = '\n';
		else
			r->truncated = true;
	}
	room = sizeof(r->text) - r->len;
	if (len >= room) {
		len = room ? room - 1 : 0;
		r->truncated = true;
	}
	mo_reply_printable(r->text + r->len, room, s, len);
	r->len += strlen(r->text + r->len);
}

int mo_smtp_reply_feed(struct mo_smtp_reply *r, const char *line, size_t len)
{
	const char *p;
	size_t n, e;
	int code;

	if (r->done)
		return -EBADMSG;
	len = chomp(line, len);
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '5' || !is_digit(line[2]))
		return -EBADMSG;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return -EBADMSG;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->nlines && code != r->code)
		return -EBADMSG;
	if (r->nlines >= MO_REPLY_LINES_MAX)
		return -EMSGSIZE;
	r->code = code;
	r->nlines++;
	p = len > 4 ? line + 4 : line + len;
	n = len > 4 ? len - 4 : 0;
	e = enhanced_len(p, n, line[0]);
	if (e) {
		if (!r->enhanced[0] && e < sizeof(r->enhanced))
			mo_reply_printable(r->enhanced, sizeof(r->enhanced), p, e);
		p += e;
		n -= e;
		while (n && *p == ' ')
			p++, n--;
	}
	append(r, p, n);
	if (len == 3 || line[3] == ' ') {
		r->done = true;
		return 1;
	}
	return 0;
}

int mo_smtp_reply_parse(const char *data, size_t len, struct mo_smtp_reply *r)
{
	size_t start = 0;
	int ret = -EBADMSG;

	mo_smtp_reply_init(r);
	while (start < len) {
		const char *lf = memchr(data + start, '\n', len - start);
		size_t end = lf ? (size_t)(lf - data) + 1 : len;

		if (end - start > MO_REPLY_LINE_MAX)
			return -EMSGSIZE;
		ret = mo_smtp_reply_feed(r, data + start, end - start);
		if (ret < 0)
			return ret;
		start = end;
		if (ret == 1)
			return start == len ? 1 : -EBADMSG;
	}
	return ret == 0 ? 0 : -EBADMSG;
}

/* add_mech - append the mechanism M (N bytes) to LIST unless it is there */
static void add_mech(char *list, size_t size, const char *m, size_t n)
{
	size_t used = strlen(list);
	const char *p = list;

	if (!n)
		return;
	while (*p) {
		size_t w = strcspn(p, " ");

		if (w == n && !strncasecmp(p, m, n))
			return;
		p += w;
		while (*p == ' ')
			p++;
	}
	if (used + (used ? 1 : 0) + n + 1 > size)
		return;
	if (used)
		list[used++] = ' ';
	for (size_t i = 0; i < n; i++)
		list[used++] = (char)g_ascii_toupper(m[i]);
	list[used] = '\0';
}

/* note_mech - record the mechanism M (N bytes) */
static void note_mech(const char *m, size_t n, bool *xoauth2, bool *oauthbearer,
		      char *list, size_t size)
{
	if (n == 7 && !strncasecmp(m, "XOAUTH2", 7))
		*xoauth2 = true;
	if (n == 11 && !strncasecmp(m, "OAUTHBEARER", 11))
		*oauthbearer = true;
	add_mech(list, size, m, n);
}

void mo_smtp_ehlo_parse(const struct mo_smtp_reply *r, struct mo_smtp_ehlo *e)
{
	const char *p = r->text, *end = r->text + r->len;
	bool first = true;

	memset(e, 0, sizeof(*e));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t kw = 0;

		if (first) {	/* the server's name and greeting */
			first = false;
			p = le + 1;
			continue;
		}
		while (p + kw < le && p[kw] != ' ' && p[kw] != '=')
			kw++;
		if (kw == 8 && !strncasecmp(p, "STARTTLS", 8)) {
			e->starttls = true;
		} else if (kw == 4 && !strncasecmp(p, "AUTH", 4) && p + kw < le) {
			const char *q = p + kw + 1;

			e->auth = true;
			while (q < le) {
				size_t w = 0;

				while (q < le && *q == ' ')
					q++;
				while (q + w < le && q[w] != ' ')
					w++;
				note_mech(q, w, &e->xoauth2, &e->oauthbearer,
					  e->mechs, sizeof(e->mechs));
				q += w;
			}
		}
		p = le + 1;
	}
}

/* ---------------------------------------------------------------- IMAP */

/* a cursor over one line */
struct cur {
	const char *p, *end;
};

/* atom - the length of the atom at the cursor (stops at SP ( ) { ] etc.) */
static size_t atom(const struct cur *c)
{
	size_t n = 0;

	while (c->p + n < c->end) {
		unsigned char ch = (unsigned char)c->p[n];

		if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"\\]", ch))
			break;
		n++;
	}
	return n;
}

/* copy_upper - N bytes at P into OUT (SIZE), upper-cased; false if too long */
static bool copy_upper(char *out, size_t size, const char *p, size_t n)
{
	if (n >= size)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)g_ascii_toupper(p[i]);
	out[n] = '\0';
	return true;
}

static enum mo_imap_status status_word(const char *w)
{
	static const struct { const char *name; enum mo_imap_status st; } words[] = {
		{"OK", MO_IMAP_OK}, {"NO", MO_IMAP_NO}, {"BAD", MO_IMAP_BAD},
		{"PREAUTH", MO_IMAP_PREAUTH}, {"BYE", MO_IMAP_BYE},
	};

	for (size_t i = 0; i < G_N_ELEMENTS(words); i++)
		if (!strcmp(w, words[i].name))
			return words[i].st;
	return MO_IMAP_NONE;
}

/* resp_text - "[CODE args] text" or "text" at the cursor */
static int resp_text(struct cur *c, struct mo_imap_line *l)
{
	if (c->p < c->end && *c->p == '[') {
		const char *close;
		size_t n;

		c->p++;
		n = atom(c);
		if (!n || !copy_upper(l->code, sizeof(l->code), c->p, n))
			return -EBADMSG;
		c->p += n;
		close = memchr(c->p, ']', (size_t)(c->end - c->p));
		if (!close)
			return -EBADMSG;
		if (c->p < close) {
			if (*c->p != ' ')
				return -EBADMSG;
			mo_reply_printable(l->code_args, sizeof(l->code_args),
					   c->p + 1, (size_t)(close - c->p - 1));
		}
		c->p = close + 1;
		if (c->p < c->end && *c->p != ' ')
			return -EBADMSG;
		while (c->p < c->end && *c->p == ' ')
			c->p++;
	}
	mo_reply_printable(l->text, sizeof(l->text), c->p, (size_t)(c->end - c->p));
	return 0;
}

int mo_imap_line_parse(const char *line, size_t len, struct mo_imap_line *l)
{
	struct cur c = {line, line + chomp(line, len)};
	char word[32];
	size_t n;

	memset(l, 0, sizeof(*l));
	if (c.p >= c.end)
		return -EBADMSG;
	if (*c.p == '+') {
		l->kind = MO_IMAP_CONTINUATION;
		c.p++;
		if (c.p < c.end && *c.p == ' ')
			c.p++;
		mo_reply_printable(l->text, sizeof(l->text), c.p,
				   (size_t)(c.end - c.p));
		return 0;
	}
	if (*c.p == '*') {
		l->kind = MO_IMAP_UNTAGGED;
		c.p++;
	} else {
		l->kind = MO_IMAP_TAGGED;
		n = atom(&c);
		if (!n || n >= sizeof(l->tag) || memchr(c.p, '+', n))
			return -EBADMSG;
		memcpy(l->tag, c.p, n);
		l->tag[n] = '\0';
		c.p += n;
	}
	if (c.p >= c.end || *c.p != ' ')
		return -EBADMSG;
	c.p++;
	if (l->kind == MO_IMAP_UNTAGGED && c.p < c.end && is_digit(*c.p)) {
		unsigned long v = 0;

		while (c.p < c.end && is_digit(*c.p)) {
			if (v > (ULONG_MAX - 9) / 10)
				return -EBADMSG;
			v = v * 10 + (unsigned long)(*c.p++ - '0');
		}
		if (c.p >= c.end || *c.p != ' ')
			return -EBADMSG;
		c.p++;
		l->has_number = true;
		l->number = v;
	}
	n = atom(&c);
	if (!n || !copy_upper(word, sizeof(word), c.p, n))
		return -EBADMSG;
	c.p += n;
	if (c.p < c.end) {
		if (*c.p != ' ')
			return -EBADMSG;
		c.p++;
	}
	l->status = l->has_number ? MO_IMAP_NONE : status_word(word);
	if (l->kind == MO_IMAP_TAGGED &&
	    (l->status == MO_IMAP_NONE || l->status == MO_IMAP_PREAUTH ||
	     l->status == MO_IMAP_BYE))
		return -EBADMSG;
	if (l->status != MO_IMAP_NONE)
		return resp_text(&c, l);
	memcpy(l->keyword, word, sizeof(word));
	mo_reply_printable(l->text, sizeof(l->text), c.p, (size_t)(c.end - c.p));
	return 0;
}

void mo_imap_caps_parse(const char *list, struct mo_imap_caps *caps)
{
	const char *p = list;

	memset(caps, 0, sizeof(*caps));
	while (*p) {
		size_t w;

		while (*p == ' ')
			p++;
		w = strcspn(p, " ");
		if (w == 8 && !strncasecmp(p, "STARTTLS", 8))
			caps->starttls = true;
		else if (w == 7 && !strncasecmp(p, "SASL-IR", 7))
			caps->sasl_ir = true;
		else if (w == 13 && !strncasecmp(p, "LOGINDISABLED", 13))
			caps->logindisabled = true;
		else if (w > 5 && !strncasecmp(p, "AUTH=", 5)) {
			caps->auth = true;
			note_mech(p + 5, w - 5, &caps->xoauth2, &caps->oauthbearer,
				  caps->mechs, sizeof(caps->mechs));
		}
		p += w;
	}
}

long mo_imap_literal(const char *line, size_t len)
{
	size_t i;
	long v = 0;

	len = chomp(line, len);
	if (len < 3 || line[len - 1] != '}')
		return -1;
	i = len - 1;
	if (line[i - 1] == '+')
		i--;
	if (i == 0 || !is_digit(line[i - 1]))
		return -1;
	while (i > 0 && is_digit(line[i - 1]))
		i--;
	if (i == 0 || line[i - 1] != '{')
		return -1;
	for (; line[i] != '}' && line[i] != '+'; i++) {
		v = v * 10 + (line[i] - '0');
		if (v > 1000000000L)
			return -EMSGSIZE;
	}
	return v;
}

/* ---------------------------------------------------------------- both */

int mo_reply_challenge(const char *b64, size_t len, struct mo_challenge *c,
		       char *json, size_t size)
{
	char *tmp;
	guchar *raw;
	gsize rawlen;
	int r;

	memset(c, 0, sizeof(*c));
	if (json && size)
		json[0] = '\0';
	while (len && b64[len - 1] == ' ')
		len--;
	if (!len || len % 4)
		return -EBADMSG;
	if (len / 4 * 3 > MO_CHALLENGE_MAX + 2)
		return -EMSGSIZE;
	for (size_t i = 0; i < len; i++) {
		char ch = b64[i];

		if (ch == '=' ? i + 2 < len || (i + 1 < len && b64[i + 1] != '=')
			      : !(g_ascii_isalnum(ch) || ch == '+' || ch == '/'))
			return -EBADMSG;
	}
	tmp = g_strndup(b64, len);
	raw = g_base64_decode(tmp, &rawlen);
	g_free(tmp);
	if (rawlen > MO_CHALLENGE_MAX) {
		g_free(raw);
		return -EMSGSIZE;
	}
	if (json)
		mo_reply_printable(json, size, (const char *)raw, rawlen);
	r = mo_challenge_parse((const char *)raw, rawlen, c);
	g_free(raw);
	return r;
}
