/* SPDX-License-Identifier: MIT */
/*
 * graph_mime.c - an RFC 5322 message made ready for Graph's sendMail (see
 *	graph_mime.h): the header read field by field, To and Cc parsed as
 *	address lists, Bcc added for envelope-only recipients, CRLF line ends
 */
#define _GNU_SOURCE
#include "graph_mime.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

size_t mo_graph_base64_len(size_t n)
{
	return (n / 3 + (n % 3 != 0)) * 4;
}

/* ------------------------------------------------------------ buffer */

void mo_graph_buf_init(struct mo_graph_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

int mo_graph_buf_append(struct mo_graph_buf *b, const void *data, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return -EMSGSIZE;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 8192;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		b->data = g_realloc(b->data, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void mo_graph_buf_free(struct mo_graph_buf *b)
{
	g_free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ------------------------------------------------------------ addresses */

bool mo_graph_addr_valid(const char *addr)
{
	size_t n = 0;

	if (!addr)
		return false;
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++, n++)
		if (*p < 0x20 || *p == 0x7f || n >= MO_GRAPH_ADDR_MAX)
			return false;
	return n > 0;
}

/*
 * canon - the form in which two addresses are compared: a quoted local
 * part unquoted, ASCII lower case. A new string, or NULL when too long.
 */
static char *canon(const char *a, size_t len)
{
	GString *s;
	size_t i = 0;

	while (len && (*a == ' ' || *a == '\t')) {
		a++;
		len--;
	}
	while (len && (a[len - 1] == ' ' || a[len - 1] == '\t'))
		len--;
	if (len == 0 || len > MO_GRAPH_ADDR_MAX)
		return NULL;
	s = g_string_sized_new(len);
	if (a[0] == '"') {
		for (i = 1; i < len && a[i] != '"'; i++) {
			if (a[i] == '\\' && i + 1 < len)
				i++;
			g_string_append_c(s, a[i]);
		}
		if (i < len)
			i++;	/* the closing quote */
	}
	g_string_append_len(s, a + i, (gssize)(len - i));
	for (char *p = s->str; *p; p++)
		*p = g_ascii_tolower(*p);
	return g_string_free(s, FALSE);
}

bool mo_graph_addr_equal(const char *a, size_t alen, const char *b,
			 size_t blen)
{
	char *ca = canon(a, alen), *cb = canon(b, blen);
	bool eq = ca && cb && strcmp(ca, cb) == 0;

	g_free(ca);
	g_free(cb);
	return eq;
}

/* one address being collected: at most MO_GRAPH_ADDR_MAX bytes */
struct acc {
	char buf[MO_GRAPH_ADDR_MAX];
	size_t len;
	bool overflow;
};

static void acc_add(struct acc *a, char c)
{
	if (a->len < sizeof(a->buf))
		a->buf[a->len++] = c;
	else
		a->overflow = true;
}

static void acc_reset(struct acc *a)
{
	a->len = 0;
	a->overflow = false;
}

size_t mo_graph_parse_addresses(const char *v, size_t len,
				bool (*found)(const char *addr, size_t len,
					      void *ud),
				void *ud)
{
	struct acc cur = {0}, angle = {0};
	bool in_quote = false, in_angle = false, have_angle = false;
	bool stop = false;
	size_t depth = 0, n = 0;

	for (size_t i = 0; i <= len && !stop; i++) {
		struct acc *t = in_angle ? &angle : &cur;
		char c = i < len ? v[i] : ',';	/* the end ends an address */

		if (depth) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			if (i < len)
				continue;
			c = ',';	/* an unclosed comment ends at the end */
			depth = 0;
		}
		if (in_quote && i < len) {
			if (c == '\r' || c == '\n')
				continue;	/* folding inside quotes */
			acc_add(t, c);
			if (c == '\\' && i + 1 < len)
				acc_add(t, v[++i]);
			else if (c == '"')
				in_quote = false;
			continue;
		}
		switch (c) {
		case '(':
			depth = 1;
			break;
		case '"':
			in_quote = true;
			acc_add(t, c);
			break;
		case '<':
			if (!in_angle) {
				in_angle = have_angle = true;
				acc_reset(&angle);
			}
			break;
		case '>':
			in_angle = false;
			break;
		case ':':
			if (in_angle)
				acc_add(t, c);
			else
				acc_reset(&cur);	/* a group's name */
			break;
		case ',':
		case ';':
			if (in_angle && i < len) {
				acc_add(t, c);	/* an obsolete route */
				break;
			}
			{
				struct acc *a = have_angle ? &angle : &cur;
				const char *s = a->buf;
				size_t l = a->len;

				if (have_angle && l && s[0] == '@') {
					/* "<@a,@b:user@c>": drop the route */
					const char *colon = memchr(s, ':', l);

					l = colon ? l - (size_t)(colon + 1 - s) : 0;
					s = colon ? colon + 1 : s;
				}
				if (l && !a->overflow) {
					n++;
					if (!found(s, l, ud))
						stop = true;
				}
			}
			acc_reset(&cur);
			acc_reset(&angle);
			in_angle = have_angle = in_quote = false;
			break;
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			break;
		default:
			acc_add(t, c);
		}
	}
	return n;
}

/* ------------------------------------------------------------ the message */

struct prep {
	GHashTable *seen;	/* canonical addresses in To, Cc and Bcc */
	size_t n_addrs;
};

static bool collect(const char *addr, size_t len, void *ud)
{
	struct prep *p = ud;
	char *c;

	if (p->n_addrs >= MO_GRAPH_ADDRS_MAX)
		return false;
	c = canon(addr, len);
	if (!c)
		return true;
	p->n_addrs++;
	g_hash_table_add(p->seen, c);	/* a repeat replaces the old key */
	return true;
}

/* field_is - is the field at P (LEN bytes of "Name:..." or "Name :") NAME */
static bool field_is(const char *p, size_t name_len, const char *name)
{
	return name_len == strlen(name) &&
	       g_ascii_strncasecmp(p, name, name_len) == 0;
}

/* field_name_len - length of a field name starting at P, or 0 if none */
static size_t field_name_len(const char *p, size_t avail, size_t *colon_r)
{
	size_t i = 0, j;

	while (i < avail && (unsigned char)p[i] > 0x20 &&
	       (unsigned char)p[i] < 0x7f && p[i] != ':')
		i++;
	if (i == 0)
		return 0;
	j = i;
	while (j < avail && (p[j] == ' ' || p[j] == '\t'))
		j++;	/* obs-optional: "Subject : x" */
	if (j >= avail || p[j] != ':')
		return 0;
	*colon_r = j;
	return i;
}

/* append_crlf - append LEN bytes of S, every bare LF made CRLF */
static int append_crlf(struct mo_graph_buf *b, const char *s, size_t len)
{
	size_t start = 0;
	int r;

	for (size_t i = 0; i < len; i++) {
		if (s[i] != '\n' || (i > 0 && s[i - 1] == '\r'))
			continue;
		if ((r = mo_graph_buf_append(b, s + start, i - start)) < 0 ||
		    (r = mo_graph_buf_append(b, "\r\n", 2)) < 0)
			return r;
		start = i + 1;
	}
	return mo_graph_buf_append(b, s + start, len - start);
}

/* dot_atom - is the local part S (LEN bytes) a dot-atom (8-bit allowed) */
static bool dot_atom(const char *s, size_t len)
{
	static const char specials[] = "()<>[]:;@\\,\".";

	if (!len || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (s[i + 1] == '.')
				return false;
			continue;
		}
		if (c <= 0x20 || c == 0x7f || strchr(specials, c))
			return false;
	}
	return true;
}

/* append_addr - an envelope address as an addr-spec, quoting if needed */
static int append_addr(struct mo_graph_buf *b, const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t local = at ? (size_t)(at - addr) : strlen(addr);
	int r;

	if (addr[0] == '"' || dot_atom(addr, local))
		return mo_graph_buf_append(b, addr, strlen(addr));
	if ((r = mo_graph_buf_append(b, "\"", 1)) < 0)
		return r;
	for (size_t i = 0; i < local; i++) {
		if ((addr[i] == '"' || addr[i] == '\\') &&
		    (r = mo_graph_buf_append(b, "\\", 1)) < 0)
			return r;
		if ((r = mo_graph_buf_append(b, addr + i, 1)) < 0)
			return r;
	}
	if ((r = mo_graph_buf_append(b, "\"", 1)) < 0)
		return r;
	return mo_graph_buf_append(b, addr + local, strlen(addr + local));
}

int mo_graph_mime_prepare(const char *msg, size_t len,
			  const char *const *rcpts, size_t n_rcpts,
			  size_t max_out, struct mo_graph_mime *out)
{
	struct prep p = {0};
	struct mo_graph_buf b;
	size_t pos = 0, n_fields = 0, n_dropped = 0, n_bcc = 0;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (n_rcpts == 0 || n_rcpts > MO_GRAPH_RCPTS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n_rcpts; i++)
		if (!mo_graph_addr_valid(rcpts[i]))
			return -EINVAL;
	mo_graph_buf_init(&b, max_out);
	p.seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	/* an mbox "From " line (pipe(8) flag F) is not part of the message */
	if (len >= 5 && memcmp(msg, "From ", 5) == 0) {
		const char *nl = memchr(msg, '\n', len);

		pos = nl ? (size_t)(nl - msg) + 1 : len;
	}

	/* the header, field by field */
	while (pos < len) {
		const char *line = msg + pos, *nl;
		size_t colon = 0, name_len, end;

		if (line[0] == '\n' || (line[0] == '\r' && pos + 1 < len &&
					line[1] == '\n')) {
			pos += line[0] == '\n' ? 1 : 2;
			break;
		}
		name_len = field_name_len(line, len - pos, &colon);
		if (!name_len)
			break;	/* not a field: the body starts here */
		/* the field and its continuation lines */
		end = pos;
		do {
			nl = memchr(msg + end, '\n', len - end);
			end = nl ? (size_t)(nl - msg) + 1 : len;
		} while (end < len && (msg[end] == ' ' || msg[end] == '\t'));
		n_fields++;
		if (field_is(line, name_len, "To") || field_is(line, name_len, "Cc")) {
			mo_graph_parse_addresses(line + colon + 1,
						 end - (pos + colon + 1),
						 collect, &p);
		} else if (field_is(line, name_len, "Bcc") ||
			   field_is(line, name_len, "Return-Path")) {
			n_dropped++;
			pos = end;
			continue;
		}
		if ((r = append_crlf(&b, line, end - pos)) < 0)
			goto fail;
		if (b.len < 2 || b.data[b.len - 1] != '\n')
			if ((r = mo_graph_buf_append(&b, "\r\n", 2)) < 0)
				goto fail;	/* a last field without LF */
		pos = end;
	}
	if (n_fields == 0) {
		r = -EBADMSG;
		goto fail;
	}

	/* every envelope recipient not in To or Cc, once, as Bcc */
	for (size_t i = 0; i < n_rcpts; i++) {
		char *c = canon(rcpts[i], strlen(rcpts[i]));

		if (!c) {
			r = -EINVAL;
			goto fail;
		}
		if (!g_hash_table_add(p.seen, c))
			continue;	/* named already (c was freed) */
		if ((r = mo_graph_buf_append(&b, n_bcc ? ",\r\n " : "Bcc: ",
					     n_bcc ? 4 : 5)) < 0 ||
		    (r = append_addr(&b, rcpts[i])) < 0)
			goto fail;
		n_bcc++;
	}
	if (n_bcc && (r = mo_graph_buf_append(&b, "\r\n", 2)) < 0)
		goto fail;

	/* the blank line, even when the header ended without one */
	if ((r = mo_graph_buf_append(&b, "\r\n", 2)) < 0 ||
	    (r = append_crlf(&b, msg + pos, len - pos)) < 0)
		goto fail;

	out->data = b.data;
	out->len = b.len;
	out->n_header_addrs = p.n_addrs;
	out->n_bcc = n_bcc;
	out->n_dropped = n_dropped;
	g_hash_table_destroy(p.seen);
	return 0;
fail:
	mo_graph_buf_free(&b);
	g_hash_table_destroy(p.seen);
	return r;
}

void mo_graph_mime_free(struct mo_graph_mime *out)
{
	g_free(out->data);
	memset(out, 0, sizeof(*out));
}
