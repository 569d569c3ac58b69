# SPDX-License-Identifier: GPL-2.0-or-later
# Our server on a block device that fails: a device-mapper table with an `error` target in its
# middle, then a `flakey` target that fails every write. The failing requests come back to the
# client as errors (EIO through /dev/nbd2); the connection, the other requests and the server carry
# on; every write the client was told is written is on the device; the server's log names the
# export, the request and the error. With --direct (O_DIRECT) a write fails on its own request;
# through the page cache its error comes back at the latest on the FLUSH that follows it.
if [ -z "$DMSETUP" ]; then
	ok "backend faults # SKIP dmsetup is not in the image (install the host package dmsetup)"
	exit 0
fi
# Our client: an O_DIRECT export asks its client to honour the block size, which Debian's does not.
need_ours "backend faults"
# libdevmapper creates /dev/mapper/NAME itself when udev is not there to do it.
export DM_DISABLE_UDEV=1
dm() { "$DMSETUP" --noudevsync "$@"; }

check "faults: modprobe loop dm_mod dm_flakey" sh -c 'modprobe loop && modprobe dm_mod && modprobe dm_flakey'
make_file /tmp/dmback.img 16
cp /tmp/dmback.img /tmp/dmback.expected
LOOP=$(losetup -f)
check "faults: $LOOP on a 16 MiB file" losetup "$LOOP" /tmp/dmback.img || exit 0

# Sectors of 512 bytes: 0-4 MiB and 5-16 MiB map to the file, 4-5 MiB fail every I/O.
table_error() {
	printf '0 8192 linear %s 0\n8192 2048 error\n10240 22528 linear %s 10240\n' "$LOOP" "$LOOP"
}
# Reads pass, every write fails (up interval 0 s: always down; feature error_writes).
table_flakey() { printf '0 32768 flakey %s 0 0 1 1 error_writes\n' "$LOOP"; }
table_linear() { printf '0 32768 linear %s 0\n' "$LOOP"; }
# load TABLE-FUNCTION: replaces the live table under the open device (suspend, reload, resume).
load() { dm suspend faulty && "$1" | dm reload faulty && dm resume faulty; }

create() { table_linear | dm create faulty; }
check "faults: dmsetup create faulty on $LOOP" create || { losetup -d "$LOOP"; exit 0; }

# put MIB_OFFSET COUNT_MIB DEV: writes fresh random data at that offset with O_DIRECT and fsync, and
# on success records it in /tmp/dmback.expected (the device must then hold it).
put() {
	make_file /tmp/chunk "$2"
	to dd if=/tmp/chunk of="$3" bs=1M seek="$1" oflag=direct conv=fsync,notrunc 2>&1 || return
	dd if=/tmp/chunk of=/tmp/dmback.expected bs=1M seek="$1" conv=notrunc 2>/dev/null
}
get() { to dd if=/dev/nbd2 of=/dev/null bs=1M skip="$1" count="$2" iflag=direct 2>&1; }
logged() { grep -q "$1" "/tmp/server-$SERVER_PORT.log"; }

for mode in direct cached; do
	opt=
	[ "$mode" = direct ] && opt=--direct
	load table_error
	start_server 10878 $opt --export faulty=/dev/mapper/faulty || continue
	check "faults ($mode): attach /dev/nbd2" attach_ours 127.0.0.1 10878 /dev/nbd2 -N faulty ||
		{ stop_pid "$SERVER_PID"; continue; }
	check "faults ($mode): a read of 0-4 MiB succeeds" get 0 4
	check_fails "faults ($mode): a read of 4-5 MiB fails" get 4 1
	check "faults ($mode): the log names the export, the READ and the error" \
		logged "Export 'faulty': READ of .* failed: Input/output error"
	check "faults ($mode): a read of 5-16 MiB still succeeds" get 5 11
	check "faults ($mode): a write at 1 MiB succeeds" put 1 1 /dev/nbd2
	check_fails "faults ($mode): a write at 4 MiB fails (its request or its flush)" put 4 1 /dev/nbd2
	check "faults ($mode): the log names the failed write or flush" \
		logged "Export 'faulty': \(WRITE\|FLUSH\) of .* failed: Input/output error"
	check "faults ($mode): a write at 6 MiB succeeds after it" put 6 2 /dev/nbd2
	check "faults ($mode): /dev/nbd2 is still connected" connected nbd2

	# Every write fails, reads pass: the table changes under the open device.
	check "faults ($mode): table switched to flakey error_writes" load table_flakey
	check "faults ($mode): flakey: a read succeeds" get 8 4
	check_fails "faults ($mode): flakey: a write fails" put 9 1 /dev/nbd2
	check "faults ($mode): flakey: table switched back to linear" load table_linear
	check "faults ($mode): linear again: a write at 12 MiB succeeds" put 12 1 /dev/nbd2
	check "faults ($mode): linear again: a read of the whole device succeeds" get 0 16
	detach_check nbd2
	server_alive "($mode) after storage failures"
	stop_pid "$SERVER_PID"
	# What the client was told is written is on the device: compare all of it except the error
	# range's and the flakey range's MiB, whose content after a failed write is unspecified.
	# O_DIRECT: the device itself, not a page cache that may still hold a write that failed.
	dd if=/dev/mapper/faulty of=/tmp/dmback.now bs=1M iflag=direct 2>/dev/null
	for r in "0 4" "5 4" "10 6"; do
		set -- $r
		check "faults ($mode): device MiB $1-$(($1 + $2)) holds every acknowledged write" \
			same_range /tmp/dmback.now "$1" /tmp/dmback.expected "$1" "$2"
	done
	# The ranges of the failed writes start the next mode as the device has them.
	mv /tmp/dmback.now /tmp/dmback.expected
done
dm remove faulty
losetup -d "$LOOP"
rm -f /tmp/dmback.img /tmp/dmback.expected /tmp/dmback.now /tmp/chunk
