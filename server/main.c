/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-server: serve files, block devices and memory over NBD.
 *
 * Only --help and --version exist so far; serving arrives with the server work.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static void help(void)
{
	printf("Usage: nbd-server [OPTIONS] ...\n"
	       "\n"
	       "Serve exports over the NBD protocol.\n"
	       "\n"
	       "  -h, --help       show this help\n"
	       "  -V, --version    show the version\n"
	       "\n"
	       "This build cannot serve yet.\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	int c;

	log_open("nbd-server", LOG_TARGET_AUTO);
	while ((c = getopt_long(argc, argv, "hV", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return EXIT_SUCCESS;
		case 'V':
			printf("nbd-server (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return EXIT_SUCCESS;
		default:
			return EXIT_FAILURE;
		}
	}
	log_error("Serving is not implemented in this build yet; see 'nbd-server --help'.");
	return EXIT_FAILURE;
}
