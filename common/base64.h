/* SPDX-License-Identifier: MIT */
/*
 * base64.h - base64 encoding (RFC 4648 section 4, padded, no line breaks)
 *
 * For `mailoauth token --xoauth2 | --oauthbearer`, whose front end links
 * nothing but libc and common/. Into the caller's buffer, so a caller that
 * encodes a token wipes that buffer itself.
 */
#ifndef MAILOAUTH_BASE64_H
#define MAILOAUTH_BASE64_H

#include <stddef.h>

/* MO_BASE64_LEN - the encoded length of N bytes (no NUL counted) */
#define MO_BASE64_LEN(n) (((n) + 2) / 3 * 4)

/*
 * mo_base64_encode - LEN bytes of SRC as base64 into DST (SIZE bytes),
 * NUL-terminated. Returns the length (no NUL counted), or -ENOBUFS when
 * DST is smaller than MO_BASE64_LEN(LEN) + 1 (DST is then "" if SIZE > 0).
 */
int mo_base64_encode(char *dst, size_t size, const void *src, size_t len);

#endif
