# SPDX-License-Identifier: GPL-2.0-or-later
# Where the kernel's TLS cannot carry a session, our nbd-client's supervisor relays it; and where it
# carries one, the supervisor repairs what the kernel cannot read. Against our nbd-server (its own
# sessions kept in GnuTLS, --tls-ktls=no, so that the kernel's counters show the client alone):
# --tls-ktls=no relays, with data verified, no kernel TLS session, status and JSON saying "relay",
# four connections and a server restart; a cipher the kernel lacks (AES-CBC) falls back to the
# relay by itself, and is refused with --tls-ktls=yes; a server that sends a TLS 1.3 key update or
# a late session ticket after the hand-off, between replies: the relay reads it, and a session in
# the kernel is replaced by the supervisor, with no I/O error either way; a key update in the
# middle of a reply, through the relay; the driver's NBD_CMD_DISC relayed at detach; a
# reconnection after the certificate files are gone.
need_ours "client tls relay: our nbd-client relays TLS"
need_tls "client tls relay"
T=$TLS_DIR
tls_server_dir /tmp/relaytls
truncate -s 64M /tmp/relay.img
CERTS="-cacertfile $T/ca.pem -certfile $T/client.pem -keyfile $T/client-key.pem"
SERVE="--export r=/tmp/relay.img --tls=require --tls-certificates /tmp/relaytls --tls-ktls=no"

# ---- the relay asked for
# shellcheck disable=SC2086 # SERVE and CERTS are lists of options
start_server 10850 -v -v $SERVE || exit 0
cur0=$(tls_stat TlsCurrTxSw)
# shellcheck disable=SC2086
check "client tls relay: attach with --tls-ktls=no" \
	attach_ours attach nbds://127.0.0.1:10850/r /dev/nbd0 $CERTS --tls-ktls=no
io_roundtrip nbd0 /tmp/relay.img "client tls relay"
write_verify "client tls relay: 8 MiB through the relay" nbd0 8
check_eq "client tls relay: no session in the kernel's TLS" "$cur0" "$(tls_stat TlsCurrTxSw)"
check "client tls relay: status says the supervisor relays TLS" sh -c \
	"'$NBDM_CLIENT' status /dev/nbd0 | grep -q 'TLS relayed by the supervisor'"
ours status --json /dev/nbd0 >/dev/null 2>&1
check_eq "client tls relay: status --json: tls is relay" relay "$(json_field "$STATE/cmd.out" tls)"
check "client tls relay: the supervisor is the process in the data path" \
	test -n "$(sup_field nbd0 pid)"
check "client tls relay: the supervisor is locked to nothing it does not need (VmRSS < 16 MiB)" \
	sh -c "[ \$(awk '/^VmRSS/ { print \$2 }' /proc/$(sup_field nbd0 pid)/status) -lt 16384 ]"
detach_ours "client tls relay" nbd0 detach /dev/nbd0
check "client tls relay: the supervisor is gone after detach" \
	wait_until 10 sh -c "[ ! -e /run/nbd-client/nbd0 ]"
# The kernel writes NBD_CMD_DISC as the supervisor disconnects the device, and the relay ends
# right after: it must still carry it to the server (logged at debug level).
check "client tls relay: the driver's NBD_CMD_DISC reached the server at detach" \
	wait_until 5 grep -q ': client disconnected$' /tmp/server-10850.log

# ---- four connections, each relayed
# shellcheck disable=SC2086
check "client tls relay: -C 4 with --tls-ktls=no" \
	attach_ours attach nbds://127.0.0.1:10850/r /dev/nbd1 $CERTS --tls-ktls=no -C 4
write_verify "client tls relay -C 4: data through four relays" nbd1 8
check "client tls relay -C 4: status shows the device connected" status_row nbd1 connected \
	67108864 512
check "client tls relay -C 4: ... with 4 connections, all alive" \
	awk '$1 == "/dev/nbd1" && $6 == "4" { f = 1 } END { exit !f }' "$STATE/cmd.out"
detach_ours "client tls relay -C 4" nbd1 detach /dev/nbd1

# ---- a server restart under a relayed, persistent attach with a verified workload. The client's
# certificate files are gone by the time it reconnects, as they are for the supervisor of a root
# on NBD after switch-root (its root, the initramfs, is emptied): it uses what it read before.
errs0=$(nbd_io_errors nbd2)
mkdir -p /tmp/relaycerts
cp "$T/ca.pem" "$T/client.pem" "$T/client-key.pem" /tmp/relaycerts/
# shellcheck disable=SC2086
check "client tls relay: attach -persist, relayed" start_supervisor relaysup \
	attach nbds://127.0.0.1:10850/r /dev/nbd2 -cacertfile /tmp/relaycerts/ca.pem \
	-certfile /tmp/relaycerts/client.pem -keyfile /tmp/relaycerts/client-key.pem \
	--tls-ktls=no -persist -n -timeout 5
make_file /tmp/relay-pattern 4
io_rounds nbd2 /tmp/relay-pattern 1 12 /tmp/relay-rounds.log
sleep 2
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
rm -r /tmp/relaycerts
sleep 1
# shellcheck disable=SC2086
check "client tls relay: the server is back" server_up 10850 -v $SERVE
check "client tls relay: the workload verified every round" \
	wait_until 120 sh -c 'tail -n 1 /tmp/relay-rounds.log | grep -Eq "DONE|FAIL" &&
		tail -n 1 /tmp/relay-rounds.log | grep -q DONE'
check "client tls relay: reconnected through a new relay" wait_until 30 sup_reconnects_at_least nbd2 1
check "client tls relay: ... with the credentials read before, its files gone" \
	grep -q 'uses the credentials read before' /tmp/relaysup.log
check_eq "client tls relay: no I/O error across the restart" 0 \
	"$(( $(nbd_io_errors nbd2) - errs0 ))"
detach_ours "client tls relay -persist" nbd2 detach /dev/nbd2
server_kill

# ---- a cipher the kernel's TLS lacks: auto falls back to the relay; yes refuses
CBC="NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:-MAC-ALL:+SHA256:+SHA1"
# shellcheck disable=SC2086
start_server 10851 -v $SERVE --tls-priority "NORMAL:+AES-128-CBC:+SHA256:+SHA1" || exit 0
# shellcheck disable=SC2086
check "client tls relay: AES-128-CBC (no kernel TLS for it) attaches anyway" \
	attach_ours attach nbds://127.0.0.1:10851/r /dev/nbd3 $CERTS -priority "$CBC"
check "client tls relay: AES-CBC: the client said why it relays" \
	grep -q "kernel cannot take the TLS session" "$STATE/cmd.err"
write_verify "client tls relay: AES-CBC: data through the relay" nbd3 4
ours status --json /dev/nbd3 >/dev/null 2>&1
check_eq "client tls relay: AES-CBC: status --json: tls is relay" relay \
	"$(json_field "$STATE/cmd.out" tls)"
detach_ours "client tls relay (AES-CBC)" nbd3 detach /dev/nbd3
# shellcheck disable=SC2086
refused "client tls relay: AES-CBC with --tls-ktls=yes is refused, naming why" \
	"kernel cannot take the TLS session" \
	attach nbds://127.0.0.1:10851/r /dev/nbd3 $CERTS -priority "$CBC" --tls-ktls=yes
check "client tls relay: ... suggesting the relay of --tls-ktls=auto" \
	grep -q 'tls-ktls=auto relays it' "$STATE/cmd.err"
# shellcheck disable=SC2086
refused "client tls relay: AES-CBC with -nonetlink (no supervisor, no relay) is refused" \
	"kernel cannot take the TLS session" \
	attach nbds://127.0.0.1:10851/r /dev/nbd3 $CERTS -priority "$CBC" -nonetlink
check "client tls relay: ... saying there is no supervisor to relay it, not suggesting one" \
	sh -c "grep -q 'no supervisor to relay it' '$STATE/cmd.err' && ! grep -q 'tls-ktls=auto' '$STATE/cmd.err'"
server_kill

# ---- late handshake records after the hand-off
# Every connection gets a KeyUpdate once it has sent 8 replies and has none in flight (the server
# keeps its session in GnuTLS; -vv logs the hook).
export NBDM_TLS_TEST_KEY_UPDATE_AFTER=8
# shellcheck disable=SC2086
start_server 10852 -vv $SERVE || exit 0
unset NBDM_TLS_TEST_KEY_UPDATE_AFTER
errs0=$(nbd_io_errors nbd4)
export NBDM_TLS_CHECK_MS=500
# shellcheck disable=SC2086
check "client tls key update: attach with the session in the kernel" start_supervisor kusup \
	attach nbds://127.0.0.1:10852/r /dev/nbd4 $CERTS -persist -n
unset NBDM_TLS_CHECK_MS
write_verify "client tls key update: 8 MiB written and read back across key updates" nbd4 8
check "client tls key update: the server sent one" grep -q "sent a TLS 1.3 KeyUpdate" \
	/tmp/server-10852.log
check "client tls key update: the supervisor replaced the stopped session" \
	wait_until 20 sup_reconnects_at_least nbd4 1
write_verify "client tls key update: data after the repair" nbd4 2
check_eq "client tls key update: no I/O error" 0 "$(( $(nbd_io_errors nbd4) - errs0 ))"
detach_ours "client tls key update" nbd4 detach /dev/nbd4

errs0=$(nbd_io_errors nbd5)
updates0=$(grep -c "sent a TLS 1.3 KeyUpdate" /tmp/server-10852.log)
# shellcheck disable=SC2086
check "client tls key update: attach relayed" start_supervisor kurelay \
	attach nbds://127.0.0.1:10852/r /dev/nbd5 $CERTS -persist -n --tls-ktls=no
write_verify "client tls key update: 8 MiB through the relay across key updates" nbd5 8
check "client tls key update: the relayed session got one too" \
	test "$(grep -c "sent a TLS 1.3 KeyUpdate" /tmp/server-10852.log)" -gt "$updates0"
check_eq "client tls key update: the relay read them: no reconnection" 0 \
	"$(sup_field nbd5 reconnects)"
check_eq "client tls key update (relay): no I/O error" 0 "$(( $(nbd_io_errors nbd5) - errs0 ))"
detach_ours "client tls key update (relay)" nbd5 detach /dev/nbd5
server_kill

export NBDM_TLS_TEST_TICKET_AFTER=8
# shellcheck disable=SC2086
start_server 10853 -vv $SERVE || exit 0
unset NBDM_TLS_TEST_TICKET_AFTER
errs0=$(nbd_io_errors nbd6)
export NBDM_TLS_CHECK_MS=500
# shellcheck disable=SC2086
check "client tls ticket: attach with the session in the kernel" start_supervisor tksup \
	attach nbds://127.0.0.1:10853/r /dev/nbd6 $CERTS -persist -n
unset NBDM_TLS_CHECK_MS
write_verify "client tls ticket: 8 MiB written and read back across late tickets" nbd6 8
check "client tls ticket: the server sent one" grep -q "sent a TLS 1.3 NewSessionTicket" \
	/tmp/server-10853.log
# The ticket went out once the connection was idle: the next read meets it.
write_verify "client tls ticket: data after it" nbd6 2
# Whether the kernel met it (and the supervisor replaced the session) or GnuTLS sent nothing for
# want of ticket keys, the device must carry on.
check "client tls ticket: the device is connected" wait_until 20 sup_connected nbd6
check_eq "client tls ticket: no I/O error" 0 "$(( $(nbd_io_errors nbd6) - errs0 ))"
detach_ours "client tls ticket" nbd6 detach /dev/nbd6
server_kill

# A KeyUpdate in the middle of a READ reply, after its first 16 KiB record. The kernel's TLS stops
# there inside the payload, and the nbd driver then sometimes reports the connection dead (the cut
# request waits for its timeout and is sent again) and sometimes neither fails nor reports it, for
# good (measured on 6.12; see nbd-client(8)): against such a server the relay is the way, and it
# reads the KeyUpdate like any other record.
export NBDM_TLS_TEST_KEY_UPDATE_MID_REPLY=1048576
# shellcheck disable=SC2086
start_server 10854 -vv $SERVE || exit 0
unset NBDM_TLS_TEST_KEY_UPDATE_MID_REPLY
errs0=$(nbd_io_errors nbd7)
# shellcheck disable=SC2086
check "client tls mid-reply key update: attach relayed" start_supervisor murelay \
	attach nbds://127.0.0.1:10854/r /dev/nbd7 $CERTS -persist -n --tls-ktls=no
write_verify "client tls mid-reply key update: 8 MiB written and read back through the relay" nbd7 8
check "client tls mid-reply key update: the server cut a reply with it" \
	grep -q "KeyUpdate in the middle of a reply" /tmp/server-10854.log
check_eq "client tls mid-reply key update: the relay read it: no reconnection" 0 \
	"$(sup_field nbd7 reconnects)"
check_eq "client tls mid-reply key update: no I/O error" 0 "$(( $(nbd_io_errors nbd7) - errs0 ))"
detach_ours "client tls mid-reply key update" nbd7 detach /dev/nbd7
server_kill
