/* SPDX-License-Identifier: MIT */
/*
 * http.c - libcurl multi interface on a GLib main context (see http.h)
 *
 * How the pieces meet:
 *	curl's socket callback	-> one GUnixFDSource per socket (sock_cb);
 *				   replaced when the wanted events change
 *	curl's timer callback	-> one timeout source (timer_cb); none
 *				   while curl has nothing to time
 *	either source firing	-> curl_multi_socket_action(), then
 *				   finished transfers are completed
 *	a call that fails before reaching curl (refused URL, bad options)
 *				-> an idle source that completes it, so the
 *				   callback never runs inside mo_http_post_form
 *				   or mo_http_get
 *
 * SECURITY
 *	See http.h. Secret-bearing buffers (request body, escaped fields,
 *	header list, response body) are wiped with explicit_bzero before they
 *	are freed; the response buffer grows by allocate-copy-wipe.
 *
 * DIAGNOSTICS
 *	No logging: results go to the caller's callback.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* explicit_bzero */
#endif
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct mo_http {
	GMainContext *ctx;
	CURLM *multi;
	GSource *timer;			/* curl's timeout, or NULL */
	struct mo_http_call *calls;	/* every live call, doubly linked */
	GHashTable *socks;		/* struct sock * set */
	unsigned in_flight;
	bool closing;
};

struct sock {
	struct mo_http *h;
	curl_socket_t fd;
	int what;			/* CURL_POLL_* now watched */
	GSource *src;
};

struct mo_http_call {
	struct mo_http *h;
	struct mo_http_call *prev, *next;
	CURL *easy;			/* NULL once finished */
	bool in_multi;
	bool in_cb;
	GSource *idle;			/* pending early failure */
	struct curl_slist *headers;
	char *form;			/* secret: wiped */
	size_t form_len;
	char *body;			/* secret: wiped */
	size_t len, cap, max_body;
	bool truncated;
	mo_http_cb cb;
	void *user_data;
	int early_code;			/* for the idle path */
	char early_error[256];
	char errbuf[CURL_ERROR_SIZE];
};

static void wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

void mo_http_wipe_free(char *s)
{
	if (s) {
		wipe(s, strlen(s));
		g_free(s);
	}
}

/* ------------------------------------------------------------ pure helpers */

bool mo_http_host_is_loopback(const char *host)
{
	char buf[INET6_ADDRSTRLEN + 8];
	unsigned char addr[16];
	size_t n;

	if (!host || !*host)
		return false;
	if (g_ascii_strcasecmp(host, "localhost") == 0 ||
	    g_ascii_strcasecmp(host, "localhost.") == 0)
		return true;
	n = strlen(host);
	if (host[0] == '[') {
		if (n < 3 || host[n - 1] != ']' || n - 2 >= sizeof(buf))
			return false;
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
	} else {
		if (n >= sizeof(buf))
			return false;
		memcpy(buf, host, n + 1);
	}
	if (inet_pton(AF_INET, buf, addr) == 1)
		return addr[0] == 127;
	if (inet_pton(AF_INET6, buf, addr) == 1) {
		static const unsigned char one[16] = {[15] = 1};
		static const unsigned char v4mapped[12] = {
			[10] = 0xff, [11] = 0xff};

		if (memcmp(addr, one, 16) == 0)
			return true;
		return memcmp(addr, v4mapped, 12) == 0 && addr[12] == 127;
	}
	return false;
}

int mo_http_url_check(const char *url)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	int r = 0;

	if (!url || !*url || strlen(url) > 8192)
		return -EINVAL;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return -EINVAL;
	u = curl_url();
	if (!u)
		return -ENOMEM;
	/* no CURLU_GUESS_SCHEME: "example.com/token" is not a URL here */
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    !host || !*host) {
		r = -EINVAL;
		goto out;
	}
	if (g_ascii_strcasecmp(scheme, "https") == 0)
		r = 0;
	else if (g_ascii_strcasecmp(scheme, "http") == 0)
		r = mo_http_host_is_loopback(host) ? 0 : -EPERM;
	else
		r = -EPROTONOSUPPORT;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

long mo_http_retry_after_parse(const char *value, time_t now)
{
	const char *p;
	long v = 0;
	time_t t;

	if (!value)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (!*value)
		return -1;
	if (g_ascii_isdigit(*value)) {
		for (p = value; g_ascii_isdigit(*p); p++)
			if (v < MO_HTTP_RETRY_AFTER_MAX)
				v = v * 10 + (*p - '0');
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p)
			return -1;
		return v > MO_HTTP_RETRY_AFTER_MAX ? MO_HTTP_RETRY_AFTER_MAX : v;
	}
	t = curl_getdate(value, NULL);
	if (t == (time_t)-1)
		return -1;
	if (t <= now)
		return 0;
	if (t - now > MO_HTTP_RETRY_AFTER_MAX)
		return MO_HTTP_RETRY_AFTER_MAX;
	return (long)(t - now);
}

char *mo_http_form_encode(const struct mo_http_field *fields, size_t n)
{
	char **esc;
	char *out = NULL, *p;
	size_t total = 0, i;

	if (n > 64)
		return NULL;
	esc = g_new0(char *, 2 * n + 1);
	for (i = 0; i < n; i++) {
		const char *parts[2] = {fields[i].name, fields[i].value};

		if (!parts[0] || !parts[1] || !*parts[0])
			goto out;
		for (int k = 0; k < 2; k++) {
			size_t len = strlen(parts[k]);

			if (len > MO_HTTP_MAX_FORM / 3)
				goto out;
			/* the handle argument is unused since curl 7.82 */
			esc[2 * i + k] = curl_easy_escape(NULL, parts[k],
							  (int)len);
			if (!esc[2 * i + k])
				goto out;
			total += strlen(esc[2 * i + k]) + 1;	/* '=' or '&' */
			if (total > MO_HTTP_MAX_FORM)
				goto out;
		}
	}
	out = p = g_malloc(total + 1);
	for (i = 0; i < 2 * n; i++) {
		size_t len = strlen(esc[i]);

		if (i)
			*p++ = i % 2 ? '=' : '&';
		memcpy(p, esc[i], len);
		p += len;
	}
	*p = '\0';
out:
	for (i = 0; i < 2 * n; i++)
		if (esc[i]) {
			wipe(esc[i], strlen(esc[i]));
			curl_free(esc[i]);
		}
	g_free(esc);
	return out;
}

/* ------------------------------------------------------------ call bodies */

static size_t write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
	struct mo_http_call *c = ud;
	size_t n = size * nmemb, take = n;

	if (c->len + n > c->max_body) {
		take = c->max_body - c->len;
		c->truncated = true;
	}
	if (c->len + take + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		char *nb;

		while (cap < c->len + take + 1)
			cap *= 2;
		if (cap > c->max_body + 1)
			cap = c->max_body + 1;
		nb = g_malloc(cap);
		if (c->len)
			memcpy(nb, c->body, c->len);
		wipe(c->body, c->cap);
		g_free(c->body);
		c->body = nb;
		c->cap = cap;
	}
	memcpy(c->body + c->len, data, take);
	c->len += take;
	c->body[c->len] = '\0';
	return c->truncated ? 0 : n;	/* 0 makes curl stop the transfer */
}

static void call_unlink(struct mo_http_call *c)
{
	struct mo_http *h = c->h;

	if (c->prev)
		c->prev->next = c->next;
	else if (h->calls == c)
		h->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	h->in_flight--;
}

/* call_free - release everything, wiping secrets; the call must be unlinked */
static void call_free(struct mo_http_call *c)
{
	struct mo_http *h = c->h;

	if (c->idle) {
		g_source_destroy(c->idle);
		g_source_unref(c->idle);
	}
	if (c->easy) {
		if (c->in_multi)
			curl_multi_remove_handle(h->multi, c->easy);
		curl_easy_cleanup(c->easy);
	}
	for (struct curl_slist *l = c->headers; l; l = l->next)
		wipe(l->data, strlen(l->data));
	curl_slist_free_all(c->headers);
	wipe(c->form, c->form_len);
	g_free(c->form);
	wipe(c->body, c->cap);
	g_free(c->body);
	wipe(c, sizeof(*c));
	g_free(c);
}

static void call_complete(struct mo_http_call *c, int code, const char *error)
{
	struct mo_http_response r;

	memset(&r, 0, sizeof(r));
	r.retry_after = -1;
	r.curl_code = code;
	if (c->easy) {
		struct curl_header *hd = NULL;
		char *ct = NULL;

		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r.status);
		if (curl_easy_header(c->easy, "Retry-After", 0, CURLH_HEADER,
				     -1, &hd) == CURLHE_OK && hd)
			r.retry_after = mo_http_retry_after_parse(hd->value,
								  time(NULL));
		if (curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ct) ==
		    CURLE_OK && ct)
			g_strlcpy(r.content_type, ct, sizeof(r.content_type));
		/* the request body is not needed any more: wipe it now */
		wipe(c->form, c->form_len);
		for (struct curl_slist *l = c->headers; l; l = l->next)
			wipe(l->data, strlen(l->data));
	}
	if (c->truncated) {
		r.curl_code = CURLE_FILESIZE_EXCEEDED;
		r.truncated = true;
		snprintf(r.error, sizeof(r.error),
			 "the response body is larger than %zu bytes",
			 c->max_body);
	} else if (code == CURLE_FILESIZE_EXCEEDED) {
		r.truncated = true;
		snprintf(r.error, sizeof(r.error),
			 "the response body is larger than %zu bytes",
			 c->max_body);
	} else if (code) {
		const char *e = error && *error ? error :
				curl_easy_strerror((CURLcode)code);

		g_strlcpy(r.error, e, sizeof(r.error));
	}
	for (char *p = r.error; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = ' ';
	r.body = c->body ? c->body : (char *)"";
	r.len = c->len;

	c->in_cb = true;
	c->cb(&r, c->user_data);
	call_free(c);
}

static void check_done(struct mo_http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		struct mo_http_call *c = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		if (!c)
			continue;
		int code = m->data.result;	/* m is invalid after removal */

		curl_multi_remove_handle(h->multi, c->easy);
		c->in_multi = false;
		call_unlink(c);
		call_complete(c, code, c->errbuf);
	}
}

/* ------------------------------------------------------------ curl <-> GLib */

static void sock_unwatch(struct sock *s)
{
	if (s->src) {
		g_source_destroy(s->src);
		g_source_unref(s->src);
		s->src = NULL;
	}
}

static gboolean fd_ready(gint fd, GIOCondition cond, gpointer ud)
{
	struct sock *s = ud;
	struct mo_http *h = s->h;	/* s may be freed by socket_action */
	int running, ev = 0;

	if (cond & (G_IO_IN | G_IO_HUP))
		ev |= CURL_CSELECT_IN;
	if (cond & G_IO_OUT)
		ev |= CURL_CSELECT_OUT;
	if (cond & (G_IO_ERR | G_IO_NVAL))
		ev |= CURL_CSELECT_ERR;
	curl_multi_socket_action(h->multi, fd, ev, &running);
	check_done(h);
	return G_SOURCE_CONTINUE;	/* removal goes through sock_cb */
}

static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
		   void *socketp)
{
	struct mo_http *h = userp;
	struct sock *s = socketp;
	GIOCondition cond = G_IO_ERR | G_IO_HUP;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			sock_unwatch(s);
			g_hash_table_remove(h->socks, s);
			g_free(s);
			curl_multi_assign(h->multi, fd, NULL);
		}
		return 0;
	}
	if (h->closing)
		return 0;
	if (!s) {
		s = g_new0(struct sock, 1);
		s->h = h;
		s->fd = fd;
		g_hash_table_add(h->socks, s);
		curl_multi_assign(h->multi, fd, s);
	} else if (s->what == what && s->src) {
		return 0;
	}
	sock_unwatch(s);
	s->what = what;
	if (what & CURL_POLL_IN)
		cond |= G_IO_IN;
	if (what & CURL_POLL_OUT)
		cond |= G_IO_OUT;
	s->src = g_unix_fd_source_new(fd, cond);
	g_source_set_callback(s->src, (GSourceFunc)(void (*)(void))fd_ready,
			      s, NULL);
	g_source_attach(s->src, h->ctx);
	return 0;
}

static gboolean timer_fired(gpointer ud)
{
	struct mo_http *h = ud;
	int running;

	/* curl may set a new timer from inside socket_action */
	if (h->timer) {
		g_source_unref(h->timer);
		h->timer = NULL;
	}
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
	return G_SOURCE_REMOVE;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct mo_http *h = userp;

	(void)multi;
	if (h->timer) {
		g_source_destroy(h->timer);
		g_source_unref(h->timer);
		h->timer = NULL;
	}
	if (timeout_ms < 0 || h->closing)
		return 0;
	h->timer = g_timeout_source_new(timeout_ms > G_MAXUINT ? G_MAXUINT :
					(guint)timeout_ms);
	g_source_set_callback(h->timer, timer_fired, h, NULL);
	g_source_attach(h->timer, h->ctx);
	return 0;
}

/* ------------------------------------------------------------ public */

static gsize curl_ready;

struct mo_http *mo_http_new(GMainContext *ctx)
{
	struct mo_http *h;

	if (g_once_init_enter(&curl_ready)) {
		/* not thread-safe in curl < 7.84: do it once, early */
		curl_global_init(CURL_GLOBAL_DEFAULT);
		g_once_init_leave(&curl_ready, 1);
	}
	h = g_new0(struct mo_http, 1);
	h->multi = curl_multi_init();
	if (!h->multi) {
		g_free(h);
		return NULL;
	}
	h->ctx = ctx ? g_main_context_ref(ctx) : g_main_context_ref(
		g_main_context_default());
	h->socks = g_hash_table_new(NULL, NULL);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 4L);
	return h;
}

GMainContext *mo_http_context(struct mo_http *h)
{
	return h->ctx;
}

unsigned mo_http_in_flight(const struct mo_http *h)
{
	return h ? h->in_flight : 0;
}

void mo_http_free(struct mo_http *h)
{
	GHashTableIter it;
	gpointer key;

	if (!h)
		return;
	h->closing = true;
	while (h->calls) {
		struct mo_http_call *c = h->calls;

		call_unlink(c);
		call_free(c);
	}
	curl_multi_cleanup(h->multi);
	g_hash_table_iter_init(&it, h->socks);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		sock_unwatch(key);
		g_free(key);
	}
	g_hash_table_destroy(h->socks);
	if (h->timer) {
		g_source_destroy(h->timer);
		g_source_unref(h->timer);
	}
	g_main_context_unref(h->ctx);
	g_free(h);
}

static gboolean early_fail(gpointer ud)
{
	struct mo_http_call *c = ud;

	g_source_unref(c->idle);
	c->idle = NULL;		/* returning REMOVE destroys it */
	call_unlink(c);
	call_complete(c, c->early_code, c->early_error);
	return G_SOURCE_REMOVE;
}

static struct mo_http_call *fail_later(struct mo_http_call *c, int code,
				       const char *fmt, const char *arg)
{
	if (c->easy) {
		curl_easy_cleanup(c->easy);
		c->easy = NULL;
	}
	c->early_code = code;
	snprintf(c->early_error, sizeof(c->early_error), fmt, arg);
	c->idle = g_idle_source_new();
	g_source_set_callback(c->idle, early_fail, c, NULL);
	g_source_attach(c->idle, c->h->ctx);
	return c;
}

/* url_host - the host of URL for messages (a fresh string, or "?") */
static char *url_host(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *out;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host)
		out = g_strdup(host);
	else
		out = g_strdup("?");
	curl_free(host);
	curl_url_cleanup(u);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	if (strlen(out) > 100)
		out[100] = '\0';
	return out;
}

enum call_kind { CALL_GET, CALL_FORM, CALL_BODY };

/* call_start - a POST of a form or of a raw body, or a GET (no fields) */
static struct mo_http_call *call_start(struct mo_http *h,
				       const struct mo_http_request *req,
				       enum call_kind kind, mo_http_cb cb,
				       void *user_data)
{
	bool post = kind != CALL_GET;
	struct mo_http_call *c;
	long timeout;
	int r;

	if (!h || !req || !cb)
		return NULL;
	c = g_new0(struct mo_http_call, 1);
	c->h = h;
	c->cb = cb;
	c->user_data = user_data;
	c->max_body = req->max_body ? req->max_body : MO_HTTP_MAX_BODY;
	c->next = h->calls;
	if (h->calls)
		h->calls->prev = c;
	h->calls = c;
	h->in_flight++;

	r = mo_http_url_check(req->url);
	if (r == -EPERM) {
		char *host = url_host(req->url);

		fail_later(c, CURLE_UNSUPPORTED_PROTOCOL,
			   "refusing plain http:// to %s, which is not a "
			   "loopback host: use https://", host);
		g_free(host);
		return c;
	}
	if (r == -EPROTONOSUPPORT)
		return fail_later(c, CURLE_UNSUPPORTED_PROTOCOL, "%s",
				  "only https:// URLs (http:// on loopback) "
				  "are allowed");
	if (r < 0)
		return fail_later(c, CURLE_URL_MALFORMAT, "%s",
				  "the URL is not a valid http(s) URL");

	if (kind == CALL_BODY) {
		if (req->n_fields || (!req->body && req->body_len) ||
		    req->body_len > MO_HTTP_MAX_RAW_BODY || !req->content_type)
			return fail_later(c, CURLE_BAD_FUNCTION_ARGUMENT, "%s",
					  "the request body is missing or too "
					  "large, or has no content type");
		for (const char *p = req->content_type; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				return fail_later(c, CURLE_BAD_FUNCTION_ARGUMENT,
						  "%s", "the content type has "
						  "invalid characters");
		c->form = g_malloc(req->body_len + 1);
		if (req->body_len)
			memcpy(c->form, req->body, req->body_len);
		c->form[req->body_len] = '\0';
		c->form_len = req->body_len;
	} else if (post) {
		c->form = mo_http_form_encode(req->fields, req->n_fields);
		if (!c->form)
			return fail_later(c, CURLE_BAD_FUNCTION_ARGUMENT, "%s",
					  "the form is empty-named or too large");
		c->form_len = strlen(c->form);
	} else if (req->n_fields) {
		return fail_later(c, CURLE_BAD_FUNCTION_ARGUMENT, "%s",
				  "a GET request carries no form fields");
	}

	c->headers = curl_slist_append(c->headers, "Accept: application/json");
	c->headers = curl_slist_append(c->headers, "Expect:");
	if (kind == CALL_BODY) {
		char *ct = g_strconcat("Content-Type: ", req->content_type, NULL);

		c->headers = curl_slist_append(c->headers, ct);
		g_free(ct);
	}
	if (req->bearer) {
		char *line;

		for (const char *p = req->bearer; *p; p++)
			if ((unsigned char)*p <= 0x20 ||
			    (unsigned char)*p >= 0x7f)
				return fail_later(c, CURLE_BAD_FUNCTION_ARGUMENT,
						  "%s", "the bearer token has "
						  "invalid characters");
		line = g_strconcat("Authorization: Bearer ", req->bearer, NULL);
		c->headers = curl_slist_append(c->headers, line);
		mo_http_wipe_free(line);
	}
	if (!c->headers)
		return fail_later(c, CURLE_OUT_OF_MEMORY, "%s", "out of memory");

	c->easy = curl_easy_init();
	if (!c->easy)
		return fail_later(c, CURLE_OUT_OF_MEMORY, "%s", "out of memory");
	timeout = req->timeout_ms > 0 ? req->timeout_ms : MO_HTTP_TIMEOUT_MS;

#define SET(opt, val) \
	if (curl_easy_setopt(c->easy, (opt), (val)) != CURLE_OK) \
		return fail_later(c, CURLE_NOT_BUILT_IN, \
				  "libcurl refused option %s", #opt)
	SET(CURLOPT_PRIVATE, (char *)c);
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_USERAGENT, MO_HTTP_USER_AGENT);
	SET(CURLOPT_HTTPHEADER, c->headers);
	if (post) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDS, c->form);	/* not copied: wiped by us */
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->form_len);
	} else {
		SET(CURLOPT_HTTPGET, 1L);
	}
	SET(CURLOPT_TIMEOUT_MS, timeout);
	SET(CURLOPT_CONNECTTIMEOUT_MS, timeout < MO_HTTP_CONNECT_TIMEOUT_MS ?
	    timeout : MO_HTTP_CONNECT_TIMEOUT_MS);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (req->ca_file)
		SET(CURLOPT_CAINFO, req->ca_file);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, c);
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
#undef SET

	if (curl_multi_add_handle(h->multi, c->easy) != CURLM_OK)
		return fail_later(c, CURLE_FAILED_INIT, "%s",
				  "libcurl refused the transfer");
	c->in_multi = true;
	return c;
}

struct mo_http_call *mo_http_post_form(struct mo_http *h,
				       const struct mo_http_request *req,
				       mo_http_cb cb, void *user_data)
{
	return call_start(h, req, CALL_FORM, cb, user_data);
}

struct mo_http_call *mo_http_post_body(struct mo_http *h,
				       const struct mo_http_request *req,
				       mo_http_cb cb, void *user_data)
{
	return call_start(h, req, CALL_BODY, cb, user_data);
}

struct mo_http_call *mo_http_get(struct mo_http *h,
				 const struct mo_http_request *req,
				 mo_http_cb cb, void *user_data)
{
	return call_start(h, req, CALL_GET, cb, user_data);
}

void mo_http_cancel(struct mo_http_call *c)
{
	if (!c || c->in_cb)
		return;
	call_unlink(c);
	call_free(c);
}
