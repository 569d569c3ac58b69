# SPDX-License-Identifier: GPL-2.0-or-later
# Control: Debian's nbd-server with Debian's nbd-client. When this passes and the same steps against
# our server fail, the fault is ours, not the kernel's or the client's.
truncate -s 64M /tmp/ref.img
cat >/tmp/ref.conf <<CONF
[generic]
	listenaddr = 127.0.0.1
	port = 10811
[ref]
	exportname = /tmp/ref.img
CONF
"$DEB_NBD_SERVER" -C /tmp/ref.conf -d >/tmp/ref-server.log 2>&1 &
ref=$!
echo "$ref" >>"$STATE/pids"
if ! wait_until 10 listening 10811; then
	not_ok "reference: Debian's nbd-server listens on 127.0.0.1:10811"
	diag_file /tmp/ref-server.log
	exit 0
fi
ok "reference: Debian's nbd-server listens on 127.0.0.1:10811"
check "reference: attach /dev/nbd0 (-N ref)" attach nbd0 10811 -N ref
check_eq "reference: /sys/block/nbd0/size is 64 MiB" 131072 "$(cat /sys/block/nbd0/size)"
io_roundtrip nbd0 /tmp/ref.img "reference"
detach_check nbd0
# Debian's server takes seconds under TCG to act on SIGTERM; it is only the control, so no grace.
kill -KILL "$ref"
wait "$ref" 2>/dev/null
