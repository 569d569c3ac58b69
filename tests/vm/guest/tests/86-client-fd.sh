# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-client given a connected socket (--fd) instead of a target: once negotiating on it itself,
# once with the handshake already done (--negotiated --size --flags), as a supervisor or a test
# harness would hand it over. fd-connect (tests/vm/guest-tools) opens the socket on fd 3, does the
# handshake for --negotiated, and execs the client. Last, our server with --fd --negotiated meets our
# client with --fd --negotiated: no handshake on either side.
need_ours "client --fd: our nbd-client attaches a socket it is given"
if [ -z "$FD_CONNECT" ]; then
	ok "client --fd: our nbd-client attaches a socket it is given # SKIP the fd-connect helper is not in the image"
	exit 0
fi
truncate -s 32M /tmp/disk.img
start_server 10809 --export disk=/tmp/disk.img || exit 0

check "client --fd: attach --fd 3 /dev/nbd2 -N disk (the client negotiates)" \
	attach_with "$FD_CONNECT" 127.0.0.1 10809 "$NBDM_CLIENT" attach --fd 3 /dev/nbd2 -N disk
check_eq "client --fd: prints /dev/nbd2" nbd2 "$DEV"
check_eq "client --fd: /sys/block/nbd2/size is 32 MiB" 65536 "$(cat /sys/block/nbd2/size 2>&1)"
check "client --fd: the kernel has the server's flags (SEND_FLUSH, SEND_TRIM)" \
	test $(($(nbd_flags nbd2) & 0x24)) -eq $((0x24))
diag "backend identifier with --fd: $(cat /sys/block/nbd2/backend 2>&1)"
io_roundtrip nbd2 /tmp/disk.img "client --fd" 1M 1
detach_ours "client --fd" nbd2 detach /dev/nbd2

check "client --fd --negotiated: attach --fd 3 --negotiated --size --flags /dev/nbd2 (handshake done by fd-connect)" \
	attach_with "$FD_CONNECT" -n disk 127.0.0.1 10809 \
	"$NBDM_CLIENT" attach --fd 3 --negotiated --size @SIZE@ --flags @FLAGS@ /dev/nbd2
check_eq "client --fd --negotiated: /sys/block/nbd2/size is 32 MiB" 65536 "$(cat /sys/block/nbd2/size 2>&1)"
check "client --fd --negotiated: the kernel has the --flags (SEND_FLUSH, SEND_TRIM)" \
	test $(($(nbd_flags nbd2) & 0x24)) -eq $((0x24))
io_roundtrip nbd2 /tmp/disk.img "client --fd --negotiated" 1M 1
detach_ours "client --fd --negotiated" nbd2 -d /dev/nbd2
check "client --fd --negotiated: attach --negotiated -b 4096 (kernel picks the device)" \
	attach_with "$FD_CONNECT" -n disk 127.0.0.1 10809 \
	"$NBDM_CLIENT" attach --fd 3 --negotiated --size @SIZE@ --flags @FLAGS@ -b 4096
check_eq "client --fd --negotiated: logical_block_size is 4096" 4096 \
	"$(cat "/sys/block/$DEV/queue/logical_block_size" 2>&1)"
[ -n "$DEV" ] && detach_ours "client --fd --negotiated" "$DEV" detach "/dev/$DEV"
server_alive "after the --fd clients"

# Both sides without a handshake: our server with --fd 0 --negotiated (busybox nc hands it the
# accepted socket as stdin), our client with --fd 3 --negotiated: size and flags from the command
# line on both sides, the first bytes on the wire the kernel's requests.
make_file /tmp/neg.img 16
nc -l -p 10871 -e sh -c "exec $NBDM_SERVER --config=/dev/null --fd 0 --negotiated \
	--export neg=/tmp/neg.img 2>/tmp/neg-server.log" &
echo "$!" >>"$STATE/pids"
wait_until 5 listening 10871
# HAS_FLAGS, SEND_FLUSH, SEND_FUA, SEND_TRIM: what the server offers for a file.
check "client and server --negotiated: attach with no handshake on either side" \
	attach_with "$FD_CONNECT" 127.0.0.1 10871 \
	"$NBDM_CLIENT" attach --fd 3 --negotiated --size 16777216 --flags 0x2d /dev/nbd3
check "client and server --negotiated: the device reads the image" same_range /dev/nbd3 0 /tmp/neg.img 0 16
io_roundtrip nbd3 /tmp/neg.img "client and server --negotiated" 1M 2
check "client and server --negotiated: TRIM reaches the server" \
	to "$UL_BLKDISCARD" -o 8388608 -l 1048576 /dev/nbd3
detach_ours "client and server --negotiated" nbd3 detach /dev/nbd3
negotiated_server_gone() { ! ps -o args | grep -q '[f]d 0 --negotiated'; }
check "client and server --negotiated: the server exits with its connection" \
	wait_until 10 negotiated_server_gone
diag_file /tmp/neg-server.log
