/* SPDX-License-Identifier: MIT */
/*
 * store.h - where mailoauth keeps each account's secret blob
 *
 * The store maps an account name (mo_account_name_valid: 1..64 of
 * [A-Za-z0-9._@+-]) to one secret blob: a NUL-terminated UTF-8 string of at
 * most MO_STORE_SECRET_MAX bytes (in practice the small JSON object of
 * secret.h). The store never looks inside the blob and caches nothing: the
 * CLI and the daemon are separate processes writing the same store, and a
 * load always sees the latest save.
 *
 * Two backends:
 *
 *	file		one file, AES-256-GCM encrypted with a 32-byte key read
 *			from $CREDENTIALS_DIRECTORY/mailoauth-store-key (systemd
 *			LoadCredentialEncrypted=) or else from a key file that is
 *			created when absent; written atomically and durably, and
 *			serialised between processes with flock() (store_file.c)
 *	secret		the desktop's Secret Service (gnome-keyring, KWallet)
 *			through libsecret, schema "org.mailoauth.Account",
 *			attribute "account" (store_secret.c)
 *
 * The operations are asynchronous so that the daemon's GLib main loop never
 * waits on D-Bus. Callbacks are always invoked later from the thread-default
 * main context that was current when the operation started, never from
 * inside the call. The file backend does its (fast, local) work at once and
 * only defers the callback; the Secret Service backend gives every
 * operation MO_STORE_SECRET_TIMEOUT_S seconds, after which the callback
 * reports MO_STORE_ERROR_TIMEOUT (an unlock prompt nobody answers, a
 * keyring daemon that hangs). mo_store_free drops the callbacks of
 * operations still pending. The _sync wrappers run a private main context
 * until the operation is done; they are for the CLI and the tests.
 *
 * SECURITY
 *	Every secret handed out is a malloc'd copy that the caller releases
 *	with mo_store_secret_free (wipe, then free). Error messages name
 *	files, accounts and remedies, never a secret.
 *
 * DIAGNOSTICS
 *	Failures are GErrors of domain MO_STORE_ERROR whose message is one
 *	sentence on what happened and what to do; nothing here logs. The
 *	GError passed to a callback belongs to the store and is freed when the
 *	callback returns (g_error_copy it to keep it).
 */
#ifndef MAILOAUTH_STORE_H
#define MAILOAUTH_STORE_H

#include <glib.h>
#include <stdbool.h>

#define MO_STORE_SECRET_MAX 65536	/* bytes of one blob, without the NUL */
#define MO_STORE_SECRET_TIMEOUT_S 10	/* per Secret Service operation */
#define MO_STORE_CREDENTIAL "mailoauth-store-key" /* in $CREDENTIALS_DIRECTORY */
#define MO_STORE_KEY_SIZE 32		/* bytes of a file store's key */

#define MO_STORE_ERROR (mo_store_error_quark())
enum mo_store_error {
	MO_STORE_ERROR_INVALID,		/* bad account name or blob */
	MO_STORE_ERROR_UNSAFE,		/* key or store file mode/owner */
	MO_STORE_ERROR_KEY,		/* key file missing, unreadable, bad size */
	MO_STORE_ERROR_CORRUPT,		/* cannot decrypt: wrong key or damaged */
	MO_STORE_ERROR_IO,		/* read/write/fsync/rename failed */
	MO_STORE_ERROR_BUSY,		/* another process holds the lock too long */
	MO_STORE_ERROR_LOCKED,		/* the Secret Service keyring is locked */
	MO_STORE_ERROR_UNAVAILABLE,	/* no Secret Service (or no D-Bus) */
	MO_STORE_ERROR_TIMEOUT,		/* the Secret Service did not answer */
	MO_STORE_ERROR_FAILED,		/* any other Secret Service error */
};
GQuark mo_store_error_quark(void);

struct mo_store;

/*
 * mo_store_file_new - the encrypted file store at PATH
 *
 * The key is $CREDENTIALS_DIRECTORY/mailoauth-store-key when that file
 * exists, else KEY_FILE, which is created (32 random bytes, mode 0600, its
 * directory 0700) when absent - unless PATH already exists, since a new key
 * could not decrypt it. A key file or store file that is readable by group
 * or others, or not owned by the current uid, is refused with the chmod or
 * chown to run. The store's directory is created (0700) by the first save.
 */
struct mo_store *mo_store_file_new(const char *path, const char *key_file,
				   GError **error);

/*
 * mo_store_secret_new - the Secret Service store. Does not touch D-Bus: a
 * missing service or a locked keyring shows up in the first operation.
 */
struct mo_store *mo_store_secret_new(GError **error);

/* mo_store_free - close S, dropping pending callbacks; NULL is fine */
void mo_store_free(struct mo_store *s);

/*
 * mo_store_describe - "file /var/lib/mailoauth/store" or "Secret Service",
 * for messages
 */
const char *mo_store_describe(const struct mo_store *s);

/*
 * SECRET is NULL when the account has no blob or on error; otherwise the
 * callback owns it and releases it with mo_store_secret_free. ERROR is
 * NULL on success, including "absent".
 */
typedef void (*mo_store_load_cb)(char *secret, GError *error, void *user_data);
typedef void (*mo_store_done_cb)(GError *error, void *user_data);

/* mo_store_load - fetch ACCOUNT's blob */
void mo_store_load(struct mo_store *s, const char *account,
		   mo_store_load_cb cb, void *user_data);

/*
 * mo_store_save - set ACCOUNT's blob to SECRET (copied at once; the caller
 * may wipe it when the call returns). Durable when CB reports success.
 */
void mo_store_save(struct mo_store *s, const char *account, const char *secret,
		   mo_store_done_cb cb, void *user_data);

/* mo_store_remove - forget ACCOUNT's blob; removing an absent one is fine */
void mo_store_remove(struct mo_store *s, const char *account,
		     mo_store_done_cb cb, void *user_data);

/*
 * mo_store_check_writable - whether a save could succeed now, changing
 * nothing in the store: for the file store, its lock can be taken (the
 * file system is writable) and the file system has room for one more copy
 * of the store, which a save writes before it renames. The Secret Service
 * only tells when it is used: always true there. Synchronous; for
 * `mailoauth login`, so that it fails before anyone signs in.
 */
bool mo_store_check_writable(struct mo_store *s, GError **error);

/* mo_store_secret_free - wipe and free a blob from a load; NULL is fine */
void mo_store_secret_free(char *secret);

/*
 * The same, synchronously, on a private main context. mo_store_load_sync
 * returns NULL with *ERROR unset when the account has no blob.
 */
char *mo_store_load_sync(struct mo_store *s, const char *account,
			 GError **error);
bool mo_store_save_sync(struct mo_store *s, const char *account,
			const char *secret, GError **error);
bool mo_store_remove_sync(struct mo_store *s, const char *account,
			  GError **error);

#ifdef MO_STORE_BACKEND
/*
 * For store_file.c and store_secret.c only: a store is a backend's struct
 * that starts with struct mo_store. store_file.c holds the dispatch and the
 * code both backends share.
 */
struct mo_store_ops {
	void (*load)(struct mo_store *s, const char *account,
		     mo_store_load_cb cb, void *user_data);
	void (*save)(struct mo_store *s, const char *account,
		     const char *secret, mo_store_done_cb cb, void *user_data);
	void (*remove)(struct mo_store *s, const char *account,
		       mo_store_done_cb cb, void *user_data);
	void (*free)(struct mo_store *s);
	bool (*check_writable)(struct mo_store *s, GError **error); /* or NULL */
};

struct mo_store {
	const struct mo_store_ops *ops;
	char *description;
	GQueue pending;		/* replies not yet delivered */
};

/*
 * mo_store_check_args_ - the error for a bad ACCOUNT, or (when SECRET is
 * not NULL) a bad blob; NULL when both are fine
 */
GError *mo_store_check_args_(const char *account, const char *secret,
			     bool saving);

/*
 * mo_store_reply_load_, mo_store_reply_done_ - deliver a result from an
 * idle source on the thread-default main context (never re-entrantly);
 * they take SECRET and ERROR. mo_store_free drops undelivered replies.
 */
void mo_store_reply_load_(struct mo_store *s, mo_store_load_cb cb,
			  void *user_data, char *secret, GError *error);
void mo_store_reply_done_(struct mo_store *s, mo_store_done_cb cb,
			  void *user_data, GError *error);
#endif

#endif
