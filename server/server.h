/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The running server: exports, listeners, worker threads each with an event loop, and the main
 * thread's loop for accepting connections and signals.
 *
 * One process serves every client. A connection lives on one worker for its whole life; requests are
 * read in batches, run, and their replies gathered into as few send calls as possible.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server/config.h"
#include "server/export.h"
#include "server/listen.h"
#include "server/live.h"
#include "server/loop.h"
#include "server/pool.h"
#include "server/peer-counts.h"
#include "server/slots.h"
#include "server/worker.h"

struct server {
	const struct server_config *config; /* as started: listening, threads, modes */
	int argc;                  /* the command line, read again on SIGHUP */
	char **argv;

	/* The configuration in force; replaced by a reload. The main thread writes it under the lock
	 * and may read it without; other threads take a reference under the lock (server_live()). */
	pthread_mutex_t live_lock;
	struct live *live;
	struct srv_tls *tls;       /* loaded before privileges are dropped, until the first live */
	struct slots slots;        /* connection slots, across reloads */
	struct peer_counts peers;  /* connections per client address */

	struct listener_set listeners;

	struct workers workers;
	struct worker_host host; /* what the workers see of the server */
	struct pool pool;       /* blocking I/O, shared by the workers */

	int epfd;               /* the main thread's loop */
	struct loop_source signals;
	struct loop_source closed; /* eventfd: a worker closed a connection */
	struct loop_source inbox;  /* --accept-fds: connected sockets arrive here; -EBADF once closed */

	atomic_uint connections; /* open right now, handshakes included */
	uint64_t accepted;       /* ever */
	bool stopping;
	int exit_status;
};

/* Creates the listening sockets (or takes them from systemd, or none in --stdio mode). argc and argv
 * are kept for reloads. */
int server_listen(struct server *srv, const struct server_config *config, int argc, char **argv);
/* Whether systemd handed over the listening sockets. */
bool server_socket_activated(const struct server *srv);
/* Opens every export's backend. */
int server_open_exports(struct server *srv);
/* Runs until SIGTERM/SIGINT, or until the last connection closes in oneshot and stdio modes. */
int server_run(struct server *srv);
void server_free(struct server *srv);

/* A reference to the configuration in force. */
struct live *server_live(struct server *srv);
/* Reads the configuration again (SIGHUP) and puts it in force, or keeps the old one when it has
 * errors (reload.c); logs what changed. */
void server_reload(struct server *srv);
