/* SPDX-License-Identifier: MIT */
/*
 * store_file.c - the encrypted file store, and what both stores share
 *
 * The first part is the store interface of store.h that does not depend on
 * the backend: dispatch, deferred replies, synchronous wrappers, argument
 * checks. The rest is the file backend.
 *
 * FILE FORMAT
 *	One file holds every account:
 *
 *	    "MOSTORE1" (8 bytes) | nonce (12) | ciphertext | GCM tag (16)
 *
 *	AES-256-GCM with a fresh random nonce per write and the 20-byte header
 *	as additional data. The plaintext is a sequence of records, sorted by
 *	account name:
 *
 *	    name length (1 byte, 1..64) | name | blob length (4 bytes, big
 *	    endian, 0..MO_STORE_SECRET_MAX) | blob (no NUL)
 *
 *	A missing file is an empty store. A save reads the store, changes one
 *	record and writes the whole file again: to PATH.tmp.XXXXXX (mode 0600,
 *	O_EXCL), fsync, hard link of the current file to PATH.bak (the last
 *	good copy), rename over PATH, fsync of the directory. Saves are
 *	serialised between processes with flock(LOCK_EX) on PATH.lock, so the
 *	CLI and the daemon never lose each other's updates; loads need no lock,
 *	since the file is only ever replaced whole by rename().
 *
 * SECURITY
 *	The key is 32 bytes from $CREDENTIALS_DIRECTORY/mailoauth-store-key or
 *	from a key file owned by the current uid with no group or other access
 *	(created from RAND_bytes when absent). The store file is held to the
 *	same mode and owner. A file that does not decrypt (wrong key, a
 *	flipped bit, truncation) is never overwritten: saves are refused until
 *	an admin fixes it. Every plaintext buffer and the key are wiped with
 *	OPENSSL_cleanse before they are freed. Key and store files are
 *	opened with O_NONBLOCK: a FIFO put in their place is refused as not
 *	a regular file instead of blocking the open forever.
 *
 * DIAGNOSTICS
 *	GErrors of domain MO_STORE_ERROR, one sentence naming the file, what
 *	went wrong and what to run. A failed save leaves the store as it was.
 *	A save waits at most LOCK_WAIT_MS for another process's lock (the
 *	caller's main loop waits with it; a normal save holds the lock for
 *	milliseconds), then fails with MO_STORE_ERROR_BUSY. Nothing here logs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define MO_STORE_BACKEND
#include "store.h"
#include "proto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

G_DEFINE_QUARK(mo-store-error-quark, mo_store_error)

/* ==== the interface, common to both backends ==== */

struct reply {
	struct mo_store *s;
	GSource *source;
	GList link;		/* in s->pending */
	mo_store_load_cb load_cb;
	mo_store_done_cb done_cb;
	void *user_data;
	char *secret;
	GError *error;
};

void mo_store_secret_free(char *secret)
{
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
}

static void reply_free(struct reply *r)
{
	g_source_unref(r->source);
	mo_store_secret_free(r->secret);
	g_clear_error(&r->error);
	g_free(r);
}

/* reply_dispatch - the idle source: hand the result over, then forget it */
static gboolean reply_dispatch(gpointer data)
{
	struct reply *r = data;

	g_queue_unlink(&r->s->pending, &r->link);
	if (r->load_cb) {
		char *secret = r->secret;

		r->secret = NULL;
		r->load_cb(secret, r->error, r->user_data);
	} else if (r->done_cb) {
		r->done_cb(r->error, r->user_data);
	}
	reply_free(r);
	return G_SOURCE_REMOVE;
}

static void reply_schedule(struct mo_store *s, struct reply *r)
{
	GMainContext *ctx = g_main_context_ref_thread_default();

	r->s = s;
	r->link.data = r;
	r->source = g_idle_source_new();
	g_source_set_priority(r->source, G_PRIORITY_DEFAULT);
	g_source_set_callback(r->source, reply_dispatch, r, NULL);
	g_source_set_static_name(r->source, "mo_store reply");
	g_queue_push_tail_link(&s->pending, &r->link);
	g_source_attach(r->source, ctx);
	g_main_context_unref(ctx);
}

void mo_store_reply_load_(struct mo_store *s, mo_store_load_cb cb,
			  void *user_data, char *secret, GError *error)
{
	struct reply *r = g_new0(struct reply, 1);

	r->load_cb = cb;
	r->user_data = user_data;
	r->secret = secret;
	r->error = error;
	reply_schedule(s, r);
}

void mo_store_reply_done_(struct mo_store *s, mo_store_done_cb cb,
			  void *user_data, GError *error)
{
	struct reply *r = g_new0(struct reply, 1);

	r->done_cb = cb;
	r->user_data = user_data;
	r->error = error;
	reply_schedule(s, r);
}

GError *mo_store_check_args_(const char *account, const char *secret,
			     bool saving)
{
	size_t n;

	if (!mo_account_name_valid(account))
		return g_error_new(MO_STORE_ERROR, MO_STORE_ERROR_INVALID,
				   "invalid account name for the store (1 to %d "
				   "letters, digits and ._@+-, starting with a "
				   "letter or digit)", MO_ACCOUNT_MAX);
	if (!saving)
		return NULL;
	if (!secret)
		return g_error_new(MO_STORE_ERROR, MO_STORE_ERROR_INVALID,
				   "no secret to store for account %s", account);
	n = strnlen(secret, MO_STORE_SECRET_MAX + 1);
	if (n > MO_STORE_SECRET_MAX)
		return g_error_new(MO_STORE_ERROR, MO_STORE_ERROR_INVALID,
				   "the secret of account %s is larger than the "
				   "store's limit of %d bytes", account,
				   MO_STORE_SECRET_MAX);
	if (!g_utf8_validate(secret, (gssize)n, NULL))
		return g_error_new(MO_STORE_ERROR, MO_STORE_ERROR_INVALID,
				   "the secret of account %s is not valid UTF-8",
				   account);
	return NULL;
}

void mo_store_free(struct mo_store *s)
{
	GList *l;

	if (!s)
		return;
	while ((l = g_queue_pop_head_link(&s->pending))) {
		struct reply *r = l->data;

		g_source_destroy(r->source);
		reply_free(r);
	}
	g_free(s->description);
	s->ops->free(s);
}

const char *mo_store_describe(const struct mo_store *s)
{
	return s ? s->description : "no store";
}

void mo_store_load(struct mo_store *s, const char *account,
		   mo_store_load_cb cb, void *user_data)
{
	s->ops->load(s, account, cb, user_data);
}

void mo_store_save(struct mo_store *s, const char *account, const char *secret,
		   mo_store_done_cb cb, void *user_data)
{
	s->ops->save(s, account, secret, cb, user_data);
}

void mo_store_remove(struct mo_store *s, const char *account,
		     mo_store_done_cb cb, void *user_data)
{
	s->ops->remove(s, account, cb, user_data);
}

bool mo_store_check_writable(struct mo_store *s, GError **error)
{
	return !s->ops->check_writable || s->ops->check_writable(s, error);
}

/* ---- synchronous wrappers: a private main context until done ---- */

struct sync_state {
	bool done;
	char *secret;
	GError *error;
};

static void sync_load_cb(char *secret, GError *error, void *user_data)
{
	struct sync_state *st = user_data;

	st->done = true;
	st->secret = secret;
	st->error = error ? g_error_copy(error) : NULL;
}

static void sync_done_cb(GError *error, void *user_data)
{
	struct sync_state *st = user_data;

	st->done = true;
	st->error = error ? g_error_copy(error) : NULL;
}

static GMainContext *sync_begin(void)
{
	GMainContext *ctx = g_main_context_new();

	g_main_context_push_thread_default(ctx);
	return ctx;
}

static void sync_end(GMainContext *ctx, struct sync_state *st)
{
	while (!st->done)
		g_main_context_iteration(ctx, TRUE);
	g_main_context_pop_thread_default(ctx);
	g_main_context_unref(ctx);
}

char *mo_store_load_sync(struct mo_store *s, const char *account,
			 GError **error)
{
	struct sync_state st = {0};
	GMainContext *ctx = sync_begin();

	mo_store_load(s, account, sync_load_cb, &st);
	sync_end(ctx, &st);
	if (st.error)
		g_propagate_error(error, st.error);
	return st.secret;
}

bool mo_store_save_sync(struct mo_store *s, const char *account,
			const char *secret, GError **error)
{
	struct sync_state st = {0};
	GMainContext *ctx = sync_begin();

	mo_store_save(s, account, secret, sync_done_cb, &st);
	sync_end(ctx, &st);
	if (st.error) {
		g_propagate_error(error, st.error);
		return false;
	}
	return true;
}

bool mo_store_remove_sync(struct mo_store *s, const char *account,
			  GError **error)
{
	struct sync_state st = {0};
	GMainContext *ctx = sync_begin();

	mo_store_remove(s, account, sync_done_cb, &st);
	sync_end(ctx, &st);
	if (st.error) {
		g_propagate_error(error, st.error);
		return false;
	}
	return true;
}

/* ==== the file backend ==== */

#define MAGIC		"MOSTORE1"
#define MAGIC_LEN	8
#define NONCE_LEN	12
#define TAG_LEN		16
#define HEADER_LEN	(MAGIC_LEN + NONCE_LEN)
#define PLAIN_MAX	(16 * 1024 * 1024)	/* bytes of plaintext */
#define FILE_MAX	(HEADER_LEN + PLAIN_MAX + TAG_LEN)
#define LOCK_WAIT_MS	10000

struct file_store {
	struct mo_store base;
	char *path;
	char *lock_path;
	char *bak_path;
	char *dir;
	char *key_source;	/* "key file /x" or "credential /y" */
	unsigned char key[MO_STORE_KEY_SIZE];
};

/* one account in a decrypted store; pointers into the plaintext buffer */
struct rec {
	const char *name;
	size_t name_len;
	const char *blob;
	size_t blob_len;
};

static const char *user_name(uid_t uid, char *buf, size_t size)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, size, "%s", res->pw_name);
	else
		snprintf(buf, size, "%u", (unsigned)uid);
	return buf;
}

/*
 * check_file - refuse FD (WHAT at PATH) unless it is a regular file owned
 * by us with no group or other access. A systemd credential (CREDENTIAL)
 * may belong to root and carry an ACL (which shows as group bits): there
 * only "others" must have no access.
 */
static bool check_file(int fd, const char *what, const char *path,
		       bool credential, GError **error)
{
	struct stat st;
	uid_t me = geteuid();
	char a[64], b[64];

	if (fstat(fd, &st) < 0) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
			    "cannot examine the %s %s: %s", what, path,
			    g_strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_UNSAFE,
			    "the %s %s is not a regular file", what, path);
		return false;
	}
	if (st.st_uid != me && !(credential && st.st_uid == 0)) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_UNSAFE,
			    "the %s %s is owned by %s, not by %s who runs "
			    "mailoauth: run 'chown %s %s'", what, path,
			    user_name(st.st_uid, a, sizeof(a)),
			    user_name(me, b, sizeof(b)), b, path);
		return false;
	}
	if (st.st_mode & (credential ? 0007 : 0077)) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_UNSAFE,
			    "the %s %s can be read or written by %s (mode "
			    "%04o): run 'chmod 600 %s'", what, path,
			    credential ? "others" : "group or others",
			    (unsigned)(st.st_mode & 07777), path);
		return false;
	}
	return true;
}

static bool write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		if (n == 0) {
			errno = EIO;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* read_fd - up to MAX bytes of FD into a malloc'd buffer; -1 and errno */
static ssize_t read_fd(int fd, size_t max, unsigned char **out)
{
	size_t cap = 4096, len = 0;
	unsigned char *buf = malloc(cap);

	if (!buf)
		return -1;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			unsigned char *nb;

			if (cap > max) {
				free(buf);
				errno = EFBIG;
				return -1;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -1;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		free(buf);
		errno = EFBIG;
		return -1;
	}
	*out = buf;
	return (ssize_t)len;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && errno != EINVAL)
		r = -errno;
	close(fd);
	return r;
}

/* ---- the key ---- */

static bool read_key(int fd, const char *what, const char *path,
		     bool credential, unsigned char *key, GError **error)
{
	unsigned char buf[MO_STORE_KEY_SIZE + 1];
	size_t len = 0;

	if (!check_file(fd, what, path, credential, error))
		return false;
	while (len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_KEY,
				    "cannot read the %s %s: %s", what, path,
				    g_strerror(errno));
			OPENSSL_cleanse(buf, sizeof(buf));
			return false;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len != MO_STORE_KEY_SIZE) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_KEY,
			    "the %s %s holds %s%zu bytes, not %d: it is not a "
			    "mailoauth store key (create one with "
			    "'head -c %d /dev/urandom > FILE')", what, path,
			    len > MO_STORE_KEY_SIZE ? "more than " : "",
			    len > MO_STORE_KEY_SIZE ? (size_t)MO_STORE_KEY_SIZE : len,
			    MO_STORE_KEY_SIZE, MO_STORE_KEY_SIZE);
		OPENSSL_cleanse(buf, sizeof(buf));
		return false;
	}
	memcpy(key, buf, MO_STORE_KEY_SIZE);
	OPENSSL_cleanse(buf, sizeof(buf));
	return true;
}

/*
 * create_key - write 32 random bytes to PATH: a temporary file, fsync,
 * then link() so that a racing process either wins or reads ours whole.
 * Returns 1 when created, 0 when someone else created it first (read it
 * then), -1 with *ERROR on failure.
 */
static int create_key(const char *path, unsigned char *key, GError **error)
{
	char *dir = g_path_get_dirname(path);
	char *tmp = g_strconcat(path, ".tmp.XXXXXX", NULL);
	int fd = -1, r = -1;
	bool have_tmp = false;

	if (g_mkdir_with_parents(dir, 0700) < 0) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_KEY,
			    "cannot create the directory %s for the store's "
			    "key file: %s", dir, g_strerror(errno));
		goto out;
	}
	if (RAND_bytes(key, MO_STORE_KEY_SIZE) != 1) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_KEY,
			    "cannot create the key file %s: no random numbers "
			    "from OpenSSL", path);
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	have_tmp = fd >= 0;
	if (fd < 0 || fchmod(fd, 0600) < 0 ||
	    !write_all(fd, key, MO_STORE_KEY_SIZE) || fsync(fd) < 0) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_KEY,
			    "cannot create the key file %s: %s", path,
			    g_strerror(errno));
		goto out;
	}
	r = close(fd);
	fd = -1;
	if (r == 0 && link(tmp, path) < 0)
		r = errno == EEXIST ? 1 : -1;
	if (r < 0) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_KEY,
			    "cannot create the key file %s: %s", path,
			    g_strerror(errno));
		goto out;
	}
	if (r == 1) {
		r = 0;		/* another process was first */
		goto out;
	}
	(void)fsync_dir(dir);
	r = 1;
out:
	if (fd >= 0)
		close(fd);
	if (have_tmp)
		(void)unlink(tmp);
	if (r != 1)
		OPENSSL_cleanse(key, MO_STORE_KEY_SIZE);
	g_free(tmp);
	g_free(dir);
	return r;
}

/* load_key_file - the key from KEY_FILE (absolute), created when absent */
static bool load_key_file(struct file_store *fs, const char *key_file,
			  GError **error)
{
	fs->key_source = g_strdup_printf("key file %s", key_file);
	for (int attempt = 0; attempt < 2; attempt++) {
		struct stat st;
		int fd, r;
		bool ok;

		fd = open(key_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0) {
			ok = read_key(fd, "key file", key_file, false, fs->key,
				      error);
			close(fd);
			return ok;
		}
		if (errno != ENOENT) {
			g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_KEY,
				    "cannot read the key file %s: %s", key_file,
				    g_strerror(errno));
			return false;
		}
		if (lstat(fs->path, &st) == 0) {
			/*
			 * A store is only written after its key exists: a
			 * racing process may have created both since our
			 * open(). Look once more before calling it missing.
			 */
			if (attempt == 0)
				continue;
			g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_KEY,
				    "the key file %s is missing but the store %s "
				    "exists: restore the key file it was written "
				    "with (a new key could not decrypt it), or "
				    "move the store away to start an empty one",
				    key_file, fs->path);
			return false;
		}
		r = create_key(key_file, fs->key, error);
		if (r != 0)
			return r > 0;
		/* another process created it first: read theirs */
	}
	g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_KEY,
		    "cannot read the key file %s", key_file);
	return false;
}

/*
 * load_key - $CREDENTIALS_DIRECTORY/mailoauth-store-key when it exists,
 * else KEY_FILE
 */
static bool load_key(struct file_store *fs, const char *key_file,
		     GError **error)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	char *path;
	int fd;
	bool ok;

	if (creds && *creds) {
		path = g_build_filename(creds, MO_STORE_CREDENTIAL, NULL);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0) {
			ok = read_key(fd, "credential", path, true, fs->key,
				      error);
			close(fd);
			fs->key_source = g_strdup_printf("credential %s", path);
			g_free(path);
			return ok;
		}
		if (errno != ENOENT) {
			g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_KEY,
				    "cannot read the credential %s: %s", path,
				    g_strerror(errno));
			g_free(path);
			return false;
		}
		g_free(path);
	}
	if (!key_file || !*key_file) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_KEY,
			    "the file store %s has no key: set store_key_file "
			    "or give the service the credential %s", fs->path,
			    MO_STORE_CREDENTIAL);
		return false;
	}
	path = g_canonicalize_filename(key_file, NULL);
	ok = load_key_file(fs, path, error);
	g_free(path);
	return ok;
}

/* ---- encryption ---- */

/* seal - PLAIN into a whole store file image, or NULL */
static unsigned char *seal(const unsigned char *key, const unsigned char *plain,
			   size_t plain_len, size_t *out_len)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	unsigned char *out = NULL;
	size_t total = HEADER_LEN + plain_len + TAG_LEN;
	int n = 0, fin = 0;
	bool ok = false;

	if (!ctx || plain_len > PLAIN_MAX)
		goto out;
	out = malloc(total);
	if (!out)
		goto out;
	memcpy(out, MAGIC, MAGIC_LEN);
	if (RAND_bytes(out + MAGIC_LEN, NONCE_LEN) != 1)
		goto out;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN,
				NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, out + MAGIC_LEN) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, out, HEADER_LEN) != 1)
		goto out;
	n = 0;
	if (plain_len &&
	    EVP_EncryptUpdate(ctx, out + HEADER_LEN, &n, plain,
			      (int)plain_len) != 1)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, out + HEADER_LEN + n, &fin) != 1 ||
	    (size_t)n + (size_t)fin != plain_len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
				out + HEADER_LEN + plain_len) != 1)
		goto out;
	*out_len = total;
	ok = true;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		free(out);
		out = NULL;
	}
	return out;
}

enum open_result { OPEN_OK, OPEN_SHORT, OPEN_MAGIC, OPEN_TAG, OPEN_NOMEM };

/* unseal - the plaintext of the file image IN (wipe it), or why not */
static enum open_result unseal(const unsigned char *key, const unsigned char *in,
			       size_t in_len, unsigned char **plain_r,
			       size_t *plain_len_r)
{
	EVP_CIPHER_CTX *ctx;
	unsigned char *plain;
	unsigned char tag[TAG_LEN];
	size_t clen;
	int n = 0, fin = 0;
	enum open_result r = OPEN_TAG;

	if (in_len >= MAGIC_LEN && memcmp(in, MAGIC, MAGIC_LEN) != 0)
		return OPEN_MAGIC;
	if (in_len < HEADER_LEN + TAG_LEN)
		return OPEN_SHORT;
	clen = in_len - HEADER_LEN - TAG_LEN;
	plain = malloc(clen ? clen : 1);
	ctx = EVP_CIPHER_CTX_new();
	if (!plain || !ctx) {
		free(plain);
		EVP_CIPHER_CTX_free(ctx);
		return OPEN_NOMEM;
	}
	memcpy(tag, in + in_len - TAG_LEN, TAG_LEN);
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN,
				NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, in + MAGIC_LEN) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, in, HEADER_LEN) != 1)
		goto out;
	n = 0;
	if (clen && EVP_DecryptUpdate(ctx, plain, &n, in + HEADER_LEN,
				      (int)clen) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1 ||
	    EVP_DecryptFinal_ex(ctx, plain + n, &fin) != 1 ||
	    (size_t)n + (size_t)fin != clen)
		goto out;
	r = OPEN_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (r != OPEN_OK) {
		OPENSSL_cleanse(plain, clen ? clen : 1);
		free(plain);
		return r;
	}
	*plain_r = plain;
	*plain_len_r = clen;
	return OPEN_OK;
}

/* ---- records ---- */

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);

	if (c)
		return c;
	return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* parse - split PLAIN into records; false when malformed */
static bool parse(const unsigned char *plain, size_t len, GArray *recs)
{
	size_t off = 0;

	while (off < len) {
		struct rec r;
		char name[MO_ACCOUNT_MAX + 1];
		uint32_t blen;

		r.name_len = plain[off++];
		if (r.name_len == 0 || r.name_len > MO_ACCOUNT_MAX ||
		    len - off < r.name_len + 4)
			return false;
		r.name = (const char *)plain + off;
		memcpy(name, r.name, r.name_len);
		name[r.name_len] = '\0';
		if (!mo_account_name_valid(name))
			return false;
		off += r.name_len;
		blen = (uint32_t)plain[off] << 24 | (uint32_t)plain[off + 1] << 16 |
		       (uint32_t)plain[off + 2] << 8 | (uint32_t)plain[off + 3];
		off += 4;
		if (blen > MO_STORE_SECRET_MAX || len - off < blen ||
		    memchr(plain + off, '\0', blen))
			return false;
		r.blob = (const char *)plain + off;
		r.blob_len = blen;
		off += blen;
		if (recs->len &&
		    rec_cmp(&g_array_index(recs, struct rec, recs->len - 1),
			    &r) >= 0)
			return false;	/* unsorted or duplicate */
		g_array_append_val(recs, r);
	}
	return true;
}

/* serialise - RECS (sorted) as plaintext; the caller wipes it */
static unsigned char *serialise(GArray *recs, size_t *len_r)
{
	size_t len = 0, off = 0;
	unsigned char *out;

	for (guint i = 0; i < recs->len; i++) {
		struct rec *r = &g_array_index(recs, struct rec, i);

		len += 1 + r->name_len + 4 + r->blob_len;
	}
	if (len > PLAIN_MAX)
		return NULL;
	out = malloc(len ? len : 1);
	if (!out)
		return NULL;
	for (guint i = 0; i < recs->len; i++) {
		struct rec *r = &g_array_index(recs, struct rec, i);
		uint32_t b = (uint32_t)r->blob_len;

		out[off++] = (unsigned char)r->name_len;
		memcpy(out + off, r->name, r->name_len);
		off += r->name_len;
		out[off++] = (unsigned char)(b >> 24);
		out[off++] = (unsigned char)(b >> 16);
		out[off++] = (unsigned char)(b >> 8);
		out[off++] = (unsigned char)b;
		memcpy(out + off, r->blob, r->blob_len);
		off += r->blob_len;
	}
	*len_r = len;
	return out;
}

static int rec_find(GArray *recs, const char *account)
{
	size_t n = strlen(account);

	for (guint i = 0; i < recs->len; i++) {
		struct rec *r = &g_array_index(recs, struct rec, i);

		if (r->name_len == n && memcmp(r->name, account, n) == 0)
			return (int)i;
	}
	return -1;
}

/* ---- reading the store ---- */

struct contents {
	unsigned char *plain;	/* NULL for a missing store */
	size_t plain_len;
	GArray *recs;
};

static void contents_clear(struct contents *c)
{
	if (c->plain) {
		OPENSSL_cleanse(c->plain, c->plain_len ? c->plain_len : 1);
		free(c->plain);
		c->plain = NULL;
	}
	if (c->recs) {
		g_array_free(c->recs, TRUE);
		c->recs = NULL;
	}
}

/*
 * read_image - the bytes of the file at PATH: 1 when read, 0 when it does
 * not exist, -1 with *ERROR. CHECK: refuse an unsafe owner or mode.
 */
static int read_image(const char *what, const char *path, bool check,
		      unsigned char **buf_r, size_t *len_r, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
		      O_NONBLOCK);
	ssize_t n;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
			    "cannot open the %s %s: %s", what, path,
			    errno == ELOOP ? "it is a symbolic link" :
			    g_strerror(errno));
		return -1;
	}
	if (check && !check_file(fd, what, path, false, error)) {
		close(fd);
		return -1;
	}
	n = read_fd(fd, FILE_MAX, buf_r);
	if (n < 0) {
		g_set_error(error, MO_STORE_ERROR,
			    errno == EFBIG ? MO_STORE_ERROR_CORRUPT :
			    MO_STORE_ERROR_IO,
			    "cannot read the %s %s: %s", what, path,
			    errno == EFBIG ? "larger than any mailoauth store" :
			    g_strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	*len_r = (size_t)n;
	return 1;
}

/* backup_hint - what the last good copy PATH.bak offers, for messages */
static char *backup_hint(struct file_store *fs)
{
	unsigned char *img = NULL, *plain = NULL;
	size_t len = 0, plain_len = 0;
	enum open_result r;
	GError *e = NULL;
	char *hint;

	if (read_image("backup", fs->bak_path, false, &img, &len, &e) <= 0) {
		g_clear_error(&e);
		return g_strdup_printf("there is no earlier copy: restore the "
				       "right key, or move %s away and run "
				       "'mailoauth login' for each account",
				       fs->path);
	}
	r = unseal(fs->key, img, len, &plain, &plain_len);
	free(img);
	if (r == OPEN_OK) {
		OPENSSL_cleanse(plain, plain_len ? plain_len : 1);
		free(plain);
		return g_strdup_printf("the last good copy is %s and it "
				       "decrypts with this key, so the store is "
				       "damaged: restore it with 'cp -p %s %s' "
				       "(it may hold an older refresh token)",
				       fs->bak_path, fs->bak_path, fs->path);
	}
	hint = g_strdup_printf("the last good copy %s does not decrypt with "
			       "this key either, so the key is probably the "
			       "wrong one: use the key the store was written "
			       "with", fs->bak_path);
	return hint;
}

static void corrupt_error(struct file_store *fs, const char *why, GError **error)
{
	char *hint = backup_hint(fs);

	g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_CORRUPT,
		    "the store %s cannot be decrypted (%s): wrong %s or "
		    "corrupted file; %s. It is left untouched and saves are "
		    "refused until this is fixed", fs->path, why,
		    fs->key_source, hint);
	g_free(hint);
}

/* read_store - the store's records into *C (empty when it is missing) */
static bool read_store(struct file_store *fs, struct contents *c,
		       GError **error)
{
	unsigned char *img = NULL;
	size_t len = 0;
	enum open_result r;
	int got;

	c->recs = g_array_new(FALSE, FALSE, sizeof(struct rec));
	got = read_image("store file", fs->path, true, &img, &len, error);
	if (got <= 0)
		return got == 0;
	r = unseal(fs->key, img, len, &c->plain, &c->plain_len);
	free(img);
	switch (r) {
	case OPEN_OK:
		break;
	case OPEN_NOMEM:
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
			    "cannot read the store %s: out of memory", fs->path);
		return false;
	case OPEN_MAGIC:
		corrupt_error(fs, "not a mailoauth store, or from a newer "
			      "version", error);
		return false;
	case OPEN_SHORT:
		corrupt_error(fs, len ? "truncated" : "empty file", error);
		return false;
	case OPEN_TAG:
		corrupt_error(fs, "authentication failed", error);
		return false;
	}
	if (!parse(c->plain, c->plain_len, c->recs)) {
		corrupt_error(fs, "decrypts but its contents are malformed",
			      error);
		return false;
	}
	return true;
}

/* ---- writing the store ---- */

/* remove_stale_temps - PATH.tmp.* left by a crash (we hold the lock) */
static void remove_stale_temps(struct file_store *fs)
{
	char *base = g_path_get_basename(fs->path);
	char *prefix = g_strconcat(base, ".tmp.", NULL);
	size_t plen = strlen(prefix);
	DIR *d = opendir(fs->dir);
	struct dirent *de;

	if (d) {
		while ((de = readdir(d)))
			if (strncmp(de->d_name, prefix, plen) == 0 &&
			    strlen(de->d_name) == plen + 6)
				(void)unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	g_free(prefix);
	g_free(base);
}

static bool write_store(struct file_store *fs, const unsigned char *img,
			size_t len, GError **error)
{
	char *tmp = g_strconcat(fs->path, ".tmp.XXXXXX", NULL);
	char *bak_tmp = g_strconcat(fs->bak_path, ".tmp", NULL);
	int fd, r;
	bool ok = false;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
			    "cannot write the store %s: cannot create a "
			    "temporary file in %s: %s; the store is unchanged",
			    fs->path, fs->dir, g_strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0600) < 0 || !write_all(fd, img, len) || fsync(fd) < 0) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
			    "cannot write the store %s: %s; the store is "
			    "unchanged", fs->path, g_strerror(errno));
		close(fd);
		(void)unlink(tmp);
		goto out;
	}
	if (close(fd) < 0) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
			    "cannot write the store %s: %s; the store is "
			    "unchanged", fs->path, g_strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	/* the last good copy: best effort, the save does not depend on it */
	(void)unlink(bak_tmp);
	if (link(fs->path, bak_tmp) == 0 && rename(bak_tmp, fs->bak_path) < 0)
		(void)unlink(bak_tmp);
	if (rename(tmp, fs->path) < 0) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
			    "cannot replace the store %s: %s; the store is "
			    "unchanged", fs->path, g_strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	r = fsync_dir(fs->dir);
	if (r < 0) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
			    "the store %s was written but its directory could "
			    "not be synced to disk (%s): it may not survive a "
			    "crash", fs->path, g_strerror(-r));
		goto out;
	}
	ok = true;
out:
	g_free(bak_tmp);
	g_free(tmp);
	return ok;
}

/* lock - flock(LOCK_EX) on PATH.lock, waiting at most LOCK_WAIT_MS */
static int lock(struct file_store *fs, GError **error)
{
	int fd;
	gint64 deadline;
	gulong pause = 1000;

	if (g_mkdir_with_parents(fs->dir, 0700) < 0) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
			    "cannot create the store's directory %s: %s",
			    fs->dir, g_strerror(errno));
		return -1;
	}
	fd = open(fs->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
		  O_NOCTTY, 0600);
	if (fd < 0) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
			    "cannot write the store %s: cannot open the lock "
			    "file %s: %s; the store is unchanged", fs->path,
			    fs->lock_path, g_strerror(errno));
		return -1;
	}
	deadline = g_get_monotonic_time() + LOCK_WAIT_MS * 1000;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
				    "cannot lock %s: %s", fs->lock_path,
				    g_strerror(errno));
			close(fd);
			return -1;
		}
		if (g_get_monotonic_time() > deadline) {
			g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_BUSY,
				    "the store %s is locked by another process "
				    "(a stopped 'mailoauth'?) for more than %d s; "
				    "'fuser %s' shows which", fs->path,
				    LOCK_WAIT_MS / 1000, fs->lock_path);
			close(fd);
			return -1;
		}
		g_usleep(pause);
		if (pause < 16000)
			pause *= 2;
	}
	return fd;
}

/* update - under the lock: set ACCOUNT to SECRET, or remove it (NULL) */
static bool update(struct file_store *fs, const char *account,
		   const char *secret, GError **error)
{
	struct contents c = {0};
	unsigned char *plain = NULL, *img = NULL;
	size_t plain_len = 0, img_len = 0;
	int fd, i;
	bool ok = false;

	fd = lock(fs, error);
	if (fd < 0)
		return false;
	if (!read_store(fs, &c, error))
		goto out;
	i = rec_find(c.recs, account);
	if (!secret) {
		if (i < 0) {
			ok = true;	/* nothing to remove */
			goto out;
		}
		g_array_remove_index(c.recs, (guint)i);
	} else {
		struct rec r = {
			.name = account, .name_len = strlen(account),
			.blob = secret, .blob_len = strlen(secret),
		};

		if (i >= 0)
			g_array_index(c.recs, struct rec, i) = r;
		else
			g_array_append_val(c.recs, r);
		g_array_sort(c.recs, rec_cmp);
	}
	plain = serialise(c.recs, &plain_len);
	if (!plain) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_INVALID,
			    "cannot save account %s: the store %s would exceed "
			    "%d MiB", account, fs->path, PLAIN_MAX >> 20);
		goto out;
	}
	img = seal(fs->key, plain, plain_len, &img_len);
	if (!img) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
			    "cannot encrypt the store %s (OpenSSL failed)",
			    fs->path);
		goto out;
	}
	remove_stale_temps(fs);
	ok = write_store(fs, img, img_len, error);
out:
	if (plain) {
		OPENSSL_cleanse(plain, plain_len ? plain_len : 1);
		free(plain);
	}
	free(img);
	contents_clear(&c);
	close(fd);		/* releases the lock */
	return ok;
}

static void file_load(struct mo_store *s, const char *account,
		      mo_store_load_cb cb, void *user_data)
{
	struct file_store *fs = (struct file_store *)s;
	struct contents c = {0};
	GError *error = mo_store_check_args_(account, NULL, false);
	char *secret = NULL;
	int i;

	if (!error && read_store(fs, &c, &error) &&
	    (i = rec_find(c.recs, account)) >= 0) {
		struct rec *r = &g_array_index(c.recs, struct rec, i);

		secret = malloc(r->blob_len + 1);
		if (secret) {
			memcpy(secret, r->blob, r->blob_len);
			secret[r->blob_len] = '\0';
		} else {
			g_set_error(&error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
				    "cannot read the store %s: out of memory",
				    fs->path);
		}
	}
	contents_clear(&c);
	mo_store_reply_load_(s, cb, user_data, secret, error);
}

static void file_save(struct mo_store *s, const char *account,
		      const char *secret, mo_store_done_cb cb, void *user_data)
{
	struct file_store *fs = (struct file_store *)s;
	GError *error = mo_store_check_args_(account, secret, true);

	if (!error)
		update(fs, account, secret, &error);
	mo_store_reply_done_(s, cb, user_data, error);
}

static void file_remove(struct mo_store *s, const char *account,
			mo_store_done_cb cb, void *user_data)
{
	struct file_store *fs = (struct file_store *)s;
	GError *error = mo_store_check_args_(account, NULL, false);

	if (!error)
		update(fs, account, NULL, &error);
	mo_store_reply_done_(s, cb, user_data, error);
}

/*
 * file_check_writable - the lock can be had (a read-only file system
 * fails there) and the file system has as many free blocks as the store
 * file takes, at least one: the temporary copy a save writes
 */
static bool file_check_writable(struct mo_store *s, GError **error)
{
	struct file_store *fs = (struct file_store *)s;
	struct statvfs sv;
	struct stat st;
	unsigned long long need = 1, room;
	int fd = lock(fs, error);
	bool ok = true;

	if (fd < 0)
		return false;
	if (fstatvfs(fd, &sv) == 0 && sv.f_frsize) {
		if (stat(fs->path, &st) == 0 && st.st_size > 0)
			need = ((unsigned long long)st.st_size + sv.f_frsize - 1) /
			       sv.f_frsize;
		/* root may use the blocks reserved for it */
		room = geteuid() == 0 ? sv.f_bfree : sv.f_bavail;
		if (room < need) {
			g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
				    "cannot write the store %s: the file "
				    "system of %s is full (%s); free some "
				    "space there", fs->path, fs->dir,
				    g_strerror(ENOSPC));
			ok = false;
		}
	}
	close(fd);		/* releases the lock */
	return ok;
}

static void file_free(struct mo_store *s)
{
	struct file_store *fs = (struct file_store *)s;

	OPENSSL_cleanse(fs->key, sizeof(fs->key));
	g_free(fs->path);
	g_free(fs->lock_path);
	g_free(fs->bak_path);
	g_free(fs->dir);
	g_free(fs->key_source);
	g_free(fs);
}

static const struct mo_store_ops file_ops = {
	.load = file_load,
	.save = file_save,
	.remove = file_remove,
	.free = file_free,
	.check_writable = file_check_writable,
};

struct mo_store *mo_store_file_new(const char *path, const char *key_file,
				   GError **error)
{
	struct file_store *fs;
	int fd;

	if (!path || !*path) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_INVALID,
			    "the file store needs a path (store_path)");
		return NULL;
	}
	fs = g_new0(struct file_store, 1);
	fs->base.ops = &file_ops;
	g_queue_init(&fs->base.pending);
	fs->path = g_canonicalize_filename(path, NULL);
	fs->base.description = g_strdup_printf("file %s", fs->path);
	fs->lock_path = g_strconcat(fs->path, ".lock", NULL);
	fs->bak_path = g_strconcat(fs->path, ".bak", NULL);
	fs->dir = g_path_get_dirname(fs->path);
	if (!load_key(fs, key_file, error))
		goto fail;
	/* an unsafe store file is refused now, not at the first refresh */
	fd = open(fs->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
		  O_NONBLOCK);
	if (fd >= 0) {
		bool ok = check_file(fd, "store file", fs->path, false, error);

		close(fd);
		if (!ok)
			goto fail;
	} else if (errno != ENOENT) {
		g_set_error(error, MO_STORE_ERROR, MO_STORE_ERROR_IO,
			    "cannot open the store file %s: %s", fs->path,
			    errno == ELOOP ? "it is a symbolic link" :
			    g_strerror(errno));
		goto fail;
	}
	return &fs->base;
fail:
	mo_store_free(&fs->base);
	return NULL;
}
