/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/local-server.h"
#include "common/fd-passing.h"
#include "common/io.h"
#include "common/macro.h"

/* The export name the local server gives the image; the client asks for it. */
#define LOCAL_EXPORT_NAME "image"

/* This process's end of the server's --accept-fds socket; -1 until a server is started. */
static int control = -1;
static bool started;

/* $NBDM_SERVER, else nbd-server beside this program (a build tree, a test image), else the
 * installed one. */
static int find_server(char *buf, size_t len)
{
	const char *env = getenv("NBDM_SERVER");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return access(buf, X_OK) == 0 ? 0 : negative_errno();
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		snprintf(buf, len, "%s/nbd-server", dirname(self));
		if (access(buf, X_OK) == 0)
			return 0;
	}
	snprintf(buf, len, "%s", SERVER_PROGRAM);
	return access(buf, X_OK) == 0 ? 0 : negative_errno();
}

/* The server's command line, in args (at most max - 1 of them, NULL-terminated); the strings that
 * need memory live in store. */
static void server_args(const struct client_options *o, const char *program, const char **args,
			char store[][PATH_MAX + 32])
{
	size_t n = 0;

	/* -m: systemd's shutdown leaves processes whose argv[0] starts with '@' alone. */
	args[n++] = o->systemd_mark ? "@nbd-server" : program;
	/* Not the system's server configuration: this server serves one image, as root. */
	args[n++] = "--config=/dev/null";
	args[n++] = "--accept-fds=3";
	if (o->target.image_path)
		snprintf(store[0], sizeof(store[0]), "--export=" LOCAL_EXPORT_NAME "=%s",
			 o->target.image_path);
	else
		snprintf(store[0], sizeof(store[0]), "--export=" LOCAL_EXPORT_NAME "=memory:%" PRIu64,
			 o->target.memory_size);
	args[n++] = store[0];
	if (o->read_only)
		args[n++] = "--read-only";
	if (o->target.cow_path) {
		args[n++] = "--copy-on-write";
		snprintf(store[1], sizeof(store[1]), "--cow-file=%s", o->target.cow_path);
		args[n++] = store[1];
	}
	if (o->swap)
		args[n++] = "--mlock";
	args[n] = NULL;
}

/* Starts a server on a new socketpair; its end is the server's descriptor 3. The server is not
 * this process's child (forked twice), so that it outlives an nbd-client that only attaches and
 * nobody has to reap it. */
static int start_server(const struct client_options *o, char **ret_message)
{
	char program[PATH_MAX], store[2][PATH_MAX + 32];
	const char *args[12];
	int sv[2], status, r;
	pid_t pid;

	r = find_server(program, sizeof(program));
	if (r < 0) {
		if (asprintf(ret_message, "Cannot run the local server %s: %s; install nbd-server, "
			     "or name it with NBDM_SERVER", program, strerror(-r)) < 0)
			*ret_message = NULL;
		return r;
	}
	server_args(o, program, args, store);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return negative_errno();
	pid = fork();
	if (pid < 0) {
		r = negative_errno();
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0) {
		sigset_t none;

		setsid();
		if (fork() != 0)
			_exit(0);
		/* Descriptor 3 without close-on-exec (dup2 onto itself would keep the flag); the
		 * signals blocked for a supervisor's loop are not the server's (it blocks its own).
		 * stderr stays: start-up errors reach the user. */
		if (dup2(sv[1], 3) < 0 || fcntl(3, F_SETFD, 0) < 0)
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (o->swap) {
			/* Inherited through exec, unlike a memory lock (the server takes --mlock). */
			int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

			if (fd >= 0) {
				(void)!write(fd, "-1000", 5);
				close(fd);
			}
		}
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		execv(program, (char **)args);
		fprintf(stderr, "nbd-client: cannot run the local server %s: %m\n", program);
		_exit(127);
	}
	close(sv[1]);
	(void)waitpid(pid, &status, 0);
	control = sv[0];
	started = true;
	return 0;
}

int local_server_connect(const struct client_options *o, char **ret_message)
{
	*ret_message = NULL;
	/* A second try only after the first server was found gone. */
	for (int attempt = 0; attempt < 2; attempt++) {
		int pair[2], r;

		if (control < 0 && started && !o->target.image_path) {
			/* A memory disk died with its server: a new one would be empty, and the
			 * device must fail rather than read zeroes where data was. */
			if (asprintf(ret_message, "The server of the memory disk is gone, and its "
				     "data with it; the device cannot come back (detach it)") < 0)
				*ret_message = NULL;
			return -ENODEV;
		}
		if (control < 0) {
			r = start_server(o, ret_message);
			if (r < 0)
				return r;
		}
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
			return negative_errno();
		r = fd_send(control, pair[1]);
		close(pair[1]);
		if (r == 0)
			return pair[0];
		close(pair[0]);
		/* EPIPE, ECONNRESET: the server exited (or was killed); start another. */
		control = safe_close(control);
	}
	if (asprintf(ret_message, "The local server exited as soon as it started (its messages "
		     "are above)") < 0)
		*ret_message = NULL;
	return -ECONNREFUSED;
}
