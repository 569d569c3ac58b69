/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The layout of a sharded image, shared by its backend (backend-sharded.c) and its converter
 * (shard-convert.c): a directory holding
 *   nbd-shards   two lines, "size BYTES" and "chunk-size BYTES", written once when it is made;
 *   N.chunk      the bytes [N * chunk-size, (N + 1) * chunk-size) of the image, a sparse file of
 *                that length (the last chunk may be shorter); a missing chunk reads as zeroes.
 * Writing into a missing chunk creates it; TRIM and WRITE_ZEROES of a whole chunk remove its file,
 * so the directory holds files only where the image has data.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHARDS_META "nbd-shards"
#define SHARDS_DEFAULT_CHUNK_SIZE (4u << 20)
/* A chunk is a whole number of 4 KiB pages, from 64 KiB to 1 GiB. */
#define SHARDS_MIN_CHUNK_SIZE (64u << 10)
#define SHARDS_MAX_CHUNK_SIZE (1u << 30)

struct shards_meta {
	uint64_t size;
	uint64_t chunk_size;
};

/* What a well-formed nbd-shards says, for messages about one that is not. */
#define SHARDS_META_EXPECTED "the two lines 'size BYTES' (at least 1) and 'chunk-size BYTES' (a " \
			     "multiple of 4096 from 64 KiB to 1 GiB)"
/* Reads and checks DIR/nbd-shards (dfd: the directory): 0; -ENOENT when it is missing; -EBADMSG
 * when it is malformed. */
int shards_meta_read(int dfd, struct shards_meta *ret);
/* Writes DIR/nbd-shards durably. */
int shards_meta_write(int dfd, const struct shards_meta *m);
/* "N.chunk" into buf. */
void shards_chunk_name(uint64_t index, char *buf, size_t len);
