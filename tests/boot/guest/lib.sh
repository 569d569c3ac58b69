# SPDX-License-Identifier: GPL-2.0-or-later
# Guest-side helpers of the boot tests (bash on Debian 12 with systemd), sourced by the runner and
# through it by every test.
#
# Every assertion prints one line, "ok - WHAT" or "not ok - WHAT"; "# ..." lines are diagnostics. The
# host numbers them into TAP with tests/vm/lib/tap.py, the VM suite's converter, so the conventions
# are the VM suite's: the lines go to the second serial port (ttyS1), which nothing else writes to,
# and a copy prefixed "NBDM-VM: " to the console; the run ends with
# "NBDM-VM-RESULT: passed=N failed=M". Counts live in files because each test runs in a subshell.
# shellcheck shell=bash

# shellcheck disable=SC2034 # the runner's
NBDM_BOOT_DIR=/usr/local/lib/nbdm-boot
STATE=/run/nbdm-boot
mkdir -p "$STATE"
touch "$STATE/passed" "$STATE/failed"

# Written by the host for this run: NBDM_BOOT_SERIES, NBDM_HOST (the host's forwards), NBDM_NBD_PORT
# (its NBD server), NBDM_CTL_PORT (its control service, hostctl.py), NBDM_BOOT_TESTS, NBDM_BOOT_SHELL,
# and the exports the host serves (NBDM_EXPORT_SIZE_<name>, in bytes).
# shellcheck source=/dev/null
. /etc/nbdm-boot/env

RESULTS_TTY=
(: >/dev/ttyS1) 2>/dev/null && RESULTS_TTY=/dev/ttyS1

# Each line opens and closes the port: close waits until the UART has sent it, so nothing is lost
# when the guest powers off right after the last one.
emit() {
	[ -n "$RESULTS_TTY" ] && printf '%s\n' "$*" >"$RESULTS_TTY"
	printf 'NBDM-VM: %s\n' "$*" >/dev/console
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
	local what=$1 rc=0
	shift
	"$@" >"$STATE/out" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		ok "$what"
		return 0
	fi
	not_ok "$what"
	diag "command: $*"
	diag "exit status $rc"
	diag_file "$STATE/out"
	return 1
}

# check_fails WHAT CMD...: passes when CMD fails.
check_fails() {
	local what=$1
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
		return 0
	fi
	not_ok "$1"
	diag "expected: '$2'"
	diag "actual:   '$3'"
	return 1
}

# wait_until SECONDS CMD...: polls CMD every 0.2 s until it succeeds; fails after SECONDS.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.2
	done
}

# A hung server or kernel must fail one assertion, not stall the boot until the host's timeout.
to() { timeout -k 5 60 "$@"; }

# hostctl REQUEST...: one request to the host's control service (hostctl.py: status, stop [SIGNAL],
# start, restart [DELAY], sum EXPORT OFFSET LENGTH, log [LINES]); prints its answer and succeeds when
# the answer starts with "ok". Through bash's /dev/tcp: the guest needs no client program for it.
hostctl() {
	local fd answer=
	exec {fd}<>"/dev/tcp/$NBDM_HOST/$NBDM_CTL_PORT" || {
		echo "error cannot connect to the host's control service at $NBDM_HOST:$NBDM_CTL_PORT"
		return 1
	}
	printf '%s\n' "$*" >&"$fd"
	IFS= read -r -t 60 answer <&"$fd" || true
	exec {fd}>&-
	[ -n "$answer" ] || answer="error no answer from the control service"
	printf '%s\n' "$answer"
	[[ $answer == ok* ]]
}

# The NBD server on the host as the guest reaches it, and an export's URI.
nbd_uri() { echo "nbd://$NBDM_HOST:$NBDM_NBD_PORT/$1"; }

# attached nbdX: whether the kernel has a connection for the device (the pid file exists while it does).
attached() { [ -e "/sys/block/$1/pid" ]; }

# detach_all: the runner's cleanup after each test, so that the next one starts with free devices.
# A device whose nbd@ unit is active (or restarting) belongs to the system, as nbdtab says, not to
# a test: it is left alone, and never forced, since a file system may be mounted on it.
detach_all() {
	local d dev
	for d in /sys/block/nbd*; do
		[ -e "$d/pid" ] || continue
		dev=${d##*/}
		case $(systemctl show -P ActiveState "nbd@$dev.service" 2>/dev/null) in
		active | activating | deactivating | reloading) continue ;;
		esac
		to nbd-client -d "/dev/$dev" >/dev/null 2>&1 || to nbd-client -d "/dev/$dev" --force >/dev/null 2>&1 || true
	done
}

# local_export IMAGE: 8 MiB of random data in IMAGE, served as export "local" by the guest's own
# nbd-server through /etc/nbd-server/config (nbd@nbd5's nbdtab line names it); prints its sha256.
local_export() {
	head -c 8M /dev/urandom >"$1"
	mkdir -p /etc/nbd-server
	printf '[generic]\n[local]\n\texportname = %s\n' "$1" >/etc/nbd-server/config
	sha256sum <"$1" | cut -d' ' -f1
}

# whole_sum DEVICE: the sha256 of the whole device, read with O_DIRECT.
whole_sum() { dd if="$1" bs=1M iflag=direct status=none | sha256sum | cut -d' ' -f1; }

# unit_prop UNIT PROPERTY: one property's value (systemctl show -P).
unit_prop() { systemctl show -P "$2" "$1" 2>/dev/null; }

# The kernel's log from a mark on: kmsg_mark NAME writes the mark, kernel_log_since NAME prints
# what came after it, io_errors_since NAME only the lines of failed I/O (the block layer's, a
# buffer's, ext4's). The nbd driver's "Dead connection, failed to find a fallback" is none: the
# request then waits for a new connection, up to the dead-connection timeout.
kmsg_mark() { echo "nbdm-boot: mark $1" >/dev/kmsg; }
kernel_log_since() { dmesg | sed -n "/nbdm-boot: mark $1\$/,\$p"; }
io_errors_since() {
	kernel_log_since "$1" | grep -Ei 'I/O error|EXT4-fs (error|warning)|Aborting journal|remounting filesystem read-only' || true
}

# A verified workload in the background: io_start NAME DIR writes, round after round, two files
# of 256 KiB of random data into DIR, syncs the file system, reads them back past the page cache
# (O_DIRECT) and compares, logging "ok N" or "FAIL N: why" per round to $STATE/io-NAME.log and
# each file's sum to $STATE/io-NAME.sums. io_rounds NAME counts the good rounds, io_failures NAME
# prints the bad ones; io_stop NAME ends it after the round in progress; io_verify NAME reads every
# file written again from the device (page cache dropped) and compares.
io_start() {
	local name=$1 dir=$2
	rm -f "$STATE/io-$name".*
	: >"$STATE/io-$name.log"
	: >"$STATE/io-$name.sums"
	mkdir -p "$dir" || return 1
	io_loop "$name" "$dir" </dev/null >/dev/null 2>&1 &
}
io_loop() {
	local name=$1 dir=$2 buf=$STATE/io-$1.buf n=0 i f why got
	local -a want
	while [ ! -e "$STATE/io-$name.stop" ]; do
		n=$((n + 1))
		why=
		for i in 1 2; do
			f=$dir/$name-$n-$i
			head -c 262144 /dev/urandom >"$buf"
			want[i]=$(sha256sum <"$buf" | cut -d' ' -f1)
			cp "$buf" "$f" || why="writing $f failed"
			echo "${want[i]}  $f" >>"$STATE/io-$name.sums"
		done
		[ -z "$why" ] && ! sync -f "$dir" && why="sync -f $dir failed"
		for i in 1 2; do
			[ -n "$why" ] && break
			f=$dir/$name-$n-$i
			got=$(dd if="$f" bs=262144 iflag=direct status=none | sha256sum | cut -d' ' -f1)
			[ "$got" = "${want[i]}" ] || why="$f read back with sum $got, written with ${want[i]}"
		done
		if [ -z "$why" ]; then
			echo "ok $n" >>"$STATE/io-$name.log"
		else
			echo "FAIL $n: $why" >>"$STATE/io-$name.log"
		fi
		sleep 0.2
	done
	touch "$STATE/io-$name.done"
}
io_rounds() { grep -c '^ok ' "$STATE/io-$1.log" 2>/dev/null || true; }
io_failures() { grep '^FAIL' "$STATE/io-$1.log" 2>/dev/null || true; }
io_stop() {
	touch "$STATE/io-$1.stop"
	wait_until 120 test -e "$STATE/io-$1.done"
}
io_verify() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	sha256sum --quiet -c "$STATE/io-$1.sums"
}

# io_wait_started NAME: waits (at most 60 s) until the workload has written its first file.
io_wait_started() { wait_until 60 test -s "$STATE/io-$1.sums"; }

# io_wait_rounds NAME N: waits (at most 120 s) until the workload has N more good rounds than now.
io_wait_rounds() {
	local target=$(($(io_rounds "$1") + $2))
	wait_until 120 eval "[ \$(io_rounds $1) -ge $target ]"
}
