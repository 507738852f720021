/* SPDX-License-Identifier: MIT */
/*
 * fuzz-store.c - libFuzzer target: the file store's format (store_file.c)
 *
 * The store file is AES-256-GCM sealed, so random bytes never get past the
 * tag; this target reaches both layers. It includes store_file.c to call
 * its static functions. Byte 0 picks the mode, the rest is the input:
 *
 *   even: the input as a whole file image, opened with a fixed key
 *         (unseal): anything but a well-formed sealed image is refused,
 *         and what does open must parse or be refused;
 *   odd:  the input as a plaintext (parse, the record reader), then, when
 *         it parses, serialise + seal + unseal + parse again.
 *
 * Checks: no crash or sanitizer report; a plaintext that parses
 * serialises back to the same bytes (the format has one spelling per
 * content); a sealed image opens with its key to the same plaintext and
 * is refused after any one bit of it is flipped.
 */
#include "../../token-helper/store_file.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key[32] = "mailoauth fuzz key, 32 bytes...";

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
	sealed[(len + sealed_len) % sealed_len] ^= 1;	/* any one bit */
	if (unseal(key, sealed, sealed_len, &opened, &opened_len) == OPEN_OK)
		abort();
	free(sealed);
	free(again);
out:
	g_array_free(recs, TRUE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *plain = NULL;
	size_t plain_len = 0;

	if (size < 1 || size > 65536)
		return 0;
	if (data[0] & 1) {
		check_records(data + 1, size - 1);
		return 0;
	}
	if (unseal(key, data + 1, size - 1, &plain, &plain_len) == OPEN_OK) {
		check_records(plain, plain_len);
		free(plain);
	}
	return 0;
}
