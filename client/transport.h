/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the client's negotiation reads and writes through: a connected socket wrapped in a small
 * set of operations. The plain socket is transport-plain.c; after NBD_OPT_STARTTLS a GnuTLS
 * session replaces it (transport-tls.c), and at the end of the handshake the socket is
 * handed to the kernel, with kernel TLS keys installed first when the session allows. Nothing in
 * the client reads or writes a connection during negotiation except through these operations.
 */
#pragma once

#include <sys/types.h>

#include "client/options.h"
#include "common/macro.h"

struct client_transport;
struct tls_relay;

struct client_transport_ops {
	const char *name;
	/* Reads len bytes within timeout_ms (-1: no limit). Returns len, fewer only at the end of
	 * the stream, or a negative errno (-ETIMEDOUT, -ECONNRESET, ...). */
	ssize_t (*recv)(struct client_transport *t, void *buf, size_t len, int timeout_ms);
	/* Writes all of buf within timeout_ms. 0 or a negative errno. */
	int (*send)(struct client_transport *t, const void *buf, size_t len, int timeout_ms);
	/* Ends the transport and gives a socket for the transmission phase, which the kernel runs.
	 * For TLS, ktls says where the session goes: into the kernel's TLS with the socket, or
	 * (CLIENT_KTLS_NO, or AUTO when the kernel cannot take it) to a relay (*ret_relay) whose
	 * other end is returned. The fd, or a negative errno, in which case the transport is closed
	 * and why says what failed. */
	int (*release)(struct client_transport *t, enum client_ktls ktls,
		       struct tls_relay **ret_relay, char *why, size_t why_len);
	/* Ends the transport and closes its socket. */
	void (*close)(struct client_transport *t);
	/* Why the last recv or send failed, in words, when the transport knows more than its errno
	 * (a TLS alert from the server); NULL or "" otherwise. Optional. */
	const char *(*error)(const struct client_transport *t);
};

struct client_transport {
	const struct client_transport_ops *ops;
	int fd;     /* the socket underneath */
	void *data; /* the operations' own state (a TLS session); NULL for plain */
	char note[128]; /* after STARTTLS: the session, "TLS1.3, AES-256-GCM, X.509"; else "" */
};

#define CLIENT_TRANSPORT_NONE { .fd = -1 }

/* A plain transport over fd, which it owns from now on. */
void client_transport_plain(struct client_transport *t, int fd);

static inline ssize_t client_transport_recv(struct client_transport *t, void *buf, size_t len,
					    int timeout_ms)
{
	return t->ops->recv(t, buf, len, timeout_ms);
}

static inline int client_transport_send(struct client_transport *t, const void *buf, size_t len,
					int timeout_ms)
{
	return t->ops->send(t, buf, len, timeout_ms);
}

/* The socket for the kernel, and the relay serving it if any (NULL: none); t is empty
 * afterwards. */
static inline int client_transport_release(struct client_transport *t, enum client_ktls ktls,
					   struct tls_relay **ret_relay, char *why, size_t why_len)
{
	int fd;

	*ret_relay = NULL;
	fd = t->ops->release(t, ktls, ret_relay, why, why_len);

	*t = (struct client_transport)CLIENT_TRANSPORT_NONE;
	return fd;
}

/* Why the last recv or send failed, or NULL when the errno says it all. */
static inline const char *client_transport_error(const struct client_transport *t)
{
	const char *e = t->ops && t->ops->error ? t->ops->error(t) : NULL;

	return e && *e ? e : NULL;
}

/* Closes t if it holds a connection; an empty t is left alone. */
static inline void client_transport_close(struct client_transport *t)
{
	if (t->ops)
		t->ops->close(t);
	*t = (struct client_transport)CLIENT_TRANSPORT_NONE;
}
