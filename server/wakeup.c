/* SPDX-License-Identifier: GPL-2.0-or-later */
/* How much a TCP connection's socket holds before it wakes its worker (wakeup.h). */
#include <errno.h>
#include <sys/socket.h>

#include "common/clock.h"
#include "common/io.h"
#include "common/macro.h"
#include "server/conn.h"
#include "server/wakeup.h"
#include "server/worker-host.h"

/* The most wake-ups coalescing pauses for after waits that gave up: 1 << COALESCE_MAX_STRIKES. */
#define COALESCE_MAX_STRIKES 12
/* The share of the requests seen in flight at once that a wait is for. */
#define COALESCE_SHARE 4
/* Waits that ended by themselves, per strike forgiven. */
#define COALESCE_KEPT_PER_STRIKE 64

int wakeup_set_lowat(struct conn *c, size_t bytes)
{
	int val = (int)bytes;
	socklen_t len = sizeof(val);

	/* A socket that refuses once is not asked to wait for more than a byte again. */
	if (setsockopt(c->t->rfd, SOL_SOCKET, SO_RCVLOWAT, &val, sizeof(val)) < 0) {
		c->lowat_max = 0;
		return negative_errno();
	}
	c->lowat = bytes;
	/* TCP caps it below half its largest receive buffer: waiting for more would never end. The
	 * cap stays, so each size is checked once. */
	if (bytes > c->lowat_checked) {
		if (getsockopt(c->t->rfd, SOL_SOCKET, SO_RCVLOWAT, &val, &len) < 0 ||
		    (size_t)val < bytes) {
			c->lowat_max = 0;
			return -ENOBUFS;
		}
		c->lowat_checked = bytes;
	}
	return 0;
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

	if (c->coalesce_until) {
		/* The wait ended with what it waited for: forgive a wait given up, now and then. */
		c->coalesce_until = 0;
		if (++c->coalesce_kept >= COALESCE_KEPT_PER_STRIKE) {
			c->coalesce_kept = 0;
			if (c->coalesce_strikes)
				c->coalesce_strikes--;
		}
	}
	/* The socket waits for a PAYLOAD_MAPPED payload to be whole (payload.c), for as long as it
	 * takes to come: no timer of ours may end that wait. */
	if (c->have_request && c->mode == PAYLOAD_MAPPED)
		return;
	if (requests > c->seen_at_once)
		c->seen_at_once = requests;
	want = coalesce_bytes(c, requests, bytes, socket_empty);
	/* Should going back to any byte fail too, the timer below still ends the wait and tries
	 * again. */
	if (want != c->lowat && wakeup_set_lowat(c, want) < 0)
		want = c->lowat == 1 || wakeup_set_lowat(c, 1) == 0 ? 1 : c->lowat;
	if (want > 1) {
		c->coalesce_until = now_us() + COALESCE_WAIT_US;
		if (!c->worker->coalesce_deadline || c->coalesce_until < c->worker->coalesce_deadline)
			c->worker->coalesce_deadline = c->coalesce_until;
	}
}

/* A wait that gave up: the client has fewer requests in flight than it was seen to have, or its
 * burst ended in one it waits on. */
static void give_up(struct conn *c)
{
	c->coalesce_until = 0;
	c->seen_at_once /= 2;
	c->coalesce_strikes = MIN(c->coalesce_strikes + 1, (unsigned)COALESCE_MAX_STRIKES);
	c->coalesce_skip = 1u << c->coalesce_strikes;
	c->coalesce_kept = 0;
	/* Lowering SO_RCVLOWAT below what the socket holds wakes the worker at once. Should that
	 * fail, the timer tries again rather than leave the socket waiting. */
	if (wakeup_set_lowat(c, 1) < 0)
		c->coalesce_until = now_us() + COALESCE_WAIT_US;
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
