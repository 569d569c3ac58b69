/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one clock for timeouts, deadlines and durations: monotonic, so that a change of the wall
 * clock neither ends a wait early nor makes it last forever. */
#pragma once

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t now_ms(void);
/* Microseconds of CLOCK_MONOTONIC, for waits shorter than a millisecond. */
int64_t now_us(void);
