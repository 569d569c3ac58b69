/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Worker threads: each runs an epoll loop over its own connections (conn.h), its inbox (a pipe
 * carrying the connections handed to it) and the completions of the pool and io_uring.
 *
 * Workers see the rest of the server only through struct worker_host: the shared pool and
 * connection slots, the configuration in force, and a call when a connection is gone. The server
 * (server.c) fills it in and starts the workers; nothing here calls back into server.c by name.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "server/live.h"
#include "server/loop.h"
#include "server/pool.h"
#include "server/slots.h"

struct worker_host {
	struct pool *pool;   /* blocking I/O */
	struct slots *slots; /* connection slots, taken at admission */
	/* A reference to the configuration in force (live_unref() it). */
	struct live *(*live)(void *userdata);
	/* A connection handed over with worker_adopt() is gone; peer as given to it. */
	void (*closed)(void *userdata, const struct sockaddr_storage *peer);
	void *userdata;
};

struct job;
struct uring;
struct conn;

struct worker {
	const struct worker_host *host;
	pthread_t thread;
	int epfd;
	int pipe[2];
	struct loop_source inbox;
	/* Jobs the pool finished, handed back through an eventfd (dispatch.c). */
	pthread_mutex_t done_lock;
	struct job *done;
	struct loop_source done_src;
	/* io_uring for plain file I/O, when available; NULL otherwise (the pool does it all). */
	struct uring *uring;
	struct loop_source uring_src;
	struct conn *conns; /* list, for shutdown */
	bool stopping;
	bool started;
	bool rescan; /* a connection's transport holds input: conn_rescan() before waiting */
	/* No connection's handshake or request deadline is before this (now_ms(); 0: none is set):
	 * the loop wakes then to close those that passed (conn_expire_stalled()). */
	int64_t next_deadline;
	/* No connection's coalescing wait ends before this (now_us(); 0: none waits; wakeup.h). */
	int64_t coalesce_deadline;
};

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

static inline struct live *worker_live(const struct worker *w)
{
	return w->host->live(w->host->userdata);
}

/* A connection on w must finish its handshake by deadline (0: no limit). */
static inline void worker_watch_deadline(struct worker *w, int64_t deadline)
{
	if (deadline && (!w->next_deadline || deadline < w->next_deadline))
		w->next_deadline = deadline;
}

static inline void worker_connection_closed(const struct worker *w,
					    const struct sockaddr_storage *peer)
{
	w->host->closed(w->host->userdata, peer);
}
