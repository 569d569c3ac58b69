#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""nbd-client against servers that misbehave in the handshake, each written here from the protocol
specification: closing or stalling at each step, replies that do not fit the option asked, a
LIST without end (fast, and one export at a time), oversized replies and block sizes that
contradict each other. nbd-client info and list must refuse with a message that names the
server's fault, within the timeout given with --negotiate-timeout/--connect-timeout (or the URI's
x-negotiate-timeout=), never hang, and never crash (sanitizer builds report on stderr)."""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdtest  # noqa: E402

CLIENT = os.environ.get("NBD_CLIENT")
NBDMAGIC, IHAVEOPT, OPT_REPLY_MAGIC = 0x4E42444D41474943, 0x49484156454F5054, 0x0003E889045565A9
OPT_LIST, OPT_INFO, OPT_GO = 3, 6, 7
REP_ACK, REP_SERVER, REP_INFO, REP_ERR_UNSUP = 1, 2, 3, (1 << 31) | 1
INFO_EXPORT, INFO_DESCRIPTION, INFO_BLOCK_SIZE = 0, 2, 3
FOREVER = 60  # a stall outlasts every timeout the cases give


def recv_exact(c, n):
    data = b""
    while len(data) < n:
        chunk = c.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def greet(c):
    c.sendall(struct.pack(">QQH", NBDMAGIC, IHAVEOPT, 3))  # FIXED_NEWSTYLE | NO_ZEROES
    recv_exact(c, 4)  # the client's flags


def read_option(c):
    _, option, length = struct.unpack(">QII", recv_exact(c, 16))
    recv_exact(c, length)
    return option


def reply(c, option, rtype, data=b""):
    c.sendall(struct.pack(">QIII", OPT_REPLY_MAGIC, option, rtype, len(data)) + data)


def export_info(size, flags=1):
    return struct.pack(">HQH", INFO_EXPORT, size, flags)


def options(c, on_go, on_list=None):
    """Refuses every option but INFO/GO (on_go) and LIST (on_list) until the client leaves."""
    while True:
        option = read_option(c)
        if option in (OPT_INFO, OPT_GO):
            on_go(c, option)
        elif option == OPT_LIST and on_list:
            on_list(c, option)
        else:
            reply(c, option, REP_ERR_UNSUP)


def go_with(*infos):
    def on_go(c, option):
        for info in infos:
            reply(c, option, REP_INFO, info)
        reply(c, option, REP_ACK)
    return on_go


def endless_list(c, option):
    while True:
        reply(c, option, REP_SERVER, struct.pack(">I", 4) + b"disk")


def dripping_list(c, option):
    while True:
        reply(c, option, REP_SERVER, struct.pack(">I", 4) + b"disk")
        time.sleep(0.3)


# name: (what the server does, the command, a part of the message expected, the longest it may take)
CASES = {
    "closes before its greeting": (lambda c: None, "info", "closed the connection before its greeting", 5),
    "is not an NBD server": (lambda c: c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n"), "info",
                             "not an NBD server", 5),
    "says nothing after accepting": (lambda c: time.sleep(FOREVER), "info",
                                     "sent no greeting within 2 s", 5),
    "closes after the client's flags": (lambda c: greet(c), "info",
                                        "closed the connection during NBD_OPT_", 5),
    "stalls after the client's flags": (lambda c: (greet(c), time.sleep(FOREVER)), "info",
                                        "did not finish answering NBD_OPT_", 5),
    "stalls in NBD_OPT_GO": (lambda c: (greet(c), options(c, lambda c, o: time.sleep(FOREVER))),
                             "info", "did not finish answering NBD_OPT_INFO within 2 s", 5),
    "closes in NBD_OPT_GO": (lambda c: (greet(c), options(c, lambda c, o: c.close())), "info",
                             "closed the connection during NBD_OPT_INFO", 5),
    "answers another option": (lambda c: (greet(c), options(c, lambda c, o: reply(c, OPT_LIST, REP_ACK))),
                               "info", "answer to another option", 5),
    "sends a 100 KB description": (lambda c: (greet(c), options(c, go_with(
        struct.pack(">H", INFO_DESCRIPTION) + b"d" * 100000, export_info(1 << 20)))),
        "info", "more than the 65536 bytes any valid reply needs", 5),
    "gives a minimum block size above the preferred": (lambda c: (greet(c), options(c, go_with(
        export_info(1 << 20), struct.pack(">HIII", INFO_BLOCK_SIZE, 4096, 512, 65536)))),
        "info", "impossible block sizes (minimum 4096, preferred 512", 5),
    "gives a minimum block size that is not a power of two": (lambda c: (greet(c), options(c, go_with(
        export_info(1 << 20), struct.pack(">HIII", INFO_BLOCK_SIZE, 3000, 4096, 65536)))),
        "info", "impossible block sizes (minimum 3000", 5),
    "lists exports without end": (lambda c: (greet(c), options(c, None, endless_list)), "list",
                                  "listed more than 65536 exports", 30),
    "lists one export at a time, forever": (lambda c: (greet(c), options(c, None, dripping_list)),
                                            "list", "did not finish answering NBD_OPT_LIST within 2 s", 5),
}


class HostileServer:
    def __init__(self, behave):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.behave = behave
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            self.behave(conn)
        except (OSError, EOFError):
            pass
        finally:
            conn.close()

    def close(self):
        self.listener.close()


def run_client(args, limit):
    start = time.monotonic()
    try:
        p = subprocess.run([CLIENT] + args, capture_output=True, text=True, timeout=limit + 30)
    except subprocess.TimeoutExpired:
        return None, "", time.monotonic() - start
    return p.returncode, p.stderr, time.monotonic() - start


def check(t, name, rc, err, took, expect, limit):
    diag = "exit status %r after %.1f s, stderr:\n%s" % (rc, took, err)
    t.ok(rc is not None and rc != 0, "%s: nbd-client refuses" % name, diag)
    t.ok(took <= limit, "%s: within %d s (took %.1f s)" % (name, limit, took), diag)
    t.ok(expect in err, "%s: the message says '%s'" % (name, expect), diag)
    t.ok("Sanitizer" not in err and "runtime error" not in err, "%s: no sanitizer report" % name, diag)


def main():
    t = nbdtest.Tap(time_limit=110)
    if not CLIENT or not os.access(CLIENT, os.X_OK):
        nbdtest.skip_all("NBD_CLIENT must name the nbd-client binary under test")
    for name, (behave, command, expect, limit) in CASES.items():
        server = HostileServer(behave)
        target = "127.0.0.1:%d" % server.port if command == "list" else \
            "nbd://127.0.0.1:%d/disk" % server.port
        rc, err, took = run_client([command, target, "--negotiate-timeout", "2"], limit)
        server.close()
        check(t, "a server that " + name, rc, err, took, expect, limit)

    # The URI's own parameter, and the option winning over it.
    server = HostileServer(lambda c: time.sleep(FOREVER))
    rc, err, took = run_client(["info", "nbd://127.0.0.1:%d/disk?x-negotiate-timeout=1" % server.port], 4)
    check(t, "x-negotiate-timeout=1 in the URI", rc, err, took, "sent no greeting within 1 s", 4)
    rc, err, took = run_client(["info", "nbd://127.0.0.1:%d/disk?x-negotiate-timeout=30" % server.port,
                                "--negotiate-timeout", "1"], 4)
    check(t, "--negotiate-timeout over the URI's", rc, err, took, "sent no greeting within 1 s", 4)
    server.close()

    # A listener whose accept queue is full: the SYN goes unanswered, as from a host that is down.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    time.sleep(0.2)
    rc, err, took = run_client(["info", "nbd://127.0.0.1:%d/disk" % port, "--connect-timeout", "2"], 5)
    check(t, "a server that never accepts (--connect-timeout 2)", rc, err, took,
          "--connect-timeout sets how long", 5)
    for s in fillers:
        s.close()
    listener.close()
    t.finish()


if __name__ == "__main__":
    main()
