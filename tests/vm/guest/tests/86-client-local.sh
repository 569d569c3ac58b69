# SPDX-License-Identifier: GPL-2.0-or-later
# Local images: nbd-client attach file:///PATH (and memory:SIZE) starts its own server on socketpairs,
# with no port and no socket path. A raw image (data verified against the file both ways), read-only,
# a copy-on-write overlay (the image unchanged byte for byte), a memory disk, four connections to one
# server, and with -persist the server SIGKILLed under a verified workload: it is started again and
# no I/O fails. Detaching leaves no server behind.
need_ours "client local: attach of a local image"

# local_servers: the pids of the servers nbd-client started (their command line has --accept-fds).
local_servers() { ps -o pid,args | awk '/nbd-server .*--accept-fds/ && !/awk/ { print $1 }'; }
no_local_server() { [ -z "$(local_servers)" ]; }

make_file /tmp/local.img 16
cp /tmp/local.img /tmp/local.orig

# ---- a raw image
check "local: attach file:///tmp/local.img /dev/nbd6" attach_ours attach file:///tmp/local.img /dev/nbd6
check_eq "local: the device has the image's size" 32768 "$(cat /sys/block/nbd6/size 2>&1)"
check_eq "local: the backend names the image" "file:///tmp/local.img" "$(cat /sys/block/nbd6/backend 2>&1)"
check_eq "local: one server runs" 1 "$(local_servers | wc -l)"
check "local: nothing listens (no TCP port)" sh -c "! netstat -ltn 2>/dev/null | grep -q LISTEN"
check "local: the device reads the image" same_range /dev/nbd6 0 /tmp/local.img 0 16
io_roundtrip nbd6 /tmp/local.img "local"
check "local: status lists the device" status_row nbd6 connected 16777216 512
detach_ours "local" nbd6 detach /dev/nbd6
check "local: detach leaves no server behind" wait_until 10 no_local_server

# ---- read-only
cp /tmp/local.orig /tmp/local.img
check "local read-only: attach -R" attach_ours attach -R file:///tmp/local.img /dev/nbd6
check_eq "local read-only: /sys/block/nbd6/ro is 1" 1 "$(cat /sys/block/nbd6/ro 2>&1)"
check_fails "local read-only: a write fails" \
	to dd if=/dev/zero of=/dev/nbd6 bs=4096 count=1 oflag=direct conv=notrunc
check "local read-only: the image is unchanged" cmp /tmp/local.img /tmp/local.orig
detach_ours "local read-only" nbd6 detach /dev/nbd6

# ---- a copy-on-write overlay
rm -f /tmp/local.cow /tmp/local.cow.map
check "local overlay: attach file:///tmp/local.img?cow=/tmp/local.cow" \
	attach_ours attach "file:///tmp/local.img?cow=/tmp/local.cow" /dev/nbd6
make_file /tmp/pattern 2
check "local overlay: write 2 MiB" \
	to dd if=/tmp/pattern of=/dev/nbd6 bs=1M seek=5 oflag=direct conv=fsync,notrunc
check "local overlay: the device reads the writes" same_range /dev/nbd6 5 /tmp/pattern 0 2
check "local overlay: the image is unchanged, byte for byte" cmp /tmp/local.img /tmp/local.orig
check "local overlay: the overlay file exists" test -s /tmp/local.cow
detach_ours "local overlay" nbd6 detach /dev/nbd6
check "local overlay: attached again, the writes are there" \
	attach_ours attach "file:///tmp/local.img?cow=/tmp/local.cow" /dev/nbd6
echo 3 >/proc/sys/vm/drop_caches
check "local overlay: reread through the overlay" same_range /dev/nbd6 5 /tmp/pattern 0 2
detach_ours "local overlay (again)" nbd6 detach /dev/nbd6
check "local overlay: still no change to the image" cmp /tmp/local.img /tmp/local.orig

# ---- a memory disk
check "local memory: attach memory:32M" attach_ours attach memory:32M /dev/nbd6
check_eq "local memory: 32 MiB" 65536 "$(cat /sys/block/nbd6/size 2>&1)"
make_file /tmp/pattern 4
check "local memory: write 4 MiB" to dd if=/tmp/pattern of=/dev/nbd6 bs=1M seek=3 oflag=direct conv=fsync,notrunc
check "local memory: read it back" same_range /dev/nbd6 3 /tmp/pattern 0 4
detach_ours "local memory" nbd6 detach /dev/nbd6
check "local memory: detach leaves no server behind" wait_until 10 no_local_server

# ---- four connections, one server
check "local -C 4: attach" attach_ours attach -C 4 file:///tmp/local.img /dev/nbd6
check_eq "local -C 4: one server" 1 "$(local_servers | wc -l)"
srv=$(local_servers)
# The server holds its four connections (sockets) and the socket new ones come on, if any.
sockets=0
for fd in "/proc/$srv/fd/"*; do
	case $(readlink "$fd") in socket:*) sockets=$((sockets + 1)) ;; esac
done
check "local -C 4: the server holds 4 connections ($sockets sockets)" test "$sockets" -ge 4
io_roundtrip nbd6 /tmp/local.img "local -C 4"
detach_ours "local -C 4" nbd6 detach /dev/nbd6
check "local -C 4: detach leaves no server behind" wait_until 10 no_local_server

# ---- -persist: the server killed under a verified workload
errors_before=$(nbd_io_errors nbd6)
check "local persist: attach -p -n -t 5" \
	start_supervisor local-sup attach -p -n -t 5 file:///tmp/local.img /dev/nbd6
[ "$DEV" = nbd6 ] || exit 0
for i in 0 1 2 3; do make_file "/tmp/lp$i" 1; done
rm -f /tmp/stop /tmp/local-io.log
(
	i=0
	while [ ! -e /tmp/stop ]; do
		i=$((i + 1))
		p=/tmp/lp$((i % 4))
		if ! dd if="$p" of=/dev/nbd6 bs=64k seek=$((i % 8 * 16)) oflag=direct conv=fsync,notrunc \
			2>/tmp/local-io.err; then
			echo "FAIL write $i: $(cat /tmp/local-io.err)"
			continue
		fi
		if dd if=/dev/nbd6 bs=64k skip=$((i % 8 * 16)) count=16 iflag=direct 2>/dev/null |
			cmp - "$p" >/tmp/local-io.err 2>&1; then
			echo "ok $i"
		else
			echo "FAIL verify $i: $(cat /tmp/local-io.err)"
		fi
	done >>/tmp/local-io.log
) &
io=$!
echo "$io" >>"$STATE/pids"
# passes_over N: the workload has verified more than N passes.
passes_over() { [ "$(grep -c '^ok' /tmp/local-io.log 2>/dev/null)" -gt "$1" ]; }
killed=0
for _ in 1 2 3 4 5; do
	# Each kill lands on a workload that made progress since the last one.
	wait_until 60 passes_over "$(grep -c '^ok' /tmp/local-io.log 2>/dev/null)" || break
	srv=$(local_servers)
	[ -n "$srv" ] || continue
	kill -9 $srv
	killed=$((killed + 1))
	wait_until 30 sup_reconnects_at_least nbd6 "$killed" || break
done
wait_until 60 passes_over "$(grep -c '^ok' /tmp/local-io.log 2>/dev/null)"
touch /tmp/stop
wait "$io"
check "local persist: the server was killed $killed times and restarted each time" \
	sup_reconnects_at_least nbd6 "$killed"
check "local persist: $killed kills" test "$killed" -ge 4
passes=$(grep -c '^ok' /tmp/local-io.log)
check_eq "local persist: no write or verification failed ($passes passed)" 0 "$(grep -c FAIL /tmp/local-io.log)"
grep FAIL /tmp/local-io.log | head -n 5 >/tmp/local-io.fail
diag_file /tmp/local-io.fail
check "local persist: the workload went on between the kills ($passes passes)" test "$passes" -gt "$killed"
check_eq "local persist: the kernel logged no I/O error" "$errors_before" "$(nbd_io_errors nbd6)"
check_eq "local persist: one server runs" 1 "$(local_servers | wc -l)"
detach_ours "local persist" nbd6 detach /dev/nbd6
check "local persist: the supervisor exits" wait_until 10 sh -c "! kill -0 $SUP_PID"
check "local persist: detach leaves no server behind" wait_until 10 no_local_server

# ---- -swap and -m reach the server too
check "local -swap -m: attach memory:16M -swap -m" attach_ours attach -swap -m memory:16M /dev/nbd6
srv=$(local_servers)
check_eq "local -swap -m: the server's argv[0] starts with @ (systemd's shutdown spares it)" @ \
	"$(head -c 1 "/proc/$srv/cmdline" 2>&1)"
check_eq "local -swap -m: the server is out of the OOM killer's reach" -1000 \
	"$(cat "/proc/$srv/oom_score_adj" 2>&1)"
check "local -swap -m: the server is locked in memory (VmLck)" \
	awk '/^VmLck:/ { exit !($2 > 0) }' "/proc/$srv/status"
detach_ours "local -swap -m" nbd6 detach /dev/nbd6
check "local -swap -m: detach leaves no server behind" wait_until 10 no_local_server
rm -f /tmp/local.img /tmp/local.orig /tmp/local.cow /tmp/local.cow.map /tmp/pattern /tmp/lp? /tmp/stop
