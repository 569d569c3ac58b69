/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proto/option: option payloads (INFO/GO, LIST/SET_META_CONTEXT), the replies REP_SERVER, REP_INFO,
 * REP_META_CONTEXT and the error replies, the block size rules and the nbd_string helpers.
 *
 * Golden bytes were worked out by hand from the NBD specification's layouts; the encoders append a
 * whole message (header and payload), the decoders take the payload alone.
 */
#include <errno.h>

#include "common/buffer.h"
#include "proto/handshake.h"
#include "proto/option.h"
#include "tests/unit/proto-test-util.h"

#define IHAVEOPT_BYTES 0x49, 0x48, 0x41, 0x56, 0x45, 0x4f, 0x50, 0x54
#define REP_MAGIC_BYTES 0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9

/* A string of n copies of c, for names at and beyond the 4096-byte limit. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* Checks that a buffer holds a whole option request for option and returns its payload. */
static const uint8_t *request_payload(const struct buffer *b, uint32_t option, size_t *ret_len)
{
	struct nbd_option_header h = { 0 };

	assert_true(b->len >= NBD_OPTION_HEADER_SIZE);
	assert_int_equal(nbd_option_header_decode(b->data, NBD_OPTION_HEADER_SIZE, &h), 0);
	assert_int_equal(h.option, option);
	assert_int_equal(h.length, b->len - NBD_OPTION_HEADER_SIZE);
	*ret_len = h.length;
	return b->data + NBD_OPTION_HEADER_SIZE;
}

/* Same for an option reply of the given type. */
static const uint8_t *reply_payload(const struct buffer *b, uint32_t option, uint32_t type,
				    size_t *ret_len)
{
	struct nbd_option_reply_header h = { 0 };

	assert_true(b->len >= NBD_OPTION_REPLY_HEADER_SIZE);
	assert_int_equal(nbd_option_reply_header_decode(b->data, NBD_OPTION_REPLY_HEADER_SIZE,
							option, UINT32_MAX, &h),
			 0);
	assert_int_equal(h.type, type);
	assert_int_equal(h.length, b->len - NBD_OPTION_REPLY_HEADER_SIZE);
	*ret_len = h.length;
	return b->data + NBD_OPTION_REPLY_HEADER_SIZE;
}

/* ================================================================ NBD_OPT_INFO / NBD_OPT_GO */

/* GO for "disk" asking for BLOCK_SIZE and NAME. */
static const uint8_t go_golden[] = {
	IHAVEOPT_BYTES,
	0x00, 0x00, 0x00, 0x07,
	0x00, 0x00, 0x00, 0x0e,
	/* payload: name length, name, count, types */
	0x00, 0x00, 0x00, 0x04,
	'd', 'i', 's', 'k',
	0x00, 0x02,
	0x00, 0x03,
	0x00, 0x01,
};
#define GO_PAYLOAD (go_golden + NBD_OPTION_HEADER_SIZE)
#define GO_PAYLOAD_LEN (sizeof(go_golden) - NBD_OPTION_HEADER_SIZE)

static int dec_info_request(const void *buf, size_t len)
{
	struct nbd_info_request r;

	return nbd_info_request_decode(buf, len, &r);
}

static void test_info_request_encode_golden(void **state)
{
	static const uint16_t types[] = { NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME };
	/* INFO for the default export, no information requested. */
	static const uint8_t want_info[] = {
		IHAVEOPT_BYTES,
		0x00, 0x00, 0x00, 0x06,
		0x00, 0x00, 0x00, 0x06,
		0x00, 0x00, 0x00, 0x00,
		0x00, 0x00,
	};
	struct buffer b = BUFFER_INIT;

	assert_int_equal(nbd_info_request_encode(&b, NBD_OPT_GO, "disk", types, 2), 0);
	assert_bytes(b.data, b.len, go_golden, sizeof(go_golden));
	buffer_reset(&b);
	assert_int_equal(nbd_info_request_encode(&b, NBD_OPT_INFO, "", NULL, 0), 0);
	assert_bytes(b.data, b.len, want_info, sizeof(want_info));
	buffer_free(&b);
}

static void test_info_request_decode_golden(void **state)
{
	uint8_t *msg = dup_exact(GO_PAYLOAD, GO_PAYLOAD_LEN);
	struct nbd_info_request r = { 0 };

	assert_int_equal(nbd_info_request_decode(msg, GO_PAYLOAD_LEN, &r), 0);
	assert_true(nbd_string_eq(r.name, "disk"));
	assert_ptr_equal(r.name.ptr, (const char *)msg + 4); /* a view into the message */
	assert_int_equal(r.n_info_types, 2);
	assert_int_equal(nbd_info_request_type(&r, 0), NBD_INFO_BLOCK_SIZE);
	assert_int_equal(nbd_info_request_type(&r, 1), NBD_INFO_NAME);
	/* Past the end: a value no info type has, without reading. */
	assert_int_equal(nbd_info_request_type(&r, 2), UINT16_MAX);
	assert_int_equal(nbd_info_request_type(&r, SIZE_MAX), UINT16_MAX);
	free(msg);

	/* The empty request: default export, empty list. */
	static const uint8_t empty[] = { 0, 0, 0, 0, 0, 0 };
	msg = dup_exact(empty, sizeof(empty));
	assert_int_equal(nbd_info_request_decode(msg, sizeof(empty), &r), 0);
	assert_int_equal(r.name.len, 0);
	assert_true(nbd_string_eq(r.name, ""));
	assert_int_equal(r.n_info_types, 0);
	assert_int_equal(nbd_info_request_type(&r, 0), UINT16_MAX);
	free(msg);
}

static void test_info_request_round_trip(void **state)
{
	uint16_t types[300];
	char *long_name = repeat('n', NBD_MAX_STRING);
	const char *names[] = { "", "a", "export/with spaces", long_name };
	struct buffer b = BUFFER_INIT;

	for (size_t i = 0; i < 300; i++)
		types[i] = (uint16_t)(i * 257);
	for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
		for (size_t count = 0; count <= 300; count += 150) {
			struct nbd_info_request r = { 0 };
			const uint8_t *payload;
			size_t len;
			uint8_t *msg;

			buffer_reset(&b);
			assert_int_equal(
				nbd_info_request_encode(&b, NBD_OPT_INFO, names[n], types, count),
				0);
			payload = request_payload(&b, NBD_OPT_INFO, &len);
			assert_int_equal(len, 4 + strlen(names[n]) + 2 + 2 * count);
			msg = dup_exact(payload, len);
			assert_int_equal(nbd_info_request_decode(msg, len, &r), 0);
			assert_true(nbd_string_eq(r.name, names[n]));
			assert_int_equal(r.n_info_types, count);
			for (size_t i = 0; i < count; i++)
				assert_int_equal(nbd_info_request_type(&r, i), types[i]);
			free(msg);
		}
	}
	buffer_free(&b);
	free(long_name);
}

static void test_info_request_encode_invalid(void **state)
{
	static const uint16_t types[1] = { 0 };
	char *too_long = repeat('x', NBD_MAX_STRING + 1);
	struct buffer b = BUFFER_INIT;

	buffer_append(&b, "prior", 5);
	/* More info types than the u16 count can say; the check precedes any read of the array. */
	assert_int_equal(
		nbd_info_request_encode(&b, NBD_OPT_GO, "disk", types, (size_t)UINT16_MAX + 1),
		-EINVAL);
	assert_int_equal(b.len, 5);
	/* A name the protocol may not carry. */
	assert_int_equal(nbd_info_request_encode(&b, NBD_OPT_GO, too_long, types, 1), -EINVAL);
	assert_int_equal(b.len, 5); /* only whole messages are left behind */
	assert_memory_equal(b.data, "prior", 5);
	buffer_free(&b);
	free(too_long);
}

static void test_info_request_truncated_trailing(void **state)
{
	assert_prefixes_fail(dec_info_request, GO_PAYLOAD, GO_PAYLOAD_LEN, -EBADMSG);
	assert_trailing_fails(dec_info_request, GO_PAYLOAD, GO_PAYLOAD_LEN, -EBADMSG);
}

static void test_info_request_malformed(void **state)
{
	uint8_t msg[GO_PAYLOAD_LEN];

	/* Name length past the end of the payload, by one and by everything. */
	memcpy(msg, GO_PAYLOAD, sizeof(msg));
	msg[3] = (uint8_t)(sizeof(msg) - 4 + 1);
	assert_int_equal(decode_exact(dec_info_request, msg, sizeof(msg)), -EBADMSG);
	memset(msg, 0xff, 4);
	assert_int_equal(decode_exact(dec_info_request, msg, sizeof(msg)), -EBADMSG);
	/* Name length leaving no room for the count (the spec's "no larger than length - 6"); the
	 * bytes it swallows are made printable so that only the length is wrong. */
	memcpy(msg, GO_PAYLOAD, sizeof(msg));
	msg[3] = (uint8_t)(sizeof(msg) - 4 - 1);
	memset(msg + 8, 'x', sizeof(msg) - 8);
	assert_int_equal(decode_exact(dec_info_request, msg, sizeof(msg)), -EBADMSG);
	/* Embedded NUL in the name. */
	memcpy(msg, GO_PAYLOAD, sizeof(msg));
	msg[5] = '\0';
	assert_int_equal(decode_exact(dec_info_request, msg, sizeof(msg)), -EBADMSG);
	/* Count larger than the types present: 3, then the maximum. */
	memcpy(msg, GO_PAYLOAD, sizeof(msg));
	msg[9] = 3;
	assert_int_equal(decode_exact(dec_info_request, msg, sizeof(msg)), -EBADMSG);
	msg[8] = 0xff;
	msg[9] = 0xff;
	assert_int_equal(decode_exact(dec_info_request, msg, sizeof(msg)), -EBADMSG);
	/* Count smaller than the types present: the rest is trailing garbage. */
	memcpy(msg, GO_PAYLOAD, sizeof(msg));
	msg[9] = 1;
	assert_int_equal(decode_exact(dec_info_request, msg, sizeof(msg)), -EBADMSG);
	msg[9] = 0;
	assert_int_equal(decode_exact(dec_info_request, msg, sizeof(msg)), -EBADMSG);
}

static void test_info_request_name_too_long(void **state)
{
	struct buffer b = BUFFER_INIT;
	char *name = repeat('y', NBD_MAX_STRING + 1);

	/* Built by hand: the encoder refuses to produce it. */
	buffer_append_be32(&b, NBD_MAX_STRING + 1);
	buffer_append(&b, name, NBD_MAX_STRING + 1);
	buffer_append_be16(&b, 0);
	assert_int_equal(decode_exact(dec_info_request, b.data, b.len), -EMSGSIZE);
	buffer_free(&b);
	free(name);
}

/* ================================================================ LIST/SET_META_CONTEXT */

/* SET_META_CONTEXT on "disk" with the queries "base:allocation" and "x-a:". */
static const uint8_t set_meta_golden[] = {
	IHAVEOPT_BYTES,
	0x00, 0x00, 0x00, 0x0a,
	0x00, 0x00, 0x00, 0x27,
	0x00, 0x00, 0x00, 0x04,
	'd', 'i', 's', 'k',
	0x00, 0x00, 0x00, 0x02,
	0x00, 0x00, 0x00, 0x0f,
	'b', 'a', 's', 'e', ':', 'a', 'l', 'l', 'o', 'c', 'a', 't', 'i', 'o', 'n',
	0x00, 0x00, 0x00, 0x04,
	'x', '-', 'a', ':',
};
#define META_PAYLOAD (set_meta_golden + NBD_OPTION_HEADER_SIZE)
#define META_PAYLOAD_LEN (sizeof(set_meta_golden) - NBD_OPTION_HEADER_SIZE)

static int dec_meta_request(const void *buf, size_t len)
{
	struct nbd_meta_request r;

	return nbd_meta_request_decode(buf, len, &r);
}

static void test_meta_request_encode_golden(void **state)
{
	static const char *const queries[] = { "base:allocation", "x-a:" };
	/* LIST_META_CONTEXT on the default export with no queries: "list everything". */
	static const uint8_t want_list[] = {
		IHAVEOPT_BYTES,
		0x00, 0x00, 0x00, 0x09,
		0x00, 0x00, 0x00, 0x08,
		0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00,
	};
	struct buffer b = BUFFER_INIT;

	assert_int_equal(META_PAYLOAD_LEN, 0x27);
	assert_int_equal(nbd_meta_request_encode(&b, NBD_OPT_SET_META_CONTEXT, "disk", queries, 2),
			 0);
	assert_bytes(b.data, b.len, set_meta_golden, sizeof(set_meta_golden));
	buffer_reset(&b);
	assert_int_equal(nbd_meta_request_encode(&b, NBD_OPT_LIST_META_CONTEXT, "", NULL, 0), 0);
	assert_bytes(b.data, b.len, want_list, sizeof(want_list));
	buffer_free(&b);
}

static void test_meta_request_decode_golden(void **state)
{
	uint8_t *msg = dup_exact(META_PAYLOAD, META_PAYLOAD_LEN);
	struct nbd_meta_request r = { 0 };
	struct nbd_string q = { 0 };
	size_t pos = 0;

	assert_int_equal(nbd_meta_request_decode(msg, META_PAYLOAD_LEN, &r), 0);
	assert_true(nbd_string_eq(r.name, "disk"));
	assert_int_equal(r.n_queries, 2);
	assert_int_equal(nbd_meta_request_next(&r, &pos, &q), 1);
	assert_true(nbd_string_eq(q, "base:allocation"));
	assert_ptr_equal(q.ptr, (const char *)msg + 16);
	assert_int_equal(nbd_meta_request_next(&r, &pos, &q), 1);
	assert_true(nbd_string_eq(q, "x-a:"));
	assert_int_equal(nbd_meta_request_next(&r, &pos, &q), 0);
	/* Stays at the end. */
	assert_int_equal(nbd_meta_request_next(&r, &pos, &q), 0);
	free(msg);

	static const uint8_t none[] = { 0, 0, 0, 0, 0, 0, 0, 0 };
	msg = dup_exact(none, sizeof(none));
	assert_int_equal(nbd_meta_request_decode(msg, sizeof(none), &r), 0);
	assert_int_equal(r.name.len, 0);
	assert_int_equal(r.n_queries, 0);
	pos = 0;
	assert_int_equal(nbd_meta_request_next(&r, &pos, &q), 0);
	free(msg);
}

static void test_meta_request_round_trip(void **state)
{
	char *long_query = repeat('q', NBD_MAX_STRING);
	const char *queries[] = { "base:", "", "qemu:dirty-bitmap:b0", long_query, "x-y:z" };
	const size_t nq = sizeof(queries) / sizeof(queries[0]);
	struct buffer b = BUFFER_INIT;

	memcpy(long_query, "x-long:", 7);
	for (size_t count = 0; count <= nq; count++) {
		struct nbd_meta_request r = { 0 };
		struct nbd_string q;
		const uint8_t *payload;
		size_t len, pos = 0, seen = 0;
		uint8_t *msg;

		buffer_reset(&b);
		assert_int_equal(nbd_meta_request_encode(&b, NBD_OPT_LIST_META_CONTEXT, "exp",
							 queries, count),
				 0);
		payload = request_payload(&b, NBD_OPT_LIST_META_CONTEXT, &len);
		msg = dup_exact(payload, len);
		assert_int_equal(nbd_meta_request_decode(msg, len, &r), 0);
		assert_true(nbd_string_eq(r.name, "exp"));
		assert_int_equal(r.n_queries, count);
		while (nbd_meta_request_next(&r, &pos, &q)) {
			assert_true(seen < count);
			assert_true(nbd_string_eq(q, queries[seen]));
			seen++;
		}
		assert_int_equal(seen, count);
		free(msg);
	}
	buffer_free(&b);
	free(long_query);
}

static void test_meta_request_encode_invalid(void **state)
{
	char *too_long = repeat('x', NBD_MAX_STRING + 1);
	const char *queries[] = { "base:allocation", too_long };
	struct buffer b = BUFFER_INIT;

	assert_int_equal(
		nbd_meta_request_encode(&b, NBD_OPT_SET_META_CONTEXT, too_long, queries, 1),
		-EINVAL);
	assert_int_equal(b.len, 0);
	/* The second query is too long: the first, already appended, is taken back too. */
	assert_int_equal(nbd_meta_request_encode(&b, NBD_OPT_SET_META_CONTEXT, "disk", queries, 2),
			 -EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(nbd_meta_request_encode(&b, NBD_OPT_SET_META_CONTEXT, "disk", queries,
						 (size_t)UINT32_MAX + 1),
			 -EINVAL);
	assert_int_equal(b.len, 0);
	buffer_free(&b);
	free(too_long);
}

static void test_meta_request_truncated_trailing(void **state)
{
	assert_prefixes_fail(dec_meta_request, META_PAYLOAD, META_PAYLOAD_LEN, -EBADMSG);
	assert_trailing_fails(dec_meta_request, META_PAYLOAD, META_PAYLOAD_LEN, -EBADMSG);
}

static void test_meta_request_malformed(void **state)
{
	uint8_t msg[META_PAYLOAD_LEN];

	/* Counts that cannot fit: one more, every value up to the overflow of count × 4. */
	static const uint32_t counts[] = { 3, 4, 0x10000, 0x40000000, 0x40000001, 0xffffffff };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		memcpy(msg, META_PAYLOAD, sizeof(msg));
		msg[8] = (uint8_t)(counts[i] >> 24);
		msg[9] = (uint8_t)(counts[i] >> 16);
		msg[10] = (uint8_t)(counts[i] >> 8);
		msg[11] = (uint8_t)counts[i];
		assert_int_equal(decode_exact(dec_meta_request, msg, sizeof(msg)), -EBADMSG);
	}
	/* A count smaller than the queries sent leaves trailing bytes. */
	memcpy(msg, META_PAYLOAD, sizeof(msg));
	msg[11] = 1;
	assert_int_equal(decode_exact(dec_meta_request, msg, sizeof(msg)), -EBADMSG);
	/* Query length past the end: the last query claims one byte more, then 2^32 - 1. */
	memcpy(msg, META_PAYLOAD, sizeof(msg));
	msg[34] = 5;
	assert_int_equal(decode_exact(dec_meta_request, msg, sizeof(msg)), -EBADMSG);
	memset(msg + 31, 0xff, 4);
	assert_int_equal(decode_exact(dec_meta_request, msg, sizeof(msg)), -EBADMSG);
	/* The first query claims the second's bytes: the count then runs past the end. */
	memcpy(msg, META_PAYLOAD, sizeof(msg));
	msg[15] = 0x0f + 8;
	assert_int_equal(decode_exact(dec_meta_request, msg, sizeof(msg)), -EBADMSG);
	/* Export name length past the end. */
	memcpy(msg, META_PAYLOAD, sizeof(msg));
	msg[0] = 0x80;
	assert_int_equal(decode_exact(dec_meta_request, msg, sizeof(msg)), -EBADMSG);
	/* Embedded NUL in the name, then in a query. */
	memcpy(msg, META_PAYLOAD, sizeof(msg));
	msg[7] = '\0';
	assert_int_equal(decode_exact(dec_meta_request, msg, sizeof(msg)), -EBADMSG);
	memcpy(msg, META_PAYLOAD, sizeof(msg));
	msg[20] = '\0';
	assert_int_equal(decode_exact(dec_meta_request, msg, sizeof(msg)), -EBADMSG);
	memcpy(msg, META_PAYLOAD, sizeof(msg));
	msg[sizeof(msg) - 1] = '\0';
	assert_int_equal(decode_exact(dec_meta_request, msg, sizeof(msg)), -EBADMSG);
}

static void test_meta_request_query_too_long(void **state)
{
	struct buffer b = BUFFER_INIT;
	char *q = repeat('z', NBD_MAX_STRING + 1);

	buffer_append_be32(&b, 0);
	buffer_append_be32(&b, 1);
	buffer_append_be32(&b, NBD_MAX_STRING + 1);
	buffer_append(&b, q, NBD_MAX_STRING + 1);
	assert_int_equal(decode_exact(dec_meta_request, b.data, b.len), -EMSGSIZE);
	buffer_free(&b);
	free(q);
}

/* ================================================================ NBD_REP_SERVER */

static const uint8_t rep_server_golden[] = {
	REP_MAGIC_BYTES,
	0x00, 0x00, 0x00, 0x03, /* NBD_OPT_LIST */
	0x00, 0x00, 0x00, 0x02, /* NBD_REP_SERVER */
	0x00, 0x00, 0x00, 0x0f,
	0x00, 0x00, 0x00, 0x04,
	'd', 'i', 's', 'k',
	'M', 'y', ' ', 'd', 'i', 's', 'k',
};
#define SERVER_PAYLOAD (rep_server_golden + NBD_OPTION_REPLY_HEADER_SIZE)
#define SERVER_PAYLOAD_LEN (sizeof(rep_server_golden) - NBD_OPTION_REPLY_HEADER_SIZE)

static int dec_rep_server(const void *buf, size_t len)
{
	struct nbd_string name, desc;

	return nbd_rep_server_decode(buf, len, &name, &desc);
}

static void test_rep_server_golden(void **state)
{
	static const uint8_t want_plain[] = {
		REP_MAGIC_BYTES,
		0x00, 0x00, 0x00, 0x03,
		0x00, 0x00, 0x00, 0x02,
		0x00, 0x00, 0x00, 0x08,
		0x00, 0x00, 0x00, 0x04,
		'd', 'i', 's', 'k',
	};
	struct buffer b = BUFFER_INIT;
	struct nbd_string name = { 0 }, desc = { 0 };
	uint8_t *msg;

	assert_int_equal(nbd_rep_server_encode(&b, "disk", "My disk"), 0);
	assert_bytes(b.data, b.len, rep_server_golden, sizeof(rep_server_golden));
	buffer_reset(&b);
	assert_int_equal(nbd_rep_server_encode(&b, "disk", NULL), 0);
	assert_bytes(b.data, b.len, want_plain, sizeof(want_plain));
	buffer_free(&b);

	msg = dup_exact(SERVER_PAYLOAD, SERVER_PAYLOAD_LEN);
	assert_int_equal(nbd_rep_server_decode(msg, SERVER_PAYLOAD_LEN, &name, &desc), 0);
	assert_true(nbd_string_eq(name, "disk"));
	assert_true(nbd_string_eq(desc, "My disk"));
	free(msg);
	msg = dup_exact(want_plain + NBD_OPTION_REPLY_HEADER_SIZE, 8);
	assert_int_equal(nbd_rep_server_decode(msg, 8, &name, &desc), 0);
	assert_true(nbd_string_eq(name, "disk"));
	assert_int_equal(desc.len, 0);
	free(msg);
}

static void test_rep_server_round_trip(void **state)
{
	char *long_name = repeat('n', NBD_MAX_STRING);
	char *long_desc = repeat('d', NBD_MAX_STRING);
	const char *names[] = { "", "a", long_name };
	const char *descs[] = { NULL, "", "Backup of 2024-01-01", long_desc };
	struct buffer b = BUFFER_INIT;

	for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
		for (size_t d = 0; d < sizeof(descs) / sizeof(descs[0]); d++) {
			struct nbd_string name, desc;
			const uint8_t *payload;
			size_t len;
			uint8_t *msg;

			buffer_reset(&b);
			assert_int_equal(nbd_rep_server_encode(&b, names[n], descs[d]), 0);
			payload = reply_payload(&b, NBD_OPT_LIST, NBD_REP_SERVER, &len);
			msg = dup_exact(payload, len);
			assert_int_equal(nbd_rep_server_decode(msg, len, &name, &desc), 0);
			assert_true(nbd_string_eq(name, names[n]));
			assert_true(nbd_string_eq(desc, descs[d] ? descs[d] : ""));
			free(msg);
		}
	}
	buffer_free(&b);
	free(long_name);
	free(long_desc);
}

static void test_rep_server_malformed(void **state)
{
	uint8_t msg[SERVER_PAYLOAD_LEN];
	struct nbd_string name, desc;

	/* Cut inside the length or the name: malformed. Cut inside the description: a shorter
	 * description, which is a valid message in its own right. */
	assert_prefixes_fail(dec_rep_server, SERVER_PAYLOAD, 8, -EBADMSG);
	for (size_t len = 8; len <= SERVER_PAYLOAD_LEN; len++) {
		uint8_t *copy = dup_exact(SERVER_PAYLOAD, len);

		assert_int_equal(nbd_rep_server_decode(copy, len, &name, &desc), 0);
		assert_int_equal(desc.len, len - 8);
		free(copy);
	}
	/* Name length past the end: by one, and 2^32 - 1. */
	memcpy(msg, SERVER_PAYLOAD, sizeof(msg));
	msg[3] = (uint8_t)(sizeof(msg) - 4 + 1);
	assert_int_equal(decode_exact(dec_rep_server, msg, sizeof(msg)), -EBADMSG);
	memset(msg, 0xff, 4);
	assert_int_equal(decode_exact(dec_rep_server, msg, sizeof(msg)), -EBADMSG);
	/* Name length exactly the rest: the description is then empty. */
	memcpy(msg, SERVER_PAYLOAD, sizeof(msg));
	msg[3] = (uint8_t)(sizeof(msg) - 4);
	assert_int_equal(decode_exact(dec_rep_server, msg, sizeof(msg)), 0);
	/* NUL in the name, then in the description. */
	memcpy(msg, SERVER_PAYLOAD, sizeof(msg));
	msg[4] = '\0';
	assert_int_equal(decode_exact(dec_rep_server, msg, sizeof(msg)), -EBADMSG);
	memcpy(msg, SERVER_PAYLOAD, sizeof(msg));
	msg[sizeof(msg) - 1] = '\0';
	assert_int_equal(decode_exact(dec_rep_server, msg, sizeof(msg)), -EBADMSG);
}

static void test_rep_server_too_long(void **state)
{
	char *s = repeat('s', NBD_MAX_STRING + 1);
	struct buffer b = BUFFER_INIT;

	assert_int_equal(nbd_rep_server_encode(&b, s, NULL), -EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(nbd_rep_server_encode(&b, "disk", s), -EINVAL);
	assert_int_equal(b.len, 0);

	buffer_append_be32(&b, NBD_MAX_STRING + 1);
	buffer_append(&b, s, NBD_MAX_STRING + 1);
	assert_int_equal(decode_exact(dec_rep_server, b.data, b.len), -EMSGSIZE);
	buffer_reset(&b);
	buffer_append_be32(&b, 1);
	buffer_append(&b, "n", 1);
	buffer_append(&b, s, NBD_MAX_STRING + 1); /* description of 4097 bytes */
	assert_int_equal(decode_exact(dec_rep_server, b.data, b.len), -EMSGSIZE);
	buffer_free(&b);
	free(s);
}

/* ================================================================ NBD_REP_INFO */

static int dec_rep_info(const void *buf, size_t len)
{
	struct nbd_info_item item;

	return nbd_rep_info_decode(buf, len, &item);
}

/* NBD_INFO_EXPORT to GO: 1 GiB, HAS_FLAGS | SEND_FLUSH | SEND_FUA. */
static const uint8_t info_export_golden[] = {
	REP_MAGIC_BYTES,
	0x00, 0x00, 0x00, 0x07,
	0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x0c,
	0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,
	0x00, 0x0d,
};

/* NBD_INFO_BLOCK_SIZE to INFO: 512, 4096, 32 MiB. */
static const uint8_t info_block_size_golden[] = {
	REP_MAGIC_BYTES,
	0x00, 0x00, 0x00, 0x06,
	0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x0e,
	0x00, 0x03,
	0x00, 0x00, 0x02, 0x00,
	0x00, 0x00, 0x10, 0x00,
	0x02, 0x00, 0x00, 0x00,
};

/* NBD_INFO_NAME "disk" to INFO. */
static const uint8_t info_name_golden[] = {
	REP_MAGIC_BYTES,
	0x00, 0x00, 0x00, 0x06,
	0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x06,
	0x00, 0x01,
	'd', 'i', 's', 'k',
};

/* NBD_INFO_DESCRIPTION "A b" to GO. */
static const uint8_t info_description_golden[] = {
	REP_MAGIC_BYTES,
	0x00, 0x00, 0x00, 0x07,
	0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x05,
	0x00, 0x02,
	'A', ' ', 'b',
};

/* An information type this code does not know, 0x1234, carrying two bytes. */
static const uint8_t info_unknown_golden[] = {
	REP_MAGIC_BYTES,
	0x00, 0x00, 0x00, 0x07,
	0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x04,
	0x12, 0x34,
	0xde, 0xad,
};

/* Encodes item and compares with golden, then decodes golden's payload and returns the item. */
static struct nbd_info_item info_golden(uint32_t option, const struct nbd_info_item *item,
					const uint8_t *golden, size_t golden_len, uint8_t **ret_msg)
{
	struct buffer b = BUFFER_INIT;
	struct nbd_info_item got;
	size_t len = golden_len - NBD_OPTION_REPLY_HEADER_SIZE;

	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(nbd_rep_info_encode(&b, option, item), 0);
	assert_bytes(b.data, b.len, golden, golden_len);
	buffer_free(&b);
	*ret_msg = dup_exact(golden + NBD_OPTION_REPLY_HEADER_SIZE, len);
	assert_int_equal(nbd_rep_info_decode(*ret_msg, len, &got), 0);
	return got;
}

static void test_rep_info_export(void **state)
{
	const struct nbd_info_item item = {
		.type = NBD_INFO_EXPORT,
		.export = { .size = UINT64_C(1) << 30,
			    .transmission_flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
						  NBD_FLAG_SEND_FUA },
	};
	uint8_t *msg;
	struct nbd_info_item got = info_golden(NBD_OPT_GO, &item, info_export_golden,
					       sizeof(info_export_golden), &msg);

	assert_int_equal(got.type, NBD_INFO_EXPORT);
	assert_int_equal(got.export.size, UINT64_C(1) << 30);
	assert_int_equal(got.export.transmission_flags, 0x000d);
	free(msg);
}

static void test_rep_info_block_size(void **state)
{
	const struct nbd_info_item item = {
		.type = NBD_INFO_BLOCK_SIZE,
		.block_size = { .minimum = 512, .preferred = 4096, .maximum = 32u << 20 },
	};
	uint8_t *msg;
	struct nbd_info_item got = info_golden(NBD_OPT_INFO, &item, info_block_size_golden,
					       sizeof(info_block_size_golden), &msg);

	assert_int_equal(got.type, NBD_INFO_BLOCK_SIZE);
	assert_int_equal(got.block_size.minimum, 512);
	assert_int_equal(got.block_size.preferred, 4096);
	assert_int_equal(got.block_size.maximum, 32u << 20);
	free(msg);
}

static void test_rep_info_name_description(void **state)
{
	const struct nbd_info_item name = {
		.type = NBD_INFO_NAME,
		.name = { .ptr = "disk", .len = 4 },
	};
	const struct nbd_info_item desc = {
		.type = NBD_INFO_DESCRIPTION,
		.description = { .ptr = "A b", .len = 3 },
	};
	uint8_t *msg;
	struct nbd_info_item got;

	got = info_golden(NBD_OPT_INFO, &name, info_name_golden, sizeof(info_name_golden), &msg);
	assert_int_equal(got.type, NBD_INFO_NAME);
	assert_true(nbd_string_eq(got.name, "disk"));
	assert_ptr_equal(got.name.ptr, (const char *)msg + 2);
	free(msg);

	got = info_golden(NBD_OPT_GO, &desc, info_description_golden,
			  sizeof(info_description_golden), &msg);
	assert_int_equal(got.type, NBD_INFO_DESCRIPTION);
	assert_true(nbd_string_eq(got.description, "A b"));
	free(msg);
}

static void test_rep_info_unknown(void **state)
{
	static const uint8_t data[] = { 0xde, 0xad };
	const struct nbd_info_item item = {
		.type = 0x1234,
		.unknown = { .data = data, .len = sizeof(data) },
	};
	uint8_t *msg;
	struct nbd_info_item got = info_golden(NBD_OPT_GO, &item, info_unknown_golden,
					       sizeof(info_unknown_golden), &msg);

	/* Kept for the caller to ignore, as the spec asks of clients; nothing is judged. */
	assert_int_equal(got.type, 0x1234);
	assert_int_equal(got.unknown.len, 2);
	assert_ptr_equal(got.unknown.data, msg + 2);
	assert_memory_equal(got.unknown.data, data, 2);
	free(msg);

	/* An unknown type with no data, and the next type after BLOCK_SIZE with a long one. */
	static const uint8_t bare[] = { 0xff, 0xff };
	msg = dup_exact(bare, sizeof(bare));
	assert_int_equal(nbd_rep_info_decode(msg, sizeof(bare), &got), 0);
	assert_int_equal(got.type, 0xffff);
	assert_int_equal(got.unknown.len, 0);
	free(msg);

	uint8_t big[2 + 9000];
	memset(big, 0, sizeof(big));
	big[1] = 4;
	msg = dup_exact(big, sizeof(big));
	assert_int_equal(nbd_rep_info_decode(msg, sizeof(big), &got), 0);
	assert_int_equal(got.type, 4);
	assert_int_equal(got.unknown.len, 9000);
	free(msg);
}

static void test_rep_info_round_trip(void **state)
{
	static const uint8_t blob[] = { 1, 2, 3, 4, 5 };
	const struct nbd_info_item items[] = {
		{ .type = NBD_INFO_EXPORT, .export = { 0, 0 } },
		{ .type = NBD_INFO_EXPORT, .export = { UINT64_MAX, 0xffff } },
		{ .type = NBD_INFO_NAME, .name = { "", 0 } },
		{ .type = NBD_INFO_NAME, .name = { NULL, 0 } },
		{ .type = NBD_INFO_DESCRIPTION, .description = { "desc", 4 } },
		{ .type = NBD_INFO_BLOCK_SIZE, .block_size = { 1, 512, 0xffffffff } },
		/* Impossible sizes are carried; nbd_block_size_check() is the judge. */
		{ .type = NBD_INFO_BLOCK_SIZE, .block_size = { 0, 0, 0 } },
		{ .type = 99, .unknown = { blob, sizeof(blob) } },
		{ .type = 100, .unknown = { NULL, 0 } },
	};
	struct buffer b = BUFFER_INIT;

	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		const struct nbd_info_item *in = &items[i];
		struct nbd_info_item out;
		const uint8_t *payload;
		size_t len;
		uint8_t *msg;

		buffer_reset(&b);
		assert_int_equal(nbd_rep_info_encode(&b, NBD_OPT_INFO, in), 0);
		payload = reply_payload(&b, NBD_OPT_INFO, NBD_REP_INFO, &len);
		msg = dup_exact(payload, len);
		assert_int_equal(nbd_rep_info_decode(msg, len, &out), 0);
		assert_int_equal(out.type, in->type);
		switch (in->type) {
		case NBD_INFO_EXPORT:
			assert_int_equal(len, 12);
			assert_int_equal(out.export.size, in->export.size);
			assert_int_equal(out.export.transmission_flags,
					 in->export.transmission_flags);
			break;
		case NBD_INFO_NAME:
		case NBD_INFO_DESCRIPTION:
			assert_int_equal(len, 2 + in->name.len);
			assert_int_equal(out.name.len, in->name.len);
			if (in->name.len)
				assert_memory_equal(out.name.ptr, in->name.ptr, in->name.len);
			break;
		case NBD_INFO_BLOCK_SIZE:
			assert_int_equal(len, 14);
			assert_int_equal(out.block_size.minimum, in->block_size.minimum);
			assert_int_equal(out.block_size.preferred, in->block_size.preferred);
			assert_int_equal(out.block_size.maximum, in->block_size.maximum);
			break;
		default:
			assert_int_equal(out.unknown.len, in->unknown.len);
			if (in->unknown.len)
				assert_memory_equal(out.unknown.data, in->unknown.data,
						    in->unknown.len);
			break;
		}
		free(msg);
	}
	buffer_free(&b);
}

static void test_rep_info_malformed(void **state)
{
	const uint8_t *export = info_export_golden + NBD_OPTION_REPLY_HEADER_SIZE;
	const uint8_t *bs = info_block_size_golden + NBD_OPTION_REPLY_HEADER_SIZE;
	const uint8_t *name = info_name_golden + NBD_OPTION_REPLY_HEADER_SIZE;
	uint8_t msg[16];

	/* The fixed-size items must have exactly their size: 12 and 14 bytes. */
	assert_prefixes_fail(dec_rep_info, export, 12, -EBADMSG);
	assert_trailing_fails(dec_rep_info, export, 12, -EBADMSG);
	assert_prefixes_fail(dec_rep_info, bs, 14, -EBADMSG);
	assert_trailing_fails(dec_rep_info, bs, 14, -EBADMSG);
	/* A string item needs at least its type. */
	assert_prefixes_fail(dec_rep_info, name, 2, -EBADMSG);
	assert_int_equal(decode_exact(dec_rep_info, name, 2), 0); /* empty name */
	/* Embedded NUL in a name or a description. */
	memcpy(msg, name, 6);
	msg[3] = '\0';
	assert_int_equal(decode_exact(dec_rep_info, msg, 6), -EBADMSG);
	msg[1] = NBD_INFO_DESCRIPTION;
	assert_int_equal(decode_exact(dec_rep_info, msg, 6), -EBADMSG);
	/* A one-byte payload cannot hold even an unknown type. */
	msg[0] = 0x12;
	assert_int_equal(decode_exact(dec_rep_info, msg, 1), -EBADMSG);
}

static void test_rep_info_string_too_long(void **state)
{
	struct buffer b = BUFFER_INIT;
	char *s = repeat('s', NBD_MAX_STRING + 1);
	struct nbd_info_item item = { .type = NBD_INFO_NAME, .name = { s, NBD_MAX_STRING + 1 } };

	assert_int_equal(nbd_rep_info_encode(&b, NBD_OPT_GO, &item), -EINVAL);
	assert_int_equal(b.len, 0);
	item.type = NBD_INFO_DESCRIPTION;
	assert_int_equal(nbd_rep_info_encode(&b, NBD_OPT_GO, &item), -EINVAL);
	assert_int_equal(b.len, 0);
	/* A NUL inside a name to be sent. */
	item = (struct nbd_info_item){ .type = NBD_INFO_NAME, .name = { "a\0b", 3 } };
	assert_int_equal(nbd_rep_info_encode(&b, NBD_OPT_GO, &item), -EINVAL);
	assert_int_equal(b.len, 0);

	for (uint16_t type = NBD_INFO_NAME; type <= NBD_INFO_DESCRIPTION; type++) {
		buffer_reset(&b);
		buffer_append_be16(&b, type);
		buffer_append(&b, s, NBD_MAX_STRING + 1);
		assert_int_equal(decode_exact(dec_rep_info, b.data, b.len), -EMSGSIZE);
		/* Exactly at the limit is fine. */
		assert_int_equal(decode_exact(dec_rep_info, b.data, b.len - 1), 0);
	}
	buffer_free(&b);
	free(s);
}

/* ================================================================ block sizes */

static void test_block_size_check(void **state)
{
	static const struct {
		uint32_t min, pref, max;
		int expect;
	} cases[] = {
		/* valid */
		{ 1, 512, 512, 0 },
		{ 1, 4096, 32u << 20, 0 },
		{ 512, 4096, 32u << 20, 0 },
		{ 4096, 4096, 4096, 0 },
		{ 65536, 65536, 65536, 0 },	    /* the minimum may be exactly 2^16 */
		{ 1, 512, 0xffffffff, 0 },	    /* "no fixed limit" */
		{ 512, 512, 1000000, 0 },	    /* maximum need not be a power of two ... */
		{ 4096, 4096, 4097, 0 },	    /* ... nor a multiple of the minimum */
		{ 1, 1u << 31, 0xffffffff, 0 },
		{ 1024, 1024, 1024, 0 },	    /* preferred = minimum above 512 */
		/* minimum: a power of two, at most 64 KiB */
		{ 0, 512, 512, -EINVAL },
		{ 3, 512, 512, -EINVAL },
		{ 513, 1024, 1024, -EINVAL },
		{ 131072, 131072, 131072, -EINVAL },
		{ 0x80000000, 0x80000000, 0xffffffff, -EINVAL },
		/* preferred: a power of two at least max(minimum, 512) */
		{ 1, 0, 512, -EINVAL },
		{ 1, 256, 512, -EINVAL },
		{ 1, 511, 512, -EINVAL },
		{ 1, 1000, 1000, -EINVAL },
		{ 1, 768, 1024, -EINVAL },
		{ 8192, 4096, 8192, -EINVAL },
		{ 65536, 32768, 65536, -EINVAL },
		/* maximum: at least the preferred size */
		{ 512, 4096, 4095, -EINVAL },
		{ 512, 4096, 512, -EINVAL },
		{ 1, 512, 0, -EINVAL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = nbd_block_size_check(cases[i].min, cases[i].pref, cases[i].max);

		if (r != cases[i].expect)
			fail_msg("block sizes %u/%u/%u: got %d, expected %d", cases[i].min,
				 cases[i].pref, cases[i].max, r, cases[i].expect);
	}
}

/* ================================================================ NBD_REP_META_CONTEXT */

static const uint8_t meta_context_golden[] = {
	REP_MAGIC_BYTES,
	0x00, 0x00, 0x00, 0x0a, /* NBD_OPT_SET_META_CONTEXT */
	0x00, 0x00, 0x00, 0x04, /* NBD_REP_META_CONTEXT */
	0x00, 0x00, 0x00, 0x13,
	0x00, 0x00, 0x00, 0x01,
	'b', 'a', 's', 'e', ':', 'a', 'l', 'l', 'o', 'c', 'a', 't', 'i', 'o', 'n',
};
#define META_CTX_PAYLOAD (meta_context_golden + NBD_OPTION_REPLY_HEADER_SIZE)
#define META_CTX_PAYLOAD_LEN (sizeof(meta_context_golden) - NBD_OPTION_REPLY_HEADER_SIZE)

static int dec_meta_context(const void *buf, size_t len)
{
	uint32_t id;
	struct nbd_string name;

	return nbd_rep_meta_context_decode(buf, len, &id, &name);
}

static void test_rep_meta_context_golden(void **state)
{
	struct buffer b = BUFFER_INIT;
	struct nbd_string name = { 0 };
	uint32_t id = 0;
	uint8_t *msg;

	assert_int_equal(nbd_rep_meta_context_encode(&b, NBD_OPT_SET_META_CONTEXT, 1,
						     NBD_META_BASE_ALLOCATION),
			 0);
	assert_bytes(b.data, b.len, meta_context_golden, sizeof(meta_context_golden));
	buffer_free(&b);

	msg = dup_exact(META_CTX_PAYLOAD, META_CTX_PAYLOAD_LEN);
	assert_int_equal(nbd_rep_meta_context_decode(msg, META_CTX_PAYLOAD_LEN, &id, &name), 0);
	assert_int_equal(id, 1);
	assert_true(nbd_string_eq(name, NBD_META_BASE_ALLOCATION));
	free(msg);
}

static void test_rep_meta_context_round_trip(void **state)
{
	char *long_name = repeat('m', NBD_MAX_STRING);
	const struct {
		uint32_t option, id;
		const char *name;
	} cases[] = {
		{ NBD_OPT_LIST_META_CONTEXT, 0, "base:allocation" },
		{ NBD_OPT_SET_META_CONTEXT, 0xffffffff, "qemu:dirty-bitmap:b0" },
		{ NBD_OPT_SET_META_CONTEXT, 0x01020304, "x:" },
		{ NBD_OPT_LIST_META_CONTEXT, 7, long_name },
	};
	struct buffer b = BUFFER_INIT;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nbd_string name;
		uint32_t id = 0;
		const uint8_t *payload;
		size_t len;
		uint8_t *msg;

		buffer_reset(&b);
		assert_int_equal(nbd_rep_meta_context_encode(&b, cases[i].option, cases[i].id,
							     cases[i].name),
				 0);
		payload = reply_payload(&b, cases[i].option, NBD_REP_META_CONTEXT, &len);
		msg = dup_exact(payload, len);
		assert_int_equal(nbd_rep_meta_context_decode(msg, len, &id, &name), 0);
		assert_int_equal(id, cases[i].id);
		assert_true(nbd_string_eq(name, cases[i].name));
		free(msg);
	}
	buffer_free(&b);
	free(long_name);
}

static void test_rep_meta_context_malformed(void **state)
{
	uint8_t msg[META_CTX_PAYLOAD_LEN];
	struct buffer b = BUFFER_INIT;
	char *s = repeat('c', NBD_MAX_STRING + 1);

	/* Cut inside the id, or right after it (a context always has a name). Cut inside the name
	 * is a shorter name, which the decoder cannot tell from a real one. */
	assert_prefixes_fail(dec_meta_context, META_CTX_PAYLOAD, 5, -EBADMSG);
	for (size_t len = 5; len <= META_CTX_PAYLOAD_LEN; len++)
		assert_int_equal(decode_exact(dec_meta_context, META_CTX_PAYLOAD, len), 0);
	/* Embedded NUL. */
	memcpy(msg, META_CTX_PAYLOAD, sizeof(msg));
	msg[8] = '\0';
	assert_int_equal(decode_exact(dec_meta_context, msg, sizeof(msg)), -EBADMSG);
	/* Longer than any string may be. */
	buffer_append_be32(&b, 1);
	buffer_append(&b, s, NBD_MAX_STRING + 1);
	assert_int_equal(decode_exact(dec_meta_context, b.data, b.len), -EMSGSIZE);

	/* The encoder refuses what the decoder would refuse, leaving the buffer as it was. */
	buffer_reset(&b);
	assert_int_equal(nbd_rep_meta_context_encode(&b, NBD_OPT_SET_META_CONTEXT, 1, s), -EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(nbd_rep_meta_context_encode(&b, NBD_OPT_SET_META_CONTEXT, 1, ""), -EINVAL);
	assert_int_equal(b.len, 0);
	buffer_free(&b);
	free(s);
}

/* ================================================================ error replies */

static int dec_rep_error(const void *buf, size_t len)
{
	struct nbd_string m;

	return nbd_rep_error_decode(buf, len, &m);
}

static void test_rep_error_golden(void **state)
{
	static const uint8_t want[] = {
		REP_MAGIC_BYTES,
		0x00, 0x00, 0x00, 0x07, /* NBD_OPT_GO */
		0x80, 0x00, 0x00, 0x06, /* NBD_REP_ERR_UNKNOWN */
		0x00, 0x00, 0x00, 0x0e,
		'n', 'o', ' ', 's', 'u', 'c', 'h', ' ', 'e', 'x', 'p', 'o', 'r', 't',
	};
	static const uint8_t want_bare[] = {
		REP_MAGIC_BYTES,
		0x00, 0x00, 0x00, 0x05, /* NBD_OPT_STARTTLS */
		0x80, 0x00, 0x00, 0x04, /* NBD_REP_ERR_PLATFORM */
		0x00, 0x00, 0x00, 0x00,
	};
	struct buffer b = BUFFER_INIT;
	struct nbd_string m = { 0 };
	uint8_t *msg;

	assert_int_equal(
		nbd_rep_error_encode(&b, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, "no such export"), 0);
	assert_bytes(b.data, b.len, want, sizeof(want));
	buffer_reset(&b);
	assert_int_equal(nbd_rep_error_encode(&b, NBD_OPT_STARTTLS, NBD_REP_ERR_PLATFORM, NULL), 0);
	assert_bytes(b.data, b.len, want_bare, sizeof(want_bare));
	buffer_reset(&b);
	assert_int_equal(nbd_rep_error_encode(&b, NBD_OPT_STARTTLS, NBD_REP_ERR_PLATFORM, ""), 0);
	assert_bytes(b.data, b.len, want_bare, sizeof(want_bare));
	buffer_free(&b);

	msg = dup_exact(want + NBD_OPTION_REPLY_HEADER_SIZE, 14);
	assert_int_equal(nbd_rep_error_decode(msg, 14, &m), 0);
	assert_true(nbd_string_eq(m, "no such export"));
	free(msg);
	assert_int_equal(nbd_rep_error_decode(NULL, 0, &m), 0);
	assert_int_equal(m.len, 0);
	assert_true(nbd_string_eq(m, ""));
}

static void test_rep_error_round_trip(void **state)
{
	char *long_msg = repeat('e', NBD_MAX_STRING);
	const uint32_t types[] = { NBD_REP_ERR_UNSUP,	    NBD_REP_ERR_POLICY,
				   NBD_REP_ERR_INVALID,	    NBD_REP_ERR_PLATFORM,
				   NBD_REP_ERR_TLS_REQD,    NBD_REP_ERR_UNKNOWN,
				   NBD_REP_ERR_SHUTDOWN,    NBD_REP_ERR_BLOCK_SIZE_REQD,
				   NBD_REP_ERR_TOO_BIG,	    NBD_REP_ERR_EXT_HEADER_REQD,
				   NBD_REP_ERR_BIT | 0x7fff };
	const char *msgs[] = { NULL, "x", long_msg };
	struct buffer b = BUFFER_INIT;

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
			struct nbd_string m;
			const uint8_t *payload;
			size_t len;
			uint8_t *msg;

			buffer_reset(&b);
			assert_int_equal(nbd_rep_error_encode(&b, NBD_OPT_INFO, types[t], msgs[i]),
					 0);
			payload = reply_payload(&b, NBD_OPT_INFO, types[t], &len);
			msg = dup_exact(payload, len);
			assert_int_equal(nbd_rep_error_decode(msg, len, &m), 0);
			assert_true(nbd_string_eq(m, msgs[i] ? msgs[i] : ""));
			free(msg);
		}
	}
	buffer_free(&b);
	free(long_msg);
}

static void test_rep_error_invalid(void **state)
{
	char *s = repeat('e', NBD_MAX_STRING + 1);
	struct buffer b = BUFFER_INIT;

	/* Only error types, with bit 31 set, may be sent this way. */
	assert_int_equal(nbd_rep_error_encode(&b, NBD_OPT_GO, NBD_REP_ACK, "x"), -EINVAL);
	assert_int_equal(nbd_rep_error_encode(&b, NBD_OPT_GO, NBD_REP_INFO, NULL), -EINVAL);
	assert_int_equal(nbd_rep_error_encode(&b, NBD_OPT_GO, NBD_REP_ERR_UNSUP, s), -EINVAL);
	assert_int_equal(b.len, 0);

	assert_int_equal(decode_exact(dec_rep_error, s, NBD_MAX_STRING + 1), -EMSGSIZE);
	assert_int_equal(decode_exact(dec_rep_error, s, NBD_MAX_STRING), 0);
	assert_int_equal(decode_exact(dec_rep_error, "bad\0msg", 7), -EBADMSG);
	assert_int_equal(decode_exact(dec_rep_error, "\0", 1), -EBADMSG);
	buffer_free(&b);
	free(s);
}

/* ================================================================ nbd_string helpers */

static void test_string_check(void **state)
{
	char *s = repeat('a', NBD_MAX_STRING + 1);

	assert_int_equal(nbd_string_check(NULL, 0), 0);
	assert_int_equal(nbd_string_check("", 0), 0);
	assert_int_equal(nbd_string_check("abc", 3), 0);
	assert_int_equal(nbd_string_check(s, NBD_MAX_STRING), 0);
	assert_int_equal(nbd_string_check(s, NBD_MAX_STRING + 1), -EMSGSIZE);
	assert_int_equal(nbd_string_check("a\0b", 3), -EBADMSG);
	assert_int_equal(nbd_string_check("\0", 1), -EBADMSG);
	/* Only the given bytes are judged: the terminating NUL of a C string is outside. */
	assert_int_equal(nbd_string_check("abc", 2), 0);
	s[NBD_MAX_STRING - 1] = '\0';
	assert_int_equal(nbd_string_check(s, NBD_MAX_STRING), -EBADMSG);
	free(s);
}

static void test_string_dup(void **state)
{
	uint8_t *raw = dup_exact("disk!", 4); /* not NUL-terminated */
	char *d;

	d = nbd_string_dup((struct nbd_string){ .ptr = (const char *)raw, .len = 4 });
	assert_non_null(d);
	assert_string_equal(d, "disk");
	free(d);
	d = nbd_string_dup((struct nbd_string){ .ptr = (const char *)raw, .len = 2 });
	assert_string_equal(d, "di");
	free(d);
	d = nbd_string_dup((struct nbd_string){ .ptr = NULL, .len = 0 });
	assert_non_null(d);
	assert_string_equal(d, "");
	free(d);
	free(raw);
}

static void test_string_eq(void **state)
{
	uint8_t *raw = dup_exact("diskX", 5);
	struct nbd_string s = { .ptr = (const char *)raw, .len = 4 };

	assert_true(nbd_string_eq(s, "disk"));
	assert_false(nbd_string_eq(s, "dis"));
	assert_false(nbd_string_eq(s, "diskX"));
	assert_false(nbd_string_eq(s, "DISK"));
	assert_false(nbd_string_eq(s, ""));
	s.len = 0;
	assert_true(nbd_string_eq(s, ""));
	assert_false(nbd_string_eq(s, "d"));
	/* An empty string decoded from an empty message may have no pointer at all. */
	s.ptr = NULL;
	assert_true(nbd_string_eq(s, ""));
	assert_false(nbd_string_eq(s, "x"));
	free(raw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info_request_encode_golden),
		cmocka_unit_test(test_info_request_decode_golden),
		cmocka_unit_test(test_info_request_round_trip),
		cmocka_unit_test(test_info_request_encode_invalid),
		cmocka_unit_test(test_info_request_truncated_trailing),
		cmocka_unit_test(test_info_request_malformed),
		cmocka_unit_test(test_info_request_name_too_long),
		cmocka_unit_test(test_meta_request_encode_golden),
		cmocka_unit_test(test_meta_request_decode_golden),
		cmocka_unit_test(test_meta_request_round_trip),
		cmocka_unit_test(test_meta_request_encode_invalid),
		cmocka_unit_test(test_meta_request_truncated_trailing),
		cmocka_unit_test(test_meta_request_malformed),
		cmocka_unit_test(test_meta_request_query_too_long),
		cmocka_unit_test(test_rep_server_golden),
		cmocka_unit_test(test_rep_server_round_trip),
		cmocka_unit_test(test_rep_server_malformed),
		cmocka_unit_test(test_rep_server_too_long),
		cmocka_unit_test(test_rep_info_export),
		cmocka_unit_test(test_rep_info_block_size),
		cmocka_unit_test(test_rep_info_name_description),
		cmocka_unit_test(test_rep_info_unknown),
		cmocka_unit_test(test_rep_info_round_trip),
		cmocka_unit_test(test_rep_info_malformed),
		cmocka_unit_test(test_rep_info_string_too_long),
		cmocka_unit_test(test_block_size_check),
		cmocka_unit_test(test_rep_meta_context_golden),
		cmocka_unit_test(test_rep_meta_context_round_trip),
		cmocka_unit_test(test_rep_meta_context_malformed),
		cmocka_unit_test(test_rep_error_golden),
		cmocka_unit_test(test_rep_error_round_trip),
		cmocka_unit_test(test_rep_error_invalid),
		cmocka_unit_test(test_string_check),
		cmocka_unit_test(test_string_dup),
		cmocka_unit_test(test_string_eq),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
