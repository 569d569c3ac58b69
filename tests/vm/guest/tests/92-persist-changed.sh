# SPDX-License-Identifier: GPL-2.0-or-later
# A server that comes back with a different export size must not be handed to the device: the
# supervisor refuses it, says why (log and status), keeps trying, and takes the server again once it
# serves the right size.
need_ours "persist: a changed export is refused"
truncate -s 32M /tmp/disk.img
start_server 10812 --export disk=/tmp/disk.img || exit 0
check "persist changed: attach -p -n -t 3" \
	start_supervisor sup2 attach -p -n -t 3 nbd://127.0.0.1:10812/disk /dev/nbd2
[ "$DEV" = nbd2 ] || exit 0
server_kill
truncate -s 48M /tmp/disk2.img
server_up 10812 --export disk=/tmp/disk2.img
check "persist changed: the supervisor reports the size change in its state" \
	wait_until 30 sup_error_has nbd2 'size is now 50331648 bytes, not 33554432'
check "persist changed: and in its log" grep -q 'size is now 50331648 bytes' /tmp/sup2.log
check_eq "persist changed: the device is still waiting (reconnecting)" reconnecting "$(sup_field nbd2 state)"
check "persist changed: status shows the supervisor reconnecting with the error" \
	sh -c "'$NBDM_CLIENT' status /dev/nbd2 | grep -q 'reconnecting since .*size is now'"
check_eq "persist changed: the device kept its size" 65536 "$(cat /sys/block/nbd2/size)"
server_kill
server_up 10812 --export disk=/tmp/disk.img
check "persist changed: the right server again: reconnected" wait_until 30 sup_reconnects_at_least nbd2 1
write_verify "persist changed: I/O after the right server came back" nbd2 4
check "persist changed: status --json has the supervisor" \
	sh -c "'$NBDM_CLIENT' status --json /dev/nbd2 | grep -q '\"supervisor\": {\"pid\": $SUP_PID, \"state\": \"connected\"'"
kill "$SUP_PID"
check "persist changed: SIGTERM: the supervisor exits" wait_until 10 sh -c "! kill -0 $SUP_PID"
wait "$SUP_PID"
check_eq "persist changed: SIGTERM: with status 0" 0 "$?"
check "persist changed: SIGTERM detached the device" wait_until 10 disconnected nbd2
check "persist changed: SIGTERM: the state file is gone" sh -c "! test -e /run/nbd-client/nbd2"
