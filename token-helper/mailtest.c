/* SPDX-License-Identifier: MIT */
/*
 * mailtest.c - the SMTP and IMAP dialogues of `mailoauth test` (mailtest.h)
 *
 * SMTP (RFC 5321, 3207, 4954): greeting 220, EHLO, [STARTTLS, EHLO],
 * AUTH MECH initial-response (or AUTH MECH, empty 334, response when the
 * line would pass 512 octets: Dovecot and others refuse longer lines), an
 * error challenge 334 answered with an empty line (XOAUTH2) or ^A
 * (OAUTHBEARER, RFC 7628 3.2.3), then MAIL FROM, [RCPT TO, DATA], RSET,
 * QUIT. IMAP (RFC 9051, 4959): greeting, CAPABILITY, [STARTTLS,
 * CAPABILITY], AUTHENTICATE with SASL-IR when offered, EXAMINE INBOX,
 * LOGOUT.
 *
 * SECURITY
 *	The initial response exists once, base64, in T->ir: written in one
 *	buffer that is wiped, matched against every transcript line so that
 *	no echo of it is shown, and wiped and freed at the end. After
 *	STARTTLS, bytes the server sent ahead of the handshake end the test
 *	(they would be read as if they came over TLS).
 *
 * DIAGNOSTICS
 *	One line per step on the caller's stream; failures are recorded in
 *	the result for diagnose.c.
 */
#define _GNU_SOURCE
#include "mailtest.h"
#include "mailconn.h"
#include "proto.h"

#include <errno.h>
#include <glib.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define IR_INLINE_MAX 512	/* longer AUTH lines send the response after 334 */
#define IMAP_LINES_MAX 10000	/* untagged lines in one answer */
#define IMAP_LITERALS_MAX (1L << 20)	/* literal bytes in one answer */
#define CHALLENGE_ROUNDS 2
#define GOODBYE_MS 2000

struct t {
	const struct mo_mailtest_opts *o;
	struct mo_mailtest_result *res;
	struct mo_mailconn *c;
	struct mo_mailconn_error err;
	enum mo_diag_step step;
	char *ir;			/* base64 initial response: secret */
	unsigned ntag;
	char tag[16];
	char label[512];		/* what the step line says */
	size_t len;
	char line[MO_REPLY_LINE_MAX + 1];
	struct mo_smtp_reply reply;
	struct mo_smtp_ehlo ehlo;
	struct mo_imap_line il;
	struct mo_imap_caps caps;
};

static void say(struct t *t, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void say(struct t *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(t->o->out, fmt, ap);
	va_end(ap);
	fputc('\n', t->o->out);
}

/* leaks - does S (LEN bytes) contain the token or the initial response */
static bool leaks(const struct t *t, const char *s, size_t len)
{
	const char *tok = t->o->token;

	return (tok && *tok && memmem(s, len, tok, strlen(tok))) ||
	       (t->ir && memmem(s, len, t->ir, strlen(t->ir)));
}

/* show - one transcript line (--verbose); DIR is "C:" or "S:" */
static void show(struct t *t, const char *dir, const char *s, size_t len)
{
	char buf[512];

	if (!t->o->verbose)
		return;
	if (leaks(t, s, len)) {
		say(t, "  %s [a line with the token: not shown]", dir);
		return;
	}
	mo_reply_printable(buf, sizeof(buf), s, len);
	say(t, "  %s %s%s", dir, buf, len >= sizeof(buf) ? "..." : "");
}

/* scrub - a server text that repeats the token is not kept */
static void scrub(const struct t *t, char *text, size_t size)
{
	if (leaks(t, text, strlen(text)))
		snprintf(text, size, "[a text with the token: not shown]");
}

/* oneline - TEXT with line breaks as spaces, cut to fit OUT */
static const char *oneline(char *out, size_t size, const char *text)
{
	size_t n = 0;

	for (; *text && n + 1 < size; text++)
		out[n++] = *text == '\n' ? ' ' : *text;
	out[n] = '\0';
	return out;
}

/* ------------------------------------------------------------ failures */

static int failed(struct t *t, enum mo_diag_fail fail, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

static int failed(struct t *t, enum mo_diag_fail fail, const char *fmt, ...)
{
	va_list ap;

	t->res->diag.fail = fail;
	t->res->diag.step = t->step;
	va_start(ap, fmt);
	vsnprintf(t->res->detail, sizeof(t->res->detail), fmt, ap);
	va_end(ap);
	t->res->diag.detail = t->res->detail;
	if (t->label[0])
		say(t, "%s: failed: %s", t->label, t->res->detail);
	return -1;
}

static int conn_failed(struct t *t)
{
	return failed(t, t->err.fail, "%s", t->err.detail);
}

/* smtp_refused - the server said no to the current step */
static int smtp_refused(struct t *t)
{
	struct mo_mailtest_result *res = t->res;
	char one[600];

	res->diag.fail = MO_FAIL_REPLY;
	res->diag.step = t->step;
	res->diag.code = t->reply.code;
	memcpy(res->enhanced, t->reply.enhanced, sizeof(res->enhanced));
	memcpy(res->text, t->reply.text, sizeof(res->text));
	scrub(t, res->text, sizeof(res->text));
	say(t, "%s: refused: %d%s%s %s", t->label, t->reply.code,
	    res->enhanced[0] ? " " : "", res->enhanced,
	    oneline(one, sizeof(one), res->text));
	return -1;
}

static const char *imap_status_name(enum mo_imap_status s)
{
	switch (s) {
	case MO_IMAP_OK:
		return "OK";
	case MO_IMAP_NO:
		return "NO";
	case MO_IMAP_BAD:
		return "BAD";
	case MO_IMAP_PREAUTH:
		return "PREAUTH";
	case MO_IMAP_BYE:
		return "BYE";
	default:
		return "";
	}
}

static int imap_refused(struct t *t, const struct mo_imap_line *l)
{
	struct mo_mailtest_result *res = t->res;
	char one[600];

	res->diag.fail = MO_FAIL_REPLY;
	res->diag.step = t->step;
	snprintf(res->imap_status, sizeof(res->imap_status), "%s",
		 imap_status_name(l->status));
	memcpy(res->resp_code, l->code, sizeof(res->resp_code));
	memcpy(res->text, l->text, sizeof(res->text));
	scrub(t, res->text, sizeof(res->text));
	say(t, "%s: refused: %s%s%s%s %s", t->label, res->imap_status,
	    l->code[0] ? " [" : "", l->code, l->code[0] ? "]" : "",
	    oneline(one, sizeof(one), res->text));
	return -1;
}

/* ------------------------------------------------------------ wire */

/* send_line - S and CRLF (never the token: send_secret sends that) */
static int send_line(struct t *t, const char *s)
{
	size_t n = strlen(s);
	char *buf = g_malloc(n + 3);
	int r;

	memcpy(buf, s, n);
	memcpy(buf + n, "\r\n", 3);
	if (n)
		show(t, "C:", s, n);
	else if (t->o->verbose)
		say(t, "  C: [an empty line]");
	r = mo_mailconn_write(t->c, buf, n + 2, &t->err);
	g_free(buf);
	return r < 0 ? conn_failed(t) : 0;
}

static int send_fmt(struct t *t, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static int send_fmt(struct t *t, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return failed(t, MO_FAIL_GARBAGE, "a command too long to send");
	return send_line(t, buf);
}

/* send_secret - PREFIX followed by the initial response; never shown */
static int send_secret(struct t *t, const char *prefix)
{
	size_t n = strlen(prefix) + strlen(t->ir) + 3;
	char *buf = g_malloc(n);
	int r;

	snprintf(buf, n, "%s%s\r\n", prefix, t->ir);
	if (t->o->verbose)
		say(t, "  C: %s[initial response with the token, %zu bytes: not "
		    "shown]", prefix, strlen(t->ir));
	r = mo_mailconn_write(t->c, buf, n - 1, &t->err);
	explicit_bzero(buf, n);
	g_free(buf);
	return r < 0 ? conn_failed(t) : 0;
}

static int read_line(struct t *t, int64_t deadline)
{
	if (mo_mailconn_read_line(t->c, t->line, sizeof(t->line), &t->len,
				  deadline, &t->err) < 0)
		return conn_failed(t);
	show(t, "S:", t->line, t->len);
	return 0;
}

/* quote - the start of the current line, printable, for a message */
static const char *quote(struct t *t, char *buf, size_t size)
{
	if (leaks(t, t->line, t->len))
		snprintf(buf, size, "[a line with the token]");
	else
		mo_reply_printable(buf, size, t->line, t->len);
	return buf;
}

/* ------------------------------------------------------------ shared steps */

static int connect_server(struct t *t)
{
	const struct mo_mailtest_opts *o = t->o;
	bool v6 = strchr(o->host, ':') != NULL;

	t->step = MO_STEP_CONNECT;
	snprintf(t->label, sizeof(t->label), "connecting to %s%s%s:%d",
		 v6 ? "[" : "", o->host, v6 ? "]" : "", o->port);
	t->c = mo_mailconn_open(o->host, o->port, o->timeout_ms,
				o->tls == MO_MAILTEST_PLAIN, &t->err);
	if (!t->c)
		return conn_failed(t);
	say(t, "connected to %s%s%s:%d (%s)%s", v6 ? "[" : "", o->host,
	    v6 ? "]" : "", o->port, mo_mailconn_address(t->c),
	    o->tls == MO_MAILTEST_PLAIN ? ", without TLS" : "");
	return 0;
}

static int start_tls(struct t *t)
{
	t->step = MO_STEP_TLS;
	snprintf(t->label, sizeof(t->label), "TLS");
	if (mo_mailconn_starttls(t->c, t->o->host, t->o->ca_file, &t->err) < 0)
		return conn_failed(t);
	t->res->diag.tls = true;
	say(t, "TLS: %s, certificate verified for %s", mo_mailconn_tls_info(t->c),
	    t->o->host);
	return 0;
}

/* no_injection - nothing may come between the STARTTLS answer and TLS */
static int no_injection(struct t *t)
{
	if (!mo_mailconn_pending(t->c))
		return 0;
	return failed(t, MO_FAIL_INJECTION, "the server sent more after its "
		      "STARTTLS answer, before the TLS handshake");
}

/* choose_mech - the mechanism, from what the server offers */
static int choose_mech(struct t *t, bool auth, bool xoauth2, bool oauthbearer,
		       const char *mechs)
{
	const char *want = t->o->mech;

	snprintf(t->res->offered, sizeof(t->res->offered), "%s", mechs);
	t->res->diag.offered = t->res->offered;
	t->step = MO_STEP_AUTH;
	t->label[0] = '\0';
	if (!auth) {
		say(t, "server offers no AUTH");
		return failed(t, MO_FAIL_NO_AUTH, "no AUTH offered");
	}
	say(t, "server offers AUTH: %s", mechs);
	if (want && ((!strcmp(want, "XOAUTH2") && xoauth2) ||
		     (!strcmp(want, "OAUTHBEARER") && oauthbearer)))
		snprintf(t->res->mech, sizeof(t->res->mech), "%s", want);
	else if (!want && xoauth2)
		snprintf(t->res->mech, sizeof(t->res->mech), "XOAUTH2");
	else if (!want && oauthbearer)
		snprintf(t->res->mech, sizeof(t->res->mech), "OAUTHBEARER");
	else {
		snprintf(t->res->mech, sizeof(t->res->mech), "%s",
			 want ? want : "XOAUTH2");
		return failed(t, MO_FAIL_NO_MECH, "%s is not offered",
			      want ? want : "neither XOAUTH2 nor OAUTHBEARER");
	}
	return 0;
}

/* make_ir - the base64 initial response of the chosen mechanism */
static int make_ir(struct t *t)
{
	const struct mo_mailtest_opts *o = t->o;
	size_t size = MO_RESPONSE_MAX;
	char *msg = g_malloc(size);
	int n = !strcmp(t->res->mech, "XOAUTH2")
		? mo_xoauth2_format(msg, size, o->user, o->token)
		: mo_oauthbearer_format(msg, size, o->user, o->host,
					(unsigned)o->port, o->token);

	if (n > 0)
		t->ir = g_base64_encode((const guchar *)msg, (gsize)n);
	explicit_bzero(msg, size);
	g_free(msg);
	if (n <= 0)
		return failed(t, MO_FAIL_GARBAGE, "the user name or the token "
			      "cannot go into a %s message", t->res->mech);
	return 0;
}

/* got_challenge - decode and show the server's error challenge */
static void got_challenge(struct t *t, const char *b64)
{
	char json[MO_CHALLENGE_MAX + 1];

	if (mo_reply_challenge(b64, strlen(b64), &t->res->challenge, json,
			       sizeof(json)) == 0) {
		t->res->diag.challenge = &t->res->challenge;
		scrub(t, json, sizeof(json));
		say(t, "server's error challenge: %s", json);
	} else {
		scrub(t, json, sizeof(json));
		say(t, "server's challenge is not an OAuth error object%s%s",
		    json[0] ? ": " : "", json);
	}
}

/* the client's answer to an error challenge: empty, or ^A in base64 */
static const char *challenge_answer(const struct t *t)
{
	return !strcmp(t->res->mech, "XOAUTH2") ? "" : "AQ==";
}

/* ------------------------------------------------------------ SMTP */

static int smtp_read(struct t *t)
{
	int64_t deadline = mo_mailconn_deadline(t->c);
	char q[100];
	int r;

	mo_smtp_reply_init(&t->reply);
	do {
		if (read_line(t, deadline) < 0)
			return -1;
		r = mo_smtp_reply_feed(&t->reply, t->line, t->len);
		if (r == -EMSGSIZE)
			return failed(t, MO_FAIL_GARBAGE, "a reply of more than %d "
				      "lines", MO_REPLY_LINES_MAX);
		if (r < 0)
			return failed(t, MO_FAIL_GARBAGE, "\"%s\" is not an SMTP "
				      "reply", quote(t, q, sizeof(q)));
	} while (r == 0);
	return 0;
}

/* smtp_step - send LINE (not secret), read the reply, want code WANT */
static int smtp_step(struct t *t, const char *line, int want, int want2)
{
	if (send_line(t, line) < 0 || smtp_read(t) < 0)
		return -1;
	if (t->reply.code != want && t->reply.code != want2)
		return smtp_refused(t);
	return 0;
}

static int smtp_ehlo(struct t *t)
{
	char line[300];

	t->step = MO_STEP_EHLO;
	snprintf(t->label, sizeof(t->label), "EHLO %s", t->o->helo);
	snprintf(line, sizeof(line), "EHLO %s", t->o->helo);
	if (smtp_step(t, line, 250, 250) < 0)
		return -1;
	mo_smtp_ehlo_parse(&t->reply, &t->ehlo);
	return 0;
}

static int smtp_auth(struct t *t)
{
	const char *mech = t->res->mech;
	char prefix[64];
	int rounds = 0;

	t->step = MO_STEP_AUTH;
	snprintf(t->label, sizeof(t->label), "AUTH %s as %s", mech, t->o->user);
	snprintf(prefix, sizeof(prefix), "AUTH %s ", mech);
	if (strlen(prefix) + strlen(t->ir) + 2 <= IR_INLINE_MAX) {
		if (send_secret(t, prefix) < 0)
			return -1;
	} else {
		prefix[strlen(prefix) - 1] = '\0';
		if (send_line(t, prefix) < 0 || smtp_read(t) < 0)
			return -1;
		if (t->reply.code != 334)
			return smtp_refused(t);
		if (t->reply.len)
			return failed(t, MO_FAIL_GARBAGE, "a challenge before the "
				      "initial response");
		if (send_secret(t, "") < 0)
			return -1;
	}
	for (;;) {
		if (smtp_read(t) < 0)
			return -1;
		if (t->reply.code == 235)
			break;
		if (t->reply.code != 334)
			return smtp_refused(t);
		if (++rounds > CHALLENGE_ROUNDS || !t->reply.len) {
			send_line(t, "*");
			return failed(t, MO_FAIL_GARBAGE, "the server asked for "
				      "more than the initial response");
		}
		got_challenge(t, t->reply.text);
		if (send_line(t, challenge_answer(t)) < 0)
			return -1;
	}
	say(t, "%s: accepted", t->label);
	return 0;
}

/* rfc5322_date - the current time as "Mon, 01 Jan 2024 10:00:00 +0000" */
static void rfc5322_date(char *buf, size_t size)
{
	static const char days[][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000",
		 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int smtp_message(struct t *t, const char *from)
{
	const struct mo_mailtest_opts *o = t->o;
	const char *at = strrchr(from, '@');
	char date[64], buf[2048], one[600];
	int n;

	t->step = MO_STEP_RCPT;
	snprintf(t->label, sizeof(t->label), "RCPT TO:<%s>", o->send_to);
	if (send_fmt(t, "RCPT TO:<%s>", o->send_to) < 0 || smtp_read(t) < 0)
		return -1;
	if (t->reply.code != 250 && t->reply.code != 251)
		return smtp_refused(t);
	say(t, "%s: accepted", t->label);

	t->step = MO_STEP_DATA;
	snprintf(t->label, sizeof(t->label), "DATA");
	if (smtp_step(t, "DATA", 354, 354) < 0)
		return -1;
	rfc5322_date(date, sizeof(date));
	n = snprintf(buf, sizeof(buf),
		     "Date: %s\r\n"
		     "From: <%s>\r\n"
		     "To: <%s>\r\n"
		     "Subject: mailoauth test\r\n"
		     "Message-ID: <mailoauth-test.%08x%08x@%s>\r\n"
		     "MIME-Version: 1.0\r\n"
		     "Content-Type: text/plain; charset=us-ascii\r\n"
		     "\r\n"
		     "This message was sent by 'mailoauth test' to check that the\r\n"
		     "account %s can send mail through %s.\r\n"
		     ".\r\n",
		     date, from, o->send_to, g_random_int(), g_random_int(),
		     at && at[1] ? at + 1 : "mailoauth.invalid",
		     o->account ? o->account : o->user, o->host);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return failed(t, MO_FAIL_GARBAGE, "a test message too long");
	if (t->o->verbose)
		say(t, "  C: [the test message, %d bytes, \"Subject: mailoauth "
		    "test\"]", n);
	if (mo_mailconn_write(t->c, buf, (size_t)n, &t->err) < 0)
		return conn_failed(t);
	snprintf(t->label, sizeof(t->label), "message to <%s>", o->send_to);
	if (smtp_read(t) < 0)
		return -1;
	if (t->reply.code != 250)
		return smtp_refused(t);
	scrub(t, t->reply.text, sizeof(t->reply.text));
	say(t, "%s: accepted (%d%s%s %s)", t->label, t->reply.code,
	    t->reply.enhanced[0] ? " " : "", t->reply.enhanced,
	    oneline(one, sizeof(one), t->reply.text));
	return 0;
}

static int smtp_dialogue(struct t *t)
{
	const struct mo_mailtest_opts *o = t->o;
	const char *from = o->from ? o->from : o->user;

	t->step = MO_STEP_GREETING;
	snprintf(t->label, sizeof(t->label), "greeting");
	if (smtp_read(t) < 0)
		return -1;
	if (t->reply.code != 220)
		return smtp_refused(t);
	if (smtp_ehlo(t) < 0)
		return -1;
	if (o->tls == MO_MAILTEST_STARTTLS) {
		t->step = MO_STEP_STARTTLS;
		snprintf(t->label, sizeof(t->label), "STARTTLS");
		if (!t->ehlo.starttls) {
			say(t, "server offers no STARTTLS");
			t->label[0] = '\0';
			return failed(t, MO_FAIL_NO_STARTTLS, "no STARTTLS offered");
		}
		if (smtp_step(t, "STARTTLS", 220, 220) < 0 || no_injection(t) < 0 ||
		    start_tls(t) < 0 || smtp_ehlo(t) < 0)
			return -1;
	}
	if (choose_mech(t, t->ehlo.auth, t->ehlo.xoauth2, t->ehlo.oauthbearer,
			t->ehlo.mechs) < 0 || make_ir(t) < 0 || smtp_auth(t) < 0)
		return -1;

	t->step = MO_STEP_MAIL_FROM;
	snprintf(t->label, sizeof(t->label), "MAIL FROM:<%s>", from);
	if (send_fmt(t, "MAIL FROM:<%s>", from) < 0 || smtp_read(t) < 0)
		return -1;
	if (t->reply.code != 250)
		return smtp_refused(t);
	say(t, "%s: accepted", t->label);
	if (o->send_to) {
		if (smtp_message(t, from) < 0)
			return -1;
	} else {
		/* the sender was the test: no message, nothing left behind */
		t->step = MO_STEP_DATA;
		snprintf(t->label, sizeof(t->label), "RSET");
		if (smtp_step(t, "RSET", 250, 250) < 0)
			return -1;
	}
	t->label[0] = '\0';
	if (send_line(t, "QUIT") == 0)
		(void)smtp_read(t);	/* 221; a server that just closes is fine */
	return 0;
}

/* ------------------------------------------------------------ IMAP */

/* imap_read - one response line, skipping the literals it announces */
static int imap_read(struct t *t, int64_t deadline)
{
	long total = 0, lit;
	char q[100];

	if (read_line(t, deadline) < 0)
		return -1;
	if (mo_imap_line_parse(t->line, t->len, &t->il) < 0)
		return failed(t, MO_FAIL_GARBAGE, "\"%s\" is not an IMAP response",
			      quote(t, q, sizeof(q)));
	while ((lit = mo_imap_literal(t->line, t->len)) != -1) {
		if (lit < 0 || lit > IMAP_LITERALS_MAX - total)
			return failed(t, MO_FAIL_GARBAGE, "literals of more than "
				      "%ld bytes", IMAP_LITERALS_MAX);
		total += lit;
		if (mo_mailconn_skip(t->c, (size_t)lit, deadline, &t->err) < 0)
			return conn_failed(t);
		if (t->o->verbose)
			say(t, "  S: [%ld bytes of literal]", lit);
		if (read_line(t, deadline) < 0)
			return -1;
	}
	return 0;
}

static void tag_next(struct t *t)
{
	snprintf(t->tag, sizeof(t->tag), "A%u", ++t->ntag);
}

/* imap_cmd - send "TAG CMD" with a new tag */
static int imap_cmd(struct t *t, const char *cmd)
{
	tag_next(t);
	return send_fmt(t, "%s %s", t->tag, cmd);
}

/*
 * imap_answer - read until the tagged answer to the current tag, or a
 * continuation request; UNTAGGED sees the untagged lines. A BYE is a
 * refusal.
 */
static int imap_answer(struct t *t,
		       void (*untagged)(struct t *, const struct mo_imap_line *))
{
	int64_t deadline = mo_mailconn_deadline(t->c);

	for (unsigned n = 0; n < IMAP_LINES_MAX; n++) {
		if (imap_read(t, deadline) < 0)
			return -1;
		switch (t->il.kind) {
		case MO_IMAP_TAGGED:
			if (strcmp(t->il.tag, t->tag))
				return failed(t, MO_FAIL_GARBAGE, "an answer for "
					      "tag %s, which was not sent", t->il.tag);
			return 0;
		case MO_IMAP_CONTINUATION:
			return 0;
		case MO_IMAP_UNTAGGED:
			if (t->il.status == MO_IMAP_BYE)
				return imap_refused(t, &t->il);
			if (untagged)
				untagged(t, &t->il);
			break;
		}
	}
	return failed(t, MO_FAIL_GARBAGE, "more than %d lines before the answer",
		      IMAP_LINES_MAX);
}

/* imap_done - the current command's tagged OK, else a refusal */
static int imap_done(struct t *t)
{
	char q[100];

	if (t->il.kind == MO_IMAP_CONTINUATION)
		return failed(t, MO_FAIL_GARBAGE, "an unexpected continuation "
			      "request \"%s\"", quote(t, q, sizeof(q)));
	return t->il.status == MO_IMAP_OK ? 0 : imap_refused(t, &t->il);
}

static void on_capability(struct t *t, const struct mo_imap_line *l)
{
	if (!strcmp(l->keyword, "CAPABILITY"))
		mo_imap_caps_parse(l->text, &t->caps);
}

static int imap_capability(struct t *t)
{
	t->step = MO_STEP_EHLO;
	snprintf(t->label, sizeof(t->label), "CAPABILITY");
	memset(&t->caps, 0, sizeof(t->caps));
	if (imap_cmd(t, "CAPABILITY") < 0 || imap_answer(t, on_capability) < 0 ||
	    imap_done(t) < 0)
		return -1;
	if (!strcmp(t->il.code, "CAPABILITY"))
		mo_imap_caps_parse(t->il.code_args, &t->caps);
	return 0;
}

static int imap_greeting(struct t *t)
{
	char q[100];

	t->step = MO_STEP_GREETING;
	snprintf(t->label, sizeof(t->label), "greeting");
	if (imap_read(t, mo_mailconn_deadline(t->c)) < 0)
		return -1;
	if (t->il.kind != MO_IMAP_UNTAGGED || t->il.status == MO_IMAP_NONE)
		return failed(t, MO_FAIL_GARBAGE, "\"%s\" is not an IMAP greeting",
			      quote(t, q, sizeof(q)));
	if (t->il.status == MO_IMAP_PREAUTH)
		return failed(t, MO_FAIL_GARBAGE, "the server says the session "
			      "is logged in already (PREAUTH)");
	if (t->il.status != MO_IMAP_OK)
		return imap_refused(t, &t->il);
	return 0;
}

static int imap_authenticate(struct t *t)
{
	char cmd[64], prefix[80];
	int rounds = 0;

	t->step = MO_STEP_AUTH;
	snprintf(t->label, sizeof(t->label), "AUTHENTICATE %s as %s",
		 t->res->mech, t->o->user);
	tag_next(t);
	if (t->caps.sasl_ir) {
		snprintf(prefix, sizeof(prefix), "%s AUTHENTICATE %s ", t->tag,
			 t->res->mech);
		if (send_secret(t, prefix) < 0)
			return -1;
	} else {
		snprintf(cmd, sizeof(cmd), "%s AUTHENTICATE %s", t->tag, t->res->mech);
		if (send_line(t, cmd) < 0 || imap_answer(t, NULL) < 0)
			return -1;
		if (t->il.kind != MO_IMAP_CONTINUATION)
			return imap_refused(t, &t->il);
		if (t->il.text[0])
			return failed(t, MO_FAIL_GARBAGE, "a challenge before the "
				      "initial response");
		if (send_secret(t, "") < 0)
			return -1;
	}
	for (;;) {
		if (imap_answer(t, NULL) < 0)
			return -1;
		if (t->il.kind == MO_IMAP_TAGGED)
			break;
		if (++rounds > CHALLENGE_ROUNDS || !t->il.text[0]) {
			send_line(t, "*");
			return failed(t, MO_FAIL_GARBAGE, "the server asked for "
				      "more than the initial response");
		}
		got_challenge(t, t->il.text);
		if (send_line(t, challenge_answer(t)) < 0)
			return -1;
	}
	if (t->il.status != MO_IMAP_OK)
		return imap_refused(t, &t->il);
	say(t, "%s: accepted", t->label);
	return 0;
}

static void on_exists(struct t *t, const struct mo_imap_line *l)
{
	if (l->has_number && !strcmp(l->keyword, "EXISTS"))
		t->res->messages = l->number > LONG_MAX ? LONG_MAX : (long)l->number;
}

static int imap_dialogue(struct t *t)
{
	const struct mo_mailtest_opts *o = t->o;

	if (imap_greeting(t) < 0 || imap_capability(t) < 0)
		return -1;
	if (o->tls == MO_MAILTEST_STARTTLS) {
		t->step = MO_STEP_STARTTLS;
		snprintf(t->label, sizeof(t->label), "STARTTLS");
		if (!t->caps.starttls) {
			say(t, "server offers no STARTTLS");
			t->label[0] = '\0';
			return failed(t, MO_FAIL_NO_STARTTLS, "no STARTTLS offered");
		}
		if (imap_cmd(t, "STARTTLS") < 0 || imap_answer(t, NULL) < 0 ||
		    imap_done(t) < 0 || no_injection(t) < 0 || start_tls(t) < 0 ||
		    imap_capability(t) < 0)
			return -1;
	}
	if (choose_mech(t, t->caps.auth, t->caps.xoauth2, t->caps.oauthbearer,
			t->caps.mechs) < 0 || make_ir(t) < 0 ||
	    imap_authenticate(t) < 0)
		return -1;

	t->step = MO_STEP_EXAMINE;
	snprintf(t->label, sizeof(t->label), "EXAMINE INBOX");
	t->res->messages = -1;
	if (imap_cmd(t, "EXAMINE INBOX") < 0 || imap_answer(t, on_exists) < 0 ||
	    imap_done(t) < 0)
		return -1;
	if (t->res->messages >= 0)
		say(t, "EXAMINE INBOX: %ld message%s", t->res->messages,
		    t->res->messages == 1 ? "" : "s");
	else
		say(t, "EXAMINE INBOX: accepted");
	t->label[0] = '\0';
	if (imap_cmd(t, "LOGOUT") == 0) {
		int64_t deadline = mo_mailconn_deadline(t->c);

		/* * BYE, then the tagged OK; a server that just closes is fine */
		for (int i = 0; i < 10; i++)
			if (read_line(t, deadline) < 0 || !strncmp(t->line, t->tag,
								  strlen(t->tag)))
				break;
	}
	return 0;
}

/* ------------------------------------------------------------ run */

/* goodbye - after a refusal, QUIT or LOGOUT politely; nothing recorded */
static void goodbye(struct t *t)
{
	struct mo_mailconn_error err;
	const char *bye = t->o->proto == MO_DIAG_SMTP ? "QUIT\r\n" : "Z LOGOUT\r\n";
	int64_t deadline = g_get_monotonic_time() / 1000 + GOODBYE_MS;

	if (mo_mailconn_write(t->c, bye, strlen(bye), &err) < 0)
		return;
	if (t->o->verbose)
		say(t, "  C: %.*s", (int)strlen(bye) - 2, bye);
	for (int i = 0; i < 4; i++) {
		if (mo_mailconn_read_line(t->c, t->line, sizeof(t->line), &t->len,
					  deadline, &err) < 0)
			return;
		show(t, "S:", t->line, t->len);
		if (t->line[0] != '*')
			return;
	}
}

int mo_mailtest_run(const struct mo_mailtest_opts *o,
		    struct mo_mailtest_result *res)
{
	struct t *t = g_new0(struct t, 1);
	int r;

	memset(res, 0, sizeof(*res));
	res->messages = -1;
	res->diag.proto = o->proto;
	res->diag.host = o->host;
	res->diag.port = o->port;
	res->diag.user = o->user;
	res->diag.from = o->from ? o->from : o->user;
	res->diag.account = o->account;
	res->diag.mech = res->mech;
	res->diag.text = res->text;
	res->diag.enhanced = res->enhanced;
	res->diag.imap_status = res->imap_status;
	res->diag.resp_code = res->resp_code;
	res->diag.detail = res->detail;
	if (o->mech)
		snprintf(res->mech, sizeof(res->mech), "%s", o->mech);
	t->o = o;
	t->res = res;

	r = connect_server(t);
	if (r == 0 && o->tls == MO_MAILTEST_TLS)
		r = start_tls(t);
	if (r == 0)
		r = o->proto == MO_DIAG_SMTP ? smtp_dialogue(t) : imap_dialogue(t);
	if (r < 0 && t->c && res->diag.fail == MO_FAIL_REPLY &&
	    strcmp(res->imap_status, "BYE"))
		goodbye(t);
	mo_mailconn_close(&t->c);
	if (t->ir) {
		explicit_bzero(t->ir, strlen(t->ir));
		g_free(t->ir);
	}
	g_free(t);
	fflush(o->out);
	return r < 0 ? -1 : 0;
}
