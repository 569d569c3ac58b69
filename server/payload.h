/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where a WRITE's payload waits until it is whole (a WRITE lands whole or not at all, even when the
 * client vanishes mid-payload): in place in the input buffer, in a pipe it was spliced into from
 * the socket, in the socket itself until all of it is there, or in a buffer of its own. payload_choose() is the decision alone, without I/O; the
 * rest moves the bytes for one connection (conn.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/transmission.h"

struct backend;
struct conn;

/* WRITE payloads with at least this much still in the socket are spliced from it into a pipe, and
 * from the pipe into the file once complete: the kernel copies the bytes once (into the page cache)
 * instead of twice (into our buffer, then into the page cache). Below it, the extra system calls cost
 * more than the copy saves. */
#define SPLICE_MIN (64u << 10)
/* The pipe's capacity, and so the largest payload spliced (1 MiB is what unprivileged processes may
 * ask for by default; with a smaller pipe, fewer payloads qualify). */
#define SPLICE_PIPE_SIZE (1u << 20)

/* The largest payload received straight into a file's mapping (payload_receive_mapped()): TCP
 * lets SO_RCVLOWAT grow to half its largest receive buffer (tcp_rmem), 3 MiB by default. */
#define MAPPED_PAYLOAD_MAX (1u << 20)

enum payload_mode {
	PAYLOAD_BUFFER,  /* copied into c->payload */
	PAYLOAD_INPLACE, /* whole in the input buffer: written from there (a backend that never blocks) */
	PAYLOAD_PIPE,    /* spliced from the socket into c->spipe, then into the file */
	PAYLOAD_MAPPED,  /* left in the socket until all of it is there, then received straight into
			  * the file's mapping */
};

/* Whether an accepted WRITE may skip a buffer of its own: its backend is a plain file or memfd
 * that never blocks the event loop. Anything else gets a buffer and runs whole (in the pool or
 * io_uring). */
bool payload_may_skip_buffer(const struct backend *b, const struct nbd_request *req,
			     uint32_t error);
/* The place for a payload of len bytes, buffered of which are already in the input buffer.
 * direct: payload_may_skip_buffer(); can_splice: the transport lets payloads be spliced;
 * pipe_capacity: what the splice pipe holds (or is hoped to, before it is made); map_capacity: the
 * largest payload the socket can hold whole for a receive into the file's mapping (0: none, the
 * file has no mapping or the socket is not TCP). */
enum payload_mode payload_choose(bool direct, bool can_splice, uint64_t len, size_t buffered,
				 size_t pipe_capacity, size_t map_capacity);

/* Prepares the place of the current request's payload. 0 or -ENOMEM. */
int payload_setup(struct conn *c);
/* Moves buffered input into the current request's payload (or discards it). Returns true when the
 * payload is complete. */
bool payload_fill(struct conn *c);
/* Moves what the socket has of the current WRITE's payload into the pipe. Returns bytes taken, 0
 * at EOF, -EAGAIN when there is nothing, -EINTR when it fell back to a buffer, or another negative
 * errno. */
ssize_t payload_splice(struct conn *c);
/* PAYLOAD_MAPPED: once the socket holds the whole payload, receives it into the file's mapping.
 * Until then SO_RCVLOWAT keeps the socket from waking the event loop for less. Returns as
 * payload_splice() does; falls back to the pipe or a buffer when the socket cannot wait for that
 * much, and to a buffer when a page of the mapping cannot be had (its pwrite() then says why). */
ssize_t payload_receive_mapped(struct conn *c);
/* Writes the whole payload, waiting in the pipe, to the file. */
int payload_pipe_to_file(struct conn *c);
/* Closes the splice pipe. */
void payload_release(struct conn *c);
