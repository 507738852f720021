/* SPDX-License-Identifier: MIT */
/*
 * config.h - mailoauthd's configuration file (docs/mailoauth.conf.5)
 *
 * Reads /etc/mailoauth/mailoauth.conf (system mode) or
 * $XDG_CONFIG_HOME/mailoauth/mailoauth.conf (user mode), a GLib key file
 * with one [daemon] group and one [account NAME] group per account, and
 * turns it into a struct mo_config in which every default is filled in,
 * every provider preset is resolved to endpoint URLs and every allow name
 * is resolved to a uid or gid. Nothing downstream parses config text.
 *
 * SECURITY
 *	The config holds no secrets, and refuses keys that would (client_secret,
 *	refresh_token, password, private_key, ...): those go through
 *	`mailoauth login` into the store. Since the file decides who may fetch
 *	tokens and names a command the daemon runs, mo_config_load refuses a
 *	file that is writable by group or others or owned by someone other than
 *	root or the daemon's user. Endpoints must be https://, except on
 *	loopback hosts. Input is capped at MO_CONFIG_MAX_SIZE. Error messages
 *	never quote a value that could be a secret.
 *
 * DIAGNOSTICS
 *	All problems of a file are collected and returned together in one
 *	GError, one per line, as "FILE: [group] key: what is wrong and what to
 *	do" ("FILE:LINE: ..." for syntax errors), so an admin fixes the file in
 *	one go. Domain MO_CONFIG_ERROR for content, G_FILE_ERROR when the file
 *	cannot be read (G_FILE_ERROR_NOENT when it does not exist). Nothing
 *	here logs; the caller prints the message.
 */
#ifndef MAILOAUTH_CONFIG_H
#define MAILOAUTH_CONFIG_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define MO_CONFIG_MAX_SIZE (8 * 1024 * 1024)	/* bytes of config text */
#define MO_REFRESH_MARGIN_DEFAULT 600
#define MO_REFRESH_MARGIN_MIN 60
#define MO_REFRESH_MARGIN_MAX 3000

#define MO_CONFIG_ERROR (mo_config_error_quark())
enum mo_config_error {
	MO_CONFIG_ERROR_INVALID,	/* the text is wrong; message says how */
	MO_CONFIG_ERROR_UNSAFE,		/* file owner or mode is unsafe */
};
GQuark mo_config_error_quark(void);

enum mo_provider { MO_PROVIDER_MICROSOFT, MO_PROVIDER_GOOGLE, MO_PROVIDER_GENERIC };
enum mo_flow { MO_FLOW_DEVICE, MO_FLOW_AUTHCODE, MO_FLOW_CLIENT_CREDENTIALS };
enum mo_store_kind { MO_STORE_SECRET_SERVICE, MO_STORE_FILE };

/*
 * One [account NAME]. Strings are never empty; NULL means "not
 * applicable" (e.g. tenant for google, device_authorization_endpoint for a
 * generic provider that has none, every endpoint when needs_discovery).
 */
/*
 * An account's settings below name and user are shared strings
 * (mo_config_shared): one copy per value for all accounts, never freed.
 */
struct mo_account_config {
	char *name;			/* passes mo_account_name_valid() */
	enum mo_provider provider;
	enum mo_flow flow;
	const char *client_id;
	char *user;			/* SASL identity; passes mo_arg_valid() */
	const char *scopes;			/* space-separated, normalised */
	const char *tenant;			/* microsoft only */
	const char *authority;		/* microsoft only, no trailing slash */
	const char *token_endpoint;
	const char *device_authorization_endpoint;
	const char *authorization_endpoint;
	const char *revocation_endpoint;	/* google preset or generic; else NULL */
	const char *issuer;			/* generic with discovery only */
	const char *ca_file;			/* absolute path or NULL */
	const char *graph_url;		/* microsoft only, no trailing slash */
	const char *client_certificate;	/* client-credentials only, or NULL */
	bool needs_discovery;		/* generic + issuer: endpoints are NULL */
	uid_t *allow_uids;		/* sorted, no duplicates */
	size_t n_allow_uids;
	gid_t *allow_gids;		/* sorted, no duplicates */
	size_t n_allow_gids;
};

struct mo_config {
	char *path;			/* the file (or name) it was read from */
	bool user_mode;
	char *socket;
	char **extra_sockets;		/* NULL-terminated, never NULL itself */
	enum mo_store_kind store;
	char *store_path;		/* NULL unless store == MO_STORE_FILE */
	char *store_key_file;		/* NULL unless store == MO_STORE_FILE */
	int refresh_margin;		/* seconds */
	char *notify_command;		/* NULL when not set */
	struct mo_account_config **accounts;	/* in file order */
	size_t n_accounts;
};

/*
 * mo_config_load - read and check the config file PATH
 *
 * PATH NULL means mo_config_default_path(USER_MODE). User mode takes its
 * defaults from XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_RUNTIME_DIR and HOME
 * as they are now. Returns a config to free with mo_config_free, or NULL
 * and ERROR.
 */
struct mo_config *mo_config_load(const char *path, bool user_mode,
				 GError **error);

/*
 * mo_config_shared - the one copy of S's value, kept for the life of the
 * process and shared by every account setting with that value (NULL for
 * NULL). Thread-safe. Never free it.
 */
const char *mo_config_shared(const char *s);

/*
 * mo_config_load_data - the same for LEN bytes of DATA (tests, fuzzing);
 * NAME_FOR_MESSAGES stands for the file name in messages and cfg->path.
 * No owner or mode checks, since there is no file.
 */
struct mo_config *mo_config_load_data(const char *data, size_t len,
				      const char *name_for_messages,
				      bool user_mode, GError **error);

/* mo_config_free - free CFG and everything in it; accepts NULL */
void mo_config_free(struct mo_config *cfg);

/*
 * mo_config_default_path - the config file's default path for the mode.
 * Returns a new string (g_free it), or NULL in user mode when no home
 * directory can be found.
 */
char *mo_config_default_path(bool user_mode);

/* mo_config_find - the account named NAME, or NULL */
const struct mo_account_config *mo_config_find(const struct mo_config *cfg,
					       const char *name);

/*
 * mo_config_find_user - the first account (in file order) whose user is
 * USER: the local part compared exactly, the domain case-insensitively.
 */
const struct mo_account_config *mo_config_find_user(const struct mo_config *cfg,
						    const char *user);

/*
 * mo_account_config_equal - true when A and B would obtain the same tokens:
 * everything but allow, ca_file and graph_url is equal. A SIGHUP reload
 * keeps an account's cached tokens when this holds.
 */
bool mo_account_config_equal(const struct mo_account_config *a,
			     const struct mo_account_config *b);

/*
 * mo_account_allows - may a process of UID, in groups GIDS (its primary
 * and supplementary groups), fetch A's token? Root and the daemon's own
 * effective uid always may.
 */
bool mo_account_allows(const struct mo_account_config *a, uid_t uid,
		       const gid_t *gids, size_t n_gids);

/* config-file spellings: "microsoft", "device", "client-credentials" ... */
const char *mo_provider_name(enum mo_provider provider);
const char *mo_flow_name(enum mo_flow flow);
const char *mo_store_name(enum mo_store_kind store);

#endif
