#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Counts test cases in meson testlog.json files and prints "N passed, N failed, N skipped".

A TAP test program counts once per "ok"/"not ok" line, so the total reflects test cases, not programs.
A program that failed without reporting a failing case (a crash, a sanitizer abort, a timeout) counts
as one more failure. Exits 1 when anything failed.
"""
import json
import re
import sys

TAP_LINE = re.compile(r"^(not ok|ok)\b(.*)$")
TAP_PLAN = re.compile(r"^1\.\.\d+", re.MULTILINE)


def count(paths):
    passed = failed = skipped = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                t = json.loads(line)
                result = t.get("result", "")
                stdout = t.get("stdout") or ""
                # testlog.json does not record the protocol; a TAP plan line identifies TAP output.
                if TAP_PLAN.search(stdout):
                    p = fl = sk = 0
                    for out in stdout.splitlines():
                        m = TAP_LINE.match(out.strip())
                        if not m:
                            continue
                        directive = m.group(2)
                        if m.group(1) == "not ok":
                            fl += 1
                        elif "# SKIP" in directive.upper():
                            sk += 1
                        else:
                            p += 1
                    if result not in ("OK", "SKIP", "EXPECTEDFAIL") and fl == 0:
                        fl = 1
                    passed, failed, skipped = passed + p, failed + fl, skipped + sk
                elif result in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif result == "SKIP":
                    skipped += 1
                else:
                    failed += 1
    return passed, failed, skipped


def main():
    passed, failed, skipped = count(sys.argv[1:])
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
