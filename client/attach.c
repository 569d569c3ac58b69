/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * attach: connect (one or more connections), negotiate, choose the block size, and hand the sockets to
 * the kernel over netlink (or with the ioctl sequence, which keeps this process in NBD_DO_IT).
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/attachment.h"
#include "client/backoff.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/runstate.h"
#include "client/supervisor.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/notify.h"
#include "common/parse.h"
#include "netlink/nbd-dev.h"
#include "proto/names.h"
#include "proto/nbd-protocol.h"

/* How long udev's probe may hold the device lock before attach gives up. */
#define DEVICE_LOCK_TIMEOUT_MS 5000

void attachment_close_fds(struct attachment *a)
{
	for (size_t i = 0; i < a->n_fds; i++)
		if (a->fds[i] >= 0)
			close(a->fds[i]);
	a->n_fds = 0;
}

void attachment_done(struct attachment *a)
{
	attachment_close_fds(a);
	free(a->backend);
	a->backend = NULL;
}

static bool is_power_of_2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/*
 * The kernel takes power-of-two block sizes from 512 to the page size. The default is the
 * reference's, 512, whatever the server prefers: file systems and partition tables made through
 * the reference client assume 512-byte sectors, and a larger logical block size would make the
 * kernel refuse to mount them or read their partitions at the wrong offsets. Only an export
 * whose minimum is larger gets its minimum. -b preferred asks for the server's preferred size;
 * -b N must still meet the minimum.
 */
static int choose_block_size(const struct client_options *o, const struct nbd_neg_result *res,
			     uint32_t *ret)
{
	uint32_t page = (uint32_t)sysconf(_SC_PAGESIZE), bs;
	bool knows = res && res->has_block_size;

	if (o->block_size == CLIENT_BLOCK_SIZE_PREFERRED) {
		bs = knows ? MAX(res->block_preferred, 512u) : 512;
		if (bs > page)
			bs = knows ? MAX(res->block_minimum, 512u) : 512;
	} else if (o->block_size) {
		bs = o->block_size;
		if (knows && bs < res->block_minimum)
			return log_error_errno(EINVAL, "Block size %u (-b) is below the export's minimum "
						       "of %u; use -b %u or larger",
					       bs, res->block_minimum, res->block_minimum);
	} else {
		bs = knows ? MAX(res->block_minimum, 512u) : 512;
	}
	if (knows && bs > page && res->block_minimum > page)
		return log_error_errno(EINVAL, "The export requires blocks of at least %u bytes, more "
					       "than this kernel's limit of %u (the page size)",
				       res->block_minimum, page);
	if (!is_power_of_2(bs) || bs < 512 || bs > page)
		return log_error_errno(EINVAL, "Block size %u is not usable: the kernel takes a power "
					       "of two from 512 to %u (the page size)", bs, page);
	*ret = bs;
	return 0;
}

static char *backend_identifier(const struct client_options *o)
{
	char *s = NULL;
	const char *name = o->target.export_name ? o->target.export_name : "";

	if (o->identifier)
		return strdup(o->identifier);
	if (o->target.kind == TARGET_UNIX)
		(void)!asprintf(&s, "nbd+unix:///%s?socket=%s", name, o->target.socket_path);
	else if (o->target.kind == TARGET_TCP)
		(void)!asprintf(&s, strchr(o->target.host, ':') ? "nbd://[%s]:%s/%s" : "nbd://%s:%s/%s",
				o->target.host, o->target.port ? o->target.port : "10809", name);
	else
		s = strdup("nbd-client");
	return s;
}

int attachment_matches(const struct client_options *o, const struct attachment *a,
		       const struct nbd_neg_result *res, char *why, size_t len)
{
	if (!res)
		return 0; /* no handshake (--negotiated, -P): nothing to compare */
	/* With -B the device uses only that much, so a larger export is still the same device. */
	if (o->size ? res->size < a->size : res->size != a->export_size) {
		snprintf(why, len, "the export's size is now %llu bytes, not %llu",
			 (unsigned long long)res->size,
			 (unsigned long long)(o->size ? a->size : a->export_size));
		return -EPROTO;
	}
	if (res->transmission_flags != a->server_flags) {
		snprintf(why, len, "the export's transmission flags are now 0x%x, not 0x%x",
			 res->transmission_flags, a->server_flags);
		return -EPROTO;
	}
	if (res->has_block_size && res->block_minimum > a->block_size) {
		snprintf(why, len, "the export now needs blocks of at least %u bytes; the device "
				   "uses %u", res->block_minimum, a->block_size);
		return -EPROTO;
	}
	return 0;
}

/* Opens (or takes) every connection and negotiates on it; all must describe the same export. */
static int open_connections(const struct client_options *o, struct attachment *a)
{
	unsigned n = o->n_fds ? (unsigned)o->n_fds : MAX(o->connections, 1u);
	char where[512];
	int r;

	client_target_string(&o->target, where, sizeof(where));
	if (n > ATTACH_MAX_CONNECTIONS)
		return log_error_errno(EINVAL, "At most %d connections are supported (-C %u)",
				       ATTACH_MAX_CONNECTIONS, n);
	for (unsigned i = 0; i < n; i++) {
		_cleanup_free_ char *message = NULL;
		struct nbd_neg_result *res = NULL;
		char why[256];
		int fd;

		r = client_open_export(o, o->n_fds ? o->fds[i] : -1, NBD_NEG_ATTACH,
				       CLIENT_CONNECT_TIMEOUT_MS, CLIENT_NEGOTIATE_TIMEOUT_MS, &fd, &res,
				       &message);
		if (r < 0) {
			log_error_errno(r, "%s", message ? message : strerror(-r));
			/* Sockets given with --fd cannot be asked again. */
			if (r == -ENOENT && !o->n_fds)
				client_log_exports(o);
			return r;
		}
		a->fds[a->n_fds++] = fd;
		if (!res) {
			/* The caller did the handshake (or none is wanted): the size comes from it. */
			a->size = o->size;
			a->server_flags = o->flags_given ? (uint16_t)o->flags : NBD_FLAG_HAS_FLAGS;
			continue;
		}
		if (i == 0) {
			a->size = o->size ? o->size : res->size;
			a->export_size = res->size;
			a->server_flags = res->transmission_flags;
			r = choose_block_size(o, res, &a->block_size);
			if (r == 0 && o->size > res->size)
				r = log_error_errno(EINVAL, "The size given with -B, %llu bytes, is larger "
							    "than the export (%llu bytes)",
						    (unsigned long long)o->size,
						    (unsigned long long)res->size);
		} else if (attachment_matches(o, a, res, why, sizeof(why)) < 0) {
			r = log_error_errno(EPROTO, "Connection %u to %s describes the export differently "
						    "than the first: %s; refusing to mix them",
					    i + 1, where, why);
		}
		nbd_neg_result_free(res);
		if (r < 0)
			return r;
	}
	a->flags = a->server_flags;
	if (!a->block_size) {
		r = choose_block_size(o, NULL, &a->block_size);
		if (r < 0)
			return r;
	}
	if (a->n_fds > 1 && !(a->flags & NBD_FLAG_CAN_MULTI_CONN))
		return log_error_errno(EINVAL, "The server does not allow several connections to this "
					       "export (no CAN_MULTI_CONN): use -C 1");
	if (a->size == 0)
		return log_error_errno(EINVAL, "The export is empty (size 0); nothing to attach");
	if (o->size && o->size % a->block_size)
		return log_error_errno(EINVAL, "The size given with -B, %llu bytes, is not a multiple "
					       "of the block size %u; give a multiple of it",
				       (unsigned long long)o->size, a->block_size);
	if (a->size % a->block_size) {
		uint64_t usable = a->size - a->size % a->block_size;

		/* As the reference does: the device ends at the last whole block. */
		if (usable == 0)
			return log_error_errno(EINVAL, "The export's size, %llu bytes, is smaller than "
						       "one block of %u bytes; nothing to attach",
					       (unsigned long long)a->size, a->block_size);
		log_warning("The export's size, %llu bytes, is not a multiple of the block size %u: "
			    "the device has %llu bytes and the last %llu bytes of the export cannot be "
			    "reached through it (choose the size with -B to silence this)",
			    (unsigned long long)a->size, a->block_size, (unsigned long long)usable,
			    (unsigned long long)(a->size - usable));
		a->size = usable;
	}
	if (o->read_only)
		a->flags |= NBD_FLAG_READ_ONLY;
	return 0;
}

/* Says who holds a device, for the refusal message. */
static void describe_user(int index, char *buf, size_t len)
{
	_cleanup_free_ char *backend = NULL;
	pid_t pid = 0;

	(void)nbd_sysfs_read(index, "backend", &backend);
	(void)nbd_dev_pid(index, &pid);
	if (backend && pid > 0)
		snprintf(buf, len, "backend %s, pid %d", backend, (int)pid);
	else if (backend)
		snprintf(buf, len, "backend %s", backend);
	else if (pid > 0)
		snprintf(buf, len, "pid %d", (int)pid);
	else
		snprintf(buf, len, "being configured");
}

/* What a netlink CONNECT refusal usually means, since the kernel only returns an errno. */
static const char *netlink_hint(int r, const struct attachment *a)
{
	switch (r) {
	case -EINVAL:
		return "it did not accept the size, block size or sockets (its log, dmesg, says which)";
	case -EPERM:
	case -EACCES:
		return "attaching needs root (CAP_SYS_ADMIN)";
	case -ENOSPC:
	case -ENODEV:
		return "no free NBD device: detach one, or load the module with more (--nbds-max)";
	case -EOPNOTSUPP:
		return a->n_fds > 1 ? "this kernel does not take several connections; use -C 1"
				    : "this kernel does not support what was asked (see dmesg)";
	default:
		return "see the kernel's log (dmesg) for its reason";
	}
}

/* What the kernel is given, by either interface (the ioctls ignore what only netlink carries). */
static struct nbd_dev_config device_config(const struct client_options *o,
					   const struct attachment *a, int index)
{
	return (struct nbd_dev_config){
		.index = index,
		.size = a->size,
		.block_size = a->block_size,
		.server_flags = a->flags,
		/* A persistent device needs both: a hung server is only noticed through the request
		 * timeout, and I/O only waits for the supervisor within the dead-connection timeout. */
		.timeout = o->timeout ? o->timeout : o->persist ? SUPERVISOR_REQUEST_TIMEOUT_S : 0,
		.dead_conn_timeout = o->dead_timeout ? o->dead_timeout
				     : o->persist  ? SUPERVISOR_DEAD_CONN_TIMEOUT_S
						   : 0,
		.client_flags = o->client_flags,
		.backend = a->backend,
		.fds = a->fds,
		.n_fds = a->n_fds,
	};
}

static int refuse_in_use(int index)
{
	char who[256];

	describe_user(index, who, sizeof(who));
	return log_error_errno(EBUSY, "/dev/nbd%d is in use (%s); detach it first with nbd-client "
				      "-d /dev/nbd%d, or pick another device",
			       index, who, index);
}

/* The device the kernel attached, on stdout: the reference's "Connected /dev/nbdN" line, which
 * scripts parse for the device the kernel chose; the attach subcommand prints the bare name. */
static void announce_device(const struct client_options *o, int index)
{
	printf(o->subcommand ? "/dev/nbd%d\n" : "Connected /dev/nbd%d\n", index);
	fflush(stdout);
}

/* What status needs to count the device's connections and see whether they live; the device
 * works without it, so a failure to write it is only worth a note. */
static void record_connections(const struct attachment *a, int index)
{
	int r = connrecord_write(index, getpid(), a->backend, a->fds, a->n_fds);

	if (r < 0)
		log_debug_errno(r, "Cannot record the connections of /dev/nbd%d: %m", index);
}

static int attach_netlink(const struct client_options *o, struct attachment *a, int index)
{
	_cleanup_(nbd_nl_closep) struct nbd_nl *nl = NULL;
	struct nbd_dev_config cfg = device_config(o, a, index);
	_cleanup_close_ int lock = -1;
	int r, chosen = -1;

	r = nbd_nl_open(&nl);
	if (r < 0)
		return r; /* -ENOENT: the caller falls back to ioctl */
	if (index >= 0) {
		/* Wait while udev still probes the device from an earlier use (it holds the lock).
		 * The lock cannot be kept across CONNECT: an open device has a configuration, and the
		 * kernel refuses to connect a device that has one. */
		lock = nbd_dev_open_locked(index, DEVICE_LOCK_TIMEOUT_MS);
		if (lock < 0 && lock != -ENOENT)
			return log_error_errno(lock, "Cannot lock /dev/nbd%d: %m", index);
		if (lock >= 0)
			close(TAKE_FD(lock));
	}
	for (int tries = 0;; tries++) {
		struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };

		r = nbd_nl_connect(nl, &cfg, &chosen);
		/* A device nobody uses can still be busy for a moment while udev's probe of its last
		 * use finishes: retry briefly before calling it taken. */
		if (r != -EBUSY || index < 0 || nbd_dev_in_use(index) || tries >= 20)
			break;
		nanosleep(&pause, NULL);
	}
	if (r == -EBUSY && index >= 0)
		return refuse_in_use(index);
	if (r < 0)
		return log_error_errno(r, "The kernel refused to attach %s: %m; %s", index >= 0 ?
					  "the device" : "a device", netlink_hint(r, a));
	record_connections(a, chosen);
	announce_device(o, chosen);
	return chosen;
}

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
			char path[64];
			int fd;

			snprintf(path, sizeof(path), "/dev/nbd%d", index);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0)
				close(fd);
			_exit(0);
		}
		nanosleep(&pause, NULL);
	}
	_exit(0);
}

static void change_supervisor_signals(int how)
{
	sigset_t mask;

	daemon_signal_mask(&mask);
	sigprocmask(how, &mask, NULL);
}

static void block_supervisor_signals(void)
{
	change_supervisor_signals(SIG_BLOCK);
}

static void unblock_supervisor_signals(void)
{
	change_supervisor_signals(SIG_UNBLOCK);
}

/* Under systemd (Type=notify) the supervisor stays in front and notifies. $NOTIFY_SOCKET alone is not
 * proof: a script run from a service inherits it, and must still get the attach's result and its
 * prompt back; the service's own main process is started by the service manager. */
static bool started_by_service_manager(void)
{
	return notify_wanted() && getppid() == 1;
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
			r = client_open_export(o, -1, NBD_NEG_ATTACH, SUPERVISOR_CONNECT_TIMEOUT_MS,
					       SUPERVISOR_NEGOTIATE_TIMEOUT_MS, &a->fds[a->n_fds], &res,
					       &message);
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
			cfg = device_config(o, a, index);
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

static int attach_ioctl(const struct client_options *o, struct attachment *a, int index,
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
	cfg = device_config(o, a, index);
	dev = nbd_dev_open_locked(index, DEVICE_LOCK_TIMEOUT_MS);
	if (dev < 0)
		return log_error_errno(dev, "Cannot open /dev/nbd%d: %m", index);
	if (nbd_dev_in_use(index))
		return refuse_in_use(index);
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
		unblock_supervisor_signals();
		announce_device(o, index);
		daemon_ready(*ready_fd, 0);
		*ready_fd = -1;
		if (!o->nofork && !started_by_service_manager())
			daemon_detach_stdio();
		(void)notify_send("READY=1");
		supervisor_protect(o);
	} else if (!o->nofork) {
		pid_t pid = fork();

		if (pid < 0)
			return log_error_errno(errno, "Cannot fork: %m");
		if (pid > 0) {
			announce_device(o, index);
			return 0;
		}
		(void)setsid();
	}
	for (unsigned reconnects = 0;; reconnects += (unsigned)a->n_fds) {
		if (o->persist)
			ioctl_publish(a, index, "connected", 0, reconnects, NULL);
		rescan_partitions_later(index);
		record_connections(a, index); /* this process is the one the kernel names */
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

int cmd_attach(const struct client_options *o)
{
	struct attachment a = { 0 };
	int index = -1, ready_fd = -1, r;

	if (o->target.tls.enabled)
		return log_error_errno(EOPNOTSUPP, "TLS is not available yet in this nbd-client; remove "
						   "the TLS options (or use nbd:// instead of nbds://)");
	if (o->persist && o->target.kind == TARGET_FD)
		return log_error_errno(EINVAL, "-p cannot reconnect sockets given with --fd: it needs "
					       "a host or a socket path to connect to again");
	if ((o->swap || o->systemd_mark) && !o->persist)
		log_notice("-swap and -systemd-mark protect the supervisor that -persist starts; "
			   "without -persist no process stays with the device");
	if (geteuid() != 0)
		return log_error_errno(EPERM, "Attaching a device needs root (CAP_SYS_ADMIN); run "
					      "nbd-client as root");
	if (o->device) {
		index = nbd_dev_index(o->device);
		if (index < 0)
			return log_error_errno(EINVAL, "'%s' is not an NBD device name (/dev/nbdN)",
					       o->device);
	}
	r = nbd_module_load(o->nbds_max, o->max_part_given ? (int)o->max_part : -1);
	if (r == -ENOENT) {
		struct utsname u;

		return log_error_errno(r, "This kernel (%s) has no nbd module: install the modules "
					  "package that matches it, or use a kernel built with "
					  "CONFIG_BLK_DEV_NBD",
				       uname(&u) == 0 ? u.release : "running");
	}
	if (r == -ELIBACC || r == -ELIBBAD)
		return log_error_errno(r, "Cannot load the nbd module: libkmod (libkmod.so.2) is %s; "
					  "install libkmod2, or load the module with modprobe nbd first",
				       r == -ELIBACC ? "not installed" : "too old");
	if (r == -EPERM)
		return log_error_errno(r, "The nbd module is blacklisted (see /etc/modprobe.d); load it "
					  "by hand with modprobe nbd if that is intended");
	if (r < 0)
		return log_error_errno(r, "Cannot load the nbd kernel module: %m");
	/* The supervisor attaches the device itself (the kernel records the attaching process in
	 * /sys/block/nbdN/pid), so it goes into the background first; the caller still waits for,
	 * and gets the exit status of, the attach. Under systemd (Type=notify) it stays in front. */
	if (o->persist) {
		/* From here a stop request must end in a clean detach, not kill a half-attached device:
		 * the supervisor's signalfd (or the ioctl loop's handlers) take the signals later. */
		block_supervisor_signals();
		if (!o->nofork && !started_by_service_manager()) {
			r = daemon_start(&ready_fd);
			if (r < 0)
				return r;
		}
	}
	r = open_connections(o, &a);
	if (r < 0)
		goto out;
	a.backend = backend_identifier(o);
	if (!a.backend) {
		r = log_oom();
		goto out;
	}
	if (!o->no_netlink) {
		r = attach_netlink(o, &a, index);
		if (r >= 0 && o->persist) {
			r = supervise(o, &a, r, ready_fd);
			ready_fd = -1;
		}
		if (r != -ENOENT)
			goto out;
		log_notice("The kernel has no nbd netlink interface; using ioctls");
	}
	r = attach_ioctl(o, &a, index, &ready_fd);
out:
	daemon_ready(ready_fd, r < 0 ? 1 : 0);
	attachment_done(&a);
	return r < 0 ? r : 0;
}
