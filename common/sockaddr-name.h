/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A socket address as messages name it: "192.0.2.1:10809", "[2001:db8::1]:10809", "local". */
#pragma once

#include <stddef.h>
#include <sys/socket.h>

/* Writes the name of a (len bytes of it; 0: no address, a local client) into buf; returns buf. */
const char *sockaddr_name(const struct sockaddr_storage *a, socklen_t len, char *buf, size_t size);
