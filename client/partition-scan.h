/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The device's partitions, read before it is announced ready (partition-scan.c). */
#pragma once

/*
 * Opens and closes /dev/nbd<index> on a thread of its own, which makes the kernel read the
 * partition table of a device that was just connected (it does so at the first open after a
 * change of size), then writes 1 to the eventfd done_fd (through a copy of its own, so done_fd
 * may be closed meanwhile). On a thread, because the reads may need
 * the caller's own event loop (a relayed TLS connection) or wait for a reconnection. 0, or a
 * negative errno when the thread cannot be started.
 */
int partition_scan_start(int index, int done_fd);
