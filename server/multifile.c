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
#include "server/multifile.h"

/* Beyond this many parts a directory is more likely a mistake than an export. */
#define MULTIFILE_MAX_PARTS 65536
#define ZERO_CHUNK (1u << 20)

struct part {
	int fd;
	uint64_t start, size;
};

struct multifile {
	struct part *parts;
	size_t n;
};

static int add_part(struct multifile *m, int fd, uint64_t start, uint64_t size)
{
	struct part *grown = realloc(m->parts, (m->n + 1) * sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	m->parts = grown;
	m->parts[m->n++] = (struct part){ .fd = fd, .start = start, .size = size };
	return 0;
}

int multifile_open(const char *path, bool read_only, bool direct, struct multifile **ret,
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

struct multifile *multifile_close(struct multifile *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		close(m->parts[i].fd);
	free(m->parts);
	free(m);
	return NULL;
}

size_t multifile_parts(const struct multifile *m)
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

int multifile_pread(struct multifile *m, void *buf, size_t len, uint64_t offset)
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

int multifile_pwrite(struct multifile *m, const void *buf, size_t len, uint64_t offset)
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

int multifile_flush(struct multifile *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (fdatasync(m->parts[i].fd) < 0)
			return negative_errno();
	return 0;
}

static int write_zeros(int fd, uint64_t offset, uint64_t len)
{
	_cleanup_free_ void *zeros = calloc(1, (size_t)MIN(len, (uint64_t)ZERO_CHUNK));

	if (!zeros)
		return -ENOMEM;
	while (len) {
		size_t n = (size_t)MIN(len, (uint64_t)ZERO_CHUNK);
		int r = pwrite_full(fd, zeros, n, offset);

		if (r < 0)
			return r;
		offset += n;
		len -= n;
	}
	return 0;
}

int multifile_zero(struct multifile *m, uint64_t offset, uint64_t len, bool punch, bool fast_only)
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
		r = write_zeros(p->fd, off, n);
		if (r < 0)
			return r;
	}
	return 0;
}
