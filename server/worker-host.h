/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A worker's state, and what the connections living on it (conn.h, negotiate.c, wakeup.c) may do
 * with it: watch a deadline, reach the configuration in force, report that they are gone. The
 * server is seen only through struct worker_host: the shared pool and connection slots, the
 * configuration in force, and a call when a connection is gone. Starting workers and handing them
 * connections is worker.h's.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
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
	bool reap;   /* a closed connection's memory can go: conn_reap() after the batch */
	/* No connection's handshake or request deadline is before this (now_ms(); 0: none is set):
	 * the loop wakes then to close those that passed (conn_expire_stalled()). */
	int64_t next_deadline;
	/* No connection's coalescing wait ends before this (now_us(); 0: none waits; wakeup.h). A
	 * wait that ends early leaves it as it was: finding the next would take a walk over the
	 * connections on every wake-up, where a deadline passed for nothing costs one walk
	 * (wakeup_expire()). */
	int64_t coalesce_deadline;
};

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
