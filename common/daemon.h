/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Becoming a daemon whose start-up the caller can wait for: the parent stays until the daemon says
 * it is ready (or failed), and exits with that status, so scripts and Type=forking units see the
 * real outcome. Used by nbd-server and by nbd-client's supervisor.
 */
#pragma once

#include <signal.h>

/* Forks twice (with setsid between, so no controlling terminal can come back) and returns 0 in the
 * daemon with *ret_ready_fd set. The original process never returns: it exits with the status the
 * daemon reports through daemon_ready(), or 1 when the daemon dies first. A stop signal it gets
 * while it waits (a terminal's Ctrl-C) is passed on to the daemon as SIGTERM, and it exits with
 * 128 + the signal's number. A negative errno when a step fails (nothing is logged here: the
 * caller says what it was starting). */
int daemon_start(int *ret_ready_fd);
/* Tells the waiting parent the outcome (0: ready) and closes the fd; nothing when ready_fd < 0. */
void daemon_ready(int ready_fd, int status);
/* Points stdin, stdout and stderr at /dev/null, for a daemon whose terminal is no longer its own;
 * the caller then moves its logging to the journal or syslog (log_open(NULL, LOG_TARGET_AUTO)). */
void daemon_detach_stdio(void);
/* The signals a daemon of this project handles through its event loop: SIGTERM and SIGINT (stop) and
 * SIGHUP. Blocked before the loop, from the point where being killed would leave something half
 * done, so that one arriving then waits for the loop instead of killing. */
void daemon_signal_mask(sigset_t *mask);
