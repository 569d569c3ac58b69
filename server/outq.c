/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/io.h"
#include "common/macro.h"
#include "server/outq.h"

/* sendmsg() takes at most this many pieces at once; more waits for the next call. */
#define OUTQ_MAX_IOV 64
/* File ranges that cannot be sendfile()d go through a buffer this large. */
#define OUTQ_COPY_CHUNK (64u << 10)

enum item_kind { ITEM_MEMORY, ITEM_FILE };

struct outq_item {
	struct outq_item *next;
	enum item_kind kind;
	size_t len;  /* bytes left to send */
	uint8_t *data; /* ITEM_MEMORY: next byte to send */
	void *owned;   /* freed when the item is done (NULL when the bytes are inline) */
	int fd;        /* ITEM_FILE */
	uint64_t offset;
	uint8_t inline_data[]; /* copies live here */
};

static void push(struct outq *q, struct outq_item *it)
{
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->bytes += it->len;
}

int outq_push_copy(struct outq *q, const void *p, size_t len)
{
	struct outq_item *it;

	if (len == 0)
		return 0;
	it = malloc(sizeof(*it) + len);
	if (!it)
		return -ENOMEM;
	*it = (struct outq_item){ .kind = ITEM_MEMORY, .len = len, .data = it->inline_data };
	memcpy(it->inline_data, p, len);
	push(q, it);
	return 0;
}

int outq_push_owned(struct outq *q, void *buf, size_t len)
{
	struct outq_item *it;

	if (len == 0) {
		free(buf);
		return 0;
	}
	it = malloc(sizeof(*it));
	if (!it) {
		free(buf);
		return -ENOMEM;
	}
	*it = (struct outq_item){ .kind = ITEM_MEMORY, .len = len, .data = buf, .owned = buf };
	push(q, it);
	return 0;
}

int outq_push_file(struct outq *q, int fd, uint64_t offset, size_t len)
{
	struct outq_item *it;

	if (len == 0)
		return 0;
	it = malloc(sizeof(*it));
	if (!it)
		return -ENOMEM;
	*it = (struct outq_item){ .kind = ITEM_FILE, .len = len, .fd = fd, .offset = offset };
	push(q, it);
	return 0;
}

static void pop(struct outq *q)
{
	struct outq_item *it = q->head;

	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	free(it->owned);
	free(it);
}

/* Advances over n sent bytes of memory items. */
static void consume_memory(struct outq *q, size_t n)
{
	q->bytes -= n;
	while (n) {
		struct outq_item *it = q->head;
		size_t step = MIN(n, it->len);

		it->data += step;
		it->len -= step;
		n -= step;
		if (it->len == 0)
			pop(q);
	}
}

static int flush_memory(struct outq *q, struct transport *t)
{
	struct iovec iov[OUTQ_MAX_IOV];
	struct outq_item *it;
	int n = 0;
	ssize_t sent;

	for (it = q->head; it && it->kind == ITEM_MEMORY && n < OUTQ_MAX_IOV; it = it->next)
		iov[n++] = (struct iovec){ .iov_base = it->data, .iov_len = it->len };
	/* More is coming when a file range follows. */
	sent = transport_send(t, iov, n, it != NULL);
	if (sent < 0)
		return sent == -EINTR ? 0 : (int)sent;
	consume_memory(q, (size_t)sent);
	return 0;
}

/* A file range over a transport that must see every byte (TLS in user space): read, then sent
 * like memory. */
static ssize_t send_file_copy(struct outq_item *it, struct transport *t, bool more)
{
	uint8_t buf[OUTQ_COPY_CHUNK];
	size_t len = MIN(it->len, sizeof(buf));
	ssize_t n = pread_full(it->fd, buf, len, it->offset);

	if (n < 0)
		return n;
	if (n == 0)
		return -EIO;
	return transport_send(t, &(struct iovec){ .iov_base = buf, .iov_len = (size_t)n }, 1,
			      more || (size_t)n < it->len);
}

static int flush_file(struct outq *q, struct transport *t)
{
	struct outq_item *it = q->head;
	off_t off = (off_t)it->offset;
	ssize_t sent;

	if (t->caps & TRANSPORT_CAN_SENDFILE) {
		sent = sendfile(t->wfd, it->fd, &off, MIN(it->len, (size_t)INT_MAX));
		if (sent < 0)
			sent = negative_errno();
	} else {
		sent = send_file_copy(it, t, it->next != NULL);
	}
	if (sent < 0)
		return sent == -EINTR ? 0 : (int)sent;
	if (sent == 0)
		return -EIO; /* the file ended before the range did */
	it->offset += (uint64_t)sent;
	it->len -= (size_t)sent;
	q->bytes -= (size_t)sent;
	if (it->len == 0)
		pop(q);
	return 0;
}

int outq_flush(struct outq *q, struct transport *t)
{
	while (q->head) {
		int r = q->head->kind == ITEM_MEMORY ? flush_memory(q, t) : flush_file(q, t);

		if (r < 0)
			return r == -EWOULDBLOCK ? -EAGAIN : r;
	}
	return 0;
}

void outq_clear(struct outq *q)
{
	while (q->head)
		pop(q);
	q->bytes = 0;
}

void outq_append(struct outq *dst, struct outq *src)
{
	if (!src->head)
		return;
	if (dst->tail)
		dst->tail->next = src->head;
	else
		dst->head = src->head;
	dst->tail = src->tail;
	dst->bytes += src->bytes;
	*src = OUTQ_INIT;
}
