# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-client over the ioctl interface (-L): it configures the device, then a child of it sits in
# NBD_DO_IT (in the background) until the device is detached.
need_ours "client ioctl: our nbd-client attaches with ioctls (-L)"
truncate -s 32M /tmp/disk.img
start_server 10809 --export disk=/tmp/disk.img || exit 0
check "client ioctl: attach nbd://127.0.0.1/disk /dev/nbd2 -L" attach_ours attach nbd://127.0.0.1/disk /dev/nbd2 -L
check_eq "client ioctl: prints /dev/nbd2" nbd2 "$DEV"
check_eq "client ioctl: /sys/block/nbd2/size is 32 MiB" 65536 "$(cat /sys/block/nbd2/size 2>&1)"
check_eq "client ioctl: logical_block_size is 512, the reference's default" 512 \
	"$(cat /sys/block/nbd2/queue/logical_block_size 2>&1)"
pid=$(cat /sys/block/nbd2/pid 2>/dev/null)
check_eq "client ioctl: the NBD_DO_IT process ($pid) is nbd-client" nbd-client "$(cat "/proc/$pid/comm" 2>&1)"
check "client ioctl: the kernel has the server's flags (SEND_FLUSH, SEND_TRIM)" \
	test $(($(nbd_flags nbd2) & 0x24)) -eq $((0x24))
io_roundtrip nbd2 /tmp/disk.img "client ioctl" 1M 1
check "client ioctl: status shows /dev/nbd2 connected, 33554432 bytes, block 512" \
	status_row nbd2 connected 33554432 512
check "client ioctl: -c /dev/nbd2 exits 0 and prints a pid" check_pid nbd2
check_eq "client ioctl: -c prints the NBD_DO_IT process" "$pid" "$(cat "$STATE/cmd.out")"
detach_ours "client ioctl" nbd2 detach /dev/nbd2
check "client ioctl: the NBD_DO_IT process ended" wait_until 10 sh -c "! kill -0 $pid"
check_eq "client ioctl: -c /dev/nbd2 exits 1 after the detach" 1 "$(check_status nbd2)"
check "client ioctl: detach /dev/nbd2 again succeeds (nothing to do)" ours detach /dev/nbd2

# No device: the client picks a free one; the reference syntax's -d detaches.
check "client ioctl: attach 127.0.0.1:10809 -N disk -L (no device)" attach_ours attach 127.0.0.1:10809 -N disk -L
dev=$DEV
[ -n "$dev" ] || exit 0
diag "the client chose /dev/$dev"
pid=$(cat "/sys/block/$dev/pid" 2>/dev/null)
check "client ioctl: the NBD_DO_IT process ($pid) runs" kill -0 "$pid"
make_file /tmp/pattern 1
check "client ioctl: 1 MiB O_DIRECT write and read-back through /dev/$dev" \
	sh -c "dd if=/tmp/pattern of=/dev/$dev bs=1M seek=1 oflag=direct conv=notrunc 2>/dev/null &&
		dd if=/dev/$dev bs=1M skip=1 count=1 iflag=direct 2>/dev/null | cmp - /tmp/pattern"
detach_ours "client ioctl" "$dev" -d "/dev/$dev"
check "client ioctl: the NBD_DO_IT process ended after -d" wait_until 10 sh -c "! kill -0 $pid"
server_alive "after our ioctl client detached"
