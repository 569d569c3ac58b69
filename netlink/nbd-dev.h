/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Linux kernel's NBD device API: generic netlink (family "nbd"), the ioctl fallback, sysfs, the
 * block-device lock and module loading. Nothing here knows the network or the NBD protocol beyond the
 * numbers the kernel takes (sizes, flags, timeouts, connected sockets).
 *
 * Every function returns a negative errno and logs nothing above debug; the caller says what failed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/macro.h"

/* What the kernel needs to run a device. */
struct nbd_dev_config {
	int index;                  /* -1: let the kernel pick a free device (netlink only) */
	uint64_t size;              /* bytes */
	uint64_t block_size;        /* bytes: a power of two from 512 to the page size */
	uint64_t server_flags;      /* NBD transmission flags */
	uint64_t timeout;           /* seconds; 0: none */
	uint64_t dead_conn_timeout; /* seconds; 0: none (netlink only) */
	uint64_t client_flags;      /* NBD_CFLAG_* (netlink only) */
	const char *backend;        /* backend identifier (netlink only; kernels since 5.14) */
	const int *fds;             /* connected sockets, past the handshake */
	size_t n_fds;
};

/* ---- generic netlink ---- */
struct nbd_nl;

/* Resolves the "nbd" family: -ENOENT when the module is not loaded (or too old for netlink). */
int nbd_nl_open(struct nbd_nl **ret);
struct nbd_nl *nbd_nl_close(struct nbd_nl *nl);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nbd_nl *, nbd_nl_close);

/* NBD_CMD_CONNECT; *ret_index is the device the kernel used. */
int nbd_nl_connect(struct nbd_nl *nl, const struct nbd_dev_config *cfg, int *ret_index);
int nbd_nl_disconnect(struct nbd_nl *nl, int index);
/* NBD_CMD_RECONFIGURE: new sockets for dead ones, new timeouts (0: unchanged). */
int nbd_nl_reconfigure(struct nbd_nl *nl, const struct nbd_dev_config *cfg);

struct nbd_nl_device {
	int index;
	bool connected;
};
/* NBD_CMD_STATUS for one device (index >= 0) or all; *ret is malloc'd. */
int nbd_nl_status(struct nbd_nl *nl, int index, struct nbd_nl_device **ret, size_t *ret_n);

/* ---- link-dead events (for the reconnecting supervisor) ---- */
/* A socket subscribed to the family's multicast group "nbd_mc_group", non-blocking, with sequence
 * checks off (events are not answers to requests). Watch nbd_nl_fd() for readability. */
int nbd_nl_monitor_open(struct nbd_nl **ret);
int nbd_nl_fd(const struct nbd_nl *nl);
/* Reads the events waiting on a monitor socket and calls fn with the index of each device whose
 * connection died (NBD_CMD_LINK_DEAD). Returns 0 when none are left, or a negative errno. */
int nbd_nl_monitor_read(struct nbd_nl *nl, void (*fn)(int index, void *userdata), void *userdata);
/* Decodes one event message (for unit tests): the device index of a LINK_DEAD from family, -ENOMSG
 * for any other message, -EBADMSG for a malformed one. */
int nbd_nl_parse_link_dead(const void *msg, size_t len, int family, int *ret_index);

/* Builds the NBD_CMD_CONNECT/RECONFIGURE message into buf (for unit tests of the encoding): returns its
 * length or a negative errno. family is the resolved family id. */
int nbd_nl_encode_connect(int family, uint8_t cmd, const struct nbd_dev_config *cfg, void *buf,
			  size_t cap);

/* ---- ioctl fallback ---- */
/* Configures the device behind dev_fd with the ioctl sequence (block size, size, flags, timeout, one
 * SET_SOCK per connection). NBD_DO_IT then blocks until disconnect: nbd_ioctl_run(). */
int nbd_ioctl_setup(int dev_fd, const struct nbd_dev_config *cfg);
/* Blocks in NBD_DO_IT; returns when the device disconnects (0) or fails. Clears the sockets after. */
int nbd_ioctl_run(int dev_fd);
int nbd_ioctl_disconnect(int dev_fd);

/* ---- sysfs and devices ---- */
/* Reads /sys/block/nbdN/<attr> (pid, size, backend, ...) into a new string without the newline.
 * -ENOENT when the device or attribute does not exist. */
int nbd_sysfs_read(int index, const char *attr, char **ret);
/* The pid serving the device (/sys/block/nbdN/pid), 0 when none: not connected. */
int nbd_dev_pid(int index, pid_t *ret);
/* Whether the device is configured (connected or being set up). */
bool nbd_dev_in_use(int index);
/* Parses "/dev/nbdN" or "nbdN" into N. */
int nbd_dev_index(const char *path);
/* Parses "/dev/nbdN", "nbdN" or a partition of one ("nbdNpK") into N. */
int nbd_dev_disk_index(const char *path);
/* Whether /dev/nbdN exists (the module is loaded and has that many devices). */
bool nbd_dev_exists(int index);
/* Asks udev to look at the device again (a "change" event through /sys/block/nbdN/uevent), for
 * what it reads from outside the kernel. 0, or a negative errno. */
int nbd_dev_trigger_change(int index);
/*
 * Who uses the device or one of its partitions: mounts, swap areas, holders (device-mapper, md)
 * and processes with it open, except the pids in except[] (the process the kernel serves it for,
 * its supervisor) and the caller. Fills buf with a "; "-separated description and returns how
 * many uses it found (0: nobody), or a negative errno (-ENOENT: no such device).
 */
int nbd_dev_users(int index, const pid_t *except, size_t n_except, char *buf, size_t len);
/* The first device that is not in use, or -ENODEV. */
int nbd_dev_find_free(void);
/* Opens /dev/nbdN and takes flock(LOCK_EX | LOCK_NB), retrying for up to timeout_ms while udev or
 * another tool holds it. Returns the fd. */
int nbd_dev_open_locked(int index, int timeout_ms);
/* Opens /dev/nbdN read-only and closes it: the kernel reads an attached device's partition
 * table at its first open, so its partitions exist afterwards. A failure (no such device, no
 * permission) only means no partitions, so it is not reported. */
void nbd_dev_read_partitions(int index);

/* ---- module ---- */
/* Loads nbd with libkmod (opened for the call only; -ELIBACC when it is not installed, -ELIBBAD when it
 * lacks a function) when /sys/module/nbd is missing. nbds_max (0: default) and max_part (< 0:
 * default; 0 is a real setting, no partitions) become module parameters. */
int nbd_module_load(unsigned nbds_max, int max_part);
