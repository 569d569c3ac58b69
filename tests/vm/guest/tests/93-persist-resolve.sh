# SPDX-License-Identifier: GPL-2.0-or-later
# A -persist device attached by host name keeps reconnecting when the name no longer resolves (a
# supervisor started in an initramfs loses /etc/hosts, resolv.conf and NSS at the switch to the real
# root; a name server may be down when the NBD server is not): the supervisor tries the address that
# worked before.
need_ours "persist: reconnection when the name no longer resolves"
truncate -s 32M /tmp/disk.img
cp /etc/hosts /tmp/hosts.orig
echo "127.0.0.1 nbd-test-host" >>/etc/hosts
start_server 10816 --export disk=/tmp/disk.img || exit 0
check "persist resolve: attach -p -n nbd://nbd-test-host:10816/disk" \
	start_supervisor sup-resolve attach -p -n -t 5 nbd://nbd-test-host:10816/disk /dev/nbd7
[ "$DEV" = nbd7 ] || { cp /tmp/hosts.orig /etc/hosts; exit 0; }
errors_before=$(nbd_io_errors nbd7)
server_kill
cp /tmp/hosts.orig /etc/hosts
make_file /tmp/pattern 2
(
	dd if=/tmp/pattern of=/dev/nbd7 bs=1M seek=4 oflag=direct conv=fsync,notrunc 2>&1 &&
		dd if=/dev/nbd7 of=/tmp/resolve-back bs=1M skip=4 count=2 iflag=direct 2>&1 &&
		cmp /tmp/pattern /tmp/resolve-back && echo DONE
) >/tmp/resolve-io.log 2>&1 &
io=$!
sleep 2
server_up 10816 --export disk=/tmp/disk.img
# A new process cannot reach it by that name any more.
refused "persist resolve: the name no longer resolves for a new nbd-client" "Cannot resolve host 'nbd-test-host'" \
	info nbd://nbd-test-host:10816/disk
check "persist resolve: reconnected to the address that worked before" \
	wait_until 30 sup_reconnects_at_least nbd7 1
wait "$io"
check_eq "persist resolve: the I/O that waited completed and verified" DONE "$(tail -n 1 /tmp/resolve-io.log)"
check_eq "persist resolve: the kernel logged no I/O error" "$errors_before" "$(nbd_io_errors nbd7)"
detach_ours "persist resolve" nbd7 detach /dev/nbd7
