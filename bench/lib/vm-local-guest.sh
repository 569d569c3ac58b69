# SPDX-License-Identifier: GPL-2.0-or-later
# The local-attach benchmark's guest side (run by bench/vm-local-bench.sh inside the test VM, which
# prepends ROUNDS= and MIB= lines): one raw image on the guest's tmpfs put on a block device three
# ways, and sequential O_DIRECT dd through each, 1 MiB blocks, MIB MiB written then read:
#   nbdm     nbd-client attach file:///IMAGE (its own server on socketpairs)
#   qemu-nbd qemu-nbd -c /dev/nbdX -f raw IMAGE (its default cache mode, writeback, as ours)
#   loop     losetup (the kernel's loop driver, no user space in the data path)
# The order rotates from round to round. Prints "# BENCH ..." lines for the host's tables, with the
# CPU ticks of the whole guest per GiB moved.
# shellcheck shell=sh disable=SC3043 # busybox ash has local
. /tests/lib.sh

ROUNDS=${ROUNDS:-5}
MIB=${MIB:-128}
TOOLS="nbdm qemu-nbd loop"

bench() { diag "BENCH $*"; }
fail() { not_ok "$*"; emit "NBDM-VM-RESULT: passed=$(count passed) failed=$(count failed)"; exit 0; }
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
now() { cut -d" " -f1 /proc/uptime; }

bench kernel "$(uname -r)"
bench mib "$MIB"
bench rounds "$ROUNDS"
[ -n "$NBDM_CLIENT" ] || fail "our nbd-client is in the image"
[ -n "$QEMU_NBD" ] || fail "qemu-nbd is in the image (NBDM_VM_QEMU_NBD)"
check "modprobe nbd loop" sh -c "modprobe nbd && modprobe loop" || fail "modules"

make_file /tmp/pattern "$MIB"
cp /tmp/pattern /tmp/bench.img
LOOP=$(losetup -f)
# qemu-nbd -c keeps a socket in /var/lock.
mkdir -p /var/lock

# attach TOOL: puts /tmp/bench.img on a device; sets DEV (a path).
attach_tool() {
	case $1 in
	nbdm)
		attach_ours attach file:///tmp/bench.img /dev/nbd1 >/dev/null && DEV=/dev/nbd1 ;;
	qemu-nbd)
		"$QEMU_NBD" -c /dev/nbd2 -f raw /tmp/bench.img >/tmp/qemu-nbd.log 2>&1 &&
			wait_until 10 attached nbd2 && DEV=/dev/nbd2 ;;
	loop)
		losetup "$LOOP" /tmp/bench.img && DEV=$LOOP ;;
	esac
}
detach_tool() {
	case $1 in
	nbdm) ours detach /dev/nbd1 >/dev/null ;;
	qemu-nbd) "$QEMU_NBD" -d /dev/nbd2 >/dev/null 2>&1; wait_until 10 disconnected nbd2 ;;
	loop) losetup -d "$LOOP" ;;
	esac
}

# run TOOL DIR: one dd, with its seconds and the guest's busy CPU ticks.
run() {
	local t0 c0 t1 c1
	sync
	echo 3 >/proc/sys/vm/drop_caches
	c0=$(busy_ticks)
	t0=$(now)
	if [ "$2" = write ]; then
		dd if=/tmp/pattern of="$DEV" bs=1M count="$MIB" oflag=direct conv=fsync,notrunc 2>/dev/null
	else
		dd if="$DEV" of=/dev/null bs=1M count="$MIB" iflag=direct 2>/dev/null
	fi || { not_ok "$1 $2 dd"; return; }
	t1=$(now)
	c1=$(busy_ticks)
	bench run "tool=$1 dir=$2 seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
		"ticks=$((c1 - c0))"
}

order=$TOOLS
round=0
while [ "$round" -lt "$ROUNDS" ]; do
	round=$((round + 1))
	for tool in $order; do
		DEV=
		attach_tool "$tool" || { not_ok "round $round: attach with $tool"; diag_file /tmp/qemu-nbd.log; continue; }
		run "$tool" write
		run "$tool" read
		detach_tool "$tool"
	done
	# Rotate: the first goes last.
	set -- $order
	first=$1
	shift
	order="$* $first"
done
check "the image holds what was written last" cmp /tmp/pattern /tmp/bench.img
emit "NBDM-VM-RESULT: passed=$(count passed) failed=$(count failed)"
