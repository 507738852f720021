/* SPDX-License-Identifier: MIT */
/*
 * mailoauth.c - the mailoauth command: global options and verb dispatch
 *
 * SYNOPSIS
 *	mailoauth [--config FILE] [--user | --system] VERB [ARGS...]
 *
 * DESCRIPTION
 *	Parses the options that come before the verb, hardens the process,
 *	and hands the rest of the command line to the verb (cli_*.c). See
 *	mailoauth(1) and cli.h for the exit statuses.
 *
 * SECURITY
 *	Core dumps are off and the process is not dumpable: login and token
 *	hold secrets in memory. The umask is 077, so nothing the CLI creates
 *	is readable by others.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "secret.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

static const struct verb {
	const char *name;
	int (*run)(struct mo_cli *cli, int argc, char **argv);
	const char *summary;
} verbs[] = {
	{ "login",  mo_cli_login,  "get the first grant for an account and store it" },
	{ "logout", mo_cli_logout, "forget (and where possible revoke) an account's grant" },
	{ "list",   mo_cli_list,   "list the configured accounts" },
	{ "status", mo_cli_status, "show the state of one or every account" },
	{ "token",  mo_cli_token,  "print a valid access token (for scripts and mail clients)" },
	{ "test",   mo_cli_test,   "log in to an SMTP or IMAP server and explain any failure" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mailoauth [--config FILE] [--user | --system] VERB [ARGS...]\n"
		"\n"
		"OAuth 2.0 logins for mail programs (see mailoauth(1)).\n"
		"\n");
	for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++)
		fprintf(f, "  %-7s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(f,
		"\n"
		"  --config FILE  configuration file (default: root uses\n"
		"                 /etc/mailoauth/mailoauth.conf; others\n"
		"                 $XDG_CONFIG_HOME/mailoauth/mailoauth.conf when it\n"
		"                 exists, else the system file)\n"
		"  --user         use the user's configuration and daemon\n"
		"  --system       use the system's configuration and daemon\n"
		"  --version      print the version and exit\n"
		"\n"
		"'mailoauth VERB --help' describes a verb.\n");
}

static void harden(void)
{
	mo_secret_protect_process();
	umask(077);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	struct mo_cli cli = {0};
	int i, status;

	setlocale(LC_ALL, "");
	harden();
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			cli.config_path = argv[++i];
		} else if (!strncmp(argv[i], "--config=", 9)) {
			cli.config_path = argv[i] + 9;
		} else if (!strcmp(argv[i], "--user")) {
			cli.mode = MO_CLI_MODE_USER;
		} else if (!strcmp(argv[i], "--system")) {
			cli.mode = MO_CLI_MODE_SYSTEM;
		} else if (!strcmp(argv[i], "--version")) {
			puts("mailoauth " MO_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			mo_cli_error("unknown option %s", argv[i]);
			usage(stderr);
			return MO_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return MO_EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		usage(stdout);
		return 0;
	}
	mo_secret_init();
	for (size_t v = 0; v < G_N_ELEMENTS(verbs); v++) {
		if (strcmp(argv[i], verbs[v].name))
			continue;
		status = verbs[v].run(&cli, argc - i, argv + i);
		fflush(stdout);
		mo_store_free(cli.store);
		mo_config_free(cli.cfg);
		return status;
	}
	mo_cli_error("unknown verb '%s' (try 'mailoauth --help')", argv[i]);
	return MO_EXIT_USAGE;
}
