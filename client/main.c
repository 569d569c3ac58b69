/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-client: attach NBD exports to /dev/nbdX.
 *
 * Only --help and --version exist so far; the commands arrive with the kernel hand-over work.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static void help(void)
{
	printf("Usage: nbd-client COMMAND ...\n"
	       "\n"
	       "Attach, detach and inspect Linux NBD devices.\n"
	       "\n"
	       "  -h, --help       show this help\n"
	       "  -V, --version    show the version\n"
	       "\n"
	       "This build does not implement any command yet.\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	int c;

	log_open("nbd-client", LOG_TARGET_AUTO);
	while ((c = getopt_long(argc, argv, "hV", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return EXIT_SUCCESS;
		case 'V':
			printf("nbd-client (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return EXIT_SUCCESS;
		default:
			return EXIT_FAILURE;
		}
	}
	log_error("No command is implemented in this build yet; see 'nbd-client --help'.");
	return EXIT_FAILURE;
}
