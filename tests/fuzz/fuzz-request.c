/* SPDX-License-Identifier: MIT */
/*
 * fuzz-request.c - libFuzzer target: the daemon side of the protocol
 * (mo_request_parse), and a round trip through mo_request_format
 */
#include "proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1), again[MO_REQUEST_MAX];
	struct mo_request req;

	memcpy(line, data, size);
	line[size] = '\0';
	if (mo_request_parse(line, size, &req) == 0) {
		/* what parses must format back, and parse to the same thing */
		struct mo_request req2;
		int n = mo_request_format(again, sizeof(again), req.verb,
					  req.args, req.nargs);

		if (n < 0 || mo_request_parse(again, (size_t)n, &req2) != 0 ||
		    req2.verb != req.verb || req2.nargs != req.nargs)
			abort();
		for (unsigned i = 0; i < req.nargs; i++)
			if (strcmp(req.args[i], req2.args[i]))
				abort();
	}
	free(line);
	return 0;
}
