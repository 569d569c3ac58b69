# SPDX-License-Identifier: GPL-2.0-or-later
# Our server, Debian's nbd-client handing the socket to the kernel over generic netlink (its default).
truncate -s 64M /tmp/disk.img
start_server 10809 --export disk=/tmp/disk.img || exit 0
# lists PORT NAME: Debian's nbd-client -l (NBD_OPT_LIST) names export NAME, one name per line.
lists() { to "$DEB_NBD_CLIENT" -l 127.0.0.1 "$1" | grep -qx "$2"; }
check "nbd-client -l lists export 'disk'" lists 10809 disk
check "netlink: attach /dev/nbd0 (-N disk)" attach nbd0 10809 -N disk
check "netlink: /dev/nbd0 is attached" wait_until 10 attached nbd0
check_eq "netlink: /sys/block/nbd0/size is 64 MiB in 512-byte sectors" 131072 "$(cat /sys/block/nbd0/size)"
check_eq "netlink: one connection to the server" 1 "$(established 10809)"
flags=$(nbd_flags nbd0)
diag "transmission flags the kernel got: $(tr '\n' ' ' </sys/kernel/debug/nbd/nbd0/flags 2>&1)"
# Our server advertises these for a writable file export; the kernel must have taken them over.
for f in HAS_FLAGS:0x1 SEND_FLUSH:0x4 SEND_FUA:0x8 SEND_TRIM:0x20 SEND_WRITE_ZEROES:0x40 CAN_MULTI_CONN:0x100; do
	check "netlink: the kernel has NBD_FLAG_${f%%:*}" test $((flags & ${f#*:})) -ne 0
done
check "netlink: the export is not read-only (no NBD_FLAG_READ_ONLY)" test $((flags & 0x2)) -eq 0
io_roundtrip nbd0 /tmp/disk.img "netlink"
# Discard (the kernel sends NBD_CMD_TRIM) the middle MiB of the 4 MiB just written: the rest must stay.
# What a trimmed range reads as is up to the server; the NBD protocol does not promise zeroes.
check "netlink: blkdiscard 1 MiB at 4 MiB (NBD_CMD_TRIM)" to blkdiscard -o 4194304 -l 1048576 /dev/nbd0
check "netlink: data before the discarded range intact" same_range /tmp/disk.img 3 /tmp/pattern 0 1
check "netlink: data after the discarded range intact" same_range /tmp/disk.img 5 /tmp/pattern 2 2
head -c 1048576 /dev/zero >/tmp/zero-1m
if same_range /tmp/disk.img 4 /tmp/zero-1m 0 1; then
	diag "the discarded range reads as zeroes in the backing file"
else
	diag "the discarded range does not read as zeroes in the backing file"
fi
# Zero the next MiB (BLKZEROOUT: NBD_CMD_WRITE_ZEROES where the driver supports it, 6.12 does, else
# plain writes of zeroes); this time the protocol does promise zeroes.
diag "write_zeroes_max_bytes=$(cat /sys/block/nbd0/queue/write_zeroes_max_bytes) (0: the kernel writes zero pages instead)"
check "netlink: blkdiscard -z 1 MiB at 5 MiB (BLKZEROOUT)" to "$UL_BLKDISCARD" -f -z -o 5242880 -l 1048576 /dev/nbd0
check "netlink: the zeroed range reads as zeroes through the device" \
	sh -c "dd if=/dev/nbd0 bs=1M skip=5 count=1 iflag=direct 2>/dev/null | cmp - /tmp/zero-1m"
check "netlink: the zeroed range is zeroes in the backing file" same_range /tmp/disk.img 5 /tmp/zero-1m 0 1
check "netlink: data after the zeroed range intact" same_range /tmp/disk.img 6 /tmp/pattern 3 1
detach_check nbd0
server_alive "after the netlink client detached"
