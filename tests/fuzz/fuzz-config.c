/* SPDX-License-Identifier: MIT */
/*
 * fuzz-config.c - libFuzzer target: mailoauthd's config parser
 *
 * Feeds the input to mo_config_load_data in both modes and checks what
 * must hold whatever the input: a config or an error, never both; an error
 * message that is non-empty UTF-8 and never the "GLib refused what our
 * syntax check passed" bug report; and for a config, fields as config.h
 * promises them.
 */
#define _GNU_SOURCE
#include "config.h"
#include "fake-nss.h"
#include "proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_string(const char *s, bool may_be_null)
{
	if (!s ? !may_be_null : !*s)
		abort();
}

static void check(const struct mo_config *cfg, const GError *e)
{
	if (!cfg) {
		if (!e || !e->message[0] || !g_utf8_validate(e->message, -1, NULL) ||
		    g_str_has_prefix(e->message, "fuzz.conf: GLib's"))
			abort();
		return;
	}
	if (e || cfg->socket[0] != '/' || !cfg->extra_sockets ||
	    cfg->refresh_margin < MO_REFRESH_MARGIN_MIN ||
	    cfg->refresh_margin > MO_REFRESH_MARGIN_MAX ||
	    (cfg->store == MO_STORE_FILE) != (cfg->store_path != NULL) ||
	    (cfg->store == MO_STORE_FILE) != (cfg->store_key_file != NULL))
		abort();
	for (char **s = cfg->extra_sockets; *s; s++)
		if ((*s)[0] != '/')
			abort();
	check_string(cfg->notify_command, true);
	for (size_t i = 0; i < cfg->n_accounts; i++) {
		const struct mo_account_config *a = cfg->accounts[i];

		if (!mo_account_name_valid(a->name) || !mo_arg_valid(a->user) ||
		    mo_config_find(cfg, a->name) != a ||
		    !mo_config_find_user(cfg, a->user) ||
		    !mo_account_config_equal(a, a))
			abort();
		check_string(a->client_id, false);
		check_string(a->scopes, false);
		check_string(a->tenant, a->provider != MO_PROVIDER_MICROSOFT);
		check_string(a->token_endpoint, a->needs_discovery);
		check_string(a->issuer, !a->needs_discovery);
		check_string(a->device_authorization_endpoint, true);
		check_string(a->authorization_endpoint, true);
		check_string(a->revocation_endpoint, true);
		check_string(a->ca_file, true);
		check_string(a->graph_url, true);
		check_string(a->client_certificate, true);
		if ((a->n_allow_uids && !a->allow_uids) ||
		    (a->n_allow_gids && !a->allow_gids))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool env;

	if (!env) {
		setenv("HOME", "/home/fuzz", 1);
		setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
		unsetenv("XDG_CONFIG_HOME");
		unsetenv("XDG_DATA_HOME");
		env = true;
	}
	for (int user_mode = 0; user_mode < 2; user_mode++) {
		GError *e = NULL;
		struct mo_config *cfg = mo_config_load_data((const char *)data, size,
							    "fuzz.conf", user_mode, &e);

		check(cfg, e);
		mo_config_free(cfg);
		g_clear_error(&e);
	}
	return 0;
}
