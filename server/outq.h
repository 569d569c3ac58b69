/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A connection's queue of reply bytes: memory it owns, or ranges of a file that go out with
 * sendfile() so that READ data is not copied through user space.
 *
 * outq_flush() sends as much as the transport takes without blocking, gathering consecutive memory
 * items into one send; what it refuses stays queued for the next writable event. File ranges go
 * out with sendfile() when the transport allows it, else through a buffer.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/transport.h"

struct outq_item;

struct outq {
	struct outq_item *head;
	struct outq_item *tail;
	size_t bytes; /* queued and not yet sent, for backpressure */
};

#define OUTQ_INIT ((struct outq){ 0 })

/* Copies len bytes into the queue. */
int outq_push_copy(struct outq *q, const void *p, size_t len);
/* Takes ownership of buf (freed with free() once sent). */
int outq_push_owned(struct outq *q, void *buf, size_t len);
/* Queues len bytes of fd starting at offset; fd must stay open until the queue is flushed or
 * cleared. */
int outq_push_file(struct outq *q, int fd, uint64_t offset, size_t len);

static inline bool outq_empty(const struct outq *q)
{
	return q->head == NULL;
}
/* 0 when everything was sent, -EAGAIN when the socket is full, another negative errno on failure
 * (the connection is then beyond repair: the peer may have seen part of a reply). */
int outq_flush(struct outq *q, struct transport *t);
void outq_clear(struct outq *q);
/* Moves everything queued in src to the end of dst, leaving src empty. */
void outq_append(struct outq *dst, struct outq *src);
