/* SPDX-License-Identifier: MIT */
/*
 * server.c - mailoauthd's Unix socket server (see server.h)
 *
 * One GSource per connection, watching its descriptor for exactly what the
 * connection needs next (input while there is room and nothing pending,
 * output while a reply is unsent) and carrying the idle deadline as its
 * ready time, so the daemon wakes up only when something happens. GLib
 * signals its wake-up descriptor (a system call and one more loop turn)
 * whenever a ready time or a watched condition changes, so both change
 * only when they must: the ready time lags behind the deadline, which only
 * ever moves later, and is moved up to it when it comes; the condition is
 * set only when it differs from what is watched. And every source may
 * "recurse": GLib would otherwise take its descriptors out of the poll set
 * around each dispatch and put them back after (two more signals), which
 * only matters to programs that run nested main loops; mailoauthd runs
 * none.
 *
 * The deadline is set when a connection opens, when a request line begins,
 * when a whole line goes to the handler and when an answer makes progress;
 * more bytes of an unfinished line do not move it, so a line must be
 * complete MO_SERVER_IDLE_MS after its first byte (a client dripping a byte
 * every few seconds cannot keep a connection forever). Connections are
 * capped by the descriptors the process may open (RLIMIT_NOFILE, less a
 * reserve for the store, the identity provider and the listeners); when
 * accept() still runs out of descriptors, the listeners pause briefly
 * instead of spinning on a backlog they cannot take.
 */
#define _GNU_SOURCE
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct conn;

struct mo_pending {
	struct conn *conn;	/* NULL once the peer is gone */
};

struct conn {
	GSource source;		/* first: the GSource is the connection */
	struct mo_server *srv;
	int fd;
	gpointer tag;
	GIOCondition watched;	/* what the source watches now */
	gint64 deadline;	/* idle deadline, monotonic µs */
	struct mo_peer peer;
	char in[MO_REQUEST_MAX + 1];
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	struct mo_pending *pending;
	bool eof, close_after, closed;
};

struct listener {
	struct mo_server *srv;
	int fd;
	guint watch;		/* 0 while paused */
	guint resume;		/* the timeout that ends a pause */
	char *path;		/* unlinked at exit; NULL for adopted sockets */
};

struct mo_server {
	mo_server_handler handler;
	void *user_data;
	GPtrArray *listeners;
	GHashTable *conns;	/* struct conn * set */
	unsigned max_conns;	/* MO_SERVER_MAX_CONNECTIONS or what fds allow */
	struct mo_server_stats stats;
};

static void conn_update(struct conn *c);
static void conn_step(struct conn *c);
static void conn_read(struct conn *c);
static void conn_close(struct conn *c);

static void wipe_free(char *p, size_t n)
{
	if (p) {
		explicit_bzero(p, n);
		g_free(p);
	}
}

/* ---- peers ---- */

static void read_peer(int fd, struct mo_peer *peer)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	socklen_t glen = sizeof(peer->groups);

	memset(peer, 0, sizeof(*peer));
	peer->uid = (uid_t)-1;
	peer->gid = (gid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		peer->pid = cred.pid;
		peer->uid = cred.uid;
		peer->gid = cred.gid;
	}
	/* the peer's supplementary groups, as the kernel knows them */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, peer->groups, &glen) == 0) {
		peer->n_groups = glen / sizeof(gid_t);
	} else if (peer->uid != (uid_t)-1) {
		/* older kernels: the groups of the uid's account */
		struct passwd pw, *res = NULL;
		char buf[4096];
		int n = MO_SERVER_MAX_GROUPS;

		if (getpwuid_r(peer->uid, &pw, buf, sizeof(buf), &res) == 0 && res &&
		    getgrouplist(pw.pw_name, peer->gid, peer->groups, &n) >= 0)
			peer->n_groups = (size_t)n;
	}
	/* the primary group counts too: allow = @mail must match gid mail */
	for (size_t i = 0; i < peer->n_groups; i++)
		if (peer->groups[i] == peer->gid)
			return;
	if (peer->gid != (gid_t)-1 && peer->n_groups < MO_SERVER_MAX_GROUPS)
		peer->groups[peer->n_groups++] = peer->gid;
}

/* ---- connections ---- */

static gboolean conn_dispatch(GSource *src, GSourceFunc cb, gpointer ud);

static GSourceFuncs conn_funcs = {
	.dispatch = conn_dispatch,
};

/* conn_touch - the idle deadline starts again (the ready time lags) */
static void conn_touch(struct conn *c)
{
	c->deadline = g_get_monotonic_time() + (gint64)MO_SERVER_IDLE_MS * 1000;
}

static void conn_new(struct mo_server *s, int fd)
{
	struct conn *c;

	if (g_hash_table_size(s->conns) >= s->max_conns) {
		s->stats.refused_full++;
		close(fd);
		return;
	}
	c = (struct conn *)g_source_new(&conn_funcs, sizeof(*c));
	c->srv = s;
	c->fd = fd;
	read_peer(fd, &c->peer);
	c->tag = g_source_add_unix_fd(&c->source, fd, G_IO_IN);
	c->watched = G_IO_IN;
	g_source_set_can_recurse(&c->source, TRUE);	/* see the top */
	conn_touch(c);
	g_source_set_ready_time(&c->source, c->deadline);
	g_hash_table_add(s->conns, c);
	s->stats.accepted++;
	g_source_attach(&c->source, NULL);
	/*
	 * A client writes its request right after connecting, so it is often
	 * here already: answering it now saves a turn of the main loop.
	 */
	g_source_ref(&c->source);
	conn_read(c);
	if (!c->closed)
		conn_step(c);
	g_source_unref(&c->source);
}

static void conn_close(struct conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	if (c->pending) {
		c->pending->conn = NULL;	/* the handler still owns it */
		c->pending = NULL;
	}
	wipe_free(c->out, c->out_len);
	c->out = NULL;
	explicit_bzero(c->in, sizeof(c->in));
	close(c->fd);
	g_hash_table_remove(c->srv->conns, c);
	g_source_destroy(&c->source);
	g_source_unref(&c->source);
}

static void send_error(struct conn *c, enum mo_err err, const char *text)
{
	char buf[MO_TEXT_MAX + 64];
	int n = mo_response_format_error(buf, sizeof(buf), err, text);

	c->out = g_memdup2(buf, (gsize)n);
	c->out_len = (size_t)n;
	c->out_off = 0;
	c->close_after = true;
}

/*
 * next_request - hand the next complete line to the handler, if any. The
 * line leaves the input buffer first: the handler may answer at once, and
 * the answer may already process the following line.
 */
static void next_request(struct conn *c)
{
	char line[MO_REQUEST_MAX + 1];
	struct mo_request req;
	char *lf;
	size_t len;
	int r;

	if (c->pending || c->out || c->closed)
		return;
	lf = memchr(c->in, '\n', c->in_len);
	if (!lf) {
		if (c->in_len >= MO_REQUEST_MAX) {
			c->srv->stats.bad_requests++;
			send_error(c, MO_ERR_BAD_REQUEST,
				   "request line longer than 1024 bytes");
			return;
		}
		if (!c->eof || c->in_len == 0)
			return;
		len = c->in_len;	/* EOF ends the last line */
	} else {
		len = (size_t)(lf - c->in) + 1;
	}
	memcpy(line, c->in, len);
	line[len] = '\0';
	explicit_bzero(c->in, len);
	memmove(c->in, c->in + len, c->in_len - len);
	c->in_len -= len;

	r = mo_request_parse(line, len, &req);
	if (r < 0) {
		c->srv->stats.bad_requests++;
		send_error(c, r == -EOPNOTSUPP ? MO_ERR_UNKNOWN_VERB : MO_ERR_BAD_REQUEST,
			   r == -EOPNOTSUPP ? "unknown request; see docs/protocol.md"
					    : "malformed request; see docs/protocol.md");
	} else {
		conn_touch(c);	/* the time to answer starts now */
		c->pending = g_new0(struct mo_pending, 1);
		c->pending->conn = c;
		c->srv->handler(c->pending, &req, &c->peer, c->srv->user_data);
	}
	explicit_bzero(line, sizeof(line));
}

static void conn_read(struct conn *c)
{
	ssize_t n;

	if (c->in_len >= MO_REQUEST_MAX)
		return;
	n = read(c->fd, c->in + c->in_len, MO_REQUEST_MAX - c->in_len);
	if (n > 0) {
		/* only a new line moves the deadline, not more of an old one */
		if (c->in_len == 0)
			conn_touch(c);
		c->in_len += (size_t)n;
	} else if (n == 0) {
		c->eof = true;
	} else if (errno != EAGAIN && errno != EINTR) {
		conn_close(c);
	}
}

static void conn_write(struct conn *c)
{
	while (c->out && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n > 0) {
			c->out_off += (size_t)n;
			conn_touch(c);
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			return;
		} else {
			conn_close(c);
			return;
		}
	}
	if (c->out) {
		wipe_free(c->out, c->out_len);
		c->out = NULL;
		if (c->close_after)
			conn_close(c);
	}
}

/* conn_update - process what can be processed, then watch for what is next */
static void conn_update(struct conn *c)
{
	g_source_ref(&c->source);	/* a reply may close C under our feet */
	conn_step(c);
	g_source_unref(&c->source);
}

static void conn_step(struct conn *c)
{
	GIOCondition want = 0;

	next_request(c);
	if (c->closed)
		return;
	if (c->out)
		conn_write(c);
	if (c->closed)
		return;
	if (!c->out)
		next_request(c);	/* a pipelined request may be waiting */
	if (c->closed)
		return;
	if (c->out)
		want |= G_IO_OUT;
	else if (c->eof && !c->pending && c->in_len == 0) {
		conn_close(c);		/* the peer is done, and so are we */
		return;
	}
	if (!c->eof && c->in_len < MO_REQUEST_MAX && !c->out)
		want |= G_IO_IN;
	if (want != c->watched) {
		g_source_modify_unix_fd(&c->source, c->tag, want);
		c->watched = want;
	}
}

static gboolean conn_dispatch(GSource *src, GSourceFunc cb, gpointer ud)
{
	struct conn *c = (struct conn *)src;
	GIOCondition rev = g_source_query_unix_fd(src, c->tag);

	(void)cb;
	(void)ud;
	if (!rev && g_source_get_time(src) >= g_source_get_ready_time(src)) {
		if (g_source_get_time(src) < c->deadline) {
			/* touched since: the ready time catches up */
			g_source_set_ready_time(src, c->deadline);
			return G_SOURCE_CONTINUE;
		}
		/* idle, or a line that never ends: a waiting answer is dropped */
		c->srv->stats.timeouts++;
		conn_close(c);
		return G_SOURCE_REMOVE;
	}
	if (rev & (G_IO_ERR | G_IO_NVAL)) {
		conn_close(c);
		return G_SOURCE_REMOVE;
	}
	if ((rev & G_IO_HUP) && !(rev & G_IO_IN) && c->eof) {
		/* both directions closed (a half-close gives EOF, not HUP) */
		conn_close(c);
		return G_SOURCE_REMOVE;
	}
	g_source_ref(src);
	if (rev & G_IO_OUT)
		conn_write(c);
	if (!c->closed && (rev & (G_IO_IN | G_IO_HUP)))
		conn_read(c);
	if (!c->closed)
		conn_step(c);
	bool closed = c->closed;

	g_source_unref(src);
	return closed ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

/* ---- replies ---- */

void mo_server_reply(struct mo_pending *p, const char *data, size_t len,
		     bool close)
{
	struct conn *c = p->conn;

	g_free(p);
	if (!c)
		return;
	c->pending = NULL;
	c->out = g_memdup2(data, (gsize)len);
	c->out_len = len;
	c->out_off = 0;
	c->close_after = close;
	conn_touch(c);
	conn_update(c);
}

void mo_server_reply_error(struct mo_pending *p, enum mo_err err,
			   const char *text)
{
	char buf[MO_TEXT_MAX + 64];
	int n = mo_response_format_error(buf, sizeof(buf), err, text);

	mo_server_reply(p, buf, (size_t)n, false);
}

bool mo_pending_gone(const struct mo_pending *p)
{
	return p->conn == NULL;
}

/* ---- listeners ---- */

static gboolean on_accept(gint fd, GIOCondition cond, gpointer ud);

/* watch_listener - dispatch on_accept when L's socket has connections */
static guint watch_listener(struct listener *l)
{
	GSource *src = g_unix_fd_source_new(l->fd, G_IO_IN);
	guint id;

	g_source_set_callback(src, G_SOURCE_FUNC(on_accept), l, NULL);
	g_source_set_can_recurse(src, TRUE);	/* see the top of the file */
	id = g_source_attach(src, NULL);
	g_source_unref(src);
	return id;
}

static gboolean on_resume(gpointer ud)
{
	struct listener *l = ud;

	l->resume = 0;
	l->watch = watch_listener(l);
	return G_SOURCE_REMOVE;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer ud)
{
	struct listener *l = ud;
	int n;

	(void)cond;
	/*
	 * A batch at a time: new connections are answered at once when their
	 * request is there, so clients that reconnect at once could keep this
	 * loop going for ever while no other connection is served.
	 */
	for (n = 0; n < MO_SERVER_ACCEPT_BATCH; n++) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c >= 0) {
			conn_new(l->srv, c);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return G_SOURCE_CONTINUE;
		break;
	}
	if (n == MO_SERVER_ACCEPT_BATCH)
		return G_SOURCE_CONTINUE;	/* the rest on the next turn */
	/*
	 * EMFILE, ENFILE, ENOBUFS, ENOMEM: the backlog stays readable, so
	 * watching it now would spin; look again once connections had time
	 * to close. Waiting clients stay in the backlog meanwhile.
	 */
	l->srv->stats.accept_errors++;
	l->watch = 0;
	l->resume = g_timeout_add(MO_SERVER_ACCEPT_PAUSE_MS, on_resume, l);
	return G_SOURCE_REMOVE;
}

static void add_listener(struct mo_server *s, int fd, const char *path)
{
	struct listener *l = g_new0(struct listener, 1);

	l->srv = s;
	l->fd = fd;
	l->path = g_strdup(path);
	l->watch = watch_listener(l);
	g_ptr_array_add(s->listeners, l);
}

static void listener_free(gpointer p)
{
	struct listener *l = p;

	if (l->watch)
		g_source_remove(l->watch);
	if (l->resume)
		g_source_remove(l->resume);
	close(l->fd);
	if (l->path)
		unlink(l->path);
	g_free(l->path);
	g_free(l);
}

/* stale_socket - PATH is a socket nobody listens on any more */
static bool stale_socket(const char *path, const struct sockaddr_un *sa,
			 GError **error)
{
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT;
	if (!S_ISSOCK(st.st_mode)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
			    "%s exists and is not a socket: remove it or "
			    "choose another path", path);
		return false;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (r == 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
			    "another mailoauthd already listens on %s", path);
		return false;
	}
	unlink(path);
	return true;
}

/*
 * check_socket_dir - refuse a directory where others could replace the
 * socket (unlink or rename it and listen there themselves): one writable
 * by group or others, unless sticky as /tmp is. A missing directory is
 * left to bind() to report.
 */
static bool check_socket_dir(const char *path, GError **error)
{
	char *dir = g_path_get_dirname(path);
	struct stat st;
	bool ok = true;

	if (stat(dir, &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(st.st_mode & S_ISVTX)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
			    "the socket directory %s is writable by group or "
			    "others (mode %04o), so they could replace the "
			    "socket %s with their own: run 'chmod go-w %s'",
			    dir, (unsigned)(st.st_mode & 07777), path, dir);
		ok = false;
	}
	g_free(dir);
	return ok;
}

bool mo_server_listen(struct mo_server *s, const char *path, mode_t mode,
		      GError **error)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG,
			    "socket path %s is longer than %zu bytes", path,
			    sizeof(sa.sun_path) - 1);
		return false;
	}
	strcpy(sa.sun_path, path);
	if (!check_socket_dir(path, error) || !stale_socket(path, &sa, error))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* never a moment with a wider mode than asked for */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		umask(old);
		goto fail;
	}
	umask(old);
	if (chmod(path, mode) < 0 || listen(fd, 512) < 0) {
		unlink(path);
		goto fail;
	}
	add_listener(s, fd, path);
	return true;
fail:
	g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
		    "cannot listen on %s: %s", path, g_strerror(errno));
	if (fd >= 0)
		close(fd);
	return false;
}

bool mo_server_adopt(struct mo_server *s, int fd, GError **error)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
			    "descriptor %d from systemd is not a stream socket", fd);
		return false;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	add_listener(s, fd, NULL);
	return true;
}

/* ---- life cycle ---- */

unsigned mo_server_fd_capacity(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= MO_SERVER_MAX_CONNECTIONS + MO_SERVER_FD_RESERVE)
		return MO_SERVER_MAX_CONNECTIONS;
	if (rl.rlim_cur <= 2 * MO_SERVER_FD_RESERVE)
		return (unsigned)rl.rlim_cur / 2;	/* a tiny limit: half of it */
	return (unsigned)rl.rlim_cur - MO_SERVER_FD_RESERVE;
}

int mo_server_raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want = MO_SERVER_MAX_CONNECTIONS + MO_SERVER_FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ?
			      want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	return 0;
}

struct mo_server *mo_server_new(mo_server_handler handler, void *user_data)
{
	struct mo_server *s = g_new0(struct mo_server, 1);

	s->handler = handler;
	s->user_data = user_data;
	s->max_conns = mo_server_fd_capacity();
	s->listeners = g_ptr_array_new_with_free_func(listener_free);
	s->conns = g_hash_table_new(NULL, NULL);
	return s;
}

void mo_server_free(struct mo_server *s)
{
	GHashTableIter it;
	gpointer key;

	if (!s)
		return;
	g_ptr_array_free(s->listeners, TRUE);
	for (;;) {
		g_hash_table_iter_init(&it, s->conns);
		if (!g_hash_table_iter_next(&it, &key, NULL))
			break;
		conn_close(key);
	}
	g_hash_table_destroy(s->conns);
	g_free(s);
}

void mo_server_stats(const struct mo_server *s, struct mo_server_stats *out)
{
	*out = s->stats;
	out->connections = g_hash_table_size(s->conns);
}
