#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# meson install puts every file where the prefix says: configured with --prefix=/usr/local, an
# install into a --destdir holds nothing outside DESTDIR/usr/local (no unit or rule under /lib, no
# file in /etc), and the programs and man pages are there. With --prefix=/usr the unit, generator
# and rule directories are the distribution's, from systemd.pc and udev.pc. TAP, one line a check.
# Usage: test-install.sh SOURCE_DIR
set -u
src=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { what=$1; shift; if "$@" >"$work/out" 2>&1; then ok "$what"; else not_ok "$what"; sed 's/^/# /' "$work/out"; fi; }

if ! meson setup "$work/local" "$src" --prefix=/usr/local -Dtests=disabled >"$work/setup.log" 2>&1; then
	not_ok "meson setup --prefix=/usr/local"
	sed 's/^/# /' "$work/setup.log"
	echo "1..$n"
	exit 1
fi
ok "meson setup --prefix=/usr/local"
for line in "systemd units *: /usr/local/lib/systemd/system" \
	"systemd generators *: /usr/local/lib/systemd/system-generators" \
	"udev rules *: /usr/local/lib/udev/rules.d" \
	"bash completions *: /usr/local/share/bash-completion/completions" "sysconfdir *: /usr/local/etc"; do
	check "summary: ${line%% \**}${line#*\*}" grep -Eq "^ *$line\$" "$work/setup.log"
done
check "meson install --destdir" meson install -C "$work/local" --destdir "$work/dest" --quiet
find "$work/dest" ! -type d | sed "s|^$work/dest||" | sort >"$work/files"
sed 's/^/# installed: /' "$work/files"
check "every installed file is under /usr/local" sh -c "! grep -v '^/usr/local/' '$work/files'"
check "nbd-client in /usr/local/sbin" grep -qx /usr/local/sbin/nbd-client "$work/files"
check "nbd-server in /usr/local/bin" grep -qx /usr/local/bin/nbd-server "$work/files"
# bash-completion reads XDG_DATA_DIRS, /usr/local/share included.
for program in nbd-client nbd-server; do
	check "$program's bash completion in /usr/local/share/bash-completion/completions" \
		grep -qx /usr/local/share/bash-completion/completions/$program "$work/files"
done
if command -v scdoc >/dev/null; then
	check "nbd-client(8) in /usr/local/share/man" grep -qx /usr/local/share/man/man8/nbd-client.8 "$work/files"
	check "man 5 nbd-server works (an alias of nbd-server.conf(5))" \
		grep -qx /usr/local/share/man/man5/nbd-server.5 "$work/files"
fi

# For the system itself: the distribution's directories.
if meson setup "$work/usr" "$src" --prefix=/usr -Dtests=disabled >"$work/setup-usr.log" 2>&1; then
	ok "meson setup --prefix=/usr"
	if pkg-config --exists systemd; then
		dir=$(pkg-config --variable=systemdsystemunitdir systemd)
		check "--prefix=/usr: units in systemd.pc's $dir" grep -Eq "^ *systemd units *: $dir\$" "$work/setup-usr.log"
	fi
	if pkg-config --exists udev; then
		dir=$(pkg-config --variable=udevdir udev)
		check "--prefix=/usr: rules in udev.pc's $dir/rules.d" grep -Eq "^ *udev rules *: $dir/rules.d\$" "$work/setup-usr.log"
	fi
	if pkg-config --exists bash-completion; then
		dir=$(pkg-config --variable=completionsdir bash-completion)
		check "--prefix=/usr: bash completions in bash-completion.pc's $dir" \
			grep -Eq "^ *bash completions *: $dir\$" "$work/setup-usr.log"
	fi
	check "--prefix=/usr: sysconfdir /etc" grep -Eq "^ *sysconfdir *: /etc\$" "$work/setup-usr.log"
else
	not_ok "meson setup --prefix=/usr"
	sed 's/^/# /' "$work/setup-usr.log"
fi
echo "1..$n"
[ "$failed" -eq 0 ]
