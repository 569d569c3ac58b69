#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-client's TLS against the TLS servers at hand, through the commands that need no kernel
# (list, info, -l): nbdkit --tls=require (X.509 and PSK), qemu-nbd with --tls-creds, and Debian's
# nbd-server 3.24 with force_tls; and every refusal with its message: a wrong CA, a wrong host
# name, an expired certificate, a PSK that differs, TLS required by the server and not asked for,
# a certificate issued to a client presented by a server over a Unix socket (no name to check),
# and TLS asked of a server without it (never a silent downgrade). Certificates are made here by
# tests/tls/make-certs.sh. Loopback only.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

: "${NBD_CLIENT:?NBD_CLIENT must name the nbd-client binary under test}"
: "${TLS_MAKE_CERTS:?TLS_MAKE_CERTS must name tests/tls/make-certs.sh}"
requires certtool psktool
CLIENT=("${TO[@]}" "$NBD_CLIENT")
T=$SCRATCH/tls
sh "$TLS_MAKE_CERTS" "$T" || { echo "Bail out! make-certs.sh failed"; exit 1; }
truncate -s 4M "$SCRATCH/disk.img"
# The layout nbdkit and qemu read from a directory, and tls-certificates= too.
mkdir -p "$SCRATCH/srvdir" "$SCRATCH/clidir"
cp "$T/ca.pem" "$SCRATCH/srvdir/ca-cert.pem"
cp "$T/server.pem" "$SCRATCH/srvdir/server-cert.pem"
cp "$T/server-key.pem" "$SCRATCH/srvdir/server-key.pem"
cp "$T/ca.pem" "$SCRATCH/clidir/ca-cert.pem"
cp "$T/client.pem" "$SCRATCH/clidir/client-cert.pem"
cp "$T/client-key.pem" "$SCRATCH/clidir/client-key.pem"
chmod 600 "$SCRATCH"/srvdir/*-key.pem "$SCRATCH"/clidir/*-key.pem

# ---------------------------------------------------------------- nbdkit, X.509
if command -v nbdkit >/dev/null; then
	P=$(free_port)
	START_WAIT=listen start_server_cmd "tcp:$P" nbdkit -f -i 127.0.0.1 -p "$P" --tls=require \
		--tls-certificates="$SCRATCH/srvdir" memory 2M
	check "nbdkit x509: info with -A (the CA), host name localhost" \
		"${CLIENT[@]}" info "nbds://localhost:$P/" -A "$T/ca.pem"
	check_grep "nbdkit x509: the size came through TLS" '^size: 2097152$' "$SCRATCH/out"
	check "nbdkit x509: info checks an address against the certificate's IP" \
		"${CLIENT[@]}" info "nbds://127.0.0.1:$P/" -cacertfile "$T/ca.pem"
	check "nbdkit x509: -l in the reference syntax with -cacertfile (turns TLS on)" \
		"${CLIENT[@]}" -l localhost "$P" -cacertfile "$T/ca.pem"
	check "nbdkit x509: tls-certificates=DIR" \
		"${CLIENT[@]}" info "nbds://localhost:$P/?tls-certificates=$SCRATCH/clidir"
	check_status "nbdkit x509: another CA is refused" 1 \
		"${CLIENT[@]}" info "nbds://localhost:$P/" -A "$T/other-ca.pem"
	check_grep "nbdkit x509: ... saying the issuer is unknown" "issuer is unknown" "$SCRATCH/out"
	check_status "nbdkit x509: a name the certificate does not carry is refused" 1 \
		"${CLIENT[@]}" info "nbds://localhost:$P/" -A "$T/ca.pem" -H other.example
	check_grep "nbdkit x509: ... saying the name does not match" "does not match" "$SCRATCH/out"
	check_status "nbdkit x509: without -A, the system's CAs do not know the test CA" 1 \
		"${CLIENT[@]}" info "nbds://localhost:$P/"
	check "nbdkit x509: tls-verify-peer=0 connects anyway" \
		"${CLIENT[@]}" info "nbds://localhost:$P/?tls-verify-peer=0"
	check_grep "nbdkit x509: ... with a warning" "without verifying" "$SCRATCH/out"
	check_status "nbdkit x509: no TLS asked of a server that requires it" 1 \
		"${CLIENT[@]}" info "nbd://localhost:$P/"
	check_grep "nbdkit x509: ... saying the server requires TLS" "requires TLS" "$SCRATCH/out"
	check_status "nbdkit x509: a missing CA file is named" 1 \
		"${CLIENT[@]}" info "nbds://localhost:$P/" -A "$SCRATCH/nope.pem"
	check_grep "nbdkit x509: ... with its path" "nope.pem" "$SCRATCH/out"
	stop_server

	# An expired server certificate.
	mkdir -p "$SCRATCH/expdir"
	cp "$T/ca.pem" "$SCRATCH/expdir/ca-cert.pem"
	cp "$T/expired.pem" "$SCRATCH/expdir/server-cert.pem"
	cp "$T/expired-key.pem" "$SCRATCH/expdir/server-key.pem"
	chmod 600 "$SCRATCH/expdir/server-key.pem"
	P=$(free_port)
	START_WAIT=listen start_server_cmd "tcp:$P" nbdkit -f -i 127.0.0.1 -p "$P" --tls=require \
		--tls-certificates="$SCRATCH/expdir" memory 2M
	check_status "nbdkit x509: an expired certificate is refused" 1 \
		"${CLIENT[@]}" info "nbds://localhost:$P/" -A "$T/ca.pem"
	check_grep "nbdkit x509: ... saying it expired" "expired" "$SCRATCH/out"
	stop_server

	# ---------------------------------------------------------------- nbdkit, PSK
	P=$(free_port)
	START_WAIT=listen start_server_cmd "tcp:$P" nbdkit -f -i 127.0.0.1 -p "$P" --tls=require \
		--tls-psk="$T/psk.txt" memory 3M
	check "nbdkit psk: info with tls-psk-file and the user in the URI" \
		"${CLIENT[@]}" info "nbds://alice@localhost:$P/?tls-psk-file=$T/psk.txt"
	check_grep "nbdkit psk: the size came through TLS" '^size: 3145728$' "$SCRATCH/out"
	check "nbdkit psk: tls-verify-peer=0 changes nothing with a PSK" \
		"${CLIENT[@]}" info "nbds://alice@localhost:$P/?tls-psk-file=$T/psk.txt&tls-verify-peer=0"
	check_fails "nbdkit psk: ... and warns of no unverified certificate" \
		grep -q "without verifying" "$SCRATCH/out"
	check_status "nbdkit psk: a key that differs is refused" 1 \
		"${CLIENT[@]}" info "nbds://localhost:$P/?tls-psk-file=$T/other-psk.txt&tls-username=alice"
	check_grep "nbdkit psk: ... with a hint at the key" "PSK" "$SCRATCH/out"
	check_status "nbdkit psk: a user the file lacks is named" 1 \
		"${CLIENT[@]}" info "nbds://bob@localhost:$P/?tls-psk-file=$T/psk.txt"
	check_grep "nbdkit psk: ... as such" "no key for user 'bob'" "$SCRATCH/out"
	stop_server
else
	skip "nbdkit" "nbdkit is not installed"
fi

# ---------------------------------------------------------------- qemu-nbd
if command -v qemu-nbd >/dev/null; then
	P=$(free_port)
	START_WAIT=listen start_server_cmd "tcp:$P" qemu-nbd -f raw -b 127.0.0.1 -p "$P" -x qdisk -t \
		--object "tls-creds-x509,id=tls0,endpoint=server,dir=$SCRATCH/srvdir,verify-peer=off" \
		--tls-creds tls0 "$SCRATCH/disk.img"
	check "qemu-nbd: info over TLS" "${CLIENT[@]}" info "nbds://localhost:$P/qdisk" -A "$T/ca.pem"
	check_grep "qemu-nbd: the size came through TLS" '^size: 4194304$' "$SCRATCH/out"
	check "qemu-nbd: list over TLS" "${CLIENT[@]}" list "nbds://localhost:$P" -A "$T/ca.pem"
	check_grep "qemu-nbd: list shows qdisk" '^qdisk' "$SCRATCH/out"
	stop_server
else
	skip "qemu-nbd" "qemu-utils is not installed"
fi

# ---------------------------------------------------------------- Debian's nbd-server 3.24
if [ -x /usr/bin/nbd-server ]; then
	RPORT=$(free_port)
	cat >"$SCRATCH/ref.conf" <<CONF
[generic]
allowlist = true
certfile = $T/server.pem
keyfile = $T/server-key.pem
cacertfile = $T/ca.pem
force_tls = true
[refdisk]
exportname = $SCRATCH/disk.img
CONF
	/usr/bin/nbd-server -C "$SCRATCH/ref.conf" -p "$SCRATCH/ref.pid" "127.0.0.1@$RPORT" \
		>"$SCRATCH/ref.log" 2>&1 || true
	for _ in $(seq 1 50); do [ -s "$SCRATCH/ref.pid" ] && break; sleep 0.1; done
	if [ -s "$SCRATCH/ref.pid" ]; then
		SERVER_PIDS+=("$(cat "$SCRATCH/ref.pid")")
		sleep 0.2
		# It asks for a client certificate when it has a CA.
		check "nbd-server 3.24: info over TLS with a client certificate" \
			"${CLIENT[@]}" info "nbds://127.0.0.1:$RPORT/refdisk" -A "$T/ca.pem" \
			-F "$T/client.pem" -K "$T/client-key.pem"
		# (3.24 answers NBD_OPT_INFO with size 0 even without TLS; attach, over GO, gets it.)
		check_grep "nbd-server 3.24: the answer came through TLS" '^export: refdisk$' "$SCRATCH/out"
		check "nbd-server 3.24: list over TLS" "${CLIENT[@]}" list "nbds://127.0.0.1:$RPORT" \
			-A "$T/ca.pem" -F "$T/client.pem" -K "$T/client-key.pem"
		check_grep "nbd-server 3.24: list shows refdisk" '^refdisk$' "$SCRATCH/out"
	else
		not_ok "nbd-server 3.24 with TLS did not start"
		diag "$SCRATCH/ref.log"
	fi
else
	skip "nbd-server 3.24" "Debian's nbd-server is not installed"
fi

# ---------------------------------------------------------------- a Unix socket: no host name
# The chain and the key's purpose are checked; a certificate issued to a client does not pass for
# a server's, though there is no name to check.
S=$SCRATCH/tls.sock
start_server "$S" --export disk="$SCRATCH/disk.img" --tls=require \
	--tls-certificates "$SCRATCH/srvdir"
check "unix socket: info over TLS with -A" \
	"${CLIENT[@]}" info "nbds+unix:///disk?socket=$S" -A "$T/ca.pem"
check_grep "unix socket: ... saying no name is checked, and how to check one" "with -H" \
	"$SCRATCH/out"
stop_server
mkdir -p "$SCRATCH/impostor"
cp "$T/client.pem" "$SCRATCH/impostor/server-cert.pem"
cp "$T/client-key.pem" "$SCRATCH/impostor/server-key.pem"
start_server "$S" --export disk="$SCRATCH/disk.img" --tls=require \
	--tls-certificates "$SCRATCH/impostor"
check_status "unix socket: a server with a client's certificate is refused" 1 \
	"${CLIENT[@]}" info "nbds+unix:///disk?socket=$S" -A "$T/ca.pem"
check_grep "unix socket: ... saying it is not meant for a server" "intended purpose" \
	"$SCRATCH/out"
stop_server

# ---------------------------------------------------------------- no TLS on the server
S=$SCRATCH/plain.sock
start_server "$S" --export disk="$SCRATCH/disk.img"
check_status "plain server: TLS asked of a server without it fails, no downgrade" 1 \
	"${CLIENT[@]}" info "nbds+unix:///disk?socket=$S" -A "$T/ca.pem"
check_grep "plain server: ... saying the server does not do TLS" "TLS" "$SCRATCH/out"
finish
