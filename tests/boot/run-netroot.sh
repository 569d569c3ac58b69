#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run-netroot.sh SERIES: Debian 12 booted with its root file system on NBD, through the project's
# initramfs-tools hook and scripts (initramfs/), on one kernel series (6.1 or 6.12). TAP on stdout.
#
# The root is the boot suite's cached Debian root (lib/build-image.sh) with the project's packages
# installed by dpkg (tests/install/build-debs.sh) and its initrd made again by update-initramfs,
# so that it carries the hook's nbd-client and scripts. There is no disk: mkfs.ext4 -d puts the root
# tree into the export file the host's nbd-server serves, QEMU boots the kernel and initrd given
# with -kernel/-initrd, and the guest reaches the host only through QEMU's user network with
# restrict=on and two guestfwd rules (10.0.2.100:10809 the server, :10810 lib/hostctl.py's control
# socket), as run-boot.sh does.
#
# Four kinds of boot, two with each initramfs builder. By default each kernel runs two of them, one
# per builder and one per kind of root, so that the two kernels together run all four (6.1: whole and
# dracut-part; 6.12: part and dracut); NBDM_NETROOT_BOOTS=all runs the four on one kernel:
#   whole  root=/dev/nbd0 nbdroot=10.0.2.100,root (README.Debian's two-field form), a static ip=,
#          nbdopts=timeout=8 (in-flight requests are sent again after the request timeout).
#          The server is down when the initramfs first tries, and started once it waits; it is
#          restarted again right after switch_root (nbdm-netroot-early.service) and 5 times under a
#          verified workload on /, and once more while memhog pushes memory out to swap on nbd1
#          (NBDM_NETROOT_SWAP=0 leaves that out).
#   part   root=/dev/nbd0p1 nbdroot=nbd://10.0.2.100:10809/root (the export has an MBR and the
#          file system in its first partition), ip=dhcp.
#   dracut the same as whole through an initrd made by Debian's dracut with the packages' nbdm
#          module (in a copy of the root with dracut installed): root=nbd:10.0.2.100:root:ext4::timeout=8.
#          At poweroff dracut's shutdown unmounts the old root and the module's hook detaches nbd0.
#   dracut-part  the same as part through dracut: root=/dev/nbd0p1 netroot=nbd://10.0.2.100:10809/root.
# Every root has an nbdtab line for nbd0 (persist, no noauto), which the generator must leave to
# the initramfs' supervisor. Each ends with the guest's poweroff; the host then checks that QEMU ended by itself, the kernel
# powered down, no step of the shutdown killed the supervisor, and the export's file system is
# clean (remounted read-only and not left needing recovery) with e2fsck -n.
#
# Environment: NBD_SERVER (required), NBDM_SOURCE_ROOT, NBDM_DEBS_CACHE, NBDM_BOOT_DEBS,
# NBDM_VM_ACCEL, NBDM_VM_CACHE, NBDM_VM_LOGDIR as for run-boot.sh; NBDM_NETROOT_BOOTS
# (a comma-separated list of whole, part, dracut, dracut-part, or all) chooses the boots; NBDM_NETROOT_RESTARTS (5) the restarts under
# the workload; NBDM_NETROOT_SWAP (1) the swap case; NBDM_BOOT_KEEP=1 keeps the work directory
# (with the last boot's export); NBDM_BOOT_TIMEOUT (400) bounds each boot.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/vm/lib/common.sh
. "$top/tests/vm/lib/common.sh"

series=${1:?usage: run-netroot.sh SERIES}
[ -n "${NBDM_VM_KERNEL_META[$series]:-}" ] || vm_die "unknown kernel series '$series' (6.1 or 6.12)"
: "${NBD_SERVER:?NBD_SERVER must name the nbd-server binary the host runs}"
src=${NBDM_SOURCE_ROOT:-$top}
debs_cache=${NBDM_DEBS_CACHE:-${TMPDIR:-/tmp}/nbdm-debs}
label="netroot $series"
# A whole-device boot takes about 160 s under TCG (the server's restarts and swap), a partition boot
# about 40 s: splitting the four between the kernels keeps the suite's time in bounds.
case $series in
6.1) default_boots=whole,dracut-part ;;
*) default_boots=part,dracut ;;
esac
boots=${NBDM_NETROOT_BOOTS:-$default_boots}
[ "$boots" != all ] || boots=whole,part,dracut,dracut-part

what="root on NBD"
# shellcheck source=tests/boot/lib/runner.sh
. "$here/lib/runner.sh"
runner_begin netroot
runner_tools cc:gcc

# The guest's root: the cached one without the other series' kernel, the packages, a new initrd.
runner_root
[ -x "$root/usr/share/initramfs-tools/hooks/nbd" ] ||
	vm_die "the packages have no initramfs-tools hook (/usr/share/initramfs-tools/hooks/nbd)"
# dpkg's trigger has usually made the initrd again already (the package ships an initramfs-tools
# hook); only when it has not is update-initramfs run here.
if ! grep -q "update-initramfs: Generating /boot/initrd.img-$kver" "$work/dpkg.log" &&
	! chroot "$root" update-initramfs -u -k "$kver" >"$work/initramfs.log" 2>&1; then
	sed 's/^/# update-initramfs: /' "$work/initramfs.log"
	vm_die "update-initramfs in the guest's root failed (log above)"
fi
t_initrd=$(date +%s)

# The guest's checks and its configuration. The initramfs configured eth0; systemd-networkd would
# configure it again under the root's feet, so it stays off.
rm -f "$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service" \
	"$root/etc/systemd/system/sockets.target.wants/systemd-networkd.socket" \
	"$root/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service"
guestdir=$root/usr/local/lib/nbdm-netroot
mkdir -p "$guestdir" "$root/etc/nbdm-netroot"
install -m 0755 "$here/netroot/guest-run" "$here/netroot/hostctl-early" "$guestdir/"
for unit in nbdm-netroot.service nbdm-netroot-early.service; do
	install -m 0644 "$here/netroot/$unit" "$root/etc/systemd/system/"
done
ln -sf ../nbdm-netroot.service "$root/etc/systemd/system/multi-user.target.wants/"
mkdir -p "$root/etc/systemd/system/sysinit.target.wants"
ln -sf ../nbdm-netroot-early.service "$root/etc/systemd/system/sysinit.target.wants/"
# The supervisors' messages on the console as well, for a failed run's log.
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nForwardToConsole=yes\nMaxLevelConsole=notice\n' >"$root/etc/systemd/journald.conf.d/netroot.conf"
cc -O2 -static -o "$root/usr/local/bin/memhog" "$here/netroot/memhog.c" ||
	vm_die "cannot build memhog (cc -static)"
cp "$root/boot/vmlinuz-$kver" "$work/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$work/initrd.img"

# The dracut boots' root: a copy with Debian 12's dracut installed (dracut would replace
# initramfs-tools in the root itself), whose initrd dracut makes again with the packages' nbdm
# module. dracut's packages come from this machine's apt sources, kept in the cache; their
# dependencies for DHCP and device-mapper are left out (--force-depends), since the initrd uses
# systemd-networkd and no device-mapper. The initrd stays in the root's /boot too: at poweroff
# dracut-shutdown.service unpacks it into /run/initramfs, whose shutdown hooks then run.
droot=$work/droot
make_dracut_root() {
	local cache=$NBDM_VM_CACHE/boot/dracut
	mkdir -p "$cache"
	if ! ls "$cache"/dracut-core_*.deb "$cache"/dracut-network_*.deb >/dev/null 2>&1; then
		(cd "$cache" && apt-get download dracut-core dracut-network) >"$work/dracut.log" 2>&1 ||
			vm_skip "apt-get download dracut-core dracut-network failed"
	fi
	cp -a "$root" "$droot"
	cp "$cache"/dracut-core_*.deb "$cache"/dracut-network_*.deb "$droot/tmp/"
	chroot "$droot" sh -c 'dpkg --force-depends -i /tmp/dracut-*.deb' >>"$work/dracut.log" 2>&1 ||
		vm_die "installing dracut into a copy of the root failed (log: $work/dracut.log)"
	rm -f "$droot"/tmp/dracut-*.deb
	# The initrd's systemd-network-generator wrote /run/systemd/network/90-eth0.network from ip=;
	# the real root's refuses to write it again and fails (systemd 252). The initrd's network
	# stays, as with initramfs-tools.
	ln -sf /dev/null "$droot/etc/systemd/system/systemd-network-generator.service"
	[ -x "$droot/usr/lib/dracut/modules.d/95nbdm/module-setup.sh" ] ||
		vm_die "the packages have no dracut module (/usr/lib/dracut/modules.d/95nbdm)"
	chroot "$droot" dracut --no-hostonly --force --add "nbdm systemd-networkd" \
		--omit "network-legacy network-manager iscsi nfs cifs fcoe fcoe-uefi nvmf lvm dm mdraid crypt plymouth multipath btrfs" \
		"/boot/initrd.img-$kver" "$kver" >>"$work/dracut.log" 2>&1 ||
		vm_die "dracut failed (log: $work/dracut.log)"
	grep -q 'Including module: nbdm' "$work/dracut.log" || vm_die "dracut left the nbdm module out"
	! grep -q 'Including module: nbd \*' "$work/dracut.log" ||
		vm_die "dracut included its own nbd module beside nbdm (50-nbdm.conf not read?)"
	cp "$droot/boot/initrd.img-$kver" "$work/initrd-dracut.img"
}
case ",$boots," in *,dracut*) step - make_dracut_root ;; esac
t_prep=$(date +%s)

# The host's server and control service; the exports are (re)made for each boot.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ctl() { printf '%s\n' "$*" | socat -t 30 - "UNIX-CONNECT:$work/ctl.sock"; }
start_hostctl() {
	rm -f "$work/hostctl.ready"
	NBDM_LOG_LEVEL=debug python3 "$here/lib/hostctl.py" --socket "$work/ctl.sock" --port "$port" \
		--dir "$work" --export "root=$work/root.img" --export "swap=$work/swap.img" -- \
		"$NBD_SERVER" -C /dev/null --foreground --bind 127.0.0.1 --port "$port" \
		--export "root=$work/root.img" --export "swap=$work/swap.img" >>"$work/hostctl.out" 2>&1 &
	hostctl_pid=$!
	for _ in $(seq 100); do
		[ -e "$work/hostctl.ready" ] && return 0
		kill -0 "$hostctl_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$work/hostctl.out" "$work/server.log" 2>/dev/null | sed 's/^/# /'
	vm_die "the host's nbd-server did not start (output above)"
}
stop_hostctl() {
	kill "$hostctl_pid" 2>/dev/null || true
	wait "$hostctl_pid" 2>/dev/null || true
	hostctl_pid=
}

n=0 good=0
tap() { # tap OK|NOTOK WHAT
	n=$((n + 1))
	if [ "$1" = OK ]; then echo "ok $n - [$label] $2"; else echo "not ok $n - [$label] $2"; good=1; fi
}
host_check() {
	local what=$1
	shift
	if "$@" >"$work/check.out" 2>&1; then
		tap OK "$what"
	else
		tap NOTOK "$what"
		sed 's/^/#   /' "$work/check.out"
	fi
}
fs_clean() { # FILE: ext4 state clean, no journal recovery pending, e2fsck -n finds nothing
	dumpe2fs -h "$1" 2>/dev/null | grep -Eq '^Filesystem state: +clean$' &&
		! dumpe2fs -h "$1" 2>/dev/null | grep -q needs_recovery && e2fsck -fn "$1"
}
make_mbr() { # FILE: one Linux partition from 1 MiB to the end
	python3 - "$1" <<'PY'
import os, struct, sys
path = sys.argv[1]
sectors = os.path.getsize(path) // 512
mbr = bytearray(512)
struct.pack_into("<I", mbr, 440, 0x6e62646e)
struct.pack_into("<B3sB3sII", mbr, 446, 0, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff", 2048, sectors - 2048)
mbr[510:512] = b"\x55\xaa"
with open(path, "r+b") as f:
    f.write(mbr)
PY
}

# One boot of VARIANT from fresh disk images, with the server as the variant wants it; sets
# boot_one's status, seconds, console, tree, rootdev, waits and qemu (bash's scoping is dynamic).
boot_attempt() {
	local append env start
	status=0
	rm -f "$work/root.img" "$work/swap.img" "$work/root-part.img"
	truncate -s 256M "$work/swap.img"
	env="NETROOT_HOST=10.0.2.100
NETROOT_NBD_PORT=10809
NETROOT_CTL_PORT=10810
NETROOT_VARIANT=$variant"
	case $variant in dracut*) tree=$droot ;; esac
	rm -f "$tree/etc/nbdm-netroot/early"
	case $variant in
	whole | dracut)
		# The server is down at first, restarted right after switch_root and under the workload.
		rootdev=/dev/nbd0
		if [ "$variant" = whole ]; then
			append="root=/dev/nbd0 nbdroot=10.0.2.100,root nbdopts=timeout=8 ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off"
		else
			append="root=nbd:10.0.2.100:root:ext4::timeout=8 rd.neednet=1 ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off"
		fi
		env+=$'\nNETROOT_EARLY_RESTART=1\nNETROOT_SWAP='"${NBDM_NETROOT_SWAP:-1}"
		env+=$'\n'"NETROOT_RESTARTS=${NBDM_NETROOT_RESTARTS:-5}"
		touch "$tree/etc/nbdm-netroot/early"
		waits=y
		;;
	part)
		rootdev=/dev/nbd0p1
		append="root=/dev/nbd0p1 nbdroot=nbd://10.0.2.100:10809/root ip=dhcp"
		;;
	dracut-part)
		rootdev=/dev/nbd0p1
		append="root=/dev/nbd0p1 netroot=nbd://10.0.2.100:10809/root rd.neednet=1 ip=dhcp"
		;;
	*) vm_die "unknown boot '$variant' (whole, part, dracut or dracut-part)" ;;
	esac
	printf '%s\nNETROOT_ROOTDEV=%s\n' "$env" "$rootdev" >"$tree/etc/nbdm-netroot/env"
	echo "$rootdev / ext4 rw,errors=remount-ro 0 0" >"$tree/etc/fstab"
	# The root device's own nbdtab line, as nbd-boot(7) lets root=/dev/nbdN read it: the
	# generator must leave the device to the initramfs' supervisor.
	echo "nbd0 10.0.2.100 root persist" >"$tree/etc/nbdtab"
	truncate -s 1600M "$work/root.img"
	case $variant in
	*part)
		make_mbr "$work/root.img"
		mkfs.ext4 -q -F -L nbdm-root -E offset=1048576 -d "$tree" "$work/root.img" 1599M \
			>"$work/mkfs.log" 2>&1 || vm_die "mkfs.ext4 -d: $(cat "$work/mkfs.log")"
		;;
	*)
		mkfs.ext4 -q -F -L nbdm-root -d "$tree" "$work/root.img" >"$work/mkfs.log" 2>&1 ||
			vm_die "mkfs.ext4 -d: $(cat "$work/mkfs.log")"
		;;
	esac
	: >"$work/results-$variant.txt"
	start_hostctl
	# The whole-device boots find no server at first: the initramfs must wait for it.
	[ "$waits" = n ] || ctl stop >/dev/null

	local initrd=$work/initrd.img
	[ "$tree" != "$droot" ] || initrd=$work/initrd-dracut.img
	local netdev="user,id=n0,restrict=on"
	netdev+=",guestfwd=tcp:10.0.2.100:10809-cmd:socat -lf /dev/null - TCP:127.0.0.1:$port"
	netdev+=",guestfwd=tcp:10.0.2.100:10810-cmd:socat -lf /dev/null - UNIX-CONNECT:$work/ctl.sock"
	# shellcheck disable=SC2054 # the commas are QEMU's
	qemu=(qemu-system-x86_64 -accel "${NBDM_VM_ACCEL:-tcg}" -cpu max -m 1024 -smp 2
		-nographic -no-reboot
		-kernel "$work/vmlinuz" -initrd "$initrd"
		-append "$append console=ttyS0 net.ifnames=0 panic=-1 loglevel=7"
		-netdev "$netdev" -device virtio-net-pci,netdev=n0
		-serial mon:stdio -serial "file:$work/results-$variant.txt")
	start=$(date +%s)
	timeout -k 10 "${NBDM_BOOT_TIMEOUT:-400}" "${qemu[@]}" </dev/null >"$console" 2>"$work/qemu.err" &
	local qpid=$!
	if [ "$waits" = y ]; then
		# Started once the initramfs has found it down, and 3 s more.
		for _ in $(seq 600); do
			grep -q 'nbd: nbd-client .* failed; trying again' "$console" 2>/dev/null && break
			kill -0 "$qpid" 2>/dev/null || break
			sleep 0.2
		done
		sleep 3
		echo "# host: $(ctl start) ($(($(date +%s) - start)) s into the boot)" >&2
	fi
	wait "$qpid" || status=$?
	seconds=$(($(date +%s) - start))
	stop_hostctl
}

boot_one() { # VARIANT
	local variant=$1 rootdev status=0 seconds fsimg console tree=$root waits=n qemu=()
	console=$work/console-$variant.log
	boot_attempt
	# A trap of the emulator's, not of the guest: boot once more, from fresh images, and say so.
	# A second one fails the checks below like any other crash.
	local first=${NBDM_VM_LOGDIR:-${TMPDIR:-/tmp}}/netroot-$series-$variant-console-first.log
	if emulator_race_kept "$console" "$first" "$seconds" "$variant"; then
		boot_attempt
	fi
	t_boot[$variant]=$seconds

	# The guest's lines, numbered on.
	local line guest_ok=0 done=n
	while IFS= read -r line; do
		case $line in
		"ok - "*) tap OK "$variant: ${line#ok - }"; guest_ok=$((guest_ok + 1)) ;;
		"not ok - "*) tap NOTOK "$variant: ${line#not ok - }" ;;
		"NETROOT-RESULT: done") done=y ;;
		'#'*) echo "$line" ;;
		esac
	done < <(tr -d '\r\000' <"$work/results-$variant.txt")
	host_check "$variant: the guest ran its checks to the end" test "$done" = y
	if [ "$waits" = y ]; then
		host_check "$variant: the initramfs waited for the server (nbd-client failed, then attached)" \
			grep -q 'nbd: nbd-client .* failed; trying again' "$console"
	fi
	host_check "$variant: the guest powered off by itself in $seconds s (QEMU status 0, reboot: Power down)" \
		sh -c "[ $status -eq 0 ] && grep -q 'reboot: Power down' '$console'"
	# systemd-shutdown's lines reach the console (loglevel=7): its final kill names every process
	# it signals, and says how it left /.
	host_check "$variant: systemd-shutdown's final kill ran and signalled no supervisor" \
		sh -c "grep -aq 'Sending SIGTERM to remaining processes' '$console' &&
			! grep -aE 'Sending SIG[A-Z]+ to PID [0-9]+ \\((@bd-client|nbd-client)\\)' '$console'"
	host_check "$variant: systemd-shutdown remounted / read-only (or unmounted it)" \
		grep -aEq "Remounting '/' read-only|All filesystems unmounted" "$console"
	if [ "$tree" = "$droot" ]; then
		# dracut's shutdown: / unmounted from the unpacked initramfs, then the hook's detach.
		host_check "$variant: dracut's shutdown unmounted the old root" \
			grep -aq 'Unmounted /oldroot' "$console"
		host_check "$variant: dracut's shutdown hook detached /dev/nbd0" \
			grep -aq 'nbd: /dev/nbd0 detached' "$console"
	fi
	fsimg=$work/root.img
	if [ "$variant" != "${variant%part}" ]; then
		dd if="$work/root.img" of="$work/root-part.img" bs=1M skip=1 conv=sparse status=none
		fsimg=$work/root-part.img
	fi
	host_check "$variant: the root file system on the export is clean and e2fsck -n finds nothing" \
		fs_clean "$fsimg"
	if [ "$good" -ne 0 ]; then
		local keep=${NBDM_VM_LOGDIR:-${TMPDIR:-/tmp}}/netroot-$series-$variant-console.log
		mkdir -p "$(dirname "$keep")"
		{
			echo "== qemu: ${qemu[*]}"
			cat "$work/qemu.err"
			echo "== hostctl.log:"
			cat "$work/hostctl.log" 2>/dev/null || true
			echo "== server.log:"
			tail -n 200 "$work/server.log" 2>/dev/null || true
			echo "== console:"
			cat "$console"
		} >"$keep"
		echo "# console log kept: $keep"
	fi
	if [ -n "${NBDM_BOOT_KEEP:-}" ]; then
		mv "$work/server.log" "$work/server-$variant.log"
		mv "$work/hostctl.log" "$work/hostctl-$variant.log"
	else
		rm -f "$work/root.img" "$work/root-part.img" "$work/server.log" "$work/hostctl.log"
	fi
}

# The initramfs-tools hook copies the TLS files of every nbdtab line, and warns when a private key
# goes into an initramfs other users may read (mkinitramfs's UMASK, 0022 by default), not under
# UMASK=0077. Initrds made on the side, once per run of the 6.12 series (the hook is the same for
# both); the boots' initrd is left as it is.
if [ "$series" = 6.12 ]; then
	keycheck() { # UMASK: mkinitramfs's messages
		chroot "$root" env UMASK="$1" mkinitramfs -o /tmp/keycheck.img "$kver" 2>&1 >/dev/null
	}
	printf 'nbd7 10.0.2.100 data certfile=/etc/nbdm-keycheck.pem,keyfile=/etc/nbdm-keycheck.key\n' \
		>"$root/etc/nbdtab"
	echo key >"$root/etc/nbdm-keycheck.key"
	echo certificate >"$root/etc/nbdm-keycheck.pem"
	keycheck 0022 >"$work/keycheck-0022.log" || true
	host_check "initramfs-tools hook: a key of nbdtab in an initramfs others may read is warned of" \
		grep -q 'W: nbd: the private keys of /etc/nbdtab ( /etc/nbdm-keycheck.key )' \
		"$work/keycheck-0022.log"
	keycheck 0077 >"$work/keycheck-0077.log" || true
	host_check "initramfs-tools hook: ... not under UMASK=0077, and the key is in the initramfs" \
		sh -c "! grep -q 'W: nbd:' '$work/keycheck-0077.log' &&
			chroot '$root' lsinitramfs /tmp/keycheck.img | grep -q 'etc/nbdm-keycheck.key\$'"
	rm -f "$root/etc/nbdtab" "$root"/etc/nbdm-keycheck.* "$root/tmp/keycheck.img"
fi

declare -A t_boot=()
IFS=, read -r -a boot_list <<<"$boots"
for b in "${boot_list[@]}"; do
	boot_one "$b"
done
echo "1..$n"
echo "# timings [$label]: image $((t_image - t0)) s, packages $((t_debs - t_image)) s, initrd $((t_initrd - t_debs)) s, guest root $((t_prep - t_initrd)) s, boots:$(for b in "${boot_list[@]}"; do printf ' %s %s s,' "$b" "${t_boot[$b]:--}"; done) total $(($(date +%s) - t0)) s"
exit 0
