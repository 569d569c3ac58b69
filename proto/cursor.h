/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A bounds-checked reader over a received message (internal to proto/).
 *
 * Reading past the end never touches memory outside the buffer: it yields zeros and marks the cursor
 * bad, so a decoder reads its fields in order and checks once, at the end, that the message was long
 * enough and fully consumed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/unaligned.h"

struct cursor {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static inline struct cursor cursor_init(const void *buf, size_t len)
{
	return (struct cursor){ .p = buf, .left = buf ? len : 0, .bad = false };
}

/* Returns a pointer to the next n bytes and advances, or NULL (and marks bad) when fewer remain. */
static inline const uint8_t *cursor_take(struct cursor *c, size_t n)
{
	const uint8_t *p;

	if (c->bad || n > c->left) {
		c->bad = true;
		return NULL;
	}
	p = c->p;
	c->p += n;
	c->left -= n;
	return p;
}

static inline uint16_t cursor_be16(struct cursor *c)
{
	const uint8_t *p = cursor_take(c, 2);
	return p ? load_be16(p) : 0;
}

static inline uint32_t cursor_be32(struct cursor *c)
{
	const uint8_t *p = cursor_take(c, 4);
	return p ? load_be32(p) : 0;
}

static inline uint64_t cursor_be64(struct cursor *c)
{
	const uint8_t *p = cursor_take(c, 8);
	return p ? load_be64(p) : 0;
}

/* The message was long enough and nothing is left over. */
static inline bool cursor_done(const struct cursor *c)
{
	return !c->bad && c->left == 0;
}
