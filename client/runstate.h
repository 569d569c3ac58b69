/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a device's supervisor publishes about itself, for `status`, `reconnect` and `detach`: one
 * small file per device, /run/nbd-client/nbdN (NBDM_RUNTIME_DIR overrides the directory, for
 * tests), of "key=value" lines, replaced atomically on every change of state.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#define RUNSTATE_DIR "/run/nbd-client"

struct supervisor_report {
	pid_t pid;
	char state[16];          /* "connected", "reconnecting" or "stopping" */
	char interface[16];      /* "netlink" or "ioctl" */
	int64_t since;           /* when that state began (seconds since the epoch) */
	unsigned attempts;       /* reconnection attempts in this state */
	unsigned connections;    /* connections the device has */
	unsigned dead;           /* of which are waiting to be replaced */
	unsigned reconnects;     /* connections replaced since the supervisor started */
	char last_error[384];    /* why the last attempt failed; "" when none did */
	char backend[512];       /* the device's backend identifier */
};

/* 0, or a negative errno (the directory or file cannot be written). */
int runstate_write(int index, const struct supervisor_report *r);
/* 0 with *r filled; -ENOENT when the device has no supervisor; -ESRCH when the file names a process
 * that is gone or is not an nbd-client (a supervisor that was killed, its pid since reused: the
 * file is stale); -EBADMSG for a file that is not one of ours. */
int runstate_read(int index, struct supervisor_report *r);
/* Removes the device's file if process pid wrote it (a newer supervisor's stays). */
void runstate_remove(int index, pid_t pid);
