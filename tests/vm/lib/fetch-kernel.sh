#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# fetch-kernel.sh SERIES: makes sure the Debian cloud kernel of SERIES (6.1 or 6.12) is unpacked in the
# cache and prints its directory, which holds:
#   vmlinuz            the kernel image
#   kver               the kernel release (uname -r), e.g. 6.1.0-56-cloud-amd64
#   package            "PACKAGE VERSION" of the Debian package it came from
#   lib/modules/KVER/  the package's whole modules tree (6.12 compresses modules with xz), with the
#                      indexes depmod builds
#
# The metapackage of the series names the current kernel package (apt-cache depends); a package
# already unpacked is never downloaded again. Without apt (offline, not root) the last kernel fetched
# for the series is used. Exits 77 when no kernel can be had.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/lib/common.sh source-path=SCRIPTDIR
. "$here/common.sh"

series=${1:?usage: fetch-kernel.sh SERIES}
meta=${NBDM_VM_KERNEL_META[$series]:-}
[ -n "$meta" ] || vm_die "unknown kernel series '$series' (known: ${!NBDM_VM_KERNEL_META[*]})"

kernels=$NBDM_VM_CACHE/kernels
# The symlink records which kernel the series resolved to last, for runs where apt cannot answer.
current=$kernels/$series.current

# resolve: prints "PACKAGE VERSION" of the image package the metapackage depends on now.
resolve() {
	local pkg version
	apt_ensure_lists "$meta" || return 1
	# `apt-cache depends` lists the metapackage's dependencies; the image is the one whose name starts
	# with linux-image- (the only Depends of these metapackages in Debian 12).
	pkg=$(apt-cache depends --important "$meta" 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
	[ -n "$pkg" ] || return 1
	version=$(apt_candidate "$pkg")
	[ -n "$version" ] || return 1
	printf '%s %s\n' "$pkg" "$version"
}

# prune: removes kernels no series points to any more (superseded by a newer upload to the archive),
# so that the cache holds one kernel per series.
prune() {
	local entry link keep
	for entry in "$kernels"/linux-image-*_*; do
		# The series links themselves match no pattern here; anything else not a directory is not ours.
		if [ ! -d "$entry" ] || [ -L "$entry" ]; then continue; fi
		keep=
		for link in "$kernels"/*.current; do
			[ "$(readlink -f "$link")" = "$entry" ] && keep=1
		done
		if [ -z "$keep" ]; then
			vm_say "removing the superseded ${entry##*/} from the cache"
			rm -rf "$entry"
		fi
	done
}

fetch() {
	local pkg version dir tree kver vmlinuz modroot
	mkdir -p "$kernels"
	if ! read -r pkg version < <(resolve); then
		if [ -f "$current/package" ]; then
			vm_say "apt cannot resolve $meta; using the cached $(cat "$current/package")"
			readlink -f "$current"
			return 0
		fi
		vm_skip "cannot find the $series kernel: apt does not know $meta (no package lists or no network) and nothing is cached in $kernels"
	fi
	# Versions contain ':' and '~' at worst; both are fine in a file name.
	dir=$kernels/${pkg}_$version
	if [ ! -f "$dir/package" ]; then
		vm_say "downloading $pkg $version (the $series kernel) into $kernels"
		tree=$kernels/.unpack-$pkg
		apt_download_extract "$pkg" "$version" "$tree" ||
			vm_skip "apt-get download $pkg=$version failed"
		vmlinuz=$(find "$tree/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n 1)
		[ -n "$vmlinuz" ] || vm_die "$pkg has no /boot/vmlinuz-*"
		kver=${vmlinuz##*/vmlinuz-}
		# Debian 12 packages install into /lib; later ones into /usr/lib. Keep one layout.
		modroot=$tree/lib/modules/$kver
		[ -d "$modroot" ] || modroot=$tree/usr/lib/modules/$kver
		[ -d "$modroot" ] || vm_die "$pkg has no modules tree for $kver"
		rm -rf "$dir"
		mkdir -p "$dir/lib/modules"
		mv "$modroot" "$dir/lib/modules/$kver"
		mv "$vmlinuz" "$dir/vmlinuz"
		[ -f "$tree/boot/config-$kver" ] && mv "$tree/boot/config-$kver" "$dir/config"
		printf '%s\n' "$kver" >"$dir/kver"
		# The package ships no module indexes (its postinst runs depmod); the initramfs builder resolves
		# module dependencies from them.
		depmod -b "$dir" "$kver" || vm_die "depmod -b $dir $kver failed"
		# Written last: its presence marks the entry complete.
		printf '%s %s\n' "$pkg" "$version" >"$dir/package"
		rm -rf "$tree"
	fi
	[ -f "$dir/package" ] || vm_die "$dir is incomplete; remove it and run again"
	ln -sfn "${dir##*/}" "$current"
	prune
	printf '%s\n' "$dir"
}

vm_locked fetch
