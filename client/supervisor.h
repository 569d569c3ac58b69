/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The supervisor of a persistent device (-p): stays after attach and replaces every connection that
 * dies, so that I/O waits through a server restart instead of failing. See supervisor.c.
 */
#pragma once

#include "client/attachment.h"
#include "client/options.h"

/* Defaults when persisting and -t/-T are not given. */
#define SUPERVISOR_REQUEST_TIMEOUT_S 30
#define SUPERVISOR_DEAD_CONN_TIMEOUT_S 60
#define SUPERVISOR_RETRY_MIN_MS 100
#define SUPERVISOR_RETRY_MAX_MS 1000
/* One reconnection attempt's bounds: a server that accepts but does not answer is tried again. */
#define SUPERVISOR_CONNECT_TIMEOUT_MS 5000
#define SUPERVISOR_NEGOTIATE_TIMEOUT_MS 10000

/*
 * Supervises /dev/nbd<index>, which attach connected over netlink with a's sockets (a keeps its
 * references to them: the supervisor watches those). ready_fd is the daemon's readiness pipe, or
 * -1. Returns 0 once the device is detached (SIGTERM or SIGINT, which detach it; or someone else
 * detached it), or a negative errno, logged, when it cannot go on.
 */
int supervise(const struct client_options *o, struct attachment *a, int index, int ready_fd);
