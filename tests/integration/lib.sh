# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by the integration tests: a scratch directory, our server started on a Unix socket or a free
# loopback port, assertions that print one TAP line each, and cleanup that ends only what it started.
#
# A test sources this file, runs its cases through ok/not_ok/check*, and ends with `finish`, which
# prints the TAP plan ("1..N") and exits 0 when every case passed, 1 otherwise. A test that cannot run
# (a client tool is missing) calls `skip_all REASON` (or `requires TOOL...`): meson's TAP parser counts
# a program that exits 77 as an error, so a skipped program prints "1..1" and one "# SKIP" case and
# exits 0; meson then reports it as SKIP.
# shellcheck shell=bash

set -euo pipefail

: "${NBD_SERVER:?NBD_SERVER must name the nbd-server binary under test}"

# Every client command runs under this so that a hung server cannot hang the test.
# shellcheck disable=SC2034 # used by the tests that source this file
TO=(timeout -k 5 30)

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/nbdm-test.XXXXXX")
SERVER_PIDS=()
SERVER_PID=
SERVER_LOG=
FAILURES=0
TESTS=0
N_SERVERS=0

# wait_gone PID SECONDS: waits for a process (not necessarily our child) to disappear.
wait_gone() {
	local pid=$1 deadline=$(($(date +%s%N) / 1000000 + $2 * 1000))
	while kill -0 "$pid" 2>/dev/null; do
		# A child that exited is a zombie until reaped: kill -0 still succeeds.
		if [ -r "/proc/$pid/stat" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then
			return 0
		fi
		[ $(($(date +%s%N) / 1000000)) -ge "$deadline" ] && return 1
		sleep 0.05
	done
	return 0
}

# stop_pid PID: SIGTERM, then SIGKILL when it does not go within 10 s. Returns the exit status when
# the process is our child.
stop_pid() {
	local pid=$1 rc=0
	kill "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" 10; then
		echo "# process $pid ignored SIGTERM for 10 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || rc=$?
	return $rc
}

cleanup() {
	local pid
	for pid in "${SERVER_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null && { stop_pid "$pid" || true; }
	done
	if [ -n "${KEEP_SCRATCH:-}" ]; then
		echo "# scratch directory kept: $SCRATCH"
	else
		rm -rf "$SCRATCH"
	fi
}
trap cleanup EXIT
# Killed (a meson timeout): still stop the servers.
trap 'exit 143' TERM INT

skip_all() {
	echo "1..1"
	echo "ok 1 - $(basename "$0") # SKIP $*"
	exit 0
}

# Skip the whole program when a client tool is missing.
requires() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 || skip_all "$tool is not installed"
	done
}

ok() { TESTS=$((TESTS + 1)); echo "ok $TESTS - $*"; }
not_ok() { TESTS=$((TESTS + 1)); echo "not ok $TESTS - $*"; FAILURES=$((FAILURES + 1)); }
skip() { TESTS=$((TESTS + 1)); echo "ok $TESTS - $1 # SKIP ${2:-}"; }
# diag FILE: shows a file as TAP comments.
diag() { sed 's/^/#   /' "$1" 2>/dev/null || true; }

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
	local what=$1
	shift
	if "$@" >"$SCRATCH/out" 2>&1; then
		ok "$what"
	else
		not_ok "$what (exit status $?)"
		diag "$SCRATCH/out"
	fi
}
# check_fails DESCRIPTION COMMAND...: passes when the command fails.
check_fails() {
	local what=$1
	shift
	if "$@" >"$SCRATCH/out" 2>&1; then
		not_ok "$what (succeeded unexpectedly)"
		diag "$SCRATCH/out"
	else
		ok "$what"
	fi
}
# check_status DESCRIPTION EXPECTED COMMAND...: passes when the command exits with EXPECTED.
check_status() {
	local what=$1 want=$2 rc=0
	shift 2
	"$@" >"$SCRATCH/out" 2>&1 || rc=$?
	if [ "$rc" -eq "$want" ]; then
		ok "$what"
	else
		not_ok "$what: expected exit status $want, got $rc"
		diag "$SCRATCH/out"
	fi
}
# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1: expected '$2', got '$3'"
	fi
}
# check_grep DESCRIPTION PATTERN FILE: passes when FILE has a line matching the extended regex.
check_grep() {
	if grep -Eq -- "$2" "$3"; then
		ok "$1"
	else
		not_ok "$1: no line matches '$2' in:"
		diag "$3"
	fi
}

# start_server SOCKET ARGS...: runs our server in the foreground on a Unix socket and waits (at most
# 10 s) until it serves. Sets SERVER_PID and SERVER_LOG.
start_server() {
	local sock=$1
	shift
	start_server_cmd "$sock" "$NBD_SERVER" --foreground --unix "$sock" "$@"
}

# start_server_cmd SOCKET COMMAND...: runs COMMAND in the background and waits until it serves on
# SOCKET: a Unix socket path, "tcp:PORT" for 127.0.0.1:PORT or "tcp6:PORT" for [::1]:PORT.
# Serving means a probe connection receives the NBD greeting, which the server sends only once its
# main loop runs (so that, say, a SIGTERM sent next is handled, not fatal). With START_WAIT=listen it
# only waits until the socket accepts connections: for servers that must see no probe (--oneshot
# exits after it) or that refuse this client (allow lists).
start_server_cmd() {
	local sock=$1 host=127.0.0.1 port=
	shift
	N_SERVERS=$((N_SERVERS + 1))
	SERVER_LOG=$SCRATCH/server-$N_SERVERS.log
	"$@" >"$SERVER_LOG" 2>&1 &
	SERVER_PID=$!
	SERVER_PIDS+=("$SERVER_PID")
	case $sock in
	tcp:*) port=${sock#tcp:} ;;
	tcp6:*) port=${sock#tcp6:} host=::1 ;;
	esac
	for _ in $(seq 1 200); do
		if [ "${START_WAIT:-greeting}" = listen ]; then
			if [ -n "$port" ]; then
				port_open "$host" "$port" && return 0
			else
				[ -S "$sock" ] && return 0
			fi
		elif [ -n "$port" ] || [ -S "$sock" ]; then
			nbd_greeting ${port:+"$host"} "${port:-$sock}" && return 0
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "Bail out! server did not start: $*"
	diag "$SERVER_LOG"
	exit 1
}

# stop_server [PID]: stops a server this test started (default: the last one) and returns its exit
# status.
# shellcheck disable=SC2120 # the argument is optional
stop_server() {
	stop_pid "${1:-$SERVER_PID}"
}

# port_open HOST PORT: whether something listens there (connects once, sends nothing).
port_open() {
	"${PYTHON:-python3}" - "$1" "$2" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.settimeout(1)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
EOF
}

# nbd_greeting [HOST] PORT_OR_SOCKET: whether a new connection receives the NBD greeting.
nbd_greeting() {
	"${PYTHON:-python3}" - "$@" <<'EOF' 2>/dev/null
import socket, sys
if len(sys.argv) == 3:
    s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
    addr = (sys.argv[1], int(sys.argv[2]))
else:
    s = socket.socket(socket.AF_UNIX)
    addr = sys.argv[1]
s.settimeout(2)
got = b""
try:
    s.connect(addr)
    while len(got) < 8:
        part = s.recv(8 - len(got))
        if not part:
            break
        got += part
except OSError:
    sys.exit(1)
sys.exit(0 if got == b"NBDMAGIC" else 1)
EOF
}

# A free TCP port on loopback, chosen by the kernel.
free_port() {
	"${PYTHON:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# uri SOCKET [EXPORT]: the NBD URI of an export on a Unix socket.
uri() {
	echo "nbd+unix:///${2:-}?socket=$1"
}

# Sanitizer reports of servers that already exited (ASan/UBSan builds write them to stderr, which is
# the server's log here).
SANITIZER_REPORT='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:'

finish() {
	local pid logs=()
	# Servers still running are stopped first, so that their exit (and leak check) is seen too.
	for pid in "${SERVER_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null && { stop_pid "$pid" || true; }
	done
	for pid in "$SCRATCH"/server-*.log; do
		[ -e "$pid" ] && logs+=("$pid")
	done
	if [ ${#logs[@]} -gt 0 ] && grep -Eq "$SANITIZER_REPORT" "${logs[@]}"; then
		not_ok "no sanitizer reports in the server logs"
		# sed reads to the end: head would stop early, grep would die of SIGPIPE and pipefail would
		# end the script here, before its plan line.
		grep -Eh -A20 "$SANITIZER_REPORT" "${logs[@]}" | sed -n '1,60s/^/#   /p'
	else
		ok "no sanitizer reports in the server logs (${#logs[@]} servers)"
	fi
	echo "1..$TESTS"
	[ "$FAILURES" -eq 0 ] || { echo "# $FAILURES of $TESTS failed"; exit 1; }
	exit 0
}
