#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The server's TLS test hooks, which send a record other than data in the middle of transmission
(what a client that moved its side into the kernel's TLS cannot take): NBDM_TLS_TEST_KEY_UPDATE_AFTER=N
sends a TLS 1.3 KeyUpdate and NBDM_TLS_TEST_TICKET_AFTER=N a late NewSessionTicket, once per
connection, after the N-th reply. Python's ssl module (OpenSSL) takes both in its stride, so the
reads around them must return the right data, and the server's log must say that the hook fired.
The server keeps its TLS in user space (--tls-ktls=no), where the hooks act. Loopback TCP only."""
import os
import ssl
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdtest import Server, Tap, free_port, path, tls_material  # noqa: E402
import nbdraw as P  # noqa: E402

CERTS = tls_material()
tap = Tap(time_limit=100)
DISK_SIZE = 1 << 20
DATA = os.urandom(DISK_SIZE)
DISK = path("disk.img")
with open(DISK, "wb") as f:
    f.write(DATA)
BLOCK = 4096


class TlsConn(P.TcpConn):
    """nbdraw's client over TCP, which moves onto TLS after STARTTLS."""

    def starttls(self, max_version=None):
        reps = self.ask(P.OPT_STARTTLS)
        assert reps[-1][1] == P.REP_ACK, "STARTTLS refused: 0x%x" % reps[-1][1]
        ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
        if max_version:
            ctx.maximum_version = max_version
        self.s = ctx.wrap_socket(self.s, server_hostname="localhost")
        return self.s.version()


def serve(env, *args):
    """Our server on loopback TCP with TLS required, the session kept in user space, and the
    environment variables in env for it alone."""
    port = free_port()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        srv = Server("--bind", "127.0.0.1", "--port", port, "-v", "--export", "disk=" + DISK,
                     "--tls=require", "--certfile", os.path.join(CERTS, "server.pem"),
                     "--keyfile", os.path.join(CERTS, "server-key.pem"), "--tls-ktls=no", *args)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return srv, port


def reads(port, count, write_at=None, max_version=None):
    """Connects with TLS, does `count` READs of distinct blocks (and a WRITE then a READ of it,
    when write_at is given), and checks every byte. Returns the TLS version."""
    c = TlsConn(port)
    try:
        c.handshake()
        version = c.starttls(max_version)
        c.go("disk")
        for i in range(count):
            off = (i * 7 % (DISK_SIZE // BLOCK)) * BLOCK
            c.request(P.CMD_READ, off, BLOCK)
            err, _, data = c.simple_reply(BLOCK)
            assert err == 0, "READ %d failed with %d" % (i, err)
            assert data == DATA[off:off + BLOCK], "READ %d at %d returned other bytes" % (i, off)
        if write_at is not None:
            pattern = bytes([0x5A]) * BLOCK
            c.request(P.CMD_WRITE, write_at, BLOCK, payload=pattern)
            assert c.simple_reply()[0] == 0, "WRITE failed"
            c.request(P.CMD_READ, write_at, BLOCK)
            err, _, data = c.simple_reply(BLOCK)
            assert err == 0 and data == pattern, "the written block did not read back"
        c.request(P.CMD_DISC)
        return version
    finally:
        c.close()


def fired(srv, what):
    return srv.log_text().count("test hook fired: sent a TLS 1.3 " + what)


N = 3

# ---- KeyUpdate after the third reply
srv, port = serve({"NBDM_TLS_TEST_KEY_UPDATE_AFTER": str(N)})
tap.ok("NBDM_TLS_TEST_KEY_UPDATE_AFTER=3 is set" in srv.log_text(),
       "key update: the server says the test hook is set", srv.log_text())
tap.case("key update: %d READs over TLS 1.3 read the right bytes across it" % (N + 3),
         lambda: reads(port, N + 3) == "TLSv1.3")
tap.eq(fired(srv, "KeyUpdate"), 1, "key update: the server logged that the hook fired")
tap.case("key update: a WRITE after it, read back", reads, port, N + 1, 8 * BLOCK)
tap.eq(fired(srv, "KeyUpdate"), 2, "key update: once per connection (two connections, two)")
tap.case("key update: a connection that stops before the N-th reply", reads, port, N - 1)
tap.eq(fired(srv, "KeyUpdate"), 2, "key update: ... gets none")
# TLS 1.2 has no KeyUpdate: the hook says so and the connection goes on.
tap.case("key update: over TLS 1.2 the reads go on",
         lambda: reads(port, N + 3, max_version=ssl.TLSVersion.TLSv1_2) == "TLSv1.2")
tap.ok("sending a 1.3 KeyUpdate failed" in srv.log_text(),
       "key update: ... and the server says the hook could not act", srv.log_text())
srv.stop()

# ---- a late NewSessionTicket after the third reply
srv, port = serve({"NBDM_TLS_TEST_TICKET_AFTER": str(N)})
tap.case("ticket: %d READs over TLS 1.3 read the right bytes across it" % (N + 3),
         lambda: reads(port, N + 3) == "TLSv1.3")
tap.eq(fired(srv, "NewSessionTicket"), 1, "ticket: the server logged that the hook fired")
srv.stop()

# ---- both, and no hook at all
srv, port = serve({"NBDM_TLS_TEST_KEY_UPDATE_AFTER": "2", "NBDM_TLS_TEST_TICKET_AFTER": "4"})
tap.case("both: reads right across a KeyUpdate and a ticket", reads, port, 8)
tap.ok(fired(srv, "KeyUpdate") == 1 and fired(srv, "NewSessionTicket") == 1,
       "both: each hook fired once", srv.log_text())
srv.stop()
srv, port = serve({})
tap.case("no hook: reads right", reads, port, N + 3)
tap.ok("test hook" not in srv.log_text().lower(), "no hook: nothing fired", srv.log_text())
srv.stop()
srv, port = serve({"NBDM_TLS_TEST_KEY_UPDATE_AFTER": "three"})
tap.ok("Ignoring NBDM_TLS_TEST_KEY_UPDATE_AFTER='three'" in srv.log_text(),
       "a value that is not a number is ignored, with a warning", srv.log_text())
srv.stop()

tap.finish()
