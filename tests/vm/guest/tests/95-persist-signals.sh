# SPDX-License-Identifier: GPL-2.0-or-later
# Signals and commands for a supervisor: SIGHUP and `nbd-client reconnect` replace the connections
# with no I/O error; it wakes for nothing while healthy; -c names it; -m marks argv[0] with '@'; -s
# locks it in memory with the OOM killer kept away.
need_ours "persist: signals, reconnect, status"
truncate -s 32M /tmp/disk.img
start_server 10815 --export disk=/tmp/disk.img || exit 0
errors_before=$(nbd_io_errors nbd5)
# The service manager's notification socket, as systemd gives it to a Type=notify service.
notify=
if [ -n "$NOTIFY_LISTEN" ] && [ -x "$NOTIFY_LISTEN" ]; then
	"$NOTIFY_LISTEN" /tmp/notify.sock 120 >/tmp/notify.out 2>&1 &
	echo "$!" >>"$STATE/pids"
	wait_until 10 grep -qx ready /tmp/notify.out && notify=/tmp/notify.sock
fi
[ -n "$notify" ] && export NOTIFY_SOCKET=$notify
check "persist signals: attach -p -n -s -m -t 3" \
	start_supervisor sup5 attach -p -n -s -m -t 3 nbd://127.0.0.1:10815/disk /dev/nbd5
unset NOTIFY_SOCKET
[ "$DEV" = nbd5 ] || exit 0
if [ -n "$notify" ]; then
	check "persist signals: sd_notify READY=1 once attached" wait_until 10 grep -qx READY=1 /tmp/notify.out
	check "persist signals: sd_notify STATUS says connected" \
		grep -q '^STATUS=/dev/nbd5 connected to 127.0.0.1:10815' /tmp/notify.out
else
	ok "persist signals: sd_notify # SKIP notify-listen is not in the image"
fi
check_eq "persist signals: -c prints the supervisor's pid" "$SUP_PID" "$("$NBDM_CLIENT" -c /dev/nbd5)"
check "persist signals: -m: argv[0] starts with '@'" sh -c "head -c 1 /proc/$SUP_PID/cmdline | grep -q @"
check "persist signals: -s: memory locked (VmLck > 0)" \
	sh -c "awk '/^VmLck/ { exit !(\$2 > 0) }' /proc/$SUP_PID/status"
check_eq "persist signals: -s: oom_score_adj is -1000" -1000 "$(cat /proc/$SUP_PID/oom_score_adj)"
# Idle means no wake-up at all: the context-switch counters of every thread stay put.
switches() { cat /proc/"$SUP_PID"/task/*/status | awk '/ctxt_switches/ { n += $2 } END { print n }'; }
before=$(switches)
sleep 5
check_eq "persist signals: no wake-up in 5 s while healthy" "$before" "$(switches)"
make_file /tmp/sig-pattern 8
io_rounds nbd5 /tmp/sig-pattern 4 6 /tmp/sig-io.log
io=$IO_PID
usleep 200000
kill -HUP "$SUP_PID"
check "persist signals: SIGHUP: reconnected" wait_until 30 sup_reconnects_at_least nbd5 1
check "persist signals: nbd-client reconnect /dev/nbd5" ours reconnect /dev/nbd5
check "persist signals: reconnect says so" grep -qx '/dev/nbd5 reconnected' "$STATE/cmd.out"
check_eq "persist signals: two reconnects so far" 2 "$(sup_field nbd5 reconnects)"
if [ -n "$notify" ]; then
	check "persist signals: sd_notify STATUS told of the reconnection" \
		grep -q '^STATUS=/dev/nbd5 reconnecting to 127.0.0.1:10815' /tmp/notify.out
fi
wait "$io"
check_eq "persist signals: I/O across SIGHUP and reconnect completed and verified" DONE "$(tail -n 1 /tmp/sig-io.log)"
check_eq "persist signals: the kernel logged no I/O error for nbd5" "$errors_before" "$(nbd_io_errors nbd5)"
check "persist signals: status shows the supervisor" \
	sh -c "'$NBDM_CLIENT' status | grep -q 'supervisor $SUP_PID: connected since .* 2 connections replaced'"
refused "persist signals: reconnect without a supervisor" "has no supervisor" reconnect /dev/nbd6
detach_ours "persist signals" nbd5 detach /dev/nbd5
check "persist signals: detach ended the supervisor" wait_until 10 sh -c "! kill -0 $SUP_PID"
wait "$SUP_PID"
check_eq "persist signals: which exited with status 0" 0 "$?"
if [ -n "$notify" ]; then
	check "persist signals: sd_notify STOPPING=1 when detaching" grep -qx STOPPING=1 /tmp/notify.out
fi
