#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vm-local-bench.sh BUILD [SERIES...]: a local raw image on a block device inside the test VM (the
# host kernel has no nbd driver), three ways: nbd-client attach file:///IMAGE, qemu-nbd -c, and
# losetup. Sequential O_DIRECT dd with 1 MiB blocks, MIB MiB each way per round, ROUNDS rounds in
# rotating order; medians, ratios, and the guest's CPU ticks per GiB. The guest side is
# bench/lib/vm-local-guest.sh; qemu-nbd comes from the host's qemu-utils.
#
# BUILD is a build directory with server/nbd-server and client/nbd-client; SERIES are kernel series
# of tests/vm/run-vm.sh (default: 6.12). Environment: ROUNDS (5), MIB (128), BENCH_KEEP=DIR (keep
# each VM's raw output). The VM runs under TCG: only ratios between tools of one run mean anything.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: vm-local-bench.sh BUILD [SERIES...]}" && pwd)
shift
[ $# -gt 0 ] || set -- 6.12
qemu_nbd=$(command -v qemu-nbd) || { echo "vm-local-bench: qemu-nbd is missing (apt-get install qemu-utils)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
guest=$tmp/vm-local-guest.sh
{ echo "ROUNDS=${ROUNDS:-5}"; echo "MIB=${MIB:-128}"; cat "$top/bench/lib/vm-local-guest.sh"; } >"$guest"
export NBD_SERVER=$build/server/nbd-server NBD_CLIENT=$build/client/nbd-client
export NBDM_VM_QEMU_NBD=$qemu_nbd NBDM_VM_SCRIPT=$guest NBDM_VM_TIMEOUT=${NBDM_VM_TIMEOUT:-1500}
export NBDM_VM_LOGDIR=${NBDM_VM_LOGDIR:-/tmp/vmbench-logs}
outs=()
for series in "$@"; do
	out=$tmp/out-$series.txt
	bash "$top/tests/vm/run-vm.sh" "$series" >"$out" 2>&1 || true
	[ -z "${BENCH_KEEP:-}" ] || { mkdir -p "$BENCH_KEEP"; cp "$out" "$BENCH_KEEP/vm-local-$series.txt"; }
	grep -E '^not ok' "$out" >&2 || true
	grep -q 'BENCH run' "$out" || { cat "$out" >&2; echo "vm-local-bench: no figures from $series" >&2; continue; }
	outs+=("$out")
done
[ ${#outs[@]} -gt 0 ] || exit 1
python3 - "${outs[@]}" <<'PY'
import re, statistics, sys

TOOLS = ["nbdm", "qemu-nbd", "loop"]
for path in sys.argv[1:]:
    runs, meta = [], {}
    for line in open(path, errors="replace"):
        m = re.search(r"BENCH (\S+) ?(.*)$", line.replace("\r", ""))
        if not m:
            continue
        if m.group(1) == "run":
            runs.append(dict(kv.split("=", 1) for kv in m.group(2).split()))
        else:
            meta[m.group(1)] = m.group(2).strip()
    mib = int(meta.get("mib", "0"))
    print(f"\n### kernel {meta.get('kernel', '?')}, {meta.get('rounds', '?')} rounds, {mib} MiB each way\n")
    print("| direction | tool | MiB/s (median) | spread | CPU ticks per GiB | nbdm / tool (MiB/s) |")
    print("|---|---|---|---|---|---|")
    for d in ("write", "read"):
        speed, ticks = {}, {}
        for t in TOOLS:
            rs = [r for r in runs if r["tool"] == t and r["dir"] == d]
            if rs:
                v = [mib / float(r["seconds"]) for r in rs if float(r["seconds"]) > 0]
                speed[t] = (statistics.median(v), min(v), max(v))
                ticks[t] = statistics.median(int(r["ticks"]) * 1024 / mib for r in rs)
        for t in TOOLS:
            if t in speed:
                med, lo, hi = speed[t]
                ratio = f"{speed['nbdm'][0] / med:.2f}x" if "nbdm" in speed and t != "nbdm" else "-"
                print(f"| {d} | {t} | {med:.0f} | {lo:.0f}-{hi:.0f} | {ticks[t]:.0f} | {ratio} |")
PY
