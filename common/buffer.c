/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buffer.h"
#include "common/unaligned.h"

void buffer_free(struct buffer *b)
{
	free(b->data);
	*b = BUFFER_INIT;
}

void buffer_reset(struct buffer *b)
{
	b->len = 0;
	b->failed = false;
}

int buffer_reserve(struct buffer *b, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (b->failed)
		return -ENOMEM;
	if (__builtin_add_overflow(b->len, n, &need)) {
		b->failed = true;
		return -ENOMEM;
	}
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need) {
		if (__builtin_mul_overflow(cap, 2, &cap)) {
			cap = need;
			break;
		}
	}
	p = realloc(b->data, cap);
	if (!p) {
		b->failed = true;
		return -ENOMEM;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void *buffer_append_space(struct buffer *b, size_t n)
{
	void *p;

	if (buffer_reserve(b, n) < 0)
		return NULL;
	p = b->data + b->len;
	b->len += n;
	return p;
}

void buffer_append(struct buffer *b, const void *p, size_t n)
{
	void *dst = buffer_append_space(b, n);

	if (dst && n)
		memcpy(dst, p, n);
}

void buffer_append_zeros(struct buffer *b, size_t n)
{
	void *dst = buffer_append_space(b, n);

	if (dst && n)
		memset(dst, 0, n);
}

void buffer_append_be16(struct buffer *b, uint16_t v)
{
	void *dst = buffer_append_space(b, sizeof(v));

	if (dst)
		store_be16(dst, v);
}

void buffer_append_be32(struct buffer *b, uint32_t v)
{
	void *dst = buffer_append_space(b, sizeof(v));

	if (dst)
		store_be32(dst, v);
}

void buffer_append_be64(struct buffer *b, uint64_t v)
{
	void *dst = buffer_append_space(b, sizeof(v));

	if (dst)
		store_be64(dst, v);
}
