# SPDX-License-Identifier: GPL-2.0-or-later
# systemctl stop nbd@nbd1 while a file system on its partition is mounted by hand, which nothing
# orders before the service (nbd-units(8)): its ExecStop= detach refuses the device in use, and so
# does the supervisor on the SIGTERM systemd sends it next (nbd-client(8), signals): the device
# stays attached without a supervisor, the journal says who uses it, and the file system works on,
# with no I/O error. Starting the unit again takes the device over; once the file system is
# unmounted, stopping the unit detaches it.

u=nbd@nbd1.service
user_named() { journalctl --after-cursor "$cursor" -u $u -o cat | grep -q 'mounted on /mnt/p1'; }
supervised_by_unit() { nbd-client status nbd1 | grep -q "supervisor $(unit_prop $u MainPID): connected"; }

check "systemctl start nbd@nbd1" to systemctl start $u
check "mkfs.ext4 on /dev/nbd1p1" to mkfs.ext4 -q -F /dev/nbd1p1
mkdir -p /mnt/p1
check "mount /dev/nbd1p1 on /mnt/p1 by hand" to mount /dev/nbd1p1 /mnt/p1
check "a file written there is synced" sh -c 'echo before >/mnt/p1/before && sync -f /mnt/p1'
cursor=$(journalctl -n 0 --show-cursor | sed -n 's/^-- cursor: //p')
kmsg_mark 65-stop-in-use
check "systemctl stop nbd@nbd1 returns" to systemctl stop $u
check "nbd@nbd1 is no longer active" test "$(systemctl is-active $u)" != active
check "/dev/nbd1 stays attached" attached nbd1
check "the journal names the mount that keeps it" user_named
journalctl --after-cursor "$cursor" -u $u -o cat | tail -n 6 >"$STATE/journal"
diag_file "$STATE/journal"
check "the file system works on" sh -c 'echo after >/mnt/p1/after && sync -f /mnt/p1 && grep -q before /mnt/p1/before'
io_errors_since 65-stop-in-use >"$STATE/io-errors"
check_eq "no I/O error in the kernel's log" 0 "$(wc -l <"$STATE/io-errors")"
diag_file "$STATE/io-errors" 10

check "systemctl start nbd@nbd1 takes the attached device over" to systemctl start $u
check "its supervisor is the unit's process" supervised_by_unit
check "umount /mnt/p1" to umount /mnt/p1
check "systemctl stop nbd@nbd1 now detaches it" to systemctl stop $u
check_eq "nbd@nbd1 stopped cleanly" "inactive success" "$(unit_prop $u ActiveState) $(unit_prop $u Result)"
check_fails "/dev/nbd1 is detached" attached nbd1
if attached nbd1; then
	umount /mnt/p1 2>/dev/null
	to systemctl stop $u >/dev/null 2>&1
	to nbd-client detach /dev/nbd1 >/dev/null 2>&1
fi
systemctl reset-failed $u 2>/dev/null || true
