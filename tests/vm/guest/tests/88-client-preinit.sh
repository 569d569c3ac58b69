# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-client -P (--preinit), reference semantics: it connects and hands the fresh socket to the
# kernel without any handshake, with the size from -B and the transmission flags NBD_FLAG_HAS_FLAGS
# alone. That only works with a server that starts in the transmission phase; fd-connect's relay mode
# (tests/vm/guest-tools) makes one: it negotiates export "disk" with our nbd-server itself, then
# listens on 127.0.0.1:10810 and relays one connection to the negotiated socket.
need_ours "client -P: our nbd-client attaches a socket without a handshake"
if [ -z "$FD_CONNECT" ]; then
	ok "client -P: our nbd-client attaches a socket without a handshake # SKIP the fd-connect helper is not in the image"
	exit 0
fi
truncate -s 32M /tmp/disk.img
start_server 10809 --export disk=/tmp/disk.img || exit 0

# Refused before anything connects: the handshake that would tell the size is skipped.
refused "client -P without -B" '-B|--size' -P 127.0.0.1 10809 /dev/nbd6
check_eq "client -P without -B: no connection left open to the server" 0 "$(established 10809)"

"$FD_CONNECT" -r 10810 -n disk 127.0.0.1 10809 >/tmp/relay.out 2>/tmp/relay.log &
RELAY_PID=$!
echo "$RELAY_PID" >>"$STATE/pids"
if wait_until 10 grep -q '^size=' /tmp/relay.out && listening 10810; then
	ok "client -P: the relay negotiated export disk and listens on 127.0.0.1:10810"
else
	not_ok "client -P: the relay negotiated export disk and listens on 127.0.0.1:10810"
	diag_file /tmp/relay.log
	show_logs
	exit 0
fi
SIZE=$(sed -n 's/^size=\([0-9]*\) .*/\1/p' /tmp/relay.out)
check_eq "client -P: the relay reports the export's size (32 MiB)" 33554432 "$SIZE"

check "client -P: nbd-client -P -B $SIZE 127.0.0.1 10810 /dev/nbd6 (reference syntax)" \
	attach_ours -P -B "$SIZE" 127.0.0.1 10810 /dev/nbd6
check_eq "client -P: prints /dev/nbd6" nbd6 "$DEV"
check_eq "client -P: /sys/block/nbd6/size is 32 MiB" 65536 "$(cat /sys/block/nbd6/size 2>&1)"
diag "kernel flags with -P: $(cat /sys/kernel/debug/nbd/nbd6/flags 2>&1 | tr '\n' ' ')"
check "client -P: the kernel has HAS_FLAGS and no SEND_FLUSH or SEND_TRIM (no handshake told them)" \
	test $(($(nbd_flags nbd6) & 0x25)) -eq 1
io_roundtrip nbd6 /tmp/disk.img "client -P" 1M 1
detach_ours "client -P" nbd6 -d /dev/nbd6
if wait_until 10 sh -c "! kill -0 $RELAY_PID"; then
	ok "client -P: the relay ends once the device is detached (the kernel closed its socket)"
else
	not_ok "client -P: the relay ends once the device is detached (the kernel closed its socket)"
	diag_file /tmp/relay.log
fi
server_alive "after the -P client"
