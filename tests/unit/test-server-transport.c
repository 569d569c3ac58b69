/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The plain transport over a socketpair, and the output queue flushed through it, with and without
 * the sendfile capability (the path a user-space TLS transport will take), from memory, pipes and
 * a file's mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/io.h"
#include "common/macro.h"
#include "server/outq.h"
#include "server/transport.h"

struct fixture {
	int peer;
	struct transport *t;
};

static int setup(void **state)
{
	static struct fixture f;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	f.peer = sv[1];
	assert_int_equal(transport_plain_new(sv[0], sv[0], &f.t), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	f->t = transport_close(f->t);
	f->peer = safe_close(f->peer);
	return 0;
}

static size_t read_all(int fd, uint8_t *buf, size_t len)
{
	size_t have = 0;

	while (have < len) {
		ssize_t n = read(fd, buf + have, len - have);

		if (n <= 0)
			break;
		have += (size_t)n;
	}
	return have;
}

static void test_caps(void **state _unused_)
{
	struct transport *t;
	int sv[2], p[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(transport_plain_new(sv[0], sv[0], &t), 0);
	assert_int_equal(t->caps, TRANSPORT_CAN_SENDFILE | TRANSPORT_CAN_SPLICE);
	assert_string_equal(t->ops->name, "plain");
	t = transport_close(t);
	/* The fd is gone with it. */
	assert_int_equal(fcntl(sv[0], F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	safe_close(sv[1]);

	/* stdio mode: a pipe in, another fd out: nothing is spliced from a pipe. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(transport_plain_new(p[0], p[1], &t), 0);
	assert_int_equal(t->caps, TRANSPORT_CAN_SENDFILE);
	t = transport_close(t);
	assert_int_equal(fcntl(p[0], F_GETFD), -1);
	assert_int_equal(fcntl(p[1], F_GETFD), -1);
	assert_null(transport_close(NULL));
}

static void test_send_recv(void **state)
{
	struct fixture *f = *state;
	struct iovec iov[2] = { { .iov_base = (void *)"hello ", .iov_len = 6 },
				{ .iov_base = (void *)"world", .iov_len = 5 } };
	uint8_t buf[32];

	assert_int_equal(transport_recv(f->t, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(transport_send(f->t, iov, 2, false), 11);
	assert_int_equal(read_all(f->peer, buf, 11), 11);
	assert_memory_equal(buf, "hello world", 11);

	assert_int_equal(write(f->peer, "abc", 3), 3);
	assert_int_equal(transport_recv(f->t, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);

	/* shutdown: the peer sees the end of the stream, and can still talk back. */
	assert_int_equal(transport_shutdown(f->t), 0);
	assert_int_equal(read(f->peer, buf, sizeof(buf)), 0);
	assert_int_equal(write(f->peer, "x", 1), 1);
	assert_int_equal(transport_recv(f->t, buf, sizeof(buf)), 1);

	f->peer = safe_close(f->peer);
	assert_int_equal(transport_recv(f->t, buf, sizeof(buf)), 0);
	assert_true(transport_send(f->t, iov, 1, false) == -EPIPE);
}

static void flush_file_and_memory(struct fixture *f, unsigned caps)
{
	static uint8_t content[200000], got[sizeof(content) + 64];
	struct outq q = OUTQ_INIT;
	struct outq_item *staged;
	_cleanup_close_ int mfd = memfd_create("test", MFD_CLOEXEC);
	size_t want = 5 + 100000 + 3, have = 0;
	int r;

	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (uint8_t)(i * 7 + 1);
	assert_true(mfd >= 0);
	assert_int_equal(pwrite_full(mfd, content, sizeof(content), 0), 0);
	f->t->caps = caps;
	assert_int_equal(outq_push_copy(&q, "head:", 5), 0);
	assert_int_equal(outq_stage_file(mfd, 1000, 100000, &staged), 0);
	outq_push_staged(&q, staged);
	assert_int_equal(outq_push_copy(&q, "end", 3), 0);
	assert_int_equal(q.bytes, want);
	/* The socket buffer is smaller than that: flush, read, again. */
	do {
		ssize_t n;

		r = outq_flush(&q, f->t);
		assert_true(r == 0 || r == -EAGAIN);
		while ((n = read(f->peer, got + have, sizeof(got) - have)) > 0)
			have += (size_t)n;
	} while (r == -EAGAIN || have < want);
	assert_true(outq_empty(&q));
	assert_int_equal(have, want);
	assert_memory_equal(got, "head:", 5);
	assert_memory_equal(got + 5, content + 1000, 100000);
	assert_memory_equal(got + 5 + 100000, "end", 3);
}

static void test_outq_sendfile(void **state)
{
	flush_file_and_memory(*state, TRANSPORT_CAN_SENDFILE | TRANSPORT_CAN_SPLICE);
}

static void test_outq_copy(void **state)
{
	flush_file_and_memory(*state, 0);
}

/* Flushes q into the peer until everything queued has come out; returns the bytes read. */
static size_t drain(struct fixture *f, struct outq *q, uint8_t *got, size_t size, size_t want)
{
	size_t have = 0;
	int r;

	do {
		ssize_t n;

		r = outq_flush(q, f->t);
		assert_true(r == 0 || r == -EAGAIN);
		while ((n = read(f->peer, got + have, size - have)) > 0)
			have += (size_t)n;
	} while (r == -EAGAIN || have < want);
	assert_true(outq_empty(q));
	return have;
}

/* Ranges of a file in memory go out as they are, among memory items; once the file is cut short,
 * what it lost goes out as zeros, even after part of a range was sent, and nothing else changes. */
static void test_outq_file(void **state)
{
	static uint8_t content[400000], got[sizeof(content) + 64], want[sizeof(content) + 64];
	struct fixture *f = *state;
	_cleanup_close_ int mfd = memfd_create("test", MFD_CLOEXEC);
	struct outq q = OUTQ_INIT;
	size_t len;

	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (uint8_t)(i * 13 + 5);
	assert_true(mfd >= 0);
	assert_int_equal(pwrite_full(mfd, content, sizeof(content), 0), 0);
	f->t->caps = TRANSPORT_CAN_SENDFILE | TRANSPORT_CAN_SPLICE;

	assert_int_equal(outq_push_copy(&q, "head:", 5), 0);
	assert_int_equal(outq_push_file(&q, mfd, 4096, 100000), 0);
	assert_int_equal(outq_push_file(&q, mfd, 0, 7), 0);
	assert_int_equal(outq_push_copy(&q, "end", 3), 0);
	assert_int_equal(q.bytes, 100015);
	assert_int_equal(drain(f, &q, got, sizeof(got), 100015), 100015);
	assert_memory_equal(got, "head:", 5);
	assert_memory_equal(got + 5, content + 4096, 100000);
	assert_memory_equal(got + 100005, content, 7);
	assert_memory_equal(got + 100012, "end", 3);

	/* Cut to 200000 bytes: of [150000, 350000), the bytes from 200000 on are gone. Queued
	 * before the cut, as a READ's reply waits in the queue. */
	assert_int_equal(outq_push_copy(&q, "a", 1), 0);
	assert_int_equal(outq_push_file(&q, mfd, 150000, 200000), 0);
	assert_int_equal(outq_push_file(&q, mfd, 8192, 50000), 0);
	assert_int_equal(outq_push_copy(&q, "z", 1), 0);
	assert_int_equal(ftruncate(mfd, 200000), 0);
	len = 1 + 200000 + 50000 + 1;
	memset(want, 0, sizeof(want));
	want[0] = 'a';
	memcpy(want + 1, content + 150000, 50000);
	memcpy(want + 1 + 200000, content + 8192, 50000);
	want[len - 1] = 'z';
	assert_int_equal(drain(f, &q, got, sizeof(got), len), len);
	assert_memory_equal(got, want, len);
}

/* A transport that copies what it sends in user space, as a TLS session does. */
static uint8_t user_copied[65536];
static size_t user_copied_len;

static ssize_t user_copy_send(struct transport *t _unused_, const struct iovec *iov, int iovcnt,
			      bool more _unused_)
{
	size_t taken = 0;

	for (int i = 0; i < iovcnt; i++) {
		size_t take = MIN(iov[i].iov_len, sizeof(user_copied) - user_copied_len);

		memcpy(user_copied + user_copied_len, iov[i].iov_base, take);
		user_copied_len += take;
		taken += take;
	}
	return (ssize_t)taken;
}

/* Such a transport (no TRANSPORT_CAN_SENDFILE, and no socket to send a file to) gets a file range
 * read through its file: the bytes the file has, then zeros. */
static void test_outq_file_user_copy(void **state _unused_)
{
	static const struct transport_ops ops = { .name = "user-copy", .send = user_copy_send };
	struct transport t = { .ops = &ops, .rfd = -1, .wfd = -1 };
	_cleanup_close_ int mfd = memfd_create("test", MFD_CLOEXEC);
	static const uint8_t zeros[8192];
	uint8_t content[8192];
	struct outq q = OUTQ_INIT;

	memset(content, 0x5a, sizeof(content));
	assert_true(mfd >= 0);
	assert_int_equal(pwrite_full(mfd, content, sizeof(content), 0), 0);
	assert_int_equal(ftruncate(mfd, 16384), 0);
	assert_int_equal(outq_push_file(&q, mfd, 4096, 8192), 0);
	assert_int_equal(outq_push_file(&q, mfd, 8192, 8192), 0);
	assert_int_equal(ftruncate(mfd, 8192), 0);
	assert_int_equal(outq_flush(&q, &t), 0);
	assert_true(outq_empty(&q));
	assert_int_equal(user_copied_len, 16384);
	assert_memory_equal(user_copied, content, 4096);
	assert_memory_equal(user_copied + 4096, zeros, 4096);
	assert_memory_equal(user_copied + 8192, zeros, 8192);
}

/* A file range the socket refuses (a file that cannot be read: here, not open for reading) fails
 * the flush with the error, as a connection beyond repair. */
static void test_outq_file_error(void **state)
{
	struct fixture *f = *state;
	_cleanup_close_ int mfd = memfd_create("test", MFD_CLOEXEC);
	_cleanup_close_ int wronly = -1;
	char path[64];
	struct outq q = OUTQ_INIT;

	assert_true(mfd >= 0);
	assert_int_equal(ftruncate(mfd, 65536), 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	wronly = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(wronly >= 0);
	f->t->caps = TRANSPORT_CAN_SENDFILE | TRANSPORT_CAN_SPLICE;
	assert_int_equal(outq_push_file(&q, wronly, 0, 65536), 0);
	assert_int_equal(outq_flush(&q, f->t), -EBADF);
	outq_clear(&q);
	assert_true(outq_empty(&q));
}

/* A range the file cannot give fails when it is staged, before anything of its reply is queued;
 * a staged range never queued, or queued and cleared unsent, is dropped. */
static void test_outq_stage_errors(void **state)
{
	_cleanup_close_ int mfd = memfd_create("test", MFD_CLOEXEC);
	struct outq q = OUTQ_INIT;
	struct outq_item *staged = NULL;

	assert_true(mfd >= 0);
	assert_int_equal(ftruncate(mfd, 65536), 0);
	assert_int_equal(outq_stage_file(mfd, 32768, 65536, &staged), -EIO);
	assert_null(staged);
	assert_int_equal(outq_stage_file(-1, 0, 4096, &staged), -EBADF);
	assert_int_equal(outq_stage_file(mfd, 0, 65536, &staged), 0);
	outq_staged_free(staged);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(outq_stage_file(mfd, 0, 32768, &staged), 0);
		outq_push_staged(&q, staged);
	}
	assert_int_equal(q.bytes, 20 * 32768);
	outq_clear(&q);
	assert_true(outq_empty(&q));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps),
		cmocka_unit_test_setup_teardown(test_send_recv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outq_sendfile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outq_stage_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outq_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outq_file, setup, teardown),
		cmocka_unit_test(test_outq_file_user_copy),
		cmocka_unit_test_setup_teardown(test_outq_file_error, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
