/* SPDX-License-Identifier: MIT */
/*
 * secret.c - read and write the per-account grant; keep secrets out of
 * core files (secret.h)
 */
#define _GNU_SOURCE
#include "secret.h"

#include <jansson.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

static void *plain_malloc(size_t n)
{
	return malloc(n);
}

/* wiping_free - jansson hands us strings that held tokens: wipe them all */
static void wiping_free(void *p)
{
	if (p) {
		explicit_bzero(p, malloc_usable_size(p));
		free(p);
	}
}

void mo_secret_init(void)
{
	json_set_alloc_funcs(plain_malloc, wiping_free);
}

static char *dup_member(json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));

	return v && *v ? strdup(v) : NULL;
}

bool mo_secret_parse(const char *json, struct mo_secret *out)
{
	json_t *obj = json_loads(json, JSON_REJECT_DUPLICATES, NULL);

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj)) {
		json_decref(obj);
		return false;
	}
	out->refresh_token = dup_member(obj, "refresh_token");
	out->client_secret = dup_member(obj, "client_secret");
	out->private_key = dup_member(obj, "private_key");
	json_decref(obj);
	if (!out->refresh_token && !out->client_secret && !out->private_key)
		return false;
	return true;
}

char *mo_secret_format(const struct mo_secret *s)
{
	json_t *obj = json_object();
	char *out;

	json_object_set_new(obj, "v", json_integer(1));
	if (s->refresh_token)
		json_object_set_new(obj, "refresh_token", json_string(s->refresh_token));
	if (s->client_secret)
		json_object_set_new(obj, "client_secret", json_string(s->client_secret));
	if (s->private_key)
		json_object_set_new(obj, "private_key", json_string(s->private_key));
	out = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(obj);
	return out;
}

bool mo_secret_set_refresh_token(const char *old, const char *token,
				 char **out)
{
	struct mo_secret s;
	bool changed;

	*out = NULL;
	if (!mo_secret_parse(old ? old : "{}", &s))
		memset(&s, 0, sizeof(s));
	changed = !s.refresh_token || strcmp(s.refresh_token, token) != 0;
	if (changed) {
		wiping_free(s.refresh_token);
		s.refresh_token = strdup(token);
		*out = mo_secret_format(&s);
	}
	mo_secret_clear(&s);
	return changed && *out;
}

void mo_secret_clear(struct mo_secret *s)
{
	wiping_free(s->refresh_token);
	wiping_free(s->client_secret);
	wiping_free(s->private_key);
	memset(s, 0, sizeof(*s));
}

void mo_secret_protect_process(void)
{
	struct rlimit no_core = {0, 0};

	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
