#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The units as built, with what nbd-generator writes for a sample nbdtab, checked by
# systemd-analyze verify, which loads them as systemd would: unknown keys, bad values, a mount
# unit whose name does not match its Where=, ordering systemd ignores. TAP, one line a check;
# skipped where systemd-analyze is missing.
# Usage: test-units-verify.sh BUILD_SYSTEMD_DIR NBD_GENERATOR
set -u
units=$1 generator=$2
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }

if ! command -v systemd-analyze >/dev/null; then
	echo "1..0 # SKIP systemd-analyze is not installed"
	exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/units" "$work/bin" "$work/gen"

# The programs the units name are not installed here: give them programs that exist, since verify
# checks that every command is executable.
for unit in nbd@.service nbd-server.service nbd-server.socket; do
	sed -e "s|^\(Exec[A-Za-z]*=\)[^ ]*/nbd-client|\1$work/bin/nbd-client|" \
		-e "s|^\(ExecStart=\)[^ ]*/nbd-server|\1$work/bin/nbd-server|" \
		"$units/$unit" >"$work/units/$unit"
done
printf '#!/bin/sh\n' >"$work/bin/nbd-client"
cp "$work/bin/nbd-client" "$work/bin/nbd-server"
chmod +x "$work/bin/nbd-client" "$work/bin/nbd-server"

cat >"$work/nbdtab" <<TAB
nbd0 server.example disk
nbd1 server.example root persist,mount=/srv/data,fstype=ext4,mountopt=noatime
nbd2 /run/nbd.sock my-export unix,tls,noauto,mount=/mnt/odd-name
TAB
if NBDM_NBDTAB_PATH="$work/nbdtab" NBDM_KMSG_PATH="$work/kmsg" "$generator" "$work/gen" 2>"$work/err" &&
	[ ! -s "$work/kmsg" ] && [ ! -s "$work/err" ]; then
	ok "nbd-generator writes the sample's units without a complaint"
else
	not_ok "nbd-generator writes the sample's units without a complaint"
	sed 's/^/# /' "$work/err" "$work/kmsg" 2>/dev/null
fi
sed -i "s|^ExecStop=[^ ]*/nbd-client|ExecStop=$work/bin/nbd-client|" "$work"/gen/*.service.d/*.conf

# Everything the generator wrote, and the units themselves, on one unit path.
cp -r "$work/gen/." "$work/units/"
verify() {
	local what=$1
	shift
	(cd "$work/units" && SYSTEMD_UNIT_PATH="$work/units:" systemd-analyze verify --man=no "$@") \
		>"$work/out" 2>&1
	local rc=$?
	# Units of the system that ours name (network-online.target's providers, ...) may warn about
	# themselves on this machine; only lines about ours count, by their names or their files.
	if [ $rc -eq 0 ] && ! grep -E "nbd@|nbd-server|srv-data|mnt-odd|$work" "$work/out" >/dev/null; then
		ok "$what"
	else
		not_ok "$what"
		sed 's/^/# /' "$work/out"
	fi
}
verify "nbd-server.socket and nbd-server.service" nbd-server.socket nbd-server.service
verify "nbd@nbd0.service: a plain line" nbd@nbd0.service
verify "nbd@nbd1.service: persist, with its mount's ExecStop=" nbd@nbd1.service
verify "nbd@nbd2.service: TLS, noauto, a mount point that needs escaping" nbd@nbd2.service
verify "srv-data.mount: named after its Where=" srv-data.mount
verify "mnt-odd\\x2dname.mount: named after its Where=" 'mnt-odd\x2dname.mount'
echo "1..$n"
[ "$failed" -eq 0 ]
