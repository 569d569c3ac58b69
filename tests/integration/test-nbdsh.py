#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""libnbd (the library behind nbdsh) against our server: every command with its flags, block status,
structured reads of holes, metadata context negotiation, and the errors the spec asks for when a
client breaks the rules (strict mode off, so libnbd sends what it would otherwise refuse)."""
import errno
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdtest import Server, Tap, make_file, path, import_nbd  # noqa: E402

nbd = import_nbd()
tap = Tap()

MiB = 1 << 20
KiB = 1 << 10
HOLE = nbd.STATE_HOLE | nbd.STATE_ZERO
DISK_SIZE = 8 * MiB
data_1m = os.urandom(64 * KiB)
disk = make_file("disk.img", DISK_SIZE, [(1 * MiB, data_1m)])
bsfile = make_file("bs.img", 4 * MiB)
rofile = make_file("ro.img", 1 * MiB, [(0, b"read-only data")])

srv = Server("--export", "disk=" + disk, "--description", "the disk",
             "--export", "bs=" + bsfile,
             "--export", "mem=memory:64M")
ro = Server("-r", "--export", "ro=" + rofile)


def connect(export, server=srv, meta=True, strict=True, structured=True, block_size=True):
    h = nbd.NBD()
    if meta:
        h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.set_export_name(export)
    h.set_request_structured_replies(structured)
    h.set_request_block_size(block_size)
    if not strict:
        h.set_strict_mode(0)
    h.connect_unix(server.sock)
    return h


def err_value(e):
    return e.value if hasattr(e, "value") else e


def extents(h, count, offset, flags=0):
    """Block status as a list of (length, flags) for base:allocation."""
    got = []

    def cb(context, off, entries, error):
        if context == nbd.CONTEXT_BASE_ALLOCATION:
            got.extend(zip(entries[0::2], entries[1::2]))
        return 0

    h.block_status(count, offset, cb, flags)
    return got


def blocks(p):
    return os.stat(p).st_blocks


def file_bytes(p, offset, n):
    fd = os.open(p, os.O_RDONLY)
    try:
        return os.pread(fd, n, offset)
    finally:
        os.close(fd)


def usable(h):
    """The connection still answers a read correctly."""
    return h.pread(16, 1 * MiB) == data_1m[:16] if h.get_export_name() == "disk" else \
        len(h.pread(16, 0)) == 16


# ---- negotiation results
h = connect("disk")
tap.eq(h.get_size(), DISK_SIZE, "export size")
tap.ok(h.get_structured_replies_negotiated(), "structured replies negotiated")
tap.ok(h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION), "base:allocation negotiated")
tap.eq((h.get_block_size(nbd.SIZE_MINIMUM), h.get_block_size(nbd.SIZE_PREFERRED),
        h.get_block_size(nbd.SIZE_MAXIMUM)), (1, 4096, 32 * MiB), "block sizes")
tap.eq([h.can_flush(), h.can_fua(), h.can_trim(), h.can_zero(), h.can_fast_zero(), h.can_df(),
        h.can_multi_conn(), h.can_cache(), h.is_read_only(), h.is_rotational()],
       [True] * 8 + [False] * 2, "transmission flags")
tap.eq(h.get_protocol(), "newstyle-fixed", "fixed newstyle protocol")

# ---- READ / WRITE / FLUSH
tap.eq(h.pread(64 * KiB, 1 * MiB), data_1m, "pread of data already in the file")
tap.eq(h.pread(64 * KiB, 0), bytes(64 * KiB), "pread of a hole reads zeros")
buf = os.urandom(64 * KiB)
h.pwrite(buf, 2 * MiB)
tap.eq(h.pread(64 * KiB, 2 * MiB), buf, "pwrite then pread")
tap.eq(file_bytes(disk, 2 * MiB, 64 * KiB), buf, "pwrite reached the backing file")
buf2 = os.urandom(4 * KiB)
tap.case("pwrite with FUA", h.pwrite, buf2, 2 * MiB + 100, nbd.CMD_FLAG_FUA)
tap.eq(file_bytes(disk, 2 * MiB + 100, 4 * KiB), buf2, "FUA write is in the backing file")
tap.case("flush", h.flush)
odd = os.urandom(777)
h.pwrite(odd, DISK_SIZE - 777)
tap.eq(h.pread(777, DISK_SIZE - 777), odd, "unaligned pwrite/pread at the very end")

# ---- aio: many writes in flight on one connection
pieces = {i: os.urandom(4 * KiB) for i in range(64)}
cookies = [h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(p)), 6 * MiB + i * 4 * KiB)
           for i, p in pieces.items()]
cookies.append(h.aio_flush())
while h.aio_in_flight() > 0:
    h.poll(-1)
tap.ok(all(h.aio_command_completed(c) for c in cookies), "64 aio_pwrite + aio_flush complete")
tap.eq(h.pread(256 * KiB, 6 * MiB), b"".join(pieces[i] for i in range(64)),
       "aio writes read back in order")

# ---- TRIM / WRITE_ZEROES / CACHE
h.pwrite(b"\xaa" * (128 * KiB), 3 * MiB)
h.flush()
before = blocks(disk)
tap.case("trim", h.trim, 128 * KiB, 3 * MiB)
tap.eq(h.pread(128 * KiB, 3 * MiB), bytes(128 * KiB), "trimmed range reads zeros")
tap.ok(blocks(disk) < before, "trim punched a hole in the backing file",
       "st_blocks %d -> %d" % (before, blocks(disk)))
tap.eq(extents(h, 128 * KiB, 3 * MiB), [(128 * KiB, HOLE)], "trimmed range is a hole")
tap.case("trim with FUA", h.trim, 4 * KiB, 3 * MiB, nbd.CMD_FLAG_FUA)

h.pwrite(b"\xbb" * MiB, 4 * MiB)
h.flush()
before = blocks(disk)
tap.case("zero (holes allowed)", h.zero, MiB, 4 * MiB)
tap.eq(h.pread(MiB, 4 * MiB), bytes(MiB), "zeroed range reads zeros")
tap.ok(blocks(disk) <= before - MiB // 512, "zero without NO_HOLE punched the range",
       "st_blocks %d -> %d" % (before, blocks(disk)))

h.pwrite(b"\xcc" * MiB, 5 * MiB)
h.flush()
before = blocks(disk)
tap.case("zero with NO_HOLE", h.zero, MiB, 5 * MiB, nbd.CMD_FLAG_NO_HOLE)
tap.eq(h.pread(MiB, 5 * MiB), bytes(MiB), "NO_HOLE zeroed range reads zeros")
tap.ok(blocks(disk) >= before, "zero with NO_HOLE kept the range allocated",
       "st_blocks %d -> %d" % (before, blocks(disk)))

h.pwrite(b"\xdd" * (256 * KiB), 7 * MiB)
tap.case("zero with FAST_ZERO", h.zero, 256 * KiB, 7 * MiB, nbd.CMD_FLAG_FAST_ZERO)
tap.eq(h.pread(256 * KiB, 7 * MiB), bytes(256 * KiB), "FAST_ZERO range reads zeros")
h.pwrite(b"\xde" * (64 * KiB), 7 * MiB)
try:
    h.zero(64 * KiB, 7 * MiB, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)
    tap.eq(h.pread(64 * KiB, 7 * MiB), bytes(64 * KiB), "FAST_ZERO|NO_HOLE|FUA zeroes (or ENOTSUP)")
except nbd.Error as e:
    tap.eq(e.errnum, errno.ENOTSUP, "FAST_ZERO|NO_HOLE|FUA zeroes (or ENOTSUP)")
tap.case("cache a range", h.cache, 64 * KiB, 1 * MiB)
tap.case("cache the whole export", h.cache, DISK_SIZE, 0)
tap.ok(usable(h), "connection usable after every command")
h.shutdown()

# ---- BLOCK_STATUS
b = connect("bs")
tap.eq(extents(b, 4 * MiB, 0), [(4 * MiB, HOLE)], "block status of an empty file: one hole")
payload = os.urandom(64 * KiB)
b.pwrite(payload, 1 * MiB)
tap.eq(extents(b, 4 * MiB, 0), [(MiB, HOLE), (64 * KiB, 0), (3 * MiB - 64 * KiB, HOLE)],
       "block status after writing into the hole: hole, data, hole")
tap.eq(extents(b, 4 * MiB, 0, nbd.CMD_FLAG_REQ_ONE), [(MiB, HOLE)], "REQ_ONE at 0: only the hole")
tap.eq(extents(b, 32 * KiB, MiB, nbd.CMD_FLAG_REQ_ONE), [(32 * KiB, 0)],
       "REQ_ONE inside the data: one extent, no longer than asked")
tap.eq(extents(b, 4 * MiB - MiB - 64 * KiB, MiB + 64 * KiB), [(3 * MiB - 64 * KiB, HOLE)],
       "block status of the tail")
tap.eq(sum(l for l, _ in extents(b, 3 * MiB, 512)), 3 * MiB, "extents cover an unaligned request")

# ---- structured reads
chunks = []


def record(subbuf, offset, status, error):
    chunks.append((status, offset, len(subbuf), err_value(error)))
    return 0


got = b.pread_structured(2 * MiB, 0, record)
tap.eq(bytes(got), bytes(MiB) + payload + bytes(MiB - 64 * KiB), "structured read of a sparse range")
holes = sorted((o, n) for s, o, n, _ in chunks if s == nbd.READ_HOLE)
datas = sorted((o, n) for s, o, n, _ in chunks if s == nbd.READ_DATA)
tap.ok(holes and holes[0][0] == 0 and sum(n for _, n in holes) == 2 * MiB - 64 * KiB,
       "OFFSET_HOLE chunks cover the holes", chunks)
tap.eq(datas, [(MiB, 64 * KiB)], "one OFFSET_DATA chunk for the data")
chunks.clear()
got = b.pread_structured(2 * MiB, 0, record, nbd.CMD_FLAG_DF)
tap.eq([(s, o, n) for s, o, n, _ in chunks], [(nbd.READ_DATA, 0, 2 * MiB)],
       "DF: one data chunk for the whole range")
tap.eq(bytes(got), bytes(MiB) + payload + bytes(MiB - 64 * KiB), "DF read content")
b.shutdown()

# ---- metadata contexts and listing in option mode
o = nbd.NBD()
o.set_opt_mode(True)
o.connect_unix(srv.sock)
listed = {}
o.opt_list(lambda name, desc: listed.__setitem__(name, desc))
tap.eq(listed, {"disk": "the disk", "bs": "", "mem": ""}, "opt_list: names and descriptions")
o.set_export_name("disk")
seen = []
n = o.opt_list_meta_context(lambda name: seen.append(name))
tap.eq((n, seen), (1, ["base:allocation"]), "LIST_META_CONTEXT with no query lists base:allocation")
o.add_meta_context("base:")
seen.clear()
o.opt_list_meta_context(lambda name: seen.append(name))
tap.eq(seen, ["base:allocation"], "LIST_META_CONTEXT 'base:' matches base:allocation")
o.clear_meta_contexts()
o.add_meta_context("qemu:dirty-bitmap:x")
seen.clear()
n = o.opt_list_meta_context(lambda name: seen.append(name))
tap.eq((n, seen), (0, []), "LIST_META_CONTEXT of an unknown context: none")
o.set_export_name("nosuch")
tap.raises(errno.ENOENT, "opt_info of an unknown export fails", o.opt_info)
o.set_export_name("disk")
o.set_full_info(True)
o.opt_info()
tap.eq((o.get_size(), o.get_canonical_export_name(), o.get_export_description()),
       (DISK_SIZE, "disk", "the disk"), "opt_info: size, NAME and DESCRIPTION")
o.clear_meta_contexts()
o.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
o.opt_go()
tap.ok(o.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION), "opt_go after listing: base:allocation set")
tap.eq(o.pread(16, MiB), data_1m[:16], "opt_go: transmission works")
o.shutdown()

# ---- errors (strict mode off: libnbd sends what the server must refuse)
e = connect("mem", strict=False)
SIZE = e.get_size()
tap.raises(errno.EINVAL, "read past the end: EINVAL", e.pread, 512, SIZE)
tap.ok(usable(e), "connection usable after a read past the end")
tap.raises(errno.EINVAL, "read starting beyond the end: EINVAL", e.pread, 512, SIZE + 4096)
tap.raises(errno.ENOSPC, "write past the end: ENOSPC", e.pwrite, b"x" * 512, SIZE)
tap.raises(errno.ENOSPC, "write crossing the end: ENOSPC", e.pwrite, b"x" * 1024, SIZE - 512)
tap.ok(usable(e), "connection usable after writes past the end")
tap.raises(errno.ENOSPC, "zero past the end: ENOSPC", e.zero, 512, SIZE)
tap.raises(errno.EINVAL, "trim past the end: EINVAL", e.trim, 512, SIZE)
tap.raises(errno.EINVAL, "oversized read (32 MiB + 4 KiB): EINVAL", e.pread, 32 * MiB + 4096, 0)
tap.raises(errno.EINVAL, "oversized write (33 MiB): EINVAL", e.pwrite, b"y" * (33 * MiB), 0)
tap.eq(e.pread(4096, 0), bytes(4096), "in sync after an oversized write (nothing written)")
tap.case("a maximum-sized read (32 MiB) works", lambda: len(e.pread(32 * MiB, 0)) == 32 * MiB)
for flag, what in [(nbd.CMD_FLAG_REQ_ONE, "REQ_ONE"), (nbd.CMD_FLAG_NO_HOLE, "NO_HOLE"),
                   (0x20, "0x20"), (0x40, "0x40"), (0x8000, "0x8000")]:
    tap.raises(errno.EINVAL, "READ with flag %s: EINVAL" % what, e.pread, 512, 0, flag)
tap.raises(errno.EINVAL, "WRITE with flag REQ_ONE: EINVAL", e.pwrite, b"z", 0, nbd.CMD_FLAG_REQ_ONE)
tap.raises(errno.EINVAL, "FLUSH with flag NO_HOLE: EINVAL", e.flush, nbd.CMD_FLAG_NO_HOLE)
tap.eq(e.pread(1, 0), b"\0", "unknown-flag requests did not write")
tap.case("zero-length READ", lambda: len(e.pread(0, 0)) == 0)
tap.case("zero-length WRITE", e.pwrite, b"", 0)
tap.case("zero-length TRIM", e.trim, 0, 0)
tap.case("zero-length WRITE_ZEROES", e.zero, 0, 0)
tap.case("zero-length CACHE", e.cache, 0, 0)
tap.raises(errno.EINVAL, "zero-length BLOCK_STATUS: EINVAL", extents, e, 0, 0)
tap.case("zero-length READ at the end of the export", lambda: len(e.pread(0, SIZE)) == 0)
tap.ok(usable(e), "connection usable after zero-length requests")

# A READ that crosses the end: the valid part, then an error for the rest.
tail = os.urandom(4096)
e.pwrite(tail, SIZE - 4096)
chunks.clear()
try:
    e.pread_structured(16 * KiB, SIZE - 4096, record)
    tap.ok(False, "READ crossing the end fails")
except nbd.Error as x:
    tap.eq(x.errnum, errno.EINVAL, "READ crossing the end fails with EINVAL")
tap.ok(chunks and chunks[0][:3] == (nbd.READ_DATA, SIZE - 4096, 4096),
       "READ crossing the end: the valid part comes first", chunks)
tap.ok(any(s == nbd.READ_ERROR and o == SIZE and v == errno.EINVAL for s, o, n, v in chunks),
       "READ crossing the end: an error chunk at the end offset", chunks)
e.shutdown()

s = connect("mem", strict=False, structured=False, meta=False)
tap.ok(not s.get_structured_replies_negotiated(), "simple replies when not asked for structured")
tap.ok(not s.can_df(), "DF not advertised without structured replies")
tap.raises(errno.EINVAL, "simple reply: READ crossing the end: EINVAL", s.pread, 8192, SIZE - 4096)
tap.eq(s.pread(4096, SIZE - 4096), tail, "simple reply: READ of the last block")
tap.raises(errno.EINVAL, "simple reply: READ with DF: EINVAL", s.pread, 512, 0, nbd.CMD_FLAG_DF)
tap.eq(s.pread(20000, SIZE - 20000)[-4096:], tail, "simple reply: large READ (sendfile path)")
s.shutdown()

n0 = connect("mem", strict=False, meta=False)
tap.ok(not n0.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION), "no context asked, none negotiated")
tap.raises(errno.EINVAL, "BLOCK_STATUS without a negotiated context: EINVAL", extents, n0, 4096, 0)
tap.ok(usable(n0), "connection usable after BLOCK_STATUS without a context")
n0.shutdown()

r = connect("ro", server=ro, strict=False)
tap.ok(r.is_read_only(), "-r: export is read-only")
tap.raises(errno.EPERM, "write to a read-only export: EPERM", r.pwrite, b"no", 0)
tap.eq(r.pread(14, 0), b"read-only data", "read-only export still reads")
tap.case("flush on a read-only export", r.flush)
try:
    r.trim(4096, 0)
    tap.ok(False, "trim on a read-only export fails")
except nbd.Error as x:
    tap.ok(x.errnum in (errno.EPERM, errno.EINVAL), "trim on a read-only export fails (EPERM/EINVAL)",
           x)
try:
    r.zero(4096, 0)
    tap.ok(False, "zero on a read-only export fails")
except nbd.Error as x:
    tap.ok(x.errnum in (errno.EPERM, errno.EINVAL), "zero on a read-only export fails (EPERM/EINVAL)",
           x)
tap.eq(file_bytes(rofile, 0, 14), b"read-only data", "the read-only file is unchanged")
r.shutdown()

# Alignment: an O_DIRECT export has a 4 KiB minimum block size that libnbd promises to honour.
try:
    fd = os.open(path("ro.img"), os.O_RDONLY | os.O_DIRECT)
    os.close(fd)
    direct_ok = True
except OSError:
    direct_ok = False
if direct_ok:
    dfile = make_file("direct.img", MiB)
    dsrv = Server("--direct", "--export", "d=" + dfile)
    d = connect("d", server=dsrv, strict=False)
    tap.eq(d.get_block_size(nbd.SIZE_MINIMUM), 4096, "--direct: minimum block size 4096")
    tap.raises(errno.EINVAL, "unaligned read (offset 512): EINVAL", d.pread, 4096, 512)
    tap.raises(errno.EINVAL, "unaligned read (length 1000): EINVAL", d.pread, 1000, 0)
    tap.raises(errno.EINVAL, "unaligned write: EINVAL", d.pwrite, b"u" * 512, 0)
    blk = os.urandom(8192)
    d.pwrite(blk, 4096)
    tap.eq(d.pread(8192, 4096), blk, "aligned write/read on an O_DIRECT export")
    d.shutdown()
    dsrv.stop()
else:
    tap.skip("O_DIRECT alignment checks", "the scratch filesystem refuses O_DIRECT")

# ---- multi-conn: a flush on one connection makes writes from another visible to a third.
c1, c2 = connect("mem"), connect("mem")
blob = os.urandom(8192)
c1.pwrite(blob, 9 * MiB)
c2.flush()
tap.eq(connect("mem").pread(8192, 9 * MiB), blob, "multi-conn: writes visible on other connections")
c1.shutdown()
c2.shutdown()

# ---- nbdsh itself
nbdsh = shutil.which("nbdsh")
if nbdsh:
    def run_nbdsh(*cmds):
        args = [nbdsh, "-u", srv.uri("mem")]
        for c in cmds:
            args += ["-c", c]
        # nbdsh runs "python3" from PATH: make it this interpreter, which has the nbd module.
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30,
                              env=env)

    p = run_nbdsh("h.pwrite(b'nbdsh!', 10 << 20)", "assert h.pread(6, 10 << 20) == b'nbdsh!'",
                  "print(h.get_size())")
    tap.ok(p.returncode == 0 and p.stdout.strip() == str(64 * MiB).encode(),
           "nbdsh -c: write, read back, size", p.stdout.decode(errors="replace"))
    p = run_nbdsh("assert h.pread(6, 10 << 20) == b'other!'")
    tap.ok(p.returncode != 0 and b"AssertionError" in p.stdout,
           "nbdsh -c: a failing assertion fails (the check can fail)",
           p.stdout.decode(errors="replace"))
else:
    tap.skip("nbdsh -c", "nbdsh is not installed")

tap.ok(srv.alive() and ro.alive(), "servers still running")
tap.eq(srv.stop(), 0, "server exits 0 on SIGTERM")
tap.finish()
