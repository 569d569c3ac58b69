#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""File I/O that the kernel refuses to take through io_uring. A submission can fail (EAGAIN or
ENOMEM when the kernel cannot allocate a request) after the request is already queued in the ring,
where the kernel takes it on a later submission: the server must keep it there and try again, not
free it or run it a second way. strace attached to the server makes every other io_uring_enter()
fail with EAGAIN; pipelined WRITEs, FLUSHes and READs with simple replies (the ones the server runs
through io_uring) must then all be answered once, with the data written read back. The sanitizer
build reports a use after free of a request freed while still queued."""
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

BLOCK, BLOCKS, DEPTH, ROUNDS = 4096, 2048, 8, 150
image = nbdtest.make_file("disk.img", BLOCK * BLOCKS)
srv = nbdtest.Server("--threads", "1", "--export", "disk=" + image)
c = P.transmission(srv.sock, "disk", structured=False)


def answers(n, read_len=0):
    """n simple replies: {cookie: (error, data)}, and the cookies answered more than once."""
    got, twice = {}, []
    for _ in range(n):
        error, cookie, data = c.simple_reply(read_len)
        if cookie in got:
            twice.append(cookie)
        got[cookie] = (error, data)
    return got, twice


rng = random.Random(14)
model = {}
bad, repeated, failed = [], [], []


def exchange():
    """The rounds; what goes wrong is noted in bad, repeated and failed."""
    try:
        for r in range(ROUNDS):
            blocks = rng.sample(range(BLOCKS), DEPTH)
            sent = {}
            for b in blocks:
                data = rng.randbytes(BLOCK)
                sent[c.request(P.CMD_WRITE, b * BLOCK, BLOCK, payload=data)] = b
                model[b] = data
            sent[c.request(P.CMD_FLUSH)] = None
            got, twice = answers(len(sent))
            repeated.extend(twice)
            failed.extend(k for k, (e, _) in got.items() if e)
            if set(got) != set(sent):
                bad.append("round %d: WRITE replies for %s, sent %s"
                           % (r, sorted(got), sorted(sent)))
            sent = {c.request(P.CMD_READ, b * BLOCK, BLOCK): b for b in blocks}
            got, twice = answers(len(sent), BLOCK)
            repeated.extend(twice)
            failed.extend(k for k, (e, _) in got.items() if e)
            for k, b in sent.items():
                if k not in got or got[k][1] != model[b]:
                    bad.append("round %d: block %d reads back wrong" % (r, b))
    except Exception as e:  # noqa: BLE001 - a dead server or a bad reply is the failure shown below
        bad.append("the exchange broke off: %r" % e)


trace = nbdtest.traced(srv.pid, exchange, "-e", "trace=io_uring_enter",
                       "-e", "inject=io_uring_enter:error=EAGAIN:when=2+2")
refused = trace.count("(INJECTED)")
if "io_uring_enter(" not in trace:
    nbdtest.skip_all("the server does not use io_uring here (the kernel or a seccomp filter refuses "
                     "it), so there is no submission to refuse")

tap.ok(refused >= 50, "strace refused the server's io_uring_enter() %d times" % refused,
       trace[-1500:])
tap.ok(not bad, "%d rounds of %d WRITEs, a FLUSH and %d READs: every request answered, the data "
       "read back" % (ROUNDS, DEPTH, DEPTH), "\n".join(bad[:10]))
tap.eq(repeated, [], "no request answered twice")
tap.eq(failed, [], "no request failed")
tap.ok(srv.alive(), "the server still runs")
c.close()
tap.eq(srv.stop(), 0, "and exits 0")
tap.finish()
