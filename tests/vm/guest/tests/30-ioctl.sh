# SPDX-License-Identifier: GPL-2.0-or-later
# The same over the ioctl interface (-L): nbd-client forks a child that sits in NBD_DO_IT for as long
# as the device is attached.
truncate -s 64M /tmp/disk.img
start_server 10809 --export disk=/tmp/disk.img || exit 0
check "ioctl: attach /dev/nbd0 (-N disk -L)" attach nbd0 10809 -N disk -L
check "ioctl: /dev/nbd0 is attached" wait_until 10 attached nbd0
check_eq "ioctl: /sys/block/nbd0/size is 64 MiB in 512-byte sectors" 131072 "$(cat /sys/block/nbd0/size)"
pid=$(cat /sys/block/nbd0/pid 2>/dev/null)
check "ioctl: the NBD_DO_IT process ($pid) runs" kill -0 "$pid"
io_roundtrip nbd0 /tmp/disk.img "ioctl"
detach_check nbd0
check "ioctl: the NBD_DO_IT process ended" wait_until 10 sh -c "! kill -0 $pid"
server_alive "after the ioctl client detached"
