/* SPDX-License-Identifier: MIT */
/*
 * mailoauth-front.c - the mailoauth command users run: `token` itself, every
 * other verb through the full CLI
 *
 * SYNOPSIS
 *	mailoauth [--config FILE] [--user | --system] token
 *		  [--xoauth2 | --oauthbearer] ACCOUNT
 *	mailoauth [--config FILE] [--user | --system] VERB [ARGS...]
 *
 * DESCRIPTION
 *	msmtp's passwordeval and neomutt's *_oauth_refresh_command run
 *	`mailoauth token` for every connection. The full CLI (mailoauth.c and
 *	cli_*.c) links GLib, libsecret, libcurl, OpenSSL and more, whose loading
 *	costs many times a bare process spawn. This front end links nothing but
 *	libc and common/, as the SASL plugin does, and does what cli_token.c
 *	does: the same options, output, sentences and exit statuses (cli.h).
 *
 *	To find the daemon's socket it reads only the [daemon] group's socket
 *	key of the configuration file that mo_cli_load_config would choose,
 *	with the same checks of that file and that key as config.c and the
 *	same defaults (config_socket_parse). The rest of the file is the
 *	daemon's business (`mailoauthd --check` checks it).
 *
 *	Everything else -- another verb, --help or --version before a verb, an
 *	unknown option, no verb -- is handed, argv unchanged, to the full CLI
 *	with execv: mailoauth-cli next to this program when there is one (the
 *	build tree), else MO_CLI_PATH ($(LIBEXECDIR)/mailoauth/mailoauth-cli).
 *
 * SECURITY
 *	As mo_secret_protect_process: no core dumps, not dumpable; umask 077.
 *	The token goes to standard output with write(2), bypassing stdio, and
 *	every buffer that held it is wiped. Nothing secret is in argv or the
 *	environment, here or in the exec. The configuration file gets
 *	config.c's owner, mode, type and size checks (it names the socket the
 *	token comes from); the reader is bounded by the file's size cap and
 *	never quotes a value.
 *
 * DIAGNOSTICS
 *	One sentence "mailoauth: ..." on standard error, as the full CLI says
 *	it. Exit 70 when the full CLI cannot be run (an incomplete install).
 */
#define _GNU_SOURCE
#include "base64.h"
#include "client.h"
#include "proto.h"
#include "saslmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <locale.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef MO_SYSCONFDIR
#define MO_SYSCONFDIR "/etc"
#endif
#ifndef MO_CLI_PATH
#define MO_CLI_PATH "/usr/local/libexec/mailoauth/mailoauth-cli"
#endif
#define CLI_NAME        "mailoauth-cli"
#define SYSTEM_CONFIG   MO_SYSCONFDIR "/mailoauth/mailoauth.conf"
#define SYSTEM_SOCKET   "/run/mailoauth/socket"
#define CONFIG_MAX      (8 * 1024 * 1024)	/* MO_CONFIG_MAX_SIZE, config.h */
#define GROUP_NAME_MAX  100			/* as config.c */
#define SOCKET_MAX      sizeof(((struct sockaddr_un *)NULL)->sun_path)
#define NSS_BUF_MAX     (1024 * 1024)
#define CALL_TIMEOUT_MS 35000	/* as cli.c: a cold account waits for one refresh */
#define ERROR_MAX       8192

/* the exit statuses of cli.h that token uses */
enum {
	MO_EXIT_USAGE = 64,
	MO_EXIT_DATAERR = 65,
	MO_EXIT_NOUSER = 67,
	MO_EXIT_LOGIN = 69,
	MO_EXIT_SOFTWARE = 70,
	MO_EXIT_IOERR = 74,
	MO_EXIT_TEMPFAIL = 75,
	MO_EXIT_PROTOCOL = 76,
	MO_EXIT_NOPERM = 77,
	MO_EXIT_CONFIG = 78,
};

enum mode { MODE_AUTO, MODE_USER, MODE_SYSTEM };

/* what reading the configuration gave: the socket, or one sentence */
struct front_config {
	char socket[SOCKET_MAX];
	char error[ERROR_MAX];
	bool noent;		/* no such file: say how to create one */
};

/*
 * user_locale - the C library's words (strerror, getopt's complaints) in
 * the user's language, as the full CLI says them. Set up only when there
 * is something to say: loading a locale is a good part of what a
 * successful `token` would otherwise cost.
 */
static void user_locale(void)
{
	static bool done;
	int e = errno;

	if (!done)
		setlocale(LC_ALL, "");
	done = true;
	errno = e;
}

/* ---- reading the socket key ---- */

/* fail - set FC's sentence; returns -1 */
__attribute__((format(printf, 2, 3)))
static int fail(struct front_config *fc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fc->error, sizeof(fc->error), fmt, ap);
	va_end(ap);
	return -1;
}

/* is_space - g_ascii_isspace: what g_strstrip strips */
static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* utf8_valid - N bytes of S are UTF-8 (shortest forms, no surrogates) */
static bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		unsigned c = *p++, need, min;

		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, min = 0x80, c &= 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, min = 0x800, c &= 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, min = 0x10000, c &= 0x07;
		else
			return false;
		if ((size_t)(end - p) < need)
			return false;
		for (; need; need--, p++) {
			if ((*p & 0xc0) != 0x80)
				return false;
			c = c << 6 | (*p & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
	}
	return true;
}

/*
 * socket_value - the raw value of [daemon] socket (after the =), unescaped
 * as GKeyFile does, stripped and checked as config.c's get() and
 * check_socket_path do, into FC->socket
 */
static int socket_value(const char *file, const char *raw, size_t len,
			struct front_config *fc)
{
	char *v = malloc(len + 1), *start;
	size_t n = 0;
	int r = -1;

	if (!v)
		return fail(fc, "%s: out of memory", file);
	for (size_t i = 0; i < len; i++) {
		if (raw[i] != '\\') {
			v[n++] = raw[i];
			continue;
		}
		if (++i == len || !strchr("sntr\\", raw[i])) {
			fail(fc, "%s: [daemon] socket: has an invalid backslash "
			     "escape; the escapes are \\s \\t \\n \\r and \\\\ "
			     "(for a backslash)", file);
			goto out;
		}
		v[n++] = raw[i] == 's' ? ' ' : raw[i] == 'n' ? '\n' :
			 raw[i] == 't' ? '\t' : raw[i] == 'r' ? '\r' : '\\';
	}
	while (n && is_space(v[n - 1]))
		n--;
	v[n] = '\0';
	for (start = v; is_space(*start); start++)
		;
	n -= (size_t)(start - v);
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)start[i] < 0x20 || start[i] == 0x7f) {
			fail(fc, "%s: [daemon] socket: contains a control "
			     "character", file);
			goto out;
		}
	}
	if (n == 0)
		fail(fc, "%s: [daemon] socket: must not be empty", file);
	else if (start[0] != '/')
		fail(fc, "%s: [daemon] socket: must be an absolute path "
		     "(starting with /)", file);
	else if (n >= SOCKET_MAX)
		fail(fc, "%s: [daemon] socket: is too long for a Unix socket "
		     "(at most %zu bytes)", file, SOCKET_MAX - 1);
	else
		r = 0, memcpy(fc->socket, start, n + 1);
out:
	free(v);
	return r;
}

/* default_socket - the socket when [daemon] has none (config.c) */
static int default_socket(const char *file, bool user_mode,
			  struct front_config *fc)
{
	const char *rt = secure_getenv("XDG_RUNTIME_DIR");
	size_t n;

	if (!user_mode) {
		memcpy(fc->socket, SYSTEM_SOCKET, sizeof(SYSTEM_SOCKET));
		return 0;
	}
	if (!rt || rt[0] != '/')
		return fail(fc, "%s: [daemon] socket: XDG_RUNTIME_DIR is not "
			    "set, so user mode has no default socket; set "
			    "socket = PATH", file);
	/* g_build_filename(rt, "mailoauth", "socket") */
	for (n = strlen(rt); n && rt[n - 1] == '/'; n--)
		;
	if (n + sizeof("/mailoauth/socket") > SOCKET_MAX)
		return fail(fc, "%s: [daemon] socket: is too long for a Unix "
			    "socket (at most %zu bytes)", file, SOCKET_MAX - 1);
	memcpy(fc->socket, rt, n);
	memcpy(fc->socket + n, "/mailoauth/socket", sizeof("/mailoauth/socket"));
	return 0;
}

/*
 * config_socket_parse - the daemon's socket from LEN bytes of config text
 * DATA (FILE names it in sentences). Every line gets config.c's line
 * checks (NUL, UTF-8, control characters) and every group header its
 * header checks, so the groups are known for sure; in [daemon], a key
 * line must be one and socket must not be set twice, nor [daemon] be
 * there twice. Other groups and keys are not looked at. Returns 0 with
 * FC->socket, or -1 with FC->error.
 */
static int config_socket_parse(const char *file, const char *data, size_t len,
			       bool user_mode, struct front_config *fc)
{
	const char *value = NULL;
	size_t value_len = 0, pos = 0;
	unsigned lineno = 0, daemon_line = 0, socket_line = 0;
	bool in_daemon = false;

	fc->socket[0] = fc->error[0] = '\0';
	fc->noent = false;
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		data += 3;	/* a UTF-8 byte order mark */
		len -= 3;
	}
	if (len > CONFIG_MAX)
		return fail(fc, "%s: is larger than %d bytes", file, CONFIG_MAX);
	while (pos < len) {
		const char *line = data + pos, *nl, *end, *p, *q;
		size_t n;

		lineno++;
		nl = memchr(line, '\n', len - pos);
		n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + (nl ? 1 : 0);
		end = line + n;
		if (end > line && end[-1] == '\r')
			end--;		/* CRLF */

		if (memchr(line, '\0', (size_t)(end - line)))
			return fail(fc, "%s:%u: contains a NUL byte", file, lineno);
		if (!utf8_valid(line, (size_t)(end - line)))
			return fail(fc, "%s:%u: is not valid UTF-8", file, lineno);
		for (p = line; p < end; p++)
			if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
				return fail(fc, "%s:%u: contains a control "
					    "character (only tabs and spaces are "
					    "allowed)", file, lineno);
		for (p = line; p < end && (*p == ' ' || *p == '\t'); p++)
			;
		if (p == end || *p == '#')
			continue;

		if (*p == '[') {
			const char *name = p + 1;

			q = memchr(name, ']', (size_t)(end - name));
			if (!q)
				return fail(fc, "%s:%u: a group header needs its "
					    "closing ], as in [account work]",
					    file, lineno);
			for (p = q + 1; p < end && (*p == ' ' || *p == '\t'); p++)
				;
			if (p != end)
				return fail(fc, "%s:%u: text after a group "
					    "header's closing ]; comments go on "
					    "lines of their own", file, lineno);
			if (q == name)
				return fail(fc, "%s:%u: an empty group name []",
					    file, lineno);
			if (memchr(name, '[', (size_t)(q - name)))
				return fail(fc, "%s:%u: a group name cannot "
					    "contain [", file, lineno);
			if (memchr(name, '\t', (size_t)(q - name)))
				return fail(fc, "%s:%u: a group name cannot "
					    "contain a tab", file, lineno);
			if (q - name > GROUP_NAME_MAX)
				return fail(fc, "%s:%u: a group name longer than "
					    "%d bytes", file, lineno,
					    GROUP_NAME_MAX);
			in_daemon = q - name == 6 && !memcmp(name, "daemon", 6);
			if (in_daemon && daemon_line)
				return fail(fc, "%s:%u: [daemon] appears again "
					    "(first on line %u); merge the two",
					    file, lineno, daemon_line);
			if (in_daemon)
				daemon_line = lineno;
			continue;
		}
		if (!in_daemon)
			continue;
		if (*p == ';')
			return fail(fc, "%s:%u: comments start with #, not ;",
				    file, lineno);
		q = memchr(p, '=', (size_t)(end - p));
		if (!q)
			return fail(fc, "%s:%u: not a [group], a key = value "
				    "line or a # comment", file, lineno);
		n = (size_t)(q - p);
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0)
			return fail(fc, "%s:%u: a value without a key name "
				    "before the =", file, lineno);
		if (n != 6 || memcmp(p, "socket", 6))
			continue;
		if (socket_line)
			return fail(fc, "%s:%u: [daemon] socket is set again "
				    "(first on line %u); keep one", file, lineno,
				    socket_line);
		socket_line = lineno;
		value = q + 1;
		value_len = (size_t)(end - value);
	}
	if (socket_line)
		return socket_value(file, value, value_len, fc);
	return default_socket(file, user_mode, fc);
}

/*
 * config_socket_load - the socket from the config file PATH, read after
 * the checks of config.c's read_file, with its sentences
 */
static int config_socket_load(const char *path, bool user_mode,
			      struct front_config *fc)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0, size;
	int fd, r = -1;

	fc->noent = false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		fc->noent = errno == ENOENT;
		user_locale();
		return fail(fc, "%s: cannot open: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		fc->noent = errno == ENOENT;
		user_locale();
		fail(fc, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(fc, "%s: is not a regular file", path);
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		fail(fc, "%s: belongs to uid %u, not to root or to the daemon's "
		     "user; it says who may fetch tokens, so only they may own "
		     "it (chown root %s)", path, (unsigned)st.st_uid, path);
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		fail(fc, "%s: is writable by group or others (mode %04o); it "
		     "says who may fetch tokens, so only its owner may write it "
		     "(chmod go-w %s)", path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size > CONFIG_MAX) {
		fail(fc, "%s: is larger than %d bytes", path, CONFIG_MAX);
		goto out;
	}
	/* sized by fstat, grown if the file grows meanwhile, never past the cap */
	size = (size_t)st.st_size + 1;
	for (;;) {
		ssize_t got;

		if (!buf || n == size) {
			char *bigger;

			size = buf ? size * 2 : size;
			if (size > (size_t)CONFIG_MAX + 1)
				size = (size_t)CONFIG_MAX + 1;
			bigger = realloc(buf, size);
			if (!bigger) {
				fail(fc, "%s: out of memory", path);
				goto out;
			}
			buf = bigger;
		}
		got = read(fd, buf + n, size - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			user_locale();
			fail(fc, "%s: cannot read: %s", path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > CONFIG_MAX) {
			fail(fc, "%s: is larger than %d bytes", path, CONFIG_MAX);
			goto out;
		}
	}
	r = config_socket_parse(path, buf, n, user_mode, fc);
out:
	free(buf);
	close(fd);
	return r;
}

/* ---- choosing the configuration file (cli.c's mo_cli_load_config) ---- */

/* home_dir - config.c's: $HOME when absolute, else the passwd entry's */
static char *home_dir(void)
{
	const char *h = secure_getenv("HOME");
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 1024;
	struct passwd pw, *res = NULL;
	char *buf, *out = NULL;

	if (h && h[0] == '/')
		return strdup(h);
	for (;;) {
		int r;

		buf = malloc(size);
		if (!buf)
			return NULL;
		r = getpwuid_r(geteuid(), &pw, buf, size, &res);
		if (r == ERANGE && size < NSS_BUF_MAX) {
			free(buf);
			size *= 2;
			continue;
		}
		if (r == 0 && res && pw.pw_dir && pw.pw_dir[0] == '/')
			out = strdup(pw.pw_dir);
		free(buf);
		return out;
	}
}

/* join - DIR/REST as g_build_filename makes it (DIR's trailing / dropped) */
static char *join(const char *dir, const char *rest)
{
	size_t n = strlen(dir);
	char *out;

	while (n && dir[n - 1] == '/')
		n--;
	if (asprintf(&out, "%.*s/%s", (int)n, dir, rest) < 0)
		return NULL;
	return out;
}

/* user_config_path - $XDG_CONFIG_HOME (or ~/.config)/mailoauth/mailoauth.conf */
static char *user_config_path(void)
{
	const char *x = secure_getenv("XDG_CONFIG_HOME");
	char *home, *dir, *out;

	if (x && x[0] == '/')
		return join(x, "mailoauth/mailoauth.conf");
	home = home_dir();
	if (!home)
		return NULL;
	dir = join(home, ".config");
	free(home);
	if (!dir)
		return NULL;
	out = join(dir, "mailoauth/mailoauth.conf");
	free(dir);
	return out;
}

/*
 * load_config - the socket of the file mo_cli_load_config would read:
 * AUTO mode means the system file for root; for anyone else the user's
 * own file when it exists, else the system file
 */
static int load_config(const char *config_path, enum mode mode,
		       struct front_config *fc)
{
	char *user_path = NULL;
	bool user_mode;
	int r;

	if (mode == MODE_USER) {
		user_mode = true;
	} else if (mode == MODE_SYSTEM || geteuid() == 0) {
		user_mode = false;
	} else if (config_path) {
		user_mode = true;
	} else {
		user_path = user_config_path();
		user_mode = access(SYSTEM_CONFIG, F_OK) != 0 ||
			    (user_path && access(user_path, F_OK) == 0);
	}
	if (!config_path && user_mode) {
		if (!user_path)
			user_path = user_config_path();
		if (!user_path) {
			fc->noent = true;
			return fail(fc, "no home directory is known (HOME is not "
				    "set), so there is no default config file; "
				    "use --config FILE");
		}
		config_path = user_path;
	} else if (!config_path) {
		config_path = SYSTEM_CONFIG;
	}
	r = config_socket_load(config_path, user_mode, fc);
	free(user_path);
	return r;
}

#ifndef MO_FRONT_NO_MAIN

/* ---- mailoauth token (cli_token.c) ---- */

static const char usage[] =
	"usage: mailoauth token [--xoauth2 | --oauthbearer] ACCOUNT\n"
	"\n"
	"Print a valid access token for ACCOUNT, from mailoauthd.\n"
	"\n"
	"  --xoauth2      print the base64 XOAUTH2 initial response instead\n"
	"  --oauthbearer  print the base64 OAUTHBEARER initial response instead\n"
	"\n"
	"Exit status: 0 ok, 69 run 'mailoauth login ACCOUNT', 75 try again\n"
	"later, 77 not allowed, 78 configuration or tenant must change.\n";

/* say - "mailoauth: MESSAGE" on standard error (cli.c's mo_cli_error) */
__attribute__((format(printf, 1, 2)))
static void say(const char *fmt, ...)
{
	va_list ap;

	user_locale();
	fputs("mailoauth: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* exit_for_err - the exit status that stands for a daemon's ERR (cli.c) */
static int exit_for_err(enum mo_err err)
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

/*
 * write_secret - LEN bytes of S and a newline straight to standard output,
 * bypassing stdio so that no copy stays in its buffer
 */
static int write_secret(const char *s, size_t len)
{
	const char nl = '\n';

	fflush(stdout);
	while (len) {
		ssize_t n = write(STDOUT_FILENO, s, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return MO_EXIT_IOERR;
		s += n;
		len -= (size_t)n;
	}
	return write(STDOUT_FILENO, &nl, 1) == 1 ? 0 : MO_EXIT_IOERR;
}

/* print_sasl - the base64 initial response of the mechanism */
static int print_sasl(bool oauthbearer, const char *user, const char *token)
{
	char msg[MO_RESPONSE_MAX], b64[MO_BASE64_LEN(MO_RESPONSE_MAX) + 1];
	int n = oauthbearer ? mo_oauthbearer_format(msg, sizeof(msg), user, NULL, 0, token)
			    : mo_xoauth2_format(msg, sizeof(msg), user, token);
	int len, status;

	if (n < 0) {
		explicit_bzero(msg, sizeof(msg));
		say("the user name %s cannot go into a SASL message", user);
		return MO_EXIT_DATAERR;
	}
	len = mo_base64_encode(b64, sizeof(b64), msg, (size_t)n);
	status = len < 0 ? MO_EXIT_SOFTWARE : write_secret(b64, (size_t)len);
	explicit_bzero(b64, sizeof(b64));
	explicit_bzero(msg, sizeof(msg));
	return status;
}

static int token(const char *config_path, enum mode mode, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "xoauth2", no_argument, NULL, 'x' },
		{ "oauthbearer", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static struct front_config fc;
	char req[MO_REQUEST_MAX + 1], buf[MO_RESPONSE_MAX];
	const char *sock;
	struct mo_response resp;
	int c, r, mech = 0, status;

	/* getopt complains of anything else, in the user's language */
	for (int i = 1; i < argc && argv[i][0] == '-'; i++)
		if (strcmp(argv[i], "--xoauth2") && strcmp(argv[i], "--oauthbearer"))
			user_locale();
	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'x':
		case 'o':
			mech = c;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return MO_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fputs(usage, stderr);
		return MO_EXIT_USAGE;
	}
	if (!mo_account_name_valid(argv[optind])) {
		say("'%s' is not an account name", argv[optind]);
		return MO_EXIT_USAGE;
	}
	if (load_config(config_path, mode, &fc) < 0) {
		if (fc.noent)
			say("%s\n(create it: see mailoauth.conf(5) and "
			    "docs/microsoft365.md or docs/google.md)", fc.error);
		else
			say("%s", fc.error);
		return MO_EXIT_CONFIG;
	}
	sock = secure_getenv("MAILOAUTH_SOCKET");
	if (!sock || !*sock)
		sock = fc.socket;

	r = snprintf(req, sizeof(req), "TOKEN %s\n", argv[optind]);
	r = mo_client_call(sock, req, (size_t)r, buf, sizeof(buf),
			   CALL_TIMEOUT_MS, NULL, 0);
	if (r >= 0 && mo_response_parse(buf, (size_t)r, &resp) < 0)
		r = -EPROTO;
	if (r < 0) {
		say("%s (%s)", mo_client_strerror(r), sock);
		status = MO_EXIT_TEMPFAIL;
	} else if (!resp.ok) {
		say("%s", resp.text);
		status = exit_for_err(resp.err);
	} else if (!resp.token) {
		say("mailoauthd answered without a token");
		status = MO_EXIT_PROTOCOL;
	} else if (mech) {
		status = print_sasl(mech == 'o', resp.user ? resp.user : "",
				    resp.token);
	} else {
		status = write_secret(resp.token, resp.token_len);
	}
	explicit_bzero(buf, sizeof(buf));
	return status;
}

/* ---- everything else: the full CLI ---- */

/*
 * run_full_cli - exec mailoauth-cli next to this program if there is one
 * (a build tree), else MO_CLI_PATH; returns only when neither can run
 */
static int run_full_cli(char **argv)
{
	char self[PATH_MAX], *slash, *cli = NULL;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *path = MO_CLI_PATH;

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash && asprintf(&cli, "%.*s/" CLI_NAME,
				      (int)(slash - self), self) < 0)
			cli = NULL;
		if (cli && access(cli, F_OK) == 0)
			path = cli;
	}
	execv(path, argv);
	user_locale();
	say("cannot run %s: %s (the mailoauth installation is incomplete: "
	    "every verb but token is there; reinstall mailoauth)", path,
	    strerror(errno));
	free(cli);
	return MO_EXIT_SOFTWARE;
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	enum mode mode = MODE_AUTO;
	struct rlimit no_core = {0, 0};
	int i;

	/* the global options of mailoauth.c; anything else is the full CLI's */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config_path = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			config_path = argv[i] + 9;
		else if (!strcmp(argv[i], "--user"))
			mode = MODE_USER;
		else if (!strcmp(argv[i], "--system"))
			mode = MODE_SYSTEM;
		else
			return run_full_cli(argv);
	}
	if (i >= argc || strcmp(argv[i], "token"))
		return run_full_cli(argv);

	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	return token(config_path, mode, argc - i, argv + i);
}

#endif /* MO_FRONT_NO_MAIN */
