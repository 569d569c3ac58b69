#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A shared copy-on-write overlay (--cow-file) survives the server being killed (SIGKILL) at random
points of a write workload, 50 times: the server starts again on it every time, and every write
whose FLUSH was acknowledged, or that was acknowledged with FUA, reads back; a write not yet flushed reads back as its new or its old
content, nothing else; the base file is never written. An overlay has one user: a second server, or
a second export, on it is refused. Raw sockets (nbdraw) on a Unix socket."""
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdtest import Server, Tap, path  # noqa: E402
import nbdraw as P  # noqa: E402

ROUNDS = 50
BLOCK = 4096
BLOCKS = 256
tap = Tap(time_limit=110)
rng = random.Random(int(os.environ.get("NBDM_TEST_SEED", "20261206")))

base = path("base.img")
base_data = bytes(rng.getrandbits(8) for _ in range(1024)) * (BLOCKS * BLOCK // 1024)
with open(base, "wb") as f:
    f.write(base_data)
overlay = path("overlay")
durable = {}      # block -> its content as of the last acknowledged FLUSH
pending = {}      # block -> the contents written since, not yet flushed
serial = [0]
fua_writes = [0]


def content(block):
    serial[0] += 1
    return (b"%08d:%08d:" % (block, serial[0])).ljust(BLOCK, bytes([serial[0] % 251]))


def workload(conn, stop):
    """Writes random blocks, a FLUSH after every few; what a FLUSH acknowledges becomes durable.
    Ends when the server dies."""
    try:
        while not stop.is_set():
            for _ in range(rng.randint(1, 6)):
                block = rng.randrange(BLOCKS)
                data = content(block)
                fua = rng.random() < 0.2
                pending.setdefault(block, []).append(data)
                conn.request(P.CMD_WRITE, block * BLOCK, BLOCK, payload=data,
                             flags=P.CMD_FLAG_FUA if fua else 0)
                if conn.simple_reply()[0] != 0:
                    return
                if fua:
                    # Durable once acknowledged: only later writes can change it.
                    durable[block] = data
                    pending.pop(block, None)
                    fua_writes[0] += 1
            conn.request(P.CMD_FLUSH)
            if conn.simple_reply()[0] != 0:
                return
            for block, datas in pending.items():
                durable[block] = datas[-1]
            pending.clear()
    except (P.Closed, OSError, AssertionError):
        pass


def read_back(conn):
    """Blocks that do not hold what they may: a list of (block, what it holds). A write that was
    pending when the server died is settled by what reads back: that is what the overlay holds
    from now on, and a later FLUSH (to another server) does not bring the other back."""
    wrong = []
    for block in range(BLOCKS):
        conn.request(P.CMD_READ, block * BLOCK, BLOCK)
        err, _, data = conn.simple_reply(BLOCK)
        allowed = [durable.get(block, base_data[block * BLOCK:(block + 1) * BLOCK])]
        allowed += pending.get(block, [])
        if err != 0 or data not in allowed:
            wrong.append((block, err, data[:20]))
        elif block in pending:
            durable[block] = data
    pending.clear()
    return wrong


def connect(srv):
    c = P.Conn(srv.sock)
    c.handshake()
    c.go("disk")
    return c


bad_rounds, restarted = [], 0
for n in range(ROUNDS):
    srv = Server("--export", "disk=%s" % base, "-c", "--cow-file", overlay)
    restarted += 1
    conn = connect(srv)
    wrong = read_back(conn)
    if wrong:
        bad_rounds.append((n, wrong[:3]))
    stop = threading.Event()
    t = threading.Thread(target=workload, args=(conn, stop))
    t.start()
    time.sleep(rng.uniform(0.005, 0.08))
    srv.stop(signal.SIGKILL)
    stop.set()
    t.join(10)
    conn.close()

srv = Server("--export", "disk=%s" % base, "-c", "--cow-file", overlay)
conn = connect(srv)
wrong = read_back(conn)
conn.close()
srv.stop()
tap.eq(restarted, ROUNDS, "the server started on the overlay after each of %d kills" % ROUNDS)
tap.ok(not bad_rounds and not wrong,
       "every acknowledged FLUSH's writes read back after each restart; unflushed ones are old "
       "or new (%d blocks flushed at least once)" % len(durable),
       "rounds with wrong blocks: %r; at the end: %r" % (bad_rounds[:3], wrong[:3]))
with open(base, "rb") as f:
    tap.ok(f.read() == base_data, "the base file was never written")
tap.ok(len(durable) > BLOCKS // 4, "the workload flushed writes to %d blocks" % len(durable))
tap.ok(fua_writes[0] > 50, "... and made %d writes with FUA" % fua_writes[0])

# One overlay, one user: a second user would keep a map of its own and overwrite the first's.
def exit_status(s):
    """The server's exit status, or None when it still serves after 10 s."""
    try:
        return s.proc.wait(10)
    except subprocess.TimeoutExpired:
        return None


with open(overlay + ".map", "rb") as f:
    map_before = f.read()
srv = Server("--export", "disk=%s" % base, "-c", "--cow-file", overlay)
second = Server("--export", "disk=%s" % base, "-c", "--cow-file", overlay, wait=False)
rc = exit_status(second)
tap.ok(rc not in (0, None) and "in use by another export or another nbd-server" in second.log_text(),
       "a second server on the same overlay is refused, and says why", second.log_text()[-400:])
tap.ok(srv.alive(), "the first one serves on")
srv.stop()
both = Server("--export", "a=%s" % base, "-c", "--cow-file", overlay,
              "--export", "b=%s" % base, "-c", "--cow-file", overlay, wait=False)
rc = exit_status(both)
tap.ok(rc not in (0, None) and "Export 'b': overlay %s is in use" % overlay in both.log_text(),
       "two exports naming one overlay are refused, naming the second", both.log_text()[-400:])
with open(overlay + ".map", "rb") as f:
    tap.ok(f.read() == map_before, "the overlay's map is as the last server left it")
tap.finish()
