/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An attached export: its sockets, whether a later connection still serves the same export, what
 * the kernel is given for it by either interface, and what attach says about it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "client/attachment.h"
#include "client/runstate.h"
#include "client/supervisor.h"
#include "client/tls-relay.h"
#include "common/log.h"
#include "common/macro.h"
#include "netlink/nbd-dev.h"

void attachment_close_fds(struct attachment *a)
{
	for (size_t i = 0; i < a->n_fds; i++) {
		if (a->fds[i] >= 0)
			close(a->fds[i]);
		a->relays[i] = tls_relay_free(a->relays[i]);
	}
	a->n_fds = 0;
}

const char *attachment_tls_mode(const struct attachment *a)
{
	if (!a->tls)
		return "none";
	for (size_t i = 0; i < a->n_fds; i++)
		if (a->relays[i])
			return "relay";
	return "kernel";
}

void attachment_done(struct attachment *a)
{
	attachment_close_fds(a);
	free(a->backend);
	a->backend = NULL;
}

int attachment_matches(const struct client_options *o, const struct attachment *a,
		       const struct nbd_neg_result *res, char *why, size_t len)
{
	if (!res)
		return 0; /* no handshake (--negotiated, -P): nothing to compare */
	/* A device taken over (adopt.h) knows only its own size: the export must still cover it,
	 * and the first connection opened tells the rest. */
	if (a->export_size == 0) {
		if (res->size < a->size) {
			snprintf(why, len, "the export's size is now %llu bytes, less than the "
					   "device's %llu", (unsigned long long)res->size,
				 (unsigned long long)a->size);
			return -EPROTO;
		}
	} else if (o->size ? res->size < a->size : res->size != a->export_size) {
		/* With -B the device uses only that much: a larger export is the same device. */
		snprintf(why, len, "the export's size is now %llu bytes, not %llu",
			 (unsigned long long)res->size,
			 (unsigned long long)(o->size ? a->size : a->export_size));
		return -EPROTO;
	}
	if (a->export_size != 0 && res->transmission_flags != a->server_flags) {
		snprintf(why, len, "the export's transmission flags are now 0x%x, not 0x%x",
			 res->transmission_flags, a->server_flags);
		return -EPROTO;
	}
	if (res->has_block_size && res->block_minimum > a->block_size) {
		snprintf(why, len, "the export now needs blocks of at least %u bytes; the device "
				   "uses %u", res->block_minimum, a->block_size);
		return -EPROTO;
	}
	return 0;
}

/* What the kernel is given, by either interface (the ioctls ignore what only netlink carries). */
struct nbd_dev_config attachment_device_config(const struct client_options *o,
					   const struct attachment *a, int index)
{
	return (struct nbd_dev_config){
		.index = index,
		.size = a->size,
		.block_size = a->block_size,
		.server_flags = a->flags,
		/* A persistent device needs both: a hung server is only noticed through the request
		 * timeout, and I/O only waits for the supervisor within the dead-connection timeout. */
		.timeout = o->timeout ? o->timeout : o->persist ? SUPERVISOR_REQUEST_TIMEOUT_S : 0,
		.dead_conn_timeout = o->dead_timeout ? o->dead_timeout
				     : o->persist  ? SUPERVISOR_DEAD_CONN_TIMEOUT_S
						   : 0,
		.client_flags = o->client_flags,
		.backend = a->backend,
		.fds = a->fds,
		.n_fds = a->n_fds,
	};
}

/* Says who holds a device, for the refusal message. */
static void describe_user(int index, char *buf, size_t len)
{
	_cleanup_free_ char *backend = NULL;
	pid_t pid = 0;

	(void)nbd_sysfs_read(index, "backend", &backend);
	(void)nbd_dev_pid(index, &pid);
	if (backend && pid > 0)
		snprintf(buf, len, "backend %s, pid %d", backend, (int)pid);
	else if (backend)
		snprintf(buf, len, "backend %s", backend);
	else if (pid > 0)
		snprintf(buf, len, "pid %d", (int)pid);
	else
		snprintf(buf, len, "being configured");
}

int attachment_refuse_in_use(int index)
{
	char who[256];

	describe_user(index, who, sizeof(who));
	return log_error_errno(EBUSY, "/dev/nbd%d is in use (%s); detach it first with nbd-client "
				      "-d /dev/nbd%d, or pick another device",
			       index, who, index);
}

/* The device the kernel attached, on stdout: the reference's "Connected /dev/nbdN" line, which
 * scripts parse for the device the kernel chose; the attach subcommand prints the bare name. */
void attachment_announce(const struct client_options *o, int index)
{
	printf(o->subcommand ? "/dev/nbd%d\n" : "Connected /dev/nbd%d\n", index);
	fflush(stdout);
}

/* What status needs to count the device's connections and see whether they live; the device
 * works without it, so a failure to write it is only worth a note. */
void attachment_record(const struct attachment *a, int index)
{
	int r = connrecord_write(index, getpid(), a->backend, a->fds, NULL, a->n_fds,
				 attachment_tls_mode(a), a->supervised);

	if (r < 0)
		log_debug_errno(r, "Cannot record the connections of /dev/nbd%d: %m", index);
	/* The kernel's own event came before the record: udev's rules read the connections and
	 * the TLS mode from it (ID_NBD_CONNECTIONS, ID_NBD_TLS). */
	else
		(void)nbd_dev_trigger_change(index);
}

bool attachment_on_device(const struct attachment *a, int index, pid_t kernel_pid)
{
	_cleanup_free_ char *backend = NULL;
	pid_t pid = 0;

	if (!nbd_dev_in_use(index))
		return false;
	/* The kernel records the process that connected the device. Someone who detached and
	 * attached it again (even to the same export) is recorded instead. */
	if (nbd_dev_pid(index, &pid) == 0 && pid > 0 && pid != kernel_pid)
		return false;
	if (nbd_sysfs_read(index, "backend", &backend) == 0 && a->backend &&
	    strcmp(backend, a->backend) != 0)
		return false;
	return true;
}

bool attachment_kernel_took(int fd)
{
	struct timeval tv = { 0 };
	socklen_t len = sizeof(tv);

	/* A socket the kernel takes gets the device's request timeout as its send timeout, which
	 * ours never set, and a supervised device always has one. */
	return getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) == 0 && (tv.tv_sec || tv.tv_usec);
}
