#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes the seed corpora of the proto/ and server-config fuzz targets: corpus/<target>/seed-*
(server-connection's come from real clients: capture-server-seeds.py).

Seeds are valid messages of every kind, so that fuzzing starts from inputs that get past the magic
numbers and length checks, and the replay tests cover every decoder's success path. The messages are
built here from the protocol specification (NetworkBlockDevice/nbd doc/proto.md), independently of
the C encoders that the fuzz targets compare them with.

The generated files are committed; run this again after changing the input layout of a target (the
selector numbers and configuration bits below mirror the comments in fuzz-proto-*.c). Only files
named seed-* are replaced, so inputs added by hand or by a fuzzer (crash regressions) are kept.

Usage: tests/fuzz/make-seeds.py [CORPUS_DIR]   (default: corpus/ next to this script)
"""
import os
import struct
import sys

# ---------------------------------------------------------------- protocol numbers (nbd-protocol.h)
NBD_MAGIC = 0x4E42444D41474943
NBD_OLDSTYLE_MAGIC = 0x00420281861253
NBD_IHAVEOPT = 0x49484156454F5054
NBD_REP_MAGIC = 0x0003E889045565A9
NBD_REQUEST_MAGIC = 0x25609513
NBD_EXTENDED_REQUEST_MAGIC = 0x21E41C71
NBD_SIMPLE_REPLY_MAGIC = 0x67446698
NBD_STRUCTURED_REPLY_MAGIC = 0x668E33EF
NBD_EXTENDED_REPLY_MAGIC = 0x6E8A278C

FLAG_FIXED_NEWSTYLE = 1 << 0
FLAG_NO_ZEROES = 1 << 1

OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS = 1, 2, 3, 5
OPT_INFO, OPT_GO, OPT_STRUCTURED_REPLY = 6, 7, 8
OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT, OPT_EXTENDED_HEADERS = 9, 10, 11

REP_ACK, REP_SERVER, REP_INFO, REP_META_CONTEXT = 1, 2, 3, 4
ERR = 1 << 31
REP_ERR_UNSUP, REP_ERR_POLICY, REP_ERR_INVALID = ERR + 1, ERR + 2, ERR + 3
REP_ERR_TLS_REQD, REP_ERR_UNKNOWN, REP_ERR_SHUTDOWN = ERR + 5, ERR + 6, ERR + 7
REP_ERR_BLOCK_SIZE_REQD, REP_ERR_TOO_BIG = ERR + 8, ERR + 9

INFO_EXPORT, INFO_NAME, INFO_DESCRIPTION, INFO_BLOCK_SIZE = 0, 1, 2, 3

CMD_READ, CMD_WRITE, CMD_DISC, CMD_BLOCK_STATUS = 0, 1, 2, 7
CMD_FLAG_FUA, CMD_FLAG_REQ_ONE, CMD_FLAG_PAYLOAD_LEN = 1 << 0, 1 << 3, 1 << 5

REPLY_FLAG_DONE = 1 << 0
TYPE_NONE, TYPE_OFFSET_DATA, TYPE_OFFSET_HOLE = 0, 1, 2
TYPE_BLOCK_STATUS, TYPE_BLOCK_STATUS_EXT = 5, 6
TYPE_ERROR, TYPE_ERROR_OFFSET = (1 << 15) + 1, (1 << 15) + 2

# Transmission flags of a typical writable export: HAS_FLAGS, SEND_FLUSH, SEND_FUA, SEND_TRIM, ...
TFLAGS = 0x0001 | 0x0004 | 0x0008 | 0x0020 | 0x0040 | 0x0100


def be16(v):
    return struct.pack(">H", v)


def be32(v):
    return struct.pack(">I", v)


def be64(v):
    return struct.pack(">Q", v)


def string(s):
    """A u32-length-prefixed string, as names and meta context queries are sent."""
    b = s.encode()
    return be32(len(b)) + b


# ---------------------------------------------------------------- handshake messages
def greeting(flags=FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES):
    return be64(NBD_MAGIC) + be64(NBD_IHAVEOPT) + be16(flags)


def oldstyle_greeting(size=1 << 30, flags=TFLAGS):
    return be64(NBD_MAGIC) + be64(NBD_OLDSTYLE_MAGIC) + be64(size) + be32(flags) + bytes(124)


def option(opt, payload=b""):
    return be64(NBD_IHAVEOPT) + be32(opt) + be32(len(payload)) + payload


def reply(opt, rtype, payload=b""):
    return be64(NBD_REP_MAGIC) + be32(opt) + be32(rtype) + be32(len(payload)) + payload


def info_request(name, types):
    return string(name) + be16(len(types)) + b"".join(be16(t) for t in types)


def meta_request(name, queries):
    return string(name) + be32(len(queries)) + b"".join(string(q) for q in queries)


def rep_server(name, description=""):
    return string(name) + description.encode()


def info_export(size=1 << 30, flags=TFLAGS):
    return be16(INFO_EXPORT) + be64(size) + be16(flags)


def info_name(name):
    return be16(INFO_NAME) + name.encode()


def info_description(desc):
    return be16(INFO_DESCRIPTION) + desc.encode()


def info_block_size(minimum=512, preferred=4096, maximum=32 << 20):
    return be16(INFO_BLOCK_SIZE) + be32(minimum) + be32(preferred) + be32(maximum)


def meta_context(ctx_id, name):
    return be32(ctx_id) + name.encode()


def export_name_reply(size=1 << 30, flags=TFLAGS, no_zeroes=True):
    return be64(size) + be16(flags) + (b"" if no_zeroes else bytes(124))


# ---------------------------------------------------------------- transmission messages
def request(cmd, cookie, offset, length, flags=0, extended=False):
    if extended:
        return (be32(NBD_EXTENDED_REQUEST_MAGIC) + be16(flags) + be16(cmd) + be64(cookie) +
                be64(offset) + be64(length))
    return (be32(NBD_REQUEST_MAGIC) + be16(flags) + be16(cmd) + be64(cookie) + be64(offset) +
            be32(length))


def simple_reply(cookie, error=0):
    return be32(NBD_SIMPLE_REPLY_MAGIC) + be32(error) + be64(cookie)


def structured_reply(ctype, cookie, length, flags=REPLY_FLAG_DONE):
    return (be32(NBD_STRUCTURED_REPLY_MAGIC) + be16(flags) + be16(ctype) + be64(cookie) +
            be32(length))


def extended_reply(ctype, cookie, offset, length, flags=REPLY_FLAG_DONE):
    return (be32(NBD_EXTENDED_REPLY_MAGIC) + be16(flags) + be16(ctype) + be64(cookie) +
            be64(offset) + be64(length))


def block_status(ctx_id, extents):
    return be32(ctx_id) + b"".join(be32(length) + be32(flags) for length, flags in extents)


def block_status_ext(ctx_id, extents):
    return be32(ctx_id) + be32(len(extents)) + b"".join(be64(ln) + be64(fl) for ln, fl in extents)


def chunk_error(error, message, offset=None):
    m = message.encode()
    return be32(error) + be16(len(m)) + m + (b"" if offset is None else be64(offset))


# ------------------------------------------------------- fuzz-proto-decoders: selector + message
# enum target in fuzz-proto-decoders.c; 31 runs every decoder.
(T_GREETING, T_CLIENT_FLAGS, T_OPTION_HEADER, T_OPTION_REPLY_HEADER, T_EXPORT_NAME_REPLY,
 T_INFO_REQUEST, T_META_REQUEST, T_REP_SERVER, T_REP_INFO, T_REP_META_CONTEXT, T_REP_ERROR,
 T_REQUEST, T_REPLY_HEADER, T_OFFSET_DATA, T_OFFSET_HOLE, T_BLOCK_STATUS, T_CHUNK_ERROR,
 T_BLOCK_STATUS_PAYLOAD, T_NAMES) = range(19)
T_ALL = 31


def decoder_seeds():
    s = {}

    def add(name, target, msg):
        s[name] = bytes([target]) + msg

    add("greeting", T_GREETING, greeting())
    add("greeting-plain-newstyle", T_GREETING, greeting(0))
    add("greeting-unknown-flags", T_GREETING, greeting(0xFFFF))
    add("greeting-oldstyle", T_GREETING, oldstyle_greeting())
    add("client-flags", T_CLIENT_FLAGS, be32(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES))
    add("client-flags-fixed", T_CLIENT_FLAGS, be32(FLAG_FIXED_NEWSTYLE))
    add("option-header-go", T_OPTION_HEADER, be64(NBD_IHAVEOPT) + be32(OPT_GO) + be32(20))
    add("option-header-abort", T_OPTION_HEADER, option(OPT_ABORT))
    for opt, rtype, tag in ((OPT_GO, REP_ACK, "ack"), (OPT_LIST, REP_SERVER, "server"),
                            (OPT_GO, REP_INFO, "info"),
                            (OPT_SET_META_CONTEXT, REP_META_CONTEXT, "meta"),
                            (OPT_GO, REP_ERR_UNKNOWN, "err-unknown")):
        add("option-reply-header-" + tag, T_OPTION_REPLY_HEADER, be64(NBD_REP_MAGIC) + be32(opt) +
            be32(rtype) + be32(12))
    add("export-name-reply", T_EXPORT_NAME_REPLY, export_name_reply())
    add("info-request-go", T_INFO_REQUEST, info_request("disk", [INFO_NAME, INFO_DESCRIPTION,
                                                                 INFO_BLOCK_SIZE]))
    add("info-request-default", T_INFO_REQUEST, info_request("", []))
    add("meta-request-set", T_META_REQUEST, meta_request("disk", ["base:allocation",
                                                                  "qemu:dirty-bitmap:b0"]))
    add("meta-request-list-all", T_META_REQUEST, meta_request("", []))
    add("meta-request-empty-query", T_META_REQUEST, meta_request("disk", ["base:", ""]))
    add("rep-server", T_REP_SERVER, rep_server("disk", "The main disk"))
    add("rep-server-bare", T_REP_SERVER, rep_server(""))
    add("rep-info-export", T_REP_INFO, info_export())
    add("rep-info-name", T_REP_INFO, info_name("disk"))
    add("rep-info-description", T_REP_INFO, info_description("A disk"))
    add("rep-info-block-size", T_REP_INFO, info_block_size())
    add("rep-info-block-size-bad", T_REP_INFO, info_block_size(3, 1, 0))
    add("rep-info-unknown", T_REP_INFO, be16(0x1234) + b"future")
    add("rep-meta-context", T_REP_META_CONTEXT, meta_context(1, "base:allocation"))
    add("rep-error", T_REP_ERROR, b"no such export")
    add("rep-error-empty", T_REP_ERROR, b"")
    add("request-read", T_REQUEST, request(CMD_READ, 1, 4096, 65536))
    add("request-write-fua", T_REQUEST, request(CMD_WRITE, 2, 0, 512, CMD_FLAG_FUA) + bytes(512))
    add("request-ext-block-status", T_REQUEST,
        request(CMD_BLOCK_STATUS, 3, 0, 1 << 40, CMD_FLAG_PAYLOAD_LEN | CMD_FLAG_REQ_ONE, True))
    add("request-ext-disc", T_REQUEST, request(CMD_DISC, 4, 0, 0, 0, True))
    add("reply-simple", T_REPLY_HEADER, simple_reply(1))
    add("reply-simple-error", T_REPLY_HEADER, simple_reply(2, 5))
    add("reply-structured", T_REPLY_HEADER, structured_reply(TYPE_OFFSET_DATA, 3, 520, 0))
    add("reply-structured-none", T_REPLY_HEADER, structured_reply(TYPE_NONE, 4, 0))
    add("reply-extended", T_REPLY_HEADER, extended_reply(TYPE_BLOCK_STATUS_EXT, 5, 4096, 40))
    add("chunk-offset-data", T_OFFSET_DATA, be64(4096) + b"data")
    add("chunk-offset-hole", T_OFFSET_HOLE, be64(8192) + be32(4096))
    add("chunk-block-status", T_BLOCK_STATUS, block_status(1, [(4096, 0), (8192, 3)]))
    add("chunk-block-status-ext", T_BLOCK_STATUS, block_status_ext(1, [(1 << 33, 0), (4096, 1)]))
    add("chunk-error", T_CHUNK_ERROR, chunk_error(5, "I/O error"))
    add("chunk-error-offset", T_CHUNK_ERROR, chunk_error(28, "no space", 1 << 20))
    add("chunk-error-empty", T_CHUNK_ERROR, chunk_error(22, ""))
    add("block-status-payload", T_BLOCK_STATUS_PAYLOAD, be64(1 << 30) + be32(1) + be32(2))
    add("block-status-payload-no-ids", T_BLOCK_STATUS_PAYLOAD, be64(0))
    add("names", T_NAMES, be16(0xFFFF) + bytes([20]) + be32(OPT_GO) + be32(REP_ERR_TLS_REQD) +
        be32(TYPE_ERROR_OFFSET) + b"read-only")
    add("names-none", T_NAMES, be16(0x0001) + bytes([4]) + be32(5) + b"block-status-payload")
    add("all-option-reply", T_ALL, reply(OPT_GO, REP_INFO, info_export()))
    add("all-request", T_ALL, request(CMD_WRITE, 9, 0, 8))
    return s


# ------------------------------------------------ fuzz-proto-negotiate: config + server stream
ATTACH, INFO, LIST = 0, 1, 2
TLS, NO_OPT_GO, SR, EH, BLOCK_SIZE, TLS_FAILS = 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
META_ONE, META_TWO, META_BAD = 1, 2, 3
NAME_NULL, NAME_EMPTY, NAME_DISK, NAME_LONG = 0 << 2, 1 << 2, 2 << 2, 3 << 2
PIECEWISE_WRITES = 0x80


def chunking(k):
    return k << 4


def go_success(opt=OPT_GO, name="disk", block_size=False, extra=()):
    """The INFO items and the ACK that answer a successful INFO or GO."""
    out = reply(opt, REP_INFO, info_export())
    if block_size:
        out += reply(opt, REP_INFO, info_block_size())
    out += reply(opt, REP_INFO, info_name(name))
    out += reply(opt, REP_INFO, info_description("The main disk"))
    for item in extra:
        out += reply(opt, REP_INFO, item)
    return out + reply(opt, REP_ACK)


def negotiate_seeds():
    s = {}

    def add(name, b0, b1, stream):
        s[name] = bytes([b0, b1]) + stream

    g = greeting()
    add("attach-go", ATTACH, NAME_DISK, g + go_success())
    add("attach-go-default-export", ATTACH, NAME_NULL | chunking(1), g + go_success(name=""))
    add("attach-go-block-size", ATTACH | BLOCK_SIZE, NAME_DISK | chunking(3),
        g + go_success(block_size=True, extra=[be16(0x4242) + b"unknown item"]))
    add("attach-go-bad-block-size", ATTACH | BLOCK_SIZE, NAME_DISK,
        g + reply(OPT_GO, REP_INFO, info_export()) +
        reply(OPT_GO, REP_INFO, info_block_size(3, 2, 1)))
    add("attach-go-no-export-info", ATTACH, NAME_DISK, g + reply(OPT_GO, REP_ACK))
    add("attach-sr-meta", ATTACH | SR, NAME_DISK | META_TWO | PIECEWISE_WRITES,
        g + reply(OPT_STRUCTURED_REPLY, REP_ACK) +
        reply(OPT_SET_META_CONTEXT, REP_META_CONTEXT, meta_context(1, "base:allocation")) +
        reply(OPT_SET_META_CONTEXT, REP_META_CONTEXT,
              meta_context(2, "qemu:dirty-bitmap:bitmap0")) +
        reply(OPT_SET_META_CONTEXT, REP_ACK) + go_success())
    add("attach-eh-meta-block-size", ATTACH | SR | EH | BLOCK_SIZE,
        NAME_DISK | META_ONE | chunking(7),
        g + reply(OPT_EXTENDED_HEADERS, REP_ACK) +
        reply(OPT_SET_META_CONTEXT, REP_META_CONTEXT, meta_context(7, "base:allocation")) +
        reply(OPT_SET_META_CONTEXT, REP_ACK) + go_success(block_size=True))
    add("attach-eh-refused-sr", ATTACH | SR | EH, NAME_DISK | META_ONE,
        g + reply(OPT_EXTENDED_HEADERS, REP_ERR_UNSUP) + reply(OPT_STRUCTURED_REPLY, REP_ACK) +
        reply(OPT_SET_META_CONTEXT, REP_ERR_INVALID, b"no such context") + go_success())
    add("attach-sr-refused", ATTACH | SR, NAME_DISK | META_ONE,
        g + reply(OPT_STRUCTURED_REPLY, REP_ERR_POLICY) + go_success())
    add("attach-meta-bad-query", ATTACH | SR, NAME_DISK | META_BAD, g)
    add("attach-go-unsup-fallback", ATTACH, NAME_DISK,
        g + reply(OPT_GO, REP_ERR_UNSUP) + export_name_reply())
    add("attach-go-unsup-fallback-padding", ATTACH, NAME_DISK | chunking(2),
        greeting(FLAG_FIXED_NEWSTYLE) + reply(OPT_GO, REP_ERR_UNSUP) +
        export_name_reply(no_zeroes=False))
    add("attach-export-name-closed", ATTACH, NAME_DISK, g + reply(OPT_GO, REP_ERR_UNSUP))
    add("attach-no-opt-go", ATTACH | NO_OPT_GO, NAME_DISK, g + export_name_reply())
    add("attach-plain-newstyle", ATTACH, NAME_LONG,
        greeting(0) + export_name_reply(no_zeroes=False))
    add("attach-go-unknown-export", ATTACH, NAME_DISK,
        g + reply(OPT_GO, REP_ERR_UNKNOWN, b"no export called disk"))
    add("attach-go-tls-required", ATTACH, NAME_DISK, g + reply(OPT_GO, REP_ERR_TLS_REQD))
    add("attach-go-block-size-required", ATTACH, NAME_DISK,
        g + reply(OPT_GO, REP_ERR_BLOCK_SIZE_REQD, b"ask for block sizes"))
    add("attach-go-wrong-reply", ATTACH, NAME_DISK, g + reply(OPT_GO, REP_SERVER, rep_server("x")))
    add("attach-go-reply-to-other-option", ATTACH, NAME_DISK, g + reply(OPT_INFO, REP_ACK))
    add("attach-ack-with-payload", ATTACH, NAME_DISK, g + reply(OPT_GO, REP_ACK, b"junk"))
    add("attach-starttls", ATTACH | TLS, NAME_DISK,
        g + reply(OPT_STARTTLS, REP_ACK) + go_success())
    add("attach-starttls-sr-meta", ATTACH | TLS | SR, NAME_DISK | META_ONE | chunking(5),
        g + reply(OPT_STARTTLS, REP_ACK) + reply(OPT_STRUCTURED_REPLY, REP_ACK) +
        reply(OPT_SET_META_CONTEXT, REP_META_CONTEXT, meta_context(1, "base:allocation")) +
        reply(OPT_SET_META_CONTEXT, REP_ACK) + go_success())
    add("attach-starttls-refused", ATTACH | TLS, NAME_DISK,
        g + reply(OPT_STARTTLS, REP_ERR_POLICY, b"TLS is not configured"))
    add("attach-starttls-handshake-fails", ATTACH | TLS | TLS_FAILS, NAME_DISK,
        g + reply(OPT_STARTTLS, REP_ACK))
    add("attach-starttls-plain-newstyle", ATTACH | TLS, NAME_DISK, greeting(0))
    add("list", LIST, NAME_NULL,
        g + reply(OPT_LIST, REP_SERVER, rep_server("disk", "The main disk")) +
        reply(OPT_LIST, REP_SERVER, rep_server("")) + reply(OPT_LIST, REP_ACK) +
        reply(OPT_ABORT, REP_ACK))
    add("list-abort-closed", LIST, NAME_NULL | chunking(4) | PIECEWISE_WRITES,
        g + reply(OPT_LIST, REP_SERVER, rep_server("a")) + reply(OPT_LIST, REP_ACK))
    add("list-refused", LIST, NAME_NULL,
        g + reply(OPT_LIST, REP_ERR_POLICY, b"listing is disabled"))
    add("list-plain-newstyle", LIST, NAME_NULL, greeting(0))
    add("list-starttls", LIST | TLS, NAME_NULL,
        g + reply(OPT_STARTTLS, REP_ACK) + reply(OPT_LIST, REP_SERVER, rep_server("disk")) +
        reply(OPT_LIST, REP_ACK) + reply(OPT_ABORT, REP_ACK))
    add("info-sr-meta", INFO | BLOCK_SIZE, NAME_DISK,
        g + reply(OPT_STRUCTURED_REPLY, REP_ACK) +
        reply(OPT_LIST_META_CONTEXT, REP_META_CONTEXT, meta_context(1, "base:allocation")) +
        reply(OPT_LIST_META_CONTEXT, REP_META_CONTEXT, meta_context(2, "qemu:dirty-bitmap:b0")) +
        reply(OPT_LIST_META_CONTEXT, REP_ACK) + go_success(OPT_INFO, block_size=True) +
        reply(OPT_ABORT, REP_ACK))
    add("info-sr-refused", INFO, NAME_EMPTY | chunking(6),
        g + reply(OPT_STRUCTURED_REPLY, REP_ERR_UNSUP) + go_success(OPT_INFO, name=""))
    add("info-unsup-fallback", INFO, NAME_DISK,
        g + reply(OPT_STRUCTURED_REPLY, REP_ACK) + reply(OPT_LIST_META_CONTEXT, REP_ACK) +
        reply(OPT_INFO, REP_ERR_UNSUP) + export_name_reply())
    add("info-starttls", INFO | TLS, NAME_DISK,
        g + reply(OPT_STARTTLS, REP_ACK) + reply(OPT_STRUCTURED_REPLY, REP_ACK) +
        reply(OPT_LIST_META_CONTEXT, REP_ACK) + go_success(OPT_INFO) +
        reply(OPT_ABORT, REP_ERR_UNSUP))
    add("attach-closed-during-go", ATTACH, NAME_DISK, g + reply(OPT_GO, REP_INFO, info_export()))
    add("attach-go-malformed-info", ATTACH, NAME_DISK,
        g + reply(OPT_GO, REP_INFO, be16(INFO_EXPORT) + be32(0)))
    add("attach-go-unknown-reply-type", ATTACH, NAME_DISK, g + reply(OPT_GO, 0x77))
    add("attach-sr-unexpected-reply", ATTACH | SR, NAME_DISK,
        g + reply(OPT_STRUCTURED_REPLY, REP_SERVER, rep_server("disk")))
    add("attach-meta-malformed", ATTACH | SR, NAME_DISK | META_ONE,
        g + reply(OPT_STRUCTURED_REPLY, REP_ACK) +
        reply(OPT_SET_META_CONTEXT, REP_META_CONTEXT, be32(1)))
    add("list-malformed-server", LIST, NAME_NULL, g + reply(OPT_LIST, REP_SERVER, be32(10) + b"ab"))
    add("oldstyle", ATTACH, NAME_DISK, oldstyle_greeting())
    add("not-nbd", ATTACH, NAME_DISK, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    add("closed-at-once", ATTACH, NAME_DISK, b"")
    add("reply-too-long", ATTACH, NAME_DISK,
        g + be64(NBD_REP_MAGIC) + be32(OPT_GO) + be32(REP_INFO) + be32(1 << 20))
    return s


def with_malformed(seeds, trailing):
    """Adds each seed cut short by one byte and, if asked, with one byte too many: the error paths
    right next to every success, for the replay tests to run under the sanitizers."""
    out = dict(seeds)
    for name, data in seeds.items():
        if len(data) > 2:
            out[name + "-truncated"] = data[:-1]
        if trailing:
            out[name + "-trailing"] = data + b"\0"
    return out


def write_corpus(directory, seeds):
    os.makedirs(directory, exist_ok=True)
    for old in os.listdir(directory):
        if old.startswith("seed-"):
            os.unlink(os.path.join(directory, old))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(directory, "seed-" + name), "wb") as f:
            f.write(data)


# ---------------------------------------------------------------- server-config (fuzz-server-config.c)
CONFIG_FILES = {
    "generic-and-export": "[generic]\n\tport = 10809\n\tuser = nbd\n\tgroup = nbd\n"
                          "\tallowlist = true\n\tmaxconnections = 8\n\tmax_threads = 2\n"
                          "\thandshake_timeout = 10\n\tmax_connections_per_address = 4\n"
                          "[disk]\n\texportname = /srv/disk.img\n\treadonly = false\n"
                          "\tmultifile = false\n\tcopyonwrite = false\n\tflush = true\n"
                          "\tfua = true\n\ttrim = true\n\trotational = false\n"
                          "\tmaxconnections = 2\n\tfiledescription = a disk\n",
    "tls": "[generic]\n\tcertfile = /etc/nbd/cert.pem\n\tkeyfile = /etc/nbd/key.pem\n"
           "\tcacertfile = /etc/nbd/ca.pem\n\tforce_tls = true\n\ttlsprio = NORMAL\n"
           "[secure]\n\texportname = /srv/s.img\n\ttlsonly = true\n",
    "virtstyle": "[generic]\n[v]\n\texportname = /srv/%s.img\n\tvirtstyle = cidrhash 16\n"
                 "\tprerun = echo %s\n\tpostrun = echo done\n\ttransactionlog = /tmp/log\n",
    "cow": "[generic]\n[c]\n\texportname = /srv/c.img\n\tcopyonwrite = true\n"
           "\tcowdir = /tmp\n\tsparse_cow = true\n\ttemporary = false\n",
    "oddities": "# a comment\n[generic]\n;another\nport=1\n  \n[x]\nexportname=/a\n"
                "authfile = /nonexistent\nsize = 1G\n[x]\n",
    "includedir": "[generic]\nincludedir = /nonexistent.d\n",
}
COMMAND_LINES = {
    "reference-form": ["127.0.0.1@10809", "/srv/disk.img", "1G"],
    "exports": ["--export", "a=/srv/a.img", "--export", "b=memory:1M", "--description", "b",
                "-r", "--port", "10810", "--bind", "::1"],
    "memory": ["--memory", "64M", "--unix", "/run/nbd.sock", "--no-list", "-M", "4",
               "--max-connections-per-address", "2", "--handshake-timeout", "5"],
    "tls": ["--memory", "1M", "--tls=require", "--certfile", "/c", "--keyfile", "/k"],
    "config": ["-C", "/nonexistent", "-o", "section"],
    "stdio": ["-s", "--memory", "1M", "--threads", "1"],
    "bad": ["--port", "99999", "--allow", "300.1.1.1/33", "-c", "--cow-file"],
}


def config_seeds():
    seeds = {}
    for name, text in CONFIG_FILES.items():
        seeds["file-" + name] = b"\x00" + text.encode()
    for name, args in COMMAND_LINES.items():
        seeds["args-" + name] = b"\x01" + b"\x00".join(a.encode() for a in args)
    return seeds


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    write_corpus(os.path.join(top, "proto-decoders"), with_malformed(decoder_seeds(), True))
    # A conversation cut short is the server closing the connection in its last message.
    write_corpus(os.path.join(top, "proto-negotiate"), with_malformed(negotiate_seeds(), False))
    write_corpus(os.path.join(top, "server-config"), config_seeds())
    return 0


if __name__ == "__main__":
    sys.exit(main())
