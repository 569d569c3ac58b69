/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Client handshake state machine (see negotiate.h for the contract).
 *
 * Two positions describe the machine: `step`, the option being negotiated (or the greeting), and
 * `phase`, what it waits for within that step. Steps run in the fixed order of step_order[]; each is
 * skipped unless step_wanted() says the mode, the configuration and what was negotiated so far call
 * for it. The only jumps out of that order are the EXPORT_NAME fallback and entering transmission.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buffer.h"
#include "common/unaligned.h"
#include "proto/handshake.h"
#include "proto/names.h"
#include "proto/negotiate.h"
#include "proto/negotiate-result.h"
#include "proto/option.h"
#include "proto/pump.h"

/* No legitimate option reply comes near this: the largest is a LIST entry of two 4 KiB strings. */
#define NEG_MAX_REPLY_LENGTH (64u << 10)
/* Bounds the memory a hostile server can make LIST or META_CONTEXT replies take. */
#define NEG_MAX_ENTRIES 65536

enum step {
	STEP_GREETING,
	STEP_STARTTLS,
	STEP_LIST,
	STEP_EXTENDED_HEADERS,
	STEP_STRUCTURED_REPLY,
	STEP_LIST_META_CONTEXT,
	STEP_SET_META_CONTEXT,
	STEP_GO, /* NBD_OPT_INFO in INFO mode */
	STEP_EXPORT_NAME,
	STEP_ABORT,
	STEP_DONE,
};

static const enum step step_order[] = {
	STEP_GREETING,		STEP_STARTTLS,		 STEP_LIST,		STEP_EXTENDED_HEADERS,
	STEP_STRUCTURED_REPLY,	STEP_LIST_META_CONTEXT,	 STEP_SET_META_CONTEXT, STEP_GO,
	STEP_EXPORT_NAME,	STEP_ABORT,		 STEP_DONE,
};

enum phase {
	PHASE_WRITE,         /* output pending; then read_after */
	PHASE_GREETING,
	PHASE_REPLY_HEADER,
	PHASE_REPLY_PAYLOAD,
	PHASE_EXPORT_NAME_REPLY,
	PHASE_TLS,
	PHASE_DONE,
	PHASE_FAILED,
};

struct nbd_neg {
	enum nbd_neg_mode mode;
	char *export_name;
	bool want_tls;
	bool no_opt_go;
	bool want_structured_replies;
	bool want_extended_headers;
	bool want_block_size;
	char **meta_queries;
	size_t n_meta_queries;

	enum step step;
	enum phase phase;
	enum phase read_after;

	struct msg_pump io;
	struct nbd_option_reply_header reply;

	bool got_export_info;
	struct nbd_neg_result *result;

	int error;
	char *error_message;
	uint32_t server_error;
};

static uint32_t step_option(const struct nbd_neg *n, enum step s)
{
	switch (s) {
	case STEP_STARTTLS:
		return NBD_OPT_STARTTLS;
	case STEP_LIST:
		return NBD_OPT_LIST;
	case STEP_EXTENDED_HEADERS:
		return NBD_OPT_EXTENDED_HEADERS;
	case STEP_STRUCTURED_REPLY:
		return NBD_OPT_STRUCTURED_REPLY;
	case STEP_LIST_META_CONTEXT:
		return NBD_OPT_LIST_META_CONTEXT;
	case STEP_SET_META_CONTEXT:
		return NBD_OPT_SET_META_CONTEXT;
	case STEP_GO:
		return n->mode == NBD_NEG_INFO ? NBD_OPT_INFO : NBD_OPT_GO;
	case STEP_EXPORT_NAME:
		return NBD_OPT_EXPORT_NAME;
	case STEP_ABORT:
		return NBD_OPT_ABORT;
	default:
		return 0;
	}
}

static const char *option_label(uint32_t option)
{
	const char *name = nbd_option_name(option);
	return name ? name : "an unknown option";
}

_printf_(3, 4) static int fail(struct nbd_neg *n, int error, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(n->error_message);
	n->error_message = msg;
	n->error = error < 0 ? error : -EPROTO;
	n->phase = PHASE_FAILED;
	return n->error;
}

static bool step_wanted(const struct nbd_neg *n, enum step s)
{
	const struct nbd_neg_result *r = n->result;
	bool attach = n->mode == NBD_NEG_ATTACH, info = n->mode == NBD_NEG_INFO;

	switch (s) {
	case STEP_STARTTLS:
		return n->want_tls && !r->tls;
	case STEP_LIST:
		return n->mode == NBD_NEG_LIST;
	case STEP_EXTENDED_HEADERS:
		/* Extended headers forbid EXPORT_NAME, so a client limited to it never asks for them. */
		return attach && n->want_extended_headers && !n->no_opt_go;
	case STEP_STRUCTURED_REPLY:
		return ((attach && n->want_structured_replies) || info) && !r->extended_headers;
	case STEP_LIST_META_CONTEXT:
		return info && (r->structured_replies || r->extended_headers);
	case STEP_SET_META_CONTEXT:
		return attach && n->n_meta_queries && (r->structured_replies || r->extended_headers);
	case STEP_GO:
		return n->mode != NBD_NEG_LIST && !n->no_opt_go;
	case STEP_EXPORT_NAME:
		return n->mode != NBD_NEG_LIST && n->no_opt_go;
	case STEP_ABORT:
		return n->mode != NBD_NEG_ATTACH;
	case STEP_DONE:
		return true;
	case STEP_GREETING:
	default:
		return false;
	}
}

static void expect_read(struct nbd_neg *n, enum phase phase, size_t len)
{
	msg_pump_expect(&n->io, len);
	n->phase = phase;
}

/* Queues bytes and makes the machine write them before it moves to read_after. */
static void queue_write(struct nbd_neg *n, enum phase read_after)
{
	n->phase = PHASE_WRITE;
	n->read_after = read_after;
}

static int send_simple_option(struct nbd_neg *n, uint32_t option)
{
	int r = nbd_option_encode(&n->io.out, option, NULL, 0);

	if (r < 0)
		return fail(n, r, "Failed to encode NBD_OPT_%s", option_label(option));
	queue_write(n, PHASE_REPLY_HEADER);
	return 0;
}

static int start_step(struct nbd_neg *n, enum step s)
{
	uint16_t info_types[3];
	size_t n_info = 0;
	int r;

	n->step = s;
	switch (s) {
	case STEP_STARTTLS:
	case STEP_LIST:
	case STEP_EXTENDED_HEADERS:
	case STEP_STRUCTURED_REPLY:
	case STEP_ABORT:
		return send_simple_option(n, step_option(n, s));
	case STEP_LIST_META_CONTEXT:
		/* No queries: the server lists every context it has. */
		r = nbd_meta_request_encode(&n->io.out, NBD_OPT_LIST_META_CONTEXT, n->export_name, NULL, 0);
		break;
	case STEP_SET_META_CONTEXT:
		r = nbd_meta_request_encode(&n->io.out, NBD_OPT_SET_META_CONTEXT, n->export_name,
					    (const char *const *)n->meta_queries, n->n_meta_queries);
		break;
	case STEP_GO:
		info_types[n_info++] = NBD_INFO_NAME;
		info_types[n_info++] = NBD_INFO_DESCRIPTION;
		if (n->want_block_size)
			info_types[n_info++] = NBD_INFO_BLOCK_SIZE;
		r = nbd_info_request_encode(&n->io.out, step_option(n, s), n->export_name, info_types,
					    n_info);
		break;
	case STEP_EXPORT_NAME:
		r = nbd_option_encode(&n->io.out, NBD_OPT_EXPORT_NAME, n->export_name,
				      strlen(n->export_name));
		if (r < 0)
			break;
		queue_write(n, PHASE_EXPORT_NAME_REPLY);
		return 0;
	case STEP_DONE:
		n->phase = PHASE_DONE;
		return 0;
	default:
		return fail(n, -EINVAL, "Internal error: no such negotiation step %d", (int)s);
	}
	if (r < 0)
		return fail(n, r, "Failed to encode NBD_OPT_%s for export '%s'",
			    option_label(step_option(n, s)), n->export_name);
	queue_write(n, PHASE_REPLY_HEADER);
	return 0;
}

/* Moves to the first wanted step after the current one. */
static int advance(struct nbd_neg *n)
{
	size_t i = 0;

	while (i < ELEMENTSOF(step_order) && step_order[i] != n->step)
		i++;
	for (i++; i < ELEMENTSOF(step_order); i++)
		if (step_wanted(n, step_order[i]))
			return start_step(n, step_order[i]);
	return start_step(n, STEP_DONE);
}

static int handle_greeting(struct nbd_neg *n, const uint8_t *buf, size_t len)
{
	struct nbd_neg_result *res = n->result;
	uint8_t flags_out[NBD_CLIENT_FLAGS_SIZE];
	uint32_t client_flags = 0;
	uint16_t flags;
	int r;

	r = nbd_greeting_decode(buf, len, &flags);
	if (r == -EPROTONOSUPPORT)
		return fail(n, r, "The server speaks the oldstyle NBD handshake, which was withdrawn "
				  "from the protocol; configure it for newstyle negotiation");
	if (r < 0)
		return fail(n, r, "The peer is not an NBD server (bad greeting magic)");

	res->handshake_flags = flags;
	res->fixed_newstyle = flags & NBD_FLAG_FIXED_NEWSTYLE;
	res->no_zeroes = flags & NBD_FLAG_NO_ZEROES;
	if (res->fixed_newstyle)
		client_flags |= NBD_FLAG_C_FIXED_NEWSTYLE;
	if (res->no_zeroes)
		client_flags |= NBD_FLAG_C_NO_ZEROES;
	nbd_client_flags_encode(client_flags, flags_out);
	buffer_append(&n->io.out, flags_out, sizeof(flags_out));

	if (!res->fixed_newstyle) {
		/* Plain newstyle servers drop the connection on any option but EXPORT_NAME. */
		if (n->want_tls)
			return fail(n, -EPROTONOSUPPORT,
				    "The server does not support fixed newstyle negotiation, so TLS is "
				    "impossible with it");
		if (n->mode == NBD_NEG_LIST)
			return fail(n, -EOPNOTSUPP,
				    "The server does not support fixed newstyle negotiation and cannot "
				    "list its exports");
		n->result->export_name_fallback = true;
		return start_step(n, STEP_EXPORT_NAME);
	}
	return advance(n);
}

static int server_refused(struct nbd_neg *n, const uint8_t *payload, size_t len)
{
	struct nbd_string msg = { .ptr = "", .len = 0 };
	uint32_t option = n->reply.option;

	(void)nbd_rep_error_decode(payload, len, &msg);
	n->server_error = n->reply.type;
	return fail(n, nbd_reply_error_to_errno(n->reply.type),
		    "The server refused NBD_OPT_%s for export '%s': %s%s%.*s", option_label(option),
		    n->export_name, nbd_reply_error_description(n->reply.type),
		    msg.len ? ": " : "", (int)msg.len, msg.len ? msg.ptr : "");
}

static int unexpected_reply(struct nbd_neg *n)
{
	const char *name = nbd_reply_type_name(n->reply.type);

	if (name)
		return fail(n, -EPROTO, "The server answered NBD_OPT_%s with NBD_REP_%s, which "
					"does not belong to it", option_label(n->reply.option), name);
	return fail(n, -EPROTO, "The server answered NBD_OPT_%s with unknown reply type 0x%x",
		    option_label(n->reply.option), n->reply.type);
}

/* The list replies, added to the result; the messages say what the server got wrong. */
static int add_meta_context(struct nbd_neg *n, const uint8_t *payload, size_t len)
{
	int r = nbd_neg_result_add_meta_context(n->result, payload, len, NEG_MAX_ENTRIES);

	if (r == -E2BIG)
		return fail(n, r, "The server sent more than %u metadata contexts", NEG_MAX_ENTRIES);
	if (r == -ENOMEM)
		return fail(n, r, "Out of memory");
	if (r < 0)
		return fail(n, r, "The server sent a malformed NBD_REP_META_CONTEXT");
	return 0;
}

static int add_export(struct nbd_neg *n, const uint8_t *payload, size_t len)
{
	int r = nbd_neg_result_add_export(n->result, payload, len, NEG_MAX_ENTRIES);

	if (r == -E2BIG)
		return fail(n, r, "The server listed more than %u exports", NEG_MAX_ENTRIES);
	if (r == -ENOMEM)
		return fail(n, r, "Out of memory");
	if (r < 0)
		return fail(n, r, "The server sent a malformed NBD_REP_SERVER");
	return 0;
}

static int apply_info(struct nbd_neg *n, const uint8_t *payload, size_t len)
{
	struct nbd_neg_result *res = n->result;
	struct nbd_info_item item;
	char **slot;
	int r;

	r = nbd_rep_info_decode(payload, len, &item);
	if (r < 0)
		return fail(n, r, "The server sent a malformed NBD_REP_INFO (%zu bytes)", len);
	switch (item.type) {
	case NBD_INFO_EXPORT:
		res->size = item.export.size;
		res->transmission_flags = item.export.transmission_flags;
		n->got_export_info = true;
		return 0;
	case NBD_INFO_NAME:
	case NBD_INFO_DESCRIPTION:
		slot = item.type == NBD_INFO_NAME ? &res->name : &res->description;
		free(*slot);
		*slot = nbd_string_dup(item.name);
		return *slot ? 0 : fail(n, -ENOMEM, "Out of memory");
	case NBD_INFO_BLOCK_SIZE:
		r = nbd_block_size_check(item.block_size.minimum, item.block_size.preferred,
					 item.block_size.maximum);
		if (r < 0)
			return fail(n, -EPROTO,
				    "The server sent impossible block sizes (minimum %u, preferred %u, "
				    "maximum %u)",
				    item.block_size.minimum, item.block_size.preferred,
				    item.block_size.maximum);
		res->has_block_size = true;
		res->block_minimum = item.block_size.minimum;
		res->block_preferred = item.block_size.preferred;
		res->block_maximum = item.block_size.maximum;
		return 0;
	default:
		return 0; /* unknown information is ignored, as the spec asks */
	}
}

/* One whole option reply has arrived for the current step. */
static int handle_reply(struct nbd_neg *n, const uint8_t *payload, size_t len)
{
	struct nbd_neg_result *res = n->result;
	uint32_t type = n->reply.type;
	bool ack = type == NBD_REP_ACK, err = NBD_REP_IS_ERR(type);
	int r;

	if (ack && len)
		return fail(n, -EBADMSG, "The server sent NBD_REP_ACK with a %zu-byte payload", len);

	switch (n->step) {
	case STEP_ABORT:
		/* Whatever the answer, the session is over. */
		n->phase = PHASE_DONE;
		return 0;
	case STEP_STARTTLS:
		if (ack) {
			n->phase = PHASE_TLS;
			return 0;
		}
		return err ? server_refused(n, payload, len) : unexpected_reply(n);
	case STEP_LIST:
		if (type == NBD_REP_SERVER) {
			r = add_export(n, payload, len);
			if (r < 0)
				return r;
			expect_read(n, PHASE_REPLY_HEADER, NBD_OPTION_REPLY_HEADER_SIZE);
			return 0;
		}
		if (ack)
			return advance(n);
		return err ? server_refused(n, payload, len) : unexpected_reply(n);
	case STEP_EXTENDED_HEADERS:
	case STEP_STRUCTURED_REPLY:
		if (ack) {
			if (n->step == STEP_EXTENDED_HEADERS)
				res->extended_headers = true;
			else
				res->structured_replies = true;
		} else if (!err) {
			return unexpected_reply(n);
		}
		return advance(n); /* a refusal only means the feature is unavailable */
	case STEP_LIST_META_CONTEXT:
	case STEP_SET_META_CONTEXT:
		if (type == NBD_REP_META_CONTEXT) {
			r = add_meta_context(n, payload, len);
			if (r < 0)
				return r;
			expect_read(n, PHASE_REPLY_HEADER, NBD_OPTION_REPLY_HEADER_SIZE);
			return 0;
		}
		if (err)
			nbd_neg_result_clear_meta_contexts(res); /* a failed SET selects nothing */
		else if (!ack)
			return unexpected_reply(n);
		return advance(n);
	case STEP_GO:
		if (type == NBD_REP_INFO) {
			r = apply_info(n, payload, len);
			if (r < 0)
				return r;
			expect_read(n, PHASE_REPLY_HEADER, NBD_OPTION_REPLY_HEADER_SIZE);
			return 0;
		}
		if (ack) {
			if (!n->got_export_info)
				return fail(n, -EBADMSG, "The server finished NBD_OPT_%s without sending "
							 "NBD_INFO_EXPORT",
					    option_label(n->reply.option));
			res->info_used = true;
			if (n->mode == NBD_NEG_ATTACH) {
				res->transmission = true;
				return start_step(n, STEP_DONE);
			}
			return advance(n);
		}
		if (type == NBD_REP_ERR_UNSUP && !res->extended_headers) {
			/* An old server: the only other way in is EXPORT_NAME. */
			res->export_name_fallback = true;
			return start_step(n, STEP_EXPORT_NAME);
		}
		return err ? server_refused(n, payload, len) : unexpected_reply(n);
	default:
		return fail(n, -EPROTO, "Internal error: reply in negotiation step %d", (int)n->step);
	}
}

static int handle_input(struct nbd_neg *n)
{
	const uint8_t *buf = n->io.in.data;
	size_t len = n->io.in.len;
	int r;

	switch (n->phase) {
	case PHASE_GREETING:
		return handle_greeting(n, buf, len);
	case PHASE_REPLY_HEADER:
		r = nbd_option_reply_header_decode(buf, len, step_option(n, n->step),
						   NEG_MAX_REPLY_LENGTH, &n->reply);
		if (r == -EMSGSIZE)
			/* The decoder leaves the header unfilled on error: take the length from the
			 * bytes themselves. */
			return fail(n, r, "The server sent a %u-byte reply to NBD_OPT_%s, more than "
					  "the %u bytes any valid reply needs",
				    load_be32(buf + 16), option_label(step_option(n, n->step)),
				    NEG_MAX_REPLY_LENGTH);
		if (r < 0)
			return fail(n, r, "The server sent a malformed reply to NBD_OPT_%s (bad magic "
					  "or answer to another option)",
				    option_label(step_option(n, n->step)));
		if (n->reply.length) {
			expect_read(n, PHASE_REPLY_PAYLOAD, n->reply.length);
			return 0;
		}
		return handle_reply(n, NULL, 0);
	case PHASE_REPLY_PAYLOAD:
		return handle_reply(n, buf, len);
	case PHASE_EXPORT_NAME_REPLY: {
		struct nbd_neg_result *res = n->result;

		r = nbd_export_name_reply_decode(buf, NBD_EXPORT_NAME_REPLY_SIZE, &res->size,
						 &res->transmission_flags);
		if (r < 0)
			return fail(n, r, "The server sent a malformed reply to NBD_OPT_EXPORT_NAME");
		res->transmission = true;
		return start_step(n, STEP_DONE);
	}
	default:
		return fail(n, -EINVAL, "Internal error: input in phase %d", (int)n->phase);
	}
}

int nbd_neg_new(const struct nbd_neg_config *config, struct nbd_neg **ret)
{
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;
	const char *name = config->export_name ? config->export_name : "";

	if (strlen(name) > NBD_MAX_STRING)
		return -EINVAL;
	if (config->mode > NBD_NEG_LIST)
		return -EINVAL;

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->mode = config->mode;
	n->want_tls = config->tls;
	n->no_opt_go = config->no_opt_go;
	n->want_structured_replies = config->structured_replies;
	n->want_extended_headers = config->extended_headers;
	n->want_block_size = config->block_size;
	n->export_name = strdup(name);
	n->result = calloc(1, sizeof(*n->result));
	if (!n->export_name || !n->result)
		return -ENOMEM;
	if (config->meta_contexts) {
		size_t count = 0;

		while (config->meta_contexts[count])
			count++;
		n->meta_queries = calloc(count + 1, sizeof(char *));
		if (!n->meta_queries)
			return -ENOMEM;
		for (size_t i = 0; i < count; i++) {
			if (strlen(config->meta_contexts[i]) > NBD_MAX_STRING)
				return -EINVAL;
			n->meta_queries[i] = strdup(config->meta_contexts[i]);
			if (!n->meta_queries[i])
				return -ENOMEM;
			n->n_meta_queries++;
		}
	}
	n->step = STEP_GREETING;
	expect_read(n, PHASE_GREETING, NBD_GREETING_SIZE);
	*ret = TAKE_PTR(n);
	return 0;
}

struct nbd_neg *nbd_neg_free(struct nbd_neg *n)
{
	if (!n)
		return NULL;
	free(n->export_name);
	for (size_t i = 0; i < n->n_meta_queries; i++)
		free(n->meta_queries[i]);
	free(n->meta_queries);
	msg_pump_free(&n->io);
	nbd_neg_result_free(n->result);
	free(n->error_message);
	free(n);
	return NULL;
}

enum nbd_neg_want nbd_neg_want(const struct nbd_neg *n)
{
	switch (n->phase) {
	case PHASE_WRITE:
		return NBD_NEG_WANT_WRITE;
	case PHASE_TLS:
		return NBD_NEG_WANT_TLS;
	case PHASE_DONE:
		return NBD_NEG_DONE;
	case PHASE_FAILED:
		return NBD_NEG_FAILED;
	default:
		return NBD_NEG_WANT_READ;
	}
}

const void *nbd_neg_output(const struct nbd_neg *n, size_t *ret_len)
{
	if (n->phase != PHASE_WRITE) {
		*ret_len = 0;
		return NULL;
	}
	return msg_pump_output(&n->io, ret_len);
}

void nbd_neg_output_done(struct nbd_neg *n, size_t written)
{
	if (n->phase != PHASE_WRITE || !msg_pump_output_done(&n->io, written))
		return;
	switch (n->read_after) {
	case PHASE_REPLY_HEADER:
		expect_read(n, PHASE_REPLY_HEADER, NBD_OPTION_REPLY_HEADER_SIZE);
		break;
	case PHASE_EXPORT_NAME_REPLY:
		expect_read(n, PHASE_EXPORT_NAME_REPLY,
			    NBD_EXPORT_NAME_REPLY_SIZE +
				    (n->result->no_zeroes ? 0 : NBD_EXPORT_NAME_PADDING));
		break;
	default:
		n->phase = n->read_after;
		break;
	}
}

size_t nbd_neg_input_wanted(const struct nbd_neg *n)
{
	if (nbd_neg_want(n) != NBD_NEG_WANT_READ)
		return 0;
	return msg_pump_input_wanted(&n->io);
}

ssize_t nbd_neg_feed(struct nbd_neg *n, const void *buf, size_t len)
{
	ssize_t take;
	int r;

	if (nbd_neg_want(n) == NBD_NEG_FAILED)
		return n->error;
	if (nbd_neg_want(n) != NBD_NEG_WANT_READ)
		return -EINVAL;
	take = msg_pump_feed(&n->io, buf, len);
	if (take < 0)
		return fail(n, (int)take, "Out of memory");
	if (!msg_pump_complete(&n->io))
		return take;
	r = handle_input(n);
	return r < 0 ? r : take;
}

int nbd_neg_eof(struct nbd_neg *n)
{
	if (n->phase == PHASE_FAILED)
		return n->error;
	if (n->phase == PHASE_DONE)
		return 0;
	if (n->step == STEP_ABORT) {
		/* The spec lets a server close instead of acknowledging ABORT. */
		n->phase = PHASE_DONE;
		return 0;
	}
	if (n->phase == PHASE_GREETING)
		return fail(n, -ECONNRESET, "The server closed the connection before its greeting "
					    "(is it an NBD server, and does it accept this client?)");
	if (n->phase == PHASE_EXPORT_NAME_REPLY)
		return fail(n, -ENOENT, "The server closed the connection after NBD_OPT_EXPORT_NAME: "
					"it has no export named '%s' or refuses it to this client",
			    n->export_name);
	return fail(n, -ECONNRESET, "The server closed the connection during NBD_OPT_%s",
		    option_label(step_option(n, n->step)));
}

int nbd_neg_timed_out(struct nbd_neg *n)
{
	if (n->phase == PHASE_FAILED)
		return n->error;
	if (n->phase == PHASE_GREETING)
		return fail(n, -ETIMEDOUT, "The server accepted the connection but sent no greeting");
	return fail(n, -ETIMEDOUT, "The server did not finish answering NBD_OPT_%s",
		    option_label(step_option(n, n->step)));
}

void nbd_neg_tls_done(struct nbd_neg *n)
{
	struct nbd_neg_result *res = n->result;

	if (n->phase != PHASE_TLS)
		return;
	/* STARTTLS makes both sides forget everything negotiated before it. */
	res->structured_replies = false;
	res->extended_headers = false;
	nbd_neg_result_clear_meta_contexts(res);
	res->tls = true;
	(void)advance(n);
}

const struct nbd_neg_result *nbd_neg_result(const struct nbd_neg *n)
{
	return n->result;
}

struct nbd_neg_result *nbd_neg_steal_result(struct nbd_neg *n)
{
	return TAKE_PTR(n->result);
}

int nbd_neg_error(const struct nbd_neg *n)
{
	return n->phase == PHASE_FAILED ? n->error : 0;
}

const char *nbd_neg_error_message(const struct nbd_neg *n)
{
	if (n->phase != PHASE_FAILED)
		return NULL;
	return n->error_message ? n->error_message : "Negotiation failed";
}

uint32_t nbd_neg_server_error(const struct nbd_neg *n)
{
	return n->server_error;
}
