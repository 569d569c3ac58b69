#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A FUA WRITE through io_uring is two steps: the write, then its sync. When the kernel refuses
submissions for a while, the ring fills up with entries it has not taken. A write that was taken
before then and completes meanwhile must wait for room for its sync, not fail: its data is written
and only the sync is missing. strace attached to the server lets the first io_uring_enter() through
and refuses the next ones (EAGAIN) for a while, as a kernel short of memory does. Bursts of FUA
WRITEs on several connections, more than the ring holds, arrive while strace holds the server's
first read() of a socket back for a moment, so that it takes them all in before it sees the first
completion. Every WRITE must then succeed, once, and its data read back."""
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdraw as P  # noqa: E402
import nbdtest  # noqa: E402

tap = nbdtest.Tap(time_limit=110)
if shutil.which("strace") is None:
    nbdtest.skip_all("strace is not installed")

# The server's ring has 256 entries and a connection has at most 64 requests under way: six
# connections' bursts of 64 fill the ring. One worker thread serves them all.
BLOCK, CONNS, EACH, REFUSED, HOLD_US = 512, 6, 64, 1000, 300000
WRITES = CONNS * EACH
image = nbdtest.make_file("disk.img", BLOCK * WRITES)
srv = nbdtest.Server("--threads", "1", "--export", "disk=" + image)
conns = [P.transmission(srv.sock, "disk", structured=False) for _ in range(CONNS)]
rng = random.Random(1)
data = [rng.randbytes(BLOCK) for _ in range(WRITES)]
sent, got, twice, problems = {}, {}, [], []


def burst(c, first):
    """EACH FUA WRITEs in one send, of the blocks from first on; returns {(c, cookie): block}."""
    pieces, send, mine = [], c.send, {}
    c.send = pieces.append
    try:
        for i in range(first, first + EACH):
            mine[(c, c.request(P.CMD_WRITE, i * BLOCK, BLOCK, flags=P.CMD_FLAG_FUA,
                               payload=data[i]))] = i
    finally:
        c.send = send
    c.send(b"".join(pieces))
    return mine


def exchange():
    """The bursts, then their replies."""
    try:
        for n, c in enumerate(conns):
            sent.update(burst(c, n * EACH))
        for c in conns:
            for _ in range(EACH):
                error, cookie, _ = c.simple_reply()
                if (c, cookie) in got:
                    twice.append(cookie)
                got[(c, cookie)] = error
    except Exception as e:  # noqa: BLE001 - a dead server or a bad reply is the failure shown below
        problems.append("the exchange broke off: %r" % e)


trace = nbdtest.traced(srv.pid, exchange, "-e", "trace=io_uring_enter",
                       "-e", "inject=io_uring_enter:error=EAGAIN:when=2..%d" % REFUSED,
                       "-e", "inject=read:delay_enter=%d:when=1" % HOLD_US)
if "io_uring_enter(" not in trace:
    nbdtest.skip_all("the server does not use io_uring here (the kernel or a seccomp filter refuses "
                     "it), so there is no submission to refuse")
refused = trace.count("(INJECTED)")
tap.ok(refused >= 300, "strace refused the server's io_uring_enter() %d times" % refused,
       trace[-1500:])
tap.eq(problems, [], "%d FUA WRITEs on %d connections at once: every one answered"
       % (WRITES, CONNS))
failed = sorted(sent[k] for k, e in got.items() if e)
tap.eq(failed, [], "no WRITE failed (the blocks whose WRITE did)")
tap.eq(twice, [], "no WRITE answered twice")
tap.ok(set(got) == set(sent), "the replies are for the requests sent")
wrong = []
for i in range(WRITES):
    conns[0].request(P.CMD_READ, i * BLOCK, BLOCK)
    error, _, back = conns[0].simple_reply(BLOCK)
    if error or back != data[i]:
        wrong.append(i)
tap.eq(wrong, [], "every block reads back as written")
tap.ok(srv.alive(), "the server still runs")
for c in conns:
    c.close()
tap.eq(srv.stop(), 0, "and exits 0")
tap.finish()
