# SPDX-License-Identifier: GPL-2.0-or-later
# Our server's other backends under the real driver: a memory export, and a copy-on-write export whose
# writes must land in the overlay, never in the file.
start_server 10809 --export mem=memory:64M || exit 0
check "memory: attach /dev/nbd0 (-N mem)" attach nbd0 10809 -N mem
check_eq "memory: /sys/block/nbd0/size is 64 MiB" 131072 "$(cat /sys/block/nbd0/size)"
make_file /tmp/pattern 4
check "memory: write 4 MiB with O_DIRECT" \
	to dd if=/tmp/pattern of=/dev/nbd0 bs=1M seek=3 oflag=direct conv=fsync,notrunc
check "memory: read 4 MiB back with O_DIRECT" to dd if=/dev/nbd0 of=/tmp/readback bs=1M skip=3 count=4 iflag=direct
check "memory: data read back equals data written" cmp /tmp/pattern /tmp/readback
detach_check nbd0
stop_pid "$SERVER_PID"

truncate -s 64M /tmp/base.img
dd if=/dev/urandom of=/tmp/base.img bs=1M count=8 conv=notrunc 2>/dev/null
before=$(md5sum </tmp/base.img)
start_server 10809 -c --export cow=/tmp/base.img || exit 0
check "copy-on-write: attach /dev/nbd0 (-N cow)" attach nbd0 10809 -N cow
check "copy-on-write: device reads the base before any write" same_range /dev/nbd0 0 /tmp/base.img 0 8
make_file /tmp/pattern 4
check "copy-on-write: write 4 MiB with O_DIRECT" \
	to dd if=/tmp/pattern of=/dev/nbd0 bs=1M seek=3 oflag=direct conv=fsync,notrunc
check "copy-on-write: read 4 MiB back with O_DIRECT" \
	to dd if=/dev/nbd0 of=/tmp/readback bs=1M skip=3 count=4 iflag=direct
check "copy-on-write: data read back equals data written" cmp /tmp/pattern /tmp/readback
check "copy-on-write: unwritten data still reads from the base" same_range /dev/nbd0 0 /tmp/base.img 0 3
check_eq "copy-on-write: the base file is unchanged" "$before" "$(md5sum </tmp/base.img)"
detach_check nbd0
server_alive "after the copy-on-write client detached"
