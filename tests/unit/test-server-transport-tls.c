/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The server's TLS transport over a loopback TCP connection, against a client session of tls/:
 * credentials loaded from a configuration (tls-creds.c), the handshake stepped without blocking,
 * no zero-copy capability claimed, data offered again after -EAGAIN arriving intact (GnuTLS wants
 * the same data again), decrypted bytes held in the session reported as pending, the move into
 * the kernel's TLS either working or leaving the session usable in user space, and close_notify.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/io.h"
#include "common/macro.h"
#include "server/config.h"
#include "server/tls-creds.h"
#include "server/transport.h"
#include "tls/tls.h"
#include "tests/unit/tls-material.h"

struct fixture {
	struct srv_tls *creds;
	struct tls_creds *cc;
	struct transport *t;      /* the server's */
	struct tls_session *peer; /* the client's */
	int peer_fd;
};

/* A connected loopback TCP pair, both ends non-blocking. */
static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	*b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(*b, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*a >= 0);
	close(l);
	assert_int_equal(fd_set_nonblock(*a, true), 0);
	assert_int_equal(fd_set_nonblock(*b, true), 0);
}

static int setup(void **state)
{
	static struct fixture f;
	struct server_config cfg;
	const struct tls_config client = { .cacertfile = tls_path("ca.pem"), .hostname = "localhost",
					   .verify_peer = true };
	struct transport *plain;
	char why[512];
	int a, b, tr = -EAGAIN, cr = -EAGAIN;

	server_config_init(&cfg);
	cfg.certfile = strdup(tls_path("server.pem"));
	cfg.keyfile = strdup(tls_path("server-key.pem"));
	f = (struct fixture){ 0 };
	assert_int_equal(srv_tls_load(&cfg, &f.creds), 0);
	assert_non_null(f.creds);
	server_config_free(&cfg);
	assert_int_equal(tls_creds_load(TLS_CLIENT, &client, &f.cc, why, sizeof(why)), 0);

	tcp_pair(&a, &b);
	assert_int_equal(transport_plain_new(a, a, &plain), 0);
	assert_int_equal(transport_tls_new(plain, f.creds, &f.t), 0);
	assert_true(transport_is_tls(f.t));
	f.peer_fd = b;
	assert_int_equal(tls_session_new(f.cc, b, &f.peer), 0);
	for (int i = 0; i < 10000 && (tr != 0 || cr != 0); i++) {
		if (tr == -EAGAIN)
			tr = transport_tls_handshake(f.t);
		if (cr == -EAGAIN)
			cr = tls_session_handshake(f.peer);
		assert_true(tr == 0 || tr == -EAGAIN);
		assert_true(cr == 0 || cr == -EAGAIN);
		if (tr == -EAGAIN || cr == -EAGAIN)
			usleep(100);
	}
	assert_int_equal(tr, 0);
	assert_int_equal(cr, 0);
	assert_false(transport_tls_wants_write(f.t));
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	f->t = transport_close(f->t);
	f->peer = tls_session_free(f->peer);
	f->peer_fd = safe_close(f->peer_fd);
	tls_creds_unref(f->cc);
	/* The transport held its own reference; this is the last. */
	assert_null(srv_tls_unref(f->creds));
	return 0;
}

/* Sends len bytes of buf through the transport as the output queue does (three iovec pieces, the
 * same bytes offered again while none are taken), the peer reading whenever the socket is full.
 * Returns how many -EAGAINs it met. */
static unsigned send_through(struct fixture *f, const uint8_t *buf, size_t len, uint8_t *got)
{
	size_t off = 0, have = 0;
	unsigned again = 0;

	while (off < len || have < len) {
		if (off < len) {
			size_t left = len - off, a = MIN(left, (size_t)1000), b = MIN(left - a, (size_t)7);
			struct iovec iov[3] = {
				{ .iov_base = (void *)(buf + off), .iov_len = a },
				{ .iov_base = (void *)(buf + off + a), .iov_len = b },
				{ .iov_base = (void *)(buf + off + a + b), .iov_len = left - a - b },
			};
			ssize_t n = transport_send(f->t, iov, 3, false);

			if (n == -EAGAIN)
				again++;
			else {
				assert_true(n > 0);
				off += (size_t)n;
			}
			if (n != -EAGAIN && again == 0 && off < len)
				continue; /* fill the socket first */
		}
		while (have < len) {
			ssize_t n = tls_session_recv(f->peer, got + have, len - have);

			if (n == -EAGAIN)
				break;
			assert_true(n > 0);
			have += (size_t)n;
		}
	}
	return again;
}

static void test_caps_and_round_trip(void **state)
{
	struct fixture *f = *state;
	const size_t len = 2u << 20;
	uint8_t *buf = malloc(len), *got = malloc(len);
	int snd = 16384;

	assert_int_equal(f->t->caps, 0);
	/* The peer reads only once the server's socket is full: its sends meet -EAGAIN. */
	assert_int_equal(setsockopt(f->t->wfd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)), 0);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 12));
	assert_true(send_through(f, buf, len, got) > 0);
	assert_memory_equal(buf, got, len);
	free(buf);
	free(got);
}

static void test_pending(void **state)
{
	struct fixture *f = *state;
	uint8_t msg[10000], in[10000];
	ssize_t n = -EAGAIN;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	assert_int_equal(tls_session_send(f->peer, msg, sizeof(msg)), (ssize_t)sizeof(msg));
	for (int i = 0; i < 1000 && n == -EAGAIN; i++) {
		n = transport_recv(f->t, in, 100);
		if (n == -EAGAIN)
			usleep(1000);
	}
	assert_int_equal(n, 100);
	/* The rest of the record waits in the session, where epoll would not see it. */
	assert_int_equal(transport_pending(f->t), sizeof(msg) - 100);
	assert_int_equal(transport_recv(f->t, in + 100, sizeof(in) - 100), sizeof(msg) - 100);
	assert_int_equal(transport_pending(f->t), 0);
	assert_memory_equal(msg, in, sizeof(msg));
	assert_int_equal(transport_recv(f->t, in, sizeof(in)), -EAGAIN);
}

static void test_kernel_or_user_space(void **state)
{
	struct fixture *f = *state;
	const char ping[] = "ping", pong[] = "pong";
	char in[16];
	ssize_t n = -EAGAIN;
	int r = transport_tls_to_kernel(f->t);

	if (r == 0) {
		/* The kernel has the keys: sendfile is allowed again. */
		assert_int_equal(f->t->caps, TRANSPORT_CAN_SENDFILE);
		assert_int_equal(transport_pending(f->t), 0);
	} else {
		/* No tls module, no CAP_NET_ADMIN: the session carries on in user space. */
		assert_int_not_equal(r, -EREMOTEIO);
		assert_int_equal(f->t->caps, 0);
		assert_string_not_equal(transport_tls_error(f->t), "");
	}
	assert_int_equal(transport_send(f->t, &(struct iovec){ .iov_base = (void *)ping,
								.iov_len = 4 }, 1, false), 4);
	for (int i = 0; i < 1000 && n == -EAGAIN; i++) {
		n = tls_session_recv(f->peer, in, sizeof(in));
		if (n == -EAGAIN)
			usleep(1000);
	}
	assert_int_equal(n, 4);
	assert_memory_equal(in, ping, 4);
	assert_int_equal(tls_session_send(f->peer, pong, 4), 4);
	n = -EAGAIN;
	for (int i = 0; i < 1000 && n == -EAGAIN; i++) {
		n = transport_recv(f->t, in, sizeof(in));
		if (n == -EAGAIN)
			usleep(1000);
	}
	assert_int_equal(n, 4);
	assert_memory_equal(in, pong, 4);
}

static void test_close_notify(void **state)
{
	struct fixture *f = *state;
	char in[16];
	ssize_t n = -EAGAIN;

	assert_int_equal(transport_shutdown(f->t), 0);
	for (int i = 0; i < 1000 && n == -EAGAIN; i++) {
		n = tls_session_recv(f->peer, in, sizeof(in));
		if (n == -EAGAIN)
			usleep(1000);
	}
	/* A clean end of the session, not a cut connection. */
	assert_int_equal(n, 0);
}

static void test_not_over_two_fds(void **state _unused_)
{
	struct server_config cfg;
	struct srv_tls *creds = NULL;
	struct transport *plain;
	struct transport *t = NULL;
	int p[2];

	server_config_init(&cfg);
	cfg.pskfile = strdup(tls_path("psk.txt"));
	assert_int_equal(srv_tls_load(&cfg, &creds), 0);
	server_config_free(&cfg);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(transport_plain_new(p[0], p[1], &plain), 0);
	assert_int_equal(transport_tls_new(plain, creds, &t), -EOPNOTSUPP);
	assert_null(t);
	transport_close(plain);
	srv_tls_unref(creds);

	/* Without credentials configured, nothing is loaded. */
	server_config_init(&cfg);
	assert_int_equal(srv_tls_load(&cfg, &creds), 0);
	assert_null(creds);
	server_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_caps_and_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_or_user_space, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_notify, setup, teardown),
		cmocka_unit_test(test_not_over_two_fds),
	};

	return cmocka_run_group_tests(tests, tls_material_make, tls_material_remove);
}
