/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-client: attach NBD exports to /dev/nbdX, detach them, and report on devices and servers.
 *
 * Exit status, as the reference nbd-client's: 0 on success, 1 on failure; with -c, 0 when the device
 * is connected (its pid printed), 1 when it is not, 2 when its state cannot be read.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "client/commands.h"
#include "client/args.h"
#include "common/log.h"

int main(int argc, char **argv)
{
	struct client_options o;
	int r;

	/* A supervisor must outlive whoever reads its output (a parent waiting for the attach that was
	 * interrupted, a closed pipe): a write there fails with EPIPE instead of killing it. */
	signal(SIGPIPE, SIG_IGN);
	log_open("nbd-client", getenv("JOURNAL_STREAM") ? LOG_TARGET_AUTO : LOG_TARGET_STDERR);
	client_options_init(&o);
	r = client_parse_args(&o, argc, argv);
	if (r < 0) {
		client_options_free(&o);
		return EXIT_FAILURE;
	}
	o.argv0 = argv[0];
	for (int i = 0; i < o.verbosity; i++)
		log_increase_verbosity();

	switch (o.command) {
	case CLIENT_HELP:
		client_print_help();
		r = 0;
		break;
	case CLIENT_VERSION:
		printf("nbd-client (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		r = 0;
		break;
	case CLIENT_ATTACH:
		r = cmd_attach(&o);
		break;
	case CLIENT_DETACH:
		r = cmd_detach(&o);
		break;
	case CLIENT_STATUS:
		r = cmd_status(&o);
		break;
	case CLIENT_LIST:
		r = cmd_list(&o);
		break;
	case CLIENT_INFO:
		r = cmd_info(&o);
		break;
	case CLIENT_CHECK:
		r = cmd_check(&o);
		client_options_free(&o);
		return r < 0 ? 2 : r;
	case CLIENT_RECONNECT:
		r = cmd_reconnect(&o);
		break;
	default:
		r = -EINVAL;
		break;
	}
	client_options_free(&o);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
