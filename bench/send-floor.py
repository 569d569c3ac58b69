#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What sending a file's bytes over TCP loopback costs the sender, with no NBD server in the way:
the floor under the READ rows of server-bench.py.

A sender pinned to CPU 1 sends the same 1 GiB file in /dev/shm, in 256 KiB pieces each behind a
16-byte header (an NBD simple reply), to a receiver pinned to CPU 0 that reads into a 256 KiB
buffer, as a client does. It does so in several ways, one after the other in rotating order:

  sendfile        the header with MSG_MORE, then sendfile() of the range (no copy in the sender:
                  what nbd-server does for READs of 16 KiB or more from a file in memory)
  mapped-sendmsg  sendmsg() straight from a shared mapping of the file, eight replies per call
                  (one copy)
  pread-send      pread() into a buffer, then send() of the header and the buffer (two copies:
                  what a server that reads into a buffer pays)
  splice          the header with MSG_MORE, then splice() of the range into a pipe and from the
                  pipe to the socket (no copy, one system call more than sendfile)
  zerocopy        the header with MSG_MORE, then send() from the mapping with MSG_ZEROCOPY, its
                  completions read from the socket's error queue (the pages are pinned, not copied)
  pipe-header     the header written into a pipe, the range spliced in after it, and the pipe
                  spliced to the socket: one send into the socket for both (no copy of the range)
  sendfile-cork   sendfile's way with TCP_CORK held over each four pieces, so that the last
                  bytes of a piece leave with the next one's header rather than in a segment of
                  their own

For each it reports MiB sent per second and per sender CPU second (user + system of the sending
process, from getrusage), and the receiver's CPU per second; medians of --repeat rounds, with the
spread, and every way's efficiency as a ratio of the first way's. On loopback the receiver's TCP
input runs in the sender's context, so the sender's CPU includes it, as it does for a server.

Usage: bench/send-floor.py [--size-mib 4096] [--repeat 5] [--image /dev/shm/FILE]
                           [--only sendfile,mapped-sendmsg,...]
Needs two CPUs and nothing else. Not a test: it asserts nothing and never runs in CI.
"""
import argparse
import fcntl
import mmap
import os
import resource
import socket
import statistics
import sys
import time

PIECE = 256 << 10
HEADER = bytes(16)
# Not in Python's socket module on Debian 12: linux/socket.h and asm-generic/socket.h.
MSG_ZEROCOPY = 0x4000000
SO_ZEROCOPY = 60
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
SENDER_CPU, RECEIVER_CPU = 1, 0


def send_iov(sock, pieces):
    """sendmsg() of all pieces (memoryviews), resuming after partial sends."""
    while pieces:
        n = sock.sendmsg(pieces)
        while n:
            if n >= len(pieces[0]):
                n -= len(pieces[0])
                pieces.pop(0)
            else:
                pieces[0] = pieces[0][n:]
                n = 0


def way_mapped_sendmsg(sock, fd, view, offsets):
    header = memoryview(HEADER)
    for i in range(0, len(offsets), 8):
        pieces = []
        for off in offsets[i:i + 8]:
            pieces += [header, view[off:off + PIECE]]
        send_iov(sock, pieces)


def way_pread_send(sock, fd, view, offsets):
    buf = bytearray(len(HEADER) + PIECE)
    data = memoryview(buf)[len(HEADER):]
    for off in offsets:
        os.preadv(fd, [data], off)
        sock.sendall(buf)


def way_sendfile(sock, fd, view, offsets):
    for off in offsets:
        sock.send(HEADER, socket.MSG_MORE)
        sent = 0
        while sent < PIECE:
            sent += os.sendfile(sock.fileno(), fd, off + sent, PIECE - sent)


def way_splice(sock, fd, view, offsets):
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, PIECE)
        for off in offsets:
            sock.send(HEADER, socket.MSG_MORE)
            if os.splice(fd, w, PIECE, offset_src=off) != PIECE:
                raise RuntimeError("short splice from the file")
            left = PIECE
            while left:
                left -= os.splice(r, sock.fileno(), left)
    finally:
        os.close(r)
        os.close(w)


def way_pipe_header(sock, fd, view, offsets):
    r, w = os.pipe()
    try:
        # Room for the header's page and the range's: F_SETPIPE_SZ rounds up to a power of two.
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 2 * PIECE)
        for off in offsets:
            os.write(w, HEADER)
            if os.splice(fd, w, PIECE, offset_src=off) != PIECE:
                raise RuntimeError("short splice from the file")
            left = PIECE + len(HEADER)
            while left:
                left -= os.splice(r, sock.fileno(), left)
    finally:
        os.close(r)
        os.close(w)


def way_sendfile_cork(sock, fd, view, offsets, batch=4):
    for i in range(0, len(offsets), batch):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        way_sendfile(sock, fd, view, offsets[i:i + batch])
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)


def drain_completions(sock, block):
    """Reads zerocopy completions; returns how many sends they covered."""
    done = 0
    while True:
        try:
            flags = MSG_ERRQUEUE | (0 if block else socket.MSG_DONTWAIT)
            _, anc, _, _ = sock.recvmsg(0, 256, flags)
        except BlockingIOError:
            return done
        for _, _, data in anc:
            # struct sock_extended_err: errno u32, origin u8, type u8, code u8, pad u8, info u32,
            # data u32: the completed range of send calls is [info, data].
            info = int.from_bytes(data[8:12], sys.byteorder)
            last = int.from_bytes(data[12:16], sys.byteorder)
            done += last - info + 1
        if block:
            return done


def way_zerocopy(sock, fd, view, offsets):
    sock.setsockopt(socket.SOL_SOCKET, SO_ZEROCOPY, 1)
    calls = completed = 0
    for off in offsets:
        sock.send(HEADER, socket.MSG_MORE)
        piece = view[off:off + PIECE]
        while piece:
            n = sock.send(piece, MSG_ZEROCOPY)
            piece = piece[n:]
            calls += 1
        completed += drain_completions(sock, block=False)
    while completed < calls:
        completed += drain_completions(sock, block=True)


WAYS = {
    "sendfile": way_sendfile,
    "mapped-sendmsg": way_mapped_sendmsg,
    "pread-send": way_pread_send,
    "splice": way_splice,
    "zerocopy": way_zerocopy,
    "pipe-header": way_pipe_header,
    "sendfile-cork": way_sendfile_cork,
}


def receive(listener, total):
    os.sched_setaffinity(0, {RECEIVER_CPU})
    conn, _ = listener.accept()
    buf = bytearray(PIECE)
    got = 0
    while got < total:
        n = conn.recv_into(buf)
        if n == 0:
            break
        got += n
    os._exit(0 if got == total else 1)


def cpu_seconds(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def run(way, fd, view, file_size, total):
    listener = socket.create_server(("127.0.0.1", 0))
    wire = total // PIECE * (PIECE + len(HEADER))
    pid = os.fork()
    if pid == 0:
        receive(listener, wire)
    sock = socket.create_connection(listener.getsockname())
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    offsets = [i * PIECE % file_size for i in range(total // PIECE)]
    children_before = cpu_seconds(resource.RUSAGE_CHILDREN)
    cpu_before, start = cpu_seconds(resource.RUSAGE_SELF), time.monotonic()
    WAYS[way](sock, fd, view, offsets)
    sock.shutdown(socket.SHUT_WR)
    _, status = os.waitpid(pid, 0)
    elapsed = time.monotonic() - start
    sender_cpu = cpu_seconds(resource.RUSAGE_SELF) - cpu_before
    receiver_cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - children_before
    sock.close()
    listener.close()
    if status != 0:
        raise RuntimeError(f"{way}: the receiver did not get all {wire} bytes")
    mib = total / (1 << 20)
    return mib / elapsed, mib / sender_cpu, receiver_cpu / elapsed


def make_image(path, size):
    with open(path, "wb") as f:
        for _ in range(size // (16 << 20)):
            f.write(os.urandom(16 << 20))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mib", type=int, default=4096, help="MiB each way sends per round")
    p.add_argument("--repeat", type=int, default=5, help="rounds; each figure is their median")
    p.add_argument("--image", help="file to send (default: a 1 GiB file of random bytes in "
                   "/dev/shm, made for the run and removed after)")
    p.add_argument("--only", help="comma-separated ways, from: " + ",".join(WAYS))
    a = p.parse_args()
    ways = a.only.split(",") if a.only else list(WAYS)
    unknown = [w for w in ways if w not in WAYS]
    if unknown:
        sys.exit(f"send-floor: unknown way {','.join(unknown)}; the ways are {','.join(WAYS)}")
    if len(os.sched_getaffinity(0)) < 2 or SENDER_CPU not in os.sched_getaffinity(0):
        sys.exit("send-floor: needs CPUs 0 and 1, for the receiver and the sender")
    image, made = a.image, False
    if image is None:
        image, made = f"/dev/shm/send-floor-{os.getpid()}.img", True
        make_image(image, 1 << 30)
    try:
        fd = os.open(image, os.O_RDONLY)
        file_size = os.fstat(fd).st_size // PIECE * PIECE
        if file_size == 0:
            sys.exit(f"send-floor: {image} is smaller than {PIECE} bytes; give a larger --image")
        m = mmap.mmap(fd, file_size, mmap.MAP_SHARED, mmap.PROT_READ)
        view = memoryview(m)
        os.sched_setaffinity(0, {SENDER_CPU})
        sum(view[off] for off in range(0, file_size, 4096))  # every page mapped before timing
        total = a.size_mib << 20
        results = {w: [] for w in ways}
        for rnd in range(a.repeat):
            order = ways[rnd % len(ways):] + ways[:rnd % len(ways)]
            for w in order:
                results[w].append(run(w, fd, view, file_size, total))
        report(results, ways)
        view.release()
        m.close()
        os.close(fd)
    finally:
        if made:
            os.unlink(image)


def report(results, ways):
    base = statistics.median(r[1] for r in results[ways[0]])
    rounds = len(next(iter(results.values())))
    print(f"{rounds} rounds; sender on CPU {SENDER_CPU}, receiver on CPU {RECEIVER_CPU}; "
          "256 KiB pieces over TCP loopback")
    print(f"| way | MiB/s | MiB per sender CPU s | spread | receiver CPU/s | / {ways[0]} |")
    print("|---|---|---|---|---|---|")
    for w in ways:
        rate = statistics.median(r[0] for r in results[w])
        eff = [r[1] for r in results[w]]
        recv = statistics.median(r[2] for r in results[w])
        print(f"| {w} | {rate:.0f} | {statistics.median(eff):.0f} | {min(eff):.0f}-{max(eff):.0f} "
              f"| {recv:.2f} | {statistics.median(eff) / base:.2f}x |")


if __name__ == "__main__":
    main()
