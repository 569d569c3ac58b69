# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-client against a server that describes its export wrongly at attach time
# (guest-tools/hostile-server.c): sizes beyond what Linux addresses, smaller than a block, flags
# without NBD_FLAG_HAS_FLAGS, block sizes beyond the kernel's limit or that contradict each other.
# Each is refused with a message that names the server's fault and no device is attached. Flags
# that only look contradictory (read-only, yet TRIM and WRITE_ZEROES offered) attach a device the
# kernel keeps read-only.
need_ours "client hostile attach"
if [ -z "$HOSTILE_SERVER" ]; then
	ok "client hostile attach # SKIP the hostile-server helper is not built"
	exit 0
fi

# hostile PORT SIZE FLAGS [MIN PREFERRED MAX]: the helper, ready to describe that export.
hostile() {
	"$HOSTILE_SERVER" "$@" >"/tmp/hostile-$1.log" 2>&1 &
	echo $! >>"$STATE/pids"
	HOSTILE_PID=$!
	wait_until 5 grep -q ready "/tmp/hostile-$1.log"
}

# refused_by WHAT PATTERN SERVER-ARGS...: a fresh helper with SERVER-ARGS; attaching it is refused.
port=10890
refused_by() {
	local what="$1" pattern="$2"
	shift 2
	port=$((port + 1))
	hostile "$port" "$@" || { not_ok "$what: hostile-server $* is ready"; return; }
	refused "$what" "$pattern" 127.0.0.1 "$port" /dev/nbd4
	stop_pid "$HOSTILE_PID"
}

refused_by "hostile: size 2^63" "9223372036854775808 bytes, more than Linux can address" \
	9223372036854775808 1
refused_by "hostile: size 2^64-512" "more than Linux can address" 18446744073709551104 1
refused_by "hostile: size 0" "export is empty" 0 1
refused_by "hostile: size 511, under one block" "smaller than one block" 511 1
refused_by "hostile: read-only flag without HAS_FLAGS" "0x0002, lack NBD_FLAG_HAS_FLAGS" 1048576 2
refused_by "hostile: minimum block size 64 KiB, above the page size" \
	"at least 65536 bytes, more than this kernel's limit" 1048576 1 65536 65536 1048576
refused_by "hostile: minimum block size above the preferred" "[Bb]lock size" \
	1048576 1 4096 1024 65536
refused_by "hostile: maximum block size below the preferred" "[Bb]lock size" \
	1048576 1 512 4096 1024

# HAS_FLAGS | READ_ONLY | SEND_TRIM | SEND_WRITE_ZEROES: read-only wins.
port=$((port + 1))
if hostile "$port" 4194304 0x63; then
	check "hostile: read-only export offering TRIM attaches" attach_ours 127.0.0.1 "$port" /dev/nbd4
	check_eq "hostile: /dev/nbd4 is read-only" 1 "$(cat /sys/block/nbd4/ro 2>&1)"
	check_fails "hostile: a write to /dev/nbd4 fails" \
		to dd if=/dev/zero of=/dev/nbd4 bs=4096 count=1 oflag=direct conv=notrunc
	check "hostile: a read of /dev/nbd4 works" to dd if=/dev/nbd4 of=/dev/null bs=1M iflag=direct
	detach_ours "hostile read-only" nbd4 -d /dev/nbd4
	stop_pid "$HOSTILE_PID"
else
	not_ok "hostile: hostile-server 4194304 0x63 is ready"
fi
