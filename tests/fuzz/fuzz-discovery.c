/* SPDX-License-Identifier: MIT */
/*
 * fuzz-discovery.c - libFuzzer target: an identity provider's metadata
 * document (mo_discovery_parse, mo_discovery_apply) and the well-known
 * URLs of an issuer (mo_discovery_urls)
 *
 * Input: byte 0 picks the configured issuer (bits 0-1) and the account's
 * flow (bits 2-3); the rest is the document. The same bytes, cut at the
 * first NUL, are also taken as an issuer for mo_discovery_urls.
 *
 * Checks: an accepted document names exactly the configured issuer and
 * has a token_endpoint; every endpoint it yields passes mo_http_url_check
 * (https://, or http:// on loopback); a refusal is INVALID with a message
 * of printable ASCII that stays short enough for one ERR line; apply
 * either fills what the flow needs or leaves the account untouched; the
 * well-known URLs start with the issuer's scheme and host.
 */
#include "discovery.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const issuers[] = {
	"https://idp.example.com",
	"https://idp.example.com/realms/mail",
	"http://127.0.0.1:8080/generic",
	"https://login.example.org/tenant/v2.0/",
};

static void check_text(const char *s, size_t max)
{
	if (!s || strlen(s) > max)
		abort();
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			abort();
}

static void check_url(const char *url)
{
	if (url && mo_http_url_check(url) != 0)
		abort();
}

static void check_apply(const struct mo_discovery *d, enum mo_flow flow,
			const char *issuer)
{
	struct mo_account_config a;
	GError *error = NULL;

	memset(&a, 0, sizeof(a));
	a.name = (char *)"fuzz";
	a.provider = MO_PROVIDER_GENERIC;
	a.flow = flow;
	a.issuer = (char *)issuer;
	a.needs_discovery = true;
	if (mo_discovery_apply(&a, d, &error)) {
		if (error || a.needs_discovery || !a.token_endpoint ||
		    (flow == MO_FLOW_DEVICE && !a.device_authorization_endpoint) ||
		    (flow == MO_FLOW_AUTHCODE && !a.authorization_endpoint))
			abort();
	} else {
		if (!error || !a.needs_discovery || a.token_endpoint ||
		    a.device_authorization_endpoint ||
		    a.authorization_endpoint || a.revocation_endpoint)
			abort();
		check_text(error->message, 480);
		g_error_free(error);
	}
	/* what apply filled in is shared (config.h): nothing to free */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *issuer;
	enum mo_flow flow;
	struct mo_discovery d;
	GError *error = NULL;
	char *text, **urls;

	if (size < 1)
		return 0;
	issuer = issuers[data[0] & 3];
	flow = (enum mo_flow)((data[0] >> 2) % 3);
	text = g_strndup((const char *)data + 1, size - 1);

	if (mo_discovery_parse(issuer, (const char *)data + 1, size - 1, &d,
			       &error)) {
		if (error || !d.issuer || strcmp(d.issuer, issuer) != 0 ||
		    !d.token_endpoint)
			abort();
		check_url(d.token_endpoint);
		check_url(d.device_authorization_endpoint);
		check_url(d.authorization_endpoint);
		check_url(d.revocation_endpoint);
		check_apply(&d, flow, issuer);
	} else {
		if (!g_error_matches(error, MO_DISCOVERY_ERROR,
				     MO_DISCOVERY_ERROR_INVALID) ||
		    d.issuer || d.token_endpoint ||
		    d.device_authorization_endpoint ||
		    d.authorization_endpoint || d.revocation_endpoint)
			abort();
		check_text(error->message, 400);
		g_error_free(error);
	}
	mo_discovery_clear(&d);

	urls = mo_discovery_urls(text);
	if (urls) {
		const char *sep = strstr(text, "://");
		size_t host = sep ? (size_t)(sep - text) + 3 : 0;
		guint n = g_strv_length(urls);

		host += strcspn(text + host, "/?#");
		if (!sep || (n != 2 && n != 4))
			abort();
		for (guint i = 0; i < n; i++)
			if (strncmp(urls[i], text, host) != 0 ||
			    !strstr(urls[i], "/.well-known/"))
				abort();
		g_strfreev(urls);
	}
	g_free(text);
	return 0;
}
