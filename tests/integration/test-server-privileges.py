#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The server's privileges (user = / group = in [generic]; root only): it listens and loads its TLS
key as root, then runs as the user and group given, every thread of it, with no supplementary
groups, and opens its exports as that user: a file only root may read is refused at start-up
(naming the file), at a SIGHUP reload (the server keeps serving what it had) and for a per-client
export (that client is refused, others are served). Unix socket and raw sockets (nbdraw)."""
import os
import pwd
import signal
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdtest import SERVER, Server, Tap, make_file, path, scratch, skip_all, wait_for_log  # noqa: E402
import nbdraw as P  # noqa: E402

if os.geteuid() != 0:
    skip_all("dropping privileges needs root")
try:
    nobody = pwd.getpwnam("nobody")
except KeyError:
    skip_all("no user 'nobody'")
tap = Tap(time_limit=100)
# The scratch directory is root's (0700): the unprivileged server must be able to walk into it.
os.chmod(scratch(), 0o755)
MiB = 1 << 20


def write(name, text):
    p = path(name)
    with open(p, "w") as f:
        f.write(text)
    return p


def ids(pid):
    """Real, effective, saved and filesystem uids and gids, and the supplementary groups, of every
    thread of pid."""
    out = set()
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        out.add((fields["Uid"].split()[0:4] and tuple(fields["Uid"].split()),
                 tuple(fields["Gid"].split()), fields["Groups"].strip()))
    return out


def go(sock, name):
    c = P.Conn(sock)
    c.handshake()
    try:
        c.go(name)
        return True
    except AssertionError:
        return False
    finally:
        c.close()


ok_img = make_file("ok.img", 1 * MiB)
os.chown(ok_img, nobody.pw_uid, nobody.pw_gid)  # written through the export: nobody's
secret = make_file("secret.img", 1 * MiB)
os.chmod(secret, 0o600)  # root's alone
user = "user = nobody\ngroup = %s\n" % "nogroup"
conf = write("priv.conf", "[generic]\n%s[ok]\nexportname = %s\n" % (user, ok_img))
srv = Server("-C", conf)
want_uid = str(nobody.pw_uid)
seen = ids(srv.pid)
tap.ok(all(set(u) == {want_uid} for u, _, _ in seen),
       "every thread runs as nobody (real, effective, saved, filesystem uid)", seen)
tap.ok(all(len(set(g)) == 1 and g[0] != "0" for _, g, _ in seen),
       "every thread runs in one unprivileged group", seen)
tap.ok(all(groups in ("", g[0]) for _, g, groups in seen), "no supplementary groups left", seen)
tap.ok(go(srv.sock, "ok"), "a file nobody may read and write is served")

# A reload that adds a root-only file: refused, the rest served on.
write("priv.conf", "[generic]\n%s[ok]\nexportname = %s\n[secret]\nexportname = %s\n" % (
    user, ok_img, secret))
os.kill(srv.pid, signal.SIGHUP)
tap.ok(wait_for_log(srv, secret), "SIGHUP adding a root-only file: the log names the file",
       srv.log_text()[-2000:])
tap.ok(srv.alive() and go(srv.sock, "ok"), "... and the server serves on")
tap.ok(not go(srv.sock, "secret"), "... but not the root-only file")

# A per-client export whose file for this client is root's.
os.makedirs(path("per"), exist_ok=True)
os.chmod(path("per"), 0o755)
local = make_file("per/unix", 1 * MiB)  # what %s is for a Unix-socket client
os.chmod(local, 0o600)
write("priv.conf", "[generic]\n%s[ok]\nexportname = %s\n[per]\nexportname = %s/%%s\n"
      "virtstyle = ipliteral\n" % (user, ok_img, path("per")))
os.kill(srv.pid, signal.SIGHUP)
tap.ok(wait_for_log(srv, "export 'per' added"), "SIGHUP: a per-client export added")
tap.ok(not go(srv.sock, "per"), "a per-client export on a root-only file refuses that client")
tap.ok(wait_for_log(srv, "cannot open this client's file (from %s/%%s): Permission denied" %
                    path("per")), "... and the log says the file could not be opened",
       srv.log_text()[-2000:])
tap.ok(srv.alive() and go(srv.sock, "ok"), "... and the server serves the others")
srv.stop()

# At start-up: the whole configuration is refused, naming the file.
bad = write("bad.conf", "[generic]\n%s[secret]\nexportname = %s\n" % (user, secret))
r = subprocess.run([SERVER, "--foreground", "-C", bad, "--unix", path("bad.sock")],
                   capture_output=True, text=True, timeout=20)
tap.ok(r.returncode != 0 and secret in r.stderr and "ermission denied" in r.stderr,
       "a root-only export at start-up: the server refuses to start, naming the file and why",
       "status %d: %s" % (r.returncode, r.stderr))
tap.finish()
