/* SPDX-License-Identifier: MIT */
/*
 * oauth-tool.c - drive token-helper/oauth.c and http.c from the shell
 *
 * SYNOPSIS
 *	oauth-tool COMMAND [options]
 *
 *	refresh			--token-endpoint --client-id --refresh-token-file
 *	client-credentials	--token-endpoint --client-id --scope
 *				(--secret-file | --cert --key)
 *	device-start		--device-endpoint --client-id --scope
 *				--device-code-file (written)
 *	device-poll		--token-endpoint --client-id --device-code-file
 *	exchange-code		--token-endpoint --client-id --code-file
 *				--redirect-uri --verifier-file
 *	jwt			--client-id --audience --cert --key
 *
 *	common: --account NAME --scope S --ca-file F --secret-file F
 *		--cert F --key F --timeout-ms N --out-dir DIR
 *		--parallel N (start N identical calls at once)
 *		--cancel-after-ms N (cancel the calls then; expect no answer)
 *
 * DESCRIPTION
 *	For tests/e2e/test-oauth-idp.sh. Runs one flow step against an
 *	identity provider on a private GMainContext and prints key=value
 *	lines: result (ok, error, cancelled), class, and either token facts
 *	(lengths, expires_in, whether a refresh token came back) or the
 *	error's fields, message and detail. Tokens are written to files in
 *	--out-dir (mode 0600), never printed. Finally "idle_timeout" tells
 *	whether any timer was left in the context (-1: none).
 *
 *	Exit status: 0 when every call succeeded, 2 when one failed (the
 *	output says how), 1 for usage or local errors.
 *
 * SECURITY
 *	Test tool. Secrets are read from files, never from argv.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "http.h"
#include "oauth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static GMainLoop *loop;
static unsigned outstanding;
static int status;
static const char *out_dir;
static const char *device_code_file;

static char *slurp(const char *path)
{
	char *s = NULL;
	GError *e = NULL;

	if (!path)
		return NULL;
	if (!g_file_get_contents(path, &s, NULL, &e)) {
		fprintf(stderr, "oauth-tool: %s\n", e->message);
		exit(1);
	}
	g_strchomp(s);
	return s;
}

static void write_secret(const char *dir, const char *name, const char *v)
{
	char *path;
	int fd;

	if (!dir || !v)
		return;
	path = g_build_filename(dir, name, NULL);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, v, strlen(v)) != (ssize_t)strlen(v)) {
		fprintf(stderr, "oauth-tool: cannot write %s\n", path);
		exit(1);
	}
	close(fd);
	g_free(path);
}

static void print_error(const struct mo_oauth_error *err)
{
	printf("result=error\nclass=%s\n", mo_oauth_class_name(err->cls));
	printf("http=%ld\ncurl=%d\nretry_after=%ld\n", err->http_status,
	       err->curl_code, err->retry_after);
	printf("error=%s\n", err->error ? err->error : "");
	printf("codes=");
	for (size_t i = 0; i < err->n_codes; i++)
		printf("%s%ld", i ? "," : "", err->codes[i]);
	printf("\ntrace_id=%s\n", err->trace_id ? err->trace_id : "");
	printf("message=%s\ndetail=%s\n", err->message, err->detail);
	status = 2;
}

static void one_done(void)
{
	fflush(stdout);
	if (--outstanding == 0)
		g_main_loop_quit(loop);
}

static void token_done(const struct mo_oauth_tokens *t,
		       const struct mo_oauth_error *err, void *ud)
{
	(void)ud;
	if (err) {
		print_error(err);
	} else {
		printf("result=ok\nclass=ok\nexpires_in=%ld\n", t->expires_in);
		printf("access_token_len=%zu\n", strlen(t->access_token));
		printf("refresh_token=%s\n", t->refresh_token ? "new" : "none");
		printf("scope=%s\n", t->scope ? t->scope : "");
		write_secret(out_dir, "access_token", t->access_token);
		write_secret(out_dir, "refresh_token", t->refresh_token);
	}
	one_done();
}

static void device_done(const struct mo_oauth_device *d,
			const struct mo_oauth_error *err, void *ud)
{
	(void)ud;
	if (err) {
		print_error(err);
	} else {
		printf("result=ok\nclass=ok\nuser_code=%s\n", d->user_code);
		printf("verification_uri=%s\n", d->verification_uri);
		printf("expires_in=%ld\ninterval=%ld\n", d->expires_in,
		       d->interval);
		printf("message=%s\n", d->message ? d->message : "");
		if (device_code_file) {
			char *dir = g_path_get_dirname(device_code_file);
			char *base = g_path_get_basename(device_code_file);

			write_secret(dir, base, d->device_code);
			g_free(dir);
			g_free(base);
		}
	}
	one_done();
}

static struct mo_oauth_call **calls;
static unsigned n_calls;

static gboolean cancel_all(gpointer ud)
{
	(void)ud;
	for (unsigned i = 0; i < n_calls; i++)
		mo_oauth_cancel(calls[i]);
	printf("result=cancelled\n");
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

static gboolean watchdog(gpointer ud)
{
	(void)ud;
	printf("result=error\nclass=watchdog\n");
	fflush(stdout);
	_exit(3);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	struct mo_oauth_client cl = {.account = "test"};
	char *secret = NULL, *cert = NULL, *key = NULL, *rt = NULL;
	char *code = NULL, *verifier = NULL, *device_code = NULL;
	const char *audience = NULL, *redirect_uri = NULL;
	long parallel = 1, cancel_ms = 0;
	GMainContext *ctx;
	struct mo_http *http;
	gint prio, timeout = -2;
	GPollFD fds[64];
	int nfds;

	for (int i = 2; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "oauth-tool: %s needs a value\n", o);
			return 1;
		}
		i++;
		if (!strcmp(o, "--account"))
			cl.account = v;
		else if (!strcmp(o, "--token-endpoint"))
			cl.token_endpoint = v;
		else if (!strcmp(o, "--device-endpoint"))
			cl.device_authorization_endpoint = v;
		else if (!strcmp(o, "--client-id"))
			cl.client_id = v;
		else if (!strcmp(o, "--scope"))
			cl.scopes = v;
		else if (!strcmp(o, "--ca-file"))
			cl.ca_file = v;
		else if (!strcmp(o, "--secret-file"))
			secret = slurp(v);
		else if (!strcmp(o, "--cert"))
			cert = slurp(v);
		else if (!strcmp(o, "--key"))
			key = slurp(v);
		else if (!strcmp(o, "--refresh-token-file"))
			rt = slurp(v);
		else if (!strcmp(o, "--device-code-file"))
			device_code_file = v;
		else if (!strcmp(o, "--code-file"))
			code = slurp(v);
		else if (!strcmp(o, "--verifier-file"))
			verifier = slurp(v);
		else if (!strcmp(o, "--redirect-uri"))
			redirect_uri = v;
		else if (!strcmp(o, "--audience"))
			audience = v;
		else if (!strcmp(o, "--timeout-ms"))
			cl.timeout_ms = atol(v);
		else if (!strcmp(o, "--out-dir"))
			out_dir = v;
		else if (!strcmp(o, "--parallel"))
			parallel = atol(v);
		else if (!strcmp(o, "--cancel-after-ms"))
			cancel_ms = atol(v);
		else {
			fprintf(stderr, "oauth-tool: unknown option %s\n", o);
			return 1;
		}
	}
	cl.client_secret = secret;
	cl.cert_pem = cert;
	cl.key_pem = key;
	if (parallel < 1 || parallel > 64)
		return 1;

	if (!strcmp(cmd, "jwt")) {
		GError *e = NULL;
		char *jwt = NULL;

		if (mo_jwt_client_assertion(cl.client_id, audience, cert, key,
					    NULL, &jwt, &e) < 0) {
			printf("result=error\nmessage=%s\n", e->message);
			g_error_free(e);
			return 2;
		}
		printf("%s\n", jwt);
		mo_oauth_secret_free(jwt);
		return 0;
	}

	ctx = g_main_context_new();
	loop = g_main_loop_new(ctx, FALSE);
	http = mo_http_new(ctx);
	if (!http)
		return 1;
	if (device_code_file && !strcmp(cmd, "device-poll"))
		device_code = slurp(device_code_file);
	calls = g_new0(struct mo_oauth_call *, (gsize)parallel);
	for (long i = 0; i < parallel; i++) {
		struct mo_oauth_call *c = NULL;

		if (!strcmp(cmd, "refresh"))
			c = mo_oauth_refresh(http, &cl, rt, token_done, NULL);
		else if (!strcmp(cmd, "client-credentials"))
			c = mo_oauth_client_credentials(http, &cl, token_done,
							NULL);
		else if (!strcmp(cmd, "device-start"))
			c = mo_oauth_device_start(http, &cl, device_done,
						  NULL);
		else if (!strcmp(cmd, "device-poll"))
			c = mo_oauth_device_poll(http, &cl, device_code,
						 token_done, NULL);
		else if (!strcmp(cmd, "exchange-code"))
			c = mo_oauth_exchange_code(http, &cl, code,
						   redirect_uri, verifier,
						   token_done, NULL);
		if (!c) {
			fprintf(stderr, "oauth-tool: unknown command or "
				"arguments\n");
			return 1;
		}
		calls[n_calls++] = c;
		outstanding++;
	}
	/* the secrets were copied into the requests: drop ours now */
	mo_oauth_secret_free(secret);
	mo_oauth_secret_free(key);
	mo_oauth_secret_free(rt);
	mo_oauth_secret_free(code);
	mo_oauth_secret_free(verifier);
	mo_oauth_secret_free(device_code);
	g_free(cert);

	if (cancel_ms > 0) {
		GSource *s = g_timeout_source_new((guint)cancel_ms);

		g_source_set_callback(s, cancel_all, NULL, NULL);
		g_source_attach(s, ctx);
		g_source_unref(s);
	}
	{
		GSource *s = g_timeout_source_new_seconds(120);

		g_source_set_callback(s, watchdog, NULL, NULL);
		g_source_attach(s, ctx);
		g_main_loop_run(loop);
		g_source_destroy(s);
		g_source_unref(s);
	}

	/* nothing in flight: no timer may be left to wake us up */
	g_main_context_acquire(ctx);
	g_main_context_prepare(ctx, &prio);
	nfds = g_main_context_query(ctx, G_MAXINT, &timeout, fds,
				    G_N_ELEMENTS(fds));
	g_main_context_release(ctx);
	printf("in_flight=%u\nidle_timeout=%d\nidle_fds=%d\n",
	       mo_http_in_flight(http), timeout, nfds);

	mo_http_free(http);
	g_free(calls);
	g_main_loop_unref(loop);
	g_main_context_unref(ctx);
	return status;
}
