/* SPDX-License-Identifier: MIT */
/*
 * test-plugin-config.c - the plugin's small config file (plugin_config.c)
 */
#define _GNU_SOURCE
#include "unit.h"
#include "plugin_config.h"

#include <stdio.h>
#include <stdlib.h>

static void parse(struct mo_plugin_config *cfg, const char *text)
{
	mo_plugin_config_defaults(cfg);
	snprintf(cfg->file, sizeof(cfg->file), "plugin.conf");
	mo_plugin_config_parse(cfg, text, strlen(text));
}

static void defaults(void **state)
{
	struct mo_plugin_config cfg;

	(void)state;
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	mo_plugin_config_defaults(&cfg);
	assert_string_equal(cfg.sockets, "/run/user/1000/mailoauth/socket /run/mailoauth/socket");
	assert_int_equal(cfg.timeout_ms, 8000);
	assert_true(cfg.cache);
	unsetenv("XDG_RUNTIME_DIR");
	mo_plugin_config_defaults(&cfg);
	assert_string_equal(cfg.sockets, "/run/mailoauth/socket");
}

static void good_file(void **state)
{
	struct mo_plugin_config cfg;

	(void)state;
	parse(&cfg, "# Postfix chroot\n\n  socket =  /var/spool/postfix/private/mailoauth "
		    "/private/mailoauth  \r\ntimeout=3\ncache = no\n");
	assert_string_equal(cfg.error, "");
	assert_string_equal(cfg.sockets, "/var/spool/postfix/private/mailoauth /private/mailoauth");
	assert_int_equal(cfg.timeout_ms, 3000);
	assert_false(cfg.cache);
}

static void bad_files(void **state)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
		{"sockt = /x\n", "plugin.conf:1: unknown key 'sockt'"},
		{"\n\ntimeout = 0\n", "plugin.conf:3: timeout must be 1 to 300 seconds"},
		{"timeout = 5s\n", "plugin.conf:1: timeout must be 1 to 300 seconds"},
		{"cache = maybe\n", "plugin.conf:1: cache must be yes or no"},
		{"socket\n", "plugin.conf:1: expected key = value"},
		{"socket =\n", "plugin.conf:1: bad socket list for socket"},
		/* the first problem is kept */
		{"a = 1\nb = 2\n", "plugin.conf:1: unknown key 'a'"},
	};
	struct mo_plugin_config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse(&cfg, cases[i].text);
		assert_string_equal(cfg.error, cases[i].error);
	}
	/* the good settings of a bad file still apply */
	parse(&cfg, "timeout = 2\nbogus = 1\n");
	assert_int_equal(cfg.timeout_ms, 2000);
}

static void size_limit(void **state)
{
	struct mo_plugin_config cfg;
	char *big = malloc(MO_PLUGIN_CONF_MAX + 2);

	(void)state;
	memset(big, '#', MO_PLUGIN_CONF_MAX + 1);
	big[MO_PLUGIN_CONF_MAX + 1] = '\0';
	parse(&cfg, big);
	assert_string_equal(cfg.error, "plugin.conf:0: file larger than 8 KiB");
	free(big);
}

static void environment_wins(void **state)
{
	struct mo_plugin_config cfg;

	(void)state;
	setenv("MAILOAUTH_PLUGIN_CONF", "/nonexistent/plugin.conf", 1);
	setenv("MAILOAUTH_SOCKET", "/tmp/a /tmp/b", 1);
	mo_plugin_config_load(&cfg);
	assert_string_equal(cfg.error, "");	/* a missing file is no error */
	assert_string_equal(cfg.sockets, "/tmp/a /tmp/b");
	setenv("MAILOAUTH_PLUGIN_CONF", "/", 1);	/* a directory */
	mo_plugin_config_load(&cfg);
	assert_non_null(strstr(cfg.error, "/:0: not a regular file"));
	unsetenv("MAILOAUTH_SOCKET");
	unsetenv("MAILOAUTH_PLUGIN_CONF");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(good_file),
		cmocka_unit_test(bad_files),
		cmocka_unit_test(size_limit),
		cmocka_unit_test(environment_wins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
