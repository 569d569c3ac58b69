/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The growable message buffer: byte order, growth, and the sticky failure that encoders rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buffer.h"
#include "common/unaligned.h"

static void test_big_endian_appends(void **state)
{
	_cleanup_buffer_ struct buffer b = BUFFER_INIT;
	static const uint8_t expect[] = {
		0x12, 0x34,                                     /* be16 */
		0x89, 0xab, 0xcd, 0xef,                         /* be32 */
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* be64 */
		'h',  'i',  0,    0,    0,
	};

	buffer_append_be16(&b, 0x1234);
	buffer_append_be32(&b, 0x89abcdef);
	buffer_append_be64(&b, 0x0102030405060708ull);
	buffer_append(&b, "hi", 2);
	buffer_append_zeros(&b, 3);
	assert_int_equal(buffer_error(&b), 0);
	assert_int_equal(b.len, sizeof(expect));
	assert_memory_equal(b.data, expect, sizeof(expect));
	assert_int_equal(load_be16(b.data), 0x1234);
	assert_int_equal(load_be32(b.data + 2), 0x89abcdef);
	assert_true(load_be64(b.data + 6) == 0x0102030405060708ull);
}

static void test_growth_keeps_contents(void **state)
{
	_cleanup_buffer_ struct buffer b = BUFFER_INIT;

	for (uint32_t i = 0; i < 100000; i++)
		buffer_append_be32(&b, i);
	assert_int_equal(buffer_error(&b), 0);
	assert_int_equal(b.len, 400000);
	assert_true(b.cap >= b.len);
	for (uint32_t i = 0; i < 100000; i += 997)
		assert_int_equal(load_be32(b.data + 4 * i), i);
}

static void test_reset_keeps_memory(void **state)
{
	_cleanup_buffer_ struct buffer b = BUFFER_INIT;
	uint8_t *before;

	buffer_append_zeros(&b, 1000);
	before = b.data;
	buffer_reset(&b);
	assert_int_equal(b.len, 0);
	buffer_append_zeros(&b, 1000);
	assert_ptr_equal(b.data, before);
}

static void test_overflow_fails_sticky(void **state)
{
	_cleanup_buffer_ struct buffer b = BUFFER_INIT;

	buffer_append(&b, "abc", 3);
	/* A size that cannot exist: the buffer fails rather than wrapping around. */
	assert_null(buffer_append_space(&b, SIZE_MAX - 1));
	assert_int_equal(buffer_error(&b), -ENOMEM);
	/* Later appends do nothing and the failure stays until reset. */
	buffer_append_be32(&b, 1);
	assert_int_equal(b.len, 3);
	assert_int_equal(buffer_error(&b), -ENOMEM);
	assert_int_equal(buffer_reserve(&b, 1), -ENOMEM);
	buffer_reset(&b);
	assert_int_equal(buffer_error(&b), 0);
	buffer_append_be16(&b, 7);
	assert_int_equal(b.len, 2);
}

static void test_empty_appends(void **state)
{
	_cleanup_buffer_ struct buffer b = BUFFER_INIT;

	buffer_append(&b, NULL, 0);
	buffer_append_zeros(&b, 0);
	assert_int_equal(buffer_error(&b), 0);
	assert_int_equal(b.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_big_endian_appends),
		cmocka_unit_test(test_growth_keeps_contents),
		cmocka_unit_test(test_reset_keeps_memory),
		cmocka_unit_test(test_overflow_fails_sticky),
		cmocka_unit_test(test_empty_appends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
