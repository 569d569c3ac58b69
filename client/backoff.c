/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "client/backoff.h"

void backoff_init(struct backoff *b, unsigned min_ms, unsigned max_ms, uint64_t seed)
{
	b->min_ms = min_ms ? min_ms : 1;
	b->max_ms = max_ms < b->min_ms ? b->min_ms : max_ms;
	b->step = 0;
	b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

void backoff_reset(struct backoff *b)
{
	b->step = 0;
}

static uint64_t next_random(struct backoff *b)
{
	uint64_t x = b->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	b->rng = x;
	return x;
}

unsigned backoff_next_ms(struct backoff *b)
{
	uint64_t d = b->min_ms;

	/* Doubling past the cap is pointless, and stopping there keeps d from overflowing. */
	for (unsigned i = 0; i < b->step && d < b->max_ms; i++)
		d *= 2;
	if (d > b->max_ms)
		d = b->max_ms;
	if (b->step < 64)
		b->step++;
	return (unsigned)(d - d / 2 + next_random(b) % (d / 2 + 1));
}
