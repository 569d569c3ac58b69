/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * attach: connect (one or more connections), negotiate, choose the block size, and hand the sockets to
 * the kernel over netlink (or with the ioctl sequence, attach-ioctl.c, which keeps this process in
 * NBD_DO_IT).
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "client/adopt.h"
#include "client/attach-ioctl.h"
#include "client/attachment.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/supervisor-process.h"
#include "client/supervisor.h"
#include "common/daemon.h"
#include "common/capability.h"
#include "common/log.h"
#include "netlink/nbd-dev.h"
#include "proto/nbd-protocol.h"


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

/* What the server said about its export, checked before the kernel is given any of it: a size the
 * kernel would take as negative (it keeps sizes in a signed 64-bit loff_t), and flags without
 * NBD_FLAG_HAS_FLAGS, which every server sets, so that the other bits (READ_ONLY among them)
 * cannot be trusted. */
static int export_describable(const struct attachment *a)
{
	if (a->size > (uint64_t)INT64_MAX)
		return log_error_errno(EPROTO, "The server says the export has %llu bytes, more than "
					       "Linux can address (2^63-1); the server is broken or is "
					       "not what it claims: refusing to attach",
				       (unsigned long long)a->size);
	if (!(a->server_flags & NBD_FLAG_HAS_FLAGS))
		return log_error_errno(EPROTO, "The server's transmission flags, 0x%04x, lack "
					       "NBD_FLAG_HAS_FLAGS, which every server sets, so none of "
					       "them can be trusted (not even read-only): refusing to "
					       "attach",
				       a->server_flags);
	return 0;
}

/* Opens (or takes) every connection and negotiates on it; all must describe the same export. */
static int open_connections(const struct client_options *o, struct attachment *a)
{
	unsigned n = o->n_fds ? (unsigned)o->n_fds : MAX(o->connections, 1u);
	/* A relay runs in the netlink supervisor's loop; elsewhere TLS must go into the kernel. */
	bool can_relay = o->persist && !o->no_netlink && o->target.kind != TARGET_FD;
	char where[512];
	int r;

	client_target_string(&o->target, where, sizeof(where));
	/* The credentials first: a file that cannot be read is not the server's doing, and a
	 * -ENOENT from a connection below then means an export the server does not have. */
	{
		_cleanup_free_ char *message = NULL;

		r = client_load_tls(o, &message);
		if (r < 0)
			return log_error_errno(r, "%s", message ? message : strerror(-r));
	}
	/* client_open_export() moves every TLS session into the kernel or to a relay, or fails. */
	a->tls = o->target.tls.enabled;
	if (n > ATTACH_MAX_CONNECTIONS)
		return log_error_errno(EINVAL,
				       "At most %d connections are supported, %u given (-C or --fd)",
				       ATTACH_MAX_CONNECTIONS, n);
	for (unsigned i = 0; i < n; i++) {
		_cleanup_free_ char *message = NULL;
		struct nbd_neg_result *res = NULL;
		char why[256];
		int fd;

		r = client_open_export(o, o->n_fds ? o->fds[i] : -1, NBD_NEG_ATTACH,
				       client_connect_timeout_ms(o, CLIENT_CONNECT_TIMEOUT_MS),
				       client_negotiate_timeout_ms(o, CLIENT_NEGOTIATE_TIMEOUT_MS),
				       &fd,
				       can_relay ? &a->relays[i] : NULL, &res, &message);
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
			/* Flags given by hand are trusted as they are, HAS_FLAGS or not. */
			a->server_flags = (uint16_t)(o->flags_given ? o->flags : 0) | NBD_FLAG_HAS_FLAGS;
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
	r = export_describable(a);
	if (r < 0)
		return r;
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

static int attach_netlink(const struct client_options *o, struct attachment *a, int index)
{
	_cleanup_(nbd_nl_closep) struct nbd_nl *nl = NULL;
	struct nbd_dev_config cfg = attachment_device_config(o, a, index);
	_cleanup_close_ int lock = -1;
	int r, chosen = -1;

	r = nbd_nl_open(&nl);
	if (r == -ENOENT)
		return r; /* no nbd family: the caller falls back to ioctl */
	if (r < 0)
		return log_error_errno(r, "Cannot open a netlink socket to the kernel: %m; if a "
					  "sandbox denies AF_NETLINK (RestrictAddressFamilies=, "
					  "seccomp), allow it, or attach with -L (--nonetlink)");
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
		return attachment_refuse_in_use(index);
	if (r < 0)
		return log_error_errno(r, "The kernel refused to attach %s: %m; %s", index >= 0 ?
					  "the device" : "a device", netlink_hint(r, a));
	attachment_record(a, chosen);
	attachment_announce(o, chosen);
	return chosen;
}

static int attach(const struct client_options *o)
{
	_cleanup_free_ char *backend = NULL;
	struct attachment a = { 0 };
	int index = -1, ready_fd = -1, r;

	if (o->persist && o->target.kind == TARGET_FD)
		return log_error_errno(EINVAL, "-p cannot reconnect sockets given with --fd: it needs "
					       "a host or a socket path to connect to again");
	if ((o->swap || o->systemd_mark) && !o->persist)
		log_notice("-swap and -systemd-mark protect the supervisor that -persist starts; "
			   "without -persist no process stays with the device");
	/* The kernel's nbd interfaces want CAP_SYS_ADMIN; root in a container without it would
	 * otherwise only learn it from netlink's bare EPERM after connecting. */
	if (!capability_effective(CAP_SYS_ADMIN))
		return log_error_errno(EPERM, "Attaching a device needs root, with CAP_SYS_ADMIN; run "
					      "nbd-client as root (in a container: one that has that "
					      "capability)");
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
	if (o->persist && !o->nofork && !supervisor_in_front()) {
		r = daemon_start(&ready_fd);
		if (r < 0)
			return log_error_errno(r, "Cannot start the supervisor in the background: %m; "
						  "-n keeps it in the foreground");
	}
	backend = client_backend_identifier(o);
	if (!backend) {
		r = log_oom();
		goto out;
	}
	/* A persistent device already attached to this very export with nobody supervising it: its
	 * supervisor died, and this is the service manager (or an admin) starting it again. Take it
	 * over. (Without -persist no supervisor is expected, and a busy device is refused, as the
	 * reference does.) */
	if (index >= 0 && o->persist && !o->no_netlink) {
		r = attachment_adopt(index, backend, &a);
		if (r < 0)
			goto out;
		if (r > 0) {
			supervisor_block_signals(true);
			attachment_announce(o, index);
			r = supervise(o, &a, index, ready_fd);
			ready_fd = -1;
			goto out;
		}
	}
	r = open_connections(o, &a);
	if (r < 0)
		goto out;
	/* Until here a stop request (Ctrl-C passed on by the waiting parent, systemctl stop) ends the
	 * process, and nothing is attached yet. From here it must end in a clean detach, not kill a
	 * half-attached device: the supervisor's signalfd (or the ioctl loop's handlers) take the
	 * signals later. */
	if (o->persist)
		supervisor_block_signals(true);
	a.backend = TAKE_PTR(backend);
	a.supervised = o->persist;
	if (!o->no_netlink) {
		r = attach_netlink(o, &a, index);
		/* Only attach_netlink()'s own -ENOENT means "no netlink": once the device is
		 * connected, the kernel holds these sockets, and no error of the supervisor's may
		 * hand them to the ioctl path. */
		if (r != -ENOENT) {
			if (r >= 0 && o->persist) {
				r = supervise(o, &a, r, ready_fd);
				ready_fd = -1;
			} else if (r >= 0 && !(o->client_flags & NBD_CLIENT_FLAG_DISCONNECT_ON_CLOSE)) {
				/* Its partitions exist when attach returns, for a script's next
				 * command (not with --disconnect-on-close: our close would be the
				 * last one). */
				nbd_dev_read_partitions(r);
			}
			goto out;
		}
		log_notice("The kernel has no nbd netlink interface; using ioctls");
		if (strcmp(attachment_tls_mode(&a), "relay") == 0) {
			r = log_error_errno(EOPNOTSUPP, "The TLS relay runs in the netlink supervisor, "
							"and this kernel has no nbd netlink interface: "
							"the kernel must hold the sessions (the tls "
							"module loaded, a cipher it takes such as "
							"AES-GCM, and not --tls-ktls=no)");
			goto out;
		}
	}
	r = attach_ioctl(o, &a, index, &ready_fd);
out:
	daemon_ready(ready_fd, r < 0 ? 1 : 0);
	attachment_done(&a);
	return r < 0 ? r : 0;
}

int cmd_attach(const struct client_options *o)
{
	struct client_options with_supervisor;

	/* A TLS session in the kernel dies of any record the kernel cannot read (a late session
	 * ticket, a key update, an alert), and no process would be left to notice and connect
	 * again: a TLS device always gets its supervisor, as the reference keeps its proxy. */
	if (o->target.tls.enabled && !o->persist && o->target.kind != TARGET_FD) {
		with_supervisor = *o; /* a shallow copy: o keeps ownership of every string */
		with_supervisor.persist = true;
		log_info("TLS: a supervisor stays with the device to replace a connection whose session "
			 "breaks (as with -persist)");
		return attach(&with_supervisor);
	}
	return attach(o);
}
