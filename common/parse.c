/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The digits are walked by hand instead of going through strtoull(): strtoull() skips leading
 * whitespace, accepts a sign on an unsigned value (and negates it), and reads a leading 0 as octal, all
 * of which would let a typo in a config file turn into a plausible but wrong number.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/parse.h"

static int digit_value(char c, unsigned base)
{
	unsigned v;

	if (c >= '0' && c <= '9')
		v = (unsigned)(c - '0');
	else if (c >= 'a' && c <= 'f')
		v = (unsigned)(c - 'a') + 10;
	else if (c >= 'A' && c <= 'F')
		v = (unsigned)(c - 'A') + 10;
	else
		return -1;

	return v < base ? (int)v : -1;
}

/*
 * Reads the digits at *p in base and leaves *p on the first character that is not one. An empty
 * digit string is -EINVAL. Overflow is reported only after the digits are consumed, so that a caller
 * can make "99999999999999999999x" a syntax error: -ERANGE should mean "a number, but too big".
 */
static int scan_digits(const char **p, unsigned base, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	bool overflow = false;
	int d;

	if (digit_value(*s, base) < 0)
		return -EINVAL;

	for (; (d = digit_value(*s, base)) >= 0; s++)
		if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, (unsigned)d, &v))
			overflow = true;

	*p = s;
	*ret = v;
	return overflow ? -ERANGE : 0;
}

int parse_u64(const char *s, uint64_t *ret)
{
	unsigned base = 10;
	uint64_t v;
	int r;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}

	r = scan_digits(&s, base, &v);
	if (r == -EINVAL || *s != '\0')
		return -EINVAL;
	if (r < 0)
		return r;

	*ret = v;
	return 0;
}

int parse_u32(const char *s, uint32_t *ret)
{
	uint64_t v;
	int r;

	r = parse_u64(s, &v);
	if (r < 0)
		return r;
	if (v > UINT32_MAX)
		return -ERANGE;

	*ret = (uint32_t)v;
	return 0;
}

int parse_u16(const char *s, uint16_t *ret)
{
	uint64_t v;
	int r;

	r = parse_u64(s, &v);
	if (r < 0)
		return r;
	if (v > UINT16_MAX)
		return -ERANGE;

	*ret = (uint16_t)v;
	return 0;
}

int parse_int(const char *s, int *ret)
{
	bool negative = false;
	uint64_t magnitude;
	int r;

	/* Only '-': a '+' is as surprising in a config value as it is on an unsigned one. */
	if (*s == '-') {
		negative = true;
		s++;
	}

	r = parse_u64(s, &magnitude);
	if (r < 0)
		return r;

	if (negative) {
		/* INT_MIN's magnitude is one more than INT_MAX's, so it cannot be negated as an int. */
		if (magnitude > (uint64_t)INT_MAX + 1)
			return -ERANGE;
		*ret = magnitude == (uint64_t)INT_MAX + 1 ? INT_MIN : -(int)magnitude;
	} else {
		if (magnitude > INT_MAX)
			return -ERANGE;
		*ret = (int)magnitude;
	}
	return 0;
}

struct size_suffix {
	const char *name;
	uint64_t factor;
};

#define KIB UINT64_C(1024)
#define KB UINT64_C(1000)

static const struct size_suffix size_suffixes[] = {
	{ "", 1 },
	{ "B", 1 },
	{ "k", KIB },
	{ "K", KIB },
	{ "KiB", KIB },
	{ "M", KIB * KIB },
	{ "MiB", KIB * KIB },
	{ "G", KIB * KIB * KIB },
	{ "GiB", KIB * KIB * KIB },
	{ "T", KIB * KIB * KIB * KIB },
	{ "TiB", KIB * KIB * KIB * KIB },
	{ "P", KIB * KIB * KIB * KIB * KIB },
	{ "PiB", KIB * KIB * KIB * KIB * KIB },
	{ "E", KIB * KIB * KIB * KIB * KIB * KIB },
	{ "EiB", KIB * KIB * KIB * KIB * KIB * KIB },
	{ "kB", KB },
	{ "MB", KB * KB },
	{ "GB", KB * KB * KB },
	{ "TB", KB * KB * KB * KB },
	{ "PB", KB * KB * KB * KB * KB },
	{ "EB", KB * KB * KB * KB * KB * KB },
};

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/*
 * Bytes in the fraction 0.<digits> of factor, which must come out whole. With F the digits read as
 * an integer and n their count, that is F * factor / 10^n; dividing 10^n and factor by their gcd
 * first keeps every intermediate below factor, so nothing overflows.
 */
static int fraction_bytes(const char *digits, size_t n, uint64_t factor, uint64_t *ret)
{
	uint64_t f = 0, scale = 1, g;

	/* Trailing zeros carry no value; without them "1.50000000000000000000K" stays parseable. */
	while (n > 0 && digits[n - 1] == '0')
		n--;

	/*
	 * 10^19 is the largest power of ten in 64 bits. A whole-byte result with more significant digits
	 * than that needs something like "0.0000000000000000001E": not a size anyone means.
	 */
	if (n > 19)
		return -EINVAL;

	for (size_t i = 0; i < n; i++) {
		f = f * 10 + (uint64_t)(digits[i] - '0');
		scale *= 10;
	}

	g = gcd_u64(scale, factor);
	if (f % (scale / g) != 0)
		return -EINVAL; /* not a whole number of bytes */

	*ret = f / (scale / g) * (factor / g);
	return 0;
}

int parse_size(const char *s, uint64_t *ret)
{
	const struct size_suffix *suffix = NULL;
	const char *frac = NULL;
	size_t frac_len = 0;
	uint64_t whole, part = 0, v;
	int r;

	/* Decimal only: in hexadecimal, "0x1E" could be 30 bytes or one exbibyte. */
	r = scan_digits(&s, 10, &whole);
	if (r == -EINVAL)
		return r;
	/* A range error here is reported once the suffix has been found valid. */

	if (*s == '.') {
		frac = ++s;
		while (*s >= '0' && *s <= '9')
			s++;
		frac_len = (size_t)(s - frac);
		if (frac_len == 0)
			return -EINVAL;
	}

	for (size_t i = 0; i < ELEMENTSOF(size_suffixes); i++)
		if (strcmp(s, size_suffixes[i].name) == 0) {
			suffix = &size_suffixes[i];
			break;
		}
	if (!suffix)
		return -EINVAL;
	if (r < 0)
		return r;

	if (frac) {
		/* A fraction of a byte count without a multiplier is never whole or never needed. */
		if (suffix->factor == 1)
			return -EINVAL;
		r = fraction_bytes(frac, frac_len, suffix->factor, &part);
		if (r < 0)
			return r;
	}

	if (__builtin_mul_overflow(whole, suffix->factor, &v) || __builtin_add_overflow(v, part, &v))
		return -ERANGE;

	*ret = v;
	return 0;
}

int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
	static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

	for (size_t i = 0; i < ELEMENTSOF(yes); i++)
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
	for (size_t i = 0; i < ELEMENTSOF(no); i++)
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	return -EINVAL;
}

const char *format_size(char *buf, size_t buflen, uint64_t bytes)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	uint64_t unit = 1;
	int i;

	if (bytes < KIB) {
		snprintf(buf, buflen, "%" PRIu64 " B", bytes);
		return buf;
	}

	/* Largest unit not above the value; units[i] is 1024^(i+1). */
	for (i = 0; i < (int)ELEMENTSOF(units) - 1 && bytes / KIB >= unit * KIB; i++)
		unit *= KIB;
	unit *= KIB;

	/*
	 * One decimal, rounded down, so a size is never shown larger than it is: one byte short of 2 GiB
	 * is "1.9 GiB", not "2 GiB". The remainder is below 2^60, so times ten still fits.
	 */
	uint64_t whole = bytes / unit, tenths = bytes % unit * 10 / unit;
	if (tenths == 0)
		snprintf(buf, buflen, "%" PRIu64 " %s", whole, units[i]);
	else
		snprintf(buf, buflen, "%" PRIu64 ".%" PRIu64 " %s", whole, tenths, units[i]);
	return buf;
}
