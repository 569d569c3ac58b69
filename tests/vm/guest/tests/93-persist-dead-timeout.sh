# SPDX-License-Identifier: GPL-2.0-or-later
# A server away for longer than the dead-connection timeout (-T): I/O then fails, the supervisor keeps
# trying, and the device works again once the server is back. The device is attached from an nbdtab
# line whose options ask for the supervisor (persist) and the timeouts.
need_ours "persist: I/O fails after -T, and the device recovers"
truncate -s 32M /tmp/disk.img
start_server 10813 --export disk=/tmp/disk.img || exit 0
# From nbdtab, as boot scripts attach: the persist flag and the timeouts come from the line.
cat >/tmp/nbdtab.persist <<TAB
nbd3 127.0.0.1 disk port=10813,persist,timeout=3,dead-timeout=3
TAB
check "persist -T: nbd-client nbd3 -n from an nbdtab line with persist,timeout=3,dead-timeout=3" \
	start_supervisor sup3 --nbdtab /tmp/nbdtab.persist nbd3 -n
[ "$DEV" = nbd3 ] || exit 0
server_kill
check_fails "persist -T: a read fails once the 3 s dead-connection timeout has passed" \
	to dd if=/dev/nbd3 of=/dev/null bs=4k count=1 skip=100 iflag=direct
check "persist -T: the supervisor keeps trying (more than 3 attempts)" \
	wait_until 30 sup_attempts_over nbd3 3
check "persist -T: its last error says the server refuses connections" \
	sup_error_has nbd3 'Connection refused'
server_up 10813 --export disk=/tmp/disk.img
check "persist -T: the server is back: reconnected" wait_until 30 sup_reconnects_at_least nbd3 1
write_verify "persist -T: the device works again" nbd3 4
detach_ours "persist -T" nbd3 detach /dev/nbd3
