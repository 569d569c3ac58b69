/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fd-passing.h"
#include "common/macro.h"

/* One byte of data carrying room for one descriptor: what each message of this protocol is. */
struct fd_message {
	char byte;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov;
	struct msghdr msg;
};

static void fd_message_init(struct fd_message *m)
{
	*m = (struct fd_message){ .byte = 'F' };
	m->iov = (struct iovec){ .iov_base = &m->byte, .iov_len = 1 };
	m->msg = (struct msghdr){
		.msg_iov = &m->iov,
		.msg_iovlen = 1,
		.msg_control = m->control.buf,
		.msg_controllen = sizeof(m->control.buf),
	};
}

int fd_send(int sock, int fd)
{
	struct fd_message m;
	struct cmsghdr *c;
	ssize_t n;

	fd_message_init(&m);
	c = CMSG_FIRSTHDR(&m.msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		n = sendmsg(sock, &m.msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? negative_errno() : 0;
}

int fd_receive(int sock, int *ret_fd)
{
	struct fd_message m;
	struct cmsghdr *c;
	ssize_t n;
	int fd = -EBADF;

	fd_message_init(&m);
	do
		n = recvmsg(sock, &m.msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
	if (n == 0)
		return 0;
	for (c = CMSG_FIRSTHDR(&m.msg); c; c = CMSG_NXTHDR(&m.msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
	/* A truncated control message would have closed the descriptors it could not hold. */
	if (fd < 0 || (m.msg.msg_flags & MSG_CTRUNC)) {
		if (fd >= 0)
			close(fd);
		return -EBADMSG;
	}
	*ret_fd = fd;
	return 1;
}
