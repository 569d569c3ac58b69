# SPDX-License-Identifier: GPL-2.0-or-later
# The demo itself, run either on the host (when its kernel has the nbd driver) or inside the test VM
# (tests/vm, NBDM_VM_SCRIPT): serve a disk image with nbd-server, attach it with nbd-client, put a file
# system on it, write a file, detach, attach again and read the file back; then attach with -persist,
# kill the server, start it again, and write through the restart.
#
# Needs NBDM_SERVER and NBDM_CLIENT (the VM's image sets them). Prints one "ok - ..." line per step.
# shellcheck shell=sh

if [ -f /tests/lib.sh ]; then
	. /tests/lib.sh
else
	failed=0
	ok() { echo "ok - $*"; }
	not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
	diag() { echo "# $*"; }
fi

step() {
	local what="$1"
	shift
	if out=$("$@" 2>&1); then
		ok "$what"
	else
		not_ok "$what"
		echo "$out" | while IFS= read -r line; do diag "  $line"; done
		return 1
	fi
}

demo() {
	local work=/tmp/nbdm-demo dev mnt
	mkdir -p "$work"
	mnt=$work/mnt
	mkdir -p "$mnt"
	step "create a sparse 64 MiB image" truncate -s 64M "$work/disk.img" || return 1
	# -C /dev/null: this host's /etc/nbd-server/config (Debian's says user = nbd) is not the demo's.
	"$NBDM_SERVER" -C /dev/null --foreground --bind 127.0.0.1 --port 10809 \
		--export disk="$work/disk.img" --description "nbdm demo disk" >"$work/server.log" 2>&1 &
	server=$!
	sleep 1
	step "nbd-server serves it (nbd-client list 127.0.0.1)" "$NBDM_CLIENT" list 127.0.0.1 || return 1
	"$NBDM_CLIENT" list 127.0.0.1 | while IFS= read -r line; do diag "  $line"; done
	dev=$("$NBDM_CLIENT" attach nbd://127.0.0.1/disk 2>"$work/attach.err")
	if [ -n "$dev" ] && [ -b "$dev" ]; then
		ok "nbd-client attach nbd://127.0.0.1/disk -> $dev"
	else
		not_ok "nbd-client attach nbd://127.0.0.1/disk"
		diag "$(cat "$work/attach.err")"
		return 1
	fi
	"$NBDM_CLIENT" status | while IFS= read -r line; do diag "  $line"; done
	# 512-byte sectors, as with the reference client: mke2fs may pick any block size.
	step "make an ext2 file system on $dev" mke2fs -q -F "$dev" || return 1
	step "mount it" mount "$dev" "$mnt" || return 1
	echo "written over NBD at $(date)" >"$mnt/hello.txt"
	step "write a file and unmount" umount "$mnt" || return 1
	step "nbd-client detach $dev" "$NBDM_CLIENT" detach "$dev" || return 1
	dev=$("$NBDM_CLIENT" attach nbd://127.0.0.1/disk 2>"$work/attach.err")
	step "attach again ($dev)" test -b "$dev" || return 1
	step "mount and read the file back" mount "$dev" "$mnt" || return 1
	diag "  $(cat "$mnt/hello.txt")"
	step "the file survived the round trip" grep -q "written over NBD" "$mnt/hello.txt"
	umount "$mnt"
	step "detach" "$NBDM_CLIENT" detach "$dev"

	# The supervisor: with -persist the device survives a server crash.
	dev=$("$NBDM_CLIENT" attach -persist nbd://127.0.0.1/disk 2>"$work/attach.err")
	step "attach -persist ($dev, a supervisor stays with it)" test -b "$dev" || return 1
	step "mount it" mount "$dev" "$mnt" || return 1
	kill -9 "$server"
	wait "$server" 2>/dev/null
	diag "  nbd-server killed with SIGKILL; the file system's I/O waits"
	sleep 2
	"$NBDM_SERVER" -C /dev/null --foreground --bind 127.0.0.1 --port 10809 \
		--export disk="$work/disk.img" --description "nbdm demo disk" >>"$work/server.log" 2>&1 &
	server=$!
	diag "  nbd-server started again"
	step "write and sync a file after the restart (no I/O error)" \
		sh -c "echo 'written across a server restart' >'$mnt/after.txt' && sync"
	"$NBDM_CLIENT" status | while IFS= read -r line; do diag "  $line"; done
	step "umount" umount "$mnt" || return 1
	step "mount again and read both files" sh -c "mount '$dev' '$mnt' && cat '$mnt/hello.txt' '$mnt/after.txt'"
	umount "$mnt"
	step "detach (ends the supervisor)" "$NBDM_CLIENT" detach "$dev"
	kill "$server"
	wait "$server" 2>/dev/null
}

demo
if [ -f /tests/lib.sh ]; then
	emit "NBDM-VM-RESULT: passed=$(count passed) failed=$(count failed)"
else
	[ "$failed" -eq 0 ]
fi
