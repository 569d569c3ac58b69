#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# dracut cmdline hook: takes root=nbd:... (which wins over netroot=), netroot=nbd:..., and the nbd://
# and nbds:// URIs for the network module, which calls /sbin/nbdroot once the network is up.
# root=dhcp and netroot=dhcp are the network module's own: it calls nbdroot with DHCP's root-path.
. /lib/nbdm/nbdroot.sh
nbdroot_cmdline "$(getcmdline)"

case $nbd_arg_root in
nbd:* | nbds://*)
	[ -z "$nbd_arg_netroot" ] || warn "nbd: root=$nbd_arg_root wins over netroot=$nbd_arg_netroot"
	netroot=$nbd_arg_root
	;;
*)
	case $nbd_arg_netroot in
	nbd:* | nbds://*) netroot=$nbd_arg_netroot ;;
	*) return 0 ;;
	esac
	;;
esac

modprobe -q nbd || die "nbd: the kernel has no nbd module"
# shellcheck disable=SC2034 # dracut's
rootok=1
# The device (or partition) root= names, or /dev/root, which nbdroot links to the device.
case $nbd_arg_root in
'' | nbd:* | nbds://* | block:/dev/root) root=block:/dev/root ;;
esac
case $root in block:/dev/*) wait_for_dev -n "${root#block:}" ;; esac
# The network modules that run netroot handlers (network-legacy) call nbdroot once the network is
# up; with systemd-networkd nothing does, so the initqueue runs it too (nbdroot attaches once, and
# waits for the server to answer).
/sbin/initqueue --onetime --unique --name nbdroot /sbin/nbdroot none "$netroot"
