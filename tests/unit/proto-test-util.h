/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the proto/ unit tests.
 *
 * Decoders run on exactly-sized heap copies of the test messages: under AddressSanitizer a read
 * of even one byte past the end of a message is then a heap-buffer-overflow report, where a read
 * past a stack array or string literal would silently see the neighbouring bytes.
 */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* A heap block of exactly len bytes holding a copy of p (a zero-sized block for an empty message,
 * so that no byte at all may be read). calloc rather than malloc only so that the compiler does not
 * take the empty block for uninitialised memory handed to a const parameter. */
static inline void *dup_exact(const void *p, size_t len)
{
	void *r = calloc(len, 1);

	if (len) {
		assert_non_null(r);
		memcpy(r, p, len);
	}
	return r;
}

/* A decoder reduced to "bytes in, result out", so one loop can try every malformed length. */
typedef int (*decode_fn)(const void *buf, size_t len);

static inline int decode_exact(decode_fn fn, const void *msg, size_t len)
{
	void *copy = dup_exact(msg, len);
	int r = fn(copy, len);

	free(copy);
	return r;
}

/* Every strict prefix of a valid message, from 0 bytes to full - 1, must fail with expected. */
static inline void assert_prefixes_fail(decode_fn fn, const void *msg, size_t full, int expected)
{
	for (size_t len = 0; len < full; len++) {
		int r = decode_exact(fn, msg, len);

		if (r != expected)
			fail_msg("prefix of %zu of %zu bytes: got %d, expected %d", len, full, r,
				 expected);
	}
}

/* The valid message with one more byte must fail with expected (-EBADMSG for a trailing byte). */
static inline void assert_trailing_fails(decode_fn fn, const void *msg, size_t len, int expected)
{
	uint8_t *longer = malloc(len + 1);

	assert_non_null(longer);
	memcpy(longer, msg, len);
	longer[len] = 0;
	assert_int_equal(fn(longer, len + 1), expected);
	free(longer);
}

/* Golden comparison: the length first, so a short encoding is reported as such, then every byte. */
static inline void assert_bytes(const void *got, size_t got_len, const void *want, size_t want_len)
{
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
}
