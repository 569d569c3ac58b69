/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The plain transport: the socket's bytes are the protocol's. */
#include <unistd.h>

#include "client/transport.h"
#include "common/io.h"

static ssize_t plain_recv(struct client_transport *t, void *buf, size_t len, int timeout_ms)
{
	return read_full_timeout(t->fd, buf, len, timeout_ms);
}

static int plain_send(struct client_transport *t, const void *buf, size_t len, int timeout_ms)
{
	return write_full(t->fd, buf, len, timeout_ms);
}

static int plain_release(struct client_transport *t, enum client_ktls ktls,
			 struct tls_relay **ret_relay, char *why, size_t why_len)
{
	return TAKE_FD(t->fd);
}

static void plain_close(struct client_transport *t)
{
	if (t->fd >= 0)
		close(TAKE_FD(t->fd));
}

static const struct client_transport_ops plain_ops = {
	.name = "plain",
	.recv = plain_recv,
	.send = plain_send,
	.release = plain_release,
	.close = plain_close,
};

void client_transport_plain(struct client_transport *t, int fd)
{
	*t = (struct client_transport){ .ops = &plain_ops, .fd = fd };
}
