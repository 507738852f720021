/* SPDX-License-Identifier: MIT */
/*
 * base64.c - base64 encoding (base64.h)
 */
#include "base64.h"

#include <errno.h>
#include <limits.h>

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int mo_base64_encode(char *dst, size_t size, const void *src, size_t len)
{
	const unsigned char *s = src;
	size_t out = 0;

	if (len > (size_t)INT_MAX / 4 * 3 - 3 || size < MO_BASE64_LEN(len) + 1) {
		if (size)
			dst[0] = '\0';
		return -ENOBUFS;
	}
	for (; len >= 3; s += 3, len -= 3) {
		dst[out++] = alphabet[s[0] >> 2];
		dst[out++] = alphabet[(s[0] & 0x03) << 4 | s[1] >> 4];
		dst[out++] = alphabet[(s[1] & 0x0f) << 2 | s[2] >> 6];
		dst[out++] = alphabet[s[2] & 0x3f];
	}
	if (len) {
		dst[out++] = alphabet[s[0] >> 2];
		if (len == 1) {
			dst[out++] = alphabet[(s[0] & 0x03) << 4];
			dst[out++] = '=';
		} else {
			dst[out++] = alphabet[(s[0] & 0x03) << 4 | s[1] >> 4];
			dst[out++] = alphabet[(s[1] & 0x0f) << 2];
		}
		dst[out++] = '=';
	}
	dst[out] = '\0';
	return (int)out;
}
