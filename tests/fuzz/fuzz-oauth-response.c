/* SPDX-License-Identifier: MIT */
/*
 * fuzz-oauth-response.c - libFuzzer target: what an identity provider
 * answers (mo_oauth_parse_token_response, mo_oauth_parse_device_response)
 *
 * Input: byte 0 picks the grant (bits 0-2; 5 and up: the device
 * authorization parser) and bit 7 a text/html Content-Type; byte 1 the
 * HTTP status; byte 2 the curl code (mostly 0); byte 3 Retry-After; the
 * rest is the body.
 *
 * Checks: a served access token is a b64token of at most MO_TOKEN_MAX
 * bytes with a sane lifetime; an error always has a class, a message of
 * printable ASCII shorter than MO_TEXT_MAX, and no field with a run of 40
 * or more token characters (other than a GUID), so nothing token-like
 * from the body reaches a log line.
 */
#include "oauth.h"
#include "saslmsg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const long statuses[] = {200, 200, 200, 201, 204, 302, 400, 400, 401,
				403, 404, 407, 408, 428, 429, 500, 502, 503,
				0};
static const int curl_codes[] = {6, 7, 18, 28, 35, 52, 56, 60, 63, 77, 1};

static bool tokchar(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || (c && strchr("-._~+=", c));
}

static void check_text(const char *s, bool runs)
{
	size_t run = 0;

	if (!s)
		return;
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			abort();
		run = tokchar(*p) ? run + 1 : 0;
		if (runs && run >= 40)
			abort();
	}
}

static void check_error(const struct mo_oauth_error *e)
{
	if (e->cls == MO_OAUTH_OK || e->cls >= MO_OAUTH_CLASS_COUNT_ ||
	    !e->message || !e->detail || strlen(e->message) >= MO_TEXT_MAX ||
	    e->n_codes > MO_OAUTH_MAX_CODES)
		abort();
	check_text(e->message, false);
	check_text(e->detail, false);
	check_text(e->error, true);
	check_text(e->description, true);
	check_text(e->trace_id, true);
	check_text(e->correlation_id, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mo_http_response r;
	struct mo_oauth_error err;
	char *body;

	if (size < 4)
		return 0;
	memset(&r, 0, sizeof(r));
	body = malloc(size - 4 + 1);
	memcpy(body, data + 4, size - 4);
	body[size - 4] = '\0';
	r.body = body;
	r.len = size - 4;
	r.status = statuses[data[1] % (sizeof(statuses) / sizeof(statuses[0]))];
	if (data[2] >= 240) {
		r.curl_code = curl_codes[data[2] % (sizeof(curl_codes) /
						    sizeof(curl_codes[0]))];
		memcpy(r.error, body, r.len < 255 ? r.len : 255);
	}
	r.retry_after = data[3] == 255 ? -1 : data[3];
	if (data[0] & 0x80)
		strcpy(r.content_type, "text/html; charset=utf-8");

	if ((data[0] & 7) >= 5) {
		struct mo_oauth_device d;

		if (mo_oauth_parse_device_response(&r, "fuzz", &d, &err) == 0) {
			if (!d.device_code || !d.user_code ||
			    !d.verification_uri || d.interval < 1 ||
			    d.interval > 300 || d.expires_in < 1)
				abort();
			check_text(d.message, false);
		} else {
			check_error(&err);
		}
		mo_oauth_device_clear(&d);
	} else {
		struct mo_oauth_tokens t;

		if (mo_oauth_parse_token_response(&r, (enum mo_oauth_grant)
						  (data[0] & 7), "fuzz", &t,
						  &err) == 0) {
			size_t n = strlen(t.access_token);

			if (n > MO_TOKEN_MAX ||
			    !mo_token_valid(t.access_token, n) ||
			    t.expires_in < 1 ||
			    t.expires_in > MO_OAUTH_MAX_EXPIRES ||
			    err.cls != MO_OAUTH_OK || err.message)
				abort();
			if (t.refresh_token)
				check_text(t.refresh_token, false);
		} else {
			check_error(&err);
		}
		mo_oauth_tokens_clear(&t);
	}
	mo_oauth_error_clear(&err);
	free(body);
	return 0;
}
