/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "server/shard-convert.h"
#include "server/shards.h"

/* Data is copied in pieces of this size; an all-zero piece is left a hole. */
#define PIECE (64u << 10)

int shard_convert_wanted(int argc, char **argv)
{
	return argc > 1 && (strcmp(argv[1], "--to-shards") == 0 ||
			    strcmp(argv[1], "--from-shards") == 0);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

static int image_size(int fd, uint64_t *ret)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, ret) < 0 ? negative_errno() : 0;
	*ret = (uint64_t)st.st_size;
	return 0;
}

/* The next offset at or after off that may hold data (SEEK_DATA; devices and file systems without
 * it: off itself), or end. */
static uint64_t next_data(int fd, uint64_t off, uint64_t end)
{
	off_t d = lseek(fd, (off_t)off, SEEK_DATA);

	if (d < 0)
		return errno == ENXIO ? end : off;
	return MIN((uint64_t)d, end);
}

/* Copies [from, from+len) of in to out at to, leaving all-zero pieces out (holes in a new file). */
static int copy_data(int in, uint64_t from, int out, uint64_t to, uint64_t len, uint8_t *buf,
		     bool *ret_wrote)
{
	uint64_t done = 0;

	while (done < len) {
		uint64_t at = next_data(in, from + done, from + len) - from;
		size_t n;
		ssize_t got;
		int r;

		if (at >= len)
			break;
		/* Aligned down, so that the pieces stay on page boundaries. */
		at -= at % PIECE;
		done = MAX(done, at);
		n = (size_t)MIN((uint64_t)PIECE, len - done);
		got = pread_full(in, buf, n, from + done);
		if (got < 0)
			return (int)got;
		if ((size_t)got < n)
			return -EIO; /* the image shrank while it was read */
		if (!all_zero(buf, n)) {
			r = pwrite_full(out, buf, n, to + done);
			if (r < 0)
				return r;
			*ret_wrote = true;
		}
		done += n;
	}
	return 0;
}

static int to_shards(const char *image, const char *dir, uint64_t chunk_size)
{
	_cleanup_close_ int in = open(image, O_RDONLY | O_CLOEXEC), dfd = -1;
	_cleanup_free_ uint8_t *buf = malloc(PIECE);
	struct shards_meta m = { .chunk_size = chunk_size };
	uint64_t chunks = 0, written = 0;
	int r;

	if (!buf)
		return log_oom();
	if (in < 0)
		return log_error_errno(errno, "Cannot open the image %s: %m", image);
	r = image_size(in, &m.size);
	if (r < 0)
		return log_error_errno(r, "Cannot tell the size of %s: %m", image);
	if (m.size == 0)
		return log_error_errno(EINVAL, "The image %s is empty; nothing to shard", image);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return log_error_errno(errno, "Cannot create the directory %s: %m", dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return log_error_errno(errno, "Cannot open the directory %s: %m", dir);
	if (faccessat(dfd, SHARDS_META, F_OK, 0) == 0)
		return log_error_errno(EEXIST, "%s holds a sharded image already (%s/%s); remove it "
					       "or name another directory", dir, dir, SHARDS_META);
	for (uint64_t start = 0; start < m.size; start += chunk_size, chunks++) {
		uint64_t len = MIN((uint64_t)chunk_size, m.size - start);
		char name[32];
		_cleanup_close_ int out = -1;
		bool wrote = false;

		if (next_data(in, start, start + len) >= start + len)
			continue;
		shards_chunk_name(chunks, name, sizeof(name));
		out = openat(dfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (out < 0)
			return log_error_errno(errno, "Cannot create %s/%s: %m", dir, name);
		if (ftruncate(out, (off_t)len) < 0)
			return log_error_errno(errno, "Cannot size %s/%s: %m", dir, name);
		r = copy_data(in, start, out, 0, len, buf, &wrote);
		if (r < 0)
			return log_error_errno(r, "Copying bytes %" PRIu64 "-%" PRIu64 " of %s into "
						  "%s/%s failed: %m", start, start + len, image, dir,
					       name);
		if (!wrote) {
			/* Data by SEEK_DATA, zeroes when read: a hole after all. */
			(void)unlinkat(dfd, name, 0);
			continue;
		}
		if (fdatasync(out) < 0)
			return log_error_errno(errno, "Writing %s/%s failed: %m", dir, name);
		written++;
	}
	/* Last, so that a directory with nbd-shards in it is always a whole image. */
	r = shards_meta_write(dfd, &m);
	if (r < 0)
		return log_error_errno(r, "Cannot write %s/%s: %m", dir, SHARDS_META);
	printf("%s: %" PRIu64 " bytes in %" PRIu64 " chunks of %" PRIu64 ", %" PRIu64
	       " of them with data\n", dir, m.size, chunks, chunk_size, written);
	return 0;
}

static int from_shards(const char *dir, const char *image)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), out = -1;
	_cleanup_free_ uint8_t *buf = malloc(PIECE);
	struct shards_meta m;
	struct stat st;
	uint64_t index = 0;
	int r;

	if (!buf)
		return log_oom();
	if (dfd < 0)
		return log_error_errno(errno, "Cannot open the directory %s: %m", dir);
	r = shards_meta_read(dfd, &m);
	if (r == -ENOENT)
		return log_error_errno(r, "%s has no %s file: it is not a sharded image", dir,
				       SHARDS_META);
	if (r == -EBADMSG)
		return log_error_errno(r, "%s/%s is malformed: expected " SHARDS_META_EXPECTED, dir,
				       SHARDS_META);
	if (r < 0)
		return log_error_errno(r, "Cannot read %s/%s: %m", dir, SHARDS_META);
	out = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		return log_error_errno(errno, "Cannot create %s: %m%s", image,
				       errno == EEXIST ? " (it exists; this never overwrites a file)"
						       : "");
	if (fstat(out, &st) < 0 || ftruncate(out, (off_t)m.size) < 0)
		return log_error_errno(errno, "Cannot size %s to %" PRIu64 " bytes: %m", image,
				       m.size);
	for (uint64_t start = 0; start < m.size; start += m.chunk_size, index++) {
		uint64_t len = MIN(m.chunk_size, m.size - start);
		char name[32];
		_cleanup_close_ int in = -1;
		uint64_t have;
		bool wrote = false;

		shards_chunk_name(index, name, sizeof(name));
		in = openat(dfd, name, O_RDONLY | O_CLOEXEC);
		if (in < 0 && errno == ENOENT)
			continue;
		if (in < 0)
			return log_error_errno(errno, "Cannot open %s/%s: %m", dir, name);
		r = image_size(in, &have);
		if (r == 0 && have != len)
			return log_error_errno(EBADMSG, "%s/%s has %" PRIu64 " bytes, not the %" PRIu64
							" of its chunk: the image is damaged",
					       dir, name, have, len);
		r = copy_data(in, 0, out, start, len, buf, &wrote);
		if (r < 0)
			return log_error_errno(r, "Copying %s/%s into %s failed: %m", dir, name, image);
	}
	if (fdatasync(out) < 0)
		return log_error_errno(errno, "Writing %s failed: %m", image);
	return 0;
}

int shard_convert_main(int argc, char **argv)
{
	uint64_t chunk_size = SHARDS_DEFAULT_CHUNK_SIZE;
	bool to = strcmp(argv[1], "--to-shards") == 0;
	int r;

	if (to && argc == 6 && strcmp(argv[4], "--chunk-size") == 0) {
		if (parse_size(argv[5], &chunk_size) < 0 || chunk_size < SHARDS_MIN_CHUNK_SIZE ||
		    chunk_size > SHARDS_MAX_CHUNK_SIZE || chunk_size % 4096) {
			log_error("invalid --chunk-size '%s': expected a multiple of 4096 from 64K to "
				  "1G", argv[5]);
			return EXIT_FAILURE;
		}
		argc = 4;
	}
	if (argc != 4) {
		log_error("usage: nbd-server --to-shards IMAGE DIR [--chunk-size SIZE], or "
			  "nbd-server --from-shards DIR IMAGE");
		return EXIT_FAILURE;
	}
	r = to ? to_shards(argv[2], argv[3], chunk_size) : from_shards(argv[2], argv[3]);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
