/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The copy-on-write overlay against a model.
 *
 * Each test builds a read-only base from a temporary file of random bytes and keeps a plain
 * buffer, the model, to which it applies every write, trim and zero it sends the overlay: whatever
 * the overlay reads back must equal the model, and the base file must still hold its original bytes
 * at the end. Sizes are mostly not multiples of COW_BLOCK_SIZE, so that the short last block is
 * exercised.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/backend.h"
#include "server/cow.h"

#define BS ((uint64_t)COW_BLOCK_SIZE)

struct fixture {
	char dir[256];        /* named overlays live here */
	char base_path[256];
	char overlay[300];    /* dir/overlay */
	char map[320];        /* dir/overlay.map */
	char tmp[320];        /* dir/overlay.map.tmp */
	uint64_t size;
	uint8_t *content;     /* the base's bytes */
	uint8_t *model;       /* what the overlay must read as */
	struct backend *base;
};

/* ---- helpers ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* splitmix64: fixed seeds give the same sequence everywhere. */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t n)
{
	return n ? rng() % n : 0;
}

static void fill_random(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rng();
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/nbdm-cow-XXXXXX", getenv("TMPDIR") ?: "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->overlay, sizeof(f->overlay), "%s/overlay", f->dir);
	snprintf(f->map, sizeof(f->map), "%s/overlay.map", f->dir);
	snprintf(f->tmp, sizeof(f->tmp), "%s/overlay.map.tmp", f->dir);
	*state = f;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st _unused_, int flag _unused_,
			struct FTW *ftw _unused_)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	backend_close(f->base);
	if (f->base_path[0])
		unlink(f->base_path);
	nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f->content);
	free(f->model);
	free(f);
	return 0;
}

/* A read-only base of `size` random bytes; with `sparse`, only the blocks for which data_block()
 * says so hold data and the rest are left as holes. */
static bool data_block(uint64_t block)
{
	return (block >= 4 && block < 8) || block == 20;
}

static void make_base(struct fixture *f, uint64_t size, uint64_t seed, bool sparse)
{
	struct backend_open_args args = { .path = f->base_path, .read_only = true };
	int fd;

	snprintf(f->base_path, sizeof(f->base_path), "%s/nbdm-cow-base-XXXXXX",
		 getenv("TMPDIR") ?: "/tmp");
	fd = mkstemp(f->base_path);
	assert_true(fd >= 0);
	f->size = size;
	f->content = calloc(size, 1);
	f->model = malloc(size);
	assert_non_null(f->content);
	assert_non_null(f->model);
	rng_state = seed;
	if (sparse) {
		assert_int_equal(ftruncate(fd, (off_t)size), 0);
		for (uint64_t b = 0; b * BS < size; b++) {
			uint64_t len = MIN(BS, size - b * BS);

			if (!data_block(b))
				continue;
			fill_random(f->content + b * BS, len);
			assert_int_equal(pwrite(fd, f->content + b * BS, len, (off_t)(b * BS)),
					 (ssize_t)len);
		}
	} else {
		fill_random(f->content, size);
		assert_int_equal(write(fd, f->content, size), (ssize_t)size);
	}
	close(fd);
	memcpy(f->model, f->content, size);
	assert_int_equal(file_backend_open(&args, &f->base), 0);
	assert_true(f->base->read_only);
	assert_int_equal(f->base->size, size);
}

static void assert_base_unchanged(struct fixture *f)
{
	uint8_t *now = malloc(f->size + 1);
	int fd = open(f->base_path, O_RDONLY | O_CLOEXEC);

	assert_non_null(now);
	assert_true(fd >= 0);
	/* One byte more than expected, to notice a base that grew. */
	assert_int_equal(pread(fd, now, f->size + 1, 0), (ssize_t)f->size);
	assert_memory_equal(now, f->content, f->size);
	close(fd);
	free(now);
}

static void assert_range(struct fixture *f, struct cow *c, uint64_t offset, uint64_t len)
{
	uint8_t *buf = malloc(MAX(len, (uint64_t)1));

	assert_non_null(buf);
	assert_int_equal(cow_pread(c, buf, len, offset), 0);
	if (memcmp(buf, f->model + offset, len) != 0) {
		uint64_t i = 0;

		while (buf[i] == f->model[offset + i])
			i++;
		fail_msg("mismatch at byte %" PRIu64 " (block %" PRIu64 "): read %#x, want %#x",
			 offset + i, (offset + i) / BS, buf[i], f->model[offset + i]);
	}
	free(buf);
}

static void assert_all(struct fixture *f, struct cow *c)
{
	assert_range(f, c, 0, f->size);
}

static void do_write(struct fixture *f, struct cow *c, uint64_t offset, uint64_t len, bool fua)
{
	uint8_t *buf = malloc(MAX(len, (uint64_t)1));

	assert_non_null(buf);
	fill_random(buf, len);
	assert_int_equal(cow_pwrite(c, buf, len, offset, fua), 0);
	memcpy(f->model + offset, buf, len);
	free(buf);
}

static void do_zero(struct fixture *f, struct cow *c, uint64_t offset, uint64_t len, bool trim,
		    bool may_punch, bool fua)
{
	if (trim)
		assert_int_equal(cow_trim(c, offset, len, fua), 0);
	else
		assert_int_equal(cow_zero(c, offset, len, may_punch, false, fua), 0);
	memset(f->model + offset, 0, len);
}

/* Walks the extents of [offset, offset+len): they must tile it, and every hole must read as zeros.
 * Returns how many holes were reported. */
static unsigned check_extents(struct fixture *f, struct cow *c, uint64_t offset, uint64_t len)
{
	uint64_t end = offset + len;
	unsigned holes = 0;

	while (offset < end) {
		bool hole;
		uint64_t run = 0;

		assert_int_equal(cow_extent(c, offset, end - offset, &hole, &run), 0);
		assert_true(run > 0);
		assert_true(run <= end - offset);
		if (hole) {
			holes++;
			for (uint64_t i = 0; i < run; i++)
				if (f->model[offset + i] != 0)
					fail_msg("hole at %" PRIu64 " +%" PRIu64 " has data",
						 offset, run);
		}
		offset += run;
	}
	return holes;
}

static bool extent_hole(struct cow *c, uint64_t offset, uint64_t len)
{
	bool hole;
	uint64_t run;

	assert_int_equal(cow_extent(c, offset, len, &hole, &run), 0);
	return hole;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void write_file(const char *path, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* ---- tests ---- */

static void test_close_null(void **state _unused_)
{
	assert_null(cow_close(NULL));
}

static void test_read_untouched(void **state)
{
	struct fixture *f = *state;
	_cleanup_(cow_closep) struct cow *c = NULL;
	uint8_t byte;

	make_base(f, 20 * BS + 1234, 1, false);
	assert_int_equal(cow_open(f->base, NULL, &c), 0);
	assert_all(f, c);
	for (int i = 0; i < 300; i++) {
		uint64_t offset = rng_below(f->size);

		assert_range(f, c, offset, rng_below(MIN(3 * BS, f->size - offset) + 1));
	}
	assert_range(f, c, f->size - 1, 1);
	assert_range(f, c, f->size, 0);
	/* Outside the export. */
	assert_int_equal(cow_pread(c, &byte, 1, f->size), -EINVAL);
	assert_int_equal(cow_pread(c, &byte, 2, f->size - 1), -EINVAL);
	assert_int_equal(cow_pwrite(c, &byte, 1, f->size, false), -EINVAL);
	assert_int_equal(cow_pwrite(c, &byte, 1, UINT64_MAX, false), -EINVAL);
	assert_int_equal(cow_zero(c, f->size - 1, 2, true, false, false), -EINVAL);
	assert_int_equal(cow_trim(c, 0, f->size + 1, false), -EINVAL);
	assert_base_unchanged(f);
}

static void test_write_aligned(void **state)
{
	struct fixture *f = *state;
	_cleanup_(cow_closep) struct cow *c = NULL;

	make_base(f, 16 * BS + 100, 2, false);
	assert_int_equal(cow_open(f->base, NULL, &c), 0);
	do_write(f, c, 2 * BS, BS, false);
	assert_all(f, c);
	do_write(f, c, 5 * BS, 3 * BS, false);
	assert_all(f, c);
	/* Again over blocks the overlay already holds, and over a mix. */
	do_write(f, c, 2 * BS, BS, true);
	do_write(f, c, 4 * BS, 3 * BS, false);
	assert_all(f, c);
	/* The short last block, written whole to the end of the export. */
	do_write(f, c, 16 * BS, 100, false);
	assert_all(f, c);
	assert_int_equal(cow_flush(c), 0);
	assert_all(f, c);
	assert_base_unchanged(f);
}

static void test_write_unaligned(void **state)
{
	struct fixture *f = *state;
	_cleanup_(cow_closep) struct cow *c = NULL;
	uint64_t last = 24 * BS;

	make_base(f, last + 1234, 3, false);
	assert_int_equal(cow_open(f->base, NULL, &c), 0);
	/* Inside one block: the rest of it must still be the base's. */
	do_write(f, c, 3 * BS + 100, 50, false);
	assert_all(f, c);
	/* The same block again, now in the overlay, beside the first write. */
	do_write(f, c, 3 * BS + 150, 10, false);
	do_write(f, c, 3 * BS, 1, false);
	do_write(f, c, 4 * BS - 1, 1, false);
	assert_all(f, c);
	/* Across a block boundary, and across whole blocks with partial ends. */
	do_write(f, c, 8 * BS - 10, 20, false);
	assert_all(f, c);
	do_write(f, c, 10 * BS + 7, 3 * BS, false);
	assert_all(f, c);
	/* A whole block and a partial one. */
	do_write(f, c, 15 * BS, BS + 1, false);
	do_write(f, c, 17 * BS - 1, BS + 1, false);
	assert_all(f, c);
	/* The short last block: its middle, its end, then one write from before it to the end. */
	do_write(f, c, last + 5, 10, false);
	assert_all(f, c);
	do_write(f, c, f->size - 100, 100, false);
	assert_all(f, c);
	do_write(f, c, last - 3, 13, false);
	assert_all(f, c);
	do_write(f, c, last - 1000, f->size - (last - 1000), true);
	assert_all(f, c);
	assert_base_unchanged(f);
}

static void test_write_short_only_block(void **state)
{
	struct fixture *f = *state;
	_cleanup_(cow_closep) struct cow *c = NULL;

	/* Smaller than a block: the only block is short, and copy-ins must not grow the overlay. */
	make_base(f, 1000, 4, false);
	assert_int_equal(cow_open(f->base, f->overlay, &c), 0);
	do_write(f, c, 10, 20, false);
	assert_all(f, c);
	do_write(f, c, 990, 10, false);
	assert_all(f, c);
	assert_int_equal(cow_flush(c), 0);
	assert_int_equal(file_size(f->overlay), 1000);
	assert_int_equal(file_size(f->map), 1);
	c = cow_close(c);
	assert_int_equal(cow_open(f->base, f->overlay, &c), 0);
	assert_all(f, c);
	assert_base_unchanged(f);
}

static void test_trim_zero(void **state)
{
	struct fixture *f = *state;
	_cleanup_(cow_closep) struct cow *c = NULL;
	uint64_t last = 32 * BS;
	int r;

	make_base(f, last + 333, 5, false);
	assert_int_equal(cow_open(f->base, NULL, &c), 0);
	/* Partial blocks still in the base: zeros inside, the base's bytes around. */
	do_zero(f, c, BS + 10, 100, true, true, false);
	assert_all(f, c);
	do_zero(f, c, 2 * BS + 10, 100, false, true, false);
	do_zero(f, c, 3 * BS + 10, 100, false, false, true);
	assert_all(f, c);
	/* Whole blocks, with partial ends, whether or not the overlay holds them already. */
	do_write(f, c, 6 * BS, 2 * BS, false);
	do_zero(f, c, 5 * BS + 1, 4 * BS, true, true, false);
	assert_all(f, c);
	do_zero(f, c, 10 * BS, 3 * BS, false, false, false);
	assert_all(f, c);
	do_zero(f, c, 14 * BS, 3 * BS, false, true, true);
	assert_all(f, c);
	/* Through the short last block to the end. */
	do_zero(f, c, last - 7, f->size - (last - 7), true, true, false);
	assert_all(f, c);
	/* Writes into zeroed blocks land beside the zeros, not beside the base. */
	do_write(f, c, 11 * BS + 5, 5, false);
	do_write(f, c, BS + 50, 100, false);
	assert_all(f, c);

	/* Fast zeroing of whole blocks: punching is fast, so is ZERO_RANGE where the overlay has
	 * it; writing zeros is not, and then the range is left alone. */
	assert_int_equal(cow_zero(c, 20 * BS, 2 * BS, true, true, false), 0);
	memset(f->model + 20 * BS, 0, 2 * BS);
	assert_all(f, c);
	r = cow_zero(c, 24 * BS, 2 * BS, false, true, false);
	if (r == 0)
		memset(f->model + 24 * BS, 0, 2 * BS);
	else
		assert_int_equal(r, -ENOTSUP);
	assert_all(f, c);
	/* Empty requests are fine. */
	assert_int_equal(cow_trim(c, 3, 0, false), 0);
	assert_int_equal(cow_zero(c, f->size, 0, true, false, true), 0);
	assert_int_equal(cow_pwrite(c, "", 0, 7, true), 0);
	assert_all(f, c);
	assert_base_unchanged(f);
}

static void test_extent(void **state)
{
	struct fixture *f = *state;
	_cleanup_(cow_closep) struct cow *c = NULL;
	bool hole, base_hole;
	uint64_t run, base_run;

	make_base(f, 40 * BS + 700, 6, true);
	assert_int_equal(cow_open(f->base, NULL, &c), 0);
	assert_int_equal(cow_extent(c, 0, 0, &hole, &run), 0);
	assert_int_equal(run, 0);
	assert_int_equal(cow_extent(c, 0, f->size + 1, &hole, &run), -EINVAL);

	/* Untouched: exactly what the base says. */
	for (uint64_t offset = 0; offset < f->size; offset += BS / 2) {
		assert_int_equal(cow_extent(c, offset, f->size - offset, &hole, &run), 0);
		assert_int_equal(backend_extent(f->base, offset, f->size - offset, &base_hole,
						&base_run),
				 0);
		assert_int_equal(hole, base_hole);
		assert_int_equal(run, base_run);
	}
	check_extents(f, c, 0, f->size);

	/* A write into a base hole is data; so is a block copied in around a small write. */
	do_write(f, c, 10 * BS, BS, false);
	do_write(f, c, 12 * BS + 100, 1, false);
	assert_false(extent_hole(c, 10 * BS, BS));
	assert_false(extent_hole(c, 12 * BS, BS));
	/* Zeroed or trimmed base data: the anonymous overlay (tmpfs) punches, so these are holes
	 * now, whatever the base holds there. */
	do_zero(f, c, 4 * BS, 2 * BS, true, true, false);
	do_zero(f, c, 20 * BS, BS, false, true, false);
	assert_true(extent_hole(c, 4 * BS, 2 * BS));
	assert_true(extent_hole(c, 20 * BS, BS));
	assert_false(extent_hole(c, 6 * BS, 2 * BS));
	/* Without punching, zeros are allocated data. */
	do_zero(f, c, 30 * BS, BS, false, false, false);
	assert_false(extent_hole(c, 30 * BS, BS));
	/* A partial zero of base data leaves the block data. */
	do_zero(f, c, 7 * BS + 10, 10, true, true, false);
	assert_false(extent_hole(c, 7 * BS, BS));
	assert_all(f, c);
	assert_true(check_extents(f, c, 0, f->size) > 0);
	for (int i = 0; i < 200; i++) {
		uint64_t offset = rng_below(f->size);

		check_extents(f, c, offset, 1 + rng_below(f->size - offset));
	}
	assert_base_unchanged(f);
}

static void test_named_persist(void **state)
{
	struct fixture *f = *state;
	_cleanup_(cow_closep) struct cow *c = NULL;
	uint64_t blocks;

	make_base(f, 50 * BS + 10, 7, false);
	blocks = (f->size + BS - 1) / BS;
	assert_int_equal(cow_open(f->base, f->overlay, &c), 0);
	/* The map exists as soon as the overlay does. */
	assert_true(exists(f->overlay));
	assert_true(exists(f->map));
	assert_int_equal(file_size(f->overlay), f->size);
	assert_int_equal(file_size(f->map), (blocks + 7) / 8);
	do_write(f, c, 3 * BS + 5, 100, false);
	do_write(f, c, 9 * BS, 2 * BS, false);
	do_zero(f, c, 20 * BS + 1, 3 * BS, true, true, false);
	do_write(f, c, f->size - 3, 3, false);
	assert_all(f, c);
	c = cow_close(c);
	assert_int_equal(file_size(f->map), (blocks + 7) / 8);
	assert_false(exists(f->tmp));

	/* Reopened: everything written is there, and the rest is still the base. */
	assert_int_equal(cow_open(f->base, f->overlay, &c), 0);
	assert_all(f, c);
	do_write(f, c, 30 * BS - 1, 2, false);
	assert_int_equal(cow_flush(c), 0);
	do_write(f, c, 40 * BS, 7, true);
	c = cow_close(c);
	assert_int_equal(cow_open(f->base, f->overlay, &c), 0);
	assert_all(f, c);
	assert_int_equal(file_size(f->overlay), f->size);
	assert_base_unchanged(f);
}

/* A process that dies without closing keeps what it flushed and loses only the rest: never a
 * block its map claims but its data lacks. */
static void test_named_crash(void **state)
{
	struct fixture *f = *state;
	_cleanup_(cow_closep) struct cow *c = NULL;
	uint8_t *buf;
	pid_t pid;
	int status;

	make_base(f, 30 * BS + 99, 8, false);
	buf = malloc(2 * BS);
	assert_non_null(buf);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cow *child = NULL;

		if (cow_open(f->base, f->overlay, &child) < 0)
			_exit(1);
		do_write(f, child, 2 * BS + 7, 30, false);
		do_write(f, child, 5 * BS, 2 * BS, false);
		if (cow_flush(child) < 0)
			_exit(2);
		/* Not flushed: the map on disk must not know these blocks. */
		do_write(f, child, 10 * BS + 1, 3000, false);
		do_write(f, child, 12 * BS, BS, false);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* The child drew its bytes from the random state the parent still has: replay the flushed
	 * writes into the model. */
	fill_random(buf, 30);
	memcpy(f->model + 2 * BS + 7, buf, 30);
	fill_random(buf, 2 * BS);
	memcpy(f->model + 5 * BS, buf, 2 * BS);
	free(buf);
	assert_int_equal(cow_open(f->base, f->overlay, &c), 0);
	assert_all(f, c);
	/* Blocks the overlay may hold stale data for are copied in whole on the next write. */
	do_write(f, c, 10 * BS + 5, 10, false);
	assert_all(f, c);
	assert_base_unchanged(f);
}

static void test_named_stale(void **state)
{
	struct fixture *f = *state;
	_cleanup_(cow_closep) struct cow *c = NULL;
	uint64_t map_bytes;

	make_base(f, 10 * BS + 1, 9, false);
	map_bytes = (11 + 7) / 8;

	/* An overlay of the right size without its map: refused, and no map made up for it. */
	write_file(f->overlay, f->size);
	assert_int_equal(cow_open(f->base, f->overlay, &c), -EINVAL);
	assert_null(c);
	assert_false(exists(f->map));
	/* A map of the wrong length. */
	write_file(f->map, map_bytes + 1);
	assert_int_equal(cow_open(f->base, f->overlay, &c), -EINVAL);
	assert_int_equal(file_size(f->map), map_bytes + 1);
	write_file(f->map, map_bytes - 1);
	assert_int_equal(cow_open(f->base, f->overlay, &c), -EINVAL);
	/* An overlay of another size, with a map or not. */
	write_file(f->overlay, f->size + 1);
	write_file(f->map, map_bytes);
	assert_int_equal(cow_open(f->base, f->overlay, &c), -EINVAL);
	assert_int_equal(file_size(f->overlay), f->size + 1);
	unlink(f->map);
	assert_int_equal(cow_open(f->base, f->overlay, &c), -EINVAL);
	/* Not a regular file. */
	unlink(f->overlay);
	assert_int_equal(mkdir(f->overlay, 0700), 0);
	assert_int_equal(cow_open(f->base, f->overlay, &c), -EISDIR);
	assert_int_equal(rmdir(f->overlay), 0);
	assert_int_equal(mkfifo(f->overlay, 0600), 0);
	assert_int_equal(cow_open(f->base, f->overlay, &c), -EINVAL);
	assert_int_equal(unlink(f->overlay), 0);
	assert_false(exists(f->map));
	/* The base itself. */
	assert_int_equal(cow_open(f->base, f->base_path, &c), -EINVAL);
	assert_base_unchanged(f);

	/* An empty overlay is a creation cut short: it holds nothing and starts afresh. */
	write_file(f->overlay, 0);
	assert_int_equal(cow_open(f->base, f->overlay, &c), 0);
	assert_int_equal(file_size(f->overlay), f->size);
	assert_int_equal(file_size(f->map), map_bytes);
	assert_all(f, c);
	c = cow_close(c);
	/* A map without an overlay describes nothing: both start afresh. */
	unlink(f->overlay);
	write_file(f->map, map_bytes);
	assert_int_equal(cow_open(f->base, f->overlay, &c), 0);
	assert_all(f, c);
	c = cow_close(c);
	/* A valid pair is reused. */
	assert_int_equal(cow_open(f->base, f->overlay, &c), 0);
	do_write(f, c, 0, 1, false);
	c = cow_close(c);
	assert_int_equal(cow_open(f->base, f->overlay, &c), 0);
	assert_all(f, c);
	assert_base_unchanged(f);
}

/* ---- concurrency ---- */

#define WRITERS 8
#define PIECE   (COW_BLOCK_SIZE / WRITERS)
#define SHIFT   100 /* pieces straddle block boundaries too */

struct shared {
	struct fixture *f;
	struct cow *c;
	const uint8_t *final;
	pthread_barrier_t start;
	int writers_left;
	uint64_t front; /* the block the writers are at, where readers look */
	int failures;
};

struct worker {
	struct shared *s;
	int id;
};

static void *writer(void *arg)
{
	struct worker *w = arg;
	struct shared *s = w->s;
	uint64_t size = s->f->size;

	pthread_barrier_wait(&s->start);
	/* Every writer walks the blocks in the same order, so that they meet on each block. */
	for (uint64_t b = 0; b * BS < size; b++) {
		uint64_t offset = b * BS + (uint64_t)w->id * PIECE + SHIFT, len = PIECE;

		if (offset >= size)
			break;
		len = MIN(len, size - offset);
		__atomic_store_n(&s->front, b, __ATOMIC_RELAXED);
		if (cow_pwrite(s->c, s->final + offset, len, offset, b % 16 == 0) < 0)
			__atomic_add_fetch(&s->failures, 1, __ATOMIC_SEQ_CST);
	}
	__atomic_sub_fetch(&s->writers_left, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* While the writers run, every byte must read as either the base's or its final value: a torn
 * copy-in would show zeros or a lost write. */
static void *reader(void *arg)
{
	struct worker *w = arg;
	struct shared *s = w->s;
	uint64_t size = s->f->size;
	uint8_t *buf = malloc(3 * BS);

	if (!buf)
		return NULL;
	pthread_barrier_wait(&s->start);
	while (__atomic_load_n(&s->writers_left, __ATOMIC_SEQ_CST) > 0) {
		uint64_t front = __atomic_load_n(&s->front, __ATOMIC_RELAXED);
		uint64_t offset = front ? (front - 1) * BS : 0, len = MIN(3 * BS, size - offset);

		if (cow_pread(s->c, buf, len, offset) < 0) {
			__atomic_add_fetch(&s->failures, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		for (uint64_t i = 0; i < len; i++)
			if (buf[i] != s->f->content[offset + i] && buf[i] != s->final[offset + i]) {
				__atomic_add_fetch(&s->failures, 1, __ATOMIC_SEQ_CST);
				break;
			}
	}
	free(buf);
	return NULL;
}

static void run_concurrent(struct fixture *f, const char *path)
{
	_cleanup_(cow_closep) struct cow *c = NULL;
	struct shared s = { .f = f, .writers_left = WRITERS };
	struct worker w[WRITERS + 2];
	pthread_t t[WRITERS + 2];
	uint8_t *final = malloc(f->size);

	assert_non_null(final);
	/* The bytes before the first piece are never written, all others by exactly one writer. */
	memcpy(final, f->content, SHIFT);
	fill_random(final + SHIFT, f->size - SHIFT);
	s.final = final;
	assert_int_equal(cow_open(f->base, path, &c), 0);
	s.c = c;
	assert_int_equal(pthread_barrier_init(&s.start, NULL, WRITERS + 2), 0);
	for (int i = 0; i < WRITERS + 2; i++) {
		void *(*fn)(void *) = i < WRITERS ? writer : reader;

		w[i] = (struct worker){ .s = &s, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, fn, &w[i]), 0);
	}
	for (int i = 0; i < WRITERS + 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&s.start);
	assert_int_equal(s.failures, 0);
	memcpy(f->model, final, f->size);
	assert_all(f, c);
	c = cow_close(c);
	if (path) {
		assert_int_equal(cow_open(f->base, path, &c), 0);
		assert_all(f, c);
	}
	free(final);
}

static void test_concurrent_partial_writes(void **state)
{
	struct fixture *f = *state;

	make_base(f, 64 * BS + 777, 10, false);
	for (int round = 0; round < 4; round++) {
		memcpy(f->model, f->content, f->size);
		run_concurrent(f, NULL);
	}
	run_concurrent(f, f->overlay);
	assert_base_unchanged(f);
}

struct race {
	struct cow *c;
	uint64_t blocks;
	const uint8_t *full, *part;
	pthread_barrier_t start;
	int failures;
};

#define PART_OFFSET 1000
#define PART_LEN    200

static void *full_writer(void *arg)
{
	struct race *r = arg;

	pthread_barrier_wait(&r->start);
	for (uint64_t b = 0; b < r->blocks; b++)
		if (cow_pwrite(r->c, r->full + b * BS, BS, b * BS, false) < 0)
			__atomic_add_fetch(&r->failures, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void *part_writer(void *arg)
{
	struct race *r = arg;

	pthread_barrier_wait(&r->start);
	for (uint64_t b = 0; b < r->blocks; b++)
		if (cow_pwrite(r->c, r->part + b * BS, PART_LEN, b * BS + PART_OFFSET, false) < 0)
			__atomic_add_fetch(&r->failures, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* A whole-block write racing a partial one on the same fresh block must end as one of the two
 * orders, never as the partial write's copy of the base over the whole-block write. */
static void test_concurrent_full_vs_partial(void **state)
{
	struct fixture *f = *state;
	uint64_t blocks = 256;

	make_base(f, blocks * BS, 11, false);
	for (int round = 0; round < 8; round++) {
		_cleanup_(cow_closep) struct cow *c = NULL;
		struct race r = { .blocks = blocks };
		uint8_t *full = malloc(f->size), *part = malloc(f->size), *got = malloc(BS);
		pthread_t a, b;

		assert_non_null(full);
		assert_non_null(part);
		assert_non_null(got);
		fill_random(full, f->size);
		fill_random(part, f->size);
		r.full = full;
		r.part = part;
		assert_int_equal(cow_open(f->base, NULL, &c), 0);
		r.c = c;
		assert_int_equal(pthread_barrier_init(&r.start, NULL, 2), 0);
		assert_int_equal(pthread_create(&a, NULL, full_writer, &r), 0);
		assert_int_equal(pthread_create(&b, NULL, part_writer, &r), 0);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		pthread_barrier_destroy(&r.start);
		assert_int_equal(r.failures, 0);
		for (uint64_t blk = 0; blk < blocks; blk++) {
			const uint8_t *want = full + blk * BS;

			assert_int_equal(cow_pread(c, got, BS, blk * BS), 0);
			/* Outside the partial range only the full write may show. */
			assert_memory_equal(got, want, PART_OFFSET);
			assert_memory_equal(got + PART_OFFSET + PART_LEN,
					    want + PART_OFFSET + PART_LEN,
					    BS - PART_OFFSET - PART_LEN);
			if (memcmp(got + PART_OFFSET, want + PART_OFFSET, PART_LEN) != 0)
				assert_memory_equal(got + PART_OFFSET, part + blk * BS, PART_LEN);
		}
		free(full);
		free(part);
		free(got);
	}
	assert_base_unchanged(f);
}

/* ---- random operations against the model ---- */

/* Offsets and lengths near block boundaries find more bugs than uniform ones. */
static uint64_t pick_offset(uint64_t size)
{
	uint64_t blocks = (size + BS - 1) / BS, o;

	switch (rng_below(4)) {
	case 0:
		o = rng_below(size);
		break;
	case 1:
		o = rng_below(blocks) * BS;
		break;
	default:
		o = rng_below(blocks + 1) * BS + rng_below(17) - 8;
		break;
	}
	return o >= size ? size - 1 - rng_below(MIN(size, (uint64_t)50)) : o;
}

static uint64_t pick_len(uint64_t offset, uint64_t size)
{
	uint64_t len;

	switch (rng_below(6)) {
	case 0:
		len = 1 + rng_below(100);
		break;
	case 1:
		len = BS - 8 + rng_below(17);
		break;
	case 2:
		len = (1 + rng_below(4)) * BS;
		break;
	case 3:
		len = rng_below(3 * BS) + 1;
		break;
	case 4:
		len = size - offset; /* to the end, through the short block */
		break;
	default:
		len = rng_below(600) + 1;
		break;
	}
	return MIN(len, size - offset);
}

static void random_ops(struct fixture *f, const char *path, uint64_t seed)
{
	_cleanup_(cow_closep) struct cow *c = NULL;
	unsigned counts[7] = { 0 };

	rng_state = seed;
	assert_int_equal(cow_open(f->base, path, &c), 0);
	for (int op = 0; op < 2000; op++) {
		uint64_t offset = pick_offset(f->size), len = pick_len(offset, f->size);
		unsigned kind = (unsigned)rng_below(100);
		bool fua = rng_below(10) == 0;

		if (kind < 40) {
			do_write(f, c, offset, len, fua);
			counts[0]++;
		} else if (kind < 55) {
			counts[1]++;
		} else if (kind < 65) {
			do_zero(f, c, offset, len, true, true, fua);
			counts[2]++;
		} else if (kind < 80) {
			do_zero(f, c, offset, len, false, rng_below(2), fua);
			counts[3]++;
		} else if (kind < 92) {
			check_extents(f, c, offset, len);
			counts[4]++;
		} else if (kind < 97) {
			assert_int_equal(cow_flush(c), 0);
			counts[5]++;
		} else if (path) {
			/* Named: close and reopen; the overlay must come back as it was. */
			c = cow_close(c);
			assert_int_equal(cow_open(f->base, path, &c), 0);
			counts[6]++;
		}
		assert_range(f, c, offset, len);
		if (op % 100 == 99)
			assert_all(f, c);
	}
	assert_all(f, c);
	check_extents(f, c, 0, f->size);
	/* Every kind of operation ran. */
	for (unsigned i = 0; i < (path ? 7u : 6u); i++)
		assert_true(counts[i] > 0);
	c = cow_close(c);
	if (path) {
		assert_int_equal(cow_open(f->base, path, &c), 0);
		assert_all(f, c);
	}
}

static void test_random_anonymous(void **state)
{
	struct fixture *f = *state;

	make_base(f, 40 * BS + 1000, 12, false);
	random_ops(f, NULL, 0xc0ffee);
	assert_base_unchanged(f);
}

static void test_random_named(void **state)
{
	struct fixture *f = *state;

	make_base(f, 40 * BS + 1000, 13, false);
	random_ops(f, f->overlay, 0xfeed);
	assert_base_unchanged(f);
}

static void test_random_sparse_base(void **state)
{
	struct fixture *f = *state;

	make_base(f, 40 * BS + 1, 14, true);
	random_ops(f, NULL, 0xbeef);
	assert_base_unchanged(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_close_null),
		cmocka_unit_test_setup_teardown(test_read_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_aligned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_unaligned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_short_only_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trim_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_named_persist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_named_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_named_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_partial_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_full_vs_partial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_anonymous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_sparse_base, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
