# SPDX-License-Identifier: GPL-2.0-or-later
# Requests of 32 MiB, the largest the NBD protocol tells clients they may send without block size
# negotiation (and the nbd driver's max_hw_sectors): the kernel normally caps requests at 1.25 MiB,
# raising max_sectors_kb lets one O_DIRECT write and one read go out whole.
truncate -s 64M /tmp/disk.img
start_server 10809 --export disk=/tmp/disk.img || exit 0
check "large: attach /dev/nbd0" attach nbd0 10809 -N disk
q=/sys/block/nbd0/queue
diag "max_hw_sectors_kb=$(cat $q/max_hw_sectors_kb) max_sectors_kb=$(cat $q/max_sectors_kb)"
check "large: max_sectors_kb raised to 32768" sh -c "echo 32768 >$q/max_sectors_kb"
make_file /tmp/pattern 32
# /sys/block/X/stat: field 1 counts completed reads, field 5 completed writes.
writes_before=$(awk '{ print $5 }' /sys/block/nbd0/stat)
check "large: one 32 MiB O_DIRECT write" to dd if=/tmp/pattern of=/dev/nbd0 bs=32M count=1 seek=1 oflag=direct conv=notrunc
diag "write requests the kernel completed for it: $(($(awk '{ print $5 }' /sys/block/nbd0/stat) - writes_before)) (1 = sent whole)"
check "large: backing file holds the 32 MiB" same_range /tmp/disk.img 32 /tmp/pattern 0 32
reads_before=$(awk '{ print $1 }' /sys/block/nbd0/stat)
check "large: one 32 MiB O_DIRECT read" to dd if=/dev/nbd0 of=/tmp/readback bs=32M count=1 skip=1 iflag=direct
diag "read requests the kernel completed for it: $(($(awk '{ print $1 }' /sys/block/nbd0/stat) - reads_before)) (1 = sent whole)"
check "large: data read equals data written" cmp /tmp/pattern /tmp/readback
rm -f /tmp/pattern /tmp/readback
detach_check nbd0
server_alive "after 32 MiB requests"
