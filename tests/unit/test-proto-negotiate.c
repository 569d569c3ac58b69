/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The client negotiation state machine against scripted servers.
 *
 * Each test writes the server's side of a conversation as bytes, runs the machine over it the way a
 * caller would (optionally one byte at a time), and asserts both what the client sent and what it
 * concluded. The server byte streams are built from the codecs, whose bytes test-proto-* pin down.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buffer.h"
#include "common/unaligned.h"
#include "proto/handshake.h"
#include "proto/negotiate.h"
#include "proto/option.h"

struct run {
	struct buffer client; /* everything the client wrote */
	size_t server_consumed;
	int tls_handshakes;
	enum nbd_neg_want end;
};

/* Drives n over the server bytes until it is done or failed. chunk limits each feed, to check that
 * partial input is handled; at the end of the script the server "closes". */
static void drive(struct nbd_neg *n, const struct buffer *server, size_t chunk, struct run *run)
{
	for (int guard = 0; guard < 1000000; guard++) {
		enum nbd_neg_want want = nbd_neg_want(n);
		const void *out;
		size_t len, avail, wanted;
		ssize_t r;

		switch (want) {
		case NBD_NEG_WANT_WRITE:
			out = nbd_neg_output(n, &len);
			assert_non_null(out);
			assert_true(len > 0);
			/* Write in two pieces to exercise partial progress. */
			buffer_append(&run->client, out, len / 2);
			nbd_neg_output_done(n, len / 2);
			out = nbd_neg_output(n, &len);
			buffer_append(&run->client, out, len);
			nbd_neg_output_done(n, len);
			break;
		case NBD_NEG_WANT_READ:
			wanted = nbd_neg_input_wanted(n);
			assert_true(wanted > 0);
			avail = server->len - run->server_consumed;
			if (avail == 0) {
				(void)nbd_neg_eof(n);
				break;
			}
			len = MIN(MIN(avail, chunk), wanted + 7); /* offer more than wanted */
			r = nbd_neg_feed(n, server->data + run->server_consumed, len);
			if (r < 0) {
				assert_int_equal(nbd_neg_want(n), NBD_NEG_FAILED);
				break;
			}
			assert_true((size_t)r <= wanted);
			run->server_consumed += (size_t)r;
			break;
		case NBD_NEG_WANT_TLS:
			run->tls_handshakes++;
			nbd_neg_tls_done(n);
			break;
		case NBD_NEG_DONE:
		case NBD_NEG_FAILED:
			run->end = want;
			return;
		}
	}
	fail_msg("negotiation did not finish");
}

/* ---- building the server's side ---- */

static void greeting(struct buffer *s, uint16_t flags)
{
	nbd_greeting_encode(flags, buffer_append_space(s, NBD_GREETING_SIZE));
}

static void reply(struct buffer *s, uint32_t option, uint32_t type, const void *p, size_t len)
{
	assert_int_equal(nbd_option_reply_encode(s, option, type, p, len), 0);
}

static void info_export(struct buffer *s, uint32_t option, uint64_t size, uint16_t flags)
{
	struct nbd_info_item item = { .type = NBD_INFO_EXPORT };

	item.export.size = size;
	item.export.transmission_flags = flags;
	assert_int_equal(nbd_rep_info_encode(s, option, &item), 0);
}

static void info_string(struct buffer *s, uint32_t option, uint16_t type, const char *str)
{
	struct nbd_info_item item = { .type = type };

	item.name = (struct nbd_string){ .ptr = str, .len = (uint32_t)strlen(str) };
	assert_int_equal(nbd_rep_info_encode(s, option, &item), 0);
}

static void info_block_size(struct buffer *s, uint32_t option, uint32_t min, uint32_t pref,
			    uint32_t max)
{
	struct nbd_info_item item = { .type = NBD_INFO_BLOCK_SIZE };

	item.block_size.minimum = min;
	item.block_size.preferred = pref;
	item.block_size.maximum = max;
	assert_int_equal(nbd_rep_info_encode(s, option, &item), 0);
}

/* ---- what the client is expected to send ---- */

static void client_flags(struct buffer *c, uint32_t flags)
{
	nbd_client_flags_encode(flags, buffer_append_space(c, NBD_CLIENT_FLAGS_SIZE));
}

static void go_request(struct buffer *c, uint32_t option, const char *name, bool block_size)
{
	uint16_t types[] = { NBD_INFO_NAME, NBD_INFO_DESCRIPTION, NBD_INFO_BLOCK_SIZE };

	assert_int_equal(nbd_info_request_encode(c, option, name, types, block_size ? 3 : 2), 0);
}

static void assert_buffers_equal(const struct buffer *a, const struct buffer *b)
{
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->data, b->data, a->len);
}

static struct nbd_neg *new_neg(const struct nbd_neg_config *cfg)
{
	struct nbd_neg *n = NULL;

	assert_int_equal(nbd_neg_new(cfg, &n), 0);
	assert_non_null(n);
	assert_int_equal(nbd_neg_want(n), NBD_NEG_WANT_READ);
	assert_int_equal(nbd_neg_input_wanted(n), NBD_GREETING_SIZE);
	return n;
}

/* A full GO exchange, fed with the given chunk size. */
static void check_attach_go(size_t chunk)
{
	const struct nbd_neg_config cfg = {
		.mode = NBD_NEG_ATTACH, .export_name = "disk0", .block_size = true
	};
	_cleanup_buffer_ struct buffer s = BUFFER_INIT, expect = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&cfg);
	struct run run = { .client = BUFFER_INIT };
	const struct nbd_neg_result *res;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	info_export(&s, NBD_OPT_GO, 1ull << 30, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH);
	info_string(&s, NBD_OPT_GO, NBD_INFO_NAME, "disk0-canonical");
	info_string(&s, NBD_OPT_GO, NBD_INFO_DESCRIPTION, "the first disk");
	info_block_size(&s, NBD_OPT_GO, 512, 4096, 32u << 20);
	reply(&s, NBD_OPT_GO, NBD_REP_ACK, NULL, 0);
	/* Transmission-phase bytes that the machine must leave alone. */
	buffer_append(&s, "\x67\x44\x66\x98", 4);

	drive(n, &s, chunk, &run);
	assert_int_equal(run.end, NBD_NEG_DONE);
	assert_int_equal(run.server_consumed, s.len - 4);

	client_flags(&expect, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	go_request(&expect, NBD_OPT_GO, "disk0", true);
	assert_buffers_equal(&run.client, &expect);

	res = nbd_neg_result(n);
	assert_true(res->transmission);
	assert_true(res->info_used);
	assert_false(res->export_name_fallback);
	assert_false(res->structured_replies);
	assert_int_equal(res->size, 1ull << 30);
	assert_int_equal(res->transmission_flags, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH);
	assert_string_equal(res->name, "disk0-canonical");
	assert_string_equal(res->description, "the first disk");
	assert_true(res->has_block_size);
	assert_int_equal(res->block_minimum, 512);
	assert_int_equal(res->block_preferred, 4096);
	assert_int_equal(res->block_maximum, 32u << 20);
	buffer_free(&run.client);
}

static void test_attach_go(void **state)
{
	check_attach_go(SIZE_MAX);
}

static void test_attach_go_byte_by_byte(void **state)
{
	check_attach_go(1);
}

static void test_attach_go_unsupported_falls_back_to_export_name(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .export_name = "old" };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT, expect = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&cfg);
	struct run run = { .client = BUFFER_INIT };
	const struct nbd_neg_result *res;

	/* No NO_ZEROES: the EXPORT_NAME reply carries 124 bytes of padding. */
	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	reply(&s, NBD_OPT_GO, NBD_REP_ERR_UNSUP, NULL, 0);
	assert_int_equal(nbd_export_name_reply_encode(&s, 4096, NBD_FLAG_HAS_FLAGS, false), 0);
	buffer_append(&s, "tail", 4);

	drive(n, &s, 5, &run);
	assert_int_equal(run.end, NBD_NEG_DONE);
	assert_int_equal(run.server_consumed, s.len - 4);

	client_flags(&expect, NBD_FLAG_C_FIXED_NEWSTYLE);
	go_request(&expect, NBD_OPT_GO, "old", false);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_EXPORT_NAME, "old", 3), 0);
	assert_buffers_equal(&run.client, &expect);

	res = nbd_neg_result(n);
	assert_true(res->transmission);
	assert_true(res->export_name_fallback);
	assert_false(res->info_used);
	assert_int_equal(res->size, 4096);
	assert_int_equal(res->transmission_flags, NBD_FLAG_HAS_FLAGS);
	buffer_free(&run.client);
}

static void test_attach_no_opt_go(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .export_name = "x",
					    .no_opt_go = true };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT, expect = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&cfg);
	struct run run = { .client = BUFFER_INIT };

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	assert_int_equal(nbd_export_name_reply_encode(&s, 1 << 20, 0x3, true), 0);
	drive(n, &s, SIZE_MAX, &run);
	assert_int_equal(run.end, NBD_NEG_DONE);

	client_flags(&expect, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_EXPORT_NAME, "x", 1), 0);
	assert_buffers_equal(&run.client, &expect);
	assert_int_equal(nbd_neg_result(n)->size, 1 << 20);
	assert_int_equal(nbd_neg_result(n)->transmission_flags, 0x3);
	buffer_free(&run.client);
}

static void test_plain_newstyle_server_gets_export_name_only(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .export_name = "",
					    .structured_replies = true };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT, expect = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&cfg);
	struct run run = { .client = BUFFER_INIT };

	greeting(&s, 0);
	assert_int_equal(nbd_export_name_reply_encode(&s, 512, 0x1, false), 0);
	drive(n, &s, SIZE_MAX, &run);
	assert_int_equal(run.end, NBD_NEG_DONE);

	client_flags(&expect, 0);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_EXPORT_NAME, "", 0), 0);
	assert_buffers_equal(&run.client, &expect);
	assert_false(nbd_neg_result(n)->fixed_newstyle);
	assert_true(nbd_neg_result(n)->export_name_fallback);
	buffer_free(&run.client);
}

/* Runs a conversation that must fail and returns the machine for inspection. */
static struct nbd_neg *run_failing(const struct nbd_neg_config *cfg, const struct buffer *s,
				   int expected_error)
{
	struct nbd_neg *n = new_neg(cfg);
	struct run run = { .client = BUFFER_INIT };

	drive(n, s, SIZE_MAX, &run);
	buffer_free(&run.client);
	assert_int_equal(run.end, NBD_NEG_FAILED);
	assert_int_equal(nbd_neg_error(n), expected_error);
	assert_non_null(nbd_neg_error_message(n));
	/* A failed machine stays failed. */
	assert_int_equal(nbd_neg_want(n), NBD_NEG_FAILED);
	assert_int_equal(nbd_neg_feed(n, "x", 1), expected_error);
	return n;
}

static const struct nbd_neg_config attach_cfg = { .mode = NBD_NEG_ATTACH, .export_name = "e",
						  .block_size = true };

static void test_oldstyle_refused(void **state)
{
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	buffer_append_be64(&s, NBD_MAGIC);
	buffer_append_be64(&s, NBD_OLDSTYLE_MAGIC);
	buffer_append_be64(&s, 1 << 20);
	buffer_append_be32(&s, 1);
	buffer_append_zeros(&s, 124);
	n = run_failing(&attach_cfg, &s, -EPROTONOSUPPORT);
	assert_non_null(strstr(nbd_neg_error_message(n), "oldstyle"));
}

static void test_not_nbd(void **state)
{
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	buffer_append(&s, "SSH-2.0-OpenSSH_9.2p1 Debian\r\n", 30);
	n = run_failing(&attach_cfg, &s, -EPROTO);
	assert_non_null(strstr(nbd_neg_error_message(n), "not an NBD server"));
}

static void test_unknown_export_reports_server_message(void **state)
{
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;
	const char *msg;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	reply(&s, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, "no export 'e' here", 18);
	n = run_failing(&attach_cfg, &s, -ENOENT);
	msg = nbd_neg_error_message(n);
	assert_non_null(strstr(msg, "no export 'e' here"));
	assert_non_null(strstr(msg, "'e'"));
	assert_non_null(strstr(msg, "GO"));
	assert_int_equal(nbd_neg_server_error(n), NBD_REP_ERR_UNKNOWN);
}

static void test_refusals_map_to_errno(void **state)
{
	static const struct {
		uint32_t type;
		int error;
	} cases[] = {
		{ NBD_REP_ERR_POLICY, -EACCES },     { NBD_REP_ERR_INVALID, -EINVAL },
		{ NBD_REP_ERR_PLATFORM, -EOPNOTSUPP }, { NBD_REP_ERR_TLS_REQD, -EPERM },
		{ NBD_REP_ERR_SHUTDOWN, -ESHUTDOWN }, { NBD_REP_ERR_BLOCK_SIZE_REQD, -EINVAL },
		{ NBD_REP_ERR_TOO_BIG, -E2BIG },      { NBD_REP_ERR_BIT | 0x77, -EPROTO },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_buffer_ struct buffer s = BUFFER_INIT;
		_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

		greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
		reply(&s, NBD_OPT_GO, cases[i].type, NULL, 0);
		n = run_failing(&attach_cfg, &s, cases[i].error);
		assert_int_equal(nbd_neg_server_error(n), cases[i].type);
	}
}

static void test_go_ack_without_export_info(void **state)
{
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	info_string(&s, NBD_OPT_GO, NBD_INFO_NAME, "e");
	reply(&s, NBD_OPT_GO, NBD_REP_ACK, NULL, 0);
	n = run_failing(&attach_cfg, &s, -EBADMSG);
	assert_non_null(strstr(nbd_neg_error_message(n), "NBD_INFO_EXPORT"));
}

static void test_reply_to_wrong_option(void **state)
{
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	info_export(&s, NBD_OPT_INFO, 1, 1); /* INFO, but GO was asked */
	n = run_failing(&attach_cfg, &s, -EPROTO);
}

static void test_reply_bad_magic(void **state)
{
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	reply(&s, NBD_OPT_GO, NBD_REP_ACK, NULL, 0);
	s.data[NBD_GREETING_SIZE] ^= 0xff;
	n = run_failing(&attach_cfg, &s, -EPROTO);
}

static void test_reply_too_long(void **state)
{
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;
	uint8_t hdr[NBD_OPTION_REPLY_HEADER_SIZE];

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	nbd_option_reply_header_encode(NBD_OPT_GO, NBD_REP_INFO, 1u << 20, hdr);
	buffer_append(&s, hdr, sizeof(hdr));
	n = run_failing(&attach_cfg, &s, -EMSGSIZE);
	/* The message names the length the server claimed. */
	assert_non_null(strstr(nbd_neg_error_message(n), "1048576-byte"));
}

static void test_no_extended_headers_with_export_name_only(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .export_name = "x",
					    .extended_headers = true, .no_opt_go = true };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT, expect = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&cfg);
	struct run run = { .client = BUFFER_INIT };

	/* Extended headers forbid EXPORT_NAME, so a client that can only use it must not ask. */
	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	assert_int_equal(nbd_export_name_reply_encode(&s, 1 << 20, 1, true), 0);
	drive(n, &s, SIZE_MAX, &run);
	assert_int_equal(run.end, NBD_NEG_DONE);
	client_flags(&expect, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_EXPORT_NAME, "x", 1), 0);
	assert_buffers_equal(&run.client, &expect);
	assert_false(nbd_neg_result(n)->extended_headers);
	buffer_free(&run.client);
}

static void test_ack_with_payload(void **state)
{
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	info_export(&s, NBD_OPT_GO, 1, 1);
	reply(&s, NBD_OPT_GO, NBD_REP_ACK, "xx", 2);
	n = run_failing(&attach_cfg, &s, -EBADMSG);
}

static void test_reply_type_not_belonging_to_option(void **state)
{
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	assert_int_equal(nbd_rep_server_encode(&s, "x", ""), 0);
	/* nbd_rep_server_encode answers LIST; make it answer GO instead. */
	store_be32(s.data + NBD_GREETING_SIZE + 8, NBD_OPT_GO);
	n = run_failing(&attach_cfg, &s, -EPROTO);
	assert_non_null(strstr(nbd_neg_error_message(n), "NBD_REP_SERVER"));
}

static void test_malformed_info_item(void **state)
{
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;
	uint8_t short_export[2 + 8] = { 0, NBD_INFO_EXPORT }; /* flags missing */

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	reply(&s, NBD_OPT_GO, NBD_REP_INFO, short_export, sizeof(short_export));
	n = run_failing(&attach_cfg, &s, -EBADMSG);
}

static void test_impossible_block_sizes(void **state)
{
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	info_export(&s, NBD_OPT_GO, 1 << 20, 1);
	info_block_size(&s, NBD_OPT_GO, 4096, 512, 1 << 20); /* preferred below minimum */
	reply(&s, NBD_OPT_GO, NBD_REP_ACK, NULL, 0);
	n = run_failing(&attach_cfg, &s, -EPROTO);
	assert_non_null(strstr(nbd_neg_error_message(n), "block sizes"));
}

static void test_unknown_info_type_ignored(void **state)
{
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&attach_cfg);
	struct run run = { .client = BUFFER_INIT };
	uint8_t unknown[] = { 0x12, 0x34, 1, 2, 3 };

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	reply(&s, NBD_OPT_GO, NBD_REP_INFO, unknown, sizeof(unknown));
	info_export(&s, NBD_OPT_GO, 8192, 1);
	reply(&s, NBD_OPT_GO, NBD_REP_ACK, NULL, 0);
	drive(n, &s, SIZE_MAX, &run);
	buffer_free(&run.client);
	assert_int_equal(run.end, NBD_NEG_DONE);
	assert_int_equal(nbd_neg_result(n)->size, 8192);
	assert_false(nbd_neg_result(n)->has_block_size);
}

static void test_eof_at_greeting(void **state)
{
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	buffer_append(&s, "NBDM", 4);
	n = run_failing(&attach_cfg, &s, -ECONNRESET);
}

static void test_eof_after_export_name(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .export_name = "missing",
					    .no_opt_go = true };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	n = run_failing(&cfg, &s, -ENOENT);
	assert_non_null(strstr(nbd_neg_error_message(n), "'missing'"));
}

static void test_eof_mid_option(void **state)
{
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	info_export(&s, NBD_OPT_GO, 1, 1);
	s.len -= 3;
	n = run_failing(&attach_cfg, &s, -ECONNRESET);
}

static void test_list(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_LIST };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT, expect = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&cfg);
	struct run run = { .client = BUFFER_INIT };
	const struct nbd_neg_result *res;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	assert_int_equal(nbd_rep_server_encode(&s, "alpha", "first"), 0);
	assert_int_equal(nbd_rep_server_encode(&s, "beta", NULL), 0);
	reply(&s, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
	/* The server closes instead of acknowledging ABORT, which the spec allows. */
	drive(n, &s, 3, &run);
	assert_int_equal(run.end, NBD_NEG_DONE);

	client_flags(&expect, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_LIST, NULL, 0), 0);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_ABORT, NULL, 0), 0);
	assert_buffers_equal(&run.client, &expect);

	res = nbd_neg_result(n);
	assert_false(res->transmission);
	assert_int_equal(res->n_exports, 2);
	assert_string_equal(res->exports[0].name, "alpha");
	assert_string_equal(res->exports[0].description, "first");
	assert_string_equal(res->exports[1].name, "beta");
	assert_string_equal(res->exports[1].description, "");
	buffer_free(&run.client);
}

static void test_list_refused(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_LIST };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	reply(&s, NBD_OPT_LIST, NBD_REP_ERR_POLICY, "listing is disabled", 19);
	n = run_failing(&cfg, &s, -EACCES);
	assert_non_null(strstr(nbd_neg_error_message(n), "listing is disabled"));
}

static void test_list_needs_fixed_newstyle(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_LIST };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	greeting(&s, 0);
	n = run_failing(&cfg, &s, -EOPNOTSUPP);
}

static void test_info_mode(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_INFO, .export_name = "vm",
					    .block_size = true };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT, expect = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&cfg);
	struct run run = { .client = BUFFER_INIT };
	const struct nbd_neg_result *res;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	reply(&s, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NULL, 0);
	assert_int_equal(nbd_rep_meta_context_encode(&s, NBD_OPT_LIST_META_CONTEXT, 0,
						     "base:allocation"), 0);
	assert_int_equal(nbd_rep_meta_context_encode(&s, NBD_OPT_LIST_META_CONTEXT, 0,
						     "qemu:dirty-bitmap:b"), 0);
	reply(&s, NBD_OPT_LIST_META_CONTEXT, NBD_REP_ACK, NULL, 0);
	info_export(&s, NBD_OPT_INFO, 10 << 20, 0x16d);
	info_block_size(&s, NBD_OPT_INFO, 1, 4096, 0xffffffff);
	reply(&s, NBD_OPT_INFO, NBD_REP_ACK, NULL, 0);
	reply(&s, NBD_OPT_ABORT, NBD_REP_ACK, NULL, 0);

	drive(n, &s, 7, &run);
	assert_int_equal(run.end, NBD_NEG_DONE);
	assert_int_equal(run.server_consumed, s.len);

	client_flags(&expect, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_STRUCTURED_REPLY, NULL, 0), 0);
	assert_int_equal(nbd_meta_request_encode(&expect, NBD_OPT_LIST_META_CONTEXT, "vm", NULL, 0),
			 0);
	go_request(&expect, NBD_OPT_INFO, "vm", true);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_ABORT, NULL, 0), 0);
	assert_buffers_equal(&run.client, &expect);

	res = nbd_neg_result(n);
	assert_false(res->transmission);
	assert_true(res->structured_replies);
	assert_int_equal(res->size, 10 << 20);
	assert_int_equal(res->transmission_flags, 0x16d);
	assert_int_equal(res->block_minimum, 1);
	assert_int_equal(res->block_maximum, 0xffffffff);
	assert_int_equal(res->n_meta_contexts, 2);
	assert_string_equal(res->meta_contexts[0].name, "base:allocation");
	assert_string_equal(res->meta_contexts[1].name, "qemu:dirty-bitmap:b");
	buffer_free(&run.client);
}

static void test_info_mode_without_structured_replies(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_INFO, .export_name = "" };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT, expect = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&cfg);
	struct run run = { .client = BUFFER_INIT };

	/* Like nbd-server 3.24: no structured replies, so no meta contexts are asked for. */
	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	reply(&s, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_UNSUP, NULL, 0);
	info_export(&s, NBD_OPT_INFO, 4096, 1);
	reply(&s, NBD_OPT_INFO, NBD_REP_ACK, NULL, 0);
	reply(&s, NBD_OPT_ABORT, NBD_REP_ACK, NULL, 0);
	drive(n, &s, SIZE_MAX, &run);
	assert_int_equal(run.end, NBD_NEG_DONE);

	client_flags(&expect, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_STRUCTURED_REPLY, NULL, 0), 0);
	go_request(&expect, NBD_OPT_INFO, "", false);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_ABORT, NULL, 0), 0);
	assert_buffers_equal(&run.client, &expect);
	assert_false(nbd_neg_result(n)->structured_replies);
	assert_int_equal(nbd_neg_result(n)->n_meta_contexts, 0);
	buffer_free(&run.client);
}

static void test_attach_structured_replies_and_meta_context(void **state)
{
	static const char *const queries[] = { "base:allocation", NULL };
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .export_name = "m",
					    .structured_replies = true, .meta_contexts = queries };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT, expect = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&cfg);
	struct run run = { .client = BUFFER_INIT };
	const struct nbd_neg_result *res;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	reply(&s, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NULL, 0);
	assert_int_equal(nbd_rep_meta_context_encode(&s, NBD_OPT_SET_META_CONTEXT, 7,
						     "base:allocation"), 0);
	reply(&s, NBD_OPT_SET_META_CONTEXT, NBD_REP_ACK, NULL, 0);
	info_export(&s, NBD_OPT_GO, 1 << 20, 1);
	reply(&s, NBD_OPT_GO, NBD_REP_ACK, NULL, 0);
	drive(n, &s, SIZE_MAX, &run);
	assert_int_equal(run.end, NBD_NEG_DONE);

	client_flags(&expect, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_STRUCTURED_REPLY, NULL, 0), 0);
	assert_int_equal(nbd_meta_request_encode(&expect, NBD_OPT_SET_META_CONTEXT, "m", queries, 1),
			 0);
	go_request(&expect, NBD_OPT_GO, "m", false);
	assert_buffers_equal(&run.client, &expect);

	res = nbd_neg_result(n);
	assert_true(res->structured_replies);
	assert_int_equal(res->n_meta_contexts, 1);
	assert_int_equal(res->meta_contexts[0].id, 7);
	assert_string_equal(res->meta_contexts[0].name, "base:allocation");
	buffer_free(&run.client);
}

static void test_set_meta_context_refused_selects_nothing(void **state)
{
	static const char *const queries[] = { "base:allocation", NULL };
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .export_name = "m",
					    .structured_replies = true, .meta_contexts = queries };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&cfg);
	struct run run = { .client = BUFFER_INIT };

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	reply(&s, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NULL, 0);
	assert_int_equal(nbd_rep_meta_context_encode(&s, NBD_OPT_SET_META_CONTEXT, 7,
						     "base:allocation"), 0);
	reply(&s, NBD_OPT_SET_META_CONTEXT, NBD_REP_ERR_TOO_BIG, NULL, 0);
	info_export(&s, NBD_OPT_GO, 1 << 20, 1);
	reply(&s, NBD_OPT_GO, NBD_REP_ACK, NULL, 0);
	drive(n, &s, SIZE_MAX, &run);
	buffer_free(&run.client);
	assert_int_equal(run.end, NBD_NEG_DONE);
	assert_int_equal(nbd_neg_result(n)->n_meta_contexts, 0);
}

static void test_extended_headers(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .export_name = "x",
					    .structured_replies = true, .extended_headers = true };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT, expect = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&cfg);
	struct run run = { .client = BUFFER_INIT };

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	reply(&s, NBD_OPT_EXTENDED_HEADERS, NBD_REP_ACK, NULL, 0);
	info_export(&s, NBD_OPT_GO, 1 << 20, 1);
	reply(&s, NBD_OPT_GO, NBD_REP_ACK, NULL, 0);
	drive(n, &s, SIZE_MAX, &run);
	assert_int_equal(run.end, NBD_NEG_DONE);

	/* Extended headers supersede structured replies: that option is not sent. */
	client_flags(&expect, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_EXTENDED_HEADERS, NULL, 0), 0);
	go_request(&expect, NBD_OPT_GO, "x", false);
	assert_buffers_equal(&run.client, &expect);
	assert_true(nbd_neg_result(n)->extended_headers);
	assert_false(nbd_neg_result(n)->structured_replies);
	buffer_free(&run.client);
}

static void test_extended_headers_forbid_export_name_fallback(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .export_name = "x",
					    .extended_headers = true };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	reply(&s, NBD_OPT_EXTENDED_HEADERS, NBD_REP_ACK, NULL, 0);
	reply(&s, NBD_OPT_GO, NBD_REP_ERR_UNSUP, NULL, 0);
	n = run_failing(&cfg, &s, -EOPNOTSUPP);
}

static void test_extended_headers_refused_then_structured(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .export_name = "x",
					    .structured_replies = true, .extended_headers = true };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT, expect = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&cfg);
	struct run run = { .client = BUFFER_INIT };

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	reply(&s, NBD_OPT_EXTENDED_HEADERS, NBD_REP_ERR_UNSUP, NULL, 0);
	reply(&s, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NULL, 0);
	info_export(&s, NBD_OPT_GO, 1 << 20, 1);
	reply(&s, NBD_OPT_GO, NBD_REP_ACK, NULL, 0);
	drive(n, &s, SIZE_MAX, &run);
	assert_int_equal(run.end, NBD_NEG_DONE);

	client_flags(&expect, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_EXTENDED_HEADERS, NULL, 0), 0);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_STRUCTURED_REPLY, NULL, 0), 0);
	go_request(&expect, NBD_OPT_GO, "x", false);
	assert_buffers_equal(&run.client, &expect);
	assert_false(nbd_neg_result(n)->extended_headers);
	assert_true(nbd_neg_result(n)->structured_replies);
	buffer_free(&run.client);
}

static void test_starttls(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .export_name = "t", .tls = true };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT, expect = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&cfg);
	struct run run = { .client = BUFFER_INIT };

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	reply(&s, NBD_OPT_STARTTLS, NBD_REP_ACK, NULL, 0);
	/* In real life these would be inside TLS; the machine only sees plaintext either way. */
	info_export(&s, NBD_OPT_GO, 1 << 20, 1);
	reply(&s, NBD_OPT_GO, NBD_REP_ACK, NULL, 0);
	drive(n, &s, SIZE_MAX, &run);
	assert_int_equal(run.end, NBD_NEG_DONE);
	assert_int_equal(run.tls_handshakes, 1);
	assert_true(nbd_neg_result(n)->tls);

	client_flags(&expect, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_int_equal(nbd_option_encode(&expect, NBD_OPT_STARTTLS, NULL, 0), 0);
	go_request(&expect, NBD_OPT_GO, "t", false);
	assert_buffers_equal(&run.client, &expect);
	buffer_free(&run.client);
}

static void test_starttls_refused_is_fatal(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .export_name = "t", .tls = true };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	reply(&s, NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY, NULL, 0);
	n = run_failing(&cfg, &s, -EACCES);
	assert_non_null(strstr(nbd_neg_error_message(n), "STARTTLS"));
}

static void test_starttls_needs_fixed_newstyle(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .tls = true };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	greeting(&s, 0);
	n = run_failing(&cfg, &s, -EPROTONOSUPPORT);
}

static void test_too_many_exports(void **state)
{
	const struct nbd_neg_config cfg = { .mode = NBD_NEG_LIST };
	_cleanup_buffer_ struct buffer s = BUFFER_INIT;
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;

	greeting(&s, NBD_FLAG_FIXED_NEWSTYLE);
	for (int i = 0; i <= 65536; i++)
		assert_int_equal(nbd_rep_server_encode(&s, "e", NULL), 0);
	n = run_failing(&cfg, &s, -E2BIG);
}

static void test_config_validation(void **state)
{
	char long_name[NBD_MAX_STRING + 2];
	struct nbd_neg *n = NULL;
	struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .export_name = long_name };

	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(nbd_neg_new(&cfg, &n), -EINVAL);
	assert_null(n);
	cfg.export_name = NULL;
	cfg.mode = (enum nbd_neg_mode)42;
	assert_int_equal(nbd_neg_new(&cfg, &n), -EINVAL);
}

static void test_misuse_is_rejected(void **state)
{
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = new_neg(&attach_cfg);
	size_t len = 99;

	/* Nothing to write yet, and no TLS pending. */
	assert_null(nbd_neg_output(n, &len));
	assert_int_equal(len, 0);
	nbd_neg_tls_done(n);
	assert_int_equal(nbd_neg_want(n), NBD_NEG_WANT_READ);
	assert_int_equal(nbd_neg_error(n), 0);
	assert_null(nbd_neg_error_message(n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach_go),
		cmocka_unit_test(test_attach_go_byte_by_byte),
		cmocka_unit_test(test_attach_go_unsupported_falls_back_to_export_name),
		cmocka_unit_test(test_attach_no_opt_go),
		cmocka_unit_test(test_plain_newstyle_server_gets_export_name_only),
		cmocka_unit_test(test_oldstyle_refused),
		cmocka_unit_test(test_not_nbd),
		cmocka_unit_test(test_unknown_export_reports_server_message),
		cmocka_unit_test(test_refusals_map_to_errno),
		cmocka_unit_test(test_go_ack_without_export_info),
		cmocka_unit_test(test_reply_to_wrong_option),
		cmocka_unit_test(test_reply_bad_magic),
		cmocka_unit_test(test_reply_too_long),
		cmocka_unit_test(test_no_extended_headers_with_export_name_only),
		cmocka_unit_test(test_ack_with_payload),
		cmocka_unit_test(test_reply_type_not_belonging_to_option),
		cmocka_unit_test(test_malformed_info_item),
		cmocka_unit_test(test_impossible_block_sizes),
		cmocka_unit_test(test_unknown_info_type_ignored),
		cmocka_unit_test(test_eof_at_greeting),
		cmocka_unit_test(test_eof_after_export_name),
		cmocka_unit_test(test_eof_mid_option),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_list_refused),
		cmocka_unit_test(test_list_needs_fixed_newstyle),
		cmocka_unit_test(test_info_mode),
		cmocka_unit_test(test_info_mode_without_structured_replies),
		cmocka_unit_test(test_attach_structured_replies_and_meta_context),
		cmocka_unit_test(test_set_meta_context_refused_selects_nothing),
		cmocka_unit_test(test_extended_headers),
		cmocka_unit_test(test_extended_headers_forbid_export_name_fallback),
		cmocka_unit_test(test_extended_headers_refused_then_structured),
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_starttls_refused_is_fatal),
		cmocka_unit_test(test_starttls_needs_fixed_newstyle),
		cmocka_unit_test(test_too_many_exports),
		cmocka_unit_test(test_config_validation),
		cmocka_unit_test(test_misuse_is_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
