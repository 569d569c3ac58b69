/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Transmission phase: request headers (compact and extended), reply headers (simple, structured chunk,
 * extended chunk) and the payloads of structured/extended chunks.
 */
#pragma once

#include "common/buffer.h"
#include "proto/wire.h"

/* ---- requests (client → server) ---- */
struct nbd_request {
	uint16_t flags; /* NBD_CMD_FLAG_* */
	uint16_t type;  /* NBD_CMD_* */
	uint64_t cookie;
	uint64_t offset;
	uint64_t length; /* compact headers carry 32 bits: larger values fail to encode with -EOVERFLOW */
};

static inline size_t nbd_request_size(bool extended)
{
	return extended ? NBD_EXTENDED_REQUEST_SIZE : NBD_REQUEST_SIZE;
}
/* Writes the header (28 or 32 bytes); returns its size, -ENOBUFS or -EOVERFLOW. */
int nbd_request_encode(const struct nbd_request *req, bool extended, void *out, size_t cap);
/* Returns the header size, -EBADMSG when buf is shorter, -EPROTO for a wrong magic. */
int nbd_request_decode(const void *buf, size_t len, bool extended, struct nbd_request *ret);

/* ---- replies (server → client) ---- */
enum nbd_reply_format {
	NBD_REPLY_FORMAT_SIMPLE,
	NBD_REPLY_FORMAT_STRUCTURED,
	NBD_REPLY_FORMAT_EXTENDED,
};

struct nbd_reply_header {
	enum nbd_reply_format format;
	uint16_t flags;  /* chunk flags (NBD_REPLY_FLAG_DONE); a simple reply is always done */
	uint16_t type;   /* chunk type; NBD_REPLY_TYPE_NONE for a simple reply */
	uint32_t error;  /* simple replies only: NBD_E* */
	uint64_t cookie;
	uint64_t offset; /* extended replies only: the request's offset */
	uint64_t length; /* payload bytes that follow a chunk header; 0 for a simple reply, whose data
			  * length (READ) is known only from the request */
};

/* From the first 4 bytes: the size of the whole reply header, or -EPROTO for an unknown magic and
 * -EBADMSG when fewer than 4 bytes are given. Simple and structured replies may both arrive once
 * structured replies are negotiated, so a reader learns the header size from the magic. */
int nbd_reply_header_size(const void *buf, size_t len);
/* Returns the header size. Extended headers forbid simple replies, and without them no extended reply
 * may come, so the caller says which headers were negotiated (-EPROTO otherwise). */
int nbd_reply_header_decode(const void *buf, size_t len, bool extended, struct nbd_reply_header *ret);

int nbd_simple_reply_encode(uint64_t cookie, uint32_t error, void *out, size_t cap);
/* Structured or extended chunk header; for STRUCTURED the payload length must fit in 32 bits. */
int nbd_chunk_header_encode(const struct nbd_reply_header *h, void *out, size_t cap);

/* ---- chunk payloads ---- */
/* OFFSET_DATA: u64 offset, then the data. Encodes the 8-byte prefix. */
void nbd_chunk_offset_data_prefix(uint64_t offset, uint8_t out[8]);
int nbd_chunk_offset_data_decode(const void *payload, size_t len, uint64_t *ret_offset,
				 const uint8_t **ret_data, size_t *ret_data_len);

/* OFFSET_HOLE: u64 offset, u32 hole size (nonzero). */
#define NBD_CHUNK_OFFSET_HOLE_SIZE 12
void nbd_chunk_offset_hole_encode(uint64_t offset, uint32_t size, uint8_t out[12]);
int nbd_chunk_offset_hole_decode(const void *payload, size_t len, uint64_t *ret_offset,
				 uint32_t *ret_size);

/* BLOCK_STATUS (u32 context, n × (u32 length, u32 flags)) and BLOCK_STATUS_EXT
 * (u32 context, u32 n, n × (u64 length, u64 flags)). */
struct nbd_extent {
	uint64_t length;
	uint64_t flags;
};
int nbd_chunk_block_status_encode(struct buffer *b, bool extended, uint32_t context_id,
				  const struct nbd_extent *extents, size_t n_extents);
struct nbd_block_status {
	uint32_t context_id;
	bool extended;
	size_t n_extents;
	const uint8_t *extents; /* read with nbd_block_status_extent() */
};
/* The chunk type decides the layout; at least one extent, none of length zero. */
int nbd_chunk_block_status_decode(const void *payload, size_t len, uint16_t chunk_type,
				  struct nbd_block_status *ret);
struct nbd_extent nbd_block_status_extent(const struct nbd_block_status *bs, size_t i);

/* ERROR (u32 error, u16 message length, message) and ERROR_OFFSET (... then u64 offset). */
int nbd_chunk_error_encode(struct buffer *b, uint32_t error, const char *message, bool with_offset,
			   uint64_t offset);
/* error is never 0; *ret_offset is set for ERROR_OFFSET only. An unknown error-type chunk (bit 15 set)
 * decodes as an error without offset when its payload has the common error prefix. */
int nbd_chunk_error_decode(const void *payload, size_t len, uint16_t chunk_type, uint32_t *ret_error,
			   struct nbd_string *ret_message, uint64_t *ret_offset);

/* ---- BLOCK_STATUS request payload (extended headers with BLOCK_STATUS_PAYLOAD):
 *      u64 effect length, n × u32 context id ---- */
int nbd_block_status_payload_encode(struct buffer *b, uint64_t effect_length, const uint32_t *ids,
				    size_t n_ids);
struct nbd_block_status_payload {
	uint64_t effect_length;
	size_t n_ids;
	const uint8_t *ids;
};
int nbd_block_status_payload_decode(const void *payload, size_t len,
				    struct nbd_block_status_payload *ret);
uint32_t nbd_block_status_payload_id(const struct nbd_block_status_payload *p, size_t i);
