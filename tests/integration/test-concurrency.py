#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""200 clients at once against one server: every connection writes its own pattern to its own
region, flushes and reads it back while a few others read a shared region; all of them are connected
at the same time (a barrier holds them) while the I/O runs. Then the backing file must hold every
pattern. Run against a file export with the default worker threads and a memory export served by a
single worker thread."""
import errno
import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdtest import Server, Tap, make_file, import_nbd  # noqa: E402

nbd = import_nbd()
tap = Tap()

WRITERS = 200
READERS = 8
REGION = 64 << 10
PIECE = 16 << 10
SHARED_OFF = WRITERS * REGION
SHARED = os.urandom(256 << 10)
SIZE = SHARED_OFF + len(SHARED)
TIMEOUT = 30


def pattern(i):
    # Distinct per writer and per piece, cheap to build: a header naming both, then filler.
    out = bytearray()
    for p in range(REGION // PIECE):
        head = b"writer %03d piece %d " % (i, p)
        out += (head * (PIECE // len(head) + 1))[:PIECE]
    return bytes(out)


def connect(srv, export, retried):
    """A connected handle. A burst of connects can fill the server's listen backlog, and a Unix
    socket then refuses at once (EAGAIN) instead of queueing: retry those for a while, counting."""
    deadline = time.monotonic() + 10
    while True:
        h = nbd.NBD()
        h.set_export_name(export)
        try:
            h.connect_unix(srv.sock)
            return h
        except nbd.Error as e:
            if e.errnum != errno.EAGAIN or time.monotonic() > deadline:
                raise
            retried.append(1)
            time.sleep(0.01)


def run(srv, export, label):
    barrier = threading.Barrier(WRITERS + READERS, timeout=TIMEOUT)
    errors = []
    retried = []
    connected = [0]
    lock = threading.Lock()

    def fail(i, e):
        with lock:
            errors.append("connection %d: %r" % (i, e))
        barrier.abort()

    def writer(i):
        try:
            h = connect(srv, export, retried)
            with lock:
                connected[0] += 1
            barrier.wait()  # everyone is connected
            data = pattern(i)
            base = i * REGION
            # Pieces in flight together, then a flush, then read back.
            cookies = [h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(data[p:p + PIECE])),
                                    base + p) for p in range(0, REGION, PIECE)]
            # aio_command_completed() retires a cookie: ask about each one until it is done.
            for c in cookies:
                while not h.aio_command_completed(c):
                    h.poll(-1)
            h.flush()
            got = h.pread(REGION, base)
            if got != data:
                raise AssertionError("read back differs")
            barrier.wait()  # everyone has done their I/O, still connected
            h.shutdown()
        except Exception as e:  # noqa: BLE001
            fail(i, e)

    def reader(i):
        try:
            h = connect(srv, export, retried)
            with lock:
                connected[0] += 1
            barrier.wait()
            for n in range(20):
                off = (n * 12288) % (len(SHARED) - 32768)
                if h.pread(32768, SHARED_OFF + off) != SHARED[off:off + 32768]:
                    raise AssertionError("shared read %d differs" % n)
            barrier.wait()
            h.shutdown()
        except Exception as e:  # noqa: BLE001
            fail(i, e)

    # The shared region is written before anyone reads it.
    h = nbd.NBD()
    h.set_export_name(export)
    h.connect_unix(srv.sock)
    h.pwrite(SHARED, SHARED_OFF)
    h.flush()
    h.shutdown()

    t0 = time.monotonic()
    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(WRITERS)]
    threads += [threading.Thread(target=reader, args=(WRITERS + i,), daemon=True)
                for i in range(READERS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + TIMEOUT + 10
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    hung = sum(t.is_alive() for t in threads)
    elapsed = time.monotonic() - t0

    tap.eq(connected[0], WRITERS + READERS,
           "%s: %d connections open at once" % (label, WRITERS + READERS))
    tap.ok(not errors and not hung,
           "%s: %d writers verified their regions, %d readers the shared one (%.1f s)"
           % (label, WRITERS, READERS, elapsed),
           "\n".join(errors[:10]) + ("\n%d threads still running" % hung if hung else ""))
    if retried:
        print("# %s: %d connects were refused with EAGAIN (listen backlog full) and retried"
              % (label, len(retried)))
    return not errors and not hung


# Phase 1: a file export, default worker threads.
disk = make_file("disk.img", SIZE)
srv = Server("--export", "disk=" + disk)
if run(srv, "disk", "file export"):
    with open(disk, "rb") as f:
        content = f.read()
    bad = [i for i in range(WRITERS) if content[i * REGION:(i + 1) * REGION] != pattern(i)]
    tap.ok(not bad, "file export: the backing file holds all %d patterns" % WRITERS,
           "wrong regions: %s" % bad[:20])
    tap.eq(content[SHARED_OFF:], SHARED, "file export: the shared region is intact")
else:
    tap.skip("file export: backing file check", "the I/O phase failed")
    tap.skip("file export: shared region check", "the I/O phase failed")
tap.ok(srv.alive(), "file export: server still running")
tap.eq(srv.stop(), 0, "file export: server exits 0 on SIGTERM")

# Phase 2: a memory export, one worker thread for everyone.
mem = Server("--threads", "1", "--export", "m=memory:%d" % SIZE)
if run(mem, "m", "memory export, 1 thread"):
    h = nbd.NBD()
    h.set_export_name("m")
    h.connect_unix(mem.sock)
    got = h.pread(min(SIZE, 32 << 20), 0)
    bad = [i for i in range(WRITERS) if got[i * REGION:(i + 1) * REGION] != pattern(i)]
    tap.ok(not bad, "memory export: a new connection reads all %d patterns" % WRITERS,
           "wrong regions: %s" % bad[:20])
    h.shutdown()
else:
    tap.skip("memory export: final read", "the I/O phase failed")
tap.eq(mem.stop(), 0, "memory export: server exits 0 on SIGTERM")
tap.finish()
