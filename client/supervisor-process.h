/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The process that stays with a persistent device, whichever interface attached it: its signals,
 * where it runs, and its protection (supervisor-process.c).
 */
#pragma once

#include <stdbool.h>

#include "client/options.h"
#include "common/api-mounts.h"

/* Blocks (or unblocks) the signals that ask a supervisor to stop or reconnect: from the start of
 * a persistent attach, a stop request must end in a clean detach, not kill a half-attached device. */
void supervisor_block_signals(bool block);

/* Under systemd (Type=notify) the supervisor stays in front and notifies. $NOTIFY_SOCKET alone is
 * not proof: a script run from a service inherits it, and must still get the attach's result and
 * its prompt back. The service's main process is the one the service manager started: the
 * process $SYSTEMD_EXEC_PID names (systemd 248 and later; older ones: a child of PID 1). */
bool supervisor_in_front(void);

/* Marks the process for systemd (-m): argv[0] starting with '@' tells its shutdown and switch_root
 * not to kill it. Locks memory and shields it from the OOM killer (-s), since swap on the device
 * means the kernel may need this process to free memory. Failures are logged as warnings. */
void supervisor_protect(const struct client_options *o);

/* A supervisor started in an initramfs holds /proc, /sys, /dev and /run (common/api-mounts.h), and
 * follows the switch to the real root by putting them back in its own root before it next uses
 * them: it reads sysfs to know its device, /run for its state (which nbd-client status reads from
 * the real root) and /proc for the device's users. The view is private to the process. */
struct supervisor_view {
	struct api_mounts mounts;
	bool followed; /* the switch was seen, and said */
	bool warned;   /* a failure to follow it was said */
};
void supervisor_view_hold(struct supervisor_view *v);
void supervisor_view_follow(struct supervisor_view *v, int index);
void supervisor_view_release(struct supervisor_view *v);
