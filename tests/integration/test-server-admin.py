#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What an administrator of a drop-in nbd-server relies on: connection limits and allow lists refused
in the handshake with a reason, the default config file next to command-line exports, the default
pid file, SIGHUP reloads, and the reference's export keys (multifile, temporary, cowdir,
prerun/postrun, transactionlog, virtstyle). Raw sockets (nbdraw) and nbdinfo; Unix sockets and
loopback TCP only."""
import os
import signal
import socket
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdtest import SERVER, Server, Tap, free_port, make_file, path, wait_for_log  # noqa: E402
from nbdraw import TcpConn  # noqa: E402
import nbdraw as P  # noqa: E402

tap = Tap(time_limit=110)
KiB, MiB = 1 << 10, 1 << 20
ERR_POLICY = P.ERR | 2
ERR_UNKNOWN = P.ERR | 6
NBDINFO = subprocess.run(["sh", "-c", "command -v nbdinfo"], capture_output=True).returncode == 0


def write(name, text):
    p = path(name)
    with open(p, "w") as f:
        f.write(text)
    return p


def go_reply(conn, name, opt=P.OPT_GO):
    """The final reply to GO/INFO: (type, message bytes)."""
    reps = conn.ask(opt, P.nstr(name) + struct.pack(">H", 0))
    return reps[-1][1], reps[-1][2]


def attach(sock, name):
    """A connection in transmission on export name (raises when refused)."""
    c = P.Conn(sock)
    c.handshake()
    c.go(name)
    return c


def refused(sock, name, opt=P.OPT_GO):
    c = P.Conn(sock)
    c.handshake()
    try:
        return go_reply(c, name, opt)
    finally:
        c.close()


def wait_tcp(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            if proc.poll() is not None:
                return False
            time.sleep(0.05)
    return False


def nbdinfo(uri):
    # libnbd 1.14 (Debian 12) reports every refused GO as "Operation not supported" and shows the
    # server's message only in its debug output.
    env = dict(os.environ, LIBNBD_DEBUG="1")
    return subprocess.run(["timeout", "20", "nbdinfo", uri], capture_output=True, text=True,
                          env=env)


disk = make_file("disk.img", 4 * MiB)

# ================================================================ A. connection limits
conf = write("limit.conf", "[generic]\n[lim]\nexportname = %s\nmaxconnections = 2\n"
             "[free]\nexportname = %s\n" % (disk, disk))
srv = Server("-C", conf)
held = [attach(srv.sock, "lim"), attach(srv.sock, "lim")]
rtype, msg = refused(srv.sock, "lim")
tap.eq(rtype, ERR_POLICY, "maxconnections 2: the third GO gets NBD_REP_ERR_POLICY")
tap.ok(b"export 'lim' has reached its connection limit of 2" in msg,
       "maxconnections: the refusal says the export reached its limit of 2", msg)
rtype, msg = refused(srv.sock, "lim", P.OPT_INFO)
tap.eq(rtype, ERR_POLICY, "maxconnections: INFO for the full export is refused the same way")
tap.ok(attach(srv.sock, "free").close() is None, "maxconnections: another export is unaffected")
if NBDINFO:
    r = nbdinfo(srv.uri("lim"))
    tap.ok(r.returncode != 0 and "server error message: export 'lim' has reached its "
           "connection limit of 2" in r.stderr,
           "maxconnections: nbdinfo fails, and libnbd gets the server's message",
           r.stderr[-1500:])
else:
    tap.skip("maxconnections: nbdinfo fails with the server's message", "no nbdinfo")
c = P.Conn(srv.sock)
c.handshake()
c.option(P.OPT_EXPORT_NAME, b"lim")
tap.ok(c.closed(), "maxconnections: EXPORT_NAME for the full export is closed without a reply")
c.close()
held.pop().close()
ok = False
for _ in range(100):  # the server sees the close asynchronously
    c = P.Conn(srv.sock)
    c.handshake()
    rtype, _ = go_reply(c, "lim")
    if rtype == P.REP_ACK:
        ok = True
        held.append(c)
        break
    c.close()
    time.sleep(0.05)
tap.ok(ok, "maxconnections: once a connection closes, a new one is admitted")
tap.eq(refused(srv.sock, "lim")[0], ERR_POLICY, "maxconnections: and the slot count is exact again")
tap.ok(wait_for_log(srv, "refused export 'lim': the export has reached its connection limit of 2"),
       "maxconnections: the refusal is logged with the peer", srv.log_text()[-2000:])
for h in held:
    h.close()
srv.stop()

srv = Server("-M", "1", "--export", "a=" + disk, "--export", "b=" + disk)
h = attach(srv.sock, "a")
rtype, msg = refused(srv.sock, "b")
tap.ok(rtype == ERR_POLICY and b"the server has reached its connection limit of 1" in msg,
       "-M 1: a second client gets ERR_POLICY naming the server's limit", (hex(rtype), msg))
h.close()
srv.stop()

# ================================================================ E. allow lists
port = free_port()
allow = write("allow", "# only this one\n10.9.8.7\n")
log = path("allow.log")
with open(log, "wb") as lf:
    proc = subprocess.Popen([SERVER, "--foreground", "127.0.0.1@%d" % port, disk, "-l", allow],
                            stdout=lf, stderr=lf)
if wait_tcp(port, proc):
    c = TcpConn(port)
    c.handshake()
    rtype, msg = go_reply(c, "")
    c.close()
    tap.eq(rtype, ERR_POLICY, "allow list: a client not in it gets NBD_REP_ERR_POLICY, not UNKNOWN")
    tap.ok(b"denied" in msg, "allow list: the message says access is denied", msg)
    time.sleep(0.2)
    text = open(log).read()
    tap.ok("127.0.0.1" in text and "not in the allow list %s" % allow in text,
           "allow list: the log names the peer's address and the allow list file", text)
else:
    tap.ok(False, "allow list: server started", open(log).read())
proc.send_signal(signal.SIGTERM)
proc.wait(10)

conf = write("auth.conf", "[generic]\n[locked]\nexportname = %s\nauthfile = %s\n" % (disk, allow))
port = free_port()
with open(log, "wb") as lf:
    proc = subprocess.Popen([SERVER, "--foreground", "-C", conf, "--bind", "127.0.0.1", "--port",
                             str(port)], stdout=lf, stderr=lf)
if wait_tcp(port, proc):
    c = TcpConn(port)
    c.handshake()
    rtype, msg = go_reply(c, "locked")
    c.close()
    tap.eq(rtype, ERR_POLICY, "authfile: a refused client gets NBD_REP_ERR_POLICY")
    time.sleep(0.2)
    text = open(log).read()
    tap.ok("refused export 'locked': not in the allow list %s" % allow in text,
           "authfile: the log names the rule", text)
else:
    tap.ok(False, "authfile: server started", open(log).read())
proc.send_signal(signal.SIGTERM)
proc.wait(10)

# ================================================================ B. default config and pid file
other = make_file("other.img", 1 * MiB)
defconf = write("default.conf", "[generic]\nallowlist = true\n[extra]\nexportname = %s\n" % other)
os.environ["NBD_SERVER_CONFIG"] = defconf
srv = Server("--export", "=" + disk)
c = attach(srv.sock, "")
tap.eq(c.size, 4 * MiB, "default config: the command-line export is served")
c.close()
c = attach(srv.sock, "extra")
tap.eq(c.size, 1 * MiB, "default config: its exports are served next to the command line's")
c.close()
srv.stop()
write("default.conf", "[generic]\nuser = no-such-user-nbdm\n")
r = subprocess.run([SERVER, "--foreground", "--unix", path("x.sock"), "--export", "=" + disk],
                   capture_output=True, text=True, timeout=20)
tap.ok(r.returncode != 0 and "no-such-user-nbdm" in r.stderr,
       "default config: its [generic] user applies to a command-line export", r.stderr)
os.environ["NBD_SERVER_CONFIG"] = path("no-default-config")

PIDFILE = "/var/run/nbd-server.pid"
if os.geteuid() != 0 or os.path.exists(PIDFILE):
    tap.skip("default pid file written by the daemon", "not root, or %s exists" % PIDFILE)
    tap.skip("default pid file removed at exit", "as above")
else:
    dsock = path("daemon.sock")
    r = subprocess.run([SERVER, "--unix", dsock, "--export", "d=" + disk], timeout=20)
    pid = None
    try:
        with open(PIDFILE) as f:
            pid = int(f.read())
        os.kill(pid, 0)
    except (OSError, ValueError):
        pid = None
    tap.ok(r.returncode == 0 and pid, "default pid file: a daemon without -p writes " + PIDFILE)
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            if not os.path.exists(PIDFILE):
                break
            time.sleep(0.05)
    tap.ok(not os.path.exists(PIDFILE), "default pid file: removed when the daemon exits")

# ================================================================ C. SIGHUP
a_img = make_file("a.img", 1 * MiB, [(0, b"A" * 512)])
b_img = make_file("b.img", 1 * MiB)
c_img = make_file("c.img", 2 * MiB)
rconf = write("reload.conf", "[generic]\n[a]\nexportname = %s\ndescription = first\n"
              "[b]\nexportname = %s\n" % (a_img, b_img))
srv = Server("-C", rconf)
old = attach(srv.sock, "a")
write("reload.conf", "[generic]\n[a]\nexportname = %s\ndescription = second\n"
      "[c]\nexportname = %s\n" % (a_img, c_img))
os.kill(srv.pid, signal.SIGHUP)
tap.ok(wait_for_log(srv, "Reload done: 1 export added, 1 changed, 1 removed, 2 served"),
       "SIGHUP: the log counts what changed", srv.log_text()[-2000:])
tap.ok("export 'b' removed" in srv.log_text() and "export 'c' added" in srv.log_text(),
       "SIGHUP: the log names the added and removed exports")
c = attach(srv.sock, "c")
tap.eq(c.size, 2 * MiB, "SIGHUP: a new export is served")
c.close()
rtype, msg = refused(srv.sock, "b")
tap.ok(rtype == ERR_UNKNOWN and b"no export named 'b'" in msg,
       "SIGHUP: a removed export refuses new clients with a clear error", (hex(rtype), msg))
c = P.Conn(srv.sock)
c.handshake()
info = c.go("a", infos=(P.INFO_DESCRIPTION,))
tap.eq(info.get(P.INFO_DESCRIPTION), b"second", "SIGHUP: a changed export applies to new clients")
c.close()
old.request(P.CMD_READ, 0, 512)
reply = old.simple_reply(512)
tap.eq(reply[-1] if isinstance(reply, tuple) else reply, b"A" * 512,
       "SIGHUP: a connection made before it carries on untouched")
old.close()
write("reload.conf", "[generic]\n[a]\nexportname = %s\nflsh = true\n" % a_img)
os.kill(srv.pid, signal.SIGHUP)
tap.ok(wait_for_log(srv, "Reload failed"), "SIGHUP: a config with errors is reported")
tap.ok("unknown key 'flsh'" in srv.log_text(), "SIGHUP: the log names the error")
c = attach(srv.sock, "c")
tap.ok(c.size == 2 * MiB, "SIGHUP: after a failed reload the old config stays in force")
c.close()
srv.stop()

# ================================================================ D. reference keys
parts = [make_file("multi.img.0", 64 * KiB, [(0, b"0" * 16)]),
         make_file("multi.img.1", 32 * KiB, [(0, b"1" * 16)])]
tlog = path("trans.log")
hooks = path("hooks.log")
cowdir = path("cowdir")
os.mkdir(cowdir)
vdir = path("virt")
os.mkdir(vdir)
make_file("virt/unix", 3 * 4096)
port = free_port()
dconf = write("keys.conf", "[generic]\nport = %d\nsplice = false\n"
              "[multi]\nexportname = %s\nmultifile = true\ntransactionlog = %s\n"
              "prerun = echo pre %%s >> %s\npostrun = echo post %%s >> %s\n"
              "[tmp]\nexportname = %s\ntemporary = true\nfilesize = 1M\n"
              "[cow]\nexportname = %s\ncopyonwrite = true\ncowdir = %s\nsparse_cow = true\n"
              "[fails]\nexportname = %s\nprerun = exit 3\n"
              "[virt]\nexportname = %s/%%s\n"
              "[hash]\nexportname = %s/%%s\nvirtstyle = iphash\n"
              % (port, path("multi.img"), tlog, hooks, hooks, path("tmp"), a_img, cowdir,
                 a_img, vdir, vdir))
srv = Server("-C", dconf)
tap.ok("key 'sparse_cow' in section [cow] has no effect" in srv.log_text() and
       "key 'splice' in section [generic] has no effect" in srv.log_text(),
       "tuning keys: accepted with a note in the log", srv.log_text())

c = attach(srv.sock, "multi")
tap.eq(c.size, 96 * KiB, "multifile: the export is the parts one after another")
c.request(P.CMD_READ, 64 * KiB - 8, 16)
tap.eq(c.simple_reply(16)[2], b"\0" * 8 + b"1" * 8, "multifile: a read across two parts")
c.request(P.CMD_WRITE, 64 * KiB - 4, 8, payload=b"XXXXYYYY")
tap.eq(c.simple_reply()[0], 0, "multifile: a write across two parts")
c.request(P.CMD_DISC)
c.close()
with open(parts[0], "rb") as f:
    f.seek(64 * KiB - 4)
    p0 = f.read()
with open(parts[1], "rb") as f:
    p1 = f.read(4)
tap.ok(p0 == b"XXXX" and p1 == b"YYYY", "multifile: the write landed in both files", (p0, p1))
# The DISC request is logged when the server reads it, which may be after close() returns here.
for _ in range(100):
    with open(tlog, "rb") as f:
        trans = f.read()
    if len(trans) >= 2 * (28 + 16) + 28:
        break
    time.sleep(0.05)
recs = []
pos = 0
while pos + 4 <= len(trans):
    magic = struct.unpack(">I", trans[pos:pos + 4])[0]
    n = 28 if magic == P.REQUEST_MAGIC else 16 if magic == P.SIMPLE_REPLY_MAGIC else 0
    if not n:
        break
    recs.append((magic, trans[pos:pos + n]))
    pos += n
tap.ok(pos == len(trans) and len(recs) == 5 and
       struct.unpack(">IIQQI", recs[0][1]) == (P.REQUEST_MAGIC, P.CMD_READ, 1, 64 * KiB - 8, 16)
       and struct.unpack(">IIQ", recs[1][1]) == (P.SIMPLE_REPLY_MAGIC, 0, 1),
       "transactionlog: request and reply records in the reference's format",
       [r[1].hex() for r in recs])


def file_has(p, text, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(p) as f:
                if text in f.read():
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


tap.ok(file_has(hooks, "pre " + path("multi.img")), "prerun: ran with %s as the export's file")
tap.ok(file_has(hooks, "post " + path("multi.img")), "postrun: ran when the connection ended")
rtype, msg = refused(srv.sock, "fails")
tap.ok(rtype == ERR_UNKNOWN and b"prerun command failed" in msg,
       "prerun: a failing command refuses the client at GO", (hex(rtype), msg))
tap.ok(wait_for_log(srv, "prerun command 'exit 3' exited with status 3"),
       "prerun: the log says how the command failed")

c = attach(srv.sock, "tmp")
tap.eq(c.size, 1 * MiB, "temporary: served with filesize")
c.request(P.CMD_WRITE, 0, 4, payload=b"temp")
tap.eq(c.simple_reply()[0], 0, "temporary: writable")
tap.eq([n for n in os.listdir(path("")) if n.startswith("tmp")], [],
       "temporary: its file is already removed from the directory")
c.close()

c = attach(srv.sock, "cow")
c.request(P.CMD_WRITE, 0, 4, payload=b"COW!")
tap.eq(c.simple_reply()[0], 0, "cowdir: a copy-on-write export takes writes")
c.request(P.CMD_READ, 0, 4)
tap.eq(c.simple_reply(4)[2], b"COW!", "cowdir: and reads them back")
with open(a_img, "rb") as f:
    tap.eq(f.read(4), b"AAAA", "cowdir: the base file is untouched")
tap.eq(os.listdir(cowdir), [], "cowdir: the overlay leaves no file behind")
c.close()

c = attach(srv.sock, "virt")
tap.eq(c.size, 3 * 4096, "virtstyle: %s is the client's address (\"unix\" over a Unix socket)")
c.close()
c = attach(srv.sock, "hash")
tap.eq(c.size, 3 * 4096, "virtstyle iphash: same file for a Unix socket client")
c.close()
srv.stop()

tap.finish()
