/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The file backend: a regular file, a block device, or sparse memory (a memfd). pread/pwrite, or
 * copies through a shared mapping when the file lives in memory (mapped-copy.h); FLUSH is
 * fdatasync; TRIM punches holes (BLKDISCARD on devices); WRITE_ZEROES punches or uses
 * FALLOC_FL_ZERO_RANGE, writing zeros only as a last resort; holes come from SEEK_DATA/SEEK_HOLE.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/io.h"
#include "server/backend.h"
#include "server/mapped-copy.h"

/* A file with as many blocks allocated as its size has no holes. Checking costs one fstat, while
 * SEEK_HOLE on tmpfs walks every page up to the next hole: milliseconds on a dense gigabyte. */
static bool fully_allocated(struct backend *b)
{
	struct stat st;

	if (b->block_device || fstat(b->fd, &st) < 0)
		return false;
	if ((uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size)
		return false;
	atomic_store(&b->dense, true);
	return true;
}

/* Page tables are filled this much at a time before the first write into it. */
#define MAP_PREPARE_CHUNK (2u << 20)

/* A write into a page of the mapping that this process has not touched yet takes a page fault, one
 * per 4 KiB: here about 1.4 us each, ten times the copy of the page (bench/RESULTS.md). Before the
 * first write into each 2 MiB of a file with no holes, MADV_POPULATE_READ fills that chunk's page
 * tables in one call, for a quarter of the faults' cost: read faults map the neighbouring pages
 * too, writable in a shared mapping of tmpfs. Not with holes: populating one, even for reading,
 * would allocate it. Errors are ignored (before Linux 5.14 the advice is unknown): the copy faults
 * then, as it did anyway. */
void backend_prepare_mapped_write(struct backend *b, uint64_t offset, size_t len)
{
	uint64_t last;

	/* map_prepared: a writable mapping of this file. */
	if (!b->map_prepared || len == 0 || !atomic_load(&b->dense))
		return;
	last = (offset + len - 1) / MAP_PREPARE_CHUNK;
	for (uint64_t chunk = offset / MAP_PREPARE_CHUNK; chunk <= last; chunk++) {
		_Atomic uint64_t *word = &b->map_prepared[chunk / 64];
		uint64_t bit = UINT64_C(1) << (chunk % 64);
		uint64_t start = chunk * MAP_PREPARE_CHUNK;

		if (atomic_load_explicit(word, memory_order_relaxed) & bit ||
		    atomic_fetch_or(word, bit) & bit)
			continue;
		(void)madvise(b->map + start, (size_t)MIN(MAP_PREPARE_CHUNK, b->size - start),
			      MADV_POPULATE_READ);
	}
}

/* Maps a file that lives in memory. Its pages are the page cache itself, so a copy to or from the
 * mapping does what pread/pwrite would, minus the system call and the page lookups. Not for
 * anything else: a disk's read error or a full disk would surface as SIGBUS rather than as the errno
 * the client must get, and its pages would fault in and out. Failing to map only costs speed. */
static void map_in_memory(struct backend *b)
{
	void *map;

	if (b->size == 0 || b->size > SIZE_MAX || mapped_copy_init() < 0)
		return;
	map = mmap(NULL, (size_t)b->size, PROT_READ | (b->read_only ? 0 : PROT_WRITE), MAP_SHARED,
		   b->fd, 0);
	if (map == MAP_FAILED)
		return;
	b->map = map;
	if (!b->read_only)
		b->map_prepared = calloc((b->size / MAP_PREPARE_CHUNK + 64) / 64, sizeof(uint64_t));
	/* Known at once to have no holes, an image's small READs are copied from the mapping from
	 * the first one, for clients that never ask where the holes are (simple replies: the
	 * kernel's). */
	(void)fully_allocated(b);
}

static int open_memory(const struct backend_open_args *args, struct backend *b)
{
	if (args->size == 0)
		return -EINVAL;
	b->fd = memfd_create("nbd-server-memory", MFD_CLOEXEC);
	if (b->fd < 0)
		return negative_errno();
	if (ftruncate(b->fd, (off_t)args->size) < 0)
		return negative_errno();
	b->size = args->size;
	b->can_trim = true;
	b->can_extents = true;
	map_in_memory(b);
	b->description = strdup("memory");
	return b->description ? 0 : -ENOMEM;
}

/* Whether SEEK_HOLE means anything here: a filesystem without hole support reports the whole file
 * as data, which is still correct, but probing once avoids a useless lseek per request. */
static bool probe_extents(int fd, uint64_t size)
{
	return size > 0 && lseek(fd, 0, SEEK_HOLE) >= 0;
}

/* tmpfs and ramfs live in the page cache: their I/O never waits for a device. */
static bool in_memory(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return false;
	return sf.f_type == 0x01021994 /* TMPFS_MAGIC */ || sf.f_type == (typeof(sf.f_type))0x858458f6
		/* RAMFS_MAGIC */;
}

/* The reference's temporary export: a new file next to the path given, gone once closed. */
static int open_temporary(const struct backend_open_args *args, int flags)
{
	_cleanup_free_ char *tmpl = NULL;
	int fd;

	if (asprintf(&tmpl, "%s-XXXXXX", args->path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmpl, flags & (O_CLOEXEC | O_DIRECT));
	if (fd < 0)
		return negative_errno();
	(void)unlink(tmpl);
	return fd;
}

static int open_file(const struct backend_open_args *args, struct backend *b)
{
	int flags = O_CLOEXEC | (args->read_only ? O_RDONLY : O_RDWR);
	struct stat st;
	uint64_t size;

	if (args->direct)
		flags |= O_DIRECT;
	if (args->size && !args->read_only)
		flags |= O_CREAT;
	if (args->temporary) {
		if (args->size == 0)
			return -EINVAL;
		b->fd = open_temporary(args, flags);
		if (b->fd < 0)
			return b->fd;
		if (ftruncate(b->fd, (off_t)args->size) < 0)
			return negative_errno();
	} else {
		b->fd = open(args->path, flags, 0600);
	}
	if (b->fd < 0)
		return negative_errno();
	if (fstat(b->fd, &st) < 0)
		return negative_errno();
	if (S_ISBLK(st.st_mode)) {
		int logical = 512, rot = 0;

		b->block_device = true;
		if (ioctl(b->fd, BLKGETSIZE64, &size) < 0)
			return negative_errno();
		if (ioctl(b->fd, BLKSSZGET, &logical) == 0 && logical > 0 && args->direct)
			b->alignment = (uint32_t)logical;
		if (ioctl(b->fd, BLKROTATIONAL, &rot) == 0)
			b->rotational = rot != 0;
		b->can_trim = true; /* BLKDISCARD says at run time whether it works */
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
		if (args->size && args->size != size) {
			if (args->read_only && args->size > size)
				return -EFBIG; /* cannot grow what we may not write */
			if (args->size > size && ftruncate(b->fd, (off_t)args->size) < 0)
				return negative_errno();
			size = args->size; /* a smaller size serves only the start of the file */
		}
		b->can_trim = true;
		b->can_extents = probe_extents(b->fd, size);
		if (args->direct)
			b->alignment = 4096;
	} else {
		return -EINVAL; /* a directory, a FIFO...: nothing that can be served */
	}
	b->size = size;
	/* A device node lives on devtmpfs, which says it is tmpfs: its I/O still waits for the device. */
	b->may_block = b->block_device || !in_memory(b->fd);
	if (!b->may_block && !args->direct)
		map_in_memory(b);
	if (args->temporary) {
		if (asprintf(&b->description, "a temporary file made from %s", args->path) < 0)
			b->description = NULL;
	} else {
		b->description = strdup(args->path);
	}
	return b->description ? 0 : -ENOMEM;
}

static int file_pread(struct backend *b, void *buf, size_t len, uint64_t offset)
{
	ssize_t n;

	/* Only once the file is known to have no holes: on tmpfs, reading a hole through the mapping
	 * would allocate its pages, and a sparse memory export would fill up with zeros. */
	if (b->map && atomic_load(&b->dense) && mapped_copy(buf, b->map + offset, len) == 0)
		return 0;
	n = pread_full(b->fd, buf, len, offset);
	if (n < 0)
		return (int)n;
	/* The file shrank under us, or a block device is shorter than it said: what is not there
	 * reads as zeros rather than failing a request inside the export's size. */
	memset((uint8_t *)buf + n, 0, len - (size_t)n);
	return 0;
}

static int file_flush(struct backend *b)
{
	if (b->read_only)
		return 0;
	return fdatasync(b->fd) < 0 ? negative_errno() : 0;
}

static int file_pwrite(struct backend *b, const void *buf, size_t len, uint64_t offset, bool fua)
{
	int r;

	if (b->read_only)
		return -EPERM;
	backend_prepare_mapped_write(b, offset, len);
	/* A copy that faults (no room for a new page, a file cut short) is done again by pwrite,
	 * which returns why. */
	if (!b->map || mapped_copy(b->map + offset, buf, len) < 0) {
		r = pwrite_full(b->fd, buf, len, offset);
		if (r < 0)
			return r;
	}
	if (fua || b->sync)
		return file_flush(b);
	return 0;
}

static int file_trim(struct backend *b, uint64_t offset, uint64_t len, bool fua)
{
	int r = 0;

	if (b->read_only)
		return -EPERM;
	if (len == 0 || !b->can_trim)
		return 0;
	if (b->block_device) {
		uint64_t range[2] = { offset, len };

		if (ioctl(b->fd, BLKDISCARD, range) < 0 && errno != EOPNOTSUPP && errno != EINVAL)
			r = negative_errno();
	} else if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
			     (off_t)len) < 0) {
		/* Trimming is advisory: a filesystem that cannot punch holes simply keeps the data. */
		if (errno != EOPNOTSUPP)
			r = negative_errno();
	}
	atomic_store(&b->dense, false);
	if (r == 0 && (fua || b->sync))
		r = file_flush(b);
	return r;
}

static int file_zero(struct backend *b, uint64_t offset, uint64_t len, bool may_punch,
		     bool fast_only, bool fua)
{
	int r;

	if (b->read_only)
		return -EPERM;
	if (len == 0)
		return 0;
	atomic_store(&b->dense, false);
	if (b->block_device) {
		uint64_t range[2] = { offset, len };

		/* BLKZEROOUT may itself fall back to writing zeros; only the unmap path is "fast". */
		if (may_punch && fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					   (off_t)offset, (off_t)len) == 0)
			goto done;
		if (fast_only)
			return -ENOTSUP;
		if (ioctl(b->fd, BLKZEROOUT, range) == 0)
			goto done;
	} else {
		if (may_punch && fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					   (off_t)offset, (off_t)len) == 0)
			goto done;
		if (fallocate(b->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
			      (off_t)len) == 0)
			goto done;
		if (fast_only)
			return -ENOTSUP;
	}
	r = pwrite_zeros(b->fd, offset, len);
	if (r < 0)
		return r;
done:
	return (fua || b->sync) ? file_flush(b) : 0;
}

static int file_cache(struct backend *b, uint64_t offset, uint64_t len)
{
	(void)posix_fadvise(b->fd, (off_t)offset, (off_t)len, POSIX_FADV_WILLNEED);
	return 0;
}

static int file_extent(struct backend *b, uint64_t offset, uint64_t len, bool *ret_hole,
		       uint64_t *ret_len)
{
	off_t data, hole;
	uint64_t end = offset + len;

	if (!b->can_extents || fully_allocated(b)) {
		*ret_hole = false;
		*ret_len = len;
		return 0;
	}
	data = lseek(b->fd, (off_t)offset, SEEK_DATA);
	if (data < 0) {
		if (errno != ENXIO)
			return negative_errno();
		/* No data from here to the end of the file. */
		*ret_hole = true;
		*ret_len = len;
		return 0;
	}
	if ((uint64_t)data > offset) {
		*ret_hole = true;
		*ret_len = MIN((uint64_t)data, end) - offset;
		return 0;
	}
	hole = lseek(b->fd, (off_t)offset, SEEK_HOLE);
	if (hole < 0)
		return negative_errno();
	*ret_hole = false;
	*ret_len = MIN((uint64_t)hole, end) - offset;
	if (*ret_len == 0)
		*ret_len = len; /* past the file's end but inside the export: treat as data */
	return 0;
}

static void file_close(struct backend *b)
{
	if (b->map)
		(void)munmap(b->map, (size_t)b->size);
	free(b->map_prepared);
	safe_close(b->fd);
}

static const struct backend_ops file_ops = {
	.name = "file",
	.pread = file_pread,
	.pwrite = file_pwrite,
	.flush = file_flush,
	.trim = file_trim,
	.zero = file_zero,
	.cache = file_cache,
	.extent = file_extent,
	.close = file_close,
};

int file_backend_open(const struct backend_open_args *args, struct backend **ret)
{
	_cleanup_(backend_closep) struct backend *b = backend_new(&file_ops);
	int r;

	if (!b)
		return -ENOMEM;
	b->read_only = args->read_only;
	b->sync = args->sync;
	b->direct = args->direct;
	r = args->path ? open_file(args, b) : open_memory(args, b);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(b);
	return 0;
}
