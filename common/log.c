/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every line is formatted into one stack buffer and leaves in one write(), so lines from different
 * threads never interleave, and so that nothing here allocates: log_oom() must work when malloc() does
 * not. The settings are plain globals, changed at start-up and when daemonising, before any thread that
 * logs exists.
 */


#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/parse.h"

/* syslog(3) and journald both cut lines near this length; longer ones are truncated with "...". */
#define LOG_LINE_MAX 2048

static char log_ident[64];
static enum log_target log_target = LOG_TARGET_STDERR;
static int log_max_level = LOG_NOTICE;
/* NBDM_LOG_LEVEL is read by the first log_open() only, so reopening after daemonising keeps -v. */
static bool log_env_read;
static bool log_syslog_open;
static int log_kmsg_fd = -1;

static const char *const log_level_names[] = {
	[LOG_EMERG] = "emerg",
	[LOG_ALERT] = "alert",
	[LOG_CRIT] = "crit",
	[LOG_ERR] = "err",
	[LOG_WARNING] = "warning",
	[LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

static const char *ident_get(void)
{
	/* Lines logged before log_open() still say which program wrote them. */
	return log_ident[0] != '\0' ? log_ident : program_invocation_short_name;
}

/*
 * journald passes "device:inode" of the stream it connected to stdout/stderr. Comparing it with fd 2
 * tells whether stderr still goes there, and not to a file the service redirected it to.
 */
static bool stderr_is_journal(void)
{
	const char *e, *colon;
	char dev[32];
	uint64_t d, i;
	struct stat st;

	e = getenv("JOURNAL_STREAM");
	if (!e)
		return false;

	colon = strchr(e, ':');
	if (!colon || (size_t)(colon - e) >= sizeof(dev))
		return false;
	memcpy(dev, e, (size_t)(colon - e));
	dev[colon - e] = '\0';

	if (parse_u64(dev, &d) < 0 || parse_u64(colon + 1, &i) < 0)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (uint64_t)st.st_dev == d && (uint64_t)st.st_ino == i;
}

/* Whether stderr leads nowhere: closed, or /dev/null (a daemon's). */
static bool stderr_discarded(void)
{
	struct stat st;

	if (fstat(STDERR_FILENO, &st) < 0)
		return true;
	return S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3;
}

static enum log_target target_detect(void)
{
	if (isatty(STDERR_FILENO))
		return LOG_TARGET_STDERR;
	if (stderr_is_journal())
		return LOG_TARGET_JOURNAL;
	/* A file or a pipe is where the caller wants the messages (2>file in a script run by a
	 * service, say); only a discarded stderr sends them to syslog. */
	if (!stderr_discarded())
		return LOG_TARGET_STDERR;
	return LOG_TARGET_SYSLOG;
}

void log_open(const char *ident, enum log_target target)
{
	const char *env = NULL;
	int level = 0;

	if (ident)
		snprintf(log_ident, sizeof(log_ident), "%s", ident);

	if (!log_env_read) {
		log_env_read = true;
		env = secure_getenv("NBDM_LOG_LEVEL");
		if (env) {
			level = log_level_from_string(env);
			if (level >= 0)
				log_max_level = level;
		}
	}

	if (target == LOG_TARGET_AUTO)
		target = target_detect();

	/* openlog() keeps the ident pointer, so it is reopened whenever log_ident may have changed. */
	if (log_syslog_open) {
		closelog();
		log_syslog_open = false;
	}
	if (log_kmsg_fd >= 0) {
		close(log_kmsg_fd);
		log_kmsg_fd = -1;
	}
	if (target == LOG_TARGET_SYSLOG) {
		openlog(ident_get(), LOG_PID, LOG_DAEMON);
		log_syslog_open = true;
	}
	if (target == LOG_TARGET_KMSG) {
		const char *path = secure_getenv("NBDM_KMSG_PATH");

		log_kmsg_fd = open(path && *path ? path : "/dev/kmsg",
				   O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
		if (log_kmsg_fd < 0)
			target = LOG_TARGET_STDERR;
	}
	log_target = target;

	/* Said only now, so that it reaches the target just chosen. */
	if (env && level < 0)
		log_warning("Ignoring invalid NBDM_LOG_LEVEL=%s.", env);
}

void log_close(void)
{
	if (log_syslog_open) {
		closelog();
		log_syslog_open = false;
	}
	if (log_kmsg_fd >= 0) {
		close(log_kmsg_fd);
		log_kmsg_fd = -1;
	}
	log_ident[0] = '\0';
	log_target = LOG_TARGET_STDERR;
	log_max_level = LOG_NOTICE;
	log_env_read = false;
}

enum log_target log_get_target(void)
{
	return log_target;
}

void log_set_max_level(int level)
{
	log_max_level = MAX(LOG_EMERG, MIN(level, LOG_DEBUG));
}

int log_get_max_level(void)
{
	return log_max_level;
}

void log_increase_verbosity(void)
{
	if (log_max_level < LOG_DEBUG)
		log_max_level++;
}

int log_level_from_string(const char *s)
{
	if (!s)
		return -EINVAL;

	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';

	for (int i = 0; i < (int)ELEMENTSOF(log_level_names); i++)
		if (strcasecmp(s, log_level_names[i]) == 0)
			return i;
	/* The spellings people type anyway. */
	if (strcasecmp(s, "error") == 0)
		return LOG_ERR;
	if (strcasecmp(s, "warn") == 0)
		return LOG_WARNING;
	return -EINVAL;
}

int log_internal(int level, int error, const char *fmt, ...)
{
	int saved_errno = errno, prio = level & LOG_PRIMASK, k;
	/* -INT_MIN does not exist; such a value is no errno anyway. */
	int e = error == INT_MIN ? EIO : abs(error);
	char buf[LOG_LINE_MAX];
	size_t prefix = 0, len;
	va_list ap;

	/* Not even formatted: a debug line in a hot path must cost next to nothing when it is off. */
	if (prio > log_max_level)
		goto out;

	switch (log_target) {
	case LOG_TARGET_JOURNAL:
		/* journald reads the priority from the prefix and takes the ident from the stream. */
		k = snprintf(buf, sizeof(buf), "<%d>", prio);
		break;
	case LOG_TARGET_SYSLOG:
		k = 0;
		break;
	case LOG_TARGET_KMSG:
		/* The kernel takes facility and priority from the prefix; the rest names us. */
		k = snprintf(buf, sizeof(buf), "<%d>%s[%d]: ", LOG_DAEMON | prio, ident_get(),
			     (int)getpid());
		break;
	default:
		k = snprintf(buf, sizeof(buf), "%s: %s", ident_get(),
			     prio == LOG_DEBUG ? "debug: " : "");
		break;
	}
	/* An ident is at most 63 bytes, so the prefix always fits; this only keeps the analyser calm. */
	prefix = k > 0 ? MIN((size_t)k, sizeof(buf) / 2) : 0;

	errno = e != 0 ? e : saved_errno;
	va_start(ap, fmt);
	/* One byte is kept back for the newline. */
	k = vsnprintf(buf + prefix, sizeof(buf) - prefix - 1, fmt, ap);
	va_end(ap);
	if (k < 0)
		k = 0;

	len = prefix + (size_t)k;
	if (len > sizeof(buf) - 2) {
		len = sizeof(buf) - 2;
		memcpy(buf + len - 3, "...", 3);
	}
	/* Callers sometimes end the message with "\n" out of printf habit; a line gets exactly one. */
	while (len > prefix && buf[len - 1] == '\n')
		len--;
	buf[len] = '\0';

	if (log_target == LOG_TARGET_SYSLOG) {
		syslog(level, "%s", buf);
	} else if (log_target == LOG_TARGET_KMSG) {
		/* One write is one record of the kernel's log. */
		buf[len++] = '\n';
		(void)!write(log_kmsg_fd, buf, len);
	} else {
		buf[len++] = '\n';
		/* Nothing to do when stderr is gone: logging the failure to log would need stderr. */
		(void)write_full(STDERR_FILENO, buf, len, -1);
	}

out:
	errno = e != 0 ? e : saved_errno;
	return -e;
}
