#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# reconnect-bench.sh [SERIES]: the supervisor's benchmark (issue 5), inside the test VM (the host
# kernel has no nbd driver): the time from the server listening again after a SIGKILL to the first
# completed I/O on the device (a 4 KiB O_DIRECT read that waited through the outage), for nbdm's
# supervisor and for Debian's nbd-client -persist; and the healthy supervisor's idle cost (wake-ups
# and CPU over 30 s, resident memory, with and without -s). Needs a build in build/.
# The VM runs under TCG emulation, so absolute times are slower than on hardware.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
series=${1:-6.12}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
NBD_SERVER=$top/build/server/nbd-server NBD_CLIENT=$top/build/client/nbd-client \
	NBDM_VM_SCRIPT=$top/bench/lib/reconnect-guest.sh NBDM_VM_TIMEOUT=900 \
	bash "$top/tests/vm/run-vm.sh" "$series" >"$out" 2>&1 || true
grep -q 'BENCH' "$out" || { cat "$out"; echo "reconnect-bench: the VM produced no figures" >&2; exit 1; }
python3 - "$out" "$series" <<'PY'
import re, statistics, sys
lines = open(sys.argv[1]).read().splitlines()
vals, rounds = {}, {}
for l in lines:
    m = re.search(r'BENCH (\S+) (.*)$', l)
    if not m:
        continue
    k, v = m.group(1), m.group(2).strip()
    if k.endswith('_round'):
        rounds.setdefault(k[:-6], []).append(v.split())
    else:
        vals[k] = v
print(f"kernel series {sys.argv[2]} (QEMU TCG, 2 vCPUs)")
print()
print("| client | rounds | first I/O after listen: median | max | failed I/O |")
print("|---|---|---|---|---|")
med = {}
for name, rs in rounds.items():
    times = [float(r[1]) for r in rs if len(r) == 3 and r[2] == 'ok']
    fails = sum(1 for r in rs if len(r) != 3 or r[2] != 'ok')
    if times:
        med[name] = statistics.median(times)
        print(f"| {name} | {len(rs)} | {med[name]:.2f} s | {max(times):.2f} s | {fails} |")
    else:
        print(f"| {name} | {len(rs)} | none completed | - | {fails} |")
if 'nbdm' in med and 'reference' in med and med['nbdm'] > 0:
    print(f"\nreference / nbdm (median time to first I/O): {med['reference'] / med['nbdm']:.1f}x")
print()
print("| supervisor while healthy | value |")
print("|---|---|")
for k, label in [('idle_wakeups_30s', 'context switches in 30 s idle'),
                 ('idle_cpu_ticks_30s', 'CPU ticks (1/100 s) in 30 s idle'),
                 ('rss_kib', 'resident memory (KiB)'),
                 ('rss_kib_swap', 'resident memory with -s, all locked (KiB)'),
                 ('threads', 'threads')]:
    print(f"| {label} | {vals.get(k, '?')} |")
PY
