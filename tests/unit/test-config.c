/* SPDX-License-Identifier: MIT */
/*
 * test-config.c - mailoauthd's config file (token-helper/config.c)
 *
 * Every key, the defaults of both modes, the provider presets, the exact
 * text of every error message, allow resolution against the system's user
 * and group databases (root, nobody, nogroup, mail: present on Debian),
 * and the equality that a reload relies on.
 */
#define _GNU_SOURCE
#include "unit.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME "test.conf"
#ifndef MO_SYSCONFDIR
#define MO_SYSCONFDIR "/etc"	/* as the Makefile passes it */
#endif

#define MS_ACCOUNT \
	"[account work]\n" \
	"provider = microsoft\n" \
	"tenant = contoso.onmicrosoft.com\n" \
	"client_id = 11111111-2222-3333-4444-555555555555\n" \
	"user = alice@contoso.com\n"

#define GOOGLE_ACCOUNT \
	"[account gmail]\n" \
	"provider = google\n" \
	"client_id = 123-abc.apps.googleusercontent.com\n" \
	"user = bob@gmail.com\n"

#define GENERIC_BASE \
	"[account idp]\n" \
	"provider = generic\n" \
	"client_id = mailclient\n" \
	"user = carol\n"
#define GENERIC_ACCOUNT GENERIC_BASE "scopes = mail offline_access\n"

#define MS_DELEGATED_SCOPES \
	"https://outlook.office.com/SMTP.Send " \
	"https://outlook.office.com/IMAP.AccessAsUser.All offline_access"
#define MS_BASE "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/"

/* load_ok - parse TEXT, failing the test with the messages if it is refused */
static struct mo_config *load_ok(const char *text, bool user_mode)
{
	GError *e = NULL;
	struct mo_config *cfg = mo_config_load_data(text, strlen(text), NAME,
						    user_mode, &e);

	if (!cfg)
		fail_msg("refused:\n%s", e ? e->message : "(no error)");
	assert_null(e);
	return cfg;
}

/* load_err - parse TEXT, which must be refused; returns the message */
static char *load_err(const char *text, bool user_mode)
{
	GError *e = NULL;
	struct mo_config *cfg = mo_config_load_data(text, strlen(text), NAME,
						    user_mode, &e);
	char *msg;

	if (cfg) {
		mo_config_free(cfg);
		fail_msg("accepted:\n%s", text);
	}
	assert_non_null(e);
	assert_true(g_error_matches(e, MO_CONFIG_ERROR, MO_CONFIG_ERROR_INVALID));
	msg = g_strdup(e->message);
	g_error_free(e);
	return msg;
}

static void expect_err(const char *text, const char *expected)
{
	char *msg = load_err(text, false);

	if (strcmp(msg, expected) != 0)
		fail_msg("for:\n%s\nexpected:\n%s\ngot:\n%s", text, expected, msg);
	g_free(msg);
}

static uid_t uid_of(const char *name)
{
	struct passwd *pw = getpwnam(name);

	assert_non_null(pw);
	return pw->pw_uid;
}

static gid_t gid_of(const char *name)
{
	struct group *gr = getgrnam(name);

	assert_non_null(gr);
	return gr->gr_gid;
}

/* ---- defaults ---- */

static void system_defaults(void **state)
{
	struct mo_config *cfg;
	const struct mo_account_config *a;
	char *path;

	(void)state;
	path = mo_config_default_path(false);
	assert_string_equal(path, MO_SYSCONFDIR "/mailoauth/mailoauth.conf");
	g_free(path);

	cfg = load_ok(MS_ACCOUNT, false);
	assert_string_equal(cfg->path, NAME);
	assert_false(cfg->user_mode);
	assert_string_equal(cfg->socket, "/run/mailoauth/socket");
	assert_non_null(cfg->extra_sockets);
	assert_null(cfg->extra_sockets[0]);
	assert_int_equal(cfg->store, MO_STORE_FILE);
	assert_string_equal(cfg->store_path, "/var/lib/mailoauth/store");
	assert_string_equal(cfg->store_key_file, MO_SYSCONFDIR "/mailoauth/store.key");
	assert_int_equal(cfg->refresh_margin, 600);
	assert_null(cfg->notify_command);
	assert_int_equal(cfg->n_accounts, 1);

	a = cfg->accounts[0];
	assert_string_equal(a->name, "work");
	assert_int_equal(a->provider, MO_PROVIDER_MICROSOFT);
	assert_int_equal(a->flow, MO_FLOW_DEVICE);
	assert_string_equal(a->client_id, "11111111-2222-3333-4444-555555555555");
	assert_string_equal(a->user, "alice@contoso.com");
	assert_string_equal(a->scopes, MS_DELEGATED_SCOPES);
	assert_string_equal(a->tenant, "contoso.onmicrosoft.com");
	assert_string_equal(a->authority, "https://login.microsoftonline.com");
	assert_string_equal(a->token_endpoint, MS_BASE "token");
	assert_string_equal(a->device_authorization_endpoint, MS_BASE "devicecode");
	assert_string_equal(a->authorization_endpoint, MS_BASE "authorize");
	assert_null(a->revocation_endpoint);
	assert_null(a->issuer);
	assert_null(a->ca_file);
	assert_string_equal(a->graph_url, "https://graph.microsoft.com");
	assert_null(a->client_certificate);
	assert_false(a->needs_discovery);
	assert_int_equal(a->n_allow_uids, 0);
	assert_null(a->allow_uids);
	assert_int_equal(a->n_allow_gids, 0);
	assert_null(a->allow_gids);
	mo_config_free(cfg);

	/* an empty file, and one of comments only, are valid: no accounts */
	cfg = load_ok("", false);
	assert_int_equal(cfg->n_accounts, 0);
	assert_string_equal(cfg->socket, "/run/mailoauth/socket");
	mo_config_free(cfg);
	cfg = load_ok("# nothing yet\n\n   # indented\n", false);
	assert_int_equal(cfg->n_accounts, 0);
	mo_config_free(cfg);
	mo_config_free(NULL);
}

static void user_defaults(void **state)
{
	struct mo_config *cfg;
	char *path, *msg;

	(void)state;
	setenv("HOME", "/home/h", 1);
	setenv("XDG_CONFIG_HOME", "/xc", 1);
	setenv("XDG_DATA_HOME", "/xd", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);

	path = mo_config_default_path(true);
	assert_string_equal(path, "/xc/mailoauth/mailoauth.conf");
	g_free(path);

	cfg = load_ok(MS_ACCOUNT, true);
	assert_true(cfg->user_mode);
	assert_string_equal(cfg->socket, "/run/user/1234/mailoauth/socket");
	assert_int_equal(cfg->store, MO_STORE_SECRET_SERVICE);
	assert_null(cfg->store_path);
	assert_null(cfg->store_key_file);
	mo_config_free(cfg);

	cfg = load_ok("[daemon]\nstore = file\n", true);
	assert_int_equal(cfg->store, MO_STORE_FILE);
	assert_string_equal(cfg->store_path, "/xd/mailoauth/store");
	assert_string_equal(cfg->store_key_file, "/xc/mailoauth/store.key");
	mo_config_free(cfg);

	/* without XDG_*_HOME (or with relative ones, which XDG says to
	 * ignore) the defaults are under HOME */
	unsetenv("XDG_CONFIG_HOME");
	setenv("XDG_DATA_HOME", "relative/dir", 1);
	path = mo_config_default_path(true);
	assert_string_equal(path, "/home/h/.config/mailoauth/mailoauth.conf");
	g_free(path);
	cfg = load_ok("[daemon]\nstore = file\n", true);
	assert_string_equal(cfg->store_path, "/home/h/.local/share/mailoauth/store");
	assert_string_equal(cfg->store_key_file, "/home/h/.config/mailoauth/store.key");
	mo_config_free(cfg);

	/* no runtime directory: no default socket */
	unsetenv("XDG_RUNTIME_DIR");
	msg = load_err("", true);
	assert_string_equal(msg, NAME ": [daemon] socket: XDG_RUNTIME_DIR is not "
			    "set, so user mode has no default socket; set "
			    "socket = PATH");
	g_free(msg);
	cfg = load_ok("[daemon]\nsocket = /tmp/s\n", true);
	assert_string_equal(cfg->socket, "/tmp/s");
	mo_config_free(cfg);

	/* a runtime directory too long for a socket path */
	{
		char rt[200], *expected;

		memset(rt, 'r', sizeof(rt) - 1);
		rt[0] = '/';
		rt[sizeof(rt) - 1] = '\0';
		setenv("XDG_RUNTIME_DIR", rt, 1);
		msg = load_err("", true);
		expected = g_strdup_printf(NAME ": [daemon] socket: is too long "
					   "for a Unix socket (at most %d bytes)", 107);
		assert_string_equal(msg, expected);
		g_free(expected);
		g_free(msg);
	}
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("XDG_DATA_HOME");

	/* the system mode ignores all of that */
	cfg = load_ok("", false);
	assert_string_equal(cfg->socket, "/run/mailoauth/socket");
	mo_config_free(cfg);
}

/* ---- [daemon] ---- */

static void daemon_keys(void **state)
{
	struct mo_config *cfg;

	(void)state;
	cfg = load_ok("# system service for Postfix\n"
		      "[daemon]\n"
		      "socket = /run/mo/sock\n"
		      "extra_sockets = /var/spool/postfix/private/mailoauth, /srv/a  /srv/b,/srv/c\n"
		      "store = file\n"
		      "store_path = /srv/store\n"
		      "store_key_file = /srv/key\n"
		      "refresh_margin = 60\n"
		      "notify_command = /usr/local/bin/notify --to \"root@localhost\"\n",
		      false);
	assert_string_equal(cfg->socket, "/run/mo/sock");
	assert_string_equal(cfg->extra_sockets[0], "/var/spool/postfix/private/mailoauth");
	assert_string_equal(cfg->extra_sockets[1], "/srv/a");
	assert_string_equal(cfg->extra_sockets[2], "/srv/b");
	assert_string_equal(cfg->extra_sockets[3], "/srv/c");
	assert_null(cfg->extra_sockets[4]);
	assert_int_equal(cfg->store, MO_STORE_FILE);
	assert_string_equal(cfg->store_path, "/srv/store");
	assert_string_equal(cfg->store_key_file, "/srv/key");
	assert_int_equal(cfg->refresh_margin, 60);
	assert_string_equal(cfg->notify_command,
			    "/usr/local/bin/notify --to \"root@localhost\"");
	mo_config_free(cfg);

	cfg = load_ok("[daemon]\nrefresh_margin=3000\nstore=secret-service\n"
		      "extra_sockets =\nnotify_command =\n", false);
	assert_int_equal(cfg->refresh_margin, 3000);
	assert_int_equal(cfg->store, MO_STORE_SECRET_SERVICE);
	assert_null(cfg->store_path);
	assert_null(cfg->store_key_file);
	assert_null(cfg->extra_sockets[0]);
	assert_null(cfg->notify_command);
	mo_config_free(cfg);
}

static void daemon_errors(void **state)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
		{"[daemon]\nrefresh_margin = 59\n", NAME ": [daemon] refresh_margin: "
		 "must be a whole number of seconds from 60 to 3000"},
		{"[daemon]\nrefresh_margin = 3001\n", NAME ": [daemon] refresh_margin: "
		 "must be a whole number of seconds from 60 to 3000"},
		{"[daemon]\nrefresh_margin = 10m\n", NAME ": [daemon] refresh_margin: "
		 "must be a whole number of seconds from 60 to 3000"},
		{"[daemon]\nstore = keyring\n", NAME ": [daemon] store: unknown "
		 "store \"keyring\"; use file or secret-service"},
		{"[daemon]\nsocket = run/sock\n", NAME ": [daemon] socket: must be "
		 "an absolute path (starting with /)"},
		{"[daemon]\nsocket =\n", NAME ": [daemon] socket: must not be empty"},
		{"[daemon]\nextra_sockets = /a relative\n", NAME ": [daemon] "
		 "extra_sockets: must be an absolute path (starting with /)"},
		{"[daemon]\nextra_sockets = /a /a\n", NAME ": [daemon] "
		 "extra_sockets: lists a path twice"},
		{"[daemon]\nextra_sockets = /run/mailoauth/socket\n", NAME ": [daemon] "
		 "extra_sockets: repeats the main socket's path"},
		{"[daemon]\nstore = secret-service\nstore_path = /x\n", NAME
		 ": [daemon] store_path: is only used with store = file"},
		{"[daemon]\nstore = secret-service\nstore_key_file = /x\n", NAME
		 ": [daemon] store_key_file: is only used with store = file"},
		{"[daemon]\nstore_path = x\n", NAME ": [daemon] store_path: must "
		 "be an absolute path (starting with /)"},
		{"[daemon]\nstore_key_file = ~/key\n", NAME ": [daemon] "
		 "store_key_file: must be an absolute path (starting with /)"},
		{"[daemon]\nnotify_command = notify \"unbalanced\n", NAME
		 ": [daemon] notify_command: is not a valid command line "
		 "(check its quotes)"},
		{"[daemon]\nsockets = /x\n", NAME ": [daemon] sockets: unknown "
		 "key; did you mean socket?"},
		{"[daemon]\nfoo = 1\n", NAME ": [daemon] foo: unknown key (see "
		 "mailoauth.conf(5) for the keys of [daemon])"},
		{"[daemon]\nclient_id = x\n", NAME ": [daemon] client_id: belongs "
		 "in an [account NAME] group, not in [daemon]"},
		{"[daemon]\nstore_password = x\n", NAME ": [daemon] store_password: "
		 "secrets do not belong in the config file; remove this line "
		 "(the store's key comes from store_key_file or a systemd "
		 "credential)"},
	};
	char long_path[120];

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
		expect_err(cases[i].text, cases[i].error);

	/* socket paths must fit in sun_path (107 bytes and a NUL) */
	memset(long_path, 'a', sizeof(long_path));
	long_path[0] = '/';
	{
		char *text = g_strdup_printf("[daemon]\nsocket = %.107s\n", long_path);
		struct mo_config *cfg = load_ok(text, false);

		mo_config_free(cfg);
		g_free(text);
		text = g_strdup_printf("[daemon]\nsocket = %.108s\n", long_path);
		expect_err(text, NAME ": [daemon] socket: is too long for a Unix "
			   "socket (at most 107 bytes)");
		g_free(text);
	}
}

/* ---- accounts: presets ---- */

static void microsoft_presets(void **state)
{
	struct mo_config *cfg;
	const struct mo_account_config *a;

	(void)state;
	cfg = load_ok(MS_ACCOUNT "flow = authcode\n", false);
	a = cfg->accounts[0];
	assert_int_equal(a->flow, MO_FLOW_AUTHCODE);
	assert_string_equal(a->scopes, MS_DELEGATED_SCOPES);
	mo_config_free(cfg);

	/* app-only: the .default scope of Exchange Online */
	cfg = load_ok(MS_ACCOUNT "flow = client-credentials\n"
		      "client_certificate = /etc/mailoauth/app.pem\n", false);
	a = cfg->accounts[0];
	assert_int_equal(a->flow, MO_FLOW_CLIENT_CREDENTIALS);
	assert_string_equal(a->scopes, "https://outlook.office365.com/.default");
	assert_string_equal(a->client_certificate, "/etc/mailoauth/app.pem");
	mo_config_free(cfg);

	/* a test IdP on loopback, a national cloud's Graph, extra whitespace */
	cfg = load_ok("[account t]\nprovider=microsoft\ntenant=organizations\n"
		      "client_id=c\nuser=u@example.com\n"
		      "authority = http://127.0.0.1:8080//\n"
		      "graph_url = https://graph.microsoft.us/\n"
		      "scopes =   https://graph.microsoft.com/Mail.Send\t  offline_access  \n"
		      "ca_file = /etc/ssl/test-ca.pem\n", false);
	a = cfg->accounts[0];
	assert_string_equal(a->authority, "http://127.0.0.1:8080");
	assert_string_equal(a->token_endpoint,
			    "http://127.0.0.1:8080/organizations/oauth2/v2.0/token");
	assert_string_equal(a->device_authorization_endpoint,
			    "http://127.0.0.1:8080/organizations/oauth2/v2.0/devicecode");
	assert_string_equal(a->authorization_endpoint,
			    "http://127.0.0.1:8080/organizations/oauth2/v2.0/authorize");
	assert_string_equal(a->graph_url, "https://graph.microsoft.us");
	assert_string_equal(a->scopes, "https://graph.microsoft.com/Mail.Send offline_access");
	assert_string_equal(a->ca_file, "/etc/ssl/test-ca.pem");
	mo_config_free(cfg);

	/* an authority with a path prefix */
	cfg = load_ok(MS_ACCOUNT "authority = https://login.microsoftonline.us/prefix\n", false);
	assert_string_equal(cfg->accounts[0]->token_endpoint,
			    "https://login.microsoftonline.us/prefix/contoso.onmicrosoft.com/oauth2/v2.0/token");
	mo_config_free(cfg);
}

static void google_presets(void **state)
{
	struct mo_config *cfg;
	const struct mo_account_config *a;

	(void)state;
	cfg = load_ok(GOOGLE_ACCOUNT, false);
	a = cfg->accounts[0];
	assert_int_equal(a->provider, MO_PROVIDER_GOOGLE);
	assert_int_equal(a->flow, MO_FLOW_AUTHCODE);
	assert_string_equal(a->scopes, "https://mail.google.com/");
	assert_string_equal(a->token_endpoint, "https://oauth2.googleapis.com/token");
	assert_string_equal(a->device_authorization_endpoint,
			    "https://oauth2.googleapis.com/device/code");
	assert_string_equal(a->authorization_endpoint,
			    "https://accounts.google.com/o/oauth2/v2/auth");
	assert_string_equal(a->revocation_endpoint, "https://oauth2.googleapis.com/revoke");
	assert_null(a->tenant);
	assert_null(a->authority);
	assert_null(a->graph_url);
	assert_null(a->issuer);
	mo_config_free(cfg);

	/* explicit endpoints override the preset one by one (test IdP) */
	cfg = load_ok(GOOGLE_ACCOUNT
		      "token_endpoint = http://localhost:9/google/token\n"
		      "authorization_endpoint = http://[::1]:9/google/auth\n", false);
	a = cfg->accounts[0];
	assert_string_equal(a->token_endpoint, "http://localhost:9/google/token");
	assert_string_equal(a->authorization_endpoint, "http://[::1]:9/google/auth");
	assert_string_equal(a->device_authorization_endpoint,
			    "https://oauth2.googleapis.com/device/code");
	assert_string_equal(a->revocation_endpoint, "https://oauth2.googleapis.com/revoke");
	mo_config_free(cfg);

	/* the device flow is fine for scopes other than Gmail's */
	cfg = load_ok(GOOGLE_ACCOUNT "flow = device\n"
		      "scopes = https://www.googleapis.com/auth/calendar\n", false);
	assert_int_equal(cfg->accounts[0]->flow, MO_FLOW_DEVICE);
	mo_config_free(cfg);
}

static void generic_presets(void **state)
{
	struct mo_config *cfg;
	const struct mo_account_config *a;

	(void)state;
	cfg = load_ok(GENERIC_ACCOUNT
		      "token_endpoint = https://idp.example.com/token?tenant=1\n"
		      "device_authorization_endpoint = https://idp.example.com/device\n"
		      "revocation_endpoint = https://idp.example.com/revoke\n", false);
	a = cfg->accounts[0];
	assert_int_equal(a->provider, MO_PROVIDER_GENERIC);
	assert_int_equal(a->flow, MO_FLOW_DEVICE);
	assert_string_equal(a->user, "carol");	/* any SASL name for generic */
	assert_string_equal(a->scopes, "mail offline_access");
	assert_string_equal(a->token_endpoint, "https://idp.example.com/token?tenant=1");
	assert_string_equal(a->device_authorization_endpoint, "https://idp.example.com/device");
	assert_null(a->authorization_endpoint);
	assert_string_equal(a->revocation_endpoint, "https://idp.example.com/revoke");
	assert_false(a->needs_discovery);
	assert_null(a->graph_url);
	mo_config_free(cfg);

	cfg = load_ok(GENERIC_ACCOUNT "flow = authcode\n"
		      "issuer = https://idp.example.com/realms/mail\n", false);
	a = cfg->accounts[0];
	assert_int_equal(a->flow, MO_FLOW_AUTHCODE);
	assert_string_equal(a->issuer, "https://idp.example.com/realms/mail");
	assert_true(a->needs_discovery);
	assert_null(a->token_endpoint);
	assert_null(a->device_authorization_endpoint);
	assert_null(a->authorization_endpoint);
	mo_config_free(cfg);

	cfg = load_ok(GENERIC_BASE "flow = client-credentials\n"
		      "scopes = api://mail/.default\n"
		      "token_endpoint = https://idp.example.com/token\n", false);
	assert_int_equal(cfg->accounts[0]->flow, MO_FLOW_CLIENT_CREDENTIALS);
	mo_config_free(cfg);
}

static void names_and_lookup(void **state)
{
	struct mo_config *cfg;

	(void)state;
	assert_string_equal(mo_provider_name(MO_PROVIDER_MICROSOFT), "microsoft");
	assert_string_equal(mo_provider_name(MO_PROVIDER_GOOGLE), "google");
	assert_string_equal(mo_provider_name(MO_PROVIDER_GENERIC), "generic");
	assert_string_equal(mo_provider_name((enum mo_provider)9), "?");
	assert_string_equal(mo_flow_name(MO_FLOW_DEVICE), "device");
	assert_string_equal(mo_flow_name(MO_FLOW_AUTHCODE), "authcode");
	assert_string_equal(mo_flow_name(MO_FLOW_CLIENT_CREDENTIALS), "client-credentials");
	assert_string_equal(mo_flow_name((enum mo_flow)-1), "?");
	assert_string_equal(mo_store_name(MO_STORE_FILE), "file");
	assert_string_equal(mo_store_name(MO_STORE_SECRET_SERVICE), "secret-service");

	cfg = load_ok(MS_ACCOUNT GOOGLE_ACCOUNT
		      "[account shared]\nprovider = microsoft\ntenant = t.example\n"
		      "client_id = c\nuser = Alice@CONTOSO.com\n", false);
	assert_int_equal(cfg->n_accounts, 3);
	assert_string_equal(cfg->accounts[0]->name, "work");	/* file order */
	assert_string_equal(cfg->accounts[2]->name, "shared");
	assert_ptr_equal(mo_config_find(cfg, "gmail"), cfg->accounts[1]);
	assert_null(mo_config_find(cfg, "Gmail"));
	assert_null(mo_config_find(cfg, NULL));
	assert_null(mo_config_find(NULL, "work"));
	/* domain without regard to case, local part exactly, first match */
	assert_ptr_equal(mo_config_find_user(cfg, "alice@CONTOSO.COM"), cfg->accounts[0]);
	assert_ptr_equal(mo_config_find_user(cfg, "Alice@contoso.com"), cfg->accounts[2]);
	assert_null(mo_config_find_user(cfg, "ALICE@contoso.com"));
	assert_null(mo_config_find_user(cfg, "alice"));
	assert_null(mo_config_find_user(cfg, "alice@contoso.com.evil"));
	assert_ptr_equal(mo_config_find_user(cfg, "bob@gmail.com"), cfg->accounts[1]);
	assert_null(mo_config_find_user(cfg, NULL));
	mo_config_free(cfg);
}

/* ---- accounts: errors ---- */

static void account_errors(void **state)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
		/* required keys */
		{"[account a]\nprovider = microsoft\ntenant = t\nclient_id = c\n",
		 NAME ": [account a] user: is required: the mailbox address the "
		 "mail program logs in as (its SASL user name)"},
		{"[account a]\nprovider = microsoft\ntenant = t\nuser = u@x\n",
		 NAME ": [account a] client_id: is required: the application "
		 "(client) ID registered with the identity provider"},
		{"[account a]\ntenant = t\nclient_id = c\nuser = u@x\n",
		 NAME ": [account a] provider: is required; set it to microsoft, "
		 "google or generic"},
		{"[account a]\nprovider = microsoft\nclient_id = c\nuser = u@x\n",
		 NAME ": [account a] tenant: is required for provider microsoft: "
		 "the directory (tenant) ID or a domain of the tenant, or "
		 "organizations"},
		{"[account a]\nprovider = generic\nclient_id = c\nuser = u\n"
		 "token_endpoint = https://i/t\ndevice_authorization_endpoint = https://i/d\n",
		 NAME ": [account a] scopes: is required for provider generic: "
		 "the scopes, separated by spaces, as the provider documents them"},
		{GENERIC_ACCOUNT "device_authorization_endpoint = https://i/d\n",
		 NAME ": [account idp] token_endpoint: is required for provider "
		 "generic (or set issuer to use discovery)"},
		{GENERIC_ACCOUNT "token_endpoint = https://i/t\n",
		 NAME ": [account idp] device_authorization_endpoint: is required "
		 "for flow device (or set issuer to use discovery, or choose "
		 "another flow)"},
		{GENERIC_ACCOUNT "flow = authcode\ntoken_endpoint = https://i/t\n",
		 NAME ": [account idp] authorization_endpoint: is required for "
		 "flow authcode (or set issuer to use discovery, or choose "
		 "another flow)"},
		/* bad values */
		{"[account a]\nprovider = microsft\nclient_id = c\nuser = u@x\n",
		 NAME ": [account a] provider: unknown provider \"microsft\"; use "
		 "microsoft, google or generic"},
		{MS_ACCOUNT "flow = device-code\n",
		 NAME ": [account work] flow: unknown flow \"device-code\"; use "
		 "device, authcode or client-credentials"},
		{"[account a]\nprovider = microsoft\ntenant = t\nclient_id = c\nuser = alice\n",
		 NAME ": [account a] user: must be a mailbox address such as "
		 "alice@example.com"},
		{"[account a]\nprovider = google\nclient_id = c\nuser = @gmail.com\n",
		 NAME ": [account a] user: must be a mailbox address such as "
		 "alice@example.com"},
		{"[account a]\nprovider = microsoft\ntenant = t\nclient_id = c\nuser = a\\tb@x\n",
		 NAME ": [account a] user: contains a control character"},
		{"[account a]\nprovider = microsoft\ntenant = t\nclient_id = c\nuser = al ice@x\n",
		 NAME ": [account a] user: must be printable ASCII without spaces, "
		 "at most 320 characters"},
		{"[account a]\nprovider = microsoft\ntenant = t\nclient_id = c d\nuser = a@x\n",
		 NAME ": [account a] client_id: must be printable ASCII without "
		 "spaces, at most 256 characters"},
		{"[account a]\nprovider = microsoft\ntenant = t\nclient_id =\nuser = a@x\n",
		 NAME ": [account a] client_id: must not be empty"},
		{"[account a]\nprovider = microsoft\ntenant = con/toso\nclient_id = c\nuser = a@x\n",
		 NAME ": [account a] tenant: must be a tenant ID, a domain name, "
		 "organizations, common or consumers"},
		{MS_ACCOUNT "scopes = a,b\n",
		 NAME ": [account work] scopes: are separated by spaces, not commas"},
		{MS_ACCOUNT "scopes = \"quoted\"\n",
		 NAME ": [account work] scopes: must be scopes separated by "
		 "spaces, each printable ASCII other than \" and \\"},
		{MS_ACCOUNT "ca_file = certs/ca.pem\n",
		 NAME ": [account work] ca_file: must be an absolute path (starting "
		 "with /)"},
		{MS_ACCOUNT "flow = client-credentials\nclient_certificate = app.pem\n",
		 NAME ": [account work] client_certificate: must be an absolute path "
		 "(starting with /)"},
		{MS_ACCOUNT "usr = x\n",
		 NAME ": [account work] usr: unknown key; did you mean user?"},
		{MS_ACCOUNT "client-id = x\n",
		 NAME ": [account work] client-id: unknown key; did you mean client_id?"},
		{MS_ACCOUNT "scope = x\n",
		 NAME ": [account work] scope: unknown key; did you mean scopes?"},
		{MS_ACCOUNT "redirect_uri = http://localhost/\n",
		 NAME ": [account work] redirect_uri: unknown key (see "
		 "mailoauth.conf(5) for the keys of [account NAME])"},
		{MS_ACCOUNT "refresh_margin = 100\n",
		 NAME ": [account work] refresh_margin: belongs in [daemon], not in "
		 "an account"},
		{MS_ACCOUNT "ca_file = /x\\q\n",
		 NAME ": [account work] ca_file: has an invalid backslash escape; the "
		 "escapes are \\s \\t \\n \\r and \\\\ (for a backslash)"},
		/* keys that mean nothing for the provider or flow */
		{GOOGLE_ACCOUNT "tenant = x\n",
		 NAME ": [account gmail] tenant: is only used with provider microsoft"},
		{GOOGLE_ACCOUNT "authority = https://x\n",
		 NAME ": [account gmail] authority: is only used with provider microsoft"},
		{GOOGLE_ACCOUNT "graph_url = https://x\n",
		 NAME ": [account gmail] graph_url: is only used with provider microsoft"},
		{MS_ACCOUNT "issuer = https://x\n",
		 NAME ": [account work] issuer: is only used with provider generic"},
		{MS_ACCOUNT "token_endpoint = https://x/token\n",
		 NAME ": [account work] token_endpoint: provider microsoft builds "
		 "its endpoints from authority and tenant; remove this line (or "
		 "use provider generic)"},
		{MS_ACCOUNT "client_certificate = /etc/app.pem\n",
		 NAME ": [account work] client_certificate: is only used with flow "
		 "client-credentials"},
		{GENERIC_ACCOUNT "issuer = https://i\ntoken_endpoint = https://i/t\n",
		 NAME ": [account idp] issuer: give either issuer (for discovery) "
		 "or the endpoints, not both"},
		/* impossible combinations */
		{GOOGLE_ACCOUNT "flow = device\n",
		 NAME ": [account gmail] flow: Google's device flow refuses the "
		 "Gmail scopes (https://mail.google.com/); use flow authcode"},
		{GOOGLE_ACCOUNT "flow = device\nscopes = https://www.googleapis.com/auth/gmail.send\n",
		 NAME ": [account gmail] flow: Google's device flow refuses the "
		 "Gmail scopes (https://mail.google.com/); use flow authcode"},
		{GOOGLE_ACCOUNT "flow = client-credentials\n",
		 NAME ": [account gmail] flow: Google has no client-credentials "
		 "grant for mail; use flow authcode"},
		{MS_ACCOUNT "scopes = https://graph.microsoft.com/Mail.Send "
		 "https://outlook.office.com/SMTP.Send offline_access\n",
		 NAME ": [account work] scopes: mixes Microsoft Graph scopes (those "
		 "of https://graph.microsoft.com/ and those without a resource, "
		 "such as Mail.Send) with Outlook scopes "
		 "(https://outlook.office.com/...), but one token serves one "
		 "resource; use two accounts, one for each"},
		{MS_ACCOUNT "scopes = Mail.Send https://outlook.office365.com/SMTP.Send "
		 "offline_access\n",
		 NAME ": [account work] scopes: mixes Microsoft Graph scopes (those "
		 "of https://graph.microsoft.com/ and those without a resource, "
		 "such as Mail.Send) with Outlook scopes "
		 "(https://outlook.office.com/...), but one token serves one "
		 "resource; use two accounts, one for each"},
		{MS_ACCOUNT "scopes = https://outlook.office.com/SMTP.Send\n",
		 NAME ": [account work] scopes: lacks offline_access, without which "
		 "Microsoft issues no refresh token and the account needs a new "
		 "login every hour; add offline_access"},
		{MS_ACCOUNT "flow = client-credentials\n"
		 "scopes = https://outlook.office365.com/.default offline_access\n",
		 NAME ": [account work] scopes: offline_access means nothing for "
		 "client-credentials, which has no refresh token; remove it"},
		{GENERIC_ACCOUNT "flow = client-credentials\ntoken_endpoint = https://i/t\n",
		 NAME ": [account idp] scopes: offline_access means nothing for "
		 "client-credentials, which has no refresh token; remove it"},
		{MS_ACCOUNT "flow = client-credentials\n"
		 "scopes = https://outlook.office.com/SMTP.SendAsApp\n",
		 NAME ": [account work] scopes: client-credentials takes exactly "
		 "one scope of the form RESOURCE/.default, such as "
		 "https://outlook.office365.com/.default"},
		{MS_ACCOUNT "flow = client-credentials\n"
		 "scopes = https://outlook.office365.com/.default https://graph.microsoft.com/.default\n",
		 NAME ": [account work] scopes: mixes Microsoft Graph scopes (those "
		 "of https://graph.microsoft.com/ and those without a resource, "
		 "such as Mail.Send) with Outlook scopes "
		 "(https://outlook.office.com/...), but one token serves one "
		 "resource; use two accounts, one for each\n"
		 NAME ": [account work] scopes: client-credentials takes exactly "
		 "one scope of the form RESOURCE/.default, such as "
		 "https://outlook.office365.com/.default"},
		{"[account a]\nprovider = microsoft\ntenant = Common\nclient_id = c\n"
		 "user = a@x\nflow = client-credentials\n",
		 NAME ": [account a] tenant: client-credentials needs the tenant "
		 "itself (its ID or one of its domains), not Common"},
		/* group names */
		{"[account]\n", NAME ": [account]: an account group needs a name, as "
		 "in [account work]"},
		{"[account -x]\n", NAME ": [account -x]: not a valid account name: "
		 "1 to 64 letters, digits and . _ @ + -, starting with a letter or "
		 "digit"},
		{"[account a b]\n", NAME ": [account a b]: not a valid account name: "
		 "1 to 64 letters, digits and . _ @ + -, starting with a letter or "
		 "digit"},
		{"[acount work]\n", NAME ": [acount work]: unknown group; the groups "
		 "are [daemon] and [account NAME]"},
		{"[Daemon]\n", NAME ": [Daemon]: unknown group; the groups are "
		 "[daemon] and [account NAME]"},
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
		expect_err(cases[i].text, cases[i].error);
}

static void secrets_refused(void **state)
{
	static const char *const keys[] = {
		"client_secret", "refresh_token", "password", "private_key",
		"Client-Secret", "key_passphrase", "access_token", "smtp_passwd",
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		char *text = g_strdup_printf(MS_ACCOUNT "%s = 0.AXEAabc-secret-value\n",
					     keys[i]);
		char *expected = g_strdup_printf(NAME ": [account work] %s: secrets "
			"do not belong in the config file; remove this line and run "
			"\"mailoauth login work\", which reads the secret from "
			"standard input and keeps it in the store", keys[i]);
		char *msg = load_err(text, false);

		assert_string_equal(msg, expected);
		assert_null(strstr(msg, "secret-value"));	/* never echoed */
		g_free(msg);
		g_free(expected);
		g_free(text);
	}
}

/* ---- URLs ---- */

static void urls(void **state)
{
	static const char *const good[] = {
		"https://idp.example.com/token",
		"HTTPS://IDP.EXAMPLE.COM:8443/t?x=1",
		"https://idp.example.com./t",
		"https://[2001:db8::1]:443/t",
		"https://10.0.0.1/t",
		"http://127.0.0.1:8080/token",
		"http://127.1.2.3/t",
		"http://[::1]:1/x",
		"http://localhost/",
		"http://LocalHost:80",
		"http://localhost./t",
		"https://idp.example.com/a@b",	/* @ in the path is not userinfo */
	};
	static const struct {
		const char *url, *why;
	} bad[] = {
		{"http://example.com/t", "http:// is allowed only on loopback hosts "
		 "(127.0.0.0/8, [::1], localhost); use https://"},
		{"http://127.0.0.1.evil.com/t", "http:// is allowed only on loopback "
		 "hosts (127.0.0.0/8, [::1], localhost); use https://"},
		{"http://localhost.evil.com/", "http:// is allowed only on loopback "
		 "hosts (127.0.0.0/8, [::1], localhost); use https://"},
		{"http://[::2]/", "http:// is allowed only on loopback hosts "
		 "(127.0.0.0/8, [::1], localhost); use https://"},
		{"http://128.0.0.1/", "http:// is allowed only on loopback hosts "
		 "(127.0.0.0/8, [::1], localhost); use https://"},
		{"http://user@evil.com@127.0.0.1/", "must not contain a user name "
		 "or password (user@host)"},
		{"http://127.0.0.1@evil.com/", "must not contain a user name or "
		 "password (user@host)"},
		{"https://user:pw@idp.example.com/", "must not contain a user name "
		 "or password (user@host)"},
		{"http://evil.com#@127.0.0.1/", "must not contain a fragment (#...)"},
		{"http://evil.com?@127.0.0.1/", "http:// is allowed only on loopback "
		 "hosts (127.0.0.0/8, [::1], localhost); use https://"},
		/* in key-file syntax a backslash is written \\ */
		{"http://127.0.0.1\\\\@evil.com/", "contains a space, a control "
		 "character, a backslash or a non-ASCII character; percent-encode it"},
		{"https://idp.example.com/a b", "contains a space, a control "
		 "character, a backslash or a non-ASCII character; percent-encode it"},
		{"ftp://idp.example.com/", "must be an https:// URL"},
		{"idp.example.com/token", "must be an https:// URL"},
		{"https:///token", "has an invalid host"},
		{"https://idp..example.com/", "has an invalid host"},
		{"https://idp%2eexample.com/", "has an invalid host"},
		{"http://127.1/", "has an invalid host"},
		{"http://2130706433/", "has an invalid host"},
		{"http://[::1/", "has an invalid host"},
		{"http://[::1]x/", "has an invalid host"},
		{"http://[fe80::1%25lo]/", "has an invalid host"},
		{"https://idp.example.com:/", "has an invalid port"},
		{"https://idp.example.com:0/", "has an invalid port"},
		{"https://idp.example.com:65536/", "has an invalid port"},
		{"https://idp.example.com:44x/", "has an invalid port"},
		{"https://idp.example.com/t#frag", "must not contain a fragment (#...)"},
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
		char *text = g_strdup_printf(GENERIC_ACCOUNT "token_endpoint = %s\n"
					     "device_authorization_endpoint = %s\n",
					     good[i], good[i]);
		struct mo_config *cfg = load_ok(text, false);

		assert_string_equal(cfg->accounts[0]->token_endpoint, good[i]);
		mo_config_free(cfg);
		g_free(text);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		char *text = g_strdup_printf(GENERIC_ACCOUNT "token_endpoint = %s\n"
					     "device_authorization_endpoint = https://i/d\n",
					     bad[i].url);
		char *expected = g_strdup_printf(NAME ": [account idp] token_endpoint: %s",
						 bad[i].why);

		expect_err(text, expected);
		g_free(expected);
		g_free(text);
	}
	/* authority, issuer and graph_url take no query */
	expect_err(MS_ACCOUNT "authority = https://login.example.com/?x=1\n",
		   NAME ": [account work] authority: must not contain a query (?...)");
	expect_err(MS_ACCOUNT "authority = http://login.example.com\n",
		   NAME ": [account work] authority: http:// is allowed only on "
		   "loopback hosts (127.0.0.0/8, [::1], localhost); use https://");
	expect_err(MS_ACCOUNT "graph_url = http://graph.example.com\n",
		   NAME ": [account work] graph_url: http:// is allowed only on "
		   "loopback hosts (127.0.0.0/8, [::1], localhost); use https://");
	expect_err(GENERIC_ACCOUNT "issuer = https://idp.example.com?realm=x\n",
		   NAME ": [account idp] issuer: must not contain a query (?...)");
	expect_err(GOOGLE_ACCOUNT "revocation_endpoint = http://oauth2.googleapis.com/revoke\n",
		   NAME ": [account gmail] revocation_endpoint: http:// is allowed "
		   "only on loopback hosts (127.0.0.0/8, [::1], localhost); use https://");
}

/* ---- allow ---- */

static void allow_lists(void **state)
{
	struct mo_config *cfg;
	const struct mo_account_config *a;
	uid_t nobody = uid_of("nobody");
	gid_t nogroup = gid_of("nogroup"), mail = gid_of("mail");
	gid_t g_mail[] = {12345, mail}, g_other[] = {12345, 12346};

	(void)state;
	cfg = load_ok(MS_ACCOUNT "allow = nobody, root,@nogroup   @mail,nobody\t@mail\n",
		      false);
	a = cfg->accounts[0];
	assert_int_equal(a->n_allow_uids, 2);	/* sorted, without repeats */
	assert_int_equal(a->allow_uids[0], 0);
	assert_int_equal(a->allow_uids[1], nobody);
	assert_int_equal(a->n_allow_gids, 2);
	assert_int_equal(a->allow_gids[0], mail < nogroup ? mail : nogroup);
	assert_int_equal(a->allow_gids[1], mail < nogroup ? nogroup : mail);

	assert_true(mo_account_allows(a, nobody, NULL, 0));
	assert_true(mo_account_allows(a, 54321, g_mail, 2));
	assert_false(mo_account_allows(a, 54321, g_other, 2));
	assert_false(mo_account_allows(a, 54321, NULL, 0));
	/* root and the daemon's own uid always */
	assert_true(mo_account_allows(a, 0, NULL, 0));
	assert_true(mo_account_allows(a, geteuid(), NULL, 0));
	mo_config_free(cfg);

	/* absent or empty: only root and the daemon */
	cfg = load_ok(MS_ACCOUNT "allow =\n", false);
	a = cfg->accounts[0];
	assert_int_equal(a->n_allow_uids + a->n_allow_gids, 0);
	assert_false(mo_account_allows(a, 54321, g_mail, 2));
	assert_true(mo_account_allows(a, 0, NULL, 0));
	mo_config_free(cfg);

	expect_err(MS_ACCOUNT "allow = root mo-no-such-user\n",
		   NAME ": [account work] allow: no such user \"mo-no-such-user\" "
		   "(write @NAME for a group)");
	expect_err(MS_ACCOUNT "allow = @mo-no-such-group\n",
		   NAME ": [account work] allow: no such group \"mo-no-such-group\"");
	expect_err(MS_ACCOUNT "allow = @, root\n",
		   NAME ": [account work] allow: \"@\" needs a group name after "
		   "it, as in @mail");
	/* a name too long to be shown is still reported, without it */
	expect_err(MS_ACCOUNT "allow = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		   NAME ": [account work] allow: no such user (write @NAME for a group)");
}

/* ---- syntax ---- */

static void syntax_errors(void **state)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
		{"[daemon]\nsocket /run/x\n",
		 NAME ":2: not a [group], a key = value line or a # comment"},
		{"socket = /x\n[daemon]\n",
		 NAME ":1: a key before the first group; put it under [daemon] or "
		 "an [account NAME]"},
		{"[daemon]\n; old style\n", NAME ":2: comments start with #, not ;"},
		{"[daemon]\nsocket = /a\n\nsocket = /b\n",
		 NAME ":4: [daemon] socket is set again (first on line 2); keep one"},
		{MS_ACCOUNT "[daemon]\n" MS_ACCOUNT,
		 NAME ":7: [account work] appears again (first on line 1); merge the two"},
		{"[daemon\n", NAME ":1: a group header needs its closing ], as in "
		 "[account work]"},
		{"[daemon] # main\n", NAME ":1: text after a group header's closing "
		 "]; comments go on lines of their own"},
		{"[]\n", NAME ":1: an empty group name []"},
		{"[a[b]\n", NAME ":1: a group name cannot contain ["},
		{"[account\twork]\n", NAME ":1: a group name cannot contain a tab"},
		{"[daemon]\nEncoding = latin1\n", NAME ":2: Encoding is not a key "
		 "of this file (it is always UTF-8)"},
		{"[daemon]\n= x\n", NAME ":2: a value without a key name before the ="},
		{"[daemon]\nsocket[de] = /x\n", NAME ":2: localized keys such as "
		 "name[de] are not supported"},
		{"[daemon]\nsock et = /x\n", NAME ":2: not a valid key name (letters, "
		 "digits, _ and -)"},
		{"[daemon]\nsocket = /x\rsocket = /y\n", NAME ":2: contains a control "
		 "character (only tabs and spaces are allowed)"},
		{"[daemon]\nsocket = /\xff\n", NAME ":2: is not valid UTF-8"},
		/* a pasted token is never quoted back */
		{"[account work]\n0.AXEAtokentokentokentoken\n",
		 NAME ":2: not a [group], a key = value line or a # comment"},
		{"[account work]\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		 NAME ":2: not a valid key name (letters, digits, _ and -)"},
	};
	static const char nul[] = "[daemon]\nsocket = /x\0y\n";
	GError *e = NULL;

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
		expect_err(cases[i].text, cases[i].error);

	assert_null(mo_config_load_data(nul, sizeof(nul) - 1, NAME, false, &e));
	assert_string_equal(e->message, NAME ":2: contains a NUL byte");
	g_clear_error(&e);

	/* keys under a broken header are not blamed on the group before */
	expect_err("[daemon]\nsocket = /a\n[daemon\tx]\nsocket = /b\nsocket = /c\n",
		   NAME ":3: a group name cannot contain a tab");

	/* every syntax error, each with its line */
	expect_err("[daemon]\nx\n[a[b]\ny\n",
		   NAME ":2: not a [group], a key = value line or a # comment\n"
		   NAME ":3: a group name cannot contain [\n"
		   NAME ":4: not a [group], a key = value line or a # comment");
}

static void syntax_accepted(void **state)
{
	struct mo_config *cfg;

	(void)state;
	/* CRLF, a byte-order mark, indentation, tabs, escapes, no final LF */
	cfg = load_ok("\xef\xbb\xbf# written on Windows\r\n"
		      "  [daemon]  \r\n"
		      "\tnotify_command\t=\tlogger -t mailoauth\\sfailed\r\n"
		      "[account work]\r\n" "provider = microsoft\r\n"
		      "tenant = t.example\r\nclient_id = c\r\nuser = u@t.example", false);
	assert_string_equal(cfg->notify_command, "logger -t mailoauth failed");
	assert_string_equal(cfg->accounts[0]->user, "u@t.example");
	mo_config_free(cfg);

	/* a CR ending the last line, without LF */
	cfg = load_ok("[daemon]\r\nsocket = /x\r", false);
	assert_string_equal(cfg->socket, "/x");
	mo_config_free(cfg);
	cfg = load_ok("[daemon]\r", false);
	mo_config_free(cfg);
}

/* ---- all problems at once ---- */

static void many_errors(void **state)
{
	GString *text = g_string_new("[daemon]\n");
	char *msg, **lines;

	(void)state;
	expect_err("[daemon]\n"
		   "refresh_margin = 5\n"
		   "store = nope\n"
		   "[account work]\n"
		   "provider = microsoft\n"
		   "client_secret = x\n"
		   "scopes = https://graph.microsoft.com/Mail.Send https://outlook.office.com/SMTP.Send offline_access\n"
		   "token_endpoint = http://evil.example/token\n"
		   "allow = mo-no-such-user\n"
		   "[account g]\n"
		   "provider = google\n"
		   "client_id = c\n"
		   "user = g@gmail.com\n"
		   "flow = device\n",
		   NAME ": [daemon] store: unknown store \"nope\"; use file or secret-service\n"
		   NAME ": [daemon] refresh_margin: must be a whole number of seconds from 60 to 3000\n"
		   NAME ": [account work] client_secret: secrets do not belong in the "
		   "config file; remove this line and run \"mailoauth login work\", "
		   "which reads the secret from standard input and keeps it in the store\n"
		   NAME ": [account work] client_id: is required: the application "
		   "(client) ID registered with the identity provider\n"
		   NAME ": [account work] user: is required: the mailbox address the "
		   "mail program logs in as (its SASL user name)\n"
		   NAME ": [account work] tenant: is required for provider microsoft: "
		   "the directory (tenant) ID or a domain of the tenant, or organizations\n"
		   NAME ": [account work] token_endpoint: provider microsoft builds "
		   "its endpoints from authority and tenant; remove this line (or "
		   "use provider generic)\n"
		   NAME ": [account work] allow: no such user \"mo-no-such-user\" "
		   "(write @NAME for a group)\n"
		   NAME ": [account work] scopes: mixes Microsoft Graph scopes (those "
		   "of https://graph.microsoft.com/ and those without a resource, "
		   "such as Mail.Send) with Outlook scopes "
		   "(https://outlook.office.com/...), but one token serves one "
		   "resource; use two accounts, one for each\n"
		   NAME ": [account g] flow: Google's device flow refuses the Gmail "
		   "scopes (https://mail.google.com/); use flow authcode");

	/* past 50 problems the rest are counted */
	for (int i = 0; i < 60; i++)
		g_string_append_printf(text, "bogus%d = 1\n", i);
	msg = load_err(text->str, false);
	lines = g_strsplit(msg, "\n", -1);
	assert_int_equal(g_strv_length(lines), 51);
	assert_string_equal(lines[0], NAME ": [daemon] bogus0: unknown key (see "
			    "mailoauth.conf(5) for the keys of [daemon])");
	assert_string_equal(lines[50], NAME ": ... and 10 more problems");
	g_strfreev(lines);
	g_free(msg);
	g_string_free(text, TRUE);
}

/* ---- reload ---- */

static void equality(void **state)
{
	struct mo_config *a, *b;

	(void)state;
	a = load_ok(MS_ACCOUNT "allow = root\n", false);
	b = load_ok("# reordered, other allow, CA and Graph URL\n"
		    "[account work]\nuser = alice@contoso.com\n"
		    "client_id = 11111111-2222-3333-4444-555555555555\n"
		    "tenant = contoso.onmicrosoft.com\nprovider = microsoft\n"
		    "scopes = https://outlook.office.com/SMTP.Send  "
		    "https://outlook.office.com/IMAP.AccessAsUser.All offline_access\n"
		    "allow = nobody @mail\nca_file = /etc/ca.pem\n"
		    "graph_url = https://graph.microsoft.us\n", false);
	assert_true(mo_account_config_equal(a->accounts[0], b->accounts[0]));
	assert_true(mo_account_config_equal(a->accounts[0], a->accounts[0]));
	assert_false(mo_account_config_equal(a->accounts[0], NULL));
	mo_config_free(b);

	static const char *const changes[] = {
		"flow = authcode\n",
		"scopes = https://outlook.office.com/SMTP.Send offline_access\n",
		"authority = http://127.0.0.1:1\n",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(changes); i++) {
		char *text = g_strdup_printf(MS_ACCOUNT "%s", changes[i]);

		b = load_ok(text, false);
		assert_false(mo_account_config_equal(a->accounts[0], b->accounts[0]));
		mo_config_free(b);
		g_free(text);
	}
	b = load_ok("[account work]\nprovider = microsoft\ntenant = contoso.onmicrosoft.com\n"
		    "client_id = other\nuser = alice@contoso.com\n", false);
	assert_false(mo_account_config_equal(a->accounts[0], b->accounts[0]));
	mo_config_free(b);
	b = load_ok("[account work]\nprovider = microsoft\ntenant = contoso.onmicrosoft.com\n"
		    "client_id = 11111111-2222-3333-4444-555555555555\n"
		    "user = bob@contoso.com\n", false);
	assert_false(mo_account_config_equal(a->accounts[0], b->accounts[0]));
	mo_config_free(b);
	mo_config_free(a);
}

/* ---- files ---- */

static char *write_temp(const char *text, mode_t mode)
{
	char *path = g_strdup("/tmp/test-config-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static void files(void **state)
{
	struct mo_config *cfg;
	GError *e = NULL;
	char *path, *expected;

	(void)state;
	path = write_temp(MS_ACCOUNT, 0644);
	cfg = mo_config_load(path, false, &e);
	assert_null(e);
	assert_non_null(cfg);
	assert_string_equal(cfg->path, path);
	assert_int_equal(cfg->n_accounts, 1);
	mo_config_free(cfg);

	/* messages name the file */
	assert_int_equal(chmod(path, 0600), 0);
	{
		FILE *f = fopen(path, "a");

		assert_non_null(f);
		fputs("bogus = 1\n", f);
		fclose(f);
	}
	assert_null(mo_config_load(path, false, &e));
	expected = g_strdup_printf("%s: [account work] bogus: unknown key (see "
				   "mailoauth.conf(5) for the keys of [account "
				   "NAME])", path);
	assert_string_equal(e->message, expected);
	g_free(expected);
	g_clear_error(&e);

	/* writable by others: refused */
	assert_int_equal(chmod(path, 0664), 0);
	assert_null(mo_config_load(path, false, &e));
	assert_true(g_error_matches(e, MO_CONFIG_ERROR, MO_CONFIG_ERROR_UNSAFE));
	expected = g_strdup_printf("%s: is writable by group or others (mode "
				   "0664); it says who may fetch tokens, so only "
				   "its owner may write it (chmod go-w %s)", path, path);
	assert_string_equal(e->message, expected);
	g_free(expected);
	g_clear_error(&e);

	/* owned by somebody else: refused (only root can set that up) */
	if (geteuid() == 0) {
		assert_int_equal(chmod(path, 0644), 0);
		assert_int_equal(chown(path, 54321, (gid_t)-1), 0);
		assert_null(mo_config_load(path, false, &e));
		assert_true(g_error_matches(e, MO_CONFIG_ERROR, MO_CONFIG_ERROR_UNSAFE));
		expected = g_strdup_printf("%s: belongs to uid 54321, not to root "
					   "or to the daemon's user; it says who "
					   "may fetch tokens, so only they may own "
					   "it (chown root %s)", path, path);
		assert_string_equal(e->message, expected);
		g_free(expected);
		g_clear_error(&e);
	}
	unlink(path);

	/* missing */
	assert_null(mo_config_load(path, false, &e));
	assert_true(g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT));
	expected = g_strdup_printf("%s: cannot open: No such file or directory", path);
	assert_string_equal(e->message, expected);
	g_free(expected);
	g_clear_error(&e);
	g_free(path);

	/* not a regular file */
	assert_null(mo_config_load("/tmp", false, &e));
	assert_string_equal(e->message, "/tmp: is not a regular file");
	g_clear_error(&e);

	/* too large */
	{
		char *big = g_malloc(MO_CONFIG_MAX_SIZE + 2);

		memset(big, '#', MO_CONFIG_MAX_SIZE + 1);
		big[MO_CONFIG_MAX_SIZE + 1] = '\0';
		path = write_temp(big, 0600);
		assert_null(mo_config_load(path, false, &e));
		expected = g_strdup_printf("%s: is larger than %d bytes", path,
					   MO_CONFIG_MAX_SIZE);
		assert_string_equal(e->message, expected);
		g_free(expected);
		g_clear_error(&e);
		assert_null(mo_config_load_data(big, MO_CONFIG_MAX_SIZE + 1, NAME,
						false, &e));
		assert_string_equal(e->message, NAME ": is larger than 8388608 bytes");
		g_clear_error(&e);
		unlink(path);
		g_free(path);
		g_free(big);
	}

	/* the default user path, through XDG_CONFIG_HOME */
	{
		char dir[] = "/tmp/test-config-dir-XXXXXX", *sub, *file;

		assert_non_null(mkdtemp(dir));
		setenv("XDG_CONFIG_HOME", dir, 1);
		setenv("XDG_RUNTIME_DIR", "/run/user/1", 1);
		sub = g_build_filename(dir, "mailoauth", NULL);
		assert_int_equal(mkdir(sub, 0700), 0);
		file = g_build_filename(sub, "mailoauth.conf", NULL);
		assert_true(g_file_set_contents(file, GOOGLE_ACCOUNT, -1, NULL));
		assert_int_equal(chmod(file, 0600), 0);
		cfg = mo_config_load(NULL, true, &e);
		assert_null(e);
		assert_non_null(cfg);
		assert_string_equal(cfg->path, file);
		assert_string_equal(cfg->accounts[0]->name, "gmail");
		mo_config_free(cfg);
		unlink(file);
		rmdir(sub);
		rmdir(dir);
		g_free(file);
		g_free(sub);
		unsetenv("XDG_CONFIG_HOME");
		unsetenv("XDG_RUNTIME_DIR");
	}
}

/* ---- the shipped example ---- */

static void example_file(void **state)
{
	static const char path[] = "token-helper/mailoauth.conf.example";
	struct mo_config *cfg;
	GString *all;
	char *text, **lines;
	GError *e = NULL;

	(void)state;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		skip();	/* not run from the top of the source tree */

	/* as shipped: one account, for Postfix (user postfix must exist) */
	cfg = load_ok(text, false);
	assert_int_equal(cfg->n_accounts, 1);
	assert_string_equal(cfg->accounts[0]->name, "office");
	assert_string_equal(cfg->extra_sockets[0], "/var/spool/postfix/private/mailoauth");
	assert_true(mo_account_allows(cfg->accounts[0], uid_of("postfix"), NULL, 0));
	mo_config_free(cfg);

	/* every commented-out setting ("#key = ..", "#[group]") is valid too */
	all = g_string_new(NULL);
	lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l; l++)
		g_string_append_printf(all, "%s\n", (*l)[0] == '#' && (*l)[1] &&
				       (*l)[1] != ' ' ? *l + 1 : *l);
	g_strfreev(lines);
	cfg = mo_config_load_data(all->str, all->len, path, false, &e);
	if (!cfg)
		fail_msg("%s", e->message);
	assert_int_equal(cfg->n_accounts, 5);
	assert_int_equal(cfg->accounts[1]->flow, MO_FLOW_CLIENT_CREDENTIALS);
	assert_string_equal(cfg->accounts[1]->scopes, "https://outlook.office365.com/.default");
	assert_int_equal(cfg->accounts[2]->provider, MO_PROVIDER_GOOGLE);
	assert_true(cfg->accounts[3]->needs_discovery);
	assert_int_equal(cfg->accounts[4]->flow, MO_FLOW_AUTHCODE);
	assert_non_null(cfg->notify_command);
	mo_config_free(cfg);
	g_string_free(all, TRUE);
	g_free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(system_defaults),
		cmocka_unit_test(user_defaults),
		cmocka_unit_test(daemon_keys),
		cmocka_unit_test(daemon_errors),
		cmocka_unit_test(microsoft_presets),
		cmocka_unit_test(google_presets),
		cmocka_unit_test(generic_presets),
		cmocka_unit_test(names_and_lookup),
		cmocka_unit_test(account_errors),
		cmocka_unit_test(secrets_refused),
		cmocka_unit_test(urls),
		cmocka_unit_test(allow_lists),
		cmocka_unit_test(syntax_errors),
		cmocka_unit_test(syntax_accepted),
		cmocka_unit_test(many_errors),
		cmocka_unit_test(equality),
		cmocka_unit_test(files),
		cmocka_unit_test(example_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
