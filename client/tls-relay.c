/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The relay carries an NBD connection between the nbd driver's end of a socketpair (the "local"
 * socket here is the other end) and a TLS session on the network socket, in the supervisor's own
 * event loop: no thread, no process of its own. Each direction has one buffer, filled from one
 * side and drained to the other; when a buffer is full its source is simply not read, so the
 * kernel's socket buffers hold the rest and a slow side slows the other, with memory bounded at
 * two buffers a connection (allocated once, so a -swap supervisor locks them with the rest).
 *
 * GnuTLS reads every record, so a TLS 1.3 key update (it answers one itself), a late session
 * ticket or an alert is handled here instead of stopping the kernel's reader. Its output goes
 * through the session's queue (tls_session_queue_output()), so that a send is never left half
 * done: GnuTLS, told "again" on a send and then answering a key update, would send the pending
 * data twice. The queue is bounded by reading no more from the driver while it holds a
 * buffer's worth.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/tls-relay.h"
#include "common/clock.h"
#include "common/io.h"
#include "tls/tls.h"

/* Enough for several requests and replies in flight; the largest TLS record carries 16 KiB. */
#define RELAY_BUFFER_SIZE (128 * 1024)
#define TLS_RECORD_PLAINTEXT_MAX 16384
/* How long ending a relay may wait for the server to take what is still queued for it (the
 * driver's NBD_CMD_DISC, the close_notify). */
#define RELAY_DRAIN_MS 500

struct relay_buffer {
	size_t start, len;
	unsigned char data[RELAY_BUFFER_SIZE];
};

struct tls_relay {
	struct tls_session *session;
	int net_fd;
	int local_fd;
	bool closed;                     /* the session ended: no close_notify to send */
	struct relay_buffer to_kernel;   /* server's replies, decrypted */
	struct relay_buffer to_server;   /* the driver's requests, to encrypt */
	char error[256];
};

/* Best effort, bounded: what is queued for the server goes out before the socket closes. */
static void drain(struct tls_relay *r)
{
	int64_t deadline = now_ms() + RELAY_DRAIN_MS;

	while (tls_session_flush(r->session) == -EAGAIN) {
		int left = (int)(deadline - now_ms());

		if (left <= 0 || fd_wait_for(r->net_fd, POLLOUT, left) < 0)
			break;
	}
}

int tls_relay_new(struct tls_session *session, int net_fd, struct tls_relay **ret,
		  int *ret_kernel_fd)
{
	struct tls_relay *r = calloc(1, sizeof(*r));
	int pair[2], e;

	if (!r) {
		tls_session_free(session);
		close(net_fd);
		return -ENOMEM;
	}
	r->session = session;
	r->net_fd = net_fd;
	r->local_fd = -1;
	/* GnuTLS must never be told "again" on a send (see tls_session_queue_output()). */
	e = tls_session_queue_output(session);
	if (e < 0) {
		tls_relay_free(r);
		return e;
	}
	/* SOCK_STREAM: the driver reads replies with MSG_WAITALL and writes requests in pieces,
	 * like on TCP. Only our end is non-blocking; the driver's blocks as its sockets do. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
		e = negative_errno();
		tls_relay_free(r);
		return e;
	}
	r->local_fd = pair[0];
	e = fd_set_nonblock(r->local_fd, true);
	if (e < 0) {
		close(pair[1]);
		tls_relay_free(r);
		return e;
	}
	*ret = r;
	*ret_kernel_fd = pair[1];
	return 0;
}

int tls_relay_net_fd(const struct tls_relay *r)
{
	return r->net_fd;
}

int tls_relay_local_fd(const struct tls_relay *r)
{
	return r->local_fd;
}

const char *tls_relay_error(const struct tls_relay *r)
{
	return r->error;
}

int tls_relay_records(const struct tls_relay *r, uint64_t *ret_sent, uint64_t *ret_received)
{
	return tls_session_records(r->session, ret_sent, ret_received);
}

static int failed(struct tls_relay *r, int e, const char *what, const char *detail)
{
	snprintf(r->error, sizeof(r->error), "%s%s%s", what, detail && *detail ? ": " : "",
		 detail ? detail : "");
	return e;
}

/* Free space at the end of b, after moving its data to the front when that makes room. */
static size_t room(struct relay_buffer *b)
{
	if (b->len == 0)
		b->start = 0;
	else if (b->start > 0 && b->start + b->len == RELAY_BUFFER_SIZE) {
		memmove(b->data, b->data + b->start, b->len);
		b->start = 0;
	}
	return RELAY_BUFFER_SIZE - b->start - b->len;
}

static int net_bytes_waiting(const struct tls_relay *r)
{
	int n = 0;

	return ioctl(r->net_fd, FIONREAD, &n) < 0 ? 0 : n;
}

/* Server to driver: records in, as many as fit; then out to the driver's socket. 1: something
 * moved; 0: nothing could; negative errno: the connection is over. */
static int move_to_kernel(struct tls_relay *r)
{
	struct relay_buffer *b = &r->to_kernel;
	int moved = 0;
	size_t space;

	while ((space = room(b)) > 0) {
		int before = net_bytes_waiting(r), after;
		ssize_t n = tls_session_recv(r->session, b->data + b->start + b->len, space);

		/* GnuTLS answers "again" after a post-handshake message (a key update, a ticket)
		 * even with records behind it on the socket, and edge-triggered readiness will not
		 * come again for those: read on while reading takes bytes off the socket. */
		if (n == -EAGAIN) {
			after = net_bytes_waiting(r);
			if (after > 0 && after < before)
				continue;
			break;
		}
		if (n == 0) {
			r->closed = true;
			return failed(r, -ECONNRESET, "the server ended the TLS session", NULL);
		}
		if (n < 0) {
			r->closed = true;
			return failed(r, (int)n, "TLS from the server failed",
				      tls_session_error(r->session));
		}
		b->len += (size_t)n;
		moved = 1;
	}
	while (b->len > 0) {
		ssize_t n = send(r->local_fd, b->data + b->start, b->len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return failed(r, negative_errno(), "the device's end of the connection failed",
				      strerror(errno));
		}
		b->start += (size_t)n;
		b->len -= (size_t)n;
		moved = 1;
	}
	return moved;
}

/* Driver to server: the driver's bytes in, while what is queued for the server stays below a
 * buffer's worth; then into the session, which takes all of it. */
static int move_to_server(struct tls_relay *r)
{
	struct relay_buffer *b = &r->to_server;
	bool local_closed = false;
	int moved = 0;
	size_t space;

	while (tls_session_queued(r->session) < RELAY_BUFFER_SIZE && (space = room(b)) > 0) {
		ssize_t n = recv(r->local_fd, b->data + b->start + b->len, space, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return failed(r, negative_errno(), "the device's end of the connection failed",
				      strerror(errno));
		}
		if (n == 0) {
			/* What the driver wrote last (NBD_CMD_DISC, say) still goes out. */
			local_closed = true;
			break;
		}
		b->len += (size_t)n;
		moved = 1;
	}
	while (b->len > 0) {
		ssize_t n = tls_session_send(r->session, b->data + b->start,
					     MIN(b->len, TLS_RECORD_PLAINTEXT_MAX));

		if (n < 0) {
			r->closed = true;
			return failed(r, (int)n, "TLS to the server failed",
				      tls_session_error(r->session));
		}
		b->start += (size_t)n;
		b->len -= (size_t)n;
		moved = 1;
	}
	if (local_closed)
		return failed(r, -ESHUTDOWN, "the device let the connection go", NULL);
	return moved;
}

int tls_relay_pump(struct tls_relay *r)
{
	/* Until neither direction moves: a drained buffer lets its source be read again, and the
	 * edge-triggered events will not say so a second time. */
	for (;;) {
		int down, up, flushed = tls_session_flush(r->session);

		if (flushed < 0 && flushed != -EAGAIN) {
			r->closed = true;
			return failed(r, flushed, "sending to the server failed",
				      tls_session_error(r->session));
		}
		down = move_to_kernel(r);
		if (down < 0)
			return down;
		up = move_to_server(r);
		if (up < 0)
			return up;
		if (!down && !up) {
			flushed = tls_session_flush(r->session);
			if (flushed < 0 && flushed != -EAGAIN) {
				r->closed = true;
				return failed(r, flushed, "sending to the server failed",
					      tls_session_error(r->session));
			}
			return 0;
		}
	}
}

struct tls_relay *tls_relay_free(struct tls_relay *r)
{
	if (!r)
		return NULL;
	/* What the driver wrote last, unread yet, still goes out before the close_notify: its
	 * NBD_CMD_DISC, written as the supervisor disconnected the device. */
	if (!r->closed && r->local_fd >= 0)
		(void)move_to_server(r);
	if (!r->closed) {
		tls_session_bye(r->session);
		drain(r);
	}
	tls_session_free(r->session);
	safe_close(r->net_fd);
	safe_close(r->local_fd);
	free(r);
	return NULL;
}
