/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The client's transport (client/transport-plain.c) over a socketpair, and the negotiation that
 * runs through it (client_negotiate in client/connection.c) against a scripted server thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/connection.h"
#include "client/transport.h"
#include "common/io.h"
#include "common/macro.h"
#include "common/unaligned.h"
#include "proto/nbd-protocol.h"

static int pair[2];

static int setup(void **state _unused_)
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair);
}

static int teardown(void **state _unused_)
{
	for (int i = 0; i < 2; i++)
		if (pair[i] >= 0)
			close(pair[i]);
	return 0;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_plain_send_recv(void **state _unused_)
{
	struct client_transport t;
	char buf[16];

	client_transport_plain(&t, TAKE_FD(pair[0]));
	assert_string_equal(t.ops->name, "plain");
	assert_int_equal(client_transport_send(&t, "hello", 5, 1000), 0);
	assert_int_equal(read(pair[1], buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);

	assert_int_equal(write(pair[1], "abcdef", 6), 6);
	assert_int_equal(client_transport_recv(&t, buf, 4, 1000), 4);
	assert_memory_equal(buf, "abcd", 4);
	/* The end of the stream: what is left, then nothing. */
	shutdown(pair[1], SHUT_WR);
	assert_int_equal(client_transport_recv(&t, buf, 4, 1000), 2);
	assert_memory_equal(buf, "ef", 2);
	assert_int_equal(client_transport_recv(&t, buf, 4, 1000), 0);
	client_transport_close(&t);
	assert_null(t.ops);
	assert_int_equal(t.fd, -1);
}

static void test_plain_timeout(void **state _unused_)
{
	_cleanup_(client_transport_close) struct client_transport t = CLIENT_TRANSPORT_NONE;
	char buf[4];

	client_transport_plain(&t, TAKE_FD(pair[0]));
	assert_int_equal(client_transport_recv(&t, buf, sizeof(buf), 50), -ETIMEDOUT);
}

static void test_plain_release_and_close(void **state _unused_)
{
	struct client_transport t = CLIENT_TRANSPORT_NONE;
	struct tls_relay *relay = (struct tls_relay *)&t; /* not NULL: must come back NULL */
	int fd = pair[0];

	/* An empty transport closes nothing. */
	client_transport_close(&t);
	client_transport_plain(&t, TAKE_FD(pair[0]));

	assert_int_equal(client_transport_release(&t, CLIENT_KTLS_AUTO, &relay, NULL, 0), fd);
	assert_null(relay);
	assert_null(t.ops);
	assert_true(fd_open(fd));

	client_transport_plain(&t, fd);
	client_transport_close(&t);
	assert_false(fd_open(fd));
}

/* ------------------------------------------------------------------ negotiation */

/* A transport that counts what passes through it, to show that negotiation uses nothing else. */
struct counted {
	struct client_transport plain;
	size_t sent, received;
};

static struct counted counted;

static ssize_t counted_recv(struct client_transport *t _unused_, void *buf, size_t len, int ms)
{
	ssize_t r = client_transport_recv(&counted.plain, buf, len, ms);

	if (r > 0)
		counted.received += (size_t)r;
	return r;
}

static int counted_send(struct client_transport *t _unused_, const void *buf, size_t len, int ms)
{
	int r = client_transport_send(&counted.plain, buf, len, ms);

	if (r == 0)
		counted.sent += len;
	return r;
}

static int counted_release(struct client_transport *t _unused_, enum client_ktls ktls,
			   struct tls_relay **ret_relay, char *why, size_t why_len)
{
	return client_transport_release(&counted.plain, ktls, ret_relay, why, why_len);
}

static void counted_close(struct client_transport *t _unused_)
{
	client_transport_close(&counted.plain);
}

static const struct client_transport_ops counted_ops = {
	.name = "counted",
	.recv = counted_recv,
	.send = counted_send,
	.release = counted_release,
	.close = counted_close,
};

/* What the scripted server answers to the client's first option. */
enum script { ANSWER_EXPORT, ANSWER_UNKNOWN, ANSWER_GARBAGE, ANSWER_NOTHING };

struct server {
	int fd;
	enum script script;
	uint32_t option; /* the client's first option, as the server read it */
};

static void put_reply(int fd, uint32_t option, uint32_t type, const void *data, uint32_t len)
{
	uint8_t h[20];

	store_be64(h, NBD_REP_MAGIC);
	store_be32(h + 8, option);
	store_be32(h + 12, type);
	store_be32(h + 16, len);
	assert_int_equal(write_full(fd, h, sizeof(h), 1000), 0);
	if (len)
		assert_int_equal(write_full(fd, data, len, 1000), 0);
}

static void *server_run(void *userdata)
{
	struct server *s = userdata;
	uint8_t greeting[NBD_GREETING_SIZE], buf[4096], info[12];
	uint32_t len;

	if (s->script == ANSWER_GARBAGE) {
		memset(greeting, 'x', sizeof(greeting));
		(void)!write(s->fd, greeting, sizeof(greeting));
		return NULL;
	}
	store_be64(greeting, NBD_MAGIC);
	store_be64(greeting + 8, NBD_IHAVEOPT);
	store_be16(greeting + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	if (write_full(s->fd, greeting, sizeof(greeting), 1000) < 0 ||
	    read_full_timeout(s->fd, buf, 4, 1000) != 4 ||
	    read_full_timeout(s->fd, buf, NBD_OPTION_HEADER_SIZE, 1000) != NBD_OPTION_HEADER_SIZE)
		return NULL;
	s->option = load_be32(buf + 8);
	len = load_be32(buf + 12);
	if (len > sizeof(buf) || read_full_timeout(s->fd, buf, len, 1000) != (ssize_t)len)
		return NULL;
	switch (s->script) {
	case ANSWER_EXPORT:
		store_be16(info, NBD_INFO_EXPORT);
		store_be64(info + 2, 1 << 20);
		store_be16(info + 10, NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY);
		put_reply(s->fd, s->option, NBD_REP_INFO, info, sizeof(info));
		put_reply(s->fd, s->option, NBD_REP_ACK, NULL, 0);
		break;
	case ANSWER_UNKNOWN:
		put_reply(s->fd, s->option, NBD_REP_ERR_UNKNOWN, NULL, 0);
		/* The client may say goodbye (NBD_OPT_ABORT): read it before closing. */
		(void)read_full_timeout(s->fd, buf, NBD_OPTION_HEADER_SIZE, 1000);
		break;
	case ANSWER_NOTHING:
	case ANSWER_GARBAGE:
		/* Silence until the client gives up. */
		(void)read_full_timeout(s->fd, buf, 1, 2000);
		break;
	}
	return NULL;
}

static int negotiate(enum script script, struct server *s, struct nbd_neg_result **res,
		     char **message, int timeout_ms)
{
	const struct nbd_neg_config cfg = {
		.mode = NBD_NEG_ATTACH,
		.export_name = "disk",
		.block_size = true,
	};
	struct client_transport t = { .ops = &counted_ops, .fd = -1 };
	pthread_t thread;
	int r;

	counted = (struct counted){ 0 };
	client_transport_plain(&counted.plain, TAKE_FD(pair[0]));
	*s = (struct server){ .fd = pair[1], .script = script };
	assert_int_equal(pthread_create(&thread, NULL, server_run, s), 0);
	r = client_negotiate(&t, &cfg, NULL, timeout_ms, res, message);
	client_transport_close(&t);
	pthread_join(thread, NULL);
	return r;
}

static void test_negotiate_export(void **state _unused_)
{
	struct nbd_neg_result *res = NULL;
	char *message = NULL;
	struct server s;

	assert_int_equal(negotiate(ANSWER_EXPORT, &s, &res, &message, 1000), 0);
	assert_null(message);
	assert_int_equal(s.option, NBD_OPT_GO);
	assert_non_null(res);
	assert_int_equal(res->size, 1 << 20);
	assert_int_equal(res->transmission_flags, NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY);
	/* Every byte of the handshake went through the transport. */
	assert_int_equal(counted.received, NBD_GREETING_SIZE + 20 + 12 + 20);
	assert_true(counted.sent > 4 + NBD_OPTION_HEADER_SIZE);
	nbd_neg_result_free(res);
}

static void test_negotiate_unknown_export(void **state _unused_)
{
	struct nbd_neg_result *res = NULL;
	char *message = NULL;
	struct server s;

	assert_int_equal(negotiate(ANSWER_UNKNOWN, &s, &res, &message, 1000), -ENOENT);
	assert_null(res);
	assert_non_null(message);
	free(message);
}

static void test_negotiate_garbage(void **state _unused_)
{
	struct nbd_neg_result *res = NULL;
	char *message = NULL;
	struct server s;

	assert_int_equal(negotiate(ANSWER_GARBAGE, &s, &res, &message, 1000), -EPROTO);
	assert_null(res);
	assert_non_null(message);
	free(message);
}

static void test_negotiate_timeout(void **state _unused_)
{
	struct nbd_neg_result *res = NULL;
	char *message = NULL;
	struct server s;

	assert_int_equal(negotiate(ANSWER_NOTHING, &s, &res, &message, 100), -ETIMEDOUT);
	assert_null(res);
	/* The test server greets, then reads the options and answers none. */
	assert_string_equal(message, "The server did not finish answering NBD_OPT_GO within 100 ms; "
				     "it may be overloaded, or not an NBD server "
				     "(--negotiate-timeout sets how long)");
	free(message);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_plain_send_recv),
		TEST(test_plain_timeout),
		TEST(test_plain_release_and_close),
		TEST(test_negotiate_export),
		TEST(test_negotiate_unknown_export),
		TEST(test_negotiate_garbage),
		TEST(test_negotiate_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
