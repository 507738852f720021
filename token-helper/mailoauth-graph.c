/* SPDX-License-Identifier: MIT */
/*
 * mailoauth-graph.c - deliver one message through Microsoft Graph's
 *	sendMail, as a Postfix pipe(8) command (docs/graph.md)
 *
 * SYNOPSIS
 *	mailoauth-graph [--config FILE] --account NAME [--graph-url URL]
 *		[--save-to-sent-items yes] -f SENDER -- RECIPIENT...
 *
 * DESCRIPTION
 *	Reads one RFC 5322 message on standard input into a buffer capped
 *	so that its base64 fits Graph's 4 MB request limit (a larger
 *	message is refused before anything is sent), adds a Bcc field for
 *	the envelope recipients its To and Cc fields do not name
 *	(graph_mime.c), asks mailoauthd for the account's token (TOKEN
 *	ACCOUNT over the socket, as the CLI does) and POSTs the base64 of
 *	the message as text/plain to
 *	{graph_url}/v1.0/users/{SENDER}/sendMail. A null or local-only
 *	sender (Postfix's MAILER-DAEMON) sends from the account's user.
 *
 * SECURITY
 *	The token comes over the socket, never from argv or the environment;
 *	it lives in one stack buffer and libcurl's copy of the header, is
 *	wiped as soon as the request is done, and never printed. The process
 *	is not dumpable and makes no core file. Postfix's pipe(8) refuses to
 *	run commands as root: run it as a user the account's allow names.
 *
 * DIAGNOSTICS
 *	Exit statuses follow sysexits(3), which pipe(8) turns into a
 *	deferral or a bounce: 0 Graph accepted the message (202); 75
 *	EX_TEMPFAIL for anything worth retrying (network, 429, 5xx, 401,
 *	mailoauthd unreachable or its token temporarily unavailable);
 *	permanent, which Postfix bounces: 78 EX_CONFIG (5.3.5) when the
 *	daemon says the account needs a login, an administrator or a config
 *	change, or this user is not in its allow (and for our own config), 65
 *	EX_DATAERR (the message is too large or Graph refused its content),
 *	67 EX_NOUSER (no such mailbox), 77 EX_NOPERM (ErrorSendAsDenied,
 *	Mail.Send missing), 64 EX_USAGE. Each failure prints one line on
 *	standard error, which pipe(8) puts into its log and the bounce.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "client.h"
#include "graph_mime.h"
#include "http.h"
#include "proto.h"
#include "secret.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

#define GRAPH_DEFAULT	"https://graph.microsoft.com"
#define GRAPH_TIMEOUT_MS 120000L	/* 4 MB over a slow link */
#define GRAPH_MAX_ANSWER (64 * 1024)

static const char usage[] =
	"usage: mailoauth-graph [--config FILE] --account NAME [--graph-url URL]\n"
	"                       [--save-to-sent-items yes] -f SENDER -- RECIPIENT...\n"
	"Deliver the message on standard input through Microsoft Graph (a\n"
	"Postfix pipe(8) transport; see mailoauth-graph(1) and docs/graph.md).\n";

/* say - one line on standard error: pipe(8) logs it and bounces with it */
static void G_GNUC_PRINTF(1, 2) say(const char *fmt, ...)
{
	va_list ap;

	fputs("mailoauth-graph: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* clean - S as printable ASCII of at most MAX bytes (a new string) */
static char *clean(const char *s, size_t max)
{
	char *c = g_strndup(s ? s : "", max);

	for (char *p = c; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = ' ';
	return c;
}

struct result {
	bool done;
	int curl_code;
	long status;
	long retry_after;
	char error[256];
	char *code;		/* Graph's error.code, or NULL */
	char *message;		/* Graph's error.message, or NULL */
};

static void on_answer(const struct mo_http_response *r, void *ud)
{
	struct result *res = ud;
	json_t *root, *err;

	res->done = true;
	res->curl_code = r->curl_code;
	res->status = r->status;
	res->retry_after = r->retry_after;
	g_strlcpy(res->error, r->error, sizeof(res->error));
	root = r->len ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	err = json_object_get(root, "error");
	if (json_is_object(err)) {
		const char *code = json_string_value(json_object_get(err, "code"));
		const char *msg = json_string_value(json_object_get(err, "message"));

		if (code)
			res->code = clean(code, 80);
		if (msg)
			res->message = clean(msg, 200);
	}
	json_decref(root);
}

/* graph_says - " (STATUS CODE: MESSAGE)" for messages (a new string) */
static char *graph_says(const struct result *res)
{
	return g_strdup_printf(" (HTTP %ld%s%s%s%s)", res->status,
			       res->code ? " " : "", res->code ? res->code : "",
			       res->message ? ": " : "",
			       res->message ? res->message : "");
}

/* exit_for - what Graph's answer means for Postfix; says why */
static int exit_for(const struct result *res, const char *mailbox,
		    const char *host)
{
	char *why;
	int ex;

	if (res->curl_code) {
		say("cannot reach Microsoft Graph at %s: %s; will retry", host,
		    res->error);
		return EX_TEMPFAIL;
	}
	if (res->status >= 200 && res->status < 300)
		return EX_OK;
	why = graph_says(res);
	switch (res->status) {
	case 400:
		say("Microsoft Graph refused the message%s", why);
		ex = EX_DATAERR;
		break;
	case 401:
		say("Microsoft Graph refused the token%s; mailoauthd will get a "
		    "new one; will retry", why);
		ex = EX_TEMPFAIL;
		break;
	case 403:
		if (res->code && !strcmp(res->code, "ErrorSendAsDenied"))
			say("Microsoft Graph refused to send as %s%s: send from "
			    "a mailbox the application may use, or give it "
			    "Send As rights", mailbox, why);
		else
			say("Microsoft Graph denied sending as %s%s: grant the "
			    "app registration the application permission "
			    "Mail.Send with admin consent, and check its "
			    "application access policy", mailbox, why);
		ex = EX_NOPERM;
		break;
	case 404:
		say("Microsoft Graph has no mailbox %s%s", mailbox, why);
		ex = EX_NOUSER;
		break;
	case 413:
		say("the message is too large for Microsoft Graph%s", why);
		ex = EX_DATAERR;
		break;
	case 429:
		if (res->retry_after >= 0)
			say("Microsoft Graph is throttling %s%s, retry after "
			    "%ld s; will retry", mailbox, why, res->retry_after);
		else
			say("Microsoft Graph is throttling %s%s; will retry",
			    mailbox, why);
		ex = EX_TEMPFAIL;
		break;
	default:
		say("Microsoft Graph answered%s; will retry", why);
		ex = EX_TEMPFAIL;
	}
	g_free(why);
	return ex;
}

/* exit_for_daemon - a daemon's ERR: the mail waits (75) until it is fixed */
static int exit_for_daemon(const struct mo_response *resp, const char *account)
{
	char *text = clean(resp->text, MO_TEXT_MAX);

	say("mailoauthd has no token for %s: %s (%s)", account, text,
	    mo_err_name(resp->err));
	g_free(text);
	/*
	 * Even login, admin, config and denied are temporary for the MTA:
	 * they are fixed on this side (mailoauth login, allow, the tenant),
	 * and the mail must wait in the queue for that, not bounce - as the
	 * SASL plugin defers. A usage error from the daemon is ours: 78.
	 */
	switch (resp->err) {
	case MO_ERR_BAD_REQUEST:
	case MO_ERR_UNKNOWN_VERB:
	case MO_ERR_VERSION:
		return EX_CONFIG;
	default:
		return EX_TEMPFAIL;
	}
}

/* read_message - standard input into B (capped); 0 or an exit status */
static int read_message(struct mo_graph_buf *b)
{
	char chunk[65536];
	ssize_t n;

	while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			say("cannot read the message: %s", strerror(errno));
			return EX_TEMPFAIL;
		}
		if (mo_graph_buf_append(b, chunk, (size_t)n) < 0) {
			say("the message is larger than Microsoft Graph accepts "
			    "(its 4 MB request limit allows %u bytes of "
			    "message); nothing was sent",
			    MO_GRAPH_MAX_MESSAGE);
			return EX_DATAERR;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "account", required_argument, NULL, 'a' },
		{ "graph-url", required_argument, NULL, 'g' },
		{ "save-to-sent-items", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct mo_cli cli = { .mode = MO_CLI_MODE_AUTO };
	const char *account = NULL, *graph_opt = NULL, *sender = NULL;
	struct mo_account_config *acct;
	struct mo_graph_buf msg;
	struct mo_graph_mime mime = {0};
	struct mo_response resp;
	struct result res = {0};
	char buf[MO_RESPONSE_MAX], line[MO_REQUEST_MAX];
	char token[MO_TOKEN_MAX + 1];
	char *base = NULL, *mailbox = NULL, *url = NULL, *b64 = NULL;
	char *esc = NULL, *host = NULL;
	long long gen = -1;
	GMainContext *ctx = NULL;
	struct mo_http *http = NULL;
	int c, r, ex = EX_TEMPFAIL;

	mo_secret_protect_process();
	token[0] = '\0';
	mo_graph_buf_init(&msg, MO_GRAPH_MAX_MESSAGE);

	while ((c = getopt_long(argc, argv, "+f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cli.config_path = optarg;
			break;
		case 'a':
			account = optarg;
			break;
		case 'g':
			graph_opt = optarg;
			break;
		case 's':
			if (!strcmp(optarg, "no")) {
				say("--save-to-sent-items no: Graph's MIME "
				    "sendMail always saves a copy in Sent Items "
				    "(docs/graph.md)");
				return EX_USAGE;
			}
			if (strcmp(optarg, "yes")) {
				fputs(usage, stderr);
				return EX_USAGE;
			}
			break;
		case 'f':
			sender = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return EX_OK;
		case 'V':
			puts("mailoauth-graph " MO_VERSION);
			return EX_OK;
		default:
			fputs(usage, stderr);
			return EX_USAGE;
		}
	}
	if (!account || !mo_arg_valid(account) || !sender ||
	    optind >= argc) {
		say("give --account NAME, -f SENDER and at least one recipient "
		    "after --");
		return EX_USAGE;
	}

	/* the message first: a message Graph cannot take costs no token */
	if ((ex = read_message(&msg)) != 0)
		goto out;
	r = mo_graph_mime_prepare(msg.data ? msg.data : "", msg.len,
				  (const char *const *)argv + optind,
				  (size_t)(argc - optind), MO_GRAPH_MAX_MESSAGE,
				  &mime);
	mo_graph_buf_free(&msg);
	if (r == -EMSGSIZE) {
		say("the message is larger than Microsoft Graph accepts once "
		    "its lines end in CRLF (its 4 MB request limit allows %u "
		    "bytes); nothing was sent", MO_GRAPH_MAX_MESSAGE);
		ex = EX_DATAERR;
		goto out;
	} else if (r == -EINVAL) {
		say("a recipient is empty, too long or has control characters");
		ex = EX_USAGE;
		goto out;
	} else if (r < 0) {
		say("the input is not a mail message (no header field)");
		ex = EX_DATAERR;
		goto out;
	}

	/* the account, and where its Graph is */
	acct = mo_cli_account(&cli, account, &r);
	if (!acct) {
		ex = EX_CONFIG;
		goto out;
	}
	base = g_strdup(graph_opt ? graph_opt
			: acct->graph_url ? acct->graph_url : GRAPH_DEFAULT);
	while (*base && base[strlen(base) - 1] == '/')
		base[strlen(base) - 1] = '\0';
	if (mo_http_url_check(base) < 0) {
		char *b = clean(base, 200);

		say("the Graph URL %s is not an https:// URL", b);
		g_free(b);
		ex = graph_opt ? EX_USAGE : EX_CONFIG;
		goto out;
	}

	/* the token: over the socket, into one buffer that is wiped */
	snprintf(line, sizeof(line), "TOKEN %s", account);
	r = mo_cli_request(&cli, line, buf, sizeof(buf), &resp);
	if (r < 0) {
		say("cannot reach mailoauthd at %s: %s; will retry",
		    mo_cli_socket(&cli) ? mo_cli_socket(&cli) : "(no socket)",
		    mo_client_strerror(r));
		ex = EX_TEMPFAIL;
		goto out;
	}
	if (!resp.ok) {
		ex = exit_for_daemon(&resp, account);
		goto out;
	}
	if (!resp.token || !resp.token_len || resp.token_len > MO_TOKEN_MAX) {
		say("mailoauthd answered without a token; will retry");
		ex = EX_TEMPFAIL;
		goto out;
	}
	memcpy(token, resp.token, resp.token_len);
	token[resp.token_len] = '\0';
	gen = resp.gen;
	/* a null sender (MAILER-DAEMON) sends from the account's mailbox */
	if (strchr(sender, '@') && mo_graph_addr_valid(sender))
		mailbox = g_strdup(sender);
	else
		mailbox = g_strdup(resp.user ? resp.user : acct->user);
	explicit_bzero(buf, sizeof(buf));

	esc = g_uri_escape_string(mailbox, "!$&'()*+,;=:@", FALSE);
	url = g_strdup_printf("%s/v1.0/users/%s/sendMail", base, esc);
	b64 = g_base64_encode((const guchar *)mime.data, mime.len);
	mo_graph_mime_free(&mime);

	ctx = g_main_context_new();
	http = mo_http_new(ctx);
	if (!http) {
		say("libcurl cannot start; will retry");
		ex = EX_TEMPFAIL;
		goto out;
	}
	{
		struct mo_http_request req = {
			.url = url,
			.ca_file = acct->ca_file,
			.timeout_ms = GRAPH_TIMEOUT_MS,
			.max_body = GRAPH_MAX_ANSWER,
			.bearer = token,
			.body = b64,
			.body_len = strlen(b64),
			.content_type = "text/plain",
		};

		mo_http_post_body(http, &req, on_answer, &res);
	}
	while (!res.done)
		g_main_context_iteration(ctx, TRUE);
	explicit_bzero(token, sizeof(token));

	host = clean(base, 200);
	ex = exit_for(&res, mailbox, host);
	if (res.status == 401 && gen >= 0) {
		/* the daemon stops serving that token and gets a new one */
		snprintf(line, sizeof(line), "REJECTED %s %lld", account, gen);
		if (mo_cli_request(&cli, line, buf, sizeof(buf), &resp) < 0)
			say("cannot tell mailoauthd that the token was refused");
	}
out:
	explicit_bzero(token, sizeof(token));
	explicit_bzero(buf, sizeof(buf));
	mo_http_free(http);
	if (ctx)
		g_main_context_unref(ctx);
	mo_graph_buf_free(&msg);
	mo_graph_mime_free(&mime);
	g_free(res.code);
	g_free(res.message);
	g_free(base);
	g_free(mailbox);
	g_free(url);
	g_free(esc);
	g_free(b64);
	g_free(host);
	mo_config_free(cli.cfg);
	mo_store_free(cli.store);
	fflush(stdout);
	return ex;
}
