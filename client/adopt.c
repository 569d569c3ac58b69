/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Adopting a device that is already attached to the export asked for, but has no supervisor: its
 * supervisor was killed (kill -9, the OOM killer, a crash), and the service manager starts
 * nbd-client again for the same nbdtab line. The kernel still holds the connections and the
 * device keeps working; detaching it to attach it again would fail the I/O of everything using
 * it. So the new process takes the device over instead: what the device is comes from sysfs,
 * which connections it has from the record the first attach left (runstate.h), and the
 * supervisor watches those connections by their sockets' inode numbers, having no descriptor
 * of them, until it replaces them with its own.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/adopt.h"
#include "client/runstate.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "common/sockstate.h"
#include "netlink/nbd-dev.h"

static int sysfs_u64(int index, const char *attr, uint64_t *ret)
{
	_cleanup_free_ char *s = NULL;
	int r = nbd_sysfs_read(index, attr, &s);

	if (r < 0)
		return r;
	return parse_u64(s, ret);
}

int attachment_adopt(int index, const char *backend, struct attachment *a)
{
	_cleanup_free_ char *current = NULL;
	struct supervisor_report sup;
	struct conn_record rec;
	uint64_t sectors = 0, block = 0;
	bool relayed;
	pid_t pid = 0;
	int r;

	if (!nbd_dev_in_use(index) || nbd_dev_pid(index, &pid) < 0 || pid <= 0)
		return 0;
	/* Another export on the device is a device in use, as before. */
	if (nbd_sysfs_read(index, "backend", &current) < 0 || strcmp(current, backend) != 0)
		return 0;
	if (runstate_read(index, &sup) == 0)
		return log_error_errno(EBUSY, "/dev/nbd%d is already attached to %s and supervised by "
					      "process %d; nothing to do (nbd-client status /dev/nbd%d)",
				       index, backend, (int)sup.pid, index);
	r = connrecord_read(index, &rec);
	if (r < 0 || rec.pid != pid || strcmp(rec.backend, backend) != 0 || rec.n == 0 ||
	    rec.n > ATTACH_MAX_CONNECTIONS || !rec.supervised)
		return log_error_errno(EBUSY, "/dev/nbd%d is already attached to %s, but not by a "
					      "supervisor of nbd-client (-persist) that has died; detach "
					      "it first to attach it here",
				       index, backend);
	/* The supervisor may live on without having published itself: the kernel names it. */
	if (kill(pid, 0) == 0 || errno != ESRCH)
		return log_error_errno(EBUSY, "/dev/nbd%d is already attached to %s by process %d, "
					      "which still runs; nothing to do",
				       index, backend, (int)pid);
	if (sysfs_u64(index, "size", &sectors) < 0 ||
	    sysfs_u64(index, "queue/logical_block_size", &block) < 0 || sectors == 0 || block == 0)
		return log_error_errno(EIO, "Cannot read the size of /dev/nbd%d from sysfs", index);

	a->backend = strdup(backend);
	if (!a->backend)
		return log_oom();
	a->n_fds = rec.n;
	a->size = sectors * 512;
	a->block_size = (uint32_t)block;
	a->export_size = 0; /* unknown until a connection is opened again */
	a->tls = rec.tls[0] && strcmp(rec.tls, "none") != 0;
	a->kernel_pid = pid;
	a->supervised = true;
	relayed = strcmp(rec.tls, "relay") == 0;
	for (size_t i = 0; i < a->n_fds; i++) {
		a->fds[i] = -1;
		/* A connection whose socket is gone or closed is replaced at once, and a relayed
		 * one always is: its relay died with the supervisor. A state that cannot be read
		 * is taken as alive: the kernel will say when it is not. */
		if (rec.inodes[i] && !relayed && socket_inode_connected(rec.inodes[i]) != 0)
			a->adopted_inodes[i] = rec.inodes[i];
	}
	log_notice("/dev/nbd%d is attached to %s with no supervisor (process %d is gone): taking it "
		   "over", index, backend, (int)pid);
	return 1;
}
