#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Raw-socket protocol tests: what well-behaved clients never send. Each case checks the answer the
NBD specification asks for and then that a new connection to the same server is still served."""
import os
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdtest import Server, Tap, make_file  # noqa: E402
import nbdraw as P  # noqa: E402

tap = Tap()
MiB = 1 << 20
DISK = os.urandom(4 * MiB)
disk = make_file("disk.img", len(DISK), [(0, DISK)])
srv = Server("--export", "disk=" + disk, "--description", "raw disk",
             "--export", "mem=memory:64M")


def still_serving(what):
    """A new connection negotiates and reads the right data."""
    try:
        c = P.transmission(srv.sock, "disk")
        c.request(P.CMD_READ, 4096, 4096)
        chunks = c.chunks()
        data = chunks[0][3][8:] if chunks[0][1] == P.CHUNK_OFFSET_DATA else None
        c.request(P.CMD_DISC)
        c.close()
        good = data == DISK[4096:8192] and srv.alive()
        return tap.ok(good, "%s: then a new connection still works" % what, chunks[:1])
    except Exception as e:
        return tap.ok(False, "%s: then a new connection still works" % what, repr(e))


def case(desc, fn, after=None):
    """Runs one scenario; fn returns (condition, diagnostics). Then checks that the server still
    serves a new connection (after(desc), default still_serving)."""
    try:
        good, diag = fn()
    except Exception as e:
        good, diag = False, repr(e)
    tap.ok(good, desc, diag)
    (after or still_serving)(desc)


def handshaken(flags=P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES):
    c = P.Conn(srv.sock)
    c.handshake(flags)
    return c


def final_type(reps):
    return reps[-1][1]


# ------------------------------------------------------------------ handshake
def greeting():
    c = P.Conn(srv.sock)
    flags = c.greeting()
    c.close()
    return flags == P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES, "flags 0x%x" % flags


case("greeting advertises FIXED_NEWSTYLE and NO_ZEROES", greeting)


def bad_option_magic():
    c = handshaken()
    c.option(P.OPT_LIST, magic=0x1122334455667788)
    return c.closed(), "connection not closed"


case("option with a bad magic: server closes", bad_option_magic)


def unknown_client_flags():
    c = handshaken(P.FLAG_FIXED_NEWSTYLE | 0x80)
    return c.closed(), "connection not closed"


case("unknown client flags: server closes", unknown_client_flags)


def no_fixed_newstyle_option():
    c = handshaken(0)
    c.option(P.OPT_LIST)
    return c.closed(), "connection not closed"


case("client without FIXED_NEWSTYLE sends LIST: server closes", no_fixed_newstyle_option)


def export_name_with_zeroes(flags, want_len):
    def run():
        c = handshaken(flags)
        c.option(P.OPT_EXPORT_NAME, b"disk")
        size, tflags = struct.unpack(">QH", c.recv(10))
        rest = b""
        c.s.settimeout(1)
        try:
            rest = c.s.recv(200)
        except socket.timeout:
            pass
        c.close()
        return (size == len(DISK) and 10 + len(rest) == want_len and not any(rest),
                "size %d, reply %d bytes" % (size, 10 + len(rest)))
    return run


case("EXPORT_NAME without NO_ZEROES: 134-byte reply", export_name_with_zeroes(
    P.FLAG_FIXED_NEWSTYLE, 134))
case("EXPORT_NAME with NO_ZEROES: 10-byte reply", export_name_with_zeroes(
    P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES, 10))
case("oldstyle-compatible client (no flags) with EXPORT_NAME is served",
     export_name_with_zeroes(0, 134))


def unknown_option():
    c = handshaken()
    r1 = c.ask(0x4242)
    r2 = c.ask(P.OPT_LIST)
    c.close()
    return (final_type(r1) == P.REP_ERR_UNSUP and r1[0][0] == 0x4242 and
            final_type(r2) == P.REP_ACK), (r1, r2)


case("unknown option: ERR_UNSUP, then LIST still works", unknown_option)


def list_with_data():
    c = handshaken()
    r1 = c.ask(P.OPT_LIST, b"junk")
    r2 = c.ask(P.OPT_LIST)
    c.close()
    names = sorted(d[4:4 + struct.unpack(">I", d[:4])[0]] for _, t, d in r2 if t == P.REP_SERVER)
    return (final_type(r1) == P.REP_ERR_INVALID and names == [b"disk", b"mem"],
            (r1, names))


case("LIST with data: ERR_INVALID, then LIST lists both exports", list_with_data)


def meta_before_structured():
    c = handshaken()
    r = c.meta("disk", ["base:allocation"])
    c.close()
    return final_type(r) == P.REP_ERR_INVALID, r


case("SET_META_CONTEXT before STRUCTURED_REPLY: ERR_INVALID", meta_before_structured)


def list_meta_before_structured():
    c = handshaken()
    r = c.meta("disk", [], opt=P.OPT_LIST_META_CONTEXT)
    c.close()
    return final_type(r) == P.REP_ERR_INVALID, r


case("LIST_META_CONTEXT before STRUCTURED_REPLY: ERR_INVALID", list_meta_before_structured)


def structured_after_extended():
    c = handshaken()
    r1 = c.ask(P.OPT_EXTENDED_HEADERS)
    r2 = c.ask(P.OPT_STRUCTURED_REPLY)
    c.close()
    return (final_type(r1) == P.REP_ACK and final_type(r2) == P.REP_ERR_EXT_HEADER_REQD,
            (r1, r2))


case("STRUCTURED_REPLY after EXTENDED_HEADERS: ERR_EXT_HEADER_REQD", structured_after_extended)


def structured_with_data():
    c = handshaken()
    r = c.ask(P.OPT_STRUCTURED_REPLY, b"x")
    c.close()
    return final_type(r) == P.REP_ERR_INVALID, r


case("STRUCTURED_REPLY with data: ERR_INVALID", structured_with_data)


def export_name_unknown():
    c = handshaken()
    c.option(P.OPT_EXPORT_NAME, b"nosuch")
    return c.closed(), "connection not closed"


case("EXPORT_NAME of an unknown export: server closes", export_name_unknown)


def export_name_after_extended():
    c = handshaken()
    c.ask(P.OPT_EXTENDED_HEADERS)
    c.option(P.OPT_EXPORT_NAME, b"disk")
    return c.closed(), "connection not closed"


case("EXPORT_NAME after EXTENDED_HEADERS: server closes", export_name_after_extended)


def info_unknown():
    c = handshaken()
    r = c.ask(P.OPT_INFO, P.nstr("nosuch") + struct.pack(">H", 0))
    r2 = c.ask(P.OPT_GO, P.nstr("nosuch") + struct.pack(">H", 0))
    c.close()
    return final_type(r) == P.REP_ERR_UNKNOWN and final_type(r2) == P.REP_ERR_UNKNOWN, (r, r2)


case("INFO and GO of an unknown export: ERR_UNKNOWN", info_unknown)


def info_items():
    c = handshaken()
    info = c.go("disk", [P.INFO_NAME, P.INFO_DESCRIPTION, P.INFO_BLOCK_SIZE], opt=P.OPT_INFO)
    bs = struct.unpack(">III", info.get(P.INFO_BLOCK_SIZE, b"\0" * 12))
    r = c.ask(P.OPT_LIST)  # still in negotiation after INFO
    c.close()
    return (info.get(P.INFO_NAME) == b"disk" and info.get(P.INFO_DESCRIPTION) == b"raw disk" and
            bs == (1, 4096, 32 * MiB) and c.size == len(DISK) and final_type(r) == P.REP_ACK,
            (info, bs))


case("INFO with NAME, DESCRIPTION, BLOCK_SIZE: all answered", info_items)


def malformed_info():
    c = handshaken()
    r = c.ask(P.OPT_GO, struct.pack(">I", 100) + b"abc")
    c.close()
    return final_type(r) == P.REP_ERR_INVALID, r


case("GO with a name longer than its payload: ERR_INVALID", malformed_info)


def starttls():
    c = handshaken()
    r = c.ask(P.OPT_STARTTLS)
    r2 = c.ask(P.OPT_LIST)
    c.close()
    return final_type(r) == P.REP_ERR_POLICY and final_type(r2) == P.REP_ACK, r


case("STARTTLS without TLS configured: ERR_POLICY, then still usable", starttls)


def abort():
    c = handshaken()
    r = c.ask(P.OPT_ABORT)
    return final_type(r) == P.REP_ACK and c.closed(), r


case("ABORT: ACK, then the server closes", abort)


def oversized_option():
    c = handshaken()
    c.option(0x4243, b"\0" * (100 * 1024))
    r = c.replies()
    r2 = c.ask(P.OPT_LIST)
    c.close()
    return final_type(r) == P.REP_ERR_TOO_BIG and final_type(r2) == P.REP_ACK, (r, r2[-1])


case("option of 100 KiB: ERR_TOO_BIG, payload skipped, still in sync", oversized_option)


def huge_option():
    c = handshaken()
    c.option(0x4244, length=1 << 30)
    return c.closed(), "connection not closed"


case("option claiming 1 GiB: server closes", huge_option)


def truncated_option():
    c = handshaken()
    c.option(P.OPT_GO, length=100)
    c.send(b"\0" * 10)
    c.close()
    time.sleep(0.1)
    return True, None


case("option payload cut short, then close", truncated_option)


def meta_other_export():
    c = handshaken()
    c.ask(P.OPT_STRUCTURED_REPLY)
    r = c.meta("mem", ["base:allocation"])
    c.go("disk")
    c.request(P.CMD_BLOCK_STATUS, 0, 4096)
    ch = c.chunks()
    c.close()
    return (final_type(r) == P.REP_ACK and ch[-1][1] == P.CHUNK_ERROR and
            P.chunk_error(ch[-1][3]) == P.EINVAL), ch


case("contexts set for another export do not apply after GO: BLOCK_STATUS EINVAL",
     meta_other_export)


def meta_context_reply():
    c = handshaken()
    c.ask(P.OPT_STRUCTURED_REPLY)
    r = c.meta("disk", ["base:allocation", "qemu:nosuch", "base:nosuch"])
    c.close()
    ctx = [(t, d[4:]) for _, t, d in r if t == P.REP_META_CONTEXT]
    ids = [struct.unpack(">I", d[:4])[0] for _, t, d in r if t == P.REP_META_CONTEXT]
    return (ctx == [(P.REP_META_CONTEXT, b"base:allocation")] and ids[0] != 0 and
            final_type(r) == P.REP_ACK), r


case("SET_META_CONTEXT: only base:allocation, with a nonzero id", meta_context_reply)


# ------------------------------------------------------------------ transmission
def bad_request_magic():
    c = P.transmission(srv.sock, "disk")
    c.request(P.CMD_READ, 0, 512, magic=0x12345678)
    return c.closed(), "connection not closed"


case("request with a bad magic: server closes", bad_request_magic)


def truncated_header():
    c = P.transmission(srv.sock, "disk")
    c.send(struct.pack(">IHH", P.REQUEST_MAGIC, 0, P.CMD_READ))
    time.sleep(0.1)
    c.close()
    return True, None


case("request header cut short, then close", truncated_header)


def unknown_command():
    c = P.transmission(srv.sock, "disk")
    k1 = c.request(100, 0, 512)
    ch = c.chunks()
    k2 = c.request(P.CMD_READ, 0, 512)
    ch2 = c.chunks()
    c.close()
    return (ch[-1][1] == P.CHUNK_ERROR and P.chunk_error(ch[-1][3]) == P.EINVAL and
            ch[-1][2] == k1 and ch2[0][2] == k2 and ch2[0][3][8:] == DISK[:512]), (ch, ch2[0][:3])


case("unknown command: EINVAL error chunk, then READ works", unknown_command)


def resize_command():
    c = P.transmission(srv.sock, "disk", structured=False)
    c.request(P.CMD_RESIZE, 0, 0)
    err, _, _ = c.simple_reply()
    c.close()
    return err == P.EINVAL, err


case("RESIZE (never advertised): EINVAL", resize_command)


def unknown_flags():
    c = P.transmission(srv.sock, "disk", structured=False)
    c.request(P.CMD_READ, 0, 512, flags=0x400)
    e1 = c.simple_reply(512)[0]
    c.request(P.CMD_WRITE, 0, 4, flags=0x400, payload=b"XXXX")
    e2 = c.simple_reply()[0]
    c.request(P.CMD_READ, 0, 4)
    e3, _, data = c.simple_reply(4)
    c.close()
    return (e1, e2, e3, data) == (P.EINVAL, P.EINVAL, 0, DISK[:4]), (e1, e2, e3, data)


case("unknown command flags: EINVAL (READ and WRITE, payload consumed)", unknown_flags)


def write_past_end():
    c = P.transmission(srv.sock, "mem")
    k1 = c.request(P.CMD_WRITE, c.size, 4096, payload=b"\xee" * 4096)
    ch1 = c.chunks()
    k2 = c.request(P.CMD_WRITE, c.size - 2048, 4096, payload=b"\xee" * 4096)
    ch2 = c.chunks()
    k3 = c.request(P.CMD_READ, c.size - 4096, 4096)
    ch3 = c.chunks()
    c.close()
    return (ch1[-1][2] == k1 and P.chunk_error(ch1[-1][3]) == P.ENOSPC and
            ch2[-1][2] == k2 and P.chunk_error(ch2[-1][3]) == P.ENOSPC and
            ch3[-1][2] == k3 and ch3[-1][0] & P.REPLY_FLAG_DONE and
            all(t == P.CHUNK_OFFSET_HOLE for _, t, _, _ in ch3)), (ch1, ch2, ch3)


case("WRITE past and across the end: ENOSPC, payload consumed, next request answered",
     write_past_end)


def write_too_long():
    c = P.transmission(srv.sock, "mem", structured=False)
    n = 40 * MiB
    c.request(P.CMD_WRITE, 0, n)
    chunk = b"\x5a" * MiB
    for _ in range(n // MiB):
        c.send(chunk)
    e1 = c.simple_reply()[0]
    c.request(P.CMD_READ, 0, 4096)
    e2, _, data = c.simple_reply(4096)
    c.close()
    return (e1, e2, data) == (P.EINVAL, 0, bytes(4096)), (e1, e2, data[:8])


case("WRITE of 40 MiB (over the 32 MiB maximum): payload consumed, EINVAL, still in sync",
     write_too_long)


def write_far_too_long():
    c = P.transmission(srv.sock, "mem", structured=False)
    c.request(P.CMD_WRITE, 0, 100 * MiB)
    return c.closed(), "connection not closed"


case("WRITE announcing 100 MiB (beyond what is worth discarding): server closes",
     write_far_too_long)


def stalled_client():
    c = P.transmission(srv.sock, "mem", structured=False)
    c.request(P.CMD_WRITE, 0, MiB)
    c.send(b"\x01" * 1000)
    # The server waits for the rest of this payload; others must not wait with it.
    t0 = time.monotonic()
    d = P.transmission(srv.sock, "disk", structured=False)
    d.request(P.CMD_READ, 0, 512)
    err, _, data = d.simple_reply(512)
    d.close()
    quick = time.monotonic() - t0 < 5
    c.close()
    return (err == 0 and data == DISK[:512] and quick), (err, quick)


case("a client stopping mid-WRITE does not hold up another connection", stalled_client)


def payload_shapes():
    # On a memory export a WRITE's payload is written from the input buffer, spliced through a pipe,
    # or buffered, depending on how it arrives; each way must land the same bytes at the right place.
    c = P.transmission(srv.sock, "mem", structured=False)
    base = 8 * MiB
    shapes = []

    def whole(off, data):  # header and payload in one send
        c.request(P.CMD_WRITE, off, len(data), payload=data)

    def header_first(off, data):  # payload arrives after the server has taken the header
        c.request(P.CMD_WRITE, off, len(data))
        time.sleep(0.1)
        c.send(data)

    def part_with_header(off, data):  # some payload with the header, the rest later
        c.request(P.CMD_WRITE, off, len(data), payload=data[:1000])
        time.sleep(0.1)
        c.send(data[1000:])

    def trickled(off, data):  # tiny segments: more pieces than a pipe holds
        c.request(P.CMD_WRITE, off, len(data))
        time.sleep(0.1)
        for i in range(0, len(data), 100):
            c.send(data[i:i + 100])

    for i, (fn, size) in enumerate([(whole, 4096), (whole, 256 << 10), (header_first, 256 << 10),
                                    (header_first, MiB), (part_with_header, 300 << 10),
                                    (trickled, 96 << 10), (header_first, 3 * MiB),
                                    (header_first, 70 << 10)]):
        data = os.urandom(size)
        off = base + i * 4 * MiB + 512
        fn(off, data)
        err, _, _ = c.simple_reply()
        shapes.append((fn.__name__, size, off, data, err))
    bad = []
    for name, size, off, data, err in shapes:
        c.request(P.CMD_READ, off, size)
        rerr, _, back = c.simple_reply(size)
        if err or rerr or back != data:
            bad.append((name, size, err, rerr))
    c.close()
    return not bad, bad


case("WRITE payloads whole, after the header, in part, in tiny pieces: all land intact",
     payload_shapes)


def flush_with_offset():
    c = P.transmission(srv.sock, "disk", structured=False)
    c.request(P.CMD_FLUSH, 4096, 0)
    e1 = c.simple_reply()[0]
    c.request(P.CMD_FLUSH, 0, 4096)
    e2 = c.simple_reply()[0]
    c.request(P.CMD_FLUSH, 0, 0)
    e3 = c.simple_reply()[0]
    c.close()
    return (e1, e2, e3) == (P.EINVAL, P.EINVAL, 0), (e1, e2, e3)


case("FLUSH with a nonzero offset or length: EINVAL; plain FLUSH: 0", flush_with_offset)


def disc():
    c = P.transmission(srv.sock, "mem", structured=False)
    # A write and DISC in one packet: the write is answered, then the server closes.
    c.send(struct.pack(">IHHQQI", P.REQUEST_MAGIC, 0, P.CMD_WRITE, 77, 8 * MiB - 4096, 6) +
           b"discon" + struct.pack(">IHHQQI", P.REQUEST_MAGIC, 0, P.CMD_DISC, 78, 0, 0))
    err, cookie, _ = c.simple_reply()
    closed = c.closed()
    d = P.transmission(srv.sock, "mem", structured=False)
    d.request(P.CMD_READ, 8 * MiB - 4096, 6)
    data = d.simple_reply(6)[2]
    d.close()
    return (err, cookie, closed, data) == (0, 77, True, b"discon"), (err, cookie, closed, data)


case("DISC after a WRITE: the WRITE is answered and done, then the server closes", disc)


def pipelined():
    c = P.transmission(srv.sock, "disk", structured=False)
    reqs = b"".join(struct.pack(">IHHQQI", P.REQUEST_MAGIC, 0, P.CMD_READ, 1000 + i, i * 8192, 100)
                    for i in range(50))
    c.send(reqs)
    got = {}
    for _ in range(50):
        err, cookie, data = c.simple_reply(100)
        got[cookie] = (err, data)
    c.close()
    return all(got.get(1000 + i) == (0, DISK[i * 8192:i * 8192 + 100]) for i in range(50)), \
        sorted(got)[:5]


case("50 pipelined READs: every cookie answered with its data", pipelined)


def cookie_echo():
    c = P.transmission(srv.sock, "disk")
    c.request(P.CMD_FLUSH, cookie=0xDEADBEEFCAFEF00D)
    ch = c.chunks()
    c.close()
    return ch == [(P.REPLY_FLAG_DONE, P.SIMPLE, 0xDEADBEEFCAFEF00D, b"")], ch


case("a 64-bit cookie is echoed; a success without data is a simple reply (structured replies)",
     cookie_echo)


def simple_read_errors():
    c = P.transmission(srv.sock, "disk", structured=False)
    c.request(P.CMD_READ, len(DISK) - 512, 1024)
    e1 = c.simple_reply()[0]  # an error reply carries no data
    c.request(P.CMD_READ, len(DISK) - 512, 512)
    e2, _, data = c.simple_reply(512)
    c.close()
    return (e1, e2, data) == (P.EINVAL, 0, DISK[-512:]), (e1, e2)


case("simple replies: READ across the end is EINVAL without data", simple_read_errors)


def structured_hole():
    c = P.transmission(srv.sock, "mem")
    c.request(P.CMD_READ, 4 * MiB, 64 * 1024)
    ch = c.chunks()
    c.close()
    off, n = struct.unpack(">QI", ch[0][3]) if ch and ch[0][1] == P.CHUNK_OFFSET_HOLE else (0, 0)
    return (len(ch) == 1 and ch[0][0] == P.REPLY_FLAG_DONE and (off, n) == (4 * MiB, 65536)), ch


case("structured READ of untouched memory: one OFFSET_HOLE chunk", structured_hole)


def read_crossing_end():
    c = P.transmission(srv.sock, "disk")
    c.request(P.CMD_READ, len(DISK) - 1024, 4096)
    ch = c.chunks()
    c.close()
    data_ok = ch[0][1] == P.CHUNK_OFFSET_DATA and ch[0][3][8:] == DISK[-1024:]
    err = ch[-1]
    err_ok = (err[1] == P.CHUNK_ERROR_OFFSET and P.chunk_error(err[3]) == P.EINVAL and
              struct.unpack(">Q", err[3][-8:])[0] == len(DISK))
    return data_ok and err_ok and err[0] & P.REPLY_FLAG_DONE, [x[:2] for x in ch]


case("structured READ across the end: data, then ERROR_OFFSET at the end", read_crossing_end)


def block_status_no_context():
    c = P.transmission(srv.sock, "disk")
    c.request(P.CMD_BLOCK_STATUS, 0, 4096)
    ch = c.chunks()
    c.close()
    return ch[-1][1] == P.CHUNK_ERROR and P.chunk_error(ch[-1][3]) == P.EINVAL, ch


case("BLOCK_STATUS without a negotiated context: EINVAL", block_status_no_context)


def block_status_compact():
    c = P.transmission(srv.sock, "mem", meta=True)
    c.request(P.CMD_WRITE, MiB, 4096, payload=b"\x01" * 4096)
    c.chunks()
    c.request(P.CMD_BLOCK_STATUS, 0, 2 * MiB)
    ch = c.chunks()
    c.close()
    p = ch[0][3]
    ext = list(struct.unpack(">%dI" % ((len(p) - 4) // 4), p[4:]))
    return (ch[0][1] == P.CHUNK_BLOCK_STATUS and
            ext == [MiB, 3, 4096, 0, MiB - 4096, 3]), (ch[0][:2], ext)


case("BLOCK_STATUS (compact): hole, data, hole", block_status_compact)


def flood(structured):
    def run():
        # 200 reads of 1 MiB sent at once, no reply read until all are sent: the server must
        # stop reading while replies pile up and answer each cookie exactly once, in any order.
        c = P.transmission(srv.sock, "disk", structured=structured)
        n = 200
        c.send(b"".join(struct.pack(">IHHQQI", P.REQUEST_MAGIC, 0, P.CMD_READ, 5000 + i,
                                    (i % 4) * MiB, MiB) for i in range(n)))
        time.sleep(0.2)
        seen = {}
        for _ in range(n):
            if structured:
                ch = c.chunks()
                ck = ch[0][2]
                data = b"".join(x[3][8:] for x in ch if x[1] == P.CHUNK_OFFSET_DATA)
            else:
                _, ck, data = c.simple_reply(MiB)
            i = ck - 5000
            seen[ck] = seen.get(ck, 0) + 1
            if not 0 <= i < n or data != DISK[(i % 4) * MiB:(i % 4 + 1) * MiB]:
                return False, "wrong data for cookie %d" % ck
        c.close()
        return sorted(seen) == list(range(5000, 5000 + n)) and set(seen.values()) == {1}, \
            "cookies answered: %d" % len(seen)
    return run


case("200 x 1 MiB READs without reading replies (structured): all answered, right data",
     flood(True))
case("200 x 1 MiB READs without reading replies (simple): all answered, right data", flood(False))


def half_close():
    c = P.transmission(srv.sock, "disk", structured=False)
    c.request(P.CMD_READ, 8192, 512)
    c.s.shutdown(socket.SHUT_WR)
    err, _, data = c.simple_reply(512)
    return (err, data, c.closed()) == (0, DISK[8192:8704], True), err


case("a client that half-closes after a READ still gets the reply, then EOF", half_close)


class PipeConn(P.Conn):
    """The raw client over a child's stdin and stdout pipes (two fds, neither a socket)."""

    def __init__(self, proc):
        self.p = proc
        self.extended = False
        self.cookie = 0

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def recv(self, n):
        buf = b""
        while len(buf) < n:
            part = self.p.stdout.read(n - len(buf))
            if not part:
                raise P.Closed("closed after %d of %d bytes" % (len(buf), n))
            buf += part
        return buf


def stdio_pipes():
    import subprocess
    import threading
    proc = subprocess.Popen([srv.cmd[0], "-s", "--export", "p=memory:64M"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    killer = threading.Timer(30, proc.kill)  # a hang must not hang the test
    killer.start()
    try:
        c = PipeConn(proc)
        c.handshake()
        c.ask(P.OPT_STRUCTURED_REPLY)
        c.go("p")
        blob = os.urandom(4 * MiB)
        # Writes and reads far larger than a pipe buffer, reads pipelined.
        for i in range(4):
            c.request(P.CMD_WRITE, i * len(blob), len(blob), payload=blob)
        done = [c.chunks()[-1] for _ in range(4)]
        for i in range(4):
            c.request(P.CMD_READ, i * len(blob), len(blob))
        good = 0
        for _ in range(4):
            ch = c.chunks()
            good += b"".join(x[3][8:] for x in ch if x[1] == P.CHUNK_OFFSET_DATA) == blob
        c.request(P.CMD_DISC)
        proc.stdin.close()
        rc = proc.wait(10)
        return (all(d[1] == P.SIMPLE and d[3] == b"" for d in done) and good == 4 and rc == 0,
                (done, good, rc))
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


case("-s over pipes (stdin and stdout separate): 16 MiB written, read back, exit 0 at EOF",
     stdio_pipes)


# ------------------------------------------------------------------ extended headers
def extended_io():
    c = P.transmission(srv.sock, "mem", extended=True, meta=True)
    pl = os.urandom(8192)
    k = c.request(P.CMD_WRITE, 2 * MiB, len(pl), flags=P.CMD_FLAG_PAYLOAD_LEN, payload=pl)
    w = c.chunks()
    c.request(P.CMD_READ, 2 * MiB, len(pl))
    r = c.chunks()
    c.request(P.CMD_BLOCK_STATUS, 2 * MiB - 4096, 3 * 4096)
    b = c.chunks()
    c.close()
    data = b"".join(x[3][8:] for x in r if x[1] == P.CHUNK_OFFSET_DATA)
    bp = b[0][3]
    ctx, count = struct.unpack(">II", bp[:8])
    ext = list(struct.unpack(">%dQ" % (2 * count), bp[8:]))
    return (w == [(P.REPLY_FLAG_DONE, P.CHUNK_NONE, k, b"")] and data == pl and
            b[0][1] == P.CHUNK_BLOCK_STATUS_EXT and ext == [4096, 3, 8192, 0]), (w, ext)


case("extended headers: WRITE with PAYLOAD_LEN, READ, BLOCK_STATUS_EXT", extended_io)


def extended_write_without_len():
    c = P.transmission(srv.sock, "mem", extended=True)
    c.request(P.CMD_WRITE, 0, 512, payload=b"\0" * 512)
    return c.closed(), "connection not closed"


case("extended headers: WRITE without PAYLOAD_LEN: server closes", extended_write_without_len)


def extended_read_with_payload():
    c = P.transmission(srv.sock, "disk", extended=True)
    c.request(P.CMD_READ, 0, 16, flags=P.CMD_FLAG_PAYLOAD_LEN, payload=b"\0" * 16)
    e = c.chunks()
    c.request(P.CMD_READ, 0, 16)
    r = c.chunks()
    c.close()
    return (P.chunk_error(e[-1][3]) == P.EINVAL and r[0][3][8:] == DISK[:16]), (e, r)


case("extended headers: READ with a payload: EINVAL, payload consumed", extended_read_with_payload)


# ------------------------------------------------------------------ block sizes a client must honour
try:
    os.close(os.open(disk, os.O_RDONLY | os.O_DIRECT))
    direct = True
except OSError:
    direct = False
if direct:
    dsrv = Server("--direct", "--export", "d=" + disk)

    def block_size_required():
        c = P.Conn(dsrv.sock)
        c.handshake()
        r = c.ask(P.OPT_GO, P.nstr("d") + struct.pack(">H", 0))
        bs = [struct.unpack(">III", d[2:]) for _, t, d in r
              if t == P.REP_INFO and d[:2] == b"\0\3"]
        info = c.go("d", [P.INFO_BLOCK_SIZE])
        c.request(P.CMD_READ, 512, 4096)
        e1 = c.simple_reply(4096)[0]
        c.request(P.CMD_READ, 4096, 4096)
        e2, _, data = c.simple_reply(4096)
        c.close()
        return (final_type(r) == P.REP_ERR_BLOCK_SIZE_REQD and bs == [(4096, 4096, 32 * MiB)] and
                struct.unpack(">III", info[P.INFO_BLOCK_SIZE])[0] == 4096 and
                (e1, e2, data) == (P.EINVAL, 0, DISK[4096:8192])), (r, e1, e2)

    def direct_serving(what):
        try:
            c = P.Conn(dsrv.sock)
            c.handshake()
            c.go("d", [P.INFO_BLOCK_SIZE])
            c.request(P.CMD_READ, 0, 4096)
            err, _, data = c.simple_reply(4096)
            c.close()
            good = (err, data) == (0, DISK[:4096]) and dsrv.alive()
            return tap.ok(good, "%s: then a new connection still works" % what, err)
        except Exception as e:
            return tap.ok(False, "%s: then a new connection still works" % what, repr(e))

    case("O_DIRECT export: GO without BLOCK_SIZE is ERR_BLOCK_SIZE_REQD (sizes sent first); "
         "with it, unaligned READ is EINVAL", block_size_required, direct_serving)

    def block_size_export_name():
        c = P.Conn(dsrv.sock)
        c.handshake()
        c.option(P.OPT_EXPORT_NAME, b"d")
        return c.closed(), "connection not closed"

    case("O_DIRECT export: EXPORT_NAME (which cannot promise block sizes): server closes",
         block_size_export_name, direct_serving)
    tap.eq(dsrv.stop(), 0, "O_DIRECT server exits 0 on SIGTERM")
else:
    tap.skip("O_DIRECT export: block sizes", "the scratch filesystem refuses O_DIRECT")

tap.ok(srv.alive(), "server survived everything")
tap.eq(srv.stop(), 0, "server exits 0 on SIGTERM")
tap.finish()
