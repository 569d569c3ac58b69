/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Whether a socket still carries its connection, asked by the socket's inode number (fstat()'s
 * st_ino on it) rather than through a descriptor: a socket handed to the kernel has no descriptor
 * left in any process, yet the kernel keeps reporting its state by that number.
 */
#pragma once

#include <stdint.h>

/* The inode number of the socket open on fd, or a negative errno (-ENOTSOCK for anything else). */
int socket_inode(int fd, uint64_t *ret);

/*
 * 1 when the socket is a connected TCP socket (ESTABLISHED) or a connected Unix stream socket
 * that neither side has shut down; 0 when it is in any other state, or no longer exists; a
 * negative errno when this cannot be found out (no /proc, sock_diag refused; -EOPNOTSUPP for a
 * Unix socket when the kernel's unix_diag module is not available).
 */
int socket_inode_connected(uint64_t ino);
