#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# fetch-deb.sh PACKAGE: makes sure apt's candidate of PACKAGE is unpacked (dpkg-deb -x) in the cache and
# prints the directory. Used for Debian's nbd-client and nbd-server, whose binaries the guest runs:
# unpacking instead of installing keeps the host free of their maintainer scripts (nbd-client's
# postinst configures /etc/nbdtab and services). A package already unpacked is never downloaded again;
# without apt the newest cached copy is used. Exits 77 when the package cannot be had.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/lib/common.sh source-path=SCRIPTDIR
. "$here/common.sh"

pkg=${1:?usage: fetch-deb.sh PACKAGE}
debs=$NBDM_VM_CACHE/debs

fetch() {
	local version dir old
	mkdir -p "$debs"
	if apt_ensure_lists "$pkg"; then
		version=$(apt_candidate "$pkg")
	else
		version=
	fi
	if [ -z "$version" ]; then
		# Offline: any earlier download will do.
		dir=$(find "$debs" -maxdepth 1 -name "${pkg}_*" -type d 2>/dev/null | sort -V | tail -n 1)
		[ -n "$dir" ] || vm_skip "apt does not know $pkg and nothing is cached in $debs"
		vm_say "apt cannot resolve $pkg; using the cached ${dir##*/}"
		printf '%s\n' "$dir"
		return 0
	fi
	dir=$debs/${pkg}_$version
	if [ ! -d "$dir" ]; then
		vm_say "downloading $pkg $version into $debs"
		apt_download_extract "$pkg" "$version" "$dir" || vm_skip "apt-get download $pkg=$version failed"
	fi
	# One version per package: an older one, superseded in the archive, goes.
	for old in "$debs/${pkg}"_*; do
		if [ ! -d "$old" ] || [ "$old" = "$dir" ]; then continue; fi
		vm_say "removing the superseded ${old##*/} from the cache"
		rm -rf "$old"
	done
	printf '%s\n' "$dir"
}

vm_locked fetch
