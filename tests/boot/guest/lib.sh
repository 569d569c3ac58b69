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
detach_all() {
	local d
	for d in /sys/block/nbd*; do
		[ -e "$d/pid" ] || continue
		to nbd-client -d "/dev/${d##*/}" >/dev/null 2>&1 || to nbd-client -d "/dev/${d##*/}" --force >/dev/null 2>&1 || true
	done
}
