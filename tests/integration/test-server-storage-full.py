#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A file export on a file system that fills up (a 1 MiB tmpfs, root only): WRITEs past what it
holds get ENOSPC on that request alone, the connection and the other requests carry on, nothing
written before is lost, the log says what failed (once, not per request), and after a TRIM frees
space writes succeed again. Simple and structured replies; raw sockets (nbdraw) on a Unix socket."""
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdtest import Server, Tap, path, skip_all  # noqa: E402
import nbdraw as P  # noqa: E402

if os.geteuid() != 0:
    skip_all("mounting a small file system needs root")
full = path("full")
os.makedirs(full)
if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "nbdm-test-full", full],
                  capture_output=True).returncode != 0:
    skip_all("cannot mount a tmpfs here")
tap = Tap(time_limit=100)
BLOCK = 4096
try:
    img = os.path.join(full, "disk.img")
    with open(img, "wb") as f:
        f.truncate(8 << 20)  # sparse: eight times what the file system holds
    srv = Server("--export", "disk=%s" % img)
    c = P.Conn(srv.sock)
    c.handshake()
    c.go("disk")
    written, errors, first_error = {}, [], None
    for block in range(512):  # 2 MiB: twice the space
        data = (b"block %d " % block).ljust(BLOCK, b".")
        c.request(P.CMD_WRITE, block * BLOCK, BLOCK, payload=data)
        err = c.simple_reply()[0]
        if err == 0:
            written[block] = data
        else:
            errors.append(err)
            if first_error is None:
                first_error = block
    tap.ok(errors and set(errors) == {P.ENOSPC},
           "writes past the space get ENOSPC (%d of 512, from block %s)" % (len(errors), first_error),
           "errors: %r" % sorted(set(errors)))
    tap.ok(len(written) > 64, "the writes before filled it (%d blocks)" % len(written))

    def all_read_back():
        for block, data in written.items():
            c.request(P.CMD_READ, block * BLOCK, BLOCK)
            err, _, got = c.simple_reply(BLOCK)
            if err != 0 or got != data:
                return "block %d: error %d" % (block, err)
        return True

    tap.case("the connection carries on, and every acknowledged write reads back", all_read_back)
    c.request(P.CMD_FLUSH)
    tap.eq(c.simple_reply()[0], 0, "FLUSH still succeeds")
    log = srv.log_text()
    tap.ok("Export 'disk': WRITE of 4096 bytes at offset %d failed: No space left on device" % (
        first_error * BLOCK) in log, "the log names the export, the request and the error", log)
    tap.eq(log.count("No space left on device"), 1, "... once, not for each refused write")
    # Freeing space: TRIM punches a hole; the next write fits again.
    freed = sorted(written)[:32]
    c.request(P.CMD_TRIM, freed[0] * BLOCK, 32 * BLOCK)
    tap.eq(c.simple_reply()[0], 0, "TRIM of 128 KiB succeeds")
    data = b"again".ljust(BLOCK, b"!")
    c.request(P.CMD_WRITE, first_error * BLOCK, BLOCK, payload=data)
    tap.eq(c.simple_reply()[0], 0, "after it, a write where space ran out succeeds")
    c.request(P.CMD_READ, first_error * BLOCK, BLOCK)
    tap.eq(c.simple_reply(BLOCK)[2], data, "... and reads back")
    # A second connection, structured replies: the error is an error chunk for that request.
    s = P.Conn(srv.sock)
    s.handshake()
    s.ask(P.OPT_STRUCTURED_REPLY)
    s.go("disk")
    errs = []
    for block in range(first_error + 1, first_error + 64):
        s.request(P.CMD_WRITE, block * BLOCK, BLOCK, payload=b"z" * BLOCK)
        chunks = s.chunks()
        errs += [P.chunk_error(p) for _, t, _, p in chunks if t in (P.CHUNK_ERROR, P.CHUNK_ERROR_OFFSET)]
    tap.ok(P.ENOSPC in errs, "structured replies: ENOSPC as an error chunk")
    s.request(P.CMD_READ, 0, BLOCK)  # trimmed above: a hole or zeroes
    types = [t for _, t, _, _ in s.chunks()]
    tap.ok(types and all(t in (P.CHUNK_OFFSET_DATA, P.CHUNK_OFFSET_HOLE, P.CHUNK_NONE) for t in types),
           "structured replies: a READ on the same connection is still answered", types)
    s.close()
    c.close()
    srv.stop()
finally:
    subprocess.run(["umount", full], capture_output=True)
tap.finish()
