/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The plain transport: the accepted socket (or stdin and stdout in -s mode) as it is.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/io.h"
#include "server/transport.h"

static ssize_t plain_recv(struct transport *t, void *buf, size_t len)
{
	ssize_t n = read(t->rfd, buf, len);

	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
	return n;
}

static ssize_t plain_send(struct transport *t, const struct iovec *iov, int iovcnt, bool more)
{
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	ssize_t n;

	/* More is coming: let TCP fill its segments. */
	n = sendmsg(t->wfd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0));
	if (n < 0 && errno == ENOTSOCK)
		n = writev(t->wfd, iov, iovcnt); /* stdout of -s mode may be a pipe */
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
	return n;
}

static int plain_shutdown(struct transport *t)
{
	if (shutdown(t->wfd, SHUT_WR) < 0 && errno != ENOTSOCK)
		return negative_errno();
	return 0;
}

static void plain_close(struct transport *t)
{
	if (t->wfd != t->rfd)
		safe_close(t->wfd);
	safe_close(t->rfd);
	free(t);
}

static const struct transport_ops plain_ops = {
	.name = "plain",
	.recv = plain_recv,
	.send = plain_send,
	.shutdown = plain_shutdown,
	.close = plain_close,
};

int transport_plain_new(int rfd, int wfd, struct transport **ret)
{
	struct transport *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	*t = (struct transport){
		.ops = &plain_ops,
		.rfd = rfd,
		.wfd = wfd,
		/* The bytes on the wire are ours unchanged. Payloads are spliced from sockets only:
		 * stdio mode reads a pipe or a terminal. */
		.caps = TRANSPORT_CAN_SENDFILE | (rfd == wfd ? TRANSPORT_CAN_SPLICE : 0),
	};
	*ret = t;
	return 0;
}
