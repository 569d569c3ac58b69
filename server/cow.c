/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Copy-on-write overlay (cow.h).
 *
 * The map has one bit per COW_BLOCK_SIZE block of the export: set, the overlay file holds the
 * block; clear, the base does. The invariant everything rests on: a bit is set only after the
 * overlay holds the whole block (written, copied in from the base, or zeroed), and a bit is never
 * cleared. So a reader that sees a bit set may read the overlay, one that sees it clear may read
 * the base (which never changes), and a write that sees every bit of its blocks already set may go
 * straight to the overlay.
 *
 * Locking:
 * - c->lock guards the map, its generation counter and the list of busy block ranges. It is held
 *   only to test or set bits and to enter or leave a busy range, never across I/O.
 * - A write, trim or zero that finds any bit of its blocks clear first claims its block range in
 *   c->busy, waiting (c->idle) while another claimed range overlaps it. Only a holder of a range
 *   sets bits in it, so a copy-in (read the base block, merge, write the whole block) can neither
 *   race another copy-in of the same block nor a full-block write whose data it would overwrite
 *   with the base's. Writes whose blocks are all in the overlay already, and all reads, claim
 *   nothing: bits are never cleared, so no copy-in can be under way in a block they find set.
 * - c->persist_lock serialises writing the map file, so that two flushes never share PATH.map.tmp.
 *
 * On disk, a named overlay is PATH, a sparse file as large as the base, and PATH.map, the raw
 * bitmap: ceil(blocks / 8) bytes, block i in bit (i % 8) of byte i / 8. The map is replaced by
 * rename, and describes only data that was fdatasync()ed before it was snapshotted: after a crash
 * a block reads either its last flushed contents or the base, never a block the map claims but the
 * disk lacks. A new overlay gets its (empty) map before the overlay file exists, so an overlay
 * without a map is never one of ours, and is refused rather than guessed at.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "server/backend.h"
#include "server/cow.h"
#include "server/cow-overlay.h"

/* Zeros for writing zeros by hand: no allocation, and no larger than a partial block needs. */
static const uint8_t zeros[64 * 1024];

/* ---- the map (callers hold c->lock) ---- */

static bool bit_test(const struct cow *c, uint64_t block)
{
	return c->map[block / 8] & (1u << (block % 8));
}

/* The first block after `first` (at most last + 1) whose bit differs from first's. */
static uint64_t run_end(const struct cow *c, uint64_t first, uint64_t last)
{
	bool set = bit_test(c, first);
	uint8_t same = set ? 0xff : 0x00;
	uint64_t b = first + 1;

	while (b <= last) {
		/* Whole bytes at a time where possible: maps of large exports are long. */
		if (b % 8 == 0 && last - b >= 7 && c->map[b / 8] == same) {
			b += 8;
			continue;
		}
		if (bit_test(c, b) != set)
			break;
		b++;
	}
	return MIN(b, last + 1);
}

static bool all_set(const struct cow *c, uint64_t first, uint64_t last)
{
	return bit_test(c, first) && run_end(c, first, last) > last;
}

static void set_bits(struct cow *c, uint64_t first, uint64_t last)
{
	bool changed = false;

	pthread_mutex_lock(&c->lock);
	for (uint64_t b = first; b <= last;) {
		/* Whole bytes at a time: trimming a large export sets millions of bits. */
		if (b % 8 == 0 && last - b >= 7) {
			changed |= c->map[b / 8] != 0xff;
			c->map[b / 8] = 0xff;
			b += 8;
			continue;
		}
		if (!bit_test(c, b)) {
			c->map[b / 8] |= (uint8_t)(1u << (b % 8));
			changed = true;
		}
		b++;
	}
	if (changed)
		c->generation++;
	pthread_mutex_unlock(&c->lock);
}

static bool test_one(struct cow *c, uint64_t block)
{
	bool set;

	pthread_mutex_lock(&c->lock);
	set = bit_test(c, block);
	pthread_mutex_unlock(&c->lock);
	return set;
}

/* ---- busy ranges (callers hold c->lock) ---- */

static bool overlaps_busy(const struct cow *c, const struct busy *r)
{
	for (const struct busy *o = c->busy; o; o = o->next)
		if (o->first <= r->last && r->first <= o->last)
			return true;
	return false;
}

static void busy_enter(struct cow *c, struct busy *r)
{
	while (overlaps_busy(c, r))
		pthread_cond_wait(&c->idle, &c->lock);
	r->next = c->busy;
	c->busy = r;
}

static void busy_leave(struct cow *c, struct busy *r)
{
	for (struct busy **p = &c->busy; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	pthread_cond_broadcast(&c->idle);
}

/* ---- overlay I/O ---- */

static int overlay_pread(struct cow *c, void *buf, size_t len, uint64_t offset)
{
	ssize_t n = pread_full(c->fd, buf, len, offset);

	if (n < 0)
		return (int)n;
	/* The overlay shrank: what is gone reads as zeros, as in backend.c. */
	memset((uint8_t *)buf + n, 0, len - (size_t)n);
	return 0;
}

static int overlay_pwrite(struct cow *c, const void *buf, size_t len, uint64_t offset)
{
	return pwrite_full(c->fd, buf, len, offset);
}

/* Makes [offset, offset+len) of the overlay read as zeros. Punching is "fast", and so is ZERO_RANGE
 * (which tmpfs, and so an anonymous overlay, lacks); writing zeros is not. */
static int overlay_zero(struct cow *c, uint64_t offset, uint64_t len, bool may_punch,
			bool fast_only)
{
	if (may_punch && fallocate(c->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
				   (off_t)len) == 0)
		return 0;
	if (fallocate(c->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)len) == 0)
		return 0;
	if (fast_only)
		return -ENOTSUP;
	return pwrite_zeros(c->fd, offset, len);
}

static int cow_open_in(struct backend *base, const char *path, const char *dir,
		       struct cow **ret);

int cow_open(struct backend *base, const char *path, struct cow **ret)
{
	return cow_open_in(base, path, NULL, ret);
}

int cow_open_private(struct backend *base, const char *dir, struct cow **ret)
{
	return cow_open_in(base, NULL, dir, ret);
}

static int cow_open_in(struct backend *base, const char *path, const char *dir,
		       struct cow **ret)
{
	_cleanup_(cow_closep) struct cow *c = NULL;
	int r;

	if (!base || base->size > (uint64_t)INT64_MAX)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -EBADF;
	c->base = base;
	c->size = base->size;
	c->blocks = DIV_ROUND_UP(c->size, (uint64_t)COW_BLOCK_SIZE);
#if SIZE_MAX < UINT64_MAX
	if (DIV_ROUND_UP(c->blocks, 8) > SIZE_MAX)
		return -EFBIG;
#endif
	c->map_bytes = (size_t)DIV_ROUND_UP(c->blocks, 8);
	c->map = calloc(MAX(c->map_bytes, (size_t)1), 1);
	if (!c->map)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->idle, NULL);
	pthread_mutex_init(&c->persist_lock, NULL);

	if (path) {
		r = cow_overlay_open_named(c, path);
		if (r < 0)
			return r;
	} else {
		c->fd = dir ? cow_overlay_open_private_file(dir) : memfd_create("nbd-cow", MFD_CLOEXEC);
		if (c->fd < 0)
			return dir ? c->fd : negative_errno();
		if (ftruncate(c->fd, (off_t)c->size) < 0)
			return negative_errno();
	}
	c->opened = true;
	*ret = TAKE_PTR(c);
	return 0;
}

struct cow *cow_close(struct cow *c)
{
	if (!c)
		return NULL;
	/* Nobody is left to hear of a failure here: a caller that cares flushes first. */
	if (c->opened)
		(void)cow_overlay_persist(c);
	safe_close(c->fd);
	pthread_mutex_destroy(&c->persist_lock);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->lock);
	free(c->map);
	free(c->path);
	free(c->map_path);
	free(c->tmp_path);
	free(c->dir);
	free(c);
	return NULL;
}

/* ---- requests ---- */

static bool in_range(const struct cow *c, uint64_t offset, uint64_t len)
{
	return offset <= c->size && len <= c->size - offset;
}

int cow_pread(struct cow *c, void *buf, size_t len, uint64_t offset)
{
	uint8_t *p = buf;
	uint64_t end = offset + len;

	if (!in_range(c, offset, len))
		return -EINVAL;
	while (offset < end) {
		uint64_t block = offset / COW_BLOCK_SIZE, last = (end - 1) / COW_BLOCK_SIZE;
		uint64_t stop, n;
		bool in_overlay;
		int r;

		pthread_mutex_lock(&c->lock);
		in_overlay = bit_test(c, block);
		stop = run_end(c, block, last);
		pthread_mutex_unlock(&c->lock);

		n = MIN(end, stop * COW_BLOCK_SIZE) - offset;
		if (in_overlay)
			r = overlay_pread(c, p, (size_t)n, offset);
		else
			r = backend_pread(c->base, p, (size_t)n, offset);
		if (r < 0)
			return r;
		p += n;
		offset += n;
	}
	return 0;
}

/* Part of one block, [offset, offset+len), with `data` (NULL: zeros). A block still in the base is
 * copied in whole first; the caller holds a busy range over it. */
static int modify_partial(struct cow *c, uint64_t block, const uint8_t *data, uint64_t offset,
			  size_t len, uint8_t **scratch)
{
	uint64_t start = block * COW_BLOCK_SIZE;
	size_t block_len = (size_t)MIN((uint64_t)COW_BLOCK_SIZE, c->size - start), read_len;
	int r;

	if (test_one(c, block))
		return overlay_pwrite(c, data ? data : zeros, len, offset);

	if (!*scratch) {
		void *p;

		/* Aligned, so that an O_DIRECT base can read straight into it. */
		if (posix_memalign(&p, COW_BLOCK_SIZE, COW_BLOCK_SIZE) != 0)
			return -ENOMEM;
		*scratch = p;
	}
	/* The short last block of an O_DIRECT base is read to its alignment; the overlay gets only
	 * what lies inside the export. */
	read_len = block_len;
	if (c->base->direct && c->base->alignment > 1 && c->base->alignment <= COW_BLOCK_SIZE)
		read_len = DIV_ROUND_UP(block_len, (size_t)c->base->alignment) * c->base->alignment;
	r = backend_pread(c->base, *scratch, read_len, start);
	if (r < 0)
		return r;
	if (data)
		memcpy(*scratch + (offset - start), data, len);
	else
		memset(*scratch + (offset - start), 0, len);
	r = overlay_pwrite(c, *scratch, block_len, start);
	if (r < 0)
		return r;
	set_bits(c, block, block);
	return 0;
}

/* Writes `data` (NULL: zeros) to [offset, offset+len), which is inside the export and not empty.
 * Full blocks go to the overlay in one call, partial ones (at most the first and the last) one at a
 * time. */
static int modify_blocks(struct cow *c, const uint8_t *data, uint64_t offset, uint64_t len,
			 bool may_punch, bool fast_only)
{
	_cleanup_free_ uint8_t *scratch = NULL;
	uint64_t end = offset + len, last = (end - 1) / COW_BLOCK_SIZE;
	/* The blocks the range covers whole: the short last block counts when the range reaches the
	 * end of the export. */
	uint64_t full_end = end == c->size ? c->blocks : end / COW_BLOCK_SIZE;
	int r;

	for (uint64_t b = offset / COW_BLOCK_SIZE; b <= last;) {
		uint64_t start = b * COW_BLOCK_SIZE, stop = MIN(start + COW_BLOCK_SIZE, c->size);
		uint64_t lo = MAX(offset, start), hi = MIN(end, stop);

		if (lo == start && hi == stop) {
			uint64_t span = MIN(full_end * COW_BLOCK_SIZE, c->size) - start;

			if (data)
				r = overlay_pwrite(c, data + (start - offset), (size_t)span, start);
			else
				r = overlay_zero(c, start, span, may_punch, fast_only);
			if (r < 0)
				return r;
			set_bits(c, b, full_end - 1);
			b = full_end;
		} else {
			r = modify_partial(c, b, data ? data + (lo - offset) : NULL, lo,
					   (size_t)(hi - lo), &scratch);
			if (r < 0)
				return r;
			b++;
		}
	}
	return 0;
}

static int modify(struct cow *c, const uint8_t *data, uint64_t offset, uint64_t len,
		  bool may_punch, bool fast_only, bool fua)
{
	struct busy range;
	bool claimed;
	int r;

	if (!in_range(c, offset, len))
		return -EINVAL;
	if (len == 0)
		return fua ? cow_flush(c) : 0;
	range = (struct busy){ .first = offset / COW_BLOCK_SIZE,
			       .last = (offset + len - 1) / COW_BLOCK_SIZE };

	pthread_mutex_lock(&c->lock);
	claimed = !all_set(c, range.first, range.last);
	if (claimed)
		busy_enter(c, &range);
	pthread_mutex_unlock(&c->lock);

	r = modify_blocks(c, data, offset, len, may_punch, fast_only);

	if (claimed) {
		pthread_mutex_lock(&c->lock);
		busy_leave(c, &range);
		pthread_mutex_unlock(&c->lock);
	}
	if (r == 0 && fua)
		r = cow_flush(c);
	return r;
}

int cow_pwrite(struct cow *c, const void *buf, size_t len, uint64_t offset, bool fua)
{
	return modify(c, buf, offset, len, false, false, fua);
}

int cow_flush(struct cow *c)
{
	return cow_overlay_persist(c);
}

int cow_trim(struct cow *c, uint64_t offset, uint64_t len, bool fua)
{
	return modify(c, NULL, offset, len, true, false, fua);
}

int cow_zero(struct cow *c, uint64_t offset, uint64_t len, bool may_punch, bool fast_only, bool fua)
{
	return modify(c, NULL, offset, len, may_punch, fast_only, fua);
}

/* Like backend_extent() on the overlay file, over a run of blocks the overlay holds: a hole there
 * reads as zeros, whatever the base has. */
static int overlay_extent(struct cow *c, uint64_t offset, uint64_t len, bool *ret_hole,
			  uint64_t *ret_len)
{
	uint64_t end = offset + len;
	off_t data, hole;

	data = lseek(c->fd, (off_t)offset, SEEK_DATA);
	if (data < 0) {
		if (errno == ENXIO) {
			*ret_hole = true;
			*ret_len = len;
			return 0;
		}
		/* No SEEK_DATA here: everything is data, which is never wrong. */
		if (errno == EINVAL || errno == EOPNOTSUPP)
			goto data;
		return negative_errno();
	}
	if ((uint64_t)data > offset) {
		*ret_hole = true;
		*ret_len = MIN((uint64_t)data, end) - offset;
		return 0;
	}
	hole = lseek(c->fd, (off_t)offset, SEEK_HOLE);
	if (hole < 0)
		return negative_errno();
	if ((uint64_t)hole > offset) {
		*ret_hole = false;
		*ret_len = MIN((uint64_t)hole, end) - offset;
		return 0;
	}
data:
	*ret_hole = false;
	*ret_len = len;
	return 0;
}

int cow_extent(struct cow *c, uint64_t offset, uint64_t len, bool *ret_hole, uint64_t *ret_len)
{
	uint64_t first, stop, run;
	bool in_overlay;

	if (!in_range(c, offset, len))
		return -EINVAL;
	if (len == 0) {
		*ret_hole = false;
		*ret_len = 0;
		return 0;
	}
	first = offset / COW_BLOCK_SIZE;
	pthread_mutex_lock(&c->lock);
	in_overlay = bit_test(c, first);
	stop = run_end(c, first, (offset + len - 1) / COW_BLOCK_SIZE);
	pthread_mutex_unlock(&c->lock);

	run = MIN(offset + len, stop * COW_BLOCK_SIZE) - offset;
	if (in_overlay)
		return overlay_extent(c, offset, run, ret_hole, ret_len);
	return backend_extent(c->base, offset, run, ret_hole, ret_len);
}

