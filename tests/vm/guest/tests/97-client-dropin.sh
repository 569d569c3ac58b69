# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-client in place of the reference on the same disk and the same command line: 512-byte
# sectors by default (a partition table and a 1 KiB-block file system made through Debian's
# nbd-client read back the same), "Connected /dev/nbdN", a device in use that detach refuses, a
# server's connection limit refused at attach, the real number of connections, dead devices and
# supervisors, partitions for -c, and devices that do not exist.
need_ours "client drop-in: our nbd-client reads what the reference's made"
truncate -s 32M /tmp/disk.img
# An MBR with two Linux partitions in 512-byte sectors: 2048+16384 and 18432+30720.
make_mbr /tmp/disk.img
start_server 10809 --export disk=/tmp/disk.img || exit 0

# ---- made through the reference: a 1 KiB-block ext2 on the first partition
check "client drop-in: Debian's nbd-client attaches /dev/nbd0" attach nbd0 10809 -N disk
dd if=/dev/nbd0 of=/dev/null bs=512 count=1 2>/dev/null # the first open reads the partitions
check "client drop-in: the reference sees /dev/nbd0p1" wait_until 10 test -b /dev/nbd0p1
check "client drop-in: mke2fs -b 1024 on /dev/nbd0p1 through the reference" to mke2fs -F -q -b 1024 /dev/nbd0p1
check "client drop-in: mount it through the reference" to mount -t ext2 /dev/nbd0p1 /mnt
make_file /tmp/pattern 2
check "client drop-in: write a file" cp /tmp/pattern /mnt/file
check "client drop-in: umount" to umount /mnt
detach_check nbd0

# ---- the same command line with ours
check "client drop-in: ours attaches with the same command line (127.0.0.1 10809 /dev/nbd0 -N disk)" \
	attach_ours 127.0.0.1 10809 /dev/nbd0 -N disk
check_eq "client drop-in: prints the reference's line" "Connected /dev/nbd0" "$(head -n 1 "$STATE/cmd.out")"
check_eq "client drop-in: logical_block_size 512, as the reference's" 512 \
	"$(cat /sys/block/nbd0/queue/logical_block_size 2>&1)"
dd if=/dev/nbd0 of=/dev/null bs=512 count=1 2>/dev/null
check "client drop-in: /dev/nbd0p1 and p2 exist" wait_until 10 test -b /dev/nbd0p2
check_eq "client drop-in: p1 starts at sector 2048" 2048 "$(cat /sys/block/nbd0/nbd0p1/start 2>&1)"
check_eq "client drop-in: p1 has 16384 sectors" 16384 "$(cat /sys/block/nbd0/nbd0p1/size 2>&1)"
check_eq "client drop-in: p2 starts at sector 18432" 18432 "$(cat /sys/block/nbd0/nbd0p2/start 2>&1)"
check_eq "client drop-in: p2 has 30720 sectors" 30720 "$(cat /sys/block/nbd0/nbd0p2/size 2>&1)"
check "client drop-in: mount the 1 KiB-block ext2 made through the reference" \
	to mount -t ext2 /dev/nbd0p1 /mnt
check "client drop-in: the file reads back" cmp /tmp/pattern /mnt/file
check "client drop-in: -c /dev/nbd0p1 answers for its disk" sh -c \
	"'$NBDM_CLIENT' -c /dev/nbd0p1 | grep -qx '$(cat /sys/block/nbd0/pid)'"

# ---- detach refuses a device in use
refused "client drop-in: -d refuses a mounted device and names the mount" \
	"nbd0p1 is mounted on /mnt" -d /dev/nbd0
check "client drop-in: the refused device still works (write and sync)" \
	sh -c 'cp /tmp/pattern /mnt/file2 && sync && cmp /tmp/pattern /mnt/file2'
check "client drop-in: umount" to umount /mnt
sleep 60 </dev/nbd0p2 &
holder=$!
echo "$holder" >>"$STATE/pids"
wait_until 5 sh -c "ls -l /proc/$holder/fd 2>/dev/null | grep -q nbd0p2"
refused "client drop-in: detach refuses a device a process holds open, naming it" \
	"nbd0p2 is open in process $holder \\(sleep\\)" detach /dev/nbd0
check "client drop-in: detach --force detaches it anyway" ours detach --force /dev/nbd0
# The kernel keeps the device's set-up until the last opener closes it.
stop_pid "$holder"
check "client drop-in: /dev/nbd0 is disconnected once the holder is gone" wait_until 10 disconnected nbd0

# ---- -b preferred is the explicit way to the server's preferred block size
check "client drop-in: attach -b preferred" attach_ours attach nbd://127.0.0.1/disk /dev/nbd0 -b preferred
check_eq "client drop-in: -b preferred gives the server's 4096" 4096 \
	"$(cat /sys/block/nbd0/queue/logical_block_size 2>&1)"
check_eq "client drop-in: the attach subcommand prints the bare device" "/dev/nbd0" "$(head -n 1 "$STATE/cmd.out")"
detach_ours "client drop-in -b preferred" nbd0 detach /dev/nbd0

# ---- real connection counts (2 CPUs, so the kernel has only 2 queues for 4 connections)
check "client drop-in: attach -C 4" attach_ours attach nbd://127.0.0.1/disk /dev/nbd1 -C 4
ours status >/dev/null 2>&1
check_eq "client drop-in: status says CONNS 4" 4 \
	"$(awk '$1 == "/dev/nbd1" { print $6 }' "$STATE/cmd.out")"
ours status --json /dev/nbd1 >/dev/null 2>&1
check_eq "client drop-in: status --json says 4 connections" 4 "$(json_field "$STATE/cmd.out" connections)"
check_eq "client drop-in: status --json: no TLS" null "$(json_field "$STATE/cmd.out" tls)"
check "client drop-in: Debian's nbd-client attaches /dev/nbd2 with 4 connections" \
	attach nbd2 10809 -N disk -connections 4
ours status >/dev/null 2>&1
check_eq "client drop-in: a device attached by another program: CONNS is a lower bound (2+)" "2+" \
	"$(awk '$1 == "/dev/nbd2" { print $6 }' "$STATE/cmd.out")"
ours status >/dev/null 2>&1
table=$(awk 'NR > 1 && $1 ~ /^\/dev\// { printf "%s ", $1 }' "$STATE/cmd.out")
ours status --json >/dev/null 2>&1
json=$(grep -o '"device": "[^"]*"' "$STATE/cmd.out" | sed 's/.*: "//; s/"$//' | tr '\n' ' ')
check_eq "client drop-in: status and status --json list the same devices" "$table" "$json"
detach_check nbd2
detach_ours "client drop-in -C 4" nbd1 detach /dev/nbd1

# ---- devices that do not exist
refused "client drop-in: -d of a device that does not exist" "nbd99 does not exist" -d /dev/nbd99
refused "client drop-in: status of a device that does not exist" "nbd99 does not exist" status nbd99
check_eq "client drop-in: -c of a device that does not exist exits 1" 1 "$(check_status nbd99)"

# ---- a server's connection limit: refused during the handshake, no device attached
truncate -s 16M /tmp/limited.img
printf '[generic]\n[limited]\nexportname = /tmp/limited.img\nmaxconnections = 1\n' >/tmp/limit.conf
start_server 10811 -C /tmp/limit.conf || exit 0
check "client drop-in: attach the export limited to one connection" \
	attach_ours attach nbd://127.0.0.1:10811/limited /dev/nbd3
refused "client drop-in: a second attach beyond maxconnections fails" "limit|maxconnections|too many" \
	attach nbd://127.0.0.1:10811/limited /dev/nbd4
detach_ours "client drop-in: limit" nbd3 detach /dev/nbd3
refused "client drop-in: -C 2 beyond maxconnections = 1 fails" "limit|maxconnections|too many" \
	attach nbd://127.0.0.1:10811/limited /dev/nbd4 -C 2
check "client drop-in: one connection attaches again once the slot is free" \
	attach_ours attach nbd://127.0.0.1:10811/limited /dev/nbd4
detach_ours "client drop-in: limit" nbd4 detach /dev/nbd4
server_alive "after the connection limit"

# ---- dead devices: the server goes away under a device without -persist
truncate -s 16M /tmp/dead.img
start_server 10812 --export dead=/tmp/dead.img || exit 0
dead_server=$SERVER_PID
check "client drop-in: attach without -persist" attach_ours attach nbd://127.0.0.1:10812/dead /dev/nbd5
check "client drop-in: -c says connected while the server lives" check_pid nbd5
stop_pid "$dead_server"
dead_row() { ours status nbd5 >/dev/null 2>&1; awk '$1 == "/dev/nbd5" { print $2 }' "$STATE/cmd.out" | grep -qx dead; }
check "client drop-in: status shows the device dead once its server is gone" wait_until 10 dead_row
check_eq "client drop-in: -c exits 1 for a dead device" 1 "$(check_status nbd5)"
ours -c /dev/nbd5 >/dev/null 2>&1
check "client drop-in: -c says why" grep -q "every connection to its server is closed" "$STATE/cmd.err"
detach_ours "client drop-in: a dead device detaches" nbd5 detach /dev/nbd5
# The same over a Unix socket, whose state only sock_diag shows.
start_server 10813 --unix /run/dead.sock --export dead=/tmp/dead.img || exit 0
check "client drop-in: attach over a Unix socket" \
	attach_ours attach "nbd+unix:///dead?socket=/run/dead.sock" /dev/nbd7
unix_row() { ours status nbd7 >/dev/null 2>&1; awk '$1 == "/dev/nbd7" { print $2 }' "$STATE/cmd.out" | grep -qx "$1"; }
check "client drop-in: status shows the Unix socket's device connected" unix_row connected
stop_pid "$SERVER_PID"
check "client drop-in: and dead once its server is gone" wait_until 10 unix_row dead
detach_ours "client drop-in: the dead Unix device detaches" nbd7 detach /dev/nbd7

# ---- a supervisor that was killed
start_server 10812 --export dead=/tmp/dead.img || exit 0
check "client drop-in: attach -persist" attach_ours attach -persist nbd://127.0.0.1:10812/dead /dev/nbd6
sup=$(sup_field nbd6 pid)
kill -9 "$sup" 2>/dev/null
wait_until 5 sh -c "! kill -0 $sup 2>/dev/null"
ours status nbd6 >/dev/null 2>&1
check "client drop-in: status says the supervisor is gone" grep -q "supervisor $sup is gone" "$STATE/cmd.out"
check "client drop-in: the device still works while its connection lives" \
	to dd if=/dev/nbd6 of=/dev/null bs=4k count=1 iflag=direct
refused_with "client drop-in: reconnect says the supervisor is no longer running" \
	"supervisor \\(pid $sup\\) is no longer running" "$NBDM_CLIENT" reconnect /dev/nbd6
stop_pid "$SERVER_PID"
dead6() { ours status nbd6 >/dev/null 2>&1; awk '$1 == "/dev/nbd6" { print $2 }' "$STATE/cmd.out" | grep -qx dead; }
check "client drop-in: without its supervisor, the device is dead once the server goes" wait_until 10 dead6
check_eq "client drop-in: -c exits 1" 1 "$(check_status nbd6)"
detach_ours "client drop-in: the orphaned device detaches" nbd6 detach /dev/nbd6
