#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-server with TLS, against libnbd (nbdinfo, nbdcopy), QEMU (qemu-img, qemu-io) and our own
# nbd-client (info, list): X.509 from --tls-certificates DIR and from the reference's config keys
# (with client certificates required by cacertfile), PSK, tlsonly exports next to open ones, and
# every refusal with what it says: no TLS from a client when the server requires it
# (ERR_TLS_REQD, with its message), a client that does not trust the server's CA, a client
# without a certificate when one is required, a PSK that differs, credentials that cannot be
# loaded. Kernel TLS is tried by default and not with --tls-ktls=no; on a host without the tls
# module both stay in user space, which is what is checked here (tests/vm has the kernel's side).
# Debian's nbd-client (the reference, 3.24) lists exports over TLS (X.509 only: it has no PSK) and
# is refused with its own message when it trusts another CA. It is taken from /usr/sbin, from
# DEBIAN_NBD_CLIENT, or unpacked in the VM suite's cache (tests/vm/lib/fetch-deb.sh), whose copy
# keeps the host free of the package's maintainer scripts; without any, those cases skip.
# Certificates are made by tests/tls/make-certs.sh. Loopback only.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

: "${TLS_MAKE_CERTS:?TLS_MAKE_CERTS must name tests/tls/make-certs.sh}"
requires certtool psktool
T=$SCRATCH/tls
sh "$TLS_MAKE_CERTS" "$T" || { echo "Bail out! make-certs.sh failed"; exit 1; }
# The layout of a --tls-certificates directory (nbdkit's and qemu's), for both sides.
mkdir -p "$SCRATCH/srvdir" "$SCRATCH/clidir" "$SCRATCH/nocert" "$SCRATCH/otherca"
cp "$T/ca.pem" "$SCRATCH/srvdir/ca-cert.pem"
cp "$T/server.pem" "$SCRATCH/srvdir/server-cert.pem"
cp "$T/server-key.pem" "$SCRATCH/srvdir/server-key.pem"
cp "$T/ca.pem" "$SCRATCH/clidir/ca-cert.pem"
cp "$T/client.pem" "$SCRATCH/clidir/client-cert.pem"
cp "$T/client-key.pem" "$SCRATCH/clidir/client-key.pem"
cp "$T/ca.pem" "$SCRATCH/nocert/ca-cert.pem"
cp "$T/other-ca.pem" "$SCRATCH/otherca/ca-cert.pem"
chmod 600 "$SCRATCH"/*/*-key.pem
truncate -s 8M "$SCRATCH/disk.img"
head -c 4M /dev/urandom >"$SCRATCH/data.bin"
CLIENT=("${TO[@]}" "$NBD_CLIENT")
HAVE_NBDINFO=$(command -v nbdinfo || true)

# debian_client: the reference nbd-client's path, or nothing. Only a binary that says it is the
# reference's ("from nbd 3.x") will do: ours may be installed as /usr/sbin/nbd-client too.
debian_client() {
	local c
	for c in "${DEBIAN_NBD_CLIENT:-}" /usr/sbin/nbd-client \
		"${NBDM_VM_CACHE:-/var/cache/nbdm-vm}"/debs/nbd-client_*/sbin/nbd-client; do
		[ -n "$c" ] && [ -x "$c" ] || continue
		if "${TO[@]}" "$c" -V 2>&1 | grep -q 'from nbd 3\.'; then
			echo "$c"
			return
		fi
	done
}
DEB_CLIENT=$(debian_client)
DEB_SKIP="Debian's nbd-client is not installed (apt-get install nbd-client, or run the VM suite once to unpack it into its cache)"
# deb_list DESCRIPTION PORT ARGS...: the reference client lists the exports (-l); its output is
# in $SCRATCH/out.
deb_list() {
	local what=$1 port=$2
	shift 2
	check "$what" "${TO[@]}" "$DEB_CLIENT" -l 127.0.0.1 "$port" "$@"
}

# tls_reqd HOST PORT: a client that skips STARTTLS asks for the list; prints the reply's type and
# message.
tls_reqd() {
	"$PYTHON" - "$1" "$2" <<'EOF'
import socket, struct, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
def recv(n):
    b = b""
    while len(b) < n:
        part = s.recv(n - len(b))
        if not part:
            raise SystemExit("closed")
        b += part
    return b
recv(18)
s.sendall(struct.pack(">I", 1))
s.sendall(b"IHAVEOPT" + struct.pack(">II", 3, 0))
magic, opt, typ, length = struct.unpack(">QIII", recv(20))
print("type 0x%08x: %s" % (typ, recv(length).decode()))
EOF
}

# ---------------------------------------------------------------- X.509, TLS required
P=$(free_port)
start_server_cmd "tcp:$P" "$NBD_SERVER" -v --foreground --bind 127.0.0.1 --port "$P" \
	--export disk="$SCRATCH/disk.img" --export mem=memory:2M --tls=require \
	--tls-certificates "$SCRATCH/srvdir"
U="nbds://localhost:$P/disk?tls-certificates=$SCRATCH/clidir"
check_grep "required: the server says TLS is required" "TLS: X.509, required for every export" \
	"$SERVER_LOG"
if [ -n "$HAVE_NBDINFO" ]; then
	check "required: nbdinfo over TLS (tls-certificates=DIR)" "${TO[@]}" nbdinfo --size "$U"
	check_grep "required: ... the size came through" '^8388608$' "$SCRATCH/out"
	check "required: nbdinfo --is tls" "${TO[@]}" nbdinfo --is tls "$U"
	check "required: nbdinfo --list over TLS" "${TO[@]}" nbdinfo --list --json \
		"nbds://localhost:$P/?tls-certificates=$SCRATCH/clidir"
	check_grep "required: ... lists both exports" '"export-name": "mem"' "$SCRATCH/out"
	check_status "required: nbdinfo without TLS is refused" 1 "${TO[@]}" nbdinfo --size \
		"nbd://localhost:$P/disk"
	check_status "required: nbdinfo trusting another CA is refused" 1 "${TO[@]}" nbdinfo \
		--size "nbds://localhost:$P/disk?tls-certificates=$SCRATCH/otherca"
else
	for c in "nbdinfo over TLS" "nbdinfo size" "nbdinfo --is tls" "nbdinfo --list" \
		"nbdinfo --list exports" "nbdinfo without TLS" "nbdinfo another CA"; do
		skip "required: $c" "nbdinfo is not installed"
	done
fi
if command -v nbdcopy >/dev/null; then
	check "required: nbdcopy writes 4 MiB over TLS" "${TO[@]}" nbdcopy "$SCRATCH/data.bin" "$U"
	check "required: nbdcopy reads them back" "${TO[@]}" nbdcopy "$U" "$SCRATCH/back.bin"
	check "required: ... and they are the same bytes" cmp -n 4194304 "$SCRATCH/data.bin" \
		"$SCRATCH/back.bin"
else
	for c in "nbdcopy write" "nbdcopy read" "nbdcopy compare"; do
		skip "required: $c" "nbdcopy is not installed"
	done
fi
if command -v qemu-img >/dev/null && command -v qemu-io >/dev/null; then
	OBJ="tls-creds-x509,id=tls0,dir=$SCRATCH/clidir,endpoint=client"
	IMG="driver=nbd,host=localhost,port=$P,export=disk,tls-creds=tls0"
	check "required: qemu-img info with tls-creds-x509" "${TO[@]}" qemu-img info \
		--object "$OBJ" --image-opts "$IMG"
	check_grep "required: ... the size came through" 'virtual size: 8 MiB' "$SCRATCH/out"
	check "required: qemu-io writes and reads a pattern over TLS" "${TO[@]}" qemu-io \
		--object "$OBJ" --image-opts "$IMG" -c 'write -P 0x5a 1M 256k' \
		-c 'read -P 0x5a 1M 256k'
	if grep -q 'Pattern verification failed' "$SCRATCH/out"; then
		not_ok "required: qemu-io read back its pattern"
		diag "$SCRATCH/out"
	else
		ok "required: qemu-io read back its pattern"
	fi
else
	for c in "qemu-img info" "qemu-img size" "qemu-io" "qemu-io pattern"; do
		skip "required: $c" "qemu-utils is not installed"
	done
fi
check "required: our nbd-client info with -A" "${CLIENT[@]}" info "nbds://localhost:$P/disk" \
	-A "$T/ca.pem"
check_grep "required: ... the size came through" '^size: 8388608$' "$SCRATCH/out"
check "required: our nbd-client list with -A" "${CLIENT[@]}" list "nbds://localhost:$P" \
	-A "$T/ca.pem"
check_grep "required: ... lists mem" '^mem$' "$SCRATCH/out"
check_status "required: our nbd-client without TLS is refused" 1 "${CLIENT[@]}" info \
	"nbd://localhost:$P/disk"
check_grep "required: ... saying the server requires TLS" "requires TLS" "$SCRATCH/out"
check_status "required: our nbd-client trusting another CA is refused" 1 "${CLIENT[@]}" info \
	"nbds://localhost:$P/disk" -A "$T/other-ca.pem"
check_grep "required: ... saying the issuer is unknown" "issuer is unknown" "$SCRATCH/out"
if [ -n "$DEB_CLIENT" ]; then
	deb_list "required: Debian's nbd-client -l with -cacertfile" "$P" -cacertfile "$T/ca.pem" \
		-tlshostname localhost
	check_grep "required: ... lists disk" '^disk$' "$SCRATCH/out"
	check_grep "required: ... and mem" '^mem$' "$SCRATCH/out"
	check_status "required: Debian's nbd-client trusting another CA is refused" 1 "${TO[@]}" \
		"$DEB_CLIENT" -l 127.0.0.1 "$P" -cacertfile "$T/other-ca.pem" -tlshostname localhost
	# Its TLS failure has no message of its own: the reference says what it was reading when
	# the connection went ("Not enough magic from server", or "Reading magic from server: ...",
	# "Reading option: ...", "Reading length from server: ...", "Reading reply from server: ..."),
	# which depends on timing, then "Exiting.".
	check_grep "required: ... with the reference's message" \
		'^Error: (Not enough magic from server|Reading [a-z ]+: )' "$SCRATCH/out"
	check_status "required: Debian's nbd-client for another host name is refused" 1 \
		"${TO[@]}" "$DEB_CLIENT" -l 127.0.0.1 "$P" -cacertfile "$T/ca.pem" \
		-tlshostname elsewhere.invalid
	check_status "required: Debian's nbd-client without TLS is refused" 1 "${TO[@]}" \
		"$DEB_CLIENT" -l 127.0.0.1 "$P"
	check_grep "required: ... and shows our reason" 'Server said: this server requires TLS first' \
		"$SCRATCH/out"
else
	for c in "Debian's nbd-client -l" "Debian list disk" "Debian list mem" "Debian another CA" \
		"Debian another CA message" "Debian another host name" "Debian without TLS" \
		"Debian without TLS message"; do
		skip "required: $c" "$DEB_SKIP"
	done
fi
check "required: LIST before STARTTLS" tls_reqd 127.0.0.1 "$P"
check_grep "required: ... is ERR_TLS_REQD with its message" \
	'^type 0x80000005: this server requires TLS first$' "$SCRATCH/out"
check_grep "required: the server logged TLS sessions" "TLS established \(TLS1\.[23], " \
	"$SERVER_LOG"
check_grep "required: the server logged a failed TLS handshake" "TLS handshake failed" \
	"$SERVER_LOG"
# Kernel TLS is tried by default; without the tls module it stays in user space (said once).
if [ -e /proc/net/tls_stat ]; then
	check_grep "required: kernel TLS, or why not" "moved into the kernel|stays in user space" \
		"$SERVER_LOG"
else
	check_grep "required: no tls module, so TLS stays in user space" "stays in user space" \
		"$SERVER_LOG"
fi
# SIGHUP reads the credentials again; TLS goes on.
kill -HUP "$SERVER_PID"
for _ in $(seq 1 50); do grep -q "Reload done" "$SERVER_LOG" && break; sleep 0.1; done
check_grep "required: SIGHUP reloads" "Reload done" "$SERVER_LOG"
check "required: ... and TLS still works after it" "${CLIENT[@]}" info \
	"nbds://localhost:$P/disk" -A "$T/ca.pem"
stop_server

# ---------------------------------------------------------------- the reference's config keys
# certfile, keyfile, cacertfile (client certificates required), tlsprio, force_tls.
P=$(free_port)
cat >"$SCRATCH/tls.conf" <<CONF
[generic]
certfile = $T/server.pem
keyfile = $T/server-key.pem
cacertfile = $T/ca.pem
tlsprio = NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3
force_tls = true
[refdisk]
exportname = $SCRATCH/disk.img
CONF
start_server_cmd "tcp:$P" "$NBD_SERVER" -v --foreground --bind 127.0.0.1 --port "$P" \
	-C "$SCRATCH/tls.conf" --tls-ktls=no
check "config: our nbd-client with a client certificate" "${CLIENT[@]}" info \
	"nbds://localhost:$P/refdisk" -A "$T/ca.pem" -F "$T/client.pem" -K "$T/client-key.pem"
check_grep "config: ... the size came through" '^size: 8388608$' "$SCRATCH/out"
check_status "config: our nbd-client without a client certificate is refused" 1 \
	"${CLIENT[@]}" info "nbds://localhost:$P/refdisk" -A "$T/ca.pem"
if [ -n "$HAVE_NBDINFO" ]; then
	check "config: nbdinfo with a client certificate" "${TO[@]}" nbdinfo --size \
		"nbds://localhost:$P/refdisk?tls-certificates=$SCRATCH/clidir"
	check_status "config: nbdinfo without a client certificate is refused" 1 "${TO[@]}" \
		nbdinfo --size "nbds://localhost:$P/refdisk?tls-certificates=$SCRATCH/nocert"
else
	skip "config: nbdinfo with a client certificate" "nbdinfo is not installed"
	skip "config: nbdinfo without a client certificate" "nbdinfo is not installed"
fi
if [ -n "$DEB_CLIENT" ]; then
	deb_list "config: Debian's nbd-client -l with a client certificate" "$P" \
		-cacertfile "$T/ca.pem" -certfile "$T/client.pem" -keyfile "$T/client-key.pem" \
		-tlshostname localhost
	check_grep "config: ... lists refdisk" '^refdisk$' "$SCRATCH/out"
	check_status "config: Debian's nbd-client without a client certificate is refused" 1 \
		"${TO[@]}" "$DEB_CLIENT" -l 127.0.0.1 "$P" -cacertfile "$T/ca.pem" \
		-tlshostname localhost
	check_grep "config: ... and the server says it sent none" \
		"TLS handshake failed: the peer sent no certificate" "$SERVER_LOG"
else
	for c in "Debian's nbd-client with a client certificate" "Debian list refdisk" \
		"Debian without a client certificate" "Debian without a certificate, server log"; do
		skip "config: $c" "$DEB_SKIP"
	done
fi
check_grep "config: the server says why it refused the client" \
	"TLS handshake failed: .*certificate" "$SERVER_LOG"
if grep -q "moved into the kernel\|stays in user space" "$SERVER_LOG"; then
	not_ok "config: --tls-ktls=no does not try the kernel's TLS"
	diag "$SERVER_LOG"
else
	ok "config: --tls-ktls=no does not try the kernel's TLS"
fi
stop_server

# ---------------------------------------------------------------- PSK
P=$(free_port)
start_server_cmd "tcp:$P" "$NBD_SERVER" -v --foreground --bind 127.0.0.1 --port "$P" \
	--memory 3M --tls=require --tls-psk "$T/psk.txt"
check "psk: our nbd-client with the key" "${CLIENT[@]}" info \
	"nbds://alice@localhost:$P/?tls-psk-file=$T/psk.txt"
check_grep "psk: ... the size came through" '^size: 3145728$' "$SCRATCH/out"
if [ -n "$HAVE_NBDINFO" ]; then
	check "psk: nbdinfo with the key" "${TO[@]}" nbdinfo --size \
		"nbds://alice@localhost:$P/?tls-psk-file=$T/psk.txt"
else
	skip "psk: nbdinfo with the key" "nbdinfo is not installed"
fi
check_status "psk: another key is refused" 1 "${CLIENT[@]}" info \
	"nbds://alice@localhost:$P/?tls-psk-file=$T/other-psk.txt"
check_grep "psk: the session was PSK" "TLS established \(.*PSK\)" "$SERVER_LOG"
skip "psk: Debian's nbd-client" "the reference nbd-client 3.24 has no PSK option"
stop_server

# ---------------------------------------------------------------- tlsonly next to open exports
P=$(free_port)
cat >"$SCRATCH/selective.conf" <<CONF
[secret]
exportname = $SCRATCH/disk.img
tlsonly = true
[open]
memory = 1M
CONF
start_server_cmd "tcp:$P" "$NBD_SERVER" -v --foreground --bind 127.0.0.1 --port "$P" \
	-C "$SCRATCH/selective.conf" --tls-certificates "$SCRATCH/srvdir"
check "tlsonly: list without TLS" "${CLIENT[@]}" list "nbd://localhost:$P"
check_grep "tlsonly: ... shows the open export" '^open$' "$SCRATCH/out"
if grep -q '^secret$' "$SCRATCH/out"; then
	not_ok "tlsonly: ... and hides the TLS-only one"
	diag "$SCRATCH/out"
else
	ok "tlsonly: ... and hides the TLS-only one"
fi
check "tlsonly: list over TLS shows it" "${CLIENT[@]}" list "nbds://localhost:$P" \
	-A "$T/ca.pem"
check_grep "tlsonly: ... secret is listed" '^secret$' "$SCRATCH/out"
check "tlsonly: the open export without TLS" "${CLIENT[@]}" info "nbd://localhost:$P/open"
check_status "tlsonly: the TLS-only export without TLS is refused" 1 "${CLIENT[@]}" info \
	"nbd://localhost:$P/secret"
check_grep "tlsonly: ... saying it requires TLS" "requires TLS" "$SCRATCH/out"
check "tlsonly: the TLS-only export over TLS" "${CLIENT[@]}" info "nbds://localhost:$P/secret" \
	-A "$T/ca.pem"
if [ -n "$DEB_CLIENT" ]; then
	deb_list "tlsonly: Debian's nbd-client -l without TLS" "$P"
	if grep -q '^secret$' "$SCRATCH/out" || ! grep -q '^open$' "$SCRATCH/out"; then
		not_ok "tlsonly: ... shows the open export only"
		diag "$SCRATCH/out"
	else
		ok "tlsonly: ... shows the open export only"
	fi
	deb_list "tlsonly: Debian's nbd-client -l over TLS" "$P" -cacertfile "$T/ca.pem" \
		-tlshostname localhost
	check_grep "tlsonly: ... shows the TLS-only one" '^secret$' "$SCRATCH/out"
else
	for c in "Debian list without TLS" "Debian open export only" "Debian list over TLS" \
		"Debian TLS-only export"; do
		skip "tlsonly: $c" "$DEB_SKIP"
	done
fi
if [ -n "$HAVE_NBDINFO" ]; then
	check "tlsonly: nbdinfo reads it over TLS" "${TO[@]}" nbdinfo --size \
		"nbds://localhost:$P/secret?tls-certificates=$SCRATCH/clidir"
else
	skip "tlsonly: nbdinfo reads it over TLS" "nbdinfo is not installed"
fi
stop_server

# ---------------------------------------------------------------- credentials that cannot load
check_status "start-up: a missing certificate stops the server" 1 "${TO[@]}" "$NBD_SERVER" \
	--foreground --bind 127.0.0.1 --port "$(free_port)" --memory 1M \
	--tls-certificates "$SCRATCH/nowhere"
check_grep "start-up: ... naming the file" "nowhere/server-cert.pem" "$SCRATCH/out"
check_status "start-up: a missing PSK file stops the server" 1 "${TO[@]}" "$NBD_SERVER" \
	--foreground --bind 127.0.0.1 --port "$(free_port)" --memory 1M --tls-psk "$SCRATCH/no.psk"
check_grep "start-up: ... naming it and how to make one" "no.psk.*psktool" "$SCRATCH/out"
# The PSK file is read at every handshake, by the user the server becomes.
if [ "$(id -u)" -eq 0 ] && getent passwd nobody >/dev/null; then
	install -m 0600 "$T/psk.txt" "$SCRATCH/root-only.psk"
	check_status "start-up: a PSK file the --user cannot read stops the server" 1 "${TO[@]}" \
		"$NBD_SERVER" --foreground --bind 127.0.0.1 --port "$(free_port)" --memory 1M \
		--tls-psk "$SCRATCH/root-only.psk" --user nobody
	check_grep "start-up: ... naming the file and the user" "root-only.psk .*(nobody)" \
		"$SCRATCH/out"
else
	skip "start-up: a PSK file the --user cannot read" "needs root and a user nobody"
fi
check_status "start-up: --tls=require without credentials" 1 "${TO[@]}" "$NBD_SERVER" \
	--foreground --bind 127.0.0.1 --port "$(free_port)" --memory 1M --tls=require
check_grep "start-up: ... says what to give" "no credentials" "$SCRATCH/out"
finish
