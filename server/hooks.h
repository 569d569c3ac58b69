/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prerun and postrun: shell commands run per connection, as the reference nbd-server does. Each %s in
 * the command becomes the export's file name (the per-client one with virtstyle), inserted as it is,
 * and the result runs as `/bin/sh -c COMMAND` with stdin on /dev/null.
 *
 * prerun runs when a client asks to use the export (NBD_OPT_GO or EXPORT_NAME), before the server
 * says yes: a non-zero exit status (or a command that cannot run) refuses the client. postrun runs
 * when the connection has ended, in the background; its exit status is only logged.
 */
#pragma once

/* Builds the command line; the caller frees it. */
int hook_command(const char *command, const char *file, char **ret);
/* Runs a command and waits for it: 0 when it exited with status 0, else a negative errno (-ECHILD
 * for a non-zero status, which *ret_status holds as waitpid() gave it). */
int hook_run(const char *cmdline, int *ret_status);
/* Runs it on a thread of its own and logs a failure with `what` (the export's name). */
void hook_run_background(const char *cmdline, const char *what);
