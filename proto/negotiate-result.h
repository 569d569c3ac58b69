/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a negotiation learns, built up reply by reply (negotiate.c's machine calls these; they do
 * not know the machine): the exports a LIST names and the metadata contexts the server selects.
 * Each returns 0, or -EBADMSG (a malformed reply), -E2BIG (more than max entries: a server that
 * never stops), -ENOMEM; the result is unchanged but for a partly filled last entry, which
 * nbd_neg_result_free() still frees.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "proto/negotiate.h"

int nbd_neg_result_add_export(struct nbd_neg_result *res, const uint8_t *payload, size_t len,
			      size_t max);
int nbd_neg_result_add_meta_context(struct nbd_neg_result *res, const uint8_t *payload, size_t len,
				    size_t max);
/* Forgets the metadata contexts (a failed SET_META_CONTEXT selects none). */
void nbd_neg_result_clear_meta_contexts(struct nbd_neg_result *res);
