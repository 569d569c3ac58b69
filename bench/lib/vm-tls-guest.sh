# SPDX-License-Identifier: GPL-2.0-or-later
# The TLS benchmark's guest side (run by bench/vm-tls-bench.sh inside the test VM, which prepends
# ROUNDS= and MIB= lines): sequential O_DIRECT throughput through /dev/nbdX, 1 MiB blocks, for four
# clients of ONE server (our nbd-server, --tls=require with its own sessions in the kernel,
# --tls-ktls=yes, so the server side is the same for every TLS client):
#   ktls   our nbd-client, default (the session in the kernel, the supervisor only watches)
#   relay  our nbd-client --tls-ktls=no (the supervisor relays through a socketpair)
#   ref    Debian's nbd-client 3.24 with -A/-F/-K (its own user-space proxy, a socketpair too)
#   plain  our nbd-client without TLS, against a second instance of the same server without TLS
# Each round attaches every client in turn (the order rotates from round to round), writes MIB MiB
# and reads them back, and detaches. Prints "# BENCH ..." lines; the host turns them into tables.
# shellcheck shell=sh disable=SC3043 # busybox ash has local
. /tests/lib.sh

ROUNDS=${ROUNDS:-7}
MIB=${MIB:-64}
TLS_PORT=10860
PLAIN_PORT=10861
MODES="ktls relay ref plain"

bench() { diag "BENCH $*"; }
fail() { not_ok "$*"; emit "NBDM-VM-RESULT: passed=$(count passed) failed=$(count failed)"; exit 0; }
tls_stat() { awk -v k="$1" '$1 == k { print $2 }' /proc/net/tls_stat 2>/dev/null; }

# CPU ticks (1/100 s, user + system, all threads) of every process named NAME, summed.
comm_ticks() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v n="($1)" '$2 == n { t += $14 + $15 } END { print t + 0 }'
}
# CPU ticks of every process and kernel thread of the guest, summed.
all_ticks() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk '{ t += $14 + $15 } END { print t + 0 }'
}
# CPU ticks of this shell's waited-for children (dd, through timeout).
child_ticks() { awk '{ print $16 + $17 }' "/proc/$$/stat"; }
# Busy ticks of the whole guest from /proc/stat (all CPUs; everything but idle and iowait).
busy_ticks() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}
now() { cut -d" " -f1 /proc/uptime; }

bench kernel "$(uname -r)"
bench mib "$MIB"
bench rounds "$ROUNDS"
[ -n "$NBDM_CLIENT" ] || fail "our nbd-client is in the image"
[ -n "$TLS_DIR" ] || fail "TLS material is in the image"
check "modprobe nbd" modprobe nbd || fail "nbd module"
for m in tls gcm ghash_generic ctr seqiv aesni_intel; do modprobe "$m" 2>/dev/null; done
check "the kernel's TLS is there" test -e /proc/net/tls_stat || fail "no kernel TLS"

T=$TLS_DIR
mkdir -p /tmp/benchtls
cp "$T/ca.pem" /tmp/benchtls/ca-cert.pem
cp "$T/server.pem" /tmp/benchtls/server-cert.pem
cp "$T/server-key.pem" /tmp/benchtls/server-key.pem
chmod 600 /tmp/benchtls/server-key.pem
CERTS="-cacertfile $T/ca.pem -certfile $T/client.pem -keyfile $T/client-key.pem"

# The data written: random, made once (urandom under TCG takes a while); the image starts with it, so
# that reads return real data, not holes.
t0=$(now)
dd if=/dev/urandom of=/tmp/src bs=1M count="$MIB" 2>/dev/null
cp /tmp/src /tmp/bench.img
truncate -s 256M /tmp/bench.img
bench prep_seconds "$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')"

server_up "$TLS_PORT" -v --export bench=/tmp/bench.img --tls=require \
	--tls-certificates /tmp/benchtls --tls-ktls=yes || fail "TLS server listens"
TLS_SERVER=$SERVER_PID
server_up "$PLAIN_PORT" -v --export bench=/tmp/bench.img || fail "plain server listens"
PLAIN_SERVER=$SERVER_PID
ok "servers listen"

dev_of() {
	case $1 in ktls) echo nbd1 ;; relay) echo nbd2 ;; ref) echo nbd3 ;; plain) echo nbd0 ;; esac
}
server_of() { if [ "$1" = plain ]; then echo "$PLAIN_SERVER"; else echo "$TLS_SERVER"; fi; }

# attach_mode MODE: attaches MODE's device; fails with the client's output on stdout.
attach_mode() {
	local dev
	dev=$(dev_of "$1")
	# shellcheck disable=SC2086 # CERTS is a list of options
	case $1 in
	ktls) attach_ours attach "nbds://127.0.0.1:$TLS_PORT/bench" "/dev/$dev" $CERTS ;;
	relay) attach_ours attach "nbds://127.0.0.1:$TLS_PORT/bench" "/dev/$dev" $CERTS --tls-ktls=no ;;
	ref) attach "$dev" "$TLS_PORT" -N bench $CERTS ;;
	plain) attach_ours attach "nbd://127.0.0.1:$PLAIN_PORT/bench" "/dev/$dev" ;;
	esac
}

detach_mode() {
	local dev
	dev=$(dev_of "$1")
	if [ "$1" = ref ]; then
		to "$DEB_NBD_CLIENT" -d "/dev/$dev" >/dev/null 2>&1
	else
		to "$NBDM_CLIENT" detach "/dev/$dev" >/dev/null 2>&1
	fi
	wait_until 20 disconnected "$dev"
	# The client's processes (supervisor, proxy) gone too, so none lingers into the next mode.
	wait_until 20 sh -c '! cat /proc/[0-9]*/stat 2>/dev/null | grep -q "(nbd-client)"'
}

# How the session of MODE is carried, checked once per attach: the kernel's TLS session counts
# (the server's own session is always in the kernel: 1; ours with kernel TLS adds 1), what our
# client's status says, the server's log.
describe() {
	local mode="$1" dev
	dev=$(dev_of "$mode")
	set -- "$(tls_stat TlsCurrTxSw)" "$(tls_stat TlsCurrRxSw)"
	local procs
	procs=$(cat /proc/[0-9]*/stat 2>/dev/null | awk '$2 == "(nbd-client)"' | wc -l)
	local how=-
	if [ "$mode" != ref ]; then
		"$NBDM_CLIENT" status --json "/dev/$dev" >"$STATE/st.json" 2>/dev/null
		how=$(json_field "$STATE/st.json" tls)
	fi
	echo "kernel_tls_tx=$1 kernel_tls_rx=$2 client_processes=$procs status_tls=${how:-none}"
}

expect_sessions() {
	case $1 in ktls) echo "kernel_tls_tx=2 kernel_tls_rx=2" ;; relay | ref) echo "kernel_tls_tx=1 kernel_tls_rx=1" ;;
	plain) echo "kernel_tls_tx=0 kernel_tls_rx=0" ;; esac
}

# run_dd MODE ROUND DIR: one timed transfer; prints a BENCH line.
run_dd() {
	local mode="$1" round="$2" dir="$3" dev srv c0 s0 b0 a0 d0 d1 t0 t1 rc=0
	dev=$(dev_of "$mode")
	srv=$(server_of "$mode")
	sync
	c0=$(comm_ticks nbd-client)
	s0=$(awk '{ print $14 + $15 }' "/proc/$srv/stat")
	a0=$(all_ticks)
	b0=$(busy_ticks)
	d0=$(child_ticks)
	t0=$(now)
	if [ "$dir" = write ]; then
		timeout 600 dd if=/tmp/src of="/dev/$dev" bs=1M count="$MIB" oflag=direct conv=fsync,notrunc \
			2>"$STATE/dd.err" || rc=$?
	else
		timeout 600 dd if="/dev/$dev" of=/dev/null bs=1M count="$MIB" iflag=direct \
			2>"$STATE/dd.err" || rc=$?
	fi
	t1=$(now)
	d1=$(child_ticks)
	if [ "$rc" -ne 0 ]; then
		not_ok "$mode $dir round $round: dd exit status $rc"
		diag_file "$STATE/dd.err"
		return 1
	fi
	bench run "round=$round mode=$mode dir=$dir bytes=$((MIB * 1048576))" \
		"seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" \
		"client_ticks=$(($(comm_ticks nbd-client) - c0))" \
		"server_ticks=$(($(awk '{ print $14 + $15 }' "/proc/$srv/stat") - s0))" \
		"busy_ticks=$(($(busy_ticks) - b0))" "dd_ticks=$((d1 - d0))" \
		"all_ticks=$(($(all_ticks) - a0 + d1 - d0))"
}

r=0
while [ "$r" -lt "$ROUNDS" ]; do
	r=$((r + 1))
	# Rotate: round 1 starts with the first mode, round 2 with the second, ...
	order=$(echo "$MODES" | awk -v k="$r" '{ n = NF; for (i = 0; i < n; i++) printf "%s ", $(((k - 1 + i) % n) + 1) }')
	bench order "round=$r $order"
	for mode in $order; do
		if ! check "round $r: attach $mode" attach_mode "$mode"; then
			diag_file /tmp/server-$TLS_PORT.log 5
			continue
		fi
		got=$(describe "$mode")
		bench session "round=$r mode=$mode $got"
		case "$got" in
		"$(expect_sessions "$mode")"*) ;;
		*) not_ok "round $r: $mode: sessions as expected ($(expect_sessions "$mode"))"; diag "$got" ;;
		esac
		run_dd "$mode" "$r" write
		if [ "$r" = 1 ]; then
			# Once per client: what the server stored is what was written.
			check "$mode: the image holds the data written" same_range /tmp/bench.img 0 /tmp/src 0 "$MIB"
			# Fresh data for the next client's check, so each check sees its own write.
			dd if=/dev/urandom of=/tmp/src bs=1M count=1 conv=notrunc 2>/dev/null
		fi
		run_dd "$mode" "$r" read
		check "round $r: detach $mode" detach_mode "$mode"
	done
done

# The server's view: the TLS sessions it served, none left in user space, the negotiated suites.
bench server_tls_sessions "$(grep -c 'TLS established' /tmp/server-$TLS_PORT.log)"
# (only the first move into the kernel is logged at -v; a refusal would be a warning every time)
bench server_user_sessions "$(grep -Ec 'refused the session|stays in user space' /tmp/server-$TLS_PORT.log)"
grep -i 'tls' /tmp/server-$TLS_PORT.log | sed 's/Connection [0-9.:]*/Connection/' | sort | uniq -c | head -n 8 | while IFS= read -r l; do bench server_log "$l"; done
server_kill
stop_pid "$TLS_SERVER"
stop_pid "$PLAIN_SERVER"
emit "NBDM-VM-RESULT: passed=$(count passed) failed=$(count failed)"
