# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-client over TLS, with the keys in the kernel: against Debian's nbd-server 3.24 with
# force_tls (X.509, client certificates), the device works with the kernel's TLS counters rising
# and no process left in the data path, in TLS 1.3 and, through -priority, TLS 1.2; from an nbdtab
# line; under -persist through a server restart; and what must be refused (a wrong CA, no TLS
# asked of a server that requires it, TLS asked of a server without it), with no device attached.
need_ours "client tls: our nbd-client attaches over TLS"
need_tls "client tls"
T=$TLS_DIR
truncate -s 32M /tmp/tls.img
cat >/tmp/tls.conf <<CONF
[generic]
	listenaddr = 127.0.0.1
	port = 10830
	certfile = $T/server.pem
	keyfile = $T/server-key.pem
	cacertfile = $T/ca.pem
	force_tls = true
[tls]
	exportname = /tmp/tls.img
CONF
# Debian's server: a daemon forking a child per client, with its pid in /var/run/nbd-server.pid.
deb_tls_up() {
	rm -f /var/run/nbd-server.pid
	"$DEB_NBD_SERVER" -C /tmp/tls.conf >/tmp/tls-server.log 2>&1
	wait_until 10 listening 10830 || return 1
	DEB_TLS_PID=$(cat /var/run/nbd-server.pid 2>/dev/null)
	[ -n "$DEB_TLS_PID" ] && echo "$DEB_TLS_PID" >>"$STATE/pids"
	return 0
}
check "client tls: Debian's nbd-server with force_tls listens on 127.0.0.1:10830" deb_tls_up || exit 0
CERTS="-cacertfile $T/ca.pem -certfile $T/client.pem -keyfile $T/client-key.pem"

tx0=$(tls_stat TlsTxSw)
check "client tls: attach in the reference syntax with -cacertfile, -certfile, -keyfile" \
	attach_ours 127.0.0.1 10830 /dev/nbd0 -N tls $CERTS
io_roundtrip nbd0 /tmp/tls.img "client tls (TLS 1.3)"
check_eq "client tls: the kernel holds the session (TlsCurrTxSw, TlsCurrRxSw)" "1 1" \
	"$(tls_stat TlsCurrTxSw) $(tls_stat TlsCurrRxSw)"
check_eq "client tls: one more kernel TLS transmitter (TlsTxSw)" 1 "$(( $(tls_stat TlsTxSw) - tx0 ))"
# The session is in the kernel; the supervisor a TLS attach always has only watches.
check "client tls: a supervisor stays with the device (TLS implies -persist)" \
	test -n "$(sup_field nbd0 pid)"
check "client tls: status shows the device connected" status_row nbd0 connected 33554432 512
check "client tls: status says the TLS is in the kernel" grep -q "TLS in the kernel" "$STATE/cmd.out"
ours status --json /dev/nbd0 >/dev/null 2>&1
check_eq "client tls: status --json: tls is kernel" kernel "$(json_field "$STATE/cmd.out" tls)"
detach_ours "client tls" nbd0 -d /dev/nbd0
check_eq "client tls: the kernel let the session go" 0 "$(tls_stat TlsCurrTxSw)"

check "client tls: TLS 1.2 through -priority" attach_ours attach nbds://127.0.0.1:10830/tls /dev/nbd1 \
	$CERTS -priority "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM"
write_verify "client tls: TLS 1.2: data through the kernel's TLS" nbd1 2
detach_ours "client tls (1.2)" nbd1 detach /dev/nbd1

cat >/tmp/tls.nbdtab <<TAB
nbd2 127.0.0.1 tls port=10830,cacertfile=$T/ca.pem,certfile=$T/client.pem,keyfile=$T/client-key.pem
TAB
check "client tls: attach from an nbdtab line with the TLS keys" \
	attach_ours --nbdtab /tmp/tls.nbdtab nbd2
write_verify "client tls: nbdtab: data through the kernel's TLS" nbd2 2
detach_ours "client tls (nbdtab)" nbd2 -d /dev/nbd2

# ---- -persist: the server restarts; the supervisor connects again over TLS
# dmesg is the boot's: count only the I/O errors from here on (earlier tests fail nbd3 on purpose).
errs0=$(nbd_io_errors nbd3)
check "client tls: attach -persist over TLS" start_supervisor tlssup 127.0.0.1 10830 /dev/nbd3 -N tls \
	$CERTS -persist -n -timeout 5
write_verify "client tls -persist: data before the restart" nbd3 2
# A planned reconnection first: every connection replaced, TLS and kernel keys anew.
check "client tls -persist: reconnect replaces the connection over TLS" ours reconnect /dev/nbd3
write_verify "client tls -persist: data after reconnect" nbd3 2
# Then a crash: the server and the child serving us (its children, by parent pid) are killed.
children=$(for st in /proc/[0-9]*/stat; do
	awk -v pp="$DEB_TLS_PID" '$4 == pp { print $1 }' "$st" 2>/dev/null
done)
kill -9 "$DEB_TLS_PID" $children 2>/dev/null
check "client tls -persist: the supervisor sees the connection die" \
	wait_until 20 sup_state_is nbd3 reconnecting
sleep 1
check "client tls -persist: Debian's server is back" deb_tls_up
check "client tls -persist: reconnected over TLS" wait_until 30 sup_reconnects_at_least nbd3 2
write_verify "client tls -persist: data after the restart" nbd3 2
check_eq "client tls -persist: no I/O error" 0 "$(( $(nbd_io_errors nbd3) - errs0 ))"
detach_ours "client tls -persist" nbd3 detach /dev/nbd3

# ---- a session is replaced before its key wears out (the limit made small for the test)
errs0=$(nbd_io_errors nbd5)
export NBDM_TLS_RECORD_LIMIT=100 NBDM_TLS_CHECK_MS=300
check "client tls: attach -persist with a record limit of 100, checked every 300 ms" \
	start_supervisor tlsage 127.0.0.1 10830 /dev/nbd5 -N tls $CERTS -persist -n
unset NBDM_TLS_RECORD_LIMIT NBDM_TLS_CHECK_MS
write_verify "client tls age: 4 MiB written and read back (well over 100 records)" nbd5 4
check "client tls age: the supervisor replaced the aged session" wait_until 20 sup_reconnects_at_least nbd5 1
check "client tls age: and said why" grep -q "TLS session has carried" /tmp/tlsage.log
write_verify "client tls age: data through the new session" nbd5 2
check_eq "client tls age: no I/O error" 0 "$(( $(nbd_io_errors nbd5) - errs0 ))"
detach_ours "client tls age" nbd5 detach /dev/nbd5

# ---- refusals
refused "client tls: a server certificate from another CA is refused" "issuer is unknown" \
	attach nbds://127.0.0.1:10830/tls /dev/nbd4 -cacertfile "$T/other-ca.pem"
# A file that cannot be read is said once, and is no cause to ask the server for its exports.
refused "client tls: a CA file that does not exist is named" "/tmp/no-such-ca.pem" \
	attach nbds://127.0.0.1:10830/tls /dev/nbd4 -cacertfile /tmp/no-such-ca.pem
check_fails "client tls: ... without asking the server which exports it has" \
	grep -q 'exports' "$STATE/cmd.err"
refused "client tls: a server that requires TLS, asked without it" "requires TLS" \
	attach nbd://127.0.0.1:10830/tls /dev/nbd4
truncate -s 16M /tmp/plain.img
start_server 10831 --export plain=/tmp/plain.img || exit 0
refused "client tls: TLS asked of a server without it: no silent downgrade" "STARTTLS|TLS" \
	attach nbds://127.0.0.1:10831/plain /dev/nbd4 -cacertfile "$T/ca.pem"
