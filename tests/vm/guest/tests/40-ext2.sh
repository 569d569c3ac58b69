# SPDX-License-Identifier: GPL-2.0-or-later
# A file system on the device: mke2fs, mount, write a file, unmount, detach, re-attach, mount again and
# find the file intact. The re-attach makes the data come back from the server, not the page cache.
truncate -s 64M /tmp/disk.img
start_server 10809 --export disk=/tmp/disk.img || exit 0
check "ext2: attach /dev/nbd0" attach nbd0 10809 -N disk
check "ext2: mke2fs /dev/nbd0" to mke2fs -F /dev/nbd0
check "ext2: mount /dev/nbd0 /mnt" to mount -t ext2 /dev/nbd0 /mnt
make_file /tmp/pattern 8
check "ext2: write an 8 MiB file" cp /tmp/pattern /mnt/file
check "ext2: umount /mnt" to umount /mnt
detach_check nbd0
check "ext2: attach /dev/nbd0 again" attach nbd0 10809 -N disk
check "ext2: mount /dev/nbd0 /mnt again" to mount -t ext2 /dev/nbd0 /mnt
check "ext2: the file survived umount, detach and re-attach" cmp /tmp/pattern /mnt/file
check "ext2: umount /mnt" to umount /mnt
detach_check nbd0
server_alive "after the file system test"
