/* SPDX-License-Identifier: MIT */
/*
 * token_cache.h - the plugin's per-process token cache
 *
 * A Postfix smtp(8) process authenticates many times in its life. Asking
 * mailoauthd each time costs a socket round trip; the daemon says in
 * `cache_for` how long its answer stays the one it would give (until it
 * plans to refresh), so the plugin keeps it that long, keyed by the SASL
 * user and account hint, and forgets it at once when a server rejects it.
 *
 * SECURITY
 *	Tokens live in malloc'd memory wiped before it is freed. The cache
 *	holds at most MO_CACHE_SLOTS entries. Time is CLOCK_BOOTTIME, which
 *	keeps counting through suspend, so a laptop that wakes up after a
 *	night never uses a token the daemon has long replaced.
 */
#ifndef MAILOAUTH_TOKEN_CACHE_H
#define MAILOAUTH_TOKEN_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#define MO_CACHE_SLOTS 16

struct mo_cached {
	char account[65];
	long long gen;
	char *token;		/* NUL-terminated, caller wipes and frees */
	size_t token_len;
};

/*
 * mo_cache_get - copy out a still-fresh entry for USER and HINT (HINT may
 * be NULL). Returns true on a hit; OUT->token is then the caller's.
 */
bool mo_cache_get(const char *user, const char *hint, struct mo_cached *out);

/* mo_cache_put - remember an answer for CACHE_FOR seconds (0: not at all) */
void mo_cache_put(const char *user, const char *hint, const char *account,
		  long long gen, const char *token, size_t token_len,
		  long long cache_for);

/* mo_cache_drop_account - forget every entry of ACCOUNT (token rejected) */
void mo_cache_drop_account(const char *account);

/* mo_cache_clear - forget everything (plugin unload) */
void mo_cache_clear(void);

/* mo_cached_wipe - wipe and free what mo_cache_get handed out */
void mo_cached_wipe(struct mo_cached *c);

#endif
