#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Serves one 1 GiB image from /dev/shm with nbdm's nbd-server and each peer (Debian's nbd-server,
nbdkit's file plugin, qemu-nbd), one after the other, over TCP loopback, and measures each with the
same clients: fio's nbd engine (sequential 256k at QD16, random 4k at QD32, reads and writes) and
nbdcopy with 1 and 4 connections (whole copies, repeated for --runtime seconds). iperf3 gives the
loopback ceiling.

With --pin (the default on a machine of 2 or more CPUs) the load generator runs on one CPU and the
server on another (taskset), so that neither takes the other's time. Every run measures the
server's CPU seconds (user + system of all its threads and processes, reaped children included,
from /proc) and the client's (its rusage), and reports the work done per server CPU second: MiB for
the MiB/s rows, requests for the IOPS rows. That is what the server controls: how much CPU a unit of
work costs it, which decides how far it scales on a larger machine and what it leaves to the
applications beside it.

Each figure is the median of --repeat rounds. All servers run through a round (each started
afresh for it, idle while the others are measured), and each row is measured on every server back
to back, in an order that rotates with the row and the round: a slow moment of the machine, which
lasts seconds to minutes here, then falls on every server of a row alike instead of on all the rows
of one server. The tables show the spread (lowest-highest) of nbdm's figures and the ratio of nbdm
to the best peer on every row, for throughput and for efficiency. --idle 1,100,1000 also measures
each server's memory (proportional set size of all its processes) with that many idle connections,
each past its handshake, and the bytes each connection costs. --latency adds 4k random reads and
writes at QD1 and QD4 and their mean completion latency, where a server that holds requests back
to batch them would show.

Usage: bench/server-bench.py [--server build/server/nbd-server] [--runtime 8] [--size 1G] [--repeat 3]
                             [--only nbdm,...] [--baseline OLD-nbd-server] [--no-pin]
                             [--idle 1,100,1000] [--no-throughput] [--latency] [--row TEXT]...
                             [--dir /dev/shm]
--baseline measures an earlier build in the same rounds, so that a change is judged against noise
of the same moment. --row keeps only the rows whose label contains TEXT (repeatable), for a quick
comparison on the rows a change is about (with --latency, the latency rows too). The summary names
the system's TCP congestion control, which every server's connections get. --dir makes the image in
another directory, e.g. a tmpfs mounted with huge=always, whose files are backed by 2 MiB pages.
Needs (Debian): fio, libnbd-bin, nbdkit, qemu-utils, nbd-server, iperf3.
Not a test: it asserts nothing and never runs in CI.
"""
import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import struct
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

    def main_pid(self):
        if self.proc is not None:
            return self.proc.pid
        with open(self.pidfile) as f:
            return int(f.read().strip())

    def pids(self):
        """The server's process and all its descendants (the reference forks one per client)."""
        children = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry))
        todo, found = [self.main_pid()], []
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def cpu_seconds(self):
        """User and system time of the server so far: all threads of all its processes, those
        that have ended included, and the children it has reaped (fields 14-17 of
        /proc/PID/stat of the main process; 14-15 of the others, whose own reaped children are
        counted when they are reaped in turn)."""
        total = 0
        main = self.main_pid()
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    # The command name may hold spaces; the fields after it count from its ')'.
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(v) for v in fields[11:15 if pid == main else 13])
        return total / os.sysconf("SC_CLK_TCK")

    def memory_kib(self):
        """Proportional set size of all the server's processes, in KiB: shared pages counted once
        across them."""
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
            except OSError:
                continue
        return total

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
        subprocess.run(self.prefix + ["/usr/bin/nbd-server", "-C", conf, "-p", self.pidfile,
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
        self.max_connections = 8

    def command(self):
        return ["qemu-nbd", "-f", "raw", "-b", "127.0.0.1", "-p", str(self.port), "-e",
                str(self.max_connections), "-t", self.image]


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
    fio.last_latency_us = side["clat_ns"]["mean"] / 1000
    return side["bw_bytes"] / MiB, side["iops"], side["io_bytes"]


def nbdcopy(src, dst, conns, prefix=()):
    subprocess.run(list(prefix) +
                   ["nbdcopy", "--no-extents", f"--connections={conns}", "--requests=64",
                    "--request-size=262144", src, dst], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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
    """The order of the servers in a round (here: in a row of a round): each starts one further
    along, so that a slow moment of the machine does not always fall on the same server."""
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


def fio_row(rw, bs, depth, iops):
    """A fio row: (throughput, work), work in requests for an IOPS row, MiB otherwise. No ramp:
    the server's CPU is counted over the whole run, so the work must be too."""
    def run(s, a):
        mib_s, io_s, moved = fio(s.uri(), rw, bs, depth, a.runtime, a.size, ramp=0,
                                 prefix=a.client_prefix)
        return (io_s, moved / parse_size(bs.upper())) if iops else (mib_s, moved / MiB)
    return run


def latency_row(rw, depth):
    """A latency row: (mean completion latency in microseconds, requests)."""
    def run(s, a):
        _, _, moved = fio(s.uri(), rw, "4k", depth, a.runtime, a.size, ramp=0,
                          prefix=a.client_prefix)
        return fio.last_latency_us, moved / 4096
    return run


def nbdcopy_row(conns, write):
    """Whole copies, again and again for --runtime seconds: one copy of 1 GiB is a third of a second
    of server CPU, which /proc counts in 10 ms ticks."""
    def run(s, a):
        src, dst = (a.source, s.uri()) if write else (s.uri(), "null:")
        copies, start = 0, time.monotonic()
        while copies == 0 or time.monotonic() - start < a.runtime:
            nbdcopy(src, dst, conns, prefix=a.client_prefix)
            copies += 1
        moved = copies * a.size_bytes / MiB
        return moved / (time.monotonic() - start), moved
    return run


ROWS = [
    # label, unit of throughput, unit of work, function(server, args) -> (throughput, work)
    ("seq read 256k QD16", "MiB/s", "MiB", fio_row("read", "256k", 16, False)),
    ("seq write 256k QD16", "MiB/s", "MiB", fio_row("write", "256k", 16, False)),
    ("rand read 4k QD32", "IOPS", "req", fio_row("randread", "4k", 32, True)),
    ("rand write 4k QD32", "IOPS", "req", fio_row("randwrite", "4k", 32, True)),
    ("nbdcopy read, 1 conn", "MiB/s", "MiB", nbdcopy_row(1, False)),
    ("nbdcopy read, 4 conns", "MiB/s", "MiB", nbdcopy_row(4, False)),
    ("nbdcopy write, 1 conn", "MiB/s", "MiB", nbdcopy_row(1, True)),
    ("nbdcopy write, 4 conns", "MiB/s", "MiB", nbdcopy_row(4, True)),
]

# With --latency: shallow queues, where a server that waits to batch requests would show.
LATENCY_ROWS = [
    ("rand read 4k QD1", "us", "req", latency_row("randread", 1)),
    ("rand write 4k QD1", "us", "req", latency_row("randwrite", 1)),
    ("rand read 4k QD4", "us", "req", latency_row("randread", 4)),
    ("rand write 4k QD4", "us", "req", latency_row("randwrite", 4)),
]


def congestion_control():
    try:
        with open("/proc/sys/net/ipv4/tcp_congestion_control") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def client_cpu_seconds():
    """CPU of the benchmark's waited-for children: the load generators (servers are waited for
    only when they stop, after their rows)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(s, fn, a):
    """One run of a row: throughput, work, the server's and the client's CPU seconds."""
    cpu0, client0 = s.cpu_seconds(), client_cpu_seconds()
    value, work = fn(s, a)
    # A forking server adds a child's time to its own when it reaps it, just after the client
    # leaves.
    time.sleep(0.2)
    return value, work, s.cpu_seconds() - cpu0, client_cpu_seconds() - client0


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise RuntimeError("the server closed the connection during the handshake")
        data += chunk
    return data


def idle_connection(port):
    """A connection past the fixed-newstyle handshake (NBD_OPT_GO for the default export), left
    idle in the transmission phase."""
    sock = socket.create_connection(("127.0.0.1", port))
    greeting = recv_exact(sock, 18)
    if greeting[:8] != b"NBDMAGIC" or greeting[8:16] != b"IHAVEOPT":
        raise RuntimeError("not a newstyle NBD server")
    sock.sendall(struct.pack(">I", 3))  # FIXED_NEWSTYLE | NO_ZEROES
    data = struct.pack(">IH", 0, 0)     # the default export, no information requests
    sock.sendall(b"IHAVEOPT" + struct.pack(">II", 7, len(data)) + data)
    while True:
        _, _, rtype, length = struct.unpack(">QIII", recv_exact(sock, 20))
        recv_exact(sock, length)
        if rtype == 1:  # NBD_REP_ACK
            return sock
        if rtype & 0x80000000:
            raise RuntimeError(f"the server refused NBD_OPT_GO (reply type {rtype:#x})")


def idle_memory(s, counts):
    """The server's memory (KiB) with each count of idle connections, counts ascending."""
    result, socks = {}, []
    try:
        for n in counts:
            while len(socks) < n:
                socks.append(idle_connection(s.port))
            time.sleep(1)
            result[n] = s.memory_kib()
    finally:
        for sock in socks:
            sock.close()
    return result


def ratio_to_best_peer(results, names, key, lower_is_better=False):
    peers = [results[(n, key)] for n in names if not n.startswith("nbdm") and results.get((n, key))]
    ours = results.get(("nbdm", key))
    best = min(peers) if lower_is_better and peers else max(peers) if peers else 0
    return f"{ours / best:.2f}x" if peers and ours else "-"


def print_table(title, names, rows, results, samples, fmt="{:.0f}", lower_is_better=False):
    print(f"\n{title}\n")
    header = (f"| {'test':<24} | {'unit':<7} | " + " | ".join(f"{n:>10}" for n in names) +
              " | nbdm spread | nbdm / best peer |" +
              (" nbdm / before |" if "nbdm-before" in names else ""))
    print(header)
    print("|" + "|".join("-" * (len(c) + 2) for c in header.strip().strip("|").split("|")) + "|")
    for label, unit in rows:
        vals = [results.get((n, label), 0) for n in names]
        ours = samples.get(("nbdm", label), [0])
        spread = (fmt + "-" + fmt).format(min(ours), max(ours))
        before = results.get(("nbdm-before", label))
        change = f" {results.get(('nbdm', label), 0) / before:.2f}x |" if before else ""
        print(f"| {label:<24} | {unit:<7} | " + " | ".join(f"{fmt.format(v):>10}" for v in vals) +
              f" | {spread:>11} | {ratio_to_best_peer(results, names, label, lower_is_better)} |" + change)


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
    p.add_argument("--no-pin", dest="pin", action="store_false",
                   help="let the client and the server run on any CPU")
    p.add_argument("--idle", default="", help="comma-separated counts of idle connections for the "
                   "memory table, e.g. 1,100,1000 (none by default)")
    p.add_argument("--no-throughput", dest="throughput", action="store_false",
                   help="only the idle-connection memory")
    p.add_argument("--latency", action="store_true",
                   help="also 4k random reads and writes at QD1 and QD4: mean completion latency")
    p.add_argument("--row", action="append", default=[],
                   help="only the rows whose label contains this text, e.g. 'seq read' (repeatable)")
    p.add_argument("--dir", default="/dev/shm",
                   help="where the image is made (default /dev/shm); a tmpfs keeps disks out of it")
    a = p.parse_args()
    def chosen(row):
        return not a.row or any(text in row[0] for text in a.row)
    throughput_rows = [r for r in ROWS if chosen(r)]
    latency_rows = [r for r in LATENCY_ROWS if a.latency and chosen(r)]
    rows = throughput_rows + latency_rows
    if not rows:
        sys.exit("no row's label contains " + " or ".join(repr(t) for t in a.row) + "; the rows are: " +
                 "; ".join(r[0] for r in ROWS + LATENCY_ROWS))
    a.size_bytes = parse_size(a.size)
    for tool in ("fio", "nbdcopy", "nbdkit", "qemu-nbd", "iperf3", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install fio libnbd-bin nbdkit qemu-utils nbd-server "
                     "iperf3 util-linux")
    if a.pin and os.cpu_count() < 2:
        a.pin = False
    a.client_prefix = ["taskset", "-c", "0"] if a.pin else []
    server_prefix = ["taskset", "-c", "1"] if a.pin else []
    idle_counts = sorted(int(n) for n in a.idle.split(",") if n)
    # A thousand idle connections need as many descriptors, in the benchmark and the servers.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    tmp = tempfile.mkdtemp(prefix="nbdm-bench.", dir=a.dir)
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
        for s in servers:
            s.prefix = server_prefix
            if isinstance(s, QemuNbd):
                s.max_connections = max([8] + idle_counts)
        samples = {}
        ceilings = []
        for round_no in range(a.repeat if a.throughput else 0):
            started = []
            try:
                for s in servers:
                    print(f"# round {round_no + 1}: {s.name} on port {s.port}", file=sys.stderr)
                    s.start()
                    started.append(s)
                for row_no, (label, _, _, fn) in enumerate(rows):
                    for s in rotation(servers, round_no + row_no):
                        value, work, cpu, client = measure(s, fn, a)
                        for key, v in ((label, value), (("eff", label), work / cpu if cpu else 0),
                                       (("cpu", label), cpu), (("client", label), client)):
                            samples.setdefault((s.name, key), []).append(v)
                        print(f"#   {label}: {s.name} {value:.0f}, server {cpu:.2f} s, client "
                              f"{client:.2f} s", file=sys.stderr)
            finally:
                for s in started:
                    s.stop()
            ceilings.append(iperf3_ceiling(5))
        memory = {}
        for s in servers if idle_counts else []:
            print(f"# idle connections: {s.name}", file=sys.stderr)
            s.start()
            try:
                memory[s.name] = idle_memory(s, idle_counts)
            finally:
                s.stop()
        results = {k: statistics.median(v) for k, v in samples.items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    names = [s.name for s in servers]
    pinning = "client on CPU 0, server on CPU 1 (taskset)" if a.pin else "not pinned"
    if a.throughput:
        if throughput_rows:
            print_table("Throughput", names, [(label, unit) for label, unit, _, _ in throughput_rows],
                        results, samples)
        if latency_rows:
            print_table("Mean completion latency (lower is better; nbdm / best peer below 1 is "
                        "better)", names, [(label, unit) for label, unit, _, _ in latency_rows],
                        results, samples, fmt="{:.1f}", lower_is_better=True)
        eff = {(n, label): results[(n, ("eff", label))] for n in names for label, _, _, _ in rows}
        eff_samples = {("nbdm", label): samples[("nbdm", ("eff", label))] for label, _, _, _ in rows}
        print_table("Work per server CPU second", names,
                    [(label, f"{work}/cpu") for label, _, work, _ in rows], eff, eff_samples)
        for kind, title in (("cpu", "Server CPU seconds per run"), ("client", "Client CPU seconds per run")):
            table = {(n, label): results[(n, (kind, label))] for n in names for label, _, _, _ in rows}
            table_samples = {("nbdm", label): samples[("nbdm", (kind, label))] for label, _, _, _ in rows}
            print_table(title, names, [(label, "s") for label, _, _, _ in rows], table, table_samples,
                        fmt="{:.2f}")
        print(f"\nMedians of {a.repeat} rounds, {a.runtime} s per fio run, {a.size} image in {a.dir}, "
              f"TCP loopback, {pinning}.")
        print(f"Loopback ceiling (iperf3, one stream): {statistics.median(ceilings):.0f} MiB/s; "
              f"TCP congestion control: {congestion_control()}")
    if memory:
        print("\nServer memory (proportional set size, KiB) with idle connections past the handshake\n")
        cols = [f"{n} conns" for n in idle_counts] + ["bytes per conn"]
        print("| server | " + " | ".join(cols) + " |")
        print("|---|" + "---|" * len(cols))
        for n in names:
            m = memory[n]
            lo, hi = idle_counts[0], idle_counts[-1]
            per = (m[hi] - m[lo]) * 1024 / (hi - lo) if hi > lo else 0
            print(f"| {n} | " + " | ".join(str(m[c]) for c in idle_counts) + f" | {per:.0f} |")


if __name__ == "__main__":
    main()
