/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-server: serve files, block devices and memory over NBD.
 *
 * Start-up order matters: listen first (so a busy port is reported on the terminal), then detach into
 * the background, write the pid file, drop privileges, open the exports as the unprivileged user, and
 * only then tell the waiting parent that the server is up. The parent's exit status is the server's
 * readiness, which is what scripts and Type=forking units need.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/io.h"
#include "common/log.h"
#include "server/config.h"
#include "server/server.h"
#include "server/shard-convert.h"
#include "server/transport.h"

static int write_pidfile(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "we");

	if (!f)
		return log_error_errno(errno, "Cannot write pid file %s: %m", path);
	fprintf(f, "%d\n", (int)getpid());
	if (fflush(f) != 0 || ferror(f))
		return log_error_errno(errno ?: EIO, "Cannot write pid file %s: %m", path);
	return 0;
}

static int write_pidfile_quiet(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "we");

	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fflush(f) != 0) {
		log_info("Not writing the pid file %s: %m (-p FILE names one)", path);
		return -EIO;
	}
	return 0;
}

/* Removes the pid file only while it still names this process: another server started since (the
 * default file is shared by every daemon without -p) must keep its own. */
static void remove_pidfile(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	int pid = 0;

	if (f && fscanf(f, "%d", &pid) == 1 && pid == (int)getpid())
		(void)unlink(path);
}

static int drop_privileges(const char *user, const char *group)
{
	gid_t gid = (gid_t)-1;
	uid_t uid = (uid_t)-1;

	if (group) {
		struct group *gr = getgrnam(group);

		if (!gr)
			return log_error_errno(ENOENT, "Group '%s' does not exist; create it or change "
						       "'group'", group);
		gid = gr->gr_gid;
	}
	if (user) {
		struct passwd *pw = getpwnam(user);

		if (!pw)
			return log_error_errno(ENOENT, "User '%s' does not exist; create it or change "
						       "'user'", user);
		uid = pw->pw_uid;
		if (!group)
			gid = pw->pw_gid;
	}
	if (gid != (gid_t)-1) {
		if (setgroups(0, NULL) < 0 && errno != EPERM)
			return log_error_errno(errno, "Cannot drop supplementary groups: %m");
		if (setgid(gid) < 0)
			return log_error_errno(errno, "Cannot switch to group %u: %m", (unsigned)gid);
	}
	if (uid != (uid_t)-1 && setuid(uid) < 0)
		return log_error_errno(errno, "Cannot switch to user %u: %m", (unsigned)uid);
	return 0;
}

int main(int argc, char **argv)
{
	struct server_config cfg;
	struct server srv;
	sigset_t mask;
	const char *pidfile = NULL;
	bool daemon;
	int r, ready_fd = -EBADF;

	/* Stop signals wait for the event loop's signalfd from the very start, so a SIGTERM during
	 * start-up still ends the server cleanly (socket and pid file removed) instead of killing it. */
	daemon_signal_mask(&mask);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	/* Start-up errors belong on stderr even when it is not a terminal (a script, a unit without
	 * the journal); a daemon moves to syslog once it has detached. */
	log_open("nbd-server", getenv("JOURNAL_STREAM") ? LOG_TARGET_AUTO : LOG_TARGET_STDERR);
	/* Request buffers are reused constantly; keeping them off mmap avoids a page-fault storm. */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 128 << 20);

	if (shard_convert_wanted(argc, argv))
		return shard_convert_main(argc, argv);
	server_config_init(&cfg);
	r = server_config_parse_args(&cfg, argc, argv);
	if (r != 0) {
		server_config_free(&cfg);
		return r > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	for (int i = 0; i < cfg.verbosity; i++)
		log_increase_verbosity();
	/* Before any thread: the environment is read once, here. */
	transport_tls_read_test_hooks();

	r = server_listen(&srv, &cfg, argc, argv);
	if (r < 0)
		goto out;
	daemon = !cfg.foreground && !cfg.stdio && !cfg.n_client_fds && !cfg.accept_fds_given &&
		 !server_socket_activated(&srv) && !getenv("NOTIFY_SOCKET");
	if (daemon) {
		r = daemon_start(&ready_fd);
		if (r < 0) {
			log_error_errno(r, "Cannot run in the background: %m; -n keeps the server in "
					   "the foreground");
			goto out;
		}
	}
	if (cfg.pidfile) {
		r = write_pidfile(cfg.pidfile);
		if (r < 0)
			goto out;
		pidfile = cfg.pidfile;
	} else if (daemon) {
		/* As the reference does, so that an init script can find the daemon; not asked for,
		 * so not fatal (an unprivileged user cannot write there). */
		if (write_pidfile_quiet(SERVER_DEFAULT_PIDFILE) == 0)
			pidfile = SERVER_DEFAULT_PIDFILE;
	}
	/* Key files are usually readable by root alone. */
	r = srv_tls_load(&cfg, &srv.tls);
	if (r < 0)
		goto out;
	if (cfg.user || cfg.group) {
		r = drop_privileges(cfg.user, cfg.group);
		if (r < 0)
			goto out;
		/* GnuTLS reads a PSK file at every handshake, as the user the server has become:
		 * one only root may read would fail every client, with no word of why. */
		if (cfg.pskfile && access(cfg.pskfile, R_OK) < 0) {
			r = log_error_errno(errno, "TLS: the PSK file %s cannot be read by the user the "
						   "server runs as (%s): %m; it is read at every "
						   "handshake, so let that user read it (chgrp, chmod "
						   "g+r) or name another with --tls-psk",
					    cfg.pskfile, cfg.user ? cfg.user : cfg.group);
			goto out;
		}
	}
	r = server_open_exports(&srv);
	if (r < 0)
		goto out;
	/* A server in the data path of a swap device must not wait for its own pages. Locked as
	 * they are first touched: populating every mapping at once would fill a sparse export
	 * that lives in memory (backend-file.c maps those) and each thread's whole stack. */
	if (cfg.mlock && mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		log_warning_errno(errno, "Cannot lock the server in memory (--mlock): %m; it may be "
					 "paged out to the device it serves");
	if (daemon) {
		daemon_ready(ready_fd, 0);
		ready_fd = -EBADF;
		daemon_detach_stdio();
	}
	/* Started: a discarded stderr (a server in the foreground of a daemon, such as the one
	 * nbd-client starts for a local image under -persist) gives way to the journal or syslog;
	 * a terminal, a file or a pipe keeps the messages. */
	log_open(NULL, LOG_TARGET_AUTO);
	r = server_run(&srv);
out:
	daemon_ready(ready_fd, 1);
	server_free(&srv);
	if (pidfile)
		remove_pidfile(pidfile);
	server_config_free(&cfg);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
