/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Handing a file descriptor to another process over a Unix socket (SCM_RIGHTS): how nbd-client
 * gives its local server one end of each new socketpair, so that a connection needs no address.
 */
#pragma once

/* Sends a duplicate of fd over the Unix socket sock, with one byte of data. 0, or a negative
 * errno (-EPIPE: the other side is gone). */
int fd_send(int sock, int fd);
/* Receives one descriptor from sock: 1 and *ret_fd (close-on-exec); 0 when the other side closed;
 * -EAGAIN when nothing waits (a non-blocking socket); another negative errno, or -EBADMSG when a
 * message came without a descriptor. */
int fd_receive(int sock, int *ret_fd);
