/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The server side of the NBD handshake as a state machine with no I/O of its own, mirroring the
 * client's (proto/negotiate.h):
 *   SRV_HS_WANT_WRITE  send srv_hs_output(), report it with srv_hs_output_done()
 *   SRV_HS_WANT_READ   feed at most srv_hs_input_wanted() bytes to srv_hs_feed(); srv_hs_eof() at EOF
 *   SRV_HS_WANT_TLS    run the TLS handshake, then srv_hs_tls_done()
 *   SRV_HS_DONE        srv_hs_result(): either transmission starts with an export, or the client left
 *   SRV_HS_FAILED      close the connection; srv_hs_error_message() says why (log it)
 *
 * Policy comes from the caller: the exports (through a lookup callback), whether LIST is allowed, the
 * TLS mode, and whether extended headers are offered. Every option request is answered as the spec
 * says, so that the client never loses sync: unknown options with ERR_UNSUP, malformed ones with
 * ERR_INVALID. Only violations of a MUST (bad magic, unknown client flags, an option length beyond any
 * sense, EXPORT_NAME for an export that cannot be served) end the connection.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/macro.h"

struct srv_export {
	const char *name;
	const char *description;      /* NULL: none */
	uint64_t size;
	uint16_t transmission_flags;  /* NBD_FLAG_* */
	uint32_t block_minimum;       /* 0: no block size constraints advertised */
	uint32_t block_preferred;
	uint32_t block_maximum;
	bool block_size_required;     /* refuse clients that do not promise to honour block sizes */
	bool tls_only;                /* SELECTIVE TLS mode: only over TLS */
	void *userdata;               /* the caller's export object */
};

enum srv_tls_mode {
	SRV_TLS_OFF,       /* STARTTLS refused */
	SRV_TLS_SELECTIVE, /* TLS offered; exports marked tls_only need it */
	SRV_TLS_REQUIRED,  /* nothing but STARTTLS and ABORT before TLS */
};

struct srv_hs_config {
	/* Finds an export by name; "" asks for the default export. NULL when there is none. */
	const struct srv_export *(*lookup)(void *userdata, const char *name);
	/* The i-th export for LIST, NULL past the end. */
	const struct srv_export *(*nth)(void *userdata, size_t i);
	/* Optional: whether this client may use export e now. Returns 0 to let it, or the
	 * NBD_REP_ERR_* to refuse with (ERR_POLICY for an allow list or a connection limit), with the
	 * reason for the client in msg. `take` is true for GO and EXPORT_NAME, which end the handshake:
	 * admitting then reserves what the connection will hold (a connection slot), and the caller
	 * gives it back when the connection ends, whatever happens in between. INFO and the metadata
	 * context options only ask. Called after every other check of the option has passed, so that
	 * nothing refuses the option once a slot is taken. */
	uint32_t (*admit)(void *userdata, const struct srv_export *e, bool take, char *msg,
			  size_t size);
	void *userdata;
	bool allow_list;
	bool allow_extended_headers;
	enum srv_tls_mode tls;
	bool shutting_down; /* answer options with ERR_SHUTDOWN */
};

enum srv_hs_want {
	SRV_HS_WANT_WRITE,
	SRV_HS_WANT_READ,
	SRV_HS_WANT_TLS,
	SRV_HS_DONE,
	SRV_HS_FAILED,
};

struct srv_hs_result {
	const struct srv_export *export; /* NULL when the client ended the handshake (ABORT) */
	bool no_zeroes;
	bool fixed_newstyle;
	bool structured_replies;
	bool extended_headers;
	bool tls;
	bool block_size_promised;        /* the client asked for NBD_INFO_BLOCK_SIZE in GO */
	uint32_t base_allocation_id;     /* 0: no metadata context selected for this export */
};

/* The context id the server hands out for base:allocation. */
#define SRV_BASE_ALLOCATION_ID 1

struct srv_hs;

int srv_hs_new(const struct srv_hs_config *config, struct srv_hs **ret) _nonnull_(1, 2);
struct srv_hs *srv_hs_free(struct srv_hs *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct srv_hs *, srv_hs_free);

enum srv_hs_want srv_hs_want(const struct srv_hs *h);
const void *srv_hs_output(const struct srv_hs *h, size_t *ret_len);
void srv_hs_output_done(struct srv_hs *h, size_t written);
size_t srv_hs_input_wanted(const struct srv_hs *h);
ssize_t srv_hs_feed(struct srv_hs *h, const void *buf, size_t len);
int srv_hs_eof(struct srv_hs *h);
void srv_hs_tls_done(struct srv_hs *h);
/* Tells the machine the server is going down: later options get ERR_SHUTDOWN. */
void srv_hs_shutdown(struct srv_hs *h);

const struct srv_hs_result *srv_hs_result(const struct srv_hs *h);
int srv_hs_error(const struct srv_hs *h);
const char *srv_hs_error_message(const struct srv_hs *h);
