/* SPDX-License-Identifier: MIT */
/*
 * discovery.c - an identity provider's endpoints from its issuer (RFC 8414,
 * OpenID Connect Discovery 1.0); see discovery.h
 *
 * Where the metadata is looked for, in this order (each next URL only
 * after a 404 or 410 from the one before):
 *
 *	https://host/.well-known/oauth-authorization-server/path  RFC 8414 3.1
 *	https://host/path/.well-known/oauth-authorization-server  (path only)
 *	https://host/path/.well-known/openid-configuration        OIDC 4.1
 *	https://host/.well-known/openid-configuration/path        RFC 8414 5
 *							          (path only)
 *
 * Without a path the first and third are all there is. A trailing "/" of
 * the issuer's path is dropped before the well-known segment goes in.
 *
 * SECURITY
 *	See discovery.h. The documents are public and hold no secret; they
 *	are parsed with jansson (duplicate members refused, the body capped by
 *	mo_http at MO_HTTP_MAX_BODY). Redirects are not followed (mo_http).
 *	Text from a document reaches an error message only as printable
 *	ASCII, cut at SHOW_MAX bytes.
 *
 * DIAGNOSTICS
 *	No logging. Transport failures, 408/425/429/5xx are
 *	MO_DISCOVERY_ERROR_TRANSIENT; everything else (404 everywhere, another
 *	status, a document that is not JSON, names another issuer, lacks
 *	token_endpoint or has a refused endpoint URL) is
 *	MO_DISCOVERY_ERROR_INVALID: the configuration needs fixing.
 */
#include "discovery.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>

#define SHOW_MAX 160		/* bytes of a URL or value shown in a message */
#define URLS_MAX 4

G_DEFINE_QUARK(mo-discovery-error-quark, mo_discovery_error)

void mo_discovery_clear(struct mo_discovery *d)
{
	if (!d)
		return;
	g_free(d->issuer);
	g_free(d->token_endpoint);
	g_free(d->device_authorization_endpoint);
	g_free(d->authorization_endpoint);
	g_free(d->revocation_endpoint);
	memset(d, 0, sizeof(*d));
}

/* show - S (N bytes) fit for a message: printable ASCII, at most SHOW_MAX */
static char *show(const char *s, size_t n)
{
	GString *out = g_string_sized_new(MIN(n, SHOW_MAX) + 4);

	for (size_t i = 0; i < n && i < SHOW_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		g_string_append_c(out, c >= 0x20 && c < 0x7f ? (char)c : '?');
	}
	if (n > SHOW_MAX)
		g_string_append(out, "...");
	return g_string_free(out, FALSE);
}

static char *show_str(const char *s)
{
	return show(s, strlen(s));
}

/* ------------------------------------------------------------ parsing */

/*
 * endpoint - member KEY of ROOT into *OUT when it is a usable URL; absent
 * or null is fine (OUT stays NULL) unless REQUIRED
 */
static bool endpoint(json_t *root, const char *key, bool required,
		     char **out, GError **error)
{
	json_t *v = json_object_get(root, key);
	const char *s;
	size_t n;
	char *shown;
	int r;

	if (!v || json_is_null(v)) {
		if (!required)
			return true;
		g_set_error(error, MO_DISCOVERY_ERROR, MO_DISCOVERY_ERROR_INVALID,
			    "has no %s", key);
		return false;
	}
	if (!json_is_string(v)) {
		g_set_error(error, MO_DISCOVERY_ERROR, MO_DISCOVERY_ERROR_INVALID,
			    "has a %s that is not a string", key);
		return false;
	}
	s = json_string_value(v);
	n = json_string_length(v);
	r = strlen(s) != n ? -EINVAL : mo_http_url_check(s);
	if (r == 0) {
		*out = g_strdup(s);
		return true;
	}
	shown = show(s, n);
	g_set_error(error, MO_DISCOVERY_ERROR, MO_DISCOVERY_ERROR_INVALID,
		    "has a %s \"%s\" that %s", key, shown,
		    r == -EPERM ? "is plain http:// to a host that is not "
				  "loopback (only https:// is accepted)" :
		    r == -EPROTONOSUPPORT ? "is not an https:// URL" :
		    "is not a valid URL");
	g_free(shown);
	return false;
}

bool mo_discovery_parse(const char *issuer, const char *body, size_t len,
			struct mo_discovery *out, GError **error)
{
	json_error_t jerr;
	json_t *root = NULL, *iss;
	size_t i = 0;
	bool ok = false;

	memset(out, 0, sizeof(*out));
	if (!issuer || !body) {
		g_set_error(error, MO_DISCOVERY_ERROR, MO_DISCOVERY_ERROR_INVALID,
			    "is missing");
		return false;
	}
	while (i < len && body[i] && strchr(" \t\r\n", body[i]))
		i++;
	if (i == len) {
		g_set_error(error, MO_DISCOVERY_ERROR, MO_DISCOVERY_ERROR_INVALID,
			    "is empty");
		return false;
	}
	if (body[i] == '<') {
		g_set_error(error, MO_DISCOVERY_ERROR, MO_DISCOVERY_ERROR_INVALID,
			    "is an HTML page, not JSON metadata");
		return false;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		g_set_error(error, MO_DISCOVERY_ERROR, MO_DISCOVERY_ERROR_INVALID,
			    "is not valid JSON (line %d, column %d)", jerr.line,
			    jerr.column);
		return false;
	}
	if (!json_is_object(root)) {
		g_set_error(error, MO_DISCOVERY_ERROR, MO_DISCOVERY_ERROR_INVALID,
			    "is not a JSON object");
		goto out;
	}
	iss = json_object_get(root, "issuer");
	if (!json_is_string(iss)) {
		g_set_error(error, MO_DISCOVERY_ERROR, MO_DISCOVERY_ERROR_INVALID,
			    "has no issuer");
		goto out;
	}
	if (json_string_length(iss) != strlen(issuer) ||
	    memcmp(json_string_value(iss), issuer, strlen(issuer)) != 0) {
		/* RFC 8414 section 3.3: exactly, not after normalisation */
		char *got = show(json_string_value(iss), json_string_length(iss));
		char *want = show_str(issuer);

		g_set_error(error, MO_DISCOVERY_ERROR, MO_DISCOVERY_ERROR_INVALID,
			    "names issuer \"%s\", not the configured \"%s\" "
			    "(they must be equal)", got, want);
		g_free(got);
		g_free(want);
		goto out;
	}
	out->issuer = g_strdup(issuer);
	ok = endpoint(root, "token_endpoint", true, &out->token_endpoint, error) &&
	     endpoint(root, "device_authorization_endpoint", false,
		      &out->device_authorization_endpoint, error) &&
	     endpoint(root, "authorization_endpoint", false,
		      &out->authorization_endpoint, error) &&
	     endpoint(root, "revocation_endpoint", false,
		      &out->revocation_endpoint, error);
out:
	json_decref(root);
	if (!ok)
		mo_discovery_clear(out);
	return ok;
}

bool mo_discovery_apply(struct mo_account_config *a,
			const struct mo_discovery *d, GError **error)
{
	const char *missing = NULL;

	if (!a->token_endpoint && !d->token_endpoint)
		missing = "token_endpoint";
	else if (a->flow == MO_FLOW_DEVICE && !a->device_authorization_endpoint &&
		 !d->device_authorization_endpoint)
		missing = "device_authorization_endpoint";
	else if (a->flow == MO_FLOW_AUTHCODE && !a->authorization_endpoint &&
		 !d->authorization_endpoint)
		missing = "authorization_endpoint";
	if (missing) {
		char *iss = show_str(a->issuer ? a->issuer : "?");

		g_set_error(error, MO_DISCOVERY_ERROR, MO_DISCOVERY_ERROR_INVALID,
			    "account %s: the metadata of issuer %s has no %s, "
			    "which flow %s needs: choose another flow",
			    a->name, iss, missing, mo_flow_name(a->flow));
		g_free(iss);
		return false;
	}
#define TAKE(f) \
	if (!a->f && d->f) \
		a->f = mo_config_shared(d->f)
	TAKE(token_endpoint);
	TAKE(device_authorization_endpoint);
	TAKE(authorization_endpoint);
	TAKE(revocation_endpoint);
#undef TAKE
	a->needs_discovery = false;
	return true;
}

/* ------------------------------------------------------------ where */

char **mo_discovery_urls(const char *issuer)
{
	const char *sep, *auth, *path;
	char *base, *p;
	size_t plen;
	GPtrArray *urls;

	if (!issuer || !(sep = strstr(issuer, "://")))
		return NULL;
	auth = sep + 3;
	path = auth + strcspn(auth, "/?#");
	if (path == auth || *path == '?' || *path == '#' ||
	    strpbrk(path, "?#"))
		return NULL;	/* no host, or a query or fragment */
	base = g_strndup(issuer, (size_t)(path - issuer));
	plen = strlen(path);
	while (plen && path[plen - 1] == '/')
		plen--;
	p = g_strndup(path, plen);
	urls = g_ptr_array_new();
	g_ptr_array_add(urls, g_strconcat(base, "/.well-known/"
					  "oauth-authorization-server", p, NULL));
	if (*p)
		g_ptr_array_add(urls, g_strconcat(base, p, "/.well-known/"
						  "oauth-authorization-server",
						  NULL));
	g_ptr_array_add(urls, g_strconcat(base, p, "/.well-known/"
					  "openid-configuration", NULL));
	if (*p)
		g_ptr_array_add(urls, g_strconcat(base, "/.well-known/"
						  "openid-configuration", p,
						  NULL));
	g_ptr_array_add(urls, NULL);
	g_free(base);
	g_free(p);
	return (char **)g_ptr_array_free(urls, FALSE);
}

/* ------------------------------------------------------------ fetching */

struct mo_discovery_call {
	struct mo_http *http;
	struct mo_http_call *hc;	/* the GET in flight, or NULL */
	GSource *idle;			/* an early failure to deliver */
	char **urls;
	guint next;			/* index of the URL being fetched */
	char *issuer;			/* as configured: compared exactly */
	char *shown, *account;		/* for messages */
	char *ca_file;
	GError *early;
	bool in_cb;
	mo_discovery_cb cb;
	void *user_data;
};

static void call_free(struct mo_discovery_call *c)
{
	if (c->idle) {
		g_source_destroy(c->idle);
		g_source_unref(c->idle);
	}
	g_strfreev(c->urls);
	g_free(c->issuer);
	g_free(c->shown);
	g_free(c->account);
	g_free(c->ca_file);
	if (c->early)
		g_error_free(c->early);
	g_free(c);
}

/* finish - deliver D or ERROR to the caller, then free C */
static void finish(struct mo_discovery_call *c, const struct mo_discovery *d,
		   const GError *error)
{
	c->in_cb = true;
	c->cb(d, error, c->user_data);
	call_free(c);
}

static void fail(struct mo_discovery_call *c, enum mo_discovery_error code,
		 const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void fail(struct mo_discovery_call *c, enum mo_discovery_error code,
		 const char *fmt, ...)
{
	va_list ap;
	char *msg;
	GError *error;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	error = g_error_new_literal(MO_DISCOVERY_ERROR, (gint)code, msg);
	g_free(msg);
	finish(c, NULL, error);
	g_error_free(error);
}

static bool temporary_status(long s)
{
	return s == 408 || s == 425 || s == 429 || (s >= 500 && s <= 599);
}

static void fetch_next(struct mo_discovery_call *c);

static void on_response(const struct mo_http_response *r, void *ud)
{
	struct mo_discovery_call *c = ud;
	struct mo_discovery d;
	GError *error = NULL;
	char *url = show_str(c->urls[c->next]);

	c->hc = NULL;
	if (r->curl_code) {
		bool config = r->truncated ||
			      r->curl_code == CURLE_UNSUPPORTED_PROTOCOL ||
			      r->curl_code == CURLE_URL_MALFORMAT;

		fail(c, config ? MO_DISCOVERY_ERROR_INVALID :
				 MO_DISCOVERY_ERROR_TRANSIENT,
		     "account %s: cannot fetch the metadata of issuer %s from "
		     "%s: %s%s", c->account, c->shown, url, r->error,
		     config ? "; check issuer" : "");
	} else if (r->status == 404 || r->status == 410) {
		if (c->urls[c->next + 1]) {
			c->next++;
			fetch_next(c);
		} else {
			char *first = show_str(c->urls[0]);

			fail(c, MO_DISCOVERY_ERROR_INVALID,
			     "account %s: issuer %s publishes no metadata (%s "
			     "and %u other well-known URLs answered 404): check "
			     "issuer, or set token_endpoint instead",
			     c->account, c->shown, first, c->next);
			g_free(first);
		}
	} else if (temporary_status(r->status)) {
		fail(c, MO_DISCOVERY_ERROR_TRANSIENT,
		     "account %s: the metadata of issuer %s is not available "
		     "now (%s answered HTTP %ld)", c->account, c->shown, url,
		     r->status);
	} else if (r->status < 200 || r->status > 299) {
		fail(c, MO_DISCOVERY_ERROR_INVALID,
		     "account %s: %s answered HTTP %ld instead of the metadata "
		     "of issuer %s: check issuer", c->account, url, r->status,
		     c->shown);
	} else if (!mo_discovery_parse(c->issuer, r->body, r->len, &d, &error)) {
		fail(c, MO_DISCOVERY_ERROR_INVALID,
		     "account %s: the metadata at %s %s: check issuer or the "
		     "identity provider", c->account, url, error->message);
		g_error_free(error);
	} else {
		finish(c, &d, NULL);
		mo_discovery_clear(&d);
	}
	g_free(url);
}

static void fetch_next(struct mo_discovery_call *c)
{
	struct mo_http_request req = {
		.url = c->urls[c->next],
		.ca_file = c->ca_file,
	};

	c->hc = mo_http_get(c->http, &req, on_response, c);
}

static gboolean deliver_early(gpointer ud)
{
	struct mo_discovery_call *c = ud;
	GError *error = c->early;

	g_source_unref(c->idle);
	c->idle = NULL;		/* returning REMOVE destroys it */
	c->early = NULL;
	finish(c, NULL, error);
	g_error_free(error);
	return G_SOURCE_REMOVE;
}

struct mo_discovery_call *mo_discovery_fetch(struct mo_http *http,
					     const struct mo_account_config *a,
					     mo_discovery_cb cb,
					     void *user_data)
{
	struct mo_discovery_call *c;

	if (!http || !a || !cb)
		return NULL;
	c = g_new0(struct mo_discovery_call, 1);
	c->http = http;
	c->cb = cb;
	c->user_data = user_data;
	c->account = show_str(a->name ? a->name : "?");
	c->issuer = g_strdup(a->issuer);
	c->shown = show_str(a->issuer ? a->issuer : "(none)");
	c->ca_file = g_strdup(a->ca_file);
	c->urls = a->issuer ? mo_discovery_urls(a->issuer) : NULL;
	if (!c->urls) {
		c->early = g_error_new(MO_DISCOVERY_ERROR,
				       MO_DISCOVERY_ERROR_INVALID,
				       "account %s: issuer %s is not a URL "
				       "without query or fragment: check issuer",
				       c->account, c->shown);
		c->idle = g_idle_source_new();
		g_source_set_callback(c->idle, deliver_early, c, NULL);
		g_source_attach(c->idle, mo_http_context(http));
		return c;
	}
	fetch_next(c);
	return c;
}

void mo_discovery_cancel(struct mo_discovery_call *c)
{
	if (!c || c->in_cb)
		return;
	mo_http_cancel(c->hc);
	call_free(c);
}

/* ------------------------------------------------------------ for the CLI */

struct sync_result {
	bool done;
	struct mo_discovery d;
	GError *error;
};

static void on_sync(const struct mo_discovery *d, const GError *error,
		    void *ud)
{
	struct sync_result *res = ud;

	res->done = true;
	if (error) {
		res->error = g_error_copy(error);
		return;
	}
	res->d.issuer = g_strdup(d->issuer);
	res->d.token_endpoint = g_strdup(d->token_endpoint);
	res->d.device_authorization_endpoint =
		g_strdup(d->device_authorization_endpoint);
	res->d.authorization_endpoint = g_strdup(d->authorization_endpoint);
	res->d.revocation_endpoint = g_strdup(d->revocation_endpoint);
}

bool mo_discovery_resolve_sync(struct mo_account_config *a, GError **error)
{
	GMainContext *ctx;
	struct mo_http *http;
	struct sync_result res = {0};
	bool ok = false;

	if (!a->needs_discovery)
		return true;
	ctx = g_main_context_new();
	g_main_context_push_thread_default(ctx);
	http = mo_http_new(ctx);
	if (!http) {
		g_set_error(error, MO_DISCOVERY_ERROR,
			    MO_DISCOVERY_ERROR_TRANSIENT,
			    "account %s: libcurl cannot be initialised",
			    a->name);
		goto out;
	}
	mo_discovery_fetch(http, a, on_sync, &res);
	while (!res.done)
		g_main_context_iteration(ctx, TRUE);
	if (res.error)
		g_propagate_error(error, res.error);
	else
		ok = mo_discovery_apply(a, &res.d, error);
	mo_discovery_clear(&res.d);
	mo_http_free(http);
out:
	g_main_context_pop_thread_default(ctx);
	g_main_context_unref(ctx);
	return ok;
}
