/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every number of the NBD wire protocol, named as the specification names it
 * (NetworkBlockDevice/nbd doc/proto.md, including the extended-header extension).
 *
 * All integers on the wire are big-endian. Layout sizes are given as constants rather than packed
 * structs: the codecs in this directory read and write fields at fixed offsets, which keeps them free of
 * alignment and aliasing questions.
 */
#pragma once

#include <stdint.h>

/* ---- magic numbers ---- */
#define NBD_MAGIC UINT64_C(0x4e42444d41474943)          /* "NBDMAGIC", first word from the server */
#define NBD_OLDSTYLE_MAGIC UINT64_C(0x00420281861253)   /* second word of an oldstyle greeting */
#define NBD_IHAVEOPT UINT64_C(0x49484156454F5054)       /* "IHAVEOPT": newstyle greeting, every option */
#define NBD_REP_MAGIC UINT64_C(0x0003e889045565a9)      /* every fixed-newstyle option reply */
#define NBD_REQUEST_MAGIC UINT32_C(0x25609513)
#define NBD_EXTENDED_REQUEST_MAGIC UINT32_C(0x21e41c71)
#define NBD_SIMPLE_REPLY_MAGIC UINT32_C(0x67446698)
#define NBD_STRUCTURED_REPLY_MAGIC UINT32_C(0x668e33ef)
#define NBD_EXTENDED_REPLY_MAGIC UINT32_C(0x6e8a278c)

/* ---- handshake flags (server, 16 bits) ---- */
#define NBD_FLAG_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_NO_ZEROES (1u << 1)
#define NBD_HANDSHAKE_FLAGS_KNOWN (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES)

/* ---- client flags (32 bits) ---- */
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_C_NO_ZEROES (1u << 1)
#define NBD_CLIENT_FLAGS_KNOWN (NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)

/* ---- transmission flags (16 bits, per export) ---- */
#define NBD_FLAG_HAS_FLAGS (1u << 0)
#define NBD_FLAG_READ_ONLY (1u << 1)
#define NBD_FLAG_SEND_FLUSH (1u << 2)
#define NBD_FLAG_SEND_FUA (1u << 3)
#define NBD_FLAG_ROTATIONAL (1u << 4)
#define NBD_FLAG_SEND_TRIM (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN (1u << 8)
#define NBD_FLAG_SEND_RESIZE (1u << 9)
#define NBD_FLAG_SEND_CACHE (1u << 10)
#define NBD_FLAG_SEND_FAST_ZERO (1u << 11)
#define NBD_FLAG_BLOCK_STATUS_PAYLOAD (1u << 12)

/* ---- options ---- */
enum nbd_option {
	NBD_OPT_EXPORT_NAME = 1,
	NBD_OPT_ABORT = 2,
	NBD_OPT_LIST = 3,
	NBD_OPT_PEEK_EXPORT = 4, /* withdrawn; answered as unknown */
	NBD_OPT_STARTTLS = 5,
	NBD_OPT_INFO = 6,
	NBD_OPT_GO = 7,
	NBD_OPT_STRUCTURED_REPLY = 8,
	NBD_OPT_LIST_META_CONTEXT = 9,
	NBD_OPT_SET_META_CONTEXT = 10,
	NBD_OPT_EXTENDED_HEADERS = 11,
};

/* ---- option reply types; errors have bit 31 set ---- */
#define NBD_REP_ERR_BIT (UINT32_C(1) << 31)
enum nbd_reply_type {
	NBD_REP_ACK = 1,
	NBD_REP_SERVER = 2,
	NBD_REP_INFO = 3,
	NBD_REP_META_CONTEXT = 4,
	NBD_REP_ERR_UNSUP = NBD_REP_ERR_BIT + 1,
	NBD_REP_ERR_POLICY = NBD_REP_ERR_BIT + 2,
	NBD_REP_ERR_INVALID = NBD_REP_ERR_BIT + 3,
	NBD_REP_ERR_PLATFORM = NBD_REP_ERR_BIT + 4,
	NBD_REP_ERR_TLS_REQD = NBD_REP_ERR_BIT + 5,
	NBD_REP_ERR_UNKNOWN = NBD_REP_ERR_BIT + 6,
	NBD_REP_ERR_SHUTDOWN = NBD_REP_ERR_BIT + 7,
	NBD_REP_ERR_BLOCK_SIZE_REQD = NBD_REP_ERR_BIT + 8,
	NBD_REP_ERR_TOO_BIG = NBD_REP_ERR_BIT + 9,
	NBD_REP_ERR_EXT_HEADER_REQD = NBD_REP_ERR_BIT + 10,
};
#define NBD_REP_IS_ERR(t) (((uint32_t)(t) & NBD_REP_ERR_BIT) != 0)

/* ---- information items carried by NBD_REP_INFO ---- */
enum nbd_info_type {
	NBD_INFO_EXPORT = 0,
	NBD_INFO_NAME = 1,
	NBD_INFO_DESCRIPTION = 2,
	NBD_INFO_BLOCK_SIZE = 3,
};

/* ---- commands ---- */
enum nbd_cmd {
	NBD_CMD_READ = 0,
	NBD_CMD_WRITE = 1,
	NBD_CMD_DISC = 2,
	NBD_CMD_FLUSH = 3,
	NBD_CMD_TRIM = 4,
	NBD_CMD_CACHE = 5,
	NBD_CMD_WRITE_ZEROES = 6,
	NBD_CMD_BLOCK_STATUS = 7,
	NBD_CMD_RESIZE = 8,
};

/* ---- command flags ---- */
#define NBD_CMD_FLAG_FUA (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE (1u << 1)
#define NBD_CMD_FLAG_DF (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)
#define NBD_CMD_FLAG_PAYLOAD_LEN (1u << 5)

/* ---- structured reply chunk flags and types ---- */
#define NBD_REPLY_FLAG_DONE (1u << 0)
#define NBD_REPLY_TYPE_ERR_BIT (1u << 15)
enum nbd_chunk_type {
	NBD_REPLY_TYPE_NONE = 0,
	NBD_REPLY_TYPE_OFFSET_DATA = 1,
	NBD_REPLY_TYPE_OFFSET_HOLE = 2,
	NBD_REPLY_TYPE_BLOCK_STATUS = 5,
	NBD_REPLY_TYPE_BLOCK_STATUS_EXT = 6,
	NBD_REPLY_TYPE_ERROR = NBD_REPLY_TYPE_ERR_BIT + 1,
	NBD_REPLY_TYPE_ERROR_OFFSET = NBD_REPLY_TYPE_ERR_BIT + 2,
};
#define NBD_REPLY_TYPE_IS_ERR(t) (((t) & NBD_REPLY_TYPE_ERR_BIT) != 0)

/* ---- error values in replies (protocol numbers, not the host's errno) ---- */
enum nbd_error {
	NBD_SUCCESS = 0,
	NBD_EPERM = 1,
	NBD_EIO = 5,
	NBD_ENOMEM = 12,
	NBD_EINVAL = 22,
	NBD_ENOSPC = 28,
	NBD_EOVERFLOW = 75,
	NBD_ENOTSUP = 95,
	NBD_ESHUTDOWN = 108,
};

/* ---- base:allocation metadata context ---- */
#define NBD_META_BASE_ALLOCATION "base:allocation"
#define NBD_STATE_HOLE (1u << 0)
#define NBD_STATE_ZERO (1u << 1)

/* ---- wire sizes ---- */
#define NBD_OLDSTYLE_GREETING_SIZE 152      /* magic, cliserv magic, size, flags, 124 zeros */
#define NBD_GREETING_SIZE 18                /* NBDMAGIC, IHAVEOPT, handshake flags */
#define NBD_CLIENT_FLAGS_SIZE 4
#define NBD_OPTION_HEADER_SIZE 16           /* IHAVEOPT, option, length */
#define NBD_OPTION_REPLY_HEADER_SIZE 20     /* magic, option, type, length */
#define NBD_EXPORT_NAME_REPLY_SIZE 10       /* size, transmission flags */
#define NBD_EXPORT_NAME_PADDING 124         /* zeros after it unless NO_ZEROES */
#define NBD_REQUEST_SIZE 28
#define NBD_EXTENDED_REQUEST_SIZE 32
#define NBD_SIMPLE_REPLY_SIZE 16
#define NBD_STRUCTURED_REPLY_SIZE 20
#define NBD_EXTENDED_REPLY_SIZE 32
#define NBD_REPLY_HEADER_MAX 32

/* ---- limits ---- */
#define NBD_DEFAULT_PORT 10809
#define NBD_MAX_STRING 4096                 /* longest name or description a peer may send */
#define NBD_DEFAULT_MAX_PAYLOAD (32u << 20) /* portable READ/WRITE limit when none is advertised */
#define NBD_MAX_BLOCK_SIZE_MINIMUM (64u << 10)
#define NBD_MAX_EXTENTS (1u << 20)          /* block status extents per chunk a server should cap at */
