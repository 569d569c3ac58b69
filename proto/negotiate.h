/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The client side of the handshake as a state machine with no I/O of its own.
 *
 * The caller asks nbd_neg_want() what to do next and does it:
 *   NBD_NEG_WANT_WRITE  send the bytes of nbd_neg_output(), then report them with nbd_neg_output_done()
 *   NBD_NEG_WANT_READ   receive at most nbd_neg_input_wanted() bytes and pass them to nbd_neg_feed();
 *                       at end of stream call nbd_neg_eof() instead
 *   NBD_NEG_WANT_TLS    run the TLS handshake on the connection, then call nbd_neg_tls_done()
 *   NBD_NEG_DONE        read nbd_neg_result(); if result->transmission, the connection is in the
 *                       transmission phase
 *   NBD_NEG_FAILED      nbd_neg_error() and nbd_neg_error_message() say why
 * The machine never asks for more bytes than the current message holds, so nothing of the transmission
 * phase (or of a TLS handshake) is consumed by mistake.
 *
 * Sequence: greeting, client flags, [STARTTLS], then by mode
 *   ATTACH: [EXTENDED_HEADERS], [STRUCTURED_REPLY], [SET_META_CONTEXT], GO (INFO_NAME, DESCRIPTION,
 *           BLOCK_SIZE) with a fallback to EXPORT_NAME when the server does not know GO;
 *   INFO:   STRUCTURED_REPLY, LIST_META_CONTEXT, INFO, ABORT (EXPORT_NAME fallback as above);
 *   LIST:   LIST, ABORT.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

enum nbd_neg_mode {
	NBD_NEG_ATTACH, /* negotiate and enter transmission */
	NBD_NEG_INFO,   /* learn everything about one export, then leave */
	NBD_NEG_LIST,   /* list the exports, then leave */
};

struct nbd_neg_config {
	enum nbd_neg_mode mode;
	const char *export_name;  /* NULL or "" is the server's default export */
	bool tls;                 /* STARTTLS first; refusal is fatal, never a silent downgrade */
	bool no_opt_go;           /* only NBD_OPT_EXPORT_NAME, like nbd-client -g */
	bool structured_replies;  /* ATTACH: ask for them (the Linux kernel cannot use them) */
	bool extended_headers;    /* ATTACH: ask for them */
	bool block_size;          /* ask for NBD_INFO_BLOCK_SIZE and promise to obey it */
	const char *const *meta_contexts; /* ATTACH: NULL-terminated SET_META_CONTEXT queries */
};

enum nbd_neg_want {
	NBD_NEG_WANT_WRITE,
	NBD_NEG_WANT_READ,
	NBD_NEG_WANT_TLS,
	NBD_NEG_DONE,
	NBD_NEG_FAILED,
};

struct nbd_meta_context {
	uint32_t id;
	char *name;
};

struct nbd_export_entry {
	char *name;
	char *description;
};

struct nbd_neg_result {
	uint16_t handshake_flags;
	bool fixed_newstyle;
	bool no_zeroes;
	bool tls;
	bool transmission;     /* the connection is now in the transmission phase */
	bool export_name_fallback; /* GO was unknown to the server; EXPORT_NAME was used */
	bool info_used;        /* the server answered INFO/GO (so name, description, block sizes are meaningful) */

	uint64_t size;
	uint16_t transmission_flags;
	char *name;            /* canonical name, if the server sent NBD_INFO_NAME */
	char *description;
	bool has_block_size;
	uint32_t block_minimum;
	uint32_t block_preferred;
	uint32_t block_maximum;

	bool structured_replies;
	bool extended_headers;
	struct nbd_meta_context *meta_contexts;
	size_t n_meta_contexts;

	struct nbd_export_entry *exports; /* LIST */
	size_t n_exports;
};

struct nbd_neg;

/* Copies what it needs from config. -ENOMEM, or -EINVAL for a config that cannot work. */
int nbd_neg_new(const struct nbd_neg_config *config, struct nbd_neg **ret) _nonnull_(1, 2);
struct nbd_neg *nbd_neg_free(struct nbd_neg *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nbd_neg *, nbd_neg_free);

enum nbd_neg_want nbd_neg_want(const struct nbd_neg *n);

const void *nbd_neg_output(const struct nbd_neg *n, size_t *ret_len);
void nbd_neg_output_done(struct nbd_neg *n, size_t written);

size_t nbd_neg_input_wanted(const struct nbd_neg *n);
/* Consumes up to nbd_neg_input_wanted() bytes; returns the number consumed or a negative errno (the
 * machine has then failed). */
ssize_t nbd_neg_feed(struct nbd_neg *n, const void *buf, size_t len);
/* The server closed the connection. Fine after ABORT; otherwise the negotiation fails. */
int nbd_neg_eof(struct nbd_neg *n);
/* The caller gave up waiting for the server: fails with -ETIMEDOUT and a message naming the step
 * the server stopped at. */
int nbd_neg_timed_out(struct nbd_neg *n);

/* The TLS handshake succeeded: all state negotiated before it is forgotten, as the spec requires. */
void nbd_neg_tls_done(struct nbd_neg *n);

const struct nbd_neg_result *nbd_neg_result(const struct nbd_neg *n);
/* Hands the result over; the caller frees it with nbd_neg_result_free(). */
struct nbd_neg_result *nbd_neg_steal_result(struct nbd_neg *n);
void nbd_neg_result_free(struct nbd_neg_result *r);

/* After NBD_NEG_FAILED: a negative errno, and one sentence naming what failed, including the server's
 * own message when it sent one. */
int nbd_neg_error(const struct nbd_neg *n);
const char *nbd_neg_error_message(const struct nbd_neg *n);
/* The option reply error the server refused with, or 0. */
uint32_t nbd_neg_server_error(const struct nbd_neg *n);
