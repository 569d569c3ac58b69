/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/io.h"
#include "common/log.h"
#include "common/macro.h"

/*
 * The original process: the status the daemon reports on ready_fd, or 1 when it dies first. The
 * daemon has a session of its own, so a terminal's Ctrl-C (or a stop sent to this process) reaches
 * only this one: it is passed on to the daemon's process group, whose id is the first child's pid
 * once that child has called setsid() (before, the first child itself is signalled; unreaped, its
 * pid cannot be anyone else's), and the wait ends there, with 128 + the signal's number.
 */
static int wait_for_daemon(int ready_fd, pid_t first_child)
{
	struct signalfd_siginfo si;
	struct pollfd p[2] = { { .fd = ready_fd, .events = POLLIN }, { .fd = -1, .events = POLLIN } };
	sigset_t mask;
	char status;

	daemon_signal_mask(&mask);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	p[1].fd = signalfd(-1, &mask, SFD_CLOEXEC);
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (p[0].revents)
			/* EOF without a byte means the daemon died during start-up; it has said why. */
			return read(ready_fd, &status, 1) == 1 ? status : 1;
		if (p[1].revents && read(p[1].fd, &si, sizeof(si)) == sizeof(si)) {
			if (kill(-first_child, SIGTERM) < 0)
				(void)kill(first_child, SIGTERM);
			log_error("Received %s: the process starting up in the background is told to "
				  "stop (SIGTERM)", strsignal((int)si.ssi_signo));
			return 128 + (int)si.ssi_signo;
		}
	}
}

int daemon_start(int *ret_ready_fd)
{
	int pipefd[2];
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return negative_errno();
	pid = fork();
	if (pid < 0) {
		int r = negative_errno();

		close(pipefd[0]);
		close(pipefd[1]);
		return r;
	}
	if (pid > 0) {
		close(pipefd[1]);
		_exit(wait_for_daemon(pipefd[0], pid));
	}
	close(pipefd[0]);
	/* From here a failure reaches the caller in the first child, whose parent waits on the pipe:
	 * the caller logs it, and daemon_ready() reports it. */
	if (setsid() < 0)
		return negative_errno();
	pid = fork();
	if (pid < 0)
		return negative_errno();
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		return negative_errno();
	*ret_ready_fd = pipefd[1];
	return 0;
}

void daemon_ready(int ready_fd, int status)
{
	char c = (char)status;

	if (ready_fd < 0)
		return;
	(void)write_full(ready_fd, &c, 1, -1);
	close(ready_fd);
}

void daemon_detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	(void)dup2(fd, STDIN_FILENO);
	(void)dup2(fd, STDOUT_FILENO);
	(void)dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

void daemon_signal_mask(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGHUP);
}
