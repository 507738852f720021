/* SPDX-License-Identifier: MIT */
/*
 * cli.h - what the verbs of the mailoauth CLI share
 *
 * mailoauth.c parses the global options (--config, --user, --system) into a
 * struct mo_cli and calls one verb function with the verb's own arguments
 * (argv[0] is the verb's name). A verb returns the process's exit status:
 * one of the MO_EXIT_* codes below, which follow sysexits(3). Everything a
 * verb needs beyond its own options -- the configuration, the store, the
 * daemon's socket, reading a secret -- is here, so each verb stays about
 * its job.
 *
 * SECURITY
 *	Secrets are read from a file named on the command line, from a
 *	terminal without echo, or from standard input: never from argv or the
 *	environment. Every secret string returned here is released with
 *	mo_oauth_secret_free (wipe, then free).
 *
 * DIAGNOSTICS
 *	Functions that return an exit status have already printed one
 *	sentence on standard error ("mailoauth: ..."), saying what to do.
 */
#ifndef MAILOAUTH_CLI_H
#define MAILOAUTH_CLI_H

#include "config.h"
#include "proto.h"
#include "store.h"

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

/* exit statuses (sysexits.h values; docs/mailoauth.1 lists them) */
enum {
	MO_EXIT_OK = 0,
	MO_EXIT_FAIL = 1,		/* `test`: the server refused (diagnosed) */
	MO_EXIT_USAGE = 64,		/* bad command line */
	MO_EXIT_DATAERR = 65,		/* bad input data (a key, a URL pasted back) */
	MO_EXIT_NOINPUT = 66,		/* a file named on the command line is missing */
	MO_EXIT_NOUSER = 67,		/* no such account */
	MO_EXIT_LOGIN = 69,		/* EX_UNAVAILABLE: run `mailoauth login` again */
	MO_EXIT_SOFTWARE = 70,		/* internal error */
	MO_EXIT_IOERR = 74,		/* the store could not be read or written */
	MO_EXIT_TEMPFAIL = 75,		/* try again later (daemon down, IdP outage) */
	MO_EXIT_PROTOCOL = 76,		/* a server answered nonsense */
	MO_EXIT_NOPERM = 77,		/* this uid may not have the account's token */
	MO_EXIT_CONFIG = 78,		/* mailoauth.conf, the app or the tenant must change */
};

enum mo_cli_mode { MO_CLI_MODE_AUTO, MO_CLI_MODE_USER, MO_CLI_MODE_SYSTEM };

struct mo_cli {
	const char *config_path;	/* --config FILE, or NULL */
	enum mo_cli_mode mode;		/* --user / --system, or AUTO */
	struct mo_config *cfg;		/* set by mo_cli_load_config */
	struct mo_store *store;		/* set by mo_cli_open_store */
};

/* the verbs (cli_*.c); ARGV[0] is the verb */
int mo_cli_login(struct mo_cli *cli, int argc, char **argv);
int mo_cli_logout(struct mo_cli *cli, int argc, char **argv);
int mo_cli_list(struct mo_cli *cli, int argc, char **argv);
int mo_cli_status(struct mo_cli *cli, int argc, char **argv);
int mo_cli_token(struct mo_cli *cli, int argc, char **argv);
int mo_cli_test(struct mo_cli *cli, int argc, char **argv);

/* mo_cli_error - print "mailoauth: MESSAGE" on standard error */
void mo_cli_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/*
 * mo_cli_load_config - load the configuration once. AUTO mode means the
 * system file for root; for anyone else the user file when it exists, else
 * the system file (a user allowed to fetch a system account's token).
 * Returns 0 or an exit status.
 */
int mo_cli_load_config(struct mo_cli *cli);

/*
 * mo_cli_account - load the configuration and find account NAME; NULL
 * (and *STATUS set) when there is none, after saying which exist. The
 * account is the configuration's own, so a verb may resolve discovery in it.
 */
struct mo_account_config *mo_cli_account(struct mo_cli *cli, const char *name,
					 int *status);

/* mo_cli_open_store - open the configured store once; 0 or an exit status */
int mo_cli_open_store(struct mo_cli *cli);

/* mo_cli_socket - MAILOAUTH_SOCKET when set, else the configured socket */
const char *mo_cli_socket(const struct mo_cli *cli);

/*
 * mo_cli_request - send one request LINE (without LF) to mailoauthd and
 * parse the answer into RESP, which points into BUF (SIZE bytes, at least
 * MO_RESPONSE_MAX; wipe it when it may hold a token). Returns 0 when the
 * daemon answered (OK or ERR: see resp->ok), else a negative errno from
 * mo_client_call (mo_client_strerror says what it means).
 */
int mo_cli_request(const struct mo_cli *cli, const char *line, char *buf,
		   size_t size, struct mo_response *resp);

/*
 * mo_cli_request_raw - the same without parsing: the answer line stays in
 * BUF as it came; returns its length or a negative errno
 */
int mo_cli_request_raw(const struct mo_cli *cli, const char *line, char *buf,
		       size_t size);

/*
 * mo_cli_field - the value of KEY=... in an OK answer line LINE (as
 * mo_cli_request_raw gives it), in a new string; NULL if absent
 */
char *mo_cli_field(const char *line, const char *key);

/* mo_cli_exit_for_err - the exit status that stands for a daemon's ERR */
int mo_cli_exit_for_err(enum mo_err err);

/*
 * mo_cli_notify_daemon - after a login (SECRET: the grant just stored) or
 * a logout (SECRET NULL): tell a running daemon to look at ACCOUNT's grant
 * again (RELOAD ACCOUNT, answered once the daemon has tried it) and print
 * what came of it, or a note when no daemon runs (it reads the store when
 * it starts). Returns false only when the daemon's refresh started from
 * another grant than SECRET (a rotation of the old grant was stored over
 * it): the caller stores SECRET again.
 */
bool mo_cli_notify_daemon(const struct mo_cli *cli, const char *account,
			  const char *secret);

/*
 * mo_cli_read_secret - read a secret: from FILE when not NULL ("-" is
 * standard input), else from the terminal without echo after printing
 * PROMPT, else (standard input is not a terminal) from standard input.
 * One trailing newline is dropped; at most MO_STORE_SECRET_MAX bytes.
 * Returns the secret (release with mo_oauth_secret_free), or NULL and
 * *STATUS after printing why.
 */
char *mo_cli_read_secret(const char *prompt, const char *file, int *status);

/*
 * mo_cli_save_grant - store the grant JSON SECRET (secret.h) for ACCOUNT,
 * then notify the daemon. Returns 0 or an exit status.
 */
int mo_cli_save_grant(struct mo_cli *cli, const char *account,
		      const char *secret);

/*
 * mo_cli_parse_host_port - "HOST[:PORT]" or "[V6]:PORT" into a new *HOST
 * and *PORT (DEFAULT_PORT when absent); false for malformed input.
 */
bool mo_cli_parse_host_port(const char *arg, int default_port, char **host,
			    int *port);

/*
 * mo_cli_parse_flag - the options of a verb whose only option is --FLAG
 * (and --help): sets *SET when given. Returns -1 to go on (optind is the
 * first operand), else the exit status (usage printed).
 */
int mo_cli_parse_flag(int argc, char **argv, const char *usage,
		      const char *flag, bool *set);

/* mo_cli_is_tty - is FD a terminal */
bool mo_cli_is_tty(int fd);

#endif
