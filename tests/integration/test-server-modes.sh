#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# How the server runs: stdio mode, the reference command line and config file, socket activation,
# --oneshot, SIGTERM, connection limits, allow lists, config errors and daemon mode. TCP only on
# 127.0.0.1 (and ::1), on ports the kernel picked.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
requires nbdinfo
PY=${PYTHON:-python3}
"$PY" -c 'import nbd' 2>/dev/null || skip_all "python3-libnbd is not importable by $PY"
unset NOTIFY_SOCKET

truncate -s 2M "$SCRATCH/disk.img"
printf 'hello from the disk' | dd of="$SCRATCH/disk.img" conv=notrunc status=none
truncate -s 3M "$SCRATCH/other.img"

# holder SOCKET EXPORT NAME: a client that connects, says so in $SCRATCH/NAME.ready, and stays
# connected until $SCRATCH/NAME.release exists (at most 20 s). Sets HOLDER_PID.
holder() {
	"$PY" - "$1" "$2" "$SCRATCH/$3" <<'EOF' >"$SCRATCH/$3.log" 2>&1 &
import nbd, os, sys, time
# The server may not have counted the readiness probe's connection as closed yet (-M): retry.
deadline = time.monotonic() + 5
while True:
    try:
        h = nbd.NBD()
        h.set_export_name(sys.argv[2])
        h.connect_unix(sys.argv[1])
        break
    except nbd.Error:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
h.pread(512, 0)
open(sys.argv[3] + ".ready", "w").close()
deadline = time.monotonic() + 20
while not os.path.exists(sys.argv[3] + ".release") and time.monotonic() < deadline:
    time.sleep(0.05)
try:
    h.shutdown()
except nbd.Error:
    pass
EOF
	HOLDER_PID=$!
	SERVER_PIDS+=("$HOLDER_PID")
	for _ in $(seq 1 200); do
		[ -e "$SCRATCH/$3.ready" ] && return 0
		kill -0 "$HOLDER_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "# holder $3 did not connect:"
	diag "$SCRATCH/$3.log"
	return 1
}

# ================================================================ stdio
out=$("${TO[@]}" "$PY" - "$NBD_SERVER" "$SCRATCH/disk.img" <<'EOF' 2>&1
import nbd, socket, subprocess, sys
a, b = socket.socketpair()
p = subprocess.Popen([sys.argv[1], "-s", "--export", "=" + sys.argv[2]], stdin=a, stdout=a)
a.close()
h = nbd.NBD()
h.connect_socket(b.detach())  # libnbd owns the fd now
print(h.get_size(), bytes(h.pread(19, 0)).decode(), end=" ")
h.pwrite(b"HELLO", 0)
h.shutdown()
print("exit=%d" % p.wait(10))
EOF
) || true
check_eq "-s: serves one client on stdin/stdout and exits 0 when it leaves" \
	"2097152 hello from the disk exit=0" "$out"
check_eq "-s: the write reached the file" "HELLO" "$(head -c 5 "$SCRATCH/disk.img")"
printf 'hello' | dd of="$SCRATCH/disk.img" conv=notrunc status=none
out=$("${TO[@]}" "$PY" -c '
import nbd, sys
h = nbd.NBD()
h.connect_command([sys.argv[1], "0", sys.argv[2]])
print(h.get_size(), h.get_export_name() == "", end="")
h.shutdown()' "$NBD_SERVER" "$SCRATCH/other.img" 2>&1) || true
check_eq "reference PORT 0: stdio mode (libnbd connect_command)" "3145728 True" "$out"
if command -v nbdsh >/dev/null; then
	out=$(PATH="$(dirname "$PY"):$PATH" "${TO[@]}" nbdsh \
		-c "h.set_export_name('m')" \
		-c "h.connect_command(['$NBD_SERVER', '--stdio', '--export', 'm=memory:5M'])" \
		-c "h.pwrite(b'abc', 4096); print(h.get_size(), bytes(h.pread(3, 4096)).decode())" 2>&1) || true
	check_eq "nbdsh: --stdio with a memory export" "5242880 abc" "$out"
else
	skip "nbdsh: --stdio with a memory export" "nbdsh is not installed"
fi
check_fails "--stdio with --unix is refused" \
	"${TO[@]}" "$NBD_SERVER" --stdio --unix "$SCRATCH/x.sock" --export =/dev/null

# ================================================================ reference command line
PORT=$(free_port)
start_server_cmd "tcp:$PORT" "$NBD_SERVER" --foreground "127.0.0.1@$PORT" "$SCRATCH/disk.img"
check_eq "reference ADDRESS@PORT FILE: size over TCP" 2097152 \
	"$("${TO[@]}" nbdinfo --size "nbd://127.0.0.1:$PORT" 2>&1)"
"${TO[@]}" nbdinfo --list "nbd://127.0.0.1:$PORT" >"$SCRATCH/list" 2>&1 || true
check_grep "reference form: the file is the default export \"\"" '^export="":' "$SCRATCH/list"
check_eq "reference form: data served" "hello from the disk" \
	"$("${TO[@]}" "$PY" -c '
import nbd, sys
h = nbd.NBD(); h.connect_tcp("127.0.0.1", sys.argv[1]); print(bytes(h.pread(19, 0)).decode())' \
	"$PORT" 2>&1)"
stop_server || true

PORT=$(free_port)
start_server_cmd "tcp:$PORT" "$NBD_SERVER" --foreground "127.0.0.1:$PORT" "$SCRATCH/other.img" 1M -r
check_eq "reference ADDRESS:PORT FILE SIZE: a smaller SIZE serves the start" 1048576 \
	"$("${TO[@]}" nbdinfo --size "nbd://127.0.0.1:$PORT" 2>&1)"
check_status "reference form with -r: read-only" 0 \
	"${TO[@]}" nbdinfo --is read-only "nbd://127.0.0.1:$PORT"
stop_server || true
check_eq "reference form with -r and a smaller SIZE: the file is untouched" 3145728 \
	"$(stat -c %s "$SCRATCH/other.img")"

if "$PY" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	PORT=$(free_port)
	start_server_cmd "tcp6:$PORT" "$NBD_SERVER" --foreground "[::1]:$PORT" "$SCRATCH/disk.img"
	check_eq "reference [::1]:PORT: size over IPv6" 2097152 \
		"$("${TO[@]}" nbdinfo --size "nbd://[::1]:$PORT" 2>&1)"
	stop_server || true
else
	skip "reference [::1]:PORT: size over IPv6" "no IPv6 loopback"
fi

# ================================================================ config file
PORT=$(free_port)
cat >"$SCRATCH/nbd.conf" <<EOF
# A reference-style configuration.
[generic]
	listenaddr = 127.0.0.1
	port = $PORT
	allowlist = true
	maxconnections = 10
[disk]
	exportname = $SCRATCH/disk.img
	description = The disk from the config
[ro]
	exportname = $SCRATCH/other.img
	readonly = true
[scratch]
	memory = 7M
EOF
start_server_cmd "tcp:$PORT" "$NBD_SERVER" --foreground -C "$SCRATCH/nbd.conf"
"${TO[@]}" nbdinfo --json --list "nbd://127.0.0.1:$PORT" >"$SCRATCH/list.json" 2>&1 || true
check_eq "-C: exports listed with sizes, descriptions and read-only flags" \
	"disk:2097152:The disk from the config:False ro:3145728:-:True scratch:7340032:-:False" \
	"$("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join("%s:%d:%s:%s" % (e["export-name"], e["export-size"], e.get("description", "-"),
               e["is_read_only"]) for e in d["exports"]))' "$SCRATCH/list.json" 2>&1)"
check_fails "-C: writing to the readonly export fails" "${TO[@]}" "$PY" -c '
import nbd, sys
h = nbd.NBD(); h.set_export_name("ro"); h.connect_tcp("127.0.0.1", sys.argv[1]); h.pwrite(b"x", 0)' \
	"$PORT"
stop_server || true

cat >"$SCRATCH/unix.conf" <<EOF
[generic]
	unixsock = $SCRATCH/conf.sock
[only]
	exportname = $SCRATCH/disk.img
EOF
start_server_cmd "$SCRATCH/conf.sock" "$NBD_SERVER" --foreground -C "$SCRATCH/unix.conf"
check_eq "-C with unixsock: served on the Unix socket" 2097152 \
	"$("${TO[@]}" nbdinfo --size "$(uri "$SCRATCH/conf.sock" only)" 2>&1)"
stop_server || true

# ================================================================ socket activation
if command -v systemd-socket-activate >/dev/null; then
	SA=$SCRATCH/activate.sock
	start_server_cmd "$SA" systemd-socket-activate -E NBD_SERVER_CONFIG -l "$SA" "$NBD_SERVER" --export "sa=$SCRATCH/disk.img"
	check_eq "systemd-socket-activate: served on the passed socket" 2097152 \
		"$("${TO[@]}" nbdinfo --size "$(uri "$SA" sa)" 2>&1)"
	check_eq "systemd-socket-activate: a second connection too" 2097152 \
		"$("${TO[@]}" nbdinfo --size "$(uri "$SA" sa)" 2>&1)"
	check_eq "systemd-socket-activate: the process is now nbd-server" nbd-server \
		"$(cat "/proc/$SERVER_PID/comm" 2>&1)"
	rc=0
	stop_server || rc=$?
	check_eq "socket-activated server exits 0 on SIGTERM" 0 "$rc"
else
	skip "systemd-socket-activate" "systemd-socket-activate is not installed"
fi

# The same by hand: LISTEN_FDS/LISTEN_PID set by a wrapper that execs the server in its place.
# activated SOCKET COMMAND...: starts COMMAND with a Unix socket listening at SOCKET as its fd 3.
activated() {
	local sock=$1
	shift
	start_server_cmd "$sock" "$PY" -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execv(sys.argv[2], sys.argv[2:])' "$sock" "$@"
}
SA2=$SCRATCH/activate2.sock
port_10809_busy=
port_open 127.0.0.1 10809 && port_10809_busy=1
activated "$SA2" "$NBD_SERVER" --export "sa=$SCRATCH/other.img"
check_eq "LISTEN_FDS/LISTEN_PID: served on fd 3" 3145728 \
	"$("${TO[@]}" nbdinfo --size "$(uri "$SA2" sa)" 2>&1)"
if [ -n "$port_10809_busy" ]; then
	skip "LISTEN_FDS: the default TCP port is not opened" "something else listens on 10809"
else
	check_fails "LISTEN_FDS: the default TCP port is not opened" port_open 127.0.0.1 10809
fi
rc=0
stop_server || rc=$?
check_eq "LISTEN_FDS server exits 0 on SIGTERM" 0 "$rc"
# A configuration that says where to listen is not followed under socket activation, and the
# server says so rather than drop it silently.
cat >"$SCRATCH/activated.conf" <<CONF
[generic]
	listenaddr = 127.0.0.1
	port = 10999
[sa]
	exportname = $SCRATCH/other.img
CONF
SA3=$SCRATCH/activate3.sock
activated "$SA3" "$NBD_SERVER" --foreground -C "$SCRATCH/activated.conf"
check_eq "LISTEN_FDS with listenaddr and port in the config: served on fd 3" 3145728 \
	"$("${TO[@]}" nbdinfo --size "$(uri "$SA3" sa)" 2>&1)"
check_grep "... saying the config's listenaddr and port are not used" \
	"listenaddr, port and unixsock are not used" "$SERVER_LOG"
stop_server
check_eq "libnbd's socket activation (nbdinfo -- [ nbd-server ... ])" 2097152 \
	"$("${TO[@]}" nbdinfo --size -- [ "$NBD_SERVER" --oneshot --export "=$SCRATCH/disk.img" ] \
		2>"$SCRATCH/nbdinfo.err")"

# ================================================================ --oneshot
OS=$SCRATCH/oneshot.sock
START_WAIT=listen start_server "$OS" --oneshot --export "=$SCRATCH/disk.img"
sleep 0.3
check "--oneshot: still waiting before the first client" kill -0 "$SERVER_PID"
check_eq "--oneshot: serves the client" 2097152 "$("${TO[@]}" nbdinfo --size "$(uri "$OS")" 2>&1)"
if wait_gone "$SERVER_PID" 10; then
	rc=0
	wait "$SERVER_PID" || rc=$?
	check_eq "--oneshot: exits 0 after the last connection closes" 0 "$rc"
else
	not_ok "--oneshot: exits 0 after the last connection closes (still running after 10 s)"
fi
check_fails "--oneshot: the socket is removed" test -e "$OS"

# ================================================================ SIGTERM
TS=$SCRATCH/term.sock
start_server "$TS" --export "t=$SCRATCH/disk.img"
rc=0
stop_server || rc=$?
check_eq "SIGTERM: exit status 0" 0 "$rc"
check_fails "SIGTERM: the Unix socket is removed" test -e "$TS"

start_server "$TS" --export "t=$SCRATCH/disk.img"
if holder "$TS" t term; then
	t0=$(date +%s)
	rc=0
	stop_server || rc=$?
	check_eq "SIGTERM with a client connected: exit status 0" 0 "$rc"
	check "SIGTERM with a client connected: exits within 5 s" test $(($(date +%s) - t0)) -le 5
else
	not_ok "SIGTERM with a client connected: the client could not connect"
fi
touch "$SCRATCH/term.release"

# ================================================================ -M (max connections)
MS=$SCRATCH/max.sock
start_server "$MS" -M 1 --export "m=$SCRATCH/disk.img"
if holder "$MS" m max; then
	check_fails "-M 1: a second concurrent connection is refused" \
		"${TO[@]}" nbdinfo --size "$(uri "$MS" m)"
	touch "$SCRATCH/max.release"
	wait_gone "$HOLDER_PID" 10 || true
	got=
	for _ in $(seq 1 50); do
		got=$("${TO[@]}" nbdinfo --size "$(uri "$MS" m)" 2>/dev/null) && break
		sleep 0.1
	done
	check_eq "-M 1: after the first client leaves, a new one is served" 2097152 "$got"
else
	not_ok "-M 1: the first client could not connect"
fi
stop_server || true

# ================================================================ allow lists
PORT=$(free_port)
START_WAIT=listen start_server_cmd "tcp:$PORT" "$NBD_SERVER" --foreground --bind 127.0.0.1 \
	--port "$PORT" --allow 10.0.0.0/8 --export "=$SCRATCH/disk.img"
check_fails "--allow 10.0.0.0/8: a 127.0.0.1 client is refused" \
	"${TO[@]}" nbdinfo --size "nbd://127.0.0.1:$PORT"
stop_server || true
PORT=$(free_port)
start_server_cmd "tcp:$PORT" "$NBD_SERVER" --foreground --bind 127.0.0.1 --port "$PORT" \
	--allow 10.0.0.0/8 --allow 127.0.0.1 --export "=$SCRATCH/disk.img"
check_eq "--allow 127.0.0.1: a 127.0.0.1 client is served" 2097152 \
	"$("${TO[@]}" nbdinfo --size "nbd://127.0.0.1:$PORT" 2>&1)"
stop_server || true
PORT=$(free_port)
printf '# allowed\n192.168.0.0/16\n' >"$SCRATCH/auth"
START_WAIT=listen start_server_cmd "tcp:$PORT" "$NBD_SERVER" --foreground --bind 127.0.0.1 \
	--port "$PORT" -l "$SCRATCH/auth" --export "=$SCRATCH/disk.img"
check_fails "-l AUTHFILE without 127.0.0.1: refused" "${TO[@]}" nbdinfo --size "nbd://127.0.0.1:$PORT"
stop_server || true
check_fails "-l with a missing file: the server does not start" \
	"${TO[@]}" "$NBD_SERVER" --foreground --unix "$SCRATCH/x.sock" -l "$SCRATCH/nosuch" \
	--export "=$SCRATCH/disk.img"

# ================================================================ config errors
bad_config() {
	local what=$1 line=$2 conf=$SCRATCH/bad.conf
	cat >"$conf"
	local rc=0
	"${TO[@]}" "$NBD_SERVER" --foreground -C "$conf" >"$SCRATCH/bad.log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ] && grep -q "$conf:$line" "$SCRATCH/bad.log"; then
		ok "bad config ($what): exit $rc, names $(basename "$conf"):$line"
	else
		not_ok "bad config ($what): expected a non-zero exit naming $conf:$line, got exit $rc"
		diag "$SCRATCH/bad.log"
	fi
}
bad_config "unknown key in [generic]" 3 <<EOF
[generic]
	unixsock = $SCRATCH/bad.sock
	no_such_key = 1
[e]
	exportname = $SCRATCH/disk.img
EOF
bad_config "bad boolean in an export" 6 <<EOF
[generic]
	unixsock = $SCRATCH/bad.sock

[e]
	exportname = $SCRATCH/disk.img
	readonly = maybe
EOF
bad_config "line that is not key = value" 4 <<EOF
[generic]
	unixsock = $SCRATCH/bad.sock
[e]
this is not a key
	exportname = $SCRATCH/disk.img
EOF
bad_config "bad port" 2 <<EOF
[generic]
	port = 99999
[e]
	exportname = $SCRATCH/disk.img
EOF
bad_config "export without exportname" 3 <<EOF
[generic]
	unixsock = $SCRATCH/bad.sock
[e]
	readonly = true
EOF
check_fails "missing config file: refused" "${TO[@]}" "$NBD_SERVER" --foreground -C "$SCRATCH/nosuch.conf"
check_grep "missing config file: the message names it" "nosuch.conf" "$SCRATCH/out"

# ================================================================ daemon mode
DS=$SCRATCH/daemon.sock
PIDFILE=$SCRATCH/nbd-server.pid
rc=0
"${TO[@]}" "$NBD_SERVER" --unix "$DS" -p "$PIDFILE" --export "d=$SCRATCH/disk.img" \
	>"$SCRATCH/daemon.log" 2>&1 || rc=$?
check_eq "daemon: the starting process exits 0" 0 "$rc"
DPID=$(cat "$PIDFILE" 2>/dev/null || true)
if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
	SERVER_PIDS+=("$DPID")
	ok "daemon: -p names a running process ($DPID)"
	# No waiting: the parent exited only once the daemon was serving.
	check_eq "daemon: serving as soon as the parent has exited" 2097152 \
		"$("${TO[@]}" nbdinfo --size "$(uri "$DS" d)" 2>&1)"
	check "daemon: detached into a session of its own" \
		test "$(ps -o sid= -p "$DPID" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')"
	kill "$DPID"
	if wait_gone "$DPID" 10; then
		ok "daemon: exits on SIGTERM to the pid from the pid file"
	else
		not_ok "daemon: still running 10 s after SIGTERM"
	fi
	check_fails "daemon: the pid file is removed at exit" test -e "$PIDFILE"
	check_fails "daemon: the socket is removed at exit" test -e "$DS"
else
	not_ok "daemon: -p names a running process (pid file: '$DPID')"
	diag "$SCRATCH/daemon.log"
fi
rc=0
"${TO[@]}" "$NBD_SERVER" --unix "$SCRATCH/daemon2.sock" -r --export "d=$SCRATCH/nosuch.img" \
	>"$SCRATCH/daemon2.log" 2>&1 || rc=$?
check "daemon: an export that cannot be opened makes the starting process fail" test "$rc" -ne 0
check_grep "daemon: the failure is reported on the terminal" "nosuch.img" "$SCRATCH/daemon2.log"

# ================================================================ privileges
# As root: --user/--group take effect once the socket is bound, and exports are opened as that user.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	PRIV_GROUP=$(id -gn nobody)
	install -m 0644 /dev/null "$SCRATCH/public.img" && truncate -s 1M "$SCRATCH/public.img"
	chmod 0755 "$SCRATCH"
	start_server "$SCRATCH/priv.sock" --user nobody --group "$PRIV_GROUP" -r \
		--export "p=$SCRATCH/public.img"
	check_eq "privileges: the server runs as user nobody" "$(id -u nobody)" \
		"$(awk '/^Uid:/ {print $2}' "/proc/$SERVER_PID/status")"
	check_eq "privileges: and as group $PRIV_GROUP" "$(id -g nobody)" \
		"$(awk '/^Gid:/ {print $2}' "/proc/$SERVER_PID/status")"
	check_eq "privileges: it still serves" 1048576 \
		"$("${TO[@]}" nbdinfo --size "$(uri "$SCRATCH/priv.sock" p)" 2>&1)"
	stop_server
	# A file only root may read cannot be served once privileges are dropped.
	install -m 0600 /dev/null "$SCRATCH/secret.img" && truncate -s 1M "$SCRATCH/secret.img"
	rc=0
	"${TO[@]}" "$NBD_SERVER" --foreground --unix "$SCRATCH/priv2.sock" --user nobody \
		--export "s=$SCRATCH/secret.img" >"$SCRATCH/priv2.log" 2>&1 || rc=$?
	check "privileges: an export the user may not open stops the server" test "$rc" -ne 0
	check_grep "privileges: the message names the export and the reason" "Permission denied" \
		"$SCRATCH/priv2.log"
	rc=0
	"${TO[@]}" "$NBD_SERVER" --foreground --unix "$SCRATCH/priv3.sock" --user no-such-user-nbdm \
		--export "p=$SCRATCH/public.img" >"$SCRATCH/priv3.log" 2>&1 || rc=$?
	check "privileges: an unknown user is an error" test "$rc" -ne 0
	check_grep "privileges: which names the user" "no-such-user-nbdm" "$SCRATCH/priv3.log"
else
	ok "privileges # SKIP needs root and a user 'nobody'"
fi

finish
