/* SPDX-License-Identifier: MIT */
/*
 * strbuf.c - bounded string building (strbuf.h)
 */
#include "strbuf.h"

#include <errno.h>
#include <string.h>

void mo_strbuf_put(struct mo_strbuf *sb, const char *s, size_t n)
{
	if (sb->overflow || n >= sb->size - sb->len) {
		sb->overflow = true;
		return;
	}
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void mo_strbuf_puts(struct mo_strbuf *sb, const char *s)
{
	mo_strbuf_put(sb, s, strlen(s));
}

int mo_strbuf_end(struct mo_strbuf *sb)
{
	if (sb->overflow) {
		if (sb->size)
			sb->buf[0] = '\0';
		return -ENOBUFS;
	}
	return (int)sb->len;
}
