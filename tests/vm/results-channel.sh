#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# results-channel.sh SERIES: the VM suite's results channel (guest/lib.sh's emit, the second serial
# port, lib/tap.py) delivers every line. A lost "ok" line fails a VM run with counts that disagree;
# this test makes such a loss visible on its own, under the load that caused one: the guest
# (results-channel-guest.sh) writes 1,000 numbered lines while its background jobs end, and every
# number must reach the host, in order. Same environment as run-vm.sh. TAP on stdout.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
series=${1:?usage: results-channel.sh SERIES}
lines=1000

tap=$(NBDM_VM_SCRIPT=$here/results-channel-guest.sh bash "$here/run-vm.sh" "$series" 2>&1)
if grep -q '^ok 1 .*# SKIP' <<<"$tap"; then
	printf '%s\n' "$tap"
	exit 0
fi

# run-vm.sh's own verdict (lib/tap.py): the guest's one assertion arrived and its result line agrees.
if grep -q "^ok [0-9]* - \[$series\] guest finished: passed=1 failed=0" <<<"$tap"; then
	echo "ok 1 - [$series] the guest wrote its lines and reported its result"
else
	echo "not ok 1 - [$series] the guest wrote its lines and reported its result"
	grep -v '^# results-channel line' <<<"$tap" | tail -n 60 | sed 's/^/# /'
fi

got=$(sed -n "s/^# results-channel line \([0-9]*\) of $lines\$/\1/p" <<<"$tap")
expected=$(seq 1 "$lines")
if [ "$got" = "$expected" ]; then
	echo "ok 2 - [$series] all $lines numbered lines reached the host, in order"
else
	missing=$(comm -23 <(sort <<<"$expected") <(sort <<<"$got") | sort -n | head -n 20 | tr '\n' ' ')
	echo "not ok 2 - [$series] all $lines numbered lines reached the host, in order" \
		"(received $(grep -c . <<<"$got"); missing, first 20: ${missing:-none, but out of order})"
fi
echo "1..2"
