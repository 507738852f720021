/* SPDX-License-Identifier: MIT */
/*
 * fuzz-store.c - libFuzzer target: the file store's format (store_file.c)
 * and the grant inside each record (secret.c)
 *
 * The store file is AES-256-GCM sealed, so random bytes never get past the
 * tag; this target reaches every layer. It includes store_file.c to call
 * its static functions. Byte 0 picks the mode, the rest is the input:
 *
 *   even: the input as a whole file image, opened with a fixed key
 *         (unseal): anything but a well-formed sealed image is refused,
 *         and what does open goes on as below;
 *   odd:  the input as a plaintext (parse, the record reader), then, when
 *         it parses, serialise + seal + unseal, and each record's blob
 *         through the grant parser (mo_secret_parse) the daemon uses.
 *
 * Checks: no crash or sanitizer report; an image opens only when it has
 * the magic and room for header and tag, to exactly the bytes between
 * them; a plaintext that parses serialises back to the same bytes (the
 * format has one spelling per content); a sealed image opens with its key
 * to the same plaintext and is refused after one bit of it (header,
 * ciphertext or tag, chosen by the input) is flipped; a grant that parses
 * formats to one that parses to the same credentials, and replacing its
 * refresh token changes that and nothing else.
 *
 * Seeds (tests/fuzz/corpus/fuzz-store): plaintexts, and store files
 * written by tests/store-tool with this key (key[] below, as a key file).
 */
#include "../../token-helper/store_file.c"
#include "secret.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key[32] = "mailoauth fuzz key, 32 bytes...";

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_secret(const struct mo_secret *a, const struct mo_secret *b)
{
	return same(a->refresh_token, b->refresh_token) &&
	       same(a->client_secret, b->client_secret) &&
	       same(a->private_key, b->private_key);
}

/* check_grant - one record's blob as the daemon reads it */
static void check_grant(const char *blob, size_t len)
{
	static const char token[] = "fuzz-refresh-token";
	char *json = g_strndup(blob, len), *again, *out = NULL;
	struct mo_secret s, t;

	if (mo_secret_parse(json, &s)) {
		again = mo_secret_format(&s);
		if (!again || !mo_secret_parse(again, &t) || !same_secret(&s, &t))
			abort();
		mo_secret_clear(&t);
		free(again);
		if (mo_secret_set_refresh_token(json, token, &out)) {
			if (!mo_secret_parse(out, &t) ||
			    !same(t.refresh_token, token) ||
			    !same(t.client_secret, s.client_secret) ||
			    !same(t.private_key, s.private_key))
				abort();
			mo_secret_clear(&t);
			free(out);
		} else if (out || !same(s.refresh_token, token)) {
			abort();	/* "unchanged" only when it was the same */
		}
		mo_secret_clear(&s);
	}
	g_free(json);
}

static void check_records(const unsigned char *plain, size_t len)
{
	GArray *recs = g_array_new(FALSE, FALSE, sizeof(struct rec));
	unsigned char *again, *sealed, *opened = NULL;
	size_t again_len = 0, sealed_len = 0, opened_len = 0;

	if (!parse(plain, len, recs))
		goto out;
	again = serialise(recs, &again_len);
	if (!again || again_len != len || memcmp(again, plain, len) != 0)
		abort();
	sealed = seal(key, again, again_len, &sealed_len);
	if (!sealed)
		abort();
	if (unseal(key, sealed, sealed_len, &opened, &opened_len) != OPEN_OK ||
	    opened_len != len || memcmp(opened, plain, len) != 0)
		abort();
	free(opened);
	opened = NULL;
	sealed[(len * 31 + (len ? plain[len - 1] : 0)) % sealed_len] ^=
		(unsigned char)(1u << (len % 8));
	if (unseal(key, sealed, sealed_len, &opened, &opened_len) == OPEN_OK)
		abort();
	free(sealed);
	free(again);
	for (guint i = 0; i < recs->len; i++) {
		struct rec *r = &g_array_index(recs, struct rec, i);

		check_grant(r->blob, r->blob_len);
	}
out:
	g_array_free(recs, TRUE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	unsigned char *plain = NULL;
	size_t plain_len = 0;

	if (!init) {
		mo_secret_init();	/* jansson wipes what it frees, as in the daemon */
		init = true;
	}
	if (size < 1 || size > 65536)
		return 0;
	if (data[0] & 1) {
		check_records(data + 1, size - 1);
		return 0;
	}
	if (unseal(key, data + 1, size - 1, &plain, &plain_len) == OPEN_OK) {
		if (size - 1 < HEADER_LEN + TAG_LEN ||
		    memcmp(data + 1, MAGIC, MAGIC_LEN) != 0 ||
		    plain_len != size - 1 - HEADER_LEN - TAG_LEN)
			abort();
		check_records(plain, plain_len);
		free(plain);
	}
	return 0;
}
