#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run-boot.sh SERIES: the boot test of one kernel series (6.1 or 6.12), as meson runs it. Boots a real
# Debian 12 system with systemd and udev under QEMU (TCG), with the project's Debian packages
# installed in it, and an NBD server on the host that the guest reaches through one forwarded
# address; prints the guest's assertions as TAP on stdout.
#
#   1. lib/build-image.sh: the cached Debian root (mmdebstrap), built only when its package list
#      changes;
#   2. tests/install/build-debs.sh: nbdm-client and nbdm-server, built from a copy of the tree
#      (cached by the tree's contents, shared with the install suite);
#   3. the root unpacked (without the other series' kernel), the packages installed with dpkg in a
#      chroot, the guest runner and tests added, with the files of every test's NN-name.files/ tree
#      (the boot's configuration: /etc/nbdtab, /etc/fstab lines), an ext4 image made of it with
#      mkfs.ext4 -d;
#   4. the exports listed in ./exports made (file systems and partition tables included), then
#      lib/hostctl.py runs the host's nbd-server on 127.0.0.1 and a control socket for the guest;
#   5. QEMU boots the kernel and initrd of the root with user networking restricted to two forwards:
#      10.0.2.100:10809 to the server, 10.0.2.100:10810 to the control socket (a socat per guest
#      connection, so a restarted server is reached again). Nothing else leaves the guest.
#   6. The guest's lines (ttyS1) become TAP through tests/vm/lib/tap.py; the host adds the guest's
#      checks made during its poweroff (guest/at-poweroff, after the runner's result line) and its
#      own: QEMU ended by itself, the kernel powered down, the root file system and every ext4
#      export clean, and every connection the server had at the end closed with NBD_CMD_DISC.
#
# Environment:
#   NBD_SERVER            the nbd-server the host runs (required; meson: the build's)
#   NBDM_SOURCE_ROOT      the tree the packages are built from (default: this checkout)
#   NBDM_DEBS_CACHE       where the built packages are kept (default: $TMPDIR/nbdm-debs; meson:
#                         the build directory's debs/)
#   NBDM_BOOT_DEBS        a directory of nbdm-*.deb files to install instead of building them
#   NBDM_BOOT_TESTS       comma-separated guest tests to run (names in tests/ without .sh)
#   NBDM_BOOT_SCRIPT=FILE run FILE in the guest as the only test (copied into its tests/)
#   NBDM_BOOT_SHELL=1     interactive: the console on this terminal, root logged in after the tests
#   NBDM_BOOT_KEEP=1      keep the work directory (image, console, results, host logs)
#   NBDM_BOOT_TIMEOUT     seconds before QEMU is killed (default 420)
#   NBDM_VM_ACCEL         QEMU accelerator (default tcg)
#   NBDM_VM_CACHE         cache (default /var/cache/nbdm-vm; the root is under boot/)
#   NBDM_VM_LOGDIR        where a failed run's console log is kept (meson: its meson-logs/)
#
# A boot test that cannot run (not root, no QEMU or mmdebstrap, Debian's archive unreachable) reports
# one skipped case, as the VM suite does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/vm/lib/common.sh
. "$top/tests/vm/lib/common.sh"

series=${1:?usage: run-boot.sh SERIES}
[ -n "${NBDM_VM_KERNEL_META[$series]:-}" ] || vm_die "unknown kernel series '$series' (6.1 or 6.12)"
: "${NBD_SERVER:?NBD_SERVER must name the nbd-server binary the host runs}"
src=${NBDM_SOURCE_ROOT:-$top}
debs_cache=${NBDM_DEBS_CACHE:-${TMPDIR:-/tmp}/nbdm-debs}
label="boot $series"

what="boot tests"
# shellcheck source=tests/boot/lib/runner.sh
. "$here/lib/runner.sh"
runner_begin boot
# shellcheck disable=SC2119 # a boot needs no tools beyond the common ones
runner_tools

# 1., 2. and 3.: the cached root and the packages, unpacked and installed into the guest's root.
runner_root

guestdir=$root/usr/local/lib/nbdm-boot
mkdir -p "$guestdir/tests" "$guestdir/debs" "$root/etc/nbdm-boot"
# The packages again, for 75-upgrade (installed over themselves).
cp "${packages[@]}" "$guestdir/debs/"
install -m 0755 "$here/guest/run" "$guestdir/run"
install -m 0644 "$here/guest/lib.sh" "$guestdir/lib.sh"
if [ -n "${NBDM_BOOT_SCRIPT:-}" ]; then
	install -m 0644 "$NBDM_BOOT_SCRIPT" "$guestdir/tests/"
else
	install -m 0644 "$here"/tests/*.sh "$guestdir/tests/"
fi
install -m 0755 "$here/guest/at-poweroff" "$guestdir/at-poweroff"
for unit in nbdm-boot-tests.service nbdm-boot-poweroff.service; do
	install -m 0644 "$here/guest/$unit" "$root/etc/systemd/system/"
	ln -sf "../$unit" "$root/etc/systemd/system/multi-user.target.wants/"
done

# The boot's configuration: each test's NN-name.files/ tree is added to the root, whichever tests
# run, since they all run in the one system it describes. A file the root has already (/etc/fstab)
# gets the tree's lines appended, any other is copied with its mode; so several tests can each add
# their lines to /etc/nbdtab or /etc/fstab, in the order of their names.
add_files() {
	local tree=$1 f rel
	while IFS= read -r -d '' f; do
		rel=${f#"$tree"/}
		if [ -e "$root/$rel" ]; then
			cat "$f" >>"$root/$rel"
		else
			install -D -m "$(stat -c %a "$f")" "$f" "$root/$rel"
		fi
	done < <(find "$tree" -type f -print0 | sort -z)
}
for tree in "$here"/tests/*.files; do
	[ -d "$tree" ] && add_files "$tree"
done
if [ -n "${NBDM_BOOT_SCRIPT:-}" ] && [ -d "${NBDM_BOOT_SCRIPT%.sh}.files" ]; then
	add_files "${NBDM_BOOT_SCRIPT%.sh}.files"
fi
if [ -n "${NBDM_BOOT_SHELL:-}" ]; then
	# Root logged in on the serial console once the tests are done.
	mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
	cat >"$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
EOF
fi

# The host's exports, as ./exports lists them, made before the server starts: what the guest mounts
# at boot must be there already.
# shellcheck disable=SC2317 # called below
make_mbr() {
	# Two primary partitions of half the disk each (after the first MiB), type Linux.
	python3 - "$1" "$2" <<'PY'
import struct, sys
path, size = sys.argv[1], int(sys.argv[2])
sectors = size // 512
half = (sectors - 2048) // 2
mbr = bytearray(512)
struct.pack_into("<I", mbr, 440, 0x6e62646d)
for i, (start, count) in enumerate(((2048, half), (2048 + half, sectors - 2048 - half))):
    struct.pack_into("<B3sB3sII", mbr, 446 + 16 * i, 0, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff",
                     start, count)
mbr[510:512] = b"\x55\xaa"
with open(path, "r+b") as f:
    f.write(mbr)
PY
}
declare -A export_size=()
ext4_exports=()
server_args=(-C /dev/null --foreground --bind 127.0.0.1)
hostctl_exports=()
while read -r name mib content _; do
	case $name in '' | '#'*) continue ;; esac
	[[ $mib =~ ^[0-9]+$ ]] || vm_die "$here/exports: export $name: size '$mib' is not a number of MiB"
	export_size[$name]=$((mib * 1048576))
	if [ "$content" = memory ]; then
		server_args+=(--export "$name=memory:${export_size[$name]}")
		continue
	fi
	file=$work/$name.img
	truncate -s "${export_size[$name]}" "$file"
	case $content in
	zero) ;;
	ext4)
		mkfs.ext4 -q -F -L "$name" "$file" >"$work/mkfs-$name.log" 2>&1 ||
			vm_die "mkfs.ext4 of export $name failed: $(cat "$work/mkfs-$name.log")"
		ext4_exports+=("$name")
		;;
	mbr) make_mbr "$file" "${export_size[$name]}" || vm_die "the partition table of export $name" ;;
	*) vm_die "$here/exports: export $name: unknown content '$content'" ;;
	esac
	server_args+=(--export "$name=$file")
	hostctl_exports+=(--export "$name=$file")
done <"$here/exports"
{
	echo "NBDM_BOOT_SERIES=$series"
	echo "NBDM_HOST=10.0.2.100"
	echo "NBDM_NBD_PORT=10809"
	echo "NBDM_CTL_PORT=10810"
	echo "NBDM_BOOT_TESTS=${NBDM_BOOT_TESTS:-}"
	echo "NBDM_BOOT_SHELL=${NBDM_BOOT_SHELL:-}"
	for name in "${!export_size[@]}"; do
		echo "NBDM_EXPORT_SIZE_$name=${export_size[$name]}"
	done
} >"$root/etc/nbdm-boot/env"

cp "$root/boot/vmlinuz-$kver" "$work/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$work/initrd.img"
# Room for what the tests write; the file is sparse.
if ! mkfs.ext4 -q -F -L nbdm-root -d "$root" "$work/image.raw" 2G >"$work/mkfs.log" 2>&1; then
	sed 's/^/# mkfs: /' "$work/mkfs.log"
	vm_die "mkfs.ext4 -d could not make the guest's image"
fi
rm -rf "$root"
t_prep=$(date +%s)

# 4. The host's server and the guest's control service.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# At debug level the server logs each connection's end ("client disconnected" for NBD_CMD_DISC),
# which the checks after the poweroff read.
NBDM_LOG_LEVEL=debug python3 "$here/lib/hostctl.py" --socket "$work/ctl.sock" --port "$port" --dir "$work" \
	"${hostctl_exports[@]}" -- "$NBD_SERVER" "${server_args[@]}" --port "$port" \
	>"$work/hostctl.out" 2>&1 &
hostctl_pid=$!
for _ in $(seq 100); do
	[ -e "$work/hostctl.ready" ] && break
	kill -0 "$hostctl_pid" 2>/dev/null || break
	sleep 0.1
done
if [ ! -e "$work/hostctl.ready" ]; then
	cat "$work/hostctl.out" "$work/server.log" 2>/dev/null | sed 's/^/# /'
	vm_die "the host's nbd-server ($NBD_SERVER) did not start on 127.0.0.1:$port (output above)"
fi

# 5. QEMU. restrict=on cuts the guest off from the host and the world; the two guestfwd rules are its
# only way out. A guestfwd command is spawned for each connection the guest opens.
netdev="user,id=n0,restrict=on"
netdev+=",guestfwd=tcp:10.0.2.100:10809-cmd:socat - TCP:127.0.0.1:$port"
netdev+=",guestfwd=tcp:10.0.2.100:10810-cmd:socat - UNIX-CONNECT:$work/ctl.sock"
append="root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=-1 quiet"
# shellcheck disable=SC2054 # the commas are QEMU's
qemu=(qemu-system-x86_64 -accel "${NBDM_VM_ACCEL:-tcg}" -cpu max -m 1024 -smp 2
	-nographic -no-reboot
	-kernel "$work/vmlinuz" -initrd "$work/initrd.img" -append "$append"
	-drive "file=$work/image.raw,format=raw,if=virtio"
	-netdev "$netdev" -device virtio-net-pci,netdev=n0
	# The console and QEMU's monitor on stdio; the guest's result lines on a second UART (ttyS1) that
	# nothing else writes to.
	-serial mon:stdio -serial "file:$work/results.txt")

if [ -n "${NBDM_BOOT_SHELL:-}" ]; then
	echo "# interactive: Ctrl-A X quits QEMU; work directory: $work (deleted at the end unless NBDM_BOOT_KEEP=1)" >&2
	"${qemu[@]}" || true
	exit 0
fi

start=$(date +%s)
status=0
timeout -k 10 "${NBDM_BOOT_TIMEOUT:-420}" "${qemu[@]}" </dev/null >"$work/console.log" 2>"$work/qemu.err" ||
	status=$?
t_boot=$(date +%s)
seconds=$((t_boot - start))

logdir=${NBDM_VM_LOGDIR:-${TMPDIR:-/tmp}}
keep=$logdir/boot-$series-console.log
# A trap of the emulator's, not of the guest (tests/vm/lib/common.sh): the whole run once more, from
# fresh exports and a fresh image, since the first boot changed them. A second one fails below.
if [ -z "${NBDM_BOOT_AGAIN:-}" ] &&
	emulator_race_kept "$work/console.log" "$logdir/boot-$series-console-first.log" "$seconds"; then
	runner_cleanup
	trap - EXIT
	NBDM_BOOT_AGAIN=1 exec bash "$here/run-boot.sh" "$series"
fi

# 6. The guest's results, then the host's checks of the poweroff, numbered on from tap.py's.
good=0
# The runner's result line ends what tap.py counts; the lines after it are guest/at-poweroff's,
# written while systemd was taking the system down, and become cases of their own below.
tr -d '\r\000' <"$work/results.txt" 2>/dev/null | awk -v rest="$work/results-poweroff.txt" '
	after { print > rest; next }
	{ print }
	/^NBDM-VM-RESULT:/ { after = 1 }' >"$work/results-tests.txt"
python3 "$top/tests/vm/lib/tap.py" "$label" "$work/results-tests.txt" "$work/console.log" "$status" \
	"$seconds" >"$work/tap.txt" || good=1
n=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$work/tap.txt")
grep -v '^1\.\.[0-9]*$' "$work/tap.txt"
host_check() {
	local what=$1
	shift
	n=$((n + 1))
	if "$@" >"$work/check.out" 2>&1; then
		echo "ok $n - [$label] $what"
	else
		echo "not ok $n - [$label] $what"
		sed 's/^/#   /' "$work/check.out"
		good=1
	fi
}
at_poweroff=0
while IFS= read -r line; do
	case $line in
	"ok - "*)
		n=$((n + 1)) at_poweroff=$((at_poweroff + 1))
		echo "ok $n - [$label] ${line#ok - }"
		;;
	"not ok - "*)
		n=$((n + 1)) at_poweroff=$((at_poweroff + 1)) good=1
		echo "not ok $n - [$label] ${line#not ok - }"
		;;
	'#'*) echo "$line" ;;
	'') ;;
	*) echo "# $line" ;;
	esac
done < <(cat "$work/results-poweroff.txt" 2>/dev/null)
if grep -q '^NBDM-VM-RESULT:' "$work/results-tests.txt"; then
	host_check "the guest checked its NBD devices at poweroff (guest/at-poweroff)" test "$at_poweroff" -gt 0
fi
host_check "QEMU ended by itself with status 0 (the guest powered off)" test "$status" -eq 0
host_check "the kernel powered down (reboot: Power down)" grep -q 'reboot: Power down' "$work/console.log"
# A clean unmount leaves the file system "clean" and without the journal's needs_recovery; e2fsck
# finds nothing to repair.
# shellcheck disable=SC2317 # called through host_check
fs_clean() {
	dumpe2fs -h "$1" 2>/dev/null | tee /dev/stderr | grep -Eq '^Filesystem state: +clean$' &&
		! dumpe2fs -h "$1" 2>/dev/null | grep -q needs_recovery
}
host_check "the root file system was unmounted cleanly" fs_clean "$work/image.raw"
for name in "${ext4_exports[@]}"; do
	host_check "export $name: the guest unmounted its file system cleanly" fs_clean "$work/$name.img"
	host_check "export $name: e2fsck -fn finds its file system intact" e2fsck -fn "$work/$name.img"
done
# Every connection the last server process served ended with the client's NBD_CMD_DISC, which the
# server logs at debug level as "client disconnected": the guest detached every device before
# its network went, rather than leaving the server to see the connection drop.
# shellcheck disable=SC2317 # called through host_check
clean_disconnects() {
	awk '
		/^==== start / { split("", served); split("", disc); split("", what) }
		/Connection .*: serving export / {
			p = $0; sub(/^.*Connection /, "", p); sub(/: serving export .*$/, "", p)
			served[p]++; what[p] = $0
		}
		/Connection .*: client disconnected$/ {
			p = $0; sub(/^.*Connection /, "", p); sub(/: client disconnected$/, "", p)
			disc[p]++
		}
		END {
			bad = 0; total = 0
			for (p in served) {
				total += served[p]
				if (disc[p] < served[p]) { print "no NBD_CMD_DISC: " what[p]; bad = 1 }
			}
			print total " connection(s) served by the last server process"
			exit bad || total == 0
		}' "$work/server.log"
}
host_check "every connection of the last server process ended with NBD_CMD_DISC" clean_disconnects
echo "1..$n"
echo "# timings [$label]: image ready $((t_image - t0)) s, packages $((t_debs - t_image)) s, guest image $((t_prep - t_debs)) s, boot and tests $seconds s, total $(($(date +%s) - t0)) s"

if [ "$good" -eq 0 ]; then
	rm -f "$keep"
	exit 0
fi
mkdir -p "$logdir"
{
	echo "== qemu: ${qemu[*]}"
	echo "== qemu exit status $status after $seconds s; its stderr:"
	cat "$work/qemu.err"
	echo "== host control service (hostctl.log):"
	cat "$work/hostctl.log" 2>/dev/null || true
	echo "== the guest's lines after its result line (guest/at-poweroff):"
	cat "$work/results-poweroff.txt" 2>/dev/null || true
	echo "== host nbd-server (server.log):"
	cat "$work/server.log" 2>/dev/null || true
	echo "== serial console (ttyS0):"
	cat "$work/console.log"
} >"$keep"
echo "# console log kept: $keep"
{
	echo "boot test [$series] failed; console log kept in $keep; its last 40 lines:"
	tail -n 40 "$work/console.log"
} >&2
exit 0
