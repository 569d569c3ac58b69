/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/macro.h"
#include "server/uring.h"

#if HAVE_LIBURING
#include <liburing.h>

enum { OP_READ, OP_WRITE, OP_SYNC };

struct uring {
	struct io_uring ring;
	int efd;
	bool unsubmitted; /* queued entries the kernel has not taken yet (see push()) */
	/* Next steps of operations the ring had no room for (see handle()), oldest first. */
	struct uring_op *waiting, **waiting_tail;
};

int uring_new(unsigned entries, struct uring **ret)
{
	struct uring *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return -ENOMEM;
	u->waiting_tail = &u->waiting;
	r = io_uring_queue_init(entries, &u->ring, 0);
	if (r < 0) {
		free(u);
		/* Kernels without io_uring, or with it disabled (sysctl, seccomp): use threads. */
		return -EOPNOTSUPP;
	}
	u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->efd < 0 || io_uring_register_eventfd(&u->ring, u->efd) < 0) {
		r = u->efd < 0 ? -errno : -EOPNOTSUPP;
		safe_close(u->efd);
		io_uring_queue_exit(&u->ring);
		free(u);
		return r;
	}
	*ret = u;
	return 0;
}

void uring_free(struct uring *u)
{
	if (!u)
		return;
	io_uring_queue_exit(&u->ring);
	safe_close(u->efd);
	free(u);
}

int uring_eventfd(const struct uring *u)
{
	return u->efd;
}

/*
 * Hands the queued entries to the kernel. io_uring_submit() makes them visible to the kernel before
 * it enters it, so an entry the kernel did not take (the submission failed: EAGAIN or ENOMEM when it
 * cannot allocate a request, EBUSY while completions overflow) is still queued and will be taken by a
 * later submission. Its operation belongs to the ring from then on: it must be neither freed nor run
 * another way. The worker's loop retries (uring_retry()) until the kernel has taken them all.
 */
static void push(struct uring *u)
{
	int r = io_uring_submit(&u->ring);

	u->unsubmitted = r < 0 || io_uring_sq_ready(&u->ring) > 0;
}

/* Queues the next piece of op; submits at once, since the loop has nothing to batch with here.
 * Fails only when the ring has no room for op: nothing of it is queued then. */
static int submit(struct uring *u, struct uring_op *op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		/* The ring is full: push what it holds to the kernel and try again. */
		push(u);
		sqe = io_uring_get_sqe(&u->ring);
		if (!sqe)
			return -EBUSY;
	}
	switch (op->kind) {
	case OP_READ:
		io_uring_prep_read(sqe, op->fd, op->buf + op->completed,
				   (unsigned)(op->len - op->completed), op->offset + op->completed);
		break;
	case OP_WRITE:
		io_uring_prep_write(sqe, op->fd, op->buf + op->completed,
				    (unsigned)(op->len - op->completed), op->offset + op->completed);
		break;
	default:
		io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC);
		break;
	}
	io_uring_sqe_set_data(sqe, op);
	push(u);
	return 0;
}

bool uring_unsubmitted(const struct uring *u)
{
	return u->unsubmitted || u->waiting;
}

void uring_retry(struct uring *u)
{
	if (u->unsubmitted)
		push(u);
	while (u->waiting && !u->unsubmitted) {
		struct uring_op *op = u->waiting;

		if (submit(u, op) < 0)
			break;
		u->waiting = op->next_waiting;
		if (!u->waiting)
			u->waiting_tail = &u->waiting;
	}
}

/* The next step of an operation the ring already had: it must not fail for want of room, since
 * the operation's first step is done (a FUA write written but not yet synced). Without room, it
 * waits in order for uring_retry(). */
static void continue_op(struct uring *u, struct uring_op *op)
{
	if (!u->waiting && submit(u, op) == 0)
		return;
	op->next_waiting = NULL;
	*u->waiting_tail = op;
	u->waiting_tail = &op->next_waiting;
}

static int start(struct uring *u, struct uring_op *op, int kind, int fd, void *buf, size_t len,
		 uint64_t offset, bool sync_after)
{
	/* io_uring transfers at most 2 GiB per operation; NBD payloads are far below that. */
	if (len > (1u << 30))
		return -EINVAL;
	/* Steps of operations under way come first; a new one can run another way. */
	if (u->waiting)
		return -EBUSY;
	op->kind = kind;
	op->fd = fd;
	op->buf = buf;
	op->len = len;
	op->completed = 0;
	op->offset = offset;
	op->sync_after = sync_after;
	return submit(u, op);
}

int uring_read(struct uring *u, struct uring_op *op, int fd, void *buf, size_t len, uint64_t offset)
{
	return start(u, op, OP_READ, fd, buf, len, offset, false);
}

int uring_write(struct uring *u, struct uring_op *op, int fd, const void *buf, size_t len,
		uint64_t offset, bool sync_after)
{
	return start(u, op, OP_WRITE, fd, (void *)buf, len, offset, sync_after);
}

int uring_fdatasync(struct uring *u, struct uring_op *op, int fd)
{
	return start(u, op, OP_SYNC, fd, NULL, 0, 0, false);
}

/* One completion: continue a short transfer, chain the sync of a FUA write, or report. */
static void handle(struct uring *u, struct uring_op *op, int res)
{
	if (res < 0) {
		op->done(op, res);
		return;
	}
	if (op->kind == OP_READ && res == 0) {
		/* Past the end of the file but inside the export: the rest reads as zeros. */
		memset(op->buf + op->completed, 0, op->len - op->completed);
		op->completed = op->len;
	}
	op->completed += (size_t)res;
	if (op->kind != OP_SYNC && op->completed < op->len) {
		continue_op(u, op);
		return;
	}
	if (op->kind == OP_WRITE && op->sync_after) {
		op->kind = OP_SYNC;
		continue_op(u, op);
		return;
	}
	op->done(op, 0);
}

void uring_complete(struct uring *u)
{
	struct io_uring_cqe *cqe;
	uint64_t count;

	(void)!read(u->efd, &count, sizeof(count));
	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		struct uring_op *op = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&u->ring, cqe);
		handle(u, op, res);
	}
	/* Completions reaped free what a failed submission lacked. */
	uring_retry(u);
}

#else /* !HAVE_LIBURING */

int uring_new(unsigned entries, struct uring **ret)
{
	return -EOPNOTSUPP;
}

void uring_free(struct uring *u)
{
}

int uring_eventfd(const struct uring *u)
{
	return -1;
}

void uring_complete(struct uring *u)
{
}

bool uring_unsubmitted(const struct uring *u)
{
	return false;
}

void uring_retry(struct uring *u)
{
}

int uring_read(struct uring *u, struct uring_op *op, int fd, void *buf, size_t len, uint64_t offset)
{
	return -EOPNOTSUPP;
}

int uring_write(struct uring *u, struct uring_op *op, int fd, const void *buf, size_t len,
		uint64_t offset, bool sync_after)
{
	return -EOPNOTSUPP;
}

int uring_fdatasync(struct uring *u, struct uring_op *op, int fd)
{
	return -EOPNOTSUPP;
}

#endif
