/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How much a TCP connection's socket holds before it wakes its worker (SO_RCVLOWAT).
 *
 * Any byte, normally. A whole PAYLOAD_MAPPED payload while one waits (payload.c). And several
 * requests at once while the client keeps a deep pipeline: each wake-up costs the server a sleep,
 * an epoll_wait(), a read and a sendmsg() of the replies, whether it brings one request or ten, so
 * under a deep queue fewer wake-ups carrying more requests each cost less per request.
 *
 * Waiting must never stall a client that is waiting on us. The server cannot see how many requests
 * a client has in flight, only a lower bound: the most that ever arrived unanswered together. It
 * waits for a quarter of that, so the client always has three times as many to send meanwhile, and
 * only after a wake-up that brought two requests or more. A wait gives up after COALESCE_WAIT_US
 * (the worker's timer, wakeup_expire()): the bound is then halved and coalescing pauses for a
 * number of wake-ups that doubles with each wait given up, so a client whose bursts end in a
 * lone request it waits on (a FLUSH after a journal's writes) seldom meets that delay.
 *
 * Large WRITEs received into a file's mapping (PAYLOAD_MAPPED, payload.c) wake the worker once
 * whole, one wake-up each. While the client sends them one behind the other, the socket waits for
 * two at once instead: the payload, the next header and as many bytes again. That wait gives up
 * after COALESCE_WAIT_US plus a microsecond per KiB it waits for, and goes back to the one payload;
 * giving up counts as above.
 *
 * Giving up lowers SO_RCVLOWAT to 1 (or to the one payload), and TCP then wakes the worker for what the socket already holds
 * (tcp_set_rcvlowat() signals readiness, as it does in Debian 12's 6.1 and later;
 * test-server-pipeline hangs where it would not).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct worker;

/* The longest a coalescing wait lasts (microseconds). */
#define COALESCE_WAIT_US 100
/* The most bytes it waits for. */
#define COALESCE_MAX_BYTES (64u << 10)

/* Sets the socket's SO_RCVLOWAT to bytes. 0, -ENOBUFS when the socket cannot wait for that much
 * (TCP caps it below half its largest receive buffer), or another negative errno; on failure the
 * connection is not asked to wait again (c->lowat_max = 0). */
int wakeup_set_lowat(struct conn *c, size_t bytes);
/* At the end of a wake-up that brought requests (so many) in bytes, with the socket left empty or
 * not: decides what the socket waits for until the next one. */
void wakeup_rearm(struct conn *c, unsigned requests, size_t bytes, bool socket_empty);
/* A PAYLOAD_MAPPED payload of len bytes is not whole yet: sets what the socket waits for, the payload
 * alone or a pair of WRITEs (and then the timer). 0, or a negative errno when the socket cannot wait
 * for the payload itself (then c->lowat_max is 0 too). */
int wakeup_mapped_wait(struct conn *c, size_t len);
/* A PAYLOAD_MAPPED payload is about to be taken whole, with queued bytes in the socket: ends a
 * pair's wait, and counts the WRITEs sent one behind the other. */
void wakeup_mapped_taken(struct conn *c, size_t queued);
/* A request was taken whole (c->mode still says how its payload came): a request other than a
 * PAYLOAD_MAPPED WRITE ends a run of them, and with it the waits for pairs. */
void wakeup_request_done(struct conn *c);
/* Ends the coalescing waits of w's connections due by now (now_us()); returns when the next one is
 * due, 0 when none waits. */
int64_t wakeup_expire(struct worker *w, int64_t now);
