/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a connection's bytes travel over once it is accepted: the plain socket today
 * (transport-plain.c); a TLS session after NBD_OPT_STARTTLS replaces it (transport-tls.c, with GnuTLS),
 * and so would kernel TLS. Everything a connection reads or writes goes through these operations;
 * nothing else in the server touches a connection's fds except the event loop, which only watches
 * them, and the zero-copy paths, which only run when the capability flags allow.
 *
 * The capabilities say whether bytes may leave or enter the process without passing through the
 * transport: splice() of READ data to wfd, and splice() of WRITE payloads from rfd. Only a
 * transport whose bytes on the wire are the bytes of the protocol may claim them: a plain socket,
 * or kernel TLS (the kernel encrypts), never a user-space TLS session.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common/macro.h"
#include "server/tls-creds.h"

enum {
	TRANSPORT_CAN_SENDFILE = 1u << 0, /* file data may be spliced to wfd (as sendfile() does) */
	TRANSPORT_CAN_SPLICE = 1u << 1,   /* payloads may be splice()d out of rfd */
};

struct transport;

struct transport_ops {
	const char *name;
	/* Up to len bytes: the count, 0 at end of stream, -EAGAIN when nothing is there yet, or
	 * another negative errno. Never blocks. */
	ssize_t (*recv)(struct transport *t, void *buf, size_t len);
	/* Sends from iov (more: further bytes follow at once, so the transport may hold a partial
	 * segment back). Returns bytes taken, -EAGAIN when none fit, or another negative errno. */
	ssize_t (*send)(struct transport *t, const struct iovec *iov, int iovcnt, bool more);
	/* Optional: bytes the transport already holds for recv(), which the event loop cannot see
	 * on the fd (decrypted and waiting in a TLS session). */
	size_t (*pending)(struct transport *t);
	/* No more output: the end of the stream, sent in the transport's own way (for TLS, its
	 * close_notify). */
	int (*shutdown)(struct transport *t);
	/* Closes the fds and frees t. */
	void (*close)(struct transport *t);
};

struct transport {
	const struct transport_ops *ops;
	int rfd, wfd; /* for the event loop to watch; one socket but in stdio mode (stdin, stdout) */
	unsigned caps; /* TRANSPORT_CAN_* */
};

/* A transport over rfd and wfd as they are; it owns them from now on (closed by close()). */
int transport_plain_new(int rfd, int wfd, struct transport **ret);

/* transport-tls.c. A TLS session over plain's socket, which it takes over (plain is freed); the
 * session holds a reference to creds. Only for a transport over one socket. */
int transport_tls_new(struct transport *plain, struct srv_tls *creds, struct transport **ret);
bool transport_is_tls(const struct transport *t);
/* One step of the TLS handshake: 0 when done, -EAGAIN to wait (for writing when
 * transport_tls_wants_write()), another negative errno when it failed (transport_tls_error()). */
int transport_tls_handshake(struct transport *t);
bool transport_tls_wants_write(const struct transport *t);
const char *transport_tls_error(const struct transport *t);
void transport_tls_describe(const struct transport *t, char *buf, size_t len);
/* Moves the established session into the kernel's TLS: 0, and the transport claims sendfile;
 * or a negative errno with transport_tls_error() saying why, and the session goes on in user
 * space, except after -EREMOTEIO (the connection is unusable). */
int transport_tls_to_kernel(struct transport *t);
/* Test hooks (see transport-tls.c): reads NBDM_TLS_TEST_* once, at start; whether any is set; and
 * the point where they may act, when every reply to the `replies` requests of transmission so far
 * has been sent (peer names the connection in the log). */
void transport_tls_read_test_hooks(void);
bool transport_tls_test_hooks_set(void);
void transport_tls_replies_sent(struct transport *t, uint64_t replies, const char *peer);

static inline size_t transport_pending(struct transport *t)
{
	return t && t->ops->pending ? t->ops->pending(t) : 0;
}

static inline ssize_t transport_recv(struct transport *t, void *buf, size_t len)
{
	return t->ops->recv(t, buf, len);
}

static inline ssize_t transport_send(struct transport *t, const struct iovec *iov, int iovcnt,
				     bool more)
{
	return t->ops->send(t, iov, iovcnt, more);
}

static inline int transport_shutdown(struct transport *t)
{
	return t->ops->shutdown(t);
}

static inline struct transport *transport_close(struct transport *t)
{
	if (t)
		t->ops->close(t);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct transport *, transport_close);
