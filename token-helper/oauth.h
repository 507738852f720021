/* SPDX-License-Identifier: MIT */
/*
 * oauth.h - what mailoauthd and the CLI ask of an identity provider
 *
 * The token endpoint grants (refresh_token, client_credentials, the RFC
 * 8628 device_code grant, authorization_code with PKCE), the device
 * authorization request, parsing of their answers, and the one thing the
 * rest of the program needs from a failure: its class (what to do) and a
 * sentence saying so. Built on http.h; holds no state between calls.
 *
 * Failures are classified on, in this order: device-flow error strings
 * (authorization_pending, slow_down, authorization_declined,
 * expired_token, bad_verification_code; access_denied while polling),
 * transport errors (curl), Entra's integer error_codes (AADSTS), a
 * temporary HTTP status (408, 425, 429, 5xx), the OAuth "error" string,
 * then the remaining status. error_description is never classified on.
 *
 * SECURITY
 *	An access token is accepted only if it is an RFC 6750 b64token of at
 *	most MO_TOKEN_MAX bytes with token_type Bearer; anything else is an
 *	error and never served. Bodies are parsed only up to MO_OAUTH_MAX_BODY
 *	bytes and MO_OAUTH_MAX_DEPTH nesting, and jansson's allocations made
 *	while parsing are wiped when freed. Secrets handed back (tokens,
 *	device codes, assertions) must be released with the _clear functions
 *	or mo_oauth_secret_free(), which wipe. Error fields keep only
 *	sanitised printable ASCII: the error string, integer codes, trace and
 *	correlation IDs, and the first sentence of error_description (cut at
 *	CR/LF or "Trace ID", at most 200 bytes), in which any run of 40 or
 *	more token characters, and any secret the call sent, is replaced by
 *	"[redacted]". No message ever holds a token, secret or assertion.
 *
 * DIAGNOSTICS
 *	Nothing here logs. Parsers return 0 or -EPROTO with a filled struct
 *	mo_oauth_error; the asynchronous calls report through their callback;
 *	the JWT builder returns a negative errno and a GError. The daemon
 *	logs err->message and err->detail.
 */
#ifndef MAILOAUTH_OAUTH_H
#define MAILOAUTH_OAUTH_H

#include "config.h"
#include "http.h"
#include "proto.h"

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#define MO_OAUTH_MAX_BODY	MO_HTTP_MAX_BODY	/* 1 MiB */
#define MO_OAUTH_MAX_DEPTH	16	/* JSON nesting */
#define MO_OAUTH_MAX_CODES	8	/* error_codes kept */
#define MO_OAUTH_REFRESH_MAX	16384	/* a refresh token */
#define MO_OAUTH_DEFAULT_EXPIRES 3600	/* when expires_in is absent */
#define MO_OAUTH_MAX_EXPIRES	31536000L /* one year; longer is refused */
#define MO_OAUTH_SLOW_DOWN_STEP	5	/* RFC 8628: seconds added on slow_down */
#define MO_OAUTH_JWT_LIFETIME	600	/* client assertions: 10 minutes */

enum mo_oauth_class {
	MO_OAUTH_OK = 0,
	MO_OAUTH_TRANSIENT,	  /* retry later with back-off; keep the token */
	MO_OAUTH_LOGIN_REQUIRED,  /* the grant is gone: mailoauth login */
	MO_OAUTH_ADMIN_REQUIRED,  /* consent, policy, disabled user, ... */
	MO_OAUTH_CONFIG,	  /* the account's configuration is wrong */
	/* only from device polling (RFC 8628 section 3.5) */
	MO_OAUTH_DEVICE_PENDING,  /* poll again after interval */
	MO_OAUTH_DEVICE_SLOW_DOWN,/* add MO_OAUTH_SLOW_DOWN_STEP, poll again */
	MO_OAUTH_DEVICE_DECLINED, /* the user said no: stop */
	MO_OAUTH_DEVICE_EXPIRED,  /* the device code expired: start over */
	MO_OAUTH_DEVICE_BAD_CODE, /* unknown or used device code: start over */
	MO_OAUTH_CLASS_COUNT_
};

/* What was asked; it changes the wording of some sentences. */
enum mo_oauth_grant {
	MO_OAUTH_GRANT_REFRESH,
	MO_OAUTH_GRANT_CLIENT_CREDENTIALS,
	MO_OAUTH_GRANT_DEVICE_CODE,	/* polling */
	MO_OAUTH_GRANT_AUTH_CODE,
	MO_OAUTH_DEVICE_AUTHORIZATION,	/* the device authorization request */
};

/* A token endpoint's answer; strings are secret, release with _clear. */
struct mo_oauth_tokens {
	char *access_token;
	char *refresh_token;	/* NULL: none issued, keep the old one */
	char *scope;		/* NULL when absent or unusable */
	long expires_in;	/* seconds, 1..MO_OAUTH_MAX_EXPIRES */
};

/* A device authorization answer (RFC 8628 section 3.2). */
struct mo_oauth_device {
	char *device_code;		/* secret */
	char *user_code;
	char *verification_uri;		/* Google calls it verification_url */
	char *verification_uri_complete; /* NULL when absent */
	char *message;			/* Entra's instructions, or NULL */
	long expires_in;		/* seconds, default 900 */
	long interval;			/* seconds, 1..300, default 5 */
};

struct mo_oauth_error {
	enum mo_oauth_class cls;
	char *error;		/* the OAuth "error" string, or NULL */
	long codes[MO_OAUTH_MAX_CODES];	/* Entra error_codes (AADSTS) */
	size_t n_codes;
	long retry_after;	/* seconds, -1 if none */
	long http_status;	/* 0 when no HTTP answer */
	int curl_code;		/* 0 when the HTTP exchange completed */
	const char *reason;	/* static: what was wrong with the answer */
	char *trace_id;		/* NULL if absent */
	char *correlation_id;
	char *description;	/* sanitised first sentence, or NULL */
	char *message;		/* ONE sentence for the user, names the
				 * account and the code; never a secret */
	char *detail;		/* "error=.. codes=.. http=.. trace_id=.." */
};

/* The account as the daemon knows it; nothing here is kept after a call. */
struct mo_oauth_client {
	const char *account;		/* for messages */
	const char *client_id;
	const char *token_endpoint;
	const char *device_authorization_endpoint;
	const char *scopes;		/* space-separated, or NULL */
	const char *ca_file;		/* NULL: system CAs */
	const char *client_secret;	/* or NULL */
	const char *cert_pem;		/* client assertion certificate, or NULL */
	const char *key_pem;		/* its RSA private key, or NULL */
	const char *key_passphrase;	/* NULL: key_pem is not encrypted */
	long timeout_ms;		/* <= 0: MO_HTTP_TIMEOUT_MS */
};

/*
 * mo_oauth_client_init - OUT filled from account A's settings (name,
 * client_id, endpoints, scopes, ca_file); the credentials (client_secret,
 * cert_pem, key_pem) are left NULL for the caller. OUT points into A.
 */
void mo_oauth_client_init(struct mo_oauth_client *out,
			  const struct mo_account_config *a);

const char *mo_oauth_class_name(enum mo_oauth_class cls);	/* "login-required" */
/* mo_oauth_class_err - the protocol's ERR code for a class */
enum mo_err mo_oauth_class_err(enum mo_oauth_class cls);

void mo_oauth_tokens_clear(struct mo_oauth_tokens *t);	/* wipes; zeroes */
void mo_oauth_device_clear(struct mo_oauth_device *d);	/* wipes; zeroes */
void mo_oauth_error_clear(struct mo_oauth_error *err);	/* zeroes, cls OK */
void mo_oauth_secret_free(char *s);	/* wipe a string, then free; NULL ok */

/*
 * mo_oauth_code_class - the class of one AADSTS code, or -1 when the
 * code is not in the table (the table is in oauth.c)
 */
int mo_oauth_code_class(long code);

/*
 * mo_oauth_classify - set err->cls, err->message and err->detail from the
 * raw fields already in ERR (curl_code, http_status, error, codes,
 * retry_after, reason, trace_id, ...). Pure; ACCOUNT may be NULL.
 */
void mo_oauth_classify(struct mo_oauth_error *err, enum mo_oauth_grant grant,
		       const char *account);

/*
 * mo_oauth_parse_token_response - the answer of a token endpoint
 *
 * Fills OUT and returns 0 for a usable answer; otherwise leaves OUT
 * empty, fills and classifies ERR and returns -EPROTO. ERR is always
 * initialised (cls MO_OAUTH_OK on success). Pure: no I/O, no clock.
 */
int mo_oauth_parse_token_response(const struct mo_http_response *r,
				  enum mo_oauth_grant grant,
				  const char *account,
				  struct mo_oauth_tokens *out,
				  struct mo_oauth_error *err);

/* mo_oauth_parse_device_response - the same for a device authorization */
int mo_oauth_parse_device_response(const struct mo_http_response *r,
				   const char *account,
				   struct mo_oauth_device *out,
				   struct mo_oauth_error *err);

/*
 * mo_jwt_client_assertion - a signed RFC 7523 client assertion for
 * certificate credentials: header {"alg":"RS256","typ":"JWT","x5t":
 * SHA-1, "x5t#S256": SHA-256 thumbprint of CERT_PEM's DER}, claims aud
 * (AUDIENCE: the token endpoint), iss = sub = CLIENT_ID, jti (random
 * UUID), nbf = iat = now, exp = now + MO_OAUTH_JWT_LIFETIME.
 *
 * KEY_PEM must be an RSA key of at least 2048 bits that matches the
 * certificate; PASSPHRASE may be NULL. *OUT is a secret for its
 * lifetime: release it with mo_oauth_secret_free(). Returns 0, or
 * -EINVAL / -EKEYREJECTED / -EIO with ERROR set (MO_OAUTH_ERROR).
 */
int mo_jwt_client_assertion(const char *client_id, const char *audience,
			    const char *cert_pem, const char *key_pem,
			    const char *passphrase, char **out,
			    GError **error);

#define MO_OAUTH_ERROR (mo_oauth_error_quark())
GQuark mo_oauth_error_quark(void);
enum {
	MO_OAUTH_ERROR_CERT,		/* certificate unreadable */
	MO_OAUTH_ERROR_KEY,		/* key unreadable or wrong passphrase */
	MO_OAUTH_ERROR_KEY_TYPE,	/* not RSA, or too short */
	MO_OAUTH_ERROR_MISMATCH,	/* key does not match the certificate */
	MO_OAUTH_ERROR_FAILED,		/* signing failed */
};

/*
 * Asynchronous calls. Exactly one of TOKENS/DEVICE and ERR is non-NULL.
 * Both are valid during the callback only: it copies what it keeps (the
 * tokens are wiped and freed when it returns). Every failure, including
 * local ones (no endpoint, an unreadable key), arrives through the
 * callback from the main context, never from inside the starting call.
 * The handle is gone once the callback has run; cancelling it from
 * inside its own callback is a harmless no-op. The functions return NULL
 * only for NULL arguments.
 */
typedef void (*mo_oauth_token_cb)(const struct mo_oauth_tokens *tokens,
				  const struct mo_oauth_error *err,
				  void *user_data);
typedef void (*mo_oauth_device_cb)(const struct mo_oauth_device *device,
				   const struct mo_oauth_error *err,
				   void *user_data);
struct mo_oauth_call;

/* grant_type=refresh_token: client_id, refresh_token, scope, client auth */
struct mo_oauth_call *mo_oauth_refresh(struct mo_http *http,
				       const struct mo_oauth_client *client,
				       const char *refresh_token,
				       mo_oauth_token_cb cb, void *user_data);

/* grant_type=client_credentials: client_secret, else a JWT assertion */
struct mo_oauth_call *mo_oauth_client_credentials(
	struct mo_http *http, const struct mo_oauth_client *client,
	mo_oauth_token_cb cb, void *user_data);

/* the device authorization request: client_id, scope */
struct mo_oauth_call *mo_oauth_device_start(struct mo_http *http,
					    const struct mo_oauth_client *client,
					    mo_oauth_device_cb cb,
					    void *user_data);

/* one poll with the device_code grant; err->cls says what next */
struct mo_oauth_call *mo_oauth_device_poll(struct mo_http *http,
					   const struct mo_oauth_client *client,
					   const char *device_code,
					   mo_oauth_token_cb cb,
					   void *user_data);

/* grant_type=authorization_code with PKCE */
struct mo_oauth_call *mo_oauth_exchange_code(
	struct mo_http *http, const struct mo_oauth_client *client,
	const char *code, const char *redirect_uri, const char *code_verifier,
	mo_oauth_token_cb cb, void *user_data);

/* mo_oauth_cancel - stop; the callback is not called. NULL ok */
void mo_oauth_cancel(struct mo_oauth_call *c);

#endif
