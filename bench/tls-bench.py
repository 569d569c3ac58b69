#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The workloads of server-bench.py over TLS: nbdm's nbd-server with X.509 TLS, once with
--tls-ktls=yes (the kernel's TLS takes the sessions, so READ replies keep sendfile) and once with
--tls-ktls=no (GnuTLS records in user space), against nbdkit's file plugin (--tls=require
--tls-certificates) and qemu-nbd (a tls-creds-x509 object), all serving one 1 GiB image of random
data in /dev/shm over TCP loopback with certificates made at run time by tests/tls/make-certs.sh.

Clients: fio's nbd engine (nbds://, sequential 256k at QD16, random 4k at QD32, reads and writes)
and nbdcopy with 1 and 4 connections (nbds://...?tls-certificates=DIR), from the image to null: and
from a file in /dev/shm to the image. The load generator runs on one CPU and the server on another
(taskset), and every run records the server's CPU time (all threads, from /proc/PID/stat) and the
client's (getrusage of the reaped client), so that the tables give throughput and CPU seconds per GiB
moved, with ratios of nbdm to the best peer. nbdm without TLS runs in the same rounds as a reference
(what TLS costs), and each run notes how much of the two CPUs went to other processes meanwhile.

Each figure is the median of --repeat rounds; the servers take turns within a round in a rotating
order, so that a slow moment of the machine (other jobs, VMs) does not fall on one server only.
A run during which other processes took more than --disturbed (10%) of the two CPUs is
left out of a figure when two undisturbed runs remain; when a figure rests on disturbed runs or
varies by more than 20%, up to --extra-rounds more rounds are run.

Usage: bench/tls-bench.py [--server build/server/nbd-server] [--runtime 8] [--size 1G] [--repeat 3]
                          [--extra-rounds 1] [--disturbed 0.1] [--only nbdm-ktls,nbdm-gnutls,nbdkit,qemu-nbd,nbdm-plain]
                          [--server-cpu 1] [--client-cpu 0]
Needs (Debian): fio, libnbd-bin, nbdkit, qemu-utils, gnutls-bin (certtool, psktool).
Not a test: it asserts nothing and never runs in CI.
"""
import argparse
import importlib.util
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GiB = 1 << 30


def load_server_bench():
    # server-bench.py has a dash in its name, so it is loaded by path rather than imported; no
    # bytecode cache is left in the source tree for it.
    sys.dont_write_bytecode = True
    spec = importlib.util.spec_from_file_location("server_bench", os.path.join(HERE, "server-bench.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sb = load_server_bench()


def make_certificates(tmp):
    """Returns (server directory, client directory) in the layout nbdkit, qemu and nbdm's
    --tls-certificates read: ca-cert.pem, server-cert.pem, server-key.pem; the client's holds the CA
    only (no server here asks for a client certificate)."""
    material = os.path.join(tmp, "tls")
    subprocess.run(["sh", os.path.join(HERE, "..", "tests", "tls", "make-certs.sh"), material],
                   check=True)
    server_dir, client_dir = os.path.join(tmp, "server-certs"), os.path.join(tmp, "client-certs")
    os.mkdir(server_dir)
    os.mkdir(client_dir)
    for src, dst in (("ca.pem", f"{server_dir}/ca-cert.pem"), ("server.pem", f"{server_dir}/server-cert.pem"),
                     ("server-key.pem", f"{server_dir}/server-key.pem"), ("ca.pem", f"{client_dir}/ca-cert.pem")):
        shutil.copy(os.path.join(material, src), dst)
    return server_dir, client_dir


def kernel_tls_available():
    """Whether this kernel's TCP takes the "tls" upper-layer protocol (after trying to load the module)."""
    def listed():
        try:
            with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
                return "tls" in f.read().split()
        except OSError:
            return False
    if not listed():
        subprocess.run(["modprobe", "-q", "tls"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return listed()


class TlsServer:
    """What every server over TLS has in common: an nbds:// URI, and the client-side certificate
    directory for clients that take it in the URI (nbdcopy). role: "ours" and "peer" are compared
    in the ratio columns; a "reference" (nbdm without TLS) is shown but not compared."""
    certs = client_certs = None
    role = "peer"

    def uri(self):
        return f"nbds://127.0.0.1:{self.port}/"

    def copy_uri(self):
        return f"{self.uri()}?tls-certificates={self.client_certs}"

    def tls_mode(self):
        return "GnuTLS (user space)"


class TlsNbdm(TlsServer, sb.Nbdm):
    role = "ours"

    def __init__(self, binary, image, tmp, ktls):
        super().__init__(binary, image, tmp, name="nbdm-ktls" if ktls == "yes" else "nbdm-gnutls")
        self.ktls = ktls
        # -v below makes the server say whether its sessions moved into the kernel's TLS.
        self.log = os.path.join(tmp, f"{self.name}.log")

    def command(self):
        cmd = super().command()
        return cmd[:1] + ["-v", "--tls=require", f"--tls-certificates={self.certs}",
                          f"--tls-ktls={self.ktls}"] + cmd[1:]

    def tls_mode(self):
        """What the server's log says about its sessions (all rounds so far)."""
        with open(self.log) as f:
            lines = f.read().splitlines()
        sessions = sum("TLS established" in line for line in lines)
        moved = sum("moved into the kernel" in line for line in lines)
        stayed = [line for line in lines if "stays in user space" in line]
        summary = f"{sessions} TLS sessions, {moved} moved into the kernel"
        if stayed:
            # With --tls-ktls=yes every refusal is logged, with auto only the first one.
            line = stayed[0]
            if "refused the session: " in line:
                reason = line.split("refused the session: ", 1)[1].removesuffix("; it stays in user space")
            else:
                reason = line.split("not available: ", 1)[-1].removesuffix(")")
            return f"{summary}; the kernel refused: {reason}"
        if self.ktls == "no":
            return f"{summary} (--tls-ktls=no)"
        return summary


class PlainNbdm(sb.Nbdm):
    """nbdm without TLS, on the same CPUs: what TLS costs, and what the kernel's TLS would have to
    come close to."""
    role = "reference"
    client_certs = None

    def __init__(self, binary, image, tmp):
        super().__init__(binary, image, tmp, name="nbdm-plain")

    def copy_uri(self):
        return self.uri()

    def tls_mode(self):
        return "no TLS"


class TlsNbdkit(TlsServer, sb.Nbdkit):
    def command(self):
        cmd = super().command()  # ... file IMAGE
        return cmd[:-2] + ["--tls=require", f"--tls-certificates={self.certs}"] + cmd[-2:]


class TlsQemuNbd(TlsServer, sb.QemuNbd):
    def command(self):
        # qemu's server credentials ask for a client certificate unless verify-peer=off; the other
        # servers do not ask, so that the handshakes do the same work.
        cmd = super().command()  # ... IMAGE
        return cmd[:-1] + ["--object", f"tls-creds-x509,id=tls0,dir={self.certs},endpoint=server,"
                                       "verify-peer=off", "--tls-creds", "tls0"] + cmd[-1:]


def fio_row(rw, bs, depth, field):
    def run(s, a):
        bw, iops, moved = sb.fio(s.uri(), rw, bs, depth, a.runtime, a.size, ramp=0,
                                 prefix=a.client_prefix, env=a.client_env)
        # No ramp: the server's CPU time is read around the whole run, so the bytes must cover
        # the whole run too (the TLS handshake is a few milliseconds of 8 seconds).
        return (bw if field == "bw" else iops), moved
    return run


def copy_row(direction, conns):
    def run(s, a):
        src, dst = (s.copy_uri(), "null:") if direction == "read" else (a.source, s.copy_uri())
        return sb.nbdcopy(src, dst, conns, a.size_bytes, prefix=a.client_prefix), a.size_bytes
    return run


ROWS = [
    # label, unit, function(server, args) -> (value, bytes moved)
    ("seq read 256k QD16", "MiB/s", fio_row("read", "256k", 16, "bw")),
    ("seq write 256k QD16", "MiB/s", fio_row("write", "256k", 16, "bw")),
    ("rand read 4k QD32", "IOPS", fio_row("randread", "4k", 32, "iops")),
    ("rand write 4k QD32", "IOPS", fio_row("randwrite", "4k", 32, "iops")),
    ("nbdcopy read, 1 conn", "MiB/s", copy_row("read", 1)),
    ("nbdcopy read, 4 conns", "MiB/s", copy_row("read", 4)),
    ("nbdcopy write, 1 conn", "MiB/s", copy_row("write", 1)),
    ("nbdcopy write, 4 conns", "MiB/s", copy_row("write", 4)),
]


def busy_seconds(cpus):
    """CPU time spent in tasks (user, nice, system) or taken by the hypervisor (steal) on these
    CPUs, from /proc/stat. Interrupt and softirq time are left out: with tick-based accounting they
    are charged to no task, so leaving them out keeps this comparable with the tasks' own times."""
    total = 0
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if name in (f"cpu{c}" for c in cpus):
                user, nice, system, steal = (int(fields[i]) for i in (0, 1, 2, 7))
                total += user + nice + system + steal
    return total / os.sysconf("SC_CLK_TCK")


def measure(server, row_fn, a):
    """One client run: value, server CPU s/GiB, client CPU s/GiB, and the share of the two CPUs'
    time that went to neither (other jobs, VMs, the hypervisor): how disturbed the run was."""
    def children_cpu():
        # Only reaped children count, and the servers are reaped after the last row only, so the
        # difference is the client's own time (fio's job process included: fio reaps it).
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime
    cpus = (a.server_cpu, a.client_cpu)
    server_before, client_before, busy_before = server.cpu_seconds(), children_cpu(), busy_seconds(cpus)
    start = time.monotonic()
    value, moved = row_fn(server, a)
    wall = time.monotonic() - start
    server_cpu, client_cpu = server.cpu_seconds() - server_before, children_cpu() - client_before
    other = busy_seconds(cpus) - busy_before - server_cpu - client_cpu
    return value, server_cpu / (moved / GiB), client_cpu / (moved / GiB), max(other, 0) / (wall * len(cpus))


def probe(server, a):
    """The cipher a libnbd client gets and whether the export offers multi-conn (without it,
    nbdcopy uses one connection whatever --connections says)."""
    env = dict(a.client_env, LIBNBD_DEBUG="1")
    r = subprocess.run(["nbdinfo", "--json", server.copy_uri()], capture_output=True, text=True, env=env)
    cipher = re.search(r"connection is using TLS: cipher (\S+)", r.stderr)
    multi = re.search(r'"can_multi_conn": (\w+)', r.stdout)
    return (cipher.group(1) if cipher else "?"), (multi.group(1) if multi else "?")


def spread(values):
    return (max(values) - min(values)) / statistics.median(values) if statistics.median(values) else 0


def kept(runs, a):
    """The runs a figure is made of: those that other processes left alone (no more than
    --disturbed of the two CPUs), when at least two are; all of them otherwise. A VM starting
    on the machine halves a run's throughput while the CPU seconds per GiB barely move, so one such
    run would otherwise decide a median of three."""
    quiet = [r for r in runs if r["other"] <= a.disturbed]
    return (quiet, True) if len(quiet) >= 2 else (runs, False)


def table(title, names, roles, key, samples, a, lower_is_better, decimals):
    ours = [n for n in names if roles[n] == "ours"]
    peers = [n for n in names if roles[n] == "peer"]
    head = ["test", "unit"] + names + [f"{n} spread" for n in ours] + [f"{n} / best peer" for n in ours]
    lines = [f"{title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, unit, _ in ROWS:
        runs = {n: kept(samples[(n, label)], a) for n in names}
        med = {n: statistics.median(v[key] for v in runs[n][0]) for n in names}
        cells = [label, unit if key == "value" else "s/GiB"]
        # *: too few undisturbed runs, the figure is the median of all of them.
        cells += [f"{med[n]:.{decimals}f}" + ("" if runs[n][1] else "*") for n in names]
        for n in ours:
            vals = [v[key] for v in runs[n][0]]
            cells.append(f"{min(vals):.{decimals}f}-{max(vals):.{decimals}f}")
        best = (min if lower_is_better else max)(med[n] for n in peers) if peers else 0
        cells += [f"{med[n] / best:.2f}x" if best else "-" for n in ours]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default=os.path.join(HERE, "..", "build", "server", "nbd-server"))
    p.add_argument("--runtime", type=int, default=8, help="seconds per fio run")
    p.add_argument("--size", default="1G")
    p.add_argument("--only", help="comma-separated servers to run (nbdm-ktls,nbdm-gnutls,nbdkit,qemu-nbd,nbdm-plain)")
    p.add_argument("--repeat", type=int, default=3, help="rounds; each figure is their median")
    p.add_argument("--extra-rounds", type=int, default=1,
                   help="more rounds allowed when a figure's rounds differ by more than 20%%")
    p.add_argument("--disturbed", type=float, default=0.1,
                   help="a run during which other processes took more than this share of the two "
                   "CPUs is left out of the figures")
    p.add_argument("--server-cpu", type=int, default=1, help="the CPU the servers run on")
    p.add_argument("--client-cpu", type=int, default=0, help="the CPU fio and nbdcopy run on")
    a = p.parse_args()
    a.size_bytes = sb.parse_size(a.size)
    for tool in ("fio", "nbdcopy", "nbdinfo", "nbdkit", "qemu-nbd", "certtool", "psktool", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install fio libnbd-bin nbdkit qemu-utils gnutls-bin")
    # The harness itself stays off the server's CPU.
    os.sched_setaffinity(0, {a.client_cpu})
    a.client_prefix = ["taskset", "-c", str(a.client_cpu)]
    ktls_host = kernel_tls_available()

    tmp = tempfile.mkdtemp(prefix="nbdm-tls-bench.", dir="/dev/shm")
    image = os.path.join(tmp, "image")
    a.source = os.path.join(tmp, "source")
    try:
        sb.write_random(image, a.size_bytes)
        sb.write_random(a.source, a.size_bytes)
        server_certs, client_certs = make_certificates(tmp)
        # fio's nbd engine does not let a URI name local files (libnbd's uri_allow_local_file), so
        # fio finds the CA in libnbd's default place instead: $HOME/.pki/libnbd for other users.
        # As root, libnbd 1.14 looks in /etc/pki/libnbd only and, finding nothing there, encrypts
        # without checking the server's certificate; the servers' work is the same either way.
        home = os.path.join(tmp, "client-home")
        os.makedirs(os.path.join(home, ".pki"))
        shutil.copytree(client_certs, os.path.join(home, ".pki", "libnbd"))
        a.client_env = dict(os.environ, HOME=home)

        binary = os.path.abspath(a.server)
        servers = [TlsNbdm(binary, image, tmp, "yes"), TlsNbdm(binary, image, tmp, "no"),
                   TlsNbdkit(image, tmp), TlsQemuNbd(image, tmp), PlainNbdm(binary, image, tmp)]
        if a.only:
            servers = [s for s in servers if s.name in a.only.split(",")]
        for s in servers:
            s.certs, s.client_certs = server_certs, client_certs
            s.prefix = ["taskset", "-c", str(a.server_cpu)]

        samples = {}
        probes = {}
        rounds = 0
        while True:
            for s in sb.rotation(servers, rounds):
                print(f"# round {rounds + 1}: {s.name} on port {s.port}", file=sys.stderr)
                s.start()
                try:
                    if s.name not in probes:
                        probes[s.name] = probe(s, a)
                    for label, _, fn in ROWS:
                        value, server_cpu, client_cpu, other = measure(s, fn, a)
                        samples.setdefault((s.name, label), []).append(
                            {"value": value, "server": server_cpu, "client": client_cpu, "other": other})
                        print(f"#   {label}: {value:.0f}, server {server_cpu:.3f} s/GiB, "
                              f"client {client_cpu:.3f} s/GiB, other load {other:.0%}", file=sys.stderr)
                finally:
                    s.stop()
            rounds += 1
            if rounds < a.repeat:
                continue
            # Another round when a figure rests on disturbed runs or its runs differ by more
            # than 20%.
            doubtful = []
            for (n, label), runs in samples.items():
                used, quiet = kept(runs, a)
                w = spread([v["value"] for v in used])
                if not quiet or w > 0.2:
                    doubtful.append(f"{n} {label} ({w:.0%}{'' if quiet else ', disturbed'})")
            if not doubtful or rounds >= a.repeat + a.extra_rounds:
                break
            print("# another round for: " + ", ".join(doubtful), file=sys.stderr)
        modes = {s.name: s.tls_mode() for s in servers}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    names = [s.name for s in servers]
    roles = {s.name: s.role for s in servers}
    print(table("Throughput (higher is better)", names, roles, "value", samples, a, False, 0))
    print()
    print(table("Server CPU seconds per GiB moved (lower is better)", names, roles, "server", samples,
                a, True, 3))
    print()
    print(table("Client CPU seconds per GiB moved (fio or nbdcopy; lower is better)", names, roles,
                "client", samples, a, True, 3))
    print(f"\nMedians of {rounds} rounds (rotating order), {a.runtime} s per fio run, {a.size} image in "
          f"/dev/shm, TCP loopback; servers on CPU {a.server_cpu}, clients on CPU {a.client_cpu}.")
    print(f"Kernel TLS on this host: {'available' if ktls_host else 'not available (no tls module)'}")
    for s in servers:
        cipher, multi = probes[s.name]
        tls = f"; cipher {cipher}" if s.role != "reference" else ""
        print(f"- {s.name}: {modes[s.name]}{tls}; multi-conn {multi}")
    for s in servers:
        other = [v["other"] for label, _, _ in ROWS for v in samples[(s.name, label)]]
        print(f"- other load on the two CPUs during {s.name}'s runs: median {statistics.median(other):.0%}, "
              f"highest {max(other):.0%}; {sum(o > a.disturbed for o in other)} of {len(other)} runs "
              f"disturbed (over {a.disturbed:.0%})")
    worst = max(((spread([v["value"] for v in kept(runs, a)[0]]), k) for k, runs in samples.items()),
                default=None)
    if worst:
        print(f"Widest spread between the runs a figure is made of: {worst[0]:.0%} ({worst[1][0]}, "
              f"{worst[1][1]})")
    print(f"Figures are medians of the runs with other load up to {a.disturbed:.0%} of the two CPUs; "
          "* marks a figure with fewer than two such runs, made of all runs.")


if __name__ == "__main__":
    main()
