/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-monitor: a guest helper of the VM tests, for the link-dead events of netlink/nbd-dev.h against a
 * real kernel.
 *
 *   nbd-monitor SECONDS
 *
 * Opens a monitor socket (nbd_nl_monitor_open: subscribed to the "nbd" family's multicast group
 * "nbd_mc_group"), prints "ready" once subscribed, then for up to SECONDS polls it and prints one line
 * "link-dead INDEX" per NBD_CMD_LINK_DEAD event, each flushed at once. Exits 0 when the time is up, 2
 * when the monitor cannot be opened or read (with a message on stderr).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netlink/nbd-dev.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void link_dead(int index, void *userdata)
{
	(void)userdata;
	printf("link-dead %d\n", index);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct nbd_nl *nl = NULL;
	long long deadline;
	char *end;
	long secs;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: nbd-monitor SECONDS\n");
		return 2;
	}
	errno = 0;
	secs = strtol(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || secs < 0) {
		fprintf(stderr, "nbd-monitor: bad SECONDS '%s'\n", argv[1]);
		return 2;
	}
	r = nbd_nl_monitor_open(&nl);
	if (r < 0) {
		fprintf(stderr, "nbd-monitor: nbd_nl_monitor_open: %s\n", strerror(-r));
		return 2;
	}
	printf("ready\n");
	fflush(stdout);

	deadline = now_ms() + secs * 1000;
	for (;;) {
		long long left = deadline - now_ms();
		struct pollfd pfd = { .fd = nbd_nl_fd(nl), .events = POLLIN };

		if (left <= 0)
			break;
		r = poll(&pfd, 1, (int)left);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "nbd-monitor: poll: %s\n", strerror(errno));
			nbd_nl_close(nl);
			return 2;
		}
		if (r == 0)
			continue;
		r = nbd_nl_monitor_read(nl, link_dead, NULL);
		if (r < 0) {
			fprintf(stderr, "nbd-monitor: nbd_nl_monitor_read: %s\n", strerror(-r));
			nbd_nl_close(nl);
			return 2;
		}
	}
	nbd_nl_close(nl);
	return 0;
}
