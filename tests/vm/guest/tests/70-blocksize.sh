# SPDX-License-Identifier: GPL-2.0-or-later
# A 4096-byte block size (-b 4096): the kernel's logical block size follows, I/O in 4 KiB units works.
truncate -s 64M /tmp/disk.img
start_server 10809 --export disk=/tmp/disk.img || exit 0
check "block size: attach /dev/nbd0 (-b 4096)" attach nbd0 10809 -N disk -b 4096
check_eq "block size: logical_block_size is 4096" 4096 "$(cat /sys/block/nbd0/queue/logical_block_size)"
check_eq "block size: /sys/block/nbd0/size is 64 MiB" 131072 "$(cat /sys/block/nbd0/size)"
# 64 KiB requests: multiples of the block size, and far fewer of them than 4 KiB ones under TCG.
io_roundtrip nbd0 /tmp/disk.img "block size 4096" 64k
detach_check nbd0
server_alive "after the 4096-byte block size client detached"
