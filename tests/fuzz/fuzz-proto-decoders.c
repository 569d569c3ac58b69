/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every decoder of proto/ on hostile bytes.
 *
 * Input: one selector byte, then the message. The selector's low 5 bits pick one decoder (enum
 * target; make-seeds.py repeats these numbers); the values past the last one run every decoder on
 * the same message, so the fuzzer also finds out what one decoder makes of another's messages. The
 * high 3 bits are ignored.
 *
 * The message is copied into a heap block of exactly its size: ASan then reports a read of even one
 * byte past its end, which inside libFuzzer's own, larger buffer could go unnoticed.
 *
 * Where a decode succeeds, the matching encoder must give back the bytes that were accepted. That
 * holds because every decoder checks lengths exactly (a string's length prefix, a trailing byte, a
 * count), so an accepted message has a single encoding. The exceptions, checked on their prefix
 * only, are the request and reply headers (they decode the front of a longer buffer) and error
 * chunks of unknown type (whose payload may carry more after the message).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buffer.h"
#include "common/unaligned.h"
#include "proto/handshake.h"
#include "proto/names.h"
#include "proto/option.h"
#include "proto/transmission.h"
#include "tests/fuzz/fuzz.h"

enum target {
	T_GREETING,
	T_CLIENT_FLAGS,
	T_OPTION_HEADER,
	T_OPTION_REPLY_HEADER,
	T_EXPORT_NAME_REPLY,
	T_INFO_REQUEST,
	T_META_REQUEST,
	T_REP_SERVER,
	T_REP_INFO,
	T_REP_META_CONTEXT,
	T_REP_ERROR,
	T_REQUEST,
	T_REPLY_HEADER,
	T_OFFSET_DATA,
	T_OFFSET_HOLE,
	T_BLOCK_STATUS,
	T_CHUNK_ERROR,
	T_BLOCK_STATUS_PAYLOAD,
	T_NAMES,
	_T_MAX, /* this and above, up to 31: all of them */
};

/* The failures wire.h allows a decoder: anything else (a positive value, -ENOMEM) breaks the
 * contract callers rely on to tell a malformed message from their own trouble. -EINVAL is the chunk
 * decoders' answer to a chunk type that is not theirs. */
static void check_decode_result(int r)
{
	FUZZ_CHECK(r >= 0 || r == -EBADMSG || r == -EPROTO || r == -EMSGSIZE ||
		   r == -EPROTONOSUPPORT || r == -EINVAL);
}

static void check_same(const void *a, size_t alen, const void *b, size_t blen)
{
	FUZZ_CHECK(alen == blen);
	FUZZ_CHECK(alen == 0 || memcmp(a, b, alen) == 0);
}

/* A view a decoder returns must lie inside the message it was given. */
static void check_within(const uint8_t *m, size_t len, const void *p, size_t n)
{
	uintptr_t start = (uintptr_t)m, at = (uintptr_t)p;

	if (n == 0)
		return;
	FUZZ_CHECK(p && at >= start && n <= len && at - start <= len - n);
}

/* A received string as the encoders take it. A decoded string never contains a NUL, so strlen() of
 * the copy must give its length back. */
static char *checked_string(const uint8_t *m, size_t len, struct nbd_string s)
{
	char *c;

	check_within(m, len, s.ptr, s.len);
	FUZZ_CHECK(s.len <= NBD_MAX_STRING);
	c = nbd_string_dup(s);
	if (!c)
		abort();
	FUZZ_CHECK(strlen(c) == s.len);
	FUZZ_CHECK(nbd_string_eq(s, c));
	return c;
}

/* Encoders of whole option requests and replies frame the payload with a header: check the header
 * and that the payload is the decoded message. */
static void check_option_request(const struct buffer *b, uint32_t option, const uint8_t *payload,
				 size_t len)
{
	struct nbd_option_header h;

	FUZZ_CHECK(!b->failed && b->len == NBD_OPTION_HEADER_SIZE + len);
	FUZZ_CHECK(nbd_option_header_decode(b->data, NBD_OPTION_HEADER_SIZE, &h) == 0);
	FUZZ_CHECK(h.option == option && h.length == len);
	check_same(b->data + NBD_OPTION_HEADER_SIZE, len, payload, len);
}

static void check_option_reply(const struct buffer *b, uint32_t option, uint32_t type,
			       const uint8_t *payload, size_t len)
{
	struct nbd_option_reply_header h;

	FUZZ_CHECK(!b->failed && b->len == NBD_OPTION_REPLY_HEADER_SIZE + len);
	FUZZ_CHECK(nbd_option_reply_header_decode(b->data, NBD_OPTION_REPLY_HEADER_SIZE, option,
						  UINT32_MAX, &h) == 0);
	FUZZ_CHECK(h.type == type && h.length == len);
	check_same(b->data + NBD_OPTION_REPLY_HEADER_SIZE, len, payload, len);
}

/* ---------------------------------------------------------------- handshake.h */

static void fuzz_greeting(const uint8_t *m, size_t len)
{
	uint8_t out[NBD_GREETING_SIZE];
	uint16_t flags;
	int r = nbd_greeting_decode(m, len, &flags);

	check_decode_result(r);
	if (r < 0)
		return;
	nbd_greeting_encode(flags, out);
	check_same(out, sizeof(out), m, len);
}

static void fuzz_client_flags(const uint8_t *m, size_t len)
{
	/* What the server offered decides which client flags are legal; 0xffff adds bits nobody
	 * knows, which must not make unknown client flags acceptable. */
	static const uint16_t offers[] = { 0, NBD_FLAG_FIXED_NEWSTYLE,
					   NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES, 0xffff };

	for (size_t i = 0; i < ELEMENTSOF(offers); i++) {
		uint8_t out[NBD_CLIENT_FLAGS_SIZE];
		uint32_t flags;
		int r = nbd_client_flags_decode(m, len, offers[i], &flags);

		check_decode_result(r);
		if (r < 0)
			continue;
		FUZZ_CHECK((flags & ~(uint32_t)offers[i]) == 0);
		FUZZ_CHECK((flags & ~NBD_CLIENT_FLAGS_KNOWN) == 0);
		nbd_client_flags_encode(flags, out);
		check_same(out, sizeof(out), m, len);
	}
}

static void fuzz_option_header(const uint8_t *m, size_t len)
{
	uint8_t out[NBD_OPTION_HEADER_SIZE];
	struct nbd_option_header h;
	int r = nbd_option_header_decode(m, len, &h);

	check_decode_result(r);
	if (r < 0)
		return;
	nbd_option_header_encode(h.option, h.length, out);
	check_same(out, sizeof(out), m, len);
}

static void fuzz_option_reply_header(const uint8_t *m, size_t len)
{
	/* The option the reply claims to answer (so the success path is reachable) and one it most
	 * likely does not; no limit, and the limit negotiate.c uses. */
	uint32_t own = len >= 12 ? load_be32(m + 8) : 0;
	const uint32_t options[] = { own, NBD_OPT_GO };
	const uint32_t limits[] = { UINT32_MAX, 64u << 10 };

	for (size_t i = 0; i < ELEMENTSOF(options); i++)
		for (size_t j = 0; j < ELEMENTSOF(limits); j++) {
			uint8_t out[NBD_OPTION_REPLY_HEADER_SIZE];
			struct nbd_option_reply_header h;
			int r = nbd_option_reply_header_decode(m, len, options[i], limits[j], &h);

			check_decode_result(r);
			if (r < 0)
				continue;
			FUZZ_CHECK(h.option == options[i] && h.length <= limits[j]);
			nbd_option_reply_header_encode(h.option, h.type, h.length, out);
			check_same(out, sizeof(out), m, len);
		}
}

static void fuzz_export_name_reply(const uint8_t *m, size_t len)
{
	struct buffer b = BUFFER_INIT;
	uint64_t size;
	uint16_t flags;
	int r = nbd_export_name_reply_decode(m, len, &size, &flags);

	check_decode_result(r);
	if (r < 0)
		return;
	FUZZ_CHECK(nbd_export_name_reply_encode(&b, size, flags, true) == 0);
	check_same(b.data, b.len, m, len);
	/* Without NO_ZEROES the same reply is followed by the zero padding. */
	buffer_reset(&b);
	FUZZ_CHECK(nbd_export_name_reply_encode(&b, size, flags, false) == 0);
	FUZZ_CHECK(b.len == len + NBD_EXPORT_NAME_PADDING);
	check_same(b.data, len, m, len);
	for (size_t i = len; i < b.len; i++)
		FUZZ_CHECK(b.data[i] == 0);
	buffer_free(&b);
}

/* ---------------------------------------------------------------- option.h */

static void fuzz_info_request(const uint8_t *m, size_t len)
{
	struct buffer b = BUFFER_INIT;
	struct nbd_info_request req;
	uint16_t *types;
	char *name;
	int r = nbd_info_request_decode(m, len, &req);

	check_decode_result(r);
	if (r < 0)
		return;
	name = checked_string(m, len, req.name);
	check_within(m, len, req.info_types, (size_t)req.n_info_types * 2);
	types = malloc(((size_t)req.n_info_types + 1) * sizeof(*types));
	if (!types)
		abort();
	for (size_t i = 0; i < req.n_info_types; i++)
		types[i] = nbd_info_request_type(&req, i);
	/* Past the end is answered, not read. */
	FUZZ_CHECK(nbd_info_request_type(&req, req.n_info_types) == UINT16_MAX);

	FUZZ_CHECK(nbd_info_request_encode(&b, NBD_OPT_GO, name, types, req.n_info_types) == 0);
	check_option_request(&b, NBD_OPT_GO, m, len);
	buffer_free(&b);
	free(types);
	free(name);
}

static void fuzz_meta_request(const uint8_t *m, size_t len)
{
	struct buffer b = BUFFER_INIT;
	struct nbd_meta_request req;
	struct nbd_string q;
	char **queries;
	char *name;
	size_t pos = 0, count = 0;
	int r = nbd_meta_request_decode(m, len, &req);

	check_decode_result(r);
	if (r < 0)
		return;
	name = checked_string(m, len, req.name);
	check_within(m, len, req.queries, req.queries_len);
	/* Each query takes at least its 4-byte length, which is what bounds this allocation. */
	FUZZ_CHECK(req.n_queries <= req.queries_len / 4);
	queries = calloc((size_t)req.n_queries + 1, sizeof(*queries));
	if (!queries)
		abort();
	while (nbd_meta_request_next(&req, &pos, &q)) {
		FUZZ_CHECK(count < req.n_queries);
		queries[count++] = checked_string(m, len, q);
	}
	/* The iteration visits exactly the announced queries and stays finished. */
	FUZZ_CHECK(count == req.n_queries && pos == req.queries_len);
	FUZZ_CHECK(nbd_meta_request_next(&req, &pos, &q) == 0);

	FUZZ_CHECK(nbd_meta_request_encode(&b, NBD_OPT_SET_META_CONTEXT, name,
					   (const char *const *)queries, count) == 0);
	check_option_request(&b, NBD_OPT_SET_META_CONTEXT, m, len);
	buffer_free(&b);
	for (size_t i = 0; i < count; i++)
		free(queries[i]);
	free(queries);
	free(name);
}

static void fuzz_rep_server(const uint8_t *m, size_t len)
{
	struct buffer b = BUFFER_INIT;
	struct nbd_string name, desc;
	char *cname, *cdesc;
	int r = nbd_rep_server_decode(m, len, &name, &desc);

	check_decode_result(r);
	if (r < 0)
		return;
	cname = checked_string(m, len, name);
	cdesc = checked_string(m, len, desc);
	FUZZ_CHECK(nbd_rep_server_encode(&b, cname, cdesc) == 0);
	check_option_reply(&b, NBD_OPT_LIST, NBD_REP_SERVER, m, len);
	buffer_free(&b);
	free(cname);
	free(cdesc);
}

static void fuzz_rep_info(const uint8_t *m, size_t len)
{
	struct buffer b = BUFFER_INIT;
	struct nbd_info_item item;
	char *s;
	int r = nbd_rep_info_decode(m, len, &item);

	check_decode_result(r);
	if (r < 0)
		return;
	switch (item.type) {
	case NBD_INFO_NAME:
	case NBD_INFO_DESCRIPTION:
		s = checked_string(m, len,
				   item.type == NBD_INFO_NAME ? item.name : item.description);
		free(s);
		break;
	case NBD_INFO_BLOCK_SIZE:
		/* Any three numbers: the check must judge them, not trap on them. */
		r = nbd_block_size_check(item.block_size.minimum, item.block_size.preferred,
					 item.block_size.maximum);
		FUZZ_CHECK(r == 0 || r == -EINVAL);
		break;
	case NBD_INFO_EXPORT:
		break;
	default:
		check_within(m, len, item.unknown.data, item.unknown.len);
		break;
	}
	FUZZ_CHECK(nbd_rep_info_encode(&b, NBD_OPT_INFO, &item) == 0);
	check_option_reply(&b, NBD_OPT_INFO, NBD_REP_INFO, m, len);
	buffer_free(&b);
}

static void fuzz_rep_meta_context(const uint8_t *m, size_t len)
{
	struct buffer b = BUFFER_INIT;
	struct nbd_string name;
	uint32_t id;
	char *cname;
	int r = nbd_rep_meta_context_decode(m, len, &id, &name);

	check_decode_result(r);
	if (r < 0)
		return;
	cname = checked_string(m, len, name);
	FUZZ_CHECK(name.len > 0);
	FUZZ_CHECK(nbd_rep_meta_context_encode(&b, NBD_OPT_LIST_META_CONTEXT, id, cname) == 0);
	check_option_reply(&b, NBD_OPT_LIST_META_CONTEXT, NBD_REP_META_CONTEXT, m, len);
	buffer_free(&b);
	free(cname);
}

static void fuzz_rep_error(const uint8_t *m, size_t len)
{
	struct buffer b = BUFFER_INIT;
	struct nbd_string msg;
	char *cmsg;
	int r = nbd_rep_error_decode(m, len, &msg);

	check_decode_result(r);
	if (r < 0)
		return;
	cmsg = checked_string(m, len, msg);
	FUZZ_CHECK(nbd_rep_error_encode(&b, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, cmsg) == 0);
	check_option_reply(&b, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, m, len);
	buffer_free(&b);
	free(cmsg);
}

/* ---------------------------------------------------------------- transmission.h */

static void fuzz_request(const uint8_t *m, size_t len)
{
	for (int ext = 0; ext < 2; ext++) {
		uint8_t out[NBD_EXTENDED_REQUEST_SIZE];
		struct nbd_request req;
		int r = nbd_request_decode(m, len, ext, &req);

		check_decode_result(r);
		if (r < 0)
			continue;
		FUZZ_CHECK((size_t)r == nbd_request_size(ext) && (size_t)r <= len);
		FUZZ_CHECK(ext || req.length <= UINT32_MAX);
		FUZZ_CHECK(nbd_request_encode(&req, ext, out, sizeof(out)) == r);
		check_same(out, (size_t)r, m, (size_t)r);
	}
}

static void fuzz_reply_header(const uint8_t *m, size_t len)
{
	int size = nbd_reply_header_size(m, len);

	check_decode_result(size);
	FUZZ_CHECK(size < 0 || size == NBD_SIMPLE_REPLY_SIZE || size == NBD_STRUCTURED_REPLY_SIZE ||
		   size == NBD_EXTENDED_REPLY_SIZE);
	for (int ext = 0; ext < 2; ext++) {
		uint8_t out[NBD_REPLY_HEADER_MAX];
		struct nbd_reply_header h;
		int r = nbd_reply_header_decode(m, len, ext, &h), enc;

		check_decode_result(r);
		if (r < 0)
			continue;
		/* A reader sizes its read with nbd_reply_header_size(): the decoder must agree. */
		FUZZ_CHECK(r == size && (size_t)r <= len);
		switch (h.format) {
		case NBD_REPLY_FORMAT_SIMPLE:
			FUZZ_CHECK(!ext && h.flags == NBD_REPLY_FLAG_DONE &&
				   h.type == NBD_REPLY_TYPE_NONE);
			FUZZ_CHECK(h.offset == 0 && h.length == 0);
			enc = nbd_simple_reply_encode(h.cookie, h.error, out, sizeof(out));
			break;
		case NBD_REPLY_FORMAT_STRUCTURED:
			FUZZ_CHECK(!ext && h.error == 0 && h.offset == 0 && h.length <= UINT32_MAX);
			enc = nbd_chunk_header_encode(&h, out, sizeof(out));
			break;
		case NBD_REPLY_FORMAT_EXTENDED:
			FUZZ_CHECK(ext && h.error == 0);
			enc = nbd_chunk_header_encode(&h, out, sizeof(out));
			break;
		default:
			FUZZ_CHECK(!"unknown reply format");
			return;
		}
		FUZZ_CHECK(enc == r);
		check_same(out, (size_t)r, m, (size_t)r);
	}
}

static void fuzz_offset_data(const uint8_t *m, size_t len)
{
	uint8_t prefix[8];
	const uint8_t *data;
	size_t data_len;
	uint64_t offset;
	int r = nbd_chunk_offset_data_decode(m, len, &offset, &data, &data_len);

	check_decode_result(r);
	if (r < 0)
		return;
	/* The data is the rest of the chunk, in place, and never empty. */
	FUZZ_CHECK(len > 8 && data == m + 8 && data_len == len - 8);
	nbd_chunk_offset_data_prefix(offset, prefix);
	check_same(prefix, sizeof(prefix), m, 8);
}

static void fuzz_offset_hole(const uint8_t *m, size_t len)
{
	uint8_t out[NBD_CHUNK_OFFSET_HOLE_SIZE];
	uint64_t offset;
	uint32_t size;
	int r = nbd_chunk_offset_hole_decode(m, len, &offset, &size);

	check_decode_result(r);
	if (r < 0)
		return;
	FUZZ_CHECK(size != 0);
	nbd_chunk_offset_hole_encode(offset, size, out);
	check_same(out, sizeof(out), m, len);
}

static void fuzz_block_status(const uint8_t *m, size_t len)
{
	/* OFFSET_DATA is not a block status chunk: the decoder must refuse to guess its layout. */
	static const uint16_t types[] = {
		NBD_REPLY_TYPE_BLOCK_STATUS,
		NBD_REPLY_TYPE_BLOCK_STATUS_EXT,
		NBD_REPLY_TYPE_OFFSET_DATA,
	};

	for (size_t t = 0; t < ELEMENTSOF(types); t++) {
		struct buffer b = BUFFER_INIT;
		struct nbd_block_status bs;
		struct nbd_extent *extents, past;
		int r = nbd_chunk_block_status_decode(m, len, types[t], &bs);

		check_decode_result(r);
		if (types[t] == NBD_REPLY_TYPE_OFFSET_DATA)
			FUZZ_CHECK(r == -EINVAL);
		if (r < 0)
			continue;
		FUZZ_CHECK(bs.extended == (types[t] == NBD_REPLY_TYPE_BLOCK_STATUS_EXT));
		FUZZ_CHECK(bs.n_extents > 0);
		check_within(m, len, bs.extents, bs.n_extents * (bs.extended ? 16 : 8));
		extents = malloc(bs.n_extents * sizeof(*extents));
		if (!extents)
			abort();
		for (size_t i = 0; i < bs.n_extents; i++) {
			extents[i] = nbd_block_status_extent(&bs, i);
			FUZZ_CHECK(extents[i].length != 0);
		}
		past = nbd_block_status_extent(&bs, bs.n_extents);
		FUZZ_CHECK(past.length == 0 && past.flags == 0);

		FUZZ_CHECK(nbd_chunk_block_status_encode(&b, bs.extended, bs.context_id, extents,
							 bs.n_extents) == 0);
		check_same(b.data, b.len, m, len);
		buffer_free(&b);
		free(extents);
	}
}

static void fuzz_chunk_error(const uint8_t *m, size_t len)
{
	/* The two known error chunks, two unknown ones (bit 15 set), and one that is no error. */
	static const uint16_t types[] = { NBD_REPLY_TYPE_ERROR, NBD_REPLY_TYPE_ERROR_OFFSET,
					  NBD_REPLY_TYPE_ERR_BIT, NBD_REPLY_TYPE_ERR_BIT | 0x1234,
					  NBD_REPLY_TYPE_OFFSET_HOLE };

	for (size_t t = 0; t < ELEMENTSOF(types); t++) {
		struct buffer b = BUFFER_INIT;
		bool with_offset = types[t] == NBD_REPLY_TYPE_ERROR_OFFSET;
		struct nbd_string msg;
		uint64_t offset = UINT64_MAX;
		uint32_t error;
		char *cmsg;
		int r;

		/* ERROR has no offset, so a caller may pass NULL for it. */
		r = nbd_chunk_error_decode(m, len, types[t], &error, &msg,
					   types[t] == NBD_REPLY_TYPE_ERROR ? NULL : &offset);
		check_decode_result(r);
		if (!NBD_REPLY_TYPE_IS_ERR(types[t]))
			FUZZ_CHECK(r == -EINVAL);
		if (r < 0)
			continue;
		FUZZ_CHECK(error != 0);
		if (types[t] != NBD_REPLY_TYPE_ERROR && !with_offset)
			FUZZ_CHECK(offset == 0);
		cmsg = checked_string(m, len, msg);
		FUZZ_CHECK(nbd_chunk_error_encode(&b, error, cmsg, with_offset, offset) == 0);
		if (types[t] == NBD_REPLY_TYPE_ERROR || with_offset)
			check_same(b.data, b.len, m, len);
		else
			check_same(b.data, b.len, m, MIN(len, b.len));
		buffer_free(&b);
		free(cmsg);
	}
}

static void fuzz_block_status_payload(const uint8_t *m, size_t len)
{
	struct buffer b = BUFFER_INIT;
	struct nbd_block_status_payload p;
	uint32_t *ids;
	int r = nbd_block_status_payload_decode(m, len, &p);

	check_decode_result(r);
	if (r < 0)
		return;
	FUZZ_CHECK(8 + 4 * p.n_ids == len);
	check_within(m, len, p.ids, p.n_ids * 4);
	ids = malloc((p.n_ids + 1) * sizeof(*ids));
	if (!ids)
		abort();
	for (size_t i = 0; i < p.n_ids; i++)
		ids[i] = nbd_block_status_payload_id(&p, i);
	FUZZ_CHECK(nbd_block_status_payload_id(&p, p.n_ids) == 0);
	FUZZ_CHECK(nbd_block_status_payload_encode(&b, p.effect_length, ids, p.n_ids) == 0);
	check_same(b.data, b.len, m, len);
	buffer_free(&b);
	free(ids);
}

/* ---------------------------------------------------------------- names.h */

/* Not decoders, but they format what decoders let through: any number must get a name or NULL, and
 * a flags string must fit the caller's buffer, however small. Input: u16 flags, u8 buffer size,
 * then 32-bit values to name; all of it is also tried as a flag name. */
static void fuzz_names(const uint8_t *m, size_t len)
{
	char full[256], *small, *word, *save = NULL, *name;
	uint16_t flags;
	size_t cap;
	int bit;

	if (len < 3)
		return;
	flags = load_be16(m);
	cap = m[2];
	small = malloc(cap ? cap : 1);
	if (!small)
		abort();
	FUZZ_CHECK(nbd_transmission_flags_string(flags, small, cap) == small);
	FUZZ_CHECK(cap == 0 || strnlen(small, cap) < cap);
	free(small);

	/* Every whole word of the full string names a set flag (or is a hex bit or "none"). */
	nbd_transmission_flags_string(flags, full, sizeof(full));
	FUZZ_CHECK(strnlen(full, sizeof(full)) < sizeof(full));
	for (word = strtok_r(full, ",", &save); word; word = strtok_r(NULL, ",", &save)) {
		if (strcmp(word, "none") == 0 || strncmp(word, "0x", 2) == 0)
			continue;
		bit = nbd_transmission_flag_from_name(word);
		FUZZ_CHECK(bit > 0 && (flags & bit));
	}

	for (size_t i = 3; i + 4 <= len && i < 3 + 4 * 16; i += 4) {
		uint32_t v = load_be32(m + i);
		const char *s[] = {
			nbd_option_name(v),
			nbd_reply_type_name(v),
			nbd_info_name((uint16_t)v),
			nbd_cmd_name((uint16_t)v),
			nbd_chunk_type_name((uint16_t)v),
			nbd_error_name(v),
			nbd_reply_error_description(v),
		};

		for (size_t j = 0; j < ELEMENTSOF(s); j++)
			FUZZ_CHECK(!s[j] || strlen(s[j]) < 1024);
		FUZZ_CHECK(nbd_reply_error_to_errno(v) < 0);
		FUZZ_CHECK(nbd_error_to_errno(v) >= 0);
		(void)nbd_error_from_errno((int)v);
	}

	name = malloc(len - 2);
	if (!name)
		abort();
	memcpy(name, m + 3, len - 3);
	name[len - 3] = '\0';
	bit = nbd_transmission_flag_from_name(name);
	FUZZ_CHECK(bit == -EINVAL || (bit > 0 && (bit & (bit - 1)) == 0));
	free(name);
}

/* ---------------------------------------------------------------- entry */

typedef void (*fuzz_fn)(const uint8_t *m, size_t len);

static const fuzz_fn targets[_T_MAX] = {
	[T_GREETING] = fuzz_greeting,
	[T_CLIENT_FLAGS] = fuzz_client_flags,
	[T_OPTION_HEADER] = fuzz_option_header,
	[T_OPTION_REPLY_HEADER] = fuzz_option_reply_header,
	[T_EXPORT_NAME_REPLY] = fuzz_export_name_reply,
	[T_INFO_REQUEST] = fuzz_info_request,
	[T_META_REQUEST] = fuzz_meta_request,
	[T_REP_SERVER] = fuzz_rep_server,
	[T_REP_INFO] = fuzz_rep_info,
	[T_REP_META_CONTEXT] = fuzz_rep_meta_context,
	[T_REP_ERROR] = fuzz_rep_error,
	[T_REQUEST] = fuzz_request,
	[T_REPLY_HEADER] = fuzz_reply_header,
	[T_OFFSET_DATA] = fuzz_offset_data,
	[T_OFFSET_HOLE] = fuzz_offset_hole,
	[T_BLOCK_STATUS] = fuzz_block_status,
	[T_CHUNK_ERROR] = fuzz_chunk_error,
	[T_BLOCK_STATUS_PAYLOAD] = fuzz_block_status_payload,
	[T_NAMES] = fuzz_names,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned which;
	uint8_t *m;
	size_t len;

	if (size < 1)
		return 0;
	which = data[0] & 0x1f;
	len = size - 1;
	m = malloc(len);
	if (!m && len)
		abort();
	if (len)
		memcpy(m, data + 1, len);

	if (which < _T_MAX) {
		targets[which](m, len);
	} else {
		for (size_t i = 0; i < ELEMENTSOF(targets); i++)
			targets[i](m, len);
	}
	free(m);
	return 0;
}
