/* SPDX-License-Identifier: MIT */
/*
 * engine.c - per-account token state machines of mailoauthd (engine.h)
 */
#define _GNU_SOURCE
#define G_LOG_DOMAIN "mailoauthd"
#include "engine.h"
#include "discovery.h"
#include "oauth.h"
#include "saslmsg.h"
#include "schedule.h"
#include "secret.h"

#include <errno.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* the timetable's numbers and arithmetic are in schedule.h */

enum acct_state {
	ST_EMPTY,	/* no token; the next request refreshes */
	ST_VALID,	/* a token to serve */
	ST_FAILED,	/* permanent failure: login, admin or config */
};

struct waiter {
	struct mo_pending *p;
	enum mo_verb verb;
	char *user, *host;	/* raw verbs' optional arguments */
	unsigned port;
};

struct acct {
	struct mo_engine *e;
	const struct mo_account_config *cfg;
	enum acct_state state;
	char *token;
	long long gen;
	gint64 expires_at, refreshed_at, used_at, due;	/* boot-time seconds */
	gint64 refresh_at;	/* the planned refresh of this token */
	/* the last failure, for requests and status */
	enum mo_err err;
	char *message;
	unsigned failures;
	bool idp_backoff;	/* backing off after the provider failed */
	gint64 failed_at, notified_at;
	char *failed_digest;	/* the secret that failed permanently */
	char grant_id[17];	/* SHA-256 prefix of the grant last loaded */
	/* a refresh in flight */
	bool refreshing;
	GPtrArray *waiters;
	struct mo_oauth_call *call;
	struct mo_discovery_call *disc_call;	/* issuer metadata in flight */
	char *current_secret;	/* the grant of the refresh in flight */
	/* a rotated grant not yet stored, with the token it came with;
	 * grant_id names the grant it was rotated from */
	char *unsaved_secret;
	bool check_unsaved;	/* RELOAD: does the store still hold that? */
	char *staged_token;
	gint64 staged_expires_at;
	/* RELOAD ACCOUNT requests, answered after the refresh they start */
	GPtrArray *reloaders;	/* struct mo_pending * */
	bool reload_after;	/* a refresh was in flight: reload after it */
	/* cfg->needs_discovery: the endpoints from the issuer's metadata,
	 * fetched before the first refresh (cfg is const and shared) */
	struct mo_discovery disc;
	bool discovered;
	/* store calls whose callback is still to come: an account removed
	 * meanwhile (SIGHUP) stays allocated, dead, until the last one */
	unsigned store_ops;
	bool dead;
};

struct mo_engine {
	struct mo_config *cfg;
	struct mo_store *store;
	struct mo_http *http;
	GHashTable *accts;	/* name -> struct acct */
	int timerfd;
	guint timer_watch;
	gint64 armed_for;
	struct mo_engine_stats stats;
};

static void acct_refresh(struct acct *a);
static void on_loaded(char *secret, GError *error, void *ud);
static void acct_reload(struct acct *a);
static void answer_reloaders(struct acct *a);
static void engine_arm(struct mo_engine *e);

/* boot_s - seconds on a clock that keeps counting through suspend */
static gint64 boot_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ts.tv_sec;
}

static void wipe_str(char **s)
{
	mo_http_wipe_free(*s);
	*s = NULL;
}

/* ---- answers ---- */

static void waiter_free(struct waiter *w)
{
	g_free(w->user);
	g_free(w->host);
	g_free(w);
}

/* serve - answer W with A's token in the form its verb wants */
static void serve(struct acct *a, struct waiter *w)
{
	char *buf = g_malloc(MO_RESPONSE_MAX);
	gint64 now = boot_s();
	int n;
	bool raw = w->verb == MO_VERB_XOAUTH2 || w->verb == MO_VERB_OAUTHBEARER;

	a->used_at = now;
	if (w->verb == MO_VERB_XOAUTH2)
		n = mo_xoauth2_format(buf, MO_RESPONSE_MAX,
				      w->user ? w->user : a->cfg->user, a->token);
	else if (w->verb == MO_VERB_OAUTHBEARER)
		n = mo_oauthbearer_format(buf, MO_RESPONSE_MAX,
					  w->user ? w->user : a->cfg->user,
					  w->host, w->port, a->token);
	else
		n = mo_response_format_token(buf, MO_RESPONSE_MAX, a->cfg->name,
					     a->cfg->user, a->gen,
					     a->expires_at - now,
					     mo_sched_cache_for(now, a->expires_at,
								a->refresh_at),
					     a->token);
	if (n < 0)
		mo_server_reply_error(w->p, MO_ERR_BAD_REQUEST,
				      "the user name cannot go into a SASL message");
	else
		mo_server_reply(w->p, buf, (size_t)n, raw);
	if (n > 0)
		explicit_bzero(buf, (size_t)n + 1);	/* all that was written */
	g_free(buf);
}

static void answer_waiters(struct acct *a)
{
	GPtrArray *ws = a->waiters;

	a->waiters = g_ptr_array_new();
	for (guint i = 0; i < ws->len; i++) {
		struct waiter *w = ws->pdata[i];

		if (a->state == ST_VALID) {
			a->e->stats.served_after_wait++;
			serve(a, w);
		} else {
			mo_server_reply_error(w->p, a->err, a->message);
		}
		waiter_free(w);
	}
	g_ptr_array_free(ws, TRUE);
}

/* ---- state changes ---- */

static void set_message(struct acct *a, enum mo_err err, const char *msg)
{
	a->err = err;
	g_free(a->message);
	a->message = g_strdup(msg);
}

static void run_notify(struct acct *a)
{
	const char *cmd = a->e->cfg->notify_command;
	gchar **argv = NULL, **envp;
	GError *error = NULL;
	gint64 now = boot_s();

	if (!cmd || !*cmd || !mo_sched_may_notify(now, a->notified_at))
		return;
	a->notified_at = now;
	if (!g_shell_parse_argv(cmd, NULL, &argv, &error)) {
		g_warning("notify_command cannot be parsed: %s", error->message);
		g_error_free(error);
		return;
	}
	envp = g_get_environ();
	envp = g_environ_setenv(envp, "MAILOAUTH_ACCOUNT", a->cfg->name, TRUE);
	envp = g_environ_setenv(envp, "MAILOAUTH_STATE", mo_err_name(a->err), TRUE);
	envp = g_environ_setenv(envp, "MAILOAUTH_MESSAGE", a->message, TRUE);
	if (!g_spawn_async(NULL, argv, envp, G_SPAWN_SEARCH_PATH |
			   G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL, NULL, &error)) {
		g_warning("account %s: notify_command failed: %s", a->cfg->name,
			  error->message);
		g_error_free(error);
	}
	g_strfreev(envp);
	g_strfreev(argv);
}

/* fail_permanently - no point retrying until the grant or config changes */
static void fail_permanently(struct acct *a, enum mo_err err, const char *msg,
			     const char *secret)
{
	if (a->state != ST_FAILED || a->err != err)
		g_warning("account %s: %s", a->cfg->name, msg);
	wipe_str(&a->token);
	a->state = ST_FAILED;
	set_message(a, err, msg);
	a->failed_at = boot_s();
	g_free(a->failed_digest);
	a->failed_digest = secret ? g_compute_checksum_for_string(G_CHECKSUM_SHA256,
								 secret, -1) : NULL;
	a->due = 0;
	run_notify(a);
}

/* fail_transiently - back off; a token that is still valid stays served */
static void fail_transiently(struct acct *a, const char *msg, long retry_after)
{
	gint64 now = boot_s(), wait;

	a->idp_backoff = false;	/* the callers that know set it after */
	a->failures = mo_sched_failed(a->failures);
	wait = mo_sched_backoff(a->failures, g_random_int(), retry_after);
	a->due = now + wait;
	a->e->stats.refresh_failures++;
	g_message("account %s: refresh failed, retrying in %" G_GINT64_FORMAT
		  " s: %s", a->cfg->name, wait, msg);
	if (a->state == ST_VALID && mo_sched_servable(now, a->expires_at)) {
		set_message(a, MO_ERR_UNAVAILABLE, msg);
		return;		/* keep serving what we have */
	}
	wipe_str(&a->token);
	a->state = ST_EMPTY;
	set_message(a, MO_ERR_UNAVAILABLE, msg);
}

static void install_token(struct acct *a, char **token, gint64 expires_at)
{
	gint64 now = boot_s();
	gint64 life = expires_at - now;
	int margin = a->e->cfg->refresh_margin;

	wipe_str(&a->token);
	a->token = *token;
	*token = NULL;
	a->gen++;
	a->state = ST_VALID;
	a->expires_at = expires_at;
	a->refreshed_at = now;
	a->failures = 0;
	a->idp_backoff = false;
	g_clear_pointer(&a->message, g_free);
	g_clear_pointer(&a->failed_digest, g_free);
	/* margin + jitter before expiry: accounts do not refresh in step */
	a->refresh_at = mo_sched_refresh_at(now, expires_at, margin,
					    mo_sched_jitter(margin, g_random_int()));
	a->due = a->refresh_at;
	a->e->stats.refreshes++;
	g_message("account %s: new access token, valid %" G_GINT64_FORMAT " s",
		  a->cfg->name, life);
}

static void refresh_done(struct acct *a)
{
	a->refreshing = false;
	a->call = NULL;
	if (a->reload_after) {
		/* the grant changed during that refresh: its result was
		 * dropped, and the waiters wait for the reload's refresh */
		acct_reload(a);
	} else {
		answer_waiters(a);
		answer_reloaders(a);
	}
	engine_arm(a->e);
}

/* ---- the refresh: store, identity provider, store again ---- */

/*
 * store_back - a store call of A has come back. True when A was removed
 * from the configuration meanwhile: the caller must not touch it (it is
 * freed here after its last call).
 */
static bool store_back(struct acct *a)
{
	a->store_ops--;
	if (!a->dead)
		return false;
	if (!a->store_ops)
		g_free(a);
	return true;
}

static void on_saved(GError *error, void *ud)
{
	struct acct *a = ud;

	if (store_back(a))
		return;
	if (error) {
		/* keep the new grant in memory and try to store it again */
		char *msg = g_strdup_printf("cannot store the rotated refresh "
					    "token of account %s in %s: %s; "
					    "mailoauthd keeps it in memory "
					    "and stores it at the next try: "
					    "fix the store before restarting "
					    "mailoauthd",
					    a->cfg->name,
					    mo_store_describe(a->e->store),
					    error->message);

		fail_transiently(a, msg, 0);
		g_free(msg);
		refresh_done(a);
		return;
	}
	a->e->stats.store_saves++;
	wipe_str(&a->unsaved_secret);
	if (!a->staged_token || a->staged_expires_at <= boot_s()) {
		/* none came with it (RELOAD), or it expired while the store
		 * refused its grant: refresh with the grant now stored */
		wipe_str(&a->staged_token);
		a->refreshing = false;
		acct_refresh(a);
		return;
	}
	install_token(a, &a->staged_token, a->staged_expires_at);
	refresh_done(a);
}

static void save_unsaved(struct acct *a)
{
	a->store_ops++;
	mo_store_save(a->e->store, a->cfg->name, a->unsaved_secret, on_saved, a);
}

static void on_tokens(const struct mo_oauth_tokens *tok,
		      const struct mo_oauth_error *err, void *ud)
{
	struct acct *a = ud;
	char *secret = NULL;

	a->call = NULL;
	if (err) {
		if (err->cls == MO_OAUTH_TRANSIENT) {
			fail_transiently(a, err->message, err->retry_after);
			a->idp_backoff = true;
		} else {
			/* remembered: this grant is not sent again until the
			 * store holds another (login, logout, RELOAD) */
			fail_permanently(a, mo_oauth_class_err(err->cls),
					 err->message, a->current_secret);
		}
		wipe_str(&a->current_secret);
		refresh_done(a);
		return;
	}

	if (a->reload_after) {
		/* the grant this refresh used was replaced meanwhile: drop
		 * its result rather than store it over the new one */
		wipe_str(&a->current_secret);
		refresh_done(a);
		return;
	}
	a->staged_token = g_strdup(tok->access_token);
	a->staged_expires_at = boot_s() + tok->expires_in;
	if (tok->refresh_token &&
	    mo_secret_set_refresh_token(a->current_secret, tok->refresh_token,
					&secret)) {
		/* rotated: durable first, served second */
		wipe_str(&a->current_secret);
		a->unsaved_secret = secret;
		save_unsaved(a);
		return;
	}
	wipe_str(&a->current_secret);
	install_token(a, &a->staged_token, a->staged_expires_at);
	refresh_done(a);
}

/* same_grant - SECRET is the grant A loaded last (grant_id) */
static bool same_grant(const struct acct *a, const char *secret)
{
	char *d = g_compute_checksum_for_string(G_CHECKSUM_SHA256, secret, -1);
	bool same = a->grant_id[0] && !strncmp(d, a->grant_id, 16);

	g_free(d);
	return same;
}

static void on_loaded(char *secret, GError *error, void *ud)
{
	struct acct *a = ud;
	struct mo_secret s = {0};
	struct mo_oauth_client client = {0};
	char *msg = NULL, *cert = NULL, *digest = NULL;
	GError *cert_error = NULL;

	if (store_back(a)) {
		mo_store_secret_free(secret);
		return;
	}
	if (a->check_unsaved && !error) {
		bool keep = secret && same_grant(a, secret);

		a->check_unsaved = false;
		mo_store_secret_free(secret);
		if (keep) {
			/* the store is as it was: the kept rotation is newer */
			save_unsaved(a);
			return;
		}
		/* login or logout changed the store: drop the rotation */
		wipe_str(&a->unsaved_secret);
		wipe_str(&a->staged_token);
		a->refreshing = false;
		acct_refresh(a);
		return;
	}
	a->check_unsaved = false;
	if (error) {
		msg = g_strdup_printf("cannot read the grant of account %s from "
				      "%s: %s", a->cfg->name,
				      mo_store_describe(a->e->store),
				      error->message);
		fail_transiently(a, msg, 0);
		goto done;
	}
	a->grant_id[0] = '\0';
	if (!secret || !mo_secret_parse(secret, &s)) {
		msg = g_strdup_printf("account %s has no stored grant: run "
				      "'mailoauth login %s'", a->cfg->name,
				      a->cfg->name);
		fail_permanently(a, MO_ERR_LOGIN_REQUIRED, msg, NULL);
		goto done;
	}
	digest = g_compute_checksum_for_string(G_CHECKSUM_SHA256, secret, -1);
	g_strlcpy(a->grant_id, digest, sizeof(a->grant_id));
	if (a->state == ST_FAILED && a->failed_digest &&
	    !strcmp(digest, a->failed_digest)) {
		/* the same grant that failed: do not bother the provider */
		a->failed_at = boot_s();
		goto done;
	}
	if (a->cfg->client_certificate &&
	    !g_file_get_contents(a->cfg->client_certificate, &cert, NULL,
				 &cert_error)) {
		msg = g_strdup_printf("account %s: cannot read client_certificate: %s",
				      a->cfg->name, cert_error->message);
		g_error_free(cert_error);
		fail_permanently(a, MO_ERR_CONFIG, msg, secret);
		goto done;
	}

	mo_oauth_client_init(&client, a->cfg);
	if (a->discovered) {
		client.token_endpoint = a->disc.token_endpoint;
		client.device_authorization_endpoint =
			a->disc.device_authorization_endpoint;
	}
	client.client_secret = s.client_secret;
	client.cert_pem = cert;
	client.key_pem = s.private_key;
	a->current_secret = g_strdup(secret);
	if (a->cfg->flow == MO_FLOW_CLIENT_CREDENTIALS) {
		a->call = mo_oauth_client_credentials(a->e->http, &client,
						      on_tokens, a);
	} else if (s.refresh_token) {
		a->call = mo_oauth_refresh(a->e->http, &client, s.refresh_token,
					   on_tokens, a);
	} else {
		msg = g_strdup_printf("account %s has no refresh token: run "
				      "'mailoauth login %s'", a->cfg->name,
				      a->cfg->name);
		fail_permanently(a, MO_ERR_LOGIN_REQUIRED, msg, secret);
		wipe_str(&a->current_secret);
	}
done:
	g_free(digest);
	g_free(msg);
	if (cert)
		g_free(cert);
	mo_secret_clear(&s);
	if (secret)
		mo_store_secret_free(secret);
	if (!a->call)
		refresh_done(a);
}

/*
 * on_discovered - the issuer's metadata arrived: keep its endpoints and go
 * on to the grant. A network failure or a 5xx backs off like a failed
 * refresh; a document that cannot be used is a config error (a request
 * or RELOAD looks again later, as for every permanent failure).
 */
static void on_discovered(const struct mo_discovery *d, const GError *error,
			  void *ud)
{
	struct acct *a = ud;

	a->disc_call = NULL;
	if (error) {
		if (error->code == MO_DISCOVERY_ERROR_TRANSIENT) {
			fail_transiently(a, error->message, 0);
			a->idp_backoff = true;
		} else
			fail_permanently(a, MO_ERR_CONFIG, error->message, NULL);
		refresh_done(a);
		return;
	}
	mo_discovery_clear(&a->disc);
	a->disc.issuer = g_strdup(d->issuer);
	a->disc.token_endpoint = g_strdup(d->token_endpoint);
	a->disc.device_authorization_endpoint =
		g_strdup(d->device_authorization_endpoint);
	a->disc.authorization_endpoint = g_strdup(d->authorization_endpoint);
	a->disc.revocation_endpoint = g_strdup(d->revocation_endpoint);
	a->discovered = true;
	g_message("account %s: issuer %s has its token endpoint at %s",
		  a->cfg->name, d->issuer, d->token_endpoint);
	a->store_ops++;
	mo_store_load(a->e->store, a->cfg->name, on_loaded, a);
}

static void acct_refresh(struct acct *a)
{
	if (a->refreshing)
		return;
	a->refreshing = true;
	a->due = 0;
	if (a->unsaved_secret) {
		save_unsaved(a);	/* an earlier rotation still to store */
		return;
	}
	if (a->cfg->needs_discovery && !a->discovered) {
		a->disc_call = mo_discovery_fetch(a->e->http, a->cfg,
						  on_discovered, a);
		return;
	}
	a->store_ops++;
	mo_store_load(a->e->store, a->cfg->name, on_loaded, a);
}

/* ---- the schedule: one CLOCK_BOOTTIME timer for all accounts ---- */

static void engine_arm(struct mo_engine *e)
{
	struct itimerspec its = {0};
	GHashTableIter it;
	gpointer v;
	gint64 next = 0;

	g_hash_table_iter_init(&it, e->accts);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct acct *a = v;

		if (a->due && !a->refreshing && (!next || a->due < next))
			next = a->due;
	}
	if (next == e->armed_for)
		return;
	e->armed_for = next;
	its.it_value.tv_sec = next;	/* 0 disarms */
	timerfd_settime(e->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static gboolean on_timer(gint fd, GIOCondition cond, gpointer ud)
{
	struct mo_engine *e = ud;
	GHashTableIter it;
	gpointer v;
	guint64 ticks;
	gint64 now = boot_s();

	(void)cond;
	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		g_warning("timer: %s", g_strerror(errno));
	e->armed_for = 0;
	g_hash_table_iter_init(&it, e->accts);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct acct *a = v;

		if (!a->due || a->due > now || a->refreshing)
			continue;
		/* an account nobody uses waits for its keepalive */
		if (a->state == ST_VALID)
			a->due = mo_sched_idle_due(a->due, a->refreshed_at,
						   a->used_at, a->failures);
		if (a->due <= now)
			acct_refresh(a);
	}
	engine_arm(e);
	return G_SOURCE_CONTINUE;
}

/* ---- accounts ---- */

static struct acct *acct_new(struct mo_engine *e,
			     const struct mo_account_config *cfg, gint64 first)
{
	struct acct *a = g_new0(struct acct, 1);

	a->e = e;
	a->cfg = cfg;
	a->waiters = g_ptr_array_new();
	a->reloaders = g_ptr_array_new();
	a->due = first;		/* an early look, to report problems early */
	return a;
}

static void acct_free(gpointer p)
{
	struct acct *a = p;

	if (a->call)
		mo_oauth_cancel(a->call);
	mo_discovery_cancel(a->disc_call);
	mo_discovery_clear(&a->disc);
	for (guint i = 0; i < a->waiters->len; i++) {
		struct waiter *w = a->waiters->pdata[i];

		mo_server_reply_error(w->p, MO_ERR_UNKNOWN_ACCOUNT,
				      "the account was removed from the configuration");
		waiter_free(w);
	}
	g_ptr_array_free(a->waiters, TRUE);
	for (guint i = 0; i < a->reloaders->len; i++)
		mo_server_reply_error(a->reloaders->pdata[i], MO_ERR_UNKNOWN_ACCOUNT,
				      "the account was removed from the configuration");
	g_ptr_array_free(a->reloaders, TRUE);
	wipe_str(&a->token);
	wipe_str(&a->staged_token);
	wipe_str(&a->unsaved_secret);
	wipe_str(&a->current_secret);
	g_free(a->message);
	g_free(a->failed_digest);
	if (a->store_ops)
		a->dead = true;	/* store_back frees it */
	else
		g_free(a);
}

/* first_refresh - spread the start-up refreshes over time */
static gint64 first_refresh(size_t n_accounts)
{
	return mo_sched_first_refresh(boot_s(), n_accounts, g_random_int());
}

struct mo_engine *mo_engine_new(struct mo_config *cfg, struct mo_store *store,
				struct mo_http *http)
{
	struct mo_engine *e = g_new0(struct mo_engine, 1);

	e->cfg = cfg;
	e->store = store;
	e->http = http;
	e->accts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, acct_free);
	for (size_t i = 0; i < cfg->n_accounts; i++)
		g_hash_table_insert(e->accts, cfg->accounts[i]->name,
				    acct_new(e, cfg->accounts[i],
					     first_refresh(cfg->n_accounts)));
	e->timerfd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	e->timer_watch = g_unix_fd_add(e->timerfd, G_IO_IN, on_timer, e);
	engine_arm(e);
	return e;
}

void mo_engine_reconfigure(struct mo_engine *e, struct mo_config *new_cfg)
{
	GHashTable *accts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
						  acct_free);

	for (size_t i = 0; i < new_cfg->n_accounts; i++) {
		const struct mo_account_config *nc = new_cfg->accounts[i];
		struct acct *a = NULL;
		gpointer key, val;

		if (g_hash_table_lookup_extended(e->accts, nc->name, &key, &val) &&
		    mo_account_config_equal(((struct acct *)val)->cfg, nc)) {
			g_hash_table_steal(e->accts, key);
			a = val;
			a->cfg = nc;	/* same settings, new memory */
		} else {
			a = acct_new(e, nc, first_refresh(new_cfg->n_accounts));
		}
		g_hash_table_insert(accts, nc->name, a);
	}
	g_hash_table_destroy(e->accts);	/* the rest were removed or changed */
	e->accts = accts;
	mo_config_free(e->cfg);
	e->cfg = new_cfg;
	e->armed_for = -1;
	engine_arm(e);
}

void mo_engine_free(struct mo_engine *e)
{
	if (!e)
		return;
	g_source_remove(e->timer_watch);
	close(e->timerfd);
	g_hash_table_destroy(e->accts);
	mo_config_free(e->cfg);
	g_free(e);
}

void mo_engine_stats(const struct mo_engine *e, struct mo_engine_stats *out)
{
	*out = e->stats;
}

/* ---- requests ---- */

static bool allowed(const struct acct *a, const struct mo_peer *peer)
{
	return mo_account_allows(a->cfg, peer->uid, peer->groups, peer->n_groups);
}

static void deny(struct mo_pending *p, const struct acct *a,
		 const struct mo_peer *peer)
{
	char *msg = g_strdup_printf("uid %u may not use account %s: add the "
				    "user or one of its groups to its allow list",
				    (unsigned)peer->uid, a->cfg->name);

	g_message("%s", msg);
	mo_server_reply_error(p, MO_ERR_DENIED, msg);
	g_free(msg);
}

/* resolve - the account a token request means, or an error answer */
static struct acct *resolve(struct mo_engine *e, struct mo_pending *p,
			    const struct mo_request *req,
			    const struct mo_peer *peer)
{
	struct acct *a = NULL;
	const struct mo_account_config *c;
	char *msg;

	if (req->verb != MO_VERB_TOKEN_USER) {
		a = g_hash_table_lookup(e->accts, req->args[0]);
		if (!a) {
			msg = g_strdup_printf("no account named %s in %s",
					      req->args[0], e->cfg->path);
			mo_server_reply_error(p, MO_ERR_UNKNOWN_ACCOUNT, msg);
			g_free(msg);
			return NULL;
		}
	} else {
		/* the SASL password names an account the caller may use */
		if (req->nargs == 2) {
			a = g_hash_table_lookup(e->accts, req->args[1]);
			if (a && !allowed(a, peer))
				a = NULL;
		}
		if (!a && (c = mo_config_find_user(e->cfg, req->args[0])))
			a = g_hash_table_lookup(e->accts, c->name);
		if (!a) {
			msg = g_strdup_printf("no account has user %s in %s",
					      req->args[0], e->cfg->path);
			mo_server_reply_error(p, MO_ERR_UNKNOWN_ACCOUNT, msg);
			g_free(msg);
			return NULL;
		}
	}
	if (!allowed(a, peer)) {
		deny(p, a, peer);
		return NULL;
	}
	return a;
}

static void request_token(struct mo_engine *e, struct mo_pending *p,
			  const struct mo_request *req,
			  const struct mo_peer *peer)
{
	struct acct *a = resolve(e, p, req, peer);
	struct waiter w = {.p = p, .verb = req->verb}, *wp;
	gint64 now = boot_s();

	if (!a)
		return;
	if (req->verb == MO_VERB_XOAUTH2 || req->verb == MO_VERB_OAUTHBEARER) {
		w.user = req->nargs > 1 ? g_strdup(req->args[1]) : NULL;
		w.host = req->nargs > 2 ? g_strdup(req->args[2]) : NULL;
		w.port = req->nargs > 3 ? (unsigned)g_ascii_strtoull(req->args[3], NULL, 10) : 0;
		if (w.port > 65535)
			w.port = 0;
	}
	if (a->state == ST_VALID && mo_sched_servable(now, a->expires_at)) {
		e->stats.served_cached++;
		serve(a, &w);
		g_free(w.user);
		g_free(w.host);
		/* in use again: no longer waiting for the idle keepalive; due
		 * (the timer is late) but never inside a back-off period */
		a->due = mo_sched_wake(a->due, a->refresh_at, a->failures);
		if (a->due && now >= a->due)
			acct_refresh(a);
		a->used_at = now;
		return;
	}
	/* no token, and the provider failed: until the back-off ends a caller
	 * is told why instead of sending it another request (every caller
	 * would, and each failure doubled the back-off); RELOAD skips it */
	if (a->state != ST_FAILED && a->idp_backoff && !a->refreshing &&
	    a->due > now) {
		mo_server_reply_error(p, a->err, a->message);
		g_free(w.user);
		g_free(w.host);
		return;
	}
	if (a->state == ST_FAILED && !mo_sched_recheck(now, a->failed_at)) {
		mo_server_reply_error(p, a->err, a->message);
		g_free(w.user);
		g_free(w.host);
		return;
	}
	wp = g_memdup2(&w, sizeof(w));
	g_ptr_array_add(a->waiters, wp);
	a->used_at = now;
	acct_refresh(a);
}

static void request_rejected(struct mo_engine *e, struct mo_pending *p,
			     const struct mo_request *req,
			     const struct mo_peer *peer)
{
	struct acct *a = resolve(e, p, req, peer);

	if (!a)
		return;
	if (a->state == ST_VALID &&
	    g_ascii_strtoll(req->args[1], NULL, 10) == a->gen) {
		g_message("account %s: a server refused token generation %lld; "
			  "getting a new one", a->cfg->name, a->gen);
		wipe_str(&a->token);
		a->state = ST_EMPTY;
		acct_refresh(a);
	}
	mo_server_reply(p, "OK\n", 3, false);
}

/* status_field - KEY=VALUE with VALUE percent-encoded (no spaces on the wire) */
static void status_field(GString *s, const char *key, const char *value)
{
	g_string_append_printf(s, " %s=", key);
	for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
		if (*c > 0x20 && *c < 0x7f && *c != '%')
			g_string_append_c(s, (char)*c);
		else
			g_string_append_printf(s, "%%%02X", *c);
	}
}

/* status_line - the STATUS answer for A, with its LF */
static GString *status_line(const struct acct *a)
{
	GString *s = g_string_new("OK");
	gint64 now = boot_s();
	static const char *const names[] = {"empty", "valid", "failed"};

	status_field(s, "account", a->cfg->name);
	status_field(s, "state", a->state == ST_FAILED ? mo_err_name(a->err)
						       : names[a->state]);
	if (a->state == ST_VALID)
		g_string_append_printf(s, " expires_in=%" G_GINT64_FORMAT,
				       a->expires_at - now);
	if (a->refreshed_at)
		g_string_append_printf(s, " refreshed_ago=%" G_GINT64_FORMAT,
				       now - a->refreshed_at);
	if (a->due)
		g_string_append_printf(s, " next_refresh_in=%" G_GINT64_FORMAT,
				       MAX(0, a->due - now));
	g_string_append_printf(s, " failures=%u gen=%lld", a->failures, a->gen);
	if (a->grant_id[0])
		g_string_append_printf(s, " grant=%s", a->grant_id);
	if (a->message)
		status_field(s, "message", a->message);
	g_string_append_c(s, '\n');
	return s;
}

static void reply_status(struct mo_pending *p, const struct acct *a)
{
	GString *s = status_line(a);

	if (s->len > MO_RESPONSE_MAX - 1)
		mo_server_reply_error(p, MO_ERR_INTERNAL, "status too long");
	else
		mo_server_reply(p, s->str, s->len, false);
	g_string_free(s, TRUE);
}

static void request_status(struct mo_engine *e, struct mo_pending *p,
			   const struct mo_request *req,
			   const struct mo_peer *peer)
{
	struct acct *a = resolve(e, p, req, peer);

	if (a)
		reply_status(p, a);
}

static void request_list(struct mo_engine *e, struct mo_pending *p,
			 const struct mo_peer *peer)
{
	GString *s = g_string_new("OK accounts=");
	bool first = true;

	for (size_t i = 0; i < e->cfg->n_accounts; i++) {
		struct acct *a = g_hash_table_lookup(e->accts, e->cfg->accounts[i]->name);

		if (!a || !allowed(a, peer) || s->len > MO_RESPONSE_MAX - 80)
			continue;
		g_string_append_printf(s, "%s%s", first ? "" : ",", a->cfg->name);
		first = false;
	}
	g_string_append_c(s, '\n');
	mo_server_reply(p, s->str, s->len, false);
	g_string_free(s, TRUE);
}

/* answer_reloaders - tell RELOAD ACCOUNT callers how the reload went */
static void answer_reloaders(struct acct *a)
{
	GPtrArray *rs = a->reloaders;

	if (!rs->len)
		return;
	a->reloaders = g_ptr_array_new();
	for (guint i = 0; i < rs->len; i++)
		reply_status(rs->pdata[i], a);
	g_ptr_array_free(rs, TRUE);
}

/*
 * acct_reload - forget everything about A's grant and refresh from the
 * store: `mailoauth login` or `logout` changed it. Not while a refresh is
 * in flight: that one finishes first (its rotated grant is stored), then
 * refresh_done comes back here.
 */
static void acct_reload(struct acct *a)
{
	if (a->refreshing) {
		a->reload_after = true;
		return;
	}
	a->reload_after = false;
	g_message("account %s: reloading its grant from %s", a->cfg->name,
		  mo_store_describe(a->e->store));
	wipe_str(&a->token);
	a->state = ST_EMPTY;
	g_clear_pointer(&a->message, g_free);
	g_clear_pointer(&a->failed_digest, g_free);
	a->failed_at = 0;
	a->failures = 0;
	a->notified_at = 0;
	mo_discovery_clear(&a->disc);	/* and the issuer's metadata */
	a->discovered = false;
	if (a->unsaved_secret) {
		/*
		 * A rotation the store refused is kept unless the store no
		 * longer holds the grant it came from (login or logout
		 * replaced it): on_loaded compares, then stores it or drops
		 * it. Dropping it blindly would lose the grant where the
		 * provider revokes a refresh token once it has rotated.
		 */
		a->refreshing = true;
		a->due = 0;
		a->check_unsaved = true;
		a->store_ops++;
		mo_store_load(a->e->store, a->cfg->name, on_loaded, a);
		return;
	}
	wipe_str(&a->staged_token);
	acct_refresh(a);
}

/*
 * request_reload - RELOAD: failed accounts look at the store again now.
 * RELOAD ACCOUNT: that account drops its token and refreshes from the
 * store; the answer (a STATUS line) comes when that refresh is done.
 */
static void request_reload(struct mo_engine *e, struct mo_pending *p,
			   const struct mo_request *req,
			   const struct mo_peer *peer)
{
	GHashTableIter it;
	gpointer v;

	if (req->nargs == 1) {
		struct acct *a = resolve(e, p, req, peer);

		if (a) {
			g_ptr_array_add(a->reloaders, p);
			acct_reload(a);
		}
		return;
	}
	g_hash_table_iter_init(&it, e->accts);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct acct *a = v;

		if (!allowed(a, peer) || a->state == ST_VALID)
			continue;
		g_clear_pointer(&a->failed_digest, g_free);
		a->failed_at = 0;
		a->failures = 0;
		acct_refresh(a);
	}
	mo_server_reply(p, "OK\n", 3, false);
}

void mo_engine_handle(struct mo_pending *p, const struct mo_request *req,
		      const struct mo_peer *peer, void *engine)
{
	struct mo_engine *e = engine;

	switch (req->verb) {
	case MO_VERB_HELLO:
		if (strcmp(req->args[0], "1") == 0)
			mo_server_reply(p, "OK proto=1 server=mailoauthd/" MO_VERSION "\n",
					strlen("OK proto=1 server=mailoauthd/" MO_VERSION "\n"),
					false);
		else
			mo_server_reply_error(p, MO_ERR_VERSION,
					      "this mailoauthd speaks protocol version 1");
		break;
	case MO_VERB_TOKEN:
	case MO_VERB_TOKEN_USER:
	case MO_VERB_XOAUTH2:
	case MO_VERB_OAUTHBEARER:
		request_token(e, p, req, peer);
		break;
	case MO_VERB_REJECTED:
		request_rejected(e, p, req, peer);
		break;
	case MO_VERB_STATUS:
		if (req->nargs == 0)
			request_list(e, p, peer);
		else
			request_status(e, p, req, peer);
		break;
	case MO_VERB_LIST:
		request_list(e, p, peer);
		break;
	case MO_VERB_RELOAD:
		request_reload(e, p, req, peer);
		break;
	default:
		mo_server_reply_error(p, MO_ERR_UNKNOWN_VERB, "unknown request");
		break;
	}
	engine_arm(e);
}
