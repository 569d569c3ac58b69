# SPDX-License-Identifier: GPL-2.0-or-later
# A supervisor killed with SIGKILL leaves its device working; nbd-client started again for the same
# device and export (as the service manager restarts nbd@nbdX) takes the device over without
# failing its I/O, and replaces the kernel's connections when they die. A stop request (SIGTERM)
# while the device is mounted leaves it attached. An attach returns with the partitions there.
need_ours "persist takeover: nbd-client takes over a device whose supervisor died"
truncate -s 64M /tmp/take.img
make_mbr /tmp/take.img
start_server 10816 --export take=/tmp/take.img || exit 0
errs0=$(nbd_io_errors nbd6)
check "takeover: attach -p -n" start_supervisor take1 attach -p -n nbd://127.0.0.1:10816/take /dev/nbd6
[ "$DEV" = nbd6 ] || exit 0
check "takeover: the partitions exist when attach returns" test -b /dev/nbd6p2
old=$SUP_PID
make_file /tmp/take-pattern 4
io_rounds nbd6 /tmp/take-pattern 24 12 /tmp/take-io.log
io=$IO_PID
usleep 300000
kill -9 "$old"
wait "$old" 2>/dev/null
check "takeover: the device works on without its supervisor" connected nbd6
check "takeover: nbd-client attach again takes it over" start_supervisor take2 \
	attach -p -n nbd://127.0.0.1:10816/take /dev/nbd6
check "takeover: ... and says so" grep -q "taking it over" /tmp/take2.log
check_eq "takeover: status names the new supervisor" "$SUP_PID" "$(sup_field nbd6 pid)"
check "takeover: status counts the kernel's connection alive" status_row nbd6 connected 67108864 512
# The connection taken over is the kernel's alone: reconnect says so at once, and leaves it alone.
refused "takeover: reconnect of a connection taken over" "took the device over.*once they die" \
	reconnect /dev/nbd6
check "takeover: ... the device stays connected" connected nbd6
wait "$io"
check_eq "takeover: I/O across the kill and the takeover verified" DONE "$(tail -n 1 /tmp/take-io.log)"
# The connection taken over has no socket of ours: the kernel's report, or the periodic look at
# its state, tells when it dies.
server_kill
server_up 10816 --export take=/tmp/take.img
check "takeover: the kernel's connection is replaced after a server restart" \
	wait_until 30 sup_reconnects_at_least nbd6 1
write_verify "takeover: data after the replacement" nbd6 2
check_eq "takeover: no I/O error" 0 "$(( $(nbd_io_errors nbd6) - errs0 ))"
refused "takeover: a second takeover while one supervises" "supervised by process" \
	attach -p -n nbd://127.0.0.1:10816/take /dev/nbd6
# A stop request while the device is mounted: its cached writes must not be lost.
check "takeover: mke2fs on the first partition" to mke2fs -F -q /dev/nbd6p1
check "takeover: mount it" to mount -t ext2 /dev/nbd6p1 /mnt
echo kept >/mnt/kept
kill -TERM "$SUP_PID"
check "takeover: SIGTERM while mounted: the supervisor ends" wait_until 10 sh -c "! kill -0 $SUP_PID"
check "takeover: ... leaving the device attached" connected nbd6
check "takeover: ... and says why" grep -q "is in use" /tmp/take2.log
check "takeover: the file system still works" sh -c 'sync && cat /mnt/kept | grep -qx kept'
check "takeover: umount" to umount /mnt
detach_ours "takeover" nbd6 detach /dev/nbd6
# Without -persist too, attach returns with the partitions there.
check "takeover: attach without -persist" attach_ours attach nbd://127.0.0.1:10816/take /dev/nbd7
check "takeover: without -persist the partitions exist when attach returns" test -b /dev/nbd7p2
detach_ours "takeover (no persist)" nbd7 detach /dev/nbd7
