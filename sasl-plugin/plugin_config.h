/* SPDX-License-Identifier: MIT */
/*
 * plugin_config.h - where the plugin finds mailoauthd, and how long it waits
 *
 * Read once, in sasl_client_plug_init: that runs before Postfix's smtp(8)
 * chroots, so the file is read from the real root. The file is optional
 * and holds no secret (mode 0644 is right).
 *
 *	# /etc/mailoauth/plugin.conf
 *	socket = /var/spool/postfix/private/mailoauth /private/mailoauth
 *	timeout = 8
 *	cache = yes
 *
 * DIAGNOSTICS
 *	Loading never fails: a problem is kept in `error` and reported when a
 *	program first authenticates, so one broken file cannot break SASL for
 *	every other program on the host.
 */
#ifndef MAILOAUTH_PLUGIN_CONFIG_H
#define MAILOAUTH_PLUGIN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define MO_PLUGIN_CONF_MAX 8192		/* bigger files are refused */
#define MO_PLUGIN_SOCKETS_MAX 1024	/* the socket list */

struct mo_plugin_config {
	char sockets[MO_PLUGIN_SOCKETS_MAX];	/* paths separated by spaces */
	int timeout_ms;
	bool cache;				/* per-process token cache */
	char file[256];				/* the file that was read */
	char error[256];			/* empty, or what is wrong */
};

/*
 * mo_plugin_config_load - defaults, then the file (MAILOAUTH_PLUGIN_CONF or
 * the compiled-in path), then MAILOAUTH_SOCKET from the environment
 */
void mo_plugin_config_load(struct mo_plugin_config *cfg);

/* mo_plugin_config_parse - apply the text of a config file (for tests) */
void mo_plugin_config_parse(struct mo_plugin_config *cfg, const char *text,
			    size_t len);

/* mo_plugin_config_defaults - the built-in socket list and limits */
void mo_plugin_config_defaults(struct mo_plugin_config *cfg);

#endif
