# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared by the Python integration tests: TAP output, a scratch directory, and our server started on a
Unix socket and stopped by its pid. The Python twin of lib.sh.

A test creates a Tap, reports each case with tap.ok()/tap.eq()/tap.raises(), and ends with
tap.finish(), which prints the plan and exits 0 when everything passed, 1 otherwise. A program that
cannot run calls skip_all(): meson's TAP parser counts exit status 77 as an error, so it prints one
"# SKIP" case and exits 0 instead.
"""
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SERVER = os.environ.get("NBD_SERVER")
# What an ASan/UBSan build of the server writes to stderr (its log here) when something is wrong.
SANITIZER_REPORT = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:")


def skip_all(reason):
    print("1..1")
    print("ok 1 - %s # SKIP %s" % (os.path.basename(sys.argv[0]), reason))
    sys.stdout.flush()
    sys.exit(0)


def import_nbd():
    """libnbd's Python module, or a skip when this interpreter does not have it."""
    try:
        import nbd
    except ImportError:
        skip_all("python3-libnbd is not importable by %s" % sys.executable)
    return nbd


class Tap:
    def __init__(self, time_limit=100):
        self.n = 0
        self.failed = 0
        if not SERVER:
            print("Bail out! NBD_SERVER must name the nbd-server binary under test")
            sys.exit(1)
        # libnbd calls have no timeouts. A thread (libnbd releases the GIL while it waits) ends a
        # hung test before meson's own timeout, stopping the servers this test started.
        self.watchdog = threading.Timer(time_limit, self._expired, args=(time_limit,))
        self.watchdog.daemon = True
        self.watchdog.start()

    def _expired(self, limit):
        print("Bail out! %s did not finish within %d s" % (os.path.basename(sys.argv[0]), limit))
        sys.stdout.flush()
        for s in _servers:
            if s.proc.poll() is None:
                s.proc.kill()
        os._exit(1)

    def _line(self, good, desc, diag=None):
        self.n += 1
        print("%s %d - %s" % ("ok" if good else "not ok", self.n, desc))
        if not good:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines():
                    print("#   " + line)
        sys.stdout.flush()
        return good

    def ok(self, cond, desc, diag=None):
        return self._line(bool(cond), desc, diag)

    def eq(self, got, want, desc):
        return self._line(got == want, desc, "expected %r\n     got %r" % (want, got))

    def skip(self, desc, reason):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, desc, reason))

    def case(self, desc, fn, *args):
        """Runs fn(*args); the case passes when it returns a true value (or None) without raising."""
        try:
            r = fn(*args)
        except Exception:
            return self._line(False, desc, traceback.format_exc())
        return self._line(r is None or bool(r), desc, "returned %r" % (r,))

    def raises(self, errnum, desc, fn, *args):
        """Passes when fn(*args) raises an exception whose errnum (nbd.Error) or errno (OSError)
        is errnum."""
        try:
            r = fn(*args)
        except Exception as e:  # nbd.Error or OSError
            got = getattr(e, "errnum", None)
            if got is None:
                got = getattr(e, "errno", None)
            return self._line(got == errnum, desc,
                              "expected errno %d, got %r: %s" % (errnum, got, e))
        return self._line(False, desc, "succeeded unexpectedly, returned %r" % (r,))

    def finish(self):
        # Servers still running are stopped first, so that their exit (and leak check) is seen.
        for s in _servers:
            s.stop()
        reports = [(s, m.group(0)) for s in _servers
                   for m in [SANITIZER_REPORT.search(s.log_text())] if m]
        diag = "\n".join("%s: %s\n%s" % (" ".join(s.cmd), m, s.log_text()[-3000:])
                         for s, m in reports[:3])
        self.ok(not reports, "no sanitizer reports in the server logs (%d servers)" % len(_servers),
                diag)
        print("1..%d" % self.n)
        if self.failed:
            print("# %d of %d failed" % (self.failed, self.n))
        sys.stdout.flush()
        sys.exit(1 if self.failed else 0)


_scratch = None


def scratch():
    global _scratch
    if _scratch is None:
        _scratch = tempfile.mkdtemp(prefix="nbdm-test.", dir=os.environ.get("TMPDIR", "/tmp"))
    return _scratch


def path(name):
    return os.path.join(scratch(), name)


def tls_material(name="tls"):
    """Certificates and PSK files made by tests/tls/make-certs.sh ($TLS_MAKE_CERTS) in the
    scratch directory name: its path. Skips the whole test without certtool or psktool."""
    make = os.environ.get("TLS_MAKE_CERTS")
    if not make:
        print("Bail out! TLS_MAKE_CERTS must name tests/tls/make-certs.sh")
        sys.exit(1)
    for tool in ("certtool", "psktool"):
        if shutil.which(tool) is None:
            skip_all("%s is not installed" % tool)
    where = path(name)
    if subprocess.run(["sh", make, where], capture_output=True).returncode:
        print("Bail out! make-certs.sh failed")
        sys.exit(1)
    return where


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (for a server to take)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def log_says(srv, pattern, timeout=10):
    """Whether the server's log matches the regular expression pattern within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, srv.log_text()):
            return True
        time.sleep(0.05)
    return False


def wait_for_log(srv, text, timeout=10):
    """Whether the server's log has text within timeout seconds."""
    return log_says(srv, re.escape(text), timeout)


def make_file(name, size, data=()):
    """A sparse file of `size` bytes with (offset, bytes) pieces written into it."""
    p = path(name)
    with open(p, "wb") as f:
        f.truncate(size)
        for off, buf in data:
            f.seek(off)
            f.write(buf)
    return p


def traced(pid, fn, *strace_args):
    """Runs fn with strace (strace_args: what to trace or inject) attached to every thread of
    process pid; returns strace's log."""
    log, err = path("strace-%d.log" % pid), path("strace-%d.err" % pid)
    with open(err, "w") as e:
        st = subprocess.Popen(["strace", "-f", "-p", str(pid), *strace_args, "-o", log],
                              stdout=subprocess.DEVNULL, stderr=e)
    for _ in range(200):  # "Process N attached with M threads", once all are
        with open(err) as e:
            if "attached" in e.read():
                break
        time.sleep(0.05)
    try:
        fn()
    finally:
        st.send_signal(signal.SIGINT)
        st.wait(10)
    with open(log) as f:
        return f.read()


_servers = []


class Server:
    """Our server in the foreground on a Unix socket (or, with sock=None and tcp_port, on TCP)."""

    count = 0

    def __init__(self, *args, sock=None, wait=True, foreground=True):
        Server.count += 1
        self.sock = sock or path("server-%d.sock" % Server.count)
        self.log = path("server-%d.log" % Server.count)
        cmd = [SERVER] + (["--foreground"] if foreground else []) + ["--unix", self.sock]
        cmd += [str(a) for a in args]
        self.cmd = cmd
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.pid = self.proc.pid
        _servers.append(self)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=10):
        """Waits until a probe connection receives the NBD greeting: the server's main loop runs
        (and handles signals) only then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.sock) and greeted(self.sock):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        print("Bail out! server did not start: %s" % " ".join(self.cmd))
        print("".join("#   " + l for l in self.log_text().splitlines(True)))
        sys.stdout.flush()
        self.stop(signal.SIGKILL)
        sys.exit(1)

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def uri(self, export=""):
        return "nbd+unix:///%s?socket=%s" % (export, self.sock)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals the server (by its pid) and returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print("# server %d ignored signal %d for %d s; killing it" % (self.pid, sig, timeout))
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@atexit.register
def _cleanup():
    # Servers first: they may still use the scratch directory.
    for s in _servers:
        s.stop()
    if _scratch and not os.environ.get("KEEP_SCRATCH"):
        shutil.rmtree(_scratch, ignore_errors=True)
    elif _scratch:
        print("# scratch directory kept: %s" % _scratch)


def greeted(sock_path):
    try:
        with unix_connect(sock_path, timeout=2) as s:
            got = b""
            while len(got) < 8:
                part = s.recv(8 - len(got))
                if not part:
                    break
                got += part
            return got == b"NBDMAGIC"
    except OSError:
        return False


def unix_connect(sock_path, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    return s
