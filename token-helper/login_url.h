/* SPDX-License-Identifier: MIT */
/*
 * login_url.h - the pure parts of the authorization code flow
 *
 * PKCE (RFC 7636, S256 only), the random state, the authorization URL
 * with every value percent-encoded, and the three ways the answer comes
 * back: the request line the browser sends to the loopback listener, the
 * redirect address a user pastes (--remote), and the query string they
 * both carry. No I/O, no clock: login_authcode.c does that, the unit
 * tests (tests/unit/test-login.c) check this.
 *
 * SECURITY
 *	The code verifier and the authorization code are secrets: they are
 *	released with mo_oauth_secret_free / mo_redirect_clear, which wipe.
 *	Every input is bounded (MO_REDIRECT_MAX bytes); values are
 *	percent-decoded strictly (a bad escape or a NUL makes the whole input
 *	malformed), a parameter given twice is refused, and code and state
 *	must be printable ASCII without spaces. error and error_description
 *	keep only printable ASCII (anything else becomes '?'), so they can be
 *	shown on a terminal. The state is compared in constant time.
 *
 * DIAGNOSTICS
 *	Nothing here prints. Parsers return 0 or a negative errno whose
 *	meaning is given at each function; the caller words the sentence.
 */
#ifndef MAILOAUTH_LOGIN_URL_H
#define MAILOAUTH_LOGIN_URL_H

#include <stdbool.h>
#include <stddef.h>

#define MO_PKCE_VERIFIER_BYTES 48	/* random bytes: 64 base64url chars */
#define MO_STATE_BYTES	16		/* random bytes: 22 base64url chars */
#define MO_REDIRECT_MAX	8192		/* a request head or a pasted address */
#define MO_REDIRECT_DESC_MAX 300	/* error_description kept */

/* mo_b64url - unpadded base64url of N bytes of D (a new string) */
char *mo_b64url(const unsigned char *d, size_t n);

/*
 * mo_pkce_verifier_new - a fresh code verifier (OpenSSL RAND_bytes,
 * base64url, 43..128 characters); NULL when the RNG fails. Secret.
 */
char *mo_pkce_verifier_new(void);

/* mo_pkce_challenge - base64url(SHA-256(VERIFIER)), the S256 challenge */
char *mo_pkce_challenge(const char *verifier);

/* mo_login_state_new - a fresh random state; NULL when the RNG fails */
char *mo_login_state_new(void);

/* What goes into the authorization URL. */
struct mo_authcode_request {
	const char *endpoint;		/* authorization_endpoint */
	const char *client_id;
	const char *redirect_uri;	/* http://127.0.0.1:PORT/ */
	const char *scopes;		/* space-separated */
	const char *state;
	const char *challenge;
	const char *login_hint;		/* the account's user, or NULL */
	bool google;			/* + access_type=offline&prompt=consent */
};

/*
 * mo_authcode_url - ENDPOINT?client_id=..&response_type=code&
 * redirect_uri=..&scope=..&state=..&code_challenge=..&
 * code_challenge_method=S256[&login_hint=..][&access_type=offline&
 * prompt=consent], every value percent-encoded (RFC 3986 unreserved
 * characters kept); '&' instead of '?' when ENDPOINT has a query already.
 * NULL when a required member is NULL.
 */
char *mo_authcode_url(const struct mo_authcode_request *r);

/* What a redirect to the loopback address carries. */
struct mo_redirect {
	char *code;		/* secret; NULL when absent */
	char *state;
	char *error;		/* printable ASCII */
	char *error_description; /* printable ASCII, at most MO_REDIRECT_DESC_MAX */
};

/* mo_redirect_clear - wipe and free what R holds; zeroes it */
void mo_redirect_clear(struct mo_redirect *r);

/*
 * mo_redirect_parse_query - the query string QUERY (LEN bytes, without
 * '?', no fragment) into OUT. Returns 0 when it has a code or an error,
 * -ENOENT when it has neither, -EINVAL when it is malformed (bad escape,
 * NUL, a parameter twice, an unprintable code or state, too long). OUT is
 * empty unless 0 is returned.
 */
int mo_redirect_parse_query(const char *query, size_t len,
			    struct mo_redirect *out);

/*
 * mo_redirect_parse_request - the head of an HTTP request the browser
 * sent to the listener (BUF, LEN bytes; only its first line is read):
 * "GET /?code=..&state=.. HTTP/1.1". Returns 0 with OUT filled for a
 * redirect to "/" that has a code or an error; -ENOENT for another path
 * (favicon.ico) or "/" without them; -EOPNOTSUPP for a method other than
 * GET; -EINVAL for a malformed line or query.
 */
int mo_redirect_parse_request(const char *buf, size_t len,
			      struct mo_redirect *out);

/*
 * mo_redirect_parse_pasted - the address a user pasted after the browser
 * failed to load REDIRECT_URI?code=..: TEXT (surrounding white space
 * ignored) must start with REDIRECT_URI (scheme and host compared without
 * case; "http://" may be left out); a fragment is dropped. Returns 0 with
 * OUT filled; -EINVAL when TEXT is not an address under REDIRECT_URI or
 * its query is malformed; -ENOENT when it has neither code nor error.
 */
int mo_redirect_parse_pasted(const char *text, const char *redirect_uri,
			     struct mo_redirect *out);

/* mo_redirect_state_ok - does R carry exactly STATE (constant time)? */
bool mo_redirect_state_ok(const struct mo_redirect *r, const char *state);

#endif
