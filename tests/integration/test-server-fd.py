#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The server on connected sockets it is started with (--fd N, repeatable): with the normal
handshake, against libnbd's nbd_connect_socket; and with --negotiated, straight in transmission
with simple replies, the way a client that did its handshake elsewhere (the kernel after
NBD_SET_SOCK) talks to it. The server exits when the last socket closes; wrong descriptors and
contradictory options are refused with a message that names them."""
import os
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdtest  # noqa: E402

nbd = nbdtest.import_nbd()
tap = nbdtest.Tap()
SIZE = 4 << 20
REQUEST_MAGIC, SIMPLE_REPLY_MAGIC = 0x25609513, 0x67446698
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM = 0, 1, 2, 3, 4
FLAG_HAS_FLAGS, FLAG_READ_ONLY, FLAG_SEND_FLUSH = 1, 2, 4


def start(fds, *args):
    """Our server on the given sockets (their server ends, closed here once passed)."""
    log = open(nbdtest.path("fd-server-%d.log" % fds[0].fileno()), "wb+")
    cmd = [nbdtest.SERVER]
    for s in fds:
        cmd += ["--fd", str(s.fileno())]
    cmd += [str(a) for a in args]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            pass_fds=[s.fileno() for s in fds])
    for s in fds:
        s.close()
    return proc, log


def log_of(log):
    log.seek(0)
    return log.read().decode(errors="replace")


def exited(proc, timeout=10):
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "still running after %d s" % timeout


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError("the server closed the connection")
        data += chunk
    return data


def request(s, cmd, cookie, offset, length, payload=b""):
    s.sendall(struct.pack(">IHHQQI", REQUEST_MAGIC, 0, cmd, cookie, offset, length) + payload)
    if cmd == CMD_DISC:
        return None
    magic, error, got_cookie = struct.unpack(">IIQ", recv_exact(s, 16))
    assert magic == SIMPLE_REPLY_MAGIC and got_cookie == cookie, (magic, got_cookie)
    data = recv_exact(s, length) if cmd == CMD_READ and error == 0 else b""
    return error, data


image = nbdtest.make_file("disk.img", SIZE, [(4096, b"first block of data")])
os.chmod(image, 0o666)  # the server, started as root, serves as nobody

# ---- the normal handshake, two sockets, libnbd on each
ours1, theirs1 = socket.socketpair()
ours2, theirs2 = socket.socketpair()
proc, log = start([theirs1, theirs2], "--export", "disk=" + image)
handles = []
for i, s in enumerate((ours1, ours2), 1):
    h = nbd.NBD()
    h.set_export_name("disk")
    tap.case("handshake: nbd_connect_socket on socket %d" % i, h.connect_socket, s.detach())
    handles.append(h)
h1, h2 = handles
tap.eq(h1.get_size(), SIZE, "handshake: the export's size")
tap.eq(bytes(h1.pread(19, 4096)), b"first block of data", "handshake: READ")
h1.pwrite(b"written through socket 1", 65536)
h1.flush()
tap.eq(bytes(h2.pread(24, 65536)), b"written through socket 1",
       "handshake: a WRITE on one socket is read on the other")
h1.shutdown()
tap.ok(proc.poll() is None, "handshake: the server serves on while one socket is open")
h2.shutdown()
tap.eq(exited(proc), 0, "handshake: the server exits with status 0 when the last socket closes")
with open(image, "rb") as f:
    f.seek(65536)
    tap.eq(f.read(24), b"written through socket 1", "handshake: the file holds the WRITE")

# ---- a TCP connection given as --fd: the log names the peer
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
client = socket.create_connection(listener.getsockname())
accepted, _ = listener.accept()
listener.close()
proc, log = start([accepted], "-v", "--export", "disk=" + image)
h = nbd.NBD()
h.set_export_name("disk")
h.connect_socket(client.detach())
tap.eq(h.get_size(), SIZE, "tcp: nbd_connect_socket over a TCP connection given as --fd")
h.shutdown()
tap.eq(exited(proc), 0, "tcp: the server exits when it closes")
tap.ok("127.0.0.1" in log_of(log), "tcp: the log names the client's address",
       log_of(log)[-400:])

# ---- --negotiated: no handshake at all
ours, theirs = socket.socketpair()
proc, log = start([theirs], "-v", "--negotiated", "--export", "disk=" + image)
ours.settimeout(10)
tap.eq(request(ours, CMD_READ, 1, 4096, 19), (0, b"first block of data"),
       "negotiated: the first bytes are a READ, answered with a simple reply")
tap.eq(request(ours, CMD_WRITE, 2, 8192, 5, b"hello"), (0, b""), "negotiated: WRITE")
tap.eq(request(ours, CMD_FLUSH, 3, 0, 0), (0, b""), "negotiated: FLUSH")
tap.eq(request(ours, CMD_READ, 4, 8192, 5), (0, b"hello"), "negotiated: READ of the WRITE")
error, _ = request(ours, CMD_READ, 5, SIZE - 512, 1024)
tap.ok(error != 0, "negotiated: a READ past the end gets an error (%d), the connection goes on"
       % error)
tap.eq(request(ours, CMD_TRIM, 6, 0, 4096), (0, b""), "negotiated: TRIM")
request(ours, CMD_DISC, 7, 0, 0)
tap.eq(exited(proc), 0, "negotiated: DISC ends the connection and the server")
ours.close()
tap.ok("serving export 'disk'" in log_of(log), "negotiated: the log says which export it serves",
       log_of(log)[-400:])

# --negotiated=NAME among several exports, read-only.
ours, theirs = socket.socketpair()
other = nbdtest.make_file("other.img", 1 << 20, [(0, b"other export")])
os.chmod(other, 0o666)
proc, log = start([theirs], "--negotiated=other", "-r", "--export", "disk=" + image,
                  "--export", "other=" + other)
ours.settimeout(10)
tap.eq(request(ours, CMD_READ, 1, 0, 12), (0, b"other export"), "negotiated=NAME: the named export")
error, _ = request(ours, CMD_WRITE, 2, 0, 4, b"nope")
tap.eq(error, 1, "negotiated=NAME: a WRITE to the read-only export gets EPERM")
ours.close()
tap.eq(exited(proc), 0, "negotiated=NAME: the client closing ends the server")

# ---- --accept-fds: sockets handed over later, on a Unix socket
control, control_theirs = socket.socketpair()
log = open(nbdtest.path("accept-fds.log"), "wb+")
proc = subprocess.Popen([nbdtest.SERVER, "--accept-fds", str(control_theirs.fileno()), "--export",
                         "disk=" + image], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                        pass_fds=[control_theirs.fileno()])
control_theirs.close()
handles = []
for i in (1, 2, 3):
    ours, theirs = socket.socketpair()
    socket.send_fds(control, [b"F"], [theirs.fileno()])
    theirs.close()
    h = nbd.NBD()
    h.set_export_name("disk")
    tap.case("accept-fds: nbd_connect_socket on handed-over socket %d" % i, h.connect_socket,
             ours.detach())
    handles.append(h)
handles[0].pwrite(b"over a handed-over socket", 131072)
handles[0].flush()
tap.eq(bytes(handles[2].pread(25, 131072)), b"over a handed-over socket",
       "accept-fds: the connections share one export")
handles.pop().shutdown()
handles.pop().shutdown()
tap.ok(proc.poll() is None, "accept-fds: no connection but one, the socket open: it serves on")
control.close()
time.sleep(0.3)
tap.ok(proc.poll() is None, "accept-fds: the socket closed, one connection open: it serves on")
tap.eq(bytes(handles[0].pread(25, 131072)), b"over a handed-over socket",
       "accept-fds: the last connection still works")
handles.pop().shutdown()
tap.eq(exited(proc), 0, "accept-fds: the last connection closed: the server exits with status 0")

control, control_theirs = socket.socketpair()
proc = subprocess.Popen([nbdtest.SERVER, "--accept-fds", str(control_theirs.fileno()), "--export",
                         "disk=" + image], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                        pass_fds=[control_theirs.fileno()])
control_theirs.close()
control.close()
tap.eq(exited(proc), 0, "accept-fds: the socket closed before any connection: the server exits")

# ---- refusals


def refused(desc, pattern, args, fds=()):
    proc = subprocess.run([nbdtest.SERVER] + args, capture_output=True, text=True, timeout=20,
                          pass_fds=[f.fileno() for f in fds])
    tap.ok(proc.returncode != 0 and pattern in proc.stderr,
           "%s: refused with '%s'" % (desc, pattern),
           "exit status %d, stderr: %s" % (proc.returncode, proc.stderr[-400:]))


refused("--fd of a descriptor that is not open", "no open file descriptor 97",
        ["--fd", "97", "--export", "disk=" + image])
with open(image, "rb") as f:
    refused("--fd of a regular file", "is not a socket", ["--fd", str(f.fileno()), "--export",
                                                          "disk=" + image], [f])
a, b = socket.socketpair()
refused("--fd with --port", "cannot be combined with --port",
        ["--fd", str(b.fileno()), "--port", "10999", "--export", "disk=" + image], [b])
refused("--fd given twice", "given twice",
        ["--fd", str(b.fileno()), "--fd", str(b.fileno()), "--export", "disk=" + image], [b])
refused("--negotiated without --fd", "--negotiated applies to the sockets given with --fd",
        ["--negotiated", "--export", "disk=" + image])
refused("--negotiated naming no export", "names export 'nope', which is not defined",
        ["--fd", str(b.fileno()), "--negotiated=nope", "--export", "disk=" + image], [b])
refused("--negotiated without a name among two exports", "give --negotiated=NAME",
        ["--fd", str(b.fileno()), "--negotiated", "--export", "disk=" + image,
         "--export", "other=" + other], [b])
a.close()
b.close()
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
refused("--fd of a listening socket", "not a connected socket",
        ["--foreground", "--fd", str(listener.fileno()), "--export", "disk=" + image], [listener])
refused("--accept-fds of a TCP socket", "is not a Unix socket",
        ["--accept-fds", str(listener.fileno()), "--export", "disk=" + image], [listener])
listener.close()

tap.finish()
