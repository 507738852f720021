/* SPDX-License-Identifier: MIT */
/* cli_login.c - mailoauth login (being written) */
#include "cli.h"

int mo_cli_login(struct mo_cli *cli, int argc, char **argv)
{
	(void)cli;
	(void)argc;
	(void)argv;
	mo_cli_error("login is not written yet");
	return MO_EXIT_SOFTWARE;
}
