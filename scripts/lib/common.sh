# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by scripts/check and scripts/demo: package installation and the build.
# shellcheck shell=bash

# Debian packages each purpose needs. The build needs the .pc files of systemd and udev for the unit and
# rule directories.
NBDM_BUILD_PACKAGES=(
	meson ninja-build pkg-config gcc libc6-dev python3
	libnl-genl-3-dev libgnutls28-dev libkmod-dev liburing-dev libcmocka-dev scdoc
	systemd udev
)
# The integration suite's peers: nbdinfo/nbdcopy, libnbd's Python module (nbdsh), qemu-img/io/nbd,
# nbdkit, and Debian's nbd-server (our client's interop with the reference server); certtool and
# psktool (gnutls-bin) make the TLS tests' certificates and keys.
# dpkg-dev and debhelper build the Debian packages (tests/install/test-debs.sh, and the boot suite).
# strace shows the server's syncs of a sharded image (server-sharded).
NBDM_TEST_PACKAGES=(libnbd-bin python3-libnbd qemu-utils nbdkit nbd-server gnutls-bin bash-completion
	dpkg-dev debhelper strace)
# The VM suite (tests/vm): QEMU boots Debian's cloud kernels on a busybox-static initramfs built with
# cpio; kmod's depmod indexes the guest's modules, xz-utils reads 6.12's .ko.xz ones. The kernels and
# Debian's nbd binaries are fetched into a cache by the tests themselves.
# The boot suite (tests/boot) builds a Debian root with mmdebstrap, makes its image with mkfs.ext4 -d
# (e2fsprogs) and forwards the guest's connections to the host's server with socat.
NBDM_VM_PACKAGES=(qemu-system-x86 busybox-static xz-utils kmod cpio mmdebstrap e2fsprogs socat dmsetup)

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

package_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# ensure_packages PKG...: installs what is missing with apt-get, or says exactly what to run.
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		package_installed "$p" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		die "missing Debian packages: ${missing[*]}; install them as root with: apt-get install ${missing[*]}"
	fi
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# A fresh machine has no package lists yet; refresh them once per run.
	if [ -z "${NBDM_APT_UPDATED:-}" ]; then
		apt-get update -qq || die "apt-get update failed; check the machine's Debian mirror"
		NBDM_APT_UPDATED=1
	fi
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}

# build_dir DIR [meson setup options...]: configures DIR once (reconfigures when it exists) and compiles.
build_dir() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >"$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log" >&2; die "meson setup $dir failed"; }
	else
		rm -rf "$dir"
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log" >&2; die "meson setup $dir failed"; }
	fi
	meson compile -C "$dir" >"$dir.compile.log" 2>&1 ||
		{ tail -n 60 "$dir.compile.log" >&2; die "building $dir failed (full log: $dir.compile.log)"; }
}
