/* SPDX-License-Identifier: MIT */
/*
 * login_device.c - `mailoauth login` for flow = device (RFC 8628)
 *
 * Asks for a device code, shows the verification URL and the user code
 * (Entra's own instructions too, and a QR code of the URL when standard
 * output is a terminal), then polls the token endpoint every `interval`
 * seconds on the GMainLoop: authorization_pending polls again, slow_down
 * adds MO_OAUTH_SLOW_DOWN_STEP seconds, a temporary failure is retried up
 * to MAX_TRANSIENT times in a row, and anything else ends the login with
 * the identity provider's sentence. When expires_in has passed the code
 * is dead and the login ends without another poll.
 *
 * Without a terminal (ssh without a tty, systemd-run, a script) the code
 * and URL are printed and flushed at once and polling goes on: whoever
 * reads the output signs in on another device.
 *
 * SECURITY
 *	The device code is a secret: it goes only to the token endpoint and
 *	is wiped when the login ends. The user code is not secret (the user
 *	types it), nor are the URLs. Tokens are copied out of the callback
 *	into the result and nowhere else.
 *
 * DIAGNOSTICS
 *	Instructions on standard output; a failure is one sentence on
 *	standard error (oauth.c's classified message, which names the
 *	account and the AADSTS code). A temporary failure while polling is
 *	noted on standard error and polling goes on.
 */
#define _GNU_SOURCE
#include "login.h"
#include "qrcode.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_TRANSIENT 5		/* temporary poll failures in a row */

struct device {
	struct mo_login *l;
	struct mo_login_result *res;
	struct mo_oauth_call *call;
	guint timer;
	char *device_code;	/* secret */
	long interval;		/* seconds */
	gint64 deadline;	/* monotonic, microseconds */
	int transient;		/* temporary failures in a row */
	int status;
};

static void poll_later(struct device *d, long seconds);

static void finish(struct device *d, int status)
{
	d->status = status;
	g_main_loop_quit(d->l->loop);
}

/* show - the instructions: where to go, which code, a QR code of it */
static void show(const struct device *d, const struct mo_oauth_device *dev)
{
	const char *qr_text = dev->verification_uri_complete ?
			      dev->verification_uri_complete :
			      dev->verification_uri;
	long minutes = (dev->expires_in + 59) / 60;

	if (dev->message)
		printf("%s\n", dev->message);
	else
		printf("To sign in, open %s and enter the code %s\n",
		       dev->verification_uri, dev->user_code);
	printf("  URL:  %s\n", dev->verification_uri);
	if (dev->verification_uri_complete)
		printf("  (or open %s, which has the code in it)\n",
		       dev->verification_uri_complete);
	printf("  Code: %s\n", dev->user_code);
	if (!d->l->no_qr && mo_cli_is_tty(STDOUT_FILENO)) {
		char *qr = mo_qr_render(qr_text, true, NULL);

		if (qr) {
			printf("\n%s\n", qr);
			g_free(qr);
		}
	}
	if (dev->expires_in < 120)
		printf("Sign in as %s. Waiting for the sign-in (the code expires "
		       "in %ld s)...\n", d->l->account->user, dev->expires_in);
	else
		printf("Sign in as %s. Waiting for the sign-in (the code expires "
		       "in %ld minutes)...\n", d->l->account->user, minutes);
	fflush(stdout);
}

static void on_poll(const struct mo_oauth_tokens *tokens,
		    const struct mo_oauth_error *err, void *ud)
{
	struct device *d = ud;
	long wait;

	d->call = NULL;
	if (tokens) {
		finish(d, mo_login_take_tokens(d->l, tokens, d->res));
		return;
	}
	switch (err->cls) {
	case MO_OAUTH_DEVICE_PENDING:
		d->transient = 0;
		poll_later(d, d->interval);
		return;
	case MO_OAUTH_DEVICE_SLOW_DOWN:
		d->transient = 0;
		d->interval += MO_OAUTH_SLOW_DOWN_STEP;
		poll_later(d, d->interval);
		return;
	case MO_OAUTH_TRANSIENT:
		if (++d->transient <= MAX_TRANSIENT) {
			wait = err->retry_after > d->interval ? err->retry_after
							      : d->interval;
			fprintf(stderr, "mailoauth: %s (polling again in %ld "
				"s)\n", err->message, wait);
			poll_later(d, wait);
			return;
		}
		break;
	default:
		break;
	}
	mo_cli_error("%s", err->message);
	finish(d, mo_login_exit_for_error(err));
}

static gboolean poll_now(gpointer ud)
{
	struct device *d = ud;
	const struct mo_account_config *a = d->l->account;

	d->timer = 0;
	if (g_get_monotonic_time() >= d->deadline) {
		mo_cli_error("account '%s': the code expired before the "
			     "sign-in was completed: run 'mailoauth login %s' "
			     "again", a->name, a->name);
		finish(d, MO_EXIT_LOGIN);
		return G_SOURCE_REMOVE;
	}
	d->call = mo_oauth_device_poll(d->l->http, &d->l->client,
				       d->device_code, on_poll, d);
	return G_SOURCE_REMOVE;
}

/* poll_later - the next poll in SECONDS, or when the code dies if sooner */
static void poll_later(struct device *d, long seconds)
{
	gint64 left = d->deadline - g_get_monotonic_time();
	guint ms = (guint)seconds * 1000;

	if (left < (gint64)seconds * G_USEC_PER_SEC)
		ms = left > 0 ? (guint)(left / 1000) + 1 : 0;
	d->timer = g_timeout_add(ms, poll_now, d);
}

static void on_device(const struct mo_oauth_device *dev,
		      const struct mo_oauth_error *err, void *ud)
{
	struct device *d = ud;

	d->call = NULL;
	if (!dev) {
		mo_cli_error("%s", err->message);
		finish(d, mo_login_exit_for_error(err));
		return;
	}
	d->device_code = g_strdup(dev->device_code);
	d->interval = dev->interval;
	d->deadline = g_get_monotonic_time() + (gint64)dev->expires_in *
					       G_USEC_PER_SEC;
	show(d, dev);
	poll_later(d, d->interval);
}

int mo_login_device(struct mo_login *l, struct mo_login_result *res)
{
	struct device d = { .l = l, .res = res, .status = MO_EXIT_SOFTWARE };
	int status;

	if (l->secret_file && (status = mo_login_client_secret(l, res)) != 0)
		return status;
	d.call = mo_oauth_device_start(l->http, &l->client, on_device, &d);
	if (!d.call)
		return MO_EXIT_SOFTWARE;
	g_main_loop_run(l->loop);
	mo_oauth_cancel(d.call);
	if (d.timer)
		g_source_remove(d.timer);
	mo_oauth_secret_free(d.device_code);
	return d.status;
}
