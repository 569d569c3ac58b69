# SPDX-License-Identifier: GPL-2.0-or-later
# -persist over the ioctl interface (-L): the kernel cannot take a new socket, so I/O fails while the
# server is away (the client warns of it), and the device is set up again when the server returns.
need_ours "persist -L: the ioctl path re-attaches"
truncate -s 32M /tmp/disk.img
start_server 10816 --export disk=/tmp/disk.img || exit 0
check "persist -L: attach -p -n -L" \
	start_supervisor sup6 attach -p -n -L nbd://127.0.0.1:10816/disk /dev/nbd6
[ "$DEV" = nbd6 ] || exit 0
check "persist -L: warns that I/O fails during a reconnect" grep -q 'I/O fails until then' /tmp/sup6.log
refused "persist -L: reconnect is refused (it would fail I/O)" "ioctl interface" reconnect /dev/nbd6
server_kill
check "persist -L: the supervisor notices the loss" \
	wait_until 30 grep -q 'lost its connection' /tmp/sup6.log
server_up 10816 --export disk=/tmp/disk.img
check "persist -L: reconnected when the server is back" \
	wait_until 30 grep -q 'reconnected to its server' /tmp/sup6.log
check "persist -L: the device is attached again" wait_until 10 attached nbd6
write_verify "persist -L: the device works again" nbd6 4
# Detach while the server is away: between two set-ups the device looks detached, and only its
# supervisor knows it would set it up again.
server_kill
check "persist -L: the supervisor notices the second loss" \
	wait_until 30 sh -c "[ \$(grep -c 'lost its connection' /tmp/sup6.log) -ge 2 ]"
check "persist -L: detach during the outage" ours detach /dev/nbd6
check "persist -L: detach ended the supervisor" wait_until 10 sh -c "! kill -0 $SUP_PID"
server_up 10816 --export disk=/tmp/disk.img
sleep 2
check "persist -L: the device stays detached when the server returns" disconnected nbd6
