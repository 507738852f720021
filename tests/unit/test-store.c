/* SPDX-License-Identifier: MIT */
/*
 * test-store.c - the store (token-helper/store_file.c, store_secret.c)
 *
 * The file store end to end on a real file system: round trips, absent
 * stores and accounts, a wrong key, damaged and truncated files (never
 * overwritten), unsafe modes and owners, key creation and the systemd
 * credential, two processes saving at once, a read-only directory and a
 * full disk (RLIMIT_FSIZE). The Secret Service store only where no D-Bus is
 * needed (tests/e2e/test-store-secret-service.sh has the rest).
 *
 * Secrets are never printed, not even on failure: assert_secret_equal
 * reports lengths only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "unit.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

struct fx {
	char *dir;
	char *store;
	char *key;
};

/* ---- helpers ---- */

#define assert_secret_equal(got, want) do {				\
	const char *g_ = (got), *w_ = (want);				\
	if (!g_ || strcmp(g_, w_) != 0)					\
		fail_msg("secret differs: got %s%zu bytes, want %zu",	\
			 g_ ? "" : "NULL, ", g_ ? strlen(g_) : 0,	\
			 strlen(w_));					\
} while (0)

#define assert_error(err, code_, substr) do {				\
	const GError *e_ = (err);					\
	if (!e_)							\
		fail_msg("no error, want code %d", (int)(code_));	\
	else if (e_->domain != MO_STORE_ERROR ||			\
		 e_->code != (int)(code_))				\
		fail_msg("error %s/%d (%s), want code %d",		\
			 g_quark_to_string(e_->domain), e_->code,	\
			 e_->message, (int)(code_));			\
	else if (!strstr(e_->message, (substr)))			\
		fail_msg("error \"%s\" lacks \"%s\"", e_->message,	\
			 (substr));					\
} while (0)

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	g_autofree char *cmd = g_strdup_printf("chmod -R u+rwx '%s' 2>/dev/null",
					       dir);

	/* make everything writable again, then remove it */
	if (system(cmd)) {
		/* nothing: nftw reports what is left */
	}
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	unsetenv("CREDENTIALS_DIRECTORY");
	fx->dir = g_build_filename(g_get_tmp_dir(), "test-store.XXXXXX", NULL);
	if (!g_mkdtemp(fx->dir)) {
		g_free(fx->dir);
		free(fx);
		return -1;
	}
	fx->store = g_strdup_printf("%s/state/store", fx->dir);
	fx->key = g_strdup_printf("%s/conf/store.key", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	unsetenv("CREDENTIALS_DIRECTORY");
	rm_rf(fx->dir);
	g_free(fx->dir);
	g_free(fx->store);
	g_free(fx->key);
	free(fx);
	return 0;
}

static struct mo_store *open_ok(const char *store, const char *key)
{
	GError *error = NULL;
	struct mo_store *s = mo_store_file_new(store, key, &error);

	if (!s)
		fail_msg("mo_store_file_new: %s", error->message);
	return s;
}

static void save_ok(struct mo_store *s, const char *account, const char *secret)
{
	GError *error = NULL;

	if (!mo_store_save_sync(s, account, secret, &error))
		fail_msg("save %s: %s", account, error->message);
}

/* load - the blob or NULL; fails the test on error */
static char *load(struct mo_store *s, const char *account)
{
	GError *error = NULL;
	char *secret = mo_store_load_sync(s, account, &error);

	if (error)
		fail_msg("load %s: %s", account, error->message);
	return secret;
}

static void expect_secret(struct mo_store *s, const char *account,
			  const char *want)
{
	char *got = load(s, account);

	assert_secret_equal(got, want);
	mo_store_secret_free(got);
}

static void expect_absent(struct mo_store *s, const char *account)
{
	char *got = load(s, account);

	if (got) {
		mo_store_secret_free(got);
		fail_msg("account %s should be absent", account);
	}
}

static GBytes *file_bytes(const char *path)
{
	char *data = NULL;
	gsize len = 0;

	if (!g_file_get_contents(path, &data, &len, NULL))
		return NULL;
	return g_bytes_new_take(data, len);
}

static void write_file(const char *path, const void *data, size_t len,
		       mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void write_random_key(const char *path, mode_t mode)
{
	unsigned char key[MO_STORE_KEY_SIZE];
	FILE *f = fopen("/dev/urandom", "rb");

	assert_non_null(f);
	assert_int_equal(fread(key, 1, sizeof(key), f), sizeof(key));
	fclose(f);
	write_file(path, key, sizeof(key), mode);
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* a store with three accounts, closed again */
static void populate(struct fx *fx)
{
	struct mo_store *s = open_ok(fx->store, fx->key);

	save_ok(s, "alice@example.com", "{\"refresh_token\":\"rt-alice\"}");
	save_ok(s, "bob", "{\"client_secret\":\"cs-bob\"}");
	save_ok(s, "carol", "{\"refresh_token\":\"rt-carol\"}");
	mo_store_free(s);
}

/*
 * expect_refused - a store that does not decrypt: every operation fails
 * with the CORRUPT error naming the key, and the file stays byte-identical
 */
static void expect_refused(struct fx *fx, const char *key, const char *why)
{
	GBytes *before = file_bytes(fx->store), *after;
	struct mo_store *s = open_ok(fx->store, key);
	GError *error = NULL;
	char *secret;

	assert_non_null(before);
	secret = mo_store_load_sync(s, "alice@example.com", &error);
	assert_null(secret);
	assert_error(error, MO_STORE_ERROR_CORRUPT, "cannot be decrypted");
	assert_non_null(strstr(error->message, why));
	assert_non_null(strstr(error->message, fx->store));
	assert_non_null(strstr(error->message, "wrong key file"));
	assert_non_null(strstr(error->message, key));
	g_clear_error(&error);

	secret = mo_store_load_sync(s, "nobody", &error);
	assert_null(secret);
	assert_error(error, MO_STORE_ERROR_CORRUPT, "cannot be decrypted");
	g_clear_error(&error);

	assert_false(mo_store_save_sync(s, "dave", "{\"refresh_token\":\"x\"}",
					&error));
	assert_error(error, MO_STORE_ERROR_CORRUPT, "saves are refused");
	g_clear_error(&error);
	assert_false(mo_store_remove_sync(s, "bob", &error));
	assert_error(error, MO_STORE_ERROR_CORRUPT, "cannot be decrypted");
	g_clear_error(&error);
	mo_store_free(s);

	after = file_bytes(fx->store);
	assert_non_null(after);
	assert_true(g_bytes_equal(before, after));
	g_bytes_unref(before);
	g_bytes_unref(after);
}

/* ---- round trips ---- */

static void round_trip(void **state)
{
	struct fx *fx = *state;
	struct mo_store *s;
	char *big = malloc(MO_STORE_SECRET_MAX + 1);
	char *path;

	memset(big, 'k', MO_STORE_SECRET_MAX);
	big[MO_STORE_SECRET_MAX] = '\0';
	s = open_ok(fx->store, fx->key);
	expect_absent(s, "alice@example.com");
	save_ok(s, "alice@example.com", "{\"refresh_token\":\"rt-1\"}");
	save_ok(s, "bob", "{\"client_secret\":\"é ü \\\"q\\\"\",\"saved_at\":1}");
	save_ok(s, "x.y_z+tag-1@Example.ORG", "");
	save_ok(s, "big", big);
	expect_secret(s, "alice@example.com", "{\"refresh_token\":\"rt-1\"}");
	expect_secret(s, "bob", "{\"client_secret\":\"é ü \\\"q\\\"\",\"saved_at\":1}");
	expect_secret(s, "x.y_z+tag-1@Example.ORG", "");
	expect_secret(s, "big", big);

	/* overwrite one; the others stay */
	save_ok(s, "alice@example.com", "{\"refresh_token\":\"rt-2\"}");
	expect_secret(s, "alice@example.com", "{\"refresh_token\":\"rt-2\"}");
	expect_secret(s, "bob", "{\"client_secret\":\"é ü \\\"q\\\"\",\"saved_at\":1}");
	mo_store_free(s);

	/* a new store object (another process, in effect) sees it all */
	s = open_ok(fx->store, fx->key);
	expect_secret(s, "alice@example.com", "{\"refresh_token\":\"rt-2\"}");
	expect_secret(s, "big", big);
	mo_store_free(s);

	assert_int_equal(file_mode(fx->store), 0600);
	path = g_strdup_printf("%s.bak", fx->store);
	assert_int_equal(file_mode(path), 0600);
	g_free(path);
	path = g_strdup_printf("%s/state", fx->dir);
	assert_int_equal(file_mode(path), 0700);
	g_free(path);
	free(big);
}

static void missing_store(void **state)
{
	struct fx *fx = *state;
	struct mo_store *s = open_ok(fx->store, fx->key);
	GError *error = NULL;

	expect_absent(s, "alice@example.com");
	assert_true(mo_store_remove_sync(s, "alice@example.com", &error));
	assert_false(exists(fx->store));	/* removing created nothing */
	mo_store_free(s);
}

static void absent_account(void **state)
{
	struct fx *fx = *state;
	struct mo_store *s;

	populate(fx);
	s = open_ok(fx->store, fx->key);
	expect_absent(s, "dave");
	expect_absent(s, "alice");		/* a prefix of a stored name */
	expect_absent(s, "bobby");		/* a stored name is its prefix */
	mo_store_free(s);
}

static void remove_account(void **state)
{
	struct fx *fx = *state;
	struct mo_store *s;
	GError *error = NULL;

	populate(fx);
	s = open_ok(fx->store, fx->key);
	assert_true(mo_store_remove_sync(s, "bob", &error));
	expect_absent(s, "bob");
	expect_secret(s, "alice@example.com", "{\"refresh_token\":\"rt-alice\"}");
	expect_secret(s, "carol", "{\"refresh_token\":\"rt-carol\"}");
	assert_true(mo_store_remove_sync(s, "bob", &error));	/* again */
	assert_true(mo_store_remove_sync(s, "alice@example.com", &error));
	assert_true(mo_store_remove_sync(s, "carol", &error));
	expect_absent(s, "carol");
	save_ok(s, "bob", "{\"refresh_token\":\"new\"}");	/* empty store */
	expect_secret(s, "bob", "{\"refresh_token\":\"new\"}");
	mo_store_free(s);
}

/* ---- the file never holds a secret in clear ---- */

static bool file_contains(const char *path, const char *needle)
{
	GBytes *b = file_bytes(path);
	gsize len = 0;
	const void *data;
	bool found;

	if (!b)
		return false;
	data = g_bytes_get_data(b, &len);
	found = memmem(data, len, needle, strlen(needle)) != NULL;
	g_bytes_unref(b);
	return found;
}

static void no_plaintext(void **state)
{
	static const char *const secrets[] = {
		"PLAINTEXT-CANARY-refresh-4f1d",
		"PLAINTEXT-CANARY-client-9e2a",
		"-----BEGIN PRIVATE KEY-----CANARY",
	};
	struct fx *fx = *state;
	struct mo_store *s = open_ok(fx->store, fx->key);
	g_autofree char *bak = g_strdup_printf("%s.bak", fx->store);
	g_autofree char *lock = g_strdup_printf("%s.lock", fx->store);
	char blob[256];
	const char *files[] = { fx->store, bak, lock, fx->key };

	for (size_t i = 0; i < G_N_ELEMENTS(secrets); i++) {
		char account[32];

		snprintf(account, sizeof(account), "canary-account-%zu", i);
		snprintf(blob, sizeof(blob), "{\"refresh_token\":\"%s\"}",
			 secrets[i]);
		save_ok(s, account, blob);
	}
	mo_store_free(s);
	assert_true(exists(bak));
	for (size_t f = 0; f < G_N_ELEMENTS(files); f++) {
		for (size_t i = 0; i < G_N_ELEMENTS(secrets); i++)
			if (file_contains(files[f], secrets[i]))
				fail_msg("secret %zu is readable in %s", i,
					 files[f]);
		if (file_contains(files[f], "canary-account"))
			fail_msg("an account name is readable in %s", files[f]);
		if (file_contains(files[f], "refresh_token"))
			fail_msg("JSON is readable in %s", files[f]);
	}
	/* it is a store: magic, and the header changes with every write */
	assert_true(file_contains(fx->store, "MOSTORE1"));
}

/* ---- wrong key, damage, truncation: refused, never overwritten ---- */

static void wrong_key(void **state)
{
	struct fx *fx = *state;
	g_autofree char *other = g_strdup_printf("%s/conf/other.key", fx->dir);

	populate(fx);
	write_random_key(other, 0600);
	expect_refused(fx, other, "authentication failed");
}

static void wrong_key_hint(void **state)
{
	struct fx *fx = *state;
	g_autofree char *other = g_strdup_printf("%s/conf/other.key", fx->dir);
	GError *error = NULL;
	struct mo_store *s;

	populate(fx);		/* three saves: a .bak exists */
	write_random_key(other, 0600);
	s = open_ok(fx->store, other);
	assert_null(mo_store_load_sync(s, "bob", &error));
	/* the backup fails too: the key is the suspect */
	assert_error(error, MO_STORE_ERROR_CORRUPT,
		     "does not decrypt with this key either");
	g_clear_error(&error);
	mo_store_free(s);
}

static void flip(const char *path, long offset)
{
	GBytes *b = file_bytes(path);
	gsize len;
	unsigned char *data = g_bytes_unref_to_data(b, &len);

	assert_true(len > 0);
	if (offset < 0)
		offset += (long)len;
	assert_true((gsize)offset < len);
	data[offset] ^= 0x01;
	write_file(path, data, len, 0600);
	g_free(data);
}

static void corrupted_byte(void **state)
{
	struct fx *fx = *state;
	g_autofree char *bak = g_strdup_printf("cp -p %s.bak %s", fx->store,
					       fx->store);
	GError *error = NULL;
	struct mo_store *s;
	long offsets[] = { 30, 8, 19, 20, -1, -16 }; /* body, nonce, tag */

	populate(fx);
	for (size_t i = 0; i < G_N_ELEMENTS(offsets); i++) {
		flip(fx->store, offsets[i]);
		expect_refused(fx, fx->key, "authentication failed");
		flip(fx->store, offsets[i]);	/* repaired */
		s = open_ok(fx->store, fx->key);
		expect_secret(s, "bob", "{\"client_secret\":\"cs-bob\"}");
		mo_store_free(s);
	}

	/* damaged, but the last good copy decrypts: the message says so */
	flip(fx->store, 40);
	s = open_ok(fx->store, fx->key);
	assert_null(mo_store_load_sync(s, "bob", &error));
	assert_error(error, MO_STORE_ERROR_CORRUPT, bak);
	assert_non_null(strstr(error->message, "decrypts with this key"));
	g_clear_error(&error);
	mo_store_free(s);

	/* a damaged magic */
	flip(fx->store, 40);
	flip(fx->store, 0);
	expect_refused(fx, fx->key, "not a mailoauth store");
}

static void truncated(void **state)
{
	struct fx *fx = *state;
	GBytes *whole;
	gsize len;
	const unsigned char *data;
	size_t cuts[] = { 0, 5, 8, 20, 35, 0 };

	populate(fx);
	whole = file_bytes(fx->store);
	data = g_bytes_get_data(whole, &len);
	cuts[G_N_ELEMENTS(cuts) - 1] = len - 1;
	for (size_t i = 0; i < G_N_ELEMENTS(cuts); i++) {
		write_file(fx->store, data, cuts[i], 0600);
		expect_refused(fx, fx->key,
			       cuts[i] == 0 ? "empty file" :
			       cuts[i] < 36 ? "truncated" :
			       "authentication failed");
	}
	/* and appended garbage */
	{
		unsigned char *more = g_malloc(len + 3);

		memcpy(more, data, len);
		memcpy(more + len, "xyz", 3);
		write_file(fx->store, more, len + 3, 0600);
		expect_refused(fx, fx->key, "authentication failed");
		g_free(more);
	}
	g_bytes_unref(whole);
}

/* ---- keys ---- */

static void key_created(void **state)
{
	struct fx *fx = *state;
	struct mo_store *s;
	struct stat st;
	g_autofree char *conf = g_strdup_printf("%s/conf", fx->dir);

	assert_false(exists(fx->key));
	s = open_ok(fx->store, fx->key);
	assert_int_equal(stat(fx->key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, MO_STORE_KEY_SIZE);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(file_mode(conf), 0700);
	save_ok(s, "bob", "{\"refresh_token\":\"1\"}");
	mo_store_free(s);

	/* the same key next time */
	s = open_ok(fx->store, fx->key);
	expect_secret(s, "bob", "{\"refresh_token\":\"1\"}");
	mo_store_free(s);
}

static void key_missing_with_store(void **state)
{
	struct fx *fx = *state;
	GError *error = NULL;

	populate(fx);
	assert_int_equal(unlink(fx->key), 0);
	assert_null(mo_store_file_new(fx->store, fx->key, &error));
	assert_error(error, MO_STORE_ERROR_KEY, "is missing but the store");
	g_clear_error(&error);
	assert_false(exists(fx->key));	/* no new key that could not decrypt */
}

static void key_wrong_size(void **state)
{
	struct fx *fx = *state;
	GError *error = NULL;

	assert_int_equal(g_mkdir_with_parents(fx->dir, 0700), 0);
	g_free(fx->key);
	fx->key = g_strdup_printf("%s/short.key", fx->dir);
	write_file(fx->key, "0123456789abcdef", 16, 0600);
	assert_null(mo_store_file_new(fx->store, fx->key, &error));
	assert_error(error, MO_STORE_ERROR_KEY, "holds 16 bytes, not 32");
	g_clear_error(&error);
	write_file(fx->key, "0123456789abcdef0123456789abcdef!", 33, 0600);
	assert_null(mo_store_file_new(fx->store, fx->key, &error));
	assert_error(error, MO_STORE_ERROR_KEY, "more than 32 bytes");
	g_clear_error(&error);
}

static void unsafe_key_mode(void **state)
{
	static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0602 };
	struct fx *fx = *state;
	g_autofree char *want = g_strdup_printf("run 'chmod 600 %s'", fx->key);
	GError *error = NULL;

	mo_store_free(open_ok(fx->store, fx->key));
	for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
		assert_int_equal(chmod(fx->key, modes[i]), 0);
		assert_null(mo_store_file_new(fx->store, fx->key, &error));
		assert_error(error, MO_STORE_ERROR_UNSAFE, want);
		assert_non_null(strstr(error->message, "the key file"));
		g_clear_error(&error);
	}
	assert_int_equal(chmod(fx->key, 0400), 0);	/* read-only is fine */
	mo_store_free(open_ok(fx->store, fx->key));
}

static void unsafe_store_mode(void **state)
{
	struct fx *fx = *state;
	g_autofree char *want = g_strdup_printf("run 'chmod 600 %s'",
						fx->store);
	GError *error = NULL;
	struct mo_store *s;

	populate(fx);
	s = open_ok(fx->store, fx->key);	/* opened while still safe */
	assert_int_equal(chmod(fx->store, 0644), 0);
	assert_null(mo_store_file_new(fx->store, fx->key, &error));
	assert_error(error, MO_STORE_ERROR_UNSAFE, want);
	assert_non_null(strstr(error->message, "the store file"));
	g_clear_error(&error);
	/* and an open store checks again at every read */
	assert_null(mo_store_load_sync(s, "bob", &error));
	assert_error(error, MO_STORE_ERROR_UNSAFE, want);
	g_clear_error(&error);
	assert_false(mo_store_save_sync(s, "bob", "{}", &error));
	assert_error(error, MO_STORE_ERROR_UNSAFE, want);
	g_clear_error(&error);
	mo_store_free(s);
}

static void unsafe_owner(void **state)
{
	struct fx *fx = *state;
	char *want;
	GError *error = NULL;

	/*
	 * Only root can give a file away. (cmocka's skip() prints "not ok
	 * # SKIP", which tests/run-tests counts as a failure: just pass.)
	 */
	if (geteuid() != 0)
		return;
	populate(fx);
	assert_int_equal(chown(fx->key, NOBODY, (gid_t)-1), 0);
	want = g_strdup_printf("run 'chown root %s'", fx->key);
	assert_null(mo_store_file_new(fx->store, fx->key, &error));
	assert_error(error, MO_STORE_ERROR_UNSAFE, want);
	assert_non_null(strstr(error->message, "not by root"));
	g_clear_error(&error);
	g_free(want);
	assert_int_equal(chown(fx->key, 0, (gid_t)-1), 0);
	assert_int_equal(chown(fx->store, NOBODY, (gid_t)-1), 0);
	want = g_strdup_printf("run 'chown root %s'", fx->store);
	assert_null(mo_store_file_new(fx->store, fx->key, &error));
	assert_error(error, MO_STORE_ERROR_UNSAFE, want);
	g_clear_error(&error);
	g_free(want);
}

static void credentials_directory(void **state)
{
	struct fx *fx = *state;
	g_autofree char *creds = g_strdup_printf("%s/creds", fx->dir);
	g_autofree char *cred = g_strdup_printf("%s/%s", creds,
						MO_STORE_CREDENTIAL);
	g_autofree char *copy = g_strdup_printf("%s/absent.key", fx->dir);
	GBytes *key;
	gsize len;
	struct mo_store *s;
	GError *error = NULL;

	assert_int_equal(mkdir(creds, 0700), 0);
	write_random_key(cred, 0400);
	/* a key file exists too, with another key: the credential wins */
	assert_int_equal(g_mkdir_with_parents(fx->dir, 0700), 0);
	mo_store_free(open_ok(fx->store, fx->key));
	assert_true(exists(fx->key));

	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	s = open_ok(fx->store, fx->key);
	save_ok(s, "bob", "{\"refresh_token\":\"via-credential\"}");
	mo_store_free(s);

	/* a key file that is absent is not created when the credential is there */
	s = open_ok(fx->store, copy);
	expect_secret(s, "bob", "{\"refresh_token\":\"via-credential\"}");
	mo_store_free(s);
	assert_false(exists(copy));

	/* without the credential, the key file cannot decrypt it... */
	unsetenv("CREDENTIALS_DIRECTORY");
	s = open_ok(fx->store, fx->key);
	assert_null(mo_store_load_sync(s, "bob", &error));
	assert_error(error, MO_STORE_ERROR_CORRUPT, "cannot be decrypted");
	g_clear_error(&error);
	mo_store_free(s);

	/* ...but a copy of the credential's bytes can */
	key = file_bytes(cred);
	assert_non_null(key);
	write_file(copy, g_bytes_get_data(key, &len), g_bytes_get_size(key),
		   0600);
	g_bytes_unref(key);
	s = open_ok(fx->store, copy);
	expect_secret(s, "bob", "{\"refresh_token\":\"via-credential\"}");
	mo_store_free(s);

	/* a credential others can read is refused; an empty dir falls back */
	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	assert_int_equal(chmod(cred, 0404), 0);
	assert_null(mo_store_file_new(fx->store, fx->key, &error));
	assert_error(error, MO_STORE_ERROR_UNSAFE, "the credential");
	g_clear_error(&error);
	assert_int_equal(unlink(cred), 0);
	s = open_ok(fx->store, copy);
	expect_secret(s, "bob", "{\"refresh_token\":\"via-credential\"}");
	mo_store_free(s);
}

/* ---- concurrency: two processes, one store ---- */

static void child_saves(const char *store, const char *key, char prefix,
			int n)
{
	GError *error = NULL;
	struct mo_store *s = mo_store_file_new(store, key, &error);

	if (!s) {
		fprintf(stderr, "# child %c: %s\n", prefix, error->message);
		_exit(1);
	}
	for (int i = 0; i < n; i++) {
		char account[32], secret[64];

		snprintf(account, sizeof(account), "%c-%03d", prefix, i);
		snprintf(secret, sizeof(secret), "{\"refresh_token\":\"%c%d\"}",
			 prefix, i);
		if (!mo_store_save_sync(s, account, secret, &error)) {
			fprintf(stderr, "# child %c save %d: %s\n", prefix, i,
				error->message);
			_exit(2);
		}
	}
	mo_store_free(s);
	_exit(0);
}

static void run_children(struct fx *fx, const char *prefixes, int n)
{
	size_t k = strlen(prefixes);
	pid_t pids[8];
	struct mo_store *s;

	assert_true(k <= G_N_ELEMENTS(pids));
	for (size_t c = 0; c < k; c++) {
		pids[c] = fork();
		assert_true(pids[c] >= 0);
		if (pids[c] == 0)
			child_saves(fx->store, fx->key, prefixes[c], n);
	}
	for (size_t c = 0; c < k; c++) {
		int status;

		assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("child %c failed (status 0x%x)", prefixes[c],
				 status);
	}
	s = open_ok(fx->store, fx->key);
	for (size_t c = 0; c < k; c++)
		for (int i = 0; i < n; i++) {
			char account[32], secret[64];

			snprintf(account, sizeof(account), "%c-%03d",
				 prefixes[c], i);
			snprintf(secret, sizeof(secret),
				 "{\"refresh_token\":\"%c%d\"}", prefixes[c], i);
			expect_secret(s, account, secret);
		}
	mo_store_free(s);
}

static void concurrent_saves(void **state)
{
	struct fx *fx = *state;

	mo_store_free(open_ok(fx->store, fx->key));	/* the key */
	run_children(fx, "pq", 200);
}

static void concurrent_key_creation(void **state)
{
	struct fx *fx = *state;

	/* four processes find no key at once: they must agree on one */
	run_children(fx, "abcd", 3);
}

/* ---- failing writes leave the old store ---- */

#define CHILD_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "# child: check failed at line %d: %s\n",\
			__LINE__, #cond);				\
		_exit(10);						\
	}								\
} while (0)

static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool no_temp_files(const char *dir)
{
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;
	bool clean = true;

	if (!d)
		return false;
	while ((name = g_dir_read_name(d)))
		if (strstr(name, ".tmp"))
			clean = false;
	g_dir_close(d);
	return clean;
}

/* read_only_child - as a user that the directory's mode binds */
static void read_only_child(void)
{
	char dir[] = "/tmp/test-store-ro.XXXXXX";
	char store[64], key[64];	/* "/tmp/test-store-ro.XXXXXX/store" fits */
	struct mo_store *s;
	GError *error = NULL;
	GBytes *before, *after;
	char *secret;

	CHILD_CHECK(mkdtemp(dir));
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(key, sizeof(key), "%s/key", dir);
	s = mo_store_file_new(store, key, &error);
	CHILD_CHECK(s);
	CHILD_CHECK(mo_store_save_sync(s, "alice", "{\"refresh_token\":\"1\"}",
				       &error));
	before = file_bytes(store);
	CHILD_CHECK(chmod(dir, 0500) == 0);
	CHILD_CHECK(!mo_store_save_sync(s, "bob", "{\"refresh_token\":\"2\"}",
					&error));
	CHILD_CHECK(error && error->code == MO_STORE_ERROR_IO);
	CHILD_CHECK(strstr(error->message, store));
	CHILD_CHECK(strstr(error->message, "Permission denied"));
	CHILD_CHECK(strstr(error->message, "the store is unchanged"));
	g_clear_error(&error);
	CHILD_CHECK(!mo_store_remove_sync(s, "alice", &error));
	CHILD_CHECK(error && error->code == MO_STORE_ERROR_IO);
	g_clear_error(&error);
	after = file_bytes(store);
	CHILD_CHECK(before && after && g_bytes_equal(before, after));
	secret = mo_store_load_sync(s, "alice", &error);
	CHILD_CHECK(secret && strcmp(secret, "{\"refresh_token\":\"1\"}") == 0);
	mo_store_secret_free(secret);
	CHILD_CHECK(!mo_store_load_sync(s, "bob", &error) && !error);
	CHILD_CHECK(no_temp_files(dir));
	mo_store_free(s);
	g_bytes_unref(before);
	g_bytes_unref(after);
	CHILD_CHECK(chmod(dir, 0700) == 0);
	rm_rf(dir);
	_exit(0);
}

static void read_only_directory(void **state)
{
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* root ignores directory modes: become nobody first */
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 ||
		     setuid(NOBODY) < 0))
			_exit(20);
		read_only_child();
	}
	assert_int_equal(wait_child(pid), 0);
}

/* disk_full_child - a save that hits RLIMIT_FSIZE (EFBIG, as ENOSPC would) */
static void disk_full_child(struct fx *fx)
{
	struct rlimit rl = { 1024, 1024 };
	struct mo_store *s = mo_store_file_new(fx->store, fx->key, NULL);
	GBytes *before = file_bytes(fx->store), *after;
	GError *error = NULL;
	char *blob = g_strnfill(3000, 'b'), *secret;

	CHILD_CHECK(s && before);
	signal(SIGXFSZ, SIG_IGN);
	CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
	CHILD_CHECK(!mo_store_save_sync(s, "dave", blob, &error));
	CHILD_CHECK(error && error->code == MO_STORE_ERROR_IO);
	CHILD_CHECK(strstr(error->message, "File too large"));
	CHILD_CHECK(strstr(error->message, "the store is unchanged"));
	g_clear_error(&error);
	after = file_bytes(fx->store);
	CHILD_CHECK(after && g_bytes_equal(before, after));
	secret = mo_store_load_sync(s, "bob", &error);
	CHILD_CHECK(secret && strcmp(secret, "{\"client_secret\":\"cs-bob\"}") == 0);
	mo_store_secret_free(secret);
	CHILD_CHECK(!mo_store_load_sync(s, "dave", &error) && !error);
	mo_store_free(s);
	g_bytes_unref(before);
	g_bytes_unref(after);
	g_free(blob);
	_exit(0);
}

static void disk_full(void **state)
{
	struct fx *fx = *state;
	char *dir;
	pid_t pid;

	populate(fx);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		disk_full_child(fx);
	assert_int_equal(wait_child(pid), 0);
	dir = g_strdup_printf("%s/state", fx->dir);
	assert_true(no_temp_files(dir));
	g_free(dir);
}

/* ---- the asynchronous interface ---- */

struct result {
	int calls;
	char *secret;
	GError *error;
};

static void on_load(char *secret, GError *error, void *user_data)
{
	struct result *r = user_data;

	r->calls++;
	r->secret = secret;
	r->error = error ? g_error_copy(error) : NULL;
}

static void on_done(GError *error, void *user_data)
{
	struct result *r = user_data;

	r->calls++;
	r->error = error ? g_error_copy(error) : NULL;
}

static void callbacks_from_main_loop(void **state)
{
	struct fx *fx = *state;
	GMainContext *ctx = g_main_context_new();
	struct result saved = {0}, loaded = {0}, bad = {0};
	struct mo_store *s;

	populate(fx);
	s = open_ok(fx->store, fx->key);
	g_main_context_push_thread_default(ctx);
	mo_store_save(s, "dave", "{\"refresh_token\":\"d\"}", on_done, &saved);
	mo_store_load(s, "dave", on_load, &loaded);
	mo_store_load(s, "no/such", on_load, &bad);
	/* nothing is called from inside the calls */
	assert_int_equal(saved.calls + loaded.calls + bad.calls, 0);
	/* the replies wait on the thread-default context, not the global one */
	assert_false(g_main_context_pending(g_main_context_default()));
	while (!saved.calls || !loaded.calls || !bad.calls)
		g_main_context_iteration(ctx, TRUE);
	g_main_context_pop_thread_default(ctx);
	assert_int_equal(saved.calls, 1);
	assert_null(saved.error);
	assert_int_equal(loaded.calls, 1);
	assert_null(loaded.error);
	assert_secret_equal(loaded.secret, "{\"refresh_token\":\"d\"}");
	mo_store_secret_free(loaded.secret);
	assert_int_equal(bad.calls, 1);
	assert_null(bad.secret);
	assert_error(bad.error, MO_STORE_ERROR_INVALID, "invalid account name");
	g_clear_error(&bad.error);
	mo_store_free(s);
	g_main_context_unref(ctx);
}

static void free_drops_pending(void **state)
{
	struct fx *fx = *state;
	GMainContext *ctx = g_main_context_new();
	struct result loaded = {0}, saved = {0};
	struct mo_store *s;

	populate(fx);
	s = open_ok(fx->store, fx->key);
	g_main_context_push_thread_default(ctx);
	mo_store_load(s, "bob", on_load, &loaded);	/* holds a secret */
	mo_store_save(s, "dave", "{}", on_done, &saved);
	mo_store_free(s);
	while (g_main_context_iteration(ctx, FALSE))
		;
	g_main_context_pop_thread_default(ctx);
	assert_int_equal(loaded.calls + saved.calls, 0);
	g_main_context_unref(ctx);
}

static void invalid_arguments(void **state)
{
	static const char *const bad_names[] = {
		"", "-leading-dash", "a/b", "a b", "a\nb", "ü",
		"0123456789012345678901234567890123456789012345678901234567890123x",
	};
	struct fx *fx = *state;
	struct mo_store *s = open_ok(fx->store, fx->key);
	char *big = g_strnfill(MO_STORE_SECRET_MAX + 1, 'x');
	GError *error = NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(bad_names); i++) {
		assert_null(mo_store_load_sync(s, bad_names[i], &error));
		assert_error(error, MO_STORE_ERROR_INVALID, "invalid account name");
		g_clear_error(&error);
		assert_false(mo_store_save_sync(s, bad_names[i], "{}", &error));
		assert_error(error, MO_STORE_ERROR_INVALID, "invalid account name");
		g_clear_error(&error);
		assert_false(mo_store_remove_sync(s, bad_names[i], &error));
		assert_error(error, MO_STORE_ERROR_INVALID, "invalid account name");
		g_clear_error(&error);
	}
	assert_false(mo_store_save_sync(s, "bob", NULL, &error));
	assert_error(error, MO_STORE_ERROR_INVALID, "no secret");
	g_clear_error(&error);
	assert_false(mo_store_save_sync(s, "bob", big, &error));
	assert_error(error, MO_STORE_ERROR_INVALID, "larger than");
	g_clear_error(&error);
	assert_false(mo_store_save_sync(s, "bob", "\xff\xfe", &error));
	assert_error(error, MO_STORE_ERROR_INVALID, "not valid UTF-8");
	g_clear_error(&error);
	/* 64 characters is the longest name */
	save_ok(s, "0123456789012345678901234567890123456789012345678901234567890123",
		"{}");
	mo_store_free(s);
	g_free(big);
}

static void describe(void **state)
{
	struct fx *fx = *state;
	struct mo_store *s = open_ok(fx->store, fx->key);
	g_autofree char *want = g_strdup_printf("file %s", fx->store);

	assert_string_equal(mo_store_describe(s), want);
	mo_store_free(s);
	s = mo_store_secret_new(NULL);
	assert_string_equal(mo_store_describe(s), "Secret Service");
	mo_store_free(s);
	mo_store_free(NULL);
	mo_store_secret_free(NULL);
}

/* ---- the Secret Service store, without one ---- */

static void secret_service_unavailable(void **state)
{
	struct fx *fx = *state;
	g_autofree char *addr = g_strdup_printf("unix:path=%s/no-such-bus",
						fx->dir);
	struct mo_store *s;
	GError *error = NULL;
	gint64 start;

	setenv("DBUS_SESSION_BUS_ADDRESS", addr, 1);
	s = mo_store_secret_new(&error);
	assert_non_null(s);
	start = g_get_monotonic_time();
	assert_null(mo_store_load_sync(s, "bob", &error));
	assert_error(error, MO_STORE_ERROR_UNAVAILABLE,
		     "the Secret Service is not available");
	assert_non_null(strstr(error->message, "or use store = file"));
	g_clear_error(&error);
	assert_false(mo_store_save_sync(s, "bob", "{}", &error));
	assert_error(error, MO_STORE_ERROR_UNAVAILABLE, "not available");
	g_clear_error(&error);
	assert_false(mo_store_remove_sync(s, "bob", &error));
	assert_error(error, MO_STORE_ERROR_UNAVAILABLE, "not available");
	g_clear_error(&error);
	assert_true(g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC);
	/* bad arguments never reach D-Bus */
	assert_false(mo_store_save_sync(s, "a b", "{}", &error));
	assert_error(error, MO_STORE_ERROR_INVALID, "invalid account name");
	g_clear_error(&error);
	mo_store_free(s);
	unsetenv("DBUS_SESSION_BUS_ADDRESS");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(round_trip),
		T(missing_store),
		T(absent_account),
		T(remove_account),
		T(no_plaintext),
		T(wrong_key),
		T(wrong_key_hint),
		T(corrupted_byte),
		T(truncated),
		T(key_created),
		T(key_missing_with_store),
		T(key_wrong_size),
		T(unsafe_key_mode),
		T(unsafe_store_mode),
		T(unsafe_owner),
		T(credentials_directory),
		T(concurrent_saves),
		T(concurrent_key_creation),
		T(read_only_directory),
		T(disk_full),
		T(callbacks_from_main_loop),
		T(free_drops_pending),
		T(invalid_arguments),
		T(describe),
		T(secret_service_unavailable),	/* last: it starts GDBus threads */
#undef T
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
