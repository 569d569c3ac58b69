/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The byte plumbing shared by the client's and the server's handshake machines: a queue of bytes to
 * send, and the one message being received, whose full length the machine knows before asking for
 * it. Keeping this in one place keeps both machines to their protocol logic.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/buffer.h"

struct msg_pump {
	struct buffer out; /* queued to send */
	size_t out_done;   /* of which already sent */
	struct buffer in;  /* the message being received */
	size_t in_want;    /* its full length */
};

void msg_pump_free(struct msg_pump *p);

const void *msg_pump_output(const struct msg_pump *p, size_t *ret_len);
/* Records that written bytes left; true once everything queued has (the queue is then empty). */
bool msg_pump_output_done(struct msg_pump *p, size_t written);

/* Starts receiving a message of len bytes. */
void msg_pump_expect(struct msg_pump *p, size_t len);
size_t msg_pump_input_wanted(const struct msg_pump *p);
/* Takes at most what the message still lacks; returns the bytes taken, or -ENOMEM. */
ssize_t msg_pump_feed(struct msg_pump *p, const void *buf, size_t len);
static inline bool msg_pump_complete(const struct msg_pump *p)
{
	return p->in.len == p->in_want;
}
