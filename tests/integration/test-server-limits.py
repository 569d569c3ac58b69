#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Connections per client address (--max-connections-per-address, max_connections_per_address in
[generic]): connections from one address count from the moment they are accepted, handshakes
included; past the limit the server closes the new one at once and the log names the address;
other addresses (127.0.0.2) and Unix-socket clients are not held back by it; a connection that
ends gives its place back. Raw sockets on loopback TCP and a Unix socket; every wait is bounded."""
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdtest import SERVER, Server, Tap, free_port, log_says, path  # noqa: E402
from nbdraw import TcpConn  # noqa: E402
import nbdraw as P  # noqa: E402

tap = Tap(time_limit=100)
LIMIT = 3


def greeted(c):
    try:
        c.greeting()
        return True
    except (P.Closed, OSError, AssertionError):
        return False


def until(fn, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return True
        time.sleep(0.1)
    return False


port = free_port()
srv = Server("--bind", "127.0.0.1", "--port", port, "--memory", "1M",
             "--max-connections-per-address", LIMIT)
held = [TcpConn(port) for _ in range(LIMIT)]
tap.ok(all(greeted(c) for c in held), "%d connections from 127.0.0.1 are greeted" % LIMIT)
# One in transmission, the others left in their handshake: all count.
held[0].send(P.struct.pack(">I", P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES))
held[0].go("")
over = TcpConn(port)
tap.ok(over.closed(2), "connection %d from 127.0.0.1 is closed at once" % (LIMIT + 1))
over.close()
tap.ok(log_says(srv, r"Refused a connection from 127\.0\.0\.1:\d+: that address has %d connections "
                     r"open, its maximum \(--max-connections-per-address" % LIMIT),
       "the log names the address and the limit", srv.log_text())

other = TcpConn(port, source="127.0.0.2")
tap.ok(greeted(other), "127.0.0.2 is not held back by 127.0.0.1's connections")
other.close()
local = [P.Conn(srv.sock) for _ in range(LIMIT + 2)]
tap.ok(all(greeted(c) for c in local), "Unix-socket clients are not counted")
for c in local:
    c.close()


def served(c):
    c.request(P.CMD_READ, 0, 4096)
    err, _, data = c.simple_reply(4096)
    return err == 0 and data == bytes(4096)


tap.case("the client in transmission is still served", served, held[0])

held[1].close()


def one_more():
    c = TcpConn(port)
    ok = greeted(c)
    if ok:
        held.append(c)
    else:
        c.close()
    return ok


tap.ok(until(one_more), "a connection that ends gives its place back")
over = TcpConn(port)
tap.ok(over.closed(2), "... and only that one")
over.close()
for c in held:
    c.close()
srv.stop()

# The config file's key.
conf = path("limits.conf")
with open(conf, "w") as f:
    f.write("[generic]\nmax_connections_per_address = 1\n")
port = free_port()
srv = Server("-C", conf, "--bind", "127.0.0.1", "--port", port, "--memory", "1M")
first = TcpConn(port)
tap.ok(greeted(first), "max_connections_per_address = 1: the first connection is greeted")
second = TcpConn(port)
tap.ok(second.closed(2), "max_connections_per_address = 1: the second is closed")
second.close()
first.close()
srv.stop()

bad = subprocess.run([SERVER, "--foreground", "--max-connections-per-address", "many",
                      "--memory", "1M"], capture_output=True, text=True, timeout=10)
tap.ok(bad.returncode != 0 and "maximum number of connections per address" in bad.stderr,
       "--max-connections-per-address many is refused with a message", bad.stderr)
tap.finish()
