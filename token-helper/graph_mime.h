/* SPDX-License-Identifier: MIT */
/*
 * graph_mime.h - an RFC 5322 message made ready for Microsoft Graph's
 *	sendMail (MIME form), for mailoauth-graph
 *
 * Graph takes the recipients of a MIME message from its To, Cc and Bcc
 * header fields: there is no envelope. Postfix hands mailoauth-graph an
 * envelope (its recipients on the command line) and a message whose
 * headers may name fewer addresses (a Bcc'd recipient, a list expanded by
 * an alias). mo_graph_mime_prepare turns the two into the message Graph
 * is given: every envelope recipient that the To and Cc fields do not name
 * is added in one new Bcc field (Graph delivers to Bcc addresses and
 * strips the field from what recipients see), so every envelope recipient
 * gets the message and nothing visible is invented.
 *
 * Pure code: no I/O, no logging, no global state. Works on bytes: 8-bit
 * header and body bytes (UTF-8 addresses, 8BITMIME bodies) pass through
 * unchanged. Lines end in CRLF on output, whichever of LF or CRLF came in.
 *
 * SECURITY
 *	The input comes from whoever sent the mail. Every buffer has a hard
 *	cap checked before it grows; header values are parsed in place with
 *	no recursion (nested comments are counted); an address never exceeds
 *	MO_GRAPH_ADDR_MAX bytes and a message never yields more than
 *	MO_GRAPH_ADDRS_MAX header addresses. Envelope recipients must be
 *	printable (no CR or LF), so none can add a header field of its own.
 *	Existing Bcc and Return-Path fields are dropped: Graph would deliver
 *	to a stale Bcc address that is not in the envelope.
 */
#ifndef MAILOAUTH_GRAPH_MIME_H
#define MAILOAUTH_GRAPH_MIME_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Graph refuses a request over 4 MB. The body is the base64 of the
 * message, so the message itself may have at most 3/4 of that. We take
 * 4 MB as 4,000,000 bytes, which is within the limit whichever "MB"
 * Microsoft means.
 */
#define MO_GRAPH_MAX_REQUEST	4000000u
#define MO_GRAPH_MAX_MESSAGE	(MO_GRAPH_MAX_REQUEST / 4 * 3)
#define MO_GRAPH_ADDR_MAX	320	/* one address, as in the protocol */
#define MO_GRAPH_ADDRS_MAX	10000	/* addresses taken from To and Cc */
#define MO_GRAPH_RCPTS_MAX	10000	/* envelope recipients */

/* mo_graph_base64_len - length of the base64 of N bytes (with padding) */
size_t mo_graph_base64_len(size_t n);

/*
 * A growable byte buffer with a hard cap, to stream a message into.
 */
struct mo_graph_buf {
	char *data;		/* NUL-terminated after every append */
	size_t len;
	size_t cap;		/* allocated */
	size_t max;		/* the hard cap on len */
};

/* mo_graph_buf_init - an empty buffer that will hold at most MAX bytes */
void mo_graph_buf_init(struct mo_graph_buf *b, size_t max);

/*
 * mo_graph_buf_append - append N bytes; -EMSGSIZE (nothing appended) when
 * the buffer would exceed its cap, else 0
 */
int mo_graph_buf_append(struct mo_graph_buf *b, const void *data, size_t n);

/* mo_graph_buf_free - release the buffer; it may be used again after init */
void mo_graph_buf_free(struct mo_graph_buf *b);

/*
 * mo_graph_addr_valid - an envelope recipient or sender as Postfix gives
 * it: 1..MO_GRAPH_ADDR_MAX bytes, no control character, no byte 0x7f
 */
bool mo_graph_addr_valid(const char *addr);

/*
 * mo_graph_addr_equal - do A and B (LEN bytes each) name the same mailbox?
 * A quoted local part is compared without its quotes and backslashes; the
 * whole address case-insensitively (ASCII), as Exchange does.
 */
bool mo_graph_addr_equal(const char *a, size_t alen, const char *b,
			 size_t blen);

/*
 * mo_graph_parse_addresses - the addr-specs of an RFC 5322 address list
 * (the unfolded or folded value of a To or Cc field, LEN bytes): display
 * names, comments, groups ("undisclosed-recipients:;") and obsolete routes
 * are skipped. Calls FOUND for each address (without angle brackets; not
 * NUL-terminated) until it returns false. Returns the number of addresses
 * found; addresses longer than MO_GRAPH_ADDR_MAX are skipped.
 */
size_t mo_graph_parse_addresses(const char *value, size_t len,
				bool (*found)(const char *addr, size_t len,
					      void *ud),
				void *ud);

struct mo_graph_mime {
	char *data;		/* the message for Graph; g_free it */
	size_t len;
	size_t n_header_addrs;	/* addresses in To and Cc */
	size_t n_bcc;		/* envelope recipients added as Bcc */
	size_t n_dropped;	/* Bcc and Return-Path fields dropped */
};

/*
 * mo_graph_mime_prepare - the message MSG (LEN bytes, as Postfix pipes
 * it) for envelope recipients RCPTS (N_RCPTS strings), as Graph is to get
 * it: CRLF line ends, an mbox "From " first line, Return-Path and Bcc
 * fields dropped, a Bcc field naming every envelope recipient not in To
 * or Cc, and a blank line after the header. At most MAX_OUT bytes.
 * Returns 0 and fills OUT, or:
 *	-EMSGSIZE	the result would exceed MAX_OUT (OUT stays empty)
 *	-EINVAL		no recipient, too many, or one that is not
 *			mo_graph_addr_valid
 *	-EBADMSG	the message has no header field at all
 */
int mo_graph_mime_prepare(const char *msg, size_t len,
			  const char *const *rcpts, size_t n_rcpts,
			  size_t max_out, struct mo_graph_mime *out);

/* mo_graph_mime_free - release OUT's data; accepts a zeroed struct */
void mo_graph_mime_free(struct mo_graph_mime *out);

#endif
