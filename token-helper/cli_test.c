/* SPDX-License-Identifier: MIT */
/* cli_test.c - mailoauth test (being written) */
#include "cli.h"

int mo_cli_test(struct mo_cli *cli, int argc, char **argv)
{
	(void)cli;
	(void)argc;
	(void)argv;
	mo_cli_error("test is not written yet");
	return MO_EXIT_SOFTWARE;
}
