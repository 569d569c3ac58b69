# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-server with TLS required, and our nbd-client attached to it over TLS with client
# certificates: the data arrives intact with both sides' sessions in the kernel's TLS (the server
# moves its session there when transmission starts, the client before it hands the socket to the
# driver), as the kernel's counters show; then with --tls-ktls=no, the server's session stays in
# GnuTLS (the kernel's client still reads what it encrypts) and only the client's is in the kernel.
need_ours "server tls: our nbd-client attaches to our nbd-server over TLS"
need_tls "server tls"
T=$TLS_DIR
tls_server_dir /tmp/srvtls
truncate -s 32M /tmp/srvtls.img
CERTS="-cacertfile $T/ca.pem -certfile $T/client.pem -keyfile $T/client-key.pem"
check "server tls: the tls module is loaded" test -e /proc/net/tls_stat

# ---- kernel TLS on both sides
tx0=$(tls_stat TlsTxSw)
rx0=$(tls_stat TlsRxSw)
start_server 10840 -v --export tls=/tmp/srvtls.img --tls=require \
	--tls-certificates /tmp/srvtls --tls-verify-peer || exit 0
# shellcheck disable=SC2086 # CERTS is a list of options
check "server tls: attach over TLS with a client certificate" \
	attach_ours attach nbds://127.0.0.1:10840/tls /dev/nbd0 $CERTS
io_roundtrip nbd0 /tmp/srvtls.img "server tls (kernel TLS on both sides)"
write_verify "server tls: a second round through both kernels" nbd0 4
check_eq "server tls: the kernel holds both sessions (TlsCurrTxSw, TlsCurrRxSw)" "2 2" \
	"$(tls_stat TlsCurrTxSw) $(tls_stat TlsCurrRxSw)"
check_eq "server tls: two more kernel TLS transmitters (TlsTxSw)" 2 \
	"$(( $(tls_stat TlsTxSw) - ${tx0:-0} ))"
check_eq "server tls: two more kernel TLS receivers (TlsRxSw)" 2 \
	"$(( $(tls_stat TlsRxSw) - ${rx0:-0} ))"
check "server tls: the server says its session moved into the kernel" \
	grep -q "moved into the kernel" /tmp/server-10840.log
detach_ours "server tls" nbd0 detach /dev/nbd0
check "server tls: both sessions leave the kernel after the detach" \
	wait_until 10 sh -c '[ "$(awk '\''$1 == "TlsCurrTxSw" { print $2 }'\'' /proc/net/tls_stat)" = 0 ]'
server_alive "after the TLS client detached"
check "server tls: the server's log has no error" sh -c '! grep -Ei "error|failed" /tmp/server-10840.log'
stop_pid "$SERVER_PID"

# ---- the server's session in GnuTLS, the client's in the kernel
start_server 10841 -v --export tls=/tmp/srvtls.img --tls=require \
	--tls-certificates /tmp/srvtls --tls-ktls=no || exit 0
# shellcheck disable=SC2086
check "server tls, ktls=no: attach over TLS" \
	attach_ours attach nbds://127.0.0.1:10841/tls /dev/nbd1 $CERTS
io_roundtrip nbd1 /tmp/srvtls.img "server tls, ktls=no (GnuTLS on the server)"
check_eq "server tls, ktls=no: only the client's session is in the kernel" "1 1" \
	"$(tls_stat TlsCurrTxSw) $(tls_stat TlsCurrRxSw)"
check "server tls, ktls=no: the server did not try the kernel's TLS" \
	sh -c '! grep -q "moved into the kernel\|stays in user space" /tmp/server-10841.log'
check "server tls, ktls=no: the server served over TLS" \
	grep -q "serving export 'tls'.* over TLS" /tmp/server-10841.log
detach_ours "server tls, ktls=no" nbd1 detach /dev/nbd1
server_alive "after the TLS client (GnuTLS on the server) detached"
stop_pid "$SERVER_PID"
