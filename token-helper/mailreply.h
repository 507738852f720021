/* SPDX-License-Identifier: MIT */
/*
 * mailreply.h - read what SMTP and IMAP servers answer
 *
 * The parsers behind `mailoauth test`: SMTP replies (multi-line, with
 * RFC 3463 enhanced status codes) and the EHLO extensions in them; IMAP
 * response lines (tagged, untagged, continuation), response codes,
 * capabilities and literals; the base64 OAuth error challenge of both.
 * Pure functions over caller-owned memory: no I/O, no allocation except
 * inside mo_reply_challenge.
 *
 * SECURITY
 *	Everything here comes from a server that may be hostile. Each line
 *	is bounded by MO_REPLY_LINE_MAX (the reader enforces it), each reply
 *	by MO_REPLY_LINES_MAX lines, each kept text by its buffer; text that
 *	is kept is made printable ASCII (so it cannot move a terminal's
 *	cursor or forge an output line), and numbers are checked for
 *	overflow. Fuzzed by tests/fuzz/fuzz-mailreply.c.
 *
 * DIAGNOSTICS
 *	Parsers return -EBADMSG for malformed input and -EMSGSIZE for input
 *	beyond the bounds; the caller reports it as a protocol failure.
 */
#ifndef MAILOAUTH_MAILREPLY_H
#define MAILOAUTH_MAILREPLY_H

#include "saslmsg.h"

#include <stdbool.h>
#include <stddef.h>

#define MO_REPLY_LINE_MAX 8192	/* one server line, CRLF included */
#define MO_REPLY_TEXT_MAX 8192	/* text kept of one reply or line */
#define MO_REPLY_LINES_MAX 128	/* lines of one SMTP reply */
#define MO_MECHS_MAX 256	/* the list of mechanisms offered */

/* ---------------------------------------------------------------- SMTP */

struct mo_smtp_reply {
	int code;			/* 200..599, 0 before the first line */
	char enhanced[16];		/* "5.7.139", or "" */
	char text[MO_REPLY_TEXT_MAX];	/* each line's text (the enhanced
					 * code taken off), joined by '\n' */
	size_t len;			/* of text */
	unsigned nlines;
	bool done;			/* the last line was read */
	bool truncated;			/* text was cut */
};

void mo_smtp_reply_init(struct mo_smtp_reply *r);

/*
 * mo_smtp_reply_feed - add one line of a reply (LEN bytes, with or
 * without CRLF). Returns 1 when the reply is complete, 0 when more lines
 * follow, -EBADMSG for a malformed line or a code that differs from the
 * first line's, -EMSGSIZE after MO_REPLY_LINES_MAX lines.
 */
int mo_smtp_reply_feed(struct mo_smtp_reply *r, const char *line, size_t len);

/* mo_smtp_reply_parse - a whole reply in one buffer ("250-a\r\n250 b\r\n") */
int mo_smtp_reply_parse(const char *data, size_t len, struct mo_smtp_reply *r);

/* the extensions of an EHLO reply that matter here */
struct mo_smtp_ehlo {
	bool starttls;
	bool auth;			/* an AUTH (or AUTH=) line */
	bool xoauth2, oauthbearer;
	char mechs[MO_MECHS_MAX];	/* the mechanisms, space-separated */
};

void mo_smtp_ehlo_parse(const struct mo_smtp_reply *r, struct mo_smtp_ehlo *e);

/* ---------------------------------------------------------------- IMAP */

enum mo_imap_kind { MO_IMAP_UNTAGGED, MO_IMAP_TAGGED, MO_IMAP_CONTINUATION };

enum mo_imap_status {
	MO_IMAP_NONE,			/* untagged data ("* CAPABILITY ...") */
	MO_IMAP_OK, MO_IMAP_NO, MO_IMAP_BAD, MO_IMAP_PREAUTH, MO_IMAP_BYE
};

struct mo_imap_line {
	enum mo_imap_kind kind;
	enum mo_imap_status status;
	char tag[32];			/* tagged only */
	bool has_number;		/* "* 23 EXISTS" */
	unsigned long number;
	char keyword[32];		/* untagged data: "CAPABILITY", "EXISTS" */
	char code[32];			/* response code: "AUTHENTICATIONFAILED" */
	char code_args[1024];		/* after the code, inside the brackets */
	char text[MO_REPLY_TEXT_MAX];	/* the human text, the data after the
					 * keyword, or the continuation's data */
};

/*
 * mo_imap_line_parse - one response line (LEN bytes, CRLF optional).
 * Status words, keywords and codes are upper-cased. Returns 0 or -EBADMSG.
 */
int mo_imap_line_parse(const char *line, size_t len, struct mo_imap_line *l);

struct mo_imap_caps {
	bool starttls, sasl_ir, logindisabled;
	bool auth;			/* at least one AUTH= */
	bool xoauth2, oauthbearer;
	char mechs[MO_MECHS_MAX];	/* the AUTH= mechanisms, space-separated */
};

/* mo_imap_caps_parse - a capability list ("IMAP4rev1 SASL-IR AUTH=...") */
void mo_imap_caps_parse(const char *list, struct mo_imap_caps *caps);

/*
 * mo_imap_literal - the size N of a literal "{N}" or "{N+}" ending the
 * line (CRLF optional), -1 when there is none, -EMSGSIZE when N is over
 * a billion
 */
long mo_imap_literal(const char *line, size_t len);

/* ---------------------------------------------------------------- both */

/*
 * mo_reply_challenge - decode the base64 error challenge B64 (LEN bytes)
 * of an XOAUTH2/OAUTHBEARER server into C; JSON (SIZE bytes, may be NULL)
 * receives the decoded text made printable. Returns 0, -EBADMSG (not
 * base64 or not a JSON object) or -EMSGSIZE (over MO_CHALLENGE_MAX).
 */
int mo_reply_challenge(const char *b64, size_t len, struct mo_challenge *c,
		       char *json, size_t size);

/* mo_reply_printable - copy LEN bytes of S into OUT (SIZE), printable ASCII */
void mo_reply_printable(char *out, size_t size, const char *s, size_t len);

#endif
