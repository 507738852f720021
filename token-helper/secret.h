/* SPDX-License-Identifier: MIT */
/*
 * secret.h - the grant mailoauth keeps per account in the store
 *
 * One small JSON object per account, written by `mailoauth login` and
 * rewritten by the daemon when the provider rotates the refresh token:
 *
 *	{"v":1,"refresh_token":"…","client_secret":"…","private_key":"…"}
 *
 * Every member is optional; which ones matter depends on the flow. The
 * store never looks inside.
 *
 * SECURITY
 *	Every string here is a secret: mo_secret_clear wipes them, and
 *	jansson's allocator is set (mo_secret_init) to wipe what it frees.
 */
#ifndef MAILOAUTH_SECRET_H
#define MAILOAUTH_SECRET_H

#include <stdbool.h>

struct mo_secret {
	char *refresh_token;
	char *client_secret;
	char *private_key;	/* PEM, for JWT client assertions */
};

/* mo_secret_init - make jansson wipe every block it frees (call once) */
void mo_secret_init(void);

/* mo_secret_parse - false when JSON is malformed or holds no credential */
bool mo_secret_parse(const char *json, struct mo_secret *out);

/* mo_secret_format - the JSON for S (caller wipes and frees it) */
char *mo_secret_format(const struct mo_secret *s);

/*
 * mo_secret_set_refresh_token - OLD with its refresh token replaced by
 * TOKEN, in *OUT. False (and *OUT NULL) when TOKEN is the one OLD has.
 */
bool mo_secret_set_refresh_token(const char *old, const char *token,
				 char **out);

void mo_secret_clear(struct mo_secret *s);

/*
 * mo_secret_protect_process - for a program that holds secrets: no core
 * dumps, and not dumpable, so that another process of the same user can
 * neither ptrace it nor read its memory or environment through /proc.
 */
void mo_secret_protect_process(void);

#endif
