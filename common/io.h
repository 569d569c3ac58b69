/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fd and socket I/O that finishes what it starts: EINTR is retried, EAGAIN on a non-blocking fd waits
 * with poll(), short transfers continue, and writes to sockets never raise SIGPIPE.
 *
 * Every function returns a negative errno on failure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common/macro.h"

/* Reads until len bytes or end of file. Returns the bytes read (less than len only at EOF). On an
 * error, bytes already read are dropped: a stream that failed mid-message is of no further use. */
ssize_t read_full(int fd, void *buf, size_t len) _nonnull_(2);
/* Like read_full() but fails with -ETIMEDOUT when no byte arrives for timeout_ms (< 0: wait forever).
 * The timeout bounds each wait for data, not the whole transfer. */
ssize_t read_full_timeout(int fd, void *buf, size_t len, int timeout_ms) _nonnull_(2);
/* Reads exactly len bytes; EOF before that is -ECONNRESET when some bytes came, -EPIPE when none did. */
int read_exact(int fd, void *buf, size_t len, int timeout_ms) _nonnull_(2);

/*
 * Writes all of buf; 0 on success. timeout_ms (< 0: wait forever) bounds each wait for room, like the
 * read timeout. It is exact for sockets and non-blocking fds; a blocking pipe can still sleep inside
 * write() once poll() has reported some room.
 */
int write_full(int fd, const void *buf, size_t len, int timeout_ms) _nonnull_(2);
/* Writes all of the iovecs, which it may modify while advancing over short writes; 0 on success. */
int writev_full(int fd, struct iovec *iov, int iovcnt, int timeout_ms) _nonnull_(2);

/* Positional I/O on files that finishes short transfers and retries EINTR. pread_full() returns the
 * bytes read, less than len only at end of file; pwrite_full() returns 0. */
ssize_t pread_full(int fd, void *buf, size_t len, uint64_t offset) _nonnull_(2);
int pwrite_full(int fd, const void *buf, size_t len, uint64_t offset) _nonnull_(2);
/* Writes len zero bytes at offset, through a page-aligned buffer of at most 1 MiB (so O_DIRECT
 * files too): for files and file systems that cannot punch or zero a range. 0, or a negative
 * errno. */
int pwrite_zeros(int fd, uint64_t offset, uint64_t len);

/* Waits for events on one fd (timeout_ms < 0: forever; a signal does not restart the timeout); returns
 * the revents, -ETIMEDOUT, or -EBADF when fd is not open. */
int fd_wait_for(int fd, short events, int timeout_ms);

int fd_set_nonblock(int fd, bool nonblock);
int fd_set_cloexec(int fd, bool cloexec);

/* TCP tuning applied to every NBD socket; on a non-TCP socket or a non-socket these are no-ops that
 * return 0 (a closed fd is still -EBADF). */
int socket_set_nodelay(int fd);
/* Keepalive probes after idle_s seconds of silence, every interval_s, count times; each must be > 0
 * (-EINVAL, checked before the socket type). */
int socket_set_keepalive(int fd, int idle_s, int interval_s, int count);
/* Unacknowledged data older than timeout_ms fails the connection (TCP_USER_TIMEOUT); 0 restores the
 * system default, above INT_MAX is -ERANGE. */
int socket_set_user_timeout(int fd, unsigned timeout_ms);
/* True for AF_INET and AF_INET6 stream sockets. */
bool socket_is_tcp(int fd);
