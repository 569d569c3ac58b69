/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A growable byte buffer for building messages.
 *
 * Appends never fail on the spot: an allocation failure or an overflow makes the buffer "failed", later
 * appends do nothing, and buffer_error() reports -ENOMEM once at the end. Encoders can then write a whole
 * message as a straight sequence of appends and check once.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

struct buffer {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool failed;
};

#define BUFFER_INIT ((struct buffer){ 0 })

void buffer_free(struct buffer *b);
/* Forgets the contents but keeps the memory and clears a failure. */
void buffer_reset(struct buffer *b);
/* Makes room for n more bytes; 0 or -ENOMEM. */
int buffer_reserve(struct buffer *b, size_t n);
/* 0, or -ENOMEM when any append since the last reset failed. */
static inline int buffer_error(const struct buffer *b)
{
	return b->failed ? -ENOMEM : 0;
}

void buffer_append(struct buffer *b, const void *p, size_t n);
void buffer_append_zeros(struct buffer *b, size_t n);
void buffer_append_be16(struct buffer *b, uint16_t v);
void buffer_append_be32(struct buffer *b, uint32_t v);
void buffer_append_be64(struct buffer *b, uint64_t v);
/* Returns a pointer to n appended bytes for the caller to fill, or NULL when the buffer failed. */
void *buffer_append_space(struct buffer *b, size_t n);

static inline void buffer_freep(struct buffer *b)
{
	buffer_free(b);
}
#define _cleanup_buffer_ _cleanup_(buffer_freep)
