/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * attach with the ioctl interface, for kernels without nbd's netlink family (or -L): the kernel
 * runs the device inside this process's NBD_DO_IT, so the process stays (forked into the
 * background unless -n) until the device is detached; with -p it sets the device up again after
 * every lost connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/attach-ioctl.h"
#include "client/backoff.h"
#include "client/connection.h"
#include "client/runstate.h"
#include "client/supervisor-process.h"
#include "client/supervisor.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/notify.h"
#include "netlink/nbd-dev.h"

/* The kernel reads the partition table when the device is opened after it is up. */
static void rescan_partitions_later(int index)
{
	pid_t pid;

	/* Reap the children of earlier set-ups (a persistent device has one per reconnection). */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	pid = fork();
	if (pid != 0)
		return;
	/* The device's lock and the sockets are the parent's business. */
	close_range(3, ~0u, 0);
	for (int i = 0; i < 100; i++) {
		pid_t owner = 0;
		struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };

		if (nbd_dev_pid(index, &owner) == 0 && owner > 0) {
			nbd_dev_read_partitions(index);
			_exit(0);
		}
		nanosleep(&pause, NULL);
	}
	_exit(0);
}

/* -p with ioctls: the kernel has no way to swap a socket in, so each lost connection ends NBD_DO_IT,
 * fails the device's I/O, and the device is set up again from scratch once the server answers. */
static volatile sig_atomic_t ioctl_stop;

static void ioctl_stop_handler(int sig)
{
	(void)sig;
	ioctl_stop = 1;
}

/* SIGHUP only has to end NBD_DO_IT; the loop then reconnects. */
static void ioctl_reconnect_handler(int sig)
{
	(void)sig;
}

/* The ioctl supervisor's state, for status, reconnect and detach, as the netlink one publishes it. */
static void ioctl_publish(const struct attachment *a, int index, const char *state,
			  unsigned attempts, unsigned reconnects, const char *error)
{
	static char last_state[16];
	static time_t since;
	struct supervisor_report r = {
		.pid = getpid(),
		.attempts = attempts,
		.connections = (unsigned)a->n_fds,
		.reconnects = reconnects,
	};

	if (strcmp(last_state, state) != 0) {
		snprintf(last_state, sizeof(last_state), "%s", state);
		since = time(NULL);
	}
	r.since = since;
	snprintf(r.state, sizeof(r.state), "%s", state);
	snprintf(r.interface, sizeof(r.interface), "ioctl");
	snprintf(r.last_error, sizeof(r.last_error), "%s", error ? error : "");
	snprintf(r.backend, sizeof(r.backend), "%s", a->backend ? a->backend : "");
	if (strcmp(state, "reconnecting") == 0)
		r.dead = r.connections;
	(void)runstate_write(index, &r);
}

static int ioctl_reconnect(const struct client_options *o, struct attachment *a, int *dev, int index)
{
	/* As many connections as attach made, whatever an attempt left behind. */
	const size_t n = a->n_fds;
	struct backoff b;
	char why[256];

	backoff_init(&b, o->retry_min_ms ? o->retry_min_ms : SUPERVISOR_RETRY_MIN_MS,
		     o->retry_max_ms ? o->retry_max_ms : SUPERVISOR_RETRY_MAX_MS,
		     (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)time(NULL));
	for (unsigned attempt = 1; !ioctl_stop; attempt++) {
		_cleanup_free_ char *message = NULL;
		struct nbd_neg_result *res = NULL;
		struct nbd_dev_config cfg;
		int r = 0;

		attachment_close_fds(a);
		for (size_t i = 0; i < n && r == 0; i++) {
			r = client_open_export(o, -1, NBD_NEG_ATTACH,
					       client_connect_timeout_ms(o, SUPERVISOR_CONNECT_TIMEOUT_MS),
					       client_negotiate_timeout_ms(o, SUPERVISOR_NEGOTIATE_TIMEOUT_MS),
					       &a->fds[a->n_fds], NULL,
					       &res, &message);
			if (r < 0)
				break;
			a->n_fds++;
			r = attachment_matches(o, a, res, why, sizeof(why));
			if (r < 0 && asprintf(&message, "The server came back changed: %s", why) < 0)
				message = NULL;
			nbd_neg_result_free(res);
		}
		ioctl_publish(a, index, "reconnecting", attempt, 0, message);
		if (r == 0) {
			/* The kernel keeps a device's set-up, and refuses a new one, while it is open;
			 * ours must be closed too, so each set-up opens the device afresh. */
			if (*dev >= 0)
				close(*dev);
			*dev = nbd_dev_open_locked(index, DEVICE_LOCK_TIMEOUT_MS);
			cfg = attachment_device_config(o, a, index);
			r = *dev < 0 ? *dev : nbd_ioctl_setup(*dev, &cfg);
			if (r == -EBUSY && (attempt == 1 || attempt % 10 == 0))
				log_warning("/dev/nbd%d is still held by someone who has it open (a mount?); "
					    "the ioctl interface cannot set it up again until it is closed",
					    index);
			if (r == 0) {
				log_notice("/dev/nbd%d reconnected to its server (attempt %u)", index,
					   attempt);
				return 0;
			}
			else if (r != -EBUSY && (attempt == 1 || attempt % 10 == 0))
				log_warning_errno(r, "Setting /dev/nbd%d up again failed: %m", index);
		} else if (attempt == 1 || attempt % 10 == 0) {
			log_warning("Reconnecting /dev/nbd%d (attempt %u): %s", index, attempt,
				    message ? message : strerror(-r));
		}
		{
			unsigned ms = backoff_next_ms(&b);
			struct timespec pause = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

			nanosleep(&pause, NULL);
		}
	}
	return -ECANCELED;
}

int attach_ioctl(const struct client_options *o, struct attachment *a, int index,
			int *ready_fd)
{
	struct nbd_dev_config cfg;
	_cleanup_close_ int dev = -1;
	int r;

	if (index < 0) {
		index = nbd_dev_find_free();
		if (index < 0)
			return log_error_errno(index, "No free /dev/nbdN device; load the module with "
						      "more devices (--nbds-max) or detach one");
	}
	cfg = attachment_device_config(o, a, index);
	dev = nbd_dev_open_locked(index, DEVICE_LOCK_TIMEOUT_MS);
	if (dev < 0)
		return log_error_errno(dev, "Cannot open /dev/nbd%d: %m", index);
	if (nbd_dev_in_use(index))
		return attachment_refuse_in_use(index);
	r = nbd_ioctl_setup(dev, &cfg);
	if (r == -EBUSY && a->n_fds > 1)
		return log_error_errno(r, "The kernel refused a second connection on /dev/nbd%d: it "
					  "is too old for several connections; use -C 1", index);
	if (r < 0)
		return log_error_errno(r, "Configuring /dev/nbd%d failed: %m", index);
	if (o->persist)
		log_warning("Using the ioctl interface: /dev/nbd%d will be reconnected if the "
			    "connection breaks, but its I/O fails until then (netlink keeps it waiting "
			    "instead)", index);
	else
		log_notice("Using the ioctl interface: /dev/nbd%d fails I/O if the connection breaks, "
			   "and this process must stay until the device is detached", index);
	if (o->persist) {
		struct sigaction sa = { .sa_handler = ioctl_stop_handler };

		/* No SA_RESTART: the signal must end NBD_DO_IT. */
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sa.sa_handler = ioctl_reconnect_handler;
		sigaction(SIGHUP, &sa, NULL);
		/* Blocked since attach began (see cmd_attach); one that came meanwhile arrives now. */
		supervisor_block_signals(false);
		attachment_announce(o, index);
		daemon_ready(*ready_fd, 0);
		*ready_fd = -1;
		if (!o->nofork && !supervisor_in_front()) {
			daemon_detach_stdio();
			log_open(NULL, LOG_TARGET_AUTO);
		}
		(void)notify_send("READY=1");
		supervisor_protect(o);
	} else if (!o->nofork) {
		pid_t pid = fork();

		if (pid < 0)
			return log_error_errno(errno, "Cannot fork: %m");
		if (pid > 0) {
			attachment_announce(o, index);
			return 0;
		}
		(void)setsid();
	}
	for (unsigned reconnects = 0;; reconnects += (unsigned)a->n_fds) {
		if (o->persist)
			ioctl_publish(a, index, "connected", 0, reconnects, NULL);
		rescan_partitions_later(index);
		attachment_record(a, index); /* this process is the one the kernel names */
		/* A stop asked for before NBD_DO_IT began would not interrupt it. */
		r = ioctl_stop ? 0 : nbd_ioctl_run(dev);
		if (!o->persist || ioctl_stop)
			break;
		log_warning("/dev/nbd%d lost its connection (%s); its I/O fails until the server "
			    "answers again", index, r < 0 ? strerror(-r) : "closed");
		(void)notify_send("STATUS=Reconnecting");
		/* Our open descriptor would keep the old set-up alive: let it go. */
		close(TAKE_FD(dev));
		r = ioctl_reconnect(o, a, &dev, index);
		if (r < 0)
			break;
		(void)notify_send("STATUS=Connected");
	}
	if (o->persist)
		runstate_remove(index, getpid());
	if (ioctl_stop && dev >= 0) {
		(void)nbd_ioctl_disconnect(dev);
		r = 0;
	} else if (ioctl_stop) {
		r = 0;
	} else if (r < 0) {
		log_error_errno(r, "/dev/nbd%d stopped: %m", index);
	}
	if (!o->nofork && !o->persist)
		_exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
	return r;
}
