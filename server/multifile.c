/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "common/macro.h"
#include "server/backend.h"
#include "server/multifile.h"

/* Beyond this many parts a directory is more likely a mistake than an export. */
#define MULTIFILE_MAX_PARTS 65536

struct part {
	int fd;
	uint64_t start, size;
};

struct multifile {
	struct part *parts;
	size_t n;
};

static struct multifile *multifile_close(struct multifile *m);

static int add_part(struct multifile *m, int fd, uint64_t start, uint64_t size)
{
	struct part *grown = realloc(m->parts, (m->n + 1) * sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	m->parts = grown;
	m->parts[m->n++] = (struct part){ .fd = fd, .start = start, .size = size };
	return 0;
}

static int multifile_open(const char *path, bool read_only, bool direct, struct multifile **ret,
			  uint64_t *ret_size)
{
	struct multifile *m = calloc(1, sizeof(*m));
	uint64_t total = 0;
	int flags = O_CLOEXEC | (read_only ? O_RDONLY : O_RDWR) | (direct ? O_DIRECT : 0);
	int r = 0;

	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < MULTIFILE_MAX_PARTS; i++) {
		_cleanup_free_ char *name = NULL;
		struct stat st;
		int fd;

		if (asprintf(&name, "%s.%zu", path, i) < 0) {
			name = NULL;
			r = -ENOMEM;
			break;
		}
		fd = open(name, flags);
		if (fd < 0) {
			/* The first missing number ends the list; a missing PATH.0 is no export. */
			r = errno == ENOENT && i > 0 ? 0 : -errno;
			break;
		}
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			r = S_ISREG(st.st_mode) ? -errno : -EINVAL;
			close(fd);
			break;
		}
		r = add_part(m, fd, total, (uint64_t)st.st_size);
		if (r < 0) {
			close(fd);
			break;
		}
		total += (uint64_t)st.st_size;
	}
	if (r < 0) {
		multifile_close(m);
		return r;
	}
	*ret = m;
	*ret_size = total;
	return 0;
}

static struct multifile *multifile_close(struct multifile *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		safe_close(m->parts[i].fd);
	free(m->parts);
	free(m);
	return NULL;
}

static size_t multifile_parts(const struct multifile *m)
{
	return m->n;
}

/* The part holding offset (the caller checked offset < the total). Empty parts are never found. */
static size_t find_part(const struct multifile *m, uint64_t offset)
{
	size_t lo = 0, hi = m->n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->parts[mid].start <= offset)
			lo = mid;
		else
			hi = mid;
	}
	while (lo + 1 < m->n && offset >= m->parts[lo].start + m->parts[lo].size)
		lo++;
	return lo;
}

/* Calls fn for each piece of [offset, offset+len) with the part, the offset in it and the length. */
#define FOR_EACH_PIECE(m, offset, len, part, off, n)                                              \
	for (uint64_t _pos = (offset), _end = (offset) + (len), n = 0, off = 0;                   \
	     _pos < _end && ((part) = &(m)->parts[find_part((m), _pos)],                          \
			    off = _pos - (part)->start,                                           \
			    n = MIN(_end - _pos, (part)->size - off), 1);                         \
	     _pos += n)

static int multifile_pread(struct multifile *m, void *buf, size_t len, uint64_t offset)
{
	struct part *p;
	uint8_t *b = buf;

	FOR_EACH_PIECE(m, offset, len, p, off, n) {
		ssize_t r = pread_full(p->fd, b, (size_t)n, off);

		if (r < 0)
			return (int)r;
		/* A part that shrank since it was opened reads as zeros past its end. */
		if ((uint64_t)r < n)
			memset(b + r, 0, (size_t)(n - (uint64_t)r));
		b += n;
	}
	return 0;
}

static int multifile_pwrite(struct multifile *m, const void *buf, size_t len, uint64_t offset)
{
	const uint8_t *b = buf;
	struct part *p;

	FOR_EACH_PIECE(m, offset, len, p, off, n) {
		int r = pwrite_full(p->fd, b, (size_t)n, off);

		if (r < 0)
			return r;
		b += n;
	}
	return 0;
}

static int multifile_flush(struct multifile *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (fdatasync(m->parts[i].fd) < 0)
			return negative_errno();
	return 0;
}

static int multifile_zero(struct multifile *m, uint64_t offset, uint64_t len, bool punch,
			  bool fast_only)
{
	struct part *p;

	FOR_EACH_PIECE(m, offset, len, p, off, n) {
		int r;

		if (punch && fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				       (off_t)n) == 0)
			continue;
		if (fallocate(p->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			      (off_t)n) == 0)
			continue;
		if (fast_only)
			return -ENOTSUP;
		r = pwrite_zeros(p->fd, off, n);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- as a backend ---- */

static int mf_pread(struct backend *b, void *buf, size_t len, uint64_t offset)
{
	return multifile_pread(b->priv, buf, len, offset);
}

static int mf_flush(struct backend *b)
{
	if (b->read_only)
		return 0;
	return multifile_flush(b->priv);
}

static int mf_pwrite(struct backend *b, const void *buf, size_t len, uint64_t offset, bool fua)
{
	int r;

	if (b->read_only)
		return -EPERM;
	r = multifile_pwrite(b->priv, buf, len, offset);
	if (r < 0)
		return r;
	return (fua || b->sync) ? mf_flush(b) : 0;
}

static int mf_trim(struct backend *b, uint64_t offset, uint64_t len, bool fua)
{
	int r;

	if (b->read_only)
		return -EPERM;
	if (len == 0 || !b->can_trim)
		return 0;
	r = multifile_zero(b->priv, offset, len, true, true);
	if (r == -ENOTSUP)
		r = 0; /* trimming is advisory */
	if (r == 0 && (fua || b->sync))
		r = mf_flush(b);
	return r;
}

static int mf_zero(struct backend *b, uint64_t offset, uint64_t len, bool may_punch, bool fast_only,
		   bool fua)
{
	int r;

	if (b->read_only)
		return -EPERM;
	if (len == 0)
		return 0;
	r = multifile_zero(b->priv, offset, len, may_punch, fast_only);
	if (r < 0)
		return r;
	return (fua || b->sync) ? mf_flush(b) : 0;
}

static void mf_close(struct backend *b)
{
	multifile_close(b->priv);
}

/* No extent operation: the parts' holes are not looked for, everything is data. No cache either:
 * there is no single file to advise. */
static const struct backend_ops multifile_ops = {
	.name = "multifile",
	.pread = mf_pread,
	.pwrite = mf_pwrite,
	.flush = mf_flush,
	.trim = mf_trim,
	.zero = mf_zero,
	.close = mf_close,
};

int multifile_backend_open(const struct backend_open_args *args, struct backend **ret)
{
	_cleanup_(backend_closep) struct backend *b = backend_new(&multifile_ops);
	struct multifile *m;
	int r;

	if (!b)
		return -ENOMEM;
	r = multifile_open(args->path, args->read_only, args->direct, &m, &b->size);
	if (r < 0)
		return r;
	b->priv = m;
	b->read_only = args->read_only;
	b->sync = args->sync;
	b->direct = args->direct;
	b->may_block = true;
	b->can_trim = true;
	if (args->direct)
		b->alignment = 4096;
	if (asprintf(&b->description, "%s.0 ... .%zu", args->path, multifile_parts(m) - 1) < 0) {
		b->description = NULL;
		return -ENOMEM;
	}
	*ret = TAKE_PTR(b);
	return 0;
}
