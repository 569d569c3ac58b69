/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-client exports (the `virtstyle` key): the file an export serves is its exportname with each
 * %s replaced by the client's address, written as the style says:
 *   ipliteral  192.168.1.100, 2001:6f8:32f::39 (inet_ntop's form), "unix" over a Unix socket
 *   iphash     192/168/1/100 (IPv6 as ipliteral)
 *   cidrhash N 192.168.0.0/192.168.1.100 for N = 16: the network first, as a directory
 * IPv4 clients on an IPv6 socket are written as IPv4.
 */
#pragma once

#include <stddef.h>
#include <sys/socket.h>

#include "server/config.h"

/* The file name for a client; -EINVAL for an address family it cannot write. */
int virt_path(const char *pattern, enum virtstyle style, unsigned cidr,
	      const struct sockaddr_storage *peer, char **ret);
