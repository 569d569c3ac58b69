# SPDX-License-Identifier: GPL-2.0-or-later
# A read-only export (our server -r): the kernel marks the device read-only, reads work, writes fail
# and the backing file stays as it was.
truncate -s 64M /tmp/ro.img
make_file /tmp/pattern 4
dd if=/tmp/pattern of=/tmp/ro.img bs=1M seek=3 conv=notrunc 2>/dev/null
before=$(md5sum </tmp/ro.img)
start_server 10810 -r --export ro=/tmp/ro.img || exit 0
check "read-only: attach /dev/nbd1 (-N ro)" attach nbd1 10810 -N ro
check_eq "read-only: /sys/block/nbd1/ro is 1" 1 "$(cat /sys/block/nbd1/ro 2>&1)"
check "read-only: the kernel has NBD_FLAG_READ_ONLY" test $(($(nbd_flags nbd1) & 0x2)) -ne 0
check "read-only: O_DIRECT read of the data" \
	to dd if=/dev/nbd1 of=/tmp/readback bs=1M skip=3 count=4 iflag=direct
check "read-only: data read equals the backing file" cmp /tmp/pattern /tmp/readback
check_fails "read-only: an O_DIRECT write to /dev/nbd1 fails" \
	to dd if=/tmp/pattern of=/dev/nbd1 bs=1M count=1 oflag=direct conv=notrunc
check_fails "read-only: a buffered write to /dev/nbd1 fails" \
	to dd if=/tmp/pattern of=/dev/nbd1 bs=1M count=1 conv=fsync,notrunc
check_eq "read-only: backing file unchanged" "$before" "$(md5sum </tmp/ro.img)"
detach_check nbd1
server_alive "after the read-only client detached"
