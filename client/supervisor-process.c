/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client/supervisor-process.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/notify.h"
#include "common/parse.h"

void supervisor_block_signals(bool block)
{
	sigset_t mask;

	daemon_signal_mask(&mask);
	sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &mask, NULL);
}

bool supervisor_in_front(void)
{
	const char *exec_pid = getenv("SYSTEMD_EXEC_PID");
	uint32_t pid;

	if (!notify_wanted())
		return false;
	if (exec_pid && *exec_pid)
		return parse_u32(exec_pid, &pid) == 0 && (pid_t)pid == getpid();
	return getppid() == 1;
}

void supervisor_protect(const struct client_options *o)
{
	if (o->systemd_mark && o->argv0 && o->argv0[0])
		o->argv0[0] = '@';
	if (o->swap) {
		_cleanup_close_ int fd = -1;

		if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
			log_warning_errno(errno, "Cannot lock the supervisor in memory (-swap): %m; it "
						 "may be paged out to the device it serves");
		fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "-1000", 5) != 5)
			log_warning_errno(errno, "Cannot protect the supervisor from the OOM killer "
						 "(-swap): %m");
	}
}
