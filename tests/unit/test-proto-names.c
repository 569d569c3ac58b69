/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proto/names: the name of every protocol value, the transmission flags string, and the mapping
 * between protocol errors and errno values in both directions.
 */
#include <errno.h>
#include <limits.h>

#include "proto/names.h"
#include "proto/nbd-protocol.h"
#include "tests/unit/proto-test-util.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* NULL-safe string comparison with a readable failure. */
static void assert_name(const char *got, const char *want)
{
	if (!want) {
		if (got)
			fail_msg("expected no name, got \"%s\"", got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
}

static void test_option_names(void **state)
{
	static const struct {
		uint32_t v;
		const char *name;
	} cases[] = {
		{ 1, "EXPORT_NAME" },
		{ 2, "ABORT" },
		{ 3, "LIST" },
		{ 4, "PEEK_EXPORT" },
		{ 5, "STARTTLS" },
		{ 6, "INFO" },
		{ 7, "GO" },
		{ 8, "STRUCTURED_REPLY" },
		{ 9, "LIST_META_CONTEXT" },
		{ 10, "SET_META_CONTEXT" },
		{ 11, "EXTENDED_HEADERS" },
		{ 0, NULL },
		{ 12, NULL },
		{ 0x100, NULL },
		{ 0x80000001, NULL },
		{ UINT32_MAX, NULL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		assert_name(nbd_option_name(cases[i].v), cases[i].name);
	/* The enum and the numbers the tests spell out agree. */
	assert_name(nbd_option_name(NBD_OPT_GO), "GO");
	assert_name(nbd_option_name(NBD_OPT_EXTENDED_HEADERS), "EXTENDED_HEADERS");
}

static void test_reply_type_names(void **state)
{
	static const struct {
		uint32_t v;
		const char *name;
	} cases[] = {
		{ 1, "ACK" },
		{ 2, "SERVER" },
		{ 3, "INFO" },
		{ 4, "META_CONTEXT" },
		{ 0x80000001, "ERR_UNSUP" },
		{ 0x80000002, "ERR_POLICY" },
		{ 0x80000003, "ERR_INVALID" },
		{ 0x80000004, "ERR_PLATFORM" },
		{ 0x80000005, "ERR_TLS_REQD" },
		{ 0x80000006, "ERR_UNKNOWN" },
		{ 0x80000007, "ERR_SHUTDOWN" },
		{ 0x80000008, "ERR_BLOCK_SIZE_REQD" },
		{ 0x80000009, "ERR_TOO_BIG" },
		{ 0x8000000a, "ERR_EXT_HEADER_REQD" },
		{ 0, NULL },
		{ 5, NULL },
		{ 0x80000000, NULL },
		{ 0x8000000b, NULL },
		{ 0x00000006, NULL }, /* ERR_UNKNOWN without bit 31 */
		{ UINT32_MAX, NULL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		assert_name(nbd_reply_type_name(cases[i].v), cases[i].name);
}

static void test_reply_error_description(void **state)
{
	assert_name(nbd_reply_error_description(NBD_REP_ERR_UNKNOWN),
		    "the server has no such export");
	assert_name(nbd_reply_error_description(NBD_REP_ERR_TLS_REQD),
		    "the server requires TLS first");
	assert_name(nbd_reply_error_description(NBD_REP_ERR_UNSUP),
		    "the server does not support this option");
	assert_name(nbd_reply_error_description(NBD_REP_ACK), "acknowledged");
	/* Every known type has its own description, distinct from the fallbacks and each other. */
	static const uint32_t known[] = {
		NBD_REP_ACK,	      NBD_REP_SERVER,
		NBD_REP_INFO,	      NBD_REP_META_CONTEXT,
		NBD_REP_ERR_UNSUP,    NBD_REP_ERR_POLICY,
		NBD_REP_ERR_INVALID,  NBD_REP_ERR_PLATFORM,
		NBD_REP_ERR_TLS_REQD, NBD_REP_ERR_UNKNOWN,
		NBD_REP_ERR_SHUTDOWN, NBD_REP_ERR_BLOCK_SIZE_REQD,
		NBD_REP_ERR_TOO_BIG,  NBD_REP_ERR_EXT_HEADER_REQD,
	};
	for (size_t i = 0; i < ARRAY_LEN(known); i++) {
		const char *d = nbd_reply_error_description(known[i]);

		assert_non_null(d);
		assert_string_not_equal(d, "unknown reply");
		assert_string_not_equal(d, "the server refused with an unknown error");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(d, nbd_reply_error_description(known[j]));
	}
	/* Unknown types: an error is still recognisably a refusal. */
	assert_name(nbd_reply_error_description(0x8000000b),
		    "the server refused with an unknown error");
	assert_name(nbd_reply_error_description(UINT32_MAX),
		    "the server refused with an unknown error");
	assert_name(nbd_reply_error_description(0), "unknown reply");
	assert_name(nbd_reply_error_description(5), "unknown reply");
}

static void test_info_names(void **state)
{
	assert_name(nbd_info_name(0), "EXPORT");
	assert_name(nbd_info_name(1), "NAME");
	assert_name(nbd_info_name(2), "DESCRIPTION");
	assert_name(nbd_info_name(3), "BLOCK_SIZE");
	assert_name(nbd_info_name(4), NULL);
	assert_name(nbd_info_name(0x100), NULL);
	assert_name(nbd_info_name(UINT16_MAX), NULL);
}

static void test_cmd_names(void **state)
{
	static const char *const names[] = { "READ",	     "WRITE",	     "DISC",
					     "FLUSH",	     "TRIM",	     "CACHE",
					     "WRITE_ZEROES", "BLOCK_STATUS", "RESIZE" };

	for (uint16_t i = 0; i < ARRAY_LEN(names); i++)
		assert_name(nbd_cmd_name(i), names[i]);
	assert_name(nbd_cmd_name(9), NULL);
	assert_name(nbd_cmd_name(0x100), NULL);
	assert_name(nbd_cmd_name(UINT16_MAX), NULL);
	assert_name(nbd_cmd_name(NBD_CMD_BLOCK_STATUS), "BLOCK_STATUS");
}

static void test_chunk_type_names(void **state)
{
	static const struct {
		uint16_t v;
		const char *name;
	} cases[] = {
		{ 0, "NONE" },
		{ 1, "OFFSET_DATA" },
		{ 2, "OFFSET_HOLE" },
		{ 5, "BLOCK_STATUS" },
		{ 6, "BLOCK_STATUS_EXT" },
		{ 0x8001, "ERROR" },
		{ 0x8002, "ERROR_OFFSET" },
		{ 3, NULL },
		{ 4, NULL },
		{ 7, NULL },
		{ 0x8000, NULL },
		{ 0x8003, NULL },
		{ 0x0001 | 0x4000, NULL },
		{ UINT16_MAX, NULL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		assert_name(nbd_chunk_type_name(cases[i].v), cases[i].name);
}

static void test_error_names(void **state)
{
	static const struct {
		uint32_t v;
		const char *name;
	} cases[] = {
		{ 0, "SUCCESS" },
		{ 1, "EPERM" },
		{ 5, "EIO" },
		{ 12, "ENOMEM" },
		{ 22, "EINVAL" },
		{ 28, "ENOSPC" },
		{ 75, "EOVERFLOW" },
		{ 95, "ENOTSUP" },
		{ 108, "ESHUTDOWN" },
		{ 2, NULL },
		{ 13, NULL },
		{ 109, NULL },
		{ 0x80000001, NULL },
		{ UINT32_MAX, NULL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		assert_name(nbd_error_name(cases[i].v), cases[i].name);
}

/* ================================================================ transmission flags */

/* Formats into an exactly-sized heap buffer, so a write past len is an ASan report. */
static char *flags_string(uint16_t flags, size_t len)
{
	char *buf = malloc(len ? len : 1);
	const char *r;

	assert_non_null(buf);
	buf[0] = '#';
	r = nbd_transmission_flags_string(flags, buf, len);
	assert_ptr_equal(r, buf);
	return buf;
}

static void assert_flags_string(uint16_t flags, size_t len, const char *want)
{
	char *s = flags_string(flags, len);

	assert_string_equal(s, want);
	free(s);
}

static void test_flags_string(void **state)
{
	assert_flags_string(0, 64, "none");
	assert_flags_string(NBD_FLAG_HAS_FLAGS, 64, "none");
	assert_flags_string(NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY, 64, "read-only");
	assert_flags_string(NBD_FLAG_READ_ONLY, 64, "read-only"); /* HAS_FLAGS is never shown */
	assert_flags_string(NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
				    NBD_FLAG_CAN_MULTI_CONN,
			    64, "flush,fua,multi-conn");
	assert_flags_string(0x1fff, 256,
			    "read-only,flush,fua,rotational,trim,zeroes,df,multi-conn,resize,cache,"
			    "fast-zero,block-status-payload");
	/* Bits the protocol does not define, as hex, in bit order among the known ones. */
	assert_flags_string(0xe001, 64, "0x2000,0x4000,0x8000");
	assert_flags_string(0x2002, 64, "read-only,0x2000");
	assert_flags_string(0xffff, 256,
			    "read-only,flush,fua,rotational,trim,zeroes,df,multi-conn,resize,cache,"
			    "fast-zero,block-status-payload,0x2000,0x4000,0x8000");
}

static void test_flags_string_each_bit(void **state)
{
	static const char *const names[] = {
		NULL,	       "read-only", "flush",	  "fua",       "rotational",
		"trim",	       "zeroes",    "df",	  "multi-conn", "resize",
		"cache",       "fast-zero", "block-status-payload",
	};

	for (unsigned bit = 1; bit < ARRAY_LEN(names); bit++) {
		char *s = flags_string((uint16_t)((1u << bit) | NBD_FLAG_HAS_FLAGS), 64);

		assert_string_equal(s, names[bit]);
		/* And back: the string names the bit it came from. */
		assert_int_equal(nbd_transmission_flag_from_name(s), 1 << bit);
		free(s);
	}
}

static void test_flags_string_truncated(void **state)
{
	/* "read-only,flush": 15 characters and the NUL. */
	const uint16_t f = NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_FLUSH;

	assert_flags_string(f, 16, "read-only,flush");
	/* Too short for the whole: the names that fit, never a piece of one. */
	assert_flags_string(f, 15, "read-only");
	assert_flags_string(f, 11, "read-only");
	assert_flags_string(f, 10, "read-only");
	assert_flags_string(f, 9, "");
	assert_flags_string(f, 1, "");
	assert_flags_string(0xe000, 14, "0x2000,0x4000");
	assert_flags_string(0xe000, 13, "0x2000");
	assert_flags_string(0, 5, "none");
	assert_flags_string(0, 4, "");

	/* No room at all: the buffer is not touched. */
	char *s = flags_string(f, 0);
	assert_int_equal(s[0], '#');
	free(s);
}

static void test_flag_from_name(void **state)
{
	assert_int_equal(nbd_transmission_flag_from_name("has-flags"), NBD_FLAG_HAS_FLAGS);
	assert_int_equal(nbd_transmission_flag_from_name("read-only"), NBD_FLAG_READ_ONLY);
	assert_int_equal(nbd_transmission_flag_from_name("flush"), NBD_FLAG_SEND_FLUSH);
	assert_int_equal(nbd_transmission_flag_from_name("fua"), NBD_FLAG_SEND_FUA);
	assert_int_equal(nbd_transmission_flag_from_name("rotational"), NBD_FLAG_ROTATIONAL);
	assert_int_equal(nbd_transmission_flag_from_name("trim"), NBD_FLAG_SEND_TRIM);
	assert_int_equal(nbd_transmission_flag_from_name("zeroes"), NBD_FLAG_SEND_WRITE_ZEROES);
	assert_int_equal(nbd_transmission_flag_from_name("df"), NBD_FLAG_SEND_DF);
	assert_int_equal(nbd_transmission_flag_from_name("multi-conn"), NBD_FLAG_CAN_MULTI_CONN);
	assert_int_equal(nbd_transmission_flag_from_name("resize"), NBD_FLAG_SEND_RESIZE);
	assert_int_equal(nbd_transmission_flag_from_name("cache"), NBD_FLAG_SEND_CACHE);
	assert_int_equal(nbd_transmission_flag_from_name("fast-zero"), NBD_FLAG_SEND_FAST_ZERO);
	assert_int_equal(nbd_transmission_flag_from_name("block-status-payload"),
			 NBD_FLAG_BLOCK_STATUS_PAYLOAD);
	assert_int_equal(nbd_transmission_flag_from_name(""), -EINVAL);
	assert_int_equal(nbd_transmission_flag_from_name("none"), -EINVAL);
	assert_int_equal(nbd_transmission_flag_from_name("READ-ONLY"), -EINVAL);
	assert_int_equal(nbd_transmission_flag_from_name("read-only,flush"), -EINVAL);
	assert_int_equal(nbd_transmission_flag_from_name("0x2000"), -EINVAL);
}

/* ================================================================ errno mappings */

static void test_error_from_errno(void **state)
{
	static const struct {
		int err;
		uint32_t nbd;
	} cases[] = {
		{ 0, NBD_SUCCESS },
		{ EPERM, 1 },
		{ EIO, 5 },
		{ ENOMEM, 12 },
		{ EINVAL, 22 },
		{ ENOSPC, 28 },
		{ EOVERFLOW, 75 },
		{ ENOTSUP, 95 },
		{ EOPNOTSUPP, 95 },
		{ ESHUTDOWN, 108 },
		/* the spec's own advice: */
		{ EDQUOT, NBD_ENOSPC },
		{ EFBIG, NBD_ENOSPC },
		/* and this module's choices for the rest: */
		{ EROFS, NBD_EPERM },
		{ EACCES, NBD_EPERM },
		{ ERANGE, NBD_EINVAL },
		{ ENOENT, NBD_EIO },
		{ EAGAIN, NBD_EIO },
		{ 4095, NBD_EIO },
		{ INT_MAX, NBD_EIO },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		assert_int_equal(nbd_error_from_errno(cases[i].err), cases[i].nbd);
		/* Negative errno values, as functions return them, map the same way. */
		assert_int_equal(nbd_error_from_errno(-cases[i].err), cases[i].nbd);
	}
	/* The most negative int has no positive counterpart; it is no errno either. */
	assert_int_equal(nbd_error_from_errno(INT_MIN), NBD_EIO);
}

static void test_error_to_errno(void **state)
{
	static const struct {
		uint32_t nbd;
		int err;
	} cases[] = {
		{ 0, 0 },
		{ 1, EPERM },
		{ 5, EIO },
		{ 12, ENOMEM },
		{ 22, EINVAL },
		{ 28, ENOSPC },
		{ 75, EOVERFLOW },
		{ 95, ENOTSUP },
		{ 108, ESHUTDOWN }, /* unknown values are treated as EINVAL, as the spec asks: */
		{ 2, EINVAL },
		{ 13, EINVAL },
		{ 0x80000000, EINVAL },
		{ UINT32_MAX, EINVAL },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		assert_int_equal(nbd_error_to_errno(cases[i].nbd), cases[i].err);
}

static void test_error_round_trip(void **state)
{
	static const uint32_t errors[] = { NBD_SUCCESS,	  NBD_EPERM,   NBD_EIO,
					   NBD_ENOMEM,	  NBD_EINVAL,  NBD_ENOSPC,
					   NBD_EOVERFLOW, NBD_ENOTSUP, NBD_ESHUTDOWN };

	for (size_t i = 0; i < ARRAY_LEN(errors); i++) {
		int err = nbd_error_to_errno(errors[i]);

		assert_int_equal(nbd_error_from_errno(err), errors[i]);
		assert_int_equal(nbd_error_from_errno(-err), errors[i]);
		assert_non_null(nbd_error_name(errors[i]));
	}
}

static void test_reply_error_to_errno(void **state)
{
	static const struct {
		uint32_t type;
		int err;
	} cases[] = {
		{ NBD_REP_ERR_UNSUP, -EOPNOTSUPP },
		{ NBD_REP_ERR_PLATFORM, -EOPNOTSUPP },
		{ NBD_REP_ERR_POLICY, -EACCES },
		{ NBD_REP_ERR_INVALID, -EINVAL },
		{ NBD_REP_ERR_BLOCK_SIZE_REQD, -EINVAL },
		{ NBD_REP_ERR_TLS_REQD, -EPERM },
		{ NBD_REP_ERR_UNKNOWN, -ENOENT },
		{ NBD_REP_ERR_SHUTDOWN, -ESHUTDOWN },
		{ NBD_REP_ERR_TOO_BIG, -E2BIG },
		/* no closer errno than "protocol": */
		{ NBD_REP_ERR_EXT_HEADER_REQD, -EPROTO },
		{ NBD_REP_ERR_BIT | 0x1234, -EPROTO },
		{ NBD_REP_ACK, -EPROTO },
		{ NBD_REP_INFO, -EPROTO },
		{ 0, -EPROTO },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		assert_int_equal(nbd_reply_error_to_errno(cases[i].type), cases[i].err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_option_names),
		cmocka_unit_test(test_reply_type_names),
		cmocka_unit_test(test_reply_error_description),
		cmocka_unit_test(test_info_names),
		cmocka_unit_test(test_cmd_names),
		cmocka_unit_test(test_chunk_type_names),
		cmocka_unit_test(test_error_names),
		cmocka_unit_test(test_flags_string),
		cmocka_unit_test(test_flags_string_each_bit),
		cmocka_unit_test(test_flags_string_truncated),
		cmocka_unit_test(test_flag_from_name),
		cmocka_unit_test(test_error_from_errno),
		cmocka_unit_test(test_error_to_errno),
		cmocka_unit_test(test_error_round_trip),
		cmocka_unit_test(test_reply_error_to_errno),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
