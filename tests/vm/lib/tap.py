#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Turns the guest's result lines into TAP for meson.

tap.py SERIES RESULTS CONSOLE QEMU_STATUS SECONDS

RESULTS is what the guest wrote to its second serial port; when it is empty (no such port), the
console's "NBDM-VM: " lines stand in. Each "ok - X" / "not ok - X" becomes "ok N - [SERIES] X", "# ..."
lines stay diagnostics, anything else becomes one. The guest ends with
"NBDM-VM-RESULT: passed=P failed=F"; a missing line (panic, hang, QEMU killed by the timeout) or counts
that disagree with the lines received become one more failing case, so a guest that died half-way
can never look like a pass. Exits 1 when any case failed, for the caller to keep the console log.

Each failing case is also written to stderr with the diagnostics that follow it: meson shows a failed
test's stderr but not its TAP diagnostics, and a CI log is often all there is to read afterwards.
"""
import re
import sys

PREFIX = "NBDM-VM: "
RESULT = re.compile(r"^NBDM-VM-RESULT: passed=(\d+) failed=(\d+)\s*$")


def read_lines(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            # The tty turns "\n" into "\r\n"; a UART may also deliver a stray NUL on reset.
            return [l.replace("\r", "").replace("\0", "") for l in f.read().split("\n")]
    except FileNotFoundError:
        return []


def main():
    series, results, console, qemu_status, seconds = sys.argv[1:6]
    lines = [l for l in read_lines(results) if l.strip()]
    if not lines:
        lines = [l[l.index(PREFIX) + len(PREFIX):] for l in read_lines(console) if PREFIX in l]

    out = []
    n = passed = failed = 0
    reported = None

    def case(good, text):
        nonlocal n
        n += 1
        out.append(f"{'ok' if good else 'not ok'} {n} - [{series}] {text}")

    for line in lines:
        m = RESULT.match(line)
        if m:
            reported = (int(m.group(1)), int(m.group(2)))
        elif line.startswith("ok - "):
            passed += 1
            case(True, line[5:])
        elif line.startswith("not ok - "):
            failed += 1
            case(False, line[9:])
        elif line.startswith("#"):
            out.append(line)
        else:
            out.append("# " + line)

    out.append(f"# QEMU exited with status {qemu_status} after {seconds} s")
    if reported is None:
        case(False, "guest ran all its tests and reported NBDM-VM-RESULT "
             f"(missing: the guest panicked, hung or was killed; QEMU status {qemu_status})")
    elif reported != (passed, failed):
        case(False, f"guest's NBDM-VM-RESULT passed={reported[0]} failed={reported[1]} matches the "
             f"{passed} passed and {failed} failed lines received")
    elif passed + failed == 0:
        case(False, "guest ran at least one test")
    else:
        case(True, f"guest finished: passed={passed} failed={failed} ({seconds} s)")

    out.append(f"1..{n}")
    print("\n".join(out), flush=True)
    failures = failure_report(out)
    if failures:
        print("\n".join(failures), file=sys.stderr, flush=True)
    return 1 if failures else 0


def failure_report(tap, most=60):
    """The failing cases, each with up to MOST diagnostic lines that follow it, and the logs the guest
    showed for a failed test (guest/lib.sh, show_logs)."""
    report = []
    shown = None
    for line in tap:
        if line.startswith("not ok") or line.startswith("# logs of the failed test "):
            report.append(line)
            shown = 0
        elif line.startswith("#") and shown is not None and shown < most:
            report.append(line)
            shown += 1
        else:
            shown = None
    return report


if __name__ == "__main__":
    sys.exit(main())
