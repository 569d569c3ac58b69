/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A connection's queue of reply bytes: memory it owns, ranges of a file in memory, or ranges of a
 * file staged in a pipe, so that READ data is not copied through user space.
 *
 * A range of a file that may fail to read is staged (spliced from the file into a pipe) before its
 * reply header is queued: a read error then still becomes an error reply for that request, where a
 * sendfile() after the header could only end the connection. A file in memory has no such error,
 * and its ranges are sent with sendfile() after their header. outq_flush() sends as much as the
 * transport takes without blocking, gathering consecutive memory items into one send; what it
 * refuses stays queued for the next writable event. File ranges and staged ranges go to the socket
 * without a copy when the transport allows it, else through memory.
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
/* Queues len bytes of a file in memory (tmpfs, ramfs, a memfd) at offset, sent with sendfile():
 * the socket takes the file's pages, and the server copies nothing. Only for a file with no read
 * error to report: one would come after the reply's header, and could only end the connection.
 * The bytes are those of the file when they are sent, as with a pipe (outq_stage_file()); what the
 * file no longer has by then (it was cut short) goes out as zeros, as pread() would answer. A
 * transport that must see every byte gets the range read through fd. fd must outlive the queue. */
int outq_push_file(struct outq *q, int fd, uint64_t offset, size_t len);
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
