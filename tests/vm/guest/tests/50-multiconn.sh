# SPDX-License-Identifier: GPL-2.0-or-later
# Four connections to one export (-C 4; our server advertises CAN_MULTI_CONN). The kernel gives each
# connection a hardware queue; two writers on different CPUs spread requests across them.
truncate -s 64M /tmp/disk.img
start_server 10809 --export disk=/tmp/disk.img || exit 0
check "multi-conn: attach /dev/nbd0 with 4 connections (-C 4)" attach nbd0 10809 -N disk -C 4
check "multi-conn: /dev/nbd0 is attached" wait_until 10 attached nbd0
check_eq "multi-conn: 4 connections to the server" 4 "$(established 10809)"
make_file /tmp/pattern-a 8
make_file /tmp/pattern-b 8
taskset 1 dd if=/tmp/pattern-a of=/dev/nbd0 bs=64k seek=1M oflag=direct,seek_bytes conv=fsync,notrunc \
	2>/tmp/dd-a.log &
a=$!
taskset 2 dd if=/tmp/pattern-b of=/dev/nbd0 bs=64k seek=32M oflag=direct,seek_bytes conv=fsync,notrunc \
	2>/tmp/dd-b.log &
b=$!
check "multi-conn: writer 1 (8 MiB at 1 MiB, CPU 0)" wait "$a"
check "multi-conn: writer 2 (8 MiB at 32 MiB, CPU 1)" wait "$b"
check "multi-conn: device reads back writer 1's data" same_range /dev/nbd0 1 /tmp/pattern-a 0 8
check "multi-conn: device reads back writer 2's data" same_range /dev/nbd0 32 /tmp/pattern-b 0 8
check "multi-conn: backing file holds writer 1's data" same_range /tmp/disk.img 1 /tmp/pattern-a 0 8
check "multi-conn: backing file holds writer 2's data" same_range /tmp/disk.img 32 /tmp/pattern-b 0 8
# Buffered I/O: writeback and readahead put many requests in flight at once over all connections.
make_file /tmp/pattern-c 16
check "multi-conn: buffered write of 16 MiB at 40 MiB, then sync" \
	sh -c "dd if=/tmp/pattern-c of=/dev/nbd0 bs=1M seek=40 conv=notrunc 2>/dev/null && sync"
check "multi-conn: backing file holds the buffered data" same_range /tmp/disk.img 40 /tmp/pattern-c 0 16
check "multi-conn: drop the page cache" sh -c "echo 3 >/proc/sys/vm/drop_caches"
check "multi-conn: buffered read-back equals the data" same_range /dev/nbd0 40 /tmp/pattern-c 0 16
detach_check nbd0
no_connections() { [ "$(established 10809)" = 0 ]; }
check "multi-conn: no connection left" wait_until 10 no_connections
server_alive "after the multi-connection client detached"
