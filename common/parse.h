/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Strict, overflow-safe parsing of numbers, sizes and booleans from command lines and config files.
 *
 * All parsers accept the whole string or nothing: leading whitespace, a sign on an unsigned value,
 * trailing characters, an empty string and out-of-range values are errors. They return 0 and write
 * *ret only on success, or -EINVAL (not a number) / -ERANGE (does not fit).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/macro.h"

/* Decimal, or hexadecimal with a 0x prefix. */
int parse_u64(const char *s, uint64_t *ret) _nonnull_(1, 2);
int parse_u32(const char *s, uint32_t *ret) _nonnull_(1, 2);
int parse_u16(const char *s, uint16_t *ret) _nonnull_(1, 2);
int parse_int(const char *s, int *ret) _nonnull_(1, 2);

/*
 * A decimal byte count with an optional suffix right after the digits: none or "B" (bytes); "k"/"K"/
 * "KiB", "M"/"MiB", "G"/"GiB", "T"/"TiB", "P"/"PiB", "E"/"EiB" are powers of 1024; "kB", "MB", "GB",
 * "TB", "PB", "EB" are powers of 1000. A decimal fraction is allowed with a multiplier ("1.5G") when
 * the result is a whole number of bytes; "1.5", "1.5B" and "0.3k" are errors.
 */
int parse_size(const char *s, uint64_t *ret) _nonnull_(1, 2);

/* "1", "yes", "y", "true", "t", "on" and "0", "no", "n", "false", "f", "off", in any case. */
int parse_bool(const char *s, bool *ret) _nonnull_(1, 2);

/* Formats bytes as "1.5 GiB" style text into buf (at least 16 bytes); returns buf. One decimal,
 * rounded down so a size never looks larger than it is, and none when it is 0 ("4 GiB", "512 B"). */
const char *format_size(char *buf, size_t buflen, uint64_t bytes) _nonnull_(1);
