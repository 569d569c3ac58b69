#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What a 4 KiB request costs a server's CPU with an epoll loop and with an io_uring loop, and
nothing else of a server around them: the floor under server-bench.py's random rows, and the
measurement behind "io_uring for the socket side" in RESULTS.md.

bench/ring-floor.c (built here with cc and liburing) serves a 1 GiB image of random data in
/dev/shm in four ways (its top comment says what each loop does):

  epoll           epoll_wait(), read() until EAGAIN, one send() of the wake-up's replies
  uring           multishot recv into provided buffers, one send per batch, one io_uring_enter()
                  per loop iteration
  epoll-coalesce  epoll, with the next wake-up held for as many bytes as the last (<= 64 KiB,
                  <= 100 us) after a wake-up that brought two requests or more
  uring-coalesce  the same with io_uring

and, with --server, nbdm's nbd-server itself on the same image, for scale. fio's nbd engine
drives each with 4 KiB random reads and writes at QD32 (--depth), pinned to CPU 0, the server
to CPU 1, the ways in rotating order within each round. For each it reports requests per server
CPU second (the server's user + system time from /proc, as server-bench.py reads it), IOPS, and
for the models requests per wake-up and system calls per request; medians of --repeat rounds
with the spread, and each way's efficiency over epoll's.

Usage: bench/ring-floor.py [--server BUILD/server/nbd-server] [--repeat 3] [--runtime 4]
                           [--depth 32]
Needs fio, libnbd-bin, liburing-dev and a C compiler. Not a test: it asserts nothing and never
runs in CI.
"""
import argparse
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
WAYS = ("epoll", "uring", "epoll-coalesce", "uring-coalesce")


def load_server_bench():
    # server-bench.py has a dash in its name, so it is loaded by path; no bytecode is left behind.
    sys.dont_write_bytecode = True
    spec = importlib.util.spec_from_file_location("server_bench", os.path.join(HERE, "server-bench.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sb = load_server_bench()


class Model(sb.Server):
    """ring-floor serving the image one of its ways; it prints a line per client served."""

    def __init__(self, binary, way, image, tmp):
        super().__init__(way, image, tmp)
        self.binary, self.way = binary, way
        self.log = os.path.join(tmp, f"{way}.out")

    def command(self):
        return [self.binary, self.way, str(self.port), self.image]

    def start(self):
        # Its report goes to standard output: keep it.
        self.out = open(self.log, "w")
        self.proc = subprocess.Popen(self.prefix + self.command(), stdout=self.out)
        sb.wait_port(self.port, self.proc)

    def stop(self):
        super().stop()
        self.out.close()

    def counters(self):
        """(requests per wake-up, system calls per request) of the client served last."""
        with open(self.log) as f:
            m = re.search(r"requests/wake-up ([\d.]+) syscalls/request ([\d.]+)", f.read())
        return (float(m.group(1)), float(m.group(2))) if m else None


def run(server, rw, a):
    """(requests per server CPU second, IOPS, model counters or None) for one fio run."""
    server.start()
    try:
        before = server.cpu_seconds()
        _, iops, moved = sb.fio(server.uri(), rw, "4k", a.depth, a.runtime, "1G", ramp=0,
                                prefix=["taskset", "-c", "0"])
        cpu = server.cpu_seconds() - before
    finally:
        server.stop()
    counters = server.counters() if isinstance(server, Model) else None
    return (moved / 4096) / cpu if cpu > 0 else float("nan"), iops, counters


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", help="nbdm's nbd-server, measured beside the models for scale")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--runtime", type=int, default=4, help="seconds per fio run")
    p.add_argument("--depth", type=int, default=32, help="fio's queue depth (at most 64)")
    a = p.parse_args()
    if os.cpu_count() < 2:
        sys.exit("ring-floor.py needs two CPUs: the client on one, the server on the other")

    tmp = tempfile.mkdtemp(prefix="nbdm-ring-floor.", dir="/dev/shm")
    try:
        binary = os.path.join(tmp, "ring-floor")
        subprocess.run(["cc", "-O2", "-Wall", "-o", binary, os.path.join(HERE, "ring-floor.c"),
                        "-luring"], check=True)
        image = os.path.join(tmp, "image")
        sb.write_random(image, 1 << 30)
        servers = [Model(binary, way, image, tmp) for way in WAYS]
        if a.server:
            servers.insert(0, sb.Nbdm(os.path.abspath(a.server), image, tmp))
        for s in servers:
            s.prefix = ["taskset", "-c", "1"]
        results = {}
        for r in range(a.repeat):
            for i, rw in enumerate(("randread", "randwrite")):
                shift = (r + i) % len(servers)
                for s in servers[shift:] + servers[:shift]:
                    results.setdefault((rw, s.name), []).append(run(s, rw, a))
                    print(f"round {r + 1} {rw} {s.name}: {results[(rw, s.name)][-1][0]:.0f} "
                          "requests per server CPU second", file=sys.stderr)
    finally:
        subprocess.run(["rm", "-rf", tmp])

    print(f"\nMedians of {a.repeat} rounds, {a.runtime} s per fio run, 4 KiB at QD{a.depth}, "
          "fio on CPU 0 and the server on CPU 1:\n")
    print("| row | way | requests per server CPU second | spread | over epoll | IOPS | "
          "requests per wake-up | system calls per request |")
    print("|---|---|---|---|---|---|---|---|")
    for rw in ("randread", "randwrite"):
        base = statistics.median(x[0] for x in results[(rw, "epoll")])
        for s in servers:
            rows = results[(rw, s.name)]
            eff = [x[0] for x in rows]
            counters = [x[2] for x in rows if x[2]]
            wake = f"{statistics.median(c[0] for c in counters):.2f}" if counters else ""
            calls = f"{statistics.median(c[1] for c in counters):.2f}" if counters else ""
            print(f"| {rw} | {s.name} | {statistics.median(eff):,.0f} | {min(eff):,.0f}-{max(eff):,.0f} "
                  f"| {statistics.median(eff) / base:.2f}x | {statistics.median(x[1] for x in rows):,.0f} "
                  f"| {wake} | {calls} |")


if __name__ == "__main__":
    main()
