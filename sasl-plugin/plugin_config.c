/* SPDX-License-Identifier: MIT */
/*
 * plugin_config.c - read the plugin's small config file (plugin_config.h)
 */
#define _GNU_SOURCE
#include "plugin_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MO_SYSCONFDIR
#define MO_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF MO_SYSCONFDIR "/mailoauth/plugin.conf"
#define SYSTEM_SOCKET "/run/mailoauth/socket"
#define DEFAULT_TIMEOUT_MS 8000

/* set_error - keep the first problem, as "FILE:LINE: what" */
__attribute__((format(printf, 3, 4)))
static void set_error(struct mo_plugin_config *cfg, unsigned line,
		      const char *fmt, ...)
{
	va_list ap;
	int n;

	if (cfg->error[0])
		return;		/* the first problem is the one to fix */
	n = snprintf(cfg->error, sizeof(cfg->error), "%s:%u: ", cfg->file, line);
	if (n < 0 || (size_t)n >= sizeof(cfg->error))
		return;
	va_start(ap, fmt);
	vsnprintf(cfg->error + n, sizeof(cfg->error) - (size_t)n, fmt, ap);
	va_end(ap);
}

void mo_plugin_config_defaults(struct mo_plugin_config *cfg)
{
	const char *rt = secure_getenv("XDG_RUNTIME_DIR");

	memset(cfg, 0, sizeof(*cfg));
	cfg->timeout_ms = DEFAULT_TIMEOUT_MS;
	cfg->cache = true;
	/* the user's own daemon first, then the system's */
	if (rt && rt[0] == '/' && !strchr(rt, ' ') &&
	    strlen(rt) + sizeof("/mailoauth/socket " SYSTEM_SOCKET) <
		    sizeof(cfg->sockets))
		snprintf(cfg->sockets, sizeof(cfg->sockets),
			 "%s/mailoauth/socket " SYSTEM_SOCKET, rt);
	else
		snprintf(cfg->sockets, sizeof(cfg->sockets), SYSTEM_SOCKET);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
		*out = false;
		return true;
	}
	return false;
}

static void apply(struct mo_plugin_config *cfg, unsigned line, char *key,
		  char *val)
{
	if (!strcmp(key, "socket")) {
		if (!*val || strlen(val) >= sizeof(cfg->sockets))
			set_error(cfg, line, "bad socket list for %s", key);
		else
			snprintf(cfg->sockets, sizeof(cfg->sockets), "%s", val);
	} else if (!strcmp(key, "timeout")) {
		char *end;
		long s = strtol(val, &end, 10);

		if (!*val || *end || s < 1 || s > 300)
			set_error(cfg, line, "%s must be 1 to 300 seconds", key);
		else
			cfg->timeout_ms = (int)s * 1000;
	} else if (!strcmp(key, "cache")) {
		if (!parse_bool(val, &cfg->cache))
			set_error(cfg, line, "%s must be yes or no", key);
	} else {
		set_error(cfg, line, "unknown key '%.40s'", key);
	}
}

void mo_plugin_config_parse(struct mo_plugin_config *cfg, const char *text,
			    size_t len)
{
	char buf[MO_PLUGIN_CONF_MAX + 1];
	char *p, *next;
	unsigned line = 0;

	if (len > MO_PLUGIN_CONF_MAX) {
		set_error(cfg, 0, "file larger than 8 KiB");
		return;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		set_error(cfg, 0, "NUL byte in file");
		return;
	}
	for (p = buf; p; p = next) {
		char *eq, *key;

		line++;
		next = strchr(p, '\n');
		if (next)
			*next++ = '\0';
		p = trim(p);
		if (*p == '\0' || *p == '#')
			continue;
		eq = strchr(p, '=');
		if (!eq) {
			set_error(cfg, line, "expected key = value");
			continue;
		}
		*eq = '\0';
		key = trim(p);
		apply(cfg, line, key, trim(eq + 1));
	}
}

static void read_file(struct mo_plugin_config *cfg, const char *path)
{
	char text[MO_PLUGIN_CONF_MAX + 1];
	struct stat st;
	size_t len = 0;
	int fd;

	snprintf(cfg->file, sizeof(cfg->file), "%s", path);
	/* O_NONBLOCK: a FIFO put there must not hang sasl_client_init */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT)
			set_error(cfg, 0, "cannot open: %s", strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		set_error(cfg, 0, "not a regular file");
		close(fd);
		return;
	}
	for (;;) {
		ssize_t n = read(fd, text + len, sizeof(text) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			set_error(cfg, 0, "cannot read: %s", strerror(errno));
			close(fd);
			return;
		}
		if (n == 0 || (len += (size_t)n) == sizeof(text))
			break;
	}
	close(fd);
	mo_plugin_config_parse(cfg, text, len);
	explicit_bzero(text, sizeof(text));
}

void mo_plugin_config_load(struct mo_plugin_config *cfg)
{
	const char *path = secure_getenv("MAILOAUTH_PLUGIN_CONF");
	const char *sock = secure_getenv("MAILOAUTH_SOCKET");

	mo_plugin_config_defaults(cfg);
	read_file(cfg, path && *path ? path : DEFAULT_CONF);
	if (sock && *sock) {
		if (strlen(sock) < sizeof(cfg->sockets))
			snprintf(cfg->sockets, sizeof(cfg->sockets), "%s", sock);
		else
			set_error(cfg, 0, "MAILOAUTH_SOCKET is too long");
	}
}
