/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An attached export (client/attachment.c): whether a later connection serves the same export,
 * and what the kernel is given.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/attachment.h"
#include "client/supervisor.h"
#include "common/macro.h"
#include "proto/nbd-protocol.h"

#define FLAGS (NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH)

static struct client_options o;
static struct attachment a;
static struct nbd_neg_result res;
static char why[256];

static int setup(void **state _unused_)
{
	client_options_init(&o);
	a = (struct attachment){
		.size = 1 << 20,
		.export_size = 1 << 20,
		.server_flags = FLAGS,
		.flags = FLAGS,
		.block_size = 512,
	};
	res = (struct nbd_neg_result){ .size = 1 << 20, .transmission_flags = FLAGS };
	why[0] = '\0';
	return 0;
}

static int teardown(void **state _unused_)
{
	client_options_free(&o);
	return 0;
}

static void test_same_export(void **state _unused_)
{
	assert_int_equal(attachment_matches(&o, &a, &res, why, sizeof(why)), 0);
	/* A minimum the device's block size meets is the same export. */
	res.has_block_size = true;
	res.block_minimum = 512;
	assert_int_equal(attachment_matches(&o, &a, &res, why, sizeof(why)), 0);
	assert_string_equal(why, "");
}

static void test_no_handshake(void **state _unused_)
{
	/* --negotiated and -P: nothing to compare. */
	assert_int_equal(attachment_matches(&o, &a, NULL, why, sizeof(why)), 0);
}

static void test_size_changed(void **state _unused_)
{
	res.size = 2 << 20;
	assert_int_equal(attachment_matches(&o, &a, &res, why, sizeof(why)), -EPROTO);
	assert_string_equal(why, "the export's size is now 2097152 bytes, not 1048576");
}

static void test_size_given(void **state _unused_)
{
	/* With -B the device uses only that much: a larger export still serves it. */
	o.size = 1 << 19;
	a.size = 1 << 19;
	res.size = 2 << 20;
	assert_int_equal(attachment_matches(&o, &a, &res, why, sizeof(why)), 0);
	res.size = 1 << 18;
	assert_int_equal(attachment_matches(&o, &a, &res, why, sizeof(why)), -EPROTO);
	assert_string_equal(why, "the export's size is now 262144 bytes, not 524288");
}

static void test_flags_changed(void **state _unused_)
{
	res.transmission_flags = FLAGS | NBD_FLAG_READ_ONLY;
	assert_int_equal(attachment_matches(&o, &a, &res, why, sizeof(why)), -EPROTO);
	assert_string_equal(why, "the export's transmission flags are now 0x7, not 0x5");
}

static void test_block_minimum_grew(void **state _unused_)
{
	res.has_block_size = true;
	res.block_minimum = 4096;
	assert_int_equal(attachment_matches(&o, &a, &res, why, sizeof(why)), -EPROTO);
	assert_string_equal(why, "the export now needs blocks of at least 4096 bytes; the device "
				 "uses 512");
}

static void test_device_config(void **state _unused_)
{
	int fds[2] = { 7, 8 };
	struct nbd_dev_config cfg;

	memcpy(a.fds, fds, sizeof(fds));
	a.n_fds = 2;
	a.flags = FLAGS | NBD_FLAG_READ_ONLY;
	cfg = attachment_device_config(&o, &a, 3);
	assert_int_equal(cfg.index, 3);
	assert_int_equal(cfg.size, 1 << 20);
	assert_int_equal(cfg.block_size, 512);
	assert_int_equal(cfg.server_flags, FLAGS | NBD_FLAG_READ_ONLY);
	assert_int_equal(cfg.timeout, 0);
	assert_int_equal(cfg.dead_conn_timeout, 0);
	assert_ptr_equal(cfg.fds, a.fds);
	assert_int_equal(cfg.n_fds, 2);

	/* A persistent device needs both timeouts: the supervisor's defaults unless given. */
	o.persist = true;
	cfg = attachment_device_config(&o, &a, 3);
	assert_int_equal(cfg.timeout, SUPERVISOR_REQUEST_TIMEOUT_S);
	assert_int_equal(cfg.dead_conn_timeout, SUPERVISOR_DEAD_CONN_TIMEOUT_S);
	o.timeout = 5;
	o.dead_timeout = 9;
	cfg = attachment_device_config(&o, &a, 3);
	assert_int_equal(cfg.timeout, 5);
	assert_int_equal(cfg.dead_conn_timeout, 9);
	a.n_fds = 0;
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_same_export),
		TEST(test_no_handshake),
		TEST(test_size_changed),
		TEST(test_size_given),
		TEST(test_flags_changed),
		TEST(test_block_minimum_grew),
		TEST(test_device_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
