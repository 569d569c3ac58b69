#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The handshake timeout (--handshake-timeout, handshake_timeout in [generic]): a client that stalls
before transmission starts, in the options, right after STARTTLS, part-way into its TLS handshake or
in the options over TLS, is closed once the timeout has passed, with a log line that names the
phase and the client; the place it held among the connections past -M is given back; clients that
behave, on the same worker, are not disturbed, and a client idle in transmission is never timed out.
Raw sockets (nbdraw) and Python's ssl; loopback TCP only. Every wait is bounded."""
import os
import re
import ssl
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdtest import Server, Tap, free_port, log_says, path, tls_material  # noqa: E402
import nbdraw as P  # noqa: E402

CERTS = tls_material()
tap = Tap(time_limit=110)
TIMEOUT = 2
# Slack for a loaded machine (sanitizer builds): the close must come within this after the timeout.
LATE = 4
# The server's HANDSHAKE_SLACK: connections past -M allowed in their handshake at once.
HANDSHAKE_SLACK = 16


class TcpConn(P.TcpConn):
    def starttls(self):
        reps = self.ask(P.OPT_STARTTLS)
        assert reps[-1][1] == P.REP_ACK, "STARTTLS refused: 0x%x" % reps[-1][1]

    def tls(self):
        ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
        self.s = ctx.wrap_socket(self.s, server_hostname="localhost")


def serve(*args):
    port = free_port()
    srv = Server("--bind", "127.0.0.1", "--port", port, "--threads", "1", "--memory", "1M",
                 "--certfile", os.path.join(CERTS, "server.pem"),
                 "--keyfile", os.path.join(CERTS, "server-key.pem"), *args)
    return srv, port


def closed_after(conn, timeout):
    """Seconds until the server closes conn (reading and dropping what it sends), or None when it
    is still open after timeout seconds."""
    start = time.monotonic()
    return time.monotonic() - start if conn.closed(timeout) else None


def stall_case(srv, port, name, phase, prepare):
    """A client brought to a point by prepare(conn) that then sends nothing: still open a little
    before the timeout, closed soon after it, and the log names the phase and the client."""
    c = TcpConn(port)
    try:
        start = time.monotonic()
        prepare(c)
        early = closed_after(c, max(0.2, TIMEOUT - 0.8 - (time.monotonic() - start)))
        tap.ok(early is None, "%s: still open before the timeout" % name,
               "closed after %s s" % early)
        late = closed_after(c, TIMEOUT + LATE)
        tap.ok(late is not None, "%s: closed once the timeout has passed" % name)
        line = r"%s with 127\.0\.0\.1:%d did not finish within %d s; connection closed" % (
            re.escape(phase), c.port(), TIMEOUT)
        tap.ok(log_says(srv, line), "%s: the log names the phase and the client" % name,
               srv.log_text())
    finally:
        c.close()


srv, port = serve("--tls=on", "--handshake-timeout", TIMEOUT)
stall_case(srv, port, "silent", "NBD handshake", lambda c: None)
stall_case(srv, port, "after the greeting", "NBD handshake", lambda c: c.handshake())
stall_case(srv, port, "after STARTTLS", "TLS handshake",
           lambda c: (c.handshake(), c.starttls()))
# Half a TLS record header: the session waits for the rest of the ClientHello.
stall_case(srv, port, "in the TLS handshake", "TLS handshake",
           lambda c: (c.handshake(), c.starttls(), c.send(b"\x16\x03\x01")))
stall_case(srv, port, "options over TLS", "NBD handshake (over TLS)",
           lambda c: (c.handshake(), c.starttls(), c.tls()))
srv.stop()

# ---- -M and its slack: stalled clients hold places only until the timeout
srv, port = serve("--tls=on", "--handshake-timeout", TIMEOUT, "-M", "2")
good = TcpConn(port)
good.handshake()
good.go("")
stalled = []
for _ in range(2 + HANDSHAKE_SLACK - 1):
    c = TcpConn(port)
    c.greeting()
    stalled.append(c)
# Closed at once when refused; one let in would wait for the timeout, twice as long.
refused = TcpConn(port)
tap.ok(refused.closed(1), "slots: with -M 2, %d clients in their handshake fill the server" %
       (len(stalled) + 1))
refused.close()
tap.ok(log_says(srv, "Refused a connection: the server has its maximum"),
       "slots: ... and it says so", srv.log_text())


def read_block(c):
    c.request(P.CMD_READ, 4096, 4096)
    err, _, data = c.simple_reply(4096)
    return err == 0 and data == bytes(4096)


tap.case("slots: a client in transmission on the same worker is served meanwhile", read_block,
         good)
gone = sum(1 for c in stalled if c.closed(TIMEOUT + LATE))
tap.eq(gone, len(stalled), "slots: the stalled clients are closed after the timeout")
for c in stalled:
    c.close()


def newcomer():
    c = TcpConn(port)
    try:
        c.handshake()
        c.go("")
        return read_block(c)
    finally:
        c.close()


tap.case("slots: then a new client gets in and is served (the places were given back)",
         newcomer)
tap.case("slots: the client idle in transmission longer than the timeout is still served",
         read_block, good)
good.close()
srv.stop()

# ---- the config key, and 0 for no limit
conf = path("timeout.conf")
with open(conf, "w") as f:
    f.write("[generic]\nhandshake_timeout = 1\n")
srv, port = serve("-C", conf)
c = TcpConn(port)
tap.ok(c.closed(1 + LATE), "config: handshake_timeout = 1 closes a silent client")
c.close()
tap.ok(log_says(srv, r"NBD handshake with 127\.0\.0\.1:\d+ did not finish within 1 s"),
       "config: ... saying 1 s", srv.log_text())
srv.stop()
srv, port = serve("-C", conf, "--handshake-timeout", "0")
c = TcpConn(port)
tap.ok(not c.closed(2.5), "--handshake-timeout 0 (over the config's 1): no limit")
c.close()
srv.stop()
r = subprocess.run([os.environ["NBD_SERVER"], "--foreground", "--memory", "1M",
                    "--handshake-timeout", "soon"], capture_output=True, text=True, timeout=10)
tap.ok(r.returncode == 1 and "invalid handshake timeout 'soon'" in r.stderr,
       "--handshake-timeout takes a number of seconds", r.stderr)

# ---- the request timeout: silence in the middle of a request, never between requests
srv, port = serve("--request-timeout", TIMEOUT)


def in_transmission():
    c = TcpConn(port)
    c.handshake()
    c.go("")
    return c


def stalled_request(name, what, send):
    c = in_transmission()
    try:
        start = time.monotonic()
        send(c)
        early = closed_after(c, max(0.2, TIMEOUT - 0.8 - (time.monotonic() - start)))
        tap.ok(early is None, "request timeout, %s: still open before the timeout" % name,
               "closed after %s s" % early)
        tap.ok(closed_after(c, TIMEOUT + LATE) is not None,
               "request timeout, %s: closed once the timeout has passed" % name)
        line = r"Connection 127\.0\.0\.1:%d: a request begun \(its %s\) was not received whole: " \
               r"nothing came for %d s; connection closed" % (c.port(), what, TIMEOUT)
        tap.ok(log_says(srv, line), "request timeout, %s: the log says so" % name, srv.log_text())
    finally:
        c.close()


bystander = in_transmission()
stalled_request("half a header", "header", lambda c: c.send(b"\x25\x60\x95\x13\x00\x00"))
stalled_request("a WRITE's payload cut short", "payload",
                lambda c: (c.request(P.CMD_WRITE, 0, 65536, payload=b"x" * 1000)))
tap.case("request timeout: a client on the same worker was served meanwhile", read_block,
         bystander)


def dribble():
    """A WRITE whose payload comes a piece a second, each within the timeout, then whole."""
    c = in_transmission()
    try:
        c.request(P.CMD_WRITE, 0, 512, payload=b"y" * 128)
        for _ in range(3):
            time.sleep(TIMEOUT * 0.6)
            c.send(b"y" * 128)
        err, _, _ = c.simple_reply()
        return err == 0
    finally:
        c.close()


tap.case("request timeout: a payload that keeps coming is waited for", dribble)
time.sleep(TIMEOUT + 1)
tap.case("request timeout: a client idle between requests longer than it is still served",
         read_block, bystander)
bystander.close()
srv.stop()
conf = path("request.conf")
with open(conf, "w") as f:
    f.write("[generic]\nrequest_timeout = 1\n")
srv, port = serve("-C", conf)
c = in_transmission()
c.send(b"\x25\x60")
tap.ok(c.closed(1 + LATE), "config: request_timeout = 1 closes a client stalled mid-header")
c.close()
srv.stop()

tap.finish()
