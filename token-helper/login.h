/* SPDX-License-Identifier: MIT */
/*
 * login.h - what the pieces of `mailoauth login` share
 *
 * cli_login.c parses the options, finds the account and fills a struct
 * mo_login; one flow function then runs on its GMainLoop and, on
 * success, fills a struct mo_login_result, which cli_login.c stores:
 *
 *	login_device.c		flow = device (RFC 8628)
 *	login_authcode.c	flow = authcode (PKCE, loopback redirect)
 *	login_client.c		flow = client-credentials (secret or key)
 *
 * A flow returns an exit status (cli.h): 0, or one whose sentence it has
 * already printed on standard error.
 *
 * SECURITY
 *	The result holds secrets in malloc'd strings (struct mo_secret):
 *	mo_login_result_clear wipes them. A flow never prints a token, a
 *	code or a secret.
 *
 * DIAGNOSTICS
 *	Flows print their progress on standard output (flushed, so that a
 *	caller without a terminal sees the code or the URL at once) and one
 *	sentence per failure on standard error ("mailoauth: ...").
 */
#ifndef MAILOAUTH_LOGIN_H
#define MAILOAUTH_LOGIN_H

#include "cli.h"
#include "http.h"
#include "oauth.h"
#include "secret.h"

#include <glib.h>
#include <stdbool.h>

#define MO_LOGIN_TIMEOUT_DEFAULT 300	/* seconds: --timeout */
#define MO_LOGIN_TIMEOUT_MAX	86400

struct mo_login {
	struct mo_cli *cli;
	struct mo_account_config *account;
	struct mo_oauth_client client;	/* from the account; credentials
					 * filled by the flow */
	struct mo_http *http;
	GMainLoop *loop;
	/* options */
	bool no_browser;
	bool remote;
	bool no_qr;
	int timeout_s;
	const char *secret_file;
	const char *key_file;
	const char *passphrase_file;
};

struct mo_login_result {
	struct mo_secret grant;		/* what goes into the store */
	char *token_user;		/* whom the access token names, or NULL */
};

/* the flows: 0 with RES filled, or an exit status (sentence printed) */
int mo_login_device(struct mo_login *l, struct mo_login_result *res);
int mo_login_authcode(struct mo_login *l, struct mo_login_result *res);
int mo_login_client_credentials(struct mo_login *l,
				struct mo_login_result *res);

void mo_login_result_clear(struct mo_login_result *res);

/*
 * mo_login_exit_for_error - the exit status for a failed call:
 * TRANSIENT 75; CONFIG and ADMIN_REQUIRED 78; LOGIN_REQUIRED, device code
 * expired or unknown 69; device sign-in declined 77.
 */
int mo_login_exit_for_error(const struct mo_oauth_error *err);

/*
 * mo_login_take_tokens - after a delegated flow: keep T's refresh token
 * in RES (and whom the access token names). Without a refresh token it
 * prints what to do and returns an exit status: 78 when the scopes must
 * change (offline_access), 69 for Google (consent again).
 */
int mo_login_take_tokens(const struct mo_login *l,
			 const struct mo_oauth_tokens *t,
			 struct mo_login_result *res);

/*
 * mo_login_token_user - the user a JWT access token names (claim upn,
 * else preferred_username, unique_name, email), as a new string; NULL
 * for an opaque token (Google's) or one without such a claim. The token
 * is only decoded, not verified: this is for a warning.
 */
char *mo_login_token_user(const char *access_token);

/*
 * mo_login_client_secret - with --secret-file, read the client secret for
 * a delegated flow (Google's desktop clients, confidential clients) into
 * L->client and RES; 0 or an exit status.
 */
int mo_login_client_secret(struct mo_login *l, struct mo_login_result *res);

#endif
