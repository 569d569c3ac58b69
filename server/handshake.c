/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Server handshake state machine (see handshake.h for the contract).
 *
 * The machine alternates between reading one option request and writing all of its replies. Every
 * reply to an option is queued in `out` before anything is written, so the caller sends each answer in
 * as few system calls as it can.
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
#include "proto/option.h"
#include "proto/pump.h"
#include "server/handshake.h"

/* Options a client may send: the largest legitimate one is SET_META_CONTEXT with a few queries. */
#define HS_MAX_OPTION_LENGTH (64u << 10)
/* Longer options are read and thrown away so the client stays in sync, up to this much; past it the
 * client is taken to be hostile and the connection ends. */
#define HS_MAX_DISCARD_LENGTH (16u << 20)

enum phase {
	PHASE_WRITE,
	PHASE_CLIENT_FLAGS,
	PHASE_OPTION_HEADER,
	PHASE_OPTION_PAYLOAD,
	PHASE_DISCARD,
	PHASE_TLS,
	PHASE_DONE,
	PHASE_FAILED,
};

struct srv_hs {
	struct srv_hs_config config;
	enum phase phase;
	enum phase after_write;

	struct msg_pump io;
	size_t discard_left;
	struct nbd_option_header option;

	/* The export that SET_META_CONTEXT chose contexts for: BLOCK_STATUS needs it to match GO's. */
	char *meta_export;
	struct srv_hs_result result;

	int error;
	char *error_message;
};

_printf_(3, 4) static int fail(struct srv_hs *h, int error, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(h->error_message);
	h->error_message = msg;
	h->error = error < 0 ? error : -EPROTO;
	h->phase = PHASE_FAILED;
	return h->error;
}

static const char *option_label(uint32_t option)
{
	const char *name = nbd_option_name(option);
	return name ? name : "unknown";
}

static void expect_read(struct srv_hs *h, enum phase phase, size_t len)
{
	msg_pump_expect(&h->io, len);
	h->phase = phase;
}

static void write_then(struct srv_hs *h, enum phase after)
{
	h->phase = PHASE_WRITE;
	h->after_write = after;
}

/* Queues an error reply and goes on reading options. */
static int refuse(struct srv_hs *h, uint32_t type, const char *message)
{
	int r = nbd_rep_error_encode(&h->io.out, h->option.option, type, message);

	if (r < 0)
		return fail(h, r, "Failed to encode an option reply");
	write_then(h, PHASE_OPTION_HEADER);
	return 0;
}

static int ack(struct srv_hs *h, enum phase after)
{
	int r = nbd_option_reply_encode(&h->io.out, h->option.option, NBD_REP_ACK, NULL, 0);

	if (r < 0)
		return fail(h, r, "Failed to encode an option reply");
	write_then(h, after);
	return 0;
}

static bool tls_needed_first(const struct srv_hs *h)
{
	return h->config.tls == SRV_TLS_REQUIRED && !h->result.tls;
}

/* Copies a received name into a C string, or says why it cannot be one. */
static char *name_dup(struct nbd_string s)
{
	return nbd_string_dup(s);
}

static int do_list(struct srv_hs *h)
{
	const struct srv_export *e;

	if (h->option.length)
		return refuse(h, NBD_REP_ERR_INVALID, "NBD_OPT_LIST takes no data");
	if (tls_needed_first(h))
		return refuse(h, NBD_REP_ERR_TLS_REQD, "this server requires TLS first");
	if (!h->config.allow_list)
		return refuse(h, NBD_REP_ERR_POLICY, "listing exports is disabled on this server");
	for (size_t i = 0; (e = h->config.nth(h->config.userdata, i)); i++) {
		/* Exports that need TLS stay hidden from a client that has not started it. */
		if (e->tls_only && !h->result.tls)
			continue;
		if (nbd_rep_server_encode(&h->io.out, e->name, e->description) < 0)
			return fail(h, -ENOMEM, "Failed to encode the export list");
	}
	return ack(h, PHASE_OPTION_HEADER);
}

static int do_starttls(struct srv_hs *h)
{
	if (h->option.length)
		return refuse(h, NBD_REP_ERR_INVALID, "NBD_OPT_STARTTLS takes no data");
	if (h->result.tls)
		return refuse(h, NBD_REP_ERR_INVALID, "TLS is already active");
	if (h->config.tls == SRV_TLS_OFF)
		return refuse(h, NBD_REP_ERR_POLICY, "TLS is not configured on this server");
	return ack(h, PHASE_TLS);
}

static int do_structured_reply(struct srv_hs *h)
{
	if (h->option.length)
		return refuse(h, NBD_REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data");
	if (tls_needed_first(h))
		return refuse(h, NBD_REP_ERR_TLS_REQD, "this server requires TLS first");
	if (h->result.extended_headers)
		return refuse(h, NBD_REP_ERR_EXT_HEADER_REQD,
			      "extended headers are already negotiated");
	h->result.structured_replies = true;
	return ack(h, PHASE_OPTION_HEADER);
}

static int do_extended_headers(struct srv_hs *h)
{
	if (h->option.length)
		return refuse(h, NBD_REP_ERR_INVALID, "NBD_OPT_EXTENDED_HEADERS takes no data");
	if (tls_needed_first(h))
		return refuse(h, NBD_REP_ERR_TLS_REQD, "this server requires TLS first");
	if (!h->config.allow_extended_headers)
		return refuse(h, NBD_REP_ERR_UNSUP, NULL);
	h->result.extended_headers = true;
	return ack(h, PHASE_OPTION_HEADER);
}

/* Looks up an export for INFO, GO and the meta context options, refusing as the spec asks. Returns
 * the export, or NULL with a refusal queued. */
static const struct srv_export *find_export(struct srv_hs *h, struct nbd_string name)
{
	_cleanup_free_ char *cname = name_dup(name);
	const struct srv_export *e;
	char msg[128];

	if (!cname) {
		fail(h, -ENOMEM, "Out of memory");
		return NULL;
	}
	e = h->config.lookup(h->config.userdata, cname);
	if (!e) {
		snprintf(msg, sizeof(msg), "no export named '%.80s'%s", cname,
			 *cname ? "" : " (no default export)");
		refuse(h, NBD_REP_ERR_UNKNOWN, msg);
		return NULL;
	}
	if (e->tls_only && !h->result.tls) {
		refuse(h, NBD_REP_ERR_TLS_REQD, "this export requires TLS");
		return NULL;
	}
	return e;
}

/* Asks the caller whether the client may use e; false with a refusal queued when not. */
static bool admitted(struct srv_hs *h, const struct srv_export *e, bool take)
{
	char msg[256] = "";
	uint32_t err;

	if (!h->config.admit)
		return true;
	err = h->config.admit(h->config.userdata, e, take, msg, sizeof(msg));
	if (err == 0)
		return true;
	refuse(h, err, msg[0] ? msg : NULL);
	return false;
}

/* The export's flags as this client may see them: DF only means something with structured replies,
 * and the spec forbids advertising it otherwise. */
static uint16_t transmission_flags(const struct srv_hs *h, const struct srv_export *e)
{
	uint16_t flags = e->transmission_flags;

	if (!h->result.structured_replies && !h->result.extended_headers)
		flags &= (uint16_t)~NBD_FLAG_SEND_DF;
	return flags;
}

static int encode_block_size(struct srv_hs *h, const struct srv_export *e)
{
	struct nbd_info_item item = { .type = NBD_INFO_BLOCK_SIZE };

	item.block_size.minimum = e->block_minimum;
	item.block_size.preferred = e->block_preferred;
	item.block_size.maximum = e->block_maximum;
	return nbd_rep_info_encode(&h->io.out, h->option.option, &item);
}

static int do_info_or_go(struct srv_hs *h, const uint8_t *payload)
{
	bool go = h->option.option == NBD_OPT_GO;
	bool want_name = false, want_description = false, want_block_size = false;
	struct nbd_info_request req;
	const struct srv_export *e;
	struct nbd_info_item item;
	int r;

	if (tls_needed_first(h))
		return refuse(h, NBD_REP_ERR_TLS_REQD, "this server requires TLS first");
	r = nbd_info_request_decode(payload, h->option.length, &req);
	if (r < 0)
		return refuse(h, NBD_REP_ERR_INVALID, "malformed NBD_OPT_INFO/GO request");
	e = find_export(h, req.name);
	if (!e)
		return h->phase == PHASE_FAILED ? h->error : 0;
	if (!go && !admitted(h, e, false))
		return h->phase == PHASE_FAILED ? h->error : 0;

	for (size_t i = 0; i < req.n_info_types; i++) {
		switch (nbd_info_request_type(&req, i)) {
		case NBD_INFO_NAME:
			want_name = true;
			break;
		case NBD_INFO_DESCRIPTION:
			want_description = true;
			break;
		case NBD_INFO_BLOCK_SIZE:
			want_block_size = true;
			break;
		default:
			break; /* unknown or implicit (EXPORT): nothing to do */
		}
	}

	if (e->block_minimum && e->block_size_required && !want_block_size) {
		/* Tell the client what it would have to honour, then refuse. */
		if (encode_block_size(h, e) < 0)
			return fail(h, -ENOMEM, "Out of memory");
		return refuse(h, NBD_REP_ERR_BLOCK_SIZE_REQD,
			      "this export requires the client to honour its block sizes");
	}
	/* Last, so that a slot taken here is never followed by a refusal. */
	if (go && !admitted(h, e, true))
		return h->phase == PHASE_FAILED ? h->error : 0;

	item = (struct nbd_info_item){ .type = NBD_INFO_EXPORT };
	item.export.size = e->size;
	item.export.transmission_flags = transmission_flags(h, e);
	r = nbd_rep_info_encode(&h->io.out, h->option.option, &item);
	if (r >= 0 && want_name) {
		item = (struct nbd_info_item){ .type = NBD_INFO_NAME };
		item.name = (struct nbd_string){ .ptr = e->name, .len = (uint32_t)strlen(e->name) };
		r = nbd_rep_info_encode(&h->io.out, h->option.option, &item);
	}
	if (r >= 0 && want_description && e->description) {
		item = (struct nbd_info_item){ .type = NBD_INFO_DESCRIPTION };
		item.description = (struct nbd_string){ .ptr = e->description,
							.len = (uint32_t)strlen(e->description) };
		r = nbd_rep_info_encode(&h->io.out, h->option.option, &item);
	}
	/* Block sizes go out whether asked for or not: the spec allows it and it helps clients. */
	if (r >= 0 && e->block_minimum)
		r = encode_block_size(h, e);
	if (r < 0)
		return fail(h, r, "Failed to encode the reply to NBD_OPT_%s", option_label(h->option.option));
	if (!go)
		return ack(h, PHASE_OPTION_HEADER);

	h->result.export = e;
	h->result.block_size_promised = want_block_size;
	/* Contexts chosen for another export do not apply to this one. */
	if (!h->meta_export || strcmp(h->meta_export, e->name) != 0)
		h->result.base_allocation_id = 0;
	return ack(h, PHASE_DONE);
}

static int do_meta_context(struct srv_hs *h, const uint8_t *payload)
{
	bool set = h->option.option == NBD_OPT_SET_META_CONTEXT;
	bool base_allocation = false;
	const struct srv_export *e;
	struct nbd_meta_request req;
	struct nbd_string q;
	size_t pos = 0;
	int r;

	if (tls_needed_first(h))
		return refuse(h, NBD_REP_ERR_TLS_REQD, "this server requires TLS first");
	if (set) {
		/* A SET replaces the previous selection even when it fails. */
		h->result.base_allocation_id = 0;
		free(h->meta_export);
		h->meta_export = NULL;
	}
	if (!h->result.structured_replies && !h->result.extended_headers)
		return refuse(h, NBD_REP_ERR_INVALID,
			      "metadata contexts need structured replies or extended headers first");
	r = nbd_meta_request_decode(payload, h->option.length, &req);
	if (r < 0)
		return refuse(h, NBD_REP_ERR_INVALID, "malformed metadata context request");
	e = find_export(h, req.name);
	if (!e || !admitted(h, e, false))
		return h->phase == PHASE_FAILED ? h->error : 0;

	if (req.n_queries == 0)
		base_allocation = !set; /* LIST with no query lists everything; SET selects nothing */
	while (nbd_meta_request_next(&req, &pos, &q) > 0) {
		if (nbd_string_eq(q, NBD_META_BASE_ALLOCATION))
			base_allocation = true;
		else if (!set && nbd_string_eq(q, "base:"))
			base_allocation = true; /* "base:" is a wildcard for LIST only */
		/* Other namespaces and unknown base: leaves are ignored, as the spec says. */
	}
	if (base_allocation) {
		r = nbd_rep_meta_context_encode(&h->io.out, h->option.option,
						set ? SRV_BASE_ALLOCATION_ID : 0,
						NBD_META_BASE_ALLOCATION);
		if (r < 0)
			return fail(h, r, "Failed to encode a metadata context reply");
		if (set) {
			h->result.base_allocation_id = SRV_BASE_ALLOCATION_ID;
			h->meta_export = name_dup(req.name);
			if (!h->meta_export)
				return fail(h, -ENOMEM, "Out of memory");
		}
	}
	return ack(h, PHASE_OPTION_HEADER);
}

static int do_export_name(struct srv_hs *h, const uint8_t *payload)
{
	struct nbd_string name = { .ptr = (const char *)payload, .len = h->option.length };
	_cleanup_free_ char *cname = NULL;
	const struct srv_export *e;
	int r;

	/* EXPORT_NAME has no error reply: every refusal closes the connection. */
	if (nbd_string_check(name.ptr, name.len) < 0)
		return fail(h, -EBADMSG, "Client sent an invalid export name in NBD_OPT_EXPORT_NAME");
	cname = name_dup(name);
	if (!cname)
		return fail(h, -ENOMEM, "Out of memory");
	if (h->result.extended_headers)
		return fail(h, -EPROTO, "Client used NBD_OPT_EXPORT_NAME after extended headers, "
					"which the protocol forbids");
	if (tls_needed_first(h))
		return fail(h, -EACCES, "Client asked for export '%s' without TLS, which this server "
					"requires", cname);
	e = h->config.lookup(h->config.userdata, cname);
	if (!e)
		return fail(h, -ENOENT, "Client asked for unknown export '%s'", cname);
	if (e->tls_only && !h->result.tls)
		return fail(h, -EACCES, "Client asked for TLS-only export '%s' without TLS", cname);
	if (e->block_minimum && e->block_size_required)
		return fail(h, -EINVAL, "Client asked for export '%s' with NBD_OPT_EXPORT_NAME, which "
					"cannot promise to honour its block sizes", cname);
	if (h->config.admit) {
		char msg[256] = "";

		/* No error reply exists for EXPORT_NAME: the spec has the server close. */
		if (h->config.admit(h->config.userdata, e, true, msg, sizeof(msg)) != 0)
			return fail(h, -EACCES, "Refused export '%s' (NBD_OPT_EXPORT_NAME, so closing "
						"without a reply): %s", cname, msg);
	}
	r = nbd_export_name_reply_encode(&h->io.out, e->size, transmission_flags(h, e),
					 h->result.no_zeroes);
	if (r < 0)
		return fail(h, r, "Out of memory");
	h->result.export = e;
	if (!h->meta_export || strcmp(h->meta_export, e->name) != 0)
		h->result.base_allocation_id = 0;
	write_then(h, PHASE_DONE);
	return 0;
}

static int handle_option(struct srv_hs *h, const uint8_t *payload)
{
	uint32_t option = h->option.option;

	if (!h->result.fixed_newstyle && option != NBD_OPT_EXPORT_NAME)
		/* A client that did not ask for fixed newstyle cannot parse error replies. */
		return fail(h, -EPROTO, "Client without fixed newstyle sent option %u", option);
	if (h->config.shutting_down && option != NBD_OPT_ABORT && option != NBD_OPT_EXPORT_NAME)
		return refuse(h, NBD_REP_ERR_SHUTDOWN, "the server is shutting down");

	switch (option) {
	case NBD_OPT_EXPORT_NAME:
		return do_export_name(h, payload);
	case NBD_OPT_ABORT:
		/* The client leaves; acknowledge and finish without an export. */
		return ack(h, PHASE_DONE);
	case NBD_OPT_LIST:
		return do_list(h);
	case NBD_OPT_STARTTLS:
		return do_starttls(h);
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		return do_info_or_go(h, payload);
	case NBD_OPT_STRUCTURED_REPLY:
		return do_structured_reply(h);
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		return do_meta_context(h, payload);
	case NBD_OPT_EXTENDED_HEADERS:
		return do_extended_headers(h);
	default:
		if (tls_needed_first(h))
			return refuse(h, NBD_REP_ERR_TLS_REQD, "this server requires TLS first");
		return refuse(h, NBD_REP_ERR_UNSUP, NULL);
	}
}

static int handle_input(struct srv_hs *h)
{
	uint32_t flags;
	int r;

	switch (h->phase) {
	case PHASE_CLIENT_FLAGS:
		r = nbd_client_flags_decode(h->io.in.data, h->io.in.len,
					    NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES, &flags);
		if (r < 0)
			return fail(h, r, "Client sent unknown client flags 0x%08x; closing as the "
					  "protocol requires", load_be32(h->io.in.data));
		h->result.fixed_newstyle = flags & NBD_FLAG_C_FIXED_NEWSTYLE;
		h->result.no_zeroes = flags & NBD_FLAG_C_NO_ZEROES;
		expect_read(h, PHASE_OPTION_HEADER, NBD_OPTION_HEADER_SIZE);
		return 0;
	case PHASE_OPTION_HEADER:
		r = nbd_option_header_decode(h->io.in.data, h->io.in.len, &h->option);
		if (r < 0)
			return fail(h, r, "Client sent an option with a bad magic number");
		if (h->option.length > HS_MAX_DISCARD_LENGTH)
			return fail(h, -EMSGSIZE, "Client sent a %u-byte option %u; closing",
				    h->option.length, h->option.option);
		if (h->option.length > HS_MAX_OPTION_LENGTH) {
			if (!h->result.fixed_newstyle)
				return fail(h, -EMSGSIZE, "Client sent a %u-byte option",
					    h->option.length);
			h->discard_left = h->option.length;
			msg_pump_expect(&h->io, 0);
			h->phase = PHASE_DISCARD;
			return 0;
		}
		if (h->option.length) {
			expect_read(h, PHASE_OPTION_PAYLOAD, h->option.length);
			return 0;
		}
		msg_pump_expect(&h->io, 0);
		return handle_option(h, NULL);
	case PHASE_OPTION_PAYLOAD:
		return handle_option(h, h->io.in.data);
	default:
		return fail(h, -EINVAL, "Internal error: input in phase %d", (int)h->phase);
	}
}

int srv_hs_new(const struct srv_hs_config *config, struct srv_hs **ret)
{
	_cleanup_(srv_hs_freep) struct srv_hs *h = NULL;
	uint8_t *greeting;

	if (!config->lookup || !config->nth)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->config = *config;
	greeting = buffer_append_space(&h->io.out, NBD_GREETING_SIZE);
	if (!greeting)
		return -ENOMEM;
	nbd_greeting_encode(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES, greeting);
	msg_pump_expect(&h->io, NBD_CLIENT_FLAGS_SIZE);
	write_then(h, PHASE_CLIENT_FLAGS);
	*ret = TAKE_PTR(h);
	return 0;
}

struct srv_hs *srv_hs_free(struct srv_hs *h)
{
	if (!h)
		return NULL;
	msg_pump_free(&h->io);
	free(h->meta_export);
	free(h->error_message);
	free(h);
	return NULL;
}

enum srv_hs_want srv_hs_want(const struct srv_hs *h)
{
	switch (h->phase) {
	case PHASE_WRITE:
		return SRV_HS_WANT_WRITE;
	case PHASE_TLS:
		return SRV_HS_WANT_TLS;
	case PHASE_DONE:
		return SRV_HS_DONE;
	case PHASE_FAILED:
		return SRV_HS_FAILED;
	default:
		return SRV_HS_WANT_READ;
	}
}

const void *srv_hs_output(const struct srv_hs *h, size_t *ret_len)
{
	if (h->phase != PHASE_WRITE) {
		*ret_len = 0;
		return NULL;
	}
	return msg_pump_output(&h->io, ret_len);
}

void srv_hs_output_done(struct srv_hs *h, size_t written)
{
	if (h->phase != PHASE_WRITE || !msg_pump_output_done(&h->io, written))
		return;
	switch (h->after_write) {
	case PHASE_CLIENT_FLAGS:
		expect_read(h, PHASE_CLIENT_FLAGS, NBD_CLIENT_FLAGS_SIZE);
		break;
	case PHASE_OPTION_HEADER:
		expect_read(h, PHASE_OPTION_HEADER, NBD_OPTION_HEADER_SIZE);
		break;
	default:
		h->phase = h->after_write;
		break;
	}
}

size_t srv_hs_input_wanted(const struct srv_hs *h)
{
	if (h->phase == PHASE_DISCARD)
		return h->discard_left;
	if (srv_hs_want(h) != SRV_HS_WANT_READ)
		return 0;
	return msg_pump_input_wanted(&h->io);
}

ssize_t srv_hs_feed(struct srv_hs *h, const void *buf, size_t len)
{
	size_t take;
	ssize_t n;
	int r;

	if (h->phase == PHASE_FAILED)
		return h->error;
	if (srv_hs_want(h) != SRV_HS_WANT_READ)
		return -EINVAL;
	if (h->phase == PHASE_DISCARD) {
		take = MIN(len, h->discard_left);
		h->discard_left -= take;
		if (h->discard_left == 0) {
			r = refuse(h, NBD_REP_ERR_TOO_BIG, "option too large");
			if (r < 0)
				return r;
		}
		return (ssize_t)take;
	}
	n = msg_pump_feed(&h->io, buf, len);
	if (n < 0)
		return fail(h, (int)n, "Out of memory");
	if (!msg_pump_complete(&h->io))
		return n;
	take = (size_t)n;
	r = handle_input(h);
	return r < 0 ? r : (ssize_t)take;
}

int srv_hs_eof(struct srv_hs *h)
{
	if (h->phase == PHASE_FAILED || h->phase == PHASE_DONE)
		return h->phase == PHASE_FAILED ? h->error : 0;
	if (h->phase == PHASE_OPTION_HEADER && h->io.in.len == 0)
		/* Between options: the client simply went away (a hard disconnect). */
		return fail(h, -ECONNRESET, "Client closed the connection during the handshake");
	return fail(h, -ECONNRESET, "Client closed the connection in the middle of a message");
}

void srv_hs_tls_done(struct srv_hs *h)
{
	if (h->phase != PHASE_TLS)
		return;
	/* Everything negotiated before STARTTLS is forgotten. */
	h->result.structured_replies = false;
	h->result.extended_headers = false;
	h->result.base_allocation_id = 0;
	free(h->meta_export);
	h->meta_export = NULL;
	h->result.tls = true;
	expect_read(h, PHASE_OPTION_HEADER, NBD_OPTION_HEADER_SIZE);
}

void srv_hs_shutdown(struct srv_hs *h)
{
	h->config.shutting_down = true;
}

const struct srv_hs_result *srv_hs_result(const struct srv_hs *h)
{
	return &h->result;
}

int srv_hs_error(const struct srv_hs *h)
{
	return h->phase == PHASE_FAILED ? h->error : 0;
}

const char *srv_hs_error_message(const struct srv_hs *h)
{
	if (h->phase != PHASE_FAILED)
		return NULL;
	return h->error_message ? h->error_message : "Handshake failed";
}
