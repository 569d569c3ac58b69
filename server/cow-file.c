/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The copy-on-write overlay's files (cow-overlay.h): a named overlay, PATH and its map PATH.map,
 * written by rename after the data it describes is durable; or an unnamed file in a directory.
 * The rules are at the top of cow.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "server/backend.h"
#include "server/cow.h"
#include "server/cow-overlay.h"

/* ---- the map file ---- */

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Replaces PATH.map with `map` so that a crash leaves either the old or the new map, whole. */
static int write_map_file(struct cow *c, const uint8_t *map)
{
	_cleanup_close_ int fd = -EBADF, dfd = -EBADF;
	int r;

	fd = open(c->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return negative_errno();
	r = write_all(fd, map, c->map_bytes);
	if (r < 0)
		return r;
	if (fsync(fd) < 0)
		return negative_errno();
	if (rename(c->tmp_path, c->map_path) < 0)
		return negative_errno();
	/* The rename itself must reach the disk, or a crash could bring the old map back. */
	dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return negative_errno();
	if (fsync(dfd) < 0)
		return negative_errno();
	return 0;
}

static int read_map_file(struct cow *c)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	size_t done = 0;

	fd = open(c->map_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		/* An overlay without its map cannot tell its blocks from stale data. */
		return errno == ENOENT ? -EINVAL : negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != c->map_bytes)
		return -EINVAL;
	while (done < c->map_bytes) {
		ssize_t n = read(fd, c->map + done, c->map_bytes - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			return -EINVAL; /* shrank under us */
		done += (size_t)n;
	}
	/* Bits past the last block mean nothing; keep them clear so that whole-byte scans agree. */
	if (c->blocks % 8)
		c->map[c->map_bytes - 1] &= (uint8_t)((1u << (c->blocks % 8)) - 1);
	return 0;
}

/* Makes every block whose bit is set durable, then records them in PATH.map. The map is copied
 * before the fdatasync: every bit in the copy was set after its data was written, so the sync
 * covers it. A bit set later waits for the next flush. */
int cow_overlay_persist(struct cow *c)
{
	_cleanup_free_ uint8_t *snapshot = NULL;
	uint64_t generation;
	int r = 0;

	if (!c->path)
		return fdatasync(c->fd) < 0 ? negative_errno() : 0;

	pthread_mutex_lock(&c->persist_lock);
	pthread_mutex_lock(&c->lock);
	generation = c->generation;
	if (generation != c->persisted) {
		snapshot = malloc(MAX(c->map_bytes, (size_t)1));
		if (snapshot)
			memcpy(snapshot, c->map, c->map_bytes);
	}
	pthread_mutex_unlock(&c->lock);

	if (generation != c->persisted && !snapshot)
		r = -ENOMEM;
	else if (fdatasync(c->fd) < 0)
		r = negative_errno();
	else if (snapshot) {
		r = write_map_file(c, snapshot);
		if (r == 0)
			c->persisted = generation;
	}
	pthread_mutex_unlock(&c->persist_lock);
	return r;
}

/* ---- open and close ---- */

static int same_file(int a, int b)
{
	struct stat sa, sb;

	if (b < 0)
		return 0; /* a base of several files (multifile): no single file to compare */
	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return negative_errno();
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* One overlay, one user: a second user, in this server (two exports naming it, a reload that renames
 * its export) or another one, would keep a map of its own and overwrite this one's, losing blocks
 * that were written and flushed. The lock goes with the descriptor, also when the server is
 * killed. -EBUSY when another holds it. */
static int lock_overlay(int fd)
{
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	return errno == EWOULDBLOCK ? -EBUSY : negative_errno();
}

int cow_overlay_open_named(struct cow *c, const char *path)
{
	_cleanup_free_ char *copy = NULL;
	struct stat st;
	int r;

	c->path = strdup(path);
	copy = strdup(path);
	if (!c->path || !copy)
		return -ENOMEM;
	/* asprintf() leaves its pointer undefined on failure, and close frees it. */
	if (asprintf(&c->map_path, "%s.map", path) < 0) {
		c->map_path = NULL;
		return -ENOMEM;
	}
	if (asprintf(&c->tmp_path, "%s.map.tmp", path) < 0) {
		c->tmp_path = NULL;
		return -ENOMEM;
	}
	c->dir = strdup(dirname(copy));
	if (!c->dir)
		return -ENOMEM;

	c->fd = open(path, O_RDWR | O_CLOEXEC);
	if (c->fd >= 0) {
		if (fstat(c->fd, &st) < 0)
			return negative_errno();
		if (!S_ISREG(st.st_mode))
			return -EINVAL;
		r = same_file(c->fd, c->base->fd);
		if (r != 0)
			return r < 0 ? r : -EINVAL; /* the overlay would write the base */
		r = lock_overlay(c->fd);
		if (r < 0)
			return r;
		if ((uint64_t)st.st_size == c->size)
			return read_map_file(c);
		/* A different size is another export's overlay, or this one's from before the base
		 * changed: its data cannot be trusted and must not be thrown away silently either.
		 * An empty file is a creation interrupted before it was sized: it holds nothing. */
		if (st.st_size != 0)
			return -EINVAL;
	} else if (errno != ENOENT) {
		return negative_errno();
	}

	/* A fresh overlay: its empty map first, so that no overlay file ever exists without one. */
	r = write_map_file(c, c->map);
	if (r < 0)
		return r;
	if (c->fd < 0) {
		c->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (c->fd < 0)
			return negative_errno();
		r = same_file(c->fd, c->base->fd);
		if (r != 0)
			return r < 0 ? r : -EINVAL;
		r = lock_overlay(c->fd);
		if (r < 0)
			return r;
	}
	if (ftruncate(c->fd, (off_t)c->size) < 0)
		return negative_errno();
	return 0;
}

/* A private overlay's data file in dir, removed at once so that nothing is left behind even when
 * the server is killed. */
int cow_overlay_open_private_file(const char *dir)
{
	_cleanup_free_ char *tmpl = NULL;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd >= 0 ? fd : negative_errno();
	/* A filesystem without O_TMPFILE: a named file, unlinked before use. */
	if (asprintf(&tmpl, "%s/nbd-cow-XXXXXX", dir) < 0) {
		tmpl = NULL;
		return -ENOMEM;
	}
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	(void)unlink(tmpl);
	return fd;
}
