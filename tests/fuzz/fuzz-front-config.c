/* SPDX-License-Identifier: MIT */
/*
 * fuzz-front-config.c - libFuzzer target: the socket reader of the
 * mailoauth front end (token-helper/mailoauth-front.c)
 *
 * The front end reads only [daemon] socket with a small reader of its own
 * instead of config.c. Checked here, in both modes, whatever the input:
 * the reader gives a socket (absolute, NUL-terminated, fits sun_path) or
 * one sentence, never both; and differentially, whenever mailoauthd's own
 * parser (mo_config_load_data) accepts the text, the reader accepts it too
 * and finds the same socket. (The reader may accept files the daemon
 * refuses for other reasons: it does not look at them.)
 */
#define _GNU_SOURCE
#define MO_FRONT_NO_MAIN
#include "mailoauth-front.c"	/* to reach its static reader */

#include "config.h"
#include "fake-nss.h"

#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

_Static_assert(CONFIG_MAX == MO_CONFIG_MAX_SIZE, "the front end's cap is config.h's");

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* user mode's default socket comes from here */
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	return 0;
}

static void check(int r, const struct front_config *fc)
{
	size_t n = strnlen(fc->socket, sizeof(fc->socket));

	if (n == sizeof(fc->socket) || !memchr(fc->error, '\0', sizeof(fc->error)))
		abort();
	if (r == 0 && (fc->socket[0] != '/' || fc->error[0]))
		abort();
	if (r != 0 && (r != -1 || fc->socket[0] || !fc->error[0]))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct front_config fc;
	const char *text = (const char *)data;

	for (int user_mode = 0; user_mode < 2; user_mode++) {
		struct mo_config *cfg;
		GError *e = NULL;
		int r = config_socket_parse("fuzz.conf", text, size, user_mode, &fc);

		check(r, &fc);
		cfg = mo_config_load_data(text, size, "fuzz.conf", user_mode, &e);
		if (cfg && (r != 0 || strcmp(cfg->socket, fc.socket) != 0)) {
			fprintf(stderr, "the daemon reads socket %s, the front end %s\n",
				cfg->socket, r ? fc.error : fc.socket);
			abort();
		}
		mo_config_free(cfg);
		g_clear_error(&e);
	}
	return 0;
}
