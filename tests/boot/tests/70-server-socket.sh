# SPDX-License-Identifier: GPL-2.0-or-later
# nbd-server.socket in the guest, with the nbdm-server package's units and a config in
# /etc/nbd-server/config (nbd-units(8)): the first connection starts nbd-server.service, through
# nbd@nbd5 (a plain line of 70-server-socket.files, over the guest's loopback), which attaches and
# reads the export. systemctl stop nbd-server drains: the server answers what it has read and
# closes the connection in order, and a client with a supervisor, reading all the while, loses
# nothing: its reconnection starts the server again through the socket.

img=/var/tmp/nbdm-local.img
link=/dev/disk/by-id/nbd-127.0.0.1-local
want=$(local_export "$img")
cursor=$(journalctl -n 0 --show-cursor | sed -n 's/^-- cursor: //p')
server_pid() { unit_prop nbd-server.service MainPID; }
# started_again: nbd-server.service runs, and not as the process it was before the stop.
started_again() { [ "$(systemctl is-active nbd-server.service)" = active ] && [ "$(server_pid)" != "$first" ]; }

check "systemctl start nbd-server.socket" to systemctl start nbd-server.socket
check_eq "the socket listens; the server does not run yet" "active inactive" \
	"$(systemctl is-active nbd-server.socket) $(systemctl is-active nbd-server.service)"
check "systemctl start nbd@nbd5 attaches /dev/nbd5 from 127.0.0.1" to systemctl start nbd@nbd5.service
check_eq "the first connection started nbd-server.service" active "$(systemctl is-active nbd-server.service)"
check_eq "/dev/nbd5 reads the export" "$want" "$(whole_sum /dev/nbd5)"
check "udev names it $link" wait_until 10 test -L "$link"
check "systemctl stop nbd@nbd5 detaches it" to systemctl stop nbd@nbd5.service
check_fails "/dev/nbd5 is detached" attached nbd5

# Draining: a persistent client reads the whole device, over and over, while the server stops.
check "attach -persist -t 5 nbd://127.0.0.1/local /dev/nbd4" \
	to nbd-client attach -persist -t 5 nbd://127.0.0.1/local /dev/nbd4
first=$(server_pid)
kmsg_mark 70-server-socket
rm -f "$STATE/reader.stop" "$STATE/reader.log"
(
	while [ ! -e "$STATE/reader.stop" ]; do
		got=$(whole_sum /dev/nbd4)
		if [ "$got" = "$want" ]; then echo ok; else echo "FAIL $got"; fi
	done >"$STATE/reader.log"
) &
reader=$!
check "the reader reads the device once" wait_until 60 grep -q . "$STATE/reader.log"
check "systemctl stop nbd-server.service" to systemctl stop nbd-server.service
check_eq "nbd-server exited cleanly" "success 0" \
	"$(unit_prop nbd-server.service Result) $(unit_prop nbd-server.service ExecMainStatus)"
check "its journal says it finished the requests in flight" \
	sh -c "journalctl --after-cursor '$cursor' -u nbd-server.service -o cat | grep -q 'finishing requests in flight'"
# Closed, or reset when the reader's next request arrived after the server stopped reading: the
# drain is what the lines above and the reader's data show.
check "the supervisor saw nbd4's connection end" \
	wait_until 30 eval "journalctl --after-cursor '$cursor' -o cat | grep -q 'nbd4: connection 1 of 1 .* lost ('"
check "the supervisor's reconnection starts nbd-server again through the socket" \
	wait_until 60 started_again
check "the supervisor reconnected" \
	wait_until 60 eval "journalctl --after-cursor '$cursor' -o cat | grep -q 'nbd4: reconnected'"
passes=$(grep -c . "$STATE/reader.log")
check "the reader reads the device again after the restart" wait_until 60 eval "[ \$(grep -c . '$STATE/reader.log') -gt $((passes + 1)) ]"
touch "$STATE/reader.stop"
wait "$reader"
check_eq "every pass of the reader got the export's data ($(grep -c . "$STATE/reader.log") passes)" "" \
	"$(grep -v '^ok$' "$STATE/reader.log")"
io_errors_since 70-server-socket >"$STATE/io-errors"
check_eq "no I/O error in the kernel's log" 0 "$(wc -l <"$STATE/io-errors")"
diag_file "$STATE/io-errors" 10
check "detach /dev/nbd4" to nbd-client detach /dev/nbd4
to systemctl stop nbd-server.socket nbd-server.service >/dev/null 2>&1
rm -f "$img"
