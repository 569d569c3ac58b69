# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-client given a connected socket (--fd) instead of a target: once negotiating on it itself,
# once with the handshake already done (--negotiated --size --flags), as a supervisor or a test
# harness would hand it over. fd-connect (tests/vm/guest-tools) opens the socket on fd 3, does the
# handshake for --negotiated, and execs the client.
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
