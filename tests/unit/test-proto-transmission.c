/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proto/transmission: request headers (compact, extended), reply headers (simple, structured,
 * extended), chunk payloads (OFFSET_DATA, OFFSET_HOLE, BLOCK_STATUS, BLOCK_STATUS_EXT, ERROR,
 * ERROR_OFFSET, unknown error types) and the BLOCK_STATUS request payload.
 *
 * Golden bytes were worked out by hand from the NBD specification's layouts (including the
 * extended-header extension).
 */
#include <errno.h>

#include "common/buffer.h"
#include "proto/transmission.h"
#include "tests/unit/proto-test-util.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ================================================================ requests */

/* WRITE with FUA, cookie 0x0102030405060708, 64 KiB at 1 MiB. */
static const uint8_t request_golden[] = {
	0x25, 0x60, 0x95, 0x13,
	0x00, 0x01,
	0x00, 0x01,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,
	0x00, 0x01, 0x00, 0x00,
};

/* Extended WRITE with PAYLOAD_LEN | FUA, cookie 0xfedcba9876543210, 4 KiB at 4 GiB. */
static const uint8_t ext_request_golden[] = {
	0x21, 0xe4, 0x1c, 0x71,
	0x00, 0x21,
	0x00, 0x01,
	0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
};

static int dec_request(const void *buf, size_t len)
{
	struct nbd_request r;

	return nbd_request_decode(buf, len, false, &r);
}

static int dec_ext_request(const void *buf, size_t len)
{
	struct nbd_request r;

	return nbd_request_decode(buf, len, true, &r);
}

static void test_request_golden(void **state)
{
	const struct nbd_request req = {
		.flags = NBD_CMD_FLAG_FUA,
		.type = NBD_CMD_WRITE,
		.cookie = UINT64_C(0x0102030405060708),
		.offset = 1u << 20,
		.length = 64u << 10,
	};
	struct nbd_request got = { 0 };
	uint8_t out[NBD_REQUEST_SIZE];
	uint8_t *msg;

	assert_int_equal(nbd_request_size(false), 28);
	assert_int_equal(nbd_request_encode(&req, false, out, sizeof(out)), NBD_REQUEST_SIZE);
	assert_bytes(out, sizeof(out), request_golden, sizeof(request_golden));

	msg = dup_exact(request_golden, sizeof(request_golden));
	assert_int_equal(nbd_request_decode(msg, sizeof(request_golden), false, &got),
			 NBD_REQUEST_SIZE);
	assert_int_equal(got.flags, NBD_CMD_FLAG_FUA);
	assert_int_equal(got.type, NBD_CMD_WRITE);
	assert_int_equal(got.cookie, UINT64_C(0x0102030405060708));
	assert_int_equal(got.offset, 1u << 20);
	assert_int_equal(got.length, 64u << 10);
	free(msg);
}

static void test_ext_request_golden(void **state)
{
	const struct nbd_request req = {
		.flags = NBD_CMD_FLAG_PAYLOAD_LEN | NBD_CMD_FLAG_FUA,
		.type = NBD_CMD_WRITE,
		.cookie = UINT64_C(0xfedcba9876543210),
		.offset = UINT64_C(1) << 32,
		.length = 4096,
	};
	struct nbd_request got = { 0 };
	uint8_t out[NBD_EXTENDED_REQUEST_SIZE];
	uint8_t *msg;

	assert_int_equal(nbd_request_size(true), 32);
	assert_int_equal(nbd_request_encode(&req, true, out, sizeof(out)),
			 NBD_EXTENDED_REQUEST_SIZE);
	assert_bytes(out, sizeof(out), ext_request_golden, sizeof(ext_request_golden));

	msg = dup_exact(ext_request_golden, sizeof(ext_request_golden));
	assert_int_equal(nbd_request_decode(msg, sizeof(ext_request_golden), true, &got),
			 NBD_EXTENDED_REQUEST_SIZE);
	assert_int_equal(got.flags, NBD_CMD_FLAG_PAYLOAD_LEN | NBD_CMD_FLAG_FUA);
	assert_int_equal(got.type, NBD_CMD_WRITE);
	assert_int_equal(got.cookie, UINT64_C(0xfedcba9876543210));
	assert_int_equal(got.offset, UINT64_C(1) << 32);
	assert_int_equal(got.length, 4096);
	free(msg);
}

static void test_request_round_trip(void **state)
{
	const struct nbd_request reqs[] = {
		{ 0, NBD_CMD_READ, 0, 0, 0 },
		{ 0, NBD_CMD_DISC, 1, 0, 0 },
		{ NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO, NBD_CMD_WRITE_ZEROES, UINT64_MAX,
		  UINT64_MAX - 511, 512 },
		{ NBD_CMD_FLAG_REQ_ONE, NBD_CMD_BLOCK_STATUS, 42, 4096, UINT32_MAX },
		{ 0xffff, 0xffff, UINT64_C(0x8000000000000001), 1, 1 },
	};

	for (size_t i = 0; i < ARRAY_LEN(reqs); i++) {
		for (int ext = 0; ext <= 1; ext++) {
			uint8_t out[NBD_EXTENDED_REQUEST_SIZE];
			struct nbd_request got;
			int size = ext ? NBD_EXTENDED_REQUEST_SIZE : NBD_REQUEST_SIZE;
			uint8_t *msg;

			memset(&got, 0x77, sizeof(got));
			assert_int_equal(nbd_request_encode(&reqs[i], ext, out, sizeof(out)), size);
			msg = dup_exact(out, (size_t)size);
			assert_int_equal(nbd_request_decode(msg, (size_t)size, ext, &got), size);
			assert_int_equal(got.flags, reqs[i].flags);
			assert_int_equal(got.type, reqs[i].type);
			assert_int_equal(got.cookie, reqs[i].cookie);
			assert_int_equal(got.offset, reqs[i].offset);
			assert_int_equal(got.length, reqs[i].length);
			free(msg);
		}
	}
}

static void test_request_64bit_length(void **state)
{
	/* An effect length beyond 32 bits: only extended headers can carry it. */
	struct nbd_request req = { .type = NBD_CMD_TRIM, .cookie = 9, .offset = 0,
				   .length = UINT64_C(0x200000000) };
	uint8_t out[NBD_EXTENDED_REQUEST_SIZE];
	struct nbd_request got = { 0 };

	memset(out, 0xee, sizeof(out));
	assert_int_equal(nbd_request_encode(&req, false, out, sizeof(out)), -EOVERFLOW);
	assert_int_equal(out[0], 0xee); /* nothing written */
	assert_int_equal(nbd_request_encode(&req, true, out, sizeof(out)),
			 NBD_EXTENDED_REQUEST_SIZE);
	assert_int_equal(out[24 + 3], 0x02);
	assert_int_equal(nbd_request_decode(out, sizeof(out), true, &got),
			 NBD_EXTENDED_REQUEST_SIZE);
	assert_int_equal(got.length, UINT64_C(0x200000000));
	/* The largest compact length still fits. */
	req.length = UINT32_MAX;
	assert_int_equal(nbd_request_encode(&req, false, out, sizeof(out)), NBD_REQUEST_SIZE);
}

static void test_request_encode_small_buffer(void **state)
{
	const struct nbd_request req = { .type = NBD_CMD_FLUSH };
	uint8_t out[NBD_EXTENDED_REQUEST_SIZE];

	assert_int_equal(nbd_request_encode(&req, false, out, NBD_REQUEST_SIZE - 1), -ENOBUFS);
	assert_int_equal(nbd_request_encode(&req, true, out, NBD_EXTENDED_REQUEST_SIZE - 1),
			 -ENOBUFS);
	assert_int_equal(nbd_request_encode(&req, true, out, NBD_REQUEST_SIZE), -ENOBUFS);
	assert_int_equal(nbd_request_encode(&req, false, out, 0), -ENOBUFS);
}

static void test_request_malformed(void **state)
{
	uint8_t msg[NBD_EXTENDED_REQUEST_SIZE + 8];
	struct nbd_request got = { .cookie = 0x1234 };

	assert_prefixes_fail(dec_request, request_golden, sizeof(request_golden), -EBADMSG);
	assert_prefixes_fail(dec_ext_request, ext_request_golden, sizeof(ext_request_golden),
			     -EBADMSG);

	/* Each magic where the other was negotiated, a reply magic, and one bit off. */
	assert_int_equal(decode_exact(dec_request, ext_request_golden, NBD_REQUEST_SIZE), -EPROTO);
	memcpy(msg, request_golden, NBD_REQUEST_SIZE);
	memset(msg + NBD_REQUEST_SIZE, 0, 4);
	assert_int_equal(decode_exact(dec_ext_request, msg, NBD_EXTENDED_REQUEST_SIZE), -EPROTO);
	memcpy(msg, request_golden, NBD_REQUEST_SIZE);
	msg[0] = 0x67, msg[1] = 0x44, msg[2] = 0x66, msg[3] = 0x98;
	assert_int_equal(decode_exact(dec_request, msg, NBD_REQUEST_SIZE), -EPROTO);
	memcpy(msg, request_golden, NBD_REQUEST_SIZE);
	msg[3] ^= 0x80;
	assert_int_equal(decode_exact(dec_request, msg, NBD_REQUEST_SIZE), -EPROTO);
	assert_int_equal(nbd_request_decode(msg, NBD_REQUEST_SIZE, false, &got), -EPROTO);
	assert_int_equal(got.cookie, 0x1234); /* nothing stored on failure */

	/* A header followed by its WRITE payload: the decoder takes the header and says how
	 * long. */
	memcpy(msg, request_golden, NBD_REQUEST_SIZE);
	memset(msg + NBD_REQUEST_SIZE, 0xab, sizeof(msg) - NBD_REQUEST_SIZE);
	assert_int_equal(decode_exact(dec_request, msg, sizeof(msg)), NBD_REQUEST_SIZE);
	memcpy(msg, ext_request_golden, NBD_EXTENDED_REQUEST_SIZE);
	assert_int_equal(decode_exact(dec_ext_request, msg, sizeof(msg)),
			 NBD_EXTENDED_REQUEST_SIZE);
}

/* ================================================================ reply headers */

/* Simple reply: error NBD_EIO, cookie 0x0102030405060708. */
static const uint8_t simple_golden[] = {
	0x67, 0x44, 0x66, 0x98,
	0x00, 0x00, 0x00, 0x05,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
};

/* Structured chunk: DONE, OFFSET_DATA, cookie 0x1122334455667788, 4104-byte payload. */
static const uint8_t structured_golden[] = {
	0x66, 0x8e, 0x33, 0xef,
	0x00, 0x01,
	0x00, 0x01,
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
	0x00, 0x00, 0x10, 0x08,
};

/* Extended chunk: no flags, BLOCK_STATUS_EXT, same cookie, request offset 2 MiB, 24-byte
 * payload. */
static const uint8_t extended_golden[] = {
	0x6e, 0x8a, 0x27, 0x8c,
	0x00, 0x00,
	0x00, 0x06,
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18,
};

static int dec_reply_compact(const void *buf, size_t len)
{
	struct nbd_reply_header h;

	return nbd_reply_header_decode(buf, len, false, &h);
}

static int dec_reply_extended(const void *buf, size_t len)
{
	struct nbd_reply_header h;

	return nbd_reply_header_decode(buf, len, true, &h);
}

static void test_simple_reply_golden(void **state)
{
	uint8_t out[NBD_SIMPLE_REPLY_SIZE];
	struct nbd_reply_header h;
	uint8_t *msg;

	assert_int_equal(nbd_simple_reply_encode(UINT64_C(0x0102030405060708), NBD_EIO, out,
						 sizeof(out)),
			 NBD_SIMPLE_REPLY_SIZE);
	assert_bytes(out, sizeof(out), simple_golden, sizeof(simple_golden));
	assert_int_equal(nbd_simple_reply_encode(1, 0, out, sizeof(out) - 1), -ENOBUFS);

	memset(&h, 0x99, sizeof(h));
	msg = dup_exact(simple_golden, sizeof(simple_golden));
	assert_int_equal(nbd_reply_header_decode(msg, sizeof(simple_golden), false, &h),
			 NBD_SIMPLE_REPLY_SIZE);
	assert_int_equal(h.format, NBD_REPLY_FORMAT_SIMPLE);
	assert_int_equal(h.flags, NBD_REPLY_FLAG_DONE); /* a simple reply is always the last */
	assert_int_equal(h.type, NBD_REPLY_TYPE_NONE);
	assert_int_equal(h.error, NBD_EIO);
	assert_int_equal(h.cookie, UINT64_C(0x0102030405060708));
	assert_int_equal(h.offset, 0);
	assert_int_equal(h.length, 0);
	free(msg);
}

static void test_structured_reply_golden(void **state)
{
	const struct nbd_reply_header in = {
		.format = NBD_REPLY_FORMAT_STRUCTURED,
		.flags = NBD_REPLY_FLAG_DONE,
		.type = NBD_REPLY_TYPE_OFFSET_DATA,
		.cookie = UINT64_C(0x1122334455667788),
		.length = 4104,
	};
	uint8_t out[NBD_STRUCTURED_REPLY_SIZE];
	struct nbd_reply_header h;
	uint8_t *msg;

	assert_int_equal(nbd_chunk_header_encode(&in, out, sizeof(out)), NBD_STRUCTURED_REPLY_SIZE);
	assert_bytes(out, sizeof(out), structured_golden, sizeof(structured_golden));

	memset(&h, 0x99, sizeof(h));
	msg = dup_exact(structured_golden, sizeof(structured_golden));
	assert_int_equal(nbd_reply_header_decode(msg, sizeof(structured_golden), false, &h),
			 NBD_STRUCTURED_REPLY_SIZE);
	assert_int_equal(h.format, NBD_REPLY_FORMAT_STRUCTURED);
	assert_int_equal(h.flags, NBD_REPLY_FLAG_DONE);
	assert_int_equal(h.type, NBD_REPLY_TYPE_OFFSET_DATA);
	assert_int_equal(h.error, 0);
	assert_int_equal(h.cookie, UINT64_C(0x1122334455667788));
	assert_int_equal(h.offset, 0);
	assert_int_equal(h.length, 4104);
	free(msg);
}

static void test_extended_reply_golden(void **state)
{
	const struct nbd_reply_header in = {
		.format = NBD_REPLY_FORMAT_EXTENDED,
		.flags = 0,
		.type = NBD_REPLY_TYPE_BLOCK_STATUS_EXT,
		.cookie = UINT64_C(0x1122334455667788),
		.offset = 2u << 20,
		.length = 24,
	};
	uint8_t out[NBD_EXTENDED_REPLY_SIZE];
	struct nbd_reply_header h;
	uint8_t *msg;

	assert_int_equal(nbd_chunk_header_encode(&in, out, sizeof(out)), NBD_EXTENDED_REPLY_SIZE);
	assert_bytes(out, sizeof(out), extended_golden, sizeof(extended_golden));

	memset(&h, 0x99, sizeof(h));
	msg = dup_exact(extended_golden, sizeof(extended_golden));
	assert_int_equal(nbd_reply_header_decode(msg, sizeof(extended_golden), true, &h),
			 NBD_EXTENDED_REPLY_SIZE);
	assert_int_equal(h.format, NBD_REPLY_FORMAT_EXTENDED);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.type, NBD_REPLY_TYPE_BLOCK_STATUS_EXT);
	assert_int_equal(h.error, 0);
	assert_int_equal(h.cookie, UINT64_C(0x1122334455667788));
	assert_int_equal(h.offset, 2u << 20);
	assert_int_equal(h.length, 24);
	free(msg);
}

static void test_reply_round_trip(void **state)
{
	/* Rows are { format, flags, type, error, cookie, offset, length }. */
	const enum nbd_reply_format S = NBD_REPLY_FORMAT_STRUCTURED, X = NBD_REPLY_FORMAT_EXTENDED;
	const uint16_t done = NBD_REPLY_FLAG_DONE;
	const struct nbd_reply_header chunks[] = {
		{ S, done, NBD_REPLY_TYPE_NONE, 0, 7, 0, 0 },
		{ S, 0xffff, 0xffff, 0, UINT64_MAX, 0, UINT32_MAX },
		{ S, 0, NBD_REPLY_TYPE_ERROR_OFFSET, 0, 1, 0, 14 },
		{ X, done, NBD_REPLY_TYPE_NONE, 0, 7, 4096, 0 },
		{ X, 0xfffe, 0x8001, 0, UINT64_MAX, UINT64_MAX, UINT64_MAX },
		{ X, 0, NBD_REPLY_TYPE_OFFSET_HOLE, 0, 2, 1, 12 },
	};
	static const uint32_t errors[] = { 0, NBD_EPERM, NBD_ESHUTDOWN, 0xffffffff };

	for (size_t i = 0; i < ARRAY_LEN(chunks); i++) {
		bool ext = chunks[i].format == NBD_REPLY_FORMAT_EXTENDED;
		uint8_t out[NBD_REPLY_HEADER_MAX];
		struct nbd_reply_header h;
		int size = nbd_chunk_header_encode(&chunks[i], out, sizeof(out));
		uint8_t *msg;

		assert_int_equal(size, ext ? NBD_EXTENDED_REPLY_SIZE : NBD_STRUCTURED_REPLY_SIZE);
		assert_int_equal(nbd_reply_header_size(out, 4), size);
		msg = dup_exact(out, (size_t)size);
		assert_int_equal(nbd_reply_header_decode(msg, (size_t)size, ext, &h), size);
		assert_int_equal(h.format, chunks[i].format);
		assert_int_equal(h.flags, chunks[i].flags);
		assert_int_equal(h.type, chunks[i].type);
		assert_int_equal(h.cookie, chunks[i].cookie);
		assert_int_equal(h.offset, chunks[i].offset);
		assert_int_equal(h.length, chunks[i].length);
		free(msg);
	}
	for (size_t i = 0; i < ARRAY_LEN(errors); i++) {
		uint8_t out[NBD_SIMPLE_REPLY_SIZE];
		struct nbd_reply_header h;

		assert_int_equal(nbd_simple_reply_encode(i * 1000, errors[i], out, sizeof(out)),
				 16);
		assert_int_equal(nbd_reply_header_decode(out, sizeof(out), false, &h), 16);
		assert_int_equal(h.error, errors[i]);
		assert_int_equal(h.cookie, i * 1000);
	}
}

static void test_chunk_header_encode_invalid(void **state)
{
	struct nbd_reply_header h = { .format = NBD_REPLY_FORMAT_STRUCTURED,
				      .length = UINT64_C(0x100000000) };
	uint8_t out[NBD_REPLY_HEADER_MAX];

	assert_int_equal(nbd_chunk_header_encode(&h, out, sizeof(out)), -EOVERFLOW);
	h.length = 0;
	assert_int_equal(nbd_chunk_header_encode(&h, out, NBD_STRUCTURED_REPLY_SIZE - 1), -ENOBUFS);
	h.format = NBD_REPLY_FORMAT_EXTENDED;
	h.length = UINT64_MAX; /* extended chunks carry 64 bits */
	assert_int_equal(nbd_chunk_header_encode(&h, out, sizeof(out)), NBD_EXTENDED_REPLY_SIZE);
	assert_int_equal(nbd_chunk_header_encode(&h, out, NBD_EXTENDED_REPLY_SIZE - 1), -ENOBUFS);
	/* A simple reply is no chunk. */
	h.format = NBD_REPLY_FORMAT_SIMPLE;
	assert_int_equal(nbd_chunk_header_encode(&h, out, sizeof(out)), -EINVAL);
}

static void test_reply_header_size(void **state)
{
	static const uint8_t request_magic[] = { 0x25, 0x60, 0x95, 0x13 };

	assert_int_equal(decode_exact(nbd_reply_header_size, simple_golden, 4), 16);
	assert_int_equal(decode_exact(nbd_reply_header_size, structured_golden, 4), 20);
	assert_int_equal(decode_exact(nbd_reply_header_size, extended_golden, 4), 32);
	assert_int_equal(decode_exact(nbd_reply_header_size, extended_golden, 32), 32);
	assert_prefixes_fail(nbd_reply_header_size, simple_golden, 4, -EBADMSG);
	assert_int_equal(decode_exact(nbd_reply_header_size, request_magic, 4), -EPROTO);
	assert_int_equal(decode_exact(nbd_reply_header_size, "\0\0\0\0", 4), -EPROTO);
}

static void test_reply_header_malformed(void **state)
{
	uint8_t msg[NBD_REPLY_HEADER_MAX + 4];
	struct nbd_reply_header h = { .cookie = 0x4242 };

	/* Cut anywhere: the magic is then unknown or the header short. */
	assert_prefixes_fail(dec_reply_compact, simple_golden, sizeof(simple_golden), -EBADMSG);
	assert_prefixes_fail(dec_reply_compact, structured_golden, sizeof(structured_golden),
			     -EBADMSG);
	assert_prefixes_fail(dec_reply_extended, extended_golden, sizeof(extended_golden),
			     -EBADMSG);

	/* The formats that the negotiation rules out. */
	assert_int_equal(decode_exact(dec_reply_extended, simple_golden, sizeof(simple_golden)),
			 -EPROTO);
	assert_int_equal(
		decode_exact(dec_reply_extended, structured_golden, sizeof(structured_golden)),
		-EPROTO);
	assert_int_equal(decode_exact(dec_reply_compact, extended_golden, sizeof(extended_golden)),
			 -EPROTO);

	/* Unknown magics: a request's, a byte-swapped one, zero. */
	memcpy(msg, ext_request_golden, NBD_EXTENDED_REQUEST_SIZE);
	assert_int_equal(decode_exact(dec_reply_extended, msg, 32), -EPROTO);
	memcpy(msg, structured_golden, 20);
	msg[0] = 0xef, msg[1] = 0x33, msg[2] = 0x8e, msg[3] = 0x66;
	assert_int_equal(decode_exact(dec_reply_compact, msg, 20), -EPROTO);
	memset(msg, 0, sizeof(msg));
	assert_int_equal(decode_exact(dec_reply_compact, msg, sizeof(msg)), -EPROTO);
	assert_int_equal(nbd_reply_header_decode(msg, sizeof(msg), true, &h), -EPROTO);
	assert_int_equal(h.cookie, 0x4242);

	/* Header followed by payload bytes: the header size comes back. */
	memcpy(msg, structured_golden, 20);
	assert_int_equal(decode_exact(dec_reply_compact, msg, sizeof(msg)), 20);
	memcpy(msg, simple_golden, 16);
	assert_int_equal(decode_exact(dec_reply_compact, msg, sizeof(msg)), 16);
	memcpy(msg, extended_golden, 32);
	assert_int_equal(decode_exact(dec_reply_extended, msg, sizeof(msg)), 32);
}

/* ================================================================ OFFSET_DATA */

static const uint8_t offset_data_golden[] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
	'a', 'b', 'c',
};

static int dec_offset_data(const void *buf, size_t len)
{
	uint64_t offset;
	const uint8_t *data;
	size_t data_len;

	return nbd_chunk_offset_data_decode(buf, len, &offset, &data, &data_len);
}

static void test_offset_data(void **state)
{
	uint8_t prefix[8];
	uint8_t *msg;
	uint64_t offset = 0;
	const uint8_t *data = NULL;
	size_t data_len = 0;

	nbd_chunk_offset_data_prefix(0x1000, prefix);
	assert_bytes(prefix, sizeof(prefix), offset_data_golden, 8);

	msg = dup_exact(offset_data_golden, sizeof(offset_data_golden));
	assert_int_equal(nbd_chunk_offset_data_decode(msg, sizeof(offset_data_golden), &offset,
						      &data, &data_len),
			 0);
	assert_int_equal(offset, 0x1000);
	assert_ptr_equal(data, msg + 8);
	assert_int_equal(data_len, 3);
	assert_memory_equal(data, "abc", 3);
	free(msg);

	/* Round trip, one byte of data at the largest offset. */
	uint8_t one[9];
	nbd_chunk_offset_data_prefix(UINT64_MAX, one);
	one[8] = 0x5a;
	msg = dup_exact(one, sizeof(one));
	assert_int_equal(nbd_chunk_offset_data_decode(msg, 9, &offset, &data, &data_len), 0);
	assert_int_equal(offset, UINT64_MAX);
	assert_int_equal(data_len, 1);
	assert_int_equal(data[0], 0x5a);
	free(msg);
}

static void test_offset_data_malformed(void **state)
{
	/* Fewer than 9 bytes: no offset, or no data (the spec wants length at least 9). */
	assert_prefixes_fail(dec_offset_data, offset_data_golden, 9, -EBADMSG);
}

/* ================================================================ OFFSET_HOLE */

static const uint8_t offset_hole_golden[NBD_CHUNK_OFFSET_HOLE_SIZE] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00,
	0x00, 0x01, 0x00, 0x00,
};

static int dec_offset_hole(const void *buf, size_t len)
{
	uint64_t offset;
	uint32_t size;

	return nbd_chunk_offset_hole_decode(buf, len, &offset, &size);
}

static void test_offset_hole(void **state)
{
	uint8_t out[NBD_CHUNK_OFFSET_HOLE_SIZE];
	uint64_t offset = 0;
	uint32_t size = 0;
	uint8_t *msg;

	assert_int_equal(NBD_CHUNK_OFFSET_HOLE_SIZE, 12);
	nbd_chunk_offset_hole_encode(0x2000, 64u << 10, out);
	assert_bytes(out, sizeof(out), offset_hole_golden, sizeof(offset_hole_golden));

	msg = dup_exact(offset_hole_golden, sizeof(offset_hole_golden));
	assert_int_equal(nbd_chunk_offset_hole_decode(msg, 12, &offset, &size), 0);
	assert_int_equal(offset, 0x2000);
	assert_int_equal(size, 64u << 10);
	free(msg);

	nbd_chunk_offset_hole_encode(UINT64_MAX, UINT32_MAX, out);
	assert_int_equal(nbd_chunk_offset_hole_decode(out, 12, &offset, &size), 0);
	assert_int_equal(offset, UINT64_MAX);
	assert_int_equal(size, UINT32_MAX);
}

static void test_offset_hole_malformed(void **state)
{
	uint8_t msg[NBD_CHUNK_OFFSET_HOLE_SIZE];
	uint64_t offset = 5;
	uint32_t size = 6;

	assert_prefixes_fail(dec_offset_hole, offset_hole_golden, 12, -EBADMSG);
	assert_trailing_fails(dec_offset_hole, offset_hole_golden, 12, -EBADMSG);
	/* The hole size must be nonzero. */
	nbd_chunk_offset_hole_encode(0x2000, 0, msg);
	assert_int_equal(decode_exact(dec_offset_hole, msg, sizeof(msg)), -EBADMSG);
	assert_int_equal(nbd_chunk_offset_hole_decode(msg, sizeof(msg), &offset, &size), -EBADMSG);
	assert_int_equal(offset, 5);
	assert_int_equal(size, 6);
}

/* ================================================================ BLOCK_STATUS */

/* Context 1: 4 KiB hole reading as zeroes, then 8 KiB of data. */
static const uint8_t block_status_golden[] = {
	0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* Context 2, one descriptor: 4 GiB with status 1. */
static const uint8_t block_status_ext_golden[] = {
	0x00, 0x00, 0x00, 0x02,
	0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
};

static int dec_block_status(const void *buf, size_t len)
{
	struct nbd_block_status bs;

	return nbd_chunk_block_status_decode(buf, len, NBD_REPLY_TYPE_BLOCK_STATUS, &bs);
}

static int dec_block_status_ext(const void *buf, size_t len)
{
	struct nbd_block_status bs;

	return nbd_chunk_block_status_decode(buf, len, NBD_REPLY_TYPE_BLOCK_STATUS_EXT, &bs);
}

static void test_block_status_golden(void **state)
{
	const struct nbd_extent extents[] = {
		{ 4096, NBD_STATE_HOLE | NBD_STATE_ZERO },
		{ 8192, 0 },
	};
	struct buffer b = BUFFER_INIT;
	struct nbd_block_status bs;
	struct nbd_extent e;
	uint8_t *msg;

	assert_int_equal(nbd_chunk_block_status_encode(&b, false, 1, extents, 2), 0);
	assert_bytes(b.data, b.len, block_status_golden, sizeof(block_status_golden));
	buffer_free(&b);

	msg = dup_exact(block_status_golden, sizeof(block_status_golden));
	assert_int_equal(nbd_chunk_block_status_decode(msg, sizeof(block_status_golden),
						       NBD_REPLY_TYPE_BLOCK_STATUS, &bs),
			 0);
	assert_int_equal(bs.context_id, 1);
	assert_false(bs.extended);
	assert_int_equal(bs.n_extents, 2);
	e = nbd_block_status_extent(&bs, 0);
	assert_int_equal(e.length, 4096);
	assert_int_equal(e.flags, NBD_STATE_HOLE | NBD_STATE_ZERO);
	e = nbd_block_status_extent(&bs, 1);
	assert_int_equal(e.length, 8192);
	assert_int_equal(e.flags, 0);
	e = nbd_block_status_extent(&bs, 2); /* out of range: nothing read */
	assert_int_equal(e.length, 0);
	assert_int_equal(e.flags, 0);
	free(msg);
}

static void test_block_status_ext_golden(void **state)
{
	const struct nbd_extent extents[] = { { UINT64_C(1) << 32, 1 } };
	struct buffer b = BUFFER_INIT;
	struct nbd_block_status bs;
	struct nbd_extent e;
	uint8_t *msg;

	assert_int_equal(nbd_chunk_block_status_encode(&b, true, 2, extents, 1), 0);
	assert_bytes(b.data, b.len, block_status_ext_golden, sizeof(block_status_ext_golden));
	buffer_free(&b);

	msg = dup_exact(block_status_ext_golden, sizeof(block_status_ext_golden));
	assert_int_equal(nbd_chunk_block_status_decode(msg, sizeof(block_status_ext_golden),
						       NBD_REPLY_TYPE_BLOCK_STATUS_EXT, &bs),
			 0);
	assert_int_equal(bs.context_id, 2);
	assert_true(bs.extended);
	assert_int_equal(bs.n_extents, 1);
	e = nbd_block_status_extent(&bs, 0);
	assert_int_equal(e.length, UINT64_C(1) << 32);
	assert_int_equal(e.flags, 1);
	e = nbd_block_status_extent(&bs, 1);
	assert_int_equal(e.length, 0);
	free(msg);
}

static void test_block_status_round_trip(void **state)
{
	struct nbd_extent extents[100];
	struct buffer b = BUFFER_INIT;

	for (size_t i = 0; i < ARRAY_LEN(extents); i++)
		extents[i] = (struct nbd_extent){ .length = (i + 1) * 512, .flags = i % 4 };
	extents[99] = (struct nbd_extent){ UINT32_MAX, UINT32_MAX }; /* compact maxima */
	for (int ext = 0; ext <= 1; ext++) {
		for (size_t n = 1; n <= ARRAY_LEN(extents); n += 33) {
			struct nbd_block_status bs;
			size_t want_len = ext ? 8 + 16 * n : 4 + 8 * n;
			uint8_t *msg;

			buffer_reset(&b);
			assert_int_equal(
				nbd_chunk_block_status_encode(&b, ext, 0xabcdef01,
							      extents + ARRAY_LEN(extents) - n, n),
				0);
			assert_int_equal(b.len, want_len);
			msg = dup_exact(b.data, b.len);
			assert_int_equal(nbd_chunk_block_status_decode(
						 msg, b.len,
						 ext ? NBD_REPLY_TYPE_BLOCK_STATUS_EXT
						     : NBD_REPLY_TYPE_BLOCK_STATUS,
						 &bs),
					 0);
			assert_int_equal(bs.context_id, 0xabcdef01);
			assert_int_equal(bs.n_extents, n);
			for (size_t i = 0; i < n; i++) {
				struct nbd_extent e = nbd_block_status_extent(&bs, i);
				const struct nbd_extent *w = &extents[ARRAY_LEN(extents) - n + i];

				assert_int_equal(e.length, w->length);
				assert_int_equal(e.flags, w->flags);
			}
			free(msg);
		}
	}
	/* 64-bit lengths and status values only in the extended form. */
	extents[0] = (struct nbd_extent){ UINT64_MAX, UINT64_C(0x8000000000000001) };
	buffer_reset(&b);
	assert_int_equal(nbd_chunk_block_status_encode(&b, true, 0, extents, 1), 0);
	struct nbd_block_status bs;
	assert_int_equal(
		nbd_chunk_block_status_decode(b.data, b.len, NBD_REPLY_TYPE_BLOCK_STATUS_EXT, &bs),
		0);
	assert_int_equal(nbd_block_status_extent(&bs, 0).length, UINT64_MAX);
	assert_int_equal(nbd_block_status_extent(&bs, 0).flags, UINT64_C(0x8000000000000001));
	buffer_free(&b);
}

static void test_block_status_encode_invalid(void **state)
{
	struct nbd_extent extents[3] = { { 512, 0 }, { 512, 0 }, { 512, 0 } };
	struct buffer b = BUFFER_INIT;

	buffer_append(&b, "prior", 5);
	/* At least one extent. */
	assert_int_equal(nbd_chunk_block_status_encode(&b, false, 1, extents, 0), -EINVAL);
	assert_int_equal(nbd_chunk_block_status_encode(&b, true, 1, extents, 0), -EINVAL);
	assert_int_equal(b.len, 5);
	/* No extent of length zero, wherever it is: what was appended is taken back. */
	extents[2].length = 0;
	assert_int_equal(nbd_chunk_block_status_encode(&b, false, 1, extents, 3), -EINVAL);
	assert_int_equal(b.len, 5);
	assert_int_equal(nbd_chunk_block_status_encode(&b, true, 1, extents, 3), -EINVAL);
	assert_int_equal(b.len, 5);
	/* Compact descriptors have 32-bit lengths and flags. */
	extents[2] = (struct nbd_extent){ UINT64_C(0x100000000), 0 };
	assert_int_equal(nbd_chunk_block_status_encode(&b, false, 1, extents, 3), -EOVERFLOW);
	assert_int_equal(b.len, 5);
	extents[2] = (struct nbd_extent){ 512, UINT64_C(0x100000000) };
	assert_int_equal(nbd_chunk_block_status_encode(&b, false, 1, extents, 3), -EOVERFLOW);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "prior", 5);
	buffer_free(&b);
}

static void test_block_status_malformed(void **state)
{
	uint8_t msg[sizeof(block_status_golden) + 8];
	struct nbd_block_status bs = { .context_id = 77 };

	/* Cut anywhere: no context id, no descriptor, or a partial descriptor. Cut after a whole
	 * descriptor is a valid chunk with fewer extents (compact chunks carry no count). */
	for (size_t len = 0; len < sizeof(block_status_golden); len++) {
		int r = decode_exact(dec_block_status, block_status_golden, len);

		if (len < 12 || (len - 4) % 8)
			assert_int_equal(r, -EBADMSG);
		else
			assert_int_equal(r, 0);
	}
	/* Not 4 + a multiple of 8. */
	assert_trailing_fails(dec_block_status, block_status_golden, sizeof(block_status_golden),
			      -EBADMSG);
	/* An extent of length zero, first or last. */
	memcpy(msg, block_status_golden, sizeof(block_status_golden));
	memset(msg + 4, 0, 4);
	assert_int_equal(decode_exact(dec_block_status, msg, sizeof(block_status_golden)),
			 -EBADMSG);
	memcpy(msg, block_status_golden, sizeof(block_status_golden));
	memset(msg + 12, 0, 4);
	assert_int_equal(decode_exact(dec_block_status, msg, sizeof(block_status_golden)),
			 -EBADMSG);
	/* Not a block status chunk type at all: the caller's mistake. */
	assert_int_equal(nbd_chunk_block_status_decode(block_status_golden,
						       sizeof(block_status_golden),
						       NBD_REPLY_TYPE_OFFSET_DATA, &bs),
			 -EINVAL);
	assert_int_equal(nbd_chunk_block_status_decode(block_status_golden,
						       sizeof(block_status_golden),
						       NBD_REPLY_TYPE_ERROR, &bs),
			 -EINVAL);
	assert_int_equal(bs.context_id, 77);
	/* A compact payload read as the extended layout: the "count" is the first length, 4096. */
	assert_int_equal(decode_exact(dec_block_status_ext, block_status_golden,
				      sizeof(block_status_golden)),
			 -EBADMSG);
}

static void test_block_status_ext_malformed(void **state)
{
	const size_t len = sizeof(block_status_ext_golden);
	uint8_t msg[sizeof(block_status_ext_golden) + 16];

	assert_prefixes_fail(dec_block_status_ext, block_status_ext_golden, len, -EBADMSG);
	assert_trailing_fails(dec_block_status_ext, block_status_ext_golden, len, -EBADMSG);

	/* A count of zero is forbidden, with or without descriptors after it. */
	memcpy(msg, block_status_ext_golden, len);
	memset(msg + 4, 0, 4);
	assert_int_equal(decode_exact(dec_block_status_ext, msg, 8), -EBADMSG);
	assert_int_equal(decode_exact(dec_block_status_ext, msg, len), -EBADMSG);
	/* Count and length disagree: more descriptors claimed than sent ... */
	memcpy(msg, block_status_ext_golden, len);
	msg[7] = 2;
	assert_int_equal(decode_exact(dec_block_status_ext, msg, len), -EBADMSG);
	/* ... counts that would overflow count × 16 ... */
	memset(msg + 4, 0xff, 4);
	assert_int_equal(decode_exact(dec_block_status_ext, msg, len), -EBADMSG);
	msg[4] = 0x10, msg[5] = 0, msg[6] = 0, msg[7] = 0x01; /* 0x10000001 × 16 wraps to 16 */
	assert_int_equal(decode_exact(dec_block_status_ext, msg, len), -EBADMSG);
	/* ... and fewer claimed than sent. */
	memcpy(msg, block_status_ext_golden, len);
	memcpy(msg + len, block_status_ext_golden + 8, 16);
	assert_int_equal(decode_exact(dec_block_status_ext, msg, len + 16), -EBADMSG);
	msg[7] = 2;
	assert_int_equal(decode_exact(dec_block_status_ext, msg, len + 16), 0);
	/* A zero-length extent, in the second descriptor. */
	memset(msg + 24, 0, 8);
	assert_int_equal(decode_exact(dec_block_status_ext, msg, len + 16), -EBADMSG);
	/* Extended payload read as compact: 24 bytes is not 4 + 8n. */
	assert_int_equal(decode_exact(dec_block_status, block_status_ext_golden, len), -EBADMSG);
}

/* ================================================================ ERROR / ERROR_OFFSET */

/* ERROR: NBD_EPERM, "denied". */
static const uint8_t error_golden[] = {
	0x00, 0x00, 0x00, 0x01,
	0x00, 0x06,
	'd', 'e', 'n', 'i', 'e', 'd',
};

/* ERROR_OFFSET: NBD_EIO, "bad", at 12 KiB. */
static const uint8_t error_offset_golden[] = {
	0x00, 0x00, 0x00, 0x05,
	0x00, 0x03,
	'b', 'a', 'd',
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x00,
};

static int dec_error(const void *buf, size_t len)
{
	uint32_t error;
	struct nbd_string msg;
	uint64_t offset;

	return nbd_chunk_error_decode(buf, len, NBD_REPLY_TYPE_ERROR, &error, &msg, &offset);
}

static int dec_error_offset(const void *buf, size_t len)
{
	uint32_t error;
	struct nbd_string msg;
	uint64_t offset;

	return nbd_chunk_error_decode(buf, len, NBD_REPLY_TYPE_ERROR_OFFSET, &error, &msg, &offset);
}

/* An error chunk type this code does not know (2^15 + 3). */
static int dec_error_unknown(const void *buf, size_t len)
{
	uint32_t error;
	struct nbd_string msg;
	uint64_t offset;

	return nbd_chunk_error_decode(buf, len, NBD_REPLY_TYPE_ERR_BIT + 3, &error, &msg, &offset);
}

static void test_error_golden(void **state)
{
	struct buffer b = BUFFER_INIT;
	uint32_t error = 0;
	struct nbd_string m = { 0 };
	uint64_t offset = 99;
	uint8_t *msg;

	assert_int_equal(nbd_chunk_error_encode(&b, NBD_EPERM, "denied", false, 0), 0);
	assert_bytes(b.data, b.len, error_golden, sizeof(error_golden));
	buffer_free(&b);

	msg = dup_exact(error_golden, sizeof(error_golden));
	assert_int_equal(nbd_chunk_error_decode(msg, sizeof(error_golden), NBD_REPLY_TYPE_ERROR,
						&error, &m, &offset),
			 0);
	assert_int_equal(error, NBD_EPERM);
	assert_true(nbd_string_eq(m, "denied"));
	assert_ptr_equal(m.ptr, (const char *)msg + 6);
	assert_int_equal(offset, 0); /* ERROR has no offset */
	/* The offset pointer is optional. */
	assert_int_equal(nbd_chunk_error_decode(msg, sizeof(error_golden), NBD_REPLY_TYPE_ERROR,
						&error, &m, NULL),
			 0);
	free(msg);
}

static void test_error_offset_golden(void **state)
{
	struct buffer b = BUFFER_INIT;
	uint32_t error = 0;
	struct nbd_string m = { 0 };
	uint64_t offset = 0;
	uint8_t *msg;

	assert_int_equal(nbd_chunk_error_encode(&b, NBD_EIO, "bad", true, 12u << 10), 0);
	assert_bytes(b.data, b.len, error_offset_golden, sizeof(error_offset_golden));
	buffer_free(&b);

	msg = dup_exact(error_offset_golden, sizeof(error_offset_golden));
	assert_int_equal(nbd_chunk_error_decode(msg, sizeof(error_offset_golden),
						NBD_REPLY_TYPE_ERROR_OFFSET, &error, &m, &offset),
			 0);
	assert_int_equal(error, NBD_EIO);
	assert_true(nbd_string_eq(m, "bad"));
	assert_int_equal(offset, 12u << 10);
	free(msg);
}

static void test_error_no_message(void **state)
{
	/* ERROR with EINVAL and no message: the 6-byte minimum; ERROR_OFFSET's 14-byte minimum. */
	static const uint8_t want[] = { 0x00, 0x00, 0x00, 0x16, 0x00, 0x00 };
	static const uint8_t want_offset[] = {
		0x00, 0x00, 0x00, 0x6c, 0x00, 0x00,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
	};
	struct buffer b = BUFFER_INIT;
	uint32_t error = 0;
	struct nbd_string m = { .len = 5 };
	uint64_t offset = 0;

	assert_int_equal(nbd_chunk_error_encode(&b, NBD_EINVAL, NULL, false, 0), 0);
	assert_bytes(b.data, b.len, want, sizeof(want));
	buffer_reset(&b);
	assert_int_equal(nbd_chunk_error_encode(&b, NBD_EINVAL, "", false, 0), 0);
	assert_bytes(b.data, b.len, want, sizeof(want));
	buffer_reset(&b);
	assert_int_equal(nbd_chunk_error_encode(&b, NBD_ESHUTDOWN, NULL, true, UINT64_MAX - 1), 0);
	assert_bytes(b.data, b.len, want_offset, sizeof(want_offset));
	buffer_free(&b);

	assert_int_equal(decode_exact(dec_error, want, sizeof(want)), 0);
	assert_int_equal(nbd_chunk_error_decode(want, sizeof(want), NBD_REPLY_TYPE_ERROR, &error,
						&m, &offset),
			 0);
	assert_int_equal(error, NBD_EINVAL);
	assert_int_equal(m.len, 0);
	assert_int_equal(nbd_chunk_error_decode(want_offset, sizeof(want_offset),
						NBD_REPLY_TYPE_ERROR_OFFSET, &error, &m, &offset),
			 0);
	assert_int_equal(error, NBD_ESHUTDOWN);
	assert_int_equal(offset, UINT64_MAX - 1);
}

static void test_error_round_trip(void **state)
{
	char *long_msg = malloc(NBD_MAX_STRING + 1);
	const char *msgs[] = { NULL, "x", "a longer message, with punctuation.", long_msg };
	const uint32_t errors[] = { NBD_EPERM, NBD_EOVERFLOW, 0xffffffff };
	struct buffer b = BUFFER_INIT;

	assert_non_null(long_msg);
	memset(long_msg, 'm', NBD_MAX_STRING);
	long_msg[NBD_MAX_STRING] = '\0';
	for (size_t e = 0; e < ARRAY_LEN(errors); e++) {
		for (size_t i = 0; i < ARRAY_LEN(msgs); i++) {
			for (int with_offset = 0; with_offset <= 1; with_offset++) {
				size_t mlen = msgs[i] ? strlen(msgs[i]) : 0;
				uint32_t error = 0;
				struct nbd_string m;
				uint64_t offset = 0;
				uint8_t *msg;

				buffer_reset(&b);
				assert_int_equal(nbd_chunk_error_encode(&b, errors[e], msgs[i],
									with_offset, 0x1234 + e),
						 0);
				assert_int_equal(b.len, 6 + mlen + (with_offset ? 8 : 0));
				msg = dup_exact(b.data, b.len);
				assert_int_equal(nbd_chunk_error_decode(
							 msg, b.len,
							 with_offset ? NBD_REPLY_TYPE_ERROR_OFFSET
								     : NBD_REPLY_TYPE_ERROR,
							 &error, &m, &offset),
						 0);
				assert_int_equal(error, errors[e]);
				assert_true(nbd_string_eq(m, msgs[i] ? msgs[i] : ""));
				assert_int_equal(offset, with_offset ? 0x1234 + e : 0);
				free(msg);
			}
		}
	}
	buffer_free(&b);
	free(long_msg);
}

static void test_error_encode_invalid(void **state)
{
	char *s = malloc(NBD_MAX_STRING + 2);
	struct buffer b = BUFFER_INIT;

	assert_non_null(s);
	memset(s, 'e', NBD_MAX_STRING + 1);
	s[NBD_MAX_STRING + 1] = '\0';
	/* Error chunks always carry an error. */
	assert_int_equal(nbd_chunk_error_encode(&b, 0, "x", false, 0), -EINVAL);
	assert_int_equal(nbd_chunk_error_encode(&b, NBD_SUCCESS, NULL, true, 0), -EINVAL);
	/* The message obeys the 4096-byte string limit. */
	assert_int_equal(nbd_chunk_error_encode(&b, NBD_EIO, s, false, 0), -EINVAL);
	assert_int_equal(b.len, 0);
	buffer_free(&b);
	free(s);
}

static void test_error_malformed(void **state)
{
	uint8_t msg[64];
	struct buffer b = BUFFER_INIT;
	uint32_t error = 0x55;
	struct nbd_string m = { 0 };
	uint64_t offset = 0x66;

	assert_prefixes_fail(dec_error, error_golden, sizeof(error_golden), -EBADMSG);
	assert_trailing_fails(dec_error, error_golden, sizeof(error_golden), -EBADMSG);
	assert_prefixes_fail(dec_error_offset, error_offset_golden, sizeof(error_offset_golden),
			     -EBADMSG);
	assert_trailing_fails(dec_error_offset, error_offset_golden, sizeof(error_offset_golden),
			      -EBADMSG);
	/* The ERROR payload read as ERROR_OFFSET lacks its offset, and the reverse has 8 too
	 * many. */
	assert_int_equal(decode_exact(dec_error_offset, error_golden, sizeof(error_golden)),
			 -EBADMSG);
	assert_int_equal(decode_exact(dec_error, error_offset_golden, sizeof(error_offset_golden)),
			 -EBADMSG);

	/* Message length past the end: by one, and 0xffff. */
	memcpy(msg, error_golden, sizeof(error_golden));
	msg[5] = 7;
	assert_int_equal(decode_exact(dec_error, msg, sizeof(error_golden)), -EBADMSG);
	msg[4] = 0xff, msg[5] = 0xff;
	assert_int_equal(decode_exact(dec_error, msg, sizeof(error_golden)), -EBADMSG);
	assert_int_equal(decode_exact(dec_error_unknown, msg, sizeof(error_golden)), -EBADMSG);
	/* Message length swallowing the offset of ERROR_OFFSET. */
	memcpy(msg, error_offset_golden, sizeof(error_offset_golden));
	msg[5] = 3 + 8;
	assert_int_equal(decode_exact(dec_error_offset, msg, sizeof(error_offset_golden)),
			 -EBADMSG);
	/* Error zero. */
	memcpy(msg, error_golden, sizeof(error_golden));
	memset(msg, 0, 4);
	assert_int_equal(decode_exact(dec_error, msg, sizeof(error_golden)), -EBADMSG);
	assert_int_equal(decode_exact(dec_error_unknown, msg, sizeof(error_golden)), -EBADMSG);
	memcpy(msg, error_offset_golden, sizeof(error_offset_golden));
	memset(msg, 0, 4);
	assert_int_equal(decode_exact(dec_error_offset, msg, sizeof(error_offset_golden)),
			 -EBADMSG);
	/* NUL inside the message. */
	memcpy(msg, error_golden, sizeof(error_golden));
	msg[8] = '\0';
	assert_int_equal(decode_exact(dec_error, msg, sizeof(error_golden)), -EBADMSG);
	memcpy(msg, error_offset_golden, sizeof(error_offset_golden));
	msg[6] = '\0';
	assert_int_equal(decode_exact(dec_error_offset, msg, sizeof(error_offset_golden)),
			 -EBADMSG);
	/* Not an error chunk type: the caller's mistake. */
	assert_int_equal(nbd_chunk_error_decode(error_golden, sizeof(error_golden),
						NBD_REPLY_TYPE_OFFSET_DATA, &error, &m, &offset),
			 -EINVAL);
	assert_int_equal(nbd_chunk_error_decode(error_golden, sizeof(error_golden),
						NBD_REPLY_TYPE_NONE, &error, &m, &offset),
			 -EINVAL);
	/* Nothing stored on failure. */
	assert_int_equal(error, 0x55);
	assert_int_equal(offset, 0x66);

	/* A message beyond the 4096-byte string limit, fully present. */
	buffer_append_be32(&b, NBD_EIO);
	buffer_append_be16(&b, NBD_MAX_STRING + 1);
	for (size_t i = 0; i <= NBD_MAX_STRING; i++)
		buffer_append(&b, "m", 1);
	assert_int_equal(decode_exact(dec_error, b.data, b.len), -EMSGSIZE);
	buffer_append_be64(&b, 0);
	assert_int_equal(decode_exact(dec_error_offset, b.data, b.len), -EMSGSIZE);
	buffer_free(&b);
}

static void test_error_unknown_type(void **state)
{
	/* An unknown error type shares the ERROR prefix and may carry more after the message; the
	 * client treats the reply as failed and may go on. */
	static const uint8_t unknown[] = {
		0x00, 0x00, 0x00, 0x1c,
		0x00, 0x02,
		'h', 'i',
		0xca, 0xfe, 0xba, 0xbe,
	};
	uint32_t error = 0;
	struct nbd_string m = { 0 };
	uint64_t offset = 77;
	uint8_t *msg = dup_exact(unknown, sizeof(unknown));

	assert_int_equal(nbd_chunk_error_decode(msg, sizeof(unknown), NBD_REPLY_TYPE_ERR_BIT + 3,
						&error, &m, &offset),
			 0);
	assert_int_equal(error, NBD_ENOSPC);
	assert_true(nbd_string_eq(m, "hi"));
	assert_int_equal(offset, 0); /* no offset for a type without one */
	assert_int_equal(nbd_chunk_error_decode(msg, sizeof(unknown), 0xffff, &error, &m, NULL), 0);
	free(msg);

	/* Exactly the prefix, nothing after: still fine. */
	assert_int_equal(decode_exact(dec_error_unknown, unknown, 8), 0);
	/* Shorter than its own message: the stream cannot be trusted any more. */
	assert_prefixes_fail(dec_error_unknown, unknown, 8, -EBADMSG);
}

/* ================================================================ BLOCK_STATUS request payload */

/* Effect length 1 MiB, contexts 1 and 2. */
static const uint8_t bs_payload_golden[] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x02,
};

static int dec_bs_payload(const void *buf, size_t len)
{
	struct nbd_block_status_payload p;

	return nbd_block_status_payload_decode(buf, len, &p);
}

static void test_bs_payload_golden(void **state)
{
	static const uint32_t ids[] = { 1, 2 };
	struct buffer b = BUFFER_INIT;
	struct nbd_block_status_payload p;
	uint8_t *msg;

	assert_int_equal(nbd_block_status_payload_encode(&b, 1u << 20, ids, 2), 0);
	assert_bytes(b.data, b.len, bs_payload_golden, sizeof(bs_payload_golden));
	buffer_free(&b);

	msg = dup_exact(bs_payload_golden, sizeof(bs_payload_golden));
	assert_int_equal(nbd_block_status_payload_decode(msg, sizeof(bs_payload_golden), &p), 0);
	assert_int_equal(p.effect_length, 1u << 20);
	assert_int_equal(p.n_ids, 2);
	assert_int_equal(nbd_block_status_payload_id(&p, 0), 1);
	assert_int_equal(nbd_block_status_payload_id(&p, 1), 2);
	assert_int_equal(nbd_block_status_payload_id(&p, 2), 0); /* out of range: nothing read */
	free(msg);
}

static void test_bs_payload_round_trip(void **state)
{
	uint32_t ids[50];
	struct buffer b = BUFFER_INIT;

	for (size_t i = 0; i < ARRAY_LEN(ids); i++)
		ids[i] = (uint32_t)(0xffffffffu - i * 0x01010101u);
	for (size_t n = 0; n <= ARRAY_LEN(ids); n += 10) {
		struct nbd_block_status_payload p;
		uint8_t *msg;

		buffer_reset(&b);
		assert_int_equal(nbd_block_status_payload_encode(&b, UINT64_MAX - n, ids, n), 0);
		assert_int_equal(b.len, 8 + 4 * n);
		msg = dup_exact(b.data, b.len);
		assert_int_equal(nbd_block_status_payload_decode(msg, b.len, &p), 0);
		assert_int_equal(p.effect_length, UINT64_MAX - n);
		assert_int_equal(p.n_ids, n);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(nbd_block_status_payload_id(&p, i), ids[i]);
		free(msg);
	}
	buffer_free(&b);
}

static void test_bs_payload_malformed(void **state)
{
	/* The payload is 8 + 4n bytes: any other length is malformed. Shorter lengths of the form
	 * 8 + 4k are valid payloads naming fewer contexts. */
	for (size_t len = 0; len < sizeof(bs_payload_golden); len++) {
		int r = decode_exact(dec_bs_payload, bs_payload_golden, len);

		if (len < 8 || (len - 8) % 4)
			assert_int_equal(r, -EBADMSG);
		else
			assert_int_equal(r, 0);
	}
	assert_trailing_fails(dec_bs_payload, bs_payload_golden, sizeof(bs_payload_golden),
			      -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_golden),
		cmocka_unit_test(test_ext_request_golden),
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_request_64bit_length),
		cmocka_unit_test(test_request_encode_small_buffer),
		cmocka_unit_test(test_request_malformed),
		cmocka_unit_test(test_simple_reply_golden),
		cmocka_unit_test(test_structured_reply_golden),
		cmocka_unit_test(test_extended_reply_golden),
		cmocka_unit_test(test_reply_round_trip),
		cmocka_unit_test(test_chunk_header_encode_invalid),
		cmocka_unit_test(test_reply_header_size),
		cmocka_unit_test(test_reply_header_malformed),
		cmocka_unit_test(test_offset_data),
		cmocka_unit_test(test_offset_data_malformed),
		cmocka_unit_test(test_offset_hole),
		cmocka_unit_test(test_offset_hole_malformed),
		cmocka_unit_test(test_block_status_golden),
		cmocka_unit_test(test_block_status_ext_golden),
		cmocka_unit_test(test_block_status_round_trip),
		cmocka_unit_test(test_block_status_encode_invalid),
		cmocka_unit_test(test_block_status_malformed),
		cmocka_unit_test(test_block_status_ext_malformed),
		cmocka_unit_test(test_error_golden),
		cmocka_unit_test(test_error_offset_golden),
		cmocka_unit_test(test_error_no_message),
		cmocka_unit_test(test_error_round_trip),
		cmocka_unit_test(test_error_encode_invalid),
		cmocka_unit_test(test_error_malformed),
		cmocka_unit_test(test_error_unknown_type),
		cmocka_unit_test(test_bs_payload_golden),
		cmocka_unit_test(test_bs_payload_round_trip),
		cmocka_unit_test(test_bs_payload_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
