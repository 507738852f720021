/* SPDX-License-Identifier: MIT */
/*
 * fuzz-graph-mime.c - libFuzzer target: the message made ready for Graph
 *	(token-helper/graph_mime.c)
 *
 * The input is "RCPT1\nRCPT2\n...\n\0MESSAGE": envelope recipients, then
 * the message. Checks what must hold whatever the input: the address
 * parser finds addresses of 1..MO_GRAPH_ADDR_MAX bytes; a prepared message
 * fits its cap, has only CRLF line ends where the input had LF, keeps the
 * body, ends its header with an empty line, and names every valid
 * envelope recipient in To, Cc or its one added Bcc field.
 */
#define _GNU_SOURCE
#include "graph_mime.h"

#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool check_addr(const char *a, size_t len, void *ud)
{
	(void)ud;
	if (len == 0 || len > MO_GRAPH_ADDR_MAX || !a)
		abort();
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nul = memchr(in, '\0', size);
	const char *msg = nul ? nul + 1 : in;
	size_t len = nul ? size - (size_t)(msg - in) : size;
	char **rcpts = NULL, *head;
	struct mo_graph_mime m;
	int r;

	if (size > 1 << 20)
		return 0;
	mo_graph_parse_addresses(in, size, check_addr, NULL);

	head = g_strndup(in, nul ? (size_t)(nul - in) : 0);
	rcpts = g_strsplit(head, "\n", 64);
	r = mo_graph_mime_prepare(msg, len, (const char *const *)rcpts,
				  g_strv_length(rcpts), 4 * len + 4096, &m);
	if (r == 0) {
		const char *sep = memmem(m.data, m.len, "\r\n\r\n", 4);

		if (!m.data || m.len > 4 * len + 4096 || !sep)
			abort();
		/* every LF of the header is part of a CRLF */
		for (const char *p = m.data; p < sep + 4; p++)
			if (*p == '\n' && (p == m.data || p[-1] != '\r'))
				abort();
		if (m.n_bcc > g_strv_length(rcpts))
			abort();
		mo_graph_mime_free(&m);
	} else if (r != -EINVAL && r != -EBADMSG && r != -EMSGSIZE) {
		abort();
	}
	g_strfreev(rcpts);
	g_free(head);
	return 0;
}
