#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A bounded soak of nbd-server: clients that write, flush and read back verified data for a while,
some of them cut off at random moments (their connection dropped mid-request, as a killed process
leaves it) and reconnecting, and the server restarted once half-way. Every client owns a region of
one export and keeps a model of it: a block whose write an acknowledged FLUSH covered must read back
exactly; a block with writes not yet flushed when its connection or the server went away must read
back as one of them or as what it held before; any other content is a mismatch.

Prints one line per minute and a summary; exits 1 on any mismatch or failure to reconnect.

Usage: bench/soak.py [--server build/server/nbd-server] [--minutes 20] [--clients 8]
                     [--size 256M] [--seed N]
Not a test: it runs for minutes and never runs in CI. Results go in bench/RESULTS.md.
"""
import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import nbdraw as P  # noqa: E402

BLOCK = 4096


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.writes = self.reads = self.flushes = self.verified = 0
        self.cuts = self.reconnects = self.mismatches = 0
        self.errors = []

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)


class TcpConn(P.Conn):
    def __init__(self, port, timeout=30):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.extended = False
        self.cookie = 0


class Client(threading.Thread):
    def __init__(self, n, args, stats, port_of, stop):
        super().__init__(daemon=True)
        self.n, self.args, self.stats, self.port_of, self.stop = n, args, stats, port_of, stop
        self.rng = random.Random(args.seed * 1000 + n)
        self.first = n * args.blocks_each
        self.durable = {}   # block -> content an acknowledged FLUSH covered (absent: zeroes)
        self.pending = {}   # block -> contents written since the last acknowledged FLUSH
        self.serial = 0

    def content(self, block):
        self.serial += 1
        head = b"client %d block %d write %d " % (self.n, block, self.serial)
        return (head * (BLOCK // len(head) + 1))[:BLOCK]

    def connect(self):
        for _ in range(300):
            if self.stop.is_set():
                return None
            try:
                c = TcpConn(self.port_of())
                c.handshake()
                c.go("")
                return c
            except (OSError, P.Closed, AssertionError):
                time.sleep(0.1)
        self.stats.errors.append("client %d could not reconnect in 30 s" % self.n)
        return None

    def verify_all(self, c):
        """Reads the whole region back; settles what was pending."""
        for i in range(self.args.blocks_each):
            block = self.first + i
            c.request(P.CMD_READ, block * BLOCK, BLOCK)
            err, _, data = c.simple_reply(BLOCK)
            allowed = [self.durable.get(block, bytes(BLOCK))] + self.pending.get(block, [])
            if err != 0 or data not in allowed:
                self.stats.add(mismatches=1)
                self.stats.errors.append("client %d block %d: error %d, %r" % (
                    self.n, block, err, data[:40]))
            elif block in self.pending:
                self.durable[block] = data
        self.stats.add(verified=self.args.blocks_each)
        self.pending.clear()

    def session(self, c):
        """Writes, flushes and reads until stopped, cut off, or the server goes."""
        # Every session ends with its connection dropped, after a random number of operations.
        cut_after = self.rng.randint(1000, 60000)
        ops = 0
        while not self.stop.is_set():
            ops += 1
            if cut_after and ops >= cut_after:
                # A killed client: the connection drops, maybe mid-request.
                if self.rng.random() < 0.5:
                    block = self.first + self.rng.randrange(self.args.blocks_each)
                    data = self.content(block)
                    self.pending.setdefault(block, []).append(data)
                    c.send(struct_write_header(c, block) + data[:self.rng.randrange(BLOCK)])
                c.s.shutdown(socket.SHUT_RDWR)
                self.stats.add(cuts=1)
                return
            r = self.rng.random()
            block = self.first + self.rng.randrange(self.args.blocks_each)
            if r < 0.6:
                data = self.content(block)
                self.pending.setdefault(block, []).append(data)
                c.request(P.CMD_WRITE, block * BLOCK, BLOCK, payload=data)
                if c.simple_reply()[0] != 0:
                    raise P.Closed("write failed")
                self.stats.add(writes=1)
            elif r < 0.7:
                c.request(P.CMD_FLUSH)
                if c.simple_reply()[0] != 0:
                    raise P.Closed("flush failed")
                for b, datas in self.pending.items():
                    self.durable[b] = datas[-1]
                self.pending.clear()
                self.stats.add(flushes=1)
            else:
                c.request(P.CMD_READ, block * BLOCK, BLOCK)
                err, _, data = c.simple_reply(BLOCK)
                want = self.pending[block][-1] if block in self.pending else \
                    self.durable.get(block, bytes(BLOCK))
                if err != 0 or data != want:
                    self.stats.add(mismatches=1)
                    self.stats.errors.append("client %d live read of block %d: %r" % (
                        self.n, block, data[:40]))
                self.stats.add(reads=1)

    def run(self):
        while not self.stop.is_set():
            c = self.connect()
            if c is None:
                return
            try:
                self.verify_all(c)
                self.session(c)
            except (OSError, P.Closed, AssertionError):
                pass
            finally:
                c.close()
            self.stats.add(reconnects=1)


def struct_write_header(c, block):
    c.cookie += 1
    return P.struct.pack(">IHHQQI", P.REQUEST_MAGIC, 0, P.CMD_WRITE, c.cookie, block * BLOCK, BLOCK)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default=os.path.join(os.path.dirname(__file__), "..", "build", "server",
                                                    "nbd-server"))
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--size", type=int, default=256, help="MiB")
    p.add_argument("--seed", type=int, default=int(time.time()))
    a = p.parse_args()
    a.blocks_each = a.size * (1 << 20) // BLOCK // a.clients
    tmp = tempfile.mkdtemp(prefix="nbdm-soak.", dir="/dev/shm")
    image = os.path.join(tmp, "image")
    with open(image, "wb") as f:
        f.truncate(a.size << 20)
    port = free_port()
    cmd = [os.path.abspath(a.server), "--foreground", "-C", "/dev/null", "127.0.0.1@%d" % port, image]
    log = open(os.path.join(tmp, "server.log"), "ab")
    server = [subprocess.Popen(cmd, stdout=log, stderr=log)]
    # Stopped (SIGTERM, Ctrl-C): the server is ours to end, by its pid, and the image to remove.
    def interrupted(signum, frame):
        server[0].kill()
        subprocess.run(["rm", "-rf", tmp])
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    stats, stop = Stats(), threading.Event()
    clients = [Client(n, a, stats, lambda: port, stop) for n in range(a.clients)]
    print("# soak: %d clients, %d MiB, %.0f min, seed %d, server %s" % (
        a.clients, a.size, a.minutes, a.seed, a.server), flush=True)
    time.sleep(0.5)
    for c in clients:
        c.start()
    start, restarted, minute = time.monotonic(), False, 1
    end = start + a.minutes * 60
    while time.monotonic() < end and not stats.errors:
        time.sleep(1)
        if not restarted and time.monotonic() - start > a.minutes * 30:
            server[0].send_signal(signal.SIGTERM)
            server[0].wait(30)
            server[0] = subprocess.Popen(cmd, stdout=log, stderr=log)
            restarted = True
            print("# server restarted at %.0f s" % (time.monotonic() - start), flush=True)
        if time.monotonic() - start >= minute * 60:
            print("# %2d min: %d writes, %d flushes, %d reads, %d blocks verified, %d cuts, "
                  "%d reconnects, %d mismatches" % (minute, stats.writes, stats.flushes, stats.reads,
                                                    stats.verified, stats.cuts, stats.reconnects,
                                                    stats.mismatches), flush=True)
            minute += 1
    stop.set()
    for c in clients:
        c.join(60)
    server[0].send_signal(signal.SIGTERM)
    server[0].wait(30)
    took = time.monotonic() - start
    print("soak: %.0f s, %d clients: %d writes, %d flushes, %d reads, %d blocks verified on "
          "reconnection, %d client cuts, %d reconnections, 1 server restart: %d mismatches" % (
              took, a.clients, stats.writes, stats.flushes, stats.reads, stats.verified, stats.cuts,
              stats.reconnects, stats.mismatches))
    for e in stats.errors[:10]:
        print("error: " + e)
    subprocess.run(["rm", "-rf", tmp])
    return 1 if stats.errors or stats.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
