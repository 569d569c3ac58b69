# SPDX-License-Identifier: GPL-2.0-or-later
# udev's names for an export (60-nbdm.rules), on nbd1, the noauto line of 30-nbdtab.files, over the
# export parts, which has two partitions (./exports). When systemctl start nbd@nbd1 attaches it:
# the link /dev/disk/by-id/nbd-10.0.2.100-parts and one per partition, the ID_NBD_* properties on
# the disk and its partitions, and the device ready for systemd, so that its device units are
# active. When systemctl stop detaches it: no links, no properties, not ready. This is the boot's
# first attach of nbd1.

link=/dev/disk/by-id/nbd-10.0.2.100-parts
prop() { udevadm info -q property -n "$1" 2>/dev/null | sed -n "s/^$2=//p"; }
nbd_props() { udevadm info -q property -n "$1" 2>/dev/null | grep '^ID_NBD_' | tr '\n' ' '; }
# Ready for systemd: no SYSTEMD_READY=0 (udev leaves the variable out when it is).
ready() { [ -e "$1" ] && [ "$(prop "$1" SYSTEMD_READY)" != 0 ]; }
unit_of() { systemd-escape -p --suffix=device "$1"; }
links_gone() { [ ! -e "$link" ] && [ ! -L "$link" ] && [ ! -L "$link-part1" ] && [ ! -L "$link-part2" ]; }

diag "before the attach: $(find /dev -maxdepth 1 -name 'nbd1p*' | tr '\n' ' ')"
check_fails "before: /dev/nbd1 is not attached" attached nbd1
check_eq "before: /dev/nbd1 is not ready for systemd (SYSTEMD_READY=0)" 0 "$(prop /dev/nbd1 SYSTEMD_READY)"
check_eq "before: dev-nbd1.device is inactive" inactive "$(systemctl is-active dev-nbd1.device)"
check_eq "before: no ID_NBD_* properties" "" "$(nbd_props /dev/nbd1)"
check "before: no $link" links_gone

check "systemctl start nbd@nbd1 attaches /dev/nbd1" to systemctl start nbd@nbd1.service
check_eq "/dev/nbd1 carries the export parts" nbd://10.0.2.100:10809/parts "$(cat /sys/block/nbd1/backend 2>&1)"
# The unit is active once nbd-client says READY=1, which is to come only after the kernel has
# read the partition table: what is ordered after the unit finds the partitions.
check "when nbd@nbd1 is active, /dev/nbd1p1 and /dev/nbd1p2 exist" test -b /dev/nbd1p1 -a -b /dev/nbd1p2
check "$link appears" wait_until 10 test -L "$link"
check "$link-part1 and -part2 appear" wait_until 10 test -L "$link-part1" -a -L "$link-part2"
udevadm settle -t 10
check_eq "$link is /dev/nbd1" /dev/nbd1 "$(readlink -f "$link")"
check_eq "$link-part1 is /dev/nbd1p1" /dev/nbd1p1 "$(readlink -f "$link-part1")"
check_eq "$link-part2 is /dev/nbd1p2" /dev/nbd1p2 "$(readlink -f "$link-part2")"
check "/dev/nbd1 is ready for systemd" ready /dev/nbd1
check "/dev/nbd1p1 is ready for systemd" ready /dev/nbd1p1
check_eq "dev-nbd1.device is active" active "$(systemctl is-active dev-nbd1.device)"
check_eq "dev-nbd1p1.device is active" active "$(systemctl is-active dev-nbd1p1.device)"
check_eq "the link's device unit is active" active "$(systemctl is-active "$(unit_of "$link")")"
check_eq "ID_NBD_BACKEND" nbd://10.0.2.100:10809/parts "$(prop /dev/nbd1 ID_NBD_BACKEND)"
check_eq "ID_NBD_SERVER" 10.0.2.100 "$(prop /dev/nbd1 ID_NBD_SERVER)"
check_eq "ID_NBD_PORT" 10809 "$(prop /dev/nbd1 ID_NBD_PORT)"
check_eq "ID_NBD_EXPORT" parts "$(prop /dev/nbd1 ID_NBD_EXPORT)"
check_eq "ID_NBD_EXPORT of /dev/nbd1p2 (its disk's)" parts "$(prop /dev/nbd1p2 ID_NBD_EXPORT)"
# From nbd-client's record of the attach (/run/nbd-client/nbd1.conns), which is written after the
# kernel's change event: udev needs another event to read it.
check_eq "ID_NBD_CONNECTIONS (from nbd-client's record)" 1 "$(prop /dev/nbd1 ID_NBD_CONNECTIONS)"
check_eq "ID_NBD_TLS (from nbd-client's record)" none "$(prop /dev/nbd1 ID_NBD_TLS)"
diag "udev: $(nbd_props /dev/nbd1)"

check "systemctl stop nbd@nbd1 detaches /dev/nbd1" to systemctl stop nbd@nbd1.service
check_fails "/dev/nbd1 is detached" attached nbd1
check "the links vanish" wait_until 10 links_gone
udevadm settle -t 10
check_eq "after: /dev/nbd1 is not ready (SYSTEMD_READY=0)" 0 "$(prop /dev/nbd1 SYSTEMD_READY)"
check_eq "after: no ID_NBD_* properties" "" "$(nbd_props /dev/nbd1)"
check_eq "after: dev-nbd1.device is inactive" inactive "$(systemctl is-active dev-nbd1.device)"
check_eq "after: the link's device unit is inactive" inactive "$(systemctl is-active "$(unit_of "$link")")"
if [ -e /dev/nbd1p1 ]; then
	# The kernel keeps the partitions of a detached device until it reads the table again.
	check_eq "after: /dev/nbd1p1, still there, is not ready" 0 "$(prop /dev/nbd1p1 SYSTEMD_READY)"
	check_eq "after: dev-nbd1p1.device is inactive" inactive "$(systemctl is-active dev-nbd1p1.device)"
fi
