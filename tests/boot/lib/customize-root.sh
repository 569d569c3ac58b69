#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# customize-root.sh ROOT: mmdebstrap's customize hook for the boot tests' root, run once when the
# cached root is built (build-image.sh). What changes from one run to the next (the project's
# packages, the tests, the settings) is added per run by run-boot.sh instead.
set -euo pipefail
root=${1:?usage: customize-root.sh ROOT}

echo nbdm-boot >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tnbdm-boot\n' >"$root/etc/hosts"
# A machine id of its own: an empty one would make every boot a first boot (ConditionFirstBoot).
echo 6e62646d626f6f742d746573742d6964 >"$root/etc/machine-id"
# The root is the whole of /dev/vda; no fsck at boot (the image is made fresh for every run).
echo '/dev/vda / ext4 rw,errors=remount-ro 0 0' >"$root/etc/fstab"
# For the interactive shell (NBDM_BOOT_SHELL): root logs in without a password.
chroot "$root" passwd -d root >/dev/null

# The guest's one network: a static address in QEMU's user network, where 10.0.2.100 is the host's
# forward to the test server. Names as the kernel gives them (net.ifnames=0 on the command line).
mkdir -p "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/20-nbdm-boot.network" <<'NETWORK'
[Match]
Name=eth0

[Network]
Address=10.0.2.15/24
LinkLocalAddressing=no
IPv6AcceptRA=no
NETWORK
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1

# Timers that would start apt, fstrim or e2scrub in the middle of a test under TCG.
for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
	fstrim.timer; do
	[ -e "$root/lib/systemd/system/$unit" ] && chroot "$root" systemctl mask "$unit" >/dev/null 2>&1
done
