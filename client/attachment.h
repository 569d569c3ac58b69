/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An attached export: what attach negotiated and handed to the kernel, which the supervisor keeps
 * so that every later connection is checked against it (attachment.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client/options.h"
#include "netlink/nbd-dev.h"
#include "proto/negotiate.h"

#define ATTACH_MAX_CONNECTIONS CLIENT_CONNECTIONS_MAX

struct tls_relay;
/* How long udev's probe may hold the device lock before attach gives up. */
#define DEVICE_LOCK_TIMEOUT_MS 5000


struct attachment {
	int fds[ATTACH_MAX_CONNECTIONS]; /* our references to the sockets handed over (-1: none) */
	size_t n_fds;
	uint64_t size;         /* of the device: -B, or the export's rounded down to whole blocks */
	uint64_t export_size;  /* as the server announced it (0: no handshake) */
	uint16_t server_flags; /* transmission flags as the server sent them */
	uint16_t flags;        /* as given to the kernel (READ_ONLY added by -R) */
	uint32_t block_size;
	char *backend;
	bool tls;              /* the connections carry TLS, in the kernel's TLS or relayed */
	/* Per connection, where its TLS runs instead of in the kernel (tls-relay.h), or NULL. */
	struct tls_relay *relays[ATTACH_MAX_CONNECTIONS];
	/* A device taken over from a supervisor that is gone (adopt.h): the kernel's connections
	 * that still live, by their sockets' inode numbers (fds[i] is then -1; 0: dead), and the
	 * process the kernel says attached the device. 0 for a device attached by this process. */
	uint64_t adopted_inodes[ATTACH_MAX_CONNECTIONS];
	pid_t kernel_pid;
	bool supervised;       /* a supervisor stays with the device (-persist) */
};

/* "none", "kernel" or "relay": where a's TLS runs, for status. */
const char *attachment_tls_mode(const struct attachment *a);

/* Closes our references to the sockets (the kernel keeps its own), and ends any relays. */
void attachment_close_fds(struct attachment *a);
void attachment_done(struct attachment *a);

/* Whether a connection opened after the first (another of -C N, or a reconnection) serves the
 * export the kernel has: the same size and transmission flags, and a block-size minimum the
 * device's block size still meets (the kernel takes none of these again). 0, or -EPROTO with a
 * sentence in why. */
int attachment_matches(const struct client_options *o, const struct attachment *a,
		       const struct nbd_neg_result *res, char *why, size_t len);

/* What the kernel is given for a, by either interface (the ioctls ignore what only netlink
 * carries); points into a. */
struct nbd_dev_config attachment_device_config(const struct client_options *o,
					       const struct attachment *a, int index);
/* Refuses a device someone else holds: logs who, returns -EBUSY. */
int attachment_refuse_in_use(int index);
/* The device the kernel attached, on stdout: the reference's "Connected /dev/nbdN" line, or the
 * bare name for the attach subcommand. */
void attachment_announce(const struct client_options *o, int index);
/* Records the sockets handed over, for status (a failure is only a debug note). */
void attachment_record(const struct attachment *a, int index);
/* Whether /dev/nbd<index> still carries a: false once someone detached it (a netlink device's pid
 * attribute goes with its configuration; kernel_pid is the process the kernel recorded for a), or
 * reused it under another backend. */
bool attachment_on_device(const struct attachment *a, int index, pid_t kernel_pid);
/* Whether the kernel took a socket handed over by RECONFIGURE, which answers success even when it
 * found no dead slot for it (the old socket not yet counted dead) and dropped it. */
bool attachment_kernel_took(int fd);
