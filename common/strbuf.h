/* SPDX-License-Identifier: MIT */
/*
 * strbuf.h - bounded string building into a caller's buffer
 *
 * Appends never write past SIZE; the first one that would not fit marks
 * the buffer as overflowed and every later one is ignored, so a caller
 * formats a whole message and checks once, in mo_strbuf_end.
 */
#ifndef MAILOAUTH_STRBUF_H
#define MAILOAUTH_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct mo_strbuf {
	char *buf;
	size_t size, len;
	bool overflow;
};

#define MO_STRBUF(b, s) ((struct mo_strbuf){(b), (s), 0, (s) == 0})

void mo_strbuf_put(struct mo_strbuf *sb, const char *s, size_t n);
void mo_strbuf_puts(struct mo_strbuf *sb, const char *s);

/*
 * mo_strbuf_end - the length built (the buffer is NUL-terminated), or
 * -ENOBUFS after an overflow (the buffer is then emptied)
 */
int mo_strbuf_end(struct mo_strbuf *sb);

#endif
