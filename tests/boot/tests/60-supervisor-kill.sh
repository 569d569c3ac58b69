# SPDX-License-Identifier: GPL-2.0-or-later
# kill -9 of nbd@nbd2's supervisor (the unit's MainPID) during a verified workload on /mnt/disk2
# (nbd-units(8)): the kernel keeps the device, systemd starts the unit again (Restart=on-failure),
# and the new nbd-client adopts the attached device instead of attaching it anew; the mount and
# the device never leave active, the workload sees no I/O error, and the adopted device is
# supervised: a restart of the host's server is reconnected by the new process.
#
# If the new process does not adopt the device, nbd2 is put back as the boot had it (unmounted,
# detached, started again) so that the poweroff's checks judge the units, not this failure.

u=nbd@nbd2.service
watched="mnt-disk2.mount dev-nbd2.device"
cursor=$(journalctl -n 0 --show-cursor | sed -n 's/^-- cursor: //p')
old=$(unit_prop $u MainPID)
restarts=$(unit_prop $u NRestarts)
backend=$(cat /sys/block/nbd2/backend)
# shellcheck disable=SC2086 # a list of units
watched_state() { systemctl show -P ActiveEnterTimestampMonotonic,ActiveExitTimestampMonotonic $watched | tr '\n' ' '; }
restarted() { [ "$(unit_prop $u NRestarts)" -gt "$restarts" ]; }
new_supervisor() {
	local pid
	pid=$(unit_prop $u MainPID)
	[ "$(unit_prop $u ActiveState)" = active ] && [ "$pid" != 0 ] && [ "$pid" != "$old" ]
}
mounted_on_nbd2() { [ "$(findmnt -n -r -o SOURCE /mnt/disk2)" = /dev/nbd2 ]; }
journal_of_unit() { journalctl --after-cursor "$cursor" -u $u -o cat; }

before=$(watched_state)
kmsg_mark 60-supervisor-kill
check "a workload runs on /mnt/disk2" io_start k9 /mnt/disk2/io60
check "it is writing" io_wait_started k9
check "kill -9 the supervisor of /dev/nbd2 (pid $old)" kill -9 "$old"
check "systemd starts nbd@nbd2 again (Restart=on-failure)" wait_until 30 restarted
check "nbd@nbd2 becomes active with a new supervisor" wait_until 60 new_supervisor
new=$(unit_prop $u MainPID)
check_eq "/dev/nbd2 stayed attached to its export" "$backend" "$(cat /sys/block/nbd2/backend 2>&1)"
adopted=no
check "the new supervisor (pid $new) adopted /dev/nbd2 (nbd-client status)" \
	sh -c "nbd-client status nbd2 | grep -q 'supervisor $new: connected'" && adopted=yes
check "the workload goes on" io_wait_rounds k9 1
check_eq "$watched never left active" "$before" "$(watched_state)"
if [ "$adopted" = yes ]; then
	check "the host's server is killed, to start again 1 s later" hostctl restart 1
	check "the new supervisor reconnects /dev/nbd2" \
		wait_until 60 eval "journalctl --after-cursor '$cursor' _PID=$new -o cat | grep -q 'reconnected to'"
	check "the workload goes on after it" io_wait_rounds k9 1
else
	diag "not restarting the host's server: /dev/nbd2 has no supervisor to reconnect it"
fi
check "the workload stops" io_stop k9
check_eq "no failed round in the workload ($(io_rounds k9) good ones)" "" "$(io_failures k9)"
check "every file written reads back from the device" io_verify k9
io_errors_since 60-supervisor-kill >"$STATE/io-errors"
check_eq "no I/O error in the kernel's log" 0 "$(wc -l <"$STATE/io-errors")"
diag_file "$STATE/io-errors" 10
rm -rf /mnt/disk2/io60
diag "nbd@nbd2: NRestarts=$(unit_prop $u NRestarts), $(unit_prop $u ActiveState)/$(unit_prop $u SubState), MainPID=$(unit_prop $u MainPID); its journal since the kill:"
journal_of_unit | tail -n 12 >"$STATE/journal"
diag_file "$STATE/journal" 12

if [ "$adopted" = no ]; then
	diag "putting nbd2 back as the boot had it"
	to systemctl stop $u mnt-disk2.mount >/dev/null 2>&1
	to nbd-client detach /dev/nbd2 >/dev/null 2>&1
	to systemctl reset-failed $u >/dev/null 2>&1
	to systemctl start $u >/dev/null 2>&1
	wait_until 30 mounted_on_nbd2 ||
		diag "nbd2 is not mounted at /mnt/disk2 again"
fi
