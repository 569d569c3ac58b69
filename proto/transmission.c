/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>

#include "common/unaligned.h"
#include "proto/cursor.h"
#include "proto/transmission.h"

int nbd_request_encode(const struct nbd_request *req, bool extended, void *out, size_t cap)
{
	uint8_t *p = out;
	size_t size = nbd_request_size(extended);

	if (cap < size)
		return -ENOBUFS;
	if (!extended && req->length > UINT32_MAX)
		return -EOVERFLOW;
	store_be32(p, extended ? NBD_EXTENDED_REQUEST_MAGIC : NBD_REQUEST_MAGIC);
	store_be16(p + 4, req->flags);
	store_be16(p + 6, req->type);
	store_be64(p + 8, req->cookie);
	store_be64(p + 16, req->offset);
	if (extended)
		store_be64(p + 24, req->length);
	else
		store_be32(p + 24, (uint32_t)req->length);
	return (int)size;
}

int nbd_request_decode(const void *buf, size_t len, bool extended, struct nbd_request *ret)
{
	struct cursor c = cursor_init(buf, len);
	uint32_t magic = cursor_be32(&c);
	struct nbd_request req = {
		.flags = cursor_be16(&c),
		.type = cursor_be16(&c),
		.cookie = cursor_be64(&c),
		.offset = cursor_be64(&c),
	};

	req.length = extended ? cursor_be64(&c) : cursor_be32(&c);
	if (c.bad)
		return -EBADMSG;
	if (magic != (extended ? NBD_EXTENDED_REQUEST_MAGIC : NBD_REQUEST_MAGIC))
		return -EPROTO;
	*ret = req;
	return (int)nbd_request_size(extended);
}

int nbd_reply_header_size(const void *buf, size_t len)
{
	if (len < 4)
		return -EBADMSG;
	switch (load_be32(buf)) {
	case NBD_SIMPLE_REPLY_MAGIC:
		return NBD_SIMPLE_REPLY_SIZE;
	case NBD_STRUCTURED_REPLY_MAGIC:
		return NBD_STRUCTURED_REPLY_SIZE;
	case NBD_EXTENDED_REPLY_MAGIC:
		return NBD_EXTENDED_REPLY_SIZE;
	default:
		return -EPROTO;
	}
}

int nbd_reply_header_decode(const void *buf, size_t len, bool extended, struct nbd_reply_header *ret)
{
	struct cursor c = cursor_init(buf, len);
	struct nbd_reply_header h = { 0 };
	uint32_t magic = cursor_be32(&c);

	if (c.bad)
		return -EBADMSG;
	switch (magic) {
	case NBD_SIMPLE_REPLY_MAGIC:
		if (extended)
			return -EPROTO;
		h.format = NBD_REPLY_FORMAT_SIMPLE;
		h.flags = NBD_REPLY_FLAG_DONE;
		h.type = NBD_REPLY_TYPE_NONE;
		h.error = cursor_be32(&c);
		h.cookie = cursor_be64(&c);
		break;
	case NBD_STRUCTURED_REPLY_MAGIC:
		if (extended)
			return -EPROTO;
		h.format = NBD_REPLY_FORMAT_STRUCTURED;
		h.flags = cursor_be16(&c);
		h.type = cursor_be16(&c);
		h.cookie = cursor_be64(&c);
		h.length = cursor_be32(&c);
		break;
	case NBD_EXTENDED_REPLY_MAGIC:
		if (!extended)
			return -EPROTO;
		h.format = NBD_REPLY_FORMAT_EXTENDED;
		h.flags = cursor_be16(&c);
		h.type = cursor_be16(&c);
		h.cookie = cursor_be64(&c);
		h.offset = cursor_be64(&c);
		h.length = cursor_be64(&c);
		break;
	default:
		return -EPROTO;
	}
	if (c.bad)
		return -EBADMSG;
	*ret = h;
	return (int)(len - c.left);
}

int nbd_simple_reply_encode(uint64_t cookie, uint32_t error, void *out, size_t cap)
{
	uint8_t *p = out;

	if (cap < NBD_SIMPLE_REPLY_SIZE)
		return -ENOBUFS;
	store_be32(p, NBD_SIMPLE_REPLY_MAGIC);
	store_be32(p + 4, error);
	store_be64(p + 8, cookie);
	return NBD_SIMPLE_REPLY_SIZE;
}

int nbd_chunk_header_encode(const struct nbd_reply_header *h, void *out, size_t cap)
{
	uint8_t *p = out;

	switch (h->format) {
	case NBD_REPLY_FORMAT_STRUCTURED:
		if (cap < NBD_STRUCTURED_REPLY_SIZE)
			return -ENOBUFS;
		if (h->length > UINT32_MAX)
			return -EOVERFLOW;
		store_be32(p, NBD_STRUCTURED_REPLY_MAGIC);
		store_be16(p + 4, h->flags);
		store_be16(p + 6, h->type);
		store_be64(p + 8, h->cookie);
		store_be32(p + 16, (uint32_t)h->length);
		return NBD_STRUCTURED_REPLY_SIZE;
	case NBD_REPLY_FORMAT_EXTENDED:
		if (cap < NBD_EXTENDED_REPLY_SIZE)
			return -ENOBUFS;
		store_be32(p, NBD_EXTENDED_REPLY_MAGIC);
		store_be16(p + 4, h->flags);
		store_be16(p + 6, h->type);
		store_be64(p + 8, h->cookie);
		store_be64(p + 16, h->offset);
		store_be64(p + 24, h->length);
		return NBD_EXTENDED_REPLY_SIZE;
	case NBD_REPLY_FORMAT_SIMPLE:
	default:
		return -EINVAL;
	}
}

void nbd_chunk_offset_data_prefix(uint64_t offset, uint8_t out[8])
{
	store_be64(out, offset);
}

int nbd_chunk_offset_data_decode(const void *payload, size_t len, uint64_t *ret_offset,
				 const uint8_t **ret_data, size_t *ret_data_len)
{
	struct cursor c = cursor_init(payload, len);
	uint64_t offset = cursor_be64(&c);

	/* A data chunk carries at least one byte of data. */
	if (c.bad || c.left == 0)
		return -EBADMSG;
	*ret_offset = offset;
	*ret_data = c.p;
	*ret_data_len = c.left;
	return 0;
}

void nbd_chunk_offset_hole_encode(uint64_t offset, uint32_t size, uint8_t out[12])
{
	store_be64(out, offset);
	store_be32(out + 8, size);
}

int nbd_chunk_offset_hole_decode(const void *payload, size_t len, uint64_t *ret_offset,
				 uint32_t *ret_size)
{
	struct cursor c = cursor_init(payload, len);
	uint64_t offset = cursor_be64(&c);
	uint32_t size = cursor_be32(&c);

	if (!cursor_done(&c) || size == 0)
		return -EBADMSG;
	*ret_offset = offset;
	*ret_size = size;
	return 0;
}

int nbd_chunk_block_status_encode(struct buffer *b, bool extended, uint32_t context_id,
				  const struct nbd_extent *extents, size_t n_extents)
{
	size_t at = b->len;

	if (n_extents == 0)
		return -EINVAL;
	if (extended && n_extents > UINT32_MAX)
		return -EINVAL;
	buffer_append_be32(b, context_id);
	if (extended)
		buffer_append_be32(b, (uint32_t)n_extents);
	for (size_t i = 0; i < n_extents; i++) {
		const struct nbd_extent *e = &extents[i];

		if (e->length == 0 ||
		    (!extended && (e->length > UINT32_MAX || e->flags > UINT32_MAX))) {
			if (!b->failed)
				b->len = at;
			return e->length == 0 ? -EINVAL : -EOVERFLOW;
		}
		if (extended) {
			buffer_append_be64(b, e->length);
			buffer_append_be64(b, e->flags);
		} else {
			buffer_append_be32(b, (uint32_t)e->length);
			buffer_append_be32(b, (uint32_t)e->flags);
		}
	}
	return buffer_error(b);
}

int nbd_chunk_block_status_decode(const void *payload, size_t len, uint16_t chunk_type,
				  struct nbd_block_status *ret)
{
	struct cursor c = cursor_init(payload, len);
	struct nbd_block_status bs = { .context_id = cursor_be32(&c) };
	size_t entry;

	switch (chunk_type) {
	case NBD_REPLY_TYPE_BLOCK_STATUS:
		entry = 8;
		bs.n_extents = c.left / entry;
		break;
	case NBD_REPLY_TYPE_BLOCK_STATUS_EXT:
		bs.extended = true;
		entry = 16;
		bs.n_extents = cursor_be32(&c);
		break;
	default:
		return -EINVAL;
	}
	if (c.bad || bs.n_extents == 0 || bs.n_extents > c.left / entry)
		return -EBADMSG;
	bs.extents = cursor_take(&c, bs.n_extents * entry);
	if (!cursor_done(&c))
		return -EBADMSG;
	for (size_t i = 0; i < bs.n_extents; i++)
		if (nbd_block_status_extent(&bs, i).length == 0)
			return -EBADMSG;
	*ret = bs;
	return 0;
}

struct nbd_extent nbd_block_status_extent(const struct nbd_block_status *bs, size_t i)
{
	const uint8_t *p;

	if (i >= bs->n_extents)
		return (struct nbd_extent){ 0 };
	if (bs->extended) {
		p = bs->extents + 16 * i;
		return (struct nbd_extent){ .length = load_be64(p), .flags = load_be64(p + 8) };
	}
	p = bs->extents + 8 * i;
	return (struct nbd_extent){ .length = load_be32(p), .flags = load_be32(p + 4) };
}

int nbd_chunk_error_encode(struct buffer *b, uint32_t error, const char *message, bool with_offset,
			   uint64_t offset)
{
	size_t len = message ? strlen(message) : 0;

	/* The spec caps the message at the 4096-byte string limit, below what the u16 could say. */
	if (error == 0 || len > NBD_MAX_STRING)
		return -EINVAL;
	buffer_append_be32(b, error);
	buffer_append_be16(b, (uint16_t)len);
	buffer_append(b, message, len);
	if (with_offset)
		buffer_append_be64(b, offset);
	return buffer_error(b);
}

int nbd_chunk_error_decode(const void *payload, size_t len, uint16_t chunk_type, uint32_t *ret_error,
			   struct nbd_string *ret_message, uint64_t *ret_offset)
{
	struct cursor c = cursor_init(payload, len);
	uint32_t error = cursor_be32(&c);
	uint16_t msglen = cursor_be16(&c);
	const uint8_t *msg = cursor_take(&c, msglen);
	uint64_t offset = 0;
	int r;

	if (!NBD_REPLY_TYPE_IS_ERR(chunk_type))
		return -EINVAL;
	if (chunk_type == NBD_REPLY_TYPE_ERROR_OFFSET) {
		offset = cursor_be64(&c);
		if (!cursor_done(&c))
			return -EBADMSG;
	} else if (chunk_type == NBD_REPLY_TYPE_ERROR) {
		if (!cursor_done(&c))
			return -EBADMSG;
	} else if (c.bad) {
		/* An error type this code does not know may carry more after the message. */
		return -EBADMSG;
	}
	if (error == 0)
		return -EBADMSG;
	r = nbd_string_check((const char *)msg, msglen);
	if (r < 0)
		return r;
	*ret_error = error;
	*ret_message = (struct nbd_string){ .ptr = (const char *)msg, .len = msglen };
	if (ret_offset)
		*ret_offset = offset;
	return 0;
}

int nbd_block_status_payload_encode(struct buffer *b, uint64_t effect_length, const uint32_t *ids,
				    size_t n_ids)
{
	buffer_append_be64(b, effect_length);
	for (size_t i = 0; i < n_ids; i++)
		buffer_append_be32(b, ids[i]);
	return buffer_error(b);
}

int nbd_block_status_payload_decode(const void *payload, size_t len,
				    struct nbd_block_status_payload *ret)
{
	struct cursor c = cursor_init(payload, len);
	struct nbd_block_status_payload p = { .effect_length = cursor_be64(&c) };

	if (c.bad || c.left % 4)
		return -EBADMSG;
	p.n_ids = c.left / 4;
	p.ids = cursor_take(&c, c.left);
	*ret = p;
	return 0;
}

uint32_t nbd_block_status_payload_id(const struct nbd_block_status_payload *p, size_t i)
{
	return i < p->n_ids ? load_be32(p->ids + 4 * i) : 0;
}
