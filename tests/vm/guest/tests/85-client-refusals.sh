# SPDX-License-Identifier: GPL-2.0-or-later
# What our nbd-client must refuse, each with a failing exit status, a message that says why, and no
# device attached: an unknown export, a device in use, a -B size that is not a multiple of the block
# size, several connections without CAN_MULTI_CONN, a server that is not there, usage errors, a
# caller who is not root, and a sandbox without netlink.
need_ours "client refusals: our nbd-client refuses what it cannot do"
truncate -s 32M /tmp/disk.img
truncate -s 1000000 /tmp/odd.img
truncate -s 1000448 /tmp/odd512.img
start_server 10809 --export disk=/tmp/disk.img --export odd=/tmp/odd.img --export odd512=/tmp/odd512.img || exit 0

refused "client refuses an unknown export" "no export named 'nope'" attach nbd://127.0.0.1/nope /dev/nbd3
check "client refuses an unknown export: and names the exports there are (or suggests nbd-client list)" \
	grep -Eq "nbd-client list|'disk'" "$STATE/cmd.err"

check "client in use: attach nbd://127.0.0.1/disk /dev/nbd3" attach_ours attach nbd://127.0.0.1/disk /dev/nbd3
refused "client refuses a device in use (netlink)" "in use.*nbd://127\.0\.0\.1:10809/disk" \
	attach nbd://127.0.0.1/disk /dev/nbd3
refused "client refuses a device in use (-L)" "in use.*nbd://127\.0\.0\.1:10809/disk" \
	attach nbd://127.0.0.1/disk /dev/nbd3 -L
check_eq "client in use: /dev/nbd3 keeps its backend" "nbd://127.0.0.1:10809/disk" "$(cat /sys/block/nbd3/backend 2>&1)"
check "client in use: /dev/nbd3 still works" to dd if=/dev/nbd3 of=/dev/null bs=1M count=1 iflag=direct
detach_ours "client in use" nbd3 detach /dev/nbd3

# A size that is not a multiple of the block size is rounded down, as the reference does, with a
# warning that names the bytes the device cannot reach.
check "client odd size: attach an export of 1000000 bytes with -b 4096" \
	attach_ours attach nbd://127.0.0.1/odd /dev/nbd3 -b 4096
check_eq "client odd size: the device has 999424 bytes (244 blocks of 4096)" 1952 \
	"$(cat /sys/block/nbd3/size 2>&1)"
check "client odd size: the warning names the 576 bytes that cannot be reached" \
	grep -q "last 576 bytes of the export cannot be reached" "$STATE/cmd.err"
detach_ours "client odd size" nbd3 detach /dev/nbd3
check "client odd size: attach it with the default block size (512)" \
	attach_ours attach nbd://127.0.0.1/odd /dev/nbd3
check_eq "client odd size: the device has 999936 bytes" 1953 "$(cat /sys/block/nbd3/size 2>&1)"
check "client odd size: the warning names the last 64 bytes" grep -q "last 64 bytes" "$STATE/cmd.err"
detach_ours "client odd size (512)" nbd3 detach /dev/nbd3
check "client odd size: an export of 1000448 bytes attaches whole, without a warning" \
	attach_ours attach nbd://127.0.0.1/odd512 /dev/nbd3
check_eq "client odd size: 1000448 bytes" 1954 "$(cat /sys/block/nbd3/size 2>&1)"
check_fails "client odd size: no warning for a whole number of blocks" grep -q "cannot be reached" "$STATE/cmd.err"
detach_ours "client odd size (whole)" nbd3 detach /dev/nbd3
refused "client refuses -B that is not a multiple of the block size" "not a multiple of the block size" \
	attach nbd://127.0.0.1/disk /dev/nbd3 -B 1000

start_server 10810 -c --export cow=/tmp/disk.img || exit 0
refused "client refuses -C 2 without CAN_MULTI_CONN (copy-on-write export)" "CAN_MULTI_CONN" \
	attach nbd://127.0.0.1:10810/cow /dev/nbd3 -C 2
no_connections() { [ "$(established 10810)" = 0 ]; }
check "client refuses -C 2 without CAN_MULTI_CONN: no connection left open" wait_until 10 no_connections

refused "client refuses a server that is not listening" "[Cc]onnection refused" \
	attach nbd://127.0.0.1:10899/disk /dev/nbd3
refused "client refuses -P without -B" "-B" 127.0.0.1 10809 /dev/nbd3 -N disk -P
refused "client refuses -i with -L" "-L" attach nbd://127.0.0.1/disk /dev/nbd3 -i x -L
refused "client refuses --negotiated without --size" "--size" attach --fd 0 --negotiated /dev/nbd3
refused "client refuses a device name that is not /dev/nbdN" "nbd" attach nbd://127.0.0.1/disk /dev/sda
refused_with "client refuses a caller who is not root" "root" \
	su -s /bin/sh -c "$NBDM_CLIENT attach nbd://127.0.0.1/disk /dev/nbd3" nobody
# A sandbox that denies AF_NETLINK (a unit's RestrictAddressFamilies=, a container's seccomp): the
# client says what failed and what to do, where it once exited 1 without a word; -L still attaches.
if [ -n "$DENY_NETLINK" ] && [ -x "$DENY_NETLINK" ]; then
	refused_with "client refuses to attach when a sandbox denies netlink" \
		"netlink socket.*Address family not supported.*-L \(--nonetlink\)" \
		"$DENY_NETLINK" "$NBDM_CLIENT" attach nbd://127.0.0.1/disk /dev/nbd3
	check "client without netlink: -L attaches through ioctls" \
		attach_with "$DENY_NETLINK" "$NBDM_CLIENT" attach nbd://127.0.0.1/disk /dev/nbd3 -L
	detach_ours "client without netlink (-L)" nbd3 detach /dev/nbd3
else
	ok "client refuses to attach when a sandbox denies netlink # SKIP \$DENY_NETLINK: the helper is not in the image"
fi
server_alive "after the refusals"
