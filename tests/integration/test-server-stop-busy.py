#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A server told to stop (SIGTERM) while every client keeps it busy exits 0, round after round,
with no sanitizer report. A worker told to stop closes all its connections at once, in the middle
of dispatching a batch of events; an event further down that batch may be for one of them, and
must not find its memory freed (a use after free that crashed the server once in the boot suite,
at `systemctl stop nbd-server` under a reader). The sanitizer build reports such a use even when
it does not crash."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdraw as P  # noqa: E402
import nbdtest  # noqa: E402

ROUNDS = 12
CONNS = 16
DEPTH = 4  # READs each client keeps in flight

tap = nbdtest.Tap(time_limit=110)


def pump(c, stop):
    """READs, DEPTH at a time, until told to stop or the server is gone."""
    try:
        while not stop.is_set():
            for _ in range(DEPTH):
                c.request(P.CMD_READ, 0, 4096)
            for _ in range(DEPTH):
                c.simple_reply(4096)
    except Exception:  # noqa: BLE001 - the server closing on us is the point
        pass


statuses = []
served = []
for _ in range(ROUNDS):
    # One worker: every connection's events share its batches.
    srv = nbdtest.Server("--threads", "1", "--export", "busy=memory:1M")
    conns = []
    for _ in range(CONNS):
        c = P.Conn(srv.sock)
        c.handshake()
        c.go("busy")
        conns.append(c)
    stop = threading.Event()
    threads = [threading.Thread(target=pump, args=(c, stop), daemon=True) for c in conns]
    for t in threads:
        t.start()
    time.sleep(0.2)
    served.append(srv.alive())
    statuses.append(srv.stop())
    stop.set()
    for t in threads:
        t.join(10)
    for c in conns:
        c.close()

tap.ok(all(served), "%d rounds: the server serves %d busy clients" % (ROUNDS, CONNS))
tap.eq(statuses, [0] * ROUNDS, "%d rounds: SIGTERM in the middle of their requests, exit 0 each time"
       % ROUNDS)
tap.finish()
