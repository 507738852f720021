/* SPDX-License-Identifier: MIT */
/*
 * discovery.h - an identity provider's endpoints from its issuer URL
 *
 * A `generic` account may name only its `issuer`; the endpoints then come
 * from the provider's metadata (RFC 8414): ISSUER/.well-known/
 * oauth-authorization-server, falling back to ISSUER/.well-known/
 * openid-configuration (OpenID Connect Discovery), both fetched with
 * mo_http (HTTPS only except loopback, the account's ca_file, the body
 * capped at MO_HTTP_MAX_BODY).
 *
 * SECURITY
 *	The metadata's "issuer" must equal the configured issuer exactly
 *	(RFC 8414 section 3.3), and every endpoint must pass
 *	mo_http_url_check (https://, or http:// on a loopback host), so a
 *	tampered document cannot send grants elsewhere.
 *
 * DIAGNOSTICS
 *	Nothing here logs. Failures are GErrors (domain MO_DISCOVERY_ERROR)
 *	whose message names the account and the URL and says what to fix.
 */
#ifndef MAILOAUTH_DISCOVERY_H
#define MAILOAUTH_DISCOVERY_H

#include "config.h"
#include "http.h"

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#define MO_DISCOVERY_ERROR (mo_discovery_error_quark())
enum mo_discovery_error {
	MO_DISCOVERY_ERROR_TRANSIENT,	/* network, 5xx, 429: try again later */
	MO_DISCOVERY_ERROR_INVALID,	/* a document that cannot be used */
};
GQuark mo_discovery_error_quark(void);

/* the endpoints found; any may be NULL when the metadata has none */
struct mo_discovery {
	char *issuer;
	char *token_endpoint;
	char *device_authorization_endpoint;
	char *authorization_endpoint;
	char *revocation_endpoint;
};

void mo_discovery_clear(struct mo_discovery *d);	/* frees, zeroes */

/*
 * mo_discovery_parse - the metadata document BODY (LEN bytes) for ISSUER.
 * Pure (no I/O). Returns true and fills OUT, or false with ERROR (always
 * MO_DISCOVERY_ERROR_INVALID) and OUT empty; ERROR's message completes
 * "the metadata at URL ..." (e.g. "has no token_endpoint"): fetch adds
 * the account and the URL. token_endpoint is required; the others are
 * optional, and null counts as absent.
 */
bool mo_discovery_parse(const char *issuer, const char *body, size_t len,
			struct mo_discovery *out, GError **error);

/*
 * mo_discovery_apply - copy D's endpoints into account A where A has none
 * and clear A->needs_discovery. False with ERROR when A's flow needs an
 * endpoint that D lacks (device_authorization_endpoint for flow device,
 * authorization_endpoint for flow authcode).
 */
bool mo_discovery_apply(struct mo_account_config *a,
			const struct mo_discovery *d, GError **error);

/*
 * mo_discovery_urls - the well-known URLs where ISSUER's metadata may be,
 * in the order they are tried (discovery.c says which); NULL when ISSUER
 * is not a URL without query and fragment. g_strfreev the result.
 */
char **mo_discovery_urls(const char *issuer);

/*
 * mo_discovery_fetch - fetch and parse A's metadata asynchronously on
 * HTTP's main context; CB gets the result (D valid during the call only)
 * or an ERROR, always later from the main context. A URL answering 404
 * or 410 moves on to the next one (mo_discovery_urls). Returns NULL only
 * for NULL arguments. mo_discovery_cancel stops it without calling CB
 * (a no-op from inside CB, after which the call is gone).
 */
typedef void (*mo_discovery_cb)(const struct mo_discovery *d,
				const GError *error, void *user_data);
struct mo_discovery_call;
struct mo_discovery_call *mo_discovery_fetch(struct mo_http *http,
					     const struct mo_account_config *a,
					     mo_discovery_cb cb,
					     void *user_data);
void mo_discovery_cancel(struct mo_discovery_call *c);

/*
 * mo_discovery_resolve_sync - for the CLI: when A->needs_discovery, fetch
 * the metadata (own main context) and apply it. True when A now has its
 * endpoints (or never needed discovery).
 */
bool mo_discovery_resolve_sync(struct mo_account_config *a, GError **error);

#endif
