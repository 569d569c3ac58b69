#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-image.sh: prints the path of a tarball holding a Debian 12 root for the boot tests, building
# it with mmdebstrap when the cache has none for the current package list. Everything the tests need
# that is not the project's own comes from Debian's archive, through this machine's apt sources;
# nothing else on the network is used.
#
# The tarball is $NBDM_VM_CACHE/boot/root-KEY.tar, KEY a hash of the package list and the recipe
# below: a change to either builds a new root, and the older one is deleted. Downloaded packages
# stay in $NBDM_VM_CACHE/boot/apt, so a rebuild downloads only what the archive changed.
# Exit status 77 (with a "skip: why" line) when the root cannot be built for a reason outside the
# project: mmdebstrap missing, not root, the archive unreachable.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/lib/common.sh
. "$here/../../vm/lib/common.sh"

# The guest system: systemd and udev as PID 1 and device manager (what the project's units and rules
# run under), both kernels under test with initramfs-tools to make their initrds (virtio_blk is a
# module), the libraries of nbd-client and nbd-server, dbus for logind, systemd-networkd (part of
# systemd) for a static address, and the tools the tests use: util-linux, fdisk (partitions),
# e2fsprogs, iproute2, procps, bash-completion (36-completion).
BOOT_PACKAGES=(
	systemd-sysv udev dbus kmod initramfs-tools zstd
	linux-image-cloud-amd64 linux-image-6.12-cloud-amd64
	libnl-genl-3-200 libgnutls30 libkmod2 liburing2
	util-linux fdisk e2fsprogs iproute2 procps bash-completion
)
SUITE=bookworm
# Bump when the steps below change what the root contains.
RECIPE=1

[ "$(id -u)" -eq 0 ] || vm_skip "building the guest's root needs root (mmdebstrap --mode=root, chroot)"
vm_cache_init
apt_install_missing mmdebstrap mmdebstrap ||
	vm_skip "mmdebstrap is not installed and apt-get install mmdebstrap did not work"

dir=$NBDM_VM_CACHE/boot
mkdir -p "$dir/apt"
key=$(printf '%s\n' "$SUITE" "recipe $RECIPE" "${BOOT_PACKAGES[@]}" | sort | sha256sum | cut -c1-16)
tarball=$dir/root-$key.tar

build() {
	# Another test may have built it while this one waited for the lock.
	[ -f "$tarball" ] && return 0
	# This machine's apt sources, as files mmdebstrap copies into the root (one-line and deb822
	# alike): the root sees the same archive as the host, and no other.
	local sources=() f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && grep -Eq '^[[:space:]]*(deb|URIs:)' "$f" && sources+=("$f")
	done
	[ ${#sources[@]} -gt 0 ] || vm_skip "this machine has no apt sources (/etc/apt/sources.list*)"

	vm_say "building the boot tests' Debian root ($SUITE, key $key); about a minute"
	local start log=$dir/build-$key.log
	start=$(date +%s)
	rm -f "$tarball.tmp"
	# The hooks keep apt's downloads in the cache (sync-in before, sync-out after); the customize
	# hook prepares what every boot needs and no test changes: a fixed machine id (no first-boot
	# units), the network address, no timers that would start work in the middle of a test, an
	# empty root password for the interactive shell.
	# shellcheck disable=SC2016 # $1 is the hook's: mmdebstrap passes the root to it
	if ! mmdebstrap --variant=minbase --mode=root --format=tar \
		--include="$(
			IFS=,
			echo "${BOOT_PACKAGES[*]}"
		)" \
		--skip=download/empty --skip=essential/unlink \
		--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
		--setup-hook="sync-in $dir/apt /var/cache/apt/archives/" \
		--customize-hook="sync-out /var/cache/apt/archives $dir/apt" \
		--customize-hook="$here/customize-root.sh \"\$1\"" \
		"$SUITE" "$tarball.tmp" "${sources[@]}" >"$log" 2>&1; then
		rm -f "$tarball.tmp"
		tail -n 30 "$log" | sed 's/^/# mmdebstrap: /' >&2
		if grep -Eq 'Failed to fetch|Could not resolve|Temporary failure|Unable to connect|Connection failed|Network is unreachable' "$log"; then
			vm_skip "Debian's archive is unreachable (mmdebstrap log: $log)"
		fi
		vm_die "mmdebstrap failed to build the guest's root (log: $log, last lines above)"
	fi
	# The kernel versions in it, so that a run can leave the other series' kernel out of its image
	# without reading the whole tarball.
	tar -tf "$tarball.tmp" | sed -n 's|^\./boot/vmlinuz-||p' >"$tarball.kernels"
	mv "$tarball.tmp" "$tarball"
	vm_say "root built in $(($(date +%s) - start)) s: $tarball ($(du -h "$tarball" | cut -f1))"
	# Only the current root is worth its few hundred megabytes.
	find "$dir" -maxdepth 1 -name 'root-*.tar*' ! -name "root-$key.tar*" -delete
	find "$dir" -maxdepth 1 -name 'build-*.log' ! -name "build-$key.log" -delete
}

if [ ! -f "$tarball" ]; then
	vm_locked build
fi
echo "$tarball"
