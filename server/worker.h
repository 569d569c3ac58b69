/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Worker threads: each runs an epoll loop over its own connections (conn.h), its inbox (a pipe
 * carrying the connections handed to it) and the completions of the pool and io_uring.
 *
 * Workers see the rest of the server only through struct worker_host (worker-host.h). The server
 * (server.c) fills it in and starts the workers; nothing here calls back into server.c by name.
 */
#pragma once

#include <sys/socket.h>

#include "server/worker-host.h"

struct workers {
	struct worker *items;
	unsigned n;
	unsigned next; /* round robin */
};

/* Starts n workers; host must outlive them. On failure, workers_stop() cleans up. */
int workers_start(struct workers *ws, const struct worker_host *host, unsigned n);
/* Asks every worker to finish its connections gracefully and waits for them. */
void workers_stop(struct workers *ws);
/* Gives a connected socket (or the rfd/wfd pair of stdio mode) to a worker, which owns them from
 * then on and calls host->closed() when the connection is gone. On failure the caller keeps them. */
int worker_adopt(struct workers *ws, int rfd, int wfd, const struct sockaddr_storage *peer,
		 socklen_t peer_len);
