# SPDX-License-Identifier: GPL-2.0-or-later
# The supervisor's main promise: a file system on a persistent device (-persist) keeps working through
# server crashes. A verified workload (write a file with fsync, drop the page cache, compare it through
# the device) runs on ext2 while the server is killed with SIGKILL and restarted 2 s later, 20 times in
# a row; no write or comparison may fail and the kernel may log no I/O error. The supervisor runs as a
# daemon here, its default.
need_ours "persist: the device survives 20 server restarts"
truncate -s 64M /tmp/disk.img
start_server 10809 --export disk=/tmp/disk.img || exit 0
errors_before=$(nbd_io_errors nbd0)
# A daemon logs to syslog (there is no journal here): busybox's syslogd keeps the lines.
syslogd -n -O /tmp/messages &
echo "$!" >>"$STATE/pids"
wait_until 5 test -S /dev/log
check "persist: attach -p -t 3 nbd://127.0.0.1/disk /dev/nbd0 (daemon)" \
	attach_ours attach -p -t 3 nbd://127.0.0.1/disk /dev/nbd0
[ "$DEV" = nbd0 ] || exit 0
sup=$(sup_field nbd0 pid)
echo "$sup" >>"$STATE/pids"
check_eq "persist: the supervisor publishes its state: connected" connected "$(sup_field nbd0 state)"
check_eq "persist: the kernel's pid attribute names the supervisor" "$sup" "$(cat /sys/block/nbd0/pid)"
check "persist: the supervisor runs in the background" kill -0 "$sup"
# The device has 4 KiB blocks (the server's preferred size); ext2 blocks may not be smaller.
check "persist: mke2fs and mount" sh -c "mke2fs -F /dev/nbd0 >/dev/null 2>&1 && mount -t ext2 /dev/nbd0 /mnt" || exit 0

for i in 0 1 2 3; do make_file "/tmp/p$i" 1; done
rm -f /tmp/stop /tmp/workload.log
(
	i=0
	while [ ! -e /tmp/stop ]; do
		i=$((i + 1))
		f=/mnt/f$((i % 8))
		p=/tmp/p$((i % 4))
		if ! dd if="$p" of="$f" bs=64k conv=fsync 2>/tmp/workload.err; then
			echo "FAIL write $i: $(cat /tmp/workload.err)"
			continue
		fi
		# The comparison must read through the device, not the page cache.
		sync
		echo 3 >/proc/sys/vm/drop_caches
		if cmp "$p" "$f" >/tmp/workload.err 2>&1; then
			echo "ok $i"
		else
			echo "FAIL verify $i: $(cat /tmp/workload.err)"
		fi
	done >>/tmp/workload.log
) &
workload=$!
echo "$workload" >>"$STATE/pids"

restarts=0
for round in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	sleep 1
	server_kill
	sleep 2
	server_up 10809 --export disk=/tmp/disk.img || break
	restarts=$round
	# The next kill waits for the device to be whole again, so each round is a full outage.
	wait_until 30 sup_reconnects_at_least nbd0 "$round" || break
done
check_eq "persist: the server was killed and restarted 20 times" 20 "$restarts"
check "persist: the supervisor replaced the connection after every restart" \
	wait_until 30 sup_reconnects_at_least nbd0 20
# A few rounds of the workload after the last restart, then stop it.
n=$(grep -c '^ok' /tmp/workload.log)
wait_until 60 sh -c "[ \$(grep -c '^ok' /tmp/workload.log) -ge $((n + 3)) ]"
touch /tmp/stop
wait "$workload"
check_eq "persist: no workload step failed" 0 "$(grep -c '^FAIL' /tmp/workload.log)"
grep '^FAIL' /tmp/workload.log | head -n 5 | while IFS= read -r line; do diag "$line"; done
diag "workload steps: $(grep -c '^ok' /tmp/workload.log)"
check "persist: the workload ran on throughout (more than 20 verified steps)" \
	[ "$(grep -c '^ok' /tmp/workload.log)" -gt 20 ]
check "persist: the daemon logged its reconnections to syslog" \
	grep -q 'nbd-client.*/dev/nbd0: reconnected to 127.0.0.1:10809' /tmp/messages
check_eq "persist: the kernel logged no I/O error for nbd0" "$errors_before" "$(nbd_io_errors nbd0)"
check_eq "persist: ext2 reported no error" 0 "$(dmesg | grep -c 'EXT2-fs error')"
check "persist: umount" to umount /mnt
detach_ours "persist" nbd0 detach /dev/nbd0
check "persist: detach stops the supervisor" wait_until 10 sh -c "! kill -0 $sup"
check "persist: the supervisor's state file is gone" sh -c "! test -e /run/nbd-client/nbd0"
