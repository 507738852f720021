/* SPDX-License-Identifier: MIT */
/*
 * fuzz-plugin-config.c - libFuzzer target: the plugin's config file parser
 */
#include "plugin_config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mo_plugin_config cfg;

	mo_plugin_config_defaults(&cfg);
	mo_plugin_config_parse(&cfg, (const char *)data, size);
	if (!memchr(cfg.sockets, '\0', sizeof(cfg.sockets)) ||
	    !memchr(cfg.error, '\0', sizeof(cfg.error)) ||
	    cfg.timeout_ms < 1000 || cfg.timeout_ms > 300000)
		abort();
	return 0;
}
