#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The units, the generator, the udev rules and their helper, and their man pages land where the
# prefix says, and name the programs where they are installed. TAP, one line a check.
# Usage: test-install-units.sh SOURCE_DIR
set -u
src=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { what=$1; shift; if "$@" >"$work/out" 2>&1; then ok "$what"; else not_ok "$what"; sed 's/^/# /' "$work/out"; fi; }

p=/usr/local
if ! meson setup "$work/b" "$src" --prefix=$p -Dtests=disabled >"$work/setup.log" 2>&1 ||
	! meson install -C "$work/b" --destdir "$work/dest" --quiet >"$work/install.log" 2>&1; then
	not_ok "meson setup and install --prefix=$p"
	sed 's/^/# /' "$work/setup.log" "$work/install.log"
	echo "1..$n"
	exit 1
fi
ok "meson setup and install --prefix=$p"
d=$work/dest
for f in lib/systemd/system/nbd@.service lib/systemd/system/nbd-server.service \
	lib/systemd/system/nbd-server.socket lib/udev/rules.d/60-nbdm.rules; do
	check "$p/$f" test -f "$d$p/$f"
done
check "$p/lib/systemd/system-generators/nbd-generator is a program" \
	test -x "$d$p/lib/systemd/system-generators/nbd-generator"
check "$p/lib/udev/nbdm-udev-id is a program" test -x "$d$p/lib/udev/nbdm-udev-id"
check "nbd@.service runs $p/sbin/nbd-client" \
	grep -qx "ExecStart=$p/sbin/nbd-client %i" "$d$p/lib/systemd/system/nbd@.service"
check "nbd-server.service runs $p/bin/nbd-server" \
	grep -q "^ExecStart=$p/bin/nbd-server " "$d$p/lib/systemd/system/nbd-server.service"
check "60-nbdm.rules runs $p/lib/udev/nbdm-udev-id" \
	grep -q "IMPORT{program}=\"$p/lib/udev/nbdm-udev-id %k\"" "$d$p/lib/udev/rules.d/60-nbdm.rules"
check "nbd-generator names $p/lib/systemd/system/nbd@.service in its links" \
	grep -q "$p/lib/systemd/system" "$d$p/lib/systemd/system-generators/nbd-generator"
if command -v scdoc >/dev/null; then
	for page in nbd-generator.8 nbd-units.8 nbd@.service.8; do
		check "$page in $p/share/man/man8" test -f "$d$p/share/man/man8/$page"
	done
fi
echo "1..$n"
[ "$failed" -eq 0 ]
