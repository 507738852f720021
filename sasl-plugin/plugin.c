/* SPDX-License-Identifier: MIT */
/*
 * plugin.c - libmailoauth.so, a Cyrus SASL client plugin for XOAUTH2 and
 * OAUTHBEARER that gets its bearer token from mailoauthd
 *
 * SYNOPSIS
 *	Postfix:  smtp_sasl_mechanism_filter = xoauth2
 *	          sasl_passwd: [smtp.office365.com]:587 user@example.com:ACCOUNT
 *	mbsync:   AuthMechs XOAUTH2
 *
 * DESCRIPTION
 *	The first step takes the authentication name (the mailbox address)
 *	from the application's SASL_CB_AUTHNAME callback or an interaction
 *	prompt, and the password from SASL_CB_PASS when the application has
 *	that callback (Postfix always does): a password that is a valid
 *	account name selects that account, which is how a shared mailbox
 *	borrows another account's token. It then asks mailoauthd (or its
 *	per-process cache) for the token and answers with the initial client
 *	response, returning SASL_CONTINUE.
 *
 *	A second step with no data means the server accepted: SASL_OK. A
 *	second step with data is the server's error challenge (JSON): the
 *	plugin logs what it says, forgets the token, tells mailoauthd it was
 *	rejected, and answers the way the mechanism requires (empty for
 *	XOAUTH2, a single \x01 for OAUTHBEARER) so that the server's final
 *	reply reaches the application and its log.
 *
 * SECURITY
 *	Runs inside other people's processes, often a chrooted, unprivileged
 *	smtp(8): links only libc, exports only sasl_client_plug_init, holds
 *	no descriptor, thread or socket between calls. The token is wiped
 *	from every buffer in dispose. Nothing here logs a token or password.
 *
 * DIAGNOSTICS
 *	utils->seterror understands only %s, %d, %c, %m and %z: nothing else.
 *	Every failure to get a token is one sentence set with seterror (it
 *	lands in the application's log) and SASL_UNAVAIL, so an MTA defers
 *	the mail instead of bouncing it. A broken plugin config never fails
 *	sasl_client_plug_init; it is reported at the first authentication.
 */
#define _GNU_SOURCE
#include "client.h"
#include "plugin_config.h"
#include "proto.h"
#include "saslmsg.h"
#include "token_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#define EXPORT __attribute__((visibility("default")))

#define MIN3(a, b, c) ((a) < (b) ? ((a) < (c) ? (a) : (c)) : ((b) < (c) ? (b) : (c)))
#define CACHE_MAX_S 300	/* see fetch_token */

/* the longest client message: token plus user, host and framing */
#define OUT_MAX (MO_TOKEN_MAX + 2 * MO_ARG_MAX + 512)

enum state {
	STATE_START,		/* nothing sent yet */
	STATE_SENT,		/* initial response sent */
	STATE_REFUSED,		/* error challenge answered */
	STATE_DONE,
};

struct mech_ctx {
	bool oauthbearer;
	enum state state;
	char account[MO_ACCOUNT_MAX + 1];
	long long gen;
	char *out;		/* the client message; wiped in dispose */
	unsigned out_len;
};

static struct mo_plugin_config config;

/*
 * libsasl2 offers a mechanism only to programs that can supply these. It
 * has a default AUTHNAME callback ($USER), so in practice every program
 * can: one without a mailbox name gets a clean unknown-account failure.
 */
static const unsigned long required_prompts[] = {
	SASL_CB_AUTHNAME,	/* the password is optional: no SASL_CB_PASS */
	SASL_CB_LIST_END,
};

/* ---- credentials: callbacks (Postfix) or interaction prompts (mbsync) ---- */

static sasl_interact_t *find_prompt(sasl_interact_t **need, unsigned long id)
{
	if (!need || !*need)
		return NULL;
	for (sasl_interact_t *p = *need; p->id != SASL_CB_LIST_END; p++)
		if (p->id == id)
			return p;
	return NULL;
}

/*
 * get_authname - the mailbox address; SASL_INTERACT means "prompt for it"
 */
static int get_authname(const sasl_utils_t *utils, sasl_interact_t **need,
			const char **authname)
{
	sasl_interact_t *prompt = find_prompt(need, SASL_CB_AUTHNAME);
	sasl_getsimple_t *cb = NULL;
	void *cb_ctx = NULL;
	int r;

	*authname = NULL;
	if (prompt) {
		*authname = prompt->result;
		return *authname ? SASL_OK : SASL_BADPARAM;
	}
	r = utils->getcallback(utils->conn, SASL_CB_AUTHNAME,
			       (sasl_callback_ft *)&cb, &cb_ctx);
	if (r == SASL_OK && cb) {
		r = cb(cb_ctx, SASL_CB_AUTHNAME, authname, NULL);
		if (r == SASL_OK && !*authname)
			r = SASL_BADPARAM;
	}
	return r;
}

/*
 * get_password - the password, only from a callback; never prompted for,
 * since it is optional and mbsync would ask the user on its terminal
 */
static const char *get_password(const sasl_utils_t *utils, char *buf,
				size_t size)
{
	sasl_getsecret_t *cb = NULL;
	void *cb_ctx = NULL;
	sasl_secret_t *secret = NULL;

	buf[0] = '\0';
	if (utils->getcallback(utils->conn, SASL_CB_PASS,
			       (sasl_callback_ft *)&cb, &cb_ctx) != SASL_OK ||
	    !cb || cb(utils->conn, cb_ctx, SASL_CB_PASS, &secret) != SASL_OK ||
	    !secret || secret->len >= size)
		return NULL;
	memcpy(buf, secret->data, secret->len);
	buf[secret->len] = '\0';
	return buf;
}

static int ask_for_authname(const sasl_utils_t *utils, sasl_interact_t **need)
{
	sasl_interact_t *p;

	if (!need) {
		/* registered AUTHNAME without a callback, yet no prompts */
		utils->seterror(utils->conn, 0,
				"mailoauth: the program supplies no "
				"authentication name (mailbox address)");
		return SASL_BADPARAM;
	}
	p = utils->malloc(2 * sizeof(*p));
	if (!p)
		return SASL_NOMEM;
	memset(p, 0, 2 * sizeof(*p));
	p[0].id = SASL_CB_AUTHNAME;
	p[0].challenge = "Authentication name";
	p[0].prompt = "Please enter the mailbox address";
	p[1].id = SASL_CB_LIST_END;
	*need = p;
	return SASL_INTERACT;
}

/* ---- the token, from the process cache or from mailoauthd ---- */

/*
 * fetch_token - ask mailoauthd; on success fill OUT and return SASL_OK,
 * else set the error and return SASL_UNAVAIL
 */
static int fetch_token(const sasl_utils_t *utils, const char *user,
		       const char *hint, struct mo_cached *out)
{
	const char *args[2] = {user, hint};
	char req[MO_REQUEST_MAX], path[256];
	char *resp = NULL;
	struct mo_response r;
	int n, result = SASL_UNAVAIL;

	n = mo_request_format(req, sizeof(req), MO_VERB_TOKEN_USER, args,
			      hint ? 2 : 1);
	if (n < 0) {
		utils->seterror(utils->conn, 0,
				"mailoauth: the authentication name is not a "
				"valid mailbox address");
		return SASL_BADPARAM;
	}
	resp = malloc(MO_RESPONSE_MAX + 1);
	if (!resp) {
		explicit_bzero(req, sizeof(req));
		return SASL_NOMEM;
	}
	n = mo_client_call(config.sockets, req, (size_t)n, resp,
			   MO_RESPONSE_MAX + 1, config.timeout_ms, path,
			   sizeof(path));
	explicit_bzero(req, sizeof(req));	/* the hint may be a password */
	if (n < 0) {
		utils->seterror(utils->conn, 0,
				"mailoauth: cannot get a token for %s from "
				"mailoauthd at %s: %s (%s)%s%s%s",
				user, path[0] ? path : "(no socket configured)",
				mo_client_strerror(n), strerror(-n),
				strchr(config.sockets, ' ') ? "; sockets tried: " : "",
				strchr(config.sockets, ' ') ? config.sockets : "",
				strchr(config.sockets, ' ') ? "" : "");
		goto out;
	}
	if (mo_response_parse(resp, (size_t)n, &r) < 0) {
		utils->seterror(utils->conn, 0,
				"mailoauth: mailoauthd at %s sent a malformed "
				"answer for %s", path, user);
		goto out;
	}
	if (!r.ok) {
		utils->seterror(utils->conn, 0,
				"mailoauth: no token for %s: %s (%s)", user,
				r.text, mo_err_name(r.err));
		goto out;
	}
	if (!r.token || !r.account || !mo_account_name_valid(r.account) ||
	    r.gen < 0 || r.expires_in <= 0) {
		utils->seterror(utils->conn, 0,
				"mailoauth: mailoauthd at %s sent an answer "
				"without a usable token for %s", path, user);
		goto out;
	}
	out->token = malloc(r.token_len + 1);
	if (!out->token) {
		result = SASL_NOMEM;
		goto out;
	}
	memcpy(out->token, r.token, r.token_len + 1);
	out->token_len = r.token_len;
	out->gen = r.gen;
	snprintf(out->account, sizeof(out->account), "%s", r.account);
	/*
	 * Not every server says when it refuses a token (Office 365 answers
	 * 535 5.7.3 without a challenge), so the cache never outlives
	 * CACHE_MAX_S: a refused token is dropped soon even then.
	 */
	if (config.cache && r.cache_for > 0)
		mo_cache_put(user, hint, out->account, out->gen, out->token,
			     out->token_len,
			     MIN3(r.cache_for, r.expires_in, CACHE_MAX_S));
	result = SASL_OK;
out:
	/* mo_client_call writes at most the answer line and its NUL */
	explicit_bzero(resp, n > 0 ? (size_t)n + 1 : MO_RESPONSE_MAX + 1);
	free(resp);
	return result;
}

/* report_rejected - best effort: mailoauthd drops that token and refreshes */
static void report_rejected(const char *account, long long gen)
{
	char req[MO_REQUEST_MAX], resp[256], num[24];
	const char *args[2] = {account, num};
	int n;

	snprintf(num, sizeof(num), "%lld", gen < 0 ? 0 : gen);
	n = mo_request_format(req, sizeof(req), MO_VERB_REJECTED, args, 2);
	if (n > 0)
		(void)mo_client_call(config.sockets, req, (size_t)n, resp,
				     sizeof(resp), MIN3(config.timeout_ms, 2000, 2000),
				     NULL, 0);
}

/* remote_port - the server's port from SASL_IPREMOTEPORT ("a.b.c.d;587") */
static unsigned remote_port(const sasl_utils_t *utils)
{
	const char *ipport = NULL, *semi;
	unsigned long port;
	char *end;

	if (utils->getprop(utils->conn, SASL_IPREMOTEPORT,
			   (const void **)&ipport) != SASL_OK || !ipport)
		return 0;
	semi = strrchr(ipport, ';');
	if (!semi)
		return 0;
	port = strtoul(semi + 1, &end, 10);
	return (*end || port > 65535) ? 0 : (unsigned)port;
}

/* ---- the mechanism ---- */

static int mech_new(void *glob, sasl_client_params_t *params, void **conn_ctx)
{
	struct mech_ctx *ctx = params->utils->malloc(sizeof(*ctx));

	if (!ctx) {
		params->utils->seterror(params->utils->conn, 0,
					"mailoauth: out of memory");
		return SASL_NOMEM;
	}
	memset(ctx, 0, sizeof(*ctx));
	ctx->oauthbearer = glob != NULL;	/* see the plug table */
	*conn_ctx = ctx;
	return SASL_OK;
}

static int first_step(struct mech_ctx *ctx, sasl_client_params_t *params,
		      sasl_interact_t **need, const char **clientout,
		      unsigned *clientoutlen, sasl_out_params_t *oparams)
{
	const sasl_utils_t *utils = params->utils;
	const char *authname, *hint;
	char pass[MO_ACCOUNT_MAX + 2];
	struct mo_cached tok = {0};
	int r, n;

	r = get_authname(utils, need, &authname);
	if (need && *need) {
		utils->free(*need);
		*need = NULL;
	}
	if (r == SASL_INTERACT)
		return ask_for_authname(utils, need);
	if (r != SASL_OK)
		return r;
	if (config.error[0]) {
		utils->seterror(utils->conn, 0,
				"mailoauth: plugin configuration: %s",
				config.error);
		return SASL_UNAVAIL;
	}
	if (!mo_arg_valid(authname)) {
		utils->seterror(utils->conn, 0,
				"mailoauth: the authentication name must be a "
				"mailbox address without spaces");
		return SASL_BADPARAM;
	}
	hint = get_password(utils, pass, sizeof(pass));
	if (hint && !mo_account_name_valid(hint))
		hint = NULL;	/* a real password, or none: select by user */

	if (!(config.cache && mo_cache_get(authname, hint, &tok))) {
		r = fetch_token(utils, authname, hint, &tok);
		if (r != SASL_OK)
			goto out;
	}

	r = params->canon_user(utils->conn, authname, 0,
			       SASL_CU_AUTHID | SASL_CU_AUTHZID, oparams);
	if (r != SASL_OK)
		goto out;

	ctx->out = utils->malloc(OUT_MAX);
	if (!ctx->out) {
		r = SASL_NOMEM;
		goto out;
	}
	if (ctx->oauthbearer)
		n = mo_oauthbearer_format(ctx->out, OUT_MAX, authname,
					  params->serverFQDN, remote_port(utils),
					  tok.token);
	else
		n = mo_xoauth2_format(ctx->out, OUT_MAX, authname, tok.token);
	if (n < 0) {
		utils->seterror(utils->conn, 0,
				"mailoauth: cannot build the %s message for %s",
				ctx->oauthbearer ? "OAUTHBEARER" : "XOAUTH2",
				authname);
		r = SASL_BADPARAM;
		goto out;
	}
	snprintf(ctx->account, sizeof(ctx->account), "%s", tok.account);
	ctx->gen = tok.gen;
	ctx->out_len = (unsigned)n;
	*clientout = ctx->out;
	*clientoutlen = ctx->out_len;
	ctx->state = STATE_SENT;
	r = SASL_CONTINUE;
out:
	explicit_bzero(pass, sizeof(pass));
	mo_cached_wipe(&tok);
	return r;
}

/*
 * refused_step - the server's error challenge: log it, drop the token,
 * and give the answer that lets the server finish with its final reply
 */
static int refused_step(struct mech_ctx *ctx, sasl_client_params_t *params,
			const char *in, unsigned inlen,
			const char **clientout, unsigned *clientoutlen)
{
	const sasl_utils_t *utils = params->utils;
	struct mo_challenge ch;

	mo_cache_drop_account(ctx->account);
	report_rejected(ctx->account, ctx->gen);
	if (mo_challenge_parse(in, inlen, &ch) == 0)
		utils->seterror(utils->conn, 0,
				"mailoauth: %s refused the token of account "
				"%s: %s (status=%s scope=%s)",
				ctx->oauthbearer ? "OAUTHBEARER" : "XOAUTH2",
				ctx->account, mo_challenge_explain(&ch),
				ch.status[0] ? ch.status : "-",
				ch.scope[0] ? ch.scope : "-");
	else
		utils->seterror(utils->conn, 0,
				"mailoauth: %s refused the token of account "
				"%s with an unreadable challenge of %d bytes",
				ctx->oauthbearer ? "OAUTHBEARER" : "XOAUTH2",
				ctx->account, (int)inlen);

	/* XOAUTH2 wants an empty response, RFC 7628 a single %x01 */
	explicit_bzero(ctx->out, ctx->out_len);
	ctx->out_len = ctx->oauthbearer ? 1 : 0;
	ctx->out[0] = '\001';
	*clientout = ctx->out;
	*clientoutlen = ctx->out_len;
	ctx->state = STATE_REFUSED;
	return SASL_CONTINUE;
}

static int mech_step(void *conn_ctx, sasl_client_params_t *params,
		     const char *serverin, unsigned serverinlen,
		     sasl_interact_t **need, const char **clientout,
		     unsigned *clientoutlen, sasl_out_params_t *oparams)
{
	struct mech_ctx *ctx = conn_ctx;
	const sasl_utils_t *utils = params->utils;

	*clientout = NULL;
	*clientoutlen = 0;
	switch (ctx->state) {
	case STATE_START:
		return first_step(ctx, params, need, clientout, clientoutlen,
				  oparams);
	case STATE_SENT:
		if (serverinlen == 0) {
			/* the server accepted; nothing more to say */
			explicit_bzero(ctx->out, ctx->out_len);
			oparams->doneflag = 1;
			oparams->mech_ssf = 0;
			ctx->state = STATE_DONE;
			return SASL_OK;
		}
		if (serverinlen > MO_CHALLENGE_MAX) {
			/* still a refusal: forget the token first */
			mo_cache_drop_account(ctx->account);
			report_rejected(ctx->account, ctx->gen);
			utils->seterror(utils->conn, 0,
					"mailoauth: server challenge of %d "
					"bytes is too large", (int)serverinlen);
			return SASL_BADPROT;
		}
		return refused_step(ctx, params, serverin, serverinlen,
				    clientout, clientoutlen);
	case STATE_REFUSED:
		utils->seterror(utils->conn, 0,
				"mailoauth: the server refused the token of "
				"account %s", ctx->account);
		return SASL_BADAUTH;
	default:
		utils->seterror(utils->conn, 0,
				"mailoauth: step called after the end");
		return SASL_BADPROT;
	}
}

static void mech_dispose(void *conn_ctx, const sasl_utils_t *utils)
{
	struct mech_ctx *ctx = conn_ctx;

	if (!ctx)
		return;
	if (ctx->out) {
		explicit_bzero(ctx->out, OUT_MAX);
		utils->free(ctx->out);
	}
	explicit_bzero(ctx, sizeof(*ctx));
	utils->free(ctx);
}

static void mech_free(void *glob, const sasl_utils_t *utils)
{
	(void)glob;
	(void)utils;
	mo_cache_clear();
}

/*
 * Both mechanisms share the code; glob_context tells them apart (NULL for
 * XOAUTH2, non-NULL for OAUTHBEARER).
 */
static sasl_client_plug_t plugs[] = {
	{
		"XOAUTH2",			/* mech_name */
		0,				/* max_ssf: no security layer */
		SASL_SEC_NOANONYMOUS |		/* security_flags: see */
		SASL_SEC_NOPLAINTEXT,		/* docs/plugin.md */
		SASL_FEAT_WANT_CLIENT_FIRST,	/* features */
		required_prompts,		/* required_prompts */
		NULL,				/* glob_context */
		mech_new,			/* mech_new */
		mech_step,			/* mech_step */
		mech_dispose,			/* mech_dispose */
		mech_free,			/* mech_free */
		NULL,				/* idle */
		NULL,				/* spare_fptr1 */
		NULL,				/* spare_fptr2 */
	},
	{
		"OAUTHBEARER",
		0,
		SASL_SEC_NOANONYMOUS | SASL_SEC_NOPLAINTEXT,
		SASL_FEAT_WANT_CLIENT_FIRST,
		required_prompts,
		(void *)"oauthbearer",
		mech_new,
		mech_step,
		mech_dispose,
		mech_free,
		NULL,
		NULL,
		NULL,
	},
};

EXPORT int sasl_client_plug_init(const sasl_utils_t *utils, int maxversion,
				 int *out_version, sasl_client_plug_t **pluglist,
				 int *plugcount);

int sasl_client_plug_init(const sasl_utils_t *utils, int maxversion,
			  int *out_version, sasl_client_plug_t **pluglist,
			  int *plugcount)
{
	if (maxversion < SASL_CLIENT_PLUG_VERSION) {
		/* no connection here for seterror: log instead */
		utils->log(NULL, SASL_LOG_ERR,
			   "mailoauth: libsasl2 client plugin version %d is "
			   "too old", maxversion);
		return SASL_BADVERS;
	}
	/* never fails for configuration: problems wait for first use */
	mo_plugin_config_load(&config);
	*out_version = SASL_CLIENT_PLUG_VERSION;
	*pluglist = plugs;
	*plugcount = (int)(sizeof(plugs) / sizeof(plugs[0]));
	return SASL_OK;
}
