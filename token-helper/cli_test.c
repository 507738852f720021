/* SPDX-License-Identifier: MIT */
/*
 * cli_test.c - mailoauth test: a real login with the account's token,
 * and a plain-language diagnosis of any failure
 *
 * SYNOPSIS
 *	mailoauth test ACCOUNT --smtp HOST[:PORT] | --imap HOST[:PORT]
 *		[--starttls | --tls | --plain] [--mech XOAUTH2|OAUTHBEARER]
 *		[--from ADDR] [--send-to ADDR] [--ca-file FILE]
 *		[--timeout SECONDS] [--verbose]
 *
 * DESCRIPTION
 *	The mail administrator's test button. Gets ACCOUNT's token from the
 *	running mailoauthd (as Postfix's plugin would), logs in to the server
 *	with it (mailtest.c), then uses the login once: SMTP MAIL FROM (the
 *	Send As check; with --send-to a short test message, else RSET), IMAP
 *	EXAMINE INBOX. One line per step on standard output, then "OK: ..."
 *	or "FAILED: ..." and "What to do: ..." (diagnose.c).
 *	Defaults: SMTP port 587, IMAP port 993; STARTTLS except on 465 and
 *	993 (TLS from the start); --plain only to a loopback address.
 *
 * EXIT STATUS
 *	0	every step succeeded
 *	1	the server refused something else: the recipient, the test
 *		message, INBOX
 *	64	usage (also --plain to an address that is not loopback)
 *	65	the account's user cannot go into a SASL message
 *	66	--ca-file cannot be read
 *	67 69 74 75 77 78 as mailoauthd's ERR says, when it gives no token
 *		(mo_cli_exit_for_err)
 *	75	temporary: mailoauthd unreachable, name lookup, connection
 *		refused, timed out or closed, a 4xx reply
 *	76	the server answered nonsense, or the TLS handshake failed (no
 *		common version, not TLS on that port)
 *	77	the server refused the token (535 5.7.3, 535 5.7.8, an OAuth
 *		error challenge, IMAP NO [AUTHENTICATIONFAILED]) or the sender
 *		(550 5.7.60, SendAsDenied)
 *	78	the tenant, the mailbox, the server or this machine's set-up
 *		must change: 535 5.7.139, 550 5.7.30, 501 5.5.127, no STARTTLS,
 *		no AUTH or no XOAUTH2/OAUTHBEARER offered, a certificate not
 *		trusted, for another name or expired
 *
 * SECURITY
 *	The token lives in the daemon's answer buffer and in mailtest's
 *	initial response; both are wiped. It is sent only over verified TLS,
 *	or in clear to a loopback address with --plain. Neither the step
 *	lines nor --verbose show it. Addresses from the command line are
 *	checked (printable, no spaces or angle brackets) before they go
 *	into an SMTP command.
 *
 * DIAGNOSTICS
 *	Usage and daemon errors on standard error ("mailoauth: ..."); the
 *	test's steps and verdict on standard output.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "client.h"
#include "diagnose.h"
#include "mailtest.h"
#include "saslmsg.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ADDRESS_MAX 254

static const char usage[] =
	"usage: mailoauth test ACCOUNT --smtp HOST[:PORT] | --imap HOST[:PORT]\n"
	"                      [--starttls | --tls | --plain] [--mech MECH]\n"
	"                      [--from ADDR] [--send-to ADDR] [--ca-file FILE]\n"
	"                      [--timeout SECONDS] [--verbose]\n"
	"\n"
	"Log in to a mail server with ACCOUNT's token from mailoauthd, use the\n"
	"login once, and explain any failure.\n"
	"\n"
	"  --smtp HOST[:PORT]  SMTP submission (port 587 by default); after AUTH,\n"
	"                      MAIL FROM checks that the sender is allowed\n"
	"  --imap HOST[:PORT]  IMAP (port 993 by default); after AUTHENTICATE,\n"
	"                      EXAMINE INBOX\n"
	"  --starttls          STARTTLS (the default but for ports 465 and 993)\n"
	"  --tls               TLS from the start (the default for 465 and 993)\n"
	"  --plain             no TLS: only to a loopback address\n"
	"  --mech MECH         XOAUTH2 or OAUTHBEARER (default: XOAUTH2 when\n"
	"                      offered, else OAUTHBEARER)\n"
	"  --from ADDR         the SMTP sender (default: the account's user)\n"
	"  --send-to ADDR      send a short test message to ADDR\n"
	"  --ca-file FILE      trust the CA certificates in FILE (PEM) instead\n"
	"                      of the system's\n"
	"  --timeout SECONDS   for each connection attempt and each answer\n"
	"                      (default 30)\n"
	"  --verbose           show the dialogue (never the token)\n"
	"\n"
	"Exit status: 0 ok; 77 the server refused the token or the sender;\n"
	"78 the tenant, mailbox, server or set-up must change; 75 try again\n"
	"later (network, 4xx); 76 nonsense from the server or a TLS failure;\n"
	"1 another refusal; 64 usage; 69 run 'mailoauth login ACCOUNT'.\n";

/* address_ok - a mail address we can put between < and > */
static bool address_ok(const char *a)
{
	size_t n = strlen(a);
	const char *at = strrchr(a, '@');

	if (n == 0 || n > ADDRESS_MAX || !at || at == a || !at[1])
		return false;
	for (; *a; a++)
		if ((unsigned char)*a <= 0x20 || (unsigned char)*a >= 0x7f ||
		    *a == '<' || *a == '>')
			return false;
	return true;
}

/* host_ok - a host name or address literal: nothing that could end a line */
static bool host_ok(const char *h)
{
	if (!*h || strlen(h) > 253)
		return false;
	for (; *h; h++)
		if (!g_ascii_isalnum(*h) && !strchr(".-_:%", *h))
			return false;
	return true;
}

/* helo_name - this machine's name for EHLO, or "localhost" */
static void helo_name(char *buf, size_t size)
{
	bool ok;

	if (gethostname(buf, size) != 0)
		buf[0] = '\0';
	buf[size - 1] = '\0';
	ok = buf[0] && buf[0] != '-' && buf[0] != '.';
	for (const char *p = buf; *p && ok; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.';
	if (!ok)
		snprintf(buf, size, "localhost");
}

/* sasl_ok - USER and TOKEN fit the SASL messages (checked before connecting) */
static bool sasl_ok(const char *user, const char *token)
{
	char *scratch = g_malloc(MO_RESPONSE_MAX);
	int n = mo_xoauth2_format(scratch, MO_RESPONSE_MAX, user, token);

	explicit_bzero(scratch, MO_RESPONSE_MAX);
	g_free(scratch);
	return n > 0;
}

static void print_verdict(const struct mo_diagnosis *d)
{
	printf("FAILED: %s\n", d->what);
	printf("What to do: %s\n", d->todo);
}

struct args {
	const char *account, *server, *mech, *from, *send_to, *ca_file;
	enum mo_diag_proto proto;
	int tls;		/* -1: by port */
	int timeout;
	bool verbose;
};

/* parse_args - 0 to go on, else the exit status */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "smtp", required_argument, NULL, 's' },
		{ "imap", required_argument, NULL, 'i' },
		{ "starttls", no_argument, NULL, 'S' },
		{ "tls", no_argument, NULL, 'T' },
		{ "plain", no_argument, NULL, 'P' },
		{ "mech", required_argument, NULL, 'm' },
		{ "from", required_argument, NULL, 'f' },
		{ "send-to", required_argument, NULL, 'r' },
		{ "ca-file", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char *end;
	long v;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (c) {
		case 's':
		case 'i':
			if (a->server) {
				mo_cli_error("give one --smtp or one --imap");
				return MO_EXIT_USAGE;
			}
			a->server = optarg;
			a->proto = c == 's' ? MO_DIAG_SMTP : MO_DIAG_IMAP;
			break;
		case 'S':
		case 'T':
		case 'P': {
			int mode = c == 'S' ? MO_MAILTEST_STARTTLS
				 : c == 'T' ? MO_MAILTEST_TLS : MO_MAILTEST_PLAIN;

			if (a->tls >= 0 && a->tls != mode) {
				mo_cli_error("give one of --starttls, --tls and --plain");
				return MO_EXIT_USAGE;
			}
			a->tls = mode;
			break;
		}
		case 'm':
			if (!strcasecmp(optarg, "XOAUTH2"))
				a->mech = "XOAUTH2";
			else if (!strcasecmp(optarg, "OAUTHBEARER"))
				a->mech = "OAUTHBEARER";
			else {
				mo_cli_error("--mech is XOAUTH2 or OAUTHBEARER, not '%s'",
					     optarg);
				return MO_EXIT_USAGE;
			}
			break;
		case 'f':
		case 'r':
			if (!address_ok(optarg)) {
				mo_cli_error("'%s' is not a mail address", optarg);
				return MO_EXIT_USAGE;
			}
			*(c == 'f' ? &a->from : &a->send_to) = optarg;
			break;
		case 'c':
			a->ca_file = optarg;
			break;
		case 't':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || v > 3600) {
				mo_cli_error("--timeout is a number of seconds, 1 to 3600");
				return MO_EXIT_USAGE;
			}
			a->timeout = (int)v;
			break;
		case 'v':
			a->verbose = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return MO_EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || !a->server) {
		fputs(usage, stderr);
		return MO_EXIT_USAGE;
	}
	a->account = argv[optind];
	if (!mo_account_name_valid(a->account)) {
		mo_cli_error("'%s' is not an account name", a->account);
		return MO_EXIT_USAGE;
	}
	if (a->proto == MO_DIAG_IMAP && (a->from || a->send_to)) {
		mo_cli_error("--from and --send-to go with --smtp");
		return MO_EXIT_USAGE;
	}
	return -1;
}

/* get_token - ask mailoauthd; 0, or the exit status after saying why */
static int get_token(struct mo_cli *cli, const char *account, char *buf,
		     struct mo_response *resp)
{
	char line[MO_REQUEST_MAX];
	struct mo_diagnosis d;
	int r;

	snprintf(line, sizeof(line), "TOKEN %s", account);
	r = mo_cli_request(cli, line, buf, MO_RESPONSE_MAX, resp);
	if (r < 0) {
		mo_cli_error("%s (%s)", mo_client_strerror(r),
			     mo_cli_socket(cli) ? mo_cli_socket(cli) : "no socket configured");
		printf("FAILED: no token for %s: %s\n", account, mo_client_strerror(r));
		printf("What to do: start mailoauthd (systemctl start mailoauthd), "
		       "or name its configuration with --config\n");
		return MO_EXIT_TEMPFAIL;
	}
	if (!resp->ok) {
		mo_diagnose_daemon(resp->err, resp->text, account, &d);
		mo_cli_error("%s", resp->text);
		print_verdict(&d);
		return d.exit_status;
	}
	if (!resp->token || !resp->user) {
		mo_cli_error("mailoauthd answered without a token or a user");
		return MO_EXIT_PROTOCOL;
	}
	if (!sasl_ok(resp->user, resp->token)) {
		mo_cli_error("the user name '%s' of account %s cannot go into a "
			     "SASL message", resp->user, account);
		return MO_EXIT_DATAERR;
	}
	if (resp->expires_in >= 0)
		printf("token for %s from mailoauthd, valid for another %lld min\n",
		       resp->user, resp->expires_in / 60);
	else
		printf("token for %s from mailoauthd\n", resp->user);
	return 0;
}

int mo_cli_test(struct mo_cli *cli, int argc, char **argv)
{
	struct args a = { .tls = -1, .timeout = 30 };
	struct mo_mailtest_opts o = {0};
	struct mo_mailtest_result *res = NULL;
	struct mo_response resp;
	struct mo_diagnosis d;
	char helo[256], *host = NULL, *buf = NULL;
	int port, status;

	status = parse_args(argc, argv, &a);
	if (status >= 0)
		return status;
	if (!mo_cli_parse_host_port(a.server, a.proto == MO_DIAG_SMTP ? 587 : 993,
				    &host, &port) || !host_ok(host)) {
		g_free(host);
		mo_cli_error("'%s' is not HOST[:PORT] (an IPv6 address goes in "
			     "brackets: [::1]:587)", a.server);
		return MO_EXIT_USAGE;
	}
	if (a.tls < 0)
		a.tls = port == 465 || port == 993 ? MO_MAILTEST_TLS : MO_MAILTEST_STARTTLS;
	status = mo_cli_load_config(cli);
	if (status)
		goto out;

	buf = g_malloc(MO_RESPONSE_MAX);
	status = get_token(cli, a.account, buf, &resp);
	if (status)
		goto out;

	helo_name(helo, sizeof(helo));
	o.proto = a.proto;
	o.host = host;
	o.port = port;
	o.tls = (enum mo_mailtest_tls)a.tls;
	o.mech = a.mech;
	o.account = a.account;
	o.user = resp.user;
	o.token = resp.token;
	o.from = a.from;
	o.send_to = a.send_to;
	o.ca_file = a.ca_file;
	o.helo = helo;
	o.timeout_ms = a.timeout * 1000;
	o.verbose = a.verbose;
	o.out = stdout;
	res = g_new0(struct mo_mailtest_result, 1);
	if (mo_mailtest_run(&o, res) == 0) {
		if (a.proto == MO_DIAG_SMTP)
			printf("OK: %s logged in to %s:%d with %s and may send as "
			       "%s%s%s\n", o.user, host, port, res->mech,
			       a.from ? a.from : o.user,
			       a.send_to ? "; the test message was accepted for " : "",
			       a.send_to ? a.send_to : "");
		else if (res->messages >= 0)
			printf("OK: %s logged in to %s:%d with %s; INBOX has %ld "
			       "message%s\n", o.user, host, port, res->mech,
			       res->messages, res->messages == 1 ? "" : "s");
		else
			printf("OK: %s logged in to %s:%d with %s and opened INBOX\n",
			       o.user, host, port, res->mech);
		status = MO_EXIT_OK;
	} else {
		mo_diagnose(&res->diag, &d);
		print_verdict(&d);
		status = d.exit_status;
	}
out:
	fflush(stdout);
	if (buf) {
		explicit_bzero(buf, MO_RESPONSE_MAX);
		g_free(buf);
	}
	g_free(res);
	g_free(host);
	return status;
}
