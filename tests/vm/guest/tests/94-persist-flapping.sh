# SPDX-License-Identifier: GPL-2.0-or-later
# A flapping server: for 12 s whatever listens on the port accepts each connection and drops it at
# once (busybox nc -e true), between moments of nothing listening at all. The supervisor must back
# off (its attempts bounded by the longest delay, 1 s by default), stay cheap (no busy loop: little
# CPU), and log each kind of failure once, not at every attempt, even with the two kinds in turn;
# once the real server is back it reconnects and the I/O that waited completes.
# Then for 12 s a server with a changed export (another size) every other time, nothing listening
# in between: the supervisor never hands the changed export to the kernel, logs that failure once,
# and reconnects to the right one when it returns. The kinds there are the changed export, the
# refused connection, and a handshake cut short when the changed server is stopped in its middle.
need_ours "persist: a flapping server"
truncate -s 32M /tmp/disk.img
start_server 10815 --export disk=/tmp/disk.img || exit 0
check "persist flapping: attach -p -n -t 5" \
	start_supervisor sup5 attach -p -n -t 5 nbd://127.0.0.1:10815/disk /dev/nbd5
[ "$DEV" = nbd5 ] || exit 0
errors_before=$(nbd_io_errors nbd5)
server_kill
(
	end=$(($(date +%s) + 12)) n=0
	while [ "$(date +%s)" -lt "$end" ]; do
		nc -l -p 10815 -e true >/dev/null 2>&1
		n=$((n + 1))
	done
	echo "$n" >/tmp/flap-accepted
) &
flapper=$!
cpu_before=$(awk '{ print $14 + $15 }' "/proc/$SUP_PID/stat")
make_file /tmp/flap-pattern 4
(
	dd if=/tmp/flap-pattern of=/dev/nbd5 bs=1M seek=2 oflag=direct conv=fsync,notrunc 2>&1 &&
		dd if=/dev/nbd5 of=/tmp/flap-back bs=1M skip=2 count=4 iflag=direct 2>&1 &&
		cmp /tmp/flap-pattern /tmp/flap-back && echo DONE
) >/tmp/flap-io.log 2>&1 &
io=$!
wait "$flapper"
cpu_after=$(awk '{ print $14 + $15 }' "/proc/$SUP_PID/stat")
accepted=$(cat /tmp/flap-accepted)
server_up 10815 --export disk=/tmp/disk.img
check "persist flapping: the supervisor reconnects once the real server is back" \
	wait_until 60 sup_reconnects_at_least nbd5 1
wait "$io"
check_eq "persist flapping: the I/O that waited completed and verified" DONE "$(tail -n 1 /tmp/flap-io.log)"
check_eq "persist flapping: the kernel logged no I/O error for nbd5" "$errors_before" "$(nbd_io_errors nbd5)"
attempts=$(grep -c "reconnection attempt" /tmp/sup5.log)
check "persist flapping: it tried (the flapper accepted $accepted connections)" test "$accepted" -ge 3
check "persist flapping: backoff bounds the attempts in 12 s: $accepted accepted (at most 40)" \
	test "$accepted" -le 40
check "persist flapping: no busy loop: $((cpu_after - cpu_before)) ticks of CPU in 12 s (under 100)" \
	test "$((cpu_after - cpu_before))" -lt 100
check "persist flapping: each kind of failure logged once: $attempts lines (at most 3)" \
	test "$attempts" -le 3
grep "reconnection attempt" /tmp/sup5.log >/tmp/flap-lines
diag_file /tmp/flap-lines

# The changed export every other time.
truncate -s 48M /tmp/other.img
errors_before=$(nbd_io_errors nbd5)
reconnects_before=$(sup_field nbd5 reconnects)
lines_before=$(grep -c "reconnection attempt" /tmp/sup5.log)
server_kill
(
	end=$(($(date +%s) + 12)) n=0
	while [ "$(date +%s)" -lt "$end" ]; do
		"$NBDM_SERVER" --foreground --bind 127.0.0.1 --port 10815 --export disk=/tmp/other.img \
			>>/tmp/flap-other.log 2>&1 &
		changed=$!
		sleep 2
		kill "$changed"
		wait "$changed"
		n=$((n + 1))
		sleep 1
	done
	echo "$n" >/tmp/flap-changed
) &
flapper=$!
make_file /tmp/flap-pattern 4
(
	dd if=/tmp/flap-pattern of=/dev/nbd5 bs=1M seek=8 oflag=direct conv=fsync,notrunc 2>&1 &&
		dd if=/dev/nbd5 of=/tmp/flap-back bs=1M skip=8 count=4 iflag=direct 2>&1 &&
		cmp /tmp/flap-pattern /tmp/flap-back && echo DONE
) >/tmp/flap-io.log 2>&1 &
io=$!
wait "$flapper"
check "persist flapping changed: the changed export was served $(cat /tmp/flap-changed) times" \
	test "$(cat /tmp/flap-changed)" -ge 3
check "persist flapping changed: the supervisor saw the changed size" \
	grep -q 'size is now 50331648 bytes' /tmp/sup5.log
check_eq "persist flapping changed: no reconnection to it" "$reconnects_before" "$(sup_field nbd5 reconnects)"
check_eq "persist flapping changed: the device kept its size" 65536 "$(cat /sys/block/nbd5/size)"
server_up 10815 --export disk=/tmp/disk.img
check "persist flapping changed: reconnected once the right export is back" \
	wait_until 60 sup_reconnects_at_least nbd5 $((reconnects_before + 1))
wait "$io"
check_eq "persist flapping changed: the I/O that waited completed and verified" DONE "$(tail -n 1 /tmp/flap-io.log)"
check_eq "persist flapping changed: the kernel logged no I/O error for nbd5" "$errors_before" "$(nbd_io_errors nbd5)"
check "persist flapping changed: the data is in the right export" same_range /tmp/disk.img 8 /tmp/flap-pattern 0 4
lines=$(($(grep -c "reconnection attempt" /tmp/sup5.log) - lines_before))
check "persist flapping changed: each kind of failure logged once: $lines lines (at most 3)" \
	test "$lines" -le 3
grep "reconnection attempt" /tmp/sup5.log | tail -n "$lines" >/tmp/flap-lines
diag_file /tmp/flap-lines
detach_ours "persist flapping" nbd5 detach /dev/nbd5
