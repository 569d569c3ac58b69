/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Asynchronous file I/O for a worker through io_uring (liburing), when the build has it and the kernel
 * allows it. Completions are signalled on an eventfd that the worker's epoll loop watches, so sockets
 * stay on epoll and storage I/O never blocks the loop.
 *
 * Each operation carries a callback; short reads and writes are resubmitted here, so a callback sees
 * either the whole transfer done (res = 0) or a negative errno. A submit call that succeeded has
 * handed its operation to the ring for good: done() runs exactly once, even when the kernel takes
 * the operation only on a later try.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uring;

struct uring_op {
	void (*done)(struct uring_op *op, int res);
	/* Filled by the submit calls; private. */
	int kind;
	int fd;
	uint8_t *buf;
	size_t len;
	size_t completed;
	uint64_t offset;
	bool sync_after; /* a write whose data must be durable before done() */
	struct uring_op *next_waiting; /* in the ring's list of steps waiting for a free entry */
};

/* -EOPNOTSUPP when io_uring is not built in or the kernel refuses it: callers fall back to threads. */
int uring_new(unsigned entries, struct uring **ret);
void uring_free(struct uring *u);
/* The eventfd to watch for readability. */
int uring_eventfd(const struct uring *u);
/* Reaps completions and runs their callbacks. */
void uring_complete(struct uring *u);
/* Whether operations still wait for the kernel to take them: queued in the ring after it refused a
 * submission, or a next step (the rest of a short transfer, a FUA write's sync) waiting for a free
 * entry in a ring full of those. uring_retry() submits them again. The loop retries soon, not on an
 * event: none comes for an operation the kernel has not taken. */
bool uring_unsubmitted(const struct uring *u);
void uring_retry(struct uring *u);

int uring_read(struct uring *u, struct uring_op *op, int fd, void *buf, size_t len, uint64_t offset);
int uring_write(struct uring *u, struct uring_op *op, int fd, const void *buf, size_t len,
		uint64_t offset, bool sync_after);
int uring_fdatasync(struct uring *u, struct uring_op *op, int fd);
