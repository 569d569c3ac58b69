/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The copy-on-write backend: a view over any lower backend, its writes kept in an overlay (cow.c)
 * and its reads taken from the overlay or the lower backend, which it reaches only through the
 * backend calls (backend.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/backend.h"
#include "server/cow.h"

static int view_pread(struct backend *b, void *buf, size_t len, uint64_t offset)
{
	return cow_pread(b->priv, buf, len, offset);
}

static int view_pwrite(struct backend *b, const void *buf, size_t len, uint64_t offset, bool fua)
{
	return cow_pwrite(b->priv, buf, len, offset, fua);
}

static int view_flush(struct backend *b)
{
	return cow_flush(b->priv);
}

static int view_trim(struct backend *b, uint64_t offset, uint64_t len, bool fua)
{
	return cow_trim(b->priv, offset, len, fua);
}

static int view_zero(struct backend *b, uint64_t offset, uint64_t len, bool may_punch,
		     bool fast_only, bool fua)
{
	return cow_zero(b->priv, offset, len, may_punch, fast_only, fua);
}

/* Prefetching is for the base: the overlay is written, so recent. */
static int view_cache(struct backend *b, uint64_t offset, uint64_t len)
{
	return backend_cache(b->lower, offset, len);
}

static int view_extent(struct backend *b, uint64_t offset, uint64_t len, bool *ret_hole,
		       uint64_t *ret_len)
{
	return cow_extent(b->priv, offset, len, ret_hole, ret_len);
}

static void view_close(struct backend *b)
{
	cow_close(b->priv);
}

static const struct backend_ops cow_ops = {
	.name = "copy-on-write",
	.pread = view_pread,
	.pwrite = view_pwrite,
	.flush = view_flush,
	.trim = view_trim,
	.zero = view_zero,
	.cache = view_cache,
	.extent = view_extent,
	.close = view_close,
};

static int open_view(struct backend *lower, const char *overlay_path, const char *dir,
		     struct backend **ret)
{
	_cleanup_(backend_closep) struct backend *b = backend_new(&cow_ops);
	struct cow *c;
	int r;

	if (!b)
		return -ENOMEM;
	b->lower = lower;
	b->size = lower->size;
	b->sync = lower->sync;
	b->can_trim = true; /* the overlay can always zero what it is asked to drop */
	b->can_extents = true;
	b->rotational = lower->rotational;
	b->may_block = lower->may_block || overlay_path || dir;
	b->alignment = lower->alignment;
	b->description = strdup(lower->description);
	if (!b->description)
		return -ENOMEM;
	r = dir ? cow_open_private(lower, dir, &c) : cow_open(lower, overlay_path, &c);
	if (r < 0)
		return r;
	b->priv = c;
	*ret = TAKE_PTR(b);
	return 0;
}

int cow_backend_open(struct backend *lower, const char *overlay_path, struct backend **ret)
{
	return open_view(lower, overlay_path, NULL, ret);
}

int cow_backend_open_in(struct backend *lower, const char *dir, struct backend **ret)
{
	return open_view(lower, NULL, dir, ret);
}
