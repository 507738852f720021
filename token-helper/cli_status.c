/* SPDX-License-Identifier: MIT */
/*
 * cli_status.c - mailoauth list and mailoauth status
 *
 * SYNOPSIS
 *	mailoauth list [--json]
 *	mailoauth status [--json] [ACCOUNT]
 *
 * DESCRIPTION
 *	list shows the configured accounts (name, mailbox, provider, flow).
 *	status asks the running mailoauthd how each account is doing (STATUS,
 *	docs/protocol.md) and says it in words: the state, when the token
 *	expires, the last and next refresh, the last error and what to do
 *	about it. When no daemon runs, status says so and, where the store
 *	can be read, whether a grant is stored.
 *
 *	Exit status of status: for one account, 0 when it has or can get a
 *	token, else the code `mailoauth token` would return (69, 77, 78, 67);
 *	for all accounts 0, or 75 when the daemon cannot be reached.
 *
 * SECURITY
 *	Nothing here sees a token: STATUS answers carry none.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "client.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* one account as the daemon described it */
struct acct_status {
	bool answered;		/* the daemon answered OK */
	enum mo_err err;	/* when !answered and reachable */
	char *text;		/* the ERR sentence */
	char *state;		/* empty, valid, login-required, ... */
	long long expires_in, refreshed_ago, next_refresh_in, failures;
	char *message;		/* percent-decoded */
	int stored;		/* -1 unknown, 0 no grant, 1 grant stored */
};

static void acct_status_clear(struct acct_status *s)
{
	g_free(s->text);
	g_free(s->state);
	g_free(s->message);
	memset(s, 0, sizeof(*s));
}

static long long num_field(const char *line, const char *key)
{
	char *v = mo_cli_field(line, key);
	long long n = v ? g_ascii_strtoll(v, NULL, 10) : -1;

	g_free(v);
	return n;
}

/* pct_decode - a percent-encoded STATUS field, in place */
static char *pct_decode(char *s)
{
	char *w = s;

	for (const char *r = s; s && *r; r++) {
		if (r[0] == '%' && g_ascii_isxdigit(r[1]) && g_ascii_isxdigit(r[2])) {
			*w++ = (char)(g_ascii_xdigit_value(r[1]) * 16 +
				      g_ascii_xdigit_value(r[2]));
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	if (s)
		*w = '\0';
	return s;
}

/*
 * query - STATUS NAME from the daemon into OUT; returns 0, or a negative
 * errno when the daemon could not be reached
 */
static int query(const struct mo_cli *cli, const char *name,
		 struct acct_status *out)
{
	char line[MO_REQUEST_MAX], buf[MO_RESPONSE_MAX], copy[MO_RESPONSE_MAX];
	struct mo_response resp;
	int n;

	memset(out, 0, sizeof(*out));
	out->stored = -1;
	snprintf(line, sizeof(line), "STATUS %s", name);
	n = mo_cli_request_raw(cli, line, buf, sizeof(buf));
	if (n < 0)
		return n;
	memcpy(copy, buf, (size_t)n + 1);
	if (mo_response_parse(copy, (size_t)n, &resp) < 0)
		return -EPROTO;
	if (!resp.ok) {
		out->err = resp.err;
		out->text = g_strdup(resp.text);
		return 0;
	}
	out->answered = true;
	out->state = pct_decode(mo_cli_field(buf, "state"));
	out->message = pct_decode(mo_cli_field(buf, "message"));
	out->expires_in = num_field(buf, "expires_in");
	out->refreshed_ago = num_field(buf, "refreshed_ago");
	out->next_refresh_in = num_field(buf, "next_refresh_in");
	out->failures = num_field(buf, "failures");
	return 0;
}

/* stored - is a grant in the store? -1 when the store cannot be read */
static int stored(struct mo_cli *cli, const char *name)
{
	GError *error = NULL;
	char *secret;

	if (mo_cli_open_store(cli))
		return -1;
	secret = mo_store_load_sync(cli->store, name, &error);
	if (error) {
		g_error_free(error);
		return -1;
	}
	mo_store_secret_free(secret);
	return secret != NULL;
}

static const char *action_for(const char *state, const char *name,
			      bool failing, char *buf, size_t size)
{
	if (!state)
		return NULL;
	if (failing && (!strcmp(state, "empty") || !strcmp(state, "valid"))) {
		snprintf(buf, size, "nothing yet: mailoauthd retries by itself%s; "
			 "if this lasts, check the network and the identity "
			 "provider", !strcmp(state, "valid")
			 ? " and keeps serving the valid token" : "");
		return buf;
	}
	if (!strcmp(state, "login-required"))
		snprintf(buf, size, "run: mailoauth login %s", name);
	else if (!strcmp(state, "admin-required"))
		snprintf(buf, size, "an administrator of the tenant must act "
			 "(see the error); then run: mailoauth login %s", name);
	else if (!strcmp(state, "config-error"))
		snprintf(buf, size, "fix the account in mailoauth.conf or the "
			 "app registration, then reload mailoauthd "
			 "(systemctl reload mailoauthd)");
	else if (!strcmp(state, "empty"))
		snprintf(buf, size, "nothing: mailoauthd gets a token at the first "
			 "request (or run: mailoauth token %s)", name);
	else
		return NULL;
	return buf;
}

static char *human_seconds(long long s)
{
	if (s < 0)
		return g_strdup("-");
	if (s < 120)
		return g_strdup_printf("%lld s", s);
	if (s < 7200)
		return g_strdup_printf("%lld min", s / 60);
	if (s < 172800)
		return g_strdup_printf("%lld h %lld min", s / 3600, s % 3600 / 60);
	return g_strdup_printf("%lld days", s / 86400);
}

static json_t *json_num(long long v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

/* status_json - one account as a JSON object */
static json_t *status_json(const struct mo_account_config *a,
			   const struct acct_status *st, bool reachable)
{
	char act[256];
	const char *state = st->answered ? st->state
		: reachable ? mo_err_name(st->err) : "daemon-not-running";
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "account", a->name,
			      "user", a->user,
			      "provider", mo_provider_name(a->provider),
			      "flow", mo_flow_name(a->flow), "state", state);

	json_object_set_new(o, "expires_in", json_num(st->answered ? st->expires_in : -1));
	json_object_set_new(o, "refreshed_ago", json_num(st->answered ? st->refreshed_ago : -1));
	json_object_set_new(o, "next_refresh_in", json_num(st->answered ? st->next_refresh_in : -1));
	json_object_set_new(o, "failures", json_num(st->answered ? st->failures : -1));
	json_object_set_new(o, "message", st->message ? json_string(st->message)
			    : st->text ? json_string(st->text) : json_null());
	json_object_set_new(o, "grant_stored", st->stored < 0 ? json_null()
			    : json_boolean(st->stored));
	action_for(state, a->name, st->message != NULL, act, sizeof(act)) ?
		json_object_set_new(o, "action", json_string(act)) :
		json_object_set_new(o, "action", json_null());
	return o;
}

/* status_text - one account in words */
static void status_text(const struct mo_account_config *a,
			const struct acct_status *st, bool reachable)
{
	char act[256];
	char *t;
	const char *state = st->answered ? st->state : mo_err_name(st->err);

	printf("%s (%s, %s, %s)\n", a->name, a->user,
	       mo_provider_name(a->provider), mo_flow_name(a->flow));
	if (!reachable) {
		printf("  state:         unknown: mailoauthd is not running\n");
		if (st->stored >= 0)
			printf("  grant stored:  %s\n", st->stored ? "yes"
			       : "no (run: mailoauth login)");
		return;
	}
	if (!st->answered) {
		printf("  state:         %s\n  error:         %s\n", state, st->text);
		return;
	}
	if (!strcmp(state, "valid")) {
		t = human_seconds(st->expires_in);
		printf("  state:         valid, the token expires in %s\n", t);
		g_free(t);
	} else {
		printf("  state:         %s\n", state);
	}
	if (st->refreshed_ago >= 0) {
		t = human_seconds(st->refreshed_ago);
		printf("  last refresh:  %s ago\n", t);
		g_free(t);
	}
	if (st->next_refresh_in >= 0) {
		t = human_seconds(st->next_refresh_in);
		printf("  next refresh:  in %s\n", t);
		g_free(t);
	}
	if (st->failures > 0)
		printf("  failures:      %lld in a row\n", st->failures);
	if (st->message)
		printf("  last error:    %s\n", st->message);
	if (action_for(state, a->name, st->message != NULL, act, sizeof(act)))
		printf("  what to do:    %s\n", act);
}

static const char status_usage[] =
	"usage: mailoauth status [--json] [ACCOUNT]\n"
	"\n"
	"Show how mailoauthd is doing with each account (or ACCOUNT): the\n"
	"token's expiry, the last and next refresh, the last error and what to\n"
	"do about it.\n"
	"\n"
	"  --json  one JSON object per account (an array without ACCOUNT)\n";

static const char list_usage[] =
	"usage: mailoauth list [--json]\n"
	"\n"
	"List the configured accounts: name, mailbox, provider and flow.\n";

/* parse_json_flag - --json, --help and at most MAX_ARGS operands */
static int parse_json_flag(int argc, char **argv, const char *usage,
			   bool *json, int max_args)
{
	int r = mo_cli_parse_flag(argc, argv, usage, "json", json);

	if (r < 0 && argc - optind > max_args) {
		fputs(usage, stderr);
		return MO_EXIT_USAGE;
	}
	return r;
}

static void print_json(json_t *j)
{
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	puts(text);
	free(text);
	json_decref(j);
}

int mo_cli_list(struct mo_cli *cli, int argc, char **argv)
{
	bool json = false;
	int r = parse_json_flag(argc, argv, list_usage, &json, 0);
	json_t *arr;

	if (r >= 0)
		return r;
	r = mo_cli_load_config(cli);
	if (r)
		return r;
	if (json) {
		arr = json_array();
		for (size_t i = 0; i < cli->cfg->n_accounts; i++) {
			const struct mo_account_config *a = cli->cfg->accounts[i];

			json_array_append_new(arr, json_pack(
				"{s:s, s:s, s:s, s:s}", "account", a->name,
				"user", a->user, "provider",
				mo_provider_name(a->provider), "flow",
				mo_flow_name(a->flow)));
		}
		print_json(arr);
		return 0;
	}
	if (!cli->cfg->n_accounts) {
		printf("%s has no accounts yet.\n", cli->cfg->path);
		return 0;
	}
	printf("%-20s %-32s %-10s %s\n", "ACCOUNT", "USER", "PROVIDER", "FLOW");
	for (size_t i = 0; i < cli->cfg->n_accounts; i++) {
		const struct mo_account_config *a = cli->cfg->accounts[i];

		printf("%-20s %-32s %-10s %s\n", a->name, a->user,
		       mo_provider_name(a->provider), mo_flow_name(a->flow));
	}
	return 0;
}

int mo_cli_status(struct mo_cli *cli, int argc, char **argv)
{
	bool json = false;
	int r = parse_json_flag(argc, argv, status_usage, &json, 1);
	const char *only = NULL;
	json_t *arr = NULL;
	bool reachable = true;
	int status = 0;

	if (r >= 0)
		return r;
	if (optind < argc)
		only = argv[optind];
	if (only && !mo_cli_account(cli, only, &r))
		return r;
	r = mo_cli_load_config(cli);
	if (r)
		return r;
	if (json && !only)
		arr = json_array();
	for (size_t i = 0; i < cli->cfg->n_accounts; i++) {
		const struct mo_account_config *a = cli->cfg->accounts[i];
		struct acct_status st;

		if (only && strcmp(a->name, only))
			continue;
		r = query(cli, a->name, &st);
		if (r < 0 && reachable) {
			reachable = false;
			mo_cli_error("%s (%s)", mo_client_strerror(r),
				     mo_cli_socket(cli));
			status = MO_EXIT_TEMPFAIL;
		}
		if (!reachable)
			st.stored = stored(cli, a->name);
		else if (only && !st.answered)
			status = mo_cli_exit_for_err(st.err);
		else if (only && st.state && strcmp(st.state, "valid") &&
			 strcmp(st.state, "empty"))
			status = mo_cli_exit_for_err(
				!strcmp(st.state, "login-required") ? MO_ERR_LOGIN_REQUIRED
				: !strcmp(st.state, "admin-required") ? MO_ERR_ADMIN_REQUIRED
				: MO_ERR_CONFIG);
		if (json && only)
			print_json(status_json(a, &st, reachable));
		else if (json)
			json_array_append_new(arr, status_json(a, &st, reachable));
		else
			status_text(a, &st, reachable);
		acct_status_clear(&st);
	}
	if (arr)
		print_json(arr);
	else if (!json && !cli->cfg->n_accounts)
		printf("%s has no accounts yet.\n", cli->cfg->path);
	return status;
}
