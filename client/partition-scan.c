/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Until the partition table is read, /dev/nbdNpM does not exist, and a mount of it that the
 * service manager starts the moment the device's service is ready would fail. The kernel reads
 * the table at the first open after the device got its size; udev's probe opens it too, but
 * later, so the supervisor does it itself before it says it is ready.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "client/partition-scan.h"
#include "common/macro.h"
#include "netlink/nbd-dev.h"

struct scan {
	int index;
	int done_fd;
};

static void *scan_run(void *userdata)
{
	struct scan *sc = userdata;
	const uint64_t one = 1;

	nbd_dev_read_partitions(sc->index);
	(void)!write(sc->done_fd, &one, sizeof(one));
	close(sc->done_fd);
	free(sc);
	return NULL;
}

int partition_scan_start(int index, int done_fd)
{
	struct scan *sc = malloc(sizeof(*sc));
	pthread_attr_t attr;
	pthread_t thread;
	int r;

	if (!sc)
		return -ENOMEM;
	/* Its own copy: a supervisor that stops meanwhile closes its descriptor, whose number a
	 * later one may reuse; the thread must not write there. */
	*sc = (struct scan){ .index = index, .done_fd = fcntl(done_fd, F_DUPFD_CLOEXEC, 3) };
	if (sc->done_fd < 0) {
		r = negative_errno();
		free(sc);
		return r;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* An open needs little stack; with -swap everything is locked in memory. */
	pthread_attr_setstacksize(&attr, 128 * 1024);
	r = -pthread_create(&thread, &attr, scan_run, sc);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		close(sc->done_fd);
		free(sc);
	}
	return r;
}
