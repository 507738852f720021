/* SPDX-License-Identifier: MIT */
/*
 * fuzz-response.c - libFuzzer target: the client side of the protocol
 * (mo_response_parse, as the plugin and the CLI use it)
 */
#include "proto.h"
#include "saslmsg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1), out[MO_RESPONSE_MAX];
	struct mo_response r;

	memcpy(line, data, size);
	line[size] = '\0';
	if (mo_response_parse(line, size, &r) == 0 && r.ok && r.token) {
		/* a token that parsed is safe to put in a SASL message */
		if (!mo_token_valid(r.token, r.token_len) ||
		    memchr(r.token, '\001', r.token_len))
			abort();
		(void)mo_xoauth2_format(out, sizeof(out), "u@example.com", r.token);
		(void)mo_oauthbearer_format(out, sizeof(out), r.user, "h", 1, r.token);
	}
	free(line);
	return 0;
}
