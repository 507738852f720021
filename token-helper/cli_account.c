/* SPDX-License-Identifier: MIT */
/* cli_account.c - mailoauth list, status, token, logout (being written) */
#include "cli.h"

#define STUB(v) int mo_cli_##v(struct mo_cli *cli, int argc, char **argv) \
	{ (void)cli; (void)argc; (void)argv; return MO_EXIT_SOFTWARE; }
STUB(list)
STUB(status)
STUB(token)
STUB(logout)
