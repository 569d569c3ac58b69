/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A connection's buffers and flushing: its life on the worker's event loop, reading into the
 * input buffer (or a large payload's own place), running what came in, and sending the output queue
 * over the transport with as few calls as possible. When replies pile up faster than the client
 * takes them, reading pauses until the queue drains: memory per connection stays bounded.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/io.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/sockaddr-name.h"
#include "server/conn.h"
#include "server/wakeup.h"

/* Input the transport holds where epoll cannot see it (decrypted bytes in a TLS session). */
static bool transport_has_input(const struct conn *c)
{
	return !c->zombie && !c->read_paused &&
	       (c->state == CONN_HANDSHAKE || c->state == CONN_TRANSMISSION) &&
	       transport_pending(c->t) > 0;
}

/* Requests already buffered while reading was paused get their turn once it resumes. */
static bool has_buffered_requests(const struct conn *c)
{
	return (c->state == CONN_TRANSMISSION && !c->read_paused && c->in_start != c->in_end) ||
	       transport_has_input(c);
}

static void conn_dispatch_read(struct loop_source *s, uint32_t events);
static void conn_dispatch_write(struct loop_source *s, uint32_t events);
static void conn_on_readable(struct conn *c);
static void conn_tls_step(struct conn *c);

/* ---- event registration ---- */

static int set_events(struct conn *c, bool want_read, bool want_write)
{
	uint32_t rev = want_read ? EPOLLIN | EPOLLRDHUP : 0;
	uint32_t wev = want_write ? EPOLLOUT : 0;
	struct epoll_event ev;

	if (c->t->rfd == c->t->wfd) {
		if (rev == c->rev && wev == c->wev)
			return 0;
		ev = (struct epoll_event){ .events = rev | wev, .data.ptr = &c->rsrc };
		if (epoll_ctl(c->worker->epfd, EPOLL_CTL_MOD, c->t->rfd, &ev) < 0)
			return negative_errno();
	} else {
		if (rev != c->rev) {
			ev = (struct epoll_event){ .events = rev, .data.ptr = &c->rsrc };
			if (epoll_ctl(c->worker->epfd, EPOLL_CTL_MOD, c->t->rfd, &ev) < 0)
				return negative_errno();
		}
		if (wev != c->wev) {
			ev = (struct epoll_event){ .events = wev, .data.ptr = &c->wsrc };
			if (epoll_ctl(c->worker->epfd, EPOLL_CTL_MOD, c->t->wfd, &ev) < 0)
				return negative_errno();
		}
	}
	c->rev = rev;
	c->wev = wev;
	return 0;
}

/* What the connection waits for now: reading unless paused or done, writing while replies wait. In
 * the TLS handshake, only the way the session asks for, and nothing to read before the ACK of
 * STARTTLS has left (a client waits for it). */
static int update_events(struct conn *c)
{
	bool tls = c->state == CONN_TLS_HANDSHAKE;
	bool tls_write = tls && c->tls_wants_write;

	return set_events(c, c->state != CONN_DRAINING && !c->read_paused && !c->eof && !tls_write &&
				     !(tls && !outq_empty(&c->out)),
			  !outq_empty(&c->out) || tls_write);
}

static void conn_destroy(struct conn *c)
{
	struct worker *w = c->worker;
	struct sockaddr_storage peer = c->peer_addr;

	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;

	if (c->export) {
		/* A client that leaves without FLUSH still gets what it wrote onto stable storage
		 * (a private overlay is simply dropped). */
		if (!c->hs && !c->own_backend &&
		    !(c->export->info.transmission_flags & NBD_FLAG_READ_ONLY))
			dispatch_flush_in_background(w, c->export, c->xmit.backend);
		backend_close(c->own_backend);
		c->own_backend = NULL;
		admit_release(c);
	}
	negotiate_done(c);
	outq_clear(&c->out);
	backend_close(c->own_backend);
	free(c->in);
	free(c->payload);
	payload_release(c);
	free(c);
	worker_connection_closed(w, &peer);
}

/* Closes the connection's sockets now. The memory goes once no job of it is left in the pool, and
 * never in the middle of the worker's batch of events (conn_reap()): an event for this connection
 * may be further down the batch epoll returned, and one connection can close others (a worker told
 * to stop drains them all). */
static void conn_free(struct conn *c)
{
	struct worker *w = c->worker;

	if (c->zombie)
		return;
	(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->t->rfd, NULL);
	if (c->t->wfd != c->t->rfd)
		(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->t->wfd, NULL);
	c->t = transport_close(c->t);
	c->zombie = true;
	outq_clear(&c->out);
	if (c->inflight == 0)
		w->reap = true;
}

void conn_reap(struct worker *w)
{
	struct conn *c, *next;

	w->reap = false;
	for (c = w->conns; c; c = next) {
		next = c->next;
		if (c->zombie && c->inflight == 0)
			conn_destroy(c);
	}
}

/* Whether the client has begun a request it has not sent whole: part of a header, or a WRITE
 * whose payload is still arriving. */
static bool mid_request(const struct conn *c)
{
	size_t buffered = c->in_end - c->in_start;

	/* While reading is paused the server, not the client, holds things up. */
	if (c->state != CONN_TRANSMISSION || c->read_paused)
		return false;
	if (c->have_request)
		return c->discard_left > 0 ||
		       (c->verdict.payload && c->payload_have < c->verdict.payload);
	return buffered > 0 && buffered < dispatch_header_size(c);
}

/* After bytes arrived, or reading resumed: a request begun gets request_timeout more seconds to
 * arrive whole. */
static void watch_request(struct conn *c)
{
	if (!c->request_timeout || !mid_request(c)) {
		c->request_deadline = 0;
		return;
	}
	c->request_deadline = now_ms() + c->request_timeout * 1000ll;
	worker_watch_deadline(c->worker, c->request_deadline);
}

/* Sends what is queued; closes the connection when that fails or when it is draining and done. Returns
 * false when the connection is gone. */
static bool conn_flush(struct conn *c)
{
	int r;

	if (c->zombie)
		return false;
	r = outq_flush(&c->out, c->t);

	if (r < 0 && r != -EAGAIN) {
		log_info("Connection %s: sending failed: %s", c->peer, strerror(-r));
		conn_free(c);
		return false;
	}
	if (outq_empty(&c->out) && c->state == CONN_TRANSMISSION && c->inflight == 0 &&
	    !c->have_request && transport_is_tls(c->t) && transport_tls_test_hooks_set())
		transport_tls_replies_sent(c->t, c->requests, c->peer);
	if (outq_empty(&c->out) && c->state == CONN_DRAINING && c->inflight == 0) {
		(void)transport_shutdown(c->t);
		conn_free(c);
		return false;
	}
	if (c->read_paused && c->out.bytes < CONN_OUTPUT_HIGH / 2 &&
	    c->inflight < CONN_MAX_INFLIGHT / 2) {
		c->read_paused = false;
		watch_request(c);
	}
	if (update_events(c) < 0) {
		conn_free(c);
		return false;
	}
	return true;
}

void conn_drain_and_close(struct conn *c)
{
	c->state = CONN_DRAINING;
	(void)conn_flush(c);
}

/* A request that ran in the pool or io_uring came back; its replies are queued. */
static void conn_complete(struct conn *c, int error)
{
	c->inflight--;
	if (c->zombie) {
		outq_clear(&c->out);
		if (c->inflight == 0)
			c->worker->reap = true;
		return;
	}
	if (error < 0) {
		log_error("Connection %s: out of memory; closing", c->peer);
		conn_free(c);
		return;
	}
	if (conn_flush(c) && has_buffered_requests(c))
		conn_on_readable(c);
}

/* Runs every complete request in the buffer. Returns 0, or negative to close. */
static int process_requests(struct conn *c)
{
	int r;

	while (c->state == CONN_TRANSMISSION && !c->read_paused) {
		if (!c->have_request) {
			r = dispatch_take_request(c);
			if (r <= 0)
				return r;
		}
		if (c->verdict.payload && !payload_fill(c))
			return 0;
		r = dispatch_finish_request(c);
		if (r < 0)
			return r;
		if (c->out.bytes >= CONN_OUTPUT_HIGH) {
			if (!conn_flush(c))
				return -ECANCELED; /* already freed */
			if (c->out.bytes >= CONN_OUTPUT_HIGH)
				c->read_paused = true;
		}
	}
	return 0;
}

/* Reads once into the input buffer (or, for a large WRITE, straight into its payload or its file).
 * Returns bytes read, 0 at EOF, -EAGAIN when there is nothing, or another negative errno. */
static ssize_t conn_read(struct conn *c)
{
	size_t header, have, want;
	ssize_t n;

	if (c->have_request && c->mode == PAYLOAD_PIPE)
		return payload_splice(c);
	if (c->have_request && c->mode == PAYLOAD_MAPPED)
		return payload_receive_mapped(c);

	/* A large payload goes straight to its buffer once the input buffer holds nothing more. */
	if (c->have_request && c->payload && c->in_start == c->in_end &&
	    c->verdict.payload - c->payload_have >= CONN_INPUT_SIZE / 2) {
		n = transport_recv(c->t, c->payload + c->payload_have,
				   (size_t)c->verdict.payload - c->payload_have);
		if (n > 0)
			c->payload_have += (size_t)n;
		return n;
	}
	if (c->in_start == c->in_end) {
		c->in_start = c->in_end = 0;
	} else if (c->in_start > 0 && CONN_INPUT_SIZE - c->in_end < NBD_EXTENDED_REQUEST_SIZE) {
		memmove(c->in, c->in + c->in_start, c->in_end - c->in_start);
		c->in_end -= c->in_start;
		c->in_start = 0;
	}
	/* After a spliced payload the next header is read alone, so that the payload of a WRITE after it
	 * stays in the socket, to be spliced too. Until the header is whole: a read that found the
	 * socket empty, or part of the header, must not let the next one take payload bytes with it
	 * (with a client slower than the server, that sent a third of nbdcopy's 256 KiB WRITEs
	 * through a pipe or a buffer, copied twice). */
	header = dispatch_header_size(c);
	have = c->in_end - c->in_start;
	want = CONN_INPUT_SIZE - c->in_end;
	if (c->header_only && have < header)
		want = MIN(header - have, want);
	n = transport_recv(c->t, c->in + c->in_end, want);
	if (n > 0)
		c->in_end += (size_t)n;
	if (c->in_end - c->in_start >= header)
		c->header_only = false;
	return n;
}

/* After STARTTLS: its reply leaves in the clear first, then the TLS handshake runs a step per
 * event. A failed handshake closes the connection at once: nothing in the clear follows it. */
static void conn_tls_step(struct conn *c)
{
	int r;

	if (!conn_flush(c) || !outq_empty(&c->out))
		return;
	r = negotiate_tls_step(c);
	if (r < 0) {
		conn_free(c);
		return;
	}
	if (r == 0) {
		if (update_events(c) < 0)
			conn_free(c);
		return;
	}
	/* Options again, over TLS; the client's first ones may already wait in the session. */
	conn_on_readable(c);
}

static void conn_on_readable(struct conn *c)
{
	uint64_t requests_before = c->requests;
	bool received = false, socket_empty = false;
	size_t bytes = 0;
	int r = 0;

	if (c->state == CONN_TLS_HANDSHAKE) {
		conn_tls_step(c);
		return;
	}

	if (has_buffered_requests(c)) {
		r = process_requests(c);
		if (r == -ECANCELED)
			return;
		if (r < 0) {
			conn_drain_and_close(c);
			return;
		}
	}

	/* Bounded so that one busy client cannot starve the others on this worker. */
	for (int rounds = 0; rounds < 16 && !c->read_paused && c->state != CONN_DRAINING; rounds++) {
		ssize_t n = conn_read(c);

		if (n == -EAGAIN || n == -EINTR) {
			socket_empty = n == -EAGAIN;
			break;
		}
		if (n > 0) {
			received = true;
			bytes += (size_t)n;
		}
		if (n <= 0) {
			if (n < 0)
				log_info("Connection %s: receiving failed: %s", c->peer,
					 strerror((int)-n));
			else if (c->state == CONN_HANDSHAKE || c->have_request ||
				 c->in_start != c->in_end)
				log_info("Connection %s: client closed the connection mid-message",
					 c->peer);
			c->eof = true;
			r = -ECONNRESET;
			break;
		}
		if (c->state == CONN_HANDSHAKE || c->state == CONN_TLS_HANDSHAKE) {
			r = negotiate_step(c);
			if (r <= 0)
				break;
		}
		if (c->have_request &&
		    (c->payload || c->mode == PAYLOAD_PIPE || c->mode == PAYLOAD_MAPPED) &&
		    c->payload_have == c->verdict.payload &&
		    c->in_start == c->in_end) {
			r = dispatch_finish_request(c);
			if (r < 0)
				break;
		}
		r = process_requests(c);
		if (r == -ECANCELED)
			return; /* freed while flushing */
		if (r < 0)
			break;
		/* Large replies leave as soon as a batch is done: the client is waiting on them to
		 * send more. Small ones gather until reading would block (the flush below). */
		if (c->out.bytes >= CONN_OUTPUT_EAGER && !conn_flush(c))
			return;
	}
	if (r < 0) {
		if (r == -ENOMEM)
			log_error("Connection %s: out of memory; closing", c->peer);
		conn_drain_and_close(c);
		return;
	}
	if (c->state == CONN_TLS_HANDSHAKE) {
		conn_tls_step(c);
		return;
	}
	/* What the socket holds before it wakes this worker again. */
	if (c->lowat_max || c->lowat > 1)
		wakeup_rearm(c, (unsigned)MIN(c->requests - requests_before, (uint64_t)UINT_MAX), bytes,
			     socket_empty);
	if (received)
		watch_request(c);
	if (conn_flush(c) && transport_has_input(c))
		c->worker->rescan = true;
}

void conn_rescan(struct worker *w)
{
	struct conn *c, *next;

	for (c = w->conns; c; c = next) {
		next = c->next;
		if (transport_has_input(c))
			conn_on_readable(c);
	}
}

/* Which part of the handshake a connection is in, for the message when its time is up. */
static const char *handshake_phase(const struct conn *c)
{
	if (c->state == CONN_TLS_HANDSHAKE)
		return "TLS handshake";
	return transport_is_tls(c->t) ? "NBD handshake (over TLS)" : "NBD handshake";
}

int64_t conn_expire_stalled(struct worker *w, int64_t now)
{
	struct conn *c, *next;
	int64_t earliest = 0;

	for (c = w->conns; c; c = next) {
		/* c->hs goes when transmission starts; from then on the client may be idle, but not in
		 * the middle of a request. */
		int64_t deadline = c->hs ? c->handshake_deadline
				  : mid_request(c) ? c->request_deadline : 0;

		next = c->next;
		if (c->zombie || !deadline)
			continue;
		if (now < deadline) {
			if (!earliest || deadline < earliest)
				earliest = deadline;
			continue;
		}
		/* Nothing more is sent: a client that stalls would not read it, and in the middle of
		 * a TLS handshake there is nothing to send. */
		if (c->hs)
			log_notice("%s with %s did not finish within %u s; connection closed",
				   handshake_phase(c), c->peer, c->handshake_timeout);
		else
			log_notice("Connection %s: a request begun %s was not received whole: nothing "
				   "came for %u s; connection closed", c->peer,
				   c->have_request ? "(its payload)" : "(its header)", c->request_timeout);
		conn_free(c);
	}
	return earliest;
}

static void conn_dispatch_read(struct loop_source *s, uint32_t events)
{
	struct conn *c = container_of(s, struct conn, rsrc);

	/* Closed by an earlier event of the same batch. */
	if (c->zombie)
		return;
	if (c->state == CONN_TLS_HANDSHAKE) {
		conn_tls_step(c);
		return;
	}
	if (c->t->rfd == c->t->wfd && (events & EPOLLOUT)) {
		if (!conn_flush(c))
			return;
	}
	if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) || has_buffered_requests(c))
		conn_on_readable(c);
}

static void conn_dispatch_write(struct loop_source *s, uint32_t events)
{
	struct conn *c = container_of(s, struct conn, wsrc);

	/* conn_flush() and has_buffered_requests() see a closed connection (zombie) for what it is. */
	if (conn_flush(c) && has_buffered_requests(c))
		conn_on_readable(c);
}

int conn_new(struct worker *w, int rfd, int wfd, const struct sockaddr_storage *peer,
	     socklen_t peer_len)
{
	_cleanup_(transport_closep) struct transport *t = NULL;
	struct epoll_event ev;
	struct conn *c;
	int r;

	r = transport_plain_new(rfd, wfd, &t);
	if (r < 0) {
		safe_close(rfd);
		if (wfd != rfd)
			safe_close(wfd);
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->worker = w;
	c->spipe[0] = c->spipe[1] = -EBADF;
	c->can_splice = t->caps & TRANSPORT_CAN_SPLICE;
	c->lowat = 1;
	/* Only TCP's wake-ups heed SO_RCVLOWAT (a Unix socket's do not), which PAYLOAD_MAPPED needs. */
	if (c->can_splice && socket_is_tcp(rfd))
		c->lowat_max = MAPPED_PAYLOAD_MAX;
	c->complete = conn_complete;
	c->rsrc = (struct loop_source){ .fd = rfd, .dispatch = conn_dispatch_read };
	c->wsrc = (struct loop_source){ .fd = wfd, .dispatch = conn_dispatch_write };
	if (peer_len)
		memcpy(&c->peer_addr, peer, sizeof(*peer));
	sockaddr_name(peer, peer_len, c->peer, sizeof(c->peer));
	c->in = malloc(CONN_INPUT_SIZE);
	r = c->in ? negotiate_start(c) : -ENOMEM;
	if (r < 0) {
		free(c->in);
		free(c);
		return r;
	}
	worker_watch_deadline(w, c->handshake_deadline);
	(void)fd_set_nonblock(rfd, true);
	if (wfd != rfd)
		(void)fd_set_nonblock(wfd, true);
	(void)socket_set_nodelay(wfd);

	c->rev = EPOLLIN | EPOLLRDHUP;
	ev = (struct epoll_event){ .events = c->rev, .data.ptr = &c->rsrc };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, rfd, &ev) < 0) {
		r = negative_errno();
		negotiate_done(c);
		free(c->in);
		free(c);
		return r;
	}
	if (wfd != rfd) {
		ev = (struct epoll_event){ .events = 0, .data.ptr = &c->wsrc };
		(void)epoll_ctl(w->epfd, EPOLL_CTL_ADD, wfd, &ev);
	}
	c->t = TAKE_PTR(t);
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	log_debug("Connection %s: accepted", c->peer);

	/* The greeting goes out at once. */
	if (negotiate_step(c) < 0) {
		conn_drain_and_close(c);
		return 0;
	}
	(void)conn_flush(c);
	return 0;
}
