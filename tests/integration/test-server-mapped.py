#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Exports whose file lives in memory (tmpfs, memfd) are served through a shared mapping of the file:
only those are mapped; the first writes into a file with no holes do not fault once per page;
writes of 4 KiB to 2 MiB, over a Unix socket and over TCP (where large payloads
wait in the socket until whole and are received straight into the mapping), land in the file's page
cache byte for byte; a payload that comes in pieces is written whole, one cut off by its client not
at all, and a lone request after a large WRITE is still answered; reading holes allocates nothing (a
sparse file and a memory export stay sparse); a file truncated under the server reads as zeros past
its new end and takes writes there, without the server dying of SIGBUS (large READs, sent with
sendfile(), get the file's bytes up to the end and zeros after it, in pipelined simple and
structured replies); and on a full tmpfs large writes get ENOSPC while the acknowledged ones read
back."""
import atexit
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdtest  # noqa: E402
import nbdraw as P  # noqa: E402

nbd = nbdtest.import_nbd()
if subprocess.run(["stat", "-f", "-c", "%T", "/dev/shm"], capture_output=True,
                  text=True).stdout.strip() != "tmpfs":
    nbdtest.skip_all("/dev/shm is not a tmpfs")
tap = nbdtest.Tap(time_limit=100)
KIB, MIB = 1 << 10, 1 << 20
rng = random.Random(14)

shm = tempfile.mkdtemp(prefix="nbdm-test-mapped.", dir="/dev/shm")
atexit.register(shutil.rmtree, shm, True)
img = os.path.join(shm, "disk.img")
model = bytearray(rng.randbytes(16 * MIB))
with open(img, "wb") as f:
    f.write(model)
sparse = os.path.join(shm, "sparse.img")
with open(sparse, "wb") as f:
    f.truncate(64 * MIB)
fresh = os.path.join(shm, "fresh.img")
with open(fresh, "wb") as f:
    f.write(rng.randbytes(16 * MIB))
on_disk = nbdtest.make_file("on-disk.img", 4 * MIB)
disk_is_memory = subprocess.run(["stat", "-f", "-c", "%T", on_disk], capture_output=True,
                                text=True).stdout.strip() in ("tmpfs", "ramfs")

port = nbdtest.free_port()
srv = nbdtest.Server("--export", "disk=" + img, "--export", "sparse=" + sparse,
                     "--export", "fresh=" + fresh,
                     "--export", "mem=memory:32M", "--export", "ondisk=" + on_disk,
                     "127.0.0.1@%d" % port)


def connect(name, structured=True):
    h = nbd.NBD()
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    # Without structured replies every READ reads the file, holes included.
    h.set_request_structured_replies(structured)
    h.connect_uri(srv.uri(name))
    return h


handles = {name: connect(name) for name in ("disk", "sparse", "mem", "ondisk")}
with open("/proc/%d/maps" % srv.pid) as f:
    maps = f.read()
tap.ok(img in maps and sparse in maps, "files on tmpfs are mapped by the server", maps)
tap.ok("memfd:nbd-server-memory" in maps, "a memory export is mapped", maps)
if disk_is_memory:
    tap.skip("a file on a disk is not mapped", "the scratch directory is in memory too")
else:
    tap.ok(on_disk not in maps, "a file on a disk is not mapped")



def minor_faults(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


# ---- the first writes into a file with no holes do not fault once per page: the server fills the
# page tables of each 2 MiB before its first write there. 4 MiB of 256 KiB WRITEs over TCP (received
# straight into the mapping), then 4 MiB of 64 KiB WRITEs (copied into it), 2,048 pages in all.
fresh_tcp = nbd.NBD()
fresh_tcp.connect_uri("nbd://127.0.0.1:%d/fresh" % port)
fresh_unix = connect("fresh")
fresh_model = bytearray(open(fresh, "rb").read())
before = minor_faults(srv.pid)
for off in range(0, 4 * MIB, 256 * KIB):
    data = rng.randbytes(256 * KIB)
    fresh_tcp.pwrite(data, off)
    fresh_model[off:off + len(data)] = data
for off in range(4 * MIB, 8 * MIB, 64 * KIB):
    data = rng.randbytes(64 * KIB)
    fresh_unix.pwrite(data, off)
    fresh_model[off:off + len(data)] = data
faults = minor_faults(srv.pid) - before
tap.ok(faults < 512, "8 MiB written for the first time into a file with no holes: %d page faults "
       "in the server, not one per page" % faults)
with open(fresh, "rb") as f:
    tap.ok(f.read() == fresh_model, "... and the file holds what was written")
fresh_tcp.shutdown()
fresh_unix.shutdown()

# ---- writes of both sizes land in the file
h = handles["disk"]
for i in range(300):
    off = rng.randrange(0, 16 * MIB // 4096) * 4096
    data = rng.randbytes(4096)
    h.pwrite(data, off, nbd.CMD_FLAG_FUA if i % 50 == 0 else 0)
    model[off:off + 4096] = data
for i in range(24):
    off = rng.randrange(0, (16 * MIB - 256 * KIB) // 4096) * 4096
    data = rng.randbytes(256 * KIB)
    h.pwrite(data, off)
    model[off:off + len(data)] = data
h.flush()
got = b"".join(h.pread(MIB, o) for o in range(0, 16 * MIB, MIB))
tap.ok(got == model, "300 writes of 4 KiB and 24 of 256 KiB read back through the export")
with open(img, "rb") as f:
    tap.ok(f.read() == model, "... and from the file itself: the mapping is its page cache")

tcp = nbd.NBD()
tcp.connect_uri("nbd://127.0.0.1:%d/disk" % port)
for size, count in ((4 * KIB, 200), (64 * KIB, 20), (256 * KIB, 40), (MIB, 6), (2 * MIB, 3)):
    for i in range(count):
        off = rng.randrange(0, (16 * MIB - size) // 4096) * 4096
        data = rng.randbytes(size)
        tcp.pwrite(data, off, nbd.CMD_FLAG_FUA if i == 0 else 0)
        model[off:off + size] = data
# Many large WRITEs in flight at once: payloads queue up behind each other in the socket.
cookies = []
for i in range(32):
    off = rng.randrange(0, (16 * MIB - 256 * KIB) // 4096) * 4096
    data = rng.randbytes(256 * KIB)
    cookies.append(tcp.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(data)), off))
    model[off:off + len(data)] = data
    while tcp.aio_in_flight() > 16:
        tcp.poll(-1)
while tcp.aio_in_flight() > 0:
    tcp.poll(-1)
tap.ok(all(tcp.aio_command_completed(c) for c in cookies), "32 WRITEs of 256 KiB in flight over TCP")
tcp.flush()
with open(img, "rb") as f:
    tap.ok(f.read() == model, "WRITEs of 4 KiB to 2 MiB over TCP are in the file, byte for byte")


def raw_tcp():
    c = P.TcpConn(port)
    c.handshake()
    c.go("disk")
    return c


c = raw_tcp()
data = rng.randbytes(256 * KIB)
c.request(P.CMD_WRITE, 3 * MIB, len(data))
for piece in range(4):  # the payload trickles in: the socket wakes the server when it is whole
    time.sleep(0.05)
    c.send(data[piece * 64 * KIB:(piece + 1) * 64 * KIB])
tap.eq(c.simple_reply()[0], 0, "a 256 KiB payload sent in four pieces 50 ms apart is written")
model[3 * MIB:3 * MIB + len(data)] = data
c.request(P.CMD_FLUSH)
tap.eq(c.simple_reply()[0], 0, "a lone FLUSH right after it is answered")
c.request(P.CMD_READ, 3 * MIB, len(data))
tap.eq(c.simple_reply(len(data))[2], data, "... and a READ of what it wrote")
c.close()


def pipes(pid):
    fds = os.listdir("/proc/%d/fd" % pid)
    return sum(1 for fd in fds if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("pipe:"))


# A WRITE that follows one received into the mapping, after the socket ran dry in between, has its
# header read alone, so that its payload is received into the mapping too. Were the header read
# with the input buffer's whole size, the payload's first bytes would come with it and the rest
# would go through a pipe (opened for that) and be copied twice.
c = raw_tcp()
before = pipes(srv.pid)
first, second = rng.randbytes(MIB), rng.randbytes(MIB)
c.request(P.CMD_WRITE, 6 * MIB, MIB)
time.sleep(0.1)
c.send(first)
tap.eq(c.simple_reply()[0], 0, "a 1 MiB WRITE whose header came first is written")
time.sleep(0.1)
c.request(P.CMD_WRITE, 7 * MIB, MIB, payload=second)
tap.eq(c.simple_reply()[0], 0, "... and a second one sent whole after a pause")
tap.eq(pipes(srv.pid), before, "... received into the mapping too: no pipe was opened")
model[6 * MIB:8 * MIB] = first + second
c.request(P.CMD_READ, 6 * MIB, 2 * MIB)
tap.eq(c.simple_reply(2 * MIB)[2], first + second, "... and both read back")
c.close()
c = raw_tcp()
c.request(P.CMD_WRITE, 5 * MIB, 256 * KIB)
c.send(b"\xee" * (128 * KIB))
time.sleep(0.2)
c.close()
time.sleep(0.3)
with open(img, "rb") as f:
    f.seek(5 * MIB)
    tap.ok(f.read(256 * KIB) == model[5 * MIB:5 * MIB + 256 * KIB],
           "a WRITE whose client left mid-payload left nothing in the file")
tap.ok(srv.alive(), "the server is alive")

# ---- holes stay holes
h = handles["sparse"]
zeros = all(h.pread(MIB, o) == bytes(MIB) for o in range(0, 64 * MIB, MIB))
tap.ok(zeros, "a sparse 64 MiB file reads as zeros")
simple = connect("sparse", structured=False)
zeros = all(simple.pread(8 * KIB, o) == bytes(8 * KIB) for o in range(0, 64 * MIB, 8 * KIB))
tap.ok(zeros, "... also in 8 KiB reads with simple replies (no hole is skipped)")
zeros = all(simple.pread(256 * KIB, o) == bytes(256 * KIB) for o in range(0, 64 * MIB, 256 * KIB))
simple.shutdown()
tap.ok(zeros, "... and in 256 KiB reads with simple replies (holes are not sent from the file)")
tap.eq(os.stat(sparse).st_blocks, 0, "... and reading its holes allocated nothing")
h.pwrite(b"x" * 4096, MIB)
tap.ok(0 < os.stat(sparse).st_blocks * 512 <= 64 * KIB,
       "a 4 KiB write allocates its page alone (%d bytes allocated)" % (os.stat(sparse).st_blocks
                                                                         * 512))


def extents(h, length):
    found = []

    def cb(metacontext, offset, entries, err):
        found.extend(zip(entries[0::2], entries[1::2]))
        return 0

    h.block_status(length, 0, cb)
    return found


h = handles["mem"]
simple = connect("mem", structured=False)
zeros = all(simple.pread(8 * KIB, o) == bytes(8 * KIB) for o in range(0, 32 * MIB, 8 * KIB))
simple.shutdown()
tap.ok(zeros, "a memory export reads as zeros (8 KiB reads, simple replies)")
ext = extents(h, 32 * MIB)
tap.ok(ext and ext[0][1] & nbd.STATE_HOLE and ext[0][0] == 32 * MIB,
       "... and is still one hole after being read whole", repr(ext[:4]))
h.pwrite(b"m" * 8192, 4 * MIB)
tap.eq(h.pread(8192, 4 * MIB), b"m" * 8192, "a memory export reads back what was written")

# ---- the file cut short under the server: no SIGBUS, the system calls' answers
h = handles["disk"]
os.truncate(img, 8 * MIB)
tap.eq(h.pread(4096, 12 * MIB), bytes(4096), "after the file was cut to 8 MiB: 4 KiB past its "
       "end read as zeros")
tap.eq(h.pread(256 * KIB, 12 * MIB), bytes(256 * KIB), "... and 256 KiB")
# Large READs go out with sendfile() after their header, which stops at the file's new end: the
# rest goes out as zeros, in the same reply.
cut = 8 * MIB - 96 * KIB
tap.eq(h.pread(256 * KIB, cut), bytes(model[cut:8 * MIB]) + bytes(160 * KIB),
       "a 256 KiB read across the new end: the file's bytes, then zeros")
simple = connect("disk", structured=False)
tap.eq(simple.pread(256 * KIB, cut), bytes(model[cut:8 * MIB]) + bytes(160 * KIB),
       "... also with a simple reply")
bufs = [nbd.Buffer(256 * KIB) for _ in range(16)]
offsets = [cut + (i - 8) * 128 * KIB for i in range(16)]
cookies = [simple.aio_pread(b, o) for b, o in zip(bufs, offsets)]
while simple.aio_in_flight() > 0:
    simple.poll(-1)
expect = bytes(model[:8 * MIB]) + bytes(8 * MIB)
tap.ok(all(simple.aio_command_completed(c) for c in cookies) and
       all(b.to_bytearray() == expect[o:o + 256 * KIB] for b, o in zip(bufs, offsets)),
       "16 such reads in flight at once, before, across and past the end, each read right")
simple.shutdown()
tap.ok(srv.alive(), "the server is alive")
h.pwrite(b"a" * 4096, 12 * MIB)
tap.eq(h.pread(4096, 12 * MIB), b"a" * 4096, "a 4 KiB write past the new end reads back")
tap.eq(os.path.getsize(img), 12 * MIB + 4096, "... and it extended the file")
os.truncate(img, 8 * MIB)
h.pwrite(b"b" * (256 * KIB), 10 * MIB)
tap.eq(h.pread(256 * KIB, 10 * MIB), b"b" * (256 * KIB),
       "after a second cut, a 256 KiB write past the end reads back")
tap.eq(h.pread(MIB, 7 * MIB), bytes(model[7 * MIB:8 * MIB]), "what the file kept is unchanged")
os.truncate(img, 8 * MIB)
tcp.pwrite(b"c" * (256 * KIB), 11 * MIB)
tap.eq(tcp.pread(256 * KIB, 11 * MIB), b"c" * (256 * KIB),
       "over TCP, a 256 KiB write past the end of a file cut short reads back")
tap.eq(os.path.getsize(img), 11 * MIB + 256 * KIB, "... and it extended the file")
tap.ok(srv.alive(), "the server is alive")
tcp.shutdown()

# ---- a full tmpfs: large writes get ENOSPC, acknowledged ones stay
if os.geteuid() != 0:
    tap.skip("a full tmpfs", "mounting one needs root")
else:
    full = os.path.join(nbdtest.scratch(), "full")
    os.makedirs(full)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "nbdm-test-mapped", full],
                             capture_output=True).returncode == 0
    if not mounted:
        tap.skip("a full tmpfs", "cannot mount a tmpfs here")
    else:
        atexit.register(subprocess.run, ["umount", "-l", full], capture_output=True)
        small = os.path.join(full, "disk.img")
        with open(small, "wb") as f:
            f.truncate(8 * MIB)
        port2 = nbdtest.free_port()
        srv2 = nbdtest.Server("--export", "small=" + small, "127.0.0.1@%d" % port2)
        h = nbd.NBD()
        h.connect_uri("nbd://127.0.0.1:%d/small" % port2)
        written, errors = {}, []
        for i in range(16):
            data = rng.randbytes(256 * KIB)
            try:
                h.pwrite(data, i * 512 * KIB)
                written[i] = data
            except nbd.Error as e:
                errors.append(e.errno)
        tap.ok(errors and set(errors) == {"ENOSPC"} and len(written) >= 2,
               "256 KiB writes over TCP on a 1 MiB tmpfs: %d written, then ENOSPC" % len(written),
               repr(errors))
        tap.ok(all(h.pread(256 * KIB, i * 512 * KIB) == d for i, d in written.items()),
               "every acknowledged write reads back")
        tap.ok(srv2.alive(), "the server is alive")
        h.shutdown()
        srv2.stop()
        subprocess.run(["umount", full], capture_output=True)

for h in handles.values():
    h.shutdown()
tap.eq(srv.stop(), 0, "the server stops cleanly")
tap.finish()
