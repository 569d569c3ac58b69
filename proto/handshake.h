/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Handshake framing: the server greeting, the client flags, option request and option reply headers,
 * and the reply to NBD_OPT_EXPORT_NAME. Option payloads are in option.h.
 */
#pragma once

#include "common/buffer.h"
#include "proto/wire.h"

/* ---- greeting (server → client) ---- */
void nbd_greeting_encode(uint16_t handshake_flags, uint8_t out[NBD_GREETING_SIZE]);
/* -EPROTONOSUPPORT for an oldstyle server, -EPROTO when the peer is not an NBD server. Unknown handshake
 * flags are kept in *ret_flags; the client ignores what it does not know. */
int nbd_greeting_decode(const void *buf, size_t len, uint16_t *ret_flags);

/* ---- client flags (client → server) ---- */
void nbd_client_flags_encode(uint32_t flags, uint8_t out[NBD_CLIENT_FLAGS_SIZE]);
/* -EPROTO for a flag the server did not offer or does not know: the spec requires it to drop the
 * connection then. */
int nbd_client_flags_decode(const void *buf, size_t len, uint16_t offered_handshake_flags,
			    uint32_t *ret_flags);

/* ---- option request (client → server) ---- */
struct nbd_option_header {
	uint32_t option;
	uint32_t length; /* payload bytes that follow */
};
void nbd_option_header_encode(uint32_t option, uint32_t length, uint8_t out[NBD_OPTION_HEADER_SIZE]);
int nbd_option_header_decode(const void *buf, size_t len, struct nbd_option_header *ret);
/* Appends a whole option request: header and payload. */
int nbd_option_encode(struct buffer *b, uint32_t option, const void *payload, size_t len);

/* ---- option reply (server → client) ---- */
struct nbd_option_reply_header {
	uint32_t option;
	uint32_t type;
	uint32_t length;
};
void nbd_option_reply_header_encode(uint32_t option, uint32_t type, uint32_t length,
				    uint8_t out[NBD_OPTION_REPLY_HEADER_SIZE]);
/* -EPROTO for a wrong magic or a reply to another option than expected_option; -EMSGSIZE when the
 * payload is longer than max_length. */
int nbd_option_reply_header_decode(const void *buf, size_t len, uint32_t expected_option,
				   uint32_t max_length, struct nbd_option_reply_header *ret);
/* Appends a whole option reply: header and payload. */
int nbd_option_reply_encode(struct buffer *b, uint32_t option, uint32_t type, const void *payload,
			    size_t len);

/* ---- reply to NBD_OPT_EXPORT_NAME (server → client): size, flags, and padding unless NO_ZEROES ---- */
int nbd_export_name_reply_encode(struct buffer *b, uint64_t size, uint16_t transmission_flags,
				 bool no_zeroes);
/* buf holds NBD_EXPORT_NAME_REPLY_SIZE bytes; the padding, if any, is the caller's to skip. */
int nbd_export_name_reply_decode(const void *buf, size_t len, uint64_t *ret_size,
				 uint16_t *ret_transmission_flags);
