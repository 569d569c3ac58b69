# SPDX-License-Identifier: GPL-2.0-or-later
# A server that hangs without closing (SIGSTOP): the request timeout (-t) marks the connection dead,
# the supervisor reconnects once the server runs again (SIGCONT), and the I/O that waited completes.
need_ours "persist: a hung server is detected and the device recovers"
truncate -s 32M /tmp/disk.img
start_server 10814 --export disk=/tmp/disk.img || exit 0
errors_before=$(nbd_io_errors nbd4)
check "persist hang: attach -p -n -t 3" \
	start_supervisor sup4 attach -p -n -t 3 nbd://127.0.0.1:10814/disk /dev/nbd4
[ "$DEV" = nbd4 ] || exit 0
make_file /tmp/hang-pattern 4
kill -STOP "$SERVER_PID"
(
	dd if=/tmp/hang-pattern of=/dev/nbd4 bs=1M seek=2 oflag=direct conv=fsync,notrunc 2>&1 &&
		dd if=/dev/nbd4 of=/tmp/hang-back bs=1M skip=2 count=4 iflag=direct 2>&1 &&
		cmp /tmp/hang-pattern /tmp/hang-back && echo DONE
) >/tmp/hang-io.log 2>&1 &
io=$!
check "persist hang: the request timeout marks the connection dead (supervisor reconnecting)" \
	wait_until 30 sup_state_is nbd4 reconnecting
check "persist hang: the I/O waits meanwhile" kill -0 "$io"
sleep 2
kill -CONT "$SERVER_PID"
check "persist hang: after SIGCONT the supervisor reconnects" wait_until 60 sup_reconnects_at_least nbd4 1
wait "$io"
check_eq "persist hang: the I/O that waited completed and verified" DONE "$(tail -n 1 /tmp/hang-io.log)"
check_eq "persist hang: the kernel logged no I/O error for nbd4" "$errors_before" "$(nbd_io_errors nbd4)"
detach_ours "persist hang" nbd4 detach /dev/nbd4
