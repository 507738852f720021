/* SPDX-License-Identifier: MIT */
/*
 * store-tool.c - drive token-helper/store.h from the end-to-end tests
 *
 *	store-tool secret load|save|remove ACCOUNT
 *	store-tool file PATH KEYFILE load|save|remove ACCOUNT
 *
 * save reads the secret from standard input (all of it, as is); load
 * writes it to standard output as is, with no newline added. Uses the
 * synchronous wrappers, as the CLI does.
 *
 * SECURITY
 *	A test tool, but it treats the secret as the real thing: never in
 *	argv or a message, wiped after use.
 *
 * DIAGNOSTICS
 *	Exit 0 on success, 2 when load finds no secret for ACCOUNT, 1 on any
 *	error with "store-tool: MESSAGE" on standard error, 64 for bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: store-tool secret load|save|remove ACCOUNT\n"
			"       store-tool file PATH KEYFILE load|save|remove "
			"ACCOUNT\n");
	return 64;
}

/* read_stdin - all of standard input, at most MO_STORE_SECRET_MAX + 1 */
static char *read_stdin(void)
{
	size_t cap = MO_STORE_SECRET_MAX + 2, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return NULL;
	while (len < cap - 1) {
		ssize_t n = read(0, buf + len, cap - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

int main(int argc, char **argv)
{
	struct mo_store *s;
	const char *verb, *account;
	GError *error = NULL;
	int rc = 0;

	if (argc == 4 && strcmp(argv[1], "secret") == 0) {
		s = mo_store_secret_new(&error);
		verb = argv[2];
		account = argv[3];
	} else if (argc == 6 && strcmp(argv[1], "file") == 0) {
		s = mo_store_file_new(argv[2], argv[3], &error);
		verb = argv[4];
		account = argv[5];
	} else {
		return usage();
	}
	if (!s) {
		fprintf(stderr, "store-tool: %s\n", error->message);
		g_error_free(error);
		return 1;
	}
	if (strcmp(verb, "load") == 0) {
		char *secret = mo_store_load_sync(s, account, &error);

		if (secret) {
			size_t n = strlen(secret);

			if (fwrite(secret, 1, n, stdout) != n || fflush(stdout))
				rc = 1;
			mo_store_secret_free(secret);
		} else if (!error) {
			fprintf(stderr, "store-tool: no secret stored for %s\n",
				account);
			rc = 2;
		}
	} else if (strcmp(verb, "save") == 0) {
		char *secret = read_stdin();

		if (!secret) {
			fprintf(stderr, "store-tool: out of memory\n");
			rc = 1;
		} else {
			mo_store_save_sync(s, account, secret, &error);
			mo_store_secret_free(secret);
		}
	} else if (strcmp(verb, "remove") == 0) {
		mo_store_remove_sync(s, account, &error);
	} else {
		mo_store_free(s);
		return usage();
	}
	if (error) {
		fprintf(stderr, "store-tool: %s\n", error->message);
		g_error_free(error);
		rc = 1;
	}
	mo_store_free(s);
	return rc;
}
