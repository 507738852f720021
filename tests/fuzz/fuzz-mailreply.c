/* SPDX-License-Identifier: MIT */
/*
 * fuzz-mailreply.c - libFuzzer target: what a hostile mail server can send
 * to `mailoauth test` (mailreply.c): SMTP replies line by line and whole,
 * EHLO extensions, IMAP response lines, capabilities, literals, and the
 * base64 error challenge
 */
#include "mailreply.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* printable - S is NUL-terminated printable ASCII within SIZE */
static void printable(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n == size)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			if (s[i] != '\n')
				abort();
}

static void check_smtp(const struct mo_smtp_reply *r)
{
	struct mo_smtp_ehlo e;

	printable(r->text, sizeof(r->text));
	printable(r->enhanced, sizeof(r->enhanced));
	if (strlen(r->text) != r->len || r->code < 200 || r->code > 559)
		abort();
	mo_smtp_ehlo_parse(r, &e);
	printable(e.mechs, sizeof(e.mechs));
	if (strchr(e.mechs, '\n'))
		abort();
}

static void check_imap(const char *line, size_t len)
{
	static struct mo_imap_line l;	/* large: keep it off the stack */
	struct mo_imap_caps caps;
	long lit;

	if (mo_imap_line_parse(line, len, &l) == 0) {
		printable(l.tag, sizeof(l.tag));
		printable(l.keyword, sizeof(l.keyword));
		printable(l.code, sizeof(l.code));
		printable(l.code_args, sizeof(l.code_args));
		printable(l.text, sizeof(l.text));
		if (strchr(l.text, '\n') || strchr(l.code_args, '\n'))
			abort();
		if (l.kind == MO_IMAP_TAGGED && (!l.tag[0] || l.status == MO_IMAP_NONE))
			abort();
		mo_imap_caps_parse(l.text, &caps);
		printable(caps.mechs, sizeof(caps.mechs));
		mo_imap_caps_parse(l.code_args, &caps);
		printable(caps.mechs, sizeof(caps.mechs));
	}
	lit = mo_imap_literal(line, len);
	if (lit < -1 && lit != -EMSGSIZE)
		abort();
	if (lit > 1000000000L)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mo_smtp_reply r;
	const char *p = (const char *)data, *end = p + size;
	struct mo_challenge c;
	char json[256];

	/* the whole input as one reply */
	if (mo_smtp_reply_parse(p, size, &r) == 1)
		check_smtp(&r);

	/* line by line, as the connection hands them over */
	mo_smtp_reply_init(&r);
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t len = lf ? (size_t)(lf - p) : (size_t)(end - p);
		int ret;

		if (len <= MO_REPLY_LINE_MAX) {
			ret = mo_smtp_reply_feed(&r, p, len);
			if (ret == 1)
				check_smtp(&r);
			if (ret != 0)
				mo_smtp_reply_init(&r);
			check_imap(p, len);
			if (mo_reply_challenge(p, len, &c, json, sizeof(json)) == 0) {
				printable(c.status, sizeof(c.status));
				printable(c.scope, sizeof(c.scope));
			}
			printable(json, sizeof(json));
		}
		p += len + (lf ? 1 : 0);
	}
	return 0;
}
