/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The transaction log of an export (the `transactionlog` key): every request and reply header of
 * every connection, appended to one file in the reference nbd-server's format, so that its
 * nbd-trdump reads it:
 *   request  28 bytes: magic 0x25609513, flags << 16 | type, cookie (8 bytes), offset (8), length (4)
 *   reply    16 bytes: magic 0x67446698, error, cookie (8 bytes)
 * all big-endian, without data and without the handshake. A structured or extended reply is logged
 * as the simple reply it stands for (its final error, 0 on success); a length over 32 bits (extended
 * headers) is logged as 0xffffffff.
 *
 * Each record is one write() to a file opened O_APPEND, so records of concurrent connections never
 * interleave; a failed write is logged once and the log is then left alone.
 */
#pragma once

#include <stdint.h>

#include "proto/transmission.h"

struct translog;

int translog_open(const char *path, struct translog **ret);
struct translog *translog_close(struct translog *t);
void translog_request(struct translog *t, const struct nbd_request *req);
void translog_reply(struct translog *t, uint64_t cookie, uint32_t error);
