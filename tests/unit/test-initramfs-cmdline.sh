#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# test-initramfs-cmdline.sh SOURCE_ROOT: every kernel command line of test-initramfs-cmdline.table
# parsed by initramfs/nbdroot.sh, without a boot, under each shell the initramfs may have: klibc's
# sh (Debian 12's initramfs-tools, when klibc-utils is installed here), busybox sh (dracut and
# initramfs-tools with busybox) and dash. Each case runs in a fresh shell with a stubbed
# environment: the DHCP variables of the table and an nbdtab with a line for nbd1. TAP on stdout.
set -eu
src=${1:?usage: test-initramfs-cmdline.sh SOURCE_ROOT}
parser=$src/initramfs/nbdroot.sh
table=$src/tests/unit/test-initramfs-cmdline.table
work=$(mktemp -d "${TMPDIR:-/tmp}/nbdm-initramfs-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
printf '# a comment\nnbd1 10.0.2.100 root persist\n' >"$work/nbdtab"

shells=''
for sh in /usr/lib/klibc/bin/sh busybox dash; do
	case $sh in
	/*) [ -x "$sh" ] && shells="$shells $sh" ;;
	*) command -v "$sh" >/dev/null 2>&1 && shells="$shells $(command -v "$sh")" ;;
	esac
done

# The driver each case runs: the builder's decision (wanted, then parsed), as its script makes it.
cat >"$work/case.sh" <<'DRIVER'
. "$NBDROOT_PARSER"
nbdroot_cmdline "$CASE_CMDLINE"
if ! nbdroot_wanted_$CASE_BUILDER; then
	echo none
elif nbdroot_parse_$CASE_BUILDER; then
	nbdroot_describe
else
	echo "error: $NBD_ERROR"
fi
DRIVER

n=0 failed=0
# shellcheck disable=SC2086
for sh in $shells; do
	label=${sh##*/}
	[ "$sh" != /usr/lib/klibc/bin/sh ] || label=klibc-sh
	while IFS= read -r line; do
		case $line in '' | '#'*) continue ;; esac
		builder=${line%% | *}
		rest=${line#* | }
		cmdline=${rest%% | *}
		rest=${rest#* | }
		dhcp=${rest%% | *}
		expected=${rest#* | }
		server=${dhcp%% *}
		path=${dhcp#* }
		[ "$server" != - ] || server=''
		[ "$path" != - ] && [ "$path" != "$dhcp" ] || path=''
		case $builder in itools) func=initramfs_tools ;; *) func=$builder ;; esac
		n=$((n + 1))
		if [ "${sh##*/}" = busybox ]; then
			set -- "$sh" sh
		else
			set -- "$sh"
		fi
		actual=$(env -i PATH=/nonexistent NBDROOT_PARSER="$parser" NBDROOT_NBDTAB="$work/nbdtab" \
			CASE_BUILDER="$func" CASE_CMDLINE="$cmdline" ROOTSERVER="$server" ROOTPATH="$path" \
			"$@" "$work/case.sh" 2>&1) || actual="exit status $? $actual"
		case $expected in
		error:*) case $actual in "error: "*"${expected#error: }"*) good=y ;; *) good=n ;; esac ;;
		*) [ "$actual" = "$expected" ] && good=y || good=n ;;
		esac
		if [ "$good" = y ]; then
			echo "ok $n - [$label] $builder: $cmdline${dhcp:+ (DHCP: $dhcp)}"
		else
			failed=$((failed + 1))
			echo "not ok $n - [$label] $builder: $cmdline${dhcp:+ (DHCP: $dhcp)}"
			echo "#   expected: $expected"
			echo "#   actual:   $actual"
		fi
	done <"$table"
done
echo "1..$n"
[ "$n" -gt 0 ] || { echo "Bail out! no shell to run the cases under"; exit 1; }
exit 0
