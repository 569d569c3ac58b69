/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A copy-on-write overlay over a read-only base backend.
 *
 * Writes land in an overlay file (anonymous memory, discarded when the overlay is closed, or a named
 * file that is kept); a bitmap of COW_BLOCK_SIZE blocks records which blocks the overlay holds. Reads
 * take each block from the overlay when it holds it and from the base otherwise. A write that covers
 * only part of a block first copies the block from the base. The base is never written.
 *
 * Every function is thread-safe, returns 0 or a negative errno, and mirrors the backend_* call of the
 * same name (backend.h); the view above wraps them as a backend.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

#define COW_BLOCK_SIZE 4096u

struct backend;
struct cow;

/* backend-cow.c: a writable copy-on-write backend over lower (which stays read-only, owned by the caller, and
 * must outlive it), reaching lower only through the backend calls. overlay_path NULL: the overlay
 * lives in memory and is discarded when the view is closed; otherwise it is kept in that file (and
 * PATH.map) and reused by the next run. */
int cow_backend_open(struct backend *lower, const char *overlay_path, struct backend **ret);
/* A private overlay kept in an unnamed file in dir rather than in memory (cowdir). */
int cow_backend_open_in(struct backend *lower, const char *dir, struct backend **ret);

/* cow.c: the overlay itself, under the view. */

/* base stays owned by the caller and must outlive the overlay. path NULL: anonymous overlay. With a
 * path, an existing overlay file of the right size is reused along with its map (PATH.map); otherwise
 * both are created. */
int cow_open(struct backend *base, const char *path, struct cow **ret);
/* Writes the map of a named overlay back to disk, then frees everything. */
/* A private overlay (as path NULL above) whose data lives in an unnamed file in dir instead of
 * memory: for large writes on a machine short of memory (the `cowdir` key). */
int cow_open_private(struct backend *base, const char *dir, struct cow **ret);
struct cow *cow_close(struct cow *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct cow *, cow_close);

int cow_pread(struct cow *c, void *buf, size_t len, uint64_t offset);
int cow_pwrite(struct cow *c, const void *buf, size_t len, uint64_t offset, bool fua);
int cow_flush(struct cow *c);
/* Trimming the overlay zeroes the range in it (the base must not show through). */
int cow_trim(struct cow *c, uint64_t offset, uint64_t len, bool fua);
int cow_zero(struct cow *c, uint64_t offset, uint64_t len, bool may_punch, bool fast_only, bool fua);
/* Data or hole runs as the client sees them: a block is a hole only when neither the overlay holds it
 * nor the base has data there. */
int cow_extent(struct cow *c, uint64_t offset, uint64_t len, bool *ret_hole, uint64_t *ret_len);
