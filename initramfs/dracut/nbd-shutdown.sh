#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# dracut shutdown hook, run from the unpacked initramfs after the old root's unmount: detaches every
# NBD device nothing is mounted from any more, which also ends its supervisor. A device still
# mounted (the old root could not be unmounted) stays attached, its file system read-only by then;
# dracut runs the hooks again while one fails, and a last time with $final set, when that is said.
nbd_failed=0
for nbd_pid in /sys/block/nbd*/pid; do
	[ -e "$nbd_pid" ] || continue
	nbd_dev=${nbd_pid%/pid}
	nbd_dev=/dev/${nbd_dev##*/}
	nbd_mounted=
	while read -r nbd_source _; do
		case $nbd_source in "$nbd_dev" | "$nbd_dev"p*) nbd_mounted=$nbd_source ;; esac
	done </proc/mounts
	if [ -n "$nbd_mounted" ]; then
		[ -z "${final:-}" ] || warn "nbd: $nbd_mounted is still mounted; $nbd_dev stays attached"
		nbd_failed=1
	elif nbd-client detach "$nbd_dev"; then
		info "nbd: $nbd_dev detached"
	else
		warn "nbd: detaching $nbd_dev failed"
		nbd_failed=1
	fi
done
return $nbd_failed
