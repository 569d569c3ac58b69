/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A connection served by a worker: its transport, input buffer and output queue (conn.c), its
 * handshake (negotiate.c, with admission in admit.c), the placement of WRITE payloads (payload.c)
 * and the running of its requests (dispatch.c). A connection stays on one worker for its life, so
 * none of this needs locks; only pool jobs run elsewhere, and they come back through the worker.
 *
 * The files call one another in one direction only: conn.c drives negotiate.c, payload.c and
 * dispatch.c; negotiate.c uses admit.c; dispatch.c uses payload.c. Completions reach the connection
 * again through c->complete, set by conn.c.
 */
#pragma once

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server/export.h"
#include "server/handshake.h"
#include "server/live.h"
#include "server/loop.h"
#include "server/outq.h"
#include "server/payload.h"
#include "server/request.h"
#include "server/transport.h"
#include "server/worker-host.h"

/* Input is read in batches this large: many request headers per recv(). */
#define CONN_INPUT_SIZE (256u << 10)
/* Reading pauses while this much reply data waits to be sent. */
#define CONN_OUTPUT_HIGH (16u << 20)
/* ... or while this many requests of the connection are in the pool. */
#define CONN_MAX_INFLIGHT 64
/* Replies smaller than this in all wait until the socket has no more requests to read: on loopback,
 * each sendmsg() costs a TCP segment and the client's receive path, so one per small reply was half
 * of the server's CPU time with 4 KiB writes. Larger replies go at once so that big reads stream. */
#define CONN_OUTPUT_EAGER (64u << 10)

enum conn_state {
	CONN_HANDSHAKE,     /* options, stepped by negotiate.c */
	CONN_TLS_HANDSHAKE, /* after STARTTLS: its reply goes out in the clear, then the TLS
			     * session's own handshake is stepped by negotiate.c over a TLS
			     * transport until it is done, then options again */
	CONN_TRANSMISSION,
	CONN_DRAINING,      /* send what is queued, then close */
};

struct conn {
	struct loop_source rsrc;
	struct loop_source wsrc; /* only used when the write fd differs (stdio mode) */
	struct worker *worker;
	struct conn *prev, *next;
	struct transport *t;
	struct sockaddr_storage peer_addr;
	char peer[INET6_ADDRSTRLEN + 16];
	enum conn_state state;
	uint32_t rev, wev; /* events registered */
	/* A request that ran elsewhere (pool, io_uring) is back: error < 0 when its replies could not
	 * be queued. */
	void (*complete)(struct conn *c, int error);

	struct srv_hs *hs;
	/* --negotiated: the client did its handshake elsewhere; the first step starts transmission. */
	bool skip_handshake;
	/* now_ms() by which transmission must have started (0: no limit), and the limit in
	 * seconds, for the message when it passes (conn_expire_stalled()). */
	int64_t handshake_deadline;
	unsigned handshake_timeout;
	/* In transmission: now_ms() by which a request begun must have been received whole (0: none
	 * begun, or no limit), and the limit in seconds. Each read that brings some of it moves the
	 * deadline on. */
	int64_t request_deadline;
	unsigned request_timeout;
	struct srv_tls *tls;   /* the credentials STARTTLS uses (a reference), NULL: TLS is off */
	bool tls_wants_write;  /* the TLS handshake waits for the socket to take more */
	struct live *live;     /* the configuration the handshake looked exports up in (a reference) */
	struct export *client_export; /* a per-client export opened for a lookup (a reference) */
	struct xmit xmit;
	struct export *export; /* admitted: holds a reference and a connection slot */
	bool prerun_done;      /* postrun is owed when the connection ends */
	struct backend *own_backend; /* a private copy-on-write overlay, discarded at close */

	uint8_t *in;
	size_t in_start, in_end;

	uint64_t requests; /* requests taken in transmission so far */
	bool have_request;
	struct nbd_request req;
	struct request_verdict verdict;
	uint8_t *payload;
	size_t payload_have;
	uint64_t discard_left;
	/* Where the current WRITE's payload waits until it is whole (payload.h). */
	enum payload_mode mode;
	bool can_splice;  /* the transport allows it and splice() has not refused this socket */
	bool header_only; /* the last request was spliced: read the next header alone, until whole */
	int spipe[2];     /* for splicing payloads; -EBADF until the first one */
	size_t spipe_size;
	size_t lowat;     /* SO_RCVLOWAT: 1, a PAYLOAD_MAPPED payload (or two), or requests (wakeup.h) */
	size_t lowat_max; /* the largest payload to wait for so (0: not TCP, or it cannot) */
	size_t lowat_checked; /* the largest SO_RCVLOWAT the socket was seen to take */
	size_t lowat_refused; /* the smallest it was seen to cap (0: none), for pairs of WRITEs */
	bool mapped_waiting;  /* the event loop waits for a PAYLOAD_MAPPED payload to be whole */
	unsigned mapped_run;  /* PAYLOAD_MAPPED WRITEs taken one behind the other, up to now */
	/* Coalescing wake-ups (wakeup.h): */
	unsigned seen_at_once;     /* the most requests one wake-up brought: a bound on the pipeline */
	int64_t coalesce_until;    /* now_us() when the wait for several requests gives up; 0: none */
	bool coalesce_mapped;      /* that wait is for a pair of PAYLOAD_MAPPED WRITEs */
	unsigned coalesce_strikes; /* waits that gave up, less those forgiven */
	unsigned coalesce_skip;    /* wake-ups to go before coalescing again */
	unsigned coalesce_kept;    /* waits that ended by themselves since the last forgiven */

	struct outq out;
	bool read_paused;
	bool eof;
	unsigned inflight; /* requests running in the pool */
	bool zombie;       /* closed, waiting for its jobs to come back before it is freed */
};

/* conn.c */
/* Serves rfd/wfd (owned from now on, closed on failure) on w; sends the greeting. */
int conn_new(struct worker *w, int rfd, int wfd, const struct sockaddr_storage *peer,
	     socklen_t peer_len);
/* Sends what is queued, then closes. */
void conn_drain_and_close(struct conn *c);
/* Serves the connections whose transport holds input the event loop cannot see (worker.c calls it
 * when w->rescan is set). */
void conn_rescan(struct worker *w);
/* Frees the connections closed since the last call whose jobs are all back (w->reap is set when
 * there are some). The worker calls it after dispatching a batch of events, never in the middle. */
void conn_reap(struct worker *w);
/* Closes the connections of w whose handshake (TLS included), or whose request begun, has outlived
 * its deadline, saying so; returns the earliest deadline of the others, 0 when there is none. */
int64_t conn_expire_stalled(struct worker *w, int64_t now);

/* negotiate.c: the handshake over the connection's transport. */
int negotiate_start(struct conn *c);
/* Steps the handshake over buffered input. Returns 1 when transmission starts, 0 when more
 * input is needed, negative to close. */
int negotiate_step(struct conn *c);
void negotiate_done(struct conn *c);
/* After STARTTLS, once its reply is sent: puts a TLS transport in place (the first time) and steps
 * its handshake. 1 when TLS is up (options go on), 0 to wait for the socket (c->tls_wants_write
 * says which way), negative when it failed: close at once, sending nothing. */
int negotiate_tls_step(struct conn *c);

/* admit.c: the handshake machine's admit callback, and what admission owes at the end. */
bool admit_permits(const struct conn *c, const struct export *e);
uint32_t admit_export(void *userdata, const struct srv_export *se, bool take, char *msg,
		      size_t size);
/* Gives back what admission took: postrun, the slot, the export. */
void admit_release(struct conn *c);

/* dispatch.c: requests, where they run, and how they come back. */
size_t dispatch_header_size(const struct conn *c);
/* Takes the next request header from the input: 1, 0 when there is not a whole one, or negative
 * to close. */
int dispatch_take_request(struct conn *c);
/* Runs the current request (its payload complete) or hands it to io_uring or the pool. */
int dispatch_finish_request(struct conn *c);
/* The loop source of the pool's completions (w->done_src). */
void dispatch_done(struct loop_source *s, uint32_t events);
/* Makes what the client wrote durable without holding the event loop. */
void dispatch_flush_in_background(struct worker *w, struct export *e, struct backend *b);
