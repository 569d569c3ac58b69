/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The server nbd-client runs itself for a local image (file: and memory: targets): started on
 * first use with a Unix socket (nbd-server --accept-fds), over which every connection is handed to
 * it as one end of a socketpair. Nothing listens anywhere. The server exits when that socket and
 * its last connection are closed: once the device is detached and no supervisor is left to ask for
 * more. A server that died is started again by the next connection asked for (a supervisor's
 * reconnection).
 */
#pragma once

#include "client/options.h"

/* A socket connected to the local server of o's target, which is started when there is none (or
 * it is gone): the socket, or a negative errno with *ret_message a malloc'd sentence saying why. */
int local_server_connect(const struct client_options *o, char **ret_message);
