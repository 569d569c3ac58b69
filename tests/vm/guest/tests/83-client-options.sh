# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-client's attach options against our server: four connections (-C 4), read-only (-R, and a
# read-only export), and block sizes (-b 512, -b 4096).
need_ours "client options: -C, -R, -b with our nbd-client"
truncate -s 32M /tmp/disk.img
start_server 10809 --export disk=/tmp/disk.img || exit 0

check "client -C 4: attach nbd://127.0.0.1/disk /dev/nbd1 -C 4" attach_ours attach nbd://127.0.0.1/disk /dev/nbd1 -C 4
check_eq "client -C 4: 4 connections to the server" 4 "$(established 10809)"
# blk-mq caps the hardware queues (one per connection) at the number of CPUs: not an assertion.
diag "hardware queues of /dev/nbd1: $(ls /sys/block/nbd1/mq 2>/dev/null | wc -l) ($(nproc) CPUs)"
io_roundtrip nbd1 /tmp/disk.img "client -C 4" 256k 2
detach_ours "client -C 4" nbd1 detach /dev/nbd1
no_connections() { [ "$(established 10809)" = 0 ]; }
check "client -C 4: no connection left" wait_until 10 no_connections

make_file /tmp/pattern 1
dd if=/tmp/pattern of=/tmp/disk.img bs=1M seek=2 conv=notrunc 2>/dev/null
before=$(md5sum </tmp/disk.img)
check "client -R: attach a writable export read-only (reference syntax, -R)" \
	attach_ours 127.0.0.1 10809 /dev/nbd1 -N disk -R
check_eq "client -R: /sys/block/nbd1/ro is 1" 1 "$(cat /sys/block/nbd1/ro 2>&1)"
check "client -R: reads work" sh -c 'dd if=/dev/nbd1 bs=1M skip=2 count=1 iflag=direct 2>/dev/null | cmp - /tmp/pattern'
check_fails "client -R: an O_DIRECT write fails" to dd if=/tmp/pattern of=/dev/nbd1 bs=1M count=1 oflag=direct conv=notrunc
check_eq "client -R: backing file unchanged" "$before" "$(md5sum </tmp/disk.img)"
detach_ours "client -R" nbd1 -d /dev/nbd1

check "client -b 512: attach (reference syntax, -b 512)" attach_ours 127.0.0.1 10809 /dev/nbd1 -N disk -b 512
check_eq "client -b 512: logical_block_size is 512" 512 "$(cat /sys/block/nbd1/queue/logical_block_size 2>&1)"
head -c 512 /dev/urandom >/tmp/sector
# (busybox dd retries an O_DIRECT write the kernel refuses with EINVAL as a buffered one, so the
# opposite check, a 512-byte O_DIRECT write refused with -b 4096, cannot be made with it.)
check "client -b 512: a 512-byte O_DIRECT write at byte 512" \
	to dd if=/tmp/sector of=/dev/nbd1 bs=512 seek=1 count=1 oflag=direct conv=notrunc
check "client -b 512: it is at byte 512 of the backing file" \
	sh -c 'dd if=/tmp/disk.img bs=512 skip=1 count=1 2>/dev/null | cmp - /tmp/sector'
detach_ours "client -b 512" nbd1 -d /dev/nbd1
check "client -b 4096: attach (-b 4096)" attach_ours attach nbd://127.0.0.1/disk /dev/nbd1 -b 4096
check_eq "client -b 4096: logical_block_size is 4096" 4096 "$(cat /sys/block/nbd1/queue/logical_block_size 2>&1)"
check_eq "client -b 4096: /sys/block/nbd1/size is 32 MiB" 65536 "$(cat /sys/block/nbd1/size 2>&1)"
detach_ours "client -b 4096" nbd1 detach /dev/nbd1
# -g: NBD_OPT_EXPORT_NAME only, so no block size from the server (512); -B: a smaller device than the
# export; -t: the kernel's request timeout.
check "client -g -B -t: attach -g -B 16M -t 45" attach_ours attach nbd://127.0.0.1/disk /dev/nbd1 -g -B 16M -t 45
check_eq "client -g -B -t: /sys/block/nbd1/size is 16 MiB (-B)" 32768 "$(cat /sys/block/nbd1/size 2>&1)"
check_eq "client -g -B -t: logical_block_size is 512 (EXPORT_NAME tells no block size)" 512 \
	"$(cat /sys/block/nbd1/queue/logical_block_size 2>&1)"
# debugfs shows the timeout in seconds on some kernels, in jiffies on others (6.12: HZ=250).
timeout_45() {
	local t hz
	t=$(cat /sys/kernel/debug/nbd/nbd1/timeout) || return
	echo "debugfs timeout: $t"
	for hz in 1 100 250 300 1000; do
		[ "$t" = $((45 * hz)) ] && return 0
	done
	return 1
}
check "client -g -B -t: the kernel's timeout is 45 s (debugfs, seconds or jiffies)" timeout_45
detach_ours "client -g -B -t" nbd1 detach /dev/nbd1
stop_pid "$SERVER_PID"

truncate -s 16M /tmp/ro.img
dd if=/tmp/pattern of=/tmp/ro.img bs=1M seek=1 conv=notrunc 2>/dev/null
before=$(md5sum </tmp/ro.img)
start_server 10810 -r --export ro=/tmp/ro.img || exit 0
check "client read-only export: attach nbd://127.0.0.1:10810/ro /dev/nbd1" \
	attach_ours attach nbd://127.0.0.1:10810/ro /dev/nbd1
check_eq "client read-only export: /sys/block/nbd1/ro is 1" 1 "$(cat /sys/block/nbd1/ro 2>&1)"
check "client read-only export: the kernel has NBD_FLAG_READ_ONLY" test $(($(nbd_flags nbd1) & 0x2)) -ne 0
check "client read-only export: reads work" \
	sh -c 'dd if=/dev/nbd1 bs=1M skip=1 count=1 iflag=direct 2>/dev/null | cmp - /tmp/pattern'
check_fails "client read-only export: an O_DIRECT write fails" \
	to dd if=/tmp/pattern of=/dev/nbd1 bs=1M count=1 oflag=direct conv=notrunc
check_eq "client read-only export: backing file unchanged" "$before" "$(md5sum </tmp/ro.img)"
detach_ours "client read-only export" nbd1 detach /dev/nbd1
server_alive "after the read-only export"
