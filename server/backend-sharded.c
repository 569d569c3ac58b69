/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A sharded image (shards.h) as a backend. Chunks are opened on first use and their descriptors
 * kept, up to MAX_OPEN; past that a chunk is opened for each request, and one written that way is
 * marked, for the next flush to open and sync it again. A lock orders the creation
 * and removal of chunk files against the I/O that uses them: I/O takes it shared, creating or
 * removing a chunk exclusive, so that no descriptor is closed while a request reads through it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/macro.h"
#include "server/backend-sharded.h"
#include "server/shards.h"

#define MAX_OPEN 1024
/* fds[] entries: a descriptor, or one of these. */
#define CHUNK_UNKNOWN (-1)
#define CHUNK_MISSING (-2)
#define CHUNK_BAD (-EBADMSG) /* not a regular file of its chunk's length: its I/O fails */

struct sharded {
	int dfd;
	char *path;
	struct shards_meta meta;
	uint64_t n_chunks;
	int *fds;
	size_t n_open;
	/* Bit per chunk written, punched or zeroed through a descriptor closed after the request:
	 * the flush syncs these besides the kept ones. */
	uint64_t *unsynced;
	bool read_only;
	bool dir_dirty; /* chunks were created or removed since the last flush */
	pthread_rwlock_t lock;
};

static uint64_t chunk_length(const struct sharded *s, uint64_t index)
{
	return MIN(s->meta.chunk_size, s->meta.size - index * s->meta.chunk_size);
}

static bool chunk_well_formed(const struct sharded *s, int fd, uint64_t index)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	       (uint64_t)st.st_size == chunk_length(s, index);
}

/* The descriptor of chunk index, or CHUNK_MISSING; a negative errno on failure. With the lock held
 * shared: an unknown chunk is looked up under it (open() is safe to race; the loser closes). */
static int chunk_fd(struct sharded *s, uint64_t index, bool *ret_owned)
{
	char name[32];
	int fd, cached = __atomic_load_n(&s->fds[index], __ATOMIC_ACQUIRE);

	*ret_owned = false;
	if (cached != CHUNK_UNKNOWN)
		return cached;
	shards_chunk_name(index, name, sizeof(name));
	fd = openat(s->dfd, name, (s->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT) {
			int r = negative_errno();

			log_warning("Sharded image %s: cannot open %s: %s", s->path, name,
				    strerror(-r));
			return r;
		}
		fd = CHUNK_MISSING;
	} else if (!chunk_well_formed(s, fd, index)) {
		/* Said once: the chunk stays bad (and its I/O failing) until the export is
		 * opened again. */
		close(fd);
		log_warning("Sharded image %s: %s is not a regular file of %" PRIu64 " bytes; its "
			    "range fails with EBADMSG (repair or remove the file, then reload)",
			    s->path, name, chunk_length(s, index));
		fd = CHUNK_BAD;
	} else if (__atomic_load_n(&s->n_open, __ATOMIC_RELAXED) >= MAX_OPEN) {
		*ret_owned = true; /* not kept: the caller closes it */
		return fd;
	}
	cached = CHUNK_UNKNOWN;
	if (__atomic_compare_exchange_n(&s->fds[index], &cached, fd, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE)) {
		if (fd >= 0)
			__atomic_fetch_add(&s->n_open, 1, __ATOMIC_RELAXED);
		return fd;
	}
	if (fd >= 0)
		close(fd);
	return cached;
}

/* Creates chunk index (a sparse file of its length) unless it exists; with the lock exclusive. */
static int chunk_create(struct sharded *s, uint64_t index)
{
	char name[32];
	int fd;

	if (s->fds[index] >= 0)
		return 0;
	if (s->fds[index] == CHUNK_BAD)
		return CHUNK_BAD;
	shards_chunk_name(index, name, sizeof(name));
	fd = openat(s->dfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return negative_errno();
	if (ftruncate(fd, (off_t)chunk_length(s, index)) < 0) {
		int r = negative_errno();

		close(fd);
		(void)unlinkat(s->dfd, name, 0);
		return r;
	}
	__atomic_fetch_add(&s->n_open, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->fds[index], fd, __ATOMIC_RELEASE);
	__atomic_store_n(&s->dir_dirty, true, __ATOMIC_RELEASE);
	return 0;
}

/* Removes chunk index: its bytes read as zeroes again. With the lock exclusive. */
static int chunk_remove(struct sharded *s, uint64_t index)
{
	char name[32];

	shards_chunk_name(index, name, sizeof(name));
	if (unlinkat(s->dfd, name, 0) < 0 && errno != ENOENT)
		return negative_errno();
	if (s->fds[index] >= 0) {
		close(s->fds[index]);
		__atomic_fetch_sub(&s->n_open, 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&s->fds[index], CHUNK_MISSING, __ATOMIC_RELEASE);
	__atomic_store_n(&s->dir_dirty, true, __ATOMIC_RELEASE);
	return 0;
}

/* Runs the body for each chunk piece of [offset, offset+len): ci, the chunk's index; off, the
 * offset in the chunk; n, the length of the piece. */
#define FOR_EACH_PIECE(s, offset, len, ci, off, n)                                                \
	for (uint64_t _pos = (offset), _end = (offset) + (len), ci, off, n;                       \
	     _pos < _end && (ci = _pos / (s)->meta.chunk_size,                                    \
			    off = _pos % (s)->meta.chunk_size,                                    \
			    n = MIN(_end - _pos, chunk_length((s), ci) - off), 1);                \
	     _pos += n)

static int sh_pread(struct backend *b, void *buf, size_t len, uint64_t offset)
{
	struct sharded *s = b->priv;
	uint8_t *p = buf;
	int r = 0;

	pthread_rwlock_rdlock(&s->lock);
	FOR_EACH_PIECE(s, offset, len, ci, off, n) {
		bool owned;
		int fd = chunk_fd(s, ci, &owned);
		ssize_t got = 0;

		if (fd >= 0)
			got = pread_full(fd, p, (size_t)n, off);
		if (owned)
			close(fd);
		if (fd < 0 && fd != CHUNK_MISSING) {
			r = fd;
			break;
		}
		if (got < 0) {
			r = (int)got;
			break;
		}
		/* A missing chunk, or one shorter than it should be, reads as zeroes. */
		memset(p + got, 0, (size_t)(n - (uint64_t)got));
		p += n;
	}
	pthread_rwlock_unlock(&s->lock);
	return r;
}

static void mark_unsynced(struct sharded *s, uint64_t index)
{
	__atomic_fetch_or(&s->unsynced[index / 64], UINT64_C(1) << (index % 64), __ATOMIC_RELEASE);
}

/* Syncs the chunks of one word of unsynced[] (bits), taken from it. The data of a closed descriptor
 * is the file's, so a new descriptor's fdatasync() writes it back, and reports a writeback error
 * that no sync has reported yet. A chunk removed since is no longer data. On failure the bits not
 * synced go back, for the next flush to try again. */
static int sync_unsynced(struct sharded *s, uint64_t word, uint64_t bits)
{
	while (bits) {
		unsigned bit = (unsigned)__builtin_ctzll(bits);
		char name[32];
		int fd, r = 0;

		shards_chunk_name(word * 64 + bit, name, sizeof(name));
		fd = openat(s->dfd, name, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT)
			r = negative_errno();
		else if (fd >= 0 && fdatasync(fd) < 0)
			r = negative_errno();
		if (fd >= 0)
			close(fd);
		if (r < 0) {
			__atomic_fetch_or(&s->unsynced[word], bits, __ATOMIC_RELEASE);
			log_warning("Sharded image %s: cannot sync %s: %s", s->path, name, strerror(-r));
			return r;
		}
		bits &= bits - 1;
	}
	return 0;
}

static int sh_flush(struct backend *b)
{
	struct sharded *s = b->priv;
	int r = 0;

	if (b->read_only)
		return 0;
	/* Shared: no descriptor is closed meanwhile, and I/O goes on during the syncs. */
	pthread_rwlock_rdlock(&s->lock);
	for (uint64_t i = 0; i < s->n_chunks && r == 0; i++) {
		int fd = __atomic_load_n(&s->fds[i], __ATOMIC_ACQUIRE);

		if (fd >= 0 && fdatasync(fd) < 0)
			r = negative_errno();
	}
	for (uint64_t k = 0; k < (s->n_chunks + 63) / 64 && r == 0; k++) {
		uint64_t bits = __atomic_exchange_n(&s->unsynced[k], 0, __ATOMIC_ACQ_REL);

		if (bits)
			r = sync_unsynced(s, k, bits);
	}
	/* New and removed chunk files are part of the data. */
	if (r == 0 && __atomic_exchange_n(&s->dir_dirty, false, __ATOMIC_ACQ_REL) &&
	    fsync(s->dfd) < 0) {
		r = negative_errno();
		__atomic_store_n(&s->dir_dirty, true, __ATOMIC_RELEASE);
	}
	pthread_rwlock_unlock(&s->lock);
	return r;
}

/* Writes one piece into an existing chunk; with the lock shared. 1 when the chunk is missing. */
static int write_piece(struct sharded *s, uint64_t index, const uint8_t *p, uint64_t n, uint64_t off)
{
	bool owned;
	int fd = chunk_fd(s, index, &owned), r;

	if (fd == CHUNK_MISSING)
		return 1;
	if (fd < 0)
		return fd;
	r = pwrite_full(fd, p, (size_t)n, off);
	if (owned) {
		mark_unsynced(s, index);
		close(fd);
	}
	return r;
}

static int sh_pwrite(struct backend *b, const void *buf, size_t len, uint64_t offset, bool fua)
{
	struct sharded *s = b->priv;
	const uint8_t *p = buf;
	int r = 0;

	if (b->read_only)
		return -EPERM;
	FOR_EACH_PIECE(s, offset, len, ci, off, n) {
		pthread_rwlock_rdlock(&s->lock);
		r = write_piece(s, ci, p, n, off);
		pthread_rwlock_unlock(&s->lock);
		if (r == 1) {
			pthread_rwlock_wrlock(&s->lock);
			r = chunk_create(s, ci);
			pthread_rwlock_unlock(&s->lock);
			if (r == 0) {
				pthread_rwlock_rdlock(&s->lock);
				r = write_piece(s, ci, p, n, off);
				pthread_rwlock_unlock(&s->lock);
			}
		}
		if (r != 0)
			return r < 0 ? r : -EIO;
		p += n;
	}
	return (fua || b->sync) ? sh_flush(b) : 0;
}

/* Zeroes a range. May it deallocate (TRIM, or WRITE_ZEROES without NO_HOLE): whole chunks are
 * removed and parts of chunks punched; missing chunks are zeroes already. Otherwise the range stays
 * allocated: missing chunks are created and the range zeroed in place. */
static int zero_range(struct sharded *s, uint64_t offset, uint64_t len, bool may_punch,
		      bool fast_only)
{
	int r = 0;

	FOR_EACH_PIECE(s, offset, len, ci, off, n) {
		bool owned;
		int fd;

		if (may_punch && off == 0 && n == chunk_length(s, ci)) {
			pthread_rwlock_wrlock(&s->lock);
			r = chunk_remove(s, ci);
			pthread_rwlock_unlock(&s->lock);
			if (r < 0)
				return r;
			continue;
		}
		if (!may_punch) {
			pthread_rwlock_wrlock(&s->lock);
			r = chunk_create(s, ci);
			pthread_rwlock_unlock(&s->lock);
			if (r < 0)
				return r;
		}
		pthread_rwlock_rdlock(&s->lock);
		fd = chunk_fd(s, ci, &owned);
		r = fd == CHUNK_MISSING ? 0 : fd;
		if (fd >= 0) {
			int mode = may_punch ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
					     : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;

			r = 0;
			if (fallocate(fd, mode, (off_t)off, (off_t)n) < 0)
				r = fast_only ? -ENOTSUP : pwrite_zeros(fd, off, n);
			if (owned) {
				mark_unsynced(s, ci);
				close(fd);
			}
		}
		pthread_rwlock_unlock(&s->lock);
		if (r < 0)
			return r;
	}
	return 0;
}

static int sh_trim(struct backend *b, uint64_t offset, uint64_t len, bool fua)
{
	int r;

	if (b->read_only)
		return -EPERM;
	r = zero_range(b->priv, offset, len, true, true);
	if (r == -ENOTSUP)
		r = 0; /* trimming is advisory */
	return r == 0 && (fua || b->sync) ? sh_flush(b) : r;
}

static int sh_zero(struct backend *b, uint64_t offset, uint64_t len, bool may_punch, bool fast_only,
		   bool fua)
{
	int r;

	if (b->read_only)
		return -EPERM;
	r = zero_range(b->priv, offset, len, may_punch, fast_only);
	return r == 0 && (fua || b->sync) ? sh_flush(b) : r;
}

/* A missing chunk is a hole to its end; in a present one, its own holes (SEEK_DATA/SEEK_HOLE). */
static int sh_extent(struct backend *b, uint64_t offset, uint64_t len, bool *ret_hole,
		     uint64_t *ret_len)
{
	struct sharded *s = b->priv;
	uint64_t index = offset / s->meta.chunk_size, off = offset % s->meta.chunk_size;
	uint64_t left = MIN(len, chunk_length(s, index) - off), run = left;
	bool owned, hole = false;
	int fd, r = 0;

	pthread_rwlock_rdlock(&s->lock);
	fd = chunk_fd(s, index, &owned);
	if (fd == CHUNK_MISSING) {
		hole = true;
	} else if (fd < 0) {
		r = fd;
	} else {
		off_t data = lseek(fd, (off_t)off, SEEK_DATA);

		if (data < 0 || (uint64_t)data >= off + left) {
			hole = true; /* ENXIO: no data up to the end */
		} else if ((uint64_t)data > off) {
			hole = true;
			run = (uint64_t)data - off;
		} else {
			off_t end = lseek(fd, (off_t)off, SEEK_HOLE);

			run = end < 0 ? left : MIN((uint64_t)end - off, left);
		}
		if (owned)
			close(fd);
	}
	pthread_rwlock_unlock(&s->lock);
	if (r < 0)
		return r;
	*ret_hole = hole;
	*ret_len = run;
	return 0;
}

static void sh_close(struct backend *b)
{
	struct sharded *s = b->priv;

	if (!s)
		return;
	for (uint64_t i = 0; i < s->n_chunks; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	free(s->fds);
	free(s->unsynced);
	free(s->path);
	safe_close(s->dfd);
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

static const struct backend_ops sharded_ops = {
	.name = "sharded",
	.pread = sh_pread,
	.pwrite = sh_pwrite,
	.flush = sh_flush,
	.trim = sh_trim,
	.zero = sh_zero,
	.extent = sh_extent,
	.close = sh_close,
};

int sharded_backend_open(const struct backend_open_args *args, struct backend **ret)
{
	_cleanup_(backend_closep) struct backend *b = backend_new(&sharded_ops);
	struct sharded *s;
	int r;

	if (!b)
		return -ENOMEM;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	b->priv = s;
	pthread_rwlock_init(&s->lock, NULL);
	s->path = strdup(args->path);
	if (!s->path)
		return -ENOMEM;
	s->dfd = open(args->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0)
		return negative_errno();
	r = shards_meta_read(s->dfd, &s->meta);
	if (r < 0)
		return r == -ENOENT ? -ENOMSG : r; /* the directory is there, its description not */
	s->n_chunks = (s->meta.size + s->meta.chunk_size - 1) / s->meta.chunk_size;
	s->fds = malloc(s->n_chunks * sizeof(*s->fds));
	if (!s->fds)
		return -ENOMEM;
	for (uint64_t i = 0; i < s->n_chunks; i++)
		s->fds[i] = CHUNK_UNKNOWN;
	s->unsynced = calloc((s->n_chunks + 63) / 64, sizeof(*s->unsynced));
	if (!s->unsynced)
		return -ENOMEM;
	s->read_only = args->read_only;
	b->size = s->meta.size;
	b->read_only = args->read_only;
	b->sync = args->sync;
	b->may_block = true;
	b->can_trim = true;
	b->can_extents = true;
	if (asprintf(&b->description, "%s (sharded, chunks of %" PRIu64 " bytes)", args->path,
		     s->meta.chunk_size) < 0) {
		b->description = NULL;
		return -ENOMEM;
	}
	*ret = TAKE_PTR(b);
	return 0;
}
