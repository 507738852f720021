/* SPDX-License-Identifier: MIT */
/*
 * cli_logout.c - mailoauth logout: forget (and revoke) an account's grant
 *
 * SYNOPSIS
 *	mailoauth logout [--no-revoke] ACCOUNT
 *
 * DESCRIPTION
 *	Revokes the stored refresh token at the provider when it has a
 *	revocation endpoint (RFC 7009: Google, or a generic provider's
 *	revocation_endpoint), removes the grant from the store and tells the
 *	running daemon, which drops its cached token at once. Microsoft offers
 *	apps no revocation endpoint: the refresh token then lapses unused
 *	(an administrator can revoke the user's sessions sooner), which the
 *	output says. A failed revocation does not keep the grant: it is
 *	removed here anyway, and the output says so.
 *
 *	Exit status: 0 when the grant is gone from the store (also when there
 *	was none); 74 when the store could not be changed; 67, 78 as for the
 *	other verbs.
 *
 * SECURITY
 *	The refresh token goes only to the revocation endpoint, in a POST
 *	body; every copy is wiped.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "discovery.h"
#include "http.h"
#include "oauth.h"
#include "secret.h"

#include <stdio.h>
#include <string.h>

#define REMOVE_TRIES 3

static const char usage[] =
	"usage: mailoauth logout [--no-revoke] ACCOUNT\n"
	"\n"
	"Remove ACCOUNT's grant from the store, revoke its refresh token at the\n"
	"provider where the provider allows it, and make mailoauthd forget the\n"
	"account's token.\n"
	"\n"
	"  --no-revoke  only remove the grant here\n";

struct revoke {
	GMainLoop *loop;
	long status;
	char error[256];
};

static void on_revoked(const struct mo_http_response *r, void *ud)
{
	struct revoke *rv = ud;

	rv->status = r->status;
	if (r->curl_code)
		g_strlcpy(rv->error, r->error, sizeof(rv->error));
	g_main_loop_quit(rv->loop);
}

/* revoke_at_provider - RFC 7009 for TOKEN; prints what happened */
static void revoke_at_provider(const struct mo_account_config *a, const char *token)
{
	struct mo_http_field f[] = {
		{ "token", token, true },
		{ "token_type_hint", "refresh_token", false },
		{ "client_id", a->client_id, false },
	};
	struct mo_http_request req = {
		.url = a->revocation_endpoint, .fields = f,
		.n_fields = G_N_ELEMENTS(f), .ca_file = a->ca_file,
	};
	struct revoke rv = { .loop = g_main_loop_new(NULL, FALSE) };
	struct mo_http *http = mo_http_new(NULL);

	if (!http) {
		printf("Could not revoke the refresh token: libcurl failed to start.\n");
		g_main_loop_unref(rv.loop);
		return;
	}
	mo_http_post_form(http, &req, on_revoked, &rv);
	g_main_loop_run(rv.loop);
	if (rv.error[0])
		printf("Could not revoke the refresh token at %s: %s; it is "
		       "removed here anyway.\n", a->revocation_endpoint, rv.error);
	else if (rv.status == 200)
		printf("Revoked the refresh token at %s.\n", a->revocation_endpoint);
	else
		printf("The provider refused to revoke the refresh token (HTTP "
		       "%ld); it is removed here anyway.\n", rv.status);
	mo_http_free(http);
	g_main_loop_unref(rv.loop);
}

/* remove_grant - remove ACCOUNT's grant; 0 or an exit status */
static int remove_grant(struct mo_cli *cli, const char *account)
{
	GError *error = NULL;

	if (mo_store_remove_sync(cli->store, account, &error))
		return 0;
	mo_cli_error("cannot remove the grant of %s from %s: %s", account,
		     mo_store_describe(cli->store), error->message);
	g_error_free(error);
	return MO_EXIT_IOERR;
}

/*
 * still_stored - is a grant back? A refresh that was in flight when the
 * grant was removed may have stored its rotated refresh token after that;
 * the daemon's RELOAD answer comes only after such a refresh.
 */
static bool still_stored(struct mo_cli *cli, const char *account)
{
	GError *error = NULL;
	char *secret = mo_store_load_sync(cli->store, account, &error);
	bool there = secret != NULL;

	mo_store_secret_free(secret);
	g_clear_error(&error);
	return there;
}

int mo_cli_logout(struct mo_cli *cli, int argc, char **argv)
{
	struct mo_account_config *a;
	struct mo_secret grant = {0};
	GError *error = NULL;
	char *secret;
	bool no_revoke = false;
	int status;

	status = mo_cli_parse_flag(argc, argv, usage, "no-revoke", &no_revoke);
	if (status >= 0)
		return status;
	if (optind != argc - 1) {
		fputs(usage, stderr);
		return MO_EXIT_USAGE;
	}
	a = mo_cli_account(cli, argv[optind], &status);
	if (!a || (status = mo_cli_open_store(cli)))
		return status;

	secret = mo_store_load_sync(cli->store, a->name, &error);
	if (error) {
		mo_cli_error("cannot read the grant of %s from %s: %s", a->name,
			     mo_store_describe(cli->store), error->message);
		g_error_free(error);
		return MO_EXIT_IOERR;
	}
	if (!secret) {
		printf("Account %s has no stored grant.\n", a->name);
	} else if (mo_secret_parse(secret, &grant) && !no_revoke) {
		if (a->needs_discovery && !mo_discovery_resolve_sync(a, &error)) {
			printf("Cannot find the revocation endpoint: %s\n",
			       error->message);
			g_clear_error(&error);
		}
		if (grant.refresh_token && a->revocation_endpoint)
			revoke_at_provider(a, grant.refresh_token);
		else if (grant.refresh_token && a->provider == MO_PROVIDER_MICROSOFT)
			printf("Microsoft has no revocation endpoint for apps: the "
			       "refresh token lapses after 90 days unused. To end "
			       "it now, an administrator can revoke %s's sessions "
			       "(Entra admin center: Users > Revoke sessions).\n",
			       a->user);
		else if (grant.client_secret || grant.private_key)
			printf("The client credential stays valid in the app "
			       "registration: delete it there if nothing else "
			       "uses it.\n");
	}
	mo_secret_clear(&grant);
	mo_store_secret_free(secret);

	for (int i = 0; i < REMOVE_TRIES; i++) {
		status = remove_grant(cli, a->name);
		if (status)
			return status;
		mo_cli_notify_daemon(cli, a->name, NULL);
		if (!still_stored(cli, a->name))
			break;
	}
	printf("Logged out: account %s; its grant is removed from %s.\n",
	       a->name, mo_store_describe(cli->store));
	return 0;
}
