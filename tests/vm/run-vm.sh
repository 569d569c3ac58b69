#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run-vm.sh SERIES: the VM test of one kernel series (6.1 or 6.12), as meson runs it. Fetches (or takes
# from the cache) the kernel and Debian's NBD binaries, builds an initramfs around our programs and
# the guest tests, boots it under QEMU (TCG: this machine cannot run KVM guests) with no network
# device, and prints the guest's assertions as TAP on stdout.
#
# Environment:
#   NBD_SERVER          our nbd-server (required); NBD_CLIENT our nbd-client (optional)
#   NBDM_VM_FD_CONNECT  the guest helper guest-tools/fd-connect.c, built (optional: the --fd tests
#                       skip without it)
#   NBDM_VM_NBD_MONITOR the guest helper guest-tools/nbd-monitor.c, built (optional: the link-dead
#                       test skips without it)
#   NBDM_VM_TCP_RELAY   the guest helper guest-tools/tcp-relay.c, built (optional: the test that cuts
#                       one connection of several skips without it)
#   NBDM_VM_NOTIFY_LISTEN the guest helper guest-tools/notify-listen.c, built (optional: the sd_notify
#                       checks skip without it)
#   NBDM_VM_KTLS_CHECK  the guest helper guest-tools/ktls-check.c, built (optional: the kernel TLS
#                       test skips without it)
#   NBDM_VM_HOSTILE_SERVER the guest helper guest-tools/hostile-server.c, built (optional: the
#                       client's attach-time refusals skip without it)
#   NBDM_VM_DENY_NETLINK the guest helper guest-tools/deny-netlink.c, built (optional: the check of
#                       the client's message without netlink skips without it)
#   NBDM_VM_QEMU_NBD    qemu-nbd, put in the image for bench/vm-local-bench.sh (optional)
#   NBDM_VM_CACHE       download cache (default /var/cache/nbdm-vm)
#   NBDM_VM_LOGDIR      where the console log is kept when something fails (default: $TMPDIR or
#                       /tmp; meson passes its meson-logs directory)
#   NBDM_VM_TESTS       comma-separated guest tests to run (file names in guest/tests without .sh)
#   NBDM_VM_TIMEOUT     seconds before QEMU is killed (default 600)
#   NBDM_VM_ACCEL       QEMU accelerator (default tcg)
#   NBDM_VM_SHELL=1     interactive: the console on this terminal, a shell after the tests
#   NBDM_VM_SCRIPT=FILE run this script in the guest instead of the tests (it can source
#                       /tests/lib.sh; without an NBDM-VM-RESULT line the run counts as failed)
#   NBDM_VM_KEEP=1      keep the work directory (initramfs, logs) and say where it is
#
# A VM test that cannot run because QEMU, a kernel or a Debian package cannot be had reports one
# skipped case ("1..1", "ok 1 ... # SKIP why"): meson 1.0's TAP parser counts exit status 77 as an
# error, not a skip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lib=$here/lib
# shellcheck source=tests/vm/lib/common.sh
. "$lib/common.sh"

series=${1:?usage: run-vm.sh SERIES}
[ -n "${NBDM_VM_KERNEL_META[$series]:-}" ] || vm_die "unknown kernel series '$series'"
: "${NBD_SERVER:?NBD_SERVER must name the nbd-server binary under test}"

skip() {
	echo "1..1"
	echo "ok 1 - [$series] VM tests # SKIP $*"
	exit 0
}

# Set by step below.
bbdir='' kernel='' deb_client='' deb_server=''

work=$(mktemp -d "${TMPDIR:-/tmp}/nbdm-vm-$series.XXXXXX")
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ -n "${NBDM_VM_KEEP:-}" ]; then
		echo "# work directory kept: $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# step OUTVAR CMD...: runs a fetch step, stores its stdout in OUTVAR (- drops it), shows its messages,
# and turns its exit status 77 into a skip that names the reason.
step() {
	local var=$1 rc=0 out
	shift
	out=$("$@" 2>"$work/step.err") || rc=$?
	cat "$work/step.err" >&2
	if [ "$rc" -eq "$VM_SKIP_STATUS" ]; then
		skip "$(sed -n 's/^skip: //p' "$work/step.err" | tail -n 1)"
	elif [ "$rc" -ne 0 ]; then
		vm_die "$* failed (status $rc)"
	fi
	[ "$var" = - ] || printf -v "$var" '%s' "$out"
}

# The host tools; scripts/check installs them (NBDM_VM_PACKAGES), this covers a bare `meson test`.
# shellcheck disable=SC2317 # called through vm_locked
ensure_tools() {
	local cmd pkg
	for cmd in qemu-system-x86_64:qemu-system-x86 depmod:kmod cpio:cpio; do
		pkg=${cmd#*:}
		cmd=${cmd%%:*}
		apt_install_missing "$cmd" "$pkg" || vm_skip "$cmd is not installed and apt-get install $pkg did not work"
	done
}
step - vm_locked ensure_tools

# The guest needs a static busybox: Debian's busybox-static installs one as /bin/busybox; without it,
# the package is unpacked into the cache rather than replacing the host's (dynamic) busybox.
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
	step bbdir "$lib/fetch-deb.sh" busybox-static
	busybox=$bbdir/bin/busybox
fi

step kernel "$lib/fetch-kernel.sh" "$series"
step deb_client "$lib/fetch-deb.sh" nbd-client
step deb_server "$lib/fetch-deb.sh" nbd-server
kver=$(cat "$kernel/kver")
echo "# kernel: $(cat "$kernel/package") ($kver)"

args=(--kernel "$kernel" --busybox "$busybox" --debian-client "$deb_client" --debian-server "$deb_server"
	--server "$NBD_SERVER" --out "$work/initrd.cpio")
[ -n "${NBD_CLIENT:-}" ] && args+=(--client "$NBD_CLIENT")
[ -n "${NBDM_VM_FD_CONNECT:-}" ] && args+=(--fd-connect "$NBDM_VM_FD_CONNECT")
[ -n "${NBDM_VM_NBD_MONITOR:-}" ] && args+=(--nbd-monitor "$NBDM_VM_NBD_MONITOR")
[ -n "${NBDM_VM_TCP_RELAY:-}" ] && args+=(--tcp-relay "$NBDM_VM_TCP_RELAY")
[ -n "${NBDM_VM_NOTIFY_LISTEN:-}" ] && args+=(--notify-listen "$NBDM_VM_NOTIFY_LISTEN")
[ -n "${NBDM_VM_KTLS_CHECK:-}" ] && args+=(--ktls-check "$NBDM_VM_KTLS_CHECK")
[ -n "${NBDM_VM_HOSTILE_SERVER:-}" ] && args+=(--hostile-server "$NBDM_VM_HOSTILE_SERVER")
[ -n "${NBDM_VM_DENY_NETLINK:-}" ] && args+=(--deny-netlink "$NBDM_VM_DENY_NETLINK")
[ -n "${NBDM_VM_QEMU_NBD:-}" ] && args+=(--qemu-nbd "$NBDM_VM_QEMU_NBD")
[ -n "${NBDM_VM_SCRIPT:-}" ] && args+=(--extra "$NBDM_VM_SCRIPT")
"$lib/build-initramfs.sh" "${args[@]}"

append="console=ttyS0 panic=-1 quiet"
[ -n "${NBDM_VM_TESTS:-}" ] && append+=" nbdm.tests=$NBDM_VM_TESTS"
[ -n "${NBDM_VM_SCRIPT:-}" ] && append+=" nbdm.script=/tests/extra/${NBDM_VM_SCRIPT##*/}"
qemu=(qemu-system-x86_64 -accel "${NBDM_VM_ACCEL:-tcg}" -cpu max -m 1024 -smp 2
	-nographic -no-reboot -nic none
	-kernel "$kernel/vmlinuz" -initrd "$work/initrd.cpio"
	# The console and QEMU's monitor on stdio; the guest's result lines on a second UART (ttyS1) that
	# nothing else writes to.
	-serial mon:stdio -serial "file:$work/results.txt")

if [ -n "${NBDM_VM_SHELL:-}" ]; then
	# exec: the EXIT trap never runs, so the work directory stays for a look afterwards.
	echo "# interactive: Ctrl-A X quits QEMU; work directory (results.txt): $work" >&2
	exec "${qemu[@]}" -append "$append nbdm.shell=1"
fi

boot() {
	rm -f "$work/results.txt"
	start=$(date +%s)
	status=0
	timeout -k 10 "${NBDM_VM_TIMEOUT:-600}" "${qemu[@]}" -append "$append" \
		</dev/null >"$work/console.log" 2>"$work/qemu.err" || status=$?
	seconds=$(($(date +%s) - start))
}

logdir=${NBDM_VM_LOGDIR:-${TMPDIR:-/tmp}}
keep=$logdir/vm-$series-console.log
boot
# A trap of the emulator's, not of the guest (lib/common.sh): boot once more and say so. The guest
# starts from the same initramfs, so nothing of the first boot is left. A second one fails below.
if emulator_race_kept "$work/console.log" "$logdir/vm-$series-console-first.log" "$seconds"; then
	boot
fi
if python3 "$lib/tap.py" "$series" "$work/results.txt" "$work/console.log" "$status" "$seconds"; then
	# A log left by an earlier failure would only mislead.
	rm -f "$keep"
	exit 0
fi

# Something failed: keep what the guest and QEMU said where meson keeps its logs.
mkdir -p "$logdir"
{
	echo "== qemu: ${qemu[*]} -append '$append'"
	echo "== qemu exit status $status after $seconds s; its stderr:"
	cat "$work/qemu.err"
	echo "== serial console (ttyS0):"
	cat "$work/console.log"
} >"$keep"
echo "# console log kept: $keep"
{
	echo "VM test [$series] failed; console log kept in $keep; its last 40 lines:"
	tail -n 40 "$work/console.log"
} >&2
exit 0
