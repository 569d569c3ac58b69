#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Access control fails closed in every path: an export whose allow list leaves the client out and
a tlsonly export reached without TLS are refused whichever option asks for them (LIST, INFO, GO,
the metadata context options, EXPORT_NAME), never start transmission, and give nothing away (no
size, no flags, no description); over TLS the tlsonly export is served. Raw sockets (nbdraw) and
Python's ssl over loopback TCP."""
import os
import ssl
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdtest import Server, Tap, free_port, make_file, path, tls_material  # noqa: E402
import nbdraw as P  # noqa: E402

CERTS = tls_material()
tap = Tap(time_limit=100)
REP_ERR_TLS_REQD = P.REP_ERR_TLS_REQD


class TcpConn(P.TcpConn):
    def tls(self):
        reps = self.ask(P.OPT_STARTTLS)
        assert reps[-1][1] == P.REP_ACK, "STARTTLS refused: 0x%x" % reps[-1][1]
        ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
        self.s = ctx.wrap_socket(self.s, server_hostname="localhost")


disk = make_file("disk.img", 1 << 20)
allow = path("allow")
with open(allow, "w") as f:
    f.write("10.9.8.7\n")
conf = path("fail-closed.conf")
with open(conf, "w") as f:
    f.write("[generic]\nallowlist = true\ncertfile = %s\nkeyfile = %s\n"
            "[open]\nexportname = %s\n"
            "[locked]\nexportname = %s\nauthfile = %s\ndescription = locked away\n"
            "[secret]\nexportname = %s\ntlsonly = true\ndescription = secret stuff\n" % (
                os.path.join(CERTS, "server.pem"), os.path.join(CERTS, "server-key.pem"),
                disk, disk, allow, disk))
port = free_port()
srv = Server("-C", conf, "--bind", "127.0.0.1", "--port", port)


def conn(tls=False):
    c = TcpConn(port)
    c.handshake()
    if tls:
        c.tls()
    return c


def listed(tls=False):
    c = conn(tls)
    names = []
    for _, rtype, data in c.ask(P.OPT_LIST):
        if rtype == P.REP_SERVER:
            n = struct.unpack(">I", data[:4])[0]
            names.append(data[4:4 + n].decode())
    c.close()
    return names


def refused(option, name, want, tls=False):
    """The option for export name gets the error reply want, and nothing about the export."""
    c = conn(tls)
    try:
        if option in (P.OPT_INFO, P.OPT_GO):
            data = P.nstr(name) + struct.pack(">HHH", 2, P.INFO_DESCRIPTION, P.INFO_BLOCK_SIZE)
        else:
            ctx = b"base:allocation"
            data = P.nstr(name) + struct.pack(">II", 1, len(ctx)) + ctx
        reps = c.ask(option, data)
        infos = [r for r in reps if r[1] in (P.REP_INFO, P.REP_META_CONTEXT)]
        if infos or reps[-1][1] != want:
            return "replies %r" % [(hex(t), d[:40]) for _, t, d in reps]
        # Still in the options phase: the server did not start transmission.
        if c.ask(P.OPT_LIST)[-1][1] != P.REP_ACK:
            return "not in the options phase any more"
        return True
    finally:
        c.close()


def export_name_closed(name):
    """EXPORT_NAME, which has no error reply: the server must close without the export's data."""
    c = conn()
    try:
        c.option(P.OPT_EXPORT_NAME, name.encode())
        got = b""
        c.s.settimeout(5)
        try:
            while True:
                part = c.s.recv(4096)
                if not part:
                    break
                got += part
        except ConnectionResetError:
            pass
        return True if not got else "sent %r" % got[:40]
    finally:
        c.close()


tap.ok("open" in listed(), "LIST without TLS shows the open export")
tap.ok("secret" not in listed(), "LIST without TLS hides the tlsonly export")
tap.ok("locked" not in listed(), "LIST hides the export this client is not allowed")
tap.ok("secret" in listed(tls=True), "LIST over TLS shows the tlsonly export")
for option, label in ((P.OPT_INFO, "INFO"), (P.OPT_GO, "GO"),
                      (P.OPT_LIST_META_CONTEXT, "LIST_META_CONTEXT"),
                      (P.OPT_SET_META_CONTEXT, "SET_META_CONTEXT")):
    tap.case("%s of the locked export: ERR_POLICY, nothing else" % label, refused, option,
             "locked", P.REP_ERR_POLICY)
    tap.case("%s of the tlsonly export without TLS: ERR_TLS_REQD, nothing else" % label, refused,
             option, "secret", REP_ERR_TLS_REQD)
    tap.case("%s of the locked export over TLS: still ERR_POLICY" % label, refused, option,
             "locked", P.REP_ERR_POLICY, True)
tap.case("EXPORT_NAME of the locked export: closed, no export data", export_name_closed, "locked")
tap.case("EXPORT_NAME of the tlsonly export without TLS: closed, no export data",
         export_name_closed, "secret")


def served_over_tls():
    c = conn(tls=True)
    c.go("secret")
    ok = c.size == 1 << 20
    c.close()
    return ok


tap.case("GO of the tlsonly export over TLS is served", served_over_tls)
log = srv.log_text()
tap.ok("not in the allow list" in log, "the log names the allow-list refusals", log[-2000:])
srv.stop()
tap.finish()
