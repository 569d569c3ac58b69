/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Types shared by the NBD codecs.
 *
 * Decoders return 0 (or the number of bytes a header took) on success and a negative errno on malformed
 * input, never reading outside the buffer they were given:
 *   -EBADMSG   truncated, trailing bytes, inconsistent lengths, forbidden values (a NUL in a string)
 *   -EPROTO    wrong magic, or a reply that does not answer what was asked
 *   -EMSGSIZE  a length beyond what the protocol or the caller allows
 *   -EPROTONOSUPPORT  an oldstyle server
 * Encoders that write into a caller's fixed buffer return the bytes written or -ENOBUFS; encoders that
 * append to a struct buffer return 0 or -ENOMEM (and -EINVAL / -EOVERFLOW for values that cannot be
 * represented on the wire).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/nbd-protocol.h"

/* A string inside a received message: not NUL-terminated, valid while the message buffer is. */
struct nbd_string {
	const char *ptr;
	uint32_t len;
};

/* Names are limited to NBD_MAX_STRING bytes and may not contain NUL. */
int nbd_string_check(const char *p, size_t len);
/* Copies a received string into a new NUL-terminated allocation; NULL on out of memory. */
char *nbd_string_dup(struct nbd_string s);
/* True when s equals the NUL-terminated c. */
bool nbd_string_eq(struct nbd_string s, const char *c);
