/* SPDX-License-Identifier: MIT */
/*
 * server.h - mailoauthd's Unix socket server
 *
 * Listens on any number of Unix stream sockets (the main one, the
 * extra_sockets such as one inside Postfix's chroot, or sockets handed
 * over by systemd), reads protocol lines (common/proto.h), identifies every
 * peer with SO_PEERCRED and SO_PEERGROUPS, and hands each request to one
 * handler, which answers now or later with mo_server_reply().
 *
 * SECURITY
 *	Everything a peer can make the daemon hold is bounded: a request line
 *	(MO_REQUEST_MAX), unread input, the number of connections (at most
 *	MO_SERVER_MAX_CONNECTIONS, fewer when RLIMIT_NOFILE allows fewer), and
 *	the time a connection may stay idle or spend on one line, however
 *	slowly its bytes trickle in (MO_SERVER_IDLE_MS from its first byte).
 *	A slow or hostile client only ever costs its own connection; nobody
 *	else waits for it. Out of descriptors, the server pauses accepting
 *	rather than spinning. Replies that carry a token are wiped from
 *	memory once written.
 *
 * DIAGNOSTICS
 *	Listening errors come back as GError; per-connection trouble (a
 *	malformed or oversized line) is answered with ERR bad-request and the
 *	connection closed. The server never logs: it counts, and main.c logs.
 */
#ifndef MAILOAUTH_SERVER_H
#define MAILOAUTH_SERVER_H

#include "proto.h"

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

#define MO_SERVER_MAX_CONNECTIONS 4096
#define MO_SERVER_IDLE_MS 10000		/* idle, or one line unfinished, */
					/* this long: the connection is closed */
#define MO_SERVER_MAX_GROUPS 256
#define MO_SERVER_FD_RESERVE 64		/* descriptors kept for all but peers */
#define MO_SERVER_ACCEPT_BATCH 32	/* connections taken per loop turn */
#define MO_SERVER_ACCEPT_PAUSE_MS 100	/* after EMFILE and the like */

/* Who is asking: from the kernel, not from anything the peer said. */
struct mo_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t groups[MO_SERVER_MAX_GROUPS];	/* all groups, primary included */
	size_t n_groups;
};

struct mo_server;
struct mo_pending;	/* one request waiting for its answer */

/*
 * The handler gets every well-formed request in order; a connection sends
 * nothing more until the handler has answered with mo_server_reply, which
 * may happen inside the handler or later from the main loop.
 */
typedef void (*mo_server_handler)(struct mo_pending *p,
				  const struct mo_request *req,
				  const struct mo_peer *peer, void *user_data);

/*
 * mo_server_raise_fd_limit - raise the soft RLIMIT_NOFILE towards what
 * MO_SERVER_MAX_CONNECTIONS needs (systemd and most shells start at 1024),
 * never above the hard limit. 0, or -errno from setrlimit. Call it before
 * mo_server_new, which sizes itself by the limit it finds.
 */
int mo_server_raise_fd_limit(void);

/* mo_server_fd_capacity - how many peers the current soft limit allows */
unsigned mo_server_fd_capacity(void);

struct mo_server *mo_server_new(mo_server_handler handler, void *user_data);
void mo_server_free(struct mo_server *s);

/*
 * mo_server_listen - bind PATH with MODE; a stale socket there is replaced,
 * anything else there is an error. The parent directory must exist and
 * must not be writable by group or others (unless sticky).
 */
bool mo_server_listen(struct mo_server *s, const char *path, mode_t mode,
		      GError **error);

/* mo_server_adopt - serve an already listening socket (systemd's) */
bool mo_server_adopt(struct mo_server *s, int fd, GError **error);

/*
 * mo_server_reply - answer a pending request with LEN bytes of DATA (a
 * whole response line, or raw bytes for XOAUTH2/OAUTHBEARER). The server
 * copies DATA and wipes the copy once sent. CLOSE ends the connection
 * after this answer. P is freed; when the peer already left, the answer
 * is dropped.
 */
void mo_server_reply(struct mo_pending *p, const char *data, size_t len,
		     bool close);

/* mo_server_reply_error - format and send "ERR code text" */
void mo_server_reply_error(struct mo_pending *p, enum mo_err err,
			   const char *text);

/* mo_pending_gone - true when the peer of P has disconnected */
bool mo_pending_gone(const struct mo_pending *p);

/* Counters for status and benchmarks. */
struct mo_server_stats {
	unsigned long accepted, refused_full, bad_requests, timeouts;
	unsigned long accept_errors;	/* accept() out of descriptors/memory */
	unsigned connections;
};
void mo_server_stats(const struct mo_server *s, struct mo_server_stats *out);

#endif
