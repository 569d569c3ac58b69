/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the kernel says about other processes. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* The command name of process pid (/proc/PID/comm, which a changed argv[0] does not touch) into
 * buf; 0, or a negative errno (-ENOENT: no such process). */
int process_name(pid_t pid, char *buf, size_t len);
