# SPDX-License-Identifier: GPL-2.0-or-later
# A supervisor stopped while a reconnection attempt waits on a server that accepts and never speaks:
# the attempt's thread is ended where it waits (reconnect-attempt.h), the device is detached, and the
# supervisor exits 0 with the attempt's connection closed, long before that attempt's own timeout.
# And Ctrl-C while attach -p waits for its supervisor's first connection, in the background, to a
# server that never speaks: the wait ends at once, the supervisor stops with it, nothing is attached.
need_ours "persist: stopped during a reconnection attempt"
truncate -s 32M /tmp/disk.img
start_server 10817 --export disk=/tmp/disk.img || exit 0
# The attempt waits for a greeting for 120 s: only the stop can end it within the test's bounds.
check "persist stop-attempt: attach -p -n -t 3" \
	start_supervisor sup8 attach -p -n -t 3 \
	"nbd://127.0.0.1:10817/disk?x-negotiate-timeout=120" /dev/nbd8
[ "$DEV" = nbd8 ] || exit 0
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
# A listener that takes one connection and holds it, silent, for longer than the test.
nc -l -p 10817 -e sleep 300 >/dev/null 2>&1 &
silent=$!
echo "$silent" >>"$STATE/pids"
check "persist stop-attempt: the supervisor is reconnecting" wait_until 30 sup_state_is nbd8 reconnecting
attempt_connected() { [ "$(established 10817)" -ge 1 ]; }
check "persist stop-attempt: its attempt is connected to the silent listener" \
	wait_until 30 attempt_connected
detach_ours "persist stop-attempt" nbd8 detach /dev/nbd8
check "persist stop-attempt: the supervisor ended" wait_until 30 sh -c "! kill -0 $SUP_PID"
wait "$SUP_PID"
status=$?
check_eq "persist stop-attempt: which exited with status 0" 0 "$status"
[ "$status" = 0 ] || diag_file /tmp/sup8.log
check_eq "persist stop-attempt: the attempt's connection is closed" 0 "$(established 10817)"
kill "$silent" 2>/dev/null

nc -l -p 10818 -e sleep 300 >/dev/null 2>&1 &
silent2=$!
echo "$silent2" >>"$STATE/pids"
"$NBDM_CLIENT" attach -p "nbd://127.0.0.1:10818/disk?x-negotiate-timeout=120" /dev/nbd9 \
	>/tmp/intr.out 2>/tmp/intr.err &
waiter=$!
first_connected() { [ "$(established 10818)" -ge 1 ]; }
check "persist Ctrl-C: the supervisor in the background is connected to the silent listener" \
	wait_until 30 first_connected
kill -INT "$waiter"
check "persist Ctrl-C: the waiting nbd-client ends at once" wait_until 5 sh -c "! kill -0 $waiter"
wait "$waiter"
check_eq "persist Ctrl-C: with status 130 (128 + SIGINT)" 130 "$?"
check "persist Ctrl-C: and says that the supervisor is told to stop" \
	grep -q "Received Interrupt: .* told to stop" /tmp/intr.err
no_first() { [ "$(established 10818)" = 0 ]; }
check "persist Ctrl-C: the supervisor stopped: its connection is closed" wait_until 10 no_first
check "persist Ctrl-C: nothing attached" disconnected nbd9
kill "$silent2" 2>/dev/null
