# SPDX-License-Identifier: GPL-2.0-or-later
# Guest-side test helpers (busybox ash), sourced by /tests/run and through it by every test.
#
# Every assertion prints exactly one line, "ok - WHAT" or "not ok - WHAT", which the host numbers and
# turns into TAP; "# ..." lines are diagnostics. Lines go to the second serial port (ttyS1), which
# nothing else writes to, so kernel messages cannot interleave with them; a copy goes to the console,
# prefixed "NBDM-VM: ", so that the console log reads as a whole. The counts live in files because each
# test runs in a subshell.
# shellcheck shell=sh

STATE=/tmp/nbdm-vm
mkdir -p "$STATE"
touch "$STATE/passed" "$STATE/failed" "$STATE/pids"

# Opening ttyS1 fails (EIO) when QEMU gave the guest no second serial port; the console alone then.
if [ -z "${RESULTS_TTY+set}" ]; then
	RESULTS_TTY=
	if (: >/dev/ttyS1) 2>/dev/null; then
		RESULTS_TTY=/dev/ttyS1
	fi
	export RESULTS_TTY
fi

# Each write opens and closes the tty: close waits until the UART has sent everything, so nothing is
# lost when the guest powers off right after the last line. Both run in a subshell. A write to a tty
# fails with EINTR, having written nothing, when a signal is pending as it starts, and busybox's ash
# does not restart it. The calling shell takes SIGCHLD whenever one of its background jobs ends, and
# the line was lost from the results: 3 to 9 lines in 1,000 when a job ends at every line
# (../results-channel.sh). The subshell has no children of its own to signal it.
emit() {
	(
		[ -n "$RESULTS_TTY" ] && printf '%s\n' "$*" >"$RESULTS_TTY"
		printf 'NBDM-VM: %s\n' "$*" >/dev/console
	)
}

ok() { echo . >>"$STATE/passed"; emit "ok - $*"; }
not_ok() { echo . >>"$STATE/failed"; emit "not ok - $*"; }
diag() { emit "# $*"; }
count() { wc -l <"$STATE/$1"; }

# diag_file FILE [LINES]: the last LINES (20) lines of FILE as diagnostics.
diag_file() {
	[ -s "$1" ] || return 0
	tail -n "${2:-20}" "$1" | while IFS= read -r line; do diag "  $line"; done
}

# check WHAT CMD...: passes when CMD succeeds; on failure shows the command, its status and output.
check() {
	local what="$1" rc
	shift
	if "$@" >"$STATE/out" 2>&1; then
		ok "$what"
		return 0
	else
		rc=$?
		not_ok "$what"
		diag "command: $*"
		diag "exit status $rc"
		diag_file "$STATE/out"
		return 1
	fi
}

# check_fails WHAT CMD...: passes when CMD fails (writes to a read-only device, ...).
check_fails() {
	local what="$1"
	shift
	if "$@" >"$STATE/out" 2>&1; then
		not_ok "$what"
		diag "command succeeded but should have failed: $*"
		diag_file "$STATE/out"
		return 1
	fi
	ok "$what"
}

# check_eq WHAT EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		diag "expected: '$2'"
		diag "actual:   '$3'"
		return 1
	fi
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s until it succeeds; fails after SECONDS.
wait_until() {
	local deadline=$(($1 * 10)) i=0
	shift
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -ge "$deadline" ] && return 1
		usleep 100000
	done
	return 0
}

# Every client command runs under a timeout: a hung server or kernel must fail one assertion, not
# stall the VM until the host's timeout kills it with no result at all.
to() { timeout -k 5 60 "$@"; }

# ---------------------------------------------------------------- servers

listening() { netstat -ltn 2>/dev/null | grep -q "127\.0\.0\.1:$1 "; }

# established PORT: how many client-side TCP connections to 127.0.0.1:PORT are open.
established() {
	netstat -tn 2>/dev/null | awk -v p="127.0.0.1:$1" '$5 == p && $6 == "ESTABLISHED"' | wc -l
}

# start_server PORT ARGS...: starts our nbd-server on 127.0.0.1:PORT in the foreground (as a background
# job), logging to /tmp/server-PORT.log, and asserts that it listens. Sets SERVER_PID.
start_server() {
	SERVER_PORT=$1
	shift
	"$NBDM_SERVER" --foreground --bind 127.0.0.1 --port "$SERVER_PORT" "$@" \
		>"/tmp/server-$SERVER_PORT.log" 2>&1 &
	SERVER_PID=$!
	echo "$SERVER_PID" >>"$STATE/pids"
	if wait_until 10 listening "$SERVER_PORT"; then
		ok "nbd-server $* listens on 127.0.0.1:$SERVER_PORT"
	else
		not_ok "nbd-server $* listens on 127.0.0.1:$SERVER_PORT"
		diag_file "/tmp/server-$SERVER_PORT.log"
		return 1
	fi
}

# server_alive WHAT: asserts that the server started last still runs (it must survive clients).
server_alive() {
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		ok "nbd-server still running $1"
	else
		not_ok "nbd-server still running $1"
		diag_file "/tmp/server-$SERVER_PORT.log"
	fi
}

stop_pid() {
	kill "$1" 2>/dev/null || return 0
	wait_until 5 sh -c "! kill -0 $1" || kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# ---------------------------------------------------------------- devices

# connected nbdX: the kernel has a live connection on the device (the pid attribute exists only then).
connected() { [ -e "/sys/block/$1/pid" ]; }
# attached nbdX: connected and sized. The kernel creates the pid attribute before it sets the
# capacity (nbd_start_device), and in ioctl mode nbd-client returns before its child has even started
# the device; wait for both.
attached() { connected "$1" && [ "$(cat "/sys/block/$1/size")" != 0 ]; }
disconnected() { ! connected "$1" && [ "$(cat "/sys/block/$1/size")" = 0 ]; }

# nbd_flags nbdX: the transmission flags the kernel holds for the device, from debugfs
# ("Hex: 0x00000d6d  Known flags: ..."); 0 when debugfs has no such file.
nbd_flags() {
	local hex
	hex=$(sed -n 's/^Hex: *\(0x[0-9a-fA-F]*\).*/\1/p' "/sys/kernel/debug/nbd/$1/flags" 2>/dev/null)
	echo $((${hex:-0}))
}

# attach nbdX PORT ARGS...: Debian's nbd-client attaches /dev/nbdX to 127.0.0.1:PORT; succeeds once
# the device is attached and sized.
attach() {
	local dev="$1" port="$2"
	shift 2
	to "$DEB_NBD_CLIENT" 127.0.0.1 "$port" "/dev/$dev" "$@" || return
	wait_until 10 attached "$dev" || { echo "/dev/$dev not attached 10 s after nbd-client returned"; return 1; }
}

# detach_check nbdX: detaches with Debian's nbd-client and asserts the device is gone.
detach_check() {
	check "nbd-client -d /dev/$1" to "$DEB_NBD_CLIENT" -d "/dev/$1"
	if wait_until 10 disconnected "$1"; then
		ok "/dev/$1 disconnected (no pid attribute, size 0)"
	else
		not_ok "/dev/$1 disconnected (no pid attribute, size 0)"
		diag "pid attribute: $(cat "/sys/block/$1/pid" 2>&1)"
		diag "size: $(cat "/sys/block/$1/size" 2>&1)"
	fi
}

# ---------------------------------------------------------------- our nbd-client

# ours_ready: our nbd-client is in the image and is the real one, not the stub of early builds (which
# only knows --help and --version, and says "No command is implemented").
ours_ready() {
	[ -n "$NBDM_CLIENT" ] && [ -x "$NBDM_CLIENT" ] && "$NBDM_CLIENT" --help 2>&1 | grep -qw attach
}

# need_ours WHAT: ends the test (its subshell) with one skipped assertion unless our nbd-client is
# usable.
need_ours() {
	ours_ready && return 0
	if [ -z "$NBDM_CLIENT" ]; then
		ok "$1 # SKIP our nbd-client is not built"
	else
		ok "$1 # SKIP our nbd-client is the stub (its --help has no 'attach')"
	fi
	exit 0
}

# run_out CMD...: runs CMD under the timeout with its stdout in $STATE/cmd.out and its stderr in
# $STATE/cmd.err (files, never pipes: with -L the client leaves a child behind that keeps both open),
# then shows both, for check's diagnostics. Returns CMD's status.
run_out() {
	local rc=0
	to "$@" >"$STATE/cmd.out" 2>"$STATE/cmd.err" || rc=$?
	cat "$STATE/cmd.out" "$STATE/cmd.err"
	return "$rc"
}

# ours ARGS...: our nbd-client, through run_out.
ours() { run_out "$NBDM_CLIENT" "$@"; }

# attach_with CMD...: runs CMD (an attaching nbd-client command line); succeeds when it exits 0,
# prints the device on stdout (a line /dev/nbdN, or the reference's Connected /dev/nbdN), and that device is then attached and sized. Sets
# DEV to nbdN.
attach_with() {
	DEV=
	run_out "$@" || return
	DEV=$(sed -En 's#^(Connected )?/dev/(nbd[0-9]+)$#\2#p' "$STATE/cmd.out" | head -n 1)
	[ -n "$DEV" ] || { echo "no /dev/nbdN (or Connected /dev/nbdN) line on stdout"; return 1; }
	wait_until 10 attached "$DEV" || { echo "/dev/$DEV not attached 10 s after nbd-client returned"; return 1; }
}

# attach_ours ARGS...: attach_with our nbd-client.
attach_ours() { attach_with "$NBDM_CLIENT" "$@"; }

# connected_devices: the nbdN devices with a live connection, on one line.
connected_devices() {
	local d
	for d in /sys/block/nbd*; do
		[ -e "$d/pid" ] && printf '%s ' "${d##*/}"
	done
	echo
}

# detach_ours WHAT nbdX ARGS...: our nbd-client ARGS (a detach command line) exits 0 and nbdX is then
# disconnected: two assertions.
detach_ours() {
	local what="$1" dev="$2"
	shift 2
	check "$what: nbd-client $*" ours "$@"
	if wait_until 10 disconnected "$dev"; then
		ok "$what: /dev/$dev disconnected (no pid attribute, size 0)"
	else
		not_ok "$what: /dev/$dev disconnected (no pid attribute, size 0)"
		diag "pid attribute: $(cat "/sys/block/$dev/pid" 2>&1)"
		diag "size: $(cat "/sys/block/$dev/size" 2>&1)"
	fi
}

# refused_with WHAT PATTERN CMD...: CMD (an nbd-client command line) must be refused, three assertions:
# its exit status is not 0, its stderr matches PATTERN (grep -E), and the set of connected devices is
# what it was.
refused_with() {
	local what="$1" pattern="$2" before after rc=0
	shift 2
	before=$(connected_devices)
	run_out "$@" >/dev/null 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		ok "$what: nbd-client fails (exit status $rc)"
	else
		not_ok "$what: nbd-client fails"
		diag "command succeeded but should have failed: $*"
		diag_file "$STATE/cmd.out"
	fi
	if grep -Eq -- "$pattern" "$STATE/cmd.err"; then
		ok "$what: stderr matches /$pattern/"
	else
		not_ok "$what: stderr matches /$pattern/"
		diag "command: $*"
		diag "stderr:"
		diag_file "$STATE/cmd.err"
	fi
	after=$(connected_devices)
	check_eq "$what: no device attached by it" "$before" "$after"
}

# refused WHAT PATTERN ARGS...: refused_with our nbd-client.
refused() {
	local what="$1" pattern="$2"
	shift 2
	refused_with "$what" "$pattern" "$NBDM_CLIENT" "$@"
}

# status_row nbdX STATE BYTES BLOCK: `nbd-client status` has a row for /dev/nbdX with this state, size
# in bytes and block size (columns DEVICE STATE SIZE BLOCK RO PID BACKEND).
status_row() {
	ours status || return
	awk -v d="/dev/$1" -v s="$2" -v z="$3" -v b="$4" \
		'$1 == d && $2 == s && $3 == z && $4 == b { f = 1 } END { exit !f }' "$STATE/cmd.out"
}

# check_pid nbdX: `nbd-client -c /dev/nbdX` exits 0 and prints a pid (a positive number, alone).
check_pid() {
	ours -c "/dev/$1" || return
	grep -qx '[1-9][0-9]*' "$STATE/cmd.out"
}

# check_status nbdX: the exit status of `nbd-client -c /dev/nbdX`.
check_status() {
	local rc=0
	ours -c "/dev/$1" >/dev/null 2>&1 || rc=$?
	echo "$rc"
}

# json_field FILE KEY: the value of "KEY": VALUE in FILE, the first one (a string without its quotes;
# values with commas are cut there).
json_field() {
	grep -o "\"$2\": *[^,}]*" "$1" | head -n 1 | sed 's/^[^:]*: *//; s/^"//; s/"$//'
}

# make_file FILE MIB: MIB MiB of random data.
make_file() { dd if=/dev/urandom of="$1" bs=1M count="$2" 2>/dev/null; }

# same_range A A_OFFSET_MIB B B_OFFSET_MIB COUNT_MIB: byte-compares COUNT MiB of two files or devices.
same_range() {
	dd if="$1" bs=1M skip="$2" count="$5" 2>/dev/null >"$STATE/range-a" &&
		dd if="$3" bs=1M skip="$4" count="$5" 2>/dev/null >"$STATE/range-b" &&
		cmp "$STATE/range-a" "$STATE/range-b"
}

# io_roundtrip nbdX BACKING WHAT [BS [MIB]]: writes MIB (4) MiB of random data at 3 MiB through the
# device with O_DIRECT and a flush, reads it back through the device with O_DIRECT, and compares both
# the read and the server's backing file with what was written.
io_roundtrip() {
	local dev="$1" backing="$2" what="$3" bs="${4:-1M}" mib="${5:-4}"
	make_file /tmp/pattern "$mib"
	check "$what: write $mib MiB with O_DIRECT (bs=$bs)" \
		to dd if=/tmp/pattern of="/dev/$dev" bs="$bs" seek=3145728 oflag=direct,seek_bytes conv=fsync,notrunc
	check "$what: read $mib MiB back with O_DIRECT (bs=$bs)" \
		to dd if="/dev/$dev" of=/tmp/readback bs="$bs" skip=3145728 count=$((mib * 1048576)) \
		iflag=direct,skip_bytes,count_bytes
	check "$what: data read back equals data written" cmp /tmp/pattern /tmp/readback
	check "$what: backing file holds the data written" same_range "$backing" 3 /tmp/pattern 0 "$mib"
}

# show_logs TEST: what the servers and clients of the last test said, for a test that failed; the
# heading is what the host's tap.py looks for to repeat these lines on its stderr.
show_logs() {
	local log
	diag "logs of the failed test $1:"
	for log in /tmp/*.log; do
		[ -s "$log" ] || continue
		diag "${log#/tmp/}:"
		diag_file "$log"
	done
}

cleanup_all() {
	local d p
	grep -q ' /mnt ' /proc/mounts && umount /mnt 2>/dev/null
	for d in /sys/block/nbd*; do
		[ -e "$d/pid" ] || continue
		diag "cleanup: detaching /dev/${d##*/}"
		to "$DEB_NBD_CLIENT" -d "/dev/${d##*/}" >/dev/null 2>&1
	done
	while read -r p; do stop_pid "$p"; done <"$STATE/pids"
	: >"$STATE/pids"
	rm -f /tmp/*.img /run/nbd-client/*
}

# ---------------------------------------------------------------- the supervisor (-persist)

# server_up PORT ARGS...: start_server without its assertion, for restarts in a loop; the log is
# appended to. Sets SERVER_PID; fails when the server does not listen within 10 s.
server_up() {
	local port=$1
	shift
	"$NBDM_SERVER" --foreground --bind 127.0.0.1 --port "$port" "$@" >>"/tmp/server-$port.log" 2>&1 &
	SERVER_PID=$!
	echo "$SERVER_PID" >>"$STATE/pids"
	wait_until 10 listening "$port"
}

# server_kill: SIGKILL to the server started last, and waits for it to be gone.
server_kill() {
	kill -9 "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
	return 0
}

# sup_field nbdX KEY: a value the device's supervisor publishes (/run/nbd-client/nbdX).
sup_field() { sed -n "s/^$2=//p" "/run/nbd-client/$1" 2>/dev/null; }

# sup_connected nbdX: the supervisor says every connection is up.
sup_connected() { [ "$(sup_field "$1" state)" = connected ] && [ "$(sup_field "$1" dead)" = 0 ]; }

# sup_state_is nbdX STATE, sup_error_has nbdX PATTERN, sup_attempts_over nbdX N: what the supervisor
# publishes (functions, for wait_until; `sh -c` would not see sup_field).
sup_state_is() { [ "$(sup_field "$1" state)" = "$2" ]; }
sup_error_has() { sup_field "$1" last_error | grep -q -- "$2"; }
sup_attempts_over() { [ "$(sup_field "$1" attempts)" -gt "$2" ] 2>/dev/null; }

# sup_reconnects_at_least nbdX N: the supervisor has replaced N connections or more, and is connected.
sup_reconnects_at_least() {
	sup_connected "$1" && [ "$(sup_field "$1" reconnects)" -ge "$2" ]
}

# start_supervisor NAME ARGS...: our nbd-client ARGS (an attach with -p -n) as a background job, its
# stdout in /tmp/NAME.out and its log in /tmp/NAME.log; succeeds once it has printed the device and
# the device is attached. Sets SUP_PID and DEV.
start_supervisor() {
	local name=$1
	shift
	DEV=
	# Emptied here, not by the redirection below: that happens in the child, which may run only
	# after the wait has read what an earlier supervisor of the same name printed.
	: >"/tmp/$name.out"
	: >"/tmp/$name.log"
	"$NBDM_CLIENT" "$@" >>"/tmp/$name.out" 2>>"/tmp/$name.log" &
	SUP_PID=$!
	echo "$SUP_PID" >>"$STATE/pids"
	wait_until 30 grep -Eq '^(Connected )?/dev/nbd' "/tmp/$name.out" || { cat "/tmp/$name.log"; return 1; }
	DEV=$(sed -En 's#^(Connected )?/dev/(nbd[0-9]+)$#\2#p' "/tmp/$name.out" | head -n 1)
	wait_until 10 attached "$DEV" || { echo "/dev/$DEV not attached"; return 1; }
}

# nbd_io_errors nbdX: how many I/O errors the kernel logged for the device.
nbd_io_errors() { dmesg | grep -c "I/O error, dev $1" ; }

# write_verify WHAT nbdX MIB: writes MIB MiB of fresh random data at 1 MiB with O_DIRECT, reads it
# back with O_DIRECT and compares: one assertion.
write_verify() {
	make_file "/tmp/wv-$2" "$3"
	check "$1" sh -c "dd if=/tmp/wv-$2 of=/dev/$2 bs=1M seek=1 oflag=direct conv=fsync,notrunc 2>&1 &&
		dd if=/dev/$2 of=/tmp/wv-$2.back bs=1M skip=1 count=$3 iflag=direct 2>&1 &&
		cmp /tmp/wv-$2 /tmp/wv-$2.back"
}

# need_helper WHAT VAR: ends the test (its subshell) with one skipped assertion unless the guest helper
# whose path is in the variable named VAR (TCP_RELAY, NBD_MONITOR, ...) is in the image.
# need_tls WHAT: ends the test with one skipped assertion unless the image has the TLS material
# (tests/tls/make-certs.sh, made with the host's certtool); then loads the kernel's TLS and AES-GCM
# modules, which a real system loads on demand and busybox's modprobe, without the crypto API's
# aliases, does not.
need_tls() {
	if [ -z "$TLS_DIR" ]; then
		ok "$1 # SKIP no TLS material in the image (certtool missing on the host)"
		exit 0
	fi
	for m in tls gcm ghash_generic ctr seqiv aesni_intel; do
		modprobe "$m" 2>/dev/null
	done
	return 0
}

need_helper() {
	local path
	eval "path=\${$2:-}"
	[ -n "$path" ] && [ -x "$path" ] && return 0
	ok "$1 # SKIP \$$2: the helper is not in the image"
	exit 0
}

# io_rounds nbdX PATTERN OFFSET_MIB ROUNDS LOG: starts in the background ROUNDS rounds of writing the
# file PATTERN at OFFSET_MIB MiB with O_DIRECT and fsync, reading it back with O_DIRECT and comparing;
# LOG's last line is then DONE when every round verified, FAIL when one did not. Sets IO_PID.
io_rounds() {
	local dev=$1 pattern=$2 offset=$3 rounds=$4 log=$5
	local mib=$(($(wc -c <"$pattern") / 1048576))
	(
		i=0
		while [ "$i" -lt "$rounds" ]; do
			i=$((i + 1))
			dd if="$pattern" of="/dev/$dev" bs=1M seek="$offset" oflag=direct conv=fsync,notrunc 2>&1 &&
				dd if="/dev/$dev" of="$log.back" bs=1M skip="$offset" count="$mib" iflag=direct 2>&1 &&
				cmp "$pattern" "$log.back" || { echo FAIL; exit 1; }
		done
		echo DONE
	) >"$log" 2>&1 &
	IO_PID=$!
}

# make_mbr FILE: writes an MBR with two Linux partitions (type 0x83), in 512-byte sectors
# 2048+16384 and 18432+30720, into FILE (at least 24 MiB).
make_mbr() {
	local file=$1
	mbr_entry() { # OFFSET START SECTORS: one partition entry, little-endian numbers
		le32() { printf "\\$(printf %03o $(($1 & 255)))\\$(printf %03o $((($1 >> 8) & 255)))\\$(printf %03o $((($1 >> 16) & 255)))\\$(printf %03o $((($1 >> 24) & 255)))"; }
		{ printf '\000\000\000\000\203\000\000\000'; le32 "$2"; le32 "$3"; } |
			dd of="$file" bs=1 seek="$1" conv=notrunc 2>/dev/null
	}
	mbr_entry 446 2048 16384
	mbr_entry 462 18432 30720
	printf '\125\252' | dd of="$file" bs=1 seek=510 conv=notrunc 2>/dev/null
}

# tls_server_dir DIR: the test CA and the server's certificate and key in DIR, under the names a
# --tls-certificates directory has (ca-cert.pem, server-cert.pem, server-key.pem).
tls_server_dir() {
	mkdir -p "$1"
	cp "$TLS_DIR/ca.pem" "$1/ca-cert.pem"
	cp "$TLS_DIR/server.pem" "$1/server-cert.pem"
	cp "$TLS_DIR/server-key.pem" "$1/server-key.pem"
	chmod 600 "$1/server-key.pem"
}

# tls_stat NAME: a counter of the kernel's TLS (/proc/net/tls_stat).
tls_stat() { awk -v k="$1" '$1 == k { print $2 }' /proc/net/tls_stat; }
