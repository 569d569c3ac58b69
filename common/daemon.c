/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/io.h"
#include "common/macro.h"

int daemon_start(int *ret_ready_fd)
{
	int pipefd[2];
	pid_t pid;
	char status = 1;

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
		/* EOF without a byte means the daemon died during start-up; it has said why. */
		if (read(pipefd[0], &status, 1) != 1)
			status = 1;
		_exit(status);
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
