#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The host side of the boot tests: runs the NBD server the guest attaches, and lets the guest stop,
start and restart it while it runs (fault injection), over a control socket.

hostctl.py --socket PATH --port PORT --dir DIR [--export NAME=FILE ...] -- SERVER_COMMAND...

Starts SERVER_COMMAND (which must stay in the foreground and listen on 127.0.0.1:PORT), waits until
it accepts connections, then listens on the Unix socket PATH and writes DIR/hostctl.ready. QEMU
forwards one guest address to that socket (a socat per guest connection), so a guest test asks for a
fault with one line and gets one line back:

  status                   ok running pid=N | ok stopped
  stop [SIGNAL]            kills the server (default KILL) and waits for it: ok stopped pid=N
  start                    starts it again and waits until it listens: ok started pid=N
  restart [DELAY]          stop, then start after DELAY seconds (0-300; default 0). With a delay it
                           answers at once (ok restarting in DELAY s), so that the guest's I/O meets
                           a dead server and then a new one.
  sum EXPORT OFFSET LENGTH sha256 of that range of the export's file, as the server wrote it
  log [LINES]              the last lines of the server's log, joined by " | "

Anything else, or a failure, answers "error WHY". The server is always this process's own child,
stopped and started by its pid, never by name; SIGTERM or SIGINT stops it and ends the service.
Every request and answer is logged to DIR/hostctl.log; the server's output goes to DIR/server.log.
"""
import argparse
import hashlib
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time

MAX_DELAY = 300
MAX_SUM = 1 << 30


class Server:
    def __init__(self, command, port, logdir):
        self.command = command
        self.port = port
        self.logdir = logdir
        self.proc = None
        self.lock = threading.Lock()
        self.starts = 0

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def listening(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def start(self):
        """Starts the server and waits until it listens; the caller holds the lock."""
        if self.running():
            return f"error already running pid={self.proc.pid}"
        with open(os.path.join(self.logdir, "server.log"), "ab") as log:
            log.write(f"==== start {self.starts + 1} at {time.strftime('%H:%M:%S')}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        self.starts += 1
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"error the server exited with status {self.proc.returncode} (see server.log)"
            if self.listening():
                return f"ok started pid={self.proc.pid}"
            time.sleep(0.05)
        return f"error the server (pid {self.proc.pid}) did not listen on 127.0.0.1:{self.port} in 15 s"

    def stop(self, sig=signal.SIGKILL):
        """Signals the server by its pid and waits for it; the caller holds the lock."""
        if not self.running():
            return "ok stopped"
        pid = self.proc.pid
        self.proc.send_signal(sig)
        try:
            status = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        return f"ok stopped pid={pid} status={status}"


def parse_signal(name):
    name = name.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name not in ("SIGKILL", "SIGTERM", "SIGINT", "SIGHUP"):
        raise ValueError(f"signal {name} is not one of KILL, TERM, INT, HUP")
    return getattr(signal, name)


class Control:
    def __init__(self, server, exports, logdir):
        self.server = server
        self.exports = exports
        self.logdir = logdir

    def log(self, text):
        with open(os.path.join(self.logdir, "hostctl.log"), "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    def restart_later(self, delay):
        time.sleep(delay)
        with self.server.lock:
            self.log(f"delayed start: {self.server.start()}")

    def handle(self, line):
        words = line.split()
        if not words:
            return "error empty request"
        cmd, args = words[0], words[1:]
        s = self.server
        if cmd == "status":
            with s.lock:
                return f"ok running pid={s.proc.pid}" if s.running() else "ok stopped"
        if cmd == "stop":
            sig = parse_signal(args[0]) if args else signal.SIGKILL
            with s.lock:
                return s.stop(sig)
        if cmd == "start":
            with s.lock:
                return s.start()
        if cmd == "restart":
            delay = float(args[0]) if args else 0.0
            if not 0 <= delay <= MAX_DELAY:
                return f"error delay {delay} is not between 0 and {MAX_DELAY}"
            with s.lock:
                stopped = s.stop()
                if delay == 0:
                    return s.start()
            threading.Thread(target=self.restart_later, args=(delay,), daemon=True).start()
            return f"ok restarting in {delay:g} s ({stopped[3:]})"
        if cmd == "sum":
            if len(args) != 3:
                return "error usage: sum EXPORT OFFSET LENGTH"
            path = self.exports.get(args[0])
            if path is None:
                return f"error no export {args[0]} backed by a file (have: {' '.join(self.exports)})"
            offset, length = int(args[1], 0), int(args[2], 0)
            if offset < 0 or not 0 < length <= MAX_SUM:
                return f"error offset {offset} or length {length} out of range"
            h = hashlib.sha256()
            with open(path, "rb") as f:
                f.seek(offset)
                left = length
                while left:
                    block = f.read(min(left, 1 << 20))
                    if not block:
                        return f"error {path} ends before {offset + length}"
                    h.update(block)
                    left -= len(block)
            return "ok " + h.hexdigest()
        if cmd == "log":
            n = min(int(args[0]), 50) if args else 10
            try:
                with open(os.path.join(self.logdir, "server.log"), errors="replace") as f:
                    lines = f.read().splitlines()[-n:]
            except FileNotFoundError:
                lines = []
            return "ok " + " | ".join(lines)
        return f"error unknown request {cmd!r} (status, stop, start, restart, sum, log)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--export", action="append", default=[])
    ap.add_argument("command", nargs="+")
    opts = ap.parse_args()

    exports = dict(e.split("=", 1) for e in opts.export)
    server = Server(opts.command, opts.port, opts.dir)
    control = Control(server, exports, opts.dir)
    with server.lock:
        started = server.start()
    control.log(f"initial start: {started}")
    if not started.startswith("ok"):
        print(f"hostctl: {started}", file=sys.stderr)
        server.stop()
        return 1

    class Handler(socketserver.StreamRequestHandler):
        timeout = 30

        def handle(self):
            try:
                line = self.rfile.readline(4096).decode(errors="replace").strip()
            except OSError:
                return
            try:
                answer = control.handle(line)
            except (ValueError, OSError) as e:
                answer = f"error {e}"
            control.log(f"{line!r} -> {answer}")
            try:
                self.wfile.write((answer + "\n").encode())
            except OSError:
                pass

    class Service(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    if os.path.exists(opts.socket):
        os.unlink(opts.socket)
    service = Service(opts.socket, Handler)

    def finish(signum, frame):
        threading.Thread(target=service.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    with open(os.path.join(opts.dir, "hostctl.ready"), "w") as f:
        f.write(f"{os.getpid()}\n")
    try:
        service.serve_forever()
    finally:
        with server.lock:
            control.log(f"shutting down: {server.stop(signal.SIGTERM)}")
        service.server_close()
        os.unlink(opts.socket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
