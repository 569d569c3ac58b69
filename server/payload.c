/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * WRITE payload placement (payload.h). On a backend that never blocks (tmpfs, ramfs, memory), a
 * payload already whole in the input buffer is written from there. For a mapped file on TCP, one
 * that is all still in the socket stays there until it is whole (SO_RCVLOWAT), then one recv() takes
 * it into the mapping. Otherwise one that still has SPLICE_MIN or more in the socket is spliced into
 * a per-connection pipe and from the pipe into the file (read into the mapping when there is one),
 * and the next header is then read alone so that the next payload stays in the socket too.
 * Everything else, or a payload the pipe cannot hold, goes into a buffer of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/backend.h"
#include "server/conn.h"
#include "server/mapped-copy.h"
#include "server/wakeup.h"

bool payload_may_skip_buffer(const struct backend *b, const struct nbd_request *req,
			     uint32_t error)
{
	/* fd >= 0: one file to write into, which no view or multifile has. */
	return req->type == NBD_CMD_WRITE && !error && !b->may_block && b->fd >= 0 && !b->direct &&
	       !b->read_only;
}

enum payload_mode payload_choose(bool direct, bool can_splice, uint64_t len, size_t buffered,
				 size_t pipe_capacity, size_t map_capacity)
{
	if (!direct)
		return PAYLOAD_BUFFER;
	if (buffered >= len)
		return PAYLOAD_INPLACE;
	/* Only when none of it was read yet: what was would have to wait somewhere too. */
	if (can_splice && buffered == 0 && len >= SPLICE_MIN && len <= map_capacity)
		return PAYLOAD_MAPPED;
	if (can_splice && len - buffered >= SPLICE_MIN && len <= pipe_capacity)
		return PAYLOAD_PIPE;
	return PAYLOAD_BUFFER;
}

static int pipe_open(struct conn *c)
{
	int size;

	if (c->spipe[0] >= 0)
		return 0;
	if (pipe2(c->spipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		c->spipe[0] = c->spipe[1] = -EBADF;
		return negative_errno();
	}
	(void)fcntl(c->spipe[1], F_SETPIPE_SZ, (int)SPLICE_PIPE_SIZE);
	size = fcntl(c->spipe[1], F_GETPIPE_SZ);
	c->spipe_size = size > 0 ? (size_t)size : 65536;
	return 0;
}

/* Empties the splice pipe: into the payload buffer when there is one, else nowhere. */
static void pipe_drain(struct conn *c)
{
	uint8_t scratch[16384];
	size_t have = 0;
	ssize_t n;

	for (;;) {
		n = c->payload ? read(c->spipe[0], c->payload + have, c->payload_have - have)
			       : read(c->spipe[0], scratch, sizeof(scratch));
		if (n <= 0 || (c->payload && (have += (size_t)n) == c->payload_have))
			break;
	}
}

int payload_pipe_to_file(struct conn *c)
{
	struct backend *b = c->xmit.backend;
	loff_t off = (loff_t)c->req.offset;
	size_t left = (size_t)c->verdict.payload;
	ssize_t n;

	/* Into the file's mapping when it has one: the same single copy, without a write's page
	 * cache lookups. A page that cannot be had fails the read with EFAULT, and splice() below
	 * takes the rest and says why. */
	backend_prepare_mapped_write(b, c->req.offset, left);
	while (left && b->map) {
		n = read(c->spipe[0], b->map + off, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
		left -= (size_t)n;
	}
	while (left) {
		n = splice(c->spipe[0], NULL, c->xmit.backend->fd, &off, left, SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int r = n < 0 ? negative_errno() : -EIO;

			pipe_drain(c);
			return r;
		}
		left -= (size_t)n;
	}
	return 0;
}

static int alloc_buffer(struct conn *c)
{
	if (posix_memalign((void **)&c->payload, 4096, (size_t)c->verdict.payload) != 0) {
		c->payload = NULL;
		return -ENOMEM;
	}
	return 0;
}

int payload_setup(struct conn *c)
{
	size_t avail = c->in_end - c->in_start;
	bool direct = payload_may_skip_buffer(c->xmit.backend, &c->req, c->verdict.error);

	c->mode = payload_choose(direct, c->can_splice, c->verdict.payload, avail,
				 c->spipe[0] >= 0 ? c->spipe_size : SPLICE_PIPE_SIZE,
				 c->xmit.backend->map ? c->lowat_max : 0);
	if (c->mode == PAYLOAD_MAPPED)
		return 0;
	if (c->mode == PAYLOAD_PIPE) {
		/* What already came with the header goes into the pipe ahead of the rest. */
		if (pipe_open(c) < 0 || c->verdict.payload > c->spipe_size)
			c->mode = PAYLOAD_BUFFER;
		else if (avail && write(c->spipe[1], c->in + c->in_start, avail) != (ssize_t)avail) {
			pipe_drain(c);
			c->mode = PAYLOAD_BUFFER;
		} else {
			c->payload_have = avail;
			c->in_start += avail;
		}
	}
	return c->mode == PAYLOAD_BUFFER ? alloc_buffer(c) : 0;
}

bool payload_fill(struct conn *c)
{
	size_t avail = c->in_end - c->in_start, n;

	if (c->discard_left) {
		n = (size_t)MIN((uint64_t)avail, c->discard_left);
		c->discard_left -= n;
		c->in_start += n;
		return c->discard_left == 0;
	}
	if (c->mode == PAYLOAD_PIPE || c->mode == PAYLOAD_MAPPED)
		return c->payload_have == c->verdict.payload; /* it comes from the socket only */
	n = MIN(avail, (size_t)c->verdict.payload - c->payload_have);
	if (c->mode == PAYLOAD_INPLACE) {
		c->payload = c->in + c->in_start; /* borrowed until dispatch_finish_request() */
		c->payload_have = n;
		c->in_start += n;
		return true;
	}
	memcpy(c->payload + c->payload_have, c->in + c->in_start, n);
	c->payload_have += n;
	c->in_start += n;
	return c->payload_have == c->verdict.payload;
}

/* Falls back from the pipe to a buffer: the socket has more of the payload, but the pipe has no room
 * (it counts pieces, not bytes, and a client sending tiny segments fills it early) or refuses it. */
static int pipe_to_buffer(struct conn *c)
{
	int r = alloc_buffer(c);

	if (r < 0)
		return r;
	pipe_drain(c);
	c->mode = PAYLOAD_BUFFER;
	return 0;
}

ssize_t payload_splice(struct conn *c)
{
	size_t left = (size_t)c->verdict.payload - c->payload_have;
	ssize_t n;
	int queued = 0, r;

	n = splice(c->t->rfd, NULL, c->spipe[1], NULL, left, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0)
		c->payload_have += (size_t)n;
	if (n >= 0)
		return n;
	if (errno == EAGAIN && (ioctl(c->t->rfd, FIONREAD, &queued) < 0 || queued == 0))
		return -EAGAIN;
	if (errno != EAGAIN)
		c->can_splice = false; /* a socket splice() cannot take from */
	r = pipe_to_buffer(c);
	return r < 0 ? r : -EINTR; /* the event loop comes back with the rest, for the buffer now */
}

/* Gives up a PAYLOAD_MAPPED wait: the socket wakes the event loop for any byte again. */
static void mapped_wait_end(struct conn *c)
{
	c->mapped_waiting = false;
	if (c->lowat > 1)
		(void)wakeup_set_lowat(c, 1); /* failing, it is not asked to wait again */
}

/* From PAYLOAD_MAPPED, with got bytes of the payload already in the mapping, to a buffer for the
 * rest: the request then runs as any buffered WRITE. */
static int mapped_to_buffer(struct conn *c, size_t got)
{
	int r;

	mapped_wait_end(c);
	r = alloc_buffer(c);
	if (r < 0)
		return r;
	/* Those pages were just written, so they are there to copy back. */
	if (got && mapped_copy(c->payload, c->xmit.backend->map + c->req.offset, got) < 0)
		memset(c->payload, 0, got);
	c->payload_have = got;
	c->mode = PAYLOAD_BUFFER;
	return 0;
}

/* Nothing of the payload was taken from the socket yet: the pipe can still have all of it. */
static int mapped_to_pipe(struct conn *c)
{
	mapped_wait_end(c);
	if (pipe_open(c) == 0 && c->verdict.payload <= c->spipe_size) {
		c->mode = PAYLOAD_PIPE;
		c->payload_have = 0;
		return 0;
	}
	return mapped_to_buffer(c, 0);
}

ssize_t payload_receive_mapped(struct conn *c)
{
	size_t len = (size_t)c->verdict.payload;
	int queued = 0, r;
	ssize_t n;

	if (ioctl(c->t->rfd, FIONREAD, &queued) < 0)
		return negative_errno();
	if ((size_t)queued < len) {
		/* Woken with less than it waited for: the client closed or failed mid-payload, or the
		 * socket is short of memory or window. The pipe takes what is there, and sees the end. */
		if (c->mapped_waiting) {
			r = mapped_to_pipe(c);
			return r < 0 ? r : -EINTR;
		}
		/* The socket may still wait for this much from the payload before. */
		size_t lowat_before = c->lowat;

		r = wakeup_mapped_wait(c, len);
		if (r < 0) {
			/* This socket cannot wait for that much, and is not asked again. */
			r = mapped_to_pipe(c);
			return r < 0 ? r : -EINTR;
		}
		/* It may all have come in before the socket was told to wait for it. */
		if (c->lowat != lowat_before && ioctl(c->t->rfd, FIONREAD, &queued) < 0)
			return negative_errno();
		if ((size_t)queued < len) {
			c->mapped_waiting = true;
			return -EAGAIN;
		}
	}
	wakeup_mapped_taken(c, (size_t)queued);
	backend_prepare_mapped_write(c->xmit.backend, c->req.offset, len);
	/* All of it is in the socket: this one call takes it whole, so a client gone mid-payload
	 * never leaves half a WRITE in the file. */
	n = recv(c->t->rfd, c->xmit.backend->map + c->req.offset, len, MSG_DONTWAIT);
	if (n == (ssize_t)len) {
		/* SO_RCVLOWAT stays for the next payload of this size, unless the connection goes
		 * back to waiting for something else (wakeup_rearm()). */
		c->mapped_waiting = false;
		c->payload_have = len;
		return n;
	}
	if (n < 0 && errno != EFAULT)
		return negative_errno();
	/* A page that cannot be had (the file cut short, tmpfs full): the rest goes to a buffer,
	 * and the WRITE runs through pwrite(), which says why. */
	r = mapped_to_buffer(c, n > 0 ? (size_t)n : 0);
	return r < 0 ? r : -EINTR;
}

void payload_release(struct conn *c)
{
	c->spipe[0] = safe_close(c->spipe[0]);
	c->spipe[1] = safe_close(c->spipe[1]);
}
