/* SPDX-License-Identifier: MIT */
/*
 * token_cache.c - per-process token cache of the plugin (token_cache.h)
 */
#define _GNU_SOURCE
#include "token_cache.h"
#include "proto.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot {
	char user[MO_ARG_MAX + 1];
	char hint[MO_ACCOUNT_MAX + 1];
	char account[MO_ACCOUNT_MAX + 1];
	long long gen;
	char *token;
	size_t token_len;
	long long valid_until;	/* CLOCK_BOOTTIME, ms */
	long long last_used;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[MO_CACHE_SLOTS];

static long long boot_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void slot_free(struct slot *s)
{
	if (s->token) {
		explicit_bzero(s->token, s->token_len);
		free(s->token);
	}
	memset(s, 0, sizeof(*s));
}

static bool key_equal(const struct slot *s, const char *user, const char *hint)
{
	return s->token && !strcmp(s->user, user) &&
	       !strcmp(s->hint, hint ? hint : "");
}

bool mo_cache_get(const char *user, const char *hint, struct mo_cached *out)
{
	long long now = boot_ms();
	bool hit = false;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < MO_CACHE_SLOTS; i++) {
		struct slot *s = &slots[i];

		if (!key_equal(s, user, hint))
			continue;
		if (now >= s->valid_until) {
			slot_free(s);
			break;
		}
		out->token = malloc(s->token_len + 1);
		if (!out->token)
			break;
		memcpy(out->token, s->token, s->token_len + 1);
		out->token_len = s->token_len;
		out->gen = s->gen;
		memcpy(out->account, s->account, sizeof(out->account));
		s->last_used = now;
		hit = true;
		break;
	}
	pthread_mutex_unlock(&lock);
	return hit;
}

void mo_cache_put(const char *user, const char *hint, const char *account,
		  long long gen, const char *token, size_t token_len,
		  long long cache_for)
{
	long long now = boot_ms();
	struct slot *victim = NULL;
	char *copy;

	if (cache_for <= 0 || strlen(user) > MO_ARG_MAX ||
	    (hint && strlen(hint) > MO_ACCOUNT_MAX) ||
	    strlen(account) > MO_ACCOUNT_MAX)
		return;
	copy = malloc(token_len + 1);
	if (!copy)
		return;
	memcpy(copy, token, token_len);
	copy[token_len] = '\0';

	pthread_mutex_lock(&lock);
	/* the same key's slot, else an empty one, else the least recent */
	for (size_t i = 0; i < MO_CACHE_SLOTS && !victim; i++)
		if (key_equal(&slots[i], user, hint))
			victim = &slots[i];
	for (size_t i = 0; i < MO_CACHE_SLOTS && !victim; i++)
		if (!slots[i].token)
			victim = &slots[i];
	if (!victim) {
		victim = &slots[0];
		for (size_t i = 1; i < MO_CACHE_SLOTS; i++)
			if (slots[i].last_used < victim->last_used)
				victim = &slots[i];
	}
	slot_free(victim);
	strcpy(victim->user, user);
	strcpy(victim->hint, hint ? hint : "");
	strcpy(victim->account, account);
	victim->gen = gen;
	victim->token = copy;
	victim->token_len = token_len;
	/* a day at most, whatever the daemon says */
	victim->valid_until = now + (cache_for > 86400 ? 86400 : cache_for) * 1000;
	victim->last_used = now;
	pthread_mutex_unlock(&lock);
}

void mo_cache_drop_account(const char *account)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < MO_CACHE_SLOTS; i++)
		if (slots[i].token && !strcmp(slots[i].account, account))
			slot_free(&slots[i]);
	pthread_mutex_unlock(&lock);
}

void mo_cache_clear(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < MO_CACHE_SLOTS; i++)
		slot_free(&slots[i]);
	pthread_mutex_unlock(&lock);
}

void mo_cached_wipe(struct mo_cached *c)
{
	if (c->token) {
		explicit_bzero(c->token, c->token_len);
		free(c->token);
	}
	memset(c, 0, sizeof(*c));
}
