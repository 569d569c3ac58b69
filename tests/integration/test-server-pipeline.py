#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Pipelined requests over TCP, where the server reads many requests per wake-up and sends their
replies together: to a memory export (served on the event loop) and to a file on disk (served by the
pool, which may answer out of order), bursts of 1 to 64 pipelined READs and WRITEs, each followed by a
lone FLUSH, with idle gaps between some; a request sent in two halves 50 ms apart after a burst; a
client that leaves mid-burst; streams of large WRITEs into a mapped export, each followed by lone
ones. Every reply comes, every READ returns the data last written, and the server stays up."""
import os
import random
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdtest  # noqa: E402
import nbdraw as P  # noqa: E402

tap = nbdtest.Tap(time_limit=100)
BLOCK, BLOCKS = 4096, 4096  # 16 MiB
rng = random.Random(7)
disk = nbdtest.make_file("disk.img", BLOCK * BLOCKS)
port = nbdtest.free_port()
srv = nbdtest.Server("--export", "mem=memory:16M", "--export", "disk=" + disk,
                     "127.0.0.1@%d" % port)


def connect(name):
    c = P.TcpConn(port)
    c.handshake()
    c.go(name)
    return c


def burst(c, model, n):
    """n pipelined requests on distinct blocks, half WRITEs and half READs, sent in one go; then
    every reply, matched by cookie (a pool may answer out of order). Returns a problem or None."""
    blocks = rng.sample(range(BLOCKS), n)
    wire, expect = b"", {}
    for i, b in enumerate(blocks):
        c.cookie += 1
        if i % 2 == 0:
            data = rng.randbytes(BLOCK)
            wire += struct.pack(">IHHQQI", P.REQUEST_MAGIC, 0, P.CMD_WRITE, c.cookie, b * BLOCK,
                                BLOCK) + data
            model[b] = data
            expect[c.cookie] = None
        else:
            wire += struct.pack(">IHHQQI", P.REQUEST_MAGIC, 0, P.CMD_READ, c.cookie, b * BLOCK,
                                BLOCK)
            expect[c.cookie] = model.get(b, bytes(BLOCK))
    c.send(wire)
    for _ in range(n):
        magic, error, cookie = struct.unpack(">IIQ", c.recv(16))
        if magic != P.SIMPLE_REPLY_MAGIC or error or cookie not in expect:
            return "bad reply %x/%d/%d" % (magic, error, cookie)
        want = expect.pop(cookie)
        if want is not None and c.recv(BLOCK) != want:
            return "READ %d returned other data" % cookie
    return None


for name in ("mem", "disk"):
    c = connect(name)
    model, problems, requests = {}, [], 0
    for round_no in range(40):
        n = rng.choice([1, 2, 3, 8, 32, 64])
        requests += n
        problem = burst(c, model, n)
        if problem:
            problems.append("round %d: %s" % (round_no, problem))
            break
        c.request(P.CMD_FLUSH)
        if c.simple_reply()[0] != 0:
            problems.append("round %d: FLUSH failed" % round_no)
        if round_no % 5 == 4:
            time.sleep(0.01)  # idle: a wait for more must give up
    tap.ok(not problems, "%s: 40 bursts of 1 to 64 pipelined requests (%d), each followed by a "
           "lone FLUSH: every reply came and every READ had the data" % (name, requests),
           "; ".join(problems))
    # After a deep burst, a WRITE whose second half comes 50 ms later.
    tap.eq(burst(c, model, 64), None, "%s: one more burst of 64" % name)
    data = rng.randbytes(BLOCK)
    c.cookie += 1
    c.send(struct.pack(">IHHQQI", P.REQUEST_MAGIC, 0, P.CMD_WRITE, c.cookie, 0, BLOCK)
           + data[:BLOCK // 2])
    time.sleep(0.05)
    c.send(data[BLOCK // 2:])
    tap.eq(c.simple_reply()[0], 0, "%s: a WRITE sent in two halves 50 ms apart is answered" % name)
    c.request(P.CMD_READ, 0, BLOCK)
    tap.eq(c.simple_reply(BLOCK)[2], data, "%s: ... and reads back" % name)
    # A client that leaves with a burst unanswered.
    c.send(b"".join(struct.pack(">IHHQQI", P.REQUEST_MAGIC, 0, P.CMD_READ, 1000 + i, i * BLOCK,
                                BLOCK) for i in range(32)))
    c.close()
    c = connect(name)
    c.request(P.CMD_READ, 0, BLOCK)
    tap.eq(c.simple_reply(BLOCK)[2], data, "%s: after a client left mid-burst, a new one is served"
           % name)
    c.close()

# Large WRITEs on the memory export are received straight into its mapping, and while they come one
# behind the other the socket waits for two at once (server/wakeup.h). A stream of them, then a lone
# one the client waits on: its wait for a second must give up, or the reply never comes.
BIG = 256 << 10
c = connect("mem")


def read_image(c):
    image = b""
    for offset in range(0, 16 << 20, 1 << 20):
        c.request(P.CMD_READ, offset, 1 << 20)
        image += c.simple_reply(1 << 20)[2]
    return image


model, problems = {"image": read_image(c)}, []
for round_no in range(12):
    n = rng.choice([2, 3, 8, 16])
    sizes = [rng.choice([64 << 10, BIG, BIG, 1 << 20]) for _ in range(n)]
    wire, written = b"", []
    for i, size in enumerate(sizes):
        c.cookie += 1
        offset = rng.randrange(0, (16 << 20) - size, BLOCK)
        data = rng.randbytes(size)
        wire += struct.pack(">IHHQQI", P.REQUEST_MAGIC, 0, P.CMD_WRITE, c.cookie, offset, size) + data
        written.append((offset, data))
    c.send(wire)
    for _ in range(n):
        magic, error, cookie = struct.unpack(">IIQ", c.recv(16))
        if magic != P.SIMPLE_REPLY_MAGIC or error:
            problems.append("round %d: bad reply %x/%d/%d" % (round_no, magic, error, cookie))
    for offset, data in written:  # later writes win where they overlap
        model_data = bytearray(model["image"])
        model_data[offset:offset + len(data)] = data
        model["image"] = bytes(model_data)
    for k in range(3):  # lone WRITEs, each answered before the next is sent
        offset = rng.randrange(0, (16 << 20) - BIG, BLOCK)
        data = rng.randbytes(BIG)
        c.request(P.CMD_WRITE, offset, BIG, payload=data)
        if c.simple_reply()[0] != 0:
            problems.append("round %d: lone WRITE %d failed" % (round_no, k))
        model_data = bytearray(model["image"])
        model_data[offset:offset + BIG] = data
        model["image"] = bytes(model_data)
    if problems:
        break
tap.ok(not problems, "mem: 12 streams of 2 to 16 pipelined WRITEs of 64 KiB to 1 MiB, each followed "
       "by 3 lone 256 KiB WRITEs: every reply came", "; ".join(problems))
tap.ok(read_image(c) == model["image"], "mem: ... and the export reads back as written")
c.close()

tap.ok(srv.alive(), "the server is alive")
tap.eq(srv.stop(), 0, "the server stops cleanly")
tap.finish()
