#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-client's negotiation against every server at hand, through the commands that need no kernel
# (list, info, -l): our nbd-server, nbdkit, qemu-nbd and Debian's nbd-server 3.24, plus servers that
# only speak plain newstyle or oldstyle. Unix sockets and 127.0.0.1 only.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

: "${NBD_CLIENT:?NBD_CLIENT must name the nbd-client binary under test}"
CLIENT=("${TO[@]}" "$NBD_CLIENT")

truncate -s 4M "$SCRATCH/disk.img"

# ---------------------------------------------------------------- our server
S=$SCRATCH/ours.sock
start_server "$S" --export disk="$SCRATCH/disk.img" --description "the disk" \
	--export mem=memory:1M
check "ours: list" "${CLIENT[@]}" list "$S"
check_grep "ours: list shows 'disk: the disk'" '^disk: the disk$' "$SCRATCH/out"
check_grep "ours: list shows 'mem'" '^mem$' "$SCRATCH/out"
check "ours: list --json" "${CLIENT[@]}" list "$S" --json
check_grep "ours: list --json names disk with its description" \
	'"name": "disk", "description": "the disk"' "$SCRATCH/out"
check "ours: info" "${CLIENT[@]}" info "$(uri "$S" disk)"
check_grep "ours: info gives the size" '^size: 4194304$' "$SCRATCH/out"
check_grep "ours: info gives the block sizes" '^block size: minimum 1, preferred 4096' "$SCRATCH/out"
check_grep "ours: info lists base:allocation" '^meta context: base:allocation$' "$SCRATCH/out"
check "ours: info --json" "${CLIENT[@]}" info "$(uri "$S" mem)" --json
check_grep "ours: info --json gives the size" '"size": 1048576' "$SCRATCH/out"
check_fails "ours: info of an unknown export fails" "${CLIENT[@]}" info "$(uri "$S" nope)"
check_grep "ours: the refusal quotes the server" "no export named 'nope'" "$SCRATCH/out"
check_grep "ours: and lists the exports there are" "'disk': the disk" "$SCRATCH/out"
check "ours: -g (EXPORT_NAME only) info" "${CLIENT[@]}" info "$(uri "$S" disk)" -g
check_grep "ours: -g still learns the size" '^size: 4194304$' "$SCRATCH/out"

# Local images: nbd-client starts the server itself, on a socketpair, and it exits afterwards.
truncate -s 3M "$SCRATCH/local.img"
local_servers() { pgrep -f -- "--accept-fds=3 --export=image=" | wc -l; }
check "ours: info file:///... starts a local server" env NBDM_SERVER="$NBD_SERVER" \
	"${CLIENT[@]}" info "file://$SCRATCH/local.img"
check_grep "ours: the local image's size" '^size: 3145728$' "$SCRATCH/out"
check "ours: info memory:5M" env NBDM_SERVER="$NBD_SERVER" "${CLIENT[@]}" info memory:5M
check_grep "ours: the memory disk's size" '^size: 5242880$' "$SCRATCH/out"
for i in $(seq 50); do [ "$(local_servers)" = 0 ] && break; sleep 0.1; done
check_eq "ours: no local server is left" 0 "$(local_servers)"
check_fails "ours: a local image that does not exist" "${CLIENT[@]}" info "file://$SCRATCH/nope.img"
check_grep "ours: names it" "Cannot use the image $SCRATCH/nope.img: No such file" "$SCRATCH/out"
check_fails "ours: no server program" env NBDM_SERVER=/nonexistent/nbd-server \
	"${CLIENT[@]}" info memory:1M
check_grep "ours: says which and what to do" \
	"Cannot run the local server /nonexistent/nbd-server: No such file or directory; install" \
	"$SCRATCH/out"

PORT=$(free_port)
start_server_cmd "tcp:$PORT" "$NBD_SERVER" --foreground "127.0.0.1@$PORT" "$SCRATCH/disk.img"
check "ours over TCP: -l 127.0.0.1 PORT (reference form)" "${CLIENT[@]}" -l 127.0.0.1 "$PORT"
check "ours over TCP: info 127.0.0.1:PORT" "${CLIENT[@]}" info "127.0.0.1:$PORT"
check_grep "ours over TCP: size" '^size: 4194304$' "$SCRATCH/out"
check "ours over TCP: info nbd://127.0.0.1:PORT/" "${CLIENT[@]}" info "nbd://127.0.0.1:$PORT/"

# ---------------------------------------------------------------- refusals without a server
DEAD=$(free_port)
check_fails "nothing listening: fails" "${CLIENT[@]}" info "127.0.0.1:$DEAD"
check_grep "nothing listening: says so" "Connection refused" "$SCRATCH/out"
check_fails "nbds://, nothing listening: fails" "${CLIENT[@]}" info "nbds://127.0.0.1:$DEAD/"
check_grep "nbds://, nothing listening: says so (TLS itself: test-client-tls.sh)" \
	"Connection refused" "$SCRATCH/out"
# The .invalid top-level domain never resolves (RFC 6761), whatever the resolver.
BADHOST=nbdm-test.invalid
RESOLVE="Cannot resolve host '$BADHOST': .+; check the name or use an address"
check_fails "an unresolvable host: info fails" "${CLIENT[@]}" info "$BADHOST"
check_grep "an unresolvable host: info says the name does not resolve" "$RESOLVE" "$SCRATCH/out"
check_fails "an unresolvable host: -l fails" "${CLIENT[@]}" -l "$BADHOST" 10809
check_grep "an unresolvable host: -l says the name does not resolve" "$RESOLVE" "$SCRATCH/out"
check_fails "an unresolvable host in a URI: list fails" "${CLIENT[@]}" list "nbd://$BADHOST:2000"
check_grep "an unresolvable host in a URI: list says so" "$RESOLVE" "$SCRATCH/out"

# ---------------------------------------------------------------- privileges
# Changing a device needs CAP_SYS_ADMIN; without it every such command says so before anything
# else (here, before looking for the nbd module this machine may not have).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	NOCAP=(setpriv --bounding-set=-sys_admin)
	for cmd in "attach 127.0.0.1 /dev/nbd0" "detach /dev/nbd0" "reconnect /dev/nbd0" "-d /dev/nbd0" \
		"127.0.0.1 10809 /dev/nbd0"; do
		# shellcheck disable=SC2086 # the command's words
		check_fails "root without CAP_SYS_ADMIN: $cmd is refused" "${NOCAP[@]}" "${CLIENT[@]}" $cmd
		check_grep "root without CAP_SYS_ADMIN: $cmd says CAP_SYS_ADMIN is needed" \
			"needs root, with CAP_SYS_ADMIN" "$SCRATCH/out"
	done
	NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	# A build under a directory only root may enter (/root) cannot be run as nobody.
	if "${NOBODY[@]}" test -x "$NBD_CLIENT"; then
		check_fails "nobody: attach is refused" "${NOBODY[@]}" "${CLIENT[@]}" attach 127.0.0.1 /dev/nbd0
		check_grep "nobody: attach says it needs root" "needs root, with CAP_SYS_ADMIN" "$SCRATCH/out"
		check "nobody: info needs no privilege" "${NOBODY[@]}" "${CLIENT[@]}" info "127.0.0.1:$PORT"
	else
		skip "nobody: attach is refused" "nobody cannot run $NBD_CLIENT"
	fi
else
	skip "privileges" "needs root and setpriv"
fi

# ---------------------------------------------------------------- the command line, end to end
check_fails "a mistyped single-dash option is refused" "${CLIENT[@]}" -l "$BADHOST" -systemd-mrak
check_grep "a mistyped option: the option meant is named" \
	"unknown option '-systemd-mrak'; did you mean '-systemd-mark'\\?" "$SCRATCH/out"
check_fails "-sdp is ignored with a warning (and the lookup still fails)" \
	"${CLIENT[@]}" info "$BADHOST" -sdp
check_grep "-sdp: the warning" "--sdp is obsolete and ignored" "$SCRATCH/out"
check_grep "-sdp: the lookup ran" "$RESOLVE" "$SCRATCH/out"
# -b's range in the same words in --help, nbd-client(8) and the error, however each one wraps and
# marks up the words.
flat() { tr -d "*'" | tr -s ' \t\n' '   '; }
RANGE="a power of two from 512 to 65536, or preferred"
check "--help" "${CLIENT[@]}" --help
check_eq "--help states -b's range" 1 "$(flat <"$SCRATCH/out" | grep -cF "block size: $RANGE")"
check_fails "-b 1000 is refused" "${CLIENT[@]}" -b 1000 "$BADHOST"
check_eq "the error states -b's range" 1 "$(flat <"$SCRATCH/out" | grep -cF "expected $RANGE")"
MAN=$(dirname "$0")/../../man/nbd-client.8.scd
check_eq "nbd-client(8) states -b's range" 1 \
	"$(flat <"$MAN" | grep -cF "Block size of the device: $RANGE")"

# ---------------------------------------------------------------- nbdkit
if command -v nbdkit >/dev/null; then
	K=$SCRATCH/kit.sock
	start_server_cmd "$K" nbdkit -f -U "$K" memory 2M
	check "nbdkit: info" "${CLIENT[@]}" info "$(uri "$K")"
	check_grep "nbdkit: size" '^size: 2097152$' "$SCRATCH/out"
	check "nbdkit: list" "${CLIENT[@]}" list "$K"
	K2=$SCRATCH/kit-plain.sock
	start_server_cmd "$K2" nbdkit -f -U "$K2" --mask-handshake=0 memory 3M
	check "nbdkit plain newstyle (EXPORT_NAME only): info" "${CLIENT[@]}" info "$(uri "$K2")"
	check_grep "nbdkit plain newstyle: size" '^size: 3145728$' "$SCRATCH/out"
	check_fails "nbdkit plain newstyle: list is impossible" "${CLIENT[@]}" list "$K2"
	check_grep "nbdkit plain newstyle: says why" "fixed newstyle" "$SCRATCH/out"
	K3=$SCRATCH/kit-old.sock
	start_server_cmd "$K3" nbdkit -f -o -U "$K3" memory 1M
	check_fails "nbdkit oldstyle: refused" "${CLIENT[@]}" info "$(uri "$K3")"
	check_grep "nbdkit oldstyle: the message says oldstyle" "oldstyle" "$SCRATCH/out"
else
	ok "nbdkit # SKIP nbdkit is not installed"
fi

# ---------------------------------------------------------------- qemu-nbd
if command -v qemu-nbd >/dev/null; then
	Q=$SCRATCH/qemu.sock
	start_server_cmd "$Q" qemu-nbd -f raw -k "$Q" -x qdisk -D "qemu's disk" -t "$SCRATCH/disk.img"
	check "qemu-nbd: info" "${CLIENT[@]}" info "$(uri "$Q" qdisk)"
	check_grep "qemu-nbd: size" '^size: 4194304$' "$SCRATCH/out"
	check "qemu-nbd: list" "${CLIENT[@]}" list "$Q"
	check_grep "qemu-nbd: list shows the export and description" "^qdisk: qemu's disk$" "$SCRATCH/out"
else
	ok "qemu-nbd # SKIP qemu-utils is not installed"
fi

# ---------------------------------------------------------------- Debian's nbd-server 3.24
if [ -x /usr/bin/nbd-server ]; then
	RPORT=$(free_port)
	cat >"$SCRATCH/ref.conf" <<CONF
[generic]
allowlist = true
[refdisk]
exportname = $SCRATCH/disk.img
CONF
	# It daemonises and forks per client: its pid file says which process to end.
	/usr/bin/nbd-server -C "$SCRATCH/ref.conf" -p "$SCRATCH/ref.pid" "127.0.0.1@$RPORT" \
		>"$SCRATCH/ref.log" 2>&1 || true
	for _ in $(seq 1 50); do [ -s "$SCRATCH/ref.pid" ] && break; sleep 0.1; done
	if [ -s "$SCRATCH/ref.pid" ]; then
		SERVER_PIDS+=("$(cat "$SCRATCH/ref.pid")")
		sleep 0.2
		# It resets the connection after ABORT: that must count as a clean end.
		check "nbd-server 3.24: list" "${CLIENT[@]}" list "127.0.0.1:$RPORT"
		check_grep "nbd-server 3.24: list shows refdisk" '^refdisk$' "$SCRATCH/out"
		check "nbd-server 3.24: -l (reference form)" "${CLIENT[@]}" -l 127.0.0.1 "$RPORT"
		check "nbd-server 3.24: info" "${CLIENT[@]}" info "nbd://127.0.0.1:$RPORT/refdisk"
	else
		not_ok "nbd-server 3.24 started"
		diag "$SCRATCH/ref.log"
	fi
else
	ok "nbd-server 3.24 # SKIP Debian's nbd-server is not installed"
fi

finish
