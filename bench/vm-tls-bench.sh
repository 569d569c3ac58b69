#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vm-tls-bench.sh BUILD [SERIES...]: /dev/nbdX throughput over TLS inside the test VM (issue 11; the
# host kernel has no nbd driver): our nbd-client with the session in the kernel's TLS, our nbd-client
# relaying it in its supervisor (--tls-ktls=no), and Debian's nbd-client 3.24 with its user-space
# proxy, all against ONE server, our nbd-server with --tls=require and --tls-ktls=yes (so the
# server's side is the same for every client); and our client without TLS for reference. Sequential
# O_DIRECT dd with 1 MiB blocks, MIB MiB each way per round, ROUNDS rounds with the clients in
# rotating order; medians, spreads, ratios, and CPU ticks per GiB. The guest side is
# bench/lib/vm-tls-guest.sh.
#
# BUILD is a build directory (meson) with server/nbd-server, client/nbd-client and tests/vm/*;
# SERIES are kernel series of tests/vm/run-vm.sh (default: 6.12 6.1), one VM after the other.
# Environment: ROUNDS (7), MIB (64), NBDM_VM_TIMEOUT (1500), NBDM_VM_LOGDIR (/tmp/vmbench-logs),
# BENCH_LOCK (/tmp/nbdm-cpu.lock: each VM holds it, as the other benchmarks do; empty for none;
# after BENCH_LOCK_WAIT seconds (600) without it the VM runs anyway),
# BENCH_KEEP=DIR (keep each VM's raw output there).
# vm-tls-bench.sh --report SERIES=FILE...: the tables again from raw outputs kept with BENCH_KEEP.
# The VM runs under TCG, which emulates every AES instruction: absolute figures are far below
# hardware, and only the ratios between clients of the same run mean anything.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
report_only=
if [ "${1:-}" = --report ]; then
	report_only=1
	shift
	outs=("$@")
else
build=$(cd "${1:?usage: vm-tls-bench.sh BUILD [SERIES...]}" && pwd)
shift
[ $# -gt 0 ] || set -- 6.12 6.1
rounds=${ROUNDS:-7}
mib=${MIB:-64}
lock=${BENCH_LOCK-/tmp/nbdm-cpu.lock}
for f in server/nbd-server client/nbd-client tests/vm/fd-connect tests/vm/nbd-monitor \
	tests/vm/tcp-relay tests/vm/notify-listen tests/vm/ktls-check; do
	[ -x "$build/$f" ] || { echo "vm-tls-bench: $build/$f is missing (build first)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The parameters go into the guest as the first lines of its script (the guest has no other
# channel from the host).
guest=$tmp/vm-tls-guest.sh
{ echo "ROUNDS=$rounds"; echo "MIB=$mib"; cat "$top/bench/lib/vm-tls-guest.sh"; } >"$guest"

export NBD_SERVER=$build/server/nbd-server NBD_CLIENT=$build/client/nbd-client
export NBDM_VM_FD_CONNECT=$build/tests/vm/fd-connect NBDM_VM_NBD_MONITOR=$build/tests/vm/nbd-monitor
export NBDM_VM_TCP_RELAY=$build/tests/vm/tcp-relay NBDM_VM_NOTIFY_LISTEN=$build/tests/vm/notify-listen
export NBDM_VM_KTLS_CHECK=$build/tests/vm/ktls-check
export NBDM_VM_LOGDIR=${NBDM_VM_LOGDIR:-/tmp/vmbench-logs}
export NBDM_VM_SCRIPT=$guest NBDM_VM_TIMEOUT=${NBDM_VM_TIMEOUT:-1500}

outs=()
for series in "$@"; do
	out=$tmp/out-$series.txt
	echo "vm-tls-bench: kernel series $series, $rounds rounds of $mib MiB each way ($(date -u '+%F %T') UTC)" >&2
	if [ -n "$lock" ]; then
		(
			flock -w "${BENCH_LOCK_WAIT:-600}" 9 ||
				echo "vm-tls-bench: $lock still held after ${BENCH_LOCK_WAIT:-600} s; running anyway" >&2
			bash "$top/tests/vm/run-vm.sh" "$series" >"$out" 2>&1 || true
		) 9>>"$lock"
	else
		bash "$top/tests/vm/run-vm.sh" "$series" >"$out" 2>&1 || true
	fi
	if [ -n "${BENCH_KEEP:-}" ]; then
		mkdir -p "$BENCH_KEEP"
		cp "$out" "$BENCH_KEEP/vm-tls-$series.txt"
	fi
	if ! grep -q 'BENCH run' "$out"; then
		cat "$out" >&2
		echo "vm-tls-bench: the $series VM produced no figures" >&2
		continue
	fi
	# Anything that failed in the guest (an attach, a check of the data, a session carried otherwise
	# than expected) is shown: the figures of such a run are suspect.
	grep -E '^not ok|^# +(command|exit status|expected|actual)' "$out" >&2 || true
	outs+=("$series=$out")
done
[ ${#outs[@]} -gt 0 ] || exit 1
fi
[ -n "$report_only" ] || [ ${#outs[@]} -gt 0 ] || exit 1

python3 - "${outs[@]}" <<'PY'
import re, statistics, sys

NAMES = {"ktls": "nbdm, kernel TLS", "relay": "nbdm, relay (--tls-ktls=no)",
         "ref": "nbd-client 3.24, its proxy", "plain": "nbdm, no TLS"}
ORDER = ["ktls", "relay", "ref", "plain"]
GIB = 1 << 30

def fmt_ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"

for arg in sys.argv[1:]:
    series, path = arg.split("=", 1)
    runs, meta, sessions = [], {}, []
    for line in open(path, errors="replace"):
        m = re.search(r"BENCH (\S+) ?(.*)$", line.replace("\r", ""))
        if not m:
            continue
        key, rest = m.group(1), m.group(2).strip()
        if key == "run":
            runs.append(dict(kv.split("=", 1) for kv in rest.split()))
        elif key == "session":
            sessions.append(rest)
        else:
            meta.setdefault(key, []).append(rest)
    kernel = meta.get("kernel", ["?"])[0]
    print(f"\n### kernel {kernel} (series {series}), {meta.get('rounds', ['?'])[0]} rounds, "
          f"{meta.get('mib', ['?'])[0]} MiB each way per round\n")
    med = {}
    rows = []
    for d in ("write", "read"):
        for mode in ORDER:
            rs = [r for r in runs if r["mode"] == mode and r["dir"] == d]
            if not rs:
                continue
            mbs = [int(r["bytes"]) / float(r["seconds"]) / 1e6 for r in rs]
            def per_gib(f):
                return statistics.median(f(r) / 100 / (int(r["bytes"]) / GIB) for r in rs)
            t = lambda k: (lambda r: int(r[k]))
            rest = lambda r: (int(r["all_ticks"]) - int(r["client_ticks"]) - int(r["server_ticks"])
                              - int(r["dd_ticks"]))
            client_side = lambda r: int(r["all_ticks"]) - int(r["server_ticks"])
            med[(mode, d)] = statistics.median(mbs)
            rows.append(f"| {d} | {NAMES[mode]} | {len(rs)} | {med[(mode, d)]:.1f} | "
                        f"{min(mbs):.1f}-{max(mbs):.1f} | {per_gib(t('client_ticks')):.0f} | "
                        f"{per_gib(t('dd_ticks')):.0f} | {per_gib(rest):.0f} | "
                        f"{per_gib(client_side):.0f} | "
                        f"{per_gib(t('server_ticks')):.0f} | {per_gib(t('all_ticks')):.0f} |")
    print("| direction | client | rounds | MB/s (median) | spread | CPU s/GiB: client processes | "
          "dd | kernel threads, other | client side (all but the server) | server | all |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print("| direction | kernel TLS / relay | kernel TLS / reference proxy | relay / reference proxy | "
          "kernel TLS / no TLS |")
    print("|---|---|---|---|---|")
    for d in ("write", "read"):
        g = lambda m: med.get((m, d))
        print(f"| {d} | {fmt_ratio(g('ktls'), g('relay'))} | {fmt_ratio(g('ktls'), g('ref'))} | "
              f"{fmt_ratio(g('relay'), g('ref'))} | {fmt_ratio(g('ktls'), g('plain'))} |")
    # Per-round ratios: each round's clients ran back to back, so these show how steady the ratio is
    # under the host's noise.
    print()
    for d in ("write", "read"):
        for a, b in (("ktls", "relay"), ("ktls", "ref"), ("relay", "ref")):
            per = []
            for rnd in sorted({r["round"] for r in runs}, key=int):
                x = [r for r in runs if r["round"] == rnd and r["dir"] == d]
                sa = [float(r["seconds"]) for r in x if r["mode"] == a]
                sb = [float(r["seconds"]) for r in x if r["mode"] == b]
                if sa and sb and sa[0] > 0:
                    per.append(sb[0] / sa[0])
            if per:
                print(f"- {d} {a}/{b} per round: {min(per):.2f}-{max(per):.2f} "
                      f"(median {statistics.median(per):.2f})")
    seen = sorted({" ".join(s.split()[1:]) for s in sessions})
    print("\nSessions as seen after each attach (mode, kernel TLS sessions in /proc/net/tls_stat, "
          "client processes, our status):")
    for s in seen:
        print(f"- {s}")
    for k in ("server_tls_sessions", "server_user_sessions", "server_log"):
        for v in meta.get(k, []):
            print(f"- {k}: {v}")
PY
