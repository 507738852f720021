/* SPDX-License-Identifier: MIT */
/*
 * oauth.c - token endpoint grants, device authorization, answer parsing,
 * failure classification and JWT client assertions (see oauth.h)
 *
 * SECURITY
 *	Answers are untrusted input: size and nesting are checked before
 *	jansson sees them, jansson allocates through wipe_malloc/wipe_free
 *	while we parse (so its copies of tokens are wiped when freed), and
 *	every string kept in an error is reduced to printable ASCII and
 *	scrubbed of token-like runs and of the secrets the call sent.
 *	Private keys are read with OpenSSL, which clears them when freed.
 *
 * DIAGNOSTICS
 *	Nothing here logs; see oauth.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* explicit_bzero */
#endif
#include "oauth.h"
#include "saslmsg.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#define DESC_MAX	200	/* error_description: first sentence, cut */
#define ERROR_MAX	64	/* the OAuth error string */
#define ID_MAX		39	/* trace_id, correlation_id (GUIDs: 36) */
#define RUN_MAX		40	/* longer runs of token characters: redacted */
#define SCOPE_MAX	4096
#define DEVICE_CODE_MAX	4096
#define USER_CODE_MAX	64
#define URI_MAX		2048
#define MESSAGE_MAX	1024
#define REDACTED	"[redacted]"

GQuark mo_oauth_error_quark(void)
{
	return g_quark_from_static_string("mo-oauth-error-quark");
}

static void wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

void mo_oauth_secret_free(char *s)
{
	mo_http_wipe_free(s);
}

/* ------------------------------------------------------------ jansson */

/*
 * While we parse, jansson allocates through these: a size header lets the
 * free function wipe every block (token strings, the lexer's buffers).
 * The previous functions are restored afterwards, so other users of
 * jansson in the process are unaffected (the daemon is single-threaded).
 */
#define HDR 16

static void *wipe_malloc(size_t n)
{
	unsigned char *p;

	if (n > SIZE_MAX - HDR)
		return NULL;
	p = malloc(n + HDR);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + HDR;
}

static void wipe_free(void *ptr)
{
	unsigned char *p;
	size_t n;

	if (!ptr)
		return;
	p = (unsigned char *)ptr - HDR;
	memcpy(&n, p, sizeof(n));
	explicit_bzero(p, n + HDR);
	free(p);
}

struct json_scope {
	json_malloc_t m;
	json_free_t f;
};

static void json_scope_enter(struct json_scope *s)
{
	json_get_alloc_funcs(&s->m, &s->f);
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}

static void json_scope_leave(struct json_scope *s)
{
	json_set_alloc_funcs(s->m ? s->m : malloc, s->f ? s->f : free);
}

/* json_depth_ok - nesting of BODY stays within MAX (strings skipped) */
static bool json_depth_ok(const char *body, size_t len, int max)
{
	int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = body[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				return false;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return true;
}

/* ------------------------------------------------------------ strings */

static bool is_tokchar(char c)
{
	return g_ascii_isalnum(c) || (c && strchr("-._~+=", c));
}

/* looks_like_guid - 8-4-4-4-12 hex digits, exactly */
static bool looks_like_guid(const char *s, size_t n)
{
	if (n != 36)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!g_ascii_isxdigit(s[i])) {
			return false;
		}
	}
	return true;
}

/*
 * scrub - a printable-ASCII copy of S (at most MAX bytes of it): white
 * space and control characters become one space (dropping them could join
 * two runs into one), bytes outside ASCII become '?', and runs of RUN_MAX
 * or more token characters are replaced by [redacted]. NULL if nothing is
 * left.
 */
static char *scrub(const char *s, size_t n, size_t max)
{
	GString *o;
	size_t i = 0;

	if (!s)
		return NULL;
	o = g_string_sized_new(n < max ? n + 1 : max + 1);
	while (i < n && o->len < max) {
		unsigned char c = (unsigned char)s[i];
		size_t j = i;

		if (is_tokchar((char)c)) {
			while (j < n && is_tokchar(s[j]))
				j++;
			if (j - i >= RUN_MAX && !looks_like_guid(s + i, j - i))
				g_string_append(o, REDACTED);
			else
				g_string_append_len(o, s + i, (gssize)(j - i));
			i = j;
			continue;
		}
		if (c > 0x20 && c < 0x7f)
			g_string_append_c(o, (char)c);
		else if (c >= 0x80)
			g_string_append_c(o, '?');
		else if (o->len && o->str[o->len - 1] != ' ')
			g_string_append_c(o, ' ');	/* space, CR, LF, TAB.. */
		i++;
	}
	if (o->len > max)
		g_string_truncate(o, max);
	while (o->len && o->str[o->len - 1] == ' ')
		g_string_truncate(o, o->len - 1);
	if (!o->len) {
		g_string_free(o, TRUE);
		return NULL;
	}
	return g_string_free(o, FALSE);
}

/* first_sentence - error_description up to CR/LF or " Trace ID", scrubbed */
static char *first_sentence(const char *d)
{
	size_t n = strcspn(d, "\r\n");
	const char *t = strstr(d, "Trace ID");

	if (t && (size_t)(t - d) < n)
		n = (size_t)(t - d);
	return scrub(d, n, DESC_MAX);
}

/* id_copy - a trace or correlation ID: [0-9A-Za-z-], at most ID_MAX */
static char *id_copy(const char *s)
{
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	if (n == 0 || n > ID_MAX)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isalnum(s[i]) && s[i] != '-')
			return NULL;
	return g_strdup(s);
}

/* printable - 1..MAX bytes, all in [0x21, 0x7e] (SPACE_OK: 0x20 too) */
static bool printable(const char *s, size_t max, bool space_ok)
{
	size_t n = 0;

	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];

		if (n >= max || c > 0x7e || c < 0x20 || (c == ' ' && !space_ok))
			return false;
	}
	return n > 0;
}

/* ------------------------------------------------------------ classes */

static const char *const class_names[MO_OAUTH_CLASS_COUNT_] = {
	[MO_OAUTH_OK] = "ok",
	[MO_OAUTH_TRANSIENT] = "transient",
	[MO_OAUTH_LOGIN_REQUIRED] = "login-required",
	[MO_OAUTH_ADMIN_REQUIRED] = "admin-required",
	[MO_OAUTH_CONFIG] = "config",
	[MO_OAUTH_DEVICE_PENDING] = "authorization-pending",
	[MO_OAUTH_DEVICE_SLOW_DOWN] = "slow-down",
	[MO_OAUTH_DEVICE_DECLINED] = "declined",
	[MO_OAUTH_DEVICE_EXPIRED] = "expired",
	[MO_OAUTH_DEVICE_BAD_CODE] = "bad-code",
};

void mo_oauth_client_init(struct mo_oauth_client *out,
			  const struct mo_account_config *a)
{
	memset(out, 0, sizeof(*out));
	out->account = a->name;
	out->client_id = a->client_id;
	out->token_endpoint = a->token_endpoint;
	out->device_authorization_endpoint = a->device_authorization_endpoint;
	out->scopes = a->scopes;
	out->ca_file = a->ca_file;
}

const char *mo_oauth_class_name(enum mo_oauth_class cls)
{
	return (unsigned)cls < MO_OAUTH_CLASS_COUNT_ ? class_names[cls] : "?";
}

enum mo_err mo_oauth_class_err(enum mo_oauth_class cls)
{
	switch (cls) {
	case MO_OAUTH_TRANSIENT:
		return MO_ERR_UNAVAILABLE;
	case MO_OAUTH_ADMIN_REQUIRED:
		return MO_ERR_ADMIN_REQUIRED;
	case MO_OAUTH_CONFIG:
		return MO_ERR_CONFIG;
	case MO_OAUTH_LOGIN_REQUIRED:
	case MO_OAUTH_DEVICE_PENDING:
	case MO_OAUTH_DEVICE_SLOW_DOWN:
	case MO_OAUTH_DEVICE_DECLINED:
	case MO_OAUTH_DEVICE_EXPIRED:
	case MO_OAUTH_DEVICE_BAD_CODE:
		return MO_ERR_LOGIN_REQUIRED;
	default:
		return MO_ERR_INTERNAL;
	}
}

/*
 * Sentences. WHAT names the problem, WHY (optional) goes into the
 * parenthesis after the code, TODO says what to do; "{a}" is the account.
 */
#define T_LOGIN "run 'mailoauth login {a}'"
#define T_AGAIN "this is temporary: retrying later should work"
#define T_ADMIN "an administrator of the tenant must "

struct rule {
	long code;
	enum mo_oauth_class cls;
	const char *what;
	const char *why;
	const char *todo;
};

/* Entra ID (AADSTS) codes, classified before the "error" string. */
static const struct rule code_rules[] = {
	/* temporary */
	{50196, MO_OAUTH_TRANSIENT, "Microsoft is throttling this client",
	 "request loop detected", "wait and retry less often"},
	{90033, MO_OAUTH_TRANSIENT,
	 "Microsoft's directory service is temporarily unavailable", NULL,
	 T_AGAIN},
	{90006, MO_OAUTH_TRANSIENT, "Microsoft reported a retryable error",
	 NULL, T_AGAIN},
	{50000, MO_OAUTH_TRANSIENT,
	 "Microsoft's sign-in service had an internal error", NULL, T_AGAIN},
	{50087, MO_OAUTH_TRANSIENT,
	 "Microsoft's strong-authentication service failed", NULL, T_AGAIN},
	{80001, MO_OAUTH_TRANSIENT,
	 "the tenant's on-premises authentication agent is unreachable", NULL,
	 T_AGAIN},
	{80002, MO_OAUTH_TRANSIENT,
	 "the tenant's on-premises authentication agent timed out", NULL,
	 T_AGAIN},
	{80005, MO_OAUTH_TRANSIENT,
	 "the tenant's on-premises authentication agent failed", NULL,
	 T_AGAIN},
	{80007, MO_OAUTH_TRANSIENT,
	 "the tenant's on-premises authentication agent could not validate "
	 "the password", NULL, T_AGAIN},

	/* the grant is gone: sign in again */
	{70000, MO_OAUTH_LOGIN_REQUIRED,
	 "Microsoft says the grant is invalid, expired or revoked", NULL,
	 T_LOGIN},
	{70008, MO_OAUTH_LOGIN_REQUIRED,
	 "Microsoft says the refresh token or code has expired or was revoked",
	 NULL, T_LOGIN},
	{700081, MO_OAUTH_LOGIN_REQUIRED,
	 "the refresh token reached its maximum lifetime", NULL, T_LOGIN},
	{700082, MO_OAUTH_LOGIN_REQUIRED,
	 "the refresh token expired because it was not used for too long",
	 "90 days of inactivity", T_LOGIN},
	{700084, MO_OAUTH_LOGIN_REQUIRED,
	 "the refresh token (issued to a single-page app) has expired", NULL,
	 T_LOGIN},
	{50173, MO_OAUTH_LOGIN_REQUIRED,
	 "Microsoft says the refresh token was revoked",
	 "the password was changed or sessions were revoked", T_LOGIN},
	{50132, MO_OAUTH_LOGIN_REQUIRED,
	 "the session ended because the password expired or was changed",
	 NULL, T_LOGIN},
	{50133, MO_OAUTH_LOGIN_REQUIRED,
	 "the session ended because the password was changed", NULL, T_LOGIN},
	{70043, MO_OAUTH_LOGIN_REQUIRED,
	 "the refresh token expired under a sign-in frequency policy", NULL,
	 T_LOGIN},
	{70044, MO_OAUTH_LOGIN_REQUIRED,
	 "the session expired under a sign-in frequency policy", NULL,
	 T_LOGIN},
	{50078, MO_OAUTH_LOGIN_REQUIRED,
	 "the multi-factor authentication has expired", NULL,
	 T_LOGIN " and complete it in the browser"},
	{50076, MO_OAUTH_LOGIN_REQUIRED,
	 "Microsoft requires multi-factor authentication", NULL,
	 T_LOGIN " and complete it in the browser"},
	{50074, MO_OAUTH_LOGIN_REQUIRED,
	 "Microsoft requires strong authentication", NULL,
	 T_LOGIN " and complete it in the browser"},
	{50079, MO_OAUTH_LOGIN_REQUIRED,
	 "the user must register for multi-factor authentication", NULL,
	 "register at https://aka.ms/mfasetup, then run 'mailoauth login {a}'"},
	{50072, MO_OAUTH_LOGIN_REQUIRED,
	 "the user must register a second factor", NULL,
	 "register at https://aka.ms/mfasetup, then run 'mailoauth login {a}'"},
	{50158, MO_OAUTH_LOGIN_REQUIRED,
	 "an external security challenge was not satisfied", NULL,
	 T_LOGIN " and complete it in the browser"},
	{50055, MO_OAUTH_LOGIN_REQUIRED, "the user's password has expired",
	 NULL, "change it, then run 'mailoauth login {a}'"},
	{50144, MO_OAUTH_LOGIN_REQUIRED,
	 "the user's Active Directory password has expired", NULL,
	 "change it, then run 'mailoauth login {a}'"},
	{50125, MO_OAUTH_LOGIN_REQUIRED,
	 "the sign-in was interrupted by a password reset", NULL, T_LOGIN},
	{50126, MO_OAUTH_LOGIN_REQUIRED, "the user name or password is wrong",
	 NULL, T_LOGIN},
	{50056, MO_OAUTH_LOGIN_REQUIRED, "the password is missing or invalid",
	 NULL, T_LOGIN},
	{50089, MO_OAUTH_LOGIN_REQUIRED, "the sign-in flow expired", NULL,
	 T_LOGIN},
	{54005, MO_OAUTH_LOGIN_REQUIRED,
	 "the authorization code was already redeemed", NULL, T_LOGIN},
	{50148, MO_OAUTH_LOGIN_REQUIRED,
	 "the PKCE code verifier is missing or does not match", NULL,
	 T_LOGIN " again"},
	{501481, MO_OAUTH_LOGIN_REQUIRED,
	 "the PKCE code verifier does not match", NULL, T_LOGIN " again"},

	/* someone with rights in the tenant must act */
	{65001, MO_OAUTH_ADMIN_REQUIRED,
	 "the app has no consent for the requested permissions", NULL,
	 T_ADMIN "grant consent for the account's scopes (or the user "
	 "accepts them during 'mailoauth login {a}')"},
	{65004, MO_OAUTH_ADMIN_REQUIRED,
	 "consent to the app's permissions was declined", NULL,
	 "accept the permissions during 'mailoauth login {a}', or have an "
	 "administrator grant consent"},
	{90094, MO_OAUTH_ADMIN_REQUIRED,
	 "the requested permissions need administrator consent", NULL,
	 T_ADMIN "grant consent for the app"},
	{90095, MO_OAUTH_ADMIN_REQUIRED,
	 "the requested permissions need administrator consent", NULL,
	 T_ADMIN "grant consent for the app"},
	{50105, MO_OAUTH_ADMIN_REQUIRED,
	 "the user is not assigned to the application", NULL,
	 T_ADMIN "assign the user to the app (Enterprise applications, "
	 "Users and groups)"},
	{50057, MO_OAUTH_ADMIN_REQUIRED, "the user account is disabled", NULL,
	 T_ADMIN "enable it"},
	{50053, MO_OAUTH_ADMIN_REQUIRED,
	 "the account is locked or its sign-in was blocked", NULL,
	 "wait for the lock-out to end, or ask an administrator"},
	{50020, MO_OAUTH_ADMIN_REQUIRED,
	 "the user is not a member or guest of this tenant", NULL,
	 T_ADMIN "invite the user, or sign in with an account of the tenant"},
	{53000, MO_OAUTH_ADMIN_REQUIRED,
	 "Conditional Access requires a compliant device", NULL,
	 T_ADMIN "exclude this app or host from the policy"},
	{53001, MO_OAUTH_ADMIN_REQUIRED,
	 "Conditional Access requires a domain-joined device", NULL,
	 T_ADMIN "exclude this app or host from the policy"},
	{53002, MO_OAUTH_ADMIN_REQUIRED,
	 "Conditional Access requires an approved client app", NULL,
	 T_ADMIN "exclude this app from the policy"},
	{53003, MO_OAUTH_ADMIN_REQUIRED,
	 "Conditional Access blocked the sign-in", NULL,
	 T_ADMIN "allow this app, user or location in the policy"},
	{53004, MO_OAUTH_ADMIN_REQUIRED,
	 "the sign-in was blocked because of user risk", NULL,
	 T_ADMIN "review the user's risk"},
	{530003, MO_OAUTH_ADMIN_REQUIRED,
	 "Conditional Access requires a managed device", NULL,
	 T_ADMIN "exclude this app or host from the policy"},
	{530032, MO_OAUTH_ADMIN_REQUIRED,
	 "a security policy blocked the sign-in", NULL,
	 T_ADMIN "allow it"},
	{530035, MO_OAUTH_ADMIN_REQUIRED,
	 "security defaults blocked the sign-in", NULL, T_ADMIN "allow it"},
	{50131, MO_OAUTH_ADMIN_REQUIRED,
	 "a Conditional Access policy failed", NULL,
	 T_ADMIN "check the sign-in log"},
	{50097, MO_OAUTH_ADMIN_REQUIRED,
	 "device authentication is required", NULL,
	 T_ADMIN "exclude this app or host from the policy"},
	{50155, MO_OAUTH_ADMIN_REQUIRED, "device authentication failed", NULL,
	 T_ADMIN "check the device's registration"},
	{500011, MO_OAUTH_ADMIN_REQUIRED,
	 "the resource's service principal is missing in the tenant", NULL,
	 T_ADMIN "add it (e.g. consent for Exchange Online)"},
	{500014, MO_OAUTH_ADMIN_REQUIRED,
	 "the resource's service principal is disabled", NULL,
	 T_ADMIN "enable it"},
	{7000112, MO_OAUTH_ADMIN_REQUIRED, "the application is disabled",
	 NULL, T_ADMIN "enable it"},
	{65005, MO_OAUTH_ADMIN_REQUIRED,
	 "the app registration asks for an unavailable resource", NULL,
	 T_ADMIN "fix the app's API permissions"},
	{650052, MO_OAUTH_ADMIN_REQUIRED,
	 "the app needs a service the organisation does not subscribe to",
	 NULL, T_ADMIN "fix the app's API permissions"},
	{650056, MO_OAUTH_ADMIN_REQUIRED,
	 "the app registration is misconfigured", NULL,
	 T_ADMIN "fix the app's API permissions"},

	/* the account's configuration or app registration is wrong */
	{7000215, MO_OAUTH_CONFIG, "the client secret is wrong", NULL,
	 "give the secret's Value (not its ID) to 'mailoauth login {a}'"},
	{7000222, MO_OAUTH_CONFIG, "the client secret has expired", NULL,
	 "create a new one in the app registration and run "
	 "'mailoauth login {a}'"},
	{7000218, MO_OAUTH_CONFIG,
	 "the app expects a client secret or certificate", NULL,
	 "enable 'Allow public client flows' in the app registration, or "
	 "store a secret with 'mailoauth login {a}'"},
	{700025, MO_OAUTH_CONFIG,
	 "the app is a public client but a client secret was sent", NULL,
	 "remove the client secret of account '{a}'"},
	{700016, MO_OAUTH_CONFIG,
	 "the application (client_id) was not found in the tenant", NULL,
	 "check client_id and tenant of account '{a}'"},
	{70001, MO_OAUTH_CONFIG,
	 "the application is not allowed or is disabled", NULL,
	 "check client_id of account '{a}'"},
	{70002, MO_OAUTH_CONFIG,
	 "Microsoft could not validate the client credentials", NULL,
	 "check client_id and the secret or certificate of account '{a}'"},
	{50012, MO_OAUTH_CONFIG, "the client failed to authenticate", NULL,
	 "check client_id and the secret or certificate of account '{a}'"},
	{700027, MO_OAUTH_CONFIG,
	 "the client assertion's signature did not verify",
	 "certificate not registered for the app, or wrong key",
	 "upload the certificate to the app registration or fix cert and "
	 "key of account '{a}'"},
	{50027, MO_OAUTH_CONFIG, "the client assertion is malformed", NULL,
	 "check cert and key of account '{a}'"},
	{700024, MO_OAUTH_CONFIG,
	 "the client assertion is outside its validity period", NULL,
	 "check this host's clock"},
	{700023, MO_OAUTH_CONFIG,
	 "the client assertion's audience is not the token endpoint", NULL,
	 "check the token endpoint of account '{a}'"},
	{700021, MO_OAUTH_CONFIG,
	 "the client assertion's issuer is not the client_id", NULL,
	 "check client_id of account '{a}'"},
	{70011, MO_OAUTH_CONFIG, "the requested scope is invalid", NULL,
	 "check scopes of account '{a}'"},
	{28000, MO_OAUTH_CONFIG,
	 "the scopes name more than one resource", NULL,
	 "check scopes of account '{a}'"},
	{28003, MO_OAUTH_CONFIG, "the scope list is invalid", NULL,
	 "check scopes of account '{a}'"},
	{1002012, MO_OAUTH_CONFIG,
	 "client credentials need one '<resource>/.default' scope", NULL,
	 "set scopes of account '{a}' to e.g. "
	 "https://outlook.office365.com/.default"},
	{90002, MO_OAUTH_CONFIG, "the tenant was not found", NULL,
	 "check tenant of account '{a}'"},
	{900023, MO_OAUTH_CONFIG,
	 "the tenant is neither a GUID nor a domain name", NULL,
	 "check tenant of account '{a}'"},
	{50128, MO_OAUTH_CONFIG, "the tenant's domain name is not valid",
	 NULL, "check tenant of account '{a}'"},
	{50059, MO_OAUTH_CONFIG, "no tenant could be determined", NULL,
	 "set tenant of account '{a}'"},
	{50194, MO_OAUTH_CONFIG,
	 "the app is single-tenant but a multi-tenant endpoint was used",
	 NULL, "set tenant of account '{a}' to the tenant's ID or domain"},
	{50034, MO_OAUTH_CONFIG, "the user does not exist in this tenant",
	 NULL, "check tenant and user of account '{a}' and sign in with an "
	 "account of that tenant"},
	{51004, MO_OAUTH_CONFIG, "the user does not exist in this directory",
	 NULL, "check tenant and user of account '{a}'"},
	{90014, MO_OAUTH_CONFIG, "a required request field is missing", NULL,
	 "check client_id and scopes of account '{a}'"},
	{900144, MO_OAUTH_CONFIG, "a required request parameter is missing",
	 NULL, "check client_id and scopes of account '{a}'"},
	{9002313, MO_OAUTH_CONFIG, "the request was malformed", NULL,
	 "check the configuration of account '{a}'"},
	{70003, MO_OAUTH_CONFIG,
	 "the app may not use this grant type", NULL,
	 "check flow of account '{a}' and the app registration"},
	{50011, MO_OAUTH_CONFIG,
	 "the redirect URI is not registered for the app", NULL,
	 "add http://localhost (Mobile and desktop applications) to the app "
	 "registration's redirect URIs"},
	{500113, MO_OAUTH_CONFIG,
	 "the app registration has no redirect URI", NULL,
	 "add http://localhost (Mobile and desktop applications) to it"},
	{700054, MO_OAUTH_CONFIG,
	 "the response type is not enabled for the app", NULL,
	 "check the app registration"},
};

/* "error" strings, used when no code is known. */
static const struct {
	const char *error;
	struct rule r;
} error_rules[] = {
	{"invalid_grant", {0, MO_OAUTH_LOGIN_REQUIRED, NULL, NULL, T_LOGIN}},
	{"interaction_required", {0, MO_OAUTH_LOGIN_REQUIRED,
	 "the identity provider wants an interactive sign-in", NULL,
	 T_LOGIN}},
	{"login_required", {0, MO_OAUTH_LOGIN_REQUIRED,
	 "the identity provider wants the user to sign in again", NULL,
	 T_LOGIN}},
	{"invalid_rapt", {0, MO_OAUTH_LOGIN_REQUIRED,
	 "Google wants the user to re-authenticate", NULL, T_LOGIN}},
	{"consent_required", {0, MO_OAUTH_ADMIN_REQUIRED,
	 "the app has no consent for the requested permissions", NULL,
	 T_ADMIN "grant consent for the account's scopes"}},
	{"access_denied", {0, MO_OAUTH_ADMIN_REQUIRED,
	 "the identity provider denied access", NULL,
	 "ask an administrator to allow this app for the user"}},
	{"admin_policy_enforced", {0, MO_OAUTH_ADMIN_REQUIRED,
	 "an administrator's policy blocks this app", NULL,
	 "ask an administrator to allow it"}},
	{"policy_enforced", {0, MO_OAUTH_ADMIN_REQUIRED,
	 "a security policy blocks this app", NULL,
	 "ask an administrator to allow it"}},
	{"org_internal", {0, MO_OAUTH_ADMIN_REQUIRED,
	 "the app is limited to another organisation's users", NULL,
	 "ask the app's owner to allow this user"}},
	{"invalid_client", {0, MO_OAUTH_CONFIG,
	 "the identity provider does not accept the client credentials", NULL,
	 "check client_id and the secret or certificate of account '{a}'"}},
	{"unauthorized_client", {0, MO_OAUTH_CONFIG,
	 "the client may not use this grant", NULL,
	 "check client_id and flow of account '{a}' and the app registration "
	 "('Allow public client flows' for the device flow)"}},
	{"disabled_client", {0, MO_OAUTH_CONFIG, "the OAuth client is disabled",
	 NULL, "check client_id of account '{a}'"}},
	{"deleted_client", {0, MO_OAUTH_CONFIG, "the OAuth client was deleted",
	 NULL, "check client_id of account '{a}'"}},
	{"invalid_scope", {0, MO_OAUTH_CONFIG,
	 "the identity provider refused the requested scope", NULL,
	 "check scopes of account '{a}'"}},
	{"invalid_request", {0, MO_OAUTH_CONFIG,
	 "the identity provider refused the request as malformed", NULL,
	 "check the configuration of account '{a}'"}},
	{"unsupported_grant_type", {0, MO_OAUTH_CONFIG,
	 "the identity provider does not support this grant", NULL,
	 "check flow of account '{a}'"}},
	{"unsupported_response_type", {0, MO_OAUTH_CONFIG,
	 "the identity provider does not support this response type", NULL,
	 "check flow of account '{a}'"}},
	{"redirect_uri_mismatch", {0, MO_OAUTH_CONFIG,
	 "the redirect URI is not registered for the client", NULL,
	 "register the loopback redirect URI for the client"}},
	{"temporarily_unavailable", {0, MO_OAUTH_TRANSIENT,
	 "the identity provider is temporarily unavailable", NULL, T_AGAIN}},
	{"server_error", {0, MO_OAUTH_TRANSIENT,
	 "the identity provider had an internal error", NULL, T_AGAIN}},
	{"rate_limit_exceeded", {0, MO_OAUTH_TRANSIENT,
	 "the identity provider is rate-limiting this client", NULL,
	 "wait and retry less often"}},
};

int mo_oauth_code_class(long code)
{
	for (size_t i = 0; i < G_N_ELEMENTS(code_rules); i++)
		if (code_rules[i].code == code)
			return (int)code_rules[i].cls;
	return -1;
}

static const struct rule *code_rule(long code)
{
	for (size_t i = 0; i < G_N_ELEMENTS(code_rules); i++)
		if (code_rules[i].code == code)
			return &code_rules[i];
	return NULL;
}

/* invalid_grant means different things per grant */
static const char *invalid_grant_what(enum mo_oauth_grant grant)
{
	switch (grant) {
	case MO_OAUTH_GRANT_REFRESH:
		return "the identity provider says the refresh token has "
		       "expired or was revoked";
	case MO_OAUTH_GRANT_AUTH_CODE:
		return "the identity provider refused the authorization code "
		       "(expired, already used or for another redirect URI)";
	case MO_OAUTH_GRANT_DEVICE_CODE:
		return "the identity provider refused the device code";
	default:
		return "the identity provider refused the grant";
	}
}

/* ------------------------------------------------------------ messages */

/* subst - append TEMPLATE with every "{a}" replaced by ACCOUNT */
static void subst(GString *o, const char *tmpl, const char *account)
{
	const char *p;

	while ((p = strstr(tmpl, "{a}"))) {
		g_string_append_len(o, tmpl, p - tmpl);
		g_string_append(o, account);
		tmpl = p + 3;
	}
	g_string_append(o, tmpl);
}

/* codes_text - "AADSTS70008" or "AADSTS70008/50173" (max 4) */
static void codes_text(GString *o, const struct mo_oauth_error *err,
		       long first)
{
	size_t shown = 0;

	if (first) {
		g_string_append_printf(o, "AADSTS%ld", first);
		shown++;
	}
	for (size_t i = 0; i < err->n_codes && shown < 4; i++) {
		if (err->codes[i] == first)
			continue;
		g_string_append_printf(o, "%sAADSTS%ld", shown ? "/" : "",
				       err->codes[i]);
		shown++;
	}
}

static void finish(struct mo_oauth_error *err, enum mo_oauth_class cls,
		   GString *msg)
{
	GString *d = g_string_new(NULL);

	err->cls = cls;
	if (msg->len > MO_TEXT_MAX - 16)
		g_string_truncate(msg, MO_TEXT_MAX - 16);
	g_free(err->message);
	err->message = g_string_free(msg, FALSE);

	g_string_append_printf(d, "class=%s", mo_oauth_class_name(cls));
	if (err->error)
		g_string_append_printf(d, " error=%s", err->error);
	if (err->n_codes) {
		g_string_append(d, " codes=");
		for (size_t i = 0; i < err->n_codes; i++)
			g_string_append_printf(d, "%s%ld", i ? "," : "",
					       err->codes[i]);
	}
	if (err->http_status)
		g_string_append_printf(d, " http=%ld", err->http_status);
	if (err->curl_code)
		g_string_append_printf(d, " curl=%d", err->curl_code);
	if (err->retry_after >= 0)
		g_string_append_printf(d, " retry_after=%ld", err->retry_after);
	if (err->trace_id)
		g_string_append_printf(d, " trace_id=%s", err->trace_id);
	if (err->correlation_id)
		g_string_append_printf(d, " correlation_id=%s",
				       err->correlation_id);
	if (err->reason)
		g_string_append_printf(d, " reason=\"%s\"", err->reason);
	if (err->description)
		g_string_append_printf(d, " description=\"%s\"",
				       err->description);
	g_free(err->detail);
	err->detail = g_string_free(d, FALSE);
}

static bool status_is_temporary(long s)
{
	return s == 408 || s == 425 || s == 429 || (s >= 500 && s <= 599);
}

static void wait_text(GString *m, const struct mo_oauth_error *err)
{
	if (err->retry_after >= 0)
		g_string_append_printf(m, ", retry after %ld s",
				       err->retry_after);
}

/* the transport failed: curl's code decides */
static void classify_curl(struct mo_oauth_error *err, GString *m,
			  const char *a, const char *curl_error)
{
	enum mo_oauth_class cls = MO_OAUTH_CONFIG;
	const char *what, *todo;

	switch (err->curl_code) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		what = "the identity provider's TLS certificate could not "
		       "be verified";
		todo = "if it uses a private CA, set ca_file for account "
		       "'{a}'; otherwise check for a TLS-intercepting proxy";
		break;
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
		what = "the CA file could not be read";
		todo = "check ca_file of account '{a}'";
		break;
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
		what = "the TLS set-up failed";
		todo = "check the TLS settings of account '{a}'";
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_BAD_FUNCTION_ARGUMENT:
		what = "the endpoint URL or request was refused before "
		       "sending";
		todo = "use an https:// endpoint for account '{a}' (http:// "
		       "only on loopback)";
		break;
	case CURLE_FILESIZE_EXCEEDED:
		cls = MO_OAUTH_TRANSIENT;
		what = "the identity provider sent an answer larger than "
		       "1 MiB";
		todo = T_AGAIN;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		cls = MO_OAUTH_TRANSIENT;
		what = "the identity provider did not answer in time";
		todo = T_AGAIN;
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		cls = MO_OAUTH_TRANSIENT;
		what = "the identity provider's name could not be resolved";
		todo = "check DNS and the network; " T_AGAIN;
		break;
	case CURLE_COULDNT_CONNECT:
		cls = MO_OAUTH_TRANSIENT;
		what = "the identity provider could not be reached";
		todo = "check the network; " T_AGAIN;
		break;
	case CURLE_SSL_CONNECT_ERROR:
		cls = MO_OAUTH_TRANSIENT;
		what = "the TLS handshake with the identity provider failed";
		todo = T_AGAIN;
		break;
	default:
		cls = MO_OAUTH_TRANSIENT;
		what = "the connection to the identity provider failed";
		todo = T_AGAIN;
		break;
	}
	g_string_append_printf(m, "%s (curl error %d", what, err->curl_code);
	if (curl_error && *curl_error)
		g_string_append_printf(m, ": %s", curl_error);
	g_string_append(m, "): ");
	subst(m, todo, a);
	finish(err, cls, m);
}

void mo_oauth_classify(struct mo_oauth_error *err, enum mo_oauth_grant grant,
		       const char *account)
{
	char *a = account ? scrub(account, strlen(account), MO_ACCOUNT_MAX) :
			    NULL;
	const char *acc = a ? a : "ACCOUNT";
	GString *m = g_string_new(NULL);
	const char *e = err->error;
	const struct rule *r = NULL;
	long code = 0;

	g_string_append_printf(m, "account '%s': ", acc);

	/* 1. the device flow's own answers (Entra reuses 70000 for two) */
	if (e) {
		enum mo_oauth_class dc = MO_OAUTH_OK;
		const char *what = NULL, *todo = NULL;

		if (!strcmp(e, "authorization_pending")) {
			dc = MO_OAUTH_DEVICE_PENDING;
			what = "waiting for the user to enter the code";
			todo = "keep polling";
		} else if (!strcmp(e, "slow_down")) {
			dc = MO_OAUTH_DEVICE_SLOW_DOWN;
			what = "the identity provider asks to poll more slowly";
			todo = "wait 5 seconds longer between polls";
		} else if (!strcmp(e, "authorization_declined") ||
			   (!strcmp(e, "access_denied") &&
			    grant == MO_OAUTH_GRANT_DEVICE_CODE)) {
			dc = MO_OAUTH_DEVICE_DECLINED;
			what = "the user declined the sign-in";
			todo = T_LOGIN " to try again";
		} else if (!strcmp(e, "expired_token")) {
			dc = MO_OAUTH_DEVICE_EXPIRED;
			what = "the device code expired before the user "
			       "signed in";
			todo = T_LOGIN " again";
		} else if (!strcmp(e, "bad_verification_code")) {
			dc = MO_OAUTH_DEVICE_BAD_CODE;
			what = "the device code is unknown or already used";
			todo = T_LOGIN " again";
		}
		if (dc != MO_OAUTH_OK) {
			g_string_append_printf(m, "%s (%s): ", what, e);
			subst(m, todo, acc);
			finish(err, dc, m);
			goto out;
		}
	}

	/* 2. no HTTP answer */
	if (err->curl_code) {
		classify_curl(err, m, acc, err->description);
		goto out;
	}

	/* 3. Entra's codes */
	for (size_t i = 0; i < err->n_codes && !r; i++)
		if ((r = code_rule(err->codes[i])))
			code = err->codes[i];
	if (r) {
		g_string_append_printf(m, "%s (", r->what);
		codes_text(m, err, code);
		if (r->why)
			g_string_append_printf(m, ", %s", r->why);
		if (r->cls == MO_OAUTH_TRANSIENT)
			wait_text(m, err);
		g_string_append(m, "): ");
		subst(m, r->todo, acc);
		finish(err, r->cls, m);
		goto out;
	}

	/* 4. a temporary status, whatever the body says */
	if (status_is_temporary(err->http_status)) {
		g_string_append_printf(m, "the identity provider answered "
				       "HTTP %ld (", err->http_status);
		if (err->http_status == 429)
			g_string_append(m, "too many requests");
		else if (err->http_status == 408)
			g_string_append(m, "request timeout");
		else
			g_string_append(m, "server error");
		if (e)
			g_string_append_printf(m, ", %s", e);
		if (err->n_codes) {
			g_string_append(m, ", ");
			codes_text(m, err, 0);
		}
		wait_text(m, err);
		g_string_append(m, "): " T_AGAIN);
		finish(err, MO_OAUTH_TRANSIENT, m);
		goto out;
	}

	/* 5. the OAuth error string */
	if (e) {
		for (size_t i = 0; i < G_N_ELEMENTS(error_rules) && !r; i++)
			if (!strcmp(e, error_rules[i].error))
				r = &error_rules[i].r;
		g_string_append_printf(m, "%s (%s", r && r->what ? r->what :
				       r ? invalid_grant_what(grant) :
				       "the identity provider refused the "
				       "request", e);
		if (err->n_codes) {
			g_string_append(m, ", ");
			codes_text(m, err, 0);
		}
		if (!r && err->http_status)
			g_string_append_printf(m, ", HTTP %ld",
					       err->http_status);
		if (r && r->cls == MO_OAUTH_TRANSIENT)
			wait_text(m, err);
		g_string_append(m, "): ");
		if (r && !strcmp(e, "invalid_scope") &&
		    grant == MO_OAUTH_DEVICE_AUTHORIZATION)
			subst(m, "check scopes of account '{a}' (Google's "
			      "device flow refuses Gmail scopes: use flow = "
			      "authcode)", acc);
		else
			subst(m, r ? r->todo : "check the configuration of "
			      "account '{a}' and the identity provider's "
			      "documentation of this error", acc);
		finish(err, r ? r->cls : MO_OAUTH_CONFIG, m);
		goto out;
	}

	/* 6. no OAuth error at all: the status and what was wrong */
	if (err->http_status >= 200 && err->http_status <= 299) {
		g_string_append_printf(m, "the identity provider's answer is "
				       "unusable (HTTP %ld: %s): " T_AGAIN,
				       err->http_status, err->reason ?
				       err->reason : "no usable content");
		finish(err, MO_OAUTH_TRANSIENT, m);
	} else if (err->http_status >= 300 && err->http_status <= 399) {
		g_string_append_printf(m, "the endpoint redirects elsewhere "
				       "(HTTP %ld), and redirects are not "
				       "followed: ", err->http_status);
		subst(m, "configure the final https:// URL for account '{a}'",
		      acc);
		finish(err, MO_OAUTH_CONFIG, m);
	} else if (err->http_status == 404 || err->http_status == 405 ||
		   err->http_status == 410) {
		g_string_append_printf(m, "the endpoint URL is wrong (HTTP "
				       "%ld): ", err->http_status);
		subst(m, "check the endpoint, tenant or authority of account "
		      "'{a}'", acc);
		finish(err, MO_OAUTH_CONFIG, m);
	} else if (err->http_status == 407) {
		g_string_append(m, "the HTTP proxy requires authentication "
			       "(HTTP 407): check https_proxy");
		finish(err, MO_OAUTH_CONFIG, m);
	} else {
		g_string_append_printf(m, "the identity provider gave an "
				       "unexpected answer (HTTP %ld: %s): "
				       T_AGAIN, err->http_status, err->reason ?
				       err->reason : "no OAuth error");
		finish(err, MO_OAUTH_TRANSIENT, m);
	}
out:
	g_free(a);
}

/* ------------------------------------------------------------ parsing */

void mo_oauth_tokens_clear(struct mo_oauth_tokens *t)
{
	if (!t)
		return;
	mo_oauth_secret_free(t->access_token);
	mo_oauth_secret_free(t->refresh_token);
	g_free(t->scope);
	memset(t, 0, sizeof(*t));
}

void mo_oauth_device_clear(struct mo_oauth_device *d)
{
	if (!d)
		return;
	mo_oauth_secret_free(d->device_code);
	g_free(d->user_code);
	g_free(d->verification_uri);
	g_free(d->verification_uri_complete);
	g_free(d->message);
	memset(d, 0, sizeof(*d));
}

void mo_oauth_error_clear(struct mo_oauth_error *err)
{
	if (!err)
		return;
	g_free(err->error);
	g_free(err->trace_id);
	g_free(err->correlation_id);
	g_free(err->description);
	g_free(err->message);
	g_free(err->detail);
	memset(err, 0, sizeof(*err));
	err->retry_after = -1;
}

static void error_start(struct mo_oauth_error *err,
			const struct mo_http_response *r)
{
	memset(err, 0, sizeof(*err));
	err->http_status = r->status;
	err->curl_code = r->curl_code;
	err->retry_after = r->retry_after >= 0 ? r->retry_after : -1;
	if (r->curl_code)
		err->description = scrub(r->error, strnlen(r->error,
					 sizeof(r->error)), 160);
}

/*
 * load - the JSON object of R's body, or NULL with err->reason set.
 * Call inside a json_scope.
 */
static json_t *load(const struct mo_http_response *r,
		    struct mo_oauth_error *err)
{
	json_error_t jerr;
	json_t *root;
	size_t i = 0;

	if (r->truncated || r->len > MO_OAUTH_MAX_BODY) {
		err->reason = "the body is larger than 1 MiB";
		return NULL;
	}
	while (r->body && i < r->len && r->body[i] &&
	       strchr(" \t\r\n", r->body[i]))
		i++;
	if (!r->body || i == r->len) {
		err->reason = "the body is empty";
		return NULL;
	}
	if (r->body[i] == '<' ||
	    g_ascii_strncasecmp(r->content_type, "text/html", 9) == 0) {
		err->reason = "the body is an HTML page, perhaps from a "
			      "proxy or captive portal";
		return NULL;
	}
	if (!json_depth_ok(r->body, r->len, MO_OAUTH_MAX_DEPTH)) {
		err->reason = "the JSON is nested too deeply";
		return NULL;
	}
	root = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		err->reason = "the body is not valid JSON (malformed or "
			      "truncated)";
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		err->reason = "the body is not a JSON object";
		return NULL;
	}
	return root;
}

/* read_error - the error members of an OAuth error answer */
static void read_error(json_t *root, struct mo_oauth_error *err)
{
	json_t *v = json_object_get(root, "error");
	json_t *codes = json_object_get(root, "error_codes");

	if (json_is_string(v))
		err->error = scrub(json_string_value(v), json_string_length(v),
				   ERROR_MAX);
	else if (v && !json_is_null(v))
		err->reason = "the error member is not a string";
	if (json_is_array(codes)) {
		size_t i;
		json_t *c;

		json_array_foreach(codes, i, c) {
			json_int_t n;

			if (err->n_codes >= MO_OAUTH_MAX_CODES)
				break;
			if (!json_is_integer(c))
				continue;
			n = json_integer_value(c);
			if (n > 0 && n < 1000000000)
				err->codes[err->n_codes++] = (long)n;
		}
	}
	v = json_object_get(root, "error_description");
	if (json_is_string(v))
		err->description = first_sentence(json_string_value(v));
	v = json_object_get(root, "trace_id");
	if (json_is_string(v))
		err->trace_id = id_copy(json_string_value(v));
	v = json_object_get(root, "correlation_id");
	if (json_is_string(v))
		err->correlation_id = id_copy(json_string_value(v));
}

/* read_seconds - a non-negative count of seconds: integer, real or digits */
static int read_seconds(json_t *v, long *out)
{
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);

		if (n < LONG_MIN / 2 || n > LONG_MAX / 2)
			return -ERANGE;
		*out = (long)n;
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (!(d > -1e12 && d < 1e12))
			return -ERANGE;
		*out = (long)d;
		return 0;
	}
	if (json_is_string(v)) {	/* Azure AD v1 sent "3599" */
		const char *s = json_string_value(v);
		long n = 0;

		if (!*s || json_string_length(v) > 12)
			return -EINVAL;
		for (; *s; s++) {
			if (!g_ascii_isdigit(*s))
				return -EINVAL;
			n = n * 10 + (*s - '0');
		}
		*out = n;
		return 0;
	}
	return -EINVAL;
}

/* read_tokens - validate a success answer; NULL reason when usable */
static const char *read_tokens(json_t *root, struct mo_oauth_tokens *out)
{
	json_t *at = json_object_get(root, "access_token");
	json_t *tt = json_object_get(root, "token_type");
	json_t *ex = json_object_get(root, "expires_in");
	json_t *rt = json_object_get(root, "refresh_token");
	json_t *sc = json_object_get(root, "scope");
	long expires = MO_OAUTH_DEFAULT_EXPIRES;
	size_t len;

	if (!json_is_string(at) || json_string_length(at) == 0)
		return "there is no access_token";
	len = json_string_length(at);
	if (len > MO_TOKEN_MAX)
		return "the access_token is longer than 12288 bytes";
	if (!mo_token_valid(json_string_value(at), len) ||
	    strlen(json_string_value(at)) != len)
		return "the access_token has characters a bearer token may "
		       "not have";
	if (!json_is_string(tt))
		return "token_type is missing";
	if (g_ascii_strcasecmp(json_string_value(tt), "Bearer") != 0)
		return "token_type is not Bearer";
	if (ex && !json_is_null(ex)) {
		if (read_seconds(ex, &expires) < 0)
			return "expires_in is not a number";
		if (expires <= 0)
			return "expires_in is zero or negative";
		if (expires > MO_OAUTH_MAX_EXPIRES)
			return "expires_in is more than a year";
	}
	if (rt && !json_is_null(rt)) {
		if (!json_is_string(rt))
			return "refresh_token is not a string";
		if (json_string_length(rt) > 0 &&
		    (json_string_length(rt) > MO_OAUTH_REFRESH_MAX ||
		     !printable(json_string_value(rt), MO_OAUTH_REFRESH_MAX,
				false)))
			return "the refresh_token has unprintable characters "
			       "or is too long";
	}
	out->access_token = g_strndup(json_string_value(at), len);
	if (json_is_string(rt) && json_string_length(rt) > 0)
		out->refresh_token = g_strdup(json_string_value(rt));
	if (json_is_string(sc) && printable(json_string_value(sc), SCOPE_MAX,
					    true))
		out->scope = g_strdup(json_string_value(sc));
	out->expires_in = expires;
	return NULL;
}

static bool is_2xx(long s)
{
	return s >= 200 && s <= 299;
}

/*
 * parse_answer - the steps every token-endpoint answer goes through: a
 * transport error, then the JSON, an OAuth error or the success READ
 * fills in. A transport error is classified here; the rest by the caller,
 * once it knows whether READ found what it needs.
 */
static const char *read_device(json_t *root, struct mo_oauth_device *out);

static void parse_answer(const struct mo_http_response *r,
			 enum mo_oauth_grant grant, const char *account,
			 struct mo_oauth_error *err,
			 const char *(*read)(json_t *root, void *out), void *out)
{
	struct json_scope scope;
	json_t *root;

	error_start(err, r);
	if (r->curl_code) {
		mo_oauth_classify(err, grant, account);
		return;
	}
	json_scope_enter(&scope);
	root = load(r, err);
	if (root) {
		json_t *e = json_object_get(root, "error");

		if (!is_2xx(r->status) || (e && !json_is_null(e)))
			read_error(root, err);
		else
			err->reason = read(root, out);
		json_decref(root);
	}
	json_scope_leave(&scope);
}

static const char *read_tokens_cb(json_t *root, void *out)
{
	return read_tokens(root, out);
}

static const char *read_device_cb(json_t *root, void *out)
{
	return read_device(root, out);
}

static bool answer_ok(const struct mo_http_response *r,
		      const struct mo_oauth_error *err, const void *have)
{
	return have && !r->curl_code && !err->reason && !err->error &&
	       is_2xx(r->status);
}

int mo_oauth_parse_token_response(const struct mo_http_response *r,
				  enum mo_oauth_grant grant,
				  const char *account,
				  struct mo_oauth_tokens *out,
				  struct mo_oauth_error *err)
{
	memset(out, 0, sizeof(*out));
	parse_answer(r, grant, account, err, read_tokens_cb, out);
	if (answer_ok(r, err, out->access_token))
		return 0;
	mo_oauth_tokens_clear(out);
	if (!r->curl_code)
		mo_oauth_classify(err, grant, account);
	return -EPROTO;
}

/* read_uri - an http(s) URI of printable characters, or NULL */
static char *read_uri(json_t *v)
{
	const char *s;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	if (!printable(s, URI_MAX, false) ||
	    (g_ascii_strncasecmp(s, "https://", 8) != 0 &&
	     g_ascii_strncasecmp(s, "http://", 7) != 0))
		return NULL;
	return g_strdup(s);
}

static const char *read_device(json_t *root, struct mo_oauth_device *out)
{
	json_t *dc = json_object_get(root, "device_code");
	json_t *uc = json_object_get(root, "user_code");
	json_t *uri = json_object_get(root, "verification_uri");
	json_t *msg = json_object_get(root, "message");
	long expires = 900, interval = 5;

	if (!uri)
		uri = json_object_get(root, "verification_url");	/* Google */
	if (!json_is_string(dc) ||
	    !printable(json_string_value(dc), DEVICE_CODE_MAX, false))
		return "there is no usable device_code";
	if (!json_is_string(uc) ||
	    !printable(json_string_value(uc), USER_CODE_MAX, true))
		return "there is no usable user_code";
	out->verification_uri = read_uri(uri);
	if (!out->verification_uri)
		return "there is no usable verification_uri";
	if (json_object_get(root, "expires_in") &&
	    (read_seconds(json_object_get(root, "expires_in"), &expires) < 0 ||
	     expires <= 0))
		return "expires_in is not a positive number";
	if (json_object_get(root, "interval") &&
	    read_seconds(json_object_get(root, "interval"), &interval) < 0)
		return "interval is not a number";
	out->device_code = g_strdup(json_string_value(dc));
	out->user_code = g_strdup(json_string_value(uc));
	out->verification_uri_complete = read_uri(
		json_object_get(root, "verification_uri_complete"));
	if (json_is_string(msg))
		out->message = scrub(json_string_value(msg),
				     json_string_length(msg), MESSAGE_MAX);
	out->expires_in = expires > 86400 ? 86400 : expires;
	out->interval = interval < 1 ? 5 : interval > 300 ? 300 : interval;
	return NULL;
}

int mo_oauth_parse_device_response(const struct mo_http_response *r,
				   const char *account,
				   struct mo_oauth_device *out,
				   struct mo_oauth_error *err)
{
	memset(out, 0, sizeof(*out));
	parse_answer(r, MO_OAUTH_DEVICE_AUTHORIZATION, account, err,
		     read_device_cb, out);
	if (answer_ok(r, err, out->device_code))
		return 0;
	mo_oauth_device_clear(out);
	if (!r->curl_code)
		mo_oauth_classify(err, MO_OAUTH_DEVICE_AUTHORIZATION, account);
	return -EPROTO;
}

/* ------------------------------------------------------------ JWT */

static char *b64url(const unsigned char *d, size_t n)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = g_malloc(n / 3 * 4 + 5), *p = out;
	size_t i = 0;

	for (; i + 2 < n; i += 3) {
		unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 |
			     d[i + 2];

		*p++ = tbl[v >> 18 & 63];
		*p++ = tbl[v >> 12 & 63];
		*p++ = tbl[v >> 6 & 63];
		*p++ = tbl[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)d[i] << 16;

		*p++ = tbl[v >> 18 & 63];
		*p++ = tbl[v >> 12 & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8;

		*p++ = tbl[v >> 18 & 63];
		*p++ = tbl[v >> 12 & 63];
		*p++ = tbl[v >> 6 & 63];
	}
	*p = '\0';
	return out;
}

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pass = u;
	size_t n;

	(void)rwflag;
	if (!pass)
		return -1;	/* encrypted key but no passphrase: fail */
	n = strlen(pass);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, pass, n);
	return (int)n;
}

static int ssl_fail(GError **error, int code, int r, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[160] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	g_set_error(error, MO_OAUTH_ERROR, code, "%s%s%s%s", what,
		    *buf ? " (OpenSSL: " : "", buf, *buf ? ")" : "");
	return r;
}

/* json_b64 - base64url of the compact JSON of V (inside a json_scope) */
static char *json_b64(json_t *v)
{
	size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *buf, *out;

	if (n == 0)
		return NULL;
	buf = g_malloc(n);
	json_dumpb(v, buf, n, JSON_COMPACT | JSON_PRESERVE_ORDER);
	out = b64url((unsigned char *)buf, n);
	wipe(buf, n);
	g_free(buf);
	return out;
}

int mo_jwt_client_assertion(const char *client_id, const char *audience,
			    const char *cert_pem, const char *key_pem,
			    const char *passphrase, char **out,
			    GError **error)
{
	unsigned char s256[SHA256_DIGEST_LENGTH], s1[SHA_DIGEST_LENGTH];
	unsigned char rnd[16], *der = NULL, *sig = NULL;
	char jti[37], *t256 = NULL, *t1 = NULL, *h64 = NULL, *c64 = NULL;
	char *signing = NULL, *s64 = NULL;
	struct json_scope scope;
	json_t *hdr, *claims;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	BIO *bio;
	size_t siglen = 0;
	int derlen, r = 0;
	time_t now = time(NULL);

	*out = NULL;
	if (!client_id || !*client_id || !audience || !*audience ||
	    !cert_pem || !key_pem) {
		g_set_error(error, MO_OAUTH_ERROR, MO_OAUTH_ERROR_FAILED,
			    "a client assertion needs client_id, the token "
			    "endpoint, a certificate and its key");
		return -EINVAL;
	}
	bio = BIO_new_mem_buf(cert_pem, -1);
	cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!cert)
		return ssl_fail(error, MO_OAUTH_ERROR_CERT, -EINVAL,
				"the certificate is not a PEM X.509 "
				"certificate");
	bio = BIO_new_mem_buf(key_pem, -1);
	key = bio ? PEM_read_bio_PrivateKey(bio, NULL, pass_cb,
					    (void *)passphrase) : NULL;
	BIO_free(bio);
	if (!key) {
		r = ssl_fail(error, MO_OAUTH_ERROR_KEY, -EKEYREJECTED,
			     passphrase ? "the private key could not be read "
			     "(wrong passphrase?)" : "the private key could "
			     "not be read (not PEM, or encrypted)");
		goto out;
	}
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		g_set_error(error, MO_OAUTH_ERROR, MO_OAUTH_ERROR_KEY_TYPE,
			    "the private key is a %s key, but client "
			    "assertions are signed with RS256: use an RSA key",
			    OBJ_nid2sn(EVP_PKEY_get_base_id(key)));
		r = -EKEYREJECTED;
		goto out;
	}
	if (EVP_PKEY_get_bits(key) < 2048) {
		g_set_error(error, MO_OAUTH_ERROR, MO_OAUTH_ERROR_KEY_TYPE,
			    "the RSA key has %d bits; at least 2048 are "
			    "needed", EVP_PKEY_get_bits(key));
		r = -EKEYREJECTED;
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		r = ssl_fail(error, MO_OAUTH_ERROR_MISMATCH, -EKEYREJECTED,
			     "the private key does not belong to the "
			     "certificate");
		goto out;
	}
	derlen = i2d_X509(cert, &der);
	if (derlen <= 0 || RAND_bytes(rnd, sizeof(rnd)) != 1) {
		r = ssl_fail(error, MO_OAUTH_ERROR_FAILED, -EIO,
			     "the certificate could not be encoded");
		goto out;
	}
	SHA256(der, (size_t)derlen, s256);
	SHA1(der, (size_t)derlen, s1);
	t256 = b64url(s256, sizeof(s256));
	t1 = b64url(s1, sizeof(s1));
	rnd[6] = (rnd[6] & 0x0f) | 0x40;	/* UUID version 4 */
	rnd[8] = (rnd[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	snprintf(jti, sizeof(jti), "%02x%02x%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
		 rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], rnd[8], rnd[9],
		 rnd[10], rnd[11], rnd[12], rnd[13], rnd[14], rnd[15]);

	json_scope_enter(&scope);
	hdr = json_pack("{s:s, s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT",
			"x5t", t1, "x5t#S256", t256);
	claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
			   "aud", audience, "iss", client_id, "sub", client_id,
			   "jti", jti, "nbf", (json_int_t)now,
			   "iat", (json_int_t)now,
			   "exp", (json_int_t)now + MO_OAUTH_JWT_LIFETIME);
	if (hdr && claims) {
		h64 = json_b64(hdr);
		c64 = json_b64(claims);
	}
	json_decref(hdr);
	json_decref(claims);
	json_scope_leave(&scope);
	if (!h64 || !c64) {
		g_set_error(error, MO_OAUTH_ERROR, MO_OAUTH_ERROR_FAILED,
			    "the client assertion could not be built "
			    "(client_id or endpoint not UTF-8?)");
		r = -EINVAL;
		goto out;
	}
	signing = g_strconcat(h64, ".", c64, NULL);
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (unsigned char *)signing,
			   strlen(signing)) != 1) {
		r = ssl_fail(error, MO_OAUTH_ERROR_FAILED, -EIO,
			     "signing the client assertion failed");
		goto out;
	}
	sig = g_malloc(siglen);
	if (EVP_DigestSign(md, sig, &siglen, (unsigned char *)signing,
			   strlen(signing)) != 1) {
		r = ssl_fail(error, MO_OAUTH_ERROR_FAILED, -EIO,
			     "signing the client assertion failed");
		goto out;
	}
	s64 = b64url(sig, siglen);
	*out = g_strconcat(signing, ".", s64, NULL);
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);	/* clears the key material */
	X509_free(cert);
	OPENSSL_free(der);
	g_free(sig);
	g_free(t256);
	g_free(t1);
	g_free(h64);
	g_free(c64);
	mo_oauth_secret_free(signing);
	mo_oauth_secret_free(s64);
	ERR_clear_error();
	return r;
}

/* ------------------------------------------------------------ calls */

#define MAX_FIELDS 12
#define MAX_SECRETS 4

struct secret_hash {
	size_t len;
	unsigned char md[SHA256_DIGEST_LENGTH];
};

struct mo_oauth_call {
	struct mo_http *http;
	struct mo_http_call *hc;
	GSource *idle;			/* local failure, reported later */
	enum mo_oauth_grant grant;
	char *account;
	mo_oauth_token_cb tcb;
	mo_oauth_device_cb dcb;
	void *user_data;
	struct mo_oauth_error early;
	struct secret_hash secrets[MAX_SECRETS];
	size_t n_secrets;
	bool in_cb;			/* cancel is a no-op meanwhile */
};

/* remember a secret we send, by length and hash, to scrub it from errors */
static void note_secret(struct mo_oauth_call *c, const char *s)
{
	if (!s || strlen(s) < 8 || c->n_secrets >= MAX_SECRETS)
		return;
	c->secrets[c->n_secrets].len = strlen(s);
	SHA256((const unsigned char *)s, strlen(s),
	       c->secrets[c->n_secrets].md);
	c->n_secrets++;
}

/* scrub_known - replace any sent secret inside *SP; true if one was */
static bool scrub_known(const struct mo_oauth_call *c, char **sp)
{
	bool hit = false;

	for (size_t k = 0; *sp && k < c->n_secrets; k++) {
		const struct secret_hash *h = &c->secrets[k];
		size_t n = strlen(*sp);

		for (size_t i = 0; h->len <= n && i + h->len <= n; i++) {
			unsigned char md[SHA256_DIGEST_LENGTH];

			SHA256((unsigned char *)*sp + i, h->len, md);
			if (memcmp(md, h->md, sizeof(md)) == 0) {
				char *t = g_strdup_printf("%.*s%s%s", (int)i,
							  *sp, REDACTED,
							  *sp + i + h->len);

				wipe(*sp, n);
				g_free(*sp);
				*sp = t;
				n = strlen(t);
				hit = true;
			}
		}
	}
	return hit;
}

static void scrub_error(const struct mo_oauth_call *c,
			struct mo_oauth_error *err)
{
	bool hit = false;

	hit |= scrub_known(c, &err->error);
	hit |= scrub_known(c, &err->description);
	hit |= scrub_known(c, &err->trace_id);
	hit |= scrub_known(c, &err->correlation_id);
	if (hit)
		mo_oauth_classify(err, c->grant, c->account);
}

static void call_free(struct mo_oauth_call *c)
{
	if (c->idle) {
		g_source_destroy(c->idle);
		g_source_unref(c->idle);
	}
	mo_http_cancel(c->hc);
	mo_oauth_error_clear(&c->early);
	g_free(c->account);
	wipe(c, sizeof(*c));
	g_free(c);
}

static void http_done(const struct mo_http_response *r, void *ud)
{
	struct mo_oauth_call *c = ud;
	struct mo_oauth_error err;

	c->hc = NULL;		/* the http layer frees it after we return */
	c->in_cb = true;
	if (c->grant == MO_OAUTH_DEVICE_AUTHORIZATION) {
		struct mo_oauth_device d;

		if (mo_oauth_parse_device_response(r, c->account, &d, &err)) {
			scrub_error(c, &err);
			c->dcb(NULL, &err, c->user_data);
		} else {
			c->dcb(&d, NULL, c->user_data);
		}
		mo_oauth_device_clear(&d);
	} else {
		struct mo_oauth_tokens t;

		if (mo_oauth_parse_token_response(r, c->grant, c->account, &t,
						  &err)) {
			scrub_error(c, &err);
			c->tcb(NULL, &err, c->user_data);
		} else {
			c->tcb(&t, NULL, c->user_data);
		}
		mo_oauth_tokens_clear(&t);
	}
	mo_oauth_error_clear(&err);
	call_free(c);
}

static gboolean early_done(gpointer ud)
{
	struct mo_oauth_call *c = ud;

	g_source_unref(c->idle);
	c->idle = NULL;
	c->in_cb = true;
	if (c->dcb)
		c->dcb(NULL, &c->early, c->user_data);
	else
		c->tcb(NULL, &c->early, c->user_data);
	call_free(c);
	return G_SOURCE_REMOVE;
}

/* fail_later - report a local failure (always CONFIG) from the loop */
static struct mo_oauth_call *fail_later(struct mo_oauth_call *c,
					const char *what)
{
	GString *m = g_string_new(NULL);
	char *a = scrub(c->account, strlen(c->account), MO_ACCOUNT_MAX);

	g_string_append_printf(m, "account '%s': %s", a ? a : "ACCOUNT", what);
	g_free(a);
	mo_oauth_error_clear(&c->early);
	c->early.reason = "a local problem; nothing was sent";
	finish(&c->early, MO_OAUTH_CONFIG, m);
	c->idle = g_idle_source_new();
	g_source_set_callback(c->idle, early_done, c, NULL);
	g_source_attach(c->idle, mo_http_context(c->http));
	return c;
}

static struct mo_oauth_call *call_new(struct mo_http *http,
				      const struct mo_oauth_client *client,
				      enum mo_oauth_grant grant,
				      mo_oauth_token_cb tcb,
				      mo_oauth_device_cb dcb, void *ud)
{
	struct mo_oauth_call *c = g_new0(struct mo_oauth_call, 1);

	c->http = http;
	c->grant = grant;
	c->account = g_strdup(client->account ? client->account : "?");
	c->tcb = tcb;
	c->dcb = dcb;
	c->user_data = ud;
	mo_oauth_error_clear(&c->early);
	return c;
}

struct form {
	struct mo_http_field f[MAX_FIELDS];
	size_t n;
	char *assertion;	/* owned, secret */
};

static void add(struct form *f, const char *name, const char *value,
		bool secret)
{
	if (value && f->n < MAX_FIELDS)
		f->f[f->n++] = (struct mo_http_field){name, value, secret};
}

/*
 * client_auth - client_secret when there is one, else a JWT assertion
 * when there is a certificate; REQUIRED: one of them must be there.
 * Returns NULL or a sentence saying what is wrong.
 */
static const char *client_auth(struct mo_oauth_call *c, struct form *f,
			       const struct mo_oauth_client *cl, bool required,
			       char **why)
{
	GError *e = NULL;

	if (cl->client_secret && *cl->client_secret) {
		add(f, "client_secret", cl->client_secret, true);
		note_secret(c, cl->client_secret);
		return NULL;
	}
	if (cl->cert_pem && cl->key_pem) {
		if (mo_jwt_client_assertion(cl->client_id, cl->token_endpoint,
					    cl->cert_pem, cl->key_pem,
					    cl->key_passphrase, &f->assertion,
					    &e) < 0) {
			*why = g_strdup_printf("the client assertion could "
					       "not be made: %s; fix cert "
					       "and key", e->message);
			g_error_free(e);
			return *why;
		}
		add(f, "client_assertion_type",
		    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
		    false);
		add(f, "client_assertion", f->assertion, true);
		note_secret(c, f->assertion);
		return NULL;
	}
	if (required)
		return "client credentials need a client secret or a "
		       "certificate and key: store one with 'mailoauth login'";
	return NULL;
}

static struct mo_oauth_call *send_form(struct mo_oauth_call *c,
				       const struct mo_oauth_client *cl,
				       const char *url, struct form *f)
{
	struct mo_http_request req = {
		.url = url,
		.fields = f->f,
		.n_fields = f->n,
		.ca_file = cl->ca_file,
		.timeout_ms = cl->timeout_ms,
		.max_body = MO_OAUTH_MAX_BODY,
	};

	c->hc = mo_http_post_form(c->http, &req, http_done, c);
	mo_oauth_secret_free(f->assertion);
	f->assertion = NULL;
	return c;
}

/* bad_args - arguments no call can start with (the calls return NULL) */
static bool bad_args(struct mo_http *http, const struct mo_oauth_client *cl,
		     const void *cb)
{
	return !http || !cl || !cb;
}

struct mo_oauth_call *mo_oauth_refresh(struct mo_http *http,
				       const struct mo_oauth_client *cl,
				       const char *refresh_token,
				       mo_oauth_token_cb cb, void *ud)
{
	struct mo_oauth_call *c;
	struct form f = {0};
	char *why = NULL;
	const char *bad;

	if (bad_args(http, cl, (const void *)cb))
		return NULL;
	c = call_new(http, cl, MO_OAUTH_GRANT_REFRESH, cb, NULL, ud);
	if (!cl->token_endpoint || !cl->client_id)
		return fail_later(c, "token_endpoint and client_id are "
				  "needed to refresh a token");
	if (!refresh_token || !*refresh_token)
		return fail_later(c, "there is no refresh token: run "
				  "'mailoauth login'");
	add(&f, "grant_type", "refresh_token", false);
	add(&f, "client_id", cl->client_id, false);
	add(&f, "refresh_token", refresh_token, true);
	note_secret(c, refresh_token);
	add(&f, "scope", cl->scopes, false);
	if ((bad = client_auth(c, &f, cl, false, &why))) {
		fail_later(c, bad);
		g_free(why);
		return c;
	}
	return send_form(c, cl, cl->token_endpoint, &f);
}

struct mo_oauth_call *mo_oauth_client_credentials(
	struct mo_http *http, const struct mo_oauth_client *cl,
	mo_oauth_token_cb cb, void *ud)
{
	struct mo_oauth_call *c;
	struct form f = {0};
	char *why = NULL;
	const char *bad;

	if (bad_args(http, cl, (const void *)cb))
		return NULL;
	c = call_new(http, cl, MO_OAUTH_GRANT_CLIENT_CREDENTIALS, cb, NULL,
		     ud);
	if (!cl->token_endpoint || !cl->client_id || !cl->scopes)
		return fail_later(c, "token_endpoint, client_id and scopes "
				  "are needed for client credentials");
	add(&f, "grant_type", "client_credentials", false);
	add(&f, "client_id", cl->client_id, false);
	add(&f, "scope", cl->scopes, false);
	if ((bad = client_auth(c, &f, cl, true, &why))) {
		fail_later(c, bad);
		g_free(why);
		return c;
	}
	return send_form(c, cl, cl->token_endpoint, &f);
}

struct mo_oauth_call *mo_oauth_device_start(struct mo_http *http,
					    const struct mo_oauth_client *cl,
					    mo_oauth_device_cb cb, void *ud)
{
	struct mo_oauth_call *c;
	struct form f = {0};

	if (bad_args(http, cl, (const void *)cb))
		return NULL;
	c = call_new(http, cl, MO_OAUTH_DEVICE_AUTHORIZATION, NULL, cb, ud);
	if (!cl->device_authorization_endpoint || !cl->client_id ||
	    !cl->scopes)
		return fail_later(c, "device_authorization_endpoint, "
				  "client_id and scopes are needed for the "
				  "device flow");
	add(&f, "client_id", cl->client_id, false);
	add(&f, "scope", cl->scopes, false);
	return send_form(c, cl, cl->device_authorization_endpoint, &f);
}

struct mo_oauth_call *mo_oauth_device_poll(struct mo_http *http,
					   const struct mo_oauth_client *cl,
					   const char *device_code,
					   mo_oauth_token_cb cb, void *ud)
{
	struct mo_oauth_call *c;
	struct form f = {0};
	char *why = NULL;
	const char *bad;

	if (bad_args(http, cl, (const void *)cb))
		return NULL;
	c = call_new(http, cl, MO_OAUTH_GRANT_DEVICE_CODE, cb, NULL, ud);
	if (!cl->token_endpoint || !cl->client_id || !device_code ||
	    !*device_code)
		return fail_later(c, "token_endpoint, client_id and a device "
				  "code are needed to poll");
	add(&f, "grant_type", "urn:ietf:params:oauth:grant-type:device_code",
	    false);
	add(&f, "client_id", cl->client_id, false);
	add(&f, "device_code", device_code, true);
	note_secret(c, device_code);
	/* Google's limited-input clients must send their secret */
	if ((bad = client_auth(c, &f, cl, false, &why))) {
		fail_later(c, bad);
		g_free(why);
		return c;
	}
	return send_form(c, cl, cl->token_endpoint, &f);
}

struct mo_oauth_call *mo_oauth_exchange_code(
	struct mo_http *http, const struct mo_oauth_client *cl,
	const char *code, const char *redirect_uri, const char *code_verifier,
	mo_oauth_token_cb cb, void *ud)
{
	struct mo_oauth_call *c;
	struct form f = {0};
	char *why = NULL;
	const char *bad;

	if (bad_args(http, cl, (const void *)cb))
		return NULL;
	c = call_new(http, cl, MO_OAUTH_GRANT_AUTH_CODE, cb, NULL, ud);
	if (!cl->token_endpoint || !cl->client_id || !code || !*code ||
	    !redirect_uri || !code_verifier)
		return fail_later(c, "token_endpoint, client_id, the code, "
				  "redirect_uri and code_verifier are needed "
				  "to redeem a code");
	add(&f, "grant_type", "authorization_code", false);
	add(&f, "client_id", cl->client_id, false);
	add(&f, "code", code, true);
	note_secret(c, code);
	add(&f, "redirect_uri", redirect_uri, false);
	add(&f, "code_verifier", code_verifier, true);
	note_secret(c, code_verifier);
	if ((bad = client_auth(c, &f, cl, false, &why))) {
		fail_later(c, bad);
		g_free(why);
		return c;
	}
	return send_form(c, cl, cl->token_endpoint, &f);
}

void mo_oauth_cancel(struct mo_oauth_call *c)
{
	if (!c || c->in_cb)
		return;
	call_free(c);
}
