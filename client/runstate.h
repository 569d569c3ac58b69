/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What nbd-client leaves in /run/nbd-client (NBDM_RUNTIME_DIR overrides the directory, for tests)
 * for `status`, `reconnect` and `detach`, as small files of "key=value" lines, each replaced
 * atomically:
 *  - nbdN: what a device's supervisor publishes about itself, on every change of state;
 *  - nbdN.conns: which sockets the device was given, written by every attach (and again by a
 *    supervisor that replaces them). The kernel reports neither how many connections a device has
 *    nor whether they still live; their sockets' inode numbers let status find both out.
 */
#pragma once

#include <stdbool.h>
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
	unsigned taken_over;     /* of which the kernel alone holds, taken over from an earlier
				  * supervisor: replaced once they die, never on request */
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

/* The sockets the kernel was given for a device, and by which process (the pid the kernel shows in
 * /sys/block/nbdN/pid), so that a record left by an earlier attachment is recognised as stale. */
struct conn_record {
	pid_t pid;
	unsigned n;              /* connections */
	uint64_t inodes[64];     /* their sockets' inode numbers; 0: a slot whose socket is gone */
	char backend[512];
	char tls[8];             /* "none", "kernel" (the sessions in the kernel's TLS), "relay" */
	bool supervised;         /* written for a device with a supervisor (-persist) */
};

/* 0, or a negative errno. fds[i] < 0 records the inode in known_inodes[i] when that is given and
 * not 0 (a connection the kernel holds and this process has no descriptor of), else a dead slot. */
int connrecord_write(int index, pid_t pid, const char *backend, const int *fds,
		     const uint64_t *known_inodes, size_t n, const char *tls, bool supervised);
/* 0 with *r filled, -ENOENT without a record, -EBADMSG for a file that is not one. */
int connrecord_read(int index, struct conn_record *r);
void connrecord_remove(int index);
