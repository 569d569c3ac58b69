# SPDX-License-Identifier: GPL-2.0-or-later
# Link-dead events against the real kernel: a device attached by our nbd-client over netlink with a
# dead-connection timeout (-T) outlives its connection; when the server dies, the kernel multicasts
# NBD_CMD_LINK_DEAD on "nbd_mc_group", which netlink/nbd-dev.h's monitor (through the guest tool
# nbd-monitor) must report as "link-dead 7".
need_ours "link-dead: the kernel reports a dead connection to the monitor"
if [ -z "$NBD_MONITOR" ] || [ ! -x "$NBD_MONITOR" ]; then
	ok "link-dead: the kernel reports a dead connection to the monitor # SKIP nbd-monitor is not in the image"
	exit 0
fi
truncate -s 16M /tmp/disk.img
start_server 10809 --export disk=/tmp/disk.img || exit 0
server=$SERVER_PID
check "link-dead: attach nbd://127.0.0.1/disk /dev/nbd7 -T 30" \
	attach_ours attach nbd://127.0.0.1/disk /dev/nbd7 -T 30
check_eq "link-dead: prints /dev/nbd7" nbd7 "$DEV"
[ "$DEV" = nbd7 ] || exit 0

"$NBD_MONITOR" 60 >/tmp/monitor.out 2>/tmp/monitor.log &
monitor=$!
echo "$monitor" >>"$STATE/pids"
if wait_until 10 grep -qx ready /tmp/monitor.out; then
	ok "link-dead: nbd-monitor subscribed to nbd_mc_group (printed ready)"
else
	not_ok "link-dead: nbd-monitor subscribed to nbd_mc_group (printed ready)"
	diag_file /tmp/monitor.out
	diag_file /tmp/monitor.log
	exit 0
fi

t0=$(cut -d" " -f1 /proc/uptime)
kill -9 "$server"
wait "$server" 2>/dev/null
check "link-dead: nbd-server killed with SIGKILL" sh -c "! kill -0 $server"
# No I/O is needed: the kernel's receive worker sees the socket close (EOF), marks the connection dead
# and queues the event at once (within 0.1 s of the kill on 6.1 and 6.12).
if wait_until 10 grep -qx 'link-dead 7' /tmp/monitor.out; then
	ok "link-dead: the monitor reported 'link-dead 7'"
	diag "event within $(awk -v a="$t0" -v b="$(cut -d" " -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }') s of the kill"
else
	not_ok "link-dead: the monitor reported 'link-dead 7'"
	diag "monitor stdout:"
	diag_file /tmp/monitor.out
	diag "monitor stderr:"
	diag_file /tmp/monitor.log
	diag "dmesg:"
	dmesg | tail -n 20 | while IFS= read -r line; do diag "  $line"; done
fi
check_eq "link-dead: exactly one event reported" 1 "$(grep -c '^link-dead' /tmp/monitor.out)"
check "link-dead: /dev/nbd7 stays configured while the dead-connection timeout runs" connected nbd7
stop_pid "$monitor"
detach_ours "link-dead" nbd7 detach /dev/nbd7
