/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where a WRITE's payload waits until it is whole: the decision (payload_choose()) and which
 * backends may take a payload without a buffer of its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/macro.h"
#include "proto/nbd-protocol.h"
#include "server/backend.h"
#include "server/cow.h"
#include "server/payload.h"

#define MiB (1u << 20)

static void test_choose(void **state _unused_)
{
	/* Whole in the input buffer: written from there. */
	assert_int_equal(payload_choose(true, true, 4096, 4096, SPLICE_PIPE_SIZE, 0), PAYLOAD_INPLACE);
	assert_int_equal(payload_choose(true, false, 4096, 8192, SPLICE_PIPE_SIZE, 0), PAYLOAD_INPLACE);
	assert_int_equal(payload_choose(true, true, 0, 0, SPLICE_PIPE_SIZE, 0), PAYLOAD_INPLACE);
	/* Enough still in the socket, and the pipe holds it all: spliced. */
	assert_int_equal(payload_choose(true, true, 512 << 10, 0, SPLICE_PIPE_SIZE, 0), PAYLOAD_PIPE);
	assert_int_equal(payload_choose(true, true, SPLICE_MIN + 100, 100, SPLICE_PIPE_SIZE, 0),
			 PAYLOAD_PIPE);
	/* Too little left in the socket for splicing to pay. */
	assert_int_equal(payload_choose(true, true, SPLICE_MIN + 99, 100, SPLICE_PIPE_SIZE, 0),
			 PAYLOAD_BUFFER);
	/* Larger than the pipe: a buffer. */
	assert_int_equal(payload_choose(true, true, 2 * MiB, 0, SPLICE_PIPE_SIZE, 0), PAYLOAD_BUFFER);
	assert_int_equal(payload_choose(true, true, 512 << 10, 0, 256 << 10, 0), PAYLOAD_BUFFER);
	/* A transport that must see every byte (TLS in user space), or stdio's pipe. */
	assert_int_equal(payload_choose(true, false, 512 << 10, 0, SPLICE_PIPE_SIZE, 0),
			 PAYLOAD_BUFFER);
	/* A mapped file on TCP: received into the mapping once all of it waits in the socket, but only
	 * when none of it was read yet, it is large enough, and the socket can hold it. */
	assert_int_equal(payload_choose(true, true, 256 << 10, 0, SPLICE_PIPE_SIZE, MAPPED_PAYLOAD_MAX),
			 PAYLOAD_MAPPED);
	assert_int_equal(payload_choose(true, true, 256 << 10, 100, SPLICE_PIPE_SIZE,
					MAPPED_PAYLOAD_MAX), PAYLOAD_PIPE);
	assert_int_equal(payload_choose(true, true, SPLICE_MIN - 1, 0, SPLICE_PIPE_SIZE,
					MAPPED_PAYLOAD_MAX), PAYLOAD_BUFFER);
	assert_int_equal(payload_choose(true, true, 2 * MiB, 0, SPLICE_PIPE_SIZE, MAPPED_PAYLOAD_MAX),
			 PAYLOAD_BUFFER);
	assert_int_equal(payload_choose(true, true, 4096, 4096, SPLICE_PIPE_SIZE, MAPPED_PAYLOAD_MAX),
			 PAYLOAD_INPLACE);
	assert_int_equal(payload_choose(true, false, 256 << 10, 0, SPLICE_PIPE_SIZE,
					MAPPED_PAYLOAD_MAX), PAYLOAD_BUFFER);
	assert_int_equal(payload_choose(false, true, 256 << 10, 0, SPLICE_PIPE_SIZE,
					MAPPED_PAYLOAD_MAX), PAYLOAD_BUFFER);
	/* A backend that may block, or a view: always a buffer, even when whole. */
	assert_int_equal(payload_choose(false, true, 4096, 4096, SPLICE_PIPE_SIZE, 0), PAYLOAD_BUFFER);
	assert_int_equal(payload_choose(false, true, 512 << 10, 0, SPLICE_PIPE_SIZE, 0),
			 PAYLOAD_BUFFER);
}

static void test_may_skip_buffer(void **state _unused_)
{
	struct backend_open_args args = { .size = 1 << 20 };
	_cleanup_(backend_closep) struct backend *mem = NULL, *ro = NULL, *view = NULL;
	struct nbd_request write = { .type = NBD_CMD_WRITE, .length = 4096 };
	struct nbd_request trim = { .type = NBD_CMD_TRIM, .length = 4096 };

	assert_int_equal(file_backend_open(&args, &mem), 0);
	assert_true(payload_may_skip_buffer(mem, &write, 0));
	/* A refused WRITE's payload is only read and thrown away. */
	assert_false(payload_may_skip_buffer(mem, &write, NBD_EPERM));
	assert_false(payload_may_skip_buffer(mem, &trim, 0));

	args.read_only = true;
	assert_int_equal(file_backend_open(&args, &ro), 0);
	assert_false(payload_may_skip_buffer(ro, &write, 0));

	/* A copy-on-write view has no single file to write into. */
	assert_int_equal(cow_backend_open(ro, NULL, &view), 0);
	assert_false(payload_may_skip_buffer(view, &write, 0));
	view = backend_close(view);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_may_skip_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
