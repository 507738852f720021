/* SPDX-License-Identifier: MIT */
/*
 * http.h - asynchronous HTTP form POSTs (and metadata GETs) for mailoauthd
 *	and the CLI
 *
 * libcurl's multi interface driven by a GLib main context: every socket
 * curl wants watched becomes a GUnixFDSource and curl's timer a timeout
 * source, both attached to the context given to mo_http_new(). No threads
 * of our own, no polling: when nothing is in flight nothing is scheduled.
 * One struct mo_http per program; it keeps connections for reuse.
 *
 * SECURITY
 *	Only http:// and https:// are spoken, redirects are never followed,
 *	and http:// is refused unless the host is a loopback address or
 *	"localhost" (checked here even though the config checks it too).
 *	TLS peer and host verification are always on; ca_file replaces the
 *	system CAs. The request body (it carries refresh tokens, client
 *	secrets, assertions) and our copies of every field and of the
 *	Authorization header are wiped once the transfer ends. The response
 *	body (it carries tokens) is wiped and freed right after the callback
 *	returns: a callback copies whatever it keeps. Buffers grow by
 *	copy-and-wipe, never realloc, and stop at max_body. libcurl's own
 *	internal buffers are outside our control and are not wiped.
 *	Proxy settings come from the environment as libcurl reads them
 *	(https_proxy, no_proxy).
 *
 * DIAGNOSTICS
 *	Nothing here logs. Every failure, including a refused URL, reaches
 *	the callback as a response with curl_code != 0 and a sentence in
 *	error[]; HTTP errors are responses with curl_code 0 and a status.
 */
#ifndef MAILOAUTH_HTTP_H
#define MAILOAUTH_HTTP_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define MO_HTTP_USER_AGENT       "mailoauth/0.1"
#define MO_HTTP_TIMEOUT_MS       30000L		/* whole request */
#define MO_HTTP_CONNECT_TIMEOUT_MS 10000L
#define MO_HTTP_MAX_BODY         (1024 * 1024)	/* response body cap */
#define MO_HTTP_MAX_FORM         (256 * 1024)	/* request body cap */
#define MO_HTTP_RETRY_AFTER_MAX  86400L		/* longer waits are capped */
#define MO_HTTP_MAX_RAW_BODY     (8 * 1024 * 1024)	/* mo_http_post_body cap */

struct mo_http;
struct mo_http_call;

/* One form field; values are URL-encoded here. */
struct mo_http_field {
	const char *name;
	const char *value;
	bool secret;		/* documentation: every copy is wiped anyway */
};

struct mo_http_request {
	const char *url;		/* https://, or http:// on loopback */
	const struct mo_http_field *fields;
	size_t n_fields;
	const char *ca_file;		/* NULL: the system CAs */
	long timeout_ms;		/* whole request; <= 0: MO_HTTP_TIMEOUT_MS */
	size_t max_body;		/* 0: MO_HTTP_MAX_BODY */
	const char *bearer;		/* optional Authorization: Bearer (secret) */
	/* mo_http_post_body only: the body as it is, and its media type */
	const char *body;		/* copied, and the copy wiped */
	size_t body_len;		/* at most MO_HTTP_MAX_RAW_BODY */
	const char *content_type;	/* e.g. "text/plain" */
};

struct mo_http_response {
	int curl_code;		/* CURLcode; 0 when an HTTP answer arrived */
	char error[256];	/* curl's or our sentence when curl_code != 0 */
	long status;		/* HTTP status, 0 when none arrived */
	char *body;		/* NUL-terminated (also on errors), wiped after cb */
	size_t len;
	bool truncated;		/* the body exceeded max_body and was cut;
				 * curl_code is then CURLE_FILESIZE_EXCEEDED */
	long retry_after;	/* seconds from Retry-After, -1 if none */
	char content_type[64];	/* "" when none */
};

/*
 * Called exactly once per call unless the call was cancelled first, always
 * from the main context (never from inside the starting call). R and its
 * body are valid only during the call. The handle is gone once the
 * callback runs; do not cancel it afterwards (cancelling it from inside
 * its own callback is a harmless no-op). The callback may start new calls
 * and cancel other ones, but must not free the struct mo_http.
 */
typedef void (*mo_http_cb)(const struct mo_http_response *r, void *user_data);

/* mo_http_new - NULL CTX means the global default context; NULL if curl fails */
struct mo_http *mo_http_new(GMainContext *ctx);

/* mo_http_free - cancel every call (no callbacks), close connections; NULL ok */
void mo_http_free(struct mo_http *h);

/* mo_http_context - the context the calls run in (never NULL) */
GMainContext *mo_http_context(struct mo_http *h);

/* mo_http_in_flight - the number of calls not yet completed or cancelled */
unsigned mo_http_in_flight(const struct mo_http *h);

/*
 * mo_http_post_form - start POSTing REQ's fields as
 * application/x-www-form-urlencoded to REQ->url
 *
 * REQ and everything it points to are copied before this returns. Returns
 * the call, or NULL only for NULL arguments. Every failure is reported
 * through CB later, from the main context.
 */
struct mo_http_call *mo_http_post_form(struct mo_http *h,
				       const struct mo_http_request *req,
				       mo_http_cb cb, void *user_data);

/*
 * mo_http_get - start a GET of REQ->url with "Accept: application/json"
 * (an identity provider's metadata). REQ->fields must be empty; url check,
 * ca_file, timeouts, max_body and bearer work as for mo_http_post_form,
 * and so does every failure: reported through CB, later.
 */
struct mo_http_call *mo_http_get(struct mo_http *h,
				 const struct mo_http_request *req,
				 mo_http_cb cb, void *user_data);

/*
 * mo_http_post_body - start POSTing REQ->body (REQ->body_len bytes, no
 * encoding) with "Content-Type: REQ->content_type" to REQ->url, e.g. a
 * base64 message to Microsoft Graph. REQ->fields must be empty; the rest
 * works as for mo_http_post_form. A body larger than MO_HTTP_MAX_RAW_BODY
 * or a content type with control characters fails through CB.
 */
struct mo_http_call *mo_http_post_body(struct mo_http *h,
				       const struct mo_http_request *req,
				       mo_http_cb cb, void *user_data);

/* mo_http_cancel - stop the call; its callback is not called. NULL ok */
void mo_http_cancel(struct mo_http_call *c);

/*
 * Pure helpers, exported for the unit tests and for config checks.
 */

/*
 * mo_http_url_check - 0 when URL may be used: http or https, a host, and
 * https unless the host is loopback (127.0.0.0/8, ::1, localhost).
 * Otherwise -EINVAL (not a URL), -EPROTONOSUPPORT (another scheme) or
 * -EPERM (http:// to a host that is not loopback).
 */
int mo_http_url_check(const char *url);

/* mo_http_host_is_loopback - "localhost", 127.x.y.z, ::1 or [::1] */
bool mo_http_host_is_loopback(const char *host);

/*
 * mo_http_retry_after_parse - a Retry-After value (delay-seconds or an
 * HTTP-date) as seconds from NOW: 0 for a past date, capped at
 * MO_HTTP_RETRY_AFTER_MAX, -1 when VALUE is NULL or unparseable.
 */
long mo_http_retry_after_parse(const char *value, time_t now);

/*
 * mo_http_form_encode - "n1=v1&n2=v2" with names and values percent-
 * encoded (RFC 3986 unreserved characters kept). Returns a string to
 * release with mo_http_wipe_free(), or NULL when the result would exceed
 * MO_HTTP_MAX_FORM bytes or a name or value is NULL.
 */
char *mo_http_form_encode(const struct mo_http_field *fields, size_t n);

/* mo_http_wipe_free - wipe a NUL-terminated string, then g_free it; NULL ok */
void mo_http_wipe_free(char *s);

#endif
