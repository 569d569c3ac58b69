#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# dracut shutdown hook, run from the unpacked initramfs once the old root is unmounted: detaches
# every NBD device whose file systems are all gone, which stops its supervisor; a device that is
# still mounted (the old root could not be unmounted) is left attached, and said.
for pid in /sys/block/nbd*/pid; do
	[ -e "$pid" ] || continue
	dev=${pid%/pid}
	dev=/dev/${dev##*/}
	if grep -q "^$dev" /proc/mounts; then
		warn "nbd: $dev is still mounted; leaving it attached"
		continue
	fi
	nbd-client detach "$dev" || warn "nbd: could not detach $dev"
done
