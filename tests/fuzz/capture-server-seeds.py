#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes the seed corpus of the server-connection fuzz target from real clients' traffic:
tests/fuzz/corpus/server-connection/seed-<client>.

nbd-server (this tree's) serves the exports the fuzz target has ("" 256 KiB of memory, "ro" 64 KiB,
read-only) on a Unix socket behind a relay that records what each client sends; each client's
stream, after the configuration byte the target reads first (extended headers and LIST allowed), is
one seed. The clients are Debian's: nbdinfo (plain, --list, --map), nbdcopy both ways, qemu-img
and qemu-io (reads, writes, zeroes, discards, flushes), nbdsh, and this tree's nbd-client list and
info. Clients that are not installed are left out, and said. The files are committed; run this again
after changing the target's input layout. Only files named seed-* are replaced.

Usage: tests/fuzz/capture-server-seeds.py BUILD_DIR [CORPUS_DIR]
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

CONFIG = bytes([0x03])  # extended headers offered, LIST allowed (fuzz-server-connection.c)


class Recorder:
    """A Unix socket that relays one connection at a time to the server and keeps what the client
    sent."""

    def __init__(self, path, server_path):
        self.path, self.server_path = path, server_path
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(path)
        self.listener.listen(8)
        self.streams = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client):
        server = socket.socket(socket.AF_UNIX)
        server.connect(self.server_path)
        sent = bytearray()

        def back():
            try:
                while True:
                    data = server.recv(1 << 16)
                    if not data:
                        break
                    client.sendall(data)
            except OSError:
                pass
            try:
                client.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        t = threading.Thread(target=back, daemon=True)
        t.start()
        try:
            while True:
                data = client.recv(1 << 16)
                if not data:
                    break
                sent += data
                server.sendall(data)
        except OSError:
            pass
        try:
            server.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        t.join(5)
        client.close()
        server.close()
        with self.lock:
            self.streams.append(bytes(sent))

    def take(self):
        time.sleep(0.3)
        with self.lock:
            streams, self.streams = self.streams, []
        return streams


def extended_headers_stream():
    """A client that negotiates extended headers and base:allocation, then reads, writes (with
    PAYLOAD_LEN), asks for block status and disconnects (doc/proto.md)."""
    import struct
    ihaveopt, req_magic = 0x49484156454F5054, 0x21E41C71

    def option(opt, data=b""):
        return struct.pack(">QII", ihaveopt, opt, len(data)) + data

    def request(cmd, cookie, offset, length, flags=0, payload=b""):
        return struct.pack(">IHHQQQ", req_magic, flags, cmd, cookie, offset, length) + payload

    name = b""
    out = struct.pack(">I", 3)  # FIXED_NEWSTYLE | NO_ZEROES
    out += option(11)  # EXTENDED_HEADERS
    ctx = b"base:allocation"
    out += option(10, struct.pack(">I", len(name)) + name + struct.pack(">I", 1) +
                  struct.pack(">I", len(ctx)) + ctx)  # SET_META_CONTEXT
    out += option(7, struct.pack(">I", 0) + struct.pack(">HH", 1, 3))  # GO, asking block sizes
    out += request(0, 1, 0, 4096)                          # READ
    out += request(1, 2, 4096, 512, 1 << 5, b"\xa5" * 512)  # WRITE with PAYLOAD_LEN
    out += request(7, 3, 0, 65536)                         # BLOCK_STATUS
    out += request(6, 4, 8192, 4096, 1 << 4)               # WRITE_ZEROES, FAST_ZERO
    out += request(3, 5, 0, 0)                             # FLUSH
    out += request(2, 6, 0, 0)                             # DISC
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    corpus = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "server-connection")
    os.makedirs(corpus, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="nbdm-seeds.")
    server_sock, relay_sock = os.path.join(tmp, "server.sock"), os.path.join(tmp, "relay.sock")
    src = os.path.join(tmp, "src.img")
    with open(src, "wb") as f:
        f.write(os.urandom(256 << 10))
    ro = os.path.join(tmp, "ro.img")
    with open(ro, "wb") as f:
        f.truncate(64 << 10)
    conf = os.path.join(tmp, "config")
    with open(conf, "w") as f:
        f.write("[generic]\n[ro]\nexportname = %s\nreadonly = true\n" % ro)
    server = subprocess.Popen([os.path.join(build, "server", "nbd-server"), "--foreground",
                               "-C", conf, "--unix", server_sock, "--export", "=memory:256K"],
                              stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(server_sock):
            break
        time.sleep(0.05)
    rec = Recorder(relay_sock, server_sock)
    uri = "nbd+unix:///?socket=" + relay_sock
    uri_ro = "nbd+unix:///ro?socket=" + relay_sock
    client = os.path.join(build, "client", "nbd-client")
    runs = {
        "nbdinfo": ["nbdinfo", uri],
        "nbdinfo-list": ["nbdinfo", "--list", uri],
        "nbdinfo-map": ["nbdinfo", "--map", uri],
        "nbdinfo-ro": ["nbdinfo", uri_ro],
        "nbdcopy-read": ["nbdcopy", uri, "null:"],
        "nbdcopy-write": ["nbdcopy", src, uri],
        "qemu-img-info": ["qemu-img", "info", "-f", "raw", uri],
        "qemu-io": ["qemu-io", "-f", "raw", "-c", "write -P 0x5a 4096 8192", "-c", "read 0 64k",
                    "-c", "write -z 65536 65536", "-c", "discard 131072 4096", "-c", "flush",
                    "-c", "write -f 0 512", uri],
        # libnbd's Python module is Debian's: nbdsh (python3 -m nbd) under /usr/bin/python3,
        # whatever python3 comes first in PATH.
        "nbdsh": ["/usr/bin/python3", "-m", "nbd", "-c",
                  "h.add_meta_context('base:allocation'); h.connect_uri('%s'); "
                  "h.pwrite(b'x' * 1000, 3); h.flush(); h.trim(4096, 8192); " % uri +
                  "h.zero(512, 0, nbd.CMD_FLAG_FAST_ZERO) if h.can_fast_zero() else None; "
                  "h.cache(4096, 0) if h.can_cache() else None; h.pread(100, 1); "
                  "h.block_status(65536, 0, lambda *a: 0)"],
        "nbd-client-list": [client, "list", uri],
        "nbd-client-info": [client, "info", uri],
    }
    written = 0
    for name in list(os.listdir(corpus)):
        if name.startswith("seed-"):
            os.unlink(os.path.join(corpus, name))
    for name, cmd in runs.items():
        if not shutil.which(cmd[0]) or not all(os.path.exists(c) for c in cmd[:2] if c.startswith("/")):
            print("%s: not installed, left out" % cmd[0], file=sys.stderr)
            continue
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        if r.returncode != 0:
            print("%s failed (%d): %s" % (name, r.returncode, r.stderr.strip()), file=sys.stderr)
        for i, stream in enumerate(s for s in rec.take() if s):
            with open(os.path.join(corpus, "seed-%s-%d" % (name, i)), "wb") as f:
                f.write(CONFIG + stream)
            written += 1
    # No Debian client speaks extended headers yet: one stream written from the specification.
    with open(os.path.join(corpus, "seed-extended-headers"), "wb") as f:
        f.write(CONFIG + extended_headers_stream())
    written += 1
    server.terminate()
    server.wait(10)
    shutil.rmtree(tmp)
    print("%d seeds in %s" % (written, corpus))


if __name__ == "__main__":
    main()
