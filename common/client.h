/* SPDX-License-Identifier: MIT */
/*
 * client.h - one request, one response over the mailoauthd Unix socket
 *
 * Used by the SASL plugin, the CLI and mailoauth-graph. A call opens a
 * connection, sends one request line, reads one response line and closes:
 * no descriptor outlives the call, and nothing is kept between calls.
 *
 * SECURITY
 *	The response is bounded by the caller's buffer (at most
 *	MO_RESPONSE_MAX). The caller wipes it when it held a token.
 */
#ifndef MAILOAUTH_CLIENT_H
#define MAILOAUTH_CLIENT_H

#include <stddef.h>

/*
 * mo_client_call - ask the first reachable socket of PATHS
 *
 * PATHS is a list of socket paths separated by spaces, tried in order
 * while connecting fails (a chrooted process sees only some of them).
 * TIMEOUT_MS bounds the whole call. On success returns the length of the
 * response line in RESP (NUL-terminated, LF included). Errors:
 *	-ENOENT, -ECONNREFUSED, -EACCES...	no socket could be connected
 *						(the error of the last path)
 *	-ENAMETOOLONG				a path does not fit sun_path
 *	-ETIMEDOUT				no complete answer in time
 *	-EMSGSIZE				answer longer than SIZE - 1
 *	-EPROTO					connection closed mid-line
 * When REACHED is not NULL it receives the path that was connected (or
 * the last one tried), for error messages.
 */
int mo_client_call(const char *paths, const char *req, size_t reqlen,
		   char *resp, size_t size, int timeout_ms,
		   char *reached, size_t reached_size);

/*
 * mo_client_strerror - one sentence for an error R of mo_client_call
 * ("mailoauthd is not running or its socket is elsewhere", ...)
 */
const char *mo_client_strerror(int r);

#endif
