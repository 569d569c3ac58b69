/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /proc, /sys, /dev and /run kept in view for a process whose root is an initramfs that the system
 * leaves behind.
 *
 * A process started in the initramfs keeps the initramfs as its root directory after the switch
 * to the real root (switch_root, run-init, systemd's initrd-switch-root): those move the API file
 * systems into the real root and empty the initramfs, which leaves such a process with no /proc,
 * /sys, /dev or /run of its own. Held early, a descriptor of each mount outlives the move; once
 * the move has happened, a copy of the mount (open_tree(OPEN_TREE_CLONE)) is attached at the same
 * path in the old root, where only processes rooted there see it. Nothing is mounted in the
 * initramfs before the switch, so the switch itself is not disturbed.
 */
#pragma once

#define API_MOUNTS_MAX 4

struct api_mounts {
	int fd[API_MOUNTS_MAX]; /* O_PATH descriptors of /proc, /sys, /dev, /run; -EBADF when not held */
};

/* Holds the mounts when this process's root is an initramfs (ramfs or tmpfs at /); elsewhere
 * holds nothing. Returns the number held (0 included), never fails. */
int api_mounts_hold(struct api_mounts *m);

/* Puts back each held mount that is no longer at its path. Returns the number put back, or a
 * negative errno for the first one that could not be, with its path in *failed. Cheap when
 * nothing moved: a stat of each path. */
int api_mounts_follow(struct api_mounts *m, const char **failed);

void api_mounts_release(struct api_mounts *m);
