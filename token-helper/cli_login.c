/* SPDX-License-Identifier: MIT */
/*
 * cli_login.c - mailoauth login: get an account's first grant and store it
 *
 * SYNOPSIS
 *	mailoauth login [--no-browser] [--remote] [--no-qr] [--timeout SECONDS]
 *		[--secret-file FILE] [--key-file FILE] [--passphrase-file FILE]
 *		ACCOUNT
 *
 * DESCRIPTION
 *	Resolves the account's endpoints (discovery, for a generic provider
 *	with an issuer), opens the store and checks that it can be written
 *	(so that a store that is read-only or full fails before anyone signs
 *	in), runs the account's flow
 *	(login_device.c, login_authcode.c, login_client.c), stores the grant
 *	(secret.h) with mo_cli_save_grant, which makes a running mailoauthd
 *	use it at once, and says so. When the access token names another
 *	user than the account's `user`, a warning says that servers will
 *	refuse it.
 *
 *	--secret-file also works for device and authcode: the client secret
 *	some apps need on the token endpoint (Google's "desktop" clients,
 *	confidential clients) is then sent and stored with the grant.
 *
 *	Exit status (cli.h):
 *	  0   logged in and stored
 *	  64  bad command line (also --key-file for an account without
 *	      client_certificate, or none for one with it)
 *	  65  bad input: a pasted address that is not the redirect, a state
 *	      that does not match, an unusable key or a wrong passphrase
 *	  66  a file named on the command line cannot be read
 *	  67  no such account
 *	  69  log in again: the device code expired or is unknown, nobody
 *	      came back within --timeout, the code was refused, Google gave
 *	      no refresh token
 *	  70  internal error (no loopback listener, no randomness)
 *	  74  the store could not be written (read-only, full, its key
 *	      missing); nothing was stored
 *	  75  temporary: the identity provider is unreachable or failing
 *	  77  the user declined the sign-in (device flow, or access_denied
 *	      in the redirect)
 *	  78  configuration, app registration or tenant: a wrong client
 *	      secret, missing consent, a refused scope, discovery that
 *	      failed for good, no refresh token without offline_access
 *
 * SECURITY
 *	Secrets come from files named here, the terminal or standard input
 *	(mo_cli_read_secret), never argv or the environment, and are wiped
 *	after use. Nothing is stored unless the flow succeeded (for client
 *	credentials: a token was fetched with the credential). No token,
 *	code or secret is printed.
 *
 * DIAGNOSTICS
 *	One sentence on standard error for every failure, from the identity
 *	provider's classified error (oauth.c) or our own; progress and the
 *	final "Logged in: ..." on standard output.
 */
#define _GNU_SOURCE
#include "discovery.h"
#include "login.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: mailoauth login [OPTIONS] ACCOUNT\n"
	"\n"
	"Run ACCOUNT's sign-in flow and store the grant for mailoauthd.\n"
	"\n"
	"  --no-browser          authcode: print the URL, do not open a browser\n"
	"  --remote              authcode: the browser is on another machine; paste\n"
	"                        the address it ends on (which fails to load)\n"
	"  --no-qr               device: no QR code of the URL\n"
	"  --timeout SECONDS     authcode: wait this long for the browser (default 300)\n"
	"  --secret-file FILE    the client secret (client-credentials; optional for\n"
	"                        clients that need one), '-' for standard input\n"
	"  --key-file FILE       client-credentials with client_certificate: the\n"
	"                        certificate's private key (PEM)\n"
	"  --passphrase-file FILE  the key's passphrase, when it is encrypted\n"
	"\n"
	"Without --secret-file a client secret is read from the terminal (no echo)\n"
	"or standard input. Exit status: 0 stored, 65 bad input, 69 log in again,\n"
	"75 try again later, 77 declined, 78 configuration or tenant must change.\n";

enum { OPT_NO_BROWSER = 256, OPT_REMOTE, OPT_NO_QR, OPT_TIMEOUT,
       OPT_SECRET_FILE, OPT_KEY_FILE, OPT_PASSPHRASE_FILE };

static const struct option options[] = {
	{ "help",		no_argument,	   NULL, 'h' },
	{ "no-browser",		no_argument,	   NULL, OPT_NO_BROWSER },
	{ "remote",		no_argument,	   NULL, OPT_REMOTE },
	{ "no-qr",		no_argument,	   NULL, OPT_NO_QR },
	{ "timeout",		required_argument, NULL, OPT_TIMEOUT },
	{ "secret-file",	required_argument, NULL, OPT_SECRET_FILE },
	{ "key-file",		required_argument, NULL, OPT_KEY_FILE },
	{ "passphrase-file",	required_argument, NULL, OPT_PASSPHRASE_FILE },
	{ NULL, 0, NULL, 0 },
};

void mo_login_result_clear(struct mo_login_result *res)
{
	mo_secret_clear(&res->grant);
	g_free(res->token_user);
	res->token_user = NULL;
}

int mo_login_exit_for_error(const struct mo_oauth_error *err)
{
	switch (err->cls) {
	case MO_OAUTH_TRANSIENT:
		return MO_EXIT_TEMPFAIL;
	case MO_OAUTH_CONFIG:
	case MO_OAUTH_ADMIN_REQUIRED:
		return MO_EXIT_CONFIG;
	case MO_OAUTH_LOGIN_REQUIRED:
	case MO_OAUTH_DEVICE_EXPIRED:
	case MO_OAUTH_DEVICE_BAD_CODE:
		return MO_EXIT_LOGIN;
	case MO_OAUTH_DEVICE_DECLINED:
		return MO_EXIT_NOPERM;
	default:
		return MO_EXIT_SOFTWARE;
	}
}

/* b64url_decode - unpadded base64url of at most 16 KiB; NULL if invalid */
static char *b64url_decode(const char *s, size_t n, size_t *len_r)
{
	GString *t;
	guchar *raw;
	gsize len;

	if (n > 16384 || n % 4 == 1)
		return NULL;
	t = g_string_sized_new(n + 4);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!g_ascii_isalnum(c))
			goto bad;
		g_string_append_c(t, c);
	}
	while (t->len % 4)
		g_string_append_c(t, '=');
	raw = g_base64_decode(t->str, &len);
	g_string_free(t, TRUE);
	*len_r = len;
	return (char *)raw;
bad:
	g_string_free(t, TRUE);
	return NULL;
}

char *mo_login_token_user(const char *access_token)
{
	static const char *const claims[] = {
		"upn", "preferred_username", "unique_name", "email", NULL,
	};
	const char *dot1, *dot2;
	char *payload, *user = NULL;
	size_t len = 0;
	json_t *root;

	if (!access_token || !(dot1 = strchr(access_token, '.')) ||
	    !(dot2 = strchr(dot1 + 1, '.')))
		return NULL;
	payload = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &len);
	if (!payload)
		return NULL;
	root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
	g_free(payload);
	for (size_t i = 0; json_is_object(root) && claims[i] && !user; i++) {
		const char *v = json_string_value(json_object_get(root, claims[i]));

		if (v && *v && strlen(v) < 256 && mo_arg_valid(v))
			user = g_strdup(v);
	}
	json_decref(root);
	return user;
}

int mo_login_take_tokens(const struct mo_login *l,
			 const struct mo_oauth_tokens *t,
			 struct mo_login_result *res)
{
	const struct mo_account_config *a = l->account;

	if (!t->refresh_token || !*t->refresh_token) {
		if (a->provider == MO_PROVIDER_GOOGLE) {
			mo_cli_error("account '%s': Google issued no refresh "
				     "token, so mailoauthd could not renew the "
				     "access token: remove the app's access at "
				     "https://myaccount.google.com/permissions "
				     "and run 'mailoauth login %s' again; nothing "
				     "was stored", a->name, a->name);
			return MO_EXIT_LOGIN;
		}
		mo_cli_error("account '%s': the identity provider issued no "
			     "refresh token, so mailoauthd could not renew the "
			     "access token: add offline_access to scopes of "
			     "account '%s' in %s (and allow refresh tokens for "
			     "the app), then run 'mailoauth login %s' again; "
			     "nothing was stored", a->name, a->name,
			     l->cli->cfg->path, a->name);
		return MO_EXIT_CONFIG;
	}
	free(res->grant.refresh_token);
	res->grant.refresh_token = strdup(t->refresh_token);
	if (!res->grant.refresh_token)
		return MO_EXIT_SOFTWARE;
	g_free(res->token_user);
	res->token_user = mo_login_token_user(t->access_token);
	return 0;
}

int mo_login_client_secret(struct mo_login *l, struct mo_login_result *res)
{
	char *prompt = g_strdup_printf("Client secret of account %s: ",
				       l->account->name);
	int status = 0;
	char *s = mo_cli_read_secret(prompt, l->secret_file, &status);

	g_free(prompt);
	if (!s)
		return status;
	free(res->grant.client_secret);
	res->grant.client_secret = strdup(s);
	mo_oauth_secret_free(s);
	if (!res->grant.client_secret)
		return MO_EXIT_SOFTWARE;
	l->client.client_secret = res->grant.client_secret;
	return 0;
}

/* parse_timeout - SECONDS of --timeout; false when not 1..MAX */
static bool parse_timeout(const char *arg, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > MO_LOGIN_TIMEOUT_MAX)
		return false;
	*out = (int)v;
	return true;
}

/* check_options - options that make no sense for the account's flow */
static int check_options(const struct mo_login *l)
{
	const struct mo_account_config *a = l->account;

	if (a->flow == MO_FLOW_CLIENT_CREDENTIALS && a->client_certificate) {
		if (!l->key_file) {
			mo_cli_error("account '%s' signs with the certificate "
				     "%s: give its private key with --key-file "
				     "FILE", a->name, a->client_certificate);
			return MO_EXIT_USAGE;
		}
		if (l->secret_file) {
			mo_cli_error("account '%s' uses a certificate, not a "
				     "client secret: drop --secret-file (or "
				     "remove client_certificate from the "
				     "account)", a->name);
			return MO_EXIT_USAGE;
		}
		return 0;
	}
	if (l->key_file || l->passphrase_file) {
		mo_cli_error("--key-file and --passphrase-file are for "
			     "client-credentials accounts with "
			     "client_certificate; account '%s' has none",
			     a->name);
		return MO_EXIT_USAGE;
	}
	return 0;
}

/* resolve - discovery for a generic provider named by its issuer */
static int resolve(struct mo_account_config *a)
{
	GError *error = NULL;
	int status;

	if (!a->needs_discovery)
		return 0;
	if (mo_discovery_resolve_sync(a, &error))
		return 0;
	mo_cli_error("%s", error ? error->message : "discovery failed");
	status = error && error->domain == MO_DISCOVERY_ERROR &&
		 error->code == MO_DISCOVERY_ERROR_TRANSIENT ? MO_EXIT_TEMPFAIL
							     : MO_EXIT_CONFIG;
	g_clear_error(&error);
	return status;
}

/* warn_other_user - the token names someone else than the account's user */
static void warn_other_user(const struct mo_login *l, const char *who)
{
	const struct mo_account_config *a = l->account;

	if (!who || !a->user || !g_ascii_strcasecmp(who, a->user))
		return;
	fprintf(stderr, "mailoauth: warning: the sign-in was as %s, but account "
		"'%s' is for %s: mail servers will refuse the token (535 "
		"5.7.3); unless that is intended, run 'mailoauth login %s' "
		"again and sign in as %s\n", who, a->name, a->user, a->name,
		a->user);
}

/*
 * check_store - a store that cannot take a grant now (read-only, full,
 * locked) fails the login before anyone signs in
 */
static int check_store(struct mo_cli *cli, const char *account)
{
	GError *error = NULL;
	int status;

	if (mo_store_check_writable(cli->store, &error))
		return 0;
	mo_cli_error("cannot log in account '%s': its grant could not be "
		     "stored: %s", account, error->message);
	status = error->code == MO_STORE_ERROR_UNSAFE ? MO_EXIT_NOPERM
		: error->code == MO_STORE_ERROR_BUSY ? MO_EXIT_TEMPFAIL
		: MO_EXIT_IOERR;
	g_error_free(error);
	return status;
}

/* save - store RES's grant and say so; 0 or an exit status */
static int save(struct mo_login *l, struct mo_login_result *res)
{
	const struct mo_account_config *a = l->account;
	char *json = mo_secret_format(&res->grant);
	int status;

	if (!json) {
		mo_cli_error("cannot format the grant of account '%s'", a->name);
		return MO_EXIT_SOFTWARE;
	}
	warn_other_user(l, res->token_user);
	printf("Logged in: account %s (%s).\n", a->name, a->user);
	fflush(stdout);
	status = mo_cli_save_grant(l->cli, a->name, json);
	explicit_bzero(json, strlen(json));
	free(json);
	return status;
}

static int run(struct mo_login *l)
{
	struct mo_login_result res = {0};
	int status;

	mo_oauth_client_init(&l->client, l->account);
	l->http = mo_http_new(NULL);
	if (!l->http) {
		mo_cli_error("libcurl failed to start");
		return MO_EXIT_SOFTWARE;
	}
	l->loop = g_main_loop_new(NULL, FALSE);
	switch (l->account->flow) {
	case MO_FLOW_DEVICE:
		status = mo_login_device(l, &res);
		break;
	case MO_FLOW_AUTHCODE:
		status = mo_login_authcode(l, &res);
		break;
	case MO_FLOW_CLIENT_CREDENTIALS:
		status = mo_login_client_credentials(l, &res);
		break;
	default:
		status = MO_EXIT_SOFTWARE;
		break;
	}
	if (status == 0)
		status = save(l, &res);
	else
		fflush(stdout);
	mo_login_result_clear(&res);
	mo_http_free(l->http);
	l->http = NULL;
	g_main_loop_unref(l->loop);
	l->loop = NULL;
	return status;
}

int mo_cli_login(struct mo_cli *cli, int argc, char **argv)
{
	struct mo_login l = { .cli = cli, .timeout_s = MO_LOGIN_TIMEOUT_DEFAULT };
	int c, status;

	optind = 0;	/* main() used getopt's state for the global options */
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage, stdout);
			return MO_EXIT_OK;
		case OPT_NO_BROWSER:
			l.no_browser = true;
			break;
		case OPT_REMOTE:
			l.remote = true;
			break;
		case OPT_NO_QR:
			l.no_qr = true;
			break;
		case OPT_TIMEOUT:
			if (!parse_timeout(optarg, &l.timeout_s)) {
				mo_cli_error("--timeout takes a number of "
					     "seconds from 1 to %d",
					     MO_LOGIN_TIMEOUT_MAX);
				return MO_EXIT_USAGE;
			}
			break;
		case OPT_SECRET_FILE:
			l.secret_file = optarg;
			break;
		case OPT_KEY_FILE:
			l.key_file = optarg;
			break;
		case OPT_PASSPHRASE_FILE:
			l.passphrase_file = optarg;
			break;
		default:
			fputs(usage, stderr);
			return MO_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		mo_cli_error(argc - optind ? "login takes one ACCOUNT"
					   : "login needs an ACCOUNT");
		fputs(usage, stderr);
		return MO_EXIT_USAGE;
	}
	l.account = mo_cli_account(cli, argv[optind], &status);
	if (!l.account)
		return status;
	if ((status = check_options(&l)) != 0 ||
	    (status = resolve(l.account)) != 0 ||
	    (status = mo_cli_open_store(cli)) != 0 ||
	    (status = check_store(cli, l.account->name)) != 0)
		return status;
	return run(&l);
}
