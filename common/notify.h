/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The service manager's readiness protocol (sd_notify): one datagram of "KEY=value" lines to the
 * socket named by $NOTIFY_SOCKET. Written here rather than linked from libsystemd so that the
 * programs stay small enough for an initramfs and work the same without systemd.
 */
#pragma once

#include <stdbool.h>

#include "common/macro.h"

/* Whether a service manager listens ($NOTIFY_SOCKET is set). */
bool notify_wanted(void);
/* Sends state ("READY=1", "STATUS=...", "STOPPING=1", several joined by newlines). 0 when sent or
 * when nobody listens; a negative errno when the socket cannot be reached. Logs nothing. */
int notify_send(const char *state) _nonnull_(1);
/* notify_send() of a formatted state. */
int notify_sendf(const char *fmt, ...) _printf_(1, 2);
