# SPDX-License-Identifier: GPL-2.0-or-later
# The reconnect benchmark's guest side (run by bench/reconnect-bench.sh inside the test VM): prints
# "# BENCH key value" lines and ends with the result line the VM runner expects.
# shellcheck shell=sh
. /tests/lib.sh

ROUNDS=${ROUNDS:-10}
now() { cut -d" " -f1 /proc/uptime; }
bench() { diag "BENCH $*"; }

truncate -s 64M /tmp/disk.img
server_up 10820 --export disk=/tmp/disk.img || { not_ok "server"; exit 1; }

# ---- idle cost of a healthy supervisor
start_supervisor idle attach -p -n -t 5 nbd://127.0.0.1:10820/disk /dev/nbd0 || { not_ok "attach"; exit 1; }
sup=$SUP_PID
sleep 2
switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ { n += $2 } END { print n }'; }
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
s0=$(switches "$sup"); c0=$(cpu "$sup")
sleep 30
bench idle_wakeups_30s $(($(switches "$sup") - s0))
bench idle_cpu_ticks_30s $(($(cpu "$sup") - c0))
bench rss_kib "$(awk '/^VmRSS/ { print $2 }' /proc/$sup/status)"
bench threads "$(awk '/^Threads/ { print $2 }' /proc/$sup/status)"
start_supervisor swap attach -p -n -s -t 5 nbd://127.0.0.1:10820/disk /dev/nbd1 || { not_ok "attach -s"; exit 1; }
sleep 1
bench rss_kib_swap "$(awk '/^VmRSS/ { print $2 }' /proc/$SUP_PID/status)"
"$NBDM_CLIENT" detach /dev/nbd1 >/dev/null 2>&1

# ---- time from the server listening again to the first completed I/O on the device
# (the read waits in the kernel from the moment the server dies)
measure() { # DEVICE LABEL
	local dev=$1 label=$2 i t_listen t_done io
	for i in $(seq 1 "$ROUNDS"); do
		server_kill
		rm -f /tmp/io.done
		( dd if="/dev/$dev" of=/dev/null bs=4k count=1 skip=$((i * 10)) iflag=direct 2>/dev/null \
			&& echo "$(now) ok" >/tmp/io.done || echo "$(now) fail" >/tmp/io.done ) &
		io=$!
		sleep 2
		server_up 10820 --export disk=/tmp/disk.img || { not_ok "restart"; return 1; }
		t_listen=$(now)
		if ! wait_until 30 test -s /tmp/io.done; then
			bench "${label}_round" "$i none_within_30s"
			kill "$io" 2>/dev/null
			continue
		fi
		wait "$io"
		set -- $(cat /tmp/io.done)
		bench "${label}_round" "$i $(awk -v a="$t_listen" -v b="$1" 'BEGIN { printf "%.2f", b - a }') $2"
		sleep 1
	done
}
measure nbd0 nbdm
"$NBDM_CLIENT" detach /dev/nbd0 >/dev/null 2>&1

# ---- the reference client, Debian's nbd-client 3.24 with -persist, in the same situation
if to "$DEB_NBD_CLIENT" 127.0.0.1 10820 /dev/nbd2 -N disk -persist -t 5 >/tmp/ref.log 2>&1; then
	ROUNDS=3 measure nbd2 reference
	"$DEB_NBD_CLIENT" -d /dev/nbd2 >/dev/null 2>&1
else
	bench reference_attach failed
fi
ok "benchmark ran"
emit "NBDM-VM-RESULT: passed=1 failed=0"
