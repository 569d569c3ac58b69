/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One logging module for the programs.
 *
 * Library layers (common, proto, netlink) return negative errno values and never log above debug; the
 * program logs the failure once, at the top, with its context. The log_*_errno() helpers return the
 * error they were given, so `return log_error_errno(r, "...: %m");` both logs and propagates, and %m
 * expands to strerror(-r).
 *
 * Targets: stderr when it is a terminal; the journal when stderr is connected to it (JOURNAL_STREAM),
 * as "<N>" priority prefixes that journald understands; syslog otherwise (a daemon with no terminal).
 * The kernel's log (/dev/kmsg) is chosen explicitly, by programs that run where neither journald nor
 * syslog listens yet: the systemd generator and the initramfs.
 */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "common/macro.h"

enum log_target {
	LOG_TARGET_AUTO, /* decide from stderr at log_open() time */
	LOG_TARGET_STDERR,
	LOG_TARGET_JOURNAL,
	LOG_TARGET_SYSLOG,
	LOG_TARGET_KMSG,  /* /dev/kmsg (NBDM_KMSG_PATH overrides it, for tests); stderr if it cannot
			   * be opened */
};

/*
 * ident is the program name shown in every line (NULL keeps the current one); the target may be
 * changed again later (daemonising). Before the first log_open(), lines go to stderr under
 * program_invocation_short_name. log_close() returns every setting to that state.
 */
void log_open(const char *ident, enum log_target target);
void log_close(void);
enum log_target log_get_target(void);

/*
 * Highest priority that is emitted (LOG_ERR .. LOG_DEBUG, values outside 0..7 are clamped); LOG_NOTICE
 * by default. NBDM_LOG_LEVEL in the environment (a number or a name such as "debug") overrides the
 * default at the first log_open() after start or log_close(), so that reopening the log when
 * daemonising keeps what -v set; an invalid value is ignored with a warning.
 */
void log_set_max_level(int level);
int log_get_max_level(void);
/* One step more verbose, for each -v on a command line. */
void log_increase_verbosity(void);
/* Parses "err", "warning", "notice", "info", "debug" (and "emerg", "alert", "crit", "error", "warn"),
 * in any case, or 0..7; returns the level or -EINVAL. */
int log_level_from_string(const char *s);

/*
 * Logs at level; with error != 0 sets errno to |error| so that %m names it (and leaves it so), with
 * error == 0 %m names the caller's errno, which is preserved. Returns -|error|, also when the level
 * is filtered out, in which case nothing is formatted. Stderr lines read "ident: message" ("ident:
 * debug: message" at LOG_DEBUG), journal lines "<N>message"; a trailing newline in fmt is dropped.
 */
int log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_full_errno(level, error, ...) log_internal((level), (error), __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_notice_errno(error, ...) log_full_errno(LOG_NOTICE, (error), __VA_ARGS__)
#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)
#define log_error(...) (void)log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_warning(...) (void)log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_notice(...) (void)log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_info(...) (void)log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...) (void)log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
/* Out of memory is common enough to deserve one spelling. */
#define log_oom() log_error_errno(ENOMEM, "Out of memory.")
