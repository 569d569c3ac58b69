/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a connection's bytes travel over once it is accepted: the plain socket today
 * (transport-plain.c); a TLS session after NBD_OPT_STARTTLS replaces it (transport-tls.c, with GnuTLS),
 * and so would kernel TLS. Everything a connection reads or writes goes through these operations;
 * nothing else in the server touches a connection's fds except the event loop, which only watches
 * them, and the zero-copy paths, which only run when the capability flags allow.
 *
 * The capabilities say whether bytes may leave or enter the process without passing through the
 * transport: sendfile() of READ data to wfd, and splice() of WRITE payloads from rfd. Only a
 * transport whose bytes on the wire are the bytes of the protocol may claim them: a plain socket,
 * or kernel TLS (the kernel encrypts), never a user-space TLS session.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common/macro.h"

enum {
	TRANSPORT_CAN_SENDFILE = 1u << 0, /* file ranges may be sendfile()d to wfd */
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
