# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-client against Debian's nbd-server 3.24 (the reference server): list, info, attach with one
# and two connections, data verified. (Debian's nbd-client against our server is 15-reference's and
# 20-netlink's.)
need_ours "client interop: our nbd-client with Debian's nbd-server"
truncate -s 32M /tmp/ref.img
cat >/tmp/ref.conf <<CONF
[generic]
	listenaddr = 127.0.0.1
	port = 10811
	allowlist = true
[ref]
	exportname = /tmp/ref.img
CONF
# Not -d (one client, then it exits): a daemon that forks a child per client, for list, info and
# two connections. It writes its pid to /var/run/nbd-server.pid; netstat -p names it otherwise.
rm -f /var/run/nbd-server.pid
"$DEB_NBD_SERVER" -C /tmp/ref.conf >/tmp/ref-server.log 2>&1
if ! wait_until 10 listening 10811; then
	not_ok "client interop: Debian's nbd-server listens on 127.0.0.1:10811"
	diag_file /tmp/ref-server.log
	exit 0
fi
ok "client interop: Debian's nbd-server listens on 127.0.0.1:10811"
ref=$(cat /var/run/nbd-server.pid 2>/dev/null)
[ -n "$ref" ] || ref=$(netstat -ltnp 2>/dev/null | awk '$4 == "127.0.0.1:10811" { sub(/\/.*/, "", $7); print $7 }')
diag "Debian's nbd-server runs as pid ${ref:-(unknown)}"
[ -n "$ref" ] && echo "$ref" >>"$STATE/pids"
check "client interop: list 127.0.0.1:10811" ours list 127.0.0.1:10811
check "client interop: list names 'ref'" grep -qx ref "$STATE/cmd.out"
check "client interop: info nbd://127.0.0.1:10811/ref --json" ours info nbd://127.0.0.1:10811/ref --json
check_eq "client interop: info names the export" ref "$(json_field "$STATE/cmd.out" export)"
# Debian's nbd-server 3.24 answers NBD_OPT_INFO with size 0 (it opens the file only for NBD_OPT_GO),
# so the size info shows is not asserted; the attach below checks the size GO gives.
diag "info's size from Debian's server: $(json_field "$STATE/cmd.out" size)"
check "client interop: attach nbd://127.0.0.1:10811/ref /dev/nbd4" attach_ours attach nbd://127.0.0.1:10811/ref /dev/nbd4
check_eq "client interop: /sys/block/nbd4/size is 32 MiB" 65536 "$(cat /sys/block/nbd4/size 2>&1)"
diag "block size with Debian's server: $(cat /sys/block/nbd4/queue/logical_block_size)"
io_roundtrip nbd4 /tmp/ref.img "client interop" 1M 1
detach_ours "client interop" nbd4 detach /dev/nbd4
check "client interop: attach with -C 2 (Debian's server allows multi-conn)" \
	attach_ours 127.0.0.1 10811 /dev/nbd4 -N ref -C 2
check_eq "client interop: 2 connections to Debian's server" 2 "$(established 10811)"
make_file /tmp/pattern 1
check "client interop: -C 2: 1 MiB O_DIRECT write lands in the backing file" \
	sh -c 'dd if=/tmp/pattern of=/dev/nbd4 bs=1M seek=9 oflag=direct conv=fsync,notrunc 2>/dev/null &&
		dd if=/tmp/ref.img bs=1M skip=9 count=1 2>/dev/null | cmp - /tmp/pattern'
detach_ours "client interop -C 2" nbd4 -d /dev/nbd4
# Debian's server takes seconds under TCG to act on SIGTERM; it is only the counterpart, so no grace.
if [ -n "$ref" ]; then
	kill -KILL "$ref"
fi
