#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Sharded images (--export NAME=shards:DIR): a 1 GiB raw image with holes converted to chunk files
(only where it has data) and back, byte-identical; served, read by nbdcopy and qemu-img and mapped by
nbdinfo (missing chunks are holes); written by nbdcopy into an empty sharded image, with chunk files
only where data went; TRIM and WRITE_ZEROES of whole chunks removing their files, writes creating
them; a copy-on-write overlay over a sharded image; FLUSH and FUA syncing chunks beyond the
descriptors the server keeps open (seen with strace); and malformed or missing parts refused or
failed with a message that names them."""
import errno
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdtest  # noqa: E402

nbd = nbdtest.import_nbd()
tap = nbdtest.Tap(time_limit=110)
for tool in ("nbdinfo", "nbdcopy", "qemu-img"):
    if shutil.which(tool) is None:
        nbdtest.skip_all("%s is not installed" % tool)
SERVER = nbdtest.SERVER
GIB, MIB, CHUNK = 1 << 30, 1 << 20, 4 << 20


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60, **kw)


def chunk_files(d):
    return sorted(int(f.split(".")[0]) for f in os.listdir(d) if f.endswith(".chunk"))


def same_files(a, b):
    return run("cmp", a, b).returncode == 0


# A 1 GiB image: data in chunks 2-3 (3 MiB from 10 MiB), 125 (64 KiB) and 255 (its last 4 KiB),
# holes everywhere else.
raw = nbdtest.make_file("raw.img", GIB, [(10 * MIB, os.urandom(3 * MIB)),
                                         (8000 * 65536, os.urandom(65536)),
                                         (GIB - 4096, os.urandom(4096))])
shards = nbdtest.path("shards")
p = run(SERVER, "--to-shards", raw, shards)
tap.eq(p.returncode, 0, "--to-shards of a 1 GiB image with holes")
tap.ok("256 chunks of 4194304, 4 of them with data" in p.stdout, "it says what it made",
       p.stdout + p.stderr)
tap.eq(chunk_files(shards), [2, 3, 125, 255], "chunk files only where the image has data")
tap.ok(all(os.path.getsize(os.path.join(shards, "%d.chunk" % i)) == CHUNK for i in (2, 3, 125, 255)),
       "each chunk file has the chunk's length")
back = nbdtest.path("back.img")
tap.eq(run(SERVER, "--from-shards", shards, back).returncode, 0, "--from-shards")
tap.ok(same_files(raw, back), "back to raw: byte-identical")
tap.ok(os.stat(back).st_blocks * 512 < 8 * MIB, "back to raw: sparse (%d KiB allocated)"
       % (os.stat(back).st_blocks // 2))
os.chmod(shards, 0o777)
for f in os.listdir(shards):
    os.chmod(os.path.join(shards, f), 0o666)

srv = nbdtest.Server("--export", "disk=shards:" + shards)
uri = srv.uri("disk")

# ---- peers reading it
out = nbdtest.path("copied.img")
p = run("nbdcopy", uri, out)
tap.eq(p.returncode, 0, "nbdcopy from the sharded export")
tap.ok(same_files(raw, out), "nbdcopy: byte-identical to the image")
out2 = nbdtest.path("qemu.img")
p = run("qemu-img", "convert", "-f", "raw", "-O", "raw", uri, out2)
tap.ok(p.returncode == 0, "qemu-img convert from the sharded export", p.stderr)
tap.ok(same_files(raw, out2), "qemu-img: byte-identical to the image")
p = run("nbdinfo", "--map", uri)
tap.eq(p.returncode, 0, "nbdinfo --map")
data = [line.split() for line in p.stdout.splitlines() if "data" in line and "hole" not in line]
tap.ok(len(data) >= 3 and all(int(o) >= 2 * CHUNK for o, *_ in data),
       "nbdinfo --map: data only in the chunks that exist", p.stdout)
hole = [line for line in p.stdout.splitlines() if line.split()[0] == "0"]
tap.ok(hole and "hole" in hole[0], "nbdinfo --map: the missing first chunks are a hole", p.stdout)

# ---- writes, trims and zeroes through libnbd
h = nbd.NBD()
h.set_export_name("disk")
h.connect_uri(uri)
tap.eq(h.get_size(), GIB, "libnbd: the size from nbd-shards")
h.pwrite(b"new chunk" * 100, 50 * CHUNK + 100)
h.flush()
tap.ok(50 in chunk_files(shards), "a WRITE into a missing chunk creates its file")
tap.eq(bytes(h.pread(900, 50 * CHUNK + 100)), b"new chunk" * 100, "and reads back")
tap.eq(bytes(h.pread(4096, 49 * CHUNK)), bytes(4096), "a missing chunk reads as zeroes")
h.trim(CHUNK, 2 * CHUNK)
h.flush()
tap.ok(2 not in chunk_files(shards), "TRIM of a whole chunk removes its file")
tap.eq(bytes(h.pread(4096, 2 * CHUNK + 4096)), bytes(4096), "the trimmed chunk reads as zeroes")
h.zero(CHUNK, 3 * CHUNK)
tap.ok(3 not in chunk_files(shards), "WRITE_ZEROES of a whole chunk removes its file")
h.zero(4096, 125 * CHUNK)
tap.ok(125 in chunk_files(shards), "WRITE_ZEROES of part of a chunk keeps the file")
h.zero(CHUNK, 60 * CHUNK, nbd.CMD_FLAG_NO_HOLE)
tap.ok(60 in chunk_files(shards), "WRITE_ZEROES with NO_HOLE allocates the chunk")
tap.eq(bytes(h.pread(4096, 60 * CHUNK)), bytes(4096), "and it reads as zeroes")
h.shutdown()

# ---- nbdcopy writing the image into an empty sharded image
empty_src = nbdtest.make_file("empty.img", GIB)
target = nbdtest.path("target")
tap.eq(run(SERVER, "--to-shards", empty_src, target).returncode, 0, "an empty sharded image")
tap.eq(chunk_files(target), [], "it has no chunk file")
os.chmod(target, 0o777)
srv2 = nbdtest.Server("--export", "t=shards:" + target)
p = run("nbdcopy", raw, srv2.uri("t"))
tap.ok(p.returncode == 0, "nbdcopy of the raw image into it", p.stderr)
tap.eq(chunk_files(target), [2, 3, 125, 255], "chunk files only where data was written")
srv2.stop()
back2 = nbdtest.path("back2.img")
run(SERVER, "--from-shards", target, back2)
tap.ok(same_files(raw, back2), "back to raw: byte-identical")

# ---- copy-on-write over a sharded image
before = sorted(os.listdir(shards))
srv3 = nbdtest.Server("-c", "--export", "cow=shards:" + shards)
h = nbd.NBD()
h.set_export_name("cow")
h.connect_uri(srv3.uri("cow"))
h.pwrite(b"overlay", 200 * CHUNK)
tap.eq(bytes(h.pread(7, 200 * CHUNK)), b"overlay", "copy-on-write: the write reads back")
h.shutdown()
srv3.stop()
tap.eq(sorted(os.listdir(shards)), before, "copy-on-write: the sharded image is unchanged")

# ---- FLUSH and FUA past the descriptors kept open
# The server keeps 1,024 chunk descriptors open; a chunk beyond them is opened for each request and
# closed after it. A FLUSH, or a WRITE with FUA, must still sync such a chunk: strace, attached to the
# server, shows the flush opening that chunk's file again and syncing it.
def syncs_of(log, chunk):
    """Whether the strace log shows chunk's file opened read-only and that descriptor synced."""
    opened = {}
    for line in log.splitlines():
        f = line.split(None, 1)
        if len(f) < 2:
            continue
        tid, call = f
        if call.startswith("openat(") and '"%d.chunk", O_RDONLY' % chunk in call and "= " in call:
            opened[tid] = call.rsplit("= ", 1)[1].strip()
        elif tid in opened and call.startswith("fdatasync(%s)" % opened[tid]) and call.endswith("= 0"):
            return True
    return False


SYNCS = ("-e", "trace=openat,fdatasync")
if shutil.which("strace") is None:
    tap.skip("FLUSH and FUA sync chunks beyond the descriptors kept open", "strace is not installed")
else:
    SMALL = 64 << 10  # the smallest chunk size
    many = nbdtest.make_file("many.img", 1100 * SMALL, [(i * SMALL, b"x") for i in range(1100)])
    many_dir = nbdtest.path("many")
    p = run(SERVER, "--to-shards", many, many_dir, "--chunk-size", str(SMALL))
    tap.ok(p.returncode == 0 and len(chunk_files(many_dir)) == 1100,
           "--to-shards --chunk-size 64K: 1,100 chunk files", p.stdout + p.stderr)
    srv5 = nbdtest.Server("--export", "many=shards:" + many_dir)
    h = nbd.NBD()
    h.set_export_name("many")
    h.connect_uri(srv5.uri("many"))
    for i in range(1100):  # opens every chunk: the first 1,024 stay open
        h.pread(1, i * SMALL)
    log = nbdtest.traced(srv5.pid, lambda: (h.pwrite(b"past the cache", 1050 * SMALL), h.flush()),
                         *SYNCS)
    tap.ok(syncs_of(log, 1050), "FLUSH syncs a chunk written through a descriptor not kept open",
           log[-2000:])
    log = nbdtest.traced(srv5.pid, lambda: h.pwrite(b"with FUA", 1060 * SMALL, nbd.CMD_FLAG_FUA),
                         *SYNCS)
    tap.ok(syncs_of(log, 1060), "a WRITE with FUA syncs its chunk beyond the kept descriptors",
           log[-2000:])
    log = nbdtest.traced(srv5.pid, lambda: (h.zero(4096, 1070 * SMALL + 4096), h.flush()), *SYNCS)
    tap.ok(syncs_of(log, 1070), "FLUSH syncs a chunk punched through a descriptor not kept open",
           log[-2000:])
    tap.eq(bytes(h.pread(14, 1050 * SMALL)), b"past the cache", "the write reads back")
    h.shutdown()
    srv5.stop()

# ---- what is wrong, said
srv.stop()


def refused(desc, pattern, *args):
    p = run(SERVER, "--foreground", "--unix", nbdtest.path("refused.sock"), *args)
    tap.ok(p.returncode != 0 and pattern in p.stderr, "%s: refused with '%s'" % (desc, pattern),
           "exit status %d, stderr: %s" % (p.returncode, p.stderr[-400:]))


os.makedirs(nbdtest.path("notsharded"))
refused("a directory without nbd-shards", "has no nbd-shards file, so it is not a sharded image",
        "--export", "x=shards:" + nbdtest.path("notsharded"))
bad = nbdtest.path("bad")
os.makedirs(bad)
with open(os.path.join(bad, "nbd-shards"), "w") as f:
    f.write("size 1048576\nchunk-size 1000\n")
refused("a chunk size that is not a multiple of 4096", "nbd-shards is malformed: expected",
        "--export", "x=shards:" + bad)
refused("a missing directory", "cannot open", "--export", "x=shards:" + nbdtest.path("nowhere"))
p = run(SERVER, "--to-shards", raw, shards)
tap.ok(p.returncode != 0 and "holds a sharded image already" in p.stderr,
       "--to-shards into an existing sharded image is refused", p.stderr)
p = run(SERVER, "--from-shards", shards, back)
tap.ok(p.returncode != 0 and "never overwrites a file" in p.stderr,
       "--from-shards never overwrites a file", p.stderr)

# A damaged chunk: its range fails, named in the log; the rest of the image is served.
with open(os.path.join(shards, "125.chunk"), "r+b") as f:
    f.truncate(1000)
srv4 = nbdtest.Server("--export", "d=shards:" + shards)
h = nbd.NBD()
h.set_export_name("d")
h.connect_uri(srv4.uri("d"))
tap.raises(errno.EIO, "a READ of the damaged chunk fails (EIO)", h.pread, 4096, 125 * CHUNK)
tap.eq(bytes(h.pread(4096, 255 * CHUNK + CHUNK - 4096)), open(raw, "rb").read()[-4096:],
       "the other chunks are served")
tap.ok(nbdtest.log_says(srv4, r"125\.chunk is not a regular file of 4194304 bytes"),
       "the log names the damaged chunk", srv4.log_text()[-400:])
h.shutdown()
p = run(SERVER, "--from-shards", shards, nbdtest.path("back3.img"))
tap.ok(p.returncode != 0 and "125.chunk has 1000 bytes" in p.stderr,
       "--from-shards names the damaged chunk", p.stderr)
tap.finish()
