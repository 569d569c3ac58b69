# SPDX-License-Identifier: GPL-2.0-or-later
# The poweroff that ends the run, during light I/O on both NBD file systems: this test only sets
# the scene, the runner powers off after it. Then guest/at-poweroff (run by systemd after the NBD
# units have stopped) checks that every NBD file system was unmounted and every device detached by
# units that stopped cleanly, and run-boot.sh, once QEMU has exited, that the server saw every
# connection end with NBD_CMD_DISC and that e2fsck finds the exports' file systems clean.
#
# The writer is a service ordered after the mounts, so that systemd stops it before it unmounts
# them, as it would any service using a file system on NBD. nbd1 (noauto) is attached too, so that
# a device without a mount is detached at poweroff as well.

check "nbd@nbd1 attaches /dev/nbd1" to systemctl start nbd@nbd1.service
# shellcheck disable=SC2016 # the writer's own script
check "a writer runs on /mnt/fs and /mnt/disk2 until the poweroff" \
	systemd-run --unit=nbdm-boot-writer -p After=mnt-fs.mount -p After=mnt-disk2.mount \
	bash -c 'i=0; while :; do i=$((i + 1)); for d in /mnt/fs /mnt/disk2; do
		head -c 65536 /dev/urandom >"$d/poweroff-$((i % 16))" && sync -f "$d"; done; sleep 0.3; done'
check "it writes" wait_until 30 test -e /mnt/disk2/poweroff-2
check_eq "the writer is active" active "$(systemctl is-active nbdm-boot-writer.service)"
for u in nbd@nbd0.service nbd@nbd1.service nbd@nbd2.service mnt-fs.mount mnt-disk2.mount; do
	check_eq "$u is active at the poweroff" active "$(systemctl is-active "$u")"
done
