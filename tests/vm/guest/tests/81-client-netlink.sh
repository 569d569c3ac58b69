# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-client with our server over netlink (its default): a given device and one the kernel picks,
# data through the device, a file system, the backend identifier, status, -c, detach in both
# spellings, and detaching twice.
need_ours "client netlink: our nbd-client attaches over netlink"
truncate -s 32M /tmp/disk.img
start_server 10809 --export disk=/tmp/disk.img || exit 0
check "client netlink: attach nbd://127.0.0.1/disk /dev/nbd3" attach_ours attach nbd://127.0.0.1/disk /dev/nbd3
check_eq "client netlink: prints /dev/nbd3" nbd3 "$DEV"
check_eq "client netlink: /sys/block/nbd3/size is 32 MiB" 65536 "$(cat /sys/block/nbd3/size 2>&1)"
check_eq "client netlink: logical_block_size is 512, the reference's default (the server prefers 4096)" 512 \
	"$(cat /sys/block/nbd3/queue/logical_block_size 2>&1)"
check_eq "client netlink: backend is the target's URI" "nbd://127.0.0.1:10809/disk" \
	"$(cat /sys/block/nbd3/backend 2>&1)"
check_eq "client netlink: one connection to the server" 1 "$(established 10809)"
check "client netlink: the kernel has the server's flags (SEND_FLUSH, SEND_TRIM, CAN_MULTI_CONN)" \
	test $(($(nbd_flags nbd3) & 0x124)) -eq $((0x124))
io_roundtrip nbd3 /tmp/disk.img "client netlink"
check "client netlink: status shows /dev/nbd3 connected, 33554432 bytes, block 512" \
	status_row nbd3 connected 33554432 512
ours status --json /dev/nbd3 >/dev/null 2>&1
check_eq "client netlink: status --json /dev/nbd3: connected true" true "$(json_field "$STATE/cmd.out" connected)"
check_eq "client netlink: status --json /dev/nbd3: size 33554432" 33554432 "$(json_field "$STATE/cmd.out" size)"
check "client netlink: -c /dev/nbd3 exits 0 and prints a pid" check_pid nbd3
detach_ours "client netlink" nbd3 detach /dev/nbd3
check_eq "client netlink: -c /dev/nbd3 exits 1 after the detach" 1 "$(check_status nbd3)"
ours status --json /dev/nbd3 >/dev/null 2>&1
check_eq "client netlink: status --json /dev/nbd3: connected false" false "$(json_field "$STATE/cmd.out" connected)"
check "client netlink: detach /dev/nbd3 again succeeds (nothing to do)" ours detach /dev/nbd3

# No device: the kernel picks one; -i replaces the backend identifier.
check "client netlink: attach 127.0.0.1:10809 -N disk -i test-backend (no device)" \
	attach_ours attach 127.0.0.1:10809 -N disk -i test-backend
dev=$DEV
[ -n "$dev" ] || exit 0
diag "the kernel chose /dev/$dev"
check_eq "client netlink: backend is the -i identifier" test-backend "$(cat "/sys/block/$dev/backend" 2>&1)"
# busybox mke2fs picks 1 KiB blocks on 32 MiB: a 512-byte logical block size mounts them.
check "client netlink: mke2fs /dev/$dev (1 KiB blocks)" to mke2fs -F -q "/dev/$dev"
check "client netlink: mount /dev/$dev" to mount -t ext2 "/dev/$dev" /mnt
make_file /tmp/pattern 4
check "client netlink: write a 4 MiB file" sh -c "grep -q '^/dev/$dev /mnt ' /proc/mounts && cp /tmp/pattern /mnt/file"
check "client netlink: umount" to umount /mnt
detach_ours "client netlink" "$dev" -d "/dev/$dev"
check_eq "client netlink: -c /dev/$dev exits 1 after -d" 1 "$(check_status "$dev")"
check "client netlink: attach again in the reference syntax (127.0.0.1 10809 /dev/$dev -N disk)" \
	attach_ours 127.0.0.1 10809 "/dev/$dev" -N disk
check "client netlink: mount /dev/$dev again" to mount -t ext2 "/dev/$dev" /mnt
check "client netlink: the file survived umount, detach and re-attach" \
	sh -c "grep -q '^/dev/$dev /mnt ' /proc/mounts && cmp /tmp/pattern /mnt/file"
check "client netlink: umount" to umount /mnt
check_eq "client netlink: backend after the reference syntax is the target's URI" \
	"nbd://127.0.0.1:10809/disk" "$(cat "/sys/block/$dev/backend" 2>&1)"
refused "client netlink: detach -i other-backend (a device of another backend)" "belongs to backend" \
	detach "/dev/$dev" -i other-backend
detach_ours "client netlink" "$dev" -d "/dev/$dev"
server_alive "after our netlink client detached"
