/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
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
/* Staged ranges go to a transport that cannot take them from a pipe through a buffer this large. */
#define OUTQ_COPY_CHUNK (64u << 10)
/* Pipes a thread keeps for its next staged ranges, so that a READ costs no pipe2(). */
#define SPARE_PIPES 8

enum item_kind { ITEM_MEMORY, ITEM_FILE, ITEM_PIPE };

struct outq_item {
	struct outq_item *next;
	enum item_kind kind;
	size_t len;    /* bytes left to send */
	uint8_t *data; /* ITEM_MEMORY: next byte to send */
	void *owned;   /* freed when the item is done (NULL when the bytes are inline) */
	int fd;        /* ITEM_FILE: the file whose bytes [file_end - len, file_end) */
	uint64_t file_end; /* are the ones still to send */
	int pipe[2];   /* ITEM_PIPE: holds the len bytes still to send */
	size_t pipe_size;
	uint8_t inline_data[]; /* copies live here */
};

struct spare_pipe {
	int fd[2];
	size_t size;
};

static __thread struct spare_pipe spare_pipes[SPARE_PIPES];
static __thread unsigned n_spare_pipes;

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
	*it = (struct outq_item){
		.kind = ITEM_FILE, .len = len, .fd = fd, .file_end = offset + len
	};
	push(q, it);
	return 0;
}

/* An empty pipe for the item, from this thread's spares or new, that holds at least len bytes. */
static int pipe_take(struct outq_item *it, size_t len)
{
	int size;

	if (n_spare_pipes) {
		struct spare_pipe *sp = &spare_pipes[--n_spare_pipes];

		it->pipe[0] = sp->fd[0];
		it->pipe[1] = sp->fd[1];
		it->pipe_size = sp->size;
	} else {
		if (pipe2(it->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
			return negative_errno();
		it->pipe_size = 0;
	}
	if (it->pipe_size >= len)
		return 0;
	/* Fails past /proc/sys/fs/pipe-max-size, or the user's pipe-user-pages-soft. */
	size = len > INT_MAX ? -1 : fcntl(it->pipe[1], F_SETPIPE_SZ, (int)len);
	if (size < 0) {
		int r = negative_errno();

		close(it->pipe[0]);
		close(it->pipe[1]);
		return r;
	}
	it->pipe_size = (size_t)size;
	return 0;
}

/* Keeps an emptied pipe for this thread's next staged range; a pipe that may hold bytes is closed. */
static void pipe_give_back(struct outq_item *it, bool empty)
{
	if (empty && n_spare_pipes < SPARE_PIPES) {
		spare_pipes[n_spare_pipes++] =
			(struct spare_pipe){ .fd = { it->pipe[0], it->pipe[1] }, .size = it->pipe_size };
		return;
	}
	close(it->pipe[0]);
	close(it->pipe[1]);
}

int outq_stage_file(int fd, uint64_t offset, size_t len, struct outq_item **ret)
{
	struct outq_item *it = malloc(sizeof(*it));
	loff_t off = (loff_t)offset;
	size_t staged = 0;
	int r;

	if (!it)
		return -ENOMEM;
	*it = (struct outq_item){ .kind = ITEM_PIPE, .len = len };
	r = pipe_take(it, len);
	if (r < 0) {
		free(it);
		return r;
	}
	while (staged < len) {
		ssize_t n = splice(fd, &off, it->pipe[1], NULL, len - staged, SPLICE_F_MOVE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* The error of the read itself (EIO), or the file ended before the range. */
			r = n < 0 ? negative_errno() : -EIO;
			pipe_give_back(it, false);
			free(it);
			return r;
		}
		staged += (size_t)n;
	}
	*ret = it;
	return 0;
}

void outq_push_staged(struct outq *q, struct outq_item *staged)
{
	push(q, staged);
}

void outq_staged_free(struct outq_item *staged)
{
	if (!staged)
		return;
	pipe_give_back(staged, staged->len == 0);
	free(staged);
}

static void pop(struct outq *q)
{
	struct outq_item *it = q->head;

	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	if (it->kind == ITEM_PIPE)
		pipe_give_back(it, it->len == 0);
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

	/* The head is memory: outq_flush() chose this function for it. */
	it = q->head;
	do {
		iov[n++] = (struct iovec){ .iov_base = it->data, .iov_len = it->len };
		it = it->next;
	} while (it && it->kind == ITEM_MEMORY && n < OUTQ_MAX_IOV);
	/* More is coming when a file range follows: its bytes join these in the socket. */
	sent = transport_send(t, iov, n, it != NULL);
	if (sent < 0)
		return sent == -EINTR ? 0 : (int)sent;
	consume_memory(q, (size_t)sent);
	return 0;
}

/* The item's bytes, read from its file into memory of the item's own. What the file no longer has
 * reads as zeros, as a READ through pread() answers for a file cut short. */
static int file_to_memory(struct outq_item *it)
{
	uint8_t *buf = malloc(it->len);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	n = pread_full(it->fd, buf, it->len, it->file_end - it->len);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	memset(buf + n, 0, it->len - (size_t)n);
	it->kind = ITEM_MEMORY;
	it->data = it->owned = buf;
	return 0;
}

static int flush_file(struct outq *q, struct transport *t)
{
	struct outq_item *it = q->head;
	off_t offset = (off_t)(it->file_end - it->len);
	ssize_t sent;

	/* A transport that must see every byte (TLS in user space) gets them in memory. */
	if (!(t->caps & TRANSPORT_CAN_SENDFILE))
		return file_to_memory(it);
	sent = sendfile(t->wfd, it->fd, &offset, it->len);
	if (sent < 0)
		return errno == EINTR ? 0 : negative_errno();
	/* The file was cut short under the server: the rest goes out as zeros. */
	if (sent == 0)
		return file_to_memory(it);
	it->len -= (size_t)sent;
	q->bytes -= (size_t)sent;
	if (it->len == 0)
		pop(q);
	return 0;
}

/* A transport that must see every byte (TLS in user space) cannot take a pipe: the staged bytes
 * move into memory of the item's own, and go out like any other memory. */
static int pipe_to_memory(struct outq_item *it)
{
	uint8_t *buf = malloc(it->len);
	size_t have = 0;

	if (!buf)
		return -ENOMEM;
	while (have < it->len) {
		ssize_t n = read(it->pipe[0], buf + have, it->len - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return n < 0 ? negative_errno() : -EIO;
		}
		have += (size_t)n;
	}
	pipe_give_back(it, true);
	it->kind = ITEM_MEMORY;
	it->data = it->owned = buf;
	return 0;
}

static int flush_pipe(struct outq *q, struct transport *t)
{
	struct outq_item *it = q->head;
	ssize_t sent;

	if (!(t->caps & TRANSPORT_CAN_SENDFILE))
		return pipe_to_memory(it);
	sent = splice(it->pipe[0], NULL, t->wfd, NULL, it->len,
		      SPLICE_F_MOVE | SPLICE_F_NONBLOCK | (it->next ? SPLICE_F_MORE : 0));
	if (sent < 0)
		return errno == EINTR ? 0 : negative_errno();
	if (sent == 0)
		return -EIO;
	it->len -= (size_t)sent;
	q->bytes -= (size_t)sent;
	if (it->len == 0)
		pop(q);
	return 0;
}

int outq_flush(struct outq *q, struct transport *t)
{
	while (q->head) {
		int r = -EINVAL;

		switch (q->head->kind) {
		case ITEM_MEMORY:
			r = flush_memory(q, t);
			break;
		case ITEM_FILE:
			r = flush_file(q, t);
			break;
		case ITEM_PIPE:
			r = flush_pipe(q, t);
			break;
		}
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
