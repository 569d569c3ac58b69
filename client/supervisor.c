/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The supervisor of a persistent device.
 *
 * The kernel owns the device's sockets; the supervisor keeps its own reference to each (the same
 * socket, not a copy) and one event loop over those references, watched for hang-up and error only:
 * the server closing, the kernel shutting a socket it gave up on (a request timeout), or TCP giving
 * up all show there, with no wake-up while data flows. A second witness is the nbd family's
 * multicast group, where the kernel announces each dead connection (LINK_DEAD); multicast can be
 * dropped, so it is not the only one. The loop also has a signalfd (SIGTERM and SIGINT detach,
 * SIGHUP reconnects at once), a timerfd that paces the attempts, and an eventfd through which an
 * attempt reports. While every connection is healthy nothing wakes it: no timer is armed and
 * nothing is polled; with TLS, a periodic check replaces a session before its key has protected
 * too many records, or once a record the kernel's TLS cannot read has stopped it (tls-age.h).
 * A connection whose TLS the kernel cannot hold is relayed (tls-relay.h): its two sockets are
 * watched edge-triggered in this same loop, which then wakes with the traffic.
 *
 * A connection that dies is shut down on our side too (so the kernel certainly counts it dead,
 * which RECONFIGURE needs: it only fills dead slots, and silently drops a socket when none is),
 * then replaced: connect and negotiate through the same function as attach, on a thread of its own
 * so that signals are answered while a server takes its time (reconnect-attempt.h); check that the
 * export is unchanged; hand the new socket over with NBD_CMD_RECONFIGURE and the device's backend
 * identifier, and check that the kernel took it. Attempts are spaced by an exponential backoff with
 * jitter. Meanwhile the kernel holds I/O for the dead-connection timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "client/backoff.h"
#include "client/connection.h"
#include "client/partition-scan.h"
#include "client/reconnect-attempt.h"
#include "client/runstate.h"
#include "client/supervisor-process.h"
#include "client/supervisor.h"
#include "client/tls-age.h"
#include "client/tls-relay.h"
#include "common/clock.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/notify.h"
#include "common/sockstate.h"
#include "netlink/nbd-dev.h"

/* A connection must stay up this long before the next loss starts again from the shortest delay: a
 * server that accepts and then drops every connection is otherwise hammered. */
#define STABLE_CONNECTION_MS 10000
/* How soon to try again when the kernel did not take a new socket (the old one not yet dead). */
#define NOT_ADOPTED_RETRY_MS 100

/* epoll tags: a connection slot is its index (with the slot's generation in the upper half, so that
 * a stale event for a replaced socket is recognised), and its relay's sockets the same with
 * TAG_RELAY added; the rest sit above any slot. */
#define TAG_RELAY 0x10000u
enum {
	TAG_SIGNAL = 1000,
	TAG_MONITOR,
	TAG_TIMER,
	TAG_ATTEMPT,
	TAG_TLS_AGE,
	TAG_READY,
};

enum supervisor_state {
	STATE_CONNECTED,
	STATE_RECONNECTING,
	STATE_STOPPING,
};

static const char *const state_names[] = {
	[STATE_CONNECTED] = "connected",
	[STATE_RECONNECTING] = "reconnecting",
	[STATE_STOPPING] = "stopping",
};

struct supervisor {
	const struct client_options *o;
	struct attachment *a; /* a->fds[i] < 0: slot i is dead, unless a->adopted_inodes[i] */
	int index;
	pid_t kernel_pid;     /* who the kernel says attached the device: us, or whom we took over */
	char where[512];
	struct nbd_nl *nl;
	struct nbd_nl *monitor;
	int epfd, sigfd, timerfd, attempt_fd;
	int agefd;             /* TLS only: a periodic check of the sessions' record counts */
	int readyfd;           /* the partition scan is done (partition-scan.h) */
	int ready_pipe;        /* the daemon's readiness pipe until ready (-1: told, or none) */
	struct tls_age age;
	enum supervisor_state state;
	size_t n_dead;
	struct backoff backoff;
	int64_t since;         /* CLOCK_REALTIME seconds, for status */
	int64_t since_ms;      /* CLOCK_MONOTONIC, for durations */
	unsigned attempts;     /* in this outage */
	unsigned reconnects;   /* connections replaced since start */
	int64_t connected_ms;  /* CLOCK_MONOTONIC when every connection was last up */
	uint32_t generation[ATTACH_MAX_CONNECTIONS]; /* bumped whenever a slot gets a socket */
	char last_error[384];
	/* The kinds of failure this outage has logged (hashes of their messages), so that a long
	 * outage, or a server failing two ways in turn, leaves a few lines, not thousands. */
	uint32_t logged_kinds[8];
	unsigned n_logged_kinds;
	bool warned_runstate;
	struct supervisor_view view; /* started in an initramfs: /proc, /sys, /dev, /run kept */
	struct reconnect_attempt *attempt; /* non-NULL while its thread runs */
};

/* ---------------------------------------------------------------- state, published */

static void publish(struct supervisor *s)
{
	struct supervisor_report r = {
		.pid = getpid(),
		.since = s->since,
		.attempts = s->attempts,
		.connections = (unsigned)s->a->n_fds,
		.dead = (unsigned)s->n_dead,
		.reconnects = s->reconnects,
	};
	int err;

	for (size_t i = 0; i < s->a->n_fds; i++)
		if (s->a->adopted_inodes[i])
			r.taken_over++;

	snprintf(r.state, sizeof(r.state), "%s", state_names[s->state]);
	snprintf(r.interface, sizeof(r.interface), "netlink");
	snprintf(r.last_error, sizeof(r.last_error), "%s", s->last_error);
	snprintf(r.backend, sizeof(r.backend), "%s", s->a->backend ? s->a->backend : "");
	err = runstate_write(s->index, &r);
	if (err < 0 && !s->warned_runstate) {
		log_warning_errno(err, "Cannot publish the state of /dev/nbd%d in %s: %m; 'status' and "
				       "'reconnect' will not find this supervisor", s->index,
				  RUNSTATE_DIR);
		s->warned_runstate = true;
	}
	if (s->state == STATE_CONNECTED)
		(void)notify_sendf("STATUS=/dev/nbd%d connected to %s (%zu connection%s)", s->index,
				   s->where, s->a->n_fds, s->a->n_fds == 1 ? "" : "s");
	else if (s->state == STATE_RECONNECTING)
		(void)notify_sendf("STATUS=/dev/nbd%d reconnecting to %s (%zu of %zu connections "
				   "lost; attempt %u%s%s)",
				   s->index, s->where, s->n_dead, s->a->n_fds, s->attempts,
				   s->last_error[0] ? ": " : "", s->last_error);
}

/* Server-sent text reaches the log, the status line and sd_notify: control characters there could
 * forge lines or notification fields. */
static void sanitize(char *text)
{
	for (unsigned char *p = (unsigned char *)text; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* Logs an attempt's failure the first time this outage fails that way (and every hundredth
 * attempt, so that a long outage still shows in the log); the status always has the latest. */
static void log_attempt_failure(struct supervisor *s)
{
	uint32_t kind = 2166136261u; /* FNV-1a of the message */
	bool seen = false;

	sanitize(s->last_error);
	for (const unsigned char *p = (const unsigned char *)s->last_error; *p; p++)
		kind = (kind ^ *p) * 16777619u;
	for (unsigned i = 0; i < s->n_logged_kinds; i++)
		seen |= s->logged_kinds[i] == kind;
	if (seen && s->attempts % 100 != 0)
		return;
	if (!seen && s->n_logged_kinds < ELEMENTSOF(s->logged_kinds))
		s->logged_kinds[s->n_logged_kinds++] = kind;
	log_warning("/dev/nbd%d: reconnection attempt %u failed: %s", s->index, s->attempts,
		    s->last_error);
}

/* ---------------------------------------------------------------- timer */

static void arm_timer(struct supervisor *s, unsigned ms)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L },
	};

	if (ms == 0)
		its.it_value.tv_nsec = 1; /* zero would disarm it */
	(void)timerfd_settime(s->timerfd, 0, &its, NULL);
}

/* ---------------------------------------------------------------- connections */

static int watch_slot(struct supervisor *s, size_t i)
{
	/* Hang-up and error only (EPOLLHUP and EPOLLERR are always reported): the kernel reads this
	 * socket, and data waiting for it must not wake us. */
	struct epoll_event ev = {
		.events = EPOLLRDHUP,
		.data.u64 = (uint64_t)++s->generation[i] << 32 | i,
	};
	struct tls_relay *relay = s->a->relays[i];

	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->a->fds[i], &ev) < 0)
		return negative_errno();
	if (!relay)
		return 0;
	/* The relay moves data whenever either side can take or give some. */
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u64 |= TAG_RELAY;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, tls_relay_net_fd(relay), &ev) < 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, tls_relay_local_fd(relay), &ev) < 0)
		return negative_errno();
	return 0;
}

static void slot_dead(struct supervisor *s, size_t i, const char *why)
{
	int fd = s->a->fds[i], err = 0;
	socklen_t len = sizeof(err);
	char reason[128];

	if (fd < 0 && !s->a->adopted_inodes[i])
		return;
	s->a->adopted_inodes[i] = 0; /* the kernel's own, already dead: nothing to shut */
	if (!why) {
		(void)getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		snprintf(reason, sizeof(reason), "%s", err ? strerror(err) : "closed");
		why = reason;
	}
	if (fd >= 0) {
		(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
		/* The same socket as the kernel's: shutting it makes the kernel count it dead now,
		 * if the server's close has not already. */
		(void)shutdown(fd, SHUT_RDWR);
		close(fd);
	}
	s->a->fds[i] = -1;
	/* Closing the relay's sockets takes them out of the loop. */
	s->a->relays[i] = tls_relay_free(s->a->relays[i]);
	s->n_dead++;
	log_notice("/dev/nbd%d: connection %zu of %zu to %s lost (%s); reconnecting", s->index, i + 1,
		   s->a->n_fds, s->where, why);
	if (s->state == STATE_CONNECTED) {
		bool stable = now_ms() - s->connected_ms >= STABLE_CONNECTION_MS;

		s->state = STATE_RECONNECTING;
		s->since = time(NULL);
		s->since_ms = now_ms();
		s->attempts = 0;
		s->last_error[0] = '\0';
		s->n_logged_kinds = 0;
		if (stable)
			backoff_reset(&s->backoff);
		if (!s->attempt)
			arm_timer(s, stable ? 0 : backoff_next_ms(&s->backoff));
	}
	publish(s);
}

static void on_relay(struct supervisor *s, size_t i)
{
	char why[300];

	if (!s->a->relays[i] || tls_relay_pump(s->a->relays[i]) == 0)
		return;
	snprintf(why, sizeof(why), "relayed TLS: %s", tls_relay_error(s->a->relays[i]));
	slot_dead(s, i, why);
}

/* After a LINK_DEAD event, or to be sure: every slot whose socket has hung up is dead. */
static void scan_slots(struct supervisor *s)
{
	for (size_t i = 0; i < s->a->n_fds; i++) {
		struct pollfd p = { .fd = s->a->fds[i], .events = POLLRDHUP };

		/* A connection taken over is known only by its socket's inode. */
		if (p.fd < 0 && s->a->adopted_inodes[i] &&
		    socket_inode_connected(s->a->adopted_inodes[i]) == 0)
			slot_dead(s, i, "closed");
		if (p.fd < 0)
			continue;
		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)))
			slot_dead(s, i, NULL);
	}
}

static void on_link_dead(int index, void *userdata)
{
	struct supervisor *s = userdata;

	if (index != s->index)
		return;
	log_debug("/dev/nbd%d: the kernel reports a dead connection", index);
	scan_slots(s);
}

/* ---------------------------------------------------------------- attempts */

/* Hands the attempt's sockets to the kernel: the number it took (the rest are closed), 0 when the
 * kernel took none, a negative errno when it refused, or -ESHUTDOWN when the device is no longer
 * this supervisor's. */
static int hand_over(struct supervisor *s, struct reconnect_attempt *at, size_t n)
{
	struct nbd_dev_config cfg = {
		.index = s->index,
		.backend = s->a->backend,
		.fds = at->fds,
		.n_fds = n,
	};
	size_t k = 0;
	int r;

	r = nbd_nl_reconfigure(s->nl, &cfg);
	/* EINVAL: the device is no longer bound (someone detached it; a mounted file system keeps
	 * its sysfs files) or carries another backend: either way not ours to reconnect. */
	if (r == -EINVAL || (r < 0 && !attachment_on_device(s->a, s->index, s->kernel_pid)))
		return -ESHUTDOWN;
	if (r < 0) {
		snprintf(s->last_error, sizeof(s->last_error),
			 "the kernel refused the new connection (RECONFIGURE: %s; the nbd driver "
			 "logs its reason: dmesg)", strerror(-r));
		return r;
	}
	/* Our references to the sockets the kernel took fill the dead slots, watched like the
	 * first; the others are closed (after the loop) and tried again. */
	for (size_t j = 0; j < n; j++) {
		if (!attachment_kernel_took(at->fds[j])) {
			log_debug("/dev/nbd%d: the kernel did not take new connection %zu yet", s->index,
				  j + 1);
			continue;
		}
		for (size_t i = 0; i < s->a->n_fds; i++) {
			if (s->a->fds[i] >= 0 || s->a->adopted_inodes[i])
				continue;
			s->a->fds[i] = at->fds[j];
			at->fds[j] = -1;
			s->a->relays[i] = TAKE_PTR(at->relays[j]);
			/* A device taken over learns its export from its first new connection. */
			if (s->a->export_size == 0 && at->res[j]) {
				s->a->export_size = at->res[j]->size;
				s->a->server_flags = at->res[j]->transmission_flags;
			}
			s->n_dead--;
			s->reconnects++;
			k++;
			if (watch_slot(s, i) < 0)
				slot_dead(s, i, "cannot watch it");
			else
				on_relay(s, i); /* what arrived before it was watched */
			break;
		}
	}
	/* status tells the device's connections apart by their sockets: name the new ones. */
	if (k > 0 && connrecord_write(s->index, s->kernel_pid, s->a->backend, s->a->fds,
				      s->a->adopted_inodes, s->a->n_fds,
				      attachment_tls_mode(s->a), true) == 0)
		(void)nbd_dev_trigger_change(s->index); /* for udev's ID_NBD_* properties */
	return (int)k;
}

/* 1: the device was detached by someone else; 0: carry on. */
static int on_attempt_done(struct supervisor *s)
{
	struct reconnect_attempt *at = s->attempt;
	uint64_t v;
	size_t n;
	char why[160];
	int r = 0;

	(void)!read(s->attempt_fd, &v, sizeof(v));
	reconnect_attempt_join(at);
	s->attempt = NULL;
	s->attempts++;
	n = at->got;
	for (size_t i = 0; i < n; i++)
		if (attachment_matches(s->o, s->a, at->res[i], why, sizeof(why)) < 0) {
			snprintf(s->last_error, sizeof(s->last_error),
				 "the server came back with a changed export: %s; not handing it to "
				 "the device (detach and attach again to accept the change)", why);
			n = 0;
			break;
		}
	if (n > 0) {
		r = hand_over(s, at, n);
		if (r == -ESHUTDOWN) {
			reconnect_attempt_free(at);
			return 1;
		}
		if (r == 0) {
			/* The kernel has not counted the old socket dead yet: soon it will. */
			reconnect_attempt_free(at);
			publish(s);
			arm_timer(s, NOT_ADOPTED_RETRY_MS);
			return 0;
		}
		n = r < 0 ? 0 : (size_t)r;
	}
	if (n == 0 && at->error < 0)
		snprintf(s->last_error, sizeof(s->last_error), "%s",
			 at->message ? at->message : strerror(-at->error));
	sanitize(s->last_error);
	reconnect_attempt_free(at);

	if (s->n_dead == 0) {
		log_notice("/dev/nbd%d: reconnected to %s after %.1f s (%u attempt%s)", s->index,
			   s->where, (double)(now_ms() - s->since_ms) / 1000.0, s->attempts,
			   s->attempts == 1 ? "" : "s");
		s->state = STATE_CONNECTED;
		s->connected_ms = now_ms();
		s->since = time(NULL);
		s->attempts = 0;
		s->last_error[0] = '\0';
		backoff_reset(&s->backoff);
		publish(s);
		return 0;
	}
	if (n == 0)
		log_attempt_failure(s);
	publish(s);
	/* Some connections came back: try the rest at once; none did: wait. */
	arm_timer(s, n > 0 ? 0 : backoff_next_ms(&s->backoff));
	return 0;
}

static void on_timer(struct supervisor *s)
{
	uint64_t v;
	int r;

	(void)!read(s->timerfd, &v, sizeof(v));
	if (s->attempt || s->n_dead == 0)
		return;
	if (!attachment_on_device(s->a, s->index, s->kernel_pid)) {
		s->state = STATE_STOPPING;
		return;
	}
	r = reconnect_attempt_start(
	    s->o, s->n_dead, client_connect_timeout_ms(s->o, SUPERVISOR_CONNECT_TIMEOUT_MS),
	    client_negotiate_timeout_ms(s->o, SUPERVISOR_NEGOTIATE_TIMEOUT_MS), s->attempt_fd,
	    &s->attempt);
	if (r < 0) {
		log_warning_errno(r, "/dev/nbd%d: cannot start a reconnection attempt: %m", s->index);
		arm_timer(s, backoff_next_ms(&s->backoff));
	}
}

/* The kernel's TLS stops reading at a record that is not data (a TLS 1.3 key update, a late
 * session ticket, an alert), and the nbd driver may neither fail that connection nor report it:
 * its I/O would wait for ever. Such a connection is replaced. */
static void check_kernel_readers(struct supervisor *s)
{
	for (size_t i = 0; i < s->a->n_fds; i++) {
		const char *stopped;
		char why[300];

		if (s->a->fds[i] < 0 || s->a->relays[i])
			continue;
		stopped = tls_age_reader_stopped(s->a->fds[i]);
		if (!stopped)
			continue;
		snprintf(why, sizeof(why), "%s; a fresh session replaces it", stopped);
		slot_dead(s, i, why);
	}
}

/* A TLS session near its key's record limit is replaced like a dead connection, one at a time: the
 * kernel holds that connection's I/O meanwhile, and the others carry on. */
static void on_tls_age(struct supervisor *s)
{
	uint64_t v, records = 0;
	char why[128];
	int i;

	(void)!read(s->agefd, &v, sizeof(v));
	scan_slots(s); /* connections taken over are seen only here and on LINK_DEAD */
	check_kernel_readers(s);
	if (s->state != STATE_CONNECTED)
		return;
	i = tls_age_oldest(&s->age, s->a->fds, s->a->relays, s->a->n_fds, &records);
	if (i < 0)
		return;
	snprintf(why, sizeof(why), "its TLS session has carried %llu records; a fresh one replaces it "
				   "before the key wears out", (unsigned long long)records);
	slot_dead(s, (size_t)i, why);
}

/* ---------------------------------------------------------------- readiness and stopping */

/* The device and its partitions are usable: the attach that waits returns, the service manager
 * hears READY=1. */
static void announce_ready(struct supervisor *s)
{
	if (s->ready_pipe >= 0) {
		daemon_ready(s->ready_pipe, 0);
		s->ready_pipe = -1;
	}
	(void)notify_send("READY=1");
	log_info("/dev/nbd%d: supervising %zu connection%s to %s", s->index, s->a->n_fds,
		 s->a->n_fds == 1 ? "" : "s", s->where);
}

/* Whether the device may be detached on a stop request: not while something uses it (a mount, swap,
 * a holder, an open), whose cached writes would be lost; the service manager stops the mounts
 * first, and a detach by hand asks the same question before it stops the supervisor. */
static bool free_to_detach(struct supervisor *s, char *who, size_t len)
{
	pid_t except[2] = { getpid(), s->kernel_pid };

	/* udev's probe opens a device for a moment: only a use that lasts counts. */
	for (int tries = 0; tries < 10; tries++) {
		struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };

		if (nbd_dev_users(s->index, except, ELEMENTSOF(except), who, len) <= 0)
			return true;
		nanosleep(&pause, NULL);
	}
	return false;
}

static bool relayed(const struct supervisor *s)
{
	for (size_t i = 0; i < s->a->n_fds; i++)
		if (s->a->relays[i])
			return true;
	return false;
}

/* ---------------------------------------------------------------- signals */

/* 1: stop. */
static int on_signal(struct supervisor *s)
{
	struct signalfd_siginfo si;

	if (read(s->sigfd, &si, sizeof(si)) != sizeof(si))
		return 0;
	switch (si.ssi_signo) {
	case SIGHUP:
		/* Planned maintenance: let go of every connection now and connect again. Shutting
		 * our reference makes the kernel see each socket die; its I/O waits for the new
		 * ones. */
		log_notice("/dev/nbd%d: reconnecting on request (SIGHUP)", s->index);
		for (size_t i = 0; i < s->a->n_fds; i++) {
			/* A connection taken over cannot be shut from here: it is replaced when
			 * it dies. */
			if (s->a->adopted_inodes[i]) {
				log_notice("/dev/nbd%d: connection %zu is the kernel's alone (taken "
					   "over); it is replaced once it dies", s->index, i + 1);
				continue;
			}
			slot_dead(s, i, "reconnect requested");
		}
		return 0;
	default: {
		char who[1024];

		/* A relayed device's data passes through this process: ending it while the device is
		 * used would fail everything on it. */
		if (relayed(s) && !free_to_detach(s, who, sizeof(who))) {
			log_warning("/dev/nbd%d: not stopping (%s): the device is in use (%s), and its "
				    "TLS is relayed by this process; unmount it (or swapoff, or close "
				    "the program) first", s->index, strsignal((int)si.ssi_signo), who);
			return 0;
		}
		log_notice("/dev/nbd%d: detaching (%s)", s->index, strsignal((int)si.ssi_signo));
		return 1;
	}
	}
}

/* ---------------------------------------------------------------- set-up and loop */

static int add_watch(struct supervisor *s, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return negative_errno();
	return 0;
}

static int setup(struct supervisor *s)
{
	bool adopted = false;
	sigset_t mask;
	int r;

	daemon_signal_mask(&mask);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return log_error_errno(errno, "Cannot block signals: %m");
	s->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	s->attempt_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->sigfd < 0 || s->epfd < 0 || s->timerfd < 0 || s->attempt_fd < 0)
		return log_error_errno(errno, "Cannot set up the supervisor's event loop: %m");
	r = nbd_nl_open(&s->nl);
	if (r < 0)
		return log_error_errno(r, "Cannot open the nbd netlink interface: %m");
	r = nbd_nl_monitor_open(&s->monitor);
	if (r < 0)
		log_warning_errno(r, "Cannot subscribe to the kernel's link-dead events (%m); dead "
				     "connections are still noticed on the sockets themselves");
	if ((r = add_watch(s, s->sigfd, TAG_SIGNAL)) < 0 ||
	    (s->monitor && (r = add_watch(s, nbd_nl_fd(s->monitor), TAG_MONITOR)) < 0) ||
	    (r = add_watch(s, s->timerfd, TAG_TIMER)) < 0 ||
	    (r = add_watch(s, s->attempt_fd, TAG_ATTEMPT)) < 0)
		return log_error_errno(r, "Cannot set up the supervisor's event loop: %m");
	for (size_t i = 0; i < s->a->n_fds; i++) {
		if (s->a->fds[i] < 0) {
			if (s->a->adopted_inodes[i])
				adopted = true;
			else
				s->n_dead++; /* taken over already dead */
			continue;
		}
		r = watch_slot(s, i);
		if (r < 0)
			return log_error_errno(r, "Cannot watch connection %zu: %m", i + 1);
		/* The kernel may have written before the loop watched: edge-triggered events
		 * would not say so. */
		on_relay(s, i);
	}
	/* The one wake-up of a healthy device, and only with TLS (see tls-age.h) or connections
	 * taken over, which have no socket of ours to watch. */
	if (s->o->target.tls.enabled || s->a->tls || adopted) {
		tls_age_init(&s->age);
		s->agefd = r = tls_age_timer(&s->age);
		if (r >= 0)
			r = add_watch(s, s->agefd, TAG_TLS_AGE);
		if (r < 0)
			return log_error_errno(r, "Cannot set up the TLS session check: %m");
	}
	return 0;
}

static void teardown(struct supervisor *s)
{
	if (s->attempt) {
		/* A connect or handshake still running would go on reading the caller's options
		 * after they are freed: end it. */
		reconnect_attempt_cancel(s->attempt);
		s->attempt = NULL;
	}
	nbd_nl_close(s->monitor);
	nbd_nl_close(s->nl);
	supervisor_view_release(&s->view);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->sigfd >= 0)
		close(s->sigfd);
	if (s->timerfd >= 0)
		close(s->timerfd);
	if (s->attempt_fd >= 0)
		close(s->attempt_fd);
	if (s->agefd >= 0)
		close(s->agefd);
	if (s->readyfd >= 0)
		close(s->readyfd);
	/* Stopped before it was ready: the attach that waits for it has failed. */
	daemon_ready(s->ready_pipe, 1);
	s->ready_pipe = -1;
	runstate_remove(s->index, getpid());
}

int supervise(const struct client_options *o, struct attachment *a, int index, int ready_fd)
{
	struct supervisor s = {
		.o = o,
		.a = a,
		.index = index,
		.epfd = -1,
		.sigfd = -1,
		.timerfd = -1,
		.attempt_fd = -1,
		.agefd = -1,
		.readyfd = -1,
		.ready_pipe = ready_fd,
		.kernel_pid = a->kernel_pid ? a->kernel_pid : getpid(),
		.state = STATE_CONNECTED,
		.since = time(NULL),
		.connected_ms = now_ms(),
	};
	bool detached_by_other = false;
	char who[1024];
	int r;

	client_target_string(&o->target, s.where, sizeof(s.where));
	backoff_init(&s.backoff, o->retry_min_ms ? o->retry_min_ms : SUPERVISOR_RETRY_MIN_MS,
		     o->retry_max_ms ? o->retry_max_ms : SUPERVISOR_RETRY_MAX_MS,
		     (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)time(NULL));
	supervisor_view_hold(&s.view);
	r = setup(&s);
	if (r < 0) {
		/* Without its supervisor the device would not reconnect: do not leave it so (unless
		 * it was taken over: then it worked before us, and still does). */
		if (s.nl && !a->kernel_pid)
			(void)nbd_nl_disconnect(s.nl, index);
		teardown(&s);
		return r;
	}
	if (s.n_dead > 0) {
		/* Taken over with connections already dead: replace them now. */
		s.state = STATE_RECONNECTING;
		s.since_ms = now_ms();
		arm_timer(&s, 0);
	}
	publish(&s);
	supervisor_protect(o);
	/* The log's target changes only while no other thread can log (common/log.h): before any
	 * attempt or scan thread starts. What the attach printed so far reached its terminal. */
	if (ready_fd >= 0) {
		daemon_detach_stdio();
		log_open(NULL, LOG_TARGET_AUTO);
	}
	/* Ready once the partitions are there: on a thread, since reading them may need this
	 * loop (a relay) or a reconnection. */
	s.readyfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* (With --disconnect-on-close the scan's close could be the last one, and detach it.) */
	if ((o->client_flags & NBD_CLIENT_FLAG_DISCONNECT_ON_CLOSE) || s.readyfd < 0 ||
	    add_watch(&s, s.readyfd, TAG_READY) < 0 || partition_scan_start(index, s.readyfd) < 0) {
		log_debug("/dev/nbd%d: cannot wait for the partition table; ready without", index);
		s.readyfd = safe_close(s.readyfd);
		announce_ready(&s);
	}

	while (s.state != STATE_STOPPING) {
		struct epoll_event ev[8];
		int n = epoll_wait(s.epfd, ev, (int)ELEMENTSOF(ev), -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = log_error_errno(errno, "The supervisor's event loop failed: %m; /dev/nbd%d "
						   "stays attached without a supervisor (attach it "
						   "again with -persist to have one)", index);
			break;
		}
		/* Anything but relayed traffic may read sysfs or /run: after the switch to the real
		 * root, only once they are back in view. */
		for (int i = 0; i < n; i++)
			if (!((uint32_t)ev[i].data.u64 & TAG_RELAY)) {
				supervisor_view_follow(&s.view, index);
				break;
			}
		for (int i = 0; i < n && s.state != STATE_STOPPING; i++) {
			switch (ev[i].data.u64) {
			case TAG_SIGNAL:
				if (on_signal(&s) == 1)
					s.state = STATE_STOPPING;
				break;
			case TAG_MONITOR:
				if (nbd_nl_monitor_read(s.monitor, on_link_dead, &s) < 0)
					scan_slots(&s);
				break;
			case TAG_TIMER:
				on_timer(&s);
				detached_by_other = s.state == STATE_STOPPING;
				break;
			case TAG_TLS_AGE:
				on_tls_age(&s);
				break;
			case TAG_READY:
				/* Once: closing it takes it out of the loop. */
				s.readyfd = safe_close(s.readyfd);
				announce_ready(&s);
				break;
			case TAG_ATTEMPT:
				if (on_attempt_done(&s) == 1) {
					detached_by_other = true;
					s.state = STATE_STOPPING;
				}
				break;
			default: {
				uint32_t low = (uint32_t)(ev[i].data.u64 & 0xffffffffu);
				size_t slot = low & ~TAG_RELAY;

				/* An event queued for a socket already replaced in this batch is
				 * old. */
				if (slot >= a->n_fds ||
				    (uint32_t)(ev[i].data.u64 >> 32) != s.generation[slot])
					break;
				if (low & TAG_RELAY)
					on_relay(&s, slot);
				else
					slot_dead(&s, slot, NULL);
				break;
			}
			}
		}
	}
	if (s.state == STATE_STOPPING) {
		(void)notify_send("STOPPING=1");
		if (detached_by_other) {
			log_notice("/dev/nbd%d was detached by someone else; the supervisor ends", index);
		} else if (!attachment_on_device(a, index, s.kernel_pid)) {
			log_notice("/dev/nbd%d is no longer this supervisor's; leaving it alone", index);
		} else if (!free_to_detach(&s, who, sizeof(who))) {
			log_warning("/dev/nbd%d is in use (%s): it stays attached, without a "
				    "supervisor; detach it with nbd-client detach once it is free",
				    index, who);
		} else {
			publish(&s);
			r = nbd_nl_disconnect(s.nl, index);
			if (r < 0)
				log_error_errno(r, "Detaching /dev/nbd%d failed: %m", index);
			else
				log_notice("/dev/nbd%d detached", index);
		}
	}
	teardown(&s);
	return r;
}
