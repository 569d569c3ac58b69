/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The front of every backend (backend.h): each call goes to the backend's own operation.
 */
#include <errno.h>
#include <stdlib.h>

#include "server/backend.h"

struct backend *backend_new(const struct backend_ops *ops)
{
	struct backend *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->ops = ops;
	b->fd = -EBADF;
	b->alignment = 1;
	return b;
}

struct backend *backend_close(struct backend *b)
{
	if (!b)
		return NULL;
	b->ops->close(b);
	free(b->description);
	free(b);
	return NULL;
}

int backend_pread(struct backend *b, void *buf, size_t len, uint64_t offset)
{
	return b->ops->pread(b, buf, len, offset);
}

int backend_pwrite(struct backend *b, const void *buf, size_t len, uint64_t offset, bool fua)
{
	return b->ops->pwrite(b, buf, len, offset, fua);
}

int backend_flush(struct backend *b)
{
	return b->ops->flush(b);
}

int backend_trim(struct backend *b, uint64_t offset, uint64_t len, bool fua)
{
	return b->ops->trim(b, offset, len, fua);
}

int backend_zero(struct backend *b, uint64_t offset, uint64_t len, bool may_punch, bool fast_only,
		 bool fua)
{
	return b->ops->zero(b, offset, len, may_punch, fast_only, fua);
}

int backend_cache(struct backend *b, uint64_t offset, uint64_t len)
{
	/* Only advice: its failure changes nothing the client can observe. */
	return b->ops->cache ? b->ops->cache(b, offset, len) : 0;
}

int backend_extent(struct backend *b, uint64_t offset, uint64_t len, bool *ret_hole,
		   uint64_t *ret_len)
{
	int r;

	if (!b->ops->extent) {
		*ret_hole = false;
		*ret_len = len;
		return 0;
	}
	r = b->ops->extent(b, offset, len, ret_hole, ret_len);
	/* An empty run (a hole punched between a backend's SEEK_DATA and SEEK_HOLE) would never move
	 * a caller's loop on: the range is then data, which reads correctly whatever it holds. */
	if (r == 0 && (*ret_len == 0 || *ret_len > len)) {
		*ret_hole = false;
		*ret_len = len;
	}
	return r;
}

int backend_read_extent(struct backend *b, uint64_t offset, uint64_t len, bool *ret_hole,
			uint64_t *ret_len)
{
	/* Only backends that find out (backend-file.c) ever set dense. */
	if (atomic_load(&b->dense)) {
		*ret_hole = false;
		*ret_len = len;
		return 0;
	}
	return backend_extent(b, offset, len, ret_hole, ret_len);
}
