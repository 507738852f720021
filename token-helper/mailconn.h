/* SPDX-License-Identifier: MIT */
/*
 * mailconn.h - one TCP connection to a mail server, with TLS, read by lines
 *
 * What `mailoauth test` talks through: connect to every address of a
 * host in turn, each attempt bounded by a timeout; TLS with OpenSSL
 * (implicit, or started after STARTTLS) verifying the certificate chain
 * and the host name; lines read with a length cap and a deadline.
 * Failures are described in diagnose.h's terms, so the caller can
 * explain them.
 *
 * SECURITY
 *	TLS 1.2 or newer only, the peer always verified (system CAs or the
 *	caller's CA file), the name checked with X509_VERIFY_PARAM_set1_host
 *	(or _set1_ip_asc for an address), SNI sent for names. A plain
 *	connection may be limited to loopback addresses, since a token sent
 *	over it travels in clear. mo_mailconn_pending tells whether the
 *	server sent bytes ahead of a TLS handshake (the STARTTLS injection
 *	attack): the caller refuses such a server. No line is longer than
 *	MO_REPLY_LINE_MAX; reads never wait past the deadline.
 *
 * DIAGNOSTICS
 *	Functions return 0 or -1 with *ERR filled (kind and a short detail
 *	such as "Connection refused" or "self-signed certificate"). Nothing
 *	is printed here.
 */
#ifndef MAILOAUTH_MAILCONN_H
#define MAILOAUTH_MAILCONN_H

#include "diagnose.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mo_mailconn;

struct mo_mailconn_error {
	enum mo_diag_fail fail;
	char detail[256];
};

/*
 * mo_mailconn_open - connect to HOST:PORT, trying every address
 * getaddrinfo gives until one answers; each attempt gets TIMEOUT_MS.
 * With LOOPBACK_ONLY, addresses that are not loopback are skipped (and
 * MO_FAIL_PLAIN_REFUSED when none is). TIMEOUT_MS also becomes the
 * default for mo_mailconn_deadline.
 */
struct mo_mailconn *mo_mailconn_open(const char *host, int port, int timeout_ms,
				     bool loopback_only,
				     struct mo_mailconn_error *err);

/* mo_mailconn_address - the numeric address connected to ("192.0.2.1") */
const char *mo_mailconn_address(const struct mo_mailconn *c);

/* mo_mailconn_deadline - now plus the connection's timeout (monotonic ms) */
int64_t mo_mailconn_deadline(const struct mo_mailconn *c);

/*
 * mo_mailconn_starttls - the TLS handshake, as a client of HOST; CA_FILE
 * (PEM) instead of the system's CAs when not NULL
 */
int mo_mailconn_starttls(struct mo_mailconn *c, const char *host,
			 const char *ca_file, struct mo_mailconn_error *err);

/* mo_mailconn_tls_info - "TLSv1.3, TLS_AES_256_GCM_SHA384", or NULL */
const char *mo_mailconn_tls_info(const struct mo_mailconn *c);

/* mo_mailconn_pending - bytes are buffered that were not read yet */
bool mo_mailconn_pending(const struct mo_mailconn *c);

/* mo_mailconn_write - send LEN bytes before the deadline */
int mo_mailconn_write(struct mo_mailconn *c, const char *data, size_t len,
		      struct mo_mailconn_error *err);

/*
 * mo_mailconn_read_line - one line into BUF (SIZE bytes, at least
 * MO_REPLY_LINE_MAX + 1), without its CRLF and NUL-terminated (it may
 * hold NULs: use *LEN). A line over MO_REPLY_LINE_MAX is MO_FAIL_GARBAGE,
 * no line before DEADLINE (monotonic ms) MO_FAIL_TIMEOUT, the end of the
 * stream MO_FAIL_CLOSED.
 */
int mo_mailconn_read_line(struct mo_mailconn *c, char *buf, size_t size,
			  size_t *len, int64_t deadline,
			  struct mo_mailconn_error *err);

/* mo_mailconn_skip - read and drop N bytes (an IMAP literal) */
int mo_mailconn_skip(struct mo_mailconn *c, size_t n, int64_t deadline,
		     struct mo_mailconn_error *err);

/* mo_mailconn_close - shut TLS down politely, close, free; NULL is fine */
void mo_mailconn_close(struct mo_mailconn **c);

#endif
