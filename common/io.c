/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sockets are driven with send()/recv() and MSG_DONTWAIT whenever a timeout is set, so that a blocking
 * socket cannot sleep in the kernel past the deadline, and with MSG_NOSIGNAL always, so that a peer that
 * hung up gives -EPIPE instead of killing the process. Other fds (pipes, files, ttys) cannot take those
 * flags: they are polled before each read when a timeout is set, and written with plain write().
 *
 * Whether fd is a socket is learned from the first ENOTSOCK and remembered for the rest of the call,
 * which costs one failed syscall per call on a pipe and nothing on a socket (the common case here).
 */


#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/io.h"

enum fd_kind {
	FD_UNKNOWN,
	FD_SOCKET,
	FD_OTHER,
};

int fd_wait_for(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;
	int remaining = timeout_ms;

	for (;;) {
		int r = poll(&pfd, 1, remaining);
		if (r > 0)
			break;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;

		/* A signal must not restart the full timeout, or steady signals would stall it. */
		if (timeout_ms >= 0) {
			int64_t left = deadline - now_ms();
			remaining = left > 0 ? (int)left : 0;
		}
	}

	if (pfd.revents & POLLNVAL)
		return -EBADF;
	return pfd.revents;
}

/* One read attempt: >= 0 bytes, or a negative errno. -EAGAIN means "wait, then try again". */
static ssize_t read_once(int fd, void *buf, size_t len, int timeout_ms, enum fd_kind *kind)
{
	ssize_t n;
	int r;

	if (*kind != FD_OTHER) {
		n = recv(fd, buf, len, timeout_ms >= 0 ? MSG_DONTWAIT : 0);
		if (n >= 0)
			return n;
		if (errno != ENOTSOCK)
			return -errno;
		*kind = FD_OTHER;
	}

	/* Not a socket: only poll() can keep a blocking read within the timeout. */
	if (timeout_ms >= 0) {
		r = fd_wait_for(fd, POLLIN, timeout_ms);
		if (r < 0)
			return r;
	}
	n = read(fd, buf, len);
	return n >= 0 ? n : -errno;
}

ssize_t read_full_timeout(int fd, void *buf, size_t len, int timeout_ms)
{
	enum fd_kind kind = FD_UNKNOWN;
	uint8_t *p = buf;
	size_t done = 0;

	if (len > SSIZE_MAX)
		return -EINVAL;

	while (done < len) {
		ssize_t n = read_once(fd, p + done, len - done, timeout_ms, &kind);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0)
			break; /* end of file */
		if (n == -EINTR)
			continue;
		if (n != -EAGAIN && n != -EWOULDBLOCK)
			return n;

		/* Each wait gets the full timeout: it bounds silence, not the whole transfer. */
		int r = fd_wait_for(fd, POLLIN, timeout_ms);
		if (r < 0)
			return r;
	}

	return (ssize_t)done;
}

ssize_t read_full(int fd, void *buf, size_t len)
{
	return read_full_timeout(fd, buf, len, -1);
}

int read_exact(int fd, void *buf, size_t len, int timeout_ms)
{
	ssize_t n;

	n = read_full_timeout(fd, buf, len, timeout_ms);
	if (n < 0)
		return (int)n;
	if ((size_t)n == len)
		return 0;
	/* The peer closing between messages is an orderly end; closing inside one is not. */
	return n == 0 ? -EPIPE : -ECONNRESET;
}

static ssize_t write_once(int fd, const void *buf, size_t len, int timeout_ms, enum fd_kind *kind)
{
	ssize_t n;

	if (*kind != FD_OTHER) {
		n = send(fd, buf, len, MSG_NOSIGNAL | (timeout_ms >= 0 ? MSG_DONTWAIT : 0));
		if (n >= 0)
			return n;
		if (errno != ENOTSOCK)
			return -errno;
		*kind = FD_OTHER;
	}

	/*
	 * A blocking pipe may still sleep in write() once it has room for part of the data; only a
	 * non-blocking one honours the timeout exactly. Every fd this project times out on is a socket.
	 */
	n = write(fd, buf, len);
	return n >= 0 ? n : -errno;
}

int write_full(int fd, const void *buf, size_t len, int timeout_ms)
{
	enum fd_kind kind = FD_UNKNOWN;
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write_once(fd, p, len, timeout_ms, &kind);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -EINTR)
			continue;
		/* Only a broken driver takes nothing without an error; do not spin on it. */
		if (n == 0)
			return -EIO;
		if (n != -EAGAIN && n != -EWOULDBLOCK)
			return (int)n;

		int r = fd_wait_for(fd, POLLOUT, timeout_ms);
		if (r < 0)
			return r;
	}

	return 0;
}

static ssize_t writev_once(int fd, struct iovec *iov, int iovcnt, int timeout_ms, enum fd_kind *kind)
{
	ssize_t n;

	if (*kind != FD_OTHER) {
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };

		n = sendmsg(fd, &msg, MSG_NOSIGNAL | (timeout_ms >= 0 ? MSG_DONTWAIT : 0));
		if (n >= 0)
			return n;
		if (errno != ENOTSOCK)
			return -errno;
		*kind = FD_OTHER;
	}

	n = writev(fd, iov, iovcnt);
	return n >= 0 ? n : -errno;
}

int writev_full(int fd, struct iovec *iov, int iovcnt, int timeout_ms)
{
	enum fd_kind kind = FD_UNKNOWN;

	if (iovcnt < 0)
		return -EINVAL;

	for (;;) {
		/* The kernel reports 0 bytes for empty iovecs at the front, which is no progress. */
		while (iovcnt > 0 && iov->iov_len == 0) {
			iov++;
			iovcnt--;
		}
		if (iovcnt == 0)
			return 0;

		/* The kernel refuses more than IOV_MAX at once; the rest goes on a later turn. */
		ssize_t n = writev_once(fd, iov, MIN(iovcnt, IOV_MAX), timeout_ms, &kind);
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN || n == -EWOULDBLOCK) {
			int r = fd_wait_for(fd, POLLOUT, timeout_ms);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;

		size_t left = (size_t)n;
		while (left > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (left > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
}

int fd_set_nonblock(int fd, bool nonblock)
{
	int flags, nflags;

	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;

	nflags = nonblock ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
	if (nflags != flags && fcntl(fd, F_SETFL, nflags) < 0)
		return -errno;
	return 0;
}

int fd_set_cloexec(int fd, bool cloexec)
{
	int flags, nflags;

	flags = fcntl(fd, F_GETFD);
	if (flags < 0)
		return -errno;

	nflags = cloexec ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
	if (nflags != flags && fcntl(fd, F_SETFD, nflags) < 0)
		return -errno;
	return 0;
}

/* 1 for a TCP socket, 0 for any other fd (including non-sockets), or a negative errno (-EBADF). */
static int socket_tcp_check(int fd)
{
	int domain, type;
	socklen_t len = sizeof(domain);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return errno == ENOTSOCK ? 0 : -errno;
	if (domain != AF_INET && domain != AF_INET6)
		return 0;

	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	return type == SOCK_STREAM;
}

bool socket_is_tcp(int fd)
{
	return socket_tcp_check(fd) > 0;
}

static int setsockopt_int(int fd, int level, int name, int value)
{
	if (setsockopt(fd, level, name, &value, sizeof(value)) < 0)
		return -errno;
	return 0;
}

int socket_set_nodelay(int fd)
{
	int r;

	r = socket_tcp_check(fd);
	if (r <= 0)
		return r;

	/* NBD replies are written whole; Nagle would only hold back the last segment of each. */
	return setsockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

int socket_set_keepalive(int fd, int idle_s, int interval_s, int count)
{
	int r;

	/* Checked before the socket type, so a bad caller fails in tests over socketpair() too. */
	if (idle_s <= 0 || interval_s <= 0 || count <= 0)
		return -EINVAL;

	r = socket_tcp_check(fd);
	if (r <= 0)
		return r;

	r = setsockopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_s);
	if (r < 0)
		return r;
	r = setsockopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, interval_s);
	if (r < 0)
		return r;
	r = setsockopt_int(fd, IPPROTO_TCP, TCP_KEEPCNT, count);
	if (r < 0)
		return r;
	return setsockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
}

int socket_set_user_timeout(int fd, unsigned timeout_ms)
{
	int r;

	if (timeout_ms > INT_MAX)
		return -ERANGE;

	r = socket_tcp_check(fd);
	if (r <= 0)
		return r;

	return setsockopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, (int)timeout_ms);
}

ssize_t pread_full(int fd, void *buf, size_t len, uint64_t offset)
{
	uint8_t *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, (off_t)(offset + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int pwrite_zeros(int fd, uint64_t offset, uint64_t len)
{
	size_t chunk = (size_t)MIN(len, (uint64_t)(1u << 20));
	_cleanup_free_ void *zeros = NULL;

	/* Page-aligned, so that a file opened O_DIRECT can take it too. */
	if (chunk && posix_memalign(&zeros, 4096, chunk) != 0)
		return -ENOMEM;
	if (chunk)
		memset(zeros, 0, chunk);
	while (len) {
		size_t n = (size_t)MIN(len, (uint64_t)chunk);
		int r = pwrite_full(fd, zeros, n, offset);

		if (r < 0)
			return r;
		offset += n;
		len -= n;
	}
	return 0;
}

int pwrite_full(int fd, const void *buf, size_t len, uint64_t offset)
{
	const uint8_t *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, p + done, len - done, (off_t)(offset + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		done += (size_t)n;
	}
	return 0;
}
