#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-initramfs.sh OPTIONS: builds the guest's whole root file system as an uncompressed cpio
# archive (the kernel unpacks it straight into its rootfs; compressing would only cost boot time under
# TCG, since QEMU loads the file from the page cache anyway).
#   --kernel DIR         a fetch-kernel.sh cache entry
#   --busybox FILE       a statically linked busybox
#   --debian-client DIR  unpacked Debian nbd-client package
#   --debian-server DIR  unpacked Debian nbd-server package
#   --server FILE        our nbd-server
#   --client FILE        our nbd-client (optional)
#   --fd-connect FILE    the test helper fd-connect (optional)
#   --nbd-monitor FILE   the test helper nbd-monitor (optional)
#   --tcp-relay FILE     the test helper tcp-relay (optional)
#   --notify-listen FILE the test helper notify-listen (optional)
#   --ktls-check FILE    the test helper ktls-check (optional)
#   --deny-netlink FILE  the test helper deny-netlink (optional)
#   --hostile-server FILE the test helper hostile-server (optional)
#   --qemu-nbd FILE      qemu-nbd, for the local-attach benchmark (optional)
#   --extra FILE         a script to add as /tests/extra/NAME (optional; debugging)
#   --out FILE           the archive to write
#
# The image holds: busybox and its applet links; /opt/nbdm/ (ours), /opt/debian/ (Debian's NBD
# binaries), util-linux's blkdiscard and dmsetup, with every shared library ldd lists and the dynamic
# loader; the modules the tests load (MODULES below) with their dependencies in /lib/modules/KVER and the depmod indexes of that tree (busybox modprobe reads
# modules.dep, libkmod the .bin indexes); /etc/passwd and /etc/group; /init and the guest tests from
# tests/vm/guest. /etc/nbdm-vm.env tells the tests where each program is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
guest=$(cd "$here/../guest" && pwd)
# shellcheck source=tests/vm/lib/common.sh source-path=SCRIPTDIR
. "$here/common.sh"

# Modules the guest needs, by name; their dependencies come along. ext2 (via ext4), tmpfs, devtmpfs
# and the 8250 UART are built into Debian's cloud kernels. unix_diag, which a real system loads on
# demand, lets nbd-client status see whether a Unix socket the kernel holds was shut down. tls and
# the AES-GCM modules are the kernel's TLS. loop, dm_mod and dm_flakey put a failing block device
# under a server's export (its error and flakey targets). A name the kernel has built in is skipped.
MODULES=(nbd unix_diag tls gcm ghash_generic ctr seqiv aesni_intel loop dm_mod dm_flakey)

kernel='' busybox='' deb_client='' deb_server='' server='' client='' fd_connect='' nbd_monitor='' tcp_relay='' notify_listen='' ktls_check='' deny_netlink='' hostile_server='' qemu_nbd='' extra='' out=''
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=$2 ;;
	--busybox) busybox=$2 ;;
	--debian-client) deb_client=$2 ;;
	--debian-server) deb_server=$2 ;;
	--server) server=$2 ;;
	--client) client=$2 ;;
	--fd-connect) fd_connect=$2 ;;
	--nbd-monitor) nbd_monitor=$2 ;;
	--tcp-relay) tcp_relay=$2 ;;
	--notify-listen) notify_listen=$2 ;;
	--ktls-check) ktls_check=$2 ;;
	--deny-netlink) deny_netlink=$2 ;;
	--hostile-server) hostile_server=$2 ;;
	--qemu-nbd) qemu_nbd=$2 ;;
	--extra) extra=$2 ;;
	--out) out=$2 ;;
	*) vm_die "build-initramfs.sh: unknown option $1" ;;
	esac
	shift 2
done
for v in kernel busybox deb_client deb_server server out; do
	[ -n "${!v}" ] || vm_die "build-initramfs.sh: --${v/_/-} is required"
done

kver=$(cat "$kernel/kver")
root=$(mktemp -d "${TMPDIR:-/tmp}/nbdm-vm-root.XXXXXX")
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,mnt,root,lib64,opt/nbdm,opt/debian}
mkdir -p "$root/lib/modules/$kver" "$root/var"
ln -s ../run "$root/var/run"

# ---------------------------------------------------------------- busybox
if ldd "$busybox" >/dev/null 2>&1; then
	vm_die "$busybox is dynamically linked; the guest needs busybox-static"
fi
install -m 0755 "$busybox" "$root/bin/busybox"
# --list-full prints each applet with the directory it belongs in (bin/sh, usr/sbin/...).
"$busybox" --list-full | while read -r applet; do
	[ "$applet" = bin/busybox ] && continue
	mkdir -p "$root/${applet%/*}"
	ln -sf /bin/busybox "$root/$applet"
done

# ---------------------------------------------------------------- dynamically linked programs
# copy_libs FILE: copies every library ldd resolves for FILE, under the path ldd names (the loader
# looks there), and the loader itself (the program's PT_INTERP, listed by ldd without "=>").
copy_libs() {
	local file=$1 line lib
	if ldd "$file" 2>&1 | grep -q 'not found'; then
		ldd "$file" >&2 || true
		vm_die "$file needs libraries this host does not have (see above); install them"
	fi
	while read -r line; do
		case $line in
		*'=> /'*) lib=${line#*=> }; lib=${lib%% (*} ;;
		/*) lib=${line%% (*} ;;
		*) continue ;; # linux-vdso.so.1, statically linked
		esac
		[ -e "$root$lib" ] && continue
		mkdir -p "$root${lib%/*}"
		cp -L "$lib" "$root$lib"
	done < <(ldd "$file")
}

add_program() {
	local src=$1 dest=$2
	[ -x "$src" ] || vm_die "$src is missing or not executable"
	install -m 0755 "$src" "$root$dest"
	copy_libs "$src"
}

add_program "$server" /opt/nbdm/nbd-server
# nbd-client opens libkmod with dlopen() to load the module, so ldd does not list it.
# awk reads to the end: leaving early would kill ldconfig with SIGPIPE once its list outgrows the
# pipe (64 KiB; 63 KiB on this machine), and pipefail would end the script with status 141.
libkmod=$(ldconfig -p | awk '$1 == "libkmod.so.2" && /x86-64/ && !found { print $NF; found = 1 }')
[ -n "$libkmod" ] || vm_die "libkmod.so.2 is not installed on this host (package libkmod2)"
mkdir -p "$root${libkmod%/*}"
cp -L "$libkmod" "$root$libkmod"
copy_libs "$libkmod"
# add_optional VAR FILE NAME: our program or a test helper, when built, as /opt/nbdm/NAME; VAR (for
# /etc/nbdm-vm.env) is set to its path in the guest, or left empty so that the tests needing it skip.
add_optional() {
	local -n var=$1
	var=
	if [ -n "$2" ] && [ -x "$2" ]; then
		add_program "$2" "/opt/nbdm/$3"
		var=/opt/nbdm/$3
	fi
}
add_optional env_client "$client" nbd-client
add_optional env_fd_connect "$fd_connect" fd-connect
add_optional env_nbd_monitor "$nbd_monitor" nbd-monitor
add_optional env_tcp_relay "$tcp_relay" tcp-relay
add_optional env_notify_listen "$notify_listen" notify-listen
add_optional env_ktls_check "$ktls_check" ktls-check
add_optional env_hostile_server "$hostile_server" hostile-server
add_optional env_deny_netlink "$deny_netlink" deny-netlink
add_optional env_qemu_nbd "$qemu_nbd" qemu-nbd
# TLS material for the guest's tests (tests/tls/make-certs.sh, with the host's certtool and psktool).
env_tls_dir=
if command -v certtool >/dev/null && command -v psktool >/dev/null &&
	sh "$here/../../tls/make-certs.sh" "$root/etc/nbdm-tls" >/dev/null 2>&1; then
	env_tls_dir=/etc/nbdm-tls
fi
add_program "$deb_client/sbin/nbd-client" /opt/debian/nbd-client
add_program "$deb_server/bin/nbd-server" /opt/debian/nbd-server
# util-linux's blkdiscard (Essential, so always on the host): unlike busybox's it can zero a range
# (-z, BLKZEROOUT), which the kernel turns into NBD_CMD_WRITE_ZEROES when the server offers it.
mkdir -p "$root/opt/util-linux"
add_program "$(command -v blkdiscard || echo /usr/sbin/blkdiscard)" /opt/util-linux/blkdiscard
# dmsetup (package dmsetup), when the host has it: device-mapper tables that fail on purpose.
env_dmsetup=
if dmsetup=$(command -v dmsetup); then
	mkdir -p "$root/opt/dm"
	add_program "$dmsetup" /opt/dm/dmsetup
	env_dmsetup=/opt/dm/dmsetup
fi

# ---------------------------------------------------------------- kernel modules
moddir=$kernel/lib/modules/$kver
[ -f "$moddir/modules.dep" ] || vm_die "$moddir has no modules.dep; remove $kernel and fetch again"
declare -A wanted=()
for m in "${MODULES[@]}"; do
	# modules.dep: "kernel/drivers/block/nbd.ko.xz: kernel/lib/dep.ko.xz ..."; a module is found by
	# its file name, in which '-' and '_' are interchangeable.
	line=$(awk -v m="$m" -F: '{ n = $1; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n);
		gsub(/-/, "_", n); mm = m; gsub(/-/, "_", mm); if (n == mm) { print; exit } }' "$moddir/modules.dep")
	if [ -z "$line" ] && grep -Eq "/${m//_/[-_]}\.ko$" "$moddir/modules.builtin" 2>/dev/null; then
		continue
	fi
	[ -n "$line" ] || vm_die "kernel $kver has no module $m"
	for f in ${line/:/ }; do wanted[$f]=1; done
done
for f in "${!wanted[@]}"; do
	mkdir -p "$root/lib/modules/$kver/${f%/*}"
	cp "$moddir/$f" "$root/lib/modules/$kver/$f"
done
# depmod needs to know which modules are built in (modprobe of a built-in succeeds quietly).
for f in modules.order modules.builtin modules.builtin.modinfo; do
	[ -f "$moddir/$f" ] && cp "$moddir/$f" "$root/lib/modules/$kver/"
done
depmod -b "$root" "$kver" || vm_die "depmod -b for the guest's module tree failed"

# ---------------------------------------------------------------- configuration and tests
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
	>"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
# Name resolution for getaddrinfo("localhost") without any NSS module beyond glibc's built-in files.
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
printf 'hosts: files\n' >"$root/etc/nsswitch.conf"
cat >"$root/etc/nbdm-vm.env" <<ENV
NBDM_SERVER=/opt/nbdm/nbd-server
NBDM_CLIENT=$env_client
DEB_NBD_CLIENT=/opt/debian/nbd-client
DEB_NBD_SERVER=/opt/debian/nbd-server
UL_BLKDISCARD=/opt/util-linux/blkdiscard
DMSETUP=$env_dmsetup
FD_CONNECT=$env_fd_connect
NBD_MONITOR=$env_nbd_monitor
TCP_RELAY=$env_tcp_relay
NOTIFY_LISTEN=$env_notify_listen
KTLS_CHECK=$env_ktls_check
HOSTILE_SERVER=$env_hostile_server
DENY_NETLINK=$env_deny_netlink
QEMU_NBD=$env_qemu_nbd
TLS_DIR=$env_tls_dir
export NBDM_SERVER NBDM_CLIENT DEB_NBD_CLIENT DEB_NBD_SERVER UL_BLKDISCARD FD_CONNECT NBD_MONITOR TCP_RELAY
export NOTIFY_LISTEN KTLS_CHECK HOSTILE_SERVER DENY_NETLINK QEMU_NBD TLS_DIR DMSETUP
ENV
install -m 0755 "$guest/init" "$root/init"
mkdir -p "$root/tests/t"
install -m 0755 "$guest/run" "$root/tests/run"
install -m 0644 "$guest/lib.sh" "$root/tests/lib.sh"
cp "$guest"/tests/*.sh "$root/tests/t/"
if [ -n "$extra" ]; then
	mkdir -p "$root/tests/extra"
	install -m 0755 "$extra" "$root/tests/extra/"
fi

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out.tmp"
mv "$out.tmp" "$out"
