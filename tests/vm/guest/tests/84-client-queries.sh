# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-client asking a server about its exports (list, -l, info, --json), attaching from
# /etc/nbdtab and from another file (--nbdtab), over a Unix socket, and status and detach --all with
# several devices attached.
need_ours "client queries: list, info, nbdtab with our nbd-client"
truncate -s 32M /tmp/disk.img
start_server 10809 --unix /run/nbd.sock --export disk=/tmp/disk.img --description "test disk" \
	--export mem=memory:16M || exit 0

check "client list: nbd-client list 127.0.0.1" ours list 127.0.0.1
check "client list: names 'disk' with its description" grep -qx "disk: test disk" "$STATE/cmd.out"
check "client list: names 'mem'" grep -qx "mem" "$STATE/cmd.out"
check "client list: nbd-client -l 127.0.0.1 10809" ours -l 127.0.0.1 10809
check "client list: -l names 'disk' with its description and 'mem'" \
	sh -c "grep -qx 'disk: test disk' $STATE/cmd.out && grep -qx mem $STATE/cmd.out"
check "client list: list 127.0.0.1:10809 --json" ours list 127.0.0.1:10809 --json
check "client list: the JSON has disk and its description" \
	grep -qF '{"name": "disk", "description": "test disk"}' "$STATE/cmd.out"
check "client info: info nbd://127.0.0.1/disk --json" ours info nbd://127.0.0.1/disk --json
check_eq "client info: JSON size" 33554432 "$(json_field "$STATE/cmd.out" size)"
check_eq "client info: JSON description" "test disk" "$(json_field "$STATE/cmd.out" description)"
check "client info: info nbd://127.0.0.1:10809/mem (text)" ours info nbd://127.0.0.1:10809/mem
check "client info: text says size: 16777216" grep -qx "size: 16777216" "$STATE/cmd.out"
check "client info: over the Unix socket (nbd+unix:///mem?socket=/run/nbd.sock)" \
	ours info "nbd+unix:///mem?socket=/run/nbd.sock"
check "client info: the Unix socket's answer says size: 16777216" grep -qx "size: 16777216" "$STATE/cmd.out"

cat >/etc/nbdtab <<TAB
# device host export options
nbd5	127.0.0.1	disk	port=10809,bs=512,_local=ignored
TAB
check "client nbdtab: nbd-client nbd5 (from /etc/nbdtab)" attach_ours nbd5
check_eq "client nbdtab: prints /dev/nbd5" nbd5 "$DEV"
check_eq "client nbdtab: /sys/block/nbd5/size is 32 MiB" 65536 "$(cat /sys/block/nbd5/size 2>&1)"
check_eq "client nbdtab: bs=512 from the line" 512 "$(cat /sys/block/nbd5/queue/logical_block_size 2>&1)"
check_eq "client nbdtab: backend is the line's URI" "nbd://127.0.0.1:10809/disk" "$(cat /sys/block/nbd5/backend 2>&1)"
rm -f /etc/nbdtab
printf '/dev/nbd6 127.0.0.1 mem port=10809\n' >/tmp/alt.nbdtab
check "client nbdtab: nbd-client --nbdtab /tmp/alt.nbdtab nbd6" attach_ours --nbdtab /tmp/alt.nbdtab nbd6
check_eq "client nbdtab: /sys/block/nbd6/size is 16 MiB (export mem)" 32768 "$(cat /sys/block/nbd6/size 2>&1)"
check "client unix: attach nbd+unix:///mem?socket=/run/nbd.sock /dev/nbd7" \
	attach_ours attach "nbd+unix:///mem?socket=/run/nbd.sock" /dev/nbd7
check_eq "client unix: backend is the Unix URI" "nbd+unix:///mem?socket=/run/nbd.sock" \
	"$(cat /sys/block/nbd7/backend 2>&1)"

check "client status: nbd-client status" ours status
check_eq "client status: lists exactly the attached devices" "/dev/nbd5 /dev/nbd6 /dev/nbd7 " \
	"$(awk 'NR > 1 { printf "%s ", $1 }' "$STATE/cmd.out")"
check "client status: status --json" ours status --json
check_eq "client status: JSON has 3 connected devices" 3 "$(grep -o '"connected": true' "$STATE/cmd.out" | wc -l)"
check "client status: detach --all" ours detach --all
none_connected() { [ -z "$(connected_devices | tr -d ' ')" ]; }
check "client status: nothing connected after detach --all" wait_until 10 none_connected
check "client status: status lists no device then" sh -c "$NBDM_CLIENT status | awk 'NR > 1 { exit 1 }'"
server_alive "after the query tests"
