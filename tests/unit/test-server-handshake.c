/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The server's handshake machine, against the client's machine and against raw bytes.
 *
 * Pairing the two machines checks that they agree on every path a real client takes; the raw tests
 * send what a well-behaved client never would and assert the spec's answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
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
#include "server/handshake.h"

static const struct srv_export exports[] = {
	{ .name = "disk", .description = "the main disk", .size = 1 << 20,
	  .transmission_flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA,
	  .block_minimum = 1, .block_preferred = 4096, .block_maximum = 32 << 20 },
	{ .name = "strict", .size = 8192, .transmission_flags = NBD_FLAG_HAS_FLAGS,
	  .block_minimum = 4096, .block_preferred = 4096, .block_maximum = 1 << 20,
	  .block_size_required = true },
	{ .name = "secret", .size = 4096, .transmission_flags = NBD_FLAG_HAS_FLAGS,
	  .tls_only = true },
};

static const struct srv_export *lookup(void *userdata, const char *name)
{
	if (!*name)
		return &exports[0]; /* the default export */
	for (size_t i = 0; i < ELEMENTSOF(exports); i++)
		if (strcmp(exports[i].name, name) == 0)
			return &exports[i];
	return NULL;
}

static const struct srv_export *nth(void *userdata, size_t i)
{
	return i < ELEMENTSOF(exports) ? &exports[i] : NULL;
}

static struct srv_hs_config server_config(void)
{
	return (struct srv_hs_config){ .lookup = lookup, .nth = nth, .allow_list = true,
				       .allow_extended_headers = true, .tls = SRV_TLS_SELECTIVE };
}

static struct srv_hs *new_server(const struct srv_hs_config *cfg)
{
	struct srv_hs *h = NULL;

	assert_int_equal(srv_hs_new(cfg, &h), 0);
	return h;
}

/* Moves bytes between the two machines until both have finished (or one failed). */
static void pump(struct nbd_neg *c, struct srv_hs *s)
{
	for (int guard = 0; guard < 10000; guard++) {
		enum nbd_neg_want cw = nbd_neg_want(c);
		enum srv_hs_want sw = srv_hs_want(s);
		const uint8_t *p;
		size_t len, off;
		ssize_t r;

		if (sw == SRV_HS_WANT_WRITE) {
			p = srv_hs_output(s, &len);
			for (off = 0; off < len && nbd_neg_want(c) == NBD_NEG_WANT_READ; off += (size_t)r) {
				r = nbd_neg_feed(c, p + off, len - off);
				if (r < 0)
					break;
			}
			srv_hs_output_done(s, len);
			continue;
		}
		if (cw == NBD_NEG_WANT_WRITE) {
			p = nbd_neg_output(c, &len);
			for (off = 0; off < len && srv_hs_want(s) == SRV_HS_WANT_READ; off += (size_t)r) {
				r = srv_hs_feed(s, p + off, len - off);
				if (r < 0)
					break;
			}
			nbd_neg_output_done(c, len);
			continue;
		}
		if (cw == NBD_NEG_WANT_TLS && sw == SRV_HS_WANT_TLS) {
			nbd_neg_tls_done(c);
			srv_hs_tls_done(s);
			continue;
		}
		if (cw == NBD_NEG_WANT_READ && (sw == SRV_HS_DONE || sw == SRV_HS_FAILED)) {
			(void)nbd_neg_eof(c);
			continue;
		}
		if (sw == SRV_HS_WANT_READ && (cw == NBD_NEG_DONE || cw == NBD_NEG_FAILED)) {
			(void)srv_hs_eof(s);
			continue;
		}
		if ((cw == NBD_NEG_DONE || cw == NBD_NEG_FAILED) &&
		    (sw == SRV_HS_DONE || sw == SRV_HS_FAILED))
			return;
		fail_msg("stuck: client wants %d, server wants %d", cw, sw);
	}
	fail_msg("handshake did not finish");
}

static void test_go_with_block_sizes(void **state)
{
	const struct nbd_neg_config ccfg = { .mode = NBD_NEG_ATTACH, .export_name = "disk",
					     .block_size = true };
	const struct srv_hs_config scfg = server_config();
	_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
	_cleanup_(srv_hs_freep) struct srv_hs *s = new_server(&scfg);
	const struct nbd_neg_result *cr;
	const struct srv_hs_result *sr;

	assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
	pump(c, s);
	assert_int_equal(nbd_neg_want(c), NBD_NEG_DONE);
	assert_int_equal(srv_hs_want(s), SRV_HS_DONE);
	cr = nbd_neg_result(c);
	sr = srv_hs_result(s);
	assert_ptr_equal(sr->export, &exports[0]);
	assert_true(sr->no_zeroes);
	assert_true(sr->block_size_promised);
	assert_false(sr->structured_replies);
	assert_true(cr->transmission);
	assert_int_equal(cr->size, 1 << 20);
	assert_int_equal(cr->transmission_flags, exports[0].transmission_flags);
	assert_string_equal(cr->name, "disk");
	assert_string_equal(cr->description, "the main disk");
	assert_true(cr->has_block_size);
	assert_int_equal(cr->block_minimum, 1);
	assert_int_equal(cr->block_preferred, 4096);
	assert_int_equal(cr->block_maximum, 32 << 20);
}

static void test_default_export_and_export_name(void **state)
{
	const struct nbd_neg_config ccfg = { .mode = NBD_NEG_ATTACH, .no_opt_go = true };
	const struct srv_hs_config scfg = server_config();
	_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
	_cleanup_(srv_hs_freep) struct srv_hs *s = new_server(&scfg);

	assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
	pump(c, s);
	assert_int_equal(nbd_neg_want(c), NBD_NEG_DONE);
	assert_ptr_equal(srv_hs_result(s)->export, &exports[0]);
	assert_int_equal(nbd_neg_result(c)->size, 1 << 20);
	assert_false(srv_hs_result(s)->block_size_promised);
}

static void test_unknown_export(void **state)
{
	const struct nbd_neg_config ccfg = { .mode = NBD_NEG_ATTACH, .export_name = "nope" };
	const struct srv_hs_config scfg = server_config();
	_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
	_cleanup_(srv_hs_freep) struct srv_hs *s = new_server(&scfg);

	assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
	pump(c, s);
	assert_int_equal(nbd_neg_want(c), NBD_NEG_FAILED);
	assert_int_equal(nbd_neg_error(c), -ENOENT);
	assert_non_null(strstr(nbd_neg_error_message(c), "no export named 'nope'"));
	/* The server kept reading options; the client hung up. */
	assert_int_equal(srv_hs_want(s), SRV_HS_FAILED);
	assert_int_equal(srv_hs_error(s), -ECONNRESET);
}

static void test_unknown_export_with_export_name_closes(void **state)
{
	const struct nbd_neg_config ccfg = { .mode = NBD_NEG_ATTACH, .export_name = "nope",
					     .no_opt_go = true };
	const struct srv_hs_config scfg = server_config();
	_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
	_cleanup_(srv_hs_freep) struct srv_hs *s = new_server(&scfg);

	assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
	pump(c, s);
	assert_int_equal(srv_hs_error(s), -ENOENT);
	assert_non_null(strstr(srv_hs_error_message(s), "'nope'"));
	assert_int_equal(nbd_neg_error(c), -ENOENT);
}

/* An admission policy that refuses "disk" and counts what it was asked. */
static unsigned admit_asked, admit_taken;

static uint32_t admit_refusing(void *userdata, const struct srv_export *e, bool take, char *msg,
			       size_t size)
{
	admit_asked++;
	if (strcmp(e->name, "disk") != 0) {
		admit_taken += take;
		return 0;
	}
	snprintf(msg, size, "export 'disk' has reached its connection limit of 2");
	return NBD_REP_ERR_POLICY;
}

static void test_admit_refuses_go_with_policy(void **state)
{
	const struct nbd_neg_config ccfg = { .mode = NBD_NEG_ATTACH, .export_name = "disk" };
	struct srv_hs_config scfg = server_config();
	_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
	_cleanup_(srv_hs_freep) struct srv_hs *s = NULL;

	scfg.admit = admit_refusing;
	s = new_server(&scfg);
	admit_asked = admit_taken = 0;
	assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
	pump(c, s);
	assert_int_equal(nbd_neg_want(c), NBD_NEG_FAILED);
	/* The client got ERR_POLICY with the caller's reason, not "no export named". */
	assert_int_equal(nbd_neg_error(c), -EACCES);
	assert_non_null(strstr(nbd_neg_error_message(c), "connection limit of 2"));
	assert_int_equal(admit_taken, 0);
	assert_true(admit_asked >= 1);
}

static void test_admit_takes_only_for_go(void **state)
{
	const struct nbd_neg_config ccfg = { .mode = NBD_NEG_ATTACH, .export_name = "strict",
					     .block_size = true };
	struct srv_hs_config scfg = server_config();
	_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
	_cleanup_(srv_hs_freep) struct srv_hs *s = NULL;

	scfg.admit = admit_refusing;
	s = new_server(&scfg);
	admit_asked = admit_taken = 0;
	assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
	pump(c, s);
	assert_int_equal(srv_hs_want(s), SRV_HS_DONE);
	assert_ptr_equal(srv_hs_result(s)->export, &exports[1]);
	/* One slot taken, by GO, whatever INFO the client asked first. */
	assert_int_equal(admit_taken, 1);
}

static void test_admit_refuses_export_name_by_closing(void **state)
{
	const struct nbd_neg_config ccfg = { .mode = NBD_NEG_ATTACH, .export_name = "disk",
					     .no_opt_go = true };
	struct srv_hs_config scfg = server_config();
	_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
	_cleanup_(srv_hs_freep) struct srv_hs *s = NULL;

	scfg.admit = admit_refusing;
	s = new_server(&scfg);
	assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
	pump(c, s);
	assert_int_equal(srv_hs_want(s), SRV_HS_FAILED);
	assert_int_equal(srv_hs_error(s), -EACCES);
	assert_non_null(strstr(srv_hs_error_message(s), "connection limit of 2"));
	assert_int_equal(nbd_neg_want(c), NBD_NEG_FAILED);
}

static void test_block_size_required(void **state)
{
	struct nbd_neg_config ccfg = { .mode = NBD_NEG_ATTACH, .export_name = "strict" };
	const struct srv_hs_config scfg = server_config();

	/* Without the promise: refused with ERR_BLOCK_SIZE_REQD. */
	{
		_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
		_cleanup_(srv_hs_freep) struct srv_hs *s = new_server(&scfg);

		assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
		pump(c, s);
		assert_int_equal(nbd_neg_server_error(c), NBD_REP_ERR_BLOCK_SIZE_REQD);
	}
	/* With it: accepted, with the constraints. */
	{
		_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
		_cleanup_(srv_hs_freep) struct srv_hs *s = new_server(&scfg);

		ccfg.block_size = true;
		assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
		pump(c, s);
		assert_int_equal(nbd_neg_want(c), NBD_NEG_DONE);
		assert_int_equal(nbd_neg_result(c)->block_minimum, 4096);
		assert_ptr_equal(srv_hs_result(s)->export, &exports[1]);
	}
	/* EXPORT_NAME cannot promise anything: the connection is closed. */
	{
		_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
		_cleanup_(srv_hs_freep) struct srv_hs *s = new_server(&scfg);

		ccfg.no_opt_go = true;
		assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
		pump(c, s);
		assert_int_equal(srv_hs_error(s), -EINVAL);
		assert_int_equal(nbd_neg_want(c), NBD_NEG_FAILED);
	}
}

static void test_list_hides_tls_only_exports(void **state)
{
	const struct nbd_neg_config ccfg = { .mode = NBD_NEG_LIST };
	const struct srv_hs_config scfg = server_config();
	_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
	_cleanup_(srv_hs_freep) struct srv_hs *s = new_server(&scfg);
	const struct nbd_neg_result *cr;

	assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
	pump(c, s);
	assert_int_equal(nbd_neg_want(c), NBD_NEG_DONE);
	assert_int_equal(srv_hs_want(s), SRV_HS_DONE);
	assert_null(srv_hs_result(s)->export); /* the client aborted */
	cr = nbd_neg_result(c);
	assert_int_equal(cr->n_exports, 2);
	assert_string_equal(cr->exports[0].name, "disk");
	assert_string_equal(cr->exports[0].description, "the main disk");
	assert_string_equal(cr->exports[1].name, "strict");
}

static void test_list_disabled(void **state)
{
	const struct nbd_neg_config ccfg = { .mode = NBD_NEG_LIST };
	struct srv_hs_config scfg = server_config();
	_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
	_cleanup_(srv_hs_freep) struct srv_hs *s = NULL;

	scfg.allow_list = false;
	s = new_server(&scfg);
	assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
	pump(c, s);
	assert_int_equal(nbd_neg_error(c), -EACCES);
	assert_int_equal(nbd_neg_server_error(c), NBD_REP_ERR_POLICY);
}

static void test_info_mode_with_meta_contexts(void **state)
{
	const struct nbd_neg_config ccfg = { .mode = NBD_NEG_INFO, .export_name = "disk",
					     .block_size = true };
	const struct srv_hs_config scfg = server_config();
	_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
	_cleanup_(srv_hs_freep) struct srv_hs *s = new_server(&scfg);
	const struct nbd_neg_result *cr;

	assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
	pump(c, s);
	assert_int_equal(nbd_neg_want(c), NBD_NEG_DONE);
	cr = nbd_neg_result(c);
	assert_true(cr->structured_replies);
	assert_false(cr->transmission);
	assert_int_equal(cr->n_meta_contexts, 1);
	assert_string_equal(cr->meta_contexts[0].name, "base:allocation");
	assert_int_equal(cr->size, 1 << 20);
	assert_null(srv_hs_result(s)->export);
}

static void test_set_meta_context_then_go(void **state)
{
	static const char *const queries[] = { "qemu:dirty-bitmap:x", "base:allocation", NULL };
	const struct nbd_neg_config ccfg = { .mode = NBD_NEG_ATTACH, .export_name = "disk",
					     .structured_replies = true, .meta_contexts = queries };
	const struct srv_hs_config scfg = server_config();
	_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
	_cleanup_(srv_hs_freep) struct srv_hs *s = new_server(&scfg);
	const struct nbd_neg_result *cr;

	assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
	pump(c, s);
	assert_int_equal(nbd_neg_want(c), NBD_NEG_DONE);
	cr = nbd_neg_result(c);
	assert_int_equal(cr->n_meta_contexts, 1);
	assert_int_equal(cr->meta_contexts[0].id, SRV_BASE_ALLOCATION_ID);
	assert_true(srv_hs_result(s)->structured_replies);
	assert_int_equal(srv_hs_result(s)->base_allocation_id, SRV_BASE_ALLOCATION_ID);
}

static void test_extended_headers(void **state)
{
	const struct nbd_neg_config ccfg = { .mode = NBD_NEG_ATTACH, .export_name = "disk",
					     .extended_headers = true, .structured_replies = true };
	struct srv_hs_config scfg = server_config();

	{
		_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
		_cleanup_(srv_hs_freep) struct srv_hs *s = new_server(&scfg);

		assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
		pump(c, s);
		assert_true(nbd_neg_result(c)->extended_headers);
		assert_true(srv_hs_result(s)->extended_headers);
		assert_false(srv_hs_result(s)->structured_replies);
	}
	{
		_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
		_cleanup_(srv_hs_freep) struct srv_hs *s = NULL;

		scfg.allow_extended_headers = false;
		s = new_server(&scfg);
		assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
		pump(c, s);
		assert_false(nbd_neg_result(c)->extended_headers);
		assert_true(nbd_neg_result(c)->structured_replies);
		assert_true(srv_hs_result(s)->structured_replies);
	}
}

static void test_tls_required(void **state)
{
	struct nbd_neg_config ccfg = { .mode = NBD_NEG_ATTACH, .export_name = "disk" };
	struct srv_hs_config scfg = server_config();

	scfg.tls = SRV_TLS_REQUIRED;
	{
		_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
		_cleanup_(srv_hs_freep) struct srv_hs *s = new_server(&scfg);

		assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
		pump(c, s);
		assert_int_equal(nbd_neg_server_error(c), NBD_REP_ERR_TLS_REQD);
	}
	{
		_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
		_cleanup_(srv_hs_freep) struct srv_hs *s = new_server(&scfg);

		ccfg.tls = true;
		assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
		pump(c, s);
		assert_int_equal(nbd_neg_want(c), NBD_NEG_DONE);
		assert_true(srv_hs_result(s)->tls);
		assert_true(nbd_neg_result(c)->tls);
	}
}

static void test_tls_only_export(void **state)
{
	struct nbd_neg_config ccfg = { .mode = NBD_NEG_ATTACH, .export_name = "secret" };
	const struct srv_hs_config scfg = server_config();
	_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
	_cleanup_(srv_hs_freep) struct srv_hs *s = new_server(&scfg);

	assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
	pump(c, s);
	assert_int_equal(nbd_neg_server_error(c), NBD_REP_ERR_TLS_REQD);
}

static void test_starttls_refused_without_tls(void **state)
{
	const struct nbd_neg_config ccfg = { .mode = NBD_NEG_ATTACH, .tls = true };
	struct srv_hs_config scfg = server_config();
	_cleanup_(nbd_neg_freep) struct nbd_neg *c = NULL;
	_cleanup_(srv_hs_freep) struct srv_hs *s = NULL;

	scfg.tls = SRV_TLS_OFF;
	s = new_server(&scfg);
	assert_int_equal(nbd_neg_new(&ccfg, &c), 0);
	pump(c, s);
	assert_int_equal(nbd_neg_server_error(c), NBD_REP_ERR_POLICY);
}

/* ---- raw client bytes ---- */

struct raw {
	struct srv_hs *s;
	struct buffer replies;
};

/* Reads the greeting and sends the client flags; returns what feeding the flags returned. */
static ssize_t raw_start(struct raw *r, const struct srv_hs_config *cfg, uint32_t client_flags)
{
	const uint8_t *p;
	size_t len;
	uint8_t flags[4];
	uint16_t hflags;

	r->s = new_server(cfg);
	r->replies = BUFFER_INIT;
	p = srv_hs_output(r->s, &len);
	assert_int_equal(len, NBD_GREETING_SIZE);
	assert_int_equal(nbd_greeting_decode(p, len, &hflags), 0);
	assert_int_equal(hflags, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	srv_hs_output_done(r->s, len);
	nbd_client_flags_encode(client_flags, flags);
	return srv_hs_feed(r->s, flags, 4);
}

static void raw_end(struct raw *r)
{
	srv_hs_free(r->s);
	buffer_free(&r->replies);
}

/* Sends bytes, collecting whatever the server writes back. Returns the last feed result. */
static ssize_t raw_send(struct raw *r, const void *data, size_t len)
{
	const uint8_t *p = data;
	ssize_t n = 0;

	buffer_reset(&r->replies);
	while (len && srv_hs_want(r->s) == SRV_HS_WANT_READ) {
		n = srv_hs_feed(r->s, p, len);
		if (n < 0)
			return n;
		p += n;
		len -= (size_t)n;
		while (srv_hs_want(r->s) == SRV_HS_WANT_WRITE) {
			size_t olen;
			const void *o = srv_hs_output(r->s, &olen);

			buffer_append(&r->replies, o, olen);
			srv_hs_output_done(r->s, olen);
		}
	}
	return n;
}

static ssize_t raw_option(struct raw *r, uint32_t option, const void *payload, size_t len)
{
	_cleanup_buffer_ struct buffer b = BUFFER_INIT;

	assert_int_equal(nbd_option_encode(&b, option, payload, len), 0);
	return raw_send(r, b.data, b.len);
}

/* Asserts the server answered option with exactly one reply of the given type. */
static void assert_single_reply(struct raw *r, uint32_t option, uint32_t type)
{
	struct nbd_option_reply_header h;

	assert_true(r->replies.len >= NBD_OPTION_REPLY_HEADER_SIZE);
	assert_int_equal(nbd_option_reply_header_decode(r->replies.data, NBD_OPTION_REPLY_HEADER_SIZE,
							option, UINT32_MAX, &h), 0);
	assert_int_equal(h.type, type);
	assert_int_equal(r->replies.len, NBD_OPTION_REPLY_HEADER_SIZE + h.length);
	assert_int_equal(srv_hs_want(r->s), SRV_HS_WANT_READ);
}

static void test_raw_unknown_client_flags(void **state)
{
	const struct srv_hs_config cfg = server_config();
	struct raw r;

	assert_int_equal(raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE | 0x100), -EPROTO);
	assert_int_equal(srv_hs_want(r.s), SRV_HS_FAILED);
	assert_int_equal(srv_hs_error(r.s), -EPROTO);
	assert_non_null(strstr(srv_hs_error_message(r.s), "0x00000101"));
	raw_end(&r);
}

static void test_raw_unknown_option_and_keeps_sync(void **state)
{
	const struct srv_hs_config cfg = server_config();
	struct raw r;

	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_true(raw_option(&r, 0x4242, "junk data", 9) >= 0);
	assert_single_reply(&r, 0x4242, NBD_REP_ERR_UNSUP);
	assert_true(raw_option(&r, NBD_OPT_PEEK_EXPORT, NULL, 0) >= 0);
	assert_single_reply(&r, NBD_OPT_PEEK_EXPORT, NBD_REP_ERR_UNSUP);
	/* Still in sync: a valid option works. */
	assert_true(raw_option(&r, NBD_OPT_STRUCTURED_REPLY, NULL, 0) >= 0);
	assert_single_reply(&r, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK);
	raw_end(&r);
}

static void test_raw_options_with_forbidden_data(void **state)
{
	static const uint32_t options[] = { NBD_OPT_LIST, NBD_OPT_STARTTLS,
					     NBD_OPT_STRUCTURED_REPLY, NBD_OPT_EXTENDED_HEADERS };
	const struct srv_hs_config cfg = server_config();
	struct raw r;

	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	for (size_t i = 0; i < ELEMENTSOF(options); i++) {
		assert_true(raw_option(&r, options[i], "x", 1) >= 0);
		assert_single_reply(&r, options[i], NBD_REP_ERR_INVALID);
	}
	raw_end(&r);
}

static void test_raw_malformed_go(void **state)
{
	const struct srv_hs_config cfg = server_config();
	struct raw r;
	/* Name length 100 with 2 bytes of name. */
	uint8_t bad[] = { 0, 0, 0, 100, 'a', 'b', 0, 0 };
	/* Name "disk", then 3 info types announced but only 1 present. */
	uint8_t short_types[] = { 0, 0, 0, 4, 'd', 'i', 's', 'k', 0, 3, 0, 1 };

	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	assert_true(raw_option(&r, NBD_OPT_GO, bad, sizeof(bad)) >= 0);
	assert_single_reply(&r, NBD_OPT_GO, NBD_REP_ERR_INVALID);
	assert_true(raw_option(&r, NBD_OPT_INFO, short_types, sizeof(short_types)) >= 0);
	assert_single_reply(&r, NBD_OPT_INFO, NBD_REP_ERR_INVALID);
	raw_end(&r);
}

static void test_raw_meta_context_before_structured_replies(void **state)
{
	const struct srv_hs_config cfg = server_config();
	_cleanup_buffer_ struct buffer b = BUFFER_INIT;
	static const char *const q[] = { "base:allocation" };
	struct raw r;

	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	assert_int_equal(nbd_meta_request_encode(&b, NBD_OPT_SET_META_CONTEXT, "disk", q, 1), 0);
	assert_true(raw_send(&r, b.data, b.len) >= 0);
	assert_single_reply(&r, NBD_OPT_SET_META_CONTEXT, NBD_REP_ERR_INVALID);
	raw_end(&r);
}

/* ---- TLS policy, raw ---- */

/* The replies of the last option: their types in order (and the names of REP_SERVER replies,
 * space-separated, and the text of the last error). Returns how many there are. */
static size_t raw_replies(struct raw *r, uint32_t option, uint32_t *types, size_t max, char *names,
			  size_t names_size, char *message, size_t message_size)
{
	const uint8_t *p = r->replies.data;
	size_t left = r->replies.len, n = 0;

	if (names)
		names[0] = '\0';
	if (message)
		message[0] = '\0';
	while (left) {
		struct nbd_option_reply_header h;
		const uint8_t *payload = p + NBD_OPTION_REPLY_HEADER_SIZE;

		assert_true(left >= NBD_OPTION_REPLY_HEADER_SIZE);
		assert_int_equal(nbd_option_reply_header_decode(p, NBD_OPTION_REPLY_HEADER_SIZE, option,
								UINT32_MAX, &h), 0);
		assert_true(left >= NBD_OPTION_REPLY_HEADER_SIZE + h.length);
		assert_true(n < max);
		types[n++] = h.type;
		if (names && h.type == NBD_REP_SERVER) {
			uint32_t len = load_be32(payload);

			if (names[0])
				strncat(names, " ", names_size - strlen(names) - 1);
			strncat(names, (const char *)payload + 4,
				MIN((size_t)len, names_size - strlen(names) - 1));
		}
		if (message && (h.type & 0x80000000u))
			snprintf(message, message_size, "%.*s", (int)h.length, (const char *)payload);
		p += NBD_OPTION_REPLY_HEADER_SIZE + h.length;
		left -= NBD_OPTION_REPLY_HEADER_SIZE + h.length;
	}
	return n;
}

static ssize_t raw_info(struct raw *r, uint32_t option, const char *name)
{
	_cleanup_buffer_ struct buffer b = BUFFER_INIT;

	assert_int_equal(nbd_info_request_encode(&b, option, name, NULL, 0), 0);
	return raw_send(r, b.data, b.len);
}

/* STARTTLS, its ACK, and the TLS handshake "done". */
static void raw_starttls(struct raw *r)
{
	uint32_t types[4];

	assert_true(raw_option(r, NBD_OPT_STARTTLS, NULL, 0) >= 0);
	assert_int_equal(raw_replies(r, NBD_OPT_STARTTLS, types, 4, NULL, 0, NULL, 0), 1);
	assert_int_equal(types[0], NBD_REP_ACK);
	/* Nothing more is read in the clear: the next bytes are TLS. */
	assert_int_equal(srv_hs_want(r->s), SRV_HS_WANT_TLS);
	assert_int_equal(srv_hs_input_wanted(r->s), 0);
	assert_int_equal(srv_hs_feed(r->s, "x", 1), -EINVAL);
	srv_hs_tls_done(r->s);
	assert_int_equal(srv_hs_want(r->s), SRV_HS_WANT_READ);
	assert_true(srv_hs_result(r->s)->tls);
}

static void test_raw_starttls_ack_and_twice(void **state)
{
	const struct srv_hs_config cfg = server_config();
	struct raw r;

	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	assert_false(srv_hs_result(r.s)->tls);
	raw_starttls(&r);
	/* A second STARTTLS is refused, and the connection goes on. */
	assert_true(raw_option(&r, NBD_OPT_STARTTLS, NULL, 0) >= 0);
	assert_single_reply(&r, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID);
	assert_true(srv_hs_result(r.s)->tls);
	assert_true(raw_option(&r, NBD_OPT_STRUCTURED_REPLY, NULL, 0) >= 0);
	assert_single_reply(&r, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK);
	raw_end(&r);
}

static void test_raw_tls_required_before_tls(void **state)
{
	static const uint32_t plain_options[] = { NBD_OPT_LIST, NBD_OPT_STRUCTURED_REPLY,
						   NBD_OPT_EXTENDED_HEADERS, 0x4242 };
	static const uint32_t named_options[] = { NBD_OPT_INFO, NBD_OPT_GO,
						   NBD_OPT_LIST_META_CONTEXT,
						   NBD_OPT_SET_META_CONTEXT };
	struct srv_hs_config cfg = server_config();
	char message[256];
	uint32_t types[4];
	struct raw r;

	cfg.tls = SRV_TLS_REQUIRED;
	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	for (size_t i = 0; i < ELEMENTSOF(plain_options); i++) {
		assert_true(raw_option(&r, plain_options[i], NULL, 0) >= 0);
		assert_single_reply(&r, plain_options[i], NBD_REP_ERR_TLS_REQD);
		raw_replies(&r, plain_options[i], types, 4, NULL, 0, message, sizeof(message));
		assert_non_null(strstr(message, "requires TLS"));
	}
	for (size_t i = 0; i < ELEMENTSOF(named_options); i++) {
		if (named_options[i] == NBD_OPT_INFO || named_options[i] == NBD_OPT_GO)
			assert_true(raw_info(&r, named_options[i], "disk") >= 0);
		else {
			_cleanup_buffer_ struct buffer b = BUFFER_INIT;
			static const char *const q[] = { "base:allocation" };

			assert_int_equal(nbd_meta_request_encode(&b, named_options[i], "disk", q, 1),
					 0);
			assert_true(raw_send(&r, b.data, b.len) >= 0);
		}
		/* No REP_INFO before the refusal: nothing about the export leaks. */
		assert_single_reply(&r, named_options[i], NBD_REP_ERR_TLS_REQD);
	}
	/* After TLS everything works, and ERR_TLS_REQD is never sent again. */
	raw_starttls(&r);
	assert_true(raw_option(&r, 0x4242, NULL, 0) >= 0);
	assert_single_reply(&r, 0x4242, NBD_REP_ERR_UNSUP);
	assert_true(raw_info(&r, NBD_OPT_GO, "disk") >= 0);
	assert_int_equal(srv_hs_want(r.s), SRV_HS_DONE);
	assert_string_equal(srv_hs_result(r.s)->export->name, "disk");
	raw_end(&r);

	/* ABORT needs no TLS. */
	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	assert_true(raw_option(&r, NBD_OPT_ABORT, NULL, 0) >= 0);
	assert_int_equal(raw_replies(&r, NBD_OPT_ABORT, types, 4, NULL, 0, NULL, 0), 1);
	assert_int_equal(types[0], NBD_REP_ACK);
	assert_int_equal(srv_hs_want(r.s), SRV_HS_DONE);
	assert_null(srv_hs_result(r.s)->export);
	raw_end(&r);

	/* EXPORT_NAME has no error reply: the server closes, having sent nothing. */
	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	assert_int_equal(raw_option(&r, NBD_OPT_EXPORT_NAME, "disk", 4), -EACCES);
	assert_int_equal(r.replies.len, 0);
	assert_int_equal(srv_hs_want(r.s), SRV_HS_FAILED);
	assert_non_null(strstr(srv_hs_error_message(r.s), "without TLS"));
	raw_end(&r);
}

static void test_raw_tls_only_export(void **state)
{
	const struct srv_hs_config cfg = server_config();
	char names[256], message[256];
	uint32_t types[8];
	struct raw r;

	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	/* Hidden from LIST before TLS. */
	assert_true(raw_option(&r, NBD_OPT_LIST, NULL, 0) >= 0);
	assert_int_equal(raw_replies(&r, NBD_OPT_LIST, types, 8, names, sizeof(names), NULL, 0), 3);
	assert_string_equal(names, "disk strict");
	/* Refused at INFO and GO, and said why. */
	assert_true(raw_info(&r, NBD_OPT_INFO, "secret") >= 0);
	assert_single_reply(&r, NBD_OPT_INFO, NBD_REP_ERR_TLS_REQD);
	assert_true(raw_info(&r, NBD_OPT_GO, "secret") >= 0);
	assert_single_reply(&r, NBD_OPT_GO, NBD_REP_ERR_TLS_REQD);
	raw_replies(&r, NBD_OPT_GO, types, 8, NULL, 0, message, sizeof(message));
	assert_string_equal(message, "this export requires TLS");
	/* Other options and exports need no TLS in this mode. */
	assert_true(raw_info(&r, NBD_OPT_INFO, "disk") >= 0);
	assert_int_equal(raw_replies(&r, NBD_OPT_INFO, types, 8, NULL, 0, NULL, 0) > 1, 1);
	assert_true(raw_info(&r, NBD_OPT_INFO, "nope") >= 0);
	assert_single_reply(&r, NBD_OPT_INFO, NBD_REP_ERR_UNKNOWN);
	/* After TLS: listed and served. */
	raw_starttls(&r);
	assert_true(raw_option(&r, NBD_OPT_LIST, NULL, 0) >= 0);
	assert_int_equal(raw_replies(&r, NBD_OPT_LIST, types, 8, names, sizeof(names), NULL, 0), 4);
	assert_string_equal(names, "disk strict secret");
	assert_true(raw_info(&r, NBD_OPT_GO, "secret") >= 0);
	assert_int_equal(srv_hs_want(r.s), SRV_HS_DONE);
	assert_string_equal(srv_hs_result(r.s)->export->name, "secret");
	raw_end(&r);

	/* EXPORT_NAME of it without TLS: closed. */
	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	assert_int_equal(raw_option(&r, NBD_OPT_EXPORT_NAME, "secret", 6), -EACCES);
	assert_int_equal(r.replies.len, 0);
	raw_end(&r);
}

static void test_raw_state_forgotten_after_starttls(void **state)
{
	const struct srv_hs_config cfg = server_config();
	_cleanup_buffer_ struct buffer b = BUFFER_INIT;
	static const char *const q[] = { "base:allocation" };
	uint32_t types[4];
	struct raw r;

	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	assert_true(raw_option(&r, NBD_OPT_STRUCTURED_REPLY, NULL, 0) >= 0);
	assert_single_reply(&r, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK);
	assert_int_equal(nbd_meta_request_encode(&b, NBD_OPT_SET_META_CONTEXT, "disk", q, 1), 0);
	assert_true(raw_send(&r, b.data, b.len) >= 0);
	assert_int_equal(raw_replies(&r, NBD_OPT_SET_META_CONTEXT, types, 4, NULL, 0, NULL, 0), 2);
	assert_int_equal(types[0], NBD_REP_META_CONTEXT);
	assert_true(srv_hs_result(r.s)->structured_replies);
	raw_starttls(&r);
	/* Structured replies and the metadata context are gone. */
	assert_false(srv_hs_result(r.s)->structured_replies);
	assert_int_equal(srv_hs_result(r.s)->base_allocation_id, 0);
	assert_true(raw_option(&r, NBD_OPT_EXTENDED_HEADERS, NULL, 0) >= 0);
	assert_single_reply(&r, NBD_OPT_EXTENDED_HEADERS, NBD_REP_ACK);
	assert_true(raw_info(&r, NBD_OPT_GO, "disk") >= 0);
	assert_int_equal(srv_hs_want(r.s), SRV_HS_DONE);
	assert_false(srv_hs_result(r.s)->structured_replies);
	assert_true(srv_hs_result(r.s)->extended_headers);
	assert_int_equal(srv_hs_result(r.s)->base_allocation_id, 0);
	raw_end(&r);

	/* Extended headers negotiated before STARTTLS are forgotten too. */
	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	assert_true(raw_option(&r, NBD_OPT_EXTENDED_HEADERS, NULL, 0) >= 0);
	assert_single_reply(&r, NBD_OPT_EXTENDED_HEADERS, NBD_REP_ACK);
	raw_starttls(&r);
	assert_false(srv_hs_result(r.s)->extended_headers);
	/* ... so EXPORT_NAME is allowed again. */
	assert_true(raw_option(&r, NBD_OPT_EXPORT_NAME, "disk", 4) >= 0);
	assert_int_equal(srv_hs_want(r.s), SRV_HS_DONE);
	raw_end(&r);
}

static void test_raw_tls_off(void **state)
{
	struct srv_hs_config cfg = server_config();
	struct raw r;

	cfg.tls = SRV_TLS_OFF;
	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	assert_true(raw_option(&r, NBD_OPT_STARTTLS, NULL, 0) >= 0);
	assert_single_reply(&r, NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY);
	assert_false(srv_hs_result(r.s)->tls);
	/* Never ERR_TLS_REQD without TLS: options work as usual. */
	assert_true(raw_option(&r, NBD_OPT_STRUCTURED_REPLY, NULL, 0) >= 0);
	assert_single_reply(&r, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK);
	assert_true(raw_info(&r, NBD_OPT_GO, "disk") >= 0);
	assert_int_equal(srv_hs_want(r.s), SRV_HS_DONE);
	raw_end(&r);
}

static void test_raw_option_too_big_is_skipped(void **state)
{
	const struct srv_hs_config cfg = server_config();
	_cleanup_free_ uint8_t *big = calloc(1, 1 << 20);
	struct raw r;

	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	assert_non_null(big);
	assert_true(raw_option(&r, NBD_OPT_GO, big, 1 << 20) >= 0);
	assert_single_reply(&r, NBD_OPT_GO, NBD_REP_ERR_TOO_BIG);
	assert_true(raw_option(&r, NBD_OPT_STRUCTURED_REPLY, NULL, 0) >= 0);
	assert_single_reply(&r, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK);
	raw_end(&r);
}

static void test_raw_absurd_option_length_closes(void **state)
{
	const struct srv_hs_config cfg = server_config();
	uint8_t hdr[NBD_OPTION_HEADER_SIZE];
	struct raw r;

	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	nbd_option_header_encode(NBD_OPT_GO, UINT32_MAX, hdr);
	assert_int_equal(raw_send(&r, hdr, sizeof(hdr)), -EMSGSIZE);
	assert_int_equal(srv_hs_want(r.s), SRV_HS_FAILED);
	raw_end(&r);
}

static void test_raw_bad_option_magic_closes(void **state)
{
	const struct srv_hs_config cfg = server_config();
	uint8_t hdr[NBD_OPTION_HEADER_SIZE];
	struct raw r;

	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	nbd_option_header_encode(NBD_OPT_GO, 0, hdr);
	hdr[0] ^= 1;
	assert_int_equal(raw_send(&r, hdr, sizeof(hdr)), -EPROTO);
	raw_end(&r);
}

static void test_raw_plain_newstyle_client(void **state)
{
	const struct srv_hs_config cfg = server_config();
	struct raw r;

	/* Without fixed newstyle, anything but EXPORT_NAME ends the connection. */
	raw_start(&r, &cfg, 0);
	assert_int_equal(raw_option(&r, NBD_OPT_LIST, NULL, 0), -EPROTO);
	raw_end(&r);

	/* And EXPORT_NAME works, with the 124 bytes of padding since NO_ZEROES was not asked. */
	raw_start(&r, &cfg, 0);
	assert_true(raw_option(&r, NBD_OPT_EXPORT_NAME, "disk", 4) >= 0);
	assert_int_equal(srv_hs_want(r.s), SRV_HS_DONE);
	assert_int_equal(r.replies.len, NBD_EXPORT_NAME_REPLY_SIZE + NBD_EXPORT_NAME_PADDING);
	assert_int_equal(load_be64(r.replies.data), 1 << 20);
	assert_int_equal(load_be16(r.replies.data + 8), exports[0].transmission_flags);
	raw_end(&r);
}

static void test_raw_export_name_after_extended_headers_closes(void **state)
{
	const struct srv_hs_config cfg = server_config();
	struct raw r;

	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	assert_true(raw_option(&r, NBD_OPT_EXTENDED_HEADERS, NULL, 0) >= 0);
	assert_single_reply(&r, NBD_OPT_EXTENDED_HEADERS, NBD_REP_ACK);
	assert_true(raw_option(&r, NBD_OPT_STRUCTURED_REPLY, NULL, 0) >= 0);
	assert_single_reply(&r, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_EXT_HEADER_REQD);
	assert_int_equal(raw_option(&r, NBD_OPT_EXPORT_NAME, "disk", 4), -EPROTO);
	raw_end(&r);
}

static void test_raw_shutdown(void **state)
{
	const struct srv_hs_config cfg = server_config();
	struct raw r;

	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	srv_hs_shutdown(r.s);
	assert_true(raw_option(&r, NBD_OPT_LIST, NULL, 0) >= 0);
	assert_single_reply(&r, NBD_OPT_LIST, NBD_REP_ERR_SHUTDOWN);
	assert_true(raw_option(&r, NBD_OPT_ABORT, NULL, 0) >= 0);
	assert_int_equal(srv_hs_want(r.s), SRV_HS_DONE);
	raw_end(&r);
}

static void test_raw_eof(void **state)
{
	const struct srv_hs_config cfg = server_config();
	struct raw r;

	raw_start(&r, &cfg, NBD_FLAG_C_FIXED_NEWSTYLE);
	assert_int_equal(raw_send(&r, "IHAV", 4), 4);
	assert_int_equal(srv_hs_eof(r.s), -ECONNRESET);
	assert_non_null(strstr(srv_hs_error_message(r.s), "middle"));
	raw_end(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_go_with_block_sizes),
		cmocka_unit_test(test_default_export_and_export_name),
		cmocka_unit_test(test_unknown_export),
		cmocka_unit_test(test_unknown_export_with_export_name_closes),
		cmocka_unit_test(test_admit_refuses_go_with_policy),
		cmocka_unit_test(test_admit_takes_only_for_go),
		cmocka_unit_test(test_admit_refuses_export_name_by_closing),
		cmocka_unit_test(test_block_size_required),
		cmocka_unit_test(test_list_hides_tls_only_exports),
		cmocka_unit_test(test_list_disabled),
		cmocka_unit_test(test_info_mode_with_meta_contexts),
		cmocka_unit_test(test_set_meta_context_then_go),
		cmocka_unit_test(test_extended_headers),
		cmocka_unit_test(test_tls_required),
		cmocka_unit_test(test_tls_only_export),
		cmocka_unit_test(test_starttls_refused_without_tls),
		cmocka_unit_test(test_raw_unknown_client_flags),
		cmocka_unit_test(test_raw_starttls_ack_and_twice),
		cmocka_unit_test(test_raw_tls_required_before_tls),
		cmocka_unit_test(test_raw_tls_only_export),
		cmocka_unit_test(test_raw_state_forgotten_after_starttls),
		cmocka_unit_test(test_raw_tls_off),
		cmocka_unit_test(test_raw_unknown_option_and_keeps_sync),
		cmocka_unit_test(test_raw_options_with_forbidden_data),
		cmocka_unit_test(test_raw_malformed_go),
		cmocka_unit_test(test_raw_meta_context_before_structured_replies),
		cmocka_unit_test(test_raw_option_too_big_is_skipped),
		cmocka_unit_test(test_raw_absurd_option_length_closes),
		cmocka_unit_test(test_raw_bad_option_magic_closes),
		cmocka_unit_test(test_raw_plain_newstyle_client),
		cmocka_unit_test(test_raw_export_name_after_extended_headers_closes),
		cmocka_unit_test(test_raw_shutdown),
		cmocka_unit_test(test_raw_eof),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
