/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A connection's queue of reply bytes: memory it owns, ranges of a file's shared mapping, or ranges
 * of a file staged in a pipe, so that READ data is not copied through user space.
 *
 * A range is staged (spliced from the file into a pipe) before its reply header is queued: a read
 * error then still becomes an error reply for that request, where a sendfile() after the header
 * could only end the connection. outq_flush() sends as much as the transport takes without
 * blocking, gathering consecutive memory items into one send; what it refuses stays queued for the
 * next writable event. Staged ranges are spliced to the socket when the transport allows it, else
 * sent from memory.
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
/* Queues len bytes of a file's shared mapping, starting at mapped, which holds the bytes of fd at
 * offset. The transport's send copies them straight from the file's pages: one copy, where a pipe
 * would hand the pages to the peer to copy (on loopback, from memory no CPU has read lately) and a
 * buffer would take two. The bytes are those of the file when they are sent, as with a pipe. A
 * page the file no longer has is read through fd instead, as zeros past its end (the kernel's copy
 * meets it as EFAULT; a transport that copies in user space, which would meet it as SIGBUS, gets
 * the range read through fd before it sees it). The mapping must outlive the queue. */
int outq_push_mapped(struct outq *q, const void *mapped, size_t len, int fd, uint64_t offset);
/* Reads len bytes of fd at offset into a pipe, for outq_push_staged(). The pipe holds the file's
 * pages, not a copy: a write to the range before the reply leaves may show in it, as it would with
 * sendfile(); NBD does not order requests in flight together. Returns 0; the read's error (-EIO,
 * ...); or an error of the pipe (it cannot grow to len bytes: -EPERM, or splice() refuses the
 * file: -EINVAL), after which the caller reads through a buffer instead. */
int outq_stage_file(int fd, uint64_t offset, size_t len, struct outq_item **staged);
/* Queues a staged range; the queue owns it from then on. */
void outq_push_staged(struct outq *q, struct outq_item *staged);
/* Drops a staged range that was never queued. */
void outq_staged_free(struct outq_item *staged);

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
