/* SPDX-License-Identifier: MIT */
/*
 * store_secret.c - the store in the desktop's Secret Service (libsecret)
 *
 * Each account is one item in the default collection (usually the "login"
 * keyring), label "mailoauth: ACCOUNT", schema "org.mailoauth.Account" with
 * the attribute "account". Operations use libsecret's asynchronous password
 * API on the caller's thread-default main context.
 *
 * Two things must never stall the daemon: a keyring that is locked (libsecret
 * then asks the keyring to show an unlock prompt and waits for it, forever
 * if nobody is at the screen) and a keyring daemon that does not answer.
 * So every operation carries a GCancellable and a MO_STORE_SECRET_TIMEOUT_S
 * timer: when the timer fires, the caller gets MO_STORE_ERROR_TIMEOUT at
 * once and the libsecret call is cancelled in the background. And since
 * libsecret reports a lookup or clear whose unlock prompt was dismissed as
 * "nothing found", an empty answer is checked against the default
 * collection's Locked property: a locked keyring is MO_STORE_ERROR_LOCKED,
 * never "absent".
 *
 * SECURITY
 *	A looked-up password comes from libsecret's secure memory: it is
 *	copied into a malloc'd string for the caller and released with
 *	secret_password_free (which wipes it). libsecret copies the password
 *	to store when the call is made. Errors never contain a secret.
 *
 * DIAGNOSTICS
 *	MO_STORE_ERROR_LOCKED, _UNAVAILABLE (no session bus, no Secret
 *	Service on it), _TIMEOUT, or _FAILED with the service's own words.
 *	Nothing here logs (libsecret itself may print GLib warnings).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define MO_STORE_BACKEND
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include <libsecret/secret.h>

static const SecretSchema schema = {
	.name = "org.mailoauth.Account",
	.flags = SECRET_SCHEMA_NONE,
	.attributes = {
		{ "account", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ NULL, 0 },
	},
};

struct secret_store {
	struct mo_store base;
	GQueue ops;		/* operations not yet reported */
};

enum op_kind { OP_LOAD, OP_SAVE, OP_REMOVE };

struct op {
	struct secret_store *st;	/* NULL once reported or dropped */
	GList link;			/* in st->ops */
	enum op_kind kind;
	char *account;
	GCancellable *cancel;
	GSource *timer;
	mo_store_load_cb load_cb;
	mo_store_done_cb done_cb;
	void *user_data;
	bool reported;
	bool in_flight;			/* a libsecret call has not returned */
};

static void op_maybe_free(struct op *op)
{
	if (!op->reported || op->in_flight)
		return;
	g_free(op->account);
	g_object_unref(op->cancel);
	g_free(op);
}

static void op_stop_timer(struct op *op)
{
	if (op->timer) {
		g_source_destroy(op->timer);
		g_source_unref(op->timer);
		op->timer = NULL;
	}
}

/* op_detach - no callback will be made any more for OP */
static void op_detach(struct op *op)
{
	op_stop_timer(op);
	if (op->st) {
		g_queue_unlink(&op->st->ops, &op->link);
		op->st = NULL;
	}
	op->reported = true;
}

/* op_report - hand the result to the caller (we are in the main loop) */
static void op_report(struct op *op, char *secret, GError *error)
{
	mo_store_load_cb load_cb = op->load_cb;
	mo_store_done_cb done_cb = op->done_cb;
	void *user_data = op->user_data;

	op_detach(op);
	if (op->kind == OP_LOAD)
		load_cb(secret, error, user_data);
	else
		done_cb(error, user_data);
	if (error)
		g_error_free(error);
	op_maybe_free(op);
}

static GError *locked_error(void)
{
	return g_error_new(MO_STORE_ERROR, MO_STORE_ERROR_LOCKED,
			   "the Secret Service keyring is locked: unlock it "
			   "(e.g. log in to the desktop) or use store = file");
}

static GError *timeout_error(void)
{
	return g_error_new(MO_STORE_ERROR, MO_STORE_ERROR_TIMEOUT,
			   "the Secret Service did not answer within %d s (an "
			   "unlock prompt nobody answered, or a hung keyring "
			   "daemon): unlock the keyring or use store = file",
			   MO_STORE_SECRET_TIMEOUT_S);
}

static bool is_unavailable(const GError *e)
{
	if (e->domain == G_DBUS_ERROR)
		switch (e->code) {
		case G_DBUS_ERROR_SERVICE_UNKNOWN:
		case G_DBUS_ERROR_NAME_HAS_NO_OWNER:
		case G_DBUS_ERROR_NO_SERVER:
		case G_DBUS_ERROR_DISCONNECTED:
		case G_DBUS_ERROR_FILE_NOT_FOUND:
		case G_DBUS_ERROR_UNKNOWN_INTERFACE:
		case G_DBUS_ERROR_SPAWN_EXEC_FAILED:
		case G_DBUS_ERROR_SPAWN_FORK_FAILED:
		case G_DBUS_ERROR_SPAWN_CHILD_EXITED:
		case G_DBUS_ERROR_SPAWN_CHILD_SIGNALED:
		case G_DBUS_ERROR_SPAWN_FAILED:
		case G_DBUS_ERROR_SPAWN_SERVICE_INVALID:
		case G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND:
		case G_DBUS_ERROR_SPAWN_PERMISSIONS_INVALID:
		case G_DBUS_ERROR_SPAWN_FILE_INVALID:
		case G_DBUS_ERROR_SPAWN_NO_MEMORY:
			return true;
		default:
			return false;
		}
	/* connecting to the session bus failed */
	return e->domain == G_IO_ERROR && e->code != G_IO_ERROR_CANCELLED &&
	       e->code != G_IO_ERROR_TIMED_OUT;
}

/* map_error - the store's error for libsecret's E (which it frees) */
static GError *map_error(GError *e)
{
	GError *out;

	if (g_dbus_error_is_remote_error(e))
		g_dbus_error_strip_remote_error(e);
	if (e->domain == SECRET_ERROR && e->code == SECRET_ERROR_IS_LOCKED)
		out = locked_error();
	else if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
		 g_error_matches(e, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
		 g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_TIMEOUT) ||
		 g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_TIMED_OUT) ||
		 g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY))
		out = timeout_error();
	else if (g_error_matches(e, SECRET_ERROR, SECRET_ERROR_NO_SUCH_OBJECT) ||
		 g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT) ||
		 g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD))
		/* the service answers, but the default collection is missing */
		out = g_error_new(MO_STORE_ERROR, MO_STORE_ERROR_UNAVAILABLE,
				  "the Secret Service has no default keyring "
				  "(%s): create one (log in to the desktop once, "
				  "or use seahorse) or use store = file",
				  e->message);
	else if (is_unavailable(e)) {
		/*
		 * libsecret keeps one proxy bound to the keyring daemon it
		 * first met and drops it when that daemon's name vanishes,
		 * but only if the main context it was created on runs (not
		 * so with the _sync wrappers). Drop it here, so that the
		 * next operation finds a restarted keyring.
		 */
		secret_service_disconnect();
		out = g_error_new(MO_STORE_ERROR, MO_STORE_ERROR_UNAVAILABLE,
				  "the Secret Service is not available (%s): "
				  "run mailoauth in a desktop session with a "
				  "keyring such as gnome-keyring, or use "
				  "store = file", e->message);
	} else
		out = g_error_new(MO_STORE_ERROR, MO_STORE_ERROR_FAILED,
				  "the Secret Service failed: %s", e->message);
	g_error_free(e);
	return out;
}

static gboolean on_timer(gpointer data)
{
	struct op *op = data;
	GCancellable *cancel = g_object_ref(op->cancel);

	/*
	 * Report first: cancelling may complete the libsecret call at once,
	 * and OP goes with it.
	 */
	op_report(op, NULL, timeout_error());
	g_cancellable_cancel(cancel);
	g_object_unref(cancel);
	return G_SOURCE_REMOVE;
}

static struct op *op_start(struct mo_store *s, enum op_kind kind,
			   const char *account, mo_store_load_cb load_cb,
			   mo_store_done_cb done_cb, void *user_data)
{
	struct secret_store *st = (struct secret_store *)s;
	struct op *op = g_new0(struct op, 1);
	GMainContext *ctx = g_main_context_ref_thread_default();

	op->st = st;
	op->link.data = op;
	op->kind = kind;
	op->account = g_strdup(account);
	op->cancel = g_cancellable_new();
	op->load_cb = load_cb;
	op->done_cb = done_cb;
	op->user_data = user_data;
	op->in_flight = true;
	op->timer = g_timeout_source_new(MO_STORE_SECRET_TIMEOUT_S * 1000);
	g_source_set_callback(op->timer, on_timer, op, NULL);
	g_source_set_static_name(op->timer, "mo_store Secret Service timeout");
	g_source_attach(op->timer, ctx);
	g_main_context_unref(ctx);
	g_queue_push_tail_link(&st->ops, &op->link);
	return op;
}

/* a libsecret call returned: false when nobody wants its result any more */
static bool op_returned(struct op *op)
{
	op->in_flight = false;
	if (op->reported) {
		op_maybe_free(op);
		return false;
	}
	return true;
}

/* ---- "nothing found": absent, or a locked keyring? ---- */

static void on_alias(GObject *src, GAsyncResult *res, gpointer data)
{
	struct op *op = data;
	GError *e = NULL;
	SecretCollection *coll;
	bool locked;

	(void)src;
	coll = secret_collection_for_alias_finish(res, &e);
	if (!op_returned(op)) {
		g_clear_error(&e);
		g_clear_object(&coll);
		return;
	}
	if (e) {
		op_report(op, NULL, map_error(e));
		return;
	}
	/* no default collection at all: nothing was ever stored */
	locked = coll && secret_collection_get_locked(coll);
	g_clear_object(&coll);
	op_report(op, NULL, locked ? locked_error() : NULL);
}

static void check_locked(struct op *op)
{
	op->in_flight = true;
	secret_collection_for_alias(NULL, SECRET_COLLECTION_DEFAULT,
				    SECRET_COLLECTION_NONE, op->cancel,
				    on_alias, op);
}

/* ---- the operations ---- */

static void on_lookup(GObject *src, GAsyncResult *res, gpointer data)
{
	struct op *op = data;
	GError *e = NULL;
	gchar *pw;
	char *copy;

	(void)src;
	pw = secret_password_lookup_finish(res, &e);
	if (!op_returned(op)) {
		g_clear_error(&e);
		secret_password_free(pw);
		return;
	}
	if (e) {
		secret_password_free(pw);
		op_report(op, NULL, map_error(e));
		return;
	}
	if (!pw) {
		check_locked(op);
		return;
	}
	copy = strdup(pw);
	secret_password_free(pw);
	if (!copy) {
		op_report(op, NULL, g_error_new(MO_STORE_ERROR,
						MO_STORE_ERROR_FAILED,
						"out of memory"));
		return;
	}
	op_report(op, copy, NULL);
}

static void on_store(GObject *src, GAsyncResult *res, gpointer data)
{
	struct op *op = data;
	GError *e = NULL;

	(void)src;
	secret_password_store_finish(res, &e);
	if (!op_returned(op)) {
		g_clear_error(&e);
		return;
	}
	op_report(op, NULL, e ? map_error(e) : NULL);
}

static void on_clear(GObject *src, GAsyncResult *res, gpointer data)
{
	struct op *op = data;
	GError *e = NULL;
	gboolean removed;

	(void)src;
	removed = secret_password_clear_finish(res, &e);
	if (!op_returned(op)) {
		g_clear_error(&e);
		return;
	}
	if (e)
		op_report(op, NULL, map_error(e));
	else if (!removed)
		check_locked(op);	/* absent, or locked and not unlocked */
	else
		op_report(op, NULL, NULL);
}

static void secret_load(struct mo_store *s, const char *account,
			mo_store_load_cb cb, void *user_data)
{
	GError *e = mo_store_check_args_(account, NULL, false);
	struct op *op;

	if (e) {
		mo_store_reply_load_(s, cb, user_data, NULL, e);
		return;
	}
	op = op_start(s, OP_LOAD, account, cb, NULL, user_data);
	secret_password_lookup(&schema, op->cancel, on_lookup, op,
			       "account", account, NULL);
}

static void secret_save(struct mo_store *s, const char *account,
			const char *secret, mo_store_done_cb cb,
			void *user_data)
{
	GError *e = mo_store_check_args_(account, secret, true);
	struct op *op;
	char *label;

	if (e) {
		mo_store_reply_done_(s, cb, user_data, e);
		return;
	}
	op = op_start(s, OP_SAVE, account, NULL, cb, user_data);
	label = g_strdup_printf("mailoauth: %s", account);
	/* libsecret copies SECRET before this returns */
	secret_password_store(&schema, SECRET_COLLECTION_DEFAULT, label, secret,
			      op->cancel, on_store, op, "account", account,
			      NULL);
	g_free(label);
}

static void secret_remove(struct mo_store *s, const char *account,
			  mo_store_done_cb cb, void *user_data)
{
	GError *e = mo_store_check_args_(account, NULL, false);
	struct op *op;

	if (e) {
		mo_store_reply_done_(s, cb, user_data, e);
		return;
	}
	op = op_start(s, OP_REMOVE, account, NULL, cb, user_data);
	secret_password_clear(&schema, op->cancel, on_clear, op,
			      "account", account, NULL);
}

static void secret_free(struct mo_store *s)
{
	struct secret_store *st = (struct secret_store *)s;
	GList *l;

	/* drop the callbacks; each op goes when its libsecret call returns */
	while ((l = g_queue_peek_head_link(&st->ops))) {
		struct op *op = l->data;

		GCancellable *cancel = g_object_ref(op->cancel);

		op_detach(op);		/* a call is in flight: OP stays */
		g_cancellable_cancel(cancel);	/* may free OP */
		g_object_unref(cancel);
	}
	g_free(st);
}

static const struct mo_store_ops secret_ops = {
	.load = secret_load,
	.save = secret_save,
	.remove = secret_remove,
	.free = secret_free,
};

struct mo_store *mo_store_secret_new(GError **error)
{
	struct secret_store *st = g_new0(struct secret_store, 1);

	(void)error;
	st->base.ops = &secret_ops;
	st->base.description = g_strdup("Secret Service");
	g_queue_init(&st->base.pending);
	g_queue_init(&st->ops);
	return &st->base;
}
