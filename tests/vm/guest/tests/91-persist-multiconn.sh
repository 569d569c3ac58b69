# SPDX-License-Identifier: GPL-2.0-or-later
# -C 4 with -persist: when the server drops one connection of four, the supervisor replaces that one
# only, and I/O running meanwhile sees no error. The connections go through tcp-relay, which cuts the
# oldest on SIGUSR1 as a server closing it would, and counts the connections made.
need_ours "persist -C 4: only the cut connection is replaced"
need_helper "persist -C 4: only the cut connection is replaced" TCP_RELAY
truncate -s 64M /tmp/disk.img
start_server 10810 --export disk=/tmp/disk.img || exit 0
"$TCP_RELAY" 10811 10810 >/tmp/relay.out 2>/tmp/relay.log &
relay=$!
echo "$relay" >>"$STATE/pids"
wait_until 10 grep -qx ready /tmp/relay.out || { not_ok "persist -C 4: tcp-relay listens"; exit 0; }
errors_before=$(nbd_io_errors nbd1)
check "persist -C 4: attach -p -n -C 4 -t 3 through the relay" \
	start_supervisor sup1 attach -p -n -C 4 -t 3 nbd://127.0.0.1:10811/disk /dev/nbd1
[ "$DEV" = nbd1 ] || exit 0
check_eq "persist -C 4: four connections made" 4 "$(grep -c '^accept' /tmp/relay.out)"
make_file /tmp/mc-pattern 8
io_rounds nbd1 /tmp/mc-pattern 8 10 /tmp/mc-workload.log
workload=$IO_PID
usleep 300000
kill -USR1 "$relay"
check "persist -C 4: the relay cut one connection" wait_until 10 grep -q '^cut' /tmp/relay.out
check "persist -C 4: the supervisor replaced it (1 reconnect, all up)" \
	wait_until 30 sup_reconnects_at_least nbd1 1
wait "$workload"
check_eq "persist -C 4: the I/O running meanwhile completed and verified" DONE "$(tail -n 1 /tmp/mc-workload.log)"
check_eq "persist -C 4: exactly one new connection (five made in all)" 5 "$(grep -c '^accept' /tmp/relay.out)"
check_eq "persist -C 4: exactly one connection replaced" 1 "$(sup_field nbd1 reconnects)"
check "persist -C 4: the supervisor logged the lost connection" grep -q 'connection [1-4] of 4 .* lost' /tmp/sup1.log
check_eq "persist -C 4: the kernel logged no I/O error for nbd1" "$errors_before" "$(nbd_io_errors nbd1)"
write_verify "persist -C 4: I/O after the replacement" nbd1 4
detach_ours "persist -C 4" nbd1 detach /dev/nbd1
check "persist -C 4: the supervisor exits after detach" wait_until 10 sh -c "! kill -0 $SUP_PID"
