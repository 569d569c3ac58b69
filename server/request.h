/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The transmission phase's requests: which ones may run (request_check) and running them against the
 * export's backend with the replies queued on the connection (request_run).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "proto/transmission.h"
#include "server/export.h"
#include "server/outq.h"
#include "server/translog.h"

/* What a connection negotiated: fixed once transmission starts. */
struct xmit {
	struct export *export;
	struct backend *backend;   /* what this connection reads and writes: the export's backend, or
				    * its own copy-on-write overlay over it */
	uint16_t flags;            /* transmission flags as advertised to this client */
	bool structured;           /* structured replies */
	bool extended;             /* extended headers */
	uint32_t base_allocation_id; /* 0: no BLOCK_STATUS */
	uint32_t min_block;        /* alignment the client promised to honour (1: none) */
	struct translog *log;      /* the export's transaction log, NULL: none */
	bool zero_copy_read;       /* the transport sends in the kernel: READ data may be queued as
				    * staged file ranges (splice()) or ranges of the file's mapping */
};

/* Requests whose payload is longer than this end the connection: reading and discarding it would let
 * a client keep the server busy for nothing. */
#define REQUEST_MAX_DISCARD (64u << 20)

struct request_verdict {
	uint32_t error;   /* 0: run it; otherwise the NBD error to answer with */
	uint64_t payload; /* bytes that follow the header and must be read (or discarded) */
	bool no_reply;    /* NBD_CMD_DISC */
	bool fatal;       /* the stream cannot be trusted any more: close the connection */
};

struct request_verdict request_check(const struct xmit *x, const struct nbd_request *req);

/* Runs an accepted request (payload holds its data for WRITE) and queues the replies. Backend errors
 * become NBD errors in the reply; only out-of-memory is returned, as a negative errno. */
int request_run(const struct xmit *x, const struct nbd_request *req, void *payload, struct outq *q);

/* Says in the log that the storage failed a request (r: a negative errno): once for each kind of
 * failure in a row, since a full or broken disk fails every request; a request that succeeds
 * afterwards (request_storage_ok()) lets the next failure be said again. */
void request_storage_failed(const struct xmit *x, const struct nbd_request *req, int r);
void request_storage_ok(const struct xmit *x);

/* Queues the reply for a request refused with error (or for error 0: plain success). A success is
 * a simple reply unless it answers a READ or extended headers are on; an error is an error chunk
 * once structured replies are on, so that it carries its message. */
int request_reply_error(const struct xmit *x, const struct nbd_request *req, uint32_t error,
			const char *message, struct outq *q);
