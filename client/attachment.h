/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An attached export: what attach negotiated and handed to the kernel, which the supervisor keeps
 * so that every later connection is checked against it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "client/options.h"
#include "proto/negotiate.h"

#define ATTACH_MAX_CONNECTIONS 16

struct attachment {
	int fds[ATTACH_MAX_CONNECTIONS]; /* our references to the sockets handed over (-1: none) */
	size_t n_fds;
	uint64_t size;         /* of the device: -B, or the export's rounded down to whole blocks */
	uint64_t export_size;  /* as the server announced it (0: no handshake) */
	uint16_t server_flags; /* transmission flags as the server sent them */
	uint16_t flags;        /* as given to the kernel (READ_ONLY added by -R) */
	uint32_t block_size;
	char *backend;
};

/* Closes our references to the sockets (the kernel keeps its own). */
void attachment_close_fds(struct attachment *a);
void attachment_done(struct attachment *a);

/* Whether a connection opened after the first (another of -C N, or a reconnection) serves the
 * export the kernel has: the same size and transmission flags, and a block-size minimum the
 * device's block size still meets (the kernel takes none of these again). 0, or -EPROTO with a
 * sentence in why. */
int attachment_matches(const struct client_options *o, const struct attachment *a,
		       const struct nbd_neg_result *res, char *why, size_t len);
