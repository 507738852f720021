/* SPDX-License-Identifier: MIT */
/*
 * mailoauthd.c - the token helper daemon: main, signals, logging, sockets
 *
 * SYNOPSIS
 *	mailoauthd [--config FILE] [--user | --system] [--check]
 *
 * DESCRIPTION
 *	Runs in the foreground (systemd Type=notify, or a terminal). Loads the
 *	configuration, opens the store, listens on the configured sockets (or
 *	takes those systemd passes), and serves tokens until SIGTERM. SIGHUP
 *	reloads the configuration; accounts whose settings did not change
 *	keep their tokens. --check validates the configuration and exits.
 *
 * SECURITY
 *	Core dumps are off and the process is not dumpable: a crash or a
 *	ptrace from another process of the same uid cannot read the tokens.
 *	The umask is 077. The soft RLIMIT_NOFILE is raised (up to the hard
 *	limit) to what MO_SERVER_MAX_CONNECTIONS needs. Every connection is
 *	authorised by its kernel credentials (engine.c); sockets are 0666
 *	inside a directory whose mode limits who can reach them (a 0700
 *	Postfix private/ for extra_sockets), and a socket directory writable
 *	by group or others is refused (server.c).
 *
 * DIAGNOSTICS
 *	Logs go to the journal when stderr is connected to it, else to
 *	stderr. Configuration errors: exit status 78 (EX_CONFIG), with every
 *	problem listed with file, group and key.
 */
#define _GNU_SOURCE
#define G_LOG_DOMAIN "mailoauthd"
#include "config.h"
#include "engine.h"
#include "http.h"
#include "secret.h"
#include "server.h"
#include "store.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#define EX_USAGE 64
#define EX_CONFIG 78
#define EX_UNAVAILABLE 69

struct daemon {
	GMainLoop *loop;
	char *config_path;
	bool user_mode;
	struct mo_engine *engine;
	struct mo_server *server;
};

static void harden(void)
{
	mo_secret_protect_process();
	umask(077);
}

/*
 * raise_fd_limit - one descriptor per connection: systemd and shells give
 * a soft limit of 1024, which would stop accept() long before
 * MO_SERVER_MAX_CONNECTIONS. Raised up to the hard limit; a hard limit
 * too low for that is logged, and the server takes fewer connections.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	int r = mo_server_raise_fd_limit();
	unsigned cap = mo_server_fd_capacity();

	if (r < 0)
		g_warning("cannot raise the open files limit: %s", g_strerror(-r));
	if (cap < MO_SERVER_MAX_CONNECTIONS && getrlimit(RLIMIT_NOFILE, &rl) == 0)
		g_warning("the open files limit (RLIMIT_NOFILE %llu) allows only %u "
			  "connections at once, not %d: raise it (LimitNOFILE= in "
			  "mailoauthd.service, ulimit -Hn)", (unsigned long long)rl.rlim_cur,
			  cap, MO_SERVER_MAX_CONNECTIONS);
}

static gboolean on_term(gpointer ud)
{
	struct daemon *d = ud;

	sd_notify(0, "STOPPING=1");
	g_message("stopping");
	g_main_loop_quit(d->loop);
	return G_SOURCE_CONTINUE;
}

/*
 * give_back_memory - return the heap that loading left free to the system.
 * Parsing a configuration of thousands of accounts takes several times the
 * memory the accounts keep; malloc keeps what was freed in holes it does
 * not give back by itself, and a daemon that runs for months would hold
 * it all that time.
 */
static void give_back_memory(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static gboolean on_hup(gpointer ud)
{
	struct daemon *d = ud;
	GError *error = NULL;
	struct mo_config *cfg;

	sd_notify(0, "RELOADING=1");
	cfg = mo_config_load(d->config_path, d->user_mode, &error);
	if (!cfg) {
		g_warning("reload failed, keeping the running configuration:\n%s",
			  error->message);
		g_error_free(error);
	} else {
		mo_engine_reconfigure(d->engine, cfg);
		give_back_memory();
		g_message("configuration reloaded: %zu accounts", cfg->n_accounts);
	}
	sd_notify(0, "READY=1");
	return G_SOURCE_CONTINUE;
}

/* make_socket_dir - the directory of the main socket, created if missing */
static bool make_socket_dir(const char *path, GError **error)
{
	char *dir = g_path_get_dirname(path);
	bool ok = true;
	bool existed = g_file_test(dir, G_FILE_TEST_IS_DIR);

	/* the umask is 077: say 0755 explicitly for a directory we create */
	if (g_mkdir_with_parents(dir, 0755) < 0 ||
	    (!existed && chmod(dir, 0755) < 0)) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot create the socket directory %s: %s", dir,
			    g_strerror(errno));
		ok = false;
	}
	g_free(dir);
	return ok;
}

static bool open_sockets(struct daemon *d, const struct mo_config *cfg,
			 GError **error)
{
	int n = sd_listen_fds(1);

	if (n > 0) {
		for (int i = 0; i < n; i++)
			if (!mo_server_adopt(d->server, SD_LISTEN_FDS_START + i, error))
				return false;
		g_message("serving %d socket(s) from systemd", n);
		/* the sockets are systemd's now: an extra socket that is not
		 * among them has nobody listening (e.g. Postfix's chroot) */
		for (char **p = cfg->extra_sockets; p && *p; p++) {
			bool passed = false;

			for (int i = 0; i < n && !passed; i++)
				passed = sd_is_socket_unix(SD_LISTEN_FDS_START + i,
							   SOCK_STREAM, 1, *p, 0) > 0;
			if (!passed)
				g_warning("extra_sockets: systemd did not pass %s, so "
					  "nothing listens there: add ListenStream=%s "
					  "to mailoauthd.socket (systemctl edit "
					  "mailoauthd.socket)", *p, *p);
		}
		return true;
	}
	if (!make_socket_dir(cfg->socket, error) ||
	    !mo_server_listen(d->server, cfg->socket, 0666, error))
		return false;
	for (char **p = cfg->extra_sockets; p && *p; p++)
		if (!mo_server_listen(d->server, *p, 0666, error))
			return false;
	return true;
}

static struct mo_store *open_store(const struct mo_config *cfg, GError **error)
{
	if (cfg->store == MO_STORE_FILE)
		return mo_store_file_new(cfg->store_path, cfg->store_key_file, error);
	return mo_store_secret_new(error);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mailoauthd [--config FILE] [--user | --system] [--check]\n"
		"\n"
		"Keeps OAuth 2.0 access tokens fresh and serves them to mail\n"
		"programs over a Unix socket (see mailoauthd(8)).\n"
		"\n"
		"  --config FILE  configuration file (default: system\n"
		"                 /etc/mailoauth/mailoauth.conf, user\n"
		"                 $XDG_CONFIG_HOME/mailoauth/mailoauth.conf)\n"
		"  --user         user mode: socket in $XDG_RUNTIME_DIR, Secret Service\n"
		"  --system       system mode (the default for root)\n"
		"  --check        validate the configuration and exit\n"
		"  --version      print the version and exit\n");
}

int main(int argc, char **argv)
{
	struct daemon d = {0};
	struct mo_config *cfg;
	struct mo_store *store = NULL;
	struct mo_http *http = NULL;
	GError *error = NULL;
	bool check = false;
	int status = 0;

	setlocale(LC_ALL, "");
	harden();
	d.user_mode = geteuid() != 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			d.config_path = argv[++i];
		} else if (!strcmp(argv[i], "--user")) {
			d.user_mode = true;
		} else if (!strcmp(argv[i], "--system")) {
			d.user_mode = false;
		} else if (!strcmp(argv[i], "--check")) {
			check = true;
		} else if (!strcmp(argv[i], "--version")) {
			puts("mailoauthd " MO_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "mailoauthd: unknown option %s\n", argv[i]);
			usage(stderr);
			return EX_USAGE;
		}
	}
	mo_secret_init();

	cfg = mo_config_load(d.config_path, d.user_mode, &error);
	if (!cfg) {
		fprintf(stderr, "mailoauthd: %s\n", error->message);
		g_error_free(error);
		return EX_CONFIG;
	}
	if (check) {
		printf("%s: OK, %zu account(s)\n", cfg->path, cfg->n_accounts);
		mo_config_free(cfg);
		return 0;
	}
	d.config_path = g_strdup(cfg->path);

	store = open_store(cfg, &error);
	if (!store) {
		fprintf(stderr, "mailoauthd: %s\n", error->message);
		g_error_free(error);
		mo_config_free(cfg);
		g_free(d.config_path);
		return EX_CONFIG;
	}
	raise_fd_limit();
	http = mo_http_new(NULL);
	d.loop = g_main_loop_new(NULL, FALSE);
	d.engine = mo_engine_new(cfg, store, http);
	d.server = mo_server_new(mo_engine_handle, d.engine);
	if (!open_sockets(&d, cfg, &error)) {
		fprintf(stderr, "mailoauthd: %s\n", error->message);
		g_error_free(error);
		status = EX_UNAVAILABLE;
		goto out;
	}
	g_unix_signal_add(SIGTERM, on_term, &d);
	g_unix_signal_add(SIGINT, on_term, &d);
	g_unix_signal_add(SIGHUP, on_hup, &d);
	signal(SIGPIPE, SIG_IGN);

	give_back_memory();
	g_message("mailoauthd %s ready: %zu account(s), %s mode, store %s",
		  MO_VERSION, cfg->n_accounts, d.user_mode ? "user" : "system",
		  mo_store_describe(store));
	sd_notify(0, "READY=1");
	g_main_loop_run(d.loop);
out:
	mo_server_free(d.server);
	mo_engine_free(d.engine);	/* frees the configuration */
	mo_http_free(http);
	mo_store_free(store);
	g_main_loop_unref(d.loop);
	g_free(d.config_path);
	return status;
}
