/* SPDX-License-Identifier: GPL-2.0-or-later */
/* attach through the ioctl interface, and -p's set-up loop over it (attach-ioctl.c). */
#pragma once

#include "client/attachment.h"
#include "client/options.h"

/*
 * Sets /dev/nbd<index> (a free one if index < 0) up with a's sockets and runs it in NBD_DO_IT:
 * in a forked child unless -n, and with -p (as the supervisor, already in the background) setting
 * it up again after every lost connection. *ready_fd is the daemon's readiness pipe (-1: none),
 * answered and set to -1 once the device is up. 0, or a negative errno, logged.
 */
int attach_ioctl(const struct client_options *o, struct attachment *a, int index, int *ready_fd);
