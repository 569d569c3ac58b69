/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>

#include "common/unaligned.h"
#include "proto/cursor.h"
#include "proto/handshake.h"

void nbd_greeting_encode(uint16_t handshake_flags, uint8_t out[NBD_GREETING_SIZE])
{
	store_be64(out, NBD_MAGIC);
	store_be64(out + 8, NBD_IHAVEOPT);
	store_be16(out + 16, handshake_flags);
}

int nbd_greeting_decode(const void *buf, size_t len, uint16_t *ret_flags)
{
	struct cursor c = cursor_init(buf, len);
	uint64_t magic = cursor_be64(&c);
	uint64_t style = cursor_be64(&c);
	uint16_t flags = cursor_be16(&c);

	/* Judge the magic first: an oldstyle greeting is longer, a non-NBD peer anything at all. */
	if (len >= 16 && magic != NBD_MAGIC)
		return -EPROTO;
	if (len >= 16 && style == NBD_OLDSTYLE_MAGIC)
		return -EPROTONOSUPPORT;
	if (!cursor_done(&c))
		return -EBADMSG;
	if (style != NBD_IHAVEOPT)
		return -EPROTO;
	*ret_flags = flags;
	return 0;
}

void nbd_client_flags_encode(uint32_t flags, uint8_t out[NBD_CLIENT_FLAGS_SIZE])
{
	store_be32(out, flags);
}

int nbd_client_flags_decode(const void *buf, size_t len, uint16_t offered_handshake_flags,
			    uint32_t *ret_flags)
{
	struct cursor c = cursor_init(buf, len);
	uint32_t flags = cursor_be32(&c);
	uint32_t allowed = 0;

	if (!cursor_done(&c))
		return -EBADMSG;
	/* The spec makes the server drop a client that sets a flag not matching one it advertised,
	 * FIXED_NEWSTYLE included: each client flag answers the handshake flag of the same bit. */
	if (offered_handshake_flags & NBD_FLAG_FIXED_NEWSTYLE)
		allowed |= NBD_FLAG_C_FIXED_NEWSTYLE;
	if (offered_handshake_flags & NBD_FLAG_NO_ZEROES)
		allowed |= NBD_FLAG_C_NO_ZEROES;
	if (flags & ~allowed)
		return -EPROTO;
	*ret_flags = flags;
	return 0;
}

void nbd_option_header_encode(uint32_t option, uint32_t length, uint8_t out[NBD_OPTION_HEADER_SIZE])
{
	store_be64(out, NBD_IHAVEOPT);
	store_be32(out + 8, option);
	store_be32(out + 12, length);
}

int nbd_option_header_decode(const void *buf, size_t len, struct nbd_option_header *ret)
{
	struct cursor c = cursor_init(buf, len);
	uint64_t magic = cursor_be64(&c);
	uint32_t option = cursor_be32(&c);
	uint32_t length = cursor_be32(&c);

	if (!cursor_done(&c))
		return -EBADMSG;
	if (magic != NBD_IHAVEOPT)
		return -EPROTO;
	*ret = (struct nbd_option_header){ .option = option, .length = length };
	return 0;
}

int nbd_option_encode(struct buffer *b, uint32_t option, const void *payload, size_t len)
{
	uint8_t *hdr;

	if (len > UINT32_MAX)
		return -EOVERFLOW;
	hdr = buffer_append_space(b, NBD_OPTION_HEADER_SIZE);
	if (hdr)
		nbd_option_header_encode(option, (uint32_t)len, hdr);
	buffer_append(b, payload, len);
	return buffer_error(b);
}

void nbd_option_reply_header_encode(uint32_t option, uint32_t type, uint32_t length,
				    uint8_t out[NBD_OPTION_REPLY_HEADER_SIZE])
{
	store_be64(out, NBD_REP_MAGIC);
	store_be32(out + 8, option);
	store_be32(out + 12, type);
	store_be32(out + 16, length);
}

int nbd_option_reply_header_decode(const void *buf, size_t len, uint32_t expected_option,
				   uint32_t max_length, struct nbd_option_reply_header *ret)
{
	struct cursor c = cursor_init(buf, len);
	uint64_t magic = cursor_be64(&c);
	uint32_t option = cursor_be32(&c);
	uint32_t type = cursor_be32(&c);
	uint32_t length = cursor_be32(&c);

	if (!cursor_done(&c))
		return -EBADMSG;
	if (magic != NBD_REP_MAGIC || option != expected_option)
		return -EPROTO;
	if (length > max_length)
		return -EMSGSIZE;
	*ret = (struct nbd_option_reply_header){ .option = option, .type = type, .length = length };
	return 0;
}

int nbd_option_reply_encode(struct buffer *b, uint32_t option, uint32_t type, const void *payload,
			    size_t len)
{
	uint8_t *hdr;

	if (len > UINT32_MAX)
		return -EOVERFLOW;
	hdr = buffer_append_space(b, NBD_OPTION_REPLY_HEADER_SIZE);
	if (hdr)
		nbd_option_reply_header_encode(option, type, (uint32_t)len, hdr);
	buffer_append(b, payload, len);
	return buffer_error(b);
}

int nbd_export_name_reply_encode(struct buffer *b, uint64_t size, uint16_t transmission_flags,
				 bool no_zeroes)
{
	buffer_append_be64(b, size);
	buffer_append_be16(b, transmission_flags);
	if (!no_zeroes)
		buffer_append_zeros(b, NBD_EXPORT_NAME_PADDING);
	return buffer_error(b);
}

int nbd_export_name_reply_decode(const void *buf, size_t len, uint64_t *ret_size,
				 uint16_t *ret_transmission_flags)
{
	struct cursor c = cursor_init(buf, len);
	uint64_t size = cursor_be64(&c);
	uint16_t flags = cursor_be16(&c);

	if (!cursor_done(&c))
		return -EBADMSG;
	*ret_size = size;
	*ret_transmission_flags = flags;
	return 0;
}
