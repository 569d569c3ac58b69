/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The TLS transport: after NBD_OPT_STARTTLS the plain transport's socket carries a GnuTLS session
 * (tls/), through which the rest of the negotiation, NBD_OPT_GO included, is read and written. A
 * TLS 1.3 server's session tickets follow its Finished, so reading the GO reply through the
 * session is what takes them off the socket. At the end the session's keys go into the kernel's
 * TLS (tls/ktls.h) and the socket is released to the nbd driver: no process stays in the data
 * path. Where the kernel cannot take the session, or the user said so, the session and socket go
 * to a relay instead (tls-relay.h), and the driver gets the relay's other end. The socket is
 * non-blocking while the session uses it, and blocking again once the kernel holds it.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/tls-relay.h"
#include "client/transport-tls.h"
#include "common/clock.h"
#include "common/io.h"
#include "tls/ktls.h"

/* Waits for what the session wants, within the deadline (-1: none). */
static int wait_session(struct client_transport *t, int64_t deadline)
{
	struct tls_session *s = t->data;
	int left = deadline < 0 ? -1 : (int)MAX(deadline - now_ms(), 0);

	if (deadline >= 0 && left == 0)
		return -ETIMEDOUT;
	return fd_wait_for(t->fd, tls_session_wants_write(s) ? POLLOUT : POLLIN, left);
}

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

static ssize_t tls_recv(struct client_transport *t, void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);
	size_t done = 0;

	while (done < len) {
		ssize_t n = tls_session_recv(t->data, (char *)buf + done, len - done);

		if (n == 0)
			break; /* the server ended the session */
		if (n == -EAGAIN) {
			int r = wait_session(t, deadline);

			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return n;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int tls_send(struct client_transport *t, const void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);
	size_t done = 0;

	while (done < len) {
		/* After "again", GnuTLS wants the very same data offered again. */
		ssize_t n = tls_session_send(t->data, (const char *)buf + done, len - done);

		if (n == -EAGAIN) {
			int r = wait_session(t, deadline);

			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return (int)n;
		done += (size_t)n;
	}
	return 0;
}

static void free_session(struct client_transport *t)
{
	tls_session_free(t->data);
	t->data = NULL;
}

/* The session and socket to a relay; the driver's end of it, or a negative errno. */
static int release_to_relay(struct client_transport *t, struct tls_relay **ret_relay, char *why,
			    size_t why_len)
{
	int kernel_fd, r = tls_relay_new(TAKE_PTR(t->data), TAKE_FD(t->fd), ret_relay, &kernel_fd);

	if (r < 0) {
		snprintf(why, why_len, "cannot set up the TLS relay: %s", strerror(-r));
		return r;
	}
	return kernel_fd;
}

static int tls_release(struct client_transport *t, enum client_ktls ktls,
		       struct tls_relay **ret_relay, char *why, size_t why_len)
{
	struct tls_session *s = t->data;
	int r;

	if (ktls == CLIENT_KTLS_NO)
		return release_to_relay(t, ret_relay, why, why_len);
	r = tls_session_to_kernel(s);
	/* -EREMOTEIO: half of the session is in the kernel; nothing can use the socket now. */
	if (r < 0 && (ktls == CLIENT_KTLS_YES || r == -EREMOTEIO)) {
		snprintf(why, why_len, "the kernel cannot take the TLS session: %s",
			 tls_session_error(s));
		free_session(t);
		close(TAKE_FD(t->fd));
		return r;
	}
	if (r < 0) {
		char reason[256];

		snprintf(reason, sizeof(reason), "%s", tls_session_error(s));
		r = release_to_relay(t, ret_relay, why, why_len);
		/* Said on success too, so that the caller can tell the user why a relay runs. */
		if (r >= 0)
			snprintf(why, why_len, "the kernel cannot take the TLS session (%s)", reason);
		return r;
	}
	/* The kernel encrypts from here; the session must not touch the socket again. */
	free_session(t);
	r = fd_set_nonblock(t->fd, false);
	if (r < 0) {
		close(TAKE_FD(t->fd));
		return r;
	}
	return TAKE_FD(t->fd);
}

static void tls_close(struct client_transport *t)
{
	if (t->data) {
		tls_session_bye(t->data); /* best effort: the socket is non-blocking */
		free_session(t);
	}
	if (t->fd >= 0)
		close(TAKE_FD(t->fd));
}

static const char *tls_error(const struct client_transport *t)
{
	return t->data ? tls_session_error(t->data) : NULL;
}

static const struct client_transport_ops tls_ops = {
	.name = "tls",
	.recv = tls_recv,
	.send = tls_send,
	.release = tls_release,
	.close = tls_close,
	.error = tls_error,
};

int client_transport_start_tls(struct client_transport *t, const struct tls_creds *creds,
			       int timeout_ms, char *why, size_t why_len)
{
	int64_t deadline = deadline_of(timeout_ms);
	struct tls_session *s = NULL;
	int r;

	r = fd_set_nonblock(t->fd, true);
	if (r < 0)
		return r;
	r = tls_session_new(creds, t->fd, &s);
	if (r < 0) {
		snprintf(why, why_len, "cannot start a TLS session: %s", strerror(-r));
		return r;
	}
	/* From here the socket belongs to the session: t's plain operations are done with it. */
	t->ops = &tls_ops;
	t->data = s;
	for (;;) {
		r = tls_session_handshake(s);
		if (r != -EAGAIN)
			break;
		r = wait_session(t, deadline);
		if (r < 0) {
			snprintf(why, why_len, "the TLS handshake %s",
				 r == -ETIMEDOUT ? "timed out" : strerror(-r));
			return r;
		}
	}
	if (r < 0) {
		snprintf(why, why_len, "the TLS handshake failed: %s", tls_session_error(s));
		return r;
	}
	tls_session_describe(s, t->note, sizeof(t->note));
	return 0;
}
