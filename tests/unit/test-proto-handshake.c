/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proto/handshake: greeting, client flags, option request and reply headers, the EXPORT_NAME reply.
 *
 * The golden byte arrays below were written out by hand from the field layouts of the NBD
 * specification (doc/proto.md), not produced by the encoders, so an encoder and decoder that agree
 * with each other but not with the wire format still fail.
 */
#include <errno.h>

#include "common/buffer.h"
#include "proto/handshake.h"
#include "tests/unit/proto-test-util.h"

/* "NBDMAGIC" and "IHAVEOPT" as they appear on the wire. */
#define NBDMAGIC_BYTES 0x4e, 0x42, 0x44, 0x4d, 0x41, 0x47, 0x49, 0x43
#define IHAVEOPT_BYTES 0x49, 0x48, 0x41, 0x56, 0x45, 0x4f, 0x50, 0x54
#define REP_MAGIC_BYTES 0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9

/* ---------------------------------------------------------------- greeting */

/* Newstyle greeting offering FIXED_NEWSTYLE and NO_ZEROES. */
static const uint8_t greeting_golden[] = {
	NBDMAGIC_BYTES,
	IHAVEOPT_BYTES,
	0x00, 0x03,
};

static int dec_greeting(const void *buf, size_t len)
{
	uint16_t flags;

	return nbd_greeting_decode(buf, len, &flags);
}

static void test_greeting_encode_golden(void **state)
{
	uint8_t out[NBD_GREETING_SIZE];

	memset(out, 0xaa, sizeof(out));
	nbd_greeting_encode(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES, out);
	assert_bytes(out, sizeof(out), greeting_golden, sizeof(greeting_golden));
}

static void test_greeting_decode_golden(void **state)
{
	uint8_t *msg = dup_exact(greeting_golden, sizeof(greeting_golden));
	uint16_t flags = 0;

	assert_int_equal(nbd_greeting_decode(msg, sizeof(greeting_golden), &flags), 0);
	assert_int_equal(flags, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	free(msg);
}

static void test_greeting_round_trip(void **state)
{
	/* Unknown handshake flags survive decoding: the client ignores them, the decoder does
	 * not. */
	static const uint16_t values[] = {
		0, NBD_FLAG_FIXED_NEWSTYLE, 0x0003, 0x8000, 0xfffc, 0xffff,
	};

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint8_t out[NBD_GREETING_SIZE];
		uint16_t flags = 0x5555;
		uint8_t *msg;

		nbd_greeting_encode(values[i], out);
		msg = dup_exact(out, sizeof(out));
		assert_int_equal(nbd_greeting_decode(msg, sizeof(out), &flags), 0);
		assert_int_equal(flags, values[i]);
		free(msg);
	}
}

static void test_greeting_truncated(void **state)
{
	assert_prefixes_fail(dec_greeting, greeting_golden, sizeof(greeting_golden), -EBADMSG);
}

static void test_greeting_trailing(void **state)
{
	assert_trailing_fails(dec_greeting, greeting_golden, sizeof(greeting_golden), -EBADMSG);
}

static void test_greeting_wrong_magic(void **state)
{
	uint8_t msg[NBD_GREETING_SIZE];

	/* First word wrong: not an NBD server at all. */
	memcpy(msg, greeting_golden, sizeof(msg));
	msg[0] ^= 0x01;
	assert_int_equal(decode_exact(dec_greeting, msg, sizeof(msg)), -EPROTO);
	/* Second word neither IHAVEOPT nor the oldstyle magic. */
	memcpy(msg, greeting_golden, sizeof(msg));
	msg[15] ^= 0x01;
	assert_int_equal(decode_exact(dec_greeting, msg, sizeof(msg)), -EPROTO);
	/* Both words swapped. */
	memcpy(msg, greeting_golden + 8, 8);
	memcpy(msg + 8, greeting_golden, 8);
	assert_int_equal(decode_exact(dec_greeting, msg, sizeof(msg)), -EPROTO);
}

static void test_greeting_oldstyle(void **state)
{
	/* NBDMAGIC, cliserv_magic 0x00420281861253, then the start of the 64-bit export size; an
	 * oldstyle server sends 152 bytes, the client reads the newstyle 18 and must recognise
	 * it. */
	static const uint8_t oldstyle[NBD_OLDSTYLE_GREETING_SIZE] = {
		NBDMAGIC_BYTES,
		0x00, 0x00, 0x42, 0x02, 0x81, 0x86, 0x12, 0x53,
		0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x01,
	};

	assert_int_equal(decode_exact(dec_greeting, oldstyle, NBD_GREETING_SIZE), -EPROTONOSUPPORT);
	assert_int_equal(decode_exact(dec_greeting, oldstyle, 16), -EPROTONOSUPPORT);
	assert_int_equal(decode_exact(dec_greeting, oldstyle, sizeof(oldstyle)), -EPROTONOSUPPORT);
	/* Cut inside the second magic it cannot be recognised yet: only "too short". */
	assert_int_equal(decode_exact(dec_greeting, oldstyle, 15), -EBADMSG);
}

/* ---------------------------------------------------------------- client flags */

static const uint8_t client_flags_golden[] = { 0x00, 0x00, 0x00, 0x03 };

static int dec_client_flags(const void *buf, size_t len)
{
	uint32_t flags;

	return nbd_client_flags_decode(buf, len, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES,
				       &flags);
}

static void test_client_flags_golden(void **state)
{
	uint8_t out[NBD_CLIENT_FLAGS_SIZE];
	uint8_t *msg;
	uint32_t flags = 0;

	nbd_client_flags_encode(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES, out);
	assert_bytes(out, sizeof(out), client_flags_golden, sizeof(client_flags_golden));

	msg = dup_exact(client_flags_golden, sizeof(client_flags_golden));
	assert_int_equal(nbd_client_flags_decode(msg, 4, NBD_HANDSHAKE_FLAGS_KNOWN, &flags),
			 0);
	assert_int_equal(flags, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	free(msg);
}

static void test_client_flags_round_trip(void **state)
{
	static const uint32_t values[] = { 0, NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES,
					   NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES };

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint8_t out[NBD_CLIENT_FLAGS_SIZE];
		uint32_t flags = 0xdeadbeef;

		nbd_client_flags_encode(values[i], out);
		assert_int_equal(nbd_client_flags_decode(out, sizeof(out),
							 NBD_HANDSHAKE_FLAGS_KNOWN, &flags),
				 0);
		assert_int_equal(flags, values[i]);
	}
}

static void test_client_flags_truncated_trailing(void **state)
{
	assert_prefixes_fail(dec_client_flags, client_flags_golden, 4, -EBADMSG);
	assert_trailing_fails(dec_client_flags, client_flags_golden, 4, -EBADMSG);
}

static void test_client_flags_not_offered(void **state)
{
	uint8_t out[NBD_CLIENT_FLAGS_SIZE];
	uint32_t flags = 0x12345678;

	/* NO_ZEROES answered although the server did not offer it. */
	nbd_client_flags_encode(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES, out);
	assert_int_equal(nbd_client_flags_decode(out, 4, NBD_FLAG_FIXED_NEWSTYLE, &flags), -EPROTO);
	/* FIXED_NEWSTYLE answered to a plain newstyle server. */
	nbd_client_flags_encode(NBD_FLAG_C_FIXED_NEWSTYLE, out);
	assert_int_equal(nbd_client_flags_decode(out, 4, 0, &flags), -EPROTO);
	assert_int_equal(nbd_client_flags_decode(out, 4, NBD_FLAG_NO_ZEROES, &flags), -EPROTO);
	/* No flags at all is always acceptable. */
	nbd_client_flags_encode(0, out);
	assert_int_equal(nbd_client_flags_decode(out, 4, 0, &flags), 0);
	assert_int_equal(flags, 0);
}

static void test_client_flags_unknown(void **state)
{
	/* Bits the protocol does not define make the server drop the client, whatever it
	 * offered. */
	static const uint32_t bad[] = { 1u << 2, 1u << 16, 1u << 31, 0xffffffff };
	uint32_t flags = 0x12345678;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t out[NBD_CLIENT_FLAGS_SIZE];

		nbd_client_flags_encode(bad[i] | NBD_FLAG_C_FIXED_NEWSTYLE, out);
		assert_int_equal(nbd_client_flags_decode(out, 4, 0xffff, &flags), -EPROTO);
	}
	assert_int_equal(flags, 0x12345678); /* untouched on failure */
}

/* ---------------------------------------------------------------- option request header */

/* NBD_OPT_GO with a 12-byte payload. */
static const uint8_t option_header_golden[] = {
	IHAVEOPT_BYTES,
	0x00, 0x00, 0x00, 0x07,
	0x00, 0x00, 0x00, 0x0c,
};

static int dec_option_header(const void *buf, size_t len)
{
	struct nbd_option_header h;

	return nbd_option_header_decode(buf, len, &h);
}

static void test_option_header_golden(void **state)
{
	uint8_t out[NBD_OPTION_HEADER_SIZE];
	struct nbd_option_header h = { 0 };
	uint8_t *msg;

	nbd_option_header_encode(NBD_OPT_GO, 12, out);
	assert_bytes(out, sizeof(out), option_header_golden, sizeof(option_header_golden));

	msg = dup_exact(option_header_golden, sizeof(option_header_golden));
	assert_int_equal(nbd_option_header_decode(msg, sizeof(option_header_golden), &h), 0);
	assert_int_equal(h.option, NBD_OPT_GO);
	assert_int_equal(h.length, 12);
	free(msg);
}

static void test_option_header_round_trip(void **state)
{
	static const struct nbd_option_header values[] = {
		{ NBD_OPT_EXPORT_NAME, 0 },
		{ NBD_OPT_EXTENDED_HEADERS, 0 },
		{ 0, 1 },
		/* Unknown options are the server's to answer with ERR_UNSUP, not the decoder's. */
		{ 0xffffffff, 0xffffffff },
		{ NBD_OPT_LIST_META_CONTEXT, 0x12345678 },
	};

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint8_t out[NBD_OPTION_HEADER_SIZE];
		struct nbd_option_header h = { 0 };

		nbd_option_header_encode(values[i].option, values[i].length, out);
		assert_int_equal(nbd_option_header_decode(out, sizeof(out), &h), 0);
		assert_int_equal(h.option, values[i].option);
		assert_int_equal(h.length, values[i].length);
	}
}

static void test_option_header_malformed(void **state)
{
	uint8_t msg[NBD_OPTION_HEADER_SIZE];

	assert_prefixes_fail(dec_option_header, option_header_golden, sizeof(msg), -EBADMSG);
	assert_trailing_fails(dec_option_header, option_header_golden, sizeof(msg), -EBADMSG);

	/* The server's NBDMAGIC, or the reply magic, in place of IHAVEOPT. */
	memcpy(msg, greeting_golden, 8);
	memcpy(msg + 8, option_header_golden + 8, 8);
	assert_int_equal(decode_exact(dec_option_header, msg, sizeof(msg)), -EPROTO);
	memcpy(msg, option_header_golden, sizeof(msg));
	msg[7] = 0x55; /* "IHAVEOPU" */
	assert_int_equal(decode_exact(dec_option_header, msg, sizeof(msg)), -EPROTO);
}

/* ---------------------------------------------------------------- whole option request */

static void test_option_encode_golden(void **state)
{
	static const uint8_t want_sr[] = {
		IHAVEOPT_BYTES,
		0x00, 0x00, 0x00, 0x08, /* NBD_OPT_STRUCTURED_REPLY */
		0x00, 0x00, 0x00, 0x00,
	};
	static const uint8_t want_export[] = {
		IHAVEOPT_BYTES,
		0x00, 0x00, 0x00, 0x01, /* NBD_OPT_EXPORT_NAME */
		0x00, 0x00, 0x00, 0x04,
		'd', 'i', 's', 'k',
	};
	struct buffer b = BUFFER_INIT;

	assert_int_equal(nbd_option_encode(&b, NBD_OPT_STRUCTURED_REPLY, NULL, 0), 0);
	assert_bytes(b.data, b.len, want_sr, sizeof(want_sr));
	buffer_reset(&b);
	assert_int_equal(nbd_option_encode(&b, NBD_OPT_EXPORT_NAME, "disk", 4), 0);
	assert_bytes(b.data, b.len, want_export, sizeof(want_export));

	/* Appends: a second option follows the first. */
	assert_int_equal(nbd_option_encode(&b, NBD_OPT_STRUCTURED_REPLY, NULL, 0), 0);
	assert_int_equal(b.len, sizeof(want_export) + sizeof(want_sr));
	assert_memory_equal(b.data + sizeof(want_export), want_sr, sizeof(want_sr));
	buffer_free(&b);
}

static void test_option_encode_round_trip(void **state)
{
	static const char payload[] = "some option payload";
	struct buffer b = BUFFER_INIT;
	struct nbd_option_header h = { 0 };

	assert_int_equal(nbd_option_encode(&b, NBD_OPT_SET_META_CONTEXT, payload, sizeof(payload)),
			 0);
	assert_int_equal(b.len, NBD_OPTION_HEADER_SIZE + sizeof(payload));
	assert_int_equal(nbd_option_header_decode(b.data, NBD_OPTION_HEADER_SIZE, &h), 0);
	assert_int_equal(h.option, NBD_OPT_SET_META_CONTEXT);
	assert_int_equal(h.length, sizeof(payload));
	assert_memory_equal(b.data + NBD_OPTION_HEADER_SIZE, payload, sizeof(payload));
	buffer_free(&b);
}

static void test_option_encode_too_long(void **state)
{
	struct buffer b = BUFFER_INIT;
	char dummy = 0;

	/* The length field has 32 bits; the check comes before any byte of payload is read. */
	assert_int_equal(nbd_option_encode(&b, NBD_OPT_GO, &dummy, (size_t)UINT32_MAX + 1),
			 -EOVERFLOW);
	assert_int_equal(b.len, 0);
	buffer_free(&b);
}

/* ---------------------------------------------------------------- option reply header */

/* NBD_REP_ACK to NBD_OPT_GO, no payload. */
static const uint8_t reply_header_golden[] = {
	REP_MAGIC_BYTES,
	0x00, 0x00, 0x00, 0x07,
	0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x00,
};

static int dec_reply_header(const void *buf, size_t len)
{
	struct nbd_option_reply_header h;

	return nbd_option_reply_header_decode(buf, len, NBD_OPT_GO, 4096, &h);
}

static void test_reply_header_golden(void **state)
{
	uint8_t out[NBD_OPTION_REPLY_HEADER_SIZE];
	struct nbd_option_reply_header h = { 0 };
	uint8_t *msg;

	nbd_option_reply_header_encode(NBD_OPT_GO, NBD_REP_ACK, 0, out);
	assert_bytes(out, sizeof(out), reply_header_golden, sizeof(reply_header_golden));

	msg = dup_exact(reply_header_golden, sizeof(reply_header_golden));
	assert_int_equal(
		nbd_option_reply_header_decode(msg, sizeof(reply_header_golden), NBD_OPT_GO, 0, &h),
		0);
	assert_int_equal(h.option, NBD_OPT_GO);
	assert_int_equal(h.type, NBD_REP_ACK);
	assert_int_equal(h.length, 0);
	free(msg);
}

static void test_reply_header_golden_error(void **state)
{
	/* NBD_REP_ERR_EXT_HEADER_REQD (2^31 + 10) to NBD_OPT_STRUCTURED_REPLY, 300-byte message. */
	static const uint8_t want[] = {
		REP_MAGIC_BYTES,
		0x00, 0x00, 0x00, 0x08,
		0x80, 0x00, 0x00, 0x0a,
		0x00, 0x00, 0x01, 0x2c,
	};
	uint8_t out[NBD_OPTION_REPLY_HEADER_SIZE];
	struct nbd_option_reply_header h = { 0 };

	nbd_option_reply_header_encode(NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_EXT_HEADER_REQD, 300,
				       out);
	assert_bytes(out, sizeof(out), want, sizeof(want));
	assert_int_equal(nbd_option_reply_header_decode(out, sizeof(out), NBD_OPT_STRUCTURED_REPLY,
							300, &h),
			 0);
	assert_int_equal(h.type, NBD_REP_ERR_EXT_HEADER_REQD);
	assert_true(NBD_REP_IS_ERR(h.type));
	assert_int_equal(h.length, 300);
}

static void test_reply_header_round_trip(void **state)
{
	static const struct nbd_option_reply_header values[] = {
		{ NBD_OPT_LIST, NBD_REP_SERVER, 8 },
		{ NBD_OPT_INFO, NBD_REP_INFO, 12 },
		{ NBD_OPT_SET_META_CONTEXT, NBD_REP_META_CONTEXT, 19 },
		{ NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY, 0 },
		{ 0xffffffff, 0xffffffff, 0xffffffff },
	};

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint8_t out[NBD_OPTION_REPLY_HEADER_SIZE];
		struct nbd_option_reply_header h = { 0 };

		nbd_option_reply_header_encode(values[i].option, values[i].type, values[i].length,
					       out);
		assert_int_equal(nbd_option_reply_header_decode(out, sizeof(out), values[i].option,
								UINT32_MAX, &h),
				 0);
		assert_int_equal(h.option, values[i].option);
		assert_int_equal(h.type, values[i].type);
		assert_int_equal(h.length, values[i].length);
	}
}

static void test_reply_header_malformed(void **state)
{
	uint8_t msg[NBD_OPTION_REPLY_HEADER_SIZE];
	struct nbd_option_reply_header h = { .option = 0x11, .type = 0x22, .length = 0x33 };

	assert_prefixes_fail(dec_reply_header, reply_header_golden, sizeof(msg), -EBADMSG);
	assert_trailing_fails(dec_reply_header, reply_header_golden, sizeof(msg), -EBADMSG);

	/* Wrong magic: IHAVEOPT in place of the reply magic, and one bit off. */
	memcpy(msg, option_header_golden, 8);
	memcpy(msg + 8, reply_header_golden + 8, 12);
	assert_int_equal(decode_exact(dec_reply_header, msg, sizeof(msg)), -EPROTO);
	memcpy(msg, reply_header_golden, sizeof(msg));
	msg[0] = 0x80;
	assert_int_equal(decode_exact(dec_reply_header, msg, sizeof(msg)), -EPROTO);

	/* A reply to another option than the one outstanding. */
	nbd_option_reply_header_encode(NBD_OPT_INFO, NBD_REP_ACK, 0, msg);
	assert_int_equal(decode_exact(dec_reply_header, msg, sizeof(msg)), -EPROTO);
	nbd_option_reply_header_encode(NBD_OPT_GO | 0x100, NBD_REP_ACK, 0, msg);
	assert_int_equal(decode_exact(dec_reply_header, msg, sizeof(msg)), -EPROTO);

	/* The payload length is bounded by the caller: exactly the limit passes, one more does
	 * not. */
	nbd_option_reply_header_encode(NBD_OPT_GO, NBD_REP_INFO, 4096, msg);
	assert_int_equal(decode_exact(dec_reply_header, msg, sizeof(msg)), 0);
	nbd_option_reply_header_encode(NBD_OPT_GO, NBD_REP_INFO, 4097, msg);
	assert_int_equal(decode_exact(dec_reply_header, msg, sizeof(msg)), -EMSGSIZE);
	nbd_option_reply_header_encode(NBD_OPT_GO, NBD_REP_INFO, 0xffffffff, msg);
	assert_int_equal(decode_exact(dec_reply_header, msg, sizeof(msg)), -EMSGSIZE);
	assert_int_equal(nbd_option_reply_header_decode(msg, sizeof(msg), NBD_OPT_GO, 0, &h),
			 -EMSGSIZE);
	/* Wrong magic is judged before the length. */
	msg[0] = 0xff;
	assert_int_equal(decode_exact(dec_reply_header, msg, sizeof(msg)), -EPROTO);

	/* Nothing is stored on failure. */
	assert_int_equal(h.option, 0x11);
	assert_int_equal(h.type, 0x22);
	assert_int_equal(h.length, 0x33);
}

/* ---------------------------------------------------------------- whole option reply */

static void test_reply_encode_golden(void **state)
{
	static const uint8_t want[] = {
		REP_MAGIC_BYTES,
		0x00, 0x00, 0x00, 0x03, /* NBD_OPT_LIST */
		0x80, 0x00, 0x00, 0x02, /* NBD_REP_ERR_POLICY */
		0x00, 0x00, 0x00, 0x02,
		'n', 'o',
	};
	static const uint8_t want_ack[] = {
		REP_MAGIC_BYTES,
		0x00, 0x00, 0x00, 0x02, /* NBD_OPT_ABORT */
		0x00, 0x00, 0x00, 0x01, /* NBD_REP_ACK */
		0x00, 0x00, 0x00, 0x00,
	};
	struct buffer b = BUFFER_INIT;
	struct nbd_option_reply_header h = { 0 };

	assert_int_equal(nbd_option_reply_encode(&b, NBD_OPT_LIST, NBD_REP_ERR_POLICY, "no", 2), 0);
	assert_bytes(b.data, b.len, want, sizeof(want));
	assert_int_equal(nbd_option_reply_header_decode(b.data, NBD_OPTION_REPLY_HEADER_SIZE,
							NBD_OPT_LIST, 2, &h),
			 0);
	assert_int_equal(h.type, NBD_REP_ERR_POLICY);
	assert_int_equal(h.length, 2);

	buffer_reset(&b);
	assert_int_equal(nbd_option_reply_encode(&b, NBD_OPT_ABORT, NBD_REP_ACK, NULL, 0), 0);
	assert_bytes(b.data, b.len, want_ack, sizeof(want_ack));

	assert_int_equal(
		nbd_option_reply_encode(&b, NBD_OPT_GO, NBD_REP_ACK, &b, (size_t)UINT32_MAX + 1),
		-EOVERFLOW);
	assert_int_equal(b.len, sizeof(want_ack));
	buffer_free(&b);
}

/* ---------------------------------------------------------------- EXPORT_NAME reply */

static int dec_export_name_reply(const void *buf, size_t len)
{
	uint64_t size;
	uint16_t flags;

	return nbd_export_name_reply_decode(buf, len, &size, &flags);
}

static void test_export_name_reply_golden(void **state)
{
	/* 4 GiB, HAS_FLAGS | READ_ONLY, then the 124 reserved zero bytes. */
	static const uint8_t head[NBD_EXPORT_NAME_REPLY_SIZE] = {
		0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x03,
	};
	uint8_t want[NBD_EXPORT_NAME_REPLY_SIZE + NBD_EXPORT_NAME_PADDING];
	struct buffer b = BUFFER_INIT;
	uint64_t size = 0;
	uint16_t flags = 0;
	uint8_t *msg;

	assert_int_equal(sizeof(want), 134);
	memset(want, 0, sizeof(want));
	memcpy(want, head, sizeof(head));

	assert_int_equal(nbd_export_name_reply_encode(&b, UINT64_C(0x100000000),
						      NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY,
						      false),
			 0);
	assert_bytes(b.data, b.len, want, sizeof(want));

	/* NO_ZEROES negotiated: the padding is left out entirely. */
	buffer_reset(&b);
	assert_int_equal(nbd_export_name_reply_encode(&b, UINT64_C(0x100000000),
						      NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY,
						      true),
			 0);
	assert_bytes(b.data, b.len, head, sizeof(head));
	buffer_free(&b);

	msg = dup_exact(head, sizeof(head));
	assert_int_equal(nbd_export_name_reply_decode(msg, sizeof(head), &size, &flags), 0);
	assert_int_equal(size, UINT64_C(0x100000000));
	assert_int_equal(flags, NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY);
	free(msg);
}

static void test_export_name_reply_round_trip(void **state)
{
	static const struct {
		uint64_t size;
		uint16_t flags;
	} values[] = {
		{ 0, NBD_FLAG_HAS_FLAGS },
		{ 512, 0xffff },
		{ UINT64_MAX, 0x0000 },
		{ UINT64_C(0x0123456789abcdef), 0x1234 },
	};

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		for (int nz = 0; nz <= 1; nz++) {
			struct buffer b = BUFFER_INIT;
			uint64_t size = 1;
			uint16_t flags = 1;

			assert_int_equal(nbd_export_name_reply_encode(&b, values[i].size,
								      values[i].flags, nz),
					 0);
			assert_int_equal(b.len, nz ? 10 : 134);
			/* The padding is all zero. */
			for (size_t j = NBD_EXPORT_NAME_REPLY_SIZE; j < b.len; j++)
				assert_int_equal(b.data[j], 0);
			assert_int_equal(nbd_export_name_reply_decode(
						 b.data, NBD_EXPORT_NAME_REPLY_SIZE, &size, &flags),
					 0);
			assert_int_equal(size, values[i].size);
			assert_int_equal(flags, values[i].flags);
			buffer_free(&b);
		}
	}
}

static void test_export_name_reply_malformed(void **state)
{
	uint8_t full[NBD_EXPORT_NAME_REPLY_SIZE + NBD_EXPORT_NAME_PADDING] = { 0, 0, 0, 0, 0,
									       0, 2, 0, 0, 1 };

	assert_prefixes_fail(dec_export_name_reply, full, NBD_EXPORT_NAME_REPLY_SIZE, -EBADMSG);
	assert_trailing_fails(dec_export_name_reply, full, NBD_EXPORT_NAME_REPLY_SIZE, -EBADMSG);
	/* The padding is the caller's to skip, never part of what the decoder is given. */
	assert_int_equal(decode_exact(dec_export_name_reply, full, sizeof(full)), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_encode_golden),
		cmocka_unit_test(test_greeting_decode_golden),
		cmocka_unit_test(test_greeting_round_trip),
		cmocka_unit_test(test_greeting_truncated),
		cmocka_unit_test(test_greeting_trailing),
		cmocka_unit_test(test_greeting_wrong_magic),
		cmocka_unit_test(test_greeting_oldstyle),
		cmocka_unit_test(test_client_flags_golden),
		cmocka_unit_test(test_client_flags_round_trip),
		cmocka_unit_test(test_client_flags_truncated_trailing),
		cmocka_unit_test(test_client_flags_not_offered),
		cmocka_unit_test(test_client_flags_unknown),
		cmocka_unit_test(test_option_header_golden),
		cmocka_unit_test(test_option_header_round_trip),
		cmocka_unit_test(test_option_header_malformed),
		cmocka_unit_test(test_option_encode_golden),
		cmocka_unit_test(test_option_encode_round_trip),
		cmocka_unit_test(test_option_encode_too_long),
		cmocka_unit_test(test_reply_header_golden),
		cmocka_unit_test(test_reply_header_golden_error),
		cmocka_unit_test(test_reply_header_round_trip),
		cmocka_unit_test(test_reply_header_malformed),
		cmocka_unit_test(test_reply_encode_golden),
		cmocka_unit_test(test_export_name_reply_golden),
		cmocka_unit_test(test_export_name_reply_round_trip),
		cmocka_unit_test(test_export_name_reply_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
