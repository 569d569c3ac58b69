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

void supervisor_view_hold(struct supervisor_view *v)
{
	*v = (struct supervisor_view){ 0 };
	if (api_mounts_hold(&v->mounts) > 0)
		log_debug("Started from an initramfs: holding /proc, /sys, /dev and /run for after the "
			  "switch to the real root");
}

void supervisor_view_follow(struct supervisor_view *v, int index)
{
	const char *failed = NULL;
	int r = api_mounts_follow(&v->mounts, &failed);

	if (r > 0 && !v->followed) {
		v->followed = true;
		log_info("/dev/nbd%d: the system switched to its real root; the supervisor keeps "
			 "/proc, /sys, /dev and /run in view in the initramfs it runs in", index);
	} else if (r < 0 && !v->warned) {
		v->warned = true;
		log_warning_errno(r, "/dev/nbd%d: the system switched to its real root, and %s could "
				     "not be mounted again where the supervisor sees it: %m; it may "
				     "take its device for detached at the next reconnection (restart "
				     "it from the real root with nbd-client attach -persist)",
				  index, failed ? failed : "?");
	}
}

void supervisor_view_release(struct supervisor_view *v)
{
	api_mounts_release(&v->mounts);
}
