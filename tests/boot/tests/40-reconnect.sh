# SPDX-License-Identifier: GPL-2.0-or-later
# The host's server is killed and started again five times (hostctl restart 1) while verified
# workloads write, sync and read back files on /mnt/fs (nbd0, mounted by /etc/fstab) and /mnt/disk2
# (nbd2, mount=), both persistent lines of 30-nbdtab.files: the supervisors reconnect each time
# and say so in their units' journal; no I/O error reaches the kernel's log or the workloads; the
# services, mounts and devices never leave active (sampled every second, and by their state
# timestamps), and neither service is restarted.

units="nbd@nbd0.service mnt-fs.mount dev-nbd0.device nbd@nbd2.service mnt-disk2.mount dev-nbd2.device"
# What changes when a unit leaves active or is restarted, one line per unit.
state_of() {
	echo "$1 $(systemctl show -P ActiveEnterTimestampMonotonic,ActiveExitTimestampMonotonic,NRestarts,MainPID "$1" | tr '\n' ' ')"
}
sampler() {
	while [ ! -e "$STATE/sampler.stop" ]; do
		# shellcheck disable=SC2086 # a list of units
		systemctl is-active $units | tr '\n' ' '
		echo
		sleep 1
	done >"$STATE/samples"
}
cursor=$(journalctl -n 0 --show-cursor | sed -n 's/^-- cursor: //p')
reconnects() { journalctl --after-cursor "$cursor" -u "nbd@$1.service" -o cat | grep -c 'reconnected to'; }
both_reconnected() { [ "$(reconnects nbd0)" -ge "$1" ] && [ "$(reconnects nbd2)" -ge "$1" ]; }

declare -A before
for u in $units; do before[$u]=$(state_of "$u"); done
kmsg_mark 40-reconnect
rm -f "$STATE/sampler.stop"
sampler &
check "a workload runs on /mnt/fs" io_start fs /mnt/fs/io40
check "a workload runs on /mnt/disk2" io_start disk2 /mnt/disk2/io40
check "both workloads are writing" eval 'io_wait_started fs && io_wait_started disk2'
# One restart after the other, each once both supervisors have recovered from the one before; the
# workloads run all the while, their requests held by the kernel through each outage.
for i in 1 2 3 4 5; do
	check "restart $i: the host kills its server, to start it again 1 s later" hostctl restart 1
	check "restart $i: both supervisors reconnect" wait_until 90 both_reconnected "$i"
done
check "both workloads complete a round after the restarts" eval 'io_wait_rounds fs 1 && io_wait_rounds disk2 1'
touch "$STATE/sampler.stop"
check "the workloads stop" eval 'io_stop fs && io_stop disk2'
wait

for w in fs disk2; do
	check_eq "$w: no failed round in the workload ($(io_rounds "$w") good ones)" "" "$(io_failures "$w")"
	check "$w: every file written reads back from the device (page cache dropped)" io_verify "$w"
done
io_errors_since 40-reconnect >"$STATE/io-errors"
check_eq "no I/O error in the kernel's log" 0 "$(wc -l <"$STATE/io-errors")"
diag_file "$STATE/io-errors" 10
kernel_log_since 40-reconnect | grep -c nbd >"$STATE/nbd-lines"
diag "the kernel's nbd messages meanwhile: $(cat "$STATE/nbd-lines"), the last ones:"
kernel_log_since 40-reconnect | grep nbd | tail -n 4 >"$STATE/nbd-kernel"
diag_file "$STATE/nbd-kernel"
check_eq "no sample found a unit other than active ($(wc -l <"$STATE/samples") samples)" "" \
	"$(grep -vE '^(active )+$' "$STATE/samples" | head -n 3)"
for u in $units; do
	check_eq "$u never left active and was not restarted" "${before[$u]}" "$(state_of "$u")"
done
for dev in nbd0 nbd2; do
	check "nbd@$dev's journal shows a reconnection for each restart (5)" test "$(reconnects "$dev")" -ge 5
	check "nbd-client status says $dev is connected" sh -c "nbd-client status $dev | grep -q 'supervisor.*: connected'"
done
journalctl --after-cursor "$cursor" -u nbd@nbd0.service -o cat | tail -n 4 >"$STATE/journal"
diag_file "$STATE/journal"
rm -rf /mnt/fs/io40 /mnt/disk2/io40
