/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Option payloads of the handshake, in both directions: INFO/GO requests, LIST/SET_META_CONTEXT
 * requests, and the NBD_REP_SERVER, NBD_REP_INFO, NBD_REP_META_CONTEXT and error replies.
 *
 * Decoders take the payload that followed an option header or option reply header and return views
 * (struct nbd_string) into it; nothing is allocated.
 */
#pragma once

#include "common/buffer.h"
#include "proto/wire.h"

/* ---- NBD_OPT_INFO / NBD_OPT_GO: u32 name length, name, u16 count, count × u16 info type ---- */
int nbd_info_request_encode(struct buffer *b, uint32_t option, const char *export_name,
			    const uint16_t *info_types, size_t n_info_types);

struct nbd_info_request {
	struct nbd_string name;
	uint16_t n_info_types;
	const uint8_t *info_types; /* n_info_types big-endian u16s; read with nbd_info_request_type() */
};
int nbd_info_request_decode(const void *payload, size_t len, struct nbd_info_request *ret);
uint16_t nbd_info_request_type(const struct nbd_info_request *r, size_t i);

/* ---- NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT:
 *      u32 name length, name, u32 count, count × (u32 length, query) ---- */
int nbd_meta_request_encode(struct buffer *b, uint32_t option, const char *export_name,
			    const char *const *queries, size_t n_queries);

struct nbd_meta_request {
	struct nbd_string name;
	uint32_t n_queries;
	const uint8_t *queries; /* the validated query list; iterate with nbd_meta_request_next() */
	size_t queries_len;
};
int nbd_meta_request_decode(const void *payload, size_t len, struct nbd_meta_request *ret);
/* Iterates the queries: *pos starts at 0; returns 1 with *ret set, or 0 after the last one. */
int nbd_meta_request_next(const struct nbd_meta_request *r, size_t *pos, struct nbd_string *ret);

/* ---- NBD_REP_SERVER (reply to LIST): u32 name length, name, description ---- */
int nbd_rep_server_encode(struct buffer *b, const char *name, const char *description);
int nbd_rep_server_decode(const void *payload, size_t len, struct nbd_string *ret_name,
			  struct nbd_string *ret_description);

/* ---- NBD_REP_INFO: u16 info type, then the item ---- */
struct nbd_info_item {
	uint16_t type;
	union {
		struct {
			uint64_t size;
			uint16_t transmission_flags;
		} export;
		struct nbd_string name;        /* NBD_INFO_NAME */
		struct nbd_string description; /* NBD_INFO_DESCRIPTION */
		struct {
			uint32_t minimum;
			uint32_t preferred;
			uint32_t maximum;
		} block_size;
		struct {
			const uint8_t *data;
			size_t len;
		} unknown; /* an info type this code does not know: the client ignores it */
	};
};
int nbd_rep_info_encode(struct buffer *b, uint32_t option, const struct nbd_info_item *item);
int nbd_rep_info_decode(const void *payload, size_t len, struct nbd_info_item *ret);
/* The spec's rules for the three block sizes: powers of two where required, minimum at most 64 KiB,
 * minimum ≤ preferred ≤ maximum (maximum need not be a power of two). -EINVAL otherwise. */
int nbd_block_size_check(uint32_t minimum, uint32_t preferred, uint32_t maximum);

/* ---- NBD_REP_META_CONTEXT: u32 context id, name ---- */
int nbd_rep_meta_context_encode(struct buffer *b, uint32_t option, uint32_t id, const char *name);
int nbd_rep_meta_context_decode(const void *payload, size_t len, uint32_t *ret_id,
				struct nbd_string *ret_name);

/* ---- error replies: the payload is an optional human-readable message ---- */
int nbd_rep_error_encode(struct buffer *b, uint32_t option, uint32_t type, const char *message);
/* Messages may be empty; a NUL inside is malformed. */
int nbd_rep_error_decode(const void *payload, size_t len, struct nbd_string *ret_message);
