/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Delays between reconnection attempts: exponential from a minimum to a maximum, with jitter so
 * that many clients of one restarted server do not knock in lockstep.
 */
#pragma once

#include <stdint.h>

struct backoff {
	unsigned min_ms;   /* the first delay */
	unsigned max_ms;   /* no delay exceeds this */
	unsigned step;     /* attempts made since the last reset */
	uint64_t rng;      /* xorshift state; never 0 */
};

void backoff_init(struct backoff *b, unsigned min_ms, unsigned max_ms, uint64_t seed);
/* Back to the first delay, after a success. */
void backoff_reset(struct backoff *b);
/* The delay before the next attempt: min_ms * 2^step, capped at max_ms, then drawn uniformly from
 * its upper half [d/2, d] (so the spacing keeps growing while the jitter spreads clients out). */
unsigned backoff_next_ms(struct backoff *b);
