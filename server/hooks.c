/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "server/hooks.h"

extern char **environ;

int hook_command(const char *command, const char *file, char **ret)
{
	size_t n = 0, count = 0;
	char *out;

	for (const char *p = command; (p = strstr(p, "%s")); p += 2)
		count++;
	out = malloc(strlen(command) + count * strlen(file) + 1);
	if (!out)
		return -ENOMEM;
	for (const char *p = command; *p;) {
		if (p[0] == '%' && p[1] == 's') {
			memcpy(out + n, file, strlen(file));
			n += strlen(file);
			p += 2;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	*ret = out;
	return 0;
}

int hook_run(const char *cmdline, int *ret_status)
{
	char sh[] = "/bin/sh", dash_c[] = "-c";
	char *argv[] = { sh, dash_c, (char *)cmdline, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	pid_t pid;
	int r, status;

	/* The server blocks its stop signals (a signalfd takes them); the command must not inherit
	 * that mask, or it could not be interrupted. */
	sigemptyset(&none);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	r = posix_spawn(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		return -r;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return negative_errno();
	if (ret_status)
		*ret_status = status;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

struct background {
	char *cmdline;
	char *what;
};

static void *background_main(void *arg)
{
	struct background *b = arg;
	int status = 0, r = hook_run(b->cmdline, &status);

	if (r == -ECHILD)
		log_notice("Export '%s': postrun command '%s' exited with status %d", b->what,
			   b->cmdline, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	else if (r < 0)
		log_warning("Export '%s': cannot run postrun command '%s': %s", b->what, b->cmdline,
			    strerror(-r));
	free(b->cmdline);
	free(b->what);
	free(b);
	return NULL;
}

void hook_run_background(const char *cmdline, const char *what)
{
	struct background *b = calloc(1, sizeof(*b));
	pthread_attr_t attr;
	pthread_t t;

	if (!b || !(b->cmdline = strdup(cmdline)) || !(b->what = strdup(what))) {
		if (b) {
			free(b->cmdline);
			free(b);
		}
		log_warning("Export '%s': out of memory; postrun command not run", what);
		return;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, background_main, b) != 0) {
		log_warning("Export '%s': cannot start a thread; postrun command not run", what);
		free(b->cmdline);
		free(b->what);
		free(b);
	}
	pthread_attr_destroy(&attr);
}
