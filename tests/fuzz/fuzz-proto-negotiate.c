/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The client negotiation machine (proto/negotiate.h) against a hostile server.
 *
 * Input: two configuration bytes, then everything the server sends. The machine is driven as a
 * client drives it: its output is accepted (in pieces, if the input says so), input is fed in
 * chunks of sizes the input chooses and never beyond nbd_neg_input_wanted(), the end of the input
 * is the server closing the connection, and TLS handshakes "succeed" instantly (or fail, which ends
 * the session).
 *
 * Byte 0: bits 0-1 mode (0 ATTACH, 1 INFO, 2 LIST, 3 ATTACH), bit 2 tls, bit 3 no_opt_go,
 *         bit 4 structured_replies, bit 5 extended_headers, bit 6 block_size,
 *         bit 7 the TLS handshake fails.
 * Byte 1: bits 0-1 meta contexts (0 none, 1 base:allocation, 2 that and a dirty bitmap,
 *         3 a query too long to send),
 *         bits 2-3 export name (0 NULL, 1 "", 2 "disk", 3 the longest legal name),
 *         bits 4-6 read chunking (0: whole messages; 1-6: sizes cycling through 1..k+1 bytes;
 *         7: one byte, then the rest of the message, alternately),
 *         bit 7 write in pieces.
 * On DONE the result is stolen and freed separately when the server's stream has an odd length.
 * make-seeds.py builds its seeds with the same layout.
 *
 * Besides not crashing or leaking, the machine must: make progress, end in DONE or FAILED after the
 * server closes, describe every failure, and send only well-formed client messages, which are
 * decoded here with the proto/ decoders.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buffer.h"
#include "proto/handshake.h"
#include "proto/negotiate.h"
#include "proto/option.h"
#include "tests/fuzz/fuzz.h"

struct drive {
	struct nbd_neg_config config;
	bool tls_fails;
	unsigned chunking;
	bool piecewise_writes;
	const char *name; /* the export name the client must ask for */

	const uint8_t *in;
	size_t in_len, in_pos;
	unsigned n_reads;
	struct buffer out; /* everything the client sent */
};

static char long_name[NBD_MAX_STRING + 2];

static const char *const meta_one[] = { "base:allocation", NULL };
static const char *const meta_two[] = { "base:allocation", "qemu:dirty-bitmap:bitmap0", NULL };
static const char *const meta_bad[] = { "base:allocation", long_name, NULL };

static void configure(struct drive *d, uint8_t b0, uint8_t b1)
{
	static const enum nbd_neg_mode modes[] = { NBD_NEG_ATTACH, NBD_NEG_INFO, NBD_NEG_LIST,
						   NBD_NEG_ATTACH };

	/* One longer than allowed for the bad query; the longest legal export name is its tail. */
	if (!long_name[0])
		memset(long_name, 'x', sizeof(long_name) - 1);

	d->config = (struct nbd_neg_config){
		.mode = modes[b0 & 3],
		.tls = b0 & 0x04,
		.no_opt_go = b0 & 0x08,
		.structured_replies = b0 & 0x10,
		.extended_headers = b0 & 0x20,
		.block_size = b0 & 0x40,
	};
	d->tls_fails = b0 & 0x80;
	switch (b1 & 3) {
	case 1:
		d->config.meta_contexts = meta_one;
		break;
	case 2:
		d->config.meta_contexts = meta_two;
		break;
	case 3:
		d->config.meta_contexts = meta_bad;
		break;
	default:
		break;
	}
	switch ((b1 >> 2) & 3) {
	case 1:
		d->config.export_name = "";
		break;
	case 2:
		d->config.export_name = "disk";
		break;
	case 3:
		d->config.export_name = long_name + 1; /* exactly NBD_MAX_STRING bytes */
		break;
	default:
		break; /* NULL: the default export, sent as "" */
	}
	d->name = d->config.export_name ? d->config.export_name : "";
	d->chunking = (b1 >> 4) & 7;
	d->piecewise_writes = b1 & 0x80;
}

static size_t read_chunk(struct drive *d, size_t wanted)
{
	size_t n = wanted;

	if (d->chunking && d->chunking < 7)
		n = 1 + d->n_reads % (d->chunking + 1);
	else if (d->chunking == 7 && d->n_reads % 2)
		n = 1;
	d->n_reads++;
	return MIN(MIN(n, wanted), d->in_len - d->in_pos);
}

/* Everything the client sent must parse as its flags and then whole option requests, each with the
 * payload its option calls for, all naming the configured export, in an order the spec allows. */
static void check_client_output(const struct drive *d, const struct nbd_neg_result *res)
{
	const uint8_t *p = d->out.data;
	size_t left = d->out.len;
	uint32_t client_flags;
	bool first = true, starttls_sent = false;

	if (left == 0)
		return;
	FUZZ_CHECK(left >= NBD_CLIENT_FLAGS_SIZE);
	/* The client may only set flags the server offered. */
	FUZZ_CHECK(nbd_client_flags_decode(p, NBD_CLIENT_FLAGS_SIZE, res->handshake_flags,
					   &client_flags) == 0);
	p += NBD_CLIENT_FLAGS_SIZE;
	left -= NBD_CLIENT_FLAGS_SIZE;

	while (left) {
		struct nbd_option_header h;
		struct nbd_info_request info;
		struct nbd_meta_request meta;
		struct nbd_string q;
		size_t pos = 0, count = 0;

		FUZZ_CHECK(left >= NBD_OPTION_HEADER_SIZE);
		FUZZ_CHECK(nbd_option_header_decode(p, NBD_OPTION_HEADER_SIZE, &h) == 0);
		p += NBD_OPTION_HEADER_SIZE;
		left -= NBD_OPTION_HEADER_SIZE;
		FUZZ_CHECK(h.length <= left);
		/* A plain newstyle server drops a client for any other option. */
		if (!(res->handshake_flags & NBD_FLAG_FIXED_NEWSTYLE))
			FUZZ_CHECK(h.option == NBD_OPT_EXPORT_NAME);
		/* With TLS asked for, nothing may be negotiated in the clear before STARTTLS. */
		if (first && d->config.tls)
			FUZZ_CHECK(h.option == NBD_OPT_STARTTLS);
		first = false;

		switch (h.option) {
		case NBD_OPT_EXPORT_NAME:
			FUZZ_CHECK(h.length == strlen(d->name) &&
				   memcmp(p, d->name, h.length) == 0);
			/* "a client that has used NBD_OPT_EXTENDED_HEADERS to negotiate extended
			 * headers MUST NOT use this option" (proto.md). Extended headers are
			 * negotiated after any STARTTLS, so the final result tells whether they
			 * were. */
			FUZZ_CHECK(!res->extended_headers);
			break;
		case NBD_OPT_INFO:
		case NBD_OPT_GO:
			FUZZ_CHECK(d->config.mode != NBD_NEG_LIST && !d->config.no_opt_go);
			FUZZ_CHECK((h.option == NBD_OPT_INFO) == (d->config.mode == NBD_NEG_INFO));
			FUZZ_CHECK(nbd_info_request_decode(p, h.length, &info) == 0);
			FUZZ_CHECK(nbd_string_eq(info.name, d->name));
			break;
		case NBD_OPT_LIST_META_CONTEXT:
		case NBD_OPT_SET_META_CONTEXT:
			FUZZ_CHECK(nbd_meta_request_decode(p, h.length, &meta) == 0);
			FUZZ_CHECK(nbd_string_eq(meta.name, d->name));
			while (nbd_meta_request_next(&meta, &pos, &q))
				count++;
			FUZZ_CHECK(count == meta.n_queries);
			break;
		case NBD_OPT_STARTTLS:
			/* "MUST NOT issue NBD_OPT_STARTTLS if TLS has already been initiated" */
			FUZZ_CHECK(d->config.tls && !starttls_sent);
			FUZZ_CHECK(h.length == 0);
			starttls_sent = true;
			break;
		case NBD_OPT_LIST:
		case NBD_OPT_ABORT:
		case NBD_OPT_STRUCTURED_REPLY:
		case NBD_OPT_EXTENDED_HEADERS:
			FUZZ_CHECK(h.length == 0);
			break;
		default:
			FUZZ_CHECK(!"the client sent an option it never asks for");
		}
		p += h.length;
		left -= h.length;
	}
}

/* Reads every field, so that ASan sees any dangling or unterminated one. */
static void check_result(const struct drive *d, const struct nbd_neg_result *r)
{
	volatile size_t sink = 0;

	FUZZ_CHECK(r);
	sink += r->handshake_flags + r->fixed_newstyle + r->no_zeroes + r->tls + r->transmission;
	sink += r->export_name_fallback + r->info_used + r->size + r->transmission_flags;
	sink += r->has_block_size + r->block_minimum + r->block_preferred + r->block_maximum;
	sink += r->structured_replies + r->extended_headers;
	if (r->name)
		sink += strlen(r->name);
	if (r->description)
		sink += strlen(r->description);
	FUZZ_CHECK(!r->n_meta_contexts || r->meta_contexts);
	for (size_t i = 0; i < r->n_meta_contexts; i++)
		sink += r->meta_contexts[i].id + strlen(r->meta_contexts[i].name);
	FUZZ_CHECK(!r->n_exports || r->exports);
	for (size_t i = 0; i < r->n_exports; i++)
		sink += strlen(r->exports[i].name) + strlen(r->exports[i].description);
	(void)sink;

	/* TLS was asked for: finishing without it would be the silent downgrade negotiate.h rules
	 * out. */
	FUZZ_CHECK(!d->config.tls || r->tls);
	/* An attach that is done has entered transmission; a listing never does. */
	if (d->config.mode == NBD_NEG_ATTACH)
		FUZZ_CHECK(r->transmission);
	if (d->config.mode == NBD_NEG_LIST)
		FUZZ_CHECK(!r->transmission && !r->info_used);
	else
		FUZZ_CHECK(!r->n_exports);
	if (r->has_block_size)
		FUZZ_CHECK(nbd_block_size_check(r->block_minimum, r->block_preferred,
						r->block_maximum) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drive d = { 0 };
	struct nbd_neg *n = NULL;
	struct nbd_neg_result *stolen;
	enum nbd_neg_want final;
	size_t steps, max_steps;
	bool done = false;
	int r;

	if (size < 2)
		return 0;
	configure(&d, data[0], data[1]);
	d.in = data + 2;
	d.in_len = size - 2;

	r = nbd_neg_new(&d.config, &n);
	if (d.config.meta_contexts == meta_bad) {
		FUZZ_CHECK(r == -EINVAL && !n);
		return 0;
	}
	FUZZ_CHECK(r == 0 && n);

	/* Every step either consumes input, finishes a write (in at most a few pieces per message)
	 * or ends the session, so this bound is generous; hitting it means the machine stopped
	 * moving. */
	max_steps = 64 * (d.in_len + 16);
	for (steps = 0; !done; steps++) {
		enum nbd_neg_want want = nbd_neg_want(n);
		const void *out;
		size_t len, wanted, chunk;
		ssize_t fed;

		FUZZ_CHECK(steps < max_steps);
		switch (want) {
		case NBD_NEG_WANT_WRITE:
			out = nbd_neg_output(n, &len);
			FUZZ_CHECK(out && len > 0);
			FUZZ_CHECK(nbd_neg_input_wanted(n) == 0);
			/* A short write: half of it (rounded up), as a socket may take. */
			if (d.piecewise_writes)
				len = len / 2 + 1;
			buffer_append(&d.out, out, len);
			nbd_neg_output_done(n, len);
			break;
		case NBD_NEG_WANT_READ:
			wanted = nbd_neg_input_wanted(n);
			FUZZ_CHECK(wanted > 0);
			if (d.in_pos == d.in_len) {
				(void)nbd_neg_eof(n);
				/* After the server closed, nothing more can come. */
				want = nbd_neg_want(n);
				FUZZ_CHECK(want == NBD_NEG_DONE || want == NBD_NEG_FAILED);
				break;
			}
			chunk = read_chunk(&d, wanted);
			fed = nbd_neg_feed(n, d.in + d.in_pos, chunk);
			if (fed < 0) {
				FUZZ_CHECK(nbd_neg_want(n) == NBD_NEG_FAILED);
				FUZZ_CHECK(nbd_neg_error(n) == fed);
				done = true;
				break;
			}
			/* Within what it asked for, the machine takes everything it is given. */
			FUZZ_CHECK((size_t)fed == chunk);
			d.in_pos += chunk;
			break;
		case NBD_NEG_WANT_TLS:
			FUZZ_CHECK(d.config.tls);
			if (d.tls_fails) {
				done = true; /* the caller gives up and frees the machine */
				break;
			}
			nbd_neg_tls_done(n);
			break;
		case NBD_NEG_DONE:
		case NBD_NEG_FAILED:
			done = true;
			break;
		default:
			FUZZ_CHECK(!"nbd_neg_want() out of range");
		}
	}

	/* Judging the client's output needs the result, so this comes before any steal. */
	check_client_output(&d, nbd_neg_result(n));

	final = nbd_neg_want(n);
	if (final != NBD_NEG_WANT_TLS) {
		const void *out;
		size_t len;

		/* Calls out of turn change nothing: a finished machine has no output, takes no TLS
		 * completion, and stays finished when the server closes after all. */
		nbd_neg_output_done(n, 1);
		nbd_neg_tls_done(n);
		out = nbd_neg_output(n, &len);
		FUZZ_CHECK(!out && len == 0);
		FUZZ_CHECK(nbd_neg_input_wanted(n) == 0);
		r = nbd_neg_eof(n);
		FUZZ_CHECK(r == nbd_neg_error(n));
		FUZZ_CHECK(nbd_neg_want(n) == final);
	}

	switch (final) {
	case NBD_NEG_DONE:
		FUZZ_CHECK(nbd_neg_error(n) == 0 && !nbd_neg_error_message(n));
		check_result(&d, nbd_neg_result(n));
		/* Callers either leave the result to nbd_neg_free() or take it over: try both,
		 * choosing by the parity of the input length, which mutations flip easily. */
		if (d.in_len % 2) {
			stolen = nbd_neg_steal_result(n);
			check_result(&d, stolen);
			FUZZ_CHECK(!nbd_neg_result(n));
			nbd_neg_result_free(stolen);
		}
		break;
	case NBD_NEG_FAILED:
		FUZZ_CHECK(nbd_neg_error(n) < 0);
		FUZZ_CHECK(nbd_neg_error_message(n) && nbd_neg_error_message(n)[0]);
		/* Feeding a failed machine repeats the error instead of resuming. */
		FUZZ_CHECK(nbd_neg_feed(n, "x", 1) == nbd_neg_error(n));
		(void)nbd_neg_server_error(n);
		break;
	default:
		/* Abandoned at WANT_TLS. */
		break;
	}
	nbd_neg_free(n);
	buffer_free(&d.out);
	return 0;
}
