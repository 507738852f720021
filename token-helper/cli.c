/* SPDX-License-Identifier: MIT */
/*
 * cli.c - the pieces every verb of the mailoauth CLI shares (see cli.h)
 *
 * SECURITY
 *	A secret read here lives in one malloc'd buffer that the caller wipes;
 *	the terminal's echo is turned off while one is typed and restored even
 *	when reading fails. Requests to the daemon never carry a secret.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "client.h"
#include "oauth.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define CALL_TIMEOUT_MS 35000	/* a cold account waits for one refresh */

void mo_cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mailoauth: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int mo_cli_parse_flag(int argc, char **argv, const char *usage,
		      const char *flag, bool *set)
{
	const struct option opts[] = {
		{ flag, no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'f') {
			*set = true;
		} else if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		} else {
			fputs(usage, stderr);
			return MO_EXIT_USAGE;
		}
	}
	return -1;
}

bool mo_cli_is_tty(int fd)
{
	return isatty(fd) == 1;
}

int mo_cli_load_config(struct mo_cli *cli)
{
	GError *error = NULL;
	bool user_mode;
	char *user_path = NULL;

	if (cli->cfg)
		return 0;
	if (cli->mode == MO_CLI_MODE_USER) {
		user_mode = true;
	} else if (cli->mode == MO_CLI_MODE_SYSTEM || geteuid() == 0) {
		user_mode = false;
	} else if (cli->config_path) {
		user_mode = true;
	} else {
		/* a user's own file wins; else a system account they may use */
		user_path = mo_config_default_path(true);
		user_mode = !g_file_test(MO_SYSCONFDIR "/mailoauth/mailoauth.conf",
					 G_FILE_TEST_EXISTS) ||
			    (user_path && g_file_test(user_path, G_FILE_TEST_EXISTS));
		g_free(user_path);
	}
	cli->cfg = mo_config_load(cli->config_path, user_mode, &error);
	if (!cli->cfg) {
		if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			mo_cli_error("%s\n(create it: see mailoauth.conf(5) and "
				     "docs/microsoft365.md or docs/google.md)",
				     error->message);
		else
			mo_cli_error("%s", error->message);
		g_error_free(error);
		return MO_EXIT_CONFIG;
	}
	return 0;
}

struct mo_account_config *mo_cli_account(struct mo_cli *cli, const char *name,
					 int *status)
{
	GString *names;

	*status = mo_cli_load_config(cli);
	if (*status)
		return NULL;
	for (size_t i = 0; i < cli->cfg->n_accounts; i++)
		if (!strcmp(cli->cfg->accounts[i]->name, name))
			return cli->cfg->accounts[i];
	names = g_string_new(NULL);
	for (size_t i = 0; i < cli->cfg->n_accounts; i++)
		g_string_append_printf(names, "%s%s", i ? ", " : "",
				       cli->cfg->accounts[i]->name);
	if (cli->cfg->n_accounts)
		mo_cli_error("%s has no account '%s' (it has: %s)",
			     cli->cfg->path, name, names->str);
	else
		mo_cli_error("%s has no account '%s' (it has none yet: add an "
			     "[account %s] group)", cli->cfg->path, name, name);
	g_string_free(names, TRUE);
	*status = MO_EXIT_NOUSER;
	return NULL;
}

int mo_cli_open_store(struct mo_cli *cli)
{
	GError *error = NULL;
	int r = mo_cli_load_config(cli);

	if (r || cli->store)
		return r;
	if (cli->cfg->store == MO_STORE_FILE)
		cli->store = mo_store_file_new(cli->cfg->store_path,
					       cli->cfg->store_key_file, &error);
	else
		cli->store = mo_store_secret_new(&error);
	if (!cli->store) {
		mo_cli_error("%s", error->message);
		r = error->domain == MO_STORE_ERROR &&
		    error->code == MO_STORE_ERROR_UNSAFE ? MO_EXIT_NOPERM
							 : MO_EXIT_IOERR;
		g_error_free(error);
	}
	return r;
}

const char *mo_cli_socket(const struct mo_cli *cli)
{
	const char *env = secure_getenv("MAILOAUTH_SOCKET");

	if (env && *env)
		return env;
	return cli->cfg ? cli->cfg->socket : NULL;
}

int mo_cli_request_raw(const struct mo_cli *cli, const char *line, char *buf,
		       size_t size)
{
	char req[MO_REQUEST_MAX + 1];
	const char *sock = mo_cli_socket(cli);
	int len;

	if (!sock)
		return -ENOENT;
	len = snprintf(req, sizeof(req), "%s\n", line);
	if (len < 0 || (size_t)len >= sizeof(req))
		return -EINVAL;
	return mo_client_call(sock, req, (size_t)len, buf, size, CALL_TIMEOUT_MS,
			      NULL, 0);
}

int mo_cli_request(const struct mo_cli *cli, const char *line, char *buf,
		   size_t size, struct mo_response *resp)
{
	int n = mo_cli_request_raw(cli, line, buf, size);

	if (n < 0)
		return n;
	if (mo_response_parse(buf, (size_t)n, resp) < 0)
		return -EPROTO;
	return 0;
}

char *mo_cli_field(const char *line, const char *key)
{
	size_t klen = strlen(key);
	const char *p = line;

	while ((p = strchr(p, ' '))) {
		p++;
		if (!strncmp(p, key, klen) && p[klen] == '=')
			return g_strndup(p + klen + 1, strcspn(p + klen + 1, " \r\n"));
	}
	return NULL;
}

int mo_cli_exit_for_err(enum mo_err err)
{
	switch (err) {
	case MO_ERR_UNKNOWN_ACCOUNT:
		return MO_EXIT_NOUSER;
	case MO_ERR_DENIED:
		return MO_EXIT_NOPERM;
	case MO_ERR_LOGIN_REQUIRED:
		return MO_EXIT_LOGIN;
	case MO_ERR_ADMIN_REQUIRED:
	case MO_ERR_CONFIG:
		return MO_EXIT_CONFIG;
	case MO_ERR_UNAVAILABLE:
		return MO_EXIT_TEMPFAIL;
	case MO_ERR_BAD_REQUEST:
	case MO_ERR_UNKNOWN_VERB:
	case MO_ERR_VERSION:
		return MO_EXIT_PROTOCOL;
	default:
		return MO_EXIT_SOFTWARE;
	}
}

/* grant_id - the daemon's name for a grant: a SHA-256 prefix (engine.c) */
static char *grant_id(const char *secret)
{
	char *d = g_compute_checksum_for_string(G_CHECKSUM_SHA256, secret, -1);

	d[16] = '\0';
	return d;
}

bool mo_cli_notify_daemon(const struct mo_cli *cli, const char *account,
			  const char *secret)
{
	char line[MO_REQUEST_MAX], buf[MO_RESPONSE_MAX], *state, *used, *ours;
	struct mo_response resp;
	bool same = true;
	int n;

	snprintf(line, sizeof(line), "RELOAD %s", account);
	n = mo_cli_request_raw(cli, line, buf, sizeof(buf));
	if (n < 0) {
		printf("mailoauthd is not running (%s)%s\n", mo_cli_socket(cli),
		       secret ? "; it will use the grant when it starts." : ".");
		return true;
	}
	state = mo_cli_field(buf, "state");
	used = mo_cli_field(buf, "grant");
	if (secret && used) {
		ours = grant_id(secret);
		same = !strcmp(ours, used);
		g_free(ours);
	}
	if (!same)
		goto out;	/* the caller stores its grant again, asks again */
	if (mo_response_parse(buf, (size_t)n, &resp) < 0 || (resp.ok && !state))
		printf("mailoauthd answered RELOAD with nonsense.\n");
	else if (!resp.ok)
		printf("mailoauthd: %s\n", resp.text);
	else if (secret && !strcmp(state, "valid"))
		printf("mailoauthd has a fresh token for %s.\n", account);
	else if (secret)
		printf("mailoauthd could not get a token with the new grant "
		       "(%s); see: mailoauth status %s\n", state, account);
	else if (!strcmp(state, "login-required"))
		printf("mailoauthd has forgotten the token of %s.\n", account);
	else
		printf("mailoauthd still has a grant for %s (%s).\n", account,
		       state);
out:
	g_free(state);
	g_free(used);
	return same;
}

/* read_all - up to MO_STORE_SECRET_MAX bytes of FD into a new buffer */
static char *read_all(int fd, const char *what, int *status)
{
	size_t cap = MO_STORE_SECRET_MAX + 2, len = 0;
	char *buf = g_malloc(cap);
	ssize_t n;

	while ((n = read(fd, buf + len, cap - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			mo_cli_error("cannot read %s: %s", what, strerror(errno));
			*status = MO_EXIT_NOINPUT;
			goto fail;
		}
		len += (size_t)n;
		if (len > MO_STORE_SECRET_MAX) {
			mo_cli_error("%s is longer than %d bytes", what,
				     MO_STORE_SECRET_MAX);
			*status = MO_EXIT_DATAERR;
			goto fail;
		}
	}
	buf[len] = '\0';
	return buf;
fail:
	explicit_bzero(buf, cap);
	g_free(buf);
	return NULL;
}

/* read_tty - one line from the terminal with echo off */
static char *read_tty(const char *prompt, int *status)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	char *buf = NULL;
	size_t cap = MO_STORE_SECRET_MAX + 2, len = 0;
	bool restore = false;
	char c;

	if (fd < 0)
		fd = STDIN_FILENO;
	if (tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	if (write(fd == STDIN_FILENO ? STDERR_FILENO : fd, prompt, strlen(prompt)) < 0)
		(void)0;
	buf = g_malloc(cap);
	for (;;) {
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c == '\n')
			break;
		if (len + 1 >= cap)
			break;
		buf[len++] = c;
	}
	buf[len] = '\0';
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd == STDIN_FILENO ? STDERR_FILENO : fd, "\n", 1) < 0)
		(void)0;
	if (fd != STDIN_FILENO)
		close(fd);
	c = 0;
	if (len == 0) {
		mo_cli_error("nothing was typed");
		*status = MO_EXIT_DATAERR;
		g_free(buf);
		return NULL;
	}
	return buf;
}

char *mo_cli_read_secret(const char *prompt, const char *file, int *status)
{
	char *s;
	size_t len;
	int fd;

	if (file && strcmp(file, "-") != 0) {
		fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			mo_cli_error("cannot open %s: %s", file, strerror(errno));
			*status = MO_EXIT_NOINPUT;
			return NULL;
		}
		s = read_all(fd, file, status);
		close(fd);
	} else if (!file && mo_cli_is_tty(STDIN_FILENO)) {
		return read_tty(prompt, status);
	} else {
		s = read_all(STDIN_FILENO, "standard input", status);
	}
	if (!s)
		return NULL;
	len = strlen(s);
	if (len && s[len - 1] == '\n')
		s[--len] = '\0';
	if (len && s[len - 1] == '\r')
		s[--len] = '\0';
	if (!len) {
		mo_cli_error("%s is empty", file && strcmp(file, "-") ? file
							     : "standard input");
		*status = MO_EXIT_DATAERR;
		g_free(s);
		return NULL;
	}
	return s;
}

int mo_cli_save_grant(struct mo_cli *cli, const char *account,
		      const char *secret)
{
	GError *error = NULL;
	int r = mo_cli_open_store(cli);

	if (r)
		return r;
	/*
	 * A refresh of the old grant may have been storing its rotated refresh
	 * token just as ours was saved, and win. RELOAD answers after such a
	 * refresh, with the id of the grant its own refresh started from: if
	 * that is not ours, store ours again. (Comparing the store's content
	 * instead would be wrong: the daemon's refresh rotates our grant.)
	 */
	for (int tries = 0; tries < 3; tries++) {
		if (!mo_store_save_sync(cli->store, account, secret, &error)) {
			mo_cli_error("cannot save the grant of %s in %s: %s",
				     account, mo_store_describe(cli->store),
				     error->message);
			r = error->code == MO_STORE_ERROR_UNSAFE ? MO_EXIT_NOPERM
				: error->code == MO_STORE_ERROR_LOCKED ||
				  error->code == MO_STORE_ERROR_TIMEOUT ||
				  error->code == MO_STORE_ERROR_BUSY
				? MO_EXIT_TEMPFAIL : MO_EXIT_IOERR;
			g_error_free(error);
			return r;
		}
		if (mo_cli_notify_daemon(cli, account, secret))
			break;
	}
	return 0;
}

bool mo_cli_parse_host_port(const char *arg, int default_port, char **host,
			    int *port)
{
	const char *colon, *end;
	char *endp;
	long p = default_port;

	if (!arg || !*arg)
		return false;
	if (arg[0] == '[') {
		end = strchr(arg, ']');
		if (!end || end == arg + 1 || (end[1] && end[1] != ':'))
			return false;
		*host = g_strndup(arg + 1, (size_t)(end - arg - 1));
		colon = end[1] ? end + 1 : NULL;
	} else {
		colon = strchr(arg, ':');
		if (colon && strchr(colon + 1, ':'))
			return false;	/* a bare IPv6 address: use [..] */
		if (colon == arg)
			return false;
		*host = colon ? g_strndup(arg, (size_t)(colon - arg)) : g_strdup(arg);
	}
	if (colon) {
		errno = 0;
		p = strtol(colon + 1, &endp, 10);
		if (errno || !colon[1] || *endp || p < 1 || p > 65535) {
			g_clear_pointer(host, g_free);
			return false;
		}
	}
	*port = (int)p;
	return true;
}
