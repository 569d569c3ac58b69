/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The backend chain: copy-on-write over memory through the backend calls, and over a backend
 * defined here, which shows that the view reaches what it sits on only through struct backend_ops;
 * and an empty extent from a backend turned into data, which every caller's loop can move past.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/macro.h"
#include "server/backend.h"
#include "server/cow.h"

#define SIZE (1u << 20)

static void test_cow_over_memory(void **state _unused_)
{
	struct backend_open_args args = { .size = SIZE };
	_cleanup_(backend_closep) struct backend *mem = NULL, *view = NULL;
	static uint8_t buf[3 * COW_BLOCK_SIZE], pattern[3 * COW_BLOCK_SIZE];
	bool hole;
	uint64_t run;

	assert_int_equal(file_backend_open(&args, &mem), 0);
	assert_string_equal(mem->ops->name, "file");
	assert_true(mem->fd >= 0);
	memset(pattern, 0xa5, sizeof(pattern));
	assert_int_equal(backend_pwrite(mem, pattern, COW_BLOCK_SIZE, 0, false), 0);
	mem->read_only = true; /* from here on it is a base */

	assert_int_equal(cow_backend_open(mem, NULL, &view), 0);
	assert_string_equal(view->ops->name, "copy-on-write");
	assert_ptr_equal(view->lower, mem);
	assert_int_equal(view->fd, -EBADF); /* no single file: no sendfile, splice or io_uring */
	assert_int_equal(view->size, SIZE);
	assert_false(view->read_only);

	/* Reads show the base, writes land in the overlay only. */
	assert_int_equal(backend_pread(view, buf, COW_BLOCK_SIZE, 0), 0);
	assert_memory_equal(buf, pattern, COW_BLOCK_SIZE);
	memset(pattern, 0x3c, sizeof(pattern));
	assert_int_equal(backend_pwrite(view, pattern, 100, 10, true), 0);
	assert_int_equal(backend_pread(view, buf, 200, 0), 0);
	assert_int_equal(buf[9], 0xa5);
	assert_memory_equal(buf + 10, pattern, 100);
	assert_int_equal(buf[110], 0xa5);
	assert_int_equal(backend_pread(mem, buf, 200, 0), 0);
	assert_int_equal(buf[10], 0xa5);
	assert_int_equal(backend_pwrite(mem, pattern, 1, 0, false), -EPERM);

	/* Zeroing and trimming hide the base; the base's holes stay holes. */
	assert_int_equal(backend_zero(view, 0, COW_BLOCK_SIZE, true, false, false), 0);
	assert_int_equal(backend_pread(view, buf, COW_BLOCK_SIZE, 0), 0);
	for (size_t i = 0; i < COW_BLOCK_SIZE; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(backend_extent(view, 4 * COW_BLOCK_SIZE, COW_BLOCK_SIZE, &hole, &run), 0);
	assert_true(hole);
	assert_int_equal(backend_trim(view, COW_BLOCK_SIZE, COW_BLOCK_SIZE, false), 0);
	assert_int_equal(backend_cache(view, 0, SIZE), 0);
	assert_int_equal(backend_flush(view), 0);
	view = backend_close(view);
	assert_null(view);
	/* The base is untouched and still open. */
	assert_int_equal(backend_pread(mem, buf, COW_BLOCK_SIZE, 0), 0);
	assert_int_equal(buf[0], 0xa5);
}

/* A backend of this test's own: a buffer, counting the calls it gets. */
struct counting {
	uint8_t data[SIZE];
	unsigned preads, writes, caches, closes;
};

static struct counting counting;

static int count_pread(struct backend *b, void *buf, size_t len, uint64_t offset)
{
	struct counting *c = b->priv;

	c->preads++;
	memcpy(buf, c->data + offset, len);
	return 0;
}

static int count_refuse(struct backend *b, const void *buf, size_t len, uint64_t offset, bool fua)
{
	((struct counting *)b->priv)->writes++;
	return -EPERM;
}

static int count_flush(struct backend *b)
{
	return 0;
}

static int count_trim(struct backend *b, uint64_t offset, uint64_t len, bool fua)
{
	return -EPERM;
}

static int count_zero(struct backend *b, uint64_t offset, uint64_t len, bool may_punch,
		      bool fast_only, bool fua)
{
	return -EPERM;
}

static int count_cache(struct backend *b, uint64_t offset, uint64_t len)
{
	((struct counting *)b->priv)->caches++;
	return 0;
}

static void count_close(struct backend *b)
{
	((struct counting *)b->priv)->closes++;
}

static const struct backend_ops counting_ops = {
	.name = "counting",
	.pread = count_pread,
	.pwrite = count_refuse,
	.flush = count_flush,
	.trim = count_trim,
	.zero = count_zero,
	.cache = count_cache,
	.close = count_close,
};

static void test_cow_over_any_backend(void **state _unused_)
{
	_cleanup_(backend_closep) struct backend *lower = backend_new(&counting_ops), *view = NULL;
	uint8_t buf[64], ones[64];
	bool hole;
	uint64_t run;

	assert_non_null(lower);
	lower->priv = &counting;
	lower->size = SIZE;
	lower->read_only = true;
	lower->description = strdup("counting");
	memset(counting.data, 7, sizeof(counting.data));

	assert_int_equal(cow_backend_open(lower, NULL, &view), 0);
	assert_int_equal(backend_pread(view, buf, sizeof(buf), 5000), 0);
	assert_int_equal(buf[0], 7);
	assert_true(counting.preads > 0);
	/* A partial block is completed from the lower backend, which is never written. */
	memset(ones, 1, sizeof(ones));
	assert_int_equal(backend_pwrite(view, ones, sizeof(ones), 5000, false), 0);
	assert_int_equal(counting.writes, 0);
	assert_int_equal(backend_pread(view, buf, sizeof(buf), 4999), 0);
	assert_int_equal(buf[0], 7);
	assert_int_equal(buf[1], 1);
	/* Without an extent operation below, the base is all data. */
	assert_int_equal(backend_extent(view, 3 * COW_BLOCK_SIZE, COW_BLOCK_SIZE, &hole, &run), 0);
	assert_false(hole);
	assert_int_equal(backend_cache(view, 0, 4096), 0);
	assert_int_equal(counting.caches, 1);
	view = backend_close(view);
	assert_int_equal(counting.closes, 0); /* the lower one belongs to its opener */
	lower = backend_close(lower);
	assert_int_equal(counting.closes, 1);
}

/* A backend whose extent lookup finds nothing: what a race between its two lseeks can give. */
static int empty_extent(struct backend *b, uint64_t offset, uint64_t len, bool *ret_hole,
			uint64_t *ret_len)
{
	*ret_hole = true;
	*ret_len = 0;
	return 0;
}

static const struct backend_ops empty_extent_ops = {
	.name = "empty-extent",
	.pread = count_pread,
	.pwrite = count_refuse,
	.flush = count_flush,
	.trim = count_trim,
	.zero = count_zero,
	.extent = empty_extent,
	.close = count_close,
};

static void test_empty_extent_is_data(void **state _unused_)
{
	_cleanup_(backend_closep) struct backend *b = backend_new(&empty_extent_ops);
	bool hole = true;
	uint64_t run = 0;

	assert_non_null(b);
	b->priv = &counting;
	b->size = SIZE;
	/* READ's and BLOCK_STATUS's loops advance by the run: never by nothing. */
	assert_int_equal(backend_extent(b, 4096, 65536, &hole, &run), 0);
	assert_false(hole);
	assert_int_equal(run, 65536);
	assert_int_equal(backend_read_extent(b, 0, 512, &hole, &run), 0);
	assert_int_equal(run, 512);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cow_over_memory),
		cmocka_unit_test(test_cow_over_any_backend),
		cmocka_unit_test(test_empty_extent_is_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
