#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# dracut pre-pivot hook: keeps /run, /sys, /proc and /dev where the NBD supervisor, whose root stays
# the initramfs, sees them after switch-root. The switch moves each of them into the real root and
# empties the initramfs; a second mount of each, left on the initramfs' own directory, is the same
# file system, and the emptying does not cross into other file systems.
# Not with systemd in the initramfs: there the extra mounts make initrd-cleanup's isolate fail, and
# done just before switch-root (an ExecStartPre= of initrd-switch-root.service) they make the
# switch itself fail. See README.md.
[ -z "${DRACUT_SYSTEMD:-}" ] || return 0
[ -d /run/nbd-client ] || return 0
for dir in /run /sys /proc /dev; do
	mount -o bind "$dir" "$dir" || warn "nbd: cannot keep $dir for the NBD supervisor"
done
