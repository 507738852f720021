/* SPDX-License-Identifier: MIT */
/*
 * cli_token.c - mailoauth token: print a valid access token
 *
 * SYNOPSIS
 *	mailoauth token [--xoauth2 | --oauthbearer] ACCOUNT
 *
 * DESCRIPTION
 *	Asks the running mailoauthd for ACCOUNT's token and prints it on
 *	standard output followed by a newline: what msmtp's passwordeval,
 *	neomutt's *_oauth_refresh_command and scripts want (mbsync uses the
 *	SASL plugin instead).
 *	--xoauth2 and --oauthbearer print the base64 SASL initial response of
 *	that mechanism instead (for a hand-made AUTH command).
 *
 *	Exit status (cli.h): 0 printed; 69 log in again (`mailoauth login`);
 *	75 temporary (daemon not running, identity provider unreachable);
 *	77 this user may not have the account's token; 78 the configuration,
 *	the app or the tenant must change; 67 no such account.
 *
 * SECURITY
 *	The token goes to standard output only; every buffer that held it is
 *	wiped. Error sentences come from the daemon, which never puts a token
 *	in one.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "client.h"
#include "saslmsg.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
	"usage: mailoauth token [--xoauth2 | --oauthbearer] ACCOUNT\n"
	"\n"
	"Print a valid access token for ACCOUNT, from mailoauthd.\n"
	"\n"
	"  --xoauth2      print the base64 XOAUTH2 initial response instead\n"
	"  --oauthbearer  print the base64 OAUTHBEARER initial response instead\n"
	"\n"
	"Exit status: 0 ok, 69 run 'mailoauth login ACCOUNT', 75 try again\n"
	"later, 77 not allowed, 78 configuration or tenant must change.\n";

/*
 * write_secret - LEN bytes of S and a newline straight to standard output,
 * bypassing stdio so that no copy stays in its buffer
 */
static int write_secret(const char *s, size_t len)
{
	const char nl = '\n';

	fflush(stdout);
	while (len) {
		ssize_t n = write(STDOUT_FILENO, s, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return MO_EXIT_IOERR;
		s += n;
		len -= (size_t)n;
	}
	return write(STDOUT_FILENO, &nl, 1) == 1 ? 0 : MO_EXIT_IOERR;
}

/* print_sasl - the base64 initial response of the mechanism */
static int print_sasl(bool oauthbearer, const char *user, const char *token)
{
	size_t size = MO_RESPONSE_MAX;
	char *msg = g_malloc(size);
	gchar *b64;
	int n = oauthbearer ? mo_oauthbearer_format(msg, size, user, NULL, 0, token)
			    : mo_xoauth2_format(msg, size, user, token);
	int status;

	if (n < 0) {
		mo_cli_error("the user name %s cannot go into a SASL message", user);
		g_free(msg);
		return MO_EXIT_DATAERR;
	}
	b64 = g_base64_encode((const guchar *)msg, (gsize)n);
	status = write_secret(b64, strlen(b64));
	explicit_bzero(b64, strlen(b64));
	g_free(b64);
	explicit_bzero(msg, (size_t)n);
	g_free(msg);
	return status;
}

int mo_cli_token(struct mo_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "xoauth2", no_argument, NULL, 'x' },
		{ "oauthbearer", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char line[MO_REQUEST_MAX], *buf;
	struct mo_response resp;
	int c, r, mech = 0, status;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'x':
		case 'o':
			mech = c;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return MO_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fputs(usage, stderr);
		return MO_EXIT_USAGE;
	}
	if (!mo_account_name_valid(argv[optind])) {
		mo_cli_error("'%s' is not an account name", argv[optind]);
		return MO_EXIT_USAGE;
	}
	status = mo_cli_load_config(cli);
	if (status)
		return status;

	snprintf(line, sizeof(line), "TOKEN %s", argv[optind]);
	buf = g_malloc(MO_RESPONSE_MAX);
	r = mo_cli_request(cli, line, buf, MO_RESPONSE_MAX, &resp);
	if (r < 0) {
		mo_cli_error("%s (%s)", mo_client_strerror(r), mo_cli_socket(cli));
		status = MO_EXIT_TEMPFAIL;
	} else if (!resp.ok) {
		mo_cli_error("%s", resp.text);
		status = mo_cli_exit_for_err(resp.err);
	} else if (!resp.token) {
		mo_cli_error("mailoauthd answered without a token");
		status = MO_EXIT_PROTOCOL;
	} else if (mech) {
		status = print_sasl(mech == 'o', resp.user ? resp.user : "",
				    resp.token);
	} else {
		status = write_secret(resp.token, resp.token_len);
	}
	explicit_bzero(buf, MO_RESPONSE_MAX);
	g_free(buf);
	return status;
}
