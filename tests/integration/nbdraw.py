# SPDX-License-Identifier: GPL-2.0-or-later
"""A deliberately small NBD client over a raw socket, written from the protocol specification
(doc/proto.md of the NBD project) and sharing no code with the server, so that tests can send what
real clients never would: bad magic, unknown flags, options out of order, truncated requests.

Every read has a timeout; a closed connection shows as Closed, a silent one as socket.timeout."""
import socket
import struct

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x0003E889045565A9
REQUEST_MAGIC = 0x25609513
EXT_REQUEST_MAGIC = 0x21E41C71
SIMPLE_REPLY_MAGIC = 0x67446698
STRUCTURED_REPLY_MAGIC = 0x668E33EF
EXT_REPLY_MAGIC = 0x6E8A278C

FLAG_FIXED_NEWSTYLE, FLAG_NO_ZEROES = 1, 2
(OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS, OPT_INFO, OPT_GO, OPT_STRUCTURED_REPLY,
 OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT, OPT_EXTENDED_HEADERS) = 1, 2, 3, 5, 6, 7, 8, 9, 10, 11
REP_ACK, REP_SERVER, REP_INFO, REP_META_CONTEXT = 1, 2, 3, 4
ERR = 1 << 31
(REP_ERR_UNSUP, REP_ERR_POLICY, REP_ERR_INVALID, REP_ERR_PLATFORM, REP_ERR_TLS_REQD,
 REP_ERR_UNKNOWN, REP_ERR_SHUTDOWN, REP_ERR_BLOCK_SIZE_REQD, REP_ERR_TOO_BIG,
 REP_ERR_EXT_HEADER_REQD) = (ERR | i for i in range(1, 11))
INFO_EXPORT, INFO_NAME, INFO_DESCRIPTION, INFO_BLOCK_SIZE = 0, 1, 2, 3

CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_CACHE, CMD_WRITE_ZEROES, \
    CMD_BLOCK_STATUS, CMD_RESIZE = range(9)
CMD_FLAG_FUA, CMD_FLAG_NO_HOLE, CMD_FLAG_DF, CMD_FLAG_REQ_ONE, CMD_FLAG_FAST_ZERO, \
    CMD_FLAG_PAYLOAD_LEN = 1, 2, 4, 8, 16, 32
REPLY_FLAG_DONE = 1
CHUNK_NONE, CHUNK_OFFSET_DATA, CHUNK_OFFSET_HOLE = 0, 1, 2
# Not a chunk type: what chunk() returns for a simple reply, which structured replies allow for
# any request but READ; its payload is the error (4 bytes) when there is one.
SIMPLE = -1
CHUNK_BLOCK_STATUS, CHUNK_BLOCK_STATUS_EXT = 5, 6
CHUNK_ERROR, CHUNK_ERROR_OFFSET = (1 << 15) + 1, (1 << 15) + 2
EPERM, EIO, ENOMEM, EINVAL, ENOSPC, EOVERFLOW, ENOTSUP, ESHUTDOWN = 1, 5, 12, 22, 28, 75, 95, 108


class Closed(Exception):
    """The server closed the connection."""


def nstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">I", len(b)) + b


class Conn:
    def __init__(self, sock_path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(sock_path)
        self.extended = False
        self.cookie = 0

    def close(self):
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    def recv(self, n):
        buf = b""
        while len(buf) < n:
            part = self.s.recv(n - len(buf))
            if not part:
                raise Closed("closed after %d of %d bytes" % (len(buf), n))
            buf += part
        return buf

    def closed(self, timeout=5):
        """Whether the server closes the connection (EOF or reset) within timeout, reading and
        ignoring anything it sends first."""
        self.s.settimeout(timeout)
        try:
            while self.s.recv(65536):
                pass
            return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    # ---- handshake
    def greeting(self):
        magic, opt, flags = struct.unpack(">QQH", self.recv(18))
        assert (magic, opt) == (NBDMAGIC, IHAVEOPT), "bad greeting %x %x" % (magic, opt)
        return flags

    def handshake(self, client_flags=FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES):
        flags = self.greeting()
        self.send(struct.pack(">I", client_flags))
        return flags

    def option(self, opt, data=b"", magic=IHAVEOPT, length=None):
        self.send(struct.pack(">QII", magic, opt, len(data) if length is None else length) + data)

    def reply(self):
        magic, opt, rtype, length = struct.unpack(">QIII", self.recv(20))
        assert magic == REPLY_MAGIC, "bad option reply magic %x" % magic
        return opt, rtype, self.recv(length)

    def replies(self):
        """Replies up to the final one (ACK or an error): a list of (option, type, data)."""
        out = []
        while True:
            r = self.reply()
            out.append(r)
            if r[1] == REP_ACK or r[1] & ERR:
                return out

    def ask(self, opt, data=b""):
        self.option(opt, data)
        return self.replies()

    def go(self, name="", infos=(), opt=OPT_GO):
        reps = self.ask(opt, nstr(name) + struct.pack(">H", len(infos)) +
                        b"".join(struct.pack(">H", i) for i in infos))
        info = {}
        for _, rtype, data in reps:
            if rtype == REP_INFO:
                info[struct.unpack(">H", data[:2])[0]] = data[2:]
        if reps[-1][1] != REP_ACK:
            raise AssertionError("%s refused: 0x%x %r" % (name, reps[-1][1], reps[-1][2]))
        self.size, self.flags = struct.unpack(">QH", info[INFO_EXPORT])
        return info

    def meta(self, name, queries, opt=OPT_SET_META_CONTEXT):
        return self.ask(opt, nstr(name) + struct.pack(">I", len(queries)) +
                        b"".join(nstr(q) for q in queries))

    # ---- transmission
    def request(self, cmd, offset=0, length=0, flags=0, payload=b"", magic=None, cookie=None):
        self.cookie += 1
        c = self.cookie if cookie is None else cookie
        if self.extended:
            hdr = struct.pack(">IHHQQQ", EXT_REQUEST_MAGIC if magic is None else magic, flags, cmd,
                              c, offset, length)
        else:
            hdr = struct.pack(">IHHQQI", REQUEST_MAGIC if magic is None else magic, flags, cmd, c,
                              offset, length)
        self.send(hdr + payload)
        return c

    def simple_reply(self, read_len=0):
        """(error, cookie, data) of a simple reply; data is read only when error is 0."""
        magic, error, cookie = struct.unpack(">IIQ", self.recv(16))
        assert magic == SIMPLE_REPLY_MAGIC, "bad simple reply magic %x" % magic
        return error, cookie, self.recv(read_len) if error == 0 and read_len else b""

    def chunk(self):
        """One structured (or extended) reply chunk: (flags, type, cookie, payload). A simple
        reply is (REPLY_FLAG_DONE, SIMPLE, cookie, b"" or its error as 4 bytes)."""
        magic = struct.unpack(">I", self.recv(4))[0]
        if magic == SIMPLE_REPLY_MAGIC:
            error, cookie = struct.unpack(">IQ", self.recv(12))
            return REPLY_FLAG_DONE, SIMPLE, cookie, struct.pack(">I", error) if error else b""
        if magic == EXT_REPLY_MAGIC:
            flags, ctype, cookie, _offset, length = struct.unpack(">HHQQQ", self.recv(28))
        elif magic == STRUCTURED_REPLY_MAGIC:
            flags, ctype, cookie, length = struct.unpack(">HHQI", self.recv(16))
        else:
            raise AssertionError("bad reply magic %x" % magic)
        return flags, ctype, cookie, self.recv(length)

    def chunks(self):
        out = []
        while True:
            c = self.chunk()
            out.append(c)
            if c[0] & REPLY_FLAG_DONE:
                return out


class TcpConn(Conn):
    """The same over TCP to 127.0.0.1:port, from source (an address) when given."""

    def __init__(self, port, timeout=10, source=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                          source_address=(source, 0) if source else None)
        self.extended = False
        self.cookie = 0

    def port(self):
        """The client's own port, as the server's log names it."""
        return self.s.getsockname()[1]


def chunk_error(payload):
    """The error number of an ERROR or ERROR_OFFSET chunk."""
    return struct.unpack(">I", payload[:4])[0]


def transmission(sock_path, export="", structured=True, extended=False, meta=False):
    """A connection in the transmission phase, negotiated with GO."""
    c = Conn(sock_path)
    c.handshake()
    if extended:
        assert c.ask(OPT_EXTENDED_HEADERS)[-1][1] == REP_ACK
    elif structured:
        assert c.ask(OPT_STRUCTURED_REPLY)[-1][1] == REP_ACK
    if meta:
        assert c.meta(export, ["base:allocation"])[-1][1] == REP_ACK
    c.go(export)
    c.extended = extended
    return c
