/* SPDX-License-Identifier: MIT */
/*
 * mailconn.c - TCP and TLS for `mailoauth test` (see mailconn.h)
 *
 * The socket is non-blocking from the start; every wait is a poll(2)
 * bounded by a deadline, for plain reads and writes and for OpenSSL's
 * WANT_READ / WANT_WRITE alike. Lines are cut out of one input buffer of
 * twice the line cap, so a full line always fits after compaction.
 *
 * SECURITY
 *	See mailconn.h. The buffer holds only what the server sent; what we
 *	send (the AUTH line with the token) is never buffered here, and the
 *	caller wipes its own copy.
 */
#define _GNU_SOURCE
#include "mailconn.h"
#include "mailreply.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define INBUF (2 * MO_REPLY_LINE_MAX)

struct mo_mailconn {
	int fd;
	int timeout_ms;
	SSL_CTX *ctx;
	SSL *ssl;
	char address[INET6_ADDRSTRLEN];
	char tls_info[128];
	size_t start, end;	/* unread input: in[start..end) */
	char in[INBUF];
};

static int64_t now_ms(void)
{
	return g_get_monotonic_time() / 1000;
}

static int set_err(struct mo_mailconn_error *err, enum mo_diag_fail fail,
		   const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static int set_err(struct mo_mailconn_error *err, enum mo_diag_fail fail,
		   const char *fmt, ...)
{
	va_list ap;

	err->fail = fail;
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
	return -1;
}

static enum mo_diag_fail errno_fail(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return MO_FAIL_REFUSED;
	case ETIMEDOUT:
		return MO_FAIL_TIMEOUT;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
	case EADDRNOTAVAIL:
	case EAFNOSUPPORT:
		return MO_FAIL_UNREACHABLE;
	case ECONNRESET:
	case EPIPE:
		return MO_FAIL_CLOSED;
	default:
		return MO_FAIL_NETWORK;
	}
}

/* errno_err - describe the negative errno R */
static int errno_err(struct mo_mailconn_error *err, int r)
{
	if (r == -ETIMEDOUT)
		return set_err(err, MO_FAIL_TIMEOUT, "timed out");
	return set_err(err, errno_fail(-r), "%s", strerror(-r));
}

/* wait_fd - poll FD for EVENTS until DEADLINE; 0, -ETIMEDOUT or -errno */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = deadline - now_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0;	/* errors show on the next call */
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohl(((const struct sockaddr_in *)(const void *)sa)
			     ->sin_addr.s_addr) >> 24 == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* connect_one - a non-blocking connect bounded by TIMEOUT_MS */
static int connect_one(const struct addrinfo *ai, int timeout_ms, int *fd_r)
{
	int fd, e = 0, r;
	socklen_t el = sizeof(e);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		*fd_r = fd;
		return 0;
	}
	if (errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	r = wait_fd(fd, POLLOUT, now_ms() + timeout_ms);
	if (r == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
		r = -errno;
	else if (r == 0 && e)
		r = -e;
	if (r < 0) {
		close(fd);
		return r;
	}
	*fd_r = fd;
	return 0;
}

struct mo_mailconn *mo_mailconn_open(const char *host, int port, int timeout_ms,
				     bool loopback_only,
				     struct mo_mailconn_error *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	struct mo_mailconn *c;
	char service[16], skipped[INET6_ADDRSTRLEN] = "";
	int gai, fd = -1, last = -ECONNREFUSED, tried = 0;

	memset(err, 0, sizeof(*err));
	snprintf(service, sizeof(service), "%d", port);
	gai = getaddrinfo(host, service, &hints, &res);
	if (gai) {
		enum mo_diag_fail f = gai == EAI_NONAME ? MO_FAIL_UNKNOWN_HOST
#ifdef EAI_NODATA
			: gai == EAI_NODATA ? MO_FAIL_UNKNOWN_HOST
#endif
			: MO_FAIL_RESOLVE;

		set_err(err, f, "%s", gai == EAI_SYSTEM ? strerror(errno)
							: gai_strerror(gai));
		return NULL;
	}
	c = g_new0(struct mo_mailconn, 1);
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int r;

		if (loopback_only && !is_loopback(ai->ai_addr)) {
			if (!skipped[0])
				getnameinfo(ai->ai_addr, ai->ai_addrlen, skipped,
					    sizeof(skipped), NULL, 0, NI_NUMERICHOST);
			continue;
		}
		tried++;
		r = connect_one(ai, timeout_ms, &fd);
		if (r == 0) {
			getnameinfo(ai->ai_addr, ai->ai_addrlen, c->address,
				    sizeof(c->address), NULL, 0, NI_NUMERICHOST);
			break;
		}
		last = r;
	}
	freeaddrinfo(res);
	if (fd >= 0) {
		c->fd = fd;
		return c;
	}
	g_free(c);
	if (!tried && skipped[0] && strcmp(host, skipped))
		set_err(err, MO_FAIL_PLAIN_REFUSED, "%s is %s, not a loopback "
			"address", host, skipped);
	else if (!tried)
		set_err(err, MO_FAIL_PLAIN_REFUSED, "%s is not a loopback address",
			host);
	else if (tried > 1)
		set_err(err, last == -ETIMEDOUT ? MO_FAIL_TIMEOUT : errno_fail(-last),
			"%s, on each of %d addresses",
			last == -ETIMEDOUT ? "timed out" : strerror(-last), tried);
	else
		errno_err(err, last);
	return NULL;
}

const char *mo_mailconn_address(const struct mo_mailconn *c)
{
	return c->address;
}

int64_t mo_mailconn_deadline(const struct mo_mailconn *c)
{
	return now_ms() + c->timeout_ms;
}

const char *mo_mailconn_tls_info(const struct mo_mailconn *c)
{
	return c->ssl ? c->tls_info : NULL;
}

bool mo_mailconn_pending(const struct mo_mailconn *c)
{
	return c->end > c->start || (c->ssl && SSL_pending(c->ssl) > 0);
}

static bool is_ip_literal(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* tls_failure - why SSL_connect failed (E from SSL_get_error) */
static int tls_failure(SSL *ssl, int e, struct mo_mailconn_error *err)
{
	long vr = SSL_get_verify_result(ssl);
	unsigned long ec = ERR_peek_last_error();
	int reason = ERR_GET_REASON(ec);
	const char *why = ec ? ERR_reason_error_string(ec) : NULL;

	if (vr != X509_V_OK) {
		const char *vs = X509_verify_cert_error_string(vr);

		switch (vr) {
		case X509_V_ERR_HOSTNAME_MISMATCH:
		case X509_V_ERR_IP_ADDRESS_MISMATCH:
			return set_err(err, MO_FAIL_TLS_HOSTNAME, "%s", vs);
		case X509_V_ERR_CERT_HAS_EXPIRED:
		case X509_V_ERR_CERT_NOT_YET_VALID:
			return set_err(err, MO_FAIL_TLS_EXPIRED, "%s", vs);
		default:
			return set_err(err, MO_FAIL_TLS_UNTRUSTED, "%s", vs);
		}
	}
	if (e == SSL_ERROR_SYSCALL && !ec) {
		if (errno && errno != EAGAIN)
			return set_err(err, MO_FAIL_TLS_HANDSHAKE, "%s", strerror(errno));
		return set_err(err, MO_FAIL_TLS_HANDSHAKE,
			       "the server closed the connection during the handshake");
	}
	switch (reason) {
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
		return set_err(err, MO_FAIL_TLS_NOT_TLS, "%s", why ? why : "not TLS");
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
	case SSL_R_VERSION_TOO_LOW:
		return set_err(err, MO_FAIL_TLS_VERSION, "%s", why ? why : "protocol version");
	default:
		return set_err(err, MO_FAIL_TLS_HANDSHAKE, "%s",
			       why ? why : "unknown TLS error");
	}
}

int mo_mailconn_starttls(struct mo_mailconn *c, const char *host,
			 const char *ca_file, struct mo_mailconn_error *err)
{
	int64_t deadline = mo_mailconn_deadline(c);
	X509_VERIFY_PARAM *param;
	SSL_CTX *ctx;
	SSL *ssl = NULL;

	memset(err, 0, sizeof(*err));
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return set_err(err, MO_FAIL_TLS_HANDSHAKE, "OpenSSL could not start");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file && access(ca_file, R_OK) != 0) {
		set_err(err, MO_FAIL_CA_FILE, "%s: %s", ca_file, strerror(errno));
		goto fail;
	}
	if (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1
		    : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		unsigned long ec = ERR_peek_last_error();

		set_err(err, MO_FAIL_CA_FILE, "%s: %s",
			ca_file ? ca_file : "the system's CA certificates",
			ec && ERR_reason_error_string(ec) ? ERR_reason_error_string(ec)
							  : "cannot be read");
		goto fail;
	}
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, c->fd) != 1) {
		set_err(err, MO_FAIL_TLS_HANDSHAKE, "OpenSSL could not start");
		goto fail;
	}
	param = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (is_ip_literal(host)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1) {
			set_err(err, MO_FAIL_TLS_HANDSHAKE, "bad address %s", host);
			goto fail;
		}
	} else if (SSL_set_tlsext_host_name(ssl, host) != 1 ||
		   X509_VERIFY_PARAM_set1_host(param, host, 0) != 1) {
		set_err(err, MO_FAIL_TLS_HOSTNAME, "%s cannot be checked", host);
		goto fail;
	}
	c->start = c->end = 0;
	for (;;) {
		int r, e, w;

		errno = 0;
		r = SSL_connect(ssl);
		if (r == 1)
			break;
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			w = wait_fd(c->fd, POLLIN, deadline);
		else if (e == SSL_ERROR_WANT_WRITE)
			w = wait_fd(c->fd, POLLOUT, deadline);
		else {
			tls_failure(ssl, e, err);
			goto fail;
		}
		if (w < 0) {
			errno_err(err, w);
			goto fail;
		}
	}
	c->ctx = ctx;
	c->ssl = ssl;
	snprintf(c->tls_info, sizeof(c->tls_info), "%s, %s", SSL_get_version(ssl),
		 SSL_get_cipher_name(ssl));
	return 0;
fail:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return -1;
}

/* tls_io_error - a failed SSL_read / SSL_write; 1 to wait and retry */
static int tls_io(struct mo_mailconn *c, int r, int64_t deadline,
		  struct mo_mailconn_error *err)
{
	int e = SSL_get_error(c->ssl, r), w;
	unsigned long ec;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		w = wait_fd(c->fd, POLLIN, deadline);
		break;
	case SSL_ERROR_WANT_WRITE:
		w = wait_fd(c->fd, POLLOUT, deadline);
		break;
	case SSL_ERROR_ZERO_RETURN:
		return set_err(err, MO_FAIL_CLOSED, "the server closed the TLS session");
	case SSL_ERROR_SYSCALL:
		if (errno && errno != EAGAIN)
			return errno_err(err, -errno);
		return set_err(err, MO_FAIL_CLOSED, "the connection was closed");
	default:
		ec = ERR_peek_last_error();
		set_err(err, MO_FAIL_NETWORK, "TLS: %s",
			ec && ERR_reason_error_string(ec) ? ERR_reason_error_string(ec)
							  : "error");
		ERR_clear_error();
		return -1;
	}
	return w < 0 ? errno_err(err, w) : 1;
}

/* fill_input - read what the server sent next into the buffer */
static int fill_input(struct mo_mailconn *c, int64_t deadline,
		      struct mo_mailconn_error *err)
{
	size_t room;

	if (c->start == c->end) {
		c->start = c->end = 0;
	} else if (c->start > 0) {
		memmove(c->in, c->in + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	room = sizeof(c->in) - c->end;
	for (;;) {
		ssize_t n;

		if (c->ssl) {
			int r, t;

			ERR_clear_error();
			errno = 0;
			r = SSL_read(c->ssl, c->in + c->end, room > INT_MAX ? INT_MAX : (int)room);
			if (r > 0) {
				c->end += (size_t)r;
				return 0;
			}
			t = tls_io(c, r, deadline, err);
			if (t < 0)
				return -1;
			continue;
		}
		n = recv(c->fd, c->in + c->end, room, 0);
		if (n > 0) {
			c->end += (size_t)n;
			return 0;
		}
		if (n == 0)
			return set_err(err, MO_FAIL_CLOSED, "the server closed the connection");
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = wait_fd(c->fd, POLLIN, deadline);

			if (w < 0)
				return errno_err(err, w);
			continue;
		}
		return errno_err(err, -errno);
	}
}

int mo_mailconn_read_line(struct mo_mailconn *c, char *buf, size_t size,
			  size_t *len, int64_t deadline,
			  struct mo_mailconn_error *err)
{
	memset(err, 0, sizeof(*err));
	for (;;) {
		const char *p = c->in + c->start;
		const char *lf = memchr(p, '\n', c->end - c->start);

		if (lf) {
			size_t n = (size_t)(lf - p) + 1, keep = n - 1;

			if (n > MO_REPLY_LINE_MAX)
				break;
			if (keep && p[keep - 1] == '\r')
				keep--;
			if (keep >= size)
				return set_err(err, MO_FAIL_GARBAGE, "a line too long to keep");
			memcpy(buf, p, keep);
			buf[keep] = '\0';
			*len = keep;
			c->start += n;
			return 0;
		}
		if (c->end - c->start >= MO_REPLY_LINE_MAX)
			break;
		if (fill_input(c, deadline, err) < 0)
			return -1;
	}
	return set_err(err, MO_FAIL_GARBAGE, "a line longer than %d bytes",
		       MO_REPLY_LINE_MAX);
}

int mo_mailconn_skip(struct mo_mailconn *c, size_t n, int64_t deadline,
		     struct mo_mailconn_error *err)
{
	memset(err, 0, sizeof(*err));
	while (n) {
		size_t have = c->end - c->start;

		if (!have) {
			if (fill_input(c, deadline, err) < 0)
				return -1;
			continue;
		}
		if (have > n)
			have = n;
		c->start += have;
		n -= have;
	}
	return 0;
}

int mo_mailconn_write(struct mo_mailconn *c, const char *data, size_t len,
		      struct mo_mailconn_error *err)
{
	int64_t deadline = mo_mailconn_deadline(c);

	memset(err, 0, sizeof(*err));
	while (len) {
		if (c->ssl) {
			int r, t;

			ERR_clear_error();
			errno = 0;
			r = SSL_write(c->ssl, data, len > INT_MAX ? INT_MAX : (int)len);
			if (r > 0) {
				data += r;
				len -= (size_t)r;
				continue;
			}
			t = tls_io(c, r, deadline, err);
			if (t < 0)
				return -1;
		} else {
			ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

			if (n > 0) {
				data += n;
				len -= (size_t)n;
			} else if (n < 0 && errno == EINTR) {
				continue;
			} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				int w = wait_fd(c->fd, POLLOUT, deadline);

				if (w < 0)
					return errno_err(err, w);
			} else {
				return errno_err(err, n < 0 ? -errno : -EPIPE);
			}
		}
	}
	return 0;
}

void mo_mailconn_close(struct mo_mailconn **cp)
{
	struct mo_mailconn *c = *cp;

	if (!c)
		return;
	if (c->ssl) {
		ERR_clear_error();
		SSL_shutdown(c->ssl);	/* one close_notify, no waiting */
		SSL_free(c->ssl);
		SSL_CTX_free(c->ctx);
		ERR_clear_error();
	}
	if (c->fd >= 0)
		close(c->fd);
	g_free(c);
	*cp = NULL;
}
