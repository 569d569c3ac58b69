/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "server/config.h"

struct listener {
	int fd;
	char name[136]; /* for logs: "[::1]:10809", a socket path, "activated fd 3" */
};

struct listener_set {
	struct listener *items;
	size_t n;
};

/* Opens what the config asks for, or adopts systemd's sockets when LISTEN_FDS is for this process.
 * Logs each failure with what to do about it. */
int listeners_open(struct listener_set *set, const struct server_config *cfg);
void listeners_close(struct listener_set *set, const struct server_config *cfg);
