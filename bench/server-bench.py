#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Serves one 1 GiB image from /dev/shm with nbdm's nbd-server and each peer (Debian's nbd-server,
nbdkit's file plugin, qemu-nbd), one after the other, over TCP loopback, and measures each with the
same clients: fio's nbd engine (sequential 256k at QD16, random 4k at QD32, reads and writes) and
nbdcopy with 1 and 4 connections. iperf3 gives the loopback ceiling. Prints a table with the ratio of
nbdm to the best peer on every row.

Each figure is the median of --repeat rounds; the servers take turns within a round, in a rotating
order, so that a slow moment of the machine does not fall on one server only. The table also shows the
spread (lowest-highest) of nbdm's figure.

Usage: bench/server-bench.py [--server build/server/nbd-server] [--runtime 8] [--size 1G] [--repeat 3]
                             [--only nbdm,...] [--baseline OLD-nbd-server]
--baseline measures an earlier build in the same rounds, so that a change is judged against noise
of the same moment.
Needs (Debian): fio, libnbd-bin, nbdkit, qemu-utils, nbd-server, iperf3.
Not a test: it asserts nothing and never runs in CI.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

MiB = 1 << 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class Server:
    """A server under test; start() returns when it accepts connections.

    prefix is put in front of the command (tls-bench.py pins servers to a CPU with taskset, which
    execs the server, so the process started is the server itself); log names a file for the
    server's standard error, which is discarded otherwise."""

    def __init__(self, name, image, tmp):
        self.name, self.image, self.tmp = name, image, tmp
        self.port = free_port()
        self.proc = None
        self.pidfile = None
        self.prefix = []
        self.log = None

    def uri(self):
        return f"nbd://127.0.0.1:{self.port}/"

    def command(self):
        raise NotImplementedError

    def start(self):
        err = open(self.log, "a") if self.log else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(self.prefix + self.command(),
                                         stdout=subprocess.DEVNULL, stderr=err)
        finally:
            if self.log:
                err.close()
        wait_port(self.port, self.proc)

    def cpu_seconds(self):
        """User and system time of the server so far: all its threads, those that have ended
        included, and its children that it has reaped (fields 14-17 of /proc/PID/stat)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            # The command name may hold spaces; the fields after it are counted from its ')'.
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        pid = None
        if self.proc is not None:
            pid = self.proc.pid
        elif self.pidfile and os.path.exists(self.pidfile):
            with open(self.pidfile) as f:
                pid = int(f.read().strip())
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        elif pid:
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)


class Nbdm(Server):
    def __init__(self, binary, *a, name="nbdm"):
        super().__init__(name, *a)
        self.binary = binary

    def command(self):
        # -C /dev/null: like the reference, nbd-server also reads /etc/nbd-server/config, whose
        # user = nbd would drop the privileges the benchmark's image needs.
        return [self.binary, "--foreground", "-C", "/dev/null", f"127.0.0.1@{self.port}", self.image]


class ReferenceNbdServer(Server):
    def __init__(self, *a):
        super().__init__("nbd-server", *a)

    def start(self):
        # The reference server forks per client and daemonises; its pid file tells which process to end.
        conf = os.path.join(self.tmp, "nbd-server.conf")
        with open(conf, "w") as f:
            f.write("[generic]\n")
        self.pidfile = os.path.join(self.tmp, "nbd-server.pid")
        subprocess.run(["/usr/bin/nbd-server", "-C", conf, "-p", self.pidfile,
                        f"127.0.0.1@{self.port}", self.image], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, None)


class Nbdkit(Server):
    def __init__(self, *a):
        super().__init__("nbdkit", *a)

    def command(self):
        return ["nbdkit", "-f", "-i", "127.0.0.1", "-p", str(self.port), "file", self.image]


class QemuNbd(Server):
    def __init__(self, *a):
        super().__init__("qemu-nbd", *a)

    def command(self):
        return ["qemu-nbd", "-f", "raw", "-b", "127.0.0.1", "-p", str(self.port), "-e", "8", "-t",
                self.image]


def fio(uri, rw, bs, depth, runtime, size, ramp=1, prefix=(), env=None):
    """Returns MiB/s, IOPS and the bytes moved after the ramp. prefix goes in front of the command
    (taskset), env replaces the environment."""
    out = subprocess.run(list(prefix) +
                         ["fio", "--name=bench", "--ioengine=nbd", f"--uri={uri}", f"--rw={rw}",
                          f"--bs={bs}", f"--iodepth={depth}", f"--size={size}", "--time_based",
                          f"--runtime={runtime}", f"--ramp_time={ramp}", "--output-format=json"],
                         check=True, capture_output=True, text=True, env=env).stdout
    # The nbd engine prints a line of its own before the JSON document.
    job = json.loads(out[out.index("{"):])["jobs"][0]
    side = job["read"] if "read" in rw else job["write"]
    return side["bw_bytes"] / MiB, side["iops"], side["io_bytes"]


def nbdcopy(src, dst, conns, size_bytes, prefix=()):
    start = time.monotonic()
    subprocess.run(list(prefix) +
                   ["nbdcopy", "--no-extents", f"--connections={conns}", "--requests=64",
                    "--request-size=262144", src, dst], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return size_bytes / MiB / (time.monotonic() - start)


def parse_size(text):
    """1G, 512M, 64K or a number of bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def write_random(path, size_bytes):
    # Random data, so that no server can answer a READ with a hole or compress anything.
    with open(path, "wb") as f:
        left = size_bytes
        while left:
            n = min(left, 16 * MiB)
            f.write(os.urandom(n))
            left -= n


def rotation(servers, round_no):
    """The order of the servers in a round: each round starts one further along, so that a slow
    moment of the machine does not always fall on the same server."""
    k = round_no % len(servers)
    return servers[k:] + servers[:k]


def iperf3_ceiling(runtime):
    port = free_port()
    srv = subprocess.Popen(["iperf3", "-s", "-p", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Probing the port would count as a (failed) test run to iperf3: give it a moment instead.
        time.sleep(0.5)
        out = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(runtime), "-J"],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 8 / MiB
    finally:
        srv.terminate()
        srv.wait(timeout=15)


ROWS = [
    # label, unit, function(server) -> value
    ("seq read 256k QD16", "MiB/s", lambda s, a: fio(s.uri(), "read", "256k", 16, a.runtime, a.size)[0]),
    ("seq write 256k QD16", "MiB/s", lambda s, a: fio(s.uri(), "write", "256k", 16, a.runtime, a.size)[0]),
    ("rand read 4k QD32", "IOPS", lambda s, a: fio(s.uri(), "randread", "4k", 32, a.runtime, a.size)[1]),
    ("rand write 4k QD32", "IOPS", lambda s, a: fio(s.uri(), "randwrite", "4k", 32, a.runtime, a.size)[1]),
    ("nbdcopy read, 1 conn", "MiB/s", lambda s, a: nbdcopy(s.uri(), "null:", 1, a.size_bytes)),
    ("nbdcopy read, 4 conns", "MiB/s", lambda s, a: nbdcopy(s.uri(), "null:", 4, a.size_bytes)),
    ("nbdcopy write, 1 conn", "MiB/s", lambda s, a: nbdcopy(a.source, s.uri(), 1, a.size_bytes)),
    ("nbdcopy write, 4 conns", "MiB/s", lambda s, a: nbdcopy(a.source, s.uri(), 4, a.size_bytes)),
]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default=os.path.join(os.path.dirname(__file__), "..", "build", "server",
                                                    "nbd-server"))
    p.add_argument("--runtime", type=int, default=8, help="seconds per fio run")
    p.add_argument("--size", default="1G")
    p.add_argument("--only", help="comma-separated servers to run (nbdm,nbd-server,nbdkit,qemu-nbd)")
    p.add_argument("--repeat", type=int, default=3, help="rounds; each figure is their median")
    p.add_argument("--baseline", help="another nbd-server binary (an earlier build), measured in the "
                   "same rounds as nbdm-before, for before/after comparisons")
    a = p.parse_args()
    a.size_bytes = parse_size(a.size)
    for tool in ("fio", "nbdcopy", "nbdkit", "qemu-nbd", "iperf3"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install fio libnbd-bin nbdkit qemu-utils nbd-server iperf3")

    tmp = tempfile.mkdtemp(prefix="nbdm-bench.", dir="/dev/shm")
    image = os.path.join(tmp, "image")
    a.source = os.path.join(tmp, "source")
    try:
        for path in (image, a.source):
            write_random(path, a.size_bytes)
        servers = [Nbdm(os.path.abspath(a.server), image, tmp), ReferenceNbdServer(image, tmp),
                   Nbdkit(image, tmp), QemuNbd(image, tmp)]
        if a.only:
            servers = [s for s in servers if s.name in a.only.split(",")]
        if a.baseline:
            servers.insert(1, Nbdm(os.path.abspath(a.baseline), image, tmp, name="nbdm-before"))
        samples = {}
        ceilings = []
        for round_no in range(a.repeat):
            for s in rotation(servers, round_no):
                print(f"# round {round_no + 1}: {s.name} on port {s.port}", file=sys.stderr)
                s.start()
                try:
                    for label, _, fn in ROWS:
                        v = fn(s, a)
                        samples.setdefault((s.name, label), []).append(v)
                        print(f"#   {label}: {v:.0f}", file=sys.stderr)
                finally:
                    s.stop()
            ceilings.append(iperf3_ceiling(5))
        results = {k: statistics.median(v) for k, v in samples.items()}
        ceiling = statistics.median(ceilings)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    names = [s.name for s in servers]
    header = (f"| {'test':<24} | {'unit':<5} | " + " | ".join(f"{n:>10}" for n in names) +
              " | nbdm spread | nbdm / best peer |" + (" nbdm / before |" if a.baseline else ""))
    print(header)
    print("|" + "|".join("-" * (len(c) + 2) for c in header.strip().strip("|").split("|")) + "|")
    for label, unit, _ in ROWS:
        vals = [results[(n, label)] for n in names]
        peers = [results[(n, label)] for n in names if not n.startswith("nbdm")]
        ratio = f"{results.get(('nbdm', label), 0) / max(peers):.2f}x" if peers and max(peers) else "-"
        ours = samples.get(("nbdm", label), [0])
        spread = f"{min(ours):.0f}-{max(ours):.0f}"
        before = results.get(("nbdm-before", label))
        change = f" {results.get(('nbdm', label), 0) / before:.2f}x |" if before else ""
        print(f"| {label:<24} | {unit:<5} | " + " | ".join(f"{v:>10.0f}" for v in vals) +
              f" | {spread:>11} | {ratio} |" + change)
    print(f"\nMedians of {a.repeat} rounds, {a.runtime} s per fio run, {a.size} image in /dev/shm, TCP loopback.")
    print(f"Loopback ceiling (iperf3, one stream): {ceiling:.0f} MiB/s")
    if ("nbdm", ROWS[0][0]) in results:
        print(f"nbdm sequential read: {100 * results[('nbdm', ROWS[0][0])] / ceiling:.0f}% of the ceiling")


if __name__ == "__main__":
    main()
