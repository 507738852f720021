/* SPDX-License-Identifier: MIT */
/*
 * fuzz-challenge.c - libFuzzer target: the server error challenges the
 * plugin reads (mo_challenge_parse) and explains
 */
#include "saslmsg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mo_challenge c;

	if (mo_challenge_parse((const char *)data, size, &c) == 0) {
		/* what it keeps is printable and terminated */
		const char *fields[] = {c.status, c.schemes, c.scope};

		for (int i = 0; i < 3; i++)
			for (const char *p = fields[i]; *p; p++)
				if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
					abort();
		(void)mo_challenge_explain(&c);
	}
	return 0;
}
