/* SPDX-License-Identifier: GPL-2.0-or-later */
/* How much a TCP connection's socket holds before it wakes its worker (wakeup.h). */
#include <errno.h>
#include <sys/socket.h>

#include "common/clock.h"
#include "common/io.h"
#include "common/macro.h"
#include "proto/transmission.h"
#include "server/conn.h"
#include "server/wakeup.h"
#include "server/worker-host.h"

/* The most wake-ups coalescing pauses for after waits that gave up: 1 << COALESCE_MAX_STRIKES. */
#define COALESCE_MAX_STRIKES 12
/* The share of the requests seen in flight at once that a wait is for. */
#define COALESCE_SHARE 4
/* Waits that ended by themselves, per strike forgiven. */
#define COALESCE_KEPT_PER_STRIKE 64

/* Sets SO_RCVLOWAT to bytes, or says why not (-ENOBUFS: the socket caps it below that). */
static int try_lowat(struct conn *c, size_t bytes)
{
	int val = (int)bytes;
	socklen_t len = sizeof(val);

	if (setsockopt(c->t->rfd, SOL_SOCKET, SO_RCVLOWAT, &val, sizeof(val)) < 0)
		return negative_errno();
	c->lowat = bytes;
	/* TCP caps it below half its largest receive buffer: waiting for more would never end. The
	 * cap stays, so each size is checked once. */
	if (bytes > c->lowat_checked) {
		if (getsockopt(c->t->rfd, SOL_SOCKET, SO_RCVLOWAT, &val, &len) < 0)
			return negative_errno();
		if ((size_t)val < bytes)
			return -ENOBUFS;
		c->lowat_checked = bytes;
	}
	return 0;
}

int wakeup_set_lowat(struct conn *c, size_t bytes)
{
	int r = try_lowat(c, bytes);

	/* A socket that refuses once is not asked to wait for more than a byte again. */
	if (r < 0)
		c->lowat_max = 0;
	return r;
}

/* Starts the timer of a wait for more than the next request. */
static void arm(struct conn *c, int64_t us)
{
	c->coalesce_until = now_us() + us;
	if (!c->worker->coalesce_deadline || c->coalesce_until < c->worker->coalesce_deadline)
		c->worker->coalesce_deadline = c->coalesce_until;
}

/* A wait for more than the next request is over: its timer stops. (A pair's wait sets
 * coalesce_mapped, and only alongside coalesce_until.) */
static void wait_stopped(struct conn *c)
{
	c->coalesce_until = 0;
	c->coalesce_mapped = false;
}

/* A wait for more than the next request ended with what it waited for: its timer stops, and a wait
 * given up is forgiven now and then. */
static void wait_kept(struct conn *c)
{
	wait_stopped(c);
	if (++c->coalesce_kept >= COALESCE_KEPT_PER_STRIKE) {
		c->coalesce_kept = 0;
		if (c->coalesce_strikes)
			c->coalesce_strikes--;
	}
}

/* The bytes to wait for before the next wake-up: 1 (any), or those of a quarter of the requests the
 * client was seen to have in flight at once. */
static size_t coalesce_bytes(struct conn *c, unsigned requests, size_t bytes, bool socket_empty)
{
	size_t want;

	if (c->coalesce_skip) {
		c->coalesce_skip--;
		return 1;
	}
	/* Not with input left in the socket or the buffer: the wake-up it is owed must not wait. */
	if (requests < 2 || c->seen_at_once / COALESCE_SHARE < 2 || !socket_empty ||
	    c->in_start != c->in_end || c->have_request || c->read_paused ||
	    c->state != CONN_TRANSMISSION || !c->lowat_max)
		return 1;
	want = (size_t)(c->seen_at_once / COALESCE_SHARE) * (bytes / requests);
	return MAX(MIN(want, MIN((size_t)COALESCE_MAX_BYTES, c->lowat_max)), (size_t)1);
}

void wakeup_rearm(struct conn *c, unsigned requests, size_t bytes, bool socket_empty)
{
	size_t want;

	bool mapped = c->have_request && c->mode == PAYLOAD_MAPPED;

	/* A wait from before this wake-up ended with it; a pair's wait set up during it goes on. A
	 * pair's wait that ended with its payload sent to the pipe or a buffer (woken with less
	 * than the payload) did not end by itself, and earns nothing. */
	if (c->coalesce_mapped) {
		if (!mapped)
			wait_stopped(c);
	} else if (c->coalesce_until) {
		wait_kept(c);
	}
	/* The socket waits for a PAYLOAD_MAPPED payload to be whole (wakeup_mapped_wait()) for as
	 * long as it takes; only a pair's wait has a timer, which goes back to that. A payload
	 * whose wait is not set up yet (the wake-up ended on its header) must not meet what the
	 * socket waited for before, a larger payload or a pair: the next byte wakes the loop to set
	 * it up. */
	if (mapped) {
		if (!c->mapped_waiting && c->lowat > 1) {
			wait_stopped(c);
			if (wakeup_set_lowat(c, 1) < 0)
				arm(c, COALESCE_WAIT_US);
		}
		return;
	}
	if (requests > c->seen_at_once)
		c->seen_at_once = requests;
	want = coalesce_bytes(c, requests, bytes, socket_empty);
	/* Should going back to any byte fail too, the timer below still ends the wait and tries
	 * again. */
	if (want != c->lowat && wakeup_set_lowat(c, want) < 0)
		want = c->lowat == 1 || wakeup_set_lowat(c, 1) == 0 ? 1 : c->lowat;
	if (want > 1)
		arm(c, COALESCE_WAIT_US);
}

/* Whether the socket may wait for a pair of large WRITEs rather than one: the client sends them one
 * behind the other, coalescing is not paused, and the socket has not refused that much before. */
static bool pair_allowed(struct conn *c, size_t pair)
{
	if (c->mapped_run < 1 || (c->lowat_refused && pair >= c->lowat_refused))
		return false;
	/* Only a wait that could have been for a pair counts down the pause. */
	if (c->coalesce_skip) {
		c->coalesce_skip--;
		return false;
	}
	return true;
}

int wakeup_mapped_wait(struct conn *c, size_t len)
{
	size_t pair = 2 * len + nbd_request_size(c->xmit.extended);
	int r;

	/* A wait armed before this wake-up has ended: the connection is awake. */
	if (c->coalesce_until)
		wait_kept(c);
	if (pair_allowed(c, pair)) {
		r = c->lowat == pair ? 0 : try_lowat(c, pair);
		if (r == 0) {
			c->coalesce_mapped = true;
			arm(c, COALESCE_WAIT_US + (int64_t)(pair >> 10));
			return 0;
		}
		c->lowat_refused = pair;
	}
	return c->lowat == len ? 0 : wakeup_set_lowat(c, len);
}

void wakeup_mapped_taken(struct conn *c, size_t queued)
{
	/* The pair's wait ends here: by itself when the socket holds all it waited for. */
	if (c->coalesce_mapped) {
		if (queued >= c->lowat)
			wait_kept(c);
		else
			wait_stopped(c);
	}
	c->mapped_run++;
}

void wakeup_request_done(struct conn *c)
{
	/* A pair of large WRITEs is waited for only behind one. */
	if (c->mode != PAYLOAD_MAPPED)
		c->mapped_run = 0;
}

/* A wait that gave up: the client has fewer requests in flight than it was seen to have, or its
 * burst ended in one it waits on. */
static void give_up(struct conn *c)
{
	/* A pair of large WRITEs goes back to waiting for the first alone, whole. */
	size_t back = c->coalesce_mapped && c->have_request && c->mode == PAYLOAD_MAPPED
			  ? (size_t)c->verdict.payload
			  : 1;

	wait_stopped(c);
	c->seen_at_once /= 2;
	c->coalesce_strikes = MIN(c->coalesce_strikes + 1, (unsigned)COALESCE_MAX_STRIKES);
	c->coalesce_skip = 1u << c->coalesce_strikes;
	c->coalesce_kept = 0;
	/* Lowering SO_RCVLOWAT below what the socket holds wakes the worker at once. Should that
	 * fail, the timer tries again rather than leave the socket waiting. */
	if (wakeup_set_lowat(c, back) < 0)
		arm(c, COALESCE_WAIT_US);
}

int64_t wakeup_expire(struct worker *w, int64_t now)
{
	int64_t earliest = 0;

	for (struct conn *c = w->conns; c; c = c->next) {
		if (c->zombie || !c->coalesce_until)
			continue;
		if (now >= c->coalesce_until)
			give_up(c);
		if (c->coalesce_until && (!earliest || c->coalesce_until < earliest))
			earliest = c->coalesce_until;
	}
	return earliest;
}
