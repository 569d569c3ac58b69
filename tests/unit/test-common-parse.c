/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Table-driven: every row is one input and the exact result, so a boundary that slips shows up as the
 * row that names it. The tables lean on the edges (type limits plus one, overflow in the middle of a
 * multiplication, fractions that are or are not whole bytes) because that is where parsers go wrong.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/parse.h"

#define SENTINEL UINT64_C(0xdeadbeefcafef00d)

struct u64_case {
	const char *s;
	int r;
	uint64_t v;
};

static void check_u64(const struct u64_case *c, int (*parse)(const char *, uint64_t *))
{
	uint64_t v = SENTINEL;
	int r = parse(c->s, &v);

	if (r != c->r || (r == 0 && v != c->v))
		fail_msg("\"%s\": got r=%d v=%" PRIu64 ", want r=%d v=%" PRIu64, c->s, r, v, c->r, c->v);
	/* The contract: *ret is written only on success. */
	if (r < 0 && v != SENTINEL)
		fail_msg("\"%s\": failed with %d but clobbered the output", c->s, r);
}

static void test_parse_u64(void **state _unused_)
{
	static const struct u64_case cases[] = {
		{ "0", 0, 0 },
		{ "1", 0, 1 },
		{ "007", 0, 7 }, /* decimal, not octal */
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "0xffffffffffffffff", 0, UINT64_MAX },
		{ "0XFFFFFFFFFFFFFFFF", 0, UINT64_MAX },
		{ "0x0", 0, 0 },
		{ "0x00000000000000000001", 0, 1 }, /* leading zeros never overflow */
		{ "0xAbC", 0, 0xabc },
		{ "4294967296", 0, UINT64_C(4294967296) },
		{ "18446744073709551616", -ERANGE, 0 }, /* UINT64_MAX + 1 */
		{ "18446744073709551620", -ERANGE, 0 }, /* overflows in the final add */
		{ "99999999999999999999", -ERANGE, 0 },
		{ "0x10000000000000000", -ERANGE, 0 },
		{ "184467440737095516150", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "-0", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 },
		{ "1\n", -EINVAL, 0 },
		{ "\t1", -EINVAL, 0 },
		{ "12abc", -EINVAL, 0 },
		{ "0x", -EINVAL, 0 },
		{ "0X", -EINVAL, 0 },
		{ "0xg", -EINVAL, 0 },
		{ "x10", -EINVAL, 0 },
		{ "0x 1", -EINVAL, 0 },
		{ "1.0", -EINVAL, 0 },
		{ "1e3", -EINVAL, 0 },
		{ "1_000", -EINVAL, 0 },
		{ "abc", -EINVAL, 0 },
		{ "99999999999999999999x", -EINVAL, 0 }, /* junk wins over range */
		{ "0x0x1", -EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_u64(&cases[i], parse_u64);
}

static void test_parse_u32(void **state _unused_)
{
	static const struct {
		const char *s;
		int r;
		uint32_t v;
	} cases[] = {
		{ "0", 0, 0 },
		{ "4294967295", 0, UINT32_MAX },
		{ "0xffffffff", 0, UINT32_MAX },
		{ "4294967296", -ERANGE, 0 },
		{ "0x100000000", -ERANGE, 0 },
		{ "18446744073709551615", -ERANGE, 0 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "-1", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "1k", -EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t v = 0xa5a5a5a5;
		int r = parse_u32(cases[i].s, &v);

		if (r != cases[i].r || (r == 0 && v != cases[i].v))
			fail_msg("\"%s\": got r=%d v=%" PRIu32, cases[i].s, r, v);
		if (r < 0 && v != 0xa5a5a5a5)
			fail_msg("\"%s\": output clobbered", cases[i].s);
	}
}

static void test_parse_u16(void **state _unused_)
{
	static const struct {
		const char *s;
		int r;
		uint16_t v;
	} cases[] = {
		{ "0", 0, 0 },
		{ "10809", 0, 10809 }, /* the NBD port */
		{ "65535", 0, UINT16_MAX },
		{ "0xffff", 0, UINT16_MAX },
		{ "65536", -ERANGE, 0 },
		{ "0x10000", -ERANGE, 0 },
		{ "4294967296", -ERANGE, 0 },
		{ "-1", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "80 ", -EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t v = 0xa5a5;
		int r = parse_u16(cases[i].s, &v);

		if (r != cases[i].r || (r == 0 && v != cases[i].v))
			fail_msg("\"%s\": got r=%d v=%u", cases[i].s, r, (unsigned)v);
		if (r < 0 && v != 0xa5a5)
			fail_msg("\"%s\": output clobbered", cases[i].s);
	}
}

static void test_parse_int(void **state _unused_)
{
	static const struct {
		const char *s;
		int r;
		int v;
	} cases[] = {
		{ "0", 0, 0 },
		{ "-0", 0, 0 },
		{ "42", 0, 42 },
		{ "-42", 0, -42 },
		{ "2147483647", 0, INT_MAX },
		{ "-2147483648", 0, INT_MIN },
		{ "0x7fffffff", 0, INT_MAX },
		{ "-0x80000000", 0, INT_MIN },
		{ "2147483648", -ERANGE, 0 },
		{ "-2147483649", -ERANGE, 0 },
		{ "4294967296", -ERANGE, 0 },
		{ "-18446744073709551615", -ERANGE, 0 },
		{ "-18446744073709551616", -ERANGE, 0 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "-", -EINVAL, 0 },
		{ "--1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ "-+1", -EINVAL, 0 },
		{ "- 1", -EINVAL, 0 },
		{ " -1", -EINVAL, 0 },
		{ "1-", -EINVAL, 0 },
		{ "-1x", -EINVAL, 0 },
		{ "-0x", -EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int v = 0x5a5a5a5a;
		int r = parse_int(cases[i].s, &v);

		if (r != cases[i].r || (r == 0 && v != cases[i].v))
			fail_msg("\"%s\": got r=%d v=%d, want r=%d v=%d", cases[i].s, r, v, cases[i].r,
				 cases[i].v);
		if (r < 0 && v != 0x5a5a5a5a)
			fail_msg("\"%s\": output clobbered", cases[i].s);
	}
}

#define KiB UINT64_C(1024)
#define MiB (KiB * 1024)
#define GiB (MiB * 1024)
#define TiB (GiB * 1024)
#define PiB (TiB * 1024)
#define EiB (PiB * 1024)

static void test_parse_size(void **state _unused_)
{
	static const struct u64_case cases[] = {
		{ "0", 0, 0 },
		{ "0B", 0, 0 },
		{ "0k", 0, 0 },
		{ "512", 0, 512 },
		{ "512B", 0, 512 },
		{ "1k", 0, KiB },
		{ "1K", 0, KiB },
		{ "1KiB", 0, KiB },
		{ "1kB", 0, 1000 },
		{ "4M", 0, 4 * MiB },
		{ "4MiB", 0, 4 * MiB },
		{ "4MB", 0, 4000000 },
		{ "10G", 0, 10 * GiB },
		{ "10GiB", 0, 10 * GiB },
		{ "10GB", 0, UINT64_C(10000000000) },
		{ "2T", 0, 2 * TiB },
		{ "2TiB", 0, 2 * TiB },
		{ "2TB", 0, UINT64_C(2000000000000) },
		{ "3P", 0, 3 * PiB },
		{ "3PiB", 0, 3 * PiB },
		{ "3PB", 0, UINT64_C(3000000000000000) },
		{ "1E", 0, EiB },
		{ "1EiB", 0, EiB },
		{ "15E", 0, 15 * EiB },
		{ "18EB", 0, UINT64_C(18000000000000000000) },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551615B", 0, UINT64_MAX },
		{ "16777215T", 0, 16777215 * TiB },
		/* Fractions: whole bytes only. */
		{ "1.5k", 0, 1536 },
		{ "1.5K", 0, 1536 },
		{ "1.5G", 0, GiB + GiB / 2 },
		{ "0.5k", 0, 512 },
		{ "1.25k", 0, 1280 },
		{ "0.001kB", 0, 1 },
		{ "1.001kB", 0, 1001 },
		{ "2.5MB", 0, 2500000 },
		{ "1.500000000000000000000000000k", 0, 1536 }, /* trailing zeros are free */
		{ "1.0k", 0, KiB },
		{ "15.5E", 0, 15 * EiB + EiB / 2 },
		{ "15.9375E", 0, 15 * EiB + EiB / 16 * 15 },
		{ "0.0009765625M", 0, 1024 },
		{ "0.3k", -EINVAL, 0 }, /* 307.2 bytes */
		{ "0.1k", -EINVAL, 0 },
		{ "1.0001kB", -EINVAL, 0 },
		{ "0.0001k", -EINVAL, 0 },
		{ "1.5", -EINVAL, 0 },
		{ "1.5B", -EINVAL, 0 },
		{ "1.0B", -EINVAL, 0 },
		{ "1.", -EINVAL, 0 },
		{ "1.k", -EINVAL, 0 },
		{ ".5k", -EINVAL, 0 },
		{ "1..5k", -EINVAL, 0 },
		{ "1.5.k", -EINVAL, 0 },
		/* Out of range. */
		{ "16E", -ERANGE, 0 },
		{ "16EiB", -ERANGE, 0 },
		{ "15.99999999999999999999E", -EINVAL, 0 }, /* too precise to be whole */
		{ "19EB", -ERANGE, 0 },
		{ "16777216T", -ERANGE, 0 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "18446744073709551616k", -ERANGE, 0 },
		{ "99999999999999999999999G", -ERANGE, 0 },
		{ "17179869184G", -ERANGE, 0 },
		/* Syntax. */
		{ "", -EINVAL, 0 },
		{ "k", -EINVAL, 0 },
		{ "B", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "-1k", -EINVAL, 0 },
		{ "+1k", -EINVAL, 0 },
		{ " 1k", -EINVAL, 0 },
		{ "1k ", -EINVAL, 0 },
		{ "4 K", -EINVAL, 0 },
		{ "12abc", -EINVAL, 0 },
		{ "1KB", -EINVAL, 0 }, /* ambiguous: not in the list */
		{ "1kiB", -EINVAL, 0 },
		{ "1m", -EINVAL, 0 },
		{ "1g", -EINVAL, 0 },
		{ "1KiBB", -EINVAL, 0 },
		{ "1BB", -EINVAL, 0 },
		{ "1Ki", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "0x1E", -EINVAL, 0 },
		{ "1e3", -EINVAL, 0 },
		{ "99999999999999999999999Q", -EINVAL, 0 }, /* junk wins over range */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_u64(&cases[i], parse_size);
}

static void test_parse_bool(void **state _unused_)
{
	static const char *const yes[] = {
		"1", "yes", "y", "true", "t", "on", "YES", "True", "ON", "Y",
	};
	static const char *const no[] = {
		"0", "no", "n", "false", "f", "off", "NO", "False", "OFF", "N",
	};
	static const char *const bad[] = {
		"", "2", "-1", "yess", "of", "o", " yes", "yes ", "true\n", "enable", "nope", "00", "01",
	};
	bool b;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		assert_int_equal(parse_bool(yes[i], &b), 0);
		assert_true(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		assert_int_equal(parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = true;
		if (parse_bool(bad[i], &b) != -EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_true(b);
	}
}

static void test_format_size(void **state _unused_)
{
	static const struct {
		uint64_t v;
		const char *s;
	} cases[] = {
		{ 0, "0 B" },
		{ 1, "1 B" },
		{ 512, "512 B" },
		{ 1023, "1023 B" },
		{ 1024, "1 KiB" },
		{ 1536, "1.5 KiB" },
		{ 1535, "1.4 KiB" }, /* rounded down */
		{ 2047, "1.9 KiB" },
		{ 1025, "1 KiB" },
		{ MiB - 1, "1023.9 KiB" },
		{ MiB, "1 MiB" },
		{ 4 * GiB, "4 GiB" },
		{ GiB + GiB / 2, "1.5 GiB" },
		{ 2 * GiB - 1, "1.9 GiB" },
		{ 3 * TiB, "3 TiB" },
		{ PiB + PiB / 10 + 1, "1.1 PiB" },
		{ EiB, "1 EiB" },
		{ 15 * EiB + EiB / 2, "15.5 EiB" },
		{ UINT64_MAX, "15.9 EiB" },
	};
	char buf[16];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 'x', sizeof(buf));
		assert_ptr_equal(format_size(buf, sizeof(buf), cases[i].v), buf);
		if (strcmp(buf, cases[i].s) != 0)
			fail_msg("%" PRIu64 ": got \"%s\", want \"%s\"", cases[i].v, buf, cases[i].s);
	}

	/* A short buffer truncates instead of overrunning; the canary after it stays. */
	char small[8] = { 0 };
	small[7] = '#';
	format_size(small, 7, UINT64_MAX);
	assert_string_equal(small, "15.9 E");
	assert_int_equal(small[7], '#');
}

/* Whatever format_size() prints, parse_size() reads back to the value it names (when exact). */
static void test_format_parse_roundtrip(void **state _unused_)
{
	static const uint64_t values[] = {
		0, 1, 512, KiB, 1536, 3 * MiB, 5 * GiB / 2, 7 * TiB, 9 * PiB, 15 * EiB,
	};
	char buf[32], compact[32];

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint64_t v = SENTINEL;
		size_t k = 0;

		format_size(buf, sizeof(buf), values[i]);
		/* "1.5 KiB" -> "1.5KiB": parse_size() takes the suffix right after the digits. */
		for (const char *p = buf; *p; p++)
			if (*p != ' ')
				compact[k++] = *p;
		compact[k] = '\0';

		assert_int_equal(parse_size(compact, &v), 0);
		assert_int_equal(v, values[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_u32),
		cmocka_unit_test(test_parse_u16),
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_format_size),
		cmocka_unit_test(test_format_parse_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
