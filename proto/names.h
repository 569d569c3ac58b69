/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Names of protocol values for messages and tools, and the mapping between protocol errors and the
 * host's errno values.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Each returns the spec's name without its prefix ("GO", "ERR_UNSUP", "BLOCK_SIZE"), or NULL. */
const char *nbd_option_name(uint32_t option);
const char *nbd_reply_type_name(uint32_t type);
const char *nbd_info_name(uint16_t type);
const char *nbd_cmd_name(uint16_t type);
const char *nbd_chunk_type_name(uint16_t type);
const char *nbd_error_name(uint32_t error);

/* What an option error means to a person, e.g. "the server does not know this export". */
const char *nbd_reply_error_description(uint32_t type);

/* "flush,fua,trim,..." for transmission flags, lower case, in bit order, unknown bits as hex;
 * "none" when no flag beyond HAS_FLAGS is set. Returns buf. */
const char *nbd_transmission_flags_string(uint16_t flags, char *buf, size_t len);
/* Parses a name from nbd_transmission_flags_string() (e.g. "read-only") into its bit, or -EINVAL. */
int nbd_transmission_flag_from_name(const char *name);

/* Host errno (either sign) to the protocol error a server sends: errors without their own protocol
 * value become EIO. And back: an unknown protocol error becomes EINVAL, as the spec asks of clients. */
uint32_t nbd_error_from_errno(int err);
int nbd_error_to_errno(uint32_t error);
/* An option reply error to a negative errno for callers (ERR_UNKNOWN → -ENOENT, ...). */
int nbd_reply_error_to_errno(uint32_t type);
