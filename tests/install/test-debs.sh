#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Debian packages: dpkg-buildpackage builds nbdm-client and nbdm-server from a copy of the tree
# (build-debs.sh), and their contents are what the system needs: the programs where Debian's
# nbd-client and nbd-server have them, the man pages, every file meson installed (units, generator
# and udev rules included, once they exist), no configuration file of the user's, and the fields
# that replace Debian's packages. The checkout is left as it was. TAP, one line a check.
# Usage: test-debs.sh SOURCE_DIR CACHE_DIR
set -uo pipefail
src=$1 cache=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { local what=$1; shift; if "$@" >"$work/out" 2>&1; then ok "$what"; else not_ok "$what"; sed 's/^/# /' "$work/out"; fi; }

before=$(git -C "$src" status --porcelain --ignored -- debian 2>/dev/null)
rc=0
debs=$("$here/build-debs.sh" "$src" "$cache" 2>"$work/build.err") || rc=$?
sed 's/^\([^#]\)/# \1/' "$work/build.err"
if [ "$rc" -eq 77 ]; then
	echo "1..1"
	echo "ok 1 - Debian packages # SKIP $(sed -n 's/^skip: //p' "$work/build.err" | tail -n 1)"
	exit 0
fi
if [ "$rc" -ne 0 ]; then
	not_ok "dpkg-buildpackage -b builds the packages (see the log above)"
	echo "1..$n"
	exit 1
fi
ok "dpkg-buildpackage -b builds the packages"
check "the build left the checkout's debian/ as it was" \
	test "$before" = "$(git -C "$src" status --porcelain --ignored -- debian 2>/dev/null)"

# deb PACKAGE: the path of its .deb in the build's output.
deb() { find "$debs" -maxdepth 1 -name "$1_*.deb" | head -n 1; }
for p in nbdm-client nbdm-server; do
	if [ -n "$(deb "$p")" ]; then
		ok "$p is built"
		# "./sbin/nbd-client" -> "/sbin/nbd-client"; symlinks keep only their own name.
		dpkg-deb -c "$(deb "$p")" | awk '{ print substr($6, 2) }' | grep -v '/$' >"$work/$p.files"
		sed "s/^/# $p: /" "$work/$p.files"
	else
		not_ok "$p is built"
		: >"$work/$p.files"
	fi
done
has() { grep -qxF "$2" "$work/$1.files"; }
check "nbdm-client: /sbin/nbd-client (Debian's path)" has nbdm-client /sbin/nbd-client
check "nbdm-client: nbd-client(8)" has nbdm-client /usr/share/man/man8/nbd-client.8.gz
check "nbdm-client: nbdtab(5)" has nbdm-client /usr/share/man/man5/nbdtab.5.gz
check "nbdm-client: masks nbd-client.service (Debian's init script's unit)" \
	has nbdm-client /lib/systemd/system/nbd-client.service
# Root on NBD: both initramfs builders read these paths whatever the prefix.
check "nbdm-client: initramfs-tools' hook" has nbdm-client /usr/share/initramfs-tools/hooks/nbd
check "nbdm-client: initramfs-tools' local-top script" has nbdm-client /usr/share/initramfs-tools/scripts/local-top/nbd
check "nbdm-client: the dracut module" has nbdm-client /usr/lib/dracut/modules.d/95nbdm/module-setup.sh
check "nbdm-client: the dracut module's shutdown hook" has nbdm-client /usr/lib/dracut/modules.d/95nbdm/nbd-shutdown.sh
check "nbdm-client: dracut's configuration leaving its nbd module out" \
	has nbdm-client /usr/lib/dracut/dracut.conf.d/50-nbdm.conf
check "nbdm-client: nbd-client's bash completion" \
	has nbdm-client /usr/share/bash-completion/completions/nbd-client
check "nbdm-server: /bin/nbd-server (Debian's path)" has nbdm-server /bin/nbd-server
check "nbdm-server: nbd-server's bash completion" \
	has nbdm-server /usr/share/bash-completion/completions/nbd-server
check "nbdm-server: nbd-server(8)" has nbdm-server /usr/share/man/man8/nbd-server.8.gz
check "nbdm-server: nbd-server.conf(5)" has nbdm-server /usr/share/man/man5/nbd-server.conf.5.gz
check "nbdm-server: nbd-server(5), a link to nbd-server.conf(5)" has nbdm-server /usr/share/man/man5/nbd-server.5.gz

# Every file meson installed is in one of the packages (man pages compressed by dh_compress); units,
# the generator and udev rules each get a line of their own, so their arrival is visible here.
if [ -s "$debs/installed.txt" ]; then
	while IFS= read -r f; do
		where=/$f
		case $where in /usr/share/man/*) where=$where.gz ;; esac
		if has nbdm-client "$where"; then pkg=nbdm-client
		elif has nbdm-server "$where"; then pkg=nbdm-server
		else
			not_ok "meson's $where is in a package"
			continue
		fi
		case $where in
		*/systemd/* | */udev/*) ok "meson's $where is in $pkg" ;;
		esac
	done <"$debs/installed.txt"
	check "every file meson installed is in a package ($(wc -l <"$debs/installed.txt") files)" true
else
	not_ok "the build recorded what meson installed ($debs/installed.txt)"
fi
# Units and rules must be where systemd and udev on Debian 12 read them.
check "no unit, generator or rule outside /lib/systemd and /lib/udev" \
	sh -c "! cat '$work'/nbdm-*.files | grep -E '/(systemd|udev)/' | grep -Ev '^/lib/(systemd|udev)/|^/usr/share/doc/'"

# The user's configuration is never the packages' to overwrite: not shipped, so not a conffile either.
check "nbdm-client does not ship /etc/nbdtab" sh -c "! grep -qxF /etc/nbdtab '$work/nbdm-client.files'"
check "nbdm-server does not ship /etc/nbd-server/config" \
	sh -c "! grep -q '^/etc/nbd-server/' '$work/nbdm-server.files'"
for p in nbdm-client nbdm-server; do
	dpkg-deb -f "$(deb "$p")" Provides Conflicts Replaces >"$work/$p.control" 2>&1
	sed "s/^/# $p: /" "$work/$p.control"
	theirs=${p#nbdm-}
	theirs=nbd-$theirs
	for field in Provides Conflicts Replaces; do
		check "$p: $field: $theirs" grep -Eq "^$field: (.*, )?$theirs(,|\$| )" "$work/$p.control"
	done
done
check "nbdm-client depends on libkmod2 (opened with dlopen)" \
	sh -c "dpkg-deb -f '$(deb nbdm-client)' Depends | grep -q libkmod2"

echo "1..$n"
[ "$failed" -eq 0 ]
