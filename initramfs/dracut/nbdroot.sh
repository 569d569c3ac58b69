#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# dracut's netroot handler for NBD: nbdroot NETIF NETROOT NEWROOT, called by the network module once
# NETIF is up, NETROOT from the command line or DHCP's root-path. Attaches the device with the
# supervisor and points /dev/root at the root (udev rule), with the file system type and options.
type getarg >/dev/null 2>&1 || . /lib/dracut-lib.sh
. /lib/nbdm/nbdroot.sh

# With systemd in the initramfs warn reaches only the journal; the kernel's log is on the console.
nbd_warn() {
	warn "$*"
	[ -z "$DRACUT_SYSTEMD" ] || echo "<28>$*" >/dev/kmsg 2>/dev/null || :
}

netif=$1
netroot=$2
[ -n "$netroot" ] || exit 1
# Once: the initqueue and the network module may both call it.
mkdir /run/nbdm-nbdroot 2>/dev/null || exit 0

nbdroot_cmdline "$(getcmdline)"
# What the network module hands over is the root to attach: the command line's, or DHCP's.
case $nbd_arg_root in
nbd:* | nbds://*) ;;
dhcp) ROOTPATH=$netroot ;;
*) nbd_arg_netroot=$netroot ;;
esac
if [ -z "$ROOTSERVER" ] && [ -f "/tmp/net.$netif.dhcpopts" ]; then
	. "/tmp/net.$netif.dhcpopts"
	ROOTSERVER=${new_next_server:-${new_dhcp_server_identifier:-}}
fi
nbdroot_parse_dracut || die "nbd: cannot boot from NBD: $NBD_ERROR"
info "nbd: $(nbdroot_describe)"

case $netroot in nbds://*) modprobe -q tls ;; esac

# /dev/root for root=block:/dev/root: a udev rule, so that systemd's device unit exists too.
if [ -n "$NBD_SET_ROOT" ]; then
	dev=${NBD_ROOT#/dev/}
	mkdir -p /etc/udev/rules.d
	printf 'KERNEL=="%s", SYMLINK+="root"\n' "$dev" >/etc/udev/rules.d/99-nbdm-root.rules
	udevadm control --reload
fi
# systemd's fstab generator made sysroot.mount of root=nbd:... as it was: it mounts /dev/root.
if [ -n "$DRACUT_SYSTEMD" ] && [ -n "$NBD_SET_ROOT$NBD_FSTYPE$NBD_ROOTFLAGS" ]; then
	mkdir -p /run/systemd/system/sysroot.mount.d
	{
		echo "[Mount]"
		[ -z "$NBD_SET_ROOT" ] || echo "What=/dev/root"
		[ -z "$NBD_FSTYPE" ] || echo "Type=$NBD_FSTYPE"
		[ -z "$NBD_ROOTFLAGS" ] || echo "Options=$NBD_ROOTFLAGS"
	} >/run/systemd/system/sysroot.mount.d/nbdm.conf
	systemctl --no-block daemon-reload
elif [ -n "$NBD_FSTYPE$NBD_ROOTFLAGS" ]; then
	{
		[ -z "$NBD_FSTYPE" ] || echo "fstype=$NBD_FSTYPE"
		[ -z "$NBD_ROOTFLAGS" ] || echo "rflags=$NBD_ROOTFLAGS"
	} >>/tmp/root.info
fi

set -f
# shellcheck disable=SC2086 # options are words
set -- attach "$NBD_TARGET" "$NBD_DEVICE" $NBD_OPTS -persist -swap -systemd-mark
[ -z "$NBD_HAS_NAME" ] || set -- "$@" -N "$NBD_NAME"
set +f
waited=0
until nbd-client "$@"; do
	[ "$waited" -lt 180 ] || die "nbd: could not attach $NBD_DEVICE in 180 s: nbd-client $*"
	[ "$waited" -ne 0 ] || nbd_warn "nbd: nbd-client $* failed; trying again for 180 s"
	sleep 2
	waited=$((waited + 2))
done
udevadm trigger --action=change "/sys/class/block/${NBD_DEVICE#/dev/}"
[ "$NBD_ROOT" = "$NBD_DEVICE" ] || udevadm trigger --action=change "/sys/class/block/${NBD_ROOT#/dev/}" 2>/dev/null
# The shutdown hooks run from an unpacked copy of the initramfs, which detaches the device.
need_shutdown
exit 0
