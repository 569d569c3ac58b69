#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""1,000 connections at once, each past NBD_OPT_GO and then idle, held by one server: every one is
greeted and admitted, the server's memory grows by a bounded amount per connection (its resident
set, from /proc, well under the per-connection budget), and every connection is still served
afterwards. bench/server-bench.py --idle measures the same against the peers (bench/RESULTS.md)."""
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdraw as P  # noqa: E402
import nbdtest  # noqa: E402

N = 1000
# What one idle connection may cost the server at most: its buffers are allocated when traffic
# needs them, so an idle one holds a few KiB (4.8 KB measured); 64 KiB catches a buffer kept per
# connection.
BUDGET = 64 << 10
# AddressSanitizer pads and quarantines every allocation (48 KB per connection measured).
with open(nbdtest.SERVER, "rb") as f:
    if b"__asan_init" in f.read():
        BUDGET = 256 << 10

# meson's MALLOC_PERTURB_ makes malloc write every byte it hands out, so the resident set would
# count the input buffer each connection reserves (and touches only as far as traffic needs), not
# the memory in use.
os.environ.pop("MALLOC_PERTURB_", None)
tap = nbdtest.Tap(time_limit=110)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
need = N + 64
if hard != resource.RLIM_INFINITY and hard < need:
    nbdtest.skip_all("the open-file limit (%d) is below %d" % (hard, need))
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))  # the server inherits it


def rss_kib(pid):
    """Resident memory of the server's process (all its threads), KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


port = nbdtest.free_port()
srv = nbdtest.Server("--port", str(port), "--bind", "127.0.0.1", "--threads", "2",
                     "--export", "idle=memory:1M")
# One connection first, so that what every server allocates once is not counted per connection.
first = P.TcpConn(port)
first.handshake()
first.go("idle")
first.request(P.CMD_WRITE, 0, 14, payload=b"idle but alive")
tap.eq(first.simple_reply()[0], 0, "a first connection writes")
before = rss_kib(srv.pid)

conns = []
admitted = 0
try:
    for i in range(N):
        c = P.TcpConn(port)
        c.handshake()
        c.go("idle")
        conns.append(c)
        admitted += 1
except Exception as e:  # noqa: BLE001 - reported as the failed case below
    tap.ok(False, "%d connections greeted and past NBD_OPT_GO" % N,
           "connection %d failed: %r" % (admitted + 1, e))
else:
    tap.ok(True, "%d connections greeted and past NBD_OPT_GO" % N)
after = rss_kib(srv.pid)
per = (after - before) * 1024 // max(admitted, 1)
print("# resident memory: %d KiB with 1 connection, %d KiB with %d more: %d bytes each"
      % (before, after, admitted, per))
tap.ok(per < BUDGET, "memory per idle connection is bounded: %d bytes (budget %d)" % (per, BUDGET))

# Every one of them is still served: a READ on each, in reverse order.
bad = 0
for c in reversed(conns):
    c.request(P.CMD_READ, 0, 14)
    err, _, data = c.simple_reply(14)
    bad += err != 0 or data != b"idle but alive"
tap.eq(bad, 0, "all %d idle connections are served afterwards" % admitted)
tap.ok(srv.alive(), "the server runs on")
for c in conns:
    c.close()
first.close()
tap.finish()
